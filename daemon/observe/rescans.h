/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * When to look at the host again, and the /proc scans themselves.  Asks
 * for a look (uevents, VFIO opens, lost exit events, SIGUSR1,
 * ScanInterval=) are coalesced into topology rescans and scans of every
 * process, at idle priority: never ahead of exit events already queued.
 * A VFIO open asks for less: the caller's look at the processes that can
 * have made it (look()), and a scan of every process only when that does
 * not account for every node opened (counted: RescanStats).
 * A scan runs on the event loop a slice at a time, so that what comes
 * meanwhile is dispatched between the slices, sources of a higher
 * priority first (a dying VMM starts its teardown within milliseconds of
 * its exit event; a scan of a busy host takes far longer).  One scan at a
 * time: one asked for meanwhile follows it.
 */

#include <stdbool.h>

#include <systemd/sd-event.h>

#include "vmscan.h"

typedef struct Rescans Rescans;

typedef struct RescanCallbacks {
	/* The topology may have changed: look at it now. */
	void (*topology)(void *userdata);
	/* A scan of every process begins ... */
	void (*scan_begin)(void *userdata);
	/* ... and ends: the VMs it found (the callee's to keep), or its error. */
	void (*scan_done)(int error, Vm **found, size_t n_found, void *userdata);
	/*
	 * VFIO nodes were opened: look at the processes that may have opened
	 * them; true if every node opened and still held is now held by a
	 * VM known (no scan needed), false for a scan of every process.
	 */
	bool (*look)(void *userdata);
	/* Every VFIO open seen so far has been looked into (by a look or a scan). */
	void (*opens_covered)(void *userdata);
} RescanCallbacks;

typedef struct RescanStats {
	uint64_t scans;          /* of every process */
	uint64_t looks;          /* a VFIO open's look at some processes */
	uint64_t open_scans;     /* scans a look did not make unnecessary */
} RescanStats;

/*
 * Event sources that fail in a callback end the loop (exit on failure): a
 * host that is never looked at again would go unwatched.
 */
int rescans_new(sd_event *e, const char *root, const RescanCallbacks *cb, void *userdata,
		Rescans **ret);
Rescans *rescans_free(Rescans *r);
static inline void rescans_freep(Rescans **r)
{
	rescans_free(*r);
}

/* A look in delay µs at the latest: one due later is brought forward, never put off. */
int rescans_schedule(Rescans *r, bool topology, bool vms, uint64_t delay);
/*
 * A VFIO node was opened.  A VMM opens its groups, devices and iommufd
 * within a few milliseconds: one look for them all, soon enough to find a
 * VM that lives a second.  IN_OPEN comes before the kernel installs the
 * fd: each open gets a look starting at least that much after it.
 */
int rescans_vfio_opened(Rescans *r);
/* An open was seen that no look or scan begun after it has covered yet. */
bool rescans_opens_pending(const Rescans *r);
const RescanStats *rescans_stats(const Rescans *r);
/* A scan now, or after the one under way. */
void rescans_scan(Rescans *r);
/* The first scan, whole, here and now (before the loop runs). */
void rescans_scan_whole(Rescans *r);
/* A scan every usec besides (ScanInterval=; 0: none, an idle daemon sleeps). */
int rescans_set_interval(Rescans *r, uint64_t usec);
