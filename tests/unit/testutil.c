/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

int offtest_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed, run;

	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_SILENT);
	failed = srunner_ntests_failed(sr);
	run = srunner_ntests_run(sr);
	srunner_free(sr);
	if (run == 0) {
		fprintf(stderr, "no test ran: the selection matched nothing\n");
		return 1;
	}
	return failed == 0 ? 0 : 1;
}

int offtest_skip_all(const char *reason)
{
	printf("1..0 # SKIP %s\n", reason);
	return 0;
}

char *offtest_tmpdir(void)
{
	const char *base = getenv("TMPDIR");
	char *path;

	if (!base || !*base)
		base = "/tmp";
	path = offtest_strdup_printf("%s/offserv-test-XXXXXX", base);
	if (!path || !mkdtemp(path)) {
		free(path);
		return NULL;
	}
	return path;
}

int offtest_rmtree(const char *path)
{
	struct stat st;
	DIR *d;
	struct dirent *e;
	int rc = 0;

	if (lstat(path, &st) != 0)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISDIR(st.st_mode))
		return unlink(path);
	d = opendir(path);
	if (!d)
		return -1;
	while ((e = readdir(d)) != NULL) {
		char *child;
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		child = offtest_strdup_printf("%s/%s", path, e->d_name);
		if (!child || offtest_rmtree(child) != 0)
			rc = -1;
		free(child);
	}
	closedir(d);
	if (rmdir(path) != 0)
		rc = -1;
	return rc;
}

const char *offtest_srcdir(void)
{
	const char *s = getenv("OFFSERV_TOP_SRCDIR");
	return s && *s ? s : ".";
}

const char *offtest_builddir(void)
{
	const char *s = getenv("OFFSERV_TOP_BUILDDIR");
	return s && *s ? s : ".";
}

char *offtest_shared(const char *rel)
{
	char *path = offtest_strdup_printf("%s/../shared/%s", offtest_srcdir(), rel);
	struct stat st;

	if (path && stat(path, &st) == 0)
		return path;
	free(path);
	return NULL;
}

int offtest_write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	const char *p = data;

	if (fd < 0)
		return -1;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			close(fd);
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return close(fd);
}

char *offtest_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, used = 0;

	if (!f)
		return NULL;
	for (;;) {
		size_t n;
		if (cap - used < 4096) {
			char *nb = realloc(buf, cap + 65536);
			if (!nb) {
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = nb;
			cap += 65536;
		}
		n = fread(buf + used, 1, cap - used - 1, f);
		used += n;
		if (n == 0)
			break;
	}
	fclose(f);
	buf[used] = '\0';
	if (len)
		*len = used;
	return buf;
}

char *offtest_strdup_printf(const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	return s;
}
