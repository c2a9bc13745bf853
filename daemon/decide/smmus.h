/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The SMMUs as smmud manages them: for each SMMUv3 of the topology, what
 * smmud may do with it (its mode), the settings that apply (the config
 * and the profile it matches), its policy state and last decision, and
 * its knobs.  Kept across topology rescans and reloads: a rescan is no
 * reason to end a storm.  The rules between a decision and the knobs are
 * here too: what a decision asks of each knob ("keep": its original),
 * what the baseline stands for now, and which storm values are armed
 * ahead of a storm.
 */

#include "config.h"
#include "knobs.h"
#include "policy.h"
#include "profile.h"
#include "topology.h"

typedef enum SmmuMode {
	SMMU_MODE_MANAGED,    /* tunables present, Manage=yes: smmud writes them */
	SMMU_MODE_UNMANAGED,  /* tunables present, Manage=no: decide and report only */
	SMMU_MODE_MONITOR,    /* SMMUv3 without our tunables (unpatched kernel) */
	SMMU_MODE_MAINLINE,   /* kernel >= 7.1 handles it itself, no tunables */
	_SMMU_MODE_MAX,
} SmmuMode;

const char *smmu_mode_to_string(SmmuMode m);

typedef struct ManagedSmmu {
	char *name;
	const Smmu *smmu;              /* in the current topology */
	SmmuMode mode;
	const SmmuSettings *settings;  /* in the current config */
	const char *profile;           /* matching [Profile] name, NULL: the plain sections */
	PolicySmmu policy;
	PolicyDecision decision;       /* the last one */
	bool decided;                  /* decision is valid */
	Knob *knobs[_KNOB_ATTR_MAX];   /* NULL unless tunable */
	uint64_t storm_changed_usec;   /* CLOCK_MONOTONIC of the last storm flip */
	int apply_error;               /* the last smmu_apply(): 0, or the first -errno of */
	KnobAttr apply_error_knob;     /* ... this knob (its write, read or state file) */
} ManagedSmmu;

/* Every SMMUv3 of the topology, in its order. */
typedef struct SmmuSet {
	ManagedSmmu **items;
	size_t n;
} SmmuSet;

void smmu_set_done(SmmuSet *s);
ManagedSmmu *smmu_set_find(const SmmuSet *s, const char *name);
/*
 * Follows the topology t: an SMMU it still has keeps its state, a new one
 * starts afresh, the knobs of one gone are forgotten (they cannot be
 * restored any more).  -ENOMEM changes nothing.  smmu_configure() each
 * after.
 */
int smmu_set_adopt(SmmuSet *s, const Topology *t, Knobs *ks);
/* The earliest deadline of the last decisions, UINT64_MAX: none. */
uint64_t smmu_set_next_deadline(const SmmuSet *s);

/*
 * Settings, mode and knobs from the config, the topology and the host, at
 * every rescan and reload.  A knob leaving management gets its original
 * back.
 */
void smmu_configure(ManagedSmmu *ms, const Config *c, const Topology *t, const HostFacts *host,
		    Knobs *ks);

/* How a decision differs from the one before it. */
typedef struct SmmuDecided {
	bool first;            /* no decision before */
	bool flipped;          /* storm state changed (or first) */
	bool reason_changed;   /* the reason, of a decision that was not the first */
	bool was_storm;        /* the state before */
} SmmuDecided;

/* Decides for now (host: what the host announced); ms->decision is the new one. */
void smmu_decide(ManagedSmmu *ms, const PolicyHost *host, uint64_t now, SmmuDecided *ret);
/*
 * Brings a managed SMMU's knobs to its decision (force: also those applied
 * already).  Returns, and keeps in ms->apply_error, the first failure (a
 * write the kernel refused, a knob that could not be read, a state file
 * that could not be written); a knob left to the operator is none.
 */
int smmu_apply(ManagedSmmu *ms, Knobs *ks, bool force);
/*
 * VMs behind it that may die (vms_behind), or exits below the limits: the
 * storm may be one exit away, and the exit that crosses it is heard
 * milliseconds before the dying VMM's teardown.  The storm values go in
 * the state file now, when a VM is found, so that neither the first exit
 * of a shutdown nor the storm's write pays for a file write; with no VM
 * behind it and no exit in the window they come out again.  In a storm
 * the knobs are left as they are: armed ones stay armed.
 */
void smmu_arm(ManagedSmmu *ms, Knobs *ks, bool vms_behind);

/*
 * What the last decision wants the knob to hold ("keep": its original;
 * also before any decision), whether or not a write got it there (the
 * knob's current value tells that).
 */
const char *smmu_desired_value(const ManagedSmmu *ms, KnobAttr a);
/* The baseline value without "keep": what the baseline means for the knob now. */
const char *smmu_baseline_value(const ManagedSmmu *ms, KnobAttr a);
