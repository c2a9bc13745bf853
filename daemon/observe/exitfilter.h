/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * Classic BPF socket filters (SO_ATTACH_FILTER) for the exit sockets, so
 * that the kernel drops the exit events of processes smmud does not watch
 * and a host forking thousands of processes a second never wakes it.
 * Pure: the programs are built from a set of pids and, for taskstats, the
 * layout of this kernel's messages, learnt from a real one (the probe
 * child's exit).  The loads of classic BPF read the packet big-endian, so
 * every constant a field is compared with is built from the field's bytes
 * as the kernel lays them out (bpf_word()): no arithmetic on host-endian
 * fields is ever needed.
 *
 * A filter drops only what it understands whole: a message of the exact
 * shape learnt (taskstats: one PID record, or a PID and a TGID record;
 * the proc connector: a cn_msg for CN_IDX_PROC/CN_VAL_PROC of the fixed
 * ABI) that reports the death of a thread whose group lives on, or of a
 * group not in the set; and, from the proc connector, events other than
 * exits and acknowledgements.  Anything else (errors, acknowledgements,
 * another length, another struct version, a malformed message) is kept,
 * for the parsers to judge and count.  The invariant, checked by the fuzz
 * targets with every message they make: a message the parser
 * (exitwatch-parse.c) reports as the death of a group in the set (or of
 * any group, for a filter of every group) is never dropped.
 */

#include <linux/filter.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * What the taskstats exit messages of the running kernel look like: a
 * nlmsghdr, a genlmsghdr, and a TASKSTATS_TYPE_AGGR_PID nest holding the
 * thread's TASKSTATS_TYPE_PID, maybe a TASKSTATS_TYPE_NULL pad (where the
 * kernel aligns 64-bit attributes) and its TASKSTATS_TYPE_STATS; the last
 * thread of a multi-threaded group adds a TASKSTATS_TYPE_AGGR_TGID nest
 * laid out alike.
 */
typedef struct TaskstatsLayout {
	uint16_t family;        /* the generic netlink family id */
	uint32_t msg_len;       /* nlmsg_len of a message with the PID record only */
	uint32_t aggr_len;      /* of the AGGR_PID attribute, aligned */
	uint32_t stats_offset;  /* of struct taskstats in the message */
	uint16_t version;       /* of struct taskstats (>= 12: AGROUP, ac_tgid) */
	uint16_t aggr_nla_len, aggr_nla_type;   /* the attribute headers, as sent */
	uint16_t pid_nla_len, pid_nla_type;
	uint16_t stats_nla_len, stats_nla_type;
} TaskstatsLayout;

/*
 * The layout from one taskstats message (len bytes, nlmsghdr included)
 * reporting the death of the single-threaded process pid.  -EBADMSG if it
 * is not such a message; -EPROTONOSUPPORT if its struct is older than
 * version 12 (no AGROUP, no ac_tgid: no filter can tell a group's death).
 */
int taskstats_layout_learn(const void *msg, size_t len, uint16_t family, pid_t pid,
			   TaskstatsLayout *ret);

/* The most pids a filter takes; more, and it lets every group's death through. */
#define EXIT_FILTER_PIDS_MAX 1500

/*
 * The program for taskstats (layout) or the proc connector (layout NULL):
 * it keeps the deaths of the groups in pids (n of them, in any order;
 * none: it keeps no group's death), or with all (or more than
 * EXIT_FILTER_PIDS_MAX pids) of every group.  *ret is malloc'd, *ret_len
 * instructions.
 */
int exit_filter_build(const TaskstatsLayout *layout, const pid_t *pids, size_t n, bool all,
		      struct sock_filter **ret, size_t *ret_len);

/* What the filters return: keep the whole message, or drop it. */
#define EXIT_FILTER_KEEP 0xffffffffU
#define EXIT_FILTER_DROP 0U
