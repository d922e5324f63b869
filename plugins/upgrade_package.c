/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Image type "upgrade_package": an OS upgrade package, a Windows media
 * folder whose sources/install.wim is the image that servicing changes.
 */
#define _GNU_SOURCE 1
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <offserv/image.h>
#include <offserv/plugin.h>

/* Find NAME in DIR case-insensitively (media copied from FAT/ISO varies in case). */
static char *child_ci(const char *dir, const char *name)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char *found = NULL;

	if (!d)
		return NULL;
	while ((e = readdir(d)) != NULL) {
		if (strcasecmp(e->d_name, name) == 0) {
			if (asprintf(&found, "%s/%s", dir, e->d_name) < 0)
				found = NULL;
			break;
		}
	}
	closedir(d);
	return found;
}

/* The media's install image: sources/install.wim, else sources/install.esd. */
static char *media_image(const char *path)
{
	char *sources = child_ci(path, "sources"), *img;

	if (!sources)
		return NULL;
	img = child_ci(sources, "install.wim");
	if (!img)
		img = child_ci(sources, "install.esd");
	free(sources);
	return img;
}

static int upgrade_probe(void *ctx, const char *path)
{
	struct stat st;
	char *img;
	int score = 0;

	if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
		return 0;
	img = media_image(path);
	if (img && offserv_is_wim_file(img)) {
		char *setup = child_ci(path, "setup.exe");
		score = setup ? 95 : 85;
		free(setup);
	}
	free(img);
	return score;
}

static offserv_status upgrade_open(void *ctx, const char *path, struct offserv_image_object **obj,
                                   char *err, size_t errlen)
{
	char *img = media_image(path);
	offserv_status s;

	if (!img) {
		snprintf(err, errlen, "%s is not an OS upgrade package: no sources/install.wim", path);
		return OFFSERV_E_PATH_NOT_FOUND;
	}
	s = offserv_wim_describe(img, "upgrade_package", obj, err, errlen);
	free(img);
	return s;
}

static const struct offserv_image_type_ops upgrade_ops = {
	.probe = upgrade_probe,
	.open = upgrade_open,
};

OFFSERV_PLUGIN_EXPORT const struct offserv_plugin offserv_plugin = {
	.abi_version = OFFSERV_PLUGIN_ABI_VERSION,
	.name = "upgrade_package",
	.kind = OFFSERV_PLUGIN_IMAGE_TYPE,
	.version = PACKAGE_VERSION_STRING,
	.description = "OS upgrade packages: a media folder whose sources/install.wim is serviced",
	.ops.image_type = &upgrade_ops,
};
