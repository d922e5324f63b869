/* SPDX-License-Identifier: GPL-3.0-or-later */
/* OfflineServicingMgr.log (SMS trace / CCM) and dism.log writers. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <offserv/log.h>
#include <offserv/util.h>

/* Lines up to this size are built on the stack. */
#define LINE_STACK 2048

struct offserv_logfile {
	pthread_mutex_t lock; /* guards fd across a rollover */
	int fd;
	char *path;
	enum offserv_logfmt format;
	char *component;
	uint64_t max_size;
	unsigned history;
	int level;
	bool crlf;
};

static long current_tid(void)
{
	return (long)syscall(SYS_gettid);
}

int offserv_log_bias_minutes(int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!localtime_r(&tt, &tm))
		return 0;
	return (int)(-tm.tm_gmtoff / 60);
}

static int open_log_fd(const char *path)
{
	return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0644);
}

offserv_status offserv_logfile_open(const struct offserv_logfile_options *o,
                                    struct offserv_logfile **out, char *err, size_t errlen)
{
	struct offserv_logfile *lf;
	const char *comp;

	if (!out)
		return OFFSERV_E_INVALIDARG;
	*out = NULL;
	if (!o || !o->path || !*o->path) {
		offserv_set_error(err, errlen, "log file: no path given");
		return OFFSERV_E_INVALIDARG;
	}
	if (o->format != OFFSERV_LOGFMT_TRACE && o->format != OFFSERV_LOGFMT_CCM &&
	    o->format != OFFSERV_LOGFMT_DISM) {
		offserv_set_error(err, errlen, "%s: unknown log format %d", o->path, (int)o->format);
		return OFFSERV_E_INVALIDARG;
	}
	if (o->level < 0 || o->level > OFFSERV_LOG_DEBUG) {
		offserv_set_error(err, errlen, "%s: log level %d is not 1 to 4", o->path, o->level);
		return OFFSERV_E_INVALIDARG;
	}
	comp = o->component ? o->component
	                    : o->format == OFFSERV_LOGFMT_DISM ? "DISM" : OFFSERV_LOG_COMPONENT_OSM;
	lf = calloc(1, sizeof(*lf));
	if (!lf || !(lf->path = strdup(o->path)) || !(lf->component = strdup(comp))) {
		if (lf) {
			free(lf->path);
			free(lf);
		}
		offserv_set_error(err, errlen, "%s: out of memory", o->path);
		return OFFSERV_E_OUTOFMEMORY;
	}
	lf->fd = open_log_fd(o->path);
	if (lf->fd < 0) {
		int e = errno;

		offserv_set_error(err, errlen, "%s: cannot open the log: %s", o->path, strerror(e));
		free(lf->component);
		free(lf->path);
		free(lf);
		return offserv_status_from_errno(e);
	}
	pthread_mutex_init(&lf->lock, NULL);
	lf->format = o->format;
	lf->max_size = o->max_size;
	lf->history = o->history;
	lf->level = o->level ? o->level : OFFSERV_LOG_INFO;
	lf->crlf = o->crlf;
	*out = lf;
	return OFFSERV_OK;
}

void offserv_logfile_close(struct offserv_logfile *lf)
{
	if (!lf)
		return;
	if (lf->fd >= 0)
		close(lf->fd);
	pthread_mutex_destroy(&lf->lock);
	free(lf->component);
	free(lf->path);
	free(lf);
}

bool offserv_logfile_enabled(const struct offserv_logfile *lf, int level)
{
	return lf && level <= lf->level;
}

const char *offserv_logfile_path(const struct offserv_logfile *lf)
{
	return lf ? lf->path : NULL;
}

/* Name of the kept file number @p i (0 = newest) of a log at @p path. */
static char *history_name(const struct offserv_logfile *lf, unsigned i)
{
	const char *path = lf->path;
	size_t n = strlen(path);
	char num[16] = "";
	char *r;

	if (i > 0)
		snprintf(num, sizeof(num), "%u", i);
	r = malloc(n + 8 + sizeof(num));
	if (!r)
		return NULL;
	if (lf->format == OFFSERV_LOGFMT_DISM)
		sprintf(r, "%s.bak%s", path, num);
	else if (n >= 4 && strcmp(path + n - 4, ".log") == 0)
		sprintf(r, "%.*s.lo_%s", (int)(n - 4), path, num);
	else
		sprintf(r, "%s.lo_%s", path, num);
	return r;
}

/* Move the current file into the history (caller holds the flock). */
static int rotate_files(const struct offserv_logfile *lf)
{
	char *from, *to;

	if (lf->history == 0)
		return unlink(lf->path) == 0 || errno == ENOENT ? 0 : -1;
	for (unsigned i = lf->history - 1; i > 0; i--) {
		from = history_name(lf, i - 1);
		to = history_name(lf, i);
		if (!from || !to) {
			free(from);
			free(to);
			errno = ENOMEM;
			return -1;
		}
		if (rename(from, to) != 0 && errno != ENOENT) {
			free(from);
			free(to);
			return -1;
		}
		free(from);
		free(to);
	}
	to = history_name(lf, 0);
	if (!to) {
		errno = ENOMEM;
		return -1;
	}
	if (rename(lf->path, to) != 0) {
		int e = errno;

		free(to);
		errno = e;
		return -1;
	}
	free(to);
	return 0;
}

/* Replace lf->fd by a fresh descriptor on lf->path (caller holds lf->lock). */
static int reopen(struct offserv_logfile *lf)
{
	int fd = open_log_fd(lf->path);

	if (fd < 0)
		return -1;
	close(lf->fd);
	lf->fd = fd;
	return 0;
}

/* True when lf->fd is no longer the file at lf->path (another process rolled it). */
static bool fd_is_stale(const struct offserv_logfile *lf, struct stat *cur)
{
	struct stat byname;

	if (fstat(lf->fd, cur) != 0)
		return true;
	if (stat(lf->path, &byname) != 0)
		return true;
	return byname.st_dev != cur->st_dev || byname.st_ino != cur->st_ino;
}

/*
 * Make lf->fd a file that can take @p len more bytes: follow a rollover done
 * by another process, or roll over under an flock.  Caller holds lf->lock.
 */
static int prepare_for(struct offserv_logfile *lf, size_t len)
{
	for (int attempt = 0; attempt < 8; attempt++) {
		struct stat cur;

		if (fd_is_stale(lf, &cur)) {
			if (reopen(lf) != 0)
				return -1;
			continue;
		}
		if ((uint64_t)cur.st_size + len <= lf->max_size || cur.st_size == 0)
			return 0;
		if (flock(lf->fd, LOCK_EX) != 0)
			return -1;
		/* Under the lock: still the file at the path, still too big? */
		if (fd_is_stale(lf, &cur)) {
			flock(lf->fd, LOCK_UN);
			if (reopen(lf) != 0)
				return -1;
			continue;
		}
		if ((uint64_t)cur.st_size + len > lf->max_size) {
			int fd;

			if (rotate_files(lf) != 0) {
				int e = errno;

				flock(lf->fd, LOCK_UN);
				errno = e;
				return -1;
			}
			fd = open_log_fd(lf->path);
			if (fd < 0) {
				int e = errno;

				flock(lf->fd, LOCK_UN);
				errno = e;
				return -1;
			}
			flock(lf->fd, LOCK_UN);
			close(lf->fd);
			lf->fd = fd;
			return 0;
		}
		flock(lf->fd, LOCK_UN);
		return 0;
	}
	return 0;
}

static void clean_line_breaks(char *s)
{
	for (; *s; s++)
		if (*s == '\n' || *s == '\r')
			*s = ' ';
}

/* Append printf-formatted text to a growing buffer. */
struct linebuf {
	char *p;
	size_t len, cap;
	char stack[LINE_STACK];
	bool failed;
};

static void lb_vadd(struct linebuf *b, const char *fmt, va_list ap) OFFSERV_PRINTF(2, 0);

static void lb_vadd(struct linebuf *b, const char *fmt, va_list ap)
{
	va_list aq;
	int n;

	if (b->failed)
		return;
	va_copy(aq, ap);
	n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, aq);
	va_end(aq);
	if (n < 0) {
		b->failed = true;
		return;
	}
	if ((size_t)n >= b->cap - b->len) {
		size_t ncap = b->len + (size_t)n + 256;
		char *np = b->p == b->stack ? malloc(ncap) : realloc(b->p, ncap);

		if (!np) {
			b->failed = true;
			return;
		}
		if (b->p == b->stack)
			memcpy(np, b->stack, b->len);
		b->p = np;
		b->cap = ncap;
		vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	}
	b->len += (size_t)n;
}

static void lb_add(struct linebuf *b, const char *fmt, ...) OFFSERV_PRINTF(2, 3);

static void lb_add(struct linebuf *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	lb_vadd(b, fmt, ap);
	va_end(ap);
}

static const char *dism_level_name(int level)
{
	switch (level) {
	case OFFSERV_LOG_ERROR:
		return "Error";
	case OFFSERV_LOG_WARNING:
		return "Warning";
	default:
		/* DISM writes its debug lines as Info too. */
		return "Info";
	}
}

static int ccm_type(int level)
{
	return level == OFFSERV_LOG_ERROR ? 3 : level == OFFSERV_LOG_WARNING ? 2 : 1;
}

offserv_status offserv_logfile_writev(struct offserv_logfile *lf, int level,
                                      const char *component, const char *fmt, va_list ap)
{
	struct linebuf b;
	struct timespec ts;
	struct tm tm;
	int bias, ms;
	long tid;
	size_t msg_start;
	ssize_t w;
	offserv_status st = OFFSERV_OK;

	if (!lf || level > lf->level)
		return OFFSERV_OK;
	if (level < OFFSERV_LOG_ERROR)
		level = OFFSERV_LOG_ERROR;
	if (!component)
		component = lf->component;
	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	ms = (int)(ts.tv_nsec / 1000000);
	bias = (int)(-tm.tm_gmtoff / 60);
	tid = current_tid();

	b.p = b.stack;
	b.len = 0;
	b.cap = sizeof(b.stack);
	b.failed = false;
	b.stack[0] = '\0';

	switch (lf->format) {
	case OFFSERV_LOGFMT_DISM:
		lb_add(&b, "%04d-%02d-%02d %02d:%02d:%02d, %-22s%-6s ", tm.tm_year + 1900,
		       tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		       dism_level_name(level), component);
		msg_start = b.len;
		lb_vadd(&b, fmt, ap);
		if (!b.failed)
			clean_line_breaks(b.p + msg_start);
		break;
	case OFFSERV_LOGFMT_CCM:
		lb_add(&b, "<![LOG[");
		lb_vadd(&b, fmt, ap);
		lb_add(&b,
		       "]LOG]!><time=\"%02d:%02d:%02d.%03d%+04d\" date=\"%02d-%02d-%04d\" "
		       "component=\"%s\" context=\"\" type=\"%d\" thread=\"%ld\" file=\"\">",
		       tm.tm_hour, tm.tm_min, tm.tm_sec, ms, bias, tm.tm_mon + 1, tm.tm_mday,
		       tm.tm_year + 1900, component, ccm_type(level), tid);
		break;
	case OFFSERV_LOGFMT_TRACE:
	default:
		lb_vadd(&b, fmt, ap);
		if (!b.failed)
			clean_line_breaks(b.p);
		lb_add(&b, "  $$<%s><%02d-%02d-%04d %02d:%02d:%02d.%03d%+04d><thread=%ld (0x%lX)>",
		       component, tm.tm_mon + 1, tm.tm_mday, tm.tm_year + 1900, tm.tm_hour,
		       tm.tm_min, tm.tm_sec, ms, bias, tid, (unsigned long)tid);
		break;
	}
	lb_add(&b, "%s", lf->crlf ? "\r\n" : "\n");
	if (b.failed) {
		if (b.p != b.stack)
			free(b.p);
		return OFFSERV_E_OUTOFMEMORY;
	}

	pthread_mutex_lock(&lf->lock);
	if (lf->max_size > 0 && prepare_for(lf, b.len) != 0)
		st = offserv_status_from_errno(errno);
	if (st == OFFSERV_OK) {
		/* One write(2) on an O_APPEND descriptor: the line lands whole. */
		do {
			w = write(lf->fd, b.p, b.len);
		} while (w < 0 && errno == EINTR);
		if (w < 0)
			st = offserv_status_from_errno(errno);
		else if ((size_t)w != b.len)
			st = OFFSERV_E_WRITE_FAULT;
	}
	pthread_mutex_unlock(&lf->lock);
	if (b.p != b.stack)
		free(b.p);
	return st;
}

offserv_status offserv_logfile_write(struct offserv_logfile *lf, int level,
                                     const char *component, const char *fmt, ...)
{
	offserv_status st;
	va_list ap;

	if (!lf || level > lf->level)
		return OFFSERV_OK;
	va_start(ap, fmt);
	st = offserv_logfile_writev(lf, level, component, fmt, ap);
	va_end(ap);
	return st;
}

static const char *dism_arch(const char *machine)
{
	if (strcmp(machine, "x86_64") == 0)
		return "amd64";
	if (strcmp(machine, "aarch64") == 0 || strncmp(machine, "arm64", 5) == 0)
		return "arm64";
	if (machine[0] == 'i' && strcmp(machine + 2, "86") == 0)
		return "x86";
	return machine;
}

offserv_status offserv_dismlog_session_begin(struct offserv_logfile *lf, const char *cmdline)
{
	struct utsname u;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	offserv_status st;

	if (!lf)
		return OFFSERV_OK;
	if (uname(&u) != 0) {
		strcpy(u.release, "unknown");
		strcpy(u.machine, "unknown");
	}
	st = offserv_logfile_write(lf, OFFSERV_LOG_INFO, "DISM",
	                           "DISM.EXE: <----- Starting Dism.exe session ----->");
	if (st == OFFSERV_OK)
		st = offserv_logfile_write(lf, OFFSERV_LOG_INFO, "DISM",
		                           "DISM.EXE: Host machine information: OS Version=%s, "
		                           "Running architecture=%s, Number of processors=%ld",
		                           u.release, dism_arch(u.machine), ncpu > 0 ? ncpu : 1);
	if (st == OFFSERV_OK)
		st = offserv_logfile_write(lf, OFFSERV_LOG_INFO, "DISM",
		                           "DISM.EXE: offserv dism version: %s", PACKAGE_VERSION);
	if (st == OFFSERV_OK)
		st = offserv_logfile_write(lf, OFFSERV_LOG_INFO, "DISM",
		                           "DISM.EXE: Executing command line: %s",
		                           cmdline ? cmdline : "");
	return st;
}

offserv_status offserv_dismlog_session_end(struct offserv_logfile *lf, bool reboot_required)
{
	offserv_status st;

	if (!lf)
		return OFFSERV_OK;
	st = offserv_logfile_write(lf, OFFSERV_LOG_INFO, "DISM",
	                           "DISM.EXE: Image session has been closed. Reboot required=%s.",
	                           reboot_required ? "yes" : "no");
	if (st == OFFSERV_OK)
		st = offserv_logfile_write(lf, OFFSERV_LOG_INFO, "DISM",
		                           "DISM.EXE: <----- Ending Dism.exe session ----->");
	return st;
}

offserv_status offserv_dismlog_provider(struct offserv_logfile *lf, int level,
                                        const char *provider, const char *cls,
                                        const char *method, offserv_status hr,
                                        const char *fmt, ...)
{
	char stack[1024];
	char *text = stack;
	char hrbuf[24] = "";
	offserv_status st;
	va_list ap;
	int n;

	if (!lf || level > lf->level)
		return OFFSERV_OK;
	va_start(ap, fmt);
	n = vsnprintf(stack, sizeof(stack), fmt, ap);
	va_end(ap);
	if (n < 0)
		return OFFSERV_E_INVALIDARG;
	if ((size_t)n >= sizeof(stack)) {
		text = malloc((size_t)n + 1);
		if (!text)
			return OFFSERV_E_OUTOFMEMORY;
		va_start(ap, fmt);
		vsnprintf(text, (size_t)n + 1, fmt, ap);
		va_end(ap);
	}
	if (hr != OFFSERV_OK)
		snprintf(hrbuf, sizeof(hrbuf), "(hr:0x%08x)", (unsigned)hr);
	st = offserv_logfile_write(lf, level, "DISM", "%s: PID=%ld TID=%ld %s - %s::%s%s",
	                           provider ? provider : "DISM", (long)getpid(), current_tid(),
	                           text, cls ? cls : "", method ? method : "", hrbuf);
	if (text != stack)
		free(text);
	return st;
}
