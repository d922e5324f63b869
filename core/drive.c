/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Servicing drive choice, staging folders, free space. */
#include <config.h>

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <offserv/drive.h>
#include <offserv/util.h>

#define MOUNTINFO "/proc/self/mountinfo"

/* Undo the octal escapes (\040 for a space...) of a mountinfo field, in place. */
static void unescape_mount(char *s)
{
	char *o = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*o++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 3;
		} else {
			*o++ = *s;
		}
	}
	*o = '\0';
}

/* Is @p mnt equal to @p path or one of its parent directories? */
static bool is_prefix_dir(const char *mnt, const char *path)
{
	size_t n = strlen(mnt);

	if (strcmp(mnt, "/") == 0)
		return path[0] == '/';
	return strncmp(mnt, path, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/*
 * The longest mount point in the mount table that holds @p real (a
 * canonical path); malloc'd, or NULL when the table cannot be read.
 * *exact tells whether @p real itself is listed.
 */
static char *mount_of(const char *real, bool *exact)
{
	FILE *f = fopen(MOUNTINFO, "re");
	char *line = NULL, *best = NULL;
	size_t cap = 0, best_len = 0;

	*exact = false;
	if (!f)
		return NULL;
	while (getline(&line, &cap, f) > 0) {
		char *save = NULL, *field = strtok_r(line, " ", &save);

		/* Fields: id parent major:minor root mountpoint ... */
		for (int i = 0; field && i < 4; i++)
			field = strtok_r(NULL, " ", &save);
		if (!field)
			continue;
		unescape_mount(field);
		if (strcmp(field, real) == 0)
			*exact = true;
		if (is_prefix_dir(field, real) && (!best || strlen(field) >= best_len)) {
			free(best);
			best = strdup(field);
			best_len = best ? strlen(best) : 0;
		}
	}
	free(line);
	fclose(f);
	return best;
}

/* Mount point by walking up while the device stays the same (no mount table). */
static char *mount_by_dev(const char *real)
{
	char *cur = strdup(real);
	struct stat st, up;

	if (!cur || stat(cur, &st) != 0) {
		free(cur);
		return NULL;
	}
	while (strcmp(cur, "/") != 0) {
		char *slash = strrchr(cur, '/');
		char *parent = slash == cur ? strdup("/") : strndup(cur, (size_t)(slash - cur));

		if (!parent) {
			free(cur);
			return NULL;
		}
		if (stat(parent, &up) != 0 || up.st_dev != st.st_dev) {
			free(parent);
			break;
		}
		free(cur);
		cur = parent;
	}
	return cur;
}

int offserv_drive_is_mount_point(const char *path)
{
	char real[PATH_MAX];
	char *parent, *m;
	struct stat a, b;
	bool exact = false;

	if (!path || !realpath(path, real))
		return 0;
	m = mount_of(real, &exact);
	free(m);
	if (exact)
		return 1;
	if (strcmp(real, "/") == 0)
		return 1;
	parent = offserv_path_join(real, "..");
	if (!parent)
		return 0;
	if (stat(real, &a) == 0 && stat(parent, &b) == 0 && a.st_dev != b.st_dev) {
		free(parent);
		return 1;
	}
	free(parent);
	return 0;
}

/* Nearest existing directory at or above @p path, canonical, malloc'd. */
static char *nearest_existing(const char *path)
{
	char *cur = strdup(path);
	char real[PATH_MAX];

	while (cur) {
		char *slash;

		if (realpath(cur, real)) {
			free(cur);
			return strdup(real);
		}
		slash = strrchr(cur, '/');
		if (!slash || slash == cur) {
			free(cur);
			return strdup("/");
		}
		*slash = '\0';
	}
	return NULL;
}

static offserv_status automatic(const char *site_root, char **drive, char *why, size_t whylen)
{
	char *real = nearest_existing(site_root);
	char *m;
	bool exact;

	if (!real) {
		offserv_set_error(why, whylen, "%s: out of memory", site_root);
		return OFFSERV_E_OUTOFMEMORY;
	}
	m = mount_of(real, &exact);
	if (!m)
		m = mount_by_dev(real);
	free(real);
	if (!m) {
		offserv_set_error(why, whylen, "%s: cannot find the filesystem that holds it",
		                  site_root);
		return OFFSERV_E_PATH_NOT_FOUND;
	}
	*drive = m;
	return OFFSERV_OK;
}

offserv_status offserv_drive_resolve(const char *configured, const char *site_root,
                                     char **drive, char *why, size_t whylen)
{
	struct stat st;

	if (!drive)
		return OFFSERV_E_INVALIDARG;
	*drive = NULL;
	if (why && whylen)
		why[0] = '\0';
	if (!site_root || site_root[0] != '/') {
		offserv_set_error(why, whylen, "site root \"%s\" is not an absolute path",
		                  site_root ? site_root : "");
		return OFFSERV_E_INVALIDARG;
	}
	if (!configured || !*configured || strcasecmp(configured, "automatic") == 0)
		return automatic(site_root, drive, why, whylen);
	if (configured[0] != '/' || stat(configured, &st) != 0 || !S_ISDIR(st.st_mode)) {
		char tmp[512];
		offserv_status s;

		snprintf(tmp, sizeof(tmp), "%s", configured);
		s = automatic(site_root, drive, why, whylen);
		if (s == OFFSERV_OK)
			offserv_set_error(why, whylen,
			                  "the servicing drive %s does not exist; using %s (Automatic)",
			                  tmp, *drive);
		return s;
	}
	if (!offserv_drive_is_mount_point(configured)) {
		char tmp[512];
		offserv_status s;

		snprintf(tmp, sizeof(tmp), "%s", configured);
		s = automatic(site_root, drive, why, whylen);
		if (s == OFFSERV_OK)
			offserv_set_error(why, whylen,
			                  "the servicing drive %s is not a mount point; using %s (Automatic)",
			                  tmp, *drive);
		return s;
	}
	{
		char real[PATH_MAX];

		*drive = strdup(realpath(configured, real) ? real : configured);
	}
	if (!*drive) {
		offserv_set_error(why, whylen, "%s: out of memory", configured);
		return OFFSERV_E_OUTOFMEMORY;
	}
	return OFFSERV_OK;
}

/* mkdir 0700, then check what is there: a directory of ours, not a link. */
static offserv_status private_dir(const char *path, char *err, size_t errlen)
{
	struct stat st;

	if (mkdir(path, 0700) != 0 && errno != EEXIST) {
		int e = errno;

		offserv_set_error(err, errlen, "%s: cannot create: %s", path, strerror(e));
		return offserv_status_from_errno(e);
	}
	if (lstat(path, &st) != 0) {
		int e = errno;

		offserv_set_error(err, errlen, "%s: cannot stat: %s", path, strerror(e));
		return offserv_status_from_errno(e);
	}
	if (S_ISLNK(st.st_mode)) {
		offserv_set_error(err, errlen, "%s: is a symbolic link; refusing to use it", path);
		return OFFSERV_E_ACCESS_DENIED;
	}
	if (!S_ISDIR(st.st_mode)) {
		offserv_set_error(err, errlen, "%s: exists and is not a directory", path);
		return OFFSERV_E_ACCESS_DENIED;
	}
	if (st.st_uid != geteuid()) {
		offserv_set_error(err, errlen, "%s: owned by user %lu, not by %lu; refusing to use it",
		                  path, (unsigned long)st.st_uid, (unsigned long)geteuid());
		return OFFSERV_E_ACCESS_DENIED;
	}
	if ((st.st_mode & 0077) != 0 && chmod(path, 0700) != 0) {
		int e = errno;

		offserv_set_error(err, errlen, "%s: cannot make it private: %s", path, strerror(e));
		return offserv_status_from_errno(e);
	}
	return OFFSERV_OK;
}

offserv_status offserv_drive_workdir(const char *drive, char **path, char *err, size_t errlen)
{
	offserv_status st;
	char *p;

	if (!path)
		return OFFSERV_E_INVALIDARG;
	*path = NULL;
	if (!drive || drive[0] != '/') {
		offserv_set_error(err, errlen, "servicing drive \"%s\" is not an absolute path",
		                  drive ? drive : "");
		return OFFSERV_E_INVALIDARG;
	}
	p = offserv_path_join(drive, OFFSERV_DRIVE_WORKDIR_NAME);
	if (!p) {
		offserv_set_error(err, errlen, "%s: out of memory", drive);
		return OFFSERV_E_OUTOFMEMORY;
	}
	st = private_dir(p, err, errlen);
	if (st != OFFSERV_OK) {
		free(p);
		return st;
	}
	*path = p;
	return OFFSERV_OK;
}

static bool valid_id(const char *id)
{
	size_t n = 0;

	if (!id || !*id || strcmp(id, ".") == 0 || strcmp(id, "..") == 0)
		return false;
	for (const char *c = id; *c; c++, n++) {
		if (!((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
		      strchr("-_.{}", *c)))
			return false;
	}
	return n <= OFFSERV_NAME_MAX;
}

/* <workdir>/<id>[/<sub>], each level created private. */
static offserv_status staged_dir(const char *drive, const char *id, const char *what,
                                 const char *sub, char **path, char *err, size_t errlen)
{
	offserv_status st;
	char *work = NULL, *p, *q;

	if (!path)
		return OFFSERV_E_INVALIDARG;
	*path = NULL;
	if (!valid_id(id)) {
		offserv_set_error(err, errlen,
		                  "%s \"%s\" is not a valid folder name (letters, digits and -_.{} only)",
		                  what, id ? id : "");
		return OFFSERV_E_INVALID_NAME;
	}
	st = offserv_drive_workdir(drive, &work, err, errlen);
	if (st != OFFSERV_OK)
		return st;
	p = offserv_path_join(work, id);
	free(work);
	if (!p) {
		offserv_set_error(err, errlen, "%s: out of memory", drive);
		return OFFSERV_E_OUTOFMEMORY;
	}
	st = private_dir(p, err, errlen);
	if (st != OFFSERV_OK || !sub) {
		if (st != OFFSERV_OK)
			free(p);
		else
			*path = p;
		return st;
	}
	q = offserv_path_join(p, sub);
	free(p);
	if (!q) {
		offserv_set_error(err, errlen, "%s: out of memory", drive);
		return OFFSERV_E_OUTOFMEMORY;
	}
	st = private_dir(q, err, errlen);
	if (st != OFFSERV_OK) {
		free(q);
		return st;
	}
	*path = q;
	return OFFSERV_OK;
}

offserv_status offserv_drive_image_dir(const char *drive, const char *image_id, char **path,
                                       char *err, size_t errlen)
{
	return staged_dir(drive, image_id, "image package ID", OFFSERV_DRIVE_IMAGE_SUBDIR, path,
	                  err, errlen);
}

offserv_status offserv_drive_update_dir(const char *drive, const char *guid, char **path,
                                        char *err, size_t errlen)
{
	return staged_dir(drive, guid, "update GUID", NULL, path, err, errlen);
}

offserv_status offserv_drive_free_bytes(const char *path, uint64_t *bytes, char *err,
                                        size_t errlen)
{
	struct statvfs sv;

	if (!path || !bytes)
		return OFFSERV_E_INVALIDARG;
	if (statvfs(path, &sv) != 0) {
		int e = errno;

		offserv_set_error(err, errlen, "%s: cannot read free space: %s", path, strerror(e));
		return offserv_status_from_errno(e);
	}
	*bytes = (uint64_t)sv.f_bavail * (uint64_t)sv.f_frsize;
	return OFFSERV_OK;
}
