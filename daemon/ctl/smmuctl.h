/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * smmuctl: the options every verb sees, the exit statuses (documented in
 * smmuctl(8)), and the verbs, one file each: smmuctl-config.c (no daemon),
 * smmuctl-risk.c, smmuctl-status.c, smmuctl-stats.c, smmuctl-control.c,
 * smmuctl-monitor.c; smmuctl-bus.c holds the D-Bus plumbing they share.
 */

#include <stdint.h>

#include "util.h"

enum {
	CTL_EXIT_OK = 0,
	CTL_EXIT_FAILED = 1,      /* smmud refused or could not do it */
	CTL_EXIT_USAGE = 2,       /* unknown verb/option, bad argument */
	CTL_EXIT_UNREACHABLE = 3, /* no daemon, no socket, no bus */
	CTL_EXIT_DENIED = 4,      /* the caller lacks the privilege */
	CTL_EXIT_BAD_CONFIG = 5,  /* check-config / reload found errors */
};

typedef struct CtlOptions {
	bool json;
	bool legend;
	bool system_bus;
	const char *socket;       /* the private socket */
	uint64_t interval_usec;   /* stats */
	uint64_t cost_ns;         /* risk: one invalidation command */
	const char *root;         /* risk without a daemon: fake tree */
	const char *storm_for;    /* storm enter: announced for this long (NULL: until auto) */
} CtlOptions;

extern CtlOptions arg;

/* Each verb returns a CTL_EXIT_* status, having printed any error itself. */
int verb_check_config(int argc, char **argv);
int verb_config(int argc, char **argv);
int verb_risk(int argc, char **argv);
int verb_status(int argc, char **argv);
int verb_stats(int argc, char **argv);
int verb_set(int argc, char **argv);
int verb_reset(int argc, char **argv);
int verb_storm(int argc, char **argv);
int verb_pin(int argc, char **argv);
int verb_unpin(int argc, char **argv);
int verb_reload(int argc, char **argv);
int verb_monitor(int argc, char **argv);
