/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Opening a site: configuration, folders, the site log, plugins, database. */
#include <config.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <offserv/sitedb.h>
#include <offserv/site.h>
#include <offserv/util.h>

struct offserv_site {
	struct offserv_config *cfg;
	struct offserv_logfile *log;
	struct offserv_plugins *plugins;
	struct offserv_sitedb *db;
	struct offserv_host host;
	char *plugin_error;
};

static void site_host_log(const struct offserv_host *host, enum offserv_loglevel level,
                          const char *plugin, const char *fmt, ...)
{
	struct offserv_site *site = host->core;
	char msg[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	offserv_logfile_write(site->log, level, NULL, "%s: %s", plugin ? plugin : "plugin", msg);
}

struct route_ctx {
	int (*each)(void *, const char *, const char *);
	void *each_ctx;
};

static int route_one(const char *key, const char *value, void *ctx)
{
	struct route_ctx *r = ctx;
	return r->each(r->each_ctx, key, value);
}

/* Routes [plugin.NAME] keys to the loader (see offserv_plugin_config_iter). */
static int site_config_iter(void *cfg_ctx, const char *plugin_name,
                            int (*each)(void *, const char *, const char *), void *each_ctx)
{
	const struct offserv_config *cfg = cfg_ctx;
	struct route_ctx r = {each, each_ctx};
	char section[256];

	snprintf(section, sizeof(section), "plugin.%s", plugin_name);
	return offserv_config_foreach_key(cfg, section, route_one, &r);
}

static offserv_status make_dir(const char *path, int read_only, char *err, size_t errlen)
{
	struct stat st;

	if (stat(path, &st) == 0) {
		if (S_ISDIR(st.st_mode))
			return OFFSERV_OK;
		snprintf(err, errlen, "%s exists and is not a directory", path);
		return OFFSERV_E_PATH_NOT_FOUND;
	}
	if (read_only) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return offserv_status_from_errno(errno);
	}
	return offserv_mkdir_p(path, err, errlen);
}

offserv_status offserv_site_open(const struct offserv_site_options *o,
                                 struct offserv_site **out, char *err, size_t errlen)
{
	struct offserv_site *site;
	struct offserv_logfile_options lo;
	offserv_status s;
	char *logpath = NULL;
	const char *dirs[3];

	*out = NULL;
	site = calloc(1, sizeof(*site));
	if (!site)
		return OFFSERV_E_OUTOFMEMORY;
	s = offserv_config_load(o ? o->config_path : NULL, &site->cfg, err, errlen);
	if (OFFSERV_FAILED(s))
		goto fail;
	dirs[0] = offserv_config_site_root(site->cfg);
	dirs[1] = offserv_config_log_directory(site->cfg);
	dirs[2] = offserv_config_content_library(site->cfg);
	for (size_t i = 0; i < 3; i++) {
		s = make_dir(dirs[i], o && o->read_only, err, errlen);
		if (OFFSERV_FAILED(s))
			goto fail;
	}
	logpath = offserv_path_join(offserv_config_log_directory(site->cfg),
	                            "OfflineServicingMgr.log");
	if (!logpath) {
		s = OFFSERV_E_OUTOFMEMORY;
		goto fail;
	}
	memset(&lo, 0, sizeof(lo));
	lo.path = logpath;
	lo.format = offserv_config_log_format(site->cfg);
	lo.max_size = offserv_config_log_max_size(site->cfg);
	lo.history = offserv_config_log_history(site->cfg);
	lo.level = offserv_config_log_level(site->cfg);
	s = offserv_logfile_open(&lo, &site->log, err, errlen);
	free(logpath);
	if (OFFSERV_FAILED(s))
		goto fail;
	for (size_t i = 0; i < offserv_config_warning_count(site->cfg); i++)
		offserv_logfile_write(site->log, OFFSERV_LOG_WARNING, NULL, "%s",
		                      offserv_config_warning(site->cfg, i));

	site->host.abi_version = OFFSERV_PLUGIN_ABI_VERSION;
	site->host.log = site_host_log;
	site->host.core = site;
	if (!o || !o->no_plugins) {
		struct offserv_plugins_options po = {
			.directory = offserv_config_plugin_directory(site->cfg),
			.host = &site->host,
			.config_iter = site_config_iter,
			.config_ctx = site->cfg,
		};
		char perr[1024] = "";

		s = offserv_plugins_load(&po, &site->plugins, perr, sizeof(perr));
		if (OFFSERV_FAILED(s)) {
			/* Without plugins the site still answers what it can. */
			site->plugin_error = strdup(perr);
			offserv_logfile_write(site->log, OFFSERV_LOG_ERROR, NULL,
			                      "Failed to load plugins: %s", perr);
		}
	}
	*out = site;
	return OFFSERV_OK;
fail:
	offserv_site_close(site);
	return s;
}

void offserv_site_close(struct offserv_site *site)
{
	if (!site)
		return;
	offserv_sitedb_close(site->db);
	offserv_plugins_unload(site->plugins);
	offserv_logfile_close(site->log);
	offserv_config_free(site->cfg);
	free(site->plugin_error);
	free(site);
}

const struct offserv_config *offserv_site_config(const struct offserv_site *site)
{
	return site->cfg;
}

struct offserv_logfile *offserv_site_log(const struct offserv_site *site)
{
	return site->log;
}

struct offserv_plugins *offserv_site_plugins(const struct offserv_site *site)
{
	return site->plugins;
}

const char *offserv_site_plugin_error(const struct offserv_site *site)
{
	return site->plugin_error;
}

offserv_status offserv_site_db(struct offserv_site *site, struct offserv_sitedb **db, char *err,
                               size_t errlen)
{
	offserv_status s;

	if (!site->db) {
		s = offserv_sitedb_open(offserv_config_database(site->cfg),
		                        offserv_config_site_code(site->cfg), &site->db, err, errlen);
		if (OFFSERV_FAILED(s))
			return s;
	}
	*db = site->db;
	return OFFSERV_OK;
}

offserv_status offserv_site_open_dism_log(const struct offserv_site *site, const char *path,
                                          int level, struct offserv_logfile **out, char *err,
                                          size_t errlen)
{
	struct offserv_logfile_options lo;
	char *def = NULL;
	offserv_status s;

	if (!path) {
		def = offserv_path_join(offserv_config_log_directory(site->cfg), "dism.log");
		if (!def)
			return OFFSERV_E_OUTOFMEMORY;
	}
	memset(&lo, 0, sizeof(lo));
	lo.path = path ? path : def;
	lo.format = OFFSERV_LOGFMT_DISM;
	lo.max_size = offserv_config_log_max_size(site->cfg);
	lo.history = offserv_config_log_history(site->cfg);
	lo.level = level ? level : offserv_config_log_level(site->cfg);
	s = offserv_logfile_open(&lo, out, err, errlen);
	free(def);
	return s;
}
