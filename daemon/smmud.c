// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * smmud: switches each SMMUv3's invalidation tunables to storm values while
 * many VMs behind it die at once, and back afterwards.  This file parses
 * options only; manager.c is the daemon.
 */
#include <getopt.h>

#include "log.h"
#include "manager.h"

static const char *arg_root;
static const char *arg_config;
static const char *arg_config_dir;
static const char *arg_runtime_dir = "/run/smmud";
static bool arg_dry_run;
static bool arg_no_bus;

static void help(void)
{
	printf("smmud [OPTIONS...]\n\n"
	       "Tunes SMMUv3 invalidation during mass VM teardown.\n\n"
	       "  -h --help              Show this help\n"
	       "     --version           Show the version\n"
	       "     --root=DIR          Find sys, proc, debugfs and dev under DIR\n"
	       "                         (also $SMMUD_ROOT; for tests)\n"
	       "     --config=FILE       Main configuration file\n"
	       "                         (default " SMMUD_CONFIG_FILE ")\n"
	       "     --config-dir=DIR    Drop-in directory, \"\" for none\n"
	       "                         (default " SMMUD_CONFIG_DIR ")\n"
	       "     --runtime-dir=DIR   State directory (default /run/smmud)\n"
	       "     --dry-run           Decide and log, write nothing\n"
	       "     --no-bus            Do not connect to the system bus\n"
	       "     --log-level=LEVEL   emerg, alert, crit, err, warning, notice, info, debug\n");
}

static int parse_log_level(const char *s)
{
	static const char *const names[] = { "emerg", "alert",	"crit", "err",
					     "warning", "notice", "info", "debug" };

	for (size_t i = 0; i < ELEMENTSOF(names); i++)
		if (streq(s, names[i]))
			return (int)i;
	return -EINVAL;
}

static int parse_argv(int argc, char *argv[])
{
	enum {
		ARG_VERSION = 0x100,
		ARG_ROOT,
		ARG_CONFIG,
		ARG_CONFIG_DIR,
		ARG_RUNTIME_DIR,
		ARG_DRY_RUN,
		ARG_NO_BUS,
		ARG_LOG_LEVEL,
	};
	static const struct option options[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, ARG_VERSION },
		{ "root", required_argument, NULL, ARG_ROOT },
		{ "config", required_argument, NULL, ARG_CONFIG },
		{ "config-dir", required_argument, NULL, ARG_CONFIG_DIR },
		{ "runtime-dir", required_argument, NULL, ARG_RUNTIME_DIR },
		{ "dry-run", no_argument, NULL, ARG_DRY_RUN },
		{ "no-bus", no_argument, NULL, ARG_NO_BUS },
		{ "log-level", required_argument, NULL, ARG_LOG_LEVEL },
		{}
	};
	int c, level;

	arg_root = getenv("SMMUD_ROOT");
	while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
		switch (c) {
		case 'h':
			help();
			return 0;
		case ARG_VERSION:
			printf("smmud " SMMUD_VERSION "\n");
			return 0;
		case ARG_ROOT:
			arg_root = optarg;
			break;
		case ARG_CONFIG:
			arg_config = optarg;
			break;
		case ARG_CONFIG_DIR:
			arg_config_dir = optarg;
			break;
		case ARG_RUNTIME_DIR:
			arg_runtime_dir = optarg;
			break;
		case ARG_DRY_RUN:
			arg_dry_run = true;
			break;
		case ARG_NO_BUS:
			arg_no_bus = true;
			break;
		case ARG_LOG_LEVEL:
			level = parse_log_level(optarg);
			if (level < 0)
				return log_error_errno(SYNTHETIC_ERRNO(EINVAL),
						       "Unknown log level: %s", optarg);
			log_set_max_level(level);
			break;
		case '?':
			return -EINVAL;
		default:
			return -EINVAL;
		}
	}
	if (optind < argc)
		return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "This program takes no arguments.");
	if (arg_root && (!*arg_root || arg_root[0] != '/'))
		return log_error_errno(SYNTHETIC_ERRNO(EINVAL), "--root needs an absolute path: %s",
				       arg_root);
	if (!*arg_runtime_dir || arg_runtime_dir[0] != '/')
		return log_error_errno(SYNTHETIC_ERRNO(EINVAL),
				       "--runtime-dir needs an absolute path: %s", arg_runtime_dir);
	return 1;
}

int main(int argc, char *argv[])
{
	_cleanup_(manager_freep) Manager *m = NULL;
	ManagerOptions o;
	int r;

	log_open();
	r = parse_argv(argc, argv);
	if (r <= 0)
		return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;

	o = (ManagerOptions){
		.root = arg_root ?: "/",
		.runtime_dir = arg_runtime_dir,
		.config_source = { .file = arg_config, .file_required = !!arg_config,
				   .dropin_dir = arg_config_dir },
		.dry_run = arg_dry_run,
		.use_bus = !arg_no_bus,
	};
	r = manager_new(&o, &m);
	if (r < 0) {
		log_error_errno(r, "Failed to start: %m");
		return EXIT_FAILURE;
	}
	r = manager_startup(m);
	if (r < 0)
		return EXIT_FAILURE;
	r = manager_run(m);
	return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
