/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * Update format "msu": a cabinet holding package cabinets, WSUSSCAN.cab,
 * <name>-pkgProperties.txt and an unattend <name>.xml that names the
 * packages to install, in order.  The servicing stack update goes first.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <offserv/cab.h>
#include <offserv/cbs.h>
#include <offserv/msu.h>
#include <offserv/plugin.h>
#include <offserv/util.h>

#include "update_format.h"

struct msu_ctx {
	uint64_t max_expanded;
	char *temp_dir; /* for read_info's scratch copies of inner cabinets */
};

static offserv_status msu_init(const struct offserv_host *host, void **ctx)
{
	struct msu_ctx *c = calloc(1, sizeof(*c));

	(void)host;
	if (!c)
		return OFFSERV_E_OUTOFMEMORY;
	c->max_expanded = OFFSERV_CAB_DEFAULT_MAX_TOTAL;
	*ctx = c;
	return OFFSERV_OK;
}

static void msu_shutdown(void *ctx)
{
	struct msu_ctx *c = ctx;

	if (!c)
		return;
	free(c->temp_dir);
	free(c);
}

static offserv_status msu_configure(void *ctx, const char *key, const char *value, char *err,
                                    size_t errlen)
{
	struct msu_ctx *c = ctx;

	if (!strcasecmp(key, "max_expanded_bytes")) {
		unsigned long long v;
		char *end;
		errno = 0;
		v = strtoull(value, &end, 10);
		if (!c || !*value || *end || errno || v == 0 || value[0] == '-') {
			offserv_set_error(err, errlen, "max_expanded_bytes: \"%s\" is not a positive "
			                  "number of bytes", value);
			return OFFSERV_E_INVALIDARG;
		}
		c->max_expanded = v;
		return OFFSERV_OK;
	}
	if (!strcasecmp(key, "temp_dir")) {
		struct stat st;
		char *v;
		if (!c || value[0] != '/' || stat(value, &st) != 0 || !S_ISDIR(st.st_mode)) {
			offserv_set_error(err, errlen, "temp_dir: \"%s\" is not an existing absolute "
			                  "folder", value);
			return OFFSERV_E_INVALIDARG;
		}
		v = strdup(value);
		if (!v)
			return OFFSERV_E_OUTOFMEMORY;
		free(c->temp_dir);
		c->temp_dir = v;
		return OFFSERV_OK;
	}
	return OFFSERV_E_NOT_FOUND;
}

static int has_mscf(const char *path)
{
	return offserv_file_starts_with(path, "MSCF", 4);
}

/* Cabinets in an MSU that are not packages. */
static int is_non_package_cab(const char *n)
{
	return !strcasecmp(n, "WSUSSCAN.cab") || !strncasecmp(n, "DesktopDeployment", 17) ||
	       !strcasecmp(n, "onepackage.AggregatedMetadata.cab");
}

static int root_name(const struct offserv_cab_member *m, const char **n)
{
	*n = m->name ? m->name : m->raw_name;
	return strchr(*n, '/') == NULL && strchr(*n, '\\') == NULL;
}

static int msu_probe(void *ctx, const char *path)
{
	struct offserv_cab *cab = NULL;
	int inner = 0, marker = 0, wim = 0, mum = 0, score;

	(void)ctx;
	if (!has_mscf(path))
		return 0;
	if (offserv_cab_open(path, &cab, NULL, 0) != OFFSERV_OK)
		return 5;
	for (const struct offserv_cab_member *m = offserv_cab_next(cab, NULL); m;
	     m = offserv_cab_next(cab, m)) {
		const char *n;
		if (!root_name(m, &n))
			continue;
		if (upd_ends_with_ci(n, ".mum"))
			mum = 1;
		else if (!strcasecmp(n, "WSUSSCAN.cab") || upd_ends_with_ci(n, "pkgProperties.txt"))
			marker = 1;
		else if (upd_ends_with_ci(n, ".wim"))
			wim = 1;
		else if (upd_ends_with_ci(n, ".cab") && !is_non_package_cab(n))
			inner = 1;
	}
	offserv_cab_close(cab);
	if (!mum && (inner || wim) && marker)
		score = 90;
	else
		score = 5;
	if (upd_ends_with_ci(path, ".msu"))
		score += 3;
	return score;
}

/* One package of an MSU, as found. */
struct msu_entry {
	char *member;                    /* inner .cab (or .wim) name */
	char *copy;                      /* its copy in the work folder, or NULL */
	struct offserv_package_cab *pc;  /* NULL for a .wim entry */
	size_t unattend_pos;             /* index in the unattend file, or SIZE_MAX */
	int is_ssu;
};

struct msu_state {
	struct offserv_cab *outer;
	struct offserv_pkgprops *props;
	struct offserv_unattend *unattend;
	struct msu_entry *e;
	size_t n;
	int psf;        /* a .wim with a .psf: Windows 11 checkpoint format */
	char *workdir;  /* where inner cabinets were copied */
};

static void msu_state_free(struct msu_state *st)
{
	for (size_t i = 0; i < st->n; i++) {
		free(st->e[i].member);
		free(st->e[i].copy);
		offserv_package_cab_free(st->e[i].pc);
	}
	free(st->e);
	offserv_pkgprops_free(st->props);
	offserv_unattend_free(st->unattend);
	offserv_cab_close(st->outer);
	if (st->workdir)
		offserv_rmtree(st->workdir, NULL, 0);
	free(st->workdir);
	memset(st, 0, sizeof(*st));
}

static int entry_cmp(const void *a, const void *b)
{
	const struct msu_entry *x = a, *y = b;

	if (x->is_ssu != y->is_ssu)
		return x->is_ssu ? -1 : 1;
	if (x->unattend_pos != y->unattend_pos)
		return x->unattend_pos < y->unattend_pos ? -1 : 1;
	return strcasecmp(x->member, y->member);
}

static offserv_status add_entry(struct msu_state *st, const char *member)
{
	struct msu_entry *ne = realloc(st->e, (st->n + 1) * sizeof(*ne));

	if (!ne)
		return OFFSERV_E_OUTOFMEMORY;
	st->e = ne;
	memset(&ne[st->n], 0, sizeof(ne[st->n]));
	ne[st->n].member = strdup(member);
	ne[st->n].unattend_pos = SIZE_MAX;
	if (!ne[st->n].member)
		return OFFSERV_E_OUTOFMEMORY;
	st->n++;
	return OFFSERV_OK;
}

/* Read a small metadata member; a failure to parse it is not fatal. */
static void *small_member(struct offserv_cab *cab, const struct offserv_cab_member *m,
                          size_t *len)
{
	void *buf = NULL;

	if (offserv_cab_extract_member_mem(cab, m, OFFSERV_PKGPROPS_MAX_BYTES, &buf, len, NULL, 0) !=
	    OFFSERV_OK)
		return NULL;
	return buf;
}

/*
 * Open the MSU, read its metadata, copy each inner package cabinet into
 * @p workdir (created here, removed by msu_state_free()) and inspect it,
 * and sort the packages into install order.
 */
static offserv_status msu_load(void *ctx, const char *path, const char *workdir,
                               struct msu_state *st, char *err, size_t errlen)
{
	struct msu_ctx *c = ctx;
	int have_wim = 0, have_psf = 0;
	offserv_status s;
	char msg[512] = "";

	memset(st, 0, sizeof(*st));
	if (!has_mscf(path)) {
		offserv_set_error(err, errlen, "%s: not a package: not a cabinet file", path);
		return OFFSERV_CBS_E_INVALID_PACKAGE;
	}
	s = offserv_cab_open(path, &st->outer, err, errlen);
	if (s != OFFSERV_OK)
		return s;
	offserv_cab_set_max_total(st->outer, c ? c->max_expanded : 0);
	if (offserv_cab_check_names(st->outer, msg, sizeof(msg)) != OFFSERV_OK) {
		offserv_set_error(err, errlen, "not a valid package: %s", msg);
		return OFFSERV_CBS_E_INVALID_PACKAGE;
	}
	for (const struct offserv_cab_member *m = offserv_cab_next(st->outer, NULL); m;
	     m = offserv_cab_next(st->outer, m)) {
		const char *n = m->name;
		void *buf;
		size_t len;

		if (strchr(n, '/'))
			continue;
		if (upd_ends_with_ci(n, "pkgProperties.txt") && !st->props) {
			buf = small_member(st->outer, m, &len);
			if (buf)
				offserv_pkgprops_parse(buf, len, &st->props, NULL, 0);
			free(buf);
		} else if (upd_ends_with_ci(n, ".xml") && !st->unattend) {
			buf = small_member(st->outer, m, &len);
			if (buf)
				offserv_unattend_parse(buf, len, &st->unattend, NULL, 0);
			free(buf);
		} else if (upd_ends_with_ci(n, ".wim")) {
			have_wim = 1;
		} else if (upd_ends_with_ci(n, ".psf")) {
			have_psf = 1;
		}
	}
	st->psf = have_wim && have_psf;
	for (const struct offserv_cab_member *m = offserv_cab_next(st->outer, NULL); m;
	     m = offserv_cab_next(st->outer, m)) {
		const char *n = m->name;
		if (strchr(n, '/'))
			continue;
		if ((upd_ends_with_ci(n, ".cab") && !is_non_package_cab(n)) ||
		    (st->psf && upd_ends_with_ci(n, ".wim"))) {
			s = add_entry(st, n);
			if (s != OFFSERV_OK)
				return s;
		}
	}
	if (st->n == 0) {
		offserv_set_error(err, errlen, "%s: not a package: the MSU holds no package cabinet",
		                  path);
		return OFFSERV_CBS_E_INVALID_PACKAGE;
	}
	st->workdir = strdup(workdir);
	if (!st->workdir)
		return OFFSERV_E_OUTOFMEMORY;
	if (mkdir(workdir, 0700) != 0) {
		int en = errno;
		free(st->workdir);
		st->workdir = NULL;
		offserv_set_error(err, errlen, "%s: cannot create %s: %s", path, workdir, strerror(en));
		return offserv_status_from_errno(en);
	}
	for (size_t i = 0; i < st->n; i++) {
		struct msu_entry *e = &st->e[i];
		const struct offserv_cab_member *m = offserv_cab_find(st->outer, e->member);
		struct offserv_cab *inner = NULL;
		char *tmp;

		if (st->unattend)
			for (size_t k = 0; k < st->unattend->n && e->unattend_pos == SIZE_MAX; k++)
				if (st->unattend->packages[k].cab_name &&
				    !strcasecmp(st->unattend->packages[k].cab_name, e->member))
					e->unattend_pos = k;
		if (upd_ends_with_ci(e->member, ".wim"))
			continue; /* metadata image of the PSF format: not expanded */
		if (!strncasecmp(e->member, "SSU-", 4))
			e->is_ssu = 1;
		if (asprintf(&tmp, "%s/%zu.cab", workdir, i) < 0)
			return OFFSERV_E_OUTOFMEMORY;
		e->copy = tmp;
		s = offserv_cab_extract_member(st->outer, m, tmp, err, errlen);
		if (s == OFFSERV_OK)
			s = offserv_cab_open(tmp, &inner, err, errlen);
		if (s == OFFSERV_OK) {
			offserv_cab_set_max_total(inner, c ? c->max_expanded : 0);
			s = offserv_package_cab_inspect(inner, &e->pc, err, errlen);
			offserv_cab_close(inner);
		}
		if (s != OFFSERV_OK) {
			/* Say which inner cabinet failed. */
			char inner_msg[512];
			snprintf(inner_msg, sizeof(inner_msg), "%s", err ? err : "");
			offserv_set_error(err, errlen, "%s: package cabinet %s: %s", path, e->member,
			                  inner_msg);
			return s;
		}
		if (e->pc->pkg.is_ssu)
			e->is_ssu = 1;
	}
	qsort(st->e, st->n, sizeof(*st->e), entry_cmp);
	return OFFSERV_OK;
}

static char *scratch_dir(void *ctx)
{
	struct msu_ctx *c = ctx;
	const char *base = c && c->temp_dir ? c->temp_dir : getenv("TMPDIR");
	char *tmpl, *dir;

	if (!base || base[0] != '/')
		base = "/tmp";
	if (asprintf(&tmpl, "%s/offserv-msu-XXXXXX", base) < 0)
		return NULL;
	if (!mkdtemp(tmpl)) {
		free(tmpl);
		return NULL;
	}
	dir = tmpl;
	return dir;
}

static offserv_status msu_read_info(void *ctx, const char *path,
                                    struct offserv_update_info **out, char *err, size_t errlen)
{
	struct offserv_update_info *info;
	struct msu_state st;
	const struct offserv_package_cab *main_pc = NULL;
	uint8_t digest[32];
	char *scratch, *work;
	const char *v;
	offserv_status s;

	*out = NULL;
	if (!has_mscf(path)) {
		offserv_set_error(err, errlen, "%s: not a package: not a cabinet file", path);
		return OFFSERV_CBS_E_INVALID_PACKAGE;
	}
	info = calloc(1, sizeof(*info));
	if (!info)
		return OFFSERV_E_OUTOFMEMORY;
	s = offserv_sha256_file(path, digest, &info->size, err, errlen);
	if (s != OFFSERV_OK) {
		offserv_update_info_free(info);
		return s;
	}
	offserv_hex(digest, 32, info->sha256);
	scratch = scratch_dir(ctx);
	if (!scratch) {
		int en = errno;
		offserv_set_error(err, errlen, "%s: cannot create a scratch folder: %s", path,
		                  strerror(en));
		offserv_update_info_free(info);
		return offserv_status_from_errno(en);
	}
	memset(&st, 0, sizeof(st));
	work = offserv_path_join(scratch, "cabs");
	s = work ? msu_load(ctx, path, work, &st, err, errlen) : OFFSERV_E_OUTOFMEMORY;
	free(work);
	if (s != OFFSERV_OK)
		goto out;
	s = OFFSERV_E_OUTOFMEMORY;
	info->packages = calloc(st.n, sizeof(*info->packages));
	if (!info->packages || upd_dup_into(&info->format, "msu"))
		goto out;
	for (size_t i = 0; i < st.n; i++) {
		const struct msu_entry *e = &st.e[i];
		struct offserv_update_package *p = &info->packages[info->n_packages++];

		if (upd_dup_into(&p->member, e->member))
			goto out;
		p->is_ssu = e->is_ssu;
		if (!e->pc) {
			const char *dot = strrchr(e->member, '.');
			p->name = strndup(e->member, dot ? (size_t)(dot - e->member) : strlen(e->member));
			if (!p->name || upd_dup_into(&p->unsupported_reason, OFFSERV_REASON_PSF))
				goto out;
			p->supported = 0;
			continue;
		}
		if (!main_pc && !e->is_ssu && e->pc->mum)
			main_pc = e->pc;
		{
			const struct offserv_update_package *q = &e->pc->pkg;
			if (upd_dup_into(&p->identity, q->identity) || upd_dup_into(&p->name, q->name) ||
			    upd_dup_into(&p->version, q->version) || upd_dup_into(&p->arch, q->arch) ||
			    upd_dup_into(&p->release_type, q->release_type) ||
			    upd_dup_into(&p->unsupported_reason, q->unsupported_reason))
				goto out;
			p->supported = q->supported;
		}
		if (st.psf && !p->is_ssu && p->supported) {
			free(p->unsupported_reason);
			p->supported = 0;
			if (upd_dup_into(&p->unsupported_reason, OFFSERV_REASON_PSF))
				goto out;
		}
		for (size_t k = 0; k < e->pc->n_parents; k++) {
			char **np;
			int dup = 0;
			for (size_t j = 0; j < info->n_parent_identities && !dup; j++)
				dup = !strcmp(info->parent_identities[j], e->pc->parents[k]);
			if (dup)
				continue;
			np = realloc(info->parent_identities,
			             (info->n_parent_identities + 1) * sizeof(*np));
			if (!np)
				goto out;
			info->parent_identities = np;
			np[info->n_parent_identities] = strdup(e->pc->parents[k]);
			if (!np[info->n_parent_identities])
				goto out;
			info->n_parent_identities++;
		}
	}
	/* ABI 1.1: each package's <parent> elements and the stack it needs. */
	for (size_t i = 0; i < st.n; i++)
		if (st.e[i].pc && upd_add_requirements(info, i, st.e[i].pc->mum) != OFFSERV_OK)
			goto out;
	/* KB: pkgProperties, else the main (non-SSU) package, else the names. */
	v = offserv_pkgprops_get(st.props, "KB Article Number");
	info->kb = offserv_kb_from_text(v);
	if (!info->kb && main_pc && main_pc->kb && upd_dup_into(&info->kb, main_pc->kb))
		goto out;
	for (size_t i = 0; i < st.n && !info->kb; i++)
		if (!st.e[i].is_ssu)
			info->kb = offserv_kb_from_text(st.e[i].member);
	if (!info->kb) {
		const char *base = strrchr(path, '/');
		info->kb = offserv_kb_from_text(base ? base + 1 : path);
	}
	if (!main_pc)
		for (size_t i = 0; i < st.n && !main_pc; i++)
			if (st.e[i].pc && st.e[i].pc->mum)
				main_pc = st.e[i].pc;
	if (!info->kb && main_pc && main_pc->kb && upd_dup_into(&info->kb, main_pc->kb))
		goto out;
	if (main_pc) {
		const struct offserv_mum *mum = main_pc->mum;
		const char *title = mum->display_name;
		if (!title || !strcasecmp(title, "default"))
			title = mum->description;
		if (upd_dup_into(&info->title, title) ||
		    upd_dup_into(&info->description, mum->description) ||
		    upd_dup_into(&info->release_type, mum->release_type) ||
		    upd_dup_into(&info->arch, offserv_arch_display(mum->id.arch)) ||
		    upd_dup_into(&info->support_link, mum->support_information))
			goto out;
	}
	if (!info->release_type &&
	    upd_dup_into(&info->release_type, offserv_pkgprops_get(st.props, "Package Type")))
		goto out;
	if ((v = offserv_pkgprops_get(st.props, "Processor Architecture")) != NULL) {
		free(info->arch);
		info->arch = NULL;
		if (upd_dup_into(&info->arch, offserv_arch_display(v)))
			goto out;
	}
	v = offserv_pkgprops_get(st.props, "Product Name");
	if (!v)
		v = offserv_pkgprops_get(st.props, "Applies to");
	if (upd_dup_into(&info->product, v) ||
	    upd_dup_into(&info->build_date, offserv_pkgprops_get(st.props, "Build Date")))
		goto out;
	if ((v = offserv_pkgprops_get(st.props, "Support Link")) != NULL) {
		free(info->support_link);
		info->support_link = NULL;
		if (upd_dup_into(&info->support_link, v))
			goto out;
	}
	s = OFFSERV_OK;
out:
	msu_state_free(&st);
	offserv_rmtree(scratch, NULL, 0);
	free(scratch);
	if (s != OFFSERV_OK) {
		if (s == OFFSERV_E_OUTOFMEMORY && err && errlen && !err[0])
			offserv_set_error(err, errlen, "%s: out of memory", path);
		offserv_update_info_free(info);
		return s;
	}
	*out = info;
	return OFFSERV_OK;
}

static offserv_status msu_expand(void *ctx, const char *path, const char *destdir,
                                 struct offserv_expanded_package **pkgs, size_t *n_pkgs,
                                 char *err, size_t errlen)
{
	struct msu_state st;
	struct offserv_expanded_package *out = NULL;
	size_t n_out = 0;
	char *work;
	offserv_status s;

	*pkgs = NULL;
	*n_pkgs = 0;
	memset(&st, 0, sizeof(st));
	work = offserv_path_join(destdir, ".offserv-msu-cabs");
	if (!work)
		return OFFSERV_E_OUTOFMEMORY;
	s = msu_load(ctx, path, work, &st, err, errlen);
	free(work);
	if (s != OFFSERV_OK)
		goto out;
	if (st.psf) {
		offserv_set_error(err, errlen, "%s: %s", path, OFFSERV_REASON_PSF);
		s = OFFSERV_E_NOT_SUPPORTED;
		goto out;
	}
	for (size_t i = 0; i < st.n; i++) {
		if (st.e[i].pc && !st.e[i].pc->pkg.supported) {
			offserv_set_error(err, errlen, "%s: package cabinet %s: %s", path, st.e[i].member,
			                  st.e[i].pc->pkg.unsupported_reason);
			s = OFFSERV_E_NOT_SUPPORTED;
			goto out;
		}
	}
	out = calloc(st.n, sizeof(*out));
	if (!out) {
		s = OFFSERV_E_OUTOFMEMORY;
		goto out;
	}
	for (size_t i = 0; i < st.n; i++) {
		const struct msu_entry *e = &st.e[i];
		const char *dot = strrchr(e->member, '.');
		struct offserv_cab *inner = NULL;
		char *dir = NULL;

		if (asprintf(&dir, "%s/%02zu-%.*s", destdir, i + 1,
		             (int)(dot ? (size_t)(dot - e->member) : strlen(e->member)),
		             e->member) < 0) {
			s = OFFSERV_E_OUTOFMEMORY;
			goto out;
		}
		out[n_out].dir = dir;
		n_out++;
		if (mkdir(dir, 0755) != 0) {
			int en = errno;
			offserv_set_error(err, errlen, "%s: cannot create %s: %s", path, dir, strerror(en));
			s = offserv_status_from_errno(en);
			goto out;
		}
		/* The copy msu_load() made of this cabinet, dropped once expanded. */
		s = offserv_cab_open(e->copy, &inner, err, errlen);
		if (s == OFFSERV_OK) {
			offserv_cab_set_max_total(inner, ctx ? ((struct msu_ctx *)ctx)->max_expanded : 0);
			s = offserv_cab_extract_all(inner, dir, err, errlen);
			offserv_cab_close(inner);
		}
		unlink(e->copy);
		if (s != OFFSERV_OK)
			goto out;
		out[i].mum_name = strdup(e->pc->mum_name ? e->pc->mum_name : "update.mum");
		if (!out[i].mum_name) {
			s = OFFSERV_E_OUTOFMEMORY;
			goto out;
		}
		out[i].is_ssu = e->is_ssu;
	}
out:
	msu_state_free(&st);
	if (s != OFFSERV_OK) {
		for (size_t i = 0; i < n_out; i++)
			offserv_rmtree(out[i].dir, NULL, 0);
		offserv_expanded_packages_free(out, n_out);
		if (s == OFFSERV_E_OUTOFMEMORY && err && errlen && !err[0])
			offserv_set_error(err, errlen, "%s: out of memory", path);
		return s;
	}
	*pkgs = out;
	*n_pkgs = n_out;
	return OFFSERV_OK;
}

static const struct offserv_update_format_ops msu_ops = {
	.probe = msu_probe,
	.read_info = msu_read_info,
	.expand = msu_expand,
};

OFFSERV_PLUGIN_EXPORT const struct offserv_plugin offserv_plugin = {
	.abi_version = OFFSERV_PLUGIN_ABI_VERSION,
	.abi_minor = OFFSERV_PLUGIN_ABI_MINOR,
	.name = "msu",
	.kind = OFFSERV_PLUGIN_UPDATE_FORMAT,
	.version = PACKAGE_VERSION,
	.description = "Microsoft update standalone packages (package cabinets in a cabinet)",
	.init = msu_init,
	.configure = msu_configure,
	.shutdown = msu_shutdown,
	.ops.update_format = &msu_ops,
};
