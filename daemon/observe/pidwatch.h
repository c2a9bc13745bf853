/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * One pidfd per VM, on the event loop: a VM's exit is an event even with
 * no netlink source at all.  A pidfd polls readable once its whole thread
 * group is dead, so its files are closed by then.  exited() gets the pid
 * and the start time it was added with (the process the pidfd refers to,
 * whatever holds that pid later).
 */

#include <stdint.h>
#include <sys/types.h>

#include <systemd/sd-event.h>

typedef struct PidWatch PidWatch;

typedef void (*PidWatchExited)(pid_t pid, uint64_t starttime, void *userdata);

int pidwatch_new(sd_event *e, PidWatchExited exited, void *userdata, PidWatch **ret);
PidWatch *pidwatch_free(PidWatch *w);
static inline void pidwatch_freep(PidWatch **w)
{
	pidwatch_free(*w);
}

/*
 * Watches pid (started at starttime) until it exits or pidwatch_remove().
 * 0; -ESRCH if it is gone already; another -errno if it cannot be watched
 * (no pidfds, out of fds): its exit then comes from netlink or a scan.
 */
int pidwatch_add(PidWatch *w, pid_t pid, uint64_t starttime);
/* Stops watching pid, if watched (also from inside exited()). */
void pidwatch_remove(PidWatch *w, pid_t pid);
size_t pidwatch_count(const PidWatch *w);
