// SPDX-License-Identifier: GPL-2.0-or-later
#include <inttypes.h>
#include <signal.h>

#include <systemd/sd-daemon.h>

#include "event-util.h"
#include "log.h"
#include "manager.h"

/* Uevents come in bursts (a device bind is several): one rescan for all. */

/*
 * A timer that cannot be set leaves a promise unkept: a storm that never
 * ends, a knob nobody checks.  The run ends then, the knobs go back to
 * their originals, and systemd starts smmud again (Restart=on-failure).
 */
void manager_fail(Manager *m, int r, const char *what)
{
	log_error_errno(r, "Failed to %s, stopping: %m", what);
	r = sd_event_exit(m->event, r);
	if (r < 0)
		log_debug_errno(r, "The loop has ended already: %m");
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
		.shutdown_announced = m->announced.shutdown_until == USEC_INFINITY,
		.shutdown_why = m->shutdown_why,
		.status = outbox_status(m->outbox),
		.costs = &m->costs,
		.reloads = &m->reloads,
		.started_usec = m->started_usec,
	};
	if (m->rescans) {
		const RescanStats *st = rescans_stats(m->rescans);

		m->costs.scans = st->scans;
		m->costs.looks = st->looks;
		m->costs.open_scans = st->open_scans;
	}
}

/* After every decision and state change: the status line and the metrics file follow it. */
void manager_update_status(Manager *m)
{
	outbox_changed(m->outbox);
}

static void outbox_view(void *userdata, DaemonView *ret)
{
	manager_view(ASSERT_PTR(userdata), ret);
}

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

	outbox_event(m->outbox, &e);
}

void manager_emit_event(Manager *m, const char *kind, const char *smmu, const char *knob,
			const char *before, const char *after, const char *detail)
{
	emit_event_at(m, now_usec(CLOCK_REALTIME), kind, smmu, knob, before, after, detail);
}

/* knobs.c's changes, passed on with the knob's SMMU and name, at their time. */
static void on_knob_event(const Knob *k, uint64_t realtime_usec, const char *kind,
			  const char *before, const char *after, const char *detail, void *userdata)
{
	emit_event_at(ASSERT_PTR(userdata), realtime_usec, kind, k->smmu,
		      knob_attr_to_string(k->attr), before, after, detail);
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

/* ---- decisions --------------------------------------------------------- */

/* Only while a knob is held; one already armed keeps its time. */
static void schedule_drift_check(Manager *m)
{
	uint64_t when = event_now(m->event) + m->config->drift_check_usec;
	int r;

	if (!knobs_holding(m->knobs))
		r = sd_event_source_set_enabled(m->drift_timer, SD_EVENT_OFF);
	else {
		r = sd_event_source_get_enabled(m->drift_timer, NULL);
		if (r == 0)
			r = event_timer_arm(m->drift_timer, when, SD_EVENT_ON);
	}
	if (r < 0)
		manager_fail(m, r, "schedule the drift check");
}

void manager_schedule_deadline(Manager *m)
{
	uint64_t next = smmu_set_next_deadline(&m->smmus);
	int r = event_timer_arm(m->deadline_timer, next, SD_EVENT_ONESHOT);

	if (r < 0)
		manager_fail(m, r, "schedule the next decision");
}

/* A write may be due while a managed SMMU is out of a storm (monitor-only ones have none). */
static bool write_may_be_due(const Manager *m)
{
	bool managed = false;

	for (size_t i = 0; i < m->smmus.n; i++) {
		const ManagedSmmu *ms = m->smmus.items[i];

		if (ms->mode != SMMU_MODE_MANAGED)
			continue;
		if (!ms->decided || !ms->decision.storm)
			return true;
		managed = true;
	}
	return !managed;
}

/*
 * With a storm on every managed SMMU no exit can call for a write:
 * smmud's wake-ups need not preempt the dying VMMs, and its telling,
 * logging and bookkeeping run in the gaps their teardowns leave
 * (sched-slice.h).  Relaxed right after the storm's write, before any of
 * that; urgent again as a storm ends.  Lowering its own priority
 * reschedules the CPU at once.
 */
static void update_urgency(Manager *m)
{
	bool urgent = write_may_be_due(m);
	int r = sched_urgency_set(&m->urgency, urgent);

	if (r < 0)
		log_debug_errno(r, "Cannot %s smmud's scheduling: %m", urgent ? "tighten" : "relax");
	else if (r > 0 && urgent)
		log_debug("Scheduling: nice %d, a %llu us slice: wake-ups preempt the VMMs again.",
			  m->urgency.nice, (unsigned long long)(m->urgency.slice_ns / 1000));
	else if (r > 0)
		log_debug("Scheduling: a storm on every managed SMMU, wake-ups wait for the VMMs' teardowns.");
}

void manager_decide_one(Manager *m, ManagedSmmu *ms, uint64_t now, bool force_apply)
{
	const PolicyDecision *d = &ms->decision;
	SmmuDecided c;

	smmu_decide(ms, &m->announced, now, &c);
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
	update_urgency(m);
	if ((!c.first && c.flipped) || (c.reason_changed && d->reason >= POLICY_SHUTDOWN))
		log_decision(m, ms, d, c.flipped);
	else if (c.first)
		log_debug("%s: %s", ms->name, d->why);
	if (!c.first && c.flipped)
		manager_emit_event(m, "storm", ms->name, NULL, c.was_storm ? "storm" : "baseline",
				   d->storm ? "storm" : "baseline", d->why);
	if (c.flipped)
		outbox_decision(m->outbox, &(DaemonDecision){
			.realtime_usec = now_usec(CLOCK_REALTIME),
			.smmu = ms->name,
			.storm = d->storm,
			.reason = policy_reason_to_string(d->reason),
			.why = d->why,
			.threshold = d->values ? d->values->threshold : NULL,
			.teardown_mode = d->values ? d->values->teardown_mode : NULL,
		});
	smmu_arm(ms, m->knobs, vm_model_vms_behind(m->vms, ms->smmu, NULL) > 0);
}

void manager_decide_all(Manager *m, bool force_apply)
{
	uint64_t now = event_now(m->event);

	for (size_t i = 0; i < m->smmus.n; i++)
		manager_decide_one(m, m->smmus.items[i], now, force_apply);
	manager_schedule_deadline(m);
	manager_update_status(m);
}

static int on_deadline(sd_event_source *s, uint64_t usec, void *userdata)
{
	manager_decide_all(ASSERT_PTR(userdata), false);
	return 0;
}

/*
 * The state file's copy is written a second after the state file last
 * changed (at most ten after it first did), not beside it: that change
 * is an exit's arming or a storm's write, and the next exit is coming.
 * Until then there is no copy (knobs.c unlinked it), never an old one.
 */
#define STATE_COPY_DELAY_USEC (1 * USEC_PER_SEC)
#define STATE_COPY_DELAY_MAX_USEC (10 * USEC_PER_SEC)

static void on_state_copy_due(void *userdata)
{
	Manager *m = ASSERT_PTR(userdata);
	uint64_t now = event_now(m->event);

	if (m->state_copy_due_usec == 0)
		m->state_copy_due_usec = now;
	if (event_timer_arm(m->state_copy_timer,
			    MIN(now + STATE_COPY_DELAY_USEC,
				m->state_copy_due_usec + STATE_COPY_DELAY_MAX_USEC),
			    SD_EVENT_ONESHOT) < 0)
		(void)knobs_save_copy(m->knobs);
}

static int on_state_copy(sd_event_source *s, uint64_t usec, void *userdata)
{
	Manager *m = ASSERT_PTR(userdata);

	m->state_copy_due_usec = 0;
	(void)knobs_save_copy(m->knobs);
	return 0;
}

static int on_drift_check(sd_event_source *s, uint64_t usec, void *userdata)
{
	Manager *m = ASSERT_PTR(userdata);
	uint64_t next;
	int r;

	/* A reasserting policy writes again at once; a releasing one forgets. */
	(void)knobs_check_drift_all(m->knobs);
	manager_decide_all(m, false);
	next = knobs_holding(m->knobs) ? usec + m->config->drift_check_usec : USEC_INFINITY;
	r = event_timer_arm(s, next, SD_EVENT_ON);
	if (r < 0)
		manager_fail(m, r, "schedule the drift check");
	return 0;
}

/* ---- the topology ------------------------------------------------------ */

static int adopt_topology(Manager *m, Topology *t)
{
	Topology *old = m->topology;
	int r;

	r = smmu_set_adopt(&m->smmus, t, m->knobs);
	if (r < 0)
		return r;
	m->topology = t;
	vm_model_set_topology(m->vms, t);
	profile_host_facts(t, &m->host);
	for (size_t i = 0; i < m->smmus.n; i++)
		smmu_configure(m->smmus.items[i], m->config, t, &m->host, m->knobs);
	topology_free(old);
	return 0;
}

int manager_rescan_topology(Manager *m)
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

/* ---- exit sources and signals ------------------------------------------ */

static int on_sigterm(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
	Manager *m = ASSERT_PTR(userdata);

	log_info("Received %s: restoring knobs and exiting.", strsignal((int)si->ssi_signo));
	return sd_event_exit(m->event, 0);
}

static int on_sighup(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
	(void)manager_reload(ASSERT_PTR(userdata), NULL);
	return 0;
}

static int on_sigusr1(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
	Manager *m = ASSERT_PTR(userdata);

	manager_rescan_all(m);
	return 0;
}

/* ---- life cycle -------------------------------------------------------- */

int manager_new(const ManagerOptions *o, Manager **ret)
{
	_cleanup_(manager_freep) Manager *m = calloc(1, sizeof(Manager));
	int r;

	assert(o);
	assert(ret);
	if (!m)
		return -ENOMEM;
	m->lock_fd = -EBADF;
	m->root = strdup(o->root ?: "/");
	m->proc = VM_PROC_INIT(m->root);
	m->runtime_dir = strdup(o->runtime_dir ?: "/run/smmud");
	m->config_file = o->config_source.file ? strdup(o->config_source.file) : NULL;
	m->config_dir = o->config_source.dropin_dir ? strdup(o->config_source.dropin_dir) : NULL;
	if (!m->root || !m->runtime_dir || (o->config_source.file && !m->config_file) ||
	    (o->config_source.dropin_dir && !m->config_dir))
		return -ENOMEM;
	m->started_usec = now_usec(CLOCK_REALTIME);
	m->config_source = (ConfigSource){
		.file = m->config_file,
		.file_required = o->config_source.file_required,
		.dropin_dir = m->config_dir,
	};
	m->dry_run = o->dry_run;

	/* Not sd_event_default(): that one checks its thread (gettid()) at every iteration. */
	r = sd_event_new(&m->event);
	if (r < 0)
		return r;
	r = outbox_new(m->event, outbox_view, m, &m->outbox);
	if (r < 0)
		return r;
	r = knobs_new(m->root, m->runtime_dir, m->dry_run, &m->knobs);
	if (r < 0)
		return r;
	knobs_set_event_hook(m->knobs, on_knob_event, m);
	r = manager_new_observers(m);
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

/* The loop owns the source: it blocks the signal, and unblocks it when the loop goes. */
static int add_signal(Manager *m, int sig, sd_event_signal_handler_t handler, int64_t priority,
		      const char *description)
{
	_cleanup_(sd_event_source_unrefp) sd_event_source *s = NULL;
	int r;

	r = sd_event_add_signal(m->event, &s, sig | SD_EVENT_SIGNAL_PROCMASK, handler, m);
	if (r >= 0)
		r = sd_event_source_set_priority(s, priority);
	if (r >= 0)
		r = sd_event_source_set_description(s, description);
	if (r >= 0)
		r = sd_event_source_set_floating(s, true);
	return r;
}

/* A CLOCK_MONOTONIC timer, off until armed. */
static int add_timer(Manager *m, sd_event_source **ret, sd_event_time_handler_t handler,
		     int64_t priority, const char *description)
{
	int r = sd_event_add_time(m->event, ret, CLOCK_MONOTONIC, USEC_INFINITY, 0, handler, m);

	return r < 0 ? r : event_source_setup(*ret, priority, description);
}

static int start_event_sources(Manager *m)
{
	int r;

	r = add_signal(m, SIGTERM, on_sigterm, SD_EVENT_PRIORITY_NORMAL, "sigterm");
	if (r >= 0)
		r = add_signal(m, SIGINT, on_sigterm, SD_EVENT_PRIORITY_NORMAL, "sigint");
	if (r >= 0)
		r = add_signal(m, SIGHUP, on_sighup, SD_EVENT_PRIORITY_NORMAL, "sighup-reload");
	/* A rescan must not overtake exit events already queued. */
	if (r >= 0)
		r = add_signal(m, SIGUSR1, on_sigusr1, SD_EVENT_PRIORITY_IDLE, "sigusr1-rescan");
	if (r < 0)
		return log_error_errno(r, "Failed to set up signal handling: %m");

	r = add_timer(m, &m->deadline_timer, on_deadline, SD_EVENT_PRIORITY_NORMAL, "deadline");
	if (r >= 0)
		r = add_timer(m, &m->drift_timer, on_drift_check, SD_EVENT_PRIORITY_NORMAL,
			      "drift-check");
	if (r >= 0)
		r = add_timer(m, &m->state_copy_timer, on_state_copy, SD_EVENT_PRIORITY_IDLE,
			      "state-copy");
	if (r >= 0)
		knobs_set_copy_hook(m->knobs, on_state_copy_due, m);
	if (r >= 0)
		r = rescans_set_interval(m->rescans, m->config->scan_interval_usec);
	if (r < 0)
		return log_error_errno(r, "Failed to set up timers: %m");

	r = sd_event_set_watchdog(m->event, true);
	if (r < 0)
		log_warning_errno(r, "Failed to enable the watchdog: %m");
	return 0;
}

int manager_startup(Manager *m)
{
	_cleanup_strv_free_ char **errors = NULL;
	int r;

	assert(m);
	/*
	 * The runtime directory before anything reads or writes in it: one
	 * that is a symlink (or not a directory) stops the start here, before
	 * recovery would read, rename or replace a state file through it.
	 * Then its lock: a second smmud would restore the first one's holds
	 * and unlink its socket.
	 */
	r = runtime_dir_prepare(m->runtime_dir);
	if (r < 0)
		return log_error_errno(r, "Runtime directory %s unusable: %m", m->runtime_dir);
	r = runtime_dir_lock(m->runtime_dir, &m->lock_fd);
	if (r == -EBUSY)
		return log_error_errno(r, "Another smmud is running on %s (%s/lock is locked), "
				       "not starting.", m->runtime_dir, m->runtime_dir);
	if (r < 0)
		return log_error_errno(r, "Cannot lock the runtime directory %s: %m",
				       m->runtime_dir);
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

	/* Its wake-ups preempt the dying VMM they race (sched-slice.h). */
	r = sched_urgency_init(&m->urgency, SCHED_SLICE_SHORTEST_NSEC);
	if (r == -EOPNOTSUPP)
		log_debug("No scheduler slice to ask for: wake-ups wait for the running task's to end.");
	else if (r < 0)
		log_warning_errno(r, "Cannot ask for a short scheduler slice: %m");
	else
		log_info("Scheduler slice: %llu us (an exit's wake-up preempts a longer one).",
			 SCHED_SLICE_SHORTEST_NSEC / 1000);

	r = start_event_sources(m);
	if (r < 0)
		return r;
	r = manager_rescan_topology(m);
	if (r < 0)
		return r;
	if (m->topology->kernel == KERNEL_CAP_NONE && m->smmus.n > 0)
		log_notice("Kernel has no SMMUv3 tunables: monitor-only.");
	else if (m->topology->kernel == KERNEL_CAP_MAINLINE)
		log_notice("Kernel %s has mainline's built-in invalidation threshold: reporting "
			   "only, nothing to tune.",
			   m->topology->osrelease);

	r = manager_start_observers(m);
	if (r < 0)
		return r;
	r = manager_start_control(m);
	if (r < 0)
		return r;
	/* The first scan whole, before the first decision: the baseline may already want writes. */
	rescans_scan_whole(m->rescans);
	m->started = true;
	manager_update_exit_filter(m);
	manager_decide_all(m, true);
	return 0;
}

int manager_run(Manager *m)
{
	int r, k;

	assert(m);
	(void)sd_notify(false, "READY=1");
	log_info("smmud " SMMUD_VERSION " running%s.", m->dry_run ? " (dry run: writes nothing)" : "");
	r = sd_event_loop(m->event);
	if (r < 0)
		log_error_errno(r, "Event loop failed: %m");
	(void)sd_notify(false, "STOPPING=1\nSTATUS=Restoring knobs...");
	/* Every hold ends here, whatever the reason for stopping. */
	k = knobs_restore_all(m->knobs, "stop");
	if (k < 0)
		log_error_errno(k, "Not every knob could be restored: %m");
	/* What is still held (or armed) keeps its copy for the next start. */
	(void)knobs_save_copy(m->knobs);
	/* The restores told; stopped, the metrics are history: no stale storm for the collector. */
	outbox_stop(m->outbox);
	return r;
}

Manager *manager_free(Manager *m)
{
	if (!m)
		return NULL;
	/* What is queued goes out while the bus is still there. */
	m->outbox = outbox_free(m->outbox);
	bus_free(m->control);
	rescans_free(m->rescans);
	vm_model_free(m->vms);
	pidwatch_free(m->pidwatch);
	vfiowatch_free(m->vfiowatch);
	exitwatch_free(m->exitwatch);
	machinewatch_free(m->machines);
	shutdownwatch_free(m->shutdownwatch);
	devicewatch_free(m->devices);
	smmu_set_done(&m->smmus);
	sd_event_source_disable_unref(m->deadline_timer);
	sd_event_source_disable_unref(m->drift_timer);
	sd_event_source_disable_unref(m->pinned_timer);
	pinned_reads_done(&m->pinned_reads);
	sd_event_source_disable_unref(m->state_copy_timer);
	sd_event_source_disable_unref(m->filter_narrow);
	free(m->look_recent);
	sd_bus_flush_close_unref(m->bus);
	sd_event_unref(m->event);
	knobs_free(m->knobs);
	topology_free(m->topology);
	config_free(m->config);
	vm_proc_done(&m->proc);
	free(m->root);
	free(m->runtime_dir);
	closep(&m->lock_fd);
	free(m->config_file);
	free(m->config_dir);
	free(m->shutdown_why);
	free(m);
	return NULL;
}
