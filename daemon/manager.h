/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The daemon: one sd-event loop that wires the observers (topology,
 * vmscan, exitwatch, pidwatch, vfiowatch, machines, shutdownwatch) to the
 * VM model, the pure policy and the knobs.  Everything a control API needs to show or change is reachable
 * from here (bus.c reads these structures on the loop's thread and calls
 * the manager_* functions below; it never touches a knob itself).
 */

#include <systemd/sd-bus.h>
#include <systemd/sd-device.h>
#include <systemd/sd-event.h>

#include "bus.h"
#include "config.h"
#include "exitwatch.h"
#include "knobs.h"
#include "machines.h"
#include "metrics.h"
#include "pidwatch.h"
#include "policy.h"
#include "shutdownwatch.h"
#include "smmus.h"
#include "topology.h"
#include "vfiowatch.h"
#include "vmmodel.h"
#include "vmscan.h"

typedef struct Manager Manager;

typedef struct ManagerOptions {
	const char *root;              /* "/" in production */
	const char *runtime_dir;       /* /run/smmud */
	ConfigSource config_source;
	bool dry_run;
	bool use_bus;                  /* try the system bus (machined, logind) */
} ManagerOptions;

struct Manager {
	sd_event *event;
	sd_bus *bus;                   /* NULL: no system bus (as in the test guest) */
	char *root;
	char *runtime_dir;
	char *config_file;
	char *config_dir;
	ConfigSource config_source;
	bool dry_run;

	Config *config;
	Topology *topology;
	HostFacts host;
	Knobs *knobs;

	SmmuSet smmus;
	VmModel *vms;                  /* which processes are VMs, which exits counted */
	PidWatch *pidwatch;            /* a pidfd per VM */
	VmScan *scan;                  /* the /proc scan under way, a slice per loop iteration */
	sd_event_source *scan_step;
	bool rescan_after_scan;        /* asked for while one ran */

	bool shutdown_announced;
	char *shutdown_why;

	ExitWatch *exitwatch;
	unsigned exit_sources;         /* EXITWATCH_SOURCE() bits it was opened with */
	MachineWatch *machines;
	ShutdownWatch *shutdownwatch;
	sd_device_monitor *device_monitor;
	VfioWatch *vfiowatch;          /* VFIO opens (a VM starting) and closes */
	uint64_t open_scan_due;        /* the latest open seen wants a scan starting by then */

	sd_event_source *deadline_timer;  /* the next policy deadline (hold time) */
	sd_event_source *drift_timer;     /* only while a knob is held */
	sd_event_source *scan_timer;      /* ScanInterval=, 0: none */
	sd_event_source *rescan_defer;    /* coalesces uevents, VFIO opens, machine changes */
	bool rescan_topology_pending;
	bool rescan_vms_pending;

	Bus *control;                  /* bus.c: org.smmud1.Manager, private socket + bus */

	char *status;                  /* the last STATUS= text */
	MetricsFile metrics;           /* MetricsFile= as last written */
};

int manager_new(const ManagerOptions *o, Manager **ret);
Manager *manager_free(Manager *m);
static inline void manager_freep(Manager **m)
{
	manager_free(*m);
}

/*
 * Restores what a crashed run left, loads the config, scans, starts the
 * observers.  A bad config fails startup (after the restore).
 */
int manager_startup(Manager *m);
/* Runs the loop until SIGTERM/SIGINT; then restores every knob. */
int manager_run(Manager *m);

/* The control surface (also used by signals). */
int manager_reload(Manager *m, char ***ret_errors);
int manager_rescan(Manager *m);
/* name NULL: every SMMU.  -ENOENT: no such SMMU. */
int manager_set_override(Manager *m, const char *name, PolicyOverride o, const KnobValues *pin);
/* Takes a knob the operator changed back under smmud's management. */
int manager_reclaim_knob(Manager *m, const char *name, KnobAttr attr);

ManagedSmmu *manager_find_smmu(Manager *m, const char *name);
/* VMs behind the SMMU and their pinned memory. */
size_t manager_smmu_vms(Manager *m, const ManagedSmmu *ms, uint64_t *ret_pinned);
/* What the daemon shows now (D-Bus, metrics, status). */
void manager_view(Manager *m, DaemonView *ret);
