/* SPDX-License-Identifier: GPL-3.0-or-later */
/**
 * @file plugin.h
 * @brief The offserv plugin ABI: the only header a plugin needs.
 *
 * A plugin named NAME is the shared object `NAME.so` in the plugin
 * directory.  It exports exactly one symbol, `offserv_plugin`, a
 * `const struct offserv_plugin` descriptor:
 *
 * @code
 * #include <offserv/plugin.h>
 *
 * static const struct offserv_post_action_ops ops = { .run = my_run };
 * OFFSERV_PLUGIN_EXPORT const struct offserv_plugin offserv_plugin = {
 *     .abi_version = OFFSERV_PLUGIN_ABI_VERSION,
 *     .name = "hello",
 *     .kind = OFFSERV_PLUGIN_POST_ACTION,
 *     .version = "1.0",
 *     .description = "says hello after servicing",
 *     .ops.post_action = &ops,
 * };
 * @endcode
 *
 * The loader checks `abi_version` before it reads anything else; a
 * mismatch, a missing symbol, a name that differs from the file name, a
 * duplicate name or a file writable by group or others is refused with a
 * message in the log, and the other plugins still load.
 *
 * Life cycle: `init` (once, may allocate a per-instance context), then
 * `configure` once per key of the INI section `[plugin.NAME]`, then the
 * kind's operations (possibly from several threads, each call with the same
 * context: a plugin that keeps mutable state protects it), then `shutdown`.
 * Plugins keep state in their context, never in file-scope variables.
 */
#ifndef OFFSERV_PLUGIN_H
#define OFFSERV_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#include <offserv/export.h>
#include <offserv/log.h>
#include <offserv/status.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * The ABI version this header describes (its major version).  Bumped on
 * any incompatible change of the structures below; the loader refuses a
 * plugin built against another version.
 */
#define OFFSERV_PLUGIN_ABI_VERSION 1u

/**
 * The ABI minor version: bumped on a compatible change, which only ever
 * appends members at the end of a structure a plugin fills or defines
 * (structures kept in arrays, such as struct offserv_update_package, never
 * grow: what they would gain goes into a new parallel array).  A plugin
 * states the minor it was built against in offserv_plugin::abi_minor.  A
 * plugin built before the minor existed has no such member: the core tells
 * that from the size of the exported descriptor (its ELF symbol size),
 * reads it as 1.0, and never reads a member that plugin does not have, so
 * it still loads and works.
 *
 * - 1.0: the first ABI.
 * - 1.1: offserv_plugin::abi_minor; offserv_update_info::parents and
 *   offserv_update_info::installer_versions (what applicability needs:
 *   each `<parent>` with its compare attributes, and the servicing stack
 *   version each package requires); offserv_post_action_job::scratch_dir,
 *   ::indexes, ::n_indexes, ::target_done and ::target_ctx.
 *
 * The loader refuses a plugin whose minor is newer than the core's, so a
 * plugin may rely on every member of the minor it states.
 */
#define OFFSERV_PLUGIN_ABI_MINOR 1u

/** The exported symbol's name. */
#define OFFSERV_PLUGIN_SYMBOL "offserv_plugin"

/** Marks the descriptor as exported from a plugin built with hidden visibility. */
#define OFFSERV_PLUGIN_EXPORT __attribute__((visibility("default")))

/** What a plugin knows how to do. */
enum offserv_plugin_kind {
	OFFSERV_PLUGIN_IMAGE_TYPE = 1,    /**< a kind of servicing object (WIM, upgrade media) */
	OFFSERV_PLUGIN_UPDATE_FORMAT = 2, /**< a kind of update container (CAB, MSU) */
	OFFSERV_PLUGIN_POST_ACTION = 3,   /**< work after a successful commit (DP refresh) */
};

/** Services the core offers a plugin; passed to `init`. */
struct offserv_host {
	uint32_t abi_version; /**< OFFSERV_PLUGIN_ABI_VERSION of the core */
	/** Write one line to the site log (OfflineServicingMgr.log), prefixed with the plugin name. */
	void (*log)(const struct offserv_host *host, enum offserv_loglevel level,
	            const char *plugin, const char *fmt, ...) OFFSERV_PRINTF(4, 5);
	void *core; /**< opaque, for the core's own use */
};

/* ---------------------------------------------------------------------- */
/* Update formats                                                          */

/** One installable package found inside an update file. */
struct offserv_update_package {
	char *identity;      /**< package identity string Name~Token~Arch~Lang~Version */
	char *name;          /**< assembly name, e.g. "Package_for_KB5034441" */
	char *version;
	char *arch;          /**< processorArchitecture of the package */
	char *release_type;  /**< releaseType */
	char *member;        /**< the CAB or .mum inside the update that holds it */
	int is_ssu;          /**< a servicing stack update (installed first) */
	int supported;       /**< non-zero if offserv can apply it */
	char *unsupported_reason; /**< why not, when !supported */
};

/**
 * One `<parent>` element of a package manifest (ABI 1.1).  The package
 * applies only when one of the alternatives is present in the image with a
 * version that satisfies the compare attributes (see
 * <offserv/applicability.h> for how they are read).  A string is NULL when
 * the manifest lacks that attribute.
 */
struct offserv_update_parent {
	size_t package;          /**< index in offserv_update_info::packages of its package */
	char **identities;       /**< the alternatives, as Name~Token~Arch~Lang~Version */
	size_t n_identities;
	char *disposition;       /**< "detect" (restricts applicability), "staged", ...; NULL: detect */
	char *integrate;         /**< "separate", "standalone", "hidden" */
	char *build_compare;     /**< "EQ", "GE", ...: compares major.minor.build */
	char *service_compare;   /**< compares the revision (the fourth part) */
	char *revision_compare;  /**< compares the revision (the fourth part) */
};

/** Metadata of one update file, read without installing it. */
struct offserv_update_info {
	char *format;       /**< plugin name that read it: "cab", "msu", ... */
	char *kb;           /**< "KB5034441" or NULL */
	char *title;        /**< display name or description */
	char *description;
	char *release_type;
	char *arch;         /**< x86, x64, arm64, neutral */
	char *product;      /**< "Windows 10", from pkgProperties when present */
	char *build_date;
	char *support_link;
	uint64_t size;      /**< bytes of the update file */
	char sha256[65];    /**< hex digest of the update file */
	/** Packages in install order (servicing stack first). */
	struct offserv_update_package *packages;
	size_t n_packages;
	/** Every parent alternative of every package, as package identity strings. */
	char **parent_identities;
	size_t n_parent_identities;
	/* ABI 1.1: present only in plugins whose abi_minor is 1 or more. */
	/**
	 * Every `<parent>` of every package with its attributes, in manifest
	 * order (`parent_identities` keeps the same alternatives, flat, for
	 * readers of 1.0).  NULL and 0 when the plugin does not know them.
	 */
	struct offserv_update_parent *parents;
	size_t n_parents;
	/**
	 * The servicing stack version each package needs (the version of its
	 * `<installerAssembly>`), NULL where unknown: `n_packages` entries in
	 * package order, or NULL for none known.
	 */
	char **installer_versions;
};

/**
 * Free an info and everything in it, the ABI 1.1 members included; NULL
 * is ignored.  Every string and array in it is malloc'd on its own.  An
 * info read from a 1.0 plugin is freed safely only once it has been
 * brought to the current layout (offserv_catalogue_read_update_info()
 * does that).
 */
OFFSERV_API void offserv_update_info_free(struct offserv_update_info *info);

/** One package directory produced by `expand`, in install order. */
struct offserv_expanded_package {
	char *dir;      /**< a folder holding update.mum (or the named .mum) and its manifests/payload */
	char *mum_name; /**< the package manifest file inside dir, usually "update.mum" */
	int is_ssu;
};

/** Operations of an update-format plugin. */
struct offserv_update_format_ops {
	/**
	 * How sure the plugin is that @p path is its format: 0 not at all,
	 * 100 certain.  Reads as little as it can; never fails loudly.
	 */
	int (*probe)(void *ctx, const char *path);
	/**
	 * Read the update's metadata.  On failure return a status and a
	 * message in @p err that names the problem (the caller adds the file).
	 */
	offserv_status (*read_info)(void *ctx, const char *path,
	                            struct offserv_update_info **info, char *err,
	                            size_t errlen);
	/**
	 * Expand the update under @p destdir (which exists and is empty) into
	 * one folder per installable package, in install order.  Every member
	 * name is sanitized; nothing is written outside @p destdir.  The
	 * caller frees the array and its strings with
	 * offserv_expanded_packages_free().
	 */
	offserv_status (*expand)(void *ctx, const char *path, const char *destdir,
	                         struct offserv_expanded_package **pkgs, size_t *n_pkgs,
	                         char *err, size_t errlen);
};

/** Free an array returned by an `expand` operation. */
OFFSERV_API void offserv_expanded_packages_free(struct offserv_expanded_package *pkgs,
                                                size_t n);

/* ---------------------------------------------------------------------- */
/* Image types                                                             */

/** One image (index) of a servicing object. */
struct offserv_image_index {
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
	uint64_t total_bytes;
	uint64_t file_count;
	uint64_t dir_count;
};

/** What an image-type plugin reports about a servicing object. */
struct offserv_image_object {
	char *type;     /**< plugin name */
	char *wim_path; /**< the WIM file servicing changes */
	int solid;      /**< ESD / solid-compressed: readable, not serviceable in place */
	struct offserv_image_index *indexes;
	size_t n_indexes;
};

/** Free an image object; NULL is ignored. */
OFFSERV_API void offserv_image_object_free(struct offserv_image_object *obj);

/** Operations of an image-type plugin. */
struct offserv_image_type_ops {
	/** As for updates: 0..100. */
	int (*probe)(void *ctx, const char *path);
	/** Describe the object at @p path (a .wim, a media folder, ...). */
	offserv_status (*open)(void *ctx, const char *path, struct offserv_image_object **obj,
	                       char *err, size_t errlen);
};

/* ---------------------------------------------------------------------- */
/* Post-actions                                                            */

/**
 * What a post-action is told about the job that just committed.
 *
 * Members are only ever appended; those after `progress_ctx` may be NULL
 * or 0 (a caller that does not know them leaves them so), and a plugin
 * works without them.
 */
struct offserv_post_action_job {
	const char *image_id;   /**< site package ID, e.g. "OFS00012" */
	const char *image_name;
	const char *wim_path;   /**< the serviced WIM */
	const char *sha256;     /**< of the serviced WIM, hex, or NULL if not computed */
	/** Called with progress 0..100; a non-zero return asks to cancel. */
	int (*progress)(void *progress_ctx, int percent, const char *what);
	void *progress_ctx;
	/**
	 * An existing, empty folder on the servicing drive for the action's
	 * temporary files (the job's `<drive>/ConfigMgr_OfflineImageServicing/
	 * <image id>/ImageMountDir`); the job removes it afterwards.  NULL: the
	 * action has none and must not need one.
	 */
	const char *scratch_dir; /* ABI 1.1 from here on */
	/** The WIM indexes the job serviced; NULL (with 0) for all of them. */
	const int *indexes;
	size_t n_indexes;
	/**
	 * Optional (may be NULL): report the outcome for one target of the
	 * action, e.g. one distribution point: its name, status (OFFSERV_OK
	 * or the failure's HRESULT), the bytes it moved and a one-line message
	 * (what was done, or why it failed).  Called once per target, when that
	 * target is finished; the core records each one (`offserv status`).
	 */
	void (*target_done)(void *target_ctx, const char *target, offserv_status status,
	                    uint64_t bytes, const char *message);
	void *target_ctx;
};

/** Operations of a post-action plugin. */
struct offserv_post_action_ops {
	/**
	 * Run after a successful commit.  A summary of what was done (one
	 * line, e.g. bytes moved per target) may be written into @p summary.
	 */
	offserv_status (*run)(void *ctx, const struct offserv_post_action_job *job,
	                      char *summary, size_t summary_len, char *err, size_t errlen);
};

/* ---------------------------------------------------------------------- */
/* The descriptor                                                          */

/** The one symbol a plugin exports, named ::OFFSERV_PLUGIN_SYMBOL. */
struct offserv_plugin {
	uint32_t abi_version;    /**< must be OFFSERV_PLUGIN_ABI_VERSION */
	const char *name;        /**< equals the file name without ".so" */
	enum offserv_plugin_kind kind;
	const char *version;     /**< the plugin's own version */
	const char *description; /**< one line */
	/** Optional: create the per-instance context. */
	offserv_status (*init)(const struct offserv_host *host, void **ctx);
	/**
	 * Optional: one key of `[plugin.NAME]`.  Return OFFSERV_E_NOT_FOUND for
	 * a key the plugin does not know (the core warns), OFFSERV_E_INVALIDARG
	 * with a message in @p err for a bad value (the plugin is refused).
	 */
	offserv_status (*configure)(void *ctx, const char *key, const char *value, char *err,
	                            size_t errlen);
	/** Optional: release the context. */
	void (*shutdown)(void *ctx);
	/** The kind's operations; the member that matches `kind` is used. */
	union {
		const struct offserv_update_format_ops *update_format;
		const struct offserv_image_type_ops *image_type;
		const struct offserv_post_action_ops *post_action;
	} ops;
	/* ABI 1.1 */
	/** OFFSERV_PLUGIN_ABI_MINOR as the plugin was built (read as 0 when absent). */
	uint32_t abi_minor;
};

#ifdef __cplusplus
}
#endif

#endif /* OFFSERV_PLUGIN_H */
