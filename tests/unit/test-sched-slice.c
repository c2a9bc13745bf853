// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * smmud's request for a short scheduler slice: honoured on a kernel with
 * EEVDF slices (6.12 on), the policy and nice value left as they were;
 * refused, changing nothing, for a thread that is not SCHED_OTHER.  Its
 * urgency relaxed in a storm and tightened after: the nice value goes to
 * 19 and back only where it may come back (CAP_SYS_NICE or RLIMIT_NICE;
 * the unit's LimitNICE= is tested in the host image, tests/host/cases/
 * 50-qemu.sh: raising a hard limit needs CAP_SYS_RESOURCE, which the
 * container CI runs in does not give).
 * Each case runs in a child: the request is the calling thread's.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <linux/filter.h>
#include <linux/sched.h>
#include <linux/sched/types.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
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

#define CHILD_SKIPPED 77

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
	if (WEXITSTATUS(status) == CHILD_SKIPPED)
		skip();
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

/* The unit's Nice=-10 needs privilege: a child without it cannot test this. */
static bool start_at_nice(int nice)
{
	return setpriority(PRIO_PROCESS, 0, nice) == 0;
}

/* Urgent: the nice value it started with, and the short slice where the kernel gives slices. */
static bool is_urgent(const SchedUrgency *u, int nice)
{
	struct sched_attr a = attr_now();

	return a.sched_nice == nice && (u->slice_ns == 0 || a.sched_runtime == u->slice_ns);
}

static int relaxes_and_comes_back(void)
{
	SchedUrgency u;
	struct sched_attr a;
	int r;

	if (!start_at_nice(-5))
		return CHILD_SKIPPED;
	r = sched_urgency_init(&u, SCHED_SLICE_SHORTEST_NSEC);
	if (r < 0 && r != -EOPNOTSUPP)
		return 30;
	if (u.nice != -5 || !u.nice_relaxes || u.relaxed || !is_urgent(&u, -5))
		return 31;
	if (sched_urgency_set(&u, true) != 0)
		return 32; /* urgent already */
	if (sched_urgency_set(&u, false) != 1 || !u.relaxed)
		return 33;
	a = attr_now();
	if (a.sched_policy != SCHED_NORMAL || a.sched_nice != SCHED_NICE_RELAXED)
		return 34;
	if (u.slice_ns > 0 && a.sched_runtime == u.slice_ns)
		return 35; /* the kernel's default slice, not the short one */
	if (sched_urgency_set(&u, false) != 0)
		return 36;
	if (sched_urgency_set(&u, true) != 1 || u.relaxed || !is_urgent(&u, -5))
		return 37;
	return 0;
}

static void test_urgency(void **state)
{
	in_child(relaxes_and_comes_back);
}

/* An unprivileged user: no CAP_SYS_NICE, only RLIMIT_NICE says how low nice may go. */
static bool become_nobody(void)
{
	return setgid(65534) == 0 && setuid(65534) == 0;
}

/* Without the right to come back down (RLIMIT_NICE at most 20: to nice 0), only the slice relaxes. */
static int nice_kept_without_the_right(void)
{
	struct rlimit rl;
	SchedUrgency u;
	int r;

	if (!start_at_nice(-5))
		return CHILD_SKIPPED;
	if (getrlimit(RLIMIT_NICE, &rl) < 0)
		return 40;
	rl.rlim_cur = MIN(rl.rlim_cur, (rlim_t)20);
	if (setrlimit(RLIMIT_NICE, &rl) < 0 || !become_nobody())
		return 40;
	r = sched_urgency_init(&u, SCHED_SLICE_SHORTEST_NSEC);
	if (r < 0 && r != -EOPNOTSUPP)
		return 41;
	if (u.nice_relaxes)
		return 42;
	r = sched_urgency_set(&u, false);
	if (u.slice_ns == 0)
		/* No slice to give back, no nice value to raise: nothing is done. */
		return r == 0 && !u.relaxed && attr_now().sched_nice == -5 ? 0 : 43;
	if (r != 1 || attr_now().sched_nice != -5)
		return 44;
	if (sched_urgency_set(&u, true) != 1 || !is_urgent(&u, -5))
		return 45;
	return 0;
}

static void test_urgency_nice_kept(void **state)
{
	in_child(nice_kept_without_the_right);
}

/* As an operator's SystemCallFilter= without sched_setattr does: EPERM, for this thread on. */
static bool refuse_sched_setattr(void)
{
	struct sock_filter insns[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_sched_setattr, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = ELEMENTSOF(insns), .filter = insns };

	return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
	       prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0;
}

/* Refused once, refused always: nothing is left to relax, so no storm's decision asks again. */
static int nothing_relaxes_when_refused(void)
{
	SchedUrgency u;

	if (!start_at_nice(-5))
		return CHILD_SKIPPED;
	if (!refuse_sched_setattr())
		return 50;
	if (sched_urgency_init(&u, SCHED_SLICE_SHORTEST_NSEC) != -EPERM)
		return 51;
	if (u.slice_ns != 0 || u.nice_relaxes)
		return 52;
	if (sched_urgency_set(&u, false) != 0 || u.relaxed)
		return 53;
	return attr_now().sched_nice == -5 ? 0 : 54;
}

static void test_urgency_refused(void **state)
{
	in_child(nothing_relaxes_when_refused);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request),
		cmocka_unit_test(test_other_policy),
		cmocka_unit_test(test_urgency),
		cmocka_unit_test(test_urgency_nice_kept),
		cmocka_unit_test(test_urgency_refused),
	};

	return cmocka_run_group_tests_name("sched-slice", tests, NULL, NULL);
}
