/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The dp_refresh post-action: atomic path copies, retries, rsync delta transfers. */
#include <config.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <offserv/plugin.h>
#include <offserv/plugins.h>
#include <offserv/util.h>

#include "testutil.h"

#define MIB (1024u * 1024u)

/* ---------------------------------------------------------------------- */
/* Helpers                                                                 */

struct log_capture {
	char text[16384];
};

static void capture_log(const struct offserv_host *host, enum offserv_loglevel level,
                        const char *plugin, const char *fmt, ...)
{
	struct log_capture *c = host->core;
	size_t used = strlen(c->text);
	va_list ap;

	(void)level;
	(void)plugin;
	va_start(ap, fmt);
	vsnprintf(c->text + used, sizeof(c->text) - used, fmt, ap);
	va_end(ap);
	used = strlen(c->text);
	if (used + 1 < sizeof(c->text))
		strcat(c->text, "\n");
}

/* One instance of the plugin, dlopen'ed from the build tree. */
struct inst {
	void *handle;
	const struct offserv_plugin *desc;
	void *ctx;
	struct log_capture log;
	struct offserv_host host;
};

static char *plugin_file(void)
{
	return offtest_strdup_printf("%s/plugins/.libs/dp_refresh.so", offtest_builddir());
}

static void inst_open(struct inst *in)
{
	char *file = plugin_file();

	memset(in, 0, sizeof(*in));
	in->handle = dlopen(file, RTLD_NOW | RTLD_LOCAL);
	ck_assert_msg(in->handle != NULL, "cannot load %s: %s", file, dlerror());
	in->desc = dlsym(in->handle, OFFSERV_PLUGIN_SYMBOL);
	ck_assert_ptr_nonnull(in->desc);
	ck_assert_uint_eq(in->desc->abi_version, OFFSERV_PLUGIN_ABI_VERSION);
	ck_assert_int_eq(in->desc->kind, OFFSERV_PLUGIN_POST_ACTION);
	in->host.abi_version = OFFSERV_PLUGIN_ABI_VERSION;
	in->host.log = capture_log;
	in->host.core = &in->log;
	ck_assert_uint_eq(in->desc->init(&in->host, &in->ctx), OFFSERV_OK);
	free(file);
}

static offserv_status inst_try_conf(struct inst *in, const char *key, const char *value,
                                    char *err, size_t errlen)
{
	err[0] = '\0';
	return in->desc->configure(in->ctx, key, value, err, errlen);
}

static void inst_conf(struct inst *in, const char *key, const char *value)
{
	char err[512];
	offserv_status st = inst_try_conf(in, key, value, err, sizeof(err));

	ck_assert_msg(st == OFFSERV_OK, "configure %s = %s: 0x%08x %s", key, value, st, err);
}

static void inst_confk(struct inst *in, const char *name, const char *field, const char *value)
{
	char *key = offtest_strdup_printf("%s.%s", name, field);

	inst_conf(in, key, value);
	free(key);
}

static offserv_status inst_run(struct inst *in, const struct offserv_post_action_job *job,
                               char *summary, size_t slen, char *err, size_t elen)
{
	summary[0] = err[0] = '\0';
	return in->desc->ops.post_action->run(in->ctx, job, summary, slen, err, elen);
}

static void inst_close(struct inst *in)
{
	in->desc->shutdown(in->ctx);
	dlclose(in->handle);
}

/* Deterministic pseudo-random bytes (xorshift64*), appended to @p path. */
static void append_random(const char *path, size_t len, uint64_t seed)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	uint8_t *buf = malloc(len);
	uint64_t x = seed | 1;
	size_t off = 0;

	ck_assert_int_ge(fd, 0);
	ck_assert_ptr_nonnull(buf);
	for (size_t i = 0; i < len; i++) {
		x ^= x >> 12;
		x ^= x << 25;
		x ^= x >> 27;
		buf[i] = (uint8_t)((x * 0x2545F4914F6CDD1DULL) >> 56);
	}
	while (off < len) {
		ssize_t n = write(fd, buf + off, len - off);
		ck_assert_int_gt(n, 0);
		off += (size_t)n;
	}
	ck_assert_int_eq(close(fd), 0);
	free(buf);
}

static void file_sha(const char *path, char hex[65], uint64_t *size)
{
	uint8_t d[32];
	char err[256] = "";

	ck_assert_msg(offserv_sha256_file(path, d, size, err, sizeof(err)) == OFFSERV_OK, "%s",
	              err);
	offserv_hex(d, sizeof(d), hex);
}

static void fd_sha(int fd, char hex[65], uint64_t *size)
{
	struct offserv_sha256 sha;
	uint8_t buf[65536], d[32];
	off_t off = 0;
	ssize_t n;

	offserv_sha256_init(&sha);
	while ((n = pread(fd, buf, sizeof(buf), off)) > 0) {
		offserv_sha256_update(&sha, buf, (size_t)n);
		off += n;
	}
	offserv_sha256_final(&sha, d);
	offserv_hex(d, sizeof(d), hex);
	*size = (uint64_t)off;
}

/* Entries of @p dir whose name starts with '.' (temporary files), "." and ".." aside. */
static int count_hidden(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] == '.' && strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static void make_dir(const char *path)
{
	ck_assert_msg(mkdir(path, 0755) == 0, "mkdir %s: %s", path, strerror(errno));
}

/* The number after @p label in @p s, or UINT64_MAX. */
static uint64_t number_after(const char *s, const char *label)
{
	const char *p = strstr(s, label);

	if (!p)
		return UINT64_MAX;
	return strtoull(p + strlen(label), NULL, 10);
}

/* ---------------------------------------------------------------------- */
/* Configuration                                                           */

START_TEST(test_configuration)
{
	struct inst in;
	char err[512];
	struct {
		const char *key, *value, *in_err;
	} bad[] = {
		{"dp1.type", "ftp", "\"ftp\""},
		{"dp1.retries", "0", "dp1.retries"},
		{"dp1.retries", "three", "\"three\""},
		{"retries", "101", "\"101\""},
		{"dp1.bandwidth_kbps", "-5", "\"-5\""},
		{"dp1.timeout_seconds", "0", "dp1.timeout_seconds"},
		{"retry_delay_seconds", "1e3", "\"1e3\""},
		{"dp2.rsync_options", "-z --rsh=/bin/sh", "\"--rsh=/bin/sh\""},
		{"dp2.rsync_options", "-e sh", "\"-e\""},
		{"dp2.rsync_options", "--inplace", "\"--inplace\""},
		{"dp2.rsync_options", "; rm -rf /", "\";\""},
		{"dp2.rsync_options", "--chmod=$(id)", "--chmod=$(id)"},
		{"dp2.target", "-e.sh:/x", "\"-e.sh:/x\""},
		{"dp2.target", "host:/x y", "\"host:/x y\""},
		{"dp2.target", "relative/dir", "\"relative/dir\""},
		{"dp2.target", "rsync://host", "\"rsync://host\""},
		{"dp2.ssh_identity", "/home/a b/key", "dp2.ssh_identity"},
		{"targets", "dp1, bad name!", "\"name!\""},
		{"targets", "dp1, DP1", "listed twice"},
		{"rsync", "rsync", "\"rsync\""},
		{"has space.type", "path", "not a distribution point name"},
	};

	inst_open(&in);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		offserv_status st = inst_try_conf(&in, bad[i].key, bad[i].value, err, sizeof(err));
		ck_assert_msg(st == OFFSERV_E_INVALIDARG, "%s = %s gave 0x%08x", bad[i].key,
		              bad[i].value, st);
		ck_assert_msg(strstr(err, bad[i].in_err) != NULL, "%s = %s: message \"%s\"",
		              bad[i].key, bad[i].value, err);
	}
	/* unknown keys are reported to the core, which warns */
	ck_assert_uint_eq(inst_try_conf(&in, "colour", "blue", err, sizeof(err)),
	                  OFFSERV_E_NOT_FOUND);
	ck_assert_uint_eq(inst_try_conf(&in, "dp1.colour", "blue", err, sizeof(err)),
	                  OFFSERV_E_NOT_FOUND);
	/* a path target must be a local directory, in either key order */
	inst_conf(&in, "dp3.type", "path");
	ck_assert_uint_eq(inst_try_conf(&in, "dp3.target", "rsync://h/m", err, sizeof(err)),
	                  OFFSERV_E_INVALIDARG);
	inst_conf(&in, "dp4.target", "host::images");
	ck_assert_uint_eq(inst_try_conf(&in, "dp4.type", "path", err, sizeof(err)),
	                  OFFSERV_E_INVALIDARG);
	/* the good forms */
	inst_conf(&in, "targets", "dp1, dp2 dp5");
	inst_conf(&in, "dp1.type", "path");
	inst_conf(&in, "dp1.target", "/srv/dp1/images");
	inst_conf(&in, "dp1.retries", "3");
	inst_conf(&in, "dp1.bandwidth_kbps", "0");
	inst_conf(&in, "dp2.type", "rsync");
	inst_conf(&in, "dp2.target", "rsync://127.0.0.1:8730/images");
	inst_conf(&in, "dp2.rsync_options", "--compress --compress-level=3 --chmod=F644,D755 -4");
	inst_conf(&in, "dp5.target", "deploy@dp5.example.org:/srv/images");
	inst_conf(&in, "dp5.ssh_identity", "/etc/offserv/id_ed25519");
	inst_conf(&in, "retry_delay_seconds", "0");
	inst_conf(&in, "rsync", "/usr/local/bin/rsync");
	inst_close(&in);
}
END_TEST

/* A configuration that names a target without defining it is refused at run. */
START_TEST(test_incomplete_configuration)
{
	struct inst in;
	char *dir = offtest_tmpdir(), *wim, summary[512], err[512];
	struct offserv_post_action_job job = {.image_id = "OFS00001"};

	ck_assert_ptr_nonnull(dir);
	wim = offtest_strdup_printf("%s/install.wim", dir);
	append_random(wim, 1000, 1);
	job.wim_path = wim;
	inst_open(&in);
	inst_conf(&in, "targets", "dp1, dp9");
	inst_conf(&in, "dp1.target", dir);
	ck_assert_uint_eq(inst_run(&in, &job, summary, sizeof(summary), err, sizeof(err)),
	                  OFFSERV_E_BAD_CONFIG);
	ck_assert_msg(strstr(err, "dp9") != NULL, "%s", err);
	inst_close(&in);
	offtest_rmtree(dir);
	free(wim);
	free(dir);
}
END_TEST

/* Loaded by the core's loader from a plugin directory, configured from a section. */
static int dp_config_iter(void *cfg_ctx, const char *plugin_name,
                          int (*each)(void *, const char *, const char *), void *each_ctx)
{
	const char *const *kv = cfg_ctx;

	if (strcmp(plugin_name, "dp_refresh") != 0)
		return 0;
	for (; kv[0]; kv += 2)
		if (each(each_ctx, kv[0], kv[1]))
			return 1;
	return 0;
}

START_TEST(test_loads_through_core)
{
	char *dir = offtest_tmpdir(), *pdir, *src = plugin_file(), *dst, *data, *wim, *out;
	char *target;
	const char *kv[6];
	struct log_capture cap = {""};
	struct offserv_host host = {.abi_version = OFFSERV_PLUGIN_ABI_VERSION,
	                            .log = capture_log, .core = &cap};
	struct offserv_plugins_options o = {.host = &host, .config_iter = dp_config_iter};
	struct offserv_plugins *p;
	const struct offserv_loaded_plugin *l;
	struct offserv_post_action_job job = {.image_id = "OFS00002"};
	char err[512] = "", summary[512] = "", a[65], b[65];
	size_t len;

	ck_assert_ptr_nonnull(dir);
	pdir = offtest_strdup_printf("%s/plugins", dir);
	target = offtest_strdup_printf("%s/dp", dir);
	make_dir(pdir);
	make_dir(target);
	dst = offtest_strdup_printf("%s/dp_refresh.so", pdir);
	data = offtest_read_file(src, &len);
	ck_assert_msg(data != NULL, "plugin %s not built", src);
	ck_assert_int_eq(offtest_write_file(dst, data, len), 0);
	ck_assert_int_eq(chmod(dst, 0644), 0);
	kv[0] = "dp1.target";
	kv[1] = target;
	kv[2] = "shade";
	kv[3] = "green";
	kv[4] = kv[5] = NULL;
	o.directory = pdir;
	o.config_ctx = kv;
	ck_assert_uint_eq(offserv_plugins_load(&o, &p, err, sizeof(err)), OFFSERV_OK);
	l = offserv_plugins_find(p, "dp_refresh");
	ck_assert_msg(l != NULL, "dp_refresh not loaded: %s",
	              offserv_plugins_refused_count(p) ? offserv_plugins_refused(p, 0)->reason : "");
	ck_assert_ptr_nonnull(strstr(cap.text, "Unknown key \"shade\" in [plugin.dp_refresh]"));

	wim = offtest_strdup_printf("%s/install.wim", dir);
	append_random(wim, 300000, 7);
	job.wim_path = wim;
	ck_assert_uint_eq(l->desc->ops.post_action->run(l->ctx, &job, summary, sizeof(summary),
	                                                err, sizeof(err)),
	                  OFFSERV_OK);
	ck_assert_str_eq(summary, "dp1: ok 300000 bytes");
	out = offtest_strdup_printf("%s/OFS00002/install.wim", target);
	file_sha(wim, a, NULL);
	file_sha(out, b, NULL);
	ck_assert_str_eq(a, b);
	ck_assert_ptr_nonnull(strstr(cap.text, "Updating distribution point dp1"));
	offserv_plugins_unload(p);
	offtest_rmtree(dir);
	free(out);
	free(wim);
	free(data);
	free(dst);
	free(src);
	free(target);
	free(pdir);
	free(dir);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Path targets                                                            */

struct progress_log {
	int calls;
	int last;
	int backwards;
	int cancel_at; /* cancel on this call (1-based); 0 never */
};

static int record_progress(void *ctx, int percent, const char *what)
{
	struct progress_log *pl = ctx;

	(void)what;
	pl->calls++;
	if (percent < pl->last)
		pl->backwards++;
	pl->last = percent;
	return pl->cancel_at && pl->calls >= pl->cancel_at;
}

START_TEST(test_two_path_targets)
{
	struct inst in;
	char *dir = offtest_tmpdir(), *wim, *t1, *t2, *o1, *o2, *d1, *d2;
	char summary[512], err[512], want[65], got[65], *expect;
	uint64_t size;
	struct progress_log pl = {0, -1, 0, 0};
	struct offserv_post_action_job job = {.image_id = "OFS00012",
	                                      .progress = record_progress,
	                                      .progress_ctx = &pl};

	ck_assert_ptr_nonnull(dir);
	wim = offtest_strdup_printf("%s/install.wim", dir);
	t1 = offtest_strdup_printf("%s/dp1", dir);
	t2 = offtest_strdup_printf("%s/dp2", dir);
	make_dir(t1);
	make_dir(t2);
	append_random(wim, 3 * MIB + 12345, 42);
	file_sha(wim, want, &size);
	job.wim_path = wim;

	inst_open(&in);
	inst_conf(&in, "targets", "dp1, dp2");
	inst_confk(&in, "dp1", "type", "path");
	inst_confk(&in, "dp1", "target", t1);
	inst_confk(&in, "dp2", "type", "path");
	inst_confk(&in, "dp2", "target", t2);
	inst_conf(&in, "retry_delay_seconds", "0");
	ck_assert_msg(inst_run(&in, &job, summary, sizeof(summary), err, sizeof(err)) ==
	                  OFFSERV_OK,
	              "%s", err);
	expect = offtest_strdup_printf("dp1: ok %llu bytes; dp2: ok %llu bytes",
	                               (unsigned long long)size, (unsigned long long)size);
	ck_assert_str_eq(summary, expect);
	free(expect);

	o1 = offtest_strdup_printf("%s/OFS00012/install.wim", t1);
	o2 = offtest_strdup_printf("%s/OFS00012/install.wim", t2);
	d1 = offtest_strdup_printf("%s/OFS00012", t1);
	d2 = offtest_strdup_printf("%s/OFS00012", t2);
	file_sha(o1, got, NULL);
	ck_assert_str_eq(got, want);
	file_sha(o2, got, NULL);
	ck_assert_str_eq(got, want);
	ck_assert_int_eq(count_hidden(d1), 0);
	ck_assert_int_eq(count_hidden(d2), 0);
	/* progress ran forward to the end */
	ck_assert_int_gt(pl.calls, 2);
	ck_assert_int_eq(pl.backwards, 0);
	ck_assert_int_eq(pl.last, 100);

	/* again with the job's digest: nothing changed, nothing moves */
	job.sha256 = want;
	ck_assert_msg(inst_run(&in, &job, summary, sizeof(summary), err, sizeof(err)) ==
	                  OFFSERV_OK,
	              "%s", err);
	ck_assert_str_eq(summary, "dp1: ok 0 bytes (unchanged); dp2: ok 0 bytes (unchanged)");

	/* a damaged copy on one target is replaced; the other is left alone */
	{
		int fd = open(o2, O_WRONLY | O_CLOEXEC);
		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(pwrite(fd, "XXXX", 4, 1000), 4);
		close(fd);
	}
	job.sha256 = NULL;
	ck_assert_msg(inst_run(&in, &job, summary, sizeof(summary), err, sizeof(err)) ==
	                  OFFSERV_OK,
	              "%s", err);
	expect = offtest_strdup_printf("dp1: ok 0 bytes (unchanged); dp2: ok %llu bytes",
	                               (unsigned long long)size);
	ck_assert_str_eq(summary, expect);
	free(expect);
	file_sha(o2, got, NULL);
	ck_assert_str_eq(got, want);
	inst_close(&in);
	offtest_rmtree(dir);
	free(d1);
	free(d2);
	free(o1);
	free(o2);
	free(t1);
	free(t2);
	free(wim);
	free(dir);
}
END_TEST

/* What a reader sees while the image is replaced. */
struct reader_watch {
	const char *dest, *dir;
	int held_fd; /* the old image, opened before the refresh */
	char old_sha[65], new_sha[65];
	uint64_t old_size, new_size;
	int calls, mid_copy, bad;
	char why[512];
};

static int watch_reader(void *ctx, int percent, const char *what)
{
	struct reader_watch *w = ctx;
	char sha[65];
	uint64_t size;
	int fd;

	(void)percent;
	(void)what;
	w->calls++;
	/* the file kept open stays the old image, whole */
	fd_sha(w->held_fd, sha, &size);
	if (size != w->old_size || strcmp(sha, w->old_sha)) {
		w->bad++;
		snprintf(w->why, sizeof(w->why), "held file changed: %llu bytes %s",
		         (unsigned long long)size, sha);
	}
	/* a new reader sees the old image or the new one, never a mix */
	fd = open(w->dest, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		w->bad++;
		snprintf(w->why, sizeof(w->why), "%s missing during refresh: %s", w->dest,
		         strerror(errno));
		return 0;
	}
	fd_sha(fd, sha, &size);
	close(fd);
	if (!(size == w->old_size && !strcmp(sha, w->old_sha)) &&
	    !(size == w->new_size && !strcmp(sha, w->new_sha))) {
		w->bad++;
		snprintf(w->why, sizeof(w->why), "reader saw %llu bytes %s",
		         (unsigned long long)size, sha);
	}
	if (count_hidden(w->dir) > 0 && size == w->old_size)
		w->mid_copy++;
	return 0;
}

START_TEST(test_replace_is_atomic)
{
	struct inst in;
	char *dir = offtest_tmpdir(), *wim, *t1, *dest, *idir, summary[512], err[512];
	struct reader_watch w;
	struct stat held, now;
	char sha[65];
	uint64_t size;
	struct offserv_post_action_job job = {.image_id = "OFS00003"};

	ck_assert_ptr_nonnull(dir);
	memset(&w, 0, sizeof(w));
	wim = offtest_strdup_printf("%s/install.wim", dir);
	t1 = offtest_strdup_printf("%s/dp1", dir);
	idir = offtest_strdup_printf("%s/OFS00003", t1);
	dest = offtest_strdup_printf("%s/install.wim", idir);
	make_dir(t1);
	append_random(wim, 3 * MIB, 5);
	job.wim_path = wim;
	inst_open(&in);
	inst_confk(&in, "dp1", "target", t1);
	ck_assert_msg(inst_run(&in, &job, summary, sizeof(summary), err, sizeof(err)) ==
	                  OFFSERV_OK,
	              "%s", err);

	w.held_fd = open(dest, O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(w.held_fd, 0);
	ck_assert_int_eq(fstat(w.held_fd, &held), 0);
	file_sha(dest, w.old_sha, &w.old_size);
	append_random(wim, 2 * MIB, 6); /* the serviced image grew */
	file_sha(wim, w.new_sha, &w.new_size);
	w.dest = dest;
	w.dir = idir;
	job.progress = watch_reader;
	job.progress_ctx = &w;
	ck_assert_msg(inst_run(&in, &job, summary, sizeof(summary), err, sizeof(err)) ==
	                  OFFSERV_OK,
	              "%s", err);
	ck_assert_msg(w.bad == 0, "%s", w.why);
	ck_assert_int_gt(w.mid_copy, 0); /* the reader looked while the copy was under way */
	/* the new image arrived by rename: a new inode; the old one is intact */
	ck_assert_int_eq(stat(dest, &now), 0);
	ck_assert(now.st_ino != held.st_ino);
	fd_sha(w.held_fd, sha, &size);
	ck_assert_uint_eq(size, w.old_size);
	ck_assert_str_eq(sha, w.old_sha);
	file_sha(dest, sha, &size);
	ck_assert_str_eq(sha, w.new_sha);
	ck_assert_int_eq(count_hidden(idir), 0);
	close(w.held_fd);
	inst_close(&in);
	offtest_rmtree(dir);
	free(dest);
	free(idir);
	free(t1);
	free(wim);
	free(dir);
}
END_TEST

START_TEST(test_failing_targets_reported_others_refreshed)
{
	struct inst in;
	char *dir = offtest_tmpdir(), *wim, *good1, *good2, *notdir, *clash, *o, summary[2048];
	char err[2048], want[65], got[65];
	struct offserv_post_action_job job = {.image_id = "OFS00004"};
	offserv_status st;

	ck_assert_ptr_nonnull(dir);
	wim = offtest_strdup_printf("%s/install.wim", dir);
	good1 = offtest_strdup_printf("%s/good1", dir);
	good2 = offtest_strdup_printf("%s/good2", dir);
	notdir = offtest_strdup_printf("%s/plainfile", dir);
	clash = offtest_strdup_printf("%s/clash", dir);
	make_dir(good1);
	make_dir(good2);
	make_dir(clash);
	ck_assert_int_eq(offtest_write_file(notdir, "x", 1), 0);
	o = offtest_strdup_printf("%s/OFS00004", clash); /* a file where the image folder goes */
	ck_assert_int_eq(offtest_write_file(o, "x", 1), 0);
	free(o);
	append_random(wim, MIB + 1, 9);
	file_sha(wim, want, NULL);
	job.wim_path = wim;

	inst_open(&in);
	inst_conf(&in, "targets", "good1 missing procfs plainfile clash good2");
	inst_conf(&in, "retries", "2");
	inst_conf(&in, "retry_delay_seconds", "0");
	inst_confk(&in, "good1", "target", good1);
	inst_confk(&in, "missing", "target", "/proc/offserv-no-such-directory");
	inst_confk(&in, "procfs", "target", "/proc");
	inst_confk(&in, "plainfile", "target", notdir);
	inst_confk(&in, "clash", "target", clash);
	inst_confk(&in, "clash", "retries", "1");
	inst_confk(&in, "good2", "target", good2);
	st = inst_run(&in, &job, summary, sizeof(summary), err, sizeof(err));
	ck_assert_msg(OFFSERV_FAILED(st), "status 0x%08x, summary %s", st, summary);

	ck_assert_msg(strstr(summary, "good1: ok 1048577 bytes; missing: failed after 2 tries: ") ==
	                  summary,
	              "%s", summary);
	ck_assert_msg(strstr(summary, "No such file or directory") != NULL, "%s", summary);
	ck_assert_msg(strstr(summary, "procfs: failed after 2 tries: cannot create directory "
	                              "/proc/OFS00004") != NULL,
	              "%s", summary);
	ck_assert_msg(strstr(summary, "plainfile: failed after 2 tries: ") != NULL, "%s", summary);
	ck_assert_msg(strstr(summary, "Not a directory") != NULL, "%s", summary);
	ck_assert_msg(strstr(summary, "clash: failed after 1 try: ") != NULL, "%s", summary);
	ck_assert_msg(strstr(summary, "; good2: ok 1048577 bytes") != NULL, "%s", summary);
	/* the error lists every failed target with its location */
	ck_assert_msg(strstr(err, "failed for 4 of 6") != NULL, "%s", err);
	ck_assert_msg(strstr(err, "missing (/proc/offserv-no-such-directory)") != NULL, "%s", err);
	ck_assert_msg(strstr(err, "procfs (/proc)") != NULL, "%s", err);
	ck_assert_msg(strstr(err, "plainfile (") != NULL, "%s", err);
	ck_assert_msg(strstr(err, "clash (") != NULL, "%s", err);
	ck_assert_msg(strstr(err, "good") == NULL, "%s", err);
	/* the retries were logged */
	ck_assert_msg(strstr(in.log.text, "Distribution point missing: try 1 of 2 failed") != NULL,
	              "%s", in.log.text);
	ck_assert_msg(strstr(in.log.text, "try 1 of 1") == NULL, "%s", in.log.text);
	/* the good targets hold the image */
	o = offtest_strdup_printf("%s/OFS00004/install.wim", good1);
	file_sha(o, got, NULL);
	ck_assert_str_eq(got, want);
	free(o);
	o = offtest_strdup_printf("%s/OFS00004/install.wim", good2);
	file_sha(o, got, NULL);
	ck_assert_str_eq(got, want);
	free(o);
	inst_close(&in);
	offtest_rmtree(dir);
	free(clash);
	free(notdir);
	free(good1);
	free(good2);
	free(wim);
	free(dir);
}
END_TEST

/* A bandwidth limit slows the copy down but changes nothing in the result. */
START_TEST(test_bandwidth_limited_copy)
{
	struct inst in;
	char *dir = offtest_tmpdir(), *wim, *t1, *dest, summary[512], err[512], want[65], got[65];
	struct progress_log pl = {0, -1, 0, 0};
	struct offserv_post_action_job job = {.image_id = "OFS00011",
	                                      .progress = record_progress,
	                                      .progress_ctx = &pl};

	ck_assert_ptr_nonnull(dir);
	wim = offtest_strdup_printf("%s/install.wim", dir);
	t1 = offtest_strdup_printf("%s/dp1", dir);
	dest = offtest_strdup_printf("%s/OFS00011/install.wim", t1);
	make_dir(t1);
	append_random(wim, 600000, 17);
	file_sha(wim, want, NULL);
	job.wim_path = wim;
	inst_open(&in);
	inst_confk(&in, "dp1", "target", t1);
	inst_confk(&in, "dp1", "bandwidth_kbps", "16000"); /* 2 MB/s: chunks of 500 kB */
	ck_assert_msg(inst_run(&in, &job, summary, sizeof(summary), err, sizeof(err)) ==
	                  OFFSERV_OK,
	              "%s", err);
	ck_assert_str_eq(summary, "dp1: ok 600000 bytes");
	file_sha(dest, got, NULL);
	ck_assert_str_eq(got, want);
	ck_assert_int_eq(pl.backwards, 0);
	ck_assert_int_eq(pl.last, 100);
	inst_close(&in);
	offtest_rmtree(dir);
	free(dest);
	free(t1);
	free(wim);
	free(dir);
}
END_TEST

/* A source that does not match the job's digest is never published. */
START_TEST(test_digest_mismatch_not_published)
{
	struct inst in;
	char *dir = offtest_tmpdir(), *wim, *t1, *idir, *dest, summary[1024], err[1024];
	struct offserv_post_action_job job = {
		.image_id = "OFS00005",
		.sha256 = "0000000000000000000000000000000000000000000000000000000000000000"};
	struct stat st;

	ck_assert_ptr_nonnull(dir);
	wim = offtest_strdup_printf("%s/install.wim", dir);
	t1 = offtest_strdup_printf("%s/dp1", dir);
	idir = offtest_strdup_printf("%s/OFS00005", t1);
	dest = offtest_strdup_printf("%s/install.wim", idir);
	make_dir(t1);
	append_random(wim, 200000, 11);
	job.wim_path = wim;
	inst_open(&in);
	inst_confk(&in, "dp1", "target", t1);
	inst_conf(&in, "retries", "1");
	ck_assert_uint_eq(inst_run(&in, &job, summary, sizeof(summary), err, sizeof(err)),
	                  OFFSERV_E_CRC);
	ck_assert_msg(strstr(summary, "does not match its recorded SHA-256") != NULL, "%s",
	              summary);
	ck_assert_int_ne(stat(dest, &st), 0);
	ck_assert_int_eq(count_hidden(idir), 0);
	inst_close(&in);
	offtest_rmtree(dir);
	free(dest);
	free(idir);
	free(t1);
	free(wim);
	free(dir);
}
END_TEST

START_TEST(test_cancel)
{
	struct inst in;
	char *dir = offtest_tmpdir(), *wim, *t1, *t2, *idir, *dest, summary[1024], err[1024];
	struct progress_log pl = {0, -1, 0, 3};
	struct offserv_post_action_job job = {.image_id = "OFS00006",
	                                      .progress = record_progress,
	                                      .progress_ctx = &pl};
	struct stat st;

	ck_assert_ptr_nonnull(dir);
	wim = offtest_strdup_printf("%s/install.wim", dir);
	t1 = offtest_strdup_printf("%s/dp1", dir);
	t2 = offtest_strdup_printf("%s/dp2", dir);
	idir = offtest_strdup_printf("%s/OFS00006", t1);
	dest = offtest_strdup_printf("%s/install.wim", idir);
	make_dir(t1);
	make_dir(t2);
	append_random(wim, 4 * MIB, 13);
	job.wim_path = wim;
	inst_open(&in);
	inst_confk(&in, "dp1", "target", t1);
	inst_confk(&in, "dp2", "target", t2);
	ck_assert_uint_eq(inst_run(&in, &job, summary, sizeof(summary), err, sizeof(err)),
	                  OFFSERV_E_CANCELLED);
	ck_assert_str_eq(summary, "dp1: cancelled; dp2: not attempted");
	ck_assert_int_ne(stat(dest, &st), 0);
	ck_assert_int_eq(count_hidden(idir), 0);
	inst_close(&in);
	offtest_rmtree(dir);
	free(dest);
	free(idir);
	free(t1);
	free(t2);
	free(wim);
	free(dir);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* rsync targets                                                           */

/* The rsync daemon for the rsync cases: started once, in the runner process. */
struct rsync_daemon {
	char rsync[4096];
	char *dir, *module;
	pid_t pid;
	int port;
	char why[512];
};

/* Test-program state shared by the fixture and the cases it serves. */
static struct rsync_daemon daemon_state;

static int find_rsync(char out[4096])
{
	const char *path = getenv("PATH");
	char *copy, *save = NULL;

	if (access("/usr/bin/rsync", X_OK) == 0) {
		snprintf(out, 4096, "/usr/bin/rsync");
		return 1;
	}
	if (!path)
		return 0;
	copy = strdup(path);
	for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		snprintf(out, 4096, "%s/rsync", d);
		if (d[0] == '/' && access(out, X_OK) == 0) {
			free(copy);
			return 1;
		}
	}
	free(copy);
	return 0;
}

static int free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof(a);
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port = -1;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (s >= 0 && bind(s, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(s, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	if (s >= 0)
		close(s);
	return port;
}

static int port_open(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), ok;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ok = s >= 0 && connect(s, (struct sockaddr *)&a, sizeof(a)) == 0;
	if (s >= 0)
		close(s);
	return ok;
}

static void daemon_stop(void)
{
	struct rsync_daemon *d = &daemon_state;

	if (d->pid > 0) {
		int status;
		kill(d->pid, SIGTERM);
		for (int i = 0; i < 100; i++) {
			struct timespec ts = {0, 50000000};
			if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
				d->pid = 0;
				break;
			}
			nanosleep(&ts, NULL);
		}
		if (d->pid > 0) {
			kill(d->pid, SIGKILL);
			waitpid(d->pid, &status, 0);
			d->pid = 0;
		}
	}
}

static void daemon_start(void)
{
	struct rsync_daemon *d = &daemon_state;
	char *conf, *log, *text;

	d->dir = offtest_tmpdir();
	if (!d->dir) {
		snprintf(d->why, sizeof(d->why), "no temporary directory");
		return;
	}
	d->module = offtest_strdup_printf("%s/module", d->dir);
	conf = offtest_strdup_printf("%s/rsyncd.conf", d->dir);
	log = offtest_strdup_printf("%s/rsyncd.log", d->dir);
	mkdir(d->module, 0755);
	if (geteuid() == 0)
		text = offtest_strdup_printf("use chroot = no\nlog file = %s\nuid = %u\ngid = %u\n"
		                             "[images]\n\tpath = %s\n\tread only = no\n"
		                             "\tuse chroot = no\n",
		                             log, (unsigned)getuid(), (unsigned)getgid(), d->module);
	else
		text = offtest_strdup_printf("use chroot = no\nlog file = %s\n"
		                             "[images]\n\tpath = %s\n\tread only = no\n"
		                             "\tuse chroot = no\n",
		                             log, d->module);
	offtest_write_file(conf, text, strlen(text));
	free(text);

	for (int attempt = 0; attempt < 3 && d->pid <= 0; attempt++) {
		char port_arg[32], conf_arg[4200];
		pid_t parent = getpid();
		int up = 0;

		d->port = free_port();
		if (d->port <= 0)
			continue;
		snprintf(port_arg, sizeof(port_arg), "--port=%d", d->port);
		snprintf(conf_arg, sizeof(conf_arg), "--config=%s", conf);
		d->pid = fork();
		if (d->pid == 0) {
			int fd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
			/* never outlive the test program */
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			if (getppid() != parent)
				_exit(1);
			if (fd >= 0) {
				dup2(fd, 1);
				dup2(fd, 2);
			}
			execl(d->rsync, "rsync", "--daemon", "--no-detach", port_arg,
			      "--address=127.0.0.1", conf_arg, (char *)NULL);
			_exit(127);
		}
		if (d->pid < 0)
			break;
		for (int i = 0; i < 200 && !up; i++) { /* up to 10 s */
			struct timespec ts = {0, 50000000};
			int status;
			if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
				d->pid = 0;
				break;
			}
			up = port_open(d->port);
			if (!up)
				nanosleep(&ts, NULL);
		}
		if (!up)
			daemon_stop();
	}
	if (d->pid <= 0) {
		size_t len;
		char *l = offtest_read_file(log, &len);
		snprintf(d->why, sizeof(d->why), "rsync daemon did not start: %s", l ? l : "");
		free(l);
	}
	free(conf);
	free(log);
}

static void daemon_teardown(void)
{
	daemon_stop();
	if (daemon_state.dir)
		offtest_rmtree(daemon_state.dir);
	free(daemon_state.dir);
	free(daemon_state.module);
	daemon_state.dir = daemon_state.module = NULL;
}

START_TEST(test_rsync_daemon_delta)
{
	struct rsync_daemon *d = &daemon_state;
	struct inst in;
	char *dir = offtest_tmpdir(), *wim, *url, *dest, *idir, summary[1024], err[1024];
	char want[65], got[65];
	uint64_t size, sent, literal;
	struct progress_log pl = {0, -1, 0, 0};
	struct offserv_post_action_job job = {.image_id = "OFS00007",
	                                      .progress = record_progress,
	                                      .progress_ctx = &pl};

	ck_assert_msg(d->pid > 0, "%s", d->why);
	ck_assert_ptr_nonnull(dir);
	wim = offtest_strdup_printf("%s/install.wim", dir);
	url = offtest_strdup_printf("rsync://127.0.0.1:%d/images", d->port);
	idir = offtest_strdup_printf("%s/OFS00007", d->module);
	dest = offtest_strdup_printf("%s/install.wim", idir);
	append_random(wim, 8 * MIB, 21);
	job.wim_path = wim;
	inst_open(&in);
	inst_conf(&in, "rsync", d->rsync);
	inst_conf(&in, "retry_delay_seconds", "0");
	inst_conf(&in, "timeout_seconds", "60");
	inst_confk(&in, "dp2", "type", "rsync");
	inst_confk(&in, "dp2", "target", url);

	/* first refresh: the whole image travels */
	ck_assert_msg(inst_run(&in, &job, summary, sizeof(summary), err, sizeof(err)) ==
	                  OFFSERV_OK,
	              "%s | %s", err, summary);
	file_sha(wim, want, &size);
	file_sha(dest, got, NULL);
	ck_assert_str_eq(got, want);
	sent = number_after(summary, "dp2: ok ");
	literal = number_after(summary, "literal ");
	ck_assert_msg(literal == size, "%s", summary);
	ck_assert_msg(sent >= size && sent < size + size / 10, "%s", summary);
	ck_assert_int_eq(pl.last, 100);

	/* an appended WIM: only the new part is literal data */
	append_random(wim, MIB, 22);
	file_sha(wim, want, &size);
	ck_assert_msg(inst_run(&in, &job, summary, sizeof(summary), err, sizeof(err)) ==
	                  OFFSERV_OK,
	              "%s | %s", err, summary);
	file_sha(dest, got, NULL);
	ck_assert_str_eq(got, want);
	printf("# after appending 1 MiB: %s\n", summary);
	ck_assert_msg(strstr(summary, "(delta: literal ") != NULL, "%s", summary);
	sent = number_after(summary, "dp2: ok ");
	literal = number_after(summary, "literal ");
	ck_assert_msg(literal >= MIB && literal < size / 4, "%s", summary);
	ck_assert_msg(sent < size / 4, "%s", summary);
	ck_assert_msg(number_after(summary, "matched ") >= 7 * MIB, "%s", summary);
	ck_assert_int_eq(count_hidden(idir), 0);

	/* nothing changed: nothing moves but the file list */
	ck_assert_msg(inst_run(&in, &job, summary, sizeof(summary), err, sizeof(err)) ==
	                  OFFSERV_OK,
	              "%s | %s", err, summary);
	ck_assert_msg(strstr(summary, "(unchanged)") != NULL, "%s", summary);
	ck_assert_msg(number_after(summary, "dp2: ok ") < 64 * 1024, "%s", summary);
	inst_close(&in);
	offtest_rmtree(dir);
	free(dest);
	free(idir);
	free(url);
	free(wim);
	free(dir);
}
END_TEST

START_TEST(test_rsync_failure_retried)
{
	struct rsync_daemon *d = &daemon_state;
	struct inst in;
	char *dir = offtest_tmpdir(), *wim, *url, *good, *o, summary[2048], err[2048];
	struct offserv_post_action_job job = {.image_id = "OFS00008"};
	struct stat st;

	ck_assert_msg(d->pid > 0, "%s", d->why);
	ck_assert_ptr_nonnull(dir);
	wim = offtest_strdup_printf("%s/install.wim", dir);
	good = offtest_strdup_printf("%s/good", dir);
	url = offtest_strdup_printf("rsync://127.0.0.1:%d/nosuchmodule", d->port);
	make_dir(good);
	append_random(wim, 100000, 31);
	job.wim_path = wim;
	inst_open(&in);
	inst_conf(&in, "rsync", d->rsync);
	inst_conf(&in, "retry_delay_seconds", "0");
	inst_conf(&in, "targets", "bad, good");
	inst_confk(&in, "bad", "target", url);
	inst_confk(&in, "bad", "retries", "2");
	inst_confk(&in, "good", "target", good);
	ck_assert(OFFSERV_FAILED(inst_run(&in, &job, summary, sizeof(summary), err, sizeof(err))));
	printf("# unknown module: %s\n", summary);
	ck_assert_msg(strstr(summary, "bad: failed after 2 tries: rsync exit ") == summary, "%s",
	              summary);
	ck_assert_msg(strstr(summary, "Unknown module 'nosuchmodule'") != NULL, "%s", summary);
	ck_assert_msg(strstr(summary, "; good: ok 100000 bytes") != NULL, "%s", summary);
	ck_assert_msg(strstr(err, "bad (rsync://127.0.0.1:") != NULL, "%s", err);
	o = offtest_strdup_printf("%s/OFS00008/install.wim", good);
	ck_assert_int_eq(stat(o, &st), 0);
	inst_close(&in);
	offtest_rmtree(dir);
	free(o);
	free(url);
	free(good);
	free(wim);
	free(dir);
}
END_TEST

/* rsync to a local directory (a mounted share) also uses the delta algorithm. */
START_TEST(test_rsync_local_directory)
{
	struct rsync_daemon *d = &daemon_state;
	struct inst in;
	char *dir = offtest_tmpdir(), *wim, *t, *dest, summary[1024], err[1024], want[65], got[65];
	struct offserv_post_action_job job = {.image_id = "OFS00009"};
	uint64_t size;

	ck_assert_ptr_nonnull(dir);
	wim = offtest_strdup_printf("%s/install.wim", dir);
	t = offtest_strdup_printf("%s/share", dir);
	dest = offtest_strdup_printf("%s/OFS00009/install.wim", t);
	make_dir(t);
	append_random(wim, 4 * MIB, 41);
	job.wim_path = wim;
	inst_open(&in);
	inst_conf(&in, "rsync", d->rsync);
	inst_confk(&in, "share", "type", "rsync");
	inst_confk(&in, "share", "target", t);
	ck_assert_msg(inst_run(&in, &job, summary, sizeof(summary), err, sizeof(err)) ==
	                  OFFSERV_OK,
	              "%s", err);
	append_random(wim, 4096, 42);
	ck_assert_msg(inst_run(&in, &job, summary, sizeof(summary), err, sizeof(err)) ==
	                  OFFSERV_OK,
	              "%s", err);
	file_sha(wim, want, &size);
	file_sha(dest, got, NULL);
	ck_assert_str_eq(got, want);
	ck_assert_msg(number_after(summary, "literal ") < size / 4, "%s", summary);
	inst_close(&in);
	offtest_rmtree(dir);
	free(dest);
	free(t);
	free(wim);
	free(dir);
}
END_TEST

/* Cancelling stops a running rsync; nothing half-written is left behind. */
START_TEST(test_rsync_cancel)
{
	struct rsync_daemon *d = &daemon_state;
	struct inst in;
	char *dir = offtest_tmpdir(), *wim, *t, *idir, *dest, summary[1024], err[1024];
	struct progress_log pl = {0, -1, 0, 2};
	struct offserv_post_action_job job = {.image_id = "OFS00013",
	                                      .progress = record_progress,
	                                      .progress_ctx = &pl};
	struct stat st;

	ck_assert_ptr_nonnull(dir);
	wim = offtest_strdup_printf("%s/install.wim", dir);
	t = offtest_strdup_printf("%s/share", dir);
	idir = offtest_strdup_printf("%s/OFS00013", t);
	dest = offtest_strdup_printf("%s/install.wim", idir);
	make_dir(t);
	append_random(wim, 8 * MIB, 61);
	job.wim_path = wim;
	inst_open(&in);
	inst_conf(&in, "rsync", d->rsync);
	inst_confk(&in, "share", "type", "rsync");
	inst_confk(&in, "share", "target", t);
	/* 8000 kbps: rsync needs about 8 s, cancelled within the first half second */
	inst_confk(&in, "share", "bandwidth_kbps", "8000");
	ck_assert_uint_eq(inst_run(&in, &job, summary, sizeof(summary), err, sizeof(err)),
	                  OFFSERV_E_CANCELLED);
	ck_assert_str_eq(summary, "share: cancelled");
	ck_assert_int_ne(stat(dest, &st), 0);
	ck_assert_int_eq(count_hidden(idir), 0);
	inst_close(&in);
	offtest_rmtree(dir);
	free(dest);
	free(idir);
	free(t);
	free(wim);
	free(dir);
}
END_TEST

/* A missing rsync program is a reported failure, not a crash or a hang. */
START_TEST(test_rsync_program_missing)
{
	struct inst in;
	char *dir = offtest_tmpdir(), *wim, summary[1024], err[1024];
	struct offserv_post_action_job job = {.image_id = "OFS00010"};

	ck_assert_ptr_nonnull(dir);
	wim = offtest_strdup_printf("%s/install.wim", dir);
	append_random(wim, 1000, 51);
	job.wim_path = wim;
	inst_open(&in);
	inst_conf(&in, "rsync", "/nonexistent/bin/rsync");
	inst_conf(&in, "retries", "1");
	inst_confk(&in, "dp", "target", "rsync://127.0.0.1:9/images");
	ck_assert_uint_eq(inst_run(&in, &job, summary, sizeof(summary), err, sizeof(err)),
	                  OFFSERV_E_FILE_NOT_FOUND);
	ck_assert_msg(strstr(summary, "dp: failed after 1 try: cannot run /nonexistent/bin/rsync: "
	                              "No such file or directory") == summary,
	              "%s", summary);
	inst_close(&in);
	offtest_rmtree(dir);
	free(wim);
	free(dir);
}
END_TEST

static Suite *dp_suite(void)
{
	Suite *s = suite_create("dp_refresh");
	TCase *tc = tcase_create("path");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_configuration);
	tcase_add_test(tc, test_incomplete_configuration);
	tcase_add_test(tc, test_loads_through_core);
	tcase_add_test(tc, test_two_path_targets);
	tcase_add_test(tc, test_replace_is_atomic);
	tcase_add_test(tc, test_failing_targets_reported_others_refreshed);
	tcase_add_test(tc, test_bandwidth_limited_copy);
	tcase_add_test(tc, test_digest_mismatch_not_published);
	tcase_add_test(tc, test_cancel);
	tcase_add_test(tc, test_rsync_program_missing);
	suite_add_tcase(s, tc);

	if (find_rsync(daemon_state.rsync)) {
		tc = tcase_create("rsync");
		tcase_set_timeout(tc, 180);
		tcase_add_unchecked_fixture(tc, daemon_start, daemon_teardown);
		tcase_add_test(tc, test_rsync_daemon_delta);
		tcase_add_test(tc, test_rsync_failure_retried);
		tcase_add_test(tc, test_rsync_local_directory);
		tcase_add_test(tc, test_rsync_cancel);
		suite_add_tcase(s, tc);
	} else {
		printf("# rsync not found in /usr/bin or $PATH: the rsync cases are skipped\n");
	}
	return s;
}

int main(void)
{
	char *file = plugin_file();
	struct stat st;
	int rc;

	if (stat(file, &st) != 0) {
		char *reason = offtest_strdup_printf("%s was not built", file);
		rc = offtest_skip_all(reason);
		free(reason);
		free(file);
		return rc;
	}
	free(file);
	return offtest_run(dp_suite());
}
