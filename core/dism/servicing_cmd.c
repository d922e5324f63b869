/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The servicing commands: checks, layout and log around servicing.c. */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dism/dism.h"
#include "dism/servicing.h"

static void ev_package_begin(void *ctx, size_t i, size_t n, const char *verb, const char *identity)
{
	struct dism_ctx *c = ctx;

	dism_out_progress_end(c->out);
	dism_out_line(c->out, "Processing %zu of %zu - %s package %s", i, n, verb, identity);
	dism_log_provider(c, OFFSERV_LOG_INFO, DISM_PROV_PACKAGE, "CDISMPackageManager",
	                  "Internal_ProcessPackage", OFFSERV_OK, "Processing %zu of %zu - %s package %s",
	                  i, n, verb, identity);
}

static void ev_progress(void *ctx, double pct)
{
	struct dism_ctx *c = ctx;
	dism_out_progress(c->out, pct);
}

static void ev_log(void *ctx, int level, const char *text)
{
	struct dism_ctx *c = ctx;
	dism_log_provider(c, level, DISM_PROV_PACKAGE, "CDISMPackageManager", "Engine", OFFSERV_OK,
	                  "%s", text);
}

static offserv_status prepare(struct dism_ctx *c, struct dism_servicing_request *rq,
                              struct dism_servicing_events *ev)
{
	struct dism_args *a = c->args;
	struct stat sb;
	offserv_status st;

	c->provider = DISM_PROV_PACKAGE;
	st = dism_check_online(c);
	if (st)
		return st;
	if (stat(a->value[DISM_OPT_IMAGE], &sb) != 0 || !S_ISDIR(sb.st_mode))
		return dism_fail(c, OFFSERV_E_PATH_NOT_FOUND,
		                 "The system cannot find the path specified: %s", a->value[DISM_OPT_IMAGE]);
	memset(rq, 0, sizeof(*rq));
	rq->image_dir = a->value[DISM_OPT_IMAGE];
	rq->scratch_dir = a->value[DISM_OPT_SCRATCHDIR];
	rq->package_paths = (const char *const *)a->package_paths;
	rq->n_package_paths = a->n_package_paths;
	rq->package_name = a->value[DISM_OPT_PACKAGENAME];
	rq->package_refs = a->package_refs;
	rq->n_package_refs = a->n_package_refs;
	rq->log = c->log;
	rq->ignore_check = a->present[DISM_OPT_IGNORECHECK];
	rq->prevent_pending = a->present[DISM_OPT_PREVENTPENDING];
	memset(ev, 0, sizeof(*ev));
	ev->ctx = c;
	ev->package_begin = ev_package_begin;
	ev->progress = ev_progress;
	ev->log = ev_log;
	dism_log_provider(c, OFFSERV_LOG_INFO, DISM_PROV_MANAGER, "CDISMManager",
	                  "CreateImageSession", OFFSERV_OK, "physical location path: %s",
	                  rq->image_dir);
	dism_print_image_version(c, rq->image_dir);
	return OFFSERV_OK;
}

static offserv_status finish(struct dism_ctx *c, offserv_status st, const char *err,
                             int reboot)
{
	dism_out_progress_end(c->out);
	if (st)
		return dism_fail(c, st, "%s", err[0] ? err : offserv_strerror(st));
	return reboot ? OFFSERV_S_REBOOT_REQUIRED : OFFSERV_OK;
}

offserv_status dism_cmd_add_package(struct dism_ctx *c)
{
	struct dism_servicing_request rq;
	struct dism_servicing_events ev;
	char err[2048] = "";
	int reboot = 0;
	offserv_status st = prepare(c, &rq, &ev);

	if (st)
		return st;
	for (size_t i = 0; i < rq.n_package_paths; i++)
		dism_log_provider(c, OFFSERV_LOG_INFO, DISM_PROV_PACKAGE, "CPackageManagerCLIHandler",
		                  "Private_ValidateCmdLine", OFFSERV_OK, "Package path %zu: %s", i + 1,
		                  rq.package_paths[i]);
	st = dism_servicing_add_packages(&rq, &ev, &reboot, err, sizeof(err));
	return finish(c, st, err, reboot);
}

offserv_status dism_cmd_remove_package(struct dism_ctx *c)
{
	struct dism_servicing_request rq;
	struct dism_servicing_events ev;
	char err[2048] = "";
	int reboot = 0;
	offserv_status st = prepare(c, &rq, &ev);

	if (st)
		return st;
	for (size_t i = 0; i < rq.n_package_refs; i++)
		dism_log_provider(c, OFFSERV_LOG_INFO, DISM_PROV_PACKAGE, "CPackageManagerCLIHandler",
		                  "Private_ValidateCmdLine", OFFSERV_OK, "Package %s %zu: %s",
		                  rq.package_refs[i].is_path ? "path" : "name", i + 1,
		                  rq.package_refs[i].value);
	st = dism_servicing_remove_package(&rq, &ev, &reboot, err, sizeof(err));
	return finish(c, st, err, reboot);
}

offserv_status dism_cmd_cleanup_image(struct dism_ctx *c)
{
	struct dism_args *a = c->args;
	struct dism_servicing_request rq;
	struct dism_servicing_events ev;
	enum dism_cleanup_action action;
	struct offserv_component_store_info info;
	char err[2048] = "";
	char *block;
	offserv_status st = prepare(c, &rq, &ev);

	if (st)
		return st;
	if (a->present[DISM_OPT_REVERTPENDINGACTIONS])
		action = DISM_CLEANUP_REVERT_PENDING;
	else if (a->present[DISM_OPT_STARTCOMPONENTCLEANUP])
		action = DISM_CLEANUP_COMPONENT_CLEANUP;
	else
		action = DISM_CLEANUP_ANALYZE;
	memset(&info, 0, sizeof(info));
	st = dism_servicing_cleanup_image(&rq, action, a->present[DISM_OPT_RESETBASE], &ev, &info,
	                                  err, sizeof(err));
	if (st == OFFSERV_OK && action == DISM_CLEANUP_ANALYZE) {
		/* The bar, a blank line, the report, a blank line, then the verdict. */
		dism_out_progress_end(c->out);
		block = dism_store_report(&info);
		if (!block)
			return dism_fail(c, OFFSERV_E_OUTOFMEMORY, "%s",
			                 offserv_strerror(OFFSERV_E_OUTOFMEMORY));
		dism_out_blank(c->out);
		dism_out_text(c->out, block);
		dism_out_blank(c->out);
		free(block);
	}
	return finish(c, st, err, 0);
}

offserv_status dism_cmd_get_packageinfo(struct dism_ctx *c)
{
	struct dism_servicing_request rq;
	struct dism_servicing_events ev;
	struct dism_package_info info;
	char err[2048] = "";
	offserv_status st;

	if (c->args->value[DISM_OPT_PACKAGENAME])
		return dism_cmd_get_packageinfo_name(c);
	st = prepare(c, &rq, &ev);
	if (st)
		return st;
	st = dism_servicing_package_info(&rq, &ev, &info, err, sizeof(err));
	if (st == OFFSERV_OK)
		dism_print_package_info(c, &info);
	dism_package_info_clear(&info);
	return finish(c, st, err, 0);
}
