/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Refers to a symbol nothing provides: dlopen(RTLD_NOW) fails. */
#include <offserv/plugin.h>

extern offserv_status offserv_symbol_nobody_defines(void);

static offserv_status dep_init(const struct offserv_host *host, void **ctx)
{
	return offserv_symbol_nobody_defines();
}

static offserv_status never_run(void *ctx, const struct offserv_post_action_job *job,
                                char *summary, size_t summary_len, char *err, size_t errlen)
{
	return OFFSERV_E_UNEXPECTED;
}

static const struct offserv_post_action_ops ops = {.run = never_run};

OFFSERV_PLUGIN_EXPORT const struct offserv_plugin offserv_plugin = {
	.abi_version = OFFSERV_PLUGIN_ABI_VERSION,
	.name = "missing_dep",
	.kind = OFFSERV_PLUGIN_POST_ACTION,
	.init = dep_init,
	.ops.post_action = &ops,
};
