/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The plugin loader: scan, dlopen, check the ABI, route configuration. */
#include <config.h>

#include <dirent.h>
#include <dlfcn.h>
#include <link.h>
#include <stddef.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <offserv/plugins.h>

uint32_t offserv_plugin_abi_minor(const struct offserv_plugin *desc)
{
	size_t need = offsetof(struct offserv_plugin, abi_minor) + sizeof(desc->abi_minor);
	ElfW(Sym) *sym = NULL;
	Dl_info di;

	if (!desc)
		return 0;
	/* The size the plugin's compiler gave its descriptor, from the ELF
	 * symbol table: a descriptor built before ABI 1.1 ends before abi_minor. */
	if (!dladdr1(desc, &di, (void **)&sym, RTLD_DL_SYMENT) || !sym ||
	    di.dli_saddr != (const void *)desc || sym->st_size < need)
		return 0;
	return desc->abi_minor ? desc->abi_minor : 1;
}

struct loaded {
	struct offserv_loaded_plugin pub;
	void *dl;
};

struct offserv_plugins {
	struct loaded *loaded;
	size_t n_loaded;
	struct offserv_refused_plugin *refused;
	size_t n_refused;
	const struct offserv_host *host;
};

static void host_log(const struct offserv_host *host, enum offserv_loglevel level,
                     const char *fmt, ...) OFFSERV_PRINTF(3, 4);

static void host_log(const struct offserv_host *host, enum offserv_loglevel level,
                     const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (!host || !host->log)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	host->log(host, level, "plugins", "%s", msg);
}

const char *offserv_plugin_kind_name(enum offserv_plugin_kind kind)
{
	switch (kind) {
	case OFFSERV_PLUGIN_IMAGE_TYPE:
		return "image type";
	case OFFSERV_PLUGIN_UPDATE_FORMAT:
		return "update format";
	case OFFSERV_PLUGIN_POST_ACTION:
		return "post-action";
	}
	return "unknown";
}

static offserv_status add_refused(struct offserv_plugins *p, const char *file,
                                  offserv_status status, const char *fmt, ...)
	OFFSERV_PRINTF(4, 5);

static offserv_status add_refused(struct offserv_plugins *p, const char *file,
                                  offserv_status status, const char *fmt, ...)
{
	struct offserv_refused_plugin *r;
	char reason[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	r = realloc(p->refused, (p->n_refused + 1) * sizeof(*r));
	if (!r)
		return OFFSERV_E_OUTOFMEMORY;
	p->refused = r;
	r = &p->refused[p->n_refused];
	r->file = strdup(file);
	r->reason = strdup(reason);
	r->status = status;
	if (!r->file || !r->reason) {
		free(r->file);
		free(r->reason);
		return OFFSERV_E_OUTOFMEMORY;
	}
	p->n_refused++;
	host_log(p->host, OFFSERV_LOG_ERROR, "Refused plugin %s: %s", file, reason);
	return OFFSERV_OK;
}

/* Group- or other-writable means anyone may replace code we run. */
static int insecure_mode(const struct stat *st)
{
	return (st->st_mode & (S_IWGRP | S_IWOTH)) != 0 ||
	       (st->st_uid != 0 && st->st_uid != geteuid());
}

static int kind_ops_present(const struct offserv_plugin *d)
{
	switch (d->kind) {
	case OFFSERV_PLUGIN_UPDATE_FORMAT:
		return d->ops.update_format && d->ops.update_format->probe &&
		       d->ops.update_format->read_info && d->ops.update_format->expand;
	case OFFSERV_PLUGIN_IMAGE_TYPE:
		return d->ops.image_type && d->ops.image_type->probe && d->ops.image_type->open;
	case OFFSERV_PLUGIN_POST_ACTION:
		return d->ops.post_action && d->ops.post_action->run;
	}
	return 0;
}

struct config_route {
	struct offserv_plugins *plugins;
	const struct offserv_plugin *desc;
	void *ctx;
	const char *file;
	offserv_status status;
	char err[512];
};

static int route_key(void *each_ctx, const char *key, const char *value)
{
	struct config_route *r = each_ctx;
	offserv_status st;

	if (!r->desc->configure) {
		host_log(r->plugins->host, OFFSERV_LOG_WARNING,
		         "Plugin %s takes no configuration; key \"%s\" in [plugin.%s] ignored",
		         r->desc->name, key, r->desc->name);
		return 0;
	}
	r->err[0] = '\0';
	st = r->desc->configure(r->ctx, key, value, r->err, sizeof(r->err));
	if (st == OFFSERV_E_NOT_FOUND) {
		host_log(r->plugins->host, OFFSERV_LOG_WARNING,
		         "Unknown key \"%s\" in [plugin.%s] ignored", key, r->desc->name);
		return 0;
	}
	if (OFFSERV_FAILED(st)) {
		r->status = st;
		if (!r->err[0])
			snprintf(r->err, sizeof(r->err), "%s", offserv_strerror(st));
		return 1;
	}
	return 0;
}

static void load_one(struct offserv_plugins *p, const struct offserv_plugins_options *o,
                     const char *file, const char *base)
{
	struct stat st;
	void *dl;
	const struct offserv_plugin *d;
	size_t namelen = strlen(base) - 3; /* without ".so" */
	void *ctx = NULL;
	struct loaded *l;

	if (stat(file, &st) != 0) {
		add_refused(p, file, offserv_status_from_errno(errno), "cannot stat: %s",
		            strerror(errno));
		return;
	}
	if (!S_ISREG(st.st_mode)) {
		add_refused(p, file, OFFSERV_E_BAD_FORMAT, "not a regular file");
		return;
	}
	if (!o->allow_insecure && insecure_mode(&st)) {
		add_refused(p, file, OFFSERV_E_ACCESS_DENIED,
		            "writable by group or others, or owned by another user (mode %04o)",
		            (unsigned)(st.st_mode & 07777));
		return;
	}
	dlerror();
	dl = dlopen(file, RTLD_NOW | RTLD_LOCAL);
	if (!dl) {
		const char *why = dlerror();
		add_refused(p, file, OFFSERV_E_MOD_NOT_FOUND,
		            "dlopen failed: %s (missing dependencies? check with ldd(1))",
		            why ? why : "unknown error");
		return;
	}
	d = dlsym(dl, OFFSERV_PLUGIN_SYMBOL);
	if (!d) {
		add_refused(p, file, OFFSERV_E_PROC_NOT_FOUND,
		            "no \"%s\" symbol: not an offserv plugin", OFFSERV_PLUGIN_SYMBOL);
		dlclose(dl);
		return;
	}
	/* The version is checked before any other field is trusted. */
	if (d->abi_version != OFFSERV_PLUGIN_ABI_VERSION) {
		add_refused(p, file, OFFSERV_E_OLD_WIN_VERSION,
		            "built for plugin ABI %u, this offserv uses ABI %u: rebuild the plugin",
		            (unsigned)d->abi_version, (unsigned)OFFSERV_PLUGIN_ABI_VERSION);
		dlclose(dl);
		return;
	}
	if (offserv_plugin_abi_minor(d) > OFFSERV_PLUGIN_ABI_MINOR) {
		add_refused(p, file, OFFSERV_E_OLD_WIN_VERSION,
		            "built for plugin ABI %u.%u, this offserv has ABI %u.%u: update offserv",
		            (unsigned)d->abi_version, (unsigned)d->abi_minor,
		            (unsigned)OFFSERV_PLUGIN_ABI_VERSION, (unsigned)OFFSERV_PLUGIN_ABI_MINOR);
		dlclose(dl);
		return;
	}
	if (!d->name || strlen(d->name) != namelen || strncmp(d->name, base, namelen) != 0) {
		add_refused(p, file, OFFSERV_E_BAD_FORMAT,
		            "descriptor name \"%s\" does not match the file name",
		            d->name ? d->name : "(null)");
		dlclose(dl);
		return;
	}
	if (!kind_ops_present(d)) {
		add_refused(p, file, OFFSERV_E_BAD_FORMAT,
		            "kind %d (%s) without the operations that kind requires", (int)d->kind,
		            offserv_plugin_kind_name(d->kind));
		dlclose(dl);
		return;
	}
	if (offserv_plugins_find(p, d->name)) {
		add_refused(p, file, OFFSERV_E_ALREADY_EXISTS,
		            "a plugin named \"%s\" is already loaded", d->name);
		dlclose(dl);
		return;
	}
	if (d->init) {
		offserv_status s = d->init(o->host, &ctx);
		if (OFFSERV_FAILED(s)) {
			add_refused(p, file, s, "init failed: 0x%08x %s", s, offserv_strerror(s));
			dlclose(dl);
			return;
		}
	}
	if (o->config_iter) {
		struct config_route r = {.plugins = p, .desc = d, .ctx = ctx, .file = file};
		o->config_iter(o->config_ctx, d->name, route_key, &r);
		if (OFFSERV_FAILED(r.status)) {
			add_refused(p, file, r.status, "bad configuration in [plugin.%s]: %s",
			            d->name, r.err);
			if (d->shutdown)
				d->shutdown(ctx);
			dlclose(dl);
			return;
		}
	}
	l = realloc(p->loaded, (p->n_loaded + 1) * sizeof(*l));
	if (!l) {
		if (d->shutdown)
			d->shutdown(ctx);
		dlclose(dl);
		add_refused(p, file, OFFSERV_E_OUTOFMEMORY, "out of memory");
		return;
	}
	p->loaded = l;
	l = &p->loaded[p->n_loaded];
	l->pub.desc = d;
	l->pub.ctx = ctx;
	l->pub.file = strdup(file);
	l->dl = dl;
	if (!l->pub.file) {
		if (d->shutdown)
			d->shutdown(ctx);
		dlclose(dl);
		return;
	}
	p->n_loaded++;
	host_log(p->host, OFFSERV_LOG_DEBUG, "Loaded plugin %s %s (%s) from %s", d->name,
	         d->version ? d->version : "", offserv_plugin_kind_name(d->kind), file);
}

static int so_filter(const struct dirent *e)
{
	size_t n = strlen(e->d_name);

	return n > 3 && e->d_name[0] != '.' && strcmp(e->d_name + n - 3, ".so") == 0;
}

offserv_status offserv_plugins_load(const struct offserv_plugins_options *opts,
                                    struct offserv_plugins **out, char *err, size_t errlen)
{
	struct offserv_plugins *p;
	struct dirent **names = NULL;
	struct stat st;
	int n;

	*out = NULL;
	if (!opts || !opts->directory) {
		snprintf(err, errlen, "no plugin directory given");
		return OFFSERV_E_INVALIDARG;
	}
	if (stat(opts->directory, &st) != 0) {
		snprintf(err, errlen, "plugin directory %s: %s", opts->directory, strerror(errno));
		return offserv_status_from_errno(errno);
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "plugin directory %s is not a directory", opts->directory);
		return OFFSERV_E_PATH_NOT_FOUND;
	}
	if (!opts->allow_insecure && insecure_mode(&st)) {
		snprintf(err, errlen,
		         "plugin directory %s is writable by group or others, or owned by another user (mode %04o): refused",
		         opts->directory, (unsigned)(st.st_mode & 07777));
		return OFFSERV_E_ACCESS_DENIED;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return OFFSERV_E_OUTOFMEMORY;
	p->host = opts->host;
	n = scandir(opts->directory, &names, so_filter, alphasort);
	if (n < 0) {
		snprintf(err, errlen, "cannot read plugin directory %s: %s", opts->directory,
		         strerror(errno));
		free(p);
		return offserv_status_from_errno(errno);
	}
	for (int i = 0; i < n; i++) {
		char *file = NULL;
		if (asprintf(&file, "%s/%s", opts->directory, names[i]->d_name) >= 0) {
			load_one(p, opts, file, names[i]->d_name);
			free(file);
		}
		free(names[i]);
	}
	free(names);
	*out = p;
	return OFFSERV_OK;
}

void offserv_plugins_unload(struct offserv_plugins *p)
{
	if (!p)
		return;
	for (size_t i = p->n_loaded; i-- > 0;) {
		struct loaded *l = &p->loaded[i];
		if (l->pub.desc->shutdown)
			l->pub.desc->shutdown(l->pub.ctx);
		free(l->pub.file);
		/* Sanitizer builds keep the code mapped so leak reports can symbolize it. */
#if !defined(__SANITIZE_ADDRESS__)
		dlclose(l->dl);
#endif
	}
	free(p->loaded);
	for (size_t i = 0; i < p->n_refused; i++) {
		free(p->refused[i].file);
		free(p->refused[i].reason);
	}
	free(p->refused);
	free(p);
}

size_t offserv_plugins_count(const struct offserv_plugins *p)
{
	return p ? p->n_loaded : 0;
}

const struct offserv_loaded_plugin *offserv_plugins_get(const struct offserv_plugins *p,
                                                        size_t i)
{
	return p && i < p->n_loaded ? &p->loaded[i].pub : NULL;
}

size_t offserv_plugins_refused_count(const struct offserv_plugins *p)
{
	return p ? p->n_refused : 0;
}

const struct offserv_refused_plugin *offserv_plugins_refused(const struct offserv_plugins *p,
                                                             size_t i)
{
	return p && i < p->n_refused ? &p->refused[i] : NULL;
}

const struct offserv_loaded_plugin *offserv_plugins_find(const struct offserv_plugins *p,
                                                         const char *name)
{
	if (!p || !name)
		return NULL;
	for (size_t i = 0; i < p->n_loaded; i++)
		if (strcmp(p->loaded[i].pub.desc->name, name) == 0)
			return &p->loaded[i].pub;
	return NULL;
}

static const struct offserv_loaded_plugin *probe_kind(const struct offserv_plugins *p,
                                                      enum offserv_plugin_kind kind,
                                                      const char *path)
{
	const struct offserv_loaded_plugin *best = NULL;
	int best_score = 0;

	if (!p)
		return NULL;
	for (size_t i = 0; i < p->n_loaded; i++) {
		const struct offserv_loaded_plugin *l = &p->loaded[i].pub;
		int score;
		if (l->desc->kind != kind)
			continue;
		if (kind == OFFSERV_PLUGIN_UPDATE_FORMAT)
			score = l->desc->ops.update_format->probe(l->ctx, path);
		else
			score = l->desc->ops.image_type->probe(l->ctx, path);
		if (score > best_score) {
			best_score = score;
			best = l;
		}
	}
	return best;
}

const struct offserv_loaded_plugin *offserv_plugins_probe_update(const struct offserv_plugins *p,
                                                                 const char *path)
{
	return probe_kind(p, OFFSERV_PLUGIN_UPDATE_FORMAT, path);
}

const struct offserv_loaded_plugin *offserv_plugins_probe_image(const struct offserv_plugins *p,
                                                                const char *path)
{
	return probe_kind(p, OFFSERV_PLUGIN_IMAGE_TYPE, path);
}
