/* SPDX-License-Identifier: GPL-3.0-or-later */
/**
 * @file job.h
 * @brief Applying update files to a WIM: staging on the servicing drive,
 *        expansion through the update-format plugins, the engine, cleanup.
 */
#ifndef OFFSERV_JOB_H
#define OFFSERV_JOB_H

#include <stddef.h>

#include <offserv/engine.h>
#include <offserv/export.h>
#include <offserv/site.h>
#include <offserv/status.h>

#ifdef __cplusplus
extern "C" {
#endif

/** What to apply, and how. */
struct offserv_apply_options {
	const char *wim_path;  /**< the WIM; exclusive with @p image_dir */
	/** Instead of a WIM, an offline directory tree (see offserv_engine_options::image_dir). */
	const char *image_dir;
	const int *indexes; /**< NULL: all */
	size_t n_indexes;
	/**
	 * Update files (CAB, MSU: any format a plugin bids for), expanded
	 * package folders (holding update.mum) or package manifests (*.mum),
	 * in install order.  Servicing stack updates inside an MSU go first.
	 */
	const char *const *updates;
	size_t n_updates;
	/** Names the image's working folder (`<id>/ImageMountDir`); NULL: "offserv-<pid>". */
	const char *image_id;
	int continue_on_error;
	int prevent_pending;
	int ignore_check;
	offserv_engine_progress_fn progress;
	void *progress_ctx;
	struct offserv_logfile *dism_log; /**< may be NULL */
};

/** Per update file: whether it could be staged. */
struct offserv_apply_update {
	const char *path;
	offserv_status status; /**< failure to stage/expand it, else OFFSERV_OK */
	char *message;         /**< why it failed, or NULL */
	size_t n_packages;     /**< packages it holds */
};

/** What a run produced. */
struct offserv_apply_report {
	struct offserv_engine_report engine;
	struct offserv_apply_update *updates;
	size_t n_updates;
	/**
	 * For each package the engine was given (engine.results[].package),
	 * the update it came from (index into @p updates).  Servicing stack
	 * updates are moved ahead of the others, so the order differs from
	 * the order of the updates.
	 */
	size_t *package_update;
	size_t n_packages;
	char *drive;       /**< the servicing drive used */
	char *drive_note;  /**< why a configured drive was not used, or NULL */
};

/**
 * Stage, expand and apply @p o->updates to the WIM.  The staging folders
 * under `<drive>/ConfigMgr_OfflineImageServicing/` are removed afterwards,
 * also on failure.  An update that no plugin recognises, that is damaged,
 * or whose packages cannot be applied yet is reported (in
 * @p report->updates) and, without continue-on-error, fails the run before
 * the image is touched.
 */
OFFSERV_API offserv_status offserv_apply_updates(struct offserv_site *site,
                                                 const struct offserv_apply_options *o,
                                                 struct offserv_apply_report *report,
                                                 char *err, size_t errlen);

/** Free what a report holds. */
OFFSERV_API void offserv_apply_report_clear(struct offserv_apply_report *report);

#ifdef __cplusplus
}
#endif

#endif /* OFFSERV_JOB_H */
