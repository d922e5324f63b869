/* SPDX-License-Identifier: GPL-3.0-or-later */
/**
 * @file site.h
 * @brief A site: its configuration, logs, plugins and database, opened once.
 *
 * Both programs start by opening the site: the configuration is loaded and
 * validated, the site's folders are created (mode 0750) when missing,
 * `OfflineServicingMgr.log` is opened, the plugins are loaded (refused ones
 * are listed and logged; the others work) and their `[plugin.NAME]` keys
 * routed to them.  The site database is opened on first use.
 */
#ifndef OFFSERV_SITE_H
#define OFFSERV_SITE_H

#include <stddef.h>

#include <offserv/config.h>
#include <offserv/export.h>
#include <offserv/log.h>
#include <offserv/plugins.h>
#include <offserv/status.h>

#ifdef __cplusplus
extern "C" {
#endif

struct offserv_site;
struct offserv_sitedb;

/** Options for offserv_site_open(). */
struct offserv_site_options {
	const char *config_path; /**< NULL: $OFFSERV_CONFIG or the default file */
	int no_plugins;          /**< do not load plugins */
	int read_only;           /**< do not create folders (the site must exist) */
};

/**
 * Open a site.
 * @retval OFFSERV_E_BAD_CONFIG the configuration is invalid (message in @p err)
 * @retval OFFSERV_E_ACCESS_DENIED a folder cannot be created, or the plugin
 *         directory is writable by others
 */
OFFSERV_API offserv_status offserv_site_open(const struct offserv_site_options *o,
                                             struct offserv_site **out, char *err,
                                             size_t errlen);

/** Close everything the site opened.  NULL is accepted. */
OFFSERV_API void offserv_site_close(struct offserv_site *site);

/** The validated configuration. */
OFFSERV_API const struct offserv_config *offserv_site_config(const struct offserv_site *site);

/** OfflineServicingMgr.log (never NULL once open). */
OFFSERV_API struct offserv_logfile *offserv_site_log(const struct offserv_site *site);

/** The loaded plugins (NULL when plugins were not loaded or the directory was refused). */
OFFSERV_API struct offserv_plugins *offserv_site_plugins(const struct offserv_site *site);

/** Why the plugin directory as a whole was refused, or NULL. */
OFFSERV_API const char *offserv_site_plugin_error(const struct offserv_site *site);

/** The site database, opened (and migrated) on first use. */
OFFSERV_API offserv_status offserv_site_db(struct offserv_site *site, struct offserv_sitedb **db,
                                           char *err, size_t errlen);

/**
 * Open a dism.log in the site's log folder (or @p path when not NULL) with
 * the site's size limit and history; @p level 0 uses the configured level.
 */
OFFSERV_API offserv_status offserv_site_open_dism_log(const struct offserv_site *site,
                                                      const char *path, int level,
                                                      struct offserv_logfile **out, char *err,
                                                      size_t errlen);

#ifdef __cplusplus
}
#endif

#endif /* OFFSERV_SITE_H */
