/* SPDX-License-Identifier: GPL-3.0-or-later */
/* dism: a DISM-compatible command line for offline Windows images on Linux. */
#include <config.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <offserv/config.h>
#include <offserv/log.h>
#include <offserv/util.h>

#include "dism/args.h"
#include "dism/dism.h"
#include "dism/output.h"

#define DISM_LOG_NAME "dism.log"

void dism_log(struct dism_ctx *c, int level, const char *fmt, ...)
{
	char buf[4096];
	va_list ap;

	if (!c->log)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	offserv_logfile_write(c->log, level, "DISM", "DISM.EXE: %s", buf);
}

void dism_log_provider(struct dism_ctx *c, int level, const char *provider, const char *cls,
                       const char *method, offserv_status hr, const char *fmt, ...)
{
	char buf[4096];
	va_list ap;

	if (!c->log)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	offserv_dismlog_provider(c->log, level, provider, cls, method, hr, "%s", buf);
}

offserv_status dism_fail(struct dism_ctx *c, offserv_status st, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->msg, sizeof(c->msg), fmt, ap);
	va_end(ap);
	return st;
}

/* The command line as given, for the log: arguments with blanks are quoted. */
static char *join_cmdline(int argc, char **argv)
{
	size_t len = 1;
	char *s, *p;

	for (int i = 0; i < argc; i++)
		len += strlen(argv[i]) + 3;
	s = malloc(len);
	if (!s)
		return NULL;
	p = s;
	for (int i = 0; i < argc; i++) {
		int q = argv[i][0] == '\0' || strpbrk(argv[i], " \t") != NULL;
		p += sprintf(p, "%s%s%s%s", i ? " " : "", q ? "\"" : "", argv[i], q ? "\"" : "");
	}
	return s;
}

/* Where the log and the mount records live. */
struct dism_paths {
	char *log_path;
	char *state_dir;
	uint64_t log_max_size;
	unsigned log_history;
	char config_err[1024];
};

static char *dup_join(const char *a, const char *b)
{
	char *s = NULL;
	if (asprintf(&s, "%s/%s", a, b) < 0)
		return NULL;
	return s;
}

static void resolve_paths(const struct dism_args *a, struct dism_paths *p)
{
	struct offserv_config *cfg = NULL;
	offserv_status st;

	memset(p, 0, sizeof(*p));
	p->log_max_size = OFFSERV_LOG_DEFAULT_MAX_SIZE;
	p->log_history = 1;
	st = offserv_config_load(NULL, &cfg, p->config_err, sizeof(p->config_err));
	if (st == OFFSERV_OK) {
		p->config_err[0] = '\0';
		p->state_dir = dup_join(offserv_config_site_root(cfg), "Mounts");
		p->log_path = dup_join(offserv_config_log_directory(cfg), DISM_LOG_NAME);
		p->log_max_size = offserv_config_log_max_size(cfg);
		p->log_history = offserv_config_log_history(cfg);
		offserv_config_free(cfg);
	} else {
		p->state_dir = strdup(OFFSERV_LOCALSTATEDIR "/lib/offserv/Mounts");
		p->log_path = strdup("/var/log/offserv/" DISM_LOG_NAME);
	}
	if (a->value[DISM_OPT_LOGPATH]) {
		free(p->log_path);
		p->log_path = strdup(a->value[DISM_OPT_LOGPATH]);
	}
}

/* Open the log: the chosen path, else $TMPDIR/dism.log. */
static struct offserv_logfile *open_log(const struct dism_args *a, struct dism_paths *p)
{
	struct offserv_logfile_options o;
	struct offserv_logfile *lf = NULL;
	char *dir, *slash;

	memset(&o, 0, sizeof(o));
	o.format = OFFSERV_LOGFMT_DISM;
	o.level = a->log_level ? a->log_level : OFFSERV_LOG_INFO;
	o.max_size = p->log_max_size;
	o.history = p->log_history;
	if (p->log_path) {
		dir = strdup(p->log_path);
		if (dir && (slash = strrchr(dir, '/')) != NULL && slash != dir) {
			*slash = '\0';
			offserv_mkdir_p(dir, NULL, 0);
		}
		free(dir);
		o.path = p->log_path;
		if (offserv_logfile_open(&o, &lf, NULL, 0) == OFFSERV_OK)
			return lf;
	}
	if (a->value[DISM_OPT_LOGPATH])
		return NULL; /* the user's choice failed: no silent move */
	const char *tmp = getenv("TMPDIR");
	char *fallback = dup_join(tmp && *tmp ? tmp : "/tmp", DISM_LOG_NAME);
	if (!fallback)
		return NULL;
	o.path = fallback;
	if (offserv_logfile_open(&o, &lf, NULL, 0) == OFFSERV_OK) {
		free(p->log_path);
		p->log_path = fallback;
		return lf;
	}
	free(fallback);
	return NULL;
}

static void write_exit_code_file(const char *path, offserv_status st)
{
	char lvl[32], code[32], text[96];
	int n;

	dism_format_errorlevel(st, lvl, sizeof(lvl));
	dism_format_code(st, code, sizeof(code));
	n = snprintf(text, sizeof(text), "%s\n%s\n", lvl, code);
	if (n > 0)
		offserv_write_file_atomic(path, text, (size_t)n, 0644, NULL, 0);
}

static offserv_status run_verb(struct dism_ctx *c)
{
	switch (c->args->verb) {
	case DISM_VERB_GET_IMAGEINFO:
		return dism_cmd_get_imageinfo(c);
	case DISM_VERB_EXPORT_IMAGE:
		return dism_cmd_export_image(c);
	case DISM_VERB_MOUNT_IMAGE:
		return dism_cmd_mount_image(c);
	case DISM_VERB_UNMOUNT_IMAGE:
		return dism_cmd_unmount_image(c);
	case DISM_VERB_COMMIT_IMAGE:
		return dism_cmd_commit_image(c);
	case DISM_VERB_REMOUNT_IMAGE:
		return dism_cmd_remount_image(c);
	case DISM_VERB_GET_MOUNTEDIMAGEINFO:
		return dism_cmd_get_mountedimageinfo(c);
	case DISM_VERB_CLEANUP_MOUNTPOINTS:
		return dism_cmd_cleanup_mountpoints(c);
	case DISM_VERB_GET_PACKAGES:
		return dism_cmd_get_packages(c);
	case DISM_VERB_GET_PACKAGEINFO:
		return dism_cmd_get_packageinfo(c);
	case DISM_VERB_ADD_PACKAGE:
		return dism_cmd_add_package(c);
	case DISM_VERB_REMOVE_PACKAGE:
		return dism_cmd_remove_package(c);
	case DISM_VERB_CLEANUP_IMAGE:
		return dism_cmd_cleanup_image(c);
	default:
		return dism_fail(c, OFFSERV_E_INVALIDARG, "No command was specified.");
	}
}

int main(int argc, char **argv)
{
	struct dism_args args;
	struct dism_out out;
	struct dism_paths paths;
	struct dism_ctx ctx;
	char perr[1024] = "";
	char *cmdline;
	const char *env_crlf = getenv("OFFSERV_DISM_CRLF");
	offserv_status pst, st;
	int rc;

	pst = dism_args_parse(argc, argv, &args, perr, sizeof(perr));
	dism_out_init(&out, stdout,
	              args.present[DISM_OPT_CRLF] || (env_crlf && strcmp(env_crlf, "1") == 0),
	              args.present[DISM_OPT_QUIET]);
	resolve_paths(&args, &paths);
	memset(&ctx, 0, sizeof(ctx));
	ctx.args = &args;
	ctx.out = &out;
	ctx.state_dir = paths.state_dir;
	ctx.scratch_dir = args.value[DISM_OPT_SCRATCHDIR];
	ctx.provider = DISM_PROV_MANAGER;
	ctx.log = open_log(&args, &paths);
	ctx.log_path = paths.log_path ? paths.log_path : "(none)";

	cmdline = join_cmdline(argc, argv);
	offserv_dismlog_session_begin(ctx.log, cmdline);
	free(cmdline);
	if (paths.config_err[0])
		dism_log(&ctx, OFFSERV_LOG_WARNING,
		         "The site configuration could not be loaded (%s); using built-in locations",
		         paths.config_err);
	dism_log_provider(&ctx, OFFSERV_LOG_INFO, DISM_PROV_MANAGER, "CDISMManager",
	                  "FinalConstruct", OFFSERV_OK, "Successfully loaded the ImageSession at \"%s\"",
	                  args.value[DISM_OPT_IMAGE] ? args.value[DISM_OPT_IMAGE] : "(no image)");

	dism_out_banner(&out);
	if (pst != OFFSERV_OK) {
		st = pst;
		snprintf(ctx.msg, sizeof(ctx.msg),
		         "%s\nFor more information, refer to the help by running dism /?.", perr);
		dism_log(&ctx, OFFSERV_LOG_ERROR, "%s", perr);
	} else if (args.help) {
		char *h = dism_help_text(args.verb);
		if (h) {
			dism_out_text(&out, h);
			dism_out_blank(&out);
			free(h);
		}
		st = OFFSERV_OK;
	} else {
		if (!ctx.log && args.value[DISM_OPT_LOGPATH]) {
			/* DISM refuses to run when it cannot write the log asked for. */
			st = dism_fail(&ctx, OFFSERV_E_ACCESS_DENIED,
			               "The log file %s could not be opened.", args.value[DISM_OPT_LOGPATH]);
		} else {
			st = run_verb(&ctx);
		}
		dism_out_progress_end(&out);
	}

	if (OFFSERV_FAILED(st)) {
		dism_out_error(&out, st, ctx.msg[0] ? ctx.msg : offserv_strerror(st), ctx.log_path);
		if (ctx.msg[0] && pst == OFFSERV_OK)
			dism_log_provider(&ctx, OFFSERV_LOG_ERROR, ctx.provider, "CDISMManager",
			                  "ExecuteCmdLine", st, "%s", ctx.msg);
		dism_log(&ctx, OFFSERV_LOG_ERROR,
		         "%s processed the command line but failed. HRESULT=%08X", ctx.provider,
		         (unsigned)st);
	} else if (!args.help) {
		dism_out_line(&out, "The operation completed successfully.");
	}
	offserv_dismlog_session_end(ctx.log, st == OFFSERV_S_REBOOT_REQUIRED);
	fflush(stdout);

	if (args.value[DISM_OPT_EXITCODEFILE])
		write_exit_code_file(args.value[DISM_OPT_EXITCODEFILE], st);
	rc = dism_exit_status(st);
	offserv_logfile_close(ctx.log);
	free(paths.log_path);
	free(paths.state_dir);
	dism_args_free(&args);
	return rc;
}
