/* SPDX-License-Identifier: GPL-3.0-or-later */
/**
 * @file log.h
 * @brief OfflineServicingMgr.log and dism.log writers.
 *
 * A log file object appends one whole line per event with a single write(2)
 * on an O_APPEND descriptor, so several threads and processes can write to
 * the same file at once without interleaving.  When the file would grow
 * past its size limit it is rolled over under an flock(2) on the file, so
 * that two processes never both rename it.
 *
 * Three line formats, matched to the character with the real logs that
 * CMTrace, OneTrace, scripts and log shippers read:
 *
 * - ::OFFSERV_LOGFMT_TRACE, Configuration Manager's simple trace format:
 *   `message  $$<COMPONENT><MM-DD-YYYY HH:MM:SS.mmm+BIAS><thread=N (0xHEX)>`
 * - ::OFFSERV_LOGFMT_CCM, Configuration Manager's full format:
 *   `<![LOG[message]LOG]!><time="HH:MM:SS.mmm+BIAS" date="MM-DD-YYYY"
 *   component="COMPONENT" context="" type="1|2|3" thread="N" file="">`
 * - ::OFFSERV_LOGFMT_DISM, DISM's text log:
 *   `YYYY-MM-DD HH:MM:SS, <Level padded to 22><Component padded to 7>message`
 *
 * BIAS is minutes with the Windows sign (UTC = local time + bias): UTC-5 is
 * `+300`, UTC is `+000`, UTC+1 is `-060`.  Times are local.  N is the
 * Linux thread id.
 *
 * Rollover: the trace and CCM formats keep the previous file as `NAME.lo_`
 * (a name ending in `.log` has it replaced, any other gets `.lo_`
 * appended); with a history of more than 1, older files are `NAME.lo_1`,
 * `NAME.lo_2`, ... (`.lo_1` is the older than `.lo_`).  The DISM format
 * keeps `NAME.bak`, then `NAME.bak1`, ....  A history of 0 discards the old
 * contents.
 */
#ifndef OFFSERV_LOG_H
#define OFFSERV_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

#include <offserv/export.h>
#include <offserv/status.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Line format of a log file. */
enum offserv_logfmt {
	OFFSERV_LOGFMT_TRACE = 0, /**< SMS simple trace format (site components' default) */
	OFFSERV_LOGFMT_CCM = 1,   /**< full CCM format with a type attribute */
	OFFSERV_LOGFMT_DISM = 2,  /**< dism.log format */
};

/** Severity of a line; a log file writes the lines at or below its level. */
enum offserv_loglevel {
	OFFSERV_LOG_ERROR = 1,   /**< errors only (DISM /LogLevel:1) */
	OFFSERV_LOG_WARNING = 2, /**< + warnings */
	OFFSERV_LOG_INFO = 3,    /**< + information (the default) */
	OFFSERV_LOG_DEBUG = 4,   /**< + debug */
};

/** Component name Configuration Manager gives the offline servicing manager. */
#define OFFSERV_LOG_COMPONENT_OSM "SMS_OFFLINE_SERVICING_MANAGER"
/** Default size limit of OfflineServicingMgr.log (Configuration Manager's). */
#define OFFSERV_LOG_DEFAULT_MAX_SIZE 250000u

/** How to open a log file.  Zero-initialise, then set what you need. */
struct offserv_logfile_options {
	/** File to append to (created 0644 when missing; its directory must exist). */
	const char *path;
	/** Line format. */
	enum offserv_logfmt format;
	/**
	 * Component written when a line names none: NULL gives
	 * ::OFFSERV_LOG_COMPONENT_OSM for trace and CCM, "DISM" for DISM.
	 */
	const char *component;
	/** Roll over before a line would take the file past this size; 0 = never. */
	uint64_t max_size;
	/** Old files kept at rollover (see the file comment); 0 keeps none. */
	unsigned history;
	/** Threshold, an ::offserv_loglevel; 0 means ::OFFSERV_LOG_INFO. */
	int level;
	/** End lines with CR LF instead of LF. */
	bool crlf;
};

/** An open log file; safe to share between threads. */
struct offserv_logfile;

/**
 * Open (create or append to) a log file.
 *
 * @retval OFFSERV_OK            *out is the open log.
 * @retval OFFSERV_E_INVALIDARG  no path, or a format or level out of range.
 * @retval other                 the file could not be opened (errno mapped); @p err names it.
 */
OFFSERV_API offserv_status offserv_logfile_open(const struct offserv_logfile_options *o,
                                                struct offserv_logfile **out, char *err,
                                                size_t errlen);

/**
 * Append one line.  @p component NULL uses the file's default.  Lines above
 * the file's level are dropped.  Embedded CR and LF become spaces in the
 * trace and DISM formats (one event, one line).  @p lf NULL is a no-op, so
 * library code can always call it.
 *
 * @retval OFFSERV_OK  written, or dropped by the level, or @p lf NULL.
 * @retval other       the write or a rollover failed (errno mapped).
 */
OFFSERV_API offserv_status offserv_logfile_write(struct offserv_logfile *lf, int level,
                                                 const char *component, const char *fmt, ...)
	OFFSERV_PRINTF(4, 5);

/** offserv_logfile_write() with a va_list. */
OFFSERV_API offserv_status offserv_logfile_writev(struct offserv_logfile *lf, int level,
                                                  const char *component, const char *fmt,
                                                  va_list ap) OFFSERV_PRINTF(4, 0);

/** True when a line at @p level would be written (to skip costly messages). */
OFFSERV_API bool offserv_logfile_enabled(const struct offserv_logfile *lf, int level);

/** The file's path (as given at open). */
OFFSERV_API const char *offserv_logfile_path(const struct offserv_logfile *lf);

/** Close and free; NULL is a no-op. */
OFFSERV_API void offserv_logfile_close(struct offserv_logfile *lf);

/**
 * Start a dism.log session: the `<----- Starting Dism.exe session ----->`
 * line, the host line (kernel release, architecture as amd64/arm64/x86,
 * online processors), the version line and the verbatim command line, all
 * Info lines of component DISM.
 */
OFFSERV_API offserv_status offserv_dismlog_session_begin(struct offserv_logfile *lf,
                                                         const char *cmdline);

/**
 * End a dism.log session: `Image session has been closed. Reboot
 * required=no.` (or yes) and `<----- Ending Dism.exe session ----->`.
 */
OFFSERV_API offserv_status offserv_dismlog_session_end(struct offserv_logfile *lf,
                                                       bool reboot_required);

/**
 * A provider line as DISM writes them:
 * `<provider>: PID=<pid> TID=<tid> <text> - <cls>::<method>` followed by
 * `(hr:0x%08x)` when @p hr is not ::OFFSERV_OK.  Component "DISM".
 */
OFFSERV_API offserv_status offserv_dismlog_provider(struct offserv_logfile *lf, int level,
                                                    const char *provider, const char *cls,
                                                    const char *method, offserv_status hr,
                                                    const char *fmt, ...) OFFSERV_PRINTF(7, 8);

/**
 * The time-zone bias written in trace and CCM lines for @p t (a time_t):
 * minutes, UTC = local + bias.  Exposed for tests and tools.
 */
OFFSERV_API int offserv_log_bias_minutes(int64_t t);

#ifdef __cplusplus
}
#endif

#endif /* OFFSERV_LOG_H */
