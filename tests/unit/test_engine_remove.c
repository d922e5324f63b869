/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Package removal, component store cleanup, pending revert and store
 * analysis: fixture images serviced through the engine, then read back
 * independently (imagecheck.c: wimlib and hivex directly) and compared
 * with images that never had the removed package.
 */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <wimlib.h>

#include <offserv/engine.h>
#include <offserv/util.h>

#include "enginefix.h"
#include "imagecheck.h"
#include "testutil.h"

#define STATE_INSTALLED 0x70
#define STATE_PENDING 0x60
#define STATE_SUPERSEDED 0x50
#define STATE_PERMANENT 0x80
#define CBS "Microsoft\\Windows\\CurrentVersion\\Component Based Servicing"

/* Left out of whole-image comparisons: the hives are compared key by key. */
static const char *const skip_hives[] = {"/windows/system32/config", NULL};

/* The image of these tests: one index, four files, one edition. */
static void world_init(struct ef_world *w)
{
	ef_world_init(w, "1", "4", "Professional", "21");
}

/*
 * Two cumulative updates under the world: KB @p kb_a at revision 3920 and
 * KB @p kb_b at 4000, superseding it, each of @p files files of which one
 * replaces kernel32.dll; their identities too when @p ids is not NULL.
 */
static void superseding_pair(struct ef_world *w, const char *kb_a, const char *kb_b,
                             const char *files, char **dirs, char **ids)
{
	dirs[0] = ef_package(w, kb_a, "--revision", "3920", "--files", files, "--replace", "1",
	                     NULL);
	dirs[1] = ef_package(w, kb_b, "--revision", "4000", "--files", files, "--replace", "1",
	                     NULL);
	if (ids) {
		ids[0] = ic_package_identity(dirs[0]);
		ids[1] = ic_package_identity(dirs[1]);
	}
}

/* Free two package folders and their identities, then the world. */
static void pair_free(struct ef_world *w, char **dirs, char **ids)
{
	for (int i = 0; i < 2; i++) {
		free(dirs[i]);
		free(ids[i]);
	}
	ef_world_free(w);
}

static char *copy_of(struct ef_world *w, const char *name)
{
	char *p = offtest_strdup_printf("%s/%s", w->dir, name);

	ck_assert_int_eq(offserv_copy_file(w->wim, p, NULL, NULL, 0), OFFSERV_OK);
	return p;
}

static long long file_size(const char *p)
{
	struct stat st;

	ck_assert_int_eq(stat(p, &st), 0);
	return (long long)st.st_size;
}

struct cancel_at {
	const char *step;
	size_t calls;
};

static int on_progress(void *ctx, const struct offserv_engine_progress *p)
{
	struct cancel_at *c = ctx;

	c->calls++;
	return c->step && p->step && strcmp(p->step, c->step) == 0;
}

static void options(struct ef_world *w, struct offserv_engine_options *o, int continue_on_error)
{
	ef_engine_options(o, w->image_dir ? NULL : w->wim, w->scratch, continue_on_error);
	o->image_dir = w->image_dir;
}

static void install(struct ef_world *w, char **dirs, size_t n)
{
	struct offserv_engine_package pkgs[4];
	struct offserv_engine_options o;
	struct offserv_engine_report rep;
	char err[1024] = "";
	offserv_status s;

	memset(pkgs, 0, sizeof(pkgs));
	for (size_t i = 0; i < n; i++)
		pkgs[i].dir = dirs[i];
	options(w, &o, 0);
	s = offserv_engine_service(&o, pkgs, n, &rep, err, sizeof(err));
	ck_assert_msg(s == OFFSERV_OK || s == OFFSERV_S_REBOOT_REQUIRED, "install: 0x%08x %s", s,
	              err);
	offserv_engine_report_clear(&rep);
}

static offserv_status remove_ids(struct ef_world *w, const char *const *ids, size_t n, int coe,
                                 struct cancel_at *cancel, struct offserv_engine_report *rep,
                                 char *err, size_t errlen)
{
	struct offserv_engine_options o;

	options(w, &o, coe);
	if (cancel) {
		o.progress = on_progress;
		o.progress_ctx = cancel;
	}
	return offserv_engine_remove(&o, ids, n, rep, err, errlen);
}

/* Removing @p id is refused (the package is permanent) and leaves the WIM as @p before. */
static void assert_removal_refused(struct ef_world *w, const char *id, const char *before)
{
	struct offserv_engine_report rep;
	char err[1024] = "";
	offserv_status s;

	s = remove_ids(w, &id, 1, 0, NULL, &rep, err, sizeof(err));
	ck_assert_uint_eq(s, OFFSERV_CBS_E_CANNOT_UNINSTALL);
	ck_assert_int_eq(rep.results[0].outcome, OFFSERV_OUTCOME_PERMANENT);
	offserv_engine_report_clear(&rep);
	ck_assert_msg(ef_same_file(w->wim, before), "a refused removal changed the image");
}

static offserv_status cleanup(struct ef_world *w, unsigned flags, int rebuild,
                              struct offserv_engine_report *rep, char *err, size_t errlen)
{
	struct offserv_engine_options o;

	options(w, &o, 0);
	o.rebuild = rebuild;
	return offserv_engine_cleanup(&o, flags, rep, err, errlen);
}

static void analyze(struct ef_world *w, struct offserv_component_store_info *info)
{
	struct offserv_engine_options o;
	char err[1024] = "";
	offserv_status s;

	options(w, &o, 0);
	s = offserv_engine_analyze(&o, 1, info, err, sizeof(err));
	ck_assert_msg(s == OFFSERV_OK, "analyze: 0x%08x %s", s, err);
}

static const struct offserv_engine_result *result_named(const struct offserv_engine_report *rep,
                                                        const char *identity)
{
	for (size_t i = 0; i < rep->n_results; i++)
		if (rep->results[i].identity && strcasecmp(rep->results[i].identity, identity) == 0)
			return &rep->results[i];
	return NULL;
}

/* The two WIMs' index 1: the same files, links, descriptors and registrations. */
static void assert_same_image(const char *a, const char *b)
{
	struct ic *ca, *cb;
	char err[1024] = "";
	static const char *const keys[][2] = {
		{"SOFTWARE", CBS "\\Packages"},
		{"SOFTWARE", CBS "\\PackageIndex"},
		{"SOFTWARE", "Microsoft\\Windows\\CurrentVersion"},
		{"SYSTEM", "ControlSet001\\Services"},
		{"COMPONENTS", "DerivedData\\Components"},
		{"COMPONENTS", "CanonicalData\\Deployments"},
	};

	ck_assert_msg(ic_open(a, &ca, err, sizeof(err)) == 0, "%s", err);
	ck_assert_msg(ic_open(b, &cb, err, sizeof(err)) == 0, "%s", err);
	ck_assert_msg(ic_tree_compare(ca, 1, cb, 1, skip_hives, err, sizeof(err)) == 0, "%s", err);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		hive_h *ha = ic_hive(ca, 1, keys[i][0], err, sizeof(err));
		hive_h *hb;

		ck_assert_msg(ha != NULL, "%s", err);
		hb = ic_hive(cb, 1, keys[i][0], err, sizeof(err));
		ck_assert_msg(hb != NULL, "%s", err);
		ck_assert_msg(ic_subkeys_equal(ha, hb, keys[i][1], err, sizeof(err)) == 0, "%s: %s",
		              keys[i][0], err);
		hivex_close(ha);
		hivex_close(hb);
	}
	ic_close(ca);
	ic_close(cb);
}

/* Every package's CurrentState in the two images agrees. */
static void assert_same_states(const char *a, const char *b, const char *const *ids, size_t n)
{
	struct ic *ca, *cb;
	char err[512];

	ck_assert_msg(ic_open(a, &ca, err, sizeof(err)) == 0, "%s", err);
	ck_assert_msg(ic_open(b, &cb, err, sizeof(err)) == 0, "%s", err);
	for (size_t i = 0; i < n; i++)
		ck_assert_msg(ic_package_state(ca, 1, ids[i]) == ic_package_state(cb, 1, ids[i]),
		              "%s: state 0x%llx against 0x%llx", ids[i],
		              (long long)ic_package_state(ca, 1, ids[i]),
		              (long long)ic_package_state(cb, 1, ids[i]));
	ic_close(ca);
	ic_close(cb);
}

static int64_t state_in(const char *wim, const char *identity)
{
	struct ic *c;
	char err[512];
	int64_t st;

	ck_assert_msg(ic_open(wim, &c, err, sizeof(err)) == 0, "%s", err);
	st = ic_package_state(c, 1, identity);
	ic_close(c);
	return st;
}

static int exists_in(const char *wim, const char *path)
{
	struct ic *c;
	struct ic_stat st;
	char err[512];
	int e;

	ck_assert_msg(ic_open(wim, &c, err, sizeof(err)) == 0, "%s", err);
	ck_assert_msg(ic_stat(c, 1, path, &st, err, sizeof(err)) == 0, "%s", err);
	e = st.exists;
	ic_stat_clear(&st);
	ic_close(c);
	return e;
}

/* The store folder of the package's component whose name contains @p part. */
static char *store_folder(const char *pkgdir, const char *part)
{
	struct ic_package p;
	char err[512], *out = NULL;

	ck_assert_msg(ic_package_load(pkgdir, &p, err, sizeof(err)) == 0, "%s", err);
	for (size_t i = 0; i < p.n_comps && !out; i++)
		if (strstr(p.comps[i].key_form, part))
			out = offtest_strdup_printf("/Windows/WinSxS/%s", p.comps[i].key_form);
	ic_package_clear(&p);
	ck_assert_ptr_nonnull(out);
	return out;
}

/* ---------------------------------------------------------------------- */

/*
 * A, then B superseding it (both replace kernel32.dll); removing B brings
 * back exactly the image that had A alone: A Installed, its kernel32.dll
 * projected (one inode with its store copy, its descriptor), B's store
 * folders, registration and files gone.  Installing B again gives the
 * image the first install of B gave.
 */
START_TEST(test_remove_superseding)
{
	struct ef_world w;
	struct offserv_engine_report rep;
	char err[1024] = "", *dirs[2], *ids[2], *a_only, *ab, *b_store;
	offserv_status s;

	world_init(&w);
	superseding_pair(&w, "5101", "5102", "2", dirs, ids);
	install(&w, dirs, 1);
	a_only = copy_of(&w, "a-only.wim");
	install(&w, dirs + 1, 1);
	ab = copy_of(&w, "ab.wim");
	ck_assert_int_eq(state_in(w.wim, ids[0]), STATE_SUPERSEDED);
	b_store = store_folder(dirs[1], "kernel32");
	ck_assert(exists_in(w.wim, b_store));

	s = remove_ids(&w, (const char *const *)&ids[1], 1, 0, NULL, &rep, err, sizeof(err));
	ck_assert_msg(s == OFFSERV_OK, "0x%08x %s", s, err);
	ck_assert_int_eq(rep.committed, 1);
	ck_assert_uint_eq(rep.n_results, 1);
	ck_assert_int_eq(rep.results[0].outcome, OFFSERV_OUTCOME_REMOVED);
	offserv_engine_report_clear(&rep);
	ck_assert_int_eq(state_in(w.wim, ids[0]), STATE_INSTALLED);
	ck_assert_int_eq(state_in(w.wim, ids[1]), -1);
	ck_assert(!exists_in(w.wim, b_store));
	assert_same_image(w.wim, a_only);
	assert_same_states(w.wim, a_only, (const char *const *)ids, 2);
	ck_assert_int_eq(ic_wimlib_verify(w.wim) >= 0, 1);

	/* Installed again, B gives what its first install gave. */
	install(&w, dirs + 1, 1);
	assert_same_image(w.wim, ab);
	assert_same_states(w.wim, ab, (const char *const *)ids, 2);

	/* Both in one run, newest first: the image of before either. */
	{
		const char *both[2] = {ids[1], ids[0]};

		s = remove_ids(&w, both, 2, 0, NULL, &rep, err, sizeof(err));
		ck_assert_msg(s == OFFSERV_OK, "0x%08x %s", s, err);
		ck_assert_int_eq(result_named(&rep, ids[0])->outcome, OFFSERV_OUTCOME_REMOVED);
		ck_assert_int_eq(result_named(&rep, ids[1])->outcome, OFFSERV_OUTCOME_REMOVED);
		offserv_engine_report_clear(&rep);
		assert_same_image(w.wim, w.orig);
	}
	free(b_store);
	free(a_only);
	free(ab);
	pair_free(&w, dirs, ids);
}
END_TEST

/* A package with registry keys: its values and keys leave with it. */
START_TEST(test_remove_registry)
{
	struct ef_world w;
	struct offserv_engine_report rep;
	char err[1024] = "", *dir, *id;
	offserv_status s;
	struct ic *c;
	hive_h *sw, *sys;

	world_init(&w);
	dir = ef_package(&w, "5103", "--kind", "update", "--files", "2", "--registry", NULL);
	id = ic_package_identity(dir);
	install(&w, &dir, 1);
	ck_assert_int_eq(ic_open(w.wim, &c, err, sizeof(err)), 0);
	sw = ic_hive(c, 1, "SOFTWARE", err, sizeof(err));
	ck_assert_ptr_nonnull(sw);
	ck_assert_msg(ic_key(sw, "Microsoft\\Windows\\CurrentVersion\\OffservFixture\\KB5103") != 0,
	              "the install did not write the fixture's keys");
	hivex_close(sw);
	ic_close(c);

	s = remove_ids(&w, (const char *const *)&id, 1, 0, NULL, &rep, err, sizeof(err));
	ck_assert_msg(s == OFFSERV_OK, "0x%08x %s", s, err);
	ck_assert_int_eq(rep.results[0].outcome, OFFSERV_OUTCOME_REMOVED);
	offserv_engine_report_clear(&rep);
	ck_assert_int_eq(ic_open(w.wim, &c, err, sizeof(err)), 0);
	sw = ic_hive(c, 1, "SOFTWARE", err, sizeof(err));
	sys = ic_hive(c, 1, "SYSTEM", err, sizeof(err));
	ck_assert_ptr_nonnull(sw);
	ck_assert_ptr_nonnull(sys);
	ck_assert(ic_key(sw, "Microsoft\\Windows\\CurrentVersion\\OffservFixture") == 0);
	ck_assert(ic_key(sys, "ControlSet001\\Services\\OffservFixture") == 0);
	ck_assert(ic_key(sw, CBS "\\Packages\\Package_for_KB5103~31bf3856ad364e35~amd64~~10.0.19041.3920") == 0);
	hivex_close(sw);
	hivex_close(sys);
	ic_close(c);
	assert_same_image(w.wim, w.orig);
	free(dir);
	free(id);
	ef_world_free(&w);
}
END_TEST

/* A package that is not installed: 0x800f080c, nothing written; with continue-on-error the rest goes on. */
START_TEST(test_remove_not_present)
{
	struct ef_world w;
	struct offserv_engine_report rep;
	char err[1024] = "", *dir, *id, *before;
	const char *ghost = "Package_for_KB9999~31bf3856ad364e35~amd64~~10.0.1.0";
	const char *ids[2];
	offserv_status s;

	world_init(&w);
	dir = ef_package(&w, "5104", "--kind", "update", "--files", "1", NULL);
	id = ic_package_identity(dir);
	install(&w, &dir, 1);
	before = copy_of(&w, "before.wim");
	ids[0] = ghost;
	ids[1] = id;

	s = remove_ids(&w, ids, 2, 0, NULL, &rep, err, sizeof(err));
	ck_assert_uint_eq(s, OFFSERV_CBS_E_UNKNOWN_UPDATE);
	ck_assert_int_eq(rep.committed, 0);
	ck_assert_int_eq(result_named(&rep, ghost)->outcome, OFFSERV_OUTCOME_NOT_PRESENT);
	ck_assert_uint_eq(result_named(&rep, ghost)->status, 0x800f080cu);
	ck_assert_int_eq(result_named(&rep, id)->outcome, OFFSERV_OUTCOME_NOT_ATTEMPTED);
	offserv_engine_report_clear(&rep);
	ck_assert_msg(ef_same_file(w.wim, before), "a failed removal changed the image");

	s = remove_ids(&w, ids, 2, 1, NULL, &rep, err, sizeof(err));
	ck_assert_msg(s == OFFSERV_OK, "0x%08x %s", s, err);
	ck_assert_int_eq(rep.committed, 1);
	ck_assert_int_eq(result_named(&rep, ghost)->outcome, OFFSERV_OUTCOME_NOT_PRESENT);
	ck_assert_int_eq(result_named(&rep, id)->outcome, OFFSERV_OUTCOME_REMOVED);
	offserv_engine_report_clear(&rep);
	ck_assert_int_eq(state_in(w.wim, id), -1);
	assert_same_image(w.wim, w.orig);
	free(before);
	free(dir);
	free(id);
	ef_world_free(&w);
}
END_TEST

/* The foundation package and a servicing stack cannot be removed: 0x800f0825, image untouched. */
START_TEST(test_remove_permanent)
{
	struct ef_world w;
	struct offserv_engine_report rep;
	char err[1024] = "", *ssu, *ssu_id, *before, *foundation = NULL;
	offserv_status s;
	struct ic *c;
	hive_h *sw;
	hive_node_h k, *kids;

	world_init(&w);
	ssu = ef_package(&w, "5105", "--kind", "ssu", "--revision", "3920", NULL);
	ssu_id = ic_package_identity(ssu);
	install(&w, &ssu, 1);
	before = copy_of(&w, "before.wim");
	ck_assert_int_eq(ic_open(w.wim, &c, err, sizeof(err)), 0);
	sw = ic_hive(c, 1, "SOFTWARE", err, sizeof(err));
	ck_assert_ptr_nonnull(sw);
	k = ic_key(sw, CBS "\\Packages");
	ck_assert(k != 0);
	kids = hivex_node_children(sw, k);
	for (size_t i = 0; kids && kids[i] && !foundation; i++) {
		char *name = hivex_node_name(sw, kids[i]);
		if (name && strncmp(name, "Microsoft-Windows-Foundation-Package~", 37) == 0)
			foundation = name;
		else
			free(name);
	}
	free(kids);
	hivex_close(sw);
	ic_close(c);
	ck_assert_ptr_nonnull(foundation);

	s = remove_ids(&w, (const char *const *)&foundation, 1, 0, NULL, &rep, err, sizeof(err));
	ck_assert_uint_eq(s, OFFSERV_CBS_E_CANNOT_UNINSTALL);
	ck_assert_int_eq(rep.results[0].outcome, OFFSERV_OUTCOME_PERMANENT);
	ck_assert_uint_eq(rep.results[0].status, 0x800f0825u);
	ck_assert_int_eq(rep.committed, 0);
	offserv_engine_report_clear(&rep);
	ck_assert_msg(ef_same_file(w.wim, before), "a refused removal changed the image");

	assert_removal_refused(&w, ssu_id, before);
	free(foundation);
	free(before);
	free(ssu);
	free(ssu_id);
	ef_world_free(&w);
}
END_TEST

/* Cancelled at each step of a removal: the WIM is byte-identical. */
START_TEST(test_remove_cancel)
{
	static const char *const steps[] = {"Removing", "Staging", "updating", "writing"};
	struct ef_world w;
	struct offserv_engine_report rep;
	char err[1024] = "", *dirs[2], *id, *before;
	offserv_status s;

	world_init(&w);
	superseding_pair(&w, "5106", "5107", "2", dirs, NULL);
	install(&w, dirs, 2);
	id = ic_package_identity(dirs[1]);
	before = copy_of(&w, "before.wim");
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		struct cancel_at ca = {steps[i], 0};

		s = remove_ids(&w, (const char *const *)&id, 1, 0, &ca, &rep, err, sizeof(err));
		ck_assert_msg(s == OFFSERV_E_ABORT, "cancel at %s: 0x%08x %s", steps[i], s, err);
		ck_assert_int_eq(rep.committed, 0);
		ck_assert_int_eq(result_named(&rep, id)->outcome, OFFSERV_OUTCOME_CANCELLED);
		offserv_engine_report_clear(&rep);
		ck_assert_msg(ef_same_file(w.wim, before), "cancel at %s changed the image", steps[i]);
	}
	free(before);
	free(id);
	free(dirs[0]);
	free(dirs[1]);
	ef_world_free(&w);
}
END_TEST

/*
 * Cleanup: the superseded kernel32.dll of A leaves the store, A is
 * reported Cleaned and stays registered as Superseded; the analysis before
 * and after agrees; B can no longer be removed (A's payload is gone).
 */
START_TEST(test_cleanup)
{
	struct ef_world w;
	struct offserv_engine_report rep;
	struct offserv_component_store_info before, after;
	char err[1024] = "", *dirs[2], *ids[2], *a_store, *b_store, *copy;
	offserv_status s;
	time_t t0, t1;

	world_init(&w);
	superseding_pair(&w, "5108", "5109", "2", dirs, ids);
	install(&w, dirs, 2);
	a_store = store_folder(dirs[0], "kernel32");
	b_store = store_folder(dirs[1], "kernel32");
	analyze(&w, &before);
	ck_assert_uint_eq(before.reclaimable_packages, 1);
	ck_assert_int_eq(before.cleanup_recommended, 1);
	ck_assert_uint_gt(before.backups_and_disabled, 0);
	ck_assert_int_eq(before.last_cleanup, 0);
	ck_assert_uint_ge(before.explorer_size, before.actual_size);
	ck_assert_uint_ge(before.actual_size, before.shared_with_windows + before.backups_and_disabled);
	ck_assert_uint_gt(before.shared_with_windows, 0);
	copy = copy_of(&w, "rebuilt.wim");

	t0 = time(NULL);
	s = cleanup(&w, 0, 0, &rep, err, sizeof(err));
	t1 = time(NULL);
	ck_assert_msg(s == OFFSERV_OK, "0x%08x %s", s, err);
	ck_assert_int_eq(rep.committed, 1);
	ck_assert_uint_eq(rep.n_results, 1);
	ck_assert_str_eq(rep.results[0].identity, ids[0]);
	ck_assert_int_eq(rep.results[0].outcome, OFFSERV_OUTCOME_CLEANED);
	offserv_engine_report_clear(&rep);
	ck_assert(!exists_in(w.wim, a_store));
	ck_assert(exists_in(w.wim, b_store));
	ck_assert_int_eq(state_in(w.wim, ids[0]), STATE_SUPERSEDED);
	ck_assert_int_eq(state_in(w.wim, ids[1]), STATE_INSTALLED);

	analyze(&w, &after);
	ck_assert_uint_eq(after.reclaimable_packages, 0);
	ck_assert_int_eq(after.cleanup_recommended, 0);
	ck_assert_uint_eq(after.backups_and_disabled, 0);
	/* The payload went, and its manifest (a few KiB) with it. */
	ck_assert_uint_le(after.explorer_size, before.explorer_size - before.backups_and_disabled);
	ck_assert_uint_ge(after.explorer_size + 65536, before.explorer_size - before.backups_and_disabled);
	ck_assert_uint_le(after.actual_size, before.actual_size - before.backups_and_disabled);
	ck_assert_uint_eq(after.shared_with_windows, before.shared_with_windows);
	ck_assert_int_ge(after.last_cleanup, (int64_t)t0);
	ck_assert_int_le(after.last_cleanup, (int64_t)t1);

	/* A second cleanup finds nothing more. */
	s = cleanup(&w, 0, 0, &rep, err, sizeof(err));
	ck_assert_msg(s == OFFSERV_OK, "0x%08x %s", s, err);
	ck_assert_uint_eq(rep.n_results, 0);
	offserv_engine_report_clear(&rep);

	/* B's removal would need A's kernel32.dll, which is gone. */
	{
		char *b4 = copy_of(&w, "b4.wim");

		assert_removal_refused(&w, ids[1], b4);
		free(b4);
	}

	/* The same cleanup with a rebuild leaves a smaller file. */
	{
		char *keep = w.wim;

		w.wim = copy;
		s = cleanup(&w, 0, 1, &rep, err, sizeof(err));
		w.wim = keep;
		ck_assert_msg(s == OFFSERV_OK, "0x%08x %s", s, err);
		ck_assert_int_eq(rep.committed, 1);
		offserv_engine_report_clear(&rep);
		ck_assert_msg(file_size(copy) < file_size(w.wim), "rebuilt %lld bytes, appended %lld",
		              file_size(copy), file_size(w.wim));
		ck_assert(!exists_in(copy, a_store));
	}
	free(copy);
	free(a_store);
	free(b_store);
	pair_free(&w, dirs, ids);
}
END_TEST

/* /ResetBase: the superseded package leaves the registration, the rest becomes permanent. */
START_TEST(test_reset_base)
{
	struct ef_world w;
	struct offserv_engine_report rep;
	char err[1024] = "", *dirs[2], *ids[2], *b4;
	offserv_status s;

	world_init(&w);
	superseding_pair(&w, "5110", "5111", "1", dirs, ids);
	install(&w, dirs, 2);
	s = cleanup(&w, OFFSERV_CLEANUP_RESET_BASE, 0, &rep, err, sizeof(err));
	ck_assert_msg(s == OFFSERV_OK, "0x%08x %s", s, err);
	ck_assert_int_eq(result_named(&rep, ids[0])->outcome, OFFSERV_OUTCOME_CLEANED);
	offserv_engine_report_clear(&rep);
	ck_assert_int_eq(state_in(w.wim, ids[0]), -1);
	ck_assert_int_eq(state_in(w.wim, ids[1]), STATE_PERMANENT);
	{
		char *mum = offtest_strdup_printf("/Windows/servicing/Packages/%s.mum", ids[0]);

		ck_assert(!exists_in(w.wim, mum));
		free(mum);
	}

	b4 = copy_of(&w, "b4.wim");
	assert_removal_refused(&w, ids[1], b4);
	ck_assert_int_eq(ic_wimlib_verify(w.wim) >= 0, 1);
	free(b4);
	pair_free(&w, dirs, ids);
}
END_TEST

/* RevertPendingActions: the Install Pending package and pending.xml go away. */
START_TEST(test_revert_pending)
{
	struct ef_world w;
	struct offserv_engine_report rep;
	struct offserv_engine_options o;
	char err[1024] = "", *dirs[2], *ids[2];
	offserv_status s;
	struct ic *c;
	hive_h *comp;

	world_init(&w);
	dirs[0] = ef_package(&w, "5112", "--kind", "update", "--files", "1", NULL);
	dirs[1] = ef_package(&w, "5113", "--kind", "update", "--files", "1", "--pending", NULL);
	ids[0] = ic_package_identity(dirs[0]);
	ids[1] = ic_package_identity(dirs[1]);
	install(&w, dirs, 1);
	{
		char *one = copy_of(&w, "one.wim");

		install(&w, dirs + 1, 1);
		ck_assert_int_eq(state_in(w.wim, ids[1]), STATE_PENDING);
		ck_assert(exists_in(w.wim, "/Windows/WinSxS/pending.xml"));
		/* Pending actions block a cleanup. */
		{
			char *pend = copy_of(&w, "pending.wim");

			s = cleanup(&w, 0, 0, &rep, err, sizeof(err));
			ck_assert_uint_eq(s, OFFSERV_CBS_E_PENDING);
			ck_assert_int_eq(rep.committed, 0);
			offserv_engine_report_clear(&rep);
			ck_assert_msg(ef_same_file(w.wim, pend), "a refused cleanup changed the image");
			free(pend);
		}
		options(&w, &o, 0);
		s = offserv_engine_revert_pending(&o, &rep, err, sizeof(err));
		ck_assert_msg(s == OFFSERV_OK, "0x%08x %s", s, err);
		ck_assert_uint_eq(rep.n_results, 1);
		ck_assert_str_eq(rep.results[0].identity, ids[1]);
		ck_assert_int_eq(rep.results[0].outcome, OFFSERV_OUTCOME_REVERTED);
		offserv_engine_report_clear(&rep);
		ck_assert(!exists_in(w.wim, "/Windows/WinSxS/pending.xml"));
		ck_assert_int_eq(state_in(w.wim, ids[0]), STATE_INSTALLED);
		ck_assert_int_eq(state_in(w.wim, ids[1]), -1);
		assert_same_image(w.wim, one);
		ck_assert_int_eq(ic_open(w.wim, &c, err, sizeof(err)), 0);
		comp = ic_hive(c, 1, "COMPONENTS", err, sizeof(err));
		ck_assert_ptr_nonnull(comp);
		ck_assert_uint_eq(hivex_node_get_value(comp, hivex_root(comp), "PendingXmlIdentifier"), 0);
		hivex_close(comp);
		ic_close(c);
		free(one);
	}
	pair_free(&w, dirs, ids);
}
END_TEST

/* The directory backend: install A and B into an applied tree, remove B, A's file is back. */
START_TEST(test_remove_directory)
{
	struct ef_world w;
	struct offserv_engine_report rep;
	char err[1024] = "", *dirs[2], *ids[2], *k32, *a_store_file, *b_store_dir, *p;
	WIMStruct *wim = NULL;
	struct stat s1, s2;
	offserv_status s;
	int rc;

	world_init(&w);
	w.image_dir = offtest_strdup_printf("%s/tree", w.dir);
	rc = wimlib_open_wim(w.wim, 0, &wim);
	ck_assert_int_eq(rc, 0);
	rc = wimlib_extract_image(wim, 1, w.image_dir, 0);
	wimlib_free(wim);
	ck_assert_msg(rc == 0, "wimlib_extract_image: %s", wimlib_get_error_string(rc));
	superseding_pair(&w, "5114", "5115", "2", dirs, ids);
	install(&w, dirs, 2);
	s = remove_ids(&w, (const char *const *)&ids[1], 1, 0, NULL, &rep, err, sizeof(err));
	ck_assert_msg(s == OFFSERV_OK, "0x%08x %s", s, err);
	ck_assert_int_eq(rep.results[0].outcome, OFFSERV_OUTCOME_REMOVED);
	ck_assert_int_eq(rep.committed, 1);
	offserv_engine_report_clear(&rep);
	k32 = offtest_strdup_printf("%s/Windows/System32/kernel32.dll", w.image_dir);
	p = store_folder(dirs[0], "kernel32");
	a_store_file = offtest_strdup_printf("%s%s/kernel32.dll", w.image_dir, p);
	free(p);
	p = store_folder(dirs[1], "kernel32");
	b_store_dir = offtest_strdup_printf("%s%s", w.image_dir, p);
	free(p);
	ck_assert_int_eq(stat(k32, &s1), 0);
	ck_assert_int_eq(stat(a_store_file, &s2), 0);
	ck_assert_msg(s1.st_ino == s2.st_ino, "kernel32.dll is not A's store copy");
	ck_assert_int_ne(access(b_store_dir, F_OK), 0);
	{
		char *mum = offtest_strdup_printf("%s/Windows/servicing/Packages/%s.mum", w.image_dir,
		                                  ids[1]);
		ck_assert_int_ne(access(mum, F_OK), 0);
		free(mum);
	}
	/* The analysis of a tree works too. */
	{
		struct offserv_component_store_info info;

		analyze(&w, &info);
		ck_assert_uint_gt(info.explorer_size, 0);
		ck_assert_uint_eq(info.reclaimable_packages, 0);
	}
	free(k32);
	free(a_store_file);
	free(b_store_dir);
	pair_free(&w, dirs, ids);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("engine_remove");
	TCase *tc = tcase_create("remove");

	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_remove_superseding);
	tcase_add_test(tc, test_remove_registry);
	tcase_add_test(tc, test_remove_not_present);
	tcase_add_test(tc, test_remove_permanent);
	tcase_add_test(tc, test_remove_cancel);
	tcase_add_test(tc, test_cleanup);
	tcase_add_test(tc, test_reset_base);
	tcase_add_test(tc, test_revert_pending);
	tcase_add_test(tc, test_remove_directory);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	char *prog = ef_mkfixture_path();
	int have = access(prog, X_OK) == 0;

	free(prog);
	if (!have)
		return offtest_skip_all("offserv-mkfixture was not built");
	if (system("command -v mkntfs >/dev/null 2>&1 || test -x /sbin/mkntfs || test -x /usr/sbin/mkntfs") != 0)
		return offtest_skip_all("mkntfs (ntfs-3g) is not installed");
	if (system("command -v gcab >/dev/null 2>&1") != 0)
		return offtest_skip_all("gcab is not installed");
	return offtest_run(suite());
}
