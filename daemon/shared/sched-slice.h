/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

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
