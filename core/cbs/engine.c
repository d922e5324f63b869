/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The servicing engine: one run installs a list of expanded CBS packages
 * into the indexes of one WIM.
 *
 * Per index: read the three hives it needs (SOFTWARE, COMPONENTS, SYSTEM)
 * from the WIM into scratch copies, then for each package
 *   1. decide applicability against what the index holds now;
 *   2. plan it completely: parse every manifest, verify every payload file
 *      against its digest, resolve every destination, build every security
 *      descriptor, check every registry value -- nothing is changed yet, so
 *      a failing package leaves no trace;
 *   3. stage the plan: component store files, projections as hard links,
 *      manifests, servicing\Packages files into the index's change set;
 *      registry values, component and package registration into the hives.
 * Then the hives are committed to scratch files and added to the change
 * set, the change set is applied (one wimlib update), and after the last
 * index the WIM is written once.
 */
#include <config.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <offserv/applicability.h>
#include <offserv/cbs.h>
#include <offserv/engine.h>
#include <offserv/log.h>
#include <offserv/util.h>

#include "dirtree.h"
#include "hive.h"
#include "wim.h"

#define CBS_KEY "Microsoft\\Windows\\CurrentVersion\\Component Based Servicing"
#define NESTED_DEPTH_MAX 8
#define FILE_ATTRIBUTE_ARCHIVE 0x20u
#define SERVICING_STACK_NAME "Microsoft-Windows-ServicingStack"

const char *offserv_outcome_name(enum offserv_outcome o)
{
	switch (o) {
	case OFFSERV_OUTCOME_INSTALLED:
		return "Installed";
	case OFFSERV_OUTCOME_INSTALL_PENDING:
		return "Install Pending";
	case OFFSERV_OUTCOME_ALREADY_INSTALLED:
		return "Already installed";
	case OFFSERV_OUTCOME_NOT_APPLICABLE:
		return "Not applicable";
	case OFFSERV_OUTCOME_SUPERSEDED:
		return "Superseded";
	case OFFSERV_OUTCOME_FAILED:
		return "Failed";
	case OFFSERV_OUTCOME_CANCELLED:
		return "Cancelled";
	case OFFSERV_OUTCOME_NOT_ATTEMPTED:
		return "Not attempted";
	case OFFSERV_OUTCOME_REMOVED:
		return "Removed";
	case OFFSERV_OUTCOME_NOT_PRESENT:
		return "Not present";
	case OFFSERV_OUTCOME_PERMANENT:
		return "Permanent";
	case OFFSERV_OUTCOME_CLEANED:
		return "Cleaned up";
	case OFFSERV_OUTCOME_REVERTED:
		return "Reverted";
	}
	return "Unknown";
}

/* ---------------------------------------------------------------------- */
/* Plans                                                                   */

struct plan_file {
	char *src;        /* payload on the servicing drive */
	char *name;       /* file name in the component folder */
	uint8_t sha256[32]; /* of the payload, for COMPONENTS f!<name> */
	char *store_path; /* Windows/WinSxS/<key form>/<name> */
	char *dest_path;  /* projection, NULL when the file stays in the store */
	uint8_t *sd;
	size_t sd_len;
	uint32_t attributes;
};

enum reg_hive { REG_SOFTWARE, REG_SYSTEM };

struct plan_value {
	enum reg_hive hive;
	char *key;  /* path inside the hive */
	char *name;
	uint32_t type;
	uint8_t *data;
	size_t len;
};

struct plan_component {
	char *key_form;
	char *manifest_src;
	char *identity_text; /* COMPONENTS "identity" value */
	uint8_t manifest_sha256[32];
	size_t first_file, n_files; /* its files in plan.files */
	int servicing_stack;        /* Microsoft-Windows-ServicingStack */
	char *version;
};

struct plan {
	struct offserv_mum *mum;
	char *identity;
	char *mum_src;
	char *cat_src;
	struct plan_file *files;
	size_t n_files;
	struct plan_component *comps;
	size_t n_comps;
	struct plan_value *values;
	size_t n_values;
	int needs_online_work;
	char *online_reason;
	uint64_t bytes;
};

static void plan_free(struct plan *p)
{
	offserv_mum_free(p->mum);
	free(p->identity);
	free(p->mum_src);
	free(p->cat_src);
	for (size_t i = 0; i < p->n_files; i++) {
		free(p->files[i].src);
		free(p->files[i].name);
		free(p->files[i].store_path);
		free(p->files[i].dest_path);
		free(p->files[i].sd);
	}
	free(p->files);
	for (size_t i = 0; i < p->n_comps; i++) {
		free(p->comps[i].key_form);
		free(p->comps[i].manifest_src);
		free(p->comps[i].identity_text);
		free(p->comps[i].version);
	}
	free(p->comps);
	for (size_t i = 0; i < p->n_values; i++) {
		free(p->values[i].key);
		free(p->values[i].name);
		free(p->values[i].data);
	}
	free(p->values);
	free(p->online_reason);
	memset(p, 0, sizeof(*p));
}

/* Grow an array by one zeroed element; NULL on allocation failure. */
static void *grow(void *arrp, size_t *n, size_t size)
{
	void **arr = arrp;
	char *na = realloc(*arr, (*n + 1) * size);

	if (!na)
		return NULL;
	memset(na + *n * size, 0, size);
	*arr = na;
	return na + (*n)++ * size;
}

/* ---------------------------------------------------------------------- */
/* Run state                                                               */

/* What a run does to each index. */
enum run_op {
	RUN_INSTALL = 0, /* offserv_engine_service() */
	RUN_REMOVE,      /* offserv_engine_remove() */
	RUN_CLEANUP,     /* offserv_engine_cleanup() */
	RUN_REVERT,      /* offserv_engine_revert_pending() */
};

struct store_view;

struct run {
	enum run_op op;
	const char *log_method;        /* the provider method dism.log names */
	const char *const *identities; /* RUN_REMOVE: the packages to remove */
	unsigned cleanup_flags;        /* RUN_CLEANUP: OFFSERV_CLEANUP_* */
	const struct offserv_engine_options *o;
	const struct offserv_engine_package *pkgs;
	size_t n_pkgs;
	struct offserv_engine_report *report;
	struct offserv_wim *wim; /* the WIM backend; NULL for a directory tree */
	const char *image_dir;   /* the directory backend's root; NULL for a WIM */
	const char *target;      /* the WIM or the directory, for messages */
	int dir_partial;         /* the directory's change set failed half-way */
	size_t n_indexes;
	size_t index_pos;
	int cur_index;       /* index being serviced, 0 while writing the WIM */
	int applying;        /* an index's change set is being applied */
	int writing;         /* the WIM is being written */
	double last_percent; /* the bar only moves forward */
	char **pkg_identity; /* per package, once its manifest was read */
	struct verified **verified; /* payload files already checked, by path */
	size_t n_verified_buckets, n_verified;
	int cancelled;
	char err[1024];
};

/*
 * One file or link for the change set.  Kept by the engine until the index
 * is applied so that a later package writing the same image path replaces
 * the earlier entry (the later package wins) instead of adding a second
 * one, which the change set would refuse.
 */
struct staged_op {
	int link;      /* 0: a file from @src; 1: another name of the file at @src */
	char *path;    /* image path */
	char *src;     /* local source, or the link's target image path */
	uint8_t *sd;
	size_t sd_len;
	uint32_t attributes;
};

struct index_state {
	int index;
	char *work;
	char *arch; /* "x86", "x64", "arm64" */
	struct offserv_hive *software, *system, *components;
	char *software_local, *system_local, *components_local;
	struct offserv_wim_changeset *cs;      /* WIM backend */
	struct offserv_dirtree_changeset *dcs; /* directory backend */
	struct offserv_installed_package *installed;
	size_t n_installed;
	size_t stack_entry;   /* installed[] entry standing for the servicing stack, or SIZE_MAX */
	struct staged_op *ops; /* files and links for the change set, one per image path */
	size_t n_ops;
	char **deletes;        /* image paths to delete (removal, cleanup), before the additions */
	size_t n_deletes;
	struct store_view *view; /* packages and their components (removal, cleanup, analysis) */
	int pending_needed;
	int changed;
};

/* ---------------------------------------------------------------------- */
/* The target: a WIM index or an offline directory tree                    */

/*
 * Whether the file @p path (image path) exists in the target as a file.
 * When it does, @p sd / @p sd_len receive a copy of its security
 * descriptor (WIM only: a directory tree has none to offer, and its change
 * set keeps what the filesystem holds) and @p attributes its attributes.
 */
static int target_stat_file(struct run *r, struct index_state *ix, const char *path,
                            uint8_t **sd, size_t *sd_len, uint32_t *attributes)
{
	*sd = NULL;
	*sd_len = 0;
	*attributes = 0;
	if (r->image_dir) {
		char *local = NULL;
		struct stat lst;
		int found = 0;

		if (offserv_dirtree_resolve(r->image_dir, path, &local) == OFFSERV_OK &&
		    lstat(local, &lst) == 0 && !S_ISDIR(lst.st_mode))
			found = 1;
		free(local);
		if (found)
			*attributes = FILE_ATTRIBUTE_ARCHIVE;
		return found;
	} else {
		struct offserv_wim_stat st;
		int found = 0;

		memset(&st, 0, sizeof(st));
		if (offserv_wim_stat(r->wim, ix->index, path, 0, &st, NULL, 0) == OFFSERV_OK &&
		    !st.is_dir) {
			found = 1;
			if (st.sd && st.sd_len) {
				*sd = malloc(st.sd_len);
				if (*sd) {
					memcpy(*sd, st.sd, st.sd_len);
					*sd_len = st.sd_len;
				}
			}
			*attributes = st.attributes ? st.attributes : FILE_ATTRIBUTE_ARCHIVE;
		}
		offserv_wim_stat_clear(&st);
		return found;
	}
}

/* Whether anything (file or directory) is at @p path in the target. */
static int target_exists(struct run *r, struct index_state *ix, const char *path)
{
	if (r->image_dir) {
		char *local = NULL;
		int found = offserv_dirtree_resolve(r->image_dir, path, &local) == OFFSERV_OK;

		free(local);
		return found;
	} else {
		struct offserv_wim_stat st;
		int found;

		memset(&st, 0, sizeof(st));
		found = offserv_wim_stat(r->wim, ix->index, path, 0, &st, NULL, 0) == OFFSERV_OK;
		offserv_wim_stat_clear(&st);
		return found;
	}
}

/*
 * Copy the image file @p path into the folder @p destdir; its local name
 * into @p local.  OFFSERV_E_FILE_NOT_FOUND / OFFSERV_E_PATH_NOT_FOUND when
 * the target has no such file.
 */
static offserv_status target_fetch(struct run *r, struct index_state *ix, const char *path,
                                   const char *destdir, char **local)
{
	offserv_status s;

	*local = NULL;
	if (r->image_dir) {
		char *src = NULL;
		const char *leaf = strrchr(path, '/');

		s = offserv_dirtree_resolve(r->image_dir, path, &src);
		if (OFFSERV_FAILED(s)) {
			snprintf(r->err, sizeof(r->err), "%s: no %s", r->image_dir, path);
			return s;
		}
		*local = offserv_path_join(destdir, leaf ? leaf + 1 : path);
		s = *local ? offserv_copy_file(src, *local, NULL, r->err, sizeof(r->err))
		           : OFFSERV_E_OUTOFMEMORY;
		free(src);
		if (OFFSERV_FAILED(s)) {
			free(*local);
			*local = NULL;
		}
		return s;
	} else {
		char **locals = NULL;
		const char *paths[1] = {path};

		s = offserv_wim_extract(r->wim, ix->index, paths, 1, destdir, 0, &locals, r->err,
		                        sizeof(r->err));
		if (OFFSERV_FAILED(s))
			return s;
		*local = locals[0];
		locals[0] = NULL;
		offserv_wim_strv_free(locals, 1);
		return OFFSERV_OK;
	}
}

static offserv_status target_changeset_new(struct run *r, struct index_state *ix)
{
	if (r->image_dir)
		return offserv_dirtree_changeset_new(r->image_dir, &ix->dcs, r->err, sizeof(r->err));
	return offserv_wim_changeset_new(r->wim, ix->index, &ix->cs, r->err, sizeof(r->err));
}

static offserv_status target_add_file(struct run *r, struct index_state *ix, const char *path,
                                      const char *src, const void *sd, size_t sd_len,
                                      uint32_t attributes)
{
	if (r->image_dir)
		return offserv_dirtree_changeset_add_file(ix->dcs, path, src, sd, sd_len, r->err,
		                                          sizeof(r->err));
	return offserv_wim_changeset_add_file(ix->cs, path, src, sd, sd_len, attributes, r->err,
	                                      sizeof(r->err));
}

static offserv_status target_link(struct run *r, struct index_state *ix, const char *target,
                                  const char *link_path)
{
	if (r->image_dir)
		return offserv_dirtree_changeset_link(ix->dcs, target, link_path, r->err,
		                                      sizeof(r->err));
	return offserv_wim_changeset_link(ix->cs, target, link_path, r->err, sizeof(r->err));
}

static offserv_status dir_delete(struct run *r, const char *path);

static offserv_status target_apply(struct run *r, struct index_state *ix)
{
	offserv_status s = OFFSERV_OK;

	if (r->image_dir) {
		/* As in a WIM change set: deletes first, then the additions. */
		for (size_t i = 0; i < ix->n_deletes && OFFSERV_SUCCEEDED(s); i++)
			s = dir_delete(r, ix->deletes[i]);
		if (OFFSERV_SUCCEEDED(s))
			s = offserv_dirtree_changeset_apply(ix->dcs, r->err, sizeof(r->err));
		return s;
	}
	for (size_t i = 0; i < ix->n_deletes && OFFSERV_SUCCEEDED(s); i++)
		s = offserv_wim_changeset_delete(ix->cs, ix->deletes[i], r->err, sizeof(r->err));
	if (OFFSERV_SUCCEEDED(s))
		s = offserv_wim_changeset_apply(ix->cs, ix->work, r->err, sizeof(r->err));
	return s;
}

static void logf_both(struct run *r, int level, const char *fmt, ...) OFFSERV_PRINTF(3, 4);

static void logf_both(struct run *r, int level, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	offserv_logfile_write(r->o->sms_log, level, NULL, "%s", msg);
	offserv_dismlog_provider(r->o->dism_log, level, "DISM Package Manager", "CDISMPackageManager",
	                         r->log_method ? r->log_method : "Internal_InstallPackage",
	                         OFFSERV_OK, "%s", msg);
}

/*
 * How the bar is shared: the indexes take SHARE_INDEXES percent, equally;
 * within an index its packages take PKG_SHARE of its part and applying its
 * change set (wimlib scanning the scratch volume) the rest; writing the WIM
 * once at the end takes the last 100 - SHARE_INDEXES percent.  wimlib's own
 * reports are mapped into the step they belong to, and every report is
 * clamped so that the percentage never goes back.
 */
#define SHARE_INDEXES 80.0
#define PKG_SHARE 0.8

static double index_base(const struct run *r)
{
	return SHARE_INDEXES / (double)(r->n_indexes ? r->n_indexes : 1) * (double)r->index_pos;
}

static double index_span(const struct run *r)
{
	return SHARE_INDEXES / (double)(r->n_indexes ? r->n_indexes : 1);
}

static int emit_progress(struct run *r, struct offserv_engine_progress *p, double percent)
{
	if (percent > 100.0)
		percent = 100.0;
	if (percent < r->last_percent)
		percent = r->last_percent;
	r->last_percent = percent;
	p->percent = percent;
	if (r->cancelled)
		return 1;
	if (r->o->progress && r->o->progress(r->o->progress_ctx, p))
		r->cancelled = 1;
	return r->cancelled;
}

/*
 * Report a step of package @p pkg (or, with @p pkg == n_pkgs, of the
 * index's closing work) at @p within (0..1) of it.
 */
static int report_progress(struct run *r, int index, size_t pkg, const char *identity,
                           const char *step, double within)
{
	struct offserv_engine_progress p = {
		.index = index,
		.package = pkg,
		.n_packages = r->n_pkgs,
		.identity = identity,
		.step = step,
	};
	double span = index_span(r), percent;

	if (pkg < r->n_pkgs)
		percent = index_base(r) +
		          span * PKG_SHARE * ((double)pkg + within) / (double)r->n_pkgs;
	else
		percent = index_base(r) + span * PKG_SHARE + span * (1.0 - PKG_SHARE) * within;
	return emit_progress(r, &p, percent);
}

static offserv_status add_result(struct run *r, int index, size_t pkg, const char *identity,
                                 enum offserv_outcome outcome, offserv_status status,
                                 const char *fmt, ...) OFFSERV_PRINTF(7, 8);

static offserv_status add_result(struct run *r, int index, size_t pkg, const char *identity,
                                 enum offserv_outcome outcome, offserv_status status,
                                 const char *fmt, ...)
{
	struct offserv_engine_report *rep = r->report;
	struct offserv_engine_result *res;
	va_list ap;
	char *msg = NULL;

	res = grow(&rep->results, &rep->n_results, sizeof(*res));
	if (!res)
		return OFFSERV_E_OUTOFMEMORY;
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	res->index = index;
	res->package = pkg;
	res->identity = identity ? strdup(identity) : NULL;
	res->outcome = outcome;
	res->status = status;
	res->message = msg ? msg : strdup("");
	return OFFSERV_OK;
}

/* ---------------------------------------------------------------------- */
/* Files on the servicing drive                                            */

/*
 * Find @p rel under @p dir, each component matched case-insensitively (CAB
 * member names and manifest names differ in case from real file names).
 */
static char *find_ci(const char *dir, const char *rel)
{
	char *path = NULL;

	return offserv_dirtree_resolve(dir, rel, &path) == OFFSERV_OK ? path : NULL;
}

/*
 * A payload file whose digest was checked: every index of a run takes the
 * same files from the same staged package, so each is read and hashed once.
 */
struct verified {
	struct verified *next;
	char *path;
	enum offserv_hash_alg alg;
	uint8_t digest[32]; /* the manifest's */
	size_t hash_len;
	uint64_t size;
	uint8_t sha256[32];
};

static size_t verified_bucket(const char *path, size_t buckets)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (const unsigned char *p = (const unsigned char *)path; *p; p++)
		h = (h ^ *p) * 0x100000001b3ULL;
	return (size_t)(h ^ (h >> 32)) & (buckets - 1);
}

static const struct verified *verified_find(const struct run *r, const char *path,
                                            const struct offserv_manifest_file *f)
{
	if (!r->n_verified_buckets)
		return NULL;
	for (const struct verified *v = r->verified[verified_bucket(path, r->n_verified_buckets)];
	     v; v = v->next) {
		if (strcmp(v->path, path) == 0 && v->alg == f->hash_alg &&
		    v->hash_len == f->hash_len && memcmp(v->digest, f->digest, f->hash_len) == 0)
			return v;
	}
	return NULL;
}

/* Remember a check that passed; out of memory only loses the shortcut. */
static void verified_add(struct run *r, const char *path, const struct offserv_manifest_file *f,
                         uint64_t size, const uint8_t sha256[32])
{
	struct verified *v;
	size_t b;

	if (r->n_verified >= r->n_verified_buckets) {
		size_t nb = r->n_verified_buckets ? r->n_verified_buckets * 2 : 256;
		struct verified **t = calloc(nb, sizeof(*t));

		if (!t)
			return;
		for (size_t i = 0; i < r->n_verified_buckets; i++) {
			for (struct verified *e = r->verified[i], *next; e; e = next) {
				next = e->next;
				b = verified_bucket(e->path, nb);
				e->next = t[b];
				t[b] = e;
			}
		}
		free(r->verified);
		r->verified = t;
		r->n_verified_buckets = nb;
	}
	v = calloc(1, sizeof(*v));
	if (!v || !(v->path = strdup(path))) {
		free(v);
		return;
	}
	v->alg = f->hash_alg;
	v->hash_len = f->hash_len > sizeof(v->digest) ? sizeof(v->digest) : f->hash_len;
	memcpy(v->digest, f->digest, v->hash_len);
	v->size = size;
	memcpy(v->sha256, sha256, 32);
	b = verified_bucket(path, r->n_verified_buckets);
	v->next = r->verified[b];
	r->verified[b] = v;
	r->n_verified++;
}

static void verified_clear(struct run *r)
{
	for (size_t i = 0; i < r->n_verified_buckets; i++) {
		for (struct verified *e = r->verified[i], *next; e; e = next) {
			next = e->next;
			free(e->path);
			free(e);
		}
	}
	free(r->verified);
	r->verified = NULL;
	r->n_verified_buckets = r->n_verified = 0;
}

/* Verify @p path against a manifest digest; @p sha256 receives the file's SHA-256. */
static offserv_status verify_digest(const char *path, const struct offserv_manifest_file *f,
                                    uint64_t *size, uint8_t sha256[32], char *err,
                                    size_t errlen)
{
	uint8_t digest[32];
	struct stat st;
	offserv_status s;

	if (f->hash_alg == OFFSERV_HASH_SHA256) {
		s = offserv_sha256_file(path, digest, size, err, errlen);
		if (OFFSERV_FAILED(s))
			return s;
		memcpy(sha256, digest, 32);
		if (f->hash_len != 32 || memcmp(digest, f->digest, 32) != 0)
			goto mismatch;
		return OFFSERV_OK;
	}
	if (f->hash_alg == OFFSERV_HASH_SHA1) {
		struct offserv_sha1 ctx;
		struct offserv_sha256 ctx256;
		uint8_t buf[65536];
		FILE *fp = fopen(path, "rb");
		size_t n;
		uint64_t total = 0;

		if (!fp) {
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			return offserv_status_from_errno(errno);
		}
		offserv_sha1_init(&ctx);
		offserv_sha256_init(&ctx256);
		while ((n = fread(buf, 1, sizeof(buf), fp)) > 0) {
			offserv_sha1_update(&ctx, buf, n);
			offserv_sha256_update(&ctx256, buf, n);
			total += n;
		}
		fclose(fp);
		offserv_sha1_final(&ctx, digest);
		offserv_sha256_final(&ctx256, sha256);
		*size = total;
		if (f->hash_len != 20 || memcmp(digest, f->digest, 20) != 0)
			goto mismatch;
		return OFFSERV_OK;
	}
	/* A file without a digest cannot be verified: refuse it. */
	if (stat(path, &st) == 0)
		*size = (uint64_t)st.st_size;
	snprintf(err, errlen, "%s: the manifest lists no SHA-256 or SHA-1 digest for %s", path,
	         f->name);
	return OFFSERV_SXS_E_FILE_HASH_MISMATCH;
mismatch:
	snprintf(err, errlen, "%s does not match the digest its manifest lists for %s", path,
	         f->name);
	return OFFSERV_SXS_E_FILE_HASH_MISMATCH;
}

/* ---------------------------------------------------------------------- */
/* Planning                                                                */

/* "Name, Culture=neutral, Version=..., PublicKeyToken=..., ProcessorArchitecture=..., versionScope=NonSxS" */
static char *identity_text(const struct offserv_identity *id)
{
	char *s = NULL;
	int n = asprintf(&s, "%s, Culture=%s, Version=%s, PublicKeyToken=%s, ProcessorArchitecture=%s%s%s",
	                 id->name, id->language ? id->language : "neutral", id->version,
	                 id->token ? id->token : "", id->arch,
	                 id->version_scope ? ", versionScope=" : "",
	                 id->version_scope ? id->version_scope : "");

	return n < 0 ? NULL : s;
}

/*
 * Record a file (@p link 0) or a link (@p link 1) for @p path; an earlier
 * entry for the same path (Windows compares names case-insensitively) is
 * replaced.
 */
static offserv_status stage_op(struct index_state *ix, int link, const char *path,
                               const char *src, const uint8_t *sd, size_t sd_len,
                               uint32_t attributes)
{
	struct staged_op *op = NULL;
	char *npath = strdup(path), *nsrc = strdup(src);
	uint8_t *nsd = NULL;

	if (sd && sd_len) {
		nsd = malloc(sd_len);
		if (nsd)
			memcpy(nsd, sd, sd_len);
	}
	if (!npath || !nsrc || (sd && sd_len && !nsd))
		goto nomem;
	for (size_t i = 0; i < ix->n_ops; i++) {
		if (strcasecmp(ix->ops[i].path, path) == 0) {
			op = &ix->ops[i];
			free(op->path);
			free(op->src);
			free(op->sd);
			break;
		}
	}
	if (!op && !(op = grow(&ix->ops, &ix->n_ops, sizeof(*op))))
		goto nomem;
	op->link = link;
	op->path = npath;
	op->src = nsrc;
	op->sd = nsd;
	op->sd_len = nsd ? sd_len : 0;
	op->attributes = attributes;
	return OFFSERV_OK;
nomem:
	free(npath);
	free(nsrc);
	free(nsd);
	return OFFSERV_E_OUTOFMEMORY;
}

/* Hand the recorded files, then the links, to the change set. */
static offserv_status flush_ops(struct run *r, struct index_state *ix)
{
	offserv_status s = OFFSERV_OK;

	for (int pass = 0; pass < 2 && OFFSERV_SUCCEEDED(s); pass++) {
		for (size_t i = 0; i < ix->n_ops && OFFSERV_SUCCEEDED(s); i++) {
			const struct staged_op *op = &ix->ops[i];

			if (op->link != pass)
				continue;
			if (op->link)
				s = target_link(r, ix, op->src, op->path);
			else
				s = target_add_file(r, ix, op->path, op->src, op->sd, op->sd_len,
				                    op->attributes);
		}
	}
	return s;
}

/*
 * Key forms and package identities become file names in the image and key
 * names in the hives: refuse any that could name another place.
 */
static int safe_name(const char *s)
{
	/* ".." inside a name is fine: long key forms are shortened with it. */
	return s && *s && !strchr(s, '/') && !strchr(s, '\\') && strcmp(s, ".") != 0 &&
	       strcmp(s, "..") != 0;
}

/* Map a manifest registry key to a hive and a path inside it. */
static offserv_status map_registry_key(const char *key_name, enum reg_hive *hive, char **path,
                                       char *err, size_t errlen)
{
	static const struct {
		const char *prefix;
		enum reg_hive hive;
		const char *replace;
	} roots[] = {
		{"HKEY_LOCAL_MACHINE\\SOFTWARE", REG_SOFTWARE, ""},
		{"HKLM\\SOFTWARE", REG_SOFTWARE, ""},
		{"HKEY_LOCAL_MACHINE\\SYSTEM", REG_SYSTEM, ""},
		{"HKLM\\SYSTEM", REG_SYSTEM, ""},
		{"HKEY_CLASSES_ROOT", REG_SOFTWARE, "Classes"},
		{"HKCR", REG_SOFTWARE, "Classes"},
	};

	for (size_t i = 0; i < sizeof(roots) / sizeof(roots[0]); i++) {
		size_t n = strlen(roots[i].prefix);
		const char *rest;
		if (strncasecmp(key_name, roots[i].prefix, n) != 0 ||
		    (key_name[n] != '\0' && key_name[n] != '\\'))
			continue;
		rest = key_name + n;
		while (*rest == '\\')
			rest++;
		if (asprintf(path, "%s%s%s", roots[i].replace,
		             *roots[i].replace && *rest ? "\\" : "", rest) < 0)
			return OFFSERV_E_OUTOFMEMORY;
		*hive = roots[i].hive;
		if (strstr(*path, "\\\\") || strstr(*path, "..")) {
			snprintf(err, errlen, "registry key \"%s\" is malformed", key_name);
			free(*path);
			*path = NULL;
			return OFFSERV_CBS_E_INVALID_PACKAGE;
		}
		return OFFSERV_OK;
	}
	snprintf(err, errlen,
	         "registry key \"%s\" is under a root that cannot be written offline "
	         "(only HKEY_LOCAL_MACHINE\\SOFTWARE, \\SYSTEM and HKEY_CLASSES_ROOT)",
	         key_name);
	return OFFSERV_E_NOT_SUPPORTED;
}

static offserv_status plan_component(struct run *r, struct index_state *ix, struct plan *p,
                                     const char *dir, const struct offserv_identity *cid,
                                     char *err, size_t errlen)
{
	struct offserv_manifest *m = NULL;
	struct plan_component *pc;
	char *key_form = offserv_identity_key_form(cid), *man_rel = NULL, *man_path = NULL;
	char *mkey = NULL;
	char *man_data = NULL;
	size_t man_len = 0;
	offserv_status s = OFFSERV_OK;

	if (!key_form) {
		snprintf(err, errlen, "component %s has an incomplete identity",
		         cid->name ? cid->name : "(unnamed)");
		return OFFSERV_CBS_E_INVALID_PACKAGE;
	}
	if (!safe_name(key_form)) {
		snprintf(err, errlen, "component %s has an identity that is not a valid name (%s)",
		         cid->name ? cid->name : "(unnamed)", key_form);
		free(key_form);
		return OFFSERV_CBS_E_INVALID_PACKAGE;
	}
	if (asprintf(&man_rel, "%s.manifest", key_form) < 0) {
		s = OFFSERV_E_OUTOFMEMORY;
		goto out;
	}
	man_path = find_ci(dir, man_rel);
	if (!man_path) {
		snprintf(err, errlen, "the package has no manifest %s for component %s", man_rel,
		         cid->name);
		s = OFFSERV_CBS_E_SOURCE_MISSING;
		goto out;
	}
	s = offserv_read_file(man_path, OFFSERV_MANIFEST_MAX_BYTES, &man_data, &man_len, err,
	                      errlen);
	if (OFFSERV_FAILED(s))
		goto out;
	s = offserv_manifest_parse(man_data, man_len, &m, err, errlen);
	if (OFFSERV_FAILED(s)) {
		char inner[768];
		snprintf(inner, sizeof(inner), "%s", err);
		snprintf(err, errlen, "%s: %s", man_path, inner);
		goto out;
	}
	mkey = offserv_identity_key_form(&m->id);
	if (!mkey || strcmp(mkey, key_form) != 0) {
		snprintf(err, errlen, "%s: its identity (%s) differs from the one the package names (%s)",
		         man_path, mkey ? mkey : "incomplete", key_form);
		s = OFFSERV_CBS_E_INVALID_PACKAGE;
		goto out;
	}
	if (m->needs_online_work && !p->needs_online_work) {
		p->needs_online_work = 1;
		if (asprintf(&p->online_reason, "%s (%s)", cid->name,
		             m->online_work_reason ? m->online_work_reason : "online work") < 0)
			p->online_reason = NULL;
	}
	pc = grow(&p->comps, &p->n_comps, sizeof(*pc));
	if (!pc) {
		s = OFFSERV_E_OUTOFMEMORY;
		goto out;
	}
	pc->key_form = key_form;
	key_form = NULL;
	pc->manifest_src = man_path;
	man_path = NULL;
	pc->identity_text = identity_text(&m->id);
	pc->version = strdup(m->id.version ? m->id.version : "");
	pc->servicing_stack = m->id.name && strcasecmp(m->id.name, SERVICING_STACK_NAME) == 0;
	pc->first_file = p->n_files;
	if (!pc->identity_text || !pc->version) {
		s = OFFSERV_E_OUTOFMEMORY;
		goto out;
	}
	offserv_sha256(man_data, man_len, pc->manifest_sha256);

	for (size_t i = 0; i < m->n_files; i++) {
		const struct offserv_manifest_file *f = &m->files[i];
		struct plan_file *pf;
		char *name = NULL, *payload_rel = NULL, *src = NULL, *dest_dir = NULL;
		uint8_t sha256[32];
		uint64_t size = 0;

		s = offserv_path_sanitize(f->name, &name, err, errlen);
		if (OFFSERV_FAILED(s))
			goto out;
		if (asprintf(&payload_rel, "%s/%s", pc->key_form, name) < 0) {
			free(name);
			s = OFFSERV_E_OUTOFMEMORY;
			goto out;
		}
		src = find_ci(dir, payload_rel);
		if (!src) {
			snprintf(err, errlen, "the package has no payload %s for component %s",
			         payload_rel, cid->name);
			free(name);
			free(payload_rel);
			s = OFFSERV_CBS_E_SOURCE_MISSING;
			goto out;
		}
		free(payload_rel);
		const struct verified *seen = verified_find(r, src, f);
		if (seen) {
			size = seen->size;
			memcpy(sha256, seen->sha256, 32);
		} else {
			s = verify_digest(src, f, &size, sha256, err, errlen);
			if (OFFSERV_FAILED(s)) {
				free(name);
				free(src);
				goto out;
			}
			verified_add(r, src, f, size, sha256);
		}
		pf = grow(&p->files, &p->n_files, sizeof(*pf));
		if (!pf) {
			free(name);
			free(src);
			s = OFFSERV_E_OUTOFMEMORY;
			goto out;
		}
		pc->n_files++;
		pf->src = src;
		memcpy(pf->sha256, sha256, 32);
		pf->name = strdup(name);
		if (!pf->name) {
			free(name);
			s = OFFSERV_E_OUTOFMEMORY;
			goto out;
		}
		p->bytes += size;
		if (asprintf(&pf->store_path, "Windows/WinSxS/%s/%s", pc->key_form, name) < 0) {
			free(name);
			s = OFFSERV_E_OUTOFMEMORY;
			goto out;
		}
		if (f->destination_path && *f->destination_path) {
			s = offserv_resolve_destination(f->destination_path, &dest_dir, err, errlen);
			if (OFFSERV_FAILED(s)) {
				char inner[768];
				snprintf(inner, sizeof(inner), "%s", err);
				snprintf(err, errlen, "%s: file %s: %s", man_rel, f->name, inner);
				free(name);
				goto out;
			}
			if (asprintf(&pf->dest_path, "%s%s%s", dest_dir, *dest_dir ? "/" : "",
			             name) < 0) {
				free(dest_dir);
				free(name);
				s = OFFSERV_E_OUTOFMEMORY;
				goto out;
			}
			free(dest_dir);
		}
		free(name);
		/* A replaced file keeps its descriptor and attributes; a new one
		 * gets the descriptor its manifest names. */
		if (pf->dest_path && target_stat_file(r, ix, pf->dest_path, &pf->sd, &pf->sd_len,
		                                      &pf->attributes)) {
			/* kept: pf->sd is NULL where the target has no descriptor to give */
		} else {
			const struct offserv_manifest_sd *sd =
				f->sd_name ? offserv_manifest_find_sd(m, f->sd_name) : NULL;
			const char *sddl = sd ? sd->sddl : offserv_sddl_wrp_file_default();

			if (f->sd_name && !sd) {
				snprintf(err, errlen, "%s: file %s names security descriptor %s, which the manifest does not define",
				         man_rel, f->name, f->sd_name);
				s = OFFSERV_CBS_E_INVALID_PACKAGE;
				goto out;
			}
			s = offserv_sddl_to_sd(sddl, &pf->sd, &pf->sd_len, err, errlen);
			if (OFFSERV_FAILED(s))
				goto out;
			pf->attributes = FILE_ATTRIBUTE_ARCHIVE;
		}
	}

	for (size_t i = 0; i < m->n_regkeys; i++) {
		const struct offserv_manifest_regkey *k = &m->regkeys[i];
		enum reg_hive hive;
		char *path = NULL;

		s = map_registry_key(k->key_name, &hive, &path, err, errlen);
		if (OFFSERV_FAILED(s))
			goto out;
		if (hive == REG_SYSTEM && !ix->system) {
			snprintf(err, errlen, "registry key %s needs the SYSTEM hive, which index %d lacks",
			         k->key_name, ix->index);
			free(path);
			s = OFFSERV_CBS_E_IMAGE_UNSERVICEABLE;
			goto out;
		}
		for (size_t j = 0; j <= k->n_values; j++) {
			struct plan_value *pv;
			/* j == n_values: the key itself, even without values */
			if (j == k->n_values && k->n_values > 0)
				break;
			pv = grow(&p->values, &p->n_values, sizeof(*pv));
			if (!pv) {
				free(path);
				s = OFFSERV_E_OUTOFMEMORY;
				goto out;
			}
			pv->hive = hive;
			pv->key = strdup(path);
			if (j < k->n_values) {
				const struct offserv_manifest_regvalue *v = &k->values[j];
				if (v->len > OFFSERV_HIVE_MAX_VALUE_LEN) {
					snprintf(err, errlen, "registry value %s\\%s is %zu bytes, over the %u bytes offserv can write",
					         k->key_name, v->name, v->len, OFFSERV_HIVE_MAX_VALUE_LEN);
					free(path);
					s = OFFSERV_E_NOT_SUPPORTED;
					goto out;
				}
				pv->name = strdup(v->name ? v->name : "");
				pv->type = (uint32_t)v->type;
				pv->len = v->len;
				pv->data = malloc(v->len ? v->len : 1);
				if (pv->data && v->len)
					memcpy(pv->data, v->data, v->len);
			}
		}
		free(path);
	}
out:
	offserv_manifest_free(m);
	free(key_form);
	free(mkey);
	free(man_rel);
	free(man_path);
	free(man_data);
	return s;
}

static offserv_status plan_updates(struct run *r, struct index_state *ix, struct plan *p,
                                   const char *dir, const struct offserv_mum *mum, int depth,
                                   char *err, size_t errlen)
{
	offserv_status s;

	if (depth > NESTED_DEPTH_MAX) {
		snprintf(err, errlen, "package manifests nest deeper than %d levels", NESTED_DEPTH_MAX);
		return OFFSERV_CBS_E_INVALID_PACKAGE;
	}
	for (size_t i = 0; i < mum->n_updates; i++) {
		const struct offserv_mum_update *u = &mum->updates[i];

		if (u->kind == OFFSERV_UPDATE_COMPONENT) {
			s = plan_component(r, ix, p, dir, &u->id, err, errlen);
			if (OFFSERV_FAILED(s))
				return s;
		} else if (u->kind == OFFSERV_UPDATE_PACKAGE) {
			char *ident = offserv_identity_package_string(&u->id), *rel = NULL, *path;
			struct offserv_mum *nested = NULL;

			if (!ident || asprintf(&rel, "%s.mum", ident) < 0) {
				free(ident);
				return OFFSERV_E_OUTOFMEMORY;
			}
			path = find_ci(dir, rel);
			if (!path) {
				snprintf(err, errlen, "the package has no manifest %s for its update %s", rel,
				         u->name ? u->name : ident);
				free(ident);
				free(rel);
				return OFFSERV_CBS_E_SOURCE_MISSING;
			}
			free(ident);
			free(rel);
			s = offserv_mum_load(path, &nested, err, errlen);
			free(path);
			if (OFFSERV_FAILED(s))
				return s;
			s = plan_updates(r, ix, p, dir, nested, depth + 1, err, errlen);
			offserv_mum_free(nested);
			if (OFFSERV_FAILED(s))
				return s;
		} else {
			snprintf(err, errlen, "update %s is a driver; drivers cannot be installed offline yet",
			         u->name ? u->name : "(unnamed)");
			return OFFSERV_E_NOT_SUPPORTED;
		}
	}
	return OFFSERV_OK;
}

/* ---------------------------------------------------------------------- */
/* Hives                                                                   */

static offserv_status open_hive(struct run *r, struct index_state *ix, const char *name,
                                int required, struct offserv_hive **h, char **local)
{
	char *image_path = NULL;
	offserv_status s;

	if (asprintf(&image_path, "Windows/System32/config/%s", name) < 0)
		return OFFSERV_E_OUTOFMEMORY;
	s = target_fetch(r, ix, image_path, ix->work, local);
	free(image_path);
	if (OFFSERV_FAILED(s)) {
		if (!required && (s == OFFSERV_E_FILE_NOT_FOUND || s == OFFSERV_E_PATH_NOT_FOUND)) {
			r->err[0] = '\0';
			return OFFSERV_OK;
		}
		if (s == OFFSERV_E_FILE_NOT_FOUND || s == OFFSERV_E_PATH_NOT_FOUND) {
			snprintf(r->err, sizeof(r->err),
			         "%s index %d is not a Windows image: it has no Windows\\System32\\config\\%s hive",
			         r->target, ix->index, name);
			return OFFSERV_CBS_E_IMAGE_UNSERVICEABLE;
		}
		return s;
	}
	s = offserv_hive_open(*local, OFFSERV_HIVE_WRITE, h, r->err, sizeof(r->err));
	if (OFFSERV_FAILED(s) && s == OFFSERV_E_BAD_FORMAT)
		s = OFFSERV_CBS_E_IMAGE_UNSERVICEABLE;
	return s;
}

/*
 * When no installed package tells the servicing stack's version (a fresh
 * image: the stack came with the Foundation package), take the highest
 * version listed under Component Based Servicing\Version, where Windows
 * records each stack it has, and let the applicability check see it as an
 * installed Microsoft-Windows-ServicingStack.  The entry is the engine's
 * own; it is never written to the image.
 */
static offserv_status stack_from_version_key(struct run *r, struct index_state *ix)
{
	struct offserv_installed_package *ip;
	struct offserv_identity id;
	offserv_hive_key k;
	char **names = NULL, ver[32], *best = NULL;
	size_t n = 0;
	offserv_status s;

	(void)r;
	if (offserv_image_servicing_stack_version(ix->installed, ix->n_installed, ver) == 0)
		return OFFSERV_OK;
	if (OFFSERV_FAILED(offserv_hive_find(ix->software, 0, CBS_KEY "\\Version", &k, NULL, 0)) ||
	    OFFSERV_FAILED(offserv_hive_value_names(ix->software, k, &names, &n, NULL, 0)))
		return OFFSERV_OK;
	for (size_t i = 0; i < n; i++) {
		unsigned a, b, c, d;
		char tail;

		if (sscanf(names[i], "%u.%u.%u.%u%c", &a, &b, &c, &d, &tail) != 4)
			continue;
		if (!best || offserv_version_compare(best, names[i]) < 0)
			best = names[i];
	}
	if (!best) {
		offserv_hive_free_names(names);
		return OFFSERV_OK;
	}
	memset(&id, 0, sizeof(id));
	id.name = (char *)SERVICING_STACK_NAME;
	id.token = (char *)"31bf3856ad364e35";
	id.arch = (char *)(strcmp(ix->arch, "x64") == 0 ? "amd64" : ix->arch);
	id.language = (char *)"neutral";
	id.version = best;
	ip = grow(&ix->installed, &ix->n_installed, sizeof(*ip));
	s = ip && (ip->identity = offserv_identity_package_string(&id)) ? OFFSERV_OK
	                                                               : OFFSERV_E_OUTOFMEMORY;
	if (OFFSERV_SUCCEEDED(s)) {
		ip->state = OFFSERV_STATE_INSTALLED;
		ix->stack_entry = ix->n_installed - 1;
	} else if (ip) {
		ix->n_installed--;
	}
	offserv_hive_free_names(names);
	return s;
}

/* The packages registered in SOFTWARE's Component Based Servicing\Packages. */
static offserv_status read_installed(struct run *r, struct index_state *ix)
{
	offserv_hive_key pk, k;
	char **names = NULL;
	size_t n = 0;
	offserv_status s;

	s = offserv_hive_find(ix->software, 0, CBS_KEY "\\Packages", &pk, NULL, 0);
	if (s == OFFSERV_E_FILE_NOT_FOUND)
		return OFFSERV_OK;
	if (OFFSERV_FAILED(s))
		return s;
	s = offserv_hive_subkeys(ix->software, pk, &names, &n, r->err, sizeof(r->err));
	if (OFFSERV_FAILED(s))
		return s;
	for (size_t i = 0; i < n; i++) {
		struct offserv_installed_package *ip;
		uint32_t state = 0;

		if (OFFSERV_FAILED(offserv_hive_find(ix->software, pk, names[i], &k, NULL, 0)) ||
		    OFFSERV_FAILED(offserv_hive_get_dword(ix->software, k, "CurrentState", &state,
		                                          NULL, 0)))
			continue;
		ip = grow(&ix->installed, &ix->n_installed, sizeof(*ip));
		if (!ip) {
			offserv_hive_free_names(names);
			return OFFSERV_E_OUTOFMEMORY;
		}
		ip->identity = strdup(names[i]);
		ip->state = state;
	}
	offserv_hive_free_names(names);
	return stack_from_version_key(r, ix);
}

static offserv_status set_installed_state(struct index_state *ix, const char *identity,
                                          uint32_t state)
{
	struct offserv_installed_package *ip;

	for (size_t i = 0; i < ix->n_installed; i++) {
		if (strcasecmp(ix->installed[i].identity, identity) == 0) {
			ix->installed[i].state = state;
			return OFFSERV_OK;
		}
	}
	ip = grow(&ix->installed, &ix->n_installed, sizeof(*ip));
	if (!ip)
		return OFFSERV_E_OUTOFMEMORY;
	ip->identity = strdup(identity);
	ip->state = state;
	return ip->identity ? OFFSERV_OK : OFFSERV_E_OUTOFMEMORY;
}

/* ---------------------------------------------------------------------- */
/* Staging a plan                                                          */

/*
 * The COMPONENTS hive.  What is public about it (WitherOrNot/cbs-docs,
 * "CBS internals"; no Microsoft documentation exists):
 *
 *   DerivedData\Components\<component key form>
 *     S256H          SHA-256 of the uncompressed component manifest (32 bytes)
 *     identity       the component's identity, "expanded"; Windows stores a
 *                    binary encoding that is not documented
 *     c!<key form>   set when the component is pre-staged; the notes name
 *                    the value after a key form without saying whose
 *     f!<file>       one per file of the component, set when it is staged;
 *                    the data is not documented
 *     CF             flags (staged, manifest compression): not documented
 *   CanonicalData\Deployments\<deployment key form>
 *     appid              the deployment's identity, expanded
 *     CatalogThumbprint  SHA-256 of the uncompressed deployment manifest
 *     p!<package key form>  the package pinning the deployment
 *     s!<package key form>  the deployment is staged
 *
 * The reading used here, and by the fixture generator so that both agree:
 * identity and appid hold the identity as text ("Name, Culture=neutral,
 * Version=..., PublicKeyToken=..., ProcessorArchitecture=...,
 * versionScope=nonSxS", attribute values as the manifest spells them),
 * without a terminator; c! names the key form of the package that owns the
 * component (its identity as the .mum states it); f!<file> holds the
 * file's SHA-256; the package is its own deployment, keyed by the package
 * key form, with p!, s! and, once installed (not pending), i! (the letter
 * other notes list beside p! and s!) holding no data.  CF is not written:
 * a wrong value would be worse than none.  Windows tolerates these values
 * when it rebuilds derived data; whether a real servicing stack reads them
 * back as we write them is not known.
 */

/* The lower-case key form of @p id (malloc'd), NULL on failure. */
static char *lower_key_form(const struct offserv_identity *id)
{
	char *k = offserv_identity_key_form(id);

	for (char *c = k; c && *c; c++)
		*c = (char)tolower((unsigned char)*c);
	return k;
}

static offserv_status register_component(struct run *r, struct index_state *ix,
                                         const struct plan *p, const struct plan_component *c)
{
	char *path = NULL, *vname = NULL, *pkf = lower_key_form(&p->mum->id);
	offserv_hive_key ck;
	offserv_status s;

	if (!pkf || asprintf(&path, "DerivedData\\Components\\%s", c->key_form) < 0) {
		free(pkf);
		return OFFSERV_E_OUTOFMEMORY;
	}
	s = offserv_hive_create(ix->components, 0, path, &ck, r->err, sizeof(r->err));
	if (OFFSERV_SUCCEEDED(s))
		s = offserv_hive_set_binary(ix->components, ck, "identity", c->identity_text,
		                            strlen(c->identity_text), r->err, sizeof(r->err));
	if (OFFSERV_SUCCEEDED(s))
		s = offserv_hive_set_binary(ix->components, ck, "S256H", c->manifest_sha256, 32,
		                            r->err, sizeof(r->err));
	if (OFFSERV_SUCCEEDED(s)) {
		if (asprintf(&vname, "c!%s", pkf) < 0)
			s = OFFSERV_E_OUTOFMEMORY;
		else
			s = offserv_hive_set_binary(ix->components, ck, vname, "", 0, r->err,
			                            sizeof(r->err));
		free(vname);
	}
	for (size_t j = 0; j < c->n_files && OFFSERV_SUCCEEDED(s); j++) {
		const struct plan_file *f = &p->files[c->first_file + j];

		if (asprintf(&vname, "f!%s", f->name) < 0) {
			s = OFFSERV_E_OUTOFMEMORY;
			break;
		}
		s = offserv_hive_set_binary(ix->components, ck, vname, f->sha256, 32, r->err,
		                            sizeof(r->err));
		free(vname);
	}
	free(pkf);
	free(path);
	return s;
}

static offserv_status register_deployment(struct run *r, struct index_state *ix,
                                          const struct plan *p, uint32_t state)
{
	char *kf = lower_key_form(&p->mum->id), *path = NULL, *appid = identity_text(&p->mum->id);
	static const char *const prefixes[] = {"p!", "s!", "i!"};
	uint8_t thumb[32];
	offserv_hive_key dk;
	offserv_status s;

	if (!kf || !appid || asprintf(&path, "CanonicalData\\Deployments\\%s", kf) < 0) {
		free(kf);
		free(appid);
		return OFFSERV_E_OUTOFMEMORY;
	}
	s = offserv_sha256_file(p->mum_src, thumb, NULL, r->err, sizeof(r->err));
	if (OFFSERV_SUCCEEDED(s))
		s = offserv_hive_create(ix->components, 0, path, &dk, r->err, sizeof(r->err));
	if (OFFSERV_SUCCEEDED(s))
		s = offserv_hive_set_binary(ix->components, dk, "appid", appid, strlen(appid), r->err,
		                            sizeof(r->err));
	if (OFFSERV_SUCCEEDED(s))
		s = offserv_hive_set_binary(ix->components, dk, "CatalogThumbprint", thumb, 32, r->err,
		                            sizeof(r->err));
	for (size_t i = 0; i < 3 && OFFSERV_SUCCEEDED(s); i++) {
		char *vname = NULL;

		if (i == 2 && state != OFFSERV_STATE_INSTALLED)
			break;
		if (asprintf(&vname, "%s%s", prefixes[i], kf) < 0) {
			s = OFFSERV_E_OUTOFMEMORY;
			break;
		}
		s = offserv_hive_set_binary(ix->components, dk, vname, "", 0, r->err, sizeof(r->err));
		free(vname);
	}
	free(kf);
	free(appid);
	free(path);
	return s;
}

/*
 * A new servicing stack: SOFTWARE's Component Based Servicing\Version and
 * COMPONENTS' ServicingStackVersions list each stack version with its
 * store folder; the index's stack version (for later packages of this run)
 * rises with it.
 */
static offserv_status register_servicing_stack(struct run *r, struct index_state *ix,
                                               const struct plan_component *c)
{
	char *folder = NULL;
	offserv_hive_key k;
	offserv_status s;

	if (asprintf(&folder, "%%SystemRoot%%\\WinSxS\\%s", c->key_form) < 0)
		return OFFSERV_E_OUTOFMEMORY;
	s = offserv_hive_create(ix->software, 0, CBS_KEY "\\Version", &k, r->err, sizeof(r->err));
	if (OFFSERV_SUCCEEDED(s))
		s = offserv_hive_set_expand_sz(ix->software, k, c->version, folder, r->err,
		                               sizeof(r->err));
	if (OFFSERV_SUCCEEDED(s) && ix->components) {
		s = offserv_hive_create(ix->components, 0, "ServicingStackVersions", &k, r->err,
		                        sizeof(r->err));
		if (OFFSERV_SUCCEEDED(s))
			s = offserv_hive_set_sz(ix->components, k, c->version, folder, r->err,
			                        sizeof(r->err));
	}
	free(folder);
	if (OFFSERV_SUCCEEDED(s) && ix->stack_entry != SIZE_MAX) {
		struct offserv_installed_package *ip = &ix->installed[ix->stack_entry];
		struct offserv_identity id;

		memset(&id, 0, sizeof(id));
		if (OFFSERV_SUCCEEDED(offserv_identity_parse_package_string(ip->identity, &id)) &&
		    offserv_version_compare(id.version, c->version) < 0) {
			char *nv;

			free(id.version);
			id.version = strdup(c->version);
			nv = id.version ? offserv_identity_package_string(&id) : NULL;
			if (!nv) {
				offserv_identity_clear(&id);
				return OFFSERV_E_OUTOFMEMORY;
			}
			free((char *)ip->identity);
			ip->identity = nv;
		}
		offserv_identity_clear(&id);
	}
	return s;
}

static offserv_status stage_plan(struct run *r, struct index_state *ix, struct plan *p,
                                 const struct offserv_engine_package *pkg, uint32_t state)
{
	char *err = r->err;
	size_t errlen = sizeof(r->err);
	offserv_status s = OFFSERV_OK;
	offserv_hive_key k, owners;
	uint64_t ft = offserv_filetime_now();
	char *path = NULL;
	uint8_t *wrp = NULL;
	size_t wrp_len = 0;

	s = offserv_sddl_to_sd(offserv_sddl_wrp_file_default(), &wrp, &wrp_len, err, errlen);
	if (OFFSERV_FAILED(s))
		return s;

	/* Component store, projections. */
	for (size_t i = 0; i < p->n_files; i++) {
		struct plan_file *f = &p->files[i];

		s = stage_op(ix, 0, f->store_path, f->src, f->sd, f->sd_len, f->attributes);
		if (OFFSERV_SUCCEEDED(s) && f->dest_path)
			s = stage_op(ix, 1, f->dest_path, f->store_path, NULL, 0, 0);
		if (OFFSERV_FAILED(s))
			goto out;
	}
	/* Manifests and component registration. */
	for (size_t i = 0; i < p->n_comps; i++) {
		struct plan_component *c = &p->comps[i];

		free(path);
		path = NULL;
		if (asprintf(&path, "Windows/WinSxS/Manifests/%s.manifest", c->key_form) < 0) {
			s = OFFSERV_E_OUTOFMEMORY;
			goto out;
		}
		s = stage_op(ix, 0, path, c->manifest_src, wrp, wrp_len, FILE_ATTRIBUTE_ARCHIVE);
		if (OFFSERV_FAILED(s))
			goto out;
		if (ix->components) {
			s = register_component(r, ix, p, c);
			if (OFFSERV_FAILED(s))
				goto out;
		}
		if (c->servicing_stack) {
			s = register_servicing_stack(r, ix, c);
			if (OFFSERV_FAILED(s))
				goto out;
		}
	}
	if (ix->components) {
		s = register_deployment(r, ix, p, state);
		if (OFFSERV_FAILED(s))
			goto out;
	}
	/* Registry keys the manifests declare. */
	for (size_t i = 0; i < p->n_values; i++) {
		struct plan_value *v = &p->values[i];
		struct offserv_hive *h = v->hive == REG_SYSTEM ? ix->system : ix->software;

		if (v->hive == REG_SYSTEM)
			s = offserv_hive_system_key(h, v->key, 1, &k, err, errlen);
		else
			s = offserv_hive_create(h, 0, v->key, &k, err, errlen);
		if (OFFSERV_FAILED(s))
			goto out;
		if (v->name) {
			s = offserv_hive_set_value(h, k, v->name, v->type, v->data, v->len, err, errlen);
			if (OFFSERV_FAILED(s))
				goto out;
		}
	}
	/* servicing\Packages: the manifest and its catalogue. */
	free(path);
	path = NULL;
	if (asprintf(&path, "Windows/servicing/Packages/%s.mum", p->identity) < 0) {
		s = OFFSERV_E_OUTOFMEMORY;
		goto out;
	}
	s = stage_op(ix, 0, path, p->mum_src, wrp, wrp_len, FILE_ATTRIBUTE_ARCHIVE);
	if (OFFSERV_FAILED(s))
		goto out;
	if (p->cat_src) {
		free(path);
		path = NULL;
		if (asprintf(&path, "Windows/servicing/Packages/%s.cat", p->identity) < 0) {
			s = OFFSERV_E_OUTOFMEMORY;
			goto out;
		}
		s = stage_op(ix, 0, path, p->cat_src, wrp, wrp_len, FILE_ATTRIBUTE_ARCHIVE);
		if (OFFSERV_FAILED(s))
			goto out;
	}
	/* Package registration, as DISM writes it. */
	free(path);
	path = NULL;
	if (asprintf(&path, CBS_KEY "\\Packages\\%s", p->identity) < 0) {
		s = OFFSERV_E_OUTOFMEMORY;
		goto out;
	}
	s = offserv_hive_create(ix->software, 0, path, &k, err, errlen);
	if (OFFSERV_SUCCEEDED(s))
		s = offserv_hive_set_dword(ix->software, k, "CurrentState", state, err, errlen);
	if (OFFSERV_SUCCEEDED(s))
		s = offserv_hive_set_sz(ix->software, k, "InstallClient", "DISM Package Manager Provider",
		                        err, errlen);
	if (OFFSERV_SUCCEEDED(s)) {
		char *iname = NULL;
		if (asprintf(&iname, "%s.mum", p->identity) < 0) {
			s = OFFSERV_E_OUTOFMEMORY;
			goto out;
		}
		s = offserv_hive_set_sz(ix->software, k, "InstallName", iname, err, errlen);
		free(iname);
	}
	if (OFFSERV_SUCCEEDED(s))
		s = offserv_hive_set_sz(ix->software, k, "InstallLocation",
		                        pkg->source ? pkg->source : pkg->dir, err, errlen);
	if (OFFSERV_SUCCEEDED(s))
		s = offserv_hive_set_dword(ix->software, k, "InstallTimeHigh", (uint32_t)(ft >> 32), err,
		                           errlen);
	if (OFFSERV_SUCCEEDED(s))
		s = offserv_hive_set_dword(ix->software, k, "InstallTimeLow", (uint32_t)ft, err, errlen);
	if (OFFSERV_SUCCEEDED(s))
		s = offserv_hive_set_sz(ix->software, k, "InstallUser", "S-1-5-18", err, errlen);
	if (OFFSERV_SUCCEEDED(s))
		s = offserv_hive_set_dword(ix->software, k, "SelfUpdate", 0, err, errlen);
	if (OFFSERV_SUCCEEDED(s))
		s = offserv_hive_set_dword(ix->software, k, "Visibility", 1, err, errlen);
	if (OFFSERV_SUCCEEDED(s))
		s = offserv_hive_create(ix->software, k, "Owners", &owners, err, errlen);
	if (OFFSERV_SUCCEEDED(s))
		s = offserv_hive_set_dword(ix->software, owners, p->identity, 0x20070, err, errlen);
	if (OFFSERV_FAILED(s))
		goto out;
	/* PackageIndex: name~token~arch~lang~0.0.0.0 -> this version. */
	{
		struct offserv_identity idx_id = p->mum->id;
		char *idx_name;
		offserv_hive_key ik;

		idx_id.version = (char *)"0.0.0.0";
		idx_name = offserv_identity_package_string(&idx_id);
		if (!idx_name) {
			s = OFFSERV_E_OUTOFMEMORY;
			goto out;
		}
		free(path);
		path = NULL;
		if (asprintf(&path, CBS_KEY "\\PackageIndex\\%s", idx_name) < 0) {
			free(idx_name);
			s = OFFSERV_E_OUTOFMEMORY;
			goto out;
		}
		free(idx_name);
		s = offserv_hive_create(ix->software, 0, path, &ik, err, errlen);
		if (OFFSERV_SUCCEEDED(s))
			s = offserv_hive_set_dword(ix->software, ik, p->identity, 0, err, errlen);
		if (OFFSERV_FAILED(s))
			goto out;
	}
	s = set_installed_state(ix, p->identity, state);
	ix->changed = 1;
out:
	free(path);
	free(wrp);
	return s;
}

/* Mark installed packages of the same family with a lower version superseded. */
static offserv_status supersede_older(struct run *r, struct index_state *ix, struct plan *p)
{
	const struct offserv_identity *nid = &p->mum->id;
	offserv_status s = OFFSERV_OK;

	for (size_t i = 0; i < ix->n_installed; i++) {
		struct offserv_installed_package *ip = &ix->installed[i];
		struct offserv_identity old;
		char *path = NULL;
		offserv_hive_key k;

		if (i == ix->stack_entry ||
		    (ip->state != OFFSERV_STATE_INSTALLED && ip->state != OFFSERV_STATE_INSTALL_PENDING))
			continue;
		memset(&old, 0, sizeof(old));
		if (OFFSERV_FAILED(offserv_identity_parse_package_string(ip->identity, &old)))
			continue;
		if (strcasecmp(old.name, nid->name) == 0 &&
		    strcasecmp(old.arch ? old.arch : "", nid->arch ? nid->arch : "") == 0 &&
		    offserv_version_compare(old.version, nid->version) < 0) {
			if (asprintf(&path, CBS_KEY "\\Packages\\%s", ip->identity) < 0) {
				offserv_identity_clear(&old);
				return OFFSERV_E_OUTOFMEMORY;
			}
			s = offserv_hive_find(ix->software, 0, path, &k, r->err, sizeof(r->err));
			if (OFFSERV_SUCCEEDED(s))
				s = offserv_hive_set_dword(ix->software, k, "CurrentState",
				                           OFFSERV_STATE_SUPERSEDED, r->err, sizeof(r->err));
			free(path);
			if (OFFSERV_FAILED(s)) {
				offserv_identity_clear(&old);
				return s;
			}
			ip->state = OFFSERV_STATE_SUPERSEDED;
			logf_both(r, OFFSERV_LOG_INFO, "Package %s is superseded by %s", ip->identity,
			          p->identity);
		}
		offserv_identity_clear(&old);
	}
	return s;
}

/* pending.xml and the identifier COMPONENTS must carry with it. */
static offserv_status write_pending(struct run *r, struct index_state *ix)
{
	char guid[37], ident[33], *xml = NULL, *local = NULL;
	uint8_t *u16 = NULL;
	size_t u16_len = 0, j = 0;
	offserv_status s;
	uint8_t *wrp = NULL;
	size_t wrp_len = 0;

	if (target_exists(r, ix, "Windows/WinSxS/pending.xml")) {
		/* Windows already has work queued; it will run ours with it. */
		return OFFSERV_OK;
	}
	s = offserv_guid_generate(guid);
	if (OFFSERV_FAILED(s))
		return s;
	for (size_t i = 0; guid[i] && j < 32; i++)
		if (guid[i] != '-')
			ident[j++] = guid[i];
	ident[j] = '\0';
	if (asprintf(&xml,
	             "<?xml version='1.0' encoding='utf-8'?>\r\n"
	             "<PendingTransaction Version=\"3.1\" Identifier=\"%s\">"
	             "<Transactions></Transactions><ChangeList></ChangeList>"
	             "<POQ postAction=\"reboot\"></POQ><POQ></POQ>"
	             "<InstallerQueue Length=\"0x00000000\"></InstallerQueue>"
	             "<RollbackInformation><AdminHints></AdminHints></RollbackInformation>"
	             "</PendingTransaction>\r\n",
	             ident) < 0)
		return OFFSERV_E_OUTOFMEMORY;
	local = offserv_path_join(ix->work, "pending.xml");
	s = local ? offserv_write_file_atomic(local, xml, strlen(xml), 0644, r->err, sizeof(r->err))
	          : OFFSERV_E_OUTOFMEMORY;
	if (OFFSERV_SUCCEEDED(s))
		s = offserv_sddl_to_sd(offserv_sddl_wrp_file_default(), &wrp, &wrp_len, r->err,
		                       sizeof(r->err));
	if (OFFSERV_SUCCEEDED(s))
		s = target_add_file(r, ix, "Windows/WinSxS/pending.xml", local, wrp, wrp_len,
		                    FILE_ATTRIBUTE_ARCHIVE);
	if (OFFSERV_SUCCEEDED(s) && ix->components) {
		s = offserv_utf8_to_utf16le(ident, &u16, &u16_len);
		/* The identifier without its terminator, as Windows stores it. */
		if (OFFSERV_SUCCEEDED(s))
			s = offserv_hive_set_binary(ix->components, offserv_hive_root(ix->components),
			                            "PendingXmlIdentifier", u16, u16_len - 2, r->err,
			                            sizeof(r->err));
	}
	free(u16);
	free(wrp);
	free(xml);
	free(local);
	return s;
}

/* ---------------------------------------------------------------------- */
/* One package on one index                                                */

static enum offserv_outcome verdict_outcome(enum offserv_applicability v)
{
	switch (v) {
	case OFFSERV_APPLICABLE:
		return OFFSERV_OUTCOME_INSTALLED;
	case OFFSERV_ALREADY_INSTALLED:
		return OFFSERV_OUTCOME_ALREADY_INSTALLED;
	case OFFSERV_SUPERSEDED:
		return OFFSERV_OUTCOME_SUPERSEDED;
	case OFFSERV_NEEDS_NEWER_SSU:
		return OFFSERV_OUTCOME_FAILED;
	default:
		return OFFSERV_OUTCOME_NOT_APPLICABLE;
	}
}

/* Returns a failure only for a package that failed (not for a verdict). */
static offserv_status service_package(struct run *r, struct index_state *ix, size_t i)
{
	const struct offserv_engine_package *pkg = &r->pkgs[i];
	const char *mum_name = pkg->mum_name ? pkg->mum_name : "update.mum";
	struct plan p;
	char *mum_path = NULL;
	offserv_status s;
	struct offserv_applicability_result ar;
	uint32_t state;

	memset(&p, 0, sizeof(p));
	r->err[0] = '\0';
	mum_path = offserv_path_join(pkg->dir, mum_name);
	if (!mum_path)
		return OFFSERV_E_OUTOFMEMORY;
	s = offserv_mum_load(mum_path, &p.mum, r->err, sizeof(r->err));
	if (OFFSERV_FAILED(s)) {
		add_result(r, ix->index, i, NULL, OFFSERV_OUTCOME_FAILED, s, "%s", r->err);
		logf_both(r, OFFSERV_LOG_ERROR, "Failed to open package %s: %s [HRESULT = 0x%08x - %s]",
		          mum_path, r->err, s, offserv_status_name(s));
		free(mum_path);
		return s;
	}
	p.mum_src = mum_path;
	p.identity = offserv_identity_package_string(&p.mum->id);
	if (!p.identity) {
		plan_free(&p);
		return OFFSERV_E_OUTOFMEMORY;
	}
	if (!r->pkg_identity[i])
		r->pkg_identity[i] = strdup(p.identity);
	if (!safe_name(p.identity)) {
		s = OFFSERV_CBS_E_INVALID_PACKAGE;
		add_result(r, ix->index, i, p.identity, OFFSERV_OUTCOME_FAILED, s,
		           "%s: the package identity is not a valid name", mum_path);
		plan_free(&p);
		return s;
	}
	if (report_progress(r, ix->index, i, p.identity, "Applicability", 0.0)) {
		plan_free(&p);
		return OFFSERV_E_ABORT;
	}

	memset(&ar, 0, sizeof(ar));
	s = offserv_applicability_check_mum(ix->installed, ix->n_installed, ix->arch, p.mum, &ar);
	if (OFFSERV_FAILED(s)) {
		plan_free(&p);
		return s;
	}
	/* DISM /IgnoreCheck: install even when no parent is present. */
	if (ar.verdict == OFFSERV_NOT_APPLICABLE_PARENT && r->o->ignore_check)
		ar.verdict = OFFSERV_APPLICABLE;
	if (ar.verdict != OFFSERV_APPLICABLE) {
		enum offserv_outcome oc = verdict_outcome(ar.verdict);
		add_result(r, ix->index, i, p.identity, oc, ar.hr, "%s", ar.explain);
		logf_both(r, oc == OFFSERV_OUTCOME_FAILED ? OFFSERV_LOG_ERROR : OFFSERV_LOG_INFO,
		          "Package %s on index %d: %s [HRESULT = 0x%08x - %s]", p.identity, ix->index,
		          ar.explain, ar.hr, offserv_status_name(ar.hr));
		plan_free(&p);
		/* Without continue-on-error a package that cannot apply fails the
		 * run (as DISM fails with 0x800f081e); already installed and
		 * superseded packages are skipped, never a failure. */
		if (oc == OFFSERV_OUTCOME_FAILED ||
		    (oc == OFFSERV_OUTCOME_NOT_APPLICABLE && !r->o->continue_on_error))
			return ar.hr;
		return OFFSERV_OK;
	}

	if (report_progress(r, ix->index, i, p.identity, "Verifying", 0.1)) {
		plan_free(&p);
		return OFFSERV_E_ABORT;
	}
	{
		char *cat = NULL, *rel = NULL;
		size_t n = strlen(mum_name);
		if (n > 4 && asprintf(&rel, "%.*s.cat", (int)(n - 4), mum_name) >= 0) {
			cat = find_ci(pkg->dir, rel);
			free(rel);
		}
		p.cat_src = cat;
	}
	s = plan_updates(r, ix, &p, pkg->dir, p.mum, 0, r->err, sizeof(r->err));
	if (OFFSERV_SUCCEEDED(s) && p.needs_online_work && r->o->prevent_pending) {
		snprintf(r->err, sizeof(r->err),
		         "the package needs work only a running Windows can do (%s) and pending operations were refused",
		         p.online_reason ? p.online_reason : "online work");
		s = OFFSERV_CBS_E_PENDING;
	}
	if (OFFSERV_FAILED(s)) {
		add_result(r, ix->index, i, p.identity, OFFSERV_OUTCOME_FAILED, s, "%s", r->err);
		logf_both(r, OFFSERV_LOG_ERROR,
		          "Failed to install package %s on index %d: %s [HRESULT = 0x%08x - %s]",
		          p.identity, ix->index, r->err, s, offserv_status_name(s));
		plan_free(&p);
		return s;
	}
	if (report_progress(r, ix->index, i, p.identity, "Staging", 0.6)) {
		plan_free(&p);
		return OFFSERV_E_ABORT;
	}
	state = p.needs_online_work ? OFFSERV_STATE_INSTALL_PENDING : OFFSERV_STATE_INSTALLED;
	s = stage_plan(r, ix, &p, pkg, state);
	if (OFFSERV_SUCCEEDED(s))
		s = supersede_older(r, ix, &p);
	if (OFFSERV_SUCCEEDED(s) && p.needs_online_work) {
		ix->pending_needed = 1;
		r->report->reboot_required = 1;
	}
	if (OFFSERV_FAILED(s)) {
		/* Staging is not undoable piecemeal: the index is abandoned. */
		add_result(r, ix->index, i, p.identity, OFFSERV_OUTCOME_FAILED, s, "%s", r->err);
		logf_both(r, OFFSERV_LOG_ERROR, "Failed to stage package %s on index %d: %s",
		          p.identity, ix->index, r->err);
		plan_free(&p);
		return s == OFFSERV_E_OUTOFMEMORY ? s : OFFSERV_E_UNEXPECTED;
	}
	add_result(r, ix->index, i, p.identity,
	           p.needs_online_work ? OFFSERV_OUTCOME_INSTALL_PENDING : OFFSERV_OUTCOME_INSTALLED,
	           p.needs_online_work ? OFFSERV_S_REBOOT_REQUIRED : OFFSERV_OK,
	           p.needs_online_work ? "installed; work remains for the first boot: %s"
	                               : "installed%s",
	           p.needs_online_work && p.online_reason ? p.online_reason : "");
	logf_both(r, OFFSERV_LOG_INFO, "Installed package %s on index %d (%zu files, %s)",
	          p.identity, ix->index, p.n_files, offserv_package_state_name(state));
	plan_free(&p);
	return OFFSERV_OK;
}

/* ---------------------------------------------------------------------- */
/* One index                                                               */

static void store_view_free(struct store_view *v);

static void index_state_free(struct index_state *ix)
{
	offserv_hive_close(ix->software);
	offserv_hive_close(ix->system);
	offserv_hive_close(ix->components);
	offserv_wim_changeset_free(ix->cs);
	offserv_dirtree_changeset_free(ix->dcs);
	free(ix->software_local);
	free(ix->system_local);
	free(ix->components_local);
	for (size_t i = 0; i < ix->n_installed; i++)
		free((char *)ix->installed[i].identity);
	free(ix->installed);
	for (size_t i = 0; i < ix->n_ops; i++) {
		free(ix->ops[i].path);
		free(ix->ops[i].src);
		free(ix->ops[i].sd);
	}
	free(ix->ops);
	for (size_t i = 0; i < ix->n_deletes; i++)
		free(ix->deletes[i]);
	free(ix->deletes);
	store_view_free(ix->view);
	if (ix->work)
		offserv_rmtree(ix->work, NULL, 0);
	free(ix->work);
	free(ix->arch);
	memset(ix, 0, sizeof(*ix));
}

static offserv_status commit_hive(struct run *r, struct index_state *ix, struct offserv_hive *h,
                                  const char *local, const char *name)
{
	char *image_path = NULL, *out = NULL;
	offserv_status s;

	if (!h)
		return OFFSERV_OK;
	if (asprintf(&out, "%s.new", local) < 0 ||
	    asprintf(&image_path, "Windows/System32/config/%s", name) < 0) {
		free(out);
		return OFFSERV_E_OUTOFMEMORY;
	}
	s = offserv_hive_commit(h, out, r->err, sizeof(r->err));
	if (OFFSERV_SUCCEEDED(s))
		s = target_add_file(r, ix, image_path, out, NULL, 0, 0);
	free(out);
	free(image_path);
	return s;
}

/* "AMD64" (PROCESSOR_ARCHITECTURE, or an identity's field) as the engine spells it. */
static char *arch_word(const char *a, size_t n)
{
	if ((n == 5 && strncasecmp(a, "amd64", 5) == 0) || (n == 3 && strncasecmp(a, "x64", 3) == 0))
		return strdup("x64");
	if (n == 5 && strncasecmp(a, "arm64", 5) == 0)
		return strdup("arm64");
	if (n == 3 && strncasecmp(a, "x86", 3) == 0)
		return strdup("x86");
	return NULL;
}

/*
 * The architecture of a directory tree (it has no WIM XML to say it): the
 * SYSTEM hive's PROCESSOR_ARCHITECTURE, else the Foundation package's
 * identity as SOFTWARE registers it (Name~Token~Arch~Lang~Version), else x64.
 */
static char *dir_arch(struct index_state *ix)
{
	char *a = NULL, *out = NULL, **names = NULL;
	size_t n = 0;
	offserv_hive_key k;

	if (ix->system &&
	    offserv_hive_system_key(ix->system,
	                            "CurrentControlSet\\Control\\Session Manager\\Environment", 0,
	                            &k, NULL, 0) == OFFSERV_OK &&
	    offserv_hive_get_string(ix->system, k, "PROCESSOR_ARCHITECTURE", &a, NULL, 0) ==
	            OFFSERV_OK) {
		out = arch_word(a, strlen(a));
		free(a);
		if (out)
			return out;
	}
	if (ix->software &&
	    offserv_hive_find(ix->software, 0, CBS_KEY "\\Packages", &k, NULL, 0) == OFFSERV_OK &&
	    offserv_hive_subkeys(ix->software, k, &names, &n, NULL, 0) == OFFSERV_OK) {
		for (size_t i = 0; i < n && !out; i++) {
			const char *id = names[i], *t1, *t2, *t3;

			if (strncasecmp(id, "Microsoft-Windows-Foundation-Package~", 37) == 0 &&
			    (t1 = strchr(id, '~')) && (t2 = strchr(t1 + 1, '~')) &&
			    (t3 = strchr(t2 + 1, '~')))
				out = arch_word(t2 + 1, (size_t)(t3 - t2 - 1));
		}
		offserv_hive_free_names(names);
		if (out)
			return out;
	}
	return strdup("x64");
}

/*
 * Read what every operation needs of an index: its scratch folder, its
 * architecture, the three hives (scratch copies) and the registered
 * packages.  @p ix is freed by the caller with index_state_free().
 */
static offserv_status index_setup(struct run *r, struct index_state *ix, int index)
{
	struct offserv_wim_index wi;
	offserv_status s;
	char *name = NULL;

	memset(ix, 0, sizeof(*ix));
	ix->index = index;
	ix->stack_entry = SIZE_MAX;
	if (asprintf(&name, "index%d", index) < 0)
		return OFFSERV_E_OUTOFMEMORY;
	r->cur_index = index;
	ix->work = offserv_path_join(r->o->scratch_dir, name);
	free(name);
	if (!ix->work)
		return OFFSERV_E_OUTOFMEMORY;
	s = offserv_mkdir_p(ix->work, r->err, sizeof(r->err));
	if (OFFSERV_FAILED(s))
		return s;
	if (r->wim) {
		memset(&wi, 0, sizeof(wi));
		s = offserv_wim_get_index(r->wim, index, &wi, r->err, sizeof(r->err));
		if (OFFSERV_FAILED(s))
			return s;
		ix->arch = wi.base.arch ? strdup(wi.base.arch) : strdup("x64");
		offserv_wim_index_clear(&wi);
		logf_both(r, OFFSERV_LOG_INFO, "Servicing index %d of %s", index, r->target);
	} else {
		logf_both(r, OFFSERV_LOG_INFO, "Servicing the offline image %s", r->target);
	}
	s = open_hive(r, ix, "SOFTWARE", 1, &ix->software, &ix->software_local);
	if (OFFSERV_SUCCEEDED(s))
		s = open_hive(r, ix, "SYSTEM", 0, &ix->system, &ix->system_local);
	if (OFFSERV_SUCCEEDED(s))
		s = open_hive(r, ix, "COMPONENTS", 0, &ix->components, &ix->components_local);
	if (OFFSERV_SUCCEEDED(s) && !ix->arch && !(ix->arch = dir_arch(ix)))
		s = OFFSERV_E_OUTOFMEMORY;
	if (OFFSERV_SUCCEEDED(s))
		s = read_installed(r, ix);
	return s;
}

static offserv_status op_index(struct run *r, struct index_state *ix,
                               offserv_status *first_failure);

/* Remember the first failure; returns it as the run's status. */
static offserv_status service_index(struct run *r, int index, offserv_status *first_failure)
{
	struct index_state ix;
	offserv_status s;

	s = index_setup(r, &ix, index);
	if (OFFSERV_SUCCEEDED(s))
		s = target_changeset_new(r, &ix);
	if (OFFSERV_FAILED(s))
		goto out;

	if (r->op != RUN_INSTALL) {
		s = op_index(r, &ix, first_failure);
		if (s == OFFSERV_E_ABORT || r->cancelled) {
			s = OFFSERV_E_ABORT;
			goto out;
		}
		if (OFFSERV_FAILED(s))
			goto out;
	}
	for (size_t i = 0; r->op == RUN_INSTALL && i < r->n_pkgs; i++) {
		offserv_status ps = service_package(r, &ix, i);

		if (ps == OFFSERV_E_ABORT || r->cancelled) {
			s = OFFSERV_E_ABORT;
			goto out;
		}
		if (OFFSERV_FAILED(ps)) {
			if (!OFFSERV_FAILED(*first_failure))
				*first_failure = ps;
			if (ps == OFFSERV_E_UNEXPECTED || ps == OFFSERV_E_OUTOFMEMORY ||
			    !r->o->continue_on_error) {
				for (size_t j = i + 1; j < r->n_pkgs; j++)
					add_result(r, index, j, NULL, OFFSERV_OUTCOME_NOT_ATTEMPTED,
					           OFFSERV_E_ABORT,
					           "not attempted: an earlier package failed and continue-on-error is off");
				s = ps;
				goto out;
			}
		}
	}
	if (!ix.changed)
		goto out;
	if (ix.pending_needed) {
		s = write_pending(r, &ix);
		if (OFFSERV_FAILED(s))
			goto out;
	}
	report_progress(r, index, r->n_pkgs, NULL, "Writing registry", 0.0);
	s = flush_ops(r, &ix);
	if (OFFSERV_SUCCEEDED(s))
		s = commit_hive(r, &ix, ix.software, ix.software_local, "SOFTWARE");
	if (OFFSERV_SUCCEEDED(s) && ix.system)
		s = commit_hive(r, &ix, ix.system, ix.system_local, "SYSTEM");
	if (OFFSERV_SUCCEEDED(s) && ix.components)
		s = commit_hive(r, &ix, ix.components, ix.components_local, "COMPONENTS");
	if (OFFSERV_FAILED(s))
		goto out;
	if (report_progress(r, index, r->n_pkgs, NULL, "Applying", 0.3)) {
		s = OFFSERV_E_ABORT;
		goto out;
	}
	r->applying = 1;
	s = target_apply(r, &ix);
	r->applying = 0;
	if (OFFSERV_FAILED(s) && r->image_dir)
		r->dir_partial = 1;
	if (OFFSERV_SUCCEEDED(s))
		r->report->committed = -1; /* something to write */
out:
	if (OFFSERV_FAILED(s) && s != OFFSERV_E_ABORT && r->err[0])
		logf_both(r, OFFSERV_LOG_ERROR, "Servicing index %d failed: %s [HRESULT = 0x%08x - %s]",
		          index, r->err, s, offserv_status_name(s));
	index_state_free(&ix);
	return s;
}

/* ---------------------------------------------------------------------- */
/* The run                                                                 */

static int wim_progress(void *ctx, uint64_t done, uint64_t total, const char *what)
{
	struct run *r = ctx;
	struct offserv_engine_progress p = {
		.index = r->writing ? 0 : r->cur_index,
		.step = what,
		.bytes_done = done,
		.bytes_total = total,
		.n_packages = r->n_pkgs,
		.package = r->n_pkgs,
	};
	double frac = total ? (double)done / (double)total : 0.0, base, span;

	if (frac > 1.0)
		frac = 1.0;
	if (r->writing) {
		base = SHARE_INDEXES;
		span = 100.0 - SHARE_INDEXES;
		/* The data is most of the write; metadata and tables close it. */
		if (what && strcmp(what, "writing") == 0)
			frac *= 0.9;
		else if (what && strcmp(what, "metadata") == 0)
			frac = 0.9 + 0.1 * frac;
		else
			frac = 0.0;
	} else if (r->applying) {
		/* Applying the change set: only the update commands measure it. */
		base = index_base(r) + index_span(r) * PKG_SHARE;
		span = index_span(r) * (1.0 - PKG_SHARE);
		if (!what || strcmp(what, "updating") != 0)
			frac = 0.0;
	} else {
		/* Reading from the image (the hives): no step of its own. */
		base = r->last_percent;
		span = 0.0;
	}
	return emit_progress(r, &p, base + span * frac);
}

/* Whether an outcome stands for a change the commit makes. */
static int outcome_changes(enum offserv_outcome o)
{
	return o == OFFSERV_OUTCOME_INSTALLED || o == OFFSERV_OUTCOME_INSTALL_PENDING ||
	       o == OFFSERV_OUTCOME_REMOVED || o == OFFSERV_OUTCOME_CLEANED ||
	       o == OFFSERV_OUTCOME_REVERTED;
}

/* A cancelled run: every package of every index says so, unless it had a verdict. */
static void mark_cancelled(struct run *r)
{
	struct offserv_engine_report *rep = r->report;

	for (size_t i = 0; i < rep->n_results; i++) {
		struct offserv_engine_result *res = &rep->results[i];

		if (outcome_changes(res->outcome) ||
		    res->outcome == OFFSERV_OUTCOME_NOT_ATTEMPTED) {
			res->outcome = OFFSERV_OUTCOME_CANCELLED;
			res->status = OFFSERV_E_ABORT;
			free(res->message);
			res->message = strdup("cancelled: the image is unchanged");
		}
	}
	for (size_t x = 0; x < r->n_indexes; x++) {
		int index = r->o->indexes ? r->o->indexes[x] : (int)x + 1;

		for (size_t j = 0; j < r->n_pkgs; j++) {
			int seen = 0;

			for (size_t i = 0; i < rep->n_results && !seen; i++)
				seen = rep->results[i].index == index && rep->results[i].package == j;
			if (!seen)
				add_result(r, index, j, r->pkg_identity[j], OFFSERV_OUTCOME_CANCELLED,
				           OFFSERV_E_ABORT, "cancelled before this package was applied");
		}
	}
	rep->committed = 0;
	rep->reboot_required = 0;
}

static offserv_status run_service(struct run *r, char *err, size_t errlen)
{
	const struct offserv_engine_options *opts = r->o;
	struct offserv_engine_report *report = r->report;
	offserv_status s, first_failure = OFFSERV_OK;
	int count;

	if (r->image_dir) {
		/* A directory tree is one image; it is serviced as index 1. */
		r->n_indexes = 1;
	} else {
		s = offserv_wim_open(opts->wim_path, OFFSERV_WIM_OPEN_WRITE, &r->wim, err, errlen);
		if (OFFSERV_FAILED(s))
			return s;
		offserv_wim_set_progress(r->wim, wim_progress, r);
		count = offserv_wim_image_count(r->wim);
		for (size_t i = 0; i < opts->n_indexes; i++) {
			if (opts->indexes && (opts->indexes[i] < 1 || opts->indexes[i] > count)) {
				snprintf(err, errlen, "%s has no index %d (it has %d)", opts->wim_path,
				         opts->indexes[i], count);
				offserv_wim_close(r->wim);
				return OFFSERV_E_INVALIDARG;
			}
		}
		r->n_indexes = opts->indexes ? opts->n_indexes : (size_t)count;
	}

	for (size_t i = 0; i < r->n_indexes; i++) {
		int index = opts->indexes ? opts->indexes[i] : (int)i + 1;
		r->index_pos = i;
		s = service_index(r, index, &first_failure);
		if (s == OFFSERV_E_ABORT || r->cancelled) {
			s = OFFSERV_E_ABORT;
			break;
		}
		if (OFFSERV_FAILED(s)) {
			if (!OFFSERV_FAILED(first_failure))
				first_failure = s;
			/* An index that failed as a whole left nothing in the image;
			 * with continue-on-error the other indexes go on. */
			if (!opts->continue_on_error || s == OFFSERV_E_UNEXPECTED ||
			    s == OFFSERV_E_OUTOFMEMORY)
				break;
			s = OFFSERV_OK;
		}
	}
	if (s == OFFSERV_E_ABORT) {
		snprintf(err, errlen, "servicing of %s was cancelled; the image is unchanged",
		         r->target);
		logf_both(r, OFFSERV_LOG_WARNING, "%s", err);
		mark_cancelled(r);
		offserv_wim_close(r->wim);
		return OFFSERV_E_ABORT;
	}
	if (OFFSERV_FAILED(s) || (OFFSERV_FAILED(first_failure) && !opts->continue_on_error)) {
		offserv_status fs = OFFSERV_FAILED(s) ? s : first_failure;
		snprintf(err, errlen, "servicing of %s failed (0x%08x %s); %s: %s", r->target, fs,
		         offserv_status_name(fs),
		         r->dir_partial ? "some of its files may have been written"
		                        : "the image is unchanged",
		         r->err);
		for (size_t i = 0; i < report->n_results; i++) {
			struct offserv_engine_result *res = &report->results[i];
			if (outcome_changes(res->outcome)) {
				res->outcome = OFFSERV_OUTCOME_NOT_ATTEMPTED;
				res->status = fs;
				free(res->message);
				res->message = strdup(r->op == RUN_INSTALL
				                      ? "rolled back: another package failed and continue-on-error is off"
				                      : "rolled back: the operation failed and continue-on-error is off");
			}
		}
		report->committed = 0;
		report->reboot_required = 0;
		offserv_wim_close(r->wim);
		return fs;
	}
	if (report->committed && r->image_dir) {
		/* The directory's change set was applied with its index. */
		report->committed = 1;
	} else if (report->committed) {
		logf_both(r, OFFSERV_LOG_INFO, "Committing %s", r->target);
		r->writing = 1;
		s = offserv_wim_commit(r->wim, (opts->no_fsync ? OFFSERV_WIM_COMMIT_NO_FSYNC : 0) |
					      (opts->rebuild ? OFFSERV_WIM_COMMIT_REBUILD : 0), err,
		                       errlen);
		if (OFFSERV_FAILED(s) || r->cancelled) {
			if (s == OFFSERV_E_ABORT || r->cancelled) {
				snprintf(err, errlen, "servicing of %s was cancelled; the image is unchanged",
				         r->target);
				logf_both(r, OFFSERV_LOG_WARNING, "%s", err);
				mark_cancelled(r);
				offserv_wim_close(r->wim);
				return OFFSERV_E_ABORT;
			}
			for (size_t i = 0; i < report->n_results; i++) {
				struct offserv_engine_result *res = &report->results[i];
				if (outcome_changes(res->outcome)) {
					res->outcome = OFFSERV_OUTCOME_FAILED;
					res->status = s;
				}
			}
			report->committed = 0;
			report->reboot_required = 0;
			offserv_wim_close(r->wim);
			return s;
		}
		report->committed = 1;
	}
	offserv_wim_close(r->wim);
	return first_failure;
}

offserv_status offserv_engine_service(const struct offserv_engine_options *opts,
                                      const struct offserv_engine_package *pkgs, size_t n_pkgs,
                                      struct offserv_engine_report *report, char *err,
                                      size_t errlen)
{
	struct run r;
	offserv_status s;

	memset(report, 0, sizeof(*report));
	memset(&r, 0, sizeof(r));
	r.o = opts;
	r.pkgs = pkgs;
	r.n_pkgs = n_pkgs;
	r.report = report;
	if (!opts || !opts->scratch_dir || !opts->wim_path == !opts->image_dir) {
		snprintf(err, errlen, "give a scratch folder and exactly one of a WIM or an image folder");
		return OFFSERV_E_INVALIDARG;
	}
	if (opts->image_dir && opts->indexes) {
		snprintf(err, errlen, "%s: a directory tree has no indexes to choose", opts->image_dir);
		return OFFSERV_E_INVALIDARG;
	}
	r.image_dir = opts->image_dir;
	r.target = opts->wim_path ? opts->wim_path : opts->image_dir;
	r.pkg_identity = calloc(n_pkgs ? n_pkgs : 1, sizeof(*r.pkg_identity));
	if (!r.pkg_identity) {
		snprintf(err, errlen, "out of memory");
		return OFFSERV_E_OUTOFMEMORY;
	}
	s = run_service(&r, err, errlen);
	verified_clear(&r);
	for (size_t i = 0; i < n_pkgs; i++)
		free(r.pkg_identity[i]);
	free(r.pkg_identity);
	return s;
}

void offserv_engine_report_clear(struct offserv_engine_report *report)
{
	if (!report)
		return;
	for (size_t i = 0; i < report->n_results; i++) {
		free(report->results[i].identity);
		free(report->results[i].message);
	}
	free(report->results);
	memset(report, 0, sizeof(*report));
}

/* ---------------------------------------------------------------------- */
/* What the image holds: packages and the components they own              */

/*
 * Removal, cleanup and analysis work from the package manifests the image
 * keeps in Windows\servicing\Packages: each registered package's .mum (and
 * the nested .mum files it names, when they are there) lists its
 * components; a component is owned by every registered package that lists
 * it.  COMPONENTS' c! values say the same thing, but the hive is optional
 * and the manifests are what Windows itself re-reads.
 */

struct view_comp {
	char *key_form;
	struct offserv_identity id;
	size_t pkg; /* the owner, in store_view.pkgs */
};

struct view_pkg {
	char *identity;
	uint32_t state;
	struct offserv_mum *mum; /* NULL: servicing\Packages has no readable manifest */
	int missing_nested;      /* a nested .mum it names is not in servicing\Packages */
	int removed;             /* removed by this run */
	int cleaned;             /* payload removed by this run's cleanup */
};

struct store_view {
	struct view_pkg *pkgs;
	size_t n_pkgs;
	struct view_comp *comps;
	size_t n_comps;
	char *mum_dir; /* local folder holding the image's .mum files, NULL when none */
	size_t n_fetched;
};

static void store_view_free(struct store_view *v)
{
	if (!v)
		return;
	for (size_t i = 0; i < v->n_pkgs; i++) {
		free(v->pkgs[i].identity);
		offserv_mum_free(v->pkgs[i].mum);
	}
	free(v->pkgs);
	for (size_t i = 0; i < v->n_comps; i++) {
		free(v->comps[i].key_form);
		offserv_identity_clear(&v->comps[i].id);
	}
	free(v->comps);
	free(v->mum_dir);
	free(v);
}

static int pkg_alive(const struct store_view *v, size_t p)
{
	return !v->pkgs[p].removed && v->pkgs[p].state != OFFSERV_STATE_ABSENT;
}

static offserv_status view_add_updates(struct store_view *v, size_t pkg,
                                       const struct offserv_mum *mum, int depth)
{
	for (size_t i = 0; i < mum->n_updates; i++) {
		const struct offserv_mum_update *u = &mum->updates[i];

		if (u->kind == OFFSERV_UPDATE_COMPONENT) {
			struct view_comp *c;
			char *kf = offserv_identity_key_form(&u->id);

			if (!kf || !safe_name(kf)) {
				free(kf);
				continue;
			}
			c = grow(&v->comps, &v->n_comps, sizeof(*c));
			if (!c) {
				free(kf);
				return OFFSERV_E_OUTOFMEMORY;
			}
			c->key_form = kf;
			c->pkg = pkg;
			if (OFFSERV_FAILED(offserv_identity_copy(&c->id, &u->id)))
				return OFFSERV_E_OUTOFMEMORY;
		} else if (u->kind == OFFSERV_UPDATE_PACKAGE) {
			char *ident = offserv_identity_package_string(&u->id), *rel = NULL, *path = NULL;
			struct offserv_mum *nested = NULL;
			offserv_status s = OFFSERV_OK;

			if (!ident || asprintf(&rel, "%s.mum", ident) < 0) {
				free(ident);
				return OFFSERV_E_OUTOFMEMORY;
			}
			free(ident);
			if (depth < NESTED_DEPTH_MAX && v->mum_dir && safe_name(rel))
				path = find_ci(v->mum_dir, rel);
			free(rel);
			if (!path || OFFSERV_FAILED(offserv_mum_load(path, &nested, NULL, 0))) {
				v->pkgs[pkg].missing_nested = 1;
			} else {
				s = view_add_updates(v, pkg, nested, depth + 1);
			}
			offserv_mum_free(nested);
			free(path);
			if (OFFSERV_FAILED(s))
				return s;
		}
	}
	return OFFSERV_OK;
}

/* The image's packages and their components, read once per index. */
static offserv_status view_build(struct run *r, struct index_state *ix)
{
	struct store_view *v = calloc(1, sizeof(*v));
	offserv_status s = OFFSERV_OK;

	if (!v)
		return OFFSERV_E_OUTOFMEMORY;
	ix->view = v;
	if (r->image_dir) {
		if (OFFSERV_FAILED(offserv_dirtree_resolve(r->image_dir, "Windows/servicing/Packages",
		                                           &v->mum_dir))) {
			free(v->mum_dir);
			v->mum_dir = NULL;
		}
	} else {
		const char *pattern[1] = {"Windows/servicing/Packages/*.mum"};
		char **locals = NULL;

		if (OFFSERV_SUCCEEDED(offserv_wim_extract(r->wim, ix->index, pattern, 1, ix->work,
		                                          OFFSERV_WIM_EXTRACT_GLOB, &locals, r->err,
		                                          sizeof(r->err)))) {
			v->mum_dir = locals[0];
			locals[0] = NULL;
			offserv_wim_strv_free(locals, 1);
		}
		r->err[0] = '\0';
	}
	for (size_t i = 0; i < ix->n_installed && OFFSERV_SUCCEEDED(s); i++) {
		struct view_pkg *p;
		char *rel = NULL, *path = NULL;

		if (i == ix->stack_entry)
			continue;
		p = grow(&v->pkgs, &v->n_pkgs, sizeof(*p));
		if (!p || !(p->identity = strdup(ix->installed[i].identity)))
			return OFFSERV_E_OUTOFMEMORY;
		p->state = ix->installed[i].state;
		if (!v->mum_dir || !safe_name(p->identity))
			continue;
		if (asprintf(&rel, "%s.mum", p->identity) < 0)
			return OFFSERV_E_OUTOFMEMORY;
		path = find_ci(v->mum_dir, rel);
		free(rel);
		if (path && OFFSERV_FAILED(offserv_mum_load(path, &p->mum, NULL, 0)))
			p->mum = NULL;
		free(path);
		if (p->mum)
			s = view_add_updates(v, v->n_pkgs - 1, p->mum, 0);
	}
	return s;
}

static size_t view_find_pkg(const struct store_view *v, const char *identity)
{
	for (size_t i = 0; i < v->n_pkgs; i++)
		if (strcasecmp(v->pkgs[i].identity, identity) == 0)
			return i;
	return SIZE_MAX;
}

/* Whether a package other than @p except (alive) owns the component @p kf. */
static int comp_owned_by_other(const struct store_view *v, const char *kf, size_t except)
{
	for (size_t i = 0; i < v->n_comps; i++)
		if (v->comps[i].pkg != except && pkg_alive(v, v->comps[i].pkg) &&
		    strcasecmp(v->comps[i].key_form, kf) == 0)
			return 1;
	return 0;
}

static int str_eq_ci(const char *a, const char *b)
{
	return strcasecmp(a ? a : "", b ? b : "") == 0;
}

/* Same component apart from its version. */
static int same_family(const struct offserv_identity *a, const struct offserv_identity *b)
{
	const char *la = a->language && strcasecmp(a->language, "neutral") ? a->language : "";
	const char *lb = b->language && strcasecmp(b->language, "neutral") ? b->language : "";

	return str_eq_ci(a->name, b->name) && str_eq_ci(a->arch, b->arch) &&
	       str_eq_ci(a->token, b->token) && str_eq_ci(la, lb) &&
	       str_eq_ci(a->version_scope, b->version_scope) && str_eq_ci(a->type, b->type);
}

/*
 * The highest version of @p c's component family below (@p dir < 0) or
 * above (@p dir > 0) @p c's version that a live package other than
 * @p except owns; SIZE_MAX when none.
 */
static size_t other_version(const struct store_view *v, const struct view_comp *c, size_t except,
                            int dir)
{
	size_t best = SIZE_MAX;

	for (size_t i = 0; i < v->n_comps; i++) {
		const struct view_comp *o = &v->comps[i];
		int cmp;

		if (o->pkg == except || !pkg_alive(v, o->pkg) || !same_family(&o->id, &c->id))
			continue;
		cmp = offserv_version_compare(o->id.version, c->id.version);
		if ((dir < 0 && cmp >= 0) || (dir > 0 && cmp <= 0))
			continue;
		if (best == SIZE_MAX ||
		    (dir < 0 && offserv_version_compare(o->id.version, v->comps[best].id.version) > 0))
			best = i;
	}
	return best;
}

/* ---------------------------------------------------------------------- */
/* Deletions and the state the run has staged so far                      */

static int path_under(const char *path, const char *top)
{
	size_t n = strlen(top);

	return strncasecmp(path, top, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/* Whether this run already deletes @p path or a folder above it. */
static int path_deleted(const struct index_state *ix, const char *path)
{
	for (size_t i = 0; i < ix->n_deletes; i++)
		if (path_under(path, ix->deletes[i]))
			return 1;
	return 0;
}

static void drop_op(struct index_state *ix, size_t i)
{
	free(ix->ops[i].path);
	free(ix->ops[i].src);
	free(ix->ops[i].sd);
	ix->ops[i] = ix->ops[--ix->n_ops];
}

/*
 * Delete @p path from the image (recursively for a folder).  Files and
 * links this run staged at or below it are dropped; a path the image does
 * not have is not an error.
 */
static offserv_status stage_delete(struct run *r, struct index_state *ix, const char *path)
{
	char *copy;

	for (size_t i = ix->n_ops; i-- > 0;) {
		if (path_under(ix->ops[i].path, path) ||
		    (ix->ops[i].link && path_under(ix->ops[i].src, path)))
			drop_op(ix, i);
	}
	if (path_deleted(ix, path) || !target_exists(r, ix, path))
		return OFFSERV_OK;
	copy = strdup(path);
	if (!copy || !grow(&ix->deletes, &ix->n_deletes, sizeof(*ix->deletes))) {
		free(copy);
		return OFFSERV_E_OUTOFMEMORY;
	}
	ix->deletes[ix->n_deletes - 1] = copy;
	ix->changed = 1;
	return OFFSERV_OK;
}

/* The directory backend's delete, run when the change set is applied. */
static offserv_status dir_delete(struct run *r, const char *path)
{
	char *local = NULL;
	struct stat st;
	offserv_status s = OFFSERV_OK;

	if (OFFSERV_FAILED(offserv_dirtree_resolve(r->image_dir, path, &local))) {
		free(local);
		return OFFSERV_OK;
	}
	if (lstat(local, &st) == 0) {
		if (S_ISDIR(st.st_mode)) {
			s = offserv_rmtree(local, r->err, sizeof(r->err));
		} else if (unlink(local) != 0) {
			s = offserv_status_from_errno(errno);
			snprintf(r->err, sizeof(r->err), "%s: cannot delete: %s", local, strerror(errno));
		}
	}
	free(local);
	return s;
}

/* What identifies a file's data: its inode (hard-link group) and its digest. */
struct file_facts {
	int exists;
	uint64_t inode;     /* WIM hard-link group (0: unknown), or st_ino */
	uint64_t dev;
	uint32_t nlinks;
	uint64_t size;
	int have_sha1;
	uint8_t sha1[20];
};

static void target_facts(struct run *r, struct index_state *ix, const char *path,
                         struct file_facts *f)
{
	memset(f, 0, sizeof(*f));
	if (path_deleted(ix, path))
		return;
	if (r->image_dir) {
		char *local = NULL;
		struct stat st;

		if (offserv_dirtree_resolve(r->image_dir, path, &local) == OFFSERV_OK &&
		    lstat(local, &st) == 0 && S_ISREG(st.st_mode)) {
			f->exists = 1;
			f->inode = (uint64_t)st.st_ino;
			f->dev = (uint64_t)st.st_dev;
			f->nlinks = (uint32_t)st.st_nlink;
			f->size = (uint64_t)st.st_size;
		}
		free(local);
	} else {
		struct offserv_wim_stat st;

		memset(&st, 0, sizeof(st));
		if (offserv_wim_stat(r->wim, ix->index, path, 0, &st, NULL, 0) == OFFSERV_OK &&
		    !st.is_dir) {
			f->exists = 1;
			f->inode = st.num_links > 1 ? st.hard_link_group_id : 0;
			f->nlinks = st.num_links;
			f->size = st.size;
			f->have_sha1 = st.has_sha1;
			memcpy(f->sha1, st.sha1, 20);
		}
		offserv_wim_stat_clear(&st);
	}
}

static int local_same_content(const char *root, const char *a, const char *b)
{
	char *la = NULL, *lb = NULL;
	uint8_t da[32], db[32];
	int same = 0;

	if (offserv_dirtree_resolve(root, a, &la) == OFFSERV_OK &&
	    offserv_dirtree_resolve(root, b, &lb) == OFFSERV_OK &&
	    offserv_sha256_file(la, da, NULL, NULL, 0) == OFFSERV_OK &&
	    offserv_sha256_file(lb, db, NULL, NULL, 0) == OFFSERV_OK)
		same = memcmp(da, db, 32) == 0;
	free(la);
	free(lb);
	return same;
}

/*
 * Whether the projection @p dest is (as this run leaves it so far) the
 * store file @p store: a link to it, or a file with the same data.
 */
static int projection_is(struct run *r, struct index_state *ix, const char *dest,
                         const char *store)
{
	struct file_facts fd, fs;

	for (size_t i = 0; i < ix->n_ops; i++)
		if (strcasecmp(ix->ops[i].path, dest) == 0)
			return ix->ops[i].link && strcasecmp(ix->ops[i].src, store) == 0;
	target_facts(r, ix, dest, &fd);
	target_facts(r, ix, store, &fs);
	if (!fd.exists || !fs.exists)
		return 0;
	if (fd.inode && fd.inode == fs.inode && fd.dev == fs.dev)
		return 1;
	if (fd.size != fs.size)
		return 0;
	if (r->image_dir)
		return local_same_content(r->image_dir, dest, store);
	return fd.have_sha1 && fs.have_sha1 && memcmp(fd.sha1, fs.sha1, 20) == 0;
}

/* Read a component manifest from the store (NULL and a message when it cannot be read). */
static struct offserv_manifest *store_manifest(struct run *r, struct index_state *ix,
                                               const char *kf)
{
	char *path = NULL, *local = NULL, *dir = NULL, *sub = NULL;
	struct offserv_manifest *m = NULL;

	if (asprintf(&path, "Windows/WinSxS/Manifests/%s.manifest", kf) < 0 ||
	    asprintf(&sub, "fetch%zu", ix->view->n_fetched++) < 0 ||
	    !(dir = offserv_path_join(ix->work, sub))) {
		free(path);
		free(sub);
		return NULL;
	}
	if (!path_deleted(ix, path) &&
	    OFFSERV_SUCCEEDED(offserv_mkdir_p(dir, r->err, sizeof(r->err))) &&
	    OFFSERV_SUCCEEDED(target_fetch(r, ix, path, dir, &local)) &&
	    OFFSERV_FAILED(offserv_manifest_load(local, &m, r->err, sizeof(r->err))))
		m = NULL;
	if (!m && !r->err[0])
		snprintf(r->err, sizeof(r->err), "the component store has no manifest %s.manifest", kf);
	free(path);
	free(sub);
	free(dir);
	free(local);
	return m;
}

/* "Windows/System32/x.dll" for a manifest file with a destination, else NULL. */
static char *manifest_dest(const struct offserv_manifest_file *f)
{
	char *dir = NULL, *name = NULL, *out = NULL;

	if (!f->destination_path || !*f->destination_path)
		return NULL;
	if (OFFSERV_SUCCEEDED(offserv_resolve_destination(f->destination_path, &dir, NULL, 0)) &&
	    OFFSERV_SUCCEEDED(offserv_path_sanitize(f->name, &name, NULL, 0)) &&
	    asprintf(&out, "%s%s%s", dir, *dir ? "/" : "", name) < 0)
		out = NULL;
	free(dir);
	free(name);
	return out;
}

static char *manifest_store_path(const char *kf, const struct offserv_manifest_file *f)
{
	char *name = NULL, *out = NULL;

	if (OFFSERV_SUCCEEDED(offserv_path_sanitize(f->name, &name, NULL, 0)) &&
	    asprintf(&out, "Windows/WinSxS/%s/%s", kf, name) < 0)
		out = NULL;
	free(name);
	return out;
}

/* ---------------------------------------------------------------------- */
/* Registry values a component declared                                    */

/* The hive and the key path (CurrentControlSet resolved) of a manifest key. */
static offserv_status reg_target(struct index_state *ix, const char *key_name,
                                 struct offserv_hive **h, char **path)
{
	enum reg_hive hive;
	offserv_status s = map_registry_key(key_name, &hive, path, NULL, 0);

	if (OFFSERV_FAILED(s))
		return s;
	*h = hive == REG_SYSTEM ? ix->system : ix->software;
	if (!*h) {
		free(*path);
		*path = NULL;
		return OFFSERV_E_FILE_NOT_FOUND;
	}
	if (hive == REG_SYSTEM && strncasecmp(*path, "CurrentControlSet", 17) == 0 &&
	    ((*path)[17] == '\0' || (*path)[17] == '\\')) {
		char *ccs = NULL, *np = NULL;

		if (OFFSERV_FAILED(offserv_hive_current_control_set(*h, &ccs, NULL, 0)))
			ccs = strdup("ControlSet001");
		if (!ccs || asprintf(&np, "%s%s", ccs, *path + 17) < 0) {
			free(ccs);
			return OFFSERV_E_OUTOFMEMORY;
		}
		free(ccs);
		free(*path);
		*path = np;
	}
	return OFFSERV_OK;
}

static int key_is_empty(struct offserv_hive *h, offserv_hive_key k)
{
	char **names = NULL;
	size_t n1 = 1, n2 = 1;

	if (OFFSERV_SUCCEEDED(offserv_hive_subkeys(h, k, &names, &n1, NULL, 0)))
		offserv_hive_free_names(names);
	names = NULL;
	if (OFFSERV_SUCCEEDED(offserv_hive_value_names(h, k, &names, &n2, NULL, 0)))
		offserv_hive_free_names(names);
	return n1 == 0 && n2 == 0;
}

/*
 * Take away the values @p m declared, then the keys it declared that are
 * left empty, and their empty parents -- never a key in the first two
 * levels of a hive ("Microsoft\Windows", "ControlSet001\Services").
 */
static offserv_status unregister_values(struct run *r, struct index_state *ix,
                                        const struct offserv_manifest *m)
{
	for (size_t i = 0; i < m->n_regkeys; i++) {
		const struct offserv_manifest_regkey *rk = &m->regkeys[i];
		struct offserv_hive *h = NULL;
		char *path = NULL;
		offserv_hive_key k;

		if (OFFSERV_FAILED(reg_target(ix, rk->key_name, &h, &path)))
			continue;
		if (OFFSERV_SUCCEEDED(offserv_hive_find(h, 0, path, &k, NULL, 0))) {
			for (size_t j = 0; j < rk->n_values; j++)
				(void)offserv_hive_delete_value(h, k, rk->values[j].name ? rk->values[j].name : "",
				                                NULL, 0);
			for (;;) {
				size_t depth = 1;
				char *slash;

				for (const char *c = path; *c; c++)
					depth += *c == '\\';
				if (depth <= 2 || OFFSERV_FAILED(offserv_hive_find(h, 0, path, &k, NULL, 0)) ||
				    !key_is_empty(h, k))
					break;
				if (OFFSERV_FAILED(offserv_hive_delete_key(h, 0, path, r->err, sizeof(r->err)))) {
					free(path);
					return OFFSERV_E_UNEXPECTED;
				}
				slash = strrchr(path, '\\');
				if (!slash)
					break;
				*slash = '\0';
			}
		}
		free(path);
	}
	return OFFSERV_OK;
}

/* Write the values @p m declares (an earlier component's, restored). */
static offserv_status register_values(struct run *r, struct index_state *ix,
                                      const struct offserv_manifest *m)
{
	for (size_t i = 0; i < m->n_regkeys; i++) {
		const struct offserv_manifest_regkey *rk = &m->regkeys[i];
		struct offserv_hive *h = NULL;
		char *path = NULL;
		offserv_hive_key k;
		offserv_status s;

		if (OFFSERV_FAILED(reg_target(ix, rk->key_name, &h, &path)))
			continue;
		s = offserv_hive_create(h, 0, path, &k, r->err, sizeof(r->err));
		for (size_t j = 0; j < rk->n_values && OFFSERV_SUCCEEDED(s); j++)
			s = offserv_hive_set_value(h, k, rk->values[j].name ? rk->values[j].name : "",
			                           (uint32_t)rk->values[j].type, rk->values[j].data,
			                           rk->values[j].len, r->err, sizeof(r->err));
		free(path);
		if (OFFSERV_FAILED(s))
			return s;
	}
	return OFFSERV_OK;
}

/* ---------------------------------------------------------------------- */
/* Registration                                                            */

static void delete_value_if_any(struct offserv_hive *h, const char *key, const char *name)
{
	offserv_hive_key k;

	if (h && OFFSERV_SUCCEEDED(offserv_hive_find(h, 0, key, &k, NULL, 0)))
		(void)offserv_hive_delete_value(h, k, name, NULL, 0);
}

static offserv_status delete_key_if_any(struct run *r, struct offserv_hive *h, const char *key)
{
	offserv_hive_key k;

	if (!h || OFFSERV_FAILED(offserv_hive_find(h, 0, key, &k, NULL, 0)))
		return OFFSERV_OK;
	return offserv_hive_delete_key(h, 0, key, r->err, sizeof(r->err));
}

/*
 * Take package @p p's registration away: its CBS key, its PackageIndex
 * entry, its deployment and c! marks in COMPONENTS, its .mum and .cat.
 */
static offserv_status unregister_package(struct run *r, struct index_state *ix, size_t p)
{
	struct view_pkg *vp = &ix->view->pkgs[p];
	char *path = NULL, *pkf = vp->mum ? lower_key_form(&vp->mum->id) : NULL;
	offserv_status s;

	if (asprintf(&path, CBS_KEY "\\Packages\\%s", vp->identity) < 0) {
		free(pkf);
		return OFFSERV_E_OUTOFMEMORY;
	}
	s = delete_key_if_any(r, ix->software, path);
	free(path);
	path = NULL;
	if (OFFSERV_SUCCEEDED(s)) {
		struct offserv_identity id;

		memset(&id, 0, sizeof(id));
		if (OFFSERV_SUCCEEDED(offserv_identity_parse_package_string(vp->identity, &id))) {
			char *idx = NULL;
			offserv_hive_key k;

			free(id.version);
			id.version = strdup("0.0.0.0");
			idx = id.version ? offserv_identity_package_string(&id) : NULL;
			if (idx && asprintf(&path, CBS_KEY "\\PackageIndex\\%s", idx) >= 0) {
				delete_value_if_any(ix->software, path, vp->identity);
				if (OFFSERV_SUCCEEDED(offserv_hive_find(ix->software, 0, path, &k, NULL, 0)) &&
				    key_is_empty(ix->software, k))
					s = offserv_hive_delete_key(ix->software, 0, path, r->err,
					                            sizeof(r->err));
			}
			free(idx);
			free(path);
			path = NULL;
		}
		offserv_identity_clear(&id);
	}
	if (OFFSERV_SUCCEEDED(s) && ix->components && pkf) {
		char *vname = NULL;

		if (asprintf(&path, "CanonicalData\\Deployments\\%s", pkf) < 0 ||
		    asprintf(&vname, "c!%s", pkf) < 0) {
			s = OFFSERV_E_OUTOFMEMORY;
		} else {
			s = delete_key_if_any(r, ix->components, path);
			for (size_t i = 0; i < ix->view->n_comps && OFFSERV_SUCCEEDED(s); i++) {
				char *ck = NULL;

				if (ix->view->comps[i].pkg != p)
					continue;
				if (asprintf(&ck, "DerivedData\\Components\\%s", ix->view->comps[i].key_form) < 0) {
					s = OFFSERV_E_OUTOFMEMORY;
					break;
				}
				delete_value_if_any(ix->components, ck, vname);
				free(ck);
			}
		}
		free(vname);
		free(path);
		path = NULL;
	}
	if (OFFSERV_SUCCEEDED(s) && asprintf(&path, "Windows/servicing/Packages/%s.mum", vp->identity) >= 0) {
		s = stage_delete(r, ix, path);
		free(path);
		path = NULL;
		if (OFFSERV_SUCCEEDED(s) &&
		    asprintf(&path, "Windows/servicing/Packages/%s.cat", vp->identity) >= 0)
			s = stage_delete(r, ix, path);
	}
	free(path);
	free(pkf);
	ix->changed = 1;
	return s;
}

static offserv_status set_pkg_state(struct run *r, struct index_state *ix, size_t p,
                                    uint32_t state)
{
	char *path = NULL;
	offserv_hive_key k;
	offserv_status s;

	if (asprintf(&path, CBS_KEY "\\Packages\\%s", ix->view->pkgs[p].identity) < 0)
		return OFFSERV_E_OUTOFMEMORY;
	s = offserv_hive_find(ix->software, 0, path, &k, r->err, sizeof(r->err));
	if (OFFSERV_SUCCEEDED(s))
		s = offserv_hive_set_dword(ix->software, k, "CurrentState", state, r->err,
		                           sizeof(r->err));
	free(path);
	if (OFFSERV_SUCCEEDED(s)) {
		ix->view->pkgs[p].state = state;
		s = set_installed_state(ix, ix->view->pkgs[p].identity, state);
		ix->changed = 1;
	}
	return s;
}

/*
 * After @p p is gone: the highest remaining package of its family (same
 * name and architecture) that is superseded returns to Installed, unless
 * a live package of the family with a higher version still supersedes it.
 */
static offserv_status unsupersede(struct run *r, struct index_state *ix, size_t p)
{
	struct store_view *v = ix->view;
	struct offserv_identity pid, best_id;
	size_t best = SIZE_MAX;
	offserv_status s = OFFSERV_OK;

	memset(&pid, 0, sizeof(pid));
	memset(&best_id, 0, sizeof(best_id));
	if (OFFSERV_FAILED(offserv_identity_parse_package_string(v->pkgs[p].identity, &pid)))
		return OFFSERV_OK;
	for (size_t i = 0; i < v->n_pkgs; i++) {
		struct offserv_identity id;

		if (i == p || !pkg_alive(v, i))
			continue;
		memset(&id, 0, sizeof(id));
		if (OFFSERV_FAILED(offserv_identity_parse_package_string(v->pkgs[i].identity, &id)))
			continue;
		if (str_eq_ci(id.name, pid.name) && str_eq_ci(id.arch, pid.arch) &&
		    (best == SIZE_MAX || offserv_version_compare(id.version, best_id.version) > 0)) {
			best = i;
			offserv_identity_clear(&best_id);
			best_id = id;
		} else {
			offserv_identity_clear(&id);
		}
	}
	if (best != SIZE_MAX && v->pkgs[best].state == OFFSERV_STATE_SUPERSEDED) {
		s = set_pkg_state(r, ix, best, OFFSERV_STATE_INSTALLED);
		if (OFFSERV_SUCCEEDED(s))
			logf_both(r, OFFSERV_LOG_INFO, "Package %s is no longer superseded: Installed",
			          v->pkgs[best].identity);
	}
	offserv_identity_clear(&pid);
	offserv_identity_clear(&best_id);
	return s;
}

/* ---------------------------------------------------------------------- */
/* Removing one package                                                    */

/* Base packages: part of the image as built, never an update. */
static int base_release(const struct offserv_mum *m)
{
	static const char *const base[] = {"Foundation", "Product", "Feature Pack",
	                                   "Language Pack", "OnDemand Pack"};

	for (size_t i = 0; m->release_type && i < sizeof(base) / sizeof(base[0]); i++)
		if (strcasecmp(m->release_type, base[i]) == 0)
			return 1;
	return 0;
}

/* One component the removal takes out of the store. */
struct rm_comp {
	size_t comp;                   /* in view->comps */
	struct offserv_manifest *m;
	int active;                    /* no newer version is present: it is what is projected */
	size_t earlier;                /* the version to restore, SIZE_MAX when none */
	struct offserv_manifest *em;   /* its manifest */
};

static void rm_comps_free(struct rm_comp *rc, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		offserv_manifest_free(rc[i].m);
		offserv_manifest_free(rc[i].em);
	}
	free(rc);
}

/* The earlier version's file that lands at @p dest, or NULL. */
static const struct offserv_manifest_file *earlier_file_at(const struct offserv_manifest *em,
                                                           const char *dest)
{
	for (size_t i = 0; em && i < em->n_files; i++) {
		char *d = manifest_dest(&em->files[i]);
		int same = d && strcasecmp(d, dest) == 0;

		free(d);
		if (same)
			return &em->files[i];
	}
	return NULL;
}

/*
 * Decide whether package @p p can be removed and what that takes.  Returns
 * OFFSERV_OK with the components to take out, or
 * OFFSERV_CBS_E_CANNOT_UNINSTALL with the reason in r->err.
 */
static offserv_status plan_removal(struct run *r, struct index_state *ix, size_t p,
                                   struct rm_comp **out, size_t *n_out)
{
	struct store_view *v = ix->view;
	struct view_pkg *vp = &v->pkgs[p];
	struct rm_comp *rc = NULL;
	size_t n = 0;
	offserv_status s = OFFSERV_OK;

	*out = NULL;
	*n_out = 0;
	if (vp->state == OFFSERV_STATE_PERMANENT) {
		snprintf(r->err, sizeof(r->err), "%s is permanent (CurrentState 0x80: made permanent by /ResetBase)",
		         vp->identity);
		return OFFSERV_CBS_E_CANNOT_UNINSTALL;
	}
	if (!vp->mum) {
		snprintf(r->err, sizeof(r->err),
		         "%s cannot be removed: Windows\\servicing\\Packages holds no readable manifest for it",
		         vp->identity);
		return OFFSERV_CBS_E_CANNOT_UNINSTALL;
	}
	if (vp->missing_nested) {
		snprintf(r->err, sizeof(r->err),
		         "%s cannot be removed: a package manifest it names is not in Windows\\servicing\\Packages",
		         vp->identity);
		return OFFSERV_CBS_E_CANNOT_UNINSTALL;
	}
	if (vp->mum->permanence && strcasecmp(vp->mum->permanence, "permanent") == 0) {
		snprintf(r->err, sizeof(r->err), "%s is marked permanent in its manifest", vp->identity);
		return OFFSERV_CBS_E_CANNOT_UNINSTALL;
	}
	if (vp->mum->release_type && strcasecmp(vp->mum->release_type, "Foundation") == 0) {
		snprintf(r->err, sizeof(r->err), "%s is the image's foundation package", vp->identity);
		return OFFSERV_CBS_E_CANNOT_UNINSTALL;
	}
	for (size_t i = 0; i < v->n_comps; i++) {
		if (v->comps[i].pkg == p && v->comps[i].id.name &&
		    strcasecmp(v->comps[i].id.name, SERVICING_STACK_NAME) == 0) {
			snprintf(r->err, sizeof(r->err), "%s is a servicing stack update", vp->identity);
			return OFFSERV_CBS_E_CANNOT_UNINSTALL;
		}
	}
	for (size_t i = 0; i < v->n_comps && OFFSERV_SUCCEEDED(s); i++) {
		const struct view_comp *c = &v->comps[i];
		struct rm_comp *x;
		int dup = 0;

		if (c->pkg != p || comp_owned_by_other(v, c->key_form, p))
			continue;
		for (size_t j = 0; j < n && !dup; j++)
			dup = strcasecmp(v->comps[rc[j].comp].key_form, c->key_form) == 0;
		if (dup)
			continue;
		if (!(x = grow(&rc, &n, sizeof(*rc)))) {
			s = OFFSERV_E_OUTOFMEMORY;
			break;
		}
		x->comp = i;
		x->earlier = SIZE_MAX;
		r->err[0] = '\0';
		x->m = store_manifest(r, ix, c->key_form);
		if (!x->m) {
			char inner[512];
			snprintf(inner, sizeof(inner), "%.500s", r->err);
			snprintf(r->err, sizeof(r->err), "%.400s cannot be removed: %s", vp->identity, inner);
			s = OFFSERV_CBS_E_CANNOT_UNINSTALL;
			break;
		}
		x->active = other_version(v, c, p, 1) == SIZE_MAX;
		if (!x->active)
			continue;
		x->earlier = other_version(v, c, p, -1);
		if (x->earlier != SIZE_MAX) {
			const char *ekf = v->comps[x->earlier].key_form;

			x->em = store_manifest(r, ix, ekf);
			if (!x->em) {
				snprintf(r->err, sizeof(r->err),
				         "%s cannot be removed: restoring %s needs its manifest, which is no longer in the component store",
				         vp->identity, ekf);
				s = OFFSERV_CBS_E_CANNOT_UNINSTALL;
				break;
			}
			for (size_t f = 0; f < x->em->n_files && OFFSERV_SUCCEEDED(s); f++) {
				char *sp = manifest_store_path(ekf, &x->em->files[f]);
				struct file_facts ff;

				if (!sp) {
					s = OFFSERV_E_OUTOFMEMORY;
					break;
				}
				target_facts(r, ix, sp, &ff);
				if (!ff.exists) {
					snprintf(r->err, sizeof(r->err),
					         "%s cannot be removed: restoring %s needs %s, which is no longer in the component store",
					         vp->identity, ekf, sp);
					s = OFFSERV_CBS_E_CANNOT_UNINSTALL;
				}
				free(sp);
			}
		} else if (base_release(vp->mum)) {
			for (size_t f = 0; f < x->m->n_files && OFFSERV_SUCCEEDED(s); f++) {
				char *d = manifest_dest(&x->m->files[f]);

				if (d) {
					snprintf(r->err, sizeof(r->err),
					         "%s is part of the base image: removing it would take %s away with no earlier version to restore",
					         vp->identity, d);
					s = OFFSERV_CBS_E_CANNOT_UNINSTALL;
				}
				free(d);
			}
		}
	}
	if (OFFSERV_FAILED(s)) {
		rm_comps_free(rc, n);
		return s;
	}
	*out = rc;
	*n_out = n;
	return OFFSERV_OK;
}

/* Project the earlier version's file @p ef again at @p dest. */
static offserv_status restore_projection(struct run *r, struct index_state *ix, const char *ekf,
                                         const struct offserv_manifest_file *ef, const char *dest)
{
	char *sp = manifest_store_path(ekf, ef), *sub = NULL, *dir = NULL, *local = NULL;
	uint8_t *sd = NULL;
	size_t sd_len = 0;
	uint32_t attributes = 0;
	offserv_status s;

	if (!sp || asprintf(&sub, "fetch%zu", ix->view->n_fetched++) < 0 ||
	    !(dir = offserv_path_join(ix->work, sub))) {
		s = OFFSERV_E_OUTOFMEMORY;
		goto out;
	}
	s = offserv_mkdir_p(dir, r->err, sizeof(r->err));
	if (OFFSERV_SUCCEEDED(s))
		s = target_fetch(r, ix, sp, dir, &local);
	if (OFFSERV_FAILED(s))
		goto out;
	/* The store file keeps its own descriptor and attributes; the projection shares them. */
	(void)target_stat_file(r, ix, sp, &sd, &sd_len, &attributes);
	s = stage_op(ix, 0, sp, local, sd, sd_len, attributes);
	if (OFFSERV_SUCCEEDED(s))
		s = stage_op(ix, 1, dest, sp, NULL, 0, 0);
	ix->changed = 1;
out:
	free(sp);
	free(sub);
	free(dir);
	free(local);
	free(sd);
	return s;
}

static offserv_status remove_component(struct run *r, struct index_state *ix,
                                       const struct rm_comp *x)
{
	struct store_view *v = ix->view;
	const char *kf = v->comps[x->comp].key_form;
	const char *ekf = x->earlier != SIZE_MAX ? v->comps[x->earlier].key_form : NULL;
	char *path = NULL;
	offserv_status s = OFFSERV_OK;

	if (x->active) {
		for (size_t f = 0; f < x->m->n_files && OFFSERV_SUCCEEDED(s); f++) {
			char *dest = manifest_dest(&x->m->files[f]);
			char *sp = manifest_store_path(kf, &x->m->files[f]);
			const struct offserv_manifest_file *ef;

			/* Only a projection that is still this component's copy is touched. */
			if (dest && sp && projection_is(r, ix, dest, sp)) {
				ef = earlier_file_at(x->em, dest);
				if (ef)
					s = restore_projection(r, ix, ekf, ef, dest);
				else
					s = stage_delete(r, ix, dest);
			}
			free(dest);
			free(sp);
		}
		if (OFFSERV_SUCCEEDED(s))
			s = unregister_values(r, ix, x->m);
		if (OFFSERV_SUCCEEDED(s) && x->em)
			s = register_values(r, ix, x->em);
	}
	if (OFFSERV_SUCCEEDED(s) && asprintf(&path, "Windows/WinSxS/%s", kf) >= 0) {
		s = stage_delete(r, ix, path);
		free(path);
		path = NULL;
		if (OFFSERV_SUCCEEDED(s) &&
		    asprintf(&path, "Windows/WinSxS/Manifests/%s.manifest", kf) >= 0)
			s = stage_delete(r, ix, path);
		free(path);
		path = NULL;
	}
	if (OFFSERV_SUCCEEDED(s) && ix->components &&
	    asprintf(&path, "DerivedData\\Components\\%s", kf) >= 0) {
		s = delete_key_if_any(r, ix->components, path);
		free(path);
	}
	ix->changed = 1;
	return s;
}

/*
 * Remove one package from the index.  @p identity is what was asked for;
 * @p done is the outcome reported on success (Removed or Reverted).
 * Returns a failure for a package that failed or could not be removed;
 * verdicts are in the report.
 */
static offserv_status remove_package(struct run *r, struct index_state *ix, size_t i,
                                     const char *identity, enum offserv_outcome done)
{
	struct store_view *v = ix->view;
	struct rm_comp *rc = NULL;
	size_t n = 0, p;
	offserv_status s;

	r->err[0] = '\0';
	if (report_progress(r, ix->index, i, identity, "Removing", 0.0))
		return OFFSERV_E_ABORT;
	p = safe_name(identity) ? view_find_pkg(v, identity) : SIZE_MAX;
	if (p == SIZE_MAX || !pkg_alive(v, p)) {
		add_result(r, ix->index, i, identity, OFFSERV_OUTCOME_NOT_PRESENT,
		           OFFSERV_CBS_E_UNKNOWN_UPDATE, "the package is not installed in index %d",
		           ix->index);
		logf_both(r, OFFSERV_LOG_ERROR,
		          "Package %s is not installed on index %d [HRESULT = 0x%08x - %s]", identity,
		          ix->index, OFFSERV_CBS_E_UNKNOWN_UPDATE,
		          offserv_status_name(OFFSERV_CBS_E_UNKNOWN_UPDATE));
		return r->o->continue_on_error ? OFFSERV_OK : OFFSERV_CBS_E_UNKNOWN_UPDATE;
	}
	s = plan_removal(r, ix, p, &rc, &n);
	if (s == OFFSERV_CBS_E_CANNOT_UNINSTALL) {
		add_result(r, ix->index, i, v->pkgs[p].identity, OFFSERV_OUTCOME_PERMANENT, s, "%s",
		           r->err);
		logf_both(r, OFFSERV_LOG_ERROR, "Package %s cannot be removed from index %d: %s [HRESULT = 0x%08x - %s]",
		          v->pkgs[p].identity, ix->index, r->err, s, offserv_status_name(s));
		return r->o->continue_on_error ? OFFSERV_OK : s;
	}
	if (OFFSERV_FAILED(s)) {
		add_result(r, ix->index, i, v->pkgs[p].identity, OFFSERV_OUTCOME_FAILED, s, "%s",
		           r->err);
		return s;
	}
	if (report_progress(r, ix->index, i, v->pkgs[p].identity, "Staging", 0.5)) {
		rm_comps_free(rc, n);
		return OFFSERV_E_ABORT;
	}
	for (size_t j = 0; j < n && OFFSERV_SUCCEEDED(s); j++)
		s = remove_component(r, ix, &rc[j]);
	if (OFFSERV_SUCCEEDED(s))
		s = unregister_package(r, ix, p);
	if (OFFSERV_SUCCEEDED(s)) {
		v->pkgs[p].removed = 1;
		s = set_installed_state(ix, v->pkgs[p].identity, OFFSERV_STATE_ABSENT);
	}
	if (OFFSERV_SUCCEEDED(s))
		s = unsupersede(r, ix, p);
	rm_comps_free(rc, n);
	if (OFFSERV_FAILED(s)) {
		add_result(r, ix->index, i, v->pkgs[p].identity, OFFSERV_OUTCOME_FAILED, s, "%s",
		           r->err);
		logf_both(r, OFFSERV_LOG_ERROR, "Failed to remove package %s from index %d: %s",
		          v->pkgs[p].identity, ix->index, r->err);
		return s == OFFSERV_E_OUTOFMEMORY ? s : OFFSERV_E_UNEXPECTED;
	}
	add_result(r, ix->index, i, v->pkgs[p].identity, done, OFFSERV_OK,
	           done == OFFSERV_OUTCOME_REVERTED ? "pending installation reverted"
	                                            : "removed (%zu components taken out of the store)",
	           n);
	logf_both(r, OFFSERV_LOG_INFO, "%s package %s on index %d (%zu components)",
	          done == OFFSERV_OUTCOME_REVERTED ? "Reverted" : "Removed", v->pkgs[p].identity,
	          ix->index, n);
	return OFFSERV_OK;
}

/* ---------------------------------------------------------------------- */
/* Component store cleanup                                                 */

struct store_walk {
	struct run *r;
	struct index_state *ix;
	uint64_t bytes;       /* explorer: every name */
	uint64_t unique;      /* every file once */
	uint64_t shared;      /* files with another name (outside the store) */
	uint64_t cache;       /* Temp, Backup, ManifestCache */
	uint64_t *seen;       /* link groups / inodes counted */
	size_t n_seen;
	int linked;           /* a file has another name */
	char **subdirs;
	size_t n_subdirs;
	int in_cache;
};

static int walk_seen(struct store_walk *w, uint64_t id)
{
	uint64_t *slot;

	for (size_t i = 0; i < w->n_seen; i++)
		if (w->seen[i] == id)
			return 1;
	slot = grow(&w->seen, &w->n_seen, sizeof(*w->seen));
	if (slot)
		*slot = id;
	return 0;
}

static void walk_file(struct store_walk *w, uint64_t size, uint32_t nlinks, uint64_t id)
{
	w->bytes += size;
	if (w->in_cache)
		w->cache += size;
	if (nlinks > 1)
		w->linked = 1;
	if (nlinks <= 1 || !walk_seen(w, id)) {
		w->unique += size;
		if (nlinks > 1)
			w->shared += size;
	}
}

static offserv_status walk_wim_entry(void *ctx, const struct offserv_wim_stat *e)
{
	struct store_walk *w = ctx;

	if (e->is_dir) {
		char *d = strdup(e->path), **slot;

		if (!d || !(slot = grow(&w->subdirs, &w->n_subdirs, sizeof(*w->subdirs)))) {
			free(d);
			return OFFSERV_E_OUTOFMEMORY;
		}
		*slot = d;
		return OFFSERV_OK;
	}
	walk_file(w, e->size, e->num_links, e->hard_link_group_id);
	return OFFSERV_OK;
}

static int cache_folder(const char *path)
{
	const char *leaf = strrchr(path, '/');

	leaf = leaf ? leaf + 1 : path;
	return strcasecmp(leaf, "Temp") == 0 || strcasecmp(leaf, "Backup") == 0 ||
	       strcasecmp(leaf, "ManifestCache") == 0;
}

static offserv_status walk_local(struct store_walk *w, const char *dir, int depth)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	offserv_status s = OFFSERV_OK;

	if (!d)
		return OFFSERV_OK;
	while ((de = readdir(d)) != NULL && OFFSERV_SUCCEEDED(s)) {
		char *p;
		struct stat st;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		p = offserv_path_join(dir, de->d_name);
		if (!p) {
			s = OFFSERV_E_OUTOFMEMORY;
			break;
		}
		if (lstat(p, &st) == 0) {
			if (S_ISDIR(st.st_mode) && depth < 16) {
				int was = w->in_cache;

				if (depth == 0 && cache_folder(p))
					w->in_cache = 1;
				s = walk_local(w, p, depth + 1);
				w->in_cache = was;
			} else if (S_ISREG(st.st_mode)) {
				walk_file(w, (uint64_t)st.st_size, (uint32_t)st.st_nlink,
				          (uint64_t)st.st_ino);
			}
		}
		free(p);
	}
	closedir(d);
	return s;
}

/* Whether the image path @p path lies in WinSxS\Temp, \Backup or \ManifestCache. */
static int in_cache_folder(const char *path)
{
	const char *p = path;
	char first[32];
	size_t n = 0;

	for (; *p; p++)
		if (strncasecmp(p, "/WinSxS/", 8) == 0)
			break;
	if (!*p)
		return 0;
	p += 8;
	while (p[n] && p[n] != '/' && n < sizeof(first) - 1) {
		first[n] = p[n];
		n++;
	}
	first[n] = '\0';
	return cache_folder(first);
}

/* Walk the image folder @p path (recursively with @p recurse). */
static offserv_status walk_store(struct run *r, struct index_state *ix, const char *path,
                                 int recurse, struct store_walk *w)
{
	offserv_status s = OFFSERV_OK;

	w->r = r;
	w->ix = ix;
	if (path_deleted(ix, path))
		return OFFSERV_OK;
	if (r->image_dir) {
		char *local = NULL;

		if (OFFSERV_SUCCEEDED(offserv_dirtree_resolve(r->image_dir, path, &local)))
			s = walk_local(w, local, recurse ? 0 : 16);
		free(local);
		return s;
	}
	{
		size_t first = w->n_subdirs;

		s = offserv_wim_list(r->wim, ix->index, path, 0, walk_wim_entry, w, NULL, 0);
		if (s == OFFSERV_E_FILE_NOT_FOUND || s == OFFSERV_E_PATH_NOT_FOUND)
			s = OFFSERV_OK;
		for (size_t i = first; recurse && i < w->n_subdirs && OFFSERV_SUCCEEDED(s); i++) {
			int was = w->in_cache;
			char *sub = w->subdirs[i];

			if (path_deleted(ix, sub))
				continue;
			w->in_cache = in_cache_folder(sub);
			s = offserv_wim_list(r->wim, ix->index, sub, 0, walk_wim_entry, w, NULL, 0);
			w->in_cache = was;
		}
	}
	return s;
}

static void walk_clear(struct store_walk *w)
{
	for (size_t i = 0; i < w->n_subdirs; i++)
		free(w->subdirs[i]);
	free(w->subdirs);
	free(w->seen);
	memset(w, 0, sizeof(*w));
}

/*
 * Components a cleanup takes out: every owner is superseded, a newer
 * version of the component is present (owned by a live package), its
 * store folder is still there and none of its files has a name outside
 * it.  @p take[i] is set for each such component of view->comps (one per
 * key form); @p bytes receives their payload size.
 */
static offserv_status cleanup_plan(struct run *r, struct index_state *ix, int *take,
                                   uint64_t *bytes)
{
	struct store_view *v = ix->view;
	offserv_status s = OFFSERV_OK;

	*bytes = 0;
	for (size_t i = 0; i < v->n_comps && OFFSERV_SUCCEEDED(s); i++) {
		const struct view_comp *c = &v->comps[i];
		int only_superseded = 1, owners = 0, dup = 0;
		struct store_walk w;
		char *folder = NULL;

		take[i] = 0;
		for (size_t j = 0; j < i && !dup; j++)
			dup = take[j] && strcasecmp(v->comps[j].key_form, c->key_form) == 0;
		if (dup)
			continue;
		for (size_t j = 0; j < v->n_comps; j++) {
			const struct view_comp *o = &v->comps[j];

			if (!pkg_alive(v, o->pkg) || strcasecmp(o->key_form, c->key_form) != 0)
				continue;
			owners++;
			if (v->pkgs[o->pkg].state != OFFSERV_STATE_SUPERSEDED)
				only_superseded = 0;
		}
		if (!owners || !only_superseded || other_version(v, c, SIZE_MAX, 1) == SIZE_MAX)
			continue;
		if (asprintf(&folder, "Windows/WinSxS/%s", c->key_form) < 0)
			return OFFSERV_E_OUTOFMEMORY;
		memset(&w, 0, sizeof(w));
		if (!path_deleted(ix, folder) && target_exists(r, ix, folder)) {
			s = walk_store(r, ix, folder, 0, &w);
			if (OFFSERV_SUCCEEDED(s) && !w.linked) {
				take[i] = 1;
				*bytes += w.bytes;
			}
		}
		walk_clear(&w);
		free(folder);
	}
	return s;
}

static offserv_status cleanup_index(struct run *r, struct index_state *ix)
{
	struct store_view *v = ix->view;
	int *take = calloc(v->n_comps ? v->n_comps : 1, sizeof(*take));
	uint64_t bytes = 0, ft;
	offserv_status s;
	size_t reported = 0;

	if (!take)
		return OFFSERV_E_OUTOFMEMORY;
	/* As Windows: work queued for the first boot blocks a cleanup. */
	{
		int pending = target_exists(r, ix, "Windows/WinSxS/pending.xml");

		for (size_t p = 0; p < v->n_pkgs && !pending; p++)
			pending = pkg_alive(v, p) && v->pkgs[p].state == OFFSERV_STATE_INSTALL_PENDING;
		if (pending) {
			snprintf(r->err, sizeof(r->err),
			         "index %d has pending actions (Windows\\WinSxS\\pending.xml or a package in Install Pending); revert them first",
			         ix->index);
			free(take);
			return OFFSERV_CBS_E_PENDING;
		}
	}
	if (report_progress(r, ix->index, r->n_pkgs, NULL, "Scanning", 0.0)) {
		free(take);
		return OFFSERV_E_ABORT;
	}
	s = cleanup_plan(r, ix, take, &bytes);
	if (OFFSERV_SUCCEEDED(s) && report_progress(r, ix->index, r->n_pkgs, NULL, "Cleaning", 0.1))
		s = OFFSERV_E_ABORT;
	for (size_t i = 0; i < v->n_comps && OFFSERV_SUCCEEDED(s); i++) {
		char *path = NULL;

		if (!take[i])
			continue;
		if (asprintf(&path, "Windows/WinSxS/%s", v->comps[i].key_form) < 0)
			s = OFFSERV_E_OUTOFMEMORY;
		else
			s = stage_delete(r, ix, path);
		free(path);
		path = NULL;
		if (OFFSERV_SUCCEEDED(s) &&
		    asprintf(&path, "Windows/WinSxS/Manifests/%s.manifest", v->comps[i].key_form) >= 0)
			s = stage_delete(r, ix, path);
		free(path);
		path = NULL;
		if (OFFSERV_SUCCEEDED(s) && ix->components &&
		    asprintf(&path, "DerivedData\\Components\\%s", v->comps[i].key_form) >= 0)
			s = delete_key_if_any(r, ix->components, path);
		free(path);
		for (size_t j = 0; j < v->n_comps; j++)
			if (strcasecmp(v->comps[j].key_form, v->comps[i].key_form) == 0)
				v->pkgs[v->comps[j].pkg].cleaned = 1;
	}
	/* /ResetBase: superseded packages whose payload is gone leave the registration. */
	for (size_t p = 0; p < v->n_pkgs && OFFSERV_SUCCEEDED(s); p++) {
		int keeps = 0;

		if (!(r->cleanup_flags & OFFSERV_CLEANUP_RESET_BASE) || !pkg_alive(v, p) ||
		    v->pkgs[p].state != OFFSERV_STATE_SUPERSEDED)
			continue;
		for (size_t i = 0; i < v->n_comps && !keeps; i++) {
			const struct view_comp *c = &v->comps[i];
			char *folder = NULL;

			if (c->pkg != p)
				continue;
			if (asprintf(&folder, "Windows/WinSxS/%s", c->key_form) < 0) {
				s = OFFSERV_E_OUTOFMEMORY;
				break;
			}
			/* A component it alone owns that stays in the store keeps it registered. */
			keeps = !comp_owned_by_other(v, c->key_form, p) && !path_deleted(ix, folder) &&
			        target_exists(r, ix, folder);
			free(folder);
		}
		if (OFFSERV_FAILED(s) || keeps)
			continue;
		s = unregister_package(r, ix, p);
		if (OFFSERV_SUCCEEDED(s)) {
			v->pkgs[p].removed = 1;
			v->pkgs[p].cleaned = 1;
			s = set_installed_state(ix, v->pkgs[p].identity, OFFSERV_STATE_ABSENT);
		}
	}
	if (OFFSERV_SUCCEEDED(s) && (r->cleanup_flags & OFFSERV_CLEANUP_RESET_BASE)) {
		for (size_t p = 0; p < v->n_pkgs && OFFSERV_SUCCEEDED(s); p++)
			if (pkg_alive(v, p) && v->pkgs[p].state == OFFSERV_STATE_INSTALLED)
				s = set_pkg_state(r, ix, p, OFFSERV_STATE_PERMANENT);
	}
	/* The time of the cleanup (see offserv_engine_cleanup()). */
	if (OFFSERV_SUCCEEDED(s)) {
		offserv_hive_key k;

		ft = offserv_filetime_now();
		s = offserv_hive_create(ix->software, 0, CBS_KEY, &k, r->err, sizeof(r->err));
		if (OFFSERV_SUCCEEDED(s))
			s = offserv_hive_set_qword(ix->software, k, OFFSERV_ENGINE_CLEANUP_VALUE, ft,
			                           r->err, sizeof(r->err));
		ix->changed = 1;
	}
	for (size_t p = 0; p < v->n_pkgs && OFFSERV_SUCCEEDED(s); p++) {
		if (!v->pkgs[p].cleaned)
			continue;
		add_result(r, ix->index, reported++, v->pkgs[p].identity, OFFSERV_OUTCOME_CLEANED,
		           OFFSERV_OK, "%s",
		           v->pkgs[p].removed ? "superseded: its payload and its registration were removed"
		                              : "superseded: its payload was removed from the component store");
		logf_both(r, OFFSERV_LOG_INFO, "Cleaned up superseded package %s on index %d",
		          v->pkgs[p].identity, ix->index);
	}
	if (OFFSERV_SUCCEEDED(s))
		logf_both(r, OFFSERV_LOG_INFO,
		          "Component store cleanup of index %d: %zu packages, %llu bytes of payload removed%s",
		          ix->index, reported, (unsigned long long)bytes,
		          (r->cleanup_flags & OFFSERV_CLEANUP_RESET_BASE) ? "; the installed packages are now permanent" : "");
	free(take);
	if (OFFSERV_FAILED(s) && s != OFFSERV_E_ABORT && s != OFFSERV_E_OUTOFMEMORY)
		s = OFFSERV_E_UNEXPECTED;
	return s;
}

/* ---------------------------------------------------------------------- */
/* Pending actions                                                         */

static offserv_status revert_index(struct run *r, struct index_state *ix,
                                   offserv_status *first_failure)
{
	struct store_view *v = ix->view;
	size_t k = 0;
	offserv_status s = OFFSERV_OK;

	for (size_t p = 0; p < v->n_pkgs; p++) {
		offserv_status ps;

		if (!pkg_alive(v, p) || v->pkgs[p].state != OFFSERV_STATE_INSTALL_PENDING)
			continue;
		ps = remove_package(r, ix, k++, v->pkgs[p].identity, OFFSERV_OUTCOME_REVERTED);
		if (ps == OFFSERV_E_ABORT || r->cancelled)
			return OFFSERV_E_ABORT;
		if (OFFSERV_FAILED(ps)) {
			if (!OFFSERV_FAILED(*first_failure))
				*first_failure = ps;
			if (ps == OFFSERV_E_UNEXPECTED || ps == OFFSERV_E_OUTOFMEMORY ||
			    !r->o->continue_on_error)
				return ps;
		}
	}
	s = stage_delete(r, ix, "Windows/WinSxS/pending.xml");
	if (OFFSERV_SUCCEEDED(s) && ix->components) {
		offserv_hive_key root = offserv_hive_root(ix->components);
		uint32_t type;
		uint8_t *data = NULL;
		size_t len;

		if (OFFSERV_SUCCEEDED(offserv_hive_get_value(ix->components, root, "PendingXmlIdentifier",
		                                             &type, &data, &len, NULL, 0))) {
			s = offserv_hive_delete_value(ix->components, root, "PendingXmlIdentifier", r->err,
			                              sizeof(r->err));
			ix->changed = 1;
		}
		free(data);
	}
	if (OFFSERV_SUCCEEDED(s))
		logf_both(r, OFFSERV_LOG_INFO, "Reverted the pending actions of index %d (%zu packages)",
		          ix->index, k);
	return s;
}

/* The per-index body of removal, cleanup and revert. */
static offserv_status op_index(struct run *r, struct index_state *ix,
                               offserv_status *first_failure)
{
	offserv_status s = view_build(r, ix);

	if (OFFSERV_FAILED(s))
		return s;
	if (r->op == RUN_CLEANUP) {
		s = cleanup_index(r, ix);
		if (OFFSERV_FAILED(s) && s != OFFSERV_E_ABORT && !OFFSERV_FAILED(*first_failure))
			*first_failure = s;
		return s;
	}
	if (r->op == RUN_REVERT)
		return revert_index(r, ix, first_failure);
	for (size_t i = 0; i < r->n_pkgs; i++) {
		offserv_status ps = remove_package(r, ix, i, r->identities[i], OFFSERV_OUTCOME_REMOVED);

		if (ps == OFFSERV_E_ABORT || r->cancelled)
			return OFFSERV_E_ABORT;
		if (OFFSERV_FAILED(ps)) {
			if (!OFFSERV_FAILED(*first_failure))
				*first_failure = ps;
			if (ps == OFFSERV_E_UNEXPECTED || ps == OFFSERV_E_OUTOFMEMORY ||
			    !r->o->continue_on_error) {
				for (size_t j = i + 1; j < r->n_pkgs; j++)
					add_result(r, ix->index, j, r->identities[j],
					           OFFSERV_OUTCOME_NOT_ATTEMPTED, OFFSERV_E_ABORT,
					           "not attempted: an earlier package failed and continue-on-error is off");
				return ps;
			}
		}
	}
	return OFFSERV_OK;
}

/* ---------------------------------------------------------------------- */
/* The public operations                                                   */

static offserv_status check_opts(const struct offserv_engine_options *opts, char *err,
                                 size_t errlen)
{
	if (!opts || !opts->scratch_dir || !opts->wim_path == !opts->image_dir) {
		offserv_set_error(err, errlen,
		                  "give a scratch folder and exactly one of a WIM or an image folder");
		return OFFSERV_E_INVALIDARG;
	}
	if (opts->image_dir && opts->indexes) {
		offserv_set_error(err, errlen, "%s: a directory tree has no indexes to choose",
		                  opts->image_dir);
		return OFFSERV_E_INVALIDARG;
	}
	return OFFSERV_OK;
}

static offserv_status run_op(enum run_op op, const char *method,
                             const struct offserv_engine_options *opts,
                             const char *const *identities, size_t n, unsigned flags,
                             struct offserv_engine_report *report, char *err, size_t errlen)
{
	struct run r;
	offserv_status s;

	if (report)
		memset(report, 0, sizeof(*report));
	if (!report) {
		offserv_set_error(err, errlen, "no report to fill");
		return OFFSERV_E_INVALIDARG;
	}
	s = check_opts(opts, err, errlen);
	if (OFFSERV_FAILED(s))
		return s;
	for (size_t i = 0; i < n; i++) {
		if (!identities || !identities[i]) {
			offserv_set_error(err, errlen, "package identity %zu is missing", i + 1);
			return OFFSERV_E_INVALIDARG;
		}
	}
	memset(&r, 0, sizeof(r));
	r.op = op;
	r.log_method = method;
	r.identities = identities;
	r.cleanup_flags = flags;
	r.o = opts;
	r.n_pkgs = n;
	r.report = report;
	r.image_dir = opts->image_dir;
	r.target = opts->wim_path ? opts->wim_path : opts->image_dir;
	r.pkg_identity = calloc(n ? n : 1, sizeof(*r.pkg_identity));
	if (!r.pkg_identity) {
		offserv_set_error(err, errlen, "out of memory");
		return OFFSERV_E_OUTOFMEMORY;
	}
	for (size_t i = 0; i < n; i++)
		r.pkg_identity[i] = strdup(identities[i]);
	s = run_service(&r, err, errlen);
	verified_clear(&r);
	for (size_t i = 0; i < n; i++)
		free(r.pkg_identity[i]);
	free(r.pkg_identity);
	return s;
}

offserv_status offserv_engine_remove(const struct offserv_engine_options *opts,
                                     const char *const *identities, size_t n,
                                     struct offserv_engine_report *report, char *err,
                                     size_t errlen)
{
	return run_op(RUN_REMOVE, "Internal_RemovePackage", opts, identities, n, 0, report, err,
	              errlen);
}

offserv_status offserv_engine_cleanup(const struct offserv_engine_options *opts, unsigned flags,
                                      struct offserv_engine_report *report, char *err,
                                      size_t errlen)
{
	if (flags & ~OFFSERV_CLEANUP_RESET_BASE) {
		if (report)
			memset(report, 0, sizeof(*report));
		offserv_set_error(err, errlen, "unknown cleanup flags 0x%x", flags);
		return OFFSERV_E_INVALIDARG;
	}
	return run_op(RUN_CLEANUP, "Internal_StartComponentCleanup", opts, NULL, 0, flags, report,
	              err, errlen);
}

offserv_status offserv_engine_revert_pending(const struct offserv_engine_options *opts,
                                             struct offserv_engine_report *report, char *err,
                                             size_t errlen)
{
	return run_op(RUN_REVERT, "Internal_RevertPendingActions", opts, NULL, 0, 0, report, err,
	              errlen);
}

/* FILETIME (100 ns since 1601) to Unix seconds. */
static int64_t filetime_to_unix(uint64_t ft)
{
	return ft < 116444736000000000ull ? 0 : (int64_t)((ft - 116444736000000000ull) / 10000000ull);
}

offserv_status offserv_engine_analyze(const struct offserv_engine_options *opts, int index,
                                      struct offserv_component_store_info *info, char *err,
                                      size_t errlen)
{
	struct offserv_engine_report report;
	struct index_state ix;
	struct store_walk w;
	struct run r;
	offserv_status s;
	int *take = NULL;
	uint64_t bytes = 0;

	if (info)
		memset(info, 0, sizeof(*info));
	s = check_opts(opts, err, errlen);
	if (OFFSERV_FAILED(s))
		return s;
	if (!info || (opts->image_dir && index != 1)) {
		offserv_set_error(err, errlen, "%s: %s", opts->image_dir ? opts->image_dir : opts->wim_path,
		                  info ? "a directory tree is index 1" : "no result to fill");
		return OFFSERV_E_INVALIDARG;
	}
	memset(&r, 0, sizeof(r));
	memset(&report, 0, sizeof(report));
	memset(&ix, 0, sizeof(ix));
	memset(&w, 0, sizeof(w));
	r.op = RUN_CLEANUP;
	r.log_method = "Internal_AnalyzeComponentStore";
	r.o = opts;
	r.report = &report;
	r.image_dir = opts->image_dir;
	r.target = opts->wim_path ? opts->wim_path : opts->image_dir;
	r.n_indexes = 1;
	if (!r.image_dir) {
		s = offserv_wim_open(opts->wim_path, OFFSERV_WIM_OPEN_READ, &r.wim, err, errlen);
		if (OFFSERV_FAILED(s))
			return s;
		if (index < 1 || index > offserv_wim_image_count(r.wim)) {
			offserv_set_error(err, errlen, "%s has no index %d (it has %d)", opts->wim_path,
			                  index, offserv_wim_image_count(r.wim));
			offserv_wim_close(r.wim);
			return OFFSERV_E_INVALIDARG;
		}
	}
	s = index_setup(&r, &ix, index);
	if (OFFSERV_SUCCEEDED(s))
		s = view_build(&r, &ix);
	if (OFFSERV_SUCCEEDED(s))
		s = walk_store(&r, &ix, "Windows/WinSxS", 1, &w);
	if (OFFSERV_SUCCEEDED(s)) {
		info->explorer_size = w.bytes;
		info->actual_size = w.unique;
		info->shared_with_windows = w.shared;
		info->cache_and_temp = w.cache;
		take = calloc(ix.view->n_comps ? ix.view->n_comps : 1, sizeof(*take));
		s = take ? cleanup_plan(&r, &ix, take, &bytes) : OFFSERV_E_OUTOFMEMORY;
	}
	if (OFFSERV_SUCCEEDED(s)) {
		struct store_view *v = ix.view;
		offserv_hive_key k;
		uint64_t ft = 0;

		info->backups_and_disabled = bytes;
		for (size_t i = 0; i < v->n_comps; i++)
			if (take[i])
				for (size_t j = 0; j < v->n_comps; j++)
					if (strcasecmp(v->comps[j].key_form, v->comps[i].key_form) == 0)
						v->pkgs[v->comps[j].pkg].cleaned = 1;
		for (size_t p = 0; p < v->n_pkgs; p++)
			info->reclaimable_packages += v->pkgs[p].cleaned ? 1u : 0u;
		info->cleanup_recommended = info->reclaimable_packages > 0;
		if (OFFSERV_SUCCEEDED(offserv_hive_find(ix.software, 0, CBS_KEY, &k, NULL, 0)) &&
		    OFFSERV_SUCCEEDED(offserv_hive_get_qword(ix.software, k, OFFSERV_ENGINE_CLEANUP_VALUE,
		                                             &ft, NULL, 0)))
			info->last_cleanup = filetime_to_unix(ft);
	}
	if (OFFSERV_FAILED(s))
		offserv_set_error(err, errlen, "analysing index %d of %s failed: %s", index, r.target,
		                  r.err[0] ? r.err : offserv_status_name(s));
	free(take);
	walk_clear(&w);
	index_state_free(&ix);
	offserv_wim_close(r.wim);
	offserv_engine_report_clear(&report);
	return s;
}
