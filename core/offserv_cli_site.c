/* SPDX-License-Identifier: GPL-3.0-or-later */
/* offserv image ... and offserv update ...: the catalogue and the content library. */
#include <config.h>

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <offserv/catalogue.h>
#include <offserv/library.h>
#include <offserv/site.h>
#include <offserv/sitedb.h>

#include "offserv_cli.h"
#include "offserv_cli_schedule.h"

static int valid_arch(const char *a)
{
	return !a || !strcmp(a, "x86") || !strcmp(a, "x64") || !strcmp(a, "arm64") ||
	       !strcmp(a, "all");
}

static const char *str_or(const char *s, const char *dflt)
{
	return s && *s ? s : dflt;
}

/* The options `image applicable` and `update list` share. */
#define LIST_LONG_OPTIONS                                \
	{"filter", required_argument, NULL, 'f'},        \
	{"arch", required_argument, NULL, 'a'},          \
	{"json", no_argument, NULL, 'j'}
#define LIST_SHORT_OPTIONS "f:a:j"

struct list_opts {
	struct offserv_update_filter filter;
	int json;
};

/*
 * Take option @p c if it is one of the shared ones: 1 when taken, 0 when
 * it is not one of them, -1 for a bad value (the message is printed).
 */
static int list_option(int c, const char *arg, struct list_opts *o)
{
	switch (c) {
	case 'f':
		o->filter.text = arg;
		return 1;
	case 'a':
		if (!valid_arch(arg)) {
			fprintf(stderr, "offserv: --arch takes x86, x64, arm64 or all, not \"%s\"\n", arg);
			return -1;
		}
		o->filter.arch = arg;
		return 1;
	case 'j':
		o->json = 1;
		return 1;
	default:
		return 0;
	}
}

/* ---------------------------------------------------------------------- */
/* image import                                                            */

static int image_import(struct offserv_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"name", required_argument, NULL, 'n'},
		{"index", required_argument, NULL, 'i'},
		{"reference", no_argument, NULL, 'r'},
		{"description", required_argument, NULL, 'd'},
		{NULL, 0, NULL, 0},
	};
	struct offserv_catalogue_options co = {0};
	struct offserv_catalogue_import_result res;
	struct offserv_site *site;
	struct offserv_sitedb *db;
	char err[2048] = "", *end;
	offserv_status s;
	int c, rc;

	while ((c = getopt_long(argc, argv, "n:i:rd:", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			co.name = optarg;
			break;
		case 'd':
			co.description = optarg;
			break;
		case 'i':
			co.index = (int)strtol(optarg, &end, 10);
			if (*end || co.index < 1) {
				fprintf(stderr, "offserv image import: bad --index \"%s\"\n", optarg);
				return 2;
			}
			break;
		case 'r':
			co.storage = OFFSERV_CATALOGUE_REFERENCE;
			break;
		default:
			return 2;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "usage: offserv image import PATH [--name N] [--index I] [--reference]\n");
		return 2;
	}
	rc = offserv_cli_site_and_db(cli, 0, &site, &db);
	if (rc)
		return rc;
	co.site_root = offserv_config_site_root(offserv_site_config(site));
	co.plugins = offserv_site_plugins(site);
	co.read_release_types = 1;
	memset(&res, 0, sizeof(res));
	s = offserv_catalogue_import_image(db, &co, argv[optind], &res, err, sizeof(err));
	if (OFFSERV_FAILED(s)) {
		offserv_logfile_write(offserv_site_log(site), OFFSERV_LOG_ERROR, NULL,
		                      "Failed to import image %s: %s", argv[optind], err);
		offserv_site_close(site);
		return offserv_cli_failure(s, err);
	}
	offserv_logfile_write(offserv_site_log(site), OFFSERV_LOG_INFO, NULL,
	                      "Imported image package %s from %s (%zu indexes, %zu packages)",
	                      res.package_id, argv[optind], res.n_indexes, res.n_packages);
	printf("Imported %s as %s (%s): %zu index(es), %zu package(s) present at import.\n",
	       argv[optind], res.package_id, res.type, res.n_indexes, res.n_packages);
	printf("Serviced WIM: %s\n", res.wim_path);
	if (res.note[0])
		printf("Note: %s\n", res.note);
	offserv_catalogue_import_result_clear(&res);
	offserv_site_close(site);
	return 0;
}

/* ---------------------------------------------------------------------- */
/* image list / show                                                       */

static int print_images_json(struct offserv_sitedb *db, struct offserv_image_rec *imgs, size_t n)
{
	char err[1024];

	printf("[");
	for (size_t i = 0; i < n; i++) {
		char *json = NULL;
		offserv_status s = offserv_catalogue_image_json(db, imgs[i].package_id, &json, err,
		                                                sizeof(err));
		if (OFFSERV_FAILED(s))
			return offserv_cli_failure(s, err);
		printf("%s%s", i ? "," : "", json);
		free(json);
	}
	printf("]\n");
	return 0;
}

static int image_list(struct offserv_cli *cli, int argc, char **argv)
{
	int json = argc > 1 && !strcmp(argv[1], "--json");
	struct offserv_site *site;
	struct offserv_sitedb *db;
	struct offserv_image_rec *imgs = NULL;
	size_t n = 0;
	char err[1024] = "";
	offserv_status s;
	int rc = offserv_cli_site_and_db(cli, 1, &site, &db);

	if (rc)
		return rc;
	s = offserv_sitedb_image_list(db, &imgs, &n, err, sizeof(err));
	if (OFFSERV_FAILED(s)) {
		offserv_site_close(site);
		return offserv_cli_failure(s, err);
	}
	if (json) {
		rc = print_images_json(db, imgs, n);
	} else {
		printf("%-9s %-28s %-16s %-7s %-20s %-12s %s\n", "ID", "Name", "Type", "Indexes",
		       "Scheduled Updates Date", "Status", "Path");
		for (size_t i = 0; i < n; i++) {
			struct offserv_image_index_rec *ix = NULL;
			size_t nix = 0;
			offserv_sitedb_index_list(db, imgs[i].package_id, &ix, &nix, err, sizeof(err));
			printf("%-9s %-28.28s %-16s %-7zu %-22s %-12s %s\n", imgs[i].package_id,
			       str_or(imgs[i].name, "-"), str_or(imgs[i].type, "-"), nix,
			       str_or(imgs[i].scheduled_date, "-"), str_or(imgs[i].scheduled_status, "-"),
			       str_or(imgs[i].wim_path, "-"));
			offserv_image_index_recs_free(ix, nix);
		}
	}
	offserv_image_recs_free(imgs, n);
	offserv_site_close(site);
	return rc;
}

static int image_show(struct offserv_cli *cli, int argc, char **argv)
{
	int json = 0;
	const char *id = NULL;
	struct offserv_site *site;
	struct offserv_sitedb *db;
	struct offserv_image_rec img;
	struct offserv_image_index_rec *ix = NULL;
	struct offserv_image_package_rec *pk = NULL;
	struct offserv_dp_status_rec *dp = NULL;
	size_t nix = 0, npk = 0, ndp = 0;
	char err[1024] = "";
	offserv_status s;
	int rc;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = 1;
		else if (!id)
			id = argv[i];
		else
			id = NULL, i = argc;
	}
	if (!id) {
		fprintf(stderr, "usage: offserv image show ID [--json]\n");
		return 2;
	}
	rc = offserv_cli_site_and_db(cli, 1, &site, &db);
	if (rc)
		return rc;
	memset(&img, 0, sizeof(img));
	s = offserv_sitedb_image_get(db, id, &img, err, sizeof(err));
	if (OFFSERV_FAILED(s)) {
		offserv_site_close(site);
		return offserv_cli_failure(s, err);
	}
	if (json) {
		char *text = NULL;
		s = offserv_catalogue_image_json(db, id, &text, err, sizeof(err));
		if (OFFSERV_SUCCEEDED(s))
			printf("%s\n", text);
		free(text);
		rc = OFFSERV_FAILED(s) ? offserv_cli_failure(s, err) : 0;
		goto out;
	}
	offserv_sitedb_index_list(db, id, &ix, &nix, err, sizeof(err));
	offserv_sitedb_package_list(db, id, 0, &pk, &npk, err, sizeof(err));
	printf("Image %s: %s\n", img.package_id, str_or(img.name, "-"));
	printf("  Type: %s\n  Path: %s\n  Source: %s\n  Imported: %s\n", str_or(img.type, "-"),
	       str_or(img.wim_path, "-"), str_or(img.source_path, "-"), str_or(img.imported_at, "-"));
	if (img.solid)
		printf("  Solid (ESD): readable, not serviceable in place; convert with "
		       "wimlib-imagex export SRC all DST.wim --compress=LZX\n");
	printf("\nIndexes:\n");
	for (size_t i = 0; i < nix; i++)
		printf("  %d  %s  %s  %s  %s (build %u.%u)  %s\n", ix[i].index, str_or(ix[i].name, "-"),
		       str_or(ix[i].edition, "-"), str_or(ix[i].arch, "-"), str_or(ix[i].version, "-"),
		       ix[i].build, ix[i].sp_build, str_or(ix[i].languages, "-"));
	printf("\nUpdate Status:\n");
	for (size_t i = 0; i < npk; i++)
		printf("  [%d] %-70s %-17s %s\n", pk[i].index, pk[i].identity,
		       offserv_package_state_name(pk[i].state),
		       !strcmp(str_or(pk[i].origin, ""), "applied") ? "applied by offserv" : "at import");
	printf("\nInstalled Updates:\n");
	for (size_t i = 0; i < npk; i++)
		if (pk[i].origin && !strcmp(pk[i].origin, "applied"))
			printf("  [%d] %s  %s\n", pk[i].index, pk[i].identity, str_or(pk[i].applied_at, ""));
	printf("\nServicing:\n  Scheduled Updates Date: %s\n  Scheduled Updates Status: %s\n"
	       "  Last Serviced: %s\n",
	       str_or(img.scheduled_date, "-"), str_or(img.scheduled_status, "-"),
	       str_or(img.last_serviced_at, "never"));
	if (OFFSERV_SUCCEEDED(offserv_sitedb_dp_status_list(db, id, 0, &dp, &ndp, err, sizeof(err))) &&
	    ndp > 0) {
		printf("\nDistribution Points:\n");
		for (size_t i = 0; i < ndp; i++)
			printf("  %-20s %-8s 0x%08x %12llu bytes  %s  %s\n", dp[i].target,
			       str_or(dp[i].status, "-"), (unsigned)dp[i].hresult,
			       (unsigned long long)dp[i].bytes, str_or(dp[i].updated_at, "-"),
			       str_or(dp[i].message, ""));
	}
out:
	offserv_dp_status_recs_free(dp, ndp);
	offserv_image_index_recs_free(ix, nix);
	offserv_image_package_recs_free(pk, npk);
	offserv_image_rec_clear(&img);
	offserv_site_close(site);
	return rc;
}

/* ---------------------------------------------------------------------- */
/* image applicable                                                        */

static int image_applicable(struct offserv_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"index", required_argument, NULL, 'i'},
		{"explain", no_argument, NULL, 'e'},
		LIST_LONG_OPTIONS,
		{NULL, 0, NULL, 0},
	};
	struct list_opts lo = {0};
	struct offserv_applicable_update *u = NULL;
	struct offserv_site *site;
	struct offserv_sitedb *db;
	size_t n = 0;
	int index = 0, explain = 0, c, rc;
	char err[1024] = "", *end;
	offserv_status s;

	while ((c = getopt_long(argc, argv, "i:e" LIST_SHORT_OPTIONS, opts, NULL)) != -1) {
		int taken = list_option(c, optarg, &lo);

		if (taken < 0)
			return 2;
		if (taken)
			continue;
		switch (c) {
		case 'i':
			index = (int)strtol(optarg, &end, 10);
			if (*end || index < 1) {
				fprintf(stderr, "offserv image applicable: bad --index \"%s\"\n", optarg);
				return 2;
			}
			break;
		case 'e':
			explain = 1;
			break;
		default:
			return 2;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "usage: offserv image applicable ID [--index I] [--filter TEXT] [--arch A] [--explain] [--json]\n");
		return 2;
	}
	rc = offserv_cli_site_and_db(cli, 1, &site, &db);
	if (rc)
		return rc;
	s = offserv_catalogue_applicable(db, argv[optind], index, &lo.filter, !explain, &u, &n,
	                                 err, sizeof(err));
	if (OFFSERV_FAILED(s)) {
		offserv_site_close(site);
		return offserv_cli_failure(s, err);
	}
	if (lo.json) {
		char *text = NULL;

		s = offserv_catalogue_applicable_json(u, n, &text, err, sizeof(err));
		if (OFFSERV_SUCCEEDED(s))
			printf("%s\n", text);
		free(text);
		offserv_applicable_updates_free(u, n);
		offserv_site_close(site);
		return OFFSERV_FAILED(s) ? offserv_cli_failure(s, err) : 0;
	}
	for (size_t i = 0; i < n; i++) {
		printf("[%d] %-10lld %-11s %-36s %s\n", u[i].index, (long long)u[i].update_id,
		       str_or(u[i].kb, "-"), offserv_applicability_name(u[i].verdict),
		       str_or(u[i].file_name, "-"));
		if (!explain)
			continue;
		/* The rule that decided, the sentence, the HRESULT the engine gives. */
		printf("      %s: %s (0x%08x)\n", offserv_applicability_rule_name(u[i].rule),
		       str_or(u[i].explain, "-"), u[i].hr);
		if (u[i].superseded_by)
			printf("      superseded in the content library by update %lld\n",
			       (long long)u[i].superseded_by);
	}
	if (n == 0)
		printf("No %supdate in the content library %s.\n", explain ? "" : "applicable ",
		       explain ? "matches" : "applies that is not already in the image");
	offserv_applicable_updates_free(u, n);
	offserv_site_close(site);
	return 0;
}

/* ---------------------------------------------------------------------- */
/* update import / list                                                    */

static int update_import(struct offserv_cli *cli, int argc, char **argv)
{
	struct offserv_site *site;
	struct offserv_sitedb *db;
	int rc, failed = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: offserv update import FILE|DIR...\n");
		return 2;
	}
	rc = offserv_cli_site_and_db(cli, 0, &site, &db);
	if (rc)
		return rc;
	for (int a = 1; a < argc; a++) {
		struct offserv_library_options lo = {
			.library_root = offserv_config_content_library(offserv_site_config(site)),
			.plugins = offserv_site_plugins(site),
		};
		struct offserv_library_results res;
		char err[2048] = "";
		offserv_status s;

		memset(&res, 0, sizeof(res));
		s = offserv_library_import(db, &lo, argv[a], &res, err, sizeof(err));
		for (size_t i = 0; i < res.n; i++) {
			const struct offserv_library_result *r = &res.items[i];
			printf("%s: %s", r->path, offserv_library_outcome_name(r->outcome));
			if (r->outcome == OFFSERV_LIBRARY_IMPORTED || r->outcome == OFFSERV_LIBRARY_ALREADY_PRESENT)
				printf(" (update %lld, %s)", (long long)r->update_id, str_or(r->format, "?"));
			if (r->message)
				printf(": %s", r->message);
			if (r->outcome == OFFSERV_LIBRARY_FAILED)
				printf(" (0x%08x)", r->hr);
			printf("\n");
			offserv_logfile_write(offserv_site_log(site),
			                      r->outcome == OFFSERV_LIBRARY_FAILED ? OFFSERV_LOG_ERROR
			                                                           : OFFSERV_LOG_INFO,
			                      NULL, "Content library import of %s: %s%s%s", r->path,
			                      offserv_library_outcome_name(r->outcome),
			                      r->message ? ": " : "", r->message ? r->message : "");
		}
		if (OFFSERV_FAILED(s)) {
			failed = 1;
			if (res.n == 0)
				offserv_cli_failure(s, err);
		}
		offserv_library_results_clear(&res);
	}
	offserv_site_close(site);
	return failed;
}

static int update_list(struct offserv_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		LIST_LONG_OPTIONS,
		{NULL, 0, NULL, 0},
	};
	struct list_opts lo = {0};
	struct offserv_update_rec *u = NULL;
	struct offserv_site *site;
	struct offserv_sitedb *db;
	size_t n = 0;
	int json, c, rc;
	char err[1024] = "";
	offserv_status s;

	while ((c = getopt_long(argc, argv, LIST_SHORT_OPTIONS, opts, NULL)) != -1)
		if (list_option(c, optarg, &lo) != 1)
			return 2;
	json = lo.json;
	rc = offserv_cli_site_and_db(cli, 1, &site, &db);
	if (rc)
		return rc;
	s = offserv_sitedb_update_list(db, &lo.filter, &u, &n, err, sizeof(err));
	if (OFFSERV_FAILED(s)) {
		offserv_site_close(site);
		return offserv_cli_failure(s, err);
	}
	if (json)
		printf("[");
	else
		printf("%-10s %-11s %-6s %-17s %-10s %s\n", "ID", "KB", "Arch", "Release Type", "State",
		       "Title");
	for (size_t i = 0; i < n; i++) {
		if (json) {
			char *text = NULL;
			if (OFFSERV_SUCCEEDED(offserv_catalogue_update_json(db, u[i].update_id, &text, err,
			                                                    sizeof(err))))
				printf("%s%s", i ? "," : "", text);
			free(text);
			continue;
		}
		printf("%-10lld %-11s %-6s %-17.17s %-10s %s\n", (long long)u[i].update_id,
		       str_or(u[i].kb, "-"), str_or(u[i].arch, "-"), str_or(u[i].release_type, "-"),
		       !u[i].supported ? "Unsupported" : u[i].superseded_by ? "Superseded" : "Ready",
		       str_or(u[i].title, str_or(u[i].file_name, "-")));
		if (!u[i].supported && u[i].unsupported_reason)
			printf("%-10s %s\n", "", u[i].unsupported_reason);
	}
	if (json)
		printf("]\n");
	offserv_update_recs_free(u, n);
	offserv_site_close(site);
	return 0;
}

/* ---------------------------------------------------------------------- */

int offserv_cmd_image(struct offserv_cli *cli, int argc, char **argv)
{
	if (argc >= 2) {
		argc--;
		argv++;
		optind = 0;
		if (!strcmp(argv[0], "import"))
			return image_import(cli, argc, argv);
		if (!strcmp(argv[0], "list"))
			return image_list(cli, argc, argv);
		if (!strcmp(argv[0], "show"))
			return image_show(cli, argc, argv);
		if (!strcmp(argv[0], "applicable"))
			return image_applicable(cli, argc, argv);
		if (!strcmp(argv[0], "rollback"))
			return offserv_cmd_rollback(cli, argc, argv);
	}
	fprintf(stderr, "usage: offserv image {import|list|show|applicable|rollback} ...\n");
	return 2;
}

int offserv_cmd_update(struct offserv_cli *cli, int argc, char **argv)
{
	if (argc >= 2) {
		argc--;
		argv++;
		optind = 0;
		if (!strcmp(argv[0], "import"))
			return update_import(cli, argc, argv);
		if (!strcmp(argv[0], "list"))
			return update_list(cli, argc, argv);
	}
	fprintf(stderr, "usage: offserv update {import|list} ...\n");
	return 2;
}
