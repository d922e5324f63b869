/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Fixtures shared by the tests that drive the servicing engine: the
 * fixture generator (offserv-mkfixture) run from the build tree, an image
 * in a temporary folder, package folders made beside it, and the engine's
 * options for them.  Failures fail the running Check test.
 */
#ifndef OFFSERV_TEST_ENGINEFIX_H
#define OFFSERV_TEST_ENGINEFIX_H

#include <offserv/engine.h>

/** The fixture generator in the build tree; malloc'd. */
char *ef_mkfixture_path(void);

/** Run offserv-mkfixture with the NULL-terminated arguments; its stdout is dropped. */
void ef_mk(const char *first, ...) __attribute__((sentinel));

/** ef_mk(), with its stderr dropped as well. */
void ef_mk_quiet(const char *first, ...) __attribute__((sentinel));

/** A temporary folder holding the image serviced, a copy of it and a scratch folder. */
struct ef_world {
	char *dir;
	char *wim;       /* the image serviced */
	char *orig;      /* a copy of it before servicing */
	char *scratch;
	char *image_dir; /* set: service this directory tree instead of the WIM */
};

/** mk image DIR/install.wim, uncompressed, 1 MiB, with these indexes, files, editions and seed. */
void ef_world_init(struct ef_world *w, const char *indexes, const char *files,
                   const char *editions, const char *seed);
void ef_world_free(struct ef_world *w);

/**
 * A package folder under the world, DIR/pkg-KB: mk package DIR --kb KB
 * followed by up to 12 NULL-terminated arguments; malloc'd.
 */
char *ef_package(struct ef_world *w, const char *kb, ...) __attribute__((sentinel));

/** Whether the two files can be read and hold the same bytes. */
int ef_same_file(const char *a, const char *b);

/** Options servicing @p wim with @p scratch, without fsync, and nothing else set. */
void ef_engine_options(struct offserv_engine_options *o, const char *wim, const char *scratch,
                       int continue_on_error);

#endif
