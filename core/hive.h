/* SPDX-License-Identifier: GPL-3.0-or-later */
/**
 * @file hive.h
 * @brief Registry hive files (internal): open, navigate, read, edit, commit.
 *
 * A thin layer over hivex for the CBS engine and the content library.
 * Key paths are written with backslashes, relative to the hive's root
 * ("Microsoft\\Windows\\CurrentVersion"), and compared case-insensitively
 * as Windows does; "" or "\\" names the root.  Value names are compared
 * case-insensitively too; "" is the key's default value.
 *
 * A hive opened for writing is read whole into memory; changes reach a
 * file only through offserv_hive_commit(), which writes a temporary file
 * beside the target, fsyncs it and renames it over the target.  The engine
 * always edits a scratch copy of an image's hive, never the original.
 *
 * Every fallible function returns an ::offserv_status and, on failure,
 * writes a message naming the hive file into @p err (may be NULL).
 */
#ifndef OFFSERV_CORE_HIVE_H
#define OFFSERV_CORE_HIVE_H

#include <stddef.h>
#include <stdint.h>

#include <offserv/status.h>

/** An open hive. */
struct offserv_hive;

/** A key of an open hive; 0 is never a valid key. */
typedef size_t offserv_hive_key;

/** Open flags. */
enum {
	OFFSERV_HIVE_READ = 0,  /**< read-only (the file is mapped) */
	OFFSERV_HIVE_WRITE = 1, /**< editable in memory; see offserv_hive_commit() */
};

/** Registry value types. */
enum {
	OFFSERV_HIVE_REG_NONE = 0,
	OFFSERV_HIVE_REG_SZ = 1,
	OFFSERV_HIVE_REG_EXPAND_SZ = 2,
	OFFSERV_HIVE_REG_BINARY = 3,
	OFFSERV_HIVE_REG_DWORD = 4,
	OFFSERV_HIVE_REG_DWORD_BE = 5,
	OFFSERV_HIVE_REG_LINK = 6,
	OFFSERV_HIVE_REG_MULTI_SZ = 7,
	OFFSERV_HIVE_REG_QWORD = 11,
};

/**
 * Largest value data, in bytes, that can be written.  Larger data needs
 * "big data" records, which hivex does not write; such values are refused
 * rather than stored in a form Windows may reject.
 */
#define OFFSERV_HIVE_MAX_VALUE_LEN 16344u

/**
 * Open a hive file.
 * @param flags OFFSERV_HIVE_READ or OFFSERV_HIVE_WRITE
 * @retval OFFSERV_E_FILE_NOT_FOUND the file does not exist
 * @retval OFFSERV_E_ACCESS_DENIED the file cannot be read
 * @retval OFFSERV_E_BAD_FORMAT not a registry hive (no "regf" header, too small,
 *         unsupported version, bad header checksum, no root key)
 * @retval OFFSERV_E_OUTOFMEMORY allocation failed
 */
offserv_status offserv_hive_open(const char *path, int flags, struct offserv_hive **out,
                                 char *err, size_t errlen);

/** Close a hive, dropping uncommitted changes; NULL is ignored. */
void offserv_hive_close(struct offserv_hive *h);

/** The path the hive was opened from. */
const char *offserv_hive_path(const struct offserv_hive *h);

/** The root key. */
offserv_hive_key offserv_hive_root(struct offserv_hive *h);

/**
 * Find the key at @p path below @p from (0 means the root).
 * @retval OFFSERV_E_FILE_NOT_FOUND a component of the path is missing (the
 *         message names it), as RegOpenKey does
 * @retval OFFSERV_E_INVALIDARG an empty component ("a\\\\b")
 * @retval OFFSERV_E_FILE_CORRUPT the hive's structure could not be read
 */
offserv_status offserv_hive_find(struct offserv_hive *h, offserv_hive_key from,
                                 const char *path, offserv_hive_key *out, char *err,
                                 size_t errlen);

/**
 * Find or create the key at @p path below @p from (0 means the root),
 * creating every missing component.  Existing keys are reused whatever
 * their case.
 * @retval OFFSERV_E_ACCESS_DENIED the hive was opened read-only
 * @retval OFFSERV_E_INVALIDARG an empty component
 */
offserv_status offserv_hive_create(struct offserv_hive *h, offserv_hive_key from,
                                   const char *path, offserv_hive_key *out, char *err,
                                   size_t errlen);

/**
 * Delete the key at @p path below @p from with all its subkeys and values.
 * Handles of deleted keys become invalid.
 * @retval OFFSERV_E_FILE_NOT_FOUND no such key
 * @retval OFFSERV_E_INVALIDARG @p path names the root
 */
offserv_status offserv_hive_delete_key(struct offserv_hive *h, offserv_hive_key from,
                                       const char *path, char *err, size_t errlen);

/** Name of a key (malloc'd into @p out). */
offserv_status offserv_hive_key_name(struct offserv_hive *h, offserv_hive_key key,
                                     char **out, char *err, size_t errlen);

/**
 * Names of the subkeys of @p key, in the hive's order.  @p names is a
 * malloc'd NULL-terminated array; free with offserv_hive_free_names().
 */
offserv_status offserv_hive_subkeys(struct offserv_hive *h, offserv_hive_key key,
                                    char ***names, size_t *count, char *err,
                                    size_t errlen);

/** Names of the values of @p key ("" for the default value); as offserv_hive_subkeys(). */
offserv_status offserv_hive_value_names(struct offserv_hive *h, offserv_hive_key key,
                                        char ***names, size_t *count, char *err,
                                        size_t errlen);

/** Free an array from offserv_hive_subkeys() or offserv_hive_value_names(). */
void offserv_hive_free_names(char **names);

/**
 * Read a value: its type and raw bytes (malloc'd, plus a NUL byte not
 * counted in @p len).
 * @retval OFFSERV_E_FILE_NOT_FOUND no such value
 */
offserv_status offserv_hive_get_value(struct offserv_hive *h, offserv_hive_key key,
                                      const char *name, uint32_t *type, uint8_t **data,
                                      size_t *len, char *err, size_t errlen);

/**
 * Read a REG_DWORD (4 bytes, little-endian).
 * @retval OFFSERV_E_FILE_NOT_FOUND no such value
 * @retval OFFSERV_E_INVALID_DATA the value is not a REG_DWORD of 4 bytes
 */
offserv_status offserv_hive_get_dword(struct offserv_hive *h, offserv_hive_key key,
                                      const char *name, uint32_t *out, char *err,
                                      size_t errlen);

/** Read a REG_QWORD (8 bytes, little-endian); errors as offserv_hive_get_dword(). */
offserv_status offserv_hive_get_qword(struct offserv_hive *h, offserv_hive_key key,
                                      const char *name, uint64_t *out, char *err,
                                      size_t errlen);

/**
 * Read a REG_SZ or REG_EXPAND_SZ and decode its UTF-16LE into malloc'd
 * UTF-8 (a missing terminator is tolerated).
 * @retval OFFSERV_E_INVALID_DATA another type, or not valid UTF-16
 */
offserv_status offserv_hive_get_string(struct offserv_hive *h, offserv_hive_key key,
                                       const char *name, char **out, char *err,
                                       size_t errlen);

/**
 * Read a REG_MULTI_SZ into a malloc'd NULL-terminated array of UTF-8
 * strings (free with offserv_hive_free_names()).
 */
offserv_status offserv_hive_get_multi_sz(struct offserv_hive *h, offserv_hive_key key,
                                         const char *name, char ***out, size_t *count,
                                         char *err, size_t errlen);

/**
 * Set one value of @p key to @p type and raw @p data, keeping the key's
 * other values.  A value of the same name (any case) is replaced.
 * @retval OFFSERV_E_ACCESS_DENIED the hive was opened read-only
 * @retval OFFSERV_E_NOT_SUPPORTED @p len exceeds ::OFFSERV_HIVE_MAX_VALUE_LEN,
 *         or the key holds another value that large (it cannot be rewritten)
 */
offserv_status offserv_hive_set_value(struct offserv_hive *h, offserv_hive_key key,
                                      const char *name, uint32_t type, const void *data,
                                      size_t len, char *err, size_t errlen);

/** Set a REG_SZ from UTF-8 (stored as UTF-16LE with its terminator). */
offserv_status offserv_hive_set_sz(struct offserv_hive *h, offserv_hive_key key,
                                   const char *name, const char *utf8, char *err,
                                   size_t errlen);

/** Set a REG_EXPAND_SZ from UTF-8. */
offserv_status offserv_hive_set_expand_sz(struct offserv_hive *h, offserv_hive_key key,
                                          const char *name, const char *utf8, char *err,
                                          size_t errlen);

/**
 * Set a REG_MULTI_SZ from @p count UTF-8 strings (each stored with its
 * terminator, then one more terminator).  Empty strings are refused
 * (OFFSERV_E_INVALIDARG): they would end the list early.
 */
offserv_status offserv_hive_set_multi_sz(struct offserv_hive *h, offserv_hive_key key,
                                         const char *name, const char *const *strings,
                                         size_t count, char *err, size_t errlen);

/** Set a REG_DWORD. */
offserv_status offserv_hive_set_dword(struct offserv_hive *h, offserv_hive_key key,
                                      const char *name, uint32_t v, char *err,
                                      size_t errlen);

/** Set a REG_QWORD. */
offserv_status offserv_hive_set_qword(struct offserv_hive *h, offserv_hive_key key,
                                      const char *name, uint64_t v, char *err,
                                      size_t errlen);

/** Set a REG_BINARY. */
offserv_status offserv_hive_set_binary(struct offserv_hive *h, offserv_hive_key key,
                                       const char *name, const void *data, size_t len,
                                       char *err, size_t errlen);

/**
 * Delete one value of @p key, keeping the others.
 * @retval OFFSERV_E_FILE_NOT_FOUND no such value
 */
offserv_status offserv_hive_delete_value(struct offserv_hive *h, offserv_hive_key key,
                                         const char *name, char *err, size_t errlen);

/**
 * Write the hive to @p path (NULL: the file it was opened from) safely: a
 * temporary file in the target's directory, fsync, rename over the target,
 * fsync of the directory.  On failure the target is untouched and the
 * temporary file removed.  An existing target keeps its permission bits;
 * a new one gets 0644.
 * @retval OFFSERV_E_ACCESS_DENIED read-only hive, or the directory is not writable
 * @retval OFFSERV_E_PATH_NOT_FOUND the target's directory does not exist
 * @retval OFFSERV_E_DISK_FULL no space left
 */
offserv_status offserv_hive_commit(struct offserv_hive *h, const char *path, char *err,
                                   size_t errlen);

/**
 * The name of the control set SYSTEM's CurrentControlSet points to, from
 * `Select\Current`: "ControlSet001" for 1.  @p out is malloc'd.
 * @retval OFFSERV_E_FILE_NOT_FOUND no Select key or no Current value
 * @retval OFFSERV_E_INVALID_DATA Current is not a DWORD in 1..999
 */
offserv_status offserv_hive_current_control_set(struct offserv_hive *h, char **out,
                                                char *err, size_t errlen);

/**
 * Find or create the key at @p path of a SYSTEM hive, where a leading
 * "CurrentControlSet" component is replaced by the control set
 * `Select\Current` names.  With @p create 0 a missing key gives
 * OFFSERV_E_FILE_NOT_FOUND.
 */
offserv_status offserv_hive_system_key(struct offserv_hive *h, const char *path, int create,
                                       offserv_hive_key *out, char *err, size_t errlen);

/**
 * Tests only: with @p on, offserv_hive_commit() behaves as if compaction
 * could not read the hive, so staged keys are moved the slow way.
 */
void offserv_hive__no_compaction(int on);

#endif /* OFFSERV_CORE_HIVE_H */
