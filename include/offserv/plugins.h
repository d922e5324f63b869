/* SPDX-License-Identifier: GPL-3.0-or-later */
/**
 * @file plugins.h
 * @brief Loading plugins and finding the one that handles a file.
 *
 * This is the host side of the plugin ABI (see plugin.h for the plugin
 * side).  The loader scans one directory for `*.so` files, `dlopen`s each
 * with RTLD_NOW | RTLD_LOCAL, looks up ::OFFSERV_PLUGIN_SYMBOL and checks
 * the ABI version before anything else.  A plugin that cannot be loaded is
 * recorded as refused with its reason; loading goes on with the others.
 */
#ifndef OFFSERV_PLUGINS_H
#define OFFSERV_PLUGINS_H

#include <stddef.h>

#include <offserv/export.h>
#include <offserv/plugin.h>
#include <offserv/status.h>

#ifdef __cplusplus
extern "C" {
#endif

struct offserv_plugins;

/** One loaded plugin. */
struct offserv_loaded_plugin {
	const struct offserv_plugin *desc; /**< the plugin's descriptor */
	void *ctx;                         /**< what its `init` returned */
	char *file;                        /**< absolute path of the .so */
};

/** One plugin file that was refused, and why. */
struct offserv_refused_plugin {
	char *file;
	char *reason;
	offserv_status status;
};

/**
 * Called once per `key = value` of the `[plugin.NAME]` section that
 * belongs to a plugin, so that the loader can route configuration without
 * depending on the configuration module.  Return non-zero to stop.
 */
typedef int (*offserv_plugin_config_iter)(void *cfg_ctx, const char *plugin_name,
                                          int (*each)(void *each_ctx, const char *key,
                                                      const char *value),
                                          void *each_ctx);

/** Options for offserv_plugins_load(). */
struct offserv_plugins_options {
	const char *directory;           /**< the plugin directory */
	const struct offserv_host *host; /**< passed to each plugin's init */
	/** Optional: routes `[plugin.NAME]` keys to `configure`. */
	offserv_plugin_config_iter config_iter;
	void *config_ctx;
	/**
	 * Non-zero to skip the ownership/permission check (group- or
	 * other-writable files and directories are refused otherwise).  Only
	 * for tests that cannot control permissions.
	 */
	int allow_insecure;
};

/**
 * Load every `*.so` in the directory, in name order.  Fails only when the
 * directory itself cannot be used (missing, not a directory, writable by
 * others); refused plugins are listed with offserv_plugins_refused().
 * Warnings (unknown configuration keys) are sent to the host's log.
 */
OFFSERV_API offserv_status offserv_plugins_load(const struct offserv_plugins_options *opts,
                                                struct offserv_plugins **out, char *err,
                                                size_t errlen);

/** Shut every plugin down, unload them and free @p p.  NULL is ignored. */
OFFSERV_API void offserv_plugins_unload(struct offserv_plugins *p);

/** Number of loaded plugins. */
OFFSERV_API size_t offserv_plugins_count(const struct offserv_plugins *p);

/** The i-th loaded plugin (name order), or NULL. */
OFFSERV_API const struct offserv_loaded_plugin *
offserv_plugins_get(const struct offserv_plugins *p, size_t i);

/** Number of refused plugin files. */
OFFSERV_API size_t offserv_plugins_refused_count(const struct offserv_plugins *p);

/** The i-th refused plugin file, or NULL. */
OFFSERV_API const struct offserv_refused_plugin *
offserv_plugins_refused(const struct offserv_plugins *p, size_t i);

/** The loaded plugin with this name, or NULL. */
OFFSERV_API const struct offserv_loaded_plugin *
offserv_plugins_find(const struct offserv_plugins *p, const char *name);

/**
 * The update-format plugin that bids highest for @p path, or NULL when none
 * bids above zero.
 */
OFFSERV_API const struct offserv_loaded_plugin *
offserv_plugins_probe_update(const struct offserv_plugins *p, const char *path);

/** The image-type plugin that bids highest for @p path, or NULL. */
OFFSERV_API const struct offserv_loaded_plugin *
offserv_plugins_probe_image(const struct offserv_plugins *p, const char *path);

/** "image type", "update format" or "post-action". */
OFFSERV_API const char *offserv_plugin_kind_name(enum offserv_plugin_kind kind);

/**
 * The plugin ABI minor a loaded plugin descriptor was built against: its
 * `abi_minor` (at least 1) when the exported `offserv_plugin` symbol is
 * large enough to hold that member, 0 for a plugin built before ABI 1.1 or
 * a descriptor whose size cannot be told (not an exported symbol of a
 * loaded object).  See OFFSERV_PLUGIN_ABI_MINOR.
 */
OFFSERV_API uint32_t offserv_plugin_abi_minor(const struct offserv_plugin *desc);

#ifdef __cplusplus
}
#endif

#endif /* OFFSERV_PLUGINS_H */
