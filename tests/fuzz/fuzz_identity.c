/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Fuzz target: assembly identity strings and versions (core/cbs/identity.c).
 * A package identity string that parses prints back to a string that
 * parses to the same identity; a version that parses compares equal to
 * itself; key forms are lower case and hold no path separator.
 */
#include <config.h>

#include <offserv/cbs.h>

#include "fuzz_common.h"

static int same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = strndup((const char *)data, size);
	struct offserv_identity id, back;
	uint16_t v[4];

	if (!s)
		return 0;
	memset(&id, 0, sizeof(id));
	memset(&back, 0, sizeof(back));
	if (offserv_version_parse(s, v) == OFFSERV_OK && offserv_version_compare(s, s) != 0)
		fuzz_fail("version \"%s\" differs from itself", s);
	offserv_version_compare(s, "10.0.19041.1");
	if (offserv_identity_parse_package_string(s, &id) == OFFSERV_OK) {
		char *str = offserv_identity_package_string(&id);
		char *key;

		if (str) {
			if (offserv_identity_parse_package_string(str, &back) != OFFSERV_OK)
				fuzz_fail("\"%s\" printed as \"%s\", which does not parse", s, str);
			if (!same(id.name, back.name) || !same(id.version, back.version) ||
			    !same(id.arch, back.arch) || !same(id.token, back.token))
				fuzz_fail("\"%s\" does not round-trip through \"%s\"", s, str);
			offserv_identity_clear(&back);
			free(str);
		}
		key = offserv_identity_key_form(&id);
		if (key) {
			for (const char *c = key; *c; c++)
				if ((*c >= 'A' && *c <= 'Z') || *c == '/' || *c == '\\')
					fuzz_fail("key form \"%s\" holds '%c'", key, *c);
			free(key);
		}
		offserv_identity_pseudo_key(&id);
		offserv_identity_clear(&id);
	}
	free(s);
	return 0;
}
