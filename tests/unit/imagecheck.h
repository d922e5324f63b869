/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * An independent read-back of a serviced WIM for the engine's tests.
 *
 * It reads the image with wimlib and the hives with hivex directly (never
 * through liboffserv's WIM, hive or engine code), reads the package's own
 * manifests with libxml2, and checks that the image holds what the
 * manifests require.  Only the SDDL conversion is borrowed from the
 * library (offserv_sddl_to_sd(), tested on its own), to know what a new
 * file's descriptor must be.
 */
#ifndef OFFSERV_TEST_IMAGECHECK_H
#define OFFSERV_TEST_IMAGECHECK_H

#include <stddef.h>
#include <stdint.h>

#include <hivex.h>

/** A WIM opened read-only, plus a scratch folder for extracted files. */
struct ic;

/** What the image holds at one path. */
struct ic_stat {
	int exists;
	int is_dir;
	uint32_t attributes;
	uint8_t *sd; /* malloc'd, NULL when none */
	size_t sd_len;
	uint64_t link_group;
	uint32_t nlinks;
	uint64_t size;
};

/* Every function returning int gives 0 on success and writes a message into @p err otherwise. */

int ic_open(const char *wim, struct ic **out, char *err, size_t errlen);
void ic_close(struct ic *c);
int ic_image_count(const struct ic *c);

/** Stat @p path ("/Windows/System32/x.dll", the image's own spelling); !exists when absent. */
int ic_stat(struct ic *c, int index, const char *path, struct ic_stat *st, char *err,
            size_t errlen);
void ic_stat_clear(struct ic_stat *st);

/** The bytes of the file @p path (malloc'd). */
int ic_read(struct ic *c, int index, const char *path, uint8_t **data, size_t *len, char *err,
            size_t errlen);

/** Open the hive Windows/System32/config/@p name of @p index (hivex, read-only); NULL on failure. */
hive_h *ic_hive(struct ic *c, int index, const char *name, char *err, size_t errlen);

/** Local copy of that hive (valid until ic_close), for hivexsh. */
const char *ic_hive_path(struct ic *c, int index, const char *name);

/** Find the key at a backslash path (case-insensitive); 0 when absent. */
hive_node_h ic_key(hive_h *h, const char *path);

/** A value of @p key: 0 and malloc'd data, or -1 when absent. */
int ic_value(hive_h *h, hive_node_h key, const char *name, uint32_t *type, uint8_t **data,
             size_t *len);

/** REG_SZ @p utf8 as Windows stores it: UTF-16LE with its terminator (ASCII only). */
uint8_t *ic_utf16(const char *utf8, size_t *len);

/** A registry value a manifest declares, converted to the bytes Windows stores. */
struct ic_regvalue {
	char *hive; /* "SOFTWARE" or "SYSTEM" */
	char *key;  /* below the hive root, CurrentControlSet unresolved */
	char *name;
	uint32_t type;
	uint8_t *data;
	size_t len;
};

/** A file a component manifest lists. */
struct ic_mfile {
	char *name;
	char *dest;      /* resolved destination directory, "Windows/System32", or NULL */
	uint8_t sha256[32];
	int have_sha256;
	char *sddl;      /* the definition its securityDescriptor names, or NULL */
};

/** A component manifest of a package (read from the package folder). */
struct ic_component {
	char *key_form;   /* from the manifest's file name */
	char *manifest;   /* local path */
	struct ic_mfile *files;
	size_t n_files;
	struct ic_regvalue *values;
	size_t n_values;
};

/** What a package folder says it installs. */
struct ic_package {
	char *identity; /* Name~Token~Arch~~Version */
	char *name, *version;
	struct ic_component *comps;
	size_t n_comps;
};

int ic_package_load(const char *dir, struct ic_package *p, char *err, size_t errlen);
void ic_package_clear(struct ic_package *p);

/**
 * The identity of the package in folder @p dir, malloc'd; the running
 * Check test fails when the folder cannot be read.
 */
char *ic_package_identity(const char *dir);

/**
 * Check that index @p index of @p after holds package @p p in state
 * @p state, every file, projection, descriptor, manifest, registration and
 * registry value included.  @p before is the image before servicing (for
 * the descriptors of replaced files).  @p t0/@p t1 bound the install
 * time (FILETIMEs).
 */
int ic_check_package(struct ic *after, struct ic *before, int index,
                     const struct ic_package *p, uint32_t state, uint64_t t0, uint64_t t1,
                     char *err, size_t errlen);

/** CurrentState of a package in SOFTWARE, or -1 when not registered. */
int64_t ic_package_state(struct ic *c, int index, const char *identity);

/**
 * Compare index @p ia of @p a with index @p ib of @p b file by file: the
 * same paths (compared in lower case), and for each the same contents
 * (SHA-1), security descriptor, attributes, link count and hard-link
 * partner set.  Paths at or under an entry of the NULL-terminated list
 * @p skip (lower case, "/windows/system32/config") are left out.
 */
int ic_tree_compare(struct ic *a, int ia, struct ic *b, int ib, const char *const *skip,
                    char *err, size_t errlen);

/** 0 when the key @p path has the same subkey names in both hives (or is in neither). */
int ic_subkeys_equal(hive_h *a, hive_h *b, const char *path, char *err, size_t errlen);

/** 0 when `wimlib-imagex verify` passes (or is not installed: 1 is returned then). */
int ic_wimlib_verify(const char *wim);

/** 0 when hivexsh opens the hive and lists its root (1 when hivexsh is missing). */
int ic_hivexsh_opens(const char *hive);

#endif
