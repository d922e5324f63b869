/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Schedules: due computation, cron, storage, image locks, sd_notify. */
#include <config.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <offserv/schedule.h>
#include <offserv/sitedb.h>

#include "testutil.h"

static char err[1024];

static time_t utc(const char *text)
{
	time_t t = 0;
	offserv_status s = offserv_parse_utc(text, &t, err, sizeof(err));

	ck_assert_msg(s == OFFSERV_OK, "%s: %s", text, err);
	return t;
}

static void expect_next(const char *rule_text, const char *after, const char *want)
{
	struct offserv_recurrence r;
	char got[21];
	time_t next = 0;
	offserv_status s = offserv_recurrence_parse(rule_text, &r, err, sizeof(err));

	ck_assert_msg(s == OFFSERV_OK, "%s: %s", rule_text, err);
	s = offserv_recurrence_next(&r, utc(after), &next);
	ck_assert_msg(s == OFFSERV_OK, "%s after %s: no next run", rule_text, after);
	offserv_format_utc(next, got);
	ck_assert_msg(!strcmp(got, want), "%s after %s: got %s, want %s", rule_text, after, got, want);
}

START_TEST(monthly_second_tuesday_plus_three)
{
	/* Patch Tuesday January 2024 is the 9th: the rule fires Friday the 12th */
	expect_next("monthly on second tuesday +3 days at 02:00", "2024-01-01 00:00",
	            "2024-01-12T02:00:00Z");
	expect_next("monthly on second tuesday +3 days at 02:00", "2024-01-12 02:00",
	            "2024-02-16T02:00:00Z");
	/* December 2024: Patch Tuesday the 10th */
	expect_next("monthly on second tuesday +3 days at 02:00", "2024-11-30 12:00",
	            "2024-12-13T02:00:00Z");
	/* an offset that crosses into the next month still belongs to its month */
	expect_next("monthly on last friday +3 days at 02:00", "2024-01-27 00:00",
	            "2024-01-29T02:00:00Z");
	expect_next("monthly on last friday +3 days at 02:00", "2024-01-29 02:00",
	            "2024-02-26T02:00:00Z");
	expect_next("monthly on day 31 at 04:30", "2024-02-01 00:00", "2024-02-29T04:30:00Z");
}
END_TEST

START_TEST(daily_is_utc_across_dst)
{
	/* Europe's clocks change on 2024-03-31 at 01:00 UTC: UTC rules do not move */
	expect_next("daily at 02:00", "2024-03-30 02:00", "2024-03-31T02:00:00Z");
	expect_next("daily at 02:00", "2024-03-31 01:59", "2024-03-31T02:00:00Z");
	expect_next("daily at 02:00", "2024-03-31 02:00", "2024-04-01T02:00:00Z");
	expect_next("weekly on sunday at 23:15", "2024-12-31 00:00", "2025-01-05T23:15:00Z");
}
END_TEST

START_TEST(cron_expressions)
{
	struct offserv_recurrence r;
	time_t next;

	/* 2024-01-01 is a Monday */
	expect_next("cron 0 2 * * 2", "2024-01-01 00:00", "2024-01-02T02:00:00Z");
	expect_next("cron 0 2 * * tue", "2024-01-02 02:00", "2024-01-09T02:00:00Z");
	expect_next("cron */15 * * * *", "2024-01-01 00:07", "2024-01-01T00:15:00Z");
	expect_next("cron 30 4 1,15 * *", "2024-01-02 00:00", "2024-01-15T04:30:00Z");
	expect_next("cron 0 0 * * 7", "2024-01-01 00:00", "2024-01-07T00:00:00Z");
	/* day of month and day of week both restricted: either matches */
	expect_next("cron 0 0 13 * 5", "2024-01-01 00:00", "2024-01-05T00:00:00Z");
	expect_next("cron 0 0 29 feb *", "2024-03-01 00:00", "2028-02-29T00:00:00Z");
	ck_assert_uint_eq(offserv_recurrence_parse("cron 0 0 31 2 *", &r, err, sizeof(err)),
	                  OFFSERV_OK);
	ck_assert_uint_eq(offserv_recurrence_next(&r, utc("2024-01-01 00:00"), &next),
	                  OFFSERV_E_NOT_FOUND);
	ck_assert_uint_eq(offserv_recurrence_parse("cron 61 * * * *", &r, err, sizeof(err)),
	                  OFFSERV_E_INVALIDARG);
	ck_assert_uint_eq(offserv_recurrence_parse("cron 0 2 * *", &r, err, sizeof(err)),
	                  OFFSERV_E_INVALIDARG);
	ck_assert_uint_eq(offserv_recurrence_parse("cron 0 2 * * 8", &r, err, sizeof(err)),
	                  OFFSERV_E_INVALIDARG);
}
END_TEST

START_TEST(options_and_text_round_trip)
{
	struct offserv_recurrence r, r2;
	char buf[200];
	time_t now = utc("2024-05-15 10:00"); /* a Wednesday */

	ck_assert_uint_eq(offserv_recurrence_from_options("month", "second tuesday +3 days", "02:00",
	                                                  NULL, now, &r, err, sizeof(err)),
	                  OFFSERV_OK);
	ck_assert_str_eq(offserv_recurrence_format(&r, buf, sizeof(buf)),
	                 "monthly on second tuesday +3 days at 02:00");
	ck_assert_uint_eq(offserv_recurrence_parse(buf, &r2, err, sizeof(err)), OFFSERV_OK);
	ck_assert_int_eq(r2.nth, 2);
	ck_assert_int_eq(r2.weekday, 2);
	ck_assert_int_eq(r2.offset_days, 3);
	ck_assert_uint_eq(offserv_recurrence_from_options("week", NULL, "23:00", NULL, now, &r, err,
	                                                  sizeof(err)),
	                  OFFSERV_OK);
	ck_assert_str_eq(offserv_recurrence_format(&r, buf, sizeof(buf)),
	                 "weekly on wednesday at 23:00");
	ck_assert_uint_eq(offserv_recurrence_from_options(NULL, NULL, NULL, "0 2 * * 2", now, &r, err,
	                                                  sizeof(err)),
	                  OFFSERV_OK);
	ck_assert_str_eq(offserv_recurrence_format(&r, buf, sizeof(buf)), "cron 0 2 * * 2");
	ck_assert_uint_eq(offserv_recurrence_from_options("day", NULL, "25:00", NULL, now, &r, err,
	                                                  sizeof(err)),
	                  OFFSERV_E_INVALIDARG);
	ck_assert_uint_eq(offserv_recurrence_from_options("month", "sixth monday", "02:00", NULL, now,
	                                                  &r, err, sizeof(err)),
	                  OFFSERV_E_INVALIDARG);
	ck_assert_uint_eq(offserv_recurrence_from_options("day", NULL, "02:00", "0 2 * * *", now, &r,
	                                                  err, sizeof(err)),
	                  OFFSERV_E_INVALIDARG);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Storage                                                                 */

static char *tmp;

static void setup(void)
{
	tmp = offtest_tmpdir();
	ck_assert_ptr_nonnull(tmp);
	err[0] = '\0';
}

static void teardown(void)
{
	offtest_rmtree(tmp);
	free(tmp);
}

static struct offserv_sitedb *make_site_db(char id[OFFSERV_PACKAGE_ID_LEN], int64_t upd[2])
{
	struct offserv_sitedb *db = NULL;
	char *path = offtest_strdup_printf("%s/site.db", tmp);
	struct offserv_image_rec img = {0};
	struct offserv_image_index_rec ix[2] = {{0}, {0}};
	char *src = offtest_strdup_printf("%s/install.wim", tmp);

	ck_assert_uint_eq(offserv_sitedb_open(path, NULL, &db, err, sizeof(err)), OFFSERV_OK);
	img.name = "Windows 10";
	img.type = "os_image";
	img.source_path = src;
	img.wim_path = src;
	for (int i = 0; i < 2; i++) {
		ix[i].index = i + 1;
		ix[i].arch = "x64";
		ix[i].version = "10.0.19041";
		ix[i].build = 19041;
	}
	ck_assert_uint_eq(offserv_sitedb_image_insert(db, &img, ix, 2, NULL, 0, id, err, sizeof(err)),
	                  OFFSERV_OK);
	for (int n = 0; n < 2; n++) {
		struct offserv_update_rec r = {0};
		char file[32], kb[32];

		snprintf(r.sha256, sizeof(r.sha256), "%064x", n + 1);
		snprintf(file, sizeof(file), "u%d.cab", n);
		snprintf(kb, sizeof(kb), "KB50000%02d", n);
		r.file_name = file;
		r.library_path = file;
		r.format = "cab";
		r.kb = kb;
		r.arch = n == 0 ? "x64" : "arm64";
		r.supported = 1;
		ck_assert_uint_eq(offserv_sitedb_update_insert(db, &r, NULL, 0, NULL, 0, &upd[n], err,
		                                               sizeof(err)),
		                  OFFSERV_OK);
	}
	free(path);
	free(src);
	return db;
}

START_TEST(schedule_storage)
{
	char id[OFFSERV_PACKAGE_ID_LEN];
	int64_t upd[2], s1 = 0, s2 = 0;
	struct offserv_sitedb *db = make_site_db(id, upd);
	struct offserv_schedule_spec sp = {0};
	struct offserv_schedule_rec rec, *due = NULL;
	struct offserv_image_rec img;
	const char *by_kb[] = {"KB5000000"}, *arm[] = {"KB5000001"}, *missing[] = {"KB4999999"};
	time_t now = utc("2024-01-01 00:00");
	size_t n = 0;

	sp.image_id = id;
	sp.updates = by_kb;
	sp.n_updates = 1;
	sp.at = "2024-01-02 03:04";
	ck_assert_uint_eq(offserv_schedule_create(db, &sp, now, &s1, err, sizeof(err)), OFFSERV_OK);
	ck_assert_uint_eq(offserv_sitedb_schedule_get(db, s1, &rec, err, sizeof(err)), OFFSERV_OK);
	ck_assert_str_eq(rec.run_at, "2024-01-02T03:04:00Z");
	ck_assert_str_eq(rec.recurrence, "none");
	ck_assert_uint_eq(rec.n_update_ids, 1);
	ck_assert_int_eq(rec.update_ids[0], upd[0]);
	ck_assert(!offserv_schedule_is_all_updates(&rec));
	ck_assert_int_eq(rec.optimize, 0);
	offserv_schedule_rec_clear(&rec);
	{
		/* a record made by older code: the suffix still counts, the rule still parses */
		struct offserv_schedule_rec legacy = {0};
		struct offserv_recurrence r;

		legacy.recurrence = (char *)"daily at 02:00; updates=all";
		ck_assert(offserv_schedule_is_all_updates(&legacy));
		ck_assert_uint_eq(offserv_schedule_rule(&legacy, &r, err, sizeof(err)), OFFSERV_OK);
		ck_assert_int_eq(r.kind, OFFSERV_RECUR_DAILY);
		ck_assert_int_eq(r.hour, 2);
	}

	/* an update for another architecture, a missing one, a bad date */
	sp.updates = arm;
	ck_assert_uint_eq(offserv_schedule_create(db, &sp, now, NULL, err, sizeof(err)),
	                  OFFSERV_E_NOT_FOUND);
	sp.updates = missing;
	ck_assert_uint_eq(offserv_schedule_create(db, &sp, now, NULL, err, sizeof(err)),
	                  OFFSERV_E_NOT_FOUND);
	sp.updates = by_kb;
	sp.at = "2024-02-30 00:00";
	ck_assert_uint_eq(offserv_schedule_create(db, &sp, now, NULL, err, sizeof(err)),
	                  OFFSERV_E_INVALIDARG);

	/* a recurring --updates all schedule, first run on the 12th */
	memset(&sp, 0, sizeof(sp));
	sp.image_id = id;
	sp.all_updates = 1;
	sp.every = "month";
	sp.on = "second tuesday +3 days";
	sp.at = "02:00";
	sp.update_dps = 1;
	sp.optimize = 1;
	ck_assert_uint_eq(offserv_schedule_create(db, &sp, now, &s2, err, sizeof(err)), OFFSERV_OK);
	ck_assert_uint_eq(offserv_sitedb_schedule_get(db, s2, &rec, err, sizeof(err)), OFFSERV_OK);
	ck_assert(offserv_schedule_is_all_updates(&rec));
	/* `--updates all` is a field of its own, the rule text is only the rule */
	ck_assert_int_eq(rec.all_updates, 1);
	ck_assert_uint_eq(rec.n_update_ids, 0);
	ck_assert_str_eq(rec.recurrence, "monthly on second tuesday +3 days at 02:00");
	ck_assert_int_eq(rec.optimize, 1);
	ck_assert_str_eq(rec.run_at, "2024-01-12T02:00:00Z");
	ck_assert_int_eq(rec.update_dps, 1);
	offserv_schedule_rec_clear(&rec);

	/* the image shows the earliest run */
	ck_assert_uint_eq(offserv_sitedb_image_get(db, id, &img, err, sizeof(err)), OFFSERV_OK);
	ck_assert_str_eq(img.scheduled_date, "2024-01-02T03:04:00Z");
	ck_assert_str_eq(img.scheduled_status, "Scheduled");
	offserv_image_rec_clear(&img);

	/* due: nothing on the 1st, the first on the 2nd, both on the 12th */
	ck_assert_uint_eq(offserv_schedule_due(db, now, &due, &n, err, sizeof(err)), OFFSERV_OK);
	ck_assert_uint_eq(n, 0);
	ck_assert_uint_eq(offserv_schedule_due(db, utc("2024-01-02 03:04"), &due, &n, err,
	                                       sizeof(err)),
	                  OFFSERV_OK);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(due[0].schedule_id, s1);
	offserv_schedule_recs_free(due, n);
	ck_assert_uint_eq(offserv_schedule_due(db, utc("2024-01-12 02:00"), &due, &n, err,
	                                       sizeof(err)),
	                  OFFSERV_OK);
	ck_assert_uint_eq(n, 2);
	offserv_schedule_recs_free(due, n);

	/* a one-time run completes; a recurring one moves on */
	ck_assert_uint_eq(offserv_schedule_finish_run(db, s1, OFFSERV_JOB_SUCCESSFUL,
	                                              utc("2024-01-02 03:10"), err, sizeof(err)),
	                  OFFSERV_OK);
	ck_assert_uint_eq(offserv_sitedb_schedule_get(db, s1, &rec, err, sizeof(err)), OFFSERV_OK);
	ck_assert_str_eq(rec.status, "Completed");
	offserv_schedule_rec_clear(&rec);
	ck_assert_uint_eq(offserv_schedule_finish_run(db, s2, OFFSERV_JOB_FAILED,
	                                              utc("2024-01-12 02:30"), err, sizeof(err)),
	                  OFFSERV_OK);
	ck_assert_uint_eq(offserv_sitedb_schedule_get(db, s2, &rec, err, sizeof(err)), OFFSERV_OK);
	ck_assert_str_eq(rec.status, "Scheduled");
	ck_assert_str_eq(rec.run_at, "2024-02-16T02:00:00Z");
	ck_assert_str_eq(rec.last_run_at, "2024-01-12T02:30:00Z");
	offserv_schedule_rec_clear(&rec);
	ck_assert_uint_eq(offserv_sitedb_image_get(db, id, &img, err, sizeof(err)), OFFSERV_OK);
	ck_assert_str_eq(img.scheduled_date, "2024-02-16T02:00:00Z");
	ck_assert_str_eq(img.scheduled_status, "Failed");
	offserv_image_rec_clear(&img);

	/* delete: the image has no scheduled date any more */
	ck_assert_uint_eq(offserv_schedule_delete(db, s2, err, sizeof(err)), OFFSERV_OK);
	ck_assert_uint_eq(offserv_schedule_delete(db, s2, err, sizeof(err)), OFFSERV_E_NOT_FOUND);
	ck_assert_uint_eq(offserv_sitedb_image_get(db, id, &img, err, sizeof(err)), OFFSERV_OK);
	ck_assert_ptr_null(img.scheduled_date);
	offserv_image_rec_clear(&img);
	offserv_sitedb_close(db);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Locks                                                                   */

START_TEST(second_lock_holder_refused)
{
	struct offserv_lock a, b;

	ck_assert(!offserv_lock_image_held(tmp, "OFS00001"));
	ck_assert_uint_eq(offserv_lock_image(tmp, "OFS00001", &a, err, sizeof(err)), OFFSERV_OK);
	ck_assert(offserv_lock_image_held(tmp, "OFS00001"));
	ck_assert_uint_eq(offserv_lock_image(tmp, "OFS00001", &b, err, sizeof(err)), OFFSERV_E_BUSY);
	ck_assert_msg(strstr(err, "OFS00001") != NULL, "%s", err);
	/* another image is free */
	ck_assert_uint_eq(offserv_lock_image(tmp, "OFS00002", &b, err, sizeof(err)), OFFSERV_OK);
	offserv_lock_release(&b);
	offserv_lock_release(&a);
	ck_assert(!offserv_lock_image_held(tmp, "OFS00001"));
	ck_assert_uint_eq(offserv_lock_image(tmp, "../x", &a, err, sizeof(err)),
	                  OFFSERV_E_INVALID_NAME);
}
END_TEST

START_TEST(dead_holder_lock_is_free)
{
	struct offserv_lock a;
	int pfd[2], status;
	char c;
	pid_t pid;

	ck_assert_int_eq(pipe(pfd), 0);
	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		struct offserv_lock l;
		if (offserv_lock_image(tmp, "OFS00001", &l, NULL, 0) != OFFSERV_OK)
			_exit(1);
		(void)!write(pfd[1], "x", 1);
		pause(); /* killed while holding it */
		_exit(0);
	}
	close(pfd[1]);
	ck_assert_int_eq(read(pfd[0], &c, 1), 1);
	close(pfd[0]);
	ck_assert_uint_eq(offserv_lock_image(tmp, "OFS00001", &a, err, sizeof(err)), OFFSERV_E_BUSY);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	ck_assert(WIFSIGNALED(status));
	ck_assert(!offserv_lock_image_held(tmp, "OFS00001"));
	ck_assert_uint_eq(offserv_lock_image(tmp, "OFS00001", &a, err, sizeof(err)), OFFSERV_OK);
	offserv_lock_release(&a);
}
END_TEST

START_TEST(sd_notify_datagram)
{
	struct sockaddr_un sa = {0};
	char *path = offtest_strdup_printf("%s/notify", tmp), buf[64];
	int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
	ssize_t n;

	ck_assert_int_ge(fd, 0);
	sa.sun_family = AF_UNIX;
	ck_assert_uint_lt(strlen(path), sizeof(sa.sun_path));
	strcpy(sa.sun_path, path);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	unsetenv("NOTIFY_SOCKET");
	ck_assert_int_eq(offserv_sd_notify("READY=1"), 1);
	setenv("NOTIFY_SOCKET", path, 1);
	ck_assert_int_eq(offserv_sd_notify("READY=1"), 0);
	n = recv(fd, buf, sizeof(buf) - 1, 0);
	ck_assert_int_eq(n, 7);
	buf[n] = '\0';
	ck_assert_str_eq(buf, "READY=1");
	unsetenv("NOTIFY_SOCKET");
	close(fd);
	free(path);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("schedule");
	TCase *tc = tcase_create("due");

	tcase_add_test(tc, monthly_second_tuesday_plus_three);
	tcase_add_test(tc, daily_is_utc_across_dst);
	tcase_add_test(tc, cron_expressions);
	tcase_add_test(tc, options_and_text_round_trip);
	suite_add_tcase(s, tc);
	tc = tcase_create("storage");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, schedule_storage);
	tcase_add_test(tc, second_lock_holder_refused);
	tcase_add_test(tc, dead_holder_lock_is_free);
	tcase_add_test(tc, sd_notify_datagram);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return offtest_run(suite());
}
