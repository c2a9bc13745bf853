/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * When to read the VMs' pinned memory (/proc/PID/status), which no event
 * tells.  Pure: the manager asks what is due and reads it.
 *
 * A VMM found by its VFIO open pins its memory after that (QEMU maps its
 * RAM as its devices come up): a VM just found is read on its own, 1 s and
 * then 6 s after it was found.  A settled VM's figure changes only with
 * memory hot-plug: every VM is read together once a minute.  Starting VMs
 * one after another thus costs two reads of each, not a read of every VM
 * at each start.
 *
 * Not while VMs are dying: a read is what an exit burst can least afford,
 * and the figure is for decisions, which exits drive then.  Reads wait
 * until exits pause for 2 s, at most 30 s after the last read.
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "util.h"

#define PINNED_YOUNG_FIRST_USEC (1 * USEC_PER_SEC)
#define PINNED_YOUNG_SECOND_USEC (5 * USEC_PER_SEC)
#define PINNED_ALL_USEC (60 * USEC_PER_SEC)
#define PINNED_QUIET_USEC (2 * USEC_PER_SEC)
#define PINNED_LATE_USEC (30 * USEC_PER_SEC)

typedef struct PinnedYoung {
	pid_t pid;
	uint64_t starttime;
	uint64_t due;        /* CLOCK_MONOTONIC */
	unsigned reads;      /* done so far */
} PinnedYoung;

typedef struct PinnedReads {
	PinnedYoung *young;
	size_t n_young;
	uint64_t all_due;      /* the next read of every VM; 0: none planned */
	uint64_t read_usec;    /* the last read of any VM (before any: the first VM found) */
	uint64_t exit_usec;    /* the last VM exit; 0: none */
} PinnedReads;

void pinned_reads_done(PinnedReads *p);

/* VM pid (started at starttime) was found at now: read on its own soon. */
int pinned_reads_found(PinnedReads *p, pid_t pid, uint64_t starttime, uint64_t now);
/* A VM exited at now: reads wait. */
void pinned_reads_exit(PinnedReads *p, uint64_t now);

/* When something is due (postponed while VMs die); USEC_INFINITY: nothing planned. */
uint64_t pinned_reads_next(const PinnedReads *p);

/*
 * A round at now (at or after pinned_reads_next()): *ret_all if every VM
 * is to be read, else only those pinned_reads_wants() names.  Returns
 * false if nothing is due.
 */
bool pinned_reads_begin(const PinnedReads *p, uint64_t now, bool *ret_all);
bool pinned_reads_wants(const PinnedReads *p, uint64_t now, bool all, pid_t pid,
			uint64_t starttime);
/* The round at now is over.  With no VM left, pinned_reads_done() plans nothing. */
void pinned_reads_end(PinnedReads *p, uint64_t now, bool all);
