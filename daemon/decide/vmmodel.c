// SPDX-License-Identifier: GPL-2.0-or-later
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "vmmodel.h"

/* Bounds the dying exits kept if no scan and no proc connector prunes them for long. */
#define DYING_MAX 4096

/* The groups a dying exit keeps, for the closes still to come; more: any group. */
#define DYING_GROUPS_MAX 4

/* An exit counted while the process may still hold its VFIO files. */
typedef struct DyingExit {
	pid_t pid;
	uint64_t starttime;
	/* Whose closes may still come: the groups it held, or any (an iommufd, too many). */
	uint32_t groups[DYING_GROUPS_MAX];
	uint8_t n_groups;
	bool any_group;
} DyingExit;

struct VmModel {
	VmProbe probe;
	void *probe_userdata;
	const Topology *topology;

	Vm **vms;
	size_t n_vms;

	DyingExit *dying;
	size_t n_dying;

	/* A scan runs: the pids whose state the model changed since it began. */
	bool scanning;
	pid_t *changed_in_scan;
	size_t n_changed_in_scan;

	/* Events not taken yet: events[head .. n_events). */
	VmEvent *events;
	size_t head, n_events;

	uint64_t exits_total;
	uint64_t exits_unattributed;
	uint64_t generation;    /* of the watched pids: VMs and dying exits */
};

void vm_event_done(VmEvent *e)
{
	e->vm = vm_free(e->vm);
}

int vm_model_new(VmProbe probe, void *userdata, VmModel **ret)
{
	VmModel *m;

	assert(probe);
	assert(ret);
	m = calloc(1, sizeof(VmModel));
	if (!m)
		return -ENOMEM;
	m->probe = probe;
	m->probe_userdata = userdata;
	*ret = m;
	return 0;
}

VmModel *vm_model_free(VmModel *m)
{
	if (!m)
		return NULL;
	vm_array_free(m->vms, m->n_vms);
	for (size_t i = m->head; i < m->n_events; i++)
		vm_event_done(&m->events[i]);
	free(m->events);
	free(m->dying);
	free(m->changed_in_scan);
	free(m);
	return NULL;
}

void vm_model_set_topology(VmModel *m, const Topology *t)
{
	m->topology = t;
}

/* ---- what the model holds ------------------------------------------------- */

static ssize_t vm_index(const VmModel *m, pid_t pid)
{
	for (size_t i = 0; i < m->n_vms; i++)
		if (m->vms[i]->pid == pid)
			return (ssize_t)i;
	return -1;
}

/* Takes the VM at i out of the model, for the caller to keep or free. */
static Vm *untrack(VmModel *m, size_t i)
{
	Vm *vm = m->vms[i];

	m->vms[i] = m->vms[--m->n_vms];
	m->generation++;
	return vm;
}

/* The VM at i as seen again (groups, pinned memory): what the model noted of it stays. */
static void renew(VmModel *m, size_t i, Vm *vm)
{
	vm->stopping_usec = m->vms[i]->stopping_usec;
	/* /proc has no machine name: the one machined gave this process stays. */
	if (!vm->name)
		vm->name = TAKE_PTR(m->vms[i]->name);
	vm_free(m->vms[i]);
	m->vms[i] = vm;
}

static bool dying_has(const VmModel *m, pid_t pid, uint64_t starttime)
{
	for (size_t i = 0; i < m->n_dying; i++)
		if (m->dying[i].pid == pid && m->dying[i].starttime == starttime)
			return true;
	return false;
}

static void dying_remove(VmModel *m, size_t i)
{
	memmove(m->dying + i, m->dying + i + 1, (m->n_dying - i - 1) * sizeof(DyingExit));
	m->n_dying--;
	m->generation++;
}

static int dying_add(VmModel *m, const Vm *vm)
{
	DyingExit d = {
		.pid = vm->pid,
		.starttime = vm->starttime,
		.any_group = vm->iommufd || vm->n_groups > DYING_GROUPS_MAX,
	};
	DyingExit *n;

	if (!d.any_group)
		for (size_t g = 0; g < vm->n_groups; g++)
			d.groups[d.n_groups++] = vm->groups[g];

	if (m->n_dying == DYING_MAX)
		dying_remove(m, 0); /* the oldest */
	n = realloc(m->dying, (m->n_dying + 1) * sizeof(DyingExit));
	if (!n)
		return -ENOMEM;
	m->dying = n;
	m->dying[m->n_dying++] = d;
	m->generation++;
	return 0;
}

/*
 * pid is past exit_files() (or reaped): no scan begun from now on can find
 * its files.  One in progress may have read them before: its end keeps or
 * prunes the entry by what it found.
 */
static void dying_forget(VmModel *m, pid_t pid)
{
	if (m->scanning)
		return;
	for (size_t i = m->n_dying; i-- > 0;)
		if (m->dying[i].pid == pid)
			dying_remove(m, i);
}

static bool changed_in_scan(const VmModel *m, pid_t pid)
{
	for (size_t i = 0; i < m->n_changed_in_scan; i++)
		if (m->changed_in_scan[i] == pid)
			return true;
	return false;
}

/* What the model learns of pid while a scan runs is newer than what the scan read. */
static int note_change(VmModel *m, pid_t pid)
{
	pid_t *n;

	if (!m->scanning || changed_in_scan(m, pid))
		return 0;
	n = realloc(m->changed_in_scan, (m->n_changed_in_scan + 1) * sizeof(pid_t));
	if (!n)
		return -ENOMEM;
	m->changed_in_scan = n;
	m->changed_in_scan[m->n_changed_in_scan++] = pid;
	return 0;
}

/* Queues e; the queue takes e->vm (freed if it cannot be queued). */
static int push(VmModel *m, VmEvent *e)
{
	VmEvent *n;

	if (m->head == m->n_events)
		m->head = m->n_events = 0;
	n = realloc(m->events, (m->n_events + 1) * sizeof(VmEvent));
	if (!n) {
		vm_event_done(e);
		return -ENOMEM;
	}
	m->events = n;
	m->events[m->n_events++] = *e;
	return 0;
}

bool vm_model_next_event(VmModel *m, VmEvent *ret)
{
	if (m->head == m->n_events)
		return false;
	*ret = m->events[m->head++];
	return true;
}

/* Takes vm. */
static int track(VmModel *m, Vm *vm)
{
	Vm **n = realloc(m->vms, (m->n_vms + 1) * sizeof(Vm *));

	if (!n) {
		vm_free(vm);
		return -ENOMEM;
	}
	m->vms = n;
	m->vms[m->n_vms++] = vm;
	m->generation++;
	return push(m, &(VmEvent){ .kind = VM_EVENT_FOUND, .pid = vm->pid,
				   .starttime = vm->starttime });
}

/* Takes vm: no VM any more, nothing torn down. */
static int drop(VmModel *m, Vm *vm)
{
	int r = note_change(m, vm->pid);

	return push(m, &(VmEvent){ .kind = VM_EVENT_DROPPED, .pid = vm->pid,
				   .starttime = vm->starttime, .vm = vm }) ?: r;
}

/* ---- counting --------------------------------------------------------------- */

size_t vm_model_smmus_of(const VmModel *m, const Vm *vm, const Smmu **ret, size_t max)
{
	size_t n = 0;

	for (size_t g = 0; g < vm->n_groups && n < max; g++) {
		const Smmu *s = topology_smmu_for_group(m->topology, vm->groups[g]);
		bool seen = false;

		for (size_t i = 0; i < n && !seen; i++)
			seen = ret[i] == s;
		if (s && !seen)
			ret[n++] = s;
	}
	return n;
}

/* The source of an exit whose process runs on: it closed every VFIO file. */
static const char closed_files[] = "closed its VFIO files";

/*
 * The one place a teardown is counted: once per (pid, starttime).  Takes
 * vm.  files_open: the process may still hold its VFIO files, so a scan
 * may find it again; it stays dying until it is past them.
 */
static int count_exit(VmModel *m, Vm *vm, bool was_tracked, const char *source, bool files_open,
		      uint64_t heard, uint64_t now)
{
	VmEvent e = {
		.kind = VM_EVENT_EXIT,
		.pid = vm->pid,
		.starttime = vm->starttime,
		.vm = vm,
		.was_tracked = was_tracked,
		.source = source,
		.lives_on = source == closed_files,
		.heard_usec = heard,
		.counted_usec = now,
	};
	int r = 0;

	if (dying_has(m, vm->pid, vm->starttime)) {
		/* Counted already; if it was tracked again all the same, it is no VM any more. */
		if (was_tracked)
			return drop(m, vm);
		vm_free(vm);
		return 0;
	}
	if (files_open)
		r = dying_add(m, vm);
	r = note_change(m, vm->pid) ?: r;
	m->exits_total++;
	e.n_smmus = vm_model_smmus_of(m, vm, e.smmus, ELEMENTSOF(e.smmus));
	if (e.n_smmus == 0)
		m->exits_unattributed++;
	return push(m, &e) ?: r;
}

/*
 * The tracked VM at i is not where it was (a close, a scan that missed
 * it): p is what the probe says of its pid now.  Dying or gone, it exited.
 * Alive without VFIO files, it closed them: VFIO tears its domains down in
 * ->release as at an exit, and before the exit that follows, so that
 * counts now.  Once: it is no VM any more, and to a later exit event a
 * process without VFIO files is none.  A VMM opens before it maps, so a
 * tracked one held its files: dropping them all is no setup step.  One
 * that held no group (an iommufd alone, passed on) had no domain to tear.
 */
static int lost(VmModel *m, size_t i, const VmProcess *p, const char *source, uint64_t now)
{
	Vm *vm = m->vms[i];
	bool same = p->state != VM_PROCESS_GONE && p->starttime == vm->starttime;

	if (!same || p->state == VM_PROCESS_EXITING)
		return count_exit(m, untrack(m, i), true, source, false, 0, now);
	if (vm->n_groups > 0)
		return count_exit(m, untrack(m, i), true, closed_files, false, 0, now);
	return drop(m, untrack(m, i));
}

/* Looks at the tracked VM at i again: still a VM (its groups may have changed), or lost. */
static int recheck(VmModel *m, size_t i, const char *source, uint64_t now)
{
	Vm *vm = m->vms[i];
	VmProcess p = {};
	int r;

	r = m->probe(vm->pid, true, &p, m->probe_userdata);
	if (r < 0)
		return 0; /* cannot tell: it stays as it was */
	if (p.vm && p.state != VM_PROCESS_GONE && p.starttime == vm->starttime) {
		renew(m, i, p.vm);
		return note_change(m, p.vm->pid);
	}
	vm_free(p.vm);
	return lost(m, i, &p, source, now);
}

/* ---- the inputs ----------------------------------------------------------------- */

int vm_model_exit(VmModel *m, pid_t pid, const char *source, bool files_open, uint64_t heard,
		  uint64_t queued_after, uint64_t now)
{
	ssize_t i = vm_index(m, pid);
	VmProcess p = {};
	int r = 0;

	if (i >= 0) {
		uint64_t seen = m->vms[i]->seen_usec;
		/*
		 * Both sources report from do_exit(), PF_EXITING set: a tracked
		 * VM alive and not exiting is not the process that died, but
		 * the pid's next holder, found since the event was queued.
		 * Seen alive before the event was queued, it is the one that
		 * died: a next holder needs its death first, and the event of
		 * that comes first.  No look at /proc then, on the path that
		 * races the dying VMM's teardown.
		 */
		bool stale = !(seen > 0 && queued_after > 0 && seen <= queued_after) &&
			     m->probe(pid, false, &p, m->probe_userdata) >= 0 &&
			     p.state == VM_PROCESS_RUNNING && p.starttime == m->vms[i]->starttime;

		vm_free(p.vm);
		if (!stale)
			r = count_exit(m, untrack(m, (size_t)i), true, source, files_open, heard, now);
	} else if (files_open) {
		/*
		 * Unknown: a VM started since the last scan, dying before one
		 * found it?  Taskstats comes before exit_files(): its files tell.
		 */
		if (m->probe(pid, true, &p, m->probe_userdata) >= 0 && p.vm &&
		    p.state == VM_PROCESS_EXITING)
			r = count_exit(m, TAKE_PTR(p.vm), false, source, true, heard, now);
		vm_free(p.vm);
	}
	if (!files_open)
		dying_forget(m, pid);
	return r;
}

void vm_model_prune_dying(VmModel *m)
{
	/* A scan under way may have read their files: its end keeps or prunes them (as above). */
	if (m->scanning)
		return;
	for (size_t i = m->n_dying; i-- > 0;) {
		VmProcess p = {};

		/* Cannot tell: it stays dying. */
		if (m->probe(m->dying[i].pid, false, &p, m->probe_userdata) < 0)
			continue;
		vm_free(p.vm);
		if (p.state == VM_PROCESS_GONE || p.starttime != m->dying[i].starttime || p.zombie)
			dying_remove(m, i);
	}
}

void vm_model_forget_seen(VmModel *m)
{
	for (size_t i = 0; i < m->n_vms; i++)
		m->vms[i]->seen_usec = 0;
}

int vm_model_gone(VmModel *m, pid_t pid, uint64_t starttime, const char *source, uint64_t now)
{
	ssize_t i = vm_index(m, pid);
	int r = 0;

	if (i >= 0 && m->vms[i]->starttime == starttime)
		r = count_exit(m, untrack(m, (size_t)i), true, source, false, 0, now);
	dying_forget(m, pid);
	return r;
}

static bool holds_group(const Vm *vm, uint32_t group)
{
	for (size_t g = 0; g < vm->n_groups; g++)
		if (vm->groups[g] == group)
			return true;
	return false;
}

static bool dying_holds_group(const DyingExit *d, uint32_t group)
{
	if (d->any_group)
		return true;
	for (size_t g = 0; g < d->n_groups; g++)
		if (d->groups[g] == group)
			return true;
	return false;
}

/* The processes that may own a close of group: the VMs holding it, and the dying ones. */
static size_t n_holding_group(const VmModel *m, uint32_t group)
{
	size_t n = 0;

	for (size_t i = 0; i < m->n_vms; i++)
		n += holds_group(m->vms[i], group);
	for (size_t i = 0; i < m->n_dying; i++)
		n += dying_holds_group(&m->dying[i], group);
	return n;
}

/*
 * Whether the close of group, queued after queued_after, can be vm's
 * alone, and its last VFIO file: then what vm's files are now is known
 * without a look at them (none).  The kernel opens a group file once at a
 * time (a second open is -EBUSY, and so is a group file's open while a
 * device cdev of the group is open, or the reverse), and releases it only
 * after every device fd got from it: each holds a reference to it.  So a
 * close queued after vm was seen holding the group, with no other process
 * the model knew holding it (n_holders, counted before any was looked at:
 * finding another holder's close says nothing of vm's), is vm's, and it held nothing else: no
 * iommufd, no other group.  A dying process counts as a holder: its own
 * close may be the one.  A close queued before vm was seen may be that of
 * the group's former holder, read late: looked into.
 */
static bool closed_its_only_file(const Vm *vm, uint32_t group, size_t n_holders,
				 uint64_t queued_after)
{
	return group != UINT32_MAX && vm->n_groups == 1 && vm->groups[0] == group && !vm->iommufd &&
	       vm->seen_usec > 0 && queued_after > 0 && vm->seen_usec <= queued_after &&
	       n_holders == 1;
}

/*
 * The VM at i closed its only VFIO file: it holds none now.  What is left
 * to tell is whether it runs on (closed its files) or is dying (its exit).
 */
static int closed_last_file(VmModel *m, size_t i, const char *source, uint64_t now)
{
	VmProcess p = {};

	if (m->probe(m->vms[i]->pid, false, &p, m->probe_userdata) < 0)
		return 0; /* cannot tell: it stays as it was */
	vm_free(p.vm);
	return lost(m, i, &p, source, now);
}

/*
 * A close concerns only the VMs holding that group (UINT32_MAX: every VM):
 * during a mass shutdown closes come by the dozen, and each VM looked at is
 * a dozen system calls in which a queued exit waits.
 */
int vm_model_vfio_closed(VmModel *m, uint32_t group, uint64_t queued_after, uint64_t now)
{
	size_t n_holders = group != UINT32_MAX ? n_holding_group(m, group) : 0;
	int ret = 0;

	/* Backwards: the VM moved into i by a removal was looked at already. */
	for (size_t i = m->n_vms; i-- > 0;) {
		int r;

		if (group != UINT32_MAX && !holds_group(m->vms[i], group))
			continue;
		if (closed_its_only_file(m->vms[i], group, n_holders, queued_after))
			r = closed_last_file(m, i, "VFIO close", now);
		else
			r = recheck(m, i, "VFIO close", now);
		if (r < 0 && ret == 0)
			ret = r;
	}
	return ret;
}

void vm_model_scan_begin(VmModel *m)
{
	m->scanning = true;
	m->n_changed_in_scan = 0;
}

void vm_model_scan_abort(VmModel *m)
{
	m->scanning = false;
	m->n_changed_in_scan = 0;
}

static bool found_has(Vm **found, size_t n, pid_t pid, uint64_t starttime)
{
	for (size_t j = 0; j < n; j++)
		if (found[j] && found[j]->pid == pid && found[j]->starttime == starttime)
			return true;
	return false;
}

int vm_model_scan_end(VmModel *m, Vm **found, size_t n_found, uint64_t now)
{
	int ret = 0;

	/* What follows is news of now, not of the scan's time: no more notes. */
	m->scanning = false;

	/* Dying exits the scan no longer sees are past exit_files(): none will be seen again. */
	for (size_t i = m->n_dying; i-- > 0;)
		if (!found_has(found, n_found, m->dying[i].pid, m->dying[i].starttime))
			dying_remove(m, i);

	/* VMs it did not see: dying, or alive without their files (their pidfd is quiet). */
	for (size_t i = m->n_vms; i-- > 0;) {
		int r;

		if (found_has(found, n_found, m->vms[i]->pid, m->vms[i]->starttime))
			continue;
		r = recheck(m, i, "rescan", now);
		if (r < 0 && ret == 0)
			ret = r;
	}

	for (size_t j = 0; j < n_found; j++) {
		Vm *f = TAKE_PTR(found[j]);
		ssize_t i = vm_index(m, f->pid);
		int r = 0;

		/* Dying, its exit counted, its files not closed yet; or newer news of it. */
		if (dying_has(m, f->pid, f->starttime) || changed_in_scan(m, f->pid)) {
			vm_free(f);
			continue;
		}
		if (i >= 0 && m->vms[i]->starttime == f->starttime) {
			/* Pinned memory and groups change while a VM runs. */
			renew(m, (size_t)i, f);
			continue;
		}
		if (i >= 0)
			/* The pid went to another VM: the old one's exit went unheard. */
			r = count_exit(m, untrack(m, (size_t)i), true, "pid reused", false, 0, now);
		r = track(m, f) ?: r;
		if (r < 0 && ret == 0)
			ret = r;
	}
	m->n_changed_in_scan = 0;
	return ret;
}

int vm_model_probed(VmModel *m, Vm *vm, uint64_t now)
{
	ssize_t i = vm_index(m, vm->pid);
	int r = 0;

	assert(vm);
	/* Dying, its exit counted already: its files are not closed yet, that is all. */
	if (dying_has(m, vm->pid, vm->starttime)) {
		vm_free(vm);
		return 0;
	}
	/* Newer than what a scan under way read of it. */
	r = note_change(m, vm->pid);
	if (i >= 0 && m->vms[i]->starttime == vm->starttime) {
		renew(m, (size_t)i, vm);
		return r;
	}
	if (i >= 0)
		/* The pid went to another VM: the old one's exit went unheard. */
		r = count_exit(m, untrack(m, (size_t)i), true, "pid reused", false, 0, now) ?: r;
	return track(m, vm) ?: r;
}

int vm_model_stopping(VmModel *m, pid_t pid, uint64_t now)
{
	ssize_t i = vm_index(m, pid);
	VmEvent e = {
		.kind = VM_EVENT_STOPPING,
		.pid = pid,
		.counted_usec = now,
	};
	Vm *vm;

	if (i < 0)
		return -ESRCH;
	vm = m->vms[i];
	/* Once: a second job for the same scope (a restart, a kill) announces nothing new. */
	if (vm->stopping_usec > 0)
		return 0;
	vm->stopping_usec = now;
	e.starttime = vm->starttime;
	e.n_smmus = vm_model_smmus_of(m, vm, e.smmus, ELEMENTSOF(e.smmus));
	return push(m, &e);
}

/* ---- what it tells ------------------------------------------------------------- */

size_t vm_model_n_vms(const VmModel *m)
{
	return m->n_vms;
}

const Vm *vm_model_vm(const VmModel *m, size_t i)
{
	return i < m->n_vms ? m->vms[i] : NULL;
}

const Vm *vm_model_find(const VmModel *m, pid_t pid)
{
	ssize_t i = vm_index(m, pid);

	return i >= 0 ? m->vms[i] : NULL;
}

int vm_model_set_pinned(VmModel *m, pid_t pid, uint64_t starttime, uint64_t bytes)
{
	ssize_t i = vm_index(m, pid);

	if (i < 0 || m->vms[i]->starttime != starttime)
		return -ESRCH;
	m->vms[i]->pinned_bytes = bytes;
	return 0;
}

int vm_model_set_name(VmModel *m, pid_t pid, uint64_t starttime, const char *name)
{
	ssize_t i = vm_index(m, pid);

	if (i < 0 || m->vms[i]->starttime != starttime)
		return -ESRCH;
	return free_and_strdup(&m->vms[i]->name, name) < 0 ? -ENOMEM : 0;
}

int vm_model_set_unit(VmModel *m, pid_t pid, uint64_t starttime, const char *unit, bool *ret_changed)
{
	ssize_t i = vm_index(m, pid);
	int r;

	if (i < 0 || m->vms[i]->starttime != starttime)
		return -ESRCH;
	r = free_and_strdup(&m->vms[i]->unit, unit);
	if (r < 0)
		return r;
	if (ret_changed)
		*ret_changed = r > 0;
	return 0;
}

size_t vm_model_vms_behind(const VmModel *m, const Smmu *s, uint64_t *ret_pinned)
{
	uint64_t pinned = 0;
	size_t n = 0;

	for (size_t i = 0; i < m->n_vms; i++) {
		const Vm *vm = m->vms[i];

		for (size_t g = 0; g < vm->n_groups; g++)
			if (topology_smmu_for_group(m->topology, vm->groups[g]) == s) {
				n++;
				pinned += vm->pinned_bytes;
				break;
			}
	}
	if (ret_pinned)
		*ret_pinned = pinned;
	return n;
}

uint64_t vm_model_exits_total(const VmModel *m)
{
	return m->exits_total;
}

static int pid_cmp(const void *a, const void *b)
{
	pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;

	return (x > y) - (x < y);
}

int vm_model_watched_pids(const VmModel *m, pid_t **ret, size_t *ret_n)
{
	size_t n = 0, k = 0;
	pid_t *p;

	if (m->n_vms + m->n_dying == 0) {
		*ret = NULL;
		*ret_n = 0;
		return 0;
	}
	p = malloc((m->n_vms + m->n_dying) * sizeof(pid_t));
	if (!p)
		return -ENOMEM;
	for (size_t i = 0; i < m->n_vms; i++)
		p[n++] = m->vms[i]->pid;
	for (size_t i = 0; i < m->n_dying; i++)
		p[n++] = m->dying[i].pid;
	qsort(p, n, sizeof(pid_t), pid_cmp);
	for (size_t i = 0; i < n; i++)
		if (k == 0 || p[k - 1] != p[i])
			p[k++] = p[i];
	*ret = p;
	*ret_n = k;
	return 0;
}

uint64_t vm_model_generation(const VmModel *m)
{
	return m->generation;
}

uint64_t vm_model_exits_unattributed(const VmModel *m)
{
	return m->exits_unattributed;
}

bool vm_model_scanning(const VmModel *m)
{
	return m->scanning;
}
