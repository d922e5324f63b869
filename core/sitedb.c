/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The site database: SQLite, WAL, versioned schema, retried write transactions. */
#include <config.h>

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include <offserv/cbs.h>
#include <offserv/sitedb.h>
#include <offserv/util.h>

/* How long one statement waits for a lock before SQLite gives up. */
#define BUSY_TIMEOUT_MS 10000
/* How many times a whole write transaction is tried again after that. */
#define WRITE_RETRIES 12

struct offserv_sitedb {
	sqlite3 *conn;
	char *path;
	char site_code[4];
	int schema_version;
	bool saw_busy; /* the last failure was a lock: the transaction may be retried */
};

/* ---------------------------------------------------------------------- */
/* Schema.  Each migration takes the database from version i to i + 1 and
 * runs in its own transaction; entries are only ever appended. */

static const char migration_1[] =
	/* Site-wide settings: key "site_code" (three characters, package ID prefix). */
	"CREATE TABLE site_settings (\n"
	"  key   TEXT PRIMARY KEY,  -- setting name\n"
	"  value TEXT NOT NULL      -- its value\n"
	");\n"
	/* Sequences: "image" numbers package IDs, "update" numbers update IDs. */
	"CREATE TABLE sequences (\n"
	"  name       TEXT PRIMARY KEY,     -- sequence name\n"
	"  next_value INTEGER NOT NULL      -- the value the next caller gets\n"
	");\n"
	"CREATE TABLE images (\n"
	"  package_id       TEXT PRIMARY KEY,       -- site code + 5 hex digits, e.g. OFS00012\n"
	"  name             TEXT NOT NULL,          -- display name given at import\n"
	"  description      TEXT,                   -- free text\n"
	"  type             TEXT NOT NULL,          -- image-type plugin name (os_image, ...)\n"
	"  source_path      TEXT NOT NULL UNIQUE,   -- path it was imported from\n"
	"  wim_path         TEXT NOT NULL,          -- the WIM that servicing changes\n"
	"  sha256           TEXT UNIQUE,            -- of the source WIM at import\n"
	"  referenced       INTEGER NOT NULL DEFAULT 0, -- 1: serviced in place (--reference)\n"
	"  solid            INTEGER NOT NULL DEFAULT 0, -- 1: ESD/solid, not serviceable in place\n"
	"  imported_at      TEXT NOT NULL,          -- ISO 8601 UTC\n"
	"  scheduled_date   TEXT,                   -- next scheduled servicing, ISO UTC\n"
	"  scheduled_status TEXT,                   -- Scheduled, Running, Successful, Failed, ...\n"
	"  last_serviced_at TEXT                    -- last successful servicing, ISO UTC\n"
	");\n"
	"CREATE TABLE image_indexes (\n"
	"  package_id  TEXT NOT NULL REFERENCES images(package_id) ON DELETE CASCADE,\n"
	"  wim_index   INTEGER NOT NULL CHECK (wim_index >= 1), -- 1-based WIM index\n"
	"  name        TEXT,      -- image name in the WIM XML\n"
	"  description TEXT,\n"
	"  edition     TEXT,      -- EDITIONID (Professional, ServerStandard, ...)\n"
	"  arch        TEXT,      -- x86, x64, arm64\n"
	"  version     TEXT,      -- major.minor.build, e.g. 10.0.19041\n"
	"  build       INTEGER,   -- build number\n"
	"  sp_build    INTEGER,   -- SPBUILD (update build revision)\n"
	"  sp_level    INTEGER,   -- SPLEVEL (service pack level)\n"
	"  languages   TEXT,      -- comma-separated, default first\n"
	"  size        INTEGER,   -- total bytes of the index's files\n"
	"  file_count  INTEGER,\n"
	"  dir_count   INTEGER,\n"
	"  PRIMARY KEY (package_id, wim_index)\n"
	");\n"
	"CREATE TABLE image_packages (\n"
	"  package_id   TEXT NOT NULL,     -- the image\n"
	"  wim_index    INTEGER NOT NULL,  -- the index holding the package\n"
	"  identity     TEXT NOT NULL,     -- Name~Token~Arch~Lang~Version\n"
	"  state        INTEGER NOT NULL,  -- CBS CurrentState (0x70 Installed, ...)\n"
	"  install_time TEXT,              -- from InstallTimeHigh/Low, ISO UTC\n"
	"  release_type TEXT,              -- releaseType of its .mum when known\n"
	"  origin       TEXT NOT NULL CHECK (origin IN ('import', 'applied')), -- found at import, or applied by offserv\n"
	"  applied_at   TEXT,              -- when offserv applied it\n"
	"  job_id       INTEGER REFERENCES jobs(job_id) ON DELETE SET NULL,       -- job that applied it\n"
	"  update_id    INTEGER REFERENCES updates(update_id) ON DELETE SET NULL, -- library update it came from\n"
	"  PRIMARY KEY (package_id, wim_index, identity),\n"
	"  FOREIGN KEY (package_id, wim_index) REFERENCES image_indexes(package_id, wim_index) ON DELETE CASCADE\n"
	");\n"
	"CREATE TABLE updates (\n"
	"  update_id          INTEGER PRIMARY KEY,  -- CI-style ID from 16777217 on, never reused\n"
	"  sha256             TEXT NOT NULL UNIQUE CHECK (length(sha256) = 64), -- of the file\n"
	"  file_name          TEXT NOT NULL,        -- original file name\n"
	"  library_path       TEXT NOT NULL,        -- <library>/<sha[0:2]>/<sha>/<file name>\n"
	"  format             TEXT NOT NULL,        -- update-format plugin (cab, msu)\n"
	"  kb                 TEXT,                 -- KB5034441\n"
	"  title              TEXT,\n"
	"  description        TEXT,\n"
	"  release_type       TEXT,                 -- Security Update, Update, ...\n"
	"  arch               TEXT,                 -- x86, x64, arm64, neutral\n"
	"  product            TEXT,                 -- from pkgProperties\n"
	"  build_date         TEXT,\n"
	"  support_link       TEXT,\n"
	"  size               INTEGER NOT NULL,     -- bytes\n"
	"  imported_at        TEXT NOT NULL,        -- ISO UTC\n"
	"  supported          INTEGER NOT NULL,     -- 1: offserv can apply all its packages\n"
	"  unsupported_reason TEXT,                 -- why not\n"
	"  superseded_by      INTEGER REFERENCES updates(update_id) ON DELETE SET NULL -- newest of its family\n"
	");\n"
	"CREATE TABLE update_packages (\n"
	"  update_id         INTEGER NOT NULL REFERENCES updates(update_id) ON DELETE CASCADE,\n"
	"  seq               INTEGER NOT NULL,  -- install order, 0 first (servicing stack first)\n"
	"  identity          TEXT NOT NULL,     -- Name~Token~Arch~Lang~Version\n"
	"  name              TEXT,              -- assembly name (the family, with arch)\n"
	"  version           TEXT,\n"
	"  arch              TEXT,              -- processorArchitecture (amd64, x86, ...)\n"
	"  release_type      TEXT,\n"
	"  is_ssu            INTEGER NOT NULL DEFAULT 0, -- servicing stack update\n"
	"  supported         INTEGER NOT NULL DEFAULT 1,\n"
	"  reason            TEXT,              -- why not supported\n"
	"  installer_version TEXT,              -- servicing stack version required, when known\n"
	"  PRIMARY KEY (update_id, seq)\n"
	");\n"
	"CREATE INDEX update_packages_family ON update_packages(name, arch);\n"
	"CREATE TABLE update_parents (\n"
	"  update_id        INTEGER NOT NULL REFERENCES updates(update_id) ON DELETE CASCADE,\n"
	"  package_seq      INTEGER NOT NULL DEFAULT -1, -- package it belongs to, -1 all\n"
	"  group_no         INTEGER NOT NULL DEFAULT 0,  -- one <parent>: any member present is enough\n"
	"  identity         TEXT NOT NULL,               -- Name~Token~Arch~Lang~Version\n"
	"  build_compare    TEXT,                        -- EQ/GE, NULL when unknown\n"
	"  service_compare  TEXT,\n"
	"  revision_compare TEXT,\n"
	"  disposition      TEXT                         -- detect, ...; NULL when unknown\n"
	");\n"
	"CREATE INDEX update_parents_update ON update_parents(update_id);\n"
	"CREATE TABLE schedules (\n"
	"  schedule_id       INTEGER PRIMARY KEY AUTOINCREMENT,\n"
	"  package_id        TEXT NOT NULL REFERENCES images(package_id) ON DELETE CASCADE,\n"
	"  indexes           TEXT NOT NULL DEFAULT 'all', -- 'all' or comma-separated indexes\n"
	"  run_at            TEXT NOT NULL,               -- next run, ISO UTC\n"
	"  recurrence        TEXT NOT NULL DEFAULT 'none', -- none, daily, weekly, monthly, every N days\n"
	"  continue_on_error INTEGER NOT NULL DEFAULT 1,  -- go on with the next update after a failure\n"
	"  update_dps        INTEGER NOT NULL DEFAULT 0,  -- refresh distribution points after success\n"
	"  status            TEXT NOT NULL DEFAULT 'Scheduled', -- Scheduled, Running, Completed, Failed, Disabled\n"
	"  created_at        TEXT NOT NULL,\n"
	"  last_run_at       TEXT\n"
	");\n"
	"CREATE TABLE schedule_updates (\n"
	"  schedule_id INTEGER NOT NULL REFERENCES schedules(schedule_id) ON DELETE CASCADE,\n"
	"  seq         INTEGER NOT NULL,  -- order of selection\n"
	"  update_id   INTEGER NOT NULL REFERENCES updates(update_id) ON DELETE CASCADE,\n"
	"  PRIMARY KEY (schedule_id, seq)\n"
	");\n"
	"CREATE TABLE jobs (\n"
	"  job_id      INTEGER PRIMARY KEY AUTOINCREMENT,\n"
	"  schedule_id INTEGER REFERENCES schedules(schedule_id) ON DELETE SET NULL, -- NULL: run by hand\n"
	"  package_id  TEXT NOT NULL REFERENCES images(package_id) ON DELETE CASCADE,\n"
	"  indexes     TEXT,              -- indexes serviced\n"
	"  started_at  TEXT NOT NULL,\n"
	"  finished_at TEXT,\n"
	"  status      TEXT NOT NULL CHECK (status IN ('In progress', 'Successful', 'Failed', 'Cancelled')),\n"
	"  pid         INTEGER,           -- process running it\n"
	"  progress    INTEGER NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),\n"
	"  message     TEXT,\n"
	"  hresult     INTEGER NOT NULL DEFAULT 0 -- overall HRESULT\n"
	");\n"
	"CREATE INDEX jobs_image ON jobs(package_id, status);\n"
	"CREATE TABLE job_updates (\n"
	"  job_id      INTEGER NOT NULL REFERENCES jobs(job_id) ON DELETE CASCADE,\n"
	"  update_id   INTEGER NOT NULL,  -- kept as history even if the update is deleted\n"
	"  wim_index   INTEGER NOT NULL,\n"
	"  result      TEXT NOT NULL,     -- Pending, Installed, Install Pending, Not applicable, Failed, Skipped\n"
	"  hresult     INTEGER NOT NULL DEFAULT 0,\n"
	"  message     TEXT,\n"
	"  finished_at TEXT,\n"
	"  PRIMARY KEY (job_id, update_id, wim_index)\n"
	");\n"
	"CREATE TABLE dp_status (\n"
	"  package_id TEXT NOT NULL REFERENCES images(package_id) ON DELETE CASCADE,\n"
	"  dp         TEXT NOT NULL,      -- distribution point name or target\n"
	"  status     TEXT NOT NULL,      -- Success, Failed, In progress\n"
	"  hresult    INTEGER NOT NULL DEFAULT 0,\n"
	"  message    TEXT,\n"
	"  updated_at TEXT NOT NULL,\n"
	"  job_id     INTEGER REFERENCES jobs(job_id) ON DELETE SET NULL,\n"
	"  PRIMARY KEY (package_id, dp)\n"
	");\n"
	"INSERT INTO sequences(name, next_value) VALUES ('image', 1), ('update', 16777217);\n";

/*
 * Version 2: `--updates all` is a column of the schedule instead of a
 * suffix of its recurrence text; a schedule may ask for the optimize
 * post-action; distribution point status records the bytes moved and the
 * post-action that reported it, and every job keeps the outcome of each of
 * its post-actions per target.
 */
static const char migration_2[] =
	"ALTER TABLE schedules ADD COLUMN all_updates INTEGER NOT NULL DEFAULT 0; -- 1: every applicable update at run time\n"
	"ALTER TABLE schedules ADD COLUMN optimize INTEGER NOT NULL DEFAULT 0;    -- 1: component cleanup, reset base, rebuild\n"
	"UPDATE schedules SET all_updates = 1,\n"
	"  recurrence = substr(recurrence, 1, length(recurrence) - length('; updates=all'))\n"
	"  WHERE substr(recurrence, -length('; updates=all')) = '; updates=all';\n"
	"ALTER TABLE dp_status ADD COLUMN bytes INTEGER NOT NULL DEFAULT 0; -- bytes moved by the last refresh\n"
	"ALTER TABLE dp_status ADD COLUMN plugin TEXT;                      -- post-action that reported it\n"
	"CREATE TABLE job_post_actions (\n"
	"  job_id     INTEGER NOT NULL REFERENCES jobs(job_id) ON DELETE CASCADE,\n"
	"  seq        INTEGER NOT NULL,  -- order of the reports within the job\n"
	"  plugin     TEXT NOT NULL,     -- post-action plugin\n"
	"  target     TEXT NOT NULL,     -- distribution point name, or the plugin name for the whole action\n"
	"  is_dp      INTEGER NOT NULL DEFAULT 0, -- 1: a distribution point\n"
	"  status     TEXT NOT NULL,     -- Success, Failed\n"
	"  hresult    INTEGER NOT NULL DEFAULT 0,\n"
	"  bytes      INTEGER NOT NULL DEFAULT 0, -- bytes moved\n"
	"  message    TEXT,\n"
	"  updated_at TEXT NOT NULL,\n"
	"  PRIMARY KEY (job_id, seq)\n"
	");\n";

static const char *const migrations[] = {
	migration_1,
	migration_2,
};

#define N_MIGRATIONS ((int)(sizeof(migrations) / sizeof(migrations[0])))

_Static_assert(sizeof(migrations) / sizeof(migrations[0]) == OFFSERV_SITEDB_SCHEMA_VERSION,
               "one migration per schema version");

/* ---------------------------------------------------------------------- */
/* Errors */

static offserv_status status_of_sqlite(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_DONE:
	case SQLITE_ROW:
		return OFFSERV_OK;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return OFFSERV_E_BUSY;
	case SQLITE_NOMEM:
		return OFFSERV_E_OUTOFMEMORY;
	case SQLITE_READONLY:
	case SQLITE_PERM:
	case SQLITE_AUTH:
		return OFFSERV_E_ACCESS_DENIED;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return OFFSERV_E_FILE_CORRUPT;
	case SQLITE_FULL:
		return OFFSERV_E_DISK_FULL;
	case SQLITE_CANTOPEN:
		return OFFSERV_E_PATH_NOT_FOUND;
	case SQLITE_IOERR:
		return OFFSERV_E_READ_FAULT;
	case SQLITE_CONSTRAINT:
		if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY)
			return OFFSERV_E_ALREADY_EXISTS;
		if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
			return OFFSERV_E_NOT_FOUND;
		return OFFSERV_E_INVALID_DATA;
	default:
		return OFFSERV_E_FAIL;
	}
}

/* Record an SQLite failure: status, and "site database PATH: WHAT: sqlite text". */
static offserv_status db_fail(struct offserv_sitedb *db, int rc, const char *what, char *err,
                              size_t errlen)
{
	offserv_status st = status_of_sqlite(rc);

	if (st == OFFSERV_OK)
		st = OFFSERV_E_UNEXPECTED;
	if (st == OFFSERV_E_BUSY)
		db->saw_busy = true;
	offserv_set_error(err, errlen, "site database %s: %s: %s", db->path, what,
	                  db->conn ? sqlite3_errmsg(db->conn) : sqlite3_errstr(rc));
	return st;
}

static char *col_text(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);

	return t ? strdup((const char *)t) : NULL;
}

static void col_copy(sqlite3_stmt *st, int i, char *buf, size_t len)
{
	const unsigned char *t = sqlite3_column_text(st, i);

	snprintf(buf, len, "%s", t ? (const char *)t : "");
}

void offserv_sitedb_now(char out[21])
{
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	strftime(out, 21, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---------------------------------------------------------------------- */
/* Statements */

static int prep(struct offserv_sitedb *db, const char *sql, sqlite3_stmt **st)
{
	return sqlite3_prepare_v2(db->conn, sql, -1, st, NULL);
}

static int bind_text(sqlite3_stmt *st, int i, const char *s)
{
	return s ? sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(st, i);
}

static int bind_id(sqlite3_stmt *st, int i, int64_t v)
{
	return v ? sqlite3_bind_int64(st, i, v) : sqlite3_bind_null(st, i);
}

/* Run a statement with no result rows. */
static int exec_stmt(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}

/* ---------------------------------------------------------------------- */
/* Transactions */

static void pause_briefly(int attempt)
{
	struct timespec ts = {0, (long)(20 + (attempt % 5) * 30) * 1000000L};

	nanosleep(&ts, NULL);
}

typedef offserv_status (*tx_fn)(struct offserv_sitedb *db, void *ctx, char *err, size_t errlen);

/*
 * Run @p fn inside BEGIN IMMEDIATE ... COMMIT.  When the lock cannot be had
 * (another process writes for longer than the busy timeout) or @p fn fails
 * on a lock, the whole transaction is rolled back and tried again, so that
 * a caller never sees "database is locked" while others make progress.
 */
static offserv_status write_tx(struct offserv_sitedb *db, tx_fn fn, void *ctx, char *err,
                               size_t errlen)
{
	offserv_status st = OFFSERV_E_BUSY;

	for (int attempt = 0; attempt <= WRITE_RETRIES; attempt++) {
		int rc;

		db->saw_busy = false;
		rc = sqlite3_exec(db->conn, "BEGIN IMMEDIATE", NULL, NULL, NULL);
		if (rc != SQLITE_OK) {
			st = db_fail(db, rc, "cannot start a transaction", err, errlen);
			if (st == OFFSERV_E_BUSY) {
				pause_briefly(attempt);
				continue;
			}
			return st;
		}
		st = fn(db, ctx, err, errlen);
		if (OFFSERV_SUCCEEDED(st)) {
			rc = sqlite3_exec(db->conn, "COMMIT", NULL, NULL, NULL);
			while ((rc & 0xff) == SQLITE_BUSY && attempt++ < WRITE_RETRIES) {
				pause_briefly(attempt);
				rc = sqlite3_exec(db->conn, "COMMIT", NULL, NULL, NULL);
			}
			if (rc == SQLITE_OK)
				return st;
			st = db_fail(db, rc, "cannot commit", err, errlen);
		}
		sqlite3_exec(db->conn, "ROLLBACK", NULL, NULL, NULL);
		if (!(st == OFFSERV_E_BUSY && db->saw_busy))
			return st;
		pause_briefly(attempt);
	}
	return st;
}

/* ---------------------------------------------------------------------- */
/* Open, integrity, migrations */

static offserv_status check_integrity(struct offserv_sitedb *db, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	int rc = prep(db, "PRAGMA integrity_check", &st);
	offserv_status ret = OFFSERV_OK;

	if (rc != SQLITE_OK)
		goto fail;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const char *res = (const char *)sqlite3_column_text(st, 0);

		if (!res || strcmp(res, "ok") != 0) {
			offserv_set_error(err, errlen,
			                  "site database %s is damaged (integrity check: %s); restore it from a backup",
			                  db->path, res ? res : "no result");
			ret = OFFSERV_E_FILE_CORRUPT;
		}
		sqlite3_finalize(st);
		return ret;
	}
	if (rc == SQLITE_DONE) {
		sqlite3_finalize(st);
		return OFFSERV_OK;
	}
fail:
	sqlite3_finalize(st);
	if ((rc & 0xff) == SQLITE_NOTADB || (rc & 0xff) == SQLITE_CORRUPT) {
		offserv_set_error(err, errlen,
		                  "site database %s is damaged or not an SQLite database (%s); restore it from a backup",
		                  db->path, sqlite3_errstr(rc));
		return OFFSERV_E_FILE_CORRUPT;
	}
	return db_fail(db, rc, "integrity check failed", err, errlen);
}

static offserv_status set_wal(struct offserv_sitedb *db, char *err, size_t errlen)
{
	for (int attempt = 0;; attempt++) {
		sqlite3_stmt *st = NULL;
		int rc = prep(db, "PRAGMA journal_mode=WAL", &st);

		if (rc == SQLITE_OK)
			rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			const char *mode = (const char *)sqlite3_column_text(st, 0);
			bool wal = mode && strcmp(mode, "wal") == 0;

			sqlite3_finalize(st);
			if (!wal) {
				offserv_set_error(err, errlen,
				                  "site database %s: cannot switch to WAL mode (journal mode stays %s)",
				                  db->path, mode ? mode : "unknown");
				return OFFSERV_E_NOT_SUPPORTED;
			}
			return OFFSERV_OK;
		}
		sqlite3_finalize(st);
		if ((rc & 0xff) == SQLITE_BUSY && attempt < WRITE_RETRIES) {
			pause_briefly(attempt);
			continue;
		}
		return db_fail(db, rc, "cannot switch to WAL mode", err, errlen);
	}
}

static int read_user_version(struct offserv_sitedb *db, int *version)
{
	sqlite3_stmt *st = NULL;
	int rc = prep(db, "PRAGMA user_version", &st);

	if (rc == SQLITE_OK) {
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			*version = sqlite3_column_int(st, 0);
			rc = SQLITE_OK;
		}
	}
	sqlite3_finalize(st);
	return rc;
}

struct migrate_ctx {
	const char *site_code;
	bool done;
};

/* One step: read the version inside the write lock, apply the next migration. */
static offserv_status migrate_step(struct offserv_sitedb *db, void *vctx, char *err,
                                   size_t errlen)
{
	struct migrate_ctx *ctx = vctx;
	int version = 0;
	int rc = read_user_version(db, &version);
	char sql[64];

	if (rc != SQLITE_OK)
		return db_fail(db, rc, "cannot read the schema version", err, errlen);
	if (version > N_MIGRATIONS) {
		offserv_set_error(err, errlen,
		                  "site database %s has schema version %d, newer than this offserv knows (%d): use a newer offserv",
		                  db->path, version, N_MIGRATIONS);
		return OFFSERV_E_OLD_WIN_VERSION;
	}
	if (version == N_MIGRATIONS) {
		ctx->done = true;
		db->schema_version = version;
		return OFFSERV_OK;
	}
	rc = sqlite3_exec(db->conn, migrations[version], NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		char what[64];

		snprintf(what, sizeof(what), "migration to schema version %d failed", version + 1);
		return db_fail(db, rc, what, err, errlen);
	}
	if (version == 0) {
		sqlite3_stmt *st = NULL;

		rc = prep(db, "INSERT INTO site_settings(key, value) VALUES ('site_code', ?)", &st);
		if (rc == SQLITE_OK) {
			bind_text(st, 1, ctx->site_code);
			rc = exec_stmt(st);
		}
		sqlite3_finalize(st);
		if (rc != SQLITE_OK)
			return db_fail(db, rc, "cannot record the site code", err, errlen);
	}
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", version + 1);
	rc = sqlite3_exec(db->conn, sql, NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return db_fail(db, rc, "cannot set the schema version", err, errlen);
	db->schema_version = version + 1;
	return OFFSERV_OK;
}

static bool valid_site_code(const char *s)
{
	if (strlen(s) != 3)
		return false;
	for (int i = 0; i < 3; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9')))
			return false;
	return true;
}

static offserv_status read_site_code(struct offserv_sitedb *db, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	int rc = prep(db, "SELECT value FROM site_settings WHERE key = 'site_code'", &st);

	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		col_copy(st, 0, db->site_code, sizeof(db->site_code));
		sqlite3_finalize(st);
		if (!valid_site_code(db->site_code)) {
			offserv_set_error(err, errlen, "site database %s: invalid site code '%s'",
			                  db->path, db->site_code);
			return OFFSERV_E_FILE_CORRUPT;
		}
		return OFFSERV_OK;
	}
	sqlite3_finalize(st);
	if (rc == SQLITE_DONE) {
		offserv_set_error(err, errlen, "site database %s: no site code recorded", db->path);
		return OFFSERV_E_FILE_CORRUPT;
	}
	return db_fail(db, rc, "cannot read the site code", err, errlen);
}

offserv_status offserv_sitedb_open(const char *path, const char *site_code,
                                   struct offserv_sitedb **out, char *err, size_t errlen)
{
	struct offserv_sitedb *db;
	struct migrate_ctx mctx;
	offserv_status st;
	int rc;

	*out = NULL;
	if (!path || !*path) {
		offserv_set_error(err, errlen, "site database: no path given");
		return OFFSERV_E_INVALIDARG;
	}
	if (!site_code)
		site_code = OFFSERV_SITEDB_DEFAULT_SITE_CODE;
	if (!valid_site_code(site_code)) {
		offserv_set_error(err, errlen,
		                  "site code '%s' is not three upper-case letters or digits", site_code);
		return OFFSERV_E_INVALIDARG;
	}
	db = calloc(1, sizeof(*db));
	if (!db || !(db->path = strdup(path))) {
		free(db);
		offserv_set_error(err, errlen, "site database %s: out of memory", path);
		return OFFSERV_E_OUTOFMEMORY;
	}
	rc = sqlite3_open_v2(path, &db->conn, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
	if (rc != SQLITE_OK) {
		int e = errno;

		offserv_set_error(err, errlen, "site database %s: cannot open: %s", path,
		                  db->conn ? sqlite3_errmsg(db->conn) : sqlite3_errstr(rc));
		st = (rc & 0xff) == SQLITE_CANTOPEN && e ? offserv_status_from_errno(e)
		                                         : status_of_sqlite(rc);
		offserv_sitedb_close(db);
		return st;
	}
	sqlite3_extended_result_codes(db->conn, 1);
	sqlite3_busy_timeout(db->conn, BUSY_TIMEOUT_MS);

	st = check_integrity(db, err, errlen);
	if (OFFSERV_SUCCEEDED(st))
		st = set_wal(db, err, errlen);
	if (OFFSERV_SUCCEEDED(st)) {
		rc = sqlite3_exec(db->conn, "PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL",
		                  NULL, NULL, NULL);
		if (rc != SQLITE_OK)
			st = db_fail(db, rc, "cannot set pragmas", err, errlen);
	}
	mctx.site_code = site_code;
	mctx.done = false;
	while (OFFSERV_SUCCEEDED(st) && !mctx.done)
		st = write_tx(db, migrate_step, &mctx, err, errlen);
	if (OFFSERV_SUCCEEDED(st))
		st = read_site_code(db, err, errlen);
	if (OFFSERV_FAILED(st)) {
		offserv_sitedb_close(db);
		return st;
	}
	*out = db;
	return OFFSERV_OK;
}

void offserv_sitedb_close(struct offserv_sitedb *db)
{
	if (!db)
		return;
	if (db->conn)
		sqlite3_close_v2(db->conn);
	free(db->path);
	free(db);
}

int offserv_sitedb_schema_version(const struct offserv_sitedb *db)
{
	return db->schema_version;
}

const char *offserv_sitedb_site_code(const struct offserv_sitedb *db)
{
	return db->site_code;
}

const char *offserv_sitedb_path(const struct offserv_sitedb *db)
{
	return db->path;
}

/* ---------------------------------------------------------------------- */
/* Sequences */

static offserv_status seq_next(struct offserv_sitedb *db, const char *name, int64_t *value,
                               char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	int rc = prep(db, "UPDATE sequences SET next_value = next_value + 1 WHERE name = ? "
	                  "RETURNING next_value - 1", &st);

	if (rc == SQLITE_OK) {
		bind_text(st, 1, name);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			*value = sqlite3_column_int64(st, 0);
			sqlite3_finalize(st);
			return OFFSERV_OK;
		}
		if (rc == SQLITE_DONE) {
			sqlite3_finalize(st);
			offserv_set_error(err, errlen, "site database %s: sequence '%s' is missing",
			                  db->path, name);
			return OFFSERV_E_FILE_CORRUPT;
		}
	}
	sqlite3_finalize(st);
	return db_fail(db, rc, "cannot advance a sequence", err, errlen);
}

static offserv_status new_package_id(struct offserv_sitedb *db, char out[OFFSERV_PACKAGE_ID_LEN],
                                     char *err, size_t errlen)
{
	int64_t v = 0;
	offserv_status st = seq_next(db, "image", &v, err, errlen);

	if (OFFSERV_FAILED(st))
		return st;
	if (v < 0 || v > 0xfffff) {
		offserv_set_error(err, errlen, "site database %s: package IDs are exhausted", db->path);
		return OFFSERV_E_FAIL;
	}
	snprintf(out, OFFSERV_PACKAGE_ID_LEN, "%s%05X", db->site_code, (unsigned)v);
	return OFFSERV_OK;
}

static offserv_status next_id_tx(struct offserv_sitedb *db, void *ctx, char *err, size_t errlen)
{
	return new_package_id(db, ctx, err, errlen);
}

offserv_status offserv_sitedb_next_package_id(struct offserv_sitedb *db,
                                              char out[OFFSERV_PACKAGE_ID_LEN], char *err,
                                              size_t errlen)
{
	return write_tx(db, next_id_tx, out, err, errlen);
}

/* ---------------------------------------------------------------------- */
/* Images */

void offserv_image_rec_clear(struct offserv_image_rec *r)
{
	if (!r)
		return;
	free(r->name);
	free(r->description);
	free(r->type);
	free(r->source_path);
	free(r->wim_path);
	free(r->sha256);
	free(r->imported_at);
	free(r->scheduled_date);
	free(r->scheduled_status);
	free(r->last_serviced_at);
	memset(r, 0, sizeof(*r));
}

void offserv_image_recs_free(struct offserv_image_rec *r, size_t n)
{
	if (!r)
		return;
	for (size_t i = 0; i < n; i++)
		offserv_image_rec_clear(&r[i]);
	free(r);
}

void offserv_image_index_recs_free(struct offserv_image_index_rec *r, size_t n)
{
	if (!r)
		return;
	for (size_t i = 0; i < n; i++) {
		free(r[i].name);
		free(r[i].description);
		free(r[i].edition);
		free(r[i].arch);
		free(r[i].version);
		free(r[i].languages);
	}
	free(r);
}

void offserv_image_package_recs_free(struct offserv_image_package_rec *r, size_t n)
{
	if (!r)
		return;
	for (size_t i = 0; i < n; i++) {
		free(r[i].identity);
		free(r[i].install_time);
		free(r[i].release_type);
		free(r[i].origin);
		free(r[i].applied_at);
	}
	free(r);
}

#define IMAGE_COLS                                                                          \
	"package_id, name, description, type, source_path, wim_path, sha256, referenced, solid, " \
	"imported_at, scheduled_date, scheduled_status, last_serviced_at"

static void image_from_row(sqlite3_stmt *st, void *rec)
{
	struct offserv_image_rec *r = rec;

	memset(r, 0, sizeof(*r));
	col_copy(st, 0, r->package_id, sizeof(r->package_id));
	r->name = col_text(st, 1);
	r->description = col_text(st, 2);
	r->type = col_text(st, 3);
	r->source_path = col_text(st, 4);
	r->wim_path = col_text(st, 5);
	r->sha256 = col_text(st, 6);
	r->referenced = sqlite3_column_int(st, 7);
	r->solid = sqlite3_column_int(st, 8);
	r->imported_at = col_text(st, 9);
	r->scheduled_date = col_text(st, 10);
	r->scheduled_status = col_text(st, 11);
	r->last_serviced_at = col_text(st, 12);
}

/* A growable array of records of @p size bytes. */
static void *grow(void *arr, size_t *cap, size_t n, size_t size)
{
	if (n < *cap)
		return arr;
	size_t ncap = *cap ? *cap * 2 : 16;
	void *p = realloc(arr, ncap * size);

	if (p) {
		memset((char *)p + *cap * size, 0, (ncap - *cap) * size);
		*cap = ncap;
	}
	return p;
}

/* Fills one record from the current row of a statement. */
typedef void (*row_reader)(sqlite3_stmt *st, void *rec);

/*
 * Step @p st (prepared with status @p rc, parameters bound) to its end,
 * appending one zeroed record of @p size bytes per row, filled by @p fn;
 * the statement is finalized.  Returns SQLITE_DONE when every row was
 * read, else the failing code; the records read so far are in *arr and
 * *cnt either way (the caller frees them on failure).
 */
static int read_rows(sqlite3_stmt *st, int rc, size_t size, row_reader fn, void **arr,
                     size_t *cnt)
{
	size_t cap = 0;

	*arr = NULL;
	*cnt = 0;
	while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		char *p = grow(*arr, &cap, *cnt, size);

		if (!p) {
			rc = SQLITE_NOMEM;
			break;
		}
		*arr = p;
		fn(st, p + *cnt * size);
		(*cnt)++;
		rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	return rc;
}

struct image_insert_ctx {
	const struct offserv_image_rec *img;
	const struct offserv_image_index_rec *idx;
	size_t n_idx;
	const struct offserv_image_package_rec *pkgs;
	size_t n_pkgs;
	char *id_out;
};

static offserv_status existing_image(struct offserv_sitedb *db, const char *path,
                                     const char *sha, char id[OFFSERV_PACKAGE_ID_LEN])
{
	sqlite3_stmt *st = NULL;
	int rc = prep(db, "SELECT package_id FROM images WHERE source_path = ?1 OR wim_path = ?1 "
	                  "OR (?2 IS NOT NULL AND sha256 = ?2) ORDER BY package_id LIMIT 1", &st);
	offserv_status ret = OFFSERV_E_NOT_FOUND;

	if (rc == SQLITE_OK) {
		bind_text(st, 1, path);
		bind_text(st, 2, sha);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			col_copy(st, 0, id, OFFSERV_PACKAGE_ID_LEN);
			ret = OFFSERV_OK;
		} else if (rc != SQLITE_DONE) {
			ret = status_of_sqlite(rc);
		}
	} else {
		ret = status_of_sqlite(rc);
	}
	sqlite3_finalize(st);
	return ret;
}

static offserv_status insert_packages(struct offserv_sitedb *db, const char *image_id,
                                      const struct offserv_image_package_rec *pkgs, size_t n,
                                      bool replace, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	int rc = prep(db, replace ?
	              "INSERT OR REPLACE INTO image_packages(package_id, wim_index, identity, state, "
	              "install_time, release_type, origin, applied_at, job_id, update_id) "
	              "VALUES (?,?,?,?,?,?,?,?,?,?)" :
	              "INSERT INTO image_packages(package_id, wim_index, identity, state, "
	              "install_time, release_type, origin, applied_at, job_id, update_id) "
	              "VALUES (?,?,?,?,?,?,?,?,?,?)", &st);

	for (size_t i = 0; rc == SQLITE_OK && i < n; i++) {
		const struct offserv_image_package_rec *p = &pkgs[i];

		sqlite3_reset(st);
		bind_text(st, 1, image_id);
		sqlite3_bind_int(st, 2, p->index);
		bind_text(st, 3, p->identity);
		sqlite3_bind_int64(st, 4, p->state);
		bind_text(st, 5, p->install_time);
		bind_text(st, 6, p->release_type);
		bind_text(st, 7, p->origin ? p->origin : "import");
		bind_text(st, 8, p->applied_at);
		bind_id(st, 9, p->job_id);
		bind_id(st, 10, p->update_id);
		rc = exec_stmt(st);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_OK)
		return db_fail(db, rc, "cannot record the image's packages", err, errlen);
	return OFFSERV_OK;
}

static offserv_status image_insert_tx(struct offserv_sitedb *db, void *vctx, char *err,
                                      size_t errlen)
{
	struct image_insert_ctx *c = vctx;
	const struct offserv_image_rec *img = c->img;
	char id[OFFSERV_PACKAGE_ID_LEN];
	char now[21];
	sqlite3_stmt *st = NULL;
	offserv_status ret;
	int rc;

	ret = existing_image(db, img->source_path, img->sha256, id);
	if (ret == OFFSERV_OK) {
		offserv_set_error(err, errlen, "%s is already in the site as image %s",
		                  img->source_path, id);
		return OFFSERV_E_ALREADY_EXISTS;
	}
	if (ret != OFFSERV_E_NOT_FOUND)
		return db_fail(db, SQLITE_ERROR, "cannot look for duplicate images", err, errlen);
	if (img->package_id[0]) {
		snprintf(id, sizeof(id), "%s", img->package_id);
	} else {
		ret = new_package_id(db, id, err, errlen);
		if (OFFSERV_FAILED(ret))
			return ret;
	}
	offserv_sitedb_now(now);
	rc = prep(db, "INSERT INTO images(" IMAGE_COLS ") VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", &st);
	if (rc == SQLITE_OK) {
		bind_text(st, 1, id);
		bind_text(st, 2, img->name ? img->name : id);
		bind_text(st, 3, img->description);
		bind_text(st, 4, img->type ? img->type : "os_image");
		bind_text(st, 5, img->source_path);
		bind_text(st, 6, img->wim_path ? img->wim_path : img->source_path);
		bind_text(st, 7, img->sha256);
		sqlite3_bind_int(st, 8, img->referenced != 0);
		sqlite3_bind_int(st, 9, img->solid != 0);
		bind_text(st, 10, img->imported_at ? img->imported_at : now);
		bind_text(st, 11, img->scheduled_date);
		bind_text(st, 12, img->scheduled_status);
		bind_text(st, 13, img->last_serviced_at);
		rc = exec_stmt(st);
	}
	sqlite3_finalize(st);
	if ((rc & 0xff) == SQLITE_CONSTRAINT) {
		offserv_set_error(err, errlen, "site database %s: image %s or its source path exists",
		                  db->path, id);
		return OFFSERV_E_ALREADY_EXISTS;
	}
	if (rc != SQLITE_OK)
		return db_fail(db, rc, "cannot insert the image", err, errlen);

	rc = prep(db, "INSERT INTO image_indexes(package_id, wim_index, name, description, edition, "
	              "arch, version, build, sp_build, sp_level, languages, size, file_count, dir_count) "
	              "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", &st);
	for (size_t i = 0; rc == SQLITE_OK && i < c->n_idx; i++) {
		const struct offserv_image_index_rec *x = &c->idx[i];

		sqlite3_reset(st);
		bind_text(st, 1, id);
		sqlite3_bind_int(st, 2, x->index);
		bind_text(st, 3, x->name);
		bind_text(st, 4, x->description);
		bind_text(st, 5, x->edition);
		bind_text(st, 6, x->arch);
		bind_text(st, 7, x->version);
		sqlite3_bind_int64(st, 8, x->build);
		sqlite3_bind_int64(st, 9, x->sp_build);
		sqlite3_bind_int64(st, 10, x->sp_level);
		bind_text(st, 11, x->languages);
		sqlite3_bind_int64(st, 12, (sqlite3_int64)x->size);
		sqlite3_bind_int64(st, 13, (sqlite3_int64)x->file_count);
		sqlite3_bind_int64(st, 14, (sqlite3_int64)x->dir_count);
		rc = exec_stmt(st);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_OK)
		return db_fail(db, rc, "cannot record the image's indexes", err, errlen);
	ret = insert_packages(db, id, c->pkgs, c->n_pkgs, false, err, errlen);
	if (OFFSERV_FAILED(ret))
		return ret;
	if (c->id_out)
		memcpy(c->id_out, id, sizeof(id));
	return OFFSERV_OK;
}

offserv_status offserv_sitedb_image_insert(struct offserv_sitedb *db,
                                           const struct offserv_image_rec *img,
                                           const struct offserv_image_index_rec *indexes,
                                           size_t n_indexes,
                                           const struct offserv_image_package_rec *packages,
                                           size_t n_packages, char id_out[OFFSERV_PACKAGE_ID_LEN],
                                           char *err, size_t errlen)
{
	struct image_insert_ctx c = {img, indexes, n_indexes, packages, n_packages, id_out};

	if (!img || !img->source_path) {
		offserv_set_error(err, errlen, "image insert: no source path");
		return OFFSERV_E_INVALIDARG;
	}
	return write_tx(db, image_insert_tx, &c, err, errlen);
}

offserv_status offserv_sitedb_image_get(struct offserv_sitedb *db, const char *id,
                                        struct offserv_image_rec *out, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	int rc = prep(db, "SELECT " IMAGE_COLS " FROM images WHERE package_id = ?", &st);

	memset(out, 0, sizeof(*out));
	if (rc == SQLITE_OK) {
		bind_text(st, 1, id);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			image_from_row(st, out);
			sqlite3_finalize(st);
			return OFFSERV_OK;
		}
		if (rc == SQLITE_DONE) {
			sqlite3_finalize(st);
			offserv_set_error(err, errlen, "no image %s in the site", id);
			return OFFSERV_E_NOT_FOUND;
		}
	}
	sqlite3_finalize(st);
	return db_fail(db, rc, "cannot read an image", err, errlen);
}

offserv_status offserv_sitedb_image_find(struct offserv_sitedb *db, const char *path,
                                         const char *sha256, struct offserv_image_rec *out,
                                         char *err, size_t errlen)
{
	char id[OFFSERV_PACKAGE_ID_LEN];
	offserv_status st = existing_image(db, path, sha256, id);

	memset(out, 0, sizeof(*out));
	if (st == OFFSERV_E_NOT_FOUND) {
		offserv_set_error(err, errlen, "no image with that path or digest in the site");
		return st;
	}
	if (OFFSERV_FAILED(st))
		return db_fail(db, SQLITE_ERROR, "cannot look for an image", err, errlen);
	return offserv_sitedb_image_get(db, id, out, err, errlen);
}

offserv_status offserv_sitedb_image_list(struct offserv_sitedb *db, struct offserv_image_rec **out,
                                         size_t *n, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	struct offserv_image_rec *arr = NULL;
	size_t cnt = 0;
	int rc = prep(db, "SELECT " IMAGE_COLS " FROM images ORDER BY package_id", &st);

	*out = NULL;
	*n = 0;
	rc = read_rows(st, rc, sizeof(*arr), image_from_row, (void **)&arr, &cnt);
	if (rc != SQLITE_DONE) {
		offserv_image_recs_free(arr, cnt);
		return db_fail(db, rc, "cannot list images", err, errlen);
	}
	*out = arr;
	*n = cnt;
	return OFFSERV_OK;
}

/* One bound parameter: text (NULL binds NULL) or integer. */
struct sql_param {
	const char *t;
	int64_t i;
	bool is_int;
};

#define PT(x) {.t = (x)}
#define PI(x) {.i = (int64_t)(x), .is_int = true}

struct simple_ctx {
	const char *sql;
	const char *what;
	struct sql_param p[8];
	int nparams;
	int changes;
};

/* One statement with parameters ?1..?n, in its own transaction. */
static offserv_status simple_tx(struct offserv_sitedb *db, void *vctx, char *err, size_t errlen)
{
	struct simple_ctx *c = vctx;
	sqlite3_stmt *st = NULL;
	int rc = prep(db, c->sql, &st);

	for (int k = 0; rc == SQLITE_OK && k < c->nparams; k++)
		rc = c->p[k].is_int ? sqlite3_bind_int64(st, k + 1, c->p[k].i)
		                    : bind_text(st, k + 1, c->p[k].t);
	if (rc == SQLITE_OK)
		rc = exec_stmt(st);
	sqlite3_finalize(st);
	if ((rc & 0xff) == SQLITE_CONSTRAINT) {
		offserv_set_error(err, errlen, "site database %s: %s: a referenced row is missing",
		                  db->path, c->what);
		return OFFSERV_E_NOT_FOUND;
	}
	if (rc != SQLITE_OK)
		return db_fail(db, rc, c->what, err, errlen);
	c->changes = sqlite3_changes(db->conn);
	return OFFSERV_OK;
}

offserv_status offserv_sitedb_image_delete(struct offserv_sitedb *db, const char *id, char *err,
                                           size_t errlen)
{
	struct simple_ctx c = {.sql = "DELETE FROM images WHERE package_id = ?",
	                       .what = "cannot delete the image", .p = {PT(id)}, .nparams = 1};
	offserv_status st = write_tx(db, simple_tx, &c, err, errlen);

	if (OFFSERV_SUCCEEDED(st) && c.changes == 0) {
		offserv_set_error(err, errlen, "no image %s in the site", id);
		return OFFSERV_E_NOT_FOUND;
	}
	return st;
}

offserv_status offserv_sitedb_image_set_schedule(struct offserv_sitedb *db, const char *id,
                                                 const char *scheduled_date,
                                                 const char *scheduled_status, char *err,
                                                 size_t errlen)
{
	struct simple_ctx c = {
		.sql = "UPDATE images SET scheduled_date = ?, scheduled_status = ? WHERE package_id = ?",
		.what = "cannot set the image's schedule",
		.p = {PT(scheduled_date), PT(scheduled_status), PT(id)},
		.nparams = 3};
	offserv_status st = write_tx(db, simple_tx, &c, err, errlen);

	if (OFFSERV_SUCCEEDED(st) && c.changes == 0) {
		offserv_set_error(err, errlen, "no image %s in the site", id);
		return OFFSERV_E_NOT_FOUND;
	}
	return st;
}

offserv_status offserv_sitedb_image_set_serviced(struct offserv_sitedb *db, const char *id,
                                                 const char *when, char *err, size_t errlen)
{
	char now[21];
	struct simple_ctx c = {
		.sql = "UPDATE images SET last_serviced_at = ? WHERE package_id = ?",
		.what = "cannot record when the image was serviced",
		.p = {PT(when ? when : now), PT(id)},
		.nparams = 2};
	offserv_status st;

	offserv_sitedb_now(now);
	st = write_tx(db, simple_tx, &c, err, errlen);
	if (OFFSERV_SUCCEEDED(st) && c.changes == 0) {
		offserv_set_error(err, errlen, "no image %s in the site", id);
		return OFFSERV_E_NOT_FOUND;
	}
	return st;
}

static void index_from_row(sqlite3_stmt *st, void *rec)
{
	struct offserv_image_index_rec *x = rec;

	x->index = sqlite3_column_int(st, 0);
	x->name = col_text(st, 1);
	x->description = col_text(st, 2);
	x->edition = col_text(st, 3);
	x->arch = col_text(st, 4);
	x->version = col_text(st, 5);
	x->build = (uint32_t)sqlite3_column_int64(st, 6);
	x->sp_build = (uint32_t)sqlite3_column_int64(st, 7);
	x->sp_level = (uint32_t)sqlite3_column_int64(st, 8);
	x->languages = col_text(st, 9);
	x->size = (uint64_t)sqlite3_column_int64(st, 10);
	x->file_count = (uint64_t)sqlite3_column_int64(st, 11);
	x->dir_count = (uint64_t)sqlite3_column_int64(st, 12);
}

offserv_status offserv_sitedb_index_list(struct offserv_sitedb *db, const char *image_id,
                                         struct offserv_image_index_rec **out, size_t *n,
                                         char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	struct offserv_image_index_rec *arr = NULL;
	size_t cnt = 0;
	int rc = prep(db, "SELECT wim_index, name, description, edition, arch, version, build, "
	                  "sp_build, sp_level, languages, size, file_count, dir_count "
	                  "FROM image_indexes WHERE package_id = ? ORDER BY wim_index", &st);

	*out = NULL;
	*n = 0;
	if (rc == SQLITE_OK)
		bind_text(st, 1, image_id);
	rc = read_rows(st, rc, sizeof(*arr), index_from_row, (void **)&arr, &cnt);
	if (rc != SQLITE_DONE) {
		offserv_image_index_recs_free(arr, cnt);
		return db_fail(db, rc, "cannot list the image's indexes", err, errlen);
	}
	*out = arr;
	*n = cnt;
	return OFFSERV_OK;
}

struct index_update_ctx {
	const char *image_id;
	const struct offserv_image_index_rec *rec;
};

static offserv_status index_update_tx(struct offserv_sitedb *db, void *vctx, char *err,
                                      size_t errlen)
{
	struct index_update_ctx *c = vctx;
	const struct offserv_image_index_rec *x = c->rec;
	sqlite3_stmt *st = NULL;
	int rc = prep(db, "UPDATE image_indexes SET name = ?, description = ?, edition = ?, arch = ?, "
	                  "version = ?, build = ?, sp_build = ?, sp_level = ?, languages = ?, size = ?, "
	                  "file_count = ?, dir_count = ? WHERE package_id = ? AND wim_index = ?", &st);

	if (rc == SQLITE_OK) {
		bind_text(st, 1, x->name);
		bind_text(st, 2, x->description);
		bind_text(st, 3, x->edition);
		bind_text(st, 4, x->arch);
		bind_text(st, 5, x->version);
		sqlite3_bind_int64(st, 6, x->build);
		sqlite3_bind_int64(st, 7, x->sp_build);
		sqlite3_bind_int64(st, 8, x->sp_level);
		bind_text(st, 9, x->languages);
		sqlite3_bind_int64(st, 10, (sqlite3_int64)x->size);
		sqlite3_bind_int64(st, 11, (sqlite3_int64)x->file_count);
		sqlite3_bind_int64(st, 12, (sqlite3_int64)x->dir_count);
		bind_text(st, 13, c->image_id);
		sqlite3_bind_int(st, 14, x->index);
		rc = exec_stmt(st);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_OK)
		return db_fail(db, rc, "cannot update the index", err, errlen);
	if (sqlite3_changes(db->conn) == 0) {
		offserv_set_error(err, errlen, "image %s has no index %d", c->image_id, x->index);
		return OFFSERV_E_NOT_FOUND;
	}
	return OFFSERV_OK;
}

offserv_status offserv_sitedb_index_update(struct offserv_sitedb *db, const char *image_id,
                                           const struct offserv_image_index_rec *rec, char *err,
                                           size_t errlen)
{
	struct index_update_ctx c = {image_id, rec};

	return write_tx(db, index_update_tx, &c, err, errlen);
}

offserv_status offserv_sitedb_package_list(struct offserv_sitedb *db, const char *image_id,
                                           int index, struct offserv_image_package_rec **out,
                                           size_t *n, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	struct offserv_image_package_rec *arr = NULL;
	size_t cap = 0, cnt = 0;
	int rc = prep(db, "SELECT wim_index, identity, state, install_time, release_type, origin, "
	                  "applied_at, job_id, update_id FROM image_packages WHERE package_id = ?1 "
	                  "AND (?2 = 0 OR wim_index = ?2) ORDER BY wim_index, identity", &st);

	*out = NULL;
	*n = 0;
	if (rc == SQLITE_OK) {
		bind_text(st, 1, image_id);
		sqlite3_bind_int(st, 2, index);
	}
	while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct offserv_image_package_rec *p = grow(arr, &cap, cnt, sizeof(*arr));
		struct offserv_image_package_rec *x;

		if (!p) {
			rc = SQLITE_NOMEM;
			break;
		}
		arr = p;
		x = &arr[cnt++];
		x->index = sqlite3_column_int(st, 0);
		x->identity = col_text(st, 1);
		x->state = (uint32_t)sqlite3_column_int64(st, 2);
		x->install_time = col_text(st, 3);
		x->release_type = col_text(st, 4);
		x->origin = col_text(st, 5);
		x->applied_at = col_text(st, 6);
		x->job_id = sqlite3_column_int64(st, 7);
		x->update_id = sqlite3_column_int64(st, 8);
		rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		offserv_image_package_recs_free(arr, cnt);
		return db_fail(db, rc, "cannot list the image's packages", err, errlen);
	}
	*out = arr;
	*n = cnt;
	return OFFSERV_OK;
}

struct pkg_upsert_ctx {
	const char *image_id;
	const struct offserv_image_package_rec *pkgs;
	size_t n;
};

static offserv_status pkg_upsert_tx(struct offserv_sitedb *db, void *vctx, char *err,
                                    size_t errlen)
{
	struct pkg_upsert_ctx *c = vctx;

	return insert_packages(db, c->image_id, c->pkgs, c->n, true, err, errlen);
}

offserv_status offserv_sitedb_package_upsert(struct offserv_sitedb *db, const char *image_id,
                                             const struct offserv_image_package_rec *pkgs,
                                             size_t n, char *err, size_t errlen)
{
	struct pkg_upsert_ctx c = {image_id, pkgs, n};

	return write_tx(db, pkg_upsert_tx, &c, err, errlen);
}

/* ---------------------------------------------------------------------- */
/* Updates */

void offserv_update_rec_clear(struct offserv_update_rec *r)
{
	if (!r)
		return;
	free(r->file_name);
	free(r->library_path);
	free(r->format);
	free(r->kb);
	free(r->title);
	free(r->description);
	free(r->release_type);
	free(r->arch);
	free(r->product);
	free(r->build_date);
	free(r->support_link);
	free(r->imported_at);
	free(r->unsupported_reason);
	memset(r, 0, sizeof(*r));
}

void offserv_update_recs_free(struct offserv_update_rec *r, size_t n)
{
	if (!r)
		return;
	for (size_t i = 0; i < n; i++)
		offserv_update_rec_clear(&r[i]);
	free(r);
}

void offserv_update_package_recs_free(struct offserv_update_package_rec *r, size_t n)
{
	if (!r)
		return;
	for (size_t i = 0; i < n; i++) {
		free(r[i].identity);
		free(r[i].name);
		free(r[i].version);
		free(r[i].arch);
		free(r[i].release_type);
		free(r[i].reason);
		free(r[i].installer_version);
	}
	free(r);
}

void offserv_update_parent_recs_free(struct offserv_update_parent_rec *r, size_t n)
{
	if (!r)
		return;
	for (size_t i = 0; i < n; i++) {
		free(r[i].identity);
		free(r[i].build_compare);
		free(r[i].service_compare);
		free(r[i].revision_compare);
		free(r[i].disposition);
	}
	free(r);
}

#define UPDATE_COLS                                                                            \
	"u.update_id, u.sha256, u.file_name, u.library_path, u.format, u.kb, u.title, "             \
	"u.description, u.release_type, u.arch, u.product, u.build_date, u.support_link, u.size, " \
	"u.imported_at, u.supported, u.unsupported_reason, u.superseded_by"

static void update_from_row(sqlite3_stmt *st, struct offserv_update_rec *r)
{
	memset(r, 0, sizeof(*r));
	r->update_id = sqlite3_column_int64(st, 0);
	col_copy(st, 1, r->sha256, sizeof(r->sha256));
	r->file_name = col_text(st, 2);
	r->library_path = col_text(st, 3);
	r->format = col_text(st, 4);
	r->kb = col_text(st, 5);
	r->title = col_text(st, 6);
	r->description = col_text(st, 7);
	r->release_type = col_text(st, 8);
	r->arch = col_text(st, 9);
	r->product = col_text(st, 10);
	r->build_date = col_text(st, 11);
	r->support_link = col_text(st, 12);
	r->size = (uint64_t)sqlite3_column_int64(st, 13);
	r->imported_at = col_text(st, 14);
	r->supported = sqlite3_column_int(st, 15);
	r->unsupported_reason = col_text(st, 16);
	r->superseded_by = sqlite3_column_int64(st, 17);
}

/* The main package of each update: its first package that is not a servicing stack. */
struct family_row {
	int64_t update_id;
	char *key;     /* lower-case "name|arch" */
	char *version;
};

static int ascii_lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

/*
 * Recompute updates.superseded_by: in each family (main package name and
 * architecture), every update whose version is lower than the family's
 * highest gets the ID of the update with the highest version (the latest
 * imported among equals).
 */
static offserv_status refresh_supersedence(struct offserv_sitedb *db, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	struct family_row *rows = NULL;
	size_t cap = 0, n = 0;
	offserv_status ret = OFFSERV_OK;
	int rc = prep(db, "SELECT p.update_id, p.name, p.arch, p.version FROM update_packages p "
	                  "WHERE p.seq = (SELECT q.seq FROM update_packages q WHERE "
	                  "q.update_id = p.update_id ORDER BY q.is_ssu, q.seq LIMIT 1) "
	                  "ORDER BY p.update_id", &st);

	while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct family_row *p = grow(rows, &cap, n, sizeof(*rows));
		const char *name = (const char *)sqlite3_column_text(st, 1);
		const char *arch = (const char *)sqlite3_column_text(st, 2);
		char *key;

		if (!p) {
			rc = SQLITE_NOMEM;
			break;
		}
		rows = p;
		rc = SQLITE_OK;
		if (!name)
			continue;
		key = malloc(strlen(name) + (arch ? strlen(arch) : 0) + 2);
		if (!key) {
			rc = SQLITE_NOMEM;
			break;
		}
		sprintf(key, "%s|%s", name, arch ? arch : "");
		for (char *k = key; *k; k++)
			*k = (char)ascii_lower((unsigned char)*k);
		rows[n].update_id = sqlite3_column_int64(st, 0);
		rows[n].key = key;
		rows[n].version = col_text(st, 3);
		n++;
	}
	sqlite3_finalize(st);
	st = NULL;
	if (rc != SQLITE_DONE) {
		ret = db_fail(db, rc, "cannot read update families", err, errlen);
		goto out;
	}
	rc = prep(db, "UPDATE updates SET superseded_by = ?1 WHERE update_id = ?2 AND "
	              "superseded_by IS NOT ?1", &st);
	for (size_t i = 0; rc == SQLITE_OK && i < n; i++) {
		size_t best = i;

		for (size_t j = 0; j < n; j++) {
			int c;

			if (strcmp(rows[j].key, rows[i].key) != 0)
				continue;
			c = offserv_version_compare(rows[j].version, rows[best].version);
			if (c > 0 || (c == 0 && rows[j].update_id > rows[best].update_id))
				best = j;
		}
		sqlite3_reset(st);
		if (best != i && offserv_version_compare(rows[best].version, rows[i].version) > 0)
			sqlite3_bind_int64(st, 1, rows[best].update_id);
		else
			sqlite3_bind_null(st, 1);
		sqlite3_bind_int64(st, 2, rows[i].update_id);
		rc = exec_stmt(st);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_OK)
		ret = db_fail(db, rc, "cannot record supersedence", err, errlen);
out:
	for (size_t i = 0; i < n; i++) {
		free(rows[i].key);
		free(rows[i].version);
	}
	free(rows);
	return ret;
}

struct update_insert_ctx {
	const struct offserv_update_rec *rec;
	const struct offserv_update_package_rec *pkgs;
	size_t n_pkgs;
	const struct offserv_update_parent_rec *parents;
	size_t n_parents;
	int64_t id;
};

static offserv_status update_insert_tx(struct offserv_sitedb *db, void *vctx, char *err,
                                       size_t errlen)
{
	struct update_insert_ctx *c = vctx;
	const struct offserv_update_rec *r = c->rec;
	sqlite3_stmt *st = NULL;
	char now[21];
	int64_t id = 0;
	offserv_status ret;
	int rc;

	rc = prep(db, "SELECT update_id FROM updates WHERE sha256 = ?", &st);
	if (rc == SQLITE_OK) {
		bind_text(st, 1, r->sha256);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			int64_t existing = sqlite3_column_int64(st, 0);

			sqlite3_finalize(st);
			c->id = existing;
			offserv_set_error(err, errlen, "%s is already in the library as update %lld",
			                  r->file_name ? r->file_name : r->sha256, (long long)existing);
			return OFFSERV_E_ALREADY_EXISTS;
		}
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return db_fail(db, rc, "cannot look for the update", err, errlen);
	ret = seq_next(db, "update", &id, err, errlen);
	if (OFFSERV_FAILED(ret))
		return ret;
	offserv_sitedb_now(now);
	rc = prep(db, "INSERT INTO updates(update_id, sha256, file_name, library_path, format, kb, "
	              "title, description, release_type, arch, product, build_date, support_link, "
	              "size, imported_at, supported, unsupported_reason, superseded_by) "
	              "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,NULL)", &st);
	if (rc == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, id);
		bind_text(st, 2, r->sha256);
		bind_text(st, 3, r->file_name);
		bind_text(st, 4, r->library_path);
		bind_text(st, 5, r->format);
		bind_text(st, 6, r->kb);
		bind_text(st, 7, r->title);
		bind_text(st, 8, r->description);
		bind_text(st, 9, r->release_type);
		bind_text(st, 10, r->arch);
		bind_text(st, 11, r->product);
		bind_text(st, 12, r->build_date);
		bind_text(st, 13, r->support_link);
		sqlite3_bind_int64(st, 14, (sqlite3_int64)r->size);
		bind_text(st, 15, now);
		sqlite3_bind_int(st, 16, r->supported != 0);
		bind_text(st, 17, r->unsupported_reason);
		rc = exec_stmt(st);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_OK)
		return db_fail(db, rc, "cannot insert the update", err, errlen);

	rc = prep(db, "INSERT INTO update_packages(update_id, seq, identity, name, version, arch, "
	              "release_type, is_ssu, supported, reason, installer_version) "
	              "VALUES (?,?,?,?,?,?,?,?,?,?,?)", &st);
	for (size_t i = 0; rc == SQLITE_OK && i < c->n_pkgs; i++) {
		const struct offserv_update_package_rec *p = &c->pkgs[i];

		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_int(st, 2, (int)i);
		bind_text(st, 3, p->identity ? p->identity : "");
		bind_text(st, 4, p->name);
		bind_text(st, 5, p->version);
		bind_text(st, 6, p->arch);
		bind_text(st, 7, p->release_type);
		sqlite3_bind_int(st, 8, p->is_ssu != 0);
		sqlite3_bind_int(st, 9, p->supported != 0);
		bind_text(st, 10, p->reason);
		bind_text(st, 11, p->installer_version);
		rc = exec_stmt(st);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_OK)
		return db_fail(db, rc, "cannot record the update's packages", err, errlen);

	rc = prep(db, "INSERT INTO update_parents(update_id, package_seq, group_no, identity, "
	              "build_compare, service_compare, revision_compare, disposition) "
	              "VALUES (?,?,?,?,?,?,?,?)", &st);
	for (size_t i = 0; rc == SQLITE_OK && i < c->n_parents; i++) {
		const struct offserv_update_parent_rec *p = &c->parents[i];

		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_int(st, 2, p->package_seq);
		sqlite3_bind_int(st, 3, p->group_no);
		bind_text(st, 4, p->identity ? p->identity : "");
		bind_text(st, 5, p->build_compare);
		bind_text(st, 6, p->service_compare);
		bind_text(st, 7, p->revision_compare);
		bind_text(st, 8, p->disposition);
		rc = exec_stmt(st);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_OK)
		return db_fail(db, rc, "cannot record the update's parents", err, errlen);
	ret = refresh_supersedence(db, err, errlen);
	if (OFFSERV_FAILED(ret))
		return ret;
	c->id = id;
	return OFFSERV_OK;
}

offserv_status offserv_sitedb_update_insert(struct offserv_sitedb *db,
                                            const struct offserv_update_rec *rec,
                                            const struct offserv_update_package_rec *pkgs,
                                            size_t n_pkgs,
                                            const struct offserv_update_parent_rec *parents,
                                            size_t n_parents, int64_t *id_out, char *err,
                                            size_t errlen)
{
	struct update_insert_ctx c = {rec, pkgs, n_pkgs, parents, n_parents, 0};
	offserv_status st;

	if (!rec || strlen(rec->sha256) != 64 || !rec->file_name || !rec->library_path ||
	    !rec->format) {
		offserv_set_error(err, errlen,
		                  "update insert: SHA-256, file name, library path and format are required");
		return OFFSERV_E_INVALIDARG;
	}
	st = write_tx(db, update_insert_tx, &c, err, errlen);
	if (id_out)
		*id_out = c.id;
	return st;
}

static offserv_status update_get_where(struct offserv_sitedb *db, const char *where,
                                       const char *text, int64_t id,
                                       struct offserv_update_rec *out, char *err, size_t errlen)
{
	char sql[512];
	sqlite3_stmt *st = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	snprintf(sql, sizeof(sql), "SELECT " UPDATE_COLS " FROM updates u WHERE %s", where);
	rc = prep(db, sql, &st);
	if (rc == SQLITE_OK) {
		if (text)
			bind_text(st, 1, text);
		else
			sqlite3_bind_int64(st, 1, id);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			update_from_row(st, out);
			sqlite3_finalize(st);
			return OFFSERV_OK;
		}
		if (rc == SQLITE_DONE) {
			sqlite3_finalize(st);
			if (text)
				offserv_set_error(err, errlen, "no update with SHA-256 %s in the library", text);
			else
				offserv_set_error(err, errlen, "no update %lld in the library", (long long)id);
			return OFFSERV_E_NOT_FOUND;
		}
	}
	sqlite3_finalize(st);
	return db_fail(db, rc, "cannot read an update", err, errlen);
}

offserv_status offserv_sitedb_update_find_sha256(struct offserv_sitedb *db, const char *sha256,
                                                 struct offserv_update_rec *out, char *err,
                                                 size_t errlen)
{
	return update_get_where(db, "u.sha256 = lower(?)", sha256, 0, out, err, errlen);
}

offserv_status offserv_sitedb_update_get(struct offserv_sitedb *db, int64_t id,
                                         struct offserv_update_rec *out, char *err, size_t errlen)
{
	return update_get_where(db, "u.update_id = ?", NULL, id, out, err, errlen);
}

/* "%text%" with %, _ and \ escaped by a backslash. */
static char *like_pattern(const char *text)
{
	size_t n = strlen(text);
	char *p = malloc(2 * n + 3);
	char *q = p;

	if (!p)
		return NULL;
	*q++ = '%';
	for (const char *s = text; *s; s++) {
		if (*s == '%' || *s == '_' || *s == '\\')
			*q++ = '\\';
		*q++ = *s;
	}
	*q++ = '%';
	*q = '\0';
	return p;
}

/* Normalize an architecture filter; NULL means all. */
static int arch_filter(const char *in, const char **out)
{
	*out = NULL;
	if (!in || !*in || strcasecmp(in, "all") == 0)
		return 0;
	if (strcasecmp(in, "x64") == 0 || strcasecmp(in, "amd64") == 0)
		*out = "x64";
	else if (strcasecmp(in, "x86") == 0)
		*out = "x86";
	else if (strcasecmp(in, "arm64") == 0)
		*out = "arm64";
	else
		return -1;
	return 0;
}

offserv_status offserv_sitedb_update_list(struct offserv_sitedb *db,
                                          const struct offserv_update_filter *filter,
                                          struct offserv_update_rec **out, size_t *n, char *err,
                                          size_t errlen)
{
	static const char sql[] =
		"SELECT " UPDATE_COLS " FROM updates u WHERE "
		"(?1 IS NULL OR u.file_name LIKE ?1 ESCAPE '\\' OR u.kb LIKE ?1 ESCAPE '\\' "
		" OR u.title LIKE ?1 ESCAPE '\\' OR u.description LIKE ?1 ESCAPE '\\' "
		" OR u.release_type LIKE ?1 ESCAPE '\\' OR u.arch LIKE ?1 ESCAPE '\\' "
		" OR u.product LIKE ?1 ESCAPE '\\' OR u.format LIKE ?1 ESCAPE '\\' "
		" OR u.sha256 LIKE ?1 ESCAPE '\\' OR u.build_date LIKE ?1 ESCAPE '\\' "
		" OR u.support_link LIKE ?1 ESCAPE '\\' OR CAST(u.update_id AS TEXT) LIKE ?1 ESCAPE '\\' "
		" OR EXISTS (SELECT 1 FROM update_packages p WHERE p.update_id = u.update_id AND "
		"   (p.identity LIKE ?1 ESCAPE '\\' OR p.release_type LIKE ?1 ESCAPE '\\'))) "
		"AND (?2 IS NULL OR u.arch = ?2 OR u.arch IS NULL OR u.arch = 'neutral') "
		"AND (?3 = 0 OR u.superseded_by IS NULL) "
		"ORDER BY u.update_id";
	sqlite3_stmt *st = NULL;
	struct offserv_update_rec *arr = NULL;
	size_t cap = 0, cnt = 0;
	const char *arch = NULL;
	char *pattern = NULL;
	int rc;

	*out = NULL;
	*n = 0;
	if (filter && arch_filter(filter->arch, &arch) != 0) {
		offserv_set_error(err, errlen,
		                  "unknown architecture '%s': use x86, x64, arm64 or all", filter->arch);
		return OFFSERV_E_INVALIDARG;
	}
	if (filter && filter->text && *filter->text) {
		pattern = like_pattern(filter->text);
		if (!pattern) {
			offserv_set_error(err, errlen, "out of memory");
			return OFFSERV_E_OUTOFMEMORY;
		}
	}
	rc = prep(db, sql, &st);
	if (rc == SQLITE_OK) {
		bind_text(st, 1, pattern);
		bind_text(st, 2, arch);
		sqlite3_bind_int(st, 3, filter ? filter->exclude_superseded != 0 : 0);
	}
	while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct offserv_update_rec *p = grow(arr, &cap, cnt, sizeof(*arr));

		if (!p) {
			rc = SQLITE_NOMEM;
			break;
		}
		arr = p;
		update_from_row(st, &arr[cnt++]);
		rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	free(pattern);
	if (rc != SQLITE_DONE) {
		offserv_update_recs_free(arr, cnt);
		return db_fail(db, rc, "cannot list updates", err, errlen);
	}
	*out = arr;
	*n = cnt;
	return OFFSERV_OK;
}

offserv_status offserv_sitedb_update_packages(struct offserv_sitedb *db, int64_t update_id,
                                              struct offserv_update_package_rec **out, size_t *n,
                                              char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	struct offserv_update_package_rec *arr = NULL;
	size_t cap = 0, cnt = 0;
	int rc = prep(db, "SELECT seq, identity, name, version, arch, release_type, is_ssu, "
	                  "supported, reason, installer_version FROM update_packages "
	                  "WHERE update_id = ? ORDER BY seq", &st);

	*out = NULL;
	*n = 0;
	if (rc == SQLITE_OK)
		sqlite3_bind_int64(st, 1, update_id);
	while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct offserv_update_package_rec *p = grow(arr, &cap, cnt, sizeof(*arr));
		struct offserv_update_package_rec *x;

		if (!p) {
			rc = SQLITE_NOMEM;
			break;
		}
		arr = p;
		x = &arr[cnt++];
		x->seq = sqlite3_column_int(st, 0);
		x->identity = col_text(st, 1);
		x->name = col_text(st, 2);
		x->version = col_text(st, 3);
		x->arch = col_text(st, 4);
		x->release_type = col_text(st, 5);
		x->is_ssu = sqlite3_column_int(st, 6);
		x->supported = sqlite3_column_int(st, 7);
		x->reason = col_text(st, 8);
		x->installer_version = col_text(st, 9);
		rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		offserv_update_package_recs_free(arr, cnt);
		return db_fail(db, rc, "cannot list the update's packages", err, errlen);
	}
	*out = arr;
	*n = cnt;
	return OFFSERV_OK;
}

offserv_status offserv_sitedb_update_parents(struct offserv_sitedb *db, int64_t update_id,
                                             struct offserv_update_parent_rec **out, size_t *n,
                                             char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	struct offserv_update_parent_rec *arr = NULL;
	size_t cap = 0, cnt = 0;
	int rc = prep(db, "SELECT package_seq, group_no, identity, build_compare, service_compare, "
	                  "revision_compare, disposition FROM update_parents WHERE update_id = ? "
	                  "ORDER BY package_seq, group_no, rowid", &st);

	*out = NULL;
	*n = 0;
	if (rc == SQLITE_OK)
		sqlite3_bind_int64(st, 1, update_id);
	while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct offserv_update_parent_rec *p = grow(arr, &cap, cnt, sizeof(*arr));
		struct offserv_update_parent_rec *x;

		if (!p) {
			rc = SQLITE_NOMEM;
			break;
		}
		arr = p;
		x = &arr[cnt++];
		x->package_seq = sqlite3_column_int(st, 0);
		x->group_no = sqlite3_column_int(st, 1);
		x->identity = col_text(st, 2);
		x->build_compare = col_text(st, 3);
		x->service_compare = col_text(st, 4);
		x->revision_compare = col_text(st, 5);
		x->disposition = col_text(st, 6);
		rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		offserv_update_parent_recs_free(arr, cnt);
		return db_fail(db, rc, "cannot list the update's parents", err, errlen);
	}
	*out = arr;
	*n = cnt;
	return OFFSERV_OK;
}

static offserv_status update_delete_tx(struct offserv_sitedb *db, void *vctx, char *err,
                                       size_t errlen)
{
	int64_t id = *(int64_t *)vctx;
	struct simple_ctx c = {.sql = "DELETE FROM updates WHERE update_id = ?",
	                       .what = "cannot delete the update", .p = {PI(id)}, .nparams = 1};
	offserv_status st = simple_tx(db, &c, err, errlen);

	if (OFFSERV_FAILED(st))
		return st;
	if (c.changes == 0) {
		offserv_set_error(err, errlen, "no update %lld in the library", (long long)id);
		return OFFSERV_E_NOT_FOUND;
	}
	return refresh_supersedence(db, err, errlen);
}

offserv_status offserv_sitedb_update_delete(struct offserv_sitedb *db, int64_t id, char *err,
                                            size_t errlen)
{
	return write_tx(db, update_delete_tx, &id, err, errlen);
}

/* ---------------------------------------------------------------------- */
/* Schedules */

void offserv_schedule_rec_clear(struct offserv_schedule_rec *r)
{
	if (!r)
		return;
	free(r->indexes);
	free(r->update_ids);
	free(r->run_at);
	free(r->recurrence);
	free(r->status);
	free(r->created_at);
	free(r->last_run_at);
	memset(r, 0, sizeof(*r));
}

void offserv_schedule_recs_free(struct offserv_schedule_rec *r, size_t n)
{
	if (!r)
		return;
	for (size_t i = 0; i < n; i++)
		offserv_schedule_rec_clear(&r[i]);
	free(r);
}

static offserv_status schedule_write_updates(struct offserv_sitedb *db,
                                             const struct offserv_schedule_rec *r, int64_t id,
                                             char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	int rc = prep(db, "DELETE FROM schedule_updates WHERE schedule_id = ?", &st);

	if (rc == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, id);
		rc = exec_stmt(st);
	}
	sqlite3_finalize(st);
	st = NULL;
	if (rc == SQLITE_OK)
		rc = prep(db, "INSERT INTO schedule_updates(schedule_id, seq, update_id) VALUES (?,?,?)",
		          &st);
	for (size_t i = 0; rc == SQLITE_OK && i < r->n_update_ids; i++) {
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_int(st, 2, (int)i);
		sqlite3_bind_int64(st, 3, r->update_ids[i]);
		rc = exec_stmt(st);
	}
	sqlite3_finalize(st);
	if ((rc & 0xff) == SQLITE_CONSTRAINT) {
		offserv_set_error(err, errlen, "schedule: an update in the selection is not in the library");
		return OFFSERV_E_NOT_FOUND;
	}
	if (rc != SQLITE_OK)
		return db_fail(db, rc, "cannot record the schedule's updates", err, errlen);
	return OFFSERV_OK;
}

struct schedule_ctx {
	const struct offserv_schedule_rec *rec;
	int64_t id;
};

static offserv_status schedule_insert_tx(struct offserv_sitedb *db, void *vctx, char *err,
                                         size_t errlen)
{
	struct schedule_ctx *c = vctx;
	const struct offserv_schedule_rec *r = c->rec;
	sqlite3_stmt *st = NULL;
	char now[21];
	int rc;

	offserv_sitedb_now(now);
	rc = prep(db, "INSERT INTO schedules(package_id, indexes, run_at, recurrence, "
	              "continue_on_error, update_dps, status, created_at, last_run_at, all_updates, "
	              "optimize) VALUES (?,?,?,?,?,?,?,?,?,?,?)", &st);
	if (rc == SQLITE_OK) {
		bind_text(st, 1, r->package_id);
		bind_text(st, 2, r->indexes ? r->indexes : "all");
		bind_text(st, 3, r->run_at ? r->run_at : now);
		bind_text(st, 4, r->recurrence ? r->recurrence : "none");
		sqlite3_bind_int(st, 5, r->continue_on_error != 0);
		sqlite3_bind_int(st, 6, r->update_dps != 0);
		bind_text(st, 7, r->status ? r->status : "Scheduled");
		bind_text(st, 8, r->created_at ? r->created_at : now);
		bind_text(st, 9, r->last_run_at);
		sqlite3_bind_int(st, 10, r->all_updates != 0);
		sqlite3_bind_int(st, 11, r->optimize != 0);
		rc = exec_stmt(st);
	}
	sqlite3_finalize(st);
	if ((rc & 0xff) == SQLITE_CONSTRAINT) {
		offserv_set_error(err, errlen, "schedule: no image %s in the site", r->package_id);
		return OFFSERV_E_NOT_FOUND;
	}
	if (rc != SQLITE_OK)
		return db_fail(db, rc, "cannot insert the schedule", err, errlen);
	c->id = sqlite3_last_insert_rowid(db->conn);
	return schedule_write_updates(db, r, c->id, err, errlen);
}

offserv_status offserv_sitedb_schedule_insert(struct offserv_sitedb *db,
                                              const struct offserv_schedule_rec *rec,
                                              int64_t *id_out, char *err, size_t errlen)
{
	struct schedule_ctx c = {rec, 0};
	offserv_status st = write_tx(db, schedule_insert_tx, &c, err, errlen);

	if (id_out)
		*id_out = OFFSERV_SUCCEEDED(st) ? c.id : 0;
	return st;
}

static offserv_status schedule_update_tx(struct offserv_sitedb *db, void *vctx, char *err,
                                         size_t errlen)
{
	struct schedule_ctx *c = vctx;
	const struct offserv_schedule_rec *r = c->rec;
	sqlite3_stmt *st = NULL;
	int rc = prep(db, "UPDATE schedules SET package_id = ?, indexes = ?, run_at = ?, "
	                  "recurrence = ?, continue_on_error = ?, update_dps = ?, status = ?, "
	                  "last_run_at = ?, all_updates = ?, optimize = ? WHERE schedule_id = ?", &st);

	if (rc == SQLITE_OK) {
		bind_text(st, 1, r->package_id);
		bind_text(st, 2, r->indexes ? r->indexes : "all");
		bind_text(st, 3, r->run_at);
		bind_text(st, 4, r->recurrence ? r->recurrence : "none");
		sqlite3_bind_int(st, 5, r->continue_on_error != 0);
		sqlite3_bind_int(st, 6, r->update_dps != 0);
		bind_text(st, 7, r->status ? r->status : "Scheduled");
		bind_text(st, 8, r->last_run_at);
		sqlite3_bind_int(st, 9, r->all_updates != 0);
		sqlite3_bind_int(st, 10, r->optimize != 0);
		sqlite3_bind_int64(st, 11, r->schedule_id);
		rc = exec_stmt(st);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_OK)
		return db_fail(db, rc, "cannot update the schedule", err, errlen);
	if (sqlite3_changes(db->conn) == 0) {
		offserv_set_error(err, errlen, "no schedule %lld", (long long)r->schedule_id);
		return OFFSERV_E_NOT_FOUND;
	}
	return schedule_write_updates(db, r, r->schedule_id, err, errlen);
}

offserv_status offserv_sitedb_schedule_update(struct offserv_sitedb *db,
                                              const struct offserv_schedule_rec *rec, char *err,
                                              size_t errlen)
{
	struct schedule_ctx c = {rec, rec->schedule_id};

	return write_tx(db, schedule_update_tx, &c, err, errlen);
}

static offserv_status schedule_load_updates(struct offserv_sitedb *db,
                                            struct offserv_schedule_rec *r)
{
	sqlite3_stmt *st = NULL;
	size_t cap = 0;
	int rc = prep(db, "SELECT update_id FROM schedule_updates WHERE schedule_id = ? ORDER BY seq",
	              &st);

	if (rc == SQLITE_OK)
		sqlite3_bind_int64(st, 1, r->schedule_id);
	while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t *p = grow(r->update_ids, &cap, r->n_update_ids, sizeof(int64_t));

		if (!p) {
			rc = SQLITE_NOMEM;
			break;
		}
		r->update_ids = p;
		r->update_ids[r->n_update_ids++] = sqlite3_column_int64(st, 0);
		rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? OFFSERV_OK : status_of_sqlite(rc);
}

#define SCHEDULE_COLS                                                                  \
	"schedule_id, package_id, indexes, run_at, recurrence, continue_on_error, update_dps, " \
	"status, created_at, last_run_at, all_updates, optimize"

static void schedule_from_row(sqlite3_stmt *st, void *rec)
{
	struct offserv_schedule_rec *r = rec;

	memset(r, 0, sizeof(*r));
	r->schedule_id = sqlite3_column_int64(st, 0);
	col_copy(st, 1, r->package_id, sizeof(r->package_id));
	r->indexes = col_text(st, 2);
	r->run_at = col_text(st, 3);
	r->recurrence = col_text(st, 4);
	r->continue_on_error = sqlite3_column_int(st, 5);
	r->update_dps = sqlite3_column_int(st, 6);
	r->status = col_text(st, 7);
	r->created_at = col_text(st, 8);
	r->last_run_at = col_text(st, 9);
	r->all_updates = sqlite3_column_int(st, 10);
	r->optimize = sqlite3_column_int(st, 11);
}

offserv_status offserv_sitedb_schedule_list(struct offserv_sitedb *db, const char *image_id,
                                            struct offserv_schedule_rec **out, size_t *n,
                                            char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	struct offserv_schedule_rec *arr = NULL;
	size_t cnt = 0;
	int rc = prep(db, "SELECT " SCHEDULE_COLS " FROM schedules WHERE ?1 IS NULL OR "
	                  "package_id = ?1 ORDER BY schedule_id", &st);

	*out = NULL;
	*n = 0;
	if (rc == SQLITE_OK)
		bind_text(st, 1, image_id);
	rc = read_rows(st, rc, sizeof(*arr), schedule_from_row, (void **)&arr, &cnt);
	for (size_t i = 0; rc == SQLITE_DONE && i < cnt; i++)
		if (OFFSERV_FAILED(schedule_load_updates(db, &arr[i])))
			rc = SQLITE_ERROR;
	if (rc != SQLITE_DONE) {
		offserv_schedule_recs_free(arr, cnt);
		return db_fail(db, rc, "cannot list schedules", err, errlen);
	}
	*out = arr;
	*n = cnt;
	return OFFSERV_OK;
}

offserv_status offserv_sitedb_schedule_get(struct offserv_sitedb *db, int64_t id,
                                           struct offserv_schedule_rec *out, char *err,
                                           size_t errlen)
{
	sqlite3_stmt *st = NULL;
	int rc = prep(db, "SELECT " SCHEDULE_COLS " FROM schedules WHERE schedule_id = ?", &st);

	memset(out, 0, sizeof(*out));
	if (rc == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, id);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			schedule_from_row(st, out);
			sqlite3_finalize(st);
			if (OFFSERV_FAILED(schedule_load_updates(db, out))) {
				offserv_schedule_rec_clear(out);
				return db_fail(db, SQLITE_ERROR, "cannot read the schedule's updates", err,
				               errlen);
			}
			return OFFSERV_OK;
		}
		if (rc == SQLITE_DONE) {
			sqlite3_finalize(st);
			offserv_set_error(err, errlen, "no schedule %lld", (long long)id);
			return OFFSERV_E_NOT_FOUND;
		}
	}
	sqlite3_finalize(st);
	return db_fail(db, rc, "cannot read a schedule", err, errlen);
}

offserv_status offserv_sitedb_schedule_delete(struct offserv_sitedb *db, int64_t id, char *err,
                                              size_t errlen)
{
	struct simple_ctx c = {.sql = "DELETE FROM schedules WHERE schedule_id = ?",
	                       .what = "cannot delete the schedule", .p = {PI(id)}, .nparams = 1};
	offserv_status st = write_tx(db, simple_tx, &c, err, errlen);

	if (OFFSERV_SUCCEEDED(st) && c.changes == 0) {
		offserv_set_error(err, errlen, "no schedule %lld", (long long)id);
		return OFFSERV_E_NOT_FOUND;
	}
	return st;
}

/* ---------------------------------------------------------------------- */
/* Jobs */

void offserv_job_rec_clear(struct offserv_job_rec *r)
{
	if (!r)
		return;
	free(r->indexes);
	free(r->started_at);
	free(r->finished_at);
	free(r->status);
	free(r->message);
	memset(r, 0, sizeof(*r));
}

void offserv_job_recs_free(struct offserv_job_rec *r, size_t n)
{
	if (!r)
		return;
	for (size_t i = 0; i < n; i++)
		offserv_job_rec_clear(&r[i]);
	free(r);
}

void offserv_job_update_recs_free(struct offserv_job_update_rec *r, size_t n)
{
	if (!r)
		return;
	for (size_t i = 0; i < n; i++) {
		free(r[i].result);
		free(r[i].message);
		free(r[i].finished_at);
	}
	free(r);
}

struct job_ctx {
	const struct offserv_job_rec *rec;
	int64_t id;
};

static offserv_status job_start_tx(struct offserv_sitedb *db, void *vctx, char *err,
                                   size_t errlen)
{
	struct job_ctx *c = vctx;
	const struct offserv_job_rec *r = c->rec;
	sqlite3_stmt *st = NULL;
	char now[21];
	int rc;

	rc = prep(db, "SELECT job_id, pid FROM jobs WHERE package_id = ? AND status = 'In progress' "
	              "LIMIT 1", &st);
	if (rc == SQLITE_OK) {
		bind_text(st, 1, r->package_id);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			long long other = sqlite3_column_int64(st, 0);
			long long pid = sqlite3_column_int64(st, 1);

			sqlite3_finalize(st);
			offserv_set_error(err, errlen, "image %s is being serviced by job %lld (pid %lld)",
			                  r->package_id, other, pid);
			return OFFSERV_E_BUSY;
		}
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return db_fail(db, rc, "cannot look for running jobs", err, errlen);
	offserv_sitedb_now(now);
	rc = prep(db, "INSERT INTO jobs(schedule_id, package_id, indexes, started_at, status, pid, "
	              "progress, message, hresult) VALUES (?,?,?,?,'In progress',?,?,?,0)", &st);
	if (rc == SQLITE_OK) {
		bind_id(st, 1, r->schedule_id);
		bind_text(st, 2, r->package_id);
		bind_text(st, 3, r->indexes);
		bind_text(st, 4, r->started_at ? r->started_at : now);
		sqlite3_bind_int64(st, 5, r->pid ? r->pid : (int64_t)getpid());
		sqlite3_bind_int(st, 6, r->progress >= 0 && r->progress <= 100 ? r->progress : 0);
		bind_text(st, 7, r->message);
		rc = exec_stmt(st);
	}
	sqlite3_finalize(st);
	if ((rc & 0xff) == SQLITE_CONSTRAINT) {
		offserv_set_error(err, errlen, "job: no image %s (or schedule %lld) in the site",
		                  r->package_id, (long long)r->schedule_id);
		return OFFSERV_E_NOT_FOUND;
	}
	if (rc != SQLITE_OK)
		return db_fail(db, rc, "cannot insert the job", err, errlen);
	c->id = sqlite3_last_insert_rowid(db->conn);
	return OFFSERV_OK;
}

offserv_status offserv_sitedb_job_start(struct offserv_sitedb *db,
                                        const struct offserv_job_rec *rec, int64_t *id_out,
                                        char *err, size_t errlen)
{
	struct job_ctx c = {rec, 0};
	offserv_status st = write_tx(db, job_start_tx, &c, err, errlen);

	if (id_out)
		*id_out = OFFSERV_SUCCEEDED(st) ? c.id : 0;
	return st;
}

offserv_status offserv_sitedb_job_progress(struct offserv_sitedb *db, int64_t id, int progress,
                                           const char *message, char *err, size_t errlen)
{
	struct simple_ctx c = {
		.sql = "UPDATE jobs SET progress = ?, message = coalesce(?, message) WHERE job_id = ?",
		.what = "cannot record job progress",
		.p = {PI(progress < 0 ? 0 : progress > 100 ? 100 : progress), PT(message), PI(id)},
		.nparams = 3};
	offserv_status st = write_tx(db, simple_tx, &c, err, errlen);

	if (OFFSERV_SUCCEEDED(st) && c.changes == 0) {
		offserv_set_error(err, errlen, "no job %lld", (long long)id);
		return OFFSERV_E_NOT_FOUND;
	}
	return st;
}

offserv_status offserv_sitedb_job_finish(struct offserv_sitedb *db, int64_t id, const char *status,
                                         offserv_status hr, const char *message, char *err,
                                         size_t errlen)
{
	char now[21];
	struct simple_ctx c = {
		.sql = "UPDATE jobs SET status = ?1, hresult = ?2, message = ?3, finished_at = ?4, "
		       "progress = CASE WHEN ?1 = 'Successful' THEN 100 ELSE progress END "
		       "WHERE job_id = ?5",
		.what = "cannot finish the job",
		.p = {PT(status), PI(hr), PT(message), PT(now), PI(id)},
		.nparams = 5};
	offserv_status st;

	if (!status || (strcmp(status, OFFSERV_JOB_SUCCESSFUL) != 0 &&
	                strcmp(status, OFFSERV_JOB_FAILED) != 0 &&
	                strcmp(status, OFFSERV_JOB_CANCELLED) != 0)) {
		offserv_set_error(err, errlen, "job %lld: '%s' is not a final status", (long long)id,
		                  status ? status : "(null)");
		return OFFSERV_E_INVALIDARG;
	}
	offserv_sitedb_now(now);
	st = write_tx(db, simple_tx, &c, err, errlen);
	if (OFFSERV_SUCCEEDED(st) && c.changes == 0) {
		offserv_set_error(err, errlen, "no job %lld", (long long)id);
		return OFFSERV_E_NOT_FOUND;
	}
	return st;
}

#define JOB_COLS                                                                          \
	"job_id, schedule_id, package_id, indexes, started_at, finished_at, status, pid, " \
	"progress, message, hresult"

static void job_from_row(sqlite3_stmt *st, void *rec)
{
	struct offserv_job_rec *r = rec;

	memset(r, 0, sizeof(*r));
	r->job_id = sqlite3_column_int64(st, 0);
	r->schedule_id = sqlite3_column_int64(st, 1);
	col_copy(st, 2, r->package_id, sizeof(r->package_id));
	r->indexes = col_text(st, 3);
	r->started_at = col_text(st, 4);
	r->finished_at = col_text(st, 5);
	r->status = col_text(st, 6);
	r->pid = sqlite3_column_int64(st, 7);
	r->progress = sqlite3_column_int(st, 8);
	r->message = col_text(st, 9);
	r->hresult = (offserv_status)sqlite3_column_int64(st, 10);
}

offserv_status offserv_sitedb_job_get(struct offserv_sitedb *db, int64_t id,
                                      struct offserv_job_rec *out, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	int rc = prep(db, "SELECT " JOB_COLS " FROM jobs WHERE job_id = ?", &st);

	memset(out, 0, sizeof(*out));
	if (rc == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, id);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			job_from_row(st, out);
			sqlite3_finalize(st);
			return OFFSERV_OK;
		}
		if (rc == SQLITE_DONE) {
			sqlite3_finalize(st);
			offserv_set_error(err, errlen, "no job %lld", (long long)id);
			return OFFSERV_E_NOT_FOUND;
		}
	}
	sqlite3_finalize(st);
	return db_fail(db, rc, "cannot read a job", err, errlen);
}

offserv_status offserv_sitedb_job_list(struct offserv_sitedb *db, const char *image_id,
                                       struct offserv_job_rec **out, size_t *n, char *err,
                                       size_t errlen)
{
	sqlite3_stmt *st = NULL;
	struct offserv_job_rec *arr = NULL;
	size_t cnt = 0;
	int rc = prep(db, "SELECT " JOB_COLS " FROM jobs WHERE ?1 IS NULL OR package_id = ?1 "
	                  "ORDER BY job_id DESC", &st);

	*out = NULL;
	*n = 0;
	if (rc == SQLITE_OK)
		bind_text(st, 1, image_id);
	rc = read_rows(st, rc, sizeof(*arr), job_from_row, (void **)&arr, &cnt);
	if (rc != SQLITE_DONE) {
		offserv_job_recs_free(arr, cnt);
		return db_fail(db, rc, "cannot list jobs", err, errlen);
	}
	*out = arr;
	*n = cnt;
	return OFFSERV_OK;
}

struct job_update_ctx {
	int64_t job_id;
	const struct offserv_job_update_rec *rec;
};

static offserv_status job_update_tx(struct offserv_sitedb *db, void *vctx, char *err,
                                    size_t errlen)
{
	struct job_update_ctx *c = vctx;
	const struct offserv_job_update_rec *r = c->rec;
	sqlite3_stmt *st = NULL;
	int rc = prep(db, "INSERT OR REPLACE INTO job_updates(job_id, update_id, wim_index, result, "
	                  "hresult, message, finished_at) VALUES (?,?,?,?,?,?,?)", &st);

	if (rc == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, c->job_id);
		sqlite3_bind_int64(st, 2, r->update_id);
		sqlite3_bind_int(st, 3, r->index);
		bind_text(st, 4, r->result ? r->result : "Pending");
		sqlite3_bind_int64(st, 5, (sqlite3_int64)r->hresult);
		bind_text(st, 6, r->message);
		bind_text(st, 7, r->finished_at);
		rc = exec_stmt(st);
	}
	sqlite3_finalize(st);
	if ((rc & 0xff) == SQLITE_CONSTRAINT) {
		offserv_set_error(err, errlen, "no job %lld", (long long)c->job_id);
		return OFFSERV_E_NOT_FOUND;
	}
	if (rc != SQLITE_OK)
		return db_fail(db, rc, "cannot record an update's result", err, errlen);
	return OFFSERV_OK;
}

offserv_status offserv_sitedb_job_update_set(struct offserv_sitedb *db, int64_t job_id,
                                             const struct offserv_job_update_rec *rec, char *err,
                                             size_t errlen)
{
	struct job_update_ctx c = {job_id, rec};

	return write_tx(db, job_update_tx, &c, err, errlen);
}

static void job_update_from_row(sqlite3_stmt *st, void *rec)
{
	struct offserv_job_update_rec *x = rec;

	x->update_id = sqlite3_column_int64(st, 0);
	x->index = sqlite3_column_int(st, 1);
	x->result = col_text(st, 2);
	x->hresult = (offserv_status)sqlite3_column_int64(st, 3);
	x->message = col_text(st, 4);
	x->finished_at = col_text(st, 5);
}

offserv_status offserv_sitedb_job_update_list(struct offserv_sitedb *db, int64_t job_id,
                                              struct offserv_job_update_rec **out, size_t *n,
                                              char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	struct offserv_job_update_rec *arr = NULL;
	size_t cnt = 0;
	int rc = prep(db, "SELECT update_id, wim_index, result, hresult, message, finished_at "
	                  "FROM job_updates WHERE job_id = ? ORDER BY update_id, wim_index", &st);

	*out = NULL;
	*n = 0;
	if (rc == SQLITE_OK)
		sqlite3_bind_int64(st, 1, job_id);
	rc = read_rows(st, rc, sizeof(*arr), job_update_from_row, (void **)&arr, &cnt);
	if (rc != SQLITE_DONE) {
		offserv_job_update_recs_free(arr, cnt);
		return db_fail(db, rc, "cannot list a job's results", err, errlen);
	}
	*out = arr;
	*n = cnt;
	return OFFSERV_OK;
}

struct recover_ctx {
	size_t marked;
};

static bool process_alive(int64_t pid)
{
	if (pid <= 0 || pid > 0x7fffffff)
		return false;
	return kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

static offserv_status job_recover_tx(struct offserv_sitedb *db, void *vctx, char *err,
                                     size_t errlen)
{
	struct recover_ctx *c = vctx;
	sqlite3_stmt *sel = NULL, *upd = NULL;
	char now[21];
	int rc;

	c->marked = 0;
	offserv_sitedb_now(now);
	rc = prep(db, "SELECT job_id, pid FROM jobs WHERE status = 'In progress'", &sel);
	if (rc == SQLITE_OK)
		rc = prep(db, "UPDATE jobs SET status = 'Failed', finished_at = ?, hresult = ?, "
		              "message = 'the process running the job ended before it finished' "
		              "WHERE job_id = ?", &upd);
	while (rc == SQLITE_OK && (rc = sqlite3_step(sel)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(sel, 0);
		int64_t pid = sqlite3_column_int64(sel, 1);

		rc = SQLITE_OK;
		if (process_alive(pid))
			continue;
		sqlite3_reset(upd);
		bind_text(upd, 1, now);
		sqlite3_bind_int64(upd, 2, (sqlite3_int64)OFFSERV_E_ABORT);
		sqlite3_bind_int64(upd, 3, id);
		rc = exec_stmt(upd);
		if (rc == SQLITE_OK)
			c->marked++;
	}
	sqlite3_finalize(sel);
	sqlite3_finalize(upd);
	if (rc != SQLITE_DONE)
		return db_fail(db, rc, "cannot recover interrupted jobs", err, errlen);
	return OFFSERV_OK;
}

offserv_status offserv_sitedb_job_recover(struct offserv_sitedb *db, size_t *n_marked, char *err,
                                          size_t errlen)
{
	struct recover_ctx c = {0};
	offserv_status st = write_tx(db, job_recover_tx, &c, err, errlen);

	if (n_marked)
		*n_marked = OFFSERV_SUCCEEDED(st) ? c.marked : 0;
	return st;
}

offserv_status offserv_sitedb_dp_status_set(struct offserv_sitedb *db, const char *image_id,
                                            const char *dp, const char *status, offserv_status hr,
                                            const char *message, int64_t job_id, char *err,
                                            size_t errlen)
{
	char now[21];
	struct simple_ctx c = {
		.sql = "INSERT OR REPLACE INTO dp_status(package_id, dp, status, hresult, message, "
		       "updated_at, job_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, nullif(?7, 0))",
		.what = "cannot record distribution point status",
		.p = {PT(image_id), PT(dp), PT(status), PI(hr), PT(message), PT(now), PI(job_id)},
		.nparams = 7};

	offserv_sitedb_now(now);
	return write_tx(db, simple_tx, &c, err, errlen);
}

struct dp_record_ctx {
	const char *image_id;
	const struct offserv_dp_status_rec *rec;
};

static offserv_status dp_record_tx(struct offserv_sitedb *db, void *vctx, char *err,
                                   size_t errlen)
{
	struct dp_record_ctx *c = vctx;
	const struct offserv_dp_status_rec *r = c->rec;
	sqlite3_stmt *st = NULL;
	char now[21];
	const char *when;
	int rc = SQLITE_OK;

	offserv_sitedb_now(now);
	when = r->updated_at ? r->updated_at : now;
	if (r->job_id) {
		rc = prep(db, "INSERT INTO job_post_actions(job_id, seq, plugin, target, is_dp, status, "
		              "hresult, bytes, message, updated_at) VALUES (?1, (SELECT "
		              "coalesce(max(seq), 0) + 1 FROM job_post_actions WHERE job_id = ?1), "
		              "?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)", &st);
		if (rc == SQLITE_OK) {
			sqlite3_bind_int64(st, 1, r->job_id);
			bind_text(st, 2, r->plugin ? r->plugin : r->target);
			bind_text(st, 3, r->target);
			sqlite3_bind_int(st, 4, r->is_dp != 0);
			bind_text(st, 5, r->status);
			sqlite3_bind_int64(st, 6, (sqlite3_int64)r->hresult);
			sqlite3_bind_int64(st, 7, (sqlite3_int64)r->bytes);
			bind_text(st, 8, r->message);
			bind_text(st, 9, when);
			rc = exec_stmt(st);
		}
		sqlite3_finalize(st);
		st = NULL;
	}
	if (rc == SQLITE_OK && r->is_dp) {
		rc = prep(db, "INSERT OR REPLACE INTO dp_status(package_id, dp, status, hresult, "
		              "message, updated_at, job_id, bytes, plugin) "
		              "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", &st);
		if (rc == SQLITE_OK) {
			bind_text(st, 1, c->image_id);
			bind_text(st, 2, r->target);
			bind_text(st, 3, r->status);
			sqlite3_bind_int64(st, 4, (sqlite3_int64)r->hresult);
			bind_text(st, 5, r->message);
			bind_text(st, 6, when);
			bind_id(st, 7, r->job_id);
			sqlite3_bind_int64(st, 8, (sqlite3_int64)r->bytes);
			bind_text(st, 9, r->plugin);
			rc = exec_stmt(st);
		}
		sqlite3_finalize(st);
	}
	if ((rc & 0xff) == SQLITE_CONSTRAINT) {
		offserv_set_error(err, errlen, "site database %s: post-action status of %s: no such "
		                  "image or job, or a missing value", db->path,
		                  r->target ? r->target : "(unnamed target)");
		return OFFSERV_E_NOT_FOUND;
	}
	if (rc != SQLITE_OK)
		return db_fail(db, rc, "cannot record distribution point status", err, errlen);
	return OFFSERV_OK;
}

offserv_status offserv_sitedb_dp_status_record(struct offserv_sitedb *db, const char *image_id,
                                               const struct offserv_dp_status_rec *rec,
                                               char *err, size_t errlen)
{
	struct dp_record_ctx c = {image_id, rec};

	if (!rec || !rec->target || !rec->status || (rec->is_dp && !image_id) ||
	    (!rec->is_dp && !rec->job_id)) {
		offserv_set_error(err, errlen, "post-action status: no target, status, image or job "
		                  "given");
		return OFFSERV_E_INVALIDARG;
	}
	return write_tx(db, dp_record_tx, &c, err, errlen);
}

void offserv_dp_status_recs_free(struct offserv_dp_status_rec *r, size_t n)
{
	if (!r)
		return;
	for (size_t i = 0; i < n; i++) {
		free(r[i].target);
		free(r[i].plugin);
		free(r[i].status);
		free(r[i].message);
		free(r[i].updated_at);
	}
	free(r);
}

static void dp_status_from_row(sqlite3_stmt *st, void *rec)
{
	struct offserv_dp_status_rec *r = rec;

	r->target = col_text(st, 0);
	r->plugin = col_text(st, 1);
	r->is_dp = sqlite3_column_int(st, 2);
	r->status = col_text(st, 3);
	r->hresult = (offserv_status)sqlite3_column_int64(st, 4);
	r->bytes = (uint64_t)sqlite3_column_int64(st, 5);
	r->message = col_text(st, 6);
	r->updated_at = col_text(st, 7);
	r->job_id = sqlite3_column_int64(st, 8);
}

offserv_status offserv_sitedb_dp_status_list(struct offserv_sitedb *db, const char *image_id,
                                             int64_t job_id, struct offserv_dp_status_rec **out,
                                             size_t *n, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	struct offserv_dp_status_rec *arr = NULL;
	size_t cnt = 0;
	int rc;

	*out = NULL;
	*n = 0;
	if (job_id) {
		rc = prep(db, "SELECT target, plugin, is_dp, status, hresult, bytes, message, "
		              "updated_at, job_id FROM job_post_actions WHERE job_id = ? ORDER BY seq",
		          &st);
		if (rc == SQLITE_OK)
			sqlite3_bind_int64(st, 1, job_id);
	} else {
		rc = prep(db, "SELECT dp, plugin, 1, status, hresult, bytes, message, updated_at, "
		              "coalesce(job_id, 0) FROM dp_status WHERE package_id = ? ORDER BY dp",
		          &st);
		if (rc == SQLITE_OK)
			bind_text(st, 1, image_id);
	}
	rc = read_rows(st, rc, sizeof(*arr), dp_status_from_row, (void **)&arr, &cnt);
	if (rc != SQLITE_DONE) {
		offserv_dp_status_recs_free(arr, cnt);
		return db_fail(db, rc, "cannot list distribution point status", err, errlen);
	}
	*out = arr;
	*n = cnt;
	return OFFSERV_OK;
}
