/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The VM and exit model: which processes are VMs now, and which VM
 * teardowns count against which SMMUs, each exactly once.  A state
 * machine with no I/O, no clock and no logging: the manager feeds it what
 * the host said (a scan's result, an exit event, a pidfd hang-up, a VFIO
 * close) with the time, and acts on what comes out (vm_model_next_event()).
 * Nothing is decided or written inside an input: the inputs only queue
 * events.  What it must know of a process now (the same process? dying?
 * still holding VFIO files?) it asks the probe it was given: the daemon's
 * reads /proc (vm_probe()), the unit tests' is a table.
 *
 * Each teardown is counted once per process (pid and start time),
 * whichever source tells first:
 *  - taskstats comes before exit_files(): a process counted then may
 *    still hold its VFIO files, and a scan would find it.  Such an exit is
 *    kept as dying until the process is past exit_files() (its proc
 *    connector event or pidfd hang-up, a scan that no longer sees it, or
 *    vm_model_prune_dying()), and a scan that finds a dying process
 *    leaves it alone;
 *  - a scan takes time, and the host goes on meanwhile: what the model
 *    learnt of a pid after the scan began is newer than what the scan
 *    read, so the scan's end leaves such pids alone, and keeps their
 *    dying exits;
 *  - an exit event names a pid, not a process: one that was queued while
 *    the pid went to a new VM finds that VM alive and not exiting, and is
 *    dropped;
 *  - a VM that stops holding its VFIO files while it lives (a graceful VMM
 *    shutdown closes them before it exits) is counted at the close, when
 *    VFIO tears its domains down; its exit later finds no VM to count;
 *  - a VM first seen at its exit (started after the last scan) is counted
 *    if its files still tell it was one;
 *  - a VM whose stop job was queued (its scope is being stopped) is
 *    announced once, ahead of its exit (STOPPING); its exit, when it
 *    comes, carries that time (vm->stopping_usec), so that it is not
 *    counted twice against a window.
 */

#include "topology.h"
#include "vmscan.h"

typedef struct VmModel VmModel;

/*
 * What the model asks of a process now.  0 and *ret (its vm the model's
 * from then on), or -errno if that cannot be told: the model then keeps
 * what it believed.
 */
typedef int (*VmProbe)(pid_t pid, bool want_files, VmProcess *ret, void *userdata);

typedef enum VmEventKind {
	VM_EVENT_FOUND,         /* a VM from now on (its exit can be watched) */
	VM_EVENT_EXIT,          /* a VM was torn down: counted against smmus[] */
	VM_EVENT_DROPPED,       /* no VM any more, without a teardown (it held no group) */
	VM_EVENT_STOPPING,      /* its stop job was queued: counted against smmus[], ahead */
	_VM_EVENT_KIND_MAX,
} VmEventKind;

/* At most this many SMMUs one exit counts against (more are not counted). */
#define VM_EVENT_SMMUS_MAX 64

typedef struct VmEvent {
	VmEventKind kind;
	pid_t pid;
	uint64_t starttime;
	Vm *vm;                 /* EXIT, DROPPED: the VM as last seen, the event's;
				 * FOUND, STOPPING: NULL, vm_model_find() has it */
	bool was_tracked;       /* EXIT: it was a VM of the model's (not one first seen dying) */
	const char *source;     /* EXIT: what told, a static string ("taskstats", "pidfd",
				 * "closed its VFIO files", "rescan", ...) */
	bool lives_on;          /* EXIT: its process runs on, without VFIO files (it may open again) */
	uint64_t heard_usec;    /* EXIT: when the source saw it, 0: unknown */
	uint64_t counted_usec;  /* EXIT, STOPPING: the now of the input that counted it */
	const Smmu *smmus[VM_EVENT_SMMUS_MAX]; /* EXIT, STOPPING: the SMMUs its groups sit
						 * behind, each once */
	size_t n_smmus;
} VmEvent;

void vm_event_done(VmEvent *e);

int vm_model_new(VmProbe probe, void *userdata, VmModel **ret);
VmModel *vm_model_free(VmModel *m);
static inline void vm_model_freep(VmModel **m)
{
	vm_model_free(*m);
}

/* The SMMUs and groups exits are counted against (NULL: none known). */
void vm_model_set_topology(VmModel *m, const Topology *t);

/*
 * The inputs.  now is CLOCK_MONOTONIC µs.  Each returns 0, or -ENOMEM when
 * something could not be recorded (what was recorded stays consistent).
 */

/* A scan of every process begins. */
void vm_model_scan_begin(VmModel *m);
/* ... and ends with the VMs it found (sorted or not); the model takes them. */
int vm_model_scan_end(VmModel *m, Vm **found, size_t n_found, uint64_t now);
/* ... or fails: nothing of it is used. */
void vm_model_scan_abort(VmModel *m);

/*
 * The kernel says thread group pid exited (source: "taskstats", "proc
 * connector").  files_open: said before exit_files() (taskstats), so the
 * process may still hold its VFIO files.  heard: when the source saw it.
 * queued_after: the event was queued after this time (CLOCK_MONOTONIC, as
 * Vm.seen_usec), 0: unknown.
 */
int vm_model_exit(VmModel *m, pid_t pid, const char *source, bool files_open, uint64_t heard,
		  uint64_t queued_after, uint64_t now);
/*
 * Exit events or VFIO closes were lost: no VM seen before counts as seen
 * before the next exit or close, until it is seen again.
 */
void vm_model_forget_seen(VmModel *m);
/*
 * Forgets the dying exits whose process is past exit_files() now (reaped,
 * a zombie, or its pid another's), as the probe says: no scan can find
 * them holding files again.  Their proc connector event or pidfd tells
 * the model so where either runs for them; this asks instead.  One still
 * in do_exit() stays dying, and every one while a scan runs.  No event.
 */
void vm_model_prune_dying(VmModel *m);
/*
 * The process pid with starttime is dead and its files closed: its pidfd
 * hung up ("pidfd"), or it was gone by the time one could be opened ("gone
 * at discovery").
 */
int vm_model_gone(VmModel *m, pid_t pid, uint64_t starttime, const char *source, uint64_t now);
/*
 * A VFIO file was closed: group's (UINT32_MAX: a device or iommufd, or
 * unknown).  queued_after: the close was queued after this time
 * (CLOCK_MONOTONIC, as Vm.seen_usec), 0: unknown.  The VMs holding that
 * group are looked at again; one for which the close can only be the
 * release of its last VFIO file is not looked into, only whether it runs
 * on (closed_its_only_file()).
 */
int vm_model_vfio_closed(VmModel *m, uint32_t group, uint64_t queued_after, uint64_t now);
/*
 * A look at one process (not a scan of all) found vm, a VM now: tracked
 * from now on, or its record renewed.  Takes vm.  A pid that went to
 * another VM counts the old one's exit.  Nothing is concluded about the
 * VMs the look did not see.
 */
int vm_model_probed(VmModel *m, Vm *vm, uint64_t now);
/*
 * A stop job was queued for the VM pid (its scope): STOPPING, once; its
 * exit will carry now.  -ESRCH if pid is no VM of the model's.
 */
int vm_model_stopping(VmModel *m, pid_t pid, uint64_t now);

/*
 * The process pid with starttime has bytes pinned now (a VM's memory is
 * pinned after it was found): 0, or -ESRCH if it is not a VM of the
 * model's.  No event.
 */
int vm_model_set_pinned(VmModel *m, pid_t pid, uint64_t starttime, uint64_t bytes);

/*
 * The process pid with starttime is the machine name to machined (NULL:
 * none).  Kept with the VM, through later looks at it, for its exit: at a
 * host power-off machined may stop before the VMs' exits are read.  0,
 * -ESRCH if it is not a VM of the model's, -ENOMEM.  No event.
 */
int vm_model_set_name(VmModel *m, pid_t pid, uint64_t starttime, const char *name);

/*
 * The process pid with starttime runs in unit now (NULL: none); machined
 * moves a VMM into its scope when it registers it, possibly after we
 * found it.  0 (*ret_changed tells whether it moved), -ESRCH if it is not
 * a VM of the model's, -ENOMEM.  No event.
 */
int vm_model_set_unit(VmModel *m, pid_t pid, uint64_t starttime, const char *unit, bool *ret_changed);

/* The output: the oldest event not taken yet, false if none.  vm_event_done() it after. */
bool vm_model_next_event(VmModel *m, VmEvent *ret);

/* The VMs now, in no particular order; valid until the next input. */
size_t vm_model_n_vms(const VmModel *m);
const Vm *vm_model_vm(const VmModel *m, size_t i);
const Vm *vm_model_find(const VmModel *m, pid_t pid);
/* The SMMUs vm's groups sit behind, each once, at most max. */
size_t vm_model_smmus_of(const VmModel *m, const Vm *vm, const Smmu **ret, size_t max);
/* The VMs behind s and their pinned memory. */
size_t vm_model_vms_behind(const VmModel *m, const Smmu *s, uint64_t *ret_pinned);
uint64_t vm_model_exits_total(const VmModel *m);
/*
 * The processes whose exit events matter: the VMs, and the exits counted
 * while their files were still open (their proc connector event tells
 * they are past them).  Sorted, no duplicates, malloc'd (NULL if none).
 * The generation changes whenever that set may have.
 */
int vm_model_watched_pids(const VmModel *m, pid_t **ret, size_t *ret_n);
uint64_t vm_model_generation(const VmModel *m);
/* Exits of VMs whose groups sit behind no known SMMU. */
uint64_t vm_model_exits_unattributed(const VmModel *m);
bool vm_model_scanning(const VmModel *m);
