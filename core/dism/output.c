/* SPDX-License-Identifier: GPL-3.0-or-later */
/* What the dism program prints: DISM's layouts to the character. */
#include <config.h>

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <offserv/engine.h>

#include "dism/output.h"

void dism_out_init(struct dism_out *o, FILE *fp, int crlf, int quiet)
{
	memset(o, 0, sizeof(*o));
	o->fp = fp;
	o->crlf = crlf;
	o->quiet = quiet;
	o->tty = isatty(fileno(fp));
	o->bar_tenths = -1;
}

static void raw_text(struct dism_out *o, const char *text)
{
	for (const char *p = text; *p; p++) {
		if (*p == '\n' && o->crlf)
			fputc('\r', o->fp);
		fputc(*p, o->fp);
	}
}

void dism_out_text(struct dism_out *o, const char *text)
{
	if (o->quiet)
		return;
	raw_text(o, text);
}

void dism_out_line(struct dism_out *o, const char *fmt, ...)
{
	va_list ap;
	char small[512], *buf = small;
	int n;

	if (o->quiet)
		return;
	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(small)) {
		buf = malloc((size_t)n + 1);
		if (!buf)
			return;
		va_start(ap, fmt);
		vsnprintf(buf, (size_t)n + 1, fmt, ap);
		va_end(ap);
	}
	raw_text(o, buf);
	raw_text(o, "\n");
	if (buf != small)
		free(buf);
}

void dism_out_blank(struct dism_out *o)
{
	dism_out_text(o, "\n");
}

void dism_out_banner(struct dism_out *o)
{
	dism_out_text(o, "Deployment Image Servicing and Management tool\n"
	                 "Version: " DISM_COMPAT_VERSION "\n\n");
}

void dism_progress_format(double pct, char out[DISM_PROGRESS_LEN + 1])
{
	char num[16];
	int fill, len;

	if (!(pct >= 0.0)) /* also NaN */
		pct = 0.0;
	if (pct > 100.0)
		pct = 100.0;
	fill = (int)floor(pct * DISM_PROGRESS_INNER / 100.0);
	if (fill > DISM_PROGRESS_INNER)
		fill = DISM_PROGRESS_INNER;
	out[0] = '[';
	for (int i = 0; i < DISM_PROGRESS_INNER; i++)
		out[1 + i] = i < fill ? '=' : ' ';
	out[DISM_PROGRESS_INNER + 1] = ']';
	out[DISM_PROGRESS_LEN] = '\0';
	len = snprintf(num, sizeof(num), "%.1f%%", pct);
	if (len > 0 && len <= 32)
		memcpy(out + 1 + (32 - len), num, (size_t)len);
}

void dism_out_progress(struct dism_out *o, double pct)
{
	char bar[DISM_PROGRESS_LEN + 1];
	int tenths;

	if (o->quiet)
		return;
	if (!(pct >= 0.0))
		pct = 0.0;
	if (pct > 100.0)
		pct = 100.0;
	tenths = (int)floor(pct * 10.0);
	if (tenths == o->bar_tenths && o->bar_open)
		return;
	o->bar_tenths = tenths;
	o->bar_open = 1;
	if (!o->tty)
		return;
	dism_progress_format(tenths / 10.0, bar);
	fputc('\r', o->fp);
	fputs(bar, o->fp);
	fflush(o->fp);
}

void dism_out_progress_end(struct dism_out *o)
{
	char bar[DISM_PROGRESS_LEN + 1];

	if (o->quiet || !o->bar_open)
		return;
	if (!o->tty) {
		dism_progress_format(o->bar_tenths / 10.0, bar);
		fputs(bar, o->fp);
	}
	raw_text(o, "\n");
	o->bar_open = 0;
	o->bar_tenths = -1;
}

void dism_format_code(offserv_status st, char *buf, size_t len)
{
	int w = offserv_status_win32_code(st);

	if (w >= 0)
		snprintf(buf, len, "%d", w);
	else if (OFFSERV_FAILED(st))
		snprintf(buf, len, "0x%08x", (unsigned)st);
	else
		snprintf(buf, len, "%u", (unsigned)st);
}

void dism_format_errorlevel(offserv_status st, char *buf, size_t len)
{
	int w = offserv_status_win32_code(st);

	if (w >= 0)
		snprintf(buf, len, "%d", w);
	else
		snprintf(buf, len, "%ld", (long)(int32_t)st);
}

char *dism_error_block(offserv_status st, const char *message, const char *logpath)
{
	char code[24];
	char *out = NULL;
	int n;

	dism_format_code(st, code, sizeof(code));
	if (logpath)
		n = asprintf(&out, "\nError: %s\n\n%s\n\nThe DISM log file can be found at %s\n", code,
		             message, logpath);
	else
		n = asprintf(&out, "\nError: %s\n\n%s\n", code, message);
	return n < 0 ? NULL : out;
}

void dism_out_error(struct dism_out *o, offserv_status st, const char *message,
                    const char *logpath)
{
	char *b;

	if (o->bar_open) {
		int q = o->quiet;
		o->quiet = 0;
		dism_out_progress_end(o);
		o->quiet = q;
	}
	b = dism_error_block(st, message, logpath);
	if (!b)
		return;
	raw_text(o, b);
	fflush(o->fp);
	free(b);
}

void dism_format_thousands(uint64_t v, char *buf, size_t len)
{
	char digits[32], out[48];
	int n = snprintf(digits, sizeof(digits), "%llu", (unsigned long long)v);
	size_t j = 0;

	for (int i = 0; i < n; i++) {
		if (i > 0 && (n - i) % 3 == 0)
			out[j++] = ',';
		out[j++] = digits[i];
	}
	out[j] = '\0';
	snprintf(buf, len, "%s", out);
}

time_t dism_filetime_to_time(uint64_t ft)
{
	const uint64_t epoch_diff = 116444736000000000ull; /* 1601 -> 1970, 100 ns ticks */

	if (ft < epoch_diff)
		return 0;
	return (time_t)((ft - epoch_diff) / 10000000ull);
}

static void split_12h(const struct tm *tm, int *hour, const char **ampm)
{
	*ampm = tm->tm_hour < 12 ? "AM" : "PM";
	*hour = tm->tm_hour % 12;
	if (*hour == 0)
		*hour = 12;
}

void dism_format_image_date(time_t t, char *buf, size_t len)
{
	struct tm tm;
	const char *ampm;
	int h;

	if (!localtime_r(&t, &tm)) {
		snprintf(buf, len, "<undefined>");
		return;
	}
	split_12h(&tm, &h, &ampm);
	snprintf(buf, len, "%d/%d/%d - %d:%02d:%02d %s", tm.tm_mon + 1, tm.tm_mday,
	         tm.tm_year + 1900, h, tm.tm_min, tm.tm_sec, ampm);
}

void dism_format_install_time(time_t t, char *buf, size_t len)
{
	struct tm tm;
	const char *ampm;
	int h;

	if (!localtime_r(&t, &tm)) {
		snprintf(buf, len, "%s", "");
		return;
	}
	split_12h(&tm, &h, &ampm);
	snprintf(buf, len, "%d/%d/%d %d:%02d %s", tm.tm_mon + 1, tm.tm_mday, tm.tm_year + 1900, h,
	         tm.tm_min, ampm);
}

void dism_format_store_size(uint64_t bytes, char *buf, size_t len)
{
	static const char *const units[] = {"KB", "MB", "GB", "TB", "PB", "EB"};
	double v = (double)bytes;
	size_t u = 0;

	if (bytes < 1024) {
		snprintf(buf, len, "%u bytes", (unsigned)bytes);
		return;
	}
	v /= 1024.0;
	/* Move up while the value, rounded to two decimals, reaches 1024. */
	while (u + 1 < sizeof(units) / sizeof(units[0]) && v >= 1024.0 - 0.005) {
		v /= 1024.0;
		u++;
	}
	snprintf(buf, len, "%.2f %s", v, units[u]);
}

void dism_format_cleanup_date(int64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t == 0 || !localtime_r(&tt, &tm)) {
		snprintf(buf, len, "%s", "");
		return;
	}
	snprintf(buf, len, "%04d-%02d-%02d %02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1,
	         tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

char *dism_store_report(const struct offserv_component_store_info *info)
{
	char explorer[32], actual[32], shared[32], backups[32], cache[32], date[32];
	char *text = NULL;

	dism_format_store_size(info->explorer_size, explorer, sizeof(explorer));
	dism_format_store_size(info->actual_size, actual, sizeof(actual));
	dism_format_store_size(info->shared_with_windows, shared, sizeof(shared));
	dism_format_store_size(info->backups_and_disabled, backups, sizeof(backups));
	dism_format_store_size(info->cache_and_temp, cache, sizeof(cache));
	dism_format_cleanup_date(info->last_cleanup, date, sizeof(date));
	if (asprintf(&text,
	             "Component Store (WinSxS) information:\n"
	             "\n"
	             "Windows Explorer Reported Size of Component Store : %s\n"
	             "\n"
	             "Actual Size of Component Store : %s\n"
	             "\n"
	             "    Shared with Windows : %s\n"
	             "    Backups and Disabled Features : %s\n"
	             "    Cache and Temporary Data : %s\n"
	             "\n"
	             "Date of Last Cleanup : %s\n"
	             "\n"
	             "Number of Reclaimable Packages : %u\n"
	             "Component Store Cleanup Recommended : %s\n",
	             explorer, actual, shared, backups, cache, date, info->reclaimable_packages,
	             info->cleanup_recommended ? "Yes" : "No") < 0)
		return NULL;
	return text;
}

int dism_exit_status(offserv_status st)
{
	static const struct {
		offserv_status st;
		int code;
	} table[] = {
		{OFFSERV_S_REBOOT_REQUIRED, 200},
		{OFFSERV_CBS_E_INVALID_PACKAGE, 201},
		{OFFSERV_CBS_E_PENDING, 202},
		{OFFSERV_CBS_E_NOT_APPLICABLE, 203},
		{OFFSERV_CBS_E_SOURCE_MISSING, 204},
		{OFFSERV_CBS_E_NEW_SERVICING_STACK_REQUIRED, 205},
		{OFFSERV_CBS_E_IMAGE_UNSERVICEABLE, 206},
		{OFFSERV_CBS_E_INSTALLERS_FAILED, 207},
		{OFFSERV_DISMAPI_E_UNMOUNT_INCOMPLETE, 208},
		{OFFSERV_E_NOTIMPL, 209},
		{OFFSERV_CBS_E_UNKNOWN_UPDATE, 210},
		{OFFSERV_CBS_E_CANNOT_UNINSTALL, 211},
	};
	int w;

	if (st == OFFSERV_OK)
		return 0;
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (table[i].st == st)
			return table[i].code;
	w = offserv_status_win32_code(st);
	if (w >= 1 && w <= 199)
		return w;
	if (OFFSERV_SUCCEEDED(st))
		return 0;
	return 1;
}
