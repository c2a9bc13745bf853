/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * Process exit notifications from the kernel, as early as it offers them:
 *
 *  - taskstats (generic netlink): sent from do_exit() before exit_mm(),
 *    exit_files() and exit_task_work(), i.e. before a dying VMM's VFIO
 *    files are released and its IOMMU teardown starts.  The primary source.
 *  - the proc connector (NETLINK_CONNECTOR, CN_IDX_PROC): sent after all of
 *    those; the fallback where taskstats is missing or cannot be filtered.
 *
 * Each source is optional: one that cannot start (no CAP_NET_ADMIN, not in
 * the initial namespaces, kernel built without it) is logged once and left
 * out; exitwatch_has() tells which run.  A receive queue overrun (ENOBUFS)
 * or any other receive error calls lost(): events may be missing, the
 * caller must rescan.  Exits are never dropped silently: only those the
 * caller said it does not want (exitwatch_set_filter()), in the kernel.
 *
 * exited() is called once per thread-group death, with the tgid, in the
 * initial PID namespace.  when_usec is CLOCK_MONOTONIC: the kernel's
 * timestamp for the proc connector, the time of receipt for taskstats
 * (its records carry no exit time).  With both sources running and
 * taskstats unfiltered, a death is reported by each: the caller
 * deduplicates (it knows its VMs).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <systemd/sd-event.h>

typedef enum ExitSource {
	EXIT_SOURCE_TASKSTATS,
	EXIT_SOURCE_PROC_CONNECTOR,
	_EXIT_SOURCE_MAX,
} ExitSource;

typedef struct ExitWatchCallbacks {
	void (*exited)(pid_t tgid, ExitSource src, uint64_t when_usec, void *userdata);
	void (*lost)(ExitSource src, void *userdata);
} ExitWatchCallbacks;

typedef struct ExitWatch ExitWatch;

/* Which sources exitwatch_new() may open (config TaskStats=, ProcConnector=). */
#define EXITWATCH_SOURCE(s) (1U << (s))
#define EXITWATCH_ALL (EXITWATCH_SOURCE(EXIT_SOURCE_TASKSTATS) | \
		       EXITWATCH_SOURCE(EXIT_SOURCE_PROC_CONNECTOR))

/*
 * Starts every source in the sources mask (EXITWATCH_SOURCE() bits) that
 * can start; a source left out of the mask opens no socket at all (and
 * taskstats forks no probe child).  Taskstats proves delivery with one
 * exit of its own: it forks a child that exits at once and reaps it with
 * waitpid(pid) (registration succeeds in any network namespace, but only
 * the initial one receives anything).  The proc connector waits for the
 * kernel's acknowledgement of LISTEN.  Logs which run (the pidfds each VM
 * gets besides are the caller's).  Succeeds (0) even if none can: then
 * exitwatch_has() is false for both and the caller falls back to what it
 * has.  -errno only for allocation or event loop failures.
 */
int exitwatch_new(sd_event *e, unsigned sources, const ExitWatchCallbacks *cb, void *userdata,
		  ExitWatch **ret);
/* Not from inside a callback: the watch is still dispatching then. */
ExitWatch *exitwatch_free(ExitWatch *w);
bool exitwatch_has(ExitWatch *w, ExitSource s);
const char *exit_source_to_string(ExitSource s);

/*
 * Lets the kernel drop, before they are queued (so they wake nobody), the
 * exit events of every process but the thread groups pids (n of them, in
 * any order; none: no process), or with all of every group; the deaths
 * of threads whose group lives on are dropped either way (exitfilter.h).
 * A filter replaces the one before at once.  Taskstats is filtered only
 * if its probe child's exit message showed a layout the filter knows
 * (struct taskstats version 12 or later).  Where taskstats takes the
 * filter, the proc connector keeps no death at all: each would be a
 * second wake-up for an exit taskstats told first (and a loss of its
 * events is reported, as ENOBUFS).  Otherwise the proc connector takes
 * the filter.  0, or the first -errno of a source that kept its previous
 * filter (or none): it then delivers more, never less.
 */
int exitwatch_set_filter(ExitWatch *w, const pid_t *pids, size_t n, bool all);
/* Whether source s runs with a kernel filter. */
bool exitwatch_filtered(ExitWatch *w, ExitSource s);
/*
 * For the exit callback of source s: every message it reads now was queued
 * after this time (CLOCK_MONOTONIC: its socket was found empty then), 0 if
 * unknown (nothing read yet, or events lost since).
 */
uint64_t exitwatch_queued_after(ExitWatch *w, ExitSource s);
/* The socket of a running source (diagnostics, tests), or -ENODEV. */
int exitwatch_fd(ExitWatch *w, ExitSource s);

static inline void exitwatch_freep(ExitWatch **w)
{
	exitwatch_free(*w);
}

/* ---- pure message parsers (unit tests, fuzzing) --------------------------- */

/*
 * One netlink message (nlmsghdr included, 4-byte aligned, len bytes
 * available) from the taskstats generic netlink family family_id.
 * Returns 1 and *ret_tgid for the death of a thread group (a PID record
 * flagged AGROUP, or an AGGR_TGID record), 0 for a valid message that
 * reports no group death (one thread of a live group), -EBADMSG for a
 * malformed or foreign message.  Taskstats structs older than version 12
 * have neither AGROUP nor ac_tgid: a lone PID record then counts as the
 * death of the process with that pid.
 */
int taskstats_parse_exit(const void *msg, size_t len, uint16_t family_id, pid_t *ret_tgid);

typedef struct ProcConnectorEvent {
	uint32_t what;          /* PROC_EVENT_* */
	pid_t pid, tgid;        /* PROC_EVENT_EXIT only */
	uint64_t timestamp_ns;  /* CLOCK_MONOTONIC (ktime_get_ns) */
	uint32_t seq;           /* cn_msg seq (an acknowledgement echoes the request's) */
	uint32_t ack;           /* PROC_EVENT_NONE: the acknowledgement number */
	uint32_t err;           /* PROC_EVENT_NONE: its error (positive errno) */
} ProcConnectorEvent;

/*
 * One netlink message (nlmsghdr included, 4-byte aligned, len bytes
 * available) from the proc connector: a cn_msg for CN_IDX_PROC/CN_VAL_PROC
 * carrying a proc_event.  Returns 0 and *ret, or -EBADMSG if malformed or
 * for another connector.  A thread group's death is what == PROC_EVENT_EXIT
 * with pid == tgid (see proc_connector_event_is_group_exit()).
 */
int proc_connector_parse(const void *msg, size_t len, ProcConnectorEvent *ret);

bool proc_connector_event_is_group_exit(const ProcConnectorEvent *ev);

/*
 * Builds the cpulist TASKSTATS_CMD_ATTR_REGISTER_CPUMASK wants from the
 * text of /sys/devices/system/cpu/possible ("0-3", "0,2-5"): validated and
 * without its newline.  -EINVAL if malformed.
 */
int taskstats_parse_cpulist(const char *text, char **ret);
