/* SPDX-License-Identifier: GPL-3.0-or-later */
/**
 * @file servicing.h
 * @brief The servicing engine as the `dism` program sees it (internal).
 *
 * The commands that change packages (/Add-Package, /Remove-Package,
 * /Cleanup-Image) and /Get-PackageInfo /PackagePath reach the engine only
 * through the four functions below, one per command.  The program checks
 * the command line, prints the banner and the layout, and logs; these
 * functions do the work and report progress through the events.
 */
#ifndef OFFSERV_DISM_SERVICING_H
#define OFFSERV_DISM_SERVICING_H

#include <stddef.h>

#include <offserv/engine.h>
#include <offserv/status.h>

#include "dism/args.h"

struct offserv_logfile;

/** What to service. */
struct dism_servicing_request {
	const char *image_dir;            /**< /Image: root of the offline Windows tree */
	const char *scratch_dir;          /**< /ScratchDir or NULL */
	const char *const *package_paths; /**< /PackagePath values, command-line order */
	size_t n_package_paths;
	const char *package_name;         /**< /PackageName or NULL */
	/** /Remove-Package: every /PackageName and /PackagePath, command-line order. */
	const struct dism_package_ref *package_refs;
	size_t n_package_refs;
	int ignore_check;                 /**< /IgnoreCheck */
	int prevent_pending;              /**< /PreventPending */
	struct offserv_logfile *log;      /**< dism.log for the engine's lines, or NULL */
};

/** /Cleanup-Image actions. */
enum dism_cleanup_action {
	DISM_CLEANUP_REVERT_PENDING = 1,    /**< /RevertPendingActions */
	DISM_CLEANUP_COMPONENT_CLEANUP = 2, /**< /StartComponentCleanup */
	DISM_CLEANUP_ANALYZE = 3,           /**< /AnalyzeComponentStore */
};

/** Callbacks into the program's output and log; any may be NULL. */
struct dism_servicing_events {
	void *ctx;
	/** A package starts: prints "Processing i of n - <verb> package <identity>". */
	void (*package_begin)(void *ctx, size_t i, size_t n, const char *verb,
	                      const char *identity);
	/** Progress of the current step, 0..100. */
	void (*progress)(void *ctx, double pct);
	/** A dism.log line (level as in offserv/log.h) from the engine. */
	void (*log)(void *ctx, int level, const char *text);
};

/** Details of a package file for /Get-PackageInfo /PackagePath; NULL fields print empty. */
struct dism_package_info {
	char *identity;
	char *applicable;          /**< "Yes" / "No" */
	char *copyright;
	char *company;
	char *creation_time;
	char *description;
	char *install_client;
	char *install_package_name;
	char *install_time;
	char *last_update_time;
	char *name;
	char *product_name;
	char *product_version;
	char *release_type;
	char *restart_required;    /**< "Possible" / "Required" / "No" */
	char *support_information;
	char *state;
	char *offline_capable;     /**< "Yes" / "No" / "Undetermined" */
	char *self_servicing;      /**< "Yes" / "No" */
	char *capability_identity;
};

/** Free the strings of @p info and zero it. */
void dism_package_info_clear(struct dism_package_info *info);

/**
 * /Add-Package: add every package path in order.  *reboot_required is set
 * when the image needs a restart to finish (the program then exits with
 * 3010).
 * @retval OFFSERV_E_NOTIMPL this build has no servicing engine
 */
offserv_status dism_servicing_add_packages(const struct dism_servicing_request *rq,
                                           const struct dism_servicing_events *ev,
                                           int *reboot_required, char *err, size_t errlen);

/**
 * /Remove-Package: every /PackageName and /PackagePath in order, in one
 * engine run.  A /PackagePath (a .cab or .msu read through the site's
 * update-format plugins, an expanded folder or its update.mum) stands for
 * the package it holds.
 * @retval OFFSERV_CBS_E_UNKNOWN_UPDATE a package is not installed
 * @retval OFFSERV_CBS_E_CANNOT_UNINSTALL a package is permanent
 * @retval OFFSERV_E_FILE_NOT_FOUND a /PackagePath does not exist
 */
offserv_status dism_servicing_remove_package(const struct dism_servicing_request *rq,
                                             const struct dism_servicing_events *ev,
                                             int *reboot_required, char *err, size_t errlen);

/**
 * /Cleanup-Image.  For ::DISM_CLEANUP_ANALYZE, @p store receives the
 * analysis (it may be NULL for the other actions).
 * @retval OFFSERV_CBS_E_PENDING pending actions block a component cleanup
 */
offserv_status dism_servicing_cleanup_image(const struct dism_servicing_request *rq,
                                            enum dism_cleanup_action action, int reset_base,
                                            const struct dism_servicing_events *ev,
                                            struct offserv_component_store_info *store,
                                            char *err, size_t errlen);

/** /Get-PackageInfo /PackagePath: read a package file. */
offserv_status dism_servicing_package_info(const struct dism_servicing_request *rq,
                                           const struct dism_servicing_events *ev,
                                           struct dism_package_info *out, char *err,
                                           size_t errlen);

#endif /* OFFSERV_DISM_SERVICING_H */
