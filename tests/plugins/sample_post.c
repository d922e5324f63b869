/* SPDX-License-Identifier: GPL-3.0-or-later */
/* A post-action plugin used by the loader tests and the plugin guide. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <offserv/plugin.h>

struct sample_ctx {
	char greeting[64];
	int configured;
};

static offserv_status sample_init(const struct offserv_host *host, void **ctx)
{
	struct sample_ctx *c = calloc(1, sizeof(*c));

	if (!c)
		return OFFSERV_E_OUTOFMEMORY;
	snprintf(c->greeting, sizeof(c->greeting), "hello");
	if (host && host->log)
		host->log(host, OFFSERV_LOG_INFO, "sample_post", "initialised");
	*ctx = c;
	return OFFSERV_OK;
}

static offserv_status sample_configure(void *ctx, const char *key, const char *value,
                                       char *err, size_t errlen)
{
	struct sample_ctx *c = ctx;

	if (strcmp(key, "greeting") != 0)
		return OFFSERV_E_NOT_FOUND;
	if (strlen(value) >= sizeof(c->greeting)) {
		snprintf(err, errlen, "greeting longer than %zu characters", sizeof(c->greeting) - 1);
		return OFFSERV_E_INVALIDARG;
	}
	snprintf(c->greeting, sizeof(c->greeting), "%s", value);
	c->configured++;
	return OFFSERV_OK;
}

static void sample_shutdown(void *ctx)
{
	free(ctx);
}

static offserv_status sample_run(void *ctx, const struct offserv_post_action_job *job,
                                 char *summary, size_t summary_len, char *err, size_t errlen)
{
	struct sample_ctx *c = ctx;

	(void)err;
	(void)errlen;
	snprintf(summary, summary_len, "%s %s", c->greeting, job->image_id);
	return OFFSERV_OK;
}

static const struct offserv_post_action_ops sample_ops = {.run = sample_run};

OFFSERV_PLUGIN_EXPORT const struct offserv_plugin offserv_plugin = {
	.abi_version = OFFSERV_PLUGIN_ABI_VERSION,
	.name = "sample_post",
	.kind = OFFSERV_PLUGIN_POST_ACTION,
	.version = "1.0",
	.description = "greets the serviced image (test plugin)",
	.init = sample_init,
	.configure = sample_configure,
	.shutdown = sample_shutdown,
	.ops.post_action = &sample_ops,
};
