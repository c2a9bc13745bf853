/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The daemon: one sd-event loop that wires the observers (topology, exit
 * events, pidfds, VFIO watches, scans, uevents, machined, shutdowns) to
 * the VM model and the managed SMMUs, those to the knobs, and all of it
 * to the control API, the metrics file and the log.  It decides nothing
 * itself: the model says which exits count, the policy what the knobs
 * should hold; it owns the event sources and calls each in turn.
 * manager.c is the loop and what the host tells; manager-control.c what
 * an operator may change.
 */

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "bus.h"
#include "config.h"
#include "devicewatch.h"
#include "exitwatch.h"
#include "knobs.h"
#include "machines.h"
#include "metrics.h"
#include "outbox.h"
#include "pidwatch.h"
#include "pinnedreads.h"
#include "rescans.h"
#include "sched-slice.h"
#include "shutdownwatch.h"
#include "smmus.h"
#include "topology.h"
#include "vfiowatch.h"
#include "vmmodel.h"

typedef struct ManagerOptions {
	const char *root;              /* "/" in production */
	const char *runtime_dir;       /* /run/smmud */
	ConfigSource config_source;
	bool dry_run;
	bool use_bus;                  /* try the system bus (machined, logind) */
} ManagerOptions;

/* A process running without VFIO files that looks probe again, and since when. */
typedef struct RecentProcess {
	pid_t pid;
	uint64_t since_usec;
} RecentProcess;

typedef struct Manager {
	sd_event *event;
	sd_bus *bus;                   /* NULL: no system bus (as in the test guest) */
	char *root;
	VmProc proc;                   /* root's /proc, kept open for the probes */
	char *runtime_dir;
	int lock_fd;                   /* runtime_dir/lock, flock()ed: one smmud per directory */
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
	PolicyHost announced;          /* host shutdown, libvirt-guests stopping: until when */
	char *shutdown_why;

	ExitWatch *exitwatch;
	unsigned exit_sources;         /* EXITWATCH_SOURCE() bits it was opened with */
	PidWatch *pidwatch;            /* a pidfd per VM */
	VfioWatch *vfiowatch;          /* VFIO opens (a VM starting) and closes */
	Rescans *rescans;              /* when to look again; the /proc scans */
	MachineWatch *machines;
	ShutdownWatch *shutdownwatch;
	DeviceWatch *devices;          /* uevents, on the real host only */

	VmPidCursor pid_cursor;        /* process creation when the last look or scan began */
	/*
	 * What looks found started but not a VFIO user yet (a VMM between its
	 * fork and its first open, which the cursor has moved past), and VMs
	 * that closed their VFIO files and run on.  The following looks probe
	 * them again, for a while.
	 */
	RecentProcess *look_recent;
	size_t n_look_recent;
	/* When one could not be kept (the list full): until a scan, a look may miss it. */
	uint64_t look_recent_lost_usec;
	DaemonCosts costs;
	DaemonReloads reloads;
	uint64_t started_usec;         /* CLOCK_REALTIME: restarts show in the metrics */
	/* The exit filter: built from the model's generation, or keeping every group's death. */
	bool filter_set, filter_all;
	uint64_t filter_generation;
	sd_event_source *filter_narrow; /* the set only shrank: updated a while later (timer) */
	bool started;                  /* the first scan is done: the model knows the VMs */
	SchedUrgency urgency;          /* preempting the VMMs while a write may be due */

	sd_event_source *deadline_timer;  /* the next policy deadline (hold time) */
	sd_event_source *drift_timer;     /* only while a knob is held */
	sd_event_source *pinned_timer;    /* only while there are VMs: their pinned memory */
	PinnedReads pinned_reads;         /* ... and when it is read */
	sd_event_source *state_copy_timer; /* the state file's copy, once the moment is quiet */
	uint64_t state_copy_due_usec;      /* ... due since (CLOCK_MONOTONIC), 0: not due */

	Bus *control;                  /* org.smmud1.Manager, private socket and system bus */
	Outbox *outbox;                /* its signals, the status line, the metrics: after the writes */
} Manager;

int manager_new(const ManagerOptions *o, Manager **ret);
/* Frees, and does nothing else: manager_run() ended the run. */
Manager *manager_free(Manager *m);
static inline void manager_freep(Manager **m)
{
	manager_free(*m);
}

/*
 * Restores what a crashed run left, loads the config, scans, starts the
 * observers and the control API, decides once.  A bad config fails
 * startup (after the restore), before anything is written.
 */
int manager_startup(Manager *m);
/*
 * Runs the loop until SIGTERM or SIGINT (0), or until it fails (-errno);
 * then restores every knob and removes the metrics file.
 */
int manager_run(Manager *m);

/*
 * The steps manager.c and manager-control.c (what an operator may
 * change) share; nothing outside the daemon calls them.
 */
void manager_view(Manager *m, DaemonView *ret);
/* Decides for every SMMU (force_apply: writes even values applied already), then tells. */
void manager_decide_all(Manager *m, bool force_apply);
/* The status line and the metrics file will follow a state change (outbox.h). */
void manager_update_status(Manager *m);
/* An Event signal, dated now, sent after what is being done now (outbox.h). */
void manager_emit_event(Manager *m, const char *kind, const char *smmu, const char *knob,
			const char *before, const char *after, const char *detail);
/* Ends the run with r: a timer that cannot be set leaves a promise unkept. */
void manager_fail(Manager *m, int r, const char *what);
/* Opens the exit sources the config asks for, if they changed; the pidfds stay either way. */
int manager_start_exitwatch(Manager *m);
/* Loads the configuration again; a bad one changes nothing (errors: "file:line: key: reason"). */
int manager_reload(Manager *m, char ***ret_errors);
/* Serves the control API (manager-control.c). */
int manager_start_control(Manager *m);
/* Decides for one SMMU at now, a step of manager_decide_all(); the deadline is set after. */
void manager_decide_one(Manager *m, ManagedSmmu *ms, uint64_t now, bool force_apply);
/* Arms the timer of the earliest storm end or hold expiry, or turns it off. */
void manager_schedule_deadline(Manager *m);
/* Scans the topology again: 1 if it changed, 0 if not, -errno. */
int manager_rescan_topology(Manager *m);

/*
 * The observers and the VM model between them and the decisions
 * (manager-observers.c).
 */
/* The VM model, the pidfds, the VFIO watches, the rescans and their timers. */
int manager_new_observers(Manager *m);
/* Exit events, machined, shutdowns and unit jobs, uevents: what needs the config or the bus. */
int manager_start_observers(Manager *m);
/* Tells the kernel again which exits to keep, if what the model watches changed. */
void manager_update_exit_filter(Manager *m);
/* The topology and every process again (SIGUSR1). */
void manager_rescan_all(Manager *m);
