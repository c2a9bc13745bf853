/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * What a simultaneous teardown of every VM behind one SMMU would cost, in
 * TLB invalidation commands and time.  Pure: the facts come in as
 * arguments, so smmuctl risk gives the same answer from smmud's model or
 * from its own scan, and the unit tests cover the model whole.
 *
 * The model (measured on the test bench, see README):
 *  - VFIO unmaps a VM's pinned memory in calls of RISK_UNMAP_CALL_BYTES;
 *  - with no range invalidation the kernel issues one command per granule
 *    of every call, with range invalidation one per call;
 *  - above the inv_threshold tunable (commands) a call becomes one
 *    whole-context invalidation; mainline (>= 7.1) has that built in, at
 *    granule/8 commands;
 *  - teardown_mode=deferred (and mainline) skip invalidation for a domain
 *    with no device attached, which VFIO detaches first: one flush per VM;
 *  - every VM behind the SMMU shares its one command queue: costs add up.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>


#define RISK_UNMAP_CALL_BYTES (2ULL << 20)

typedef struct RiskKnobs {
	bool tunables;          /* the kernel has inv_threshold/teardown_mode */
	bool mainline;          /* mainline's built-in handling, no tunables */
	uint64_t threshold;     /* commands; 0 = no threshold ("auto" counts as mainline's) */
	bool deferred;          /* teardown_mode=deferred */
} RiskKnobs;

typedef struct RiskEstimate {
	uint64_t commands;
	uint64_t nsec;
} RiskEstimate;

/*
 * Cost of tearing down VMs with the given pinned bytes (one entry per VM)
 * behind an SMMU with the given granule (bytes, a power of two >= 4096) and
 * range invalidation.  cost_ns: the time of one command.
 */
void risk_estimate(const uint64_t *pinned, size_t n_vms, uint64_t granule,
		   bool range_invalidation, const RiskKnobs *knobs, uint64_t cost_ns,
		   RiskEstimate *ret);

/*
 * The knobs a KnobValues stands for ("keep" = current): for the
 * estimate with smmud's storm settings.  threshold "auto" is the granule
 * rule mainline uses.
 */
void risk_knobs_from_values(const char *threshold, const char *teardown_mode,
			    const RiskKnobs *current, uint64_t granule, RiskKnobs *ret);
