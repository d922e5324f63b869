/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The offserv program's commands: each opens the site, calls the core, prints. */
#include <config.h>

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <offserv/job.h>
#include <offserv/site.h>
#include <unistd.h>

#include "offserv_cli.h"
#include "offserv_cli_schedule.h"

int offserv_cli_failure(offserv_status s, const char *msg)
{
	fprintf(stderr, "offserv: %s (0x%08x %s)\n", msg, s, offserv_status_name(s));
	return 1;
}

int offserv_cli_site_and_db(struct offserv_cli *cli, int no_plugins, struct offserv_site **site,
                            struct offserv_sitedb **db)
{
	struct offserv_site_options o = {.config_path = cli->config_path, .no_plugins = no_plugins};
	char err[2048] = "";
	offserv_status s = offserv_site_open(&o, site, err, sizeof(err));

	if (OFFSERV_FAILED(s))
		return offserv_cli_failure(s, err);
	s = offserv_site_db(*site, db, err, sizeof(err));
	if (OFFSERV_FAILED(s)) {
		offserv_site_close(*site);
		return offserv_cli_failure(s, err);
	}
	return 0;
}

/* Exit statuses: 0 success, 1 failure, 2 usage. */
enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

static int fail(offserv_status s, const char *msg)
{
	fprintf(stderr, "offserv: %s (0x%08x %s)\n", msg, s, offserv_status_name(s));
	return EXIT_FAIL;
}

static int open_site(struct offserv_cli *cli, int no_plugins, struct offserv_site **site)
{
	struct offserv_site_options o = {.config_path = cli->config_path, .no_plugins = no_plugins};
	char err[2048] = "";
	offserv_status s = offserv_site_open(&o, site, err, sizeof(err));

	if (OFFSERV_FAILED(s))
		return fail(s, err);
	return EXIT_OK;
}

static int cmd_plugins(struct offserv_cli *cli, int argc, char **argv)
{
	struct offserv_site *site;
	struct offserv_plugins *p;
	int rc = open_site(cli, 0, &site);

	(void)argc;
	(void)argv;
	if (rc)
		return rc;
	p = offserv_site_plugins(site);
	printf("Plugin directory: %s\n\n", offserv_config_plugin_directory(offserv_site_config(site)));
	if (offserv_site_plugin_error(site))
		printf("Refused directory: %s\n\n", offserv_site_plugin_error(site));
	printf("%-18s %-14s %-9s %s\n", "Name", "Kind", "Version", "File");
	for (size_t i = 0; i < offserv_plugins_count(p); i++) {
		const struct offserv_loaded_plugin *l = offserv_plugins_get(p, i);
		printf("%-18s %-14s %-9s %s\n", l->desc->name, offserv_plugin_kind_name(l->desc->kind),
		       l->desc->version ? l->desc->version : "-", l->file);
	}
	if (offserv_plugins_refused_count(p) > 0) {
		printf("\nRefused:\n");
		for (size_t i = 0; i < offserv_plugins_refused_count(p); i++) {
			const struct offserv_refused_plugin *r = offserv_plugins_refused(p, i);
			printf("  %s: %s (0x%08x)\n", r->file, r->reason, r->status);
		}
	}
	offserv_site_close(site);
	return EXIT_OK;
}

static int cmd_config(struct offserv_cli *cli, int argc, char **argv)
{
	struct offserv_site *site;
	const struct offserv_config *cfg;
	int rc = open_site(cli, 1, &site);

	(void)argc;
	(void)argv;
	if (rc)
		return rc;
	cfg = offserv_site_config(site);
	for (size_t i = 0; i < offserv_config_warning_count(cfg); i++)
		printf("; warning: %s\n", offserv_config_warning(cfg, i));
	offserv_config_dump(cfg, stdout);
	offserv_site_close(site);
	return EXIT_OK;
}


/* Progress: a bar on a terminal, one line per step otherwise. */
struct progress_state {
	int tty;
	char last[256];
};

static int show_progress(void *ctx, const struct offserv_engine_progress *p)
{
	struct progress_state *ps = ctx;
	char line[256];

	snprintf(line, sizeof(line), "index %d, package %zu of %zu: %s%s%s", p->index,
	         p->package < p->n_packages ? p->package + 1 : p->n_packages, p->n_packages,
	         p->step ? p->step : "", p->identity ? " " : "", p->identity ? p->identity : "");
	if (ps->tty) {
		int fill = (int)(p->percent * 40.0 / 100.0);
		fprintf(stderr, "\r[%-40.*s] %5.1f%% %-.90s\033[K", fill,
		        "========================================", p->percent, line);
	} else if (strcmp(line, ps->last) != 0) {
		fprintf(stderr, "%5.1f%% %s\n", p->percent, line);
	}
	snprintf(ps->last, sizeof(ps->last), "%s", line);
	return 0;
}

static int parse_index_list(const char *arg, int **out, size_t *n)
{
	char *copy = strdup(arg), *save = NULL, *tok;

	*out = NULL;
	*n = 0;
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *end;
		long v = strtol(tok, &end, 10);
		int *ni;
		if (*end || v < 1 || v > 65535) {
			free(copy);
			return -1;
		}
		ni = realloc(*out, (*n + 1) * sizeof(**out));
		if (!ni)
			break;
		*out = ni;
		(*out)[(*n)++] = (int)v;
	}
	free(copy);
	return *n ? 0 : -1;
}

static void print_apply_report(const struct offserv_apply_report *rep)
{
	for (size_t i = 0; i < rep->n_updates; i++)
		if (OFFSERV_FAILED(rep->updates[i].status))
			printf("%s: Failed 0x%08x %s\n", rep->updates[i].path, rep->updates[i].status,
			       rep->updates[i].message ? rep->updates[i].message : "");
	for (size_t i = 0; i < rep->engine.n_results; i++) {
		const struct offserv_engine_result *r = &rep->engine.results[i];
		printf("index %d: %s: %s 0x%08x %s\n", r->index, r->identity ? r->identity : "(package)",
		       offserv_outcome_name(r->outcome), r->status, r->message);
	}
	printf("Image %s.\n", rep->engine.committed ? "committed" : "unchanged");
}

static int cmd_service(struct offserv_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"index", required_argument, NULL, 'i'},
		{"continue-on-error", no_argument, NULL, 'k'},
		{"prevent-pending", no_argument, NULL, 'p'},
		{"ignore-check", no_argument, NULL, 'g'},
		{NULL, 0, NULL, 0},
	};
	struct offserv_apply_options ao = {0};
	struct offserv_apply_report rep;
	struct progress_state ps = {.tty = isatty(2)};
	struct offserv_site *site;
	int *indexes = NULL, c, rc;
	size_t n_indexes = 0;
	char err[2048] = "";
	offserv_status s;

	while ((c = getopt_long(argc, argv, "i:kpg", opts, NULL)) != -1) {
		switch (c) {
		case 'i':
			if (parse_index_list(optarg, &indexes, &n_indexes) != 0) {
				fprintf(stderr, "offserv service: bad --index \"%s\"\n", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'k':
			ao.continue_on_error = 1;
			break;
		case 'p':
			ao.prevent_pending = 1;
			break;
		case 'g':
			ao.ignore_check = 1;
			break;
		default:
			return EXIT_USAGE;
		}
	}
	if (argc - optind < 2) {
		fprintf(stderr, "usage: offserv service WIM UPDATE... [--index I[,J]] [--continue-on-error]\n");
		free(indexes);
		return EXIT_USAGE;
	}
	rc = open_site(cli, 0, &site);
	if (rc) {
		free(indexes);
		return rc;
	}
	ao.wim_path = argv[optind];
	ao.updates = (const char *const *)&argv[optind + 1];
	ao.n_updates = (size_t)(argc - optind - 1);
	ao.indexes = indexes;
	ao.n_indexes = n_indexes;
	ao.progress = show_progress;
	ao.progress_ctx = &ps;
	s = offserv_apply_updates(site, &ao, &rep, err, sizeof(err));
	if (ps.tty)
		fputc('\n', stderr);
	print_apply_report(&rep);
	offserv_apply_report_clear(&rep);
	offserv_site_close(site);
	free(indexes);
	if (OFFSERV_FAILED(s))
		return fail(s, err);
	return EXIT_OK;
}

struct command {
	const char *name;
	int (*fn)(struct offserv_cli *cli, int argc, char **argv);
};

static const struct command commands[] = {
	{"plugins", cmd_plugins},
	{"config", cmd_config},
	{"service", cmd_service},
	{"image", offserv_cmd_image},
	{"update", offserv_cmd_update},
	{"schedule", offserv_cmd_schedule},
	{"run", offserv_cmd_run},
	{"run-due", offserv_cmd_run_due},
	{"status", offserv_cmd_status},
	{"cancel", offserv_cmd_cancel},
	{"daemon", offserv_cmd_daemon},
};

int offserv_cli_dispatch(struct offserv_cli *cli, int argc, char **argv)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[0], commands[i].name) == 0)
			return commands[i].fn(cli, argc, argv);
	fprintf(stderr, "offserv: unknown command \"%s\" (see offserv --help)\n", argv[0]);
	return EXIT_USAGE;
}
