/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The servicing job of one image: lock, updates, backup, engine, history,
 * compaction, post-actions. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <offserv/catalogue.h>
#include <offserv/cbs.h>
#include <offserv/drive.h>
#include <offserv/job.h>
#include <offserv/library.h>
#include <offserv/servicing_job.h>
#include <offserv/util.h>

#include "wim.h"

#define SOFTWARE_PATH "Windows/System32/config/SOFTWARE"

/* ---------------------------------------------------------------------- */
/* Small helpers                                                           */

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char *site_sub(const char *root, const char *a, const char *b)
{
	char *p = offserv_path_join(root, a), *q;

	if (!p || !b)
		return p;
	q = offserv_path_join(p, b);
	free(p);
	return q;
}

char *offserv_servicing_backup_path(const char *site_root, const char *image_id)
{
	char *dir = site_sub(site_root, "Backups", image_id), *p;

	if (!dir)
		return NULL;
	p = offserv_path_join(dir, "install.wim");
	free(dir);
	return p;
}

static char *cancel_marker(const char *root, int64_t job_id)
{
	char name[48];

	snprintf(name, sizeof(name), "%lld.cancel", (long long)job_id);
	return site_sub(root, "Jobs", name);
}

/* Copy @p src to @p dst (via a temporary name): a reflink when the
 * filesystem shares extents, a full copy otherwise. */
static offserv_status clone_file(const char *src, const char *dst, int *reflinked, char *err,
                                 size_t errlen)
{
	char *tmp = NULL;
	int in, out, ok = 0;

	*reflinked = 0;
	if (asprintf(&tmp, "%s.tmp%ld", dst, (long)getpid()) < 0)
		return OFFSERV_E_OUTOFMEMORY;
	in = open(src, O_RDONLY | O_CLOEXEC);
	out = in >= 0 ? open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600) : -1;
	if (in >= 0 && out >= 0 && ioctl(out, FICLONE, in) == 0 && fsync(out) == 0)
		ok = 1;
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	if (ok && rename(tmp, dst) == 0) {
		*reflinked = 1;
		free(tmp);
		return OFFSERV_OK;
	}
	unlink(tmp);
	free(tmp);
	return offserv_copy_file(src, dst, NULL, err, errlen);
}

static uint64_t file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

/* Parse "all" / "1,3" into an array (NULL for all). */
static int parse_indexes(const char *text, int **out, size_t *n)
{
	char *copy, *save = NULL, *tok;

	*out = NULL;
	*n = 0;
	if (!text || !*text || !strcmp(text, "all"))
		return 0;
	copy = strdup(text);
	if (!copy)
		return -1;
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *end;
		long v = strtol(tok, &end, 10);
		int *ni;

		if (*end || v < 1 || v > 65535)
			goto bad;
		ni = realloc(*out, (*n + 1) * sizeof(*ni));
		if (!ni)
			goto bad;
		*out = ni;
		ni[(*n)++] = (int)v;
	}
	free(copy);
	return 0;
bad:
	free(copy);
	free(*out);
	*out = NULL;
	*n = 0;
	return -1;
}

/* ---------------------------------------------------------------------- */
/* The job's state                                                         */

struct job_update {
	int64_t id;
	char *path;      /* library file */
	char *kb;
	offserv_status verify;
	char *verify_msg;
	int na;          /* not applicable to any selected index: not handed to the engine */
	offserv_status na_hr;
	char *na_msg;
	int in_run;      /* handed to the engine; its index in the apply list */
	size_t apply_ix;
};

struct job {
	struct offserv_site *site;
	struct offserv_sitedb *db;
	struct offserv_logfile *log;
	const char *root;
	const struct offserv_servicing_job_options *o;
	struct offserv_image_rec img;
	int64_t job_id;
	char *cancel_path;
	int64_t last_db, last_check;
	unsigned delay_ms;
	int cancelled;
	int percent;
	int *indexes;            /* NULL: all */
	size_t n_indexes;
	int *all_indexes;        /* every index of the image */
	size_t n_all_indexes;
	struct job_update *u;
	size_t n_u;
};

static int cancel_requested(struct job *j)
{
	sigset_t pend;
	struct stat st;

	if (j->cancelled)
		return 1;
	if (sigpending(&pend) == 0 && (sigismember(&pend, SIGTERM) == 1 ||
	                                sigismember(&pend, SIGINT) == 1))
		j->cancelled = 1;
	if (j->cancel_path && stat(j->cancel_path, &st) == 0)
		j->cancelled = 1;
	return j->cancelled;
}

static void set_progress(struct job *j, int percent, const char *step, int force)
{
	int64_t now = mono_ms();

	if (percent < 0)
		percent = 0;
	if (percent > 100)
		percent = 100;
	j->percent = percent;
	/* at most two writes a second */
	if (force || now - j->last_db >= 500) {
		offserv_sitedb_job_progress(j->db, j->job_id, percent, step, NULL, 0);
		j->last_db = now;
	}
	if (j->o->progress && j->o->progress(j->o->progress_ctx, percent, step))
		j->cancelled = 1;
}

static int engine_progress(void *ctx, const struct offserv_engine_progress *p)
{
	struct job *j = ctx;
	char step[160];
	int64_t now;

	if (j->delay_ms) {
		struct timespec ts = {j->delay_ms / 1000, (long)(j->delay_ms % 1000) * 1000000L};
		nanosleep(&ts, NULL);
	}
	snprintf(step, sizeof(step), "%s%s%s (index %d, package %zu of %zu)",
	         p->step ? p->step : "Servicing", p->identity ? " " : "",
	         p->identity ? p->identity : "", p->index,
	         p->package < p->n_packages ? p->package + 1 : p->n_packages, p->n_packages);
	set_progress(j, 10 + (int)(p->percent * 0.8), step, 0);
	now = mono_ms();
	if (now - j->last_check >= 200 || j->delay_ms) {
		j->last_check = now;
		cancel_requested(j);
	}
	return j->cancelled;
}

static void job_clear(struct job *j)
{
	for (size_t i = 0; i < j->n_u; i++) {
		free(j->u[i].path);
		free(j->u[i].kb);
		free(j->u[i].verify_msg);
		free(j->u[i].na_msg);
	}
	free(j->u);
	free(j->indexes);
	free(j->all_indexes);
	free(j->cancel_path);
	offserv_image_rec_clear(&j->img);
}

static offserv_status add_update(struct job *j, int64_t id)
{
	struct job_update *nu;

	for (size_t i = 0; i < j->n_u; i++)
		if (j->u[i].id == id)
			return OFFSERV_OK;
	nu = realloc(j->u, (j->n_u + 1) * sizeof(*nu));
	if (!nu)
		return OFFSERV_E_OUTOFMEMORY;
	j->u = nu;
	memset(&nu[j->n_u], 0, sizeof(*nu));
	nu[j->n_u++].id = id;
	return OFFSERV_OK;
}

static int index_selected(const struct job *j, int index)
{
	if (!j->indexes)
		return 1;
	for (size_t i = 0; i < j->n_indexes; i++)
		if (j->indexes[i] == index)
			return 1;
	return 0;
}

/* The indexes the job services (for per-index rows). */
static const int *job_indexes(const struct job *j, size_t *n)
{
	if (j->indexes) {
		*n = j->n_indexes;
		return j->indexes;
	}
	*n = j->n_all_indexes;
	return j->all_indexes;
}

static void record(struct job *j, int64_t update_id, int index, const char *result,
                   offserv_status hr, const char *msg)
{
	struct offserv_job_update_rec r = {0};
	char now[21];

	offserv_sitedb_now(now);
	r.update_id = update_id;
	r.index = index;
	r.result = (char *)result;
	r.hresult = hr;
	r.message = (char *)msg;
	r.finished_at = now;
	offserv_sitedb_job_update_set(j->db, j->job_id, &r, NULL, 0);
}

/* Resolve the updates: a list, or every applicable one not yet applied. */
static offserv_status resolve(struct job *j, char *err, size_t errlen)
{
	offserv_status s = OFFSERV_OK;

	if (j->o->all_updates) {
		struct offserv_update_filter f = {.exclude_superseded = 1};
		struct offserv_applicable_update *a = NULL;
		size_t n = 0;

		s = offserv_catalogue_applicable(j->db, j->img.package_id, 0, &f, 1, &a, &n, err,
		                                 errlen);
		if (OFFSERV_FAILED(s))
			return s;
		for (size_t i = 0; i < n && OFFSERV_SUCCEEDED(s); i++)
			if (index_selected(j, a[i].index) && a[i].verdict == OFFSERV_APPLICABLE)
				s = add_update(j, a[i].update_id);
		offserv_applicable_updates_free(a, n);
	} else {
		struct offserv_applicable_update *a = NULL;
		size_t n = 0;

		for (size_t i = 0; i < j->o->n_update_ids && OFFSERV_SUCCEEDED(s); i++)
			s = add_update(j, j->o->update_ids[i]);
		/* as Configuration Manager does, an update that applies to none of
		 * the selected indexes is reported and not installed */
		if (OFFSERV_SUCCEEDED(s) &&
		    OFFSERV_SUCCEEDED(offserv_catalogue_applicable(j->db, j->img.package_id, 0, NULL, 0,
		                                                   &a, &n, NULL, 0))) {
			for (size_t i = 0; i < j->n_u; i++) {
				int seen = 0, applies = 0;
				const struct offserv_applicable_update *why = NULL;

				for (size_t k = 0; k < n; k++) {
					if (a[k].update_id != j->u[i].id || !index_selected(j, a[k].index))
						continue;
					seen = 1;
					if (a[k].verdict == OFFSERV_APPLICABLE)
						applies = 1;
					else if (!why)
						why = &a[k];
				}
				if (seen && !applies && why) {
					j->u[i].na = 1;
					j->u[i].na_hr = why->hr ? why->hr : OFFSERV_CBS_E_NOT_APPLICABLE;
					j->u[i].na_msg = strdup(why->explain ? why->explain : "not applicable");
				}
			}
			offserv_applicable_updates_free(a, n);
		}
	}
	for (size_t i = 0; i < j->n_u && OFFSERV_SUCCEEDED(s); i++) {
		struct offserv_update_rec rec;
		char verr[1024] = "";

		if (OFFSERV_FAILED(offserv_sitedb_update_get(j->db, j->u[i].id, &rec, verr,
		                                             sizeof(verr)))) {
			j->u[i].verify = OFFSERV_E_NOT_FOUND;
			j->u[i].verify_msg = strdup(verr);
			continue;
		}
		j->u[i].path = rec.library_path ? strdup(rec.library_path) : NULL;
		j->u[i].kb = rec.kb ? strdup(rec.kb) : NULL;
		offserv_update_rec_clear(&rec);
		/* the file the engine reads is the one the database describes */
		j->u[i].verify = offserv_library_verify(j->db, j->u[i].id, verr, sizeof(verr));
		if (OFFSERV_FAILED(j->u[i].verify))
			j->u[i].verify_msg = strdup(verr);
	}
	return s;
}

/* ---------------------------------------------------------------------- */
/* Packages and indexes after a commit (and after a rollback)              */

static offserv_status read_index_packages(struct offserv_wim *wim, int index, const char *tmpdir,
                                          struct offserv_image_package_rec **rows, size_t *n,
                                          char *err, size_t errlen)
{
	const char *paths[1] = {SOFTWARE_PATH};
	char **local = NULL;
	char sub[32], *dir;
	offserv_status s;

	snprintf(sub, sizeof(sub), "index%d", index);
	dir = offserv_path_join(tmpdir, sub);
	if (!dir)
		return OFFSERV_E_OUTOFMEMORY;
	s = offserv_mkdir_p(dir, err, errlen);
	if (OFFSERV_SUCCEEDED(s))
		s = offserv_wim_extract(wim, index, paths, 1, dir, 0, &local, err, errlen);
	if (OFFSERV_SUCCEEDED(s))
		s = offserv_catalogue_read_hive_packages(local[0], index, rows, n, err, errlen);
	if (local)
		offserv_wim_strv_free(local, 1);
	offserv_rmtree(dir, NULL, 0);
	free(dir);
	return s;
}

struct applied_pkg {
	int index;
	const char *identity;
	int64_t update_id;
};

/*
 * Bring the package rows and index properties of the serviced indexes in
 * line with the WIM: every package in the SOFTWARE hive is recorded with
 * its state (rows already known keep their origin; those in @p applied
 * become origin "applied" of @p job_id), and a known row that the hive no
 * longer has is recorded as Absent.
 */
static offserv_status refresh_from_wim(struct offserv_site *site, struct offserv_sitedb *db,
                                       const char *image_id, const char *wim_path,
                                       const int *indexes, size_t n_indexes,
                                       const struct applied_pkg *applied, size_t n_applied,
                                       int64_t job_id, char *err, size_t errlen)
{
	const char *root = offserv_config_site_root(offserv_site_config(site));
	struct offserv_wim *wim = NULL;
	char *tmpdir = NULL, now[21];
	offserv_status s;

	offserv_sitedb_now(now);
	if (asprintf(&tmpdir, "%s/Jobs/refresh-%s-%ld", root, image_id, (long)getpid()) < 0)
		return OFFSERV_E_OUTOFMEMORY;
	s = offserv_wim_open(wim_path, OFFSERV_WIM_OPEN_READ, &wim, err, errlen);
	for (size_t k = 0; k < n_indexes && OFFSERV_SUCCEEDED(s); k++) {
		int index = indexes[k];
		struct offserv_image_package_rec *hive = NULL, *known = NULL, *rows = NULL;
		size_t n_hive = 0, n_known = 0, n_rows = 0;
		struct offserv_image_index_rec *ix = NULL;
		size_t n_ix = 0;
		struct offserv_wim_index wi;

		s = read_index_packages(wim, index, tmpdir, &hive, &n_hive, err, errlen);
		if (OFFSERV_SUCCEEDED(s))
			s = offserv_sitedb_package_list(db, image_id, index, &known, &n_known, err, errlen);
		if (OFFSERV_SUCCEEDED(s)) {
			rows = calloc(n_hive + n_known + 1, sizeof(*rows));
			if (!rows)
				s = OFFSERV_E_OUTOFMEMORY;
		}
		for (size_t i = 0; i < n_hive && OFFSERV_SUCCEEDED(s); i++) {
			struct offserv_image_package_rec *r = &rows[n_rows++];
			const struct offserv_image_package_rec *old = NULL;

			*r = hive[i];
			r->origin = (char *)"import";
			r->applied_at = NULL;
			r->job_id = 0;
			r->update_id = 0;
			for (size_t q = 0; q < n_known; q++)
				if (!strcmp(known[q].identity, hive[i].identity))
					old = &known[q];
			if (old) {
				r->origin = old->origin;
				r->applied_at = old->applied_at;
				r->job_id = old->job_id;
				r->update_id = old->update_id;
				if (!r->release_type)
					r->release_type = old->release_type;
			}
			for (size_t q = 0; q < n_applied; q++)
				if (applied[q].index == index && applied[q].identity &&
				    !strcasecmp(applied[q].identity, hive[i].identity)) {
					r->origin = (char *)"applied";
					r->applied_at = now;
					r->job_id = job_id;
					r->update_id = applied[q].update_id;
				}
		}
		for (size_t q = 0; q < n_known && OFFSERV_SUCCEEDED(s); q++) {
			int present = 0;
			for (size_t i = 0; i < n_hive; i++)
				present |= !strcmp(known[q].identity, hive[i].identity);
			if (!present && known[q].state != OFFSERV_STATE_ABSENT) {
				rows[n_rows] = known[q];
				rows[n_rows++].state = OFFSERV_STATE_ABSENT;
			}
		}
		if (OFFSERV_SUCCEEDED(s) && n_rows)
			s = offserv_sitedb_package_upsert(db, image_id, rows, n_rows, err, errlen);
		free(rows);
		offserv_image_package_recs_free(hive, n_hive);
		offserv_image_package_recs_free(known, n_known);
		/* index properties: refreshed when the build changed */
		if (OFFSERV_SUCCEEDED(s) &&
		    OFFSERV_SUCCEEDED(offserv_sitedb_index_list(db, image_id, &ix, &n_ix, NULL, 0))) {
			memset(&wi, 0, sizeof(wi));
			for (size_t i = 0; i < n_ix; i++) {
				if (ix[i].index != index ||
				    OFFSERV_FAILED(offserv_wim_get_index(wim, index, &wi, NULL, 0)))
					continue;
				if (wi.base.build != ix[i].build || wi.base.sp_build != ix[i].sp_build ||
				    (wi.base.version && ix[i].version && strcmp(wi.base.version, ix[i].version))) {
					struct offserv_image_index_rec r = ix[i];
					r.version = wi.base.version ? wi.base.version : ix[i].version;
					r.build = wi.base.build;
					r.sp_build = wi.base.sp_build;
					r.sp_level = wi.base.sp_level;
					r.size = wi.base.total_bytes ? wi.base.total_bytes : ix[i].size;
					r.file_count = wi.base.file_count ? wi.base.file_count : ix[i].file_count;
					r.dir_count = wi.base.dir_count ? wi.base.dir_count : ix[i].dir_count;
					offserv_sitedb_index_update(db, image_id, &r, NULL, 0);
					offserv_logfile_write(offserv_site_log(site), OFFSERV_LOG_INFO, NULL,
					                      "Image package %s index %d is now version %s.%u",
					                      image_id, index, r.version ? r.version : "?",
					                      r.sp_build);
				}
				offserv_wim_index_clear(&wi);
			}
			offserv_image_index_recs_free(ix, n_ix);
		}
	}
	offserv_wim_close(wim);
	offserv_rmtree(tmpdir, NULL, 0);
	free(tmpdir);
	return s;
}

/* ---------------------------------------------------------------------- */
/* Compaction                                                              */

static char *baseline_path(const char *root, const char *image_id)
{
	char *dir = site_sub(root, "Backups", image_id), *p;

	if (!dir)
		return NULL;
	p = offserv_path_join(dir, "rebuild-size");
	free(dir);
	return p;
}

static uint64_t read_baseline(const char *path)
{
	char *data = NULL;
	size_t len = 0;
	uint64_t v = 0;

	if (OFFSERV_SUCCEEDED(offserv_read_file(path, 64, &data, &len, NULL, 0)))
		v = strtoull(data, NULL, 10);
	free(data);
	return v;
}

static void write_baseline(const char *path, uint64_t v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%llu\n", (unsigned long long)v);
	offserv_write_file_atomic(path, buf, strlen(buf), 0644, NULL, 0);
}

/*
 * Rebuild the WIM when the data appended since its last rebuild is at
 * least the configured share of the file.  Appending leaves the replaced
 * data in the file; the growth since the last rebuild is taken as the
 * measure of that unreferenced data.
 */
static int maybe_compact(struct job *j, uint64_t size_before)
{
	unsigned threshold = offserv_config_compaction_threshold(offserv_site_config(j->site));
	char *bp = baseline_path(j->root, j->img.package_id);
	uint64_t base, now_size = file_size(j->img.wim_path), grown;
	unsigned pct;
	struct offserv_wim *wim = NULL;
	char err[1024] = "";
	offserv_status s;
	int rebuilt = 0;

	if (!bp)
		return 0;
	base = read_baseline(bp);
	if (base == 0 || base > now_size) {
		base = size_before;
		write_baseline(bp, base);
	}
	grown = now_size > base ? now_size - base : 0;
	pct = now_size ? (unsigned)(grown * 100 / now_size) : 0;
	if (threshold >= 100 || pct < threshold) {
		offserv_logfile_write(j->log, OFFSERV_LOG_INFO, NULL,
		                      "Image package %s: %u%% of the WIM was added since its last rebuild "
		                      "(compaction threshold %u%%): not compacted", j->img.package_id,
		                      pct, threshold);
		free(bp);
		return 0;
	}
	offserv_logfile_write(j->log, OFFSERV_LOG_INFO, NULL,
	                      "Image package %s: %u%% of the WIM was added since its last rebuild "
	                      "(compaction threshold %u%%): removing the older versions (rebuild)",
	                      j->img.package_id, pct, threshold);
	set_progress(j, 92, "Compacting", 1);
	s = offserv_wim_open(j->img.wim_path, OFFSERV_WIM_OPEN_WRITE, &wim, err, sizeof(err));
	if (OFFSERV_SUCCEEDED(s))
		s = offserv_wim_commit(wim, OFFSERV_WIM_COMMIT_REBUILD, err, sizeof(err));
	offserv_wim_close(wim);
	if (OFFSERV_SUCCEEDED(s)) {
		write_baseline(bp, file_size(j->img.wim_path));
		offserv_logfile_write(j->log, OFFSERV_LOG_INFO, NULL,
		                      "Rebuilt %s: %llu bytes (was %llu)", j->img.wim_path,
		                      (unsigned long long)file_size(j->img.wim_path),
		                      (unsigned long long)now_size);
		rebuilt = 1;
	} else {
		/* the WIM is still the committed one: not a failure of the job */
		offserv_logfile_write(j->log, OFFSERV_LOG_WARNING, NULL,
		                      "Failed to rebuild %s (the serviced WIM is kept as is). "
		                      "ErrorCode = 0x%08x: %s", j->img.wim_path, s, err);
	}
	free(bp);
	return rebuilt;
}

/* ---------------------------------------------------------------------- */
/* Post-actions                                                            */

#define OPTIMIZE_PLUGIN "optimize"

struct post_progress {
	struct job *j;
	const char *name;
	int base, span;  /* the job's percentage range for this action */
	size_t n_targets; /* targets the plugin reported */
};

static int post_progress(void *ctx, int percent, const char *what)
{
	struct post_progress *pp = ctx;
	char step[160];

	if (percent < 0)
		percent = 0;
	if (percent > 100)
		percent = 100;
	snprintf(step, sizeof(step), "%s: %s", pp->name, what ? what : "");
	set_progress(pp->j, pp->base + percent * pp->span / 100, step, 0);
	return 0; /* after the commit a job is not cancelled */
}

/* A plugin's report on one target (a distribution point): recorded at once. */
static void post_target_done(void *ctx, const char *target, offserv_status status,
                             uint64_t bytes, const char *message)
{
	struct post_progress *pp = ctx;
	struct job *j = pp->j;
	struct offserv_dp_status_rec r = {0};
	char err[512] = "";

	if (!target || !*target)
		return;
	pp->n_targets++;
	r.target = (char *)target;
	r.plugin = (char *)pp->name;
	r.is_dp = 1;
	r.status = (char *)(OFFSERV_SUCCEEDED(status) ? "Success" : "Failed");
	r.hresult = status;
	r.bytes = bytes;
	r.message = (char *)message;
	r.job_id = j->job_id;
	if (OFFSERV_FAILED(offserv_sitedb_dp_status_record(j->db, j->img.package_id, &r, err,
	                                                   sizeof(err))))
		offserv_logfile_write(j->log, OFFSERV_LOG_WARNING, NULL,
		                      "Cannot record the status of distribution point %s: %s", target,
		                      err);
}

/* The job's own outcome row of a post-action (and its DP status when it reported no target). */
static void record_action(struct job *j, const struct post_progress *pp, offserv_status s,
                          const char *text)
{
	struct offserv_dp_status_rec r = {0};

	r.target = (char *)pp->name;
	r.plugin = (char *)pp->name;
	/* a plugin that names no distribution point stands for one, as before */
	r.is_dp = pp->n_targets == 0 && strcmp(pp->name, OPTIMIZE_PLUGIN) != 0;
	r.status = (char *)(OFFSERV_SUCCEEDED(s) ? "Success" : "Failed");
	r.hresult = s;
	r.message = (char *)text;
	r.job_id = j->job_id;
	offserv_sitedb_dp_status_record(j->db, j->img.package_id, &r, NULL, 0);
}

/* Run one post-action plugin with the job's WIM; its outcome is recorded. */
static offserv_status run_post_action(struct job *j, const struct offserv_loaded_plugin *p,
                                      const char *sha, const char *scratch, int base, int span,
                                      char *summary, size_t summary_len, char *err,
                                      size_t errlen)
{
	struct post_progress pp = {j, p->desc->name, base, span, 0};
	size_t n_ix = 0;
	const int *ix = j->indexes ? job_indexes(j, &n_ix) : NULL;
	struct offserv_post_action_job pj = {
		.image_id = j->img.package_id,
		.image_name = j->img.name,
		.wim_path = j->img.wim_path,
		.sha256 = sha && sha[0] ? sha : NULL,
		.progress = post_progress,
		.progress_ctx = &pp,
		.scratch_dir = scratch,
		.indexes = ix,
		.n_indexes = ix ? n_ix : 0,
		.target_done = post_target_done,
		.target_ctx = &pp,
	};
	offserv_status s;

	summary[0] = '\0';
	err[0] = '\0';
	s = p->desc->ops.post_action->run(p->ctx, &pj, summary, summary_len, err, errlen);
	if (OFFSERV_FAILED(s) && !err[0])
		snprintf(err, errlen, "%s", offserv_strerror(s));
	record_action(j, &pp, s, OFFSERV_SUCCEEDED(s) ? summary : err);
	return s;
}

static int is_post_action(const struct offserv_loaded_plugin *p)
{
	return p->desc->kind == OFFSERV_PLUGIN_POST_ACTION && p->desc->ops.post_action &&
	       p->desc->ops.post_action->run;
}

/* The job's scratch folder on the servicing drive, made again for post-actions. */
static char *post_scratch(struct job *j, const char *drive)
{
	char *dir = NULL, err[512] = "";

	if (!drive || OFFSERV_FAILED(offserv_drive_image_dir(drive, j->img.package_id, &dir, err,
	                                                     sizeof(err)))) {
		offserv_logfile_write(j->log, OFFSERV_LOG_WARNING, NULL,
		                      "No scratch folder for the post-actions of image package %s%s%s",
		                      j->img.package_id, err[0] ? ": " : "", err);
		return NULL;
	}
	return dir;
}

/* Remove `<workdir>/<image id>` (the parent of ImageMountDir). */
static void drop_scratch(char *dir)
{
	char *p;

	if (!dir)
		return;
	p = strrchr(dir, '/');
	if (p) {
		*p = '\0';
		offserv_rmtree(dir, NULL, 0);
	}
	free(dir);
}

/*
 * The optimize post-action: component store cleanup with reset base and a
 * rebuild of the WIM.  Fails when the plugin is not loaded.
 */
static offserv_status run_optimize(struct job *j, const char *scratch, char *err, size_t errlen)
{
	struct offserv_plugins *pl = offserv_site_plugins(j->site);
	const struct offserv_loaded_plugin *p = NULL;
	char summary[512] = "", perr[1024] = "";
	uint64_t before = file_size(j->img.wim_path);
	offserv_status s;

	for (size_t i = 0; i < offserv_plugins_count(pl); i++) {
		const struct offserv_loaded_plugin *q = offserv_plugins_get(pl, i);
		if (is_post_action(q) && !strcmp(q->desc->name, OPTIMIZE_PLUGIN))
			p = q;
	}
	if (!p) {
		struct post_progress pp = {j, OPTIMIZE_PLUGIN, 0, 0, 0};

		snprintf(perr, sizeof(perr), "the %s post-action plugin is not loaded (%s.so in the "
		         "plugin directory, or refused: see the log)", OPTIMIZE_PLUGIN, OPTIMIZE_PLUGIN);
		record_action(j, &pp, OFFSERV_E_MOD_NOT_FOUND, perr);
		offserv_logfile_write(j->log, OFFSERV_LOG_ERROR, NULL,
		                      "Failed to optimize image package %s. ErrorCode = 0x%08x: %s",
		                      j->img.package_id, OFFSERV_E_MOD_NOT_FOUND, perr);
		snprintf(err, errlen, "optimize failed: %s", perr);
		return OFFSERV_E_MOD_NOT_FOUND;
	}
	offserv_logfile_write(j->log, OFFSERV_LOG_INFO, NULL,
	                      "Optimizing image package %s: component store cleanup, reset base, "
	                      "rebuild (%llu bytes)", j->img.package_id,
	                      (unsigned long long)before);
	set_progress(j, 91, "Optimizing the image", 1);
	s = run_post_action(j, p, NULL, scratch, 91, 3, summary, sizeof(summary), perr,
	                    sizeof(perr));
	if (OFFSERV_FAILED(s)) {
		offserv_logfile_write(j->log, OFFSERV_LOG_ERROR, NULL,
		                      "Failed to optimize image package %s (the serviced WIM is kept as "
		                      "it is). ErrorCode = 0x%08x: %s", j->img.package_id, s, perr);
		snprintf(err, errlen, "optimize failed: %s", perr);
		return s;
	}
	offserv_logfile_write(j->log, OFFSERV_LOG_INFO, NULL,
	                      "Optimized image package %s: %llu bytes (was %llu)%s%s",
	                      j->img.package_id, (unsigned long long)file_size(j->img.wim_path),
	                      (unsigned long long)before, summary[0] ? ": " : "", summary);
	return OFFSERV_OK;
}

/* Run every loaded post-action plugin but optimize; returns the first failure. */
static offserv_status run_post_actions(struct job *j, const char *scratch, char *err,
                                       size_t errlen)
{
	struct offserv_plugins *pl = offserv_site_plugins(j->site);
	uint8_t digest[32];
	char sha[65] = "";
	offserv_status first = OFFSERV_OK;
	size_t n_run = 0;

	if (OFFSERV_SUCCEEDED(offserv_sha256_file(j->img.wim_path, digest, NULL, NULL, 0)))
		offserv_hex(digest, sizeof(digest), sha);
	for (size_t i = 0; i < offserv_plugins_count(pl); i++) {
		const struct offserv_loaded_plugin *p = offserv_plugins_get(pl, i);
		char summary[512] = "", perr[1024] = "";
		offserv_status s;

		if (!is_post_action(p) || !strcmp(p->desc->name, OPTIMIZE_PLUGIN))
			continue;
		n_run++;
		offserv_logfile_write(j->log, OFFSERV_LOG_INFO, NULL,
		                      "Updating distribution points of image package %s (%s)",
		                      j->img.package_id, p->desc->name);
		s = run_post_action(j, p, sha, scratch, 95, 4, summary, sizeof(summary), perr,
		                    sizeof(perr));
		if (OFFSERV_FAILED(s)) {
			offserv_logfile_write(j->log, OFFSERV_LOG_ERROR, NULL,
			                      "Failed to update distribution points of image package %s "
			                      "with %s. ErrorCode = 0x%08x: %s", j->img.package_id,
			                      p->desc->name, s, perr);
			if (!OFFSERV_FAILED(first)) {
				first = s;
				snprintf(err, errlen, "post-action %s failed: %s", p->desc->name, perr);
			}
		} else {
			offserv_logfile_write(j->log, OFFSERV_LOG_INFO, NULL,
			                      "Updated distribution points of image package %s with %s%s%s",
			                      j->img.package_id, p->desc->name, summary[0] ? ": " : "",
			                      summary);
		}
	}
	if (n_run == 0)
		offserv_logfile_write(j->log, OFFSERV_LOG_WARNING, NULL,
		                      "Distribution points of image package %s were to be updated, "
		                      "but no post-action plugin is loaded", j->img.package_id);
	return first;
}

/* ---------------------------------------------------------------------- */
/* Results                                                                 */

enum { R_NONE, R_NOT_APPLICABLE, R_SKIPPED, R_INSTALLED, R_PENDING, R_FAILED };

static const char *const result_word[] = {"Skipped", "Not applicable", "Skipped", "Installed",
                                          "Install Pending", "Failed"};

static int rank_of(enum offserv_outcome o)
{
	switch (o) {
	case OFFSERV_OUTCOME_INSTALLED: return R_INSTALLED;
	case OFFSERV_OUTCOME_INSTALL_PENDING: return R_PENDING;
	case OFFSERV_OUTCOME_ALREADY_INSTALLED:
	case OFFSERV_OUTCOME_NOT_APPLICABLE:
	case OFFSERV_OUTCOME_SUPERSEDED: return R_NOT_APPLICABLE;
	case OFFSERV_OUTCOME_FAILED: return R_FAILED;
	default: return R_SKIPPED;
	}
}

static const char *applicability_word(int rank)
{
	switch (rank) {
	case R_NOT_APPLICABLE: return "NOT_APPLICABLE";
	case R_SKIPPED: return "NOT_EVALUATED";
	default: return "APPLICABLE";
	}
}

/* Write job_updates rows and the log lines for each update and index. */
static void record_results(struct job *j, const struct offserv_apply_report *rep,
                           struct offserv_servicing_job_result *res)
{
	size_t n_ix;
	const int *ix = job_indexes(j, &n_ix);

	for (size_t u = 0; u < j->n_u; u++) {
		struct job_update *ju = &j->u[u];

		for (size_t k = 0; k < n_ix; k++) {
			int rank = R_NONE;
			offserv_status hr = OFFSERV_OK;
			const char *msg = NULL;

			if (OFFSERV_FAILED(ju->verify)) {
				rank = R_FAILED;
				hr = ju->verify;
				msg = ju->verify_msg;
			} else if (ju->na) {
				rank = R_NOT_APPLICABLE;
				hr = ju->na_hr;
				msg = ju->na_msg;
			} else if (ju->in_run && ju->apply_ix < rep->n_updates &&
			           OFFSERV_FAILED(rep->updates[ju->apply_ix].status)) {
				rank = R_FAILED;
				hr = rep->updates[ju->apply_ix].status;
				msg = rep->updates[ju->apply_ix].message;
			} else if (ju->in_run) {
				for (size_t r = 0; r < rep->engine.n_results; r++) {
					const struct offserv_engine_result *er = &rep->engine.results[r];
					int rk;

					if (er->index != ix[k] || er->package >= rep->n_packages ||
					    rep->package_update[er->package] != ju->apply_ix)
						continue;
					rk = rank_of(er->outcome);
					if (rk > rank || rank == R_NONE) {
						rank = rk;
						hr = er->status;
						msg = er->message;
					}
				}
			}
			if (rank == R_NONE) {
				rank = R_SKIPPED;
				msg = j->cancelled ? "the job was cancelled" : "not attempted";
			}
			record(j, ju->id, ix[k], result_word[rank], hr, msg);
			if (rank == R_INSTALLED || rank == R_PENDING)
				res->n_installed++;
			else if (rank == R_NOT_APPLICABLE)
				res->n_not_applicable++;
			else if (rank == R_FAILED)
				res->n_failed++;
			else
				res->n_skipped++;
			offserv_logfile_write(j->log, OFFSERV_LOG_INFO, NULL,
			                      "Applicability State = %s, Update Binary = %s.",
			                      applicability_word(rank), ju->path ? ju->path : "(missing)");
			if (rank == R_SKIPPED)
				continue;
			offserv_logfile_write(j->log, rank == R_FAILED ? OFFSERV_LOG_ERROR : OFFSERV_LOG_INFO,
			                      NULL, "InstallUpdate returned code 0x%08x", hr);
			if (rank == R_FAILED)
				offserv_logfile_write(j->log, OFFSERV_LOG_ERROR, NULL,
				                      "Failed to install update with ID %lld on the image. "
				                      "ErrorCode = %d", (long long)ju->id,
				                      offserv_status_win32_code(hr));
		}
	}
}

/* ---------------------------------------------------------------------- */
/* The job                                                                 */

static offserv_status finish(struct job *j, const char *status, offserv_status hr,
                             const char *msg, struct offserv_servicing_job_result *res)
{
	offserv_sitedb_job_finish(j->db, j->job_id, status, hr, msg, NULL, 0);
	if (!strcmp(status, OFFSERV_JOB_SUCCESSFUL))
		offserv_sitedb_image_set_serviced(j->db, j->img.package_id, NULL, NULL, 0);
	snprintf(res->status, sizeof(res->status), "%s", status);
	offserv_logfile_write(j->log,
	                      strcmp(status, OFFSERV_JOB_FAILED) ? OFFSERV_LOG_INFO : OFFSERV_LOG_ERROR,
	                      NULL, "Completed processing image package %s. Status = %s",
	                      j->img.package_id, status);
	offserv_logfile_write(j->log, OFFSERV_LOG_INFO, NULL,
	                      "Updated history for image package %s in the database",
	                      j->img.package_id);
	if (j->o->schedule_id == 0)
		offserv_schedule_refresh_image(j->db, j->img.package_id, status, NULL, 0);
	return hr;
}

offserv_status offserv_servicing_job_run(struct offserv_site *site,
                                         const struct offserv_servicing_job_options *o,
                                         struct offserv_servicing_job_result *res, char *err,
                                         size_t errlen)
{
	struct job j;
	struct offserv_lock own = {-1};
	struct offserv_job_rec jr = {0};
	struct offserv_apply_options ao = {0};
	struct offserv_apply_report rep;
	struct offserv_logfile *dism_log = NULL;
	const char **paths = NULL;
	char *pending = NULL, *backup = NULL, *bdir = NULL, *scratch = NULL, msg[2048] = "";
	uint64_t size_before;
	offserv_status s, hr = OFFSERV_E_UNEXPECTED;
	const char *env;
	int reflinked = 0;

	memset(res, 0, sizeof(*res));
	memset(&j, 0, sizeof(j));
	memset(&rep, 0, sizeof(rep));
	j.site = site;
	j.o = o;
	j.log = offserv_site_log(site);
	j.root = offserv_config_site_root(offserv_site_config(site));
	env = getenv(OFFSERV_TEST_JOB_DELAY_ENV);
	if (env && *env)
		j.delay_ms = (unsigned)strtoul(env, NULL, 10);
	s = offserv_site_db(site, &j.db, err, errlen);
	if (OFFSERV_FAILED(s))
		return s;
	s = offserv_sitedb_image_get(j.db, o->image_id, &j.img, err, errlen);
	if (OFFSERV_FAILED(s))
		return s;
	if (j.img.solid) {
		offserv_set_error(err, errlen, "image %s is solid (ESD): it cannot be serviced in place",
		                  o->image_id);
		job_clear(&j);
		return OFFSERV_CBS_E_IMAGE_UNSERVICEABLE;
	}
	if (parse_indexes(o->indexes, &j.indexes, &j.n_indexes) != 0) {
		offserv_set_error(err, errlen, "bad index list \"%s\"", o->indexes);
		job_clear(&j);
		return OFFSERV_E_INVALIDARG;
	}
	{
		struct offserv_image_index_rec *ix = NULL;
		size_t n_ix = 0;

		s = offserv_sitedb_index_list(j.db, o->image_id, &ix, &n_ix, err, errlen);
		if (OFFSERV_SUCCEEDED(s) && n_ix) {
			j.all_indexes = calloc(n_ix, sizeof(int));
			if (!j.all_indexes)
				s = OFFSERV_E_OUTOFMEMORY;
			for (size_t i = 0; j.all_indexes && i < n_ix; i++)
				j.all_indexes[j.n_all_indexes++] = ix[i].index;
		}
		offserv_image_index_recs_free(ix, n_ix);
		if (OFFSERV_FAILED(s)) {
			job_clear(&j);
			return s;
		}
	}

	/* 1. the lock, then the job row */
	if (!o->held_lock) {
		s = offserv_lock_image(j.root, o->image_id, &own, err, errlen);
		if (OFFSERV_FAILED(s)) {
			job_clear(&j);
			return s;
		}
	}
	snprintf(jr.package_id, sizeof(jr.package_id), "%s", o->image_id);
	jr.schedule_id = o->schedule_id;
	jr.indexes = (char *)(o->indexes ? o->indexes : "all");
	jr.message = (char *)"Starting";
	s = offserv_sitedb_job_start(j.db, &jr, &j.job_id, err, errlen);
	if (OFFSERV_FAILED(s)) {
		offserv_lock_release(&own);
		job_clear(&j);
		return s;
	}
	res->job_id = j.job_id;
	j.cancel_path = cancel_marker(j.root, j.job_id);
	{
		char *jobs = offserv_path_join(j.root, "Jobs");
		if (jobs)
			offserv_mkdir_p(jobs, NULL, 0);
		free(jobs);
	}
	offserv_logfile_write(j.log, OFFSERV_LOG_INFO, NULL, "Processing image package %s",
	                      o->image_id);
	offserv_logfile_write(j.log, OFFSERV_LOG_INFO, NULL,
	                      "Job %lld of image package %s (%s), WIM %s, indexes %s, pid %ld",
	                      (long long)j.job_id, o->image_id, j.img.name ? j.img.name : "",
	                      j.img.wim_path, o->indexes ? o->indexes : "all", (long)getpid());
	set_progress(&j, 1, "Resolving updates", 1);

	/* 2. updates from the content library, checked */
	s = resolve(&j, err, errlen);
	if (OFFSERV_FAILED(s)) {
		hr = finish(&j, OFFSERV_JOB_FAILED, s, err, res);
		goto out;
	}
	{
		size_t n_ok = 0, n_bad = 0;
		for (size_t i = 0; i < j.n_u; i++) {
			if (OFFSERV_FAILED(j.u[i].verify)) {
				n_bad++;
				offserv_logfile_write(j.log, OFFSERV_LOG_ERROR, NULL,
				                      "Content of update with ID %lld failed verification. "
				                      "ErrorCode = 0x%08x: %s", (long long)j.u[i].id,
				                      j.u[i].verify, j.u[i].verify_msg ? j.u[i].verify_msg : "");
			} else if (!j.u[i].na) {
				n_ok++;
			}
		}
		if (j.n_u == 0 || (n_ok == 0 && n_bad == 0)) {
			record_results(&j, &rep, res);
			hr = finish(&j, OFFSERV_JOB_SUCCESSFUL, OFFSERV_OK,
			            "no applicable update to install", res);
			goto out;
		}
		if (n_bad && !o->continue_on_error) {
			snprintf(msg, sizeof(msg), "%zu update file(s) failed verification in the content "
			         "library; the image was not changed", n_bad);
			record_results(&j, &rep, res);
			snprintf(err, errlen, "%s", msg);
			for (size_t i = 0; i < j.n_u; i++)
				if (OFFSERV_FAILED(j.u[i].verify)) {
					hr = finish(&j, OFFSERV_JOB_FAILED, j.u[i].verify, msg, res);
					break;
				}
			goto out;
		}
		if (n_ok == 0) {
			record_results(&j, &rep, res);
			snprintf(err, errlen, "no update file passed verification; the image was not "
			         "changed");
			hr = finish(&j, OFFSERV_JOB_FAILED, j.u[0].verify, err, res);
			goto out;
		}
		paths = calloc(n_ok, sizeof(*paths));
		if (!paths) {
			hr = finish(&j, OFFSERV_JOB_FAILED, OFFSERV_E_OUTOFMEMORY, "out of memory", res);
			goto out;
		}
		for (size_t i = 0; i < j.n_u; i++)
			if (OFFSERV_SUCCEEDED(j.u[i].verify) && !j.u[i].na) {
				j.u[i].in_run = 1;
				j.u[i].apply_ix = ao.n_updates;
				paths[ao.n_updates++] = j.u[i].path;
			}
	}
	if (cancel_requested(&j)) {
		hr = finish(&j, OFFSERV_JOB_CANCELLED, OFFSERV_E_ABORT,
		            "cancelled before the image was touched", res);
		record_results(&j, &rep, res);
		goto out;
	}

	/* 3. the backup of the current WIM */
	size_before = file_size(j.img.wim_path);
	bdir = site_sub(j.root, "Backups", o->image_id);
	backup = offserv_servicing_backup_path(j.root, o->image_id);
	if (!bdir || !backup || asprintf(&pending, "%s.pending", backup) < 0) {
		pending = NULL;
		hr = finish(&j, OFFSERV_JOB_FAILED, OFFSERV_E_OUTOFMEMORY, "out of memory", res);
		goto out;
	}
	set_progress(&j, 5, "Backing up the image", 1);
	s = offserv_mkdir_p(bdir, err, errlen);
	if (OFFSERV_SUCCEEDED(s))
		s = clone_file(j.img.wim_path, pending, &reflinked, err, errlen);
	if (OFFSERV_FAILED(s)) {
		snprintf(msg, sizeof(msg), "cannot back up %s: %s", j.img.wim_path, err);
		snprintf(err, errlen, "%s", msg);
		unlink(pending);
		hr = finish(&j, OFFSERV_JOB_FAILED, s, msg, res);
		goto out;
	}
	offserv_logfile_write(j.log, OFFSERV_LOG_INFO, NULL, "Backed up %s to %s (%s)",
	                      j.img.wim_path, pending, reflinked ? "reflink" : "copy");

	/* 4. stage, expand, apply, commit */
	ao.wim_path = j.img.wim_path;
	ao.indexes = j.indexes;
	ao.n_indexes = j.n_indexes;
	ao.updates = paths;
	ao.image_id = o->image_id;
	ao.continue_on_error = o->continue_on_error;
	ao.progress = engine_progress;
	ao.progress_ctx = &j;
	if (OFFSERV_SUCCEEDED(offserv_site_open_dism_log(site, NULL, 0, &dism_log, NULL, 0)))
		ao.dism_log = dism_log;
	set_progress(&j, 10, "Applying updates", 1);
	s = offserv_apply_updates(site, &ao, &rep, err, errlen);
	res->committed = rep.engine.committed;
	if (!rep.engine.committed && (s == OFFSERV_E_ABORT || j.cancelled)) {
		record_results(&j, &rep, res);
		unlink(pending);
		offserv_logfile_write(j.log, OFFSERV_LOG_WARNING, NULL,
		                      "Servicing of image package %s was cancelled; the image is "
		                      "unchanged", o->image_id);
		hr = finish(&j, OFFSERV_JOB_CANCELLED, OFFSERV_E_ABORT,
		            "cancelled; the image is unchanged", res);
		goto out;
	}
	record_results(&j, &rep, res);
	if (!rep.engine.committed) {
		unlink(pending);
		snprintf(msg, sizeof(msg), "%s; the image was not changed",
		         OFFSERV_FAILED(s) ? err : "nothing to install");
		if (OFFSERV_FAILED(s)) {
			snprintf(err, errlen, "%s", msg);
			hr = finish(&j, OFFSERV_JOB_FAILED, s, msg, res);
		} else {
			hr = finish(&j, OFFSERV_JOB_SUCCESSFUL, OFFSERV_OK, msg, res);
		}
		goto out;
	}

	/* 5. history, index versions, compaction, backup */
	set_progress(&j, 90, "Recording the installed packages", 1);
	{
		struct applied_pkg *ap = calloc(rep.engine.n_results + 1, sizeof(*ap));
		size_t n_ap = 0, n_ix;
		const int *ixs = job_indexes(&j, &n_ix);
		char rerr[1024] = "";
		offserv_status rs;

		for (size_t r = 0; ap && r < rep.engine.n_results; r++) {
			const struct offserv_engine_result *er = &rep.engine.results[r];
			size_t ui = er->package < rep.n_packages ? rep.package_update[er->package] : SIZE_MAX;

			if (er->outcome != OFFSERV_OUTCOME_INSTALLED &&
			    er->outcome != OFFSERV_OUTCOME_INSTALL_PENDING)
				continue;
			ap[n_ap].index = er->index;
			ap[n_ap].identity = er->identity;
			for (size_t u = 0; u < j.n_u; u++)
				if (j.u[u].in_run && j.u[u].apply_ix == ui)
					ap[n_ap].update_id = j.u[u].id;
			n_ap++;
		}
		rs = refresh_from_wim(site, j.db, o->image_id, j.img.wim_path, ixs, n_ix, ap, n_ap,
		                      j.job_id, rerr, sizeof(rerr));
		if (OFFSERV_FAILED(rs))
			offserv_logfile_write(j.log, OFFSERV_LOG_ERROR, NULL,
			                      "Failed to record the packages of image package %s. "
			                      "ErrorCode = 0x%08x: %s", o->image_id, rs, rerr);
		free(ap);
	}
	/* optimize rebuilds the WIM anyway: no threshold compaction before it */
	if (!o->optimize)
		res->rebuilt = maybe_compact(&j, size_before);
	if (rename(pending, backup) != 0)
		offserv_logfile_write(j.log, OFFSERV_LOG_WARNING, NULL, "Cannot keep the backup %s: %s",
		                      backup, strerror(errno));
	hr = s;

	/* 6. post-actions: optimize first, so that the DPs get the optimized image */
	if (o->optimize || o->update_dps)
		scratch = post_scratch(&j, rep.drive);
	if (o->optimize) {
		char perr[1024] = "";
		offserv_status ps = run_optimize(&j, scratch, perr, sizeof(perr));

		if (OFFSERV_FAILED(ps)) {
			snprintf(msg, sizeof(msg), "the image was serviced and committed, but %s; the "
			         "WIM is the serviced one, not optimized%s", perr,
			         o->update_dps ? ", and the distribution points were not updated" : "");
			snprintf(err, errlen, "%s", msg);
			hr = finish(&j, OFFSERV_JOB_FAILED, ps, msg, res);
			goto out;
		}
		res->optimized = 1;
		res->rebuilt = 1;
		{
			char *bp = baseline_path(j.root, o->image_id), rerr[1024] = "";
			size_t n_ix;
			const int *ixs = job_indexes(&j, &n_ix);
			offserv_status rs;

			if (bp)
				write_baseline(bp, file_size(j.img.wim_path));
			free(bp);
			/* reset base removed superseded packages from the registration */
			rs = refresh_from_wim(site, j.db, o->image_id, j.img.wim_path, ixs, n_ix, NULL, 0,
			                      j.job_id, rerr, sizeof(rerr));
			if (OFFSERV_FAILED(rs))
				offserv_logfile_write(j.log, OFFSERV_LOG_ERROR, NULL,
				                      "Failed to record the packages of image package %s "
				                      "after optimizing. ErrorCode = 0x%08x: %s",
				                      o->image_id, rs, rerr);
		}
	}
	if (o->update_dps) {
		char perr[1024] = "";
		offserv_status ps;

		set_progress(&j, 95, "Updating distribution points", 1);
		ps = run_post_actions(&j, scratch, perr, sizeof(perr));
		if (OFFSERV_FAILED(ps)) {
			snprintf(msg, sizeof(msg), "the image was serviced and committed, but %s", perr);
			snprintf(err, errlen, "%s", msg);
			hr = finish(&j, OFFSERV_JOB_FAILED, ps, msg, res);
			goto out;
		}
	}
	if (OFFSERV_FAILED(hr)) {
		snprintf(msg, sizeof(msg), "the image was committed with %zu update(s) failed: %s",
		         res->n_failed, err[0] ? err : offserv_strerror(hr));
		snprintf(err, errlen, "%s", msg);
		hr = finish(&j, OFFSERV_JOB_FAILED, hr, msg, res);
	} else {
		snprintf(msg, sizeof(msg), "%zu installed, %zu not applicable%s", res->n_installed,
		         res->n_not_applicable,
		         res->optimized ? ", image optimized" : res->rebuilt ? ", WIM compacted" : "");
		hr = finish(&j, OFFSERV_JOB_SUCCESSFUL, OFFSERV_OK, msg, res);
	}
out:
	drop_scratch(scratch);
	if (j.cancel_path)
		unlink(j.cancel_path);
	offserv_apply_report_clear(&rep);
	offserv_logfile_close(dism_log);
	free((void *)paths);
	free(pending);
	free(backup);
	free(bdir);
	offserv_lock_release(&own);
	job_clear(&j);
	return hr;
}

offserv_status offserv_servicing_run_schedule(struct offserv_site *site, int64_t schedule_id,
                                              int run_now, const struct offserv_lock *held_lock,
                                              offserv_job_progress_fn progress,
                                              void *progress_ctx,
                                              struct offserv_servicing_job_result *res,
                                              char *err, size_t errlen)
{
	struct offserv_sitedb *db;
	struct offserv_schedule_rec rec;
	struct offserv_servicing_job_options o = {0};
	struct offserv_logfile *log = offserv_site_log(site);
	char *saved_status;
	offserv_status s;

	memset(res, 0, sizeof(*res));
	s = offserv_site_db(site, &db, err, errlen);
	if (OFFSERV_FAILED(s))
		return s;
	s = offserv_sitedb_schedule_get(db, schedule_id, &rec, err, errlen);
	if (OFFSERV_FAILED(s))
		return s;
	if (run_now)
		offserv_logfile_write(log, OFFSERV_LOG_INFO, NULL,
		                      "Schedule with ID %lld (Schedule Name = ) is marked for RunNow by "
		                      "the administrator", (long long)schedule_id);
	else
		offserv_logfile_write(log, OFFSERV_LOG_INFO, NULL,
		                      "Schedule with ID %lld (Schedule Name = ) is due (%s)",
		                      (long long)schedule_id, rec.run_at ? rec.run_at : "");
	o.image_id = rec.package_id;
	o.schedule_id = schedule_id;
	o.indexes = rec.indexes;
	o.all_updates = offserv_schedule_is_all_updates(&rec);
	o.update_ids = rec.update_ids;
	o.n_update_ids = rec.n_update_ids;
	o.continue_on_error = rec.continue_on_error;
	o.update_dps = rec.update_dps;
	o.optimize = rec.optimize;
	o.held_lock = held_lock;
	o.progress = progress;
	o.progress_ctx = progress_ctx;
	/* Running while the job runs; put back if the job cannot start */
	saved_status = rec.status;
	rec.status = (char *)"Running";
	offserv_sitedb_schedule_update(db, &rec, NULL, 0);
	offserv_sitedb_image_set_schedule(db, rec.package_id, rec.run_at, "Running", NULL, 0);
	rec.status = saved_status;
	s = offserv_servicing_job_run(site, &o, res, err, errlen);
	if (res->job_id == 0) {
		/* no job was started (busy, bad options): the schedule stays as it was */
		offserv_sitedb_schedule_update(db, &rec, NULL, 0);
		offserv_schedule_refresh_image(db, rec.package_id, "Scheduled", NULL, 0);
	} else {
		offserv_schedule_finish_run(db, schedule_id, res->status, time(NULL), NULL, 0);
	}
	offserv_schedule_rec_clear(&rec);
	return s;
}

offserv_status offserv_servicing_cancel(struct offserv_site *site, const char *image_id,
                                        int64_t job_id, int64_t *job_out, char *err,
                                        size_t errlen)
{
	const char *root = offserv_config_site_root(offserv_site_config(site));
	struct offserv_sitedb *db;
	struct offserv_job_rec *jobs = NULL;
	size_t n = 0;
	int64_t target = 0;
	char *path, *dir;
	offserv_status s;

	if (job_out)
		*job_out = 0;
	s = offserv_site_db(site, &db, err, errlen);
	if (OFFSERV_SUCCEEDED(s))
		s = offserv_sitedb_job_list(db, image_id, &jobs, &n, err, errlen);
	if (OFFSERV_FAILED(s))
		return s;
	for (size_t i = 0; i < n && !target; i++)
		if (jobs[i].status && !strcmp(jobs[i].status, OFFSERV_JOB_IN_PROGRESS) &&
		    (job_id == 0 || jobs[i].job_id == job_id))
			target = jobs[i].job_id;
	offserv_job_recs_free(jobs, n);
	if (!target) {
		if (job_id)
			offserv_set_error(err, errlen, "job %lld is not in progress", (long long)job_id);
		else
			offserv_set_error(err, errlen, "image %s has no job in progress", image_id);
		return OFFSERV_E_NOT_FOUND;
	}
	dir = offserv_path_join(root, "Jobs");
	if (!dir)
		return OFFSERV_E_OUTOFMEMORY;
	s = offserv_mkdir_p(dir, err, errlen);
	free(dir);
	if (OFFSERV_FAILED(s))
		return s;
	path = cancel_marker(root, target);
	if (!path)
		return OFFSERV_E_OUTOFMEMORY;
	s = offserv_write_file_atomic(path, "cancel\n", 7, 0644, err, errlen);
	free(path);
	if (OFFSERV_SUCCEEDED(s)) {
		offserv_logfile_write(offserv_site_log(site), OFFSERV_LOG_INFO, NULL,
		                      "Job %lld is marked for cancellation by the administrator",
		                      (long long)target);
		if (job_out)
			*job_out = target;
	}
	return s;
}

offserv_status offserv_servicing_verify_wim(const char *wim_path, char *err, size_t errlen)
{
	struct offserv_wim *wim = NULL;
	struct offserv_wim_info info;
	offserv_status s;

	s = offserv_wim_open(wim_path, OFFSERV_WIM_OPEN_READ | OFFSERV_WIM_OPEN_CHECK_INTEGRITY, &wim,
	                     err, errlen);
	if (OFFSERV_SUCCEEDED(s))
		s = offserv_wim_get_info(wim, &info, err, errlen);
	for (int i = 1; OFFSERV_SUCCEEDED(s) && i <= info.image_count; i++) {
		struct offserv_wim_stat st;

		/* reading an index's root loads and checks its metadata resource */
		s = offserv_wim_stat(wim, i, "/", 0, &st, err, errlen);
		if (OFFSERV_SUCCEEDED(s))
			offserv_wim_stat_clear(&st);
	}
	offserv_wim_close(wim);
	return s;
}

offserv_status offserv_servicing_rollback(struct offserv_site *site, const char *image_id,
                                          char *err, size_t errlen)
{
	const char *root = offserv_config_site_root(offserv_site_config(site));
	struct offserv_sitedb *db;
	struct offserv_image_rec img;
	struct offserv_image_index_rec *ix = NULL;
	struct offserv_lock lock = {-1};
	struct offserv_job_rec *jobs = NULL;
	size_t n_ix = 0, n_jobs = 0;
	int *indexes = NULL;
	char *backup = NULL, *tmp = NULL;
	offserv_status s;

	s = offserv_site_db(site, &db, err, errlen);
	if (OFFSERV_FAILED(s))
		return s;
	s = offserv_sitedb_image_get(db, image_id, &img, err, errlen);
	if (OFFSERV_FAILED(s))
		return s;
	s = offserv_lock_image(root, image_id, &lock, err, errlen);
	if (OFFSERV_FAILED(s))
		goto out;
	s = offserv_sitedb_job_list(db, image_id, &jobs, &n_jobs, err, errlen);
	for (size_t i = 0; OFFSERV_SUCCEEDED(s) && i < n_jobs; i++)
		if (jobs[i].status && !strcmp(jobs[i].status, OFFSERV_JOB_IN_PROGRESS)) {
			offserv_set_error(err, errlen, "image %s has job %lld in progress", image_id,
			                  (long long)jobs[i].job_id);
			s = OFFSERV_E_BUSY;
		}
	if (OFFSERV_FAILED(s))
		goto out;
	backup = offserv_servicing_backup_path(root, image_id);
	if (!backup || asprintf(&tmp, "%s.swap", backup) < 0) {
		tmp = NULL;
		s = OFFSERV_E_OUTOFMEMORY;
		goto out;
	}
	if (access(backup, R_OK) != 0) {
		offserv_set_error(err, errlen, "image %s has no backup (%s): it has not been serviced "
		                  "by offserv yet", image_id, backup);
		s = OFFSERV_E_FILE_NOT_FOUND;
		goto out;
	}
	s = offserv_servicing_verify_wim(backup, err, errlen);
	if (OFFSERV_FAILED(s))
		goto out;
	/* swap: the current WIM becomes the backup, so a second rollback undoes the first */
	{
		int rl;
		s = clone_file(img.wim_path, tmp, &rl, err, errlen);
	}
	if (OFFSERV_SUCCEEDED(s)) {
		int rl;
		char *incoming = NULL;

		if (asprintf(&incoming, "%s.rollback%ld", img.wim_path, (long)getpid()) < 0)
			s = OFFSERV_E_OUTOFMEMORY;
		else
			s = clone_file(backup, incoming, &rl, err, errlen);
		if (OFFSERV_SUCCEEDED(s) && rename(incoming, img.wim_path) != 0) {
			s = offserv_status_from_errno(errno);
			offserv_set_error(err, errlen, "%s: %s", img.wim_path, strerror(errno));
		}
		if (incoming)
			unlink(incoming);
		free(incoming);
	}
	if (OFFSERV_SUCCEEDED(s) && rename(tmp, backup) != 0) {
		s = offserv_status_from_errno(errno);
		offserv_set_error(err, errlen, "%s: %s", backup, strerror(errno));
	}
	unlink(tmp);
	if (OFFSERV_FAILED(s))
		goto out;
	{
		char *bp = baseline_path(root, image_id);
		if (bp) {
			write_baseline(bp, file_size(img.wim_path));
			free(bp);
		}
	}
	offserv_logfile_write(offserv_site_log(site), OFFSERV_LOG_INFO, NULL,
	                      "Image package %s rolled back to its backup %s", image_id, backup);
	s = offserv_sitedb_index_list(db, image_id, &ix, &n_ix, err, errlen);
	if (OFFSERV_SUCCEEDED(s)) {
		indexes = calloc(n_ix + 1, sizeof(int));
		if (!indexes)
			s = OFFSERV_E_OUTOFMEMORY;
		for (size_t i = 0; indexes && i < n_ix; i++)
			indexes[i] = ix[i].index;
	}
	if (OFFSERV_SUCCEEDED(s))
		s = refresh_from_wim(site, db, image_id, img.wim_path, indexes, n_ix, NULL, 0, 0, err,
		                     errlen);
out:
	offserv_job_recs_free(jobs, n_jobs);
	offserv_image_index_recs_free(ix, n_ix);
	free(indexes);
	free(backup);
	free(tmp);
	offserv_lock_release(&lock);
	offserv_image_rec_clear(&img);
	return s;
}
