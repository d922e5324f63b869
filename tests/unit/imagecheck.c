/* SPDX-License-Identifier: GPL-3.0-or-later */
/* An independent read-back of a serviced WIM: wimlib, hivex and libxml2 directly. */
#include <config.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>
#include <wimlib.h>

#include <offserv/cbs.h>
#include <offserv/util.h>

#include "imagecheck.h"
#include "testutil.h"

#define CBS_PACKAGES "Microsoft\\Windows\\CurrentVersion\\Component Based Servicing\\Packages"

struct ic {
	WIMStruct *wim;
	char *path;
	char *tmp;
};

static int icfail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int icfail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

int ic_open(const char *wim, struct ic **out, char *err, size_t errlen)
{
	struct ic *c = calloc(1, sizeof(*c));
	int rc;

	*out = NULL;
	if (!c)
		return icfail(err, errlen, "out of memory");
	wimlib_global_init(0);
	rc = wimlib_open_wim(wim, 0, &c->wim);
	if (rc) {
		free(c);
		return icfail(err, errlen, "%s: %s", wim, wimlib_get_error_string(rc));
	}
	c->path = strdup(wim);
	c->tmp = offtest_tmpdir();
	*out = c;
	return 0;
}

void ic_close(struct ic *c)
{
	if (!c)
		return;
	wimlib_free(c->wim);
	if (c->tmp)
		offtest_rmtree(c->tmp);
	free(c->tmp);
	free(c->path);
	free(c);
}

int ic_image_count(const struct ic *c)
{
	struct wimlib_wim_info info;

	wimlib_get_wim_info(c->wim, &info);
	return (int)info.image_count;
}

static int stat_cb(const struct wimlib_dir_entry *de, void *ctx)
{
	struct ic_stat *st = ctx;

	st->exists = 1;
	st->attributes = de->attributes;
	st->is_dir = (de->attributes & WIMLIB_FILE_ATTRIBUTE_DIRECTORY) != 0;
	st->link_group = de->hard_link_group_id;
	st->nlinks = de->num_links;
	st->size = de->streams[0].resource.uncompressed_size;
	if (de->security_descriptor && de->security_descriptor_size) {
		st->sd = malloc(de->security_descriptor_size);
		if (st->sd) {
			memcpy(st->sd, de->security_descriptor, de->security_descriptor_size);
			st->sd_len = de->security_descriptor_size;
		}
	}
	return 0;
}

int ic_stat(struct ic *c, int index, const char *path, struct ic_stat *st, char *err,
            size_t errlen)
{
	int rc;

	memset(st, 0, sizeof(*st));
	rc = wimlib_iterate_dir_tree(c->wim, index, path, 0, stat_cb, st);
	if (rc == WIMLIB_ERR_PATH_DOES_NOT_EXIST)
		return 0;
	if (rc)
		return icfail(err, errlen, "%s image %d: %s: %s", c->path, index, path,
		            wimlib_get_error_string(rc));
	return 0;
}

void ic_stat_clear(struct ic_stat *st)
{
	free(st->sd);
	memset(st, 0, sizeof(*st));
}

/* Extract @p path into a fresh folder under the scratch folder; its local path (malloc'd). */
static char *extract(struct ic *c, int index, const char *path, const char *sub, char *err,
                     size_t errlen)
{
	const char *base = strrchr(path, '/');
	char *dir = offtest_strdup_printf("%s/%s", c->tmp, sub);
	const char *paths[1] = {path};
	char *local;
	int rc;

	if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
		icfail(err, errlen, "%s: %s", dir, strerror(errno));
		free(dir);
		return NULL;
	}
	local = offtest_strdup_printf("%s/%s", dir, base ? base + 1 : path);
	unlink(local);
	rc = wimlib_extract_paths(c->wim, index, dir, paths, 1,
	                          WIMLIB_EXTRACT_FLAG_NO_ACLS |
	                                  WIMLIB_EXTRACT_FLAG_NO_PRESERVE_DIR_STRUCTURE);
	free(dir);
	if (rc) {
		icfail(err, errlen, "%s image %d: cannot extract %s: %s", c->path, index, path,
		     wimlib_get_error_string(rc));
		free(local);
		return NULL;
	}
	return local;
}

int ic_read(struct ic *c, int index, const char *path, uint8_t **data, size_t *len, char *err,
            size_t errlen)
{
	char *local = extract(c, index, path, "read", err, errlen);

	if (!local)
		return -1;
	*data = (uint8_t *)offtest_read_file(local, len);
	unlink(local);
	free(local);
	if (!*data)
		return icfail(err, errlen, "cannot read back %s", path);
	return 0;
}

const char *ic_hive_path(struct ic *c, int index, const char *name)
{
	static __thread char buf[4096];

	snprintf(buf, sizeof(buf), "%s/hives%d/%s", c->tmp, index, name);
	return buf;
}

hive_h *ic_hive(struct ic *c, int index, const char *name, char *err, size_t errlen)
{
	char *image_path = offtest_strdup_printf("/Windows/System32/config/%s", name);
	char *sub = offtest_strdup_printf("hives%d", index);
	char *local = NULL;
	hive_h *h = NULL;

	if (access(ic_hive_path(c, index, name), R_OK) == 0)
		local = strdup(ic_hive_path(c, index, name));
	else
		local = extract(c, index, image_path, sub, err, errlen);
	if (local) {
		h = hivex_open(local, 0);
		if (!h)
			icfail(err, errlen, "hivex cannot open %s from image %d: %s", name, index,
			     strerror(errno));
	}
	free(local);
	free(sub);
	free(image_path);
	return h;
}

hive_node_h ic_key(hive_h *h, const char *path)
{
	hive_node_h node = hivex_root(h);
	char *copy = strdup(path), *save = NULL;

	for (char *part = strtok_r(copy, "\\", &save); part && node;
	     part = strtok_r(NULL, "\\", &save))
		node = hivex_node_get_child(h, node, part);
	free(copy);
	return node;
}

int ic_value(hive_h *h, hive_node_h key, const char *name, uint32_t *type, uint8_t **data,
             size_t *len)
{
	hive_value_h v = hivex_node_get_value(h, key, name);
	hive_type t;

	if (!v)
		return -1;
	*data = (uint8_t *)hivex_value_value(h, v, &t, len);
	if (!*data)
		return -1;
	*type = (uint32_t)t;
	return 0;
}

uint8_t *ic_utf16(const char *utf8, size_t *len)
{
	size_t n = strlen(utf8);
	uint8_t *out = calloc(2 * n + 2, 1);

	for (size_t i = 0; out && i < n; i++)
		out[2 * i] = (uint8_t)utf8[i];
	*len = 2 * n + 2;
	return out;
}

/* ---- manifests ---- */

static char *attr(xmlNodePtr n, const char *name)
{
	xmlChar *v = xmlGetProp(n, (const xmlChar *)name);
	char *s = v ? strdup((const char *)v) : NULL;

	xmlFree(v);
	return s;
}

static xmlXPathObjectPtr xpath(xmlDocPtr doc, xmlNodePtr ctx, const char *expr)
{
	xmlXPathContextPtr x = xmlXPathNewContext(doc);
	xmlXPathObjectPtr r;

	if (!x)
		return NULL;
	if (ctx)
		x->node = ctx;
	r = xmlXPathEvalExpression((const xmlChar *)expr, x);
	xmlXPathFreeContext(x);
	return r;
}

static size_t nodes(xmlXPathObjectPtr o)
{
	return o && o->nodesetval ? (size_t)o->nodesetval->nodeNr : 0;
}

static xmlDocPtr read_xml(const char *path)
{
	size_t len;
	char *data = offtest_read_file(path, &len);
	xmlDocPtr doc;

	if (!data)
		return NULL;
	doc = xmlReadMemory(data, (int)len, path, NULL, XML_PARSE_NONET);
	free(data);
	return doc;
}

/* "$(runtime.system32)\\" and "$(runtime.windows)\\servicing\\" as the fixture uses them. */
static char *resolve_dest(const char *dest)
{
	static const struct {
		const char *var, *rel;
	} vars[] = {{"$(runtime.system32)", "Windows/System32"},
	            {"$(runtime.windows)", "Windows"},
	            {"$(runtime.programdata)", "ProgramData"}};

	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
		size_t n = strlen(vars[i].var);
		if (strncasecmp(dest, vars[i].var, n) == 0) {
			char *out = offtest_strdup_printf("%s%s", vars[i].rel, dest + n);
			size_t l;

			for (char *p = out; *p; p++)
				if (*p == '\\')
					*p = '/';
			l = strlen(out);
			while (l > 0 && out[l - 1] == '/')
				out[--l] = '\0';
			return out;
		}
	}
	return NULL;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static int reg_convert(struct ic_regvalue *v, const char *type, const char *value)
{
	if (!strcmp(type, "REG_SZ") || !strcmp(type, "REG_EXPAND_SZ")) {
		v->type = !strcmp(type, "REG_SZ") ? 1 : 2;
		v->data = ic_utf16(value, &v->len);
	} else if (!strcmp(type, "REG_DWORD")) {
		unsigned long x = strtoul(value, NULL, 0);
		v->type = 4;
		v->len = 4;
		v->data = malloc(4);
		for (int i = 0; i < 4; i++)
			v->data[i] = (uint8_t)(x >> (8 * i));
	} else if (!strcmp(type, "REG_QWORD")) {
		unsigned long long x = strtoull(value, NULL, 0);
		v->type = 11;
		v->len = 8;
		v->data = malloc(8);
		for (int i = 0; i < 8; i++)
			v->data[i] = (uint8_t)(x >> (8 * i));
	} else if (!strcmp(type, "REG_MULTI_SZ")) {
		/* "first","second" */
		size_t cap = 2 * strlen(value) + 4, n = 0;
		const char *p = value;

		v->type = 7;
		v->data = calloc(cap, 1);
		while ((p = strchr(p, '"')) != NULL) {
			const char *e = strchr(p + 1, '"');
			if (!e)
				return -1;
			for (const char *q = p + 1; q < e; q++) {
				v->data[n] = (uint8_t)*q;
				n += 2;
			}
			n += 2;
			p = e + 1;
		}
		v->len = n + 2;
	} else if (!strcmp(type, "REG_BINARY")) {
		size_t l = strlen(value);
		v->type = 3;
		v->data = malloc(l / 2 + 1);
		v->len = l / 2;
		for (size_t i = 0; i < l / 2; i++) {
			int a = hexval(value[2 * i]), b = hexval(value[2 * i + 1]);
			if (a < 0 || b < 0)
				return -1;
			v->data[i] = (uint8_t)(a * 16 + b);
		}
	} else {
		return -1;
	}
	return v->data ? 0 : -1;
}

static int load_component(const char *path, const char *key_form, struct ic_component *c,
                          char *err, size_t errlen)
{
	xmlDocPtr doc = read_xml(path);
	xmlXPathObjectPtr files, keys;
	int rc = 0;

	memset(c, 0, sizeof(*c));
	c->key_form = strdup(key_form);
	c->manifest = strdup(path);
	if (!doc)
		return icfail(err, errlen, "%s: not XML", path);
	files = xpath(doc, NULL, "/*[local-name()='assembly']/*[local-name()='file']");
	c->files = calloc(nodes(files) + 1, sizeof(*c->files));
	for (size_t i = 0; i < nodes(files); i++) {
		xmlNodePtr f = files->nodesetval->nodeTab[i];
		struct ic_mfile *mf = &c->files[c->n_files++];
		char *dest = attr(f, "destinationPath");
		xmlXPathObjectPtr o;

		mf->name = attr(f, "name");
		mf->dest = dest && *dest ? resolve_dest(dest) : NULL;
		if (dest && *dest && !mf->dest)
			rc = icfail(err, errlen, "%s: destination %s is not one the checker knows", path,
			          dest);
		free(dest);
		o = xpath(doc, f, ".//*[local-name()='DigestValue']");
		if (nodes(o)) {
			xmlChar *t = xmlNodeGetContent(o->nodesetval->nodeTab[0]);
			uint8_t raw[64];
			size_t rl = 0;

			if (t && offserv_base64_decode((const char *)t, raw, sizeof(raw), &rl) == OFFSERV_OK &&
			    rl == 32) {
				memcpy(mf->sha256, raw, 32);
				mf->have_sha256 = 1;
			}
			xmlFree(t);
		}
		xmlXPathFreeObject(o);
		o = xpath(doc, f, "./*[local-name()='securityDescriptor']");
		if (nodes(o)) {
			char *sdname = attr(o->nodesetval->nodeTab[0], "name");
			char *expr = offtest_strdup_printf(
				"//*[local-name()='securityDescriptorDefinition'][@name='%s']",
				sdname ? sdname : "");
			xmlXPathObjectPtr d = xpath(doc, NULL, expr);

			if (nodes(d))
				mf->sddl = attr(d->nodesetval->nodeTab[0], "sddl");
			xmlXPathFreeObject(d);
			free(expr);
			free(sdname);
		}
		xmlXPathFreeObject(o);
	}
	xmlXPathFreeObject(files);
	keys = xpath(doc, NULL, "//*[local-name()='registryKey']");
	for (size_t i = 0; i < nodes(keys); i++) {
		xmlNodePtr k = keys->nodesetval->nodeTab[i];
		char *kn = attr(k, "keyName");
		xmlXPathObjectPtr vals = xpath(doc, k, "./*[local-name()='registryValue']");
		const char *rest = NULL, *hive = NULL;

		if (kn && !strncasecmp(kn, "HKEY_LOCAL_MACHINE\\SOFTWARE\\", 28)) {
			hive = "SOFTWARE";
			rest = kn + 28;
		} else if (kn && !strncasecmp(kn, "HKEY_LOCAL_MACHINE\\SYSTEM\\", 26)) {
			hive = "SYSTEM";
			rest = kn + 26;
		} else {
			rc = icfail(err, errlen, "%s: registry key %s is under a root the checker does not know",
			          path, kn ? kn : "(none)");
		}
		c->values = realloc(c->values, (c->n_values + nodes(vals) + 1) * sizeof(*c->values));
		for (size_t j = 0; hive && j < nodes(vals); j++) {
			xmlNodePtr v = vals->nodesetval->nodeTab[j];
			struct ic_regvalue *rv = &c->values[c->n_values++];
			char *type = attr(v, "valueType"), *value = attr(v, "value");

			memset(rv, 0, sizeof(*rv));
			rv->hive = strdup(hive);
			rv->key = strdup(rest);
			rv->name = attr(v, "name");
			if (!type || !value || reg_convert(rv, type, value) != 0)
				rc = icfail(err, errlen, "%s: value %s of %s cannot be read", path,
				          rv->name ? rv->name : "", kn);
			free(type);
			free(value);
		}
		xmlXPathFreeObject(vals);
		free(kn);
	}
	xmlXPathFreeObject(keys);
	xmlFreeDoc(doc);
	return rc;
}

int ic_package_load(const char *dir, struct ic_package *p, char *err, size_t errlen)
{
	char *mum = offtest_strdup_printf("%s/update.mum", dir);
	xmlDocPtr doc = read_xml(mum);
	xmlXPathObjectPtr id;
	DIR *d;
	struct dirent *e;
	int rc = 0;

	memset(p, 0, sizeof(*p));
	free(mum);
	if (!doc)
		return icfail(err, errlen, "%s: no readable update.mum", dir);
	id = xpath(doc, NULL, "/*[local-name()='assembly']/*[local-name()='assemblyIdentity']");
	if (nodes(id)) {
		xmlNodePtr n = id->nodesetval->nodeTab[0];
		char *arch = attr(n, "processorArchitecture"), *tok = attr(n, "publicKeyToken");
		char *lang = attr(n, "language");

		p->name = attr(n, "name");
		p->version = attr(n, "version");
		p->identity = offtest_strdup_printf("%s~%s~%s~%s~%s", p->name, tok, arch,
		                                    lang && strcmp(lang, "neutral") ? lang : "",
		                                    p->version);
		free(arch);
		free(tok);
		free(lang);
	}
	xmlXPathFreeObject(id);
	xmlFreeDoc(doc);
	if (!p->identity)
		return icfail(err, errlen, "%s: update.mum has no identity", dir);
	d = opendir(dir);
	if (!d)
		return icfail(err, errlen, "%s: %s", dir, strerror(errno));
	while ((e = readdir(d)) != NULL) {
		size_t n = strlen(e->d_name);
		char *kf, *path;

		if (n <= 9 || strcmp(e->d_name + n - 9, ".manifest") != 0)
			continue;
		kf = strndup(e->d_name, n - 9);
		path = offtest_strdup_printf("%s/%s", dir, e->d_name);
		p->comps = realloc(p->comps, (p->n_comps + 1) * sizeof(*p->comps));
		if (load_component(path, kf, &p->comps[p->n_comps++], err, errlen) != 0)
			rc = -1;
		free(kf);
		free(path);
	}
	closedir(d);
	if (!rc && p->n_comps == 0)
		rc = icfail(err, errlen, "%s: no component manifests", dir);
	return rc;
}

void ic_package_clear(struct ic_package *p)
{
	for (size_t i = 0; i < p->n_comps; i++) {
		struct ic_component *c = &p->comps[i];

		for (size_t j = 0; j < c->n_files; j++) {
			free(c->files[j].name);
			free(c->files[j].dest);
			free(c->files[j].sddl);
		}
		free(c->files);
		for (size_t j = 0; j < c->n_values; j++) {
			free(c->values[j].hive);
			free(c->values[j].key);
			free(c->values[j].name);
			free(c->values[j].data);
		}
		free(c->values);
		free(c->key_form);
		free(c->manifest);
	}
	free(p->comps);
	free(p->identity);
	free(p->name);
	free(p->version);
	memset(p, 0, sizeof(*p));
}

char *ic_package_identity(const char *dir)
{
	struct ic_package p;
	char err[512], *id;

	ck_assert_msg(ic_package_load(dir, &p, err, sizeof(err)) == 0, "%s", err);
	id = strdup(p.identity);
	ic_package_clear(&p);
	return id;
}

/* ---- the check ---- */

static int same_bytes_as_file(struct ic *c, int index, const char *image_path,
                              const char *local, char *err, size_t errlen)
{
	uint8_t *a = NULL;
	char *b;
	size_t al = 0, bl = 0;
	int rc;

	if (ic_read(c, index, image_path, &a, &al, err, errlen) != 0)
		return -1;
	b = offtest_read_file(local, &bl);
	rc = b && al == bl && memcmp(a, b, al) == 0 ? 0
	     : icfail(err, errlen, "image %d: %s differs from %s", index, image_path, local);
	free(a);
	free(b);
	return rc;
}

static int check_value(hive_h *h, hive_node_h k, const char *what, const char *name,
                       uint32_t type, const void *data, size_t len, char *err, size_t errlen)
{
	uint32_t t = 0;
	uint8_t *d = NULL;
	size_t l = 0;
	int rc;

	if (ic_value(h, k, name, &t, &d, &l) != 0)
		return icfail(err, errlen, "%s: no value %s", what, name);
	rc = t == type && l == len && (len == 0 || memcmp(d, data, len) == 0)
	             ? 0
	             : icfail(err, errlen, "%s: value %s is type %u, %zu bytes; expected type %u, %zu bytes",
	                    what, name, t, l, type, len);
	free(d);
	return rc;
}

static int check_dword(hive_h *h, hive_node_h k, const char *what, const char *name,
                       uint32_t expect, char *err, size_t errlen)
{
	uint8_t b[4] = {(uint8_t)expect, (uint8_t)(expect >> 8), (uint8_t)(expect >> 16),
	                (uint8_t)(expect >> 24)};

	return check_value(h, k, what, name, 4, b, 4, err, errlen);
}

static int check_sz(hive_h *h, hive_node_h k, const char *what, const char *name,
                    const char *expect, char *err, size_t errlen)
{
	size_t l;
	uint8_t *u = ic_utf16(expect, &l);
	int rc = check_value(h, k, what, name, 1, u, l, err, errlen);

	free(u);
	return rc;
}

static uint32_t get_dword(hive_h *h, hive_node_h k, const char *name)
{
	uint32_t t, v = 0;
	uint8_t *d = NULL;
	size_t l;

	if (ic_value(h, k, name, &t, &d, &l) == 0 && t == 4 && l == 4)
		v = (uint32_t)d[0] | (uint32_t)d[1] << 8 | (uint32_t)d[2] << 16 | (uint32_t)d[3] << 24;
	free(d);
	return v;
}

static int check_file(struct ic *after, struct ic *before, int index,
                      const struct ic_component *c, const struct ic_mfile *f, hive_h *co,
                      hive_node_h ck, char *err, size_t errlen)
{
	char *store = offtest_strdup_printf("/Windows/WinSxS/%s/%s", c->key_form, f->name);
	char *dest = f->dest ? offtest_strdup_printf("/%s/%s", f->dest, f->name) : NULL;
	struct ic_stat ss, ds, old;
	uint8_t *data = NULL, digest[32];
	size_t len = 0;
	char *fv = offtest_strdup_printf("f!%s", f->name);
	int rc = -1;

	memset(&ss, 0, sizeof(ss));
	memset(&ds, 0, sizeof(ds));
	memset(&old, 0, sizeof(old));
	if (!f->have_sha256) {
		icfail(err, errlen, "%s: file %s has no SHA-256 in its manifest", c->manifest, f->name);
		goto out;
	}
	if (ic_stat(after, index, store, &ss, err, errlen) != 0)
		goto out;
	if (!ss.exists) {
		icfail(err, errlen, "image %d: %s is missing", index, store);
		goto out;
	}
	if (ic_read(after, index, store, &data, &len, err, errlen) != 0)
		goto out;
	offserv_sha256(data, len, digest);
	if (memcmp(digest, f->sha256, 32) != 0) {
		icfail(err, errlen, "image %d: %s does not have the manifest's SHA-256", index, store);
		goto out;
	}
	if (check_value(co, ck, c->key_form, fv, 3, f->sha256, 32, err, errlen) != 0)
		goto out;
	if (dest) {
		int new_file;
		if (ic_stat(after, index, dest, &ds, err, errlen) != 0 ||
		    ic_stat(before, index, dest, &old, err, errlen) != 0)
			goto out;
		if (!ds.exists) {
			icfail(err, errlen, "image %d: projection %s is missing", index, dest);
			goto out;
		}
		if (ds.link_group == 0 || ds.link_group != ss.link_group || ds.nlinks < 2 ||
		    ss.nlinks < 2) {
			icfail(err, errlen,
			     "image %d: %s (group %llu, %u links) is not hard-linked to %s (group %llu, %u links)",
			     index, dest, (unsigned long long)ds.link_group, ds.nlinks, store,
			     (unsigned long long)ss.link_group, ss.nlinks);
			goto out;
		}
		new_file = !old.exists;
		if (new_file) {
			uint8_t *sd = NULL;
			size_t sdl = 0;
			char e2[256];

			if (!f->sddl) {
				icfail(err, errlen, "%s: file %s names no defined descriptor", c->manifest, f->name);
				goto out;
			}
			if (offserv_sddl_to_sd(f->sddl, &sd, &sdl, e2, sizeof(e2)) != OFFSERV_OK) {
				icfail(err, errlen, "%s: SDDL of %s: %s", c->manifest, f->name, e2);
				goto out;
			}
			if (!ds.sd || ds.sd_len != sdl || memcmp(ds.sd, sd, sdl) != 0) {
				free(sd);
				icfail(err, errlen, "image %d: new file %s does not carry the manifest's descriptor (%zu bytes vs %zu)",
				     index, dest, ds.sd_len, sdl);
				goto out;
			}
			free(sd);
			if (!(ds.attributes & 0x20)) {
				icfail(err, errlen, "image %d: new file %s has attributes 0x%x, no ARCHIVE", index,
				     dest, ds.attributes);
				goto out;
			}
		} else {
			if (!old.sd || !ds.sd || ds.sd_len != old.sd_len ||
			    memcmp(ds.sd, old.sd, old.sd_len) != 0) {
				icfail(err, errlen, "image %d: replaced file %s lost its descriptor", index, dest);
				goto out;
			}
			if (ds.attributes != old.attributes) {
				icfail(err, errlen, "image %d: replaced file %s has attributes 0x%x, had 0x%x",
				     index, dest, ds.attributes, old.attributes);
				goto out;
			}
		}
	}
	rc = 0;
out:
	ic_stat_clear(&ss);
	ic_stat_clear(&ds);
	ic_stat_clear(&old);
	free(data);
	free(store);
	free(dest);
	free(fv);
	return rc;
}

static int check_values(struct ic *after, int index, const struct ic_component *c, hive_h *sw,
                        hive_h *sys, char *err, size_t errlen)
{
	for (size_t i = 0; i < c->n_values; i++) {
		const struct ic_regvalue *v = &c->values[i];
		hive_h *h = strcmp(v->hive, "SYSTEM") == 0 ? sys : sw;
		char *key;
		hive_node_h k;
		int rc;

		if (!h)
			return icfail(err, errlen, "image %d has no %s hive", index, v->hive);
		if (h == sys && !strncasecmp(v->key, "CurrentControlSet\\", 18)) {
			uint32_t cur = get_dword(sys, ic_key(sys, "Select"), "Current");
			if (cur == 0)
				return icfail(err, errlen, "image %d: SYSTEM has no Select\\Current", index);
			key = offtest_strdup_printf("ControlSet%03u\\%s", cur, v->key + 18);
		} else {
			key = strdup(v->key);
		}
		k = ic_key(h, key);
		if (!k) {
			rc = icfail(err, errlen, "image %d: %s\\%s is missing", index, v->hive, key);
		} else {
			char *what = offtest_strdup_printf("image %d %s\\%s", index, v->hive, key);
			rc = check_value(h, k, what, v->name, v->type, v->data, v->len, err, errlen);
			free(what);
		}
		free(key);
		if (rc)
			return rc;
	}
	(void)after;
	return 0;
}

int ic_check_package(struct ic *after, struct ic *before, int index,
                     const struct ic_package *p, uint32_t state, uint64_t t0, uint64_t t1,
                     char *err, size_t errlen)
{
	hive_h *sw = ic_hive(after, index, "SOFTWARE", err, errlen);
	hive_h *co = sw ? ic_hive(after, index, "COMPONENTS", err, errlen) : NULL;
	hive_h *sys = co ? ic_hive(after, index, "SYSTEM", err, errlen) : NULL;
	char *path = NULL, *what = NULL;
	hive_node_h k;
	int rc = -1;

	if (!sw || !co || !sys)
		goto out;
	/* Package files and registration. */
	path = offtest_strdup_printf("/Windows/servicing/Packages/%s.mum", p->identity);
	{
		char *dir = NULL, *mum;
		for (size_t i = 0; i < p->n_comps && !dir; i++) {
			dir = strdup(p->comps[i].manifest);
			*strrchr(dir, '/') = '\0';
		}
		mum = offtest_strdup_printf("%s/update.mum", dir);
		rc = same_bytes_as_file(after, index, path, mum, err, errlen);
		free(mum);
		free(dir);
		if (rc)
			goto out;
		rc = -1;
	}
	free(path);
	path = offtest_strdup_printf(CBS_PACKAGES "\\%s", p->identity);
	what = offtest_strdup_printf("image %d SOFTWARE\\...\\Packages\\%s", index, p->identity);
	k = ic_key(sw, path);
	if (!k) {
		icfail(err, errlen, "%s is missing", what);
		goto out;
	}
	{
		char *iname = offtest_strdup_printf("%s.mum", p->identity);
		uint64_t ft = (uint64_t)get_dword(sw, k, "InstallTimeHigh") << 32 |
		              get_dword(sw, k, "InstallTimeLow");
		hive_node_h owners = hivex_node_get_child(sw, k, "Owners");
		uint32_t t;
		uint8_t *d = NULL;
		size_t l;

		rc = check_dword(sw, k, what, "CurrentState", state, err, errlen);
		if (!rc)
			rc = check_sz(sw, k, what, "InstallClient", "DISM Package Manager Provider", err,
			              errlen);
		if (!rc)
			rc = check_sz(sw, k, what, "InstallName", iname, err, errlen);
		if (!rc)
			rc = check_dword(sw, k, what, "Visibility", 1, err, errlen);
		if (!rc && (ft < t0 || ft > t1))
			rc = icfail(err, errlen, "%s: InstallTime %llu is outside the run (%llu..%llu)", what,
			          (unsigned long long)ft, (unsigned long long)t0, (unsigned long long)t1);
		if (!rc && (ic_value(sw, k, "InstallUser", &t, &d, &l) != 0 || t != 1 || l < 8 ||
		            d[0] != 'S' || d[2] != '-'))
			rc = icfail(err, errlen, "%s: InstallUser is not a SID string", what);
		free(d);
		d = NULL;
		if (!rc && (!owners || ic_value(sw, owners, p->identity, &t, &d, &l) != 0))
			rc = icfail(err, errlen, "%s: Owners\\%s is missing", what, p->identity);
		free(d);
		free(iname);
		if (rc)
			goto out;
		rc = -1;
	}
	/* Components. */
	for (size_t i = 0; i < p->n_comps; i++) {
		const struct ic_component *c = &p->comps[i];
		char *man = offtest_strdup_printf("/Windows/WinSxS/Manifests/%s.manifest", c->key_form);
		char *ckey = offtest_strdup_printf("DerivedData\\Components\\%s", c->key_form);
		hive_node_h ck = ic_key(co, ckey);
		int r2 = same_bytes_as_file(after, index, man, c->manifest, err, errlen);

		if (!r2 && !ck)
			r2 = icfail(err, errlen, "image %d: COMPONENTS\\%s is missing", index, ckey);
		if (!r2) {
			size_t ml;
			char *mdata = offtest_read_file(c->manifest, &ml);
			uint8_t sha[32];

			offserv_sha256(mdata, ml, sha);
			free(mdata);
			r2 = check_value(co, ck, ckey, "S256H", 3, sha, 32, err, errlen);
		}
		for (size_t j = 0; !r2 && j < c->n_files; j++)
			r2 = check_file(after, before, index, c, &c->files[j], co, ck, err, errlen);
		if (!r2)
			r2 = check_values(after, index, c, sw, sys, err, errlen);
		free(man);
		free(ckey);
		if (r2)
			goto out;
	}
	rc = 0;
out:
	if (sw)
		hivex_close(sw);
	if (co)
		hivex_close(co);
	if (sys)
		hivex_close(sys);
	free(path);
	free(what);
	return rc;
}

int64_t ic_package_state(struct ic *c, int index, const char *identity)
{
	char err[256];
	hive_h *sw = ic_hive(c, index, "SOFTWARE", err, sizeof(err));
	char *path = offtest_strdup_printf(CBS_PACKAGES "\\%s", identity);
	hive_node_h k;
	int64_t st = -1;

	if (sw) {
		k = ic_key(sw, path);
		if (k && hivex_node_get_value(sw, k, "CurrentState"))
			st = get_dword(sw, k, "CurrentState");
		hivex_close(sw);
	}
	free(path);
	return st;
}

static int run_quiet(char *const argv[])
{
	pid_t pid = fork();
	int status;

	if (pid < 0)
		return -1;
	if (pid == 0) {
		int fd = open("/dev/null", O_RDWR);
		if (fd >= 0) {
			dup2(fd, 0);
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execvp(argv[0], argv);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int ic_wimlib_verify(const char *wim)
{
	char *const argv[] = {(char *)"wimlib-imagex", (char *)"verify", (char *)wim, NULL};
	int rc = run_quiet(argv);

	return rc == 127 ? 1 : rc == 0 ? 0 : -1;
}

int ic_hivexsh_opens(const char *hive)
{
	/* hivexsh reads commands from stdin (here /dev/null): it must load the hive first. */
	char *const argv[] = {(char *)"hivexsh", (char *)hive, NULL};
	int rc = run_quiet(argv);

	return rc == 127 ? 1 : rc == 0 ? 0 : -1;
}

/* ---------------------------------------------------------------------- */
/* Whole-image comparison                                                  */

struct tree_entry {
	char *path; /* lower case */
	int is_dir;
	uint32_t attributes;
	uint8_t sha1[20];
	uint8_t *sd;
	size_t sd_len;
	uint64_t group;
	uint32_t nlinks;
	const char *group_first; /* the first path (sorted) of its hard-link group */
};

struct tree {
	struct tree_entry *e;
	size_t n, cap;
	const char *const *skip;
};

static int tree_cb(const struct wimlib_dir_entry *de, void *ctx)
{
	struct tree *t = ctx;
	struct tree_entry *x;
	char *p;

	if (!de->full_path)
		return 0;
	p = strdup(de->full_path);
	if (!p)
		return -1;
	for (char *q = p; *q; q++)
		*q = (char)tolower((unsigned char)*q);
	for (size_t i = 0; t->skip && t->skip[i]; i++) {
		size_t n = strlen(t->skip[i]);
		if (strncmp(p, t->skip[i], n) == 0 && (p[n] == '\0' || p[n] == '/')) {
			free(p);
			return 0;
		}
	}
	if (t->n == t->cap) {
		size_t nc = t->cap ? t->cap * 2 : 256;
		struct tree_entry *ne = realloc(t->e, nc * sizeof(*ne));
		if (!ne) {
			free(p);
			return -1;
		}
		t->e = ne;
		t->cap = nc;
	}
	x = &t->e[t->n++];
	memset(x, 0, sizeof(*x));
	x->path = p;
	x->is_dir = (de->attributes & WIMLIB_FILE_ATTRIBUTE_DIRECTORY) != 0;
	x->attributes = de->attributes;
	memcpy(x->sha1, de->streams[0].resource.sha1_hash, 20);
	x->group = de->num_links > 1 ? de->hard_link_group_id : 0;
	x->nlinks = de->num_links;
	if (de->security_descriptor && de->security_descriptor_size) {
		x->sd = malloc(de->security_descriptor_size);
		if (x->sd) {
			memcpy(x->sd, de->security_descriptor, de->security_descriptor_size);
			x->sd_len = de->security_descriptor_size;
		}
	}
	return 0;
}

static int entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct tree_entry *)a)->path, ((const struct tree_entry *)b)->path);
}

static void tree_free(struct tree *t)
{
	for (size_t i = 0; i < t->n; i++) {
		free(t->e[i].path);
		free(t->e[i].sd);
	}
	free(t->e);
	memset(t, 0, sizeof(*t));
}

static int tree_load(struct ic *c, int index, const char *const *skip, struct tree *t,
                     char *err, size_t errlen)
{
	int rc;

	memset(t, 0, sizeof(*t));
	t->skip = skip;
	rc = wimlib_iterate_dir_tree(c->wim, index, "/", WIMLIB_ITERATE_DIR_TREE_FLAG_RECURSIVE,
	                             tree_cb, t);
	if (rc)
		return icfail(err, errlen, "%s image %d: %s", c->path, index,
		              wimlib_get_error_string(rc));
	qsort(t->e, t->n, sizeof(*t->e), entry_cmp);
	/* Sorted, the first member of each group names the group. */
	for (size_t i = 0; i < t->n; i++) {
		t->e[i].group_first = t->e[i].path;
		if (!t->e[i].group)
			continue;
		for (size_t j = 0; j < i; j++)
			if (t->e[j].group == t->e[i].group) {
				t->e[i].group_first = t->e[j].group_first;
				break;
			}
	}
	return 0;
}

int ic_tree_compare(struct ic *a, int ia, struct ic *b, int ib, const char *const *skip,
                    char *err, size_t errlen)
{
	struct tree ta, tb;
	int rc = 0;

	if (tree_load(a, ia, skip, &ta, err, errlen) != 0)
		return -1;
	if (tree_load(b, ib, skip, &tb, err, errlen) != 0) {
		tree_free(&ta);
		return -1;
	}
	for (size_t i = 0, j = 0; (i < ta.n || j < tb.n) && rc == 0;) {
		const struct tree_entry *x = i < ta.n ? &ta.e[i] : NULL, *y = j < tb.n ? &tb.e[j] : NULL;
		int c = !x ? 1 : !y ? -1 : strcmp(x->path, y->path);

		if (c < 0) {
			rc = icfail(err, errlen, "%s is only in %s", x->path, a->path);
		} else if (c > 0) {
			rc = icfail(err, errlen, "%s is only in %s", y->path, b->path);
		} else {
			if (x->is_dir != y->is_dir)
				rc = icfail(err, errlen, "%s: a folder in one image only", x->path);
			else if (!x->is_dir && memcmp(x->sha1, y->sha1, 20) != 0)
				rc = icfail(err, errlen, "%s: the contents differ", x->path);
			else if (x->sd_len != y->sd_len ||
			         (x->sd_len && memcmp(x->sd, y->sd, x->sd_len) != 0))
				rc = icfail(err, errlen, "%s: the security descriptors differ", x->path);
			else if (!x->is_dir && x->attributes != y->attributes)
				rc = icfail(err, errlen, "%s: attributes 0x%x and 0x%x", x->path,
				            x->attributes, y->attributes);
			else if (!x->is_dir && (x->nlinks != y->nlinks ||
			                        strcmp(x->group_first, y->group_first) != 0))
				rc = icfail(err, errlen, "%s: hard links differ (%u links with %s, %u links with %s)",
				            x->path, x->nlinks, x->group_first, y->nlinks, y->group_first);
			i++;
			j++;
		}
	}
	tree_free(&ta);
	tree_free(&tb);
	return rc;
}

int ic_subkeys_equal(hive_h *a, hive_h *b, const char *path, char *err, size_t errlen)
{
	hive_node_h ka = ic_key(a, path), kb = ic_key(b, path);
	hive_node_h *ca, *cb;
	size_t na = 0, nb = 0;
	int rc = 0;

	if (!ka && !kb)
		return 0;
	if (!ka || !kb)
		return icfail(err, errlen, "key %s is in one hive only", path);
	ca = hivex_node_children(a, ka);
	cb = hivex_node_children(b, kb);
	while (ca && ca[na])
		na++;
	while (cb && cb[nb])
		nb++;
	if (na != nb)
		rc = icfail(err, errlen, "key %s has %zu subkeys in one hive, %zu in the other", path,
		            na, nb);
	for (size_t i = 0; rc == 0 && i < na; i++) {
		char *name = hivex_node_name(a, ca[i]);
		int found = 0;

		for (size_t j = 0; name && j < nb && !found; j++) {
			char *n2 = hivex_node_name(b, cb[j]);
			found = n2 && strcasecmp(name, n2) == 0;
			free(n2);
		}
		if (!found)
			rc = icfail(err, errlen, "key %s\\%s is in one hive only", path, name ? name : "?");
		free(name);
	}
	free(ca);
	free(cb);
	return rc;
}
