/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * SDDL text to a self-relative Windows security descriptor.
 *
 * The descriptor is laid out as Windows' own conversion
 * (ConvertStringSecurityDescriptorToSecurityDescriptor, through
 * RtlMakeSelfRelativeSD) lays it out, and as NTFS stores descriptors that
 * Windows wrote: the 20-byte header, then the SACL, the DACL, the owner SID
 * and the group SID, each present part right after the previous one.  All
 * fields are little-endian except the SID identifier authority (big-endian
 * by definition).
 */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <offserv/cbs.h>

#include "cbs/xml.h"

#define SE_DACL_PRESENT 0x0004u
#define SE_SACL_PRESENT 0x0010u
#define SE_DACL_AUTO_INHERIT_REQ 0x0100u
#define SE_SACL_AUTO_INHERIT_REQ 0x0200u
#define SE_DACL_AUTO_INHERITED 0x0400u
#define SE_SACL_AUTO_INHERITED 0x0800u
#define SE_DACL_PROTECTED 0x1000u
#define SE_SACL_PROTECTED 0x2000u
#define SE_SELF_RELATIVE 0x8000u

#define ACL_REVISION 2
#define SID_MAX_SUB 15
#define SID_MAX_BYTES (8 + 4 * SID_MAX_SUB)
#define ACL_MAX_BYTES 65532u

static const char wrp_file_default[] =
	"O:S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464"
	"G:S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464"
	"D:P(A;;FA;;;S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464)"
	"(A;;GRGX;;;BA)(A;;GRGX;;;SY)(A;;GRGX;;;BU)(A;;GRGX;;;S-1-15-2-1)(A;;GRGX;;;S-1-15-2-2)"
	"S:(AU;FASA;0x000D0116;;;WD)";

const char *offserv_sddl_wrp_file_default(void)
{
	return wrp_file_default;
}

/* Well-known SID aliases that need no domain. */
static const struct {
	char alias[3];
	const char *sid;
} sid_aliases[] = {
	{"AA", "S-1-5-32-579"}, {"AC", "S-1-15-2-1"},   {"AN", "S-1-5-7"},
	{"AO", "S-1-5-32-548"}, {"AS", "S-1-18-1"},     {"AU", "S-1-5-11"},
	{"BA", "S-1-5-32-544"}, {"BG", "S-1-5-32-546"}, {"BO", "S-1-5-32-551"},
	{"BU", "S-1-5-32-545"}, {"CD", "S-1-5-32-574"}, {"CG", "S-1-3-1"},
	{"CO", "S-1-3-0"},      {"CY", "S-1-5-32-569"}, {"ED", "S-1-5-9"},
	{"ER", "S-1-5-32-573"}, {"ES", "S-1-5-32-576"}, {"HA", "S-1-5-32-578"},
	{"HI", "S-1-16-12288"}, {"IS", "S-1-5-32-568"}, {"IU", "S-1-5-4"},
	{"LS", "S-1-5-19"},     {"LU", "S-1-5-32-559"}, {"LW", "S-1-16-4096"},
	{"ME", "S-1-16-8192"},  {"MP", "S-1-16-8448"},  {"MS", "S-1-5-32-577"},
	{"MU", "S-1-5-32-558"}, {"NO", "S-1-5-32-556"}, {"NS", "S-1-5-20"},
	{"NU", "S-1-5-2"},      {"OW", "S-1-3-4"},      {"PO", "S-1-5-32-550"},
	{"PS", "S-1-5-10"},     {"PU", "S-1-5-32-547"}, {"RA", "S-1-5-32-575"},
	{"RC", "S-1-5-12"},     {"RD", "S-1-5-32-555"}, {"RE", "S-1-5-32-552"},
	{"RM", "S-1-5-32-580"}, {"RU", "S-1-5-32-554"}, {"SI", "S-1-16-16384"},
	{"SO", "S-1-5-32-549"}, {"SS", "S-1-18-2"},     {"SU", "S-1-5-6"},
	{"SY", "S-1-5-18"},     {"UD", "S-1-5-84-0-0-0-0-0"}, {"WD", "S-1-1-0"},
	{"WR", "S-1-5-33"},
};

/* Two-letter access rights. */
static const struct {
	char code[3];
	uint32_t mask;
} rights[] = {
	{"GA", 0x10000000u}, {"GX", 0x20000000u}, {"GW", 0x40000000u}, {"GR", 0x80000000u},
	{"FA", 0x001F01FFu}, {"FR", 0x00120089u}, {"FW", 0x00120116u}, {"FX", 0x001200A0u},
	{"KA", 0x000F003Fu}, {"KR", 0x00020019u}, {"KW", 0x00020006u}, {"KX", 0x00020019u},
	{"SD", 0x00010000u}, {"RC", 0x00020000u}, {"WD", 0x00040000u}, {"WO", 0x00080000u},
	{"CC", 0x00000001u}, {"DC", 0x00000002u}, {"LC", 0x00000004u}, {"SW", 0x00000008u},
	{"RP", 0x00000010u}, {"WP", 0x00000020u}, {"DT", 0x00000040u}, {"LO", 0x00000080u},
	{"CR", 0x00000100u},
};

/* ACE flags. */
static const struct {
	char code[3];
	uint8_t flag;
} ace_flags[] = {
	{"OI", 0x01}, {"CI", 0x02}, {"NP", 0x04}, {"IO", 0x08},
	{"ID", 0x10}, {"SA", 0x40}, {"FA", 0x80},
};

struct sid {
	uint8_t bytes[SID_MAX_BYTES];
	size_t len;
};

struct acl {
	uint8_t *buf; /* header (8 bytes) followed by the ACEs */
	size_t len;
	uint16_t count;
};

struct parser {
	const char *s;
	const char *p;
	char *err;
	size_t errlen;
};

static offserv_status fail_at(struct parser *ps, const char *what)
{
	cbs_set_err(ps->err, ps->errlen, "SDDL: %s at offset %zu (\"%.24s\")", what,
	            (size_t)(ps->p - ps->s), ps->p);
	return OFFSERV_E_INVALID_DATA;
}

static void put16(uint8_t *b, uint16_t v)
{
	b[0] = (uint8_t)v;
	b[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *b, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		b[i] = (uint8_t)(v >> (8 * i));
}

/* Parse "S-1-auth-sub-..." from @p text (length @p n) into @p out. */
static int sid_from_string(const char *text, size_t n, struct sid *out)
{
	const char *p = text, *end = text + n;
	uint64_t auth = 0;
	int nsub = 0;

	if (n < 5 || (p[0] != 'S' && p[0] != 's') || p[1] != '-' || p[2] != '1' || p[3] != '-')
		return -1;
	p += 4;
	/* Identifier authority: decimal, or 0x hex, below 2^48. */
	{
		int base = 10, digits = 0;

		if (end - p > 2 && p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
			base = 16;
			p += 2;
		}
		for (; p < end && *p != '-'; p++) {
			int d;

			if (*p >= '0' && *p <= '9')
				d = *p - '0';
			else if (base == 16 && *p >= 'a' && *p <= 'f')
				d = *p - 'a' + 10;
			else if (base == 16 && *p >= 'A' && *p <= 'F')
				d = *p - 'A' + 10;
			else
				return -1;
			auth = auth * (uint64_t)base + (uint64_t)d;
			if (auth >= (UINT64_C(1) << 48))
				return -1;
			digits++;
		}
		if (!digits)
			return -1;
	}
	memset(out, 0, sizeof(*out));
	out->bytes[0] = 1;
	for (int i = 0; i < 6; i++)
		out->bytes[2 + i] = (uint8_t)(auth >> (8 * (5 - i)));
	while (p < end) {
		uint64_t v = 0;
		int digits = 0;

		if (*p != '-' || nsub == SID_MAX_SUB)
			return -1;
		p++;
		for (; p < end && *p >= '0' && *p <= '9'; p++) {
			v = v * 10 + (uint64_t)(*p - '0');
			if (v > UINT32_MAX)
				return -1;
			digits++;
		}
		if (!digits)
			return -1;
		put32(out->bytes + 8 + 4 * nsub, (uint32_t)v);
		nsub++;
	}
	if (nsub == 0)
		return -1;
	out->bytes[1] = (uint8_t)nsub;
	out->len = 8 + 4 * (size_t)nsub;
	return 0;
}

/* A SID at ps->p: "S-1-..." up to the first character that cannot be in it, or an alias. */
static offserv_status parse_sid(struct parser *ps, struct sid *out)
{
	const char *p = ps->p;

	if ((p[0] == 'S' || p[0] == 's') && p[1] == '-') {
		size_t n = 0;

		while ((p[n] >= '0' && p[n] <= '9') || (p[n] >= 'a' && p[n] <= 'f') ||
		       (p[n] >= 'A' && p[n] <= 'F') || p[n] == '-' || p[n] == 'x' || p[n] == 'X' ||
		       (n == 0 && (p[n] == 'S' || p[n] == 's')))
			n++;
		/* Stop before a following component letter ("...-544G:..."). */
		while (n > 0 && p[n] == ':' && ((p[n - 1] >= 'A' && p[n - 1] <= 'Z') ||
		                                (p[n - 1] >= 'a' && p[n - 1] <= 'z')))
			n--;
		if (sid_from_string(p, n, out) != 0)
			return fail_at(ps, "malformed SID");
		ps->p = p + n;
		return OFFSERV_OK;
	}
	for (size_t i = 0; i < sizeof(sid_aliases) / sizeof(sid_aliases[0]); i++)
		if (p[0] == sid_aliases[i].alias[0] && p[0] && p[1] == sid_aliases[i].alias[1]) {
			const char *s = sid_aliases[i].sid;

			if (sid_from_string(s, strlen(s), out) != 0)
				return fail_at(ps, "internal SID table error");
			ps->p = p + 2;
			return OFFSERV_OK;
		}
	return fail_at(ps, "unknown or domain-relative SID alias");
}

static offserv_status parse_rights(struct parser *ps, const char *end, uint32_t *mask)
{
	const char *p = ps->p;

	*mask = 0;
	if (p == end)
		return fail_at(ps, "empty access rights");
	if (p[0] >= '0' && p[0] <= '9') {
		uint64_t v = 0;
		int base = 10, digits = 0;

		if (end - p > 2 && p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
			base = 16;
			p += 2;
		}
		for (; p < end; p++) {
			int d;

			if (*p >= '0' && *p <= '9')
				d = *p - '0';
			else if (base == 16 && *p >= 'a' && *p <= 'f')
				d = *p - 'a' + 10;
			else if (base == 16 && *p >= 'A' && *p <= 'F')
				d = *p - 'A' + 10;
			else
				return fail_at(ps, "malformed access mask");
			v = v * (uint64_t)base + (uint64_t)d;
			if (v > UINT32_MAX)
				return fail_at(ps, "access mask out of range");
			digits++;
		}
		if (!digits)
			return fail_at(ps, "malformed access mask");
		*mask = (uint32_t)v;
		ps->p = end;
		return OFFSERV_OK;
	}
	while (p < end) {
		int found = 0;

		for (size_t i = 0; i < sizeof(rights) / sizeof(rights[0]); i++)
			if (end - p >= 2 && p[0] == rights[i].code[0] && p[1] == rights[i].code[1]) {
				*mask |= rights[i].mask;
				found = 1;
				break;
			}
		if (!found) {
			ps->p = p;
			return fail_at(ps, "unknown access right");
		}
		p += 2;
	}
	ps->p = end;
	return OFFSERV_OK;
}

static offserv_status acl_append(struct parser *ps, struct acl *acl, uint8_t type,
                                 uint8_t flags, uint32_t mask, const struct sid *sid)
{
	size_t ace_len = 8 + sid->len;
	uint8_t *nb;

	if (acl->len + ace_len > ACL_MAX_BYTES || acl->count == UINT16_MAX)
		return fail_at(ps, "ACL too large");
	nb = realloc(acl->buf, acl->len + ace_len);
	if (!nb) {
		cbs_set_err(ps->err, ps->errlen, "out of memory");
		return OFFSERV_E_OUTOFMEMORY;
	}
	acl->buf = nb;
	nb += acl->len;
	nb[0] = type;
	nb[1] = flags;
	put16(nb + 2, (uint16_t)ace_len);
	put32(nb + 4, mask);
	memcpy(nb + 8, sid->bytes, sid->len);
	acl->len += ace_len;
	acl->count++;
	return OFFSERV_OK;
}

/* One "(type;flags;rights;guid;guid;sid)" at ps->p. */
static offserv_status parse_ace(struct parser *ps, struct acl *acl, int is_sacl)
{
	const char *fields[6], *close;
	size_t lens[6];
	const char *p = ps->p + 1;
	uint8_t type, flags = 0;
	uint32_t mask;
	struct sid sid;
	offserv_status st;
	int n = 0;

	close = strchr(p, ')');
	{
		const char *open = strchr(p, '(');

		if (!close || (open && open < close))
			return fail_at(ps, "unbalanced parentheses in ACE");
	}
	while (n < 6) {
		const char *semi = memchr(p, ';', (size_t)(close - p));

		fields[n] = p;
		lens[n] = semi ? (size_t)(semi - p) : (size_t)(close - p);
		n++;
		if (!semi)
			break;
		p = semi + 1;
	}
	if (n != 6 || memchr(fields[5], ';', (size_t)(close - fields[5])))
		return fail_at(ps, "an ACE needs six fields");
	if (lens[0] == 1 && fields[0][0] == 'A')
		type = 0;
	else if (lens[0] == 1 && fields[0][0] == 'D')
		type = 1;
	else if (lens[0] == 2 && fields[0][0] == 'A' && fields[0][1] == 'U')
		type = 2;
	else {
		ps->p = fields[0];
		return fail_at(ps, "unsupported ACE type (A, D and AU are supported)");
	}
	if (type == 2 && !is_sacl) {
		ps->p = fields[0];
		return fail_at(ps, "an audit ACE in a DACL");
	}
	if (type != 2 && is_sacl) {
		ps->p = fields[0];
		return fail_at(ps, "an access ACE in a SACL");
	}
	if (lens[1] % 2) {
		ps->p = fields[1];
		return fail_at(ps, "malformed ACE flags");
	}
	for (size_t i = 0; i < lens[1]; i += 2) {
		int found = 0;

		for (size_t j = 0; j < sizeof(ace_flags) / sizeof(ace_flags[0]); j++)
			if (fields[1][i] == ace_flags[j].code[0] &&
			    fields[1][i + 1] == ace_flags[j].code[1]) {
				flags |= ace_flags[j].flag;
				found = 1;
			}
		if (!found) {
			ps->p = fields[1] + i;
			return fail_at(ps, "unknown ACE flag");
		}
	}
	ps->p = fields[2];
	st = parse_rights(ps, fields[2] + lens[2], &mask);
	if (st != OFFSERV_OK)
		return st;
	if (lens[3] || lens[4]) {
		ps->p = fields[3];
		return fail_at(ps, "object ACEs are not supported");
	}
	ps->p = fields[5];
	st = parse_sid(ps, &sid);
	if (st != OFFSERV_OK)
		return st;
	if (ps->p != close)
		return fail_at(ps, "trailing characters after the ACE's SID");
	st = acl_append(ps, acl, type, flags, mask, &sid);
	if (st != OFFSERV_OK)
		return st;
	ps->p = close + 1;
	return OFFSERV_OK;
}

/* "D:" or "S:" body: flags then ACEs.  @p null_acl set for NO_ACCESS_CONTROL. */
static offserv_status parse_acl(struct parser *ps, struct acl *acl, int is_sacl,
                                uint16_t *control, int *null_acl)
{
	offserv_status st;

	*null_acl = 0;
	acl->buf = calloc(1, 8);
	if (!acl->buf) {
		cbs_set_err(ps->err, ps->errlen, "out of memory");
		return OFFSERV_E_OUTOFMEMORY;
	}
	acl->len = 8;
	for (;;) {
		const char *p = ps->p;

		if (p[0] == 'P') {
			*control |= is_sacl ? SE_SACL_PROTECTED : SE_DACL_PROTECTED;
			ps->p += 1;
		} else if (p[0] == 'A' && p[1] == 'I') {
			*control |= is_sacl ? SE_SACL_AUTO_INHERITED : SE_DACL_AUTO_INHERITED;
			ps->p += 2;
		} else if (p[0] == 'A' && p[1] == 'R') {
			*control |= is_sacl ? SE_SACL_AUTO_INHERIT_REQ : SE_DACL_AUTO_INHERIT_REQ;
			ps->p += 2;
		} else if (strncmp(p, "NO_ACCESS_CONTROL", 17) == 0) {
			*null_acl = 1;
			ps->p += 17;
		} else {
			break;
		}
	}
	while (*ps->p == '(') {
		if (*null_acl)
			return fail_at(ps, "ACEs after NO_ACCESS_CONTROL");
		st = parse_ace(ps, acl, is_sacl);
		if (st != OFFSERV_OK)
			return st;
	}
	put16(acl->buf + 2, (uint16_t)acl->len);
	acl->buf[0] = ACL_REVISION;
	acl->buf[1] = 0;
	put16(acl->buf + 4, acl->count);
	put16(acl->buf + 6, 0);
	return OFFSERV_OK;
}

offserv_status offserv_sddl_to_sd(const char *sddl, uint8_t **out, size_t *out_len, char *err,
                                  size_t errlen)
{
	struct parser ps = {sddl, sddl, err, errlen};
	struct sid owner, group;
	struct acl dacl = {NULL, 0, 0}, sacl = {NULL, 0, 0};
	int have_owner = 0, have_group = 0, have_dacl = 0, have_sacl = 0;
	int null_dacl = 0, null_sacl = 0;
	uint16_t control = SE_SELF_RELATIVE;
	offserv_status st = OFFSERV_OK;
	size_t total, off;
	uint8_t *buf;

	if (!sddl || !out || !out_len)
		return OFFSERV_E_INVALIDARG;
	*out = NULL;
	*out_len = 0;
	if (strlen(sddl) > 65536) {
		cbs_set_err(err, errlen, "SDDL: string too long");
		return OFFSERV_E_INVALID_DATA;
	}
	while (*ps.p && st == OFFSERV_OK) {
		char c = ps.p[0];

		if (ps.p[1] != ':') {
			st = fail_at(&ps, "expected O:, G:, D: or S:");
			break;
		}
		ps.p += 2;
		switch (c) {
		case 'O':
			if (have_owner)
				st = fail_at(&ps, "owner given twice");
			else
				st = parse_sid(&ps, &owner);
			have_owner = 1;
			break;
		case 'G':
			if (have_group)
				st = fail_at(&ps, "group given twice");
			else
				st = parse_sid(&ps, &group);
			have_group = 1;
			break;
		case 'D':
			if (have_dacl)
				st = fail_at(&ps, "DACL given twice");
			else
				st = parse_acl(&ps, &dacl, 0, &control, &null_dacl);
			have_dacl = 1;
			break;
		case 'S':
			if (have_sacl)
				st = fail_at(&ps, "SACL given twice");
			else
				st = parse_acl(&ps, &sacl, 1, &control, &null_sacl);
			have_sacl = 1;
			break;
		default:
			ps.p -= 2;
			st = fail_at(&ps, "expected O:, G:, D: or S:");
			break;
		}
	}
	if (st != OFFSERV_OK)
		goto out;
	if (!have_owner && !have_group && !have_dacl && !have_sacl) {
		cbs_set_err(err, errlen, "SDDL: empty descriptor");
		st = OFFSERV_E_INVALID_DATA;
		goto out;
	}
	if (have_dacl)
		control |= SE_DACL_PRESENT;
	if (have_sacl)
		control |= SE_SACL_PRESENT;
	total = 20 + (have_sacl && !null_sacl ? sacl.len : 0) +
	        (have_dacl && !null_dacl ? dacl.len : 0) + (have_owner ? owner.len : 0) +
	        (have_group ? group.len : 0);
	buf = calloc(1, total);
	if (!buf) {
		cbs_set_err(err, errlen, "out of memory");
		st = OFFSERV_E_OUTOFMEMORY;
		goto out;
	}
	buf[0] = 1;
	buf[1] = 0;
	put16(buf + 2, control);
	off = 20;
	if (have_sacl && !null_sacl) {
		put32(buf + 12, (uint32_t)off);
		memcpy(buf + off, sacl.buf, sacl.len);
		off += sacl.len;
	}
	if (have_dacl && !null_dacl) {
		put32(buf + 16, (uint32_t)off);
		memcpy(buf + off, dacl.buf, dacl.len);
		off += dacl.len;
	}
	if (have_owner) {
		put32(buf + 4, (uint32_t)off);
		memcpy(buf + off, owner.bytes, owner.len);
		off += owner.len;
	}
	if (have_group) {
		put32(buf + 8, (uint32_t)off);
		memcpy(buf + off, group.bytes, group.len);
		off += group.len;
	}
	*out = buf;
	*out_len = total;
out:
	free(dacl.buf);
	free(sacl.buf);
	return st;
}
