/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Start-up recovery, run-due passes and the daemon loop. */
#include <config.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <offserv/drive.h>
#include <offserv/schedule.h>
#include <offserv/servicing_job.h>
#include <offserv/util.h>

/* Worker exit statuses. */
enum { WK_OK = 0, WK_FAILED = 1, WK_CANCELLED = 2, WK_BUSY = 3, WK_ERROR = 4 };

int offserv_sd_notify(const char *message)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa;
	socklen_t len;
	size_t plen;
	int fd, rc;

	if (!path || !*path)
		return 1;
	plen = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || plen >= sizeof(sa.sun_path))
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, plen);
	if (path[0] == '@')
		sa.sun_path[0] = '\0'; /* abstract socket */
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	rc = sendto(fd, message, strlen(message), MSG_NOSIGNAL, (struct sockaddr *)&sa, len) < 0
	             ? -1
	             : 0;
	close(fd);
	return rc;
}

/* ---------------------------------------------------------------------- */
/* Recovery                                                                */

static int pid_alive(int64_t pid)
{
	if (pid <= 0 || pid > 0x7fffffff)
		return 0;
	return kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

static int is_guid_name(const char *s)
{
	if (strlen(s) != 36)
		return 0;
	for (int i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return 0;
		} else if (!isxdigit((unsigned char)s[i])) {
			return 0;
		}
	}
	return 1;
}

/* The working folders a job of the site may have used. */
static void staging_roots(struct offserv_site *site, char *out[2])
{
	const struct offserv_config *cfg = offserv_site_config(site);
	const char *root = offserv_config_site_root(cfg);
	char why[512], *drive = NULL;

	out[0] = out[1] = NULL;
	if (OFFSERV_SUCCEEDED(offserv_drive_resolve(offserv_config_drive(cfg), root, &drive, why,
	                                            sizeof(why))))
		out[0] = offserv_path_join(drive, OFFSERV_DRIVE_WORKDIR_NAME);
	/* an unprivileged site works under its root (see offserv_apply_updates) */
	out[1] = offserv_path_join(root, OFFSERV_DRIVE_WORKDIR_NAME);
	if (out[0] && out[1] && !strcmp(out[0], out[1])) {
		free(out[1]);
		out[1] = NULL;
	}
	free(drive);
}

/* Whether any image of the site is locked by a live job. */
static int any_image_locked(const char *root)
{
	char *dir = offserv_path_join(root, "Locks");
	DIR *d = dir ? opendir(dir) : NULL;
	struct dirent *e;
	int held = 0;

	while (d && !held && (e = readdir(d)) != NULL) {
		size_t n = strlen(e->d_name);
		char id[64];

		if (n <= 5 || n - 5 >= sizeof(id) || strcmp(e->d_name + n - 5, ".lock") != 0)
			continue;
		memcpy(id, e->d_name, n - 5);
		id[n - 5] = '\0';
		held = offserv_lock_image_held(root, id);
	}
	if (d)
		closedir(d);
	free(dir);
	return held;
}

/*
 * Staged update folders are named by GUID and belong to no image; they are
 * removed only when no image folder is left beside them and no image is
 * locked (no job can be staging).
 */
static void remove_orphan_stages(struct offserv_logfile *log, const char *root,
                                 const char *workdir)
{
	DIR *d;
	struct dirent *e;
	int others = 0;

	if (!workdir || any_image_locked(root))
		return;
	d = opendir(workdir);
	if (!d)
		return;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.' && !is_guid_name(e->d_name))
			others = 1;
	if (!others) {
		rewinddir(d);
		while ((e = readdir(d)) != NULL) {
			char *p;
			if (!is_guid_name(e->d_name))
				continue;
			p = offserv_path_join(workdir, e->d_name);
			if (p && OFFSERV_SUCCEEDED(offserv_rmtree(p, NULL, 0)))
				offserv_logfile_write(log, OFFSERV_LOG_INFO, NULL,
				                      "Removed the orphaned staging folder %s", p);
			free(p);
		}
	}
	closedir(d);
	rmdir(workdir);
}

static offserv_status restore_file(const char *from, const char *to, char *err, size_t errlen)
{
	char *tmp = NULL;
	offserv_status s;

	if (asprintf(&tmp, "%s.restore%ld", to, (long)getpid()) < 0)
		return OFFSERV_E_OUTOFMEMORY;
	s = offserv_copy_file(from, tmp, NULL, err, errlen);
	if (OFFSERV_SUCCEEDED(s) && rename(tmp, to) != 0) {
		s = offserv_status_from_errno(errno);
		offserv_set_error(err, errlen, "%s: %s", to, strerror(errno));
	}
	unlink(tmp);
	free(tmp);
	return s;
}

/* Staging removed, image verified (and restored if it must be). */
static void recover_image(struct offserv_site *site, struct offserv_sitedb *db,
                          const char *image_id)
{
	struct offserv_logfile *log = offserv_site_log(site);
	const char *root = offserv_config_site_root(offserv_site_config(site));
	struct offserv_image_rec img;
	struct offserv_lock lock = {-1};
	char *roots[2], *backup = NULL, *pending = NULL, err[1024] = "";
	offserv_status s;

	if (OFFSERV_FAILED(offserv_sitedb_image_get(db, image_id, &img, NULL, 0)))
		return;
	if (OFFSERV_FAILED(offserv_lock_image(root, image_id, &lock, err, sizeof(err)))) {
		/* a new job of the image runs already: it owns its folders */
		offserv_image_rec_clear(&img);
		return;
	}
	staging_roots(site, roots);
	for (int i = 0; i < 2; i++) {
		char *p = roots[i] ? offserv_path_join(roots[i], image_id) : NULL;
		struct stat st;

		if (p && lstat(p, &st) == 0) {
			s = offserv_rmtree(p, err, sizeof(err));
			offserv_logfile_write(log, OFFSERV_SUCCEEDED(s) ? OFFSERV_LOG_INFO : OFFSERV_LOG_ERROR,
			                      NULL, "%s the staging folder %s%s%s",
			                      OFFSERV_SUCCEEDED(s) ? "Removed" : "Failed to remove", p,
			                      OFFSERV_SUCCEEDED(s) ? "" : ": ", OFFSERV_SUCCEEDED(s) ? "" : err);
		}
		free(p);
	}
	backup = offserv_servicing_backup_path(root, image_id);
	if (backup && asprintf(&pending, "%s.pending", backup) < 0)
		pending = NULL;
	s = offserv_servicing_verify_wim(img.wim_path, err, sizeof(err));
	if (OFFSERV_SUCCEEDED(s)) {
		offserv_logfile_write(log, OFFSERV_LOG_INFO, NULL,
		                      "Image package %s: %s verified after the interrupted job",
		                      image_id, img.wim_path);
	} else {
		const char *from = pending && access(pending, R_OK) == 0 ? pending
		                   : backup && access(backup, R_OK) == 0 ? backup
		                                                         : NULL;
		offserv_logfile_write(log, OFFSERV_LOG_ERROR, NULL,
		                      "ERROR: image package %s: %s FAILED verification after an "
		                      "interrupted job. ErrorCode = 0x%08x: %s", image_id, img.wim_path,
		                      s, err);
		if (from) {
			s = restore_file(from, img.wim_path, err, sizeof(err));
			if (OFFSERV_SUCCEEDED(s))
				s = offserv_servicing_verify_wim(img.wim_path, err, sizeof(err));
			offserv_logfile_write(log, OFFSERV_SUCCEEDED(s) ? OFFSERV_LOG_WARNING : OFFSERV_LOG_ERROR,
			                      NULL, "%s image package %s from its backup %s%s%s",
			                      OFFSERV_SUCCEEDED(s) ? "Restored" : "Failed to restore",
			                      image_id, from, OFFSERV_SUCCEEDED(s) ? "" : ": ",
			                      OFFSERV_SUCCEEDED(s) ? "" : err);
		} else {
			offserv_logfile_write(log, OFFSERV_LOG_ERROR, NULL,
			                      "ERROR: image package %s has no backup to restore; the WIM "
			                      "needs attention", image_id);
		}
	}
	if (pending)
		unlink(pending);
	free(pending);
	free(backup);
	free(roots[0]);
	free(roots[1]);
	offserv_lock_release(&lock);
	offserv_image_rec_clear(&img);
}

static offserv_status recover_db(struct offserv_site *site, struct offserv_sitedb *db,
                                 size_t *n_out, char *err, size_t errlen)
{
	struct offserv_logfile *log = offserv_site_log(site);
	const char *root = offserv_config_site_root(offserv_site_config(site));
	struct offserv_job_rec *jobs = NULL;
	struct offserv_schedule_rec *sch = NULL;
	size_t n = 0, n_sch = 0, marked = 0;
	char *roots[2];
	offserv_status s;

	s = offserv_sitedb_job_list(db, NULL, &jobs, &n, err, errlen);
	if (OFFSERV_FAILED(s))
		return s;
	for (size_t i = 0; i < n; i++) {
		char msg[256], *marker, name[48];

		if (!jobs[i].status || strcmp(jobs[i].status, OFFSERV_JOB_IN_PROGRESS) != 0)
			continue;
		if (offserv_lock_image_held(root, jobs[i].package_id) && pid_alive(jobs[i].pid))
			continue;
		snprintf(msg, sizeof(msg), "the process running the job (pid %lld) ended before it "
		         "finished", (long long)jobs[i].pid);
		if (OFFSERV_FAILED(offserv_sitedb_job_finish(db, jobs[i].job_id, OFFSERV_JOB_FAILED,
		                                             OFFSERV_E_ABORT, msg, NULL, 0)))
			continue;
		marked++;
		offserv_logfile_write(log, OFFSERV_LOG_ERROR, NULL,
		                      "Job %lld of image package %s was left In progress: %s; marked "
		                      "Failed", (long long)jobs[i].job_id, jobs[i].package_id, msg);
		offserv_logfile_write(log, OFFSERV_LOG_ERROR, NULL,
		                      "Completed processing image package %s. Status = Failed",
		                      jobs[i].package_id);
		snprintf(name, sizeof(name), "Jobs/%lld.cancel", (long long)jobs[i].job_id);
		marker = offserv_path_join(root, name);
		if (marker)
			unlink(marker);
		free(marker);
		recover_image(site, db, jobs[i].package_id);
		if (jobs[i].schedule_id)
			offserv_schedule_finish_run(db, jobs[i].schedule_id, OFFSERV_JOB_FAILED, time(NULL),
			                            NULL, 0);
		else
			offserv_schedule_refresh_image(db, jobs[i].package_id, OFFSERV_JOB_FAILED, NULL, 0);
	}
	offserv_job_recs_free(jobs, n);
	/* schedules left Running by a worker that died before its job started */
	if (OFFSERV_SUCCEEDED(offserv_sitedb_schedule_list(db, NULL, &sch, &n_sch, NULL, 0))) {
		for (size_t i = 0; i < n_sch; i++) {
			struct offserv_job_rec *ij = NULL;
			size_t n_ij = 0;
			int running = 0;

			if (!sch[i].status || strcmp(sch[i].status, "Running") != 0)
				continue;
			if (OFFSERV_SUCCEEDED(offserv_sitedb_job_list(db, sch[i].package_id, &ij, &n_ij,
			                                              NULL, 0)))
				for (size_t k = 0; k < n_ij; k++)
					running |= ij[k].schedule_id == sch[i].schedule_id && ij[k].status &&
					           !strcmp(ij[k].status, OFFSERV_JOB_IN_PROGRESS);
			offserv_job_recs_free(ij, n_ij);
			if (running || offserv_lock_image_held(root, sch[i].package_id))
				continue;
			offserv_logfile_write(log, OFFSERV_LOG_WARNING, NULL,
			                      "Schedule with ID %lld was left Running; set back",
			                      (long long)sch[i].schedule_id);
			offserv_schedule_finish_run(db, sch[i].schedule_id, OFFSERV_JOB_FAILED, time(NULL),
			                            NULL, 0);
		}
		offserv_schedule_recs_free(sch, n_sch);
	}
	staging_roots(site, roots);
	for (int i = 0; i < 2; i++) {
		remove_orphan_stages(log, root, roots[i]);
		free(roots[i]);
	}
	if (n_out)
		*n_out = marked;
	return OFFSERV_OK;
}

/* A database connection of our own (the site's stays unopened: we fork). */
static offserv_status own_db(struct offserv_site *site, struct offserv_sitedb **db, char *err,
                             size_t errlen)
{
	const struct offserv_config *cfg = offserv_site_config(site);

	return offserv_sitedb_open(offserv_config_database(cfg), offserv_config_site_code(cfg), db,
	                           err, errlen);
}

offserv_status offserv_recover(struct offserv_site *site, size_t *n_recovered, char *err,
                               size_t errlen)
{
	struct offserv_sitedb *db = NULL;
	offserv_status s;

	if (n_recovered)
		*n_recovered = 0;
	s = own_db(site, &db, err, errlen);
	if (OFFSERV_FAILED(s))
		return s;
	s = recover_db(site, db, n_recovered, err, errlen);
	offserv_sitedb_close(db);
	return s;
}

/* ---------------------------------------------------------------------- */
/* Workers                                                                 */

struct worker {
	pid_t pid;
	int64_t schedule_id;
	char image[OFFSERV_PACKAGE_ID_LEN];
};

struct pool {
	struct offserv_site *site;
	struct worker *w;
	size_t n, cap;
	unsigned max;
	int64_t *tried; /* run-due: schedules started in this call */
	size_t n_tried;
	int once;
	size_t started;
	int abnormal;   /* a worker died by a signal: run recovery */
};

static int image_running(const struct pool *p, const char *image)
{
	for (size_t i = 0; i < p->n; i++)
		if (!strcmp(p->w[i].image, image))
			return 1;
	return 0;
}

static int was_tried(const struct pool *p, int64_t id)
{
	for (size_t i = 0; i < p->n_tried; i++)
		if (p->tried[i] == id)
			return 1;
	return 0;
}

/* In the child: run one schedule with the lock the parent took. */
static void worker_main(struct offserv_site *site, int64_t schedule_id,
                        const struct offserv_lock *lock)
{
	struct offserv_servicing_job_result res;
	char err[2048] = "";
	offserv_status s;

	s = offserv_servicing_run_schedule(site, schedule_id, 0, lock, NULL, NULL, &res, err,
	                                   sizeof(err));
	if (OFFSERV_SUCCEEDED(s))
		_exit(WK_OK);
	if (s == OFFSERV_E_BUSY && res.job_id == 0)
		_exit(WK_BUSY);
	_exit(s == OFFSERV_E_ABORT ? WK_CANCELLED : res.job_id ? WK_FAILED : WK_ERROR);
}

/* Start what is due and startable.  Returns the number started. */
static size_t start_due(struct pool *p, char *err, size_t errlen)
{
	const char *root = offserv_config_site_root(offserv_site_config(p->site));
	struct offserv_logfile *log = offserv_site_log(p->site);
	struct offserv_sitedb *db = NULL;
	struct offserv_schedule_rec *due = NULL;
	size_t n_due = 0, started = 0;

	if (p->n >= p->max)
		return 0;
	if (OFFSERV_FAILED(own_db(p->site, &db, err, errlen)))
		return 0;
	if (OFFSERV_FAILED(offserv_schedule_due(db, time(NULL), &due, &n_due, err, errlen)))
		n_due = 0;
	/* no database connection may cross a fork */
	offserv_sitedb_close(db);
	for (size_t i = 0; i < n_due && p->n < p->max; i++) {
		struct offserv_lock lock;
		char lerr[512];
		pid_t pid;

		if (image_running(p, due[i].package_id) || (p->once && was_tried(p, due[i].schedule_id)))
			continue;
		if (OFFSERV_FAILED(offserv_lock_image(root, due[i].package_id, &lock, lerr,
		                                      sizeof(lerr)))) {
			offserv_logfile_write(log, OFFSERV_LOG_INFO, NULL,
			                      "Schedule with ID %lld waits: %s",
			                      (long long)due[i].schedule_id, lerr);
			continue;
		}
		if (p->n == p->cap) {
			size_t nc = p->cap ? p->cap * 2 : 8;
			struct worker *nw = realloc(p->w, nc * sizeof(*nw));
			if (!nw) {
				offserv_lock_release(&lock);
				break;
			}
			p->w = nw;
			p->cap = nc;
		}
		if (p->once) {
			int64_t *nt = realloc(p->tried, (p->n_tried + 1) * sizeof(*nt));
			if (!nt) {
				offserv_lock_release(&lock);
				break;
			}
			p->tried = nt;
			nt[p->n_tried++] = due[i].schedule_id;
		}
		fflush(NULL);
		pid = fork();
		if (pid == 0)
			worker_main(p->site, due[i].schedule_id, &lock);
		/* the child holds the lock now; the kernel frees it when the child ends */
		close(lock.fd);
		if (pid < 0) {
			offserv_logfile_write(log, OFFSERV_LOG_ERROR, NULL,
			                      "Cannot start a worker for schedule %lld: %s",
			                      (long long)due[i].schedule_id, strerror(errno));
			continue;
		}
		p->w[p->n].pid = pid;
		p->w[p->n].schedule_id = due[i].schedule_id;
		snprintf(p->w[p->n].image, sizeof(p->w[p->n].image), "%s", due[i].package_id);
		p->n++;
		started++;
		p->started++;
		offserv_logfile_write(log, OFFSERV_LOG_INFO, NULL,
		                      "Started worker %ld for schedule with ID %lld (image package %s)",
		                      (long)pid, (long long)due[i].schedule_id, due[i].package_id);
	}
	offserv_schedule_recs_free(due, n_due);
	return started;
}

/* Collect ended workers. */
static void reap(struct pool *p)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (size_t i = 0; i < p->n; i++) {
			if (p->w[i].pid != pid)
				continue;
			if (WIFSIGNALED(status)) {
				p->abnormal = 1;
				offserv_logfile_write(offserv_site_log(p->site), OFFSERV_LOG_ERROR, NULL,
				                      "Worker %ld of schedule with ID %lld was killed by "
				                      "signal %d", (long)pid, (long long)p->w[i].schedule_id,
				                      WTERMSIG(status));
			}
			p->w[i] = p->w[--p->n];
			break;
		}
	}
}

static void stop_workers(struct pool *p)
{
	for (size_t i = 0; i < p->n; i++)
		kill(p->w[i].pid, SIGTERM);
}

static void pool_init(struct pool *p, struct offserv_site *site,
                      const struct offserv_daemon_options *o)
{
	unsigned w = o && o->workers ? o->workers
	                             : offserv_config_workers(offserv_site_config(site));

	memset(p, 0, sizeof(*p));
	p->site = site;
	p->max = w ? w : 1;
}

static void block_signals(sigset_t *set, sigset_t *old)
{
	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGCHLD);
	sigprocmask(SIG_BLOCK, set, old);
}

/* Wait up to @p seconds for a signal; returns it, 0 on timeout. */
static int wait_signal(const sigset_t *set, unsigned seconds)
{
	struct timespec ts = {(time_t)seconds, 0};
	int sig = sigtimedwait(set, NULL, &ts);

	return sig < 0 ? 0 : sig;
}

offserv_status offserv_run_due(struct offserv_site *site, const struct offserv_daemon_options *o,
                               size_t *n_run, char *err, size_t errlen)
{
	struct pool p;
	sigset_t set, old;
	int stopping = 0;

	pool_init(&p, site, o);
	p.once = 1;
	block_signals(&set, &old);
	for (;;) {
		int sig;

		reap(&p);
		if (p.abnormal) {
			p.abnormal = 0;
			offserv_recover(site, NULL, NULL, 0);
		}
		if (!stopping)
			start_due(&p, err, errlen);
		if (p.n == 0)
			break;
		sig = wait_signal(&set, 1);
		if ((sig == SIGTERM || sig == SIGINT) && !stopping) {
			stopping = 1;
			stop_workers(&p);
		}
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (n_run)
		*n_run = p.started;
	free(p.w);
	free(p.tried);
	return OFFSERV_OK;
}

offserv_status offserv_daemon(struct offserv_site *site, const struct offserv_daemon_options *o,
                              char *err, size_t errlen)
{
	const char *root = offserv_config_site_root(offserv_site_config(site));
	struct offserv_logfile *log = offserv_site_log(site);
	struct offserv_lock dlock;
	struct pool p;
	sigset_t set, old;
	unsigned poll = o && o->poll_seconds ? o->poll_seconds : 30;
	char *path, status[128];
	size_t recovered = 0;
	int stopping = 0;
	offserv_status s;

	path = offserv_path_join(root, "daemon.lock");
	if (!path)
		return OFFSERV_E_OUTOFMEMORY;
	s = offserv_lock_path(path, &dlock, err, errlen);
	if (s == OFFSERV_E_BUSY)
		offserv_set_error(err, errlen, "another offserv daemon serves the site %s (%s is held)",
		                  root, path);
	free(path);
	if (OFFSERV_FAILED(s))
		return s;
	pool_init(&p, site, o);
	block_signals(&set, &old);
	offserv_logfile_write(log, OFFSERV_LOG_INFO, NULL,
	                      "SMS_EXECUTIVE started SMS_OFFLINE_SERVICING_MANAGER as thread ID %ld "
	                      "(0x%lX).", (long)getpid(), (unsigned long)getpid());
	s = offserv_recover(site, &recovered, err, errlen);
	if (OFFSERV_FAILED(s))
		offserv_logfile_write(log, OFFSERV_LOG_ERROR, NULL, "Recovery failed: %s", err);
	if (o && o->notify)
		offserv_sd_notify("READY=1\nSTATUS=Waiting for due schedules");
	for (;;) {
		int sig;

		reap(&p);
		if (p.abnormal) {
			p.abnormal = 0;
			offserv_recover(site, NULL, NULL, 0);
		}
		if (stopping && p.n == 0)
			break;
		if (!stopping && start_due(&p, err, errlen) && o && o->notify) {
			snprintf(status, sizeof(status), "STATUS=%zu job(s) running", p.n);
			offserv_sd_notify(status);
		}
		sig = wait_signal(&set, stopping ? 1 : poll);
		if ((sig == SIGTERM || sig == SIGINT) && !stopping) {
			stopping = 1;
			offserv_logfile_write(log, OFFSERV_LOG_INFO, NULL,
			                      "Stopping: %zu running job(s) are cancelled at their next "
			                      "safe point", p.n);
			if (o && o->notify)
				offserv_sd_notify("STOPPING=1");
			stop_workers(&p);
		}
	}
	offserv_logfile_write(log, OFFSERV_LOG_INFO, NULL, "SMS_OFFLINE_SERVICING_MANAGER stopped");
	sigprocmask(SIG_SETMASK, &old, NULL);
	free(p.w);
	free(p.tried);
	offserv_lock_release(&dlock);
	return OFFSERV_OK;
}
