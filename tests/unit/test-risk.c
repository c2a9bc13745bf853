// SPDX-License-Identifier: GPL-2.0-or-later
/* smmuctl risk's model: commands and time of a mass teardown per SMMU. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "risk.h"

#define GiB (1ULL << 30)

static const RiskKnobs unpatched = { 0 };

static void test_no_ril_one_command_per_page(void **state)
{
	uint64_t pinned[] = { GiB };
	RiskEstimate e;

	/* The test bench measured 262,646 commands for 1 GiB of 4 KiB pages. */
	risk_estimate(pinned, 1, 4096, false, &unpatched, 150, &e);
	assert_int_equal(e.commands, 262144);
	assert_int_equal(e.nsec, 262144ULL * 150);
}

static void test_ril_one_command_per_call(void **state)
{
	uint64_t pinned[] = { GiB };
	RiskEstimate e;

	/* Measured: 515 commands for 1 GiB with range invalidation. */
	risk_estimate(pinned, 1, 4096, true, &unpatched, 150, &e);
	assert_int_equal(e.commands, 512);
}

static void test_vms_add_up_and_round_up(void **state)
{
	uint64_t pinned[] = { GiB, 0, 4096 + 1, GiB + 8192 };
	RiskEstimate e;

	/* A partial call counts its granules, rounded up; nothing pinned, nothing. */
	risk_estimate(pinned, 4, 4096, false, &unpatched, 1, &e);
	assert_int_equal(e.commands, 262144 + 0 + 2 + 262144 + 2);
	risk_estimate(pinned, 4, 4096, true, &unpatched, 1, &e);
	assert_int_equal(e.commands, 512 + 0 + 1 + 513);
}

static void test_threshold_and_deferred(void **state)
{
	uint64_t pinned[] = { GiB, 2 * GiB };
	RiskKnobs t = { .tunables = true, .threshold = 16 };
	RiskKnobs high = { .tunables = true, .threshold = 100000 };
	RiskKnobs d = { .tunables = true, .deferred = true };
	RiskKnobs ml = { .mainline = true };
	RiskEstimate e;

	risk_estimate(pinned, 2, 4096, false, &t, 150, &e);
	assert_int_equal(e.commands, 512 + 1024);
	/* A threshold above the call size changes nothing. */
	risk_estimate(pinned, 2, 4096, false, &high, 150, &e);
	assert_int_equal(e.commands, 3 * 262144);
	risk_estimate(pinned, 2, 4096, false, &d, 150, &e);
	assert_int_equal(e.commands, 2);
	risk_estimate(pinned, 2, 4096, false, &ml, 150, &e);
	assert_int_equal(e.commands, 2);
}

static void test_knobs_from_values(void **state)
{
	RiskKnobs cur = { .tunables = true, .threshold = 0 }, k;

	risk_knobs_from_values("16", "deferred", &cur, 4096, &k);
	assert_true(k.tunables && k.deferred);
	assert_int_equal(k.threshold, 16);
	risk_knobs_from_values("auto", "keep", &cur, 65536, &k);
	assert_int_equal(k.threshold, 8192);
	assert_false(k.deferred);
	/* Without tunables the storm values cannot apply. */
	cur.tunables = false;
	risk_knobs_from_values("16", "deferred", &cur, 4096, &k);
	assert_false(k.deferred);
	assert_int_equal(k.threshold, 0);
}

static void test_saturates(void **state)
{
	uint64_t pinned[] = { UINT64_MAX, UINT64_MAX };
	RiskEstimate e;

	risk_estimate(pinned, 2, 4096, false, &unpatched, 1000000000, &e);
	assert_int_equal(e.nsec, UINT64_MAX);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_ril_one_command_per_page),
		cmocka_unit_test(test_ril_one_command_per_call),
		cmocka_unit_test(test_vms_add_up_and_round_up),
		cmocka_unit_test(test_threshold_and_deferred),
		cmocka_unit_test(test_knobs_from_values),
		cmocka_unit_test(test_saturates),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
