/* SPDX-License-Identifier: GPL-3.0-or-later */
/* What update containers say about themselves: pkgProperties.txt, the MSU
 * unattend file, and the package manifest and markers of a package CAB. */
#include <config.h>

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <offserv/msu.h>
#include <offserv/util.h>

#include "cbs/xml.h"

/* ---- pkgProperties.txt --------------------------------------------------- */

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

void offserv_pkgprops_free(struct offserv_pkgprops *props)
{
	if (!props)
		return;
	for (size_t i = 0; i < props->n; i++) {
		free(props->items[i].key);
		free(props->items[i].value);
	}
	free(props->items);
	free(props);
}

offserv_status offserv_pkgprops_parse(const void *data, size_t len, struct offserv_pkgprops **out,
                                      char *err, size_t errlen)
{
	const unsigned char *b = data;
	struct offserv_pkgprops *props;
	char *text = NULL, *line, *save = NULL;
	size_t lineno = 0;
	offserv_status s = OFFSERV_OK;

	*out = NULL;
	if (len > OFFSERV_PKGPROPS_MAX_BYTES) {
		offserv_set_error(err, errlen, "pkgProperties: %zu bytes, over the limit of %u", len,
		                  OFFSERV_PKGPROPS_MAX_BYTES);
		return OFFSERV_E_INVALID_DATA;
	}
	if (len >= 2 && ((b[0] == 0xff && b[1] == 0xfe) || (b[0] != 0 && b[1] == 0))) {
		/* UTF-16LE, with its BOM (or without one but plainly UTF-16). */
		size_t skip = (b[0] == 0xff && b[1] == 0xfe) ? 2 : 0;
		if ((len - skip) % 2 != 0 ||
		    offserv_utf16le_to_utf8(b + skip, len - skip, &text) != OFFSERV_OK || !text) {
			offserv_set_error(err, errlen, "pkgProperties: invalid UTF-16LE text");
			return OFFSERV_E_INVALID_DATA;
		}
	} else {
		if (len >= 3 && b[0] == 0xef && b[1] == 0xbb && b[2] == 0xbf) {
			b += 3;
			len -= 3;
		}
		if (memchr(b, '\0', len)) {
			offserv_set_error(err, errlen, "pkgProperties: NUL byte in text");
			return OFFSERV_E_INVALID_DATA;
		}
		text = malloc(len + 1);
		if (!text)
			return OFFSERV_E_OUTOFMEMORY;
		memcpy(text, b, len);
		text[len] = '\0';
	}
	props = calloc(1, sizeof(*props));
	if (!props) {
		free(text);
		return OFFSERV_E_OUTOFMEMORY;
	}
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *eq, *key, *value;
		struct offserv_pkgprop *np;
		size_t vl;

		lineno++;
		line = trim(line);
		if (!*line)
			continue;
		eq = strchr(line, '=');
		if (!eq) {
			offserv_set_error(err, errlen, "pkgProperties: line %zu is not Key=\"Value\"",
			                  lineno);
			s = OFFSERV_E_INVALID_DATA;
			break;
		}
		*eq = '\0';
		key = trim(line);
		value = trim(eq + 1);
		if (!*key) {
			offserv_set_error(err, errlen, "pkgProperties: line %zu has no key", lineno);
			s = OFFSERV_E_INVALID_DATA;
			break;
		}
		vl = strlen(value);
		if (value[0] == '"') {
			if (vl < 2 || value[vl - 1] != '"') {
				offserv_set_error(err, errlen,
				                  "pkgProperties: line %zu: value of %s lacks its closing quote",
				                  lineno, key);
				s = OFFSERV_E_INVALID_DATA;
				break;
			}
			value[vl - 1] = '\0';
			value++;
		}
		np = realloc(props->items, (props->n + 1) * sizeof(*np));
		if (!np) {
			s = OFFSERV_E_OUTOFMEMORY;
			break;
		}
		props->items = np;
		np[props->n].key = strdup(key);
		np[props->n].value = strdup(value);
		props->n++;
		if (!np[props->n - 1].key || !np[props->n - 1].value) {
			s = OFFSERV_E_OUTOFMEMORY;
			break;
		}
	}
	free(text);
	if (s != OFFSERV_OK) {
		offserv_pkgprops_free(props);
		return s;
	}
	*out = props;
	return OFFSERV_OK;
}

const char *offserv_pkgprops_get(const struct offserv_pkgprops *props, const char *key)
{
	if (!props || !key)
		return NULL;
	for (size_t i = 0; i < props->n; i++)
		if (strcasecmp(props->items[i].key, key) == 0)
			return props->items[i].value;
	return NULL;
}

/* ---- unattend .xml ------------------------------------------------------- */

void offserv_unattend_free(struct offserv_unattend *u)
{
	if (!u)
		return;
	for (size_t i = 0; i < u->n; i++) {
		free(u->packages[i].action);
		offserv_identity_clear(&u->packages[i].id);
		free(u->packages[i].source);
		free(u->packages[i].cab_name);
	}
	free(u->packages);
	free(u);
}

static offserv_status read_identity(const xmlNode *n, struct offserv_identity *id, char *err,
                                    size_t errlen)
{
	static const char *const names[] = {"name", "version", "processorArchitecture", "language",
	                                    "publicKeyToken", "type", "versionScope", "buildType"};
	char **slots[] = {&id->name, &id->version, &id->arch, &id->language,
	                  &id->token, &id->type, &id->version_scope, &id->build_type};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		offserv_status s = cbs_xml_attr(n, names[i], slots[i], err, errlen);
		if (s != OFFSERV_OK)
			return s;
	}
	return OFFSERV_OK;
}

static offserv_status read_unattend_package(const xmlNode *pn, struct offserv_unattend_package *p,
                                            char *err, size_t errlen)
{
	const xmlNode *idn = cbs_xml_child(pn, "assemblyIdentity");
	const xmlNode *src = cbs_xml_child(pn, "source");
	offserv_status s;

	s = cbs_xml_attr(pn, "action", &p->action, err, errlen);
	if (s == OFFSERV_OK && idn)
		s = read_identity(idn, &p->id, err, errlen);
	if (s == OFFSERV_OK && src)
		s = cbs_xml_attr(src, "location", &p->source, err, errlen);
	if (s == OFFSERV_OK && p->source) {
		const char *base = p->source;
		for (const char *c = p->source; *c; c++)
			if (*c == '\\' || *c == '/')
				base = c + 1;
		p->cab_name = strdup(base);
		if (!p->cab_name)
			s = OFFSERV_E_OUTOFMEMORY;
	}
	return s;
}

offserv_status offserv_unattend_parse(const void *data, size_t len, struct offserv_unattend **out,
                                      char *err, size_t errlen)
{
	xmlDocPtr doc = NULL;
	xmlNode *root, *serv;
	struct offserv_unattend *u;
	offserv_status s;

	*out = NULL;
	if (len > OFFSERV_PKGPROPS_MAX_BYTES) {
		offserv_set_error(err, errlen, "unattend file: %zu bytes, over the limit of %u", len,
		                  OFFSERV_PKGPROPS_MAX_BYTES);
		return OFFSERV_E_INVALID_DATA;
	}
	s = cbs_xml_parse(data, len, &doc, err, errlen);
	if (s != OFFSERV_OK)
		return s;
	root = xmlDocGetRootElement(doc);
	if (!root || !cbs_xml_is(root, "unattend")) {
		offserv_set_error(err, errlen, "not an unattend file: the root element is <%s>",
		                  root ? (const char *)root->name : "");
		xmlFreeDoc(doc);
		return OFFSERV_CBS_E_INVALID_PACKAGE;
	}
	u = calloc(1, sizeof(*u));
	if (!u) {
		xmlFreeDoc(doc);
		return OFFSERV_E_OUTOFMEMORY;
	}
	for (serv = root->children; serv && s == OFFSERV_OK; serv = serv->next) {
		if (!cbs_xml_is(serv, "servicing"))
			continue;
		for (xmlNode *pn = serv->children; pn && s == OFFSERV_OK; pn = pn->next) {
			struct offserv_unattend_package *np;
			if (!cbs_xml_is(pn, "package"))
				continue;
			np = realloc(u->packages, (u->n + 1) * sizeof(*np));
			if (!np) {
				s = OFFSERV_E_OUTOFMEMORY;
				break;
			}
			u->packages = np;
			memset(&np[u->n], 0, sizeof(np[u->n]));
			u->n++;
			s = read_unattend_package(pn, &np[u->n - 1], err, errlen);
		}
	}
	xmlFreeDoc(doc);
	if (s != OFFSERV_OK) {
		offserv_unattend_free(u);
		return s;
	}
	*out = u;
	return OFFSERV_OK;
}

/* ---- names ---------------------------------------------------------------- */

const char *offserv_arch_display(const char *a)
{
	if (!a || !*a || !strcmp(a, "*") || !strcasecmp(a, "neutral") || !strcasecmp(a, "msil"))
		return "neutral";
	if (!strcasecmp(a, "amd64") || !strcasecmp(a, "x64") || !strcasecmp(a, "wow64"))
		return "x64";
	if (!strcasecmp(a, "x86"))
		return "x86";
	if (!strcasecmp(a, "arm64"))
		return "arm64";
	if (!strcasecmp(a, "arm"))
		return "arm";
	return a;
}

char *offserv_kb_from_text(const char *text)
{
	const char *digits = NULL;
	size_t n = 0;
	char *out;

	if (!text)
		return NULL;
	for (const char *p = text; *p; p++) {
		if ((p[0] == 'K' || p[0] == 'k') && (p[1] == 'B' || p[1] == 'b') &&
		    isdigit((unsigned char)p[2]) && (p == text || !isalpha((unsigned char)p[-1]))) {
			digits = p + 2;
			break;
		}
	}
	if (!digits) {
		/* A bare article number ("3118401"). */
		for (const char *p = text; *p; p++)
			if (!isdigit((unsigned char)*p))
				return NULL;
		if (!*text)
			return NULL;
		digits = text;
	}
	while (isdigit((unsigned char)digits[n]))
		n++;
	out = malloc(n + 3);
	if (!out)
		return NULL;
	out[0] = 'K';
	out[1] = 'B';
	memcpy(out + 2, digits, n);
	out[n + 2] = '\0';
	return out;
}

/* ---- package cabinets ------------------------------------------------------- */

void offserv_package_cab_free(struct offserv_package_cab *pc)
{
	if (!pc)
		return;
	offserv_mum_free(pc->mum);
	free(pc->mum_name);
	free(pc->kb);
	free(pc->pkg.identity);
	free(pc->pkg.name);
	free(pc->pkg.version);
	free(pc->pkg.arch);
	free(pc->pkg.release_type);
	free(pc->pkg.member);
	free(pc->pkg.unsupported_reason);
	for (size_t i = 0; i < pc->n_parents; i++)
		free(pc->parents[i]);
	free(pc->parents);
	for (size_t i = 0; i < pc->n_nested; i++)
		free(pc->nested[i]);
	free(pc->nested);
	free(pc);
}

static int has_suffix_ci(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && strcasecmp(s + a - b, suffix) == 0;
}

static int contains_ci(const char *hay, const char *needle)
{
	return hay && strcasestr(hay, needle) != NULL;
}

static int push_str(char ***arr, size_t *n, const char *s)
{
	char **na = realloc(*arr, (*n + 1) * sizeof(*na));

	if (!na)
		return -1;
	*arr = na;
	na[*n] = strdup(s);
	if (!na[*n])
		return -1;
	(*n)++;
	return 0;
}

static offserv_status load_mum(struct offserv_cab *cab, const struct offserv_cab_member *m,
                               struct offserv_mum **mum, char *err, size_t errlen)
{
	void *buf = NULL;
	size_t len = 0;
	char msg[512] = "";
	offserv_status s;

	s = offserv_cab_extract_member_mem(cab, m, OFFSERV_MANIFEST_MAX_BYTES, &buf, &len, err,
	                                   errlen);
	if (s != OFFSERV_OK)
		return s;
	s = offserv_mum_parse(buf, len, mum, msg, sizeof(msg));
	free(buf);
	if (s != OFFSERV_OK)
		offserv_set_error(err, errlen, "%s: package manifest %s: %s", offserv_cab_path(cab),
		                  m->name, msg[0] ? msg : offserv_strerror(s));
	return s;
}

/* Without update.mum: the one .mum that no other one names as nested. */
static offserv_status pick_root_mum(struct offserv_cab *cab,
                                    const struct offserv_cab_member **mums, size_t n_mums,
                                    const struct offserv_cab_member **pick, char *err,
                                    size_t errlen)
{
	struct offserv_mum **parsed = calloc(n_mums, sizeof(*parsed));
	size_t roots = 0;
	offserv_status s = OFFSERV_OK;

	if (!parsed)
		return OFFSERV_E_OUTOFMEMORY;
	*pick = NULL;
	for (size_t i = 0; i < n_mums && s == OFFSERV_OK; i++)
		s = load_mum(cab, mums[i], &parsed[i], err, errlen);
	for (size_t i = 0; i < n_mums && s == OFFSERV_OK; i++) {
		int nested = 0;
		for (size_t j = 0; j < n_mums && !nested; j++) {
			if (j == i)
				continue;
			for (size_t k = 0; k < parsed[j]->n_updates; k++) {
				const struct offserv_mum_update *up = &parsed[j]->updates[k];
				if (up->kind == OFFSERV_UPDATE_PACKAGE && up->id.name &&
				    parsed[i]->id.name && !strcasecmp(up->id.name, parsed[i]->id.name))
					nested = 1;
			}
		}
		if (!nested) {
			roots++;
			*pick = mums[i];
		}
	}
	for (size_t i = 0; i < n_mums; i++)
		offserv_mum_free(parsed[i]);
	free(parsed);
	if (s == OFFSERV_OK && roots != 1) {
		offserv_set_error(err, errlen, "%s: no update.mum, and %zu of its %zu package "
		                  "manifests could be the installable one", offserv_cab_path(cab),
		                  roots, n_mums);
		*pick = NULL;
		s = OFFSERV_CBS_E_INVALID_PACKAGE;
	}
	return s;
}

static int is_root_member(const char *name)
{
	return name && !strchr(name, '/');
}

static offserv_status set_reason(struct offserv_package_cab *pc, const char *reason)
{
	if (pc->pkg.unsupported_reason)
		return OFFSERV_OK; /* keep the first */
	pc->pkg.supported = 0;
	pc->pkg.unsupported_reason = strdup(reason);
	return pc->pkg.unsupported_reason ? OFFSERV_OK : OFFSERV_E_OUTOFMEMORY;
}

static offserv_status fill_from_mum(struct offserv_package_cab *pc)
{
	const struct offserv_mum *mum = pc->mum;
	struct offserv_update_package *p = &pc->pkg;

	p->identity = offserv_identity_package_string(&mum->id);
	if (!p->identity)
		return OFFSERV_E_OUTOFMEMORY;
	if ((mum->id.name && !(p->name = strdup(mum->id.name))) ||
	    (mum->id.version && !(p->version = strdup(mum->id.version))) ||
	    (mum->id.arch && !(p->arch = strdup(mum->id.arch))) ||
	    (mum->release_type && !(p->release_type = strdup(mum->release_type))))
		return OFFSERV_E_OUTOFMEMORY;
	pc->kb = offserv_kb_from_text(mum->identifier);
	if (!pc->kb)
		pc->kb = offserv_kb_from_text(mum->id.name);
	for (size_t i = 0; i < mum->n_parents; i++) {
		for (size_t j = 0; j < mum->parents[i].n_ids; j++) {
			char *ps = offserv_identity_package_string(&mum->parents[i].ids[j]);
			int dup = 0;
			if (!ps)
				return OFFSERV_E_OUTOFMEMORY;
			for (size_t k = 0; k < pc->n_parents && !dup; k++)
				dup = !strcmp(pc->parents[k], ps);
			if (!dup && push_str(&pc->parents, &pc->n_parents, ps) != 0) {
				free(ps);
				return OFFSERV_E_OUTOFMEMORY;
			}
			free(ps);
		}
	}
	if (contains_ci(mum->id.name, "ServicingStack") ||
	    contains_ci(mum->release_type, "servicing stack"))
		p->is_ssu = 1;
	for (size_t i = 0; i < mum->n_updates; i++) {
		const struct offserv_mum_update *up = &mum->updates[i];
		if (up->kind == OFFSERV_UPDATE_COMPONENT && up->id.name &&
		    !strcasecmp(up->id.name, "Microsoft-Windows-ServicingStack"))
			p->is_ssu = 1;
	}
	return OFFSERV_OK;
}

offserv_status offserv_package_cab_inspect(struct offserv_cab *cab,
                                           struct offserv_package_cab **out, char *err,
                                           size_t errlen)
{
	struct offserv_package_cab *pc;
	const struct offserv_cab_member *update_mum = NULL, *cix = NULL, *toc = NULL;
	const struct offserv_cab_member *first_manifest = NULL, *chosen = NULL;
	const struct offserv_cab_member **mums = NULL;
	size_t n_mums = 0, n = offserv_cab_count(cab);
	int ssu_manifest = 0;
	char msg[512] = "";
	offserv_status s;

	*out = NULL;
	s = offserv_cab_check_names(cab, msg, sizeof(msg));
	if (s != OFFSERV_OK) {
		offserv_set_error(err, errlen, "not a valid package: %s", msg);
		return OFFSERV_CBS_E_INVALID_PACKAGE;
	}
	pc = calloc(1, sizeof(*pc));
	mums = calloc(n ? n : 1, sizeof(*mums));
	if (!pc || !mums) {
		free(pc);
		free(mums);
		return OFFSERV_E_OUTOFMEMORY;
	}
	pc->pkg.supported = 1;
	for (size_t i = 0; i < n; i++) {
		const struct offserv_cab_member *m = offserv_cab_member_at(cab, i);
		if (!is_root_member(m->name)) {
			if (!first_manifest && has_suffix_ci(m->name, ".manifest"))
				first_manifest = m;
			continue;
		}
		if (!strcasecmp(m->name, "update.mum"))
			update_mum = m;
		else if (!strcasecmp(m->name, "_manifest_.cix.xml"))
			cix = m;
		else if (!strcasecmp(m->name, "toc.xml"))
			toc = m;
		if (has_suffix_ci(m->name, ".mum"))
			mums[n_mums++] = m;
		else if (has_suffix_ci(m->name, ".manifest")) {
			if (!first_manifest)
				first_manifest = m;
			if (strcasestr(m->name, "_microsoft-windows-servicingstack_"))
				ssu_manifest = 1;
		} else if (has_suffix_ci(m->name, ".cab")) {
			if (push_str(&pc->nested, &pc->n_nested, m->name) != 0) {
				s = OFFSERV_E_OUTOFMEMORY;
				goto out;
			}
		}
	}
	if (update_mum) {
		chosen = update_mum;
	} else if (n_mums == 1) {
		chosen = mums[0];
	} else if (n_mums > 1) {
		s = pick_root_mum(cab, mums, n_mums, &chosen, err, errlen);
		if (s != OFFSERV_OK)
			goto out;
	} else if (toc && pc->n_nested > 0) {
		pc->combined = 1;
		pc->pkg.supported = 0;
		s = set_reason(pc, OFFSERV_REASON_COMBINED);
		for (size_t i = 0; s == OFFSERV_OK && !pc->kb && i < pc->n_nested; i++)
			pc->kb = offserv_kb_from_text(pc->nested[i]);
		for (size_t i = 0; i < pc->n_nested; i++)
			if (!strncasecmp(pc->nested[i], "SSU-", 4))
				pc->pkg.is_ssu = 1;
		goto out;
	} else {
		offserv_set_error(err, errlen, "%s: not a package: the cabinet holds no package "
		                  "manifest (update.mum)", offserv_cab_path(cab));
		s = OFFSERV_CBS_E_INVALID_PACKAGE;
		goto out;
	}
	pc->mum_name = strdup(chosen->name);
	if (!pc->mum_name) {
		s = OFFSERV_E_OUTOFMEMORY;
		goto out;
	}
	s = load_mum(cab, chosen, &pc->mum, err, errlen);
	if (s == OFFSERV_OK)
		s = fill_from_mum(pc);
	if (s != OFFSERV_OK)
		goto out;
	if (ssu_manifest)
		pc->pkg.is_ssu = 1;
	if (pc->mum->package_format && !strcasecmp(pc->mum->package_format, "PSFX"))
		s = set_reason(pc, OFFSERV_REASON_PSFX);
	if (s == OFFSERV_OK && cix)
		s = set_reason(pc, OFFSERV_REASON_PA30);
	if (s == OFFSERV_OK && first_manifest && !pc->pkg.unsupported_reason) {
		unsigned char head[4];
		size_t got = 0;
		s = offserv_cab_read_head(cab, first_manifest, head, sizeof(head), &got, err, errlen);
		if (s == OFFSERV_OK && got == 4 && !memcmp(head, "DCM\x01", 4))
			s = set_reason(pc, OFFSERV_REASON_DCM);
	}
out:
	free(mums);
	if (s != OFFSERV_OK) {
		if (s == OFFSERV_E_OUTOFMEMORY && err && errlen && !err[0])
			offserv_set_error(err, errlen, "%s: out of memory", offserv_cab_path(cab));
		offserv_package_cab_free(pc);
		return s;
	}
	*out = pc;
	return OFFSERV_OK;
}
