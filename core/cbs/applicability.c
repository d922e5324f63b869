/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Applicability of an update package to an image index: architecture,
 * already installed, superseded, parents, servicing stack. */
#include <config.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <offserv/applicability.h>
#include <offserv/cbs.h>

const char *offserv_applicability_name(enum offserv_applicability v)
{
	switch (v) {
	case OFFSERV_APPLICABLE:
		return "applicable";
	case OFFSERV_NOT_APPLICABLE_ARCH:
		return "not applicable (architecture)";
	case OFFSERV_NOT_APPLICABLE_PARENT:
		return "not applicable (no parent package)";
	case OFFSERV_ALREADY_INSTALLED:
		return "already installed";
	case OFFSERV_SUPERSEDED:
		return "superseded";
	case OFFSERV_NEEDS_NEWER_SSU:
		return "needs a newer servicing stack";
	}
	return "unknown";
}

const char *offserv_applicability_rule_name(enum offserv_applicability_rule r)
{
	switch (r) {
	case OFFSERV_RULE_APPLIES:
		return "applies";
	case OFFSERV_RULE_ARCH:
		return "architecture";
	case OFFSERV_RULE_ALREADY_INSTALLED:
		return "already installed";
	case OFFSERV_RULE_SUPERSEDED:
		return "superseded";
	case OFFSERV_RULE_PARENT_MISSING:
		return "parent missing";
	case OFFSERV_RULE_PARENT_TOO_OLD:
		return "parent too old";
	case OFFSERV_RULE_PARENT_MISMATCH:
		return "parent version does not match";
	case OFFSERV_RULE_SERVICING_STACK:
		return "servicing stack too old";
	}
	return "unknown";
}

const char *offserv_arch_to_image(const char *arch)
{
	if (!arch)
		return NULL;
	if (strcasecmp(arch, "amd64") == 0 || strcasecmp(arch, "x64") == 0)
		return "x64";
	if (strcasecmp(arch, "x86") == 0)
		return "x86";
	if (strcasecmp(arch, "arm64") == 0)
		return "arm64";
	return NULL;
}

static bool arch_is_any(const char *arch)
{
	return !arch || !*arch || strcmp(arch, "*") == 0 || strcasecmp(arch, "neutral") == 0 ||
	       strcasecmp(arch, "msil") == 0;
}

/* Does a package of architecture @p pkg_arch install on an image of @p image_arch? */
static bool arch_fits_image(const char *pkg_arch, const char *image_arch)
{
	const char *p;

	if (arch_is_any(pkg_arch))
		return true;
	if (strcasecmp(pkg_arch, "wow64") == 0)
		return strcmp(image_arch, "x64") == 0 || strcmp(image_arch, "arm64") == 0;
	p = offserv_arch_to_image(pkg_arch);
	return p && strcmp(p, image_arch) == 0;
}

/* Do two package architectures name the same thing? */
static bool arch_same(const char *a, const char *b)
{
	const char *na, *nb;

	if (arch_is_any(a) || arch_is_any(b))
		return true;
	na = offserv_arch_to_image(a);
	nb = offserv_arch_to_image(b);
	if (na && nb)
		return strcmp(na, nb) == 0;
	return strcasecmp(a, b) == 0;
}

static bool state_installed(uint32_t s)
{
	return s == OFFSERV_STATE_INSTALLED || s == OFFSERV_STATE_INSTALL_PENDING ||
	       s == OFFSERV_STATE_PARTIALLY_INSTALLED || s == OFFSERV_STATE_PERMANENT;
}

/* A parent counts when its feature is there, superseded or not. */
static bool state_provides_parent(uint32_t s)
{
	return state_installed(s) || s == OFFSERV_STATE_SUPERSEDED;
}

/* A higher version counts for supersedence when it is anywhere past absent. */
static bool state_present(uint32_t s)
{
	return state_installed(s) || s == OFFSERV_STATE_SUPERSEDED || s == OFFSERV_STATE_STAGED;
}

/* The installed packages, parsed once per check. */
struct parsed {
	struct offserv_identity id;
	uint32_t state;
	bool ok;
};

static struct parsed *parse_installed(const struct offserv_installed_package *pkgs, size_t n)
{
	struct parsed *p = calloc(n ? n : 1, sizeof(*p));

	if (!p)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		p[i].state = pkgs[i].state;
		p[i].ok = pkgs[i].identity &&
		          offserv_identity_parse_package_string(pkgs[i].identity, &p[i].id) == OFFSERV_OK &&
		          p[i].id.name && p[i].id.version;
	}
	return p;
}

static void free_parsed(struct parsed *p, size_t n)
{
	if (!p)
		return;
	for (size_t i = 0; i < n; i++)
		offserv_identity_clear(&p[i].id);
	free(p);
}

/* ---------------------------------------------------------------------- */
/* Servicing stack */

/* An SSU package's version starts with the build: 19041.3636.1.2 -> 10.0.19041.3636. */
static void stack_version_of(const char *name, const char *version, char out[32])
{
	uint16_t v[4];

	if (offserv_version_parse(version, v) != OFFSERV_OK) {
		out[0] = '\0';
		return;
	}
	if (strcasecmp(name, "Microsoft-Windows-ServicingStack") != 0 && v[0] > 255)
		snprintf(out, 32, "10.0.%u.%u", v[0], v[1]);
	else
		snprintf(out, 32, "%u.%u.%u.%u", v[0], v[1], v[2], v[3]);
}

static int stack_version_parsed(const struct parsed *p, size_t n, char out[32])
{
	int found = -1;
	bool exact = false;

	out[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		char v[32];
		bool is_exact;

		if (!p[i].ok || !state_installed(p[i].state))
			continue;
		is_exact = strcasecmp(p[i].id.name, "Microsoft-Windows-ServicingStack") == 0;
		if (!is_exact && !strcasestr(p[i].id.name, "ServicingStack"))
			continue;
		if (exact && !is_exact)
			continue;
		stack_version_of(p[i].id.name, p[i].id.version, v);
		if (!v[0])
			continue;
		if (is_exact && !exact) {
			exact = true;
			snprintf(out, 32, "%s", v);
		} else if (found < 0 || offserv_version_compare(v, out) > 0) {
			snprintf(out, 32, "%s", v);
		}
		found = 0;
	}
	return found;
}

int offserv_image_servicing_stack_version(const struct offserv_installed_package *pkgs, size_t n,
                                          char out[32])
{
	struct parsed *p = parse_installed(pkgs, n);
	int r;

	if (!p) {
		out[0] = '\0';
		return -1;
	}
	r = stack_version_parsed(p, n, out);
	free_parsed(p, n);
	return r;
}

/* ---------------------------------------------------------------------- */
/* Parents */

/* Evaluate "cmp OP 0" for an operator word; -1 for an unknown operator. */
static int op_holds(const char *op, int cmp)
{
	if (strcasecmp(op, "EQ") == 0)
		return cmp == 0;
	if (strcasecmp(op, "GE") == 0)
		return cmp >= 0;
	if (strcasecmp(op, "GT") == 0)
		return cmp > 0;
	if (strcasecmp(op, "LE") == 0)
		return cmp <= 0;
	if (strcasecmp(op, "LT") == 0)
		return cmp < 0;
	if (strcasecmp(op, "NE") == 0)
		return cmp != 0;
	return -1;
}

static int cmp_u16(uint16_t a, uint16_t b)
{
	return a < b ? -1 : a > b ? 1 : 0;
}

/* Does an installed version satisfy a parent's version under its compare attributes? */
static bool version_satisfies(const struct offserv_parent *par, const char *required,
                              const char *have)
{
	uint16_t r[4], h[4];
	int build_cmp = 0, rev_cmp;

	if (offserv_version_parse(required, r) != OFFSERV_OK)
		return true; /* no usable version: the name is what matters */
	if (offserv_version_parse(have, h) != OFFSERV_OK)
		return false;
	for (int k = 0; k < 3 && build_cmp == 0; k++)
		build_cmp = cmp_u16(h[k], r[k]);
	rev_cmp = cmp_u16(h[3], r[3]);
	if (!par->build_compare && !par->service_compare && !par->revision_compare)
		return build_cmp > 0 || (build_cmp == 0 && rev_cmp >= 0);
	if (par->build_compare && op_holds(par->build_compare, build_cmp) != 1)
		return false;
	/* Without a build compare, a higher build satisfies a revision GE. */
	if (!par->build_compare && build_cmp != 0)
		return build_cmp > 0;
	if (par->service_compare && op_holds(par->service_compare, rev_cmp) != 1)
		return false;
	if (par->revision_compare && op_holds(par->revision_compare, rev_cmp) != 1)
		return false;
	return true;
}

/* Is the installed @p have older than every alternative of @p par with its name? */
static bool parent_older(const struct offserv_parent *par, const struct parsed *have)
{
	bool any = false;

	for (size_t a = 0; a < par->n_ids; a++) {
		const struct offserv_identity *want = &par->ids[a];

		if (!want->name || !want->version || strcasecmp(want->name, have->id.name) != 0)
			continue;
		if (offserv_version_compare(have->id.version, want->version) >= 0)
			return false;
		any = true;
	}
	return any;
}

static bool parent_requires_presence(const struct offserv_parent *par)
{
	return !par->disposition || strcasecmp(par->disposition, "detect") == 0;
}

/* Describe the first alternatives of a parent for a message. */
static void describe_parent(const struct offserv_parent *par, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t k = 0; k < par->n_ids && used < len; k++) {
		int w;

		if (k == 3) {
			w = snprintf(buf + used, len - used, " or %zu more", par->n_ids - k);
			break;
		}
		w = snprintf(buf + used, len - used, "%s%s %s", k ? " or " : "",
		             par->ids[k].name ? par->ids[k].name : "?",
		             par->ids[k].version ? par->ids[k].version : "");
		if (w < 0)
			break;
		used += (size_t)w;
	}
	if (par->build_compare || par->service_compare || par->revision_compare) {
		used = strlen(buf);
		snprintf(buf + used, len - used, " (%s%s%s%s%s%s)",
		         par->build_compare ? "build " : "", par->build_compare ? par->build_compare : "",
		         par->service_compare ? " service " : "",
		         par->service_compare ? par->service_compare : "",
		         par->revision_compare ? " revision " : "",
		         par->revision_compare ? par->revision_compare : "");
	}
}

/* ---------------------------------------------------------------------- */
/* The check */

static offserv_status verdict(struct offserv_applicability_result *out,
                              enum offserv_applicability v, enum offserv_applicability_rule rule,
                              offserv_status hr)
{
	out->verdict = v;
	out->rule = rule;
	out->hr = hr;
	return OFFSERV_OK;
}

offserv_status offserv_applicability_check(const struct offserv_installed_package *installed,
                                           size_t n_installed, const char *image_arch,
                                           const struct offserv_applicability_package *pkg,
                                           struct offserv_applicability_result *out)
{
	const struct offserv_identity *id = pkg ? pkg->id : NULL;
	const char *img = offserv_arch_to_image(image_arch);
	struct parsed *inst;
	offserv_status ret;

	memset(out, 0, sizeof(*out));
	if (!id || !id->name || !id->version) {
		snprintf(out->explain, sizeof(out->explain), "the package has no name or version");
		out->hr = OFFSERV_E_INVALIDARG;
		return OFFSERV_E_INVALIDARG;
	}
	if (!img) {
		snprintf(out->explain, sizeof(out->explain), "unknown image architecture '%s'",
		         image_arch ? image_arch : "(none)");
		out->hr = OFFSERV_E_INVALIDARG;
		return OFFSERV_E_INVALIDARG;
	}

	/* 1. Architecture. */
	if (!arch_fits_image(id->arch, img)) {
		snprintf(out->explain, sizeof(out->explain),
		         "%s %s is built for %s; the image index is %s", id->name, id->version,
		         id->arch, img);
		return verdict(out, OFFSERV_NOT_APPLICABLE_ARCH, OFFSERV_RULE_ARCH,
		               OFFSERV_CBS_E_NOT_APPLICABLE);
	}

	inst = parse_installed(installed, n_installed);
	if (!inst) {
		snprintf(out->explain, sizeof(out->explain), "out of memory");
		return OFFSERV_E_OUTOFMEMORY;
	}

	/* 2 and 3. The same package, at this or a higher version. */
	{
		const struct parsed *same = NULL, *higher = NULL;

		for (size_t i = 0; i < n_installed; i++) {
			const struct parsed *p = &inst[i];
			int c;

			if (!p->ok || strcasecmp(p->id.name, id->name) != 0 ||
			    !arch_same(p->id.arch, id->arch))
				continue;
			c = offserv_version_compare(p->id.version, id->version);
			if (c == 0 && (state_installed(p->state) || p->state == OFFSERV_STATE_SUPERSEDED))
				same = same && state_installed(same->state) ? same : p;
			else if (c > 0 && state_present(p->state) &&
			         (!higher || offserv_version_compare(p->id.version, higher->id.version) > 0))
				higher = p;
		}
		if (same && state_installed(same->state)) {
			snprintf(out->explain, sizeof(out->explain),
			         "%s %s is already in the image (%s); it is not applied again", id->name,
			         id->version, offserv_package_state_name(same->state));
			ret = verdict(out, OFFSERV_ALREADY_INSTALLED, OFFSERV_RULE_ALREADY_INSTALLED,
			              OFFSERV_E_ALREADY_EXISTS);
			goto done;
		}
		if (higher || same) {
			if (higher)
				snprintf(out->explain, sizeof(out->explain),
				         "a newer version %s of %s is in the image (%s): %s is superseded",
				         higher->id.version, id->name,
				         offserv_package_state_name(higher->state), id->version);
			else
				snprintf(out->explain, sizeof(out->explain),
				         "%s %s is recorded as superseded in the image", id->name,
				         id->version);
			ret = verdict(out, OFFSERV_SUPERSEDED, OFFSERV_RULE_SUPERSEDED,
			              OFFSERV_CBS_E_NOT_APPLICABLE);
			goto done;
		}
	}

	/* 4. Parents: every detect-parent needs one alternative present. */
	for (size_t k = 0; k < pkg->n_parents; k++) {
		const struct offserv_parent *par = &pkg->parents[k];
		const struct parsed *near = NULL;
		bool found = false;

		if (par->n_ids == 0 || !parent_requires_presence(par))
			continue;
		for (size_t a = 0; a < par->n_ids && !found; a++) {
			const struct offserv_identity *want = &par->ids[a];

			if (!want->name)
				continue;
			for (size_t i = 0; i < n_installed && !found; i++) {
				const struct parsed *p = &inst[i];

				if (!p->ok || !state_provides_parent(p->state) ||
				    strcasecmp(p->id.name, want->name) != 0 || !arch_same(p->id.arch, want->arch))
					continue;
				if (version_satisfies(par, want->version, p->id.version))
					found = true;
				else if (!near)
					near = p;
			}
		}
		if (!found) {
			enum offserv_applicability_rule rule = OFFSERV_RULE_PARENT_MISSING;
			char needs[400];

			describe_parent(par, needs, sizeof(needs));
			if (near) {
				snprintf(out->explain, sizeof(out->explain),
				         "%s needs %s; the image has %s %s, which does not match",
				         id->name, needs, near->id.name, near->id.version);
				rule = parent_older(par, near) ? OFFSERV_RULE_PARENT_TOO_OLD
				                               : OFFSERV_RULE_PARENT_MISMATCH;
			} else {
				snprintf(out->explain, sizeof(out->explain),
				         "%s needs %s, and the image has none of them", id->name, needs);
			}
			ret = verdict(out, OFFSERV_NOT_APPLICABLE_PARENT, rule,
			              OFFSERV_CBS_E_NOT_APPLICABLE);
			goto done;
		}
	}

	/* 5. Servicing stack. */
	if (pkg->installer && pkg->installer->version) {
		char have[32];

		if (stack_version_parsed(inst, n_installed, have) == 0 &&
		    offserv_version_compare(pkg->installer->version, have) > 0) {
			snprintf(out->explain, sizeof(out->explain),
			         "%s needs servicing stack %s; the image has %s: apply a servicing stack update first",
			         id->name, pkg->installer->version, have);
			ret = verdict(out, OFFSERV_NEEDS_NEWER_SSU, OFFSERV_RULE_SERVICING_STACK,
			              OFFSERV_CBS_E_NEW_SERVICING_STACK_REQUIRED);
			goto done;
		}
	}

	snprintf(out->explain, sizeof(out->explain), "%s %s applies to this %s image", id->name,
	         id->version, img);
	ret = verdict(out, OFFSERV_APPLICABLE, OFFSERV_RULE_APPLIES, OFFSERV_OK);
done:
	free_parsed(inst, n_installed);
	return ret;
}

offserv_status offserv_applicability_check_mum(const struct offserv_installed_package *installed,
                                               size_t n_installed, const char *image_arch,
                                               const struct offserv_mum *mum,
                                               struct offserv_applicability_result *out)
{
	struct offserv_applicability_package pkg = {0};

	if (!mum) {
		memset(out, 0, sizeof(*out));
		snprintf(out->explain, sizeof(out->explain), "no package manifest");
		out->hr = OFFSERV_E_INVALIDARG;
		return OFFSERV_E_INVALIDARG;
	}
	pkg.id = &mum->id;
	pkg.parents = mum->parents;
	pkg.n_parents = mum->n_parents;
	pkg.installer = mum->installer.name || mum->installer.version ? &mum->installer : NULL;
	return offserv_applicability_check(installed, n_installed, image_arch, &pkg, out);
}
