/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The content library: import (probe, read, copy by digest, record), removal, verification. */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <offserv/catalogue.h>
#include <offserv/library.h>
#include <offserv/plugins.h>
#include <offserv/sitedb.h>
#include <offserv/util.h>

const char *offserv_library_outcome_name(enum offserv_library_outcome o)
{
	switch (o) {
	case OFFSERV_LIBRARY_IMPORTED:
		return "imported";
	case OFFSERV_LIBRARY_ALREADY_PRESENT:
		return "already present";
	case OFFSERV_LIBRARY_SKIPPED:
		return "skipped";
	case OFFSERV_LIBRARY_FAILED:
		return "failed";
	}
	return "unknown";
}

char *offserv_library_path_for(const char *library_root, const char *sha256,
                               const char *file_name)
{
	size_t n = strlen(library_root) + strlen(sha256) + strlen(file_name) + 8;
	char *p = malloc(n);

	if (p)
		snprintf(p, n, "%s/%.2s/%s/%s", library_root, sha256, sha256, file_name);
	return p;
}

/*
 * Each import copies to ".<name>.importing.<pid>" beside the final name.
 * One killed while copying leaves that file, or offserv_copy_file()'s
 * "<that>.tmp.XXXXXX" (the final name is never half-written): remove those
 * of processes that no longer exist before copying again.  Those of live
 * processes belong to imports still running.
 */
static void remove_stale_temporaries(const char *dir, const char *name)
{
	char prefix[OFFSERV_NAME_MAX + 16];
	size_t n;
	DIR *d = opendir(dir);
	struct dirent *e;

	if (!d)
		return;
	n = (size_t)snprintf(prefix, sizeof(prefix), ".%s.importing.", name);
	while ((e = readdir(d)) != NULL) {
		char *end, *p;
		long pid;

		if (strncmp(e->d_name, prefix, n) != 0)
			continue;
		pid = strtol(e->d_name + n, &end, 10);
		if (pid <= 0 || (*end && strncmp(end, ".tmp.", 5) != 0))
			continue;
		if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue;
		p = offserv_path_join(dir, e->d_name);
		if (p)
			unlink(p);
		free(p);
	}
	closedir(d);
}

/* Remove the library folders of a file that was not imported, if empty. */
static void remove_empty_folders(const char *file)
{
	char *dir = strdup(file);

	for (int up = 0; dir && up < 2; up++) {
		char *slash = strrchr(dir, '/');
		if (!slash)
			break;
		*slash = '\0';
		if (rmdir(dir) != 0)
			break;
	}
	free(dir);
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

void offserv_library_results_clear(struct offserv_library_results *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++) {
		free(r->items[i].path);
		free(r->items[i].message);
		free(r->items[i].format);
	}
	free(r->items);
	memset(r, 0, sizeof(*r));
}

struct import_run {
	struct offserv_sitedb *db;
	const struct offserv_library_options *opts;
	struct offserv_library_results *out;
	size_t cap;
	offserv_status first_failure;
	bool stop;
};

static const struct offserv_loaded_plugin *choose_plugin(struct import_run *run, const char *path)
{
	if (run->opts->probe)
		return run->opts->probe(run->opts->probe_ctx, path);
	return offserv_plugins_probe_update(run->opts->plugins, path);
}

/* Append a result; returns it (NULL on allocation failure). */
static struct offserv_library_result *add_result(struct import_run *run, const char *path)
{
	struct offserv_library_results *o = run->out;
	struct offserv_library_result *r;

	if (o->n == run->cap) {
		size_t ncap = run->cap ? run->cap * 2 : 16;
		struct offserv_library_result *p = realloc(o->items, ncap * sizeof(*p));

		if (!p)
			return NULL;
		o->items = p;
		run->cap = ncap;
	}
	r = &o->items[o->n++];
	memset(r, 0, sizeof(*r));
	r->path = strdup(path);
	return r;
}

static void set_message(struct offserv_library_result *r, const char *msg)
{
	free(r->message);
	r->message = msg ? strdup(msg) : NULL;
}

static void finish(struct import_run *run, struct offserv_library_result *r,
                   enum offserv_library_outcome outcome, offserv_status hr, const char *msg)
{
	struct offserv_library_results *o = run->out;

	r->outcome = outcome;
	r->hr = hr;
	if (msg)
		set_message(r, msg);
	switch (outcome) {
	case OFFSERV_LIBRARY_IMPORTED:
		o->n_imported++;
		break;
	case OFFSERV_LIBRARY_ALREADY_PRESENT:
		o->n_present++;
		break;
	case OFFSERV_LIBRARY_SKIPPED:
		o->n_skipped++;
		break;
	case OFFSERV_LIBRARY_FAILED:
		o->n_failed++;
		if (run->first_failure == OFFSERV_OK)
			run->first_failure = hr ? hr : OFFSERV_E_FAIL;
		break;
	}
	if (run->opts->on_result && run->opts->on_result(run->opts->on_result_ctx, r) != 0)
		run->stop = true;
}

/* Remove a file and the two digest folders above it when they are left empty. */
static void remove_copy(const char *file)
{
	unlink(file);
	remove_empty_folders(file);
}

/* Turn the plugin's view of an update into database rows and insert them. */
static offserv_status record_update(struct offserv_sitedb *db, const struct offserv_update_info *info,
                                    const char *sha, const char *file_name, const char *lib_path,
                                    uint64_t size, int64_t *id, char *err, size_t errlen)
{
	struct offserv_update_rec rec;
	struct offserv_update_package_rec *pkgs = NULL;
	struct offserv_update_parent_rec *parents = NULL;
	size_t n_pkgs = 0, n_parents = 0;
	offserv_status st;
	const char *reason = NULL;
	int supported = info->n_packages > 0;

	memset(&rec, 0, sizeof(rec));
	snprintf(rec.sha256, sizeof(rec.sha256), "%s", sha);
	rec.file_name = (char *)file_name;
	rec.library_path = (char *)lib_path;
	rec.format = info->format;
	rec.kb = info->kb;
	rec.title = info->title;
	rec.description = info->description;
	rec.release_type = info->release_type;
	rec.arch = info->arch;
	rec.product = info->product;
	rec.build_date = info->build_date;
	rec.support_link = info->support_link;
	rec.size = info->size ? info->size : size;
	/* Package rows (with the stack each needs) and one parent group per
	 * <parent> with its compare attributes, from ABI 1.1 plugins. */
	st = offserv_catalogue_update_rows(info, &pkgs, &n_pkgs, &parents, &n_parents, err, errlen);
	if (OFFSERV_FAILED(st))
		return st;
	for (size_t i = 0; i < info->n_packages; i++) {
		const struct offserv_update_package *p = &info->packages[i];

		if (!p->supported) {
			supported = 0;
			if (!reason)
				reason = p->unsupported_reason ? p->unsupported_reason
				                               : "a package of it cannot be applied offline";
		}
	}
	if (info->n_packages == 0)
		reason = "it holds no installable package";
	rec.supported = supported;
	rec.unsupported_reason = supported ? NULL : (char *)reason;
	st = offserv_sitedb_update_insert(db, &rec, pkgs, n_pkgs, parents, n_parents, id, err,
	                                  errlen);
	free(pkgs);
	free(parents);
	return st;
}

static void import_file(struct import_run *run, const char *path)
{
	struct offserv_library_result *r = add_result(run, path);
	const struct offserv_loaded_plugin *plugin;
	struct offserv_update_info *info = NULL;
	char msg[1024], perr[768];
	char copied_sha[65];
	char *final = NULL, *tmp = NULL, *dir = NULL;
	struct offserv_update_rec existing;
	const char *name = base_name(path);
	uint8_t digest[32];
	uint64_t size = 0;
	offserv_status st;

	if (!r || !r->path) {
		run->first_failure = run->first_failure ? run->first_failure : OFFSERV_E_OUTOFMEMORY;
		run->stop = true;
		return;
	}
	plugin = choose_plugin(run, path);
	if (!plugin || !plugin->desc || plugin->desc->kind != OFFSERV_PLUGIN_UPDATE_FORMAT ||
	    !plugin->desc->ops.update_format || !plugin->desc->ops.update_format->read_info) {
		snprintf(msg, sizeof(msg), "%s: not an update file any plugin knows (skipped)", path);
		finish(run, r, OFFSERV_LIBRARY_SKIPPED, OFFSERV_OK, msg);
		return;
	}
	r->format = strdup(plugin->desc->name);
	perr[0] = '\0';
	/* Through the catalogue: an info from a plugin built before ABI 1.1 is
	 * brought to the current layout before anything reads or frees it. */
	st = offserv_catalogue_read_update_info(plugin, path, &info, perr, sizeof(perr));
	if (OFFSERV_FAILED(st) || !info) {
		snprintf(msg, sizeof(msg), "%s: %s", path,
		         perr[0] ? perr : offserv_strerror(st ? st : OFFSERV_CBS_E_INVALID_PACKAGE));
		finish(run, r, OFFSERV_LIBRARY_FAILED, st ? st : OFFSERV_CBS_E_INVALID_PACKAGE, msg);
		offserv_update_info_free(info);
		return;
	}
	if (!info->format) {
		info->format = strdup(plugin->desc->name);
		if (!info->format)
			goto oom;
	}
	/* The digest the library keys on is computed here, whatever the plugin says. */
	st = offserv_sha256_file(path, digest, &size, perr, sizeof(perr));
	if (OFFSERV_FAILED(st)) {
		snprintf(msg, sizeof(msg), "%s", perr);
		finish(run, r, OFFSERV_LIBRARY_FAILED, st, msg);
		goto out;
	}
	offserv_hex(digest, 32, r->sha256);
	if (info->sha256[0] && strcasecmp(info->sha256, r->sha256) != 0) {
		snprintf(msg, sizeof(msg), "%s changed while it was read (SHA-256 %s, then %s)", path,
		         info->sha256, r->sha256);
		finish(run, r, OFFSERV_LIBRARY_FAILED, OFFSERV_E_SHARING_VIOLATION, msg);
		goto out;
	}
	st = offserv_sitedb_update_find_sha256(run->db, r->sha256, &existing, perr, sizeof(perr));
	if (st == OFFSERV_OK) {
		r->update_id = existing.update_id;
		snprintf(msg, sizeof(msg), "%s is already in the library as update %lld (%s)", path,
		         (long long)existing.update_id, existing.file_name);
		offserv_update_rec_clear(&existing);
		finish(run, r, OFFSERV_LIBRARY_ALREADY_PRESENT, OFFSERV_OK, msg);
		goto out;
	}
	if (st != OFFSERV_E_NOT_FOUND) {
		finish(run, r, OFFSERV_LIBRARY_FAILED, st, perr);
		goto out;
	}

	final = offserv_library_path_for(run->opts->library_root, r->sha256, name);
	dir = final ? strdup(final) : NULL;
	if (!final || !dir)
		goto oom;
	*strrchr(dir, '/') = '\0';
	if (asprintf(&tmp, "%s/.%s.importing.%ld", dir, name, (long)getpid()) < 0) {
		tmp = NULL;
		goto oom;
	}
	st = offserv_mkdir_p(dir, perr, sizeof(perr));
	if (OFFSERV_SUCCEEDED(st)) {
		remove_stale_temporaries(dir, name);
		st = offserv_copy_file(path, tmp, copied_sha, perr, sizeof(perr));
	}
	/* Until the rename, the final name is not ours: another import of the
	 * same file may own it. */
	if (OFFSERV_FAILED(st)) {
		unlink(tmp);
		remove_empty_folders(final);
		finish(run, r, OFFSERV_LIBRARY_FAILED, st, perr);
		goto out;
	}
	if (strcmp(copied_sha, r->sha256) != 0) {
		unlink(tmp);
		remove_empty_folders(final);
		snprintf(msg, sizeof(msg), "%s changed while it was copied (SHA-256 %s, copy %s)", path,
		         r->sha256, copied_sha);
		finish(run, r, OFFSERV_LIBRARY_FAILED, OFFSERV_E_CRC, msg);
		goto out;
	}
	if (rename(tmp, final) != 0) {
		st = offserv_status_from_errno(errno);
		snprintf(msg, sizeof(msg), "cannot rename %s to %s: %s", tmp, final, strerror(errno));
		unlink(tmp);
		remove_empty_folders(final);
		finish(run, r, OFFSERV_LIBRARY_FAILED, st, msg);
		goto out;
	}
	offserv_fsync_dir(dir, NULL, 0);

	st = record_update(run->db, info, r->sha256, name, final, size, &r->update_id, perr,
	                   sizeof(perr));
	if (st == OFFSERV_E_ALREADY_EXISTS && r->update_id != 0) {
		/* Another import recorded the same file meanwhile: its row owns this copy. */
		snprintf(msg, sizeof(msg), "%s is already in the library as update %lld", path,
		         (long long)r->update_id);
		finish(run, r, OFFSERV_LIBRARY_ALREADY_PRESENT, OFFSERV_OK, msg);
		goto out;
	}
	if (OFFSERV_FAILED(st)) {
		struct offserv_update_rec owner;
		char ferr[256];

		/* The same bytes under the same name: keep the copy if another
		 * import has recorded it meanwhile. */
		memset(&owner, 0, sizeof(owner));
		if (offserv_sitedb_update_find_sha256(run->db, r->sha256, &owner, ferr, sizeof(ferr)) ==
		    OFFSERV_OK)
			offserv_update_rec_clear(&owner);
		else
			remove_copy(final);
		finish(run, r, OFFSERV_LIBRARY_FAILED, st, perr);
		goto out;
	}
	finish(run, r, OFFSERV_LIBRARY_IMPORTED, OFFSERV_OK, NULL);
	goto out;
oom:
	finish(run, r, OFFSERV_LIBRARY_FAILED, OFFSERV_E_OUTOFMEMORY, "out of memory");
out:
	free(final);
	free(tmp);
	free(dir);
	offserv_update_info_free(info);
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static offserv_status walk(struct import_run *run, const char *path, int depth, char *err,
                           size_t errlen)
{
	struct stat st;
	DIR *d;
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, cap = 0;
	offserv_status ret = OFFSERV_OK;

	if (run->stop)
		return OFFSERV_OK;
	if (stat(path, &st) != 0) {
		int e = errno;

		if (depth == 0) {
			offserv_set_error(err, errlen, "%s: %s", path, strerror(e));
			return offserv_status_from_errno(e);
		}
		/* A dangling link inside a folder: report and go on. */
		struct offserv_library_result *r = add_result(run, path);
		char msg[600];

		if (r) {
			snprintf(msg, sizeof(msg), "%s: %s", path, strerror(e));
			finish(run, r, OFFSERV_LIBRARY_FAILED, offserv_status_from_errno(e), msg);
		}
		return OFFSERV_OK;
	}
	if (S_ISREG(st.st_mode)) {
		import_file(run, path);
		return OFFSERV_OK;
	}
	if (!S_ISDIR(st.st_mode)) {
		if (depth == 0) {
			offserv_set_error(err, errlen, "%s is neither a file nor a folder", path);
			return OFFSERV_E_INVALIDARG;
		}
		return OFFSERV_OK;
	}
	if (depth > 0) {
		struct stat lst;

		/* Do not follow links to folders: they can loop. */
		if (lstat(path, &lst) == 0 && S_ISLNK(lst.st_mode))
			return OFFSERV_OK;
	}
	if (depth > 64) {
		offserv_set_error(err, errlen, "%s: folders nested too deep", path);
		return OFFSERV_E_INVALIDARG;
	}
	d = opendir(path);
	if (!d) {
		int e = errno;

		offserv_set_error(err, errlen, "cannot read folder %s: %s", path, strerror(e));
		return offserv_status_from_errno(e);
	}
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' &&
		    (de->d_name[1] == '\0' || (de->d_name[1] == '.' && de->d_name[2] == '\0')))
			continue;
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 32;
			char **p = realloc(names, ncap * sizeof(*p));

			if (!p) {
				ret = OFFSERV_E_OUTOFMEMORY;
				break;
			}
			names = p;
			cap = ncap;
		}
		names[n] = offserv_path_join(path, de->d_name);
		if (!names[n]) {
			ret = OFFSERV_E_OUTOFMEMORY;
			break;
		}
		n++;
	}
	closedir(d);
	if (ret == OFFSERV_OK) {
		qsort(names, n, sizeof(*names), name_cmp);
		for (size_t i = 0; i < n && ret == OFFSERV_OK && !run->stop; i++)
			ret = walk(run, names[i], depth + 1, err, errlen);
	} else {
		offserv_set_error(err, errlen, "out of memory");
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return ret;
}

offserv_status offserv_library_import(struct offserv_sitedb *db,
                                      const struct offserv_library_options *opts,
                                      const char *path, struct offserv_library_results *out,
                                      char *err, size_t errlen)
{
	struct import_run run;
	offserv_status st;

	memset(out, 0, sizeof(*out));
	if (!db || !opts || !opts->library_root || !*opts->library_root || !path) {
		offserv_set_error(err, errlen, "library import: no database, library folder or path");
		return OFFSERV_E_INVALIDARG;
	}
	if (!opts->plugins && !opts->probe) {
		offserv_set_error(err, errlen, "library import: no update-format plugins loaded");
		return OFFSERV_E_INVALIDARG;
	}
	st = offserv_mkdir_p(opts->library_root, err, errlen);
	if (OFFSERV_FAILED(st))
		return st;
	memset(&run, 0, sizeof(run));
	run.db = db;
	run.opts = opts;
	run.out = out;
	st = walk(&run, path, 0, err, errlen);
	if (OFFSERV_FAILED(st))
		return st;
	if (run.stop && run.first_failure == OFFSERV_OK) {
		offserv_set_error(err, errlen, "library import stopped");
		return OFFSERV_E_ABORT;
	}
	if (run.first_failure != OFFSERV_OK) {
		offserv_set_error(err, errlen, "%zu of %zu files could not be imported", out->n_failed,
		                  out->n);
		return run.first_failure;
	}
	return OFFSERV_OK;
}

offserv_status offserv_library_remove(struct offserv_sitedb *db, const char *library_root,
                                      int64_t update_id, char *err, size_t errlen)
{
	struct offserv_update_rec rec;
	offserv_status st = offserv_sitedb_update_get(db, update_id, &rec, err, errlen);
	char *expected;

	if (OFFSERV_FAILED(st))
		return st;
	st = offserv_sitedb_update_delete(db, update_id, err, errlen);
	if (OFFSERV_SUCCEEDED(st) && rec.library_path) {
		/* Only a file inside this library is removed, never one elsewhere. */
		expected = library_root ? offserv_library_path_for(library_root, rec.sha256,
		                                                   rec.file_name ? rec.file_name : "")
		                        : NULL;
		if (expected && strcmp(expected, rec.library_path) == 0)
			remove_copy(rec.library_path);
		free(expected);
	}
	offserv_update_rec_clear(&rec);
	return st;
}

offserv_status offserv_library_verify(struct offserv_sitedb *db, int64_t update_id, char *err,
                                      size_t errlen)
{
	struct offserv_update_rec rec;
	offserv_status st = offserv_sitedb_update_get(db, update_id, &rec, err, errlen);
	uint8_t digest[32];
	char hex[65];

	if (OFFSERV_FAILED(st))
		return st;
	st = offserv_sha256_file(rec.library_path, digest, NULL, err, errlen);
	if (OFFSERV_SUCCEEDED(st)) {
		offserv_hex(digest, 32, hex);
		if (strcmp(hex, rec.sha256) != 0) {
			offserv_set_error(err, errlen,
			                  "%s is damaged: SHA-256 %s, expected %s (import it again)",
			                  rec.library_path, hex, rec.sha256);
			st = OFFSERV_E_CRC;
		}
	}
	offserv_update_rec_clear(&rec);
	return st;
}
