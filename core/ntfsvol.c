/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Scratch NTFS volumes in a file: mkntfs to make them, libntfs-3g to fill them. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ntfs-3g/types.h>
#include <ntfs-3g/attrib.h>
#include <ntfs-3g/dir.h>
#include <ntfs-3g/endians.h>
#include <ntfs-3g/inode.h>
#include <ntfs-3g/security.h>
#include <ntfs-3g/unistr.h>
#include <ntfs-3g/volume.h>

#include <offserv/util.h>

#include "ntfsvol.h"

#define FILE_ATTRIBUTE_DIRECTORY_ 0x10u
#define FILE_ATTRIBUTE_ARCHIVE_ 0x20u

struct offserv_ntfsvol {
	ntfs_volume *vol;
	char *path;
};

static offserv_status errno_status(int e)
{
	switch (e) {
	case ENOENT:
		return OFFSERV_E_FILE_NOT_FOUND;
	case EEXIST:
		return OFFSERV_E_ALREADY_EXISTS;
	case ENOSPC:
		return OFFSERV_E_DISK_FULL;
	case ENOMEM:
		return OFFSERV_E_OUTOFMEMORY;
	case EINVAL:
		return OFFSERV_E_INVALID_DATA;
	default:
		return offserv_status_from_errno(e);
	}
}

/* mkntfs must be run without a shell; its output is kept for the message. */
static offserv_status run_mkntfs(const char *path, char *err, size_t errlen)
{
	char *const argv[] = {
		(char *)"mkntfs", (char *)"-F", (char *)"-f", (char *)"-q",
		(char *)"-s", (char *)"512", (char *)"-p", (char *)"0",
		(char *)"-H", (char *)"0", (char *)"-S", (char *)"0",
		(char *)"-L", (char *)"offserv", (char *)path, NULL,
	};
	char *const envp[] = {(char *)"LC_ALL=C", (char *)"PATH=/usr/sbin:/usr/bin:/sbin:/bin",
	                      NULL};
	int pfd[2];
	pid_t pid;
	char out[512];
	size_t out_len = 0;
	int status;

	if (pipe2(pfd, O_CLOEXEC) != 0) {
		int e = errno;
		offserv_set_error(err, errlen, "%s: pipe: %s", path, strerror(e));
		return errno_status(e);
	}
	pid = fork();
	if (pid < 0) {
		int e = errno;
		close(pfd[0]);
		close(pfd[1]);
		offserv_set_error(err, errlen, "%s: fork: %s", path, strerror(e));
		return errno_status(e);
	}
	if (pid == 0) {
		int nullfd = open("/dev/null", O_RDONLY);

		if (nullfd >= 0)
			dup2(nullfd, 0);
		dup2(pfd[1], 1);
		dup2(pfd[1], 2);
		execve(MKNTFS_PATH, argv, envp);
		_exit(127);
	}
	close(pfd[1]);
	for (;;) {
		char buf[512];
		ssize_t n = read(pfd[0], buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (out_len < sizeof(out) - 1) {
			size_t take = (size_t)n;

			if (take > sizeof(out) - 1 - out_len)
				take = sizeof(out) - 1 - out_len;
			memcpy(out + out_len, buf, take);
			out_len += take;
		}
	}
	close(pfd[0]);
	out[out_len] = '\0';
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			int e = errno;
			offserv_set_error(err, errlen, "%s: waitpid: %s", path, strerror(e));
			return errno_status(e);
		}
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return OFFSERV_OK;
	/* Keep the first line that is not mkntfs' note about a regular file. */
	{
		char *line = out, *nl;
		const char *why = "";

		while (*line) {
			nl = strchr(line, '\n');
			if (nl)
				*nl = '\0';
			if (*line && !strstr(line, "not a block device") &&
			    !strstr(line, "forced anyway")) {
				why = line;
				break;
			}
			if (!nl)
				break;
			line = nl + 1;
		}
		if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
			why = "cannot run " MKNTFS_PATH;
		offserv_set_error(err, errlen, "%s: mkntfs failed (%s %d): %s", path,
		                  WIFEXITED(status) ? "exit status" : "signal",
		                  WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status),
		                  why);
	}
	return OFFSERV_E_FAIL;
}

offserv_status offserv_ntfsvol_format(const char *path, uint64_t size, char *err,
                                      size_t errlen)
{
	const uint64_t mib = 1024u * 1024u;
	offserv_status st;
	int fd;

	if (!path) {
		offserv_set_error(err, errlen, "scratch volume: no path");
		return OFFSERV_E_INVALIDARG;
	}
	if (size < OFFSERV_NTFSVOL_MIN_SIZE)
		size = OFFSERV_NTFSVOL_MIN_SIZE;
	size = (size + mib - 1) / mib * mib;
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		int e = errno;
		offserv_set_error(err, errlen, "%s: cannot create scratch volume: %s", path,
		                  strerror(e));
		return e == EEXIST ? OFFSERV_E_FILE_EXISTS : errno_status(e);
	}
	if (ftruncate(fd, (off_t)size) != 0) {
		int e = errno;
		close(fd);
		unlink(path);
		offserv_set_error(err, errlen, "%s: cannot size scratch volume to %llu bytes: %s",
		                  path, (unsigned long long)size, strerror(e));
		return errno_status(e);
	}
	if (close(fd) != 0) {
		int e = errno;
		unlink(path);
		offserv_set_error(err, errlen, "%s: %s", path, strerror(e));
		return errno_status(e);
	}
	st = run_mkntfs(path, err, errlen);
	if (OFFSERV_FAILED(st))
		unlink(path);
	return st;
}

offserv_status offserv_ntfsvol_open(const char *path, struct offserv_ntfsvol **out,
                                    char *err, size_t errlen)
{
	struct offserv_ntfsvol *v;

	*out = NULL;
	v = calloc(1, sizeof(*v));
	if (!v || !(v->path = strdup(path))) {
		free(v);
		offserv_set_error(err, errlen, "%s: out of memory", path);
		return OFFSERV_E_OUTOFMEMORY;
	}
	errno = 0;
	v->vol = ntfs_mount(path, NTFS_MNT_NONE);
	if (!v->vol) {
		int e = errno ? errno : EINVAL;
		offserv_set_error(err, errlen, "%s: cannot open NTFS volume: %s", path,
		                  strerror(e));
		free(v->path);
		free(v);
		return e == ENOENT ? OFFSERV_E_FILE_NOT_FOUND : OFFSERV_E_INVALID_DATA;
	}
	*out = v;
	return OFFSERV_OK;
}

offserv_status offserv_ntfsvol_close(struct offserv_ntfsvol *vol, char *err, size_t errlen)
{
	offserv_status st = OFFSERV_OK;

	if (!vol)
		return OFFSERV_OK;
	if (ntfs_umount(vol->vol, FALSE) != 0) {
		int e = errno;
		offserv_set_error(err, errlen, "%s: cannot close NTFS volume: %s", vol->path,
		                  strerror(e));
		st = OFFSERV_E_WRITE_FAULT;
	}
	free(vol->path);
	free(vol);
	return st;
}

/* "/a/b/c" -> parent "/a/b", name "c". */
static offserv_status split_path(struct offserv_ntfsvol *v, const char *path, char **parent,
                                 const char **name, char *err, size_t errlen)
{
	const char *slash;
	size_t plen;

	while (*path == '/')
		path++;
	slash = strrchr(path, '/');
	*name = slash ? slash + 1 : path;
	if (!**name) {
		offserv_set_error(err, errlen, "%s: bad path \"%s\"", v->path, path);
		return OFFSERV_E_BAD_PATHNAME;
	}
	plen = slash ? (size_t)(slash - path) : 0;
	*parent = malloc(plen + 2);
	if (!*parent) {
		offserv_set_error(err, errlen, "%s: out of memory", v->path);
		return OFFSERV_E_OUTOFMEMORY;
	}
	(*parent)[0] = '/';
	memcpy(*parent + 1, path, plen);
	(*parent)[plen + 1] = '\0';
	return OFFSERV_OK;
}

static offserv_status to_ucs(struct offserv_ntfsvol *v, const char *name, ntfschar **uname,
                             int *ulen, char *err, size_t errlen)
{
	*uname = NULL;
	*ulen = ntfs_mbstoucs(name, uname);
	if (*ulen <= 0 || *ulen > 255) {
		free(*uname);
		*uname = NULL;
		offserv_set_error(err, errlen, "%s: name \"%s\" cannot be stored in NTFS", v->path,
		                  name);
		return OFFSERV_E_INVALID_NAME;
	}
	return OFFSERV_OK;
}

static ntfs_inode *lookup(struct offserv_ntfsvol *v, const char *path)
{
	return ntfs_pathname_to_inode(v->vol, NULL, path);
}

static offserv_status set_meta(struct offserv_ntfsvol *v, ntfs_inode *ni, const char *path,
                               const void *sd, size_t sd_len, uint32_t attributes,
                               char *err, size_t errlen)
{
	if (sd) {
		struct SECURITY_CONTEXT scx;

		memset(&scx, 0, sizeof(scx));
		scx.vol = v->vol;
		if (ntfs_set_ntfs_acl(&scx, ni, sd, sd_len, 0) != 0) {
			int e = errno;
			offserv_set_error(err, errlen,
			                  "%s: cannot set the security descriptor of \"%s\" (%zu bytes): %s",
			                  v->path, path, sd_len, strerror(e));
			return e == EINVAL ? OFFSERV_E_INVALID_DATA : errno_status(e);
		}
	}
	if (attributes) {
		le32 attr = cpu_to_le32(attributes);

		if (ntfs_set_ntfs_attrib(ni, (const char *)&attr, sizeof(attr), 0) != 0) {
			int e = errno;
			offserv_set_error(err, errlen, "%s: cannot set attributes 0x%x of \"%s\": %s",
			                  v->path, attributes, path, strerror(e));
			return errno_status(e);
		}
	}
	return OFFSERV_OK;
}

/* Create @path of @type under its parent; returns the open inode. */
static offserv_status create_node(struct offserv_ntfsvol *v, const char *path, mode_t type,
                                  ntfs_inode **out, char *err, size_t errlen)
{
	char *parent = NULL;
	const char *name;
	ntfschar *uname = NULL;
	int ulen;
	ntfs_inode *dir_ni = NULL, *ni;
	offserv_status st;

	*out = NULL;
	st = split_path(v, path, &parent, &name, err, errlen);
	if (OFFSERV_FAILED(st))
		return st;
	st = to_ucs(v, name, &uname, &ulen, err, errlen);
	if (OFFSERV_FAILED(st))
		goto out;
	dir_ni = lookup(v, parent);
	if (!dir_ni) {
		offserv_set_error(err, errlen, "%s: parent directory of \"%s\" is missing", v->path,
		                  path);
		st = OFFSERV_E_PATH_NOT_FOUND;
		goto out;
	}
	ni = ntfs_create(dir_ni, const_cpu_to_le32(0), uname, (u8)ulen, type);
	if (!ni) {
		int e = errno;
		offserv_set_error(err, errlen, "%s: cannot create \"%s\": %s", v->path, path,
		                  strerror(e));
		st = errno_status(e);
		goto out;
	}
	*out = ni;
out:
	if (dir_ni)
		ntfs_inode_close(dir_ni);
	free(uname);
	free(parent);
	return st;
}

static offserv_status close_inode(struct offserv_ntfsvol *v, ntfs_inode *ni, const char *path,
                                  offserv_status st, char *err, size_t errlen)
{
	if (ntfs_inode_close(ni) != 0 && OFFSERV_SUCCEEDED(st)) {
		int e = errno;
		offserv_set_error(err, errlen, "%s: cannot write \"%s\": %s", v->path, path,
		                  strerror(e));
		st = errno_status(e);
	}
	return st;
}

offserv_status offserv_ntfsvol_mkdir(struct offserv_ntfsvol *vol, const char *path,
                                     const void *sd, size_t sd_len, uint32_t attributes,
                                     char *err, size_t errlen)
{
	ntfs_inode *ni;
	offserv_status st;

	ni = lookup(vol, path);
	if (ni) {
		if (!(ni->mrec->flags & MFT_RECORD_IS_DIRECTORY)) {
			ntfs_inode_close(ni);
			offserv_set_error(err, errlen, "%s: \"%s\" exists and is not a directory",
			                  vol->path, path);
			return OFFSERV_E_ALREADY_EXISTS;
		}
	} else {
		st = create_node(vol, path, S_IFDIR, &ni, err, errlen);
		if (OFFSERV_FAILED(st))
			return st;
	}
	st = set_meta(vol, ni, path, sd, sd_len, attributes ? attributes | FILE_ATTRIBUTE_DIRECTORY_ : 0,
	              err, errlen);
	return close_inode(vol, ni, path, st, err, errlen);
}

static offserv_status write_data(struct offserv_ntfsvol *v, ntfs_inode *ni, const char *path,
                                 const char *src, char *err, size_t errlen)
{
	ntfs_attr *na;
	int fd;
	s64 pos = 0;
	offserv_status st = OFFSERV_OK;
	char *buf;
	const size_t bufsize = 256 * 1024;

	fd = open(src, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		offserv_set_error(err, errlen, "%s: cannot open: %s", src, strerror(e));
		return errno_status(e);
	}
	buf = malloc(bufsize);
	na = ntfs_attr_open(ni, AT_DATA, AT_UNNAMED, 0);
	if (!buf || !na) {
		int e = buf ? errno : ENOMEM;
		offserv_set_error(err, errlen, "%s: cannot open the data of \"%s\": %s", v->path,
		                  path, strerror(e));
		st = errno_status(e);
		goto out;
	}
	for (;;) {
		ssize_t n = read(fd, buf, bufsize);
		ssize_t done = 0;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;
			offserv_set_error(err, errlen, "%s: read error: %s", src, strerror(e));
			st = OFFSERV_E_READ_FAULT;
			goto out;
		}
		if (n == 0)
			break;
		while (done < n) {
			s64 w = ntfs_attr_pwrite(na, pos, n - done, buf + done);

			if (w <= 0) {
				int e = w < 0 ? errno : ENOSPC;
				offserv_set_error(err, errlen, "%s: cannot write \"%s\" at %lld: %s",
				                  v->path, path, (long long)pos, strerror(e));
				st = errno_status(e);
				goto out;
			}
			done += w;
			pos += w;
		}
	}
out:
	if (na)
		ntfs_attr_close(na);
	free(buf);
	close(fd);
	return st;
}

offserv_status offserv_ntfsvol_add_file(struct offserv_ntfsvol *vol, const char *path,
                                        const char *src, const void *sd, size_t sd_len,
                                        uint32_t attributes, char *err, size_t errlen)
{
	ntfs_inode *ni;
	offserv_status st;

	ni = lookup(vol, path);
	if (ni) {
		ntfs_inode_close(ni);
		offserv_set_error(err, errlen, "%s: \"%s\" already exists", vol->path, path);
		return OFFSERV_E_ALREADY_EXISTS;
	}
	st = create_node(vol, path, S_IFREG, &ni, err, errlen);
	if (OFFSERV_FAILED(st))
		return st;
	if (src)
		st = write_data(vol, ni, path, src, err, errlen);
	if (OFFSERV_SUCCEEDED(st))
		st = set_meta(vol, ni, path, sd, sd_len,
		              attributes ? attributes & ~FILE_ATTRIBUTE_DIRECTORY_
		                         : FILE_ATTRIBUTE_ARCHIVE_,
		              err, errlen);
	return close_inode(vol, ni, path, st, err, errlen);
}

offserv_status offserv_ntfsvol_link(struct offserv_ntfsvol *vol, const char *target,
                                    const char *link_path, char *err, size_t errlen)
{
	char *parent = NULL;
	const char *name;
	ntfschar *uname = NULL;
	int ulen;
	ntfs_inode *ni = NULL, *dir_ni = NULL;
	offserv_status st;

	st = split_path(vol, link_path, &parent, &name, err, errlen);
	if (OFFSERV_FAILED(st))
		return st;
	st = to_ucs(vol, name, &uname, &ulen, err, errlen);
	if (OFFSERV_FAILED(st))
		goto out;
	ni = lookup(vol, target);
	if (!ni) {
		offserv_set_error(err, errlen, "%s: link target \"%s\" is missing", vol->path,
		                  target);
		st = OFFSERV_E_FILE_NOT_FOUND;
		goto out;
	}
	dir_ni = lookup(vol, parent);
	if (!dir_ni) {
		offserv_set_error(err, errlen, "%s: parent directory of \"%s\" is missing",
		                  vol->path, link_path);
		st = OFFSERV_E_PATH_NOT_FOUND;
		goto out;
	}
	if (ntfs_link(ni, dir_ni, uname, (u8)ulen) != 0) {
		int e = errno;
		offserv_set_error(err, errlen, "%s: cannot link \"%s\" to \"%s\": %s", vol->path,
		                  link_path, target, strerror(e));
		st = errno_status(e);
	}
out:
	if (ni)
		st = close_inode(vol, ni, target, st, err, errlen);
	if (dir_ni)
		st = close_inode(vol, dir_ni, parent, st, err, errlen);
	free(uname);
	free(parent);
	return st;
}

offserv_status offserv_ntfsvol_set_times(struct offserv_ntfsvol *vol, const char *path,
                                         uint64_t creation, uint64_t last_write,
                                         uint64_t last_access, char *err, size_t errlen)
{
	le64 times[3] = {cpu_to_le64(creation), cpu_to_le64(last_write),
	                 cpu_to_le64(last_access)};
	ntfs_inode *ni = lookup(vol, path);
	offserv_status st = OFFSERV_OK;

	if (!ni) {
		offserv_set_error(err, errlen, "%s: \"%s\" is missing", vol->path, path);
		return OFFSERV_E_FILE_NOT_FOUND;
	}
	if (ntfs_inode_set_times(ni, (const char *)times, sizeof(times), 0) != 0) {
		int e = errno;
		offserv_set_error(err, errlen, "%s: cannot set the times of \"%s\": %s", vol->path,
		                  path, strerror(e));
		st = errno_status(e);
	}
	return close_inode(vol, ni, path, st, err, errlen);
}

offserv_status offserv_ntfsvol_get_meta(struct offserv_ntfsvol *vol, const char *path,
                                        void **sd, size_t *sd_len, uint32_t *attributes,
                                        char *err, size_t errlen)
{
	struct SECURITY_CONTEXT scx;
	ntfs_inode *ni = lookup(vol, path);
	le32 attr = 0;
	int n;

	*sd = NULL;
	*sd_len = 0;
	*attributes = 0;
	if (!ni) {
		offserv_set_error(err, errlen, "%s: \"%s\" is missing", vol->path, path);
		return OFFSERV_E_FILE_NOT_FOUND;
	}
	memset(&scx, 0, sizeof(scx));
	scx.vol = vol->vol;
	n = ntfs_get_ntfs_acl(&scx, ni, NULL, 0);
	if (n > 0) {
		*sd = malloc((size_t)n);
		if (!*sd) {
			ntfs_inode_close(ni);
			offserv_set_error(err, errlen, "%s: out of memory", vol->path);
			return OFFSERV_E_OUTOFMEMORY;
		}
		if (ntfs_get_ntfs_acl(&scx, ni, *sd, (size_t)n) != n) {
			free(*sd);
			*sd = NULL;
			ntfs_inode_close(ni);
			offserv_set_error(err, errlen, "%s: cannot read the descriptor of \"%s\"",
			                  vol->path, path);
			return OFFSERV_E_READ_FAULT;
		}
		*sd_len = (size_t)n;
	}
	if (ntfs_get_ntfs_attrib(ni, (char *)&attr, sizeof(attr)) == (int)sizeof(attr))
		*attributes = le32_to_cpu(attr);
	ntfs_inode_close(ni);
	return OFFSERV_OK;
}
