// SPDX-License-Identifier: GPL-2.0-or-later
#include <linux/capability.h>
#include <linux/sched.h>
#include <linux/sched/types.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sched-slice.h"
#include "util.h"

static int get_attr(struct sched_attr *attr)
{
	*attr = (struct sched_attr){};
	/* glibc 2.36 has no wrappers for these two. */
	if (syscall(SYS_sched_getattr, 0, attr, sizeof(*attr), 0) < 0)
		return negative_errno();
	return 0;
}

/* An operator's real-time or batch policy is theirs: smmud tunes SCHED_OTHER only. */
static int get_normal_attr(struct sched_attr *attr)
{
	int r;

	r = get_attr(attr);
	if (r < 0)
		return r;
	return attr->sched_policy == SCHED_NORMAL ? 0 : -EOPNOTSUPP;
}

/* Slice and nice value of a SCHED_OTHER thread; reset-on-fork is the one flag a request repeats. */
static int set_attr(uint64_t slice_ns, int nice)
{
	struct sched_attr attr;
	int r;

	r = get_normal_attr(&attr);
	if (r < 0)
		return r;
	attr.size = sizeof(attr);
	attr.sched_flags &= SCHED_FLAG_RESET_ON_FORK;
	attr.sched_runtime = slice_ns;
	attr.sched_nice = nice;
	if (syscall(SYS_sched_setattr, 0, &attr, 0) < 0)
		return negative_errno();
	return 0;
}

int sched_request_slice(uint64_t slice_ns)
{
	struct sched_attr attr;
	int r;

	r = get_attr(&attr);
	if (r < 0)
		return r;
	r = set_attr(slice_ns, attr.sched_nice);
	if (r < 0)
		return r;
	/* A kernel without slices takes and forgets it: it reads back as 0. */
	r = get_attr(&attr);
	if (r < 0)
		return r;
	return attr.sched_runtime > 0 ? 0 : -EOPNOTSUPP;
}

static bool has_cap_sys_nice(void)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3] = {};

	if (syscall(SYS_capget, &h, d) < 0)
		return false;
	return d[CAP_TO_INDEX(CAP_SYS_NICE)].effective & CAP_TO_MASK(CAP_SYS_NICE);
}

/* Whether the thread may set nice back down to nice (sched(7): RLIMIT_NICE is 20 - nice). */
static bool may_lower_nice_to(int nice)
{
	struct rlimit rl;

	if (has_cap_sys_nice())
		return true;
	if (getrlimit(RLIMIT_NICE, &rl) < 0)
		return false;
	return rl.rlim_cur == RLIM_INFINITY || 20 - (long long)rl.rlim_cur <= nice;
}

int sched_urgency_init(SchedUrgency *u, uint64_t slice_ns)
{
	struct sched_attr attr;
	int r;

	*u = (SchedUrgency){};
	r = get_normal_attr(&attr);
	if (r < 0)
		return r;
	u->nice = attr.sched_nice;
	r = sched_request_slice(slice_ns);
	if (r >= 0)
		u->slice_ns = slice_ns;
	/*
	 * -EOPNOTSUPP: the call was taken, only the slice is not given.  Any
	 * other refusal (a seccomp filter's EPERM) would refuse the nice value
	 * too, at every decision of every storm.
	 */
	if (r >= 0 || r == -EOPNOTSUPP)
		u->nice_relaxes = u->nice < SCHED_NICE_RELAXED && may_lower_nice_to(u->nice);
	return r;
}

int sched_urgency_set(SchedUrgency *u, bool urgent)
{
	int r;

	if (urgent != u->relaxed)
		return 0;
	if (u->slice_ns == 0 && !u->nice_relaxes)
		return 0;
	/* Slice 0: the kernel's default. */
	r = set_attr(urgent ? u->slice_ns : 0,
		     urgent || !u->nice_relaxes ? u->nice : SCHED_NICE_RELAXED);
	if (r < 0)
		return r;
	u->relaxed = !urgent;
	return 1;
}
