// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * What an operator may change of the running daemon: the configuration
 * (a reload, from SIGHUP or the API), overrides and pins, and knobs given
 * back.  The control API (bus.c) reaches these through its BusControl
 * only; each ends as every change does, with the decisions taken again.
 */
#include <inttypes.h>

#include <systemd/sd-daemon.h>

#include "event-util.h"
#include "log.h"
#include "manager.h"

int manager_reload(Manager *m, char ***ret_errors)
{
	_cleanup_config_free_ Config *c = NULL;
	_cleanup_strv_free_ char **errors = NULL;
	BusAccess access;
	Config *old;
	int r, k;

	(void)sd_notifyf(false, "RELOADING=1\nSTATUS=Reloading configuration...\nMONOTONIC_USEC=%" PRIu64,
			 now_usec(CLOCK_MONOTONIC));
	r = config_load(&m->config_source, &c, &errors);
	if (r < 0) {
		for (size_t i = 0; errors && errors[i]; i++)
			log_error("%s", errors[i]);
		log_error_errno(r, "Configuration not reloaded (%m): the running one (%s) stays.",
				m->config->digest);
		m->reloads.rejected++;
		m->reloads.last_rejected = true;
		manager_emit_event(m, "reload", NULL, NULL, m->config->digest, m->config->digest,
				   errors && errors[0] ? errors[0]
						       : "rejected: the running configuration stays");
	} else {
		old = m->config;
		m->config = TAKE_PTR(c);
		m->knobs->on_external_change = m->config->external_change;
		bus_access_resolve(m->config->admin_group, m->config->reader_group, &access);
		bus_set_access(m->control, &access);
		/* Settings pointers go into the config: configure again before the old one goes. */
		for (size_t i = 0; i < m->smmus.n; i++)
			smmu_configure(m->smmus.items[i], m->config, m->topology, &m->host, m->knobs);
		log_info("Configuration reloaded: %zu file(s), digest %s.",
			 strv_length(m->config->files), m->config->digest);
		manager_emit_event(m, "reload", NULL, NULL, old->digest, m->config->digest,
				   streq(old->digest, m->config->digest) ? "reloaded, unchanged"
									 : "reloaded");
		config_free(old);
		m->reloads.ok++;
		m->reloads.last_rejected = false;
		/* Exits while no socket listened: the pidfds saw them, a rescan is cheap. */
		if (manager_start_exitwatch(m) < 0)
			log_warning("Running on pidfds and rescans only.");
		k = rescans_set_interval(m->rescans, m->config->scan_interval_usec);
		if (k < 0)
			manager_fail(m, k, "schedule the scans of ScanInterval=");
		manager_decide_all(m, true);
	}
	outbox_forget_status(m->outbox);
	(void)sd_notify(false, "READY=1");
	if (r < 0 && ret_errors)
		*ret_errors = TAKE_PTR(errors);
	return r;
}

static const char *knob_values_text(const KnobValues *p, char *buf, size_t size)
{
	snprintf(buf, size, "threshold=%s teardown_mode=%s", p->threshold, p->teardown_mode);
	return buf;
}

/* The SMMU a change names (*ret NULL: every SMMU, when name is NULL); -ENOENT: none such. */
static int named_smmu(Manager *m, const char *name, ManagedSmmu **ret)
{
	*ret = name ? smmu_set_find(&m->smmus, name) : NULL;
	return name && !*ret ? -ENOENT : 0;
}

static int control_set_override(void *userdata, const char *name, PolicyOverride o,
				const KnobValues *pin)
{
	Manager *m = ASSERT_PTR(userdata);
	ManagedSmmu *only;

	if (o == OVERRIDE_PIN && !pin)
		return -EINVAL;
	if (named_smmu(m, name, &only) < 0)
		return -ENOENT;
	for (size_t i = 0; i < m->smmus.n; i++) {
		ManagedSmmu *ms = m->smmus.items[i];
		char before[2 * KNOB_VALUE_MAX + 64], after[2 * KNOB_VALUE_MAX + 64];
		PolicyOverride was = ms->policy.override;
		KnobValues was_pin = ms->policy.pinned;

		if (only && ms != only)
			continue;
		/* Every SMMU: values only where smmud has knobs to write them to. */
		if (!only && o != OVERRIDE_NONE && ms->mode != SMMU_MODE_MANAGED)
			continue;
		policy_set_override(&ms->policy, o, pin);
		log_notice("%s: override %s by the operator.", ms->name, policy_override_to_string(o));
		manager_emit_event(m, "override", ms->name, NULL,
				   was == OVERRIDE_PIN
					   ? knob_values_text(&was_pin, before, sizeof(before))
					   : policy_override_to_string(was),
				   o == OVERRIDE_PIN ? knob_values_text(pin, after, sizeof(after))
						     : policy_override_to_string(o),
				   o == OVERRIDE_PIN ? "pinned by the operator" : "set by the operator");
	}
	manager_decide_all(m, false);
	return 0;
}

static int control_reclaim_knob(void *userdata, const char *name, KnobAttr attr)
{
	Manager *m = ASSERT_PTR(userdata);
	ManagedSmmu *ms = smmu_set_find(&m->smmus, name);

	if (!ms)
		return -ENOENT;
	if (!ms->knobs[attr])
		return -EOPNOTSUPP;
	if (knobs_reclaim(m->knobs, ms->knobs[attr]) > 0) {
		log_notice("%s/%s: managed by smmud again.", name, knob_attr_to_string(attr));
		manager_emit_event(m, "reclaim", name, knob_attr_to_string(attr), "operator",
				   "smmud", "given back to smmud by the operator");
	}
	/* smmud's either way: brought to the decision now (a failed write tried again). */
	manager_decide_all(m, false);
	return 0;
}

static int control_announce_storm(void *userdata, const char *name, uint64_t usec)
{
	Manager *m = ASSERT_PTR(userdata);
	uint64_t now = event_now(m->event);
	ManagedSmmu *only;

	if (named_smmu(m, name, &only) < 0)
		return -ENOENT;
	for (size_t i = 0; i < m->smmus.n; i++) {
		ManagedSmmu *ms = m->smmus.items[i];
		char before[FORMAT_TIMESPAN_MAX + 8] = "none", after[FORMAT_TIMESPAN_MAX + 8] = "none";

		if (only && ms != only)
			continue;
		if (!only && usec > 0 && ms->mode != SMMU_MODE_MANAGED)
			continue;
		/* A withdrawal of nothing (or of one over already) is no news. */
		if (usec == 0 && ms->policy.announced_until <= now) {
			policy_announce(&ms->policy, now, 0);
			continue;
		}
		if (ms->policy.announced_until > now)
			format_timespan(before, sizeof(before), ms->policy.announced_usec);
		policy_announce(&ms->policy, now, usec);
		if (usec > 0) {
			format_timespan(after, sizeof(after), usec);
			log_notice("%s: storm announced by the operator for %s.", ms->name, after);
		} else
			log_notice("%s: announced storm withdrawn by the operator.", ms->name);
		manager_emit_event(m, "announce", ms->name, NULL, before, after,
				   usec > 0 ? "storm announced by the operator"
					    : "withdrawn by the operator");
	}
	manager_decide_all(m, false);
	return 0;
}

static int control_reload(void *userdata, char ***ret_errors)
{
	return manager_reload(ASSERT_PTR(userdata), ret_errors);
}

static void control_view(void *userdata, DaemonView *ret)
{
	manager_view(ASSERT_PTR(userdata), ret);
}

int manager_start_control(Manager *m)
{
	static const BusControl control = {
		.view = control_view,
		.reload = control_reload,
		.set_override = control_set_override,
		.reclaim_knob = control_reclaim_knob,
		.announce_storm = control_announce_storm,
	};
	BusAccess access;
	int r;

	bus_access_resolve(m->config->admin_group, m->config->reader_group, &access);
	r = bus_new(m->event, m->bus, m->runtime_dir, &access, &control, m, &m->control);
	if (r >= 0)
		outbox_set_bus(m->outbox, m->control);
	return r;
}
