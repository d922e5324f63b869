/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Helpers shared by the libFuzzer targets: a private scratch folder per
 * process, files written from fuzz input, trees removed and checked.
 *
 * A target that finds a broken property calls fuzz_fail(), which aborts:
 * libFuzzer then saves the input that caused it.
 */
#ifndef OFFSERV_FUZZ_COMMON_H
#define OFFSERV_FUZZ_COMMON_H


#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static inline void fuzz_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static inline void fuzz_fail(const char *fmt, ...)
{
	va_list ap;

	fputs("offserv fuzz property violated: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

static inline int fuzz_rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP || flag == FTW_D)
		return rmdir(path) == 0 || errno == ENOENT ? 0 : -1;
	return unlink(path) == 0 || errno == ENOENT ? 0 : -1;
}

/* Remove a tree without following symbolic links. */
static inline void fuzz_rmtree(const char *path)
{
	struct stat st;

	if (lstat(path, &st) != 0)
		return;
	if (S_ISDIR(st.st_mode)) {
		/* Folders left without permissions would stop the walk. */
		chmod(path, 0700);
		nftw(path, fuzz_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	} else {
		unlink(path);
	}
}

static inline void fuzz_cleanup_root(void);

/*
 * The per-process scratch root ($TMPDIR/offserv-fuzz-XXXXXX), created on
 * first use and removed at exit.  Every run works in folders below it and
 * leaves it empty again.
 */
static inline const char *fuzz_root(void)
{
	static char *root;

	if (!root) {
		const char *base = getenv("TMPDIR");
		char *tmpl;

		if (!base || base[0] != '/')
			base = "/tmp";
		if (asprintf(&tmpl, "%s/offserv-fuzz-XXXXXX", base) < 0 || !mkdtemp(tmpl)) {
			perror("offserv fuzz: cannot create a scratch folder");
			exit(2);
		}
		root = tmpl;
		atexit(fuzz_cleanup_root);
	}
	return root;
}

static inline void fuzz_cleanup_root(void)
{
	fuzz_rmtree(fuzz_root());
}

/* malloc'd "ROOT/name"; exits on allocation failure. */
static inline char *fuzz_path(const char *dir, const char *name)
{
	char *p;

	if (asprintf(&p, "%s/%s", dir, name) < 0) {
		perror("offserv fuzz");
		exit(2);
	}
	return p;
}

/* A fresh folder "ROOT/name" (removed first if a previous run left it). */
static inline char *fuzz_mkdir(const char *dir, const char *name)
{
	char *p = fuzz_path(dir, name);

	fuzz_rmtree(p);
	if (mkdir(p, 0700) != 0) {
		perror(p);
		exit(2);
	}
	return p;
}

/* Write @p size bytes into a new file @p path. */
static inline void fuzz_write(const char *path, const void *data, size_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	const uint8_t *p = data;

	if (fd < 0) {
		perror(path);
		exit(2);
	}
	while (size > 0) {
		ssize_t n = write(fd, p, size);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror(path);
			exit(2);
		}
		p += n;
		size -= (size_t)n;
	}
	close(fd);
}

/* Names in @p dir (not "." or ".."): how many; the first two copied out. */
static inline size_t fuzz_list(const char *dir, char first[2][256])
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0;

	if (!d)
		fuzz_fail("cannot list %s: %s", dir, strerror(errno));
	while ((e = readdir(d)) != NULL) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (n < 2)
			snprintf(first[n], 256, "%s", e->d_name);
		n++;
	}
	closedir(d);
	return n;
}

/* Fail unless @p dir holds exactly the entries named (NULL-terminated, at most two). */
static inline void fuzz_expect_entries(const char *dir, const char *a, const char *b)
{
	char names[2][256];
	size_t want = (a ? 1 : 0) + (b ? 1 : 0);
	size_t n = fuzz_list(dir, names);

	if (n != want)
		fuzz_fail("%s holds %zu entries, expected %zu (first: \"%s\")", dir, n, want,
		          n ? names[0] : "");
	for (size_t i = 0; i < n; i++)
		if ((!a || strcmp(names[i], a)) && (!b || strcmp(names[i], b)))
			fuzz_fail("%s holds an unexpected entry \"%s\"", dir, names[i]);
}

static inline int fuzz_plain_cb(const char *path, const struct stat *st, int flag,
                                struct FTW *ftw)
{
	(void)ftw;
	if (flag == FTW_SL || flag == FTW_SLN || S_ISLNK(st->st_mode))
		fuzz_fail("extraction created a symbolic link %s", path);
	if (!S_ISREG(st->st_mode) && !S_ISDIR(st->st_mode))
		fuzz_fail("extraction created %s, neither a file nor a folder", path);
	return 0;
}

/* Fail if anything under @p dir is not a plain file or folder. */
static inline void fuzz_expect_plain_tree(const char *dir)
{
	nftw(dir, fuzz_plain_cb, 16, FTW_PHYS);
}


/* Reserved DOS device names: the part before the first dot, trailing spaces ignored. */
static inline int fuzz_is_device_name(const char *comp, size_t len)
{
	static const char *const names[] = {"CON", "PRN", "AUX", "NUL"};
	size_t base = 0;

	while (base < len && comp[base] != '.')
		base++;
	while (base > 0 && comp[base - 1] == ' ')
		base--;
	if (base == 3) {
		for (size_t i = 0; i < 4; i++)
			if (!strncasecmp(comp, names[i], 3))
				return 1;
	}
	if (base == 4 && (!strncasecmp(comp, "COM", 3) || !strncasecmp(comp, "LPT", 3)) &&
	    comp[3] >= '1' && comp[3] <= '9')
		return 1;
	return 0;
}

/*
 * The properties of a safe image- or folder-relative path: not absolute,
 * '/' separators only, no empty, "." or ".." component (nor one made only
 * of dots and spaces, which Windows reads as such), no control character,
 * ':' or backslash, no reserved device name, within the length limits.
 * "" is accepted only when @p allow_empty.
 */
static inline void fuzz_check_relpath(const char *what, const char *p, int allow_empty)
{
	const char *c;

	if (!p)
		fuzz_fail("%s: NULL result", what);
	if (!*p) {
		if (!allow_empty)
			fuzz_fail("%s: empty result", what);
		return;
	}
	if (p[0] == '/')
		fuzz_fail("%s: \"%s\" starts with '/'", what, p);
	if (strlen(p) > 1024)
		fuzz_fail("%s: result of %zu bytes", what, strlen(p));
	for (c = p; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f || *c == '\\' || *c == ':')
			fuzz_fail("%s: \"%s\" holds byte 0x%02x", what, p, (unsigned char)*c);
	for (c = p; c;) {
		const char *end = strchr(c, '/');
		size_t len = end ? (size_t)(end - c) : strlen(c);

		if (len == 0 || strspn(c, ". ") >= len)
			fuzz_fail("%s: \"%s\" has an empty or dot component", what, p);
		if (len > 255)
			fuzz_fail("%s: \"%s\" has a component of %zu bytes", what, p, len);
		if (fuzz_is_device_name(c, len))
			fuzz_fail("%s: \"%s\" has a reserved device name", what, p);
		c = end ? end + 1 : NULL;
	}
	if (strstr(p, "/../") || !strncmp(p, "../", 3))
		fuzz_fail("%s: \"%s\" climbs", what, p);
}

static inline uint16_t fuzz_le16(const uint8_t *b)
{
	return (uint16_t)(b[0] | b[1] << 8);
}

static inline uint32_t fuzz_le32(const uint8_t *b)
{
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

/* Length of a valid SID at @p off within @p len bytes, 0 if invalid. */
static inline size_t fuzz_sid_len(const uint8_t *b, size_t len, size_t off)
{
	size_t n;

	if (off > len || len - off < 8 || b[off] != 1 || b[off + 1] > 15)
		return 0;
	n = 8 + 4u * b[off + 1];
	return len - off < n ? 0 : n;
}

/* Validate an ACL at @p off; returns its size or 0. */
static inline size_t fuzz_acl_len(const uint8_t *b, size_t len, size_t off, int is_sacl)
{
	size_t size, count, pos;

	if (off > len || len - off < 8)
		return 0;
	size = fuzz_le16(b + off + 2);
	count = fuzz_le16(b + off + 4);
	if ((b[off] != 2 && b[off] != 4) || size < 8 || size % 4 || size > len - off)
		return 0;
	pos = 8;
	for (size_t i = 0; i < count; i++) {
		uint8_t type;
		size_t asz, sid;

		if (size - pos < 8)
			return 0;
		type = b[off + pos];
		asz = fuzz_le16(b + off + pos + 2);
		if (asz < 16 || asz % 4 || asz > size - pos)
			return 0;
		/* Allowed/denied in a DACL, audit in a SACL: mask then SID. */
		if (is_sacl ? type != 2 : type > 1)
			return 0;
		sid = fuzz_sid_len(b + off + pos, asz, 8);
		if (!sid || 8 + sid != asz)
			return 0;
		pos += asz;
	}
	return pos == size ? size : 0;
}

/*
 * A structural validator of a self-relative security descriptor: header,
 * offsets inside the buffer and beyond the header, parts that do not
 * overlap and fill the buffer exactly, valid SIDs, ACL revision and sizes,
 * ACE sizes and SIDs, present flags consistent with the parts.  Returns
 * NULL when valid, else what is wrong.
 */
static inline const char *fuzz_sd_problem(const uint8_t *b, size_t len)
{
	uint16_t control;
	uint32_t off[4];
	size_t part[4], used = 20;

	if (len < 20)
		return "shorter than the header";
	if (b[0] != 1)
		return "revision is not 1";
	control = fuzz_le16(b + 2);
	if (!(control & 0x8000))
		return "SE_SELF_RELATIVE not set";
	for (int i = 0; i < 4; i++)
		off[i] = fuzz_le32(b + 4 + 4 * i); /* owner, group, sacl, dacl */
	if (off[2] && !(control & 0x0010))
		return "a SACL without SE_SACL_PRESENT";
	if (off[3] && !(control & 0x0004))
		return "a DACL without SE_DACL_PRESENT";
	part[0] = off[0] ? fuzz_sid_len(b, len, off[0]) : 0;
	part[1] = off[1] ? fuzz_sid_len(b, len, off[1]) : 0;
	part[2] = off[2] ? fuzz_acl_len(b, len, off[2], 1) : 0;
	part[3] = off[3] ? fuzz_acl_len(b, len, off[3], 0) : 0;
	for (int i = 0; i < 4; i++) {
		if (!off[i])
			continue;
		if (off[i] < 20)
			return "a part overlaps the header";
		if (!part[i])
			return i < 2 ? "an invalid owner or group SID" : "an invalid ACL";
		for (int j = 0; j < i; j++)
			if (off[j] && off[i] < off[j] + part[j] && off[j] < off[i] + part[i])
				return "two parts overlap";
		used += part[i];
	}
	if (used != len)
		return "the parts do not fill the descriptor";
	return NULL;
}

#endif
