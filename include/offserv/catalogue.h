/* SPDX-License-Identifier: GPL-3.0-or-later */
/**
 * @file catalogue.h
 * @brief The image catalogue: importing OS images into the site, what each
 *        index holds, which library updates apply to it, and JSON views.
 *
 * **Storage policy.**  By default an imported image is *copied* into the
 * site, `<site root>/Images/<package ID>/install.wim` (`install.esd` for a
 * solid image), so that the site owns the file it services and nobody else
 * changes it under a job.  With ::OFFSERV_CATALOGUE_REFERENCE (the CLI's
 * `--reference`) the WIM stays where it is and is serviced in place; so
 * does any image whose source is a folder (OS upgrade media: its
 * `sources/install.wim` is serviced in the media).
 *
 * **What is read at import.**  For each index: the WIM XML properties; the
 * SOFTWARE hive (`Windows/System32/config/SOFTWARE`, the only file data
 * read from the index besides the package manifests), from which every
 * subkey of `Microsoft\Windows\CurrentVersion\Component Based
 * Servicing\Packages` gives a package: identity = subkey name,
 * `CurrentState`, `InstallTimeHigh`/`InstallTimeLow` as ISO time; and the
 * names of `Windows/servicing/Packages/` `*.mum` (a manifest with no registry
 * entry is recorded as Absent).  With `read_release_types`, the `.mum`
 * files are extracted too and their `releaseType` recorded.
 *
 * **Servicing stack version.**  When no package of an index tells the
 * servicing stack's version (see offserv_image_servicing_stack_version():
 * a fresh image, whose stack came with its Foundation package), the
 * highest `a.b.c.d` value name under `Component Based Servicing\Version`
 * is recorded as an Installed package row
 * `Microsoft-Windows-ServicingStack~31bf3856ad364e35~ARCH~~VERSION`: the
 * servicing engine reads the stack version from the same place, so
 * offserv_catalogue_applicable() judges the servicing stack rule as the
 * engine does.  No real package has that name (it is the stack's component
 * name), so the row is recognisable in `image show`.
 *
 * **Refusals** (nothing is written to the database or the site): a file
 * that is not a WIM; a truncated or damaged WIM; an index without a
 * SOFTWARE hive ("not a Windows image: no SOFTWARE hive in index N"); the
 * same file imported twice (same path or same SHA-256: the error names the
 * existing package ID).  An ESD / solid WIM is imported and marked
 * `solid`: it can be read but not serviced in place; convert it with
 * `wimlib-imagex export SRC all DST.wim --compress=LZX` and import DST.wim.
 */
#ifndef OFFSERV_CATALOGUE_H
#define OFFSERV_CATALOGUE_H

#include <stddef.h>
#include <stdint.h>

#include <offserv/applicability.h>
#include <offserv/export.h>
#include <offserv/plugin.h>
#include <offserv/plugins.h>
#include <offserv/sitedb.h>
#include <offserv/status.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Where the serviced WIM lives. */
enum offserv_catalogue_storage {
	OFFSERV_CATALOGUE_COPY = 0,      /**< copied to <root>/Images/<id>/install.wim (default) */
	OFFSERV_CATALOGUE_REFERENCE = 1, /**< serviced where it is */
};

/** Options of offserv_catalogue_import_image(). */
struct offserv_catalogue_options {
	const char *site_root;                 /**< the site root (Images/ goes under it) */
	/** Image-type plugins; NULL or none bidding: the path is read as a WIM, type "os_image". */
	const struct offserv_plugins *plugins;
	const char *name;                      /**< display name; NULL: the first index's name */
	const char *description;               /**< or NULL */
	int index;                             /**< 1-based index to import, 0 for all */
	enum offserv_catalogue_storage storage;
	/** Scratch folder for extracted hives (a private subfolder is made and removed); NULL: $TMPDIR or /tmp. */
	const char *scratch_dir;
	int read_release_types;                /**< also extract the .mum files for releaseType */
};

/** What an import did. */
struct offserv_catalogue_import_result {
	char package_id[OFFSERV_PACKAGE_ID_LEN];
	char *wim_path;      /**< the WIM the site services */
	char *type;          /**< image-type plugin name */
	int solid;           /**< imported, but servicing will refuse it (see note) */
	size_t n_indexes;
	size_t n_packages;   /**< package rows recorded over all indexes */
	char note[512];      /**< a remark for the user ("" if none): solid, forced reference */
};

/**
 * Import an image into the site.  See the file comment for the policy and
 * the refusals.
 *
 * @retval OFFSERV_OK imported; @p res filled (release with offserv_catalogue_import_result_clear())
 * @retval OFFSERV_E_INVALID_DATA not a WIM (message names the file)
 * @retval OFFSERV_E_FILE_CORRUPT truncated or damaged WIM
 * @retval OFFSERV_CBS_E_IMAGE_UNSERVICEABLE an index has no SOFTWARE hive
 * @retval OFFSERV_E_ALREADY_EXISTS the image is already in the site (message names it)
 * @retval OFFSERV_E_INVALIDARG no such index
 * @retval OFFSERV_E_FILE_NOT_FOUND no such file
 */
OFFSERV_API offserv_status offserv_catalogue_import_image(struct offserv_sitedb *db,
                                                          const struct offserv_catalogue_options *opts,
                                                          const char *path,
                                                          struct offserv_catalogue_import_result *res,
                                                          char *err, size_t errlen);

/** Free what a result holds. */
OFFSERV_API void offserv_catalogue_import_result_clear(struct offserv_catalogue_import_result *res);

/**
 * Read the packages of one index from an extracted SOFTWARE hive: one row
 * per subkey of `...\Component Based Servicing\Packages` (identity,
 * CurrentState, install time), origin "import", and the servicing stack
 * row described in the file comment when no package tells the stack's
 * version.  Exposed for the engine
 * and for tests; the rows are appended to @p *rows (realloc'd, @p *n counts).
 * @retval OFFSERV_CBS_E_IMAGE_UNSERVICEABLE the hive has no CBS Packages key
 */
OFFSERV_API offserv_status offserv_catalogue_read_hive_packages(const char *software_hive,
                                                                int index,
                                                                struct offserv_image_package_rec **rows,
                                                                size_t *n, char *err,
                                                                size_t errlen);

/** A FILETIME as ISO 8601 UTC ("2019-12-07T00:00:00Z") into @p out (21 bytes). */
OFFSERV_API void offserv_filetime_to_iso(uint64_t filetime, char out[21]);

/** One update's verdict for one index. */
struct offserv_applicable_update {
	int64_t update_id;
	int index;
	char *file_name;
	char *kb;
	char *title;
	enum offserv_applicability verdict;
	offserv_status hr;           /**< OFFSERV_OK when it applies */
	char *package;               /**< identity of the package that decided */
	char *explain;               /**< a sentence for `--explain` */
	int64_t superseded_by;       /**< in the library, 0 if none */
	enum offserv_applicability_rule rule; /**< the rule that decided (see applicability.h) */
};

/**
 * Which library updates apply to an image's index (or to each of its
 * indexes when @p index is 0), judged on the packages recorded for the
 * index (the servicing stack row included) and the update's package and
 * parent rows, with offserv_applicability_check(): the function and rules
 * the servicing engine applies, so an update listed as applicable is one
 * the engine will not refuse for architecture, parents (each `<parent>`
 * with its compare attributes and disposition, when the update-format
 * plugin gave them: ABI 1.1) or servicing stack version (0x800f0823).  Each
 * result carries the rule that decided.  An update applies when
 * at least one of its packages applies (an SSU bundled with a cumulative
 * update counts); otherwise its verdict is its main package's (the first
 * that is not a servicing stack).  With @p only_applicable the others are
 * left out; otherwise every update matching @p filter is listed with its
 * verdict, by index then update ID.
 *
 * @retval OFFSERV_E_NOT_FOUND no such image or index
 */
OFFSERV_API offserv_status offserv_catalogue_applicable(struct offserv_sitedb *db,
                                                        const char *image_id, int index,
                                                        const struct offserv_update_filter *filter,
                                                        int only_applicable,
                                                        struct offserv_applicable_update **out,
                                                        size_t *n, char *err, size_t errlen);

/** Free an array from offserv_catalogue_applicable(). */
OFFSERV_API void offserv_applicable_updates_free(struct offserv_applicable_update *u, size_t n);

/**
 * Verdicts from offserv_catalogue_applicable() as a JSON array (malloc'd):
 * one object per verdict with `update_id`, `index`, `kb`, `file_name`,
 * `title`, `verdict` (offserv_applicability_name()), `rule`
 * (offserv_applicability_rule_name()), `hresult` ("0x800f081e"),
 * `package`, `explain` and `superseded_by` (library ID or null).
 */
OFFSERV_API offserv_status offserv_catalogue_applicable_json(const struct offserv_applicable_update *u,
                                                             size_t n, char **json, char *err,
                                                             size_t errlen);

/**
 * Read an update file's metadata with an update-format plugin.  An info
 * from a plugin built before ABI 1.1 is grown to the current layout with
 * the members it lacks (`parents`, `installer_versions`) NULL, so that it
 * can be read and freed with offserv_update_info_free() like any other.
 * Update files should be read through this function, not through the
 * plugin's `read_info` directly.
 *
 * @retval OFFSERV_OK @p info is set
 * @retval OFFSERV_E_INVALIDARG @p plugin is not an update-format plugin
 * @retval OFFSERV_E_OUTOFMEMORY out of memory
 * @retval other the plugin's status, its message in @p err
 */
OFFSERV_API offserv_status offserv_catalogue_read_update_info(const struct offserv_loaded_plugin *plugin,
                                                              const char *path,
                                                              struct offserv_update_info **info,
                                                              char *err, size_t errlen);

/**
 * The package and parent rows offserv_sitedb_update_insert() records for
 * an update: one package row per package (with the servicing stack version
 * it needs, when known), and one parent row per alternative of each
 * `<parent>` (its package, a group per `<parent>`, the compare attributes
 * and disposition).  From an info without `parents` (a 1.0 plugin) the
 * flat `parent_identities` become one group for every package, each
 * version read as a minimum, as before ABI 1.1.  The rows borrow the
 * strings of @p info: free only the two arrays, with free(), and keep
 * @p info alive while the rows are used.
 *
 * @retval OFFSERV_E_OUTOFMEMORY out of memory
 */
OFFSERV_API offserv_status offserv_catalogue_update_rows(const struct offserv_update_info *info,
                                                         struct offserv_update_package_rec **pkgs,
                                                         size_t *n_pkgs,
                                                         struct offserv_update_parent_rec **parents,
                                                         size_t *n_parents, char *err,
                                                         size_t errlen);

/**
 * An image as a JSON object (malloc'd, UTF-8, no trailing newline).  Field
 * names are stable:
 * `id`, `name`, `description`, `type`, `path` (the WIM servicing changes),
 * `source_path`, `sha256`, `storage` ("copy"|"reference"), `solid`,
 * `imported_at`, `scheduled_date`, `scheduled_status`, `last_serviced_at`,
 * `indexes` (array of `{index, name, description, edition, arch, version,
 * build, sp_build, sp_level, languages, size, file_count, dir_count}`) and
 * `updates` (array of `{index, identity, state, state_name, install_time,
 * release_type, origin, applied_at, job_id, update_id}`).  Absent values
 * are `null`.
 */
OFFSERV_API offserv_status offserv_catalogue_image_json(struct offserv_sitedb *db,
                                                        const char *image_id, char **json,
                                                        char *err, size_t errlen);

/**
 * A library update as a JSON object: `id`, `sha256`, `file_name`,
 * `library_path`, `format`, `kb`, `title`, `description`, `release_type`,
 * `arch`, `product`, `build_date`, `support_link`, `size`, `imported_at`,
 * `supported`, `unsupported_reason`, `superseded_by`, `packages` (array of
 * `{seq, identity, name, version, arch, release_type, is_ssu, supported,
 * reason, installer_version}`) and `parents` (array of identity strings).
 */
OFFSERV_API offserv_status offserv_catalogue_update_json(struct offserv_sitedb *db,
                                                         int64_t update_id, char **json,
                                                         char *err, size_t errlen);

#ifdef __cplusplus
}
#endif

#endif /* OFFSERV_CATALOGUE_H */
