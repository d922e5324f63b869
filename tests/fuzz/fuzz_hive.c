/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Fuzz target: reading registry hives (core/hive.c).
 *
 * The input is written as a hive file (its header checksum recomputed, so
 * that mutations reach past the header check) and opened read-only; every
 * key and value is walked with a bound on depth and on the number of keys
 * (a hive whose keys form a loop must not hang the reader), every value
 * read raw and, for its type, decoded.  The file must be unchanged after
 * the walk, and a refusal carries a message.
 */
#include <config.h>

#include <offserv/status.h>

#include "fuzz_common.h"
#include "hive.h"

#define FUZZ_HIVE_MAX_DEPTH 12
#define FUZZ_HIVE_MAX_KEYS 2000

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_root();
	return 0;
}

static void walk_values(struct offserv_hive *h, offserv_hive_key key)
{
	char **names = NULL;
	size_t n = 0;
	char err[512];

	if (offserv_hive_value_names(h, key, &names, &n, err, sizeof(err)) != OFFSERV_OK)
		return;
	for (size_t i = 0; i < n; i++) {
		uint32_t type = 0, dw;
		uint64_t qw;
		uint8_t *data = NULL;
		size_t len = 0;
		char *s = NULL, **multi = NULL;
		size_t nm = 0;

		if (!names[i])
			fuzz_fail("value name %zu of %zu is NULL", i, n);
		if (offserv_hive_get_value(h, key, names[i], &type, &data, &len, err, sizeof(err)) !=
		    OFFSERV_OK)
			continue;
		if (data[len] != 0)
			fuzz_fail("value data not NUL-terminated");
		free(data);
		switch (type) {
		case OFFSERV_HIVE_REG_SZ:
		case OFFSERV_HIVE_REG_EXPAND_SZ:
			if (offserv_hive_get_string(h, key, names[i], &s, err, sizeof(err)) ==
			    OFFSERV_OK)
				free(s);
			break;
		case OFFSERV_HIVE_REG_MULTI_SZ:
			if (offserv_hive_get_multi_sz(h, key, names[i], &multi, &nm, err,
			                              sizeof(err)) == OFFSERV_OK)
				offserv_hive_free_names(multi);
			break;
		case OFFSERV_HIVE_REG_DWORD:
			offserv_hive_get_dword(h, key, names[i], &dw, err, sizeof(err));
			break;
		case OFFSERV_HIVE_REG_QWORD:
			offserv_hive_get_qword(h, key, names[i], &qw, err, sizeof(err));
			break;
		default:
			break;
		}
	}
	offserv_hive_free_names(names);
}

static void walk(struct offserv_hive *h, offserv_hive_key key, int depth, size_t *budget)
{
	char **names = NULL;
	size_t n = 0;
	char err[512];
	char *name = NULL;

	if (depth > FUZZ_HIVE_MAX_DEPTH || *budget == 0)
		return;
	--*budget;
	if (offserv_hive_key_name(h, key, &name, err, sizeof(err)) == OFFSERV_OK)
		free(name);
	walk_values(h, key);
	if (offserv_hive_subkeys(h, key, &names, &n, err, sizeof(err)) != OFFSERV_OK)
		return;
	for (size_t i = 0; i < n && *budget; i++) {
		offserv_hive_key child = 0;

		if (!names[i])
			fuzz_fail("subkey name %zu of %zu is NULL", i, n);
		if (!names[i][0] || strchr(names[i], '\\'))
			continue; /* not addressable by path */
		if (offserv_hive_find(h, key, names[i], &child, err, sizeof(err)) == OFFSERV_OK) {
			if (!child)
				fuzz_fail("find returned key 0");
			walk(h, child, depth + 1, budget);
		}
	}
	offserv_hive_free_names(names);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *root = fuzz_root();
	char *work = fuzz_mkdir(root, "work");
	char *path = fuzz_path(work, "SOFTWARE");
	uint8_t *copy = malloc(size ? size : 1);
	struct offserv_hive *h = NULL;
	char err[512];
	offserv_status st;
	size_t budget = FUZZ_HIVE_MAX_KEYS;
	char *after;
	size_t after_len;

	if (!copy)
		return 0;
	memcpy(copy, data, size);
	if (size >= 512) {
		uint32_t x = 0;

		for (size_t i = 0; i < 0x1fc; i += 4)
			x ^= fuzz_le32(copy + i);
		copy[0x1fc] = (uint8_t)x;
		copy[0x1fd] = (uint8_t)(x >> 8);
		copy[0x1fe] = (uint8_t)(x >> 16);
		copy[0x1ff] = (uint8_t)(x >> 24);
	}
	fuzz_write(path, copy, size);
	err[0] = '\0';
	st = offserv_hive_open(path, OFFSERV_HIVE_READ, &h, err, sizeof(err));
	if (st == OFFSERV_OK) {
		offserv_hive_key r;
		offserv_hive_key k;
		char *ccs = NULL;

		if (!h)
			fuzz_fail("hive_open succeeded without a hive");
		r = offserv_hive_root(h);
		if (!r)
			fuzz_fail("hive has root key 0");
		walk(h, r, 0, &budget);
		if (offserv_hive_current_control_set(h, &ccs, err, sizeof(err)) == OFFSERV_OK)
			free(ccs);
		offserv_hive_find(h, 0, "Microsoft\\Windows\\CurrentVersion", &k, err, sizeof(err));
		if (offserv_hive_set_dword(h, r, "x", 1, err, sizeof(err)) == OFFSERV_OK)
			fuzz_fail("a read-only hive accepted a change");
		offserv_hive_close(h);
	} else {
		if (h || !err[0])
			fuzz_fail("hive_open failed (0x%08x) with a result or without a message",
			          (unsigned)st);
	}
	/* Reading never changes the file. */
	{
		FILE *fp = fopen(path, "rb");

		if (!fp)
			fuzz_fail("the hive file is gone");
		after = malloc(size + 1);
		after_len = fread(after, 1, size + 1, fp);
		fclose(fp);
		if (after_len != size || memcmp(after, copy, size))
			fuzz_fail("the hive file changed while read");
		free(after);
	}
	fuzz_expect_entries(work, "SOFTWARE", NULL);
	fuzz_rmtree(work);
	free(copy);
	free(path);
	free(work);
	return 0;
}
