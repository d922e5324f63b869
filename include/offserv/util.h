/* SPDX-License-Identifier: GPL-3.0-or-later */
/**
 * @file util.h
 * @brief Files, paths and digests, shared by the core and plugins.
 *
 * Every function returns an ::offserv_status; on failure a message that
 * names the file and the problem is written into @p err when given
 * (@p err may be NULL, @p errlen 0).
 */
#ifndef OFFSERV_UTIL_H
#define OFFSERV_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <offserv/export.h>
#include <offserv/status.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Write a printf-formatted message into a caller's error buffer (@p err may
 * be NULL or @p errlen 0: nothing is written).  The message is truncated to
 * fit and always NUL-terminated.  Library code and plugins use it to fill
 * the `char *err, size_t errlen` pair every fallible function takes.
 */
OFFSERV_API void offserv_set_error(char *err, size_t errlen, const char *fmt, ...)
	OFFSERV_PRINTF(3, 4);

/** Longest path component accepted from an archive or manifest. */
#define OFFSERV_NAME_MAX 255
/** Longest relative path accepted from an archive or manifest. */
#define OFFSERV_RELPATH_MAX 1024

/**
 * Sanitize a member name read from an archive or a manifest (Windows or
 * Unix separators) into a safe relative path with '/' separators.
 *
 * Refused with OFFSERV_E_INVALID_NAME and a message: empty names, absolute
 * paths, drive letters ("C:"), UNC prefixes, "." or ".." components, NUL
 * or control characters, ':' (alternate streams), reserved device names
 * (CON, PRN, AUX, NUL, COM1-9, LPT1-9, with or without extension),
 * components over ::OFFSERV_NAME_MAX bytes, paths over
 * ::OFFSERV_RELPATH_MAX bytes, and names that are not valid UTF-8.
 * Empty components ("a//b") are collapsed.  The result is malloc'd.
 */
OFFSERV_API offserv_status offserv_path_sanitize(const char *raw, char **out, char *err,
                                                 size_t errlen);

/** malloc'd "a/b"; NULL on allocation failure. */
OFFSERV_API char *offserv_path_join(const char *a, const char *b);

/** Create a directory and its parents (mode 0755 for new ones). */
OFFSERV_API offserv_status offserv_mkdir_p(const char *path, char *err, size_t errlen);

/** Remove a tree; never follows symbolic links; a missing path is success. */
OFFSERV_API offserv_status offserv_rmtree(const char *path, char *err, size_t errlen);

/**
 * Read a whole file into a malloc'd buffer (NUL-terminated, the NUL not
 * counted in @p len).  A file over @p max bytes is refused with
 * OFFSERV_E_INVALID_DATA.
 */
OFFSERV_API offserv_status offserv_read_file(const char *path, size_t max, char **data,
                                             size_t *len, char *err, size_t errlen);

/**
 * Write @p data to @p path atomically: a temporary file in the same
 * directory, fsync, rename, fsync of the directory.  Either the old file
 * or the new one is there, whatever kills the process.
 */
OFFSERV_API offserv_status offserv_write_file_atomic(const char *path, const void *data,
                                                     size_t len, mode_t mode, char *err,
                                                     size_t errlen);

/**
 * Copy a file (contents and mode) to @p dst via a temporary name, fsync,
 * rename.  When @p sha256_hex is not NULL it receives the SHA-256 of the
 * bytes copied (65 bytes, lower-case hex, NUL-terminated).
 */
OFFSERV_API offserv_status offserv_copy_file(const char *src, const char *dst,
                                             char *sha256_hex, char *err, size_t errlen);

/**
 * Non-zero when @p path is a regular file whose first @p len bytes are
 * @p magic ("MSCF" for a cabinet, "MSWIM\0\0\0" for a WIM).  Never blocks on
 * a FIFO; any error reads as "no".
 */
OFFSERV_API int offserv_file_starts_with(const char *path, const void *magic, size_t len);

/** fsync a directory (after a rename into it). */
OFFSERV_API offserv_status offserv_fsync_dir(const char *path, char *err, size_t errlen);

/** SHA-256 streaming context. */
struct offserv_sha256 {
	uint32_t state[8];
	uint64_t bytes;
	uint8_t buf[64];
	size_t buf_len;
};

/** Start a SHA-256 computation. */
OFFSERV_API void offserv_sha256_init(struct offserv_sha256 *ctx);
/** Feed bytes. */
OFFSERV_API void offserv_sha256_update(struct offserv_sha256 *ctx, const void *data,
                                       size_t len);
/** Finish: 32 bytes into @p digest. */
OFFSERV_API void offserv_sha256_final(struct offserv_sha256 *ctx, uint8_t digest[32]);
/** SHA-256 of a buffer. */
OFFSERV_API void offserv_sha256(const void *data, size_t len, uint8_t digest[32]);
/** SHA-256 of a file, streamed in constant memory. */
OFFSERV_API offserv_status offserv_sha256_file(const char *path, uint8_t digest[32],
                                               uint64_t *size, char *err, size_t errlen);
/** Lower-case hex of @p len bytes into @p out (2*len+1 bytes). */
OFFSERV_API void offserv_hex(const uint8_t *bytes, size_t len, char *out);

/** SHA-1 streaming context (WIM and CAB indexes use SHA-1). */
struct offserv_sha1 {
	uint32_t state[5];
	uint64_t bytes;
	uint8_t buf[64];
	size_t buf_len;
};
OFFSERV_API void offserv_sha1_init(struct offserv_sha1 *ctx);
OFFSERV_API void offserv_sha1_update(struct offserv_sha1 *ctx, const void *data, size_t len);
OFFSERV_API void offserv_sha1_final(struct offserv_sha1 *ctx, uint8_t digest[20]);

/**
 * Decode base64 (standard alphabet, padding required, no whitespace except
 * around the text).  Returns OFFSERV_E_INVALID_DATA on bad input or when
 * the result would exceed @p cap bytes.
 */
OFFSERV_API offserv_status offserv_base64_decode(const char *text, uint8_t *out, size_t cap,
                                                 size_t *out_len);
/** Encode base64 into a malloc'd string. */
OFFSERV_API char *offserv_base64_encode(const uint8_t *data, size_t len);

/**
 * Convert UTF-8 to UTF-16LE with a terminating NUL (as the registry stores
 * REG_SZ).  @p out is malloc'd, @p out_len counts bytes including the NUL.
 */
OFFSERV_API offserv_status offserv_utf8_to_utf16le(const char *s, uint8_t **out,
                                                   size_t *out_len);
/** Convert UTF-16LE (@p len bytes, terminator optional) to malloc'd UTF-8. */
OFFSERV_API offserv_status offserv_utf16le_to_utf8(const uint8_t *s, size_t len, char **out);

/** True when @p len bytes at @p s are valid UTF-8 (shortest forms, no surrogates). */
OFFSERV_API bool offserv_utf8_valid(const char *s, size_t len);

/** A random GUID in registry form, lower case, no braces (37 bytes with NUL). */
OFFSERV_API offserv_status offserv_guid_generate(char out[37]);

/** Now as a Windows FILETIME (100 ns since 1601-01-01 UTC). */
OFFSERV_API uint64_t offserv_filetime_now(void);

#ifdef __cplusplus
}
#endif

#endif /* OFFSERV_UTIL_H */
