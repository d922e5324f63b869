/* SPDX-License-Identifier: GPL-3.0-or-later */
/**
 * @file mount.h
 * @brief The mount model of the `dism` program (internal).
 *
 * A mounted image is recorded in a small file under the state directory
 * (`<site root>/Mounts/<first 16 hex digits of SHA-256(mount dir)>.ini`),
 * so that any later process can list, unmount, commit, remount or clean it
 * up, also after a crash.  Two methods:
 *
 * - `fuse`: a read-write (or read-only) wimlib FUSE mount, when /dev/fuse
 *   can be used.  It keeps every Windows attribute of what is written
 *   through it.
 * - `extract`: the index is extracted into the mount directory.  A commit
 *   compares the directory with the index (size and modification time of
 *   each file, presence of each name) and writes only the difference into
 *   the index with one wimlib update and one append-mode overwrite: files
 *   that were not touched keep their security descriptors, attributes,
 *   alternate data streams, short names and hard links; new and changed
 *   files are stored as captured from Linux, without a security descriptor
 *   (they inherit their parent's permissions on Windows) and without
 *   alternate data streams.
 *
 * A record's status is Ok when its mount is usable; Needs Remount when the
 * mount directory is gone or empty (a dead FUSE mount) or the extraction
 * did not finish (its process died); Invalid when nothing but a cleanup
 * can help (see dism_mount_status()).
 */
#ifndef OFFSERV_DISM_MOUNT_H
#define OFFSERV_DISM_MOUNT_H

#include <stddef.h>

#include <offserv/status.h>

/** A mount record. */
struct dism_mount_record {
	char *mount_dir;  /**< absolute */
	char *image_file; /**< absolute */
	int image_index;
	int read_write;
	char *method;     /**< "extract" or "fuse" */
	long pid;         /**< process that made the mount */
	long long time;   /**< when, seconds since 1970 */
	int complete;     /**< the mount finished */
	int unmounting;   /**< an unmount started */
	char *record_path; /**< the file it was read from / written to */
};

/** Free the strings of @p r and zero it. */
void dism_mount_record_clear(struct dism_mount_record *r);

/** The record file for @p mount_dir (absolute) under @p state_dir; malloc'd. */
char *dism_mount_record_path(const char *state_dir, const char *mount_dir);

/**
 * Write @p r to r->record_path atomically.
 * @retval OFFSERV_E_INVALIDARG a path holds a newline
 */
offserv_status dism_mount_record_save(const struct dism_mount_record *r, char *err,
                                      size_t errlen);

/**
 * Read a record file.
 * @retval OFFSERV_E_FILE_NOT_FOUND no such record
 * @retval OFFSERV_E_INVALID_DATA not a mount record
 */
offserv_status dism_mount_record_load(const char *path, struct dism_mount_record *r,
                                      char *err, size_t errlen);

/**
 * Every record under @p state_dir, sorted by mount directory.  A missing
 * state directory gives none.  Free with dism_mount_records_free().
 */
offserv_status dism_mount_records_list(const char *state_dir, struct dism_mount_record **out,
                                       size_t *n, char *err, size_t errlen);

/** Free an array from dism_mount_records_list(). */
void dism_mount_records_free(struct dism_mount_record *v, size_t n);

/** 1 when the mount of @p r is usable ("Status : Ok"), else 0 ("Invalid"). */
int dism_mount_is_ok(const struct dism_mount_record *r);

/**
 * The status /Get-MountedImageInfo shows: "Ok" when usable; "Needs
 * Remount" when /Remount-Image can make it usable again (its directory is
 * gone or empty, or its extraction was cut short by a process that died);
 * "Invalid" otherwise (an unmount was interrupted, the image file is gone,
 * or a dead mount left files behind): only /Cleanup-Mountpoints helps.
 */
const char *dism_mount_status(const struct dism_mount_record *r);

/** Remove everything inside @p dir, keeping @p dir itself. */
offserv_status dism_empty_dir(const char *dir, char *err, size_t errlen);

#endif /* OFFSERV_DISM_MOUNT_H */
