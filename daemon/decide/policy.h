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
 * burst.  On top of it: a host shutdown (storm, if OnShutdown=) and manual
 * overrides, which win over everything.
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
} PolicyExit;

typedef struct PolicySmmu {
	/* Exits within the window, oldest first, in a ring. */
	PolicyExit *exits;
	size_t head, n_exits, capacity;
	uint64_t window_bytes;   /* sum of pinned_bytes in the ring */

	bool storm;              /* the automatic state */
	PolicyReason storm_reason; /* why the current/last storm started */
	uint64_t storm_since;
	uint64_t last_exit;
	bool any_exit;

	PolicyOverride override;
	KnobValues pinned;      /* for OVERRIDE_PIN */

	uint64_t exits_total;
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

/* One VM behind this SMMU exited at now, tearing down pinned_bytes. */
int policy_record_exit(PolicySmmu *p, const SmmuSettings *s, uint64_t now,
		       uint64_t pinned_bytes);

void policy_set_override(PolicySmmu *p, PolicyOverride o, const KnobValues *pinned);

/* Updates the automatic state for now and says what the knobs should be. */
void policy_decide(PolicySmmu *p, const SmmuSettings *s, bool shutdown, uint64_t now,
		   PolicyDecision *ret);

/* Exits and bytes currently inside the window (after pruning for now). */
size_t policy_window_exits(PolicySmmu *p, const SmmuSettings *s, uint64_t now,
			   uint64_t *ret_bytes);
