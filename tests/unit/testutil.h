/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Helpers shared by the Check unit tests. */
#ifndef OFFSERV_TESTUTIL_H
#define OFFSERV_TESTUTIL_H

#include <stddef.h>

#include <check.h>

/**
 * Run @p s in fork mode, TAP on stdout (the automake TAP driver reads it).
 * Returns the process exit status: non-zero when a test failed or when no
 * test ran at all (a selection that matches nothing is an error).
 */
int offtest_run(Suite *s);

/** Print a TAP plan that skips the whole program, with its reason; returns 0. */
int offtest_skip_all(const char *reason);

/** A fresh empty directory under $TMPDIR; malloc'd, removed by offtest_rmtree(). */
char *offtest_tmpdir(void);

/** Remove a directory tree (never follows symlinks). Returns 0 on success. */
int offtest_rmtree(const char *path);

/** The source tree's top directory (OFFSERV_TOP_SRCDIR, or "." ). */
const char *offtest_srcdir(void);

/** The build tree's top directory (OFFSERV_TOP_BUILDDIR, or "."). */
const char *offtest_builddir(void);

/**
 * Path of @p rel under ../shared beside the source tree, malloc'd, or NULL
 * when ../shared is absent (a user's clone): the caller skips with a reason.
 */
char *offtest_shared(const char *rel);

/** Write @p len bytes to @p path (created 0644, truncated). Returns 0 on success. */
int offtest_write_file(const char *path, const void *data, size_t len);

/** Read a whole file into a malloc'd, NUL-terminated buffer, or NULL. */
char *offtest_read_file(const char *path, size_t *len);

/** malloc'd printf. */
char *offtest_strdup_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
