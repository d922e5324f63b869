/* SPDX-License-Identifier: GPL-3.0-or-later */
/**
 * @file engine.h
 * @brief The servicing engine: install CBS packages into a WIM image
 *        without mounting it.
 *
 * One call services one WIM: for each selected index and each package, in
 * the order given (servicing stack updates first), it checks
 * applicability, verifies every payload file against the digest its
 * component manifest lists, lays the components into the component store
 * (`Windows\WinSxS\<key form>\`), projects their files to their
 * destinations as hard links, registers the package in the image's
 * SOFTWARE and COMPONENTS hives and in `Windows\servicing\Packages`, writes
 * the registry keys the manifests declare, and marks older packages of the
 * same family superseded.  All changes to an index go into one change set;
 * the WIM is written once, at the end, in append mode with fsync.
 *
 * The same run can service an offline Windows directory tree instead of
 * a WIM (offserv_engine_options::image_dir): the changes are then written
 * into the tree's files directly.
 *
 * Failure model: without continue-on-error, any failed package leaves the
 * WIM file byte-identical.  With it, a failed package leaves no trace
 * (each package is fully validated before any of it is staged) and the
 * others are committed.  A cancelled run leaves the WIM byte-identical.
 */
#ifndef OFFSERV_ENGINE_H
#define OFFSERV_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include <offserv/export.h>
#include <offserv/status.h>

#ifdef __cplusplus
extern "C" {
#endif

struct offserv_logfile;

/** What became of one package on one index. */
enum offserv_outcome {
	OFFSERV_OUTCOME_INSTALLED = 1,        /**< installed, state Installed (0x70) */
	OFFSERV_OUTCOME_INSTALL_PENDING = 2,  /**< installed, state Install Pending (0x60) */
	OFFSERV_OUTCOME_ALREADY_INSTALLED = 3, /**< same or higher version present: skipped */
	OFFSERV_OUTCOME_NOT_APPLICABLE = 4,   /**< 0x800f081e (parent, architecture) */
	OFFSERV_OUTCOME_SUPERSEDED = 5,       /**< a newer package of its family is installed */
	OFFSERV_OUTCOME_FAILED = 6,           /**< see the status and message */
	OFFSERV_OUTCOME_CANCELLED = 7,        /**< the run was cancelled before it finished */
	OFFSERV_OUTCOME_NOT_ATTEMPTED = 8,    /**< an earlier failure stopped the run */
	OFFSERV_OUTCOME_REMOVED = 9,          /**< removed (Remove-Package); earlier versions restored */
	OFFSERV_OUTCOME_NOT_PRESENT = 10,     /**< 0x800f080c: not installed in the image */
	OFFSERV_OUTCOME_PERMANENT = 11,       /**< 0x800f0825: cannot be removed (base or reset) */
	OFFSERV_OUTCOME_CLEANED = 12,         /**< superseded; its unprojected payload was removed */
	OFFSERV_OUTCOME_REVERTED = 13,        /**< pending actions reverted (RevertPendingActions) */
};

/** A short word for an outcome ("Installed", "Not applicable", ...). */
OFFSERV_API const char *offserv_outcome_name(enum offserv_outcome o);

/** One package to install: an expanded package folder. */
struct offserv_engine_package {
	const char *dir;      /**< the folder that holds the package manifest */
	const char *mum_name; /**< the manifest inside @p dir; NULL for "update.mum" */
	const char *source;   /**< what to record as InstallLocation (the update file); NULL: dir */
};

/** The result for one package on one index. */
struct offserv_engine_result {
	int index;                 /**< WIM index */
	size_t package;            /**< position in the package list */
	char *identity;            /**< package identity string, NULL if the manifest was unreadable */
	enum offserv_outcome outcome;
	offserv_status status;     /**< OFFSERV_OK, or the HRESULT of the failure/verdict */
	char *message;             /**< human explanation, never NULL */
};

/** Progress of a run, for a progress bar. */
struct offserv_engine_progress {
	int index;              /**< index being serviced (0 while committing) */
	size_t package;         /**< package being applied */
	size_t n_packages;
	const char *identity;   /**< of that package, may be NULL */
	const char *step;       /**< "Applicability", "Verifying", "Staging", "Committing", ... */
	double percent;         /**< of the whole run, 0..100, never decreasing */
	uint64_t bytes_done;
	uint64_t bytes_total;
};

/**
 * Called as the run goes; a non-zero return cancels it at the next safe
 * point (the WIM is then left as it was).
 */
typedef int (*offserv_engine_progress_fn)(void *ctx, const struct offserv_engine_progress *p);

/** Options of a servicing run. */
struct offserv_engine_options {
	const char *wim_path;      /**< the WIM to service; exclusive with @p image_dir */
	/**
	 * Instead of a WIM: the root of an offline Windows directory tree (an
	 * applied or mounted image, as `dism /Image:`).  Exactly one of
	 * @p wim_path and @p image_dir must be set.  The tree is serviced as
	 * index 1 (@p indexes must be NULL); hives are read from and written
	 * back to `Windows\System32\config`, the architecture comes from the
	 * SYSTEM hive or the installed Foundation package.  Replaced files keep
	 * the metadata the filesystem holds; security descriptors are set only
	 * where the filesystem keeps NTFS descriptors (ntfs-3g).  Failures
	 * found while planning leave the tree unchanged, but a failure while the
	 * files are written can leave part of them written (a directory has no
	 * atomic commit).
	 */
	const char *image_dir;
	const int *indexes;        /**< indexes to service; NULL means all */
	size_t n_indexes;
	const char *scratch_dir;   /**< an existing folder on the servicing drive; emptied afterwards */
	int continue_on_error;     /**< go on after a failed package */
	int prevent_pending;       /**< refuse packages that would need online work (DISM /PreventPending) */
	int ignore_check;          /**< skip the applicability check of parents (DISM /IgnoreCheck) */
	int no_fsync;              /**< tests only */
	/**
	 * Write the whole WIM anew (a rebuild) instead of appending, so that
	 * the space replaced and removed data leave behind is reclaimed.
	 * Slower; the file is still replaced atomically.
	 */
	int rebuild;
	offserv_engine_progress_fn progress;
	void *progress_ctx;
	struct offserv_logfile *sms_log;  /**< OfflineServicingMgr.log, may be NULL */
	struct offserv_logfile *dism_log; /**< dism.log, may be NULL */
};

/** Everything a run produced. */
struct offserv_engine_report {
	struct offserv_engine_result *results;
	size_t n_results;
	int committed;         /**< the WIM was written */
	int reboot_required;   /**< a package is Install Pending */
};

/**
 * Service one WIM.  Returns OFFSERV_OK when every package was installed,
 * already installed or superseded (each one's verdict is in the report),
 * the first failure's status otherwise (OFFSERV_E_ABORT when cancelled:
 * every package is then reported ::OFFSERV_OUTCOME_CANCELLED).  A package
 * that does not apply (0x800f081e) fails the run like any failure unless
 * continue_on_error is set; with it, it is reported
 * ::OFFSERV_OUTCOME_NOT_APPLICABLE and does not change the returned status.
 * When two packages of a run write the same image path, the later one
 * wins.  @p report is always filled and must be released with
 * offserv_engine_report_clear().
 */
OFFSERV_API offserv_status offserv_engine_service(const struct offserv_engine_options *opts,
                                                  const struct offserv_engine_package *pkgs,
                                                  size_t n_pkgs,
                                                  struct offserv_engine_report *report,
                                                  char *err, size_t errlen);

/**
 * Remove installed packages (DISM `/Remove-Package`), each given by its
 * package identity string, from every selected index.  A package is
 * removed the way Windows' servicing stack removes it: its components'
 * projected files are taken away or, where an earlier version of the
 * component is still in the component store and owned by another
 * installed package, that version is projected again; registry values its
 * manifests wrote are removed; the packages it superseded return to
 * Installed; its registration (hives, `Windows\servicing\Packages`) is
 * deleted.  A package that is not installed is reported
 * ::OFFSERV_OUTCOME_NOT_PRESENT (0x800f080c); one whose earlier state
 * cannot be restored (part of the base image, made permanent by
 * /ResetBase, or a servicing stack) is ::OFFSERV_OUTCOME_PERMANENT
 * (0x800f0825).  Both fail the run unless continue_on_error is set.
 * Commit, cancel and failure rules are those of offserv_engine_service().
 */
OFFSERV_API offserv_status offserv_engine_remove(const struct offserv_engine_options *opts,
                                                 const char *const *identities, size_t n,
                                                 struct offserv_engine_report *report,
                                                 char *err, size_t errlen);

/** offserv_engine_cleanup() flag: make every installed package permanent (DISM /ResetBase). */
#define OFFSERV_CLEANUP_RESET_BASE 0x1u

/**
 * Component store cleanup (DISM `/Cleanup-Image /StartComponentCleanup`):
 * the payload and manifests of components that only superseded packages
 * own, and that no file outside the store links to any more, are removed
 * from `Windows\WinSxS`, and those packages are reported
 * ::OFFSERV_OUTCOME_CLEANED.  With ::OFFSERV_CLEANUP_RESET_BASE every
 * superseded package is removed from the registration as well and every
 * remaining package becomes permanent (no later Remove-Package).  The
 * time of the cleanup is recorded in the image.  Commit rules are those
 * of offserv_engine_service(); set offserv_engine_options::rebuild to
 * reclaim the freed space in the WIM file itself.
 */
OFFSERV_API offserv_status offserv_engine_cleanup(const struct offserv_engine_options *opts,
                                                  unsigned flags,
                                                  struct offserv_engine_report *report,
                                                  char *err, size_t errlen);

/**
 * Revert pending actions (DISM `/Cleanup-Image /RevertPendingActions`):
 * packages in Install Pending are removed as by offserv_engine_remove()
 * and `Windows\WinSxS\pending.xml` with its PendingXmlIdentifier is
 * taken away.  Each reverted package is reported ::OFFSERV_OUTCOME_REVERTED.
 */
OFFSERV_API offserv_status offserv_engine_revert_pending(const struct offserv_engine_options *opts,
                                                         struct offserv_engine_report *report,
                                                         char *err, size_t errlen);

/** What /AnalyzeComponentStore reports about one index. */
struct offserv_component_store_info {
	uint64_t explorer_size;        /**< file sizes under WinSxS, hard links counted each time */
	uint64_t actual_size;          /**< the same, every file counted once */
	uint64_t shared_with_windows;  /**< store files also projected outside WinSxS */
	uint64_t backups_and_disabled; /**< payload of components only superseded packages own */
	uint64_t cache_and_temp;       /**< WinSxS\Temp, WinSxS\Backup and the like */
	int64_t last_cleanup;          /**< Unix time of the last cleanup, 0 when never */
	unsigned reclaimable_packages; /**< superseded packages a cleanup would remove */
	int cleanup_recommended;       /**< reclaimable_packages > 0 */
};

/**
 * Analyse the component store of one index (1 for a directory tree)
 * without changing anything.
 */
OFFSERV_API offserv_status offserv_engine_analyze(const struct offserv_engine_options *opts,
                                                  int index,
                                                  struct offserv_component_store_info *info,
                                                  char *err, size_t errlen);

/** Free what a report holds. */
OFFSERV_API void offserv_engine_report_clear(struct offserv_engine_report *report);

#ifdef __cplusplus
}
#endif

#endif /* OFFSERV_ENGINE_H */
