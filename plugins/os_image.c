/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Image type "os_image": an OS image, a .wim file (all its indexes or one). */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <offserv/image.h>
#include <offserv/plugin.h>

static int os_image_probe(void *ctx, const char *path)
{
	struct stat st;
	size_t n = strlen(path);

	if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
		return 0;
	if (offserv_is_wim_file(path))
		return n > 4 && (strcasecmp(path + n - 4, ".wim") == 0 ||
		                 strcasecmp(path + n - 4, ".esd") == 0) ? 90 : 80;
	return 0;
}

static offserv_status os_image_open(void *ctx, const char *path,
                                    struct offserv_image_object **obj, char *err, size_t errlen)
{
	return offserv_wim_describe(path, "os_image", obj, err, errlen);
}

static const struct offserv_image_type_ops os_image_ops = {
	.probe = os_image_probe,
	.open = os_image_open,
};

OFFSERV_PLUGIN_EXPORT const struct offserv_plugin offserv_plugin = {
	.abi_version = OFFSERV_PLUGIN_ABI_VERSION,
	.name = "os_image",
	.kind = OFFSERV_PLUGIN_IMAGE_TYPE,
	.version = PACKAGE_VERSION_STRING,
	.description = "OS images: a WIM file, all its indexes or one",
	.ops.image_type = &os_image_ops,
};
