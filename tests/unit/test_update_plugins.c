/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The cab and msu update-format plugins, loaded as built, on cabinets and
 * MSUs made here with gcab; pkgProperties.txt and unattend parsing. */
#include <config.h>

#include <dlfcn.h>
#include <fcntl.h>
#include <stddef.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <offserv/cab.h>
#include <offserv/catalogue.h>
#include <offserv/msu.h>
#include <offserv/plugin.h>
#include <offserv/status.h>
#include <offserv/util.h>

#include "testutil.h"

extern char **environ;

#define TOKEN "31bf3856ad364e35"

static int run_quiet(char *const argv[], const char *dir)
{
	posix_spawn_file_actions_t fa;
	char cwd[4096];
	pid_t pid;
	int status, rc;

	if (!getcwd(cwd, sizeof(cwd)) || chdir(dir) != 0)
		return -1;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (chdir(cwd) != 0 || rc != 0)
		return -1;
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

/* Write @p rel under @p dir, creating folders. */
static void put(const char *dir, const char *rel, const void *data, size_t len)
{
	char *path = offtest_strdup_printf("%s/%s", dir, rel);
	char *slash = strrchr(path, '/');

	*slash = '\0';
	ck_assert_uint_eq(offserv_mkdir_p(path, NULL, 0), OFFSERV_OK);
	*slash = '/';
	ck_assert_int_eq(offtest_write_file(path, data, len), 0);
	free(path);
}

static void puts_(const char *dir, const char *rel, const char *text)
{
	put(dir, rel, text, strlen(text));
}

/* Make @p cab (absolute path) from the files @p names (NULL-terminated) under @p dir. */
static void gcab(const char *dir, const char *cab, const char *const names[])
{
	char *argv[32];
	int n = 0;

	argv[n++] = "gcab";
	argv[n++] = "-cz";
	argv[n++] = (char *)cab;
	for (int i = 0; names[i]; i++)
		argv[n++] = (char *)names[i];
	argv[n] = NULL;
	ck_assert_msg(run_quiet(argv, dir) == 0, "gcab failed for %s", cab);
}

static const char *const parents_expected[] = {
	"Microsoft-Windows-Client-Features-Package~" TOKEN "~amd64~~10.0.19041.1",
	"Microsoft-Windows-Server-Features-Package~" TOKEN "~amd64~~10.0.19041.1",
	"Microsoft-Windows-EmbeddedCore-Package~" TOKEN "~amd64~~10.0.19041.1",
};

/* A realistic update.mum (UTF-8 BOM, three parent alternatives). */
static char *mum_text(const char *name, const char *kb, const char *release, const char *component,
                      const char *extra)
{
	return offtest_strdup_printf(
		"\xef\xbb\xbf<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\r\n"
		"<assembly xmlns=\"urn:schemas-microsoft-com:asm.v3\" manifestVersion=\"1.0\" "
		"description=\"Fix for %s\" displayName=\"Security Update for Windows (%s)\" "
		"company=\"Microsoft Corporation\" copyright=\"Microsoft Corporation\" "
		"supportInformation=\"http://support.microsoft.com/?kbid=%s\" "
		"creationTimeStamp=\"2023-10-03T18:00:00Z\" lastUpdateTimeStamp=\"2023-10-03T18:00:00Z\">\r\n"
		"  <assemblyIdentity name=\"%s\" version=\"10.0.1.5\" language=\"neutral\" "
		"processorArchitecture=\"amd64\" publicKeyToken=\"" TOKEN "\"/>\r\n"
		"  <package identifier=\"%s\" releaseType=\"%s\" restart=\"possible\">\r\n"
		"    %s\r\n"
		"    <parent buildCompare=\"EQ\" serviceCompare=\"GE\" integrate=\"separate\" disposition=\"detect\">\r\n"
		"      <assemblyIdentity name=\"Microsoft-Windows-Client-Features-Package\" version=\"10.0.19041.1\" language=\"neutral\" processorArchitecture=\"amd64\" publicKeyToken=\"" TOKEN "\"/>\r\n"
		"      <assemblyIdentity name=\"Microsoft-Windows-Server-Features-Package\" version=\"10.0.19041.1\" language=\"neutral\" processorArchitecture=\"amd64\" publicKeyToken=\"" TOKEN "\"/>\r\n"
		"      <assemblyIdentity name=\"Microsoft-Windows-EmbeddedCore-Package\" version=\"10.0.19041.1\" language=\"neutral\" processorArchitecture=\"amd64\" publicKeyToken=\"" TOKEN "\"/>\r\n"
		"    </parent>\r\n"
		"    <update name=\"%s-1\">\r\n"
		"      <component>\r\n"
		"        <assemblyIdentity name=\"%s\" version=\"10.0.19041.3570\" processorArchitecture=\"amd64\" language=\"neutral\" publicKeyToken=\"" TOKEN "\" buildType=\"release\" versionScope=\"nonSxS\"/>\r\n"
		"      </component>\r\n"
		"    </update>\r\n"
		"  </package>\r\n"
		"</assembly>\r\n",
		kb, kb, kb + 2, name, kb, release, extra ? extra : "", kb, component);
}

#define COMP_DIR "amd64_microsoft-windows-foo_" TOKEN "_10.0.19041.3570_none_4f8e2d9a1b3c5e7f"

enum pkg_variant { PLAIN, SSU, CIX, DCM, PSFX, STACK };

/* The servicing stack the STACK variant asks for in <installerAssembly>. */
#define NEEDS_STACK "10.0.19041.3620"

/* Build a package cabinet at @p cab; returns nothing, asserts on failure. */
static void make_package_cab(const char *work, const char *cab, const char *name, const char *kb,
                             enum pkg_variant v)
{
	char *dir = offtest_strdup_printf("%s/src-%s-%d", work, kb, (int)v);
	const char *component = v == SSU ? "Microsoft-Windows-ServicingStack" : "Microsoft-Windows-Foo";
	char *mum = mum_text(name, kb, v == SSU ? "Update" : "Security Update", component,
	                     v == PSFX ? "<mum2:customInformation xmlns:mum2=\"urn:schemas-microsoft-com:asm.v3\" PackageFormat=\"PSFX\"/>"
	                     : v == STACK ? "<installerAssembly name=\"Microsoft-Windows-ServicingStack\" version=\"" NEEDS_STACK "\" language=\"neutral\" processorArchitecture=\"amd64\" publicKeyToken=\"" TOKEN "\"/>"
	                     : NULL);
	const char *names[8];
	int n = 0;

	puts_(dir, "update.mum", mum);
	names[n++] = "update.mum";
	if (v == DCM) {
		put(dir, COMP_DIR ".manifest", "DCM\x01\x50\x41\x33\x30\x00\x01", 10);
	} else {
		puts_(dir, COMP_DIR ".manifest",
		      "<?xml version=\"1.0\" encoding=\"UTF-8\"?><assembly xmlns=\"urn:schemas-microsoft-com:asm.v3\" manifestVersion=\"1.0\">"
		      "<assemblyIdentity name=\"Microsoft-Windows-Foo\" version=\"10.0.19041.3570\" processorArchitecture=\"amd64\" language=\"neutral\" buildType=\"release\" publicKeyToken=\"" TOKEN "\" versionScope=\"nonSxS\"/>"
		      "<file name=\"foo.dll\" destinationPath=\"$(runtime.system32)\\\" sourceName=\"foo.dll\" sourcePath=\".\\\" importPath=\"$(build.nttree)\\\"/>"
		      "</assembly>");
	}
	names[n++] = COMP_DIR ".manifest";
	puts_(dir, COMP_DIR "/foo.dll", "MZ payload of foo.dll");
	names[n++] = COMP_DIR "/foo.dll";
	if (v == CIX) {
		puts_(dir, "_manifest_.cix.xml",
		      "<?xml version=\"1.0\"?><Container xmlns=\"urn:ContainerIndex\"><Files>"
		      "<File id=\"1\" name=\"" COMP_DIR "\\foo.dll\" length=\"21\"><Delta><Source type=\"PA30\" name=\"0\"/></Delta></File>"
		      "</Files></Container>");
		names[n++] = "_manifest_.cix.xml";
	}
	names[n] = NULL;
	gcab(dir, cab, names);
	free(mum);
	free(dir);
}

static const char pkgprops_ascii[] =
	"ApplicabilityInfo=\"Windows 10.0 Client\"\r\n"
	"Applies to=\"Windows 10\"\r\n"
	"Build Date=\"2023/10/03\"\r\n"
	"Company=\"Microsoft Corporation\"\r\n"
	"File Version=\"10.0.19041.3570\"\r\n"
	"Installation Type=\"Security Update\"\r\n"
	"Installer Engine=\"Component Based Servicing\"\r\n"
	"Installer Version=\"10.0.19041.1\"\r\n"
	"KB Article Number=\"5031234\"\r\n"
	"Language=\"ALL\"\r\n"
	"Package Type=\"Update\"\r\n"
	"Processor Architecture=\"amd64\"\r\n"
	"Product Name=\"Windows 10\"\r\n"
	"Support Link=\"http://support.microsoft.com?kbid=5031234\"\r\n";

/* ASCII text as UTF-16LE with a byte-order mark. */
static char *utf16le(const char *s, size_t *len)
{
	size_t n = strlen(s);
	char *out = malloc(2 + 2 * n);

	out[0] = (char)0xff;
	out[1] = (char)0xfe;
	for (size_t i = 0; i < n; i++) {
		out[2 + 2 * i] = s[i];
		out[3 + 2 * i] = 0;
	}
	*len = 2 + 2 * n;
	return out;
}

static const char unattend_xml[] =
	"<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
	"<unattend xmlns=\"urn:schemas-microsoft-com:unattend\">\n"
	"  <servicing>\n"
	"    <package action=\"install\">\n"
	"      <assemblyIdentity name=\"Package_for_KB5031234\" version=\"10.0.1.5\" language=\"neutral\" processorArchitecture=\"amd64\" publicKeyToken=\"" TOKEN "\"/>\n"
	"      <source location=\"%configsetroot%\\Windows10.0-KB5031234-x64.cab\" />\n"
	"    </package>\n"
	"    <package action=\"install\">\n"
	"      <assemblyIdentity name=\"Package_for_KB5030001\" version=\"10.0.1.2\" language=\"neutral\" processorArchitecture=\"amd64\" publicKeyToken=\"" TOKEN "\"/>\n"
	"      <source location=\"%configsetroot%\\Windows10.0-KB5030001-x64.CAB\" />\n"
	"    </package>\n"
	"  </servicing>\n"
	"</unattend>\n";

/* An MSU: SSU + two listed packages + one unlisted, WSUSSCAN, props, unattend. */
static char *make_msu(const char *work, int utf16_props)
{
	char *dir = offtest_strdup_printf("%s/msu-%d", work, utf16_props);
	char *msu = offtest_strdup_printf("%s/windows10.0-kb5031234-x64_%d.msu", work, utf16_props);
	char *p;
	const char *names[] = {"Windows10.0-KB4000000-x64.cab", "WSUSSCAN.cab",
	                       "Windows10.0-KB5030001-x64.cab", "Windows10.0-KB5031234-x64.cab",
	                       "SSU-19041.3570-x64.cab", "Windows10.0-KB5031234-x64-pkgProperties.txt",
	                       "Windows10.0-KB5031234-x64.xml", NULL};

	ck_assert_int_eq(mkdir(dir, 0755), 0);
	p = offtest_strdup_printf("%s/%s", dir, names[0]);
	make_package_cab(work, p, "Package_for_KB4000000", "KB4000000", PLAIN);
	free(p);
	p = offtest_strdup_printf("%s/%s", dir, names[2]);
	make_package_cab(work, p, "Package_for_KB5030001", "KB5030001", PLAIN);
	free(p);
	p = offtest_strdup_printf("%s/%s", dir, names[3]);
	make_package_cab(work, p, "Package_for_KB5031234", "KB5031234", STACK);
	free(p);
	p = offtest_strdup_printf("%s/%s", dir, names[4]);
	make_package_cab(work, p, "Package_for_ServicingStack_3570", "KB5031539", SSU);
	free(p);
	{
		const char *w[] = {"package.xml", NULL};
		char *wdir = offtest_strdup_printf("%s/wsus-%d", work, utf16_props);
		puts_(wdir, "package.xml", "<OfflineSyncPackage/>");
		p = offtest_strdup_printf("%s/%s", dir, names[1]);
		gcab(wdir, p, w);
		free(p);
		free(wdir);
	}
	if (utf16_props) {
		size_t len;
		char *u = utf16le(pkgprops_ascii, &len);
		put(dir, names[5], u, len);
		free(u);
	} else {
		puts_(dir, names[5], pkgprops_ascii);
	}
	puts_(dir, names[6], unattend_xml);
	gcab(dir, msu, names);
	free(dir);
	return msu;
}

struct loaded {
	void *h;
	const struct offserv_plugin *pl;
	void *ctx;
};

static void load(const char *name, struct loaded *l)
{
	char *path = offtest_strdup_printf("%s/plugins/.libs/%s.so", offtest_builddir(), name);

	l->h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	ck_assert_msg(l->h != NULL, "dlopen %s: %s", path, dlerror());
	l->pl = dlsym(l->h, OFFSERV_PLUGIN_SYMBOL);
	ck_assert_ptr_nonnull(l->pl);
	ck_assert_uint_eq(l->pl->abi_version, OFFSERV_PLUGIN_ABI_VERSION);
	ck_assert_str_eq(l->pl->name, name);
	ck_assert_int_eq(l->pl->kind, OFFSERV_PLUGIN_UPDATE_FORMAT);
	l->ctx = NULL;
	if (l->pl->init)
		ck_assert_uint_eq(l->pl->init(NULL, &l->ctx), OFFSERV_OK);
	free(path);
}

static void unload(struct loaded *l)
{
	if (l->pl->shutdown)
		l->pl->shutdown(l->ctx);
	dlclose(l->h);
}

static const struct offserv_update_format_ops *ops(const struct loaded *l)
{
	return l->pl->ops.update_format;
}

START_TEST(test_cab_read_info)
{
	struct loaded cab, msu;
	char *work = offtest_tmpdir();
	char *pkg = offtest_strdup_printf("%s/Windows10.0-KB5031234-x64.cab", work);
	struct offserv_update_info *info = NULL;
	char err[512] = "";
	uint8_t digest[32];
	char hex[65];
	uint64_t size;

	load("cab", &cab);
	load("msu", &msu);
	make_package_cab(work, pkg, "Package_for_KB5031234", "KB5031234", PLAIN);
	ck_assert_int_ge(ops(&cab)->probe(cab.ctx, pkg), 80);
	ck_assert_int_le(ops(&msu)->probe(msu.ctx, pkg), 10);
	ck_assert_uint_eq(ops(&cab)->read_info(cab.ctx, pkg, &info, err, sizeof(err)), OFFSERV_OK);
	ck_assert_str_eq(info->format, "cab");
	ck_assert_str_eq(info->kb, "KB5031234");
	ck_assert_str_eq(info->title, "Security Update for Windows (KB5031234)");
	ck_assert_str_eq(info->description, "Fix for KB5031234");
	ck_assert_str_eq(info->release_type, "Security Update");
	ck_assert_str_eq(info->arch, "x64");
	ck_assert_str_eq(info->support_link, "http://support.microsoft.com/?kbid=5031234");
	ck_assert_uint_eq(offserv_sha256_file(pkg, digest, &size, NULL, 0), OFFSERV_OK);
	offserv_hex(digest, 32, hex);
	ck_assert_str_eq(info->sha256, hex);
	ck_assert_uint_eq(info->size, size);
	ck_assert_uint_eq(info->n_packages, 1);
	ck_assert_str_eq(info->packages[0].identity,
	                 "Package_for_KB5031234~" TOKEN "~amd64~~10.0.1.5");
	ck_assert_str_eq(info->packages[0].name, "Package_for_KB5031234");
	ck_assert_str_eq(info->packages[0].version, "10.0.1.5");
	ck_assert_str_eq(info->packages[0].arch, "amd64");
	ck_assert_str_eq(info->packages[0].member, "update.mum");
	ck_assert_int_eq(info->packages[0].is_ssu, 0);
	ck_assert_int_ne(info->packages[0].supported, 0);
	ck_assert_ptr_null(info->packages[0].unsupported_reason);
	ck_assert_uint_eq(info->n_parent_identities, 3);
	for (int i = 0; i < 3; i++)
		ck_assert_str_eq(info->parent_identities[i], parents_expected[i]);
	/* ABI 1.1: the <parent> with its attributes; no <installerAssembly>. */
	ck_assert_uint_eq(offserv_plugin_abi_minor(cab.pl), OFFSERV_PLUGIN_ABI_MINOR);
	ck_assert_uint_eq(info->n_parents, 1);
	ck_assert_uint_eq(info->parents[0].package, 0);
	ck_assert_uint_eq(info->parents[0].n_identities, 3);
	for (int i = 0; i < 3; i++)
		ck_assert_str_eq(info->parents[0].identities[i], parents_expected[i]);
	ck_assert_str_eq(info->parents[0].build_compare, "EQ");
	ck_assert_str_eq(info->parents[0].service_compare, "GE");
	ck_assert_ptr_null(info->parents[0].revision_compare);
	ck_assert_str_eq(info->parents[0].integrate, "separate");
	ck_assert_str_eq(info->parents[0].disposition, "detect");
	ck_assert_ptr_null(info->installer_versions);
	offserv_update_info_free(info);
	/* Not a cabinet at all. */
	ck_assert_int_eq(ops(&cab)->probe(cab.ctx, work), 0);
	{
		char *txt = offtest_strdup_printf("%s/x.cab", work);
		ck_assert_int_eq(offtest_write_file(txt, "hello", 5), 0);
		ck_assert_int_eq(ops(&cab)->probe(cab.ctx, txt), 0);
		ck_assert_uint_eq(ops(&cab)->read_info(cab.ctx, txt, &info, err, sizeof(err)),
		                  OFFSERV_CBS_E_INVALID_PACKAGE);
		ck_assert_ptr_null(info);
		free(txt);
	}
	unload(&cab);
	unload(&msu);
	offtest_rmtree(work);
	free(work);
	free(pkg);
}
END_TEST

START_TEST(test_cab_ssu_and_expand)
{
	struct loaded cab;
	char *work = offtest_tmpdir();
	char *pkg = offtest_strdup_printf("%s/SSU-19041.3570-x64.cab", work);
	char *dest = offtest_strdup_printf("%s/dest", work);
	struct offserv_update_info *info = NULL;
	struct offserv_expanded_package *pk = NULL;
	size_t n = 0;
	char err[512] = "";
	struct stat st;
	char *p;

	load("cab", &cab);
	make_package_cab(work, pkg, "Package_for_ServicingStack_3570", "KB5031539", SSU);
	ck_assert_uint_eq(ops(&cab)->read_info(cab.ctx, pkg, &info, err, sizeof(err)), OFFSERV_OK);
	ck_assert_int_ne(info->packages[0].is_ssu, 0);
	offserv_update_info_free(info);
	ck_assert_int_eq(mkdir(dest, 0755), 0);
	ck_assert_msg(ops(&cab)->expand(cab.ctx, pkg, dest, &pk, &n, err, sizeof(err)) == OFFSERV_OK,
	              "%s", err);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(pk[0].dir, dest);
	ck_assert_str_eq(pk[0].mum_name, "update.mum");
	ck_assert_int_ne(pk[0].is_ssu, 0);
	p = offtest_strdup_printf("%s/update.mum", dest);
	ck_assert_int_eq(stat(p, &st), 0);
	free(p);
	p = offtest_strdup_printf("%s/" COMP_DIR "/foo.dll", dest);
	ck_assert_int_eq(stat(p, &st), 0);
	free(p);
	offserv_expanded_packages_free(pk, n);
	unload(&cab);
	offtest_rmtree(work);
	free(work);
	free(pkg);
	free(dest);
}
END_TEST

/* Recognised but not applicable yet: reported, never a failure of read_info. */
START_TEST(test_cab_unsupported_markers)
{
	static const struct {
		enum pkg_variant v;
		const char *reason;
	} cases[] = {
		{CIX, OFFSERV_REASON_PA30},
		{DCM, OFFSERV_REASON_DCM},
		{PSFX, OFFSERV_REASON_PSFX},
	};
	struct loaded cab;
	char *work = offtest_tmpdir();

	load("cab", &cab);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *pkg = offtest_strdup_printf("%s/p%zu.cab", work, i);
		char *dest = offtest_strdup_printf("%s/d%zu", work, i);
		struct offserv_update_info *info = NULL;
		struct offserv_expanded_package *pk = NULL;
		size_t n = 0;
		char err[512] = "";

		make_package_cab(work, pkg, "Package_for_RollupFix", "KB5031356", cases[i].v);
		ck_assert_msg(ops(&cab)->read_info(cab.ctx, pkg, &info, err, sizeof(err)) == OFFSERV_OK,
		              "%s", err);
		ck_assert_int_eq(info->packages[0].supported, 0);
		ck_assert_str_eq(info->packages[0].unsupported_reason, cases[i].reason);
		offserv_update_info_free(info);
		ck_assert_int_eq(mkdir(dest, 0755), 0);
		ck_assert_uint_eq(ops(&cab)->expand(cab.ctx, pkg, dest, &pk, &n, err, sizeof(err)),
		                  OFFSERV_E_NOT_SUPPORTED);
		ck_assert_ptr_nonnull(strstr(err, cases[i].reason));
		free(pkg);
		free(dest);
	}
	/* A combined cabinet: toc.xml and nested package cabinets. */
	{
		char *dir = offtest_strdup_printf("%s/combined", work);
		char *cabp = offtest_strdup_printf("%s/combined.cab", work);
		char *inner = offtest_strdup_printf("%s/Windows10.0-KB5031356-x64.cab", dir);
		char *ssu = offtest_strdup_printf("%s/SSU-19041.3570-x64.cab", dir);
		const char *names[] = {"toc.xml", "SSU-19041.3570-x64.cab",
		                       "Windows10.0-KB5031356-x64.cab", NULL};
		struct offserv_update_info *info = NULL;
		char err[512] = "";

		puts_(dir, "toc.xml", "<toc/>");
		make_package_cab(work, inner, "Package_for_RollupFix", "KB5031356", PLAIN);
		make_package_cab(work, ssu, "Package_for_ServicingStack_3570", "KB5031539", SSU);
		gcab(dir, cabp, names);
		ck_assert_int_ge(ops(&cab)->probe(cab.ctx, cabp), 50);
		ck_assert_uint_eq(ops(&cab)->read_info(cab.ctx, cabp, &info, err, sizeof(err)),
		                  OFFSERV_OK);
		ck_assert_uint_eq(info->n_packages, 2);
		ck_assert_str_eq(info->kb, "KB5031356");
		for (size_t i = 0; i < 2; i++) {
			ck_assert_int_eq(info->packages[i].supported, 0);
			ck_assert_str_eq(info->packages[i].unsupported_reason, OFFSERV_REASON_COMBINED);
		}
		offserv_update_info_free(info);
		free(dir);
		free(cabp);
		free(inner);
		free(ssu);
	}
	unload(&cab);
	offtest_rmtree(work);
	free(work);
}
END_TEST

static void check_msu_info(const struct offserv_update_info *info)
{
	static const char *const order[] = {"SSU-19041.3570-x64.cab", "Windows10.0-KB5031234-x64.cab",
	                                    "Windows10.0-KB5030001-x64.cab",
	                                    "Windows10.0-KB4000000-x64.cab"};

	ck_assert_str_eq(info->format, "msu");
	ck_assert_str_eq(info->kb, "KB5031234");
	ck_assert_str_eq(info->product, "Windows 10");
	ck_assert_str_eq(info->build_date, "2023/10/03");
	ck_assert_str_eq(info->arch, "x64");
	ck_assert_str_eq(info->support_link, "http://support.microsoft.com?kbid=5031234");
	ck_assert_str_eq(info->title, "Security Update for Windows (KB5031234)");
	ck_assert_uint_eq(info->n_packages, 4);
	for (size_t i = 0; i < 4; i++) {
		ck_assert_str_eq(info->packages[i].member, order[i]);
		ck_assert_int_eq(info->packages[i].is_ssu, i == 0);
		ck_assert_int_ne(info->packages[i].supported, 0);
	}
	ck_assert_str_eq(info->packages[0].identity,
	                 "Package_for_ServicingStack_3570~" TOKEN "~amd64~~10.0.1.5");
	ck_assert_str_eq(info->packages[1].name, "Package_for_KB5031234");
	ck_assert_uint_eq(info->n_parent_identities, 3);
	/* ABI 1.1: one <parent> per package, bound to it; the stack KB5031234 needs. */
	ck_assert_uint_eq(info->n_parents, 4);
	for (size_t k = 0; k < 4; k++) {
		ck_assert_uint_eq(info->parents[k].package, k);
		ck_assert_uint_eq(info->parents[k].n_identities, 3);
		ck_assert_str_eq(info->parents[k].build_compare, "EQ");
		ck_assert_str_eq(info->parents[k].identities[2], parents_expected[2]);
	}
	ck_assert_ptr_nonnull(info->installer_versions);
	ck_assert_ptr_null(info->installer_versions[0]);
	ck_assert_str_eq(info->installer_versions[1], NEEDS_STACK);
	ck_assert_ptr_null(info->installer_versions[2]);
	ck_assert_ptr_null(info->installer_versions[3]);
}

START_TEST(test_msu)
{
	struct loaded cab, msu;
	char *work = offtest_tmpdir();
	char err[512] = "";

	load("cab", &cab);
	load("msu", &msu);
	for (int utf16 = 0; utf16 <= 1; utf16++) {
		char *path = make_msu(work, utf16);
		char *dest = offtest_strdup_printf("%s/x%d", work, utf16);
		struct offserv_update_info *info = NULL;
		struct offserv_expanded_package *pk = NULL;
		size_t n = 0;
		static const char *const dirs[] = {"01-SSU-19041.3570-x64",
		                                   "02-Windows10.0-KB5031234-x64",
		                                   "03-Windows10.0-KB5030001-x64",
		                                   "04-Windows10.0-KB4000000-x64"};

		ck_assert_int_ge(ops(&msu)->probe(msu.ctx, path), 80);
		ck_assert_int_le(ops(&cab)->probe(cab.ctx, path), 10);
		ck_assert_msg(ops(&msu)->read_info(msu.ctx, path, &info, err, sizeof(err)) == OFFSERV_OK,
		              "%s", err);
		check_msu_info(info);
		offserv_update_info_free(info);
		ck_assert_int_eq(mkdir(dest, 0755), 0);
		ck_assert_msg(ops(&msu)->expand(msu.ctx, path, dest, &pk, &n, err, sizeof(err)) ==
		                      OFFSERV_OK,
		              "%s", err);
		ck_assert_uint_eq(n, 4);
		for (size_t i = 0; i < n; i++) {
			char *want = offtest_strdup_printf("%s/%s", dest, dirs[i]);
			char *mum = offtest_strdup_printf("%s/update.mum", pk[i].dir);
			struct stat st;
			ck_assert_str_eq(pk[i].dir, want);
			ck_assert_str_eq(pk[i].mum_name, "update.mum");
			ck_assert_int_eq(pk[i].is_ssu, i == 0);
			ck_assert_int_eq(stat(mum, &st), 0);
			free(want);
			free(mum);
		}
		{
			/* Only the package folders are left. */
			char *scratch = offtest_strdup_printf("%s/.offserv-msu-cabs", dest);
			struct stat st;
			ck_assert_int_ne(stat(scratch, &st), 0);
			free(scratch);
		}
		offserv_expanded_packages_free(pk, n);
		free(path);
		free(dest);
	}
	unload(&cab);
	unload(&msu);
	offtest_rmtree(work);
	free(work);
}
END_TEST

/* Windows 11 checkpoint MSU: .wim + .psf beside an SSU cabinet. */
START_TEST(test_msu_psf)
{
	struct loaded msu;
	char *work = offtest_tmpdir();
	char *dir = offtest_strdup_printf("%s/w11", work);
	char *path = offtest_strdup_printf("%s/windows11.0-kb5043080-x64.msu", work);
	char *ssu = offtest_strdup_printf("%s/SSU-26100.1738-x64.cab", dir);
	char *wsus = offtest_strdup_printf("%s/wsusscan.cab", dir);
	const char *names[] = {"SSU-26100.1738-x64.cab", "Windows11.0-KB5043080-x64.wim",
	                       "Windows11.0-KB5043080-x64.psf", "wsusscan.cab", NULL};
	const char *wn[] = {"Windows11.0-KB5043080-x64.psf", NULL};
	struct offserv_update_info *info = NULL;
	struct offserv_expanded_package *pk = NULL;
	size_t n = 0;
	char err[512] = "";
	char *dest = offtest_strdup_printf("%s/dest", work);

	load("msu", &msu);
	ck_assert_int_eq(mkdir(dir, 0755), 0);
	make_package_cab(work, ssu, "Package_for_ServicingStack_1738", "KB5043937", SSU);
	puts_(dir, "Windows11.0-KB5043080-x64.wim", "MSWIM\0\0\0");
	puts_(dir, "Windows11.0-KB5043080-x64.psf", "PSTREAM");
	gcab(dir, wsus, wn);
	gcab(dir, path, names);
	ck_assert_int_ge(ops(&msu)->probe(msu.ctx, path), 80);
	ck_assert_msg(ops(&msu)->read_info(msu.ctx, path, &info, err, sizeof(err)) == OFFSERV_OK,
	              "%s", err);
	ck_assert_uint_eq(info->n_packages, 2);
	ck_assert_str_eq(info->packages[0].member, "SSU-26100.1738-x64.cab");
	ck_assert_int_ne(info->packages[0].supported, 0);
	ck_assert_str_eq(info->packages[1].member, "Windows11.0-KB5043080-x64.wim");
	ck_assert_int_eq(info->packages[1].supported, 0);
	ck_assert_str_eq(info->packages[1].unsupported_reason, OFFSERV_REASON_PSF);
	ck_assert_str_eq(info->kb, "KB5043080");
	offserv_update_info_free(info);
	ck_assert_int_eq(mkdir(dest, 0755), 0);
	ck_assert_uint_eq(ops(&msu)->expand(msu.ctx, path, dest, &pk, &n, err, sizeof(err)),
	                  OFFSERV_E_NOT_SUPPORTED);
	ck_assert_ptr_nonnull(strstr(err, OFFSERV_REASON_PSF));
	unload(&msu);
	offtest_rmtree(work);
	free(work);
	free(dir);
	free(path);
	free(ssu);
	free(wsus);
	free(dest);
}
END_TEST

/* struct offserv_update_info as a plugin built against ABI 1.0 knows it. */
struct update_info_1_0 {
	char *format, *kb, *title, *description, *release_type, *arch, *product, *build_date,
		*support_link;
	uint64_t size;
	char sha256[65];
	struct offserv_update_package *packages;
	size_t n_packages;
	char **parent_identities;
	size_t n_parent_identities;
};
_Static_assert(sizeof(struct update_info_1_0) == offsetof(struct offserv_update_info, parents),
               "the 1.0 layout ends where the 1.1 members begin");

/* A plugin built before ABI 1.1: its info is only as large as the 1.0 layout. */
static offserv_status old_read_info(void *ctx, const char *path, struct offserv_update_info **out,
                                    char *err, size_t errlen)
{
	struct update_info_1_0 *info = calloc(1, sizeof(*info));

	(void)ctx;
	(void)path;
	(void)err;
	(void)errlen;
	if (!info)
		return OFFSERV_E_OUTOFMEMORY;
	info->format = strdup("old");
	info->packages = calloc(1, sizeof(*info->packages));
	info->packages[0].identity = strdup("Package_for_KB1~" TOKEN "~amd64~~10.0.1.1");
	info->packages[0].supported = 1;
	info->n_packages = 1;
	info->parent_identities = calloc(2, sizeof(char *));
	info->parent_identities[0] = strdup(parents_expected[0]);
	info->parent_identities[1] = strdup(parents_expected[1]);
	info->n_parent_identities = 2;
	*out = (struct offserv_update_info *)(void *)info;
	return OFFSERV_OK;
}

static int old_probe(void *ctx, const char *path)
{
	(void)ctx;
	(void)path;
	return 0;
}

START_TEST(test_abi_1_0_and_rows)
{
	static const struct offserv_update_format_ops old_ops = {old_probe, old_read_info, NULL};
	static const struct offserv_plugin old_desc = {
		.abi_version = OFFSERV_PLUGIN_ABI_VERSION,
		.name = "old",
		.kind = OFFSERV_PLUGIN_UPDATE_FORMAT,
		.ops.update_format = &old_ops,
	};
	const struct offserv_loaded_plugin old = {&old_desc, NULL, (char *)"old.so"};
	struct offserv_update_info *info = NULL;
	struct offserv_update_package_rec *pk = NULL;
	struct offserv_update_parent_rec *pa = NULL;
	size_t npk = 0, npa = 0;
	char err[512] = "";

	/* Not an exported descriptor of a loaded object: read as 1.0. */
	ck_assert_uint_eq(offserv_plugin_abi_minor(&old_desc), 0);
	ck_assert_uint_eq(offserv_plugin_abi_minor(NULL), 0);
	ck_assert_uint_eq(offserv_catalogue_read_update_info(&old, "x.cab", &info, err, sizeof(err)),
	                  OFFSERV_OK);
	/* Grown to the current layout: the 1.1 members read as absent. */
	ck_assert_ptr_null(info->parents);
	ck_assert_uint_eq(info->n_parents, 0);
	ck_assert_ptr_null(info->installer_versions);
	ck_assert_uint_eq(offserv_catalogue_update_rows(info, &pk, &npk, &pa, &npa, err, sizeof(err)),
	                  OFFSERV_OK);
	ck_assert_uint_eq(npk, 1);
	ck_assert_ptr_null(pk[0].installer_version);
	/* Flat alternatives: one group for every package, no compare attributes. */
	ck_assert_uint_eq(npa, 2);
	for (size_t i = 0; i < npa; i++) {
		ck_assert_int_eq(pa[i].package_seq, -1);
		ck_assert_int_eq(pa[i].group_no, 0);
		ck_assert_ptr_null(pa[i].build_compare);
	}
	free(pk);
	free(pa);
	offserv_update_info_free(info);
}
END_TEST

/* The 1.1 rows of a real plugin: a group per <parent>, bound to its package. */
START_TEST(test_rows_from_plugin)
{
	struct loaded msu;
	struct offserv_loaded_plugin lp;
	char *work = offtest_tmpdir();
	char *path = make_msu(work, 0);
	struct offserv_update_info *info = NULL;
	struct offserv_update_package_rec *pk = NULL;
	struct offserv_update_parent_rec *pa = NULL;
	size_t npk = 0, npa = 0;
	char err[512] = "";

	load("msu", &msu);
	lp.desc = msu.pl;
	lp.ctx = msu.ctx;
	lp.file = (char *)"msu.so";
	ck_assert_msg(offserv_catalogue_read_update_info(&lp, path, &info, err, sizeof(err)) ==
	                      OFFSERV_OK,
	              "%s", err);
	check_msu_info(info);
	ck_assert_uint_eq(offserv_catalogue_update_rows(info, &pk, &npk, &pa, &npa, err, sizeof(err)),
	                  OFFSERV_OK);
	ck_assert_uint_eq(npk, 4);
	ck_assert_str_eq(pk[1].installer_version, NEEDS_STACK);
	ck_assert_ptr_null(pk[0].installer_version);
	ck_assert_uint_eq(npa, 12);
	for (size_t i = 0; i < npa; i++) {
		ck_assert_int_eq(pa[i].package_seq, (int)(i / 3));
		ck_assert_int_eq(pa[i].group_no, (int)(i / 3));
		ck_assert_str_eq(pa[i].identity, parents_expected[i % 3]);
		ck_assert_str_eq(pa[i].build_compare, "EQ");
		ck_assert_str_eq(pa[i].service_compare, "GE");
		ck_assert_str_eq(pa[i].disposition, "detect");
	}
	free(pk);
	free(pa);
	offserv_update_info_free(info);
	unload(&msu);
	offtest_rmtree(work);
	free(work);
	free(path);
}
END_TEST

/* Every file of the cabinet corpora: read_info fails cleanly as "not a package" or damage. */
START_TEST(test_corpus_read_info)
{
	const char *dirs[] = {"corpus/cab", "corpus/cab-bugs"};
	struct loaded cab, msu;
	int tried = 0;

	load("cab", &cab);
	load("msu", &msu);
	for (size_t d = 0; d < 2; d++) {
		char *dir = offtest_shared(dirs[d]);
		char **list = NULL;
		size_t n = 0;
		FILE *ls;
		char line[4096];
		char *cmd;

		if (!dir)
			continue;
		cmd = offtest_strdup_printf("ls '%s'", dir);
		ls = popen(cmd, "r");
		ck_assert_ptr_nonnull(ls);
		while (fgets(line, sizeof(line), ls)) {
			line[strcspn(line, "\n")] = '\0';
			list = realloc(list, (n + 1) * sizeof(*list));
			list[n++] = offtest_strdup_printf("%s/%s", dir, line);
		}
		pclose(ls);
		for (size_t i = 0; i < n; i++) {
			for (int k = 0; k < 2; k++) {
				const struct loaded *l = k ? &msu : &cab;
				struct offserv_update_info *info = NULL;
				char err[512] = "";
				offserv_status s = ops(l)->read_info(l->ctx, list[i], &info, err, sizeof(err));
				ck_assert_msg(s == OFFSERV_CBS_E_INVALID_PACKAGE ||
				                      s == OFFSERV_E_FILE_CORRUPT || s == OFFSERV_E_CRC ||
				                      s == OFFSERV_E_FILE_NOT_FOUND,
				              "%s: 0x%08x %s", list[i], s, err);
				ck_assert_msg(err[0] != '\0', "%s: no message", list[i]);
				ck_assert_ptr_null(info);
				tried++;
			}
			free(list[i]);
		}
		free(list);
		free(cmd);
		free(dir);
	}
	unload(&cab);
	unload(&msu);
	if (!tried)
		fprintf(stderr, "# corpus absent\n");
}
END_TEST

START_TEST(test_pkgprops)
{
	struct offserv_pkgprops *p = NULL;
	char err[256] = "";
	size_t len;
	char *u = utf16le(pkgprops_ascii, &len);

	ck_assert_uint_eq(offserv_pkgprops_parse(pkgprops_ascii, strlen(pkgprops_ascii), &p, err,
	                                         sizeof(err)),
	                  OFFSERV_OK);
	ck_assert_uint_eq(p->n, 14);
	ck_assert_str_eq(offserv_pkgprops_get(p, "kb article number"), "5031234");
	ck_assert_str_eq(offserv_pkgprops_get(p, "Applies to"), "Windows 10");
	ck_assert_ptr_null(offserv_pkgprops_get(p, "Nope"));
	offserv_pkgprops_free(p);
	ck_assert_uint_eq(offserv_pkgprops_parse(u, len, &p, err, sizeof(err)), OFFSERV_OK);
	ck_assert_uint_eq(p->n, 14);
	ck_assert_str_eq(offserv_pkgprops_get(p, "Product Name"), "Windows 10");
	offserv_pkgprops_free(p);
	free(u);
	ck_assert_uint_eq(offserv_pkgprops_parse("Key=\"v\"\nno equals\n", 18, &p, err, sizeof(err)),
	                  OFFSERV_E_INVALID_DATA);
	ck_assert_ptr_nonnull(strstr(err, "line 2"));
	ck_assert_str_eq(offserv_arch_display("amd64"), "x64");
	ck_assert_str_eq(offserv_arch_display("wow64"), "x64");
	ck_assert_str_eq(offserv_arch_display("x86"), "x86");
	ck_assert_str_eq(offserv_arch_display("arm64"), "arm64");
	ck_assert_str_eq(offserv_arch_display(NULL), "neutral");
	{
		char *kb = offserv_kb_from_text("Windows10.0-KB5031234-x64.cab");
		ck_assert_str_eq(kb, "KB5031234");
		free(kb);
		kb = offserv_kb_from_text("3118401");
		ck_assert_str_eq(kb, "KB3118401");
		free(kb);
		ck_assert_ptr_null(offserv_kb_from_text("Package_for_RollupFix"));
	}
}
END_TEST

START_TEST(test_unattend)
{
	struct offserv_unattend *u = NULL;
	char err[256] = "";
	static const char dtd[] =
		"<?xml version=\"1.0\"?><!DOCTYPE unattend [<!ENTITY x \"y\">]>"
		"<unattend xmlns=\"urn:schemas-microsoft-com:unattend\"/>";

	ck_assert_uint_eq(offserv_unattend_parse(unattend_xml, strlen(unattend_xml), &u, err,
	                                         sizeof(err)),
	                  OFFSERV_OK);
	ck_assert_uint_eq(u->n, 2);
	ck_assert_str_eq(u->packages[0].action, "install");
	ck_assert_str_eq(u->packages[0].id.name, "Package_for_KB5031234");
	ck_assert_str_eq(u->packages[0].id.arch, "amd64");
	ck_assert_str_eq(u->packages[0].cab_name, "Windows10.0-KB5031234-x64.cab");
	ck_assert_str_eq(u->packages[1].cab_name, "Windows10.0-KB5030001-x64.CAB");
	offserv_unattend_free(u);
	u = NULL;
	ck_assert_uint_eq(offserv_unattend_parse(dtd, strlen(dtd), &u, err, sizeof(err)),
	                  OFFSERV_CBS_E_XML_PARSER_FAILURE);
	ck_assert_ptr_null(u);
	ck_assert_uint_eq(offserv_unattend_parse("<other/>", 8, &u, err, sizeof(err)),
	                  OFFSERV_CBS_E_INVALID_PACKAGE);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("update_plugins");
	TCase *tc = tcase_create("plugins");
	char *argv[] = {"gcab", "--version", NULL};
	char *so = offtest_strdup_printf("%s/plugins/.libs/cab.so", offtest_builddir());
	struct stat st;

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_pkgprops);
	tcase_add_test(tc, test_unattend);
	tcase_add_test(tc, test_abi_1_0_and_rows);
	if (run_quiet(argv, ".") != 0) {
		printf("# gcab is not installed: plugin cases not run\n");
	} else if (stat(so, &st) != 0) {
		printf("# %s not built (plugins disabled): plugin cases not run\n", so);
	} else {
		tcase_add_test(tc, test_cab_read_info);
		tcase_add_test(tc, test_cab_ssu_and_expand);
		tcase_add_test(tc, test_cab_unsupported_markers);
		tcase_add_test(tc, test_msu);
		tcase_add_test(tc, test_msu_psf);
		tcase_add_test(tc, test_rows_from_plugin);
		tcase_add_test(tc, test_corpus_read_info);
	}
	free(so);
	suite_add_tcase(s, tc);
	return offtest_run(s);
}
