// SPDX-License-Identifier: GPL-2.0-or-later
#include <linux/sched.h>
#include <linux/sched/types.h>
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

int sched_request_slice(uint64_t slice_ns)
{
	struct sched_attr attr;
	int r;

	r = get_attr(&attr);
	if (r < 0)
		return r;
	if (attr.sched_policy != SCHED_NORMAL)
		return -EOPNOTSUPP;
	attr.size = sizeof(attr);
	/* Reset-on-fork is the one flag of SCHED_OTHER's a request repeats. */
	attr.sched_flags &= SCHED_FLAG_RESET_ON_FORK;
	attr.sched_runtime = slice_ns;
	if (syscall(SYS_sched_setattr, 0, &attr, 0) < 0)
		return negative_errno();
	/* A kernel without slices takes and forgets it: it reads back as 0. */
	r = get_attr(&attr);
	if (r < 0)
		return r;
	return attr.sched_runtime > 0 ? 0 : -EOPNOTSUPP;
}
