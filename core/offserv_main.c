/* SPDX-License-Identifier: GPL-3.0-or-later */
/* offserv: the site's command line (argument parsing and output only). */
#include <config.h>

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <offserv/site.h>

#include "offserv_cli.h"

static void usage(FILE *fp)
{
	fputs("Usage: offserv [--config FILE] COMMAND [ARGS]\n"
	      "\n"
	      "Offline servicing of Windows images.\n"
	      "\n"
	      "Commands:\n"
	      "  plugins                      loaded plugins, and refused ones with the reason\n"
	      "  config                       the effective configuration\n"
	      "  image import PATH [--name N] [--index I] [--reference]\n"
	      "  image list [--json]\n"
	      "  image show ID [--json]\n"
	      "  image applicable ID [--index I] [--filter TEXT] [--arch x86|x64|arm64|all] [--explain] [--json]\n"
	      "  image rollback ID            restore the image kept before the last servicing\n"
	      "  update import FILE|DIR...\n"
	      "  update list [--filter TEXT] [--arch x86|x64|arm64|all] [--json]\n"
	      "  schedule ID --updates all|KB...|UPDATE-ID... [--index I]\n"
	      "           (--at \"YYYY-MM-DD HH:MM\" | --now | --every day|week|month [--on RULE] --at HH:MM\n"
	      "            | --cron \"M H DOM MON DOW\") [--continue-on-error] [--update-dps]\n"
	      "  schedule list [ID]           schedule delete SID\n"
	      "  run ID [--index I] [--updates ...] | run --schedule SID\n"
	      "  run-due [--workers N]        one pass over the due schedules (for cron)\n"
	      "  daemon [--workers N] [--poll S]\n"
	      "  status [ID] [--all]          jobs and their progress\n"
	      "  cancel ID|JOB                stop a running job at its next safe point\n"
	      "  service WIM UPDATE... [--index I[,J]] [--continue-on-error] [--prevent-pending]\n"
	      "\n"
	      "Options:\n"
	      "  -c, --config FILE   configuration file (default: $OFFSERV_CONFIG, else "
	      OFFSERV_SYSCONFDIR "/offserv/offserv.ini)\n"
	      "  -h, --help          this text\n"
	      "  -V, --version       the version\n"
	      "\n"
	      "See offserv(1).\n",
	      fp);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	struct offserv_cli cli = {0};
	int c;

	/* Options before the command only; each command parses its own. */
	while ((c = getopt_long(argc, argv, "+c:hV", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			cli.config_path = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("offserv %s\n", PACKAGE_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	argc -= optind;
	argv += optind;
	optind = 0;
	return offserv_cli_dispatch(&cli, argc, argv);
}
