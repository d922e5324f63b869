/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The mount model: records, FUSE or extraction mounts, commit by difference. */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <wimlib.h>

#include <offserv/util.h>

#include "dism/dism.h"
#include "dism/mount.h"

/* ---- records --------------------------------------------------------------- */

void dism_mount_record_clear(struct dism_mount_record *r)
{
	free(r->mount_dir);
	free(r->image_file);
	free(r->method);
	free(r->record_path);
	memset(r, 0, sizeof(*r));
}

char *dism_mount_record_path(const char *state_dir, const char *mount_dir)
{
	uint8_t d[32];
	char hex[65], *out = NULL;

	offserv_sha256(mount_dir, strlen(mount_dir), d);
	offserv_hex(d, 32, hex);
	hex[16] = '\0';
	if (asprintf(&out, "%s/%s.ini", state_dir, hex) < 0)
		return NULL;
	return out;
}

offserv_status dism_mount_record_save(const struct dism_mount_record *r, char *err,
                                      size_t errlen)
{
	char *text = NULL;
	offserv_status st;
	int n;

	if (strchr(r->mount_dir, '\n') || strchr(r->image_file, '\n')) {
		offserv_set_error(err, errlen, "A path with a line break cannot be recorded.");
		return OFFSERV_E_INVALIDARG;
	}
	n = asprintf(&text,
	             "[mount]\nmount_dir=%s\nimage_file=%s\nimage_index=%d\nread_write=%d\n"
	             "method=%s\npid=%ld\ntime=%lld\ncomplete=%d\nunmounting=%d\n",
	             r->mount_dir, r->image_file, r->image_index, r->read_write, r->method, r->pid,
	             r->time, r->complete, r->unmounting);
	if (n < 0)
		return OFFSERV_E_OUTOFMEMORY;
	st = offserv_write_file_atomic(r->record_path, text, (size_t)n, 0644, err, errlen);
	free(text);
	return st;
}

offserv_status dism_mount_record_load(const char *path, struct dism_mount_record *r,
                                      char *err, size_t errlen)
{
	char *data = NULL, *save = NULL;
	size_t len;
	offserv_status st;

	memset(r, 0, sizeof(*r));
	st = offserv_read_file(path, 64 * 1024, &data, &len, err, errlen);
	if (st)
		return st;
	for (char *line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *eq = strchr(line, '=');
		if (!eq)
			continue;
		*eq = '\0';
		const char *k = line, *v = eq + 1;
		if (strcmp(k, "mount_dir") == 0)
			r->mount_dir = strdup(v);
		else if (strcmp(k, "image_file") == 0)
			r->image_file = strdup(v);
		else if (strcmp(k, "image_index") == 0)
			r->image_index = atoi(v);
		else if (strcmp(k, "read_write") == 0)
			r->read_write = atoi(v);
		else if (strcmp(k, "method") == 0)
			r->method = strdup(v);
		else if (strcmp(k, "pid") == 0)
			r->pid = atol(v);
		else if (strcmp(k, "time") == 0)
			r->time = atoll(v);
		else if (strcmp(k, "complete") == 0)
			r->complete = atoi(v);
		else if (strcmp(k, "unmounting") == 0)
			r->unmounting = atoi(v);
	}
	free(data);
	r->record_path = strdup(path);
	if (!r->mount_dir || !r->image_file || !r->method || !r->record_path ||
	    r->image_index < 1) {
		dism_mount_record_clear(r);
		offserv_set_error(err, errlen, "%s: not a mount record", path);
		return OFFSERV_E_INVALID_DATA;
	}
	return OFFSERV_OK;
}

static int record_cmp(const void *a, const void *b)
{
	const struct dism_mount_record *x = a, *y = b;
	return strcmp(x->mount_dir, y->mount_dir);
}

offserv_status dism_mount_records_list(const char *state_dir, struct dism_mount_record **out,
                                       size_t *n, char *err, size_t errlen)
{
	DIR *d;
	struct dirent *de;
	struct dism_mount_record *v = NULL;
	size_t count = 0;

	*out = NULL;
	*n = 0;
	d = opendir(state_dir);
	if (!d) {
		if (errno == ENOENT)
			return OFFSERV_OK;
		offserv_set_error(err, errlen, "%s: %s", state_dir, strerror(errno));
		return offserv_status_from_errno(errno);
	}
	while ((de = readdir(d)) != NULL) {
		size_t l = strlen(de->d_name);
		char *p = NULL;
		struct dism_mount_record r;
		if (l < 5 || strcmp(de->d_name + l - 4, ".ini") != 0 || de->d_name[0] == '.')
			continue;
		if (asprintf(&p, "%s/%s", state_dir, de->d_name) < 0)
			break;
		if (dism_mount_record_load(p, &r, NULL, 0) == OFFSERV_OK) {
			struct dism_mount_record *nv = realloc(v, (count + 1) * sizeof(*nv));
			if (!nv) {
				dism_mount_record_clear(&r);
				free(p);
				break;
			}
			v = nv;
			v[count++] = r;
		}
		free(p);
	}
	closedir(d);
	if (count > 1)
		qsort(v, count, sizeof(*v), record_cmp);
	*out = v;
	*n = count;
	return OFFSERV_OK;
}

void dism_mount_records_free(struct dism_mount_record *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dism_mount_record_clear(&v[i]);
	free(v);
}

/* Whether @p dir is a FUSE mount point in this mount namespace. */
static int is_fuse_mount(const char *dir)
{
	FILE *fp = fopen("/proc/self/mountinfo", "re");
	char line[8192];
	int found = 0;

	if (!fp)
		return 0;
	while (!found && fgets(line, sizeof(line), fp)) {
		/* id parent maj:min root mountpoint opts ... - fstype source super */
		char *f[5] = {0}, *save = NULL, *s = line;
		for (int i = 0; i < 5; i++, s = NULL)
			f[i] = strtok_r(s, " ", &save);
		if (!f[4])
			continue;
		char *dash = strstr(save ? save : "", " - ");
		char *fstype = dash ? dash + 3 : NULL;
		/* Unescape octal \040 in the mount point. */
		char mp[PATH_MAX];
		size_t j = 0;
		for (const char *q = f[4]; *q && j + 1 < sizeof(mp); q++) {
			if (q[0] == '\\' && q[1] >= '0' && q[1] <= '7' && q[2] && q[3]) {
				mp[j++] = (char)(((q[1] - '0') << 6) | ((q[2] - '0') << 3) | (q[3] - '0'));
				q += 3;
			} else {
				mp[j++] = *q;
			}
		}
		mp[j] = '\0';
		if (strcmp(mp, dir) == 0 && fstype && strncmp(fstype, "fuse", 4) == 0)
			found = 1;
	}
	fclose(fp);
	return found;
}

static int pid_alive(long pid)
{
	return pid > 0 && (kill((pid_t)pid, 0) == 0 || errno == EPERM);
}

static int dir_is_empty(const char *dir);

const char *dism_mount_status(const struct dism_mount_record *r)
{
	struct stat sb;
	int dir_ok;

	if (dism_mount_is_ok(r))
		return "Ok";
	if (r->unmounting || stat(r->image_file, &sb) != 0)
		return "Invalid";
	if (!r->complete)
		/* An extraction whose process died holds nothing of the user's. */
		return pid_alive(r->pid) ? "Invalid" : "Needs Remount";
	dir_ok = stat(r->mount_dir, &sb) != 0 || (S_ISDIR(sb.st_mode) && dir_is_empty(r->mount_dir));
	return dir_ok ? "Needs Remount" : "Invalid";
}

int dism_mount_is_ok(const struct dism_mount_record *r)
{
	struct stat sb;

	if (!r->complete || r->unmounting)
		return 0;
	if (strcmp(r->method, "fuse") == 0)
		return is_fuse_mount(r->mount_dir) && stat(r->mount_dir, &sb) == 0;
	return stat(r->mount_dir, &sb) == 0 && S_ISDIR(sb.st_mode);
}

offserv_status dism_empty_dir(const char *dir, char *err, size_t errlen)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	offserv_status st = OFFSERV_OK;

	if (!d) {
		if (errno == ENOENT)
			return OFFSERV_OK;
		offserv_set_error(err, errlen, "%s: %s", dir, strerror(errno));
		return offserv_status_from_errno(errno);
	}
	while ((de = readdir(d)) != NULL) {
		char *p;
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		p = offserv_path_join(dir, de->d_name);
		if (!p) {
			st = OFFSERV_E_OUTOFMEMORY;
			break;
		}
		st = offserv_rmtree(p, err, errlen);
		free(p);
		if (st)
			break;
	}
	closedir(d);
	return st;
}

/* ---- progress ---------------------------------------------------------------- */

static enum wimlib_progress_status progress_cb(enum wimlib_progress_msg msg,
                                               union wimlib_progress_info *info, void *ctx)
{
	struct dism_ctx *c = ctx;

	switch (msg) {
	case WIMLIB_PROGRESS_MSG_EXTRACT_STREAMS:
		if (info->extract.total_bytes)
			dism_out_progress(c->out, 100.0 * (double)info->extract.completed_bytes /
			                              (double)info->extract.total_bytes);
		break;
	case WIMLIB_PROGRESS_MSG_WRITE_STREAMS:
		if (info->write_streams.total_bytes)
			dism_out_progress(c->out, 100.0 * (double)info->write_streams.completed_bytes /
			                              (double)info->write_streams.total_bytes);
		break;
	default:
		break;
	}
	return WIMLIB_PROGRESS_STATUS_CONTINUE;
}

/* ---- commit by difference ------------------------------------------------------- */

struct wentry {
	char *path; /* "/Windows/System32/x" */
	uint32_t attributes;
	uint64_t size;
	struct timespec mtime;
	int seen; /* 0 not found on disk, 1 present, 2 replaced */
};

struct diff {
	struct wentry *e;
	size_t n, cap;
	struct wimlib_update_command *cmds;
	size_t ncmds, capcmds;
	const char *root; /* the mount directory */
	offserv_status st;
	char *err;
	size_t errlen;
};

static int collect_cb(const struct wimlib_dir_entry *de, void *ctx)
{
	struct diff *d = ctx;
	struct wentry *w;

	if (de->depth == 0)
		return 0;
	if (d->n == d->cap) {
		size_t nc = d->cap ? d->cap * 2 : 1024;
		struct wentry *ne = realloc(d->e, nc * sizeof(*ne));
		if (!ne)
			return WIMLIB_ERR_NOMEM;
		d->e = ne;
		d->cap = nc;
	}
	w = &d->e[d->n];
	memset(w, 0, sizeof(*w));
	w->path = strdup(de->full_path);
	if (!w->path)
		return WIMLIB_ERR_NOMEM;
	w->attributes = de->attributes;
	w->size = de->streams[0].resource.uncompressed_size;
	w->mtime.tv_sec = de->last_write_time.tv_sec;
	w->mtime.tv_nsec = de->last_write_time.tv_nsec;
	d->n++;
	return 0;
}

static int wentry_cmp(const void *a, const void *b)
{
	const struct wentry *x = a, *y = b;
	return strcmp(x->path, y->path);
}

static struct wentry *wfind(struct diff *d, const char *path)
{
	struct wentry key = {.path = (char *)path};
	return bsearch(&key, d->e, d->n, sizeof(*d->e), wentry_cmp);
}

static int push_cmd(struct diff *d, struct wimlib_update_command *cmd)
{
	if (d->ncmds == d->capcmds) {
		size_t nc = d->capcmds ? d->capcmds * 2 : 64;
		struct wimlib_update_command *n = realloc(d->cmds, nc * sizeof(*n));
		if (!n)
			return -1;
		d->cmds = n;
		d->capcmds = nc;
	}
	d->cmds[d->ncmds++] = *cmd;
	return 0;
}

static int add_cmd(struct diff *d, const char *fs_path, const char *wim_path)
{
	struct wimlib_update_command cmd;

	memset(&cmd, 0, sizeof(cmd));
	cmd.op = WIMLIB_UPDATE_OP_ADD;
	cmd.add.fs_source_path = strdup(fs_path);
	cmd.add.wim_target_path = strdup(wim_path);
	cmd.add.add_flags = WIMLIB_ADD_FLAG_NORPFIX;
	if (!cmd.add.fs_source_path || !cmd.add.wim_target_path || push_cmd(d, &cmd) != 0) {
		free(cmd.add.fs_source_path);
		free(cmd.add.wim_target_path);
		return -1;
	}
	return 0;
}

static int delete_cmd(struct diff *d, const char *wim_path)
{
	struct wimlib_update_command cmd;

	memset(&cmd, 0, sizeof(cmd));
	cmd.op = WIMLIB_UPDATE_OP_DELETE;
	cmd.delete_.wim_path = strdup(wim_path);
	cmd.delete_.delete_flags = WIMLIB_DELETE_FLAG_RECURSIVE;
	if (!cmd.delete_.wim_path || push_cmd(d, &cmd) != 0) {
		free(cmd.delete_.wim_path);
		return -1;
	}
	return 0;
}

static void free_cmds(struct diff *d)
{
	for (size_t i = 0; i < d->ncmds; i++) {
		if (d->cmds[i].op == WIMLIB_UPDATE_OP_ADD) {
			free(d->cmds[i].add.fs_source_path);
			free(d->cmds[i].add.wim_target_path);
		} else if (d->cmds[i].op == WIMLIB_UPDATE_OP_DELETE) {
			free(d->cmds[i].delete_.wim_path);
		}
	}
	free(d->cmds);
	for (size_t i = 0; i < d->n; i++)
		free(d->e[i].path);
	free(d->e);
}

static int same_time(const struct timespec *a, const struct timespec *b)
{
	long long da = (long long)a->tv_sec * 1000000000LL + a->tv_nsec;
	long long db = (long long)b->tv_sec * 1000000000LL + b->tv_nsec;
	long long diff = da - db;
	/* WIM times have a 100 ns resolution. */
	return diff > -100 && diff < 100;
}

/* Walk the directory @p rel ("" for the root) of the mount and compare. */
static int walk(struct diff *d, const char *rel)
{
	char *abs = NULL;
	DIR *dir;
	struct dirent *de;
	int rc = 0;

	if (asprintf(&abs, "%s%s", d->root, rel) < 0)
		return -1;
	dir = opendir(abs);
	if (!dir) {
		offserv_set_error(d->err, d->errlen, "%s: %s", abs, strerror(errno));
		d->st = offserv_status_from_errno(errno);
		free(abs);
		return -1;
	}
	while (rc == 0 && (de = readdir(dir)) != NULL) {
		char *crel = NULL, *cabs = NULL;
		struct stat sb;
		struct wentry *w;
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (asprintf(&crel, "%s/%s", rel, de->d_name) < 0 ||
		    asprintf(&cabs, "%s/%s", abs, de->d_name) < 0) {
			free(crel);
			rc = -1;
			break;
		}
		if (lstat(cabs, &sb) != 0) {
			offserv_set_error(d->err, d->errlen, "%s: %s", cabs, strerror(errno));
			d->st = offserv_status_from_errno(errno);
			rc = -1;
		} else if (!(w = wfind(d, crel))) {
			rc = add_cmd(d, cabs, crel);
		} else {
			int wdir = (w->attributes & WIMLIB_FILE_ATTRIBUTE_DIRECTORY) &&
			           !(w->attributes & WIMLIB_FILE_ATTRIBUTE_REPARSE_POINT);
			int hdir = S_ISDIR(sb.st_mode);
			if (wdir && hdir) {
				w->seen = 1;
				rc = walk(d, crel);
			} else if (wdir != hdir) {
				w->seen = 2;
				rc = delete_cmd(d, crel);
				if (rc == 0)
					rc = add_cmd(d, cabs, crel);
			} else {
				int unchanged = same_time(&sb.st_mtim, &w->mtime) &&
				                (!S_ISREG(sb.st_mode) || (uint64_t)sb.st_size == w->size);
				w->seen = 1;
				if (!unchanged)
					rc = add_cmd(d, cabs, crel);
			}
		}
		free(crel);
		free(cabs);
	}
	closedir(dir);
	free(abs);
	return rc;
}

/* Entries gone from the disk: delete the top-most of each gone subtree. */
static int plan_deletes(struct diff *d)
{
	for (size_t i = 0; i < d->n; i++) {
		struct wentry *w = &d->e[i];
		char *parent;
		struct wentry *pw;
		int delete_it;
		if (w->seen)
			continue;
		parent = strdup(w->path);
		if (!parent)
			return -1;
		char *slash = strrchr(parent, '/');
		if (!slash || slash == parent) {
			delete_it = 1; /* a child of the root */
		} else {
			*slash = '\0';
			pw = wfind(d, parent);
			delete_it = pw && pw->seen == 1;
		}
		free(parent);
		if (delete_it && delete_cmd(d, w->path) != 0)
			return -1;
	}
	return 0;
}

/*
 * Save the extraction in r->mount_dir into its index: one update with the
 * difference, one append-mode overwrite.  Sets *changes to the number of
 * update commands.
 */
static offserv_status commit_extracted(struct dism_ctx *c, const struct dism_mount_record *r,
                                       int check_integrity, size_t *changes)
{
	WIMStruct *wim = NULL;
	struct diff d;
	int e, open_flags = WIMLIB_OPEN_FLAG_WRITE_ACCESS;
	int write_flags = WIMLIB_WRITE_FLAG_FSYNC;
	offserv_status st = OFFSERV_OK;
	char err[1024] = "";

	memset(&d, 0, sizeof(d));
	d.root = r->mount_dir;
	d.err = err;
	d.errlen = sizeof(err);
	if (check_integrity)
		write_flags |= WIMLIB_WRITE_FLAG_CHECK_INTEGRITY;
	e = wimlib_open_wim(r->image_file, open_flags, &wim);
	if (e)
		return dism_fail(c, dism_wimlib_status(e), "Could not open %s for writing: %s",
		                 r->image_file, wimlib_get_error_string(e));
	wimlib_register_progress_function(wim, progress_cb, c);
	e = wimlib_iterate_dir_tree(wim, r->image_index, "/", WIMLIB_ITERATE_DIR_TREE_FLAG_RECURSIVE,
	                            collect_cb, &d);
	if (e) {
		st = dism_fail(c, dism_wimlib_status(e), "Could not read image %d of %s: %s",
		               r->image_index, r->image_file, wimlib_get_error_string(e));
		goto out;
	}
	qsort(d.e, d.n, sizeof(*d.e), wentry_cmp);
	if (walk(&d, "") != 0 || plan_deletes(&d) != 0) {
		st = d.st ? d.st : OFFSERV_E_OUTOFMEMORY;
		st = dism_fail(c, st, "Could not compare %s with the image: %s", r->mount_dir,
		               err[0] ? err : offserv_strerror(st));
		goto out;
	}
	*changes = d.ncmds;
	dism_log_provider(c, OFFSERV_LOG_INFO, DISM_PROV_WIM, "CWimMountedImageInfo", "Commit",
	                  OFFSERV_OK, "%zu change(s) found in %s (%zu entries in the image)",
	                  d.ncmds, r->mount_dir, d.n);
	for (size_t i = 0; i < d.ncmds; i++) {
		if (d.cmds[i].op == WIMLIB_UPDATE_OP_ADD)
			dism_log_provider(c, OFFSERV_LOG_DEBUG, DISM_PROV_WIM, "CWimMountedImageInfo",
			                  "Commit", OFFSERV_OK, "Add %s", d.cmds[i].add.wim_target_path);
		else
			dism_log_provider(c, OFFSERV_LOG_DEBUG, DISM_PROV_WIM, "CWimMountedImageInfo",
			                  "Commit", OFFSERV_OK, "Delete %s", d.cmds[i].delete_.wim_path);
	}
	if (d.ncmds == 0)
		goto out;
	e = wimlib_update_image(wim, r->image_index, d.cmds, d.ncmds, 0);
	if (e) {
		st = dism_fail(c, dism_wimlib_status(e), "Could not update image %d of %s: %s",
		               r->image_index, r->image_file, wimlib_get_error_string(e));
		goto out;
	}
	e = wimlib_overwrite(wim, write_flags, 0);
	if (e)
		st = dism_fail(c, dism_wimlib_status(e), "Could not write %s: %s", r->image_file,
		               wimlib_get_error_string(e));
out:
	free_cmds(&d);
	wimlib_free(wim);
	return st;
}

/* ---- FUSE -------------------------------------------------------------------- */

static int fuse_usable(void)
{
	const char *m = getenv("OFFSERV_DISM_MOUNT_METHOD");
	int fd;

	if (m && strcmp(m, "extract") == 0)
		return 0;
	fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return 0;
	close(fd);
	return 1;
}

/*
 * Mount through FUSE in a child: wimlib daemonizes the process that mounts,
 * and its parent (our child) exits 0 once the mount is up.
 */
static offserv_status fuse_mount(struct dism_ctx *c, const struct dism_mount_record *r,
                                 int open_flags)
{
	pid_t pid;
	int status;

	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return offserv_status_from_errno(errno);
	if (pid == 0) {
		WIMStruct *wim = NULL;
		int e = wimlib_open_wim(r->image_file, open_flags, &wim);
		if (e == 0)
			e = wimlib_mount_image(wim, r->image_index, r->mount_dir,
			                       r->read_write ? WIMLIB_MOUNT_FLAG_READWRITE : 0,
			                       c->scratch_dir);
		_exit(e == 0 ? 0 : (e & 0x7f) + 1);
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && is_fuse_mount(r->mount_dir))
		return OFFSERV_OK;
	return OFFSERV_E_NOT_SUPPORTED;
}

static offserv_status fuse_unmount(struct dism_ctx *c, const struct dism_mount_record *r,
                                   int commit, int check_integrity)
{
	int flags = 0, e;

	if (commit)
		flags |= WIMLIB_UNMOUNT_FLAG_COMMIT;
	if (commit && check_integrity)
		flags |= WIMLIB_UNMOUNT_FLAG_CHECK_INTEGRITY;
	e = wimlib_unmount_image(r->mount_dir, flags);
	if (e)
		return dism_fail(c, OFFSERV_DISMAPI_E_UNMOUNT_INCOMPLETE,
		                 "The directory could not be completely unmounted: %s",
		                 wimlib_get_error_string(e));
	return OFFSERV_OK;
}

/* ---- commands ----------------------------------------------------------------- */

static offserv_status abs_dir(struct dism_ctx *c, const char *dir, char **out)
{
	*out = realpath(dir, NULL);
	if (!*out)
		return dism_fail(c, OFFSERV_E_PATH_NOT_FOUND, "The system cannot find the path specified: %s", dir);
	return OFFSERV_OK;
}

static offserv_status find_record(struct dism_ctx *c, const char *mount_dir,
                                  struct dism_mount_record *r)
{
	char *abs = realpath(mount_dir, NULL);
	char *path;
	offserv_status st;

	if (!abs) {
		/* The directory may be gone (an Invalid mount): match the name as given. */
		abs = strdup(mount_dir);
		if (!abs)
			return OFFSERV_E_OUTOFMEMORY;
	}
	path = dism_mount_record_path(c->state_dir, abs);
	free(abs);
	if (!path)
		return OFFSERV_E_OUTOFMEMORY;
	st = dism_mount_record_load(path, r, NULL, 0);
	free(path);
	if (st == OFFSERV_E_FILE_NOT_FOUND || st == OFFSERV_E_INVALID_DATA)
		return dism_fail(c, OFFSERV_E_INVALIDARG,
		                 "The specified directory is not a mount point for an image: %s",
		                 mount_dir);
	if (st)
		return dism_fail(c, st, "Could not read the mount record of %s.", mount_dir);
	return OFFSERV_OK;
}

static int dir_is_empty(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int empty = 1;

	if (!d)
		return 0;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
			empty = 0;
			break;
		}
	closedir(d);
	return empty;
}

static offserv_status extract_into(struct dism_ctx *c, struct dism_mount_record *r,
                                   int open_flags)
{
	WIMStruct *wim = NULL;
	int e;

	e = wimlib_open_wim(r->image_file, open_flags, &wim);
	if (e)
		return dism_fail(c, dism_wimlib_status(e), "Could not open %s: %s", r->image_file,
		                 wimlib_get_error_string(e));
	wimlib_register_progress_function(wim, progress_cb, c);
	e = wimlib_extract_image(wim, r->image_index, r->mount_dir, 0);
	wimlib_free(wim);
	if (e)
		return dism_fail(c, dism_wimlib_status(e), "Could not extract image %d of %s into %s: %s",
		                 r->image_index, r->image_file, r->mount_dir, wimlib_get_error_string(e));
	return OFFSERV_OK;
}

/* Mount @p r (record already claimed): FUSE when usable, else extraction. */
static offserv_status do_mount(struct dism_ctx *c, struct dism_mount_record *r, int open_flags)
{
	offserv_status st;
	char err[512] = "";

	if (fuse_usable()) {
		free(r->method);
		r->method = strdup("fuse");
		if (!r->method)
			return OFFSERV_E_OUTOFMEMORY;
		st = dism_mount_record_save(r, err, sizeof(err));
		if (st)
			return dism_fail(c, st, "%s", err);
		if (fuse_mount(c, r, open_flags) == OFFSERV_OK) {
			dism_out_progress(c->out, 100.0);
			return OFFSERV_OK;
		}
		dism_log_provider(c, OFFSERV_LOG_WARNING, DISM_PROV_WIM, "CWimManager", "Mount",
		                  OFFSERV_OK, "FUSE mount of %s failed; extracting the image instead",
		                  r->mount_dir);
	}
	free(r->method);
	r->method = strdup("extract");
	if (!r->method)
		return OFFSERV_E_OUTOFMEMORY;
	st = dism_mount_record_save(r, err, sizeof(err));
	if (st)
		return dism_fail(c, st, "%s", err);
	return extract_into(c, r, open_flags);
}

offserv_status dism_cmd_mount_image(struct dism_ctx *c)
{
	struct dism_args *a = c->args;
	struct dism_mount_record r;
	char *image = NULL, *dir = NULL, err[512] = "";
	WIMStruct *wim = NULL;
	struct stat sb;
	offserv_status st;
	int e, fd, open_flags = 0, image_index = 0;

	memset(&r, 0, sizeof(r));
	c->provider = DISM_PROV_IMAGING;
	image = realpath(a->value[DISM_OPT_IMAGEFILE], NULL);
	if (!image)
		return dism_fail(c, offserv_status_from_errno(errno), "%s",
		                 offserv_strerror(offserv_status_from_errno(errno)));
	if (stat(a->value[DISM_OPT_MOUNTDIR], &sb) != 0 || !S_ISDIR(sb.st_mode)) {
		st = dism_fail(c, OFFSERV_E_PATH_NOT_FOUND, "The mount directory must be created, but empty.");
		goto out;
	}
	st = abs_dir(c, a->value[DISM_OPT_MOUNTDIR], &dir);
	if (st)
		goto out;
	if (!dir_is_empty(dir)) {
		st = dism_fail(c, OFFSERV_HR_WIN32(145), "The mount directory must be created, but empty.");
		goto out;
	}
	if (a->present[DISM_OPT_CHECKINTEGRITY])
		open_flags |= WIMLIB_OPEN_FLAG_CHECK_INTEGRITY;
	if (!a->present[DISM_OPT_READONLY])
		open_flags |= WIMLIB_OPEN_FLAG_WRITE_ACCESS;
	e = wimlib_open_wim(image, open_flags, &wim);
	if (e) {
		st = dism_fail(c, dism_wimlib_status(e), "Could not open %s: %s", image,
		               wimlib_get_error_string(e));
		goto out;
	}
	if (a->value[DISM_OPT_NAME]) {
		struct wimlib_wim_info info;
		wimlib_get_wim_info(wim, &info);
		for (uint32_t i = 1; i <= info.image_count; i++) {
			const char *n = wimlib_get_image_name(wim, (int)i);
			if (n && strcasecmp(n, a->value[DISM_OPT_NAME]) == 0) {
				image_index = (int)i;
				break;
			}
		}
		if (!image_index) {
			st = dism_fail(c, OFFSERV_E_INVALIDARG,
			               "The specified image name \"%s\" was not found in %s.",
			               a->value[DISM_OPT_NAME], image);
			goto out;
		}
	} else {
		struct wimlib_wim_info info;
		wimlib_get_wim_info(wim, &info);
		if (a->index > info.image_count) {
			st = dism_fail(c, OFFSERV_E_INVALIDARG,
			               "The specified image index %lu does not exist in %s.", a->index,
			               image);
			goto out;
		}
		image_index = (int)a->index;
	}
	wimlib_free(wim);
	wim = NULL;

	st = offserv_mkdir_p(c->state_dir, err, sizeof(err));
	if (st) {
		st = dism_fail(c, st, "Could not create the mount state directory: %s", err);
		goto out;
	}
	r.mount_dir = dir;
	dir = NULL;
	r.image_file = image;
	image = NULL;
	r.image_index = image_index;
	r.read_write = !a->present[DISM_OPT_READONLY];
	r.method = strdup("extract");
	r.pid = (long)getpid();
	r.time = (long long)time(NULL);
	r.record_path = dism_mount_record_path(c->state_dir, r.mount_dir);
	if (!r.method || !r.record_path) {
		st = OFFSERV_E_OUTOFMEMORY;
		goto out;
	}
	/* Claim the directory: only one process can create its record. */
	fd = open(r.record_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		if (errno == EEXIST)
			st = dism_fail(c, OFFSERV_E_BUSY,
			               "The specified mount directory is already in use: %s",
			               r.mount_dir);
		else
			st = dism_fail(c, offserv_status_from_errno(errno), "%s: %s", r.record_path,
			               strerror(errno));
		goto out;
	}
	close(fd);
	dism_log_provider(c, OFFSERV_LOG_INFO, DISM_PROV_WIM, "CWimManager", "Mount", OFFSERV_OK,
	                  "Mounting image %d of %s on %s (%s)", r.image_index, r.image_file,
	                  r.mount_dir, r.read_write ? "read/write" : "read-only");
	dism_out_line(c->out, "Mounting image");
	dism_out_progress(c->out, 0.0);
	st = do_mount(c, &r, open_flags & ~WIMLIB_OPEN_FLAG_CHECK_INTEGRITY);
	if (st) {
		/* Leave nothing behind: the directory empty, no record. */
		dism_empty_dir(r.mount_dir, NULL, 0);
		unlink(r.record_path);
		goto out;
	}
	r.complete = 1;
	st = dism_mount_record_save(&r, err, sizeof(err));
	if (st) {
		st = dism_fail(c, st, "%s", err);
		goto out;
	}
	dism_out_progress(c->out, 100.0);
	dism_out_progress_end(c->out);
	dism_log_provider(c, OFFSERV_LOG_INFO, DISM_PROV_WIM, "CWimManager", "Mount", OFFSERV_OK,
	                  "Mounted by %s", r.method);
out:
	if (wim)
		wimlib_free(wim);
	free(image);
	free(dir);
	dism_mount_record_clear(&r);
	return st;
}

static void print_image_lines(struct dism_ctx *c, const struct dism_mount_record *r)
{
	dism_out_line(c->out, "Image File : %s", r->image_file);
	dism_out_line(c->out, "Image Index : %d", r->image_index);
}

/* Save the changes of a mount; for FUSE this unmounts with commit. */
static offserv_status save_changes(struct dism_ctx *c, struct dism_mount_record *r,
                                   int check_integrity)
{
	size_t changes = 0;
	offserv_status st;

	if (!r->read_write)
		return dism_fail(c, OFFSERV_E_ACCESS_DENIED,
		                 "The image is mounted read-only; its changes cannot be saved. Use /Discard.");
	if (!dism_mount_is_ok(r))
		return dism_fail(c, OFFSERV_DISMAPI_E_UNMOUNT_INCOMPLETE,
		                 "The mount at %s is invalid. Use /Remount-Image to recover it, or /Unmount-Image /Discard.",
		                 r->mount_dir);
	dism_out_line(c->out, "Saving image");
	dism_out_progress(c->out, 0.0);
	if (strcmp(r->method, "fuse") == 0)
		st = fuse_unmount(c, r, 1, check_integrity);
	else
		st = commit_extracted(c, r, check_integrity, &changes);
	if (st)
		return st;
	dism_out_progress(c->out, 100.0);
	dism_out_progress_end(c->out);
	return OFFSERV_OK;
}

offserv_status dism_cmd_unmount_image(struct dism_ctx *c)
{
	struct dism_args *a = c->args;
	struct dism_mount_record r;
	char err[512] = "";
	offserv_status st;
	int commit = a->present[DISM_OPT_COMMIT];
	int fuse_done = 0;

	c->provider = DISM_PROV_IMAGING;
	st = find_record(c, a->value[DISM_OPT_MOUNTDIR], &r);
	if (st)
		return st;
	print_image_lines(c, &r);
	if (commit) {
		st = save_changes(c, &r, a->present[DISM_OPT_CHECKINTEGRITY]);
		if (st)
			goto out;
		fuse_done = strcmp(r.method, "fuse") == 0;
	}
	r.unmounting = 1;
	st = dism_mount_record_save(&r, err, sizeof(err));
	if (st) {
		st = dism_fail(c, st, "%s", err);
		goto out;
	}
	dism_out_line(c->out, "Unmounting image");
	dism_out_progress(c->out, 0.0);
	if (strcmp(r.method, "fuse") == 0) {
		if (!fuse_done) {
			if (is_fuse_mount(r.mount_dir) && fuse_unmount(c, &r, 0, 0) != OFFSERV_OK)
				umount2(r.mount_dir, MNT_DETACH);
		}
	} else {
		st = dism_empty_dir(r.mount_dir, err, sizeof(err));
		if (st) {
			st = dism_fail(c, OFFSERV_DISMAPI_E_UNMOUNT_INCOMPLETE,
			               "The directory could not be completely unmounted: %s", err);
			goto out;
		}
	}
	if (unlink(r.record_path) != 0 && errno != ENOENT) {
		st = dism_fail(c, offserv_status_from_errno(errno), "%s: %s", r.record_path,
		               strerror(errno));
		goto out;
	}
	dism_out_progress(c->out, 100.0);
	dism_out_progress_end(c->out);
	dism_log_provider(c, OFFSERV_LOG_INFO, DISM_PROV_WIM, "CWimManager", "Unmount", OFFSERV_OK,
	                  "Unmounted %s (%s)", r.mount_dir, commit ? "committed" : "discarded");
out:
	dism_mount_record_clear(&r);
	return st;
}

offserv_status dism_cmd_commit_image(struct dism_ctx *c)
{
	struct dism_args *a = c->args;
	struct dism_mount_record r;
	offserv_status st;

	c->provider = DISM_PROV_IMAGING;
	st = find_record(c, a->value[DISM_OPT_MOUNTDIR], &r);
	if (st)
		return st;
	print_image_lines(c, &r);
	st = save_changes(c, &r, a->present[DISM_OPT_CHECKINTEGRITY]);
	if (st == OFFSERV_OK && strcmp(r.method, "fuse") == 0) {
		/* wimlib commits only at unmount: mount the saved image again. */
		r.complete = 0;
		r.pid = (long)getpid();
		st = do_mount(c, &r, WIMLIB_OPEN_FLAG_WRITE_ACCESS);
		if (st == OFFSERV_OK) {
			char err[512] = "";
			r.complete = 1;
			st = dism_mount_record_save(&r, err, sizeof(err));
			if (st)
				st = dism_fail(c, st, "%s", err);
		}
	}
	dism_mount_record_clear(&r);
	return st;
}

offserv_status dism_cmd_remount_image(struct dism_ctx *c)
{
	struct dism_mount_record r;
	struct stat sb;
	char err[512] = "";
	offserv_status st;

	c->provider = DISM_PROV_IMAGING;
	st = find_record(c, c->args->value[DISM_OPT_MOUNTDIR], &r);
	if (st)
		return st;
	if (dism_mount_is_ok(&r)) {
		dism_log_provider(c, OFFSERV_LOG_INFO, DISM_PROV_WIM, "CWimManager", "Remount",
		                  OFFSERV_OK, "%s is mounted and valid; nothing to do", r.mount_dir);
		goto out;
	}
	if (!r.complete && pid_alive(r.pid) && r.pid != (long)getpid()) {
		st = dism_fail(c, OFFSERV_E_BUSY, "The image at %s is still being mounted by process %ld.",
		               r.mount_dir, r.pid);
		goto out;
	}
	dism_out_line(c->out, "Remounting image");
	dism_out_progress(c->out, 0.0);
	if (strcmp(r.method, "fuse") == 0 && is_fuse_mount(r.mount_dir))
		umount2(r.mount_dir, MNT_DETACH);
	if (stat(r.mount_dir, &sb) != 0) {
		st = offserv_mkdir_p(r.mount_dir, err, sizeof(err));
		if (st) {
			st = dism_fail(c, st, "%s", err);
			goto out;
		}
	} else if (strcmp(r.method, "extract") == 0 && !r.complete) {
		/* An interrupted extraction holds no changes of the user's. */
		st = dism_empty_dir(r.mount_dir, err, sizeof(err));
		if (st) {
			st = dism_fail(c, st, "%s", err);
			goto out;
		}
	} else if (!dir_is_empty(r.mount_dir)) {
		st = dism_fail(c, OFFSERV_HR_WIN32(145),
		               "The mount directory %s is not empty; it cannot be remounted. Use /Cleanup-Mountpoints.",
		               r.mount_dir);
		goto out;
	}
	r.complete = 0;
	r.unmounting = 0;
	r.pid = (long)getpid();
	st = do_mount(c, &r, r.read_write ? WIMLIB_OPEN_FLAG_WRITE_ACCESS : 0);
	if (st)
		goto out;
	r.complete = 1;
	st = dism_mount_record_save(&r, err, sizeof(err));
	if (st) {
		st = dism_fail(c, st, "%s", err);
		goto out;
	}
	dism_out_progress(c->out, 100.0);
	dism_out_progress_end(c->out);
out:
	dism_mount_record_clear(&r);
	return st;
}

offserv_status dism_cmd_get_mountedimageinfo(struct dism_ctx *c)
{
	struct dism_mount_record *v = NULL;
	size_t n = 0;
	char err[512] = "";
	offserv_status st;

	c->provider = DISM_PROV_IMAGING;
	st = dism_mount_records_list(c->state_dir, &v, &n, err, sizeof(err));
	if (st)
		return dism_fail(c, st, "%s", err);
	if (n == 0) {
		dism_out_line(c->out, "No mounted images found.");
		dism_out_blank(c->out);
		return OFFSERV_OK;
	}
	dism_out_line(c->out, "Mounted images:");
	dism_out_blank(c->out);
	for (size_t i = 0; i < n; i++) {
		dism_out_line(c->out, "Mount Dir : %s", v[i].mount_dir);
		dism_out_line(c->out, "Image File : %s", v[i].image_file);
		dism_out_line(c->out, "Image Index : %d", v[i].image_index);
		dism_out_line(c->out, "Mounted Read/Write : %s", v[i].read_write ? "Yes" : "No");
		dism_out_line(c->out, "Status : %s", dism_mount_status(&v[i]));
		dism_out_blank(c->out);
	}
	dism_mount_records_free(v, n);
	return OFFSERV_OK;
}

offserv_status dism_cmd_cleanup_mountpoints(struct dism_ctx *c)
{
	struct dism_mount_record *v = NULL;
	size_t n = 0, cleaned = 0;
	char err[512] = "";
	offserv_status st;

	c->provider = DISM_PROV_IMAGING;
	st = dism_mount_records_list(c->state_dir, &v, &n, err, sizeof(err));
	if (st)
		return dism_fail(c, st, "%s", err);
	dism_out_progress(c->out, 0.0);
	for (size_t i = 0; i < n; i++) {
		struct dism_mount_record *r = &v[i];
		if (dism_mount_is_ok(r))
			continue;
		if (!r->complete && !r->unmounting && pid_alive(r->pid))
			continue; /* still being mounted */
		if (strcmp(r->method, "fuse") == 0) {
			if (is_fuse_mount(r->mount_dir))
				umount2(r->mount_dir, MNT_DETACH);
		} else {
			dism_empty_dir(r->mount_dir, NULL, 0);
		}
		if (unlink(r->record_path) == 0)
			cleaned++;
		dism_log_provider(c, OFFSERV_LOG_INFO, DISM_PROV_WIM, "CWimManager", "CleanupMountpoints",
		                  OFFSERV_OK, "Removed the invalid mount of %s at %s", r->image_file,
		                  r->mount_dir);
		dism_out_progress(c->out, 100.0 * (double)(i + 1) / (double)n);
	}
	dism_out_progress(c->out, 100.0);
	dism_out_progress_end(c->out);
	dism_mount_records_free(v, n);
	(void)cleaned;
	return OFFSERV_OK;
}
