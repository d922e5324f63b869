/* SPDX-License-Identifier: GPL-3.0-or-later */
/**
 * @file dism.h
 * @brief The state one run of the `dism` program shares between its
 *        commands (internal).
 *
 * Each command is a function `dism_cmd_*` that does its work, prints its
 * own layout through dism_out, logs through dism_log_*, and on failure
 * returns the status with the message for the error block in ctx->msg.
 */
#ifndef OFFSERV_DISM_DISM_H
#define OFFSERV_DISM_DISM_H

#include <stddef.h>

#include <offserv/log.h>
#include <offserv/status.h>

#include "dism/args.h"
#include "dism/output.h"

/** Provider names as DISM writes them in dism.log. */
#define DISM_PROV_MANAGER "DISM Manager"
#define DISM_PROV_PACKAGE "DISM Package Manager"
#define DISM_PROV_IMAGING "DISM Imaging Provider"
#define DISM_PROV_WIM "DISM WIM Provider"

/** One run. */
struct dism_ctx {
	struct dism_args *args;
	struct dism_out *out;
	struct offserv_logfile *log; /**< NULL when the log could not be opened */
	const char *log_path;        /**< shown in error blocks */
	const char *state_dir;       /**< mount records: <site root>/Mounts */
	const char *scratch_dir;     /**< /ScratchDir or NULL */
	const char *provider;        /**< named in the final failure line of the log */
	char msg[4096];              /**< message of the error block */
};

/** A DISM-component line "DISM.EXE: ..." style (the caller writes the prefix). */
void dism_log(struct dism_ctx *c, int level, const char *fmt, ...) OFFSERV_PRINTF(3, 4);

/** A provider line (`<provider>: PID=.. TID=.. text - cls::method[(hr:..)]`). */
void dism_log_provider(struct dism_ctx *c, int level, const char *provider, const char *cls,
                       const char *method, offserv_status hr, const char *fmt, ...)
	OFFSERV_PRINTF(7, 8);

/** Set ctx->msg (printf) and return @p st, for `return dism_fail(c, st, ...)`. */
offserv_status dism_fail(struct dism_ctx *c, offserv_status st, const char *fmt, ...)
	OFFSERV_PRINTF(3, 4);

/** A wimlib error code as an offserv status. */
offserv_status dism_wimlib_status(int wimlib_err);

/* Image commands (image.c). */
offserv_status dism_cmd_get_imageinfo(struct dism_ctx *c);
offserv_status dism_cmd_export_image(struct dism_ctx *c);

/* Mount commands (mount.c). */
offserv_status dism_cmd_mount_image(struct dism_ctx *c);
offserv_status dism_cmd_unmount_image(struct dism_ctx *c);
offserv_status dism_cmd_commit_image(struct dism_ctx *c);
offserv_status dism_cmd_remount_image(struct dism_ctx *c);
offserv_status dism_cmd_get_mountedimageinfo(struct dism_ctx *c);
offserv_status dism_cmd_cleanup_mountpoints(struct dism_ctx *c);

/* Package commands on an offline directory (packages.c). */
offserv_status dism_cmd_get_packages(struct dism_ctx *c);
/** /Get-PackageInfo: by /PackageName here, by /PackagePath through servicing.c. */
offserv_status dism_cmd_get_packageinfo(struct dism_ctx *c);
offserv_status dism_cmd_get_packageinfo_name(struct dism_ctx *c);
struct dism_package_info;
/** Print the /Get-PackageInfo layout. */
void dism_print_package_info(struct dism_ctx *c, const struct dism_package_info *p);
/** Fail /Online (offline images only) with ERROR_NOT_SUPPORTED. */
offserv_status dism_check_online(struct dism_ctx *c);
/** Print "Image Version: a.b.c.d" and a blank line for an offline directory. */
void dism_print_image_version(struct dism_ctx *c, const char *image_dir);

/* Servicing commands, routed to servicing.c (servicing_cmd.c). */
offserv_status dism_cmd_add_package(struct dism_ctx *c);
offserv_status dism_cmd_remove_package(struct dism_ctx *c);
offserv_status dism_cmd_cleanup_image(struct dism_ctx *c);

#endif /* OFFSERV_DISM_DISM_H */
