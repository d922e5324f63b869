/* SPDX-License-Identifier: GPL-3.0-or-later */
/**
 * @file ntfsvol.h
 * @brief Scratch NTFS volumes in a file (internal to liboffserv).
 *
 * A change set for a WIM image is staged on a small NTFS volume kept in a
 * sparse file: files and directories carry exactly the Windows security
 * descriptors, attributes and hard links the image must get, and wimlib
 * captures the volume with WIMLIB_ADD_FLAG_NTFS.  The volume is made with
 * mkntfs (run directly, never through a shell) and written with
 * libntfs-3g; nothing is mounted in the kernel and no privileges are needed.
 *
 * Paths inside the volume use '/' separators; a leading '/' is optional.
 */
#ifndef OFFSERV_NTFSVOL_H
#define OFFSERV_NTFSVOL_H

#include <stddef.h>
#include <stdint.h>

#include <offserv/status.h>

/** An open (libntfs-3g mounted) scratch volume. */
struct offserv_ntfsvol;

/** Smallest volume offserv_ntfsvol_format() makes, in bytes. */
#define OFFSERV_NTFSVOL_MIN_SIZE (16u * 1024u * 1024u)

/**
 * Create @p path as a sparse file of @p size bytes (rounded up to
 * ::OFFSERV_NTFSVOL_MIN_SIZE and to 1 MiB) and format it as NTFS with
 * mkntfs (quick format, label "offserv").  An existing file is refused.
 *
 * @retval OFFSERV_E_FILE_EXISTS @p path exists
 * @retval OFFSERV_E_DISK_FULL no room for the file
 * @retval OFFSERV_E_FAIL mkntfs failed (its first output line is in @p err)
 */
offserv_status offserv_ntfsvol_format(const char *path, uint64_t size, char *err,
                                      size_t errlen);

/**
 * Open the volume in the file @p path read-write with libntfs-3g.
 * @retval OFFSERV_E_INVALID_DATA not an NTFS volume
 */
offserv_status offserv_ntfsvol_open(const char *path, struct offserv_ntfsvol **out,
                                    char *err, size_t errlen);

/**
 * Flush and close the volume; @p vol is freed whatever happens.  NULL is
 * accepted.
 * @retval OFFSERV_E_WRITE_FAULT the volume could not be written back
 */
offserv_status offserv_ntfsvol_close(struct offserv_ntfsvol *vol, char *err, size_t errlen);

/**
 * Create the directory @p path (its parents must exist) or, if it exists,
 * keep it; then set its security descriptor (when @p sd is not NULL: a
 * self-relative descriptor of @p sd_len bytes) and its FILE_ATTRIBUTE_*
 * value (when @p attributes is not 0; FILE_ATTRIBUTE_DIRECTORY is implied).
 * A directory created without @p sd gets libntfs-3g's default descriptor.
 *
 * @retval OFFSERV_E_PATH_NOT_FOUND the parent is missing
 * @retval OFFSERV_E_INVALID_DATA libntfs-3g refused the descriptor
 * @retval OFFSERV_E_ALREADY_EXISTS @p path is a file
 */
offserv_status offserv_ntfsvol_mkdir(struct offserv_ntfsvol *vol, const char *path,
                                     const void *sd, size_t sd_len, uint32_t attributes,
                                     char *err, size_t errlen);

/**
 * Create the file @p path (its parent must exist, the name must not) with
 * the contents of the local file @p src (streamed; NULL gives an empty
 * file), the descriptor @p sd (NULL: libntfs-3g's default) and the
 * attributes @p attributes (0: FILE_ATTRIBUTE_ARCHIVE).
 *
 * @retval OFFSERV_E_ALREADY_EXISTS @p path exists
 * @retval OFFSERV_E_FILE_NOT_FOUND @p src cannot be opened
 * @retval OFFSERV_E_DISK_FULL the volume is full
 */
offserv_status offserv_ntfsvol_add_file(struct offserv_ntfsvol *vol, const char *path,
                                        const char *src, const void *sd, size_t sd_len,
                                        uint32_t attributes, char *err, size_t errlen);

/**
 * Give the existing file @p target a further name @p link_path (a hard
 * link: one inode, one descriptor).  The parent of @p link_path must exist.
 */
offserv_status offserv_ntfsvol_link(struct offserv_ntfsvol *vol, const char *target,
                                    const char *link_path, char *err, size_t errlen);

/**
 * Set the creation, last write and last access times (Windows FILETIMEs)
 * of @p path.
 */
offserv_status offserv_ntfsvol_set_times(struct offserv_ntfsvol *vol, const char *path,
                                         uint64_t creation, uint64_t last_write,
                                         uint64_t last_access, char *err, size_t errlen);

/**
 * Read back the security descriptor (malloc'd into @p sd, NULL when the
 * file has none) and the attributes of @p path.
 * @retval OFFSERV_E_FILE_NOT_FOUND no such path
 */
offserv_status offserv_ntfsvol_get_meta(struct offserv_ntfsvol *vol, const char *path,
                                        void **sd, size_t *sd_len, uint32_t *attributes,
                                        char *err, size_t errlen);

#endif /* OFFSERV_NTFSVOL_H */
