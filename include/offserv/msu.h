/* SPDX-License-Identifier: GPL-3.0-or-later */
/**
 * @file msu.h
 * @brief What update containers say about themselves: an MSU's
 *        `pkgProperties.txt` and unattend `.xml`, and the package manifest
 *        and support markers of a package cabinet.
 *
 * Shared by the `cab` and `msu` update-format plugins.
 */
#ifndef OFFSERV_MSU_H
#define OFFSERV_MSU_H

#include <stddef.h>
#include <stdint.h>

#include <offserv/cab.h>
#include <offserv/cbs.h>
#include <offserv/export.h>
#include <offserv/plugin.h>
#include <offserv/status.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Largest pkgProperties.txt or unattend file accepted (1 MiB). */
#define OFFSERV_PKGPROPS_MAX_BYTES (1024u * 1024u)

/** One `Key="Value"` line of pkgProperties.txt. */
struct offserv_pkgprop {
	char *key;
	char *value;
};

/** A parsed pkgProperties.txt, keys in file order. */
struct offserv_pkgprops {
	struct offserv_pkgprop *items;
	size_t n;
};

/**
 * Parse pkgProperties.txt: `Key="Value"` lines, ASCII/UTF-8 (a UTF-8 BOM is
 * skipped) or UTF-16LE with its BOM, CRLF or LF line ends.  Blank lines are
 * skipped; a value without quotes is taken as written (trimmed).
 *
 * @retval OFFSERV_OK parsed; free with offserv_pkgprops_free()
 * @retval OFFSERV_E_INVALID_DATA a line is not `Key="Value"`, bad UTF-16,
 *         NUL bytes, or the text exceeds ::OFFSERV_PKGPROPS_MAX_BYTES
 */
OFFSERV_API offserv_status offserv_pkgprops_parse(const void *data, size_t len,
                                                  struct offserv_pkgprops **out, char *err,
                                                  size_t errlen);

/** The value of @p key (ASCII case ignored), or NULL. */
OFFSERV_API const char *offserv_pkgprops_get(const struct offserv_pkgprops *props,
                                             const char *key);

/** Free; NULL is ignored. */
OFFSERV_API void offserv_pkgprops_free(struct offserv_pkgprops *props);

/** One `<package>` of an MSU's unattend file. */
struct offserv_unattend_package {
	char *action;             /**< "install", "remove", ... */
	struct offserv_identity id;
	char *source;             /**< `<source location>` as written */
	char *cab_name;           /**< the file name part of the location */
};

/** A parsed unattend file: packages in document order. */
struct offserv_unattend {
	struct offserv_unattend_package *packages;
	size_t n;
};

/**
 * Parse an MSU's unattend `.xml` (`<unattend><servicing><package>`), with no
 * network access; a document that declares a DTD or entities is refused.
 *
 * @retval OFFSERV_OK parsed; free with offserv_unattend_free()
 * @retval OFFSERV_CBS_E_XML_PARSER_FAILURE not well-formed, DTD or entity
 * @retval OFFSERV_CBS_E_INVALID_PACKAGE not an unattend file
 */
OFFSERV_API offserv_status offserv_unattend_parse(const void *data, size_t len,
                                                  struct offserv_unattend **out, char *err,
                                                  size_t errlen);

/** Free; NULL is ignored. */
OFFSERV_API void offserv_unattend_free(struct offserv_unattend *u);

/**
 * The architecture name offserv shows for a processorArchitecture:
 * amd64 -> "x64", x86 -> "x86", arm64 -> "arm64", wow64 -> "x64",
 * arm -> "arm", neutral / msil / "*" / empty -> "neutral"; anything else is
 * returned unchanged.  Never NULL (NULL gives "neutral").
 */
OFFSERV_API const char *offserv_arch_display(const char *proc_arch);

/**
 * "KBnnnnnnn" found in @p text ("KB5034441", "5034441",
 * "Package_for_KB5034441", "Windows10.0-KB5034441-x64.cab"), malloc'd, or
 * NULL when there is none.
 */
OFFSERV_API char *offserv_kb_from_text(const char *text);

/** Reasons given for packages offserv recognises but cannot apply yet. */
#define OFFSERV_REASON_PA30                                                     \
	"payload is stored as MSDelta (PA30) differentials, which offserv cannot expand yet"
#define OFFSERV_REASON_DCM                                                      \
	"component manifests are delta-compressed (DCM), which offserv cannot expand yet"
#define OFFSERV_REASON_PSF "PSF express format not supported yet"
#define OFFSERV_REASON_PSFX                                                     \
	"package format PSFX (payload as PSF express differentials) not supported yet"
#define OFFSERV_REASON_COMBINED                                                 \
	"combined cabinet (toc.xml with nested package cabinets) not supported yet: " \
	"apply its nested cabinets one by one"

/** What a package cabinet says about itself (see offserv_package_cab_inspect()). */
struct offserv_package_cab {
	struct offserv_mum *mum; /**< the installable package manifest, NULL if combined */
	char *mum_name;          /**< its member name ("update.mum") or NULL */
	char *kb;                /**< "KB..." from `identifier` or the name, or NULL */
	/**
	 * The package as plugins report it: identity, name, version, arch,
	 * release_type, is_ssu, supported, unsupported_reason (member is NULL:
	 * the caller names it).
	 */
	struct offserv_update_package pkg;
	char **parents;          /**< every `<parent>` alternative, identity strings */
	size_t n_parents;
	int combined;            /**< toc.xml with nested cabinets */
	char **nested;           /**< names of nested .cab members, when combined */
	size_t n_nested;
};

/**
 * Inspect a package cabinet: find the installable package manifest
 * (`update.mum`; without it the one `.mum` no other one names as a nested
 * package), parse it, and look for what offserv cannot apply yet
 * (`_manifest_.cix.xml`: PA30 payload; the first component manifest
 * beginning with "DCM\x01"; `PackageFormat="PSFX"`; toc.xml with nested
 * cabinets).  Unsupported packages are reported, not failed.  The SSU
 * flag is set for a servicing-stack identity name, a
 * Microsoft-Windows-ServicingStack component or manifest, or a release type
 * naming the servicing stack.
 *
 * @retval OFFSERV_OK inspected; free with offserv_package_cab_free()
 * @retval OFFSERV_CBS_E_INVALID_PACKAGE no package manifest, several
 *         candidates, or refused member names
 * @retval OFFSERV_CBS_E_XML_PARSER_FAILURE the package manifest is not XML
 * @retval OFFSERV_E_FILE_CORRUPT, OFFSERV_E_CRC damaged cabinet data
 */
OFFSERV_API offserv_status offserv_package_cab_inspect(struct offserv_cab *cab,
                                                       struct offserv_package_cab **out,
                                                       char *err, size_t errlen);

/** Free; NULL is ignored. */
OFFSERV_API void offserv_package_cab_free(struct offserv_package_cab *pc);

#ifdef __cplusplus
}
#endif

#endif /* OFFSERV_MSU_H */
