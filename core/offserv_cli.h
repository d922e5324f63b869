/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The offserv program's commands (internal to the program). */
#ifndef OFFSERV_CLI_H
#define OFFSERV_CLI_H

struct offserv_cli {
	const char *config_path;
};

/** `offserv image ...` (catalogue). */
int offserv_cmd_image(struct offserv_cli *cli, int argc, char **argv);
/** `offserv update ...` (content library). */
int offserv_cmd_update(struct offserv_cli *cli, int argc, char **argv);

/** Run the command in argv[0]; returns the process exit status. */
int offserv_cli_dispatch(struct offserv_cli *cli, int argc, char **argv);

#endif
