/* SPDX-License-Identifier: GPL-3.0-or-later */
/**
 * @file library.h
 * @brief The content library: update files imported once, kept by digest,
 *        described in the site database.
 *
 * Layout: `<library>/<sha256[0:2]>/<sha256>/<original file name>`.  A file
 * is copied under a temporary name in its final folder, its SHA-256 checked
 * against the digest read before the copy, then renamed; its metadata (the
 * update, its packages in install order, their parents) is written in one
 * transaction.  If that transaction fails the copy is removed: a file is
 * either fully imported or not at all.
 *
 * Supersedence is kept by the site database: within one family (the main
 * package's name and architecture, e.g. `Package_for_RollupFix` amd64),
 * older updates point at the newest one (`superseded_by`).
 */
#ifndef OFFSERV_LIBRARY_H
#define OFFSERV_LIBRARY_H

#include <stddef.h>
#include <stdint.h>

#include <offserv/export.h>
#include <offserv/plugins.h>
#include <offserv/sitedb.h>
#include <offserv/status.h>

#ifdef __cplusplus
extern "C" {
#endif

/** What became of one file. */
enum offserv_library_outcome {
	OFFSERV_LIBRARY_IMPORTED = 0,        /**< copied and recorded */
	OFFSERV_LIBRARY_ALREADY_PRESENT = 1, /**< same SHA-256 already in the library: nothing done */
	OFFSERV_LIBRARY_SKIPPED = 2,         /**< no update-format plugin recognises it */
	OFFSERV_LIBRARY_FAILED = 3,          /**< recognised but unreadable, or the copy failed */
};

/** The result for one file. */
struct offserv_library_result {
	char *path;                 /**< the file as found */
	enum offserv_library_outcome outcome;
	offserv_status hr;          /**< OFFSERV_OK unless FAILED */
	char *message;              /**< why skipped or failed; NULL otherwise */
	int64_t update_id;          /**< for IMPORTED and ALREADY_PRESENT */
	char sha256[65];            /**< when known */
	char *format;               /**< plugin that read it, when one did */
};

/** The results of one import, in the order the files were met. */
struct offserv_library_results {
	struct offserv_library_result *items;
	size_t n;
	size_t n_imported, n_present, n_skipped, n_failed;
};

/** Picks the update-format plugin for a file (NULL: none). */
typedef const struct offserv_loaded_plugin *(*offserv_update_probe_fn)(void *ctx,
                                                                       const char *path);

/** Options of offserv_library_import(). */
struct offserv_library_options {
	const char *library_root;               /**< the content library folder (created if missing) */
	const struct offserv_plugins *plugins;  /**< probed with offserv_plugins_probe_update() */
	/** Instead of @p plugins: a custom chooser (a forced format, tests). */
	offserv_update_probe_fn probe;
	void *probe_ctx;
	/** Optional: called after each file; a non-zero return stops the import. */
	int (*on_result)(void *ctx, const struct offserv_library_result *r);
	void *on_result_ctx;
};

/**
 * Import a file, or every regular file under a directory (recursively, in
 * name order; symbolic links to directories are not followed).
 *
 * Each file is probed; a file no plugin bids for is SKIPPED (named in the
 * result); one already in the library (same SHA-256) is ALREADY_PRESENT;
 * a damaged one is FAILED with its HRESULT and message while the others go
 * on.  @p out is filled in every case (release with
 * offserv_library_results_clear()).
 *
 * @retval OFFSERV_OK every file was imported, present or skipped
 * @retval the first failed file's HRESULT when some failed (the rest are in @p out)
 * @retval OFFSERV_E_FILE_NOT_FOUND @p path does not exist
 * @retval OFFSERV_E_INVALIDARG no library root, or neither plugins nor probe
 * @retval OFFSERV_E_ABORT on_result asked to stop
 */
OFFSERV_API offserv_status offserv_library_import(struct offserv_sitedb *db,
                                                  const struct offserv_library_options *opts,
                                                  const char *path,
                                                  struct offserv_library_results *out,
                                                  char *err, size_t errlen);

/** Free the results. */
OFFSERV_API void offserv_library_results_clear(struct offserv_library_results *r);

/** "imported", "already present", "skipped", "failed". */
OFFSERV_API const char *offserv_library_outcome_name(enum offserv_library_outcome o);

/**
 * The library path of a file with digest @p sha256 and name @p file_name
 * (malloc'd): `<root>/<sha[0:2]>/<sha>/<file_name>`.
 */
OFFSERV_API char *offserv_library_path_for(const char *library_root, const char *sha256,
                                           const char *file_name);

/**
 * Remove an update from the library: its database rows (supersedence is
 * recomputed) and then its file and folder.
 * @retval OFFSERV_E_NOT_FOUND no such update
 */
OFFSERV_API offserv_status offserv_library_remove(struct offserv_sitedb *db,
                                                  const char *library_root, int64_t update_id,
                                                  char *err, size_t errlen);

/**
 * Check that an update's library file is there and still has its SHA-256.
 * @retval OFFSERV_E_FILE_NOT_FOUND the file is missing
 * @retval OFFSERV_E_CRC the file's digest differs (message gives both)
 */
OFFSERV_API offserv_status offserv_library_verify(struct offserv_sitedb *db, int64_t update_id,
                                                  char *err, size_t errlen);

#ifdef __cplusplus
}
#endif

#endif /* OFFSERV_LIBRARY_H */
