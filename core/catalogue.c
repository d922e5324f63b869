/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The image catalogue: import, packages present per index, applicable updates, JSON views. */
#include <config.h>

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <offserv/applicability.h>
#include <offserv/catalogue.h>
#include <offserv/cbs.h>
#include <offserv/image.h>
#include <offserv/plugins.h>
#include <offserv/sitedb.h>
#include <offserv/util.h>

#include "plugin_types.h"
#include "hive.h"
#include "wim.h"

#define CBS_PACKAGES_KEY \
	"Microsoft\\Windows\\CurrentVersion\\Component Based Servicing\\Packages"
#define CBS_VERSION_KEY \
	"Microsoft\\Windows\\CurrentVersion\\Component Based Servicing\\Version"
#define SERVICING_STACK_NAME "Microsoft-Windows-ServicingStack"
#define SOFTWARE_PATH "Windows/System32/config/SOFTWARE"
#define PACKAGES_DIR "Windows/servicing/Packages"

void offserv_filetime_to_iso(uint64_t filetime, char out[21])
{
	int64_t secs = (int64_t)(filetime / 10000000u) - 11644473600LL;
	time_t t = (time_t)secs;
	struct tm tm;

	if (secs < 0 || !gmtime_r(&t, &tm)) {
		snprintf(out, 21, "1601-01-01T00:00:00Z");
		return;
	}
	strftime(out, 21, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void offserv_catalogue_import_result_clear(struct offserv_catalogue_import_result *res)
{
	if (!res)
		return;
	free(res->wim_path);
	free(res->type);
	memset(res, 0, sizeof(*res));
}

/* ---------------------------------------------------------------------- */
/* Packages of an index */

static struct offserv_image_package_rec *add_row(struct offserv_image_package_rec **rows, size_t *n)
{
	struct offserv_image_package_rec *p = realloc(*rows, (*n + 1) * sizeof(*p));

	if (!p)
		return NULL;
	*rows = p;
	memset(&p[*n], 0, sizeof(*p));
	return &p[(*n)++];
}

/*
 * When no package of the index tells the servicing stack's version (a
 * fresh image: the stack came with the Foundation package), record the
 * highest version named under Component Based Servicing\Version, where
 * Windows lists each stack it has, as an Installed
 * Microsoft-Windows-ServicingStack row: the servicing engine reads the
 * stack version from the same place, so the catalogue judges the
 * servicing stack rule as the engine will.
 */
static offserv_status add_stack_row(struct offserv_hive *h, int index,
                                    struct offserv_image_package_rec **rows, size_t *n,
                                    size_t first, char *err, size_t errlen)
{
	struct offserv_installed_package *inst;
	struct offserv_identity id;
	struct offserv_image_package_rec *r;
	offserv_hive_key k = 0;
	char **names = NULL, have[32];
	const char *best = NULL, *arch = NULL;
	size_t count = 0;
	offserv_status st = OFFSERV_OK;

	inst = calloc(*n - first + 1, sizeof(*inst));
	if (!inst) {
		offserv_set_error(err, errlen, "out of memory");
		return OFFSERV_E_OUTOFMEMORY;
	}
	for (size_t i = first; i < *n; i++) {
		inst[i - first].identity = (*rows)[i].identity;
		inst[i - first].state = (*rows)[i].state;
	}
	if (offserv_image_servicing_stack_version(inst, *n - first, have) == 0)
		goto out;
	if (OFFSERV_FAILED(offserv_hive_find(h, 0, CBS_VERSION_KEY, &k, NULL, 0)) ||
	    OFFSERV_FAILED(offserv_hive_value_names(h, k, &names, &count, NULL, 0)))
		goto out;
	for (size_t i = 0; i < count; i++) {
		unsigned a, b, c, d;
		char tail;

		if (sscanf(names[i], "%u.%u.%u.%u%c", &a, &b, &c, &d, &tail) != 4 ||
		    a > 65535 || b > 65535 || c > 65535 || d > 65535)
			continue;
		if (!best || offserv_version_compare(best, names[i]) < 0)
			best = names[i];
	}
	if (!best)
		goto out;
	/* The architecture of the image's own packages (amd64, x86, arm64). */
	for (size_t i = first; i < *n && !arch; i++) {
		memset(&id, 0, sizeof(id));
		if (offserv_identity_parse_package_string((*rows)[i].identity, &id) == OFFSERV_OK) {
			arch = offserv_arch_to_image(id.arch);
			if (arch && strcmp(arch, "x64") == 0)
				arch = "amd64";
		}
		offserv_identity_clear(&id);
	}
	memset(&id, 0, sizeof(id));
	id.name = (char *)SERVICING_STACK_NAME;
	id.token = (char *)"31bf3856ad364e35";
	id.arch = (char *)(arch ? arch : "neutral");
	id.language = (char *)"neutral";
	id.version = (char *)best;
	r = add_row(rows, n);
	if (!r || !(r->identity = offserv_identity_package_string(&id)) ||
	    !(r->origin = strdup("import"))) {
		offserv_set_error(err, errlen, "out of memory");
		st = OFFSERV_E_OUTOFMEMORY;
		goto out;
	}
	r->index = index;
	r->state = OFFSERV_STATE_INSTALLED;
out:
	offserv_hive_free_names(names);
	free(inst);
	return st;
}

offserv_status offserv_catalogue_read_hive_packages(const char *software_hive, int index,
                                                    struct offserv_image_package_rec **rows,
                                                    size_t *n, char *err, size_t errlen)
{
	struct offserv_hive *h = NULL;
	offserv_hive_key pkgs = 0;
	char **names = NULL;
	size_t count = 0, first = *n;
	char herr[512];
	offserv_status st;

	st = offserv_hive_open(software_hive, OFFSERV_HIVE_READ, &h, herr, sizeof(herr));
	if (OFFSERV_FAILED(st)) {
		offserv_set_error(err, errlen, "SOFTWARE hive of index %d: %s", index, herr);
		return st == OFFSERV_E_BAD_FORMAT ? OFFSERV_CBS_E_IMAGE_UNSERVICEABLE : st;
	}
	st = offserv_hive_find(h, 0, CBS_PACKAGES_KEY, &pkgs, herr, sizeof(herr));
	if (st == OFFSERV_E_FILE_NOT_FOUND) {
		offserv_set_error(err, errlen,
		                  "not a serviceable Windows image: the SOFTWARE hive of index %d has no "
		                  "Component Based Servicing\\Packages key", index);
		st = OFFSERV_CBS_E_IMAGE_UNSERVICEABLE;
		goto out;
	}
	if (OFFSERV_SUCCEEDED(st))
		st = offserv_hive_subkeys(h, pkgs, &names, &count, herr, sizeof(herr));
	if (OFFSERV_FAILED(st)) {
		offserv_set_error(err, errlen, "SOFTWARE hive of index %d: %s", index, herr);
		goto out;
	}
	for (size_t i = 0; i < count; i++) {
		struct offserv_image_package_rec *r;
		offserv_hive_key k = 0;
		uint32_t state = 0, hi = 0, lo = 0;
		char iso[21];

		if (OFFSERV_FAILED(offserv_hive_find(h, pkgs, names[i], &k, NULL, 0)))
			continue;
		r = add_row(rows, n);
		if (!r || !(r->identity = strdup(names[i])) || !(r->origin = strdup("import"))) {
			offserv_set_error(err, errlen, "out of memory");
			st = OFFSERV_E_OUTOFMEMORY;
			goto out;
		}
		r->index = index;
		if (OFFSERV_SUCCEEDED(offserv_hive_get_dword(h, k, "CurrentState", &state, NULL, 0)))
			r->state = state;
		if (OFFSERV_SUCCEEDED(offserv_hive_get_dword(h, k, "InstallTimeHigh", &hi, NULL, 0)) &&
		    OFFSERV_SUCCEEDED(offserv_hive_get_dword(h, k, "InstallTimeLow", &lo, NULL, 0)) &&
		    (hi || lo)) {
			offserv_filetime_to_iso(((uint64_t)hi << 32) | lo, iso);
			r->install_time = strdup(iso);
		}
	}
	st = add_stack_row(h, index, rows, n, first, err, errlen);
out:
	offserv_hive_free_names(names);
	offserv_hive_close(h);
	return st;
}

struct mum_names {
	char **v;
	size_t n;
};

static offserv_status collect_mum(void *ctx, const struct offserv_wim_stat *e)
{
	struct mum_names *m = ctx;
	size_t len = strlen(e->name);
	char **p;

	if (e->is_dir || len <= 4 || strcasecmp(e->name + len - 4, ".mum") != 0)
		return OFFSERV_OK;
	p = realloc(m->v, (m->n + 1) * sizeof(*p));
	if (!p)
		return OFFSERV_E_OUTOFMEMORY;
	m->v = p;
	m->v[m->n] = strndup(e->name, len - 4);
	if (!m->v[m->n])
		return OFFSERV_E_OUTOFMEMORY;
	m->n++;
	return OFFSERV_OK;
}

/* Read what one index holds: SOFTWARE packages, .mum names, release types. */
static offserv_status read_index_packages(struct offserv_wim *wim, int index, const char *scratch,
                                          bool release_types,
                                          struct offserv_image_package_rec **rows, size_t *n,
                                          char *err, size_t errlen)
{
	const char *paths[1] = {SOFTWARE_PATH};
	char werr[768];
	char **local = NULL;
	char *dir = NULL;
	struct mum_names mums = {0};
	size_t first = *n;
	offserv_status st;

	dir = malloc(strlen(scratch) + 32);
	if (!dir) {
		offserv_set_error(err, errlen, "out of memory");
		return OFFSERV_E_OUTOFMEMORY;
	}
	sprintf(dir, "%s/index%d", scratch, index);
	st = offserv_mkdir_p(dir, err, errlen);
	if (OFFSERV_FAILED(st))
		goto out;
	st = offserv_wim_extract(wim, index, paths, 1, dir, 0, &local, werr, sizeof(werr));
	if (st == OFFSERV_E_FILE_NOT_FOUND || st == OFFSERV_E_PATH_NOT_FOUND) {
		offserv_set_error(err, errlen, "%s: not a Windows image: no SOFTWARE hive in index %d",
		                  offserv_wim_path(wim), index);
		st = OFFSERV_CBS_E_IMAGE_UNSERVICEABLE;
		goto out;
	}
	if (OFFSERV_FAILED(st)) {
		offserv_set_error(err, errlen, "%s", werr);
		goto out;
	}
	st = offserv_catalogue_read_hive_packages(local[0], index, rows, n, err, errlen);
	offserv_wim_strv_free(local, 1);
	local = NULL;
	if (OFFSERV_FAILED(st))
		goto out;

	/* Manifests present without a registry entry are recorded as Absent. */
	st = offserv_wim_list(wim, index, PACKAGES_DIR, 0, collect_mum, &mums, werr, sizeof(werr));
	if (st == OFFSERV_E_FILE_NOT_FOUND || st == OFFSERV_E_PATH_NOT_FOUND) {
		st = OFFSERV_OK;
	} else if (OFFSERV_FAILED(st)) {
		offserv_set_error(err, errlen, "%s", werr[0] ? werr : offserv_strerror(st));
		goto out;
	}
	for (size_t i = 0; i < mums.n; i++) {
		bool known = false;
		struct offserv_image_package_rec *r;

		for (size_t j = first; j < *n && !known; j++)
			known = strcasecmp((*rows)[j].identity, mums.v[i]) == 0;
		if (known)
			continue;
		r = add_row(rows, n);
		if (!r || !(r->identity = strdup(mums.v[i])) || !(r->origin = strdup("import"))) {
			offserv_set_error(err, errlen, "out of memory");
			st = OFFSERV_E_OUTOFMEMORY;
			goto out;
		}
		r->index = index;
		r->state = OFFSERV_STATE_ABSENT;
	}

	if (release_types && mums.n) {
		const char *glob[1] = {PACKAGES_DIR "/*.mum"};

		if (OFFSERV_SUCCEEDED(offserv_wim_extract(wim, index, glob, 1, dir,
		                                          OFFSERV_WIM_EXTRACT_GLOB, &local, werr,
		                                          sizeof(werr)))) {
			for (size_t j = first; j < *n; j++) {
				struct offserv_mum *mum = NULL;
				char *mp = malloc(strlen(local[0]) + strlen((*rows)[j].identity) + 8);

				if (!mp)
					break;
				sprintf(mp, "%s/%s.mum", local[0], (*rows)[j].identity);
				if (OFFSERV_SUCCEEDED(offserv_mum_load(mp, &mum, NULL, 0)) && mum->release_type)
					(*rows)[j].release_type = strdup(mum->release_type);
				offserv_mum_free(mum);
				free(mp);
			}
			offserv_wim_strv_free(local, 1);
			local = NULL;
		}
	}
out:
	for (size_t i = 0; i < mums.n; i++)
		free(mums.v[i]);
	free(mums.v);
	if (local)
		offserv_wim_strv_free(local, 1);
	offserv_rmtree(dir, NULL, 0);
	free(dir);
	return st;
}

/* ---------------------------------------------------------------------- */
/* Import */

static offserv_status describe(const struct offserv_catalogue_options *opts, const char *path,
                               struct offserv_image_object **obj, char *err, size_t errlen)
{
	const struct offserv_loaded_plugin *p = NULL;
	struct stat sb;

	if (stat(path, &sb) != 0) {
		int e = errno;

		offserv_set_error(err, errlen, "%s: %s", path, strerror(e));
		return offserv_status_from_errno(e);
	}
	if (opts->plugins)
		p = offserv_plugins_probe_image(opts->plugins, path);
	if (p && p->desc->ops.image_type && p->desc->ops.image_type->open) {
		char perr[768] = "";
		offserv_status st = p->desc->ops.image_type->open(p->ctx, path, obj, perr, sizeof(perr));

		if (OFFSERV_FAILED(st))
			offserv_set_error(err, errlen, "%s: %s", path, perr[0] ? perr : offserv_strerror(st));
		return st;
	}
	if (!S_ISREG(sb.st_mode)) {
		offserv_set_error(err, errlen, "%s: not a WIM file, and no image-type plugin knows it",
		                  path);
		return OFFSERV_E_INVALID_DATA;
	}
	if (!offserv_is_wim_file(path)) {
		offserv_set_error(err, errlen, "%s is not a WIM file (no MSWIM header)", path);
		return OFFSERV_E_INVALID_DATA;
	}
	return offserv_wim_describe(path, "os_image", obj, err, errlen);
}

static char *absolute(const char *path)
{
	char buf[PATH_MAX];

	if (realpath(path, buf))
		return strdup(buf);
	return strdup(path);
}

offserv_status offserv_catalogue_import_image(struct offserv_sitedb *db,
                                              const struct offserv_catalogue_options *opts,
                                              const char *path,
                                              struct offserv_catalogue_import_result *res,
                                              char *err, size_t errlen)
{
	struct offserv_image_object *obj = NULL;
	struct offserv_wim *wim = NULL;
	struct offserv_wim_info winfo;
	struct offserv_image_rec img;
	struct offserv_image_rec existing;
	struct offserv_image_index_rec *idx = NULL;
	struct offserv_image_package_rec *pkgs = NULL;
	size_t n_idx = 0, n_pkgs = 0;
	char *source = NULL, *wim_path = NULL, *scratch = NULL, *dest_dir = NULL, *dest = NULL;
	char sha[65], copy_sha[65], id[OFFSERV_PACKAGE_ID_LEN];
	uint8_t digest[32];
	bool copy, folder_source;
	struct stat sb;
	offserv_status st;

	memset(res, 0, sizeof(*res));
	memset(&img, 0, sizeof(img));
	if (!db || !opts || !path) {
		offserv_set_error(err, errlen, "image import: no database, options or path");
		return OFFSERV_E_INVALIDARG;
	}
	source = absolute(path);
	if (!source) {
		offserv_set_error(err, errlen, "out of memory");
		return OFFSERV_E_OUTOFMEMORY;
	}
	st = describe(opts, source, &obj, err, errlen);
	if (OFFSERV_FAILED(st))
		goto out;
	wim_path = absolute(obj->wim_path ? obj->wim_path : source);
	if (!wim_path)
		goto oom;
	folder_source = stat(source, &sb) == 0 && S_ISDIR(sb.st_mode);
	copy = opts->storage == OFFSERV_CATALOGUE_COPY && !folder_source;
	if (copy && (!opts->site_root || !*opts->site_root)) {
		offserv_set_error(err, errlen, "image import: no site root to copy %s into", source);
		st = OFFSERV_E_INVALIDARG;
		goto out;
	}

	/* Already in the site?  By path first (cheap), then by digest. */
	if (offserv_sitedb_image_find(db, source, NULL, &existing, NULL, 0) == OFFSERV_OK ||
	    offserv_sitedb_image_find(db, wim_path, NULL, &existing, NULL, 0) == OFFSERV_OK) {
		offserv_set_error(err, errlen, "%s is already in the site as image %s", source,
		                  existing.package_id);
		offserv_image_rec_clear(&existing);
		st = OFFSERV_E_ALREADY_EXISTS;
		goto out;
	}

	st = offserv_wim_open(wim_path, OFFSERV_WIM_OPEN_READ, &wim, err, errlen);
	if (OFFSERV_FAILED(st))
		goto out;
	st = offserv_wim_get_info(wim, &winfo, err, errlen);
	if (OFFSERV_FAILED(st))
		goto out;
	if (winfo.split) {
		offserv_set_error(err, errlen,
		                  "%s is part %d of a split WIM: join it first (wimlib-imagex join)",
		                  wim_path, winfo.part_number);
		st = OFFSERV_CBS_E_IMAGE_UNSERVICEABLE;
		goto out;
	}

	/* The indexes to import. */
	idx = calloc(obj->n_indexes ? obj->n_indexes : 1, sizeof(*idx));
	if (!idx)
		goto oom;
	for (size_t i = 0; i < obj->n_indexes; i++) {
		const struct offserv_image_index *x = &obj->indexes[i];
		struct offserv_image_index_rec *r;

		if (opts->index && x->index != opts->index)
			continue;
		r = &idx[n_idx++];
		r->index = x->index;
		r->name = x->name;
		r->description = x->description;
		r->edition = x->edition;
		r->arch = x->arch;
		r->version = x->version;
		r->build = x->build;
		r->sp_build = x->sp_build;
		r->sp_level = x->sp_level;
		r->languages = x->languages;
		r->size = x->total_bytes;
		r->file_count = x->file_count;
		r->dir_count = x->dir_count;
	}
	if (n_idx == 0) {
		if (opts->index)
			offserv_set_error(err, errlen, "%s has no index %d (it has %zu)", wim_path,
			                  opts->index, obj->n_indexes);
		else
			offserv_set_error(err, errlen, "%s holds no image", wim_path);
		st = OFFSERV_E_INVALIDARG;
		goto out;
	}

	/* What each index holds: read before anything is written. */
	{
		const char *base = opts->scratch_dir ? opts->scratch_dir : getenv("TMPDIR");
		size_t len;

		if (!base || !*base)
			base = "/tmp";
		len = strlen(base) + 32;
		scratch = malloc(len);
		if (!scratch)
			goto oom;
		snprintf(scratch, len, "%s/offserv-import-XXXXXX", base);
		if (!mkdtemp(scratch)) {
			int e = errno;

			offserv_set_error(err, errlen, "cannot make a scratch folder in %s: %s", base,
			                  strerror(e));
			free(scratch);
			scratch = NULL;
			st = offserv_status_from_errno(e);
			goto out;
		}
	}
	for (size_t i = 0; i < n_idx; i++) {
		st = read_index_packages(wim, idx[i].index, scratch, opts->read_release_types != 0,
		                         &pkgs, &n_pkgs, err, errlen);
		if (OFFSERV_FAILED(st))
			goto out;
	}
	offserv_wim_close(wim);
	wim = NULL;

	st = offserv_sha256_file(wim_path, digest, NULL, err, errlen);
	if (OFFSERV_FAILED(st))
		goto out;
	offserv_hex(digest, 32, sha);
	if (offserv_sitedb_image_find(db, NULL, sha, &existing, NULL, 0) == OFFSERV_OK) {
		offserv_set_error(err, errlen,
		                  "%s is already in the site as image %s (same SHA-256, imported from %s)",
		                  source, existing.package_id,
		                  existing.source_path ? existing.source_path : "?");
		offserv_image_rec_clear(&existing);
		st = OFFSERV_E_ALREADY_EXISTS;
		goto out;
	}

	res->solid = winfo.solid || obj->solid;
	if (res->solid)
		snprintf(res->note, sizeof(res->note),
		         "%s is solid-compressed (ESD): it is recorded but cannot be serviced in place; "
		         "convert it with `wimlib-imagex export %s all DST.wim --compress=LZX` and import DST.wim",
		         wim_path, wim_path);
	else if (folder_source && opts->storage == OFFSERV_CATALOGUE_COPY)
		snprintf(res->note, sizeof(res->note),
		         "%s is a folder: its WIM %s is serviced in place", source, wim_path);

	id[0] = '\0';
	if (copy) {
		size_t len = strlen(opts->site_root) + 64;

		st = offserv_sitedb_next_package_id(db, id, err, errlen);
		if (OFFSERV_FAILED(st))
			goto out;
		dest_dir = malloc(len);
		dest = malloc(len);
		if (!dest_dir || !dest)
			goto oom;
		snprintf(dest_dir, len, "%s/Images/%s", opts->site_root, id);
		snprintf(dest, len, "%s/%s", dest_dir, res->solid ? "install.esd" : "install.wim");
		st = offserv_mkdir_p(dest_dir, err, errlen);
		if (OFFSERV_SUCCEEDED(st))
			st = offserv_copy_file(wim_path, dest, copy_sha, err, errlen);
		if (OFFSERV_SUCCEEDED(st) && strcmp(copy_sha, sha) != 0) {
			offserv_set_error(err, errlen, "%s changed while it was copied into the site", wim_path);
			st = OFFSERV_E_SHARING_VIOLATION;
		}
		if (OFFSERV_FAILED(st)) {
			offserv_rmtree(dest_dir, NULL, 0);
			goto out;
		}
	}

	snprintf(img.package_id, sizeof(img.package_id), "%s", id);
	img.name = (char *)(opts->name ? opts->name : idx[0].name ? idx[0].name : "");
	img.description = (char *)opts->description;
	img.type = obj->type ? obj->type : (char *)"os_image";
	img.source_path = source;
	img.wim_path = copy ? dest : wim_path;
	img.sha256 = sha;
	img.referenced = !copy;
	img.solid = res->solid;
	st = offserv_sitedb_image_insert(db, &img, idx, n_idx, pkgs, n_pkgs, res->package_id, err,
	                                 errlen);
	if (OFFSERV_FAILED(st)) {
		if (dest_dir)
			offserv_rmtree(dest_dir, NULL, 0);
		goto out;
	}
	res->wim_path = strdup(img.wim_path);
	res->type = strdup(img.type);
	res->n_indexes = n_idx;
	res->n_packages = n_pkgs;
	goto out;
oom:
	offserv_set_error(err, errlen, "out of memory");
	st = OFFSERV_E_OUTOFMEMORY;
out:
	if (scratch) {
		offserv_rmtree(scratch, NULL, 0);
		free(scratch);
	}
	offserv_wim_close(wim);
	offserv_image_object_free(obj);
	offserv_image_package_recs_free(pkgs, n_pkgs);
	free(idx);
	free(source);
	free(wim_path);
	free(dest_dir);
	free(dest);
	return st;
}

/* ---------------------------------------------------------------------- */
/* Updates read through the plugin ABI */

offserv_status offserv_catalogue_read_update_info(const struct offserv_loaded_plugin *plugin,
                                                  const char *path,
                                                  struct offserv_update_info **info, char *err,
                                                  size_t errlen)
{
	const struct offserv_update_format_ops *ops;
	struct offserv_update_info *got = NULL, *grown;
	offserv_status st;

	*info = NULL;
	if (!plugin || !plugin->desc || plugin->desc->kind != OFFSERV_PLUGIN_UPDATE_FORMAT ||
	    !(ops = plugin->desc->ops.update_format) || !ops->read_info) {
		offserv_set_error(err, errlen, "%s: not an update-format plugin", path);
		return OFFSERV_E_INVALIDARG;
	}
	st = ops->read_info(plugin->ctx, path, &got, err, errlen);
	if (OFFSERV_FAILED(st) || !got) {
		if (OFFSERV_SUCCEEDED(st)) {
			offserv_set_error(err, errlen, "%s: the %s plugin returned no metadata", path,
			                  plugin->desc->name ? plugin->desc->name : "update");
			st = OFFSERV_E_UNEXPECTED;
		}
		return st;
	}
	if (offserv_plugin_abi_minor(plugin->desc) < 1) {
		/* A 1.0 plugin allocated the info without the members that follow
		 * parent_identities: grow it to the current layout, those NULL. */
		grown = realloc(got, sizeof(*got));
		if (!grown) {
			offserv_set_error(err, errlen, "%s: out of memory", path);
			offserv__update_info_free_1_0(got);
			return OFFSERV_E_OUTOFMEMORY;
		}
		got = grown;
		memset((char *)got + offsetof(struct offserv_update_info, parents), 0,
		       sizeof(*got) - offsetof(struct offserv_update_info, parents));
	}
	*info = got;
	return OFFSERV_OK;
}

offserv_status offserv_catalogue_update_rows(const struct offserv_update_info *info,
                                             struct offserv_update_package_rec **pkgs,
                                             size_t *n_pkgs,
                                             struct offserv_update_parent_rec **parents,
                                             size_t *n_parents, char *err, size_t errlen)
{
	struct offserv_update_package_rec *pk = NULL;
	struct offserv_update_parent_rec *pa = NULL;
	size_t npa = 0, cap = 0;

	*pkgs = NULL;
	*parents = NULL;
	*n_pkgs = 0;
	*n_parents = 0;
	if (!info) {
		offserv_set_error(err, errlen, "no update metadata");
		return OFFSERV_E_INVALIDARG;
	}
	pk = calloc(info->n_packages ? info->n_packages : 1, sizeof(*pk));
	if (!pk)
		goto oom;
	for (size_t i = 0; i < info->n_packages; i++) {
		const struct offserv_update_package *p = &info->packages[i];

		pk[i].seq = (int)i;
		pk[i].identity = p->identity;
		pk[i].name = p->name;
		pk[i].version = p->version;
		pk[i].arch = p->arch;
		pk[i].release_type = p->release_type;
		pk[i].is_ssu = p->is_ssu;
		pk[i].supported = p->supported;
		pk[i].reason = p->unsupported_reason;
		pk[i].installer_version = info->installer_versions ? info->installer_versions[i] : NULL;
	}
	if (info->n_parents) {
		/* One group per <parent>, bound to its package. */
		for (size_t k = 0; k < info->n_parents; k++)
			cap += info->parents[k].n_identities;
		pa = calloc(cap ? cap : 1, sizeof(*pa));
		if (!pa)
			goto oom;
		for (size_t k = 0; k < info->n_parents; k++) {
			const struct offserv_update_parent *g = &info->parents[k];

			for (size_t a = 0; a < g->n_identities; a++) {
				struct offserv_update_parent_rec *r = &pa[npa++];

				r->package_seq = g->package < info->n_packages ? (int)g->package : -1;
				r->group_no = (int)k;
				r->identity = g->identities[a];
				r->build_compare = g->build_compare;
				r->service_compare = g->service_compare;
				r->revision_compare = g->revision_compare;
				r->disposition = g->disposition;
			}
		}
	} else if (info->n_parent_identities) {
		/* A 1.0 plugin: the alternatives of every package as one list, any
		 * one present is enough, each version a minimum. */
		pa = calloc(info->n_parent_identities, sizeof(*pa));
		if (!pa)
			goto oom;
		for (size_t i = 0; i < info->n_parent_identities; i++) {
			pa[npa].package_seq = -1;
			pa[npa].group_no = 0;
			pa[npa++].identity = info->parent_identities[i];
		}
	}
	*pkgs = pk;
	*n_pkgs = info->n_packages;
	*parents = pa;
	*n_parents = npa;
	return OFFSERV_OK;
oom:
	free(pk);
	free(pa);
	offserv_set_error(err, errlen, "out of memory");
	return OFFSERV_E_OUTOFMEMORY;
}

/* ---------------------------------------------------------------------- */
/* Applicable updates */

void offserv_applicable_updates_free(struct offserv_applicable_update *u, size_t n)
{
	if (!u)
		return;
	for (size_t i = 0; i < n; i++) {
		free(u[i].file_name);
		free(u[i].kb);
		free(u[i].title);
		free(u[i].package);
		free(u[i].explain);
	}
	free(u);
}

/* The parents of package @p seq from the update's rows: one <parent> per group. */
static struct offserv_parent *parents_for(const struct offserv_update_parent_rec *rows, size_t n,
                                          int seq, size_t *n_out)
{
	struct offserv_parent *out = calloc(n ? n : 1, sizeof(*out));
	int *groups = calloc(n ? n : 1, sizeof(*groups));
	size_t cnt = 0;

	*n_out = 0;
	if (!out || !groups)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		struct offserv_parent *g = NULL;
		struct offserv_identity *ids;

		if (rows[i].package_seq != -1 && rows[i].package_seq != seq)
			continue;
		for (size_t k = 0; k < cnt && !g; k++)
			if (groups[k] == rows[i].group_no)
				g = &out[k];
		if (!g) {
			groups[cnt] = rows[i].group_no;
			g = &out[cnt++];
			g->build_compare = rows[i].build_compare;
			g->service_compare = rows[i].service_compare;
			g->revision_compare = rows[i].revision_compare;
			g->disposition = rows[i].disposition;
		}
		ids = realloc(g->ids, (g->n_ids + 1) * sizeof(*ids));
		if (!ids)
			goto fail;
		g->ids = ids;
		memset(&ids[g->n_ids], 0, sizeof(*ids));
		if (offserv_identity_parse_package_string(rows[i].identity, &ids[g->n_ids]) == OFFSERV_OK)
			g->n_ids++;
	}
	free(groups);
	*n_out = cnt;
	return out;
fail:
	for (size_t k = 0; out && k < cnt; k++) {
		for (size_t j = 0; j < out[k].n_ids; j++)
			offserv_identity_clear(&out[k].ids[j]);
		free(out[k].ids);
	}
	free(out);
	free(groups);
	return NULL;
}

static void free_parents(struct offserv_parent *p, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		for (size_t j = 0; j < p[k].n_ids; j++)
			offserv_identity_clear(&p[k].ids[j]);
		free(p[k].ids);
	}
	free(p);
}

/* Judge one update against one index. */
static offserv_status judge_update(struct offserv_sitedb *db, const struct offserv_update_rec *u,
                                   const struct offserv_installed_package *inst, size_t n_inst,
                                   const char *arch, struct offserv_applicable_update *out,
                                   char *err, size_t errlen)
{
	struct offserv_update_package_rec *pk = NULL;
	struct offserv_update_parent_rec *pa = NULL;
	size_t n_pk = 0, n_pa = 0;
	struct offserv_applicability_result main_r, r;
	const char *main_id = NULL;
	bool have_main = false, any = false;
	char applying[1024] = "";
	offserv_status st;

	st = offserv_sitedb_update_packages(db, u->update_id, &pk, &n_pk, err, errlen);
	if (OFFSERV_SUCCEEDED(st))
		st = offserv_sitedb_update_parents(db, u->update_id, &pa, &n_pa, err, errlen);
	if (OFFSERV_FAILED(st))
		goto out;
	memset(&main_r, 0, sizeof(main_r));
	for (size_t i = 0; i < n_pk; i++) {
		struct offserv_identity id = {0};
		struct offserv_applicability_package ap = {0};
		struct offserv_identity installer = {0};
		size_t n_par = 0;
		struct offserv_parent *par;

		if (OFFSERV_FAILED(offserv_identity_parse_package_string(pk[i].identity, &id))) {
			id.name = pk[i].name ? strdup(pk[i].name) : NULL;
			id.version = pk[i].version ? strdup(pk[i].version) : NULL;
			id.arch = pk[i].arch ? strdup(pk[i].arch) : NULL;
		}
		par = parents_for(pa, n_pa, pk[i].seq, &n_par);
		ap.id = &id;
		ap.parents = par;
		ap.n_parents = n_par;
		if (pk[i].installer_version) {
			installer.name = (char *)"Microsoft-Windows-ServicingStack";
			installer.version = pk[i].installer_version;
			ap.installer = &installer;
		}
		st = offserv_applicability_check(inst, n_inst, arch, &ap, &r);
		free_parents(par, n_par);
		offserv_identity_clear(&id);
		if (OFFSERV_FAILED(st)) {
			offserv_set_error(err, errlen, "update %lld: %s", (long long)u->update_id, r.explain);
			goto out;
		}
		if (r.verdict == OFFSERV_APPLICABLE) {
			size_t used = strlen(applying), add = strlen(r.explain);

			/* "explain; explain; ..." as far as it fits. */
			if (any && used + 2 < sizeof(applying)) {
				memcpy(applying + used, "; ", 3);
				used += 2;
			}
			if (used + add >= sizeof(applying))
				add = sizeof(applying) - used - 1;
			memcpy(applying + used, r.explain, add);
			applying[used + add] = '\0';
			if (!any)
				main_id = pk[i].identity;
			any = true;
		}
		if (!have_main && (!pk[i].is_ssu || i + 1 == n_pk)) {
			main_r = r;
			have_main = true;
			if (!any)
				main_id = pk[i].identity;
		}
	}
	out->update_id = u->update_id;
	out->superseded_by = u->superseded_by;
	out->file_name = u->file_name ? strdup(u->file_name) : NULL;
	out->kb = u->kb ? strdup(u->kb) : NULL;
	out->title = u->title ? strdup(u->title) : NULL;
	if (n_pk == 0) {
		out->verdict = OFFSERV_NOT_APPLICABLE_PARENT;
		out->rule = OFFSERV_RULE_PARENT_MISSING;
		out->hr = OFFSERV_CBS_E_NOT_APPLICABLE;
		out->explain = strdup("the update holds no installable package");
	} else if (any) {
		out->verdict = OFFSERV_APPLICABLE;
		out->rule = OFFSERV_RULE_APPLIES;
		out->hr = OFFSERV_OK;
		out->explain = strdup(applying);
	} else {
		out->verdict = main_r.verdict;
		out->rule = main_r.rule;
		out->hr = main_r.hr;
		out->explain = strdup(main_r.explain);
	}
	out->package = main_id ? strdup(main_id) : NULL;
	st = OFFSERV_OK;
out:
	offserv_update_package_recs_free(pk, n_pk);
	offserv_update_parent_recs_free(pa, n_pa);
	return st;
}

offserv_status offserv_catalogue_applicable(struct offserv_sitedb *db, const char *image_id,
                                            int index, const struct offserv_update_filter *filter,
                                            int only_applicable,
                                            struct offserv_applicable_update **out, size_t *n,
                                            char *err, size_t errlen)
{
	struct offserv_image_index_rec *idx = NULL;
	struct offserv_update_rec *ups = NULL;
	struct offserv_applicable_update *res = NULL;
	size_t n_idx = 0, n_ups = 0, cnt = 0;
	bool found_index = false;
	offserv_status st;

	*out = NULL;
	*n = 0;
	{
		struct offserv_image_rec img;

		st = offserv_sitedb_image_get(db, image_id, &img, err, errlen);
		if (OFFSERV_FAILED(st))
			return st;
		offserv_image_rec_clear(&img);
	}
	st = offserv_sitedb_index_list(db, image_id, &idx, &n_idx, err, errlen);
	if (OFFSERV_SUCCEEDED(st))
		st = offserv_sitedb_update_list(db, filter, &ups, &n_ups, err, errlen);
	if (OFFSERV_FAILED(st))
		goto out;
	for (size_t x = 0; x < n_idx; x++) {
		struct offserv_image_package_rec *rows = NULL;
		struct offserv_installed_package *inst = NULL;
		size_t n_rows = 0;

		if (index && idx[x].index != index)
			continue;
		found_index = true;
		st = offserv_sitedb_package_list(db, image_id, idx[x].index, &rows, &n_rows, err, errlen);
		if (OFFSERV_FAILED(st))
			goto out;
		inst = calloc(n_rows ? n_rows : 1, sizeof(*inst));
		if (!inst) {
			offserv_image_package_recs_free(rows, n_rows);
			st = OFFSERV_E_OUTOFMEMORY;
			offserv_set_error(err, errlen, "out of memory");
			goto out;
		}
		for (size_t i = 0; i < n_rows; i++) {
			inst[i].identity = rows[i].identity;
			inst[i].state = rows[i].state;
		}
		for (size_t u = 0; u < n_ups && OFFSERV_SUCCEEDED(st); u++) {
			struct offserv_applicable_update a;
			struct offserv_applicable_update *p;

			memset(&a, 0, sizeof(a));
			st = judge_update(db, &ups[u], inst, n_rows, idx[x].arch ? idx[x].arch : "x64", &a,
			                  err, errlen);
			if (OFFSERV_FAILED(st))
				break;
			a.index = idx[x].index;
			if (only_applicable && a.verdict != OFFSERV_APPLICABLE) {
				free(a.file_name);
				free(a.kb);
				free(a.title);
				free(a.package);
				free(a.explain);
				continue;
			}
			p = realloc(res, (cnt + 1) * sizeof(*p));
			if (!p) {
				st = OFFSERV_E_OUTOFMEMORY;
				break;
			}
			res = p;
			res[cnt++] = a;
		}
		free(inst);
		offserv_image_package_recs_free(rows, n_rows);
		if (OFFSERV_FAILED(st))
			goto out;
	}
	if (!found_index) {
		offserv_set_error(err, errlen, "image %s has no index %d", image_id, index);
		st = OFFSERV_E_NOT_FOUND;
	}
out:
	offserv_image_index_recs_free(idx, n_idx);
	offserv_update_recs_free(ups, n_ups);
	if (OFFSERV_FAILED(st)) {
		offserv_applicable_updates_free(res, cnt);
		return st;
	}
	*out = res;
	*n = cnt;
	return OFFSERV_OK;
}

/* ---------------------------------------------------------------------- */
/* JSON */

struct jbuf {
	char *s;
	size_t len, cap;
	bool oom;
};

static void jraw(struct jbuf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t ncap = b->cap ? b->cap * 2 : 1024;
		char *p;

		while (ncap < b->len + n + 1)
			ncap *= 2;
		p = realloc(b->s, ncap);
		if (!p) {
			b->oom = true;
			return;
		}
		b->s = p;
		b->cap = ncap;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static void jputs(struct jbuf *b, const char *s)
{
	jraw(b, s, strlen(s));
}

static void jprintf(struct jbuf *b, const char *fmt, ...) OFFSERV_PRINTF(2, 3);
static void jprintf(struct jbuf *b, const char *fmt, ...)
{
	char tmp[64];
	va_list ap;
	int w;

	va_start(ap, fmt);
	w = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (w > 0)
		jraw(b, tmp, (size_t)w < sizeof(tmp) ? (size_t)w : sizeof(tmp) - 1);
}

/* A JSON string, or null. */
static void jstr(struct jbuf *b, const char *s)
{
	if (!s) {
		jputs(b, "null");
		return;
	}
	jputs(b, "\"");
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '"':
			jputs(b, "\\\"");
			break;
		case '\\':
			jputs(b, "\\\\");
			break;
		case '\n':
			jputs(b, "\\n");
			break;
		case '\r':
			jputs(b, "\\r");
			break;
		case '\t':
			jputs(b, "\\t");
			break;
		default:
			if (*p < 0x20)
				jprintf(b, "\\u%04x", *p);
			else
				jraw(b, (const char *)p, 1);
		}
	}
	jputs(b, "\"");
}

static void jkey(struct jbuf *b, bool *first, const char *key)
{
	jputs(b, *first ? "\"" : ",\"");
	*first = false;
	jputs(b, key);
	jputs(b, "\":");
}

static void jkstr(struct jbuf *b, bool *first, const char *key, const char *v)
{
	jkey(b, first, key);
	jstr(b, v);
}

static void jkint(struct jbuf *b, bool *first, const char *key, long long v)
{
	jkey(b, first, key);
	jprintf(b, "%lld", v);
}

static void jkid(struct jbuf *b, bool *first, const char *key, int64_t v)
{
	jkey(b, first, key);
	if (v)
		jprintf(b, "%lld", (long long)v);
	else
		jputs(b, "null");
}

static void jkbool(struct jbuf *b, bool *first, const char *key, int v)
{
	jkey(b, first, key);
	jputs(b, v ? "true" : "false");
}

static offserv_status jfinish(struct jbuf *b, char **json, char *err, size_t errlen)
{
	if (b->oom) {
		free(b->s);
		offserv_set_error(err, errlen, "out of memory");
		return OFFSERV_E_OUTOFMEMORY;
	}
	*json = b->s;
	return OFFSERV_OK;
}

offserv_status offserv_catalogue_image_json(struct offserv_sitedb *db, const char *image_id,
                                            char **json, char *err, size_t errlen)
{
	struct offserv_image_rec img;
	struct offserv_image_index_rec *idx = NULL;
	struct offserv_image_package_rec *pk = NULL;
	size_t n_idx = 0, n_pk = 0;
	struct jbuf b = {0};
	bool f = true;
	offserv_status st;

	*json = NULL;
	st = offserv_sitedb_image_get(db, image_id, &img, err, errlen);
	if (OFFSERV_FAILED(st))
		return st;
	st = offserv_sitedb_index_list(db, image_id, &idx, &n_idx, err, errlen);
	if (OFFSERV_SUCCEEDED(st))
		st = offserv_sitedb_package_list(db, image_id, 0, &pk, &n_pk, err, errlen);
	if (OFFSERV_FAILED(st))
		goto out;
	jputs(&b, "{");
	jkstr(&b, &f, "id", img.package_id);
	jkstr(&b, &f, "name", img.name);
	jkstr(&b, &f, "description", img.description);
	jkstr(&b, &f, "type", img.type);
	jkstr(&b, &f, "path", img.wim_path);
	jkstr(&b, &f, "source_path", img.source_path);
	jkstr(&b, &f, "sha256", img.sha256);
	jkstr(&b, &f, "storage", img.referenced ? "reference" : "copy");
	jkbool(&b, &f, "solid", img.solid);
	jkstr(&b, &f, "imported_at", img.imported_at);
	jkstr(&b, &f, "scheduled_date", img.scheduled_date);
	jkstr(&b, &f, "scheduled_status", img.scheduled_status);
	jkstr(&b, &f, "last_serviced_at", img.last_serviced_at);
	jkey(&b, &f, "indexes");
	jputs(&b, "[");
	for (size_t i = 0; i < n_idx; i++) {
		bool g = true;

		jputs(&b, i ? ",{" : "{");
		jkint(&b, &g, "index", idx[i].index);
		jkstr(&b, &g, "name", idx[i].name);
		jkstr(&b, &g, "description", idx[i].description);
		jkstr(&b, &g, "edition", idx[i].edition);
		jkstr(&b, &g, "arch", idx[i].arch);
		jkstr(&b, &g, "version", idx[i].version);
		jkint(&b, &g, "build", idx[i].build);
		jkint(&b, &g, "sp_build", idx[i].sp_build);
		jkint(&b, &g, "sp_level", idx[i].sp_level);
		jkstr(&b, &g, "languages", idx[i].languages);
		jkint(&b, &g, "size", (long long)idx[i].size);
		jkint(&b, &g, "file_count", (long long)idx[i].file_count);
		jkint(&b, &g, "dir_count", (long long)idx[i].dir_count);
		jputs(&b, "}");
	}
	jputs(&b, "]");
	jkey(&b, &f, "updates");
	jputs(&b, "[");
	for (size_t i = 0; i < n_pk; i++) {
		bool g = true;

		jputs(&b, i ? ",{" : "{");
		jkint(&b, &g, "index", pk[i].index);
		jkstr(&b, &g, "identity", pk[i].identity);
		jkint(&b, &g, "state", pk[i].state);
		jkstr(&b, &g, "state_name", offserv_package_state_name(pk[i].state));
		jkstr(&b, &g, "install_time", pk[i].install_time);
		jkstr(&b, &g, "release_type", pk[i].release_type);
		jkstr(&b, &g, "origin", pk[i].origin);
		jkstr(&b, &g, "applied_at", pk[i].applied_at);
		jkid(&b, &g, "job_id", pk[i].job_id);
		jkid(&b, &g, "update_id", pk[i].update_id);
		jputs(&b, "}");
	}
	jputs(&b, "]}");
	st = jfinish(&b, json, err, errlen);
out:
	offserv_image_rec_clear(&img);
	offserv_image_index_recs_free(idx, n_idx);
	offserv_image_package_recs_free(pk, n_pk);
	if (OFFSERV_FAILED(st) && !*json)
		free(b.oom ? NULL : b.s);
	return st;
}

offserv_status offserv_catalogue_applicable_json(const struct offserv_applicable_update *u,
                                                 size_t n, char **json, char *err, size_t errlen)
{
	struct jbuf b = {0};

	*json = NULL;
	jputs(&b, "[");
	for (size_t i = 0; i < n; i++) {
		char hr[16];
		bool g = true;

		snprintf(hr, sizeof(hr), "0x%08x", u[i].hr);
		jputs(&b, i ? ",{" : "{");
		jkint(&b, &g, "update_id", (long long)u[i].update_id);
		jkint(&b, &g, "index", u[i].index);
		jkstr(&b, &g, "kb", u[i].kb);
		jkstr(&b, &g, "file_name", u[i].file_name);
		jkstr(&b, &g, "title", u[i].title);
		jkstr(&b, &g, "verdict", offserv_applicability_name(u[i].verdict));
		jkstr(&b, &g, "rule", offserv_applicability_rule_name(u[i].rule));
		jkstr(&b, &g, "hresult", hr);
		jkstr(&b, &g, "package", u[i].package);
		jkstr(&b, &g, "explain", u[i].explain);
		jkid(&b, &g, "superseded_by", u[i].superseded_by);
		jputs(&b, "}");
	}
	jputs(&b, "]");
	return jfinish(&b, json, err, errlen);
}

offserv_status offserv_catalogue_update_json(struct offserv_sitedb *db, int64_t update_id,
                                             char **json, char *err, size_t errlen)
{
	struct offserv_update_rec u;
	struct offserv_update_package_rec *pk = NULL;
	struct offserv_update_parent_rec *pa = NULL;
	size_t n_pk = 0, n_pa = 0;
	struct jbuf b = {0};
	bool f = true;
	offserv_status st;

	*json = NULL;
	st = offserv_sitedb_update_get(db, update_id, &u, err, errlen);
	if (OFFSERV_FAILED(st))
		return st;
	st = offserv_sitedb_update_packages(db, update_id, &pk, &n_pk, err, errlen);
	if (OFFSERV_SUCCEEDED(st))
		st = offserv_sitedb_update_parents(db, update_id, &pa, &n_pa, err, errlen);
	if (OFFSERV_FAILED(st))
		goto out;
	jputs(&b, "{");
	jkint(&b, &f, "id", (long long)u.update_id);
	jkstr(&b, &f, "sha256", u.sha256);
	jkstr(&b, &f, "file_name", u.file_name);
	jkstr(&b, &f, "library_path", u.library_path);
	jkstr(&b, &f, "format", u.format);
	jkstr(&b, &f, "kb", u.kb);
	jkstr(&b, &f, "title", u.title);
	jkstr(&b, &f, "description", u.description);
	jkstr(&b, &f, "release_type", u.release_type);
	jkstr(&b, &f, "arch", u.arch);
	jkstr(&b, &f, "product", u.product);
	jkstr(&b, &f, "build_date", u.build_date);
	jkstr(&b, &f, "support_link", u.support_link);
	jkint(&b, &f, "size", (long long)u.size);
	jkstr(&b, &f, "imported_at", u.imported_at);
	jkbool(&b, &f, "supported", u.supported);
	jkstr(&b, &f, "unsupported_reason", u.unsupported_reason);
	jkid(&b, &f, "superseded_by", u.superseded_by);
	jkey(&b, &f, "packages");
	jputs(&b, "[");
	for (size_t i = 0; i < n_pk; i++) {
		bool g = true;

		jputs(&b, i ? ",{" : "{");
		jkint(&b, &g, "seq", pk[i].seq);
		jkstr(&b, &g, "identity", pk[i].identity);
		jkstr(&b, &g, "name", pk[i].name);
		jkstr(&b, &g, "version", pk[i].version);
		jkstr(&b, &g, "arch", pk[i].arch);
		jkstr(&b, &g, "release_type", pk[i].release_type);
		jkbool(&b, &g, "is_ssu", pk[i].is_ssu);
		jkbool(&b, &g, "supported", pk[i].supported);
		jkstr(&b, &g, "reason", pk[i].reason);
		jkstr(&b, &g, "installer_version", pk[i].installer_version);
		jputs(&b, "}");
	}
	jputs(&b, "]");
	jkey(&b, &f, "parents");
	jputs(&b, "[");
	for (size_t i = 0; i < n_pa; i++) {
		if (i)
			jputs(&b, ",");
		jstr(&b, pa[i].identity);
	}
	jputs(&b, "]}");
	st = jfinish(&b, json, err, errlen);
out:
	offserv_update_rec_clear(&u);
	offserv_update_package_recs_free(pk, n_pk);
	offserv_update_parent_recs_free(pa, n_pa);
	if (OFFSERV_FAILED(st) && !*json)
		free(b.oom ? NULL : b.s);
	return st;
}
