/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Helpers shared by the update-format plugins (cab, msu): name checks and
 * filling the applicability members of struct offserv_update_info from a
 * parsed package manifest.  Internal to the plugins: static inline, so each
 * plugin stays one self-contained shared object.
 */
#ifndef OFFSERV_PLUGINS_UPDATE_FORMAT_H
#define OFFSERV_PLUGINS_UPDATE_FORMAT_H

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <offserv/cbs.h>
#include <offserv/plugin.h>
#include <offserv/status.h>

/* Non-zero when @p s ends with @p suffix, ASCII case ignored. */
static inline int upd_ends_with_ci(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && !strcasecmp(s + a - b, suffix);
}

/* *dst = a copy of src (NULL stays NULL); -1 when out of memory. */
static inline int upd_dup_into(char **dst, const char *src)
{
	if (!src)
		return 0;
	*dst = strdup(src);
	return *dst ? 0 : -1;
}

/*
 * Record what package @p pkg of @p info (already in info->packages) needs
 * to apply, from its manifest: every `<parent>` with its attributes, and
 * the version of its `<installerAssembly>`.  info->installer_versions is
 * allocated for info->n_packages entries on first use, so every package
 * must be in info->packages before the first call.
 */
static inline offserv_status upd_add_requirements(struct offserv_update_info *info, size_t pkg,
                                                  const struct offserv_mum *mum)
{
	struct offserv_update_parent *np;

	if (!mum)
		return OFFSERV_OK;
	if (mum->installer.version) {
		if (!info->installer_versions) {
			info->installer_versions = calloc(info->n_packages ? info->n_packages : 1,
			                                  sizeof(*info->installer_versions));
			if (!info->installer_versions)
				return OFFSERV_E_OUTOFMEMORY;
		}
		if (pkg < info->n_packages && !info->installer_versions[pkg] &&
		    upd_dup_into(&info->installer_versions[pkg], mum->installer.version))
			return OFFSERV_E_OUTOFMEMORY;
	}
	if (mum->n_parents == 0)
		return OFFSERV_OK;
	np = realloc(info->parents, (info->n_parents + mum->n_parents) * sizeof(*np));
	if (!np)
		return OFFSERV_E_OUTOFMEMORY;
	info->parents = np;
	for (size_t k = 0; k < mum->n_parents; k++) {
		const struct offserv_parent *src = &mum->parents[k];
		struct offserv_update_parent *dst = &info->parents[info->n_parents];

		memset(dst, 0, sizeof(*dst));
		dst->package = pkg;
		/* Counted now, so that a failure below leaves it to be freed. */
		info->n_parents++;
		if (upd_dup_into(&dst->disposition, src->disposition) ||
		    upd_dup_into(&dst->integrate, src->integrate) ||
		    upd_dup_into(&dst->build_compare, src->build_compare) ||
		    upd_dup_into(&dst->service_compare, src->service_compare) ||
		    upd_dup_into(&dst->revision_compare, src->revision_compare))
			return OFFSERV_E_OUTOFMEMORY;
		dst->identities = calloc(src->n_ids ? src->n_ids : 1, sizeof(*dst->identities));
		if (!dst->identities)
			return OFFSERV_E_OUTOFMEMORY;
		for (size_t a = 0; a < src->n_ids; a++) {
			char *id;

			if (!src->ids[a].name)
				continue;
			id = offserv_identity_package_string(&src->ids[a]);
			if (!id)
				return OFFSERV_E_OUTOFMEMORY;
			dst->identities[dst->n_identities++] = id;
		}
	}
	return OFFSERV_OK;
}

#endif /* OFFSERV_PLUGINS_UPDATE_FORMAT_H */
