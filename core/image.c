/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Describing a WIM for image-type plugins. */
#include <config.h>

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <offserv/image.h>
#include <offserv/util.h>

#include "wim.h"

int offserv_is_wim_file(const char *path)
{
	return offserv_file_starts_with(path, "MSWIM\0\0\0", 8);
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

offserv_status offserv_wim_describe(const char *wim_path, const char *type,
                                    struct offserv_image_object **out, char *err, size_t errlen)
{
	struct offserv_wim *wim = NULL;
	struct offserv_wim_info info;
	struct offserv_image_object *obj;
	offserv_status s;

	*out = NULL;
	s = offserv_wim_open(wim_path, OFFSERV_WIM_OPEN_READ, &wim, err, errlen);
	if (OFFSERV_FAILED(s))
		return s;
	s = offserv_wim_get_info(wim, &info, err, errlen);
	if (OFFSERV_FAILED(s)) {
		offserv_wim_close(wim);
		return s;
	}
	obj = calloc(1, sizeof(*obj));
	if (!obj) {
		offserv_wim_close(wim);
		return OFFSERV_E_OUTOFMEMORY;
	}
	obj->type = strdup(type ? type : "os_image");
	obj->wim_path = strdup(wim_path);
	obj->solid = info.solid || info.split;
	obj->indexes = calloc(info.image_count ? (size_t)info.image_count : 1, sizeof(*obj->indexes));
	if (!obj->type || !obj->wim_path || !obj->indexes) {
		offserv_image_object_free(obj);
		offserv_wim_close(wim);
		return OFFSERV_E_OUTOFMEMORY;
	}
	for (int i = 1; i <= info.image_count; i++) {
		struct offserv_wim_index wi;
		struct offserv_image_index *x = &obj->indexes[obj->n_indexes];

		memset(&wi, 0, sizeof(wi));
		s = offserv_wim_get_index(wim, i, &wi, err, errlen);
		if (OFFSERV_FAILED(s)) {
			offserv_image_object_free(obj);
			offserv_wim_close(wim);
			return s;
		}
		*x = wi.base;
		x->name = dup_or_null(wi.base.name);
		x->description = dup_or_null(wi.base.description);
		x->edition = dup_or_null(wi.base.edition);
		x->arch = dup_or_null(wi.base.arch);
		x->version = dup_or_null(wi.base.version);
		x->languages = dup_or_null(wi.base.languages);
		obj->n_indexes++;
		offserv_wim_index_clear(&wi);
	}
	offserv_wim_close(wim);
	*out = obj;
	return OFFSERV_OK;
}
