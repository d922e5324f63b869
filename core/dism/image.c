/* SPDX-License-Identifier: GPL-3.0-or-later */
/* /Get-ImageInfo and /Export-Image: read and copy images of WIM files. */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <wimlib.h>

#include "dism/dism.h"

offserv_status dism_wimlib_status(int e)
{
	switch (e) {
	case WIMLIB_ERR_SUCCESS:
		return OFFSERV_OK;
	case WIMLIB_ERR_NOMEM:
		return OFFSERV_E_OUTOFMEMORY;
	case WIMLIB_ERR_OPEN:
	case WIMLIB_ERR_STAT:
		return OFFSERV_E_FILE_NOT_FOUND;
	case WIMLIB_ERR_NOT_A_WIM_FILE:
	case WIMLIB_ERR_UNKNOWN_VERSION:
	case WIMLIB_ERR_INVALID_HEADER:
		return OFFSERV_E_BAD_FORMAT;
	case WIMLIB_ERR_INVALID_IMAGE:
	case WIMLIB_ERR_INVALID_PARAM:
		return OFFSERV_E_INVALIDARG;
	case WIMLIB_ERR_ALREADY_LOCKED:
		return OFFSERV_E_SHARING_VIOLATION;
	case WIMLIB_ERR_WIM_IS_READONLY:
		return OFFSERV_E_ACCESS_DENIED;
	case WIMLIB_ERR_WRITE:
		return OFFSERV_E_WRITE_FAULT;
	case WIMLIB_ERR_READ:
	case WIMLIB_ERR_UNEXPECTED_END_OF_FILE:
		return OFFSERV_E_READ_FAULT;
	case WIMLIB_ERR_INTEGRITY:
	case WIMLIB_ERR_INVALID_RESOURCE_HASH:
	case WIMLIB_ERR_DECOMPRESSION:
		return OFFSERV_E_CRC;
	case WIMLIB_ERR_INVALID_METADATA_RESOURCE:
	case WIMLIB_ERR_METADATA_NOT_FOUND:
	case WIMLIB_ERR_XML:
		return OFFSERV_E_FILE_CORRUPT;
	case WIMLIB_ERR_IMAGE_NAME_COLLISION:
		return OFFSERV_E_ALREADY_EXISTS;
	case WIMLIB_ERR_ABORTED_BY_PROGRESS:
		return OFFSERV_E_CANCELLED;
	case WIMLIB_ERR_MKDIR:
	case WIMLIB_ERR_NOTDIR:
		return OFFSERV_E_PATH_NOT_FOUND;
	case WIMLIB_ERR_UNSUPPORTED:
		return OFFSERV_E_NOT_SUPPORTED;
	default:
		return OFFSERV_E_FAIL;
	}
}

/* Open a WIM, naming the file and the problem on failure. */
static offserv_status open_wim(struct dism_ctx *c, const char *path, int flags, WIMStruct **out)
{
	struct stat sb;
	int e;

	if (stat(path, &sb) != 0)
		return dism_fail(c, offserv_status_from_errno(errno), "%s", offserv_strerror(offserv_status_from_errno(errno)));
	if (S_ISDIR(sb.st_mode))
		return dism_fail(c, OFFSERV_E_ACCESS_DENIED, "%s is a directory, not a WIM file.", path);
	e = wimlib_open_wim(path, flags, out);
	if (e) {
		offserv_status st = dism_wimlib_status(e);
		dism_log_provider(c, OFFSERV_LOG_ERROR, DISM_PROV_WIM, "CWimManager", "OpenWim", st,
		                  "Failed to open %s: %s", path, wimlib_get_error_string(e));
		if (st == OFFSERV_E_BAD_FORMAT)
			return dism_fail(c, st, "%s", offserv_strerror(st));
		return dism_fail(c, st, "Could not open %s: %s", path, wimlib_get_error_string(e));
	}
	return OFFSERV_OK;
}

/* The 1-based index named by /Index (or /SourceIndex) or /Name (or /SourceName). */
static offserv_status pick_image(struct dism_ctx *c, WIMStruct *wim, const char *path,
                                 unsigned long index, const char *name, int *out)
{
	struct wimlib_wim_info info;

	wimlib_get_wim_info(wim, &info);
	if (name) {
		for (uint32_t i = 1; i <= info.image_count; i++) {
			const char *n = wimlib_get_image_name(wim, (int)i);
			if (n && strcasecmp(n, name) == 0) {
				*out = (int)i;
				return OFFSERV_OK;
			}
		}
		return dism_fail(c, OFFSERV_E_INVALIDARG,
		                 "The specified image name \"%s\" was not found in %s.", name, path);
	}
	if (index < 1 || index > info.image_count)
		return dism_fail(c, OFFSERV_E_INVALIDARG,
		                 "The specified image index %lu does not exist in %s, which holds %u image%s.",
		                 index, path, info.image_count, info.image_count == 1 ? "" : "s");
	*out = (int)index;
	return OFFSERV_OK;
}

static const char *prop(WIMStruct *wim, int image, const char *name)
{
	const char *v = wimlib_get_image_property(wim, image, name);
	return v && *v ? v : NULL;
}

static uint64_t prop_u64(WIMStruct *wim, int image, const char *name, int *ok)
{
	const char *v = prop(wim, image, name);
	char *end;
	unsigned long long n;

	*ok = 0;
	if (!v)
		return 0;
	errno = 0;
	n = strtoull(v, &end, 0);
	if (errno || *end)
		return 0;
	*ok = 1;
	return n;
}

static const char *arch_name(uint64_t a)
{
	switch (a) {
	case 0:
		return "x86";
	case 5:
		return "arm";
	case 6:
		return "ia64";
	case 9:
		return "x64";
	case 12:
		return "arm64";
	default:
		return NULL;
	}
}

static void print_date(struct dism_ctx *c, WIMStruct *wim, int image, const char *label,
                       const char *elem)
{
	char hi_name[64], lo_name[64], buf[64];
	int ok_hi, ok_lo;
	uint64_t hi, lo;

	snprintf(hi_name, sizeof(hi_name), "%s/HIGHPART", elem);
	snprintf(lo_name, sizeof(lo_name), "%s/LOWPART", elem);
	hi = prop_u64(wim, image, hi_name, &ok_hi);
	lo = prop_u64(wim, image, lo_name, &ok_lo);
	if (!ok_hi || !ok_lo || (hi == 0 && lo == 0)) {
		dism_out_line(c->out, "%s : <undefined>", label);
		return;
	}
	dism_format_image_date(dism_filetime_to_time((hi << 32) | (lo & 0xffffffffu)), buf,
	                       sizeof(buf));
	dism_out_line(c->out, "%s : %s", label, buf);
}

static void print_summary(struct dism_ctx *c, WIMStruct *wim, int image)
{
	const char *v;
	char size[48];
	int ok;
	uint64_t total;

	dism_out_line(c->out, "Index : %d", image);
	v = prop(wim, image, "NAME");
	dism_out_line(c->out, "Name : %s", v ? v : "<undefined>");
	v = prop(wim, image, "DESCRIPTION");
	dism_out_line(c->out, "Description : %s", v ? v : "<undefined>");
	total = prop_u64(wim, image, "TOTALBYTES", &ok);
	dism_format_thousands(total, size, sizeof(size));
	dism_out_line(c->out, "Size : %s bytes", size);
}

static void print_details(struct dism_ctx *c, WIMStruct *wim, int image)
{
	struct wimlib_wim_info info;
	const char *v, *def;
	int ok, ok2, ok3;
	uint64_t n, maj, min, build;

	wimlib_get_wim_info(wim, &info);
	dism_out_line(c->out, "WIM Bootable : %s", info.boot_index == (uint32_t)image ? "Yes" : "No");
	n = prop_u64(wim, image, "WINDOWS/ARCH", &ok);
	v = ok ? arch_name(n) : NULL;
	dism_out_line(c->out, "Architecture : %s", v ? v : "<undefined>");
	v = prop(wim, image, "WINDOWS/HAL");
	dism_out_line(c->out, "Hal : %s", v ? v : "<undefined>");
	maj = prop_u64(wim, image, "WINDOWS/VERSION/MAJOR", &ok);
	min = prop_u64(wim, image, "WINDOWS/VERSION/MINOR", &ok2);
	build = prop_u64(wim, image, "WINDOWS/VERSION/BUILD", &ok3);
	if (ok && ok2 && ok3)
		dism_out_line(c->out, "Version : %" PRIu64 ".%" PRIu64 ".%" PRIu64, maj, min, build);
	else
		dism_out_line(c->out, "Version : <undefined>");
	v = prop(wim, image, "WINDOWS/VERSION/SPBUILD");
	dism_out_line(c->out, "ServicePack Build : %s", v ? v : "<undefined>");
	v = prop(wim, image, "WINDOWS/VERSION/SPLEVEL");
	dism_out_line(c->out, "ServicePack Level : %s", v ? v : "<undefined>");
	v = prop(wim, image, "WINDOWS/EDITIONID");
	dism_out_line(c->out, "Edition : %s", v ? v : "<undefined>");
	v = prop(wim, image, "WINDOWS/INSTALLATIONTYPE");
	dism_out_line(c->out, "Installation : %s", v ? v : "<undefined>");
	v = prop(wim, image, "WINDOWS/PRODUCTTYPE");
	dism_out_line(c->out, "ProductType : %s", v ? v : "<undefined>");
	v = prop(wim, image, "WINDOWS/PRODUCTSUITE");
	dism_out_line(c->out, "ProductSuite : %s", v ? v : "<undefined>");
	v = prop(wim, image, "WINDOWS/SYSTEMROOT");
	dism_out_line(c->out, "System Root : %s", v ? v : "<undefined>");
	n = prop_u64(wim, image, "DIRCOUNT", &ok);
	dism_out_line(c->out, "Directories : %" PRIu64, ok ? n : 0);
	n = prop_u64(wim, image, "FILECOUNT", &ok);
	dism_out_line(c->out, "Files : %" PRIu64, ok ? n : 0);
	print_date(c, wim, image, "Created", "CREATIONTIME");
	print_date(c, wim, image, "Modified", "LASTMODIFICATIONTIME");

	def = prop(wim, image, "WINDOWS/LANGUAGES/DEFAULT");
	if (!prop(wim, image, "WINDOWS/LANGUAGES/LANGUAGE[1]")) {
		/* DISM prints no blank line after an undefined list. */
		dism_out_line(c->out, "Languages : <undefined>");
		return;
	}
	dism_out_line(c->out, "Languages :");
	for (int i = 1; i < 1000; i++) {
		char key[64];
		snprintf(key, sizeof(key), "WINDOWS/LANGUAGES/LANGUAGE[%d]", i);
		v = prop(wim, image, key);
		if (!v)
			break;
		dism_out_line(c->out, "        %s%s", v,
		              def && strcasecmp(def, v) == 0 ? " (Default)" : "");
	}
	dism_out_blank(c->out);
}

offserv_status dism_cmd_get_imageinfo(struct dism_ctx *c)
{
	const char *path = c->args->value[DISM_OPT_IMAGEFILE];
	const char *name = c->args->value[DISM_OPT_NAME];
	WIMStruct *wim = NULL;
	struct wimlib_wim_info info;
	offserv_status st;
	int image = 0;

	c->provider = DISM_PROV_IMAGING;
	dism_log_provider(c, OFFSERV_LOG_INFO, DISM_PROV_IMAGING, "CGenericImagingManager",
	                  "GetImageInfoCollection", OFFSERV_OK, "WIM image specified");
	st = open_wim(c, path, 0, &wim);
	if (st)
		return st;
	if (c->args->present[DISM_OPT_INDEX] || name) {
		st = pick_image(c, wim, path, c->args->index, name, &image);
		if (st) {
			wimlib_free(wim);
			return st;
		}
	}
	wimlib_get_wim_info(wim, &info);
	dism_out_line(c->out, "Details for image : %s", path);
	dism_out_blank(c->out);
	if (image) {
		print_summary(c, wim, image);
		print_details(c, wim, image);
	} else {
		for (uint32_t i = 1; i <= info.image_count; i++) {
			print_summary(c, wim, (int)i);
			dism_out_blank(c->out);
		}
	}
	wimlib_free(wim);
	return OFFSERV_OK;
}

struct write_progress {
	struct dism_ctx *c;
};

static enum wimlib_progress_status write_progress_cb(enum wimlib_progress_msg msg,
                                                     union wimlib_progress_info *info,
                                                     void *ctx)
{
	struct write_progress *wp = ctx;

	if (msg == WIMLIB_PROGRESS_MSG_WRITE_STREAMS && info->write_streams.total_bytes)
		dism_out_progress(wp->c->out, 100.0 * (double)info->write_streams.completed_bytes /
		                                  (double)info->write_streams.total_bytes);
	return WIMLIB_PROGRESS_STATUS_CONTINUE;
}

offserv_status dism_cmd_export_image(struct dism_ctx *c)
{
	struct dism_args *a = c->args;
	const char *src_path = a->value[DISM_OPT_SOURCEIMAGEFILE];
	const char *dst_path = a->value[DISM_OPT_DESTINATIONIMAGEFILE];
	const char *compress = a->value[DISM_OPT_COMPRESS];
	WIMStruct *src = NULL, *dst = NULL;
	struct wimlib_wim_info info;
	struct write_progress wp = {c};
	struct stat sb;
	offserv_status st;
	int image, e, exists, export_flags = 0, write_flags = WIMLIB_WRITE_FLAG_FSYNC;

	c->provider = DISM_PROV_IMAGING;
	st = open_wim(c, src_path, 0, &src);
	if (st)
		return st;
	st = pick_image(c, src, src_path, a->index, a->value[DISM_OPT_SOURCENAME], &image);
	if (st)
		goto out;
	if (a->present[DISM_OPT_BOOTABLE])
		export_flags |= WIMLIB_EXPORT_FLAG_BOOT;
	if (a->present[DISM_OPT_CHECKINTEGRITY])
		write_flags |= WIMLIB_WRITE_FLAG_CHECK_INTEGRITY;

	exists = stat(dst_path, &sb) == 0;
	if (exists) {
		st = open_wim(c, dst_path, WIMLIB_OPEN_FLAG_WRITE_ACCESS, &dst);
		if (st)
			goto out;
		if (compress)
			dism_log_provider(c, OFFSERV_LOG_WARNING, DISM_PROV_IMAGING, "CWimManager",
			                  "ExportImage", OFFSERV_OK,
			                  "/Compress:%s ignored: %s exists and keeps its compression",
			                  compress, dst_path);
	} else {
		enum wimlib_compression_type ct;
		wimlib_get_wim_info(src, &info);
		ct = (enum wimlib_compression_type)info.compression_type;
		if (compress) {
			if (strcasecmp(compress, "none") == 0)
				ct = WIMLIB_COMPRESSION_TYPE_NONE;
			else if (strcasecmp(compress, "fast") == 0)
				ct = WIMLIB_COMPRESSION_TYPE_XPRESS;
			else if (strcasecmp(compress, "max") == 0)
				ct = WIMLIB_COMPRESSION_TYPE_LZX;
			else {
				ct = WIMLIB_COMPRESSION_TYPE_LZMS;
				write_flags |= WIMLIB_WRITE_FLAG_SOLID;
			}
		}
		e = wimlib_create_new_wim(ct, &dst);
		if (e) {
			st = dism_fail(c, dism_wimlib_status(e), "Could not create %s: %s", dst_path,
			               wimlib_get_error_string(e));
			goto out;
		}
	}
	e = wimlib_export_image(src, image, dst, a->value[DISM_OPT_DESTINATIONNAME], NULL,
	                        export_flags);
	if (e) {
		st = dism_fail(c, dism_wimlib_status(e), "Could not export image %d of %s into %s: %s",
		               image, src_path, dst_path, wimlib_get_error_string(e));
		goto out;
	}
	dism_out_line(c->out, "Exporting image");
	wimlib_register_progress_function(dst, write_progress_cb, &wp);
	dism_out_progress(c->out, 0.0);
	if (exists)
		e = wimlib_overwrite(dst, write_flags, 0);
	else
		e = wimlib_write(dst, dst_path, WIMLIB_ALL_IMAGES, write_flags, 0);
	if (e) {
		st = dism_fail(c, dism_wimlib_status(e), "Could not write %s: %s", dst_path,
		               wimlib_get_error_string(e));
		goto out;
	}
	dism_out_progress(c->out, 100.0);
	dism_out_progress_end(c->out);
	dism_log_provider(c, OFFSERV_LOG_INFO, DISM_PROV_IMAGING, "CWimManager", "ExportImage",
	                  OFFSERV_OK, "Exported image %d of %s to %s", image, src_path, dst_path);
out:
	wimlib_free(dst);
	wimlib_free(src);
	return st;
}
