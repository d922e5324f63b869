/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The command line of the dism program: DISM's syntax, checked per command. */
#include <config.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <offserv/util.h>

#include "dism/args.h"

#define BIT(o) (UINT64_C(1) << (o))

struct opt_def {
	const char *name;
	const char *alias; /* legacy spelling, or NULL */
	int takes_value;
	int multi; /* may repeat (kept in order) */
	int global;
};

static const struct opt_def opt_defs[DISM_OPT_COUNT] = {
	[DISM_OPT_IMAGE] = {"Image", NULL, 1, 0, 1},
	[DISM_OPT_ONLINE] = {"Online", NULL, 0, 0, 1},
	[DISM_OPT_LOGPATH] = {"LogPath", NULL, 1, 0, 1},
	[DISM_OPT_LOGLEVEL] = {"LogLevel", NULL, 1, 0, 1},
	[DISM_OPT_SCRATCHDIR] = {"ScratchDir", NULL, 1, 0, 1},
	[DISM_OPT_ENGLISH] = {"English", NULL, 0, 0, 1},
	[DISM_OPT_QUIET] = {"Quiet", NULL, 0, 0, 1},
	[DISM_OPT_NORESTART] = {"NoRestart", NULL, 0, 0, 1},
	[DISM_OPT_FORMAT] = {"Format", NULL, 1, 0, 1},
	[DISM_OPT_WINDIR] = {"WinDir", NULL, 1, 0, 1},
	[DISM_OPT_SYSDRIVEDIR] = {"SysDriveDir", NULL, 1, 0, 1},
	[DISM_OPT_CRLF] = {"CRLF", NULL, 0, 0, 1},
	[DISM_OPT_EXITCODEFILE] = {"ExitCodeFile", NULL, 1, 0, 1},
	[DISM_OPT_IMAGEFILE] = {"ImageFile", "WimFile", 1, 0, 0},
	[DISM_OPT_INDEX] = {"Index", NULL, 1, 0, 0},
	[DISM_OPT_NAME] = {"Name", NULL, 1, 0, 0},
	[DISM_OPT_MOUNTDIR] = {"MountDir", NULL, 1, 0, 0},
	[DISM_OPT_READONLY] = {"ReadOnly", NULL, 0, 0, 0},
	[DISM_OPT_OPTIMIZE] = {"Optimize", NULL, 0, 0, 0},
	[DISM_OPT_CHECKINTEGRITY] = {"CheckIntegrity", NULL, 0, 0, 0},
	[DISM_OPT_COMMIT] = {"Commit", NULL, 0, 0, 0},
	[DISM_OPT_DISCARD] = {"Discard", NULL, 0, 0, 0},
	[DISM_OPT_APPEND] = {"Append", NULL, 0, 0, 0},
	[DISM_OPT_SOURCEIMAGEFILE] = {"SourceImageFile", NULL, 1, 0, 0},
	[DISM_OPT_SOURCEINDEX] = {"SourceIndex", NULL, 1, 0, 0},
	[DISM_OPT_SOURCENAME] = {"SourceName", NULL, 1, 0, 0},
	[DISM_OPT_DESTINATIONIMAGEFILE] = {"DestinationImageFile", NULL, 1, 0, 0},
	[DISM_OPT_DESTINATIONNAME] = {"DestinationName", NULL, 1, 0, 0},
	[DISM_OPT_COMPRESS] = {"Compress", NULL, 1, 0, 0},
	[DISM_OPT_BOOTABLE] = {"Bootable", NULL, 0, 0, 0},
	[DISM_OPT_PACKAGENAME] = {"PackageName", NULL, 1, 1, 0},
	[DISM_OPT_PACKAGEPATH] = {"PackagePath", NULL, 1, 1, 0},
	[DISM_OPT_IGNORECHECK] = {"IgnoreCheck", NULL, 0, 0, 0},
	[DISM_OPT_PREVENTPENDING] = {"PreventPending", NULL, 0, 0, 0},
	[DISM_OPT_REVERTPENDINGACTIONS] = {"RevertPendingActions", NULL, 0, 0, 0},
	[DISM_OPT_STARTCOMPONENTCLEANUP] = {"StartComponentCleanup", NULL, 0, 0, 0},
	[DISM_OPT_RESETBASE] = {"ResetBase", NULL, 0, 0, 0},
	[DISM_OPT_ANALYZECOMPONENTSTORE] = {"AnalyzeComponentStore", NULL, 0, 0, 0},
};

/* Options only meaningful with a servicing target. */
#define TARGET_OPTS (BIT(DISM_OPT_IMAGE) | BIT(DISM_OPT_ONLINE) | BIT(DISM_OPT_WINDIR) | \
                     BIT(DISM_OPT_SYSDRIVEDIR))

struct verb_def {
	const char *name;
	const char *aliases[2];
	uint64_t allowed;    /* command options accepted (globals are always accepted) */
	uint64_t required;   /* each of these must be given */
	uint64_t one_of;     /* exactly one of these must be given (0: no rule) */
	uint64_t at_most_one; /* no two of these together */
	int needs_target;    /* /Image or /Online */
};

static const struct verb_def verb_defs[DISM_VERB_COUNT] = {
	[DISM_VERB_NONE] = {"", {NULL, NULL}, 0, 0, 0, 0, 0},
	[DISM_VERB_GET_IMAGEINFO] = {"Get-ImageInfo", {"Get-WimInfo", NULL},
	                             BIT(DISM_OPT_IMAGEFILE) | BIT(DISM_OPT_INDEX) | BIT(DISM_OPT_NAME),
	                             BIT(DISM_OPT_IMAGEFILE), 0,
	                             BIT(DISM_OPT_INDEX) | BIT(DISM_OPT_NAME), 0},
	[DISM_VERB_EXPORT_IMAGE] = {"Export-Image", {NULL, NULL},
	                            BIT(DISM_OPT_SOURCEIMAGEFILE) | BIT(DISM_OPT_SOURCEINDEX) |
	                                BIT(DISM_OPT_SOURCENAME) | BIT(DISM_OPT_DESTINATIONIMAGEFILE) |
	                                BIT(DISM_OPT_DESTINATIONNAME) | BIT(DISM_OPT_COMPRESS) |
	                                BIT(DISM_OPT_BOOTABLE) | BIT(DISM_OPT_CHECKINTEGRITY),
	                            BIT(DISM_OPT_SOURCEIMAGEFILE) | BIT(DISM_OPT_DESTINATIONIMAGEFILE),
	                            BIT(DISM_OPT_SOURCEINDEX) | BIT(DISM_OPT_SOURCENAME), 0, 0},
	[DISM_VERB_MOUNT_IMAGE] = {"Mount-Image", {"Mount-Wim", NULL},
	                           BIT(DISM_OPT_IMAGEFILE) | BIT(DISM_OPT_INDEX) | BIT(DISM_OPT_NAME) |
	                               BIT(DISM_OPT_MOUNTDIR) | BIT(DISM_OPT_READONLY) |
	                               BIT(DISM_OPT_OPTIMIZE) | BIT(DISM_OPT_CHECKINTEGRITY),
	                           BIT(DISM_OPT_IMAGEFILE) | BIT(DISM_OPT_MOUNTDIR),
	                           BIT(DISM_OPT_INDEX) | BIT(DISM_OPT_NAME), 0, 0},
	[DISM_VERB_UNMOUNT_IMAGE] = {"Unmount-Image", {"Unmount-Wim", NULL},
	                             BIT(DISM_OPT_MOUNTDIR) | BIT(DISM_OPT_COMMIT) |
	                                 BIT(DISM_OPT_DISCARD) | BIT(DISM_OPT_CHECKINTEGRITY) |
	                                 BIT(DISM_OPT_APPEND),
	                             BIT(DISM_OPT_MOUNTDIR),
	                             BIT(DISM_OPT_COMMIT) | BIT(DISM_OPT_DISCARD), 0, 0},
	[DISM_VERB_COMMIT_IMAGE] = {"Commit-Image", {"Commit-Wim", NULL},
	                            BIT(DISM_OPT_MOUNTDIR) | BIT(DISM_OPT_CHECKINTEGRITY) |
	                                BIT(DISM_OPT_APPEND),
	                            BIT(DISM_OPT_MOUNTDIR), 0, 0, 0},
	[DISM_VERB_REMOUNT_IMAGE] = {"Remount-Image", {"Remount-Wim", NULL}, BIT(DISM_OPT_MOUNTDIR),
	                             BIT(DISM_OPT_MOUNTDIR), 0, 0, 0},
	[DISM_VERB_GET_MOUNTEDIMAGEINFO] = {"Get-MountedImageInfo", {"Get-MountedWimInfo", NULL},
	                                    0, 0, 0, 0, 0},
	[DISM_VERB_CLEANUP_MOUNTPOINTS] = {"Cleanup-Mountpoints", {"Cleanup-Wim", NULL}, 0, 0, 0, 0,
	                                   0},
	[DISM_VERB_GET_PACKAGES] = {"Get-Packages", {NULL, NULL}, 0, 0, 0, 0, 1},
	[DISM_VERB_GET_PACKAGEINFO] = {"Get-PackageInfo", {NULL, NULL},
	                               BIT(DISM_OPT_PACKAGENAME) | BIT(DISM_OPT_PACKAGEPATH), 0,
	                               BIT(DISM_OPT_PACKAGENAME) | BIT(DISM_OPT_PACKAGEPATH), 0, 1},
	[DISM_VERB_ADD_PACKAGE] = {"Add-Package", {NULL, NULL},
	                           BIT(DISM_OPT_PACKAGEPATH) | BIT(DISM_OPT_IGNORECHECK) |
	                               BIT(DISM_OPT_PREVENTPENDING),
	                           BIT(DISM_OPT_PACKAGEPATH), 0, 0, 1},
	/* Several /PackageName and /PackagePath, mixed, in order: checked in validate(). */
	[DISM_VERB_REMOVE_PACKAGE] = {"Remove-Package", {NULL, NULL},
	                              BIT(DISM_OPT_PACKAGENAME) | BIT(DISM_OPT_PACKAGEPATH), 0, 0, 0,
	                              1},
	[DISM_VERB_CLEANUP_IMAGE] = {"Cleanup-Image", {NULL, NULL},
	                             BIT(DISM_OPT_REVERTPENDINGACTIONS) |
	                                 BIT(DISM_OPT_STARTCOMPONENTCLEANUP) | BIT(DISM_OPT_RESETBASE) |
	                                 BIT(DISM_OPT_ANALYZECOMPONENTSTORE),
	                             0,
	                             BIT(DISM_OPT_REVERTPENDINGACTIONS) |
	                                 BIT(DISM_OPT_STARTCOMPONENTCLEANUP) |
	                                 BIT(DISM_OPT_ANALYZECOMPONENTSTORE),
	                             0, 1},
};

const char *dism_verb_name(enum dism_verb verb)
{
	static const char *const slashed[DISM_VERB_COUNT] = {
		[DISM_VERB_NONE] = "",
		[DISM_VERB_GET_IMAGEINFO] = "/Get-ImageInfo",
		[DISM_VERB_EXPORT_IMAGE] = "/Export-Image",
		[DISM_VERB_MOUNT_IMAGE] = "/Mount-Image",
		[DISM_VERB_UNMOUNT_IMAGE] = "/Unmount-Image",
		[DISM_VERB_COMMIT_IMAGE] = "/Commit-Image",
		[DISM_VERB_REMOUNT_IMAGE] = "/Remount-Image",
		[DISM_VERB_GET_MOUNTEDIMAGEINFO] = "/Get-MountedImageInfo",
		[DISM_VERB_CLEANUP_MOUNTPOINTS] = "/Cleanup-Mountpoints",
		[DISM_VERB_GET_PACKAGES] = "/Get-Packages",
		[DISM_VERB_GET_PACKAGEINFO] = "/Get-PackageInfo",
		[DISM_VERB_ADD_PACKAGE] = "/Add-Package",
		[DISM_VERB_REMOVE_PACKAGE] = "/Remove-Package",
		[DISM_VERB_CLEANUP_IMAGE] = "/Cleanup-Image",
	};

	if ((unsigned)verb >= DISM_VERB_COUNT)
		return "";
	return slashed[verb];
}

const char *dism_opt_name(enum dism_opt opt)
{
	static const char *const slashed[DISM_OPT_COUNT] = {
		[DISM_OPT_IMAGE] = "/Image",
		[DISM_OPT_ONLINE] = "/Online",
		[DISM_OPT_LOGPATH] = "/LogPath",
		[DISM_OPT_LOGLEVEL] = "/LogLevel",
		[DISM_OPT_SCRATCHDIR] = "/ScratchDir",
		[DISM_OPT_ENGLISH] = "/English",
		[DISM_OPT_QUIET] = "/Quiet",
		[DISM_OPT_NORESTART] = "/NoRestart",
		[DISM_OPT_FORMAT] = "/Format",
		[DISM_OPT_WINDIR] = "/WinDir",
		[DISM_OPT_SYSDRIVEDIR] = "/SysDriveDir",
		[DISM_OPT_CRLF] = "/CRLF",
		[DISM_OPT_EXITCODEFILE] = "/ExitCodeFile",
		[DISM_OPT_IMAGEFILE] = "/ImageFile",
		[DISM_OPT_INDEX] = "/Index",
		[DISM_OPT_NAME] = "/Name",
		[DISM_OPT_MOUNTDIR] = "/MountDir",
		[DISM_OPT_READONLY] = "/ReadOnly",
		[DISM_OPT_OPTIMIZE] = "/Optimize",
		[DISM_OPT_CHECKINTEGRITY] = "/CheckIntegrity",
		[DISM_OPT_COMMIT] = "/Commit",
		[DISM_OPT_DISCARD] = "/Discard",
		[DISM_OPT_APPEND] = "/Append",
		[DISM_OPT_SOURCEIMAGEFILE] = "/SourceImageFile",
		[DISM_OPT_SOURCEINDEX] = "/SourceIndex",
		[DISM_OPT_SOURCENAME] = "/SourceName",
		[DISM_OPT_DESTINATIONIMAGEFILE] = "/DestinationImageFile",
		[DISM_OPT_DESTINATIONNAME] = "/DestinationName",
		[DISM_OPT_COMPRESS] = "/Compress",
		[DISM_OPT_BOOTABLE] = "/Bootable",
		[DISM_OPT_PACKAGENAME] = "/PackageName",
		[DISM_OPT_PACKAGEPATH] = "/PackagePath",
		[DISM_OPT_IGNORECHECK] = "/IgnoreCheck",
		[DISM_OPT_PREVENTPENDING] = "/PreventPending",
		[DISM_OPT_REVERTPENDINGACTIONS] = "/RevertPendingActions",
		[DISM_OPT_STARTCOMPONENTCLEANUP] = "/StartComponentCleanup",
		[DISM_OPT_RESETBASE] = "/ResetBase",
		[DISM_OPT_ANALYZECOMPONENTSTORE] = "/AnalyzeComponentStore",
	};

	if ((unsigned)opt >= DISM_OPT_COUNT)
		return "";
	return slashed[opt];
}

enum dism_verb dism_verb_lookup(const char *name)
{
	for (int v = 1; v < DISM_VERB_COUNT; v++) {
		if (strcasecmp(name, verb_defs[v].name) == 0)
			return (enum dism_verb)v;
		for (size_t i = 0; i < 2; i++)
			if (verb_defs[v].aliases[i] && strcasecmp(name, verb_defs[v].aliases[i]) == 0)
				return (enum dism_verb)v;
	}
	return DISM_VERB_NONE;
}

static int opt_lookup(const char *name)
{
	for (int o = 0; o < DISM_OPT_COUNT; o++) {
		if (strcasecmp(name, opt_defs[o].name) == 0)
			return o;
		if (opt_defs[o].alias && strcasecmp(name, opt_defs[o].alias) == 0)
			return o;
	}
	return -1;
}

void dism_args_free(struct dism_args *a)
{
	if (!a)
		return;
	for (int o = 0; o < DISM_OPT_COUNT; o++)
		free(a->value[o]);
	for (size_t i = 0; i < a->n_package_paths; i++)
		free(a->package_paths[i]);
	free(a->package_paths);
	for (size_t i = 0; i < a->n_package_names; i++)
		free(a->package_names[i]);
	free(a->package_names);
	free(a->package_refs);
	memset(a, 0, sizeof(*a));
	a->log_level = 3;
}

/* A value with its surrounding double quotes removed (a Windows-style argument). */
static char *unquote(const char *v)
{
	size_t n = strlen(v);

	if (n >= 1 && v[0] == '"') {
		v++;
		n--;
		if (n >= 1 && v[n - 1] == '"')
			n--;
	}
	return strndup(v, n);
}

static int parse_ulong(const char *s, unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long v;

	if (!s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v == 0 || v > max)
		return -1;
	*out = v;
	return 0;
}

static int one_of_names(uint64_t mask, char *buf, size_t len)
{
	size_t used = 0;
	int n = 0;

	buf[0] = '\0';
	for (int o = 0; o < DISM_OPT_COUNT; o++) {
		if (!(mask & BIT(o)))
			continue;
		int w = snprintf(buf + used, len - used, "%s%s", n ? " or " : "", dism_opt_name(o));
		if (w < 0 || (size_t)w >= len - used)
			break;
		used += (size_t)w;
		n++;
	}
	return n;
}

static offserv_status validate(struct dism_args *a, char *err, size_t errlen)
{
	const struct verb_def *vd = &verb_defs[a->verb];
	uint64_t given = 0;
	char names[256];

	for (int o = 0; o < DISM_OPT_COUNT; o++)
		if (a->present[o])
			given |= BIT(o);

	if (a->verb == DISM_VERB_NONE) {
		if (a->help)
			return OFFSERV_OK;
		offserv_set_error(err, errlen,
		                  "No command was specified. For more information, refer to the help by running dism /?.");
		return OFFSERV_E_INVALIDARG;
	}
	/* Options that the command does not take. */
	for (int o = 0; o < DISM_OPT_COUNT; o++) {
		if (!(given & BIT(o)))
			continue;
		int ok = opt_defs[o].global ? (!(TARGET_OPTS & BIT(o)) || vd->needs_target)
		                            : (vd->allowed & BIT(o)) != 0;
		if (!ok) {
			offserv_set_error(err, errlen, "The %s option is not valid for the %s command.",
			                  dism_opt_name(o), dism_verb_name(a->verb));
			return OFFSERV_E_INVALIDARG;
		}
	}
	if (a->help)
		return OFFSERV_OK;
	if (a->present[DISM_OPT_IMAGE] && a->present[DISM_OPT_ONLINE]) {
		offserv_set_error(err, errlen, "Specify either /Image or /Online, not both.");
		return OFFSERV_E_INVALIDARG;
	}
	if (vd->needs_target && !a->present[DISM_OPT_IMAGE] && !a->present[DISM_OPT_ONLINE]) {
		offserv_set_error(err, errlen,
		                  "The %s command needs a target: specify /Image:<path> or /Online.",
		                  dism_verb_name(a->verb));
		return OFFSERV_E_INVALIDARG;
	}
	for (int o = 0; o < DISM_OPT_COUNT; o++) {
		if ((vd->required & BIT(o)) && !a->present[o]) {
			offserv_set_error(err, errlen, "The %s option is required by the %s command.",
			                  dism_opt_name(o), dism_verb_name(a->verb));
			return OFFSERV_E_INVALIDARG;
		}
	}
	if (vd->one_of) {
		int n = __builtin_popcountll(given & vd->one_of);
		if (n != 1) {
			one_of_names(vd->one_of, names, sizeof(names));
			offserv_set_error(err, errlen, "The %s command needs exactly one of %s.",
			                  dism_verb_name(a->verb), names);
			return OFFSERV_E_INVALIDARG;
		}
	}
	if (vd->at_most_one && __builtin_popcountll(given & vd->at_most_one) > 1) {
		one_of_names(vd->at_most_one, names, sizeof(names));
		offserv_set_error(err, errlen, "Specify only one of %s.", names);
		return OFFSERV_E_INVALIDARG;
	}
	if (a->present[DISM_OPT_RESETBASE] && !a->present[DISM_OPT_STARTCOMPONENTCLEANUP]) {
		offserv_set_error(err, errlen, "The /ResetBase option can only be used with /StartComponentCleanup.");
		return OFFSERV_E_INVALIDARG;
	}
	if (a->verb == DISM_VERB_REMOVE_PACKAGE && a->n_package_refs == 0) {
		offserv_set_error(err, errlen,
		                  "The /Remove-Package command needs /PackageName or /PackagePath.");
		return OFFSERV_E_INVALIDARG;
	}
	if (a->verb == DISM_VERB_GET_PACKAGEINFO && a->n_package_refs > 1) {
		offserv_set_error(err, errlen,
		                  "The /Get-PackageInfo command takes only one /PackageName or /PackagePath.");
		return OFFSERV_E_INVALIDARG;
	}

	/* Values. */
	int idx_opt = a->present[DISM_OPT_INDEX] ? DISM_OPT_INDEX
	              : a->present[DISM_OPT_SOURCEINDEX] ? DISM_OPT_SOURCEINDEX : -1;
	if (idx_opt >= 0 && parse_ulong(a->value[idx_opt], INT32_MAX, &a->index) != 0) {
		offserv_set_error(err, errlen, "The value \"%s\" is not valid for the %s option.",
		                  a->value[idx_opt], dism_opt_name(idx_opt));
		return OFFSERV_E_INVALIDARG;
	}
	if (a->present[DISM_OPT_LOGLEVEL]) {
		unsigned long lv;
		if (parse_ulong(a->value[DISM_OPT_LOGLEVEL], 4, &lv) != 0) {
			offserv_set_error(err, errlen,
			                  "The value \"%s\" is not valid for the /LogLevel option: use 1, 2, 3 or 4.",
			                  a->value[DISM_OPT_LOGLEVEL]);
			return OFFSERV_E_INVALIDARG;
		}
		a->log_level = (int)lv;
	}
	if (a->present[DISM_OPT_FORMAT] && strcasecmp(a->value[DISM_OPT_FORMAT], "Table") != 0 &&
	    strcasecmp(a->value[DISM_OPT_FORMAT], "List") != 0) {
		offserv_set_error(err, errlen,
		                  "The value \"%s\" is not valid for the /Format option: use Table or List.",
		                  a->value[DISM_OPT_FORMAT]);
		return OFFSERV_E_INVALIDARG;
	}
	if (a->present[DISM_OPT_COMPRESS]) {
		static const char *const kinds[] = {"fast", "max", "none", "recovery"};
		int ok = 0;
		for (size_t i = 0; i < 4; i++)
			ok |= strcasecmp(a->value[DISM_OPT_COMPRESS], kinds[i]) == 0;
		if (!ok) {
			offserv_set_error(err, errlen,
			                  "The value \"%s\" is not valid for the /Compress option: use fast, max, none or recovery.",
			                  a->value[DISM_OPT_COMPRESS]);
			return OFFSERV_E_INVALIDARG;
		}
	}
	return OFFSERV_OK;
}

/* Keep one value of a repeatable option (/PackagePath, /PackageName); takes @p v. */
static offserv_status add_package_ref(struct dism_args *a, int o, char *v)
{
	int is_path = o == DISM_OPT_PACKAGEPATH;
	char ***list = is_path ? &a->package_paths : &a->package_names;
	size_t *count = is_path ? &a->n_package_paths : &a->n_package_names;
	char **n = realloc(*list, (*count + 1) * sizeof(*n));
	struct dism_package_ref *r;

	if (!n) {
		free(v);
		return OFFSERV_E_OUTOFMEMORY;
	}
	*list = n;
	r = realloc(a->package_refs, (a->n_package_refs + 1) * sizeof(*r));
	if (!r) {
		free(v);
		return OFFSERV_E_OUTOFMEMORY;
	}
	a->package_refs = r;
	if (!a->value[o] && !(a->value[o] = strdup(v))) {
		free(v);
		return OFFSERV_E_OUTOFMEMORY;
	}
	n[(*count)++] = v;
	r[a->n_package_refs].is_path = is_path;
	r[a->n_package_refs].value = v;
	a->n_package_refs++;
	return OFFSERV_OK;
}

static offserv_status parse_one(struct dism_args *a, const char *arg, char *err, size_t errlen)
{
	static const char gnu_exit[] = "--exit-code-file=";
	char name[64];
	const char *sep, *rawval = NULL;
	size_t nlen;

	if (strlen(arg) > DISM_ARG_MAX) {
		offserv_set_error(err, errlen,
		                  "The command-line option \"%.40s...\" is longer than %d characters.", arg,
		                  DISM_ARG_MAX);
		return OFFSERV_E_INVALIDARG;
	}
	if (strncmp(arg, gnu_exit, sizeof(gnu_exit) - 1) == 0) {
		/* GNU spelling of /ExitCodeFile, for shell scripts. */
		snprintf(name, sizeof(name), "ExitCodeFile");
		rawval = arg + sizeof(gnu_exit) - 1;
		nlen = strlen(name);
	} else {
		if (arg[0] != '/' || arg[1] == '\0')
			goto unknown;
		if (strcmp(arg, "/?") == 0) {
			a->help = 1;
			return OFFSERV_OK;
		}
		sep = strpbrk(arg + 1, ":=");
		nlen = sep ? (size_t)(sep - (arg + 1)) : strlen(arg + 1);
		if (nlen == 0 || nlen >= sizeof(name))
			goto unknown;
		memcpy(name, arg + 1, nlen);
		name[nlen] = '\0';
		if (sep)
			rawval = sep + 1;
	}

	enum dism_verb v = dism_verb_lookup(name);
	if (v != DISM_VERB_NONE) {
		if (rawval)
			goto unknown;
		if (a->verb == v) {
			offserv_set_error(err, errlen, "The /%s option can only be specified once.", name);
			return OFFSERV_E_INVALIDARG;
		}
		if (a->verb != DISM_VERB_NONE) {
			offserv_set_error(err, errlen,
			                  "Only one command can be specified: \"%s\" and \"/%s\" were both given.",
			                  dism_verb_name(a->verb), name);
			return OFFSERV_E_INVALIDARG;
		}
		a->verb = v;
		return OFFSERV_OK;
	}

	int o = opt_lookup(name);
	if (o < 0)
		goto unknown;
	const struct opt_def *od = &opt_defs[o];
	if (!od->takes_value) {
		if (rawval)
			goto unknown;
		if (a->present[o]) {
			offserv_set_error(err, errlen, "The /%s option can only be specified once.", name);
			return OFFSERV_E_INVALIDARG;
		}
		a->present[o] = 1;
		return OFFSERV_OK;
	}
	char *val = rawval ? unquote(rawval) : strdup("");
	if (!val)
		return OFFSERV_E_OUTOFMEMORY;
	if (val[0] == '\0') {
		free(val);
		offserv_set_error(err, errlen, "The /%s option is missing a required argument.", name);
		return OFFSERV_E_INVALIDARG;
	}
	if (od->multi) {
		a->present[o] = 1;
		return add_package_ref(a, o, val);
	}
	if (a->present[o]) {
		free(val);
		offserv_set_error(err, errlen, "The /%s option can only be specified once.", name);
		return OFFSERV_E_INVALIDARG;
	}
	a->present[o] = 1;
	a->value[o] = val;
	return OFFSERV_OK;

unknown:
	offserv_set_error(err, errlen, "DISM doesn't recognize the command-line option \"%s\".", arg);
	return OFFSERV_E_INVALIDARG;
}

/*
 * After a parse error, still honour the options that say how to report it
 * (/LogPath, /ExitCodeFile, /CRLF, /Quiet), wherever they are.
 */
static void salvage(int argc, char *const *argv, struct dism_args *a)
{
	static const int keep[] = {DISM_OPT_LOGPATH, DISM_OPT_EXITCODEFILE, DISM_OPT_CRLF,
	                           DISM_OPT_QUIET};

	for (int i = 1; i < argc; i++) {
		struct dism_args one;
		memset(&one, 0, sizeof(one));
		if (parse_one(&one, argv[i], NULL, 0) == OFFSERV_OK) {
			for (size_t k = 0; k < sizeof(keep) / sizeof(keep[0]); k++) {
				int o = keep[k];
				if (one.present[o] && !a->present[o]) {
					a->present[o] = 1;
					a->value[o] = one.value[o];
					one.value[o] = NULL;
				}
			}
		}
		dism_args_free(&one);
	}
}

offserv_status dism_args_parse(int argc, char *const *argv, struct dism_args *a, char *err,
                               size_t errlen)
{
	offserv_status st;

	memset(a, 0, sizeof(*a));
	a->log_level = 3;
	for (int i = 1; i < argc; i++) {
		st = parse_one(a, argv[i], err, errlen);
		if (st != OFFSERV_OK) {
			dism_args_free(a);
			salvage(argc, argv, a);
			return st;
		}
	}
	if (argc <= 1)
		a->help = 1;
	st = validate(a, err, errlen);
	if (st != OFFSERV_OK) {
		dism_args_free(a);
		salvage(argc, argv, a);
	}
	return st;
}

/* ---- help --------------------------------------------------------------- */

static const char help_general[] =
	"dism [options] {image command} [<arguments>]\n"
	"dism {/Image:<offline image directory> | /Online} [options]\n"
	"     {servicing command} [<arguments>]\n"
	"\n"
	"DESCRIPTION:\n"
	"\n"
	"  dism works on Windows images offline, on Linux: it reads and exports WIM\n"
	"  images, mounts them on a directory, and lists and services the packages of\n"
	"  an offline Windows directory.  Options start with '/', are not case\n"
	"  sensitive, and take a value after ':' or '='.\n"
	"\n"
	"IMAGE COMMANDS:\n"
	"\n"
	"  /Get-ImageInfo          - Shows the images a WIM file holds.\n"
	"  /Export-Image           - Copies an image into another WIM file.\n"
	"  /Mount-Image            - Mounts an image of a WIM file on a directory.\n"
	"  /Unmount-Image          - Unmounts an image, saving or discarding changes.\n"
	"  /Commit-Image           - Saves the changes of a mounted image.\n"
	"  /Remount-Image          - Recovers a mount that is no longer usable.\n"
	"  /Get-MountedImageInfo   - Shows the mounted images.\n"
	"  /Cleanup-Mountpoints    - Removes what is left of broken mounts.\n"
	"\n"
	"  Older names still accepted: /Get-WimInfo, /Mount-Wim, /Unmount-Wim,\n"
	"  /Commit-Wim, /Remount-Wim, /Get-MountedWimInfo, /Cleanup-Wim, /WimFile.\n"
	"\n"
	"SERVICING COMMANDS (with /Image:<directory>):\n"
	"\n"
	"  /Get-Packages           - Lists the packages of the image.\n"
	"  /Get-PackageInfo        - Shows one package.\n"
	"  /Add-Package            - Adds packages (.cab, .msu, folders) to the image.\n"
	"  /Remove-Package         - Removes packages from the image.\n"
	"  /Cleanup-Image          - Cleans up the component store of the image.\n"
	"\n"
	"OPTIONS:\n"
	"\n"
	"  /Image:<path>           - The root directory of an offline Windows image.\n"
	"  /Online                 - The running system (not supported on Linux).\n"
	"  /LogPath:<file>         - Where to write the log (default: the site's\n"
	"                            Logs/dism.log).\n"
	"  /LogLevel:<1-4>         - 1 errors, 2 and warnings, 3 and information\n"
	"                            (default), 4 and debug messages.\n"
	"  /ScratchDir:<dir>       - Directory for temporary files.\n"
	"  /Format:{Table|List}    - Layout of lists.\n"
	"  /Quiet                  - Print errors only.\n"
	"  /English                - Accepted; output is always English.\n"
	"  /NoRestart              - Accepted; this program never restarts anything.\n"
	"  /CRLF                   - End output lines with CR LF as on Windows.\n"
	"  /ExitCodeFile:<file>    - Also write the full exit code to <file>\n"
	"                            (--exit-code-file=<file> works too).\n"
	"\n"
	"  For help on a command, add /? after it, e.g. dism /Mount-Image /?.\n";

struct verb_help {
	enum dism_verb verb;
	const char *text;
};

static const struct verb_help verb_help[] = {
	{DISM_VERB_GET_IMAGEINFO,
	 "/Get-ImageInfo /ImageFile:<path to WIM> [{/Index:<n> | /Name:<name>}]\n"
	 "\n"
	 "  Shows the index, name, description and size of each image of a WIM file.\n"
	 "  With /Index or /Name, shows the details of that image: architecture,\n"
	 "  version, edition, counts of files and directories, dates and languages.\n"
	 "\n"
	 "  Example:\n"
	 "    dism /Get-ImageInfo /ImageFile:/srv/images/install.wim /Index:1\n"},
	{DISM_VERB_EXPORT_IMAGE,
	 "/Export-Image /SourceImageFile:<path> {/SourceIndex:<n> | /SourceName:<name>}\n"
	 "    /DestinationImageFile:<path> [/DestinationName:<name>]\n"
	 "    [/Compress:{fast|max|none|recovery}] [/Bootable] [/CheckIntegrity]\n"
	 "\n"
	 "  Copies one image into another WIM file, which is created when missing\n"
	 "  and appended to when it exists.  Data the destination already holds is\n"
	 "  not stored twice.  /Compress applies to a new destination (default: the\n"
	 "  source's compression; recovery makes a solid LZMS file).\n"},
	{DISM_VERB_MOUNT_IMAGE,
	 "/Mount-Image /ImageFile:<path> {/Index:<n> | /Name:<name>} /MountDir:<dir>\n"
	 "    [/ReadOnly] [/Optimize] [/CheckIntegrity]\n"
	 "\n"
	 "  Makes the files of an image available in <dir>, which must exist and be\n"
	 "  empty.  The image is mounted through FUSE when /dev/fuse can be used, or\n"
	 "  else extracted into <dir>.  /Optimize is accepted and has no effect.\n"},
	{DISM_VERB_UNMOUNT_IMAGE,
	 "/Unmount-Image /MountDir:<dir> {/Commit | /Discard} [/CheckIntegrity] [/Append]\n"
	 "\n"
	 "  Unmounts an image.  /Commit first saves the changes into the image's index\n"
	 "  of the WIM file; /Discard leaves the WIM file as it was.  One of the two\n"
	 "  is required.  /Append is accepted and has no effect.\n"},
	{DISM_VERB_COMMIT_IMAGE,
	 "/Commit-Image /MountDir:<dir> [/CheckIntegrity] [/Append]\n"
	 "\n"
	 "  Saves the changes of a mounted image and keeps it mounted.\n"},
	{DISM_VERB_REMOUNT_IMAGE,
	 "/Remount-Image /MountDir:<dir>\n"
	 "\n"
	 "  Mounts again an image whose mount is no longer usable (Status : Invalid),\n"
	 "  for example after a restart or a killed process.\n"},
	{DISM_VERB_GET_MOUNTEDIMAGEINFO,
	 "/Get-MountedImageInfo\n"
	 "\n"
	 "  Lists the mounted images: directory, WIM file, index, whether read-write,\n"
	 "  and status (Ok or Invalid).\n"},
	{DISM_VERB_CLEANUP_MOUNTPOINTS,
	 "/Cleanup-Mountpoints\n"
	 "\n"
	 "  Removes the records and leftover files of mounts whose status is Invalid.\n"
	 "  Working mounts are left alone.\n"},
	{DISM_VERB_GET_PACKAGES,
	 "/Image:<dir> /Get-Packages [/Format:{Table|List}]\n"
	 "\n"
	 "  Lists the packages of an offline image: identity, state, release type and\n"
	 "  install time, read from the image's SOFTWARE hive and package manifests.\n"},
	{DISM_VERB_GET_PACKAGEINFO,
	 "/Image:<dir> /Get-PackageInfo {/PackageName:<identity> | /PackagePath:<cab>}\n"
	 "\n"
	 "  Shows the details of one package of the image or of a package file.\n"},
	{DISM_VERB_ADD_PACKAGE,
	 "/Image:<dir> /Add-Package /PackagePath:<path> [/PackagePath:<path> ...]\n"
	 "    [/IgnoreCheck] [/PreventPending]\n"
	 "\n"
	 "  Adds packages to the image, in command-line order.  A path may name a\n"
	 "  .cab, an .msu, an expanded package folder or its update.mum, or a folder\n"
	 "  of packages.\n"},
	{DISM_VERB_REMOVE_PACKAGE,
	 "/Image:<dir> /Remove-Package {/PackageName:<identity> | /PackagePath:<path>}\n"
	 "    [{/PackageName:<identity> | /PackagePath:<path>} ...]\n"
	 "\n"
	 "  Removes installed packages from the image, in command-line order.\n"
	 "  /PackageName takes a package identity as /Get-Packages lists it;\n"
	 "  /PackagePath takes the .cab, expanded folder or update.mum the package\n"
	 "  was installed from, and removes the package it holds.  The files of the\n"
	 "  package are taken away or their earlier versions restored, and the\n"
	 "  packages it superseded are Installed again.  A package that is not in the\n"
	 "  image fails with 0x800f080c; a permanent one (part of the base image, or\n"
	 "  kept by /ResetBase) with 0x800f0825.\n"
	 "\n"
	 "  Example:\n"
	 "    dism /Image:/mnt/win /Remove-Package\n"
	 "      /PackageName:Package_for_RollupFix~31bf3856ad364e35~amd64~~19041.3920.1.2\n"},
	{DISM_VERB_CLEANUP_IMAGE,
	 "/Image:<dir> /Cleanup-Image {/RevertPendingActions | /StartComponentCleanup\n"
	 "    [/ResetBase] | /AnalyzeComponentStore}\n"
	 "\n"
	 "  /StartComponentCleanup removes from the component store (Windows\\WinSxS)\n"
	 "  the components that only superseded packages own.  With /ResetBase the\n"
	 "  superseded packages are unregistered too and every installed package\n"
	 "  becomes permanent: it can no longer be removed.\n"
	 "\n"
	 "  /AnalyzeComponentStore reports the size of the component store, what\n"
	 "  it shares with Windows, what a cleanup could reclaim, the date of the\n"
	 "  last cleanup and whether a cleanup is recommended.  Nothing is changed.\n"
	 "\n"
	 "  /RevertPendingActions removes the packages left Install Pending and the\n"
	 "  image's pending.xml.\n"
	 "\n"
	 "  Example:\n"
	 "    dism /Image:/mnt/win /Cleanup-Image /StartComponentCleanup /ResetBase\n"},
};

char *dism_help_text(enum dism_verb verb)
{
	if (verb == DISM_VERB_NONE)
		return strdup(help_general);
	for (size_t i = 0; i < sizeof(verb_help) / sizeof(verb_help[0]); i++)
		if (verb_help[i].verb == verb)
			return strdup(verb_help[i].text);
	return strdup(help_general);
}
