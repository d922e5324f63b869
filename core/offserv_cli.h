/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The offserv program's commands (internal to the program). */
#ifndef OFFSERV_CLI_H
#define OFFSERV_CLI_H

#include <offserv/status.h>

struct offserv_cli {
	const char *config_path;
};

struct offserv_site;
struct offserv_sitedb;

/** Print "offserv: MSG (0xHRESULT NAME)" on stderr; returns exit status 1. */
int offserv_cli_failure(offserv_status s, const char *msg);

/**
 * Open the site (without plugins when @p no_plugins) and its database;
 * returns 0, or the exit status after printing the failure (nothing left open).
 */
int offserv_cli_site_and_db(struct offserv_cli *cli, int no_plugins, struct offserv_site **site,
                            struct offserv_sitedb **db);

/** `offserv image ...` (catalogue). */
int offserv_cmd_image(struct offserv_cli *cli, int argc, char **argv);
/** `offserv update ...` (content library). */
int offserv_cmd_update(struct offserv_cli *cli, int argc, char **argv);

/** Run the command in argv[0]; returns the process exit status. */
int offserv_cli_dispatch(struct offserv_cli *cli, int argc, char **argv);

#endif
