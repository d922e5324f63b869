/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Freeing the structures that cross the plugin ABI. */
#include <config.h>

#include <stdlib.h>

#include <offserv/plugin.h>

#include "plugin_types.h"

/* The members of ABI 1.0, which every plugin's info has. */
static void free_members_1_0(struct offserv_update_info *info)
{
	free(info->format);
	free(info->kb);
	free(info->title);
	free(info->description);
	free(info->release_type);
	free(info->arch);
	free(info->product);
	free(info->build_date);
	free(info->support_link);
	for (size_t i = 0; i < info->n_packages; i++) {
		struct offserv_update_package *p = &info->packages[i];
		free(p->identity);
		free(p->name);
		free(p->version);
		free(p->arch);
		free(p->release_type);
		free(p->member);
		free(p->unsupported_reason);
	}
	free(info->packages);
	for (size_t i = 0; i < info->n_parent_identities; i++)
		free(info->parent_identities[i]);
	free(info->parent_identities);
}

void offserv__update_info_free_1_0(struct offserv_update_info *info)
{
	if (!info)
		return;
	free_members_1_0(info);
	free(info);
}

void offserv_update_info_free(struct offserv_update_info *info)
{
	if (!info)
		return;
	free_members_1_0(info);
	/* ABI 1.1 members (zero in an info brought up from a 1.0 plugin). */
	for (size_t i = 0; i < info->n_parents; i++) {
		struct offserv_update_parent *p = &info->parents[i];
		for (size_t k = 0; k < p->n_identities; k++)
			free(p->identities[k]);
		free(p->identities);
		free(p->disposition);
		free(p->integrate);
		free(p->build_compare);
		free(p->service_compare);
		free(p->revision_compare);
	}
	free(info->parents);
	if (info->installer_versions)
		for (size_t i = 0; i < info->n_packages; i++)
			free(info->installer_versions[i]);
	free(info->installer_versions);
	free(info);
}

void offserv_expanded_packages_free(struct offserv_expanded_package *pkgs, size_t n)
{
	if (!pkgs)
		return;
	for (size_t i = 0; i < n; i++) {
		free(pkgs[i].dir);
		free(pkgs[i].mum_name);
	}
	free(pkgs);
}

void offserv_image_object_free(struct offserv_image_object *obj)
{
	if (!obj)
		return;
	free(obj->type);
	free(obj->wim_path);
	for (size_t i = 0; i < obj->n_indexes; i++) {
		struct offserv_image_index *x = &obj->indexes[i];
		free(x->name);
		free(x->description);
		free(x->edition);
		free(x->arch);
		free(x->version);
		free(x->languages);
	}
	free(obj->indexes);
	free(obj);
}
