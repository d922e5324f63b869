/* SPDX-License-Identifier: GPL-3.0-or-later */
/**
 * @file cab.h
 * @brief Reading Microsoft cabinet files (CAB, and the CAB-based MSU).
 *
 * A thin, defensive layer over libmspack.  A cabinet is opened together
 * with every other part of its set (a part that says it continues in, or
 * follows, another cabinet file: that file is looked for beside it, with a
 * case-insensitive name match).  Member names are sanitized with
 * offserv_path_sanitize(); names stored without the UTF-8 flag are read as
 * Windows-1252 (ISO-8859-1 for printable bytes) first.
 *
 * Extraction policy:
 * - A cabinet with even one member whose name is refused (absolute paths,
 *   "..", overlong UTF-8, device names, ...) or with two members whose
 *   sanitized names are equal ignoring ASCII case is refused for extraction
 *   as a whole: package cabinets never legitimately hold such names, and a
 *   partial expansion of a package is worse than none.  The members can
 *   still be listed.
 * - Output is bounded: a member never produces more bytes than it
 *   declares; a cabinet whose declared total exceeds the configurable cap
 *   (offserv_cab_set_max_total(), default ::OFFSERV_CAB_DEFAULT_MAX_TOTAL)
 *   or the free space of the destination is refused before any byte is
 *   written (decompression bombs).
 * - offserv_cab_extract_all() creates files with O_EXCL|O_NOFOLLOW and
 *   folders relative to a descriptor of the destination, never follows a
 *   symbolic link, never writes outside the destination, and removes what
 *   it created when it fails.
 *
 * One ::offserv_cab owns one libmspack decompressor: use a cabinet from one
 * thread at a time; different cabinets may be used from different threads.
 */
#ifndef OFFSERV_CAB_H
#define OFFSERV_CAB_H

#include <stddef.h>
#include <stdint.h>

#include <offserv/export.h>
#include <offserv/status.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Default cap on the total declared size a cabinet may expand to (64 GiB). */
#define OFFSERV_CAB_DEFAULT_MAX_TOTAL (64ull * 1024u * 1024u * 1024u)

/** Most cabinet files accepted in one multi-part set. */
#define OFFSERV_CAB_MAX_PARTS 1024u

/** File attribute bits of a member (as stored in the cabinet). */
#define OFFSERV_CAB_ATTRIB_RDONLY 0x01u
#define OFFSERV_CAB_ATTRIB_HIDDEN 0x02u
#define OFFSERV_CAB_ATTRIB_SYSTEM 0x04u
#define OFFSERV_CAB_ATTRIB_ARCH 0x20u
#define OFFSERV_CAB_ATTRIB_EXEC 0x40u
#define OFFSERV_CAB_ATTRIB_UTF_NAME 0x80u

/** An open cabinet (set). */
struct offserv_cab;

/** One member of a cabinet.  Valid until offserv_cab_close(). */
struct offserv_cab_member {
	size_t index;         /**< position in the cabinet, 0-based */
	const char *raw_name; /**< the name bytes exactly as stored */
	/**
	 * The sanitized relative path (UTF-8, '/' separators), or NULL when the
	 * name is refused; then @c refusal says why.
	 */
	const char *name;
	const char *refusal;  /**< why @c name is NULL, or NULL */
	uint64_t size;        /**< declared uncompressed size in bytes */
	uint32_t attributes;  /**< OFFSERV_CAB_ATTRIB_* bits */
};

/**
 * Open the cabinet @p path and every other part of its set.
 *
 * @retval OFFSERV_OK opened; close with offserv_cab_close()
 * @retval OFFSERV_CBS_E_INVALID_PACKAGE not a cabinet (no "MSCF" signature)
 * @retval OFFSERV_E_FILE_CORRUPT malformed or truncated cabinet header, or
 *         parts of a set that do not fit together or loop
 * @retval OFFSERV_E_FILE_NOT_FOUND @p path, or a part of its set, is
 *         missing (the message names the missing file)
 * @retval OFFSERV_E_INVALIDARG @p path is not a regular file
 * @retval OFFSERV_E_OUTOFMEMORY allocation failed
 */
OFFSERV_API offserv_status offserv_cab_open(const char *path, struct offserv_cab **cab,
                                            char *err, size_t errlen);

/** Close a cabinet; NULL is ignored. */
OFFSERV_API void offserv_cab_close(struct offserv_cab *cab);

/** The path the cabinet was opened with. */
OFFSERV_API const char *offserv_cab_path(const struct offserv_cab *cab);

/** Number of cabinet files in the set (1 for a single cabinet). */
OFFSERV_API size_t offserv_cab_parts(const struct offserv_cab *cab);

/** Number of members. */
OFFSERV_API size_t offserv_cab_count(const struct offserv_cab *cab);

/** Member @p i (0-based), or NULL when out of range. */
OFFSERV_API const struct offserv_cab_member *offserv_cab_member_at(const struct offserv_cab *cab,
                                                                   size_t i);

/**
 * Iterate: the member after @p prev, or the first member when @p prev is
 * NULL; NULL after the last.
 */
OFFSERV_API const struct offserv_cab_member *offserv_cab_next(const struct offserv_cab *cab,
                                                              const struct offserv_cab_member *prev);

/**
 * Find a member by name, ignoring ASCII case and treating '\\' and '/' as
 * the same separator; matched against the stored name and the sanitized
 * one.  NULL when absent.
 */
OFFSERV_API const struct offserv_cab_member *offserv_cab_find(const struct offserv_cab *cab,
                                                              const char *name);

/** Sum of the declared sizes of all members. */
OFFSERV_API uint64_t offserv_cab_total_size(const struct offserv_cab *cab);

/** Set the cap on declared output (per extraction call); 0 restores the default. */
OFFSERV_API void offserv_cab_set_max_total(struct offserv_cab *cab, uint64_t bytes);

/**
 * Check that every member name is acceptable for extraction.
 * @retval OFFSERV_OK all names are safe and distinct
 * @retval OFFSERV_E_INVALID_NAME a member is refused (the message names it)
 */
OFFSERV_API offserv_status offserv_cab_check_names(const struct offserv_cab *cab, char *err,
                                                   size_t errlen);

/**
 * Extract one member into a new file @p dest_path (created with
 * O_EXCL|O_NOFOLLOW, mode 0644; removed again on failure).
 *
 * @retval OFFSERV_OK written
 * @retval OFFSERV_E_INVALID_NAME the cabinet holds a refused name
 * @retval OFFSERV_E_INVALID_DATA the member declares more than the cap, or
 *         produced more than it declares
 * @retval OFFSERV_E_DISK_FULL not enough free space for the declared size
 * @retval OFFSERV_E_FILE_CORRUPT damaged or truncated data
 * @retval OFFSERV_E_CRC a data block checksum does not match
 * @retval OFFSERV_E_FILE_EXISTS @p dest_path exists
 */
OFFSERV_API offserv_status offserv_cab_extract_member(struct offserv_cab *cab,
                                                      const struct offserv_cab_member *member,
                                                      const char *dest_path, char *err,
                                                      size_t errlen);

/**
 * Extract one member into memory: @p buf is malloc'd (one NUL byte added
 * after the data, not counted in @p len).  A member that declares more than
 * @p max_bytes is refused with OFFSERV_E_INVALID_DATA before decompression.
 * Other errors as offserv_cab_extract_member().
 */
OFFSERV_API offserv_status offserv_cab_extract_member_mem(struct offserv_cab *cab,
                                                          const struct offserv_cab_member *member,
                                                          size_t max_bytes, void **buf,
                                                          size_t *len, char *err,
                                                          size_t errlen);

/**
 * Read the first @p want bytes of a member into @p buf (fewer when the
 * member is shorter: @p got says how many), decompressing no further than
 * needed.  Errors as offserv_cab_extract_member().
 */
OFFSERV_API offserv_status offserv_cab_read_head(struct offserv_cab *cab,
                                                 const struct offserv_cab_member *member,
                                                 void *buf, size_t want, size_t *got,
                                                 char *err, size_t errlen);

/**
 * Extract every member to @p destdir/<sanitized name>, creating folders.
 * @p destdir must exist.  Nothing is written when a name is refused or the
 * declared total exceeds the cap or the free space; on any later failure
 * the files and folders created so far are removed.
 *
 * @retval OFFSERV_OK all members written
 * @retval OFFSERV_E_INVALID_NAME a member name is refused (named in the message)
 * @retval OFFSERV_E_INVALID_DATA declared total over the cap, or a member
 *         produced more than it declares
 * @retval OFFSERV_E_DISK_FULL not enough free space
 * @retval OFFSERV_E_FILE_EXISTS a target already exists in @p destdir
 * @retval OFFSERV_E_ACCESS_DENIED a folder on the way is a symbolic link or
 *         not a folder
 * @retval OFFSERV_E_FILE_CORRUPT, OFFSERV_E_CRC damaged data
 */
OFFSERV_API offserv_status offserv_cab_extract_all(struct offserv_cab *cab, const char *destdir,
                                                   char *err, size_t errlen);

#ifdef __cplusplus
}
#endif

#endif /* OFFSERV_CAB_H */
