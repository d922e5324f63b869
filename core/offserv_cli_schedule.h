/* SPDX-License-Identifier: GPL-3.0-or-later */
/* offserv's scheduling commands (internal to the program). */
#ifndef OFFSERV_CLI_SCHEDULE_H
#define OFFSERV_CLI_SCHEDULE_H

#include "offserv_cli.h"

/** `offserv schedule ID ...`, `offserv schedule list`, `offserv schedule delete SID`. */
int offserv_cmd_schedule(struct offserv_cli *cli, int argc, char **argv);
/** `offserv run ID [--index I] [--updates ...] [--continue-on-error] [--update-dps]`. */
int offserv_cmd_run(struct offserv_cli *cli, int argc, char **argv);
/** `offserv run-due`: one pass over the due schedules. */
int offserv_cmd_run_due(struct offserv_cli *cli, int argc, char **argv);
/** `offserv status [ID] [--json]`: jobs and their progress. */
int offserv_cmd_status(struct offserv_cli *cli, int argc, char **argv);
/** `offserv cancel ID|JOB`: stop a running job at its next safe point. */
int offserv_cmd_cancel(struct offserv_cli *cli, int argc, char **argv);
/** `offserv daemon [--workers N] [--poll SECONDS]`: the scheduler, in the foreground. */
int offserv_cmd_daemon(struct offserv_cli *cli, int argc, char **argv);
/** `offserv rollback ID` (also reachable as `offserv image rollback ID`). */
int offserv_cmd_rollback(struct offserv_cli *cli, int argc, char **argv);

#endif
