/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <offserv/applicability.h>
#include <offserv/catalogue.h>
#include <offserv/cbs.h>
#include <offserv/engine.h>
#include <offserv/plugin.h>
#include <offserv/plugins.h>
#include <offserv/sitedb.h>
#include <offserv/util.h>

#include "enginefix.h"
#include "testutil.h"

#define TOKEN "31bf3856ad364e35"
#define FOUNDATION_SP1 "Microsoft-Windows-Foundation-Package~" TOKEN "~amd64~~6.1.7601.17514"
#define FOUNDATION_RTM "Microsoft-Windows-Foundation-Package~" TOKEN "~amd64~~6.1.7600.16385"

/* A Windows 7 SP1 x64 image. */
static const struct offserv_installed_package win7sp1[] = {
	{FOUNDATION_SP1, OFFSERV_STATE_INSTALLED},
	{"Microsoft-Windows-Client-Features-Package~" TOKEN "~amd64~~6.1.7601.17514", OFFSERV_STATE_INSTALLED},
	{"Package_for_KB2999226~" TOKEN "~amd64~~6.1.1.1", OFFSERV_STATE_INSTALLED},
	{"Package_for_KB1000000~" TOKEN "~amd64~~6.1.1.1", OFFSERV_STATE_INSTALL_PENDING},
	{"Package_for_KB2000000~" TOKEN "~amd64~~6.1.2.0", OFFSERV_STATE_INSTALLED},
	{"Package_for_KB3000000~" TOKEN "~amd64~~6.1.1.0", OFFSERV_STATE_SUPERSEDED},
	{"Package_for_KB4000000~" TOKEN "~amd64~~6.1.1.0", OFFSERV_STATE_ABSENT},
	{"Microsoft-Windows-ServicingStack~" TOKEN "~amd64~~6.1.7601.23505", OFFSERV_STATE_INSTALLED},
	{"not an identity", OFFSERV_STATE_INSTALLED},
};
#define N_WIN7 (sizeof(win7sp1) / sizeof(win7sp1[0]))

static struct offserv_identity ident(const char *name, const char *arch, const char *version)
{
	struct offserv_identity id = {0};

	id.name = (char *)name;
	id.arch = (char *)arch;
	id.version = (char *)version;
	id.token = TOKEN;
	id.language = "neutral";
	return id;
}

static struct offserv_applicability_result check(const struct offserv_installed_package *inst,
                                                 size_t n, const char *img,
                                                 const struct offserv_identity *id,
                                                 const struct offserv_parent *parents,
                                                 size_t n_parents,
                                                 const struct offserv_identity *installer)
{
	struct offserv_applicability_package pkg = {id, parents, n_parents, installer};
	struct offserv_applicability_result r;

	ck_assert_uint_eq(offserv_applicability_check(inst, n, img, &pkg, &r), OFFSERV_OK);
	ck_assert(r.explain[0] != '\0');
	return r;
}

/* A parent with one alternative: the SP1 foundation, build EQ, service GE. */
static struct offserv_identity sp1_alt;
static struct offserv_parent sp1_parent;

static void setup(void)
{
	sp1_alt = ident("Microsoft-Windows-Foundation-Package", "amd64", "6.1.7601.17514");
	memset(&sp1_parent, 0, sizeof(sp1_parent));
	sp1_parent.ids = &sp1_alt;
	sp1_parent.n_ids = 1;
	sp1_parent.disposition = "detect";
	sp1_parent.build_compare = "EQ";
	sp1_parent.service_compare = "GE";
}

START_TEST(test_applicable)
{
	struct offserv_identity id = ident("Package_for_KB4474419", "amd64", "6.1.2.2");
	struct offserv_applicability_result r =
		check(win7sp1, N_WIN7, "x64", &id, &sp1_parent, 1, NULL);

	ck_assert_int_eq(r.verdict, OFFSERV_APPLICABLE);
	ck_assert_uint_eq(r.hr, OFFSERV_OK);
	/* "amd64" as the image architecture means x64. */
	r = check(win7sp1, N_WIN7, "amd64", &id, &sp1_parent, 1, NULL);
	ck_assert_int_eq(r.verdict, OFFSERV_APPLICABLE);
}
END_TEST

START_TEST(test_arch)
{
	struct offserv_identity x86 = ident("Package_for_KB1", "x86", "6.1.1.1");
	struct offserv_identity arm = ident("Package_for_KB1", "arm64", "6.1.1.1");
	struct offserv_identity wow = ident("Package_for_KB1", "wow64", "6.1.1.1");
	struct offserv_identity neu = ident("Package_for_KB1", "neutral", "6.1.1.1");
	struct offserv_identity msil = ident("Package_for_KB1", "msil", "6.1.1.1");
	struct offserv_identity ia64 = ident("Package_for_KB1", "ia64", "6.1.1.1");
	struct offserv_applicability_result r;

	r = check(win7sp1, N_WIN7, "x64", &x86, NULL, 0, NULL);
	ck_assert_int_eq(r.verdict, OFFSERV_NOT_APPLICABLE_ARCH);
	ck_assert_uint_eq(r.hr, 0x800f081eu);
	ck_assert_ptr_nonnull(strstr(r.explain, "x86"));
	ck_assert_ptr_nonnull(strstr(r.explain, "x64"));
	ck_assert_int_eq(check(win7sp1, N_WIN7, "x64", &arm, NULL, 0, NULL).verdict,
	                 OFFSERV_NOT_APPLICABLE_ARCH);
	ck_assert_int_eq(check(win7sp1, N_WIN7, "x64", &ia64, NULL, 0, NULL).verdict,
	                 OFFSERV_NOT_APPLICABLE_ARCH);
	ck_assert_int_eq(check(win7sp1, N_WIN7, "x64", &wow, NULL, 0, NULL).verdict, OFFSERV_APPLICABLE);
	ck_assert_int_eq(check(NULL, 0, "x86", &wow, NULL, 0, NULL).verdict,
	                 OFFSERV_NOT_APPLICABLE_ARCH);
	ck_assert_int_eq(check(NULL, 0, "x86", &x86, NULL, 0, NULL).verdict, OFFSERV_APPLICABLE);
	ck_assert_int_eq(check(NULL, 0, "arm64", &arm, NULL, 0, NULL).verdict, OFFSERV_APPLICABLE);
	ck_assert_int_eq(check(NULL, 0, "x86", &neu, NULL, 0, NULL).verdict, OFFSERV_APPLICABLE);
	ck_assert_int_eq(check(NULL, 0, "arm64", &msil, NULL, 0, NULL).verdict, OFFSERV_APPLICABLE);
}
END_TEST

START_TEST(test_bad_input)
{
	struct offserv_identity id = ident("Package_for_KB1", "amd64", NULL);
	struct offserv_identity ok = ident("Package_for_KB1", "amd64", "1.0.0.0");
	struct offserv_applicability_package pkg = {&id, NULL, 0, NULL};
	struct offserv_applicability_result r;

	ck_assert_uint_eq(offserv_applicability_check(NULL, 0, "x64", &pkg, &r),
	                  OFFSERV_E_INVALIDARG);
	pkg.id = &ok;
	ck_assert_uint_eq(offserv_applicability_check(NULL, 0, "ia64", &pkg, &r),
	                  OFFSERV_E_INVALIDARG);
	ck_assert_ptr_nonnull(strstr(r.explain, "ia64"));
}
END_TEST

START_TEST(test_already_installed)
{
	struct offserv_identity same = ident("Package_for_KB2999226", "amd64", "6.1.1.1");
	struct offserv_identity pending = ident("package_for_kb1000000", "amd64", "6.1.1.1");
	struct offserv_identity absent = ident("Package_for_KB4000000", "amd64", "6.1.1.0");
	struct offserv_applicability_result r;

	r = check(win7sp1, N_WIN7, "x64", &same, &sp1_parent, 1, NULL);
	ck_assert_int_eq(r.verdict, OFFSERV_ALREADY_INSTALLED);
	ck_assert_uint_eq(r.hr, OFFSERV_E_ALREADY_EXISTS);
	ck_assert_ptr_nonnull(strstr(r.explain, "Installed"));
	/* Names compare without case; Install Pending counts as installed. */
	r = check(win7sp1, N_WIN7, "x64", &pending, &sp1_parent, 1, NULL);
	ck_assert_int_eq(r.verdict, OFFSERV_ALREADY_INSTALLED);
	ck_assert_ptr_nonnull(strstr(r.explain, "Install Pending"));
	/* An Absent row is not an installation. */
	r = check(win7sp1, N_WIN7, "x64", &absent, &sp1_parent, 1, NULL);
	ck_assert_int_eq(r.verdict, OFFSERV_APPLICABLE);
}
END_TEST

START_TEST(test_superseded)
{
	struct offserv_identity older = ident("Package_for_KB2000000", "amd64", "6.1.1.9");
	struct offserv_identity newer = ident("Package_for_KB2000000", "amd64", "6.1.3.0");
	struct offserv_identity marked = ident("Package_for_KB3000000", "amd64", "6.1.1.0");
	struct offserv_identity other_arch = ident("Package_for_KB2000000", "x86", "6.1.1.9");
	struct offserv_applicability_result r;

	r = check(win7sp1, N_WIN7, "x64", &older, &sp1_parent, 1, NULL);
	ck_assert_int_eq(r.verdict, OFFSERV_SUPERSEDED);
	ck_assert_uint_eq(r.hr, 0x800f081eu);
	ck_assert_ptr_nonnull(strstr(r.explain, "6.1.2.0"));
	r = check(win7sp1, N_WIN7, "x64", &newer, &sp1_parent, 1, NULL);
	ck_assert_int_eq(r.verdict, OFFSERV_APPLICABLE);
	r = check(win7sp1, N_WIN7, "x64", &marked, &sp1_parent, 1, NULL);
	ck_assert_int_eq(r.verdict, OFFSERV_SUPERSEDED);
	/* Another architecture is another family (and here another image). */
	r = check(win7sp1, N_WIN7, "x86", &other_arch, NULL, 0, NULL);
	ck_assert_int_eq(r.verdict, OFFSERV_APPLICABLE);
}
END_TEST

START_TEST(test_parent_missing_and_version)
{
	static const struct offserv_installed_package rtm[] = {
		{FOUNDATION_RTM, OFFSERV_STATE_INSTALLED},
	};
	static const struct offserv_installed_package later_qfe[] = {
		{"Microsoft-Windows-Foundation-Package~" TOKEN "~amd64~~6.1.7601.24000",
		 OFFSERV_STATE_INSTALLED},
	};
	static const struct offserv_installed_package older_qfe[] = {
		{"Microsoft-Windows-Foundation-Package~" TOKEN "~amd64~~6.1.7601.17000",
		 OFFSERV_STATE_INSTALLED},
	};
	struct offserv_identity id = ident("Package_for_KB4474419", "amd64", "6.1.2.2");
	struct offserv_applicability_result r;

	/* RTM image: build 7600 is not EQ 7601. */
	r = check(rtm, 1, "x64", &id, &sp1_parent, 1, NULL);
	ck_assert_int_eq(r.verdict, OFFSERV_NOT_APPLICABLE_PARENT);
	ck_assert_uint_eq(r.hr, 0x800f081eu);
	ck_assert_ptr_nonnull(strstr(r.explain, "6.1.7600.16385"));
	ck_assert_ptr_nonnull(strstr(r.explain, "Microsoft-Windows-Foundation-Package"));
	/* Revision 24000 >= 17514: service GE holds. */
	ck_assert_int_eq(check(later_qfe, 1, "x64", &id, &sp1_parent, 1, NULL).verdict,
	                 OFFSERV_APPLICABLE);
	/* Revision 17000 < 17514. */
	ck_assert_int_eq(check(older_qfe, 1, "x64", &id, &sp1_parent, 1, NULL).verdict,
	                 OFFSERV_NOT_APPLICABLE_PARENT);
	/* No parent at all. */
	r = check(NULL, 0, "x64", &id, &sp1_parent, 1, NULL);
	ck_assert_int_eq(r.verdict, OFFSERV_NOT_APPLICABLE_PARENT);
	ck_assert_ptr_nonnull(strstr(r.explain, "none"));
}
END_TEST

START_TEST(test_parent_compare_rules)
{
	static const struct offserv_installed_package img[] = {
		{"Microsoft-Windows-Foundation-Package~" TOKEN "~amd64~~6.1.7601.17514",
		 OFFSERV_STATE_INSTALLED},
	};
	struct offserv_identity id = ident("Package_for_KB1", "amd64", "6.1.1.1");
	struct offserv_identity alt = ident("Microsoft-Windows-Foundation-Package", "amd64", "6.1.7601.17514");
	struct offserv_parent par = {&alt, 1, "detect", NULL, NULL, NULL, NULL};

	/* Revision EQ. */
	par.build_compare = "EQ";
	par.revision_compare = "EQ";
	ck_assert_int_eq(check(img, 1, "x64", &id, &par, 1, NULL).verdict, OFFSERV_APPLICABLE);
	alt.version = "6.1.7601.17515";
	ck_assert_int_eq(check(img, 1, "x64", &id, &par, 1, NULL).verdict,
	                 OFFSERV_NOT_APPLICABLE_PARENT);
	/* Build GE: a later build satisfies, an earlier does not. */
	par.build_compare = "GE";
	par.revision_compare = NULL;
	alt.version = "6.1.7600.0";
	ck_assert_int_eq(check(img, 1, "x64", &id, &par, 1, NULL).verdict, OFFSERV_APPLICABLE);
	alt.version = "6.1.7602.0";
	ck_assert_int_eq(check(img, 1, "x64", &id, &par, 1, NULL).verdict,
	                 OFFSERV_NOT_APPLICABLE_PARENT);
	/* No compare attribute: the version is a minimum. */
	par.build_compare = NULL;
	alt.version = "6.1.7601.17000";
	ck_assert_int_eq(check(img, 1, "x64", &id, &par, 1, NULL).verdict, OFFSERV_APPLICABLE);
	alt.version = "6.1.7601.20000";
	ck_assert_int_eq(check(img, 1, "x64", &id, &par, 1, NULL).verdict,
	                 OFFSERV_NOT_APPLICABLE_PARENT);
	/* An unknown operator fails the parent. */
	alt.version = "6.1.7601.17514";
	par.build_compare = "XX";
	ck_assert_int_eq(check(img, 1, "x64", &id, &par, 1, NULL).verdict,
	                 OFFSERV_NOT_APPLICABLE_PARENT);
	/* A parent of another disposition does not restrict. */
	par.disposition = "staged";
	ck_assert_int_eq(check(img, 1, "x64", &id, &par, 1, NULL).verdict, OFFSERV_APPLICABLE);
	/* The parent's architecture must match. */
	par.disposition = NULL;
	par.build_compare = "EQ";
	alt.arch = "x86";
	ck_assert_int_eq(check(img, 1, "x64", &id, &par, 1, NULL).verdict,
	                 OFFSERV_NOT_APPLICABLE_PARENT);
}
END_TEST

START_TEST(test_parent_alternatives)
{
	static const struct offserv_installed_package server[] = {
		{"Microsoft-Windows-Server-Features-Package~" TOKEN "~amd64~~6.1.7601.17514",
		 OFFSERV_STATE_INSTALLED},
		{"Microsoft-Windows-Client-Features-Package~" TOKEN "~amd64~~6.1.7601.17514",
		 OFFSERV_STATE_STAGED},
	};
	struct offserv_identity alts[3] = {
		ident("Microsoft-Windows-Client-Features-Package", "amd64", "6.1.7601.17514"),
		ident("Microsoft-Windows-Server-Features-Package", "amd64", "6.1.7601.17514"),
		ident("Microsoft-Windows-EmbeddedCore-Package", "amd64", "6.1.7601.17514"),
	};
	struct offserv_parent par = {alts, 3, "detect", NULL, "EQ", "GE", NULL};
	struct offserv_parent two[2] = {par, sp1_parent};
	struct offserv_identity id = ident("Package_for_KB3118401", "amd64", "6.1.1.1");

	/* One alternative present is enough; a Staged one does not count. */
	ck_assert_int_eq(check(server, 2, "x64", &id, &par, 1, NULL).verdict, OFFSERV_APPLICABLE);
	ck_assert_int_eq(check(server + 1, 1, "x64", &id, &par, 1, NULL).verdict,
	                 OFFSERV_NOT_APPLICABLE_PARENT);
	/* Every <parent> must be satisfied: the second one (foundation) is missing. */
	ck_assert_int_eq(check(server, 2, "x64", &id, two, 2, NULL).verdict,
	                 OFFSERV_NOT_APPLICABLE_PARENT);
}
END_TEST

START_TEST(test_servicing_stack)
{
	static const struct offserv_installed_package w10[] = {
		{"Package_for_ServicingStack_3570~" TOKEN "~amd64~~19041.3570.1.1", OFFSERV_STATE_INSTALLED},
		{"Package_for_ServicingStack_3636~" TOKEN "~amd64~~19041.3636.1.2", OFFSERV_STATE_INSTALLED},
		{"Package_for_ServicingStack_9999~" TOKEN "~amd64~~19041.9999.1.2", OFFSERV_STATE_ABSENT},
	};
	struct offserv_identity id = ident("Package_for_RollupFix", "amd64", "19041.4046.1.8");
	struct offserv_identity need_new = ident("Microsoft-Windows-ServicingStack", "amd64", "10.0.19041.3900");
	struct offserv_identity need_old = ident("Microsoft-Windows-ServicingStack", "amd64", "10.0.19041.3600");
	struct offserv_identity need_w7 = ident("Microsoft-Windows-ServicingStack", "amd64", "6.0.0.0");
	struct offserv_identity need_w7_new = ident("Microsoft-Windows-ServicingStack", "amd64", "6.1.7601.24000");
	struct offserv_applicability_result r;
	char v[32];

	ck_assert_int_eq(offserv_image_servicing_stack_version(w10, 3, v), 0);
	ck_assert_str_eq(v, "10.0.19041.3636");
	ck_assert_int_eq(offserv_image_servicing_stack_version(win7sp1, N_WIN7, v), 0);
	ck_assert_str_eq(v, "6.1.7601.23505");
	ck_assert_int_eq(offserv_image_servicing_stack_version(NULL, 0, v), -1);

	r = check(w10, 3, "x64", &id, NULL, 0, &need_new);
	ck_assert_int_eq(r.verdict, OFFSERV_NEEDS_NEWER_SSU);
	ck_assert_uint_eq(r.hr, 0x800f0823u);
	ck_assert_ptr_nonnull(strstr(r.explain, "10.0.19041.3900"));
	ck_assert_ptr_nonnull(strstr(r.explain, "10.0.19041.3636"));
	ck_assert_int_eq(check(w10, 3, "x64", &id, NULL, 0, &need_old).verdict, OFFSERV_APPLICABLE);
	/* Windows 7 packages ask for 6.0.0.0: any stack will do. */
	ck_assert_int_eq(check(win7sp1, N_WIN7, "x64", &id, &sp1_parent, 1, &need_w7).verdict,
	                 OFFSERV_APPLICABLE);
	ck_assert_int_eq(check(win7sp1, N_WIN7, "x64", &id, &sp1_parent, 1, &need_w7_new).verdict,
	                 OFFSERV_NEEDS_NEWER_SSU);
	/* Unknown stack: the rule does not block. */
	ck_assert_int_eq(check(NULL, 0, "x64", &id, NULL, 0, &need_new).verdict, OFFSERV_APPLICABLE);
}
END_TEST

START_TEST(test_order_of_rules)
{
	static const struct offserv_installed_package img[] = {
		{"Package_for_RollupFix~" TOKEN "~amd64~~19041.4046.1.8", OFFSERV_STATE_INSTALLED},
		{"Package_for_ServicingStack_3636~" TOKEN "~amd64~~19041.3636.1.2", OFFSERV_STATE_INSTALLED},
	};
	struct offserv_identity id = ident("Package_for_RollupFix", "amd64", "19041.4046.1.8");
	struct offserv_identity x86 = ident("Package_for_RollupFix", "x86", "19041.4046.1.8");
	struct offserv_identity need = ident("Microsoft-Windows-ServicingStack", "amd64", "10.0.19041.9999");

	/* Architecture first, then already installed, before parents and stack. */
	ck_assert_int_eq(check(img, 2, "x64", &x86, &sp1_parent, 1, &need).verdict,
	                 OFFSERV_NOT_APPLICABLE_ARCH);
	ck_assert_int_eq(check(img, 2, "x64", &id, &sp1_parent, 1, &need).verdict,
	                 OFFSERV_ALREADY_INSTALLED);
	id.version = "19041.4100.1.1";
	ck_assert_int_eq(check(img, 2, "x64", &id, &sp1_parent, 1, &need).verdict,
	                 OFFSERV_NOT_APPLICABLE_PARENT);
	ck_assert_int_eq(check(img, 2, "x64", &id, NULL, 0, &need).verdict, OFFSERV_NEEDS_NEWER_SSU);
}
END_TEST

START_TEST(test_from_mum)
{
	static const char mum_xml[] =
		"\xef\xbb\xbf<?xml version=\"1.0\" encoding=\"utf-8\"?>"
		"<assembly xmlns=\"urn:schemas-microsoft-com:asm.v3\" manifestVersion=\"1.0\">"
		"<assemblyIdentity name=\"Package_16_for_KB4474419\" version=\"6.1.2.2\" language=\"neutral\" "
		"processorArchitecture=\"amd64\" publicKeyToken=\"31bf3856ad364e35\"/>"
		"<package identifier=\"KB4474419\" releaseType=\"Security Update\">"
		"<parent buildCompare=\"EQ\" serviceCompare=\"GE\" integrate=\"separate\" disposition=\"detect\">"
		"<assemblyIdentity name=\"Microsoft-Windows-Foundation-Package\" language=\"neutral\" "
		"version=\"6.1.7601.17514\" processorArchitecture=\"amd64\" publicKeyToken=\"31bf3856ad364e35\"/>"
		"</parent>"
		"<installerAssembly name=\"Microsoft-Windows-ServicingStack\" version=\"6.0.0.0\" "
		"language=\"neutral\" processorArchitecture=\"amd64\" publicKeyToken=\"31bf3856ad364e35\"/>"
		"</package></assembly>";
	struct offserv_mum *mum = NULL;
	struct offserv_applicability_result r;
	static const struct offserv_installed_package rtm[] = {{FOUNDATION_RTM, 0x70}};
	char merr[256];
	offserv_status st = offserv_mum_parse(mum_xml, sizeof(mum_xml) - 1, &mum, merr, sizeof(merr));

	ck_assert_msg(st == OFFSERV_OK, "mum parse: 0x%08x %s", st, merr);
	ck_assert_uint_eq(offserv_applicability_check_mum(win7sp1, N_WIN7, "x64", mum, &r), OFFSERV_OK);
	ck_assert_int_eq(r.verdict, OFFSERV_APPLICABLE);
	ck_assert_uint_eq(offserv_applicability_check_mum(rtm, 1, "x64", mum, &r), OFFSERV_OK);
	ck_assert_int_eq(r.verdict, OFFSERV_NOT_APPLICABLE_PARENT);
	ck_assert_uint_eq(offserv_applicability_check_mum(win7sp1, N_WIN7, "x86", mum, &r), OFFSERV_OK);
	ck_assert_int_eq(r.verdict, OFFSERV_NOT_APPLICABLE_ARCH);
	offserv_mum_free(mum);
}
END_TEST

START_TEST(test_names)
{
	ck_assert_str_eq(offserv_applicability_name(OFFSERV_APPLICABLE), "applicable");
	ck_assert_str_eq(offserv_applicability_name(OFFSERV_NEEDS_NEWER_SSU),
	                 "needs a newer servicing stack");
	ck_assert_str_eq(offserv_arch_to_image("AMD64"), "x64");
	ck_assert_ptr_null(offserv_arch_to_image("wow64"));
}
END_TEST

/* ---------------------------------------------------------------------- */
/* The same rules over the site database: offserv_catalogue_applicable(). */

#define W10_FOUNDATION "Microsoft-Windows-Foundation-Package~" TOKEN "~amd64~~10.0.19041.1"

static int64_t add_lib_update(struct offserv_sitedb *db, int n, const char *arch,
                              const char *const *pkgs, size_t n_pkgs, const char *parent,
                              const char *installer_version)
{
	struct offserv_update_rec r = {0};
	struct offserv_update_package_rec p[4] = {{0}};
	struct offserv_update_parent_rec par = {0};
	char err[512], file[32];
	int64_t id = 0;

	snprintf(r.sha256, sizeof(r.sha256), "%064x", n);
	snprintf(file, sizeof(file), "u%d.msu", n);
	r.file_name = file;
	r.library_path = file;
	r.format = "msu";
	r.arch = (char *)arch;
	r.kb = file;
	for (size_t i = 0; i < n_pkgs; i++) {
		struct offserv_identity id_ = {0};

		ck_assert_uint_eq(offserv_identity_parse_package_string(pkgs[i], &id_), OFFSERV_OK);
		p[i].identity = (char *)pkgs[i];
		p[i].name = strdup(id_.name);
		p[i].version = strdup(id_.version);
		p[i].arch = strdup(id_.arch);
		p[i].is_ssu = strstr(pkgs[i], "ServicingStack") != NULL;
		p[i].supported = 1;
		p[i].installer_version = (char *)installer_version;
		offserv_identity_clear(&id_);
	}
	par.package_seq = -1;
	par.identity = (char *)parent;
	ck_assert_uint_eq(offserv_sitedb_update_insert(db, &r, p, n_pkgs, parent ? &par : NULL,
	                                               parent ? 1 : 0, &id, err, sizeof(err)),
	                  OFFSERV_OK);
	for (size_t i = 0; i < n_pkgs; i++) {
		free(p[i].name);
		free(p[i].version);
		free(p[i].arch);
	}
	return id;
}

static const struct offserv_applicable_update *verdict_of(const struct offserv_applicable_update *a,
                                                          size_t n, int64_t id, int index)
{
	for (size_t i = 0; i < n; i++)
		if (a[i].update_id == id && a[i].index == index)
			return &a[i];
	ck_abort_msg("no verdict for update %lld index %d", (long long)id, index);
	return NULL;
}

START_TEST(test_catalogue_applicable)
{
	char *tmp = offtest_tmpdir();
	char *path = offtest_strdup_printf("%s/site.db", tmp);
	struct offserv_sitedb *db = NULL;
	struct offserv_image_rec img = {0};
	struct offserv_image_index_rec idx[2] = {{0}};
	struct offserv_image_package_rec pk[4] = {{0}};
	struct offserv_applicable_update *a = NULL;
	struct offserv_update_filter f = {0};
	char id[OFFSERV_PACKAGE_ID_LEN], err[512];
	size_t n = 0;
	int64_t lcu, old_lcu, x86u, orphan, bundle, ssu_needed, empty;

	ck_assert_uint_eq(offserv_sitedb_open(path, NULL, &db, err, sizeof(err)), OFFSERV_OK);
	img.source_path = "/w.wim";
	idx[0].index = 1;
	idx[0].arch = "x64";
	idx[1].index = 2;
	idx[1].arch = "x64";
	pk[0].index = 1;
	pk[0].identity = W10_FOUNDATION;
	pk[0].state = 0x70;
	pk[1].index = 1;
	pk[1].identity = "Package_for_RollupFix~" TOKEN "~amd64~~19041.3930.1.6";
	pk[1].state = 0x70;
	pk[2].index = 1;
	pk[2].identity = "Package_for_ServicingStack_3636~" TOKEN "~amd64~~19041.3636.1.2";
	pk[2].state = 0x70;
	pk[3].index = 2; /* index 2 lacks the foundation package */
	pk[3].identity = "Microsoft-Windows-Other-Package~" TOKEN "~amd64~~10.0.19041.1";
	pk[3].state = 0x70;
	ck_assert_uint_eq(offserv_sitedb_image_insert(db, &img, idx, 2, pk, 4, id, err, sizeof(err)),
	                  OFFSERV_OK);

	{
		const char *p1[] = {"Package_for_RollupFix~" TOKEN "~amd64~~19041.4046.1.8"};
		const char *p2[] = {"Package_for_RollupFix~" TOKEN "~amd64~~19041.3000.1.1"};
		const char *p3[] = {"Package_for_KB1~" TOKEN "~x86~~10.0.1.1"};
		const char *p4[] = {"Package_for_KB2~" TOKEN "~amd64~~10.0.1.1"};
		const char *p5[] = {"Package_for_ServicingStack_4040~" TOKEN "~amd64~~19041.4040.1.1",
		                    "Package_for_RollupFix~" TOKEN "~amd64~~19041.4046.1.9"};
		const char *p6[] = {"Package_for_KB3~" TOKEN "~amd64~~10.0.1.1"};

		lcu = add_lib_update(db, 1, "x64", p1, 1, W10_FOUNDATION, NULL);
		old_lcu = add_lib_update(db, 2, "x64", p2, 1, W10_FOUNDATION, NULL);
		x86u = add_lib_update(db, 3, "x86", p3, 1, NULL, NULL);
		orphan = add_lib_update(db, 4, "x64", p4,
		                        1, "Microsoft-Windows-Absent-Package~" TOKEN "~amd64~~10.0.19041.1",
		                        NULL);
		bundle = add_lib_update(db, 5, "x64", p5, 2, W10_FOUNDATION, NULL);
		ssu_needed = add_lib_update(db, 6, "x64", p6, 1, W10_FOUNDATION, "10.0.19041.9999");
		empty = add_lib_update(db, 7, "x64", NULL, 0, NULL, NULL);
	}

	ck_assert_uint_eq(offserv_catalogue_applicable(db, id, 1, NULL, 0, &a, &n, err, sizeof(err)),
	                  OFFSERV_OK);
	ck_assert_uint_eq(n, 7);
	ck_assert_int_eq(verdict_of(a, n, lcu, 1)->verdict, OFFSERV_APPLICABLE);
	ck_assert_uint_eq(verdict_of(a, n, lcu, 1)->hr, OFFSERV_OK);
	ck_assert_int_eq(verdict_of(a, n, old_lcu, 1)->verdict, OFFSERV_SUPERSEDED);
	ck_assert_int_eq(verdict_of(a, n, old_lcu, 1)->superseded_by, bundle);
	ck_assert_int_eq(verdict_of(a, n, x86u, 1)->verdict, OFFSERV_NOT_APPLICABLE_ARCH);
	ck_assert_int_eq(verdict_of(a, n, orphan, 1)->verdict, OFFSERV_NOT_APPLICABLE_PARENT);
	ck_assert_ptr_nonnull(strstr(verdict_of(a, n, orphan, 1)->explain, "Absent-Package"));
	ck_assert_int_eq(verdict_of(a, n, bundle, 1)->verdict, OFFSERV_APPLICABLE);
	ck_assert_int_eq(verdict_of(a, n, ssu_needed, 1)->verdict, OFFSERV_NEEDS_NEWER_SSU);
	ck_assert_uint_eq(verdict_of(a, n, ssu_needed, 1)->hr, 0x800f0823u);
	ck_assert_int_eq(verdict_of(a, n, empty, 1)->verdict, OFFSERV_NOT_APPLICABLE_PARENT);
	offserv_applicable_updates_free(a, n);

	/* Only those that apply, over every index: index 2 has no foundation package. */
	ck_assert_uint_eq(offserv_catalogue_applicable(db, id, 0, NULL, 1, &a, &n, err, sizeof(err)),
	                  OFFSERV_OK);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(a[0].index, 1);
	ck_assert_int_eq(a[1].index, 1);
	offserv_applicable_updates_free(a, n);

	/* The library filter narrows the candidates. */
	f.text = "u5.msu";
	ck_assert_uint_eq(offserv_catalogue_applicable(db, id, 1, &f, 0, &a, &n, err, sizeof(err)),
	                  OFFSERV_OK);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(a[0].update_id, bundle);
	offserv_applicable_updates_free(a, n);

	ck_assert_uint_eq(offserv_catalogue_applicable(db, id, 9, NULL, 0, &a, &n, err, sizeof(err)),
	                  OFFSERV_E_NOT_FOUND);
	ck_assert_uint_eq(offserv_catalogue_applicable(db, "OFS0FFFF", 1, NULL, 0, &a, &n, err,
	                                               sizeof(err)),
	                  OFFSERV_E_NOT_FOUND);

	{
		char *json = NULL;

		ck_assert_uint_eq(offserv_catalogue_update_json(db, bundle, &json, err, sizeof(err)),
		                  OFFSERV_OK);
		ck_assert_ptr_nonnull(strstr(json, "\"is_ssu\":true"));
		ck_assert_ptr_nonnull(strstr(json, "\"superseded_by\":null"));
		ck_assert_ptr_nonnull(strstr(json, "\"parents\":[\"" W10_FOUNDATION "\"]"));
		free(json);
	}
	offserv_sitedb_close(db);
	offtest_rmtree(tmp);
	free(tmp);
	free(path);
}
END_TEST

/* ---------------------------------------------------------------------- */
/*
 * The catalogue and the servicing engine agree: packages made by
 * offserv-mkfixture, read through the real update-format plugins into the
 * site database, judged by offserv_catalogue_applicable(), then given to
 * offserv_engine_service() on the very image the catalogue imported.
 */

static char *plugin_dir(void)
{
	return offtest_strdup_printf("%s/plugins/.libs", offtest_builddir());
}

static void quiet_log(const struct offserv_host *host, enum offserv_loglevel level,
                      const char *plugin, const char *fmt, ...)
{
	(void)host;
	(void)level;
	(void)plugin;
	(void)fmt;
}

struct agree {
	char *dir, *wim, *scratch;
	struct offserv_sitedb *db;
	struct offserv_plugins *plugins;
	struct offserv_host host;
	char image[OFFSERV_PACKAGE_ID_LEN];
};

static void agree_init(struct agree *w)
{
	struct offserv_catalogue_options co = {0};
	struct offserv_catalogue_import_result res;
	struct offserv_plugins_options po = {0};
	char *path, *dir = plugin_dir(), err[1024] = "";
	offserv_status st;

	memset(w, 0, sizeof(*w));
	w->dir = offtest_tmpdir();
	w->wim = offtest_strdup_printf("%s/install.wim", w->dir);
	w->scratch = offtest_strdup_printf("%s/scratch", w->dir);
	ck_assert_int_eq(mkdir(w->scratch, 0755), 0);
	ef_mk_quiet("image", w->wim, "--indexes", "1", "--compress", "none", "--files", "4", "--size-mb", "1",
	   "--build", "19041", "--seed", "7", NULL);

	path = offtest_strdup_printf("%s/site.db", w->dir);
	ck_assert_uint_eq(offserv_sitedb_open(path, NULL, &w->db, err, sizeof(err)), OFFSERV_OK);
	free(path);
	co.storage = OFFSERV_CATALOGUE_REFERENCE;
	co.scratch_dir = w->scratch;
	memset(&res, 0, sizeof(res));
	st = offserv_catalogue_import_image(w->db, &co, w->wim, &res, err, sizeof(err));
	ck_assert_msg(st == OFFSERV_OK, "import: 0x%08x %s", st, err);
	snprintf(w->image, sizeof(w->image), "%s", res.package_id);
	offserv_catalogue_import_result_clear(&res);

	w->host.abi_version = OFFSERV_PLUGIN_ABI_VERSION;
	w->host.log = quiet_log;
	po.directory = dir;
	po.host = &w->host;
	po.allow_insecure = 1;
	ck_assert_msg(offserv_plugins_load(&po, &w->plugins, err, sizeof(err)) == OFFSERV_OK, "%s",
	              err);
	ck_assert_ptr_nonnull(offserv_plugins_find(w->plugins, "cab"));
	free(dir);
}

static void agree_free(struct agree *w)
{
	offserv_plugins_unload(w->plugins);
	offserv_sitedb_close(w->db);
	offtest_rmtree(w->dir);
	free(w->dir);
	free(w->wim);
	free(w->scratch);
}

/* A package folder made by mkfixture: mk package DIR --kb KB [2 more arguments]. */
static char *make_pkg(struct agree *w, const char *kb, const char *opt, const char *val)
{
	char *dir = offtest_strdup_printf("%s/pkg-%s", w->dir, kb);

	ef_mk_quiet("package", dir, "--kb", kb, "--files", "1", "--size-kb", "4", opt, val, NULL);
	return dir;
}

/* Import an update file into the site database the way the content library does. */
static int64_t import_update(struct agree *w, const char *plugin, const char *file)
{
	const struct offserv_loaded_plugin *pl = offserv_plugins_find(w->plugins, plugin);
	struct offserv_update_info *info = NULL;
	struct offserv_update_package_rec *pk = NULL;
	struct offserv_update_parent_rec *pa = NULL;
	struct offserv_update_rec rec;
	size_t npk = 0, npa = 0;
	char err[1024] = "";
	int64_t id = 0;
	offserv_status st;

	ck_assert_ptr_nonnull(pl);
	st = offserv_catalogue_read_update_info(pl, file, &info, err, sizeof(err));
	ck_assert_msg(st == OFFSERV_OK, "read %s: 0x%08x %s", file, st, err);
	ck_assert_uint_eq(offserv_catalogue_update_rows(info, &pk, &npk, &pa, &npa, err, sizeof(err)),
	                  OFFSERV_OK);
	memset(&rec, 0, sizeof(rec));
	snprintf(rec.sha256, sizeof(rec.sha256), "%s", info->sha256);
	rec.file_name = (char *)file;
	rec.library_path = (char *)file;
	rec.format = info->format;
	rec.kb = info->kb;
	rec.arch = info->arch;
	rec.size = info->size;
	rec.supported = 1;
	st = offserv_sitedb_update_insert(w->db, &rec, pk, npk, pa, npa, &id, err, sizeof(err));
	ck_assert_msg(st == OFFSERV_OK, "insert: 0x%08x %s", st, err);
	free(pk);
	free(pa);
	offserv_update_info_free(info);
	return id;
}

static struct offserv_applicable_update judge(struct agree *w, int64_t id)
{
	struct offserv_applicable_update *a = NULL, r;
	size_t n = 0;
	char err[1024] = "";
	int found = 0;

	ck_assert_uint_eq(offserv_catalogue_applicable(w->db, w->image, 1, NULL, 0, &a, &n, err,
	                                               sizeof(err)),
	                  OFFSERV_OK);
	memset(&r, 0, sizeof(r));
	for (size_t i = 0; i < n; i++)
		if (a[i].update_id == id) {
			r = a[i];
			r.explain = strdup(a[i].explain ? a[i].explain : "");
			r.file_name = r.kb = r.title = r.package = NULL;
			found = 1;
		}
	offserv_applicable_updates_free(a, n);
	ck_assert_msg(found, "no verdict for update %lld", (long long)id);
	return r;
}

/* Service one package folder with the engine; its HRESULT on index 1. */
static offserv_status engine_verdict(struct agree *w, const char *dir, char *msg, size_t len)
{
	struct offserv_engine_package pkg = {0};
	struct offserv_engine_options o;
	struct offserv_engine_report rep;
	char err[1024] = "";
	offserv_status st = OFFSERV_E_UNEXPECTED;

	ef_engine_options(&o, w->wim, w->scratch, 0);
	memset(&rep, 0, sizeof(rep));
	pkg.dir = dir;
	offserv_engine_service(&o, &pkg, 1, &rep, err, sizeof(err));
	for (size_t i = 0; i < rep.n_results; i++)
		if (rep.results[i].index == 1 && rep.results[i].package == 0) {
			st = rep.results[i].status;
			snprintf(msg, len, "%s", rep.results[i].message);
		}
	offserv_engine_report_clear(&rep);
	return st;
}

/* A package folder made by make_pkg(), its CAB imported into the site database and judged. */
static struct offserv_applicable_update judge_cab(struct agree *w, const char *kb, const char *opt,
                                                  const char *val, char **dir, char **cab)
{
	*dir = make_pkg(w, kb, opt, val);
	*cab = offtest_strdup_printf("%s/Windows10.0-KB%s-x64.cab", *dir, kb);
	return judge(w, import_update(w, "cab", *cab));
}

/* The engine refuses the package folder with the HRESULT of the catalogue's verdict. */
static void assert_engine_agrees(struct agree *w, const char *dir,
                                 const struct offserv_applicable_update *v)
{
	char msg[1024] = "";
	offserv_status hr = engine_verdict(w, dir, msg, sizeof(msg));

	ck_assert_msg(hr == v->hr, "engine 0x%08x (%s), catalogue 0x%08x (%s)", hr, msg, v->hr,
	              v->explain);
}

START_TEST(test_agree_parent_build)
{
	struct agree w;
	struct offserv_applicable_update v;
	char *dir, *cab;

	agree_init(&w);
	/* The parent asks for build 19045 (buildCompare EQ); the image is 19041. */
	v = judge_cab(&w, "5090001", "--parent",
	              "Microsoft-Windows-Client-Features-Package~" TOKEN "~amd64~~10.0.19045.1", &dir,
	              &cab);
	ck_assert_int_eq(v.verdict, OFFSERV_NOT_APPLICABLE_PARENT);
	ck_assert_int_eq(v.rule, OFFSERV_RULE_PARENT_TOO_OLD);
	ck_assert_uint_eq(v.hr, 0x800f081eu);
	ck_assert_msg(strstr(v.explain, "10.0.19045.1") != NULL, "%s", v.explain);
	assert_engine_agrees(&w, dir, &v);
	free(v.explain);
	free(cab);
	free(dir);

	/* An older build with buildCompare EQ: "this version or higher" would
	 * take it; the compare attribute, carried through the plugin, refuses
	 * it as the engine does. */
	v = judge_cab(&w, "5090004", "--parent",
	              "Microsoft-Windows-Client-Features-Package~" TOKEN "~amd64~~10.0.18363.1", &dir,
	              &cab);
	ck_assert_msg(v.verdict == OFFSERV_NOT_APPLICABLE_PARENT, "%s", v.explain);
	ck_assert_int_eq(v.rule, OFFSERV_RULE_PARENT_MISMATCH);
	ck_assert_uint_eq(v.hr, 0x800f081eu);
	assert_engine_agrees(&w, dir, &v);
	free(v.explain);
	free(cab);
	free(dir);
	agree_free(&w);
}
END_TEST

START_TEST(test_agree_servicing_stack)
{
	struct agree w;
	struct offserv_applicable_update v;
	char *dir, *cab, *msu;
	int64_t id, id_msu;

	agree_init(&w);
	/* The image's stack is only named under CBS\Version (10.0.19041.x). */
	dir = make_pkg(&w, "5090002", "--needs-ssu", "10.0.19041.9999");
	cab = offtest_strdup_printf("%s/Windows10.0-KB5090002-x64.cab", dir);
	msu = offtest_strdup_printf("%s/windows10.0-kb5090002-x64.msu", w.dir);
	ef_mk_quiet("msu", msu, "--cab", cab, "--kb", "5090002", NULL);
	id = import_update(&w, "cab", cab);
	id_msu = import_update(&w, "msu", msu);
	v = judge(&w, id);
	ck_assert_int_eq(v.verdict, OFFSERV_NEEDS_NEWER_SSU);
	ck_assert_int_eq(v.rule, OFFSERV_RULE_SERVICING_STACK);
	ck_assert_uint_eq(v.hr, 0x800f0823u);
	ck_assert_msg(strstr(v.explain, "10.0.19041.9999") != NULL, "%s", v.explain);
	free(v.explain);
	/* The same package inside an MSU: the same verdict. */
	v = judge(&w, id_msu);
	ck_assert_int_eq(v.verdict, OFFSERV_NEEDS_NEWER_SSU);
	ck_assert_uint_eq(v.hr, 0x800f0823u);
	assert_engine_agrees(&w, dir, &v);
	free(v.explain);
	free(cab);
	free(msu);
	free(dir);
	agree_free(&w);
}
END_TEST

/* The control: a package both accept, so the refusals above are not the only answer. */
START_TEST(test_agree_applicable)
{
	struct agree w;
	struct offserv_applicable_update v;
	char *dir, *cab, msg[1024] = "";
	offserv_status hr;

	agree_init(&w);
	v = judge_cab(&w, "5090003", "--needs-ssu", "10.0.19041.1", &dir, &cab);
	ck_assert_msg(v.verdict == OFFSERV_APPLICABLE, "%s", v.explain);
	ck_assert_int_eq(v.rule, OFFSERV_RULE_APPLIES);
	hr = engine_verdict(&w, dir, msg, sizeof(msg));
	ck_assert_msg(hr == OFFSERV_OK, "engine 0x%08x: %s", hr, msg);
	free(v.explain);
	free(cab);
	free(dir);
	agree_free(&w);
}
END_TEST

/* The servicing stack row import records for a fresh image, and its JSON. */
START_TEST(test_import_records_stack)
{
	struct agree w;
	struct offserv_image_package_rec *pk = NULL;
	struct offserv_installed_package *inst;
	size_t n = 0;
	char err[512], v[32];
	int rows = 0;

	agree_init(&w);
	ck_assert_uint_eq(offserv_sitedb_package_list(w.db, w.image, 1, &pk, &n, err, sizeof(err)),
	                  OFFSERV_OK);
	inst = calloc(n + 1, sizeof(*inst));
	for (size_t i = 0; i < n; i++) {
		inst[i].identity = pk[i].identity;
		inst[i].state = pk[i].state;
		if (!strncmp(pk[i].identity, "Microsoft-Windows-ServicingStack~" TOKEN "~amd64~~", 47)) {
			rows++;
			ck_assert_uint_eq(pk[i].state, OFFSERV_STATE_INSTALLED);
		}
	}
	ck_assert_int_eq(rows, 1);
	ck_assert_int_eq(offserv_image_servicing_stack_version(inst, n, v), 0);
	ck_assert_int_eq(strncmp(v, "10.0.19041.", 11), 0);
	free(inst);
	offserv_image_package_recs_free(pk, n);
	agree_free(&w);
}
END_TEST

START_TEST(test_rule_names_and_json)
{
	struct offserv_applicable_update u[2];
	char *json = NULL, err[256];

	ck_assert_str_eq(offserv_applicability_rule_name(OFFSERV_RULE_PARENT_TOO_OLD),
	                 "parent too old");
	ck_assert_str_eq(offserv_applicability_rule_name(OFFSERV_RULE_SERVICING_STACK),
	                 "servicing stack too old");
	memset(u, 0, sizeof(u));
	u[0].update_id = 16777217;
	u[0].index = 1;
	u[0].kb = "KB1\"2";
	u[0].verdict = OFFSERV_NEEDS_NEWER_SSU;
	u[0].rule = OFFSERV_RULE_SERVICING_STACK;
	u[0].hr = 0x800f0823u;
	u[0].explain = "needs \\ stack";
	u[1].update_id = 16777218;
	u[1].superseded_by = 16777219;
	ck_assert_uint_eq(offserv_catalogue_applicable_json(u, 2, &json, err, sizeof(err)), OFFSERV_OK);
	ck_assert_ptr_nonnull(strstr(json, "\"kb\":\"KB1\\\"2\""));
	ck_assert_ptr_nonnull(strstr(json, "\"rule\":\"servicing stack too old\""));
	ck_assert_ptr_nonnull(strstr(json, "\"hresult\":\"0x800f0823\""));
	ck_assert_ptr_nonnull(strstr(json, "\"explain\":\"needs \\\\ stack\""));
	ck_assert_ptr_nonnull(strstr(json, "\"superseded_by\":16777219"));
	ck_assert_ptr_nonnull(strstr(json, "\"kb\":null"));
	free(json);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("applicability");
	TCase *tc = tcase_create("rules");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_applicable);
	tcase_add_test(tc, test_arch);
	tcase_add_test(tc, test_bad_input);
	tcase_add_test(tc, test_already_installed);
	tcase_add_test(tc, test_superseded);
	tcase_add_test(tc, test_parent_missing_and_version);
	tcase_add_test(tc, test_parent_compare_rules);
	tcase_add_test(tc, test_parent_alternatives);
	tcase_add_test(tc, test_servicing_stack);
	tcase_add_test(tc, test_order_of_rules);
	tcase_add_test(tc, test_from_mum);
	tcase_add_test(tc, test_names);
	suite_add_tcase(s, tc);
	tc = tcase_create("catalogue");
	tcase_add_test(tc, test_catalogue_applicable);
	tcase_add_test(tc, test_rule_names_and_json);
	suite_add_tcase(s, tc);
	{
		char *mkf = ef_mkfixture_path(), *cab = plugin_dir();
		char *so = offtest_strdup_printf("%s/cab.so", cab);
		char *so2 = offtest_strdup_printf("%s/msu.so", cab);

		if (access(mkf, X_OK) != 0) {
			printf("# %s is not built: catalogue/engine agreement cases not run\n", mkf);
		} else if (access(so, R_OK) != 0 || access(so2, R_OK) != 0) {
			printf("# the cab and msu plugins are not built (%s): agreement cases not run\n",
			       cab);
		} else {
			tc = tcase_create("agreement");
			tcase_set_timeout(tc, 300);
			tcase_add_test(tc, test_import_records_stack);
			tcase_add_test(tc, test_agree_parent_build);
			tcase_add_test(tc, test_agree_servicing_stack);
			tcase_add_test(tc, test_agree_applicable);
			suite_add_tcase(s, tc);
		}
		free(mkf);
		free(cab);
		free(so);
		free(so2);
	}
	return offtest_run(s);
}
