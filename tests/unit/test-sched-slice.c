// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * smmud's request for a short scheduler slice: honoured on a kernel with
 * EEVDF slices (6.12 on), the policy and nice value left as they were;
 * refused, changing nothing, for a thread that is not SCHED_OTHER.  Each
 * case runs in a child: the request is the calling thread's.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <linux/sched.h>
#include <linux/sched/types.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "sched-slice.h"
#include "util.h"

static struct sched_attr attr_now(void)
{
	struct sched_attr a = {};

	assert_int_equal(syscall(SYS_sched_getattr, 0, &a, sizeof(a), 0), 0);
	return a;
}

/* Runs fn in a child; its exit status is the child's assertions' verdict. */
static void in_child(int (*fn)(void))
{
	int status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0)
		_exit(fn());
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static int request_keeps_policy_and_nice(void)
{
	struct sched_attr a;
	int r;

	if (setpriority(PRIO_PROCESS, 0, 5) < 0)
		return 10;
	r = sched_request_slice(SCHED_SLICE_SHORTEST_NSEC);
	a = attr_now();
	if (a.sched_policy != SCHED_NORMAL || a.sched_nice != 5)
		return 11;
	if (r == -EOPNOTSUPP)
		/* No slices on this kernel: nothing taken either. */
		return a.sched_runtime == 0 ? 0 : 12;
	if (r < 0)
		return 13;
	return a.sched_runtime == SCHED_SLICE_SHORTEST_NSEC ? 0 : 14;
}

static void test_request(void **state)
{
	in_child(request_keeps_policy_and_nice);
}

static int batch_stays_batch(void)
{
	struct sched_attr a = { .size = sizeof(a), .sched_policy = SCHED_BATCH };

	if (syscall(SYS_sched_setattr, 0, &a, 0) < 0)
		return 20;
	if (sched_request_slice(SCHED_SLICE_SHORTEST_NSEC) != -EOPNOTSUPP)
		return 21;
	a = attr_now();
	return a.sched_policy == SCHED_BATCH ? 0 : 22;
}

static void test_other_policy(void **state)
{
	in_child(batch_stays_batch);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request),
		cmocka_unit_test(test_other_policy),
	};

	return cmocka_run_group_tests_name("sched-slice", tests, NULL, NULL);
}
