/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <offserv/config.h>

#include "testutil.h"

/* Write @p text to a fresh file; returns its malloc'd path (tmpdir in *dir). */
static char *ini_file(char **dir, const void *text, size_t len)
{
	char *path;

	*dir = offtest_tmpdir();
	ck_assert_ptr_nonnull(*dir);
	path = offtest_strdup_printf("%s/offserv.ini", *dir);
	ck_assert_int_eq(offtest_write_file(path, text, len), 0);
	return path;
}

static struct offserv_config *load_text(const char *text, char **dir, char **path)
{
	struct offserv_config *cfg = NULL;
	char err[512] = "";
	offserv_status st;

	*path = ini_file(dir, text, strlen(text));
	st = offserv_config_load(*path, &cfg, err, sizeof(err));
	ck_assert_msg(st == OFFSERV_OK, "load failed: %s", err);
	return cfg;
}

/* Load @p text expecting failure; the message must contain each of @p needles. */
static void load_bad(const void *text, size_t len, const char *n1, const char *n2)
{
	struct offserv_config *cfg = (struct offserv_config *)1;
	char err[512] = "";
	char *dir, *path = ini_file(&dir, text, len);
	offserv_status st = offserv_config_load(path, &cfg, err, sizeof(err));

	ck_assert_msg(st == OFFSERV_E_BAD_CONFIG, "accepted (0x%08x): %.*s", st, (int)len,
	              (const char *)text);
	ck_assert_ptr_null(cfg);
	ck_assert_msg(strstr(err, path) != NULL, "message \"%s\" does not name the file", err);
	if (n1)
		ck_assert_msg(strstr(err, n1) != NULL, "message \"%s\" lacks \"%s\"", err, n1);
	if (n2)
		ck_assert_msg(strstr(err, n2) != NULL, "message \"%s\" lacks \"%s\"", err, n2);
	free(path);
	offtest_rmtree(dir);
	free(dir);
}

static void load_bad_s(const char *text, const char *n1, const char *n2)
{
	load_bad(text, strlen(text), n1, n2);
}

START_TEST(test_defaults_empty_file)
{
	char *dir, *path;
	struct offserv_config *cfg = load_text("; nothing\n", &dir, &path);
	const char *root = OFFSERV_LOCALSTATEDIR "/lib/offserv";
	char *exp;

	ck_assert_str_eq(offserv_config_source(cfg), path);
	ck_assert_str_eq(offserv_config_site_code(cfg), "OFS");
	ck_assert_str_eq(offserv_config_site_root(cfg), root);
	exp = offtest_strdup_printf("%s/ContentLibrary", root);
	ck_assert_str_eq(offserv_config_content_library(cfg), exp);
	free(exp);
	exp = offtest_strdup_printf("%s/site.db", root);
	ck_assert_str_eq(offserv_config_database(cfg), exp);
	free(exp);
	exp = offtest_strdup_printf("%s/Logs", root);
	ck_assert_str_eq(offserv_config_log_directory(cfg), exp);
	free(exp);
	ck_assert_str_eq(offserv_config_drive(cfg), "Automatic");
	ck_assert_uint_eq(offserv_config_workers(cfg), 2);
	ck_assert_uint_eq(offserv_config_compaction_threshold(cfg), 25);
	ck_assert_uint_eq(offserv_config_log_max_size(cfg), 250000);
	ck_assert_uint_eq(offserv_config_log_history(cfg), 1);
	ck_assert_int_eq(offserv_config_log_level(cfg), OFFSERV_LOG_INFO);
	ck_assert_int_eq(offserv_config_log_format(cfg), OFFSERV_LOGFMT_TRACE);
	ck_assert_str_eq(offserv_config_plugin_directory(cfg), OFFSERV_PLUGINDIR);
	ck_assert_uint_eq(offserv_config_warning_count(cfg), 0);
	offserv_config_free(cfg);
	free(path);
	offtest_rmtree(dir);
	free(dir);
}
END_TEST

START_TEST(test_shipped_file_is_all_defaults)
{
	struct offserv_config *cfg = NULL;
	char err[512] = "";
	char *path = offtest_strdup_printf("%s/data/offserv.ini", offtest_srcdir());

	ck_assert_uint_eq(offserv_config_load(path, &cfg, err, sizeof(err)), OFFSERV_OK);
	ck_assert_uint_eq(offserv_config_warning_count(cfg), 0);
	ck_assert_str_eq(offserv_config_site_code(cfg), "OFS");
	ck_assert_uint_eq(offserv_config_workers(cfg), 2);
	offserv_config_free(cfg);
	free(path);
}
END_TEST

START_TEST(test_root_derivation_and_values)
{
	char *dir, *path;
	struct offserv_config *cfg =
		load_text("[Site]\nCode = p01\nroot = /srv/site/\ndatabase = db/x.db\n"
		          "[offline_servicing]\ndrive = /mnt/scratch\nworkers = 64\n"
		          "compaction_threshold_percent = 0\n"
		          "[logging]\nmax_size = 2M\nhistory = 0\nlevel = Debug\nformat = CCM\n"
		          "[plugins]\ndirectory = /opt/offserv/plugins\n",
		          &dir, &path);

	ck_assert_str_eq(offserv_config_site_code(cfg), "P01");
	ck_assert_str_eq(offserv_config_site_root(cfg), "/srv/site");
	ck_assert_str_eq(offserv_config_content_library(cfg), "/srv/site/ContentLibrary");
	ck_assert_str_eq(offserv_config_database(cfg), "/srv/site/db/x.db");
	ck_assert_str_eq(offserv_config_log_directory(cfg), "/srv/site/Logs");
	ck_assert_str_eq(offserv_config_drive(cfg), "/mnt/scratch");
	ck_assert_uint_eq(offserv_config_workers(cfg), 64);
	ck_assert_uint_eq(offserv_config_compaction_threshold(cfg), 0);
	ck_assert_uint_eq(offserv_config_log_max_size(cfg), 2 * 1024 * 1024);
	ck_assert_uint_eq(offserv_config_log_history(cfg), 0);
	ck_assert_int_eq(offserv_config_log_level(cfg), OFFSERV_LOG_DEBUG);
	ck_assert_int_eq(offserv_config_log_format(cfg), OFFSERV_LOGFMT_CCM);
	ck_assert_str_eq(offserv_config_plugin_directory(cfg), "/opt/offserv/plugins");
	offserv_config_free(cfg);
	free(path);
	offtest_rmtree(dir);
	free(dir);

	cfg = load_text("[offline_servicing]\ndrive = automatic\n[logging]\nlevel = 2\n"
	                "max_size = 1024\n",
	                &dir, &path);
	ck_assert_str_eq(offserv_config_drive(cfg), "Automatic");
	ck_assert_int_eq(offserv_config_log_level(cfg), OFFSERV_LOG_WARNING);
	ck_assert_uint_eq(offserv_config_log_max_size(cfg), 1024);
	offserv_config_free(cfg);
	free(path);
	offtest_rmtree(dir);
	free(dir);
}
END_TEST

/* A continued line followed by a blank one: the next section still loads.
 * (fuzz_config found the pre-check reading the byte before the empty line;
 * its reproducer, tests/fuzz/crashers/config-continuation-blank, is
 * replayed by every fuzz run under clang's UBSan, which reports it.) */
START_TEST(test_continuation_then_blank)
{
	char *dir, *path;
	struct offserv_config *cfg =
		load_text("[logging]\nformat = trace\\\n \r\n[site]\nroot = /srv/after\n", &dir, &path);

	ck_assert_str_eq(offserv_config_site_root(cfg), "/srv/after");
	offserv_config_free(cfg);
	free(path);
	offtest_rmtree(dir);
	free(dir);
}
END_TEST

START_TEST(test_bad_values)
{
	load_bad_s("[site]\ncode = ABCD\n", "[site] code", "\"ABCD\"");
	load_bad_s("[site]\ncode = A-1\n", "[site] code", "\"A-1\"");
	load_bad_s("[site]\nroot = relative/dir\n", "[site] root", "absolute");
	load_bad_s("[site]\nroot =\n", "[site] root", NULL);
	load_bad_s("[offline_servicing]\ndrive = 12abc\n", "[offline_servicing] drive", "12abc");
	load_bad_s("[offline_servicing]\ndrive = mnt/x\n", "drive", "absolute");
	load_bad_s("[offline_servicing]\nworkers = 0\n", "workers", "1 to 64");
	load_bad_s("[offline_servicing]\nworkers = 65\n", "workers", "\"65\"");
	load_bad_s("[offline_servicing]\nworkers = 12abc\n", "workers", "\"12abc\"");
	load_bad_s("[offline_servicing]\nworkers = 052\n", "workers", "\"052\"");
	load_bad_s("[offline_servicing]\nworkers = 0x10\n", "workers", NULL);
	load_bad_s("[offline_servicing]\nworkers = -1\n", "workers", NULL);
	load_bad_s("[offline_servicing]\nworkers = +3\n", "workers", NULL);
	load_bad_s("[offline_servicing]\nworkers = 99999999999999999999999\n", "workers", NULL);
	load_bad_s("[offline_servicing]\ncompaction_threshold_percent = 101\n",
	           "compaction_threshold_percent", "0 to 100");
	load_bad_s("[logging]\nmax_size = 1023\n", "max_size", "1024");
	load_bad_s("[logging]\nmax_size = 2G\n", "max_size", "\"2G\"");
	load_bad_s("[logging]\nmax_size = 10KB\n", "max_size", NULL);
	load_bad_s("[logging]\nmax_size = K\n", "max_size", NULL);
	load_bad_s("[logging]\nhistory = 100\n", "history", NULL);
	load_bad_s("[logging]\nlevel = 5\n", "level", "\"5\"");
	load_bad_s("[logging]\nlevel = verbose\n", "level", NULL);
	load_bad_s("[logging]\nformat = json\n", "format", "trace or ccm");
	load_bad_s("[plugins]\ndirectory = plugins\n", "[plugins] directory", "absolute");
}
END_TEST

START_TEST(test_malformed)
{
	static const char utf16[] = "\xff\xfe[\0s\0i\0t\0e\0]\0\n\0";
	char longline[1200];

	load_bad_s("[site]\ncode = OFS\nthis line is not ini\n", "(3)", "this line is not ini");
	load_bad_s("[site\ncode = OFS\n", "(1)", NULL);
	load_bad_s("\xef\xbb\xbf[site]\ncode = OFS\n", "byte order mark", NULL);
	load_bad(utf16, sizeof(utf16) - 1, "UTF-16", NULL);
	load_bad_s("[site]\ncode = \xff\xfe\n", ":2:", "UTF-8");
	snprintf(longline, sizeof(longline), "[site]\nroot = /%01100d\n", 0);
	load_bad_s(longline, ":2:", "limit");
}
END_TEST

START_TEST(test_missing_files)
{
	struct offserv_config *cfg = (struct offserv_config *)1;
	char err[512] = "";
	char *dir = offtest_tmpdir();
	char *path = offtest_strdup_printf("%s/none.ini", dir);

	ck_assert_uint_eq(offserv_config_load(path, &cfg, err, sizeof(err)),
	                  OFFSERV_E_FILE_NOT_FOUND);
	ck_assert_ptr_null(cfg);
	ck_assert_ptr_nonnull(strstr(err, path));

	/* Through the environment: still an explicit name, still an error. */
	setenv("OFFSERV_CONFIG", path, 1);
	ck_assert_uint_eq(offserv_config_load(NULL, &cfg, err, sizeof(err)),
	                  OFFSERV_E_FILE_NOT_FOUND);
	ck_assert_ptr_nonnull(strstr(err, path));
	ck_assert_int_eq(offtest_write_file(path, "[site]\ncode = ENV\n", 18), 0);
	ck_assert_uint_eq(offserv_config_load(NULL, &cfg, err, sizeof(err)), OFFSERV_OK);
	ck_assert_str_eq(offserv_config_site_code(cfg), "ENV");
	ck_assert_str_eq(offserv_config_source(cfg), path);
	offserv_config_free(cfg);
	unsetenv("OFFSERV_CONFIG");
	free(path);
	offtest_rmtree(dir);
	free(dir);
}
END_TEST

START_TEST(test_default_location)
{
	struct offserv_config *cfg = NULL;
	char err[512] = "";
	FILE *f = fopen(OFFSERV_SYSCONFDIR "/offserv/offserv.ini", "r");

	if (f) {
		fclose(f);
		printf("# SKIP test_default_location: " OFFSERV_SYSCONFDIR
		       "/offserv/offserv.ini exists on this machine\n");
		return;
	}
	unsetenv("OFFSERV_CONFIG");
	ck_assert_uint_eq(offserv_config_load(NULL, &cfg, err, sizeof(err)), OFFSERV_OK);
	ck_assert_ptr_null(offserv_config_source(cfg));
	ck_assert_str_eq(offserv_config_site_code(cfg), "OFS");
	offserv_config_free(cfg);
	/* An empty variable counts as unset. */
	setenv("OFFSERV_CONFIG", "", 1);
	ck_assert_uint_eq(offserv_config_load(NULL, &cfg, err, sizeof(err)), OFFSERV_OK);
	ck_assert_ptr_null(offserv_config_source(cfg));
	offserv_config_free(cfg);
	unsetenv("OFFSERV_CONFIG");
}
END_TEST

struct collect {
	char buf[1024];
};

static int collect_section(const char *section, void *ctx)
{
	struct collect *c = ctx;

	strncat(c->buf, section, sizeof(c->buf) - strlen(c->buf) - 2);
	strcat(c->buf, ";");
	return 0;
}

static int collect_key(const char *key, const char *value, void *ctx)
{
	struct collect *c = ctx;
	size_t n = strlen(c->buf);

	snprintf(c->buf + n, sizeof(c->buf) - n, "%s=%s;", key, value);
	return 0;
}

static int stop_at_second(const char *section, void *ctx)
{
	int *count = ctx;

	return ++*count == 2 ? 42 : 0;
}

START_TEST(test_plugin_sections_and_warnings)
{
	char *dir, *path;
	struct offserv_config *cfg =
		load_text("stray = 1\n[site]\ncode = ABC\ncolour = blue\ncode = XYZ\n"
		          "[plugin.cab]\nMaxSize = 10\nmode = \"Fast Path\"\n"
		          "[dp.site1]\npath = /srv/dp1\n[plugin.msu]\n"
		          "[weird]\nx = 1\n",
		          &dir, &path);
	struct collect c = {""};
	int count = 0;

	/* Warnings: the stray key, the unknown key, the duplicate, the unknown section. */
	ck_assert_uint_eq(offserv_config_warning_count(cfg), 4);
	{
		char all[2048] = "";

		for (size_t i = 0; i < offserv_config_warning_count(cfg); i++) {
			strncat(all, offserv_config_warning(cfg, i), sizeof(all) - strlen(all) - 2);
			strcat(all, "\n");
		}
		ck_assert_msg(strstr(all, "stray") && strstr(all, "colour") &&
		                  strstr(all, "set again") && strstr(all, "[weird]"),
		              "warnings: %s", all);
	}
	ck_assert_ptr_null(offserv_config_warning(cfg, 4));
	ck_assert_str_eq(offserv_config_site_code(cfg), "XYZ");

	ck_assert_int_eq(offserv_config_foreach_section(cfg, "plugin.", collect_section, &c), 0);
	ck_assert_str_eq(c.buf, "plugin.cab;plugin.msu;");
	c.buf[0] = '\0';
	ck_assert_int_eq(offserv_config_foreach_section(cfg, "dp.", collect_section, &c), 0);
	ck_assert_str_eq(c.buf, "dp.site1;");
	c.buf[0] = '\0';
	ck_assert_int_eq(offserv_config_foreach_key(cfg, "plugin.cab", collect_key, &c), 0);
	ck_assert_str_eq(c.buf, "maxsize=10;mode=Fast Path;");
	c.buf[0] = '\0';
	ck_assert_int_eq(offserv_config_foreach_key(cfg, "plugin.msu", collect_key, &c), 0);
	ck_assert_str_eq(c.buf, "");
	ck_assert_int_eq(offserv_config_foreach_key(cfg, "plugin.none", collect_key, &c), 0);
	ck_assert_int_eq(offserv_config_foreach_section(cfg, NULL, stop_at_second, &count), 42);

	ck_assert_str_eq(offserv_config_get(cfg, "Plugin.CAB", "maxsize"), "10");
	ck_assert_str_eq(offserv_config_get(cfg, "dp.site1", "PATH"), "/srv/dp1");
	ck_assert_ptr_null(offserv_config_get(cfg, "dp.site1", "nothing"));

	offserv_config_free(cfg);
	free(path);
	offtest_rmtree(dir);
	free(dir);
}
END_TEST

START_TEST(test_key_naming_a_section)
{
	char *dir, *path;
	struct offserv_config *cfg =
		load_text("[site]\ncode = ABC\n[plugin.x]\na = 1\n[offline_servicing]\n", &dir, &path);

	/* Keys that name sections, not values: no crash, no value. */
	ck_assert_ptr_null(offserv_config_get(cfg, "plugin.x", ""));
	ck_assert_ptr_null(offserv_config_get(cfg, "site", ""));
	/* A section named like "section:key" of another does not confuse getters. */
	ck_assert_uint_eq(offserv_config_workers(cfg), 2);
	offserv_config_free(cfg);
	free(path);
	offtest_rmtree(dir);
	free(dir);

	/* A section named like a "section:key" string is refused, not read as a value. */
	load_bad_s("[site:code]\n[offline_servicing:workers]\n", ":1:", "contains ':'");
}
END_TEST

START_TEST(test_dump)
{
	char *dir, *path, *out, *text;
	struct offserv_config *cfg =
		load_text("[site]\nroot = /srv/s\n[plugin.cab]\nk = v\n", &dir, &path);
	FILE *f;

	out = offtest_strdup_printf("%s/dump.ini", dir);
	f = fopen(out, "w");
	ck_assert_ptr_nonnull(f);
	offserv_config_dump(cfg, f);
	fclose(f);
	text = offtest_read_file(out, NULL);
	ck_assert_ptr_nonnull(strstr(text, "\n[site]\ncode = OFS\nroot = /srv/s\n"));
	ck_assert_ptr_nonnull(strstr(text, "database = /srv/s/site.db\n"));
	ck_assert_ptr_nonnull(strstr(text, "max_size = 250000\n"));
	ck_assert_ptr_nonnull(strstr(text, "\n[plugin.cab]\nk = v\n"));
	offserv_config_free(cfg);

	/* The dump is itself a valid configuration giving the same values. */
	ck_assert_uint_eq(offserv_config_load(out, &cfg, NULL, 0), OFFSERV_OK);
	ck_assert_str_eq(offserv_config_database(cfg), "/srv/s/site.db");
	ck_assert_uint_eq(offserv_config_warning_count(cfg), 0);
	offserv_config_free(cfg);
	free(text);
	free(out);
	free(path);
	offtest_rmtree(dir);
	free(dir);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("config");

	tcase_add_test(tc, test_defaults_empty_file);
	tcase_add_test(tc, test_shipped_file_is_all_defaults);
	tcase_add_test(tc, test_root_derivation_and_values);
	tcase_add_test(tc, test_continuation_then_blank);
	tcase_add_test(tc, test_bad_values);
	tcase_add_test(tc, test_malformed);
	tcase_add_test(tc, test_missing_files);
	tcase_add_test(tc, test_default_location);
	tcase_add_test(tc, test_plugin_sections_and_warnings);
	tcase_add_test(tc, test_key_naming_a_section);
	tcase_add_test(tc, test_dump);
	suite_add_tcase(s, tc);
	return offtest_run(s);
}
