/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The daemon as the tell layer sees it: what the D-Bus API, the metrics
 * file and the status line show, and nothing to change it with.  The
 * manager fills one on demand; it is read on the loop's thread and valid
 * until the loop runs again.
 */

#include "config.h"
#include "smmus.h"
#include "topology.h"
#include "vmmodel.h"

/* What smmud's watching costs: its scans and looks, and the kernel's exit filter. */
typedef struct DaemonCosts {
	uint64_t scans;               /* of every process */
	uint64_t looks;               /* a VFIO open's look at the processes that may have made it */
	uint64_t open_scans;          /* scans of every process a look did not make unnecessary */
	uint64_t probes;              /* processes looked at one by one (looks, machined's news) */
	bool exit_filter;             /* the kernel filters the exit events */
	bool exit_filter_all;         /* ... keeping every group's death (an open being looked into) */
	uint64_t exit_filter_pids;    /* ... or the deaths of so many groups */
	uint64_t exit_filter_updates; /* filters attached */
} DaemonCosts;

/* Configuration reloads since smmud started (SIGHUP, Reload()). */
typedef struct DaemonReloads {
	uint64_t ok;                  /* took: the new configuration runs */
	uint64_t rejected;            /* refused: the running one stayed */
	bool last_rejected;           /* the last one was refused */
} DaemonReloads;

typedef struct DaemonView {
	const char *root;             /* where sys, proc and debugfs are */
	bool dry_run;
	const Config *config;
	const Topology *topology;     /* NULL before the first scan */
	const SmmuSet *smmus;
	const VmModel *vms;
	bool shutdown_announced;
	const char *shutdown_why;     /* NULL: none */
	const char *status;           /* the last status line, NULL: none yet */
	const char *metrics_error;    /* why MetricsFile= could not be written, NULL: it could */
	const DaemonCosts *costs;     /* NULL: not known */
	const DaemonReloads *reloads; /* NULL: not known */
	uint64_t started_usec;        /* CLOCK_REALTIME of the start; 0: not known */
} DaemonView;

/*
 * One thing smmud did or saw, streamed as it happens (the Event signal,
 * smmuctl monitor): kind is what (knobs.c's "write", "restore",
 * "release", "drift", "recover-skip"; the manager's "override",
 * "reclaim", "reload", "storm"), smmu and knob what it concerns (NULL:
 * none, e.g. a reload), before and after the values or states, detail
 * why.  Strings may hold any bytes: the receiver makes them safe.
 */
typedef struct DaemonEvent {
	uint64_t realtime_usec;
	const char *kind;
	const char *smmu;
	const char *knob;
	const char *before;
	const char *after;
	const char *detail;
} DaemonEvent;

/*
 * A storm decision as the Decision signal carries it: at every storm
 * start and end, what the SMMU's knobs should hold from then on.
 */
typedef struct DaemonDecision {
	uint64_t realtime_usec;
	const char *smmu;
	bool storm;
	const char *reason;
	const char *why;
	const char *threshold;        /* NULL: none */
	const char *teardown_mode;
} DaemonDecision;
