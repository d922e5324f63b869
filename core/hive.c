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
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hivex.h>

#include <offserv/util.h>

#include "hive.h"

/* Smallest file hivex accepts: the 4 KiB header and one 4 KiB hbin. */
#define HIVE_MIN_SIZE 0x2000

/*
 * Child lookup by name is linear in hivex (it decodes every child's name),
 * and COMPONENTS holds one key per component under a single parent.  Keys
 * with many children get an index built once: folded name hash -> child
 * node, kept current as keys are added (hivex keeps node offsets stable
 * when it adds keys or sets values) and dropped when keys are deleted.
 * It holds no names: a hash hit is confirmed against the child's name.
 */
#define KIDMAP_MIN_CHILDREN 32

struct kident {
	uint64_t hash; /* 0: free slot */
	hive_node_h node;
};

struct kidmap {
	hive_node_h parent;
	struct kident *slot;
	size_t mask, n;
	int partial; /* the lists disagree with the subkey count: not used */
	struct kidmap *next;
};

/*
 * Adding a key is linear in hivex too: hivex_node_add_child() decodes the
 * name of every existing sibling (once to refuse a duplicate, once more to
 * find the sorted position) and copies the parent's subkey list.  Under a
 * parent with many children (a COMPONENTS hive holds tens of thousands of
 * keys under DerivedData\Components) a package adding a thousand
 * components would decode tens of millions of names.  So new keys under
 * such a parent are created under small staging keys, children of the
 * parent holding at most STAGE_PER_KEY keys each; the hive's own functions
 * (lookup, listing, deletion) see them as the parent's children, and
 * commit moves them into the parent's subkey list in Windows' order while
 * it compacts the hive (or, where compaction cannot read the hive, one by
 * one through hivex).
 */
#define STAGE_MIN_CHILDREN 512
#define STAGE_PER_KEY 256
#define STAGE_NAME "offserv$staged$"

struct staging {
	hive_node_h parent;
	hive_node_h *keys; /* staging keys, children of parent */
	size_t n;
	size_t in_last; /* keys created under keys[n - 1] */
};

struct offserv_hive {
	hive_h *h;
	char *path;
	int writable;
	struct kidmap **km; /* by parent node; km_buckets is a power of two */
	size_t km_buckets, km_count;
	struct staging *stg;
	size_t n_stg;
};

/* Set by offserv_hive__no_compaction(): commit as if compaction failed. */
static int force_no_compaction;

static void staging_drop_all(struct offserv_hive *h);

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

static void kidmaps_drop(struct offserv_hive *h)
{
	for (size_t i = 0; i < h->km_buckets; i++) {
		struct kidmap *m, *next;

		for (m = h->km[i]; m; m = next) {
			next = m->next;
			free(m->slot);
			free(m);
		}
	}
	free(h->km);
	h->km = NULL;
	h->km_buckets = h->km_count = 0;
}

void offserv_hive_close(struct offserv_hive *h)
{
	if (!h)
		return;
	kidmaps_drop(h);
	staging_drop_all(h);
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

/* FNV-1a over the name folded as hivex compares names (ASCII case). */
static uint64_t fold_hash(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ULL;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c - 'A' + 'a');
		h = (h ^ c) * 1099511628211ULL;
	}
	return h ? h : 1;
}

static size_t node_bucket(hive_node_h node, size_t buckets)
{
	return (size_t)(((uint64_t)node * 0x9E3779B97F4A7C15ULL) >> 32) & (buckets - 1);
}

static struct kidmap *kidmap_find(struct offserv_hive *h, hive_node_h parent)
{
	if (!h->km_buckets)
		return NULL;
	for (struct kidmap *m = h->km[node_bucket(parent, h->km_buckets)]; m; m = m->next)
		if (m->parent == parent)
			return m;
	return NULL;
}

/* Insert without growing; the table has room (n * 2 < size). */
static void kidmap_put(struct kidmap *m, uint64_t hash, hive_node_h node)
{
	size_t i;

	for (i = (size_t)hash & m->mask; m->slot[i].hash; i = (i + 1) & m->mask)
		;
	m->slot[i].hash = hash;
	m->slot[i].node = node;
	m->n++;
}

/* Record a child just added under a parent that has an index. */
static int kidmap_add(struct kidmap *m, const char *name, hive_node_h node)
{
	if ((m->n + 1) * 2 > m->mask + 1) {
		size_t size = (m->mask + 1) * 2;
		struct kident *old = m->slot, *n = calloc(size, sizeof(*n));
		size_t oldsize = m->mask + 1;

		if (!n)
			return 0;
		m->slot = n;
		m->mask = size - 1;
		m->n = 0;
		for (size_t i = 0; i < oldsize; i++)
			if (old[i].hash)
				kidmap_put(m, old[i].hash, old[i].node);
		free(old);
	}
	kidmap_put(m, fold_hash(name, strlen(name)), node);
	return 1;
}

/* ---------------------------------------------------------------------- */
/* Staging keys                                                            */

static struct staging *staging_find(struct offserv_hive *h, hive_node_h parent)
{
	for (size_t i = 0; i < h->n_stg; i++)
		if (h->stg[i].parent == parent)
			return &h->stg[i];
	return NULL;
}

static int staging_is_key(const struct staging *sg, hive_node_h node)
{
	for (size_t i = 0; sg && i < sg->n; i++)
		if (sg->keys[i] == node)
			return 1;
	return 0;
}

static void staging_drop_all(struct offserv_hive *h)
{
	for (size_t i = 0; i < h->n_stg; i++)
		free(h->stg[i].keys);
	free(h->stg);
	h->stg = NULL;
	h->n_stg = 0;
}

/* Keys under @p parent as the hive's users see them; 0 when a read failed. */
static size_t effective_children(struct offserv_hive *h, hive_node_h parent)
{
	struct staging *sg = staging_find(h, parent);
	size_t n;

	errno = 0;
	n = hivex_node_nr_children(h->h, parent);
	if (!sg || errno)
		return n;
	for (size_t i = 0; i < sg->n; i++) {
		size_t k = hivex_node_nr_children(h->h, sg->keys[i]);

		if (errno)
			return 0;
		n = n - 1 + k;
	}
	return n;
}

/*
 * The children of @p parent, its staged keys included and its staging keys
 * left out: a 0-terminated array to free, or NULL with errno set.
 */
static hive_node_h *children_merged(struct offserv_hive *h, hive_node_h parent)
{
	struct staging *sg = staging_find(h, parent);
	hive_node_h *kids, *all, **staged;
	size_t n = 0, total;

	errno = 0;
	kids = hivex_node_children(h->h, parent);
	if (!kids || !sg)
		return kids;
	staged = calloc(sg->n, sizeof(*staged));
	if (!staged) {
		free(kids);
		errno = ENOMEM;
		return NULL;
	}
	while (kids[n])
		n++;
	total = n;
	for (size_t i = 0; i < sg->n; i++) {
		staged[i] = hivex_node_children(h->h, sg->keys[i]);
		if (!staged[i]) {
			int e = errno ? errno : EFAULT;

			for (size_t j = 0; j < i; j++)
				free(staged[j]);
			free(staged);
			free(kids);
			errno = e;
			return NULL;
		}
		for (size_t j = 0; staged[i][j]; j++)
			total++;
	}
	all = malloc((total + 1) * sizeof(*all));
	n = 0;
	for (size_t i = 0; all && kids[i]; i++)
		if (!staging_is_key(sg, kids[i]))
			all[n++] = kids[i];
	for (size_t i = 0; i < sg->n; i++) {
		for (size_t j = 0; all && staged[i][j]; j++)
			all[n++] = staged[i][j];
		free(staged[i]);
	}
	free(staged);
	free(kids);
	if (!all) {
		errno = ENOMEM;
		return NULL;
	}
	all[n] = 0;
	return all;
}

/* hivex_node_get_child() over the parent and its staging keys. */
static hive_node_h slow_child(struct offserv_hive *h, hive_node_h parent, const char *name)
{
	struct staging *sg = staging_find(h, parent);
	hive_node_h k;

	errno = 0;
	k = hivex_node_get_child(h->h, parent, name);
	if (k && staging_is_key(sg, k))
		k = 0;
	for (size_t i = 0; !k && !errno && sg && i < sg->n; i++)
		k = hivex_node_get_child(h->h, sg->keys[i], name);
	return k;
}

/*
 * Add the key @p name under @p parent, which has no child of that name;
 * @p nkids: the parent's children.  0 with errno set on failure.
 */
static hive_node_h add_child(struct offserv_hive *h, hive_node_h parent, const char *name,
                             size_t nkids)
{
	struct staging *sg;
	hive_node_h key;

	if (nkids < STAGE_MIN_CHILDREN)
		return hivex_node_add_child(h->h, parent, name);
	sg = staging_find(h, parent);
	if (!sg) {
		struct staging *n = realloc(h->stg, (h->n_stg + 1) * sizeof(*n));

		if (!n)
			return hivex_node_add_child(h->h, parent, name);
		h->stg = n;
		sg = &h->stg[h->n_stg++];
		memset(sg, 0, sizeof(*sg));
		sg->parent = parent;
	}
	if (!sg->n || sg->in_last >= STAGE_PER_KEY) {
		hive_node_h *keys = realloc(sg->keys, (sg->n + 1) * sizeof(*keys));
		char kname[64];

		if (!keys)
			return hivex_node_add_child(h->h, parent, name);
		sg->keys = keys;
		key = 0;
		for (unsigned t = 0; !key && t < 1000; t++) {
			snprintf(kname, sizeof(kname), STAGE_NAME "%zu.%u", sg->n, t);
			errno = 0;
			key = hivex_node_add_child(h->h, parent, kname);
			if (!key && errno != EEXIST)
				return 0;
		}
		if (!key)
			return hivex_node_add_child(h->h, parent, name);
		sg->keys[sg->n++] = key;
		sg->in_last = 0;
	}
	errno = 0;
	key = hivex_node_add_child(h->h, sg->keys[sg->n - 1], name);
	if (key)
		sg->in_last++;
	return key;
}

/* Forget the staging of keys at or below @p node, which is being deleted. */
static void staging_forget_below(struct offserv_hive *h, hive_node_h node)
{
	hive_node_h root = hivex_root(h->h);

	for (size_t i = 0; i < h->n_stg;) {
		hive_node_h k = h->stg[i].parent;
		int below = 0;

		for (int depth = 0; k && depth < 512; depth++) {
			if (k == node) {
				below = 1;
				break;
			}
			if (k == root)
				break;
			errno = 0;
			k = hivex_node_parent(h->h, k);
		}
		if (below) {
			free(h->stg[i].keys);
			h->stg[i] = h->stg[--h->n_stg];
		} else {
			i++;
		}
	}
}

/* Build the index of @p parent's children (one pass over their names). */
static offserv_status kidmap_build(struct offserv_hive *h, hive_node_h parent, size_t count,
                                   struct kidmap **out, char *err, size_t errlen)
{
	struct kidmap *m;
	hive_node_h *kids;
	size_t size, b;

	*out = NULL;
	if (h->km_count >= h->km_buckets) {
		size_t nb = h->km_buckets ? h->km_buckets * 2 : 16;
		struct kidmap **n = calloc(nb, sizeof(*n));

		if (!n)
			return oom(h, err, errlen);
		for (size_t i = 0; i < h->km_buckets; i++) {
			struct kidmap *next;

			for (m = h->km[i]; m; m = next) {
				size_t nbk = node_bucket(m->parent, nb);

				next = m->next;
				m->next = n[nbk];
				n[nbk] = m;
			}
		}
		free(h->km);
		h->km = n;
		h->km_buckets = nb;
	}
	kids = children_merged(h, parent);
	if (!kids)
		return hive_fail(h, errno, "cannot read subkeys", err, errlen);
	for (size = 64; size < count * 2 + 2; size *= 2)
		;
	m = calloc(1, sizeof(*m));
	if (!m || !(m->slot = calloc(size, sizeof(*m->slot)))) {
		free(m);
		free(kids);
		return oom(h, err, errlen);
	}
	m->parent = parent;
	m->mask = size - 1;
	for (size_t i = 0; kids[i]; i++) {
		char *name;

		if (m->n * 2 + 2 > size)
			break; /* more children than counted: keep the rest unindexed */
		errno = 0;
		name = hivex_node_name(h->h, kids[i]);
		if (!name) {
			offserv_status st = hive_fail(h, errno, "cannot read key name", err, errlen);

			free(kids);
			free(m->slot);
			free(m);
			return st;
		}
		kidmap_put(m, fold_hash(name, strlen(name)), kids[i]);
		free(name);
	}
	free(kids);
	b = node_bucket(parent, h->km_buckets);
	m->next = h->km[b];
	h->km[b] = m;
	h->km_count++;
	*out = m;
	return OFFSERV_OK;
}

/*
 * The child of @p node named @p comp (any ASCII case), or 0 when there is
 * none (errno 0); on a read error, 0 with errno set.
 */
static hive_node_h get_child(struct offserv_hive *h, hive_node_h node, const char *comp)
{
	struct kidmap *m = kidmap_find(h, node);
	size_t count;
	uint64_t hash;

	if (!m) {
		count = effective_children(h, node);
		if (count < KIDMAP_MIN_CHILDREN ||
		    kidmap_build(h, node, count, &m, NULL, 0) != OFFSERV_OK)
			return slow_child(h, node, comp);
		/* the subkey count and the lists disagree: no index for this key */
		m->partial = m->n != count;
	}
	if (m->partial)
		return slow_child(h, node, comp);
	hash = fold_hash(comp, strlen(comp));
	for (size_t i = (size_t)hash & m->mask; m->slot[i].hash; i = (i + 1) & m->mask) {
		char *name;
		int eq;

		if (m->slot[i].hash != hash)
			continue;
		errno = 0;
		name = hivex_node_name(h->h, m->slot[i].node);
		if (!name)
			return 0;
		eq = strcasecmp(name, comp) == 0;
		free(name);
		if (eq)
			return m->slot[i].node;
	}
	errno = 0;
	return 0;
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
		child = get_child(h, node, comp);
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
			struct kidmap *m = kidmap_find(h, node);

			errno = 0;
			child = add_child(h, node, comp, m && !m->partial ? m->n : 0);
			if (child && m && !m->partial && !kidmap_add(m, comp, child)) {
				/* no memory for the index: look the slow way from now on */
				kidmaps_drop(h);
			}
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
	kidmaps_drop(h); /* the deleted keys' offsets may be reused */
	staging_forget_below(h, node);
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

/*
 * The names of @p handles (0-terminated, freed here) read with @p name_of
 * into a NULL-terminated array; @p what names the item in errors.
 */
static offserv_status names_of(struct offserv_hive *h, size_t *handles,
                               char *(*name_of)(hive_h *, size_t), const char *what,
                               char ***names, size_t *count, char *err, size_t errlen)
{
	size_t n = 0;
	char **v;

	while (handles[n])
		n++;
	v = calloc(n + 1, sizeof(*v));
	if (!v) {
		free(handles);
		return oom(h, err, errlen);
	}
	for (size_t i = 0; i < n; i++) {
		errno = 0;
		v[i] = name_of(h->h, handles[i]);
		if (!v[i]) {
			offserv_status st = hive_fail(h, errno, what, err, errlen);
			free(handles);
			offserv_hive_free_names(v);
			return st;
		}
	}
	free(handles);
	*names = v;
	if (count)
		*count = n;
	return OFFSERV_OK;
}

offserv_status offserv_hive_subkeys(struct offserv_hive *h, offserv_hive_key key,
                                    char ***names, size_t *count, char *err,
                                    size_t errlen)
{
	hive_node_h *kids;

	*names = NULL;
	if (count)
		*count = 0;
	kids = children_merged(h, key);
	if (!kids)
		return hive_fail(h, errno, "cannot read subkeys", err, errlen);
	return names_of(h, kids, hivex_node_name, "cannot read key name", names, count, err,
	                errlen);
}

offserv_status offserv_hive_value_names(struct offserv_hive *h, offserv_hive_key key,
                                        char ***names, size_t *count, char *err,
                                        size_t errlen)
{
	hive_value_h *vals;

	*names = NULL;
	if (count)
		*count = 0;
	errno = 0;
	vals = hivex_node_values(h->h, key);
	if (!vals)
		return hive_fail(h, errno, "cannot read values", err, errlen);
	return names_of(h, vals, hivex_value_key, "cannot read value name", names, count, err,
	                errlen);
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

static void values_free(hive_set_value *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++) {
		free(v[i].key);
		free(v[i].value);
	}
	free(v);
}

/*
 * The values of @p key, names and data copied, in *out (*n of them, with
 * room for one more), leaving out the one named @p skip (any case; NULL:
 * none) and saying in *skipped whether it was there.  Big-data values are
 * refused: hivex cannot write them back.
 */
static offserv_status read_values(struct offserv_hive *h, hive_node_h key, const char *skip,
                                  hive_set_value **out, size_t *n, int *skipped, char *err,
                                  size_t errlen)
{
	hive_value_h *vals;
	hive_set_value *nv;
	size_t count = 0, k = 0;
	offserv_status st = OFFSERV_OK;

	*out = NULL;
	*n = 0;
	if (skipped)
		*skipped = 0;
	errno = 0;
	vals = hivex_node_values(h->h, key);
	if (!vals)
		return hive_fail(h, errno, "cannot read values", err, errlen);
	while (vals[count])
		count++;
	nv = calloc(count + 1, sizeof(*nv));
	if (!nv) {
		free(vals);
		return oom(h, err, errlen);
	}
	for (size_t i = 0; i < count; i++) {
		hive_type t;
		size_t vl = 0;
		char *vk;

		errno = 0;
		vk = hivex_value_key(h->h, vals[i]);
		if (!vk) {
			st = hive_fail(h, errno, "cannot read value name", err, errlen);
			break;
		}
		if (skip && strcasecmp(vk, skip) == 0) {
			free(vk);
			if (skipped)
				*skipped = 1;
			continue;
		}
		errno = 0;
		nv[k].value = hivex_value_value(h->h, vals[i], &t, &vl);
		if (!nv[k].value) {
			free(vk);
			st = hive_fail(h, errno, "cannot read value data", err, errlen);
			break;
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
			break;
		}
	}
	free(vals);
	if (st != OFFSERV_OK) {
		values_free(nv, k);
		return st;
	}
	*out = nv;
	*n = k;
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
	hive_set_value *nv;
	size_t k = 0;
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
	st = read_values(h, key, name, &nv, &k, &found, err, errlen);
	if (st != OFFSERV_OK)
		return st;
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
	values_free(nv, k);
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

/* ---------------------------------------------------------------------- */
/* Compaction                                                              */

/*
 * hivex never reuses space: every key added to a parent copies the
 * parent's whole subkey list to the end of the hive, and every value set
 * rewrites the key's values, leaving the old cells behind.  A parent
 * with N subkeys built one key at a time leaves about 4 N^2 bytes of dead
 * lists (33 MiB at N = 2,880 in COMPONENTS).  So the committed file is
 * rewritten with only the cells reachable from the root, packed into
 * bins in walk order, and subkey lists longer than HC_LEAF_MAX split into
 * an index root ("ri") of leaves as Windows writes them: a key added
 * later then copies one leaf, not the whole list.
 *
 * Offsets in cells are relative to the first bin (file offset 0x1000).
 * Cell layouts used (byte offsets from the cell's size field):
 *   nk: parent 20, subkey count 24, subkey list 32, value count 40,
 *       value list 44, sk 48, class 52, class length 78
 *   vk: data length 8 (top bit: data inline), data 12
 *   db: segment count 6, segment list 8
 *   sk: next 8, previous 12, reference count 16
 *   lf/lh: count 6, then (nk offset, hash) pairs; li, ri: count 6, then offsets
 */
#define HC_LEAF_MAX 512u
#define HC_BIN 4096u
#define HC_NONE 0xffffffffu
#define HC_BIG_DATA 16344u

enum hc_kind { HC_NK, HC_VALLIST, HC_VK, HC_DB, HC_SEGLIST, HC_SK, HC_RAW };

struct hc_item {
	uint32_t new_off, old_off, aux;
	enum hc_kind kind;
};

struct hc {
	const uint8_t *in;
	size_t in_end; /* file offset just after the last bin */
	uint8_t *out;
	size_t len, cap, bin_end;
	uint32_t *map; /* pairs (old + 1, new), open addressing */
	size_t map_mask, map_n;
	struct hc_item *q;
	size_t qn, qcap, qhead;
	uint32_t *sks; /* new offsets of the sk cells, in copy order */
	uint32_t *skrefs;
	size_t nsk, capsk;
	const uint32_t *stg; /* (parent, staging key) pairs, input offsets */
	size_t n_stg;
	int nomem;
};

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static void wr32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static void wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

/* The used input cell at hive offset @p off: its bytes and size, or NULL. */
static const uint8_t *hc_cell(const struct hc *c, uint32_t off, size_t *size)
{
	size_t pos = (size_t)off + 0x1000;
	int32_t seg;

	if (off == HC_NONE || (off & 7) || pos + 8 > c->in_end)
		return NULL;
	seg = (int32_t)rd32(c->in + pos);
	if (seg >= 0 || seg == INT32_MIN || (size_t)-(int64_t)seg < 8 ||
	    pos + (size_t)-(int64_t)seg > c->in_end)
		return NULL;
	*size = (size_t)-(int64_t)seg;
	return c->in + pos;
}

static int hc_grow(struct hc *c, size_t need)
{
	if (need <= c->cap)
		return 1;
	size_t cap = c->cap ? c->cap : 1u << 20;
	uint8_t *n;

	while (cap < need)
		cap *= 2;
	n = realloc(c->out, cap);
	if (!n) {
		c->nomem = 1;
		return 0;
	}
	memset(n + c->cap, 0, cap - c->cap);
	c->out = n;
	c->cap = cap;
	return 1;
}

/* Close the current bin: its unused tail becomes one free cell. */
static void hc_close_bin(struct hc *c)
{
	if (c->len < c->bin_end) {
		wr32(c->out + c->len, (uint32_t)(c->bin_end - c->len));
		c->len = c->bin_end;
	}
}

/* A new cell of @p size bytes (size field included): its hive offset, or 0. */
static uint32_t hc_alloc(struct hc *c, size_t size)
{
	size_t pos;

	size = (size + 7) & ~(size_t)7;
	if (c->len + size > c->bin_end) {
		size_t bsize = (size + 32 + HC_BIN - 1) & ~(size_t)(HC_BIN - 1);

		hc_close_bin(c);
		if (c->len + bsize > UINT32_MAX || !hc_grow(c, c->len + bsize))
			return 0;
		memcpy(c->out + c->len, "hbin", 4);
		wr32(c->out + c->len + 4, (uint32_t)(c->len - 0x1000));
		wr32(c->out + c->len + 8, (uint32_t)bsize);
		c->bin_end = c->len + bsize;
		c->len += 32;
	}
	pos = c->len;
	wr32(c->out + pos, (uint32_t)-(int32_t)size);
	c->len += size;
	return (uint32_t)(pos - 0x1000);
}

static uint32_t *hc_map_slot(struct hc *c, uint32_t old)
{
	size_t i = (size_t)(((uint64_t)old * 0x9E3779B97F4A7C15ULL) >> 32) & c->map_mask;

	while (c->map[2 * i] && c->map[2 * i] != old + 1)
		i = (i + 1) & c->map_mask;
	return &c->map[2 * i];
}

static int hc_map_put(struct hc *c, uint32_t old, uint32_t new_off)
{
	uint32_t *s;

	if ((c->map_n + 1) * 2 > c->map_mask + 1) {
		size_t size = c->map_mask ? (c->map_mask + 1) * 2 : 4096;
		uint32_t *o = c->map, *n = calloc(size, 2 * sizeof(*n));
		size_t oldsize = c->map_mask ? c->map_mask + 1 : 0;

		if (!n) {
			c->nomem = 1;
			return 0;
		}
		c->map = n;
		c->map_mask = size - 1;
		for (size_t i = 0; i < oldsize; i++)
			if (o[2 * i]) {
				s = hc_map_slot(c, o[2 * i] - 1);
				s[0] = o[2 * i];
				s[1] = o[2 * i + 1];
			}
		free(o);
	}
	s = hc_map_slot(c, old);
	s[0] = old + 1;
	s[1] = new_off;
	c->map_n++;
	return 1;
}

/*
 * The new offset of input cell @p old, copied on first sight (queued for
 * its references to be followed).  @p want: the size to give the copy
 * (0: the input cell's).  HC_NONE when the cell is bad or memory ran out.
 */
static uint32_t hc_copy(struct hc *c, uint32_t old, enum hc_kind kind, uint32_t aux,
                        size_t want)
{
	static const char *const ids[] = {[HC_NK] = "nk", [HC_VK] = "vk", [HC_DB] = "db",
	                                  [HC_SK] = "sk"};
	const uint8_t *cell;
	size_t size;
	uint32_t n;

	if (c->map_mask) {
		uint32_t *s = hc_map_slot(c, old);

		if (s[0]) {
			if (kind == HC_SK) {
				for (size_t i = 0; i < c->nsk; i++)
					if (c->sks[i] == s[1]) {
						c->skrefs[i]++;
						break;
					}
			}
			return s[1];
		}
	}
	cell = hc_cell(c, old, &size);
	if (!cell || (kind < (enum hc_kind)(sizeof(ids) / sizeof(ids[0])) && ids[kind] &&
	              memcmp(cell + 4, ids[kind], 2) != 0))
		return HC_NONE;
	if (want && want > size)
		return HC_NONE;
	if (want)
		size = want;
	n = hc_alloc(c, size);
	if (!n)
		return HC_NONE;
	memcpy(c->out + (size_t)n + 0x1000 + 4, cell + 4, size - 4);
	if (!hc_map_put(c, old, n))
		return HC_NONE;
	if (kind == HC_SK) {
		if (c->nsk == c->capsk) {
			size_t cap = c->capsk ? c->capsk * 2 : 16;
			uint32_t *a = realloc(c->sks, cap * sizeof(*a));
			uint32_t *b = a ? realloc(c->skrefs, cap * sizeof(*b)) : NULL;

			if (a)
				c->sks = a;
			if (!a || !b) {
				c->nomem = 1;
				return HC_NONE;
			}
			c->skrefs = b;
			c->capsk = cap;
		}
		c->sks[c->nsk] = n;
		c->skrefs[c->nsk++] = 1;
		return n;
	}
	if (kind == HC_RAW)
		return n;
	if (c->qn == c->qcap) {
		size_t cap = c->qcap ? c->qcap * 2 : 1024;
		struct hc_item *q = realloc(c->q, cap * sizeof(*q));

		if (!q) {
			c->nomem = 1;
			return HC_NONE;
		}
		c->q = q;
		c->qcap = cap;
	}
	c->q[c->qn++] = (struct hc_item){.new_off = n, .old_off = old, .aux = aux, .kind = kind};
	return n;
}

static uint8_t *hc_out(struct hc *c, uint32_t off)
{
	return c->out + (size_t)off + 0x1000;
}

/* One subkey list entry gathered from the input's lists. */
struct hc_sub {
	uint32_t nk;
	uint8_t hash[4];
};

/* Gather the entries of a list (lf, lh, li, or ri of those); 0 if malformed. */
static int hc_gather(const struct hc *c, uint32_t off, int depth, struct hc_sub *v,
                     size_t *n, size_t max, char type[2])
{
	size_t size, cnt;
	const uint8_t *cell = hc_cell(c, off, &size);
	int hashed;

	if (!cell || size < 8)
		return 0;
	cnt = rd16(cell + 6);
	if (cell[4] == 'r' && cell[5] == 'i') {
		if (depth || 8 + 4 * cnt > size)
			return 0;
		for (size_t i = 0; i < cnt; i++)
			if (!hc_gather(c, rd32(cell + 8 + 4 * i), 1, v, n, max, type))
				return 0;
		return 1;
	}
	if (cell[4] == 'l' && (cell[5] == 'f' || cell[5] == 'h'))
		hashed = 1;
	else if (cell[4] == 'l' && cell[5] == 'i')
		hashed = 0;
	else
		return 0;
	if (8 + (hashed ? 8 : 4) * cnt > size || *n + cnt > max)
		return 0;
	if (!type[0]) {
		type[0] = (char)cell[4];
		type[1] = (char)cell[5];
	} else if (type[1] != (char)cell[5]) {
		type[1] = 'i'; /* mixed leaves: hashes dropped, an li list */
	}
	for (size_t i = 0; i < cnt; i++) {
		struct hc_sub *s = &v[(*n)++];

		s->nk = rd32(cell + 8 + (hashed ? 8 : 4) * i);
		if (hashed)
			memcpy(s->hash, cell + 12 + 8 * i, 4);
		else
			memset(s->hash, 0, 4);
	}
	return 1;
}

/* Is @p key a staging key of the input key @p parent? */
static int hc_is_staging(const struct hc *c, uint32_t parent, uint32_t key)
{
	for (size_t i = 0; i < c->n_stg; i++)
		if (c->stg[2 * i] == parent && c->stg[2 * i + 1] == key)
			return 1;
	return 0;
}

/* The name of the input key @p nk: its bytes, length in characters, width. */
static int hc_name(const struct hc *c, uint32_t nk, const uint8_t **name, size_t *nchars,
                   int *wide)
{
	size_t size, len;
	const uint8_t *cell = hc_cell(c, nk, &size);

	if (!cell || size < 80 || memcmp(cell + 4, "nk", 2) != 0)
		return 0;
	len = rd16(cell + 76);
	if (80 + len > size)
		return 0;
	*name = cell + 80;
	*wide = !(rd16(cell + 6) & 0x20);
	*nchars = *wide ? len / 2 : len;
	return 1;
}

/* Character @p i of a key name, upper-cased as Windows compares names
 * (ASCII and Latin-1 letters; other characters as they are). */
static uint16_t hc_upcase(const uint8_t *name, int wide, size_t i)
{
	uint16_t u = wide ? rd16(name + 2 * i) : name[i];

	if ((u >= 'a' && u <= 'z') || (u >= 0xe0 && u <= 0xfe && u != 0xf7))
		u = (uint16_t)(u - 0x20);
	return u;
}

static int hc_cmp_names(const void *a, const void *b, void *ctx)
{
	const struct hc *c = ctx;
	const uint8_t *na = NULL, *nb = NULL;
	size_t la = 0, lb = 0;
	int wa = 0, wb = 0;

	hc_name(c, ((const struct hc_sub *)a)->nk, &na, &la, &wa);
	hc_name(c, ((const struct hc_sub *)b)->nk, &nb, &lb, &wb);
	for (size_t i = 0; i < la && i < lb; i++) {
		uint16_t x = hc_upcase(na, wa, i), y = hc_upcase(nb, wb, i);

		if (x != y)
			return x < y ? -1 : 1;
	}
	return la < lb ? -1 : la > lb;
}

/*
 * Sort merged subkeys in Windows' order (names compared upper-cased) and
 * give each the hint its leaf type wants: lf the first four characters,
 * lh the name hash (h = 37 h + upper-cased character).  *maxlen gets the
 * longest name in UTF-16 bytes.  0 if a name cannot be read.
 */
static int hc_sort_subkeys(struct hc *c, struct hc_sub *v, size_t n, char type,
                           size_t *maxlen)
{
	*maxlen = 0;
	for (size_t i = 0; i < n; i++) {
		const uint8_t *name;
		size_t len;
		int wide;
		uint32_t hash = 0;

		if (!hc_name(c, v[i].nk, &name, &len, &wide))
			return 0;
		if (len * 2 > *maxlen)
			*maxlen = len * 2;
		if (type == 'h') {
			for (size_t j = 0; j < len; j++)
				hash = hash * 37 + hc_upcase(name, wide, j);
			wr32(v[i].hash, hash);
		} else {
			memset(v[i].hash, 0, 4);
			for (size_t j = 0; j < len && j < 4; j++)
				v[i].hash[j] = wide ? name[2 * j] : name[j];
		}
	}
	qsort_r(v, n, sizeof(*v), hc_cmp_names, c);
	return 1;
}

/*
 * Write the subkeys of the copied key @p nk (new offset; @p old_nk in the
 * input) as one leaf or an ri.  The keys of its staging keys join its own
 * list, and the staging keys are left behind.
 */
static int hc_subkeys(struct hc *c, uint32_t nk, uint32_t old_nk, uint32_t old_list,
                      uint32_t count)
{
	struct hc_sub *v;
	size_t n = 0, nleaves, per, cap = count;
	char type[2] = {0, 0};
	uint32_t ri = HC_NONE, top;
	int ok = 0, staged = 0;

	for (size_t i = 0; i < c->n_stg; i++) {
		size_t size;
		const uint8_t *cell;

		if (c->stg[2 * i] != old_nk)
			continue;
		cell = hc_cell(c, c->stg[2 * i + 1], &size);
		if (!cell || size < 80 || memcmp(cell + 4, "nk", 2) != 0)
			return 0;
		cap += rd32(cell + 24);
		staged = 1;
	}
	v = malloc((cap ? cap : 1) * sizeof(*v));
	if (!v) {
		c->nomem = 1;
		return 0;
	}
	if (!hc_gather(c, old_list, 0, v, &n, count, type) || n != count)
		goto out;
	if (staged) {
		size_t kept = 0, maxlen;
		uint32_t field;

		for (size_t i = 0; i < n; i++)
			if (!hc_is_staging(c, old_nk, v[i].nk))
				v[kept++] = v[i];
		n = kept;
		for (size_t i = 0; i < c->n_stg; i++) {
			size_t size, before = n;
			const uint8_t *cell;
			uint32_t nsub;
			char t2[2] = {0, 0};

			if (c->stg[2 * i] != old_nk)
				continue;
			cell = hc_cell(c, c->stg[2 * i + 1], &size);
			nsub = rd32(cell + 24);
			if (nsub && (!hc_gather(c, rd32(cell + 32), 0, v, &n, cap, t2) ||
			             n - before != nsub))
				goto out;
		}
		if (!hc_sort_subkeys(c, v, n, type[1], &maxlen))
			goto out;
		wr32(hc_out(c, nk) + 24, (uint32_t)n);
		field = rd32(hc_out(c, nk) + 56);
		if ((field & 0xffff) < maxlen)
			wr32(hc_out(c, nk) + 56, (field & 0xffff0000u) | (uint32_t)maxlen);
		if (!n) {
			wr32(hc_out(c, nk) + 32, HC_NONE);
			ok = 1;
			goto out;
		}
	}
	nleaves = (n + HC_LEAF_MAX - 1) / HC_LEAF_MAX;
	if (nleaves > 0xffff)
		goto out;
	if (nleaves > 1) {
		ri = hc_alloc(c, 8 + 4 * nleaves);
		if (!ri)
			goto out;
		memcpy(hc_out(c, ri) + 4, "ri", 2);
		wr16(hc_out(c, ri) + 6, (uint16_t)nleaves);
	}
	per = (n + nleaves - 1) / nleaves;
	top = HC_NONE;
	for (size_t l = 0; l < nleaves; l++) {
		size_t first = l * per, m = n - first < per ? n - first : per;
		size_t esz = type[1] == 'i' ? 4 : 8;
		uint32_t leaf = hc_alloc(c, 8 + esz * m);

		if (!leaf)
			goto out;
		hc_out(c, leaf)[4] = 'l';
		hc_out(c, leaf)[5] = (uint8_t)type[1];
		wr16(hc_out(c, leaf) + 6, (uint16_t)m);
		for (size_t i = 0; i < m; i++) {
			uint32_t k = hc_copy(c, v[first + i].nk, HC_NK, nk, 0);

			if (k == HC_NONE)
				goto out;
			wr32(hc_out(c, leaf) + 8 + esz * i, k);
			if (esz == 8)
				memcpy(hc_out(c, leaf) + 12 + 8 * i, v[first + i].hash, 4);
		}
		if (ri != HC_NONE)
			wr32(hc_out(c, ri) + 8 + 4 * l, leaf);
		else
			top = leaf;
	}
	wr32(hc_out(c, nk) + 32, ri != HC_NONE ? ri : top);
	ok = 1;
out:
	free(v);
	return ok;
}

/* Follow the references of one copied cell. */
static int hc_follow(struct hc *c, const struct hc_item *it)
{
	uint8_t *p = hc_out(c, it->new_off);
	size_t size = (size_t)-(int64_t)(int32_t)rd32(p);
	uint32_t x;

	switch (it->kind) {
	case HC_NK: {
		uint32_t nsub = rd32(p + 24), nval = rd32(p + 40), list = rd32(p + 32);

		if (size < 80)
			return 0;
		if (it->aux != HC_NONE)
			wr32(p + 20, it->aux);
		if (nsub) {
			if (!hc_subkeys(c, it->new_off, it->old_off, list, nsub))
				return 0;
		} else {
			wr32(hc_out(c, it->new_off) + 32, HC_NONE);
		}
		p = hc_out(c, it->new_off);
		if (nval) {
			x = hc_copy(c, rd32(p + 44), HC_VALLIST, nval, 4 + 4 * (size_t)nval);
			if (x == HC_NONE)
				return 0;
		} else {
			x = HC_NONE;
		}
		wr32(hc_out(c, it->new_off) + 44, x);
		p = hc_out(c, it->new_off);
		if (rd32(p + 48) != HC_NONE) {
			x = hc_copy(c, rd32(p + 48), HC_SK, 0, 0);
			if (x == HC_NONE)
				return 0;
			wr32(hc_out(c, it->new_off) + 48, x);
		}
		p = hc_out(c, it->new_off);
		if (rd32(p + 52) != HC_NONE && rd16(p + 78)) {
			x = hc_copy(c, rd32(p + 52), HC_RAW, 0, 0);
			if (x == HC_NONE)
				return 0;
			wr32(hc_out(c, it->new_off) + 52, x);
		} else {
			wr32(p + 52, HC_NONE);
		}
		return 1;
	}
	case HC_VALLIST:
		for (uint32_t i = 0; i < it->aux; i++) {
			x = hc_copy(c, rd32(hc_out(c, it->new_off) + 4 + 4 * i), HC_VK, 0, 0);
			if (x == HC_NONE)
				return 0;
			wr32(hc_out(c, it->new_off) + 4 + 4 * i, x);
		}
		return 1;
	case HC_VK: {
		uint32_t dlen = rd32(p + 8), doff = rd32(p + 12);
		const uint8_t *dcell;
		size_t dsize;

		if (size < 24)
			return 0;
		if ((dlen & 0x80000000u) || dlen == 0)
			return 1;
		dcell = hc_cell(c, doff, &dsize);
		if (!dcell)
			return 0;
		if (dlen > HC_BIG_DATA && dsize >= 16 && dcell[4] == 'd' && dcell[5] == 'b')
			x = hc_copy(c, doff, HC_DB, 0, 0);
		else
			x = hc_copy(c, doff, HC_RAW, 0, 0);
		if (x == HC_NONE)
			return 0;
		wr32(hc_out(c, it->new_off) + 12, x);
		return 1;
	}
	case HC_DB: {
		uint16_t segs = rd16(p + 6);

		if (size < 16)
			return 0;
		x = hc_copy(c, rd32(p + 8), HC_SEGLIST, segs, 0);
		if (x == HC_NONE)
			return 0;
		wr32(hc_out(c, it->new_off) + 8, x);
		return 1;
	}
	case HC_SEGLIST:
		if (4 + 4 * (size_t)it->aux > size)
			return 0;
		for (uint32_t i = 0; i < it->aux; i++) {
			x = hc_copy(c, rd32(hc_out(c, it->new_off) + 4 + 4 * i), HC_RAW, 0, 0);
			if (x == HC_NONE)
				return 0;
			wr32(hc_out(c, it->new_off) + 4 + 4 * i, x);
		}
		return 1;
	default:
		return 0;
	}
}

/*
 * Compact the hive file image @p in (@p size bytes) into *out, moving the
 * keys of the @p n_stg staging keys in @p stg ((parent, key) offset pairs)
 * to their parents.  1: done; 0: a structure this does not know (the input
 * is to be kept as it is); -1: out of memory.
 */
static int hive_compact(const uint8_t *in, size_t size, const uint32_t *stg, size_t n_stg,
                        uint8_t **out, size_t *outlen)
{
	struct hc c = {.in = in, .stg = stg, .n_stg = n_stg};
	uint32_t root, csum = 0;
	int ok = 0;

	*out = NULL;
	*outlen = 0;
	if (size < 0x2000 || memcmp(in, "regf", 4) != 0)
		return 0;
	c.in_end = 0x1000 + (size_t)rd32(in + 0x28);
	if (c.in_end > size || c.in_end < 0x2000)
		return 0;
	if (!hc_grow(&c, 0x1000 + HC_BIN))
		return -1;
	memcpy(c.out, in, 0x1000);
	c.len = c.bin_end = 0x1000;
	root = hc_copy(&c, rd32(in + 0x24), HC_NK, HC_NONE, 0);
	if (root == HC_NONE)
		goto out;
	while (c.qhead < c.qn) {
		struct hc_item it = c.q[c.qhead++];

		if (!hc_follow(&c, &it))
			goto out;
	}
	for (size_t i = 0; i < c.nsk; i++) {
		uint8_t *p = hc_out(&c, c.sks[i]);

		wr32(p + 8, c.sks[(i + 1) % c.nsk]);
		wr32(p + 12, c.sks[(i + c.nsk - 1) % c.nsk]);
		wr32(p + 16, c.skrefs[i]);
	}
	hc_close_bin(&c);
	wr32(c.out + 4, rd32(in + 4));
	wr32(c.out + 8, rd32(in + 4));
	wr32(c.out + 0x24, root);
	wr32(c.out + 0x28, (uint32_t)(c.len - 0x1000));
	for (size_t i = 0; i < 0x1fc; i += 4)
		csum ^= rd32(c.out + i);
	wr32(c.out + 0x1fc, csum);
	ok = 1;
out:
	free(c.map);
	free(c.q);
	free(c.sks);
	free(c.skrefs);
	if (ok) {
		*out = c.out;
		*outlen = c.len;
		return 1;
	}
	free(c.out);
	return c.nomem ? -1 : 0;
}

/*
 * Rewrite the file hivex wrote at @p fd with its live cells only, staged
 * keys moved to their parents.  *unread is set when the staging keys are
 * still there because compaction could not read the hive.
 */
static offserv_status compact_file(const struct offserv_hive *h, int fd, const char *tmp,
                                   int *unread, char *err, size_t errlen)
{
	struct stat sb;
	uint8_t *out = NULL;
	uint32_t *stg = NULL;
	size_t outlen = 0, done = 0, n_stg = 0;
	void *map;
	int r, e;

	*unread = 0;
	for (size_t i = 0; i < h->n_stg; i++)
		n_stg += h->stg[i].n;
	if (n_stg && force_no_compaction) {
		*unread = 1;
		return OFFSERV_OK;
	}
	if (fstat(fd, &sb) != 0)
		goto io;
	if (sb.st_size < 0x2000) {
		*unread = n_stg > 0;
		return OFFSERV_OK;
	}
	if (n_stg) {
		size_t k = 0;

		stg = malloc(n_stg * 2 * sizeof(*stg));
		if (!stg)
			return oom(h, err, errlen);
		for (size_t i = 0; i < h->n_stg; i++) {
			for (size_t j = 0; j < h->stg[i].n; j++) {
				stg[k++] = (uint32_t)(h->stg[i].parent - 0x1000);
				stg[k++] = (uint32_t)(h->stg[i].keys[j] - 0x1000);
			}
		}
	}
	map = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (map == MAP_FAILED) {
		free(stg);
		goto io;
	}
	r = hive_compact(map, (size_t)sb.st_size, stg, n_stg, &out, &outlen);
	munmap(map, (size_t)sb.st_size);
	free(stg);
	if (r < 0)
		return oom(h, err, errlen);
	if (r == 0 || (!n_stg && outlen >= (size_t)sb.st_size)) {
		free(out);
		*unread = r == 0 && n_stg;
		return OFFSERV_OK; /* kept as hivex wrote it */
	}
	if (ftruncate(fd, 0) != 0) {
		free(out);
		goto io;
	}
	while (done < outlen) {
		ssize_t n = pwrite(fd, out + done, outlen - done, (off_t)done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			free(out);
			goto io;
		}
		done += (size_t)n;
	}
	free(out);
	return OFFSERV_OK;
io:
	e = errno;
	offserv_set_error(err, errlen, "%s: cannot write hive: %s", tmp, strerror(e));
	return offserv_status_from_errno(e);
}

/* Copy the key @p src, its values and subkeys, under @p parent. */
static offserv_status copy_key(struct offserv_hive *h, hive_node_h src, hive_node_h parent,
                               int depth, char *err, size_t errlen)
{
	hive_node_h *kids = NULL, nk;
	hive_set_value *sv = NULL;
	size_t nv = 0;
	char *name;
	offserv_status st;

	if (depth > 512)
		return hive_fail(h, ELOOP, "staged keys nest too deep", err, errlen);
	errno = 0;
	name = hivex_node_name(h->h, src);
	if (!name)
		return hive_fail(h, errno, "cannot read key name", err, errlen);
	errno = 0;
	nk = hivex_node_add_child(h->h, parent, name);
	if (!nk) {
		st = hive_fail(h, errno, "cannot move a staged key", err, errlen);
		goto out;
	}
	st = read_values(h, src, NULL, &sv, &nv, NULL, err, errlen);
	if (st != OFFSERV_OK)
		goto out;
	errno = 0;
	if (nv && hivex_node_set_values(h->h, nk, nv, sv, 0) != 0) {
		st = hive_fail(h, errno, "cannot write values", err, errlen);
		goto out;
	}
	errno = 0;
	kids = hivex_node_children(h->h, src);
	if (!kids) {
		st = hive_fail(h, errno, "cannot read subkeys", err, errlen);
		goto out;
	}
	for (size_t i = 0; kids[i] && st == OFFSERV_OK; i++)
		st = copy_key(h, kids[i], nk, depth + 1, err, errlen);
out:
	values_free(sv, nv);
	free(kids);
	free(name);
	return st;
}

/* Move every staged key to its parent with hivex (the slow way). */
static offserv_status unstage_all(struct offserv_hive *h, char *err, size_t errlen)
{
	offserv_status st = OFFSERV_OK;

	kidmaps_drop(h);
	for (size_t i = 0; i < h->n_stg && st == OFFSERV_OK; i++) {
		struct staging *sg = &h->stg[i];

		while (sg->n && st == OFFSERV_OK) {
			hive_node_h key = sg->keys[sg->n - 1];
			hive_node_h *kids;

			errno = 0;
			kids = hivex_node_children(h->h, key);
			if (!kids)
				return hive_fail(h, errno, "cannot read subkeys", err, errlen);
			for (size_t j = 0; kids[j] && st == OFFSERV_OK; j++)
				st = copy_key(h, kids[j], sg->parent, 0, err, errlen);
			free(kids);
			errno = 0;
			if (st == OFFSERV_OK && hivex_node_delete_child(h->h, key) != 0)
				st = hive_fail(h, errno, "cannot delete a staging key", err, errlen);
			if (st == OFFSERV_OK)
				sg->n--;
		}
	}
	if (st == OFFSERV_OK)
		staging_drop_all(h);
	return st;
}

void offserv_hive__no_compaction(int on)
{
	force_no_compaction = on;
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
	for (int pass = 0;; pass++) {
		int unread;

		errno = 0;
		if (hivex_commit(h->h, tmp, 0) != 0) {
			e = errno;
			offserv_set_error(err, errlen, "%s: cannot write hive: %s", tmp,
			                  e ? strerror(e) : "hive error");
			rc = e ? offserv_status_from_errno(e) : OFFSERV_E_WRITE_FAULT;
			goto fail;
		}
		rc = compact_file(h, fd, tmp, &unread, err, errlen);
		if (rc != OFFSERV_OK)
			goto fail;
		if (!unread)
			break;
		if (pass) {
			offserv_set_error(err, errlen, "%s: staged keys remain after moving them",
			                  tmp);
			rc = OFFSERV_E_UNEXPECTED;
			goto fail;
		}
		/* Compaction could not read the hive: move the staged keys with hivex. */
		rc = unstage_all(h, err, errlen);
		if (rc != OFFSERV_OK)
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
