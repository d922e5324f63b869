/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Fuzz target: the dism command line parser (core/dism/args.c).
 *
 * The input is split into arguments at NUL bytes and newlines.  A parsed
 * command line has a known verb (or asks for help), a value for every
 * option that takes one, and /PackagePath kept in order; a refusal
 * carries DISM's sentence.
 */
#include <config.h>

#include <offserv/status.h>

#include "dism/args.h"
#include "fuzz_common.h"

#define FUZZ_MAX_ARGS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1);
	char *argv[FUZZ_MAX_ARGS + 2];
	int argc = 0;
	struct dism_args a;
	char err[1024];
	offserv_status st;
	size_t start = 0;

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	argv[argc++] = (char *)"dism";
	for (size_t i = 0; i <= size && argc <= FUZZ_MAX_ARGS; i++) {
		if (i == size || buf[i] == '\0' || buf[i] == '\n') {
			buf[i] = '\0';
			argv[argc++] = buf + start;
			start = i + 1;
		}
	}
	argv[argc] = NULL;
	memset(&a, 0, sizeof(a));
	err[0] = '\0';
	st = dism_args_parse(argc, argv, &a, err, sizeof(err));
	if (st == OFFSERV_OK) {
		if (!a.help && (a.verb <= DISM_VERB_NONE || a.verb >= DISM_VERB_COUNT))
			fuzz_fail("parsed without a command and without /?");
		if (a.n_package_paths && !a.package_paths)
			fuzz_fail("%zu package paths and no array", a.n_package_paths);
		for (size_t i = 0; i < a.n_package_paths; i++)
			if (!a.package_paths[i])
				fuzz_fail("package path %zu is NULL", i);
		if (a.verb > DISM_VERB_NONE && a.verb < DISM_VERB_COUNT &&
		    dism_verb_lookup(dism_verb_name(a.verb) + 1) != a.verb)
			fuzz_fail("verb %d does not round-trip", (int)a.verb);
		if (a.help)
			free(dism_help_text(a.verb));
	} else if (!err[0]) {
		fuzz_fail("dism_args_parse failed (0x%08x) without a message", (unsigned)st);
	}
	dism_args_free(&a);
	free(buf);
	return 0;
}
