/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Manifest destination paths: $(runtime.*) variables to image-relative paths. */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <offserv/cbs.h>
#include <offserv/util.h>

#include "cbs/xml.h"

/* The variables of component manifests, relative to the image root. */
static const struct {
	const char *name;
	const char *path;
} runtime_vars[] = {
	{"system32", "Windows/System32"},
	{"windows", "Windows"},
	{"systemroot", "Windows"},
	{"windir", "Windows"},
	{"system", "Windows/System"},
	{"drivers", "Windows/System32/drivers"},
	{"wbem", "Windows/System32/wbem"},
	{"inf", "Windows/INF"},
	{"fonts", "Windows/Fonts"},
	{"help", "Windows/Help"},
	{"bootdrive", ""},
	{"programfiles", "Program Files"},
	{"programfilesx86", "Program Files (x86)"},
	{"commonfiles", "Program Files/Common Files"},
	{"programdata", "ProgramData"},
	{"startmenu", "ProgramData/Microsoft/Windows/Start Menu"},
	{"public", "Users/Public"},
};

offserv_status offserv_resolve_destination(const char *destination_path, char **out, char *err,
                                           size_t errlen)
{
	const char *rest = destination_path;
	const char *base = "";
	char *joined = NULL, *clean = NULL, msg[256];
	size_t rlen;
	offserv_status st;

	if (!out)
		return OFFSERV_E_INVALIDARG;
	*out = NULL;
	if (!destination_path || !*destination_path) {
		cbs_set_err(err, errlen, "no destination path");
		return OFFSERV_E_INVALID_NAME;
	}
	if (strncmp(rest, "$(", 2) == 0) {
		const char *close = strchr(rest, ')');
		size_t vlen;
		int found = 0;

		if (!close || strncasecmp(rest + 2, "runtime.", 8) != 0) {
			cbs_set_err(err, errlen, "destination \"%.200s\": unknown variable",
			            destination_path);
			return OFFSERV_E_INVALID_NAME;
		}
		vlen = (size_t)(close - (rest + 10));
		for (size_t i = 0; i < sizeof(runtime_vars) / sizeof(runtime_vars[0]); i++)
			if (strlen(runtime_vars[i].name) == vlen &&
			    strncasecmp(rest + 10, runtime_vars[i].name, vlen) == 0) {
				base = runtime_vars[i].path;
				found = 1;
				break;
			}
		if (!found) {
			cbs_set_err(err, errlen, "destination \"%.200s\": unknown variable $(%.*s)",
			            destination_path, (int)(close - rest - 2), rest + 2);
			return OFFSERV_E_INVALID_NAME;
		}
		rest = close + 1;
		if (*rest && *rest != '\\' && *rest != '/') {
			cbs_set_err(err, errlen, "destination \"%.200s\": the variable is not followed "
			            "by a separator", destination_path);
			return OFFSERV_E_INVALID_NAME;
		}
		if (*rest)
			rest++;
		if (*rest == '\\' || *rest == '/') {
			cbs_set_err(err, errlen, "destination \"%.200s\" has an empty path component",
			            destination_path);
			return OFFSERV_E_INVALID_NAME;
		}
	} else if (*rest == '\\' || *rest == '/') {
		cbs_set_err(err, errlen, "destination \"%.200s\" is an absolute path",
		            destination_path);
		return OFFSERV_E_INVALID_NAME;
	}
	if (strstr(rest, "$(")) {
		cbs_set_err(err, errlen, "destination \"%.200s\": a variable may only start the path",
		            destination_path);
		return OFFSERV_E_INVALID_NAME;
	}
	/* One trailing separator is how manifests write directories. */
	rlen = strlen(rest);
	if (rlen > 0 && (rest[rlen - 1] == '\\' || rest[rlen - 1] == '/'))
		rlen--;
	for (size_t i = 0; i < rlen; i++) {
		int sep = rest[i] == '\\' || rest[i] == '/';
		int prev_sep = i == 0 || rest[i - 1] == '\\' || rest[i - 1] == '/';

		if (sep && (prev_sep || i + 1 == rlen)) {
			cbs_set_err(err, errlen, "destination \"%.200s\" has an empty path component",
			            destination_path);
			return OFFSERV_E_INVALID_NAME;
		}
	}
	if (*base && rlen)
		st = asprintf(&joined, "%s/%.*s", base, (int)rlen, rest) < 0 ? OFFSERV_E_OUTOFMEMORY
		                                                            : OFFSERV_OK;
	else
		st = asprintf(&joined, "%s%.*s", base, (int)rlen, rest) < 0 ? OFFSERV_E_OUTOFMEMORY
		                                                           : OFFSERV_OK;
	if (st != OFFSERV_OK) {
		cbs_set_err(err, errlen, "out of memory");
		return st;
	}
	if (!*joined) {
		/* $(runtime.bootdrive)\ : the image root itself. */
		*out = joined;
		return OFFSERV_OK;
	}
	msg[0] = '\0';
	st = offserv_path_sanitize(joined, &clean, msg, sizeof(msg));
	free(joined);
	if (st != OFFSERV_OK) {
		cbs_set_err(err, errlen, "destination \"%.200s\": %s", destination_path,
		            msg[0] ? msg : "not a safe relative path");
		return OFFSERV_E_INVALID_NAME;
	}
	*out = clean;
	return OFFSERV_OK;
}
