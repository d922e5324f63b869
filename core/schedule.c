/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Schedules: recurrence rules, due times, storage, image locks. */
#include <config.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <offserv/catalogue.h>
#include <offserv/schedule.h>
#include <offserv/util.h>

#define UPDATES_ALL_SUFFIX "; updates=all"

/* ---------------------------------------------------------------------- */
/* Dates                                                                   */

static const char *const weekday_names[7] = {"sunday", "monday", "tuesday", "wednesday",
                                             "thursday", "friday", "saturday"};
static const char *const nth_names[5] = {"first", "second", "third", "fourth", "fifth"};

static int is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m /* 0..11 */)
{
	static const int d[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	return m == 1 && is_leap(y) ? 29 : d[m];
}

/* UTC time of y-m-d h:mi; days beyond the month roll over. */
static time_t utc_time(int y, int m, int d, int h, int mi)
{
	struct tm tm = {0};

	tm.tm_year = y - 1900;
	tm.tm_mon = m;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	return timegm(&tm);
}

void offserv_format_utc(time_t t, char out[21])
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 21, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

offserv_status offserv_parse_utc(const char *text, time_t *out, char *err, size_t errlen)
{
	int y, mo, d, h, mi, s = 0, n = 0;
	char sep;

	if (!text || sscanf(text, "%4d-%2d-%2d%c%2d:%2d%n", &y, &mo, &d, &sep, &h, &mi, &n) != 6 ||
	    (sep != ' ' && sep != 'T'))
		goto bad;
	if (text[n] == ':') {
		int n2 = 0;
		if (sscanf(text + n + 1, "%2d%n", &s, &n2) != 1)
			goto bad;
		n += 1 + n2;
	}
	if (text[n] == 'Z')
		n++;
	if (text[n] != '\0' || y < 1970 || y > 9999 || mo < 1 || mo > 12 || d < 1 ||
	    d > days_in_month(y, mo - 1) || h < 0 || h > 23 || mi < 0 || mi > 59 || s < 0 || s > 59)
		goto bad;
	*out = utc_time(y, mo - 1, d, h, mi) + s;
	return OFFSERV_OK;
bad:
	offserv_set_error(err, errlen, "\"%s\" is not a UTC date and time \"YYYY-MM-DD HH:MM\"",
	                  text ? text : "");
	return OFFSERV_E_INVALIDARG;
}

/* "HH:MM", alone or at the end of "YYYY-MM-DD HH:MM". */
static int parse_hhmm(const char *text, int *h, int *m)
{
	const char *p = text;
	int n = 0;
	size_t len = strlen(text);

	if (len > 5 && (text[len - 6] == ' ' || text[len - 6] == 'T'))
		p = text + len - 5;
	if (sscanf(p, "%2d:%2d%n", h, m, &n) != 2 || p[n] != '\0' || *h < 0 || *h > 23 || *m < 0 ||
	    *m > 59)
		return -1;
	return 0;
}

static int weekday_from_name(const char *w, size_t len)
{
	for (int i = 0; i < 7; i++)
		if ((len == 3 || len == strlen(weekday_names[i])) &&
		    strncasecmp(w, weekday_names[i], len) == 0)
			return i;
	return -1;
}

/* ---------------------------------------------------------------------- */
/* Cron expressions                                                        */

static int cron_name(const char *s, size_t len, int field)
{
	static const char *const months[12] = {"jan", "feb", "mar", "apr", "may", "jun",
	                                       "jul", "aug", "sep", "oct", "nov", "dec"};

	if (len != 3)
		return -1;
	if (field == 3)
		for (int i = 0; i < 12; i++)
			if (strncasecmp(s, months[i], 3) == 0)
				return i + 1;
	if (field == 4)
		return weekday_from_name(s, 3);
	return -1;
}

static int cron_value(const char **pp, int field, int *v)
{
	const char *p = *pp;
	char *end;
	long x;

	if (isalpha((unsigned char)*p)) {
		const char *q = p;
		while (isalpha((unsigned char)*q))
			q++;
		*v = cron_name(p, (size_t)(q - p), field);
		*pp = q;
		return *v < 0 ? -1 : 0;
	}
	if (!isdigit((unsigned char)*p))
		return -1;
	errno = 0;
	x = strtol(p, &end, 10);
	if (errno || x > 1000)
		return -1;
	*v = (int)x;
	*pp = end;
	return 0;
}

/* One field into bits; lo..hi are its bounds. */
static int cron_field(const char *text, int field, int lo, int hi, uint64_t *bits, int *any)
{
	const char *p = text;

	*bits = 0;
	*any = strcmp(text, "*") == 0;
	for (;;) {
		int a, b, step = 1;

		if (*p == '*') {
			a = lo;
			b = hi;
			p++;
		} else {
			if (cron_value(&p, field, &a) != 0)
				return -1;
			b = a;
			if (*p == '-') {
				p++;
				if (cron_value(&p, field, &b) != 0)
					return -1;
			}
		}
		if (*p == '/') {
			char *end;
			long s;
			p++;
			if (!isdigit((unsigned char)*p))
				return -1;
			s = strtol(p, &end, 10);
			if (s < 1 || s > hi)
				return -1;
			step = (int)s;
			p = end;
			if (a == b && text[0] != '*')
				b = hi;
		}
		if (field == 4 && b == 7 && a <= 7) {
			/* 7 is Sunday too */
			if (a == 7)
				a = 0, b = 0;
			else {
				*bits |= 1;
				b = 6;
			}
		}
		if (a < lo || b > hi || a > b)
			return -1;
		for (int i = a; i <= b; i += step)
			*bits |= (uint64_t)1 << i;
		if (*p == ',') {
			p++;
			continue;
		}
		return *p == '\0' ? 0 : -1;
	}
}

static offserv_status parse_cron(const char *expr, struct offserv_recurrence *r, char *err,
                                 size_t errlen)
{
	static const int lo[5] = {0, 0, 1, 1, 0}, hi[5] = {59, 23, 31, 12, 7};
	static const char *const what[5] = {"minute", "hour", "day of month", "month", "day of week"};
	char buf[128], *save = NULL, *tok, *fields[5];
	int n = 0;

	if (strlen(expr) >= sizeof(buf)) {
		offserv_set_error(err, errlen, "cron expression too long");
		return OFFSERV_E_INVALIDARG;
	}
	snprintf(buf, sizeof(buf), "%s", expr);
	for (tok = strtok_r(buf, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
		if (n == 5) {
			n++;
			break;
		}
		fields[n++] = tok;
	}
	if (n != 5) {
		offserv_set_error(err, errlen,
		                  "cron expression \"%s\": five fields expected (minute hour "
		                  "day-of-month month day-of-week)", expr);
		return OFFSERV_E_INVALIDARG;
	}
	r->kind = OFFSERV_RECUR_CRON;
	for (int i = 0; i < 5; i++) {
		uint64_t bits;
		int any;

		if (cron_field(fields[i], i, lo[i], hi[i], &bits, &any) != 0 || bits == 0) {
			offserv_set_error(err, errlen, "cron expression \"%s\": bad %s field \"%s\"", expr,
			                  what[i], fields[i]);
			return OFFSERV_E_INVALIDARG;
		}
		switch (i) {
		case 0: r->cron_minutes = bits; break;
		case 1: r->cron_hours = (uint32_t)bits; break;
		case 2: r->cron_mdays = (uint32_t)bits; r->cron_mday_any = any; break;
		case 3: r->cron_months = (uint32_t)bits; break;
		default: r->cron_wdays = (uint32_t)(bits & 0x7f); r->cron_wday_any = any; break;
		}
	}
	snprintf(r->cron_text, sizeof(r->cron_text), "%s %s %s %s %s", fields[0], fields[1],
	         fields[2], fields[3], fields[4]);
	return OFFSERV_OK;
}

static int cron_day_matches(const struct offserv_recurrence *r, const struct tm *tm)
{
	int md = (r->cron_mdays >> tm->tm_mday) & 1, wd = (r->cron_wdays >> tm->tm_wday) & 1;

	if (!((r->cron_months >> (tm->tm_mon + 1)) & 1))
		return 0;
	if (r->cron_mday_any && r->cron_wday_any)
		return 1;
	if (r->cron_mday_any)
		return wd;
	if (r->cron_wday_any)
		return md;
	return md || wd; /* both restricted: either matches, as cron does */
}

static offserv_status cron_next(const struct offserv_recurrence *r, time_t after, time_t *next)
{
	time_t t = (after / 60 + 1) * 60;
	struct tm tm;

	gmtime_r(&t, &tm);
	for (int day = 0; day < 366 * 8 + 2; day++) {
		time_t d0 = utc_time(tm.tm_year + 1900, tm.tm_mon, tm.tm_mday + day, 0, 0);
		struct tm dt;

		gmtime_r(&d0, &dt);
		if (!cron_day_matches(r, &dt))
			continue;
		for (int h = 0; h < 24; h++) {
			if (!((r->cron_hours >> h) & 1))
				continue;
			for (int m = 0; m < 60; m++) {
				time_t c;
				if (!((r->cron_minutes >> m) & 1))
					continue;
				c = d0 + h * 3600 + m * 60;
				if (c >= t) {
					*next = c;
					return OFFSERV_OK;
				}
			}
		}
	}
	return OFFSERV_E_NOT_FOUND;
}

/* ---------------------------------------------------------------------- */
/* Rules                                                                   */

/* "NTH WEEKDAY [+N days]" or "day D" into r (kind MONTHLY). */
static int parse_monthly_on(const char *on, struct offserv_recurrence *r)
{
	char w1[32], w2[32], w3[32];
	int n, off = 0, consumed = 0;

	if (sscanf(on, " day %d %n", &n, &consumed) == 1 && on[consumed] == '\0') {
		if (n < 1 || n > 31)
			return -1;
		r->nth = 0;
		r->mday = n;
		return 0;
	}
	consumed = 0;
	if (sscanf(on, " %31s %31s %n", w1, w2, &consumed) != 2)
		return -1;
	r->nth = 0;
	for (int i = 0; i < 5; i++)
		if (strcasecmp(w1, nth_names[i]) == 0)
			r->nth = i + 1;
	if (strcasecmp(w1, "last") == 0)
		r->nth = -1;
	if (r->nth == 0 && w1[0] >= '1' && w1[0] <= '5' &&
	    (!strcasecmp(w1 + 1, "st") || !strcasecmp(w1 + 1, "nd") || !strcasecmp(w1 + 1, "rd") ||
	     !strcasecmp(w1 + 1, "th")))
		r->nth = w1[0] - '0';
	r->weekday = weekday_from_name(w2, strlen(w2));
	if (r->nth == 0 || r->weekday < 0)
		return -1;
	on += consumed;
	if (*on) {
		int c2 = 0;
		if (sscanf(on, "%d %31s %n", &off, w3, &c2) != 2 || on[c2] != '\0' ||
		    (strcasecmp(w3, "days") != 0 && strcasecmp(w3, "day") != 0) || off < -31 ||
		    off > 31 || (on[0] != '+' && on[0] != '-'))
			return -1;
	}
	r->offset_days = off;
	return 0;
}

offserv_status offserv_recurrence_parse(const char *text, struct offserv_recurrence *out,
                                        char *err, size_t errlen)
{
	char kind[16], rest[160];
	const char *at;
	int n = 0;

	memset(out, 0, sizeof(*out));
	if (!text)
		goto bad;
	while (isspace((unsigned char)*text))
		text++;
	if (strcasecmp(text, "none") == 0 || *text == '\0')
		return OFFSERV_OK;
	if (strncasecmp(text, "cron ", 5) == 0)
		return parse_cron(text + 5, out, err, errlen);
	if (sscanf(text, "%15s %n", kind, &n) != 1 || strlen(text + n) >= sizeof(rest))
		goto bad;
	snprintf(rest, sizeof(rest), "%s", text + n);
	at = strstr(rest, "at ");
	if (!at || (at != rest && at[-1] != ' ') || parse_hhmm(at + 3, &out->hour, &out->minute))
		goto bad;
	if (at != rest)
		rest[at - rest - 1] = '\0';
	else
		rest[0] = '\0';
	if (strcasecmp(kind, "daily") == 0) {
		out->kind = OFFSERV_RECUR_DAILY;
		if (rest[0])
			goto bad;
	} else if (strcasecmp(kind, "weekly") == 0) {
		out->kind = OFFSERV_RECUR_WEEKLY;
		if (strncasecmp(rest, "on ", 3) != 0 ||
		    (out->weekday = weekday_from_name(rest + 3, strlen(rest + 3))) < 0)
			goto bad;
	} else if (strcasecmp(kind, "monthly") == 0) {
		out->kind = OFFSERV_RECUR_MONTHLY;
		if (strncasecmp(rest, "on ", 3) != 0 || parse_monthly_on(rest + 3, out) != 0)
			goto bad;
	} else {
		goto bad;
	}
	return OFFSERV_OK;
bad:
	offserv_set_error(err, errlen, "\"%s\" is not a recurrence rule", text ? text : "");
	return OFFSERV_E_INVALIDARG;
}

offserv_status offserv_recurrence_from_options(const char *every, const char *on, const char *at,
                                               const char *cron, time_t now,
                                               struct offserv_recurrence *out, char *err,
                                               size_t errlen)
{
	struct tm tm;

	memset(out, 0, sizeof(*out));
	gmtime_r(&now, &tm);
	if (cron) {
		if (every || on) {
			offserv_set_error(err, errlen, "--cron cannot be combined with --every or --on");
			return OFFSERV_E_INVALIDARG;
		}
		return parse_cron(cron, out, err, errlen);
	}
	if (!every) {
		if (on) {
			offserv_set_error(err, errlen, "--on needs --every week or --every month");
			return OFFSERV_E_INVALIDARG;
		}
		return OFFSERV_OK;
	}
	if (!at || parse_hhmm(at, &out->hour, &out->minute) != 0) {
		offserv_set_error(err, errlen, "--every needs --at HH:MM (UTC), not \"%s\"",
		                  at ? at : "");
		return OFFSERV_E_INVALIDARG;
	}
	if (!strcasecmp(every, "day") || !strcasecmp(every, "daily")) {
		out->kind = OFFSERV_RECUR_DAILY;
		if (on) {
			offserv_set_error(err, errlen, "--every day takes no --on");
			return OFFSERV_E_INVALIDARG;
		}
	} else if (!strcasecmp(every, "week") || !strcasecmp(every, "weekly")) {
		out->kind = OFFSERV_RECUR_WEEKLY;
		out->weekday = on ? weekday_from_name(on, strlen(on)) : tm.tm_wday;
		if (out->weekday < 0) {
			offserv_set_error(err, errlen, "--on \"%s\" is not a weekday", on);
			return OFFSERV_E_INVALIDARG;
		}
	} else if (!strcasecmp(every, "month") || !strcasecmp(every, "monthly")) {
		out->kind = OFFSERV_RECUR_MONTHLY;
		if (!on) {
			out->nth = 0;
			out->mday = tm.tm_mday;
		} else if (parse_monthly_on(on, out) != 0) {
			offserv_set_error(err, errlen,
			                  "--on \"%s\": expected \"day D\" or \"NTH WEEKDAY [+N days]\" "
			                  "(e.g. \"second tuesday +3 days\")", on);
			return OFFSERV_E_INVALIDARG;
		}
	} else {
		offserv_set_error(err, errlen, "--every \"%s\": day, week or month expected", every);
		return OFFSERV_E_INVALIDARG;
	}
	return OFFSERV_OK;
}

char *offserv_recurrence_format(const struct offserv_recurrence *r, char *buf, size_t len)
{
	char off[24] = "";

	switch (r->kind) {
	case OFFSERV_RECUR_DAILY:
		snprintf(buf, len, "daily at %02d:%02d", r->hour, r->minute);
		break;
	case OFFSERV_RECUR_WEEKLY:
		snprintf(buf, len, "weekly on %s at %02d:%02d", weekday_names[((r->weekday % 7) + 7) % 7],
		         r->hour, r->minute);
		break;
	case OFFSERV_RECUR_MONTHLY:
		if (r->nth == 0) {
			snprintf(buf, len, "monthly on day %d at %02d:%02d", r->mday, r->hour, r->minute);
			break;
		}
		if (r->offset_days)
			snprintf(off, sizeof(off), " %+d days", r->offset_days);
		snprintf(buf, len, "monthly on %s %s%s at %02d:%02d",
		         r->nth < 0 ? "last" : nth_names[(r->nth - 1) % 5],
		         weekday_names[((r->weekday % 7) + 7) % 7], off, r->hour, r->minute);
		break;
	case OFFSERV_RECUR_CRON:
		snprintf(buf, len, "cron %s", r->cron_text);
		break;
	default:
		snprintf(buf, len, "none");
		break;
	}
	return buf;
}

/* The monthly rule's time in month m of year y, or -1 when the month has none. */
static time_t monthly_in(const struct offserv_recurrence *r, int y, int m)
{
	int dim = days_in_month(y, m), day;

	if (r->nth == 0) {
		day = r->mday < dim ? r->mday : dim;
		return utc_time(y, m, day, r->hour, r->minute);
	}
	if (r->nth > 0) {
		time_t first = utc_time(y, m, 1, 0, 0);
		struct tm tm;

		gmtime_r(&first, &tm);
		day = 1 + (r->weekday - tm.tm_wday + 7) % 7 + 7 * (r->nth - 1);
		if (day > dim)
			return -1;
	} else {
		time_t last = utc_time(y, m, dim, 0, 0);
		struct tm tm;

		gmtime_r(&last, &tm);
		day = dim - (tm.tm_wday - r->weekday + 7) % 7;
	}
	return utc_time(y, m, day + r->offset_days, r->hour, r->minute);
}

offserv_status offserv_recurrence_next(const struct offserv_recurrence *r, time_t after,
                                       time_t *next)
{
	struct tm tm;
	time_t c;

	gmtime_r(&after, &tm);
	switch (r->kind) {
	case OFFSERV_RECUR_DAILY:
		c = utc_time(tm.tm_year + 1900, tm.tm_mon, tm.tm_mday, r->hour, r->minute);
		while (c <= after)
			c += 86400;
		*next = c;
		return OFFSERV_OK;
	case OFFSERV_RECUR_WEEKLY:
		c = utc_time(tm.tm_year + 1900, tm.tm_mon, tm.tm_mday + (r->weekday - tm.tm_wday + 7) % 7,
		             r->hour, r->minute);
		while (c <= after)
			c += 7 * 86400;
		*next = c;
		return OFFSERV_OK;
	case OFFSERV_RECUR_MONTHLY: {
		/* Start two months back: an offset can push a month's run into the next. */
		int y = tm.tm_year + 1900, m = tm.tm_mon - 2;

		for (int i = 0; i < 12 * 8; i++, m++) {
			while (m < 0) {
				m += 12;
				y--;
			}
			while (m > 11) {
				m -= 12;
				y++;
			}
			c = monthly_in(r, y, m);
			if (c != (time_t)-1 && c > after) {
				*next = c;
				return OFFSERV_OK;
			}
		}
		return OFFSERV_E_NOT_FOUND;
	}
	case OFFSERV_RECUR_CRON:
		return cron_next(r, after, next);
	default:
		return OFFSERV_E_NOT_FOUND;
	}
}

/* ---------------------------------------------------------------------- */
/* Stored schedules                                                        */

int offserv_schedule_is_all_updates(const struct offserv_schedule_rec *rec)
{
	size_t n = rec && rec->recurrence ? strlen(rec->recurrence) : 0;
	size_t k = strlen(UPDATES_ALL_SUFFIX);

	if (rec && rec->all_updates)
		return 1;
	return n >= k && strcmp(rec->recurrence + n - k, UPDATES_ALL_SUFFIX) == 0;
}

offserv_status offserv_schedule_rule(const struct offserv_schedule_rec *rec,
                                     struct offserv_recurrence *out, char *err, size_t errlen)
{
	char buf[200];
	const char *semi;

	snprintf(buf, sizeof(buf), "%s", rec->recurrence ? rec->recurrence : "none");
	semi = strchr(buf, ';');
	if (semi)
		buf[semi - buf] = '\0';
	return offserv_recurrence_parse(buf, out, err, errlen);
}

static int id_cmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* Whether an update's architecture suits the image's indexes. */
static int arch_fits(const struct offserv_update_rec *u, const struct offserv_image_index_rec *ix,
                     size_t n_ix)
{
	if (!u->arch || !strcasecmp(u->arch, "neutral"))
		return 1;
	for (size_t i = 0; i < n_ix; i++)
		if (ix[i].arch && !strcasecmp(ix[i].arch, u->arch))
			return 1;
	return 0;
}

/* Resolve the tokens of --updates into update IDs. */
static offserv_status resolve_updates(struct offserv_sitedb *db, const char *image_id,
                                      const char *const *tok, size_t n, int64_t **ids,
                                      size_t *n_ids, char *err, size_t errlen)
{
	struct offserv_image_index_rec *ix = NULL;
	size_t n_ix = 0;
	offserv_status s;

	*ids = NULL;
	*n_ids = 0;
	s = offserv_sitedb_index_list(db, image_id, &ix, &n_ix, err, errlen);
	if (OFFSERV_FAILED(s))
		return s;
	for (size_t i = 0; i < n && OFFSERV_SUCCEEDED(s); i++) {
		const char *t = tok[i];
		char kb[40];
		char *end;
		long long v;
		struct offserv_update_rec u;
		struct offserv_update_rec *list = NULL;
		size_t n_list = 0, found = 0, matched = 0;
		struct offserv_update_filter f = {0};

		if (!strncasecmp(t, "KB", 2))
			t += 2;
		errno = 0;
		v = strtoll(t, &end, 10);
		if (!*t || *end || errno || v <= 0) {
			offserv_set_error(err, errlen, "--updates: \"%s\" is neither a KB number nor an "
			                  "update ID", tok[i]);
			s = OFFSERV_E_INVALIDARG;
			break;
		}
		if (t == tok[i] && v > OFFSERV_UPDATE_ID_BASE &&
		    OFFSERV_SUCCEEDED(offserv_sitedb_update_get(db, v, &u, NULL, 0))) {
			int64_t *ni = realloc(*ids, (*n_ids + 1) * sizeof(*ni));
			offserv_update_rec_clear(&u);
			if (!ni) {
				s = OFFSERV_E_OUTOFMEMORY;
				break;
			}
			*ids = ni;
			ni[(*n_ids)++] = v;
			continue;
		}
		snprintf(kb, sizeof(kb), "KB%lld", v);
		f.text = kb;
		s = offserv_sitedb_update_list(db, &f, &list, &n_list, err, errlen);
		if (OFFSERV_FAILED(s))
			break;
		for (int pass = 0; pass < 2 && !found; pass++)
			for (size_t k = 0; k < n_list; k++) {
				if (!list[k].kb || strcasecmp(list[k].kb, kb) != 0)
					continue;
				matched++;
				if (pass == 0 && !arch_fits(&list[k], ix, n_ix))
					continue;
				if (pass == 1)
					continue;
				int64_t *ni = realloc(*ids, (*n_ids + 1) * sizeof(*ni));
				if (!ni) {
					s = OFFSERV_E_OUTOFMEMORY;
					break;
				}
				*ids = ni;
				ni[(*n_ids)++] = list[k].update_id;
				found++;
			}
		offserv_update_recs_free(list, n_list);
		if (OFFSERV_SUCCEEDED(s) && !found) {
			if (matched)
				offserv_set_error(err, errlen, "--updates: %s is in the library, but not for "
				                  "the architecture of image %s", kb, image_id);
			else
				offserv_set_error(err, errlen, "--updates: no update %s in the content "
				                  "library (import it with `offserv update import`)", tok[i]);
			s = OFFSERV_E_NOT_FOUND;
		}
	}
	offserv_image_index_recs_free(ix, n_ix);
	if (OFFSERV_SUCCEEDED(s) && *n_ids > 1) {
		/* drop duplicates, keep the order given */
		size_t w = 0;
		for (size_t i = 0; i < *n_ids; i++) {
			int dup = 0;
			for (size_t j = 0; j < w; j++)
				dup |= (*ids)[j] == (*ids)[i];
			if (!dup)
				(*ids)[w++] = (*ids)[i];
		}
		*n_ids = w;
	}
	if (OFFSERV_FAILED(s)) {
		free(*ids);
		*ids = NULL;
		*n_ids = 0;
	}
	return s;
}

static offserv_status check_indexes(struct offserv_sitedb *db, const char *image_id,
                                    const char *indexes, char *err, size_t errlen)
{
	struct offserv_image_index_rec *ix = NULL;
	size_t n_ix = 0;
	offserv_status s;
	char *copy, *save = NULL, *tok;

	if (!indexes || !strcmp(indexes, "all"))
		return OFFSERV_OK;
	s = offserv_sitedb_index_list(db, image_id, &ix, &n_ix, err, errlen);
	if (OFFSERV_FAILED(s))
		return s;
	copy = strdup(indexes);
	if (!copy)
		s = OFFSERV_E_OUTOFMEMORY;
	for (tok = copy ? strtok_r(copy, ",", &save) : NULL; tok && OFFSERV_SUCCEEDED(s);
	     tok = strtok_r(NULL, ",", &save)) {
		char *end;
		long v = strtol(tok, &end, 10);
		int ok = 0;

		for (size_t i = 0; i < n_ix && *end == '\0'; i++)
			ok |= ix[i].index == v;
		if (!ok) {
			offserv_set_error(err, errlen, "--index %s: image %s has no index %s", indexes,
			                  image_id, tok);
			s = OFFSERV_E_INVALIDARG;
		}
	}
	free(copy);
	offserv_image_index_recs_free(ix, n_ix);
	return s;
}

offserv_status offserv_schedule_create(struct offserv_sitedb *db,
                                       const struct offserv_schedule_spec *spec, time_t now,
                                       int64_t *id_out, char *err, size_t errlen)
{
	struct offserv_image_rec img;
	struct offserv_recurrence rule;
	struct offserv_schedule_rec rec = {0};
	char rbuf[200], run_at[21];
	int64_t *ids = NULL;
	size_t n_ids = 0;
	time_t first;
	offserv_status s;

	if (id_out)
		*id_out = 0;
	if (!spec || !spec->image_id) {
		offserv_set_error(err, errlen, "schedule: no image given");
		return OFFSERV_E_INVALIDARG;
	}
	if (!spec->all_updates && spec->n_updates == 0) {
		offserv_set_error(err, errlen, "schedule: --updates all|KB...|UPDATE-ID... is required");
		return OFFSERV_E_INVALIDARG;
	}
	s = offserv_sitedb_image_get(db, spec->image_id, &img, err, errlen);
	if (OFFSERV_FAILED(s))
		return s;
	if (img.solid) {
		offserv_set_error(err, errlen, "image %s is solid (ESD) and cannot be serviced in "
		                  "place; export it to a WIM and import that", spec->image_id);
		offserv_image_rec_clear(&img);
		return OFFSERV_CBS_E_IMAGE_UNSERVICEABLE;
	}
	offserv_image_rec_clear(&img);
	s = check_indexes(db, spec->image_id, spec->indexes, err, errlen);
	if (OFFSERV_FAILED(s))
		return s;
	s = offserv_recurrence_from_options(spec->every, spec->on, spec->at, spec->cron, now, &rule,
	                                    err, errlen);
	if (OFFSERV_FAILED(s))
		return s;
	if (rule.kind == OFFSERV_RECUR_NONE) {
		if (spec->now == (spec->at != NULL)) {
			offserv_set_error(err, errlen, "schedule: give one of --at \"YYYY-MM-DD HH:MM\" "
			                  "(UTC) or --now");
			return OFFSERV_E_INVALIDARG;
		}
		if (spec->now)
			first = now;
		else {
			s = offserv_parse_utc(spec->at, &first, err, errlen);
			if (OFFSERV_FAILED(s))
				return s;
		}
	} else if (spec->now) {
		first = now;
	} else {
		time_t not_before = now;
		if (spec->at && strlen(spec->at) > 5 &&
		    OFFSERV_SUCCEEDED(offserv_parse_utc(spec->at, &not_before, NULL, 0)))
			not_before -= 1;
		else
			not_before = now;
		s = offserv_recurrence_next(&rule, not_before, &first);
		if (OFFSERV_FAILED(s)) {
			offserv_set_error(err, errlen, "schedule: the rule never fires");
			return OFFSERV_E_INVALIDARG;
		}
	}
	if (!spec->all_updates) {
		s = resolve_updates(db, spec->image_id, spec->updates, spec->n_updates, &ids, &n_ids, err,
		                    errlen);
		if (OFFSERV_FAILED(s))
			return s;
	}
	offserv_recurrence_format(&rule, rbuf, sizeof(rbuf));
	offserv_format_utc(first, run_at);
	snprintf(rec.package_id, sizeof(rec.package_id), "%s", spec->image_id);
	rec.indexes = (char *)(spec->indexes ? spec->indexes : "all");
	rec.update_ids = ids;
	rec.n_update_ids = n_ids;
	rec.run_at = run_at;
	rec.recurrence = rbuf;
	rec.all_updates = spec->all_updates != 0;
	rec.optimize = spec->optimize != 0;
	rec.continue_on_error = spec->continue_on_error;
	rec.update_dps = spec->update_dps;
	rec.status = (char *)"Scheduled";
	s = offserv_sitedb_schedule_insert(db, &rec, id_out, err, errlen);
	free(ids);
	if (OFFSERV_FAILED(s))
		return s;
	return offserv_schedule_refresh_image(db, spec->image_id, "Scheduled", err, errlen);
}

offserv_status offserv_schedule_refresh_image(struct offserv_sitedb *db, const char *image_id,
                                              const char *status, char *err, size_t errlen)
{
	struct offserv_schedule_rec *list = NULL;
	struct offserv_image_rec img;
	size_t n = 0;
	const char *earliest = NULL;
	offserv_status s;

	s = offserv_sitedb_image_get(db, image_id, &img, err, errlen);
	if (OFFSERV_FAILED(s))
		return s;
	s = offserv_sitedb_schedule_list(db, image_id, &list, &n, err, errlen);
	if (OFFSERV_SUCCEEDED(s)) {
		for (size_t i = 0; i < n; i++)
			if (list[i].status && !strcmp(list[i].status, "Scheduled") && list[i].run_at &&
			    (!earliest || strcmp(list[i].run_at, earliest) < 0))
				earliest = list[i].run_at;
		s = offserv_sitedb_image_set_schedule(db, image_id, earliest,
		                                      status ? status : img.scheduled_status, err,
		                                      errlen);
	}
	offserv_schedule_recs_free(list, n);
	offserv_image_rec_clear(&img);
	return s;
}

offserv_status offserv_schedule_delete(struct offserv_sitedb *db, int64_t id, char *err,
                                       size_t errlen)
{
	struct offserv_schedule_rec rec;
	struct offserv_job_rec *jobs = NULL;
	size_t n = 0;
	char image[OFFSERV_PACKAGE_ID_LEN];
	offserv_status s;

	s = offserv_sitedb_schedule_get(db, id, &rec, err, errlen);
	if (OFFSERV_FAILED(s))
		return s;
	snprintf(image, sizeof(image), "%s", rec.package_id);
	offserv_schedule_rec_clear(&rec);
	s = offserv_sitedb_job_list(db, image, &jobs, &n, err, errlen);
	if (OFFSERV_FAILED(s))
		return s;
	for (size_t i = 0; i < n; i++)
		if (jobs[i].schedule_id == id && jobs[i].status &&
		    !strcmp(jobs[i].status, OFFSERV_JOB_IN_PROGRESS)) {
			offserv_set_error(err, errlen, "schedule %lld is running (job %lld); cancel it "
			                  "first with `offserv cancel %s`", (long long)id,
			                  (long long)jobs[i].job_id, image);
			offserv_job_recs_free(jobs, n);
			return OFFSERV_E_BUSY;
		}
	offserv_job_recs_free(jobs, n);
	s = offserv_sitedb_schedule_delete(db, id, err, errlen);
	if (OFFSERV_FAILED(s))
		return s;
	return offserv_schedule_refresh_image(db, image, NULL, err, errlen);
}

static int run_at_cmp(const void *a, const void *b)
{
	const struct offserv_schedule_rec *x = a, *y = b;
	int c = strcmp(x->run_at ? x->run_at : "", y->run_at ? y->run_at : "");

	return c ? c : id_cmp(&x->schedule_id, &y->schedule_id);
}

offserv_status offserv_schedule_due(struct offserv_sitedb *db, time_t now,
                                    struct offserv_schedule_rec **out, size_t *n, char *err,
                                    size_t errlen)
{
	struct offserv_schedule_rec *list = NULL;
	size_t cnt = 0, w = 0;
	char nowtxt[21];
	offserv_status s;

	*out = NULL;
	*n = 0;
	s = offserv_sitedb_schedule_list(db, NULL, &list, &cnt, err, errlen);
	if (OFFSERV_FAILED(s))
		return s;
	offserv_format_utc(now, nowtxt);
	for (size_t i = 0; i < cnt; i++) {
		if (list[i].status && !strcmp(list[i].status, "Scheduled") && list[i].run_at &&
		    strcmp(list[i].run_at, nowtxt) <= 0) {
			if (w != i) {
				struct offserv_schedule_rec tmp = list[w];
				list[w] = list[i];
				list[i] = tmp;
			}
			w++;
		}
	}
	for (size_t i = w; i < cnt; i++)
		offserv_schedule_rec_clear(&list[i]);
	if (w == 0) {
		free(list);
		return OFFSERV_OK;
	}
	qsort(list, w, sizeof(*list), run_at_cmp);
	*out = list;
	*n = w;
	return OFFSERV_OK;
}

offserv_status offserv_schedule_finish_run(struct offserv_sitedb *db, int64_t id,
                                           const char *job_status, time_t now, char *err,
                                           size_t errlen)
{
	struct offserv_schedule_rec rec;
	struct offserv_recurrence rule;
	char nowtxt[21], next_txt[21];
	char *old_status, *old_run, *old_last;
	time_t next;
	offserv_status s;

	s = offserv_sitedb_schedule_get(db, id, &rec, err, errlen);
	if (OFFSERV_FAILED(s))
		return s;
	offserv_format_utc(now, nowtxt);
	old_status = rec.status;
	old_run = rec.run_at;
	old_last = rec.last_run_at;
	rec.last_run_at = nowtxt;
	if (OFFSERV_SUCCEEDED(offserv_schedule_rule(&rec, &rule, NULL, 0)) &&
	    rule.kind != OFFSERV_RECUR_NONE &&
	    OFFSERV_SUCCEEDED(offserv_recurrence_next(&rule, now, &next))) {
		offserv_format_utc(next, next_txt);
		rec.run_at = next_txt;
		rec.status = (char *)"Scheduled";
	} else if (job_status && !strcmp(job_status, OFFSERV_JOB_SUCCESSFUL)) {
		rec.status = (char *)"Completed";
	} else {
		rec.status = (char *)(job_status ? job_status : OFFSERV_JOB_FAILED);
	}
	s = offserv_sitedb_schedule_update(db, &rec, err, errlen);
	rec.status = old_status;
	rec.run_at = old_run;
	rec.last_run_at = old_last;
	if (OFFSERV_SUCCEEDED(s))
		s = offserv_schedule_refresh_image(db, rec.package_id, job_status, err, errlen);
	offserv_schedule_rec_clear(&rec);
	return s;
}

/* ---------------------------------------------------------------------- */
/* Locks                                                                   */

offserv_status offserv_lock_path(const char *path, struct offserv_lock *lock, char *err,
                                 size_t errlen)
{
	char pid[32];
	int fd;

	lock->fd = -1;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0) {
		int e = errno;
		offserv_set_error(err, errlen, "%s: %s", path, strerror(e));
		return offserv_status_from_errno(e);
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		int e = errno;
		ssize_t r;

		if (e == EWOULDBLOCK) {
			r = pread(fd, pid, sizeof(pid) - 1, 0);
			pid[r > 0 ? r : 0] = '\0';
			pid[strcspn(pid, "\n")] = '\0';
			offserv_set_error(err, errlen, "%s is held by process %s", path,
			                  pid[0] ? pid : "(unknown)");
			close(fd);
			return OFFSERV_E_BUSY;
		}
		close(fd);
		offserv_set_error(err, errlen, "%s: cannot lock: %s", path, strerror(e));
		return offserv_status_from_errno(e);
	}
	snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) == 0 && pwrite(fd, pid, strlen(pid), 0) < 0) {
		/* the pid is for people; the lock is what counts */
	}
	lock->fd = fd;
	return OFFSERV_OK;
}

static char *image_lock_path(const char *site_root, const char *image_id)
{
	char *dir = offserv_path_join(site_root, "Locks"), *name = NULL, *p = NULL;

	if (dir && asprintf(&name, "%s.lock", image_id) >= 0)
		p = offserv_path_join(dir, name);
	free(dir);
	free(name);
	return p;
}

offserv_status offserv_lock_image(const char *site_root, const char *image_id,
                                  struct offserv_lock *lock, char *err, size_t errlen)
{
	char *dir, *path;
	offserv_status s;

	lock->fd = -1;
	if (!image_id || !*image_id || strchr(image_id, '/') || image_id[0] == '.') {
		offserv_set_error(err, errlen, "bad image ID \"%s\"", image_id ? image_id : "");
		return OFFSERV_E_INVALID_NAME;
	}
	dir = offserv_path_join(site_root, "Locks");
	if (!dir)
		return OFFSERV_E_OUTOFMEMORY;
	s = offserv_mkdir_p(dir, err, errlen);
	free(dir);
	if (OFFSERV_FAILED(s))
		return s;
	path = image_lock_path(site_root, image_id);
	if (!path)
		return OFFSERV_E_OUTOFMEMORY;
	s = offserv_lock_path(path, lock, err, errlen);
	if (s == OFFSERV_E_BUSY)
		offserv_set_error(err, errlen, "image %s is being serviced (its lock %s is held)",
		                  image_id, path);
	free(path);
	return s;
}

int offserv_lock_image_held(const char *site_root, const char *image_id)
{
	char *path = image_lock_path(site_root, image_id);
	int fd, held = 0;

	if (!path)
		return 0;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	free(path);
	if (fd < 0)
		return 0;
	if (flock(fd, LOCK_SH | LOCK_NB) != 0)
		held = errno == EWOULDBLOCK;
	else
		flock(fd, LOCK_UN);
	close(fd);
	return held;
}

void offserv_lock_release(struct offserv_lock *lock)
{
	if (!lock || lock->fd < 0)
		return;
	flock(lock->fd, LOCK_UN);
	close(lock->fd);
	lock->fd = -1;
}
