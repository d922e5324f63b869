/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Applying update files: staging, expansion, the engine, cleanup. */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <offserv/drive.h>
#include <offserv/job.h>
#include <offserv/util.h>

struct pkglist {
	struct offserv_engine_package *pkgs;
	char **owned; /* strings the packages point to */
	size_t n, n_owned;
	char **stages; /* staging folders made, removed at the end */
	size_t n_stages;
	size_t *update; /* per package: the update it came from */
	int *ssu;       /* per package: a servicing stack update */
};

static const char *own(struct pkglist *l, char *s)
{
	char **no;

	if (!s)
		return NULL;
	no = realloc(l->owned, (l->n_owned + 1) * sizeof(*no));
	if (!no) {
		free(s);
		return NULL;
	}
	l->owned = no;
	l->owned[l->n_owned++] = s;
	return s;
}

static offserv_status push_pkg(struct pkglist *l, const char *dir, const char *mum,
                               const char *source, size_t update, int ssu)
{
	struct offserv_engine_package *np = realloc(l->pkgs, (l->n + 1) * sizeof(*np));
	size_t *nu;
	int *ns;

	if (!np)
		return OFFSERV_E_OUTOFMEMORY;
	l->pkgs = np;
	nu = realloc(l->update, (l->n + 1) * sizeof(*nu));
	if (!nu)
		return OFFSERV_E_OUTOFMEMORY;
	l->update = nu;
	ns = realloc(l->ssu, (l->n + 1) * sizeof(*ns));
	if (!ns)
		return OFFSERV_E_OUTOFMEMORY;
	l->ssu = ns;
	nu[l->n] = update;
	ns[l->n] = ssu;
	np[l->n].dir = own(l, strdup(dir));
	np[l->n].mum_name = own(l, strdup(mum ? mum : "update.mum"));
	np[l->n].source = own(l, strdup(source));
	if (!np[l->n].dir || !np[l->n].mum_name || !np[l->n].source)
		return OFFSERV_E_OUTOFMEMORY;
	l->n++;
	return OFFSERV_OK;
}

static void set_message(struct offserv_apply_update *u, offserv_status s, const char *fmt, ...)
	OFFSERV_PRINTF(3, 4);

static void set_message(struct offserv_apply_update *u, offserv_status s, const char *fmt, ...)
{
	va_list ap;

	u->status = s;
	free(u->message);
	u->message = NULL;
	va_start(ap, fmt);
	if (vasprintf(&u->message, fmt, ap) < 0)
		u->message = NULL;
	va_end(ap);
}

/*
 * Each run lists the staging folders it makes in
 * "<workdir>/.offserv-run-<pid>", before it makes them.  A run killed with
 * SIGKILL cannot remove its folders; the next run removes those of every
 * listed process that no longer exists.
 */
static void run_record(const char *workdir, const char *dir)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/.offserv-run-%ld", workdir, (long)getpid());
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return;
	if (write(fd, dir, strlen(dir)) < 0 || write(fd, "\n", 1) < 0) {
		/* best effort: the folders are still removed at the end of a live run */
	}
	close(fd);
}

static void sweep_dead_runs(const char *workdir, struct offserv_logfile *log)
{
	size_t wl = strlen(workdir);
	DIR *d = opendir(workdir);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d)) != NULL) {
		char *end, *manifest, *data = NULL, *line, *save = NULL;
		size_t len;
		long pid;

		if (strncmp(e->d_name, ".offserv-run-", 13) != 0)
			continue;
		pid = strtol(e->d_name + 13, &end, 10);
		if (*end || pid <= 0 || pid == (long)getpid() || kill((pid_t)pid, 0) == 0 ||
		    errno != ESRCH)
			continue;
		manifest = offserv_path_join(workdir, e->d_name);
		if (!manifest)
			continue;
		if (OFFSERV_SUCCEEDED(offserv_read_file(manifest, 1 << 20, &data, &len, NULL, 0))) {
			for (line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
				if (strncmp(line, workdir, wl) != 0 || line[wl] != '/' || strstr(line, "/.."))
					continue;
				if (OFFSERV_SUCCEEDED(offserv_rmtree(line, NULL, 0)))
					offserv_logfile_write(log, OFFSERV_LOG_WARNING, NULL,
					                      "Removed %s, left by process %ld, which ended without cleaning up",
					                      line, pid);
			}
		}
		free(data);
		unlink(manifest);
		free(manifest);
	}
	closedir(d);
}

/* Turn one update path into engine packages (expanding through a plugin). */
static offserv_status stage_update(struct offserv_site *site, const char *drive,
                                   const char *workdir, const char *path, size_t ui, struct offserv_apply_update *u,
                                   struct pkglist *l)
{
	struct offserv_logfile *log = offserv_site_log(site);
	struct stat st;
	size_t n = strlen(path);
	const struct offserv_loaded_plugin *pl;
	const struct offserv_update_format_ops *ops;
	struct offserv_update_info *info = NULL;
	struct offserv_expanded_package *ex = NULL;
	size_t n_ex = 0;
	char guid[37], *stage = NULL, err[1024] = "";
	offserv_status s;

	u->path = path;
	if (stat(path, &st) != 0) {
		s = offserv_status_from_errno(errno);
		set_message(u, s, "%s: %s", path, strerror(errno));
		return s;
	}
	if (S_ISDIR(st.st_mode)) {
		char *mum = offserv_path_join(path, "update.mum");
		int ok = mum && access(mum, R_OK) == 0;
		free(mum);
		if (!ok) {
			set_message(u, OFFSERV_CBS_E_INVALID_PACKAGE,
			            "%s is not an expanded package: it has no update.mum", path);
			return OFFSERV_CBS_E_INVALID_PACKAGE;
		}
		s = push_pkg(l, path, "update.mum", path, ui, 0);
		u->n_packages = 1;
		return s;
	}
	if (n > 4 && strcasecmp(path + n - 4, ".mum") == 0) {
		char *d1 = strdup(path), *d2 = strdup(path);
		s = d1 && d2 ? push_pkg(l, dirname(d1), basename(d2), path, ui, 0) : OFFSERV_E_OUTOFMEMORY;
		free(d1);
		free(d2);
		u->n_packages = 1;
		return s;
	}
	pl = offserv_plugins_probe_update(offserv_site_plugins(site), path);
	if (!pl) {
		set_message(u, OFFSERV_CBS_E_INVALID_PACKAGE,
		            "%s: not a Windows update package that a loaded plugin recognises", path);
		return OFFSERV_CBS_E_INVALID_PACKAGE;
	}
	ops = pl->desc->ops.update_format;
	s = ops->read_info(pl->ctx, path, &info, err, sizeof(err));
	if (OFFSERV_FAILED(s)) {
		set_message(u, s, "%s: %s", path, err);
		return s;
	}
	for (size_t i = 0; i < info->n_packages; i++) {
		if (!info->packages[i].supported) {
			s = OFFSERV_E_NOT_SUPPORTED;
			set_message(u, s, "%s: package %s cannot be applied yet: %s", path,
			            info->packages[i].identity ? info->packages[i].identity : "(unknown)",
			            info->packages[i].unsupported_reason ? info->packages[i].unsupported_reason
			                                                 : "unsupported");
			offserv_logfile_write(log, OFFSERV_LOG_WARNING, NULL,
			                      "Applicability State = APPLICABILITY_CHECK_NOT_SUPPORTED, Update Binary = %s.",
			                      path);
			offserv_logfile_write(log, OFFSERV_LOG_WARNING, NULL,
			                      "Not applying this update binary, it is not supported");
			offserv_update_info_free(info);
			return s;
		}
	}
	offserv_update_info_free(info);
	s = offserv_guid_generate(guid);
	if (OFFSERV_SUCCEEDED(s)) {
		char *planned = NULL;
		if (asprintf(&planned, "%s/%s", workdir, guid) >= 0)
			run_record(workdir, planned);
		free(planned);
		s = offserv_drive_update_dir(drive, guid, &stage, err, sizeof(err));
	}
	if (OFFSERV_FAILED(s)) {
		set_message(u, s, "%s: cannot stage: %s", path, err);
		return s;
	}
	{
		char **ns = realloc(l->stages, (l->n_stages + 1) * sizeof(*ns));
		if (!ns) {
			offserv_rmtree(stage, NULL, 0);
			free(stage);
			return OFFSERV_E_OUTOFMEMORY;
		}
		l->stages = ns;
		l->stages[l->n_stages++] = strdup(stage);
	}
	s = ops->expand(pl->ctx, path, stage, &ex, &n_ex, err, sizeof(err));
	if (OFFSERV_FAILED(s)) {
		set_message(u, s, "%s: %s", path, err);
		free(stage);
		return s;
	}
	offserv_logfile_write(log, OFFSERV_LOG_INFO, NULL, "Staged update binary %s to %s (%zu packages)",
	                      path, stage, n_ex);
	for (size_t i = 0; i < n_ex && OFFSERV_SUCCEEDED(s); i++)
		s = push_pkg(l, ex[i].dir, ex[i].mum_name, path, ui, ex[i].is_ssu);
	u->n_packages = n_ex;
	offserv_expanded_packages_free(ex, n_ex);
	free(stage);
	return s;
}

offserv_status offserv_apply_updates(struct offserv_site *site,
                                     const struct offserv_apply_options *o,
                                     struct offserv_apply_report *report, char *err,
                                     size_t errlen)
{
	const struct offserv_config *cfg = offserv_site_config(site);
	struct offserv_logfile *log = offserv_site_log(site);
	struct pkglist l = {0};
	char why[1024] = "", idbuf[64], *workdir = NULL, *imagedir = NULL;
	struct offserv_engine_options eo;
	offserv_status s, first = OFFSERV_OK;

	memset(report, 0, sizeof(*report));
	s = offserv_drive_resolve(offserv_config_drive(cfg), offserv_config_site_root(cfg),
	                          &report->drive, why, sizeof(why));
	if (OFFSERV_FAILED(s)) {
		snprintf(err, errlen, "servicing drive: %s", why);
		return s;
	}
	if (why[0]) {
		report->drive_note = strdup(why);
		offserv_logfile_write(log, OFFSERV_LOG_WARNING, NULL, "%s", why);
	}
	s = offserv_drive_workdir(report->drive, &workdir, err, errlen);
	if (s == OFFSERV_E_ACCESS_DENIED) {
		/* An unprivileged site cannot write at the volume's root: work
		 * under the site root, which it owns, on the same volume. */
		offserv_logfile_write(log, OFFSERV_LOG_WARNING, NULL,
		                      "Cannot use %s (%s); using the site root instead", report->drive, err);
		free(report->drive);
		report->drive = strdup(offserv_config_site_root(cfg));
		if (!report->drive)
			return OFFSERV_E_OUTOFMEMORY;
		s = offserv_drive_workdir(report->drive, &workdir, err, errlen);
	}
	if (OFFSERV_FAILED(s))
		return s;
	sweep_dead_runs(workdir, log);
	snprintf(idbuf, sizeof(idbuf), "offserv-%ld", (long)getpid());
	{
		char *planned = NULL;
		if (asprintf(&planned, "%s/%s", workdir, o->image_id ? o->image_id : idbuf) >= 0)
			run_record(workdir, planned);
		free(planned);
	}
	s = offserv_drive_image_dir(report->drive, o->image_id ? o->image_id : idbuf, &imagedir, err,
	                            errlen);
	if (OFFSERV_FAILED(s))
		goto out;
	report->updates = calloc(o->n_updates ? o->n_updates : 1, sizeof(*report->updates));
	if (!report->updates) {
		s = OFFSERV_E_OUTOFMEMORY;
		goto out;
	}
	report->n_updates = o->n_updates;
	for (size_t i = 0; i < o->n_updates; i++) {
		s = stage_update(site, report->drive, workdir, o->updates[i], i, &report->updates[i], &l);
		if (OFFSERV_FAILED(s)) {
			offserv_logfile_write(log, OFFSERV_LOG_ERROR, NULL,
			                      "Failed to stage update %s. ErrorCode = 0x%08x: %s",
			                      o->updates[i], s, report->updates[i].message
			                                            ? report->updates[i].message
			                                            : offserv_strerror(s));
			if (!OFFSERV_FAILED(first))
				first = s;
			if (!o->continue_on_error || s == OFFSERV_E_OUTOFMEMORY) {
				snprintf(err, errlen, "%s", report->updates[i].message
				                               ? report->updates[i].message
				                               : offserv_strerror(s));
				goto out;
			}
		}
	}
	s = OFFSERV_OK;
	if (l.n == 0) {
		snprintf(err, errlen, "no package to apply");
		s = OFFSERV_FAILED(first) ? first : OFFSERV_E_INVALIDARG;
		goto out;
	}
	/* Servicing stack updates first, the rest in the order given. */
	{
		struct offserv_engine_package *sorted = malloc(l.n * sizeof(*sorted));
		size_t k = 0;

		report->package_update = malloc(l.n * sizeof(*report->package_update));
		if (!sorted || !report->package_update) {
			free(sorted);
			s = OFFSERV_E_OUTOFMEMORY;
			goto out;
		}
		for (int pass = 1; pass >= 0; pass--)
			for (size_t i = 0; i < l.n; i++)
				if ((l.ssu[i] != 0) == pass) {
					report->package_update[k] = l.update[i];
					sorted[k++] = l.pkgs[i];
				}
		free(l.pkgs);
		l.pkgs = sorted;
		report->n_packages = l.n;
	}
	memset(&eo, 0, sizeof(eo));
	eo.wim_path = o->wim_path;
	eo.image_dir = o->image_dir;
	eo.indexes = o->indexes;
	eo.n_indexes = o->n_indexes;
	eo.scratch_dir = imagedir;
	eo.continue_on_error = o->continue_on_error;
	eo.prevent_pending = o->prevent_pending;
	eo.ignore_check = o->ignore_check;
	eo.progress = o->progress;
	eo.progress_ctx = o->progress_ctx;
	eo.sms_log = log;
	eo.dism_log = o->dism_log;
	s = offserv_engine_service(&eo, l.pkgs, l.n, &report->engine, err, errlen);
	if (OFFSERV_SUCCEEDED(s) && OFFSERV_FAILED(first))
		s = first;
out:
	/* Staged files never outlive the run. */
	if (workdir) {
		char rmerr[256];
		if (imagedir) {
			char *parent = strdup(imagedir), *p = parent ? strrchr(parent, '/') : NULL;
			if (p) {
				*p = '\0';
				offserv_rmtree(parent, rmerr, sizeof(rmerr));
			}
			free(parent);
		}
		for (size_t i = 0; i < l.n_stages; i++)
			if (l.stages[i])
				offserv_rmtree(l.stages[i], rmerr, sizeof(rmerr));
		{
			char manifest[4096];
			snprintf(manifest, sizeof(manifest), "%s/.offserv-run-%ld", workdir, (long)getpid());
			unlink(manifest);
		}
		/* left in place when another job is using it */
		rmdir(workdir);
	}
	for (size_t i = 0; i < l.n_owned; i++)
		free(l.owned[i]);
	for (size_t i = 0; i < l.n_stages; i++)
		free(l.stages[i]);
	free(l.stages);
	free(l.update);
	free(l.ssu);
	free(l.owned);
	free(l.pkgs);
	free(workdir);
	free(imagedir);
	return s;
}

void offserv_apply_report_clear(struct offserv_apply_report *report)
{
	if (!report)
		return;
	offserv_engine_report_clear(&report->engine);
	for (size_t i = 0; i < report->n_updates; i++)
		free(report->updates[i].message);
	free(report->updates);
	free(report->package_update);
	free(report->drive);
	free(report->drive_note);
	memset(report, 0, sizeof(*report));
}
