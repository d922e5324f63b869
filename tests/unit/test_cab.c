/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Cabinet reader: the libmspack and cabextract corpora, multi-part sets,
 * hostile names, symbolic links and declared-size bombs. */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <offserv/cab.h>
#include <offserv/status.h>

#include "testutil.h"

extern char **environ;

/* Run a program quietly; returns its exit status or -1. */
static int run_quiet(char *const argv[])
{
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int status;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	if (posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		return -1;
	}
	posix_spawn_file_actions_destroy(&fa);
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

static int have_cabextract(void)
{
	char *argv[] = {"cabextract", "--version", NULL};
	return run_quiet(argv) == 0;
}

static char *corpus(const char *rel)
{
	char *p = offtest_shared(rel);
	struct stat st;

	if (p && stat(p, &st) != 0) {
		free(p);
		p = NULL;
	}
	return p;
}

/* Number of entries (recursively, files and folders) under @p dir. */
static int count_tree(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)) != NULL) {
		char *child;
		struct stat st;
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		n++;
		child = offtest_strdup_printf("%s/%s", dir, e->d_name);
		if (lstat(child, &st) == 0 && S_ISDIR(st.st_mode))
			n += count_tree(child);
		free(child);
	}
	closedir(d);
	return n;
}

/*
 * Every regular file under @p ref exists under @p ours with the same bytes
 * (when @p by_name) and both trees hold the same number of files.
 */
static void count_files(const char *dir, int *n)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)) != NULL) {
		char *child;
		struct stat st;
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		child = offtest_strdup_printf("%s/%s", dir, e->d_name);
		ck_assert_int_eq(lstat(child, &st), 0);
		if (S_ISDIR(st.st_mode))
			count_files(child, n);
		else
			(*n)++;
		free(child);
	}
	closedir(d);
}

static void compare_tree(const char *ref, const char *ours, const char *rel)
{
	char *rdir = rel ? offtest_strdup_printf("%s/%s", ref, rel) : strdup(ref);
	DIR *d = opendir(rdir);
	struct dirent *e;

	ck_assert_msg(d != NULL, "cannot list %s", rdir);
	while ((e = readdir(d)) != NULL) {
		char *sub, *rp, *op;
		struct stat st;
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		sub = rel ? offtest_strdup_printf("%s/%s", rel, e->d_name) : strdup(e->d_name);
		rp = offtest_strdup_printf("%s/%s", ref, sub);
		op = offtest_strdup_printf("%s/%s", ours, sub);
		ck_assert_int_eq(lstat(rp, &st), 0);
		if (S_ISDIR(st.st_mode)) {
			compare_tree(ref, ours, sub);
		} else {
			size_t rl = 0, ol = 0;
			char *rb = offtest_read_file(rp, &rl);
			char *ob = offtest_read_file(op, &ol);
			ck_assert_msg(ob != NULL, "%s: missing in our extraction", sub);
			ck_assert_msg(rl == ol && memcmp(rb, ob, rl) == 0, "%s: contents differ", sub);
			free(rb);
			free(ob);
		}
		free(sub);
		free(rp);
		free(op);
	}
	closedir(d);
	free(rdir);
}

/* Open, list, extract all and compare with cabextract's output. */
static void check_valid(const char *path, int by_name, size_t expect_parts)
{
	struct offserv_cab *cab = NULL;
	char err[512] = "";
	char *tmp = offtest_tmpdir(), *ours, *ref;
	offserv_status s;
	int n_ref = 0, n_ours = 0;

	ck_assert_ptr_nonnull(tmp);
	ours = offtest_strdup_printf("%s/ours", tmp);
	ref = offtest_strdup_printf("%s/ref", tmp);
	ck_assert_int_eq(mkdir(ours, 0755), 0);
	ck_assert_int_eq(mkdir(ref, 0755), 0);
	s = offserv_cab_open(path, &cab, err, sizeof(err));
	ck_assert_msg(s == OFFSERV_OK, "%s: 0x%08x %s", path, s, err);
	ck_assert_uint_gt(offserv_cab_count(cab), 0);
	if (expect_parts)
		ck_assert_uint_eq(offserv_cab_parts(cab), expect_parts);
	for (const struct offserv_cab_member *m = offserv_cab_next(cab, NULL); m;
	     m = offserv_cab_next(cab, m)) {
		ck_assert_ptr_nonnull(m->raw_name);
		ck_assert_msg(m->name != NULL, "%s: %s", path, m->refusal);
		ck_assert_ptr_eq(offserv_cab_find(cab, m->name) , m) ;
	}
	s = offserv_cab_extract_all(cab, ours, err, sizeof(err));
	ck_assert_msg(s == OFFSERV_OK, "%s: 0x%08x %s", path, s, err);
	count_files(ours, &n_ours);
	if (have_cabextract()) {
		char *argv[] = {"cabextract", "-q", "-d", ref, (char *)path, NULL};
		ck_assert_int_eq(run_quiet(argv), 0);
		count_files(ref, &n_ref);
		ck_assert_int_eq(n_ours, n_ref);
		if (by_name)
			compare_tree(ref, ours, NULL);
	} else {
		ck_assert_int_eq((size_t)n_ours, offserv_cab_count(cab));
	}
	offserv_cab_close(cab);
	offtest_rmtree(tmp);
	free(tmp);
	free(ours);
	free(ref);
}

static const char *const valid_files[] = {
	"corpus/cab/normal_255c_filename.cab",
	"corpus/cab/normal_2files_1folder.cab",
	"corpus/cab/normal_2files_2folders.cab",
	"corpus/cab/reserve_---.cab",
	"corpus/cab/reserve_--D.cab",
	"corpus/cab/reserve_-F-.cab",
	"corpus/cab/reserve_-FD.cab",
	"corpus/cab/reserve_H--.cab",
	"corpus/cab/reserve_H-D.cab",
	"corpus/cab/reserve_HF-.cab",
	"corpus/cab/reserve_HFD.cab",
	"corpus/cab/mszip_lzx_qtm.cab",
	"corpus/cab/hidden-files.cab",
	"corpus/cab-bugs/case-ascii.cab",
	"corpus/cab-bugs/case-utf8.cab",
	"corpus/cab-bugs/cve-2010-2801-qtm-flush.cab",
	"corpus/cab-bugs/dir.cab",
	"corpus/cab-bugs/large-files-cab.cab",
	"corpus/cab-bugs/mixed.cab",
	"corpus/cab-bugs/simple.cab",
};

START_TEST(test_valid_corpus)
{
	char *path = corpus(valid_files[_i]);

	if (!path)
		return; /* the case is registered only when the corpus exists */
	check_valid(path, 1, 1);
	free(path);
}
END_TEST

/* Names in legacy code pages: read as Windows-1252, contents as cabextract. */
static const char *const encoding_files[] = {
	"corpus/cab-bugs/encoding-latin1.cab",
	"corpus/cab-bugs/encoding-koi8.cab",
	"corpus/cab-bugs/encoding-sjis.cab",
};

START_TEST(test_encoding_corpus)
{
	char *path = corpus(encoding_files[_i]);
	struct offserv_cab *cab = NULL;
	char err[512] = "";
	offserv_status s;
	int refused = 0;

	ck_assert_ptr_nonnull(path);
	s = offserv_cab_open(path, &cab, err, sizeof(err));
	ck_assert_msg(s == OFFSERV_OK, "%s: %s", path, err);
	for (const struct offserv_cab_member *m = offserv_cab_next(cab, NULL); m;
	     m = offserv_cab_next(cab, m))
		if (!m->name)
			refused++;
	offserv_cab_close(cab);
	if (refused == 0)
		check_valid(path, 0, 1);
	free(path);
}
END_TEST

static const char *const malformed_files[] = {
	"corpus/cab/bad_folderindex.cab",
	"corpus/cab/bad_nofiles.cab",
	"corpus/cab/bad_nofolders.cab",
	"corpus/cab/bad_signature.cab",
	"corpus/cab/cve-2010-2800-mszip-infinite-loop.cab",
	"corpus/cab/cve-2014-9556-qtm-infinite-loop.cab",
	"corpus/cab/cve-2014-9732-folders-segfault.cab",
	"corpus/cab/cve-2015-4470-mszip-over-read.cab",
	"corpus/cab/cve-2015-4471-lzx-under-read.cab",
	"corpus/cab/cve-2017-11423-fname-overread.cab",
	"corpus/cab/cve-2018-18584-qtm-max-size-block.cab",
	"corpus/cab/filename-read-violation-1.cab",
	"corpus/cab/filename-read-violation-2.cab",
	"corpus/cab/filename-read-violation-3.cab",
	"corpus/cab/filename-read-violation-4.cab",
	"corpus/cab/hidden-file-bad-folderid.cab",
	"corpus/cab/hidden-file-beyond-eof.cab",
	"corpus/cab/lzx-main-tree-no-lengths.cab",
	"corpus/cab/lzx-premature-matches.cab",
	"corpus/cab/partial_nodata.cab",
	"corpus/cab/partial_nofiles.cab",
	"corpus/cab/partial_nofolder.cab",
	"corpus/cab/partial_shortextheader.cab",
	"corpus/cab/partial_shortfile1.cab",
	"corpus/cab/partial_shortfile2.cab",
	"corpus/cab/partial_shortfolder.cab",
	"corpus/cab/partial_shortheader.cab",
	"corpus/cab/partial_str_nofname.cab",
	"corpus/cab/partial_str_noninfo.cab",
	"corpus/cab/partial_str_nonname.cab",
	"corpus/cab/partial_str_nopinfo.cab",
	"corpus/cab/partial_str_nopname.cab",
	"corpus/cab/partial_str_shortfname.cab",
	"corpus/cab/partial_str_shortninfo.cab",
	"corpus/cab/partial_str_shortnname.cab",
	"corpus/cab/partial_str_shortpinfo.cab",
	"corpus/cab/partial_str_shortpname.cab",
	"corpus/cab-bugs/cve-2010-2800-mszip-infinite-loop.cab",
	"corpus/cab-bugs/cve-2014-9556-qtm-infinite-loop.cab",
	"corpus/cab-bugs/cve-2014-9732-folders-segfault.cab",
	"corpus/cab-bugs/cve-2015-4470-mszip-over-read.cab",
	"corpus/cab-bugs/cve-2015-4471-lzx-under-read.cab",
	"corpus/cab-bugs/filename-read-violation-1.cab",
	"corpus/cab-bugs/filename-read-violation-2.cab",
	"corpus/cab-bugs/filename-read-violation-3.cab",
	"corpus/cab-bugs/filename-read-violation-4.cab",
	"corpus/cab-bugs/lzx-main-tree-no-lengths.cab",
	"corpus/cab-bugs/lzx-premature-matches.cab",
	"corpus/cab-bugs/qtm-max-size-block.cab",
	"corpus/cab-bugs/dirwalk-vulns.cab",
	/*
	 * Cabinets embedded in other data (found by cabextract's search mode):
	 * a package is a cabinet from its first byte, so these are refused.
	 */
	"corpus/cab/search_basic.cab",
	"corpus/cab/search_tricky1.cab",
	"corpus/cab-bugs/search.cab",
};

static int status_is_damage(offserv_status s)
{
	return s == OFFSERV_CBS_E_INVALID_PACKAGE || s == OFFSERV_E_FILE_CORRUPT ||
	       s == OFFSERV_E_CRC || s == OFFSERV_E_INVALID_NAME ||
	       s == OFFSERV_E_FILE_NOT_FOUND;
}

/* A malformed cabinet fails, says why, and leaves nothing behind anywhere. */
START_TEST(test_malformed_corpus)
{
	char *path = corpus(malformed_files[_i]);
	struct offserv_cab *cab = NULL;
	char err[512] = "";
	char *tmp = offtest_tmpdir(), *dest;
	offserv_status s;

	ck_assert_ptr_nonnull(path);
	ck_assert_ptr_nonnull(tmp);
	dest = offtest_strdup_printf("%s/dest", tmp);
	ck_assert_int_eq(mkdir(dest, 0755), 0);
	s = offserv_cab_open(path, &cab, err, sizeof(err));
	if (s == OFFSERV_OK) {
		s = offserv_cab_extract_all(cab, dest, err, sizeof(err));
		/* Every member read alone also fails or succeeds cleanly. */
		for (size_t i = 0; i < offserv_cab_count(cab); i++) {
			void *buf = NULL;
			size_t len = 0;
			char e2[512] = "";
			offserv_status s2 = offserv_cab_extract_member_mem(
				cab, offserv_cab_member_at(cab, i), 1 << 20, &buf, &len, e2, sizeof(e2));
			ck_assert(s2 == OFFSERV_OK || e2[0] != '\0');
			free(buf);
		}
		offserv_cab_close(cab);
	}
	ck_assert_msg(OFFSERV_FAILED(s), "%s was accepted", path);
	ck_assert_msg(status_is_damage(s), "%s: unexpected status 0x%08x (%s)", path, s, err);
	ck_assert_msg(err[0] != '\0', "%s: no message", path);
	ck_assert_msg(strstr(err, path) != NULL, "message does not name the cabinet: %s", err);
	ck_assert_int_eq(count_tree(dest), 0);
	ck_assert_int_eq(count_tree(tmp), 1); /* only dest itself */
	offtest_rmtree(tmp);
	free(tmp);
	free(dest);
	free(path);
}
END_TEST

START_TEST(test_not_a_cabinet)
{
	char *path = corpus("corpus/cab/bad_signature.cab");
	struct offserv_cab *cab = NULL;
	char err[512] = "";
	char *tmp = offtest_tmpdir(), *fifo;

	ck_assert_ptr_nonnull(path);
	ck_assert_uint_eq(offserv_cab_open(path, &cab, err, sizeof(err)),
	                  OFFSERV_CBS_E_INVALID_PACKAGE);
	ck_assert_ptr_null(cab);
	ck_assert_ptr_nonnull(strstr(err, "not a cabinet"));
	/* A folder and a FIFO are refused without blocking. */
	ck_assert_uint_eq(offserv_cab_open(tmp, &cab, err, sizeof(err)), OFFSERV_E_INVALIDARG);
	fifo = offtest_strdup_printf("%s/fifo", tmp);
	ck_assert_int_eq(mkfifo(fifo, 0600), 0);
	ck_assert_uint_eq(offserv_cab_open(fifo, &cab, err, sizeof(err)), OFFSERV_E_INVALIDARG);
	ck_assert_uint_eq(offserv_cab_open("/nonexistent/x.cab", &cab, err, sizeof(err)),
	                  offserv_status_from_errno(ENOENT));
	offtest_rmtree(tmp);
	free(tmp);
	free(fifo);
	free(path);
}
END_TEST

/* dirwalk-vulns.cab: the whole cabinet is refused, nothing is written. */
START_TEST(test_dirwalk_refused)
{
	char *path = corpus("corpus/cab-bugs/dirwalk-vulns.cab");
	struct offserv_cab *cab = NULL;
	char err[512] = "";
	char *tmp = offtest_tmpdir(), *dest, *sib;
	size_t refused = 0;

	ck_assert_ptr_nonnull(path);
	dest = offtest_strdup_printf("%s/a/b/dest", tmp);
	sib = offtest_strdup_printf("%s/a", tmp);
	ck_assert_int_eq(mkdir(sib, 0755), 0);
	free(sib);
	sib = offtest_strdup_printf("%s/a/b", tmp);
	ck_assert_int_eq(mkdir(sib, 0755), 0);
	ck_assert_int_eq(mkdir(dest, 0755), 0);
	ck_assert_uint_eq(offserv_cab_open(path, &cab, err, sizeof(err)), OFFSERV_OK);
	for (const struct offserv_cab_member *m = offserv_cab_next(cab, NULL); m;
	     m = offserv_cab_next(cab, m)) {
		if (!m->name) {
			refused++;
			ck_assert_ptr_nonnull(m->refusal);
		}
	}
	ck_assert_uint_gt(refused, 20);
	ck_assert_uint_eq(offserv_cab_check_names(cab, err, sizeof(err)), OFFSERV_E_INVALID_NAME);
	ck_assert_ptr_nonnull(strstr(err, "absolute"));
	err[0] = '\0';
	ck_assert_uint_eq(offserv_cab_extract_all(cab, dest, err, sizeof(err)),
	                  OFFSERV_E_INVALID_NAME);
	ck_assert_ptr_nonnull(strstr(err, "member"));
	{
		void *buf = NULL;
		size_t len;
		ck_assert_uint_eq(offserv_cab_extract_member_mem(cab, offserv_cab_member_at(cab, 9),
		                                                 1024, &buf, &len, err, sizeof(err)),
		                  OFFSERV_E_INVALID_NAME);
		ck_assert_ptr_null(buf);
	}
	offserv_cab_close(cab);
	/* tmp holds a, a/b, a/b/dest and nothing else */
	ck_assert_int_eq(count_tree(tmp), 3);
	offtest_rmtree(tmp);
	free(tmp);
	free(dest);
	free(sib);
	free(path);
}
END_TEST

static void copy_file(const char *src, const char *dst)
{
	size_t len;
	char *data = offtest_read_file(src, &len);

	ck_assert_ptr_nonnull(data);
	ck_assert_int_eq(offtest_write_file(dst, data, len), 0);
	free(data);
}

/* The five-part set, opened from any part, under the names it gives. */
START_TEST(test_multipart)
{
	char *tmp = offtest_tmpdir();
	char err[512] = "";
	struct offserv_cab *cab = NULL;
	char *first = NULL, *third = NULL;

	for (int i = 1; i <= 5; i++) {
		char *rel = offtest_strdup_printf("corpus/cab/multi_basic_pt%d.cab", i);
		char *src = corpus(rel), *dst;
		ck_assert_ptr_nonnull(src);
		dst = offtest_strdup_printf("%s/cabd_multi_basic_pt%d.cab", tmp, i);
		copy_file(src, dst);
		if (i == 1)
			first = dst;
		else if (i == 3)
			third = dst;
		else
			free(dst);
		free(src);
		free(rel);
	}
	check_valid(first, 1, 5);
	ck_assert_uint_eq(offserv_cab_open(third, &cab, err, sizeof(err)), OFFSERV_OK);
	ck_assert_uint_eq(offserv_cab_parts(cab), 5);
	ck_assert_uint_eq(offserv_cab_count(cab), 3);
	{
		const struct offserv_cab_member *m = offserv_cab_find(cab, "TEST3.TXT");
		void *buf = NULL;
		size_t len = 0;
		ck_assert_ptr_nonnull(m);
		ck_assert_uint_eq(offserv_cab_extract_member_mem(cab, m, 4096, &buf, &len, err,
		                                                 sizeof(err)),
		                  OFFSERV_OK);
		ck_assert_uint_eq(len, m->size);
		free(buf);
	}
	offserv_cab_close(cab);
	/* Remove part 4: opening part 1 names the missing file. */
	{
		char *p4 = offtest_strdup_printf("%s/cabd_multi_basic_pt4.cab", tmp);
		ck_assert_int_eq(unlink(p4), 0);
		free(p4);
	}
	ck_assert_uint_eq(offserv_cab_open(first, &cab, err, sizeof(err)), OFFSERV_E_FILE_NOT_FOUND);
	ck_assert_ptr_null(cab);
	ck_assert_msg(strstr(err, "cabd_multi_basic_pt4.cab") != NULL, "%s", err);
	offtest_rmtree(tmp);
	free(tmp);
	free(first);
	free(third);
}
END_TEST

/* split-1.cab names its successor "Split-2.CAB": found ignoring case. */
START_TEST(test_split_case_insensitive)
{
	char *path = corpus("corpus/cab-bugs/split-1.cab");
	char *p4 = corpus("corpus/cab-bugs/split-4.cab");

	ck_assert_ptr_nonnull(path);
	check_valid(path, 1, 5);
	check_valid(p4, 1, 5);
	free(path);
	free(p4);
}
END_TEST

START_TEST(test_missing_part_in_corpus)
{
	char *path = corpus("corpus/cab/multi_basic_pt1.cab");
	struct offserv_cab *cab = NULL;
	char err[512] = "";

	ck_assert_ptr_nonnull(path);
	ck_assert_uint_eq(offserv_cab_open(path, &cab, err, sizeof(err)), OFFSERV_E_FILE_NOT_FOUND);
	ck_assert_msg(strstr(err, "cabd_multi_basic_pt2.cab") != NULL, "%s", err);
	free(path);
}
END_TEST

/* large-files.cab declares 3 x 2 GiB: refused before anything is written. */
START_TEST(test_declared_size_bomb)
{
	char *path = corpus("corpus/cab-bugs/large-files-cab.cab");
	struct offserv_cab *outer = NULL, *cab = NULL;
	char err[512] = "";
	char *tmp = offtest_tmpdir(), *inner, *dest;
	const struct offserv_cab_member *m;
	unsigned char head[16];
	size_t got = 0;
	void *buf = NULL;
	size_t len;

	ck_assert_ptr_nonnull(path);
	inner = offtest_strdup_printf("%s/large-files.cab", tmp);
	dest = offtest_strdup_printf("%s/dest", tmp);
	ck_assert_int_eq(mkdir(dest, 0755), 0);
	ck_assert_uint_eq(offserv_cab_open(path, &outer, err, sizeof(err)), OFFSERV_OK);
	m = offserv_cab_find(outer, "large-files.cab");
	ck_assert_ptr_nonnull(m);
	ck_assert_uint_eq(offserv_cab_extract_member(outer, m, inner, err, sizeof(err)), OFFSERV_OK);
	/* A second extraction to the same path is refused (O_EXCL). */
	ck_assert_uint_eq(offserv_cab_extract_member(outer, m, inner, err, sizeof(err)),
	                  OFFSERV_E_FILE_EXISTS);
	offserv_cab_close(outer);

	ck_assert_uint_eq(offserv_cab_open(inner, &cab, err, sizeof(err)), OFFSERV_OK);
	ck_assert_uint_eq(offserv_cab_count(cab), 3);
	ck_assert_uint_gt(offserv_cab_total_size(cab), 6000000000ull);
	offserv_cab_set_max_total(cab, 1u << 30);
	ck_assert_uint_eq(offserv_cab_extract_all(cab, dest, err, sizeof(err)),
	                  OFFSERV_E_INVALID_DATA);
	ck_assert_ptr_nonnull(strstr(err, "limit"));
	ck_assert_int_eq(count_tree(dest), 0);
	m = offserv_cab_member_at(cab, 0);
	ck_assert_uint_eq(offserv_cab_extract_member_mem(cab, m, 1 << 20, &buf, &len, err,
	                                                 sizeof(err)),
	                  OFFSERV_E_INVALID_DATA);
	ck_assert_ptr_null(buf);
	/* The head of a huge member is read without expanding it. */
	ck_assert_uint_eq(offserv_cab_read_head(cab, m, head, sizeof(head), &got, err, sizeof(err)),
	                  OFFSERV_OK);
	ck_assert_uint_eq(got, sizeof(head));
	offserv_cab_close(cab);
	offtest_rmtree(tmp);
	free(tmp);
	free(inner);
	free(dest);
	free(path);
}
END_TEST

static int gcab_make(const char *dir, const char *cab, char *const files[], int compress)
{
	char *argv[64];
	int n = 0;
	char cwd[4096];
	int rc;

	argv[n++] = "gcab";
	argv[n++] = compress ? "-cz" : "-c";
	argv[n++] = (char *)cab;
	for (int i = 0; files[i] && n < 62; i++)
		argv[n++] = files[i];
	argv[n] = NULL;
	if (!getcwd(cwd, sizeof(cwd)) || chdir(dir) != 0)
		return -1;
	rc = run_quiet(argv);
	if (chdir(cwd) != 0)
		return -1;
	return rc;
}

/* Sub-folders, symbolic links in the destination, existing files, cleanup. */
START_TEST(test_confined_extraction)
{
	char *tmp = offtest_tmpdir();
	char *src = offtest_strdup_printf("%s/src", tmp);
	char *cabp = offtest_strdup_printf("%s/t.cab", tmp);
	char *dest = offtest_strdup_printf("%s/dest", tmp);
	char *outside = offtest_strdup_printf("%s/outside", tmp);
	char *p;
	char err[512] = "";
	struct offserv_cab *cab = NULL;
	char *files[] = {"top.txt", "dir/sub/deep.bin", "dir/z.txt", NULL};

	ck_assert_int_eq(mkdir(src, 0755), 0);
	p = offtest_strdup_printf("%s/dir", src);
	ck_assert_int_eq(mkdir(p, 0755), 0);
	free(p);
	p = offtest_strdup_printf("%s/dir/sub", src);
	ck_assert_int_eq(mkdir(p, 0755), 0);
	free(p);
	for (int i = 0; files[i]; i++) {
		char *f = offtest_strdup_printf("%s/%s", src, files[i]);
		ck_assert_int_eq(offtest_write_file(f, files[i], strlen(files[i])), 0);
		free(f);
	}
	if (gcab_make(src, cabp, files, 1) != 0) {
		fprintf(stderr, "# gcab not available: confined extraction not tested\n");
		goto out;
	}
	ck_assert_int_eq(mkdir(dest, 0755), 0);
	ck_assert_int_eq(mkdir(outside, 0755), 0);
	ck_assert_uint_eq(offserv_cab_open(cabp, &cab, err, sizeof(err)), OFFSERV_OK);
	ck_assert_uint_eq(offserv_cab_count(cab), 3);
	ck_assert_ptr_nonnull(offserv_cab_find(cab, "DIR\\SUB\\DEEP.BIN"));
	ck_assert_str_eq(offserv_cab_find(cab, "dir/sub/deep.bin")->name, "dir/sub/deep.bin");

	/* "dir" is a symbolic link to a folder outside: refused, nothing left. */
	p = offtest_strdup_printf("%s/dir", dest);
	ck_assert_int_eq(symlink(outside, p), 0);
	ck_assert_uint_eq(offserv_cab_extract_all(cab, dest, err, sizeof(err)),
	                  OFFSERV_E_ACCESS_DENIED);
	ck_assert_int_eq(count_tree(outside), 0);
	ck_assert_int_eq(count_tree(dest), 1); /* the link itself, top.txt removed */
	ck_assert_int_eq(unlink(p), 0);
	free(p);

	/* An existing file is not overwritten, and what was written is removed. */
	p = offtest_strdup_printf("%s/dir", dest);
	ck_assert_int_eq(mkdir(p, 0755), 0);
	free(p);
	p = offtest_strdup_printf("%s/dir/z.txt", dest);
	ck_assert_int_eq(offtest_write_file(p, "keep", 4), 0);
	ck_assert_uint_eq(offserv_cab_extract_all(cab, dest, err, sizeof(err)),
	                  OFFSERV_E_FILE_EXISTS);
	ck_assert_int_eq(count_tree(dest), 2); /* dir and dir/z.txt */
	{
		size_t len;
		char *keep = offtest_read_file(p, &len);
		ck_assert_str_eq(keep, "keep");
		free(keep);
	}
	ck_assert_int_eq(unlink(p), 0);
	free(p);

	/* Now it works, and the files hold what was packed. */
	ck_assert_uint_eq(offserv_cab_extract_all(cab, dest, err, sizeof(err)), OFFSERV_OK);
	for (int i = 0; files[i]; i++) {
		size_t len;
		char *f = offtest_strdup_printf("%s/%s", dest, files[i]);
		char *data = offtest_read_file(f, &len);
		ck_assert_ptr_nonnull(data);
		ck_assert_str_eq(data, files[i]);
		free(data);
		free(f);
	}
	{
		unsigned char head[3];
		size_t got;
		ck_assert_uint_eq(offserv_cab_read_head(cab, offserv_cab_find(cab, "top.txt"), head,
		                                        sizeof(head), &got, err, sizeof(err)),
		                  OFFSERV_OK);
		ck_assert_uint_eq(got, 3);
		ck_assert(memcmp(head, "top", 3) == 0);
	}
	offserv_cab_close(cab);
out:
	offtest_rmtree(tmp);
	free(tmp);
	free(src);
	free(cabp);
	free(dest);
	free(outside);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("cab");
	TCase *tc = tcase_create("reader");
	char *probe = corpus("corpus/cab/normal_2files_1folder.cab");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_confined_extraction);
	if (probe) {
		tcase_add_loop_test(tc, test_valid_corpus, 0,
		                    (int)(sizeof(valid_files) / sizeof(valid_files[0])));
		tcase_add_loop_test(tc, test_encoding_corpus, 0,
		                    (int)(sizeof(encoding_files) / sizeof(encoding_files[0])));
		tcase_add_loop_test(tc, test_malformed_corpus, 0,
		                    (int)(sizeof(malformed_files) / sizeof(malformed_files[0])));
		tcase_add_test(tc, test_not_a_cabinet);
		tcase_add_test(tc, test_dirwalk_refused);
		tcase_add_test(tc, test_multipart);
		tcase_add_test(tc, test_split_case_insensitive);
		tcase_add_test(tc, test_missing_part_in_corpus);
		tcase_add_test(tc, test_declared_size_bomb);
	} else {
		printf("# ../shared/corpus is absent: corpus cases not run\n");
	}
	free(probe);
	suite_add_tcase(s, tc);
	return offtest_run(s);
}
