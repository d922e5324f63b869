/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Fuzz target: offserv_manifest_parse() (component manifests), followed by
 * what the engine does with a parsed manifest: every file's
 * destinationPath through offserv_resolve_destination() and every
 * security descriptor definition through offserv_sddl_to_sd().
 * Properties: resolved destinations are safe image-relative paths, every
 * descriptor passes the structural validator, digests fit their buffer,
 * registry data lengths are consistent with their types.
 */
#include <config.h>

#include <offserv/cbs.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct offserv_manifest *m = NULL;
	char err[512];
	offserv_status st;

	err[0] = '\0';
	st = offserv_manifest_parse(data, size, &m, err, sizeof(err));
	if (st != OFFSERV_OK) {
		if (m || !err[0])
			fuzz_fail("manifest_parse failed (0x%08x) with a result or without a message",
			          (unsigned)st);
		return 0;
	}
	if (!m)
		fuzz_fail("manifest_parse succeeded without a manifest");
	free(offserv_identity_key_form(&m->id));
	for (size_t i = 0; i < m->n_files; i++) {
		const struct offserv_manifest_file *f = &m->files[i];
		char *dest = NULL;

		if (f->hash_len > sizeof(f->digest))
			fuzz_fail("file %zu: digest of %zu bytes", i, f->hash_len);
		if ((f->hash_alg == OFFSERV_HASH_SHA1 && f->hash_len != 20) ||
		    (f->hash_alg == OFFSERV_HASH_SHA256 && f->hash_len != 32) ||
		    (f->hash_alg == OFFSERV_HASH_NONE && f->hash_len != 0))
			fuzz_fail("file %zu: digest length %zu for method %d", i, f->hash_len,
			          (int)f->hash_alg);
		if (!f->destination_path)
			continue;
		if (offserv_resolve_destination(f->destination_path, &dest, err, sizeof(err)) ==
		    OFFSERV_OK) {
			fuzz_check_relpath("manifest destination", dest, 1);
			free(dest);
		}
	}
	for (size_t i = 0; i < m->n_regkeys; i++)
		for (size_t j = 0; j < m->regkeys[i].n_values; j++) {
			const struct offserv_manifest_regvalue *v = &m->regkeys[i].values[j];

			if ((v->type == OFFSERV_REG_DWORD && v->len != 4) ||
			    (v->type == OFFSERV_REG_QWORD && v->len != 8) ||
			    ((v->type == OFFSERV_REG_SZ || v->type == OFFSERV_REG_EXPAND_SZ ||
			      v->type == OFFSERV_REG_MULTI_SZ) &&
			     (v->len < 2 || v->len % 2 || v->data[v->len - 1] || v->data[v->len - 2])))
				fuzz_fail("registry value %zu/%zu: %zu bytes for type %d", i, j, v->len,
				          (int)v->type);
		}
	for (size_t i = 0; i < m->n_sds; i++) {
		uint8_t *sd = NULL;
		size_t len = 0;

		if (!m->sds[i].sddl)
			continue;
		if (offserv_sddl_to_sd(m->sds[i].sddl, &sd, &len, err, sizeof(err)) == OFFSERV_OK) {
			const char *why = fuzz_sd_problem(sd, len);

			if (why)
				fuzz_fail("descriptor \"%.200s\": %s", m->sds[i].sddl, why);
			free(sd);
		}
	}
	offserv_manifest_free(m);
	return 0;
}
