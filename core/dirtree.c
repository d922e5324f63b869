/* SPDX-License-Identifier: GPL-3.0-or-later */
/* An offline Windows directory tree as a servicing target. */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <offserv/util.h>

#include "dirtree.h"

enum op_kind { OP_FILE, OP_LINK };

struct op {
	enum op_kind kind;
	char *path;   /* image path, '/' separated */
	char *src;    /* OP_FILE: local source; OP_LINK: image path of the target */
	uint8_t *sd;
	size_t sd_len;
};

struct offserv_dirtree_changeset {
	char *root;
	struct op *ops;
	size_t n_ops;
};

/* Next component of @p p (separators '/' or '\\') into @p buf; returns the rest or NULL. */
static const char *next_component(const char *p, char *buf, size_t cap)
{
	size_t n = 0;

	while (*p == '/' || *p == '\\')
		p++;
	if (!*p)
		return NULL;
	while (*p && *p != '/' && *p != '\\') {
		if (n + 1 < cap)
			buf[n++] = *p;
		p++;
	}
	buf[n] = '\0';
	return p;
}

/* The entry of @p dir named @p name, exactly or ignoring ASCII case. */
static char *child_ci(const char *dir, const char *name)
{
	char *exact = offserv_path_join(dir, name), *found = NULL;
	struct stat st;
	DIR *d;
	struct dirent *e;

	if (!exact || lstat(exact, &st) == 0)
		return exact;
	free(exact);
	d = opendir(dir);
	if (!d)
		return NULL;
	while ((e = readdir(d)) != NULL)
		if (strcasecmp(e->d_name, name) == 0) {
			found = offserv_path_join(dir, e->d_name);
			break;
		}
	closedir(d);
	return found;
}

offserv_status offserv_dirtree_resolve(const char *root, const char *rel, char **out)
{
	char comp[OFFSERV_NAME_MAX + 1], *cur = strdup(root);
	const char *p = rel;

	*out = NULL;
	if (!cur)
		return OFFSERV_E_OUTOFMEMORY;
	while ((p = next_component(p, comp, sizeof(comp))) != NULL) {
		char *next;
		int last = next_component(p, (char[2]){0}, 2) == NULL;
		if (!strcmp(comp, "..") || !strcmp(comp, ".")) {
			free(cur);
			return OFFSERV_E_INVALID_NAME;
		}
		next = child_ci(cur, comp);
		free(cur);
		if (!next)
			return last ? OFFSERV_E_FILE_NOT_FOUND : OFFSERV_E_PATH_NOT_FOUND;
		cur = next;
	}
	*out = cur;
	return OFFSERV_OK;
}

/* Resolve what exists, create the missing directories; the local path of @p rel's parent. */
static offserv_status make_parents(const char *root, const char *rel, char **parent, char **leaf,
                                   char *err, size_t errlen)
{
	char comp[OFFSERV_NAME_MAX + 1], *cur = strdup(root);
	const char *p = rel, *rest;

	if (!cur)
		return OFFSERV_E_OUTOFMEMORY;
	while ((rest = next_component(p, comp, sizeof(comp))) != NULL) {
		char probe[2];
		char *next;
		if (next_component(rest, probe, sizeof(probe)) == NULL) {
			*parent = cur;
			*leaf = strdup(comp);
			return *leaf ? OFFSERV_OK : OFFSERV_E_OUTOFMEMORY;
		}
		next = child_ci(cur, comp);
		if (!next) {
			next = offserv_path_join(cur, comp);
			if (!next || (mkdir(next, 0755) != 0 && errno != EEXIST)) {
				offserv_set_error(err, errlen, "%s: cannot create: %s", next ? next : comp,
				                  strerror(errno));
				free(next);
				free(cur);
				return offserv_status_from_errno(errno);
			}
		}
		free(cur);
		cur = next;
		p = rest;
	}
	free(cur);
	offserv_set_error(err, errlen, "empty path");
	return OFFSERV_E_INVALID_NAME;
}

offserv_status offserv_dirtree_changeset_new(const char *root,
                                             struct offserv_dirtree_changeset **out,
                                             char *err, size_t errlen)
{
	struct stat st;
	struct offserv_dirtree_changeset *cs;

	*out = NULL;
	if (stat(root, &st) != 0 || !S_ISDIR(st.st_mode)) {
		offserv_set_error(err, errlen, "%s is not a directory", root);
		return OFFSERV_E_PATH_NOT_FOUND;
	}
	cs = calloc(1, sizeof(*cs));
	if (!cs || !(cs->root = strdup(root))) {
		free(cs);
		return OFFSERV_E_OUTOFMEMORY;
	}
	*out = cs;
	return OFFSERV_OK;
}

void offserv_dirtree_changeset_free(struct offserv_dirtree_changeset *cs)
{
	if (!cs)
		return;
	for (size_t i = 0; i < cs->n_ops; i++) {
		free(cs->ops[i].path);
		free(cs->ops[i].src);
		free(cs->ops[i].sd);
	}
	free(cs->ops);
	free(cs->root);
	free(cs);
}

static offserv_status push(struct offserv_dirtree_changeset *cs, enum op_kind kind,
                           const char *path, const char *src, const void *sd, size_t sd_len)
{
	struct op *n = realloc(cs->ops, (cs->n_ops + 1) * sizeof(*n));

	if (!n)
		return OFFSERV_E_OUTOFMEMORY;
	cs->ops = n;
	n = &cs->ops[cs->n_ops];
	memset(n, 0, sizeof(*n));
	n->kind = kind;
	n->path = strdup(path);
	n->src = strdup(src);
	if (sd && sd_len) {
		n->sd = malloc(sd_len);
		if (n->sd) {
			memcpy(n->sd, sd, sd_len);
			n->sd_len = sd_len;
		}
	}
	if (!n->path || !n->src || (sd && sd_len && !n->sd)) {
		free(n->path);
		free(n->src);
		free(n->sd);
		return OFFSERV_E_OUTOFMEMORY;
	}
	cs->n_ops++;
	return OFFSERV_OK;
}

offserv_status offserv_dirtree_changeset_add_file(struct offserv_dirtree_changeset *cs,
                                                  const char *path, const char *src,
                                                  const void *sd, size_t sd_len, char *err,
                                                  size_t errlen)
{
	(void)err;
	(void)errlen;
	return push(cs, OP_FILE, path, src, sd, sd_len);
}

offserv_status offserv_dirtree_changeset_link(struct offserv_dirtree_changeset *cs,
                                              const char *target, const char *link_path,
                                              char *err, size_t errlen)
{
	for (size_t i = 0; i < cs->n_ops; i++)
		if (cs->ops[i].kind == OP_FILE && strcasecmp(cs->ops[i].path, target) == 0)
			return push(cs, OP_LINK, link_path, target, NULL, 0);
	offserv_set_error(err, errlen, "%s: the link target %s is not added by this change set",
	                  link_path, target);
	return OFFSERV_E_INVALIDARG;
}

/* Where the filesystem holds NTFS descriptors (ntfs-3g), keep them. */
static void set_sd(const char *path, const uint8_t *sd, size_t len)
{
	if (sd && len)
		(void)setxattr(path, "system.ntfs_acl", sd, len, 0);
}

static offserv_status apply_file(struct offserv_dirtree_changeset *cs, const struct op *op,
                                 char *err, size_t errlen)
{
	char *parent = NULL, *leaf = NULL, *dest = NULL;
	offserv_status s = make_parents(cs->root, op->path, &parent, &leaf, err, errlen);

	if (OFFSERV_FAILED(s))
		return s;
	dest = child_ci(parent, leaf);
	if (!dest)
		dest = offserv_path_join(parent, leaf);
	if (!dest) {
		s = OFFSERV_E_OUTOFMEMORY;
	} else if (op->kind == OP_FILE) {
		/* copy_file writes a temporary name and renames: old or new, never half. */
		s = offserv_copy_file(op->src, dest, NULL, err, errlen);
		if (OFFSERV_SUCCEEDED(s))
			set_sd(dest, op->sd, op->sd_len);
	} else {
		char *target = NULL, *tmp = NULL;
		s = offserv_dirtree_resolve(cs->root, op->src, &target);
		if (OFFSERV_FAILED(s)) {
			offserv_set_error(err, errlen, "%s: link target %s missing", op->path, op->src);
		} else if (asprintf(&tmp, "%s.offserv-link-%ld", dest, (long)getpid()) < 0) {
			s = OFFSERV_E_OUTOFMEMORY;
		} else {
			unlink(tmp);
			if (link(target, tmp) != 0 || rename(tmp, dest) != 0) {
				s = offserv_status_from_errno(errno);
				offserv_set_error(err, errlen, "%s: cannot link to %s: %s", dest, target,
				                  strerror(errno));
				unlink(tmp);
			}
		}
		free(target);
		free(tmp);
	}
	free(dest);
	free(parent);
	free(leaf);
	return s;
}

offserv_status offserv_dirtree_changeset_apply(struct offserv_dirtree_changeset *cs, char *err,
                                               size_t errlen)
{
	for (size_t i = 0; i < cs->n_ops; i++) {
		offserv_status s = apply_file(cs, &cs->ops[i], err, errlen);
		if (OFFSERV_FAILED(s))
			return s;
	}
	return OFFSERV_OK;
}
