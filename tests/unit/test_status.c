/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <config.h>

#include <errno.h>
#include <string.h>

#include <offserv/status.h>

#include "testutil.h"

START_TEST(test_known_codes)
{
	ck_assert_str_eq(offserv_status_name(OFFSERV_CBS_E_NOT_APPLICABLE), "CBS_E_NOT_APPLICABLE");
	ck_assert_str_eq(offserv_strerror(OFFSERV_CBS_E_NOT_APPLICABLE),
	                 "The specified package is not applicable to this image.");
	ck_assert_str_eq(offserv_strerror(OFFSERV_CBS_E_NEW_SERVICING_STACK_REQUIRED),
	                 "Package needs a newer version of the servicing stack.");
	ck_assert_uint_eq(OFFSERV_CBS_E_NOT_APPLICABLE, 0x800f081eu);
	ck_assert_uint_eq(OFFSERV_CBS_E_INVALID_PACKAGE, 0x800f0805u);
}
END_TEST

START_TEST(test_unknown_code_bounded)
{
	ck_assert_str_eq(offserv_strerror(0x8badf00du), "Unknown error.");
	ck_assert_str_eq(offserv_status_name(0x8badf00du), "UNKNOWN");
	ck_assert_ptr_nonnull(offserv_strerror(0x7fffffffu));
}
END_TEST

START_TEST(test_win32)
{
	ck_assert_uint_eq(OFFSERV_HR_WIN32(87), OFFSERV_E_INVALIDARG);
	ck_assert_uint_eq(OFFSERV_HR_WIN32(0), OFFSERV_OK);
	ck_assert_int_eq(offserv_status_win32_code(OFFSERV_E_INVALIDARG), 87);
	ck_assert_int_eq(offserv_status_win32_code(OFFSERV_E_PATH_NOT_FOUND), 3);
	ck_assert_int_eq(offserv_status_win32_code(OFFSERV_CBS_E_NOT_APPLICABLE), -1);
	ck_assert_uint_eq(offserv_status_from_errno(ENOENT), OFFSERV_E_FILE_NOT_FOUND);
	ck_assert_uint_eq(offserv_status_from_errno(ENOSPC), OFFSERV_E_DISK_FULL);
	ck_assert(OFFSERV_FAILED(OFFSERV_E_FAIL));
	ck_assert(!OFFSERV_FAILED(OFFSERV_S_REBOOT_REQUIRED));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("status");
	TCase *tc = tcase_create("codes");

	tcase_add_test(tc, test_known_codes);
	tcase_add_test(tc, test_unknown_code_bounded);
	tcase_add_test(tc, test_win32);
	suite_add_tcase(s, tc);
	return offtest_run(s);
}
