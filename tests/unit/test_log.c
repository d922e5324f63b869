/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <config.h>

#include <pthread.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <offserv/log.h>

#include "testutil.h"

/* The regex CMTrace and PowerShell parsers use to recognise the format. */
#define TRACE_DETECT "\\$\\$<(.*)><thread="
/* The whole trace line. */
#define TRACE_FULL                                                                          \
	"^(.*)  \\$\\$<([^>]+)><([0-9]{2})-([0-9]{2})-([0-9]{4}) ([0-9]{2}):([0-9]{2}):([0-9]{2})" \
	"\\.([0-9]{3})([+-][0-9]{3})><thread=([0-9]+) \\(0x([0-9A-F]+)\\)>$"
#define CCM_FULL                                                                            \
	"^<!\\[LOG\\[(.*)\\]LOG\\]!><time=\"([0-9]{2}):([0-9]{2}):([0-9]{2})\\.([0-9]{3})"     \
	"([+-][0-9]{3})\" date=\"([0-9]{2})-([0-9]{2})-([0-9]{4})\" component=\"([^\"]*)\" "    \
	"context=\"\" type=\"([123])\" thread=\"([0-9]+)\" file=\"\">$"

static void set_tz(const char *tz)
{
	setenv("TZ", tz, 1);
	tzset();
}

static struct offserv_logfile *open_log(const char *path, enum offserv_logfmt fmt,
                                        uint64_t max, unsigned history, int level)
{
	struct offserv_logfile_options o = {0};
	struct offserv_logfile *lf = NULL;
	char err[512] = "";

	o.path = path;
	o.format = fmt;
	o.max_size = max;
	o.history = history;
	o.level = level;
	ck_assert_msg(offserv_logfile_open(&o, &lf, err, sizeof(err)) == OFFSERV_OK, "%s", err);
	return lf;
}

/* Split a file's text into lines (the text is modified); returns the count. */
static size_t split_lines(char *text, char **lines, size_t max)
{
	size_t n = 0;
	char *p = text;

	while (p && *p && n < max) {
		char *nl = strchr(p, '\n');

		ck_assert_msg(nl != NULL, "last line has no newline: %s", p);
		*nl = '\0';
		lines[n++] = p;
		p = nl + 1;
	}
	return n;
}

static char *sub(const char *s, const regmatch_t *m)
{
	return strndup(s + m->rm_so, (size_t)(m->rm_eo - m->rm_so));
}

START_TEST(test_trace_format)
{
	static const struct {
		const char *tz, *bias;
	} zones[] = {{"UTC", "+000"}, {"EST5", "+300"}, {"<+01>-1", "-060"}, {"<+0530>-5:30", "-330"}};
	char *dir = offtest_tmpdir();
	regex_t full, detect;
	regmatch_t m[13];

	ck_assert_int_eq(regcomp(&full, TRACE_FULL, REG_EXTENDED), 0);
	ck_assert_int_eq(regcomp(&detect, TRACE_DETECT, REG_EXTENDED), 0);
	for (size_t z = 0; z < sizeof(zones) / sizeof(zones[0]); z++) {
		char *path = offtest_strdup_printf("%s/t%zu.log", dir, z);
		struct offserv_logfile *lf;
		char *text, *lines[4], *s;
		long tid = (long)syscall(SYS_gettid);
		time_t before, after;
		struct tm tb, ta;
		char date_b[16], date_a[16], date[16];

		set_tz(zones[z].tz);
		lf = open_log(path, OFFSERV_LOGFMT_TRACE, 0, 1, 0);
		before = time(NULL);
		ck_assert_uint_eq(offserv_logfile_write(lf, OFFSERV_LOG_INFO, NULL,
		                                        "UnMounting Image (Commit Changes = %d)...", 1),
		                  OFFSERV_OK);
		after = time(NULL);
		offserv_logfile_close(lf);
		text = offtest_read_file(path, NULL);
		ck_assert_uint_eq(split_lines(text, lines, 4), 1);
		ck_assert_int_eq(regexec(&detect, lines[0], 0, NULL, 0), 0);
		ck_assert_msg(regexec(&full, lines[0], 13, m, 0) == 0, "not a trace line: %s",
		              lines[0]);
		s = sub(lines[0], &m[1]);
		ck_assert_str_eq(s, "UnMounting Image (Commit Changes = 1)...");
		free(s);
		s = sub(lines[0], &m[2]);
		ck_assert_str_eq(s, "SMS_OFFLINE_SERVICING_MANAGER");
		free(s);
		s = sub(lines[0], &m[10]);
		ck_assert_str_eq(s, zones[z].bias);
		free(s);
		s = sub(lines[0], &m[11]);
		ck_assert_int_eq(atol(s), tid);
		free(s);
		s = sub(lines[0], &m[12]);
		ck_assert_int_eq(strtol(s, NULL, 16), tid);
		free(s);
		/* The date is today's local date, MM-DD-YYYY. */
		localtime_r(&before, &tb);
		localtime_r(&after, &ta);
		strftime(date_b, sizeof(date_b), "%m-%d-%Y", &tb);
		strftime(date_a, sizeof(date_a), "%m-%d-%Y", &ta);
		snprintf(date, sizeof(date), "%.10s", lines[0] + m[3].rm_so);
		ck_assert_msg(!strcmp(date, date_b) || !strcmp(date, date_a), "date %s", date);
		free(text);
		free(path);
	}
	regfree(&full);
	regfree(&detect);
	offtest_rmtree(dir);
	free(dir);
}
END_TEST

START_TEST(test_bias)
{
	/* 2024-01-15 12:00 UTC and 2024-07-15 12:00 UTC. */
	const int64_t jan = 1705320000, jul = 1721044800;

	set_tz("EST5EDT");
	ck_assert_int_eq(offserv_log_bias_minutes(jan), 300);
	ck_assert_int_eq(offserv_log_bias_minutes(jul), 240);
	set_tz("UTC");
	ck_assert_int_eq(offserv_log_bias_minutes(jan), 0);
	set_tz("CET-1CEST,M3.5.0,M10.5.0/3");
	ck_assert_int_eq(offserv_log_bias_minutes(jan), -60);
	ck_assert_int_eq(offserv_log_bias_minutes(jul), -120);
}
END_TEST

START_TEST(test_ccm_format)
{
	char *dir = offtest_tmpdir();
	char *path = offtest_strdup_printf("%s/c.log", dir);
	struct offserv_logfile *lf;
	char *text, *lines[8], *s;
	regex_t full;
	regmatch_t m[13];
	const char *types = "321";

	set_tz("EST5");
	ck_assert_int_eq(regcomp(&full, CCM_FULL, REG_EXTENDED), 0);
	lf = open_log(path, OFFSERV_LOGFMT_CCM, 0, 1, OFFSERV_LOG_DEBUG);
	offserv_logfile_write(lf, OFFSERV_LOG_ERROR, NULL, "Image UnMount failed with error %d",
	                      161);
	offserv_logfile_write(lf, OFFSERV_LOG_WARNING, "OTHER", "warned");
	offserv_logfile_write(lf, OFFSERV_LOG_INFO, NULL, "info");
	offserv_logfile_write(lf, OFFSERV_LOG_DEBUG, NULL, "debug");
	offserv_logfile_close(lf);
	text = offtest_read_file(path, NULL);
	ck_assert_uint_eq(split_lines(text, lines, 8), 4);
	for (int i = 0; i < 4; i++) {
		ck_assert_msg(regexec(&full, lines[i], 13, m, 0) == 0, "not a CCM line: %s",
		              lines[i]);
		ck_assert_int_eq(lines[i][m[11].rm_so], types[i < 3 ? i : 2]);
		s = sub(lines[i], &m[6]);
		ck_assert_str_eq(s, "+300");
		free(s);
		s = sub(lines[i], &m[10]);
		ck_assert_str_eq(s, i == 1 ? "OTHER" : "SMS_OFFLINE_SERVICING_MANAGER");
		free(s);
	}
	s = sub(lines[0], &m[1]);
	free(s);
	ck_assert(strncmp(lines[0], "<![LOG[Image UnMount failed with error 161]LOG]!>", 49) == 0);
	regfree(&full);
	free(text);
	free(path);
	offtest_rmtree(dir);
	free(dir);
}
END_TEST

START_TEST(test_dism_format)
{
	/* Real lines from logs.md; everything after the timestamp must match. */
	static const char *const real[] = {
		"2022-11-18 10:51:27, Info                  DISM   DISM.EXE: <----- Starting Dism.exe session ----->",
		"2017-03-10 10:24:32, Info                  DISM   DISM.EXE: Image session has been closed. Reboot required=no.",
		"2017-03-10 10:24:32, Info                  DISM   DISM.EXE: <----- Ending Dism.exe session ----->",
	};
	char *dir = offtest_tmpdir();
	char *path = offtest_strdup_printf("%s/dism.log", dir);
	struct offserv_logfile *lf;
	char *text, *lines[16], *exp;
	regex_t ts;

	ck_assert_int_eq(regcomp(&ts, "^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}, ",
	                         REG_EXTENDED),
	                 0);
	lf = open_log(path, OFFSERV_LOGFMT_DISM, 0, 1, 0);
	ck_assert_uint_eq(offserv_dismlog_session_begin(
				  lf, "dism  /English /Image:/mnt/x /Add-Package /PackagePath:a.cab"),
	                  OFFSERV_OK);
	ck_assert_uint_eq(offserv_dismlog_provider(lf, OFFSERV_LOG_ERROR, "DISM Package Manager",
	                                           "CDISMPackageManager", "Internal_Finalize",
	                                           0x800f0922u, "Failed finalizing changes."),
	                  OFFSERV_OK);
	ck_assert_uint_eq(offserv_dismlog_provider(lf, OFFSERV_LOG_INFO, "DISM Manager",
	                                           "CDISMManager", "CreateImageSession", OFFSERV_OK,
	                                           "physical location path: %s", "/"),
	                  OFFSERV_OK);
	offserv_logfile_write(lf, OFFSERV_LOG_WARNING, "CBS", "a warning");
	offserv_logfile_write(lf, OFFSERV_LOG_DEBUG, NULL, "dropped at level 3");
	ck_assert_uint_eq(offserv_dismlog_session_end(lf, false), OFFSERV_OK);
	offserv_logfile_close(lf);

	text = offtest_read_file(path, NULL);
	ck_assert_uint_eq(split_lines(text, lines, 16), 9);
	for (int i = 0; i < 9; i++)
		ck_assert_msg(regexec(&ts, lines[i], 0, NULL, 0) == 0, "bad timestamp: %s", lines[i]);
	ck_assert_str_eq(lines[0] + 19, real[0] + 19);
	ck_assert_str_eq(lines[7] + 19, real[1] + 19);
	ck_assert_str_eq(lines[8] + 19, real[2] + 19);
	ck_assert(strncmp(lines[1] + 19,
	                  ", Info                  DISM   DISM.EXE: Host machine information: OS Version=",
	                  78) == 0);
	ck_assert_ptr_nonnull(strstr(lines[1], ", Running architecture="));
	ck_assert_ptr_nonnull(strstr(lines[1], ", Number of processors="));
	ck_assert_str_eq(lines[2] + 19, ", Info                  DISM   DISM.EXE: offserv dism version: " PACKAGE_VERSION);
	ck_assert_str_eq(lines[3] + 19,
	                 ", Info                  DISM   DISM.EXE: Executing command line: "
	                 "dism  /English /Image:/mnt/x /Add-Package /PackagePath:a.cab");
	exp = offtest_strdup_printf(", Error                 DISM   DISM Package Manager: PID=%ld "
	                            "TID=%ld Failed finalizing changes. - "
	                            "CDISMPackageManager::Internal_Finalize(hr:0x800f0922)",
	                            (long)getpid(), (long)syscall(SYS_gettid));
	ck_assert_str_eq(lines[4] + 19, exp);
	free(exp);
	exp = offtest_strdup_printf(", Info                  DISM   DISM Manager: PID=%ld TID=%ld "
	                            "physical location path: / - CDISMManager::CreateImageSession",
	                            (long)getpid(), (long)syscall(SYS_gettid));
	ck_assert_str_eq(lines[5] + 19, exp);
	free(exp);
	/* Level column 22 wide from column 21, component 7 wide from column 43. */
	ck_assert_str_eq(lines[6] + 19, ", Warning               CBS    a warning");
	ck_assert(strncmp(lines[8] + 21, "Info                  DISM   DISM.EXE", 37) == 0);
	regfree(&ts);
	free(text);
	free(path);
	offtest_rmtree(dir);
	free(dir);
}
END_TEST

START_TEST(test_level_filter_and_null)
{
	char *dir = offtest_tmpdir();
	char *path = offtest_strdup_printf("%s/l.log", dir);
	struct offserv_logfile *lf = open_log(path, OFFSERV_LOGFMT_TRACE, 0, 1, OFFSERV_LOG_WARNING);
	char *text, *lines[8];

	ck_assert(offserv_logfile_enabled(lf, OFFSERV_LOG_WARNING));
	ck_assert(!offserv_logfile_enabled(lf, OFFSERV_LOG_INFO));
	offserv_logfile_write(lf, OFFSERV_LOG_DEBUG, NULL, "debug");
	offserv_logfile_write(lf, OFFSERV_LOG_INFO, NULL, "info");
	offserv_logfile_write(lf, OFFSERV_LOG_WARNING, NULL, "warning");
	offserv_logfile_write(lf, OFFSERV_LOG_ERROR, NULL, "error\nwith a break");
	offserv_logfile_close(lf);
	text = offtest_read_file(path, NULL);
	ck_assert_uint_eq(split_lines(text, lines, 8), 2);
	ck_assert(strncmp(lines[0], "warning  $$<", 12) == 0);
	ck_assert(strncmp(lines[1], "error with a break  $$<", 23) == 0);
	free(text);

	ck_assert_uint_eq(offserv_logfile_write(NULL, OFFSERV_LOG_ERROR, NULL, "x"), OFFSERV_OK);
	ck_assert_uint_eq(offserv_dismlog_session_begin(NULL, "x"), OFFSERV_OK);
	offserv_logfile_close(NULL);

	/* CRLF option. */
	{
		struct offserv_logfile_options o = {0};
		size_t len;

		o.path = path;
		o.format = OFFSERV_LOGFMT_DISM;
		o.crlf = true;
		ck_assert_int_eq(unlink(path), 0);
		ck_assert_uint_eq(offserv_logfile_open(&o, &lf, NULL, 0), OFFSERV_OK);
		offserv_logfile_write(lf, OFFSERV_LOG_INFO, NULL, "crlf");
		offserv_logfile_close(lf);
		text = offtest_read_file(path, &len);
		ck_assert_uint_gt(len, 2);
		ck_assert(strcmp(text + len - 6, "crlf\r\n") == 0);
		free(text);
	}
	/* A directory that does not exist: error naming the path. */
	{
		struct offserv_logfile_options o = {0};
		char err[512];

		free(path);
		path = offtest_strdup_printf("%s/nodir/x.log", dir);
		o.path = path;
		ck_assert_uint_eq(offserv_logfile_open(&o, &lf, err, sizeof(err)),
		                  OFFSERV_E_FILE_NOT_FOUND);
		ck_assert_ptr_nonnull(strstr(err, "nodir/x.log"));
	}
	free(path);
	offtest_rmtree(dir);
	free(dir);
}
END_TEST

/* Numbers of the "line N" messages in @p path, appended to seq[]. */
static void read_seq(const char *path, long *seq, size_t *n, size_t max, uint64_t max_size)
{
	struct stat sb;
	char *text, **lines;
	size_t count;

	if (stat(path, &sb) != 0)
		return;
	ck_assert_msg((uint64_t)sb.st_size <= max_size, "%s is %lld bytes", path,
	              (long long)sb.st_size);
	text = offtest_read_file(path, NULL);
	lines = calloc(max, sizeof(*lines));
	count = split_lines(text, lines, max);
	for (size_t i = 0; i < count; i++) {
		const char *l = strstr(lines[i], "line ");

		ck_assert_msg(l != NULL, "bad line: %s", lines[i]);
		ck_assert(*n < max);
		seq[(*n)++] = atol(l + 5);
	}
	free(lines);
	free(text);
}

static void check_rollover(enum offserv_logfmt fmt, unsigned history, const char *name,
                           const char *const *kept, size_t nkept, const char *absent)
{
	char *dir = offtest_tmpdir();
	char *path = offtest_strdup_printf("%s/%s", dir, name);
	struct offserv_logfile *lf = open_log(path, fmt, 1024, history, 0);
	long seq[200];
	size_t n = 0;
	const int total = 60;
	struct stat sb;

	for (int i = 1; i <= total; i++)
		ck_assert_uint_eq(offserv_logfile_write(lf, OFFSERV_LOG_INFO, NULL,
		                                        "line %d padding to make it longer", i),
		                  OFFSERV_OK);
	offserv_logfile_close(lf);
	/* Oldest first: the kept files from the last, then the live file. */
	for (size_t k = nkept; k > 0; k--) {
		char *p = offtest_strdup_printf("%s/%s", dir, kept[k - 1]);

		ck_assert_msg(stat(p, &sb) == 0, "%s missing", kept[k - 1]);
		read_seq(p, seq, &n, 200, 1024);
		free(p);
	}
	ck_assert_int_eq(stat(path, &sb), 0);
	read_seq(path, seq, &n, 200, 1024);
	if (absent) {
		char *p = offtest_strdup_printf("%s/%s", dir, absent);

		ck_assert_msg(stat(p, &sb) != 0, "%s exists", absent);
		free(p);
	}
	/* Consecutive, ending with the last line written. */
	ck_assert_uint_gt(n, 0);
	ck_assert_int_eq(seq[n - 1], total);
	for (size_t i = 1; i < n; i++)
		ck_assert_int_eq(seq[i], seq[i - 1] + 1);
	if (history == 0)
		ck_assert_uint_lt(n, (size_t)total);
	free(path);
	offtest_rmtree(dir);
	free(dir);
}

START_TEST(test_rollover)
{
	static const char *const lo[] = {"OfflineServicingMgr.lo_"};
	static const char *const lo3[] = {"OfflineServicingMgr.lo_", "OfflineServicingMgr.lo_1",
	                                  "OfflineServicingMgr.lo_2"};
	static const char *const bak[] = {"dism.log.bak"};

	set_tz("UTC");
	check_rollover(OFFSERV_LOGFMT_TRACE, 1, "OfflineServicingMgr.log", lo, 1,
	               "OfflineServicingMgr.lo_1");
	check_rollover(OFFSERV_LOGFMT_TRACE, 3, "OfflineServicingMgr.log", lo3, 3,
	               "OfflineServicingMgr.lo_3");
	check_rollover(OFFSERV_LOGFMT_CCM, 1, "OfflineServicingMgr.log", lo, 1, NULL);
	check_rollover(OFFSERV_LOGFMT_DISM, 1, "dism.log", bak, 1, "dism.log.bak1");
	check_rollover(OFFSERV_LOGFMT_TRACE, 0, "OfflineServicingMgr.log", NULL, 0,
	               "OfflineServicingMgr.lo_");
}
END_TEST

#define LINES_PER_THREAD 2000

struct writer {
	struct offserv_logfile *lf;
	int proc, thread;
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;

	for (int i = 0; i < LINES_PER_THREAD; i++)
		if (offserv_logfile_write(w->lf, OFFSERV_LOG_INFO, NULL,
		                          "p%d t%d n%d some text to give the line a body", w->proc,
		                          w->thread, i) != OFFSERV_OK)
			return (void *)1;
	return NULL;
}

static void run_writers(const char *path, uint64_t max_size, unsigned history)
{
	pid_t kids[2];

	for (int p = 0; p < 2; p++) {
		kids[p] = fork();
		ck_assert_int_ge(kids[p], 0);
		if (kids[p] == 0) {
			struct offserv_logfile *lf = open_log(path, OFFSERV_LOGFMT_TRACE, max_size,
			                                      history, 0);
			pthread_t th[2];
			struct writer w[2];
			int bad = 0;

			for (int t = 0; t < 2; t++) {
				w[t].lf = lf;
				w[t].proc = p;
				w[t].thread = t;
				pthread_create(&th[t], NULL, writer_main, &w[t]);
			}
			for (int t = 0; t < 2; t++) {
				void *r;

				pthread_join(th[t], &r);
				bad |= r != NULL;
			}
			offserv_logfile_close(lf);
			_exit(bad);
		}
	}
	for (int p = 0; p < 2; p++) {
		int status;

		ck_assert_int_eq(waitpid(kids[p], &status, 0), kids[p]);
		ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
}

/* Count intact lines in @p path into seen[proc][thread][n]. */
static size_t count_lines(const char *path, regex_t *re, unsigned char *seen)
{
	char *text = offtest_read_file(path, NULL);
	char *p, *nl;
	size_t count = 0;

	if (!text)
		return 0;
	for (p = text; *p; p = nl + 1) {
		int proc, thread, n, used = 0;

		nl = strchr(p, '\n');
		ck_assert_msg(nl != NULL, "%s ends inside a line", path);
		*nl = '\0';
		ck_assert_msg(regexec(re, p, 0, NULL, 0) == 0, "torn line in %s: %s", path, p);
		ck_assert_int_eq(sscanf(p, "p%d t%d n%d some text to give the line a body  $$<%n",
		                        &proc, &thread, &n, &used),
		                 3);
		ck_assert_msg(used > 0, "torn line: %s", p);
		ck_assert(proc >= 0 && proc < 2 && thread >= 0 && thread < 2 && n >= 0 &&
		          n < LINES_PER_THREAD);
		ck_assert_msg(!seen[(proc * 2 + thread) * LINES_PER_THREAD + n], "duplicate: %s", p);
		seen[(proc * 2 + thread) * LINES_PER_THREAD + n] = 1;
		count++;
	}
	free(text);
	return count;
}

START_TEST(test_concurrent_writers)
{
	char *dir = offtest_tmpdir();
	char *path = offtest_strdup_printf("%s/OfflineServicingMgr.log", dir);
	unsigned char *seen = calloc(4 * LINES_PER_THREAD, 1);
	regex_t re;

	ck_assert_int_eq(regcomp(&re, TRACE_FULL, REG_EXTENDED), 0);
	run_writers(path, 0, 1);
	ck_assert_uint_eq(count_lines(path, &re, seen), 4 * LINES_PER_THREAD);
	regfree(&re);
	free(seen);
	free(path);
	offtest_rmtree(dir);
	free(dir);
}
END_TEST

START_TEST(test_concurrent_rollover)
{
	char *dir = offtest_tmpdir();
	char *path = offtest_strdup_printf("%s/OfflineServicingMgr.log", dir);
	unsigned char *seen = calloc(4 * LINES_PER_THREAD, 1);
	size_t total;
	char *p;
	regex_t re;

	ck_assert_int_eq(regcomp(&re, TRACE_FULL, REG_EXTENDED), 0);
	/* 8000 lines of about 110 bytes, 64 KiB files: about 14 files, all kept. */
	run_writers(path, 65536, 99);
	total = count_lines(path, &re, seen);
	p = offtest_strdup_printf("%s/OfflineServicingMgr.lo_", dir);
	total += count_lines(p, &re, seen);
	free(p);
	for (int i = 1; i < 99; i++) {
		p = offtest_strdup_printf("%s/OfflineServicingMgr.lo_%d", dir, i);
		total += count_lines(p, &re, seen);
		free(p);
	}
	ck_assert_uint_eq(total, 4 * LINES_PER_THREAD);
	p = offtest_strdup_printf("%s/OfflineServicingMgr.lo_5", dir);
	ck_assert_int_eq(access(p, F_OK), 0);
	free(p);
	regfree(&re);
	free(seen);
	free(path);
	offtest_rmtree(dir);
	free(dir);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("log");
	TCase *tc = tcase_create("log");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_trace_format);
	tcase_add_test(tc, test_bias);
	tcase_add_test(tc, test_ccm_format);
	tcase_add_test(tc, test_dism_format);
	tcase_add_test(tc, test_level_filter_and_null);
	tcase_add_test(tc, test_rollover);
	tcase_add_test(tc, test_concurrent_writers);
	tcase_add_test(tc, test_concurrent_rollover);
	suite_add_tcase(s, tc);
	return offtest_run(s);
}
