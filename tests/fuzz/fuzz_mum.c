/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Fuzz target: offserv_mum_parse() (update.mum and nested package
 * manifests).  A parsed manifest has an identity with name, version and
 * architecture, a parsable version, and every update a name; a refusal
 * carries a message and no manifest.
 */
#include <config.h>

#include <offserv/cbs.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct offserv_mum *mum = NULL;
	char err[512];
	uint16_t v[4];
	offserv_status st;

	err[0] = '\0';
	st = offserv_mum_parse(data, size, &mum, err, sizeof(err));
	if (st != OFFSERV_OK) {
		if (mum || !err[0])
			fuzz_fail("mum_parse failed (0x%08x) with a result or without a message",
			          (unsigned)st);
		return 0;
	}
	if (!mum)
		fuzz_fail("mum_parse succeeded without a manifest");
	if (!mum->id.name || !mum->id.version || !mum->id.arch)
		fuzz_fail("parsed package identity lacks name, version or architecture");
	if (offserv_version_parse(mum->id.version, v) != OFFSERV_OK)
		fuzz_fail("parsed package version \"%s\" does not parse", mum->id.version);
	free(offserv_identity_package_string(&mum->id));
	for (size_t i = 0; i < mum->n_parents; i++)
		if (mum->parents[i].n_ids && !mum->parents[i].ids)
			fuzz_fail("parent %zu: ids missing", i);
	for (size_t i = 0; i < mum->n_updates; i++) {
		if (mum->updates[i].kind < OFFSERV_UPDATE_COMPONENT ||
		    mum->updates[i].kind > OFFSERV_UPDATE_DRIVER)
			fuzz_fail("update %zu has kind %d", i, (int)mum->updates[i].kind);
		free(offserv_identity_key_form(&mum->updates[i].id));
	}
	offserv_mum_free(mum);
	return 0;
}
