// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * What the observers tell the manager, and the VM model in between: a
 * VFIO open, an exit, a pidfd hang-up, a machine or a unit job becomes a
 * probe, a look or a scan; the model's events (a VM found, its teardown
 * counted, its stop announced) become decisions.  The exit filter keeps
 * the kernel telling us only about the processes the model watches.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "event-util.h"
#include "log.h"
#include "manager.h"

#define RESCAN_DEFER_USEC (200 * USEC_PER_MSEC)
/*
 * The most processes a look probes one by one, on the loop; more (a host
 * that started thousands since the last look) are left to a scan of every
 * process, which runs a slice at a time.
 */
#define LOOK_PROBES_MAX 256
/*
 * How long, and how many of, the processes a look found running without
 * VFIO files are probed again at the following looks: a VMM opens its
 * first VFIO file within seconds of its fork, even on a host starting many
 * VMs at once; a few of its own exits and helpers ride along.
 */
#define LOOK_RECENT_USEC (30 * USEC_PER_SEC)
#define LOOK_RECENT_MAX 64
/*
 * How long the exit filter may keep the pids of VMs that died: a stale pid
 * costs a wake-up only if a new process gets it and dies meanwhile, while
 * each new filter is a program the kernel converts (and JITs) for each
 * exit socket.  In a mass shutdown the VMs' deaths share one narrowing.
 */
#define EXIT_FILTER_NARROW_USEC (2 * USEC_PER_SEC)
/*
 * How long the VFIO watch is not read after a VM's exit in a storm: the
 * dying VMM's group and container closes follow its exit (taskstats tells
 * before exit_files()) and are news to nobody then; read at the first
 * wake-up after the shorter bound, they cost none of their own, and an
 * open (a VM starting) is seen at the longer one at the latest.
 */
#define VFIO_HOLD_OFF_USEC (250 * USEC_PER_MSEC)
#define VFIO_HOLD_OFF_MAX_USEC (500 * USEC_PER_MSEC)

/* ---- the exit filter ---------------------------------------------------- */

/*
 * The kernel keeps the exit events of the processes the model watches
 * (its VMs, and the exits it counted while their files were open), and
 * drops every other process's: a host forking thousands of processes a
 * second wakes smmud for none of them.  A VM smmud has not found yet is
 * a process that opened a VFIO node (the watch on /dev/vfio,
 * /dev/vfio/devices and /dev/iommu hears every open): from that open
 * until a look or a scan has been into it, every group's death passes,
 * and the model looks at each unknown one as before.
 */
void manager_update_exit_filter(Manager *m)
{
	_cleanup_free_ pid_t *pids = NULL;
	bool all = rescans_opens_pending(m->rescans);
	uint64_t gen;
	size_t n = 0;
	int r;

	if (sd_event_source_set_enabled(m->filter_narrow, SD_EVENT_OFF) < 0)
		log_debug("Cannot turn the exit filter's narrowing off.");
	if (!m->exitwatch || !m->started)
		return;
	/*
	 * The proc connector events that would say the dying exits are past
	 * exit_files() do not come where taskstats is filtered: asked here.
	 * One still in do_exit() stays in the filter until a later update.
	 */
	vm_model_prune_dying(m->vms);
	gen = vm_model_generation(m->vms);
	if (m->filter_set && all == m->filter_all && (all || gen == m->filter_generation))
		return;
	if (!all && vm_model_watched_pids(m->vms, &pids, &n) < 0) {
		log_oom();
		all = true;
	}
	r = exitwatch_set_filter(m->exitwatch, pids, n, all);
	if (r < 0)
		/* The source keeps its last filter, or none: more wake-ups, no exit lost. */
		log_debug_errno(r, "Exit events: not every source could be filtered: %m");
	m->filter_set = true;
	m->filter_all = all;
	m->filter_generation = gen;
	m->costs.exit_filter = exitwatch_filtered(m->exitwatch, EXIT_SOURCE_TASKSTATS) ||
			       exitwatch_filtered(m->exitwatch, EXIT_SOURCE_PROC_CONNECTOR);
	m->costs.exit_filter_all = all;
	m->costs.exit_filter_pids = all ? 0 : n;
	m->costs.exit_filter_updates++;
	manager_update_status(m);
	if (all)
		log_debug("Exit events: the kernel keeps every group's death (a VFIO open is being looked into).");
	else
		log_debug("Exit events: the kernel keeps the deaths of %zu process(es), drops the rest.", n);
}

static int on_filter_narrow(sd_event_source *s, uint64_t usec, void *userdata)
{
	manager_update_exit_filter(ASSERT_PTR(userdata));
	return 0;
}

/*
 * The watched set changed: at once if it grew (the new VM's exit must
 * pass); if it only shrank, EXIT_FILTER_NARROW_USEC after the first
 * shrink, whatever shrank meanwhile.  A VM that closed its files and runs
 * on shrinks it too, and waits like the rest: its exit, if it comes
 * before, costs one wake-up and a look at its files, where a new filter
 * is a program built, checked and attached per source (2.3-3.3 ms of
 * smmud's CPU in the test guest, more than an exit's whole wake-up), in
 * the middle of the storm that closed them.
 */
static void exit_filter_changed(Manager *m, bool grew)
{
	int enabled = 0;

	if (grew || !m->filter_set) {
		manager_update_exit_filter(m);
		return;
	}
	if (vm_model_generation(m->vms) == m->filter_generation ||
	    (sd_event_source_get_enabled(m->filter_narrow, &enabled) >= 0 && enabled))
		return;
	if (sd_event_source_set_time_relative(m->filter_narrow, EXIT_FILTER_NARROW_USEC) < 0 ||
	    sd_event_source_set_enabled(m->filter_narrow, SD_EVENT_ONESHOT) < 0)
		manager_update_exit_filter(m);
}

/* ---- VMs: the model's events ------------------------------------------- */

static const char *vm_label(Manager *m, const Vm *vm, char *buf, size_t size)
{
	const char *name = m->machines ? machinewatch_name_for_pid(m->machines, vm->pid) : NULL;

	snprintf(buf, size, "%s (pid %d)", name ?: vm->name ?: vm->unit ?: vm->comm ?: "?",
		 (int)vm->pid);
	return buf;
}

/* The next pinned memory reads (pinnedreads.h says when), or none. */
static void schedule_pinned_reads(Manager *m)
{
	uint64_t when;
	int r;

	/* No VM left: nothing planned until the next one is found. */
	if (vm_model_n_vms(m->vms) == 0)
		pinned_reads_done(&m->pinned_reads);
	when = pinned_reads_next(&m->pinned_reads);
	if (when == USEC_INFINITY)
		r = sd_event_source_set_enabled(m->pinned_timer, SD_EVENT_OFF);
	else
		r = event_timer_arm(m->pinned_timer, when, SD_EVENT_ONESHOT);
	if (r < 0)
		manager_fail(m, r, "schedule the pinned memory reads");
}

static int on_pinned_reads(sd_event_source *s, uint64_t usec, void *userdata)
{
	Manager *m = ASSERT_PTR(userdata);
	bool changed = false, all;

	if (!pinned_reads_begin(&m->pinned_reads, usec, &all)) {
		schedule_pinned_reads(m);
		return 0;
	}
	for (size_t i = 0; i < vm_model_n_vms(m->vms); i++) {
		const Vm *vm = vm_model_vm(m->vms, i);
		uint64_t bytes;
		int r;

		if (!pinned_reads_wants(&m->pinned_reads, usec, all, vm->pid, vm->starttime))
			continue;
		r = vm_read_pinned(&m->proc, vm->pid, vm->starttime, &bytes);
		if (r < 0) {
			/* Gone: its exit event, pidfd or the next scan tells the model. */
			if (r != -ESRCH)
				log_debug_errno(r, "Cannot read the pinned memory of pid %d: %m",
						(int)vm->pid);
			continue;
		}
		if (bytes == vm->pinned_bytes)
			continue;
		log_debug("pid %d: %" PRIu64 " bytes pinned (was %" PRIu64 ").", (int)vm->pid, bytes,
			  vm->pinned_bytes);
		(void)vm_model_set_pinned(m->vms, vm->pid, vm->starttime, bytes);
		changed = true;
	}
	if (changed)
		manager_update_status(m);
	pinned_reads_end(&m->pinned_reads, usec, all);
	schedule_pinned_reads(m);
	return 0;
}

/* The model's question "what is pid now?", answered from /proc. */
static int probe_process(pid_t pid, bool want_files, VmProcess *ret, void *userdata)
{
	Manager *m = ASSERT_PTR(userdata);

	return vm_probe(&m->proc, pid, want_files, ret);
}

/*
 * A VM found before its VMM was registered with machined ran in its
 * starter's unit then; machined has moved it into the machine's scope
 * since (or is about to: its MachineNew comes before the scope's start
 * job has run, so the cgroup would still say the old unit).  machined's
 * word is the unit.
 */
static void take_machine_unit(Manager *m, pid_t pid)
{
	const char *unit = machinewatch_unit_for_pid(m->machines, pid);
	const char *name = machinewatch_name_for_pid(m->machines, pid);
	const Vm *vm = vm_model_find(m->vms, pid);
	bool moved = false;
	int r;

	if (!vm)
		return;
	/* Its name too, for its exit's log line: machined may be gone by then (a power-off). */
	if (name && vm_model_set_name(m->vms, vm->pid, vm->starttime, name) < 0)
		log_oom();
	if (!unit)
		return;
	r = vm_model_set_unit(m->vms, vm->pid, vm->starttime, unit, &moved);
	if (r < 0)
		log_oom();
	else if (moved)
		log_debug("VM pid %d: unit %s, as machined says.", (int)pid, unit);
}

static void on_vm_found(Manager *m, const VmEvent *e)
{
	const Vm *vm = vm_model_find(m->vms, e->pid);
	const Smmu *smmus[VM_EVENT_SMMUS_MAX];
	size_t n_smmus;
	char label[128];
	int r;

	if (!vm || vm->starttime != e->starttime)
		return; /* gone again, by an event queued before this one */
	r = pidwatch_add(m->pidwatch, vm->pid, vm->starttime);
	if (r == -ESRCH) {
		/* It was a VM a moment ago: its death counts (if not counted yet). */
		r = vm_model_gone(m->vms, e->pid, e->starttime, "gone at discovery",
				  event_now(m->event));
		if (r < 0)
			log_oom();
		return;
	}
	if (r < 0)
		log_debug_errno(r, "No pidfd for pid %d, its exit comes from exit events and scans: %m",
				(int)vm->pid);
	/* machined may know it and we missed the signal: ask once (no timer). */
	if (m->machines && !machinewatch_name_for_pid(m->machines, vm->pid)) {
		r = machinewatch_reconcile(m->machines);
		if (r < 0)
			log_debug_errno(r, "Cannot ask machined for machines: %m");
	}
	take_machine_unit(m, vm->pid);
	/* It may die with others: its SMMUs' storm values on disk now, not at the first exit. */
	n_smmus = vm_model_smmus_of(m->vms, vm, smmus, ELEMENTSOF(smmus));
	for (size_t i = 0; i < n_smmus; i++) {
		ManagedSmmu *ms = smmu_set_find(&m->smmus, smmus[i]->name);

		if (ms)
			smmu_arm(ms, m->knobs, true);
	}
	log_info("VM %s: %zu group(s), %" PRIu64 " bytes pinned%s.",
		 vm_label(m, vm, label, sizeof(label)), vm->n_groups, vm->pinned_bytes,
		 vm->iommufd ? ", iommufd" : "");
	/* Its memory is being mapped: read soon. */
	if (pinned_reads_found(&m->pinned_reads, vm->pid, vm->starttime, event_now(m->event)) < 0)
		log_oom();
	schedule_pinned_reads(m);
}

static void look_recent_add(Manager *m, pid_t pid, uint64_t now);

/* A VM's teardown, counted against its SMMUs: decide for them right away, the latency path. */
/*
 * In a storm on every SMMU the VFIO closes that follow a VM's exit can
 * change no decision: counted at its exit already, a dying VM's closes
 * find no VM, and another VM's close would only extend the storm.  Out of
 * a storm a close may be the exit that starts one, and is read at once.
 */
static void hold_off_vfio_closes(Manager *m, uint64_t now)
{
	int r;

	if (m->smmus.n == 0)
		return;
	for (size_t i = 0; i < m->smmus.n; i++)
		if (!m->smmus.items[i]->decided || !m->smmus.items[i]->decision.storm)
			return;
	r = vfiowatch_hold_off(m->vfiowatch, now + VFIO_HOLD_OFF_USEC, now + VFIO_HOLD_OFF_MAX_USEC);
	if (r < 0)
		log_debug_errno(r, "Cannot hold off the VFIO watch, reading it as it comes: %m");
}

static void on_vm_exit(Manager *m, const VmEvent *e)
{
	char label[128], smmus[192] = "";
	char bytes[FORMAT_BYTES_MAX];

	/* Decide (and write) first, log after: the dying VMM's teardown is near. */
	for (size_t i = 0; i < e->n_smmus; i++) {
		ManagedSmmu *ms = smmu_set_find(&m->smmus, e->smmus[i]->name);

		if (!ms)
			continue;
		/* Counted at its stop job already, if this SMMU counts those. */
		if (policy_record_exit(&ms->policy, ms->settings, e->counted_usec,
				       e->vm->pinned_bytes,
				       ms->settings->count_vm_stops ? e->vm->stopping_usec : 0) < 0)
			log_oom();
		manager_decide_one(m, ms, e->counted_usec, false);
		snprintf(smmus + strlen(smmus), sizeof(smmus) - strlen(smmus), "%s%s", i ? "," : "",
			 ms->name);
	}
	hold_off_vfio_closes(m, event_now(m->event));
	pinned_reads_exit(&m->pinned_reads, event_now(m->event));
	if (vm_model_n_vms(m->vms) == 0)
		schedule_pinned_reads(m);
	if (e->was_tracked)
		pidwatch_remove(m->pidwatch, e->pid);
	/* A VMM that closed its files may open them again (a device plugged back): looks try it first. */
	if (e->lives_on)
		look_recent_add(m, e->pid, e->counted_usec);
	vm_label(m, e->vm, label, sizeof(label));
	log_struct(LOG_INFO,
		   "SMMUD_VM=%s", label,
		   "SMMUD_DECISION=vm-exit",
		   "%s%s", *smmus ? "SMMUD_SMMU=" : "", smmus,
		   LOG_MESSAGE("VM %s exited (%s, %s pinned), behind %s.", label, e->source,
			       format_bytes(bytes, sizeof(bytes), e->vm->pinned_bytes),
			       *smmus ? smmus : "no known SMMU"));
	if (e->heard_usec && e->heard_usec <= e->counted_usec)
		log_debug("Exit of pid %d handled %" PRIu64 " us after the event.", (int)e->pid,
			  e->counted_usec - e->heard_usec);
	manager_schedule_deadline(m);
}

/* A VM's stop job: its exit is coming, and counts now where OnVmStop= says so. */
static void on_vm_stopping(Manager *m, const VmEvent *e)
{
	const Vm *vm = vm_model_find(m->vms, e->pid);
	char label[128], smmus[192] = "";

	if (!vm)
		return;
	for (size_t i = 0; i < e->n_smmus; i++) {
		ManagedSmmu *ms = smmu_set_find(&m->smmus, e->smmus[i]->name);

		if (!ms || !ms->settings->count_vm_stops)
			continue;
		if (policy_record_stop(&ms->policy, ms->settings, e->counted_usec,
				       vm->pinned_bytes) < 0)
			log_oom();
		manager_decide_one(m, ms, e->counted_usec, false);
		snprintf(smmus + strlen(smmus), sizeof(smmus) - strlen(smmus), "%s%s", *smmus ? "," : "",
			 ms->name);
	}
	vm_label(m, vm, label, sizeof(label));
	log_struct(LOG_INFO,
		   "SMMUD_VM=%s", label,
		   "SMMUD_DECISION=vm-stopping",
		   "%s%s", *smmus ? "SMMUD_SMMU=" : "", smmus,
		   LOG_MESSAGE("VM %s is being stopped (a stop job for its unit), counted behind %s.",
			       label, *smmus ? smmus : "no SMMU that counts stop jobs"));
	manager_schedule_deadline(m);
}

static void on_vm_dropped(Manager *m, const VmEvent *e)
{
	pidwatch_remove(m->pidwatch, e->pid);
	log_info("pid %d no longer holds VFIO or iommufd files.", (int)e->pid);
}

/* Acts on what the model concluded from its inputs, in order (r: the input's result). */
static void handle_vm_events(Manager *m, int r)
{
	bool any = false, grew = false, exited = false;
	VmEvent e;

	if (r < 0)
		log_oom();
	while (vm_model_next_event(m->vms, &e)) {
		switch (e.kind) {
		case VM_EVENT_FOUND:
			on_vm_found(m, &e);
			grew = true;
			break;
		case VM_EVENT_EXIT:
			on_vm_exit(m, &e);
			exited = true;
			break;
		case VM_EVENT_DROPPED:
			on_vm_dropped(m, &e);
			break;
		case VM_EVENT_STOPPING:
			on_vm_stopping(m, &e);
			break;
		default:
			assert_not_reached();
		}
		vm_event_done(&e);
		any = true;
	}
	if (any)
		manager_update_status(m);
	exit_filter_changed(m, grew);
	/*
	 * Told now, after the decisions and their log lines: left to the
	 * outbox's idle source, each exit of a storm costs a turn of the loop
	 * more (an epoll_wait() and a dispatch) while the VMMs die.
	 */
	if (exited)
		outbox_flush(m->outbox);
}

static void on_rescan_topology(void *userdata)
{
	Manager *m = ASSERT_PTR(userdata);

	if (manager_rescan_topology(m) >= 0)
		manager_decide_all(m, true);
}

static void on_scan_begin(void *userdata)
{
	Manager *m = ASSERT_PTR(userdata);

	/* Before the scan: a VM opening its files meanwhile is seen next time. */
	(void)vfiowatch_update(m->vfiowatch);
	vm_model_scan_begin(m->vms);
	/* A look after it probes only what is started from now on. */
	m->look_recent_lost_usec = 0;
	if (vm_pid_cursor_now(&m->proc, &m->pid_cursor) < 0)
		m->pid_cursor.set = false;
}

static void on_scan_done(int error, Vm **found, size_t n_found, void *userdata)
{
	Manager *m = ASSERT_PTR(userdata);

	if (error < 0) {
		log_warning_errno(error, "Failed to scan processes for VMs: %m");
		vm_model_scan_abort(m->vms);
	} else
		handle_vm_events(m, vm_model_scan_end(m->vms, found, n_found, event_now(m->event)));
	free(found);
	manager_update_status(m);
	manager_update_exit_filter(m);
}

/*
 * Looks at the processes pids (n of them, sorted) one by one: those found
 * VMs join the model (*ret_found set, if given); those running without a
 * VFIO file go to ret_no_vm (room for n, in the order of pids), if given,
 * *ret_n_no_vm of them.
 */
static void probe_pids(Manager *m, const pid_t *pids, size_t n, pid_t *ret_no_vm,
		       size_t *ret_n_no_vm, bool *ret_found)
{
	uint64_t now = event_now(m->event);
	size_t n_no_vm = 0;
	int r = 0;

	for (size_t i = 0; i < n; i++) {
		Vm *vm;
		int k;

		if ((i > 0 && pids[i] == pids[i - 1]) || vm_model_find(m->vms, pids[i]))
			continue;
		m->costs.probes++;
		k = vm_scan_pid(&m->proc, pids[i], &vm);
		if (k == -ENOMEM)
			r = k;
		if (k == -ENOENT && ret_no_vm)
			ret_no_vm[n_no_vm++] = pids[i];
		if (k < 0)
			continue; /* gone, no VM, or unreadable */
		k = vm_model_probed(m->vms, vm, now);
		if (k < 0 && r == 0)
			r = k;
		if (ret_found)
			*ret_found = true;
	}
	if (ret_n_no_vm)
		*ret_n_no_vm = n_no_vm;
	handle_vm_events(m, r);
}

static int pid_cmp(const void *a, const void *b)
{
	pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;

	return (x > y) - (x < y);
}

/* Whether a VM the model knows holds the node o. */
static bool known_holder(Manager *m, const VfioOpened *o)
{
	uint32_t group = o->group;

	if (o->kind == VFIO_OPENED_DEVICE && vm_device_group(m->root, o->device, &group) < 0)
		return false;
	for (size_t i = 0; i < vm_model_n_vms(m->vms); i++) {
		const Vm *vm = vm_model_vm(m->vms, i);

		if (o->kind == VFIO_OPENED_IOMMUFD) {
			if (vm->iommufd)
				return true;
			continue;
		}
		for (size_t g = 0; g < vm->n_groups; g++)
			if (vm->groups[g] == group)
				return true;
	}
	return false;
}

static bool pid_in(pid_t pid, const pid_t *sorted, size_t n)
{
	return n > 0 && bsearch(&pid, sorted, n, sizeof(pid_t), pid_cmp);
}

/* pid goes to the processes looks probe again, dated now, unless it is there already. */
static void look_recent_add(Manager *m, pid_t pid, uint64_t now)
{
	RecentProcess *np;

	for (size_t i = 0; i < m->n_look_recent; i++)
		if (m->look_recent[i].pid == pid)
			return;
	/* Full: the oldest stay; a newcomer is left to a scan (on_look). */
	if (m->n_look_recent >= LOOK_RECENT_MAX) {
		m->look_recent_lost_usec = now;
		return;
	}
	np = reallocarray(m->look_recent, m->n_look_recent + 1, sizeof(RecentProcess));
	if (!np)
		return (void)log_oom();
	m->look_recent = np;
	m->look_recent[m->n_look_recent++] = (RecentProcess){ .pid = pid, .since_usec = now };
}

/*
 * The recent processes a look will probe again: those it probed, fresh
 * (n_fresh started since the previous look) or recent already, that are
 * still running without a VFIO file (no_vm, sorted), and those it had no
 * need to probe (unprobed, sorted).
 */
static void look_recent_update(Manager *m, const pid_t *fresh, size_t n_fresh,
			       const pid_t *no_vm, size_t n_no_vm, const pid_t *unprobed,
			       size_t n_unprobed, uint64_t now)
{
	size_t n = 0;

	for (size_t i = 0; i < m->n_look_recent; i++) {
		RecentProcess p = m->look_recent[i];

		if (now - p.since_usec < LOOK_RECENT_USEC &&
		    (pid_in(p.pid, no_vm, n_no_vm) || pid_in(p.pid, unprobed, n_unprobed)))
			m->look_recent[n++] = p;
	}
	m->n_look_recent = n;
	for (size_t i = 0; i < n_fresh; i++)
		if (pid_in(fresh[i], no_vm, n_no_vm) || pid_in(fresh[i], unprobed, n_unprobed))
			look_recent_add(m, fresh[i], now);
}

/* Whether every node opened has a VM the model knows holding it. */
static bool opened_known(Manager *m, const VfioOpened *opened, size_t n_opened, bool say)
{
	bool known = true;

	for (size_t i = 0; i < n_opened; i++)
		if (!known_holder(m, &opened[i])) {
			if (say)
				log_debug("A VFIO node opened (%s %u%s%s) is held by no VM known: scanning.",
					  opened[i].kind == VFIO_OPENED_GROUP    ? "group"
					  : opened[i].kind == VFIO_OPENED_DEVICE ? "device"
										 : "iommufd",
					  opened[i].group, opened[i].device ? " " : "",
					  opened[i].device ?: "");
			known = false;
		}
	return known;
}

/*
 * Whether the look may stop at the first candidate after which a known VM
 * holds every node opened.  A group has one opener at a time, so a VM found
 * holding it is its opener; but not a VM known before the look (it may be
 * dying, its exit not read yet, while another process opened the group
 * after its close).  A device cdev or iommufd may have other openers
 * besides: a look for those probes every candidate.
 */
static bool look_may_stop(Manager *m, const VfioOpened *opened, size_t n_opened)
{
	for (size_t i = 0; i < n_opened; i++)
		if (opened[i].kind != VFIO_OPENED_GROUP || known_holder(m, &opened[i]))
			return false;
	return true;
}

/* Appends pid to pids (room made by the caller) unless it is there already. */
static void candidate_add(pid_t *pids, size_t *n, pid_t pid)
{
	for (size_t i = 0; i < *n; i++)
		if (pids[i] == pid)
			return;
	pids[(*n)++] = pid;
}

/*
 * VFIO nodes were opened: who did it, without a scan of every process?
 * The processes earlier looks found without VFIO files (one may have been
 * between its fork and its open then, or a VM that closed its files and
 * runs on), newest first, then those started since the last look (a VMM
 * opens its files as it starts), newest first, then the leaders of
 * machined's machines and the processes under machine.slice (a running VM
 * hot-plugging its first device).  When only groups no VM known held were
 * opened, the look stops at the first candidate after which a known VM
 * holds every one of them, and the candidates it did not probe are probed
 * again by the following looks, as recent.  Enough if every node opened
 * and still held is held by a VM known now, and the look found an opener
 * whenever a process it would have probed could not be kept; otherwise (a
 * node no VM known holds, lost inotify events, an unreadable /proc)
 * rescans scans every process, and counts it.
 */
static bool on_look(void *userdata)
{
	Manager *m = ASSERT_PTR(userdata);
	_cleanup_free_ pid_t *pids = NULL, *fresh = NULL, *cands = NULL, *no_vm = NULL;
	VfioOpened *opened = NULL;
	size_t n = 0, n_fresh, n_cands = 0, n_no_vm = 0, n_opened = 0, n_leaders, probed = 0;
	uint64_t now = event_now(m->event);
	bool overflow = false, found = false, known, can_stop;
	int r;

	r = vfiowatch_take_opened(m->vfiowatch, &opened, &n_opened, &overflow);
	if (r < 0 || overflow)
		return false;
	if (n_opened == 0)
		return true; /* closed again already: nothing is held that was opened */
	r = vm_scan_new_pids(&m->proc, &m->pid_cursor, &fresh, &n_fresh);
	if (r < 0) {
		log_debug_errno(r, "Cannot tell the processes started since the last look: %m");
		vfio_opened_array_free(opened, n_opened);
		return false;
	}
	n_leaders = machinewatch_leaders(m->machines, NULL, 0);
	pids = n_leaders > 0 ? calloc(n_leaders, sizeof(pid_t)) : NULL;
	if (n_leaders > 0 && !pids) {
		log_oom();
		vfio_opened_array_free(opened, n_opened);
		return false;
	}
	if (n_leaders > 0)
		n = machinewatch_leaders(m->machines, pids, n_leaders);
	if (vm_scan_cgroup_pids(m->root, "machine.slice", &pids, &n) < 0)
		log_debug("Cannot read the processes under machine.slice.");
	if (m->n_look_recent + n_fresh + n > LOOK_PROBES_MAX) {
		log_debug("%zu processes may have opened VFIO nodes: scanning.",
			  m->n_look_recent + n_fresh + n);
		vfio_opened_array_free(opened, n_opened);
		return false;
	}
	cands = calloc(m->n_look_recent + n_fresh + n + 1, sizeof(pid_t));
	no_vm = calloc(m->n_look_recent + n_fresh + n + 1, sizeof(pid_t));
	if (!cands || !no_vm) {
		log_oom();
		vfio_opened_array_free(opened, n_opened);
		return false;
	}
	for (size_t i = m->n_look_recent; i-- > 0;)
		if (now - m->look_recent[i].since_usec < LOOK_RECENT_USEC)
			candidate_add(cands, &n_cands, m->look_recent[i].pid);
	for (size_t i = n_fresh; i-- > 0;)
		candidate_add(cands, &n_cands, fresh[i]);
	for (size_t i = 0; i < n; i++)
		candidate_add(cands, &n_cands, pids[i]);

	can_stop = look_may_stop(m, opened, n_opened);
	while (probed < n_cands) {
		bool vm = false;
		size_t k = 0;

		probe_pids(m, &cands[probed], 1, no_vm + n_no_vm, &k, &vm);
		n_no_vm += k;
		probed++;
		found = found || vm;
		if (can_stop && vm && opened_known(m, opened, n_opened, false))
			break;
	}
	if (n_no_vm > 1)
		qsort(no_vm, n_no_vm, sizeof(pid_t), pid_cmp);
	/* What is left: probed again by the following looks. */
	if (n_cands - probed > 1)
		qsort(cands + probed, n_cands - probed, sizeof(pid_t), pid_cmp);
	look_recent_update(m, fresh, n_fresh, no_vm, n_no_vm, cands + probed, n_cands - probed,
			   now);

	known = opened_known(m, opened, n_opened, true);
	vfio_opened_array_free(opened, n_opened);
	/*
	 * A node a known VM holds may have a second opener (two processes
	 * sharing a group): if the look found none, it may be one the list
	 * could not keep.
	 */
	if (known && !found && m->look_recent_lost_usec > 0 &&
	    now - m->look_recent_lost_usec < LOOK_RECENT_USEC) {
		log_debug("No opener found, and a process looks would probe was not kept: scanning.");
		return false;
	}
	return known;
}

static void on_opens_covered(void *userdata)
{
	manager_update_exit_filter(ASSERT_PTR(userdata));
}

/* ---- observers' callbacks ---------------------------------------------- */

static void on_exit_event(pid_t tgid, ExitSource src, uint64_t when_usec, void *userdata)
{
	Manager *m = ASSERT_PTR(userdata);
	/* Taskstats comes before exit_files(), the proc connector after it. */
	bool files_open = src == EXIT_SOURCE_TASKSTATS;

	handle_vm_events(m, vm_model_exit(m->vms, tgid, exit_source_to_string(src), files_open,
					  when_usec, exitwatch_queued_after(m->exitwatch, src),
					  event_now(m->event)));
}

static void on_exit_lost(ExitSource src, void *userdata)
{
	Manager *m = ASSERT_PTR(userdata);

	log_warning("Exit events from %s were lost: rescanning VMs.", exit_source_to_string(src));
	/* A VM's own exit may be among them: until seen again, an exit of its pid is checked. */
	vm_model_forget_seen(m->vms);
	/* One under way read some processes before the loss: one more after it, then. */
	rescans_scan(m->rescans);
}

static void on_pid_exited(pid_t pid, uint64_t starttime, void *userdata)
{
	Manager *m = ASSERT_PTR(userdata);

	/* Readable once the whole thread group is dead: its files are closed. */
	handle_vm_events(m, vm_model_gone(m->vms, pid, starttime, "pidfd", event_now(m->event)));
}

/*
 * A close may be a VM's last VFIO file going: no debounce, the kernel's
 * teardown follows it.  A close starts no VM: the model looks at the VMs
 * holding that group alone, far cheaper than an open's full scan.
 */
static void on_vfio_closed(uint32_t group, void *userdata)
{
	Manager *m = ASSERT_PTR(userdata);

	handle_vm_events(m, vm_model_vfio_closed(m->vms, group, vfiowatch_queued_after(m->vfiowatch),
						 event_now(m->event)));
}

static void on_vfio_lost(void *userdata)
{
	Manager *m = ASSERT_PTR(userdata);

	log_warning("VFIO node events were lost: rescanning VMs.");
	/*
	 * A VM's close may be among them, and an open of its group by another
	 * process after it: until seen again, no close is taken for a VM's own
	 * without a look at its files (closed_its_only_file()).
	 */
	vm_model_forget_seen(m->vms);
}

static void on_vfio_opened(void *userdata)
{
	Manager *m = ASSERT_PTR(userdata);
	int r = rescans_vfio_opened(m->rescans);

	if (r < 0)
		manager_fail(m, r, "schedule a look");
	/* Until it is looked into, the opener's death must be heard whoever it is. */
	manager_update_exit_filter(m);
}

static void schedule_rescan(Manager *m, bool topology)
{
	int r = rescans_schedule(m->rescans, topology, true, RESCAN_DEFER_USEC);

	if (r < 0)
		manager_fail(m, r, "schedule a rescan");
}

static void on_machines_changed(void *userdata)
{
	Manager *m = ASSERT_PTR(userdata);
	_cleanup_free_ pid_t *pids = NULL;
	size_t n = machinewatch_leaders(m->machines, NULL, 0);

	/* A new machine is most likely a new VM: its leader, looked at alone. */
	if (n == 0)
		return;
	pids = calloc(n, sizeof(pid_t));
	if (!pids)
		return (void)log_oom();
	n = machinewatch_leaders(m->machines, pids, n);
	qsort(pids, n, sizeof(pid_t), pid_cmp);
	/*
	 * Watched before it is looked at: libvirt registers the machine
	 * before QEMU opens its group files, in a /dev of the VM's own that
	 * the host's watches do not see.
	 */
	for (size_t i = 0; i < n; i++) {
		int r = m->vfiowatch ? vfiowatch_watch_process(m->vfiowatch, pids[i]) : 0;

		if (r < 0)
			log_debug_errno(r, "Cannot watch the /dev of machine leader %d: %m", (int)pids[i]);
	}
	probe_pids(m, pids, n, NULL, NULL, NULL);
	for (size_t i = 0; i < n; i++)
		take_machine_unit(m, pids[i]);
}

static void on_devices_changed(bool topology, void *userdata)
{
	/* vfio: a group node came or went, a VM may be starting; pci/iommu: topology. */
	schedule_rescan(ASSERT_PTR(userdata), topology);
}

static void on_shutdown(bool start, const char *why, void *userdata)
{
	Manager *m = ASSERT_PTR(userdata);
	bool announced = m->announced.shutdown_until == USEC_INFINITY;

	if (start == announced)
		return;
	if (start) {
		log_notice("Host shutdown announced (%s): storm settings on every SMMU with OnShutdown=yes.",
			   why);
		m->announced.shutdown_until = USEC_INFINITY;
		free(m->shutdown_why);
		m->shutdown_why = strdup(why);
	} else {
		log_notice("Host shutdown cancelled (%s): its storms end HoldTime after the last exit.",
			   why);
		m->announced.shutdown_until = event_now(m->event);
	}
	manager_decide_all(m, false);
}

static void on_guests_stopping(bool stopping, void *userdata)
{
	Manager *m = ASSERT_PTR(userdata);
	bool announced = m->announced.guests_until == USEC_INFINITY;

	if (stopping == announced)
		return;
	if (stopping)
		log_notice(LIBVIRT_GUESTS_UNIT " stops every guest: storm settings on every SMMU with "
			   "OnGuestsStop=yes.");
	m->announced.guests_until = stopping ? USEC_INFINITY : event_now(m->event);
	manager_decide_all(m, false);
}

/*
 * A job for a VM's scope stops it: a scope is never started again or
 * reloaded.  Its VMs are the VMs in that unit, and the leader of the
 * machine machined runs in it.  Jobs for anything else are no news.
 */
static void on_unit_job(const char *unit, void *userdata)
{
	Manager *m = ASSERT_PTR(userdata);
	pid_t leader;
	uint64_t now;
	int r = 0;

	if (!endswith(unit, ".scope"))
		return;
	leader = machinewatch_leader_for_unit(m->machines, unit);
	now = event_now(m->event);
	for (size_t i = 0; i < vm_model_n_vms(m->vms); i++) {
		const Vm *vm = vm_model_vm(m->vms, i);

		if (vm->pid == leader || streq_ptr(vm->unit, unit)) {
			int k = vm_model_stopping(m->vms, vm->pid, now);

			if (k < 0 && r == 0)
				r = k;
		}
	}
	handle_vm_events(m, r);
}


/* ---- exit sources and the other observers -------------------------------- */

static unsigned exit_sources(const Config *c)
{
	return (c->use_taskstats ? EXITWATCH_SOURCE(EXIT_SOURCE_TASKSTATS) : 0) |
	       (c->use_proc_connector ? EXITWATCH_SOURCE(EXIT_SOURCE_PROC_CONNECTOR) : 0);
}

int manager_start_exitwatch(Manager *m)
{
	static const ExitWatchCallbacks callbacks = {
		.exited = on_exit_event,
		.lost = on_exit_lost,
	};
	int r;

	if (m->exitwatch && exit_sources(m->config) == m->exit_sources)
		return 0;
	m->exitwatch = exitwatch_free(m->exitwatch);
	m->filter_set = false;
	r = exitwatch_new(m->event, exit_sources(m->config), &callbacks, m, &m->exitwatch);
	if (r < 0)
		return log_error_errno(r, "Failed to set up exit events: %m");
	m->exit_sources = exit_sources(m->config);
	manager_update_exit_filter(m);
	return 0;
}

int manager_start_observers(Manager *m)
{
	int r;

	r = manager_start_exitwatch(m);
	if (r < 0)
		return r;
	if (m->bus && m->config->use_machined) {
		r = machinewatch_new(m->bus, m->event, on_machines_changed, m, &m->machines);
		if (r < 0)
			log_warning_errno(r, "No VM names from machined: %m");
	}
	if (m->bus) {
		static const ShutdownWatchCallbacks callbacks = {
			.shutdown = on_shutdown,
			.guests_stopping = on_guests_stopping,
			.unit_job = on_unit_job,
		};

		r = shutdownwatch_new(m->bus, &callbacks, m, &m->shutdownwatch);
		if (r < 0)
			log_warning_errno(r, "Host shutdowns will not be seen in advance: %m");
	}
	/* Uevents describe the real host: with a test root they would lie. */
	if (streq(m->root, "/")) {
		r = devicewatch_new(m->event, on_devices_changed, m, &m->devices);
		if (r < 0)
			log_warning_errno(r, "No uevents (%m): topology rescans on SIGUSR1 and reload only.");
	}
	return 0;
}

int manager_new_observers(Manager *m)
{
	static const VfioWatchCallbacks vfio_callbacks = {
		.opened = on_vfio_opened,
		.closed = on_vfio_closed,
		.lost = on_vfio_lost,
	};
	static const RescanCallbacks rescan_callbacks = {
		.topology = on_rescan_topology,
		.scan_begin = on_scan_begin,
		.scan_done = on_scan_done,
		.look = on_look,
		.opens_covered = on_opens_covered,
	};
	int r;

	r = vm_model_new(probe_process, m, &m->vms);
	if (r >= 0)
		r = pidwatch_new(m->event, on_pid_exited, m, &m->pidwatch);
	/* Exit events and decisions go first: VFIO events, scans and rescans after them. */
	if (r >= 0)
		r = vfiowatch_new(m->event, m->root, SD_EVENT_PRIORITY_IDLE, &vfio_callbacks, m,
				  &m->vfiowatch);
	if (r >= 0)
		r = rescans_new(m->event, m->root, &rescan_callbacks, m, &m->rescans);
	if (r >= 0)
		r = sd_event_add_time(m->event, &m->pinned_timer, CLOCK_MONOTONIC, USEC_INFINITY, 0,
				      on_pinned_reads, m);
	if (r >= 0)
		r = event_source_setup(m->pinned_timer, SD_EVENT_PRIORITY_IDLE, "pinned-refresh");
	if (r >= 0)
		r = sd_event_add_time(m->event, &m->filter_narrow, CLOCK_MONOTONIC, USEC_INFINITY, 0,
				      on_filter_narrow, m);
	if (r >= 0)
		r = event_source_setup(m->filter_narrow, SD_EVENT_PRIORITY_IDLE, "exit-filter-narrow");
	return r;
}

void manager_rescan_all(Manager *m)
{
	on_rescan_topology(m);
	rescans_scan(m->rescans);
}
