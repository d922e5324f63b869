/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <config.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <offserv/engine.h>

#include "dism/output.h"

#include "testutil.h"

START_TEST(test_progress_bar)
{
	char bar[DISM_PROGRESS_LEN + 1];

	dism_progress_format(33.2, bar);
	ck_assert_str_eq(bar, "[===================        33.2%                          ]");
	dism_progress_format(100.0, bar);
	ck_assert_str_eq(bar, "[==========================100.0%==========================]");
	dism_progress_format(0.0, bar);
	ck_assert_str_eq(bar, "[                            0.0%                          ]");
	ck_assert_uint_eq(strlen(bar), 60);
	/* Out of range values are clamped. */
	dism_progress_format(-5.0, bar);
	ck_assert_str_eq(bar, "[                            0.0%                          ]");
	dism_progress_format(250.0, bar);
	ck_assert_str_eq(bar, "[==========================100.0%==========================]");
	/* 50%: 29 '=' and the number ends at inner column 31. */
	dism_progress_format(50.0, bar);
	ck_assert_str_eq(bar, "[===========================50.0%                          ]");
}
END_TEST

START_TEST(test_progress_output)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&buf, &len);
	struct dism_out o;

	ck_assert_ptr_nonnull(fp);
	dism_out_init(&o, fp, 0, 0);
	o.tty = 0;
	dism_out_progress(&o, 10.0);
	dism_out_progress(&o, 100.0);
	dism_out_progress_end(&o);
	fclose(fp);
	/* Not a terminal: one final bar. */
	ck_assert_str_eq(buf, "[==========================100.0%==========================]\n");
	free(buf);
}
END_TEST

START_TEST(test_error_blocks)
{
	char *b;

	b = dism_error_block(OFFSERV_E_INVALIDARG, "The parameter is incorrect.", "/l/dism.log");
	ck_assert_str_eq(b, "\nError: 87\n\nThe parameter is incorrect.\n\n"
	                    "The DISM log file can be found at /l/dism.log\n");
	free(b);
	b = dism_error_block(OFFSERV_E_PATH_NOT_FOUND, "The system cannot find the path specified.",
	                     "/l/dism.log");
	ck_assert_ptr_nonnull(strstr(b, "\nError: 3\n\n"));
	free(b);
	b = dism_error_block(OFFSERV_CBS_E_NOT_APPLICABLE,
	                     "The specified package is not applicable to this image.", "/l/d.log");
	ck_assert_str_eq(b, "\nError: 0x800f081e\n\nThe specified package is not applicable to this image.\n\n"
	                    "The DISM log file can be found at /l/d.log\n");
	free(b);
}
END_TEST

START_TEST(test_crlf_and_quiet)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&buf, &len);
	struct dism_out o;

	dism_out_init(&o, fp, 1, 0);
	dism_out_banner(&o);
	fflush(fp);
	ck_assert_str_eq(buf, "Deployment Image Servicing and Management tool\r\n"
	                      "Version: " DISM_COMPAT_VERSION "\r\n\r\n");
	fclose(fp);
	free(buf);

	buf = NULL;
	fp = open_memstream(&buf, &len);
	dism_out_init(&o, fp, 0, 1);
	dism_out_banner(&o);
	dism_out_line(&o, "Index : %d", 1);
	dism_out_error(&o, OFFSERV_E_INVALIDARG, "bad", "/l");
	fclose(fp);
	/* Quiet: only the error block. */
	ck_assert_str_eq(buf, "\nError: 87\n\nbad\n\nThe DISM log file can be found at /l\n");
	free(buf);
}
END_TEST

START_TEST(test_codes)
{
	char buf[32];

	dism_format_code(OFFSERV_E_INVALIDARG, buf, sizeof(buf));
	ck_assert_str_eq(buf, "87");
	dism_format_code(OFFSERV_CBS_E_INSTALLERS_FAILED, buf, sizeof(buf));
	ck_assert_str_eq(buf, "0x800f0922");
	dism_format_errorlevel(OFFSERV_CBS_E_NOT_APPLICABLE, buf, sizeof(buf));
	ck_assert_str_eq(buf, "-2146498530");
	dism_format_errorlevel(OFFSERV_S_REBOOT_REQUIRED, buf, sizeof(buf));
	ck_assert_str_eq(buf, "3010");
	dism_format_errorlevel(OFFSERV_E_PATH_NOT_FOUND, buf, sizeof(buf));
	ck_assert_str_eq(buf, "3");

	ck_assert_int_eq(dism_exit_status(OFFSERV_OK), 0);
	ck_assert_int_eq(dism_exit_status(OFFSERV_E_INVALIDARG), 87);
	ck_assert_int_eq(dism_exit_status(OFFSERV_E_FILE_NOT_FOUND), 2);
	ck_assert_int_eq(dism_exit_status(OFFSERV_E_PATH_NOT_FOUND), 3);
	ck_assert_int_eq(dism_exit_status(OFFSERV_E_ACCESS_DENIED), 5);
	ck_assert_int_eq(dism_exit_status(OFFSERV_S_REBOOT_REQUIRED), 200);
	ck_assert_int_eq(dism_exit_status(OFFSERV_CBS_E_INVALID_PACKAGE), 201);
	ck_assert_int_eq(dism_exit_status(OFFSERV_CBS_E_NOT_APPLICABLE), 203);
	ck_assert_int_eq(dism_exit_status(OFFSERV_CBS_E_SOURCE_MISSING), 204);
	ck_assert_int_eq(dism_exit_status(OFFSERV_CBS_E_NEW_SERVICING_STACK_REQUIRED), 205);
	ck_assert_int_eq(dism_exit_status(OFFSERV_CBS_E_INSTALLERS_FAILED), 207);
	ck_assert_int_eq(dism_exit_status(OFFSERV_E_NOTIMPL), 209);
	ck_assert_int_eq(dism_exit_status(OFFSERV_CBS_E_UNKNOWN_UPDATE), 210);
	ck_assert_int_eq(dism_exit_status(OFFSERV_CBS_E_CANNOT_UNINSTALL), 211);
	ck_assert_int_eq(dism_exit_status(OFFSERV_CBS_E_PENDING), 202);
	ck_assert_int_eq(dism_exit_status(OFFSERV_E_BAD_CONFIG), 1); /* 1610: too big */
	ck_assert_int_eq(dism_exit_status(0x8badf00du), 1);
}
END_TEST

START_TEST(test_numbers_and_dates)
{
	char buf[64];

	dism_format_thousands(15203481342ull, buf, sizeof(buf));
	ck_assert_str_eq(buf, "15,203,481,342");
	dism_format_thousands(0, buf, sizeof(buf));
	ck_assert_str_eq(buf, "0");
	dism_format_thousands(999, buf, sizeof(buf));
	ck_assert_str_eq(buf, "999");
	dism_format_thousands(1000, buf, sizeof(buf));
	ck_assert_str_eq(buf, "1,000");
	dism_format_thousands(18446744073709551615ull, buf, sizeof(buf));
	ck_assert_str_eq(buf, "18,446,744,073,709,551,615");

	setenv("TZ", "UTC", 1);
	tzset();
	/* 2026-03-06 20:07:05 UTC */
	dism_format_image_date((time_t)1772827625, buf, sizeof(buf));
	ck_assert_str_eq(buf, "3/6/2026 - 8:07:05 PM");
	/* 2026-11-24 04:09 UTC */
	dism_format_install_time((time_t)1795493340, buf, sizeof(buf));
	ck_assert_str_eq(buf, "11/24/2026 4:09 AM");
	/* Midnight and noon in 12-hour form. */
	dism_format_install_time((time_t)1795478400, buf, sizeof(buf));
	ck_assert_str_eq(buf, "11/24/2026 12:00 AM");
	/* FILETIME of the UNIX epoch. */
	ck_assert_int_eq((long long)dism_filetime_to_time(116444736000000000ull), 0);
	ck_assert_int_eq((long long)dism_filetime_to_time(116444736000000000ull + 10000000ull), 1);
}
END_TEST

START_TEST(test_store_sizes)
{
	char buf[64];

	dism_format_store_size(0, buf, sizeof(buf));
	ck_assert_str_eq(buf, "0 bytes");
	dism_format_store_size(1023, buf, sizeof(buf));
	ck_assert_str_eq(buf, "1023 bytes");
	dism_format_store_size(1024, buf, sizeof(buf));
	ck_assert_str_eq(buf, "1.00 KB");
	/* 845.77 MB and 15.40 MB as DISM prints them. */
	dism_format_store_size(886850019ull, buf, sizeof(buf));
	ck_assert_str_eq(buf, "845.77 MB");
	dism_format_store_size(16148070ull, buf, sizeof(buf));
	ck_assert_str_eq(buf, "15.40 MB");
	/* 8.01 GB */
	dism_format_store_size(8600000000ull, buf, sizeof(buf));
	ck_assert_str_eq(buf, "8.01 GB");
	/* A value that rounds to 1024.00 of a unit is written in the next one. */
	dism_format_store_size(1024ull * 1024 - 1, buf, sizeof(buf));
	ck_assert_str_eq(buf, "1.00 MB");
	dism_format_store_size(5ull << 40, buf, sizeof(buf));
	ck_assert_str_eq(buf, "5.00 TB");
	dism_format_store_size(UINT64_MAX, buf, sizeof(buf));
	ck_assert_str_eq(buf, "16.00 EB");

	setenv("TZ", "UTC", 1);
	tzset();
	/* 2016-11-01 09:19:31 UTC */
	dism_format_cleanup_date(1477991971, buf, sizeof(buf));
	ck_assert_str_eq(buf, "2016-11-01 09:19:31");
	dism_format_cleanup_date(0, buf, sizeof(buf));
	ck_assert_str_eq(buf, "");
}
END_TEST

START_TEST(test_store_report)
{
	struct offserv_component_store_info info;
	char *text;

	setenv("TZ", "UTC", 1);
	tzset();
	memset(&info, 0, sizeof(info));
	info.explorer_size = 8600000000ull;
	info.actual_size = 8300000000ull;
	info.shared_with_windows = 6528350000ull;
	info.backups_and_disabled = 1760936591ull;
	info.cache_and_temp = 0;
	info.last_cleanup = 1477991971;
	info.reclaimable_packages = 0;
	info.cleanup_recommended = 0;
	text = dism_store_report(&info);
	ck_assert_ptr_nonnull(text);
	ck_assert_str_eq(text, "Component Store (WinSxS) information:\n"
	                       "\n"
	                       "Windows Explorer Reported Size of Component Store : 8.01 GB\n"
	                       "\n"
	                       "Actual Size of Component Store : 7.73 GB\n"
	                       "\n"
	                       "    Shared with Windows : 6.08 GB\n"
	                       "    Backups and Disabled Features : 1.64 GB\n"
	                       "    Cache and Temporary Data : 0 bytes\n"
	                       "\n"
	                       "Date of Last Cleanup : 2016-11-01 09:19:31\n"
	                       "\n"
	                       "Number of Reclaimable Packages : 0\n"
	                       "Component Store Cleanup Recommended : No\n");
	free(text);

	info.reclaimable_packages = 3;
	info.cleanup_recommended = 1;
	info.last_cleanup = 0;
	text = dism_store_report(&info);
	ck_assert_ptr_nonnull(text);
	ck_assert_ptr_nonnull(strstr(text, "\nNumber of Reclaimable Packages : 3\n"
	                                   "Component Store Cleanup Recommended : Yes\n"));
	ck_assert_ptr_nonnull(strstr(text, "\nDate of Last Cleanup : \n"));
	free(text);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("dism_output");
	TCase *tc = tcase_create("output");

	tcase_add_test(tc, test_progress_bar);
	tcase_add_test(tc, test_progress_output);
	tcase_add_test(tc, test_error_blocks);
	tcase_add_test(tc, test_crlf_and_quiet);
	tcase_add_test(tc, test_codes);
	tcase_add_test(tc, test_numbers_and_dates);
	tcase_add_test(tc, test_store_sizes);
	tcase_add_test(tc, test_store_report);
	suite_add_tcase(s, tc);
	return offtest_run(s);
}
