/* SPDX-License-Identifier: GPL-3.0-or-later */
/**
 * @file dirtree.h
 * @brief An offline Windows directory tree as a servicing target (internal).
 *
 * The engine's second backend, for `dism /Image:<dir>`: an applied image, a
 * mounted image, a mounted VHD.  It offers what the WIM backend offers:
 * stat of a path (resolved case-insensitively, as Windows would), fetching
 * a file into scratch, and a change set of files, hard links and
 * directories applied at once.  Files are written under a temporary name
 * and renamed into place; a projection is a hard link to its component
 * store twin.  On an NTFS volume mounted with ntfs-3g the security
 * descriptor is set through the `system.ntfs_acl` extended attribute; on
 * other filesystems descriptors cannot be kept and are dropped.
 *
 * Unlike a WIM, a directory cannot be changed atomically as a whole: a
 * failure in the middle of offserv_dirtree_changeset_apply() leaves the
 * files written so far (each file itself is either old or new).
 */
#ifndef OFFSERV_DIRTREE_H
#define OFFSERV_DIRTREE_H

#include <stddef.h>
#include <stdint.h>

#include <offserv/status.h>

struct offserv_dirtree_changeset;

/**
 * Resolve @p rel (image path, '/' or '\\' separators) under @p root, each
 * component matched exactly or else case-insensitively; malloc'd local path
 * into @p out.
 * @retval OFFSERV_E_FILE_NOT_FOUND the last component is missing
 * @retval OFFSERV_E_PATH_NOT_FOUND a parent is missing
 */
offserv_status offserv_dirtree_resolve(const char *root, const char *rel, char **out);

/** Start a change set for the tree at @p root (which must be a directory). */
offserv_status offserv_dirtree_changeset_new(const char *root,
                                             struct offserv_dirtree_changeset **out,
                                             char *err, size_t errlen);

/** Free a change set.  NULL is accepted. */
void offserv_dirtree_changeset_free(struct offserv_dirtree_changeset *cs);

/**
 * Add or replace the file @p path with a copy of @p src (read at apply
 * time).  @p sd: a self-relative security descriptor to set where the
 * filesystem can hold one (NULL keeps a replaced file's, if any).
 */
offserv_status offserv_dirtree_changeset_add_file(struct offserv_dirtree_changeset *cs,
                                                  const char *path, const char *src,
                                                  const void *sd, size_t sd_len,
                                                  char *err, size_t errlen);

/** Make @p link_path a hard link to @p target, which this change set adds. */
offserv_status offserv_dirtree_changeset_link(struct offserv_dirtree_changeset *cs,
                                              const char *target, const char *link_path,
                                              char *err, size_t errlen);

/** Apply every change, in order.  Missing parent directories are created. */
offserv_status offserv_dirtree_changeset_apply(struct offserv_dirtree_changeset *cs, char *err,
                                               size_t errlen);

#endif /* OFFSERV_DIRTREE_H */
