/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <config.h>

#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>

#include <offserv/util.h>

#include "enginefix.h"
#include "testutil.h"

#define MK_MAX_ARGS 38

char *ef_mkfixture_path(void)
{
	return offtest_strdup_printf("%s/tests/fixtures/offserv-mkfixture", offtest_builddir());
}

/* Run offserv-mkfixture with @p n arguments; its stdout, and its stderr when asked, dropped. */
static void mk_run(const char *const *args, int n, int drop_stderr)
{
	const char *argv[MK_MAX_ARGS + 2];
	char *prog = ef_mkfixture_path();
	int status;
	pid_t pid;

	argv[0] = prog;
	for (int i = 0; i < n; i++)
		argv[i + 1] = args[i];
	argv[n + 1] = NULL;
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int fd = open("/dev/null", O_WRONLY);

		if (fd >= 0) {
			dup2(fd, 1);
			if (drop_stderr)
				dup2(fd, 2);
		}
		execv(prog, (char *const *)argv);
		_exit(127);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "offserv-mkfixture %s failed",
	              args[0]);
	free(prog);
}

/* Gather up to @p max NULL-terminated arguments after the @p n in @p args; the new count. */
static int gather(const char **args, int n, int max, va_list ap)
{
	while (n < max && (args[n] = va_arg(ap, const char *)) != NULL)
		n++;
	return n;
}

void ef_mk(const char *first, ...)
{
	const char *args[MK_MAX_ARGS] = {first};
	va_list ap;
	int n;

	va_start(ap, first);
	n = gather(args, 1, MK_MAX_ARGS, ap);
	va_end(ap);
	mk_run(args, n, 0);
}

void ef_mk_quiet(const char *first, ...)
{
	const char *args[MK_MAX_ARGS] = {first};
	va_list ap;
	int n;

	va_start(ap, first);
	n = gather(args, 1, MK_MAX_ARGS, ap);
	va_end(ap);
	mk_run(args, n, 1);
}

void ef_world_init(struct ef_world *w, const char *indexes, const char *files,
                   const char *editions, const char *seed)
{
	memset(w, 0, sizeof(*w));
	w->dir = offtest_tmpdir();
	ck_assert_ptr_nonnull(w->dir);
	w->wim = offtest_strdup_printf("%s/install.wim", w->dir);
	w->orig = offtest_strdup_printf("%s/orig.wim", w->dir);
	w->scratch = offtest_strdup_printf("%s/scratch", w->dir);
	ck_assert_int_eq(mkdir(w->scratch, 0755), 0);
	ef_mk("image", w->wim, "--indexes", indexes, "--compress", "none", "--files", files,
	      "--size-mb", "1", "--editions", editions, "--seed", seed, NULL);
	ck_assert_int_eq(offserv_copy_file(w->wim, w->orig, NULL, NULL, 0), OFFSERV_OK);
}

void ef_world_free(struct ef_world *w)
{
	offtest_rmtree(w->dir);
	free(w->dir);
	free(w->wim);
	free(w->orig);
	free(w->scratch);
	free(w->image_dir);
}

char *ef_package(struct ef_world *w, const char *kb, ...)
{
	char *dir = offtest_strdup_printf("%s/pkg-%s", w->dir, kb);
	const char *args[MK_MAX_ARGS] = {"package", dir, "--kb", kb};
	va_list ap;
	int n;

	va_start(ap, kb);
	n = gather(args, 4, 4 + 12, ap);
	va_end(ap);
	mk_run(args, n, 0);
	return dir;
}

int ef_same_file(const char *a, const char *b)
{
	size_t la, lb;
	char *da = offtest_read_file(a, &la), *db = offtest_read_file(b, &lb);
	int same = da && db && la == lb && memcmp(da, db, la) == 0;

	free(da);
	free(db);
	return same;
}

void ef_engine_options(struct offserv_engine_options *o, const char *wim, const char *scratch,
                       int continue_on_error)
{
	memset(o, 0, sizeof(*o));
	o->wim_path = wim;
	o->scratch_dir = scratch;
	o->continue_on_error = continue_on_error;
	o->no_fsync = 1;
}
