/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <config.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include <offserv/sitedb.h>

#include "testutil.h"

static char *tmp;
static char *dbpath;
static char err[1024];

static void setup(void)
{
	tmp = offtest_tmpdir();
	ck_assert_ptr_nonnull(tmp);
	dbpath = offtest_strdup_printf("%s/site.db", tmp);
	err[0] = '\0';
}

static void teardown(void)
{
	offtest_rmtree(tmp);
	free(tmp);
	free(dbpath);
}

static struct offserv_sitedb *open_db(void)
{
	struct offserv_sitedb *db = NULL;
	offserv_status st = offserv_sitedb_open(dbpath, NULL, &db, err, sizeof(err));

	ck_assert_msg(st == OFFSERV_OK, "open: 0x%08x %s", st, err);
	return db;
}

/* Insert an update with one package NAME/ARCH/VERSION; returns its ID. */
static int64_t add_update(struct offserv_sitedb *db, int n, const char *title, const char *arch,
                          const char *pkg_name, const char *pkg_arch, const char *version)
{
	struct offserv_update_rec r = {0};
	struct offserv_update_package_rec p = {0};
	struct offserv_update_parent_rec par = {0};
	char identity[256], file[64];
	int64_t id = 0;
	offserv_status st;

	snprintf(r.sha256, sizeof(r.sha256), "%064x", n);
	snprintf(file, sizeof(file), "update-%d.msu", n);
	r.file_name = file;
	r.library_path = file;
	r.format = "msu";
	r.title = (char *)title;
	r.arch = (char *)arch;
	r.size = 1000u + (unsigned)n;
	r.supported = 1;
	snprintf(identity, sizeof(identity), "%s~31bf3856ad364e35~%s~~%s", pkg_name, pkg_arch,
	         version);
	p.identity = identity;
	p.name = (char *)pkg_name;
	p.arch = (char *)pkg_arch;
	p.version = (char *)version;
	p.release_type = "Security Update";
	p.supported = 1;
	par.package_seq = -1;
	par.identity = "Microsoft-Windows-Foundation-Package~31bf3856ad364e35~amd64~~10.0.19041.1";
	st = offserv_sitedb_update_insert(db, &r, &p, 1, &par, 1, &id, err, sizeof(err));
	ck_assert_msg(st == OFFSERV_OK, "update insert: 0x%08x %s", st, err);
	return id;
}

START_TEST(test_create_and_migrate)
{
	struct offserv_sitedb *db = open_db();
	sqlite3 *raw;
	sqlite3_stmt *s;
	int n = 0;

	ck_assert_int_eq(offserv_sitedb_schema_version(db), OFFSERV_SITEDB_SCHEMA_VERSION);
	ck_assert_str_eq(offserv_sitedb_site_code(db), "OFS");
	offserv_sitedb_close(db);

	/* Every table the scheduler and the library rely on exists, in WAL mode. */
	ck_assert_int_eq(sqlite3_open(dbpath, &raw), SQLITE_OK);
	ck_assert_int_eq(sqlite3_prepare_v2(raw,
	                                    "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN "
	                                    "('images','image_indexes','image_packages','updates','update_packages',"
	                                    "'update_parents','schedules','schedule_updates','jobs','job_updates',"
	                                    "'dp_status')",
	                                    -1, &s, NULL),
	                 SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(s), SQLITE_ROW);
	n = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	ck_assert_int_eq(n, 11);
	ck_assert_int_eq(sqlite3_prepare_v2(raw, "PRAGMA journal_mode", -1, &s, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(s), SQLITE_ROW);
	ck_assert_str_eq((const char *)sqlite3_column_text(s, 0), "wal");
	sqlite3_finalize(s);
	ck_assert_int_eq(sqlite3_prepare_v2(raw, "PRAGMA user_version", -1, &s, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(s), SQLITE_ROW);
	ck_assert_int_eq(sqlite3_column_int(s, 0), OFFSERV_SITEDB_SCHEMA_VERSION);
	sqlite3_finalize(s);
	sqlite3_close(raw);
}
END_TEST

START_TEST(test_reopen_keeps_data_and_site_code)
{
	struct offserv_sitedb *db = NULL;
	struct offserv_image_rec img = {0}, got;
	char id[OFFSERV_PACKAGE_ID_LEN];

	ck_assert_uint_eq(offserv_sitedb_open(dbpath, "P01", &db, err, sizeof(err)), OFFSERV_OK);
	img.name = "Windows 10";
	img.source_path = "/src/install.wim";
	img.wim_path = "/site/Images/x/install.wim";
	ck_assert_uint_eq(offserv_sitedb_image_insert(db, &img, NULL, 0, NULL, 0, id, err,
	                                              sizeof(err)),
	                  OFFSERV_OK);
	ck_assert_str_eq(id, "P0100001");
	offserv_sitedb_close(db);

	/* Reopening with another site code keeps the database's own. */
	ck_assert_uint_eq(offserv_sitedb_open(dbpath, "ZZZ", &db, err, sizeof(err)), OFFSERV_OK);
	ck_assert_str_eq(offserv_sitedb_site_code(db), "P01");
	ck_assert_uint_eq(offserv_sitedb_image_get(db, "P0100001", &got, err, sizeof(err)),
	                  OFFSERV_OK);
	ck_assert_str_eq(got.name, "Windows 10");
	ck_assert_str_eq(got.type, "os_image");
	ck_assert_ptr_nonnull(got.imported_at);
	offserv_image_rec_clear(&got);
	offserv_sitedb_close(db);
}
END_TEST

START_TEST(test_bad_site_code)
{
	struct offserv_sitedb *db = NULL;

	ck_assert_uint_eq(offserv_sitedb_open(dbpath, "abcd", &db, err, sizeof(err)),
	                  OFFSERV_E_INVALIDARG);
	ck_assert_ptr_null(db);
	ck_assert_int_ne(access(dbpath, F_OK), 0);
}
END_TEST

START_TEST(test_newer_schema_refused)
{
	struct offserv_sitedb *db = open_db();
	sqlite3 *raw;

	offserv_sitedb_close(db);
	ck_assert_int_eq(sqlite3_open(dbpath, &raw), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(raw, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(raw);
	db = NULL;
	ck_assert_uint_eq(offserv_sitedb_open(dbpath, NULL, &db, err, sizeof(err)),
	                  OFFSERV_E_OLD_WIN_VERSION);
	ck_assert_ptr_null(db);
	ck_assert_ptr_nonnull(strstr(err, "99"));
	ck_assert_ptr_nonnull(strstr(err, "newer"));
}
END_TEST

START_TEST(test_not_a_database)
{
	struct offserv_sitedb *db = NULL;
	char junk[4096];

	memset(junk, 'x', sizeof(junk));
	ck_assert_int_eq(offtest_write_file(dbpath, junk, sizeof(junk)), 0);
	ck_assert_uint_eq(offserv_sitedb_open(dbpath, NULL, &db, err, sizeof(err)),
	                  OFFSERV_E_FILE_CORRUPT);
	ck_assert_ptr_null(db);
	ck_assert_ptr_nonnull(strstr(err, dbpath));
	ck_assert_ptr_nonnull(strstr(err, "backup"));
}
END_TEST

START_TEST(test_damaged_pages)
{
	struct offserv_sitedb *db = open_db();
	size_t len = 0;
	char *data;
	int fd;

	for (int i = 0; i < 300; i++)
		add_update(db, i + 1, "Cumulative Update for Windows 10 with a long title to fill pages",
		           "x64", "Package_for_KB", "amd64", "10.0.1.0");
	offserv_sitedb_close(db);
	data = offtest_read_file(dbpath, &len);
	ck_assert_ptr_nonnull(data);
	ck_assert_uint_gt(len, 8 * 4096);
	free(data);
	/* Scribble over the b-tree pages from the third page on, leaving the header intact. */
	fd = open(dbpath, O_WRONLY);
	ck_assert_int_ge(fd, 0);
	for (off_t off = 2 * 4096; off + 4096 <= (off_t)len; off += 3 * 4096) {
		char garbage[512];

		memset(garbage, 0xa5, sizeof(garbage));
		ck_assert_int_eq(pwrite(fd, garbage, sizeof(garbage), off), (ssize_t)sizeof(garbage));
	}
	close(fd);
	db = NULL;
	ck_assert_uint_eq(offserv_sitedb_open(dbpath, NULL, &db, err, sizeof(err)),
	                  OFFSERV_E_FILE_CORRUPT);
	ck_assert_ptr_null(db);
	ck_assert_ptr_nonnull(strstr(err, dbpath));
}
END_TEST

START_TEST(test_parallel_writers)
{
	struct offserv_sitedb *db = NULL;
	struct offserv_update_rec *list = NULL;
	pid_t pids[4];
	size_t n = 0;

	/* The four processes also race to create the database and migrate it. */
	for (int w = 0; w < 4; w++) {
		pids[w] = fork();
		ck_assert_int_ge(pids[w], 0);
		if (pids[w] == 0) {
			struct offserv_sitedb *cdb = NULL;
			char cerr[512];
			int failures = 0;

			if (offserv_sitedb_open(dbpath, NULL, &cdb, cerr, sizeof(cerr)) != OFFSERV_OK) {
				fprintf(stderr, "# child %d open: %s\n", w, cerr);
				_exit(2);
			}
			for (int i = 0; i < 50; i++) {
				struct offserv_update_rec r = {0};
				struct offserv_update_package_rec p = {0};
				char name[64];
				offserv_status st;

				snprintf(r.sha256, sizeof(r.sha256), "%032x%032x", w + 1, i + 1);
				snprintf(name, sizeof(name), "Package_for_KB%d", w * 1000 + i);
				r.file_name = name;
				r.library_path = name;
				r.format = "cab";
				r.arch = "x64";
				r.supported = 1;
				p.identity = name;
				p.name = name;
				p.arch = "amd64";
				p.version = "10.0.1.1";
				st = offserv_sitedb_update_insert(cdb, &r, &p, 1, NULL, 0, NULL, cerr,
				                                  sizeof(cerr));
				if (st != OFFSERV_OK) {
					fprintf(stderr, "# child %d insert %d: 0x%08x %s\n", w, i, st, cerr);
					failures++;
				}
			}
			offserv_sitedb_close(cdb);
			_exit(failures ? 1 : 0);
		}
	}
	for (int w = 0; w < 4; w++) {
		int status = 0;

		ck_assert_int_eq(waitpid(pids[w], &status, 0), pids[w]);
		ck_assert(WIFEXITED(status));
		ck_assert_int_eq(WEXITSTATUS(status), 0);
	}
	db = open_db();
	ck_assert_uint_eq(offserv_sitedb_update_list(db, NULL, &list, &n, err, sizeof(err)),
	                  OFFSERV_OK);
	ck_assert_uint_eq(n, 200);
	/* IDs are consecutive from the base, with no duplicates. */
	for (size_t i = 0; i < n; i++)
		ck_assert_int_eq(list[i].update_id, OFFSERV_UPDATE_ID_BASE + 1 + (int64_t)i);
	offserv_update_recs_free(list, n);
	offserv_sitedb_close(db);
}
END_TEST

START_TEST(test_update_filters)
{
	struct offserv_sitedb *db = open_db();
	struct offserv_update_rec *list = NULL, got;
	struct offserv_update_filter f = {0};
	size_t n = 0;
	int64_t a, b, c, d;

	a = add_update(db, 1, "2024-01 Cumulative Update for Windows 10 (KB5034122)", "x64",
	               "Package_for_RollupFix", "amd64", "19041.3930.1.6");
	b = add_update(db, 2, "Servicing stack 100% fix_A", "x86", "Package_for_ServicingStack",
	               "x86", "19041.3920.1.1");
	c = add_update(db, 3, "Language neutral thing", "neutral", "Package_for_Neutral", "neutral",
	               "1.0.0.0");
	d = add_update(db, 4, "2024-02 Cumulative Update for Windows 10 (KB5034763)", "x64",
	               "Package_for_RollupFix", "amd64", "19041.4046.1.8");
	ck_assert_int_eq(a, OFFSERV_UPDATE_ID_BASE + 1);
	ck_assert_int_eq(d, a + 3);

	/* Case-insensitive substring over the title. */
	f.text = "cumulative UPDATE";
	ck_assert_uint_eq(offserv_sitedb_update_list(db, &f, &list, &n, err, sizeof(err)), OFFSERV_OK);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(list[0].update_id, a);
	ck_assert_int_eq(list[1].update_id, d);
	offserv_update_recs_free(list, n);

	/* '%' and '_' match themselves, not any text. */
	f.text = "100%";
	ck_assert_uint_eq(offserv_sitedb_update_list(db, &f, &list, &n, err, sizeof(err)), OFFSERV_OK);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(list[0].update_id, b);
	offserv_update_recs_free(list, n);
	f.text = "x_a";
	ck_assert_uint_eq(offserv_sitedb_update_list(db, &f, &list, &n, err, sizeof(err)), OFFSERV_OK);
	ck_assert_uint_eq(n, 1);
	offserv_update_recs_free(list, n);
	f.text = "_";
	ck_assert_uint_eq(offserv_sitedb_update_list(db, &f, &list, &n, err, sizeof(err)), OFFSERV_OK);
	ck_assert_uint_eq(n, 4); /* every update has an underscore in a package identity */
	offserv_update_recs_free(list, n);
	f.text = "%";
	ck_assert_uint_eq(offserv_sitedb_update_list(db, &f, &list, &n, err, sizeof(err)), OFFSERV_OK);
	ck_assert_uint_eq(n, 1);
	offserv_update_recs_free(list, n);

	/* Package identities are searched too. */
	f.text = "rollupfix~31bf";
	ck_assert_uint_eq(offserv_sitedb_update_list(db, &f, &list, &n, err, sizeof(err)), OFFSERV_OK);
	ck_assert_uint_eq(n, 2);
	offserv_update_recs_free(list, n);

	/* Architecture: x64 gets x64 and neutral updates. */
	f.text = NULL;
	f.arch = "x64";
	ck_assert_uint_eq(offserv_sitedb_update_list(db, &f, &list, &n, err, sizeof(err)), OFFSERV_OK);
	ck_assert_uint_eq(n, 3);
	ck_assert_int_eq(list[0].update_id, a);
	ck_assert_int_eq(list[1].update_id, c);
	offserv_update_recs_free(list, n);
	f.arch = "x86";
	ck_assert_uint_eq(offserv_sitedb_update_list(db, &f, &list, &n, err, sizeof(err)), OFFSERV_OK);
	ck_assert_uint_eq(n, 2);
	offserv_update_recs_free(list, n);
	f.arch = "all";
	ck_assert_uint_eq(offserv_sitedb_update_list(db, &f, &list, &n, err, sizeof(err)), OFFSERV_OK);
	ck_assert_uint_eq(n, 4);
	offserv_update_recs_free(list, n);
	f.arch = "ia64";
	ck_assert_uint_eq(offserv_sitedb_update_list(db, &f, &list, &n, err, sizeof(err)),
	                  OFFSERV_E_INVALIDARG);
	ck_assert_ptr_nonnull(strstr(err, "ia64"));

	/* Supersedence: the older RollupFix points at the newer. */
	ck_assert_uint_eq(offserv_sitedb_update_get(db, a, &got, err, sizeof(err)), OFFSERV_OK);
	ck_assert_int_eq(got.superseded_by, d);
	offserv_update_rec_clear(&got);
	ck_assert_uint_eq(offserv_sitedb_update_get(db, d, &got, err, sizeof(err)), OFFSERV_OK);
	ck_assert_int_eq(got.superseded_by, 0);
	offserv_update_rec_clear(&got);
	f.arch = NULL;
	f.exclude_superseded = 1;
	ck_assert_uint_eq(offserv_sitedb_update_list(db, &f, &list, &n, err, sizeof(err)), OFFSERV_OK);
	ck_assert_uint_eq(n, 3);
	for (size_t i = 0; i < n; i++)
		ck_assert_int_ne(list[i].update_id, a);
	offserv_update_recs_free(list, n);

	/* Deleting the newest lifts the supersedence. */
	ck_assert_uint_eq(offserv_sitedb_update_delete(db, d, err, sizeof(err)), OFFSERV_OK);
	ck_assert_uint_eq(offserv_sitedb_update_get(db, a, &got, err, sizeof(err)), OFFSERV_OK);
	ck_assert_int_eq(got.superseded_by, 0);
	offserv_update_rec_clear(&got);
	ck_assert_uint_eq(offserv_sitedb_update_get(db, d, &got, err, sizeof(err)),
	                  OFFSERV_E_NOT_FOUND);

	/* An older one imported later is superseded at once; IDs are not reused. */
	ck_assert_int_eq(add_update(db, 5, "old", "x64", "Package_for_RollupFix", "amd64",
	                            "19041.1000.1.1"),
	                 d + 1);
	ck_assert_uint_eq(offserv_sitedb_update_get(db, d + 1, &got, err, sizeof(err)), OFFSERV_OK);
	ck_assert_int_eq(got.superseded_by, a);
	offserv_update_rec_clear(&got);
	offserv_sitedb_close(db);
}
END_TEST

START_TEST(test_update_duplicate_and_find)
{
	struct offserv_sitedb *db = open_db();
	struct offserv_update_rec r = {0}, got;
	struct offserv_update_package_rec *pk = NULL;
	struct offserv_update_parent_rec *pa = NULL;
	size_t npk = 0, npa = 0;
	int64_t id = add_update(db, 7, "t", "x64", "Package_for_KB1", "amd64", "6.1.1.1"), id2 = 0;

	snprintf(r.sha256, sizeof(r.sha256), "%064x", 7);
	r.file_name = "again.msu";
	r.library_path = "x";
	r.format = "msu";
	ck_assert_uint_eq(offserv_sitedb_update_insert(db, &r, NULL, 0, NULL, 0, &id2, err,
	                                               sizeof(err)),
	                  OFFSERV_E_ALREADY_EXISTS);
	ck_assert_int_eq(id2, id);
	ck_assert_ptr_nonnull(strstr(err, "16777217"));
	ck_assert_uint_eq(offserv_sitedb_update_find_sha256(db, r.sha256, &got, err, sizeof(err)),
	                  OFFSERV_OK);
	ck_assert_int_eq(got.update_id, id);
	ck_assert_str_eq(got.file_name, "update-7.msu");
	ck_assert_uint_eq(got.size, 1007);
	offserv_update_rec_clear(&got);
	ck_assert_uint_eq(offserv_sitedb_update_packages(db, id, &pk, &npk, err, sizeof(err)),
	                  OFFSERV_OK);
	ck_assert_uint_eq(npk, 1);
	ck_assert_str_eq(pk[0].identity, "Package_for_KB1~31bf3856ad364e35~amd64~~6.1.1.1");
	offserv_update_package_recs_free(pk, npk);
	ck_assert_uint_eq(offserv_sitedb_update_parents(db, id, &pa, &npa, err, sizeof(err)),
	                  OFFSERV_OK);
	ck_assert_uint_eq(npa, 1);
	ck_assert_int_eq(pa[0].package_seq, -1);
	ck_assert_ptr_null(pa[0].build_compare);
	offserv_update_parent_recs_free(pa, npa);
	offserv_sitedb_close(db);
}
END_TEST

START_TEST(test_images_indexes_packages)
{
	struct offserv_sitedb *db = open_db();
	struct offserv_image_rec img = {0}, *list = NULL, got;
	struct offserv_image_index_rec idx[2] = {{0}}, *gidx = NULL;
	struct offserv_image_package_rec pk[3] = {{0}}, *gpk = NULL;
	char id[OFFSERV_PACKAGE_ID_LEN], id2[OFFSERV_PACKAGE_ID_LEN], next[OFFSERV_PACKAGE_ID_LEN];
	size_t n = 0;

	img.name = "Win10";
	img.source_path = "/a/install.wim";
	img.sha256 = "ab";
	idx[0].index = 1;
	idx[0].name = "Windows 10 Pro";
	idx[0].arch = "x64";
	idx[0].build = 19041;
	idx[0].size = 1ull << 33;
	idx[1].index = 2;
	idx[1].name = "Windows 10 Education";
	pk[0].index = 1;
	pk[0].identity = "Package_for_RollupFix~31bf3856ad364e35~amd64~~19041.1.1.1";
	pk[0].state = 0x70;
	pk[1].index = 1;
	pk[1].identity = "Microsoft-Windows-Foundation-Package~31bf3856ad364e35~amd64~~10.0.19041.1";
	pk[1].state = 0x70;
	pk[2].index = 2;
	pk[2].identity = pk[1].identity;
	pk[2].state = 0x70;
	ck_assert_uint_eq(offserv_sitedb_image_insert(db, &img, idx, 2, pk, 3, id, err, sizeof(err)),
	                  OFFSERV_OK);
	ck_assert_str_eq(id, "OFS00001");

	/* Same path or same digest: refused, naming the existing image. */
	img.sha256 = "cd";
	ck_assert_uint_eq(offserv_sitedb_image_insert(db, &img, NULL, 0, NULL, 0, id2, err,
	                                              sizeof(err)),
	                  OFFSERV_E_ALREADY_EXISTS);
	ck_assert_ptr_nonnull(strstr(err, "OFS00001"));
	img.source_path = "/b/install.wim";
	img.sha256 = "ab";
	ck_assert_uint_eq(offserv_sitedb_image_insert(db, &img, NULL, 0, NULL, 0, id2, err,
	                                              sizeof(err)),
	                  OFFSERV_E_ALREADY_EXISTS);
	ck_assert_ptr_nonnull(strstr(err, "OFS00001"));

	/* A reserved ID moves the sequence on; hex digits are upper case. */
	for (int i = 0; i < 9; i++)
		ck_assert_uint_eq(offserv_sitedb_next_package_id(db, next, err, sizeof(err)), OFFSERV_OK);
	ck_assert_str_eq(next, "OFS0000A");
	img.sha256 = "ef";
	ck_assert_uint_eq(offserv_sitedb_image_insert(db, &img, NULL, 0, NULL, 0, id2, err,
	                                              sizeof(err)),
	                  OFFSERV_OK);
	ck_assert_str_eq(id2, "OFS0000B");

	ck_assert_uint_eq(offserv_sitedb_image_list(db, &list, &n, err, sizeof(err)), OFFSERV_OK);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(list[0].package_id, "OFS00001");
	offserv_image_recs_free(list, n);

	ck_assert_uint_eq(offserv_sitedb_image_find(db, "/a/install.wim", NULL, &got, err,
	                                            sizeof(err)),
	                  OFFSERV_OK);
	ck_assert_str_eq(got.package_id, "OFS00001");
	offserv_image_rec_clear(&got);

	ck_assert_uint_eq(offserv_sitedb_index_list(db, id, &gidx, &n, err, sizeof(err)), OFFSERV_OK);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(gidx[0].name, "Windows 10 Pro");
	ck_assert_uint_eq(gidx[0].size, 1ull << 33);
	ck_assert_uint_eq(gidx[0].build, 19041);
	offserv_image_index_recs_free(gidx, n);

	ck_assert_uint_eq(offserv_sitedb_package_list(db, id, 1, &gpk, &n, err, sizeof(err)),
	                  OFFSERV_OK);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(gpk[0].origin, "import");
	offserv_image_package_recs_free(gpk, n);
	ck_assert_uint_eq(offserv_sitedb_package_list(db, id, 0, &gpk, &n, err, sizeof(err)),
	                  OFFSERV_OK);
	ck_assert_uint_eq(n, 3);
	offserv_image_package_recs_free(gpk, n);

	/* Upsert: state change of an existing row, a new applied row. */
	pk[0].state = 0x50;
	pk[1].identity = "Package_for_RollupFix~31bf3856ad364e35~amd64~~19041.2.1.1";
	pk[1].origin = "applied";
	ck_assert_uint_eq(offserv_sitedb_package_upsert(db, id, pk, 2, err, sizeof(err)), OFFSERV_OK);
	ck_assert_uint_eq(offserv_sitedb_package_list(db, id, 1, &gpk, &n, err, sizeof(err)),
	                  OFFSERV_OK);
	ck_assert_uint_eq(n, 3);
	offserv_image_package_recs_free(gpk, n);

	ck_assert_uint_eq(offserv_sitedb_image_set_schedule(db, id, "2026-02-01T00:00:00Z",
	                                                    "Scheduled", err, sizeof(err)),
	                  OFFSERV_OK);
	ck_assert_uint_eq(offserv_sitedb_image_get(db, id, &got, err, sizeof(err)), OFFSERV_OK);
	ck_assert_str_eq(got.scheduled_status, "Scheduled");
	offserv_image_rec_clear(&got);

	/* Delete cascades to indexes and packages. */
	ck_assert_uint_eq(offserv_sitedb_image_delete(db, id, err, sizeof(err)), OFFSERV_OK);
	ck_assert_uint_eq(offserv_sitedb_package_list(db, id, 0, &gpk, &n, err, sizeof(err)),
	                  OFFSERV_OK);
	ck_assert_uint_eq(n, 0);
	ck_assert_uint_eq(offserv_sitedb_image_delete(db, id, err, sizeof(err)), OFFSERV_E_NOT_FOUND);
	ck_assert_uint_eq(offserv_sitedb_image_get(db, id, &got, err, sizeof(err)),
	                  OFFSERV_E_NOT_FOUND);
	offserv_sitedb_close(db);
}
END_TEST

START_TEST(test_schedules_and_jobs)
{
	struct offserv_sitedb *db = open_db();
	struct offserv_image_rec img = {0};
	struct offserv_schedule_rec s = {0}, gs, *sl = NULL;
	struct offserv_job_rec j = {0}, gj, *jl = NULL;
	struct offserv_job_update_rec ju = {0}, *jul = NULL;
	char id[OFFSERV_PACKAGE_ID_LEN];
	int64_t sel[2], sid = 0, jid = 0, jid2 = 0;
	size_t n = 0, marked = 0;

	img.source_path = "/x.wim";
	ck_assert_uint_eq(offserv_sitedb_image_insert(db, &img, NULL, 0, NULL, 0, id, err,
	                                              sizeof(err)),
	                  OFFSERV_OK);
	sel[0] = add_update(db, 1, "a", "x64", "P1", "amd64", "1.0.0.0");
	sel[1] = add_update(db, 2, "b", "x64", "P2", "amd64", "1.0.0.0");
	memcpy(s.package_id, id, sizeof(id));
	s.update_ids = sel;
	s.n_update_ids = 2;
	s.run_at = "2026-03-01T02:00:00Z";
	s.recurrence = "weekly";
	s.continue_on_error = 1;
	ck_assert_uint_eq(offserv_sitedb_schedule_insert(db, &s, &sid, err, sizeof(err)), OFFSERV_OK);
	ck_assert_int_gt(sid, 0);
	ck_assert_uint_eq(offserv_sitedb_schedule_get(db, sid, &gs, err, sizeof(err)), OFFSERV_OK);
	ck_assert_uint_eq(gs.n_update_ids, 2);
	ck_assert_int_eq(gs.update_ids[1], sel[1]);
	ck_assert_str_eq(gs.status, "Scheduled");
	ck_assert_str_eq(gs.indexes, "all");
	free(gs.status);
	gs.status = strdup("Disabled");
	gs.n_update_ids = 1;
	ck_assert_uint_eq(offserv_sitedb_schedule_update(db, &gs, err, sizeof(err)), OFFSERV_OK);
	offserv_schedule_rec_clear(&gs);
	ck_assert_uint_eq(offserv_sitedb_schedule_list(db, id, &sl, &n, err, sizeof(err)), OFFSERV_OK);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(sl[0].status, "Disabled");
	ck_assert_uint_eq(sl[0].n_update_ids, 1);
	offserv_schedule_recs_free(sl, n);

	/* A schedule for an unknown image is refused. */
	memcpy(s.package_id, "OFS0FFFF", 9);
	ck_assert_uint_eq(offserv_sitedb_schedule_insert(db, &s, NULL, err, sizeof(err)),
	                  OFFSERV_E_NOT_FOUND);

	/* Jobs: one in progress per image. */
	memcpy(j.package_id, id, sizeof(id));
	j.schedule_id = sid;
	ck_assert_uint_eq(offserv_sitedb_job_start(db, &j, &jid, err, sizeof(err)), OFFSERV_OK);
	ck_assert_uint_eq(offserv_sitedb_job_start(db, &j, &jid2, err, sizeof(err)), OFFSERV_E_BUSY);
	ck_assert_ptr_nonnull(strstr(err, "job"));
	ck_assert_uint_eq(offserv_sitedb_job_progress(db, jid, 40, "staging", err, sizeof(err)),
	                  OFFSERV_OK);
	ju.update_id = sel[0];
	ju.index = 1;
	ju.result = "Not applicable";
	ju.hresult = 0x800f081eu;
	ck_assert_uint_eq(offserv_sitedb_job_update_set(db, jid, &ju, err, sizeof(err)), OFFSERV_OK);
	ck_assert_uint_eq(offserv_sitedb_job_update_list(db, jid, &jul, &n, err, sizeof(err)),
	                  OFFSERV_OK);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(jul[0].hresult, 0x800f081eu);
	offserv_job_update_recs_free(jul, n);
	ck_assert_uint_eq(offserv_sitedb_job_finish(db, jid, "Done", 0, NULL, err, sizeof(err)),
	                  OFFSERV_E_INVALIDARG);
	ck_assert_uint_eq(offserv_sitedb_job_finish(db, jid, OFFSERV_JOB_SUCCESSFUL, 0, "ok", err,
	                                            sizeof(err)),
	                  OFFSERV_OK);
	ck_assert_uint_eq(offserv_sitedb_job_get(db, jid, &gj, err, sizeof(err)), OFFSERV_OK);
	ck_assert_str_eq(gj.status, "Successful");
	ck_assert_int_eq(gj.progress, 100);
	ck_assert_ptr_nonnull(gj.finished_at);
	ck_assert_int_eq(gj.schedule_id, sid);
	offserv_job_rec_clear(&gj);

	/* A job left in progress by a dead process is marked failed. */
	{
		pid_t child = fork();

		ck_assert_int_ge(child, 0);
		if (child == 0)
			_exit(0);
		waitpid(child, NULL, 0);
		j.pid = child;
	}
	ck_assert_uint_eq(offserv_sitedb_job_start(db, &j, &jid2, err, sizeof(err)), OFFSERV_OK);
	ck_assert_uint_eq(offserv_sitedb_job_recover(db, &marked, err, sizeof(err)), OFFSERV_OK);
	ck_assert_uint_eq(marked, 1);
	ck_assert_uint_eq(offserv_sitedb_job_get(db, jid2, &gj, err, sizeof(err)), OFFSERV_OK);
	ck_assert_str_eq(gj.status, "Failed");
	offserv_job_rec_clear(&gj);
	ck_assert_uint_eq(offserv_sitedb_job_list(db, NULL, &jl, &n, err, sizeof(err)), OFFSERV_OK);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(jl[0].job_id, jid2); /* newest first */
	offserv_job_recs_free(jl, n);

	ck_assert_uint_eq(offserv_sitedb_dp_status_set(db, id, "dp1", "Success", 0, NULL, jid, err,
	                                               sizeof(err)),
	                  OFFSERV_OK);
	ck_assert_uint_eq(offserv_sitedb_dp_status_set(db, "OFS0FFFF", "dp1", "Success", 0, NULL, 0,
	                                               err, sizeof(err)),
	                  OFFSERV_E_NOT_FOUND);
	ck_assert_uint_eq(offserv_sitedb_schedule_delete(db, sid, err, sizeof(err)), OFFSERV_OK);
	ck_assert_uint_eq(offserv_sitedb_job_get(db, jid, &gj, err, sizeof(err)), OFFSERV_OK);
	ck_assert_int_eq(gj.schedule_id, 0); /* history kept without its schedule */
	offserv_job_rec_clear(&gj);
	offserv_sitedb_close(db);
}
END_TEST

/* A schema-1 database whose `--updates all` schedule kept it as a recurrence suffix. */
START_TEST(test_migration_from_1)
{
	struct offserv_sitedb *db = open_db();
	struct offserv_image_rec img = {0};
	struct offserv_schedule_rec s = {0}, gs;
	char id[OFFSERV_PACKAGE_ID_LEN];
	int64_t sid = 0, sid2 = 0;
	sqlite3 *raw;
	char *sql;

	img.source_path = "/m.wim";
	ck_assert_uint_eq(offserv_sitedb_image_insert(db, &img, NULL, 0, NULL, 0, id, err,
	                                              sizeof(err)),
	                  OFFSERV_OK);
	memcpy(s.package_id, id, sizeof(id));
	s.run_at = "2026-03-01T02:00:00Z";
	s.recurrence = "daily at 02:00";
	ck_assert_uint_eq(offserv_sitedb_schedule_insert(db, &s, &sid, err, sizeof(err)), OFFSERV_OK);
	ck_assert_uint_eq(offserv_sitedb_schedule_insert(db, &s, &sid2, err, sizeof(err)), OFFSERV_OK);
	offserv_sitedb_close(db);

	/* take it back to version 1 as that version wrote it */
	ck_assert_int_eq(sqlite3_open(dbpath, &raw), SQLITE_OK);
	sql = offtest_strdup_printf(
		"DROP TABLE job_post_actions;"
		"ALTER TABLE schedules DROP COLUMN all_updates;"
		"ALTER TABLE schedules DROP COLUMN optimize;"
		"ALTER TABLE dp_status DROP COLUMN bytes;"
		"ALTER TABLE dp_status DROP COLUMN plugin;"
		"UPDATE schedules SET recurrence = recurrence || '; updates=all' WHERE schedule_id = %lld;"
		"INSERT INTO dp_status(package_id, dp, status, updated_at) VALUES ('%s', 'old', 'Success', 'x');"
		"PRAGMA user_version = 1;",
		(long long)sid, id);
	ck_assert_int_eq(sqlite3_exec(raw, sql, NULL, NULL, NULL), SQLITE_OK);
	free(sql);
	sqlite3_close(raw);

	db = open_db();
	ck_assert_int_eq(offserv_sitedb_schema_version(db), 2);
	ck_assert_uint_eq(offserv_sitedb_schedule_get(db, sid, &gs, err, sizeof(err)), OFFSERV_OK);
	ck_assert_str_eq(gs.recurrence, "daily at 02:00");
	ck_assert_int_eq(gs.all_updates, 1);
	ck_assert_int_eq(gs.optimize, 0);
	offserv_schedule_rec_clear(&gs);
	ck_assert_uint_eq(offserv_sitedb_schedule_get(db, sid2, &gs, err, sizeof(err)), OFFSERV_OK);
	ck_assert_str_eq(gs.recurrence, "daily at 02:00");
	ck_assert_int_eq(gs.all_updates, 0);
	/* the new columns round-trip */
	gs.all_updates = 1;
	gs.optimize = 1;
	ck_assert_uint_eq(offserv_sitedb_schedule_update(db, &gs, err, sizeof(err)), OFFSERV_OK);
	offserv_schedule_rec_clear(&gs);
	ck_assert_uint_eq(offserv_sitedb_schedule_get(db, sid2, &gs, err, sizeof(err)), OFFSERV_OK);
	ck_assert_int_eq(gs.all_updates, 1);
	ck_assert_int_eq(gs.optimize, 1);
	offserv_schedule_rec_clear(&gs);
	{
		struct offserv_dp_status_rec *r = NULL;
		size_t n = 0;

		ck_assert_uint_eq(offserv_sitedb_dp_status_list(db, id, 0, &r, &n, err, sizeof(err)),
		                  OFFSERV_OK);
		ck_assert_uint_eq(n, 1);
		ck_assert_str_eq(r[0].target, "old");
		ck_assert_uint_eq(r[0].bytes, 0);
		ck_assert_ptr_null(r[0].plugin);
		offserv_dp_status_recs_free(r, n);
	}
	offserv_sitedb_close(db);
}
END_TEST

START_TEST(test_dp_status_and_serviced)
{
	struct offserv_sitedb *db = open_db();
	struct offserv_image_rec img = {0}, got;
	struct offserv_job_rec j = {0};
	struct offserv_dp_status_rec r = {0}, *l = NULL;
	char id[OFFSERV_PACKAGE_ID_LEN];
	int64_t jid = 0, jid2 = 0;
	size_t n = 0;

	img.source_path = "/d.wim";
	ck_assert_uint_eq(offserv_sitedb_image_insert(db, &img, NULL, 0, NULL, 0, id, err,
	                                              sizeof(err)),
	                  OFFSERV_OK);
	memcpy(j.package_id, id, sizeof(id));
	ck_assert_uint_eq(offserv_sitedb_job_start(db, &j, &jid, err, sizeof(err)), OFFSERV_OK);

	/* last_serviced_at: unset, then set to a given time and to now */
	ck_assert_uint_eq(offserv_sitedb_image_get(db, id, &got, err, sizeof(err)), OFFSERV_OK);
	ck_assert_ptr_null(got.last_serviced_at);
	offserv_image_rec_clear(&got);
	ck_assert_uint_eq(offserv_sitedb_image_set_serviced(db, id, "2026-01-02T03:04:05Z", err,
	                                                    sizeof(err)),
	                  OFFSERV_OK);
	ck_assert_uint_eq(offserv_sitedb_image_get(db, id, &got, err, sizeof(err)), OFFSERV_OK);
	ck_assert_str_eq(got.last_serviced_at, "2026-01-02T03:04:05Z");
	offserv_image_rec_clear(&got);
	ck_assert_uint_eq(offserv_sitedb_image_set_serviced(db, id, NULL, err, sizeof(err)),
	                  OFFSERV_OK);
	ck_assert_uint_eq(offserv_sitedb_image_get(db, id, &got, err, sizeof(err)), OFFSERV_OK);
	ck_assert_uint_eq(strlen(got.last_serviced_at), 20);
	ck_assert_str_ne(got.last_serviced_at, "2026-01-02T03:04:05Z");
	offserv_image_rec_clear(&got);
	ck_assert_uint_eq(offserv_sitedb_image_set_serviced(db, "OFS0FFFF", NULL, err, sizeof(err)),
	                  OFFSERV_E_NOT_FOUND);

	/* two DPs and the plugin's own row in the job; the DPs as the image's status */
	r.job_id = jid;
	r.plugin = "dp_refresh";
	r.is_dp = 1;
	r.target = "dp1";
	r.status = "Success";
	r.bytes = 123456789012ULL;
	r.message = "ok";
	ck_assert_uint_eq(offserv_sitedb_dp_status_record(db, id, &r, err, sizeof(err)), OFFSERV_OK);
	r.target = "dp0";
	r.status = "Failed";
	r.hresult = 0x80070003u;
	r.bytes = 0;
	r.message = "no such folder";
	ck_assert_uint_eq(offserv_sitedb_dp_status_record(db, id, &r, err, sizeof(err)), OFFSERV_OK);
	r.is_dp = 0;
	r.target = "dp_refresh";
	r.message = "failed for 1 of 2";
	ck_assert_uint_eq(offserv_sitedb_dp_status_record(db, id, &r, err, sizeof(err)), OFFSERV_OK);

	ck_assert_uint_eq(offserv_sitedb_dp_status_list(db, id, 0, &l, &n, err, sizeof(err)),
	                  OFFSERV_OK);
	ck_assert_uint_eq(n, 2); /* the plugin's row is not a DP */
	ck_assert_str_eq(l[0].target, "dp0"); /* by name */
	ck_assert_str_eq(l[0].status, "Failed");
	ck_assert_uint_eq(l[0].hresult, 0x80070003u);
	ck_assert_str_eq(l[1].target, "dp1");
	ck_assert_uint_eq(l[1].bytes, 123456789012ULL);
	ck_assert_str_eq(l[1].plugin, "dp_refresh");
	ck_assert_int_eq(l[1].job_id, jid);
	ck_assert_ptr_nonnull(l[1].updated_at);
	offserv_dp_status_recs_free(l, n);
	ck_assert_uint_eq(offserv_sitedb_dp_status_list(db, NULL, jid, &l, &n, err, sizeof(err)),
	                  OFFSERV_OK);
	ck_assert_uint_eq(n, 3); /* in the order recorded */
	ck_assert_str_eq(l[0].target, "dp1");
	ck_assert_int_eq(l[0].is_dp, 1);
	ck_assert_str_eq(l[2].target, "dp_refresh");
	ck_assert_int_eq(l[2].is_dp, 0);
	ck_assert_str_eq(l[2].message, "failed for 1 of 2");
	offserv_dp_status_recs_free(l, n);

	/* a later job replaces the image's DP status but keeps the first job's history */
	ck_assert_uint_eq(offserv_sitedb_job_finish(db, jid, OFFSERV_JOB_FAILED, 0x80070003u, "x",
	                                            err, sizeof(err)),
	                  OFFSERV_OK);
	ck_assert_uint_eq(offserv_sitedb_job_start(db, &j, &jid2, err, sizeof(err)), OFFSERV_OK);
	r.job_id = jid2;
	r.is_dp = 1;
	r.target = "dp0";
	r.status = "Success";
	r.hresult = 0;
	r.bytes = 42;
	ck_assert_uint_eq(offserv_sitedb_dp_status_record(db, id, &r, err, sizeof(err)), OFFSERV_OK);
	ck_assert_uint_eq(offserv_sitedb_dp_status_list(db, id, 0, &l, &n, err, sizeof(err)),
	                  OFFSERV_OK);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(l[0].status, "Success");
	ck_assert_uint_eq(l[0].bytes, 42);
	ck_assert_int_eq(l[0].job_id, jid2);
	offserv_dp_status_recs_free(l, n);
	ck_assert_uint_eq(offserv_sitedb_dp_status_list(db, NULL, jid, &l, &n, err, sizeof(err)),
	                  OFFSERV_OK);
	ck_assert_uint_eq(n, 3);
	ck_assert_str_eq(l[1].status, "Failed");
	offserv_dp_status_recs_free(l, n);
	ck_assert_uint_eq(offserv_sitedb_dp_status_list(db, NULL, jid2, &l, &n, err, sizeof(err)),
	                  OFFSERV_OK);
	ck_assert_uint_eq(n, 1);
	offserv_dp_status_recs_free(l, n);

	/* refused: no target, an unknown job, an unknown image */
	r.target = NULL;
	ck_assert_uint_eq(offserv_sitedb_dp_status_record(db, id, &r, err, sizeof(err)),
	                  OFFSERV_E_INVALIDARG);
	r.target = "dp0";
	r.job_id = 999999;
	ck_assert_uint_eq(offserv_sitedb_dp_status_record(db, id, &r, err, sizeof(err)),
	                  OFFSERV_E_NOT_FOUND);
	r.job_id = 0;
	ck_assert_uint_eq(offserv_sitedb_dp_status_record(db, "OFS0FFFF", &r, err, sizeof(err)),
	                  OFFSERV_E_NOT_FOUND);
	offserv_sitedb_close(db);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sitedb");
	TCase *tc = tcase_create("sitedb");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_create_and_migrate);
	tcase_add_test(tc, test_reopen_keeps_data_and_site_code);
	tcase_add_test(tc, test_bad_site_code);
	tcase_add_test(tc, test_newer_schema_refused);
	tcase_add_test(tc, test_not_a_database);
	tcase_add_test(tc, test_damaged_pages);
	tcase_add_test(tc, test_parallel_writers);
	tcase_add_test(tc, test_update_filters);
	tcase_add_test(tc, test_update_duplicate_and_find);
	tcase_add_test(tc, test_images_indexes_packages);
	tcase_add_test(tc, test_schedules_and_jobs);
	tcase_add_test(tc, test_migration_from_1);
	tcase_add_test(tc, test_dp_status_and_serviced);
	suite_add_tcase(s, tc);
	return offtest_run(s);
}
