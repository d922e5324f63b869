/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Post-action "dp_refresh": after a serviced WIM is committed, bring each
 * configured distribution point up to date with it.
 *
 * Two kinds of target.  A "path" target is a local or mounted directory:
 * the image is copied under a temporary name beside its final place,
 * hashed while it is written, fsync'd, read back and compared, and only
 * then renamed over <target>/<image id>/<file>, so that a reader sees the
 * old image or the new one, never part of one.  An "rsync" target is
 * refreshed by the system rsync, run with an argument vector (never a
 * shell), using the delta algorithm so that an appended WIM moves little
 * more than what was appended.
 *
 * Every target is tried up to its number of tries; one failing target
 * does not stop the others.  run() keeps its state on the stack and only
 * reads the context, so concurrent runs need no lock.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <offserv/plugin.h>
#include <offserv/util.h>

#define DP_PLUGIN_NAME "dp_refresh"
#define DP_MAX_TARGETS 64
#define DP_NAME_MAX 32
#define DP_MAX_TRIES 100
#define DP_MAX_DELAY 3600
#define DP_MAX_TIMEOUT 86400
#define DP_MAX_KBPS 100000000ULL
#define DP_MAX_RSYNC_OPTS 32
#define DP_VALUE_MAX 4096
#define DP_COPY_CHUNK (1024 * 1024)
#define DP_DEFAULT_TRIES 3
#define DP_DEFAULT_DELAY 2
#define DP_DEFAULT_TIMEOUT 600
#define DP_DEFAULT_RSYNC "/usr/bin/rsync"
#define DP_LINE_MAX 512
#define DP_MSG_MAX 512

extern char **environ;

enum dp_type {
	DP_TYPE_UNSET = 0,
	DP_TYPE_PATH,
	DP_TYPE_RSYNC,
};

/* What a target string names, by its syntax. */
enum dp_where {
	DP_WHERE_BAD = 0,
	DP_WHERE_LOCAL,  /* /absolute/dir */
	DP_WHERE_DAEMON, /* rsync://host[:port]/module[/dir] or host::module[/dir] */
	DP_WHERE_SSH,    /* [user@]host:[dir] */
};

struct dp_target {
	char name[DP_NAME_MAX + 1];
	enum dp_type type;
	char *target;
	long tries;               /* -1: the plugin-wide value */
	long retry_delay;         /* -1: the plugin-wide value */
	long timeout;             /* -1: the plugin-wide value */
	long long bandwidth_kbps; /* -1: the plugin-wide value; 0: unlimited */
	char **rsync_opts;
	size_t n_rsync_opts;
	char *ssh_identity;
	char *password_file;
};

struct dp_ctx {
	const struct offserv_host *host;
	char *rsync;
	long tries;
	long retry_delay;
	long timeout;
	long long bandwidth_kbps;
	bool have_order; /* a `targets` key was given */
	char order[DP_MAX_TARGETS][DP_NAME_MAX + 1];
	size_t n_order;
	struct dp_target *targets[DP_MAX_TARGETS];
	size_t n_targets;
};

/* ---------------------------------------------------------------------- */
/* Context                                                                 */

static offserv_status dp_init(const struct offserv_host *host, void **ctx)
{
	struct dp_ctx *c = calloc(1, sizeof(*c));

	if (!c)
		return OFFSERV_E_OUTOFMEMORY;
	c->rsync = strdup(DP_DEFAULT_RSYNC);
	if (!c->rsync) {
		free(c);
		return OFFSERV_E_OUTOFMEMORY;
	}
	c->host = host;
	c->tries = DP_DEFAULT_TRIES;
	c->retry_delay = DP_DEFAULT_DELAY;
	c->timeout = DP_DEFAULT_TIMEOUT;
	c->bandwidth_kbps = 0;
	*ctx = c;
	return OFFSERV_OK;
}

static void free_strv(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void target_free(struct dp_target *t)
{
	if (!t)
		return;
	free(t->target);
	free_strv(t->rsync_opts, t->n_rsync_opts);
	free(t->ssh_identity);
	free(t->password_file);
	free(t);
}

static void dp_shutdown(void *ctx)
{
	struct dp_ctx *c = ctx;

	if (!c)
		return;
	for (size_t i = 0; i < c->n_targets; i++)
		target_free(c->targets[i]);
	free(c->rsync);
	free(c);
}

/* ---------------------------------------------------------------------- */
/* Validation of configured values                                         */

static bool valid_name(const char *s, size_t len)
{
	if (len == 0 || len > DP_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char ch = s[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '_' || ch == '-'))
			return false;
	}
	return true;
}

static bool has_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

/* A whole number in [min, max], digits only (blanks around are allowed). */
static bool parse_number(const char *value, unsigned long long min, unsigned long long max,
                         unsigned long long *out)
{
	unsigned long long v = 0;
	const char *p = value;
	bool any = false;

	while (*p == ' ' || *p == '\t')
		p++;
	for (; *p >= '0' && *p <= '9'; p++) {
		unsigned d = (unsigned)(*p - '0');
		if (v > (ULLONG_MAX - d) / 10)
			return false;
		v = v * 10 + d;
		any = true;
	}
	while (*p == ' ' || *p == '\t')
		p++;
	if (!any || *p || v < min || v > max)
		return false;
	*out = v;
	return true;
}

static bool remote_char_ok(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       strchr("._~@:/+=,%-[]", ch) != NULL;
}

/* Classify a target string; remote forms are held to a conservative character set. */
static enum dp_where target_where(const char *s)
{
	const char *colon, *slash;

	if (!*s || strlen(s) >= DP_VALUE_MAX || has_control(s))
		return DP_WHERE_BAD;
	if (s[0] == '/')
		return DP_WHERE_LOCAL;
	if (s[0] == '-')
		return DP_WHERE_BAD;
	for (const char *p = s; *p; p++)
		if (!remote_char_ok(*p))
			return DP_WHERE_BAD;
	if (!strncasecmp(s, "rsync://", 8)) {
		const char *host = s + 8, *mod = strchr(host, '/');
		if (!mod || mod == host || mod[1] == '\0' || mod[1] == '/')
			return DP_WHERE_BAD;
		return DP_WHERE_DAEMON;
	}
	colon = strchr(s, ':');
	slash = strchr(s, '/');
	if (!colon || colon == s || (slash && slash < colon))
		return DP_WHERE_BAD;
	if (colon[1] == ':')
		return colon[2] && colon[2] != '/' ? DP_WHERE_DAEMON : DP_WHERE_BAD;
	return DP_WHERE_SSH;
}

static bool absolute_path_ok(const char *s, bool no_blanks)
{
	if (s[0] != '/' || strlen(s) >= DP_VALUE_MAX || has_control(s))
		return false;
	return !no_blanks || strpbrk(s, " \t\"'\\") == NULL;
}

static bool chmod_spec_ok(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!strchr("ugoaDF01234567rwxXst+-=,", *s))
			return false;
	return true;
}

static bool digits_ok(const char *s)
{
	if (!*s || strlen(s) > 9)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

enum dp_optarg { DP_ARG_NONE, DP_ARG_DIGITS, DP_ARG_CHMOD };

struct dp_allowed_opt {
	const char *name;
	enum dp_optarg arg;
};

/* The rsync options a configuration may add: none can run a command,
 * change what is transferred or where, or defeat the atomic rename. */
static const struct dp_allowed_opt allowed_rsync_opts[] = {
	{"-z", DP_ARG_NONE},           {"--compress", DP_ARG_NONE},
	{"--compress-level", DP_ARG_DIGITS},
	{"-c", DP_ARG_NONE},           {"--checksum", DP_ARG_NONE},
	{"-W", DP_ARG_NONE},           {"--whole-file", DP_ARG_NONE},
	{"-4", DP_ARG_NONE},           {"--ipv4", DP_ARG_NONE},
	{"-6", DP_ARG_NONE},           {"--ipv6", DP_ARG_NONE},
	{"-p", DP_ARG_NONE},           {"--perms", DP_ARG_NONE},
	{"--chmod", DP_ARG_CHMOD},     {"--block-size", DP_ARG_DIGITS},
	{"--port", DP_ARG_DIGITS},     {"--fsync", DP_ARG_NONE},
	{"--no-motd", DP_ARG_NONE},
};

static bool rsync_opt_ok(const char *tok)
{
	const char *eq = strchr(tok, '=');
	size_t nlen = eq ? (size_t)(eq - tok) : strlen(tok);

	for (size_t i = 0; i < sizeof(allowed_rsync_opts) / sizeof(allowed_rsync_opts[0]); i++) {
		const struct dp_allowed_opt *o = &allowed_rsync_opts[i];
		if (strlen(o->name) != nlen || strncmp(o->name, tok, nlen) != 0)
			continue;
		switch (o->arg) {
		case DP_ARG_NONE:
			return eq == NULL;
		case DP_ARG_DIGITS:
			return eq && digits_ok(eq + 1);
		case DP_ARG_CHMOD:
			return eq && chmod_spec_ok(eq + 1);
		}
	}
	return false;
}

/* Split @p value at blanks (and commas when @p commas) into a malloc'd vector. */
static offserv_status split_words(const char *value, bool commas, size_t max, char ***out,
                                  size_t *n_out, bool *too_many)
{
	char **v = calloc(max + 1, sizeof(*v));
	size_t n = 0;
	const char *p = value;

	*too_many = false;
	if (!v)
		return OFFSERV_E_OUTOFMEMORY;
	for (;;) {
		const char *start;
		while (*p == ' ' || *p == '\t' || (commas && *p == ','))
			p++;
		if (!*p)
			break;
		start = p;
		while (*p && *p != ' ' && *p != '\t' && !(commas && *p == ','))
			p++;
		if (n == max) {
			*too_many = true;
			free_strv(v, n);
			return OFFSERV_E_INVALIDARG;
		}
		v[n] = strndup(start, (size_t)(p - start));
		if (!v[n]) {
			free_strv(v, n);
			return OFFSERV_E_OUTOFMEMORY;
		}
		n++;
	}
	*out = v;
	*n_out = n;
	return OFFSERV_OK;
}

/* ---------------------------------------------------------------------- */
/* configure()                                                             */

static offserv_status bad_value(char *err, size_t errlen, const char *key, const char *value,
                                const char *expected)
{
	offserv_set_error(err, errlen, "invalid value \"%s\" for key \"%s\": %s", value, key,
	                  expected);
	return OFFSERV_E_INVALIDARG;
}

/* Number-valued keys shared by the plugin-wide and per-target forms. */
static offserv_status set_numeric(const char *field, const char *key, const char *value,
                                  long *tries, long *delay, long *timeout, long long *kbps,
                                  char *err, size_t errlen)
{
	unsigned long long v;

	if (!strcasecmp(field, "retries")) {
		if (!parse_number(value, 1, DP_MAX_TRIES, &v))
			return bad_value(err, errlen, key, value,
			                 "expected the number of tries, 1 to 100");
		*tries = (long)v;
	} else if (!strcasecmp(field, "retry_delay_seconds")) {
		if (!parse_number(value, 0, DP_MAX_DELAY, &v))
			return bad_value(err, errlen, key, value, "expected seconds, 0 to 3600");
		*delay = (long)v;
	} else if (!strcasecmp(field, "timeout_seconds")) {
		if (!parse_number(value, 1, DP_MAX_TIMEOUT, &v))
			return bad_value(err, errlen, key, value, "expected seconds, 1 to 86400");
		*timeout = (long)v;
	} else if (!strcasecmp(field, "bandwidth_kbps")) {
		if (!parse_number(value, 0, DP_MAX_KBPS, &v))
			return bad_value(err, errlen, key, value,
			                 "expected kilobits per second, 0 (unlimited) to 100000000");
		*kbps = (long long)v;
	} else {
		return OFFSERV_E_NOT_FOUND;
	}
	return OFFSERV_OK;
}

static offserv_status set_targets(struct dp_ctx *c, const char *key, const char *value,
                                  char *err, size_t errlen)
{
	char **names;
	size_t n;
	bool too_many;
	offserv_status st = split_words(value, true, DP_MAX_TARGETS, &names, &n, &too_many);

	if (st == OFFSERV_E_INVALIDARG && too_many)
		return bad_value(err, errlen, key, value, "more than 64 distribution points");
	if (st != OFFSERV_OK)
		return st;
	for (size_t i = 0; i < n; i++) {
		if (!valid_name(names[i], strlen(names[i]))) {
			offserv_set_error(err, errlen,
			                  "invalid value \"%s\" for key \"%s\": \"%s\" is not a name "
			                  "(letters, digits, '_' and '-', up to %d)",
			                  value, key, names[i], DP_NAME_MAX);
			free_strv(names, n);
			return OFFSERV_E_INVALIDARG;
		}
		for (size_t j = 0; j < i; j++) {
			if (!strcasecmp(names[i], names[j])) {
				offserv_set_error(err, errlen,
				                  "invalid value \"%s\" for key \"%s\": \"%s\" is listed twice",
				                  value, key, names[i]);
				free_strv(names, n);
				return OFFSERV_E_INVALIDARG;
			}
		}
	}
	for (size_t i = 0; i < n; i++)
		snprintf(c->order[i], sizeof(c->order[i]), "%s", names[i]);
	c->n_order = n;
	c->have_order = true;
	free_strv(names, n);
	return OFFSERV_OK;
}

static offserv_status set_string(char **slot, const char *value)
{
	char *s = strdup(value);

	if (!s)
		return OFFSERV_E_OUTOFMEMORY;
	free(*slot);
	*slot = s;
	return OFFSERV_OK;
}

static offserv_status configure_global(struct dp_ctx *c, const char *key, const char *value,
                                       char *err, size_t errlen)
{
	if (!strcasecmp(key, "targets"))
		return set_targets(c, key, value, err, errlen);
	if (!strcasecmp(key, "rsync")) {
		if (!absolute_path_ok(value, false))
			return bad_value(err, errlen, key, value,
			                 "expected the absolute path of the rsync program");
		return set_string(&c->rsync, value);
	}
	return set_numeric(key, key, value, &c->tries, &c->retry_delay, &c->timeout,
	                   &c->bandwidth_kbps, err, errlen);
}

static struct dp_target *find_target(const struct dp_ctx *c, const char *name)
{
	for (size_t i = 0; i < c->n_targets; i++)
		if (!strcasecmp(c->targets[i]->name, name))
			return c->targets[i];
	return NULL;
}

static const char *const target_fields[] = {
	"type", "target", "retries", "retry_delay_seconds", "timeout_seconds",
	"bandwidth_kbps", "rsync_options", "ssh_identity", "password_file",
};

/* Check the value of one field of a target, before anything is changed. */
static offserv_status check_target_field(const struct dp_target *t, const char *field,
                                         const char *key, const char *value, char *err,
                                         size_t errlen)
{
	if (!strcasecmp(field, "type")) {
		enum dp_where w = t && t->target ? target_where(t->target) : DP_WHERE_BAD;
		if (strcasecmp(value, "path") && strcasecmp(value, "rsync"))
			return bad_value(err, errlen, key, value, "expected \"path\" or \"rsync\"");
		if (!strcasecmp(value, "path") && t && t->target && w != DP_WHERE_LOCAL)
			return bad_value(err, errlen, key, value,
			                 "a path distribution point needs an absolute directory as its "
			                 "target");
	} else if (!strcasecmp(field, "target")) {
		enum dp_where w = target_where(value);
		if (w == DP_WHERE_BAD)
			return bad_value(err, errlen, key, value,
			                 "expected an absolute directory, rsync://host[:port]/module[/dir], "
			                 "host::module[/dir] or [user@]host:dir (letters, digits and "
			                 "._~@:/+=,%-[] only, not starting with '-')");
		if (t && t->type == DP_TYPE_PATH && w != DP_WHERE_LOCAL)
			return bad_value(err, errlen, key, value,
			                 "a path distribution point needs an absolute directory");
	} else if (!strcasecmp(field, "ssh_identity")) {
		if (!absolute_path_ok(value, true))
			return bad_value(err, errlen, key, value,
			                 "expected an absolute path without blanks or quotes");
	} else if (!strcasecmp(field, "password_file")) {
		if (!absolute_path_ok(value, false))
			return bad_value(err, errlen, key, value, "expected an absolute path");
	}
	return OFFSERV_OK;
}

static offserv_status set_rsync_options(struct dp_target *t, const char *key, const char *value,
                                        char *err, size_t errlen)
{
	char **v;
	size_t n;
	bool too_many;
	offserv_status st = split_words(value, false, DP_MAX_RSYNC_OPTS, &v, &n, &too_many);

	if (st == OFFSERV_E_INVALIDARG && too_many)
		return bad_value(err, errlen, key, value, "more than 32 options");
	if (st != OFFSERV_OK)
		return st;
	for (size_t i = 0; i < n; i++) {
		if (!rsync_opt_ok(v[i])) {
			offserv_set_error(err, errlen,
			                  "invalid value \"%s\" for key \"%s\": rsync option \"%s\" is "
			                  "not allowed (allowed: -z --compress --compress-level=N -c "
			                  "--checksum -W --whole-file -4 --ipv4 -6 --ipv6 -p --perms "
			                  "--chmod=SPEC --block-size=N --port=N --fsync --no-motd)",
			                  value, key, v[i]);
			free_strv(v, n);
			return OFFSERV_E_INVALIDARG;
		}
	}
	free_strv(t->rsync_opts, t->n_rsync_opts);
	t->rsync_opts = v;
	t->n_rsync_opts = n;
	return OFFSERV_OK;
}

static offserv_status configure_target(struct dp_ctx *c, const char *key, const char *value,
                                       const char *dot, char *err, size_t errlen)
{
	const char *field = dot + 1;
	size_t name_len = (size_t)(dot - key);
	char name[DP_NAME_MAX + 1];
	struct dp_target *t;
	bool known = false, created = false;
	offserv_status st;

	for (size_t i = 0; i < sizeof(target_fields) / sizeof(target_fields[0]); i++)
		if (!strcasecmp(field, target_fields[i]))
			known = true;
	if (!known)
		return OFFSERV_E_NOT_FOUND;
	if (!valid_name(key, name_len)) {
		offserv_set_error(err, errlen,
		                  "invalid key \"%s\": \"%.*s\" is not a distribution point name "
		                  "(letters, digits, '_' and '-', up to %d)",
		                  key, (int)(name_len > 64 ? 64 : name_len), key, DP_NAME_MAX);
		return OFFSERV_E_INVALIDARG;
	}
	memcpy(name, key, name_len);
	name[name_len] = '\0';
	t = find_target(c, name);
	st = check_target_field(t, field, key, value, err, errlen);
	if (st != OFFSERV_OK)
		return st;
	if (!t) {
		if (c->n_targets == DP_MAX_TARGETS)
			return bad_value(err, errlen, key, value, "more than 64 distribution points");
		t = calloc(1, sizeof(*t));
		if (!t)
			return OFFSERV_E_OUTOFMEMORY;
		snprintf(t->name, sizeof(t->name), "%s", name);
		t->tries = t->retry_delay = t->timeout = -1;
		t->bandwidth_kbps = -1;
		c->targets[c->n_targets++] = t;
		created = true;
	}
	if (!strcasecmp(field, "type")) {
		t->type = strcasecmp(value, "path") ? DP_TYPE_RSYNC : DP_TYPE_PATH;
		st = OFFSERV_OK;
	} else if (!strcasecmp(field, "target"))
		st = set_string(&t->target, value);
	else if (!strcasecmp(field, "rsync_options"))
		st = set_rsync_options(t, key, value, err, errlen);
	else if (!strcasecmp(field, "ssh_identity"))
		st = set_string(&t->ssh_identity, value);
	else if (!strcasecmp(field, "password_file"))
		st = set_string(&t->password_file, value);
	else
		st = set_numeric(field, key, value, &t->tries, &t->retry_delay, &t->timeout,
		                 &t->bandwidth_kbps, err, errlen);
	if (st != OFFSERV_OK && created) {
		c->n_targets--;
		target_free(t);
	}
	return st;
}

static offserv_status dp_configure(void *ctx, const char *key, const char *value, char *err,
                                   size_t errlen)
{
	struct dp_ctx *c = ctx;
	const char *dot;

	if (!c || !key || !value) {
		offserv_set_error(err, errlen, "configure called without a key or value");
		return OFFSERV_E_INVALIDARG;
	}
	if (strlen(value) >= DP_VALUE_MAX)
		return bad_value(err, errlen, key, "...", "value longer than 4095 bytes");
	dot = strchr(key, '.');
	if (!dot)
		return configure_global(c, key, value, err, errlen);
	return configure_target(c, key, value, dot, err, errlen);
}

/* ---------------------------------------------------------------------- */
/* A run                                                                   */

struct dp_plan {
	const struct dp_target *t;
	enum dp_type type;
	enum dp_where where;
	long tries, delay, timeout;
	long long kbps;
};

struct dp_result {
	offserv_status st;
	long tries;
	uint64_t bytes;
	char note[160];
	char msg[DP_MSG_MAX];
};

struct dp_run {
	const struct dp_ctx *c;
	const struct offserv_post_action_job *job;
	const char *base; /* basename of the WIM */
	char src_sha[65]; /* known SHA-256 of the source, "" until known */
	size_t index, count;
	int last_percent;
	struct timespec last_call;
	bool cancelled;
};

static void dp_log(const struct dp_ctx *c, enum offserv_loglevel level, const char *fmt, ...)
	OFFSERV_PRINTF(3, 4);

static void dp_log(const struct dp_ctx *c, enum offserv_loglevel level, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	if (!c->host || !c->host->log)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	c->host->log(c->host, level, DP_PLUGIN_NAME, "%s", line);
}

static void result_fail(struct dp_result *r, offserv_status st, const char *fmt, ...)
	OFFSERV_PRINTF(3, 4);

static void result_fail(struct dp_result *r, offserv_status st, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->msg, sizeof(r->msg), fmt, ap);
	va_end(ap);
	r->st = st;
}

static void result_errno(struct dp_result *r, int e, const char *what, const char *path)
{
	result_fail(r, offserv_status_from_errno(e), "%s %s: %s", what, path, strerror(e));
}

static double seconds_since(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t0->tv_sec) + (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

/*
 * Report @p pct (0..100) of the current target; the overall figure spreads
 * the targets evenly.  Calls the job's callback when the figure changes or
 * every half second, so that cancellation is noticed.  True when cancelled.
 */
static bool run_progress(struct dp_run *run, int pct, const char *what)
{
	const struct offserv_post_action_job *job = run->job;
	int overall;

	if (run->cancelled)
		return true;
	if (!job->progress)
		return false;
	if (pct < 0)
		pct = 0;
	if (pct > 100)
		pct = 100;
	overall = (int)((run->index * 100 + (size_t)pct) / (run->count ? run->count : 1));
	if (overall == run->last_percent && seconds_since(&run->last_call) < 0.5)
		return false;
	run->last_percent = overall;
	clock_gettime(CLOCK_MONOTONIC, &run->last_call);
	if (job->progress(job->progress_ctx, overall, what) != 0)
		run->cancelled = true;
	return run->cancelled;
}

/* Sleep @p seconds, asking for progress about twice a second. */
static bool run_sleep(struct dp_run *run, double seconds, int pct, const char *what)
{
	struct timespec t0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		double left = seconds - seconds_since(&t0);
		struct timespec ts;
		if (left <= 0)
			return run->cancelled;
		if (left > 0.25)
			left = 0.25;
		ts.tv_sec = 0;
		ts.tv_nsec = (long)(left * 1e9);
		nanosleep(&ts, NULL);
		if (run_progress(run, pct, what))
			return true;
	}
}

static bool sha_hex_equal(const char *a, const char *b)
{
	return strlen(a) == 64 && strlen(b) == 64 && strcasecmp(a, b) == 0;
}

/* Hash an open file from its start; true on success. */
static bool hash_fd(int fd, uint8_t *buf, char hex[65], uint64_t *size, int *err_out)
{
	struct offserv_sha256 sha;
	uint8_t digest[32];
	off_t off = 0;

	offserv_sha256_init(&sha);
	for (;;) {
		ssize_t n = pread(fd, buf, DP_COPY_CHUNK, off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			*err_out = errno;
			return false;
		}
		if (n == 0)
			break;
		offserv_sha256_update(&sha, buf, (size_t)n);
		off += n;
	}
	offserv_sha256_final(&sha, digest);
	offserv_hex(digest, sizeof(digest), hex);
	if (size)
		*size = (uint64_t)off;
	return true;
}

/* The SHA-256 of the source: the job's, or computed once per run. */
static bool source_sha(struct dp_run *run, int src_fd, uint8_t *buf, struct dp_result *r)
{
	int e = 0;

	if (run->src_sha[0])
		return true;
	if (run->job->sha256 && strlen(run->job->sha256) == 64) {
		snprintf(run->src_sha, sizeof(run->src_sha), "%s", run->job->sha256);
		return true;
	}
	if (!hash_fd(src_fd, buf, run->src_sha, NULL, &e)) {
		run->src_sha[0] = '\0';
		result_errno(r, e, "cannot read", run->job->wim_path);
		return false;
	}
	return true;
}

static bool write_all(int fd, const uint8_t *p, size_t len, int *err_out)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			*err_out = errno;
			return false;
		}
		p += n;
		len -= (size_t)n;
	}
	return true;
}

struct path_state {
	char *dir, *dest, *tmp;
	int src, out;
	uint8_t *buf;
};

/* Copy the source into the open temporary file, hashing it; true on success. */
static bool path_copy(struct dp_run *run, const struct dp_plan *p, struct path_state *s,
                      uint64_t size, char hex[65], uint64_t *copied, struct dp_result *r)
{
	struct offserv_sha256 sha;
	uint8_t digest[32];
	struct timespec t0;
	double rate = (double)p->kbps * 125.0; /* bytes per second; 0: unlimited */
	size_t chunk = DP_COPY_CHUNK;
	off_t off = 0;
	int e = 0;

	if (rate > 0 && rate / 4 < (double)chunk)
		chunk = rate / 4 < 4096 ? 4096 : (size_t)(rate / 4);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	offserv_sha256_init(&sha);
	for (;;) {
		ssize_t n = pread(s->src, s->buf, chunk, off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			result_errno(r, errno, "cannot read", run->job->wim_path);
			return false;
		}
		if (n == 0)
			break;
		offserv_sha256_update(&sha, s->buf, (size_t)n);
		if (!write_all(s->out, s->buf, (size_t)n, &e)) {
			result_errno(r, e, "cannot write", s->tmp);
			return false;
		}
		off += n;
		if (run_progress(run, size ? (int)((uint64_t)off * 80 / size) : 80, "copying"))
			goto cancelled;
		if (rate > 0) {
			double due = (double)off / rate - seconds_since(&t0);
			if (due > 0 && run_sleep(run, due, size ? (int)((uint64_t)off * 80 / size) : 80,
			                         "copying"))
				goto cancelled;
		}
	}
	offserv_sha256_final(&sha, digest);
	offserv_hex(digest, sizeof(digest), hex);
	*copied = (uint64_t)off;
	return true;
cancelled:
	result_fail(r, OFFSERV_E_CANCELLED, "cancelled while copying to %s", s->dest);
	return false;
}

/* Refresh one path target: temporary file, hash, fsync, verify, rename. */
static void path_refresh(struct dp_run *run, const struct dp_plan *p, struct dp_result *r)
{
	const struct offserv_post_action_job *job = run->job;
	struct path_state s = {.src = -1, .out = -1};
	struct stat st, dst;
	char copy_hex[65], back_hex[65];
	uint64_t copied = 0, back_size = 0;
	int e = 0;
	bool dir_created = false;

	if (stat(p->t->target, &st) != 0) {
		result_errno(r, errno, "cannot reach distribution point directory", p->t->target);
		return;
	}
	if (!S_ISDIR(st.st_mode)) {
		result_errno(r, ENOTDIR, "cannot use distribution point directory", p->t->target);
		return;
	}
	s.dir = offserv_path_join(p->t->target, job->image_id);
	s.buf = malloc(DP_COPY_CHUNK);
	if (!s.dir || !s.buf) {
		result_fail(r, OFFSERV_E_OUTOFMEMORY, "out of memory");
		goto out;
	}
	if (mkdir(s.dir, 0755) == 0) {
		dir_created = true;
	} else if (errno != EEXIST) {
		result_errno(r, errno, "cannot create directory", s.dir);
		goto out;
	}
	if (stat(s.dir, &st) != 0) {
		result_errno(r, errno, "cannot use directory", s.dir);
		goto out;
	}
	if (!S_ISDIR(st.st_mode)) {
		result_errno(r, ENOTDIR, "cannot use directory", s.dir);
		goto out;
	}
	if (dir_created) {
		char msg[DP_MSG_MAX];
		offserv_status fs = offserv_fsync_dir(p->t->target, msg, sizeof(msg));
		if (fs != OFFSERV_OK) {
			result_fail(r, fs, "%s", msg);
			goto out;
		}
	}
	s.dest = offserv_path_join(s.dir, run->base);
	s.tmp = malloc(strlen(s.dir) + strlen(run->base) + 16);
	if (!s.dest || !s.tmp) {
		result_fail(r, OFFSERV_E_OUTOFMEMORY, "out of memory");
		goto out;
	}
	sprintf(s.tmp, "%s/.%s.tmp-XXXXXX", s.dir, run->base);

	s.src = open(job->wim_path, O_RDONLY | O_CLOEXEC);
	if (s.src < 0 || fstat(s.src, &st) != 0) {
		result_errno(r, errno, "cannot open", job->wim_path);
		goto out;
	}

	/* Identical content already there: nothing to move. */
	if (stat(s.dest, &dst) == 0 && S_ISREG(dst.st_mode) && dst.st_size == st.st_size) {
		int fd;
		char have[65];
		if (!source_sha(run, s.src, s.buf, r))
			goto out;
		fd = open(s.dest, O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			bool ok = hash_fd(fd, s.buf, have, NULL, &e);
			close(fd);
			if (ok && sha_hex_equal(have, run->src_sha)) {
				r->bytes = 0;
				snprintf(r->note, sizeof(r->note), "unchanged");
				goto out;
			}
		}
	}

	s.out = mkostemp(s.tmp, O_CLOEXEC);
	if (s.out < 0) {
		result_errno(r, errno, "cannot create temporary file in", s.dir);
		s.tmp[0] = '\0';
		goto out;
	}
	/* Shares without Unix permissions refuse or ignore modes: not fatal there. */
	if (fchmod(s.out, 0644) != 0 && errno != EPERM && errno != ENOTSUP) {
		result_errno(r, errno, "cannot set the mode of", s.tmp);
		goto out;
	}
	if (!path_copy(run, p, &s, (uint64_t)st.st_size, copy_hex, &copied, r))
		goto out;
	if (job->sha256 && job->sha256[0] && !sha_hex_equal(copy_hex, job->sha256)) {
		result_fail(r, OFFSERV_E_CRC,
		            "%s does not match its recorded SHA-256 (read %s, recorded %s): not "
		            "published",
		            job->wim_path, copy_hex, job->sha256);
		goto out;
	}
	if (!run->src_sha[0])
		snprintf(run->src_sha, sizeof(run->src_sha), "%s", copy_hex);
	if (fsync(s.out) != 0) {
		result_errno(r, errno, "cannot fsync", s.tmp);
		goto out;
	}
	/* Read back what the storage holds, not what the page cache remembers. */
	(void)posix_fadvise(s.out, 0, 0, POSIX_FADV_DONTNEED);
	run_progress(run, 85, "verifying");
	if (!hash_fd(s.out, s.buf, back_hex, &back_size, &e)) {
		result_errno(r, e, "cannot read back", s.tmp);
		goto out;
	}
	if (back_size != copied || !sha_hex_equal(back_hex, copy_hex)) {
		result_fail(r, OFFSERV_E_CRC,
		            "%s: what was written (%llu bytes, SHA-256 %s) differs from the source "
		            "(%llu bytes, SHA-256 %s)",
		            s.tmp, (unsigned long long)back_size, back_hex,
		            (unsigned long long)copied, copy_hex);
		goto out;
	}
	if (close(s.out) != 0) {
		s.out = -1;
		result_errno(r, errno, "cannot close", s.tmp);
		goto out;
	}
	s.out = -1;
	if (run->cancelled || run_progress(run, 95, "renaming")) {
		result_fail(r, OFFSERV_E_CANCELLED, "cancelled before replacing %s", s.dest);
		goto out;
	}
	if (rename(s.tmp, s.dest) != 0) {
		result_errno(r, errno, "cannot rename the new image over", s.dest);
		goto out;
	}
	s.tmp[0] = '\0';
	{
		char msg[DP_MSG_MAX];
		offserv_status fs = offserv_fsync_dir(s.dir, msg, sizeof(msg));
		if (fs != OFFSERV_OK) {
			result_fail(r, fs, "%s", msg);
			goto out;
		}
	}
	r->bytes = copied;
	run_progress(run, 100, "done");
out:
	if (s.out >= 0)
		close(s.out);
	if (s.tmp && s.tmp[0])
		unlink(s.tmp);
	if (s.src >= 0)
		close(s.src);
	free(s.buf);
	free(s.tmp);
	free(s.dest);
	free(s.dir);
}

/* ---------------------------------------------------------------------- */
/* rsync targets                                                           */

/* Arguments and strings owned by one rsync invocation. */
struct argv_builder {
	char *v[96];
	size_t n;
	char *owned[16];
	size_t n_owned;
	bool oom;
};

static void argv_add(struct argv_builder *b, const char *s)
{
	if (b->n + 1 < sizeof(b->v) / sizeof(b->v[0]))
		b->v[b->n++] = (char *)s;
	else
		b->oom = true;
	b->v[b->n] = NULL;
}

static void argv_addf(struct argv_builder *b, const char *fmt, ...) OFFSERV_PRINTF(2, 3);

static void argv_addf(struct argv_builder *b, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0 || b->n_owned == sizeof(b->owned) / sizeof(b->owned[0])) {
		if (n >= 0)
			free(s);
		b->oom = true;
		return;
	}
	b->owned[b->n_owned++] = s;
	argv_add(b, s);
}

static void argv_free(struct argv_builder *b)
{
	for (size_t i = 0; i < b->n_owned; i++)
		free(b->owned[i]);
}

/* What rsync's output told us. */
struct rsync_out {
	char line[DP_LINE_MAX]; /* the stdout line being read */
	size_t line_len;
	char eline[DP_LINE_MAX]; /* the stderr line being read */
	size_t eline_len;
	char last_err[DP_LINE_MAX];    /* last non-empty stderr line */
	char last_detail[DP_LINE_MAX]; /* last stderr line not starting "rsync error:" */
	char foreign[DP_LINE_MAX];     /* first stderr line from another program (ssh) */
	bool have_literal, have_matched, have_sent, have_files;
	uint64_t literal, matched, sent, files;
	int percent;
};

/* A number that may carry digit group separators: "1,048,576". */
static bool stat_number(const char *line, const char *prefix, uint64_t *out)
{
	size_t plen = strlen(prefix);
	uint64_t v = 0;
	bool any = false;
	const char *p;

	if (strncmp(line, prefix, plen) != 0)
		return false;
	for (p = line + plen; *p == ' '; p++)
		;
	for (; (*p >= '0' && *p <= '9') || *p == ',' || *p == '.'; p++) {
		if (*p < '0' || *p > '9')
			continue;
		v = v * 10 + (uint64_t)(*p - '0');
		any = true;
	}
	if (any)
		*out = v;
	return any;
}

static void rsync_stdout_line(struct rsync_out *o, const char *line)
{
	const char *pct;

	if (stat_number(line, "Literal data:", &o->literal))
		o->have_literal = true;
	else if (stat_number(line, "Matched data:", &o->matched))
		o->have_matched = true;
	else if (stat_number(line, "Total bytes sent:", &o->sent))
		o->have_sent = true;
	else if (stat_number(line, "Number of regular files transferred:", &o->files) ||
	         stat_number(line, "Number of files transferred:", &o->files))
		o->have_files = true;
	else if ((pct = strchr(line, '%')) != NULL) {
		/* a progress line: "   1048576  45%  ..." */
		const char *q = pct;
		int v = 0, mul = 1;
		while (q > line && q[-1] >= '0' && q[-1] <= '9' && mul <= 100) {
			q--;
			v += (*q - '0') * mul;
			mul *= 10;
		}
		if (q < pct && v <= 100)
			o->percent = v;
	}
}

static void rsync_stderr_line(struct rsync_out *o, const char *line)
{
	if (!line[0])
		return;
	snprintf(o->last_err, sizeof(o->last_err), "%s", line);
	if (strncmp(line, "rsync error:", 12) != 0)
		snprintf(o->last_detail, sizeof(o->last_detail), "%s", line);
	if (!o->foreign[0] && strncmp(line, "rsync", 5) != 0 && line[0] != '@' &&
	    strncmp(line, "Warning:", 8) != 0)
		snprintf(o->foreign, sizeof(o->foreign), "%s", line);
}

/* Feed bytes to a line splitter; '\r' ends a line too (progress updates). */
static void feed_lines(struct rsync_out *o, const char *data, size_t len, bool is_err)
{
	char *line = is_err ? o->eline : o->line;
	size_t *ll = is_err ? &o->eline_len : &o->line_len;

	for (size_t i = 0; i < len; i++) {
		char ch = data[i];
		if (ch == '\n' || ch == '\r') {
			line[*ll] = '\0';
			if (is_err)
				rsync_stderr_line(o, line);
			else
				rsync_stdout_line(o, line);
			*ll = 0;
		} else if (*ll + 1 < DP_LINE_MAX) {
			line[(*ll)++] = ch;
		}
	}
}

static void flush_lines(struct rsync_out *o)
{
	if (o->line_len)
		feed_lines(o, "\n", 1, false);
	if (o->eline_len)
		feed_lines(o, "\n", 1, true);
}

/* A copy of the environment with LC_ALL=C, so that rsync's output parses. */
static char **child_environment(void)
{
	size_t n = 0, k = 0;
	char **env;

	while (environ && environ[n])
		n++;
	env = calloc(n + 2, sizeof(*env));
	if (!env)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "LC_ALL=", 7) != 0)
			env[k++] = environ[i];
	env[k++] = (char *)"LC_ALL=C";
	env[k] = NULL;
	return env;
}

static void close_from(int lowfd, int maxfd)
{
#ifdef SYS_close_range
	if (syscall(SYS_close_range, (unsigned)lowfd, ~0u, 0u) == 0)
		return;
#endif
	for (int fd = lowfd; fd < maxfd; fd++)
		close(fd);
}

static void kill_child(pid_t pid, int sig)
{
	if (kill(-pid, sig) != 0)
		kill(pid, sig);
}

/* Run rsync with @p argv, reading its output into @p o; returns its wait status or -1. */
static int rsync_spawn(struct dp_run *run, char *const argv[], struct rsync_out *o,
                       struct dp_result *r)
{
	int outp[2] = {-1, -1}, errp[2] = {-1, -1}, execp[2] = {-1, -1}, devnull = -1;
	int status = -1, exec_errno = 0, maxfd;
	char **env = child_environment();
	struct pollfd pfd[2];
	bool killed = false;
	struct timespec kill_time = {0, 0};
	pid_t pid;
	ssize_t n;

	if (!env) {
		result_fail(r, OFFSERV_E_OUTOFMEMORY, "out of memory");
		return -1;
	}
	maxfd = (int)sysconf(_SC_OPEN_MAX);
	if (maxfd <= 0 || maxfd > 65536)
		maxfd = 65536;
	if (pipe2(outp, O_CLOEXEC) != 0 || pipe2(errp, O_CLOEXEC) != 0 ||
	    pipe2(execp, O_CLOEXEC) != 0 ||
	    (devnull = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0) {
		result_errno(r, errno, "cannot prepare to run", argv[0]);
		goto out;
	}
	pid = fork();
	if (pid < 0) {
		result_errno(r, errno, "cannot start", argv[0]);
		goto out;
	}
	if (pid == 0) {
		/* The child: only async-signal-safe calls until execve. */
		sigset_t none;
		int e;
		setpgid(0, 0);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		if (dup2(devnull, 0) < 0 || dup2(outp[1], 1) < 0 || dup2(errp[1], 2) < 0)
			goto child_fail;
		if (execp[1] != 3 && (dup2(execp[1], 3) < 0 || fcntl(3, F_SETFD, FD_CLOEXEC) != 0))
			goto child_fail;
		close_from(4, maxfd);
		execve(argv[0], argv, env);
	child_fail:
		e = errno;
		if (write(3, &e, sizeof(e)) < 0)
			_exit(127);
		_exit(127);
	}
	setpgid(pid, pid);
	close(outp[1]);
	close(errp[1]);
	close(execp[1]);
	outp[1] = errp[1] = execp[1] = -1;
	do
		n = read(execp[0], &exec_errno, sizeof(exec_errno));
	while (n < 0 && errno == EINTR);
	if (n == (ssize_t)sizeof(exec_errno)) {
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		result_errno(r, exec_errno, "cannot run", argv[0]);
		status = -1;
		goto out;
	}

	pfd[0].fd = outp[0];
	pfd[1].fd = errp[0];
	pfd[0].events = pfd[1].events = POLLIN;
	while (pfd[0].fd >= 0 || pfd[1].fd >= 0) {
		char buf[4096];
		int pr = poll(pfd, 2, 250);
		if (pr < 0 && errno != EINTR)
			break;
		for (int i = 0; pr > 0 && i < 2; i++) {
			if (pfd[i].fd < 0 || !(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			n = read(pfd[i].fd, buf, sizeof(buf));
			if (n > 0) {
				feed_lines(o, buf, (size_t)n, i == 1);
			} else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
				close(pfd[i].fd);
				if (i == 0)
					outp[0] = -1;
				else
					errp[0] = -1;
				pfd[i].fd = -1;
			}
		}
		if (!killed && run_progress(run, o->percent, "rsync")) {
			kill_child(pid, SIGTERM);
			killed = true;
			clock_gettime(CLOCK_MONOTONIC, &kill_time);
		} else if (killed && kill_time.tv_sec && seconds_since(&kill_time) > 10) {
			kill_child(pid, SIGKILL);
			kill_time.tv_sec = 0;
		}
	}
	flush_lines(o);
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			result_errno(r, errno, "cannot wait for", argv[0]);
			status = -1;
			break;
		}
	}
	if (killed) {
		result_fail(r, OFFSERV_E_CANCELLED, "cancelled while rsync was running");
		status = -1;
	}
out:
	for (int i = 0; i < 2; i++) {
		if (outp[i] >= 0)
			close(outp[i]);
		if (errp[i] >= 0)
			close(errp[i]);
		if (execp[i] >= 0)
			close(execp[i]);
	}
	if (devnull >= 0)
		close(devnull);
	free(env);
	return status;
}

static void rsync_refresh(struct dp_run *run, const struct dp_plan *p, struct dp_result *r)
{
	const struct dp_ctx *c = run->c;
	const struct dp_target *t = p->t;
	const char *src = run->job->wim_path;
	size_t tlen = strlen(t->target);
	const char *sep = tlen && (t->target[tlen - 1] == '/' || t->target[tlen - 1] == ':') ? "" : "/";
	struct argv_builder b = {.n = 0};
	struct rsync_out *o = calloc(1, sizeof(*o));
	int status, code;
	const char *why;

	if (!o) {
		result_fail(r, OFFSERV_E_OUTOFMEMORY, "out of memory");
		return;
	}
	argv_add(&b, c->rsync);
	argv_add(&b, "--times");
	argv_add(&b, "--no-whole-file");
	argv_add(&b, "--stats");
	argv_add(&b, "--no-human-readable");
	argv_add(&b, "--info=progress2");
	argv_addf(&b, "--timeout=%ld", p->timeout);
	if (p->where == DP_WHERE_DAEMON)
		argv_addf(&b, "--contimeout=%ld", p->timeout);
	if (p->kbps > 0)
		argv_addf(&b, "--bwlimit=%llu",
		          (unsigned long long)((p->kbps * 125 + 1023) / 1024));
	if (p->where == DP_WHERE_SSH)
		argv_addf(&b, "--rsh=ssh -o BatchMode=yes -o ConnectTimeout=%ld%s%s", p->timeout,
		          t->ssh_identity ? " -i " : "", t->ssh_identity ? t->ssh_identity : "");
	if (t->password_file)
		argv_addf(&b, "--password-file=%s", t->password_file);
	for (size_t i = 0; i < t->n_rsync_opts; i++)
		argv_add(&b, t->rsync_opts[i]);
	argv_add(&b, "--");
	if (src[0] == '/')
		argv_add(&b, src);
	else
		argv_addf(&b, "./%s", src);
	argv_addf(&b, "%s%s%s/", t->target, sep, run->job->image_id);
	if (b.oom) {
		result_fail(r, OFFSERV_E_OUTOFMEMORY, "out of memory");
		goto out;
	}

	status = rsync_spawn(run, b.v, o, r);
	if (status == -1)
		goto out;
	if (WIFSIGNALED(status)) {
		result_fail(r, OFFSERV_E_FAIL, "rsync was killed by signal %d%s%s",
		            WTERMSIG(status), o->last_err[0] ? ": " : "", o->last_err);
		goto out;
	}
	code = WEXITSTATUS(status);
	if (code != 0) {
		/* ssh's own complaint says more than rsync's "connection closed" */
		why = o->foreign[0] ? o->foreign : o->last_detail[0] ? o->last_detail : o->last_err;
		if (code == 23 || code == 24)
			result_fail(r, OFFSERV_E_WRITE_FAULT,
			            "partial transfer (rsync exit %d): %s", code,
			            why[0] ? why : "no message");
		else
			result_fail(r, code == 127 ? OFFSERV_E_FILE_NOT_FOUND : OFFSERV_E_FAIL,
			            "rsync exit %d: %s%s%s", code, why[0] ? why : "no message",
			            o->last_err[0] && why != o->last_err ? " | " : "",
			            o->last_err[0] && why != o->last_err ? o->last_err : "");
		goto out;
	}
	if (!o->have_sent || !o->have_literal) {
		result_fail(r, OFFSERV_E_INVALID_DATA,
		            "rsync succeeded but printed no transfer statistics");
		goto out;
	}
	r->bytes = o->sent;
	if (o->have_files && o->files == 0)
		snprintf(r->note, sizeof(r->note), "unchanged");
	else if (o->matched > 0)
		snprintf(r->note, sizeof(r->note), "delta: literal %llu, matched %llu",
		         (unsigned long long)o->literal, (unsigned long long)o->matched);
	else
		snprintf(r->note, sizeof(r->note), "literal %llu, matched 0",
		         (unsigned long long)o->literal);
	run_progress(run, 100, "done");
out:
	argv_free(&b);
	free(o);
}

/* ---------------------------------------------------------------------- */
/* run()                                                                   */

static bool component_ok(const char *s)
{
	size_t len = s ? strlen(s) : 0;

	if (len == 0 || len > 255 || !strcmp(s, ".") || !strcmp(s, "..") || s[0] == '-')
		return false;
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f || *s == '/' || *s == '\\' ||
		    strchr(" \"'`$;&|<>*?", *s))
			return false;
	return true;
}

/* Resolve the targets to refresh, in order; OFFSERV_E_BAD_CONFIG with a message if unusable. */
static offserv_status make_plan(const struct dp_ctx *c, struct dp_plan *plan, size_t *n_plan,
                                char *err, size_t errlen)
{
	size_t n = c->have_order ? c->n_order : c->n_targets;

	for (size_t i = 0; i < n; i++) {
		const struct dp_target *t =
			c->have_order ? find_target(c, c->order[i]) : c->targets[i];
		struct dp_plan *p = &plan[i];

		if (!t || !t->target) {
			offserv_set_error(err, errlen,
			                  "[plugin.%s] distribution point \"%s\" has no %s.target",
			                  DP_PLUGIN_NAME, c->have_order ? c->order[i] : t->name,
			                  c->have_order ? c->order[i] : t->name);
			return OFFSERV_E_BAD_CONFIG;
		}
		p->t = t;
		p->where = target_where(t->target);
		p->type = t->type != DP_TYPE_UNSET ? t->type
		          : p->where == DP_WHERE_LOCAL ? DP_TYPE_PATH
		                                       : DP_TYPE_RSYNC;
		if (p->where == DP_WHERE_BAD || (p->type == DP_TYPE_PATH && p->where != DP_WHERE_LOCAL)) {
			offserv_set_error(err, errlen,
			                  "[plugin.%s] %s.target \"%s\" is not usable for a %s target",
			                  DP_PLUGIN_NAME, t->name, t->target,
			                  p->type == DP_TYPE_PATH ? "path" : "rsync");
			return OFFSERV_E_BAD_CONFIG;
		}
		if (t->password_file && p->where != DP_WHERE_DAEMON) {
			offserv_set_error(err, errlen,
			                  "[plugin.%s] %s.password_file is only for rsync daemon targets",
			                  DP_PLUGIN_NAME, t->name);
			return OFFSERV_E_BAD_CONFIG;
		}
		p->tries = t->tries >= 0 ? t->tries : c->tries;
		p->delay = t->retry_delay >= 0 ? t->retry_delay : c->retry_delay;
		p->timeout = t->timeout >= 0 ? t->timeout : c->timeout;
		p->kbps = t->bandwidth_kbps >= 0 ? t->bandwidth_kbps : c->bandwidth_kbps;
	}
	if (c->have_order) {
		for (size_t i = 0; i < c->n_targets; i++) {
			bool listed = false;
			for (size_t j = 0; j < c->n_order; j++)
				if (!strcasecmp(c->order[j], c->targets[i]->name))
					listed = true;
			if (!listed)
				dp_log(c, OFFSERV_LOG_WARNING,
				       "Distribution point %s is configured but not listed in targets; "
				       "skipped",
				       c->targets[i]->name);
		}
	}
	*n_plan = n;
	return OFFSERV_OK;
}

/* Append to a bounded string; the result is always terminated. */
static void append(char *buf, size_t cap, const char *fmt, ...) OFFSERV_PRINTF(3, 4);

static void append(char *buf, size_t cap, const char *fmt, ...)
{
	size_t used;
	va_list ap;

	if (!buf || cap == 0)
		return;
	used = strnlen(buf, cap);
	if (used + 1 >= cap)
		return;
	va_start(ap, fmt);
	vsnprintf(buf + used, cap - used, fmt, ap);
	va_end(ap);
}

static offserv_status dp_run(void *ctx, const struct offserv_post_action_job *job,
                             char *summary, size_t summary_len, char *err, size_t errlen)
{
	const struct dp_ctx *c = ctx;
	struct dp_plan *plan = NULL;
	struct dp_result *res = NULL;
	struct dp_run run;
	size_t n = 0, failed = 0;
	offserv_status st, first_failure = OFFSERV_OK;
	const char *slash;
	struct stat sst;

	if (summary && summary_len)
		summary[0] = '\0';
	if (err && errlen)
		err[0] = '\0';
	if (!c || !job || !job->wim_path || !job->wim_path[0]) {
		offserv_set_error(err, errlen, "no image to publish");
		return OFFSERV_E_INVALIDARG;
	}
	if (!component_ok(job->image_id)) {
		offserv_set_error(err, errlen, "image ID \"%s\" cannot name a folder",
		                  job->image_id ? job->image_id : "(null)");
		return OFFSERV_E_INVALID_NAME;
	}
	slash = strrchr(job->wim_path, '/');
	if (!component_ok(slash ? slash + 1 : job->wim_path)) {
		offserv_set_error(err, errlen, "%s: the file name cannot be published",
		                  job->wim_path);
		return OFFSERV_E_INVALID_NAME;
	}
	if (job->sha256 && job->sha256[0] && strlen(job->sha256) != 64) {
		offserv_set_error(err, errlen, "the recorded SHA-256 of %s is malformed: \"%s\"",
		                  job->wim_path, job->sha256);
		return OFFSERV_E_INVALIDARG;
	}
	if (stat(job->wim_path, &sst) != 0) {
		int e = errno;
		offserv_set_error(err, errlen, "cannot publish %s: %s", job->wim_path, strerror(e));
		return offserv_status_from_errno(e);
	}
	if (!S_ISREG(sst.st_mode)) {
		offserv_set_error(err, errlen, "cannot publish %s: not a regular file",
		                  job->wim_path);
		return OFFSERV_E_INVALIDARG;
	}
	plan = calloc(DP_MAX_TARGETS, sizeof(*plan));
	res = calloc(DP_MAX_TARGETS, sizeof(*res));
	if (!plan || !res) {
		st = OFFSERV_E_OUTOFMEMORY;
		offserv_set_error(err, errlen, "out of memory");
		goto out;
	}
	st = make_plan(c, plan, &n, err, errlen);
	if (st != OFFSERV_OK)
		goto out;
	if (n == 0) {
		append(summary, summary_len, "no distribution points configured");
		goto out;
	}

	memset(&run, 0, sizeof(run));
	run.c = c;
	run.job = job;
	run.base = slash ? slash + 1 : job->wim_path;
	run.count = n;
	run.last_percent = -1;
	clock_gettime(CLOCK_MONOTONIC, &run.last_call);

	for (size_t i = 0; i < n && !run.cancelled; i++) {
		struct dp_plan *p = &plan[i];
		struct dp_result *r = &res[i];

		run.index = i;
		dp_log(c, OFFSERV_LOG_INFO, "Updating distribution point %s (%s) with image %s",
		       p->t->name, p->t->target, job->image_id);
		for (long k = 1; k <= p->tries; k++) {
			memset(r, 0, sizeof(*r));
			r->tries = k;
			if (run_progress(&run, 0, p->t->name)) {
				result_fail(r, OFFSERV_E_CANCELLED, "cancelled");
				break;
			}
			if (p->type == DP_TYPE_PATH)
				path_refresh(&run, p, r);
			else
				rsync_refresh(&run, p, r);
			if (r->st == OFFSERV_OK || r->st == OFFSERV_E_CANCELLED)
				break;
			if (k < p->tries) {
				dp_log(c, OFFSERV_LOG_WARNING,
				       "Distribution point %s: try %ld of %ld failed: %s; retrying in %ld s",
				       p->t->name, k, p->tries, r->msg, p->delay);
				if (run_sleep(&run, (double)p->delay, 0, "waiting to retry")) {
					result_fail(r, OFFSERV_E_CANCELLED, "cancelled");
					break;
				}
			}
		}
		if (r->st == OFFSERV_OK) {
			dp_log(c, OFFSERV_LOG_INFO, "Distribution point %s updated: %llu bytes%s%s%s",
			       p->t->name, (unsigned long long)r->bytes, r->note[0] ? " (" : "",
			       r->note, r->note[0] ? ")" : "");
		} else {
			dp_log(c, OFFSERV_LOG_ERROR,
			       "Failed to update distribution point %s after %ld %s. ErrorCode = 0x%08x: %s",
			       p->t->name, r->tries, r->tries == 1 ? "try" : "tries",
			       (unsigned)r->st, r->msg);
		}
		if (job->target_done) {
			char line[DP_MSG_MAX + 200];

			if (r->st == OFFSERV_OK)
				snprintf(line, sizeof(line), "%s: ok %llu bytes%s%s%s, %ld %s", p->t->target,
				         (unsigned long long)r->bytes, r->note[0] ? " (" : "", r->note,
				         r->note[0] ? ")" : "", r->tries, r->tries == 1 ? "try" : "tries");
			else
				snprintf(line, sizeof(line), "%s: failed after %ld %s: %s", p->t->target,
				         r->tries, r->tries == 1 ? "try" : "tries", r->msg);
			job->target_done(job->target_ctx, p->t->name, r->st, r->bytes, line);
		}
	}

	for (size_t i = 0; i < n; i++) {
		const struct dp_result *r = &res[i];
		const char *name = plan[i].t->name;

		append(summary, summary_len, "%s", i ? "; " : "");
		if (i > run.index || (r->tries == 0 && r->st == OFFSERV_OK)) {
			append(summary, summary_len, "%s: not attempted", name);
			continue;
		}
		if (r->st == OFFSERV_OK) {
			append(summary, summary_len, "%s: ok %llu bytes%s%s%s", name,
			       (unsigned long long)r->bytes, r->note[0] ? " (" : "", r->note,
			       r->note[0] ? ")" : "");
			continue;
		}
		if (r->st == OFFSERV_E_CANCELLED)
			append(summary, summary_len, "%s: cancelled", name);
		else
			append(summary, summary_len, "%s: failed after %ld %s: %s", name, r->tries,
			       r->tries == 1 ? "try" : "tries", r->msg);
		if (first_failure == OFFSERV_OK)
			first_failure = r->st;
		failed++;
	}
	if (run.cancelled) {
		st = OFFSERV_E_CANCELLED;
		offserv_set_error(err, errlen, "distribution point refresh of %s cancelled",
		                  job->image_id);
	} else if (failed) {
		st = first_failure;
		offserv_set_error(err, errlen, "distribution point refresh failed for %zu of %zu: ",
		                  failed, n);
		for (size_t i = 0, k = 0; i < n; i++) {
			if (res[i].st == OFFSERV_OK)
				continue;
			append(err, errlen, "%s%s (%s): %s", k++ ? "; " : "", plan[i].t->name,
			       plan[i].t->target, res[i].msg);
		}
	}
out:
	free(plan);
	free(res);
	return st;
}

static const struct offserv_post_action_ops dp_ops = {.run = dp_run};

OFFSERV_PLUGIN_EXPORT const struct offserv_plugin offserv_plugin = {
	.abi_version = OFFSERV_PLUGIN_ABI_VERSION,
	.abi_minor = OFFSERV_PLUGIN_ABI_MINOR,
	.name = DP_PLUGIN_NAME,
	.kind = OFFSERV_PLUGIN_POST_ACTION,
	.version = "1.0",
	.description = "refreshes distribution points with the serviced image (path, rsync)",
	.init = dp_init,
	.configure = dp_configure,
	.shutdown = dp_shutdown,
	.ops.post_action = &dp_ops,
};
