/* SPDX-License-Identifier: GPL-3.0-or-later */
/**
 * @file drive.h
 * @brief The servicing drive: where images are worked on and updates staged.
 *
 * As in Configuration Manager, temporary files live under
 * `<drive>/ConfigMgr_OfflineImageServicing/`: `<image package id>/ImageMountDir`
 * for an image's working files and `<update guid>/` for staged update files.
 * The drive is a mount point: "Automatic" picks the one that holds the site
 * root.
 */
#ifndef OFFSERV_DRIVE_H
#define OFFSERV_DRIVE_H

#include <stddef.h>
#include <stdint.h>

#include <offserv/export.h>
#include <offserv/status.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Name of the working folder on the servicing drive. */
#define OFFSERV_DRIVE_WORKDIR_NAME "ConfigMgr_OfflineImageServicing"
/** Name of an image's working folder inside its image package folder. */
#define OFFSERV_DRIVE_IMAGE_SUBDIR "ImageMountDir"

/**
 * Choose the servicing drive.
 *
 * @p configured "Automatic" (any case) or NULL: the mount point of the
 * filesystem holding @p site_root (or its nearest existing parent, for a
 * site not created yet).  A path that exists and is a mount point is used
 * as is.  A path that does not exist or is not a mount point behaves as
 * Automatic; then @p why receives the reason, for the caller to log
 * (otherwise @p why is set to the empty string).
 *
 * @retval OFFSERV_OK           *drive is malloc'd.
 * @retval OFFSERV_E_INVALIDARG @p site_root missing or not absolute (@p why says so).
 * @retval other                the mount table could not be read.
 */
OFFSERV_API offserv_status offserv_drive_resolve(const char *configured, const char *site_root,
                                                 char **drive, char *why, size_t whylen);

/**
 * True when @p path is a mount point (listed in /proc/self/mountinfo, or on
 * another device than its parent).
 */
OFFSERV_API int offserv_drive_is_mount_point(const char *path);

/**
 * `<drive>/ConfigMgr_OfflineImageServicing`, created mode 0700 when missing.
 * An existing one must be a real directory (not a symbolic link) owned by
 * the effective user; one open to group or others is narrowed to 0700.
 *
 * @retval OFFSERV_OK               *path is malloc'd.
 * @retval OFFSERV_E_ACCESS_DENIED  it is a symbolic link, not a directory, or
 *                                  owned by another user.
 * @retval other                    creation failed (errno mapped).
 */
OFFSERV_API offserv_status offserv_drive_workdir(const char *drive, char **path, char *err,
                                                 size_t errlen);

/**
 * `<workdir>/<image_id>/ImageMountDir`, created (0700) with its parents.
 *
 * @retval OFFSERV_E_INVALID_NAME @p image_id is empty, "." or "..", or has a
 *                                character outside letters, digits and "-_.{}".
 */
OFFSERV_API offserv_status offserv_drive_image_dir(const char *drive, const char *image_id,
                                                   char **path, char *err, size_t errlen);

/**
 * `<workdir>/<guid>`, created (0700), for one update's staged files.
 *
 * @retval OFFSERV_E_INVALID_NAME @p guid is not a valid folder name (as for
 *                                offserv_drive_image_dir()).
 */
OFFSERV_API offserv_status offserv_drive_update_dir(const char *drive, const char *guid,
                                                    char **path, char *err, size_t errlen);

/** Bytes available to unprivileged users on the filesystem of @p path (statvfs). */
OFFSERV_API offserv_status offserv_drive_free_bytes(const char *path, uint64_t *bytes,
                                                    char *err, size_t errlen);

#ifdef __cplusplus
}
#endif

#endif /* OFFSERV_DRIVE_H */
