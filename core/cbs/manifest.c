/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Package manifests (update.mum and nested .mum) and component manifests,
 * read with libxml2 through the safe reader in xml.c.
 */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/tree.h>

#include <offserv/cbs.h>
#include <offserv/util.h>

#include "cbs/xml.h"

/* Grow a malloc'd array of @p size-byte elements so that index *n is valid. */
static void *grow(void *arr, size_t *n, size_t size)
{
	void *p;

	if (*n >= ((size_t)1 << 24))
		return NULL;
	p = realloc(arr, (*n + 1) * size);
	if (!p)
		return NULL;
	memset((char *)p + *n * size, 0, size);
	(*n)++;
	return p;
}

#define TRY(expr)                                                              \
	do {                                                                   \
		st = (expr);                                                   \
		if (st != OFFSERV_OK)                                          \
			goto fail;                                             \
	} while (0)

#define OOM_IF(cond)                                                           \
	do {                                                                   \
		if (cond) {                                                    \
			cbs_set_err(err, errlen, "out of memory");             \
			st = OFFSERV_E_OUTOFMEMORY;                            \
			goto fail;                                             \
		}                                                              \
	} while (0)

/*
 * Read an <assemblyIdentity> (or <installerAssembly>) element.  @p what
 * names it in messages; name, version and processorArchitecture are
 * required, and the version must be a valid four-part version.
 */
static offserv_status read_identity(const xmlNode *n, const char *what,
                                    struct offserv_identity *id, char *err, size_t errlen)
{
	offserv_status st;
	static const char *const required[] = {"name", "version", "processorArchitecture"};

	memset(id, 0, sizeof(*id));
	TRY(cbs_xml_attr(n, "name", &id->name, err, errlen));
	TRY(cbs_xml_attr(n, "version", &id->version, err, errlen));
	TRY(cbs_xml_attr(n, "processorArchitecture", &id->arch, err, errlen));
	TRY(cbs_xml_attr(n, "language", &id->language, err, errlen));
	TRY(cbs_xml_attr(n, "publicKeyToken", &id->token, err, errlen));
	TRY(cbs_xml_attr(n, "type", &id->type, err, errlen));
	TRY(cbs_xml_attr(n, "versionScope", &id->version_scope, err, errlen));
	TRY(cbs_xml_attr(n, "buildType", &id->build_type, err, errlen));
	{
		const char *vals[3] = {id->name, id->version, id->arch};

		for (int i = 0; i < 3; i++)
			if (!vals[i] || !*vals[i]) {
				cbs_set_err(err, errlen, "%s (line %ld) has no %s attribute", what,
				            xmlGetLineNo(n), required[i]);
				st = OFFSERV_CBS_E_INVALID_PACKAGE;
				goto fail;
			}
	}
	if (offserv_version_parse(id->version, NULL) != OFFSERV_OK) {
		cbs_set_err(err, errlen, "%s (line %ld) has an invalid version \"%.64s\"", what,
		            xmlGetLineNo(n), id->version);
		st = OFFSERV_CBS_E_INVALID_PACKAGE;
		goto fail;
	}
	return OFFSERV_OK;
fail:
	offserv_identity_clear(id);
	return st;
}

/* The root <assembly> of a manifest, or an error. */
static offserv_status root_assembly(xmlDocPtr doc, xmlNode **root, char *err, size_t errlen)
{
	xmlNode *r = xmlDocGetRootElement(doc);

	if (!r || !cbs_xml_is_asm(r, "assembly")) {
		const char *ns = r && r->ns && r->ns->href ? (const char *)r->ns->href : NULL;

		cbs_set_err(err, errlen,
		            "root element is <%.100s>%s%.200s, expected <assembly> in namespace "
		            CBS_XML_NS_ASM_V3,
		            r && r->name ? (const char *)r->name : "", ns ? " in namespace " : "",
		            ns ? ns : "");
		return OFFSERV_CBS_E_INVALID_PACKAGE;
	}
	*root = r;
	return OFFSERV_OK;
}

static offserv_status root_identity(const xmlNode *root, struct offserv_identity *id,
                                    char *err, size_t errlen)
{
	for (xmlNode *c = root->children; c; c = c->next)
		if (cbs_xml_is_asm(c, "assemblyIdentity"))
			return read_identity(c, "<assemblyIdentity>", id, err, errlen);
	cbs_set_err(err, errlen, "<assembly> has no <assemblyIdentity>");
	return OFFSERV_CBS_E_INVALID_PACKAGE;
}

/* First descendant of @p n (depth first) named @p local, or NULL. */
static xmlNode *find_descendant(const xmlNode *n, const char *local)
{
	for (xmlNode *c = n->children; c; c = c->next) {
		xmlNode *d;

		if (c->type != XML_ELEMENT_NODE)
			continue;
		if (cbs_xml_is(c, local))
			return c;
		d = find_descendant(c, local);
		if (d)
			return d;
	}
	return NULL;
}

/* ---- package manifests ---------------------------------------------------- */

void offserv_mum_free(struct offserv_mum *mum)
{
	if (!mum)
		return;
	offserv_identity_clear(&mum->id);
	free(mum->description);
	free(mum->display_name);
	free(mum->company);
	free(mum->copyright);
	free(mum->support_information);
	free(mum->creation_time);
	free(mum->last_update_time);
	free(mum->identifier);
	free(mum->release_type);
	free(mum->restart);
	free(mum->permanence);
	free(mum->package_format);
	for (size_t i = 0; i < mum->n_parents; i++) {
		struct offserv_parent *p = &mum->parents[i];

		for (size_t j = 0; j < p->n_ids; j++)
			offserv_identity_clear(&p->ids[j]);
		free(p->ids);
		free(p->disposition);
		free(p->integrate);
		free(p->build_compare);
		free(p->service_compare);
		free(p->revision_compare);
	}
	free(mum->parents);
	offserv_identity_clear(&mum->installer);
	for (size_t i = 0; i < mum->n_updates; i++) {
		free(mum->updates[i].name);
		offserv_identity_clear(&mum->updates[i].id);
	}
	free(mum->updates);
	free(mum);
}

static offserv_status read_parent(const xmlNode *n, struct offserv_parent *p, char *err,
                                  size_t errlen)
{
	offserv_status st;

	TRY(cbs_xml_attr(n, "disposition", &p->disposition, err, errlen));
	TRY(cbs_xml_attr(n, "integrate", &p->integrate, err, errlen));
	TRY(cbs_xml_attr(n, "buildCompare", &p->build_compare, err, errlen));
	TRY(cbs_xml_attr(n, "serviceCompare", &p->service_compare, err, errlen));
	TRY(cbs_xml_attr(n, "revisionCompare", &p->revision_compare, err, errlen));
	for (xmlNode *c = n->children; c; c = c->next) {
		struct offserv_identity *ids;

		if (!cbs_xml_is_asm(c, "assemblyIdentity"))
			continue;
		ids = grow(p->ids, &p->n_ids, sizeof(*ids));
		OOM_IF(!ids);
		p->ids = ids;
		TRY(read_identity(c, "<parent><assemblyIdentity>", &p->ids[p->n_ids - 1], err,
		                  errlen));
	}
	if (p->n_ids == 0) {
		cbs_set_err(err, errlen, "<parent> (line %ld) names no <assemblyIdentity>",
		            xmlGetLineNo(n));
		return OFFSERV_CBS_E_INVALID_PACKAGE;
	}
	return OFFSERV_OK;
fail:
	return st;
}

static offserv_status read_update(const xmlNode *n, struct offserv_mum_update *u, char *err,
                                  size_t errlen)
{
	offserv_status st;
	static const struct {
		const char *element;
		enum offserv_update_kind kind;
	} kinds[] = {
		{"component", OFFSERV_UPDATE_COMPONENT},
		{"package", OFFSERV_UPDATE_PACKAGE},
		{"driver", OFFSERV_UPDATE_DRIVER},
	};

	TRY(cbs_xml_attr(n, "name", &u->name, err, errlen));
	if (!u->name || !*u->name) {
		cbs_set_err(err, errlen, "<update> (line %ld) has no name attribute",
		            xmlGetLineNo(n));
		return OFFSERV_CBS_E_INVALID_PACKAGE;
	}
	u->has_applicable = find_descendant(n, "applicable") != NULL;
	for (xmlNode *c = n->children; c; c = c->next) {
		for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
			xmlNode *ai;

			if (!cbs_xml_is_asm(c, kinds[k].element))
				continue;
			if (u->kind) {
				cbs_set_err(err, errlen, "<update name=\"%.200s\"> holds more than one "
				            "component, package or driver", u->name);
				return OFFSERV_CBS_E_INVALID_PACKAGE;
			}
			ai = cbs_xml_child(c, "assemblyIdentity");
			if (!ai) {
				cbs_set_err(err, errlen, "<%s> of update \"%.200s\" has no "
				            "<assemblyIdentity>", kinds[k].element, u->name);
				return OFFSERV_CBS_E_INVALID_PACKAGE;
			}
			TRY(read_identity(ai, "<update><assemblyIdentity>", &u->id, err, errlen));
			u->kind = kinds[k].kind;
		}
	}
	if (!u->kind) {
		cbs_set_err(err, errlen,
		            "<update name=\"%.200s\"> holds no <component>, <package> or <driver>",
		            u->name);
		return OFFSERV_CBS_E_INVALID_PACKAGE;
	}
	return OFFSERV_OK;
fail:
	return st;
}

static offserv_status read_mum(const xmlNode *root, struct offserv_mum *mum, char *err,
                               size_t errlen)
{
	offserv_status st;
	xmlNode *pkg = NULL, *ci;

	TRY(cbs_xml_attr(root, "description", &mum->description, err, errlen));
	TRY(cbs_xml_attr(root, "displayName", &mum->display_name, err, errlen));
	TRY(cbs_xml_attr(root, "company", &mum->company, err, errlen));
	TRY(cbs_xml_attr(root, "copyright", &mum->copyright, err, errlen));
	TRY(cbs_xml_attr(root, "supportInformation", &mum->support_information, err, errlen));
	TRY(cbs_xml_attr(root, "creationTimeStamp", &mum->creation_time, err, errlen));
	TRY(cbs_xml_attr(root, "lastUpdateTimeStamp", &mum->last_update_time, err, errlen));
	TRY(root_identity(root, &mum->id, err, errlen));
	for (xmlNode *c = root->children; c; c = c->next)
		if (cbs_xml_is_asm(c, "package")) {
			pkg = c;
			break;
		}
	if (!pkg) {
		cbs_set_err(err, errlen, "<assembly> has no <package>: not a package manifest");
		return OFFSERV_CBS_E_INVALID_PACKAGE;
	}
	TRY(cbs_xml_attr(pkg, "identifier", &mum->identifier, err, errlen));
	TRY(cbs_xml_attr(pkg, "releaseType", &mum->release_type, err, errlen));
	TRY(cbs_xml_attr(pkg, "restart", &mum->restart, err, errlen));
	TRY(cbs_xml_attr(pkg, "permanence", &mum->permanence, err, errlen));
	for (xmlNode *c = pkg->children; c; c = c->next) {
		if (cbs_xml_is_asm(c, "parent")) {
			struct offserv_parent *p = grow(mum->parents, &mum->n_parents, sizeof(*p));

			OOM_IF(!p);
			mum->parents = p;
			TRY(read_parent(c, &mum->parents[mum->n_parents - 1], err, errlen));
		} else if (cbs_xml_is_asm(c, "installerAssembly")) {
			offserv_identity_clear(&mum->installer);
			TRY(read_identity(c, "<installerAssembly>", &mum->installer, err, errlen));
		} else if (cbs_xml_is_asm(c, "update")) {
			struct offserv_mum_update *u = grow(mum->updates, &mum->n_updates, sizeof(*u));

			OOM_IF(!u);
			mum->updates = u;
			TRY(read_update(c, &mum->updates[mum->n_updates - 1], err, errlen));
		}
	}
	/* mum2:customInformation: any prefix, inside <package> or beside it. */
	ci = find_descendant(pkg, "customInformation");
	if (!ci)
		ci = find_descendant(root, "customInformation");
	if (ci)
		TRY(cbs_xml_attr(ci, "PackageFormat", &mum->package_format, err, errlen));
	return OFFSERV_OK;
fail:
	return st;
}

offserv_status offserv_mum_parse(const void *data, size_t len, struct offserv_mum **out,
                                 char *err, size_t errlen)
{
	xmlDocPtr doc;
	xmlNode *root;
	struct offserv_mum *mum;
	offserv_status st;

	if (!out)
		return OFFSERV_E_INVALIDARG;
	*out = NULL;
	st = cbs_xml_parse(data, len, &doc, err, errlen);
	if (st != OFFSERV_OK)
		return st;
	st = root_assembly(doc, &root, err, errlen);
	if (st != OFFSERV_OK) {
		xmlFreeDoc(doc);
		return st;
	}
	mum = calloc(1, sizeof(*mum));
	if (!mum) {
		xmlFreeDoc(doc);
		cbs_set_err(err, errlen, "out of memory");
		return OFFSERV_E_OUTOFMEMORY;
	}
	st = read_mum(root, mum, err, errlen);
	xmlFreeDoc(doc);
	if (st != OFFSERV_OK) {
		offserv_mum_free(mum);
		return st;
	}
	*out = mum;
	return OFFSERV_OK;
}

/* Read @p path (capped) and run @p parse on it, prefixing errors with the path. */
static offserv_status load_and_parse(const char *path,
                                     offserv_status (*parse)(const void *, size_t, void **,
                                                             char *, size_t),
                                     void **out, char *err, size_t errlen)
{
	char *data = NULL, msg[512];
	size_t len = 0;
	offserv_status st;

	if (!path || !out)
		return OFFSERV_E_INVALIDARG;
	*out = NULL;
	msg[0] = '\0';
	st = offserv_read_file(path, OFFSERV_MANIFEST_MAX_BYTES, &data, &len, msg, sizeof(msg));
	if (st != OFFSERV_OK) {
		if (msg[0])
			cbs_set_err(err, errlen, "%s", msg);
		else
			cbs_set_err(err, errlen, "%s: cannot read the file", path);
		return st;
	}
	st = parse(data, len, out, msg, sizeof(msg));
	free(data);
	if (st != OFFSERV_OK)
		cbs_set_err(err, errlen, "%s: %s", path, msg);
	return st;
}

static offserv_status mum_parse_void(const void *d, size_t l, void **o, char *e, size_t el)
{
	struct offserv_mum *m = NULL;
	offserv_status st = offserv_mum_parse(d, l, &m, e, el);

	*o = m;
	return st;
}

offserv_status offserv_mum_load(const char *path, struct offserv_mum **out, char *err,
                                size_t errlen)
{
	void *p = NULL;
	offserv_status st;

	if (!out)
		return OFFSERV_E_INVALIDARG;
	st = load_and_parse(path, mum_parse_void, &p, err, errlen);
	*out = p;
	return st;
}

/* ---- component manifests -------------------------------------------------- */

void offserv_manifest_free(struct offserv_manifest *m)
{
	if (!m)
		return;
	offserv_identity_clear(&m->id);
	for (size_t i = 0; i < m->n_files; i++) {
		struct offserv_manifest_file *f = &m->files[i];

		free(f->name);
		free(f->destination_path);
		free(f->source_name);
		free(f->source_path);
		free(f->sd_name);
		free(f->attributes);
	}
	free(m->files);
	for (size_t i = 0; i < m->n_regkeys; i++) {
		struct offserv_manifest_regkey *k = &m->regkeys[i];

		free(k->key_name);
		for (size_t j = 0; j < k->n_values; j++) {
			free(k->values[j].name);
			free(k->values[j].data);
		}
		free(k->values);
	}
	free(m->regkeys);
	for (size_t i = 0; i < m->n_sds; i++) {
		free(m->sds[i].name);
		free(m->sds[i].sddl);
	}
	free(m->sds);
	free(m->online_work_reason);
	free(m);
}

const struct offserv_manifest_sd *offserv_manifest_find_sd(const struct offserv_manifest *m,
                                                           const char *name)
{
	if (!m || !name)
		return NULL;
	for (size_t i = 0; i < m->n_sds; i++)
		if (m->sds[i].name && strcmp(m->sds[i].name, name) == 0)
			return &m->sds[i];
	return NULL;
}

static char *trimmed_text(const xmlNode *n)
{
	xmlChar *raw = xmlNodeGetContent(n);
	const char *s, *e;
	char *out;

	if (!raw)
		return strdup("");
	s = (const char *)raw;
	while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
		e--;
	out = strndup(s, (size_t)(e - s));
	xmlFree(raw);
	return out;
}

/* <asmv2:hash> with a dsig:DigestMethod and a base64 dsig:DigestValue. */
static offserv_status read_hash(const xmlNode *h, struct offserv_manifest_file *f, char *err,
                                size_t errlen)
{
	xmlNode *method = find_descendant(h, "DigestMethod");
	xmlNode *value = find_descendant(h, "DigestValue");
	char *alg = NULL, *text = NULL;
	const char *frag;
	size_t want;
	offserv_status st;

	if (!method || !value) {
		cbs_set_err(err, errlen, "hash of file \"%.200s\" lacks DigestMethod or DigestValue",
		            f->name);
		return OFFSERV_CBS_E_INVALID_PACKAGE;
	}
	TRY(cbs_xml_attr(method, "Algorithm", &alg, err, errlen));
	frag = alg ? strrchr(alg, '#') : NULL;
	if (frag && strcmp(frag, "#sha256") == 0) {
		f->hash_alg = OFFSERV_HASH_SHA256;
		want = 32;
	} else if (frag && strcmp(frag, "#sha1") == 0) {
		f->hash_alg = OFFSERV_HASH_SHA1;
		want = 20;
	} else {
		cbs_set_err(err, errlen, "hash of file \"%.200s\" uses an unknown algorithm \"%.200s\"",
		            f->name, alg ? alg : "");
		st = OFFSERV_CBS_E_INVALID_PACKAGE;
		goto fail;
	}
	text = trimmed_text(value);
	OOM_IF(!text);
	if (strlen(text) > 64 ||
	    offserv_base64_decode(text, f->digest, sizeof(f->digest), &f->hash_len) != OFFSERV_OK ||
	    f->hash_len != want) {
		cbs_set_err(err, errlen, "hash of file \"%.200s\": DigestValue \"%.80s\" is not a "
		            "base64 %s digest", f->name, text, want == 32 ? "SHA-256" : "SHA-1");
		f->hash_len = 0;
		f->hash_alg = OFFSERV_HASH_NONE;
		st = OFFSERV_CBS_E_INVALID_PACKAGE;
		goto fail;
	}
	st = OFFSERV_OK;
fail:
	free(alg);
	free(text);
	return st;
}

static offserv_status read_file_element(const xmlNode *n, struct offserv_manifest_file *f,
                                        char *err, size_t errlen)
{
	offserv_status st;

	TRY(cbs_xml_attr(n, "name", &f->name, err, errlen));
	if (!f->name || !*f->name) {
		cbs_set_err(err, errlen, "<file> (line %ld) has no name attribute", xmlGetLineNo(n));
		return OFFSERV_CBS_E_INVALID_PACKAGE;
	}
	TRY(cbs_xml_attr(n, "destinationPath", &f->destination_path, err, errlen));
	TRY(cbs_xml_attr(n, "sourceName", &f->source_name, err, errlen));
	TRY(cbs_xml_attr(n, "sourcePath", &f->source_path, err, errlen));
	TRY(cbs_xml_attr(n, "attributes", &f->attributes, err, errlen));
	for (xmlNode *c = n->children; c; c = c->next) {
		if (cbs_xml_is(c, "securityDescriptor")) {
			free(f->sd_name);
			TRY(cbs_xml_attr(c, "name", &f->sd_name, err, errlen));
		} else if (cbs_xml_is(c, "hash")) {
			TRY(read_hash(c, f, err, errlen));
		}
	}
	return OFFSERV_OK;
fail:
	return st;
}

/* Append UTF-16LE of @p s with its NUL to *@p buf. */
static offserv_status append_utf16(uint8_t **buf, size_t *len, const char *s, size_t slen)
{
	char *tmp = strndup(s, slen);
	uint8_t *w = NULL, *nb;
	size_t wl = 0;
	offserv_status st;

	if (!tmp)
		return OFFSERV_E_OUTOFMEMORY;
	st = offserv_utf8_to_utf16le(tmp, &w, &wl);
	free(tmp);
	if (st != OFFSERV_OK)
		return st;
	nb = realloc(*buf, *len + wl);
	if (!nb) {
		free(w);
		return OFFSERV_E_OUTOFMEMORY;
	}
	memcpy(nb + *len, w, wl);
	*buf = nb;
	*len += wl;
	free(w);
	return OFFSERV_OK;
}

/*
 * REG_MULTI_SZ as manifests write it: quoted strings separated by commas,
 * `"first","second"` (the quotes arrive as &quot; in the XML).  Each string
 * becomes UTF-16LE with its NUL, and one more NUL ends the list.
 */
static offserv_status encode_multi_sz(const char *v, uint8_t **data, size_t *len)
{
	const char *p = v;
	offserv_status st;
	uint8_t *nb;

	while (*p == ' ')
		p++;
	while (*p) {
		const char *close;

		if (*p != '"')
			return OFFSERV_E_INVALID_DATA;
		close = strchr(p + 1, '"');
		if (!close)
			return OFFSERV_E_INVALID_DATA;
		st = append_utf16(data, len, p + 1, (size_t)(close - p - 1));
		if (st != OFFSERV_OK)
			return st;
		p = close + 1;
		while (*p == ' ')
			p++;
		if (*p == ',') {
			p++;
			while (*p == ' ')
				p++;
			if (!*p)
				return OFFSERV_E_INVALID_DATA;
		} else if (*p) {
			return OFFSERV_E_INVALID_DATA;
		}
	}
	nb = realloc(*data, *len + 2);
	if (!nb)
		return OFFSERV_E_OUTOFMEMORY;
	nb[*len] = 0;
	nb[*len + 1] = 0;
	*data = nb;
	*len += 2;
	return OFFSERV_OK;
}

/* "0x..." hexadecimal or decimal, no sign, within @p max. */
static int parse_uint(const char *v, uint64_t max, uint64_t *out)
{
	uint64_t x = 0;
	int base = 10, digits = 0;
	const char *p = v;

	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		base = 16;
		p += 2;
	}
	for (; *p; p++) {
		int d;

		if (*p >= '0' && *p <= '9')
			d = *p - '0';
		else if (base == 16 && *p >= 'a' && *p <= 'f')
			d = *p - 'a' + 10;
		else if (base == 16 && *p >= 'A' && *p <= 'F')
			d = *p - 'A' + 10;
		else
			return -1;
		if (x > (max - (uint64_t)d) / (uint64_t)base)
			return -1;
		x = x * (uint64_t)base + (uint64_t)d;
		digits++;
	}
	if (!digits)
		return -1;
	*out = x;
	return 0;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static offserv_status encode_binary(const char *v, uint8_t **data, size_t *len)
{
	size_t n = strlen(v);

	if (n % 2)
		return OFFSERV_E_INVALID_DATA;
	*data = malloc(n / 2 ? n / 2 : 1);
	if (!*data)
		return OFFSERV_E_OUTOFMEMORY;
	for (size_t i = 0; i < n; i += 2) {
		int hi = hexval((unsigned char)v[i]), lo = hexval((unsigned char)v[i + 1]);

		if (hi < 0 || lo < 0)
			return OFFSERV_E_INVALID_DATA;
		(*data)[i / 2] = (uint8_t)(hi << 4 | lo);
	}
	*len = n / 2;
	return OFFSERV_OK;
}

static const struct {
	const char *name;
	enum offserv_reg_type type;
} reg_types[] = {
	{"REG_NONE", OFFSERV_REG_NONE},         {"REG_SZ", OFFSERV_REG_SZ},
	{"REG_EXPAND_SZ", OFFSERV_REG_EXPAND_SZ}, {"REG_BINARY", OFFSERV_REG_BINARY},
	{"REG_DWORD", OFFSERV_REG_DWORD},       {"REG_MULTI_SZ", OFFSERV_REG_MULTI_SZ},
	{"REG_QWORD", OFFSERV_REG_QWORD},
};

static offserv_status read_regvalue(const xmlNode *n, const char *key,
                                    struct offserv_manifest_regvalue *rv, char *err,
                                    size_t errlen)
{
	char *type = NULL, *value = NULL;
	offserv_status st;
	int found = 0;
	const char *v;

	TRY(cbs_xml_attr(n, "name", &rv->name, err, errlen));
	if (!rv->name) {
		rv->name = strdup("");
		OOM_IF(!rv->name);
	}
	TRY(cbs_xml_attr(n, "valueType", &type, err, errlen));
	TRY(cbs_xml_attr(n, "value", &value, err, errlen));
	if (!type) {
		cbs_set_err(err, errlen, "registry value \"%.200s\" of key \"%.200s\" has no valueType",
		            rv->name, key);
		st = OFFSERV_CBS_E_INVALID_PACKAGE;
		goto fail;
	}
	for (size_t i = 0; i < sizeof(reg_types) / sizeof(reg_types[0]); i++)
		if (strcmp(type, reg_types[i].name) == 0) {
			rv->type = reg_types[i].type;
			found = 1;
		}
	if (!found) {
		cbs_set_err(err, errlen, "registry value \"%.200s\" of key \"%.200s\" has an unsupported "
		            "valueType \"%.64s\"", rv->name, key, type);
		st = OFFSERV_CBS_E_INVALID_PACKAGE;
		goto fail;
	}
	v = value ? value : "";
	switch (rv->type) {
	case OFFSERV_REG_SZ:
	case OFFSERV_REG_EXPAND_SZ:
		st = append_utf16(&rv->data, &rv->len, v, strlen(v));
		break;
	case OFFSERV_REG_MULTI_SZ:
		st = encode_multi_sz(v, &rv->data, &rv->len);
		break;
	case OFFSERV_REG_DWORD:
	case OFFSERV_REG_QWORD: {
		uint64_t x;
		size_t width = rv->type == OFFSERV_REG_DWORD ? 4 : 8;

		if (parse_uint(v, width == 4 ? UINT32_MAX : UINT64_MAX, &x) != 0) {
			st = OFFSERV_E_INVALID_DATA;
			break;
		}
		rv->data = malloc(width);
		if (!rv->data) {
			st = OFFSERV_E_OUTOFMEMORY;
			break;
		}
		for (size_t i = 0; i < width; i++)
			rv->data[i] = (uint8_t)(x >> (8 * i));
		rv->len = width;
		st = OFFSERV_OK;
		break;
	}
	case OFFSERV_REG_NONE:
	case OFFSERV_REG_BINARY:
	default:
		st = encode_binary(v, &rv->data, &rv->len);
		break;
	}
	if (st == OFFSERV_E_OUTOFMEMORY) {
		cbs_set_err(err, errlen, "out of memory");
		goto fail;
	}
	if (st != OFFSERV_OK) {
		cbs_set_err(err, errlen, "registry value \"%.200s\" of key \"%.200s\": %s value "
		            "\"%.80s\" is malformed", rv->name, key, type, v);
		st = OFFSERV_CBS_E_INVALID_PACKAGE;
		goto fail;
	}
fail:
	free(type);
	free(value);
	return st;
}

static offserv_status read_regkeys(const xmlNode *n, struct offserv_manifest *m, char *err,
                                   size_t errlen)
{
	offserv_status st;

	for (xmlNode *c = n->children; c; c = c->next) {
		struct offserv_manifest_regkey *k;

		if (!cbs_xml_is_asm(c, "registryKey"))
			continue;
		k = grow(m->regkeys, &m->n_regkeys, sizeof(*k));
		OOM_IF(!k);
		m->regkeys = k;
		k = &m->regkeys[m->n_regkeys - 1];
		TRY(cbs_xml_attr(c, "keyName", &k->key_name, err, errlen));
		if (!k->key_name || !*k->key_name) {
			cbs_set_err(err, errlen, "<registryKey> (line %ld) has no keyName attribute",
			            xmlGetLineNo(c));
			return OFFSERV_CBS_E_INVALID_PACKAGE;
		}
		for (xmlNode *v = c->children; v; v = v->next) {
			struct offserv_manifest_regvalue *rv;

			if (!cbs_xml_is_asm(v, "registryValue"))
				continue;
			rv = grow(k->values, &k->n_values, sizeof(*rv));
			OOM_IF(!rv);
			k->values = rv;
			TRY(read_regvalue(v, k->key_name, &k->values[k->n_values - 1], err, errlen));
		}
	}
	return OFFSERV_OK;
fail:
	return st;
}

static offserv_status read_sds(const xmlNode *trust, struct offserv_manifest *m, char *err,
                               size_t errlen)
{
	xmlNode *defs = find_descendant(trust, "securityDescriptorDefinitions");
	offserv_status st;

	if (!defs)
		return OFFSERV_OK;
	for (xmlNode *c = defs->children; c; c = c->next) {
		struct offserv_manifest_sd *sd;

		if (!cbs_xml_is_asm(c, "securityDescriptorDefinition"))
			continue;
		sd = grow(m->sds, &m->n_sds, sizeof(*sd));
		OOM_IF(!sd);
		m->sds = sd;
		sd = &m->sds[m->n_sds - 1];
		TRY(cbs_xml_attr(c, "name", &sd->name, err, errlen));
		TRY(cbs_xml_attr(c, "sddl", &sd->sddl, err, errlen));
		if (!sd->name || !*sd->name || !sd->sddl) {
			cbs_set_err(err, errlen, "<securityDescriptorDefinition> (line %ld) lacks its "
			            "%s attribute", xmlGetLineNo(c),
			            (!sd->name || !*sd->name) ? "name" : "sddl");
			return OFFSERV_CBS_E_INVALID_PACKAGE;
		}
	}
	return OFFSERV_OK;
fail:
	return st;
}

/*
 * Elements whose work is done by an advanced installer or another part of
 * a running Windows: the component can be staged and projected offline,
 * but the package only reaches Install Pending.
 */
static const char *const online_elements[] = {
	"genericCommands", "taskScheduler",  "instrumentation", "mof",
	"firewallRule",    "bfsvc",          "SecureBoot",      "appxRegistration",
	"networkComponents", "unattendActions", "sppInstaller", "pbr",
	"msdtc",
};

static int ends_with_ai(const char *name)
{
	size_t n = strlen(name);

	return n > 2 && name[n - 2] == 'A' && name[n - 1] == 'I';
}

/*
 * A <categoryMembership> whose <categoryInstance> carries data (services,
 * and the like) is handed to the category's advanced installer; one that
 * only names a category (BootCritical, BootRecovery) asks for nothing.
 */
static offserv_status membership_reason(const xmlNode *cm, char **reason, char *err,
                                        size_t errlen)
{
	xmlNode *id = cbs_xml_child(cm, "id");
	char *name = NULL, *type = NULL;
	offserv_status st;

	*reason = NULL;
	TRY(cbs_xml_attr(id, "name", &name, err, errlen));
	TRY(cbs_xml_attr(id, "typeName", &type, err, errlen));
	if (cbs_xml_child(cm, "categoryInstance") ||
	    (type && strcmp(type, "AdvancedInstaller") == 0)) {
		if (asprintf(reason, "advanced installer for category %.200s (%.100s)",
		             name ? name : "?", type ? type : "?") < 0)
			*reason = NULL;
		OOM_IF(!*reason);
	}
	st = OFFSERV_OK;
fail:
	free(name);
	free(type);
	return st;
}

static offserv_status note_online(struct offserv_manifest *m, const char *reason, char *err,
                                  size_t errlen)
{
	if (m->needs_online_work)
		return OFFSERV_OK;
	m->needs_online_work = 1;
	m->online_work_reason = strdup(reason);
	if (!m->online_work_reason) {
		cbs_set_err(err, errlen, "out of memory");
		return OFFSERV_E_OUTOFMEMORY;
	}
	return OFFSERV_OK;
}

static offserv_status check_online(const xmlNode *c, struct offserv_manifest *m, char *err,
                                   size_t errlen)
{
	offserv_status st = OFFSERV_OK;
	const char *name = (const char *)c->name;
	char buf[256];

	for (size_t i = 0; i < sizeof(online_elements) / sizeof(online_elements[0]); i++)
		if (strcmp(name, online_elements[i]) == 0) {
			snprintf(buf, sizeof(buf), "<%s>", name);
			return note_online(m, buf, err, errlen);
		}
	if (ends_with_ai(name)) {
		snprintf(buf, sizeof(buf), "advanced installer <%.200s>", name);
		return note_online(m, buf, err, errlen);
	}
	if (cbs_xml_is(c, "memberships") || cbs_xml_is(c, "categoryMembership")) {
		const xmlNode *first = cbs_xml_is(c, "categoryMembership") ? c : c->children;

		for (const xmlNode *cm = first; cm; cm = cm == c ? NULL : cm->next) {
			char *reason = NULL;

			if (!cbs_xml_is(cm, "categoryMembership"))
				continue;
			st = membership_reason(cm, &reason, err, errlen);
			if (st == OFFSERV_OK && reason)
				st = note_online(m, reason, err, errlen);
			free(reason);
			if (st != OFFSERV_OK)
				return st;
		}
	}
	return st;
}

static offserv_status read_manifest(const xmlNode *root, struct offserv_manifest *m, char *err,
                                    size_t errlen)
{
	offserv_status st;

	TRY(root_identity(root, &m->id, err, errlen));
	for (xmlNode *c = root->children; c; c = c->next) {
		if (c->type != XML_ELEMENT_NODE)
			continue;
		if (cbs_xml_is_asm(c, "file")) {
			struct offserv_manifest_file *f = grow(m->files, &m->n_files, sizeof(*f));

			OOM_IF(!f);
			m->files = f;
			TRY(read_file_element(c, &m->files[m->n_files - 1], err, errlen));
		} else if (cbs_xml_is_asm(c, "registryKeys")) {
			TRY(read_regkeys(c, m, err, errlen));
		} else if (cbs_xml_is_asm(c, "trustInfo")) {
			TRY(read_sds(c, m, err, errlen));
		} else {
			TRY(check_online(c, m, err, errlen));
		}
	}
	return OFFSERV_OK;
fail:
	return st;
}

offserv_status offserv_manifest_parse(const void *data, size_t len,
                                      struct offserv_manifest **out, char *err, size_t errlen)
{
	xmlDocPtr doc;
	xmlNode *root;
	struct offserv_manifest *m;
	offserv_status st;

	if (!out)
		return OFFSERV_E_INVALIDARG;
	*out = NULL;
	if (data && len >= 4 && memcmp(data, "DCM\x01", 4) == 0) {
		cbs_set_err(err, errlen, "manifest is delta-compressed (DCM\\x01) against a base "
		            "manifest of the servicing stack; reading it needs an MSDelta (PA30) "
		            "decoder");
		return OFFSERV_E_NOT_SUPPORTED;
	}
	st = cbs_xml_parse(data, len, &doc, err, errlen);
	if (st != OFFSERV_OK)
		return st;
	st = root_assembly(doc, &root, err, errlen);
	if (st != OFFSERV_OK) {
		xmlFreeDoc(doc);
		return st;
	}
	m = calloc(1, sizeof(*m));
	if (!m) {
		xmlFreeDoc(doc);
		cbs_set_err(err, errlen, "out of memory");
		return OFFSERV_E_OUTOFMEMORY;
	}
	st = read_manifest(root, m, err, errlen);
	xmlFreeDoc(doc);
	if (st != OFFSERV_OK) {
		offserv_manifest_free(m);
		return st;
	}
	*out = m;
	return OFFSERV_OK;
}

static offserv_status manifest_parse_void(const void *d, size_t l, void **o, char *e,
                                          size_t el)
{
	struct offserv_manifest *m = NULL;
	offserv_status st = offserv_manifest_parse(d, l, &m, e, el);

	*o = m;
	return st;
}

offserv_status offserv_manifest_load(const char *path, struct offserv_manifest **out,
                                     char *err, size_t errlen)
{
	void *p = NULL;
	offserv_status st;

	if (!out)
		return OFFSERV_E_INVALIDARG;
	st = load_and_parse(path, manifest_parse_void, &p, err, errlen);
	*out = p;
	return st;
}
