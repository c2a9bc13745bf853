// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * smmuctl: the command line of smmud.  Parses options and dispatches to a
 * verb; every verb but check-config (and risk, as a fallback) is a client of
 * smmud's D-Bus interface, org.smmud1.Manager.
 */
#include <getopt.h>
#include <limits.h>

#include "bus-api.h"
#include "log.h"
#include "smmuctl.h"
#include "values.h"

CtlOptions arg = {
	.legend = true,
	.socket = SMMUD_PRIVATE_SOCKET,
	.interval_usec = USEC_PER_SEC,
	.cost_ns = 150,
};

typedef struct Verb {
	const char *name;
	unsigned min_args; /* after the verb */
	unsigned max_args; /* UINT_MAX: any */
	int (*run)(int argc, char **argv);
	const char *usage;
	const char *help;
} Verb;

static const Verb verbs[] = {
	{ "status", 0, UINT_MAX, verb_status, "[SMMU...]", "Show the host, SMMUs, knobs, storms and VMs" },
	{ "stats", 0, UINT_MAX, verb_stats, "[SMMU...]", "Show the kernel's SMMU counters with rates" },
	{ "set", 3, 3, verb_set, "SMMU KNOB VALUE", "Write a knob (threshold, teardown-mode) now" },
	{ "reset", 1, 2, verb_reset, "SMMU [KNOB]", "Give a knob (or all) back to smmud" },
	{ "storm", 1, UINT_MAX, verb_storm, "enter|leave|auto [SMMU...]", "Force a storm (--for: announce one), force baseline, or let smmud decide" },
	{ "pin", 3, 3, verb_pin, "SMMU THRESHOLD TEARDOWN-MODE", "Hold an SMMU at fixed knob values" },
	{ "unpin", 1, 1, verb_unpin, "SMMU", "Let smmud decide an SMMU's values again" },
	{ "reload", 0, 0, verb_reload, "", "Reload the configuration, atomically" },
	{ "config", 0, 0, verb_config, "", "Show the configuration smmud runs with, and its digest" },
	{ "check-config", 0, 1, verb_check_config, "[FILE]", "Validate a configuration without a daemon" },
	{ "risk", 0, 0, verb_risk, "", "Estimate each SMMU's cost of a mass VM teardown" },
	{ "monitor", 0, 0, verb_monitor, "", "Print smmud's decisions and knob changes as they happen" },
};

static void help(void)
{
	printf("smmuctl [OPTIONS...] COMMAND [ARGUMENTS...]\n\n"
	       "Inspect and control smmud, the SMMUv3 teardown storm daemon.\n\n"
	       "Commands:\n");
	for (size_t i = 0; i < ELEMENTSOF(verbs); i++) {
		char left[64];

		snprintf(left, sizeof(left), "%s %s", verbs[i].name, verbs[i].usage);
		printf("  %-36s %s\n", left, verbs[i].help);
	}
	printf("\nOptions:\n"
	       "  -h --help              Show this help\n"
	       "     --version           Show the version\n"
	       "     --json              JSON output\n"
	       "     --system            Use the system bus, not the private socket\n"
	       "     --socket=PATH       Private socket (default " SMMUD_PRIVATE_SOCKET ")\n"
	       "     --interval=SECONDS  stats: time between the two samples (default 1)\n"
	       "     --cost=NANOSECONDS  risk: time of one invalidation command (default 150)\n"
	       "     --root=DIR          risk without smmud: read sys and proc under DIR;\n"
	       "                         check-config: the configuration installed under DIR\n"
	       "     --for=DURATION      storm enter: a storm that ends by itself (1s to 24h),\n"
	       "                         held on while VMs keep exiting\n"
	       "     --no-legend         No table headers\n"
	       "\nExit status: 0 ok, 1 failed, 2 usage, 3 smmud unreachable, 4 permission\n"
	       "denied, 5 invalid configuration.  See smmuctl(8).\n");
}

enum {
	ARG_VERSION = 0x100,
	ARG_JSON,
	ARG_SYSTEM,
	ARG_SOCKET,
	ARG_INTERVAL,
	ARG_COST,
	ARG_ROOT,
	ARG_NO_LEGEND,
	ARG_FOR,
};

/* 1: go on with a verb; 0: done (help, version); -1: usage error. */
static int parse_argv(int argc, char **argv)
{
	static const struct option options[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, ARG_VERSION },
		{ "json", no_argument, NULL, ARG_JSON },
		{ "system", no_argument, NULL, ARG_SYSTEM },
		{ "socket", required_argument, NULL, ARG_SOCKET },
		{ "interval", required_argument, NULL, ARG_INTERVAL },
		{ "cost", required_argument, NULL, ARG_COST },
		{ "root", required_argument, NULL, ARG_ROOT },
		{ "no-legend", no_argument, NULL, ARG_NO_LEGEND },
		{ "for", required_argument, NULL, ARG_FOR },
		{}
	};
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
		const char *reason;
		uint64_t v;

		switch (c) {
		case 'h':
			help();
			return 0;
		case ARG_VERSION:
			printf("smmuctl %s\n", SMMUD_VERSION);
			return 0;
		case ARG_JSON:
			arg.json = true;
			break;
		case ARG_SYSTEM:
			arg.system_bus = true;
			break;
		case ARG_SOCKET:
			if (value_file_path(optarg, &reason) < 0) {
				log_error("--socket: '%s': %s", optarg, reason);
				return -1;
			}
			arg.socket = optarg;
			break;
		case ARG_INTERVAL:
			if (value_seconds(optarg, 1, USEC_PER_HOUR, &v, &reason) < 0) {
				log_error("--interval: '%s': %s (from 1us to 1h)", optarg, reason);
				return -1;
			}
			arg.interval_usec = v;
			break;
		case ARG_COST:
			if (value_number(optarg, 1, 1000000000, &v, &reason) < 0) {
				log_error("--cost: '%s': %s (nanoseconds, 1 to 1e9)", optarg, reason);
				return -1;
			}
			arg.cost_ns = v;
			break;
		case ARG_ROOT:
			arg.root = optarg;
			break;
		case ARG_NO_LEGEND:
			arg.legend = false;
			break;
		case ARG_FOR:
			if (value_storm_duration(optarg, &v, &reason) < 0) {
				log_error("--for: '%s': %s", optarg, reason);
				return -1;
			}
			arg.storm_for = optarg;
			break;
		case '?':
			if (optopt)
				log_error("Unknown option '-%c'; see smmuctl --help", optopt);
			else
				log_error("Unknown option '%s' or missing argument; see smmuctl --help",
					  argv[optind - 1]);
			return -1;
		default:
			log_error("Unhandled option");
			return -1;
		}
	}
	return 1;
}

int main(int argc, char **argv)
{
	const char *name;
	unsigned n;
	int r;

	log_set_target_stderr(true);
	log_open();

	r = parse_argv(argc, argv);
	if (r <= 0)
		return r < 0 ? CTL_EXIT_USAGE : CTL_EXIT_OK;
	if (optind >= argc) {
		log_error("No command given; see smmuctl --help");
		return CTL_EXIT_USAGE;
	}
	name = argv[optind];
	n = (unsigned)(argc - optind - 1);
	if (arg.storm_for && !streq(name, "storm")) {
		log_error("--for goes with storm enter only");
		return CTL_EXIT_USAGE;
	}
	for (size_t i = 0; i < ELEMENTSOF(verbs); i++) {
		const Verb *v = &verbs[i];

		if (!streq(v->name, name))
			continue;
		if (n < v->min_args || n > v->max_args) {
			log_error("Usage: smmuctl %s %s", v->name, v->usage);
			return CTL_EXIT_USAGE;
		}
		return v->run(argc - optind, argv + optind);
	}
	log_error("Unknown command '%s'; see smmuctl --help", name);
	return CTL_EXIT_USAGE;
}
