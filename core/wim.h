/* SPDX-License-Identifier: GPL-3.0-or-later */
/**
 * @file wim.h
 * @brief WIM access without mounting or extracting (internal to liboffserv).
 *
 * Everything that touches wimlib: image properties, reading single paths,
 * extracting a few files, and changing an image through a change set that
 * is applied in one wimlib_update_image() call and committed with one
 * wimlib_overwrite() per WIM.  Windows metadata (security descriptors,
 * attributes, hard links) is kept: new and replaced files are staged on a
 * scratch NTFS volume (see ntfsvol.h) and captured from it.
 *
 * Image paths are given with '/' or '\\' separators, a leading separator
 * optional ("Windows/System32/config/SOFTWARE").  wimlib compares names
 * case-sensitively; these functions resolve each name as Windows would
 * (an exact match first, then a case-insensitive one) unless told not to.
 *
 * Errors: every function returns an ::offserv_status and writes into
 * @p err a message naming the WIM file and, for wimlib failures, wimlib's
 * own error string.
 */
#ifndef OFFSERV_WIM_H
#define OFFSERV_WIM_H

#include <stddef.h>
#include <stdint.h>

#include <offserv/plugin.h>
#include <offserv/status.h>

/** An open WIM file. */
struct offserv_wim;

/** Open flags. */
enum {
	OFFSERV_WIM_OPEN_READ = 0,      /**< read only */
	OFFSERV_WIM_OPEN_WRITE = 1,     /**< for servicing: refused for split and solid WIMs */
	OFFSERV_WIM_OPEN_CHECK_INTEGRITY = 2, /**< verify the integrity table if present */
};

/** Whole-file facts. */
struct offserv_wim_info {
	int image_count;
	int boot_index;        /**< 0 when no image is bootable */
	int solid;             /**< ESD / solid (LZMS) resources */
	int split;             /**< part of a split WIM (.swm) */
	int part_number;
	int total_parts;
	const char *compression; /**< "None", "XPRESS", "LZX", "LZMS" (static) */
	uint32_t chunk_size;
	int has_integrity_table;
	int write_in_progress; /**< an earlier writer died; the old image is intact */
	uint64_t file_size;    /**< bytes of the .wim file */
};

/** Properties of one index, read from the WIM's XML. */
struct offserv_wim_index {
	struct offserv_image_index base; /**< as the plugin ABI reports an index */
	uint32_t major, minor;           /**< WINDOWS/VERSION/MAJOR, MINOR */
	char *default_language;          /**< WINDOWS/LANGUAGES/DEFAULT or NULL */
	uint64_t creation_time;          /**< CREATIONTIME, FILETIME (0 when absent) */
	uint64_t last_modification_time; /**< LASTMODIFICATIONTIME, FILETIME */
};

/** One file or directory of an image. */
struct offserv_wim_stat {
	char *path;           /**< full path as spelled in the image, "/Windows/System32" */
	char *name;           /**< last component ("" for the root) */
	int is_dir;
	uint64_t size;        /**< bytes of the unnamed data stream */
	uint32_t attributes;  /**< FILE_ATTRIBUTE_* */
	uint32_t reparse_tag;
	void *sd;             /**< self-relative security descriptor, NULL if none */
	size_t sd_len;
	uint64_t hard_link_group_id; /**< may be 0 when num_links == 1 */
	uint32_t num_links;
	uint32_t num_named_streams;
	int has_sha1;         /**< false for empty files and directories */
	uint8_t sha1[20];     /**< of the unnamed data stream */
	uint64_t creation_time, last_write_time, last_access_time; /**< FILETIMEs */
};

/**
 * Progress: @p done of @p total units of the step @p what ("scanning",
 * "writing", "metadata", ...).  A non-zero return aborts the operation,
 * which then fails with ::OFFSERV_E_ABORT; an aborted commit leaves the WIM
 * file as it was.
 */
typedef int (*offserv_wim_progress_fn)(void *ctx, uint64_t done, uint64_t total,
                                       const char *what);

/**
 * Open a WIM.  With ::OFFSERV_WIM_OPEN_WRITE, split and solid WIMs are
 * refused with ::OFFSERV_CBS_E_IMAGE_UNSERVICEABLE (they can be opened
 * read-only).
 *
 * @retval OFFSERV_E_FILE_NOT_FOUND no such file
 * @retval OFFSERV_E_ACCESS_DENIED not readable (or not writable for WRITE)
 * @retval OFFSERV_E_INVALID_DATA not a WIM file, or a bad header
 * @retval OFFSERV_E_FILE_CORRUPT truncated or damaged WIM
 * @retval OFFSERV_CBS_E_IMAGE_UNSERVICEABLE opened for writing but split/solid
 * @retval OFFSERV_E_SHARING_VIOLATION opened for writing while another process
 *         holds it for writing (an OFD lock on the file, released when the
 *         handle is closed or the process dies)
 */
offserv_status offserv_wim_open(const char *path, int flags, struct offserv_wim **out,
                                char *err, size_t errlen);

/** Close; uncommitted changes are dropped.  NULL is accepted. */
void offserv_wim_close(struct offserv_wim *wim);

/** The path the WIM was opened with. */
const char *offserv_wim_path(const struct offserv_wim *wim);

/** Number of images (indexes). */
int offserv_wim_image_count(const struct offserv_wim *wim);

/** Whole-file facts. */
offserv_status offserv_wim_get_info(struct offserv_wim *wim, struct offserv_wim_info *info,
                                    char *err, size_t errlen);

/**
 * Properties of index @p index (1-based) from the WIM's XML.  Strings are
 * malloc'd; release with offserv_wim_index_clear().  ARCH 0/9/12/5 map to
 * "x86"/"x64"/"arm64"/"arm"; `base.version` is "MAJOR.MINOR.BUILD";
 * `base.languages` lists the default language first, comma-separated.
 *
 * @retval OFFSERV_E_INVALIDARG no such index
 */
offserv_status offserv_wim_get_index(struct offserv_wim *wim, int index,
                                     struct offserv_wim_index *out, char *err,
                                     size_t errlen);

/** Free the strings of an index description and zero it. */
void offserv_wim_index_clear(struct offserv_wim_index *idx);

/** Lookup flags. */
enum {
	OFFSERV_WIM_CASE_SENSITIVE = 1, /**< exact spelling only (no resolution) */
};

/**
 * Resolve @p path in index @p index to its spelling in the image
 * ("windows/system32" -> "/Windows/System32"), malloc'd into @p real.
 *
 * @retval OFFSERV_E_FILE_NOT_FOUND the last component is missing
 * @retval OFFSERV_E_PATH_NOT_FOUND a parent is missing or not a directory
 */
offserv_status offserv_wim_resolve(struct offserv_wim *wim, int index, const char *path,
                                   int flags, char **real, char *err, size_t errlen);

/**
 * Read what is known of one path without reading its data.  Release with
 * offserv_wim_stat_clear().
 *
 * @retval OFFSERV_E_FILE_NOT_FOUND / OFFSERV_E_PATH_NOT_FOUND missing
 */
offserv_status offserv_wim_stat(struct offserv_wim *wim, int index, const char *path,
                                int flags, struct offserv_wim_stat *st, char *err,
                                size_t errlen);

/** Free what a stat holds and zero it. */
void offserv_wim_stat_clear(struct offserv_wim_stat *st);

/**
 * Call @p fn for each child of the directory @p dir (one at a time; the
 * entry is valid during the call only).  A non-zero return from @p fn
 * stops the walk and is returned as the status.
 */
offserv_status offserv_wim_list(struct offserv_wim *wim, int index, const char *dir,
                                int flags,
                                offserv_status (*fn)(void *ctx,
                                                     const struct offserv_wim_stat *entry),
                                void *ctx, char *err, size_t errlen);

/** Extraction flags. */
enum {
	/** The last component of each path is a wildcard pattern ("*.mum");
	 *  the pattern is matched case-insensitively. A pattern may match
	 *  nothing. */
	OFFSERV_WIM_EXTRACT_GLOB = 1,
};

/**
 * Extract @p n paths of index @p index under @p destdir (which exists),
 * keeping the image's directory structure with the image's spelling:
 * "Windows/system32/config/SOFTWARE" lands at
 * "<destdir>/Windows/System32/config/SOFTWARE".  Only these paths are read.
 * When @p local is not NULL it receives a malloc'd array of @p n malloc'd
 * local paths (for GLOB patterns: the local directory of the matches);
 * free it with offserv_wim_strv_free().
 *
 * @retval OFFSERV_E_FILE_NOT_FOUND a path is missing (nothing is left half-done
 *         for the other paths: they may have been extracted)
 */
offserv_status offserv_wim_extract(struct offserv_wim *wim, int index,
                                   const char *const *paths, size_t n, const char *destdir,
                                   int flags, char ***local, char *err, size_t errlen);

/** Free an array of @p n strings. */
void offserv_wim_strv_free(char **v, size_t n);

/**
 * Register the progress callback used by offserv_wim_changeset_apply()
 * and offserv_wim_commit() (NULL removes it).
 */
void offserv_wim_set_progress(struct offserv_wim *wim, offserv_wim_progress_fn fn, void *ctx);

/** Commit flags. */
enum {
	/** Rewrite the whole file (to a temporary file renamed over the WIM),
	 *  dropping the holes earlier appends left. */
	OFFSERV_WIM_COMMIT_REBUILD = 1,
	/** Skip the fsync (tests only: a power cut may lose the new image). */
	OFFSERV_WIM_COMMIT_NO_FSYNC = 2,
};

/**
 * Write every applied change set of this WIM to the file: one
 * wimlib_overwrite() in append mode with fsync (or a rebuild).  The file
 * is either the old WIM or the new one whatever happens; a failed or
 * aborted commit leaves it byte-identical and the handle unusable for
 * further changes (close and reopen).
 *
 * @retval OFFSERV_E_ABORT the progress callback asked to stop
 * @retval OFFSERV_E_DISK_FULL, OFFSERV_E_WRITE_FAULT write failures
 */
offserv_status offserv_wim_commit(struct offserv_wim *wim, int flags, char *err,
                                  size_t errlen);

/* ---------------------------------------------------------------------- */
/* Change sets                                                             */

/** The changes to make to one index, applied at once. */
struct offserv_wim_changeset;

/**
 * Start a change set for index @p index of a WIM opened for writing.
 * @retval OFFSERV_E_ACCESS_DENIED the WIM was opened read-only
 */
offserv_status offserv_wim_changeset_new(struct offserv_wim *wim, int index,
                                         struct offserv_wim_changeset **out, char *err,
                                         size_t errlen);

/** Free a change set (applied or not).  NULL is accepted. */
void offserv_wim_changeset_free(struct offserv_wim_changeset *cs);

/**
 * Add the directory @p path (missing parents are added too, each taking
 * the descriptor of its nearest existing ancestor).  @p sd: the
 * self-relative descriptor; NULL takes the descriptor of the nearest
 * directory that exists in the image.  @p attributes: FILE_ATTRIBUTE_*,
 * 0 for FILE_ATTRIBUTE_DIRECTORY.  A directory that already exists keeps
 * its own metadata unless @p sd / @p attributes are given.
 */
offserv_status offserv_wim_changeset_add_dir(struct offserv_wim_changeset *cs,
                                             const char *path, const void *sd, size_t sd_len,
                                             uint32_t attributes, char *err, size_t errlen);

/**
 * Add or replace the file @p path with the contents of the local file
 * @p src (read when the change set is applied; it must stay until then).
 * @p sd NULL: a replaced file keeps its descriptor, a new one takes its
 * parent directory's.  @p attributes 0: a replaced file keeps its
 * attributes, a new one gets FILE_ATTRIBUTE_ARCHIVE.  A replaced file
 * leaves the hard-link group it was in (the other names keep the old data).
 */
offserv_status offserv_wim_changeset_add_file(struct offserv_wim_changeset *cs,
                                              const char *path, const char *src,
                                              const void *sd, size_t sd_len,
                                              uint32_t attributes, char *err, size_t errlen);

/**
 * Make @p link_path another name of the file @p target, which this change
 * set adds (add_file before link).  All names share one inode, one
 * descriptor and one set of attributes.  An existing @p link_path is replaced.
 */
offserv_status offserv_wim_changeset_link(struct offserv_wim_changeset *cs,
                                          const char *target, const char *link_path,
                                          char *err, size_t errlen);

/**
 * Delete @p path (recursively for a directory).  Deletes and renames run
 * before the additions, in the order given.
 * @retval OFFSERV_E_FILE_NOT_FOUND the path is not in the image
 */
offserv_status offserv_wim_changeset_delete(struct offserv_wim_changeset *cs,
                                            const char *path, char *err, size_t errlen);

/** Rename (move) @p from to @p to; @p to's parent must exist. */
offserv_status offserv_wim_changeset_rename(struct offserv_wim_changeset *cs,
                                            const char *from, const char *to, char *err,
                                            size_t errlen);

/** Bytes of file data the change set adds (the sum of its sources). */
uint64_t offserv_wim_changeset_bytes(const struct offserv_wim_changeset *cs);

/**
 * Apply the change set to its index in one wimlib_update_image() call:
 * build a scratch NTFS volume under @p scratch_dir (an existing
 * directory; wimlib reads the new data from the volume when the WIM is
 * committed, so the volume is removed by offserv_wim_close()), lay out the files,
 * directories, descriptors and links on it, then capture it over the
 * image root together with the deletes and renames.  If anything fails,
 * the in-memory image is unchanged.  Nothing reaches the file before
 * offserv_wim_commit().  A change set is applied once.
 */
offserv_status offserv_wim_changeset_apply(struct offserv_wim_changeset *cs,
                                           const char *scratch_dir, char *err,
                                           size_t errlen);

#endif /* OFFSERV_WIM_H */
