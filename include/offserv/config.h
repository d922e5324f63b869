/* SPDX-License-Identifier: GPL-3.0-or-later */
/**
 * @file config.h
 * @brief offserv.ini: loading, validation and typed access.
 *
 * The file is read once and every known key is validated at load: a bad
 * value is an error naming the file, section, key and value, never a silent
 * default.  Unknown sections, and unknown keys in the known sections, are
 * collected as warnings.  `[plugin.NAME]` and `[dp.NAME]` sections are kept
 * raw for the plugins they configure.
 *
 * Section and key names are case-insensitive (they are reported in lower
 * case); values keep their case.  Every path default derives from
 * `[site] root`, so one `root = DIR` gives a self-contained site.
 *
 * A loaded configuration is read-only and may be shared between threads.
 */
#ifndef OFFSERV_CONFIG_H
#define OFFSERV_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <offserv/export.h>
#include <offserv/log.h>
#include <offserv/status.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Environment variable naming the configuration file. */
#define OFFSERV_CONFIG_ENV "OFFSERV_CONFIG"
/** Largest configuration file accepted. */
#define OFFSERV_CONFIG_MAX_BYTES (1024 * 1024)

/** A loaded, validated configuration. */
struct offserv_config;

/**
 * Load and validate a configuration.
 *
 * @p path NULL means the file named by $OFFSERV_CONFIG when set and not
 * empty, else OFFSERV_SYSCONFDIR/offserv/offserv.ini; when that default
 * file does not exist the built-in defaults are used.  A file named
 * explicitly (argument or environment) must exist.
 *
 * @retval OFFSERV_OK               *out holds the configuration.
 * @retval OFFSERV_E_FILE_NOT_FOUND an explicitly named file is missing.
 * @retval OFFSERV_E_BAD_CONFIG     a syntax error, an encoding other than
 *                                  UTF-8 without BOM, or a bad value; @p err
 *                                  names the file (and line, or section and key).
 * @retval other                    the file could not be read.
 */
OFFSERV_API offserv_status offserv_config_load(const char *path, struct offserv_config **out,
                                               char *err, size_t errlen);

/** Free a configuration; NULL is a no-op. */
OFFSERV_API void offserv_config_free(struct offserv_config *cfg);

/** The file loaded, or NULL when the built-in defaults are in use. */
OFFSERV_API const char *offserv_config_source(const struct offserv_config *cfg);

/** [site] code: three letters or digits, upper case (default "OFS"). */
OFFSERV_API const char *offserv_config_site_code(const struct offserv_config *cfg);
/** [site] root: absolute, no trailing slash (default LOCALSTATEDIR/lib/offserv). */
OFFSERV_API const char *offserv_config_site_root(const struct offserv_config *cfg);
/** [site] content_library (default ROOT/ContentLibrary; relative values are under ROOT). */
OFFSERV_API const char *offserv_config_content_library(const struct offserv_config *cfg);
/** [site] database (default ROOT/site.db; relative values are under ROOT). */
OFFSERV_API const char *offserv_config_database(const struct offserv_config *cfg);

/** [offline_servicing] drive: "Automatic" or an absolute path (default "Automatic"). */
OFFSERV_API const char *offserv_config_drive(const struct offserv_config *cfg);
/** [offline_servicing] workers: 1..64 (default 2). */
OFFSERV_API unsigned offserv_config_workers(const struct offserv_config *cfg);
/** [offline_servicing] compaction_threshold_percent: 0..100 (default 25). */
OFFSERV_API unsigned offserv_config_compaction_threshold(const struct offserv_config *cfg);

/** [logging] directory (default ROOT/Logs; relative values are under ROOT). */
OFFSERV_API const char *offserv_config_log_directory(const struct offserv_config *cfg);
/** [logging] max_size in bytes: 1024..1G (default 250000). */
OFFSERV_API uint64_t offserv_config_log_max_size(const struct offserv_config *cfg);
/** [logging] history: 0..99 (default 1). */
OFFSERV_API unsigned offserv_config_log_history(const struct offserv_config *cfg);
/** [logging] level: an ::offserv_loglevel, 1..4 (default 3). */
OFFSERV_API int offserv_config_log_level(const struct offserv_config *cfg);
/** [logging] format: ::OFFSERV_LOGFMT_TRACE or ::OFFSERV_LOGFMT_CCM (default trace). */
OFFSERV_API enum offserv_logfmt offserv_config_log_format(const struct offserv_config *cfg);

/** [plugins] directory: absolute (default OFFSERV_PLUGINDIR). */
OFFSERV_API const char *offserv_config_plugin_directory(const struct offserv_config *cfg);

/**
 * Raw value of @p key in @p section (case-insensitive), or NULL when absent.
 * For the known keys prefer the typed getters, which return the validated
 * effective value.
 */
OFFSERV_API const char *offserv_config_get(const struct offserv_config *cfg,
                                           const char *section, const char *key);

/** Callback for offserv_config_foreach_section(); non-zero stops the walk. */
typedef int (*offserv_config_section_cb)(const char *section, void *ctx);
/** Callback for offserv_config_foreach_key(); non-zero stops the walk. */
typedef int (*offserv_config_key_cb)(const char *key, const char *value, void *ctx);

/**
 * Call @p cb for each section whose name starts with @p prefix (e.g.
 * "plugin." or "dp."; NULL or "" for all), in file order.  Returns 0, or
 * the first non-zero value @p cb returned.
 */
OFFSERV_API int offserv_config_foreach_section(const struct offserv_config *cfg,
                                               const char *prefix,
                                               offserv_config_section_cb cb, void *ctx);

/**
 * Call @p cb for each key of @p section in file order, with its value.
 * Returns 0, or the first non-zero value @p cb returned (also 0 when the
 * section does not exist).
 */
OFFSERV_API int offserv_config_foreach_key(const struct offserv_config *cfg,
                                           const char *section, offserv_config_key_cb cb,
                                           void *ctx);

/** Number of warnings collected at load (unknown sections and keys, duplicates). */
OFFSERV_API size_t offserv_config_warning_count(const struct offserv_config *cfg);
/** Warning @p i (0-based), naming the file and line; NULL when out of range. */
OFFSERV_API const char *offserv_config_warning(const struct offserv_config *cfg, size_t i);

/**
 * Print the effective configuration as an INI file (every known key with
 * its value, defaults included, then the plugin and dp sections raw).
 */
OFFSERV_API void offserv_config_dump(const struct offserv_config *cfg, FILE *fp);

#ifdef __cplusplus
}
#endif

#endif /* OFFSERV_CONFIG_H */
