/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <config.h>

#include <stdlib.h>
#include <string.h>

#include <offserv/cbs.h>

#include "testutil.h"

static char *fixture(const char *name)
{
	return offtest_strdup_printf("%s/tests/data/cbs/%s", offtest_srcdir(), name);
}

static char *read_fixture(const char *name, size_t *len)
{
	char *path = fixture(name);
	char *data = offtest_read_file(path, len);

	ck_assert_msg(data != NULL, "cannot read %s", path);
	free(path);
	return data;
}

static void check_mum(const struct offserv_mum *m)
{
	ck_assert_str_eq(m->id.name, "Package_for_KB3118401");
	ck_assert_str_eq(m->id.version, "6.1.1.1");
	ck_assert_str_eq(m->id.arch, "amd64");
	ck_assert_str_eq(m->id.language, "neutral");
	ck_assert_str_eq(m->id.token, "31bf3856ad364e35");
	ck_assert_str_eq(m->description, "Fix for KB3118401");
	ck_assert_str_eq(m->display_name, "default");
	ck_assert_str_eq(m->company, "Microsoft Corporation");
	ck_assert_str_eq(m->copyright, "Microsoft Corporation");
	ck_assert_str_eq(m->support_information, "http://support.microsoft.com/?kbid=3118401");
	ck_assert_str_eq(m->creation_time, "2015-11-12T23:05:10Z");
	ck_assert_str_eq(m->last_update_time, "2015-11-12T23:05:10Z");
	ck_assert_str_eq(m->identifier, "KB3118401");
	ck_assert_str_eq(m->release_type, "Update");
	ck_assert_str_eq(m->restart, "possible");
	ck_assert_ptr_null(m->permanence);
	ck_assert_str_eq(m->package_format, "PSFX");

	ck_assert_uint_eq(m->n_parents, 2);
	ck_assert_uint_eq(m->parents[0].n_ids, 4);
	ck_assert_str_eq(m->parents[0].ids[0].name, "Microsoft-Windows-Client-Features-Package");
	ck_assert_str_eq(m->parents[0].ids[3].name, "Microsoft-Windows-EmbeddedCore-Features-Package");
	ck_assert_str_eq(m->parents[0].ids[2].build_type, "release");
	ck_assert_str_eq(m->parents[0].disposition, "detect");
	ck_assert_str_eq(m->parents[0].integrate, "separate");
	ck_assert_str_eq(m->parents[0].build_compare, "EQ");
	ck_assert_str_eq(m->parents[0].service_compare, "GE");
	ck_assert_ptr_null(m->parents[0].revision_compare);
	ck_assert_uint_eq(m->parents[1].n_ids, 1);
	ck_assert_str_eq(m->parents[1].revision_compare, "GE");
	ck_assert_str_eq(m->parents[1].disposition, "staged");
	ck_assert_ptr_null(m->parents[1].integrate);

	ck_assert_str_eq(m->installer.name, "Microsoft-Windows-ServicingStack");
	ck_assert_str_eq(m->installer.version, "6.0.0.0");
	ck_assert_str_eq(m->installer.version_scope, "nonSxS");

	ck_assert_uint_eq(m->n_updates, 3);
	ck_assert_str_eq(m->updates[0].name, "3118401-1_neutral_GDR");
	ck_assert_int_eq(m->updates[0].kind, OFFSERV_UPDATE_PACKAGE);
	ck_assert_int_ne(m->updates[0].has_applicable, 0);
	ck_assert_str_eq(m->updates[0].id.name, "Package_1_for_KB3118401");
	ck_assert_int_eq(m->updates[1].kind, OFFSERV_UPDATE_COMPONENT);
	ck_assert_int_eq(m->updates[1].has_applicable, 0);
	ck_assert_str_eq(m->updates[1].id.name, "Microsoft-Windows-UCRT");
	ck_assert_str_eq(m->updates[1].id.version, "10.0.10586.9");
	ck_assert_int_eq(m->updates[2].kind, OFFSERV_UPDATE_DRIVER);
	ck_assert_str_eq(m->updates[2].id.name, "dual_example.inf");
}

START_TEST(test_mum_real_format)
{
	size_t len;
	char *data = read_fixture("update.mum", &len);
	struct offserv_mum *m = NULL;
	char err[256] = "";

	ck_assert_uint_eq((unsigned char)data[0], 0xef); /* the fixture has its BOM */
	ck_assert_uint_eq(offserv_mum_parse(data, len, &m, err, sizeof(err)), OFFSERV_OK);
	check_mum(m);
	offserv_mum_free(m);
	free(data);
}
END_TEST

START_TEST(test_mum_utf16)
{
	size_t len;
	char *data = read_fixture("update-utf16.mum", &len);
	struct offserv_mum *m = NULL;
	char err[256] = "";

	ck_assert_uint_eq(offserv_mum_parse(data, len, &m, err, sizeof(err)), OFFSERV_OK);
	check_mum(m);
	offserv_mum_free(m);
	free(data);
}
END_TEST

START_TEST(test_mum_load)
{
	char *path = fixture("update.mum");
	struct offserv_mum *m = NULL;
	char err[512] = "";
	offserv_status st;

	ck_assert_uint_eq(offserv_mum_load(path, &m, err, sizeof(err)), OFFSERV_OK);
	check_mum(m);
	offserv_mum_free(m);
	free(path);

	/* a component manifest is not a package manifest; the error names the file */
	path = fixture("component.manifest");
	m = NULL;
	ck_assert_uint_eq(offserv_mum_load(path, &m, err, sizeof(err)),
	                  OFFSERV_CBS_E_INVALID_PACKAGE);
	ck_assert_ptr_null(m);
	ck_assert_ptr_nonnull(strstr(err, path));
	ck_assert_ptr_nonnull(strstr(err, "<package>"));
	free(path);

	path = fixture("does-not-exist.mum");
	st = offserv_mum_load(path, &m, err, sizeof(err));
	ck_assert(OFFSERV_FAILED(st));
	ck_assert_ptr_null(m);
	free(path);
	offserv_mum_free(NULL);
}
END_TEST

static offserv_status mum_text(const char *text, char *err, size_t errlen)
{
	struct offserv_mum *m = NULL;
	offserv_status st = offserv_mum_parse(text, strlen(text), &m, err, errlen);

	if (st == OFFSERV_OK)
		offserv_mum_free(m);
	else
		ck_assert_ptr_null(m);
	return st;
}

#define ASM "<assembly xmlns=\"urn:schemas-microsoft-com:asm.v3\" manifestVersion=\"1.0\">"
#define ID_OK "<assemblyIdentity name=\"P\" version=\"1.0.0.0\" processorArchitecture=\"amd64\" language=\"neutral\"/>"

START_TEST(test_mum_errors)
{
	char err[512];

	ck_assert_uint_eq(mum_text(ASM ID_OK "<package/></assembly>", err, sizeof(err)), OFFSERV_OK);
	/* no namespace is accepted too */
	ck_assert_uint_eq(mum_text("<assembly>" ID_OK "<package/></assembly>", err, sizeof(err)),
	                  OFFSERV_OK);
	ck_assert_uint_eq(mum_text("<foo/>", err, sizeof(err)), OFFSERV_CBS_E_INVALID_PACKAGE);
	ck_assert_ptr_nonnull(strstr(err, "<foo>"));
	ck_assert_uint_eq(mum_text("<assembly xmlns=\"urn:other\">" ID_OK "<package/></assembly>",
	                           err, sizeof(err)),
	                  OFFSERV_CBS_E_INVALID_PACKAGE);
	ck_assert_ptr_nonnull(strstr(err, "urn:other"));
	ck_assert_uint_eq(mum_text(ASM "<package/></assembly>", err, sizeof(err)),
	                  OFFSERV_CBS_E_INVALID_PACKAGE);
	ck_assert_ptr_nonnull(strstr(err, "assemblyIdentity"));
	ck_assert_uint_eq(mum_text(ASM "<assemblyIdentity name=\"P\" processorArchitecture=\"x86\"/>"
	                               "<package/></assembly>",
	                           err, sizeof(err)),
	                  OFFSERV_CBS_E_INVALID_PACKAGE);
	ck_assert_ptr_nonnull(strstr(err, "version"));
	ck_assert_uint_eq(mum_text(ASM "<assemblyIdentity version=\"1.0\" processorArchitecture=\"x86\"/>"
	                               "<package/></assembly>",
	                           err, sizeof(err)),
	                  OFFSERV_CBS_E_INVALID_PACKAGE);
	ck_assert_ptr_nonnull(strstr(err, "name"));
	ck_assert_uint_eq(mum_text(ASM "<assemblyIdentity name=\"P\" version=\"1.0\"/>"
	                               "<package/></assembly>",
	                           err, sizeof(err)),
	                  OFFSERV_CBS_E_INVALID_PACKAGE);
	ck_assert_ptr_nonnull(strstr(err, "processorArchitecture"));
	ck_assert_uint_eq(mum_text(ASM "<assemblyIdentity name=\"P\" version=\"1.99999\" "
	                               "processorArchitecture=\"x86\"/><package/></assembly>",
	                           err, sizeof(err)),
	                  OFFSERV_CBS_E_INVALID_PACKAGE);
	ck_assert_ptr_nonnull(strstr(err, "invalid version"));
	ck_assert_uint_eq(mum_text(ASM ID_OK "<package><parent/></package></assembly>", err,
	                           sizeof(err)),
	                  OFFSERV_CBS_E_INVALID_PACKAGE);
	ck_assert_uint_eq(mum_text(ASM ID_OK "<package><update name=\"u\"/></package></assembly>",
	                           err, sizeof(err)),
	                  OFFSERV_CBS_E_INVALID_PACKAGE);
	ck_assert_ptr_nonnull(strstr(err, "\"u\""));
	ck_assert_uint_eq(mum_text(ASM ID_OK "<package><update><component>" ID_OK
	                               "</component></update></package></assembly>",
	                           err, sizeof(err)),
	                  OFFSERV_CBS_E_INVALID_PACKAGE);
	ck_assert_uint_eq(mum_text(ASM ID_OK "<package><update name=\"u\"><component/></update>"
	                               "</package></assembly>",
	                           err, sizeof(err)),
	                  OFFSERV_CBS_E_INVALID_PACKAGE);
	ck_assert_uint_eq(mum_text(ASM ID_OK "<package><update name=\"u\"><component>" ID_OK
	                               "</component><package>" ID_OK "</package></update>"
	                               "</package></assembly>",
	                           err, sizeof(err)),
	                  OFFSERV_CBS_E_INVALID_PACKAGE);
	/* not well-formed */
	ck_assert_uint_eq(mum_text(ASM ID_OK "<package>", err, sizeof(err)),
	                  OFFSERV_CBS_E_XML_PARSER_FAILURE);
	ck_assert_ptr_nonnull(strstr(err, "line"));
	ck_assert_uint_eq(mum_text("", err, sizeof(err)), OFFSERV_CBS_E_XML_PARSER_FAILURE);
	ck_assert_uint_eq(mum_text("\xef\xbb\xbf", err, sizeof(err)),
	                  OFFSERV_CBS_E_XML_PARSER_FAILURE);
	/* error buffer may be absent */
	ck_assert_uint_eq(mum_text("<foo/>", NULL, 0), OFFSERV_CBS_E_INVALID_PACKAGE);
}
END_TEST

START_TEST(test_huge_inputs)
{
	size_t n = 40 * 1024;
	const char *pre = ASM "<assemblyIdentity name=\"";
	const char *post = "\" version=\"1.0\" processorArchitecture=\"x86\"/><package/></assembly>";
	char *doc = malloc(strlen(pre) + n + strlen(post) + 1);
	struct offserv_mum *m = NULL;
	char err[512];
	char *big;

	strcpy(doc, pre);
	memset(doc + strlen(pre), 'a', n);
	strcpy(doc + strlen(pre) + n, post);
	ck_assert_uint_eq(offserv_mum_parse(doc, strlen(doc), &m, err, sizeof(err)),
	                  OFFSERV_CBS_E_INVALID_PACKAGE);
	ck_assert_ptr_nonnull(strstr(err, "limit"));
	free(doc);

	big = calloc(1, (size_t)OFFSERV_MANIFEST_MAX_BYTES + 1);
	ck_assert_ptr_nonnull(big);
	memcpy(big, "<assembly>", 10);
	ck_assert_uint_eq(offserv_mum_parse(big, (size_t)OFFSERV_MANIFEST_MAX_BYTES + 1, &m, err,
	                                    sizeof(err)),
	                  OFFSERV_E_INVALID_DATA);
	free(big);
	ck_assert_ptr_null(m);
}
END_TEST

START_TEST(test_hostile_documents)
{
	static const char *const names[] = {
		"hostile-billion-laughs.manifest",
		"hostile-xxe.manifest",
		"hostile-external-entity.manifest",
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		size_t len;
		char *data = read_fixture(names[i], &len);
		struct offserv_manifest *m = NULL;
		struct offserv_mum *mum = NULL;
		char err[512] = "";

		ck_assert_uint_eq(offserv_manifest_parse(data, len, &m, err, sizeof(err)),
		                  OFFSERV_CBS_E_XML_PARSER_FAILURE);
		ck_assert_ptr_null(m);
		ck_assert_msg(strstr(err, "DTD") != NULL, "%s: %s", names[i], err);
		ck_assert_uint_eq(offserv_mum_parse(data, len, &mum, err, sizeof(err)),
		                  OFFSERV_CBS_E_XML_PARSER_FAILURE);
		ck_assert_ptr_null(mum);
		free(data);
	}
}
END_TEST

static const uint8_t sha256_abc[32] = {
	0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
	0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad,
};
static const uint8_t sha1_abc[20] = {
	0xa9, 0x99, 0x3e, 0x36, 0x47, 0x06, 0x81, 0x6a, 0xba, 0x3e,
	0x25, 0x71, 0x78, 0x50, 0xc2, 0x6c, 0x9c, 0xd0, 0xd8, 0x9d,
};

static const struct offserv_manifest_regvalue *find_value(const struct offserv_manifest_regkey *k,
                                                          const char *name)
{
	for (size_t i = 0; i < k->n_values; i++)
		if (strcmp(k->values[i].name, name) == 0)
			return &k->values[i];
	ck_abort_msg("no value %s", name);
	return NULL;
}

START_TEST(test_component_manifest)
{
	char *path = fixture("component.manifest");
	struct offserv_manifest *m = NULL;
	const struct offserv_manifest_regvalue *v;
	const struct offserv_manifest_sd *sd;
	char err[512] = "";

	ck_assert_msg(offserv_manifest_load(path, &m, err, sizeof(err)) == OFFSERV_OK, "%s", err);
	free(path);
	ck_assert_str_eq(m->id.name, "Microsoft-Windows-VolumeActivation-EventQuery");
	ck_assert_str_eq(m->id.version_scope, "nonSxS");
	ck_assert_int_eq(m->needs_online_work, 0);
	ck_assert_ptr_null(m->online_work_reason);
	ck_assert_int_eq(m->is_delta_compressed, 0);

	ck_assert_uint_eq(m->n_files, 3);
	ck_assert_str_eq(m->files[0].name, "VolumeActivation.Events.xml");
	ck_assert_str_eq(m->files[0].destination_path,
	                 "$(runtime.programData)\\Microsoft\\Event Viewer\\Views\\ServerRoles\\");
	ck_assert_str_eq(m->files[0].source_name, "VolumeActivation.Events.xml");
	ck_assert_str_eq(m->files[0].source_path, ".\\");
	ck_assert_str_eq(m->files[0].sd_name, "WRP_FILE_DEFAULT_SDDL");
	ck_assert_int_eq(m->files[0].hash_alg, OFFSERV_HASH_SHA256);
	ck_assert_uint_eq(m->files[0].hash_len, 32);
	ck_assert_mem_eq(m->files[0].digest, sha256_abc, 32);
	ck_assert_str_eq(m->files[1].name, "slmgr\\0409\\slmgr.ini");
	ck_assert_str_eq(m->files[1].attributes, "archive");
	ck_assert_ptr_null(m->files[1].sd_name);
	ck_assert_int_eq(m->files[1].hash_alg, OFFSERV_HASH_SHA1);
	ck_assert_uint_eq(m->files[1].hash_len, 20);
	ck_assert_mem_eq(m->files[1].digest, sha1_abc, 20);
	ck_assert_int_eq(m->files[2].hash_alg, OFFSERV_HASH_NONE);
	ck_assert_uint_eq(m->files[2].hash_len, 0);
	ck_assert_ptr_null(m->files[2].source_path);

	ck_assert_uint_eq(m->n_regkeys, 2);
	ck_assert_str_eq(m->regkeys[0].key_name,
	                 "HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Diagnostics\\DiagTrack");
	ck_assert_uint_eq(m->regkeys[0].n_values, 7);
	ck_assert_uint_eq(m->regkeys[1].n_values, 0);

	v = find_value(&m->regkeys[0], "ManifestRefreshInterval");
	ck_assert_int_eq(v->type, OFFSERV_REG_DWORD);
	ck_assert_uint_eq(v->len, 4);
	ck_assert_mem_eq(v->data, "\xff\xff\xff\xff", 4);
	v = find_value(&m->regkeys[0], "Decimal");
	ck_assert_mem_eq(v->data, "\x00\x10\x00\x00", 4);
	v = find_value(&m->regkeys[0], "");
	ck_assert_int_eq(v->type, OFFSERV_REG_SZ);
	ck_assert_uint_eq(v->len, 10);
	ck_assert_mem_eq(v->data, "C\0a\0f\0\xe9\0\0\0", 10);
	v = find_value(&m->regkeys[0], "Path");
	ck_assert_int_eq(v->type, OFFSERV_REG_EXPAND_SZ);
	ck_assert_uint_eq(v->len, 2 * (strlen("%SystemRoot%\\system32") + 1));
	ck_assert_mem_eq(v->data, "%\0S\0", 4);
	v = find_value(&m->regkeys[0], "DependOnService");
	ck_assert_int_eq(v->type, OFFSERV_REG_MULTI_SZ);
	ck_assert_uint_eq(v->len, 26);
	ck_assert_mem_eq(v->data, "R\0p\0c\0S\0s\0\0\0T\0c\0p\0i\0p\0\0\0\0\0", 26);
	v = find_value(&m->regkeys[0], "Blob");
	ck_assert_int_eq(v->type, OFFSERV_REG_BINARY);
	ck_assert_uint_eq(v->len, 4);
	ck_assert_mem_eq(v->data, "\x01\x00\xff\xab", 4);
	v = find_value(&m->regkeys[0], "Big");
	ck_assert_int_eq(v->type, OFFSERV_REG_QWORD);
	ck_assert_uint_eq(v->len, 8);
	ck_assert_mem_eq(v->data, "\x08\x07\x06\x05\x04\x03\x02\x01", 8);

	ck_assert_uint_eq(m->n_sds, 2);
	sd = offserv_manifest_find_sd(m, "WRP_FILE_DEFAULT_SDDL");
	ck_assert_ptr_nonnull(sd);
	ck_assert_str_eq(sd->sddl, offserv_sddl_wrp_file_default());
	sd = offserv_manifest_find_sd(m, "SystemRegistryACL");
	ck_assert_str_eq(sd->sddl, "O:SYG:SYD:P(A;CI;GA;;;SY)(A;CI;GR;;;BA)");
	ck_assert_ptr_null(offserv_manifest_find_sd(m, "nope"));
	ck_assert_ptr_null(offserv_manifest_find_sd(NULL, "nope"));
	offserv_manifest_free(m);
	offserv_manifest_free(NULL);
}
END_TEST

static offserv_status manifest_file(const char *name, struct offserv_manifest **m, char *err,
                                    size_t errlen)
{
	char *path = fixture(name);
	offserv_status st = offserv_manifest_load(path, m, err, errlen);

	free(path);
	return st;
}

START_TEST(test_online_work)
{
	struct offserv_manifest *m = NULL;
	char err[512] = "";

	ck_assert_uint_eq(manifest_file("genericcommands.manifest", &m, err, sizeof(err)), OFFSERV_OK);
	ck_assert_int_ne(m->needs_online_work, 0);
	ck_assert_ptr_nonnull(strstr(m->online_work_reason, "genericCommands"));
	ck_assert_uint_eq(m->n_files, 1);
	offserv_manifest_free(m);

	ck_assert_uint_eq(manifest_file("service.manifest", &m, err, sizeof(err)), OFFSERV_OK);
	ck_assert_int_ne(m->needs_online_work, 0);
	ck_assert_ptr_nonnull(strstr(m->online_work_reason, "Microsoft.Windows.Categories.Services"));
	offserv_manifest_free(m);

	ck_assert_uint_eq(manifest_file("marker.manifest", &m, err, sizeof(err)), OFFSERV_OK);
	ck_assert_int_eq(m->needs_online_work, 0);
	offserv_manifest_free(m);
}
END_TEST

START_TEST(test_delta_compressed)
{
	struct offserv_manifest *m = NULL;
	char err[512] = "";
	char *path = fixture("delta.manifest");

	ck_assert_uint_eq(offserv_manifest_load(path, &m, err, sizeof(err)), OFFSERV_E_NOT_SUPPORTED);
	ck_assert_ptr_null(m);
	ck_assert_ptr_nonnull(strstr(err, "delta-compressed"));
	ck_assert_ptr_nonnull(strstr(err, "MSDelta"));
	ck_assert_ptr_nonnull(strstr(err, path));
	free(path);
}
END_TEST

static offserv_status component_text(const char *body, char *err, size_t errlen)
{
	char *doc = offtest_strdup_printf(ASM ID_OK "%s</assembly>", body);
	struct offserv_manifest *m = NULL;
	offserv_status st = offserv_manifest_parse(doc, strlen(doc), &m, err, errlen);

	free(doc);
	if (st == OFFSERV_OK)
		offserv_manifest_free(m);
	else
		ck_assert_ptr_null(m);
	return st;
}

#define RV(type, value)                                                        \
	"<registryKeys><registryKey keyName=\"HKEY_LOCAL_MACHINE\\SOFTWARE\\X\">" \
	"<registryValue name=\"v\" valueType=\"" type "\" value=\"" value "\"/>" \
	"</registryKey></registryKeys>"

#define HASH(alg, value)                                                       \
	"<file name=\"f\"><asmv2:hash xmlns:asmv2=\"urn:schemas-microsoft-com:asm.v2\" "  \
	"xmlns:dsig=\"http://www.w3.org/2000/09/xmldsig#\"><dsig:DigestMethod "  \
	"Algorithm=\"http://www.w3.org/2000/09/xmldsig#" alg "\"/><dsig:DigestValue>" value \
	"</dsig:DigestValue></asmv2:hash></file>"

START_TEST(test_component_errors)
{
	char err[512];

	ck_assert_uint_eq(component_text("", err, sizeof(err)), OFFSERV_OK);
	ck_assert_uint_eq(component_text(RV("REG_DWORD", "0x100000000"), err, sizeof(err)),
	                  OFFSERV_CBS_E_INVALID_PACKAGE);
	ck_assert_ptr_nonnull(strstr(err, "REG_DWORD"));
	ck_assert_uint_eq(component_text(RV("REG_DWORD", "-1"), err, sizeof(err)),
	                  OFFSERV_CBS_E_INVALID_PACKAGE);
	ck_assert_uint_eq(component_text(RV("REG_DWORD", ""), err, sizeof(err)),
	                  OFFSERV_CBS_E_INVALID_PACKAGE);
	ck_assert_uint_eq(component_text(RV("REG_DWORD", "4294967295"), err, sizeof(err)), OFFSERV_OK);
	ck_assert_uint_eq(component_text(RV("REG_QWORD", "0x10000000000000000"), err, sizeof(err)),
	                  OFFSERV_CBS_E_INVALID_PACKAGE);
	ck_assert_uint_eq(component_text(RV("REG_BINARY", "abc"), err, sizeof(err)),
	                  OFFSERV_CBS_E_INVALID_PACKAGE);
	ck_assert_uint_eq(component_text(RV("REG_BINARY", "zz"), err, sizeof(err)),
	                  OFFSERV_CBS_E_INVALID_PACKAGE);
	ck_assert_uint_eq(component_text(RV("REG_BINARY", ""), err, sizeof(err)), OFFSERV_OK);
	ck_assert_uint_eq(component_text(RV("REG_MULTI_SZ", "&quot;a&quot;,"), err, sizeof(err)),
	                  OFFSERV_CBS_E_INVALID_PACKAGE);
	ck_assert_uint_eq(component_text(RV("REG_MULTI_SZ", "&quot;a"), err, sizeof(err)),
	                  OFFSERV_CBS_E_INVALID_PACKAGE);
	ck_assert_uint_eq(component_text(RV("REG_MULTI_SZ", "a"), err, sizeof(err)),
	                  OFFSERV_CBS_E_INVALID_PACKAGE);
	ck_assert_uint_eq(component_text(RV("REG_MULTI_SZ", ""), err, sizeof(err)), OFFSERV_OK);
	ck_assert_uint_eq(component_text(RV("REG_RESOURCE_LIST", "00"), err, sizeof(err)),
	                  OFFSERV_CBS_E_INVALID_PACKAGE);
	ck_assert_ptr_nonnull(strstr(err, "REG_RESOURCE_LIST"));
	ck_assert_uint_eq(component_text("<registryKeys><registryKey><registryValue name=\"a\" "
	                                 "valueType=\"REG_SZ\" value=\"\"/></registryKey>"
	                                 "</registryKeys>",
	                                 err, sizeof(err)),
	                  OFFSERV_CBS_E_INVALID_PACKAGE);
	ck_assert_ptr_nonnull(strstr(err, "keyName"));
	ck_assert_uint_eq(component_text("<registryKeys><registryKey keyName=\"k\"><registryValue "
	                                 "name=\"a\" value=\"\"/></registryKey></registryKeys>",
	                                 err, sizeof(err)),
	                  OFFSERV_CBS_E_INVALID_PACKAGE);
	ck_assert_ptr_nonnull(strstr(err, "valueType"));
	ck_assert_uint_eq(component_text("<file destinationPath=\"x\"/>", err, sizeof(err)),
	                  OFFSERV_CBS_E_INVALID_PACKAGE);
	ck_assert_ptr_nonnull(strstr(err, "name"));
	ck_assert_uint_eq(component_text(HASH("sha256", "ungA"), err, sizeof(err)),
	                  OFFSERV_CBS_E_INVALID_PACKAGE);
	/* a SHA-1 length digest under a SHA-256 method */
	ck_assert_uint_eq(component_text(HASH("sha256", "qZk+NkcGgWq6PiVxeFDCbJzQ2J0="), err,
	                                 sizeof(err)),
	                  OFFSERV_CBS_E_INVALID_PACKAGE);
	ck_assert_uint_eq(component_text(HASH("sha1", "qZk+NkcGgWq6PiVxeFDCbJzQ2J0="), err,
	                                 sizeof(err)),
	                  OFFSERV_OK);
	ck_assert_uint_eq(component_text(HASH("md5", "qZk+NkcGgWq6PiVxeFDCbJzQ2J0="), err,
	                                 sizeof(err)),
	                  OFFSERV_CBS_E_INVALID_PACKAGE);
	ck_assert_ptr_nonnull(strstr(err, "md5"));
	ck_assert_uint_eq(component_text("<file name=\"f\"><hash/></file>", err, sizeof(err)),
	                  OFFSERV_CBS_E_INVALID_PACKAGE);
	ck_assert_uint_eq(component_text("<trustInfo><security><accessControl>"
	                                 "<securityDescriptorDefinitions>"
	                                 "<securityDescriptorDefinition name=\"x\"/>"
	                                 "</securityDescriptorDefinitions></accessControl>"
	                                 "</security></trustInfo>",
	                                 err, sizeof(err)),
	                  OFFSERV_CBS_E_INVALID_PACKAGE);
	ck_assert_ptr_nonnull(strstr(err, "sddl"));
	ck_assert_uint_eq(component_text("<fveUpdateAI fveCommand=\"bootmgr\"/>", err, sizeof(err)),
	                  OFFSERV_OK);
}
END_TEST

START_TEST(test_advanced_installer_elements)
{
	static const char *const bodies[] = {
		"<fveUpdateAI fveCommand=\"bootmgr\"/>",
		"<taskScheduler><Task xmlns=\"http://schemas.microsoft.com/windows/2004/02/mit/task\"/></taskScheduler>",
		"<categoryMembership><id name=\"Microsoft.Windows.Categories\" typeName=\"AdvancedInstaller\"/></categoryMembership>",
		"<instrumentation><events xmlns=\"http://schemas.microsoft.com/win/2004/08/events\"/></instrumentation>",
	};

	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		char *doc = offtest_strdup_printf(ASM ID_OK "%s</assembly>", bodies[i]);
		struct offserv_manifest *m = NULL;
		char err[256] = "";

		ck_assert_msg(offserv_manifest_parse(doc, strlen(doc), &m, err, sizeof(err)) ==
		                      OFFSERV_OK,
		              "%s", err);
		ck_assert_msg(m->needs_online_work, "%s", bodies[i]);
		ck_assert_ptr_nonnull(m->online_work_reason);
		offserv_manifest_free(m);
		free(doc);
	}
}
END_TEST

static void dest_ok(const char *in, const char *want)
{
	char *out = NULL;
	char err[256] = "";

	ck_assert_msg(offserv_resolve_destination(in, &out, err, sizeof(err)) == OFFSERV_OK,
	              "%s: %s", in, err);
	ck_assert_str_eq(out, want);
	free(out);
}

static void dest_bad(const char *in)
{
	char *out = NULL;
	char err[256] = "";

	ck_assert_msg(offserv_resolve_destination(in, &out, err, sizeof(err)) ==
	                      OFFSERV_E_INVALID_NAME,
	              "%s accepted", in);
	ck_assert_ptr_null(out);
	ck_assert_msg(err[0] != '\0', "%s: no message", in);
}

START_TEST(test_destinations)
{
	dest_ok("$(runtime.drivers)\\", "Windows/System32/drivers");
	dest_ok("$(runtime.system32)", "Windows/System32");
	dest_ok("$(RUNTIME.System32)\\wbem\\", "Windows/System32/wbem");
	dest_ok("$(runtime.programData)\\Microsoft\\Event Viewer\\Views\\ServerRoles\\",
	        "ProgramData/Microsoft/Event Viewer/Views/ServerRoles");
	dest_ok("$(runtime.windows)\\INF\\", "Windows/INF");
	dest_ok("$(runtime.systemRoot)\\Fonts", "Windows/Fonts");
	dest_ok("$(runtime.windir)", "Windows");
	dest_ok("$(runtime.programFilesX86)\\Common Files\\", "Program Files (x86)/Common Files");
	dest_ok("$(runtime.startMenu)\\Programs", "ProgramData/Microsoft/Windows/Start Menu/Programs");
	dest_ok("$(runtime.bootDrive)\\Boot\\", "Boot");
	dest_ok("$(runtime.bootDrive)\\", "");
	dest_ok("$(runtime.public)\\Desktop", "Users/Public/Desktop");
	dest_ok("Windows\\System32\\", "Windows/System32");

	dest_bad("$(runtime.nosuch)\\");
	dest_bad("$(build.nttree)\\");
	dest_bad("$(runtime.system32");
	dest_bad("$(runtime.system32)x\\");
	dest_bad("$(runtime.system32)\\..\\..\\etc");
	dest_bad("$(runtime.system32)\\a\\..\\b");
	dest_bad("$(runtime.system32)\\a\\\\b");
	dest_bad("$(runtime.system32)\\\\");
	dest_bad("C:\\Windows\\System32");
	dest_bad("\\Windows\\System32");
	dest_bad("/etc");
	dest_bad("Windows\\$(runtime.system32)");
	dest_bad("$(runtime.system32)\\con");
	dest_bad("$(runtime.system32)\\a\x01" "b");
	dest_bad("$(runtime.system32)\\file.txt:stream");
	dest_bad("");
	dest_bad(NULL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("manifest");
	TCase *tc = tcase_create("manifest");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_mum_real_format);
	tcase_add_test(tc, test_mum_utf16);
	tcase_add_test(tc, test_mum_load);
	tcase_add_test(tc, test_mum_errors);
	tcase_add_test(tc, test_huge_inputs);
	tcase_add_test(tc, test_hostile_documents);
	tcase_add_test(tc, test_component_manifest);
	tcase_add_test(tc, test_online_work);
	tcase_add_test(tc, test_delta_compressed);
	tcase_add_test(tc, test_component_errors);
	tcase_add_test(tc, test_advanced_installer_elements);
	tcase_add_test(tc, test_destinations);
	suite_add_tcase(s, tc);
	return offtest_run(s);
}
