/* SPDX-License-Identifier: GPL-3.0-or-later */
/* WIM access through wimlib: properties, single paths, change sets, commit. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <wimlib.h>

#include <offserv/util.h>

#include "ntfsvol.h"
#include "wim.h"

#define ATTR_DIRECTORY 0x10u
#define ATTR_ARCHIVE 0x20u

struct offserv_wim {
	WIMStruct *w;
	char *path;
	int writable;
	int lock_fd; /* holds the servicing lock of a WIM opened for writing, or -1 */
	int broken; /* a failed overwrite leaves the WIMStruct undefined */
	offserv_wim_progress_fn fn;
	void *fn_ctx;
	/* Scratch volumes captured by applied change sets: wimlib reads their
	 * data only when it writes the WIM, so they live until close. */
	char **scratch;
	size_t n_scratch;
	/* Case-insensitive lookups: per directory, the folded hashes of its
	 * children's names (see ci_child); dropped when an image changes. */
	struct dirnames **dn;
	size_t dn_buckets;
	size_t dn_count;
};

static void dirnames_drop(struct offserv_wim *wim);

/* ---------------------------------------------------------------------- */
/* Errors                                                                  */

static offserv_status wimlib_status(int code)
{
	switch (code) {
	case WIMLIB_ERR_SUCCESS:
		return OFFSERV_OK;
	case WIMLIB_ERR_OPEN:
	case WIMLIB_ERR_PATH_DOES_NOT_EXIST:
		return OFFSERV_E_FILE_NOT_FOUND;
	case WIMLIB_ERR_NOTDIR:
		return OFFSERV_E_PATH_NOT_FOUND;
	case WIMLIB_ERR_NOT_A_WIM_FILE:
	case WIMLIB_ERR_INVALID_HEADER:
	case WIMLIB_ERR_UNKNOWN_VERSION:
	case WIMLIB_ERR_INVALID_COMPRESSION_TYPE:
	case WIMLIB_ERR_INVALID_CHUNK_SIZE:
		return OFFSERV_E_INVALID_DATA;
	case WIMLIB_ERR_READ:
	case WIMLIB_ERR_UNEXPECTED_END_OF_FILE:
	case WIMLIB_ERR_DECOMPRESSION:
	case WIMLIB_ERR_INVALID_METADATA_RESOURCE:
	case WIMLIB_ERR_INVALID_LOOKUP_TABLE_ENTRY:
	case WIMLIB_ERR_INVALID_RESOURCE_HASH:
	case WIMLIB_ERR_INVALID_INTEGRITY_TABLE:
	case WIMLIB_ERR_INTEGRITY:
	case WIMLIB_ERR_METADATA_NOT_FOUND:
	case WIMLIB_ERR_RESOURCE_NOT_FOUND:
	case WIMLIB_ERR_XML:
	case WIMLIB_ERR_WIM_IS_INCOMPLETE:
		return OFFSERV_E_FILE_CORRUPT;
	case WIMLIB_ERR_NOMEM:
		return OFFSERV_E_OUTOFMEMORY;
	case WIMLIB_ERR_WRITE:
	case WIMLIB_ERR_RENAME:
		return OFFSERV_E_WRITE_FAULT;
	case WIMLIB_ERR_ABORTED_BY_PROGRESS:
		return OFFSERV_E_ABORT;
	case WIMLIB_ERR_INVALID_IMAGE:
	case WIMLIB_ERR_INVALID_PARAM:
		return OFFSERV_E_INVALIDARG;
	case WIMLIB_ERR_WIM_IS_READONLY:
	case WIMLIB_ERR_INSUFFICIENT_PRIVILEGES:
		return OFFSERV_E_ACCESS_DENIED;
	case WIMLIB_ERR_IS_SPLIT_WIM:
	case WIMLIB_ERR_SPLIT_INVALID:
	case WIMLIB_ERR_WIM_IS_ENCRYPTED:
		return OFFSERV_CBS_E_IMAGE_UNSERVICEABLE;
	case WIMLIB_ERR_ALREADY_LOCKED:
	case WIMLIB_ERR_CONCURRENT_MODIFICATION_DETECTED:
		return OFFSERV_E_SHARING_VIOLATION;
	case WIMLIB_ERR_UNSUPPORTED:
	case WIMLIB_ERR_UNSUPPORTED_FILE:
		return OFFSERV_E_NOT_SUPPORTED;
	case WIMLIB_ERR_NTFS_3G:
		return OFFSERV_E_FAIL;
	default:
		return OFFSERV_E_FAIL;
	}
}

/* errno decides between "no such file", "access denied" and "disk full". */
static offserv_status wimlib_fail(const struct offserv_wim *wim, const char *wimpath, int code,
                                  int saved_errno, const char *what, char *err,
                                  size_t errlen)
{
	offserv_status st = wimlib_status(code);
	const char *path = wim ? wim->path : wimpath;

	if ((code == WIMLIB_ERR_WRITE || code == WIMLIB_ERR_OPEN) && saved_errno == ENOSPC)
		st = OFFSERV_E_DISK_FULL;
	else if (code == WIMLIB_ERR_OPEN && (saved_errno == EACCES || saved_errno == EPERM))
		st = OFFSERV_E_ACCESS_DENIED;
	offserv_set_error(err, errlen, "%s: %s: %s (wimlib error %d)", path, what,
	                  wimlib_get_error_string((enum wimlib_error_code)code), code);
	return st;
}

static offserv_status oom(const struct offserv_wim *wim, char *err, size_t errlen)
{
	offserv_set_error(err, errlen, "%s: out of memory", wim->path);
	return OFFSERV_E_OUTOFMEMORY;
}

/* ---------------------------------------------------------------------- */
/* Progress                                                                */

static enum wimlib_progress_status progress_cb(enum wimlib_progress_msg msg,
                                               union wimlib_progress_info *info, void *ctx)
{
	struct offserv_wim *wim = ctx;
	uint64_t done = 0, total = 0;
	const char *what;

	if (!wim->fn)
		return WIMLIB_PROGRESS_STATUS_CONTINUE;
	switch (msg) {
	case WIMLIB_PROGRESS_MSG_WRITE_STREAMS:
		done = info->write_streams.completed_bytes;
		total = info->write_streams.total_bytes;
		what = "writing";
		break;
	case WIMLIB_PROGRESS_MSG_WRITE_METADATA_BEGIN:
		total = 1;
		what = "metadata";
		break;
	case WIMLIB_PROGRESS_MSG_WRITE_METADATA_END:
		done = total = 1;
		what = "metadata";
		break;
	case WIMLIB_PROGRESS_MSG_SCAN_BEGIN:
	case WIMLIB_PROGRESS_MSG_SCAN_END:
		done = info->scan.num_bytes_scanned;
		what = "scanning";
		break;
	case WIMLIB_PROGRESS_MSG_UPDATE_BEGIN_COMMAND:
	case WIMLIB_PROGRESS_MSG_UPDATE_END_COMMAND:
		done = info->update.completed_commands;
		total = info->update.total_commands;
		what = "updating";
		break;
	case WIMLIB_PROGRESS_MSG_EXTRACT_STREAMS:
		done = info->extract.completed_bytes;
		total = info->extract.total_bytes;
		what = "extracting";
		break;
	case WIMLIB_PROGRESS_MSG_VERIFY_INTEGRITY:
	case WIMLIB_PROGRESS_MSG_CALC_INTEGRITY:
		done = info->integrity.completed_bytes;
		total = info->integrity.total_bytes;
		what = "integrity";
		break;
	default:
		return WIMLIB_PROGRESS_STATUS_CONTINUE;
	}
	return wim->fn(wim->fn_ctx, done, total, what) ? WIMLIB_PROGRESS_STATUS_ABORT
	                                               : WIMLIB_PROGRESS_STATUS_CONTINUE;
}

void offserv_wim_set_progress(struct offserv_wim *wim, offserv_wim_progress_fn fn, void *ctx)
{
	wim->fn = fn;
	wim->fn_ctx = ctx;
}

/* ---------------------------------------------------------------------- */
/* Open, close, properties                                                 */

offserv_status offserv_wim_open(const char *path, int flags, struct offserv_wim **out,
                                char *err, size_t errlen)
{
	struct offserv_wim *wim;
	struct wimlib_wim_info info;
	struct stat sb;
	int open_flags = 0;
	int rc;

	*out = NULL;
	if (stat(path, &sb) != 0) {
		int e = errno;
		offserv_set_error(err, errlen, "%s: cannot open WIM: %s", path, strerror(e));
		return e == ENOENT ? OFFSERV_E_FILE_NOT_FOUND : offserv_status_from_errno(e);
	}
	if (!S_ISREG(sb.st_mode)) {
		offserv_set_error(err, errlen, "%s: not a regular file", path);
		return OFFSERV_E_INVALID_DATA;
	}
	wim = calloc(1, sizeof(*wim));
	if (!wim || !(wim->path = strdup(path))) {
		free(wim);
		offserv_set_error(err, errlen, "%s: out of memory", path);
		return OFFSERV_E_OUTOFMEMORY;
	}
	wim->lock_fd = -1;
	if (flags & OFFSERV_WIM_OPEN_WRITE) {
		/*
		 * One writer at a time: two runs appending to one WIM would each
		 * write a header that forgets the other's data.  An open file
		 * description lock, because wimlib flock()s the file itself while
		 * it appends, and OFD locks neither conflict with that nor vanish
		 * when wimlib closes its own descriptors.  A dead holder's lock
		 * goes with its process.
		 */
		struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};

		wim->lock_fd = open(path, O_RDWR | O_CLOEXEC);
		if (wim->lock_fd < 0 || fcntl(wim->lock_fd, F_OFD_SETLK, &fl) != 0) {
			int e = errno;
			offserv_status st = (e == EAGAIN || e == EACCES) && wim->lock_fd >= 0
			                            ? OFFSERV_E_SHARING_VIOLATION
			                            : offserv_status_from_errno(e);

			if (st == OFFSERV_E_SHARING_VIOLATION)
				offserv_set_error(err, errlen,
				                  "%s: another process is servicing this WIM; try again when it has finished",
				                  path);
			else
				offserv_set_error(err, errlen, "%s: cannot open for writing: %s", path,
				                  strerror(e));
			if (wim->lock_fd >= 0)
				close(wim->lock_fd);
			free(wim->path);
			free(wim);
			return st;
		}
		open_flags |= WIMLIB_OPEN_FLAG_WRITE_ACCESS;
	}
	if (flags & OFFSERV_WIM_OPEN_CHECK_INTEGRITY)
		open_flags |= WIMLIB_OPEN_FLAG_CHECK_INTEGRITY;
	errno = 0;
	rc = wimlib_open_wim_with_progress(path, open_flags, &wim->w, progress_cb, wim);
	if (rc == WIMLIB_ERR_WIM_IS_READONLY) {
		/* wimlib refuses write access to split parts: say why. */
		WIMStruct *ro = NULL;

		if (wimlib_open_wim(path, 0, &ro) == 0) {
			wimlib_get_wim_info(ro, &info);
			wimlib_free(ro);
			if (info.total_parts > 1) {
				offserv_set_error(err, errlen,
				                  "%s: cannot be serviced in place: it is part %u of a "
				                  "split WIM (%u parts)",
				                  path, info.part_number, info.total_parts);
				if (wim->lock_fd >= 0)
					close(wim->lock_fd);
				free(wim->path);
				free(wim);
				return OFFSERV_CBS_E_IMAGE_UNSERVICEABLE;
			}
		}
	}
	if (rc) {
		offserv_status st = wimlib_fail(NULL, path, rc, errno, "cannot open WIM", err, errlen);

		if (wim->lock_fd >= 0)
			close(wim->lock_fd);
		free(wim->path);
		free(wim);
		return st;
	}
	wimlib_get_wim_info(wim->w, &info);
	if (flags & OFFSERV_WIM_OPEN_WRITE) {
		const char *why = NULL;

		if (info.total_parts > 1)
			why = "it is a split WIM (.swm)";
		else if (info.wim_version == 0xE00 ||
		         info.compression_type == WIMLIB_COMPRESSION_TYPE_LZMS)
			why = "it is solid-compressed (ESD); export it to a non-solid WIM first";
		else if (info.pipable)
			why = "it is a pipable WIM";
		if (why) {
			offserv_set_error(err, errlen, "%s: cannot be serviced in place: %s", path, why);
			wimlib_free(wim->w);
			if (wim->lock_fd >= 0)
				close(wim->lock_fd);
			free(wim->path);
			free(wim);
			return OFFSERV_CBS_E_IMAGE_UNSERVICEABLE;
		}
		wim->writable = 1;
	}
	*out = wim;
	return OFFSERV_OK;
}

void offserv_wim_close(struct offserv_wim *wim)
{
	if (!wim)
		return;
	wimlib_free(wim->w);
	dirnames_drop(wim);
	if (wim->lock_fd >= 0)
		close(wim->lock_fd);
	for (size_t i = 0; i < wim->n_scratch; i++) {
		offserv_rmtree(wim->scratch[i], NULL, 0);
		free(wim->scratch[i]);
	}
	free(wim->scratch);
	free(wim->path);
	free(wim);
}

const char *offserv_wim_path(const struct offserv_wim *wim)
{
	return wim->path;
}

int offserv_wim_image_count(const struct offserv_wim *wim)
{
	struct wimlib_wim_info info;

	wimlib_get_wim_info(wim->w, &info);
	return (int)info.image_count;
}

offserv_status offserv_wim_get_info(struct offserv_wim *wim, struct offserv_wim_info *out,
                                    char *err, size_t errlen)
{
	struct wimlib_wim_info info;
	struct stat sb;

	memset(out, 0, sizeof(*out));
	wimlib_get_wim_info(wim->w, &info);
	out->image_count = (int)info.image_count;
	out->boot_index = (int)info.boot_index;
	out->solid = info.wim_version == 0xE00 ||
	             info.compression_type == WIMLIB_COMPRESSION_TYPE_LZMS;
	out->part_number = info.part_number;
	out->total_parts = info.total_parts;
	out->split = info.total_parts > 1;
	out->compression =
		wimlib_get_compression_type_string((enum wimlib_compression_type)info.compression_type);
	out->chunk_size = info.chunk_size;
	out->has_integrity_table = info.has_integrity_table;
	out->write_in_progress = info.write_in_progress;
	if (stat(wim->path, &sb) != 0) {
		int e = errno;
		offserv_set_error(err, errlen, "%s: %s", wim->path, strerror(e));
		return offserv_status_from_errno(e);
	}
	out->file_size = (uint64_t)sb.st_size;
	return OFFSERV_OK;
}

static int check_index(const struct offserv_wim *wim, int index, char *err, size_t errlen)
{
	int n = offserv_wim_image_count(wim);

	if (index < 1 || index > n) {
		offserv_set_error(err, errlen, "%s: no image index %d (the WIM has %d)", wim->path,
		                  index, n);
		return 0;
	}
	return 1;
}

static const char *prop(struct offserv_wim *wim, int index, const char *name)
{
	const char *v = wimlib_get_image_property(wim->w, index, name);

	return v && *v ? v : NULL;
}

static uint64_t prop_u64(struct offserv_wim *wim, int index, const char *name)
{
	const char *v = prop(wim, index, name);
	char *end;
	unsigned long long x;

	if (!v)
		return 0;
	errno = 0;
	x = strtoull(v, &end, 0);
	if (errno || end == v)
		return 0;
	return (uint64_t)x;
}

static uint64_t prop_filetime(struct offserv_wim *wim, int index, const char *name)
{
	char hi[64], lo[64];

	snprintf(hi, sizeof(hi), "%s/HIGHPART", name);
	snprintf(lo, sizeof(lo), "%s/LOWPART", name);
	return (prop_u64(wim, index, hi) << 32) | (prop_u64(wim, index, lo) & 0xffffffffu);
}

static int dup_prop(struct offserv_wim *wim, int index, const char *name, char **out)
{
	const char *v = prop(wim, index, name);

	*out = NULL;
	if (!v)
		return 1;
	*out = strdup(v);
	return *out != NULL;
}

void offserv_wim_index_clear(struct offserv_wim_index *idx)
{
	if (!idx)
		return;
	free(idx->base.name);
	free(idx->base.description);
	free(idx->base.edition);
	free(idx->base.arch);
	free(idx->base.version);
	free(idx->base.languages);
	free(idx->default_language);
	memset(idx, 0, sizeof(*idx));
}

/* Languages: the default first, then the others in XML order. */
static int collect_languages(struct offserv_wim *wim, int index, struct offserv_wim_index *out)
{
	size_t len = 0, cap = 0;
	char *list = NULL;
	const char *def = prop(wim, index, "WINDOWS/LANGUAGES/DEFAULT");

	if (def && !(out->default_language = strdup(def)))
		return 0;
	for (int pass = 0; pass < 2; pass++) {
		for (int i = 1; i < 1000; i++) {
			char name[64];
			const char *lang;
			size_t l;

			if (pass == 0 && i > 1)
				break;
			snprintf(name, sizeof(name), "WINDOWS/LANGUAGES/LANGUAGE[%d]", i);
			lang = pass == 0 ? def : prop(wim, index, name);
			if (!lang)
				break;
			if (pass == 1 && def && strcmp(lang, def) == 0)
				continue;
			l = strlen(lang);
			if (len + l + 2 > cap) {
				char *n;

				cap = (len + l + 2) * 2;
				n = realloc(list, cap);
				if (!n) {
					free(list);
					return 0;
				}
				list = n;
			}
			if (len)
				list[len++] = ',';
			memcpy(list + len, lang, l);
			len += l;
			list[len] = '\0';
		}
	}
	out->base.languages = list;
	return 1;
}

offserv_status offserv_wim_get_index(struct offserv_wim *wim, int index,
                                     struct offserv_wim_index *out, char *err, size_t errlen)
{
	const char *arch;
	char ver[64];

	memset(out, 0, sizeof(*out));
	if (!check_index(wim, index, err, errlen))
		return OFFSERV_E_INVALIDARG;
	out->base.index = index;
	if (!dup_prop(wim, index, "NAME", &out->base.name) ||
	    !dup_prop(wim, index, "DESCRIPTION", &out->base.description) ||
	    !dup_prop(wim, index, "WINDOWS/EDITIONID", &out->base.edition))
		goto nomem;
	arch = prop(wim, index, "WINDOWS/ARCH");
	if (arch) {
		const char *name = arch;

		switch (strtol(arch, NULL, 10)) {
		case 0:
			name = "x86";
			break;
		case 5:
			name = "arm";
			break;
		case 6:
			name = "ia64";
			break;
		case 9:
			name = "x64";
			break;
		case 12:
			name = "arm64";
			break;
		default:
			break;
		}
		if (!(out->base.arch = strdup(name)))
			goto nomem;
	}
	out->major = (uint32_t)prop_u64(wim, index, "WINDOWS/VERSION/MAJOR");
	out->minor = (uint32_t)prop_u64(wim, index, "WINDOWS/VERSION/MINOR");
	out->base.build = (uint32_t)prop_u64(wim, index, "WINDOWS/VERSION/BUILD");
	out->base.sp_build = (uint32_t)prop_u64(wim, index, "WINDOWS/VERSION/SPBUILD");
	out->base.sp_level = (uint32_t)prop_u64(wim, index, "WINDOWS/VERSION/SPLEVEL");
	if (prop(wim, index, "WINDOWS/VERSION/MAJOR")) {
		snprintf(ver, sizeof(ver), "%u.%u.%u", out->major, out->minor, out->base.build);
		if (!(out->base.version = strdup(ver)))
			goto nomem;
	}
	if (!collect_languages(wim, index, out))
		goto nomem;
	out->base.total_bytes = prop_u64(wim, index, "TOTALBYTES");
	out->base.file_count = prop_u64(wim, index, "FILECOUNT");
	out->base.dir_count = prop_u64(wim, index, "DIRCOUNT");
	out->creation_time = prop_filetime(wim, index, "CREATIONTIME");
	out->last_modification_time = prop_filetime(wim, index, "LASTMODIFICATIONTIME");
	return OFFSERV_OK;
nomem:
	offserv_wim_index_clear(out);
	return oom(wim, err, errlen);
}

/* ---------------------------------------------------------------------- */
/* Paths                                                                   */

/* "a\\b//c/" -> "/a/b/c"; "" -> "/".  NULL for ".." components or no memory. */
static char *norm_path(const char *in)
{
	size_t n = strlen(in);
	char *out = malloc(n + 2);
	size_t o = 0;
	const char *p = in;

	if (!out)
		return NULL;
	while (*p) {
		const char *s;
		size_t l;

		while (*p == '/' || *p == '\\')
			p++;
		if (!*p)
			break;
		s = p;
		while (*p && *p != '/' && *p != '\\')
			p++;
		l = (size_t)(p - s);
		if (l == 1 && s[0] == '.')
			continue;
		if (l == 2 && s[0] == '.' && s[1] == '.') {
			free(out);
			return NULL;
		}
		out[o++] = '/';
		memcpy(out + o, s, l);
		o += l;
	}
	if (o == 0)
		out[o++] = '/';
	out[o] = '\0';
	return out;
}

static char *join2(const char *dir, const char *name)
{
	size_t a = strlen(dir), b = strlen(name);
	char *s = malloc(a + b + 2);

	if (!s)
		return NULL;
	memcpy(s, dir, a);
	if (a == 0 || dir[a - 1] != '/')
		s[a++] = '/';
	memcpy(s + a, name, b + 1);
	return s;
}

/* Windows compares names case-insensitively; ASCII folding covers the
 * names Windows images use for system paths. */
static int name_eq_nocase(const char *a, const char *b)
{
	for (; *a && *b; a++, b++) {
		unsigned char x = (unsigned char)*a, y = (unsigned char)*b;

		if (x >= 'A' && x <= 'Z')
			x = (unsigned char)(x - 'A' + 'a');
		if (y >= 'A' && y <= 'Z')
			y = (unsigned char)(y - 'A' + 'a');
		if (x != y)
			return 0;
	}
	return *a == *b;
}

static uint64_t to_filetime(const struct wimlib_timespec *ts)
{
	int64_t sec = (int64_t)ts->tv_sec + 11644473600LL;

	if (sec < 0)
		return 0;
	return (uint64_t)sec * 10000000u + (uint64_t)ts->tv_nsec / 100u;
}

static int fill_stat(const struct wimlib_dir_entry *de, struct offserv_wim_stat *st)
{
	memset(st, 0, sizeof(*st));
	st->path = strdup(de->full_path ? de->full_path : "/");
	st->name = strdup(de->filename ? de->filename : "");
	if (!st->path || !st->name)
		return 0;
	st->attributes = de->attributes;
	st->is_dir = (de->attributes & ATTR_DIRECTORY) != 0;
	st->reparse_tag = de->reparse_tag;
	st->num_links = de->num_links;
	st->num_named_streams = de->num_named_streams;
	st->hard_link_group_id = de->hard_link_group_id;
	st->creation_time = to_filetime(&de->creation_time);
	st->last_write_time = to_filetime(&de->last_write_time);
	st->last_access_time = to_filetime(&de->last_access_time);
	if (de->security_descriptor && de->security_descriptor_size) {
		st->sd = malloc(de->security_descriptor_size);
		if (!st->sd)
			return 0;
		memcpy(st->sd, de->security_descriptor, de->security_descriptor_size);
		st->sd_len = de->security_descriptor_size;
	}
	/* streams[0] is the unnamed data stream */
	if (!st->is_dir || de->reparse_tag) {
		const struct wimlib_resource_entry *r = &de->streams[0].resource;

		st->size = r->uncompressed_size;
		if (!r->is_missing && r->uncompressed_size) {
			memcpy(st->sha1, r->sha1_hash, 20);
			st->has_sha1 = 1;
		}
	}
	return 1;
}

void offserv_wim_stat_clear(struct offserv_wim_stat *st)
{
	if (!st)
		return;
	free(st->path);
	free(st->name);
	free(st->sd);
	memset(st, 0, sizeof(*st));
}

struct stat_ctx {
	struct offserv_wim_stat *st;
	int found;
	int nomem;
};

static int stat_cb(const struct wimlib_dir_entry *de, void *ctx)
{
	struct stat_ctx *c = ctx;

	c->found = 1;
	if (!fill_stat(de, c->st)) {
		c->nomem = 1;
		return WIMLIB_ERR_NOMEM;
	}
	return 0;
}

/* Exact lookup: 1 found, 0 missing, -1 error (status in *st). */
static int stat_exact(struct offserv_wim *wim, int index, const char *path,
                      struct offserv_wim_stat *out, offserv_status *status, char *err,
                      size_t errlen)
{
	struct stat_ctx c = {.st = out};
	int rc;

	memset(out, 0, sizeof(*out));
	rc = wimlib_iterate_dir_tree(wim->w, index, path, 0, stat_cb, &c);
	if (rc == WIMLIB_ERR_PATH_DOES_NOT_EXIST || rc == WIMLIB_ERR_NOTDIR) {
		offserv_wim_stat_clear(out);
		return 0;
	}
	if (rc || c.nomem) {
		offserv_wim_stat_clear(out);
		*status = c.nomem ? oom(wim, err, errlen)
		                  : wimlib_fail(wim, NULL, rc, errno, path, err, errlen);
		return -1;
	}
	return c.found;
}

struct find_ctx {
	const char *name;
	char *real;
	int nomem;
};

static int find_cb(const struct wimlib_dir_entry *de, void *ctx)
{
	struct find_ctx *c = ctx;

	if (de->filename && name_eq_nocase(de->filename, c->name)) {
		c->real = strdup(de->filename);
		if (!c->real)
			c->nomem = 1;
		return 1; /* stop */
	}
	return 0;
}

/* FNV-1a of a name folded to lower case (ASCII, as name_eq_nocase folds). */
static uint64_t fold_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c - 'A' + 'a');
		h = (h ^ c) * 1099511628211ULL;
	}
	return h;
}

/*
 * The children of one directory of one image, as a set of folded name
 * hashes.  It answers "no child has this name in any case" without
 * walking the directory again, and holds 16 bytes per child at most
 * rather than the names: a directory such as WinSxS or System32 holds an
 * entry per component.  A hash hit is confirmed by a walk (it is a hit
 * only when the caller's spelling differs from the image's, or on a
 * 64-bit collision).  Hash 0 marks a free slot, so a name hashing to 0
 * is stored as 1.
 */
struct dirnames {
	int index;
	char *dir;      /* the directory's real path */
	uint64_t *slot; /* open addressing, power of two */
	size_t mask;
	struct dirnames *next;
};

static void dirnames_drop(struct offserv_wim *wim)
{
	for (size_t i = 0; i < wim->dn_buckets; i++) {
		struct dirnames *d = wim->dn[i], *next;

		for (; d; d = next) {
			next = d->next;
			free(d->dir);
			free(d->slot);
			free(d);
		}
	}
	free(wim->dn);
	wim->dn = NULL;
	wim->dn_buckets = 0;
	wim->dn_count = 0;
}

static int dirnames_has(const struct dirnames *d, uint64_t h)
{
	if (!h)
		h = 1;
	for (size_t i = (size_t)h & d->mask;; i = (i + 1) & d->mask) {
		if (d->slot[i] == h)
			return 1;
		if (!d->slot[i])
			return 0;
	}
}

static void dirnames_put(struct dirnames *d, uint64_t h)
{
	if (!h)
		h = 1;
	for (size_t i = (size_t)h & d->mask;; i = (i + 1) & d->mask) {
		if (d->slot[i] == h)
			return;
		if (!d->slot[i]) {
			d->slot[i] = h;
			return;
		}
	}
}

struct names_ctx {
	uint64_t *h;
	size_t n, cap;
	int nomem;
};

static int names_cb(const struct wimlib_dir_entry *de, void *ctx)
{
	struct names_ctx *c = ctx;

	if (!de->filename)
		return 0;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 64;
		uint64_t *n = realloc(c->h, cap * sizeof(*n));

		if (!n) {
			c->nomem = 1;
			return WIMLIB_ERR_NOMEM;
		}
		c->h = n;
		c->cap = cap;
	}
	c->h[c->n++] = fold_hash(de->filename);
	return 0;
}

/* The name set of @p dir (a real path), built by one walk of its children.
 * NULL with *status set on error, NULL with OFFSERV_OK when @p dir is not
 * a directory of the image. */
static struct dirnames *dirnames_get(struct offserv_wim *wim, int index, const char *dir,
                                     offserv_status *status, char *err, size_t errlen)
{
	struct names_ctx c = {0};
	struct dirnames *d;
	size_t b, size;
	int rc;

	*status = OFFSERV_OK;
	if (wim->dn_buckets) {
		b = (size_t)(fold_hash(dir) ^ (uint64_t)index) & (wim->dn_buckets - 1);
		for (d = wim->dn[b]; d; d = d->next)
			if (d->index == index && strcmp(d->dir, dir) == 0)
				return d;
	}
	rc = wimlib_iterate_dir_tree(wim->w, index, dir, WIMLIB_ITERATE_DIR_TREE_FLAG_CHILDREN,
	                             names_cb, &c);
	if (c.nomem) {
		free(c.h);
		*status = oom(wim, err, errlen);
		return NULL;
	}
	if (rc == WIMLIB_ERR_PATH_DOES_NOT_EXIST || rc == WIMLIB_ERR_NOTDIR) {
		free(c.h);
		return NULL;
	}
	if (rc) {
		free(c.h);
		*status = wimlib_fail(wim, NULL, rc, errno, dir, err, errlen);
		return NULL;
	}
	if (wim->dn_count >= wim->dn_buckets) {
		size_t nb = wim->dn_buckets ? wim->dn_buckets * 2 : 64;
		struct dirnames **n = calloc(nb, sizeof(*n));

		if (!n) {
			free(c.h);
			*status = oom(wim, err, errlen);
			return NULL;
		}
		for (size_t i = 0; i < wim->dn_buckets; i++) {
			struct dirnames *next;

			for (d = wim->dn[i]; d; d = next) {
				size_t nbk = (size_t)(fold_hash(d->dir) ^ (uint64_t)d->index) & (nb - 1);

				next = d->next;
				d->next = n[nbk];
				n[nbk] = d;
			}
		}
		free(wim->dn);
		wim->dn = n;
		wim->dn_buckets = nb;
	}
	for (size = 16; size < c.n * 2 + 2; size *= 2)
		;
	d = calloc(1, sizeof(*d));
	if (!d || !(d->dir = strdup(dir)) || !(d->slot = calloc(size, sizeof(*d->slot)))) {
		if (d)
			free(d->dir);
		free(d);
		free(c.h);
		*status = oom(wim, err, errlen);
		return NULL;
	}
	d->index = index;
	d->mask = size - 1;
	for (size_t i = 0; i < c.n; i++)
		dirnames_put(d, c.h[i]);
	free(c.h);
	b = (size_t)(fold_hash(dir) ^ (uint64_t)index) & (wim->dn_buckets - 1);
	d->next = wim->dn[b];
	wim->dn[b] = d;
	wim->dn_count++;
	return d;
}

/*
 * The spelling in the image of the child of @p dir (a real path) named
 * @p name in any case: 1 and *real (malloc'd) when found, 0 when not,
 * -1 on error (*status set).
 */
static int ci_child(struct offserv_wim *wim, int index, const char *dir, const char *name,
                    char **real, offserv_status *status, char *err, size_t errlen)
{
	struct find_ctx fc = {.name = name};
	struct dirnames *d = dirnames_get(wim, index, dir, status, err, errlen);
	int rc;

	*real = NULL;
	if (!d)
		return OFFSERV_FAILED(*status) ? -1 : 0;
	if (!dirnames_has(d, fold_hash(name)))
		return 0;
	rc = wimlib_iterate_dir_tree(wim->w, index, dir, WIMLIB_ITERATE_DIR_TREE_FLAG_CHILDREN,
	                             find_cb, &fc);
	if (fc.nomem) {
		*status = oom(wim, err, errlen);
		return -1;
	}
	if (rc != 0 && rc != 1 && !fc.real) {
		*status = wimlib_fail(wim, NULL, rc, errno, dir, err, errlen);
		return -1;
	}
	*real = fc.real;
	return fc.real != NULL;
}

struct exists_ctx {
	int found;
	int is_dir;
};

static int exists_cb(const struct wimlib_dir_entry *de, void *ctx)
{
	struct exists_ctx *c = ctx;

	c->found = 1;
	c->is_dir = (de->attributes & ATTR_DIRECTORY) != 0;
	return 0;
}

/* Whether @p path exists exactly as spelled: 1, 0, or -1 on error. */
static int exists_exact(struct offserv_wim *wim, int index, const char *path,
                        offserv_status *status, char *err, size_t errlen)
{
	struct exists_ctx c = {0};
	int rc = wimlib_iterate_dir_tree(wim->w, index, path, 0, exists_cb, &c);

	if (rc == WIMLIB_ERR_PATH_DOES_NOT_EXIST || rc == WIMLIB_ERR_NOTDIR)
		return 0;
	if (rc) {
		*status = wimlib_fail(wim, NULL, rc, errno, path, err, errlen);
		return -1;
	}
	return c.found;
}

/* Resolve a normalised path component by component. */
static offserv_status resolve_norm(struct offserv_wim *wim, int index, const char *norm,
                                   int flags, char **real, struct offserv_wim_stat *st_out,
                                   char *err, size_t errlen)
{
	struct offserv_wim_stat st;
	offserv_status status = OFFSERV_OK;
	char *cur = NULL;
	const char *p;
	int r;

	*real = NULL;
	r = stat_exact(wim, index, norm, &st, &status, err, errlen);
	if (r < 0)
		return status;
	if (r > 0) {
		*real = strdup(st.path);
		if (st_out)
			*st_out = st;
		else
			offserv_wim_stat_clear(&st);
		return *real ? OFFSERV_OK : oom(wim, err, errlen);
	}
	if (flags & OFFSERV_WIM_CASE_SENSITIVE)
		goto missing_last;
	cur = strdup("/");
	if (!cur)
		return oom(wim, err, errlen);
	p = norm + 1;
	while (*p) {
		const char *slash = strchr(p, '/');
		size_t l = slash ? (size_t)(slash - p) : strlen(p);
		char name[1024];
		char *next, *found = NULL;

		if (l >= sizeof(name)) {
			free(cur);
			offserv_set_error(err, errlen, "%s: path too long: %s", wim->path, norm);
			return OFFSERV_E_BAD_PATHNAME;
		}
		memcpy(name, p, l);
		name[l] = '\0';
		next = join2(cur, name);
		if (!next) {
			free(cur);
			return oom(wim, err, errlen);
		}
		/* The caller's spelling first: one lookup in wimlib's tree. */
		r = exists_exact(wim, index, next, &status, err, errlen);
		if (r == 0) {
			free(next);
			next = NULL;
			r = ci_child(wim, index, cur, name, &found, &status, err, errlen);
			if (r > 0) {
				next = join2(cur, found);
				free(found);
				if (!next) {
					free(cur);
					return oom(wim, err, errlen);
				}
			}
		}
		if (r < 0) {
			free(next);
			free(cur);
			return status;
		}
		free(cur);
		if (r == 0) {
			if (slash) {
				offserv_set_error(err, errlen, "%s: image %d: path not found: %s",
				                  wim->path, index, norm);
				return OFFSERV_E_PATH_NOT_FOUND;
			}
			goto missing_last;
		}
		cur = next;
		p += l;
		while (*p == '/')
			p++;
	}
	if (st_out) {
		r = stat_exact(wim, index, cur, st_out, &status, err, errlen);
		if (r <= 0) {
			free(cur);
			if (r < 0)
				return status;
			goto missing_last;
		}
	}
	*real = cur;
	return OFFSERV_OK;
missing_last:
	offserv_set_error(err, errlen, "%s: image %d: not found: %s", wim->path, index, norm);
	return OFFSERV_E_FILE_NOT_FOUND;
}

offserv_status offserv_wim_resolve(struct offserv_wim *wim, int index, const char *path,
                                   int flags, char **real, char *err, size_t errlen)
{
	char *norm;
	offserv_status st;

	*real = NULL;
	if (!check_index(wim, index, err, errlen))
		return OFFSERV_E_INVALIDARG;
	norm = norm_path(path);
	if (!norm) {
		offserv_set_error(err, errlen, "%s: bad image path \"%s\"", wim->path, path);
		return OFFSERV_E_BAD_PATHNAME;
	}
	st = resolve_norm(wim, index, norm, flags, real, NULL, err, errlen);
	free(norm);
	return st;
}

offserv_status offserv_wim_stat(struct offserv_wim *wim, int index, const char *path,
                                int flags, struct offserv_wim_stat *st, char *err,
                                size_t errlen)
{
	char *norm, *real = NULL;
	offserv_status s;

	memset(st, 0, sizeof(*st));
	if (!check_index(wim, index, err, errlen))
		return OFFSERV_E_INVALIDARG;
	norm = norm_path(path);
	if (!norm) {
		offserv_set_error(err, errlen, "%s: bad image path \"%s\"", wim->path, path);
		return OFFSERV_E_BAD_PATHNAME;
	}
	s = resolve_norm(wim, index, norm, flags, &real, st, err, errlen);
	free(norm);
	free(real);
	return s;
}

struct list_ctx {
	offserv_status (*fn)(void *ctx, const struct offserv_wim_stat *entry);
	void *ctx;
	offserv_status status;
	int nomem;
};

static int list_cb(const struct wimlib_dir_entry *de, void *ctx)
{
	struct list_ctx *c = ctx;
	struct offserv_wim_stat st;

	if (!fill_stat(de, &st)) {
		offserv_wim_stat_clear(&st);
		c->nomem = 1;
		return WIMLIB_ERR_NOMEM;
	}
	c->status = c->fn(c->ctx, &st);
	offserv_wim_stat_clear(&st);
	return c->status ? 1 : 0;
}

offserv_status offserv_wim_list(struct offserv_wim *wim, int index, const char *dir, int flags,
                                offserv_status (*fn)(void *ctx,
                                                     const struct offserv_wim_stat *entry),
                                void *ctx, char *err, size_t errlen)
{
	struct list_ctx c = {.fn = fn, .ctx = ctx};
	char *real = NULL;
	offserv_status st;
	int rc;

	st = offserv_wim_resolve(wim, index, dir, flags, &real, err, errlen);
	if (OFFSERV_FAILED(st))
		return st;
	rc = wimlib_iterate_dir_tree(wim->w, index, real, WIMLIB_ITERATE_DIR_TREE_FLAG_CHILDREN,
	                             list_cb, &c);
	if (c.nomem)
		st = oom(wim, err, errlen);
	else if (c.status)
		st = c.status;
	else if (rc)
		st = wimlib_fail(wim, NULL, rc, errno, real, err, errlen);
	free(real);
	return st;
}

void offserv_wim_strv_free(char **v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

struct strv {
	char **v;
	size_t n, cap;
};

static int strv_push(struct strv *s, char *str)
{
	if (!str)
		return 0;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		char **n = realloc(s->v, cap * sizeof(*n));

		if (!n) {
			free(str);
			return 0;
		}
		s->v = n;
		s->cap = cap;
	}
	s->v[s->n++] = str;
	return 1;
}

struct glob_ctx {
	const char *pattern;
	struct strv *out;
	int nomem;
};

static int glob_cb(const struct wimlib_dir_entry *de, void *ctx)
{
	struct glob_ctx *c = ctx;

	if (de->filename && fnmatch(c->pattern, de->filename, FNM_CASEFOLD | FNM_PERIOD) == 0) {
		if (!strv_push(c->out, strdup(de->full_path))) {
			c->nomem = 1;
			return WIMLIB_ERR_NOMEM;
		}
	}
	return 0;
}

offserv_status offserv_wim_extract(struct offserv_wim *wim, int index,
                                   const char *const *paths, size_t n, const char *destdir,
                                   int flags, char ***local, char *err, size_t errlen)
{
	struct strv todo = {0}, where = {0};
	offserv_status st = OFFSERV_OK;
	int rc;

	if (local)
		*local = NULL;
	if (!check_index(wim, index, err, errlen))
		return OFFSERV_E_INVALIDARG;
	for (size_t i = 0; i < n; i++) {
		char *norm = norm_path(paths[i]);
		char *real = NULL;

		if (!norm) {
			offserv_set_error(err, errlen, "%s: bad image path \"%s\"", wim->path, paths[i]);
			st = OFFSERV_E_BAD_PATHNAME;
			goto out;
		}
		if (flags & OFFSERV_WIM_EXTRACT_GLOB) {
			char *slash = strrchr(norm, '/');
			char *dir, *pattern = strdup(slash + 1);
			struct glob_ctx gc = {.pattern = pattern, .out = &todo};

			*slash = '\0';
			dir = norm[0] ? norm : (char *)"/";
			if (!pattern) {
				free(norm);
				st = oom(wim, err, errlen);
				goto out;
			}
			st = resolve_norm(wim, index, dir, 0, &real, NULL, err, errlen);
			if (OFFSERV_SUCCEEDED(st)) {
				rc = wimlib_iterate_dir_tree(wim->w, index, real,
				                             WIMLIB_ITERATE_DIR_TREE_FLAG_CHILDREN,
				                             glob_cb, &gc);
				if (gc.nomem)
					st = oom(wim, err, errlen);
				else if (rc)
					st = wimlib_fail(wim, NULL, rc, errno, real, err, errlen);
			}
			free(pattern);
		} else {
			st = resolve_norm(wim, index, norm, 0, &real, NULL, err, errlen);
			if (OFFSERV_SUCCEEDED(st) && !strv_push(&todo, strdup(real)))
				st = oom(wim, err, errlen);
		}
		free(norm);
		if (OFFSERV_SUCCEEDED(st) && local &&
		    !strv_push(&where, join2(destdir, real[1] ? real + 1 : "")))
			st = oom(wim, err, errlen);
		free(real);
		if (OFFSERV_FAILED(st))
			goto out;
	}
	if (todo.n) {
		errno = 0;
		rc = wimlib_extract_paths(wim->w, index, destdir, (const char *const *)todo.v, todo.n,
		                          WIMLIB_EXTRACT_FLAG_NORPFIX);
		if (rc) {
			st = wimlib_fail(wim, NULL, rc, errno, "cannot extract", err, errlen);
			goto out;
		}
	}
	if (local) {
		*local = where.v;
		where.v = NULL;
	}
out:
	offserv_wim_strv_free(todo.v, todo.n);
	offserv_wim_strv_free(where.v, where.n);
	return st;
}

/* ---------------------------------------------------------------------- */
/* Commit                                                                  */

offserv_status offserv_wim_commit(struct offserv_wim *wim, int flags, char *err, size_t errlen)
{
	int write_flags = 0;
	int rc;

	if (!wim->writable) {
		offserv_set_error(err, errlen, "%s: opened read-only", wim->path);
		return OFFSERV_E_ACCESS_DENIED;
	}
	if (wim->broken) {
		offserv_set_error(err, errlen, "%s: an earlier commit failed; reopen the WIM",
		                  wim->path);
		return OFFSERV_E_UNEXPECTED;
	}
	if (!(flags & OFFSERV_WIM_COMMIT_NO_FSYNC))
		write_flags |= WIMLIB_WRITE_FLAG_FSYNC;
	if (flags & OFFSERV_WIM_COMMIT_REBUILD)
		write_flags |= WIMLIB_WRITE_FLAG_REBUILD;
	errno = 0;
	rc = wimlib_overwrite(wim->w, write_flags, 0);
	if (rc) {
		wim->broken = 1;
		return wimlib_fail(wim, NULL, rc, errno, "cannot write the WIM", err, errlen);
	}
	return OFFSERV_OK;
}

/* ---------------------------------------------------------------------- */
/* Change sets                                                             */

enum cs_kind { CS_DIR, CS_FILE, CS_LINK, CS_DELETE, CS_RENAME };

struct cs_entry {
	enum cs_kind kind;
	char *path;  /* normalised image path as the caller spelled it */
	char *path2; /* CS_FILE: local source; CS_LINK: target; CS_RENAME: destination */
	void *sd;
	size_t sd_len;
	int have_sd;
	uint32_t attributes;
	char *real;  /* resolved at apply time */
};

struct offserv_wim_changeset {
	struct offserv_wim *wim;
	int index;
	struct cs_entry *e;
	size_t n, cap;
	uint64_t bytes;
	int applied;
	/* The CS_FILE entries by folded path: open addressing over entry
	 * index + 1 (0 is a free slot), power-of-two size. */
	size_t *files;
	size_t files_cap, n_files;
};

offserv_status offserv_wim_changeset_new(struct offserv_wim *wim, int index,
                                         struct offserv_wim_changeset **out, char *err,
                                         size_t errlen)
{
	struct offserv_wim_changeset *cs;

	*out = NULL;
	if (!wim->writable) {
		offserv_set_error(err, errlen, "%s: opened read-only, cannot be changed", wim->path);
		return OFFSERV_E_ACCESS_DENIED;
	}
	if (!check_index(wim, index, err, errlen))
		return OFFSERV_E_INVALIDARG;
	cs = calloc(1, sizeof(*cs));
	if (!cs)
		return oom(wim, err, errlen);
	cs->wim = wim;
	cs->index = index;
	*out = cs;
	return OFFSERV_OK;
}

void offserv_wim_changeset_free(struct offserv_wim_changeset *cs)
{
	if (!cs)
		return;
	for (size_t i = 0; i < cs->n; i++) {
		free(cs->e[i].path);
		free(cs->e[i].path2);
		free(cs->e[i].sd);
		free(cs->e[i].real);
	}
	free(cs->e);
	free(cs->files);
	free(cs);
}

uint64_t offserv_wim_changeset_bytes(const struct offserv_wim_changeset *cs)
{
	return cs->bytes;
}

static offserv_status cs_push(struct offserv_wim_changeset *cs, enum cs_kind kind,
                              const char *path, const char *path2, int norm2, const void *sd,
                              size_t sd_len, uint32_t attributes, char *err, size_t errlen)
{
	struct cs_entry e;

	if (cs->applied) {
		offserv_set_error(err, errlen, "%s: change set already applied", cs->wim->path);
		return OFFSERV_E_UNEXPECTED;
	}
	memset(&e, 0, sizeof(e));
	e.kind = kind;
	e.attributes = attributes;
	e.path = norm_path(path);
	if (!e.path || strcmp(e.path, "/") == 0) {
		free(e.path);
		offserv_set_error(err, errlen, "%s: bad image path \"%s\"", cs->wim->path, path);
		return OFFSERV_E_BAD_PATHNAME;
	}
	if (path2) {
		e.path2 = norm2 ? norm_path(path2) : strdup(path2);
		if (!e.path2 || (norm2 && strcmp(e.path2, "/") == 0)) {
			free(e.path);
			free(e.path2);
			offserv_set_error(err, errlen, "%s: bad path \"%s\"", cs->wim->path, path2);
			return OFFSERV_E_BAD_PATHNAME;
		}
	}
	if (sd) {
		if (sd_len < 20) {
			free(e.path);
			free(e.path2);
			offserv_set_error(err, errlen, "%s: %s: security descriptor too short (%zu bytes)",
			                  cs->wim->path, path, sd_len);
			return OFFSERV_E_INVALID_DATA;
		}
		e.sd = malloc(sd_len);
		if (!e.sd) {
			free(e.path);
			free(e.path2);
			return oom(cs->wim, err, errlen);
		}
		memcpy(e.sd, sd, sd_len);
		e.sd_len = sd_len;
		e.have_sd = 1;
	}
	if (cs->n == cs->cap) {
		size_t cap = cs->cap ? cs->cap * 2 : 32;
		struct cs_entry *n = realloc(cs->e, cap * sizeof(*n));

		if (!n) {
			free(e.path);
			free(e.path2);
			free(e.sd);
			return oom(cs->wim, err, errlen);
		}
		cs->e = n;
		cs->cap = cap;
	}
	if (kind == CS_FILE && (cs->n_files + 1) * 2 > cs->files_cap) {
		size_t cap = cs->files_cap ? cs->files_cap * 2 : 64;
		size_t *n = calloc(cap, sizeof(*n));

		if (!n) {
			free(e.path);
			free(e.path2);
			free(e.sd);
			return oom(cs->wim, err, errlen);
		}
		for (size_t i = 0; i < cs->files_cap; i++) {
			size_t j;

			if (!cs->files[i])
				continue;
			for (j = (size_t)fold_hash(cs->e[cs->files[i] - 1].path) & (cap - 1); n[j];
			     j = (j + 1) & (cap - 1))
				;
			n[j] = cs->files[i];
		}
		free(cs->files);
		cs->files = n;
		cs->files_cap = cap;
	}
	cs->e[cs->n++] = e;
	if (kind == CS_FILE) {
		size_t j;

		for (j = (size_t)fold_hash(e.path) & (cs->files_cap - 1); cs->files[j];
		     j = (j + 1) & (cs->files_cap - 1))
			;
		cs->files[j] = cs->n;
		cs->n_files++;
	}
	return OFFSERV_OK;
}

offserv_status offserv_wim_changeset_add_dir(struct offserv_wim_changeset *cs,
                                             const char *path, const void *sd, size_t sd_len,
                                             uint32_t attributes, char *err, size_t errlen)
{
	return cs_push(cs, CS_DIR, path, NULL, 0, sd, sd_len, attributes, err, errlen);
}

offserv_status offserv_wim_changeset_add_file(struct offserv_wim_changeset *cs,
                                              const char *path, const char *src,
                                              const void *sd, size_t sd_len,
                                              uint32_t attributes, char *err, size_t errlen)
{
	struct stat sb;

	if (!src || stat(src, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		int e = src ? errno : EINVAL;
		offserv_set_error(err, errlen, "%s: source for %s: %s: %s", cs->wim->path, path,
		                  src ? src : "(none)",
		                  src && e == 0 ? "not a regular file" : strerror(e));
		return e == ENOENT ? OFFSERV_E_FILE_NOT_FOUND : OFFSERV_E_INVALIDARG;
	}
	cs->bytes += (uint64_t)sb.st_size;
	return cs_push(cs, CS_FILE, path, src, 0, sd, sd_len, attributes, err, errlen);
}

/* The first CS_FILE entry for @p norm, in any case. */
static struct cs_entry *find_file(struct offserv_wim_changeset *cs, const char *norm)
{
	struct cs_entry *best = NULL;

	if (!cs->files_cap)
		return NULL;
	for (size_t j = (size_t)fold_hash(norm) & (cs->files_cap - 1); cs->files[j];
	     j = (j + 1) & (cs->files_cap - 1)) {
		struct cs_entry *e = &cs->e[cs->files[j] - 1];

		if (name_eq_nocase(e->path, norm) && (!best || e < best))
			best = e;
	}
	return best;
}

offserv_status offserv_wim_changeset_link(struct offserv_wim_changeset *cs,
                                          const char *target, const char *link_path,
                                          char *err, size_t errlen)
{
	char *t = norm_path(target);
	int found = t && find_file(cs, t);

	free(t);
	if (!found) {
		offserv_set_error(err, errlen,
		                  "%s: link %s: target %s is not a file added by this change set",
		                  cs->wim->path, link_path, target);
		return OFFSERV_E_INVALIDARG;
	}
	return cs_push(cs, CS_LINK, link_path, target, 1, NULL, 0, 0, err, errlen);
}

offserv_status offserv_wim_changeset_delete(struct offserv_wim_changeset *cs,
                                            const char *path, char *err, size_t errlen)
{
	char *real = NULL;
	offserv_status st = offserv_wim_resolve(cs->wim, cs->index, path, 0, &real, err, errlen);

	if (OFFSERV_FAILED(st))
		return st;
	st = cs_push(cs, CS_DELETE, real, NULL, 0, NULL, 0, 0, err, errlen);
	free(real);
	return st;
}

offserv_status offserv_wim_changeset_rename(struct offserv_wim_changeset *cs,
                                            const char *from, const char *to, char *err,
                                            size_t errlen)
{
	char *real = NULL, *norm_to, *slash, *parent_real = NULL, *dest;
	offserv_status st = offserv_wim_resolve(cs->wim, cs->index, from, 0, &real, err, errlen);

	if (OFFSERV_FAILED(st))
		return st;
	norm_to = norm_path(to);
	if (!norm_to || strcmp(norm_to, "/") == 0) {
		free(real);
		free(norm_to);
		offserv_set_error(err, errlen, "%s: bad image path \"%s\"", cs->wim->path, to);
		return OFFSERV_E_BAD_PATHNAME;
	}
	slash = strrchr(norm_to, '/');
	*slash = '\0';
	st = offserv_wim_resolve(cs->wim, cs->index, norm_to[0] ? norm_to : "/", 0, &parent_real,
	                         err, errlen);
	if (OFFSERV_SUCCEEDED(st)) {
		dest = join2(parent_real, slash + 1);
		if (!dest)
			st = oom(cs->wim, err, errlen);
		else
			st = cs_push(cs, CS_RENAME, real, dest, 0, NULL, 0, 0, err, errlen);
		free(dest);
	} else if (st == OFFSERV_E_FILE_NOT_FOUND) {
		st = OFFSERV_E_PATH_NOT_FOUND;
	}
	free(parent_real);
	free(norm_to);
	free(real);
	return st;
}

/* ---- applying ---- */

/*
 * A directory of the scratch volume: the image's own directory when it
 * exists, or a new one.
 *
 * wimlib 1.13 merges a captured tree over existing directories by name,
 * case-sensitively, and keeps the existing directory's own descriptor,
 * attributes and times (measured); only new entries take the volume's
 * metadata.  So the volume must spell existing directories exactly as the
 * image does, or a second "system32" would appear beside "System32".  The
 * image's metadata is copied onto them too, so the result stays right
 * should a wimlib version take the volume's metadata instead.  mkntfs
 * leaves nothing the NTFS capture takes besides the root ($MFT, $Extend
 * and the other system files are hidden from it): no exclusion list is
 * needed.
 */
struct vdir {
	char *key;   /* normalised caller path, for case-insensitive lookup */
	char *real;  /* spelling used in the volume (= in the image) */
	int exists;  /* in the image */
	int explicit_meta;
	struct offserv_wim_stat st; /* image metadata, or what the new dir gets */
	struct vdir *next;
};

struct apply_ctx {
	struct offserv_wim_changeset *cs;
	struct vdir **buckets;
	size_t nbuckets;
	struct vdir **order; /* parents first */
	size_t n, cap;
	char *err;
	size_t errlen;
};

static size_t hash_nocase(const char *s, size_t nbuckets)
{
	return (size_t)(fold_hash(s) % nbuckets);
}

static struct vdir *vdir_find(struct apply_ctx *a, const char *key)
{
	for (struct vdir *d = a->buckets[hash_nocase(key, a->nbuckets)]; d; d = d->next)
		if (name_eq_nocase(d->key, key))
			return d;
	return NULL;
}

static void vdir_free_all(struct apply_ctx *a)
{
	for (size_t i = 0; i < a->n; i++) {
		free(a->order[i]->key);
		free(a->order[i]->real);
		offserv_wim_stat_clear(&a->order[i]->st);
		free(a->order[i]);
	}
	free(a->order);
	free(a->buckets);
}

static int copy_sd(struct offserv_wim_stat *dst, const void *sd, size_t len)
{
	free(dst->sd);
	dst->sd = NULL;
	dst->sd_len = 0;
	if (!sd || !len)
		return 1;
	dst->sd = malloc(len);
	if (!dst->sd)
		return 0;
	memcpy(dst->sd, sd, len);
	dst->sd_len = len;
	return 1;
}

/* Find or create the vdir for the normalised path @key (parents first). */
static offserv_status vdir_get(struct apply_ctx *a, const char *key, struct vdir **out)
{
	struct offserv_wim *wim = a->cs->wim;
	struct vdir *d = vdir_find(a, key), *parent = NULL;
	offserv_status st = OFFSERV_OK;
	const char *name;
	size_t b;

	if (d) {
		*out = d;
		return OFFSERV_OK;
	}
	if (strcmp(key, "/") != 0) {
		char *pkey = strdup(key);
		char *slash;

		if (!pkey)
			return oom(wim, a->err, a->errlen);
		slash = strrchr(pkey, '/');
		if (slash == pkey)
			slash[1] = '\0';
		else
			*slash = '\0';
		st = vdir_get(a, pkey, &parent);
		free(pkey);
		if (OFFSERV_FAILED(st))
			return st;
	}
	d = calloc(1, sizeof(*d));
	if (!d || !(d->key = strdup(key)))
		goto nomem;
	name = strrchr(key, '/') + 1;
	if (!parent) {
		/* the root */
		int r = stat_exact(wim, a->cs->index, "/", &d->st, &st, a->err, a->errlen);

		if (r <= 0)
			goto fail;
		d->exists = 1;
		d->real = strdup("/");
	} else if (parent->exists) {
		char *cand = join2(parent->real, name);
		int r;

		if (!cand)
			goto nomem;
		r = stat_exact(wim, a->cs->index, cand, &d->st, &st, a->err, a->errlen);
		if (r < 0) {
			free(cand);
			goto fail;
		}
		if (r == 0) {
			char *found = NULL;

			r = ci_child(wim, a->cs->index, parent->real, name, &found, &st, a->err,
			             a->errlen);
			if (r < 0) {
				free(cand);
				goto fail;
			}
			if (found) {
				free(cand);
				cand = join2(parent->real, found);
				free(found);
				if (!cand)
					goto nomem;
				r = stat_exact(wim, a->cs->index, cand, &d->st, &st, a->err, a->errlen);
				if (r < 0) {
					free(cand);
					goto fail;
				}
			}
		}
		d->real = cand;
		d->exists = r > 0;
		if (d->exists && !d->st.is_dir) {
			offserv_set_error(a->err, a->errlen, "%s: image %d: %s is a file, not a directory",
			                  wim->path, a->cs->index, cand);
			st = OFFSERV_E_ALREADY_EXISTS;
			goto fail;
		}
	} else {
		d->real = join2(parent->real, name);
	}
	if (!d->real)
		goto nomem;
	if (!d->exists) {
		/* New: the nearest existing ancestor's descriptor, plain attributes. */
		d->st.is_dir = 1;
		d->st.attributes = ATTR_DIRECTORY;
		if (!copy_sd(&d->st, parent->st.sd, parent->st.sd_len))
			goto nomem;
	}
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 64;
		struct vdir **n = realloc(a->order, cap * sizeof(*n));

		if (!n)
			goto nomem;
		a->order = n;
		a->cap = cap;
	}
	a->order[a->n++] = d;
	b = hash_nocase(key, a->nbuckets);
	d->next = a->buckets[b];
	a->buckets[b] = d;
	*out = d;
	return OFFSERV_OK;
nomem:
	st = oom(wim, a->err, a->errlen);
fail:
	if (d) {
		free(d->key);
		free(d->real);
		offserv_wim_stat_clear(&d->st);
		free(d);
	}
	return st;
}

/* Split @norm into the vdir of its parent and the real spelling of the file. */
static offserv_status resolve_leaf(struct apply_ctx *a, const char *norm, struct vdir **parent,
                                   char **real, struct offserv_wim_stat *existing)
{
	struct offserv_wim *wim = a->cs->wim;
	char *pkey = strdup(norm), *slash;
	const char *name = strrchr(norm, '/') + 1;
	offserv_status st;
	int r;

	*real = NULL;
	memset(existing, 0, sizeof(*existing));
	if (!pkey)
		return oom(wim, a->err, a->errlen);
	slash = strrchr(pkey, '/');
	if (slash == pkey)
		slash[1] = '\0';
	else
		*slash = '\0';
	st = vdir_get(a, pkey, parent);
	free(pkey);
	if (OFFSERV_FAILED(st))
		return st;
	*real = join2((*parent)->real, name);
	if (!*real)
		return oom(wim, a->err, a->errlen);
	if (!(*parent)->exists)
		return OFFSERV_OK;
	r = stat_exact(wim, a->cs->index, *real, existing, &st, a->err, a->errlen);
	if (r < 0)
		return st;
	if (r == 0) {
		char *found = NULL;

		r = ci_child(wim, a->cs->index, (*parent)->real, name, &found, &st, a->err,
		             a->errlen);
		if (r < 0)
			return st;
		if (found) {
			free(*real);
			*real = join2((*parent)->real, found);
			free(found);
			if (!*real)
				return oom(wim, a->err, a->errlen);
			r = stat_exact(wim, a->cs->index, *real, existing, &st, a->err, a->errlen);
			if (r < 0)
				return st;
		}
	}
	return OFFSERV_OK;
}

/* Lay the change set out on the volume; fills a->order and the entries' real paths. */
static offserv_status build_volume(struct apply_ctx *a, struct offserv_ntfsvol *vol)
{
	struct offserv_wim_changeset *cs = a->cs;
	offserv_status st;

	/* Directories the caller asked for, with their explicit metadata. */
	for (size_t i = 0; i < cs->n; i++) {
		struct cs_entry *e = &cs->e[i];
		struct vdir *d;

		if (e->kind != CS_DIR)
			continue;
		st = vdir_get(a, e->path, &d);
		if (OFFSERV_FAILED(st))
			return st;
		if (e->have_sd && !copy_sd(&d->st, e->sd, e->sd_len))
			return oom(cs->wim, a->err, a->errlen);
		if (e->attributes)
			d->st.attributes = e->attributes | ATTR_DIRECTORY;
		d->explicit_meta = 1;
		if (!(e->real = strdup(d->real)))
			return oom(cs->wim, a->err, a->errlen);
	}
	/* Parents of files and links. */
	for (size_t i = 0; i < cs->n; i++) {
		struct cs_entry *e = &cs->e[i];
		struct vdir *parent;
		struct offserv_wim_stat ex;

		if (e->kind != CS_FILE && e->kind != CS_LINK)
			continue;
		st = resolve_leaf(a, e->path, &parent, &e->real, &ex);
		if (OFFSERV_SUCCEEDED(st) && ex.path && ex.is_dir) {
			offserv_set_error(a->err, a->errlen, "%s: image %d: %s is a directory",
			                  cs->wim->path, cs->index, ex.path);
			st = OFFSERV_E_ALREADY_EXISTS;
		}
		if (OFFSERV_SUCCEEDED(st) && e->kind == CS_FILE) {
			/* Replaced files keep their metadata; new ones take the parent's SD. */
			if (!e->have_sd) {
				const void *sd = ex.path ? ex.sd : parent->st.sd;
				size_t len = ex.path ? ex.sd_len : parent->st.sd_len;

				if (sd && len) {
					e->sd = malloc(len);
					if (!e->sd) {
						offserv_wim_stat_clear(&ex);
						return oom(cs->wim, a->err, a->errlen);
					}
					memcpy(e->sd, sd, len);
					e->sd_len = len;
					e->have_sd = 1;
				}
			}
			if (!e->attributes)
				e->attributes = ex.path ? ex.attributes : ATTR_ARCHIVE;
		}
		offserv_wim_stat_clear(&ex);
		if (OFFSERV_FAILED(st))
			return st;
	}
	/* Directories, parents first, with the image's or the chosen metadata. */
	for (size_t i = 0; i < a->n; i++) {
		struct vdir *d = a->order[i];

		st = offserv_ntfsvol_mkdir(vol, d->real, d->st.sd, d->st.sd_len,
		                           d->st.attributes ? d->st.attributes : ATTR_DIRECTORY,
		                           a->err, a->errlen);
		if (OFFSERV_FAILED(st))
			return st;
	}
	for (size_t i = 0; i < cs->n; i++) {
		struct cs_entry *e = &cs->e[i];

		if (e->kind != CS_FILE)
			continue;
		st = offserv_ntfsvol_add_file(vol, e->real, e->path2, e->have_sd ? e->sd : NULL,
		                              e->sd_len, e->attributes, a->err, a->errlen);
		if (OFFSERV_FAILED(st))
			return st;
	}
	for (size_t i = 0; i < cs->n; i++) {
		struct cs_entry *e = &cs->e[i];
		struct cs_entry *t;

		if (e->kind != CS_LINK)
			continue;
		t = find_file(cs, e->path2);
		if (!t) {
			offserv_set_error(a->err, a->errlen, "%s: link target %s missing", cs->wim->path,
			                  e->path2);
			return OFFSERV_E_UNEXPECTED;
		}
		st = offserv_ntfsvol_link(vol, t->real, e->real, a->err, a->errlen);
		if (OFFSERV_FAILED(st))
			return st;
	}
	/* Times last: creating entries touched the directories. */
	for (size_t i = 0; i < a->n; i++) {
		struct vdir *d = a->order[i];

		if (!d->exists)
			continue;
		st = offserv_ntfsvol_set_times(vol, d->real, d->st.creation_time,
		                               d->st.last_write_time, d->st.last_access_time,
		                               a->err, a->errlen);
		if (OFFSERV_FAILED(st))
			return st;
	}
	return OFFSERV_OK;
}

offserv_status offserv_wim_changeset_apply(struct offserv_wim_changeset *cs,
                                           const char *scratch_dir, char *err, size_t errlen)
{
	struct offserv_wim *wim = cs->wim;
	struct apply_ctx a = {.cs = cs, .err = err, .errlen = errlen};
	struct wimlib_update_command *cmds = NULL;
	size_t ncmds = 0, nadds = 0;
	char *workdir = NULL, *volpath = NULL;
	offserv_status st = OFFSERV_OK;
	int rc;

	if (cs->applied) {
		offserv_set_error(err, errlen, "%s: change set already applied", wim->path);
		return OFFSERV_E_UNEXPECTED;
	}
	if (wim->broken) {
		offserv_set_error(err, errlen, "%s: an earlier commit failed; reopen the WIM",
		                  wim->path);
		return OFFSERV_E_UNEXPECTED;
	}
	for (size_t i = 0; i < cs->n; i++) {
		if (cs->e[i].kind == CS_DIR || cs->e[i].kind == CS_FILE || cs->e[i].kind == CS_LINK)
			nadds++;
	}
	cmds = calloc(cs->n + 1, sizeof(*cmds));
	if (!cmds)
		return oom(wim, err, errlen);
	for (size_t i = 0; i < cs->n; i++) {
		struct cs_entry *e = &cs->e[i];

		if (e->kind == CS_DELETE) {
			cmds[ncmds].op = WIMLIB_UPDATE_OP_DELETE;
			cmds[ncmds].delete_.wim_path = e->path;
			cmds[ncmds].delete_.delete_flags = WIMLIB_DELETE_FLAG_RECURSIVE;
			ncmds++;
		} else if (e->kind == CS_RENAME) {
			cmds[ncmds].op = WIMLIB_UPDATE_OP_RENAME;
			cmds[ncmds].rename.wim_source_path = e->path;
			cmds[ncmds].rename.wim_target_path = e->path2;
			ncmds++;
		}
	}
	if (nadds) {
		struct offserv_ntfsvol *vol = NULL;
		uint64_t size;
		offserv_status cst;

		a.nbuckets = 1021;
		a.buckets = calloc(a.nbuckets, sizeof(*a.buckets));
		workdir = join2(scratch_dir, "offserv-wim-XXXXXX");
		if (!a.buckets || !workdir) {
			st = oom(wim, err, errlen);
			goto out;
		}
		if (!mkdtemp(workdir)) {
			int e = errno;
			offserv_set_error(err, errlen, "%s: cannot create a scratch folder in %s: %s",
			                  wim->path, scratch_dir, strerror(e));
			free(workdir);
			workdir = NULL;
			st = e == ENOSPC ? OFFSERV_E_DISK_FULL : offserv_status_from_errno(e);
			goto out;
		}
		volpath = join2(workdir, "changes.ntfs");
		if (!volpath) {
			st = oom(wim, err, errlen);
			goto out;
		}
		/* Data plus a cluster and an MFT record per entry, plus log and room. */
		size = cs->bytes + cs->bytes / 8 + (uint64_t)cs->n * 16384u + 32u * 1024u * 1024u;
		st = offserv_ntfsvol_format(volpath, size, err, errlen);
		if (OFFSERV_FAILED(st))
			goto out;
		st = offserv_ntfsvol_open(volpath, &vol, err, errlen);
		if (OFFSERV_FAILED(st))
			goto out;
		st = build_volume(&a, vol);
		cst = offserv_ntfsvol_close(vol, OFFSERV_FAILED(st) ? NULL : err,
		                            OFFSERV_FAILED(st) ? 0 : errlen);
		if (OFFSERV_SUCCEEDED(st))
			st = cst;
		if (OFFSERV_FAILED(st))
			goto out;
		cmds[ncmds].op = WIMLIB_UPDATE_OP_ADD;
		cmds[ncmds].add.fs_source_path = volpath;
		cmds[ncmds].add.wim_target_path = (char *)WIMLIB_WIM_ROOT_PATH;
		cmds[ncmds].add.config_file = NULL;
		cmds[ncmds].add.add_flags = WIMLIB_ADD_FLAG_NTFS;
		ncmds++;
	}
	if (ncmds) {
		errno = 0;
		rc = wimlib_update_image(wim->w, cs->index, cmds, ncmds,
		                         WIMLIB_UPDATE_FLAG_SEND_PROGRESS);
		dirnames_drop(wim); /* the image's directories changed */
		if (rc) {
			st = wimlib_fail(wim, NULL, rc, errno, "cannot update the image", err, errlen);
			goto out;
		}
	}
	cs->applied = 1;
	if (workdir) {
		char **n = realloc(wim->scratch, (wim->n_scratch + 1) * sizeof(*n));

		if (n) {
			wim->scratch = n;
			wim->scratch[wim->n_scratch++] = workdir;
			workdir = NULL;
		}
		/* else removed below: wimlib keeps the volume open, so it stays readable */
	}
out:
	if (workdir)
		offserv_rmtree(workdir, NULL, 0);
	free(workdir);
	free(volpath);
	free(cmds);
	if (a.buckets)
		vdir_free_all(&a);
	return st;
}
