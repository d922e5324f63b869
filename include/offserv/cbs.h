/* SPDX-License-Identifier: GPL-3.0-or-later */
/**
 * @file cbs.h
 * @brief The component-based servicing model: assembly identities, package
 *        manifests (`update.mum`) and component manifests.
 *
 * Parsing uses libxml2 with no network access, no DTD loading and no entity
 * expansion; a document that declares a DTD or an entity is refused.  Every
 * string in the parsed structures is UTF-8 and owned by the structure.
 */
#ifndef OFFSERV_CBS_H
#define OFFSERV_CBS_H

#include <stddef.h>
#include <stdint.h>

#include <offserv/export.h>
#include <offserv/status.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Largest manifest accepted, in bytes; larger files are refused. */
#define OFFSERV_MANIFEST_MAX_BYTES (64u * 1024u * 1024u)

/**
 * An assembly identity (`<assemblyIdentity>`).  Absent attributes are NULL.
 * `language` "neutral" and `*` are kept as written.
 */
struct offserv_identity {
	char *name;
	char *version;       /**< "a.b.c.d" */
	char *arch;          /**< processorArchitecture: x86, amd64, arm64, wow64, msil, neutral, ... */
	char *language;      /**< "neutral", "en-US", ... */
	char *token;         /**< publicKeyToken, lower-case hex */
	char *type;          /**< "win32", ... or NULL */
	char *version_scope; /**< "nonSxS" or NULL */
	char *build_type;    /**< "release" or NULL */
};

/** Free the strings of @p id (not @p id itself) and zero it. */
OFFSERV_API void offserv_identity_clear(struct offserv_identity *id);

/** Deep copy @p src into @p dst. */
OFFSERV_API offserv_status offserv_identity_copy(struct offserv_identity *dst,
                                                 const struct offserv_identity *src);

/**
 * Parse "a.b.c.d" (1 to 4 parts, each 0..65535) into @p out (missing parts 0).
 * @retval OFFSERV_OK parsed
 * @retval OFFSERV_E_INVALIDARG not a version
 */
OFFSERV_API offserv_status offserv_version_parse(const char *text, uint16_t out[4]);

/** Compare two version strings numerically: <0, 0, >0.  Unparsable sorts first. */
OFFSERV_API int offserv_version_compare(const char *a, const char *b);

/**
 * The package identity string used in the registry and by `/Get-Packages`:
 * `Name~PublicKeyToken~Arch~Language~Version`, with a neutral language empty.
 * Returns a malloc'd string; NULL when a field holds a path separator,
 * '~', ':' or a control character, or is "." or ".." (identity
 * fields become folder and registry key names), or on allocation failure.
 */
OFFSERV_API char *offserv_identity_package_string(const struct offserv_identity *id);

/**
 * Parse a package identity string (`Name~Token~Arch~Lang~Version`) into
 * @p out.  An empty language becomes "neutral".  A field that could name
 * another place (see offserv_identity_package_string()) is refused with
 * OFFSERV_E_INVALIDARG.
 */
OFFSERV_API offserv_status offserv_identity_parse_package_string(const char *text,
                                                                struct offserv_identity *out);

/**
 * The component store key form of a component identity, exactly as Windows
 * names `Windows\WinSxS\<key form>`:
 * `<arch>_<name>_<token>_<version>_<culture|none>_<pseudo-key>`, lower case.
 * The name keeps only letters, digits, '-', '.' and '_' and, when longer
 * than 40 characters, is shortened to the first 19, "..", and the last 19;
 * the culture is "none" for a neutral language (NULL, empty, "neutral" or
 * "*") and, when longer than 8 characters, is shortened to the first 3, "..",
 * and the last 3 ("sr-latn-rs" -> "sr-..-rs").  A missing token is written
 * "none".  Checked against real component store folder names (x86, amd64,
 * wow64, arm64.x86, cultures, long names).  Returns a malloc'd string, NULL
 * if @p id lacks name, version or arch, if a field could name another place
 * (see offserv_identity_package_string()), or on allocation failure.
 */
OFFSERV_API char *offserv_identity_key_form(const struct offserv_identity *id);

/**
 * The 64-bit pseudo-key hash inside the key form: the attributes name,
 * culture, type, version, publicKeyToken, processorArchitecture and
 * versionScope, in that order, absent ones and a "none" culture skipped,
 * each attribute name and value hashed case-insensitively (ASCII).
 */
OFFSERV_API uint64_t offserv_identity_pseudo_key(const struct offserv_identity *id);

/** One `<parent>` alternative set of a package manifest. */
struct offserv_parent {
	struct offserv_identity *ids; /**< any one present is enough */
	size_t n_ids;
	char *disposition;       /**< "detect", "staged", ... or NULL */
	char *integrate;         /**< "separate", "standalone", "hidden" or NULL */
	char *build_compare;     /**< "EQ", "GE", ... or NULL */
	char *service_compare;
	char *revision_compare;
};

/** Kind of an `<update>` child. */
enum offserv_update_kind {
	OFFSERV_UPDATE_COMPONENT = 1, /**< `<component>`: a component manifest */
	OFFSERV_UPDATE_PACKAGE = 2,   /**< `<package>`: a nested package manifest (.mum) */
	OFFSERV_UPDATE_DRIVER = 3,    /**< `<driver>` */
};

/** One `<update>` of a package manifest. */
struct offserv_mum_update {
	char *name;
	enum offserv_update_kind kind;
	struct offserv_identity id;
	int has_applicable; /**< an `<applicable>` element narrows it */
};

/** A parsed package manifest (`update.mum` or a nested `.mum`). */
struct offserv_mum {
	struct offserv_identity id;
	char *description;
	char *display_name;
	char *company;
	char *copyright;
	char *support_information;
	char *creation_time;    /**< creationTimeStamp as written */
	char *last_update_time; /**< lastUpdateTimeStamp */
	char *identifier;       /**< `<package identifier>`, e.g. "KB4474419" */
	char *release_type;     /**< releaseType */
	char *restart;          /**< "possible", "required", "never" or NULL */
	char *permanence;       /**< "permanent" or NULL */
	char *package_format;   /**< mum2:customInformation PackageFormat, e.g. "PSFX", or NULL */
	struct offserv_parent *parents;
	size_t n_parents;
	/** `<installerAssembly>`: the servicing stack this package needs (NULL fields if none). */
	struct offserv_identity installer;
	struct offserv_mum_update *updates;
	size_t n_updates;
};

/**
 * Parse a package manifest from memory.  A UTF-8 byte-order mark is
 * accepted.  On error returns a CBS status and writes a message naming the
 * problem into @p err (which the caller prefixes with the file name).
 *
 * UTF-16 with a byte-order mark is accepted too.  Elements are matched by
 * local name in the asm.v3 namespace or in none.
 *
 * @retval OFFSERV_OK parsed; free with offserv_mum_free()
 * @retval OFFSERV_CBS_E_XML_PARSER_FAILURE empty, not well-formed, DTD or entity present
 * @retval OFFSERV_CBS_E_INVALID_PACKAGE well-formed but not a package manifest: another
 *         root element, no `<package>`, an identity without name, version or
 *         processorArchitecture, an invalid version, an attribute over 32 KiB, ...
 * @retval OFFSERV_E_INVALID_DATA over ::OFFSERV_MANIFEST_MAX_BYTES
 */
OFFSERV_API offserv_status offserv_mum_parse(const void *data, size_t len,
                                             struct offserv_mum **out, char *err,
                                             size_t errlen);

/**
 * Read and parse a package manifest file (see offserv_mum_parse()); the
 * message in @p err starts with @p path.
 */
OFFSERV_API offserv_status offserv_mum_load(const char *path, struct offserv_mum **out,
                                            char *err, size_t errlen);

/** Free a parsed package manifest; NULL is ignored. */
OFFSERV_API void offserv_mum_free(struct offserv_mum *mum);

/** Digest algorithms a component manifest may list for a file. */
enum offserv_hash_alg {
	OFFSERV_HASH_NONE = 0,
	OFFSERV_HASH_SHA1 = 1,
	OFFSERV_HASH_SHA256 = 2,
};

/** One `<file>` of a component manifest. */
struct offserv_manifest_file {
	char *name;             /**< `name`, may contain backslashes */
	char *destination_path; /**< `destinationPath` as written, with $(runtime.*) */
	char *source_name;      /**< `sourceName` or NULL */
	char *source_path;      /**< `sourcePath` or NULL */
	char *sd_name;          /**< `<securityDescriptor name>` or NULL */
	char *attributes;       /**< `attributes` as written or NULL */
	enum offserv_hash_alg hash_alg;
	uint8_t digest[32]; /**< decoded DigestValue; hash_len bytes used */
	size_t hash_len;
};

/** Registry value types as in manifests (`valueType`). */
enum offserv_reg_type {
	OFFSERV_REG_NONE = 0,
	OFFSERV_REG_SZ = 1,
	OFFSERV_REG_EXPAND_SZ = 2,
	OFFSERV_REG_BINARY = 3,
	OFFSERV_REG_DWORD = 4,
	OFFSERV_REG_MULTI_SZ = 7,
	OFFSERV_REG_QWORD = 11,
};

/** One `<registryValue>`.  The data is already encoded as the registry stores it. */
struct offserv_manifest_regvalue {
	char *name; /**< "" for the default value */
	enum offserv_reg_type type;
	uint8_t *data; /**< REG_SZ/EXPAND/MULTI: UTF-16LE with terminator(s); DWORD: 4 LE bytes; ... */
	size_t len;
};

/** One `<registryKey>`. */
struct offserv_manifest_regkey {
	char *key_name; /**< as written, e.g. "HKEY_LOCAL_MACHINE\\SOFTWARE\\..." */
	struct offserv_manifest_regvalue *values;
	size_t n_values;
};

/** One `<securityDescriptorDefinition>`. */
struct offserv_manifest_sd {
	char *name;
	char *sddl;
};

/** A parsed component manifest. */
struct offserv_manifest {
	struct offserv_identity id;
	struct offserv_manifest_file *files;
	size_t n_files;
	struct offserv_manifest_regkey *regkeys;
	size_t n_regkeys;
	struct offserv_manifest_sd *sds;
	size_t n_sds;
	/**
	 * Non-zero when the manifest declares work only a running Windows can
	 * do: `<genericCommands>`, `<taskScheduler>`, `<instrumentation>`,
	 * `<mof>`, `<firewallRule>`, an element whose name ends in "AI" or a
	 * known advanced-installer element (bfsvc, networkComponents, ...), or
	 * a `<categoryMembership>` with a `<categoryInstance>` (services and the
	 * like) or typeName "AdvancedInstaller".  A membership that only names
	 * a category (BootCritical, BootRecovery) does not count.  The package
	 * can then only reach Install Pending offline.
	 */
	int needs_online_work;
	char *online_work_reason; /**< which element asked for it, or NULL */
	int is_delta_compressed;  /**< reserved: offserv_manifest_parse() refuses "DCM\x01" files */
};

/**
 * Parse a component manifest from memory (same XML rules and errors as
 * offserv_mum_parse()).  A manifest that starts with "DCM\x01"
 * (delta-compressed) returns OFFSERV_E_NOT_SUPPORTED with a message and no
 * manifest.  Registry values are encoded as the registry stores them:
 * REG_SZ/REG_EXPAND_SZ UTF-16LE with a NUL; REG_MULTI_SZ from the manifest
 * form `"a","b"` to UTF-16LE strings each with a NUL plus a final NUL;
 * REG_DWORD/REG_QWORD from "0x..." or decimal to 4/8 little-endian bytes;
 * REG_BINARY/REG_NONE from a hex string.  A malformed value, an unknown
 * valueType, a digest that is not base64 of the method's length, or an
 * unknown DigestMethod is OFFSERV_CBS_E_INVALID_PACKAGE.
 */
OFFSERV_API offserv_status offserv_manifest_parse(const void *data, size_t len,
                                                  struct offserv_manifest **out,
                                                  char *err, size_t errlen);

/** Read and parse a component manifest file. */
OFFSERV_API offserv_status offserv_manifest_load(const char *path,
                                                 struct offserv_manifest **out,
                                                 char *err, size_t errlen);

/** Free a parsed component manifest; NULL is ignored. */
OFFSERV_API void offserv_manifest_free(struct offserv_manifest *m);

/** Find a security descriptor definition by name, or NULL. */
OFFSERV_API const struct offserv_manifest_sd *
offserv_manifest_find_sd(const struct offserv_manifest *m, const char *name);

/**
 * Resolve a manifest `destinationPath` (with `$(runtime.*)` variables,
 * backslashes) into a path relative to the image root with forward slashes
 * and no leading or trailing slash, e.g. "Windows/System32".
 *
 * Refuses (OFFSERV_E_INVALID_NAME, message in @p err) an unknown variable,
 * an absolute or drive-letter path outside a variable, "..", "." or empty
 * components after resolution, NUL or control characters, and reserved
 * device names.  The result is malloc'd into @p out; it is "" for
 * `$(runtime.bootDrive)\` (the image root).
 */
OFFSERV_API offserv_status offserv_resolve_destination(const char *destination_path,
                                                       char **out, char *err,
                                                       size_t errlen);

/**
 * Convert SDDL text into a self-relative Windows security descriptor
 * (revision 1, SE_SELF_RELATIVE, owner, group, DACL, SACL as present; ACE
 * types A, D, AU; rights as hex or FA/FR/FW/FX/GA/GR/GW/GX/KA/KR/KW/KX and the
 * two-letter standard rights; flags OI CI NP IO ID SA FA; control flags P,
 * AI, AR and NO_ACCESS_CONTROL; SID strings and the well-known aliases that
 * need no domain).  The layout is Windows' own: the 20-byte header, then
 * SACL, DACL, owner, group; ACL revision 2.  @p out is malloc'd.
 * @retval OFFSERV_E_INVALID_DATA malformed SDDL (message in @p err)
 */
OFFSERV_API offserv_status offserv_sddl_to_sd(const char *sddl, uint8_t **out,
                                              size_t *out_len, char *err,
                                              size_t errlen);

/** The SDDL Windows uses for a resource-protected file (WRP_FILE_DEFAULT_SDDL). */
OFFSERV_API const char *offserv_sddl_wrp_file_default(void);

/** Package states (`CurrentState` values in the registry). */
enum offserv_package_state {
	OFFSERV_STATE_ABSENT = 0x0,
	OFFSERV_STATE_UNINSTALL_PENDING = 0x5,
	OFFSERV_STATE_RESOLVING = 0x10,
	OFFSERV_STATE_RESOLVED = 0x20,
	OFFSERV_STATE_STAGING = 0x30,
	OFFSERV_STATE_STAGED = 0x40,
	OFFSERV_STATE_SUPERSEDED = 0x50,
	OFFSERV_STATE_INSTALL_PENDING = 0x60,
	OFFSERV_STATE_PARTIALLY_INSTALLED = 0x65,
	OFFSERV_STATE_INSTALLED = 0x70,
	OFFSERV_STATE_PERMANENT = 0x80,
};

/**
 * DISM's wording of a state ("Installed", "Install Pending", ...).  The
 * absent state is "Absent" as in the CBS states chart (DISM's own API calls
 * it "Not Present"); an unknown value gives "Unknown".  Never NULL.
 */
OFFSERV_API const char *offserv_package_state_name(uint32_t state);

#ifdef __cplusplus
}
#endif

#endif /* OFFSERV_CBS_H */
