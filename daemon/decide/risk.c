// SPDX-License-Identifier: GPL-2.0-or-later
#include "risk.h"
#include "util.h"

/* Mainline's built-in threshold: 1 << (ilog2(granule) - 3) commands. */
static uint64_t granule_threshold(uint64_t granule)
{
	return granule >> 3;
}

static uint64_t add_sat(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static uint64_t mul_sat(uint64_t a, uint64_t b)
{
	return b != 0 && a > UINT64_MAX / b ? UINT64_MAX : a * b;
}

/* Commands for one unmap call of this many bytes. */
static uint64_t call_commands(uint64_t bytes, uint64_t granule, bool ril, uint64_t threshold)
{
	uint64_t n = ril ? 1 : bytes / granule + (bytes % granule != 0);

	return threshold > 0 && n > threshold ? 1 : n;
}

static uint64_t vm_commands(uint64_t pinned, uint64_t granule, bool ril, const RiskKnobs *k)
{
	uint64_t threshold = k->tunables ? k->threshold : 0;
	uint64_t rest = pinned % RISK_UNMAP_CALL_BYTES;

	if (pinned == 0)
		return 0;
	/* Nothing attached, nothing to invalidate until the final flush. */
	if ((k->tunables && k->deferred) || k->mainline)
		return 1;
	return add_sat(mul_sat(pinned / RISK_UNMAP_CALL_BYTES,
			       call_commands(RISK_UNMAP_CALL_BYTES, granule, ril, threshold)),
		       rest ? call_commands(rest, granule, ril, threshold) : 0);
}

void risk_estimate(const uint64_t *pinned, size_t n_vms, uint64_t granule,
		   bool range_invalidation, const RiskKnobs *knobs, uint64_t cost_ns,
		   RiskEstimate *ret)
{
	uint64_t commands = 0;

	if (granule < 4096)
		granule = 4096;
	for (size_t i = 0; i < n_vms; i++)
		commands = add_sat(commands, vm_commands(pinned[i], granule, range_invalidation, knobs));
	ret->commands = commands;
	ret->nsec = mul_sat(commands, cost_ns);
}

void risk_knobs_from_values(const char *threshold, const char *teardown_mode,
			    const RiskKnobs *current, uint64_t granule, RiskKnobs *ret)
{
	uint64_t t;

	*ret = *current;
	if (!current->tunables)
		return; /* no tunables: the storm values cannot be applied */
	if (threshold && streq(threshold, "auto"))
		ret->threshold = granule_threshold(granule < 4096 ? 4096 : granule);
	else if (threshold && safe_atou64(threshold, &t) >= 0)
		ret->threshold = t;
	if (teardown_mode && streq(teardown_mode, "deferred"))
		ret->deferred = true;
	else if (teardown_mode && streq(teardown_mode, "strict"))
		ret->deferred = false;
}
