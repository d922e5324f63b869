/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The plugin loader: good plugins load, bad ones are refused with a reason. */
#include <config.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <offserv/plugins.h>

#include "testutil.h"

struct log_capture {
	char text[8192];
};

static void capture_log(const struct offserv_host *host, enum offserv_loglevel level,
                        const char *plugin, const char *fmt, ...)
{
	struct log_capture *c = host->core;
	size_t used = strlen(c->text);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->text + used, sizeof(c->text) - used, fmt, ap);
	va_end(ap);
	used = strlen(c->text);
	if (used + 1 < sizeof(c->text))
		strcat(c->text, "\n");
}

/* A plugin directory holding copies of the named test plugins. */
static char *plugin_dir(const char *const *names, mode_t mode)
{
	char *dir = offtest_tmpdir();

	ck_assert_ptr_nonnull(dir);
	for (const char *const *n = names; *n; n++) {
		char *src = offtest_strdup_printf("%s/tests/plugins/.libs/%s.so",
		                                  offtest_builddir(), *n);
		char *dst = offtest_strdup_printf("%s/%s.so", dir, *n);
		size_t len;
		char *data = offtest_read_file(src, &len);
		ck_assert_msg(data != NULL, "test plugin %s not built", src);
		ck_assert_int_eq(offtest_write_file(dst, data, len), 0);
		ck_assert_int_eq(chmod(dst, mode), 0);
		free(data);
		free(src);
		free(dst);
	}
	ck_assert_int_eq(chmod(dir, 0755), 0);
	return dir;
}

static const char *refused_reason(const struct offserv_plugins *p, const char *file_part)
{
	for (size_t i = 0; i < offserv_plugins_refused_count(p); i++) {
		const struct offserv_refused_plugin *r = offserv_plugins_refused(p, i);
		if (strstr(r->file, file_part))
			return r->reason;
	}
	return NULL;
}

/* One [plugin.sample_post] section. */
static int sample_config(void *cfg_ctx, const char *plugin_name,
                         int (*each)(void *, const char *, const char *), void *each_ctx)
{
	const char *const *kv = cfg_ctx;

	if (strcmp(plugin_name, "sample_post") != 0)
		return 0;
	for (; kv[0]; kv += 2)
		if (each(each_ctx, kv[0], kv[1]))
			return 1;
	return 0;
}

START_TEST(test_good_plugin_loads_and_runs)
{
	const char *names[] = {"sample_post", NULL};
	const char *kv[] = {"greeting", "bonjour", "colour", "blue", NULL};
	struct log_capture cap = {""};
	struct offserv_host host = {.abi_version = OFFSERV_PLUGIN_ABI_VERSION,
	                            .log = capture_log, .core = &cap};
	char *dir = plugin_dir(names, 0644);
	struct offserv_plugins_options o = {.directory = dir, .host = &host,
	                                    .config_iter = sample_config, .config_ctx = kv};
	struct offserv_plugins *p;
	char err[256] = "", summary[128] = "", perr[128] = "";
	const struct offserv_loaded_plugin *l;
	struct offserv_post_action_job job = {.image_id = "OFS00001"};

	ck_assert_uint_eq(offserv_plugins_load(&o, &p, err, sizeof(err)), OFFSERV_OK);
	ck_assert_uint_eq(offserv_plugins_count(p), 1);
	ck_assert_uint_eq(offserv_plugins_refused_count(p), 0);
	l = offserv_plugins_find(p, "sample_post");
	ck_assert_ptr_nonnull(l);
	ck_assert_int_eq(l->desc->kind, OFFSERV_PLUGIN_POST_ACTION);
	ck_assert_str_eq(offserv_plugin_kind_name(l->desc->kind), "post-action");
	ck_assert_ptr_nonnull(strstr(l->file, "sample_post.so"));
	ck_assert_uint_eq(l->desc->ops.post_action->run(l->ctx, &job, summary, sizeof(summary),
	                                                perr, sizeof(perr)),
	                  OFFSERV_OK);
	/* the [plugin.sample_post] key reached the plugin's configure */
	ck_assert_str_eq(summary, "bonjour OFS00001");
	/* the unknown key was warned about, not silently ignored */
	ck_assert_ptr_nonnull(strstr(cap.text, "Unknown key \"colour\" in [plugin.sample_post]"));
	ck_assert_ptr_nonnull(strstr(cap.text, "Loaded plugin sample_post"));
	offserv_plugins_unload(p);
	offtest_rmtree(dir);
	free(dir);
}
END_TEST

START_TEST(test_bad_plugins_refused_others_load)
{
	const char *names[] = {"sample_post", "bad_abi", "no_symbol", "wrong_name",
	                       "missing_dep", NULL};
	struct log_capture cap = {""};
	struct offserv_host host = {.abi_version = OFFSERV_PLUGIN_ABI_VERSION,
	                            .log = capture_log, .core = &cap};
	char *dir = plugin_dir(names, 0644);
	struct offserv_plugins_options o = {.directory = dir, .host = &host};
	struct offserv_plugins *p;
	char err[256] = "";
	const char *why;
	char *junk = offtest_strdup_printf("%s/garbage.so", dir);

	ck_assert_int_eq(offtest_write_file(junk, "not an ELF file", 15), 0);
	ck_assert_uint_eq(offserv_plugins_load(&o, &p, err, sizeof(err)), OFFSERV_OK);
	ck_assert_uint_eq(offserv_plugins_count(p), 1);
	ck_assert_uint_eq(offserv_plugins_refused_count(p), 5);
	why = refused_reason(p, "bad_abi.so");
	ck_assert_ptr_nonnull(why);
	ck_assert_ptr_nonnull(strstr(why, "ABI 42"));
	why = refused_reason(p, "no_symbol.so");
	ck_assert_ptr_nonnull(strstr(why, "not an offserv plugin"));
	why = refused_reason(p, "wrong_name.so");
	ck_assert_ptr_nonnull(strstr(why, "does not match the file name"));
	why = refused_reason(p, "missing_dep.so");
	ck_assert_ptr_nonnull(strstr(why, "dlopen failed"));
	ck_assert_ptr_nonnull(strstr(why, "offserv_symbol_nobody_defines"));
	why = refused_reason(p, "garbage.so");
	ck_assert_ptr_nonnull(strstr(why, "dlopen failed"));
	/* each refusal was logged with the file name */
	ck_assert_ptr_nonnull(strstr(cap.text, "Refused plugin"));
	ck_assert_ptr_nonnull(strstr(cap.text, "bad_abi.so"));
	offserv_plugins_unload(p);
	offtest_rmtree(dir);
	free(junk);
	free(dir);
}
END_TEST

START_TEST(test_writable_plugin_refused)
{
	const char *names[] = {"sample_post", NULL};
	char *dir = plugin_dir(names, 0666);
	struct offserv_plugins_options o = {.directory = dir};
	struct offserv_plugins *p;
	char err[256] = "";

	ck_assert_uint_eq(offserv_plugins_load(&o, &p, err, sizeof(err)), OFFSERV_OK);
	ck_assert_uint_eq(offserv_plugins_count(p), 0);
	ck_assert_ptr_nonnull(strstr(refused_reason(p, "sample_post.so"), "writable by group or others"));
	offserv_plugins_unload(p);

	/* a world-writable directory is refused as a whole */
	ck_assert_int_eq(chmod(dir, 0777), 0);
	ck_assert_uint_eq(offserv_plugins_load(&o, &p, err, sizeof(err)), OFFSERV_E_ACCESS_DENIED);
	ck_assert_ptr_null(p);
	ck_assert_ptr_nonnull(strstr(err, dir));
	offtest_rmtree(dir);
	free(dir);
}
END_TEST

START_TEST(test_bad_configuration_refuses_plugin)
{
	const char *names[] = {"sample_post", NULL};
	const char *kv[] = {"greeting",
	                    "a greeting that is far too long to fit in the sixty-four byte field",
	                    NULL};
	char *dir = plugin_dir(names, 0644);
	struct offserv_plugins_options o = {.directory = dir, .config_iter = sample_config,
	                                    .config_ctx = kv};
	struct offserv_plugins *p;
	char err[256] = "";

	ck_assert_uint_eq(offserv_plugins_load(&o, &p, err, sizeof(err)), OFFSERV_OK);
	ck_assert_uint_eq(offserv_plugins_count(p), 0);
	ck_assert_ptr_nonnull(strstr(refused_reason(p, "sample_post.so"), "greeting longer than"));
	offserv_plugins_unload(p);
	offtest_rmtree(dir);
	free(dir);
}
END_TEST

START_TEST(test_missing_directory)
{
	struct offserv_plugins_options o = {.directory = "/nonexistent/offserv/plugins"};
	struct offserv_plugins *p;
	char err[256] = "";

	ck_assert_uint_eq(offserv_plugins_load(&o, &p, err, sizeof(err)), OFFSERV_E_FILE_NOT_FOUND);
	ck_assert_ptr_nonnull(strstr(err, "/nonexistent/offserv/plugins"));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("plugins");
	TCase *tc = tcase_create("loader");

	tcase_add_test(tc, test_good_plugin_loads_and_runs);
	tcase_add_test(tc, test_bad_plugins_refused_others_load);
	tcase_add_test(tc, test_writable_plugin_refused);
	tcase_add_test(tc, test_bad_configuration_refuses_plugin);
	tcase_add_test(tc, test_missing_directory);
	suite_add_tcase(s, tc);
	return offtest_run(s);
}
