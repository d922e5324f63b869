/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <config.h>

#include <stdlib.h>
#include <string.h>

#include "dism/args.h"

#include "testutil.h"

#define PARSE(st_expect, ...)                                                        \
	do {                                                                             \
		char *const argv_[] = {"dism", __VA_ARGS__};                                 \
		st = dism_args_parse((int)(sizeof(argv_) / sizeof(argv_[0])), argv_, &a, err, \
		                     sizeof(err));                                           \
		ck_assert_msg(st == (st_expect), "status 0x%08x, message: %s", st, err);     \
	} while (0)

START_TEST(test_case_and_separators)
{
	struct dism_args a;
	char err[512] = "";
	offserv_status st;

	PARSE(OFFSERV_OK, "/get-imageinfo", "/IMAGEFILE:/x/install.wim", "/index=2");
	ck_assert_int_eq(a.verb, DISM_VERB_GET_IMAGEINFO);
	ck_assert_str_eq(a.value[DISM_OPT_IMAGEFILE], "/x/install.wim");
	ck_assert_uint_eq(a.index, 2);
	dism_args_free(&a);

	/* Only the first ':' or '=' separates: the rest is the value. */
	PARSE(OFFSERV_OK, "/Get-ImageInfo", "/ImageFile=C:\\a=b:c.wim");
	ck_assert_str_eq(a.value[DISM_OPT_IMAGEFILE], "C:\\a=b:c.wim");
	dism_args_free(&a);
}
END_TEST

START_TEST(test_quotes)
{
	struct dism_args a;
	char err[512] = "";
	offserv_status st;

	PARSE(OFFSERV_OK, "/LogPath:\"C:\\x y\\dism.log\"", "/Get-MountedImageInfo");
	ck_assert_str_eq(a.value[DISM_OPT_LOGPATH], "C:\\x y\\dism.log");
	dism_args_free(&a);
	/* Already unquoted by a shell: kept as is. */
	PARSE(OFFSERV_OK, "/Get-MountedImageInfo", "/LogPath:/x y/dism.log");
	ck_assert_str_eq(a.value[DISM_OPT_LOGPATH], "/x y/dism.log");
	dism_args_free(&a);
	/* An empty quoted value is a missing argument. */
	PARSE(OFFSERV_E_INVALIDARG, "/Get-MountedImageInfo", "/LogPath:\"\"");
	ck_assert_str_eq(err, "The /LogPath option is missing a required argument.");
	dism_args_free(&a);
}
END_TEST

START_TEST(test_globals_anywhere)
{
	struct dism_args a;
	char err[512] = "";
	offserv_status st;

	PARSE(OFFSERV_OK, "/English", "/Image:/mnt", "/Get-Packages", "/Format:Table", "/NoRestart",
	      "/LogLevel:4", "/Quiet");
	ck_assert_int_eq(a.verb, DISM_VERB_GET_PACKAGES);
	ck_assert_str_eq(a.value[DISM_OPT_IMAGE], "/mnt");
	ck_assert_int_eq(a.log_level, 4);
	ck_assert(a.present[DISM_OPT_QUIET]);
	ck_assert(a.present[DISM_OPT_ENGLISH]);
	dism_args_free(&a);

	PARSE(OFFSERV_OK, "/Get-Packages", "/Image:/mnt");
	ck_assert_int_eq(a.log_level, 3);
	dism_args_free(&a);
}
END_TEST

START_TEST(test_package_path_order)
{
	struct dism_args a;
	char err[512] = "";
	offserv_status st;

	PARSE(OFFSERV_OK, "/Image:/mnt", "/Add-Package", "/PackagePath:/p/ssu.cab",
	      "/packagepath=/p/lcu.msu", "/PackagePath:/p/third.cab");
	ck_assert_uint_eq(a.n_package_paths, 3);
	ck_assert_str_eq(a.package_paths[0], "/p/ssu.cab");
	ck_assert_str_eq(a.package_paths[1], "/p/lcu.msu");
	ck_assert_str_eq(a.package_paths[2], "/p/third.cab");
	dism_args_free(&a);
}
END_TEST

START_TEST(test_remove_package_refs)
{
	struct dism_args a;
	char err[512] = "";
	offserv_status st;
	char *h;

	/* Names and paths mixed keep their command-line order. */
	PARSE(OFFSERV_OK, "/Image:/mnt", "/Remove-Package", "/PackageName:A~1", "/PackagePath:/p/b.cab",
	      "/packagename=C~3");
	ck_assert_int_eq(a.verb, DISM_VERB_REMOVE_PACKAGE);
	ck_assert_uint_eq(a.n_package_refs, 3);
	ck_assert_int_eq(a.package_refs[0].is_path, 0);
	ck_assert_str_eq(a.package_refs[0].value, "A~1");
	ck_assert_int_eq(a.package_refs[1].is_path, 1);
	ck_assert_str_eq(a.package_refs[1].value, "/p/b.cab");
	ck_assert_int_eq(a.package_refs[2].is_path, 0);
	ck_assert_str_eq(a.package_refs[2].value, "C~3");
	ck_assert_uint_eq(a.n_package_names, 2);
	ck_assert_uint_eq(a.n_package_paths, 1);
	/* The first of a repeated option is its value. */
	ck_assert_str_eq(a.value[DISM_OPT_PACKAGENAME], "A~1");
	ck_assert_str_eq(a.value[DISM_OPT_PACKAGEPATH], "/p/b.cab");
	dism_args_free(&a);

	PARSE(OFFSERV_OK, "/Image:/mnt", "/Remove-Package", "/PackagePath:/p/1.cab",
	      "/PackagePath:/p/2.cab");
	ck_assert_uint_eq(a.n_package_refs, 2);
	ck_assert_str_eq(a.package_refs[1].value, "/p/2.cab");
	dism_args_free(&a);

	PARSE(OFFSERV_E_INVALIDARG, "/Image:/mnt", "/Remove-Package");
	ck_assert_str_eq(err, "The /Remove-Package command needs /PackageName or /PackagePath.");
	PARSE(OFFSERV_E_INVALIDARG, "/Image:/mnt", "/Remove-Package", "/PackageName:");
	ck_assert_str_eq(err, "The /PackageName option is missing a required argument.");
	/* /Get-PackageInfo still takes one package. */
	PARSE(OFFSERV_E_INVALIDARG, "/Image:/mnt", "/Get-PackageInfo", "/PackageName:A",
	      "/PackageName:B");
	ck_assert_str_eq(err, "The /Get-PackageInfo command takes only one /PackageName or /PackagePath.");
	PARSE(OFFSERV_E_INVALIDARG, "/Image:/mnt", "/Get-PackageInfo", "/PackageName:A",
	      "/PackagePath:/b.cab");
	PARSE(OFFSERV_OK, "/Image:/mnt", "/Get-PackageInfo", "/PackageName:A");
	ck_assert_str_eq(a.value[DISM_OPT_PACKAGENAME], "A");
	dism_args_free(&a);
	/* Other commands refuse them. */
	PARSE(OFFSERV_E_INVALIDARG, "/Image:/mnt", "/Add-Package", "/PackageName:A");
	ck_assert_str_eq(err, "The /PackageName option is not valid for the /Add-Package command.");
	PARSE(OFFSERV_E_INVALIDARG, "/Image:/mnt", "/Cleanup-Image", "/AnalyzeComponentStore",
	      "/PackagePath:/a.cab");
	/* Cleanup-Image: exactly one action. */
	PARSE(OFFSERV_E_INVALIDARG, "/Image:/mnt", "/Cleanup-Image");
	PARSE(OFFSERV_E_INVALIDARG, "/Image:/mnt", "/Cleanup-Image", "/AnalyzeComponentStore",
	      "/RevertPendingActions");
	PARSE(OFFSERV_E_INVALIDARG, "/Image:/mnt", "/Cleanup-Image", "/AnalyzeComponentStore",
	      "/ResetBase");
	PARSE(OFFSERV_OK, "/Image:/mnt", "/cleanup-image", "/analyzecomponentstore");
	ck_assert(a.present[DISM_OPT_ANALYZECOMPONENTSTORE]);
	dism_args_free(&a);
	PARSE(OFFSERV_OK, "/Image:/mnt", "/Cleanup-Image", "/RevertPendingActions");
	dism_args_free(&a);

	/* Their help texts. */
	PARSE(OFFSERV_OK, "/Image:/mnt", "/Remove-Package", "/?");
	h = dism_help_text(a.verb);
	ck_assert_ptr_nonnull(strstr(h, "/Remove-Package {/PackageName:<identity> | /PackagePath:<path>}"));
	free(h);
	dism_args_free(&a);
	PARSE(OFFSERV_OK, "/Cleanup-Image", "/?");
	h = dism_help_text(a.verb);
	ck_assert_ptr_nonnull(strstr(h, "/AnalyzeComponentStore reports"));
	ck_assert_ptr_nonnull(strstr(h, "/RevertPendingActions removes"));
	free(h);
	dism_args_free(&a);
}
END_TEST

START_TEST(test_duplicates_unknown_missing)
{
	struct dism_args a;
	char err[512] = "";
	offserv_status st;

	PARSE(OFFSERV_E_INVALIDARG, "/Get-ImageInfo", "/ImageFile:a.wim", "/Index:1", "/index:2");
	ck_assert_str_eq(err, "The /index option can only be specified once.");
	PARSE(OFFSERV_E_INVALIDARG, "/Get-ImageInfo", "/ImageFile:a.wim", "/Bogus:1");
	ck_assert_str_eq(err, "DISM doesn't recognize the command-line option \"/Bogus:1\".");
	PARSE(OFFSERV_E_INVALIDARG, "/Get-ImageInfo", "install.wim");
	ck_assert_str_eq(err, "DISM doesn't recognize the command-line option \"install.wim\".");
	PARSE(OFFSERV_E_INVALIDARG, "/Get-ImageInfo", "/ImageFile");
	ck_assert_str_eq(err, "The /ImageFile option is missing a required argument.");
	PARSE(OFFSERV_E_INVALIDARG, "/Get-ImageInfo", "/ImageFile:");
	ck_assert_str_eq(err, "The /ImageFile option is missing a required argument.");
	/* A switch given a value is not an option DISM knows. */
	PARSE(OFFSERV_E_INVALIDARG, "/Get-MountedImageInfo", "/Quiet:yes");
	ck_assert_str_eq(err, "DISM doesn't recognize the command-line option \"/Quiet:yes\".");
	/* The options that report an error survive it. */
	dism_args_free(&a);
	PARSE(OFFSERV_E_INVALIDARG, "/Get-ImageInfo", "/Bogus", "--exit-code-file=/t/ec", "/CRLF");
	ck_assert_str_eq(a.value[DISM_OPT_EXITCODEFILE], "/t/ec");
	ck_assert(a.present[DISM_OPT_CRLF]);
	ck_assert_int_eq(a.verb, DISM_VERB_NONE);
	dism_args_free(&a);
	/* Dash options are not DISM syntax. */
	PARSE(OFFSERV_E_INVALIDARG, "-Get-MountedImageInfo");
	ck_assert_str_eq(err, "DISM doesn't recognize the command-line option \"-Get-MountedImageInfo\".");
	dism_args_free(&a);
}
END_TEST

START_TEST(test_command_rules)
{
	struct dism_args a;
	char err[512] = "";
	offserv_status st;

	PARSE(OFFSERV_E_INVALIDARG, "/Unmount-Image", "/MountDir:/m");
	ck_assert_str_eq(err, "The /Unmount-Image command needs exactly one of /Commit or /Discard.");
	PARSE(OFFSERV_E_INVALIDARG, "/Unmount-Image", "/MountDir:/m", "/Commit", "/Discard");
	PARSE(OFFSERV_OK, "/Unmount-Image", "/MountDir:/m", "/discard");
	ck_assert(a.present[DISM_OPT_DISCARD]);
	dism_args_free(&a);
	PARSE(OFFSERV_E_INVALIDARG, "/Mount-Image", "/ImageFile:a.wim", "/MountDir:/m");
	PARSE(OFFSERV_E_INVALIDARG, "/Mount-Image", "/ImageFile:a.wim", "/Index:0", "/MountDir:/m");
	ck_assert_str_eq(err, "The value \"0\" is not valid for the /Index option.");
	PARSE(OFFSERV_E_INVALIDARG, "/Mount-Image", "/ImageFile:a.wim", "/Index:1x", "/MountDir:/m");
	PARSE(OFFSERV_E_INVALIDARG, "/Get-ImageInfo", "/ImageFile:a.wim", "/Commit");
	ck_assert_str_eq(err, "The /Commit option is not valid for the /Get-ImageInfo command.");
	PARSE(OFFSERV_E_INVALIDARG, "/Get-Packages");
	PARSE(OFFSERV_E_INVALIDARG, "/Get-Packages", "/Image:/a", "/Online");
	PARSE(OFFSERV_E_INVALIDARG, "/Image:/a", "/Cleanup-Image", "/ResetBase");
	PARSE(OFFSERV_OK, "/Image:/a", "/Cleanup-Image", "/StartComponentCleanup", "/ResetBase");
	dism_args_free(&a);
	PARSE(OFFSERV_E_INVALIDARG, "/Get-ImageInfo", "/Get-Packages");
	PARSE(OFFSERV_E_INVALIDARG, "/LogLevel:5", "/Get-MountedImageInfo");
	PARSE(OFFSERV_E_INVALIDARG, "/Image:/a", "/Get-Packages", "/Format:Wide");
	PARSE(OFFSERV_E_INVALIDARG, "/Export-Image", "/SourceImageFile:a", "/SourceIndex:1",
	      "/DestinationImageFile:b", "/Compress:ultra");
	PARSE(OFFSERV_OK, "/Export-Image", "/SourceImageFile:a", "/SourceIndex:1",
	      "/DestinationImageFile:b", "/Compress:Recovery", "/Bootable");
	dism_args_free(&a);
	/* A target option is refused by image commands. */
	PARSE(OFFSERV_E_INVALIDARG, "/Image:/a", "/Get-ImageInfo", "/ImageFile:x");
	ck_assert_str_eq(err, "The /Image option is not valid for the /Get-ImageInfo command.");
	/* After a failure the structure is safe to free again. */
	dism_args_free(&a);
}
END_TEST

START_TEST(test_legacy_aliases)
{
	struct dism_args a;
	char err[512] = "";
	offserv_status st;

	PARSE(OFFSERV_OK, "/Get-WimInfo", "/WimFile:x.wim");
	ck_assert_int_eq(a.verb, DISM_VERB_GET_IMAGEINFO);
	ck_assert_str_eq(a.value[DISM_OPT_IMAGEFILE], "x.wim");
	dism_args_free(&a);
	PARSE(OFFSERV_OK, "/Mount-Wim", "/WimFile:x.wim", "/Index:1", "/MountDir:/m", "/ReadOnly");
	ck_assert_int_eq(a.verb, DISM_VERB_MOUNT_IMAGE);
	dism_args_free(&a);
	PARSE(OFFSERV_OK, "/Unmount-Wim", "/MountDir:/m", "/Commit");
	ck_assert_int_eq(a.verb, DISM_VERB_UNMOUNT_IMAGE);
	dism_args_free(&a);
	PARSE(OFFSERV_OK, "/Commit-Wim", "/MountDir:/m");
	ck_assert_int_eq(a.verb, DISM_VERB_COMMIT_IMAGE);
	dism_args_free(&a);
	PARSE(OFFSERV_OK, "/Get-MountedWimInfo");
	ck_assert_int_eq(a.verb, DISM_VERB_GET_MOUNTEDIMAGEINFO);
	dism_args_free(&a);
	PARSE(OFFSERV_OK, "/cleanup-wim");
	ck_assert_int_eq(a.verb, DISM_VERB_CLEANUP_MOUNTPOINTS);
	dism_args_free(&a);
	/* Both spellings of the image file at once are one option given twice. */
	PARSE(OFFSERV_E_INVALIDARG, "/Get-WimInfo", "/WimFile:x.wim", "/ImageFile:y.wim");
}
END_TEST

START_TEST(test_help)
{
	struct dism_args a;
	char err[512] = "";
	offserv_status st;
	char *h;

	PARSE(OFFSERV_OK, "/?");
	ck_assert(a.help);
	ck_assert_int_eq(a.verb, DISM_VERB_NONE);
	h = dism_help_text(a.verb);
	ck_assert_ptr_nonnull(strstr(h, "/Get-ImageInfo"));
	free(h);
	dism_args_free(&a);

	/* Command help does not require the command's options. */
	PARSE(OFFSERV_OK, "/Mount-Image", "/?");
	ck_assert(a.help);
	ck_assert_int_eq(a.verb, DISM_VERB_MOUNT_IMAGE);
	h = dism_help_text(a.verb);
	ck_assert_ptr_nonnull(strstr(h, "/MountDir:<dir>"));
	free(h);
	dism_args_free(&a);

	{
		char *const argv0[] = {"dism"};
		ck_assert_uint_eq(dism_args_parse(1, argv0, &a, err, sizeof(err)), OFFSERV_OK);
		ck_assert(a.help);
		dism_args_free(&a);
	}
}
END_TEST

START_TEST(test_exit_code_file_and_long)
{
	struct dism_args a;
	char err[512] = "";
	offserv_status st;
	char *big;

	PARSE(OFFSERV_OK, "/Get-MountedImageInfo", "--exit-code-file=/tmp/x");
	ck_assert_str_eq(a.value[DISM_OPT_EXITCODEFILE], "/tmp/x");
	dism_args_free(&a);
	PARSE(OFFSERV_OK, "/Get-MountedImageInfo", "/ExitCodeFile:/tmp/y", "/CRLF");
	ck_assert_str_eq(a.value[DISM_OPT_EXITCODEFILE], "/tmp/y");
	ck_assert(a.present[DISM_OPT_CRLF]);
	dism_args_free(&a);

	big = malloc(DISM_ARG_MAX + 20);
	ck_assert_ptr_nonnull(big);
	memcpy(big, "/LogPath:", 9);
	memset(big + 9, 'a', DISM_ARG_MAX + 5);
	big[DISM_ARG_MAX + 14] = '\0';
	{
		char *const argv_[] = {"dism", "/Get-MountedImageInfo", big};
		st = dism_args_parse(3, argv_, &a, err, sizeof(err));
	}
	ck_assert_uint_eq(st, OFFSERV_E_INVALIDARG);
	ck_assert_ptr_nonnull(strstr(err, "is longer than 32767 characters"));
	dism_args_free(&a);
	free(big);
}
END_TEST

START_TEST(test_names)
{
	ck_assert_str_eq(dism_verb_name(DISM_VERB_EXPORT_IMAGE), "/Export-Image");
	ck_assert_str_eq(dism_opt_name(DISM_OPT_PACKAGEPATH), "/PackagePath");
	ck_assert_int_eq(dism_verb_lookup("GET-PACKAGES"), DISM_VERB_GET_PACKAGES);
	ck_assert_int_eq(dism_verb_lookup("Get-Package"), DISM_VERB_NONE);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("dism_args");
	TCase *tc = tcase_create("parse");

	tcase_add_test(tc, test_case_and_separators);
	tcase_add_test(tc, test_quotes);
	tcase_add_test(tc, test_globals_anywhere);
	tcase_add_test(tc, test_package_path_order);
	tcase_add_test(tc, test_remove_package_refs);
	tcase_add_test(tc, test_duplicates_unknown_missing);
	tcase_add_test(tc, test_command_rules);
	tcase_add_test(tc, test_legacy_aliases);
	tcase_add_test(tc, test_help);
	tcase_add_test(tc, test_exit_code_file_and_long);
	tcase_add_test(tc, test_names);
	suite_add_tcase(s, tc);
	return offtest_run(s);
}
