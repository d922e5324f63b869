/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <offserv/drive.h>
#include <offserv/util.h>

#include "testutil.h"

START_TEST(test_automatic)
{
	char *tmp = offtest_tmpdir();
	char *site = offtest_strdup_printf("%s/site/not/created/yet", tmp);
	char *drive = NULL, *drive2 = NULL;
	char why[512] = "x";
	char real[PATH_MAX];
	struct stat a, b;

	ck_assert_ptr_nonnull(realpath(tmp, real));
	ck_assert_uint_eq(offserv_drive_resolve("Automatic", tmp, &drive, why, sizeof(why)),
	                  OFFSERV_OK);
	ck_assert_str_eq(why, "");
	/* The drive holds the site root: same device, a parent of it, a mount point. */
	ck_assert_int_eq(stat(drive, &a), 0);
	ck_assert_int_eq(stat(tmp, &b), 0);
	ck_assert_uint_eq(a.st_dev, b.st_dev);
	ck_assert(strcmp(drive, "/") == 0 ||
	          (strncmp(real, drive, strlen(drive)) == 0 &&
	           (real[strlen(drive)] == '/' || real[strlen(drive)] == '\0')));
	ck_assert_int_eq(offserv_drive_is_mount_point(drive), 1);

	/* Case-insensitive; a site root not created yet resolves through its parents. */
	ck_assert_uint_eq(offserv_drive_resolve("AUTOMATIC", site, &drive2, why, sizeof(why)),
	                  OFFSERV_OK);
	ck_assert_str_eq(drive2, drive);
	free(drive2);
	ck_assert_uint_eq(offserv_drive_resolve(NULL, site, &drive2, why, sizeof(why)), OFFSERV_OK);
	ck_assert_str_eq(drive2, drive);
	free(drive2);

	ck_assert_uint_eq(offserv_drive_resolve("Automatic", "relative", &drive2, why, sizeof(why)),
	                  OFFSERV_E_INVALIDARG);
	ck_assert_ptr_null(drive2);
	free(drive);
	free(site);
	offtest_rmtree(tmp);
	free(tmp);
}
END_TEST

START_TEST(test_fallbacks)
{
	char *tmp = offtest_tmpdir();
	char *missing = offtest_strdup_printf("%s/no-such-drive", tmp);
	char *plain = offtest_strdup_printf("%s/plain", tmp);
	char *autodrive = NULL, *drive = NULL;
	char why[512] = "";

	ck_assert_int_eq(mkdir(plain, 0755), 0);
	ck_assert_uint_eq(offserv_drive_resolve("Automatic", tmp, &autodrive, why, sizeof(why)),
	                  OFFSERV_OK);

	ck_assert_uint_eq(offserv_drive_resolve(missing, tmp, &drive, why, sizeof(why)), OFFSERV_OK);
	ck_assert_str_eq(drive, autodrive);
	ck_assert_msg(strstr(why, missing) && strstr(why, "does not exist"), "why: %s", why);
	free(drive);

	ck_assert_int_eq(offserv_drive_is_mount_point(plain), 0);
	ck_assert_uint_eq(offserv_drive_resolve(plain, tmp, &drive, why, sizeof(why)), OFFSERV_OK);
	ck_assert_str_eq(drive, autodrive);
	ck_assert_msg(strstr(why, plain) && strstr(why, "not a mount point"), "why: %s", why);
	free(drive);

	/* "/" is always a mount point and is used as configured. */
	ck_assert_uint_eq(offserv_drive_resolve("/", tmp, &drive, why, sizeof(why)), OFFSERV_OK);
	ck_assert_str_eq(drive, "/");
	ck_assert_str_eq(why, "");
	free(drive);

	free(autodrive);
	free(missing);
	free(plain);
	offtest_rmtree(tmp);
	free(tmp);
}
END_TEST

/*
 * Enter a private mount namespace (this test runs in its own forked
 * process, so the mount disappears with it).  Returns NULL, or why not.
 */
static const char *private_mounts(char *why, size_t len)
{
	if (geteuid() == 0) {
		if (unshare(CLONE_NEWNS) != 0) {
			snprintf(why, len, "unshare(CLONE_NEWNS) failed: %s", strerror(errno));
			return why;
		}
	} else {
		uid_t uid = geteuid();
		gid_t gid = getegid();
		char map[64];

		if (unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) {
			snprintf(why, len, "unshare(CLONE_NEWUSER|CLONE_NEWNS) failed: %s",
			         strerror(errno));
			return why;
		}
		snprintf(map, sizeof(map), "0 %lu 1", (unsigned long)uid);
		if (offtest_write_file("/proc/self/setgroups", "deny", 4) != 0 ||
		    offtest_write_file("/proc/self/uid_map", map, strlen(map)) != 0) {
			snprintf(why, len, "cannot map the user in a user namespace");
			return why;
		}
		snprintf(map, sizeof(map), "0 %lu 1", (unsigned long)gid);
		if (offtest_write_file("/proc/self/gid_map", map, strlen(map)) != 0) {
			snprintf(why, len, "cannot map the group in a user namespace");
			return why;
		}
	}
	/* The type is ignored for a propagation change; "none" keeps checkers quiet. */
	if (mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) != 0) {
		snprintf(why, len, "cannot make mounts private: %s", strerror(errno));
		return why;
	}
	return NULL;
}

START_TEST(test_second_filesystem)
{
	char *tmp = offtest_tmpdir();
	char *mnt = offtest_strdup_printf("%s/scratch", tmp);
	char *site = offtest_strdup_printf("%s/site", tmp);
	char *inner = offtest_strdup_printf("%s/scratch/site", tmp);
	char *drive = NULL, *file;
	char why[512] = "", reason[256];
	char real[PATH_MAX];
	uint64_t before = 0, after = 0;
	const char *skip;
	static char block[1024 * 1024];

	ck_assert_int_eq(mkdir(mnt, 0755), 0);
	ck_assert_int_eq(mkdir(site, 0755), 0);
	skip = private_mounts(reason, sizeof(reason));
	if (!skip && mount("tmpfs", mnt, "tmpfs", 0, "size=16m") != 0) {
		snprintf(reason, sizeof(reason), "mount -t tmpfs failed: %s", strerror(errno));
		skip = reason;
	}
	if (skip) {
		printf("# SKIP test_second_filesystem: cannot mount a filesystem here (%s)\n", skip);
		offtest_rmtree(tmp);
		return;
	}
	ck_assert_ptr_nonnull(realpath(mnt, real));

	/* A configured mount point is used as is. */
	ck_assert_int_eq(offserv_drive_is_mount_point(mnt), 1);
	ck_assert_uint_eq(offserv_drive_resolve(mnt, site, &drive, why, sizeof(why)), OFFSERV_OK);
	ck_assert_str_eq(drive, real);
	ck_assert_str_eq(why, "");
	free(drive);

	/* Automatic with the site root on it picks it. */
	ck_assert_int_eq(mkdir(inner, 0755), 0);
	ck_assert_uint_eq(offserv_drive_resolve("Automatic", inner, &drive, why, sizeof(why)),
	                  OFFSERV_OK);
	ck_assert_str_eq(drive, real);
	free(drive);
	/* ...and not with the site root beside it. */
	ck_assert_uint_eq(offserv_drive_resolve("Automatic", site, &drive, why, sizeof(why)),
	                  OFFSERV_OK);
	ck_assert_str_ne(drive, real);
	free(drive);

	/* Free space is the tmpfs's: 16 MiB empty, 1 MiB less after a 1 MiB file. */
	ck_assert_uint_eq(offserv_drive_free_bytes(mnt, &before, why, sizeof(why)), OFFSERV_OK);
	ck_assert_uint_le(before, 16u * 1024 * 1024);
	ck_assert_uint_gt(before, 15u * 1024 * 1024);
	file = offtest_strdup_printf("%s/fill", mnt);
	memset(block, 0x5a, sizeof(block));
	ck_assert_int_eq(offtest_write_file(file, block, sizeof(block)), 0);
	ck_assert_uint_eq(offserv_drive_free_bytes(mnt, &after, why, sizeof(why)), OFFSERV_OK);
	ck_assert_uint_le(after, before - sizeof(block));
	free(file);

	umount(mnt);
	free(mnt);
	free(site);
	free(inner);
	offtest_rmtree(tmp);
	free(tmp);
}
END_TEST

START_TEST(test_staging_dirs)
{
	char *tmp = offtest_tmpdir();
	char *work = NULL, *img = NULL, *upd = NULL, *exp;
	char err[512] = "";
	struct stat st;
	static const char *const bad[] = {"", ".", "..", "a/b", "..\\x", "a b", "x\n", "../up"};

	ck_assert_uint_eq(offserv_drive_workdir(tmp, &work, err, sizeof(err)), OFFSERV_OK);
	exp = offtest_strdup_printf("%s/ConfigMgr_OfflineImageServicing", tmp);
	ck_assert_str_eq(work, exp);
	ck_assert_int_eq(lstat(work, &st), 0);
	ck_assert(S_ISDIR(st.st_mode));
	ck_assert_uint_eq(st.st_mode & 0777, 0700);
	free(work);
	/* Again: fine; a too-open one is narrowed. */
	ck_assert_int_eq(chmod(exp, 0777), 0);
	ck_assert_uint_eq(offserv_drive_workdir(tmp, &work, err, sizeof(err)), OFFSERV_OK);
	ck_assert_int_eq(lstat(work, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0700);
	free(work);
	free(exp);

	ck_assert_uint_eq(offserv_drive_image_dir(tmp, "P0100012", &img, err, sizeof(err)),
	                  OFFSERV_OK);
	exp = offtest_strdup_printf("%s/ConfigMgr_OfflineImageServicing/P0100012/ImageMountDir",
	                            tmp);
	ck_assert_str_eq(img, exp);
	ck_assert_int_eq(stat(img, &st), 0);
	ck_assert(S_ISDIR(st.st_mode));
	free(exp);
	ck_assert_uint_eq(offserv_drive_update_dir(tmp, "73676b06-2bd1-4bd3-a0d4-4a6b1f7c3e0a", &upd,
	                                           err, sizeof(err)),
	                  OFFSERV_OK);
	exp = offtest_strdup_printf(
		"%s/ConfigMgr_OfflineImageServicing/73676b06-2bd1-4bd3-a0d4-4a6b1f7c3e0a", tmp);
	ck_assert_str_eq(upd, exp);
	ck_assert_int_eq(stat(upd, &st), 0);
	free(exp);
	free(img);
	free(upd);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		img = (char *)1;
		ck_assert_msg(offserv_drive_image_dir(tmp, bad[i], &img, err, sizeof(err)) ==
		                      OFFSERV_E_INVALID_NAME,
		              "image id \"%s\" accepted", bad[i]);
		ck_assert_ptr_null(img);
		ck_assert_msg(offserv_drive_update_dir(tmp, bad[i], &upd, err, sizeof(err)) ==
		                      OFFSERV_E_INVALID_NAME,
		              "guid \"%s\" accepted", bad[i]);
	}
	ck_assert_uint_eq(offserv_drive_image_dir(tmp, NULL, &img, err, sizeof(err)),
	                  OFFSERV_E_INVALID_NAME);
	offtest_rmtree(tmp);
	free(tmp);
}
END_TEST

START_TEST(test_workdir_refusals)
{
	char *tmp = offtest_tmpdir();
	char *d1 = offtest_strdup_printf("%s/d1", tmp);
	char *d2 = offtest_strdup_printf("%s/d2", tmp);
	char *target = offtest_strdup_printf("%s/elsewhere", tmp);
	char *link = offtest_strdup_printf("%s/ConfigMgr_OfflineImageServicing", d1);
	char *w2 = offtest_strdup_printf("%s/ConfigMgr_OfflineImageServicing", d2);
	char *work = (char *)1;
	char err[512] = "";

	ck_assert_int_eq(mkdir(d1, 0755), 0);
	ck_assert_int_eq(mkdir(d2, 0755), 0);
	ck_assert_int_eq(mkdir(target, 0700), 0);
	ck_assert_int_eq(symlink(target, link), 0);
	ck_assert_uint_eq(offserv_drive_workdir(d1, &work, err, sizeof(err)),
	                  OFFSERV_E_ACCESS_DENIED);
	ck_assert_ptr_null(work);
	ck_assert_msg(strstr(err, link) && strstr(err, "symbolic link"), "err: %s", err);

	/* Not a directory. */
	ck_assert_int_eq(offtest_write_file(w2, "x", 1), 0);
	ck_assert_uint_eq(offserv_drive_workdir(d2, &work, err, sizeof(err)),
	                  OFFSERV_E_ACCESS_DENIED);
	ck_assert_int_eq(unlink(w2), 0);

	/* Owned by another user (only root can arrange that). */
	if (geteuid() == 0) {
		ck_assert_int_eq(mkdir(w2, 0700), 0);
		ck_assert_int_eq(chown(w2, 12345, 12345), 0);
		ck_assert_uint_eq(offserv_drive_workdir(d2, &work, err, sizeof(err)),
		                  OFFSERV_E_ACCESS_DENIED);
		ck_assert_msg(strstr(err, "owned by user 12345"), "err: %s", err);
	} else {
		printf("# SKIP other-owner case: only root can create a directory owned by "
		       "another user\n");
	}

	ck_assert_uint_eq(offserv_drive_workdir("relative", &work, err, sizeof(err)),
	                  OFFSERV_E_INVALIDARG);
	{
		uint64_t n;

		ck_assert_uint_ne(offserv_drive_free_bytes("/no/such/dir/x", &n, err, sizeof(err)),
		                  OFFSERV_OK);
		ck_assert_ptr_nonnull(strstr(err, "/no/such/dir/x"));
		ck_assert_uint_eq(offserv_drive_free_bytes(tmp, &n, err, sizeof(err)), OFFSERV_OK);
		ck_assert_uint_gt(n, 0);
	}
	free(d1);
	free(d2);
	free(target);
	free(link);
	free(w2);
	offtest_rmtree(tmp);
	free(tmp);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("drive");
	TCase *tc = tcase_create("drive");

	tcase_add_test(tc, test_automatic);
	tcase_add_test(tc, test_fallbacks);
	tcase_add_test(tc, test_second_filesystem);
	tcase_add_test(tc, test_staging_dirs);
	tcase_add_test(tc, test_workdir_refusals);
	suite_add_tcase(s, tc);
	return offtest_run(s);
}
