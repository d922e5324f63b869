/* SPDX-License-Identifier: GPL-3.0-or-later */
/* offserv schedule / run / run-due / status / cancel / daemon / rollback. */
#include <config.h>

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <offserv/schedule.h>
#include <offserv/servicing_job.h>
#include <offserv/site.h>
#include <offserv/sitedb.h>

#include "offserv_cli_schedule.h"

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

static int open_site(struct offserv_cli *cli, int no_plugins, struct offserv_site **site)
{
	struct offserv_site_options o = {.config_path = cli->config_path, .no_plugins = no_plugins};
	char err[2048] = "";
	offserv_status s = offserv_site_open(&o, site, err, sizeof(err));

	return OFFSERV_FAILED(s) ? offserv_cli_failure(s, err) : EXIT_OK;
}

static int open_db(struct offserv_site *site, struct offserv_sitedb **db)
{
	char err[2048] = "";
	offserv_status s = offserv_site_db(site, db, err, sizeof(err));

	return OFFSERV_FAILED(s) ? offserv_cli_failure(s, err) : EXIT_OK;
}

/* Start-up recovery, reported on stderr when it did something. */
static void recover(struct offserv_site *site)
{
	char err[1024] = "";
	size_t n = 0;
	offserv_status s = offserv_recover(site, &n, err, sizeof(err));

	if (OFFSERV_FAILED(s))
		fprintf(stderr, "offserv: recovery: %s\n", err);
	else if (n)
		fprintf(stderr, "offserv: %zu interrupted job(s) marked Failed (see "
		        "OfflineServicingMgr.log)\n", n);
}

static int parse_id(const char *s, int64_t *out)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end || v <= 0)
		return -1;
	*out = v;
	return 0;
}

/* ---------------------------------------------------------------------- */
/* schedule                                                                */

static int schedule_list(struct offserv_cli *cli, int argc, char **argv)
{
	struct offserv_site *site;
	struct offserv_sitedb *db;
	struct offserv_schedule_rec *list = NULL;
	size_t n = 0;
	char err[2048] = "";
	offserv_status s;
	int rc;

	if (argc > 2) {
		fprintf(stderr, "usage: offserv schedule list [IMAGE-ID]\n");
		return EXIT_USAGE;
	}
	rc = offserv_cli_site_and_db(cli, 1, &site, &db);
	if (rc)
		return rc;
	s = offserv_sitedb_schedule_list(db, argc == 2 ? argv[1] : NULL, &list, &n, err, sizeof(err));
	if (OFFSERV_FAILED(s)) {
		offserv_site_close(site);
		return offserv_cli_failure(s, err);
	}
	printf("%-8s %-9s %-10s %-21s %-21s %-8s %s\n", "ID", "Image", "Status", "Next run (UTC)",
	       "Last run (UTC)", "Indexes", "Rule / updates");
	for (size_t i = 0; i < n; i++) {
		char ids[256] = "", rule[200] = "?";
		struct offserv_recurrence r;
		size_t off = 0;

		if (OFFSERV_SUCCEEDED(offserv_schedule_rule(&list[i], &r, NULL, 0)))
			offserv_recurrence_format(&r, rule, sizeof(rule));

		if (offserv_schedule_is_all_updates(&list[i]))
			snprintf(ids, sizeof(ids), "all applicable");
		for (size_t k = 0; k < list[i].n_update_ids && off < sizeof(ids) - 24; k++)
			off += (size_t)snprintf(ids + off, sizeof(ids) - off, "%s%lld", k ? "," : "",
			                        (long long)list[i].update_ids[k]);
		printf("%-8lld %-9s %-10s %-21s %-21s %-8s %s; updates: %s%s%s%s\n",
		       (long long)list[i].schedule_id, list[i].package_id,
		       list[i].status ? list[i].status : "-", list[i].run_at ? list[i].run_at : "-",
		       list[i].last_run_at ? list[i].last_run_at : "-",
		       list[i].indexes ? list[i].indexes : "all", rule, ids[0] ? ids : "-",
		       list[i].continue_on_error ? "; continue on error" : "",
		       list[i].optimize ? "; optimize" : "",
		       list[i].update_dps ? "; update DPs" : "");
	}
	offserv_schedule_recs_free(list, n);
	offserv_site_close(site);
	return EXIT_OK;
}

static int schedule_delete(struct offserv_cli *cli, int argc, char **argv)
{
	struct offserv_site *site;
	struct offserv_sitedb *db;
	char err[2048] = "";
	int64_t id;
	offserv_status s;
	int rc;

	if (argc != 2 || parse_id(argv[1], &id) != 0) {
		fprintf(stderr, "usage: offserv schedule delete SCHEDULE-ID\n");
		return EXIT_USAGE;
	}
	rc = offserv_cli_site_and_db(cli, 1, &site, &db);
	if (rc)
		return rc;
	s = offserv_schedule_delete(db, id, err, sizeof(err));
	if (OFFSERV_SUCCEEDED(s)) {
		offserv_logfile_write(offserv_site_log(site), OFFSERV_LOG_INFO, NULL,
		                      "Schedule with ID %lld was deleted by the administrator",
		                      (long long)id);
		printf("Deleted schedule %lld.\n", (long long)id);
	}
	offserv_site_close(site);
	return OFFSERV_FAILED(s) ? offserv_cli_failure(s, err) : EXIT_OK;
}

static void schedule_usage(FILE *fp)
{
	fputs("usage: offserv schedule IMAGE-ID --updates all|KB...|UPDATE-ID... [--index I[,J]]\n"
	      "           (--at \"YYYY-MM-DD HH:MM\" | --now) [--continue-on-error] [--optimize]\n"
	      "           [--update-dps]\n"
	      "       offserv schedule IMAGE-ID --updates ... --every day|week|month\n"
	      "           [--on \"second tuesday +3 days\"] --at HH:MM\n"
	      "       offserv schedule IMAGE-ID --updates ... --cron \"MIN HOUR MDAY MONTH WDAY\"\n"
	      "       offserv schedule list [IMAGE-ID]\n"
	      "       offserv schedule delete SCHEDULE-ID\n"
	      "Times are UTC.\n",
	      fp);
}

/* Options shared by `schedule` and `run`; returns -1 on a usage error. */
struct sched_args {
	struct offserv_schedule_spec spec;
	const char **updates;
	size_t n_updates;
	int64_t schedule_id; /* run --schedule */
};

static int parse_sched_args(int argc, char **argv, struct sched_args *a, int for_run)
{
	static const struct option opts[] = {
		{"updates", required_argument, NULL, 'u'},
		{"index", required_argument, NULL, 'i'},
		{"at", required_argument, NULL, 'a'},
		{"now", no_argument, NULL, 'n'},
		{"every", required_argument, NULL, 'e'},
		{"on", required_argument, NULL, 'o'},
		{"cron", required_argument, NULL, 'c'},
		{"continue-on-error", no_argument, NULL, 'k'},
		{"update-dps", no_argument, NULL, 'd'},
		{"optimize", no_argument, NULL, 'O'},
		{"schedule", required_argument, NULL, 's'},
		{NULL, 0, NULL, 0},
	};
	int c;

	memset(a, 0, sizeof(*a));
	optind = 0;
	while ((c = getopt_long(argc, argv, "u:i:a:ne:o:c:kdOs:", opts, NULL)) != -1) {
		switch (c) {
		case 'u': {
			const char **nu = realloc(a->updates, (a->n_updates + 1) * sizeof(*nu));
			if (!nu)
				return -1;
			a->updates = nu;
			nu[a->n_updates++] = optarg;
			break;
		}
		case 'i': a->spec.indexes = optarg; break;
		case 'a': a->spec.at = optarg; break;
		case 'n': a->spec.now = 1; break;
		case 'e': a->spec.every = optarg; break;
		case 'o': a->spec.on = optarg; break;
		case 'c': a->spec.cron = optarg; break;
		case 'k': a->spec.continue_on_error = 1; break;
		case 'd': a->spec.update_dps = 1; break;
		case 'O': a->spec.optimize = 1; break;
		case 's':
			if (!for_run || parse_id(optarg, &a->schedule_id) != 0)
				return -1;
			break;
		default:
			return -1;
		}
	}
	/* `--updates KB1 KB2 ...`: the remaining words are more updates */
	for (; optind < argc; optind++) {
		const char **nu;

		if (a->n_updates == 0)
			return -1;
		nu = realloc(a->updates, (a->n_updates + 1) * sizeof(*nu));
		if (!nu)
			return -1;
		a->updates = nu;
		nu[a->n_updates++] = argv[optind];
	}
	return 0;
}

/* Split comma-separated tokens in place into a new array. */
static const char **split_updates(const char **in, size_t n, size_t *n_out, char **buf)
{
	size_t total = 0, cnt = 0;
	const char **out;
	char *p;

	for (size_t i = 0; i < n; i++)
		total += strlen(in[i]) + 1;
	*buf = malloc(total + 1);
	out = calloc(total + 1, sizeof(*out));
	if (!*buf || !out) {
		free(*buf);
		free(out);
		*buf = NULL;
		return NULL;
	}
	p = *buf;
	for (size_t i = 0; i < n; i++) {
		char *save = NULL, *tok;
		strcpy(p, in[i]);
		for (tok = strtok_r(p, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
			out[cnt++] = tok;
		p += strlen(in[i]) + 1;
	}
	*n_out = cnt;
	return out;
}

static int cmd_schedule_create(struct offserv_cli *cli, int argc, char **argv)
{
	struct sched_args a;
	struct offserv_site *site;
	struct offserv_sitedb *db;
	char err[2048] = "", *buf = NULL;
	const char **split = NULL;
	size_t n_split = 0;
	int64_t id = 0;
	offserv_status s;
	int rc;

	/* IMAGE-ID first, then options (getopt permutes the rest) */
	if (argc < 2 || argv[1][0] == '-') {
		schedule_usage(stderr);
		return EXIT_USAGE;
	}
	if (parse_sched_args(argc - 1, argv + 1, &a, 0) != 0) {
		free(a.updates);
		schedule_usage(stderr);
		return EXIT_USAGE;
	}
	a.spec.image_id = argv[1];
	split = split_updates(a.updates, a.n_updates, &n_split, &buf);
	if (!split) {
		free(a.updates);
		return offserv_cli_failure(OFFSERV_E_OUTOFMEMORY, "out of memory");
	}
	if (n_split == 1 && !strcmp(split[0], "all"))
		a.spec.all_updates = 1;
	else {
		a.spec.updates = split;
		a.spec.n_updates = n_split;
	}
	rc = open_site(cli, 1, &site);
	if (rc) {
		free(a.updates);
		free(split);
		free(buf);
		return rc;
	}
	rc = open_db(site, &db);
	if (!rc) {
		s = offserv_schedule_create(db, &a.spec, time(NULL), &id, err, sizeof(err));
		if (OFFSERV_FAILED(s)) {
			rc = offserv_cli_failure(s, err);
		} else {
			struct offserv_schedule_rec rec;

			offserv_logfile_write(offserv_site_log(site), OFFSERV_LOG_INFO, NULL,
			                      "Schedule with ID %lld (Schedule Name = ) created for image "
			                      "package %s", (long long)id, a.spec.image_id);
			if (OFFSERV_SUCCEEDED(offserv_sitedb_schedule_get(db, id, &rec, NULL, 0))) {
				printf("Schedule %lld: image %s, next run %s UTC, %s\n", (long long)id,
				       rec.package_id, rec.run_at, rec.recurrence);
				offserv_schedule_rec_clear(&rec);
			}
		}
	}
	free(a.updates);
	free(split);
	free(buf);
	offserv_site_close(site);
	return rc;
}

int offserv_cmd_schedule(struct offserv_cli *cli, int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "list"))
		return schedule_list(cli, argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "delete"))
		return schedule_delete(cli, argc - 1, argv + 1);
	if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		schedule_usage(stdout);
		return EXIT_OK;
	}
	return cmd_schedule_create(cli, argc, argv);
}

/* ---------------------------------------------------------------------- */
/* run                                                                     */

struct bar {
	int tty;
	int last;
};

static int show_bar(void *ctx, int percent, const char *step)
{
	struct bar *b = ctx;

	if (b->tty) {
		int fill = percent * 40 / 100;
		fprintf(stderr, "\r[%-40.*s] %3d%% %-.90s\033[K", fill,
		        "========================================", percent, step ? step : "");
	} else if (percent / 10 != b->last / 10) {
		fprintf(stderr, "%3d%% %s\n", percent, step ? step : "");
	}
	b->last = percent;
	return 0;
}

static void print_job(struct offserv_sitedb *db, int64_t job_id)
{
	struct offserv_job_rec jr;
	struct offserv_job_update_rec *u = NULL;
	size_t n = 0;

	if (OFFSERV_FAILED(offserv_sitedb_job_get(db, job_id, &jr, NULL, 0)))
		return;
	printf("Job %lld of image %s: %s (0x%08x) %s\n", (long long)jr.job_id, jr.package_id,
	       jr.status, jr.hresult, jr.message ? jr.message : "");
	if (OFFSERV_SUCCEEDED(offserv_sitedb_job_update_list(db, job_id, &u, &n, NULL, 0)))
		for (size_t i = 0; i < n; i++)
			printf("  update %lld index %d: %s (0x%08x) %s\n", (long long)u[i].update_id,
			       u[i].index, u[i].result, u[i].hresult, u[i].message ? u[i].message : "");
	offserv_job_update_recs_free(u, n);
	offserv_job_rec_clear(&jr);
}

int offserv_cmd_run(struct offserv_cli *cli, int argc, char **argv)
{
	struct sched_args a;
	struct offserv_site *site;
	struct offserv_sitedb *db;
	struct offserv_servicing_job_result res;
	struct bar bar = {.tty = isatty(2), .last = -1};
	sigset_t set, old;
	char err[2048] = "";
	int64_t sid;
	offserv_status s;
	int rc;

	if (argc >= 2 && argv[1][0] != '-') {
		if (parse_sched_args(argc - 1, argv + 1, &a, 1) != 0) {
			free(a.updates);
			goto usage;
		}
		a.spec.image_id = argv[1];
	} else if (parse_sched_args(argc, argv, &a, 1) != 0 || !a.schedule_id) {
		free(a.updates);
		goto usage;
	}
	if (a.spec.at || a.spec.every || a.spec.cron || a.spec.on) {
		free(a.updates);
		goto usage;
	}
	rc = open_site(cli, 0, &site);
	if (rc) {
		free(a.updates);
		return rc;
	}
	recover(site);
	rc = open_db(site, &db);
	if (rc) {
		free(a.updates);
		offserv_site_close(site);
		return rc;
	}
	sid = a.schedule_id;
	if (!sid) {
		/* a one-time schedule, run now */
		const char **split;
		size_t n_split = 0;
		char *buf = NULL;

		a.spec.now = 1;
		split = split_updates(a.updates, a.n_updates, &n_split, &buf);
		if (!split || n_split == 0 || (n_split == 1 && !strcmp(split[0], "all")))
			a.spec.all_updates = 1;
		else {
			a.spec.updates = split;
			a.spec.n_updates = n_split;
		}
		s = offserv_schedule_create(db, &a.spec, time(NULL), &sid, err, sizeof(err));
		free(split);
		free(buf);
		if (OFFSERV_FAILED(s)) {
			free(a.updates);
			offserv_site_close(site);
			return offserv_cli_failure(s, err);
		}
	}
	free(a.updates);
	/* Ctrl-C and SIGTERM cancel the job at its next safe point */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_BLOCK, &set, &old);
	s = offserv_servicing_run_schedule(site, sid, 1, NULL, show_bar, &bar, &res, err,
	                                   sizeof(err));
	if (bar.tty && bar.last >= 0)
		fputc('\n', stderr);
	if (res.job_id)
		print_job(db, res.job_id);
	offserv_site_close(site);
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (OFFSERV_FAILED(s))
		return offserv_cli_failure(s, err);
	return EXIT_OK;
usage:
	fprintf(stderr, "usage: offserv run IMAGE-ID [--index I[,J]] [--updates all|KB...|ID...] "
	        "[--continue-on-error] [--optimize] [--update-dps]\n"
	        "       offserv run --schedule SCHEDULE-ID\n");
	return EXIT_USAGE;
}

/* ---------------------------------------------------------------------- */
/* run-due, daemon                                                         */

static int parse_unsigned(const char *s, unsigned lo, unsigned hi, unsigned *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < lo || v > hi)
		return -1;
	*out = (unsigned)v;
	return 0;
}

static int daemon_args(int argc, char **argv, struct offserv_daemon_options *o)
{
	static const struct option opts[] = {
		{"workers", required_argument, NULL, 'w'},
		{"poll", required_argument, NULL, 'p'},
		{NULL, 0, NULL, 0},
	};
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, "w:p:", opts, NULL)) != -1) {
		if (c == 'w' && parse_unsigned(optarg, 1, 64, &o->workers) == 0)
			continue;
		if (c == 'p' && parse_unsigned(optarg, 1, 86400, &o->poll_seconds) == 0)
			continue;
		return -1;
	}
	return optind == argc ? 0 : -1;
}

int offserv_cmd_run_due(struct offserv_cli *cli, int argc, char **argv)
{
	struct offserv_daemon_options o = {0};
	struct offserv_site *site;
	char err[2048] = "";
	size_t n = 0;
	offserv_status s;
	int rc;

	if (daemon_args(argc, argv, &o) != 0) {
		fprintf(stderr, "usage: offserv run-due [--workers N]\n");
		return EXIT_USAGE;
	}
	rc = open_site(cli, 0, &site);
	if (rc)
		return rc;
	recover(site);
	s = offserv_run_due(site, &o, &n, err, sizeof(err));
	offserv_site_close(site);
	if (OFFSERV_FAILED(s))
		return offserv_cli_failure(s, err);
	printf("%zu due schedule(s) run.\n", n);
	return EXIT_OK;
}

int offserv_cmd_daemon(struct offserv_cli *cli, int argc, char **argv)
{
	struct offserv_daemon_options o = {.notify = 1};
	struct offserv_site *site;
	char err[2048] = "";
	offserv_status s;
	int rc;

	if (daemon_args(argc, argv, &o) != 0) {
		fprintf(stderr, "usage: offserv daemon [--workers N] [--poll SECONDS]\n");
		return EXIT_USAGE;
	}
	rc = open_site(cli, 0, &site);
	if (rc)
		return rc;
	s = offserv_daemon(site, &o, err, sizeof(err));
	offserv_site_close(site);
	return OFFSERV_FAILED(s) ? offserv_cli_failure(s, err) : EXIT_OK;
}

/* ---------------------------------------------------------------------- */
/* status, cancel, rollback                                                */

/*
 * Distribution point status: of an image (job_id 0), under a heading, or
 * the post-action outcomes of one job, one line each:
 *   DP NAME STATUS 0xHRESULT BYTES bytes TIME (PLUGIN) MESSAGE
 */
static void print_dp_status(struct offserv_sitedb *db, const char *image, int64_t job_id,
                            const char *indent)
{
	struct offserv_dp_status_rec *r = NULL;
	size_t n = 0;

	if (OFFSERV_FAILED(offserv_sitedb_dp_status_list(db, image, job_id, &r, &n, NULL, 0)))
		return;
	if (!job_id)
		printf("Distribution points:%s\n", n ? "" : " none recorded");
	for (size_t i = 0; i < n; i++)
		printf("%s  %s %s %s 0x%08x %llu bytes %s (%s) %s\n", indent,
		       r[i].is_dp ? "DP" : "Action", r[i].target, r[i].status, r[i].hresult,
		       (unsigned long long)r[i].bytes, r[i].updated_at ? r[i].updated_at : "-",
		       r[i].plugin ? r[i].plugin : "-", r[i].message ? r[i].message : "");
	offserv_dp_status_recs_free(r, n);
}

int offserv_cmd_status(struct offserv_cli *cli, int argc, char **argv)
{
	struct offserv_site *site;
	struct offserv_sitedb *db;
	struct offserv_job_rec *jobs = NULL;
	const char *image = NULL;
	size_t n = 0, shown = 0;
	char err[2048] = "";
	offserv_status s;
	int rc, all = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--all"))
			all = 1;
		else if (argv[i][0] != '-' && !image)
			image = argv[i];
		else {
			fprintf(stderr, "usage: offserv status [IMAGE-ID] [--all]\n");
			return EXIT_USAGE;
		}
	}
	rc = offserv_cli_site_and_db(cli, 1, &site, &db);
	if (rc)
		return rc;
	s = offserv_sitedb_job_list(db, image, &jobs, &n, err, sizeof(err));
	if (OFFSERV_FAILED(s)) {
		offserv_site_close(site);
		return offserv_cli_failure(s, err);
	}
	printf("%-6s %-9s %-8s %-11s %-9s %-21s %-21s %s\n", "Job", "Image", "Schedule", "Status",
	       "Progress", "Started (UTC)", "Finished (UTC)", "Message");
	for (size_t i = 0; i < n && (all || shown < 20); i++, shown++) {
		char sched[24] = "-";
		if (jobs[i].schedule_id)
			snprintf(sched, sizeof(sched), "%lld", (long long)jobs[i].schedule_id);
		printf("%-6lld %-9s %-8s %-11s %3d%%      %-21s %-21s %s\n", (long long)jobs[i].job_id,
		       jobs[i].package_id, sched, jobs[i].status, jobs[i].progress,
		       jobs[i].started_at ? jobs[i].started_at : "-",
		       jobs[i].finished_at ? jobs[i].finished_at : "-",
		       jobs[i].message ? jobs[i].message : "");
		if (jobs[i].status && !strcmp(jobs[i].status, OFFSERV_JOB_IN_PROGRESS))
			printf("       [%-40.*s] %d%% (pid %lld)\n", jobs[i].progress * 40 / 100,
			       "========================================", jobs[i].progress,
			       (long long)jobs[i].pid);
		else if (image)
			print_dp_status(db, NULL, jobs[i].job_id, "       ");
	}
	offserv_job_recs_free(jobs, n);
	/* after the table: scripts read the newest job from its second line */
	if (image) {
		struct offserv_image_rec img;

		s = offserv_sitedb_image_get(db, image, &img, err, sizeof(err));
		if (OFFSERV_FAILED(s)) {
			offserv_site_close(site);
			return offserv_cli_failure(s, err);
		}
		printf("\nImage %s: last serviced %s\n", img.package_id,
		       img.last_serviced_at ? img.last_serviced_at : "never");
		offserv_image_rec_clear(&img);
		print_dp_status(db, image, 0, "");
	}
	offserv_site_close(site);
	return EXIT_OK;
}

int offserv_cmd_cancel(struct offserv_cli *cli, int argc, char **argv)
{
	struct offserv_site *site;
	char err[2048] = "";
	int64_t job = 0, asked = 0;
	offserv_status s;
	int rc;

	if (argc != 2) {
		fprintf(stderr, "usage: offserv cancel IMAGE-ID|JOB-ID\n");
		return EXIT_USAGE;
	}
	rc = open_site(cli, 1, &site);
	if (rc)
		return rc;
	if (parse_id(argv[1], &job) != 0)
		job = 0;
	s = offserv_servicing_cancel(site, job ? NULL : argv[1], job, &asked, err, sizeof(err));
	offserv_site_close(site);
	if (OFFSERV_FAILED(s))
		return offserv_cli_failure(s, err);
	printf("Job %lld will stop at its next safe point (see `offserv status`).\n",
	       (long long)asked);
	return EXIT_OK;
}

int offserv_cmd_rollback(struct offserv_cli *cli, int argc, char **argv)
{
	struct offserv_site *site;
	char err[2048] = "";
	offserv_status s;
	int rc;

	if (argc != 2 || argv[1][0] == '-') {
		fprintf(stderr, "usage: offserv image rollback IMAGE-ID\n");
		return EXIT_USAGE;
	}
	rc = open_site(cli, 1, &site);
	if (rc)
		return rc;
	s = offserv_servicing_rollback(site, argv[1], err, sizeof(err));
	offserv_site_close(site);
	if (OFFSERV_FAILED(s))
		return offserv_cli_failure(s, err);
	printf("Image %s is back to its previous version (the replaced WIM is kept as the backup).\n",
	       argv[1]);
	return EXIT_OK;
}
