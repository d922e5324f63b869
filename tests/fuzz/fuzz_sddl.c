/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Fuzz target: offserv_sddl_to_sd().
 *
 * The input is SDDL text (cut at the first NUL).  Every descriptor
 * produced must pass a structural validator of self-relative security
 * descriptors (fuzz_sd_problem()); a refusal carries a message.
 */
#include <config.h>

#include <offserv/cbs.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = strndup((const char *)data, size);
	uint8_t *sd = NULL;
	size_t len = 0;
	char err[512];
	offserv_status st;

	if (!s)
		return 0;
	err[0] = '\0';
	st = offserv_sddl_to_sd(s, &sd, &len, err, sizeof(err));
	if (st == OFFSERV_OK) {
		const char *why = fuzz_sd_problem(sd, len);

		if (why)
			fuzz_fail("sddl_to_sd(\"%.200s\"): descriptor of %zu bytes: %s", s, len, why);
		free(sd);
	} else if (sd || !err[0]) {
		fuzz_fail("sddl_to_sd failed (0x%08x) with a result or without a message",
		          (unsigned)st);
	}
	free(s);
	return 0;
}
