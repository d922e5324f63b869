/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * offserv.ini, read through iniparser and validated strictly.
 *
 * iniparser 4.1 has sharp edges this module keeps away from the rest of
 * the code: it only ever asks for "section:key" strings with
 * iniparser_getstring (iniparser_getint on a key naming a section crashes,
 * CVE-2023-33461, and parses "052" as octal and "12abc" as 12); numbers are
 * parsed here.  Before iniparser sees the file it is checked for what
 * iniparser reports badly or not at all: byte order marks, UTF-16, invalid
 * UTF-8, over-long lines, duplicate keys.
 */
#include <config.h>

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <iniparser.h>

#include <offserv/config.h>
#include <offserv/util.h>

#define DEFAULT_SITE_CODE "OFS"
#define DEFAULT_ROOT OFFSERV_LOCALSTATEDIR "/lib/offserv"
#define DEFAULT_CONFIG_PATH OFFSERV_SYSCONFDIR "/offserv/offserv.ini"
/* iniparser refuses longer lines (its buffer is 1024 bytes with the newline). */
#define LINE_MAX_BYTES 1020

struct offserv_config {
	dictionary *ini; /* NULL with the built-in defaults */
	char *source;
	char site_code[4];
	char *root;
	char *content_library;
	char *database;
	char *drive;
	unsigned workers;
	unsigned compaction;
	char *log_directory;
	uint64_t log_max_size;
	unsigned log_history;
	int log_level;
	enum offserv_logfmt log_format;
	char *plugin_directory;
	char **warnings;
	size_t nwarnings;
};

/*
 * iniparser reports syntax errors through one process-wide callback with no
 * context pointer, so the message is captured into a buffer guarded by a
 * mutex held for the whole iniparser_load(); the callback is restored to
 * iniparser's default afterwards.
 */
static pthread_mutex_t ini_load_lock = PTHREAD_MUTEX_INITIALIZER;
static char ini_load_msg[512];

static int ini_error_capture(const char *fmt, ...)
{
	va_list ap;

	if (ini_load_msg[0] != '\0')
		return 0; /* keep the first error */
	va_start(ap, fmt);
	vsnprintf(ini_load_msg, sizeof(ini_load_msg), fmt, ap);
	va_end(ap);
	return 0;
}

/* "iniparser: syntax error in F (2):\n-> text\n" -> "syntax error in F (2): text" */
static void tidy_ini_message(const char *in, char *out, size_t outlen)
{
	size_t o = 0;

	if (strncmp(in, "iniparser: ", 11) == 0)
		in += 11;
	for (; *in && o + 1 < outlen; in++) {
		if (in[0] == '\n' && in[1] == '-' && in[2] == '>' && in[3] == ' ') {
			if (o > 0 && out[o - 1] == ':')
				o--;
			if (o + 3 >= outlen)
				break;
			out[o++] = ':';
			out[o++] = ' ';
			in += 3;
			continue;
		}
		if (*in == '\n' || *in == '\r')
			continue;
		out[o++] = *in;
	}
	out[o] = '\0';
}

static offserv_status add_warning(struct offserv_config *cfg, const char *fmt, ...)
	OFFSERV_PRINTF(2, 3);

static offserv_status add_warning(struct offserv_config *cfg, const char *fmt, ...)
{
	char buf[512];
	char **nw;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	nw = realloc(cfg->warnings, (cfg->nwarnings + 1) * sizeof(*nw));
	if (!nw)
		return OFFSERV_E_OUTOFMEMORY;
	cfg->warnings = nw;
	nw[cfg->nwarnings] = strdup(buf);
	if (!nw[cfg->nwarnings])
		return OFFSERV_E_OUTOFMEMORY;
	cfg->nwarnings++;
	return OFFSERV_OK;
}

/* ---- the pre-scan ---- */

struct seen_key {
	char *name; /* "section:key", lower case */
	unsigned line;
};

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		e--;
	*e = '\0';
	return s;
}

static void lower(char *s)
{
	for (; *s; s++)
		*s = (char)tolower((unsigned char)*s);
}

/*
 * Check encoding and line lengths, warn about duplicate keys and keys
 * outside any section.  @p data is modified.
 */
static offserv_status prescan(struct offserv_config *cfg, const char *path, char *data,
                              size_t len, char *err, size_t errlen)
{
	const unsigned char *u = (const unsigned char *)data;
	struct seen_key *seen = NULL;
	size_t nseen = 0;
	char section[LINE_MAX_BYTES + 1] = "";
	offserv_status st = OFFSERV_OK;
	bool continued = false;
	unsigned lineno = 0;
	char *line, *next;

	if (len >= 3 && u[0] == 0xef && u[1] == 0xbb && u[2] == 0xbf) {
		offserv_set_error(err, errlen,
		                  "%s: the file starts with a UTF-8 byte order mark; "
		                  "save it as UTF-8 without BOM", path);
		return OFFSERV_E_BAD_CONFIG;
	}
	if ((len >= 2 && ((u[0] == 0xff && u[1] == 0xfe) || (u[0] == 0xfe && u[1] == 0xff))) ||
	    memchr(data, '\0', len)) {
		offserv_set_error(err, errlen,
		                  "%s: the file is UTF-16 or binary (it contains NUL bytes); "
		                  "save it as UTF-8 without BOM", path);
		return OFFSERV_E_BAD_CONFIG;
	}
	for (line = data; line && *line; line = next) {
		size_t llen, tlen;
		char *t, *eq;

		lineno++;
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		llen = strlen(line);
		if (!offserv_utf8_valid(line, llen)) {
			offserv_set_error(err, errlen, "%s:%u: the line is not valid UTF-8", path,
			                  lineno);
			st = OFFSERV_E_BAD_CONFIG;
			break;
		}
		if (llen > LINE_MAX_BYTES) {
			offserv_set_error(err, errlen, "%s:%u: line of %zu bytes, the limit is %d",
			                  path, lineno, llen, LINE_MAX_BYTES);
			st = OFFSERV_E_BAD_CONFIG;
			break;
		}
		t = trim(line);
		tlen = strlen(t);
		if (continued) {
			continued = tlen > 0 && t[tlen - 1] == '\\';
			continue;
		}
		if (*t == '\0' || *t == ';' || *t == '#')
			continue;
		continued = t[tlen - 1] == '\\';
		if (*t == '[') {
			char *close = strchr(t, ']');

			if (close) {
				*close = '\0';
				snprintf(section, sizeof(section), "%s", trim(t + 1));
				lower(section);
				if (strchr(section, ':')) {
					offserv_set_error(err, errlen,
					                  "%s:%u: section name \"%s\" contains ':'", path,
					                  lineno, section);
					st = OFFSERV_E_BAD_CONFIG;
					break;
				}
			}
			continue;
		}
		eq = strchr(t, '=');
		if (!eq)
			continue; /* iniparser reports the syntax error */
		*eq = '\0';
		t = trim(t);
		lower(t);
		if (section[0] == '\0') {
			st = add_warning(cfg, "%s:%u: key \"%s\" outside any section is ignored", path,
			                 lineno, t);
			if (st != OFFSERV_OK)
				break;
			continue;
		}
		{
			size_t n = strlen(section) + strlen(t) + 2;
			char *full = malloc(n);
			struct seen_key *ns;

			if (!full) {
				st = OFFSERV_E_OUTOFMEMORY;
				break;
			}
			snprintf(full, n, "%s:%s", section, t);
			for (size_t i = 0; i < nseen; i++) {
				if (strcmp(seen[i].name, full) == 0) {
					st = add_warning(cfg,
					                 "%s:%u: [%s] %s is set again (line %u); the last value is used",
					                 path, lineno, section, t, seen[i].line);
					break;
				}
			}
			ns = st == OFFSERV_OK ? realloc(seen, (nseen + 1) * sizeof(*seen)) : NULL;
			if (!ns) {
				free(full);
				if (st == OFFSERV_OK)
					st = OFFSERV_E_OUTOFMEMORY;
				break;
			}
			seen = ns;
			seen[nseen].name = full;
			seen[nseen].line = lineno;
			nseen++;
		}
	}
	for (size_t i = 0; i < nseen; i++)
		free(seen[i].name);
	free(seen);
	if (st == OFFSERV_E_OUTOFMEMORY)
		offserv_set_error(err, errlen, "%s: out of memory", path);
	return st;
}

/* ---- value parsing ---- */

/* Strict unsigned decimal: digits only, no sign, no leading zero, no overflow. */
static bool parse_uint(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (!*s || (s[0] == '0' && s[1] != '\0'))
		return false;
	for (; *s; s++) {
		uint64_t d;

		if (*s < '0' || *s > '9')
			return false;
		d = (uint64_t)(*s - '0');
		if (v > max / 10)
			return false;
		v *= 10;
		if (d > max - v)
			return false;
		v += d;
	}
	*out = v;
	return true;
}

/* Digits with an optional K, M or G suffix (powers of 1024). */
static bool parse_size(const char *s, uint64_t *out)
{
	size_t n = strlen(s);
	uint64_t mult = 1, v;
	char digits[32];

	if (n == 0 || n >= sizeof(digits))
		return false;
	switch (s[n - 1]) {
	case 'K':
	case 'k':
		mult = 1024;
		break;
	case 'M':
	case 'm':
		mult = 1024 * 1024;
		break;
	case 'G':
	case 'g':
		mult = 1024 * 1024 * 1024;
		break;
	default:
		break;
	}
	memcpy(digits, s, n + 1);
	if (mult != 1)
		digits[n - 1] = '\0';
	if (!parse_uint(digits, UINT64_MAX / mult, &v))
		return false;
	*out = v * mult;
	return true;
}

static char *strip_slashes(const char *s)
{
	char *r = strdup(s);
	size_t n;

	if (!r)
		return NULL;
	n = strlen(r);
	while (n > 1 && r[n - 1] == '/')
		r[--n] = '\0';
	return r;
}

static bool has_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

/* The error message for a bad value. */
static offserv_status bad_value(const struct offserv_config *cfg, char *err, size_t errlen,
                                const char *section, const char *key, const char *value,
                                const char *expect)
{
	offserv_set_error(err, errlen, "%s: [%s] %s = \"%s\": %s", cfg->source, section, key,
	                  value, expect);
	return OFFSERV_E_BAD_CONFIG;
}

/*
 * A path value: absolute, or (when @p base is given) relative to @p base.
 * *out keeps its default when the key is absent.
 */
static offserv_status get_path(struct offserv_config *cfg, const char *section,
                               const char *key, const char *base, char **out, char *err,
                               size_t errlen)
{
	char full[256];
	const char *v;
	char *r;

	snprintf(full, sizeof(full), "%s:%s", section, key);
	v = iniparser_getstring(cfg->ini, full, NULL);
	if (!v)
		return OFFSERV_OK;
	if (!*v)
		return bad_value(cfg, err, errlen, section, key, v, "empty path");
	if (has_control(v))
		return bad_value(cfg, err, errlen, section, key, v,
		                 "control characters in a path");
	if (v[0] == '/') {
		r = strip_slashes(v);
	} else if (base) {
		char *tmp = offserv_path_join(base, v);

		r = tmp ? strip_slashes(tmp) : NULL;
		free(tmp);
	} else {
		return bad_value(cfg, err, errlen, section, key, v, "an absolute path is required");
	}
	if (!r) {
		offserv_set_error(err, errlen, "%s: out of memory", cfg->source);
		return OFFSERV_E_OUTOFMEMORY;
	}
	free(*out);
	*out = r;
	return OFFSERV_OK;
}

static offserv_status get_uint(struct offserv_config *cfg, const char *section,
                               const char *key, uint64_t min, uint64_t max, unsigned *out,
                               char *err, size_t errlen)
{
	char full[256], expect[96];
	const char *v;
	uint64_t n;

	snprintf(full, sizeof(full), "%s:%s", section, key);
	v = iniparser_getstring(cfg->ini, full, NULL);
	if (!v)
		return OFFSERV_OK;
	if (!parse_uint(v, UINT32_MAX, &n) || n < min || n > max) {
		snprintf(expect, sizeof(expect), "expected a whole number from %" PRIu64 " to %" PRIu64,
		         min, max);
		return bad_value(cfg, err, errlen, section, key, v, expect);
	}
	*out = (unsigned)n;
	return OFFSERV_OK;
}

static const char *get_raw(const struct offserv_config *cfg, const char *section,
                           const char *key)
{
	char full[256];

	if (!cfg->ini)
		return NULL;
	snprintf(full, sizeof(full), "%s:%s", section, key);
	return iniparser_getstring(cfg->ini, full, NULL);
}

static offserv_status set_defaults(struct offserv_config *cfg)
{
	strcpy(cfg->site_code, DEFAULT_SITE_CODE);
	cfg->root = strdup(DEFAULT_ROOT);
	cfg->drive = strdup("Automatic");
	cfg->plugin_directory = strdup(OFFSERV_PLUGINDIR);
	cfg->workers = 2;
	cfg->compaction = 25;
	cfg->log_max_size = OFFSERV_LOG_DEFAULT_MAX_SIZE;
	cfg->log_history = 1;
	cfg->log_level = OFFSERV_LOG_INFO;
	cfg->log_format = OFFSERV_LOGFMT_TRACE;
	if (!cfg->root || !cfg->drive || !cfg->plugin_directory)
		return OFFSERV_E_OUTOFMEMORY;
	return OFFSERV_OK;
}

/* Paths derived from root, unless set. */
static offserv_status derive_paths(struct offserv_config *cfg)
{
	if (!cfg->content_library)
		cfg->content_library = offserv_path_join(cfg->root, "ContentLibrary");
	if (!cfg->database)
		cfg->database = offserv_path_join(cfg->root, "site.db");
	if (!cfg->log_directory)
		cfg->log_directory = offserv_path_join(cfg->root, "Logs");
	if (!cfg->content_library || !cfg->database || !cfg->log_directory)
		return OFFSERV_E_OUTOFMEMORY;
	return OFFSERV_OK;
}

struct known_section {
	const char *name;
	const char *const *keys;
};

static const char *const site_keys[] = {"code", "root", "content_library", "database", NULL};
static const char *const servicing_keys[] = {"drive", "workers", "compaction_threshold_percent",
                                             NULL};
static const char *const logging_keys[] = {"directory", "max_size", "history", "level",
                                           "format", NULL};
static const char *const plugins_keys[] = {"directory", NULL};

static const struct known_section known_sections[] = {
	{"site", site_keys},
	{"offline_servicing", servicing_keys},
	{"logging", logging_keys},
	{"plugins", plugins_keys},
};

static offserv_status warn_unknown(struct offserv_config *cfg)
{
	int nsec = iniparser_getnsec(cfg->ini);

	for (int i = 0; i < nsec; i++) {
		const char *sec = iniparser_getsecname(cfg->ini, i);
		const struct known_section *ks = NULL;
		const char **keys;
		int nkeys;
		offserv_status st = OFFSERV_OK;

		if (!sec)
			continue;
		if (strncmp(sec, "plugin.", 7) == 0 || strncmp(sec, "dp.", 3) == 0) {
			if (sec[sec[0] == 'p' ? 7 : 3] == '\0')
				st = add_warning(cfg, "%s: section [%s] names no %s and is ignored",
				                 cfg->source, sec,
				                 sec[0] == 'p' ? "plugin" : "distribution point");
			if (st != OFFSERV_OK)
				return st;
			continue;
		}
		for (size_t k = 0; k < sizeof(known_sections) / sizeof(known_sections[0]); k++)
			if (strcmp(sec, known_sections[k].name) == 0)
				ks = &known_sections[k];
		if (!ks) {
			st = add_warning(cfg, "%s: unknown section [%s] is ignored", cfg->source, sec);
			if (st != OFFSERV_OK)
				return st;
			continue;
		}
		nkeys = iniparser_getsecnkeys(cfg->ini, sec);
		if (nkeys <= 0)
			continue;
		keys = calloc((size_t)nkeys, sizeof(*keys));
		if (!keys)
			return OFFSERV_E_OUTOFMEMORY;
		if (iniparser_getseckeys(cfg->ini, sec, keys)) {
			for (int j = 0; j < nkeys && st == OFFSERV_OK; j++) {
				const char *key = strchr(keys[j], ':');
				bool known = false;

				key = key ? key + 1 : keys[j];
				for (const char *const *kk = ks->keys; *kk; kk++)
					if (strcmp(*kk, key) == 0)
						known = true;
				if (!known)
					st = add_warning(cfg, "%s: unknown key \"%s\" in [%s] is ignored",
					                 cfg->source, key, sec);
			}
		}
		free(keys);
		if (st != OFFSERV_OK)
			return st;
	}
	return OFFSERV_OK;
}

static offserv_status validate(struct offserv_config *cfg, char *err, size_t errlen)
{
	offserv_status st;
	const char *v;
	uint64_t n;

	/* [site] */
	v = get_raw(cfg, "site", "code");
	if (v) {
		if (strlen(v) != 3 || !isalnum((unsigned char)v[0]) ||
		    !isalnum((unsigned char)v[1]) || !isalnum((unsigned char)v[2]) ||
		    ((unsigned char)v[0] | (unsigned char)v[1] | (unsigned char)v[2]) >= 0x80)
			return bad_value(cfg, err, errlen, "site", "code", v,
			                 "expected three letters or digits");
		for (int i = 0; i < 3; i++)
			cfg->site_code[i] = (char)toupper((unsigned char)v[i]);
		cfg->site_code[3] = '\0';
	}
	st = get_path(cfg, "site", "root", NULL, &cfg->root, err, errlen);
	if (st == OFFSERV_OK)
		st = get_path(cfg, "site", "content_library", cfg->root, &cfg->content_library, err,
		              errlen);
	if (st == OFFSERV_OK)
		st = get_path(cfg, "site", "database", cfg->root, &cfg->database, err, errlen);
	if (st != OFFSERV_OK)
		return st;

	/* [offline_servicing] */
	v = get_raw(cfg, "offline_servicing", "drive");
	if (v) {
		if (strcasecmp(v, "automatic") == 0) {
			/* keep the default spelling */
		} else if (v[0] == '/' && !has_control(v)) {
			free(cfg->drive);
			cfg->drive = strip_slashes(v);
			if (!cfg->drive)
				return OFFSERV_E_OUTOFMEMORY;
		} else {
			return bad_value(cfg, err, errlen, "offline_servicing", "drive", v,
			                 "expected Automatic or an absolute path");
		}
	}
	st = get_uint(cfg, "offline_servicing", "workers", 1, 64, &cfg->workers, err, errlen);
	if (st == OFFSERV_OK)
		st = get_uint(cfg, "offline_servicing", "compaction_threshold_percent", 0, 100,
		              &cfg->compaction, err, errlen);
	if (st != OFFSERV_OK)
		return st;

	/* [logging] */
	st = get_path(cfg, "logging", "directory", cfg->root, &cfg->log_directory, err, errlen);
	if (st != OFFSERV_OK)
		return st;
	v = get_raw(cfg, "logging", "max_size");
	if (v) {
		if (!parse_size(v, &n) || n < 1024 || n > 1024ULL * 1024 * 1024)
			return bad_value(cfg, err, errlen, "logging", "max_size", v,
			                 "expected a size in bytes from 1024 to 1G "
			                 "(digits, optionally followed by K, M or G)");
		cfg->log_max_size = n;
	}
	st = get_uint(cfg, "logging", "history", 0, 99, &cfg->log_history, err, errlen);
	if (st != OFFSERV_OK)
		return st;
	v = get_raw(cfg, "logging", "level");
	if (v) {
		static const char *const names[] = {"error", "warning", "info", "debug"};
		int level = 0;

		for (int i = 0; i < 4; i++)
			if (strcasecmp(v, names[i]) == 0)
				level = i + 1;
		if (level == 0 && parse_uint(v, 4, &n) && n >= 1)
			level = (int)n;
		if (level == 0)
			return bad_value(cfg, err, errlen, "logging", "level", v,
			                 "expected 1 to 4, or error, warning, info or debug");
		cfg->log_level = level;
	}
	v = get_raw(cfg, "logging", "format");
	if (v) {
		if (strcasecmp(v, "trace") == 0)
			cfg->log_format = OFFSERV_LOGFMT_TRACE;
		else if (strcasecmp(v, "ccm") == 0)
			cfg->log_format = OFFSERV_LOGFMT_CCM;
		else
			return bad_value(cfg, err, errlen, "logging", "format", v,
			                 "expected trace or ccm");
	}

	/* [plugins] */
	return get_path(cfg, "plugins", "directory", NULL, &cfg->plugin_directory, err, errlen);
}

static offserv_status load_ini(struct offserv_config *cfg, char *err, size_t errlen)
{
	char msg[sizeof(ini_load_msg)];

	pthread_mutex_lock(&ini_load_lock);
	ini_load_msg[0] = '\0';
	iniparser_set_error_callback(ini_error_capture);
	cfg->ini = iniparser_load(cfg->source);
	iniparser_set_error_callback(NULL);
	tidy_ini_message(ini_load_msg, msg, sizeof(msg));
	pthread_mutex_unlock(&ini_load_lock);
	if (!cfg->ini) {
		if (msg[0])
			offserv_set_error(err, errlen, "%s: %s", cfg->source, msg);
		else
			offserv_set_error(err, errlen, "%s: the file could not be parsed", cfg->source);
		return OFFSERV_E_BAD_CONFIG;
	}
	return OFFSERV_OK;
}

offserv_status offserv_config_load(const char *path, struct offserv_config **out, char *err,
                                   size_t errlen)
{
	struct offserv_config *cfg;
	bool explicit_path = true;
	offserv_status st;
	char *data = NULL;
	size_t len = 0;

	if (!out)
		return OFFSERV_E_INVALIDARG;
	*out = NULL;
	if (!path) {
		const char *env = getenv(OFFSERV_CONFIG_ENV);

		if (env && *env) {
			path = env;
		} else {
			path = DEFAULT_CONFIG_PATH;
			explicit_path = false;
		}
	}
	cfg = calloc(1, sizeof(*cfg));
	if (!cfg) {
		offserv_set_error(err, errlen, "out of memory");
		return OFFSERV_E_OUTOFMEMORY;
	}
	st = set_defaults(cfg);
	if (st != OFFSERV_OK)
		goto oom;

	st = offserv_read_file(path, OFFSERV_CONFIG_MAX_BYTES, &data, &len, err, errlen);
	if (st == OFFSERV_E_FILE_NOT_FOUND && !explicit_path) {
		/* No file at the default location: built-in defaults. */
		st = derive_paths(cfg);
		if (st != OFFSERV_OK)
			goto oom;
		if (err && errlen)
			err[0] = '\0';
		*out = cfg;
		return OFFSERV_OK;
	}
	if (st != OFFSERV_OK) {
		if (st == OFFSERV_E_INVALID_DATA)
			st = OFFSERV_E_BAD_CONFIG;
		goto fail;
	}
	cfg->source = strdup(path);
	if (!cfg->source)
		goto oom;
	st = prescan(cfg, path, data, len, err, errlen);
	free(data);
	data = NULL;
	if (st != OFFSERV_OK)
		goto fail;
	st = load_ini(cfg, err, errlen);
	if (st == OFFSERV_OK)
		st = warn_unknown(cfg);
	if (st == OFFSERV_E_OUTOFMEMORY)
		goto oom;
	if (st == OFFSERV_OK)
		st = validate(cfg, err, errlen);
	if (st == OFFSERV_OK)
		st = derive_paths(cfg);
	if (st == OFFSERV_E_OUTOFMEMORY)
		goto oom;
	if (st != OFFSERV_OK)
		goto fail;
	*out = cfg;
	return OFFSERV_OK;
oom:
	st = OFFSERV_E_OUTOFMEMORY;
	offserv_set_error(err, errlen, "%s: out of memory", path);
fail:
	free(data);
	offserv_config_free(cfg);
	return st;
}

void offserv_config_free(struct offserv_config *cfg)
{
	if (!cfg)
		return;
	if (cfg->ini)
		iniparser_freedict(cfg->ini);
	free(cfg->source);
	free(cfg->root);
	free(cfg->content_library);
	free(cfg->database);
	free(cfg->drive);
	free(cfg->log_directory);
	free(cfg->plugin_directory);
	for (size_t i = 0; i < cfg->nwarnings; i++)
		free(cfg->warnings[i]);
	free(cfg->warnings);
	free(cfg);
}

const char *offserv_config_source(const struct offserv_config *cfg)
{
	return cfg->source;
}

const char *offserv_config_site_code(const struct offserv_config *cfg)
{
	return cfg->site_code;
}

const char *offserv_config_site_root(const struct offserv_config *cfg)
{
	return cfg->root;
}

const char *offserv_config_content_library(const struct offserv_config *cfg)
{
	return cfg->content_library;
}

const char *offserv_config_database(const struct offserv_config *cfg)
{
	return cfg->database;
}

const char *offserv_config_drive(const struct offserv_config *cfg)
{
	return cfg->drive;
}

unsigned offserv_config_workers(const struct offserv_config *cfg)
{
	return cfg->workers;
}

unsigned offserv_config_compaction_threshold(const struct offserv_config *cfg)
{
	return cfg->compaction;
}

const char *offserv_config_log_directory(const struct offserv_config *cfg)
{
	return cfg->log_directory;
}

uint64_t offserv_config_log_max_size(const struct offserv_config *cfg)
{
	return cfg->log_max_size;
}

unsigned offserv_config_log_history(const struct offserv_config *cfg)
{
	return cfg->log_history;
}

int offserv_config_log_level(const struct offserv_config *cfg)
{
	return cfg->log_level;
}

enum offserv_logfmt offserv_config_log_format(const struct offserv_config *cfg)
{
	return cfg->log_format;
}

const char *offserv_config_plugin_directory(const struct offserv_config *cfg)
{
	return cfg->plugin_directory;
}

/* Lower-cased "section:key" into @p buf; false when it does not fit. */
static bool make_key(char *buf, size_t len, const char *section, const char *key)
{
	int n = snprintf(buf, len, "%s:%s", section, key);

	if (n < 0 || (size_t)n >= len)
		return false;
	lower(buf);
	return true;
}

const char *offserv_config_get(const struct offserv_config *cfg, const char *section,
                               const char *key)
{
	char full[512];

	if (!cfg || !cfg->ini || !section || !key || !*key)
		return NULL;
	if (!make_key(full, sizeof(full), section, key))
		return NULL;
	/* A section's own entry has no value: getstring returns NULL for it. */
	return iniparser_getstring(cfg->ini, full, NULL);
}

int offserv_config_foreach_section(const struct offserv_config *cfg, const char *prefix,
                                   offserv_config_section_cb cb, void *ctx)
{
	size_t plen = prefix ? strlen(prefix) : 0;
	int nsec;

	if (!cfg || !cfg->ini || !cb)
		return 0;
	nsec = iniparser_getnsec(cfg->ini);
	for (int i = 0; i < nsec; i++) {
		const char *sec = iniparser_getsecname(cfg->ini, i);
		int rc;

		if (!sec || (plen && strncasecmp(sec, prefix, plen) != 0))
			continue;
		rc = cb(sec, ctx);
		if (rc != 0)
			return rc;
	}
	return 0;
}

int offserv_config_foreach_key(const struct offserv_config *cfg, const char *section,
                               offserv_config_key_cb cb, void *ctx)
{
	char sec[256];
	const char **keys;
	int nkeys, rc = 0;

	if (!cfg || !cfg->ini || !section || !cb)
		return 0;
	if (snprintf(sec, sizeof(sec), "%s", section) >= (int)sizeof(sec))
		return 0;
	lower(sec);
	if (iniparser_find_entry(cfg->ini, sec) == 0)
		return 0;
	nkeys = iniparser_getsecnkeys(cfg->ini, sec);
	if (nkeys <= 0)
		return 0;
	keys = calloc((size_t)nkeys, sizeof(*keys));
	if (!keys)
		return 0;
	if (iniparser_getseckeys(cfg->ini, sec, keys)) {
		for (int i = 0; i < nkeys && rc == 0; i++) {
			const char *v = iniparser_getstring(cfg->ini, keys[i], NULL);
			const char *k = keys[i] + strlen(sec);

			if (*k == ':')
				k++;
			rc = cb(k, v ? v : "", ctx);
		}
	}
	free(keys);
	return rc;
}

size_t offserv_config_warning_count(const struct offserv_config *cfg)
{
	return cfg ? cfg->nwarnings : 0;
}

const char *offserv_config_warning(const struct offserv_config *cfg, size_t i)
{
	if (!cfg || i >= cfg->nwarnings)
		return NULL;
	return cfg->warnings[i];
}

static int dump_key(const char *key, const char *value, void *ctx)
{
	fprintf((FILE *)ctx, "%s = %s\n", key, value);
	return 0;
}

struct dump_ctx {
	const struct offserv_config *cfg;
	FILE *fp;
};

static int dump_raw_section(const char *section, void *ctx)
{
	struct dump_ctx *d = ctx;

	if (strncmp(section, "plugin.", 7) != 0 && strncmp(section, "dp.", 3) != 0)
		return 0;
	fprintf(d->fp, "\n[%s]\n", section);
	return offserv_config_foreach_key(d->cfg, section, dump_key, d->fp);
}

void offserv_config_dump(const struct offserv_config *cfg, FILE *fp)
{
	static const char *const levels[] = {"", "error", "warning", "info", "debug"};
	struct dump_ctx d = {cfg, fp};

	fprintf(fp, "; effective configuration, from %s\n",
	        cfg->source ? cfg->source : "the built-in defaults");
	fprintf(fp, "\n[site]\ncode = %s\nroot = %s\ncontent_library = %s\ndatabase = %s\n",
	        cfg->site_code, cfg->root, cfg->content_library, cfg->database);
	fprintf(fp, "\n[offline_servicing]\ndrive = %s\nworkers = %u\n"
	            "compaction_threshold_percent = %u\n",
	        cfg->drive, cfg->workers, cfg->compaction);
	fprintf(fp, "\n[logging]\ndirectory = %s\nmax_size = %" PRIu64 "\nhistory = %u\n"
	            "level = %s\nformat = %s\n",
	        cfg->log_directory, cfg->log_max_size, cfg->log_history,
	        cfg->log_level >= 1 && cfg->log_level <= 4 ? levels[cfg->log_level] : "info",
	        cfg->log_format == OFFSERV_LOGFMT_CCM ? "ccm" : "trace");
	fprintf(fp, "\n[plugins]\ndirectory = %s\n", cfg->plugin_directory);
	offserv_config_foreach_section(cfg, NULL, dump_raw_section, &d);
}
