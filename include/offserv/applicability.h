/* SPDX-License-Identifier: GPL-3.0-or-later */
/**
 * @file applicability.h
 * @brief Whether one update package applies to one image index, and why not.
 *
 * The same rules serve `offserv image applicable` (from the site database)
 * and the servicing engine (from a parsed `update.mum`).  Rules, in the
 * order they are checked:
 *
 * 1. **Architecture** (NOT_APPLICABLE_ARCH, 0x800f081e).  Image
 *    architectures are x86, x64, arm64; package `processorArchitecture`
 *    amd64 means x64.  `wow64` packages (32-bit parts of a 64-bit Windows)
 *    apply to x64 and arm64 images; `msil`, `neutral`, `*` and an absent
 *    architecture apply to all.  An x86 package does not apply to an x64
 *    image (as DISM refuses it).
 * 2. **Already installed** (ALREADY_INSTALLED, 0x800700b7): a package with
 *    the same name and architecture at the *same* version is Installed,
 *    Install Pending, Partially Installed or Permanent in the image.
 * 3. **Superseded** (SUPERSEDED, 0x800f081e): the same package name and
 *    architecture is present at a *higher* version (Installed, Install
 *    Pending, Permanent, Superseded, Staged...), or this very version is
 *    recorded as Superseded.  The package "family" is its assembly name:
 *    servicing uses one name across releases (`Package_for_RollupFix`).
 * 4. **Parent** (NOT_APPLICABLE_PARENT, 0x800f081e): every `<parent>`
 *    with disposition `detect` (or no disposition) needs one of its
 *    alternatives present (Installed, Install Pending, Permanent,
 *    Partially Installed or Superseded: a superseded parent still provides
 *    its feature) with the same name, a compatible architecture and a
 *    version that satisfies the compare attributes.  Parents with another
 *    disposition do not restrict applicability.
 * 5. **Servicing stack** (NEEDS_NEWER_SSU, 0x800f0823): the package's
 *    `<installerAssembly>` version is higher than the image's servicing
 *    stack version (see offserv_image_servicing_stack_version()).  When the
 *    image's stack version cannot be told, the rule does not block.
 *
 * **Version compare attributes.**  A version a.b.c.d is read as Windows
 * numbers file and assembly versions: major.minor.build.revision (for
 * 6.1.7601.17514: build 7601, revision 17514).  This is the reading used:
 * - `buildCompare` compares major.minor.build (the first three parts): a
 *   Windows 7 SP1 package with `buildCompare="EQ"` against
 *   Foundation 6.1.7601.17514 needs a 6.1.7601 image, and an RTM
 *   (6.1.7600) image is refused, which is what DISM does;
 * - `serviceCompare` and `revisionCompare` compare the fourth part (the
 *   revision: 17514, the QFE/GDR level of the build).  Microsoft's real
 *   manifests use `serviceCompare` for it (Windows 6.x) and
 *   `revisionCompare` in later ones; both are honoured, and when both are
 *   present both must hold;
 * - `EQ` means equal, `GE` greater or equal; `GT`, `LE`, `LT`, `NE` are
 *   accepted for completeness; an unknown operator fails the parent;
 * - when a parent carries no compare attribute at all, its version is a
 *   minimum (GE on the whole version).
 * This reading is not from Microsoft documentation (none is public); it is
 * derived from how the attributes pair with real parent versions and from
 * DISM's behaviour on RTM vs SP1 images.
 */
#ifndef OFFSERV_APPLICABILITY_H
#define OFFSERV_APPLICABILITY_H

#include <stddef.h>
#include <stdint.h>

#include <offserv/cbs.h>
#include <offserv/export.h>
#include <offserv/status.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The verdict for one package on one image index. */
enum offserv_applicability {
	OFFSERV_APPLICABLE = 0,
	OFFSERV_NOT_APPLICABLE_ARCH = 1,
	OFFSERV_NOT_APPLICABLE_PARENT = 2,
	OFFSERV_ALREADY_INSTALLED = 3,
	OFFSERV_SUPERSEDED = 4,
	OFFSERV_NEEDS_NEWER_SSU = 5,
};

/**
 * The rule that decided a verdict, finer than the verdict itself: what
 * `offserv image applicable --explain` shows.  The verdict and its HRESULT
 * stay the contract; the rule only says which case of it was met.
 */
enum offserv_applicability_rule {
	OFFSERV_RULE_APPLIES = 0,           /**< every rule holds */
	OFFSERV_RULE_ARCH = 1,              /**< built for another architecture */
	OFFSERV_RULE_ALREADY_INSTALLED = 2, /**< this version is in the image */
	OFFSERV_RULE_SUPERSEDED = 3,        /**< a newer version is in the image, or this one is superseded */
	OFFSERV_RULE_PARENT_MISSING = 4,    /**< no alternative of a `<parent>` is present */
	OFFSERV_RULE_PARENT_TOO_OLD = 5,    /**< a parent is present at a lower version than required */
	OFFSERV_RULE_PARENT_MISMATCH = 6,   /**< a parent is present at a version the compare attributes refuse */
	OFFSERV_RULE_SERVICING_STACK = 7,   /**< the image's servicing stack is older than required */
};

/** One package present in the image: identity string and CurrentState. */
struct offserv_installed_package {
	const char *identity; /**< Name~Token~Arch~Lang~Version */
	uint32_t state;       /**< enum offserv_package_state */
};

/** What is checked: a package and what it needs. */
struct offserv_applicability_package {
	const struct offserv_identity *id;       /**< the package's identity */
	const struct offserv_parent *parents;    /**< `<parent>` elements */
	size_t n_parents;
	const struct offserv_identity *installer; /**< `<installerAssembly>` or NULL */
};

/** The result of a check. */
struct offserv_applicability_result {
	enum offserv_applicability verdict;
	offserv_status hr;    /**< OFFSERV_OK when applicable */
	char explain[640];    /**< one human sentence for `--explain` */
	enum offserv_applicability_rule rule; /**< which rule decided */
};

/** Short name of a verdict: "applicable", "not applicable (architecture)", ... */
OFFSERV_API const char *offserv_applicability_name(enum offserv_applicability v);

/**
 * Short name of a rule: "applies", "architecture", "already installed",
 * "superseded", "parent missing", "parent too old", "parent version does
 * not match", "servicing stack too old".
 */
OFFSERV_API const char *offserv_applicability_rule_name(enum offserv_applicability_rule r);

/**
 * Map an architecture word to the image form: amd64/x64 -> "x64", x86,
 * arm64; NULL for anything else (wow64, msil, neutral, unknown).
 */
OFFSERV_API const char *offserv_arch_to_image(const char *arch);

/**
 * The servicing stack version of an image, from its installed packages:
 * the highest version of a package named Microsoft-Windows-ServicingStack,
 * or else of a package whose name contains "ServicingStack"
 * (`Package_for_ServicingStack_3636`, version 19041.3636.1.2, read as
 * 10.0.19041.3636: an SSU package's version starts with the build number).
 * Only Installed, Install Pending, Partially Installed and Permanent
 * packages count.  Returns 0 and fills @p out ("a.b.c.d") when found,
 * -1 when the image shows none.
 */
OFFSERV_API int offserv_image_servicing_stack_version(const struct offserv_installed_package *pkgs,
                                                      size_t n, char out[32]);

/**
 * Decide whether @p pkg applies to an index holding @p installed packages
 * of architecture @p image_arch (x86, x64, arm64; amd64 accepted).
 *
 * @retval OFFSERV_OK the check ran; the verdict is in @p out
 * @retval OFFSERV_E_INVALIDARG the package has no name or version, or the
 *         image architecture is unknown (message in out->explain)
 */
OFFSERV_API offserv_status offserv_applicability_check(
	const struct offserv_installed_package *installed, size_t n_installed,
	const char *image_arch, const struct offserv_applicability_package *pkg,
	struct offserv_applicability_result *out);

/**
 * Convenience for the engine: check a parsed package manifest (its
 * identity, parents and installer assembly).
 */
OFFSERV_API offserv_status offserv_applicability_check_mum(
	const struct offserv_installed_package *installed, size_t n_installed,
	const char *image_arch, const struct offserv_mum *mum,
	struct offserv_applicability_result *out);

#ifdef __cplusplus
}
#endif

#endif /* OFFSERV_APPLICABILITY_H */
