/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Fuzz target: offserv_config_load() on a file holding the input.
 * A loaded configuration answers every typed getter within its documented
 * range and walks its sections and keys; a refusal carries a message that
 * names the file.  Loading never writes into the folder of the file.
 */
#include <config.h>

#include <offserv/config.h>

#include "fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_root();
	return 0;
}

static int count_key(const char *key, const char *value, void *ctx)
{
	if (!key || !value)
		fuzz_fail("a key or value is NULL");
	++*(size_t *)ctx;
	return 0;
}

static int walk_section(const char *section, void *ctx)
{
	const struct offserv_config *cfg = ctx;
	size_t n = 0;

	if (!section)
		fuzz_fail("a section name is NULL");
	offserv_config_foreach_key(cfg, section, count_key, &n);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *root = fuzz_root();
	char *work = fuzz_mkdir(root, "work");
	char *ini = fuzz_path(work, "offserv.ini");
	struct offserv_config *cfg = NULL;
	char err[1024];
	offserv_status st;

	fuzz_write(ini, data, size);
	err[0] = '\0';
	st = offserv_config_load(ini, &cfg, err, sizeof(err));
	if (st == OFFSERV_OK) {
		const char *s;

		if (!cfg)
			fuzz_fail("config_load succeeded without a configuration");
		s = offserv_config_site_code(cfg);
		if (!s || strlen(s) != 3)
			fuzz_fail("site code \"%s\"", s ? s : "(null)");
		s = offserv_config_site_root(cfg);
		if (!s || s[0] != '/')
			fuzz_fail("site root \"%s\" is not absolute", s ? s : "(null)");
		if (!offserv_config_content_library(cfg) || !offserv_config_database(cfg) ||
		    !offserv_config_drive(cfg) || !offserv_config_log_directory(cfg) ||
		    !offserv_config_plugin_directory(cfg))
			fuzz_fail("a path getter returned NULL");
		if (offserv_config_workers(cfg) < 1 || offserv_config_workers(cfg) > 64)
			fuzz_fail("workers %u", offserv_config_workers(cfg));
		if (offserv_config_compaction_threshold(cfg) > 100)
			fuzz_fail("compaction threshold %u", offserv_config_compaction_threshold(cfg));
		if (offserv_config_log_max_size(cfg) < 1024 ||
		    offserv_config_log_max_size(cfg) > 1024ull * 1024 * 1024)
			fuzz_fail("log max size %llu",
			          (unsigned long long)offserv_config_log_max_size(cfg));
		if (offserv_config_log_history(cfg) > 99)
			fuzz_fail("log history %u", offserv_config_log_history(cfg));
		if (offserv_config_log_level(cfg) < 1 || offserv_config_log_level(cfg) > 4)
			fuzz_fail("log level %d", offserv_config_log_level(cfg));
		for (size_t i = 0; i < offserv_config_warning_count(cfg); i++)
			if (!offserv_config_warning(cfg, i))
				fuzz_fail("warning %zu is NULL", i);
		offserv_config_foreach_section(cfg, NULL, walk_section, cfg);
		offserv_config_get(cfg, "site", "code");
		offserv_config_get(cfg, "plugin.cab", "max_expanded_bytes");
		offserv_config_free(cfg);
	} else {
		if (cfg)
			fuzz_fail("config_load failed (0x%08x) with a result", (unsigned)st);
		if (!strstr(err, ini))
			fuzz_fail("config_load failed (0x%08x); message does not name the file: %s",
			          (unsigned)st, err);
	}
	fuzz_expect_entries(work, "offserv.ini", NULL);
	fuzz_rmtree(work);
	free(ini);
	free(work);
	return 0;
}
