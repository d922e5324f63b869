/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <wimlib.h>

#include <offserv/status.h>
#include <offserv/util.h>

#include "ntfsvol.h"
#include "testutil.h"
#include "wim.h"

/* Self-relative SD: owner SYSTEM, group BA, protected DACL allowing SYSTEM @mask. */
static size_t make_sd(uint8_t *b, uint32_t mask)
{
	static const uint8_t owner[] = {1, 1, 0, 0, 0, 0, 0, 5, 18, 0, 0, 0};
	static const uint8_t group[] = {1, 2, 0, 0, 0, 0, 0, 5, 32, 0, 0, 0, 0x20, 2, 0, 0};
	size_t o = 20;

	memset(b, 0, 76);
	b[0] = 1;
	b[2] = 0x04;
	b[3] = 0x90;
	b[4] = (uint8_t)o;
	memcpy(b + o, owner, sizeof(owner));
	o += sizeof(owner);
	b[8] = (uint8_t)o;
	memcpy(b + o, group, sizeof(group));
	o += sizeof(group);
	b[16] = (uint8_t)o;
	b[o] = 2;
	b[o + 2] = 28;
	b[o + 4] = 1;
	o += 8;
	b[o] = 0;
	b[o + 2] = 20;
	memcpy(b + o + 4, &mask, 4);
	memcpy(b + o + 8, owner, sizeof(owner));
	o += 20;
	return o;
}

#define SD_ROOT 0x1f01ffu
#define SD_WINDOWS 0x1301bfu
#define SD_SYS32 0x1200a9u
#define SD_A 0x120089u
#define SD_B 0x100000u
#define SD_KEEP 0x1f0000u
#define SD_NEW 0x0012019fu

struct fixture {
	char *dir;
	char *wim;
	char *scratch;
};

static void put(const char *dir, const char *rel, const char *text)
{
	char *p = offtest_strdup_printf("%s/%s", dir, rel);

	ck_assert_int_eq(offtest_write_file(p, text, strlen(text)), 0);
	free(p);
}

static void vol_dir(struct offserv_ntfsvol *v, const char *path, uint32_t mask, uint32_t attrs)
{
	uint8_t sd[76];
	size_t l = make_sd(sd, mask);
	char err[512];

	ck_assert_msg(offserv_ntfsvol_mkdir(v, path, sd, l, attrs, err, sizeof(err)) == OFFSERV_OK,
	              "%s", err);
}

static void vol_file(struct offserv_ntfsvol *v, const char *path, const char *src, uint32_t mask,
                     uint32_t attrs)
{
	uint8_t sd[76];
	size_t l = make_sd(sd, mask);
	char err[512];

	ck_assert_msg(offserv_ntfsvol_add_file(v, path, src, sd, l, attrs, err, sizeof(err)) ==
	                      OFFSERV_OK, "%s", err);
}

/*
 * A two-image WIM: image 1 captured from an NTFS volume (every entry has a
 * descriptor), image 2 captured from a plain directory.
 */
static void make_fixture(struct fixture *f)
{
	char err[512];
	char *plain, *vol, *src;
	struct offserv_ntfsvol *v;
	WIMStruct *w;

	f->dir = offtest_tmpdir();
	f->wim = offtest_strdup_printf("%s/install.wim", f->dir);
	f->scratch = offtest_strdup_printf("%s/scratch", f->dir);
	ck_assert_int_eq(mkdir(f->scratch, 0755), 0);
	src = offtest_strdup_printf("%s/src", f->dir);
	ck_assert_int_eq(mkdir(src, 0755), 0);
	put(src, "a", "old a.dll contents\n");
	put(src, "b", "b.dll to be deleted\n");
	put(src, "keep", "untouched file\n");
	put(src, "cfg", "regf hive bytes\n");

	vol = offtest_strdup_printf("%s/base.ntfs", f->dir);
	ck_assert_msg(offserv_ntfsvol_format(vol, 0, err, sizeof(err)) == OFFSERV_OK, "%s", err);
	ck_assert_msg(offserv_ntfsvol_open(vol, &v, err, sizeof(err)) == OFFSERV_OK, "%s", err);
	vol_dir(v, "/", SD_ROOT, 0x10);
	vol_dir(v, "/Windows", SD_WINDOWS, 0x10);
	vol_dir(v, "/Windows/System32", SD_SYS32, 0x10 | 0x2000);
	vol_dir(v, "/Windows/System32/config", SD_SYS32, 0x10);
	vol_dir(v, "/Windows/WinSxS", SD_WINDOWS, 0x10);
	vol_dir(v, "/Users", SD_ROOT, 0x10 | 0x1 | 0x4);
	{
		char *a = offtest_strdup_printf("%s/a", src), *b = offtest_strdup_printf("%s/b", src),
		     *k = offtest_strdup_printf("%s/keep", src),
		     *c = offtest_strdup_printf("%s/cfg", src);

		vol_file(v, "/Windows/System32/a.dll", a, SD_A, 0x26);
		vol_file(v, "/Windows/System32/b.dll", b, SD_B, 0x20);
		vol_file(v, "/Windows/System32/keep.txt", k, SD_KEEP, 0x21);
		vol_file(v, "/Windows/System32/config/SOFTWARE", c, SD_SYS32, 0x20);
		free(a);
		free(b);
		free(k);
		free(c);
	}
	ck_assert_msg(offserv_ntfsvol_link(v, "/Windows/System32/a.dll",
	                                   "/Windows/WinSxS/a-twin.dll", err, sizeof(err)) ==
	                      OFFSERV_OK, "%s", err);
	ck_assert_uint_eq(offserv_ntfsvol_close(v, err, sizeof(err)), OFFSERV_OK);

	plain = offtest_strdup_printf("%s/plain", f->dir);
	ck_assert_int_eq(mkdir(plain, 0755), 0);
	put(plain, "readme.txt", "second image\n");

	ck_assert_int_eq(wimlib_create_new_wim(WIMLIB_COMPRESSION_TYPE_LZX, &w), 0);
	ck_assert_int_eq(wimlib_add_image(w, vol, "Windows 10 Pro", NULL, WIMLIB_ADD_FLAG_NTFS), 0);
	ck_assert_int_eq(wimlib_add_image(w, plain, "Plain", NULL, 0), 0);
	ck_assert_int_eq(wimlib_set_image_property(w, 1, "DESCRIPTION", "Test image"), 0);
	ck_assert_int_eq(wimlib_set_image_property(w, 1, "WINDOWS/ARCH", "9"), 0);
	ck_assert_int_eq(wimlib_set_image_property(w, 1, "WINDOWS/EDITIONID", "Professional"), 0);
	ck_assert_int_eq(wimlib_set_image_property(w, 1, "WINDOWS/VERSION/MAJOR", "10"), 0);
	ck_assert_int_eq(wimlib_set_image_property(w, 1, "WINDOWS/VERSION/MINOR", "0"), 0);
	ck_assert_int_eq(wimlib_set_image_property(w, 1, "WINDOWS/VERSION/BUILD", "19041"), 0);
	ck_assert_int_eq(wimlib_set_image_property(w, 1, "WINDOWS/VERSION/SPBUILD", "1415"), 0);
	ck_assert_int_eq(wimlib_set_image_property(w, 1, "WINDOWS/VERSION/SPLEVEL", "0"), 0);
	ck_assert_int_eq(wimlib_set_image_property(w, 1, "WINDOWS/LANGUAGES/LANGUAGE", "en-US"), 0);
	ck_assert_int_eq(wimlib_set_image_property(w, 1, "WINDOWS/LANGUAGES/DEFAULT", "en-US"), 0);
	ck_assert_int_eq(wimlib_set_image_property(w, 2, "WINDOWS/ARCH", "12"), 0);
	ck_assert_int_eq(wimlib_write(w, f->wim, WIMLIB_ALL_IMAGES, 0, 0), 0);
	wimlib_free(w);
	unlink(vol);
	free(vol);
	free(plain);
	offtest_rmtree(src);
	free(src);
}

static void free_fixture(struct fixture *f)
{
	offtest_rmtree(f->dir);
	free(f->dir);
	free(f->wim);
	free(f->scratch);
}

/* ---- reading back ---- */

struct snap {
	struct offserv_wim_stat st;
	int ok;
};

static void stat_of(const char *wimpath, int image, const char *path, struct offserv_wim_stat *st)
{
	struct offserv_wim *w;
	char err[512];

	ck_assert_msg(offserv_wim_open(wimpath, OFFSERV_WIM_OPEN_READ, &w, err, sizeof(err)) ==
	                      OFFSERV_OK, "%s", err);
	ck_assert_msg(offserv_wim_stat(w, image, path, OFFSERV_WIM_CASE_SENSITIVE, st, err,
	                               sizeof(err)) == OFFSERV_OK, "%s", err);
	offserv_wim_close(w);
}

static int missing(const char *wimpath, int image, const char *path)
{
	struct offserv_wim *w;
	struct offserv_wim_stat st;
	char err[512];
	offserv_status s;

	ck_assert_uint_eq(offserv_wim_open(wimpath, OFFSERV_WIM_OPEN_READ, &w, err, sizeof(err)),
	                  OFFSERV_OK);
	s = offserv_wim_stat(w, image, path, 0, &st, err, sizeof(err));
	offserv_wim_stat_clear(&st);
	offserv_wim_close(w);
	return s == OFFSERV_E_FILE_NOT_FOUND || s == OFFSERV_E_PATH_NOT_FOUND;
}

static void assert_sd(const struct offserv_wim_stat *st, uint32_t mask)
{
	uint8_t sd[76];
	size_t l = make_sd(sd, mask);

	ck_assert_msg(st->sd_len == l && memcmp(st->sd, sd, l) == 0,
	              "%s: descriptor differs (len %zu)", st->path, st->sd_len);
}

static void sha1_text(const char *text, uint8_t out[20])
{
	struct offserv_sha1 c;

	offserv_sha1_init(&c);
	offserv_sha1_update(&c, text, strlen(text));
	offserv_sha1_final(&c, out);
}

/* A digest of everything wimlib reports about an image, to prove it untouched. */
struct digest_ctx {
	struct offserv_sha256 h;
	size_t n;
	int bad_names;
};

static int digest_cb(const struct wimlib_dir_entry *de, void *ctx)
{
	struct digest_ctx *d = ctx;

	d->n++;
	if (de->filename && (de->filename[0] == '$' ||
	                     strcmp(de->filename, "System Volume Information") == 0))
		d->bad_names++;
	offserv_sha256_update(&d->h, de->full_path, strlen(de->full_path) + 1);
	offserv_sha256_update(&d->h, &de->attributes, sizeof(de->attributes));
	offserv_sha256_update(&d->h, &de->num_links, sizeof(de->num_links));
	if (de->security_descriptor)
		offserv_sha256_update(&d->h, de->security_descriptor, de->security_descriptor_size);
	offserv_sha256_update(&d->h, de->streams[0].resource.sha1_hash, 20);
	offserv_sha256_update(&d->h, &de->last_write_time.tv_sec, sizeof(de->last_write_time.tv_sec));
	offserv_sha256_update(&d->h, &de->creation_time.tv_sec, sizeof(de->creation_time.tv_sec));
	return 0;
}

static void image_digest(const char *wimpath, int image, uint8_t out[32], size_t *n,
                         int *bad_names)
{
	WIMStruct *w;
	struct digest_ctx d;

	memset(&d, 0, sizeof(d));
	offserv_sha256_init(&d.h);
	ck_assert_int_eq(wimlib_open_wim(wimpath, 0, &w), 0);
	ck_assert_int_eq(wimlib_iterate_dir_tree(w, image, "/", WIMLIB_ITERATE_DIR_TREE_FLAG_RECURSIVE,
	                                         digest_cb, &d),
	                 0);
	wimlib_free(w);
	offserv_sha256_final(&d.h, out);
	if (n)
		*n = d.n;
	if (bad_names)
		*bad_names = d.bad_names;
}

static void file_digest(const char *path, uint8_t out[32])
{
	char err[512];

	ck_assert_msg(offserv_sha256_file(path, out, NULL, err, sizeof(err)) == OFFSERV_OK, "%s", err);
}

/* Run wimlib-imagex verify; -1 when the program is not installed. */
static int imagex_verify(const char *wimpath)
{
	pid_t pid = fork();
	int status;

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		char *const argv[] = {(char *)"wimlib-imagex", (char *)"verify", (char *)wimpath, NULL};
		int fd = open("/dev/null", O_WRONLY);

		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execvp(argv[0], argv);
		_exit(127);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/* ---- tests ---- */

START_TEST(test_properties)
{
	struct fixture f;
	struct offserv_wim *w;
	struct offserv_wim_index idx;
	struct offserv_wim_info info;
	char err[512];

	make_fixture(&f);
	ck_assert_msg(offserv_wim_open(f.wim, OFFSERV_WIM_OPEN_READ, &w, err, sizeof(err)) ==
	                      OFFSERV_OK, "%s", err);
	ck_assert_int_eq(offserv_wim_image_count(w), 2);
	ck_assert_uint_eq(offserv_wim_get_info(w, &info, err, sizeof(err)), OFFSERV_OK);
	ck_assert_int_eq(info.image_count, 2);
	ck_assert_int_eq(info.solid, 0);
	ck_assert_int_eq(info.split, 0);
	ck_assert_str_eq(info.compression, "LZX");
	ck_assert_uint_gt(info.file_size, 0);

	ck_assert_uint_eq(offserv_wim_get_index(w, 1, &idx, err, sizeof(err)), OFFSERV_OK);
	ck_assert_int_eq(idx.base.index, 1);
	ck_assert_str_eq(idx.base.name, "Windows 10 Pro");
	ck_assert_str_eq(idx.base.description, "Test image");
	ck_assert_str_eq(idx.base.edition, "Professional");
	ck_assert_str_eq(idx.base.arch, "x64");
	ck_assert_str_eq(idx.base.version, "10.0.19041");
	ck_assert_uint_eq(idx.major, 10);
	ck_assert_uint_eq(idx.base.build, 19041);
	ck_assert_uint_eq(idx.base.sp_build, 1415);
	ck_assert_uint_eq(idx.base.sp_level, 0);
	ck_assert_str_eq(idx.base.languages, "en-US");
	ck_assert_str_eq(idx.default_language, "en-US");
	ck_assert_uint_eq(idx.base.file_count, 5); /* each name of a linked file counts */
	ck_assert_uint_eq(idx.base.dir_count, 6); /* the root counts */
	ck_assert_uint_gt(idx.base.total_bytes, 0);
	ck_assert_uint_gt(idx.creation_time, 116444736000000000ULL); /* after 1970 */
	ck_assert_uint_ge(idx.last_modification_time, idx.creation_time);
	offserv_wim_index_clear(&idx);

	ck_assert_uint_eq(offserv_wim_get_index(w, 2, &idx, err, sizeof(err)), OFFSERV_OK);
	ck_assert_str_eq(idx.base.name, "Plain");
	ck_assert_str_eq(idx.base.arch, "arm64");
	ck_assert_ptr_null(idx.base.version);
	ck_assert_ptr_null(idx.base.languages);
	offserv_wim_index_clear(&idx);

	ck_assert_uint_eq(offserv_wim_get_index(w, 3, &idx, err, sizeof(err)), OFFSERV_E_INVALIDARG);
	ck_assert_ptr_nonnull(strstr(err, f.wim));
	offserv_wim_close(w);
	free_fixture(&f);
}
END_TEST

static offserv_status count_cb(void *ctx, const struct offserv_wim_stat *e)
{
	size_t *n = ctx;

	(*n)++;
	ck_assert_ptr_nonnull(e->name);
	return OFFSERV_OK;
}

START_TEST(test_read_paths)
{
	struct fixture f;
	struct offserv_wim *w;
	struct offserv_wim_stat st;
	char err[512], *real = NULL, **local = NULL;
	uint8_t want[20];
	size_t n = 0, len;
	char *data;

	make_fixture(&f);
	ck_assert_uint_eq(offserv_wim_open(f.wim, OFFSERV_WIM_OPEN_READ, &w, err, sizeof(err)),
	                  OFFSERV_OK);
	/* Windows paths are case-insensitive; wimlib's are not. */
	ck_assert_msg(offserv_wim_resolve(w, 1, "windows\\SYSTEM32\\Config\\software", 0, &real, err,
	                                  sizeof(err)) == OFFSERV_OK, "%s", err);
	ck_assert_str_eq(real, "/Windows/System32/config/SOFTWARE");
	free(real);
	ck_assert_uint_eq(offserv_wim_resolve(w, 1, "windows/system32/config/software",
	                                      OFFSERV_WIM_CASE_SENSITIVE, &real, err, sizeof(err)),
	                  OFFSERV_E_FILE_NOT_FOUND);
	ck_assert_uint_eq(offserv_wim_resolve(w, 1, "/Windows/Nope/x", 0, &real, err, sizeof(err)),
	                  OFFSERV_E_PATH_NOT_FOUND);
	ck_assert_uint_eq(offserv_wim_resolve(w, 1, "/Windows/System32/nope.dll", 0, &real, err,
	                                      sizeof(err)),
	                  OFFSERV_E_FILE_NOT_FOUND);
	ck_assert_ptr_nonnull(strstr(err, f.wim));

	ck_assert_uint_eq(offserv_wim_stat(w, 1, "WINDOWS/system32/A.DLL", 0, &st, err, sizeof(err)),
	                  OFFSERV_OK);
	ck_assert_str_eq(st.path, "/Windows/System32/a.dll");
	ck_assert_str_eq(st.name, "a.dll");
	ck_assert_int_eq(st.is_dir, 0);
	ck_assert_uint_eq(st.size, strlen("old a.dll contents\n"));
	ck_assert_uint_eq(st.attributes, 0x26);
	ck_assert_uint_eq(st.num_links, 2);
	ck_assert_uint_ne(st.hard_link_group_id, 0);
	assert_sd(&st, SD_A);
	ck_assert(st.has_sha1);
	sha1_text("old a.dll contents\n", want);
	ck_assert_mem_eq(st.sha1, want, 20);
	offserv_wim_stat_clear(&st);

	ck_assert_uint_eq(offserv_wim_stat(w, 1, "/windows/system32", 0, &st, err, sizeof(err)),
	                  OFFSERV_OK);
	ck_assert_int_eq(st.is_dir, 1);
	ck_assert_uint_eq(st.attributes, 0x2010);
	offserv_wim_stat_clear(&st);

	ck_assert_uint_eq(offserv_wim_list(w, 1, "windows/system32", 0, count_cb, &n, err,
	                                   sizeof(err)),
	                  OFFSERV_OK);
	ck_assert_uint_eq(n, 4); /* a.dll b.dll config keep.txt */

	/* extract a hive and a glob, keeping the image's structure and spelling */
	{
		const char *paths[] = {"windows/system32/config/software", "Windows/System32/*.DLL"};

		ck_assert_msg(offserv_wim_extract(w, 1, paths, 2, f.scratch, 0,
		                                  NULL, err, sizeof(err)) != OFFSERV_OK,
		              "a glob without the GLOB flag is a literal name");
		ck_assert_msg(offserv_wim_extract(w, 1, paths, 1, f.scratch, 0, &local, err,
		                                  sizeof(err)) == OFFSERV_OK, "%s", err);
		{
			char *want_path = offtest_strdup_printf("%s/Windows/System32/config/SOFTWARE",
			                                        f.scratch);

			ck_assert_str_eq(local[0], want_path);
			free(want_path);
		}
		data = offtest_read_file(local[0], &len);
		ck_assert_ptr_nonnull(data);
		ck_assert_str_eq(data, "regf hive bytes\n");
		free(data);
		offserv_wim_strv_free(local, 1);
		ck_assert_msg(offserv_wim_extract(w, 1, paths + 1, 1, f.scratch, OFFSERV_WIM_EXTRACT_GLOB,
		                                  &local, err, sizeof(err)) == OFFSERV_OK, "%s", err);
		offserv_wim_strv_free(local, 1);
		{
			char *b = offtest_strdup_printf("%s/Windows/System32/b.dll", f.scratch);
			char *k = offtest_strdup_printf("%s/Windows/System32/keep.txt", f.scratch);

			data = offtest_read_file(b, &len);
			ck_assert_ptr_nonnull(data);
			ck_assert_str_eq(data, "b.dll to be deleted\n");
			free(data);
			data = offtest_read_file(k, &len);
			ck_assert_ptr_null(data);
			free(b);
			free(k);
		}
	}
	offserv_wim_close(w);
	free_fixture(&f);
}
END_TEST

static int abort_at_once(void *ctx, uint64_t done, uint64_t total, const char *what)
{
	int *calls = ctx;

	(void)done;
	(void)total;
	(void)what;
	(*calls)++;
	return 1;
}

static int count_progress(void *ctx, uint64_t done, uint64_t total, const char *what)
{
	int *calls = ctx;

	(void)done;
	(void)total;
	(void)what;
	(*calls)++;
	return 0;
}

START_TEST(test_changeset)
{
	struct fixture f;
	struct offserv_wim *w;
	struct offserv_wim_changeset *cs;
	struct offserv_wim_stat before_root, before_win, before_sys, before_keep, before_a, st, st2;
	char err[512];
	char *newsrc, *repl;
	uint8_t sd_new[76], want[20], img2_before[32], img2_after[32];
	size_t l_new = make_sd(sd_new, SD_NEW), n1, n2;
	int bad, calls = 0;

	make_fixture(&f);
	newsrc = offtest_strdup_printf("%s/foo.dll", f.dir);
	repl = offtest_strdup_printf("%s/a-new.dll", f.dir);
	put(f.dir, "foo.dll", "brand new foo.dll\n");
	put(f.dir, "a-new.dll", "replacement a.dll, version 2\n");
	stat_of(f.wim, 1, "/", &before_root);
	stat_of(f.wim, 1, "/Windows", &before_win);
	stat_of(f.wim, 1, "/Windows/System32", &before_sys);
	stat_of(f.wim, 1, "/Windows/System32/keep.txt", &before_keep);
	stat_of(f.wim, 1, "/Windows/System32/a.dll", &before_a);
	image_digest(f.wim, 2, img2_before, &n2, NULL);

	ck_assert_msg(offserv_wim_open(f.wim, OFFSERV_WIM_OPEN_WRITE, &w, err, sizeof(err)) ==
	                      OFFSERV_OK, "%s", err);
	offserv_wim_set_progress(w, count_progress, &calls);
	ck_assert_uint_eq(offserv_wim_changeset_new(w, 1, &cs, err, sizeof(err)), OFFSERV_OK);
	ck_assert_msg(offserv_wim_changeset_add_file(
	                      cs, "Windows/WinSxS/amd64_foo_31bf3856ad364e35_10.0.1.1_none_1/foo.dll",
	                      newsrc, sd_new, l_new, 0x20, err, sizeof(err)) == OFFSERV_OK, "%s", err);
	ck_assert_msg(offserv_wim_changeset_link(
	                      cs, "Windows/WinSxS/amd64_foo_31bf3856ad364e35_10.0.1.1_none_1/foo.dll",
	                      "windows/system32/foo.dll", err, sizeof(err)) == OFFSERV_OK, "%s", err);
	ck_assert_msg(offserv_wim_changeset_add_file(cs, "WINDOWS/System32/A.dll", repl, NULL, 0, 0,
	                                             err, sizeof(err)) == OFFSERV_OK, "%s", err);
	ck_assert_msg(offserv_wim_changeset_delete(cs, "windows/system32/b.dll", err, sizeof(err)) ==
	                      OFFSERV_OK, "%s", err);
	ck_assert_uint_eq(offserv_wim_changeset_delete(cs, "windows/system32/none.dll", err,
	                                               sizeof(err)),
	                  OFFSERV_E_FILE_NOT_FOUND);
	ck_assert_msg(offserv_wim_changeset_add_dir(cs, "Program Files/Offserv Test", NULL, 0, 0, err,
	                                            sizeof(err)) == OFFSERV_OK, "%s", err);
	ck_assert_uint_eq(offserv_wim_changeset_link(cs, "/not/added.dll", "/x.dll", err, sizeof(err)),
	                  OFFSERV_E_INVALIDARG);
	ck_assert_uint_eq(offserv_wim_changeset_bytes(cs),
	                  strlen("brand new foo.dll\n") + strlen("replacement a.dll, version 2\n"));
	ck_assert_msg(offserv_wim_changeset_apply(cs, f.scratch, err, sizeof(err)) == OFFSERV_OK, "%s",
	              err);
	offserv_wim_changeset_free(cs);
	ck_assert_msg(offserv_wim_commit(w, 0, err, sizeof(err)) == OFFSERV_OK, "%s", err);
	offserv_wim_close(w);
	ck_assert_int_gt(calls, 0);
	/* sources may go once the change set is applied; the scratch folder is gone */
	{
		char *p = offtest_strdup_printf("%s/x", f.scratch);
		int empty = rmdir(f.scratch) == 0;

		ck_assert_msg(empty, "scratch folder left non-empty");
		free(p);
	}

	/* the two new names are one file with the given descriptor */
	stat_of(f.wim, 1, "/Windows/WinSxS/amd64_foo_31bf3856ad364e35_10.0.1.1_none_1/foo.dll", &st);
	stat_of(f.wim, 1, "/Windows/System32/foo.dll", &st2);
	ck_assert_uint_eq(st.num_links, 2);
	ck_assert_uint_eq(st2.num_links, 2);
	ck_assert_uint_ne(st.hard_link_group_id, 0);
	ck_assert_uint_eq(st.hard_link_group_id, st2.hard_link_group_id);
	ck_assert_uint_eq(st.sd_len, l_new);
	ck_assert_mem_eq(st.sd, sd_new, l_new);
	ck_assert_uint_eq(st.attributes, 0x20);
	sha1_text("brand new foo.dll\n", want);
	ck_assert_mem_eq(st.sha1, want, 20);
	ck_assert_mem_eq(st2.sha1, want, 20);
	offserv_wim_stat_clear(&st);
	offserv_wim_stat_clear(&st2);
	/* the new component folder took its parent's descriptor */
	stat_of(f.wim, 1, "/Windows/WinSxS/amd64_foo_31bf3856ad364e35_10.0.1.1_none_1", &st);
	assert_sd(&st, SD_WINDOWS);
	ck_assert_uint_eq(st.attributes, 0x10);
	offserv_wim_stat_clear(&st);

	/* the replaced file: new data, old descriptor and attributes, out of its old link group */
	stat_of(f.wim, 1, "/Windows/System32/a.dll", &st);
	sha1_text("replacement a.dll, version 2\n", want);
	ck_assert_mem_eq(st.sha1, want, 20);
	assert_sd(&st, SD_A);
	ck_assert_uint_eq(st.attributes, before_a.attributes);
	ck_assert_uint_eq(st.num_links, 1);
	offserv_wim_stat_clear(&st);
	stat_of(f.wim, 1, "/Windows/WinSxS/a-twin.dll", &st);
	sha1_text("old a.dll contents\n", want);
	ck_assert_mem_eq(st.sha1, want, 20);
	assert_sd(&st, SD_A);
	ck_assert_uint_eq(st.num_links, 1);
	offserv_wim_stat_clear(&st);

	ck_assert(missing(f.wim, 1, "/Windows/System32/b.dll"));

	/* the new directory and its new parent */
	stat_of(f.wim, 1, "/Program Files/Offserv Test", &st);
	ck_assert_int_eq(st.is_dir, 1);
	assert_sd(&st, SD_ROOT);
	offserv_wim_stat_clear(&st);

	/* untouched file and existing directories keep everything */
	stat_of(f.wim, 1, "/Windows/System32/keep.txt", &st);
	assert_sd(&st, SD_KEEP);
	ck_assert_uint_eq(st.attributes, before_keep.attributes);
	ck_assert_mem_eq(st.sha1, before_keep.sha1, 20);
	ck_assert_uint_eq(st.last_write_time, before_keep.last_write_time);
	offserv_wim_stat_clear(&st);
	{
		struct offserv_wim_stat *b[] = {&before_root, &before_win, &before_sys};

		for (size_t i = 0; i < 3; i++) {
			stat_of(f.wim, 1, b[i]->path, &st);
			ck_assert_uint_eq(st.sd_len, b[i]->sd_len);
			ck_assert_mem_eq(st.sd, b[i]->sd, st.sd_len);
			ck_assert_uint_eq(st.attributes, b[i]->attributes);
			ck_assert_uint_eq(st.creation_time, b[i]->creation_time);
			ck_assert_uint_eq(st.last_write_time, b[i]->last_write_time);
			offserv_wim_stat_clear(&st);
			offserv_wim_stat_clear(b[i]);
		}
	}
	offserv_wim_stat_clear(&before_keep);
	offserv_wim_stat_clear(&before_a);

	/* no NTFS metadata from the scratch volume; nothing else new */
	image_digest(f.wim, 1, img2_after /* reused below */, &n1, &bad);
	ck_assert_int_eq(bad, 0);
	/* before: 11 entries; now +foo dir, +2 foo names, +Program Files, +Offserv Test, -b.dll */
	ck_assert_uint_eq(n1, 11 + 5 - 1);

	/* the other image is untouched */
	image_digest(f.wim, 2, img2_after, &n1, NULL);
	ck_assert_uint_eq(n1, n2);
	ck_assert_mem_eq(img2_before, img2_after, 32);

	{
		int v = imagex_verify(f.wim);

		if (v < 0)
			printf("# wimlib-imagex not installed: verify skipped\n");
		else
			ck_assert_msg(v == 0, "wimlib-imagex verify failed: %d", v);
	}
	free(newsrc);
	free(repl);
	free_fixture(&f);
}
END_TEST

START_TEST(test_abort_leaves_file)
{
	struct fixture f;
	struct offserv_wim *w;
	struct offserv_wim_changeset *cs;
	char err[512];
	uint8_t before[32], after[32];
	int calls = 0;
	offserv_status s;

	make_fixture(&f);
	put(f.dir, "big.bin", "some data that is new to the WIM\n");
	file_digest(f.wim, before);
	ck_assert_uint_eq(offserv_wim_open(f.wim, OFFSERV_WIM_OPEN_WRITE, &w, err, sizeof(err)),
	                  OFFSERV_OK);
	ck_assert_uint_eq(offserv_wim_changeset_new(w, 1, &cs, err, sizeof(err)), OFFSERV_OK);
	{
		char *src = offtest_strdup_printf("%s/big.bin", f.dir);

		ck_assert_uint_eq(offserv_wim_changeset_add_file(cs, "/Windows/big.bin", src, NULL, 0,
		                                                 0, err, sizeof(err)),
		                  OFFSERV_OK);
		free(src);
	}
	ck_assert_uint_eq(offserv_wim_changeset_delete(cs, "/Windows/System32/keep.txt", err,
	                                               sizeof(err)),
	                  OFFSERV_OK);
	ck_assert_msg(offserv_wim_changeset_apply(cs, f.scratch, err, sizeof(err)) == OFFSERV_OK, "%s",
	              err);
	offserv_wim_changeset_free(cs);
	offserv_wim_set_progress(w, abort_at_once, &calls);
	s = offserv_wim_commit(w, 0, err, sizeof(err));
	ck_assert_uint_eq(s, OFFSERV_E_ABORT);
	ck_assert_int_gt(calls, 0);
	ck_assert_ptr_nonnull(strstr(err, f.wim));
	/* the handle refuses further work */
	ck_assert_uint_eq(offserv_wim_commit(w, 0, err, sizeof(err)), OFFSERV_E_UNEXPECTED);
	offserv_wim_close(w);
	file_digest(f.wim, after);
	ck_assert_mem_eq(before, after, 32);
	ck_assert(!missing(f.wim, 1, "/Windows/System32/keep.txt"));
	free_fixture(&f);
}
END_TEST

START_TEST(test_rebuild)
{
	struct fixture f;
	struct offserv_wim *w;
	struct offserv_wim_changeset *cs;
	char err[512];
	struct stat a, b;

	make_fixture(&f);
	ck_assert_uint_eq(offserv_wim_open(f.wim, OFFSERV_WIM_OPEN_WRITE, &w, err, sizeof(err)),
	                  OFFSERV_OK);
	ck_assert_uint_eq(offserv_wim_changeset_new(w, 1, &cs, err, sizeof(err)), OFFSERV_OK);
	ck_assert_uint_eq(offserv_wim_changeset_rename(cs, "/windows/system32/keep.txt",
	                                               "/Windows/kept.txt", err, sizeof(err)),
	                  OFFSERV_OK);
	ck_assert_msg(offserv_wim_changeset_apply(cs, f.scratch, err, sizeof(err)) == OFFSERV_OK, "%s",
	              err);
	offserv_wim_changeset_free(cs);
	ck_assert_msg(offserv_wim_commit(w, 0, err, sizeof(err)) == OFFSERV_OK, "%s", err);
	offserv_wim_close(w);
	ck_assert_int_eq(stat(f.wim, &a), 0);
	ck_assert_uint_eq(offserv_wim_open(f.wim, OFFSERV_WIM_OPEN_WRITE, &w, err, sizeof(err)),
	                  OFFSERV_OK);
	ck_assert_msg(offserv_wim_commit(w, OFFSERV_WIM_COMMIT_REBUILD, err, sizeof(err)) ==
	                      OFFSERV_OK, "%s", err);
	offserv_wim_close(w);
	ck_assert_int_eq(stat(f.wim, &b), 0);
	ck_assert_int_lt(b.st_size, a.st_size); /* the hole left by the append is gone */
	ck_assert(missing(f.wim, 1, "/Windows/System32/keep.txt"));
	{
		struct offserv_wim_stat st;

		stat_of(f.wim, 1, "/Windows/kept.txt", &st);
		assert_sd(&st, SD_KEEP);
		offserv_wim_stat_clear(&st);
	}
	ck_assert_int_eq(imagex_verify(f.wim) > 0, 0);
	free_fixture(&f);
}
END_TEST

START_TEST(test_bad_files)
{
	struct fixture f;
	struct offserv_wim *w = NULL;
	char err[512] = "", *trunc, *junk, *nope;
	size_t len;
	char *data;
	offserv_status s;

	make_fixture(&f);
	data = offtest_read_file(f.wim, &len);
	ck_assert_ptr_nonnull(data);

	trunc = offtest_strdup_printf("%s/truncated.wim", f.dir);
	ck_assert_int_eq(offtest_write_file(trunc, data, len / 2), 0);
	s = offserv_wim_open(trunc, OFFSERV_WIM_OPEN_READ, &w, err, sizeof(err));
	if (s == OFFSERV_OK) {
		struct offserv_wim_stat st;

		s = offserv_wim_stat(w, 1, "/Windows", 0, &st, err, sizeof(err));
		offserv_wim_close(w);
	}
	ck_assert(OFFSERV_FAILED(s));
	ck_assert_msg(strstr(err, trunc) != NULL, "%s", err);
	printf("# truncated: 0x%08x %s\n", s, err);

	ck_assert_int_eq(offtest_write_file(trunc, data, 100), 0);
	s = offserv_wim_open(trunc, OFFSERV_WIM_OPEN_READ, &w, err, sizeof(err));
	ck_assert(OFFSERV_FAILED(s));
	ck_assert_ptr_nonnull(strstr(err, trunc));
	printf("# short header: 0x%08x %s\n", s, err);

	junk = offtest_strdup_printf("%s/junk.wim", f.dir);
	memset(data, 'j', len);
	ck_assert_int_eq(offtest_write_file(junk, data, len), 0);
	s = offserv_wim_open(junk, OFFSERV_WIM_OPEN_READ, &w, err, sizeof(err));
	ck_assert_uint_eq(s, OFFSERV_E_INVALID_DATA);
	ck_assert_ptr_nonnull(strstr(err, junk));
	ck_assert_ptr_nonnull(strstr(err, wimlib_get_error_string(WIMLIB_ERR_NOT_A_WIM_FILE)));

	nope = offtest_strdup_printf("%s/nope.wim", f.dir);
	ck_assert_uint_eq(offserv_wim_open(nope, OFFSERV_WIM_OPEN_READ, &w, err, sizeof(err)),
	                  OFFSERV_E_FILE_NOT_FOUND);
	ck_assert_ptr_nonnull(strstr(err, nope));
	free(data);
	free(trunc);
	free(junk);
	free(nope);
	free_fixture(&f);
}
END_TEST

START_TEST(test_solid_and_split_refused)
{
	struct fixture f;
	struct offserv_wim *w = NULL;
	struct offserv_wim_info info;
	char err[512] = "", *esd, *swm;
	WIMStruct *ws;

	make_fixture(&f);
	esd = offtest_strdup_printf("%s/install.esd", f.dir);
	swm = offtest_strdup_printf("%s/install.swm", f.dir);
	ck_assert_int_eq(wimlib_open_wim(f.wim, 0, &ws), 0);
	ck_assert_int_eq(wimlib_set_output_compression_type(ws, WIMLIB_COMPRESSION_TYPE_LZMS), 0);
	ck_assert_int_eq(wimlib_write(ws, esd, WIMLIB_ALL_IMAGES, WIMLIB_WRITE_FLAG_SOLID, 0), 0);
	wimlib_free(ws);
	ck_assert_int_eq(wimlib_open_wim(f.wim, 0, &ws), 0);
	ck_assert_int_eq(wimlib_split(ws, swm, 512, 0), 0);
	wimlib_free(ws);

	ck_assert_uint_eq(offserv_wim_open(esd, OFFSERV_WIM_OPEN_WRITE, &w, err, sizeof(err)),
	                  OFFSERV_CBS_E_IMAGE_UNSERVICEABLE);
	ck_assert_ptr_nonnull(strstr(err, esd));
	ck_assert_uint_eq(offserv_wim_open(esd, OFFSERV_WIM_OPEN_READ, &w, err, sizeof(err)),
	                  OFFSERV_OK);
	ck_assert_uint_eq(offserv_wim_get_info(w, &info, err, sizeof(err)), OFFSERV_OK);
	ck_assert_int_eq(info.solid, 1);
	offserv_wim_close(w);

	ck_assert_uint_eq(offserv_wim_open(swm, OFFSERV_WIM_OPEN_WRITE, &w, err, sizeof(err)),
	                  OFFSERV_CBS_E_IMAGE_UNSERVICEABLE);
	ck_assert_msg(strstr(err, "split") != NULL, "%s", err);
	ck_assert_uint_eq(offserv_wim_open(swm, OFFSERV_WIM_OPEN_READ, &w, err, sizeof(err)),
	                  OFFSERV_OK);
	ck_assert_uint_eq(offserv_wim_get_info(w, &info, err, sizeof(err)), OFFSERV_OK);
	ck_assert_int_eq(info.split, 1);
	ck_assert_int_gt(info.total_parts, 1);
	offserv_wim_close(w);
	free(esd);
	free(swm);
	free_fixture(&f);
}
END_TEST

static double now_s(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

/* A measurement, not an assertion: run with OFFSERV_WIM_BENCH=1. */
START_TEST(test_bench_20_of_5000)
{
	char *dir = offtest_tmpdir();
	char *tree = offtest_strdup_printf("%s/tree", dir);
	char *wimpath = offtest_strdup_printf("%s/big.wim", dir);
	char *scratch = offtest_strdup_printf("%s/scratch", dir);
	char err[512], buf[4096];
	struct offserv_wim *w;
	struct offserv_wim_changeset *cs;
	struct stat a, b;
	WIMStruct *ws;
	uint8_t sd[76];
	size_t l = make_sd(sd, SD_NEW);
	double t0, t1, t2;

	ck_assert_int_eq(mkdir(tree, 0755), 0);
	ck_assert_int_eq(mkdir(scratch, 0755), 0);
	for (int d = 0; d < 50; d++) {
		char *sub = offtest_strdup_printf("%s/dir%02d", tree, d);

		ck_assert_int_eq(mkdir(sub, 0755), 0);
		for (int i = 0; i < 100; i++) {
			char *p = offtest_strdup_printf("%s/file%03d.dll", sub, i);

			for (size_t k = 0; k < sizeof(buf); k++)
				buf[k] = (char)((k * 131u + (unsigned)i * 7u + (unsigned)d) & 0xff);
			ck_assert_int_eq(offtest_write_file(p, buf, sizeof(buf)), 0);
			free(p);
		}
		free(sub);
	}
	ck_assert_int_eq(wimlib_create_new_wim(WIMLIB_COMPRESSION_TYPE_LZX, &ws), 0);
	ck_assert_int_eq(wimlib_add_image(ws, tree, "bench", NULL, 0), 0);
	ck_assert_int_eq(wimlib_write(ws, wimpath, WIMLIB_ALL_IMAGES, 0, 0), 0);
	wimlib_free(ws);
	ck_assert_int_eq(stat(wimpath, &a), 0);

	t0 = now_s();
	ck_assert_uint_eq(offserv_wim_open(wimpath, OFFSERV_WIM_OPEN_WRITE, &w, err, sizeof(err)),
	                  OFFSERV_OK);
	ck_assert_uint_eq(offserv_wim_changeset_new(w, 1, &cs, err, sizeof(err)), OFFSERV_OK);
	for (int i = 0; i < 20; i++) {
		char *src = offtest_strdup_printf("%s/new%02d.bin", dir, i);
		char *dst = offtest_strdup_printf("/dir%02d/NEW%02d.dll", i, i);

		memset(buf, 'A' + i, sizeof(buf));
		ck_assert_int_eq(offtest_write_file(src, buf, sizeof(buf)), 0);
		ck_assert_uint_eq(offserv_wim_changeset_add_file(cs, dst, src, sd, l, 0x20, err,
		                                                 sizeof(err)),
		                  OFFSERV_OK);
		free(src);
		free(dst);
	}
	ck_assert_msg(offserv_wim_changeset_apply(cs, scratch, err, sizeof(err)) == OFFSERV_OK, "%s",
	              err);
	offserv_wim_changeset_free(cs);
	t1 = now_s();
	ck_assert_msg(offserv_wim_commit(w, 0, err, sizeof(err)) == OFFSERV_OK, "%s", err);
	offserv_wim_close(w);
	t2 = now_s();
	ck_assert_int_eq(stat(wimpath, &b), 0);
	printf("# bench: 20 files into a 5000-file WIM (%lld bytes): apply %.3f s, commit %.3f s, "
	       "growth %lld bytes\n",
	       (long long)a.st_size, t1 - t0, t2 - t1, (long long)(b.st_size - a.st_size));
	offtest_rmtree(dir);
	free(dir);
	free(tree);
	free(wimpath);
	free(scratch);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("wim");
	TCase *tc = tcase_create("wim");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_properties);
	tcase_add_test(tc, test_read_paths);
	tcase_add_test(tc, test_changeset);
	tcase_add_test(tc, test_abort_leaves_file);
	tcase_add_test(tc, test_rebuild);
	tcase_add_test(tc, test_bad_files);
	tcase_add_test(tc, test_solid_and_split_refused);
	if (getenv("OFFSERV_WIM_BENCH"))
		tcase_add_test(tc, test_bench_20_of_5000);
	else
		printf("# set OFFSERV_WIM_BENCH=1 to measure a 20-file change set on a 5000-file WIM\n");
	suite_add_tcase(s, tc);
	return offtest_run(s);
}
