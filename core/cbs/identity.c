/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Assembly identities: versions, the package identity string, the
 * component store key form and its pseudo-key hash, package state names.
 */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <offserv/cbs.h>

static int ascii_lower(int c)
{
	return (c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c;
}

static int ascii_strcaseeq(const char *a, const char *b)
{
	for (; *a && *b; a++, b++)
		if (ascii_lower((unsigned char)*a) != ascii_lower((unsigned char)*b))
			return 0;
	return *a == *b;
}

void offserv_identity_clear(struct offserv_identity *id)
{
	if (!id)
		return;
	free(id->name);
	free(id->version);
	free(id->arch);
	free(id->language);
	free(id->token);
	free(id->type);
	free(id->version_scope);
	free(id->build_type);
	memset(id, 0, sizeof(*id));
}

static int dup_field(char **dst, const char *src)
{
	*dst = NULL;
	if (!src)
		return 0;
	*dst = strdup(src);
	return *dst ? 0 : -1;
}

offserv_status offserv_identity_copy(struct offserv_identity *dst,
                                     const struct offserv_identity *src)
{
	struct offserv_identity tmp;

	if (!dst || !src)
		return OFFSERV_E_INVALIDARG;
	memset(&tmp, 0, sizeof(tmp));
	if (dup_field(&tmp.name, src->name) || dup_field(&tmp.version, src->version) ||
	    dup_field(&tmp.arch, src->arch) || dup_field(&tmp.language, src->language) ||
	    dup_field(&tmp.token, src->token) || dup_field(&tmp.type, src->type) ||
	    dup_field(&tmp.version_scope, src->version_scope) ||
	    dup_field(&tmp.build_type, src->build_type)) {
		offserv_identity_clear(&tmp);
		return OFFSERV_E_OUTOFMEMORY;
	}
	*dst = tmp;
	return OFFSERV_OK;
}

offserv_status offserv_version_parse(const char *text, uint16_t out[4])
{
	uint16_t parts[4] = {0, 0, 0, 0};
	const char *p = text;
	int n = 0;

	if (!text || !*text)
		return OFFSERV_E_INVALIDARG;
	for (;;) {
		unsigned long v = 0;
		int digits = 0;

		if (n == 4)
			return OFFSERV_E_INVALIDARG;
		while (*p >= '0' && *p <= '9') {
			v = v * 10 + (unsigned long)(*p - '0');
			if (v > 65535)
				return OFFSERV_E_INVALIDARG;
			p++;
			digits++;
		}
		if (digits == 0 || digits > 5)
			return OFFSERV_E_INVALIDARG;
		parts[n++] = (uint16_t)v;
		if (*p == '\0')
			break;
		if (*p != '.')
			return OFFSERV_E_INVALIDARG;
		p++;
	}
	if (out)
		memcpy(out, parts, sizeof(parts));
	return OFFSERV_OK;
}

int offserv_version_compare(const char *a, const char *b)
{
	uint16_t va[4], vb[4];
	int oka = offserv_version_parse(a, va) == OFFSERV_OK;
	int okb = offserv_version_parse(b, vb) == OFFSERV_OK;

	if (!oka || !okb)
		return oka - okb;
	for (int i = 0; i < 4; i++)
		if (va[i] != vb[i])
			return va[i] < vb[i] ? -1 : 1;
	return 0;
}

static int language_is_neutral(const char *lang)
{
	return !lang || !*lang || ascii_strcaseeq(lang, "neutral");
}

/*
 * Identity fields become folder names (WinSxS key forms, servicing\Packages)
 * and registry key names: refuse what could name another place.
 */
static int field_safe(const char *f)
{
	if (!f)
		return 1;
	if (!strcmp(f, ".") || !strcmp(f, ".."))
		return 0;
	for (const unsigned char *p = (const unsigned char *)f; *p; p++)
		if (*p < 0x20 || *p == 0x7f || strchr("/\\:~", *p))
			return 0;
	return 1;
}

static int identity_safe(const struct offserv_identity *id)
{
	return field_safe(id->name) && field_safe(id->version) && field_safe(id->arch) &&
	       field_safe(id->language) && field_safe(id->token) && field_safe(id->type) &&
	       field_safe(id->version_scope);
}

char *offserv_identity_package_string(const struct offserv_identity *id)
{
	const char *lang;
	char *out = NULL;

	if (!id || !id->name || !identity_safe(id))
		return NULL;
	lang = language_is_neutral(id->language) ? "" : id->language;
	if (asprintf(&out, "%s~%s~%s~%s~%s", id->name, id->token ? id->token : "",
	             id->arch ? id->arch : "", lang, id->version ? id->version : "") < 0)
		return NULL;
	return out;
}

offserv_status offserv_identity_parse_package_string(const char *text,
                                                     struct offserv_identity *out)
{
	struct offserv_identity tmp;
	const char *fields[5];
	size_t lens[5];
	const char *p = text;
	int n = 0;

	if (!text || !out)
		return OFFSERV_E_INVALIDARG;
	for (;;) {
		const char *tilde = strchr(p, '~');

		if (n == 5)
			return OFFSERV_E_INVALIDARG;
		fields[n] = p;
		lens[n] = tilde ? (size_t)(tilde - p) : strlen(p);
		n++;
		if (!tilde)
			break;
		p = tilde + 1;
	}
	if (n != 5 || lens[0] == 0 || lens[2] == 0 || lens[4] == 0)
		return OFFSERV_E_INVALIDARG;
	for (int i = 0; i < 5; i++) {
		char *f = strndup(fields[i], lens[i]);
		int ok = f && field_safe(f);

		free(f);
		if (!ok)
			return OFFSERV_E_INVALIDARG;
	}
	{
		char *version = strndup(fields[4], lens[4]);

		if (!version)
			return OFFSERV_E_OUTOFMEMORY;
		if (offserv_version_parse(version, NULL) != OFFSERV_OK) {
			free(version);
			return OFFSERV_E_INVALIDARG;
		}
		memset(&tmp, 0, sizeof(tmp));
		tmp.version = version;
	}
	tmp.name = strndup(fields[0], lens[0]);
	tmp.token = lens[1] ? strndup(fields[1], lens[1]) : NULL;
	tmp.arch = strndup(fields[2], lens[2]);
	tmp.language = lens[3] ? strndup(fields[3], lens[3]) : strdup("neutral");
	if (!tmp.name || (lens[1] && !tmp.token) || !tmp.arch || !tmp.language) {
		offserv_identity_clear(&tmp);
		return OFFSERV_E_OUTOFMEMORY;
	}
	*out = tmp;
	return OFFSERV_OK;
}

/*
 * The pseudo-key: Windows hashes each attribute name and value (lower-cased)
 * with four interleaved multiplicative accumulators folded into 64 bits, and
 * chains the (name, value) hashes in a fixed attribute order.  Values that
 * are "none" (a neutral culture) and absent attributes do not take part.
 * The algorithm is the one documented by the haveSxS project and verified
 * here against folder names of real Windows component stores.
 */
static uint64_t pseudo_hash_string(const char *s)
{
	uint32_t acc[4] = {0, 0, 0, 0};
	size_t i = 0;

	for (const unsigned char *p = (const unsigned char *)s; *p; p++, i++) {
		uint32_t *h = &acc[i % 4];

		*h = *h * 0x1003Fu + (uint32_t)ascii_lower(*p);
	}
	return (uint64_t)acc[0] * UINT64_C(0x1E5FFFFFD27) +
	       (uint64_t)acc[1] * UINT64_C(0xFFFFFFDC00000051) +
	       (uint64_t)acc[2] * UINT64_C(0x1FFFFFFF7) + (uint64_t)acc[3];
}

/*
 * The culture as the key form writes it: "none" for a neutral language and
 * for "*" (the real store names Microsoft.Windows.Common-Controls, whose
 * manifest says language="*", with "none").
 */
static const char *key_culture(const struct offserv_identity *id)
{
	if (language_is_neutral(id->language) || strcmp(id->language, "*") == 0)
		return "none";
	return id->language;
}

uint64_t offserv_identity_pseudo_key(const struct offserv_identity *id)
{
	const char *names[7] = {"name", "culture", "type", "version", "publicKeyToken",
	                        "processorArchitecture", "versionScope"};
	const char *values[7];
	uint64_t key = 0;

	if (!id)
		return 0;
	values[0] = id->name;
	values[1] = key_culture(id);
	values[2] = id->type;
	values[3] = id->version;
	values[4] = id->token;
	values[5] = id->arch;
	values[6] = id->version_scope;
	for (int i = 0; i < 7; i++) {
		uint64_t pair;

		if (!values[i] || ascii_strcaseeq(values[i], "none"))
			continue;
		pair = pseudo_hash_string(values[i]) +
		       UINT64_C(0x1FFFFFFF7) * pseudo_hash_string(names[i]);
		key = pair + UINT64_C(0x1FFFFFFF7) * key;
	}
	return key;
}

/*
 * Copy @p src lower-cased, keeping only the characters a key form may hold,
 * and shorten it to first k + ".." + last k characters when it is longer
 * than @p limit (name: limit 40, k 19; culture: limit 8, k 3).
 */
static char *key_part(const char *src, size_t limit, size_t k)
{
	size_t len = strlen(src), n = 0;
	char *buf = malloc(len + 1);

	if (!buf)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		int c = ascii_lower((unsigned char)src[i]);

		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		    c == '_')
			buf[n++] = (char)c;
	}
	buf[n] = '\0';
	if (n > limit) {
		memmove(buf + k + 2, buf + n - k, k + 1);
		buf[k] = '.';
		buf[k + 1] = '.';
	}
	return buf;
}

char *offserv_identity_key_form(const struct offserv_identity *id)
{
	char *name, *culture, *out = NULL;
	const char *token;
	int rc;

	if (!id || !id->name || !id->version || !id->arch || !*id->name || !identity_safe(id))
		return NULL;
	name = key_part(id->name, 40, 19);
	culture = key_part(key_culture(id), 8, 3);
	token = id->token && *id->token ? id->token : "none";
	if (name && culture) {
		rc = asprintf(&out, "%s_%s_%s_%s_%s_%016llx", id->arch, name, token, id->version,
		              culture, (unsigned long long)offserv_identity_pseudo_key(id));
		if (rc < 0)
			out = NULL;
		else
			for (char *p = out; *p; p++)
				*p = (char)ascii_lower((unsigned char)*p);
	}
	free(name);
	free(culture);
	return out;
}

/*
 * DISM prints these words in /Get-Packages and /Get-PackageInfo.  DISM's
 * own enumeration calls the absent state "Not Present"; the CBS states
 * chart calls it "Absent", which is what is returned here.
 */
const char *offserv_package_state_name(uint32_t state)
{
	switch (state) {
	case OFFSERV_STATE_ABSENT:
		return "Absent";
	case OFFSERV_STATE_UNINSTALL_PENDING:
		return "Uninstall Pending";
	case OFFSERV_STATE_RESOLVING:
		return "Resolving";
	case OFFSERV_STATE_RESOLVED:
		return "Resolved";
	case OFFSERV_STATE_STAGING:
		return "Staging";
	case OFFSERV_STATE_STAGED:
		return "Staged";
	case OFFSERV_STATE_SUPERSEDED:
		return "Superseded";
	case OFFSERV_STATE_INSTALL_PENDING:
		return "Install Pending";
	case OFFSERV_STATE_PARTIALLY_INSTALLED:
		return "Partially Installed";
	case OFFSERV_STATE_INSTALLED:
		return "Installed";
	case OFFSERV_STATE_PERMANENT:
		return "Permanent";
	default:
		return "Unknown";
	}
}
