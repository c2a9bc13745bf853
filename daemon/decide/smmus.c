// SPDX-License-Identifier: GPL-2.0-or-later
#include "log.h"
#include "smmus.h"

static const char *const smmu_mode_table[_SMMU_MODE_MAX] = {
	[SMMU_MODE_MANAGED] = "managed",
	[SMMU_MODE_UNMANAGED] = "unmanaged",
	[SMMU_MODE_MONITOR] = "monitor-only",
	[SMMU_MODE_MAINLINE] = "mainline",
};

const char *smmu_mode_to_string(SmmuMode mode)
{
	return mode >= 0 && mode < _SMMU_MODE_MAX ? smmu_mode_table[mode] : NULL;
}

static ManagedSmmu *managed_smmu_free(ManagedSmmu *ms)
{
	if (!ms)
		return NULL;
	policy_smmu_done(&ms->policy);
	free(ms->name);
	free(ms);
	return NULL;
}

static ManagedSmmu *managed_smmu_new(const char *name)
{
	ManagedSmmu *ms = calloc(1, sizeof(ManagedSmmu));

	if (!ms)
		return NULL;
	ms->name = strdup(name);
	if (!ms->name) {
		free(ms);
		return NULL;
	}
	policy_smmu_init(&ms->policy);
	ms->mode = _SMMU_MODE_MAX;
	return ms;
}

void smmu_set_done(SmmuSet *s)
{
	for (size_t i = 0; i < s->n; i++)
		managed_smmu_free(s->items[i]);
	free(s->items);
	*s = (SmmuSet){};
}

ManagedSmmu *smmu_set_find(const SmmuSet *s, const char *name)
{
	/* Entries are NULL only while smmu_set_adopt() moves them to the new list. */
	for (size_t i = 0; i < s->n; i++)
		if (s->items[i] && streq(s->items[i]->name, name))
			return s->items[i];
	return NULL;
}

int smmu_set_adopt(SmmuSet *s, const Topology *t, Knobs *ks)
{
	ManagedSmmu **n = calloc(t->n_smmus + 1, sizeof(ManagedSmmu *));

	if (!n)
		return -ENOMEM;
	/* First allocate what is new, so a failure leaves everything as it was. */
	for (size_t i = 0; i < t->n_smmus; i++) {
		if (smmu_set_find(s, t->smmus[i].name))
			continue;
		n[i] = managed_smmu_new(t->smmus[i].name);
		if (!n[i]) {
			for (size_t j = 0; j < i; j++)
				managed_smmu_free(n[j]);
			free(n);
			return -ENOMEM;
		}
		log_info("Found %s.", n[i]->name);
	}
	for (size_t i = 0; i < t->n_smmus; i++) {
		if (!n[i])
			/* Keep its policy state: a rescan is no reason to end a storm. */
			for (size_t j = 0; j < s->n; j++)
				if (s->items[j] && streq(s->items[j]->name, t->smmus[i].name)) {
					n[i] = s->items[j];
					s->items[j] = NULL;
				}
		n[i]->smmu = &t->smmus[i];
	}
	/* What is left in the old list has disappeared. */
	for (size_t j = 0; j < s->n; j++) {
		if (!s->items[j])
			continue;
		log_warning("%s is gone.", s->items[j]->name);
		(void)knobs_forget_smmu(ks, s->items[j]->name);
		managed_smmu_free(s->items[j]);
	}
	free(s->items);
	s->items = n;
	s->n = t->n_smmus;
	return 0;
}

uint64_t smmu_set_next_deadline(const SmmuSet *s)
{
	uint64_t next = UINT64_MAX;

	for (size_t i = 0; i < s->n; i++)
		if (s->items[i]->decided && s->items[i]->decision.next_deadline < next)
			next = s->items[i]->decision.next_deadline;
	return next;
}

static SmmuMode mode_for(const ManagedSmmu *ms, const Topology *t)
{
	if (!ms->smmu->tunable)
		return t->kernel == KERNEL_CAP_MAINLINE ? SMMU_MODE_MAINLINE : SMMU_MODE_MONITOR;
	return ms->settings->manage ? SMMU_MODE_MANAGED : SMMU_MODE_UNMANAGED;
}

void smmu_configure(ManagedSmmu *ms, const Config *c, const Topology *t, const HostFacts *host,
		    Knobs *ks)
{
	SmmuFacts f;
	SmmuMode mode;

	profile_smmu_facts(ms->smmu, &f);
	ms->settings = config_settings_for(c, host, &f, &ms->profile);
	mode = mode_for(ms, t);
	if (ms->mode == SMMU_MODE_MANAGED && mode != SMMU_MODE_MANAGED)
		for (KnobAttr a = 0; a < _KNOB_ATTR_MAX; a++)
			if (ms->knobs[a])
				(void)knobs_restore(ks, ms->knobs[a], "unmanaged");
	if (mode != ms->mode)
		log_info("%s: %s%s%s (range invalidation: %s, %zu device(s), %zu group(s)).",
			 ms->name, smmu_mode_to_string(mode), ms->profile ? ", profile " : "",
			 ms->profile ?: "",
			 ms->smmu->tunable ? (f.range_invalidation ? "yes" : "no") : "unknown",
			 ms->smmu->n_devices, ms->smmu->n_groups);
	ms->mode = mode;
	for (KnobAttr a = 0; a < _KNOB_ATTR_MAX; a++) {
		ms->knobs[a] = ms->smmu->tunable ? knobs_get(ks, ms->name, a) : NULL;
		/* Read now: status shows the values, and "keep" needs them. */
		if (ms->knobs[a] && !ms->knobs[a]->current && knobs_read(ks, ms->knobs[a]) < 0)
			log_warning("%s: cannot read %s", ms->name, ms->knobs[a]->path);
	}
}

void smmu_decide(ManagedSmmu *ms, const PolicyHost *host, uint64_t now, SmmuDecided *ret)
{
	PolicyDecision d;

	policy_decide(&ms->policy, ms->settings, host, now, &d);
	*ret = (SmmuDecided){
		.first = !ms->decided,
		.flipped = !ms->decided || d.storm != ms->decision.storm,
		.reason_changed = ms->decided && d.reason != ms->decision.reason,
		.was_storm = ms->decision.storm,
	};
	if (!ret->first && ret->flipped)
		ms->storm_changed_usec = now;
	ms->decision = d;
	ms->decided = true;
}

/*
 * The order of the writes.  A storm's first write races the teardown of
 * the VM whose exit began it, and a dying VMM's devices leave its domain
 * before its memory is unmapped (QEMU's on every path, as VFIO's release
 * at an exit): teardown_mode governs that teardown, inv_threshold only
 * unmaps while a device is attached.
 */
static const KnobAttr apply_order[] = { KNOB_TEARDOWN_MODE, KNOB_THRESHOLD };
static_assert(ELEMENTSOF(apply_order) == _KNOB_ATTR_MAX, "apply_order must list every knob");

int smmu_apply(ManagedSmmu *ms, Knobs *ks, bool force)
{
	const char *why = policy_reason_to_string(ms->decision.reason);

	ms->apply_error = 0;
	if (ms->mode != SMMU_MODE_MANAGED || !ms->decided)
		return 0;
	for (size_t i = 0; i < ELEMENTSOF(apply_order); i++) {
		KnobAttr a = apply_order[i];
		const char *want = smmu_desired_value(ms, a);
		int r;

		if (!ms->knobs[a])
			continue;
		r = knobs_apply(ks, ms->knobs[a], want, why, force);
		/* -EBUSY: the operator's now, logged where it happened.  A failure is tried again. */
		if (r < 0 && r != -EBUSY) {
			log_warning_errno(r, "%s: could not apply %s=%s: %m", ms->name,
					  knob_attr_to_string(a), want);
			if (ms->apply_error == 0) {
				ms->apply_error = r;
				ms->apply_error_knob = a;
			}
		}
	}
	return ms->apply_error;
}

void smmu_arm(ManagedSmmu *ms, Knobs *ks, bool vms_behind)
{
	bool managed = ms->mode == SMMU_MODE_MANAGED && ms->decided;
	bool arm = managed && (vms_behind || ms->decision.reason == POLICY_BELOW_LIMIT);

	/*
	 * In a storm the knobs are as it set them.  One that had its storm
	 * value already needed no write: it holds nothing, has no state file
	 * entry, and stays open and watched for the storm's end and the next
	 * arming (an operator's write meanwhile is seen there).  Letting it go
	 * now would cost a close and an inotify_rm_watch() in the wake-up that
	 * races the dying VMM's teardown, to arm it again at the storm's end.
	 */
	if (managed && ms->decision.storm)
		return;

	/* One state file write for all its knobs. */
	knobs_save_begin(ks);
	for (KnobAttr a = 0; a < _KNOB_ATTR_MAX; a++) {
		const char *want = knob_values_get(&ms->settings->storm, a);

		if (!ms->knobs[a])
			continue;
		if (arm && !streq(want, "keep"))
			(void)knobs_arm(ks, ms->knobs[a], want);
		else
			(void)knobs_disarm(ks, ms->knobs[a]);
	}
	(void)knobs_save_end(ks);
}

const char *smmu_desired_value(const ManagedSmmu *ms, KnobAttr a)
{
	if (!ms->decided || !ms->decision.values)
		return "keep";
	return knob_values_get(ms->decision.values, a);
}

const char *smmu_baseline_value(const ManagedSmmu *ms, KnobAttr a)
{
	const char *v = knob_values_get(&ms->settings->baseline, a);
	const Knob *k = ms->knobs[a];

	if (!streq(v, "keep"))
		return v;
	return k ? k->original ?: k->current : NULL;
}
