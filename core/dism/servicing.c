/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The servicing engine behind /Add-Package, /Remove-Package,
 * /Cleanup-Image and /Get-PackageInfo /PackagePath for an offline directory
 * tree (/Image:).  Update files are staged and expanded through the site's
 * update-format plugins by offserv_apply_updates(), which runs the
 * engine's directory backend; removal and cleanup call the engine's
 * directory backend directly, in a scratch folder of their own.
 */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <offserv/applicability.h>
#include <offserv/cbs.h>
#include <offserv/engine.h>
#include <offserv/job.h>
#include <offserv/log.h>
#include <offserv/plugin.h>
#include <offserv/plugins.h>
#include <offserv/site.h>
#include <offserv/util.h>

#include "dism/servicing.h"
#include "hive.h"

#define CBS_PACKAGES_KEY \
	"Microsoft\\Windows\\CurrentVersion\\Component Based Servicing\\Packages"

#define NOT_AVAILABLE "not available in this build"

/* A growing list of malloc'd strings. */
struct strlist {
	char **v;
	size_t n;
};

static offserv_status strlist_push(struct strlist *l, const char *s)
{
	char **nv = realloc(l->v, (l->n + 1) * sizeof(*nv));

	if (!nv)
		return OFFSERV_E_OUTOFMEMORY;
	l->v = nv;
	if (!(l->v[l->n] = strdup(s)))
		return OFFSERV_E_OUTOFMEMORY;
	l->n++;
	return OFFSERV_OK;
}

static void strlist_free(struct strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static int has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n > k && strcasecmp(s + n - k, suffix) == 0;
}

/* Every *.cab and *.msu below @p dir, in name order, folder by folder. */
static offserv_status find_updates(const char *dir, struct strlist *out, int depth, char *err,
                                   size_t errlen)
{
	struct dirent **names = NULL;
	int n = scandir(dir, &names, NULL, alphasort);
	offserv_status s = OFFSERV_OK;

	if (n < 0) {
		offserv_set_error(err, errlen, "%s: %s", dir, strerror(errno));
		return offserv_status_from_errno(errno);
	}
	for (int i = 0; i < n; i++) {
		const char *name = names[i]->d_name;
		char *path = NULL;
		struct stat st;

		if (OFFSERV_FAILED(s) || !strcmp(name, ".") || !strcmp(name, ".."))
			goto next;
		path = offserv_path_join(dir, name);
		if (!path) {
			s = OFFSERV_E_OUTOFMEMORY;
			goto next;
		}
		if (lstat(path, &st) != 0)
			goto next;
		if (S_ISDIR(st.st_mode) && depth < 16)
			s = find_updates(path, out, depth + 1, err, errlen);
		else if (S_ISREG(st.st_mode) && (has_suffix(name, ".cab") || has_suffix(name, ".msu")))
			s = strlist_push(out, path);
next:
		free(path);
		free(names[i]);
	}
	free(names);
	return s;
}

/* The update files, package folders and manifests a /PackagePath stands for. */
static offserv_status expand_package_path(const char *path, struct strlist *out, char *err,
                                          size_t errlen)
{
	struct stat st;
	char *mum;
	size_t before = out->n;
	offserv_status s;
	int expanded;

	if (stat(path, &st) != 0) {
		offserv_set_error(err, errlen, "An error occurred trying to open - %s: %s", path,
		                  strerror(errno));
		return offserv_status_from_errno(errno);
	}
	if (!S_ISDIR(st.st_mode))
		return strlist_push(out, path);
	mum = offserv_path_join(path, "update.mum");
	if (!mum)
		return OFFSERV_E_OUTOFMEMORY;
	expanded = access(mum, R_OK) == 0;
	free(mum);
	if (expanded)
		return strlist_push(out, path);
	s = find_updates(path, out, 0, err, errlen);
	if (OFFSERV_SUCCEEDED(s) && out->n == before) {
		offserv_set_error(err, errlen,
		                  "%s holds no package: no update.mum, no .cab or .msu file", path);
		return OFFSERV_E_FILE_NOT_FOUND;
	}
	return s;
}

/* The progress of a run, turned into the program's events. */
struct add_ctx {
	const struct dism_servicing_events *ev;
	const char *verb; /* "Adding", "Removing" */
	size_t announced; /* packages announced with package_begin */
};

static void announce(struct add_ctx *c, size_t package, size_t n, const char *identity)
{
	if (package + 1 <= c->announced || !identity)
		return;
	c->announced = package + 1;
	if (c->ev && c->ev->package_begin)
		c->ev->package_begin(c->ev->ctx, package + 1, n, c->verb, identity);
}

static int on_progress(void *ctx, const struct offserv_engine_progress *p)
{
	struct add_ctx *c = ctx;

	if (p->package < p->n_packages)
		announce(c, p->package, p->n_packages, p->identity);
	if (c->ev && c->ev->progress)
		c->ev->progress(c->ev->ctx, p->percent);
	return 0;
}

static void ev_logf(const struct dism_servicing_events *ev, int level, const char *fmt, ...)
	OFFSERV_PRINTF(3, 4);

static void ev_logf(const struct dism_servicing_events *ev, int level, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;

	if (!ev || !ev->log)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ev->log(ev->ctx, level, msg);
}

/* Whether the site loaded a plugin that reads update files (CAB, MSU). */
static int has_update_plugin(const struct offserv_site *site)
{
	const struct offserv_plugins *pl = offserv_site_plugins(site);

	for (size_t i = 0; pl && i < offserv_plugins_count(pl); i++) {
		const struct offserv_loaded_plugin *lp = offserv_plugins_get(pl, i);
		if (lp && lp->desc && lp->desc->kind == OFFSERV_PLUGIN_UPDATE_FORMAT)
			return 1;
	}
	return 0;
}

/* An expanded package (a folder holding update.mum) or a package manifest. */
static int is_expanded_package(const char *path)
{
	struct stat st;
	char *mum;
	int ok;

	if (has_suffix(path, ".mum"))
		return 1;
	if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
		return 0;
	mum = offserv_path_join(path, "update.mum");
	ok = mum && access(mum, R_OK) == 0;
	free(mum);
	return ok;
}

static offserv_status open_site(struct offserv_site **site, char *err, size_t errlen)
{
	struct offserv_site_options so;
	char why[1024] = "";
	offserv_status s;

	memset(&so, 0, sizeof(so));
	s = offserv_site_open(&so, site, why, sizeof(why));
	if (OFFSERV_FAILED(s))
		offserv_set_error(err, errlen, "cannot open the site configuration: %s", why);
	return s;
}

void dism_package_info_clear(struct dism_package_info *info)
{
	char **f[] = {&info->identity, &info->applicable, &info->copyright, &info->company,
	              &info->creation_time, &info->description, &info->install_client,
	              &info->install_package_name, &info->install_time, &info->last_update_time,
	              &info->name, &info->product_name, &info->product_version, &info->release_type,
	              &info->restart_required, &info->support_information, &info->state,
	              &info->offline_capable, &info->self_servicing, &info->capability_identity};

	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		free(*f[i]);
	memset(info, 0, sizeof(*info));
}

offserv_status dism_servicing_add_packages(const struct dism_servicing_request *rq,
                                           const struct dism_servicing_events *ev,
                                           int *reboot_required, char *err, size_t errlen)
{
	struct offserv_site *site = NULL;
	struct strlist updates = {0};
	struct offserv_apply_options ao;
	struct offserv_apply_report rep;
	struct add_ctx ac = {.ev = ev, .verb = "Adding", .announced = 0};
	offserv_status s = OFFSERV_OK;

	*reboot_required = 0;
	memset(&rep, 0, sizeof(rep));
	s = open_site(&site, err, errlen);
	for (size_t i = 0; i < rq->n_package_paths && OFFSERV_SUCCEEDED(s); i++) {
		/* A missing path is "file not found" whatever else is wrong. */
		s = expand_package_path(rq->package_paths[i], &updates, err, errlen);
		if (OFFSERV_SUCCEEDED(s) && !has_update_plugin(site) &&
		    !is_expanded_package(rq->package_paths[i])) {
			offserv_set_error(err, errlen,
			                  "%s: no update-format plugin is loaded (the site's [plugins] directory), so update files cannot be read",
			                  rq->package_paths[i]);
			s = OFFSERV_E_NOTIMPL;
		}
	}
	if (OFFSERV_SUCCEEDED(s) && updates.n == 0) {
		offserv_set_error(err, errlen, "no /PackagePath given");
		s = OFFSERV_E_INVALIDARG;
	}
	if (OFFSERV_FAILED(s))
		goto out;
	memset(&ao, 0, sizeof(ao));
	ao.image_dir = rq->image_dir;
	ao.updates = (const char *const *)updates.v;
	ao.n_updates = updates.n;
	ao.prevent_pending = rq->prevent_pending;
	ao.ignore_check = rq->ignore_check;
	ao.progress = on_progress;
	ao.progress_ctx = &ac;
	ao.dism_log = rq->log;
	s = offserv_apply_updates(site, &ao, &rep, err, errlen);
	/* Packages decided before any progress (not applicable, already
	 * installed) are announced now, in order, before the verdict. */
	for (size_t i = 0; i < rep.engine.n_results; i++) {
		const struct offserv_engine_result *res = &rep.engine.results[i];

		announce(&ac, res->package, rep.n_packages, res->identity);
		ev_logf(ev, OFFSERV_FAILED(res->status) ? OFFSERV_LOG_ERROR : OFFSERV_LOG_INFO,
		        "Package %s: %s (%s) [HRESULT = 0x%08x]",
		        res->identity ? res->identity : "(unread)", offserv_outcome_name(res->outcome),
		        res->message, (unsigned)res->status);
	}
	if (OFFSERV_SUCCEEDED(s)) {
		*reboot_required = rep.engine.reboot_required;
		if (ev && ev->progress)
			ev->progress(ev->ctx, 100.0);
	} else {
		/* The verdict of the failed package says more than the run's summary. */
		for (size_t i = 0; i < rep.engine.n_results; i++) {
			const struct offserv_engine_result *res = &rep.engine.results[i];
			if (res->status == s && res->message && res->message[0]) {
				offserv_set_error(err, errlen, "%s: %s",
				                  res->identity ? res->identity : "package", res->message);
				break;
			}
		}
	}
	offserv_apply_report_clear(&rep);
out:
	offserv_site_close(site);
	strlist_free(&updates);
	return s;
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* @p rel ('/' separated) under @p root, each component matched exactly or ignoring case. */
static char *resolve_ci(const char *root, const char *rel)
{
	char *cur = strdup(root), *copy = strdup(rel), *save = NULL, *part;

	for (part = cur && copy ? strtok_r(copy, "/", &save) : NULL; part && cur;
	     part = strtok_r(NULL, "/", &save)) {
		char *next = offserv_path_join(cur, part);
		struct stat st;
		DIR *d;
		struct dirent *e;

		if (next && lstat(next, &st) != 0 && (d = opendir(cur)) != NULL) {
			free(next);
			next = NULL;
			while ((e = readdir(d)) != NULL && !next)
				if (strcasecmp(e->d_name, part) == 0)
					next = offserv_path_join(cur, e->d_name);
			closedir(d);
		} else if (next && lstat(next, &st) != 0) {
			free(next);
			next = NULL;
		}
		free(cur);
		cur = next;
	}
	free(copy);
	return cur;
}

/* The packages the image's SOFTWARE hive registers; the image's architecture. */
static void read_image_packages(const char *image_dir, struct offserv_installed_package **out,
                                size_t *n_out, char arch[8])
{
	char *path = resolve_ci(image_dir, "Windows/System32/config/SOFTWARE");
	struct offserv_hive *h = NULL;
	offserv_hive_key pk, k;
	char **names = NULL;
	size_t n = 0;

	*out = NULL;
	*n_out = 0;
	snprintf(arch, 8, "x64");
	if (!path || offserv_hive_open(path, OFFSERV_HIVE_READ, &h, NULL, 0) != OFFSERV_OK ||
	    offserv_hive_find(h, 0, CBS_PACKAGES_KEY, &pk, NULL, 0) != OFFSERV_OK ||
	    offserv_hive_subkeys(h, pk, &names, &n, NULL, 0) != OFFSERV_OK)
		goto out;
	*out = calloc(n ? n : 1, sizeof(**out));
	for (size_t i = 0; *out && i < n; i++) {
		uint32_t state = 0;
		struct offserv_identity id;

		if (offserv_hive_find(h, pk, names[i], &k, NULL, 0) != OFFSERV_OK ||
		    offserv_hive_get_dword(h, k, "CurrentState", &state, NULL, 0) != OFFSERV_OK)
			continue;
		(*out)[*n_out].identity = strdup(names[i]);
		(*out)[*n_out].state = state;
		if ((*out)[*n_out].identity)
			(*n_out)++;
		memset(&id, 0, sizeof(id));
		if (strncasecmp(names[i], "Microsoft-Windows-Foundation-Package~", 37) == 0 &&
		    offserv_identity_parse_package_string(names[i], &id) == OFFSERV_OK &&
		    id.arch && offserv_arch_to_image(id.arch))
			snprintf(arch, 8, "%s", offserv_arch_to_image(id.arch));
		offserv_identity_clear(&id);
	}
out:
	offserv_hive_free_names(names);
	offserv_hive_close(h);
	free(path);
}

/*
 * Fill @p out from the package manifest at @p mum_path; applicability and
 * state against the image at @p image_dir.
 */
static offserv_status info_from_mum(const char *mum_path, const char *image_dir,
                                    struct dism_package_info *out, char *err, size_t errlen)
{
	struct offserv_mum *mum = NULL;
	struct offserv_installed_package *inst = NULL;
	struct offserv_applicability_result ar;
	size_t n_inst = 0;
	char why[1024] = "", arch[8];
	const char *state = "Not Present";
	offserv_status s = offserv_mum_load(mum_path, &mum, why, sizeof(why));

	if (OFFSERV_FAILED(s)) {
		offserv_set_error(err, errlen, "%s: %s", mum_path, why);
		return s;
	}
	out->identity = offserv_identity_package_string(&mum->id);
	read_image_packages(image_dir, &inst, &n_inst, arch);
	memset(&ar, 0, sizeof(ar));
	/* Applicable: its parent and architecture fit (installed or not). */
	out->applicable = strdup(offserv_applicability_check_mum(inst, n_inst, arch, mum, &ar) ==
	                                         OFFSERV_OK &&
	                                 ar.verdict != OFFSERV_NOT_APPLICABLE_ARCH &&
	                                 ar.verdict != OFFSERV_NOT_APPLICABLE_PARENT
	                             ? "Yes"
	                             : "No");
	for (size_t i = 0; i < n_inst; i++) {
		if (out->identity && strcasecmp(inst[i].identity, out->identity) == 0)
			state = offserv_package_state_name(inst[i].state);
		free((char *)inst[i].identity);
	}
	free(inst);
	out->name = dup_or_null(mum->display_name);
	out->company = dup_or_null(mum->company);
	out->copyright = dup_or_null(mum->copyright);
	out->creation_time = dup_or_null(mum->creation_time);
	out->last_update_time = dup_or_null(mum->last_update_time);
	out->description = dup_or_null(mum->description);
	out->product_name = dup_or_null(mum->id.name);
	out->product_version = dup_or_null(mum->id.version);
	out->release_type = dup_or_null(mum->release_type);
	out->support_information = dup_or_null(mum->support_information);
	out->restart_required = strdup(!mum->restart ? "Possible"
	                               : !strcasecmp(mum->restart, "required") ? "Required"
	                               : !strcasecmp(mum->restart, "never")    ? "No"
	                                                                        : "Possible");
	out->state = strdup(state);
	out->offline_capable = strdup("Undetermined");
	out->self_servicing = strdup("No");
	offserv_mum_free(mum);
	if (!out->identity) {
		dism_package_info_clear(out);
		return OFFSERV_E_OUTOFMEMORY;
	}
	return OFFSERV_OK;
}

/* A scratch folder of this run under /ScratchDir, $TMPDIR or /tmp; malloc'd. */
static offserv_status make_scratch(const char *scratch_dir, const char *tag, char **out,
                                   char *err, size_t errlen)
{
	const char *base = scratch_dir ? scratch_dir : getenv("TMPDIR");

	*out = NULL;
	if (!base || !*base)
		base = "/tmp";
	if (asprintf(out, "%s/offserv-%s.XXXXXX", base, tag) < 0) {
		*out = NULL;
		return OFFSERV_E_OUTOFMEMORY;
	}
	if (!mkdtemp(*out)) {
		int e = errno;
		offserv_set_error(err, errlen, "cannot make a scratch folder %s: %s", *out, strerror(e));
		free(*out);
		*out = NULL;
		return offserv_status_from_errno(e);
	}
	return OFFSERV_OK;
}

static void drop_scratch(char *dir)
{
	if (dir)
		offserv_rmtree(dir, NULL, 0);
	free(dir);
}

/*
 * Expand the update file @p path through the plugin that recognises it
 * into a new scratch folder (*tmp_out, to be removed by the caller even on
 * failure) and give the manifest of its last package in *mum_out: the
 * update itself, as a servicing stack in the same file comes first.
 * Opens the site into *site when it is not open yet.
 */
static offserv_status expand_update_file(const char *path, const char *scratch_dir,
                                         struct offserv_site **site, char **tmp_out,
                                         char **mum_out, char *err, size_t errlen)
{
	const struct offserv_loaded_plugin *pl;
	struct offserv_expanded_package *ex = NULL;
	size_t n_ex = 0;
	char why[1024] = "";
	offserv_status s = OFFSERV_OK;

	*tmp_out = NULL;
	*mum_out = NULL;
	if (!*site)
		s = open_site(site, err, errlen);
	if (OFFSERV_FAILED(s))
		return s;
	pl = offserv_plugins_probe_update(offserv_site_plugins(*site), path);
	if (!pl) {
		offserv_set_error(err, errlen,
		                  "%s: not a Windows update package that a loaded plugin recognises",
		                  path);
		return OFFSERV_CBS_E_INVALID_PACKAGE;
	}
	s = make_scratch(scratch_dir, "pkg", tmp_out, err, errlen);
	if (OFFSERV_FAILED(s))
		return s;
	s = pl->desc->ops.update_format->expand(pl->ctx, path, *tmp_out, &ex, &n_ex, why,
	                                         sizeof(why));
	if (OFFSERV_FAILED(s)) {
		offserv_set_error(err, errlen, "%s: %s", path, why);
	} else if (n_ex == 0) {
		offserv_set_error(err, errlen, "%s holds no package", path);
		s = OFFSERV_CBS_E_INVALID_PACKAGE;
	} else {
		*mum_out = offserv_path_join(ex[n_ex - 1].dir, ex[n_ex - 1].mum_name
		                                                   ? ex[n_ex - 1].mum_name
		                                                   : "update.mum");
		if (!*mum_out)
			s = OFFSERV_E_OUTOFMEMORY;
	}
	offserv_expanded_packages_free(ex, n_ex);
	return s;
}

offserv_status dism_servicing_package_info(const struct dism_servicing_request *rq,
                                           const struct dism_servicing_events *ev,
                                           struct dism_package_info *out, char *err,
                                           size_t errlen)
{
	const char *path = rq->n_package_paths ? rq->package_paths[0] : NULL;
	struct offserv_site *site = NULL;
	char *tmp = NULL, *mum = NULL;
	struct stat st;
	offserv_status s;

	(void)ev;
	memset(out, 0, sizeof(*out));
	if (!path) {
		offserv_set_error(err, errlen, "no /PackagePath given");
		return OFFSERV_E_INVALIDARG;
	}
	if (stat(path, &st) != 0) {
		offserv_set_error(err, errlen, "An error occurred trying to open - %s: %s", path,
		                  strerror(errno));
		return offserv_status_from_errno(errno);
	}
	if (S_ISDIR(st.st_mode) || has_suffix(path, ".mum")) {
		mum = S_ISDIR(st.st_mode) ? offserv_path_join(path, "update.mum") : strdup(path);
		s = mum ? info_from_mum(mum, rq->image_dir, out, err, errlen) : OFFSERV_E_OUTOFMEMORY;
		free(mum);
		return s;
	}
	/* An update file: expand it into a scratch folder and read its package. */
	s = expand_update_file(path, rq->scratch_dir, &site, &tmp, &mum, err, errlen);
	if (OFFSERV_SUCCEEDED(s))
		s = info_from_mum(mum, rq->image_dir, out, err, errlen);
	free(mum);
	drop_scratch(tmp);
	offserv_site_close(site);
	return s;
}

/* ---- /Remove-Package and /Cleanup-Image ------------------------------------ */

/* The package identity a manifest declares, added to @p out. */
static offserv_status push_mum_identity(const char *mum_path, struct strlist *out, char *err,
                                        size_t errlen)
{
	struct offserv_mum *mum = NULL;
	char why[1024] = "";
	char *id;
	offserv_status s = offserv_mum_load(mum_path, &mum, why, sizeof(why));

	if (OFFSERV_FAILED(s)) {
		offserv_set_error(err, errlen, "%s: %s", mum_path, why);
		return s;
	}
	id = offserv_identity_package_string(&mum->id);
	offserv_mum_free(mum);
	if (!id)
		return OFFSERV_E_OUTOFMEMORY;
	s = strlist_push(out, id);
	free(id);
	return s;
}

/* The identities of the packages a /PackagePath of /Remove-Package stands for. */
static offserv_status push_path_identities(const char *path, const char *scratch_dir,
                                           struct offserv_site **site, struct strlist *out,
                                           char *err, size_t errlen)
{
	struct strlist files = {0};
	offserv_status s;

	if (is_expanded_package(path)) {
		char *mum = has_suffix(path, ".mum") ? strdup(path)
		                                     : offserv_path_join(path, "update.mum");
		s = mum ? push_mum_identity(mum, out, err, errlen) : OFFSERV_E_OUTOFMEMORY;
		free(mum);
		return s;
	}
	s = expand_package_path(path, &files, err, errlen);
	for (size_t i = 0; i < files.n && OFFSERV_SUCCEEDED(s); i++) {
		char *tmp = NULL, *mum = NULL;

		if (is_expanded_package(files.v[i])) {
			s = push_path_identities(files.v[i], scratch_dir, site, out, err, errlen);
			continue;
		}
		s = expand_update_file(files.v[i], scratch_dir, site, &tmp, &mum, err, errlen);
		if (OFFSERV_SUCCEEDED(s))
			s = push_mum_identity(mum, out, err, errlen);
		free(mum);
		drop_scratch(tmp);
	}
	strlist_free(&files);
	return s;
}

/* Engine options for the directory tree of @p rq, working in @p scratch. */
static void engine_options(const struct dism_servicing_request *rq, const char *scratch,
                           struct add_ctx *ac, struct offserv_engine_options *eo)
{
	memset(eo, 0, sizeof(*eo));
	eo->image_dir = rq->image_dir;
	eo->scratch_dir = scratch;
	eo->progress = on_progress;
	eo->progress_ctx = ac;
	eo->dism_log = rq->log;
}

/*
 * Log each package's verdict, announce those the progress did not, and
 * on failure put the failed package's own message into @p err.
 */
static void report_results(const struct offserv_engine_report *rep, struct add_ctx *ac,
                           size_t n_announce, offserv_status s, char *err, size_t errlen)
{
	for (size_t i = 0; i < rep->n_results; i++) {
		const struct offserv_engine_result *res = &rep->results[i];

		if (n_announce)
			announce(ac, res->package, n_announce, res->identity);
		ev_logf(ac->ev, OFFSERV_FAILED(res->status) ? OFFSERV_LOG_ERROR : OFFSERV_LOG_INFO,
		        "Package %s: %s (%s) [HRESULT = 0x%08x]",
		        res->identity ? res->identity : "(unread)", offserv_outcome_name(res->outcome),
		        res->message ? res->message : "", (unsigned)res->status);
	}
	if (OFFSERV_SUCCEEDED(s))
		return;
	for (size_t i = 0; i < rep->n_results; i++) {
		const struct offserv_engine_result *res = &rep->results[i];
		if (res->status == s && res->message && res->message[0]) {
			if (res->identity && strstr(res->message, res->identity))
				offserv_set_error(err, errlen, "%s", res->message);
			else
				offserv_set_error(err, errlen, "%s: %s",
				                  res->identity ? res->identity : "package", res->message);
			break;
		}
	}
}

offserv_status dism_servicing_remove_package(const struct dism_servicing_request *rq,
                                             const struct dism_servicing_events *ev,
                                             int *reboot_required, char *err, size_t errlen)
{
	struct offserv_site *site = NULL;
	struct strlist ids = {0};
	struct offserv_engine_options eo;
	struct offserv_engine_report rep;
	struct add_ctx ac = {.ev = ev, .verb = "Removing", .announced = 0};
	char *work = NULL;
	offserv_status s = OFFSERV_OK;

	*reboot_required = 0;
	memset(&rep, 0, sizeof(rep));
	for (size_t i = 0; i < rq->n_package_refs && OFFSERV_SUCCEEDED(s); i++) {
		const struct dism_package_ref *r = &rq->package_refs[i];

		if (r->is_path)
			s = push_path_identities(r->value, rq->scratch_dir, &site, &ids, err, errlen);
		else
			s = strlist_push(&ids, r->value);
	}
	offserv_site_close(site);
	if (OFFSERV_SUCCEEDED(s) && ids.n == 0) {
		offserv_set_error(err, errlen, "no /PackageName or /PackagePath given");
		s = OFFSERV_E_INVALIDARG;
	}
	for (size_t i = 0; i < ids.n && OFFSERV_SUCCEEDED(s); i++)
		ev_logf(ev, OFFSERV_LOG_INFO, "Package %zu to remove: %s", i + 1, ids.v[i]);
	if (OFFSERV_SUCCEEDED(s))
		s = make_scratch(rq->scratch_dir, "remove", &work, err, errlen);
	if (OFFSERV_FAILED(s))
		goto out;
	engine_options(rq, work, &ac, &eo);
	s = offserv_engine_remove(&eo, (const char *const *)ids.v, ids.n, &rep, err, errlen);
	report_results(&rep, &ac, ids.n, s, err, errlen);
	if (OFFSERV_SUCCEEDED(s)) {
		*reboot_required = rep.reboot_required;
		if (ev && ev->progress)
			ev->progress(ev->ctx, 100.0);
	}
	offserv_engine_report_clear(&rep);
out:
	drop_scratch(work);
	strlist_free(&ids);
	return s;
}

offserv_status dism_servicing_cleanup_image(const struct dism_servicing_request *rq,
                                            enum dism_cleanup_action action, int reset_base,
                                            const struct dism_servicing_events *ev,
                                            struct offserv_component_store_info *store,
                                            char *err, size_t errlen)
{
	struct offserv_engine_options eo;
	struct offserv_engine_report rep;
	struct offserv_component_store_info scratch_info;
	struct add_ctx ac = {.ev = ev, .verb = "Processing", .announced = 0};
	char *work = NULL;
	offserv_status s;

	memset(&rep, 0, sizeof(rep));
	s = make_scratch(rq->scratch_dir, "cleanup", &work, err, errlen);
	if (OFFSERV_FAILED(s))
		return s;
	engine_options(rq, work, &ac, &eo);
	/* Progress of a cleanup is a bar, not a list of packages. */
	ac.announced = (size_t)-1;
	switch (action) {
	case DISM_CLEANUP_ANALYZE:
		if (!store)
			store = &scratch_info;
		s = offserv_engine_analyze(&eo, 1, store, err, errlen);
		if (OFFSERV_SUCCEEDED(s))
			ev_logf(ev, OFFSERV_LOG_INFO,
			        "Component store: %llu bytes reported, %llu actual, %llu shared, %llu backups, %llu cache, %u reclaimable packages",
			        (unsigned long long)store->explorer_size,
			        (unsigned long long)store->actual_size,
			        (unsigned long long)store->shared_with_windows,
			        (unsigned long long)store->backups_and_disabled,
			        (unsigned long long)store->cache_and_temp, store->reclaimable_packages);
		break;
	case DISM_CLEANUP_COMPONENT_CLEANUP:
		ev_logf(ev, OFFSERV_LOG_INFO, "Starting component cleanup%s",
		        reset_base ? " with ResetBase" : "");
		s = offserv_engine_cleanup(&eo, reset_base ? OFFSERV_CLEANUP_RESET_BASE : 0, &rep, err,
		                           errlen);
		report_results(&rep, &ac, 0, s, err, errlen);
		break;
	case DISM_CLEANUP_REVERT_PENDING:
		ev_logf(ev, OFFSERV_LOG_INFO, "Reverting pending actions");
		s = offserv_engine_revert_pending(&eo, &rep, err, errlen);
		report_results(&rep, &ac, 0, s, err, errlen);
		break;
	default:
		offserv_set_error(err, errlen, "unknown cleanup action %d", (int)action);
		s = OFFSERV_E_INVALIDARG;
		break;
	}
	if (OFFSERV_SUCCEEDED(s) && ev && ev->progress)
		ev->progress(ev->ctx, 100.0);
	offserv_engine_report_clear(&rep);
	drop_scratch(work);
	return s;
}
