/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <hivex.h>

#include <offserv/status.h>

#include "hive.h"
#include "testutil.h"

#define PKGS "Microsoft\\Windows\\CurrentVersion\\Component Based Servicing\\Packages"
#define PKG "Package_for_KB5034441~31bf3856ad364e35~amd64~~19041.3920.1.7"

/* A writable copy of the project's minimal hive in a fresh directory. */
static char *fresh_hive(char **dir)
{
	char *src = offtest_strdup_printf("%s/tests/fixtures/minimal.hive", offtest_srcdir());
	size_t len;
	char *data = offtest_read_file(src, &len);
	char *path;

	ck_assert_msg(data != NULL, "cannot read %s", src);
	ck_assert_uint_eq(len, 8192);
	*dir = offtest_tmpdir();
	ck_assert_ptr_nonnull(*dir);
	path = offtest_strdup_printf("%s/SOFTWARE", *dir);
	ck_assert_int_eq(offtest_write_file(path, data, len), 0);
	free(data);
	free(src);
	return path;
}

static struct offserv_hive *open_ok(const char *path, int flags)
{
	struct offserv_hive *h = NULL;
	char err[512] = "";
	offserv_status st = offserv_hive_open(path, flags, &h, err, sizeof(err));

	ck_assert_msg(st == OFFSERV_OK, "open %s: 0x%08x %s", path, st, err);
	return h;
}

/* Assert success, printing the library's message (uses the caller's err). */
#define OK(call)                                                               \
	do {                                                                   \
		offserv_status st_ = (call);                                   \
		ck_assert_msg(st_ == OFFSERV_OK, "%s: 0x%08x %s", #call, st_, err); \
	} while (0)

/* Number of files in @p dir other than "." and "..". */
static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static void fill_package_key(struct offserv_hive *h, offserv_hive_key *out)
{
	static const char *const multi[] = {"one", "zwei", "tr\xc3\xb6s"};
	static const uint8_t bin[] = {0xde, 0xad, 0x00, 0xbe, 0xef};
	offserv_hive_key k;
	char err[512] = "";

	ck_assert_uint_eq(offserv_hive_create(h, 0, PKGS "\\" PKG, &k, err, sizeof(err)), OFFSERV_OK);
	ck_assert_uint_eq(offserv_hive_set_dword(h, k, "CurrentState", 0x70, err, sizeof(err)), OFFSERV_OK);
	ck_assert_uint_eq(offserv_hive_set_sz(h, k, "InstallName", PKG ".mum", err, sizeof(err)), OFFSERV_OK);
	ck_assert_uint_eq(offserv_hive_set_sz(h, k, "InstallUser", "S-1-5-18", err, sizeof(err)), OFFSERV_OK);
	ck_assert_uint_eq(offserv_hive_set_expand_sz(h, k, "Path", "%SystemRoot%\\x", err, sizeof(err)), OFFSERV_OK);
	ck_assert_uint_eq(offserv_hive_set_multi_sz(h, k, "List", multi, 3, err, sizeof(err)), OFFSERV_OK);
	ck_assert_uint_eq(offserv_hive_set_qword(h, k, "Big", 0x0123456789abcdefull, err, sizeof(err)), OFFSERV_OK);
	ck_assert_uint_eq(offserv_hive_set_binary(h, k, "Blob", bin, sizeof(bin), err, sizeof(err)), OFFSERV_OK);
	ck_assert_uint_eq(offserv_hive_set_sz(h, k, "", "default", err, sizeof(err)), OFFSERV_OK);
	*out = k;
}

START_TEST(test_values_roundtrip)
{
	char *dir, *path = fresh_hive(&dir);
	char *out = offtest_strdup_printf("%s/SOFTWARE.new", dir);
	struct offserv_hive *h = open_ok(path, OFFSERV_HIVE_WRITE);
	offserv_hive_key k;
	char err[512] = "";
	uint32_t dw = 0, t = 0;
	uint64_t qw = 0;
	char *s = NULL, **list = NULL;
	uint8_t *data;
	size_t len, n;

	fill_package_key(h, &k);
	ck_assert_uint_eq(offserv_hive_commit(h, out, err, sizeof(err)), OFFSERV_OK);
	offserv_hive_close(h);

	h = open_ok(out, OFFSERV_HIVE_READ);
	ck_assert_uint_eq(offserv_hive_find(h, 0, PKGS "\\" PKG, &k, err, sizeof(err)), OFFSERV_OK);
	ck_assert_uint_eq(offserv_hive_get_dword(h, k, "CurrentState", &dw, err, sizeof(err)), OFFSERV_OK);
	ck_assert_uint_eq(dw, 0x70);
	ck_assert_uint_eq(offserv_hive_get_qword(h, k, "Big", &qw, err, sizeof(err)), OFFSERV_OK);
	ck_assert(qw == 0x0123456789abcdefull);
	ck_assert_uint_eq(offserv_hive_get_string(h, k, "InstallName", &s, err, sizeof(err)), OFFSERV_OK);
	ck_assert_str_eq(s, PKG ".mum");
	free(s);
	ck_assert_uint_eq(offserv_hive_get_string(h, k, "", &s, err, sizeof(err)), OFFSERV_OK);
	ck_assert_str_eq(s, "default");
	free(s);
	/* REG_SZ is stored as UTF-16LE with its terminator. */
	ck_assert_uint_eq(offserv_hive_get_value(h, k, "InstallUser", &t, &data, &len, err, sizeof(err)), OFFSERV_OK);
	ck_assert_uint_eq(t, OFFSERV_HIVE_REG_SZ);
	ck_assert_uint_eq(len, 18);
	ck_assert(memcmp(data, "S\0-\0" "1\0-\0" "5\0-\0" "1\0" "8\0\0\0", 18) == 0);
	free(data);
	ck_assert_uint_eq(offserv_hive_get_value(h, k, "Path", &t, &data, &len, err, sizeof(err)), OFFSERV_OK);
	ck_assert_uint_eq(t, OFFSERV_HIVE_REG_EXPAND_SZ);
	free(data);
	ck_assert_uint_eq(offserv_hive_get_value(h, k, "List", &t, &data, &len, err, sizeof(err)), OFFSERV_OK);
	ck_assert_uint_eq(t, OFFSERV_HIVE_REG_MULTI_SZ);
	ck_assert_uint_eq(len, (4 + 5 + 5) * 2 + 2);
	ck_assert(data[len - 1] == 0 && data[len - 2] == 0 && data[len - 3] == 0 && data[len - 4] == 0);
	free(data);
	ck_assert_uint_eq(offserv_hive_get_multi_sz(h, k, "list", &list, &n, err, sizeof(err)), OFFSERV_OK);
	ck_assert_uint_eq(n, 3);
	ck_assert_str_eq(list[2], "tr\xc3\xb6s");
	ck_assert_ptr_null(list[3]);
	offserv_hive_free_names(list);
	ck_assert_uint_eq(offserv_hive_get_value(h, k, "Blob", &t, &data, &len, err, sizeof(err)), OFFSERV_OK);
	ck_assert_uint_eq(t, OFFSERV_HIVE_REG_BINARY);
	ck_assert_uint_eq(len, 5);
	ck_assert(data[2] == 0 && data[4] == 0xef);
	free(data);
	/* Wrong types and missing values are told apart. */
	ck_assert_uint_eq(offserv_hive_get_string(h, k, "CurrentState", &s, err, sizeof(err)), OFFSERV_E_INVALID_DATA);
	ck_assert_uint_eq(offserv_hive_get_dword(h, k, "Big", &dw, err, sizeof(err)), OFFSERV_E_INVALID_DATA);
	ck_assert_uint_eq(offserv_hive_get_dword(h, k, "Nope", &dw, err, sizeof(err)), OFFSERV_E_FILE_NOT_FOUND);
	ck_assert_ptr_nonnull(strstr(err, "Nope"));
	/* Read-only handles refuse changes. */
	ck_assert_uint_eq(offserv_hive_set_dword(h, k, "X", 1, err, sizeof(err)), OFFSERV_E_ACCESS_DENIED);
	ck_assert_uint_eq(offserv_hive_commit(h, NULL, err, sizeof(err)), OFFSERV_E_ACCESS_DENIED);
	offserv_hive_close(h);

	/* hivex itself reads the same types and bytes. */
	{
		hive_h *x = hivex_open(out, 0);
		hive_node_h node = hivex_root(x);
		const char *parts[] = {"Microsoft", "Windows", "CurrentVersion",
		                       "Component Based Servicing", "Packages", PKG};
		hive_value_h v;
		hive_type ht;
		size_t hl;
		char *raw;

		ck_assert_ptr_nonnull(x);
		for (size_t i = 0; i < 6; i++) {
			node = hivex_node_get_child(x, node, parts[i]);
			ck_assert_msg(node != 0, "hivex: no %s", parts[i]);
		}
		ck_assert_uint_eq(hivex_node_nr_values(x, node), 8);
		v = hivex_node_get_value(x, node, "CurrentState");
		ck_assert(v != 0);
		ck_assert_int_eq(hivex_value_dword(x, v), 0x70);
		v = hivex_node_get_value(x, node, "Big");
		raw = hivex_value_value(x, v, &ht, &hl);
		ck_assert_int_eq(ht, hive_t_REG_QWORD);
		ck_assert_uint_eq(hl, 8);
		ck_assert_uint_eq((uint8_t)raw[0], 0xef);
		free(raw);
		v = hivex_node_get_value(x, node, "InstallName");
		raw = hivex_value_string(x, v);
		ck_assert_str_eq(raw, PKG ".mum");
		free(raw);
		hivex_close(x);
	}
	offtest_rmtree(dir);
	free(dir);
	free(path);
	free(out);
}
END_TEST

START_TEST(test_other_values_kept)
{
	char *dir, *path = fresh_hive(&dir);
	struct offserv_hive *h = open_ok(path, OFFSERV_HIVE_WRITE);
	offserv_hive_key k;
	char err[512] = "";
	char **names;
	size_t n;
	uint32_t dw;
	char *s;

	OK(offserv_hive_create(h, 0, "A\\B", &k, err, sizeof(err)));
	OK(offserv_hive_set_dword(h, k, "One", 1, err, sizeof(err)));
	OK(offserv_hive_set_sz(h, k, "Two", "2", err, sizeof(err)));
	OK(offserv_hive_set_dword(h, k, "Three", 3, err, sizeof(err)));
	/* Replacing one value (any case) keeps the others. */
	OK(offserv_hive_set_sz(h, k, "TWO", "deux", err, sizeof(err)));
	OK(offserv_hive_value_names(h, k, &names, &n, err, sizeof(err)));
	ck_assert_uint_eq(n, 3);
	offserv_hive_free_names(names);
	OK(offserv_hive_get_dword(h, k, "one", &dw, err, sizeof(err)));
	ck_assert_uint_eq(dw, 1);
	OK(offserv_hive_get_dword(h, k, "three", &dw, err, sizeof(err)));
	ck_assert_uint_eq(dw, 3);
	OK(offserv_hive_get_string(h, k, "two", &s, err, sizeof(err)));
	ck_assert_str_eq(s, "deux");
	free(s);
	/* Deleting one keeps the others too. */
	OK(offserv_hive_delete_value(h, k, "One", err, sizeof(err)));
	ck_assert_uint_eq(offserv_hive_delete_value(h, k, "One", err, sizeof(err)), OFFSERV_E_FILE_NOT_FOUND);
	OK(offserv_hive_value_names(h, k, &names, &n, err, sizeof(err)));
	ck_assert_uint_eq(n, 2);
	offserv_hive_free_names(names);
	OK(offserv_hive_get_dword(h, k, "Three", &dw, err, sizeof(err)));
	ck_assert_uint_eq(dw, 3);
	offserv_hive_close(h);
	offtest_rmtree(dir);
	free(dir);
	free(path);
}
END_TEST

START_TEST(test_paths_case_insensitive)
{
	char *dir, *path = fresh_hive(&dir);
	struct offserv_hive *h = open_ok(path, OFFSERV_HIVE_WRITE);
	offserv_hive_key a, b, c;
	char err[512] = "";
	char **names, *name;
	size_t n;

	OK(offserv_hive_create(h, 0, "Microsoft\\Windows NT\\CurrentVersion", &a, err, sizeof(err)));
	OK(offserv_hive_create(h, 0, "\\MICROSOFT\\windows nt\\currentversion\\", &b, err, sizeof(err)));
	ck_assert_uint_eq(a, b);
	OK(offserv_hive_find(h, 0, "microsoft\\WINDOWS NT", &c, err, sizeof(err)));
	OK(offserv_hive_find(h, c, "CurrentVersion", &b, err, sizeof(err)));
	ck_assert_uint_eq(a, b);
	OK(offserv_hive_key_name(h, c, &name, err, sizeof(err)));
	ck_assert_str_eq(name, "Windows NT");
	free(name);
	OK(offserv_hive_find(h, 0, "", &c, err, sizeof(err)));
	ck_assert_uint_eq(c, offserv_hive_root(h));
	OK(offserv_hive_create(h, 0, "Microsoft\\Windows", &c, err, sizeof(err)));
	OK(offserv_hive_find(h, 0, "Microsoft", &c, err, sizeof(err)));
	OK(offserv_hive_subkeys(h, c, &names, &n, err, sizeof(err)));
	ck_assert_uint_eq(n, 2);
	ck_assert(!strcmp(names[0], "Windows") || !strcmp(names[1], "Windows"));
	offserv_hive_free_names(names);
	ck_assert_uint_eq(offserv_hive_find(h, 0, "Microsoft\\Missing\\Deeper", &c, err, sizeof(err)),
	                  OFFSERV_E_FILE_NOT_FOUND);
	ck_assert_ptr_nonnull(strstr(err, "Missing"));
	ck_assert_ptr_nonnull(strstr(err, path));
	ck_assert_uint_eq(offserv_hive_find(h, 0, "Microsoft\\\\Windows", &c, err, sizeof(err)),
	                  OFFSERV_E_INVALIDARG);
	offserv_hive_close(h);
	offtest_rmtree(dir);
	free(dir);
	free(path);
}
END_TEST

START_TEST(test_delete_recursive)
{
	char *dir, *path = fresh_hive(&dir);
	struct offserv_hive *h = open_ok(path, OFFSERV_HIVE_WRITE);
	offserv_hive_key k;
	char err[512] = "";

	OK(offserv_hive_create(h, 0, "Keep", &k, err, sizeof(err)));
	OK(offserv_hive_create(h, 0, "Gone\\Deep\\Deeper", &k, err, sizeof(err)));
	OK(offserv_hive_set_dword(h, k, "V", 7, err, sizeof(err)));
	OK(offserv_hive_create(h, 0, "Gone\\Other", &k, err, sizeof(err)));
	OK(offserv_hive_delete_key(h, 0, "gone", err, sizeof(err)));
	ck_assert_uint_eq(offserv_hive_find(h, 0, "Gone", &k, err, sizeof(err)), OFFSERV_E_FILE_NOT_FOUND);
	ck_assert_uint_eq(offserv_hive_delete_key(h, 0, "Gone", err, sizeof(err)), OFFSERV_E_FILE_NOT_FOUND);
	ck_assert_uint_eq(offserv_hive_delete_key(h, 0, "", err, sizeof(err)), OFFSERV_E_INVALIDARG);
	OK(offserv_hive_commit(h, NULL, err, sizeof(err)));
	offserv_hive_close(h);
	h = open_ok(path, OFFSERV_HIVE_READ);
	ck_assert_uint_eq(offserv_hive_find(h, 0, "Gone\\Deep", &k, err, sizeof(err)), OFFSERV_E_FILE_NOT_FOUND);
	OK(offserv_hive_find(h, 0, "Keep", &k, err, sizeof(err)));
	offserv_hive_close(h);
	offtest_rmtree(dir);
	free(dir);
	free(path);
}
END_TEST

START_TEST(test_value_size_limit)
{
	char *dir, *path = fresh_hive(&dir);
	struct offserv_hive *h = open_ok(path, OFFSERV_HIVE_WRITE);
	offserv_hive_key k;
	char err[512] = "";
	uint8_t *big = calloc(1, OFFSERV_HIVE_MAX_VALUE_LEN + 1);
	uint8_t *back;
	uint32_t t;
	size_t len;

	ck_assert_ptr_nonnull(big);
	big[OFFSERV_HIVE_MAX_VALUE_LEN - 1] = 0x5a;
	OK(offserv_hive_create(h, 0, "K", &k, err, sizeof(err)));
	ck_assert_uint_eq(offserv_hive_set_binary(h, k, "TooBig", big, OFFSERV_HIVE_MAX_VALUE_LEN + 1,
	                                          err, sizeof(err)),
	                  OFFSERV_E_NOT_SUPPORTED);
	ck_assert_ptr_nonnull(strstr(err, "big-data"));
	OK(offserv_hive_set_binary(h, k, "Fits", big, OFFSERV_HIVE_MAX_VALUE_LEN, err, sizeof(err)));
	OK(offserv_hive_commit(h, NULL, err, sizeof(err)));
	offserv_hive_close(h);
	h = open_ok(path, OFFSERV_HIVE_READ);
	OK(offserv_hive_find(h, 0, "K", &k, err, sizeof(err)));
	OK(offserv_hive_get_value(h, k, "Fits", &t, &back, &len, err, sizeof(err)));
	ck_assert_uint_eq(len, OFFSERV_HIVE_MAX_VALUE_LEN);
	ck_assert_uint_eq(back[len - 1], 0x5a);
	free(back);
	offserv_hive_close(h);
	free(big);
	offtest_rmtree(dir);
	free(dir);
	free(path);
}
END_TEST

START_TEST(test_not_a_hive)
{
	char *dir = offtest_tmpdir();
	char *text = offtest_strdup_printf("%s/notes.txt", dir);
	char *fake = offtest_strdup_printf("%s/fake", dir);
	char *small = offtest_strdup_printf("%s/small", dir);
	char *missing = offtest_strdup_printf("%s/missing", dir);
	char *junk = calloc(1, 8192);
	struct offserv_hive *h = NULL;
	char err[512] = "";

	ck_assert_int_eq(offtest_write_file(text, "hello, this is not a hive\n", 26), 0);
	memcpy(junk, "regf", 4); /* right signature, nothing else right */
	ck_assert_int_eq(offtest_write_file(fake, junk, 8192), 0);
	ck_assert_int_eq(offtest_write_file(small, junk, 100), 0);
	ck_assert_uint_eq(offserv_hive_open(text, OFFSERV_HIVE_READ, &h, err, sizeof(err)), OFFSERV_E_BAD_FORMAT);
	ck_assert_ptr_null(h);
	ck_assert_ptr_nonnull(strstr(err, "not a registry hive"));
	ck_assert_ptr_nonnull(strstr(err, text));
	ck_assert_uint_eq(offserv_hive_open(fake, OFFSERV_HIVE_WRITE, &h, err, sizeof(err)), OFFSERV_E_BAD_FORMAT);
	ck_assert_ptr_nonnull(strstr(err, fake));
	ck_assert_uint_eq(offserv_hive_open(small, OFFSERV_HIVE_READ, &h, err, sizeof(err)), OFFSERV_E_BAD_FORMAT);
	ck_assert_ptr_nonnull(strstr(err, "too small"));
	ck_assert_uint_eq(offserv_hive_open(missing, OFFSERV_HIVE_READ, &h, err, sizeof(err)), OFFSERV_E_FILE_NOT_FOUND);
	ck_assert_ptr_nonnull(strstr(err, missing));
	ck_assert_uint_eq(offserv_hive_open(dir, OFFSERV_HIVE_READ, &h, err, sizeof(err)), OFFSERV_E_BAD_FORMAT);
	free(junk);
	offtest_rmtree(dir);
	free(dir);
	free(text);
	free(fake);
	free(small);
	free(missing);
}
END_TEST

START_TEST(test_commit_atomic)
{
	char *dir, *path = fresh_hive(&dir);
	struct offserv_hive *h = open_ok(path, OFFSERV_HIVE_WRITE);
	offserv_hive_key k;
	char err[512] = "";
	struct stat before, after;
	char old[16], *blocker, *sub, *orig;
	size_t olen, nlen;
	int fd;

	ck_assert_int_eq(chmod(path, 0600), 0);
	ck_assert_int_eq(stat(path, &before), 0);
	orig = offtest_read_file(path, &olen);
	fd = open(path, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	OK(offserv_hive_create(h, 0, "New", &k, err, sizeof(err)));
	OK(offserv_hive_set_dword(h, k, "V", 1, err, sizeof(err)));
	OK(offserv_hive_commit(h, NULL, err, sizeof(err)));
	/* A new inode was renamed into place: the old one was not rewritten. */
	ck_assert_int_eq(stat(path, &after), 0);
	ck_assert(before.st_ino != after.st_ino);
	ck_assert_uint_eq(after.st_mode & 07777, 0600);
	ck_assert_int_eq(pread(fd, old, sizeof(old), 0), (ssize_t)sizeof(old));
	ck_assert(memcmp(old, orig, sizeof(old)) == 0);
	close(fd);
	ck_assert_int_eq(count_entries(dir), 1); /* no temporary left */

	/* A commit that cannot rename leaves the target and the directory as they were. */
	blocker = offtest_strdup_printf("%s/blocker", dir);
	sub = offtest_strdup_printf("%s/blocker/inside", dir);
	ck_assert_int_eq(mkdir(blocker, 0755), 0);
	ck_assert_int_eq(offtest_write_file(sub, "x", 1), 0);
	ck_assert_uint_ne(offserv_hive_commit(h, blocker, err, sizeof(err)), OFFSERV_OK);
	ck_assert_ptr_nonnull(strstr(err, blocker));
	ck_assert_int_eq(count_entries(dir), 2);
	ck_assert_int_eq(count_entries(blocker), 1);
	/* Missing directory. */
	free(sub);
	sub = offtest_strdup_printf("%s/nodir/SOFTWARE", dir);
	ck_assert_uint_eq(offserv_hive_commit(h, sub, err, sizeof(err)), OFFSERV_E_PATH_NOT_FOUND);
	ck_assert_int_eq(count_entries(dir), 2);

	/* A read-only directory (meaningless for root, who may write anyway). */
	if (geteuid() != 0) {
		char *before_data = offtest_read_file(path, &olen);
		char *now;

		OK(offserv_hive_set_dword(h, k, "W", 2, err, sizeof(err)));
		ck_assert_int_eq(chmod(dir, 0555), 0);
		ck_assert_uint_eq(offserv_hive_commit(h, NULL, err, sizeof(err)), OFFSERV_E_ACCESS_DENIED);
		ck_assert_int_eq(chmod(dir, 0755), 0);
		now = offtest_read_file(path, &nlen);
		ck_assert_uint_eq(olen, nlen);
		ck_assert(memcmp(before_data, now, olen) == 0);
		ck_assert_int_eq(count_entries(dir), 2);
		free(before_data);
		free(now);
	} else {
		printf("# running as root: the read-only directory case is not checked\n");
	}
	offserv_hive_close(h);
	free(orig);
	free(blocker);
	free(sub);
	offtest_rmtree(dir);
	free(dir);
	free(path);
}
END_TEST

START_TEST(test_control_set)
{
	char *dir, *path = fresh_hive(&dir);
	struct offserv_hive *h = open_ok(path, OFFSERV_HIVE_WRITE);
	offserv_hive_key k, k2;
	char err[512] = "";
	char *set;

	ck_assert_uint_eq(offserv_hive_current_control_set(h, &set, err, sizeof(err)), OFFSERV_E_FILE_NOT_FOUND);
	OK(offserv_hive_create(h, 0, "Select", &k, err, sizeof(err)));
	OK(offserv_hive_set_dword(h, k, "Current", 2, err, sizeof(err)));
	OK(offserv_hive_set_dword(h, k, "Default", 2, err, sizeof(err)));
	OK(offserv_hive_current_control_set(h, &set, err, sizeof(err)));
	ck_assert_str_eq(set, "ControlSet002");
	free(set);
	OK(offserv_hive_system_key(h, "CurrentControlSet\\Services\\Foo", 1, &k2, err, sizeof(err)));
	OK(offserv_hive_find(h, 0, "ControlSet002\\Services\\Foo", &k, err, sizeof(err)));
	ck_assert_uint_eq(k, k2);
	OK(offserv_hive_system_key(h, "currentcontrolset", 0, &k2, err, sizeof(err)));
	OK(offserv_hive_find(h, 0, "ControlSet002", &k, err, sizeof(err)));
	ck_assert_uint_eq(k, k2);
	ck_assert_uint_eq(offserv_hive_system_key(h, "CurrentControlSetX", 0, &k2, err, sizeof(err)),
	                  OFFSERV_E_FILE_NOT_FOUND);
	OK(offserv_hive_find(h, 0, "Select", &k, err, sizeof(err)));
	OK(offserv_hive_set_dword(h, k, "Current", 0, err, sizeof(err)));
	ck_assert_uint_eq(offserv_hive_current_control_set(h, &set, err, sizeof(err)), OFFSERV_E_INVALID_DATA);
	offserv_hive_close(h);
	offtest_rmtree(dir);
	free(dir);
	free(path);
}
END_TEST

/* Run hivexsh on @p hive with @p script on stdin; its output, malloc'd. */
static char *run_hivexsh(const char *dir, const char *hive, const char *script)
{
	char *in = offtest_strdup_printf("%s/script.in", dir);
	char *outp = offtest_strdup_printf("%s/script.out", dir);
	char *res;
	size_t len;
	pid_t pid;
	int status;

	ck_assert_int_eq(offtest_write_file(in, script, strlen(script)), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int ifd = open(in, O_RDONLY), ofd = open(outp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (ifd < 0 || ofd < 0 || dup2(ifd, 0) < 0 || dup2(ofd, 1) < 0)
			_exit(126);
		execlp("hivexsh", "hivexsh", hive, (char *)NULL);
		_exit(127);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "hivexsh failed: status %d", status);
	res = offtest_read_file(outp, &len);
	ck_assert_ptr_nonnull(res);
	unlink(in);
	unlink(outp);
	free(in);
	free(outp);
	return res;
}

START_TEST(test_hivexsh_reads_it)
{
	char *dir, *path = fresh_hive(&dir);
	struct offserv_hive *h = open_ok(path, OFFSERV_HIVE_WRITE);
	offserv_hive_key k;
	char err[512] = "";
	char *out;

	fill_package_key(h, &k);
	OK(offserv_hive_create(h, k, "Owners", &k, err, sizeof(err)));
	OK(offserv_hive_set_dword(h, k, PKG, 0x20070, err, sizeof(err)));
	OK(offserv_hive_commit(h, NULL, err, sizeof(err)));
	offserv_hive_close(h);
	if (access("/usr/bin/hivexsh", X_OK) != 0 && system("command -v hivexsh >/dev/null") != 0) {
		printf("# hivexsh not installed: external check skipped\n");
	} else {
		out = run_hivexsh(dir, path,
		                  "cd \\" PKGS "\\" PKG "\nlsval\nls\ncd Owners\nlsval\n");
		ck_assert_msg(strstr(out, "\"CurrentState\"=dword:00000070") != NULL, "%s", out);
		ck_assert_msg(strstr(out, "\"InstallName\"=\"" PKG ".mum\"") != NULL, "%s", out);
		ck_assert_msg(strstr(out, "\"Big\"=hex(11):ef,cd,ab,89,67,45,23,01") != NULL, "%s", out);
		ck_assert_msg(strstr(out, "\"Blob\"=hex(3):de,ad,00,be,ef") != NULL, "%s", out);
		ck_assert_msg(strstr(out, "Owners") != NULL, "%s", out);
		ck_assert_msg(strstr(out, "\"" PKG "\"=dword:00020070") != NULL, "%s", out);
		free(out);
	}
	offtest_rmtree(dir);
	free(dir);
	free(path);
}
END_TEST

/* Little-endian fields of the raw hive file, for checks below hivex's API. */
static uint32_t le32_at(const unsigned char *f, size_t off)
{
	return (uint32_t)f[off] | (uint32_t)f[off + 1] << 8 | (uint32_t)f[off + 2] << 16 |
	       (uint32_t)f[off + 3] << 24;
}

/* Count, over the tree under @p node, the keys that point at each sk cell. */
static void count_sk_refs(hive_h *hx, const unsigned char *f, size_t flen, hive_node_h node,
                          uint32_t *sk, uint32_t *refs, size_t *nsk)
{
	hive_node_h *kids;
	uint32_t off;
	size_t i;

	ck_assert_uint_lt((size_t)node + 52, flen);
	off = le32_at(f, (size_t)node + 48);
	for (i = 0; i < *nsk && sk[i] != off; i++)
		;
	if (i == *nsk) {
		ck_assert_uint_lt(*nsk, 64);
		sk[(*nsk)++] = off;
		refs[i] = 0;
	}
	refs[i]++;
	kids = hivex_node_children(hx, node);
	ck_assert_ptr_nonnull(kids);
	for (size_t k = 0; kids[k]; k++)
		count_sk_refs(hx, f, flen, kids[k], sk, refs, nsk);
	free(kids);
}

/*
 * Many keys under one parent, each with values set one at a time: the
 * way COMPONENTS grows.  hivex leaves every superseded subkey list and
 * value in the file; the committed file holds the live cells only, long
 * subkey lists split into an index root, and security cells with the
 * right reference counts.
 */
START_TEST(test_compact_many_keys)
{
	enum { N = 1200 };
	char *dir, *path = fresh_hive(&dir);
	struct offserv_hive *h = open_ok(path, OFFSERV_HIVE_WRITE);
	offserv_hive_key big, k, again;
	char err[512] = "", name[32], upper[32];
	unsigned char digest[32];
	struct stat sb;
	hive_h *hx;
	hive_node_h node, root;
	unsigned char *f;
	size_t flen, nsk = 0;
	uint32_t sk[64], refs[64], list;

	OK(offserv_hive_create(h, 0, "DerivedData\\Components", &big, err, sizeof(err)));
	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "Comp%05d.x", (i * 7919) % N);
		OK(offserv_hive_create(h, big, name, &k, err, sizeof(err)));
		memset(digest, i & 0xff, sizeof(digest));
		OK(offserv_hive_set_binary(h, k, "S256H", digest, sizeof(digest), err, sizeof(err)));
		OK(offserv_hive_set_sz(h, k, "identity", name, err, sizeof(err)));
		OK(offserv_hive_set_dword(h, k, "n", (uint32_t)i, err, sizeof(err)));
		if (i % 300 == 0) {
			/* found again through the index, in another case */
			for (size_t c = 0; c <= strlen(name); c++)
				upper[c] = (char)(name[c] >= 'a' && name[c] <= 'z' ? name[c] - 32 : name[c]);
			OK(offserv_hive_find(h, big, upper, &again, err, sizeof(err)));
			ck_assert_uint_eq(again, k);
		}
	}
	OK(offserv_hive_delete_key(h, big, "Comp00001.x", err, sizeof(err)));
	ck_assert_uint_eq(offserv_hive_find(h, big, "comp00001.X", &k, NULL, 0),
	                  OFFSERV_E_FILE_NOT_FOUND);
	OK(offserv_hive_find(h, big, "COMP00002.X", &k, err, sizeof(err)));
	/* a key added after a delete is found (the index was rebuilt) */
	OK(offserv_hive_create(h, big, "Later", &k, err, sizeof(err)));
	OK(offserv_hive_find(h, big, "later", &again, err, sizeof(err)));
	ck_assert_uint_eq(again, k);
	OK(offserv_hive_commit(h, NULL, err, sizeof(err)));
	offserv_hive_close(h);

	/* Live data: 1,200 keys of ~300 bytes.  hivex alone leaves over
	 * 4 * N^2 bytes of old subkey lists (5.8 MB) behind. */
	ck_assert_int_eq(stat(path, &sb), 0);
	ck_assert_msg(sb.st_size < 1024 * 1024, "hive is %lld bytes", (long long)sb.st_size);
	ck_assert_int_eq(sb.st_size % 4096, 0);

	hx = hivex_open(path, 0);
	ck_assert_ptr_nonnull(hx);
	root = hivex_root(hx);
	node = hivex_node_get_child(hx, root, "DerivedData");
	ck_assert_uint_ne(node, 0);
	node = hivex_node_get_child(hx, node, "Components");
	ck_assert_uint_ne(node, 0);
	ck_assert_uint_eq(hivex_node_nr_children(hx, node), N);
	{
		static int inv[N], seen[N];
		hive_node_h *kids = hivex_node_children(hx, node);
		size_t n = 0;

		for (int i = 0; i < N; i++) {
			inv[(i * 7919) % N] = i;
			seen[i] = 0;
		}
		ck_assert_ptr_nonnull(kids);
		for (; kids[n]; n++) {
			char *kname = hivex_node_name(hx, kids[n]);
			hive_value_h v;
			hive_type t;
			size_t len;
			char *data;
			int want;

			ck_assert_ptr_nonnull(kname);
			if (strcmp(kname, "Later") == 0) {
				free(kname);
				continue;
			}
			ck_assert_int_eq(sscanf(kname, "Comp%05d.x", &want), 1);
			ck_assert(want >= 0 && want < N && want != 1 && !seen[want]);
			seen[want] = 1;
			free(kname);
			ck_assert_uint_eq(hivex_node_nr_values(hx, kids[n]), 3);
			v = hivex_node_get_value(hx, kids[n], "S256H");
			ck_assert_uint_ne(v, 0);
			data = hivex_value_value(hx, v, &t, &len);
			ck_assert_ptr_nonnull(data);
			ck_assert_uint_eq(len, 32);
			ck_assert_uint_eq((unsigned char)data[31], (unsigned)(inv[want] & 0xff));
			free(data);
			v = hivex_node_get_value(hx, kids[n], "n");
			ck_assert_int_eq(hivex_value_dword(hx, v), inv[want]);
		}
		ck_assert_uint_eq(n, N);
		free(kids);
	}
	ck_assert_uint_ne(hivex_node_get_child(hx, node, "Later"), 0);

	/* Below the API: the list is an index root of leaves, and every
	 * security cell counts the keys that use it, in one circular list. */
	f = (unsigned char *)offtest_read_file(path, &flen);
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_lt((size_t)node + 36, flen);
	list = le32_at(f, (size_t)node + 32) + 0x1000;
	ck_assert_uint_lt(list + 8, flen);
	ck_assert_msg(f[list + 4] == 'r' && f[list + 5] == 'i', "subkey list is %c%c",
	              f[list + 4], f[list + 5]);
	count_sk_refs(hx, f, flen, root, sk, refs, &nsk);
	ck_assert_uint_ge(nsk, 1);
	for (size_t i = 0; i < nsk; i++) {
		size_t at = (size_t)sk[i] + 0x1000;
		uint32_t cur = sk[i];
		size_t steps = 0;

		ck_assert_uint_lt(at + 24, flen);
		ck_assert(f[at + 4] == 's' && f[at + 5] == 'k');
		ck_assert_uint_eq(le32_at(f, at + 16), refs[i]);
		do {
			uint32_t next = le32_at(f, (size_t)cur + 0x1000 + 8);

			ck_assert_uint_eq(le32_at(f, (size_t)next + 0x1000 + 12), cur);
			cur = next;
			ck_assert_uint_le(++steps, nsk);
		} while (cur != sk[i]);
	}
	free(f);
	hivex_close(hx);

	/* Keys added to the split list later: the file stays in proportion. */
	h = open_ok(path, OFFSERV_HIVE_WRITE);
	OK(offserv_hive_find(h, 0, "DerivedData\\Components", &big, err, sizeof(err)));
	for (int i = 0; i < 200; i++) {
		snprintf(name, sizeof(name), "New%04d", i);
		OK(offserv_hive_create(h, big, name, &k, err, sizeof(err)));
		OK(offserv_hive_set_dword(h, k, "n", (uint32_t)i, err, sizeof(err)));
	}
	OK(offserv_hive_commit(h, NULL, err, sizeof(err)));
	offserv_hive_close(h);
	{
		struct stat sb2;

		ck_assert_int_eq(stat(path, &sb2), 0);
		ck_assert_msg(sb2.st_size < sb.st_size + 200 * 1024, "grew from %lld to %lld",
		              (long long)sb.st_size, (long long)sb2.st_size);
	}
	hx = hivex_open(path, 0);
	ck_assert_ptr_nonnull(hx);
	node = hivex_node_get_child(hx, hivex_node_get_child(hx, hivex_root(hx), "DerivedData"),
	                            "Components");
	ck_assert_uint_eq(hivex_node_nr_children(hx, node), N + 200);
	ck_assert_uint_ne(hivex_node_get_child(hx, node, "new0199"), 0);
	hivex_close(hx);
	offtest_rmtree(dir);
	free(dir);
	free(path);
}
END_TEST

/* Windows' name order: characters compared upper-cased (ASCII names). */
static int win_cmp(const char *a, const char *b)
{
	for (;; a++, b++) {
		int x = *a >= 'a' && *a <= 'z' ? *a - 32 : (unsigned char)*a;
		int y = *b >= 'a' && *b <= 'z' ? *b - 32 : (unsigned char)*b;

		if (x != y || !x)
			return x - y;
	}
}

/* The "lh" hint Windows keeps beside each subkey: h = 37 h + upper-cased char. */
static uint32_t lh_hash(const char *name)
{
	uint32_t h = 0;

	for (; *name; name++)
		h = h * 37 + (uint32_t)(*name >= 'a' && *name <= 'z' ? *name - 32 : *name);
	return h;
}

/*
 * Keys added under a parent that already has many children (staged, then
 * moved into the parent's list at commit): found, listed, deleted and
 * given subkeys before the commit like any other key; after it, children
 * of the parent in Windows' order with the right hints, no trace of the
 * staging.  _i = 1 commits with compaction refused, so the keys are moved
 * one by one through hivex: the same keys, values and subkeys.
 */
START_TEST(test_staged_keys)
{
	enum { BASE = 600, ADDED = 700 };
	char *dir, *path = fresh_hive(&dir);
	struct offserv_hive *h = open_ok(path, OFFSERV_HIVE_WRITE);
	offserv_hive_key big, k, sub, again;
	char err[512] = "", name[48];
	char **names = NULL;
	size_t count = 0;
	hive_h *hx;
	hive_node_h node, *kids;
	unsigned char *f;
	size_t flen, n;
	char *prev = NULL;

	OK(offserv_hive_create(h, 0, "DerivedData\\Components", &big, err, sizeof(err)));
	for (int i = 0; i < BASE; i++) {
		snprintf(name, sizeof(name), "A%c%04d", i % 2 ? '_' : 'B', (i * 7) % BASE);
		OK(offserv_hive_create(h, big, name, &k, err, sizeof(err)));
	}
	/* past 512 children: these are staged */
	for (int i = 0; i < ADDED; i++) {
		snprintf(name, sizeof(name), "N%c%04d", i % 3 ? '_' : 'a', (i * 11) % ADDED);
		OK(offserv_hive_create(h, big, name, &k, err, sizeof(err)));
		OK(offserv_hive_set_dword(h, k, "n", (uint32_t)i, err, sizeof(err)));
		if (i == 5) {
			OK(offserv_hive_create(h, k, "Owners\\Deep", &sub, err, sizeof(err)));
			OK(offserv_hive_set_sz(h, sub, "who", "me", err, sizeof(err)));
		}
	}
	OK(offserv_hive_find(h, 0, "derivedDATA\\components\\n_0011", &again, err, sizeof(err)));
	OK(offserv_hive_subkeys(h, big, &names, &count, err, sizeof(err)));
	ck_assert_uint_eq(count, BASE + ADDED);
	for (size_t i = 0; i < count; i++)
		ck_assert_msg(strncmp(names[i], "offserv$", 8) != 0, "listed %s", names[i]);
	offserv_hive_free_names(names);
	/* delete one staged and one original key; lookups go on working */
	OK(offserv_hive_delete_key(h, big, "n_0022", err, sizeof(err)));
	OK(offserv_hive_delete_key(h, big, "A_0001", err, sizeof(err)));
	ck_assert_uint_eq(offserv_hive_find(h, big, "N_0022", &k, NULL, 0),
	                  OFFSERV_E_FILE_NOT_FOUND);
	ck_assert_uint_eq(offserv_hive_find(h, big, "NA0000\\Owners", &k, NULL, 0),
	                  OFFSERV_E_FILE_NOT_FOUND);
	OK(offserv_hive_find(h, big, "N_0055\\owners\\DEEP", &k, err, sizeof(err)));
	OK(offserv_hive_create(h, big, "Zlast", &k, err, sizeof(err)));
	/* a short list, never staged: hivex keeps it in Windows' order */
	OK(offserv_hive_create(h, 0, "Small\\A_1", &k, err, sizeof(err)));
	OK(offserv_hive_create(h, 0, "Small\\AB", &k, err, sizeof(err)));
	OK(offserv_hive_create(h, 0, "Small\\Aa", &k, err, sizeof(err)));
	OK(offserv_hive_subkeys(h, big, &names, &count, err, sizeof(err)));
	ck_assert_uint_eq(count, BASE + ADDED - 1);
	offserv_hive_free_names(names);
	offserv_hive__no_compaction(_i);
	OK(offserv_hive_commit(h, NULL, err, sizeof(err)));
	offserv_hive__no_compaction(0);
	offserv_hive_close(h);

	hx = hivex_open(path, 0);
	ck_assert_ptr_nonnull(hx);
	node = hivex_node_get_child(hx, hivex_node_get_child(hx, hivex_root(hx), "DerivedData"),
	                            "Components");
	ck_assert_uint_ne(node, 0);
	ck_assert_uint_eq(hivex_node_nr_children(hx, node), BASE + ADDED - 1);
	kids = hivex_node_children(hx, node);
	ck_assert_ptr_nonnull(kids);
	for (n = 0; kids[n]; n++) {
		char *kname = hivex_node_name(hx, kids[n]);

		ck_assert_ptr_nonnull(kname);
		ck_assert_msg(strncmp(kname, "offserv$", 8) != 0, "staging key %s left", kname);
		ck_assert_uint_eq(hivex_node_parent(hx, kids[n]), node);
		if (_i == 0 && prev)
			ck_assert_msg(win_cmp(prev, kname) < 0, "%s listed before %s", prev, kname);
		if (strncmp(kname, "N", 1) == 0) {
			hive_value_h v = hivex_node_get_value(hx, kids[n], "n");
			int num;

			ck_assert_uint_ne(v, 0);
			ck_assert_int_eq(sscanf(kname + 2, "%d", &num), 1);
			ck_assert_int_eq((hivex_value_dword(hx, v) * 11) % ADDED, num);
		}
		free(prev);
		prev = kname;
	}
	free(prev);
	free(kids);
	ck_assert_uint_eq(n, BASE + ADDED - 1);
	node = hivex_node_get_child(hx, node, "N_0055");
	ck_assert_uint_ne(node, 0);
	node = hivex_node_get_child(hx, hivex_node_get_child(hx, node, "Owners"), "Deep");
	ck_assert_uint_ne(node, 0);
	ck_assert_uint_ne(hivex_node_get_value(hx, node, "who"), 0);
	if (_i == 0) {
		static const char *const order[] = {"Aa", "AB", "A_1"};

		kids = hivex_node_children(hx, hivex_node_get_child(hx, hivex_root(hx), "Small"));
		ck_assert_ptr_nonnull(kids);
		for (n = 0; kids[n]; n++) {
			char *kname = hivex_node_name(hx, kids[n]);

			ck_assert_uint_lt(n, 3);
			ck_assert_str_eq(kname, order[n]);
			free(kname);
		}
		ck_assert_uint_eq(n, 3);
		free(kids);
	}

	/* Below the API, with compaction: every leaf is an lh list whose hints
	 * are the hashes of the names they point at. */
	if (_i == 0) {
		size_t list, leaves[16], nleaves = 0, checked = 0;

		node = hivex_node_get_child(hx, hivex_node_get_child(hx, hivex_root(hx),
		                                                     "DerivedData"), "Components");
		f = (unsigned char *)offtest_read_file(path, &flen);
		ck_assert_ptr_nonnull(f);
		list = le32_at(f, (size_t)node + 32) + 0x1000;
		ck_assert_uint_lt(list + 8, flen);
		if (f[list + 4] == 'r' && f[list + 5] == 'i') {
			nleaves = f[list + 6] | f[list + 7] << 8;
			ck_assert_uint_le(nleaves, 16);
			for (size_t i = 0; i < nleaves; i++)
				leaves[i] = le32_at(f, list + 8 + 4 * i) + 0x1000;
		} else {
			leaves[nleaves++] = list;
		}
		for (size_t l = 0; l < nleaves; l++) {
			size_t at = leaves[l], cnt = f[at + 6] | f[at + 7] << 8;

			ck_assert_msg(f[at + 4] == 'l' && f[at + 5] == 'h', "leaf %zu is %c%c", l,
			              f[at + 4], f[at + 5]);
			for (size_t i = 0; i < cnt; i++) {
				hive_node_h kn = le32_at(f, at + 8 + 8 * i) + 0x1000;
				char *kname = hivex_node_name(hx, kn);

				ck_assert_ptr_nonnull(kname);
				ck_assert_uint_eq(le32_at(f, at + 12 + 8 * i), lh_hash(kname));
				free(kname);
				checked++;
			}
		}
		ck_assert_uint_eq(checked, BASE + ADDED - 1);
		free(f);
	}
	hivex_close(hx);
	offtest_rmtree(dir);
	free(dir);
	free(path);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("hive");
	TCase *tc = tcase_create("hive");

	tcase_add_test(tc, test_values_roundtrip);
	tcase_add_test(tc, test_other_values_kept);
	tcase_add_test(tc, test_paths_case_insensitive);
	tcase_add_test(tc, test_delete_recursive);
	tcase_add_test(tc, test_value_size_limit);
	tcase_add_test(tc, test_not_a_hive);
	tcase_add_test(tc, test_commit_atomic);
	tcase_add_test(tc, test_control_set);
	tcase_add_test(tc, test_hivexsh_reads_it);
	suite_add_tcase(s, tc);
	/* builds a large hive through hivex: more than the default 4 s on a busy machine */
	tc = tcase_create("compact");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_compact_many_keys);
	tcase_add_loop_test(tc, test_staged_keys, 0, 2);
	suite_add_tcase(s, tc);
	return offtest_run(s);
}
