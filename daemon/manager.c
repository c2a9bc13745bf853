// SPDX-License-Identifier: GPL-2.0-or-later
#include <inttypes.h>
#include <signal.h>

#include <systemd/sd-daemon.h>

#include "bus.h"
#include "log.h"
#include "manager.h"
#include "metrics.h"
#include "status.h"

/* Uevents come in bursts (a device bind is several): one rescan for all. */
#define RESCAN_DEFER_USEC (200 * USEC_PER_MSEC)
/*
 * A VMM opens its groups, devices and iommufd within a few milliseconds:
 * one scan for them all, soon enough to find a VM that lives a second.
 * IN_OPEN comes before the kernel installs the fd: the delay covers that.
 */
#define OPEN_DEFER_USEC (50 * USEC_PER_MSEC)

static uint64_t now_mono(Manager *m)
{
	uint64_t t;

	if (sd_event_now(m->event, CLOCK_MONOTONIC, &t) < 0)
		t = now_usec(CLOCK_MONOTONIC);
	return t;
}

/* ---- telling ------------------------------------------------------------ */

void manager_view(Manager *m, DaemonView *ret)
{
	*ret = (DaemonView){
		.root = m->root,
		.dry_run = m->dry_run,
		.config = m->config,
		.topology = m->topology,
		.smmus = &m->smmus,
		.vms = m->vms,
		.shutdown_announced = m->shutdown_announced,
		.shutdown_why = m->shutdown_why,
		.status = m->status,
	};
}

/* After every decision and state change: the status line and the metrics file follow it. */
static void manager_update_status(Manager *m)
{
	_cleanup_free_ char *s = NULL;
	DaemonView v;

	manager_view(m, &v);
	metrics_file_update(&m->metrics, &v);
	if (status_format(&v, &s) < 0 || streq_ptr(s, m->status))
		return;
	free(m->status);
	m->status = TAKE_PTR(s);
	(void)sd_notifyf(false, "STATUS=%s", m->status);
}

/* ---- knobs ------------------------------------------------------------- */

static void schedule_drift_check(Manager *m)
{
	bool on = knobs_holding(m->knobs);
	uint64_t t;

	if (!m->drift_timer)
		return;
	if (!on) {
		(void)sd_event_source_set_enabled(m->drift_timer, SD_EVENT_OFF);
		return;
	}
	if (sd_event_source_get_enabled(m->drift_timer, NULL) > 0)
		return;
	t = now_mono(m) + m->config->drift_check_usec;
	(void)sd_event_source_set_time(m->drift_timer, t);
	(void)sd_event_source_set_enabled(m->drift_timer, SD_EVENT_ON);
}

/* ---- events ------------------------------------------------------------ */

static void emit_event_at(Manager *m, uint64_t when, const char *kind, const char *smmu,
			  const char *knob, const char *before, const char *after,
			  const char *detail)
{
	DaemonEvent e = {
		.realtime_usec = when,
		.kind = kind,
		.smmu = smmu,
		.knob = knob,
		.before = before,
		.after = after,
		.detail = detail,
	};

	if (m->control)
		bus_emit_event(m->control, &e);
}

static void emit_event(Manager *m, const char *kind, const char *smmu, const char *knob,
		       const char *before, const char *after, const char *detail)
{
	emit_event_at(m, now_usec(CLOCK_REALTIME), kind, smmu, knob, before, after, detail);
}

/* knobs.c's changes, passed on with the knob's SMMU and name, at their time. */
static void on_knob_event(const Knob *k, uint64_t realtime_usec, const char *kind,
			  const char *before, const char *after, const char *detail, void *userdata)
{
	emit_event_at(userdata, realtime_usec, kind, k->smmu, knob_attr_to_string(k->attr), before,
		      after, detail);
}

static const char *profile_text(const KnobValues *p, char *buf, size_t size)
{
	if (!p)
		return NULL;
	snprintf(buf, size, "threshold=%s teardown_mode=%s", p->threshold, p->teardown_mode);
	return buf;
}

/* ---- decisions --------------------------------------------------------- */

static void schedule_deadline(Manager *m)
{
	uint64_t next = smmu_set_next_deadline(&m->smmus);

	if (next == UINT64_MAX) {
		(void)sd_event_source_set_enabled(m->deadline_timer, SD_EVENT_OFF);
		return;
	}
	(void)sd_event_source_set_time(m->deadline_timer, next);
	(void)sd_event_source_set_enabled(m->deadline_timer, SD_EVENT_ONESHOT);
}

static void log_decision(Manager *m, const ManagedSmmu *ms, const PolicyDecision *d, bool flipped)
{
	const char *state = d->storm ? "storm" : "baseline";
	const char *dry = m->dry_run && ms->mode == SMMU_MODE_MANAGED ? " [dry run]" : "";

	if (flipped)
		log_struct(LOG_NOTICE,
			   "SMMUD_SMMU=%s", ms->name,
			   "SMMUD_DECISION=%s", policy_reason_to_string(d->reason),
			   "SMMUD_BEFORE=%s", d->storm ? "baseline" : "storm",
			   "SMMUD_AFTER=%s", state,
			   LOG_MESSAGE("%s: storm %s: %s (%s)%s", ms->name, d->storm ? "begins" : "ends",
				       d->why, smmu_mode_to_string(ms->mode), dry));
	else
		log_struct(LOG_INFO,
			   "SMMUD_SMMU=%s", ms->name,
			   "SMMUD_DECISION=%s", policy_reason_to_string(d->reason),
			   "SMMUD_BEFORE=%s", state,
			   "SMMUD_AFTER=%s", state,
			   LOG_MESSAGE("%s: %s: %s (%s)%s", ms->name, state, d->why,
				       smmu_mode_to_string(ms->mode), dry));
}

static void decide_one(Manager *m, ManagedSmmu *ms, uint64_t now, bool force_apply)
{
	const PolicyDecision *d = &ms->decision;
	SmmuDecided c;

	smmu_decide(ms, m->shutdown_announced, now, &c);
	/*
	 * The knobs first, the telling after: the exit that crossed the limit
	 * was heard before the dying VMM releases its files, and every log
	 * line or signal sent first wakes a reader that can take the CPU
	 * before the write lands.
	 */
	if (ms->mode == SMMU_MODE_MANAGED) {
		smmu_apply(ms, m->knobs, force_apply);
		schedule_drift_check(m);
	}
	if ((!c.first && c.flipped) || (c.reason_changed && d->reason >= POLICY_SHUTDOWN))
		log_decision(m, ms, d, c.flipped);
	else if (c.first)
		log_debug("%s: %s", ms->name, d->why);
	if (!c.first && c.flipped)
		emit_event(m, "storm", ms->name, NULL, c.was_storm ? "storm" : "baseline",
			   d->storm ? "storm" : "baseline", d->why);
	if (c.flipped && m->control)
		bus_emit_decision(m->control, ms, d);
	smmu_arm(ms, m->knobs);
}

static void decide_all(Manager *m, bool force_apply)
{
	uint64_t now = now_mono(m);

	for (size_t i = 0; i < m->smmus.n; i++)
		decide_one(m, m->smmus.items[i], now, force_apply);
	schedule_deadline(m);
	manager_update_status(m);
}

static int on_deadline(sd_event_source *s, uint64_t usec, void *userdata)
{
	decide_all(userdata, false);
	return 0;
}

static int on_drift_check(sd_event_source *s, uint64_t usec, void *userdata)
{
	Manager *m = userdata;

	/* A reasserting policy writes again at once; a releasing one forgets. */
	(void)knobs_check_drift_all(m->knobs);
	decide_all(m, false);
	if (knobs_holding(m->knobs)) {
		(void)sd_event_source_set_time(s, usec + m->config->drift_check_usec);
		(void)sd_event_source_set_enabled(s, SD_EVENT_ON);
	} else
		(void)sd_event_source_set_enabled(s, SD_EVENT_OFF);
	return 0;
}

/* ---- SMMUs ------------------------------------------------------------- */

ManagedSmmu *manager_find_smmu(Manager *m, const char *name)
{
	return smmu_set_find(&m->smmus, name);
}

static int adopt_topology(Manager *m, Topology *t)
{
	Topology *old = m->topology;
	int r;

	r = smmu_set_adopt(&m->smmus, t, m->knobs);
	if (r < 0)
		return r;
	m->topology = t;
	vm_model_set_topology(m->vms, t);
	topology_host_facts(t, &m->host);
	for (size_t i = 0; i < m->smmus.n; i++)
		smmu_configure(m->smmus.items[i], m->config, t, &m->host, m->knobs);
	topology_free(old);
	return 0;
}

static int rescan_topology(Manager *m)
{
	_cleanup_(topology_freep) Topology *t = NULL;
	bool same;
	int r;

	r = topology_scan(m->root, &t);
	if (r < 0)
		return log_error_errno(r, "Failed to scan the IOMMU topology: %m");
	same = topology_equal(m->topology, t);
	if (!same)
		log_info("Topology: %zu SMMUv3, %zu other IOMMU(s), %u CPU(s), %u NUMA node(s), "
			 "kernel %s (%s).",
			 t->n_smmus, strv_length(t->other_iommus), t->n_cpus, t->n_nodes,
			 t->osrelease ?: "?", kernel_capability_to_string(t->kernel));
	r = adopt_topology(m, t);
	if (r < 0)
		return log_oom();
	TAKE_PTR(t);
	return same ? 0 : 1;
}

/* ---- VMs --------------------------------------------------------------- */

/*
 * A scan runs a slice at a time: after each, the loop dispatches what came
 * meanwhile, exit events first (a dying VMM starts its teardown within
 * milliseconds), and counts them in the model, never from inside the scan.
 */
#define SCAN_SLICE_USEC (1 * USEC_PER_MSEC)

static const char *vm_label(Manager *m, const Vm *vm, char *buf, size_t size)
{
	const char *name = m->machines ? machinewatch_name_for_pid(m->machines, vm->pid) : NULL;

	snprintf(buf, size, "%s (pid %d)", name ?: vm->name ?: vm->unit ?: vm->comm ?: "?",
		 (int)vm->pid);
	return buf;
}

size_t manager_smmu_vms(Manager *m, const ManagedSmmu *ms, uint64_t *ret_pinned)
{
	return vm_model_vms_behind(m->vms, ms->smmu, ret_pinned);
}

/* The model's answer to "what is pid now": /proc. */
static int probe_process(pid_t pid, bool want_files, VmProcess *ret, void *userdata)
{
	Manager *m = ASSERT_PTR(userdata);

	return vm_probe(m->root, pid, want_files, ret);
}

static void on_vm_found(Manager *m, const VmEvent *e)
{
	const Vm *vm = vm_model_find(m->vms, e->pid);
	char label[128];
	int r;

	if (!vm || vm->starttime != e->starttime)
		return; /* gone again, by an event queued before this one */
	r = pidwatch_add(m->pidwatch, vm->pid, vm->starttime);
	if (r == -ESRCH) {
		/* It was a VM a moment ago: its death counts (if not counted yet). */
		if (vm_model_gone(m->vms, e->pid, e->starttime, "gone at discovery", now_mono(m)) < 0)
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
	log_info("VM %s: %zu group(s), %" PRIu64 " bytes pinned%s.", vm_label(m, vm, label, sizeof(label)),
		 vm->n_groups, vm->pinned_bytes, vm->iommufd ? ", iommufd" : "");
}

/* A VM's teardown, counted against its SMMUs: decide for them right away, the latency path. */
static void on_vm_exit(Manager *m, const VmEvent *e)
{
	char label[128], smmus[192] = "";
	char bytes[FORMAT_BYTES_MAX];

	/* Decide (and write) first, log after: the dying VMM's teardown is near. */
	for (size_t i = 0; i < e->n_smmus; i++) {
		ManagedSmmu *ms = manager_find_smmu(m, e->smmus[i]->name);

		if (!ms)
			continue;
		if (policy_record_exit(&ms->policy, ms->settings, e->counted_usec,
				       e->vm->pinned_bytes) < 0)
			log_oom();
		decide_one(m, ms, e->counted_usec, false);
		snprintf(smmus + strlen(smmus), sizeof(smmus) - strlen(smmus), "%s%s", i ? "," : "",
			 ms->name);
	}
	if (e->was_tracked)
		pidwatch_remove(m->pidwatch, e->pid);
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
	schedule_deadline(m);
}

static void on_vm_dropped(Manager *m, const VmEvent *e)
{
	pidwatch_remove(m->pidwatch, e->pid);
	log_info("pid %d no longer holds VFIO or iommufd files.", (int)e->pid);
}

/* Acts on what the model concluded from its last inputs, in order. */
static void handle_vm_events(Manager *m)
{
	bool any = false;
	VmEvent e;

	while (vm_model_next_event(m->vms, &e)) {
		switch (e.kind) {
		case VM_EVENT_FOUND:
			on_vm_found(m, &e);
			break;
		case VM_EVENT_EXIT:
			on_vm_exit(m, &e);
			break;
		case VM_EVENT_DROPPED:
			on_vm_dropped(m, &e);
			break;
		default:
			assert_not_reached();
		}
		vm_event_done(&e);
		any = true;
	}
	if (any)
		manager_update_status(m);
}

static void model_input_done(Manager *m, int r)
{
	if (r < 0)
		log_oom();
	handle_vm_events(m);
}

static void scan_finish(Manager *m, int r);

static int on_scan_step(sd_event_source *s, void *userdata)
{
	Manager *m = ASSERT_PTR(userdata);
	uint64_t end = now_usec(CLOCK_MONOTONIC) + SCAN_SLICE_USEC;
	int r;

	do
		r = vm_scan_step(m->scan);
	while (r > 0 && now_usec(CLOCK_MONOTONIC) < end);
	if (r <= 0)
		scan_finish(m, r);
	return 0;
}

/* Starts a scan of every process, or asks for one more after the one under way. */
static void scan_start(Manager *m)
{
	int r;

	if (m->scan) {
		m->rescan_after_scan = true;
		return;
	}
	/* Before the scan: a VM opening its files meanwhile is seen next time. */
	(void)vfiowatch_update(m->vfiowatch);
	r = vm_scan_new(m->root, &m->scan);
	if (r >= 0)
		r = sd_event_source_set_enabled(m->scan_step, SD_EVENT_ON);
	if (r < 0) {
		m->scan = vm_scan_free(m->scan);
		log_warning_errno(r, "Failed to scan processes for VMs: %m");
		return;
	}
	vm_model_scan_begin(m->vms);
}

static void scan_finish(Manager *m, int r)
{
	Vm **found = NULL;
	size_t n = 0;

	(void)sd_event_source_set_enabled(m->scan_step, SD_EVENT_OFF);
	if (r < 0) {
		log_warning_errno(r, "Failed to scan processes for VMs: %m");
		vm_model_scan_abort(m->vms);
	} else {
		vm_scan_take(m->scan, &found, &n);
		r = vm_model_scan_end(m->vms, found, n, now_mono(m));
		free(found);
		model_input_done(m, r);
	}
	m->scan = vm_scan_free(m->scan);
	manager_update_status(m);
	if (m->rescan_after_scan) {
		m->rescan_after_scan = false;
		scan_start(m);
	}
}

/* A whole scan at once: at startup, before the loop runs. */
static void scan_now(Manager *m)
{
	scan_start(m);
	while (m->scan)
		(void)on_scan_step(m->scan_step, m);
}

/* ---- observers' callbacks ---------------------------------------------- */

static void on_exit_event(pid_t tgid, ExitSource src, uint64_t when_usec, void *userdata)
{
	Manager *m = ASSERT_PTR(userdata);
	/* Taskstats comes before exit_files(), the proc connector after it. */
	bool files_open = src == EXIT_SOURCE_TASKSTATS;

	model_input_done(m, vm_model_exit(m->vms, tgid, exit_source_to_string(src), files_open,
					  when_usec, now_mono(m)));
}

static void on_pid_exited(pid_t pid, uint64_t starttime, void *userdata)
{
	Manager *m = ASSERT_PTR(userdata);

	/* Readable once the whole thread group is dead: its files are closed. */
	model_input_done(m, vm_model_gone(m->vms, pid, starttime, "pidfd", now_mono(m)));
}

/*
 * A close may be a VM's last VFIO file going: no debounce, the kernel's
 * teardown follows it.  A close starts no VM: the model looks at the VMs
 * holding that group alone, far cheaper than an open's full scan.
 */
static void on_vfio_closed(uint32_t group, void *userdata)
{
	Manager *m = ASSERT_PTR(userdata);

	model_input_done(m, vm_model_vfio_closed(m->vms, group, now_mono(m)));
}

static void schedule_rescan(Manager *m, bool topology, bool vms, uint64_t delay);

static void on_exit_lost(ExitSource src, void *userdata)
{
	Manager *m = userdata;

	log_warning("Exit events from %s were lost: rescanning VMs.", exit_source_to_string(src));
	/* One under way read some processes before the loss: one more after it, then. */
	scan_start(m);
}

/* At when at the latest: a pending rescan due later is brought forward, never put off. */
static void schedule_rescan_at(Manager *m, bool topology, bool vms, uint64_t when)
{
	uint64_t pending;

	m->rescan_topology_pending |= topology;
	m->rescan_vms_pending |= vms;
	if (sd_event_source_get_enabled(m->rescan_defer, NULL) > 0 &&
	    sd_event_source_get_time(m->rescan_defer, &pending) >= 0 && pending <= when)
		return;
	(void)sd_event_source_set_time(m->rescan_defer, when);
	(void)sd_event_source_set_enabled(m->rescan_defer, SD_EVENT_ONESHOT);
}

static void schedule_rescan(Manager *m, bool topology, bool vms, uint64_t delay)
{
	schedule_rescan_at(m, topology, vms, now_mono(m) + delay);
}

static int on_rescan_defer(sd_event_source *s, uint64_t usec, void *userdata)
{
	Manager *m = userdata;
	uint64_t start = now_mono(m);

	if (m->rescan_topology_pending) {
		m->rescan_topology_pending = false;
		if (rescan_topology(m) >= 0)
			decide_all(m, true);
	}
	if (m->rescan_vms_pending) {
		m->rescan_vms_pending = false;
		scan_start(m);
	}
	/*
	 * An open seen less than OPEN_DEFER_USEC before this scan (coalesced
	 * into it) may not have had its fd installed yet: one more scan then.
	 * Opens all the time still scan at most once per OPEN_DEFER_USEC.
	 */
	if (m->open_scan_due > start)
		schedule_rescan_at(m, false, true, m->open_scan_due);
	return 0;
}

/* ---- VFIO opens -------------------------------------------------------- */

static void on_vfio_opened(void *userdata)
{
	Manager *m = ASSERT_PTR(userdata);
	/* Each open gets a scan at least OPEN_DEFER_USEC after it. */
	uint64_t due = now_mono(m) + OPEN_DEFER_USEC;

	if (due > m->open_scan_due)
		m->open_scan_due = due;
	schedule_rescan(m, false, true, OPEN_DEFER_USEC);
}

static void on_machines_changed(void *userdata)
{
	/* A new machine is most likely a new VM: find its VFIO files. */
	schedule_rescan(userdata, false, true, RESCAN_DEFER_USEC);
}

static void on_shutdown_announced(const char *why, void *userdata)
{
	Manager *m = userdata;

	if (m->shutdown_announced)
		return;
	log_notice("Host shutdown announced (%s): storm settings on every SMMU with OnShutdown=yes.",
		   why);
	m->shutdown_announced = true;
	free(m->shutdown_why);
	m->shutdown_why = strdup(why);
	decide_all(m, false);
}

static int on_uevent(sd_device_monitor *mon, sd_device *d, void *userdata)
{
	const char *subsystem = NULL;

	(void)sd_device_get_subsystem(d, &subsystem);
	/* vfio: a group node came or went, a VM may be starting; pci/iommu: topology. */
	schedule_rescan(userdata, !streq_ptr(subsystem, "vfio"), true, RESCAN_DEFER_USEC);
	return 0;
}

static int on_scan_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	Manager *m = userdata;

	scan_start(m);
	(void)sd_event_source_set_time(s, usec + m->config->scan_interval_usec);
	return 0;
}

/* ---- signals ----------------------------------------------------------- */

static int on_sigterm(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
	Manager *m = userdata;

	log_info("Received %s: restoring knobs and exiting.", strsignal((int)si->ssi_signo));
	return sd_event_exit(m->event, 0);
}

static int on_sighup(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
	(void)manager_reload(userdata, NULL);
	return 0;
}

static int on_sigusr1(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
	(void)manager_rescan(userdata);
	return 0;
}

/* ---- the control surface ----------------------------------------------- */

static unsigned exit_sources(const Config *c);
static int start_exitwatch(Manager *m);

static void scan_timer_update(Manager *m)
{
	if (m->config->scan_interval_usec == 0) {
		(void)sd_event_source_set_enabled(m->scan_timer, SD_EVENT_OFF);
		return;
	}
	(void)sd_event_source_set_time(m->scan_timer, now_mono(m) + m->config->scan_interval_usec);
	/* Let the kernel batch it with other wake-ups (the watchdog's). */
	(void)sd_event_source_set_time_accuracy(m->scan_timer, m->config->scan_interval_usec / 4);
	(void)sd_event_source_set_enabled(m->scan_timer, SD_EVENT_ON);
}

int manager_reload(Manager *m, char ***ret_errors)
{
	_cleanup_config_free_ Config *c = NULL;
	_cleanup_strv_free_ char **errors = NULL;
	Config *old;
	int r;

	(void)sd_notifyf(false, "RELOADING=1\nSTATUS=Reloading configuration...\nMONOTONIC_USEC=%" PRIu64,
			 now_usec(CLOCK_MONOTONIC));
	r = config_load(&m->config_source, &c, &errors);
	if (r < 0) {
		for (size_t i = 0; errors && errors[i]; i++)
			log_error("%s", errors[i]);
		log_error_errno(r, "Configuration not reloaded (%m): the running one (%s) stays.",
				m->config->digest);
		emit_event(m, "reload", NULL, NULL, m->config->digest, m->config->digest,
			   errors && errors[0] ? errors[0] : "rejected: the running configuration stays");
		free(m->status);
		m->status = NULL;
		manager_update_status(m);
		(void)sd_notify(false, "READY=1");
		if (ret_errors)
			*ret_errors = TAKE_PTR(errors);
		return r;
	}
	old = m->config;
	m->config = TAKE_PTR(c);
	m->knobs->on_external_change = m->config->external_change;
	if (m->control) {
		BusAccess access;

		bus_access_resolve(m->config->admin_group, m->config->reader_group, &access);
		bus_set_access(m->control, &access);
	}
	/* Settings pointers go into the config: configure again before the old one goes. */
	for (size_t i = 0; i < m->smmus.n; i++)
		smmu_configure(m->smmus.items[i], m->config, m->topology, &m->host, m->knobs);
	log_info("Configuration reloaded: %zu file(s), digest %s.", strv_length(m->config->files),
		 m->config->digest);
	emit_event(m, "reload", NULL, NULL, old->digest, m->config->digest,
		   streq(old->digest, m->config->digest) ? "reloaded, unchanged" : "reloaded");
	config_free(old);
	if (m->exitwatch && exit_sources(m->config) != m->exit_sources) {
		r = start_exitwatch(m);
		if (r < 0)
			log_warning_errno(r, "Running on pidfds and rescans only: %m");
		/* Exits while no socket listened: the pidfds saw them, a rescan is cheap. */
	}
	scan_timer_update(m);
	decide_all(m, true);
	free(m->status);
	m->status = NULL;
	manager_update_status(m);
	(void)sd_notify(false, "READY=1");
	return 0;
}

int manager_rescan(Manager *m)
{
	int r = rescan_topology(m);

	if (r >= 0)
		decide_all(m, true);
	scan_start(m);
	return r < 0 ? r : 0;
}

int manager_set_override(Manager *m, const char *name, PolicyOverride o, const KnobValues *pin)
{
	ManagedSmmu *only = NULL;

	if (o == OVERRIDE_PIN && !pin)
		return -EINVAL;
	if (name) {
		only = manager_find_smmu(m, name);
		if (!only)
			return -ENOENT;
	}
	for (size_t i = 0; i < m->smmus.n; i++)
		if (!only || m->smmus.items[i] == only) {
			PolicySmmu *p = &m->smmus.items[i]->policy;
			char before[2 * KNOB_VALUE_MAX + 64], after[2 * KNOB_VALUE_MAX + 64];
			PolicyOverride was = p->override;
			KnobValues was_pin = p->pinned;

			policy_set_override(p, o, pin);
			log_notice("%s: override %s by the operator.", m->smmus.items[i]->name,
				   policy_override_to_string(o));
			emit_event(m, "override", m->smmus.items[i]->name, NULL,
				   was == OVERRIDE_PIN ? profile_text(&was_pin, before, sizeof(before))
						       : policy_override_to_string(was),
				   o == OVERRIDE_PIN ? profile_text(pin, after, sizeof(after))
						     : policy_override_to_string(o),
				   o == OVERRIDE_PIN ? "pinned by the operator"
						     : "set by the operator");
		}
	decide_all(m, false);
	return 0;
}

int manager_reclaim_knob(Manager *m, const char *name, KnobAttr attr)
{
	ManagedSmmu *ms = manager_find_smmu(m, name);
	Knob *k;

	if (!ms)
		return -ENOENT;
	k = ms->knobs[attr];
	if (!k)
		return -EOPNOTSUPP;
	if (knobs_reclaim(m->knobs, k) == 0)
		return 0;
	log_notice("%s/%s: managed by smmud again.", name, knob_attr_to_string(attr));
	emit_event(m, "reclaim", name, knob_attr_to_string(attr), "operator", "smmud",
		   "given back to smmud by the operator");
	decide_all(m, false);
	return 0;
}

/* What the control API may do: the manager's own functions, for its BusControl. */
static void control_view(void *userdata, DaemonView *ret)
{
	manager_view(userdata, ret);
}

static int control_reload(void *userdata, char ***ret_errors)
{
	return manager_reload(userdata, ret_errors);
}

static int control_set_override(void *userdata, const char *smmu, PolicyOverride o,
				const KnobValues *pin)
{
	return manager_set_override(userdata, smmu, o, pin);
}

static int control_reclaim_knob(void *userdata, const char *smmu, KnobAttr attr)
{
	return manager_reclaim_knob(userdata, smmu, attr);
}

static int start_control(Manager *m)
{
	static const BusControl control = {
		.view = control_view,
		.reload = control_reload,
		.set_override = control_set_override,
		.reclaim_knob = control_reclaim_knob,
	};
	BusAccess access;

	bus_access_resolve(m->config->admin_group, m->config->reader_group, &access);
	return bus_new(m->event, m->bus, m->runtime_dir, &access, &control, m, &m->control);
}

/* ---- life cycle -------------------------------------------------------- */

int manager_new(const ManagerOptions *o, Manager **ret)
{
	_cleanup_(manager_freep) Manager *m = calloc(1, sizeof(Manager));
	int r;

	if (!m)
		return -ENOMEM;
	m->root = strdup(o->root ?: "/");
	m->runtime_dir = strdup(o->runtime_dir ?: "/run/smmud");
	m->config_file = o->config_source.file ? strdup(o->config_source.file) : NULL;
	m->config_dir = o->config_source.dropin_dir ? strdup(o->config_source.dropin_dir) : NULL;
	if (!m->root || !m->runtime_dir || (o->config_source.file && !m->config_file) ||
	    (o->config_source.dropin_dir && !m->config_dir))
		return -ENOMEM;
	m->config_source = (ConfigSource){
		.file = m->config_file,
		.file_required = o->config_source.file_required,
		.dropin_dir = m->config_dir,
	};
	m->dry_run = o->dry_run;

	r = sd_event_default(&m->event);
	if (r < 0)
		return r;
	r = knobs_new(m->root, m->runtime_dir, m->dry_run, &m->knobs);
	if (r < 0)
		return r;
	knobs_set_event_hook(m->knobs, on_knob_event, m);
	r = vm_model_new(probe_process, m, &m->vms);
	if (r < 0)
		return r;
	r = pidwatch_new(m->event, on_pid_exited, m, &m->pidwatch);
	if (r < 0)
		return r;
	{
		static const VfioWatchCallbacks vfio_callbacks = {
			.opened = on_vfio_opened,
			.closed = on_vfio_closed,
		};

		/* Exit events and decisions go first. */
		r = vfiowatch_new(m->event, m->root, SD_EVENT_PRIORITY_IDLE, &vfio_callbacks, m,
				  &m->vfiowatch);
		if (r < 0)
			return r;
	}
	r = sd_event_add_defer(m->event, &m->scan_step, on_scan_step, m);
	if (r >= 0)
		r = sd_event_source_set_enabled(m->scan_step, SD_EVENT_OFF);
	/* Queued exit events go first: a scan must not overtake them. */
	if (r >= 0)
		r = sd_event_source_set_priority(m->scan_step, SD_EVENT_PRIORITY_IDLE);
	if (r >= 0)
		r = sd_event_source_set_description(m->scan_step, "vm-scan");
	if (r < 0)
		return r;

	if (o->use_bus) {
		r = sd_bus_open_system(&m->bus);
		if (r >= 0)
			r = sd_bus_attach_event(m->bus, m->event, SD_EVENT_PRIORITY_NORMAL);
		if (r < 0) {
			log_info_errno(r, "No system bus (%m): running without machined and logind.");
			m->bus = sd_bus_flush_close_unref(m->bus);
		}
	}
	*ret = TAKE_PTR(m);
	return 0;
}

static int add_signal(Manager *m, int sig, sd_event_signal_handler_t handler, int64_t priority)
{
	sd_event_source *s = NULL;
	sigset_t ss;
	int r;

	sigemptyset(&ss);
	sigaddset(&ss, sig);
	if (sigprocmask(SIG_BLOCK, &ss, NULL) < 0)
		return negative_errno();
	r = sd_event_add_signal(m->event, &s, sig, handler, m);
	if (r < 0)
		return r;
	r = sd_event_source_set_priority(s, priority);
	/* The loop owns it from here. */
	if (r >= 0)
		r = sd_event_source_set_floating(s, true);
	sd_event_source_unref(s);
	return r;
}

static int start_device_monitor(Manager *m)
{
	static const char *const subsystems[] = { "pci", "iommu", "vfio" };
	int r;

	/* Uevents describe the real host: with a test root they would lie. */
	if (!streq(m->root, "/"))
		return 0;
	r = sd_device_monitor_new(&m->device_monitor);
	for (size_t i = 0; r >= 0 && i < ELEMENTSOF(subsystems); i++)
		r = sd_device_monitor_filter_add_match_subsystem_devtype(m->device_monitor,
									 subsystems[i], NULL);
	if (r >= 0)
		r = sd_device_monitor_attach_event(m->device_monitor, m->event);
	if (r >= 0)
		r = sd_device_monitor_start(m->device_monitor, on_uevent, m);
	if (r < 0) {
		m->device_monitor = sd_device_monitor_unref(m->device_monitor);
		return log_warning_errno(r, "No uevents (%m): topology rescans on SIGUSR1 and "
					    "reload only.");
	}
	return 0;
}

static unsigned exit_sources(const Config *c)
{
	return (c->use_taskstats ? EXITWATCH_SOURCE(EXIT_SOURCE_TASKSTATS) : 0) |
	       (c->use_proc_connector ? EXITWATCH_SOURCE(EXIT_SOURCE_PROC_CONNECTOR) : 0);
}

/* (Re)opens the exit sources the config asks for; the pidfds stay either way. */
static int start_exitwatch(Manager *m)
{
	static const ExitWatchCallbacks exit_callbacks = {
		.exited = on_exit_event,
		.lost = on_exit_lost,
	};
	int r;

	m->exitwatch = exitwatch_free(m->exitwatch);
	r = exitwatch_new(m->event, exit_sources(m->config), &exit_callbacks, m, &m->exitwatch);
	if (r < 0)
		return log_error_errno(r, "Failed to set up exit events: %m");
	m->exit_sources = exit_sources(m->config);
	log_info("Exit events: taskstats %s, proc connector %s, pidfd per VM.",
		 exitwatch_has(m->exitwatch, EXIT_SOURCE_TASKSTATS) ? "yes"
		 : m->config->use_taskstats			      ? "unavailable"
								      : "off",
		 exitwatch_has(m->exitwatch, EXIT_SOURCE_PROC_CONNECTOR) ? "yes"
		 : m->config->use_proc_connector			      ? "unavailable"
									      : "off");
	return 0;
}

static int start_observers(Manager *m)
{
	int r;

	r = start_exitwatch(m);
	if (r < 0)
		return r;

	if (m->bus && m->config->use_machined) {
		r = machinewatch_new(m->bus, m->event, on_machines_changed, m, &m->machines);
		if (r < 0)
			log_warning_errno(r, "No VM names from machined: %m");
	}
	if (m->bus) {
		r = shutdownwatch_new(m->bus, on_shutdown_announced, m, &m->shutdownwatch);
		if (r < 0)
			log_warning_errno(r, "Host shutdowns will not be seen in advance: %m");
	}
	(void)start_device_monitor(m);
	return 0;
}

int manager_startup(Manager *m)
{
	_cleanup_strv_free_ char **errors = NULL;
	int r;

	/* A crashed run's holds first: nothing else may write before. */
	r = knobs_recover(m->knobs);
	if (r < 0)
		log_warning_errno(r, "Not every knob of the previous run could be restored: %m");

	r = config_load(&m->config_source, &m->config, &errors);
	if (r < 0) {
		for (size_t i = 0; errors && errors[i]; i++)
			log_error("%s", errors[i]);
		return log_error_errno(r, "Invalid configuration: %m");
	}
	m->knobs->on_external_change = m->config->external_change;
	log_info("Configuration: %zu file(s), digest %s.", strv_length(m->config->files),
		 m->config->digest);

	r = add_signal(m, SIGTERM, on_sigterm, SD_EVENT_PRIORITY_NORMAL);
	if (r >= 0)
		r = add_signal(m, SIGINT, on_sigterm, SD_EVENT_PRIORITY_NORMAL);
	if (r >= 0)
		r = add_signal(m, SIGHUP, on_sighup, SD_EVENT_PRIORITY_NORMAL);
	/* A rescan must not overtake exit events already queued. */
	if (r >= 0)
		r = add_signal(m, SIGUSR1, on_sigusr1, SD_EVENT_PRIORITY_IDLE);
	if (r < 0)
		return log_error_errno(r, "Failed to set up signal handling: %m");

	r = sd_event_add_time(m->event, &m->deadline_timer, CLOCK_MONOTONIC, UINT64_MAX, 0,
			      on_deadline, m);
	if (r >= 0)
		r = sd_event_add_time(m->event, &m->drift_timer, CLOCK_MONOTONIC, UINT64_MAX, 0,
				      on_drift_check, m);
	if (r >= 0)
		r = sd_event_add_time(m->event, &m->scan_timer, CLOCK_MONOTONIC, UINT64_MAX, 0,
				      on_scan_timer, m);
	if (r >= 0)
		r = sd_event_add_time(m->event, &m->rescan_defer, CLOCK_MONOTONIC, UINT64_MAX, 0,
				      on_rescan_defer, m);
	if (r < 0)
		return log_error_errno(r, "Failed to set up timers: %m");
	(void)sd_event_source_set_enabled(m->deadline_timer, SD_EVENT_OFF);
	(void)sd_event_source_set_enabled(m->drift_timer, SD_EVENT_OFF);
	(void)sd_event_source_set_enabled(m->rescan_defer, SD_EVENT_OFF);
	/* Exit events already queued go first: a scan must not overtake them. */
	(void)sd_event_source_set_priority(m->rescan_defer, SD_EVENT_PRIORITY_IDLE);
	(void)sd_event_source_set_priority(m->scan_timer, SD_EVENT_PRIORITY_IDLE);
	scan_timer_update(m);

	r = sd_event_set_watchdog(m->event, true);
	if (r < 0)
		log_warning_errno(r, "Failed to enable the watchdog: %m");

	r = rescan_topology(m);
	if (r < 0)
		return r;
	if (m->topology->kernel == KERNEL_CAP_NONE && m->smmus.n > 0)
		log_notice("Kernel has no SMMUv3 tunables: monitor-only.");
	else if (m->topology->kernel == KERNEL_CAP_MAINLINE)
		log_notice("Kernel %s has mainline's built-in invalidation threshold: reporting "
			   "only, nothing to tune.",
			   m->topology->osrelease);

	r = start_observers(m);
	if (r < 0)
		return r;
	r = start_control(m);
	if (r < 0)
		return r;
	/* Before the first decision: the baseline may already want writes. */
	scan_now(m);
	decide_all(m, true);
	return 0;
}

int manager_run(Manager *m)
{
	int r;

	(void)sd_notify(false, "READY=1");
	log_info("smmud " SMMUD_VERSION " running%s.", m->dry_run ? " (dry run: writes nothing)" : "");
	r = sd_event_loop(m->event);
	(void)sd_notify(false, "STOPPING=1\nSTATUS=Restoring knobs...");
	if (r < 0)
		log_error_errno(r, "Event loop failed: %m");
	return r;
}

Manager *manager_free(Manager *m)
{
	if (!m)
		return NULL;
	/* Every hold ends here, whatever the reason for stopping. */
	if (m->knobs) {
		int r = knobs_restore_all(m->knobs, "stop");

		if (r < 0)
			log_error_errno(r, "Not every knob could be restored: %m");
	}
	/* Stopped, the values it showed are history: no stale storm for the collector. */
	metrics_file_remove(&m->metrics);
	sd_event_source_disable_unref(m->scan_step);
	vm_scan_free(m->scan);
	vm_model_free(m->vms);
	pidwatch_free(m->pidwatch);
	vfiowatch_free(m->vfiowatch);
	smmu_set_done(&m->smmus);
	bus_free(m->control);
	exitwatch_free(m->exitwatch);
	machinewatch_free(m->machines);
	shutdownwatch_free(m->shutdownwatch);
	sd_device_monitor_unref(m->device_monitor);
	sd_event_source_disable_unref(m->deadline_timer);
	sd_event_source_disable_unref(m->drift_timer);
	sd_event_source_disable_unref(m->scan_timer);
	sd_event_source_disable_unref(m->rescan_defer);
	sd_bus_flush_close_unref(m->bus);
	sd_event_unref(m->event);
	knobs_free(m->knobs);
	topology_free(m->topology);
	config_free(m->config);
	free(m->root);
	free(m->runtime_dir);
	free(m->config_file);
	free(m->config_dir);
	free(m->shutdown_why);
	free(m->status);
	free(m);
	return NULL;
}
