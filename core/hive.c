/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Registry hive files over hivex: navigation, typed values, safe commit. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hivex.h>

#include <offserv/util.h>

#include "hive.h"

/* Smallest file hivex accepts: the 4 KiB header and one 4 KiB hbin. */
#define HIVE_MIN_SIZE 0x2000

struct offserv_hive {
	hive_h *h;
	char *path;
	int writable;
};

static offserv_status oom(const struct offserv_hive *h, char *err, size_t errlen)
{
	offserv_set_error(err, errlen, "%s: out of memory", h ? h->path : "hive");
	return OFFSERV_E_OUTOFMEMORY;
}

/* A failed hivex call while reading the hive's structure. */
static offserv_status hive_fail(const struct offserv_hive *h, int e, const char *what,
                                char *err, size_t errlen)
{
	if (e == ENOMEM)
		return oom(h, err, errlen);
	offserv_set_error(err, errlen, "%s: %s: %s", h->path, what,
	                  e ? strerror(e) : "damaged registry hive");
	return e == EROFS ? OFFSERV_E_ACCESS_DENIED : OFFSERV_E_FILE_CORRUPT;
}

static offserv_status need_writable(const struct offserv_hive *h, char *err, size_t errlen)
{
	if (h->writable)
		return OFFSERV_OK;
	offserv_set_error(err, errlen, "%s: the hive was opened read-only", h->path);
	return OFFSERV_E_ACCESS_DENIED;
}

/* Check the file before hivex does, to say plainly what is wrong with it. */
static offserv_status precheck(const char *path, char *err, size_t errlen)
{
	unsigned char hdr[4];
	struct stat st;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		int e = errno;
		offserv_set_error(err, errlen, "%s: cannot open registry hive: %s", path,
		                  strerror(e));
		return offserv_status_from_errno(e);
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		offserv_set_error(err, errlen, "%s: not a regular file", path);
		return OFFSERV_E_BAD_FORMAT;
	}
	do
		n = read(fd, hdr, sizeof(hdr));
	while (n < 0 && errno == EINTR);
	close(fd);
	if (n != (ssize_t)sizeof(hdr) || memcmp(hdr, "regf", 4) != 0) {
		offserv_set_error(err, errlen, "%s: not a registry hive (no \"regf\" signature)",
		                  path);
		return OFFSERV_E_BAD_FORMAT;
	}
	if (st.st_size < HIVE_MIN_SIZE) {
		offserv_set_error(err, errlen,
		                  "%s: not a registry hive (%lld bytes, too small for a header and one bin)",
		                  path, (long long)st.st_size);
		return OFFSERV_E_BAD_FORMAT;
	}
	return OFFSERV_OK;
}

offserv_status offserv_hive_open(const char *path, int flags, struct offserv_hive **out,
                                 char *err, size_t errlen)
{
	struct offserv_hive *h;
	offserv_status st;

	*out = NULL;
	if (!path || (flags & ~OFFSERV_HIVE_WRITE)) {
		offserv_set_error(err, errlen, "%s: invalid arguments to open a hive",
		                  path ? path : "(null)");
		return OFFSERV_E_INVALIDARG;
	}
	st = precheck(path, err, errlen);
	if (st != OFFSERV_OK)
		return st;
	h = calloc(1, sizeof(*h));
	if (!h || !(h->path = strdup(path))) {
		free(h);
		offserv_set_error(err, errlen, "%s: out of memory", path);
		return OFFSERV_E_OUTOFMEMORY;
	}
	h->writable = (flags & OFFSERV_HIVE_WRITE) != 0;
	errno = 0;
	h->h = hivex_open(path, h->writable ? HIVEX_OPEN_WRITE : 0);
	if (!h->h) {
		int e = errno;

		if (e == ENOMEM) {
			st = OFFSERV_E_OUTOFMEMORY;
			offserv_set_error(err, errlen, "%s: out of memory", path);
		} else if (e == ENOTSUP || e == EINVAL || e == EFAULT || e == ERANGE ||
		           e == 0) {
			st = OFFSERV_E_BAD_FORMAT;
			offserv_set_error(err, errlen,
			                  "%s: not a valid registry hive (bad header, version, checksum or root key)",
			                  path);
		} else {
			st = offserv_status_from_errno(e);
			offserv_set_error(err, errlen, "%s: cannot open registry hive: %s", path,
			                  strerror(e));
		}
		free(h->path);
		free(h);
		return st;
	}
	*out = h;
	return OFFSERV_OK;
}

void offserv_hive_close(struct offserv_hive *h)
{
	if (!h)
		return;
	if (h->h)
		hivex_close(h->h);
	free(h->path);
	free(h);
}

const char *offserv_hive_path(const struct offserv_hive *h)
{
	return h->path;
}

offserv_hive_key offserv_hive_root(struct offserv_hive *h)
{
	return hivex_root(h->h);
}

/*
 * Walk @p path from @p from; with @p create, add missing components.
 * Components are separated by backslashes; leading and trailing ones are
 * ignored, empty components inside are refused.
 */
static offserv_status walk(struct offserv_hive *h, offserv_hive_key from, const char *path,
                           int create, offserv_hive_key *out, char *err, size_t errlen)
{
	offserv_hive_key node = from ? from : hivex_root(h->h);
	const char *p = path ? path : "";
	size_t plen = strlen(p);
	char *comp;

	if (!node)
		return hive_fail(h, errno, "no root key", err, errlen);
	if (create) {
		offserv_status st = need_writable(h, err, errlen);
		if (st != OFFSERV_OK)
			return st;
	}
	while (plen > 0 && p[plen - 1] == '\\')
		plen--;
	if (plen > 0 && *p == '\\') {
		p++;
		plen--;
	}
	comp = malloc(plen + 1);
	if (!comp)
		return oom(h, err, errlen);
	while (plen > 0) {
		const char *sep = memchr(p, '\\', plen);
		size_t n = sep ? (size_t)(sep - p) : plen;
		hive_node_h child;

		if (n == 0) {
			offserv_set_error(err, errlen, "%s: key path \"%s\" has an empty component",
			                  h->path, path);
			free(comp);
			return OFFSERV_E_INVALIDARG;
		}
		memcpy(comp, p, n);
		comp[n] = '\0';
		errno = 0;
		child = hivex_node_get_child(h->h, node, comp);
		if (!child && errno != 0) {
			offserv_status st = hive_fail(h, errno, "cannot read subkeys", err, errlen);
			free(comp);
			return st;
		}
		if (!child && !create) {
			offserv_set_error(err, errlen, "%s: key \"%s\" not found (no \"%s\")",
			                  h->path, path, comp);
			free(comp);
			return OFFSERV_E_FILE_NOT_FOUND;
		}
		if (!child) {
			errno = 0;
			child = hivex_node_add_child(h->h, node, comp);
			if (!child) {
				int e = errno;
				offserv_set_error(err, errlen, "%s: cannot create key \"%s\" in \"%s\": %s",
				                  h->path, comp, path, e ? strerror(e) : "hive error");
				free(comp);
				return e == ENOMEM ? OFFSERV_E_OUTOFMEMORY
				                   : (e == EINVAL ? OFFSERV_E_INVALIDARG
				                                  : OFFSERV_E_FILE_CORRUPT);
			}
		}
		node = child;
		p += n;
		plen -= n;
		if (plen > 0) {
			p++;
			plen--;
			if (plen == 0) {
				break;
			}
		}
	}
	free(comp);
	*out = node;
	return OFFSERV_OK;
}

offserv_status offserv_hive_find(struct offserv_hive *h, offserv_hive_key from,
                                 const char *path, offserv_hive_key *out, char *err,
                                 size_t errlen)
{
	return walk(h, from, path, 0, out, err, errlen);
}

offserv_status offserv_hive_create(struct offserv_hive *h, offserv_hive_key from,
                                   const char *path, offserv_hive_key *out, char *err,
                                   size_t errlen)
{
	return walk(h, from, path, 1, out, err, errlen);
}

offserv_status offserv_hive_delete_key(struct offserv_hive *h, offserv_hive_key from,
                                       const char *path, char *err, size_t errlen)
{
	offserv_hive_key node;
	offserv_status st = need_writable(h, err, errlen);

	if (st != OFFSERV_OK)
		return st;
	st = walk(h, from, path, 0, &node, err, errlen);
	if (st != OFFSERV_OK)
		return st;
	if (node == hivex_root(h->h)) {
		offserv_set_error(err, errlen, "%s: cannot delete the root key", h->path);
		return OFFSERV_E_INVALIDARG;
	}
	errno = 0;
	if (hivex_node_delete_child(h->h, node) != 0)
		return hive_fail(h, errno, "cannot delete key", err, errlen);
	return OFFSERV_OK;
}

offserv_status offserv_hive_key_name(struct offserv_hive *h, offserv_hive_key key,
                                     char **out, char *err, size_t errlen)
{
	errno = 0;
	*out = hivex_node_name(h->h, key);
	if (!*out)
		return hive_fail(h, errno, "cannot read key name", err, errlen);
	return OFFSERV_OK;
}

void offserv_hive_free_names(char **names)
{
	if (!names)
		return;
	for (size_t i = 0; names[i]; i++)
		free(names[i]);
	free(names);
}

offserv_status offserv_hive_subkeys(struct offserv_hive *h, offserv_hive_key key,
                                    char ***names, size_t *count, char *err,
                                    size_t errlen)
{
	hive_node_h *kids;
	size_t n = 0;
	char **v;

	*names = NULL;
	if (count)
		*count = 0;
	errno = 0;
	kids = hivex_node_children(h->h, key);
	if (!kids)
		return hive_fail(h, errno, "cannot read subkeys", err, errlen);
	while (kids[n])
		n++;
	v = calloc(n + 1, sizeof(*v));
	if (!v) {
		free(kids);
		return oom(h, err, errlen);
	}
	for (size_t i = 0; i < n; i++) {
		errno = 0;
		v[i] = hivex_node_name(h->h, kids[i]);
		if (!v[i]) {
			offserv_status st = hive_fail(h, errno, "cannot read key name", err, errlen);
			free(kids);
			offserv_hive_free_names(v);
			return st;
		}
	}
	free(kids);
	*names = v;
	if (count)
		*count = n;
	return OFFSERV_OK;
}

offserv_status offserv_hive_value_names(struct offserv_hive *h, offserv_hive_key key,
                                        char ***names, size_t *count, char *err,
                                        size_t errlen)
{
	hive_value_h *vals;
	size_t n = 0;
	char **v;

	*names = NULL;
	if (count)
		*count = 0;
	errno = 0;
	vals = hivex_node_values(h->h, key);
	if (!vals)
		return hive_fail(h, errno, "cannot read values", err, errlen);
	while (vals[n])
		n++;
	v = calloc(n + 1, sizeof(*v));
	if (!v) {
		free(vals);
		return oom(h, err, errlen);
	}
	for (size_t i = 0; i < n; i++) {
		errno = 0;
		v[i] = hivex_value_key(h->h, vals[i]);
		if (!v[i]) {
			offserv_status st = hive_fail(h, errno, "cannot read value name", err, errlen);
			free(vals);
			offserv_hive_free_names(v);
			return st;
		}
	}
	free(vals);
	*names = v;
	if (count)
		*count = n;
	return OFFSERV_OK;
}

/* The value handle named @p name (any case); 0 with OFFSERV_OK when absent. */
static offserv_status find_value(struct offserv_hive *h, offserv_hive_key key,
                                 const char *name, hive_value_h *out, char *err,
                                 size_t errlen)
{
	hive_value_h *vals;
	offserv_status st = OFFSERV_OK;

	*out = 0;
	errno = 0;
	vals = hivex_node_values(h->h, key);
	if (!vals)
		return hive_fail(h, errno, "cannot read values", err, errlen);
	for (size_t i = 0; vals[i]; i++) {
		char *k;

		errno = 0;
		k = hivex_value_key(h->h, vals[i]);
		if (!k) {
			st = hive_fail(h, errno, "cannot read value name", err, errlen);
			break;
		}
		if (strcasecmp(k, name) == 0) {
			*out = vals[i];
			free(k);
			break;
		}
		free(k);
	}
	free(vals);
	return st;
}

offserv_status offserv_hive_get_value(struct offserv_hive *h, offserv_hive_key key,
                                      const char *name, uint32_t *type, uint8_t **data,
                                      size_t *len, char *err, size_t errlen)
{
	hive_value_h v;
	hive_type t;
	size_t n = 0;
	char *raw;
	uint8_t *copy;
	offserv_status st = find_value(h, key, name, &v, err, errlen);

	*data = NULL;
	*len = 0;
	if (st != OFFSERV_OK)
		return st;
	if (!v) {
		offserv_set_error(err, errlen, "%s: value \"%s\" not found", h->path, name);
		return OFFSERV_E_FILE_NOT_FOUND;
	}
	errno = 0;
	raw = hivex_value_value(h->h, v, &t, &n);
	if (!raw)
		return hive_fail(h, errno, "cannot read value data", err, errlen);
	copy = malloc(n + 1);
	if (!copy) {
		free(raw);
		return oom(h, err, errlen);
	}
	memcpy(copy, raw, n);
	copy[n] = 0;
	free(raw);
	*type = (uint32_t)t;
	*data = copy;
	*len = n;
	return OFFSERV_OK;
}

static offserv_status get_fixed(struct offserv_hive *h, offserv_hive_key key, const char *name,
                                uint32_t want, size_t size, uint64_t *out, char *err,
                                size_t errlen)
{
	uint32_t t;
	uint8_t *d;
	size_t n;
	offserv_status st = offserv_hive_get_value(h, key, name, &t, &d, &n, err, errlen);

	if (st != OFFSERV_OK)
		return st;
	if (t != want || n != size) {
		offserv_set_error(err, errlen,
		                  "%s: value \"%s\" is type %u with %zu bytes, not a %s", h->path,
		                  name, t, n, want == OFFSERV_HIVE_REG_DWORD ? "REG_DWORD" : "REG_QWORD");
		free(d);
		return OFFSERV_E_INVALID_DATA;
	}
	*out = 0;
	for (size_t i = size; i > 0; i--)
		*out = (*out << 8) | d[i - 1];
	free(d);
	return OFFSERV_OK;
}

offserv_status offserv_hive_get_dword(struct offserv_hive *h, offserv_hive_key key,
                                      const char *name, uint32_t *out, char *err,
                                      size_t errlen)
{
	uint64_t v;
	offserv_status st = get_fixed(h, key, name, OFFSERV_HIVE_REG_DWORD, 4, &v, err, errlen);

	if (st == OFFSERV_OK)
		*out = (uint32_t)v;
	return st;
}

offserv_status offserv_hive_get_qword(struct offserv_hive *h, offserv_hive_key key,
                                      const char *name, uint64_t *out, char *err,
                                      size_t errlen)
{
	return get_fixed(h, key, name, OFFSERV_HIVE_REG_QWORD, 8, out, err, errlen);
}

/* Bytes of UTF-16LE up to (not including) the first NUL code unit. */
static size_t utf16_strlen(const uint8_t *d, size_t n)
{
	size_t i;

	for (i = 0; i + 1 < n; i += 2)
		if (d[i] == 0 && d[i + 1] == 0)
			break;
	return i;
}

offserv_status offserv_hive_get_string(struct offserv_hive *h, offserv_hive_key key,
                                       const char *name, char **out, char *err,
                                       size_t errlen)
{
	uint32_t t;
	uint8_t *d;
	size_t n;
	offserv_status st = offserv_hive_get_value(h, key, name, &t, &d, &n, err, errlen);

	*out = NULL;
	if (st != OFFSERV_OK)
		return st;
	if (t != OFFSERV_HIVE_REG_SZ && t != OFFSERV_HIVE_REG_EXPAND_SZ) {
		offserv_set_error(err, errlen, "%s: value \"%s\" is type %u, not a string",
		                  h->path, name, t);
		free(d);
		return OFFSERV_E_INVALID_DATA;
	}
	st = offserv_utf16le_to_utf8(d, utf16_strlen(d, n), out);
	free(d);
	if (st != OFFSERV_OK) {
		*out = NULL;
		offserv_set_error(err, errlen, "%s: value \"%s\" is not valid UTF-16", h->path,
		                  name);
		return st == OFFSERV_E_OUTOFMEMORY ? st : OFFSERV_E_INVALID_DATA;
	}
	return OFFSERV_OK;
}

offserv_status offserv_hive_get_multi_sz(struct offserv_hive *h, offserv_hive_key key,
                                         const char *name, char ***out, size_t *count,
                                         char *err, size_t errlen)
{
	uint32_t t;
	uint8_t *d;
	size_t n, pos = 0, k = 0;
	char **v;
	offserv_status st = offserv_hive_get_value(h, key, name, &t, &d, &n, err, errlen);

	*out = NULL;
	if (count)
		*count = 0;
	if (st != OFFSERV_OK)
		return st;
	if (t != OFFSERV_HIVE_REG_MULTI_SZ) {
		offserv_set_error(err, errlen, "%s: value \"%s\" is type %u, not REG_MULTI_SZ",
		                  h->path, name, t);
		free(d);
		return OFFSERV_E_INVALID_DATA;
	}
	n &= ~(size_t)1;
	/* At most one string per two code units. */
	v = calloc(n / 4 + 2, sizeof(*v));
	if (!v) {
		free(d);
		return oom(h, err, errlen);
	}
	while (pos < n) {
		size_t sl = utf16_strlen(d + pos, n - pos);

		if (sl == 0)
			break;
		st = offserv_utf16le_to_utf8(d + pos, sl, &v[k]);
		if (st != OFFSERV_OK) {
			v[k] = NULL;
			offserv_hive_free_names(v);
			free(d);
			offserv_set_error(err, errlen, "%s: value \"%s\" is not valid UTF-16",
			                  h->path, name);
			return st == OFFSERV_E_OUTOFMEMORY ? st : OFFSERV_E_INVALID_DATA;
		}
		k++;
		pos += sl + 2;
	}
	free(d);
	*out = v;
	if (count)
		*count = k;
	return OFFSERV_OK;
}

/*
 * Replace (@p data not NULL) or delete (@p data NULL) one value, rewriting
 * the node's value list with every other value kept as it was.
 */
static offserv_status rewrite_values(struct offserv_hive *h, offserv_hive_key key,
                                     const char *name, uint32_t type, const void *data,
                                     size_t len, char *err, size_t errlen)
{
	hive_value_h *vals;
	hive_set_value *nv;
	size_t n = 0, k = 0;
	int found = 0;
	offserv_status st = need_writable(h, err, errlen);

	if (st != OFFSERV_OK)
		return st;
	if (!name) {
		offserv_set_error(err, errlen, "%s: value name missing", h->path);
		return OFFSERV_E_INVALIDARG;
	}
	if (data && len > OFFSERV_HIVE_MAX_VALUE_LEN) {
		offserv_set_error(err, errlen,
		                  "%s: value \"%s\" has %zu bytes; values over %u bytes need big-data records, which cannot be written",
		                  h->path, name, len, OFFSERV_HIVE_MAX_VALUE_LEN);
		return OFFSERV_E_NOT_SUPPORTED;
	}
	errno = 0;
	vals = hivex_node_values(h->h, key);
	if (!vals)
		return hive_fail(h, errno, "cannot read values", err, errlen);
	while (vals[n])
		n++;
	nv = calloc(n + 1, sizeof(*nv));
	if (!nv) {
		free(vals);
		return oom(h, err, errlen);
	}
	for (size_t i = 0; i < n; i++) {
		hive_type t;
		size_t vl = 0;
		char *vk;

		errno = 0;
		vk = hivex_value_key(h->h, vals[i]);
		if (!vk) {
			st = hive_fail(h, errno, "cannot read value name", err, errlen);
			goto out;
		}
		if (strcasecmp(vk, name) == 0) {
			free(vk);
			found = 1;
			continue;
		}
		errno = 0;
		nv[k].value = hivex_value_value(h->h, vals[i], &t, &vl);
		if (!nv[k].value) {
			free(vk);
			st = hive_fail(h, errno, "cannot read value data", err, errlen);
			goto out;
		}
		nv[k].key = vk;
		nv[k].t = t;
		nv[k].len = vl;
		k++;
		if (vl > OFFSERV_HIVE_MAX_VALUE_LEN) {
			offserv_set_error(err, errlen,
			                  "%s: the key holds value \"%s\" of %zu bytes (a big-data value), which cannot be rewritten",
			                  h->path, vk, vl);
			st = OFFSERV_E_NOT_SUPPORTED;
			goto out;
		}
	}
	if (!data && !found) {
		offserv_set_error(err, errlen, "%s: value \"%s\" not found", h->path, name);
		st = OFFSERV_E_FILE_NOT_FOUND;
		goto out;
	}
	if (data) {
		nv[k].key = strdup(name);
		nv[k].value = malloc(len ? len : 1);
		if (!nv[k].key || !nv[k].value) {
			k++;
			st = oom(h, err, errlen);
			goto out;
		}
		memcpy(nv[k].value, data, len);
		nv[k].t = (hive_type)type;
		nv[k].len = len;
		k++;
	}
	errno = 0;
	if (hivex_node_set_values(h->h, key, k, nv, 0) != 0) {
		int e = errno;
		offserv_set_error(err, errlen, "%s: cannot set value \"%s\": %s", h->path, name,
		                  e ? strerror(e) : "hive error");
		st = e == ENOMEM ? OFFSERV_E_OUTOFMEMORY : OFFSERV_E_FILE_CORRUPT;
	}
out:
	for (size_t i = 0; i < k; i++) {
		free(nv[i].key);
		free(nv[i].value);
	}
	free(nv);
	free(vals);
	return st;
}

offserv_status offserv_hive_set_value(struct offserv_hive *h, offserv_hive_key key,
                                      const char *name, uint32_t type, const void *data,
                                      size_t len, char *err, size_t errlen)
{
	static const uint8_t empty[1];

	return rewrite_values(h, key, name, type, data ? data : empty, data ? len : 0, err,
	                      errlen);
}

offserv_status offserv_hive_delete_value(struct offserv_hive *h, offserv_hive_key key,
                                         const char *name, char *err, size_t errlen)
{
	return rewrite_values(h, key, name, 0, NULL, 0, err, errlen);
}

static offserv_status set_string(struct offserv_hive *h, offserv_hive_key key,
                                 const char *name, uint32_t type, const char *utf8, char *err,
                                 size_t errlen)
{
	uint8_t *w;
	size_t wl;
	offserv_status st = offserv_utf8_to_utf16le(utf8 ? utf8 : "", &w, &wl);

	if (st != OFFSERV_OK) {
		offserv_set_error(err, errlen, "%s: value \"%s\": string is not valid UTF-8",
		                  h->path, name ? name : "");
		return st == OFFSERV_E_OUTOFMEMORY ? st : OFFSERV_E_INVALIDARG;
	}
	st = offserv_hive_set_value(h, key, name, type, w, wl, err, errlen);
	free(w);
	return st;
}

offserv_status offserv_hive_set_sz(struct offserv_hive *h, offserv_hive_key key,
                                   const char *name, const char *utf8, char *err,
                                   size_t errlen)
{
	return set_string(h, key, name, OFFSERV_HIVE_REG_SZ, utf8, err, errlen);
}

offserv_status offserv_hive_set_expand_sz(struct offserv_hive *h, offserv_hive_key key,
                                          const char *name, const char *utf8, char *err,
                                          size_t errlen)
{
	return set_string(h, key, name, OFFSERV_HIVE_REG_EXPAND_SZ, utf8, err, errlen);
}

offserv_status offserv_hive_set_multi_sz(struct offserv_hive *h, offserv_hive_key key,
                                         const char *name, const char *const *strings,
                                         size_t count, char *err, size_t errlen)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	offserv_status st;

	for (size_t i = 0; i < count; i++) {
		uint8_t *w, *nb;
		size_t wl;

		if (!strings[i] || !*strings[i]) {
			free(buf);
			offserv_set_error(err, errlen,
			                  "%s: value \"%s\": a REG_MULTI_SZ cannot hold an empty string",
			                  h->path, name ? name : "");
			return OFFSERV_E_INVALIDARG;
		}
		st = offserv_utf8_to_utf16le(strings[i], &w, &wl);
		if (st != OFFSERV_OK) {
			free(buf);
			offserv_set_error(err, errlen, "%s: value \"%s\": string is not valid UTF-8",
			                  h->path, name ? name : "");
			return st == OFFSERV_E_OUTOFMEMORY ? st : OFFSERV_E_INVALIDARG;
		}
		nb = realloc(buf, len + wl + 2);
		if (!nb) {
			free(w);
			free(buf);
			return oom(h, err, errlen);
		}
		buf = nb;
		memcpy(buf + len, w, wl);
		len += wl;
		free(w);
	}
	{
		uint8_t *nb = realloc(buf, len + 2);
		if (!nb) {
			free(buf);
			return oom(h, err, errlen);
		}
		buf = nb;
		buf[len] = 0;
		buf[len + 1] = 0;
		len += 2;
	}
	st = offserv_hive_set_value(h, key, name, OFFSERV_HIVE_REG_MULTI_SZ, buf, len, err, errlen);
	free(buf);
	return st;
}

offserv_status offserv_hive_set_dword(struct offserv_hive *h, offserv_hive_key key,
                                      const char *name, uint32_t v, char *err,
                                      size_t errlen)
{
	uint8_t b[4];

	for (int i = 0; i < 4; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	return offserv_hive_set_value(h, key, name, OFFSERV_HIVE_REG_DWORD, b, 4, err, errlen);
}

offserv_status offserv_hive_set_qword(struct offserv_hive *h, offserv_hive_key key,
                                      const char *name, uint64_t v, char *err,
                                      size_t errlen)
{
	uint8_t b[8];

	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	return offserv_hive_set_value(h, key, name, OFFSERV_HIVE_REG_QWORD, b, 8, err, errlen);
}

offserv_status offserv_hive_set_binary(struct offserv_hive *h, offserv_hive_key key,
                                       const char *name, const void *data, size_t len,
                                       char *err, size_t errlen)
{
	return offserv_hive_set_value(h, key, name, OFFSERV_HIVE_REG_BINARY, data, len, err,
	                              errlen);
}

static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		return strdup(".");
	if (slash == path)
		return strdup("/");
	return strndup(path, (size_t)(slash - path));
}

offserv_status offserv_hive_commit(struct offserv_hive *h, const char *path, char *err,
                                   size_t errlen)
{
	const char *target = path ? path : h->path;
	mode_t mode = 0644;
	struct stat st;
	char *tmp, *dir;
	int fd, e;
	offserv_status rc = need_writable(h, err, errlen);

	if (rc != OFFSERV_OK)
		return rc;
	if (stat(target, &st) == 0) {
		if (!S_ISREG(st.st_mode)) {
			offserv_set_error(err, errlen, "%s: cannot commit hive: not a regular file",
			                  target);
			return OFFSERV_E_ACCESS_DENIED;
		}
		mode = st.st_mode & 07777;
	}
	tmp = malloc(strlen(target) + sizeof(".tmp.XXXXXX"));
	if (!tmp)
		return oom(h, err, errlen);
	sprintf(tmp, "%s.tmp.XXXXXX", target);
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		e = errno;
		offserv_set_error(err, errlen, "%s: cannot create a temporary file beside it: %s",
		                  target, strerror(e));
		free(tmp);
		return e == ENOENT ? OFFSERV_E_PATH_NOT_FOUND : offserv_status_from_errno(e);
	}
	/* hivex writes the whole image to the name; our descriptor stays on the inode. */
	errno = 0;
	if (hivex_commit(h->h, tmp, 0) != 0) {
		e = errno;
		offserv_set_error(err, errlen, "%s: cannot write hive: %s", tmp,
		                  e ? strerror(e) : "hive error");
		rc = e ? offserv_status_from_errno(e) : OFFSERV_E_WRITE_FAULT;
		goto fail;
	}
	if (fchmod(fd, mode) != 0 || fsync(fd) != 0) {
		e = errno;
		offserv_set_error(err, errlen, "%s: cannot sync hive: %s", tmp, strerror(e));
		rc = offserv_status_from_errno(e);
		goto fail;
	}
	if (close(fd) != 0) {
		e = errno;
		fd = -1;
		offserv_set_error(err, errlen, "%s: cannot close hive: %s", tmp, strerror(e));
		rc = offserv_status_from_errno(e);
		goto fail;
	}
	fd = -1;
	if (rename(tmp, target) != 0) {
		e = errno;
		offserv_set_error(err, errlen, "%s: cannot rename the committed hive onto it: %s",
		                  target, strerror(e));
		rc = offserv_status_from_errno(e);
		goto fail;
	}
	free(tmp);
	dir = dir_of(target);
	if (!dir)
		return oom(h, err, errlen);
	rc = offserv_fsync_dir(dir, err, errlen);
	free(dir);
	return rc;
fail:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	free(tmp);
	return rc;
}

offserv_status offserv_hive_current_control_set(struct offserv_hive *h, char **out,
                                                char *err, size_t errlen)
{
	offserv_hive_key sel;
	uint32_t cur;
	char buf[32];
	offserv_status st;

	*out = NULL;
	st = offserv_hive_find(h, 0, "Select", &sel, err, errlen);
	if (st != OFFSERV_OK)
		return st;
	st = offserv_hive_get_dword(h, sel, "Current", &cur, err, errlen);
	if (st != OFFSERV_OK)
		return st;
	if (cur < 1 || cur > 999) {
		offserv_set_error(err, errlen, "%s: Select\\Current is %u, not a control set number",
		                  h->path, cur);
		return OFFSERV_E_INVALID_DATA;
	}
	snprintf(buf, sizeof(buf), "ControlSet%03u", cur);
	*out = strdup(buf);
	return *out ? OFFSERV_OK : oom(h, err, errlen);
}

offserv_status offserv_hive_system_key(struct offserv_hive *h, const char *path, int create,
                                       offserv_hive_key *out, char *err, size_t errlen)
{
	static const char ccs[] = "CurrentControlSet";
	const char *p = path ? path : "";
	size_t cl = sizeof(ccs) - 1;
	offserv_status st;

	while (*p == '\\')
		p++;
	if (strncasecmp(p, ccs, cl) == 0 && (p[cl] == '\0' || p[cl] == '\\')) {
		char *set, *full;
		offserv_hive_key key;

		st = offserv_hive_current_control_set(h, &set, err, errlen);
		if (st != OFFSERV_OK)
			return st;
		full = malloc(strlen(set) + strlen(p + cl) + 1);
		if (!full) {
			free(set);
			return oom(h, err, errlen);
		}
		strcpy(full, set);
		strcat(full, p + cl);
		free(set);
		st = create ? offserv_hive_create(h, 0, full, &key, err, errlen)
		            : offserv_hive_find(h, 0, full, &key, err, errlen);
		free(full);
		if (st == OFFSERV_OK)
			*out = key;
		return st;
	}
	return create ? offserv_hive_create(h, 0, p, out, err, errlen)
	              : offserv_hive_find(h, 0, p, out, err, errlen);
}
