/* SPDX-License-Identifier: GPL-3.0-or-later */
/**
 * @file servicing_job.h
 * @brief The servicing job of one image: Configuration Manager's "Schedule
 *        Updates" run, from the lock to the distribution points.
 *
 * Sequence (OfflineServicingMgr.log keeps Configuration Manager's wording):
 *
 *  1. take the image's lock (`<root>/Locks/<id>.lock`) and start the job row
 *     "In progress" (the database refuses a second job of one image);
 *     "Processing image package <ID>";
 *  2. resolve the updates (a list, or every applicable update not yet
 *     applied) to content-library files, each checked against its SHA-256;
 *  3. copy the WIM to `<root>/Backups/<id>/install.wim.pending` (a reflink
 *     when the filesystem can, a full copy otherwise);
 *  4. offserv_apply_updates(): staging, expansion, the engine, one commit;
 *     per update and index: "Applicability State = ..., Update Binary =
 *     ...", "InstallUpdate returned code 0x...", and on failure "Failed to
 *     install update with ID n on the image. ErrorCode = n";
 *  5. after a commit: the applied packages recorded (origin "applied"),
 *     index versions refreshed, the WIM rebuilt when it grew past
 *     `[offline_servicing] compaction_threshold_percent` since its last
 *     rebuild, the pending backup made the backup (`install.wim`);
 *  6. with optimize, the `optimize` post-action (component store cleanup
 *     with reset base, the WIM rebuilt; threshold compaction is then left
 *     out); its failure fails the job, keeps the committed WIM as it is and
 *     leaves the distribution points alone.  Then, with update_dps, every
 *     other loaded post-action plugin runs; each distribution point a
 *     plugin reports (name, status, HRESULT, bytes moved, time) is recorded
 *     as the image's distribution point status and in the job's history;
 *     a plugin that reports none is recorded under its own name;
 *  7. "Completed processing image package <ID>. Status = Successful|Failed",
 *     the job row finished (a Successful job sets the image's
 *     last_serviced_at), "Updated history for image package <ID> in the
 *     database".
 *
 * Cancellation (`<root>/Jobs/<job id>.cancel`, SIGTERM or SIGINT pending
 * in the process) is checked at the engine's safe points: the WIM is left
 * byte-identical, no image or package row changes, the job is Cancelled.
 * Once the WIM is committed the job runs to its end.
 */
#ifndef OFFSERV_SERVICING_JOB_H
#define OFFSERV_SERVICING_JOB_H

#include <stddef.h>
#include <stdint.h>

#include <offserv/engine.h>
#include <offserv/export.h>
#include <offserv/schedule.h>
#include <offserv/site.h>
#include <offserv/status.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Test hook: when this environment variable holds a number of
 * milliseconds, the job sleeps that long at each of the engine's safe
 * points (so that tests can cancel or kill a job in the middle).
 */
#define OFFSERV_TEST_JOB_DELAY_ENV "OFFSERV_TEST_JOB_DELAY_MS"

/** Progress shown to a user (a terminal bar); a non-zero return cancels. */
typedef int (*offserv_job_progress_fn)(void *ctx, int percent, const char *step);

/** What to run. */
struct offserv_servicing_job_options {
	const char *image_id;
	int64_t schedule_id;        /**< 0: run by hand (`offserv run`) */
	/** Indexes: NULL or "all", or "1,3". */
	const char *indexes;
	/** Updates: with @p all_updates, every applicable update not yet applied. */
	int all_updates;
	const int64_t *update_ids;
	size_t n_update_ids;
	int continue_on_error;
	int update_dps;
	/** Non-NULL: the image lock, already held by the caller (it stays held). */
	const struct offserv_lock *held_lock;
	offserv_job_progress_fn progress;
	void *progress_ctx;
	/** Run the `optimize` post-action after a commit (before the DPs). */
	int optimize;
};

/** What a job did. */
struct offserv_servicing_job_result {
	int64_t job_id;          /**< 0 when no job row could be started */
	char status[16];         /**< OFFSERV_JOB_* or "" */
	int committed;           /**< the WIM was written */
	int rebuilt;             /**< and compacted */
	size_t n_installed, n_not_applicable, n_failed, n_skipped;
	int optimized;           /**< the optimize post-action succeeded */
};

/**
 * Run the servicing job of one image (see the file comment).
 *
 * @retval OFFSERV_OK the job is Successful
 * @retval OFFSERV_E_BUSY the image is locked or has a job in progress
 *         (no job row is written)
 * @retval OFFSERV_E_ABORT the job was cancelled (status Cancelled)
 * @retval other the job Failed with this HRESULT (message in @p err)
 */
OFFSERV_API offserv_status offserv_servicing_job_run(struct offserv_site *site,
                                                     const struct offserv_servicing_job_options *o,
                                                     struct offserv_servicing_job_result *res,
                                                     char *err, size_t errlen);

/**
 * Run schedule @p schedule_id now (its updates, indexes and options),
 * then record the run on the schedule (offserv_schedule_finish_run()).
 * With @p run_now the log says the administrator asked for it
 * ("Schedule with ID n (Schedule Name = ) is marked for RunNow by the
 * administrator").
 */
OFFSERV_API offserv_status offserv_servicing_run_schedule(struct offserv_site *site,
                                                          int64_t schedule_id, int run_now,
                                                          const struct offserv_lock *held_lock,
                                                          offserv_job_progress_fn progress,
                                                          void *progress_ctx,
                                                          struct offserv_servicing_job_result *res,
                                                          char *err, size_t errlen);

/**
 * Ask the running job of an image (or the job @p job_id when not 0) to
 * stop at its next safe point: writes `<root>/Jobs/<job id>.cancel`.
 * The job ID asked is returned in @p job_out (may be NULL).
 * @retval OFFSERV_E_NOT_FOUND no job in progress
 */
OFFSERV_API offserv_status offserv_servicing_cancel(struct offserv_site *site,
                                                    const char *image_id, int64_t job_id,
                                                    int64_t *job_out, char *err, size_t errlen);

/** `<root>/Backups/<image id>/install.wim` (malloc'd). */
OFFSERV_API char *offserv_servicing_backup_path(const char *site_root, const char *image_id);

/**
 * Put the backup of an image back in place of its WIM (`offserv image
 * rollback`): under the image lock, refused while a job runs; the WIM and
 * the backup change places, so a second rollback undoes the first.  The
 * package rows of the image are refreshed from the restored WIM's
 * SOFTWARE hives (packages no longer present are recorded as Absent),
 * and its index properties re-read.
 * @retval OFFSERV_E_FILE_NOT_FOUND no backup
 * @retval OFFSERV_E_BUSY the image is being serviced
 */
OFFSERV_API offserv_status offserv_servicing_rollback(struct offserv_site *site,
                                                      const char *image_id, char *err,
                                                      size_t errlen);

/**
 * Check a WIM: opened with its integrity table checked, every index's
 * metadata read.  Used by recovery.
 */
OFFSERV_API offserv_status offserv_servicing_verify_wim(const char *wim_path, char *err,
                                                        size_t errlen);

#ifdef __cplusplus
}
#endif

#endif /* OFFSERV_SERVICING_JOB_H */
