/* SPDX-License-Identifier: GPL-3.0-or-later */
/**
 * @file args.h
 * @brief The command line of the `dism` program (internal).
 *
 * DISM's syntax: options start with '/', names are case-insensitive, a
 * value follows ':' or '=' ("/Index:1", "/index=1"), a value wrapped in
 * double quotes inside one argument ("/LogPath:\"C:\\x y\"") has the quotes
 * removed.  Global options may appear anywhere.  `/PackagePath` and
 * `/PackageName` may repeat (several only where the command takes several)
 * and keep their order; any other repeated option is an error.  Besides
 * DISM's own options, `/CRLF` and `/ExitCodeFile:<path>` (also spelled
 * `--exit-code-file=<path>`) are offserv extensions.
 *
 * The parser knows, for each command, which options it accepts, which it
 * needs and which exclude each other, so that a parsed command line is
 * complete and consistent before any work starts.
 */
#ifndef OFFSERV_DISM_ARGS_H
#define OFFSERV_DISM_ARGS_H

#include <stddef.h>

#include <offserv/status.h>

/** Longest single argument accepted, in bytes (Windows' command line limit). */
#define DISM_ARG_MAX 32767

/** The commands. */
enum dism_verb {
	DISM_VERB_NONE = 0,
	DISM_VERB_GET_IMAGEINFO,
	DISM_VERB_EXPORT_IMAGE,
	DISM_VERB_MOUNT_IMAGE,
	DISM_VERB_UNMOUNT_IMAGE,
	DISM_VERB_COMMIT_IMAGE,
	DISM_VERB_REMOUNT_IMAGE,
	DISM_VERB_GET_MOUNTEDIMAGEINFO,
	DISM_VERB_CLEANUP_MOUNTPOINTS,
	DISM_VERB_GET_PACKAGES,
	DISM_VERB_GET_PACKAGEINFO,
	DISM_VERB_ADD_PACKAGE,
	DISM_VERB_REMOVE_PACKAGE,
	DISM_VERB_CLEANUP_IMAGE,
	DISM_VERB_COUNT
};

/** The options.  Order matters only for the table in args.c. */
enum dism_opt {
	/* global */
	DISM_OPT_IMAGE = 0,
	DISM_OPT_ONLINE,
	DISM_OPT_LOGPATH,
	DISM_OPT_LOGLEVEL,
	DISM_OPT_SCRATCHDIR,
	DISM_OPT_ENGLISH,
	DISM_OPT_QUIET,
	DISM_OPT_NORESTART,
	DISM_OPT_FORMAT,
	DISM_OPT_WINDIR,
	DISM_OPT_SYSDRIVEDIR,
	DISM_OPT_CRLF,
	DISM_OPT_EXITCODEFILE,
	/* command options */
	DISM_OPT_IMAGEFILE,
	DISM_OPT_INDEX,
	DISM_OPT_NAME,
	DISM_OPT_MOUNTDIR,
	DISM_OPT_READONLY,
	DISM_OPT_OPTIMIZE,
	DISM_OPT_CHECKINTEGRITY,
	DISM_OPT_COMMIT,
	DISM_OPT_DISCARD,
	DISM_OPT_APPEND,
	DISM_OPT_SOURCEIMAGEFILE,
	DISM_OPT_SOURCEINDEX,
	DISM_OPT_SOURCENAME,
	DISM_OPT_DESTINATIONIMAGEFILE,
	DISM_OPT_DESTINATIONNAME,
	DISM_OPT_COMPRESS,
	DISM_OPT_BOOTABLE,
	DISM_OPT_PACKAGENAME,
	DISM_OPT_PACKAGEPATH,
	DISM_OPT_IGNORECHECK,
	DISM_OPT_PREVENTPENDING,
	DISM_OPT_REVERTPENDINGACTIONS,
	DISM_OPT_STARTCOMPONENTCLEANUP,
	DISM_OPT_RESETBASE,
	DISM_OPT_ANALYZECOMPONENTSTORE,
	DISM_OPT_COUNT
};

/** One /PackageName or /PackagePath, in command-line order. */
struct dism_package_ref {
	int is_path;       /**< 1: /PackagePath, 0: /PackageName */
	const char *value; /**< points into package_paths or package_names */
};

/** A parsed command line.  Strings are malloc'd and owned by the structure. */
struct dism_args {
	enum dism_verb verb;
	int help;                          /**< "/?" was given */
	int present[DISM_OPT_COUNT];       /**< option given */
	/** Its value (NULL for switches and absent ones); the first one of a
	 *  repeated /PackageName or /PackagePath. */
	char *value[DISM_OPT_COUNT];
	char **package_paths;              /**< every /PackagePath, in command-line order */
	size_t n_package_paths;
	char **package_names;              /**< every /PackageName, in command-line order */
	size_t n_package_names;
	struct dism_package_ref *package_refs; /**< both, interleaved as given */
	size_t n_package_refs;
	unsigned long index;               /**< /Index or /SourceIndex, 0 when absent */
	int log_level;                     /**< /LogLevel, 3 when absent */
};

/**
 * Parse @p argc / @p argv (argv[0] is the program and is skipped).
 * On failure @p err receives the exact sentence DISM prints, e.g.
 * `DISM doesn't recognize the command-line option "/Foo".`, and @p a
 * keeps only the options that say how to report the error (/LogPath,
 * /ExitCodeFile, /CRLF, /Quiet, wherever they were given); free it with
 * dism_args_free() in every case.
 *
 * @retval OFFSERV_OK parsed; a->help may ask for help instead of work
 * @retval OFFSERV_E_INVALIDARG an unknown, duplicated, misplaced, missing or
 *         malformed option, or an argument longer than ::DISM_ARG_MAX
 * @retval OFFSERV_E_OUTOFMEMORY allocation failed
 */
offserv_status dism_args_parse(int argc, char *const *argv, struct dism_args *a, char *err,
                               size_t errlen);

/** Free what dism_args_parse() allocated and zero @p a. */
void dism_args_free(struct dism_args *a);

/** The canonical name of a command with its slash ("/Get-ImageInfo"), "" for none. */
const char *dism_verb_name(enum dism_verb verb);

/** The canonical name of an option with its slash ("/ImageFile"). */
const char *dism_opt_name(enum dism_opt opt);

/**
 * Look up a command by name (without the slash, any case, legacy aliases
 * such as "Get-WimInfo" included); DISM_VERB_NONE if unknown.
 */
enum dism_verb dism_verb_lookup(const char *name);

/**
 * Write the help text: the general help for DISM_VERB_NONE, else the help
 * of one command.  Lines end in "\n"; the caller converts line ends.
 * Returns a malloc'd string or NULL on allocation failure.
 */
char *dism_help_text(enum dism_verb verb);

#endif /* OFFSERV_DISM_ARGS_H */
