// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The storm policy: entering at the limit and not one exit earlier,
 * leaving after the hold time and not earlier, never flapping, stop jobs
 * counted ahead of their exits and once, announced storms (shutdown,
 * libvirt-guests, the operator's) and overrides.  Time is an argument, so
 * these tests never sleep.
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
	assert_int_equal(policy_record_exit(p, s, now, bytes, 0), 0);
	policy_decide(p, s, NULL, now, d);
}

static void test_idle_is_baseline_without_deadline(void **state)
{
	SmmuSettings s = settings();
	PolicySmmu p;
	PolicyDecision d;

	policy_smmu_init(&p);
	policy_decide(&p, &s, NULL, T0, &d);
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
	policy_decide(&p, &s, NULL, T0 + 500 * MS + 2 * S - 1, &d);
	assert_int_equal(d.reason, POLICY_BELOW_LIMIT);
	policy_decide(&p, &s, NULL, T0 + 500 * MS + 2 * S, &d);
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

	policy_decide(&p, &s, NULL, T0 + 15 * S - 1, &d);
	assert_true(d.storm);
	assert_false(d.changed);
	policy_decide(&p, &s, NULL, T0 + 15 * S, &d);
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
		policy_decide(&p, &s, NULL, t + 350 * MS, &d);
		flips += d.storm != storm;
		storm = d.storm;
	}
	assert_true(storm);
	assert_int_equal(flips, 1);
	policy_decide(&p, &s, NULL, T0 + 700 * S, &d);
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

static const PolicyHost shutdown = { .shutdown_until = USEC_INFINITY };

static void test_shutdown_storms(void **state)
{
	SmmuSettings s = settings();
	PolicySmmu p;
	PolicyDecision d;

	policy_smmu_init(&p);
	policy_decide(&p, &s, &shutdown, T0, &d);
	assert_true(d.storm);
	assert_true(d.changed);
	assert_int_equal(d.reason, POLICY_SHUTDOWN);
	assert_ptr_equal(d.values, &s.storm);
	assert_string_equal(d.why, "host shutdown announced");
	assert_int_equal(d.next_deadline, UINT64_MAX);
	assert_int_equal(p.storms_total, 1);
	/* It never ends by itself: the host is going down. */
	policy_decide(&p, &s, &shutdown, T0 + 3600 * S, &d);
	assert_true(d.storm);
	assert_false(d.changed);

	s.storm_on_shutdown = false;
	policy_decide(&p, &s, &shutdown, T0 + 3600 * S, &d);
	assert_false(d.storm);
	assert_int_equal(d.reason, POLICY_QUIET);
	policy_smmu_done(&p);
}

static void test_cancelled_shutdown_holds_after_exits(void **state)
{
	SmmuSettings s = settings();
	PolicyHost host = shutdown;
	PolicySmmu p;
	PolicyDecision d;

	/* Cancelled with no exit: the storm ends at the cancel, not HoldTime later. */
	policy_smmu_init(&p);
	policy_decide(&p, &s, &host, T0, &d);
	assert_true(d.storm);
	host.shutdown_until = T0 + 5 * S;
	policy_decide(&p, &s, &host, T0 + 5 * S - 1, &d);
	assert_true(d.storm);
	assert_int_equal(d.reason, POLICY_SHUTDOWN);
	assert_int_equal(d.next_deadline, T0 + 5 * S);
	policy_decide(&p, &s, &host, T0 + 5 * S, &d);
	assert_false(d.storm);
	assert_int_equal(d.reason, POLICY_QUIET);
	policy_smmu_done(&p);

	/* VMs were exiting: it holds HoldTime after the last, as any storm. */
	policy_smmu_init(&p);
	host = shutdown;
	policy_decide(&p, &s, &host, T0, &d);
	assert_int_equal(policy_record_exit(&p, &s, T0 + 4 * S, 0, 0), 0);
	host.shutdown_until = T0 + 5 * S;
	policy_decide(&p, &s, &host, T0 + 5 * S, &d);
	assert_true(d.storm);
	assert_int_equal(d.reason, POLICY_HOLD);
	assert_non_null(strstr(d.why, "storm (host-shutdown) holds"));
	assert_int_equal(d.next_deadline, T0 + 14 * S);
	policy_decide(&p, &s, &host, T0 + 14 * S, &d);
	assert_false(d.storm);
	assert_int_equal(p.storms_total, 1);
	policy_smmu_done(&p);
}

static void test_guests_stopping(void **state)
{
	SmmuSettings s = settings();
	PolicyHost host = { .guests_until = USEC_INFINITY };
	PolicySmmu p;
	PolicyDecision d;

	policy_smmu_init(&p);
	policy_decide(&p, &s, &host, T0, &d);
	assert_true(d.storm);
	assert_int_equal(d.reason, POLICY_GUESTS_STOPPING);
	assert_string_equal(d.why, "libvirt-guests is stopping every guest");
	/* A shutdown too: the shutdown is named. */
	host.shutdown_until = USEC_INFINITY;
	policy_decide(&p, &s, &host, T0 + 1, &d);
	assert_int_equal(d.reason, POLICY_SHUTDOWN);
	host.shutdown_until = 0;
	/* Done stopping the guests, after the last one exited: the usual hold. */
	assert_int_equal(policy_record_exit(&p, &s, T0 + 2 * S, 0, 0), 0);
	host.guests_until = T0 + 3 * S;
	policy_decide(&p, &s, &host, T0 + 3 * S, &d);
	assert_int_equal(d.reason, POLICY_HOLD);
	policy_decide(&p, &s, &host, T0 + 12 * S, &d);
	assert_false(d.storm);
	policy_smmu_done(&p);

	/* OnGuestsStop=no: nothing. */
	s.storm_on_guests_stop = false;
	policy_smmu_init(&p);
	host.guests_until = USEC_INFINITY;
	policy_decide(&p, &s, &host, T0, &d);
	assert_false(d.storm);
	assert_int_equal(d.reason, POLICY_IDLE);
	policy_smmu_done(&p);
}

static void test_operator_announces_for_a_time(void **state)
{
	SmmuSettings s = settings();
	PolicySmmu p;
	PolicyDecision d;

	policy_smmu_init(&p);
	policy_announce(&p, T0, 30 * S);
	policy_decide(&p, &s, NULL, T0, &d);
	assert_true(d.storm);
	assert_true(d.changed);
	assert_int_equal(d.reason, POLICY_ANNOUNCED);
	assert_string_equal(d.why, "storm announced by the operator for 30s");
	assert_int_equal(d.next_deadline, T0 + 30 * S);
	/* Ends by itself, exactly then, with no exit to hold it. */
	policy_decide(&p, &s, NULL, T0 + 30 * S - 1, &d);
	assert_true(d.storm);
	policy_decide(&p, &s, NULL, T0 + 30 * S, &d);
	assert_false(d.storm);
	assert_true(d.changed);
	assert_int_equal(d.reason, POLICY_QUIET);

	/* Announced too short: the VMs still exiting hold it. */
	policy_announce(&p, T0 + 100 * S, 5 * S);
	policy_decide(&p, &s, NULL, T0 + 100 * S, &d);
	assert_true(d.storm);
	assert_int_equal(policy_record_exit(&p, &s, T0 + 104 * S, 0, 0), 0);
	policy_decide(&p, &s, NULL, T0 + 105 * S, &d);
	assert_true(d.storm);
	assert_int_equal(d.reason, POLICY_HOLD);
	assert_int_equal(d.next_deadline, T0 + 114 * S);
	/* Withdrawn (storm auto): no trace of it, only the exits' hold. */
	policy_announce(&p, T0 + 106 * S, 0);
	policy_decide(&p, &s, NULL, T0 + 106 * S, &d);
	assert_int_equal(d.reason, POLICY_HOLD);
	policy_decide(&p, &s, NULL, T0 + 114 * S, &d);
	assert_false(d.storm);
	assert_int_equal(p.storms_total, 2);

	/* An override wins over an announcement. */
	policy_announce(&p, T0 + 200 * S, 60 * S);
	policy_set_override(&p, OVERRIDE_BASELINE, NULL);
	policy_decide(&p, &s, NULL, T0 + 200 * S, &d);
	assert_false(d.storm);
	assert_int_equal(d.reason, POLICY_FORCED_BASELINE);
	policy_smmu_done(&p);
}

static void test_stop_jobs_count_ahead_and_once(void **state)
{
	SmmuSettings s = settings();
	PolicySmmu p;
	PolicyDecision d;

	/* ExitLimit=3: three stop jobs storm before any VM exits. */
	policy_smmu_init(&p);
	assert_int_equal(policy_record_stop(&p, &s, T0, 1ULL << 30), 0);
	assert_int_equal(policy_record_stop(&p, &s, T0 + 10 * MS, 1ULL << 30), 0);
	policy_decide(&p, &s, NULL, T0 + 10 * MS, &d);
	assert_false(d.storm);
	assert_int_equal(d.reason, POLICY_BELOW_LIMIT);
	assert_int_equal(policy_record_stop(&p, &s, T0 + 20 * MS, 1ULL << 30), 0);
	policy_decide(&p, &s, NULL, T0 + 20 * MS, &d);
	assert_true(d.storm);
	assert_int_equal(d.reason, POLICY_EXIT_LIMIT);
	assert_non_null(strstr(d.why, "3 exits within 2s, 3 of them announced by stop jobs"));
	assert_int_equal(p.stops_total, 3);
	assert_int_equal(p.exits_total, 0);
	/* Their exits, within the window: counted once, and they hold the storm. */
	for (int i = 0; i < 3; i++)
		assert_int_equal(policy_record_exit(&p, &s, T0 + 500 * MS, 1ULL << 30,
						    T0 + (uint64_t)i * 10 * MS), 0);
	assert_int_equal(policy_window_exits(&p, &s, T0 + 500 * MS, NULL), 3);
	assert_int_equal(p.exits_total, 3);
	policy_decide(&p, &s, NULL, T0 + 500 * MS, &d);
	assert_int_equal(d.next_deadline, T0 + 500 * MS + 10 * S);
	policy_smmu_done(&p);

	/* The first exit while two others are being stopped is the third. */
	policy_smmu_init(&p);
	assert_int_equal(policy_record_stop(&p, &s, T0, 0), 0);
	assert_int_equal(policy_record_stop(&p, &s, T0 + 1, 0), 0);
	exit_and_decide(&p, &s, T0 + 2, 0, &d);
	assert_true(d.storm);
	assert_non_null(strstr(d.why, "2 of them announced"));
	policy_smmu_done(&p);

	/* A stop whose exit comes after the window: the exit counts again. */
	policy_smmu_init(&p);
	assert_int_equal(policy_record_stop(&p, &s, T0, 0), 0);
	assert_int_equal(policy_record_exit(&p, &s, T0 + 5 * S, 0, T0), 0);
	assert_int_equal(policy_window_exits(&p, &s, T0 + 5 * S, NULL), 1);
	policy_smmu_done(&p);

	/* PinnedLimit counts the memory of VMs being stopped. */
	s.exit_limit = 0;
	s.pinned_limit = 64ULL << 30;
	policy_smmu_init(&p);
	assert_int_equal(policy_record_stop(&p, &s, T0, 64ULL << 30), 0);
	policy_decide(&p, &s, NULL, T0, &d);
	assert_true(d.storm);
	assert_int_equal(d.reason, POLICY_PINNED_LIMIT);
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
	policy_decide(&p, &s, NULL, T0, &d);
	assert_true(d.storm);
	assert_int_equal(d.reason, POLICY_FORCED_STORM);

	/* Forced baseline beats both a real storm and a shutdown. */
	for (int i = 0; i < 3; i++)
		assert_int_equal(policy_record_exit(&p, &s, T0 + (uint64_t)i, 0, 0), 0);
	policy_set_override(&p, OVERRIDE_BASELINE, NULL);
	policy_decide(&p, &s, &shutdown, T0 + 3, &d);
	assert_false(d.storm);
	assert_int_equal(d.reason, POLICY_FORCED_BASELINE);
	assert_ptr_equal(d.values, &s.baseline);
	/* Underneath, the automatic storm began; the shutdown holds it open. */
	assert_true(p.storm);
	assert_int_equal(d.next_deadline, UINT64_MAX);
	/* Without the shutdown, the exits' deadline. */
	policy_decide(&p, &s, NULL, T0 + 3, &d);
	assert_int_equal(d.reason, POLICY_FORCED_BASELINE);
	assert_int_equal(d.next_deadline, T0 + 2 + 10 * S);

	policy_set_override(&p, OVERRIDE_PIN, &pin);
	policy_decide(&p, &s, NULL, T0 + 4, &d);
	assert_int_equal(d.reason, POLICY_PINNED_PROFILE);
	assert_string_equal(d.values->threshold, "128");
	assert_string_equal(d.values->teardown_mode, "strict");

	/* Lifting the override lands on the automatic state. */
	policy_set_override(&p, OVERRIDE_NONE, NULL);
	policy_decide(&p, &s, NULL, T0 + 5, &d);
	assert_true(d.storm);
	assert_int_equal(d.reason, POLICY_HOLD);
	policy_smmu_done(&p);
}

static void test_strings(void **state)
{
	assert_string_equal(policy_reason_to_string(POLICY_EXIT_LIMIT), "exit-limit");
	assert_string_equal(policy_reason_to_string(POLICY_GUESTS_STOPPING), "guests-stopping");
	assert_string_equal(policy_reason_to_string(POLICY_ANNOUNCED), "announced");
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
		cmocka_unit_test(test_cancelled_shutdown_holds_after_exits),
		cmocka_unit_test(test_guests_stopping),
		cmocka_unit_test(test_operator_announces_for_a_time),
		cmocka_unit_test(test_stop_jobs_count_ahead_and_once),
		cmocka_unit_test(test_overrides_win),
		cmocka_unit_test(test_strings),
	};

	return cmocka_run_group_tests_name("policy", tests, NULL, NULL);
}
