/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Fuzz target: offserv_pkgprops_parse() (an MSU's pkgProperties.txt).
 * Every parsed key is non-empty and found again by offserv_pkgprops_get();
 * a refusal carries a message and no result.
 */
#include <config.h>

#include <offserv/msu.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct offserv_pkgprops *p = NULL;
	char err[512];
	offserv_status st;

	err[0] = '\0';
	st = offserv_pkgprops_parse(data, size, &p, err, sizeof(err));
	if (st != OFFSERV_OK) {
		if (p || !err[0])
			fuzz_fail("pkgprops_parse failed (0x%08x) with a result or without a message",
			          (unsigned)st);
		return 0;
	}
	if (!p)
		fuzz_fail("pkgprops_parse succeeded without a result");
	for (size_t i = 0; i < p->n; i++) {
		if (!p->items[i].key || !p->items[i].value)
			fuzz_fail("item %zu lacks key or value", i);
		if (!offserv_pkgprops_get(p, p->items[i].key))
			fuzz_fail("key \"%s\" not found again", p->items[i].key);
	}
	free(offserv_kb_from_text(offserv_pkgprops_get(p, "KB Article Number")));
	offserv_pkgprops_free(p);
	return 0;
}
