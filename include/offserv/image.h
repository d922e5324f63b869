/* SPDX-License-Identifier: GPL-3.0-or-later */
/**
 * @file image.h
 * @brief Describing a WIM file for image-type plugins and programs.
 */
#ifndef OFFSERV_IMAGE_H
#define OFFSERV_IMAGE_H

#include <stddef.h>

#include <offserv/export.h>
#include <offserv/plugin.h>
#include <offserv/status.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Read the indexes of the WIM at @p wim_path (name, edition, architecture,
 * version, languages, sizes: from the WIM's XML, without reading any file
 * data) into a new ::offserv_image_object whose `type` is @p type.
 * Free it with offserv_image_object_free().
 *
 * @retval OFFSERV_E_FILE_NOT_FOUND no such file
 * @retval OFFSERV_E_INVALID_DATA not a WIM, or a damaged header
 * @retval OFFSERV_E_FILE_CORRUPT truncated or damaged WIM
 */
OFFSERV_API offserv_status offserv_wim_describe(const char *wim_path, const char *type,
                                                struct offserv_image_object **out, char *err,
                                                size_t errlen);

/** Non-zero when @p path begins with the WIM magic ("MSWIM\0\0\0"). */
OFFSERV_API int offserv_is_wim_file(const char *path);

#ifdef __cplusplus
}
#endif

#endif /* OFFSERV_IMAGE_H */
