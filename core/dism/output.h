/* SPDX-License-Identifier: GPL-3.0-or-later */
/**
 * @file output.h
 * @brief What the `dism` program prints (internal): banner, progress bar,
 *        error blocks, number and date formats, exit codes.
 *
 * Console output follows DISM's layouts to the character, because scripts
 * parse it.  Lines end in LF, or CR LF when asked (/CRLF or
 * OFFSERV_DISM_CRLF=1).  /Quiet prints errors only.
 */
#ifndef OFFSERV_DISM_OUTPUT_H
#define OFFSERV_DISM_OUTPUT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include <offserv/export.h>
#include <offserv/status.h>

/** The DISM release whose command line and output this program follows. */
#define DISM_COMPAT_VERSION "10.0.26100.1"

/** Characters between the brackets of a progress bar. */
#define DISM_PROGRESS_INNER 58
/** A whole progress bar: brackets included, NUL not. */
#define DISM_PROGRESS_LEN (DISM_PROGRESS_INNER + 2)

/** The console. */
struct dism_out {
	FILE *fp;
	int crlf;          /**< end lines with CR LF */
	int quiet;         /**< print errors only */
	int tty;           /**< redraw the progress bar in place */
	int bar_open;      /**< a bar is on the current line */
	int bar_tenths;    /**< last percentage drawn, in tenths; -1 none */
};

/** Set up @p o on @p fp. */
void dism_out_init(struct dism_out *o, FILE *fp, int crlf, int quiet);

/** Write @p text (LF-separated lines) with the chosen line ends, unless quiet. */
void dism_out_text(struct dism_out *o, const char *text);

/** printf one line (the line end is added), unless quiet. */
void dism_out_line(struct dism_out *o, const char *fmt, ...) OFFSERV_PRINTF(2, 3);

/** An empty line, unless quiet. */
void dism_out_blank(struct dism_out *o);

/** The banner: tool name, version, blank line. */
void dism_out_banner(struct dism_out *o);

/**
 * Format a progress bar for @p pct (clamped to 0..100) into @p out:
 * floor(pct*58/100) '=' then spaces, with "%.1f%%" written over them so
 * that it ends at inner column 31 (0-based).
 */
void dism_progress_format(double pct, char out[DISM_PROGRESS_LEN + 1]);

/**
 * Show progress.  On a terminal the bar is redrawn in place; otherwise
 * nothing is written until dism_out_progress_end(), which prints the last
 * bar once.  Nothing in quiet mode.
 */
void dism_out_progress(struct dism_out *o, double pct);

/** End the current progress bar line (prints it when not on a terminal). */
void dism_out_progress_end(struct dism_out *o);

/**
 * The code as DISM prints it after "Error: ": decimal for a FACILITY_WIN32
 * HRESULT ("87", "3"), lower-case hex for any other ("0x800f081e").
 */
void dism_format_code(offserv_status st, char *buf, size_t len);

/** The code as cmd.exe's %errorlevel% shows the process exit code. */
void dism_format_errorlevel(offserv_status st, char *buf, size_t len);

/**
 * Build the error block:
 * "\nError: <code>\n\n<message>\n\nThe DISM log file can be found at <log>\n"
 * (the last two lines only when @p logpath is not NULL).  malloc'd, LF ends.
 */
char *dism_error_block(offserv_status st, const char *message, const char *logpath);

/** Print the error block (also in quiet mode). */
void dism_out_error(struct dism_out *o, offserv_status st, const char *message,
                    const char *logpath);

/** "15,203,481,342" */
void dism_format_thousands(uint64_t v, char *buf, size_t len);

/** Windows FILETIME (100 ns ticks since 1601) to time_t; 0 for 0. */
time_t dism_filetime_to_time(uint64_t ft);

/** Image dates as /Get-ImageInfo prints them, local time: "3/6/2026 - 8:07:05 PM". */
void dism_format_image_date(time_t t, char *buf, size_t len);

/** Package install times as /Get-Packages prints them, local time: "11/24/2026 4:09 AM". */
void dism_format_install_time(time_t t, char *buf, size_t len);

/**
 * A size as /AnalyzeComponentStore prints it: "0 bytes", "512 bytes",
 * "845.77 MB", "8.01 GB" (units of 1024, two decimals from 1 KB up).
 */
void dism_format_store_size(uint64_t bytes, char *buf, size_t len);

/**
 * The date of the last component store cleanup, local time,
 * "2016-11-01 09:19:31"; "" when @p t is 0 (never cleaned).
 */
void dism_format_cleanup_date(int64_t t, char *buf, size_t len);

struct offserv_component_store_info;

/**
 * The /AnalyzeComponentStore block, from "Component Store (WinSxS)
 * information:" to "Component Store Cleanup Recommended : Yes|No", LF line
 * ends, each line ended.  malloc'd, NULL when out of memory.
 */
char *dism_store_report(const struct offserv_component_store_info *info);

/**
 * The 8-bit process exit status for a final status: 0 success; a Win32
 * code 1..199 as itself (2, 3, 5, 87, ...); 200 for 3010 (success, restart
 * required); 201..211 for the CBS/DISM codes scripts test
 * (see docs/dism.1); 1 for anything else.
 */
int dism_exit_status(offserv_status st);

#endif /* OFFSERV_DISM_OUTPUT_H */
