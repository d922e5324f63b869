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
 * package identity string (`Name~Token~Arch~Language~Version`, compared
 * case-insensitively), from every selected index, in the order given.
 *
 * The package's components are read from its manifest in
 * `Windows\servicing\Packages` (and the nested manifests it names) and
 * the component manifests in `Windows\WinSxS\Manifests`.  Each component
 * that no other registered package owns (in any state) leaves the store:
 * its folder, its manifest and its COMPONENTS `DerivedData\Components`
 * key.  When no newer version of that component is present (it is the one
 * projected), its projections go too -- only those that are still a link
 * to (or equal to) its store copy -- or, where an earlier version of the
 * same component (same identity apart from the version) is in the store
 * and owned by a live package, that version's files are projected again
 * (hard links sharing the store file's descriptor and attributes); the
 * registry values its manifest declared are deleted, with the keys it
 * declared and their parents when left empty (never a key in the first two
 * levels of a hive), and the earlier version's values are written back.
 * The package's registration goes: its CBS `Packages` key, its
 * `PackageIndex` entry, its COMPONENTS deployment and `c!` marks, its .mum
 * and .cat.  The highest remaining package of its family (same name and
 * architecture) returns from Superseded to Installed.
 *
 * Verdicts: an identity that is not registered is
 * ::OFFSERV_OUTCOME_NOT_PRESENT (0x800f080c).  ::OFFSERV_OUTCOME_PERMANENT
 * (0x800f0825, nothing changed) when
 *  - its CurrentState is Permanent (0x80: /ResetBase, see
 *    offserv_engine_cleanup()) or its manifest says `permanence="permanent"`;
 *  - it is the Foundation package (releaseType Foundation) or carries a
 *    Microsoft-Windows-ServicingStack component (a servicing stack);
 *  - its .mum, a nested .mum or one of its component manifests is not in
 *    the image;
 *  - restoring the earlier version of one of its components needs that
 *    version's manifest or a file of it that is no longer in the store
 *    (removed by a cleanup);
 *  - it is a base package (releaseType Product, Feature Pack, Language
 *    Pack or OnDemand Pack) and removing it would take projected files away
 *    with no earlier version to put back.
 * Without continue_on_error either verdict fails the run (its status is
 * returned, the image is unchanged and the later packages are reported
 * ::OFFSERV_OUTCOME_NOT_ATTEMPTED); with it, the verdict is reported, the
 * other packages are removed and the returned status is not changed by it.
 * A removed package is ::OFFSERV_OUTCOME_REMOVED.  Removing a package and
 * installing it again gives the image its first install gave (file data,
 * links, descriptors and registrations; file times differ).  Commit,
 * cancel and failure rules are those of offserv_engine_service(); dism.log
 * lines name CDISMPackageManager::Internal_RemovePackage.
 */
OFFSERV_API offserv_status offserv_engine_remove(const struct offserv_engine_options *opts,
                                                 const char *const *identities, size_t n,
                                                 struct offserv_engine_report *report,
                                                 char *err, size_t errlen);

/** offserv_engine_cleanup() flag: make every installed package permanent (DISM /ResetBase). */
#define OFFSERV_CLEANUP_RESET_BASE 0x1u

/**
 * Where offserv_engine_cleanup() records the time of the cleanup: a
 * REG_QWORD FILETIME (UTC) of this name in the image's SOFTWARE hive, key
 * `Microsoft\Windows\CurrentVersion\Component Based Servicing`.
 * Windows' own record of its last cleanup is not publicly documented, so
 * the value is offserv's; offserv_engine_analyze() reads it back.
 */
#define OFFSERV_ENGINE_CLEANUP_VALUE "LastComponentCleanup"

/**
 * Component store cleanup (DISM `/Cleanup-Image /StartComponentCleanup`).
 * A component leaves the store (its folder, its manifest, its COMPONENTS
 * `DerivedData\Components` key) when every package that owns it is
 * Superseded, a newer version of it owned by a live package is present,
 * and none of its files has a name outside its folder (nothing projects
 * it).  Each superseded package that lost payload is reported
 * ::OFFSERV_OUTCOME_CLEANED and stays registered as Superseded; the package
 * that superseded it can then no longer be removed (see
 * offserv_engine_remove()).
 *
 * With ::OFFSERV_CLEANUP_RESET_BASE, every superseded package that no
 * longer owns a component alone in the store is also unregistered (CBS
 * key, PackageIndex entry, deployment, .mum, .cat; reported CLEANED), and
 * every Installed package becomes Permanent (CurrentState 0x80), which
 * offserv_engine_remove() refuses.  Install Pending and Superseded
 * packages keep their state.
 *
 * The time of the cleanup is recorded in SOFTWARE (see
 * ::OFFSERV_ENGINE_CLEANUP_VALUE), so every cleanup commits.  Commit rules
 * are those of offserv_engine_service(); set
 * offserv_engine_options::rebuild to reclaim the freed space in the WIM
 * file itself.
 *
 * @retval OFFSERV_CBS_E_PENDING (0x800f0806) the index has pending actions
 *         (`WinSxS\pending.xml` or a package in Install Pending): nothing
 *         is changed; offserv_engine_revert_pending() takes them away
 * @retval OFFSERV_E_INVALIDARG unknown @p flags
 */
OFFSERV_API offserv_status offserv_engine_cleanup(const struct offserv_engine_options *opts,
                                                  unsigned flags,
                                                  struct offserv_engine_report *report,
                                                  char *err, size_t errlen);

/**
 * Revert pending actions (DISM `/Cleanup-Image /RevertPendingActions`):
 * every package in Install Pending (0x60) is removed as by
 * offserv_engine_remove() (same rules and verdicts) and reported
 * ::OFFSERV_OUTCOME_REVERTED; `Windows\WinSxS\pending.xml` and COMPONENTS'
 * PendingXmlIdentifier value are taken away.  An image with nothing
 * pending is left as it is (nothing is committed).
 */
OFFSERV_API offserv_status offserv_engine_revert_pending(const struct offserv_engine_options *opts,
                                                         struct offserv_engine_report *report,
                                                         char *err, size_t errlen);

/** What /AnalyzeComponentStore reports about one index. */
struct offserv_component_store_info {
	uint64_t explorer_size;        /**< file sizes under WinSxS, each name counted */
	uint64_t actual_size;          /**< the same, each file (hard-link group) counted once */
	uint64_t shared_with_windows;  /**< store files that also have a name outside WinSxS, once each */
	uint64_t backups_and_disabled; /**< payload a cleanup would remove (see offserv_engine_cleanup()) */
	uint64_t cache_and_temp;       /**< WinSxS\Temp, WinSxS\Backup and WinSxS\ManifestCache */
	int64_t last_cleanup;          /**< Unix time of the last offserv_engine_cleanup(), 0 when never */
	unsigned reclaimable_packages; /**< superseded packages a cleanup would report CLEANED */
	int cleanup_recommended;       /**< reclaimable_packages > 0 */
};

/**
 * Analyse the component store of one index (1 for a directory tree)
 * without changing anything: the WIM is opened read-only, only the hives,
 * the package manifests and the metadata of the files under
 * `Windows\WinSxS` are read (no file data).
 *
 * @retval OFFSERV_E_INVALIDARG no such index, or options not as for
 *         offserv_engine_service()
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
