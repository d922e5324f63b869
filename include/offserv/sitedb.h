/* SPDX-License-Identifier: GPL-3.0-or-later */
/**
 * @file sitedb.h
 * @brief The site database: images, their indexes and packages, the
 *        content library's updates, schedules, jobs and distribution point
 *        status, in one SQLite file.
 *
 * The database is opened in WAL mode with foreign keys on and a busy
 * timeout; every write is one `BEGIN IMMEDIATE` transaction that is retried
 * as a whole while another process holds the write lock, so that parallel
 * command-line calls wait for each other instead of failing with "database
 * is locked".  `PRAGMA integrity_check` runs on every open.
 *
 * The schema is versioned with `PRAGMA user_version`; the code carries an
 * ordered list of migrations, each applied in its own transaction.  A
 * database written by a newer offserv (a higher user_version) is refused.
 *
 * Identifiers:
 * - an image's package ID is the three-letter site code followed by five
 *   upper-case hex digits from a sequence, e.g. "OFS0001A" (as
 *   Configuration Manager names packages);
 * - an update's ID is a number in Configuration Manager's CI ID range:
 *   16777217 (0x01000001) for the first update, then one more for each;
 *   IDs are never reused, even after a delete.
 *
 * Times are stored and returned as ISO 8601 UTC text ("2026-01-31T22:05:00Z").
 *
 * Every record structure owns its strings; free arrays with the matching
 * `*_free` function.  Absent text is NULL.
 */
#ifndef OFFSERV_SITEDB_H
#define OFFSERV_SITEDB_H

#include <stddef.h>
#include <stdint.h>

#include <offserv/export.h>
#include <offserv/plugin.h>
#include <offserv/status.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The schema version this code writes (PRAGMA user_version). */
#define OFFSERV_SITEDB_SCHEMA_VERSION 2

/** Site code used when none is given at creation. */
#define OFFSERV_SITEDB_DEFAULT_SITE_CODE "OFS"

/** Size of a package ID buffer: 3 letters, 5 hex digits, NUL. */
#define OFFSERV_PACKAGE_ID_LEN 9

/** First update ID handed out (Configuration Manager CI ID range). */
#define OFFSERV_UPDATE_ID_BASE 16777216

struct offserv_sitedb;

/**
 * Open (or create) the site database at @p path.
 *
 * Creates the file when missing, switches it to WAL mode, turns foreign
 * keys on, runs `PRAGMA integrity_check` and applies pending migrations.
 *
 * @param path       the database file
 * @param site_code  three upper-case letters or digits used for package IDs
 *                   when the database is created (NULL: "OFS"); ignored for
 *                   an existing database, which keeps its own
 * @retval OFFSERV_OK opened; close with offserv_sitedb_close()
 * @retval OFFSERV_E_FILE_CORRUPT the file is not a database or fails the
 *         integrity check (message names the file and SQLite's finding)
 * @retval OFFSERV_E_OLD_WIN_VERSION the database was written by a newer
 *         offserv (its schema version is higher than this code knows)
 * @retval OFFSERV_E_INVALIDARG bad site code
 * @retval OFFSERV_E_ACCESS_DENIED, OFFSERV_E_PATH_NOT_FOUND cannot open
 */
OFFSERV_API offserv_status offserv_sitedb_open(const char *path, const char *site_code,
                                               struct offserv_sitedb **out, char *err,
                                               size_t errlen);

/** Close the database; NULL is ignored. */
OFFSERV_API void offserv_sitedb_close(struct offserv_sitedb *db);

/** The schema version of the open database (after migrations). */
OFFSERV_API int offserv_sitedb_schema_version(const struct offserv_sitedb *db);

/** The site code (three characters). */
OFFSERV_API const char *offserv_sitedb_site_code(const struct offserv_sitedb *db);

/** The file the database was opened from. */
OFFSERV_API const char *offserv_sitedb_path(const struct offserv_sitedb *db);

/** Current time as ISO 8601 UTC text into @p out (21 bytes). */
OFFSERV_API void offserv_sitedb_now(char out[21]);

/* ---------------------------------------------------------------------- */
/* Images                                                                  */

/** One image (a servicing object) of the site. */
struct offserv_image_rec {
	char package_id[OFFSERV_PACKAGE_ID_LEN]; /**< "OFS00012" */
	char *name;             /**< display name given at import */
	char *description;      /**< free text or NULL */
	char *type;             /**< image-type plugin name ("os_image", ...) */
	char *source_path;      /**< where it was imported from */
	char *wim_path;         /**< the WIM servicing changes */
	char *sha256;           /**< of the source WIM at import (duplicate detection) */
	int referenced;         /**< non-zero: serviced in place at source (--reference) */
	int solid;              /**< ESD / solid: readable, not serviceable in place */
	char *imported_at;
	char *scheduled_date;   /**< next scheduled servicing, or NULL */
	char *scheduled_status; /**< "Scheduled", "Running", "Successful", "Failed", ... or NULL */
	char *last_serviced_at; /**< last successful servicing, or NULL */
};

/** One index of an image, as read at import (and refreshed after servicing). */
struct offserv_image_index_rec {
	int index;          /**< 1-based WIM index */
	char *name;
	char *description;
	char *edition;      /**< EDITIONID */
	char *arch;         /**< x86, x64, arm64 */
	char *version;      /**< "10.0.19041" */
	uint32_t build;
	uint32_t sp_build;
	uint32_t sp_level;
	char *languages;    /**< comma-separated, default first */
	uint64_t size;      /**< total bytes of the index's files */
	uint64_t file_count;
	uint64_t dir_count;
};

/** One package present in an index. */
struct offserv_image_package_rec {
	int index;          /**< the WIM index it belongs to */
	char *identity;     /**< Name~Token~Arch~Lang~Version */
	uint32_t state;     /**< CurrentState (enum offserv_package_state) */
	char *install_time; /**< ISO time or NULL */
	char *release_type; /**< releaseType of its .mum, or NULL */
	char *origin;       /**< "import" (found at import) or "applied" (by offserv) */
	char *applied_at;   /**< when offserv applied it, or NULL */
	int64_t job_id;     /**< job that applied it, 0 if none */
	int64_t update_id;  /**< library update it came from, 0 if none */
};

/**
 * Reserve the next package ID (the sequence moves on even if the ID ends
 * up unused).  Used by an import that must name folders before it writes
 * the image row.
 */
OFFSERV_API offserv_status offserv_sitedb_next_package_id(struct offserv_sitedb *db,
                                                          char out[OFFSERV_PACKAGE_ID_LEN],
                                                          char *err, size_t errlen);

/**
 * Insert an image with its indexes and packages in one transaction.
 *
 * When @p img->package_id is empty a new ID is assigned; the ID used is
 * copied into @p id_out (may be NULL).  `imported_at` NULL means now.
 * @retval OFFSERV_E_ALREADY_EXISTS an image with that ID, source path or
 *         SHA-256 exists (message names it)
 */
OFFSERV_API offserv_status offserv_sitedb_image_insert(
	struct offserv_sitedb *db, const struct offserv_image_rec *img,
	const struct offserv_image_index_rec *indexes, size_t n_indexes,
	const struct offserv_image_package_rec *packages, size_t n_packages,
	char id_out[OFFSERV_PACKAGE_ID_LEN], char *err, size_t errlen);

/**
 * Get one image by package ID.  @p out is filled (free with
 * offserv_image_rec_clear()).
 * @retval OFFSERV_E_NOT_FOUND no such image
 */
OFFSERV_API offserv_status offserv_sitedb_image_get(struct offserv_sitedb *db, const char *id,
                                                    struct offserv_image_rec *out, char *err,
                                                    size_t errlen);

/**
 * Find an image whose source path, WIM path or SHA-256 equals the given
 * ones (either may be NULL).  @retval OFFSERV_E_NOT_FOUND none
 */
OFFSERV_API offserv_status offserv_sitedb_image_find(struct offserv_sitedb *db,
                                                     const char *path, const char *sha256,
                                                     struct offserv_image_rec *out, char *err,
                                                     size_t errlen);

/** List all images in package ID order. */
OFFSERV_API offserv_status offserv_sitedb_image_list(struct offserv_sitedb *db,
                                                     struct offserv_image_rec **out,
                                                     size_t *n, char *err, size_t errlen);

/** Delete an image and everything that refers to it (indexes, packages, schedules, jobs). */
OFFSERV_API offserv_status offserv_sitedb_image_delete(struct offserv_sitedb *db,
                                                       const char *id, char *err,
                                                       size_t errlen);

/** Set (or clear with NULL) an image's scheduled date and status. */
OFFSERV_API offserv_status offserv_sitedb_image_set_schedule(struct offserv_sitedb *db,
                                                             const char *id,
                                                             const char *scheduled_date,
                                                             const char *scheduled_status,
                                                             char *err, size_t errlen);

/**
 * Record that an image was serviced successfully at @p when (ISO UTC; NULL
 * means now): its `last_serviced_at`.
 * @retval OFFSERV_E_NOT_FOUND no such image
 */
OFFSERV_API offserv_status offserv_sitedb_image_set_serviced(struct offserv_sitedb *db,
                                                             const char *id, const char *when,
                                                             char *err, size_t errlen);

/** The indexes of an image, in index order. */
OFFSERV_API offserv_status offserv_sitedb_index_list(struct offserv_sitedb *db,
                                                     const char *image_id,
                                                     struct offserv_image_index_rec **out,
                                                     size_t *n, char *err, size_t errlen);

/** Replace the properties of one index (after servicing). */
OFFSERV_API offserv_status offserv_sitedb_index_update(struct offserv_sitedb *db,
                                                       const char *image_id,
                                                       const struct offserv_image_index_rec *rec,
                                                       char *err, size_t errlen);

/**
 * The packages of an image: of one index, or of all when @p index is 0;
 * ordered by index, then identity.
 */
OFFSERV_API offserv_status offserv_sitedb_package_list(struct offserv_sitedb *db,
                                                       const char *image_id, int index,
                                                       struct offserv_image_package_rec **out,
                                                       size_t *n, char *err, size_t errlen);

/**
 * Insert or replace (by image, index, identity) package rows of an image
 * in one transaction: what a servicing job records after a commit.
 */
OFFSERV_API offserv_status offserv_sitedb_package_upsert(
	struct offserv_sitedb *db, const char *image_id,
	const struct offserv_image_package_rec *pkgs, size_t n, char *err, size_t errlen);

/** Free the strings of a record and zero it. */
OFFSERV_API void offserv_image_rec_clear(struct offserv_image_rec *r);
/** Free an array from offserv_sitedb_image_list(). */
OFFSERV_API void offserv_image_recs_free(struct offserv_image_rec *r, size_t n);
/** Free an array from offserv_sitedb_index_list(). */
OFFSERV_API void offserv_image_index_recs_free(struct offserv_image_index_rec *r, size_t n);
/** Free an array from offserv_sitedb_package_list(). */
OFFSERV_API void offserv_image_package_recs_free(struct offserv_image_package_rec *r, size_t n);

/* ---------------------------------------------------------------------- */
/* Updates (content library)                                               */

/** One update file of the content library. */
struct offserv_update_rec {
	int64_t update_id;     /**< CI-style ID, see the file comment */
	char sha256[65];       /**< of the file, lower-case hex */
	char *file_name;       /**< original file name */
	char *library_path;    /**< where the library keeps it */
	char *format;          /**< update-format plugin: "cab", "msu" */
	char *kb;              /**< "KB5034441" or NULL */
	char *title;
	char *description;
	char *release_type;
	char *arch;            /**< x86, x64, arm64, neutral */
	char *product;
	char *build_date;
	char *support_link;
	uint64_t size;
	char *imported_at;
	int supported;         /**< offserv can apply every package of it */
	char *unsupported_reason;
	int64_t superseded_by; /**< newer update of the same family, 0 if none */
};

/** One installable package of an update, in install order. */
struct offserv_update_package_rec {
	int seq;               /**< install order, 0 first */
	char *identity;
	char *name;
	char *version;
	char *arch;
	char *release_type;
	int is_ssu;
	int supported;
	char *reason;          /**< why not supported, or NULL */
	char *installer_version; /**< servicing stack version it needs, or NULL if unknown */
};

/** One parent alternative of an update's packages. */
struct offserv_update_parent_rec {
	int package_seq;       /**< the package it belongs to, -1 for all packages */
	int group_no;          /**< alternatives of one `<parent>` share a group */
	char *identity;        /**< Name~Token~Arch~Lang~Version */
	char *build_compare;   /**< "EQ", "GE" or NULL when unknown */
	char *service_compare;
	char *revision_compare;
	char *disposition;     /**< "detect", ... or NULL when unknown */
};

/** Filter for offserv_sitedb_update_list(). */
struct offserv_update_filter {
	/**
	 * Case-insensitive substring matched against every metadata string
	 * (file name, KB, title, description, release type, arch, product,
	 * format, SHA-256, package identities); NULL or "" matches all.
	 * `%`, `_` and `\` match themselves.
	 */
	const char *text;
	/**
	 * "x86", "x64", "arm64", or NULL / "all" for any.  Architecture-neutral
	 * updates match every architecture.
	 */
	const char *arch;
	/** Non-zero to leave out superseded updates. */
	int exclude_superseded;
};

/**
 * Insert an update with its packages and parents in one transaction, and
 * recompute supersedence in the same transaction: within one family (the
 * update's main package name and architecture), every older update gets
 * `superseded_by` = the newest one's ID.  The ID assigned is returned in
 * @p id_out (may be NULL); `update_id` and `imported_at` of @p rec are
 * ignored.
 * @retval OFFSERV_E_ALREADY_EXISTS an update with that SHA-256 exists
 */
OFFSERV_API offserv_status offserv_sitedb_update_insert(
	struct offserv_sitedb *db, const struct offserv_update_rec *rec,
	const struct offserv_update_package_rec *pkgs, size_t n_pkgs,
	const struct offserv_update_parent_rec *parents, size_t n_parents, int64_t *id_out,
	char *err, size_t errlen);

/** Find an update by SHA-256. @retval OFFSERV_E_NOT_FOUND none */
OFFSERV_API offserv_status offserv_sitedb_update_find_sha256(struct offserv_sitedb *db,
                                                             const char *sha256,
                                                             struct offserv_update_rec *out,
                                                             char *err, size_t errlen);

/** Get an update by ID. @retval OFFSERV_E_NOT_FOUND none */
OFFSERV_API offserv_status offserv_sitedb_update_get(struct offserv_sitedb *db, int64_t id,
                                                     struct offserv_update_rec *out,
                                                     char *err, size_t errlen);

/** List updates matching @p filter (NULL: all), in ID order. */
OFFSERV_API offserv_status offserv_sitedb_update_list(struct offserv_sitedb *db,
                                                      const struct offserv_update_filter *filter,
                                                      struct offserv_update_rec **out,
                                                      size_t *n, char *err, size_t errlen);

/** The packages of an update, in install order. */
OFFSERV_API offserv_status offserv_sitedb_update_packages(
	struct offserv_sitedb *db, int64_t update_id, struct offserv_update_package_rec **out,
	size_t *n, char *err, size_t errlen);

/** The parent alternatives of an update. */
OFFSERV_API offserv_status offserv_sitedb_update_parents(
	struct offserv_sitedb *db, int64_t update_id, struct offserv_update_parent_rec **out,
	size_t *n, char *err, size_t errlen);

/**
 * Delete an update's row (and its packages and parents); supersedence is
 * recomputed.  The library file is the caller's to remove.
 */
OFFSERV_API offserv_status offserv_sitedb_update_delete(struct offserv_sitedb *db,
                                                        int64_t id, char *err,
                                                        size_t errlen);

/** Free the strings of a record and zero it. */
OFFSERV_API void offserv_update_rec_clear(struct offserv_update_rec *r);
/** Free an array from offserv_sitedb_update_list(). */
OFFSERV_API void offserv_update_recs_free(struct offserv_update_rec *r, size_t n);
/** Free an array from offserv_sitedb_update_packages(). */
OFFSERV_API void offserv_update_package_recs_free(struct offserv_update_package_rec *r,
                                                  size_t n);
/** Free an array from offserv_sitedb_update_parents(). */
OFFSERV_API void offserv_update_parent_recs_free(struct offserv_update_parent_rec *r,
                                                 size_t n);

/* ---------------------------------------------------------------------- */
/* Schedules and jobs                                                      */

/** A servicing schedule of one image. */
struct offserv_schedule_rec {
	int64_t schedule_id;
	char package_id[OFFSERV_PACKAGE_ID_LEN]; /**< the image */
	char *indexes;          /**< "all" or comma-separated index numbers */
	int64_t *update_ids;    /**< the selected updates, in the order given */
	size_t n_update_ids;
	char *run_at;           /**< next run, ISO UTC */
	char *recurrence;       /**< the rule's canonical text (see schedule.h), "none" for once */
	int continue_on_error;
	int update_dps;         /**< refresh distribution points after success */
	char *status;           /**< "Scheduled", "Running", "Completed", "Failed", "Disabled" */
	char *created_at;
	char *last_run_at;
	/** `--updates all`: every applicable update of the library when it runs
	 *  (update_ids is then empty). */
	int all_updates;
	/** `--optimize`: after a commit, component store cleanup with reset
	 *  base and a rebuild of the WIM (the `optimize` post-action). */
	int optimize;
};

/** Job statuses as Configuration Manager words them. */
#define OFFSERV_JOB_IN_PROGRESS "In progress"
#define OFFSERV_JOB_SUCCESSFUL "Successful"
#define OFFSERV_JOB_FAILED "Failed"
#define OFFSERV_JOB_CANCELLED "Cancelled"

/** One servicing run. */
struct offserv_job_rec {
	int64_t job_id;
	int64_t schedule_id;    /**< 0 when run by hand */
	char package_id[OFFSERV_PACKAGE_ID_LEN];
	char *indexes;
	char *started_at;
	char *finished_at;      /**< NULL while running */
	char *status;           /**< one of OFFSERV_JOB_* */
	int64_t pid;            /**< process running it */
	int progress;           /**< 0..100 */
	char *message;
	offserv_status hresult; /**< overall result */
};

/** The outcome of one update (in one index) within a job. */
struct offserv_job_update_rec {
	int64_t update_id;
	int index;
	char *result;           /**< "Pending", "Installed", "Install Pending", "Not applicable", "Failed", "Skipped" */
	offserv_status hresult;
	char *message;
	char *finished_at;
};

/** Insert a schedule; its ID is returned in @p id_out.  `created_at` NULL = now. */
OFFSERV_API offserv_status offserv_sitedb_schedule_insert(struct offserv_sitedb *db,
                                                          const struct offserv_schedule_rec *rec,
                                                          int64_t *id_out, char *err,
                                                          size_t errlen);
/** Get one schedule. @retval OFFSERV_E_NOT_FOUND none */
OFFSERV_API offserv_status offserv_sitedb_schedule_get(struct offserv_sitedb *db, int64_t id,
                                                       struct offserv_schedule_rec *out,
                                                       char *err, size_t errlen);
/** List schedules, of one image or all (@p image_id NULL), by ID. */
OFFSERV_API offserv_status offserv_sitedb_schedule_list(struct offserv_sitedb *db,
                                                        const char *image_id,
                                                        struct offserv_schedule_rec **out,
                                                        size_t *n, char *err, size_t errlen);
/** Replace a schedule's fields (by schedule_id), its update list included. */
OFFSERV_API offserv_status offserv_sitedb_schedule_update(struct offserv_sitedb *db,
                                                          const struct offserv_schedule_rec *rec,
                                                          char *err, size_t errlen);
/** Delete a schedule (its jobs keep their history with no schedule). */
OFFSERV_API offserv_status offserv_sitedb_schedule_delete(struct offserv_sitedb *db,
                                                          int64_t id, char *err,
                                                          size_t errlen);

/**
 * Start a job: inserts it "In progress" with the caller's pid and now as
 * start time, refusing when the image already has a job in progress.
 * @retval OFFSERV_E_BUSY another job of that image is in progress (message names it)
 */
OFFSERV_API offserv_status offserv_sitedb_job_start(struct offserv_sitedb *db,
                                                    const struct offserv_job_rec *rec,
                                                    int64_t *id_out, char *err,
                                                    size_t errlen);
/** Record progress (0..100) and a message of a running job. */
OFFSERV_API offserv_status offserv_sitedb_job_progress(struct offserv_sitedb *db, int64_t id,
                                                       int progress, const char *message,
                                                       char *err, size_t errlen);
/** Finish a job with a final status (OFFSERV_JOB_*), HRESULT and message. */
OFFSERV_API offserv_status offserv_sitedb_job_finish(struct offserv_sitedb *db, int64_t id,
                                                     const char *status, offserv_status hr,
                                                     const char *message, char *err,
                                                     size_t errlen);
/** Get one job. @retval OFFSERV_E_NOT_FOUND none */
OFFSERV_API offserv_status offserv_sitedb_job_get(struct offserv_sitedb *db, int64_t id,
                                                  struct offserv_job_rec *out, char *err,
                                                  size_t errlen);
/** List jobs, of one image or all (@p image_id NULL), newest first. */
OFFSERV_API offserv_status offserv_sitedb_job_list(struct offserv_sitedb *db,
                                                   const char *image_id,
                                                   struct offserv_job_rec **out, size_t *n,
                                                   char *err, size_t errlen);
/** Insert or replace the result of one update in one index of a job. */
OFFSERV_API offserv_status offserv_sitedb_job_update_set(struct offserv_sitedb *db,
                                                         int64_t job_id,
                                                         const struct offserv_job_update_rec *rec,
                                                         char *err, size_t errlen);
/** The per-update results of a job, by update then index. */
OFFSERV_API offserv_status offserv_sitedb_job_update_list(struct offserv_sitedb *db,
                                                          int64_t job_id,
                                                          struct offserv_job_update_rec **out,
                                                          size_t *n, char *err,
                                                          size_t errlen);
/**
 * Mark every job "In progress" whose pid is not a live process as Failed
 * ("the process running it ended"), as start-up recovery does.  The
 * number marked goes into @p n_marked (may be NULL).
 */
OFFSERV_API offserv_status offserv_sitedb_job_recover(struct offserv_sitedb *db,
                                                      size_t *n_marked, char *err,
                                                      size_t errlen);

/**
 * Record the status of one distribution point for an image (no bytes, no
 * plugin, no job history): offserv_sitedb_dp_status_record() with
 * is_dp set and only these fields.
 */
OFFSERV_API offserv_status offserv_sitedb_dp_status_set(struct offserv_sitedb *db,
                                                        const char *image_id, const char *dp,
                                                        const char *status, offserv_status hr,
                                                        const char *message, int64_t job_id,
                                                        char *err, size_t errlen);

/** The outcome of a post-action for one target (a distribution point, or the whole action). */
struct offserv_dp_status_rec {
	char *target;           /**< distribution point name, or the post-action's name */
	char *plugin;           /**< post-action plugin that reported it, or NULL */
	int is_dp;              /**< a distribution point (also kept as the image's DP status) */
	char *status;           /**< "Success", "Failed" */
	offserv_status hresult;
	uint64_t bytes;         /**< bytes moved */
	char *message;
	char *updated_at;       /**< ISO UTC; NULL when recording means now */
	int64_t job_id;         /**< the job, 0 if none */
};

/**
 * Record the outcome of a post-action for one target, in one transaction:
 * appended to the job's history (when `job_id` is set) and, for a
 * distribution point (`is_dp`), as the image's current status of that
 * distribution point (replacing the previous one).
 * @retval OFFSERV_E_NOT_FOUND no such image or job
 */
OFFSERV_API offserv_status offserv_sitedb_dp_status_record(struct offserv_sitedb *db,
                                                           const char *image_id,
                                                           const struct offserv_dp_status_rec *rec,
                                                           char *err, size_t errlen);

/**
 * With @p job_id 0: the current status of every distribution point of an
 * image, by name.  Otherwise: every post-action outcome of that job, in the
 * order recorded (@p image_id is then ignored).  Free with
 * offserv_dp_status_recs_free().
 */
OFFSERV_API offserv_status offserv_sitedb_dp_status_list(struct offserv_sitedb *db,
                                                         const char *image_id, int64_t job_id,
                                                         struct offserv_dp_status_rec **out,
                                                         size_t *n, char *err, size_t errlen);

/** Free an array from offserv_sitedb_dp_status_list(). */
OFFSERV_API void offserv_dp_status_recs_free(struct offserv_dp_status_rec *r, size_t n);

OFFSERV_API void offserv_schedule_rec_clear(struct offserv_schedule_rec *r);
OFFSERV_API void offserv_schedule_recs_free(struct offserv_schedule_rec *r, size_t n);
OFFSERV_API void offserv_job_rec_clear(struct offserv_job_rec *r);
OFFSERV_API void offserv_job_recs_free(struct offserv_job_rec *r, size_t n);
OFFSERV_API void offserv_job_update_recs_free(struct offserv_job_update_rec *r, size_t n);

#ifdef __cplusplus
}
#endif

#endif /* OFFSERV_SITEDB_H */
