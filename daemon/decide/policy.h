/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The storm decision for one SMMU.  Pure: no I/O, no globals, no clock
 * reads; time is an argument (CLOCK_MONOTONIC µs in the daemon), so every
 * decision is a function of its inputs and the unit tests cover it all.
 *
 * Automatic state: baseline until the exits behind the SMMU within Window
 * reach ExitLimit, or the pinned memory those exits tear down reaches
 * PinnedLimit; then storm until HoldTime passed with no exit at all.
 * HoldTime >= Window (config validation) makes that a hysteresis: when a
 * storm ends its window is empty, so it cannot restart without a new
 * burst.
 *
 * A storm may also be announced before any VM exits: a VM's stop job
 * counts as its exit, early (policy_record_stop(); its exit then counts
 * no more); a host shutdown, libvirt-guests stopping every guest, or the
 * operator (storm enter --for) announce one for a time or until withdrawn.
 * An announced storm holds while its announcement does, and then, like
 * any storm, until HoldTime passed without an exit: one announced too
 * short does not end in the middle of the teardowns.  On top of it all,
 * manual overrides, which win over everything.
 */

#include "config.h"

typedef enum PolicyReason {
	POLICY_IDLE,             /* baseline, nothing is dying */
	POLICY_BELOW_LIMIT,      /* baseline, exits seen but below the limits */
	POLICY_EXIT_LIMIT,       /* storm started: ExitLimit reached */
	POLICY_PINNED_LIMIT,     /* storm started: PinnedLimit reached */
	POLICY_HOLD,             /* storm goes on: an exit within HoldTime */
	POLICY_QUIET,            /* storm ended: HoldTime without exits */
	POLICY_SHUTDOWN,         /* host shutdown announced */
	POLICY_GUESTS_STOPPING,  /* libvirt-guests.service stops every guest */
	POLICY_ANNOUNCED,        /* a storm announced by the operator, for a time */
	POLICY_FORCED_STORM,     /* override */
	POLICY_FORCED_BASELINE,  /* override */
	POLICY_PINNED_PROFILE,   /* override: fixed values */
	_POLICY_REASON_MAX,
} PolicyReason;

typedef enum PolicyOverride {
	OVERRIDE_NONE,
	OVERRIDE_STORM,
	OVERRIDE_BASELINE,
	OVERRIDE_PIN,
	_OVERRIDE_MAX,
} PolicyOverride;

const char *policy_reason_to_string(PolicyReason r);
const char *policy_override_to_string(PolicyOverride o);
int policy_override_from_string(const char *s);

typedef struct PolicyExit {
	uint64_t when;
	uint64_t pinned_bytes;
	bool stop;               /* announced by the VM's stop job, not exited yet */
} PolicyExit;

/*
 * What the host announced for every SMMU alike, each the time it holds
 * until: 0 never announced, USEC_INFINITY until withdrawn (a withdrawal
 * is the time it happened: the storm then holds for HoldTime after the
 * last exit, as any storm).  The SMMU's settings say whether each applies
 * (OnShutdown=, OnGuestsStop=).
 */
typedef struct PolicyHost {
	uint64_t shutdown_until;     /* logind, a shutdown target's job */
	uint64_t guests_until;       /* libvirt-guests.service deactivating */
} PolicyHost;

typedef struct PolicySmmu {
	/* Exits within the window, oldest first, in a ring. */
	PolicyExit *exits;
	size_t head, n_exits, capacity;
	uint64_t window_bytes;   /* sum of pinned_bytes in the ring */

	bool storm;              /* the automatic state */
	PolicyReason storm_reason; /* why the current/last storm started */
	uint64_t storm_since;
	uint64_t last_exit;      /* the last exit or stop job */
	bool any_exit;

	/* A storm the operator announced for this SMMU: until, and for how long it was. */
	uint64_t announced_until;
	uint64_t announced_usec;

	PolicyOverride override;
	KnobValues pinned;      /* for OVERRIDE_PIN */

	uint64_t exits_total;
	uint64_t stops_total;    /* stop jobs counted ahead of their exits */
	uint64_t storms_total;
} PolicySmmu;

typedef struct PolicyDecision {
	bool storm;              /* the storm values apply (automatic, shutdown or forced) */
	const KnobValues *values; /* what the knobs should hold; "keep" = the original */
	PolicyReason reason;
	bool changed;            /* storm flipped in this call */
	uint64_t next_deadline;  /* evaluate again then, without new exits (the end of a
				  * storm, or of below-limit); UINT64_MAX: never */
	char why[192];           /* for logs and status */
} PolicyDecision;

void policy_smmu_init(PolicySmmu *p);
void policy_smmu_done(PolicySmmu *p);

/*
 * One VM behind this SMMU exited at now, tearing down pinned_bytes.
 * stopped: when its stop job was counted (policy_record_stop()), 0: never;
 * within Window it is in the window already, and only the exit's time
 * counts now.
 */
int policy_record_exit(PolicySmmu *p, const SmmuSettings *s, uint64_t now,
		       uint64_t pinned_bytes, uint64_t stopped);
/*
 * A stop job for a VM behind this SMMU was queued at now: its exit is
 * coming, and counts from now (as an exit in the window, and for the hold).
 */
int policy_record_stop(PolicySmmu *p, const SmmuSettings *s, uint64_t now,
		       uint64_t pinned_bytes);

void policy_set_override(PolicySmmu *p, PolicyOverride o, const KnobValues *pinned);
/*
 * The operator announces a storm on this SMMU from now for usec (0:
 * withdraws it, leaving no hold behind).
 */
void policy_announce(PolicySmmu *p, uint64_t now, uint64_t usec);

/*
 * Updates the automatic state for now and says what the knobs should be.
 * host: what the host announced (NULL: nothing).
 */
void policy_decide(PolicySmmu *p, const SmmuSettings *s, const PolicyHost *host, uint64_t now,
		   PolicyDecision *ret);

/* Exits and bytes currently inside the window (after pruning for now). */
size_t policy_window_exits(PolicySmmu *p, const SmmuSettings *s, uint64_t now,
			   uint64_t *ret_bytes);
