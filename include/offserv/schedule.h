/* SPDX-License-Identifier: GPL-3.0-or-later */
/**
 * @file schedule.h
 * @brief Servicing schedules: recurrence rules and when they are due,
 *        schedules kept in the site database, image locks, the daemon loop.
 *
 * **Times are UTC.**  A one-time `--at "YYYY-MM-DD HH:MM"`, a recurring
 * `--at HH:MM` and the fields of a cron expression are all read in UTC,
 * as the site database stores every time.  A rule therefore never runs
 * twice or not at all on a daylight-saving change; "02:00" is 02:00 UTC
 * all year (03:00 or 04:00 in Berlin).
 *
 * **Recurrence text.**  The `recurrence` column of a schedule holds the
 * rule in a canonical text form that offserv_recurrence_parse() reads and
 * offserv_recurrence_format() writes:
 *
 *     none
 *     daily at HH:MM
 *     weekly on WEEKDAY at HH:MM
 *     monthly on day D at HH:MM
 *     monthly on NTH WEEKDAY [+N days] at HH:MM      (NTH: first..fifth, last)
 *     cron MIN HOUR MDAY MONTH WDAY
 *
 * Whether a schedule applies every applicable update of the library at
 * the time it runs (`--updates all`) rather than the update list stored
 * with it is the schedule's `all_updates` column (databases of schema
 * version 1 kept it as a `; updates=all` suffix of the recurrence text; the
 * migration to version 2 moves it).  "monthly on second tuesday +3 days at
 * 02:00" is the Thursday after Patch Tuesday (which may fall into the next
 * month: the offset is added after the weekday is found).
 *
 * **Locks.**  A job holds `<site root>/Locks/<image id>.lock` with
 * flock(2) for its whole run; a daemon holds `<site root>/daemon.lock`.
 * The kernel releases an flock when the holder dies, so a crashed job never
 * blocks its image.
 */
#ifndef OFFSERV_SCHEDULE_H
#define OFFSERV_SCHEDULE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <offserv/export.h>
#include <offserv/site.h>
#include <offserv/sitedb.h>
#include <offserv/status.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------- */
/* Recurrence rules                                                        */

/** Kind of a recurrence rule. */
enum offserv_recur_kind {
	OFFSERV_RECUR_NONE = 0,    /**< runs once */
	OFFSERV_RECUR_DAILY = 1,
	OFFSERV_RECUR_WEEKLY = 2,
	OFFSERV_RECUR_MONTHLY = 3,
	OFFSERV_RECUR_CRON = 4,
};

/** A parsed recurrence rule (see the file comment for the text form). */
struct offserv_recurrence {
	enum offserv_recur_kind kind;
	int hour, minute;   /**< time of day, UTC (not for CRON) */
	int weekday;        /**< WEEKLY, MONTHLY by weekday: 0 Sunday .. 6 Saturday */
	int nth;            /**< MONTHLY: 1..5 = first..fifth, -1 = last, 0 = by day of month */
	int mday;           /**< MONTHLY with nth 0: day of month 1..31 (short months: last day) */
	int offset_days;    /**< MONTHLY by weekday: days added (-31..31) */
	/* CRON: one bit per allowed value */
	uint64_t cron_minutes; /**< bits 0..59 */
	uint32_t cron_hours;   /**< bits 0..23 */
	uint32_t cron_mdays;   /**< bits 1..31 */
	uint32_t cron_months;  /**< bits 1..12 */
	uint32_t cron_wdays;   /**< bits 0..6 (7 is folded to 0) */
	int cron_mday_any;     /**< the day-of-month field was `*` */
	int cron_wday_any;     /**< the day-of-week field was `*` */
	char cron_text[128];   /**< the expression as given, normalised spaces */
};

/**
 * Parse the canonical text of a rule.
 * @retval OFFSERV_E_INVALIDARG not a rule (message says what is wrong)
 */
OFFSERV_API offserv_status offserv_recurrence_parse(const char *text,
                                                    struct offserv_recurrence *out, char *err,
                                                    size_t errlen);

/**
 * Build a rule from command-line options.
 *
 * @param every  NULL (with @p cron NULL: once), "day", "week" or "month"
 * @param on     NULL, or for "week" a weekday name, for "month" "day D" or
 *               "NTH WEEKDAY [+N days]" ("second tuesday +3 days")
 * @param at     "HH:MM" (for a rule); a date part "YYYY-MM-DD HH:MM" is
 *               accepted and only its time used
 * @param cron   a five-field cron expression (instead of every/on/at)
 * @param now    the creation time: a weekly rule without @p on runs on
 *               @p now's weekday, a monthly one on @p now's day of month
 * @retval OFFSERV_E_INVALIDARG a bad or contradictory value
 */
OFFSERV_API offserv_status offserv_recurrence_from_options(const char *every, const char *on,
                                                           const char *at, const char *cron,
                                                           time_t now,
                                                           struct offserv_recurrence *out,
                                                           char *err, size_t errlen);

/** Write the canonical text of @p r into @p buf; returns @p buf. */
OFFSERV_API char *offserv_recurrence_format(const struct offserv_recurrence *r, char *buf,
                                            size_t len);

/**
 * The first time strictly after @p after at which the rule fires.
 * @retval OFFSERV_E_NOT_FOUND a rule that never fires (NONE, or a cron
 *         expression such as "0 0 31 2 *" with no match within 8 years)
 */
OFFSERV_API offserv_status offserv_recurrence_next(const struct offserv_recurrence *r,
                                                   time_t after, time_t *next);

/**
 * Parse "YYYY-MM-DD HH:MM" (or "YYYY-MM-DDTHH:MM[:SS][Z]") as UTC.
 * @retval OFFSERV_E_INVALIDARG not such a date
 */
OFFSERV_API offserv_status offserv_parse_utc(const char *text, time_t *out, char *err,
                                             size_t errlen);

/** @p t as ISO 8601 UTC text ("2026-01-31T22:05:00Z") into @p out (21 bytes). */
OFFSERV_API void offserv_format_utc(time_t t, char out[21]);

/* ---------------------------------------------------------------------- */
/* Schedules in the site database                                          */

/** What `offserv schedule ID ...` asks for. */
struct offserv_schedule_spec {
	const char *image_id;        /**< the image's package ID */
	const char *indexes;         /**< NULL or "all", or "1,3" */
	int all_updates;             /**< `--updates all`: resolved each time it runs */
	/** `--updates KB... | UPDATE-ID...`: "KB5034441", "5034441" (a KB when
	 *  it is not an update ID), or an update ID "16777217". */
	const char *const *updates;
	size_t n_updates;
	int now;                     /**< `--now`: due at once */
	const char *at;              /**< `--at` */
	const char *every;           /**< `--every day|week|month` */
	const char *on;              /**< `--on` */
	const char *cron;            /**< `--cron` */
	int continue_on_error;
	int update_dps;
	/** `--optimize`: after a commit, the `optimize` post-action (component
	 *  store cleanup with reset base, WIM rebuild), before the distribution
	 *  points are updated. */
	int optimize;
};

/**
 * Check @p spec, resolve its updates against the library, store the
 * schedule, and set the image's scheduled date and status ("Scheduled").
 * An update given by KB that matches several library updates (one per
 * architecture) selects those whose architecture fits the image.
 *
 * @retval OFFSERV_E_NOT_FOUND no such image, or an update is not in the library
 * @retval OFFSERV_E_INVALIDARG bad options (message says which)
 */
OFFSERV_API offserv_status offserv_schedule_create(struct offserv_sitedb *db,
                                                   const struct offserv_schedule_spec *spec,
                                                   time_t now, int64_t *id_out, char *err,
                                                   size_t errlen);

/**
 * Whether a stored schedule applies `--updates all`: its all_updates
 * field (or, for a record made by older code, a `; updates=all` suffix of
 * its recurrence text).
 */
OFFSERV_API int offserv_schedule_is_all_updates(const struct offserv_schedule_rec *rec);

/**
 * The rule of a stored schedule (its recurrence text; anything after a
 * `;` is ignored).
 */
OFFSERV_API offserv_status offserv_schedule_rule(const struct offserv_schedule_rec *rec,
                                                 struct offserv_recurrence *out, char *err,
                                                 size_t errlen);

/**
 * Delete a schedule and recompute the image's scheduled date (the next
 * pending schedule's run time, or none).
 * @retval OFFSERV_E_NOT_FOUND no such schedule
 * @retval OFFSERV_E_BUSY a job of this schedule is in progress
 */
OFFSERV_API offserv_status offserv_schedule_delete(struct offserv_sitedb *db, int64_t id,
                                                   char *err, size_t errlen);

/**
 * The schedules due at @p now ("Scheduled" with run_at <= now), earliest
 * first.  Free with offserv_schedule_recs_free().
 */
OFFSERV_API offserv_status offserv_schedule_due(struct offserv_sitedb *db, time_t now,
                                                struct offserv_schedule_rec **out, size_t *n,
                                                char *err, size_t errlen);

/**
 * Record the end of a run of schedule @p id: a one-time schedule takes
 * the job's final status ("Completed", "Failed", "Cancelled"); a recurring
 * one goes back to "Scheduled" with its next run time after @p now.  The
 * image's scheduled date becomes the earliest pending run of its
 * schedules and its scheduled status @p job_status.
 */
OFFSERV_API offserv_status offserv_schedule_finish_run(struct offserv_sitedb *db, int64_t id,
                                                       const char *job_status, time_t now,
                                                       char *err, size_t errlen);

/**
 * Recompute an image's scheduled date from its schedules, setting its
 * scheduled status to @p status (NULL keeps the current one).
 */
OFFSERV_API offserv_status offserv_schedule_refresh_image(struct offserv_sitedb *db,
                                                          const char *image_id,
                                                          const char *status, char *err,
                                                          size_t errlen);

/* ---------------------------------------------------------------------- */
/* Locks                                                                   */

/** An flock(2) held on a file; fd -1 when not held. */
struct offserv_lock {
	int fd;
};

/**
 * Take `<site_root>/Locks/<image_id>.lock` without waiting.  The file
 * keeps the holder's pid as text (for people; the lock is the flock).
 * @retval OFFSERV_E_BUSY another process holds it (message names its pid)
 */
OFFSERV_API offserv_status offserv_lock_image(const char *site_root, const char *image_id,
                                              struct offserv_lock *lock, char *err,
                                              size_t errlen);

/** Take any lock file @p path (created 0644) without waiting. */
OFFSERV_API offserv_status offserv_lock_path(const char *path, struct offserv_lock *lock,
                                             char *err, size_t errlen);

/** Whether the lock of an image is held by some process right now. */
OFFSERV_API int offserv_lock_image_held(const char *site_root, const char *image_id);

/** Release a lock (the file stays).  A lock not held is ignored. */
OFFSERV_API void offserv_lock_release(struct offserv_lock *lock);

/* ---------------------------------------------------------------------- */
/* Recovery, run-due and the daemon                                        */

/**
 * Start-up recovery: every job left "In progress" by a process that is
 * gone (its image lock is free, or its pid is dead) is marked Failed with
 * the reason, its staging folder
 * `<drive>/ConfigMgr_OfflineImageServicing/<image id>` removed, its cancel
 * marker and half-made backup removed, and its image verified; a WIM that
 * fails the check is logged as an error and restored from the site's
 * backup when there is one.  Schedules left "Running" are set back.
 * @p n_recovered receives the number of jobs marked (may be NULL).
 */
OFFSERV_API offserv_status offserv_recover(struct offserv_site *site, size_t *n_recovered,
                                           char *err, size_t errlen);

/** Options of offserv_run_due() and offserv_daemon(). */
struct offserv_daemon_options {
	/** How the site was opened: each worker process opens it again with these. */
	const struct offserv_site_options *site_options;
	unsigned workers;      /**< 0: `[offline_servicing] workers` */
	unsigned poll_seconds; /**< daemon: seconds between passes (0: 30) */
	int notify;            /**< send sd_notify messages when NOTIFY_SOCKET is set */
};

/**
 * One pass: start every due schedule (at most `workers` at once, never two
 * of one image; an image locked by another process is left for later),
 * and wait for all of them.  SIGTERM and SIGINT are blocked during the
 * call; when one arrives the running jobs are cancelled at their next safe
 * point and waited for.
 * @p n_run receives the number of jobs started (may be NULL).
 */
OFFSERV_API offserv_status offserv_run_due(struct offserv_site *site,
                                           const struct offserv_daemon_options *o,
                                           size_t *n_run, char *err, size_t errlen);

/**
 * The daemon: holds `<site root>/daemon.lock` (a second daemon on the site
 * is refused with OFFSERV_E_BUSY), runs recovery, then passes like
 * offserv_run_due() without waiting for jobs to end, every
 * @p o->poll_seconds, until SIGTERM or SIGINT: then running jobs are
 * cancelled at their next safe point (a job past its commit finishes) and
 * waited for, and it returns OFFSERV_OK.  With @p o->notify, READY=1,
 * STATUS= and STOPPING=1 are sent to $NOTIFY_SOCKET.
 */
OFFSERV_API offserv_status offserv_daemon(struct offserv_site *site,
                                          const struct offserv_daemon_options *o, char *err,
                                          size_t errlen);

/**
 * Send one sd_notify(3) message ("READY=1", ...) to the datagram socket
 * named by $NOTIFY_SOCKET (an abstract name when it starts with '@').
 * Returns 0 when sent, 1 when NOTIFY_SOCKET is not set, -1 on error.
 */
OFFSERV_API int offserv_sd_notify(const char *message);

#ifdef __cplusplus
}
#endif

#endif /* OFFSERV_SCHEDULE_H */
