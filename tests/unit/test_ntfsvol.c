/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <config.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <offserv/status.h>

#include "ntfsvol.h"
#include "testutil.h"

/* Self-relative SD: owner SYSTEM, group BA, protected DACL allowing SYSTEM @mask. */
static size_t make_sd(uint8_t *b, uint32_t mask)
{
	static const uint8_t owner[] = {1, 1, 0, 0, 0, 0, 0, 5, 18, 0, 0, 0};
	static const uint8_t group[] = {1, 2, 0, 0, 0, 0, 0, 5, 32, 0, 0, 0, 0x20, 2, 0, 0};
	size_t o = 20;

	memset(b, 0, 76);
	b[0] = 1;
	b[2] = 0x04; /* SE_DACL_PRESENT */
	b[3] = 0x90; /* SE_SELF_RELATIVE | SE_DACL_PROTECTED */
	b[4] = (uint8_t)o;
	memcpy(b + o, owner, sizeof(owner));
	o += sizeof(owner);
	b[8] = (uint8_t)o;
	memcpy(b + o, group, sizeof(group));
	o += sizeof(group);
	b[16] = (uint8_t)o;
	b[o] = 2;      /* ACL revision */
	b[o + 2] = 28; /* ACL size */
	b[o + 4] = 1;  /* ACE count */
	o += 8;
	b[o] = 0;      /* ACCESS_ALLOWED */
	b[o + 2] = 20; /* ACE size */
	memcpy(b + o + 4, &mask, 4);
	memcpy(b + o + 8, owner, sizeof(owner));
	o += 20;
	return o;
}

START_TEST(test_volume_roundtrip)
{
	char *dir = offtest_tmpdir();
	char *img = offtest_strdup_printf("%s/v.ntfs", dir);
	char *src = offtest_strdup_printf("%s/src.bin", dir);
	char err[512] = "";
	struct offserv_ntfsvol *v = NULL;
	uint8_t sd1[76], sd2[76];
	size_t l1 = make_sd(sd1, 0x1f01ff), l2 = make_sd(sd2, 0x120089);
	void *got;
	size_t got_len;
	uint32_t attrs;
	char data[70000];
	struct stat sb;

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (char)(i * 7);
	ck_assert_int_eq(offtest_write_file(src, data, sizeof(data)), 0);

	ck_assert_uint_eq(offserv_ntfsvol_format(img, 1, err, sizeof(err)), OFFSERV_OK);
	ck_assert_int_eq(stat(img, &sb), 0);
	ck_assert_uint_eq((uint64_t)sb.st_size, OFFSERV_NTFSVOL_MIN_SIZE);
	/* sparse: far fewer blocks than bytes */
	ck_assert((uint64_t)sb.st_blocks * 512u < (uint64_t)sb.st_size);
	ck_assert_uint_eq(offserv_ntfsvol_format(img, 1, err, sizeof(err)), OFFSERV_E_FILE_EXISTS);
	ck_assert_ptr_nonnull(strstr(err, img));

	ck_assert_msg(offserv_ntfsvol_open(img, &v, err, sizeof(err)) == OFFSERV_OK, "%s", err);
	ck_assert_msg(offserv_ntfsvol_mkdir(v, "/Windows", sd1, l1, 0x10, err, sizeof(err)) ==
	                      OFFSERV_OK, "%s", err);
	ck_assert_uint_eq(offserv_ntfsvol_mkdir(v, "/Windows/System32", NULL, 0, 0, err, sizeof(err)),
	                  OFFSERV_OK);
	ck_assert_uint_eq(offserv_ntfsvol_mkdir(v, "/Missing/Sub", NULL, 0, 0, err, sizeof(err)),
	                  OFFSERV_E_PATH_NOT_FOUND);
	ck_assert_msg(offserv_ntfsvol_add_file(v, "Windows/System32/a.dll", src, sd2, l2, 0x27, err,
	                                       sizeof(err)) == OFFSERV_OK, "%s", err);
	ck_assert_uint_eq(offserv_ntfsvol_add_file(v, "Windows/System32/a.dll", src, NULL, 0, 0, err,
	                                           sizeof(err)),
	                  OFFSERV_E_ALREADY_EXISTS);
	ck_assert_msg(offserv_ntfsvol_link(v, "/Windows/System32/a.dll", "/Windows/a-link.dll", err,
	                                   sizeof(err)) == OFFSERV_OK, "%s", err);
	/* a malformed descriptor is refused */
	{
		uint8_t bad[76];

		memcpy(bad, sd1, sizeof(bad));
		bad[16] = 200; /* DACL offset past the end */
		ck_assert_uint_eq(offserv_ntfsvol_mkdir(v, "/Bad", bad, l1, 0, err, sizeof(err)),
		                  OFFSERV_E_INVALID_DATA);
	}
	ck_assert_uint_eq(offserv_ntfsvol_close(v, err, sizeof(err)), OFFSERV_OK);

	/* read back from a fresh mount */
	ck_assert_uint_eq(offserv_ntfsvol_open(img, &v, err, sizeof(err)), OFFSERV_OK);
	ck_assert_uint_eq(offserv_ntfsvol_get_meta(v, "/Windows", &got, &got_len, &attrs, err,
	                                           sizeof(err)),
	                  OFFSERV_OK);
	ck_assert_uint_eq(got_len, l1);
	ck_assert_mem_eq(got, sd1, l1);
	ck_assert(attrs & 0x10);
	free(got);
	ck_assert_uint_eq(offserv_ntfsvol_get_meta(v, "/Windows/a-link.dll", &got, &got_len, &attrs,
	                                           err, sizeof(err)),
	                  OFFSERV_OK);
	ck_assert_uint_eq(got_len, l2);
	ck_assert_mem_eq(got, sd2, l2);
	ck_assert_uint_eq(attrs & 0x27, 0x27);
	free(got);
	ck_assert_uint_eq(offserv_ntfsvol_get_meta(v, "/Nope", &got, &got_len, &attrs, err,
	                                           sizeof(err)),
	                  OFFSERV_E_FILE_NOT_FOUND);
	ck_assert_uint_eq(offserv_ntfsvol_close(v, err, sizeof(err)), OFFSERV_OK);

	offtest_rmtree(dir);
	free(dir);
	free(img);
	free(src);
}
END_TEST

START_TEST(test_open_not_ntfs)
{
	char *dir = offtest_tmpdir();
	char *img = offtest_strdup_printf("%s/junk.img", dir);
	char err[512] = "";
	struct offserv_ntfsvol *v = NULL;
	static char junk[1 << 20];

	memset(junk, 'x', sizeof(junk));
	ck_assert_int_eq(offtest_write_file(img, junk, sizeof(junk)), 0);
	ck_assert_uint_eq(offserv_ntfsvol_open(img, &v, err, sizeof(err)), OFFSERV_E_INVALID_DATA);
	ck_assert_ptr_null(v);
	ck_assert_ptr_nonnull(strstr(err, img));
	offtest_rmtree(dir);
	free(dir);
	free(img);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ntfsvol");
	TCase *tc = tcase_create("volume");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_volume_roundtrip);
	tcase_add_test(tc, test_open_not_ntfs);
	suite_add_tcase(s, tc);
	return offtest_run(s);
}
