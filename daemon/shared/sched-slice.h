/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/*
 * smmud's wake-ups race a dying VMM's teardown on the CPU that VMM woke
 * it on.  Nice= gives smmud a larger share of the CPU, not an earlier
 * turn: EEVDF (Linux 6.6 on) lets the running task finish its slice
 * before a task it woke runs.  Since 6.12 a SCHED_OTHER task may ask for
 * a shorter slice (sched_attr.sched_runtime), and a waking task with a
 * shorter slice than the running one's preempts it (PREEMPT_SHORT).
 */
#define SCHED_SLICE_SHORTEST_NSEC 100000ULL /* the kernel's floor */

/*
 * Asks for a slice of slice_ns for the calling thread, keeping its
 * policy, nice value and flags.  0: asked and honoured; -EOPNOTSUPP: the
 * kernel took the request but has no slices to give (before 6.12: it
 * ignores sched_runtime for SCHED_OTHER), or the thread is not
 * SCHED_OTHER (an operator's real-time policy stays); else -errno (EPERM
 * under a seccomp filter without sched_setattr).
 */
int sched_request_slice(uint64_t slice_ns);

/*
 * The turn smmud asks for is worth its cost only while a write may be
 * due: once every managed SMMU is in a storm, each wake-up that preempts
 * a dying VMM delays that VMM's teardown for nothing.  Relaxed, the calling
 * thread runs at nice 19 with the kernel's default slice, in the gaps the
 * teardowns leave (still a share: never starved, as SCHED_IDLE could be);
 * urgent, at the nice value it started with and the short slice.  The
 * nice value is relaxed only if it can be lowered again (CAP_SYS_NICE, or
 * RLIMIT_NICE: the unit's LimitNICE=), else the slice alone is.
 */
#define SCHED_NICE_RELAXED 19
typedef struct SchedUrgency {
	uint64_t slice_ns;  /* while urgent; 0: the kernel gives no slices */
	int nice;           /* while urgent: as started (the unit's Nice=) */
	bool nice_relaxes;  /* it may come back down from SCHED_NICE_RELAXED */
	bool relaxed;
} SchedUrgency;

/*
 * Reads the thread's nice value and asks for slice_ns (as
 * sched_request_slice(), with its return values).  The thread starts urgent.
 * A request refused outright (-EPERM: a seccomp filter) leaves nothing to
 * relax: sched_urgency_set() then does nothing.
 */
int sched_urgency_init(SchedUrgency *u, uint64_t slice_ns);
/* 1: changed; 0: it already was so, or there is nothing to relax; -errno (nothing changed). */
int sched_urgency_set(SchedUrgency *u, bool urgent);
