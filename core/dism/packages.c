/* SPDX-License-Identifier: GPL-3.0-or-later */
/* /Get-Packages and /Get-PackageInfo /PackageName on an offline Windows directory. */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <offserv/cbs.h>
#include <offserv/util.h>

#include "dism/dism.h"
#include "dism/servicing.h"
#include "hive.h"

#define CBS_PACKAGES_KEY "Microsoft\\Windows\\CurrentVersion\\Component Based Servicing\\Packages"
#define CURRENT_VERSION_KEY "Microsoft\\Windows NT\\CurrentVersion"

/*
 * Resolve @p rel ("Windows/System32/config/SOFTWARE") under @p root, each
 * component matched case-insensitively as Windows does.  malloc'd or NULL.
 */
static char *find_ci(const char *root, const char *rel)
{
	char *cur = strdup(root), *copy = strdup(rel), *save = NULL;

	if (!cur || !copy) {
		free(cur);
		free(copy);
		return NULL;
	}
	for (char *comp = strtok_r(copy, "/", &save); comp; comp = strtok_r(NULL, "/", &save)) {
		DIR *d = opendir(cur);
		struct dirent *de;
		char *next = NULL;
		if (!d)
			break;
		while ((de = readdir(d)) != NULL) {
			if (strcasecmp(de->d_name, comp) == 0) {
				next = offserv_path_join(cur, de->d_name);
				break;
			}
		}
		closedir(d);
		free(cur);
		cur = next;
		if (!cur)
			break;
	}
	free(copy);
	return cur;
}

static offserv_status open_software(struct dism_ctx *c, const char *image_dir,
                                    struct offserv_hive **h, int quiet)
{
	char *path = find_ci(image_dir, "Windows/System32/config/SOFTWARE");
	char err[1024] = "";
	offserv_status st;

	if (!path) {
		if (quiet)
			return OFFSERV_E_FILE_NOT_FOUND;
		return dism_fail(c, OFFSERV_E_FILE_NOT_FOUND,
		                 "The Windows directory could not be found in %s: it holds no Windows\\System32\\config\\SOFTWARE hive.",
		                 image_dir);
	}
	st = offserv_hive_open(path, OFFSERV_HIVE_READ, h, err, sizeof(err));
	free(path);
	if (st && !quiet)
		return dism_fail(c, st, "%s", err);
	return st;
}

void dism_print_image_version(struct dism_ctx *c, const char *image_dir)
{
	struct offserv_hive *h = NULL;
	offserv_hive_key k;
	uint32_t maj, min, ubr = 0;
	char *build = NULL;

	if (open_software(c, image_dir, &h, 1) != OFFSERV_OK)
		return;
	if (offserv_hive_find(h, 0, CURRENT_VERSION_KEY, &k, NULL, 0) == OFFSERV_OK &&
	    offserv_hive_get_dword(h, k, "CurrentMajorVersionNumber", &maj, NULL, 0) == OFFSERV_OK &&
	    offserv_hive_get_dword(h, k, "CurrentMinorVersionNumber", &min, NULL, 0) == OFFSERV_OK &&
	    offserv_hive_get_string(h, k, "CurrentBuildNumber", &build, NULL, 0) == OFFSERV_OK) {
		offserv_hive_get_dword(h, k, "UBR", &ubr, NULL, 0);
		dism_out_line(c->out, "Image Version: %u.%u.%s.%u", maj, min, build, ubr);
		dism_out_blank(c->out);
	}
	free(build);
	offserv_hive_close(h);
}

struct pkg_row {
	char *identity;
	const char *state;
	char *release_type;
	char install_time[64];
};

static void row_clear(struct pkg_row *r)
{
	free(r->identity);
	free(r->release_type);
	memset(r, 0, sizeof(*r));
}

static struct offserv_mum *load_mum(const char *image_dir, const char *identity)
{
	char rel[1024];
	char *path;
	struct offserv_mum *mum = NULL;

	snprintf(rel, sizeof(rel), "Windows/servicing/Packages/%s.mum", identity);
	path = find_ci(image_dir, rel);
	if (!path)
		return NULL;
	if (offserv_mum_load(path, &mum, NULL, 0) != OFFSERV_OK)
		mum = NULL;
	free(path);
	return mum;
}

static void install_time_of(struct offserv_hive *h, offserv_hive_key k, char *buf, size_t len)
{
	uint32_t hi, lo;

	buf[0] = '\0';
	if (offserv_hive_get_dword(h, k, "InstallTimeHigh", &hi, NULL, 0) != OFFSERV_OK ||
	    offserv_hive_get_dword(h, k, "InstallTimeLow", &lo, NULL, 0) != OFFSERV_OK)
		return;
	uint64_t ft = ((uint64_t)hi << 32) | lo;
	if (ft == 0)
		return;
	dism_format_install_time(dism_filetime_to_time(ft), buf, len);
}

static offserv_status read_row(struct dism_ctx *c, struct offserv_hive *h, offserv_hive_key pk,
                               const char *image_dir, const char *identity, struct pkg_row *r,
                               struct offserv_mum **mum_out)
{
	offserv_hive_key k;
	uint32_t state = 0;
	struct offserv_mum *mum;
	char err[512] = "";
	offserv_status st;

	memset(r, 0, sizeof(*r));
	st = offserv_hive_find(h, pk, identity, &k, err, sizeof(err));
	if (st)
		return st;
	r->identity = strdup(identity);
	if (!r->identity)
		return OFFSERV_E_OUTOFMEMORY;
	if (offserv_hive_get_dword(h, k, "CurrentState", &state, NULL, 0) != OFFSERV_OK)
		state = 0;
	r->state = offserv_package_state_name(state);
	install_time_of(h, k, r->install_time, sizeof(r->install_time));
	mum = load_mum(image_dir, identity);
	r->release_type = strdup(mum && mum->release_type ? mum->release_type : "<undefined>");
	if (mum_out)
		*mum_out = mum;
	else
		offserv_mum_free(mum);
	(void)c;
	return r->release_type ? OFFSERV_OK : OFFSERV_E_OUTOFMEMORY;
}

static size_t max_sz(size_t a, size_t b)
{
	return a > b ? a : b;
}

static void print_table(struct dism_ctx *c, struct pkg_row *rows, size_t n)
{
	static const char *const head[4] = {"Package Identity", "State", "Release Type",
	                                    "Install Time"};
	size_t w[4];
	char *dash[4];

	for (int i = 0; i < 4; i++)
		w[i] = strlen(head[i]);
	for (size_t i = 0; i < n; i++) {
		w[0] = max_sz(w[0], strlen(rows[i].identity));
		w[1] = max_sz(w[1], strlen(rows[i].state));
		w[2] = max_sz(w[2], strlen(rows[i].release_type));
		w[3] = max_sz(w[3], strlen(rows[i].install_time));
	}
	for (int i = 0; i < 4; i++) {
		dash[i] = malloc(w[i] + 1);
		if (!dash[i]) {
			for (int j = 0; j < i; j++)
				free(dash[j]);
			return;
		}
		memset(dash[i], '-', w[i]);
		dash[i][w[i]] = '\0';
	}
	dism_out_line(c->out, "%s | %s | %s | %s", dash[0], dash[1], dash[2], dash[3]);
	dism_out_line(c->out, "%-*s | %-*s | %-*s | %-*s", (int)w[0], head[0], (int)w[1], head[1],
	              (int)w[2], head[2], (int)w[3], head[3]);
	dism_out_line(c->out, "%s | %s | %s | %s", dash[0], dash[1], dash[2], dash[3]);
	for (size_t i = 0; i < n; i++)
		dism_out_line(c->out, "%-*s | %-*s | %-*s | %-*s", (int)w[0], rows[i].identity,
		              (int)w[1], rows[i].state, (int)w[2], rows[i].release_type, (int)w[3],
		              rows[i].install_time);
	dism_out_blank(c->out);
	for (int i = 0; i < 4; i++)
		free(dash[i]);
}

offserv_status dism_check_online(struct dism_ctx *c)
{
	if (c->args->present[DISM_OPT_ONLINE])
		return dism_fail(c, OFFSERV_E_NOT_SUPPORTED,
		                 "/Online is not supported: this program services offline images only. Use /Image:<path>.");
	return OFFSERV_OK;
}

offserv_status dism_cmd_get_packages(struct dism_ctx *c)
{
	const char *image_dir = c->args->value[DISM_OPT_IMAGE];
	const char *fmt = c->args->value[DISM_OPT_FORMAT];
	struct offserv_hive *h = NULL;
	offserv_hive_key pk;
	char **names = NULL;
	size_t n = 0, nrows = 0;
	struct pkg_row *rows = NULL;
	char err[1024] = "";
	offserv_status st;

	c->provider = DISM_PROV_PACKAGE;
	st = dism_check_online(c);
	if (st)
		return st;
	dism_log_provider(c, OFFSERV_LOG_INFO, DISM_PROV_PACKAGE, "CPackageManagerCLIHandler",
	                  "Private_ValidateCmdLine", OFFSERV_OK,
	                  "Processing the top level command token(get-packages).");
	st = open_software(c, image_dir, &h, 0);
	if (st)
		return st;
	dism_print_image_version(c, image_dir);
	st = offserv_hive_find(h, 0, CBS_PACKAGES_KEY, &pk, err, sizeof(err));
	if (st == OFFSERV_E_FILE_NOT_FOUND) {
		/* No servicing key: no package was ever registered, an empty list. */
		dism_log_provider(c, OFFSERV_LOG_INFO, DISM_PROV_PACKAGE, "CDISMPackageManager",
		                  "Internal_GetPackages", OFFSERV_OK,
		                  "The image registers no packages (no Packages key)");
		st = OFFSERV_OK;
	} else if (st == OFFSERV_OK) {
		st = offserv_hive_subkeys(h, pk, &names, &n, err, sizeof(err));
	}
	if (st) {
		st = dism_fail(c, st, "The package list of the image could not be read: %s", err);
		goto out;
	}
	rows = calloc(n ? n : 1, sizeof(*rows));
	if (!rows) {
		st = OFFSERV_E_OUTOFMEMORY;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		st = read_row(c, h, pk, image_dir, names[i], &rows[nrows], NULL);
		if (st) {
			st = dism_fail(c, st, "The package %s could not be read.", names[i]);
			goto out;
		}
		nrows++;
	}
	dism_out_line(c->out, "Packages listing:");
	dism_out_blank(c->out);
	if (fmt && strcasecmp(fmt, "Table") == 0) {
		print_table(c, rows, nrows);
	} else {
		for (size_t i = 0; i < nrows; i++) {
			dism_out_line(c->out, "Package Identity : %s", rows[i].identity);
			dism_out_line(c->out, "State : %s", rows[i].state);
			dism_out_line(c->out, "Release Type : %s", rows[i].release_type);
			dism_out_line(c->out, "Install Time : %s", rows[i].install_time);
			dism_out_blank(c->out);
		}
	}
	dism_log_provider(c, OFFSERV_LOG_INFO, DISM_PROV_PACKAGE, "CDISMPackageManager",
	                  "Internal_GetPackages", OFFSERV_OK, "Listed %zu packages of %s", nrows,
	                  image_dir);
out:
	for (size_t i = 0; i < nrows; i++)
		row_clear(&rows[i]);
	free(rows);
	offserv_hive_free_names(names);
	offserv_hive_close(h);
	return st;
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

void dism_print_package_info(struct dism_ctx *c, const struct dism_package_info *p)
{
#define F(x) ((x) ? (x) : "")
	dism_out_line(c->out, "Package information:");
	dism_out_blank(c->out);
	dism_out_line(c->out, "Package Identity : %s", F(p->identity));
	dism_out_line(c->out, "Applicable : %s", F(p->applicable));
	dism_out_line(c->out, "Copyright : %s", F(p->copyright));
	dism_out_line(c->out, "Company : %s", F(p->company));
	dism_out_line(c->out, "Creation Time : %s", F(p->creation_time));
	dism_out_line(c->out, "Description : %s", F(p->description));
	dism_out_line(c->out, "Install Client : %s", F(p->install_client));
	dism_out_line(c->out, "Install Package Name : %s", F(p->install_package_name));
	dism_out_line(c->out, "Install Time : %s", F(p->install_time));
	dism_out_line(c->out, "Last Update Time : %s", F(p->last_update_time));
	dism_out_line(c->out, "Name : %s", F(p->name));
	dism_out_line(c->out, "Product Name : %s", F(p->product_name));
	dism_out_line(c->out, "Product Version : %s", F(p->product_version));
	dism_out_line(c->out, "Release Type : %s", F(p->release_type));
	dism_out_line(c->out, "Restart Required : %s", F(p->restart_required));
	dism_out_line(c->out, "Support Information : %s", F(p->support_information));
	dism_out_line(c->out, "State : %s", F(p->state));
	dism_out_line(c->out, "Completely offline capable : %s", F(p->offline_capable));
	dism_out_line(c->out, "Self servicing package : %s", F(p->self_servicing));
	dism_out_line(c->out, "Capability Identity : %s", F(p->capability_identity));
	dism_out_blank(c->out);
	dism_out_line(c->out, "Custom Properties:");
	dism_out_blank(c->out);
	dism_out_line(c->out, "(No custom properties found)");
	dism_out_blank(c->out);
	dism_out_line(c->out, "Features listing for package : %s", F(p->identity));
	dism_out_blank(c->out);
	dism_out_line(c->out, "(No features found for this package)");
	dism_out_blank(c->out);
#undef F
}

offserv_status dism_cmd_get_packageinfo_name(struct dism_ctx *c)
{
	const char *image_dir = c->args->value[DISM_OPT_IMAGE];
	const char *want = c->args->value[DISM_OPT_PACKAGENAME];
	struct offserv_hive *h = NULL;
	offserv_hive_key pk, k;
	struct pkg_row row;
	struct offserv_mum *mum = NULL;
	struct dism_package_info info;
	struct offserv_identity pid;
	char *key_name = NULL;
	char err[1024] = "";
	offserv_status st;

	memset(&row, 0, sizeof(row));
	memset(&info, 0, sizeof(info));
	memset(&pid, 0, sizeof(pid));
	c->provider = DISM_PROV_PACKAGE;
	st = dism_check_online(c);
	if (st)
		return st;
	st = open_software(c, image_dir, &h, 0);
	if (st)
		return st;
	dism_print_image_version(c, image_dir);
	st = offserv_hive_find(h, 0, CBS_PACKAGES_KEY, &pk, err, sizeof(err));
	if (st == OFFSERV_OK)
		st = offserv_hive_find(h, pk, want, &k, err, sizeof(err));
	if (st == OFFSERV_E_FILE_NOT_FOUND) {
		st = dism_fail(c, OFFSERV_CBS_E_UNKNOWN_UPDATE,
		               "The specified package is not known to this image: %s", want);
		goto out;
	}
	if (st) {
		st = dism_fail(c, st, "%s", err);
		goto out;
	}
	/* The key's own spelling is the identity. */
	if (offserv_hive_key_name(h, k, &key_name, NULL, 0) != OFFSERV_OK)
		key_name = NULL;
	st = read_row(c, h, pk, image_dir, key_name ? key_name : want, &row, &mum);
	if (st) {
		st = dism_fail(c, st, "The package %s could not be read.", want);
		goto out;
	}
	offserv_identity_parse_package_string(row.identity, &pid);
	info.identity = dup_or_null(row.identity);
	info.applicable = strdup("Yes");
	info.copyright = dup_or_null(mum ? mum->copyright : NULL);
	info.company = dup_or_null(mum ? mum->company : NULL);
	info.creation_time = dup_or_null(mum ? mum->creation_time : NULL);
	info.description = dup_or_null(mum ? mum->description : NULL);
	offserv_hive_get_string(h, k, "InstallClient", &info.install_client, NULL, 0);
	offserv_hive_get_string(h, k, "InstallName", &info.install_package_name, NULL, 0);
	info.install_time = dup_or_null(row.install_time);
	info.last_update_time = dup_or_null(mum ? mum->last_update_time : NULL);
	info.name = dup_or_null(mum ? mum->display_name : NULL);
	info.product_name = dup_or_null(pid.name);
	info.product_version = dup_or_null(pid.version);
	info.release_type = dup_or_null(row.release_type);
	info.restart_required = strdup(mum && mum->restart && strcasecmp(mum->restart, "required") == 0
	                                   ? "Required"
	                               : mum && mum->restart && strcasecmp(mum->restart, "never") == 0
	                                   ? "No"
	                                   : "Possible");
	info.support_information = dup_or_null(mum ? mum->support_information : NULL);
	info.state = dup_or_null(row.state);
	info.offline_capable = strdup("Undetermined");
	info.self_servicing = strdup("No");
	dism_print_package_info(c, &info);
out:
	dism_package_info_clear(&info);
	offserv_identity_clear(&pid);
	free(key_name);
	offserv_mum_free(mum);
	row_clear(&row);
	offserv_hive_close(h);
	return st;
}
