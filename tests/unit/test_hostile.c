/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Hostile input through the public APIs: malformed and malicious cabinets
 * (libmspack's and cabextract's test cabinets in ../shared/corpus),
 * hostile XML, manifests that try to leave the image, over-long dism
 * arguments, malformed INI files, files that are not hives, and the
 * inputs the fuzz targets found (tests/fuzz/crashers).
 *
 * Every case expects a clear error (a failed status and a message), no
 * change to the input, and nothing written outside the folder the call
 * was given.
 */
#include <config.h>

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <offserv/cab.h>
#include <offserv/cbs.h>
#include <offserv/config.h>
#include <offserv/msu.h>
#include <offserv/plugin.h>
#include <offserv/status.h>
#include <offserv/util.h>

#include "dism/args.h"
#include "hive.h"
#include "testutil.h"

#define TOKEN "31bf3856ad364e35"

/* ------------------------------------------------------------------ */
/* Helpers                                                             */

/* Number of entries in @p dir; -1 when it cannot be read. */
static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static int has_entry(const char *dir, const char *name)
{
	char *p = offtest_strdup_printf("%s/%s", dir, name);
	struct stat st;
	int r = lstat(p, &st) == 0;

	free(p);
	return r;
}

/* Fail if anything below @p dir is a symbolic link or a special file. */
static void assert_plain_tree(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	ck_assert_msg(d != NULL, "cannot list %s", dir);
	while ((e = readdir(d)) != NULL) {
		char *p;
		struct stat st;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		p = offtest_strdup_printf("%s/%s", dir, e->d_name);
		ck_assert_int_eq(lstat(p, &st), 0);
		ck_assert_msg(S_ISREG(st.st_mode) || S_ISDIR(st.st_mode),
		              "%s is neither a file nor a folder", p);
		if (S_ISDIR(st.st_mode))
			assert_plain_tree(p);
		free(p);
	}
	closedir(d);
}

static void write_or_fail(const char *path, const void *data, size_t len)
{
	ck_assert_msg(offtest_write_file(path, data, len) == 0, "cannot write %s", path);
}

static int same_file(const char *path, const void *data, size_t len)
{
	size_t got = 0;
	char *now = offtest_read_file(path, &got);
	int same = now && got == len && memcmp(now, data, len) == 0;

	free(now);
	return same;
}

/* A work folder with "in" (the input) and "out" (the destination). */
struct work {
	char *root, *in, *out;
};

static void work_new(struct work *w)
{
	w->root = offtest_tmpdir();
	ck_assert_ptr_nonnull(w->root);
	w->in = offtest_strdup_printf("%s/in", w->root);
	w->out = offtest_strdup_printf("%s/out", w->root);
	ck_assert_int_eq(mkdir(w->in, 0755), 0);
	ck_assert_int_eq(mkdir(w->out, 0755), 0);
}

/* Nothing beside "in" and "out"; "in" holds only @p input. */
static void work_check(const struct work *w, const char *input)
{
	ck_assert_int_eq(count_entries(w->root), 2);
	ck_assert(has_entry(w->root, "in") && has_entry(w->root, "out"));
	ck_assert_int_eq(count_entries(w->in), 1);
	ck_assert(has_entry(w->in, input));
	assert_plain_tree(w->out);
}

static void work_free(struct work *w)
{
	offtest_rmtree(w->root);
	free(w->root);
	free(w->in);
	free(w->out);
}

/* Copy a file into @p dir under its own base name; returns the new path. */
static char *copy_into(const char *src, const char *dir)
{
	size_t len = 0;
	char *data = offtest_read_file(src, &len);
	const char *base = strrchr(src, '/');
	char *dst;

	ck_assert_msg(data != NULL, "cannot read %s", src);
	dst = offtest_strdup_printf("%s/%s", dir, base ? base + 1 : src);
	write_or_fail(dst, data, len);
	free(data);
	return dst;
}

/* The update-format plugin @p name, loaded from the build tree. */
struct plugin {
	void *h;
	const struct offserv_plugin *pl;
	void *ctx;
};

static int plugin_load(const char *name, struct plugin *p)
{
	char *path = offtest_strdup_printf("%s/plugins/.libs/%s.so", offtest_builddir(), name);

	memset(p, 0, sizeof(*p));
	p->h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	free(path);
	if (!p->h)
		return -1;
	p->pl = dlsym(p->h, OFFSERV_PLUGIN_SYMBOL);
	ck_assert_ptr_nonnull(p->pl);
	ck_assert_uint_eq(p->pl->abi_version, OFFSERV_PLUGIN_ABI_VERSION);
	ck_assert_int_eq(p->pl->kind, OFFSERV_PLUGIN_UPDATE_FORMAT);
	if (p->pl->init)
		ck_assert_uint_eq(p->pl->init(NULL, &p->ctx), OFFSERV_OK);
	return 0;
}

static void plugin_unload(struct plugin *p)
{
	if (p->pl && p->pl->shutdown)
		p->pl->shutdown(p->ctx);
	if (p->h)
		dlclose(p->h);
}

/* Every *.cab in ../shared/corpus/@p sub, sorted; NULL-terminated; NULL when absent. */
static char **corpus_cabs(const char *sub)
{
	char *dir = offtest_shared(sub);
	struct dirent **list = NULL;
	char **out;
	int n, k = 0;

	if (!dir)
		return NULL;
	n = scandir(dir, &list, NULL, alphasort);
	ck_assert_int_ge(n, 0);
	out = calloc((size_t)n + 1, sizeof(*out));
	for (int i = 0; i < n; i++) {
		size_t l = strlen(list[i]->d_name);

		if (l > 4 && !strcmp(list[i]->d_name + l - 4, ".cab"))
			out[k++] = offtest_strdup_printf("%s/%s", dir, list[i]->d_name);
		free(list[i]);
	}
	free(list);
	free(dir);
	return out;
}

static void free_list(char **l)
{
	for (size_t i = 0; l && l[i]; i++)
		free(l[i]);
	free(l);
}

/* libmspack's test cabinets named as malformed in the corpus notes. */
static int is_malformed_name(const char *path)
{
	static const char *const prefixes[] = {"bad_", "partial_", "cve-", "filename-read-violation-",
	                                       "hidden-file-", "lzx-", "qtm-"};
	const char *base = strrchr(path, '/');

	base = base ? base + 1 : path;
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
		if (!strncmp(base, prefixes[i], strlen(prefixes[i])))
			return 1;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Cabinets                                                            */

/*
 * cabextract's crash reproducers that are well-formed cabinets: the CVE
 * was a decoder bug, the stream itself is valid (a run of zero bytes in
 * Quantum), so a correct reader extracts it.
 */
static int is_valid_reproducer(const char *path)
{
	const char *base = strrchr(path, '/');

	return !strcmp(base ? base + 1 : path, "cve-2010-2801-qtm-flush.cab");
}

/*
 * Every malformed cabinet of both corpora through the core: open fails, or
 * extraction fails, with a message; a failed extraction leaves the
 * destination empty; nothing is written beside it.  A reproducer that is a
 * well-formed cabinet extracts into the destination only.
 */
static void core_malformed(const char *sub)
{
	char **cabs = corpus_cabs(sub);
	int tried = 0;

	if (!cabs) {
		printf("# ../shared/corpus/%s is absent: malformed cabinets not tried\n", sub);
		return;
	}
	for (size_t i = 0; cabs[i]; i++) {
		struct work w;
		struct offserv_cab *cab = NULL;
		char err[512] = "";
		char *copy;
		const char *base = strrchr(cabs[i], '/') + 1;
		offserv_status st;

		if (!is_malformed_name(cabs[i]))
			continue;
		tried++;
		work_new(&w);
		copy = copy_into(cabs[i], w.in);
		st = offserv_cab_open(copy, &cab, err, sizeof(err));
		if (st == OFFSERV_OK) {
			offserv_cab_set_max_total(cab, 64u << 20);
			st = offserv_cab_extract_all(cab, w.out, err, sizeof(err));
			offserv_cab_close(cab);
			if (OFFSERV_FAILED(st))
				ck_assert_msg(count_entries(w.out) == 0,
				              "%s: failed extraction left %d entries", base,
				              count_entries(w.out));
		} else {
			ck_assert_ptr_null(cab);
		}
		if (is_valid_reproducer(cabs[i])) {
			ck_assert_msg(st == OFFSERV_OK, "%s: 0x%08x (%s)", base, (unsigned)st, err);
		} else {
			ck_assert_msg(OFFSERV_FAILED(st), "%s: malformed cabinet opened and extracted",
			              base);
			ck_assert_msg(err[0] != '\0', "%s: error 0x%08x without a message", base,
			              (unsigned)st);
		}
		work_check(&w, base);
		free(copy);
		work_free(&w);
	}
	ck_assert_int_gt(tried, 0);
	free_list(cabs);
}

START_TEST(test_core_malformed_libmspack)
{
	core_malformed("corpus/cab");
}
END_TEST

START_TEST(test_core_malformed_cabextract)
{
	core_malformed("corpus/cab-bugs");
}
END_TEST

/*
 * Every cabinet of both corpora, valid or not, through the cab plugin's
 * read_info and expand: none is a CBS package, so each gives an error
 * with a message, and nothing is written outside the destination.
 */
static void plugin_corpus(const char *sub)
{
	char **cabs = corpus_cabs(sub);
	struct plugin p;

	if (!cabs) {
		printf("# ../shared/corpus/%s is absent: plugin not tried on it\n", sub);
		return;
	}
	if (plugin_load("cab", &p) != 0) {
		printf("# the cab plugin is not built: corpus not tried through it\n");
		free_list(cabs);
		return;
	}
	for (size_t i = 0; cabs[i]; i++) {
		const struct offserv_update_format_ops *ops = p.pl->ops.update_format;
		struct offserv_update_info *info = NULL;
		struct offserv_expanded_package *pkgs = NULL;
		size_t n = 0;
		struct work w;
		char err[1024] = "";
		const char *base = strrchr(cabs[i], '/') + 1;
		char *copy;
		size_t len = 0;
		char *before = offtest_read_file(cabs[i], &len);
		offserv_status st;

		work_new(&w);
		copy = copy_into(cabs[i], w.in);
		st = ops->read_info(p.ctx, copy, &info, err, sizeof(err));
		ck_assert_msg(OFFSERV_FAILED(st), "%s: read_info accepted a non-package", base);
		ck_assert_ptr_null(info);
		ck_assert_msg(err[0] != '\0', "%s: read_info failed without a message", base);
		err[0] = '\0';
		st = ops->expand(p.ctx, copy, w.out, &pkgs, &n, err, sizeof(err));
		ck_assert_msg(OFFSERV_FAILED(st), "%s: expand accepted a non-package", base);
		ck_assert_ptr_null(pkgs);
		ck_assert_msg(err[0] != '\0', "%s: expand failed without a message", base);
		work_check(&w, base);
		ck_assert_msg(same_file(copy, before, len), "%s: the input changed", base);
		free(before);
		free(copy);
		work_free(&w);
	}
	plugin_unload(&p);
	free_list(cabs);
}

START_TEST(test_plugin_corpus_libmspack)
{
	plugin_corpus("corpus/cab");
}
END_TEST

START_TEST(test_plugin_corpus_cabextract)
{
	plugin_corpus("corpus/cab-bugs");
}
END_TEST

/* dirwalk-vulns.cab: names that try to leave the folder; nothing is written at all. */
START_TEST(test_dirwalk_vulns)
{
	char *src = offtest_shared("corpus/cab-bugs/dirwalk-vulns.cab");
	struct offserv_cab *cab = NULL;
	struct work w;
	char err[512] = "";
	char *copy;
	size_t refused = 0;

	if (!src) {
		printf("# ../shared is absent: dirwalk-vulns.cab not tried\n");
		return;
	}
	work_new(&w);
	copy = copy_into(src, w.in);
	ck_assert_uint_eq(offserv_cab_open(copy, &cab, err, sizeof(err)), OFFSERV_OK);
	for (const struct offserv_cab_member *m = offserv_cab_next(cab, NULL); m;
	     m = offserv_cab_next(cab, m)) {
		if (!m->name) {
			ck_assert_ptr_nonnull(m->refusal);
			refused++;
		} else {
			ck_assert_msg(m->name[0] != '/' && !strstr(m->name, ".."),
			              "accepted name \"%s\" for \"%s\"", m->name, m->raw_name);
		}
	}
	ck_assert_uint_gt(refused, 0);
	ck_assert_uint_eq(offserv_cab_check_names(cab, err, sizeof(err)), OFFSERV_E_INVALID_NAME);
	err[0] = '\0';
	ck_assert_uint_eq(offserv_cab_extract_all(cab, w.out, err, sizeof(err)),
	                  OFFSERV_E_INVALID_NAME);
	ck_assert(err[0] != '\0');
	ck_assert_int_eq(count_entries(w.out), 0);
	offserv_cab_close(cab);
	work_check(&w, "dirwalk-vulns.cab");
	free(copy);
	free(src);
	work_free(&w);
}
END_TEST

/* The cab fuzz target's reproducers: open or extract, never escape. */
START_TEST(test_fuzz_cab_crashers)
{
	char *dir = offtest_strdup_printf("%s/tests/fuzz/crashers", offtest_srcdir());
	DIR *d = opendir(dir);
	struct dirent *e;

	while (d && (e = readdir(d)) != NULL) {
		struct offserv_cab *cab = NULL;
		struct work w;
		char err[512] = "";
		char *src, *copy;

		if (strncmp(e->d_name, "cab-", 4))
			continue;
		src = offtest_strdup_printf("%s/%s", dir, e->d_name);
		work_new(&w);
		copy = copy_into(src, w.in);
		if (offserv_cab_open(copy, &cab, err, sizeof(err)) == OFFSERV_OK) {
			offserv_cab_set_max_total(cab, 4u << 20);
			if (OFFSERV_FAILED(offserv_cab_extract_all(cab, w.out, err, sizeof(err))))
				ck_assert_int_eq(count_entries(w.out), 0);
			offserv_cab_close(cab);
		}
		work_check(&w, e->d_name);
		free(copy);
		free(src);
		work_free(&w);
	}
	if (d)
		closedir(d);
	free(dir);
}
END_TEST

/* ------------------------------------------------------------------ */
/* XML                                                                 */

static const char mum_ok_head[] =
	"<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
	"<assembly xmlns=\"urn:schemas-microsoft-com:asm.v3\" manifestVersion=\"1.0\">\n"
	"  <assemblyIdentity name=\"Package_for_KB1\" version=\"10.0.1.1\" language=\"neutral\" "
	"processorArchitecture=\"amd64\" publicKeyToken=\"" TOKEN "\"/>\n";

/* Parse @p text as a package manifest, a component manifest and an unattend file. */
static void expect_xml_refused(const char *what, const void *text, size_t len,
                               offserv_status want)
{
	struct offserv_mum *mum = NULL;
	struct offserv_manifest *m = NULL;
	char err[512] = "";
	offserv_status st;

	st = offserv_mum_parse(text, len, &mum, err, sizeof(err));
	ck_assert_msg(st == want, "%s: mum_parse gave 0x%08x, expected 0x%08x (%s)", what,
	              (unsigned)st, (unsigned)want, err);
	ck_assert_ptr_null(mum);
	ck_assert_msg(err[0] != '\0', "%s: no message", what);
	err[0] = '\0';
	st = offserv_manifest_parse(text, len, &m, err, sizeof(err));
	ck_assert_msg(st == want, "%s: manifest_parse gave 0x%08x, expected 0x%08x (%s)", what,
	              (unsigned)st, (unsigned)want, err);
	ck_assert_ptr_null(m);
	ck_assert_msg(err[0] != '\0', "%s: no message", what);
}

START_TEST(test_xml_external_entity)
{
	static const char xxe[] =
		"<?xml version=\"1.0\"?>\n"
		"<!DOCTYPE assembly [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>\n"
		"<assembly xmlns=\"urn:schemas-microsoft-com:asm.v3\" manifestVersion=\"1.0\">\n"
		"  <assemblyIdentity name=\"&x;\" version=\"1.0.0.0\" processorArchitecture=\"amd64\"/>\n"
		"  <package identifier=\"&x;\"/>\n"
		"</assembly>\n";
	static const char net[] =
		"<?xml version=\"1.0\"?>\n"
		"<!DOCTYPE assembly [<!ENTITY % p SYSTEM \"http://127.0.0.1:9/evil.dtd\"> %p;]>\n"
		"<assembly xmlns=\"urn:schemas-microsoft-com:asm.v3\"/>\n";
	struct offserv_unattend *u = NULL;
	char err[512] = "";

	expect_xml_refused("external entity", xxe, strlen(xxe), OFFSERV_CBS_E_XML_PARSER_FAILURE);
	expect_xml_refused("parameter entity", net, strlen(net), OFFSERV_CBS_E_XML_PARSER_FAILURE);
	ck_assert_uint_eq(offserv_unattend_parse(xxe, strlen(xxe), &u, err, sizeof(err)),
	                  OFFSERV_CBS_E_XML_PARSER_FAILURE);
	ck_assert_ptr_null(u);
}
END_TEST

START_TEST(test_xml_dtd)
{
	static const char dtd[] =
		"<?xml version=\"1.0\"?>\n"
		"<!DOCTYPE assembly SYSTEM \"file:///etc/passwd\">\n"
		"<assembly xmlns=\"urn:schemas-microsoft-com:asm.v3\" manifestVersion=\"1.0\">\n"
		"  <assemblyIdentity name=\"x\" version=\"1.0.0.0\" processorArchitecture=\"amd64\"/>\n"
		"</assembly>\n";
	static const char internal[] =
		"<?xml version=\"1.0\"?>\n"
		"<!DOCTYPE assembly [<!ELEMENT assembly ANY>]>\n"
		"<assembly xmlns=\"urn:schemas-microsoft-com:asm.v3\" manifestVersion=\"1.0\">\n"
		"  <assemblyIdentity name=\"x\" version=\"1.0.0.0\" processorArchitecture=\"amd64\"/>\n"
		"</assembly>\n";

	expect_xml_refused("external DTD", dtd, strlen(dtd), OFFSERV_CBS_E_XML_PARSER_FAILURE);
	expect_xml_refused("internal DTD", internal, strlen(internal),
	                   OFFSERV_CBS_E_XML_PARSER_FAILURE);
}
END_TEST

START_TEST(test_xml_billion_laughs)
{
	static const char lol[] =
		"<?xml version=\"1.0\"?>\n"
		"<!DOCTYPE assembly [\n"
		" <!ENTITY a \"aaaaaaaaaa\">\n"
		" <!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\">\n"
		" <!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;\">\n"
		" <!ENTITY d \"&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;\">\n"
		" <!ENTITY e \"&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;\">\n"
		" <!ENTITY f \"&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;\">\n"
		" <!ENTITY g \"&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;\">\n"
		" <!ENTITY h \"&g;&g;&g;&g;&g;&g;&g;&g;&g;&g;\">\n"
		" <!ENTITY i \"&h;&h;&h;&h;&h;&h;&h;&h;&h;&h;\">\n"
		"]>\n"
		"<assembly xmlns=\"urn:schemas-microsoft-com:asm.v3\" manifestVersion=\"1.0\">\n"
		"  <assemblyIdentity name=\"&i;\" version=\"1.0.0.0\" processorArchitecture=\"amd64\"/>\n"
		"</assembly>\n";
	char *path = offtest_strdup_printf("%s/tests/data/cbs/hostile-billion-laughs.manifest",
	                                   offtest_srcdir());
	struct offserv_manifest *m = NULL;
	char err[512] = "";

	expect_xml_refused("billion laughs", lol, strlen(lol), OFFSERV_CBS_E_XML_PARSER_FAILURE);
	ck_assert_uint_eq(offserv_manifest_load(path, &m, err, sizeof(err)),
	                  OFFSERV_CBS_E_XML_PARSER_FAILURE);
	ck_assert_ptr_null(m);
	ck_assert_ptr_nonnull(strstr(err, "hostile-billion-laughs.manifest"));
	free(path);
}
END_TEST

/* A document of @p attr_len bytes of attribute value. */
static char *big_attribute_doc(size_t attr_len, size_t *len)
{
	static const char head[] =
		"<?xml version=\"1.0\"?>\n"
		"<assembly xmlns=\"urn:schemas-microsoft-com:asm.v3\" manifestVersion=\"1.0\">\n"
		"  <assemblyIdentity name=\"";
	static const char tail[] =
		"\" version=\"1.0.0.0\" processorArchitecture=\"amd64\"/>\n"
		"  <package identifier=\"KB1\"/>\n</assembly>\n";
	size_t hl = strlen(head), tl = strlen(tail);
	char *doc = malloc(hl + attr_len + tl + 1);

	ck_assert_ptr_nonnull(doc);
	memcpy(doc, head, hl);
	memset(doc + hl, 'A', attr_len);
	memcpy(doc + hl + attr_len, tail, tl + 1);
	*len = hl + attr_len + tl;
	return doc;
}

START_TEST(test_xml_huge_attribute)
{
	size_t len;
	char *doc = big_attribute_doc(100u * 1024 * 1024, &len);

	/* 100 MB: over the manifest size limit, refused before parsing. */
	expect_xml_refused("100 MB attribute", doc, len, OFFSERV_E_INVALID_DATA);
	free(doc);
	/* 1 MB: within the size limit, over the attribute limit. */
	doc = big_attribute_doc(1024 * 1024, &len);
	expect_xml_refused("1 MB attribute", doc, len, OFFSERV_CBS_E_INVALID_PACKAGE);
	free(doc);
}
END_TEST

START_TEST(test_xml_wrong_namespace)
{
	static const char doc[] =
		"<?xml version=\"1.0\"?>\n"
		"<assembly xmlns=\"urn:example:not-cbs\" manifestVersion=\"1.0\">\n"
		"  <assemblyIdentity name=\"x\" version=\"1.0.0.0\" processorArchitecture=\"amd64\"/>\n"
		"  <package identifier=\"KB1\"/>\n"
		"</assembly>\n";
	static const char root[] =
		"<?xml version=\"1.0\"?>\n<unattend xmlns=\"urn:schemas-microsoft-com:asm.v3\"/>\n";

	expect_xml_refused("wrong namespace", doc, strlen(doc), OFFSERV_CBS_E_INVALID_PACKAGE);
	expect_xml_refused("wrong root", root, strlen(root), OFFSERV_CBS_E_INVALID_PACKAGE);
}
END_TEST

START_TEST(test_xml_missing_identity_fields)
{
	static const char *const idents[] = {
		"<assemblyIdentity version=\"1.0.0.0\" processorArchitecture=\"amd64\"/>",
		"<assemblyIdentity name=\"x\" processorArchitecture=\"amd64\"/>",
		"<assemblyIdentity name=\"x\" version=\"1.0.0.0\"/>",
		"<assemblyIdentity name=\"\" version=\"1.0.0.0\" processorArchitecture=\"amd64\"/>",
		"<assemblyIdentity name=\"x\" version=\"1.0.0.0.0.0\" processorArchitecture=\"amd64\"/>",
		"<assemblyIdentity name=\"x\" version=\"99999.0.0.0\" processorArchitecture=\"amd64\"/>",
		"",
	};

	for (size_t i = 0; i < sizeof(idents) / sizeof(idents[0]); i++) {
		char *doc = offtest_strdup_printf(
			"<?xml version=\"1.0\"?>\n"
			"<assembly xmlns=\"urn:schemas-microsoft-com:asm.v3\" manifestVersion=\"1.0\">\n"
			"  %s\n  <package identifier=\"KB1\"/>\n</assembly>\n",
			idents[i]);
		char what[32];

		snprintf(what, sizeof(what), "identity case %zu", i);
		expect_xml_refused(what, doc, strlen(doc), OFFSERV_CBS_E_INVALID_PACKAGE);
		free(doc);
	}
}
END_TEST

START_TEST(test_xml_not_xml)
{
	static const char nul[] = "<?xml version=\"1.0\"?>\n<assembly\0>";

	expect_xml_refused("empty", "", 0, OFFSERV_CBS_E_XML_PARSER_FAILURE);
	expect_xml_refused("binary", "\x89PNG\r\n\x1a\n\0\0", 10, OFFSERV_CBS_E_XML_PARSER_FAILURE);
	expect_xml_refused("NUL inside", nul, sizeof(nul) - 1, OFFSERV_CBS_E_XML_PARSER_FAILURE);
	expect_xml_refused("unclosed", mum_ok_head, strlen(mum_ok_head),
	                   OFFSERV_CBS_E_XML_PARSER_FAILURE);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Manifests that try to leave the image                               */

START_TEST(test_destination_escapes)
{
	static const char *const bad[] = {
		"$(runtime.system32)\\..\\..\\..\\etc",
		"$(runtime.windows)\\..",
		"$(runtime.bootDrive)\\..\\x",
		"$(runtime.system32)\\a\\.\\b",
		"$(runtime.system32)\\a\\...\\b",
		"$(runtime.system32)\\a\\. .\\b",
		"..\\Windows",
		"\\etc\\passwd",
		"/etc/passwd",
		"\\\\server\\share",
		"C:\\Windows\\System32",
		"c:relative",
		"$(runtime.system32)\\C:\\x",
		"$(runtime.unknown)\\x",
		"$(runtime.system32)\\$(runtime.windows)",
		"$(runtime.system32)\\CON",
		"$(runtime.system32)\\nul.txt",
		"$(runtime.system32)\\LPT1 .log",
		"$(runtime.system32)\\x:stream",
		"$(runtime.system32)\\a\x01b",
		"$(runtime.system32)\\a\\\\b",
		"$(runtime.system32)x",
		"$(runtime.system32",
		"",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *out = NULL;
		char err[512] = "";
		offserv_status st = offserv_resolve_destination(bad[i], &out, err, sizeof(err));

		ck_assert_msg(st == OFFSERV_E_INVALID_NAME, "\"%s\" gave 0x%08x -> \"%s\"", bad[i],
		              (unsigned)st, out ? out : "");
		ck_assert_ptr_null(out);
		ck_assert_msg(err[0] != '\0', "\"%s\": no message", bad[i]);
	}
}
END_TEST

/* A parsed manifest's escaping destinations are refused when resolved. */
START_TEST(test_manifest_destination_escapes)
{
	static const char doc[] =
		"<?xml version=\"1.0\"?>\n"
		"<assembly xmlns=\"urn:schemas-microsoft-com:asm.v3\" manifestVersion=\"1.0\">\n"
		"  <assemblyIdentity name=\"Evil\" version=\"1.0.0.0\" processorArchitecture=\"amd64\" "
		"language=\"neutral\" publicKeyToken=\"" TOKEN "\"/>\n"
		"  <file name=\"a.dll\" destinationPath=\"$(runtime.system32)\\..\\..\\..\\etc\\\"/>\n"
		"  <file name=\"b.dll\" destinationPath=\"\\\\?\\C:\\Windows\\\"/>\n"
		"  <file name=\"c.dll\" destinationPath=\"$(runtime.bootDrive)\\..\\..\\\"/>\n"
		"  <file name=\"d.dll\" destinationPath=\"/tmp/\"/>\n"
		"</assembly>\n";
	struct offserv_manifest *m = NULL;
	char err[512] = "";
	offserv_status st = offserv_manifest_parse(doc, strlen(doc), &m, err, sizeof(err));

	/* Refusing the whole manifest is as good as refusing each destination. */
	if (OFFSERV_FAILED(st)) {
		ck_assert(err[0] != '\0');
		return;
	}
	ck_assert_uint_eq(m->n_files, 4);
	for (size_t i = 0; i < m->n_files; i++) {
		char *out = NULL;

		err[0] = '\0';
		ck_assert_msg(offserv_resolve_destination(m->files[i].destination_path, &out, err,
		                                          sizeof(err)) == OFFSERV_E_INVALID_NAME,
		              "\"%s\" resolved to \"%s\"", m->files[i].destination_path,
		              out ? out : "");
		ck_assert(err[0] != '\0');
	}
	offserv_manifest_free(m);
}
END_TEST

static int has_separator(const char *s)
{
	return s && (strchr(s, '/') || strchr(s, '\\'));
}

/*
 * Identity fields end up in component store folder names and registry key
 * names (the key form): an identity whose architecture, token, version or
 * culture holds a path separator must be refused, or its key form must
 * not carry the separator.  Reproducer: tests/fuzz/crashers/identity-keyform-separator.
 */
START_TEST(test_identity_separators)
{
	char *crasher = offtest_strdup_printf("%s/tests/fuzz/crashers/identity-keyform-separator",
	                                      offtest_srcdir());
	size_t clen = 0;
	char *text = offtest_read_file(crasher, &clen);
	struct offserv_identity id;

	ck_assert_ptr_nonnull(text);
	memset(&id, 0, sizeof(id));
	if (offserv_identity_parse_package_string(text, &id) == OFFSERV_OK) {
		char *key = offserv_identity_key_form(&id);

		ck_assert_msg(!has_separator(key), "package string \"%s\" gives key form \"%s\"", text,
		              key);
		free(key);
		offserv_identity_clear(&id);
	}
	free(text);
	free(crasher);
}
END_TEST

/* The same through a component manifest's <assemblyIdentity>. */
START_TEST(test_identity_separators_manifest)
{
	static const char *const attrs[][2] = {
		{"publicKeyToken", "31bf3856/../../x"},
		{"publicKeyToken", "31bf3856\\d364e35"},
		{"processorArchitecture", "amd64/../../../tmp"},
		{"language", "en/../../x"},
	};

	for (size_t i = 0; i < sizeof(attrs) / sizeof(attrs[0]); i++) {
		char *doc = offtest_strdup_printf(
			"<?xml version=\"1.0\"?>\n"
			"<assembly xmlns=\"urn:schemas-microsoft-com:asm.v3\" manifestVersion=\"1.0\">\n"
			"  <assemblyIdentity name=\"Microsoft-Windows-Foo\" version=\"10.0.1.1\" %s=\"%s\"%s%s/>\n"
			"</assembly>\n",
			attrs[i][0], attrs[i][1],
			strcmp(attrs[i][0], "processorArchitecture") ? " processorArchitecture=\"amd64\"" : "",
			strcmp(attrs[i][0], "publicKeyToken") ? " publicKeyToken=\"" TOKEN "\"" : "");
		struct offserv_manifest *m = NULL;
		char err[512] = "";

		if (offserv_manifest_parse(doc, strlen(doc), &m, err, sizeof(err)) == OFFSERV_OK) {
			char *key = offserv_identity_key_form(&m->id);

			ck_assert_msg(!has_separator(key), "%s=\"%s\" gives key form \"%s\"",
			              attrs[i][0], attrs[i][1], key);
			free(key);
			offserv_manifest_free(m);
		}
		free(doc);
	}
}
END_TEST

/* ------------------------------------------------------------------ */
/* dism arguments                                                      */

static void expect_args_refused(const char *what, int argc, char **argv)
{
	struct dism_args a;
	char err[1024] = "";
	offserv_status st;

	memset(&a, 0, sizeof(a));
	st = dism_args_parse(argc, argv, &a, err, sizeof(err));
	ck_assert_msg(st == OFFSERV_E_INVALIDARG, "%s: 0x%08x", what, (unsigned)st);
	ck_assert_msg(err[0] != '\0', "%s: no message", what);
	dism_args_free(&a);
}

START_TEST(test_dism_overlong)
{
	size_t big = DISM_ARG_MAX + 100;
	char *path = malloc(big + 32);
	char *opt = malloc(big + 32);
	char *argv[8];

	ck_assert(path && opt);
	strcpy(path, "/PackagePath:");
	memset(path + 13, 'a', big);
	path[13 + big] = '\0';
	argv[0] = (char *)"dism";
	argv[1] = (char *)"/Image:/mnt";
	argv[2] = (char *)"/Add-Package";
	argv[3] = path;
	expect_args_refused("over-long value", 4, argv);

	/* An over-long option name. */
	opt[0] = '/';
	memset(opt + 1, 'Z', big);
	opt[1 + big] = '\0';
	argv[3] = opt;
	expect_args_refused("over-long option", 4, argv);

	/* An over-long /LogPath, one of the options kept for error reporting. */
	strcpy(path, "/LogPath:");
	memset(path + 9, 'l', big);
	path[9 + big] = '\0';
	argv[1] = path;
	argv[2] = (char *)"/Get-ImageInfo";
	argv[3] = (char *)"/ImageFile:x.wim";
	expect_args_refused("over-long /LogPath", 4, argv);
	free(path);
	free(opt);
}
END_TEST

START_TEST(test_dism_malformed)
{
	char *a1[] = {"dism", "/Get-ImageInfo", "/ImageFile:x.wim", "/Index:99999999999999999999", NULL};
	char *a2[] = {"dism", "/Get-ImageInfo", "/ImageFile:x.wim", "/Index:-1", NULL};
	char *a3[] = {"dism", "/Get-ImageInfo", "/ImageFile:", NULL};
	char *a4[] = {"dism", "/Get-ImageInfo", "/ImageFile:\"unterminated", NULL};
	char *a5[] = {"dism", "/", NULL};
	char *a6[] = {"dism", "/Get-ImageInfo", "/Get-ImageInfo", "/ImageFile:x", NULL};
	char *a7[] = {"dism", "/Image:/mnt", "/Add-Package", "/PackagePath:a", "/LogLevel:7", NULL};
	char *a8[] = {"dism", "", NULL};

	expect_args_refused("index overflow", 4, a1);
	expect_args_refused("negative index", 4, a2);
	expect_args_refused("empty value", 3, a3);
	(void)a4; /* an unterminated quote is kept as written by DISM: not an error */
	expect_args_refused("bare slash", 2, a5);
	expect_args_refused("verb twice", 4, a6);
	expect_args_refused("log level 7", 5, a7);
	expect_args_refused("empty argument", 2, a8);
}
END_TEST

/* ------------------------------------------------------------------ */
/* INI                                                                 */

static void expect_ini_refused(const char *what, const void *text, size_t len)
{
	char *dir = offtest_tmpdir();
	char *ini = offtest_strdup_printf("%s/offserv.ini", dir);
	struct offserv_config *cfg = NULL;
	char err[1024] = "";
	offserv_status st;

	write_or_fail(ini, text, len);
	st = offserv_config_load(ini, &cfg, err, sizeof(err));
	ck_assert_msg(st == OFFSERV_E_BAD_CONFIG, "%s: 0x%08x (%s)", what, (unsigned)st, err);
	ck_assert_ptr_null(cfg);
	ck_assert_msg(strstr(err, ini) != NULL, "%s: message does not name the file: %s", what,
	              err);
	ck_assert_msg(same_file(ini, text, len), "%s: the file changed", what);
	ck_assert_int_eq(count_entries(dir), 1);
	offtest_rmtree(dir);
	free(ini);
	free(dir);
}

START_TEST(test_ini_malformed)
{
	char *longline = malloc(3000);
	static const char utf16[] = "\xff\xfe[\0s\0i\0t\0e\0]\0\n\0";

	ck_assert_ptr_nonnull(longline);
	strcpy(longline, "[site]\ncode = ");
	memset(longline + 14, 'A', 2000);
	strcpy(longline + 2014, "\n");
	expect_ini_refused("line over 1024 characters", longline, strlen(longline));
	free(longline);
	expect_ini_refused("UTF-8 BOM", "\xef\xbb\xbf[site]\ncode = ABC\n", 22);
	expect_ini_refused("UTF-16", utf16, sizeof(utf16) - 1);
	expect_ini_refused("binary", "\x7f" "ELF\x02\x01\x01\0\0\0", 10);
	expect_ini_refused("unclosed section", "[site\ncode = ABC\n", 17);
	expect_ini_refused("bad site code", "[site]\ncode = toolong\n", 22);
	expect_ini_refused("octal-looking number", "[offline_servicing]\nworkers = 052\n", 34);
	expect_ini_refused("trailing garbage", "[offline_servicing]\nworkers = 12abc\n", 36);
	expect_ini_refused("relative plugin dir", "[plugins]\ndirectory = plugins\n", 30);
	expect_ini_refused("NUL byte", "[site]\ncode = A\0C\n", 18);
}
END_TEST

/*
 * A section whose name is "section:key" of a known key (iniparser stores
 * sections and keys in one table: CVE-2023-33461 crashes on such a lookup).
 */
START_TEST(test_ini_section_named_like_key)
{
	static const char *const texts[] = {
		"[site]\n[site:code]\n",
		"[logging:level]\n[logging]\n",
		"[offline_servicing:workers]\nx = 1\n",
	};

	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		char *dir = offtest_tmpdir();
		char *ini = offtest_strdup_printf("%s/offserv.ini", dir);
		struct offserv_config *cfg = NULL;
		char err[1024] = "";
		offserv_status st;

		write_or_fail(ini, texts[i], strlen(texts[i]));
		st = offserv_config_load(ini, &cfg, err, sizeof(err));
		if (st == OFFSERV_OK) {
			ck_assert_str_eq(offserv_config_site_code(cfg), "OFS");
			ck_assert_int_ge(offserv_config_log_level(cfg), 1);
			offserv_config_free(cfg);
		} else {
			ck_assert_msg(strstr(err, ini) != NULL, "message does not name the file: %s",
			              err);
		}
		ck_assert_int_eq(count_entries(dir), 1);
		offtest_rmtree(dir);
		free(ini);
		free(dir);
	}
}
END_TEST

/* ------------------------------------------------------------------ */
/* Hives                                                               */

static void expect_hive_refused(const char *what, const void *data, size_t len, int flags)
{
	char *dir = offtest_tmpdir();
	char *path = offtest_strdup_printf("%s/SOFTWARE", dir);
	struct offserv_hive *h = NULL;
	char err[512] = "";
	offserv_status st;

	write_or_fail(path, data, len);
	st = offserv_hive_open(path, flags, &h, err, sizeof(err));
	ck_assert_msg(st == OFFSERV_E_BAD_FORMAT, "%s: 0x%08x (%s)", what, (unsigned)st, err);
	ck_assert_ptr_null(h);
	ck_assert_msg(strstr(err, path) != NULL, "%s: message does not name the file: %s", what,
	              err);
	ck_assert_msg(same_file(path, data, len), "%s: the file changed", what);
	ck_assert_int_eq(count_entries(dir), 1);
	offtest_rmtree(dir);
	free(path);
	free(dir);
}

START_TEST(test_hive_not_a_hive)
{
	char *fixture = offtest_strdup_printf("%s/tests/fixtures/minimal.hive", offtest_srcdir());
	size_t len = 0;
	char *good = offtest_read_file(fixture, &len);
	char junk[8192];

	ck_assert_ptr_nonnull(good);
	ck_assert_uint_ge(len, 4096);
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (char)(i * 131 + 7);
	for (int flags = OFFSERV_HIVE_READ; flags <= OFFSERV_HIVE_WRITE; flags++) {
		expect_hive_refused("empty file", "", 0, flags);
		expect_hive_refused("text", "Windows Registry Editor Version 5.00\r\n", 38, flags);
		expect_hive_refused("junk", junk, sizeof(junk), flags);
		memcpy(junk, "regf", 4);
		expect_hive_refused("regf and junk", junk, sizeof(junk), flags);
		expect_hive_refused("header only", good, 512, flags);
		{
			char *bad = malloc(len);

			memcpy(bad, good, len);
			bad[0x1fc] ^= 0x5a; /* header checksum */
			expect_hive_refused("bad checksum", bad, len, flags);
			memcpy(bad, good, len);
			bad[0] = 'R';
			expect_hive_refused("bad signature", bad, len, flags);
			free(bad);
		}
	}
	free(good);
	free(fixture);
}
END_TEST

START_TEST(test_hive_directory)
{
	char *dir = offtest_tmpdir();
	struct offserv_hive *h = NULL;
	char err[512] = "";

	ck_assert(OFFSERV_FAILED(offserv_hive_open(dir, OFFSERV_HIVE_READ, &h, err, sizeof(err))));
	ck_assert_ptr_null(h);
	ck_assert(err[0] != '\0');
	ck_assert_int_eq(count_entries(dir), 0);
	offtest_rmtree(dir);
	free(dir);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("hostile");
	TCase *cab = tcase_create("cab");
	TCase *xml = tcase_create("xml");
	TCase *paths = tcase_create("paths");
	TCase *args = tcase_create("dism_args");
	TCase *ini = tcase_create("ini");
	TCase *hive = tcase_create("hive");
	char *shared = offtest_shared("corpus");

	if (!shared)
		printf("# ../shared is absent: the corpus cabinet cases are skipped\n");
	free(shared);
	tcase_set_timeout(cab, 120);
	tcase_add_test(cab, test_core_malformed_libmspack);
	tcase_add_test(cab, test_core_malformed_cabextract);
	tcase_add_test(cab, test_plugin_corpus_libmspack);
	tcase_add_test(cab, test_plugin_corpus_cabextract);
	tcase_add_test(cab, test_dirwalk_vulns);
	tcase_add_test(cab, test_fuzz_cab_crashers);
	suite_add_tcase(s, cab);

	tcase_set_timeout(xml, 120);
	tcase_add_test(xml, test_xml_external_entity);
	tcase_add_test(xml, test_xml_dtd);
	tcase_add_test(xml, test_xml_billion_laughs);
	tcase_add_test(xml, test_xml_huge_attribute);
	tcase_add_test(xml, test_xml_wrong_namespace);
	tcase_add_test(xml, test_xml_missing_identity_fields);
	tcase_add_test(xml, test_xml_not_xml);
	suite_add_tcase(s, xml);

	tcase_add_test(paths, test_destination_escapes);
	tcase_add_test(paths, test_manifest_destination_escapes);
	tcase_add_test(paths, test_identity_separators);
	tcase_add_test(paths, test_identity_separators_manifest);
	suite_add_tcase(s, paths);

	tcase_add_test(args, test_dism_overlong);
	tcase_add_test(args, test_dism_malformed);
	suite_add_tcase(s, args);

	tcase_add_test(ini, test_ini_malformed);
	tcase_add_test(ini, test_ini_section_named_like_key);
	suite_add_tcase(s, ini);

	tcase_add_test(hive, test_hive_not_a_hive);
	tcase_add_test(hive, test_hive_directory);
	suite_add_tcase(s, hive);
	return offtest_run(s);
}
