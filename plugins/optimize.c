/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Post-action "optimize": Configuration Manager's optimized image servicing.
 * After a servicing job has committed a WIM, the component store of every
 * serviced index is cleaned up (DISM /StartComponentCleanup) with reset
 * base (/ResetBase: superseded packages removed, the others made
 * permanent), and the WIM is rebuilt so that the space the replaced and
 * removed files held leaves the file.  The engine commits atomically: when
 * the cleanup fails, the WIM is left as the job committed it.
 *
 * Configuration, `[plugin.optimize]`:
 *   reset_base = yes|no   (default yes; no: cleanup without /ResetBase)
 */
#include <config.h>

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <offserv/engine.h>
#include <offserv/plugin.h>
#include <offserv/util.h>

#define OPT_PLUGIN_NAME "optimize"

struct opt_ctx {
	const struct offserv_host *host;
	bool reset_base;
};

static offserv_status opt_init(const struct offserv_host *host, void **ctx)
{
	struct opt_ctx *c = calloc(1, sizeof(*c));

	if (!c)
		return OFFSERV_E_OUTOFMEMORY;
	c->host = host;
	c->reset_base = true;
	*ctx = c;
	return OFFSERV_OK;
}

static void opt_shutdown(void *ctx)
{
	free(ctx);
}

static offserv_status opt_configure(void *ctx, const char *key, const char *value, char *err,
                                    size_t errlen)
{
	struct opt_ctx *c = ctx;

	if (!c || !key || !value) {
		offserv_set_error(err, errlen, "configure called without a key or value");
		return OFFSERV_E_INVALIDARG;
	}
	if (strcasecmp(key, "reset_base") != 0)
		return OFFSERV_E_NOT_FOUND;
	if (!strcasecmp(value, "yes") || !strcasecmp(value, "true") || !strcmp(value, "1")) {
		c->reset_base = true;
	} else if (!strcasecmp(value, "no") || !strcasecmp(value, "false") || !strcmp(value, "0")) {
		c->reset_base = false;
	} else {
		offserv_set_error(err, errlen, "invalid value \"%s\" for key \"reset_base\": expected "
		                  "yes or no", value);
		return OFFSERV_E_INVALIDARG;
	}
	return OFFSERV_OK;
}

static void opt_log(const struct opt_ctx *c, enum offserv_loglevel level, const char *fmt, ...)
	OFFSERV_PRINTF(3, 4);

static void opt_log(const struct opt_ctx *c, enum offserv_loglevel level, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	if (!c->host || !c->host->log)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	c->host->log(c->host, level, OPT_PLUGIN_NAME, "%s", line);
}

/* The engine's progress, passed on to the job; the cleanup is not cancelled. */
static int opt_progress(void *ctx, const struct offserv_engine_progress *p)
{
	const struct offserv_post_action_job *job = ctx;

	if (job->progress)
		job->progress(job->progress_ctx, (int)p->percent,
		              p->step ? p->step : "component store cleanup");
	return 0;
}

static uint64_t size_of(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

static offserv_status opt_run(void *ctx, const struct offserv_post_action_job *job,
                              char *summary, size_t summary_len, char *err, size_t errlen)
{
	const struct opt_ctx *c = ctx;
	struct offserv_engine_options eo;
	struct offserv_engine_report rep;
	uint64_t before, after;
	size_t cleaned = 0;
	offserv_status s;

	if (summary && summary_len)
		summary[0] = '\0';
	if (!c || !job || !job->wim_path || !job->wim_path[0]) {
		offserv_set_error(err, errlen, "no image to optimize");
		return OFFSERV_E_INVALIDARG;
	}
	if (!job->scratch_dir) {
		offserv_set_error(err, errlen, "%s: no scratch folder on the servicing drive was given",
		                  job->wim_path);
		return OFFSERV_E_INVALIDARG;
	}
	before = size_of(job->wim_path);
	memset(&eo, 0, sizeof(eo));
	memset(&rep, 0, sizeof(rep));
	eo.wim_path = job->wim_path;
	eo.indexes = job->n_indexes ? job->indexes : NULL;
	eo.n_indexes = job->n_indexes;
	eo.scratch_dir = job->scratch_dir;
	eo.rebuild = 1;
	eo.progress = opt_progress;
	eo.progress_ctx = (void *)job;
	opt_log(c, OFFSERV_LOG_INFO, "Component store cleanup%s of %s (%llu bytes), then rebuild",
	        c->reset_base ? " with reset base" : "", job->wim_path,
	        (unsigned long long)before);
	s = offserv_engine_cleanup(&eo, c->reset_base ? OFFSERV_CLEANUP_RESET_BASE : 0, &rep, err,
	                           errlen);
	for (size_t i = 0; i < rep.n_results; i++)
		if (rep.results[i].outcome == OFFSERV_OUTCOME_CLEANED)
			cleaned++;
	if (OFFSERV_FAILED(s)) {
		if (err && errlen && !err[0])
			offserv_set_error(err, errlen, "%s", offserv_strerror(s));
		if (err && errlen) {
			char *copy = strdup(err);
			if (copy) {
				offserv_set_error(err, errlen, "%s: component store cleanup failed: %s",
				                  job->wim_path, copy);
				free(copy);
			}
		}
		offserv_engine_report_clear(&rep);
		return s;
	}
	after = size_of(job->wim_path);
	if (summary && summary_len)
		snprintf(summary, summary_len,
		         "component store cleanup%s: %zu package(s) cleaned, WIM %llu -> %llu bytes%s",
		         c->reset_base ? " with reset base" : "", cleaned,
		         (unsigned long long)before, (unsigned long long)after,
		         rep.committed ? "" : " (nothing to change)");
	offserv_engine_report_clear(&rep);
	return OFFSERV_OK;
}

static const struct offserv_post_action_ops opt_ops = {.run = opt_run};

OFFSERV_PLUGIN_EXPORT const struct offserv_plugin offserv_plugin = {
	.abi_version = OFFSERV_PLUGIN_ABI_VERSION,
	.abi_minor = OFFSERV_PLUGIN_ABI_MINOR,
	.name = OPT_PLUGIN_NAME,
	.kind = OFFSERV_PLUGIN_POST_ACTION,
	.version = "1.0",
	.description = "optimized image servicing: component store cleanup, reset base, WIM rebuild",
	.init = opt_init,
	.configure = opt_configure,
	.shutdown = opt_shutdown,
	.ops.post_action = &opt_ops,
};
