/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Update format "cab": a CBS package cabinet (update.mum, manifests, payload). */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <offserv/cab.h>
#include <offserv/cbs.h>
#include <offserv/msu.h>
#include <offserv/plugin.h>
#include <offserv/util.h>

#include "update_format.h"

struct cab_ctx {
	uint64_t max_expanded; /* cap on a package's declared expanded size */
};

static offserv_status cab_init(const struct offserv_host *host, void **ctx)
{
	struct cab_ctx *c = calloc(1, sizeof(*c));

	(void)host;
	if (!c)
		return OFFSERV_E_OUTOFMEMORY;
	c->max_expanded = OFFSERV_CAB_DEFAULT_MAX_TOTAL;
	*ctx = c;
	return OFFSERV_OK;
}

static void cab_shutdown(void *ctx)
{
	free(ctx);
}

static offserv_status cab_configure(void *ctx, const char *key, const char *value, char *err,
                                    size_t errlen)
{
	struct cab_ctx *c = ctx;
	unsigned long long v;
	char *end;

	if (strcasecmp(key, "max_expanded_bytes") != 0)
		return OFFSERV_E_NOT_FOUND;
	errno = 0;
	v = strtoull(value, &end, 10);
	if (!c || !*value || *end || errno || v == 0 || value[0] == '-') {
		offserv_set_error(err, errlen, "max_expanded_bytes: \"%s\" is not a positive "
		                  "number of bytes", value);
		return OFFSERV_E_INVALIDARG;
	}
	c->max_expanded = v;
	return OFFSERV_OK;
}

static uint64_t max_expanded(void *ctx)
{
	return ctx ? ((struct cab_ctx *)ctx)->max_expanded : OFFSERV_CAB_DEFAULT_MAX_TOTAL;
}

/* Non-zero when the file starts with the cabinet signature. */
static int has_mscf(const char *path)
{
	return offserv_file_starts_with(path, "MSCF", 4);
}

static int cab_probe(void *ctx, const char *path)
{
	struct offserv_cab *cab = NULL;
	int update_mum = 0, any_mum = 0, toc = 0, inner_cab = 0, msu_marker = 0, score;

	(void)ctx;
	if (!has_mscf(path))
		return 0;
	if (offserv_cab_open(path, &cab, NULL, 0) != OFFSERV_OK)
		return 5;
	for (const struct offserv_cab_member *m = offserv_cab_next(cab, NULL); m;
	     m = offserv_cab_next(cab, m)) {
		const char *n = m->name ? m->name : m->raw_name;
		if (strchr(n, '/'))
			continue;
		if (!strcasecmp(n, "update.mum"))
			update_mum = 1;
		else if (upd_ends_with_ci(n, ".mum"))
			any_mum = 1;
		else if (!strcasecmp(n, "toc.xml"))
			toc = 1;
		else if (!strcasecmp(n, "wsusscan.cab") || upd_ends_with_ci(n, "pkgproperties.txt"))
			msu_marker = 1;
		else if (upd_ends_with_ci(n, ".cab"))
			inner_cab = 1;
	}
	offserv_cab_close(cab);
	if (update_mum)
		score = 90;
	else if (any_mum)
		score = 80;
	else if (toc && inner_cab && !msu_marker)
		score = 60;
	else
		score = 10;
	/* The extension only breaks ties. */
	if (upd_ends_with_ci(path, ".cab"))
		score += 3;
	return score;
}

static offserv_status fill_pkg(struct offserv_update_package *dst,
                               const struct offserv_update_package *src, const char *member)
{
	if (upd_dup_into(&dst->identity, src->identity) || upd_dup_into(&dst->name, src->name) ||
	    upd_dup_into(&dst->version, src->version) || upd_dup_into(&dst->arch, src->arch) ||
	    upd_dup_into(&dst->release_type, src->release_type) ||
	    upd_dup_into(&dst->member, member) ||
	    upd_dup_into(&dst->unsupported_reason, src->unsupported_reason))
		return OFFSERV_E_OUTOFMEMORY;
	dst->is_ssu = src->is_ssu;
	dst->supported = src->supported;
	return OFFSERV_OK;
}

static offserv_status cab_read_info(void *ctx, const char *path,
                                    struct offserv_update_info **out, char *err, size_t errlen)
{
	struct offserv_update_info *info;
	struct offserv_cab *cab = NULL;
	struct offserv_package_cab *pc = NULL;
	uint8_t digest[32];
	offserv_status s;

	(void)ctx;
	*out = NULL;
	if (!has_mscf(path)) {
		offserv_set_error(err, errlen, "%s: not a package: not a cabinet file", path);
		return OFFSERV_CBS_E_INVALID_PACKAGE;
	}
	info = calloc(1, sizeof(*info));
	if (!info)
		return OFFSERV_E_OUTOFMEMORY;
	s = offserv_sha256_file(path, digest, &info->size, err, errlen);
	if (s != OFFSERV_OK)
		goto fail;
	offserv_hex(digest, 32, info->sha256);
	s = offserv_cab_open(path, &cab, err, errlen);
	if (s != OFFSERV_OK)
		goto fail;
	s = offserv_package_cab_inspect(cab, &pc, err, errlen);
	if (s != OFFSERV_OK)
		goto fail;
	s = OFFSERV_E_OUTOFMEMORY;
	if (upd_dup_into(&info->format, "cab") || upd_dup_into(&info->kb, pc->kb))
		goto fail;
	if (pc->combined) {
		info->packages = calloc(pc->n_nested ? pc->n_nested : 1, sizeof(*info->packages));
		if (!info->packages)
			goto fail;
		for (size_t i = 0; i < pc->n_nested; i++) {
			struct offserv_update_package *p = &info->packages[info->n_packages++];
			const char *dot = strrchr(pc->nested[i], '.');
			p->name = strndup(pc->nested[i], dot ? (size_t)(dot - pc->nested[i])
			                                      : strlen(pc->nested[i]));
			if (!p->name || upd_dup_into(&p->member, pc->nested[i]) ||
			    upd_dup_into(&p->unsupported_reason, OFFSERV_REASON_COMBINED))
				goto fail;
			p->is_ssu = !strncasecmp(pc->nested[i], "SSU-", 4);
			p->supported = 0;
		}
	} else {
		const struct offserv_mum *mum = pc->mum;
		const char *title = mum->display_name;
		if (!title || !strcasecmp(title, "default"))
			title = mum->description;
		if (upd_dup_into(&info->title, title) ||
		    upd_dup_into(&info->description, mum->description) ||
		    upd_dup_into(&info->release_type, mum->release_type) ||
		    upd_dup_into(&info->arch, offserv_arch_display(mum->id.arch)) ||
		    upd_dup_into(&info->build_date, mum->creation_time) ||
		    upd_dup_into(&info->support_link, mum->support_information))
			goto fail;
		info->packages = calloc(1, sizeof(*info->packages));
		if (!info->packages)
			goto fail;
		info->n_packages = 1;
		if (fill_pkg(&info->packages[0], &pc->pkg, pc->mum_name) != OFFSERV_OK)
			goto fail;
		info->parent_identities = calloc(pc->n_parents ? pc->n_parents : 1,
		                                 sizeof(*info->parent_identities));
		if (!info->parent_identities)
			goto fail;
		for (size_t i = 0; i < pc->n_parents; i++) {
			if (upd_dup_into(&info->parent_identities[i], pc->parents[i]))
				goto fail;
			info->n_parent_identities++;
		}
		/* ABI 1.1: each <parent> with its attributes, the stack it needs. */
		if (upd_add_requirements(info, 0, mum) != OFFSERV_OK)
			goto fail;
	}
	offserv_package_cab_free(pc);
	offserv_cab_close(cab);
	*out = info;
	return OFFSERV_OK;
fail:
	if (s == OFFSERV_E_OUTOFMEMORY && err && errlen && !err[0])
		offserv_set_error(err, errlen, "%s: out of memory", path);
	offserv_package_cab_free(pc);
	offserv_cab_close(cab);
	offserv_update_info_free(info);
	return s;
}

static offserv_status cab_expand(void *ctx, const char *path, const char *destdir,
                                 struct offserv_expanded_package **pkgs, size_t *n_pkgs,
                                 char *err, size_t errlen)
{
	struct offserv_cab *cab = NULL;
	struct offserv_package_cab *pc = NULL;
	struct offserv_expanded_package *p = NULL;
	offserv_status s;

	*pkgs = NULL;
	*n_pkgs = 0;
	s = offserv_cab_open(path, &cab, err, errlen);
	if (s != OFFSERV_OK)
		return s;
	offserv_cab_set_max_total(cab, max_expanded(ctx));
	s = offserv_package_cab_inspect(cab, &pc, err, errlen);
	if (s != OFFSERV_OK)
		goto out;
	if (!pc->pkg.supported) {
		offserv_set_error(err, errlen, "%s: %s", path, pc->pkg.unsupported_reason);
		s = OFFSERV_E_NOT_SUPPORTED;
		goto out;
	}
	s = offserv_cab_extract_all(cab, destdir, err, errlen);
	if (s != OFFSERV_OK)
		goto out;
	p = calloc(1, sizeof(*p));
	if (!p || !(p->dir = strdup(destdir)) || !(p->mum_name = strdup(pc->mum_name))) {
		offserv_expanded_packages_free(p, p ? 1 : 0);
		offserv_set_error(err, errlen, "%s: out of memory", path);
		s = OFFSERV_E_OUTOFMEMORY;
		goto out;
	}
	p->is_ssu = pc->pkg.is_ssu;
	*pkgs = p;
	*n_pkgs = 1;
out:
	offserv_package_cab_free(pc);
	offserv_cab_close(cab);
	return s;
}

static const struct offserv_update_format_ops cab_ops = {
	.probe = cab_probe,
	.read_info = cab_read_info,
	.expand = cab_expand,
};

OFFSERV_PLUGIN_EXPORT const struct offserv_plugin offserv_plugin = {
	.abi_version = OFFSERV_PLUGIN_ABI_VERSION,
	.abi_minor = OFFSERV_PLUGIN_ABI_MINOR,
	.name = "cab",
	.kind = OFFSERV_PLUGIN_UPDATE_FORMAT,
	.version = PACKAGE_VERSION,
	.description = "CBS package cabinets (update.mum, manifests, payload)",
	.init = cab_init,
	.configure = cab_configure,
	.shutdown = cab_shutdown,
	.ops.update_format = &cab_ops,
};
