/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * The servicing engine behind /Add-Package, /Remove-Package, /Cleanup-Image
 * and /Get-PackageInfo /PackagePath.  This build has no engine wired in:
 * each command reports E_NOTIMPL (0x80004001, exit status 209).
 */
#include <config.h>

#include <stdlib.h>
#include <string.h>

#include <offserv/util.h>

#include "dism/servicing.h"

#define NOT_AVAILABLE "not available in this build"

void dism_package_info_clear(struct dism_package_info *info)
{
	char **f[] = {&info->identity, &info->applicable, &info->copyright, &info->company,
	              &info->creation_time, &info->description, &info->install_client,
	              &info->install_package_name, &info->install_time, &info->last_update_time,
	              &info->name, &info->product_name, &info->product_version, &info->release_type,
	              &info->restart_required, &info->support_information, &info->state,
	              &info->offline_capable, &info->self_servicing, &info->capability_identity};

	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		free(*f[i]);
	memset(info, 0, sizeof(*info));
}

offserv_status dism_servicing_add_packages(const struct dism_servicing_request *rq,
                                           const struct dism_servicing_events *ev,
                                           int *reboot_required, char *err, size_t errlen)
{
	(void)rq;
	(void)ev;
	*reboot_required = 0;
	offserv_set_error(err, errlen, NOT_AVAILABLE);
	return OFFSERV_E_NOTIMPL;
}

offserv_status dism_servicing_remove_package(const struct dism_servicing_request *rq,
                                             const struct dism_servicing_events *ev,
                                             int *reboot_required, char *err, size_t errlen)
{
	(void)rq;
	(void)ev;
	*reboot_required = 0;
	offserv_set_error(err, errlen, NOT_AVAILABLE);
	return OFFSERV_E_NOTIMPL;
}

offserv_status dism_servicing_cleanup_image(const struct dism_servicing_request *rq,
                                            enum dism_cleanup_action action, int reset_base,
                                            const struct dism_servicing_events *ev, char *err,
                                            size_t errlen)
{
	(void)rq;
	(void)action;
	(void)reset_base;
	(void)ev;
	offserv_set_error(err, errlen, NOT_AVAILABLE);
	return OFFSERV_E_NOTIMPL;
}

offserv_status dism_servicing_package_info(const struct dism_servicing_request *rq,
                                           const struct dism_servicing_events *ev,
                                           struct dism_package_info *out, char *err,
                                           size_t errlen)
{
	(void)rq;
	(void)ev;
	memset(out, 0, sizeof(*out));
	offserv_set_error(err, errlen, NOT_AVAILABLE);
	return OFFSERV_E_NOTIMPL;
}
