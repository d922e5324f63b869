/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Fuzz target: the update-format plugins "cab" and "msu" on arbitrary
 * bytes, called through their exported descriptors (the build renames
 * each descriptor so that both fit in one program).
 *
 * For each plugin: probe (0..100), read_info, expand into an empty folder.
 * Properties: a failure carries a message and no result; a success has a
 * format name and a 64-digit digest; expanded package folders lie inside
 * the destination; nothing is created outside it; the msu plugin's scratch
 * folder is empty again after every call.
 */
#include <config.h>

#include <offserv/plugin.h>
#include <offserv/status.h>

#include "fuzz_common.h"

extern const struct offserv_plugin offserv_fuzz_plugin_cab;
extern const struct offserv_plugin offserv_fuzz_plugin_msu;

#define FUZZ_MAX_EXPANDED "4194304"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_root();
	return 0;
}

static void check_info(const char *plugin, const struct offserv_update_info *info)
{
	size_t i;

	if (!info->format || strcmp(info->format, plugin))
		fuzz_fail("%s: read_info reports format \"%s\"", plugin,
		          info->format ? info->format : "(null)");
	if (strlen(info->sha256) != 64 || strspn(info->sha256, "0123456789abcdef") != 64)
		fuzz_fail("%s: read_info digest \"%.65s\" is not 64 hex digits", plugin,
		          info->sha256);
	if (info->n_packages && !info->packages)
		fuzz_fail("%s: %zu packages and no array", plugin, info->n_packages);
	for (i = 0; i < info->n_packages; i++)
		if (!info->packages[i].supported && !info->packages[i].unsupported_reason)
			fuzz_fail("%s: unsupported package %zu without a reason", plugin, i);
	for (i = 0; i < info->n_parent_identities; i++)
		if (!info->parent_identities[i])
			fuzz_fail("%s: parent identity %zu is NULL", plugin, i);
}

static void run_plugin(const struct offserv_plugin *pl, const char *work, const char *input,
                       const char *scratch)
{
	const struct offserv_update_format_ops *ops = pl->ops.update_format;
	struct offserv_update_info *info = NULL;
	struct offserv_expanded_package *pkgs = NULL;
	size_t n_pkgs = 0;
	void *ctx = NULL;
	char err[1024];
	char *dest = fuzz_mkdir(work, "out");
	size_t dlen = strlen(dest);
	offserv_status st;
	int score;

	if (pl->abi_version != OFFSERV_PLUGIN_ABI_VERSION || pl->kind != OFFSERV_PLUGIN_UPDATE_FORMAT)
		fuzz_fail("%s: bad descriptor", pl->name);
	if (pl->init && pl->init(NULL, &ctx) != OFFSERV_OK)
		fuzz_fail("%s: init failed", pl->name);
	if (pl->configure) {
		err[0] = '\0';
		if (pl->configure(ctx, "max_expanded_bytes", FUZZ_MAX_EXPANDED, err,
		                  sizeof(err)) != OFFSERV_OK)
			fuzz_fail("%s: max_expanded_bytes refused: %s", pl->name, err);
		if (!strcmp(pl->name, "msu") &&
		    pl->configure(ctx, "temp_dir", scratch, err, sizeof(err)) != OFFSERV_OK)
			fuzz_fail("msu: temp_dir refused: %s", err);
	}
	score = ops->probe(ctx, input);
	if (score < 0 || score > 100)
		fuzz_fail("%s: probe returned %d", pl->name, score);

	err[0] = '\0';
	st = ops->read_info(ctx, input, &info, err, sizeof(err));
	if (st == OFFSERV_OK) {
		if (!info)
			fuzz_fail("%s: read_info succeeded without an info", pl->name);
		check_info(pl->name, info);
		offserv_update_info_free(info);
	} else {
		if (info)
			fuzz_fail("%s: read_info failed (0x%08x) and returned an info", pl->name,
			          (unsigned)st);
		if (!err[0])
			fuzz_fail("%s: read_info failed (0x%08x) without a message", pl->name,
			          (unsigned)st);
	}
	fuzz_expect_entries(scratch, NULL, NULL);

	err[0] = '\0';
	st = ops->expand(ctx, input, dest, &pkgs, &n_pkgs, err, sizeof(err));
	if (st == OFFSERV_OK) {
		for (size_t i = 0; i < n_pkgs; i++) {
			const char *d = pkgs[i].dir;

			if (!d || strncmp(d, dest, dlen) || d[dlen] != '/' || strstr(d + dlen, "/../") ||
			    !pkgs[i].mum_name)
				fuzz_fail("%s: expanded package %zu at \"%s\" is not inside %s",
				          pl->name, i, d ? d : "(null)", dest);
		}
		offserv_expanded_packages_free(pkgs, n_pkgs);
	} else {
		if (pkgs || n_pkgs)
			fuzz_fail("%s: expand failed (0x%08x) and returned packages", pl->name,
			          (unsigned)st);
		if (!err[0])
			fuzz_fail("%s: expand failed (0x%08x) without a message", pl->name,
			          (unsigned)st);
	}
	fuzz_expect_plain_tree(dest);
	fuzz_expect_entries(scratch, NULL, NULL);
	if (pl->shutdown)
		pl->shutdown(ctx);
	fuzz_rmtree(dest);
	free(dest);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *root = fuzz_root();
	char *work = fuzz_mkdir(root, "work");
	char *in = fuzz_mkdir(work, "in");
	char *scratch = fuzz_mkdir(work, "scratch");
	char *input = fuzz_path(in, "windows10.0-kb5031234-x64.msu");

	fuzz_write(input, data, size);
	run_plugin(&offserv_fuzz_plugin_cab, work, input, scratch);
	run_plugin(&offserv_fuzz_plugin_msu, work, input, scratch);
	fuzz_expect_entries(in, "windows10.0-kb5031234-x64.msu", NULL);
	fuzz_expect_entries(work, "in", "scratch");
	fuzz_expect_entries(root, "work", NULL);
	fuzz_rmtree(work);
	free(input);
	free(scratch);
	free(in);
	free(work);
	return 0;
}
