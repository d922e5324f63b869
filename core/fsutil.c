/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Paths and files: sanitizing archive names, directories, atomic writes. */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <offserv/util.h>

/* Largest chunk read or copied at once. */
#define COPY_CHUNK 65536

void offserv_set_error(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* Status and message for a failed system call on @p path. */
static offserv_status errno_fail(char *err, size_t errlen, int e, const char *what,
                                 const char *path)
{
	offserv_set_error(err, errlen, "%s: %s: %s", path, what, strerror(e));
	return offserv_status_from_errno(e);
}

/*
 * Length of the UTF-8 sequence starting at @p s, 0 when it is not a valid,
 * shortest-form encoding of a scalar value.  *cp receives the code point.
 */
static size_t utf8_seq(const unsigned char *s, uint32_t *cp)
{
	uint32_t c = s[0];
	size_t n, i;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		c &= 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		c &= 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		c &= 0x07;
	} else {
		return 0;
	}
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if ((n == 3 && c < 0x800) || (n == 4 && (c < 0x10000 || c > 0x10ffff)) ||
	    (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return n;
}

static bool is_sep(char c)
{
	return c == '/' || c == '\\';
}

/* CON, PRN, AUX, NUL, COM1-9, LPT1-9, whatever follows the first dot. */
static bool is_reserved_device(const char *comp, size_t len)
{
	static const char *const names3[] = {"CON", "PRN", "AUX", "NUL"};
	size_t base = 0;

	while (base < len && comp[base] != '.')
		base++;
	/* Windows ignores trailing spaces before the extension ("CON .txt"). */
	while (base > 0 && comp[base - 1] == ' ')
		base--;
	if (base == 3) {
		for (size_t i = 0; i < sizeof(names3) / sizeof(names3[0]); i++)
			if (strncasecmp(comp, names3[i], 3) == 0)
				return true;
	} else if (base == 4) {
		if ((strncasecmp(comp, "COM", 3) == 0 || strncasecmp(comp, "LPT", 3) == 0) &&
		    comp[3] >= '1' && comp[3] <= '9')
			return true;
	}
	return false;
}

offserv_status offserv_path_sanitize(const char *raw, char **out, char *err, size_t errlen)
{
	const unsigned char *p;
	size_t rawlen, o = 0;
	char *res;

	if (!out)
		return OFFSERV_E_INVALIDARG;
	*out = NULL;
	if (!raw || !*raw) {
		offserv_set_error(err, errlen, "empty member name");
		return OFFSERV_E_INVALID_NAME;
	}
	rawlen = strlen(raw);
	if (rawlen > OFFSERV_RELPATH_MAX * 4) {
		offserv_set_error(err, errlen, "member name of %zu bytes is too long", rawlen);
		return OFFSERV_E_INVALID_NAME;
	}
	/* Whole-name checks first, so that the message says what was wrong. */
	for (p = (const unsigned char *)raw; *p;) {
		uint32_t cp;
		size_t n = utf8_seq(p, &cp);

		if (n == 0) {
			offserv_set_error(err, errlen, "member name \"%s\" is not valid UTF-8", raw);
			return OFFSERV_E_INVALID_NAME;
		}
		if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f)) {
			offserv_set_error(err, errlen,
			                  "member name contains control character 0x%02x", (unsigned)cp);
			return OFFSERV_E_INVALID_NAME;
		}
		p += n;
	}
	if (is_sep(raw[0])) {
		offserv_set_error(err, errlen, "member name \"%s\" is %s", raw,
		                  is_sep(raw[1]) ? "a UNC or device path" : "an absolute path");
		return OFFSERV_E_INVALID_NAME;
	}
	if (((raw[0] >= 'A' && raw[0] <= 'Z') || (raw[0] >= 'a' && raw[0] <= 'z')) &&
	    raw[1] == ':') {
		offserv_set_error(err, errlen, "member name \"%s\" has a drive letter", raw);
		return OFFSERV_E_INVALID_NAME;
	}
	if (strchr(raw, ':')) {
		offserv_set_error(err, errlen,
		                  "member name \"%s\" contains ':' (alternate data stream)", raw);
		return OFFSERV_E_INVALID_NAME;
	}

	res = malloc(rawlen + 1);
	if (!res) {
		offserv_set_error(err, errlen, "out of memory");
		return OFFSERV_E_OUTOFMEMORY;
	}
	for (const char *c = raw; *c;) {
		const char *start;
		size_t len, k;
		bool dots_spaces = true;

		while (is_sep(*c))
			c++;
		if (!*c)
			break;
		start = c;
		while (*c && !is_sep(*c))
			c++;
		len = (size_t)(c - start);
		for (k = 0; k < len; k++)
			if (start[k] != '.' && start[k] != ' ')
				dots_spaces = false;
		if (dots_spaces) {
			/* ".", "..", and what Windows reads as them ("...", ". ."). */
			offserv_set_error(err, errlen,
			                  "member name \"%s\" has a \"%.*s\" component", raw,
			                  (int)len, start);
			goto refuse;
		}
		if (len > OFFSERV_NAME_MAX) {
			offserv_set_error(err, errlen,
			                  "member name has a component of %zu bytes, over %d: \"%.64s...\"",
			                  len, OFFSERV_NAME_MAX, raw);
			goto refuse;
		}
		if (is_reserved_device(start, len)) {
			offserv_set_error(err, errlen,
			                  "member name \"%s\" uses the reserved device name \"%.*s\"",
			                  raw, (int)len, start);
			goto refuse;
		}
		if (o > 0)
			res[o++] = '/';
		memcpy(res + o, start, len);
		o += len;
	}
	res[o] = '\0';
	if (o == 0) {
		offserv_set_error(err, errlen, "member name \"%s\" names no file", raw);
		goto refuse;
	}
	if (o > OFFSERV_RELPATH_MAX) {
		offserv_set_error(err, errlen, "member name of %zu bytes is over %d bytes", o,
		                  OFFSERV_RELPATH_MAX);
		goto refuse;
	}
	*out = res;
	return OFFSERV_OK;
refuse:
	free(res);
	return OFFSERV_E_INVALID_NAME;
}

char *offserv_path_join(const char *a, const char *b)
{
	size_t la, lb;
	char *r;

	if (!a || !b)
		return NULL;
	la = strlen(a);
	while (*b == '/')
		b++;
	lb = strlen(b);
	if (la == 0)
		return strdup(b);
	while (la > 1 && a[la - 1] == '/')
		la--;
	r = malloc(la + lb + 2);
	if (!r)
		return NULL;
	memcpy(r, a, la);
	if (a[la - 1] != '/' && lb > 0)
		r[la++] = '/';
	memcpy(r + la, b, lb);
	r[la + lb] = '\0';
	return r;
}

offserv_status offserv_mkdir_p(const char *path, char *err, size_t errlen)
{
	char *buf;
	size_t len;
	struct stat st;

	if (!path || !*path) {
		offserv_set_error(err, errlen, "empty directory path");
		return OFFSERV_E_INVALIDARG;
	}
	buf = strdup(path);
	if (!buf) {
		offserv_set_error(err, errlen, "%s: out of memory", path);
		return OFFSERV_E_OUTOFMEMORY;
	}
	len = strlen(buf);
	for (size_t i = 1; i <= len; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		if (buf[i - 1] == '/')
			continue;
		buf[i] = '\0';
		if (mkdir(buf, 0755) != 0) {
			int e = errno;

			if (e != EEXIST || stat(buf, &st) != 0 || !S_ISDIR(st.st_mode)) {
				offserv_status st_ = errno_fail(err, errlen, e == EEXIST ? ENOTDIR : e,
				                                "cannot create directory", buf);
				free(buf);
				return st_;
			}
		}
		if (i < len)
			buf[i] = '/';
	}
	free(buf);
	return OFFSERV_OK;
}

/* Remove the contents of the directory open as @p dfd (consumed). */
static int rmtree_fd(int dfd, const char *top, char *err, size_t errlen, offserv_status *st)
{
	DIR *d = fdopendir(dfd);
	struct dirent *e;
	int rc = 0;

	if (!d) {
		*st = errno_fail(err, errlen, errno, "cannot read directory", top);
		close(dfd);
		return -1;
	}
	while ((errno = 0, e = readdir(d)) != NULL) {
		struct stat sb;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (fstatat(dirfd(d), e->d_name, &sb, AT_SYMLINK_NOFOLLOW) != 0) {
			if (errno == ENOENT)
				continue;
			*st = errno_fail(err, errlen, errno, "cannot stat an entry under", top);
			rc = -1;
			break;
		}
		if (S_ISDIR(sb.st_mode)) {
			int cfd = openat(dirfd(d), e->d_name,
			                 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			if (cfd < 0) {
				*st = errno_fail(err, errlen, errno, "cannot open a directory under", top);
				rc = -1;
				break;
			}
			if (rmtree_fd(cfd, top, err, errlen, st) != 0) {
				rc = -1;
				break;
			}
			if (unlinkat(dirfd(d), e->d_name, AT_REMOVEDIR) != 0 && errno != ENOENT) {
				*st = errno_fail(err, errlen, errno, "cannot remove a directory under",
				                 top);
				rc = -1;
				break;
			}
		} else if (unlinkat(dirfd(d), e->d_name, 0) != 0 && errno != ENOENT) {
			*st = errno_fail(err, errlen, errno, "cannot remove a file under", top);
			rc = -1;
			break;
		}
	}
	if (rc == 0 && errno != 0) {
		*st = errno_fail(err, errlen, errno, "cannot read directory", top);
		rc = -1;
	}
	closedir(d);
	return rc;
}

offserv_status offserv_rmtree(const char *path, char *err, size_t errlen)
{
	struct stat sb;
	offserv_status st = OFFSERV_OK;
	int fd;

	if (!path || !*path) {
		offserv_set_error(err, errlen, "empty path to remove");
		return OFFSERV_E_INVALIDARG;
	}
	if (lstat(path, &sb) != 0) {
		if (errno == ENOENT)
			return OFFSERV_OK;
		return errno_fail(err, errlen, errno, "cannot stat", path);
	}
	if (!S_ISDIR(sb.st_mode)) {
		if (unlink(path) != 0 && errno != ENOENT)
			return errno_fail(err, errlen, errno, "cannot remove", path);
		return OFFSERV_OK;
	}
	fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno_fail(err, errlen, errno, "cannot open directory", path);
	if (rmtree_fd(fd, path, err, errlen, &st) != 0)
		return st;
	if (rmdir(path) != 0 && errno != ENOENT)
		return errno_fail(err, errlen, errno, "cannot remove directory", path);
	return OFFSERV_OK;
}

offserv_status offserv_read_file(const char *path, size_t max, char **data, size_t *len,
                                 char *err, size_t errlen)
{
	struct stat sb;
	char *buf = NULL;
	size_t cap, used = 0;
	int fd;

	if (!path || !data) {
		offserv_set_error(err, errlen, "read_file: missing argument");
		return OFFSERV_E_INVALIDARG;
	}
	*data = NULL;
	if (len)
		*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno_fail(err, errlen, errno, "cannot open", path);
	if (fstat(fd, &sb) != 0) {
		offserv_status st = errno_fail(err, errlen, errno, "cannot stat", path);
		close(fd);
		return st;
	}
	if (S_ISDIR(sb.st_mode)) {
		close(fd);
		offserv_set_error(err, errlen, "%s: is a directory", path);
		return OFFSERV_E_ACCESS_DENIED;
	}
	if (S_ISREG(sb.st_mode) && (uintmax_t)sb.st_size > max) {
		close(fd);
		offserv_set_error(err, errlen, "%s: file of %jd bytes is over the limit of %zu",
		                  path, (intmax_t)sb.st_size, max);
		return OFFSERV_E_INVALID_DATA;
	}
	cap = S_ISREG(sb.st_mode) ? (size_t)sb.st_size + 1 : 4096;
	if (cap > max + 1)
		cap = max + 1;
	buf = malloc(cap + 1);
	if (!buf) {
		close(fd);
		offserv_set_error(err, errlen, "%s: out of memory", path);
		return OFFSERV_E_OUTOFMEMORY;
	}
	for (;;) {
		ssize_t n;

		if (used == cap) {
			char *nb;

			if (used > max)
				break;
			cap = cap * 2 > max + 1 ? max + 1 : cap * 2;
			nb = realloc(buf, cap + 1);
			if (!nb) {
				free(buf);
				close(fd);
				offserv_set_error(err, errlen, "%s: out of memory", path);
				return OFFSERV_E_OUTOFMEMORY;
			}
			buf = nb;
		}
		n = read(fd, buf + used, cap - used);
		if (n < 0) {
			offserv_status st;

			if (errno == EINTR)
				continue;
			st = errno_fail(err, errlen, errno, "cannot read", path);
			free(buf);
			close(fd);
			return st;
		}
		if (n == 0)
			break;
		used += (size_t)n;
	}
	close(fd);
	if (used > max) {
		free(buf);
		offserv_set_error(err, errlen, "%s: file is over the limit of %zu bytes", path, max);
		return OFFSERV_E_INVALID_DATA;
	}
	buf[used] = '\0';
	*data = buf;
	if (len)
		*len = used;
	return OFFSERV_OK;
}

static int write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* malloc'd directory part of @p path ("." when it has none). */
static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		return strdup(".");
	if (slash == path)
		return strdup("/");
	return strndup(path, (size_t)(slash - path));
}

/* Create "<path>.tmp.XXXXXX" beside @p path; the name is malloc'd into *tmp. */
static int open_tmp_beside(const char *path, char **tmp)
{
	size_t n = strlen(path) + sizeof(".tmp.XXXXXX");
	int fd;

	*tmp = malloc(n);
	if (!*tmp) {
		errno = ENOMEM;
		return -1;
	}
	snprintf(*tmp, n, "%s.tmp.XXXXXX", path);
	fd = mkostemp(*tmp, O_CLOEXEC);
	if (fd < 0) {
		int e = errno;

		free(*tmp);
		*tmp = NULL;
		errno = e;
	}
	return fd;
}

offserv_status offserv_fsync_dir(const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return errno_fail(err, errlen, errno, "cannot open directory", path);
	if (fsync(fd) != 0 && errno != EINVAL && errno != EROFS) {
		offserv_status st = errno_fail(err, errlen, errno, "cannot fsync directory", path);
		close(fd);
		return st;
	}
	close(fd);
	return OFFSERV_OK;
}

/* fsync, close and rename a finished temporary file, then fsync its directory. */
static offserv_status commit_tmp(int fd, char *tmp, const char *path, char *err, size_t errlen)
{
	offserv_status st;
	char *dir;

	if (fsync(fd) != 0) {
		st = errno_fail(err, errlen, errno, "cannot fsync", tmp);
		close(fd);
		goto fail;
	}
	if (close(fd) != 0) {
		st = errno_fail(err, errlen, errno, "cannot close", tmp);
		goto fail;
	}
	if (rename(tmp, path) != 0) {
		st = errno_fail(err, errlen, errno, "cannot rename temporary file onto", path);
		goto fail;
	}
	free(tmp);
	dir = dir_of(path);
	if (!dir) {
		offserv_set_error(err, errlen, "%s: out of memory", path);
		return OFFSERV_E_OUTOFMEMORY;
	}
	st = offserv_fsync_dir(dir, err, errlen);
	free(dir);
	return st;
fail:
	unlink(tmp);
	free(tmp);
	return st;
}

offserv_status offserv_write_file_atomic(const char *path, const void *data, size_t len,
                                         mode_t mode, char *err, size_t errlen)
{
	char *tmp;
	int fd;

	if (!path || (!data && len > 0)) {
		offserv_set_error(err, errlen, "write_file_atomic: missing argument");
		return OFFSERV_E_INVALIDARG;
	}
	fd = open_tmp_beside(path, &tmp);
	if (fd < 0)
		return errno_fail(err, errlen, errno, "cannot create a temporary file for", path);
	if (write_all(fd, data, len) != 0 || fchmod(fd, mode & 07777) != 0) {
		offserv_status st = errno_fail(err, errlen, errno, "cannot write", tmp);

		close(fd);
		unlink(tmp);
		free(tmp);
		return st;
	}
	return commit_tmp(fd, tmp, path, err, errlen);
}

offserv_status offserv_copy_file(const char *src, const char *dst, char *sha256_hex,
                                 char *err, size_t errlen)
{
	struct offserv_sha256 ctx;
	struct stat sb;
	offserv_status st;
	char *tmp = NULL, *buf;
	int in, out;

	if (!src || !dst) {
		offserv_set_error(err, errlen, "copy_file: missing argument");
		return OFFSERV_E_INVALIDARG;
	}
	in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return errno_fail(err, errlen, errno, "cannot open", src);
	if (fstat(in, &sb) != 0) {
		st = errno_fail(err, errlen, errno, "cannot stat", src);
		close(in);
		return st;
	}
	if (!S_ISREG(sb.st_mode)) {
		close(in);
		offserv_set_error(err, errlen, "%s: not a regular file", src);
		return OFFSERV_E_ACCESS_DENIED;
	}
	buf = malloc(COPY_CHUNK);
	if (!buf) {
		close(in);
		offserv_set_error(err, errlen, "%s: out of memory", src);
		return OFFSERV_E_OUTOFMEMORY;
	}
	out = open_tmp_beside(dst, &tmp);
	if (out < 0) {
		st = errno_fail(err, errlen, errno, "cannot create a temporary file for", dst);
		free(buf);
		close(in);
		return st;
	}
	offserv_sha256_init(&ctx);
	for (;;) {
		ssize_t n = read(in, buf, COPY_CHUNK);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			st = errno_fail(err, errlen, errno, "cannot read", src);
			goto fail;
		}
		if (n == 0)
			break;
		offserv_sha256_update(&ctx, buf, (size_t)n);
		if (write_all(out, buf, (size_t)n) != 0) {
			st = errno_fail(err, errlen, errno, "cannot write", tmp);
			goto fail;
		}
	}
	if (fchmod(out, sb.st_mode & 07777) != 0) {
		st = errno_fail(err, errlen, errno, "cannot set the mode of", tmp);
		goto fail;
	}
	free(buf);
	close(in);
	if (sha256_hex) {
		uint8_t d[32];

		offserv_sha256_final(&ctx, d);
		offserv_hex(d, sizeof(d), sha256_hex);
	}
	return commit_tmp(out, tmp, dst, err, errlen);
fail:
	free(buf);
	close(in);
	close(out);
	unlink(tmp);
	free(tmp);
	return st;
}

offserv_status offserv_sha256_file(const char *path, uint8_t digest[32], uint64_t *size,
                                   char *err, size_t errlen)
{
	struct offserv_sha256 ctx;
	uint64_t total = 0;
	char *buf;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno_fail(err, errlen, errno, "cannot open", path);
	buf = malloc(COPY_CHUNK);
	if (!buf) {
		close(fd);
		offserv_set_error(err, errlen, "%s: out of memory", path);
		return OFFSERV_E_OUTOFMEMORY;
	}
	offserv_sha256_init(&ctx);
	for (;;) {
		ssize_t n = read(fd, buf, COPY_CHUNK);

		if (n < 0) {
			offserv_status st;

			if (errno == EINTR)
				continue;
			st = errno_fail(err, errlen, errno, "cannot read", path);
			free(buf);
			close(fd);
			return st;
		}
		if (n == 0)
			break;
		offserv_sha256_update(&ctx, buf, (size_t)n);
		total += (uint64_t)n;
	}
	free(buf);
	close(fd);
	offserv_sha256_final(&ctx, digest);
	if (size)
		*size = total;
	return OFFSERV_OK;
}

int offserv_file_starts_with(const char *path, const void *magic, size_t len)
{
	unsigned char buf[64];
	struct stat st;
	int fd, ok = 0;

	if (len > sizeof(buf))
		return 0;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return 0;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && read(fd, buf, len) == (ssize_t)len &&
	    memcmp(buf, magic, len) == 0)
		ok = 1;
	close(fd);
	return ok;
}
