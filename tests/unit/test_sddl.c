/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <config.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <ntfs-3g/types.h>
#include <ntfs-3g/layout.h>
#include <ntfs-3g/security.h>
#include <ntfs-3g/acls.h>

#include <offserv/cbs.h>

#include "testutil.h"

#define TI "S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464"

static uint16_t get16(const uint8_t *b)
{
	return (uint16_t)(b[0] | b[1] << 8);
}

static uint32_t get32(const uint8_t *b)
{
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

/* A binary SID back to its string form, read independently of the library. */
static void sid_string(const uint8_t *sid, size_t avail, char *out, size_t outlen)
{
	uint64_t auth = 0;
	int n;
	size_t used;

	ck_assert_uint_ge(avail, 8);
	ck_assert_uint_eq(sid[0], 1);
	n = sid[1];
	ck_assert_uint_ge(avail, 8 + 4 * (size_t)n);
	for (int i = 0; i < 6; i++)
		auth = auth << 8 | sid[2 + i];
	used = (size_t)snprintf(out, outlen, "S-1-%llu", (unsigned long long)auth);
	for (int i = 0; i < n; i++)
		used += (size_t)snprintf(out + used, outlen - used, "-%u", get32(sid + 8 + 4 * i));
}

struct ace_view {
	uint8_t type, flags;
	uint32_t mask;
	char sid[128];
};

/* Read the ACL at @p off into @p aces; returns the ACE count. */
static size_t read_acl(const uint8_t *sd, size_t len, uint32_t off, struct ace_view *aces,
                       size_t max)
{
	const uint8_t *acl = sd + off;
	size_t size, count, pos = 8;

	ck_assert_uint_le(off + 8, len);
	ck_assert_uint_eq(acl[0], 2); /* ACL_REVISION */
	ck_assert_uint_eq(acl[1], 0);
	size = get16(acl + 2);
	count = get16(acl + 4);
	ck_assert_uint_eq(get16(acl + 6), 0);
	ck_assert_uint_le(off + size, len);
	ck_assert_uint_le(count, max);
	for (size_t i = 0; i < count; i++) {
		const uint8_t *ace = acl + pos;
		size_t asz = get16(ace + 2);

		ck_assert_uint_le(pos + asz, size);
		ck_assert_uint_eq(asz % 4, 0);
		aces[i].type = ace[0];
		aces[i].flags = ace[1];
		aces[i].mask = get32(ace + 4);
		sid_string(ace + 8, asz - 8, aces[i].sid, sizeof(aces[i].sid));
		ck_assert_uint_eq(asz, 8 + 8 + 4 * (size_t)ace[9]);
		pos += asz;
	}
	ck_assert_uint_eq(pos, size);
	return count;
}

static uint8_t *convert(const char *sddl, size_t *len)
{
	uint8_t *sd = NULL;
	char err[256] = "";

	ck_assert_msg(offserv_sddl_to_sd(sddl, &sd, len, err, sizeof(err)) == OFFSERV_OK, "%s: %s",
	              sddl, err);
	ck_assert_msg(ntfs_valid_descr((const char *)sd, (unsigned int)*len), "ntfs-3g refuses %s",
	              sddl);
	return sd;
}

START_TEST(test_wrp_file_default)
{
	const char *sddl = offserv_sddl_wrp_file_default();
	struct ace_view aces[8];
	char sid[128];
	size_t len, n;
	uint8_t *sd;
	uint32_t owner, group, sacl, dacl;

	ck_assert_str_eq(sddl, "O:" TI "G:" TI "D:P(A;;FA;;;" TI ")(A;;GRGX;;;BA)(A;;GRGX;;;SY)"
	                       "(A;;GRGX;;;BU)(A;;GRGX;;;S-1-15-2-1)(A;;GRGX;;;S-1-15-2-2)"
	                       "S:(AU;FASA;0x000D0116;;;WD)");
	sd = convert(sddl, &len);
	ck_assert_uint_eq(sd[0], 1);
	ck_assert_uint_eq(sd[1], 0);
	/* self-relative, DACL present and protected, SACL present */
	ck_assert_uint_eq(get16(sd + 2), 0x8000 | 0x1000 | 0x0010 | 0x0004);
	owner = get32(sd + 4);
	group = get32(sd + 8);
	sacl = get32(sd + 12);
	dacl = get32(sd + 16);
	/* Windows' order: SACL, DACL, owner, group right after the header */
	ck_assert_uint_eq(sacl, 20);
	ck_assert_uint_eq(dacl, 20 + 8 + 20);
	ck_assert_uint_gt(owner, dacl);
	ck_assert_uint_eq(group, owner + 32); /* 6 sub-authorities */
	ck_assert_uint_eq(len, group + 32);

	n = read_acl(sd, len, sacl, aces, 8);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(aces[0].type, 2);
	ck_assert_uint_eq(aces[0].flags, 0xC0); /* SUCCESSFUL_ACCESS | FAILED_ACCESS */
	ck_assert_uint_eq(aces[0].mask, 0x000D0116);
	ck_assert_str_eq(aces[0].sid, "S-1-1-0");

	n = read_acl(sd, len, dacl, aces, 8);
	ck_assert_uint_eq(n, 6);
	ck_assert_uint_eq(owner, dacl + get16(sd + dacl + 2));
	for (size_t i = 0; i < n; i++) {
		ck_assert_uint_eq(aces[i].type, 0);
		ck_assert_uint_eq(aces[i].flags, 0);
		ck_assert_uint_eq(aces[i].mask, i == 0 ? 0x001F01FFu : 0xA0000000u);
	}
	ck_assert_str_eq(aces[0].sid, TI);
	ck_assert_str_eq(aces[1].sid, "S-1-5-32-544");
	ck_assert_str_eq(aces[2].sid, "S-1-5-18");
	ck_assert_str_eq(aces[3].sid, "S-1-5-32-545");
	ck_assert_str_eq(aces[4].sid, "S-1-15-2-1");
	ck_assert_str_eq(aces[5].sid, "S-1-15-2-2");
	sid_string(sd + owner, len - owner, sid, sizeof(sid));
	ck_assert_str_eq(sid, TI);
	/* the validator is not a rubber stamp: a wrong ACL revision or a cut-off
	 * descriptor is refused */
	sd[dacl] = 9;
	ck_assert(!ntfs_valid_descr((const char *)sd, (unsigned int)len));
	sd[dacl] = 2;
	ck_assert(!ntfs_valid_descr((const char *)sd, (unsigned int)len - 4));
	ck_assert(ntfs_valid_descr((const char *)sd, (unsigned int)len));
	sid_string(sd + group, len - group, sid, sizeof(sid));
	ck_assert_str_eq(sid, TI);
	free(sd);
}
END_TEST

/*
 * The Linux kernel's ntfs3 driver ships the descriptor Windows makes for
 * "O:BAG:BAD:(A;OICI;FA;;;WD)" (fs/ntfs3/fsntfs.c, s_default_security).
 */
START_TEST(test_published_vector)
{
	static const uint8_t expected[] = {
		0x01, 0x00, 0x04, 0x80, 0x30, 0x00, 0x00, 0x00, 0x40, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x02, 0x00, 0x1C, 0x00,
		0x01, 0x00, 0x00, 0x00, 0x00, 0x03, 0x14, 0x00, 0xFF, 0x01, 0x1F, 0x00,
		0x01, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
		0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05, 0x20, 0x00, 0x00, 0x00,
		0x20, 0x02, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05,
		0x20, 0x00, 0x00, 0x00, 0x20, 0x02, 0x00, 0x00,
	};
	size_t len;
	uint8_t *sd = convert("O:BAG:BAD:(A;OICI;FA;;;WD)", &len);

	ck_assert_uint_eq(len, sizeof(expected));
	ck_assert_mem_eq(sd, expected, sizeof(expected));
	free(sd);
	/* the order of the components in the text does not change the bytes */
	sd = convert("D:(A;OICI;FA;;;WD)G:BAO:BA", &len);
	ck_assert_uint_eq(len, sizeof(expected));
	ck_assert_mem_eq(sd, expected, sizeof(expected));
	free(sd);
}
END_TEST

START_TEST(test_rights_flags_aliases)
{
	static const struct {
		const char *text;
		uint32_t mask;
	} masks[] = {
		{"FA", 0x1F01FF}, {"FR", 0x120089}, {"FW", 0x120116}, {"FX", 0x1200A0},
		{"GA", 0x10000000}, {"GX", 0x20000000}, {"GW", 0x40000000}, {"GR", 0x80000000},
		{"KA", 0xF003F}, {"KR", 0x20019}, {"KW", 0x20006}, {"KX", 0x20019},
		{"SDRCWDWO", 0xF0000}, {"RPWPCCDCLCSWLODTCR", 0x1FF}, {"0x1200a9", 0x1200A9},
		{"1179817", 0x1200A9},
	};
	static const struct {
		const char *alias, *sid;
	} aliases[] = {
		{"BA", "S-1-5-32-544"}, {"SY", "S-1-5-18"}, {"BU", "S-1-5-32-545"}, {"WD", "S-1-1-0"},
		{"AU", "S-1-5-11"}, {"CO", "S-1-3-0"}, {"CG", "S-1-3-1"}, {"LS", "S-1-5-19"},
		{"NS", "S-1-5-20"}, {"PU", "S-1-5-32-547"}, {"IU", "S-1-5-4"}, {"AC", "S-1-15-2-1"},
		{"S-1-5-21-1-2-3-500", "S-1-5-21-1-2-3-500"}, {"S-1-0x10-1", "S-1-16-1"},
	};
	struct ace_view aces[2];
	size_t len;
	uint8_t *sd;

	for (size_t i = 0; i < sizeof(masks) / sizeof(masks[0]); i++) {
		char *sddl = offtest_strdup_printf("O:SYG:SYD:(A;;%s;;;WD)", masks[i].text);

		sd = convert(sddl, &len);
		ck_assert_uint_eq(read_acl(sd, len, get32(sd + 16), aces, 2), 1);
		ck_assert_msg(aces[0].mask == masks[i].mask, "%s -> 0x%x", masks[i].text, aces[0].mask);
		free(sd);
		free(sddl);
	}
	for (size_t i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++) {
		char *sddl = offtest_strdup_printf("O:SYG:SYD:(D;OICINPIOID;FA;;;%s)", aliases[i].alias);

		sd = convert(sddl, &len);
		ck_assert_uint_eq(read_acl(sd, len, get32(sd + 16), aces, 2), 1);
		ck_assert_str_eq(aces[0].sid, aliases[i].sid);
		ck_assert_uint_eq(aces[0].type, 1);
		ck_assert_uint_eq(aces[0].flags, 0x1F);
		free(sd);
		free(sddl);
	}
	/* D:PAI and S:P set their control bits; AR too */
	sd = convert("O:BAG:BAD:PAI(A;;FA;;;SY)S:PAR(AU;SA;FA;;;WD)", &len);
	ck_assert_uint_eq(get16(sd + 2), 0x8000 | 0x1000 | 0x0400 | 0x2000 | 0x0200 | 0x10 | 0x4);
	free(sd);
	/* an empty DACL is present and denies everything */
	sd = convert("O:BAG:BAD:", &len);
	ck_assert_uint_eq(get16(sd + 2), 0x8004);
	ck_assert_uint_eq(read_acl(sd, len, get32(sd + 16), aces, 2), 0);
	free(sd);
	/* a NULL DACL: present, no ACL */
	{
		char err[256];

		ck_assert_uint_eq(offserv_sddl_to_sd("O:BAG:BAD:NO_ACCESS_CONTROL", &sd, &len, err,
		                                     sizeof(err)),
		                  OFFSERV_OK);
		ck_assert_uint_eq(get16(sd + 2), 0x8004);
		ck_assert_uint_eq(get32(sd + 16), 0);
		ck_assert_uint_eq(len, 20 + 16 + 16);
		free(sd);
	}
}
END_TEST

START_TEST(test_malformed)
{
	static const char *const bad[] = {
		"",
		"O:",
		"O:XX",
		"O:DA",                       /* needs a domain */
		"O:S-1-",
		"O:S-2-5-18",
		"O:S-1-5",
		"O:S-1-5-4294967296",
		"O:S-1-281474976710656-1",
		"O:S-1-5-1-2-3-4-5-6-7-8-9-10-11-12-13-14-15-16",
		"O:BAO:BA",
		"D:(A;;FA;;;BA",
		"D:A;;FA;;;BA)",
		"D:(A;;FA;;BA)",
		"D:(A;;FA;;;BA;x)",
		"D:(A;;FA;;;ZZ)",
		"D:(X;;FA;;;BA)",
		"D:(AU;SA;FA;;;BA)",
		"S:(A;;FA;;;BA)",
		"D:(A;QQ;FA;;;BA)",
		"D:(A;O;FA;;;BA)",
		"D:(A;;ZZ;;;BA)",
		"D:(A;;0x1FFFFFFFF;;;BA)",
		"D:(A;;0xZ;;;BA)",
		"D:(A;;;;;BA)",
		"D:(OA;;FA;bf967aba-0de6-11d0-a285-00aa003049e2;;BA)",
		"D:(A;;FA;;;BA)(",
		"D:NO_ACCESS_CONTROL(A;;FA;;;BA)",
		"X:BA",
		"O:BAjunk",
		"D:(A;;FA;;;BA)D:(A;;FA;;;BA)",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint8_t *sd = (uint8_t *)"untouched";
		size_t len = 7;
		char err[256] = "";

		ck_assert_msg(offserv_sddl_to_sd(bad[i], &sd, &len, err, sizeof(err)) ==
		                      OFFSERV_E_INVALID_DATA,
		              "accepted: %s", bad[i]);
		ck_assert_ptr_null(sd);
		ck_assert_uint_eq(len, 0);
		ck_assert_msg(strncmp(err, "SDDL: ", 6) == 0, "%s: %s", bad[i], err);
	}
	ck_assert_uint_eq(offserv_sddl_to_sd(NULL, NULL, NULL, NULL, 0), OFFSERV_E_INVALIDARG);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sddl");
	TCase *tc = tcase_create("sddl");

	tcase_add_test(tc, test_wrp_file_default);
	tcase_add_test(tc, test_published_vector);
	tcase_add_test(tc, test_rights_flags_aliases);
	tcase_add_test(tc, test_malformed);
	suite_add_tcase(s, tc);
	return offtest_run(s);
}
