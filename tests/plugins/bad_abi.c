/* SPDX-License-Identifier: GPL-3.0-or-later */
/* A plugin built for another ABI version: the loader must refuse it. */
#include <offserv/plugin.h>

static offserv_status never_run(void *ctx, const struct offserv_post_action_job *job,
                                char *summary, size_t summary_len, char *err, size_t errlen)
{
	return OFFSERV_E_UNEXPECTED;
}

static const struct offserv_post_action_ops ops = {.run = never_run};

OFFSERV_PLUGIN_EXPORT const struct offserv_plugin offserv_plugin = {
	.abi_version = OFFSERV_PLUGIN_ABI_VERSION + 41,
	.name = "bad_abi",
	.kind = OFFSERV_PLUGIN_POST_ACTION,
	.ops.post_action = &ops,
};
