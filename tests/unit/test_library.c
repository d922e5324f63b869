/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <config.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include <offserv/catalogue.h>
#include <offserv/library.h>
#include <offserv/plugin.h>
#include <offserv/plugins.h>
#include <offserv/sitedb.h>
#include <offserv/util.h>

#include "testutil.h"

/*
 * A stand-in update format, so that the library is tested without the
 * cabinet code: a file that starts with "FAKEUPD\n" followed by lines
 *   kb=KB123
 *   arch=x64
 *   pkg=NAME|ARCH|VERSION|SSU(0/1)
 *   parent=IDENTITY
 * and "broken" anywhere makes read_info fail as a damaged package does.
 */
static int fake_probe(void *ctx, const char *path)
{
	char buf[8];
	FILE *f = fopen(path, "rb");
	size_t n;

	(void)ctx;
	if (!f)
		return 0;
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	return n == 8 && memcmp(buf, "FAKEUPD\n", 8) == 0 ? 100 : 0;
}

static char *dup_range(const char *s, size_t n)
{
	char *p = malloc(n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

static offserv_status fake_read_info(void *ctx, const char *path,
                                     struct offserv_update_info **out, char *err, size_t errlen)
{
	size_t len = 0;
	char *data = offtest_read_file(path, &len);
	struct offserv_update_info *info;
	char *line, *save = NULL;

	(void)ctx;
	*out = NULL;
	if (!data)
		return OFFSERV_E_READ_FAULT;
	if (strstr(data, "broken")) {
		free(data);
		offserv_set_error(err, errlen, "update.mum is not well-formed");
		return OFFSERV_CBS_E_INVALID_PACKAGE;
	}
	info = calloc(1, sizeof(*info));
	info->format = strdup("fake");
	info->size = len;
	info->packages = calloc(8, sizeof(*info->packages));
	info->parent_identities = calloc(8, sizeof(char *));
	for (line = strtok_r(data + 8, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (!strncmp(line, "kb=", 3)) {
			info->kb = strdup(line + 3);
			info->title = offtest_strdup_printf("Update for Windows (%s)", line + 3);
		} else if (!strncmp(line, "arch=", 5)) {
			info->arch = strdup(line + 5);
		} else if (!strncmp(line, "pkg=", 4) && info->n_packages < 8) {
			struct offserv_update_package *p = &info->packages[info->n_packages++];
			char *f1 = line + 4, *f2 = strchr(f1, '|'), *f3 = strchr(f2 + 1, '|'),
			     *f4 = strchr(f3 + 1, '|');

			p->name = dup_range(f1, (size_t)(f2 - f1));
			p->arch = dup_range(f2 + 1, (size_t)(f3 - f2 - 1));
			p->version = dup_range(f3 + 1, (size_t)(f4 - f3 - 1));
			p->is_ssu = f4[1] == '1';
			p->supported = 1;
			p->release_type = strdup("Security Update");
			p->identity = offtest_strdup_printf("%s~31bf3856ad364e35~%s~~%s", p->name, p->arch,
			                                    p->version);
		} else if (!strncmp(line, "parent=", 7) && info->n_parent_identities < 8) {
			info->parent_identities[info->n_parent_identities++] = strdup(line + 7);
		}
	}
	free(data);
	*out = info;
	return OFFSERV_OK;
}

static const struct offserv_update_format_ops fake_ops = {
	.probe = fake_probe,
	.read_info = fake_read_info,
};

static const struct offserv_plugin fake_desc = {
	.abi_version = OFFSERV_PLUGIN_ABI_VERSION,
	.name = "fake",
	.kind = OFFSERV_PLUGIN_UPDATE_FORMAT,
	.version = "1",
	.description = "test format",
	.ops.update_format = &fake_ops,
};

static const struct offserv_loaded_plugin fake_loaded = {&fake_desc, NULL, (char *)"fake.so"};

static const struct offserv_loaded_plugin *probe(void *ctx, const char *path)
{
	(void)ctx;
	return fake_probe(NULL, path) > 0 ? &fake_loaded : NULL;
}

static char *tmp, *lib, *src;
static struct offserv_sitedb *db;
static struct offserv_library_options opts;
static char err[1024];

static void setup(void)
{
	char *dbpath;

	tmp = offtest_tmpdir();
	lib = offtest_strdup_printf("%s/UpdateLibrary", tmp);
	src = offtest_strdup_printf("%s/incoming", tmp);
	ck_assert_int_eq(mkdir(src, 0755), 0);
	dbpath = offtest_strdup_printf("%s/site.db", tmp);
	ck_assert_uint_eq(offserv_sitedb_open(dbpath, NULL, &db, err, sizeof(err)), OFFSERV_OK);
	free(dbpath);
	memset(&opts, 0, sizeof(opts));
	opts.library_root = lib;
	opts.probe = probe;
}

static void teardown(void)
{
	offserv_sitedb_close(db);
	offtest_rmtree(tmp);
	free(tmp);
	free(lib);
	free(src);
}

static void put(const char *rel, const char *body)
{
	char *p = offtest_strdup_printf("%s/%s", src, rel);
	char *slash = strrchr(p, '/');

	*slash = '\0';
	offserv_mkdir_p(p, NULL, 0);
	*slash = '/';
	ck_assert_int_eq(offtest_write_file(p, body, strlen(body)), 0);
	free(p);
}

static size_t count_files(const char *dir)
{
	char *cmd = offtest_strdup_printf("find '%s' -type f 2>/dev/null | wc -l", dir);
	FILE *f = popen(cmd, "r");
	unsigned long n = 0;

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fscanf(f, "%lu", &n), 1);
	pclose(f);
	free(cmd);
	return n;
}

#define LCU1 "FAKEUPD\nkb=KB5034122\narch=x64\npkg=Package_for_RollupFix|amd64|19041.3930.1.6|0\n" \
             "parent=Microsoft-Windows-Foundation-Package~31bf3856ad364e35~amd64~~10.0.19041.1\n"
#define LCU2 "FAKEUPD\nkb=KB5034763\narch=x64\npkg=Package_for_ServicingStack_4040|amd64|19041.4040.1.1|1\n" \
             "pkg=Package_for_RollupFix|amd64|19041.4046.1.8|0\n"
#define OTHER "FAKEUPD\nkb=KB5000001\narch=x86\npkg=Package_for_KB5000001|x86|10.0.1.1|0\n"

static const struct offserv_library_result *result_for(const struct offserv_library_results *r,
                                                       const char *suffix)
{
	for (size_t i = 0; i < r->n; i++) {
		size_t a = strlen(r->items[i].path), b = strlen(suffix);

		if (a >= b && strcmp(r->items[i].path + a - b, suffix) == 0)
			return &r->items[i];
	}
	ck_abort_msg("no result for %s", suffix);
	return NULL;
}

START_TEST(test_import_folder_mixed)
{
	struct offserv_library_results res;
	const struct offserv_library_result *r;
	struct offserv_update_rec u;
	offserv_status st;
	char *expect;

	put("a-lcu1.msu", LCU1);
	put("b-damaged.msu", "FAKEUPD\nbroken\n");
	put("c-readme.txt", "hello");
	put("sub/d-lcu2.msu", LCU2);
	put("sub/deeper/e-other.cab", OTHER);

	st = offserv_library_import(db, &opts, src, &res, err, sizeof(err));
	ck_assert_uint_eq(st, OFFSERV_CBS_E_INVALID_PACKAGE);
	ck_assert_uint_eq(res.n, 5);
	ck_assert_uint_eq(res.n_imported, 3);
	ck_assert_uint_eq(res.n_failed, 1);
	ck_assert_uint_eq(res.n_skipped, 1);
	ck_assert_uint_eq(res.n_present, 0);

	r = result_for(&res, "b-damaged.msu");
	ck_assert_int_eq(r->outcome, OFFSERV_LIBRARY_FAILED);
	ck_assert_uint_eq(r->hr, OFFSERV_CBS_E_INVALID_PACKAGE);
	ck_assert_ptr_nonnull(strstr(r->message, "b-damaged.msu"));
	ck_assert_ptr_nonnull(strstr(r->message, "not well-formed"));
	r = result_for(&res, "c-readme.txt");
	ck_assert_int_eq(r->outcome, OFFSERV_LIBRARY_SKIPPED);
	ck_assert_ptr_nonnull(strstr(r->message, "c-readme.txt"));

	/* Only the three good files are in the library, each at its digest path. */
	ck_assert_uint_eq(count_files(lib), 3);
	r = result_for(&res, "a-lcu1.msu");
	ck_assert_int_eq(r->outcome, OFFSERV_LIBRARY_IMPORTED);
	expect = offserv_library_path_for(lib, r->sha256, "a-lcu1.msu");
	ck_assert_int_eq(access(expect, F_OK), 0);
	ck_assert_uint_eq(offserv_sitedb_update_get(db, r->update_id, &u, err, sizeof(err)),
	                  OFFSERV_OK);
	ck_assert_str_eq(u.library_path, expect);
	ck_assert_str_eq(u.kb, "KB5034122");
	ck_assert_str_eq(u.format, "fake");
	ck_assert_str_eq(u.sha256, r->sha256);
	ck_assert_uint_eq(u.size, strlen(LCU1));
	ck_assert_int_eq(u.supported, 1);
	/* The newer RollupFix (in a package after the SSU) supersedes it. */
	ck_assert_int_eq(u.superseded_by, result_for(&res, "d-lcu2.msu")->update_id);
	offserv_update_rec_clear(&u);
	free(expect);

	{
		struct offserv_update_package_rec *pk = NULL;
		size_t n = 0;

		ck_assert_uint_eq(offserv_sitedb_update_packages(db, result_for(&res, "d-lcu2.msu")->update_id,
		                                                 &pk, &n, err, sizeof(err)),
		                  OFFSERV_OK);
		ck_assert_uint_eq(n, 2);
		ck_assert_int_eq(pk[0].is_ssu, 1);
		ck_assert_str_eq(pk[1].name, "Package_for_RollupFix");
		offserv_update_package_recs_free(pk, n);
	}
	offserv_library_results_clear(&res);

	/* Importing again: nothing new, nothing copied. */
	st = offserv_library_import(db, &opts, src, &res, err, sizeof(err));
	ck_assert_uint_eq(st, OFFSERV_CBS_E_INVALID_PACKAGE);
	ck_assert_uint_eq(res.n_present, 3);
	ck_assert_uint_eq(res.n_imported, 0);
	r = result_for(&res, "e-other.cab");
	ck_assert_int_eq(r->outcome, OFFSERV_LIBRARY_ALREADY_PRESENT);
	ck_assert_ptr_nonnull(strstr(r->message, "already in the library"));
	ck_assert_uint_eq(count_files(lib), 3);
	offserv_library_results_clear(&res);
}
END_TEST

START_TEST(test_import_single_file_and_copy_by_digest)
{
	struct offserv_library_results res;
	char *path = offtest_strdup_printf("%s/x.msu", src);
	char *copy = offtest_strdup_printf("%s/copy-of-x.msu", src);

	put("x.msu", OTHER);
	put("copy-of-x.msu", OTHER);
	ck_assert_uint_eq(offserv_library_import(db, &opts, path, &res, err, sizeof(err)), OFFSERV_OK);
	ck_assert_uint_eq(res.n, 1);
	ck_assert_int_eq(res.items[0].outcome, OFFSERV_LIBRARY_IMPORTED);
	ck_assert_int_eq(res.items[0].update_id, OFFSERV_UPDATE_ID_BASE + 1);
	offserv_library_results_clear(&res);
	/* Same bytes under another name: already present. */
	ck_assert_uint_eq(offserv_library_import(db, &opts, copy, &res, err, sizeof(err)), OFFSERV_OK);
	ck_assert_int_eq(res.items[0].outcome, OFFSERV_LIBRARY_ALREADY_PRESENT);
	ck_assert_int_eq(res.items[0].update_id, OFFSERV_UPDATE_ID_BASE + 1);
	offserv_library_results_clear(&res);
	free(path);
	free(copy);
}
END_TEST

START_TEST(test_db_failure_leaves_nothing)
{
	struct offserv_library_results res;
	char *dbpath = offtest_strdup_printf("%s/site.db", tmp);
	sqlite3 *raw;

	put("a.msu", LCU1);
	ck_assert_int_eq(sqlite3_open(dbpath, &raw), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(raw,
	                              "CREATE TRIGGER refuse BEFORE INSERT ON update_packages "
	                              "BEGIN SELECT RAISE(ABORT, 'refused by test'); END;",
	                              NULL, NULL, NULL),
	                 SQLITE_OK);
	sqlite3_close(raw);
	ck_assert_uint_ne(offserv_library_import(db, &opts, src, &res, err, sizeof(err)), OFFSERV_OK);
	ck_assert_uint_eq(res.n_failed, 1);
	ck_assert_ptr_nonnull(strstr(res.items[0].message, "refused by test"));
	ck_assert_uint_eq(count_files(lib), 0);
	offserv_library_results_clear(&res);
	{
		struct offserv_update_rec *list = NULL;
		size_t n = 9;

		ck_assert_uint_eq(offserv_sitedb_update_list(db, NULL, &list, &n, err, sizeof(err)),
		                  OFFSERV_OK);
		ck_assert_uint_eq(n, 0); /* the update row went with the transaction */
		offserv_update_recs_free(list, n);
	}
	free(dbpath);
}
END_TEST

static int stop_after_first(void *ctx, const struct offserv_library_result *r)
{
	(void)r;
	return ++*(int *)ctx >= 1;
}

START_TEST(test_stop_and_missing)
{
	struct offserv_library_results res;
	char *missing = offtest_strdup_printf("%s/nope", src);
	int calls = 0;

	put("a.msu", LCU1);
	put("b.msu", OTHER);
	opts.on_result = stop_after_first;
	opts.on_result_ctx = &calls;
	ck_assert_uint_eq(offserv_library_import(db, &opts, src, &res, err, sizeof(err)),
	                  OFFSERV_E_ABORT);
	ck_assert_uint_eq(res.n, 1);
	ck_assert_int_eq(calls, 1);
	offserv_library_results_clear(&res);
	opts.on_result = NULL;
	ck_assert_uint_eq(offserv_library_import(db, &opts, missing, &res, err, sizeof(err)),
	                  OFFSERV_E_FILE_NOT_FOUND);
	ck_assert_ptr_nonnull(strstr(err, "nope"));
	offserv_library_results_clear(&res);
	opts.probe = NULL;
	ck_assert_uint_eq(offserv_library_import(db, &opts, src, &res, err, sizeof(err)),
	                  OFFSERV_E_INVALIDARG);
	free(missing);
}
END_TEST

START_TEST(test_verify_and_remove)
{
	struct offserv_library_results res;
	struct offserv_update_rec u;
	int64_t id;
	char *libfile;

	put("a.msu", LCU1);
	ck_assert_uint_eq(offserv_library_import(db, &opts, src, &res, err, sizeof(err)), OFFSERV_OK);
	id = res.items[0].update_id;
	libfile = offserv_library_path_for(lib, res.items[0].sha256, "a.msu");
	offserv_library_results_clear(&res);
	ck_assert_uint_eq(offserv_library_verify(db, id, err, sizeof(err)), OFFSERV_OK);
	chmod(libfile, 0644);
	ck_assert_int_eq(offtest_write_file(libfile, "tampered", 8), 0);
	ck_assert_uint_eq(offserv_library_verify(db, id, err, sizeof(err)), OFFSERV_E_CRC);
	ck_assert_ptr_nonnull(strstr(err, "damaged"));
	ck_assert_uint_eq(offserv_library_remove(db, lib, id, err, sizeof(err)), OFFSERV_OK);
	ck_assert_int_ne(access(libfile, F_OK), 0);
	ck_assert_uint_eq(count_files(lib), 0);
	ck_assert_uint_eq(offserv_sitedb_update_get(db, id, &u, err, sizeof(err)), OFFSERV_E_NOT_FOUND);
	ck_assert_uint_eq(offserv_library_remove(db, lib, id, err, sizeof(err)), OFFSERV_E_NOT_FOUND);
	free(libfile);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* The image catalogue, on images made by the fixture generator. */

static char *fix; /* folder of generated images, made once in main() */

static char *fixture(const char *name)
{
	return offtest_strdup_printf("%s/%s", fix, name);
}

static size_t count_images(void)
{
	struct offserv_image_rec *list = NULL;
	size_t n = 0;

	ck_assert_uint_eq(offserv_sitedb_image_list(db, &list, &n, err, sizeof(err)), OFFSERV_OK);
	offserv_image_recs_free(list, n);
	return n;
}

static struct offserv_catalogue_options cat_opts(void)
{
	struct offserv_catalogue_options o;

	memset(&o, 0, sizeof(o));
	o.site_root = tmp;
	o.scratch_dir = tmp;
	return o;
}

START_TEST(test_catalogue_import_copy)
{
	struct offserv_catalogue_options o = cat_opts();
	struct offserv_catalogue_import_result res, res2;
	struct offserv_image_package_rec *pk = NULL;
	struct offserv_image_rec img;
	char *wim = fixture("win10.wim"), *copy = fixture("win10-copy.wim");
	char *images = offtest_strdup_printf("%s/Images", tmp);
	char *json = NULL;
	size_t n = 0;
	bool found = false;
	offserv_status st;

	o.name = "Windows 10 x64";
	st = offserv_catalogue_import_image(db, &o, wim, &res, err, sizeof(err));
	ck_assert_msg(st == OFFSERV_OK, "import: 0x%08x %s", st, err);
	ck_assert_str_eq(res.package_id, "OFS00001");
	ck_assert_str_eq(res.type, "os_image");
	ck_assert_uint_eq(res.n_indexes, 2);
	ck_assert_int_eq(res.solid, 0);
	{
		char *expect = offtest_strdup_printf("%s/Images/OFS00001/install.wim", tmp);
		struct stat a, b;

		ck_assert_str_eq(res.wim_path, expect);
		ck_assert_int_eq(stat(expect, &a), 0);
		ck_assert_int_eq(stat(wim, &b), 0);
		ck_assert_int_eq(a.st_size, b.st_size);
		free(expect);
	}
	ck_assert_uint_eq(offserv_sitedb_image_get(db, "OFS00001", &img, err, sizeof(err)), OFFSERV_OK);
	ck_assert_str_eq(img.name, "Windows 10 x64");
	ck_assert_int_eq(img.referenced, 0);
	ck_assert_ptr_nonnull(strstr(img.source_path, "win10.wim"));
	offserv_image_rec_clear(&img);

	/* The packages of index 2, from its SOFTWARE hive. */
	ck_assert_uint_eq(offserv_sitedb_package_list(db, "OFS00001", 2, &pk, &n, err, sizeof(err)),
	                  OFFSERV_OK);
	ck_assert_uint_ge(n, 3);
	for (size_t i = 0; i < n; i++) {
		ck_assert_int_eq(pk[i].index, 2);
		ck_assert_str_eq(pk[i].origin, "import");
		if (!strcmp(pk[i].identity,
		            "Microsoft-Windows-Foundation-Package~31bf3856ad364e35~amd64~~10.0.19041.1")) {
			found = true;
			ck_assert_uint_eq(pk[i].state, 0x70);
			ck_assert_ptr_nonnull(pk[i].install_time);
			ck_assert_int_eq(strlen(pk[i].install_time), 20);
		}
	}
	ck_assert(found);
	offserv_image_package_recs_free(pk, n);

	ck_assert_uint_eq(offserv_catalogue_image_json(db, "OFS00001", &json, err, sizeof(err)),
	                  OFFSERV_OK);
	ck_assert_ptr_nonnull(strstr(json, "{\"id\":\"OFS00001\",\"name\":\"Windows 10 x64\""));
	ck_assert_ptr_nonnull(strstr(json, "\"type\":\"os_image\""));
	ck_assert_ptr_nonnull(strstr(json, "\"scheduled_date\":null"));
	ck_assert_ptr_nonnull(strstr(json, "\"indexes\":[{\"index\":1,"));
	ck_assert_ptr_nonnull(strstr(json, "\"state_name\":\"Installed\""));
	free(json);

	/* The same file again, by path (reference) or by content (a copy elsewhere). */
	o.storage = OFFSERV_CATALOGUE_REFERENCE;
	ck_assert_uint_eq(offserv_catalogue_import_image(db, &o, wim, &res2, err, sizeof(err)),
	                  OFFSERV_E_ALREADY_EXISTS);
	ck_assert_ptr_nonnull(strstr(err, "OFS00001"));
	{
		char *cmd = offtest_strdup_printf("cp '%s' '%s'", wim, copy);

		ck_assert_int_eq(system(cmd), 0);
		free(cmd);
	}
	o.storage = OFFSERV_CATALOGUE_COPY;
	ck_assert_uint_eq(offserv_catalogue_import_image(db, &o, copy, &res2, err, sizeof(err)),
	                  OFFSERV_E_ALREADY_EXISTS);
	ck_assert_ptr_nonnull(strstr(err, "OFS00001"));
	ck_assert_ptr_nonnull(strstr(err, "SHA-256"));
	ck_assert_uint_eq(count_images(), 1);
	ck_assert_uint_eq(count_files(images), 1);
	offserv_catalogue_import_result_clear(&res);
	unlink(copy);
	free(wim);
	free(copy);
	free(images);
}
END_TEST

START_TEST(test_catalogue_reference_one_index)
{
	struct offserv_catalogue_options o = cat_opts();
	struct offserv_catalogue_import_result res;
	struct offserv_image_index_rec *idx = NULL;
	struct offserv_image_package_rec *pk = NULL;
	char *wim = fixture("win10.wim");
	size_t n = 0;
	offserv_status st;

	o.storage = OFFSERV_CATALOGUE_REFERENCE;
	o.index = 2;
	o.read_release_types = 1;
	st = offserv_catalogue_import_image(db, &o, wim, &res, err, sizeof(err));
	ck_assert_msg(st == OFFSERV_OK, "import: 0x%08x %s", st, err);
	ck_assert_str_eq(res.wim_path, wim);
	ck_assert_uint_eq(res.n_indexes, 1);
	ck_assert_uint_eq(offserv_sitedb_index_list(db, res.package_id, &idx, &n, err, sizeof(err)),
	                  OFFSERV_OK);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(idx[0].index, 2);
	ck_assert_str_eq(idx[0].arch, "x64");
	ck_assert_uint_eq(idx[0].build, 19041);
	offserv_image_index_recs_free(idx, n);
	/* Release types come from the .mum files. */
	ck_assert_uint_eq(offserv_sitedb_package_list(db, res.package_id, 0, &pk, &n, err, sizeof(err)),
	                  OFFSERV_OK);
	for (size_t i = 0; i < n; i++)
		if (!strncmp(pk[i].identity, "Microsoft-Windows-Foundation-Package~", 37)) {
			ck_assert_ptr_nonnull(pk[i].release_type);
			ck_assert_str_eq(pk[i].release_type, "Foundation");
		}
	offserv_image_package_recs_free(pk, n);
	offserv_catalogue_import_result_clear(&res);
	o.index = 7;
	ck_assert_uint_eq(offserv_catalogue_import_image(db, &o, wim, &res, err, sizeof(err)),
	                  OFFSERV_E_ALREADY_EXISTS);
	free(wim);
	/* No Images folder: nothing was copied. */
	{
		char *images = offtest_strdup_printf("%s/Images", tmp);

		ck_assert_int_ne(access(images, F_OK), 0);
		free(images);
	}
}
END_TEST

START_TEST(test_catalogue_refusals)
{
	struct offserv_catalogue_options o = cat_opts();
	struct offserv_catalogue_import_result res;
	char *text = fixture("notes.txt"), *trunc = fixture("truncated.wim");
	char *nosoft = fixture("nosoftware.wim"), *wim = fixture("win10.wim");
	char *missing = fixture("missing.wim");
	char *images = offtest_strdup_printf("%s/Images", tmp);
	offserv_status st;

	st = offserv_catalogue_import_image(db, &o, text, &res, err, sizeof(err));
	ck_assert_uint_eq(st, OFFSERV_E_INVALID_DATA);
	ck_assert_ptr_nonnull(strstr(err, "notes.txt"));
	ck_assert_ptr_nonnull(strstr(err, "not a WIM"));

	st = offserv_catalogue_import_image(db, &o, trunc, &res, err, sizeof(err));
	ck_assert_msg(OFFSERV_FAILED(st), "a truncated WIM was accepted");
	ck_assert_ptr_nonnull(strstr(err, "truncated.wim"));

	st = offserv_catalogue_import_image(db, &o, nosoft, &res, err, sizeof(err));
	ck_assert_uint_eq(st, OFFSERV_CBS_E_IMAGE_UNSERVICEABLE);
	ck_assert_msg(strstr(err, "not a Windows image: no SOFTWARE hive in index 1") != NULL, "%s",
	              err);

	st = offserv_catalogue_import_image(db, &o, missing, &res, err, sizeof(err));
	ck_assert_uint_eq(st, OFFSERV_E_FILE_NOT_FOUND);

	o.index = 3;
	st = offserv_catalogue_import_image(db, &o, wim, &res, err, sizeof(err));
	ck_assert_uint_eq(st, OFFSERV_E_INVALIDARG);
	ck_assert_ptr_nonnull(strstr(err, "no index 3"));

	/* Nothing reached the database or the site. */
	ck_assert_uint_eq(count_images(), 0);
	ck_assert_int_ne(access(images, F_OK), 0);
	free(text);
	free(trunc);
	free(nosoft);
	free(wim);
	free(missing);
	free(images);
}
END_TEST

START_TEST(test_catalogue_solid)
{
	struct offserv_catalogue_options o = cat_opts();
	struct offserv_catalogue_import_result res;
	struct offserv_image_rec img;
	char *esd = fixture("win10.esd");
	offserv_status st = offserv_catalogue_import_image(db, &o, esd, &res, err, sizeof(err));

	ck_assert_msg(st == OFFSERV_OK, "import: 0x%08x %s", st, err);
	ck_assert_int_eq(res.solid, 1);
	ck_assert_ptr_nonnull(strstr(res.note, "wimlib-imagex export"));
	ck_assert_ptr_nonnull(strstr(res.note, "--compress=LZX"));
	ck_assert_ptr_nonnull(strstr(res.wim_path, "install.esd"));
	ck_assert_uint_eq(offserv_sitedb_image_get(db, res.package_id, &img, err, sizeof(err)),
	                  OFFSERV_OK);
	ck_assert_int_eq(img.solid, 1);
	offserv_image_rec_clear(&img);
	offserv_catalogue_import_result_clear(&res);
	free(esd);
}
END_TEST

START_TEST(test_filetime_iso)
{
	char iso[21];

	offserv_filetime_to_iso((uint64_t)(1575676800LL + 11644473600LL) * 10000000ull, iso);
	ck_assert_str_eq(iso, "2019-12-07T00:00:00Z");
	offserv_filetime_to_iso(0, iso);
	ck_assert_str_eq(iso, "1601-01-01T00:00:00Z");
}
END_TEST

/* ---------------------------------------------------------------------- */
/* End to end with the real plugins: the fixture generator's demo set. */

static char *demo; /* made once in main(): install.wim, updates/, packages/ */
static char *plugdir;

static void host_log(const struct offserv_host *host, enum offserv_loglevel level,
                     const char *plugin, const char *fmt, ...)
{
	(void)host;
	(void)level;
	(void)plugin;
	(void)fmt;
}

static const struct offserv_host test_host = {OFFSERV_PLUGIN_ABI_VERSION, host_log, NULL};

START_TEST(test_real_formats_end_to_end)
{
	struct offserv_plugins_options po = {0};
	struct offserv_plugins *plugins = NULL;
	struct offserv_library_results res;
	struct offserv_catalogue_options o = cat_opts();
	struct offserv_catalogue_import_result ires;
	struct offserv_applicable_update *a = NULL;
	char *updates = offtest_strdup_printf("%s/updates", demo);
	char *wim = offtest_strdup_printf("%s/install.wim", demo);
	char *noparent_kb = NULL;
	size_t n = 0, seen = 0;
	offserv_status st;

	po.directory = plugdir;
	po.host = &test_host;
	po.allow_insecure = 1;
	st = offserv_plugins_load(&po, &plugins, err, sizeof(err));
	ck_assert_msg(st == OFFSERV_OK, "plugins: 0x%08x %s", st, err);

	opts.probe = NULL;
	opts.plugins = plugins;
	st = offserv_library_import(db, &opts, updates, &res, err, sizeof(err));
	ck_assert_msg(st == OFFSERV_OK, "library: 0x%08x %s", st, err);
	ck_assert_uint_eq(res.n_imported, 4);
	for (size_t i = 0; i < res.n; i++)
		ck_assert_msg(res.items[i].format && (!strcmp(res.items[i].format, "cab") ||
		                                      !strcmp(res.items[i].format, "msu")),
		              "%s read by %s", res.items[i].path, res.items[i].format);
	offserv_library_results_clear(&res);

	o.plugins = plugins;
	st = offserv_catalogue_import_image(db, &o, wim, &ires, err, sizeof(err));
	ck_assert_msg(st == OFFSERV_OK, "image: 0x%08x %s", st, err);
	ck_assert_str_eq(ires.type, "os_image");

	{
		char *cmd = offtest_strdup_printf("ls '%s/packages' | sed -n 's/^kb\\([0-9]*\\)-noparent$/KB\\1/p'",
		                                  demo);
		FILE *f = popen(cmd, "r");
		char line[64] = "";

		ck_assert_ptr_nonnull(f);
		ck_assert_ptr_nonnull(fgets(line, sizeof(line), f));
		pclose(f);
		line[strcspn(line, "\n")] = '\0';
		noparent_kb = strdup(line);
		free(cmd);
	}
	ck_assert_uint_eq(offserv_catalogue_applicable(db, ires.package_id, 1, NULL, 0, &a, &n, err,
	                                               sizeof(err)),
	                  OFFSERV_OK);
	ck_assert_uint_eq(n, 4);
	for (size_t i = 0; i < n; i++) {
		const char *fn = a[i].file_name;

		if (strstr(fn, ".msu")) {
			ck_assert_msg(a[i].verdict == OFFSERV_APPLICABLE, "%s: %s", fn, a[i].explain);
			seen |= 1;
		} else if (strstr(fn, "arm64")) {
			ck_assert_int_eq(a[i].verdict, OFFSERV_NOT_APPLICABLE_ARCH);
			seen |= 2;
		} else if (strcasestr(fn, noparent_kb)) {
			ck_assert_msg(a[i].verdict == OFFSERV_NOT_APPLICABLE_PARENT, "%s: %s", fn,
			              a[i].explain);
			seen |= 4;
		} else {
			ck_assert_msg(a[i].verdict == OFFSERV_APPLICABLE, "%s: %s", fn, a[i].explain);
			seen |= 8;
		}
	}
	ck_assert_uint_eq(seen, 15);
	offserv_applicable_updates_free(a, n);
	offserv_catalogue_import_result_clear(&ires);
	offserv_plugins_unload(plugins);
	free(noparent_kb);
	free(updates);
	free(wim);
}
END_TEST

/* The demo set and a plugin folder with the built cab, msu and os_image plugins. */
static int make_demo(void)
{
	char *rel = offtest_strdup_printf("%s/tests/fixtures/offserv-mkfixture", offtest_builddir());
	char *plugs = offtest_strdup_printf("%s/plugins/.libs", offtest_builddir());
	char *mk = realpath(rel, NULL), *pl = realpath(plugs, NULL);
	char *cmd;
	int rc = -1;

	free(rel);
	free(plugs);
	if (mk && pl) {
		char *root = offtest_tmpdir();

		demo = offtest_strdup_printf("%s/demo", root);
		plugdir = offtest_strdup_printf("%s/plugins", root);
		free(root);
		cmd = offtest_strdup_printf(
			"set -e; '%s' demo '%s' >/dev/null 2>&1; mkdir -p '%s'; "
			"for p in cab msu os_image; do cp '%s'/$p.so '%s'/; chmod 0755 '%s'/$p.so; done",
			mk, demo, plugdir, pl, plugdir, plugdir);
		rc = system(cmd) == 0 ? 0 : -1;
		free(cmd);
	}
	free(mk);
	free(pl);
	return rc;
}

/* Make the catalogue's inputs; returns 0 when the generator and wimlib-imagex ran. */
static int make_fixtures(void)
{
	char *rel = offtest_strdup_printf("%s/tests/fixtures/offserv-mkfixture", offtest_builddir());
	char *mk = realpath(rel, NULL);
	char *cmd;

	free(rel);
	if (!mk)
		return -1;
	int rc;

	if (access(mk, X_OK) != 0 || system("command -v wimlib-imagex >/dev/null 2>&1") != 0) {
		free(mk);
		return -1;
	}
	fix = offtest_tmpdir();
	cmd = offtest_strdup_printf(
		"set -e; cd '%s'; '%s' image win10.wim --indexes 2 --compress none --files 4 >/dev/null; "
		"wimlib-imagex export win10.wim all win10.esd --solid >/dev/null; "
		"head -c 200000 win10.wim > truncated.wim; "
		"mkdir -p plain/Windows/System32 && echo hi > plain/Windows/System32/a.txt; "
		"wimlib-imagex capture plain nosoftware.wim Plain >/dev/null; "
		"echo 'not an image' > notes.txt",
		fix, mk);
	rc = system(cmd);
	free(cmd);
	free(mk);
	return rc == 0 ? 0 : -1;
}

int main(void)
{
	Suite *s = suite_create("library");
	TCase *tc = tcase_create("import");
	int rc;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_import_folder_mixed);
	tcase_add_test(tc, test_import_single_file_and_copy_by_digest);
	tcase_add_test(tc, test_db_failure_leaves_nothing);
	tcase_add_test(tc, test_stop_and_missing);
	tcase_add_test(tc, test_verify_and_remove);
	suite_add_tcase(s, tc);

	tc = tcase_create("catalogue");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_filetime_iso);
	if (make_fixtures() == 0) {
		tcase_add_test(tc, test_catalogue_import_copy);
		tcase_add_test(tc, test_catalogue_reference_one_index);
		tcase_add_test(tc, test_catalogue_refusals);
		tcase_add_test(tc, test_catalogue_solid);
	} else {
		printf("# catalogue import tests skipped: the fixture generator or wimlib-imagex is missing\n");
	}
	suite_add_tcase(s, tc);

	tc = tcase_create("real_formats");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	if (make_demo() == 0)
		tcase_add_test(tc, test_real_formats_end_to_end);
	else
		printf("# end-to-end test skipped: the fixture generator or the built plugins are missing\n");
	suite_add_tcase(s, tc);

	rc = offtest_run(s);
	if (fix) {
		offtest_rmtree(fix);
		free(fix);
	}
	if (demo) {
		char *root = strdup(demo);

		*strrchr(root, '/') = '\0';
		offtest_rmtree(root);
		free(root);
		free(demo);
		free(plugdir);
	}
	return rc;
}
