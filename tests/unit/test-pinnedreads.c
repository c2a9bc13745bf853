// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * When the VMs' pinned memory is read: a VM just found on its own, twice;
 * every VM once a minute; nothing while VMs are dying, at most 30 s.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "pinnedreads.h"

#define S USEC_PER_SEC
#define T0 (1000 * S)

/* The VMs among pids a round at now reads (0: none due), as a bitmask of their indexes. */
static unsigned round_at(PinnedReads *p, uint64_t now, const pid_t *pids, size_t n, bool *ret_all)
{
	unsigned read = 0;
	bool all;

	if (!pinned_reads_begin(p, now, &all))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (pinned_reads_wants(p, now, all, pids[i], 100 + pids[i]))
			read |= 1U << i;
	pinned_reads_end(p, now, all);
	/* As the manager does: no VM left, nothing planned. */
	if (n == 0)
		pinned_reads_done(p);
	if (ret_all)
		*ret_all = all;
	return read;
}

static void test_young_alone_then_all(void **state)
{
	static const pid_t pids[] = { 10, 11, 12 };
	PinnedReads p = {};
	bool all;

	assert_true(pinned_reads_next(&p) == USEC_INFINITY);
	/* Two VMs found 2 s apart: each read on its own, 1 s and 6 s after. */
	assert_int_equal(pinned_reads_found(&p, 10, 110, T0), 0);
	assert_int_equal(pinned_reads_found(&p, 11, 111, T0 + 2 * S), 0);
	assert_true(pinned_reads_next(&p) == T0 + 1 * S);
	assert_int_equal(round_at(&p, T0 + S / 2, pids, 2, NULL), 0);
	assert_int_equal(round_at(&p, T0 + 1 * S, pids, 2, &all), 0x1);
	assert_false(all);
	assert_true(pinned_reads_next(&p) == T0 + 3 * S);
	assert_int_equal(round_at(&p, T0 + 3 * S, pids, 2, NULL), 0x2);
	assert_true(pinned_reads_next(&p) == T0 + 6 * S);
	assert_int_equal(round_at(&p, T0 + 6 * S, pids, 2, NULL), 0x1);
	assert_int_equal(round_at(&p, T0 + 8 * S, pids, 2, NULL), 0x2);
	/* Settled: every VM, a minute after the first was found, then a minute later. */
	assert_true(pinned_reads_next(&p) == T0 + 60 * S);
	assert_int_equal(pinned_reads_found(&p, 12, 112, T0 + 30 * S), 0);
	assert_int_equal(round_at(&p, T0 + 31 * S, pids, 3, NULL), 0x4);
	assert_int_equal(round_at(&p, T0 + 60 * S, pids, 3, &all), 0x7);
	assert_true(all);
	/* Read with all, the young one is settled too: nothing before the next minute. */
	assert_true(pinned_reads_next(&p) == T0 + 120 * S);
	/* No VM left: nothing planned. */
	assert_int_equal(round_at(&p, T0 + 120 * S, pids, 0, NULL), 0);
	assert_true(pinned_reads_next(&p) == USEC_INFINITY);
	pinned_reads_done(&p);
}

static void test_not_while_vms_die(void **state)
{
	static const pid_t pids[] = { 10 };
	PinnedReads p = {};

	assert_int_equal(pinned_reads_found(&p, 10, 110, T0), 0);
	/* An exit just before the read was due: it waits for 2 s without one. */
	pinned_reads_exit(&p, T0 + S / 2);
	assert_true(pinned_reads_next(&p) == T0 + S / 2 + 2 * S);
	assert_int_equal(round_at(&p, T0 + 1 * S, pids, 1, NULL), 0);
	/* Exits keep coming: never later than 30 s after the last read (here: the find). */
	for (uint64_t t = T0 + 2 * S; t < T0 + 40 * S; t += S)
		pinned_reads_exit(&p, t);
	assert_true(pinned_reads_next(&p) == T0 + 30 * S);
	assert_int_equal(round_at(&p, T0 + 30 * S, pids, 1, NULL), 0x1);
	pinned_reads_done(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_young_alone_then_all),
		cmocka_unit_test(test_not_while_vms_die),
	};

	return cmocka_run_group_tests_name("pinnedreads", tests, NULL, NULL);
}
