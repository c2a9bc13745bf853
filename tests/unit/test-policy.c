// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The storm policy: entering at the limit and not one exit earlier,
 * leaving after the hold time and not earlier, never flapping, shutdown
 * and overrides.  Time is an argument, so these tests never sleep.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "policy.h"

#define S USEC_PER_SEC
#define MS USEC_PER_MSEC
#define T0 (1000 * S)

static SmmuSettings settings(void)
{
	SmmuSettings s;
	Config *c = config_new_defaults();

	assert_non_null(c);
	s = c->defaults;
	config_free(c);
	s.window_usec = 2 * S;
	s.exit_limit = 3;
	s.pinned_limit = 0;
	s.hold_usec = 10 * S;
	snprintf(s.baseline.threshold, KNOB_VALUE_MAX, "auto");
	snprintf(s.baseline.teardown_mode, KNOB_VALUE_MAX, "strict");
	return s;
}

static void exit_and_decide(PolicySmmu *p, const SmmuSettings *s, uint64_t now, uint64_t bytes,
			    PolicyDecision *d)
{
	assert_int_equal(policy_record_exit(p, s, now, bytes), 0);
	policy_decide(p, s, false, now, d);
}

static void test_idle_is_baseline_without_deadline(void **state)
{
	SmmuSettings s = settings();
	PolicySmmu p;
	PolicyDecision d;

	policy_smmu_init(&p);
	policy_decide(&p, &s, false, T0, &d);
	assert_false(d.storm);
	assert_int_equal(d.reason, POLICY_IDLE);
	assert_ptr_equal(d.values, &s.baseline);
	/* Idle means no timer at all. */
	assert_int_equal(d.next_deadline, UINT64_MAX);
	policy_smmu_done(&p);
}

static void test_below_limit_ends_when_the_window_empties(void **state)
{
	SmmuSettings s = settings();
	PolicySmmu p;
	PolicyDecision d;

	policy_smmu_init(&p);
	exit_and_decide(&p, &s, T0, 0, &d);
	exit_and_decide(&p, &s, T0 + 500 * MS, 0, &d);
	assert_int_equal(d.reason, POLICY_BELOW_LIMIT);
	/* The newest exit leaves the window then (the daemon's arming ends). */
	assert_int_equal(d.next_deadline, T0 + 500 * MS + 2 * S);
	policy_decide(&p, &s, false, T0 + 500 * MS + 2 * S - 1, &d);
	assert_int_equal(d.reason, POLICY_BELOW_LIMIT);
	policy_decide(&p, &s, false, T0 + 500 * MS + 2 * S, &d);
	assert_int_equal(d.reason, POLICY_IDLE);
	assert_false(d.storm);
	assert_false(d.changed);
	assert_int_equal(d.next_deadline, UINT64_MAX);
	policy_smmu_done(&p);
}

static void test_enters_exactly_at_exit_limit(void **state)
{
	SmmuSettings s = settings();
	PolicySmmu p;
	PolicyDecision d;

	policy_smmu_init(&p);
	exit_and_decide(&p, &s, T0, 0, &d);
	assert_false(d.storm);
	assert_int_equal(d.reason, POLICY_BELOW_LIMIT);
	exit_and_decide(&p, &s, T0 + 500 * MS, 0, &d);
	assert_false(d.storm);
	/* The third exit within the window is the limit: storm at once. */
	exit_and_decide(&p, &s, T0 + 1900 * MS, 0, &d);
	assert_true(d.storm);
	assert_true(d.changed);
	assert_int_equal(d.reason, POLICY_EXIT_LIMIT);
	assert_ptr_equal(d.values, &s.storm);
	assert_non_null(strstr(d.why, "3 exits within 2s (ExitLimit=3)"));
	assert_int_equal(d.next_deadline, T0 + 1900 * MS + 10 * S);
	assert_int_equal(p.storms_total, 1);
	policy_smmu_done(&p);
}

static void test_exits_outside_window_do_not_add_up(void **state)
{
	SmmuSettings s = settings();
	PolicySmmu p;
	PolicyDecision d;

	policy_smmu_init(&p);
	/* Three exits, each pair 1s apart, window 2s: at most 2 in it... */
	exit_and_decide(&p, &s, T0, 0, &d);
	exit_and_decide(&p, &s, T0 + 1 * S, 0, &d);
	/* ...the first left the window exactly when the third comes. */
	exit_and_decide(&p, &s, T0 + 2 * S, 0, &d);
	assert_false(d.storm);
	assert_int_equal(policy_window_exits(&p, &s, T0 + 2 * S, NULL), 2);
	/* A slow trickle over an hour never storms. */
	for (uint64_t t = T0 + 3 * S; t < T0 + 3600 * S; t += 1100 * MS) {
		exit_and_decide(&p, &s, t, 0, &d);
		assert_false(d.storm);
	}
	policy_smmu_done(&p);
}

static void test_pinned_limit(void **state)
{
	SmmuSettings s = settings();
	PolicySmmu p;
	PolicyDecision d;
	uint64_t bytes;

	s.exit_limit = 0;
	s.pinned_limit = 64ULL << 30;
	policy_smmu_init(&p);
	exit_and_decide(&p, &s, T0, 32ULL << 30, &d);
	assert_false(d.storm);
	exit_and_decide(&p, &s, T0 + 1 * S, (32ULL << 30) - 1, &d);
	assert_false(d.storm);
	assert_int_equal(policy_window_exits(&p, &s, T0 + 1 * S, &bytes), 2);
	assert_int_equal(bytes, (64ULL << 30) - 1);
	exit_and_decide(&p, &s, T0 + 1500 * MS, 1, &d);
	assert_true(d.storm);
	assert_int_equal(d.reason, POLICY_PINNED_LIMIT);
	assert_non_null(strstr(d.why, "64G pinned memory"));
	policy_smmu_done(&p);
}

static void test_both_limits_off_never_storms(void **state)
{
	SmmuSettings s = settings();
	PolicySmmu p;
	PolicyDecision d;

	s.exit_limit = 0;
	s.pinned_limit = 0;
	policy_smmu_init(&p);
	for (int i = 0; i < 1000; i++)
		exit_and_decide(&p, &s, T0 + (uint64_t)i, UINT64_MAX / 2, &d);
	assert_false(d.storm);
	policy_smmu_done(&p);
}

static void test_leaves_after_hold_time_exactly(void **state)
{
	SmmuSettings s = settings();
	PolicySmmu p;
	PolicyDecision d;

	policy_smmu_init(&p);
	for (int i = 0; i < 3; i++)
		exit_and_decide(&p, &s, T0 + (uint64_t)i * MS, 0, &d);
	assert_true(d.storm);
	/* Another exit during the storm extends it. */
	exit_and_decide(&p, &s, T0 + 5 * S, 0, &d);
	assert_true(d.storm);
	assert_int_equal(d.reason, POLICY_HOLD);
	assert_int_equal(d.next_deadline, T0 + 15 * S);

	policy_decide(&p, &s, false, T0 + 15 * S - 1, &d);
	assert_true(d.storm);
	assert_false(d.changed);
	policy_decide(&p, &s, false, T0 + 15 * S, &d);
	assert_false(d.storm);
	assert_true(d.changed);
	assert_int_equal(d.reason, POLICY_QUIET);
	assert_ptr_equal(d.values, &s.baseline);
	assert_int_equal(d.next_deadline, UINT64_MAX);
	policy_smmu_done(&p);
}

static void test_never_flaps(void **state)
{
	SmmuSettings s = settings();
	PolicySmmu p;
	PolicyDecision d;
	unsigned flips = 0;
	bool storm = false;

	/*
	 * A steady stream right at the limit for ten minutes: one storm,
	 * held throughout, one end.  Decisions between exits too.
	 */
	policy_smmu_init(&p);
	for (uint64_t t = T0; t < T0 + 600 * S; t += 700 * MS) {
		exit_and_decide(&p, &s, t, 0, &d);
		flips += d.storm != storm;
		storm = d.storm;
		policy_decide(&p, &s, false, t + 350 * MS, &d);
		flips += d.storm != storm;
		storm = d.storm;
	}
	assert_true(storm);
	assert_int_equal(flips, 1);
	policy_decide(&p, &s, false, T0 + 700 * S, &d);
	assert_false(d.storm);
	/* Right after leaving, one exit alone does not re-enter. */
	exit_and_decide(&p, &s, T0 + 700 * S + 1, 0, &d);
	assert_false(d.storm);
	assert_int_equal(p.storms_total, 1);
	policy_smmu_done(&p);
}

static void test_window_ring_grows(void **state)
{
	SmmuSettings s = settings();
	PolicySmmu p;
	PolicyDecision d;

	/* 10,000 exits in one window: counted, none lost. */
	s.exit_limit = 10000;
	policy_smmu_init(&p);
	for (int i = 0; i < 9999; i++)
		exit_and_decide(&p, &s, T0 + (uint64_t)i * 100, 1, &d);
	assert_false(d.storm);
	assert_int_equal(policy_window_exits(&p, &s, T0 + 9999 * 100, NULL), 9999);
	exit_and_decide(&p, &s, T0 + 9999 * 100, 1, &d);
	assert_true(d.storm);
	assert_int_equal(p.exits_total, 10000);
	policy_smmu_done(&p);
}

static void test_shutdown_storms(void **state)
{
	SmmuSettings s = settings();
	PolicySmmu p;
	PolicyDecision d;

	policy_smmu_init(&p);
	policy_decide(&p, &s, true, T0, &d);
	assert_true(d.storm);
	assert_int_equal(d.reason, POLICY_SHUTDOWN);
	assert_ptr_equal(d.values, &s.storm);
	/* It never ends by itself: the host is going down. */
	policy_decide(&p, &s, true, T0 + 3600 * S, &d);
	assert_true(d.storm);

	s.storm_on_shutdown = false;
	policy_decide(&p, &s, true, T0 + 3600 * S, &d);
	assert_false(d.storm);
	policy_smmu_done(&p);
}

static void test_overrides_win(void **state)
{
	SmmuSettings s = settings();
	KnobValues pin = { "128", "strict" };
	PolicySmmu p;
	PolicyDecision d;

	policy_smmu_init(&p);
	policy_set_override(&p, OVERRIDE_STORM, NULL);
	policy_decide(&p, &s, false, T0, &d);
	assert_true(d.storm);
	assert_int_equal(d.reason, POLICY_FORCED_STORM);

	/* Forced baseline beats both a real storm and a shutdown. */
	for (int i = 0; i < 3; i++)
		assert_int_equal(policy_record_exit(&p, &s, T0 + (uint64_t)i, 0), 0);
	policy_set_override(&p, OVERRIDE_BASELINE, NULL);
	policy_decide(&p, &s, true, T0 + 3, &d);
	assert_false(d.storm);
	assert_int_equal(d.reason, POLICY_FORCED_BASELINE);
	assert_ptr_equal(d.values, &s.baseline);
	/* Underneath, the automatic storm began and keeps its deadline. */
	assert_true(p.storm);
	assert_int_equal(d.next_deadline, T0 + 2 + 10 * S);

	policy_set_override(&p, OVERRIDE_PIN, &pin);
	policy_decide(&p, &s, false, T0 + 4, &d);
	assert_int_equal(d.reason, POLICY_PINNED_PROFILE);
	assert_string_equal(d.values->threshold, "128");
	assert_string_equal(d.values->teardown_mode, "strict");

	/* Lifting the override lands on the automatic state. */
	policy_set_override(&p, OVERRIDE_NONE, NULL);
	policy_decide(&p, &s, false, T0 + 5, &d);
	assert_true(d.storm);
	assert_int_equal(d.reason, POLICY_HOLD);
	policy_smmu_done(&p);
}

static void test_strings(void **state)
{
	assert_string_equal(policy_reason_to_string(POLICY_EXIT_LIMIT), "exit-limit");
	assert_null(policy_reason_to_string(_POLICY_REASON_MAX));
	assert_int_equal(policy_override_from_string("pin"), OVERRIDE_PIN);
	assert_int_equal(policy_override_from_string("nope"), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_idle_is_baseline_without_deadline),
		cmocka_unit_test(test_below_limit_ends_when_the_window_empties),
		cmocka_unit_test(test_enters_exactly_at_exit_limit),
		cmocka_unit_test(test_exits_outside_window_do_not_add_up),
		cmocka_unit_test(test_pinned_limit),
		cmocka_unit_test(test_both_limits_off_never_storms),
		cmocka_unit_test(test_leaves_after_hold_time_exactly),
		cmocka_unit_test(test_never_flaps),
		cmocka_unit_test(test_window_ring_grows),
		cmocka_unit_test(test_shutdown_storms),
		cmocka_unit_test(test_overrides_win),
		cmocka_unit_test(test_strings),
	};

	return cmocka_run_group_tests_name("policy", tests, NULL, NULL);
}
