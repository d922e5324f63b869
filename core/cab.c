/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Cabinet reading over libmspack, with bounded, confined extraction. */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <mspack.h>

#include <offserv/cab.h>
#include <offserv/util.h>

/*
 * Our mspack_system.  libmspack reads the cabinet parts by file name (the
 * names we keep in `struct offserv_cab`), and writes a member's output
 * through "open for writing": that always returns the sink configured for
 * the extraction in progress, whatever name libmspack passes.  The sink
 * enforces the size limit.
 */
struct cab_sys {
	struct mspack_system sys; /* first: libmspack passes &sys back */
	/* current output sink */
	int out_fd;            /* file sink, or -1 */
	unsigned char *mem;    /* memory sink (capacity out_limit) */
	uint64_t out_limit;    /* bytes the member may produce */
	uint64_t out_written;
	size_t head_want;      /* non-zero: stop once this many bytes arrived */
	int head_done;
	int overflow;
	int out_errno;
	int open_errno; /* errno of the last failed open for reading */
};

struct cab_file {
	struct cab_sys *owner;
	int fd;
	int is_output;
};

struct cab_entry {
	struct offserv_cab_member pub;
	struct mscabd_file *file;
	char *name;
	char *refusal;
};

struct offserv_cab {
	struct cab_sys csys;
	struct mscab_decompressor *d;
	struct mscabd_cabinet *head; /* first cabinet of the set */
	char *path;
	char **part_paths; /* kept alive: libmspack keeps these pointers */
	size_t n_parts;
	struct cab_entry *entries;
	size_t n_entries;
	uint64_t total;
	uint64_t max_total;
};

/* ---- mspack_system ----------------------------------------------------- */

static struct mspack_file *sys_open(struct mspack_system *self, const char *filename, int mode)
{
	struct cab_sys *cs = (struct cab_sys *)self;
	struct cab_file *f;
	struct stat st;

	f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->owner = cs;
	f->fd = -1;
	if (mode == MSPACK_SYS_OPEN_WRITE) {
		f->is_output = 1;
		return (struct mspack_file *)f;
	}
	if (mode != MSPACK_SYS_OPEN_READ) {
		cs->open_errno = EINVAL;
		free(f);
		return NULL;
	}
	/* O_NONBLOCK: a FIFO must not hang the open; only regular files pass. */
	f->fd = open(filename, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (f->fd < 0) {
		cs->open_errno = errno;
		free(f);
		return NULL;
	}
	if (fstat(f->fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		cs->open_errno = EINVAL;
		close(f->fd);
		free(f);
		return NULL;
	}
	return (struct mspack_file *)f;
}

static void sys_close(struct mspack_file *file)
{
	struct cab_file *f = (struct cab_file *)file;

	if (!f)
		return;
	if (f->fd >= 0)
		close(f->fd);
	free(f);
}

static int sys_read(struct mspack_file *file, void *buffer, int bytes)
{
	struct cab_file *f = (struct cab_file *)file;
	size_t done = 0;

	if (!f || f->is_output || bytes < 0)
		return -1;
	while (done < (size_t)bytes) {
		ssize_t n = read(f->fd, (char *)buffer + done, (size_t)bytes - done);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (int)done;
}

static int sys_write(struct mspack_file *file, void *buffer, int bytes)
{
	struct cab_file *f = (struct cab_file *)file;
	struct cab_sys *cs;
	size_t n;

	if (!f || !f->is_output || bytes < 0)
		return -1;
	cs = f->owner;
	n = (size_t)bytes;
	if (cs->head_want) {
		size_t room = cs->head_want - (size_t)cs->out_written;
		size_t take = n < room ? n : room;
		memcpy(cs->mem + cs->out_written, buffer, take);
		cs->out_written += take;
		if (cs->out_written >= cs->head_want) {
			/* Enough: abort the decompression early. */
			cs->head_done = 1;
			return -1;
		}
		return bytes;
	}
	if (cs->out_written + n > cs->out_limit) {
		cs->overflow = 1;
		return -1;
	}
	if (cs->mem) {
		memcpy(cs->mem + cs->out_written, buffer, n);
	} else {
		size_t done = 0;
		while (done < n) {
			ssize_t w = write(cs->out_fd, (const char *)buffer + done, n - done);
			if (w < 0) {
				if (errno == EINTR)
					continue;
				cs->out_errno = errno;
				return -1;
			}
			done += (size_t)w;
		}
	}
	cs->out_written += n;
	return bytes;
}

static int sys_seek(struct mspack_file *file, off_t offset, int mode)
{
	struct cab_file *f = (struct cab_file *)file;
	int whence;

	if (!f || f->is_output)
		return -1;
	switch (mode) {
	case MSPACK_SYS_SEEK_START:
		whence = SEEK_SET;
		break;
	case MSPACK_SYS_SEEK_CUR:
		whence = SEEK_CUR;
		break;
	case MSPACK_SYS_SEEK_END:
		whence = SEEK_END;
		break;
	default:
		return -1;
	}
	return lseek(f->fd, offset, whence) == (off_t)-1 ? -1 : 0;
}

static off_t sys_tell(struct mspack_file *file)
{
	struct cab_file *f = (struct cab_file *)file;

	if (!f || f->is_output)
		return (off_t)-1;
	return lseek(f->fd, 0, SEEK_CUR);
}

/* libmspack's warnings (extra bytes at the end, ...) are not errors. */
static void sys_message(struct mspack_file *file, const char *format, ...)
{
	(void)file;
	(void)format;
}

static void *sys_alloc(struct mspack_system *self, size_t bytes)
{
	(void)self;
	return malloc(bytes);
}

static void sys_free(void *ptr)
{
	free(ptr);
}

static void sys_copy(void *src, void *dest, size_t bytes)
{
	memmove(dest, src, bytes);
}

/* ---- helpers ------------------------------------------------------------ */

/* Printable form of a stored name for messages: non-printable bytes as \xNN. */
static void escape_name(const char *raw, char *out, size_t outlen)
{
	size_t o = 0;

	if (!outlen)
		return;
	for (const unsigned char *p = (const unsigned char *)raw; *p && o + 5 < outlen; p++) {
		if (*p < 0x20 || *p == 0x7f || *p >= 0x80) {
			snprintf(out + o, outlen - o, "\\x%02x", *p);
			o += 4;
		} else {
			out[o++] = (char)*p;
		}
	}
	out[o] = '\0';
}

/* A member's name for messages. */
static const char *member_label(const struct offserv_cab_member *m, char *buf, size_t buflen)
{
	if (m->name)
		return m->name;
	escape_name(m->raw_name, buf, buflen);
	return buf;
}

/*
 * A name stored without the UTF-8 flag is in the writer's ANSI code page;
 * read it as Windows-1252 (ISO-8859-1 plus printable characters in
 * 0x80-0x9f).  The five bytes 1252 leaves undefined stay C1 controls, which
 * the sanitizer refuses.
 */
static const uint16_t cp1252_high[32] = {
	0x20ac, 0x0081, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021,
	0x02c6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008d, 0x017d, 0x008f,
	0x0090, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014,
	0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0x009d, 0x017e, 0x0178,
};

static char *ansi_to_utf8(const char *s)
{
	size_t n = strlen(s);
	char *out = malloc(n * 3 + 1), *o = out;

	if (!out)
		return NULL;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		uint32_t cp = *p;
		if (cp >= 0x80 && cp < 0xa0)
			cp = cp1252_high[cp - 0x80];
		if (cp < 0x80) {
			*o++ = (char)cp;
		} else if (cp < 0x800) {
			*o++ = (char)(0xc0 | (cp >> 6));
			*o++ = (char)(0x80 | (cp & 0x3f));
		} else {
			*o++ = (char)(0xe0 | (cp >> 12));
			*o++ = (char)(0x80 | ((cp >> 6) & 0x3f));
			*o++ = (char)(0x80 | (cp & 0x3f));
		}
	}
	*o = '\0';
	return out;
}

static offserv_status open_error(struct offserv_cab *cab, const char *file, int mserr, char *err,
                                 size_t errlen)
{
	switch (mserr) {
	case MSPACK_ERR_SIGNATURE:
		offserv_set_error(err, errlen, "%s: not a cabinet (no MSCF signature)", file);
		return OFFSERV_CBS_E_INVALID_PACKAGE;
	case MSPACK_ERR_OPEN:
		if (cab->csys.open_errno == EINVAL) {
			offserv_set_error(err, errlen, "%s: not a regular file", file);
			return OFFSERV_E_INVALIDARG;
		}
		offserv_set_error(err, errlen, "%s: cannot open: %s", file,
		                  strerror(cab->csys.open_errno));
		return offserv_status_from_errno(cab->csys.open_errno);
	case MSPACK_ERR_READ:
	case MSPACK_ERR_SEEK:
		offserv_set_error(err, errlen, "%s: cabinet is truncated or unreadable", file);
		return OFFSERV_E_FILE_CORRUPT;
	case MSPACK_ERR_NOMEMORY:
		offserv_set_error(err, errlen, "%s: out of memory reading the cabinet", file);
		return OFFSERV_E_OUTOFMEMORY;
	case MSPACK_ERR_DATAFORMAT:
	default:
		offserv_set_error(err, errlen, "%s: malformed cabinet header (libmspack error %d)",
		                  file, mserr);
		return OFFSERV_E_FILE_CORRUPT;
	}
}

/* Find @p name beside @p path: exact name first, then ignoring case. */
static offserv_status find_part(const char *path, const char *name, char **out, char *err,
                                size_t errlen)
{
	const char *slash = strrchr(path, '/');
	char *dir, *cand;
	DIR *dh;
	struct dirent *e;
	struct stat st;

	*out = NULL;
	if (!*name || strchr(name, '/') || strchr(name, '\\') || !strcmp(name, ".") ||
	    !strcmp(name, "..")) {
		offserv_set_error(err, errlen, "%s: names another part of its set as \"%s\", "
		                  "which is not a plain file name", path, name);
		return OFFSERV_E_FILE_CORRUPT;
	}
	dir = slash ? strndup(path, (size_t)(slash - path) + (slash == path ? 1 : 0))
	            : strdup(".");
	if (!dir)
		return OFFSERV_E_OUTOFMEMORY;
	cand = offserv_path_join(dir, name);
	if (!cand) {
		free(dir);
		return OFFSERV_E_OUTOFMEMORY;
	}
	if (stat(cand, &st) == 0 && S_ISREG(st.st_mode)) {
		free(dir);
		*out = cand;
		return OFFSERV_OK;
	}
	free(cand);
	dh = opendir(dir);
	if (dh) {
		while ((e = readdir(dh)) != NULL) {
			if (strcasecmp(e->d_name, name) != 0)
				continue;
			cand = offserv_path_join(dir, e->d_name);
			if (!cand) {
				closedir(dh);
				free(dir);
				return OFFSERV_E_OUTOFMEMORY;
			}
			if (stat(cand, &st) == 0 && S_ISREG(st.st_mode)) {
				*out = cand;
				break;
			}
			free(cand);
		}
		closedir(dh);
	}
	if (!*out) {
		offserv_set_error(err, errlen, "%s: the cabinet set continues in \"%s\", "
		                  "which is missing from %s", path, name, dir);
		free(dir);
		return OFFSERV_E_FILE_NOT_FOUND;
	}
	free(dir);
	return OFFSERV_OK;
}

static int name_cmp_ci(const void *a, const void *b)
{
	const struct cab_entry *const *x = a, *const *y = b;

	return strcasecmp((*x)->name, (*y)->name);
}

static offserv_status build_entries(struct offserv_cab *cab)
{
	size_t n = 0, i = 0, k = 0;
	struct cab_entry **sorted;

	for (struct mscabd_file *f = cab->head->files; f; f = f->next)
		n++;
	cab->entries = calloc(n ? n : 1, sizeof(*cab->entries));
	if (!cab->entries)
		return OFFSERV_E_OUTOFMEMORY;
	cab->n_entries = n;
	for (struct mscabd_file *f = cab->head->files; f; f = f->next, i++) {
		struct cab_entry *e = &cab->entries[i];
		char msg[512];
		char *conv = NULL;
		const char *src = f->filename;
		offserv_status st;

		e->file = f;
		e->pub.index = i;
		e->pub.raw_name = f->filename;
		e->pub.size = f->length;
		e->pub.attributes = (uint32_t)f->attribs;
		cab->total += f->length;
		if (!(f->attribs & MSCAB_ATTRIB_UTF_NAME)) {
			conv = ansi_to_utf8(f->filename);
			if (!conv)
				return OFFSERV_E_OUTOFMEMORY;
			src = conv;
		}
		msg[0] = '\0';
		st = offserv_path_sanitize(src, &e->name, msg, sizeof(msg));
		free(conv);
		if (st != OFFSERV_OK) {
			char label[256];
			e->name = NULL;
			escape_name(f->filename, label, sizeof(label));
			if (asprintf(&e->refusal, "member \"%s\" has an unsafe name: %s", label,
			             msg[0] ? msg : offserv_strerror(st)) < 0) {
				e->refusal = NULL;
				return OFFSERV_E_OUTOFMEMORY;
			}
		}
		e->pub.name = e->name;
		e->pub.refusal = e->refusal;
	}
	/* Names equal but for case would collide on Windows and in the engine. */
	sorted = calloc(n ? n : 1, sizeof(*sorted));
	if (!sorted)
		return OFFSERV_E_OUTOFMEMORY;
	for (i = 0; i < n; i++)
		if (cab->entries[i].name)
			sorted[k++] = &cab->entries[i];
	qsort(sorted, k, sizeof(*sorted), name_cmp_ci);
	for (i = 1; i < k; i++) {
		struct cab_entry *a = sorted[i - 1], *b = sorted[i];
		if (strcasecmp(a->name, b->name) != 0)
			continue;
		if (a->pub.index > b->pub.index) {
			struct cab_entry *t = a;
			a = b;
			b = t;
		}
		if (b->refusal)
			continue;
		if (asprintf(&b->refusal, "member \"%s\" (number %zu) has the same name as "
		             "member number %zu", b->name, b->pub.index + 1, a->pub.index + 1) < 0) {
			b->refusal = NULL;
			free(sorted);
			return OFFSERV_E_OUTOFMEMORY;
		}
		b->pub.refusal = b->refusal;
	}
	free(sorted);
	return OFFSERV_OK;
}

static int part_seen(const struct stat *seen, size_t n, const struct stat *st)
{
	for (size_t i = 0; i < n; i++)
		if (seen[i].st_dev == st->st_dev && seen[i].st_ino == st->st_ino)
			return 1;
	return 0;
}

static offserv_status add_part_path(struct offserv_cab *cab, char *p)
{
	char **np = realloc(cab->part_paths, (cab->n_parts + 1) * sizeof(*np));

	if (!np)
		return OFFSERV_E_OUTOFMEMORY;
	cab->part_paths = np;
	cab->part_paths[cab->n_parts++] = p;
	return OFFSERV_OK;
}

/* Open the neighbours of the set in one direction (next when @p forward). */
static offserv_status link_parts(struct offserv_cab *cab, struct mscabd_cabinet *start,
                                 const char *start_path, int forward, struct stat **seen,
                                 size_t *n_seen, char *err, size_t errlen)
{
	struct mscabd_cabinet *cur = start;
	const char *cur_path = start_path;
	unsigned flag = forward ? MSCAB_HDR_NEXTCAB : MSCAB_HDR_PREVCAB;

	while (cur->flags & flag) {
		const char *name = forward ? cur->nextname : cur->prevname;
		struct mscabd_cabinet *other;
		char *p = NULL;
		struct stat st;
		offserv_status s;
		int rc;

		if (cab->n_parts >= OFFSERV_CAB_MAX_PARTS) {
			offserv_set_error(err, errlen, "%s: cabinet set has more than %u parts",
			                  cab->path, OFFSERV_CAB_MAX_PARTS);
			return OFFSERV_E_FILE_CORRUPT;
		}
		s = find_part(cur_path, name ? name : "", &p, err, errlen);
		if (s != OFFSERV_OK)
			return s;
		if (stat(p, &st) != 0 || part_seen(*seen, *n_seen, &st)) {
			offserv_set_error(err, errlen, "%s: cabinet set loops back to %s", cab->path, p);
			free(p);
			return OFFSERV_E_FILE_CORRUPT;
		}
		{
			struct stat *ns = realloc(*seen, (*n_seen + 1) * sizeof(*ns));
			if (!ns) {
				free(p);
				return OFFSERV_E_OUTOFMEMORY;
			}
			*seen = ns;
			(*seen)[(*n_seen)++] = st;
		}
		s = add_part_path(cab, p);
		if (s != OFFSERV_OK) {
			free(p);
			return s;
		}
		other = cab->d->open(cab->d, p);
		if (!other)
			return open_error(cab, p, cab->d->last_error(cab->d), err, errlen);
		rc = forward ? cab->d->append(cab->d, cur, other) : cab->d->prepend(cab->d, cur, other);
		if (rc != MSPACK_ERR_OK) {
			cab->d->close(cab->d, other);
			offserv_set_error(err, errlen, "%s: %s does not fit as the %s part of this "
			                  "cabinet set (libmspack error %d)", cab->path, p,
			                  forward ? "next" : "previous", rc);
			return rc == MSPACK_ERR_NOMEMORY ? OFFSERV_E_OUTOFMEMORY : OFFSERV_E_FILE_CORRUPT;
		}
		if (!forward)
			cab->head = other;
		cur = other;
		cur_path = p;
	}
	return OFFSERV_OK;
}

offserv_status offserv_cab_open(const char *path, struct offserv_cab **out, char *err,
                                size_t errlen)
{
	struct offserv_cab *cab;
	struct mscabd_cabinet *first;
	struct stat st, *seen = NULL;
	size_t n_seen = 0;
	offserv_status s;
	int selftest;

	if (!out || !path) {
		offserv_set_error(err, errlen, "cabinet: no path given");
		return OFFSERV_E_INVALIDARG;
	}
	*out = NULL;
	MSPACK_SYS_SELFTEST(selftest);
	if (selftest != MSPACK_ERR_OK) {
		offserv_set_error(err, errlen, "%s: libmspack was built with another file offset size",
		                  path);
		return OFFSERV_E_UNEXPECTED;
	}
	if (stat(path, &st) != 0) {
		int e = errno;
		offserv_set_error(err, errlen, "%s: cannot open: %s", path, strerror(e));
		return offserv_status_from_errno(e);
	}
	if (!S_ISREG(st.st_mode)) {
		offserv_set_error(err, errlen, "%s: not a regular file", path);
		return OFFSERV_E_INVALIDARG;
	}
	cab = calloc(1, sizeof(*cab));
	if (!cab)
		return OFFSERV_E_OUTOFMEMORY;
	cab->max_total = OFFSERV_CAB_DEFAULT_MAX_TOTAL;
	cab->csys.sys.open = sys_open;
	cab->csys.sys.close = sys_close;
	cab->csys.sys.read = sys_read;
	cab->csys.sys.write = sys_write;
	cab->csys.sys.seek = sys_seek;
	cab->csys.sys.tell = sys_tell;
	cab->csys.sys.message = sys_message;
	cab->csys.sys.alloc = sys_alloc;
	cab->csys.sys.free = sys_free;
	cab->csys.sys.copy = sys_copy;
	cab->csys.sys.null_ptr = NULL;
	cab->csys.out_fd = -1;
	cab->path = strdup(path);
	s = OFFSERV_E_OUTOFMEMORY;
	if (!cab->path)
		goto fail;
	{
		char *p = strdup(path);
		if (!p || add_part_path(cab, p) != OFFSERV_OK) {
			free(p);
			goto fail;
		}
	}
	cab->d = mspack_create_cab_decompressor(&cab->csys.sys);
	if (!cab->d)
		goto fail;
	/* Strict reading: no salvage of damaged data. */
	cab->d->set_param(cab->d, MSCABD_PARAM_SALVAGE, 0);
	cab->d->set_param(cab->d, MSCABD_PARAM_FIXMSZIP, 0);
	first = cab->d->open(cab->d, cab->part_paths[0]);
	if (!first) {
		s = open_error(cab, path, cab->d->last_error(cab->d), err, errlen);
		goto fail;
	}
	cab->head = first;
	seen = malloc(sizeof(*seen));
	if (!seen)
		goto fail;
	seen[n_seen++] = st;
	s = link_parts(cab, first, cab->part_paths[0], 1, &seen, &n_seen, err, errlen);
	if (s == OFFSERV_OK)
		s = link_parts(cab, first, cab->part_paths[0], 0, &seen, &n_seen, err, errlen);
	if (s != OFFSERV_OK)
		goto fail;
	free(seen);
	seen = NULL;
	s = build_entries(cab);
	if (s != OFFSERV_OK)
		goto fail;
	*out = cab;
	return OFFSERV_OK;
fail:
	free(seen);
	if (s == OFFSERV_E_OUTOFMEMORY && err && errlen && !err[0])
		offserv_set_error(err, errlen, "%s: out of memory", path);
	offserv_cab_close(cab);
	return s;
}

void offserv_cab_close(struct offserv_cab *cab)
{
	if (!cab)
		return;
	for (size_t i = 0; i < cab->n_entries; i++) {
		free(cab->entries[i].name);
		free(cab->entries[i].refusal);
	}
	free(cab->entries);
	if (cab->d) {
		if (cab->head)
			cab->d->close(cab->d, cab->head);
		mspack_destroy_cab_decompressor(cab->d);
	}
	for (size_t i = 0; i < cab->n_parts; i++)
		free(cab->part_paths[i]);
	free(cab->part_paths);
	free(cab->path);
	free(cab);
}

const char *offserv_cab_path(const struct offserv_cab *cab)
{
	return cab->path;
}

size_t offserv_cab_parts(const struct offserv_cab *cab)
{
	return cab->n_parts;
}

size_t offserv_cab_count(const struct offserv_cab *cab)
{
	return cab ? cab->n_entries : 0;
}

const struct offserv_cab_member *offserv_cab_member_at(const struct offserv_cab *cab, size_t i)
{
	if (!cab || i >= cab->n_entries)
		return NULL;
	return &cab->entries[i].pub;
}

const struct offserv_cab_member *offserv_cab_next(const struct offserv_cab *cab,
                                                  const struct offserv_cab_member *prev)
{
	return offserv_cab_member_at(cab, prev ? prev->index + 1 : 0);
}

/* Equal ignoring ASCII case, with '\\' and '/' the same. */
static int name_eq(const char *a, const char *b)
{
	for (;; a++, b++) {
		int ca = (unsigned char)*a, cb = (unsigned char)*b;
		if (ca == '\\')
			ca = '/';
		if (cb == '\\')
			cb = '/';
		if (ca >= 'A' && ca <= 'Z')
			ca += 'a' - 'A';
		if (cb >= 'A' && cb <= 'Z')
			cb += 'a' - 'A';
		if (ca != cb)
			return 0;
		if (!ca)
			return 1;
	}
}

const struct offserv_cab_member *offserv_cab_find(const struct offserv_cab *cab, const char *name)
{
	if (!cab || !name)
		return NULL;
	for (size_t i = 0; i < cab->n_entries; i++) {
		const struct offserv_cab_member *m = &cab->entries[i].pub;
		if ((m->name && name_eq(m->name, name)) || name_eq(m->raw_name, name))
			return m;
	}
	return NULL;
}

uint64_t offserv_cab_total_size(const struct offserv_cab *cab)
{
	return cab->total;
}

void offserv_cab_set_max_total(struct offserv_cab *cab, uint64_t bytes)
{
	cab->max_total = bytes ? bytes : OFFSERV_CAB_DEFAULT_MAX_TOTAL;
}

offserv_status offserv_cab_check_names(const struct offserv_cab *cab, char *err, size_t errlen)
{
	for (size_t i = 0; i < cab->n_entries; i++) {
		if (cab->entries[i].refusal) {
			offserv_set_error(err, errlen, "%s: refused for extraction: %s", cab->path,
			                  cab->entries[i].refusal);
			return OFFSERV_E_INVALID_NAME;
		}
	}
	return OFFSERV_OK;
}

static struct cab_entry *entry_of(struct offserv_cab *cab, const struct offserv_cab_member *m)
{
	if (!cab || !m || m->index >= cab->n_entries || &cab->entries[m->index].pub != m)
		return NULL;
	return &cab->entries[m->index];
}

static void sink_reset(struct offserv_cab *cab)
{
	cab->csys.out_fd = -1;
	cab->csys.mem = NULL;
	cab->csys.out_limit = 0;
	cab->csys.out_written = 0;
	cab->csys.head_want = 0;
	cab->csys.head_done = 0;
	cab->csys.overflow = 0;
	cab->csys.out_errno = 0;
}

/* Run libmspack on one member into the configured sink; map its errors. */
static offserv_status run_extract(struct offserv_cab *cab, struct cab_entry *e, char *err,
                                  size_t errlen)
{
	char label[300];
	const char *lbl = member_label(&e->pub, label, sizeof(label));
	int rc;

	rc = cab->d->extract(cab->d, e->file, cab->path);
	if (rc == MSPACK_ERR_WRITE && cab->csys.head_done)
		return OFFSERV_OK;
	switch (rc) {
	case MSPACK_ERR_OK:
		if (!cab->csys.head_want && cab->csys.out_written != e->pub.size) {
			offserv_set_error(err, errlen, "%s: member %s gave %llu bytes, declared %llu",
			                  cab->path, lbl, (unsigned long long)cab->csys.out_written,
			                  (unsigned long long)e->pub.size);
			return OFFSERV_E_FILE_CORRUPT;
		}
		return OFFSERV_OK;
	case MSPACK_ERR_WRITE:
		if (cab->csys.overflow) {
			offserv_set_error(err, errlen, "%s: member %s decompresses to more than its "
			                  "declared %llu bytes", cab->path, lbl,
			                  (unsigned long long)e->pub.size);
			return OFFSERV_E_INVALID_DATA;
		}
		offserv_set_error(err, errlen, "%s: cannot write member %s: %s", cab->path, lbl,
		                  strerror(cab->csys.out_errno ? cab->csys.out_errno : EIO));
		return offserv_status_from_errno(cab->csys.out_errno ? cab->csys.out_errno : EIO);
	case MSPACK_ERR_CHECKSUM:
		offserv_set_error(err, errlen, "%s: checksum error in member %s", cab->path, lbl);
		return OFFSERV_E_CRC;
	case MSPACK_ERR_READ:
	case MSPACK_ERR_SEEK:
		offserv_set_error(err, errlen, "%s: cabinet is truncated: data of member %s is "
		                  "missing", cab->path, lbl);
		return OFFSERV_E_FILE_CORRUPT;
	case MSPACK_ERR_OPEN:
		offserv_set_error(err, errlen, "%s: cannot reopen a part of the cabinet for member "
		                  "%s: %s", cab->path, lbl, strerror(cab->csys.open_errno));
		return offserv_status_from_errno(cab->csys.open_errno);
	case MSPACK_ERR_NOMEMORY:
		offserv_set_error(err, errlen, "%s: out of memory extracting member %s", cab->path,
		                  lbl);
		return OFFSERV_E_OUTOFMEMORY;
	case MSPACK_ERR_DATAFORMAT:
	case MSPACK_ERR_DECRUNCH:
	default:
		offserv_set_error(err, errlen, "%s: corrupt data in member %s (libmspack error %d)",
		                  cab->path, lbl, rc);
		return OFFSERV_E_FILE_CORRUPT;
	}
}

static offserv_status precheck(struct offserv_cab *cab, const struct offserv_cab_member *m,
                               int check_size, struct cab_entry **out, char *err, size_t errlen)
{
	struct cab_entry *e = entry_of(cab, m);
	offserv_status s;

	if (!e) {
		offserv_set_error(err, errlen, "%s: member does not belong to this cabinet",
		                  cab ? cab->path : "cabinet");
		return OFFSERV_E_INVALIDARG;
	}
	s = offserv_cab_check_names(cab, err, errlen);
	if (s != OFFSERV_OK)
		return s;
	if (check_size && e->pub.size > cab->max_total) {
		offserv_set_error(err, errlen, "%s: member %s declares %llu bytes, over the limit "
		                  "of %llu", cab->path, e->name, (unsigned long long)e->pub.size,
		                  (unsigned long long)cab->max_total);
		return OFFSERV_E_INVALID_DATA;
	}
	*out = e;
	return OFFSERV_OK;
}

/* Refuse when the declared bytes do not fit on the file system of @p fd. */
static offserv_status check_space(struct offserv_cab *cab, int fd, uint64_t need,
                                  const char *where, char *err, size_t errlen)
{
	struct statvfs sv;

	if (fstatvfs(fd, &sv) != 0)
		return OFFSERV_OK; /* unknown: the writes themselves will tell */
	if ((uint64_t)sv.f_bavail * (uint64_t)sv.f_frsize < need) {
		offserv_set_error(err, errlen, "%s: %llu bytes needed in %s, %llu available",
		                  cab->path, (unsigned long long)need, where,
		                  (unsigned long long)((uint64_t)sv.f_bavail * sv.f_frsize));
		return OFFSERV_E_DISK_FULL;
	}
	return OFFSERV_OK;
}

static offserv_status extract_to_fd(struct offserv_cab *cab, struct cab_entry *e, int fd,
                                    char *err, size_t errlen)
{
	offserv_status s;

	sink_reset(cab);
	cab->csys.out_fd = fd;
	cab->csys.out_limit = e->pub.size;
	s = run_extract(cab, e, err, errlen);
	sink_reset(cab);
	return s;
}

offserv_status offserv_cab_extract_member(struct offserv_cab *cab,
                                          const struct offserv_cab_member *member,
                                          const char *dest_path, char *err, size_t errlen)
{
	struct cab_entry *e;
	offserv_status s;
	int fd;

	s = precheck(cab, member, 1, &e, err, errlen);
	if (s != OFFSERV_OK)
		return s;
	fd = open(dest_path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0) {
		int en = errno;
		offserv_set_error(err, errlen, "%s: cannot create %s: %s", cab->path, dest_path,
		                  strerror(en));
		return en == EEXIST ? OFFSERV_E_FILE_EXISTS : offserv_status_from_errno(en);
	}
	s = check_space(cab, fd, e->pub.size, dest_path, err, errlen);
	if (s == OFFSERV_OK)
		s = extract_to_fd(cab, e, fd, err, errlen);
	if (close(fd) != 0 && s == OFFSERV_OK) {
		int en = errno;
		offserv_set_error(err, errlen, "%s: cannot write %s: %s", cab->path, dest_path,
		                  strerror(en));
		s = offserv_status_from_errno(en);
	}
	if (s != OFFSERV_OK)
		unlink(dest_path);
	return s;
}

offserv_status offserv_cab_extract_member_mem(struct offserv_cab *cab,
                                              const struct offserv_cab_member *member,
                                              size_t max_bytes, void **buf, size_t *len,
                                              char *err, size_t errlen)
{
	struct cab_entry *e;
	offserv_status s;
	unsigned char *mem;

	*buf = NULL;
	*len = 0;
	s = precheck(cab, member, 1, &e, err, errlen);
	if (s != OFFSERV_OK)
		return s;
	if (e->pub.size > max_bytes || e->pub.size >= SIZE_MAX) {
		offserv_set_error(err, errlen, "%s: member %s declares %llu bytes, over the limit "
		                  "of %zu", cab->path, e->name, (unsigned long long)e->pub.size,
		                  max_bytes);
		return OFFSERV_E_INVALID_DATA;
	}
	mem = malloc((size_t)e->pub.size + 1);
	if (!mem) {
		offserv_set_error(err, errlen, "%s: out of memory for member %s", cab->path, e->name);
		return OFFSERV_E_OUTOFMEMORY;
	}
	sink_reset(cab);
	cab->csys.mem = mem;
	cab->csys.out_limit = e->pub.size;
	s = run_extract(cab, e, err, errlen);
	sink_reset(cab);
	if (s != OFFSERV_OK) {
		free(mem);
		return s;
	}
	mem[e->pub.size] = '\0';
	*buf = mem;
	*len = (size_t)e->pub.size;
	return OFFSERV_OK;
}

offserv_status offserv_cab_read_head(struct offserv_cab *cab,
                                     const struct offserv_cab_member *member, void *buf,
                                     size_t want, size_t *got, char *err, size_t errlen)
{
	struct cab_entry *e;
	offserv_status s;

	*got = 0;
	s = precheck(cab, member, 0, &e, err, errlen);
	if (s != OFFSERV_OK)
		return s;
	if (want > e->pub.size)
		want = (size_t)e->pub.size;
	if (want == 0)
		return OFFSERV_OK;
	sink_reset(cab);
	cab->csys.mem = buf;
	cab->csys.head_want = want;
	cab->csys.out_limit = want;
	s = run_extract(cab, e, err, errlen);
	if (s == OFFSERV_OK)
		*got = (size_t)cab->csys.out_written;
	sink_reset(cab);
	return s;
}

/* What offserv_cab_extract_all() created, to undo on failure. */
struct created {
	char **paths;
	int *is_dir;
	size_t n, cap;
};

static int created_add(struct created *c, const char *rel, size_t len, int is_dir)
{
	if (c->n == c->cap) {
		size_t ncap = c->cap ? c->cap * 2 : 64;
		char **np = realloc(c->paths, ncap * sizeof(*np));
		int *nd;
		if (!np)
			return -1;
		c->paths = np;
		nd = realloc(c->is_dir, ncap * sizeof(*nd));
		if (!nd)
			return -1;
		c->is_dir = nd;
		c->cap = ncap;
	}
	c->paths[c->n] = strndup(rel, len);
	if (!c->paths[c->n])
		return -1;
	c->is_dir[c->n++] = is_dir;
	return 0;
}

static void created_undo(struct created *c, int dfd)
{
	for (size_t i = c->n; i-- > 0;)
		unlinkat(dfd, c->paths[i], c->is_dir[i] ? AT_REMOVEDIR : 0);
}

static void created_free(struct created *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->paths[i]);
	free(c->paths);
	free(c->is_dir);
}

/* Create the folders of @p name under @p dfd and the file itself; returns its fd. */
static offserv_status create_member_file(struct offserv_cab *cab, int dfd, const char *name,
                                         const char *destdir, struct created *c, int *out_fd,
                                         char *err, size_t errlen)
{
	int cur = dfd;
	const char *p = name;
	offserv_status s = OFFSERV_OK;

	*out_fd = -1;
	for (;;) {
		const char *slash = strchr(p, '/');
		char comp[OFFSERV_NAME_MAX + 1];
		size_t len;
		int nfd;

		len = slash ? (size_t)(slash - p) : strlen(p);
		if (len == 0 || len > OFFSERV_NAME_MAX) {
			offserv_set_error(err, errlen, "%s: bad member name %s", cab->path, name);
			s = OFFSERV_E_INVALID_NAME;
			break;
		}
		memcpy(comp, p, len);
		comp[len] = '\0';
		if (!slash) {
			int fd = openat(cur, comp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			                0644);
			if (fd < 0) {
				int en = errno;
				offserv_set_error(err, errlen, "%s: cannot create %s in %s: %s", cab->path,
				                  name, destdir, strerror(en));
				s = en == EEXIST ? OFFSERV_E_FILE_EXISTS : offserv_status_from_errno(en);
				break;
			}
			if (created_add(c, name, strlen(name), 0) != 0) {
				close(fd);
				unlinkat(cur, comp, 0);
				s = OFFSERV_E_OUTOFMEMORY;
				break;
			}
			*out_fd = fd;
			break;
		}
		if (mkdirat(cur, comp, 0755) == 0) {
			if (created_add(c, name, (size_t)(slash - name), 1) != 0) {
				unlinkat(cur, comp, AT_REMOVEDIR);
				s = OFFSERV_E_OUTOFMEMORY;
				break;
			}
		} else if (errno != EEXIST) {
			int en = errno;
			offserv_set_error(err, errlen, "%s: cannot create folder for %s in %s: %s",
			                  cab->path, name, destdir, strerror(en));
			s = offserv_status_from_errno(en);
			break;
		}
		nfd = openat(cur, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (nfd < 0) {
			int en = errno;
			offserv_set_error(err, errlen, "%s: refusing to write %s: \"%.*s\" in %s is a "
			                  "symbolic link or not a folder (%s)", cab->path, name,
			                  (int)(slash - name), name, destdir, strerror(en));
			s = OFFSERV_E_ACCESS_DENIED;
			break;
		}
		if (cur != dfd)
			close(cur);
		cur = nfd;
		p = slash + 1;
	}
	if (cur != dfd)
		close(cur);
	return s;
}

offserv_status offserv_cab_extract_all(struct offserv_cab *cab, const char *destdir, char *err,
                                       size_t errlen)
{
	struct created c = {0};
	offserv_status s;
	int dfd;

	s = offserv_cab_check_names(cab, err, errlen);
	if (s != OFFSERV_OK)
		return s;
	if (cab->total > cab->max_total) {
		offserv_set_error(err, errlen, "%s: members declare %llu bytes in total, over the "
		                  "limit of %llu", cab->path, (unsigned long long)cab->total,
		                  (unsigned long long)cab->max_total);
		return OFFSERV_E_INVALID_DATA;
	}
	dfd = open(destdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		int en = errno;
		offserv_set_error(err, errlen, "%s: cannot open destination %s: %s", cab->path,
		                  destdir, strerror(en));
		return offserv_status_from_errno(en);
	}
	s = check_space(cab, dfd, cab->total, destdir, err, errlen);
	for (size_t i = 0; s == OFFSERV_OK && i < cab->n_entries; i++) {
		struct cab_entry *e = &cab->entries[i];
		int fd;

		s = create_member_file(cab, dfd, e->name, destdir, &c, &fd, err, errlen);
		if (s != OFFSERV_OK)
			break;
		s = extract_to_fd(cab, e, fd, err, errlen);
		if (close(fd) != 0 && s == OFFSERV_OK) {
			int en = errno;
			offserv_set_error(err, errlen, "%s: cannot write %s in %s: %s", cab->path,
			                  e->name, destdir, strerror(en));
			s = offserv_status_from_errno(en);
		}
	}
	if (s != OFFSERV_OK)
		created_undo(&c, dfd);
	created_free(&c);
	close(dfd);
	return s;
}
