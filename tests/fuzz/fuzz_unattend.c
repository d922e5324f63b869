/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Fuzz target: offserv_unattend_parse() (an MSU's unattend .xml).  The
 * cabinet name taken from a package's source location is a plain file
 * name (no separator, not "." or ".."); a refusal carries a message.
 */
#include <config.h>

#include <offserv/msu.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct offserv_unattend *u = NULL;
	char err[512];
	offserv_status st;

	err[0] = '\0';
	st = offserv_unattend_parse(data, size, &u, err, sizeof(err));
	if (st != OFFSERV_OK) {
		if (u || !err[0])
			fuzz_fail("unattend_parse failed (0x%08x) with a result or without a message",
			          (unsigned)st);
		return 0;
	}
	if (!u)
		fuzz_fail("unattend_parse succeeded without a result");
	for (size_t i = 0; i < u->n; i++) {
		const char *c = u->packages[i].cab_name;

		if (c && (strchr(c, '/') || strchr(c, '\\')))
			fuzz_fail("package %zu: cabinet name \"%s\" holds a separator", i, c);
		free(offserv_identity_package_string(&u->packages[i].id));
	}
	offserv_unattend_free(u);
	return 0;
}
