/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The servicing engine's acceptance tests: images and packages made by
 * offserv-mkfixture, serviced through offserv_engine_service() (and
 * offserv_apply_updates() for an MSU), then read back independently
 * (imagecheck.c: wimlib, hivex and libxml2 directly) and compared with
 * what the packages' manifests require.
 */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include <offserv/applicability.h>
#include <offserv/engine.h>
#include <offserv/job.h>
#include <offserv/site.h>
#include <offserv/util.h>

#include "enginefix.h"
#include "imagecheck.h"
#include "testutil.h"

#define STATE_INSTALLED 0x70u
#define STATE_PENDING 0x60u
#define STATE_SUPERSEDED 0x50u

/* The image of these tests: the indexes asked for, six files, two editions. */
static void world_init(struct ef_world *w, const char *indexes)
{
	ef_world_init(w, indexes, "6", "Professional,Enterprise", "11");
}

static int dir_empty(const char *path)
{
	char *cmd = offtest_strdup_printf("test -z \"$(ls -A '%s')\"", path);
	int rc = system(cmd);

	free(cmd);
	return rc == 0;
}

struct progress_log {
	size_t calls;
	size_t cancel_at;   /* 1-based call that cancels; 0 never */
	const char *cancel_step; /* or: cancel at the first call with this step */
	double last;
	int backwards;
	double final;
	char steps[512][24];
};

static int on_progress(void *ctx, const struct offserv_engine_progress *p)
{
	struct progress_log *l = ctx;

	if (p->percent < l->last)
		l->backwards = 1;
	l->last = l->final = p->percent;
	if (l->calls < 512)
		snprintf(l->steps[l->calls], sizeof(l->steps[0]), "%s", p->step ? p->step : "");
	l->calls++;
	if (l->cancel_at && l->calls == l->cancel_at)
		return 1;
	if (l->cancel_step && p->step && strcmp(p->step, l->cancel_step) == 0)
		return 1;
	return 0;
}

static offserv_status service(struct ef_world *w, char **dirs, size_t n, int continue_on_error,
                              struct progress_log *log, struct offserv_engine_report *rep,
                              char *err, size_t errlen)
{
	struct offserv_engine_package pkgs[8];
	struct offserv_engine_options o;

	memset(pkgs, 0, sizeof(pkgs));
	for (size_t i = 0; i < n; i++)
		pkgs[i].dir = dirs[i];
	ef_engine_options(&o, w->wim, w->scratch, continue_on_error);
	if (log) {
		o.progress = on_progress;
		o.progress_ctx = log;
	}
	return offserv_engine_service(&o, pkgs, n, rep, err, errlen);
}

/* Full read-back of one installed package on one index. */
static void assert_installed(struct ef_world *w, int index, const char *dir, uint32_t state,
                             uint64_t t0, uint64_t t1)
{
	struct ic *after, *before;
	struct ic_package p;
	char err[1024] = "";

	ck_assert_msg(ic_open(w->wim, &after, err, sizeof(err)) == 0, "%s", err);
	ck_assert_msg(ic_open(w->orig, &before, err, sizeof(err)) == 0, "%s", err);
	ck_assert_msg(ic_package_load(dir, &p, err, sizeof(err)) == 0, "%s", err);
	ck_assert_msg(ic_check_package(after, before, index, &p, state, t0, t1, err, sizeof(err)) == 0,
	              "%s", err);
	ic_package_clear(&p);
	ic_close(before);
	ic_close(after);
}

/* wimlib-imagex verify passes and hivexsh opens the three hives of every index. */
static void assert_image_sound(struct ef_world *w)
{
	struct ic *c;
	char err[512];
	static const char *const hives[] = {"SOFTWARE", "SYSTEM", "COMPONENTS"};
	int rc = ic_wimlib_verify(w->wim);

	ck_assert_msg(rc >= 0, "wimlib-imagex verify %s failed", w->wim);
	if (rc > 0)
		printf("# wimlib-imagex is not installed: verify skipped\n");
	ck_assert_msg(ic_open(w->wim, &c, err, sizeof(err)) == 0, "%s", err);
	for (int i = 1; i <= ic_image_count(c); i++) {
		for (size_t h = 0; h < 3; h++) {
			hive_h *hv = ic_hive(c, i, hives[h], err, sizeof(err));
			ck_assert_msg(hv != NULL, "%s", err);
			hivex_close(hv);
			rc = ic_hivexsh_opens(ic_hive_path(c, i, hives[h]));
			ck_assert_msg(rc >= 0, "hivexsh cannot open %s of index %d", hives[h], i);
		}
	}
	ic_close(c);
}

static const struct offserv_engine_result *result_for(const struct offserv_engine_report *rep,
                                                      int index, size_t pkg)
{
	for (size_t i = 0; i < rep->n_results; i++)
		if (rep->results[i].index == index && rep->results[i].package == pkg)
			return &rep->results[i];
	return NULL;
}

/* ---------------------------------------------------------------------- */

START_TEST(test_one_cab)
{
	struct ef_world w;
	struct offserv_engine_report rep;
	char err[1024] = "", *dirs[1];
	uint64_t t0, t1;
	offserv_status s;

	world_init(&w, "1");
	/* One file replaces the image's kernel32.dll, two are new. */
	dirs[0] = ef_package(&w, "5001", "--files", "3", "--replace", "1", NULL);
	t0 = offserv_filetime_now();
	s = service(&w, dirs, 1, 0, NULL, &rep, err, sizeof(err));
	t1 = offserv_filetime_now();
	ck_assert_msg(s == OFFSERV_OK, "0x%08x %s", s, err);
	ck_assert_int_eq(rep.committed, 1);
	ck_assert_uint_eq(rep.n_results, 1);
	ck_assert_int_eq(rep.results[0].outcome, OFFSERV_OUTCOME_INSTALLED);
	assert_installed(&w, 1, dirs[0], STATE_INSTALLED, t0, t1);
	assert_image_sound(&w);
	ck_assert_msg(dir_empty(w.scratch), "the scratch folder was not emptied");
	offserv_engine_report_clear(&rep);
	free(dirs[0]);
	ef_world_free(&w);
}
END_TEST

/*
 * Exactly one write: an append leaves the old file's bytes after the
 * header as they were and adds one XML document (UTF-16 "<WIM>") at the
 * end; two writes would have added two.
 */
static void assert_one_generation(const char *orig, const char *now)
{
	size_t lo, ln, count = 0;
	char *o = offtest_read_file(orig, &lo), *n = offtest_read_file(now, &ln);
	static const char marker[] = "<\0W\0I\0M\0>\0";

	ck_assert_ptr_nonnull(o);
	ck_assert_ptr_nonnull(n);
	ck_assert_uint_gt(ln, lo);
	ck_assert_msg(memcmp(o + 208, n + 208, lo - 208) == 0,
	              "the old image's bytes changed: not an append");
	for (size_t i = lo; i + sizeof(marker) - 1 <= ln; i++)
		if (memcmp(n + i, marker, sizeof(marker) - 1) == 0)
			count++;
	ck_assert_msg(count == 1, "%zu XML documents were appended: %zu writes", count, count);
	free(o);
	free(n);
}

START_TEST(test_multi_index_one_write)
{
	struct ef_world w;
	struct offserv_engine_report rep;
	char err[1024] = "", *dirs[1];
	uint64_t t0, t1;
	offserv_status s;

	world_init(&w, "2");
	dirs[0] = ef_package(&w, "5002", "--files", "2", "--replace", "1", NULL);
	t0 = offserv_filetime_now();
	s = service(&w, dirs, 1, 0, NULL, &rep, err, sizeof(err));
	t1 = offserv_filetime_now();
	ck_assert_msg(s == OFFSERV_OK, "0x%08x %s", s, err);
	ck_assert_uint_eq(rep.n_results, 2);
	ck_assert_int_eq(result_for(&rep, 1, 0)->outcome, OFFSERV_OUTCOME_INSTALLED);
	ck_assert_int_eq(result_for(&rep, 2, 0)->outcome, OFFSERV_OUTCOME_INSTALLED);
	assert_installed(&w, 1, dirs[0], STATE_INSTALLED, t0, t1);
	assert_installed(&w, 2, dirs[0], STATE_INSTALLED, t0, t1);
	assert_one_generation(w.orig, w.wim);
	assert_image_sound(&w);
	offserv_engine_report_clear(&rep);
	free(dirs[0]);
	ef_world_free(&w);
}
END_TEST

START_TEST(test_registry)
{
	struct ef_world w;
	struct offserv_engine_report rep;
	char err[1024] = "", *dirs[1];
	uint64_t t0, t1;
	offserv_status s;
	struct ic *c;
	hive_h *sys;
	char e2[256];

	world_init(&w, "1");
	dirs[0] = ef_package(&w, "5003", "--kind", "update", "--files", "2", "--registry", NULL);
	t0 = offserv_filetime_now();
	s = service(&w, dirs, 1, 0, NULL, &rep, err, sizeof(err));
	t1 = offserv_filetime_now();
	ck_assert_msg(s == OFFSERV_OK, "0x%08x %s", s, err);
	/* The check compares every value with the manifest, SYSTEM's through Select\Current. */
	assert_installed(&w, 1, dirs[0], STATE_INSTALLED, t0, t1);
	/* CurrentControlSet was resolved, not created as a key. */
	ck_assert_int_eq(ic_open(w.wim, &c, e2, sizeof(e2)), 0);
	sys = ic_hive(c, 1, "SYSTEM", e2, sizeof(e2));
	ck_assert_ptr_nonnull(sys);
	ck_assert(ic_key(sys, "ControlSet001\\Services\\OffservFixture") != 0);
	ck_assert(ic_key(sys, "CurrentControlSet") == 0);
	hivex_close(sys);
	ic_close(c);
	assert_image_sound(&w);
	offserv_engine_report_clear(&rep);
	free(dirs[0]);
	ef_world_free(&w);
}
END_TEST

START_TEST(test_pending)
{
	struct ef_world w;
	struct offserv_engine_report rep;
	char err[1024] = "", *dirs[1], e2[256];
	uint64_t t0, t1;
	offserv_status s;
	struct ic *c;
	uint8_t *xml = NULL, *val = NULL;
	size_t xl = 0, vl = 0, ul = 0;
	uint32_t type = 0;
	hive_h *co;
	char *id, *end, *ident;
	uint8_t *u16;

	world_init(&w, "1");
	dirs[0] = ef_package(&w, "5004", "--kind", "update", "--files", "1", "--pending", NULL);
	t0 = offserv_filetime_now();
	s = service(&w, dirs, 1, 0, NULL, &rep, err, sizeof(err));
	t1 = offserv_filetime_now();
	ck_assert_msg(OFFSERV_SUCCEEDED(s), "0x%08x %s", s, err);
	ck_assert_int_eq(rep.results[0].outcome, OFFSERV_OUTCOME_INSTALL_PENDING);
	ck_assert_int_eq(rep.reboot_required, 1);
	assert_installed(&w, 1, dirs[0], STATE_PENDING, t0, t1);
	ck_assert_int_eq(ic_open(w.wim, &c, e2, sizeof(e2)), 0);
	ck_assert_msg(ic_read(c, 1, "/Windows/WinSxS/pending.xml", &xml, &xl, e2, sizeof(e2)) == 0,
	              "%s", e2);
	id = strstr((char *)xml, "Identifier=\"");
	ck_assert_ptr_nonnull(id);
	id += 12;
	end = strchr(id, '"');
	ck_assert_ptr_nonnull(end);
	ident = strndup(id, (size_t)(end - id));
	ck_assert_uint_gt(strlen(ident), 0);
	co = ic_hive(c, 1, "COMPONENTS", e2, sizeof(e2));
	ck_assert_ptr_nonnull(co);
	ck_assert_int_eq(ic_value(co, hivex_root(co), "PendingXmlIdentifier", &type, &val, &vl), 0);
	ck_assert_uint_eq(type, 3);
	u16 = ic_utf16(ident, &ul);
	/* UTF-16 of the identifier, without a terminator. */
	ck_assert_uint_eq(vl, ul - 2);
	ck_assert(memcmp(val, u16, vl) == 0);
	free(u16);
	free(val);
	free(ident);
	free(xml);
	hivex_close(co);
	ic_close(c);
	assert_image_sound(&w);
	offserv_engine_report_clear(&rep);
	free(dirs[0]);
	ef_world_free(&w);
}
END_TEST

START_TEST(test_not_applicable_mixed)
{
	struct ef_world w;
	struct offserv_engine_report rep;
	char err[1024] = "", *dirs[3];
	uint64_t t0, t1;
	offserv_status s;

	world_init(&w, "1");
	dirs[0] = ef_package(&w, "5005", "--kind", "update", "--files", "1", NULL);
	dirs[1] = ef_package(&w, "5006", "--kind", "update", "--files", "1", "--not-applicable", NULL);
	dirs[2] = ef_package(&w, "5007", "--kind", "update", "--files", "1", NULL);

	/* Without continue-on-error: the run fails, the image is untouched. */
	s = service(&w, dirs, 3, 0, NULL, &rep, err, sizeof(err));
	ck_assert_uint_eq(s, OFFSERV_CBS_E_NOT_APPLICABLE);
	ck_assert_int_eq(rep.committed, 0);
	ck_assert_int_eq(result_for(&rep, 1, 1)->outcome, OFFSERV_OUTCOME_NOT_APPLICABLE);
	ck_assert_uint_eq(result_for(&rep, 1, 1)->status, OFFSERV_CBS_E_NOT_APPLICABLE);
	ck_assert_int_ne(result_for(&rep, 1, 0)->outcome, OFFSERV_OUTCOME_INSTALLED);
	ck_assert_int_ne(result_for(&rep, 1, 2)->outcome, OFFSERV_OUTCOME_INSTALLED);
	ck_assert_msg(ef_same_file(w.wim, w.orig), "the image changed");
	offserv_engine_report_clear(&rep);

	/* With it: the others are installed, the odd one is reported. */
	t0 = offserv_filetime_now();
	s = service(&w, dirs, 3, 1, NULL, &rep, err, sizeof(err));
	t1 = offserv_filetime_now();
	ck_assert_msg(s == OFFSERV_OK, "0x%08x %s", s, err);
	ck_assert_int_eq(rep.committed, 1);
	ck_assert_int_eq(result_for(&rep, 1, 0)->outcome, OFFSERV_OUTCOME_INSTALLED);
	ck_assert_int_eq(result_for(&rep, 1, 1)->outcome, OFFSERV_OUTCOME_NOT_APPLICABLE);
	ck_assert_uint_eq(result_for(&rep, 1, 1)->status, OFFSERV_CBS_E_NOT_APPLICABLE);
	ck_assert_int_eq(result_for(&rep, 1, 2)->outcome, OFFSERV_OUTCOME_INSTALLED);
	assert_installed(&w, 1, dirs[0], STATE_INSTALLED, t0, t1);
	assert_installed(&w, 1, dirs[2], STATE_INSTALLED, t0, t1);
	{
		struct ic *c;
		char e2[256], *id = ic_package_identity(dirs[1]);

		ck_assert_int_eq(ic_open(w.wim, &c, e2, sizeof(e2)), 0);
		ck_assert_int_eq(ic_package_state(c, 1, id), -1);
		ic_close(c);
		free(id);
	}
	assert_image_sound(&w);
	offserv_engine_report_clear(&rep);
	for (int i = 0; i < 3; i++)
		free(dirs[i]);
	ef_world_free(&w);
}
END_TEST

/*
 * Already installed: the second run reports it and leaves the image
 * byte-identical (nothing to write, so the WIM is not rewritten).  The
 * same package twice in one run: installed once, then already installed.
 */
START_TEST(test_already_installed)
{
	struct ef_world w;
	struct offserv_engine_report rep;
	char err[1024] = "", *dirs[2], *after1;
	uint64_t t0, t1;
	offserv_status s;

	world_init(&w, "1");
	dirs[0] = ef_package(&w, "5008", "--files", "2", "--replace", "1", NULL);
	dirs[1] = dirs[0];
	t0 = offserv_filetime_now();
	s = service(&w, dirs, 2, 0, NULL, &rep, err, sizeof(err));
	t1 = offserv_filetime_now();
	ck_assert_msg(s == OFFSERV_OK, "0x%08x %s", s, err);
	ck_assert_int_eq(result_for(&rep, 1, 0)->outcome, OFFSERV_OUTCOME_INSTALLED);
	ck_assert_int_eq(result_for(&rep, 1, 1)->outcome, OFFSERV_OUTCOME_ALREADY_INSTALLED);
	ck_assert_uint_eq(result_for(&rep, 1, 1)->status, OFFSERV_E_ALREADY_EXISTS);
	assert_installed(&w, 1, dirs[0], STATE_INSTALLED, t0, t1);
	offserv_engine_report_clear(&rep);

	after1 = offtest_strdup_printf("%s/after1.wim", w.dir);
	ck_assert_int_eq(offserv_copy_file(w.wim, after1, NULL, NULL, 0), OFFSERV_OK);
	s = service(&w, dirs, 1, 0, NULL, &rep, err, sizeof(err));
	ck_assert_msg(s == OFFSERV_OK, "0x%08x %s", s, err);
	ck_assert_int_eq(rep.results[0].outcome, OFFSERV_OUTCOME_ALREADY_INSTALLED);
	ck_assert_int_eq(rep.committed, 0);
	ck_assert_msg(ef_same_file(w.wim, after1), "a second run changed the image");
	offserv_engine_report_clear(&rep);
	free(after1);
	free(dirs[0]);
	ef_world_free(&w);
}
END_TEST

/*
 * Supersedence and a file replaced twice in one run: two cumulative
 * updates both replace kernel32.dll; the later one wins cleanly and the
 * older package becomes Superseded.
 */
START_TEST(test_superseding)
{
	struct ef_world w;
	struct offserv_engine_report rep;
	char err[1024] = "", *dirs[2], *old_id, *new_id, e2[512];
	uint64_t t0, t1;
	offserv_status s;
	struct ic *c, *before;
	struct ic_stat k32, store_new, store_old, old32;
	struct ic_package pn;

	world_init(&w, "1");
	dirs[0] = ef_package(&w, "5009", "--revision", "3920", "--files", "2", "--replace", "1", NULL);
	dirs[1] = ef_package(&w, "5010", "--revision", "4000", "--files", "2", "--replace", "1", NULL);
	old_id = ic_package_identity(dirs[0]);
	new_id = ic_package_identity(dirs[1]);
	t0 = offserv_filetime_now();
	s = service(&w, dirs, 2, 0, NULL, &rep, err, sizeof(err));
	t1 = offserv_filetime_now();
	ck_assert_msg(s == OFFSERV_OK, "0x%08x %s", s, err);
	ck_assert_int_eq(result_for(&rep, 1, 0)->outcome, OFFSERV_OUTCOME_INSTALLED);
	ck_assert_int_eq(result_for(&rep, 1, 1)->outcome, OFFSERV_OUTCOME_INSTALLED);
	offserv_engine_report_clear(&rep);
	/* The newer package passes the whole check: its kernel32.dll is the projection. */
	assert_installed(&w, 1, dirs[1], STATE_INSTALLED, t0, t1);
	ck_assert_int_eq(ic_open(w.wim, &c, e2, sizeof(e2)), 0);
	ck_assert_int_eq(ic_open(w.orig, &before, e2, sizeof(e2)), 0);
	ck_assert_int_eq(ic_package_state(c, 1, old_id), STATE_SUPERSEDED);
	ck_assert_int_eq(ic_package_state(c, 1, new_id), STATE_INSTALLED);
	/* The older component stays in the store, no longer projected. */
	ck_assert_int_eq(ic_package_load(dirs[1], &pn, e2, sizeof(e2)), 0);
	ck_assert_int_eq(ic_stat(c, 1, "/Windows/System32/kernel32.dll", &k32, e2, sizeof(e2)), 0);
	ck_assert_int_eq(ic_stat(before, 1, "/Windows/System32/kernel32.dll", &old32, e2, sizeof(e2)), 0);
	{
		struct ic_package po;
		int found_new = 0, found_old = 0;

		ck_assert_int_eq(ic_package_load(dirs[0], &po, e2, sizeof(e2)), 0);
		for (size_t i = 0; i < pn.n_comps; i++)
			if (strstr(pn.comps[i].key_form, "kernel32")) {
				char *p = offtest_strdup_printf("/Windows/WinSxS/%s/kernel32.dll",
				                                pn.comps[i].key_form);
				ck_assert_int_eq(ic_stat(c, 1, p, &store_new, e2, sizeof(e2)), 0);
				found_new = store_new.exists;
				free(p);
			}
		for (size_t i = 0; i < po.n_comps; i++)
			if (strstr(po.comps[i].key_form, "kernel32")) {
				char *p = offtest_strdup_printf("/Windows/WinSxS/%s/kernel32.dll",
				                                po.comps[i].key_form);
				ck_assert_int_eq(ic_stat(c, 1, p, &store_old, e2, sizeof(e2)), 0);
				found_old = store_old.exists;
				free(p);
			}
		ck_assert(found_new && found_old);
		ck_assert_uint_eq(k32.link_group, store_new.link_group);
		ck_assert_uint_ne(k32.link_group, store_old.link_group);
		/* Replaced twice, it still has the descriptor and attributes it had. */
		ck_assert_uint_eq(k32.sd_len, old32.sd_len);
		ck_assert(memcmp(k32.sd, old32.sd, k32.sd_len) == 0);
		ck_assert_uint_eq(k32.attributes, old32.attributes);
		ic_package_clear(&po);
	}
	ic_stat_clear(&k32);
	ic_stat_clear(&old32);
	ic_stat_clear(&store_new);
	ic_stat_clear(&store_old);
	ic_package_clear(&pn);
	ic_close(before);
	ic_close(c);

	/* Installing the older one again afterwards: superseded, not applied. */
	s = service(&w, dirs, 1, 0, NULL, &rep, err, sizeof(err));
	ck_assert_int_eq(rep.results[0].outcome, OFFSERV_OUTCOME_SUPERSEDED);
	ck_assert_int_eq(rep.committed, 0);
	offserv_engine_report_clear(&rep);
	assert_image_sound(&w);
	free(old_id);
	free(new_id);
	free(dirs[0]);
	free(dirs[1]);
	ef_world_free(&w);
}
END_TEST

START_TEST(test_failed_corrupt_payload)
{
	struct ef_world w;
	struct offserv_engine_report rep;
	char err[1024] = "", *dirs[2];
	offserv_status s;
	const struct offserv_engine_result *r;

	world_init(&w, "2");
	dirs[0] = ef_package(&w, "5011", "--kind", "update", "--files", "1", NULL);
	dirs[1] = ef_package(&w, "5012", "--kind", "update", "--files", "2", "--corrupt-payload", NULL);
	s = service(&w, dirs, 2, 0, NULL, &rep, err, sizeof(err));
	ck_assert_uint_eq(s, OFFSERV_SXS_E_FILE_HASH_MISMATCH);
	ck_assert_int_eq(rep.committed, 0);
	r = result_for(&rep, 1, 1);
	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(r->outcome, OFFSERV_OUTCOME_FAILED);
	ck_assert_uint_eq(r->status, OFFSERV_SXS_E_FILE_HASH_MISMATCH);
	ck_assert_msg(strstr(r->message, "kb5012_00.dll") != NULL, "message does not name the file: %s",
	              r->message);
	ck_assert_int_ne(result_for(&rep, 1, 0)->outcome, OFFSERV_OUTCOME_INSTALLED);
	ck_assert_msg(ef_same_file(w.wim, w.orig), "a failed run changed the image");
	ck_assert_msg(dir_empty(w.scratch), "the scratch folder was not emptied");
	offserv_engine_report_clear(&rep);
	free(dirs[0]);
	free(dirs[1]);
	ef_world_free(&w);
}
END_TEST

/*
 * Cancel at several points: the first report, halfway through the
 * packages, while the change set is applied, while the WIM is written.
 * Each time: OFFSERV_E_ABORT, the image byte-identical, the scratch folder
 * empty, and every package of every index reported Cancelled.
 */
START_TEST(test_cancelled)
{
	struct ef_world w;
	struct offserv_engine_report rep;
	char err[1024] = "", *dirs[2], *probe;
	offserv_status s;
	struct progress_log *probe_log = calloc(1, sizeof(*probe_log));
	size_t points[4], n_points = 0;

	world_init(&w, "2");
	dirs[0] = ef_package(&w, "5013", "--kind", "update", "--files", "1", NULL);
	dirs[1] = ef_package(&w, "5014", "--files", "2", "--replace", "1", NULL);

	/* A probe run on a copy: the sequence of steps, and the bar only goes forward. */
	probe = offtest_strdup_printf("%s/probe.wim", w.dir);
	ck_assert_int_eq(offserv_copy_file(w.wim, probe, NULL, NULL, 0), OFFSERV_OK);
	{
		char *keep = w.wim;
		w.wim = probe;
		s = service(&w, dirs, 2, 0, probe_log, &rep, err, sizeof(err));
		w.wim = keep;
	}
	ck_assert_msg(s == OFFSERV_OK, "0x%08x %s", s, err);
	offserv_engine_report_clear(&rep);
	ck_assert_msg(!probe_log->backwards, "the progress went backwards");
	ck_assert_msg(probe_log->final > 99.9, "the progress ended at %.1f%%", probe_log->final);
	ck_assert_uint_gt(probe_log->calls, 8);
	points[n_points++] = 1;
	points[n_points++] = probe_log->calls / 3;
	for (size_t i = 0; i < probe_log->calls && i < 512; i++)
		if (!strcmp(probe_log->steps[i], "updating")) {
			points[n_points++] = i + 1;
			break;
		}
	for (size_t i = 0; i < probe_log->calls && i < 512; i++)
		if (!strcmp(probe_log->steps[i], "writing")) {
			points[n_points++] = i + 1;
			break;
		}
	ck_assert_uint_eq(n_points, 4);

	for (size_t k = 0; k < n_points; k++) {
		struct progress_log *log = calloc(1, sizeof(*log));

		log->cancel_at = points[k];
		s = service(&w, dirs, 2, 0, log, &rep, err, sizeof(err));
		ck_assert_msg(s == OFFSERV_E_ABORT, "cancel at call %zu (%s): 0x%08x", points[k],
		              probe_log->steps[points[k] - 1], s);
		ck_assert_int_eq(rep.committed, 0);
		ck_assert_msg(ef_same_file(w.wim, w.orig), "cancel at %zu changed the image", points[k]);
		ck_assert_msg(dir_empty(w.scratch), "cancel at %zu left staging files", points[k]);
		for (int index = 1; index <= 2; index++)
			for (size_t p = 0; p < 2; p++) {
				const struct offserv_engine_result *r = result_for(&rep, index, p);
				ck_assert_msg(r != NULL, "cancel at %zu: no result for index %d package %zu",
				              points[k], index, p);
				ck_assert_msg(r->outcome == OFFSERV_OUTCOME_CANCELLED,
				              "cancel at %zu: index %d package %zu is %s", points[k], index, p,
				              offserv_outcome_name(r->outcome));
			}
		offserv_engine_report_clear(&rep);
		free(log);
	}
	free(probe_log);
	free(probe);
	free(dirs[0]);
	free(dirs[1]);
	ef_world_free(&w);
}
END_TEST

/*
 * An MSU with SSU + LCU through offserv_apply_updates() and the plugins:
 * the LCU needs the new servicing stack, so it installs only if the SSU
 * goes first; the image's servicing stack version rises.
 */
START_TEST(test_msu_ssu_lcu)
{
	struct ef_world w;
	struct offserv_apply_options ao;
	struct offserv_apply_report rep;
	struct offserv_site *site = NULL;
	struct offserv_site_options so;
	char err[2048] = "", *ssu, *lcu, *msu, *cfg, *ssu_cab, *lcu_cab, e2[512];
	const char *updates[1];
	uint64_t t0, t1;
	offserv_status s;
	struct ic *c;
	char ver_before[32], ver_after[32];
	hive_h *sw;

	{
		char *so_path = offtest_strdup_printf("%s/plugins/.libs/msu.so", offtest_builddir());
		int have = access(so_path, R_OK) == 0;

		free(so_path);
		if (!have) {
			printf("# the msu plugin was not built: MSU case skipped\n");
			return;
		}
	}
	world_init(&w, "1");
	ssu = ef_package(&w, "5015", "--kind", "ssu", "--revision", "3920", NULL);
	lcu = ef_package(&w, "5016", "--revision", "3920", "--files", "3", "--replace", "1",
	              "--needs-ssu", "10.0.19041.3920", NULL);
	ssu_cab = offtest_strdup_printf("%s/SSU-19041.3920-x64.cab", ssu);
	lcu_cab = offtest_strdup_printf("%s/Windows10.0-KB5016-x64.cab", lcu);
	msu = offtest_strdup_printf("%s/windows10.0-kb5016-x64.msu", w.dir);
	/* LCU listed first: the SSU must still be applied first. */
	ef_mk("msu", msu, "--cab", lcu_cab, "--cab", ssu_cab, NULL);
	cfg = offtest_strdup_printf("%s/offserv.ini", w.dir);
	{
		char *text = offtest_strdup_printf("[site]\nroot = %s/site\n[plugins]\ndirectory = %s/plugins/.libs\n",
		                                   w.dir, offtest_builddir());
		ck_assert_int_eq(offtest_write_file(cfg, text, strlen(text)), 0);
		free(text);
	}
	memset(&so, 0, sizeof(so));
	so.config_path = cfg;
	s = offserv_site_open(&so, &site, err, sizeof(err));
	ck_assert_msg(s == OFFSERV_OK, "0x%08x %s", s, err);

	/* Before: the stack the image records. */
	ck_assert_int_eq(ic_open(w.wim, &c, e2, sizeof(e2)), 0);
	sw = ic_hive(c, 1, "SOFTWARE", e2, sizeof(e2));
	ck_assert_ptr_nonnull(sw);
	ck_assert(hivex_node_get_value(sw, ic_key(sw, "Microsoft\\Windows\\CurrentVersion\\Component Based Servicing\\Version"),
	                               "10.0.19041.1") != 0);
	ck_assert(hivex_node_get_value(sw, ic_key(sw, "Microsoft\\Windows\\CurrentVersion\\Component Based Servicing\\Version"),
	                               "10.0.19041.3920") == 0);
	hivex_close(sw);
	ic_close(c);
	snprintf(ver_before, sizeof(ver_before), "10.0.19041.1");

	memset(&ao, 0, sizeof(ao));
	updates[0] = msu;
	ao.wim_path = w.wim;
	ao.updates = updates;
	ao.n_updates = 1;
	t0 = offserv_filetime_now();
	s = offserv_apply_updates(site, &ao, &rep, err, sizeof(err));
	t1 = offserv_filetime_now();
	ck_assert_msg(s == OFFSERV_OK, "0x%08x %s", s, err);
	ck_assert_uint_eq(rep.engine.n_results, 2);
	ck_assert_msg(strstr(rep.engine.results[0].identity, "ServicingStack") != NULL,
	              "the first package applied is %s", rep.engine.results[0].identity);
	ck_assert_int_eq(rep.engine.results[0].outcome, OFFSERV_OUTCOME_INSTALLED);
	ck_assert_int_eq(rep.engine.results[1].outcome, OFFSERV_OUTCOME_INSTALLED);
	offserv_apply_report_clear(&rep);
	offserv_site_close(site);

	assert_installed(&w, 1, ssu, STATE_INSTALLED, t0, t1);
	assert_installed(&w, 1, lcu, STATE_INSTALLED, t0, t1);
	ck_assert_int_eq(ic_open(w.wim, &c, e2, sizeof(e2)), 0);
	sw = ic_hive(c, 1, "SOFTWARE", e2, sizeof(e2));
	ck_assert_ptr_nonnull(sw);
	ck_assert(hivex_node_get_value(sw, ic_key(sw, "Microsoft\\Windows\\CurrentVersion\\Component Based Servicing\\Version"),
	                               "10.0.19041.3920") != 0);
	hivex_close(sw);
	{
		/* The packages now tell the stack version, and it rose. */
		struct offserv_installed_package ip[1];
		char *id = ic_package_identity(ssu);

		ip[0].identity = id;
		ip[0].state = (uint32_t)ic_package_state(c, 1, id);
		ck_assert_int_eq(offserv_image_servicing_stack_version(ip, 1, ver_after), 0);
		ck_assert_int_gt(offserv_version_compare(ver_after, ver_before), 0);
		free(id);
	}
	ic_close(c);
	assert_image_sound(&w);
	free(ssu);
	free(lcu);
	free(ssu_cab);
	free(lcu_cab);
	free(msu);
	free(cfg);
	ef_world_free(&w);
}
END_TEST

/* The LCU alone fails 0x800f0823 and leaves the image as it was. */
START_TEST(test_lcu_needs_ssu)
{
	struct ef_world w;
	struct offserv_engine_report rep;
	char err[1024] = "", *dirs[1];
	offserv_status s;

	world_init(&w, "1");
	dirs[0] = ef_package(&w, "5017", "--revision", "3920", "--files", "1", "--needs-ssu",
	                  "10.0.19041.3920", NULL);
	s = service(&w, dirs, 1, 0, NULL, &rep, err, sizeof(err));
	ck_assert_uint_eq(s, OFFSERV_CBS_E_NEW_SERVICING_STACK_REQUIRED);
	ck_assert_int_eq(rep.results[0].outcome, OFFSERV_OUTCOME_FAILED);
	ck_assert_msg(ef_same_file(w.wim, w.orig), "the image changed");
	offserv_engine_report_clear(&rep);
	free(dirs[0]);
	ef_world_free(&w);
}
END_TEST

/* A component identity that would name a path outside the store is refused. */
START_TEST(test_hostile_identity)
{
	struct ef_world w;
	struct offserv_engine_report rep;
	char err[1024] = "", *dirs[1], *mum, *text, *at;
	size_t len;
	offserv_status s;
	static const char good[] = "buildType=\"release\" publicKeyToken=\"31bf3856ad364e35\"";
	static const char bad[] = "buildType=\"release\" publicKeyToken=\"31bf3856/../../../x\"";

	world_init(&w, "1");
	dirs[0] = ef_package(&w, "5018", "--kind", "update", "--files", "1", NULL);
	mum = offtest_strdup_printf("%s/update.mum", dirs[0]);
	text = offtest_read_file(mum, &len);
	ck_assert_ptr_nonnull(text);
	at = strstr(text, good);
	ck_assert_ptr_nonnull(at);
	{
		char *out = offtest_strdup_printf("%.*s%s%s", (int)(at - text), text, bad,
		                                  at + strlen(good));
		ck_assert_int_eq(offtest_write_file(mum, out, strlen(out)), 0);
		free(out);
	}
	s = service(&w, dirs, 1, 0, NULL, &rep, err, sizeof(err));
	ck_assert_msg(OFFSERV_FAILED(s), "a hostile identity was installed");
	ck_assert_int_eq(rep.results[0].outcome, OFFSERV_OUTCOME_FAILED);
	ck_assert_msg(ef_same_file(w.wim, w.orig), "the image changed");
	offserv_engine_report_clear(&rep);
	free(text);
	free(mum);
	free(dirs[0]);
	ef_world_free(&w);
}
END_TEST

/* The fixture itself: every entry of the image carries a descriptor, links are kept. */
START_TEST(test_fixture_descriptors)
{
	struct ef_world w;
	struct ic *c;
	struct ic_stat a, b, d;
	char e2[512];

	world_init(&w, "1");
	ck_assert_int_eq(ic_open(w.wim, &c, e2, sizeof(e2)), 0);
	ck_assert_int_eq(ic_stat(c, 1, "/Windows/System32/kernel32.dll", &a, e2, sizeof(e2)), 0);
	ck_assert_int_eq(ic_stat(c, 1, "/Windows/System32", &d, e2, sizeof(e2)), 0);
	ck_assert(a.exists && a.sd && a.sd_len > 20);
	ck_assert_uint_eq(a.nlinks, 2);
	ck_assert(a.attributes & 0x20);
	ck_assert(d.exists && d.is_dir && d.sd && d.sd_len > 20);
	{
		uint8_t *sd;
		size_t len;
		char e3[256];

		ck_assert_int_eq(offserv_sddl_to_sd(offserv_sddl_wrp_file_default(), &sd, &len, e3,
		                                    sizeof(e3)),
		                 OFFSERV_OK);
		ck_assert_uint_eq(a.sd_len, len);
		ck_assert(memcmp(a.sd, sd, len) == 0);
		ck_assert(d.sd_len != len || memcmp(d.sd, sd, len) != 0);
		free(sd);
	}
	ck_assert_int_eq(ic_stat(c, 1, "/Windows/System32/config/SOFTWARE", &b, e2, sizeof(e2)), 0);
	ck_assert(b.exists && b.sd);
	ic_stat_clear(&a);
	ic_stat_clear(&b);
	ic_stat_clear(&d);
	ic_close(c);
	ef_world_free(&w);
}
END_TEST

static Suite *engine_suite(void)
{
	Suite *s = suite_create("engine");
	TCase *tc = tcase_create("service");

	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_fixture_descriptors);
	tcase_add_test(tc, test_one_cab);
	tcase_add_test(tc, test_multi_index_one_write);
	tcase_add_test(tc, test_registry);
	tcase_add_test(tc, test_pending);
	tcase_add_test(tc, test_not_applicable_mixed);
	tcase_add_test(tc, test_already_installed);
	tcase_add_test(tc, test_superseding);
	tcase_add_test(tc, test_failed_corrupt_payload);
	tcase_add_test(tc, test_cancelled);
	tcase_add_test(tc, test_lcu_needs_ssu);
	tcase_add_test(tc, test_hostile_identity);
	tcase_add_test(tc, test_msu_ssu_lcu);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	char *mk_path = ef_mkfixture_path();
	int ok = access(mk_path, X_OK) == 0;

	free(mk_path);
	if (!ok)
		return offtest_skip_all("offserv-mkfixture was not built");
	if (system("command -v mkntfs >/dev/null 2>&1 || test -x /sbin/mkntfs || test -x /usr/sbin/mkntfs") != 0)
		return offtest_skip_all("mkntfs (ntfs-3g) is not installed");
	if (system("command -v gcab >/dev/null 2>&1") != 0)
		return offtest_skip_all("gcab is not installed");
	return offtest_run(engine_suite());
}
