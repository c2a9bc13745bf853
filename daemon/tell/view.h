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
