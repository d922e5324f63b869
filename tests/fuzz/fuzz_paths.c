/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Fuzz target: offserv_path_sanitize() and offserv_resolve_destination().
 *
 * The input is one string (cut at the first NUL).  Properties of every
 * accepted result: a relative path with '/' separators, no "..", "." or
 * empty component, no reserved device name, no control character, ':' or
 * backslash, within the length limits; sanitizing is idempotent; a refusal
 * carries a message.
 */
#include <config.h>

#include <offserv/cbs.h>
#include <offserv/util.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = strndup((const char *)data, size);
	char *out = NULL, *again = NULL;
	char err[512];
	offserv_status st;

	if (!s)
		return 0;
	err[0] = '\0';
	st = offserv_path_sanitize(s, &out, err, sizeof(err));
	if (st == OFFSERV_OK) {
		fuzz_check_relpath("path_sanitize", out, 0);
		if (offserv_path_sanitize(out, &again, err, sizeof(err)) != OFFSERV_OK ||
		    strcmp(out, again))
			fuzz_fail("path_sanitize is not idempotent on \"%s\"", out);
		free(again);
		free(out);
	} else if (out || !err[0]) {
		fuzz_fail("path_sanitize failed (0x%08x) with a result or without a message",
		          (unsigned)st);
	}

	out = NULL;
	err[0] = '\0';
	st = offserv_resolve_destination(s, &out, err, sizeof(err));
	if (st == OFFSERV_OK) {
		fuzz_check_relpath("resolve_destination", out, 1);
		free(out);
	} else if (out || !err[0]) {
		fuzz_fail("resolve_destination failed (0x%08x) with a result or without a message",
		          (unsigned)st);
	}
	free(s);
	return 0;
}
