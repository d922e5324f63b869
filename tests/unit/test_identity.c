/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <config.h>

#include <stdlib.h>
#include <string.h>

#include <offserv/cbs.h>

#include "testutil.h"

#define TOKEN "31bf3856ad364e35"

static void check_key(const char *name, const char *arch, const char *version,
                      const char *language, const char *token, const char *type,
                      const char *scope, const char *expected)
{
	struct offserv_identity id = {0};
	char *key;

	id.name = (char *)name;
	id.arch = (char *)arch;
	id.version = (char *)version;
	id.language = (char *)language;
	id.token = (char *)token;
	id.type = (char *)type;
	id.version_scope = (char *)scope;
	key = offserv_identity_key_form(&id);
	ck_assert_ptr_nonnull(key);
	ck_assert_str_eq(key, expected);
	free(key);
}

/*
 * Real component store folder names, each with the identity its manifest
 * declares.  The first two are the haveSxS project's published vectors; the
 * others are folder names of real Windows installations quoted in public
 * scripts and listings.
 */
START_TEST(test_key_form_vectors)
{
	check_key("Microsoft-Windows-ServicingStack", "amd64", "10.0.19041.1", "neutral", TOKEN,
	          NULL, "nonSxS",
	          "amd64_microsoft-windows-servicingstack_31bf3856ad364e35_10.0.19041.1_none_bf506ecc66a800df");
	check_key("Microsoft.Windows.Common-Controls", "amd64", "6.0.19041.1110", "*",
	          "6595b64144ccf1df", "win32", NULL,
	          "amd64_microsoft.windows.common-controls_6595b64144ccf1df_6.0.19041.1110_none_60b5254171f9507e");
}
END_TEST

START_TEST(test_key_form_real_stores)
{
	/* wow64 */
	check_key("Microsoft-Windows-Calc", "wow64", "10.0.19041.1", "neutral", TOKEN, NULL,
	          "nonSxS",
	          "wow64_microsoft-windows-calc_31bf3856ad364e35_10.0.19041.1_none_6a03b910ee7a4073");
	check_key("Microsoft-Windows-Calc", "wow64", "10.0.22000.653", "neutral", TOKEN, NULL,
	          "nonSxS",
	          "wow64_microsoft-windows-calc_31bf3856ad364e35_10.0.22000.653_none_af5a7703d45fcb5b");
	/* x86 */
	check_key("Microsoft-Windows-DirectShow-Core", "x86", "6.1.7601.17514", "neutral", TOKEN,
	          NULL, "nonSxS",
	          "x86_microsoft-windows-directshow-core_31bf3856ad364e35_6.1.7601.17514_none_a877a1cc4c284497");
	/* a culture */
	check_key("kdnic.inf.resources", "amd64", "10.0.19041.1", "en-US", TOKEN, NULL, "nonSxS",
	          "amd64_kdnic.inf.resources_31bf3856ad364e35_10.0.19041.1_en-us_6a39b593cd0620bd");
	check_key("Microsoft-Windows-Shell32.Resources", "x86", "6.1.7600.16385", "de-DE", TOKEN,
	          NULL, "nonSxS",
	          "x86_microsoft-windows-shell32.resources_31bf3856ad364e35_6.1.7600.16385_de-de_b08f46c44b512da0");
	/* a long name, wow64 and a culture at once */
	check_key("Microsoft-Windows-International-Timezones.Resources", "wow64", "10.0.16299.579",
	          "de-DE", TOKEN, NULL, "nonSxS",
	          "wow64_microsoft-windows-i..timezones.resources_31bf3856ad364e35_10.0.16299.579_de-de_f24979c73226184d");
	check_key("Microsoft-Windows-Security-SPP-Component-PKeyConfig", "x86", "6.1.7601.24558",
	          "neutral", TOKEN, NULL, "nonSxS",
	          "x86_microsoft-windows-s..omponent-pkeyconfig_31bf3856ad364e35_6.1.7601.24558_none_4d78bb7f5a12e4c1");
	/* a long culture: shortened to 3 + ".." + 3 */
	check_key("Microsoft.PowerShell.DSC.Proxy.Resources", "amd64", "7.3.7601.16384",
	          "sr-Latn-RS", TOKEN, NULL, "nonSxS",
	          "amd64_microsoft.powershell.dsc.proxy.resources_31bf3856ad364e35_7.3.7601.16384_sr-..-rs_8a2f6ac5652a8762");
	/* the compound architecture of x86 code on arm64 */
	check_key("Microsoft-Windows-OneDrive-Setup", "arm64.x86", "10.0.20262.1", "neutral", TOKEN,
	          NULL, "nonSxS",
	          "arm64.x86_microsoft-windows-onedrive-setup_31bf3856ad364e35_10.0.20262.1_none_524224da765836ec");
}
END_TEST

START_TEST(test_key_form_edges)
{
	struct offserv_identity id = {0};
	char *key;

	ck_assert_ptr_null(offserv_identity_key_form(NULL));
	id.name = (char *)"A";
	id.version = (char *)"1.0.0.0";
	ck_assert_ptr_null(offserv_identity_key_form(&id)); /* no arch */
	id.arch = (char *)"AMD64";
	key = offserv_identity_key_form(&id);
	ck_assert_ptr_nonnull(key);
	/* no token: "none"; no language: neutral; everything lower case */
	ck_assert_int_eq(strncmp(key, "amd64_a_none_1.0.0.0_none_", 26), 0);
	ck_assert_uint_eq(strlen(key), 26 + 16);
	free(key);
	/* a name of exactly 40 characters is kept whole */
	id.name = (char *)"abcdefghijabcdefghijabcdefghijabcdefghij";
	key = offserv_identity_key_form(&id);
	ck_assert_ptr_nonnull(strstr(key, "_abcdefghijabcdefghijabcdefghijabcdefghij_"));
	free(key);
	id.name = (char *)"abcdefghijabcdefghijabcdefghijabcdefghijK";
	key = offserv_identity_key_form(&id);
	ck_assert_ptr_nonnull(strstr(key, "_abcdefghijabcdefghi..cdefghijabcdefghijk_"));
	free(key);
	/* The pseudo-key ignores case. */
	{
		struct offserv_identity a = {0}, b = {0};

		a.name = (char *)"Microsoft-Windows-Calc";
		b.name = (char *)"MICROSOFT-WINDOWS-CALC";
		a.arch = b.arch = (char *)"wow64";
		a.version = b.version = (char *)"1.2.3.4";
		ck_assert_uint_eq(offserv_identity_pseudo_key(&a), offserv_identity_pseudo_key(&b));
		b.version_scope = (char *)"nonSxS";
		ck_assert_uint_ne(offserv_identity_pseudo_key(&a), offserv_identity_pseudo_key(&b));
	}
}
END_TEST

START_TEST(test_versions)
{
	uint16_t v[4];

	ck_assert_uint_eq(offserv_version_parse("10.0.19041.1", v), OFFSERV_OK);
	ck_assert_uint_eq(v[0], 10);
	ck_assert_uint_eq(v[2], 19041);
	ck_assert_uint_eq(v[3], 1);
	ck_assert_uint_eq(offserv_version_parse("6.1", v), OFFSERV_OK);
	ck_assert_uint_eq(v[1], 1);
	ck_assert_uint_eq(v[2], 0);
	ck_assert_uint_eq(offserv_version_parse("65535.65535.65535.65535", v), OFFSERV_OK);
	ck_assert_uint_eq(v[3], 65535);
	ck_assert_uint_eq(offserv_version_parse("65536.0.0.0", v), OFFSERV_E_INVALIDARG);
	ck_assert_uint_eq(offserv_version_parse("1.2.3.4.5", v), OFFSERV_E_INVALIDARG);
	ck_assert_uint_eq(offserv_version_parse("1..2", v), OFFSERV_E_INVALIDARG);
	ck_assert_uint_eq(offserv_version_parse("1.2.", v), OFFSERV_E_INVALIDARG);
	ck_assert_uint_eq(offserv_version_parse("", v), OFFSERV_E_INVALIDARG);
	ck_assert_uint_eq(offserv_version_parse("-1", v), OFFSERV_E_INVALIDARG);
	ck_assert_uint_eq(offserv_version_parse("1.2a", v), OFFSERV_E_INVALIDARG);
	ck_assert_uint_eq(offserv_version_parse(NULL, v), OFFSERV_E_INVALIDARG);
	ck_assert_uint_eq(offserv_version_parse("000001.0", v), OFFSERV_E_INVALIDARG);

	ck_assert_int_lt(offserv_version_compare("10.0.19041.1", "10.0.19041.2"), 0);
	ck_assert_int_gt(offserv_version_compare("10.0.19041.10", "10.0.19041.9"), 0);
	ck_assert_int_eq(offserv_version_compare("6.1", "6.1.0.0"), 0);
	ck_assert_int_gt(offserv_version_compare("26100.9457.1.0", "6.1.7601.17514"), 0);
	ck_assert_int_lt(offserv_version_compare("garbage", "0.0.0.0"), 0);
	ck_assert_int_eq(offserv_version_compare("x", "y"), 0);
}
END_TEST

START_TEST(test_package_string)
{
	struct offserv_identity id = {0}, parsed = {0}, copy = {0};
	char *s;

	id.name = (char *)"Package_for_KB4474419";
	id.token = (char *)TOKEN;
	id.arch = (char *)"amd64";
	id.language = (char *)"neutral";
	id.version = (char *)"6.1.2.2";
	s = offserv_identity_package_string(&id);
	ck_assert_str_eq(s, "Package_for_KB4474419~31bf3856ad364e35~amd64~~6.1.2.2");
	ck_assert_uint_eq(offserv_identity_parse_package_string(s, &parsed), OFFSERV_OK);
	ck_assert_str_eq(parsed.name, "Package_for_KB4474419");
	ck_assert_str_eq(parsed.token, TOKEN);
	ck_assert_str_eq(parsed.arch, "amd64");
	ck_assert_str_eq(parsed.language, "neutral");
	ck_assert_str_eq(parsed.version, "6.1.2.2");
	free(s);
	s = offserv_identity_package_string(&parsed);
	ck_assert_str_eq(s, "Package_for_KB4474419~31bf3856ad364e35~amd64~~6.1.2.2");
	free(s);

	ck_assert_uint_eq(offserv_identity_copy(&copy, &parsed), OFFSERV_OK);
	ck_assert_ptr_ne(copy.name, parsed.name);
	ck_assert_str_eq(copy.name, parsed.name);
	ck_assert_ptr_null(copy.type);
	offserv_identity_clear(&parsed);
	ck_assert_ptr_null(parsed.name);
	ck_assert_str_eq(copy.version, "6.1.2.2");

	ck_assert_uint_eq(offserv_identity_parse_package_string(
	                          "Microsoft-Windows-Client-LanguagePack-Package~31bf3856ad364e35~amd64~en-US~10.0.19041.1",
	                          &parsed),
	                  OFFSERV_OK);
	ck_assert_str_eq(parsed.language, "en-US");
	s = offserv_identity_package_string(&parsed);
	ck_assert_str_eq(s, "Microsoft-Windows-Client-LanguagePack-Package~31bf3856ad364e35~amd64~en-US~10.0.19041.1");
	free(s);
	offserv_identity_clear(&parsed);
	offserv_identity_clear(&copy);

	ck_assert_uint_eq(offserv_identity_parse_package_string("a~b~c~d", &parsed),
	                  OFFSERV_E_INVALIDARG);
	ck_assert_uint_eq(offserv_identity_parse_package_string("a~b~c~d~1.0~x", &parsed),
	                  OFFSERV_E_INVALIDARG);
	ck_assert_uint_eq(offserv_identity_parse_package_string("~b~c~~1.0", &parsed),
	                  OFFSERV_E_INVALIDARG);
	ck_assert_uint_eq(offserv_identity_parse_package_string("a~b~amd64~~notaversion", &parsed),
	                  OFFSERV_E_INVALIDARG);
	ck_assert_uint_eq(offserv_identity_parse_package_string("a~b~~~1.0", &parsed),
	                  OFFSERV_E_INVALIDARG);
	ck_assert_ptr_null(parsed.name);
}
END_TEST

START_TEST(test_state_names)
{
	ck_assert_str_eq(offserv_package_state_name(OFFSERV_STATE_INSTALLED), "Installed");
	ck_assert_str_eq(offserv_package_state_name(0x70), "Installed");
	ck_assert_str_eq(offserv_package_state_name(0x60), "Install Pending");
	ck_assert_str_eq(offserv_package_state_name(0x05), "Uninstall Pending");
	ck_assert_str_eq(offserv_package_state_name(0x40), "Staged");
	ck_assert_str_eq(offserv_package_state_name(0x50), "Superseded");
	ck_assert_str_eq(offserv_package_state_name(0x65), "Partially Installed");
	ck_assert_str_eq(offserv_package_state_name(0x80), "Permanent");
	ck_assert_str_eq(offserv_package_state_name(0x00), "Absent");
	ck_assert_str_eq(offserv_package_state_name(0x20), "Resolved");
	ck_assert_str_eq(offserv_package_state_name(0x10), "Resolving");
	ck_assert_str_eq(offserv_package_state_name(0x30), "Staging");
	ck_assert_str_eq(offserv_package_state_name(0x1234), "Unknown");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("identity");
	TCase *tc = tcase_create("identity");

	tcase_add_test(tc, test_key_form_vectors);
	tcase_add_test(tc, test_key_form_real_stores);
	tcase_add_test(tc, test_key_form_edges);
	tcase_add_test(tc, test_versions);
	tcase_add_test(tc, test_package_string);
	tcase_add_test(tc, test_state_names);
	suite_add_tcase(s, tc);
	return offtest_run(s);
}
