/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Fuzz target: cabinet probing, metadata and extraction (core/cab.c).
 *
 * The input is written as a cabinet file in a folder of its own and
 * opened; every member is listed, looked up and read in part and in
 * memory, and the whole cabinet is extracted into an empty folder.
 * Properties checked on every input: sanitized names are safe relative
 * paths; a failed extraction leaves the destination empty; nothing is ever
 * created outside the destination (the input's folder keeps exactly the
 * input, the scratch root exactly the two folders); extraction creates
 * only plain files and folders.
 */
#include <config.h>

#include <offserv/cab.h>
#include <offserv/status.h>

#include "fuzz_common.h"

/* Output cap per extraction: keeps runs fast whatever sizes are declared. */
#define FUZZ_CAB_MAX_TOTAL (4u * 1024u * 1024u)

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_root();
	return 0;
}

static void check_name(const struct offserv_cab_member *m)
{
	const char *n = m->name;
	const char *c;

	if (!n) {
		if (!m->refusal)
			fuzz_fail("member %zu refused without a reason", m->index);
		return;
	}
	if (!*n || n[0] == '/')
		fuzz_fail("member %zu: sanitized name \"%s\" is empty or absolute", m->index, n);
	for (c = n; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == '\\' || *c == ':')
			fuzz_fail("member %zu: sanitized name has byte 0x%02x", m->index,
			          (unsigned char)*c);
	for (c = n; c;) {
		const char *end = strchr(c, '/');
		size_t len = end ? (size_t)(end - c) : strlen(c);

		if (len == 0 || (len == 1 && c[0] == '.') || (len == 2 && !strncmp(c, "..", 2)))
			fuzz_fail("member %zu: sanitized name \"%s\" has a bad component", m->index, n);
		c = end ? end + 1 : NULL;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *root = fuzz_root();
	char *work = fuzz_mkdir(root, "work");
	char *in = fuzz_mkdir(work, "in");
	char *out = fuzz_mkdir(work, "out");
	char *cabp = fuzz_path(in, "input.cab");
	struct offserv_cab *cab = NULL;
	char err[512];
	offserv_status st;

	fuzz_write(cabp, data, size);
	err[0] = '\0';
	st = offserv_cab_open(cabp, &cab, err, sizeof(err));
	if (st != OFFSERV_OK) {
		if (cab)
			fuzz_fail("open failed (0x%08x) but returned a cabinet", (unsigned)st);
		if (!err[0])
			fuzz_fail("open failed (0x%08x) without a message", (unsigned)st);
	} else {
		const struct offserv_cab_member *m;
		size_t count = offserv_cab_count(cab), seen = 0;
		uint64_t total = 0;

		if (offserv_cab_parts(cab) < 1)
			fuzz_fail("an open cabinet with %zu parts", offserv_cab_parts(cab));
		for (m = offserv_cab_next(cab, NULL); m; m = offserv_cab_next(cab, m)) {
			const struct offserv_cab_member *f;
			unsigned char head[64];
			size_t got = 0;
			void *buf = NULL;
			size_t len = 0;

			if (m != offserv_cab_member_at(cab, seen) || m->index != seen)
				fuzz_fail("member %zu: iteration and index disagree", seen);
			if (!m->raw_name)
				fuzz_fail("member %zu has no raw name", seen);
			check_name(m);
			total += m->size;
			f = offserv_cab_find(cab, m->raw_name);
			if (!f)
				fuzz_fail("member %zu: \"%s\" not found by its own name", seen,
				          m->raw_name);
			if (seen < 8) {
				err[0] = '\0';
				if (offserv_cab_read_head(cab, m, head, sizeof(head), &got, err,
				                          sizeof(err)) == OFFSERV_OK &&
				    (got > sizeof(head) || got > m->size))
					fuzz_fail("read_head returned %zu bytes", got);
				err[0] = '\0';
				if (offserv_cab_extract_member_mem(cab, m, 1u << 20, &buf, &len, err,
				                                   sizeof(err)) == OFFSERV_OK) {
					if (len != m->size)
						fuzz_fail("member %zu: %zu bytes in memory, %llu declared",
						          seen, len, (unsigned long long)m->size);
					if (((unsigned char *)buf)[len] != 0)
						fuzz_fail("member %zu: memory copy not NUL-terminated", seen);
					free(buf);
				} else if (buf) {
					fuzz_fail("member %zu: failed extraction returned a buffer", seen);
				}
			}
			seen++;
		}
		if (seen != count)
			fuzz_fail("iterated %zu members of %zu", seen, count);
		if (offserv_cab_member_at(cab, count))
			fuzz_fail("member_at(count) is not NULL");
		if (total != offserv_cab_total_size(cab))
			fuzz_fail("total size disagrees with the sum of member sizes");
		offserv_cab_set_max_total(cab, FUZZ_CAB_MAX_TOTAL);
		err[0] = '\0';
		st = offserv_cab_extract_all(cab, out, err, sizeof(err));
		if (st != OFFSERV_OK) {
			if (!err[0])
				fuzz_fail("extract_all failed (0x%08x) without a message",
				          (unsigned)st);
			/* A failed extraction removes what it created. */
			fuzz_expect_entries(out, NULL, NULL);
		} else if (offserv_cab_check_names(cab, err, sizeof(err)) != OFFSERV_OK) {
			fuzz_fail("extract_all succeeded although a name is refused: %s", err);
		}
		fuzz_expect_plain_tree(out);
		offserv_cab_close(cab);
	}
	/* Nothing may appear beside the input or beside the destination. */
	fuzz_expect_entries(in, "input.cab", NULL);
	fuzz_expect_entries(work, "in", "out");
	fuzz_expect_entries(root, "work", NULL);
	fuzz_rmtree(work);
	free(cabp);
	free(out);
	free(in);
	free(work);
	return 0;
}
