/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The VFIO and iommufd nodes, watched with inotify: <root>/dev/vfio
 * (group files, the container), <root>/dev/vfio/devices (VFIO device
 * cdevs) and <root>/dev/iommu.  An open is a VMM starting (found while it
 * runs, not at its exit, when its files may be closed already); a close
 * may be a VMM shutting down gracefully, which tears its domains down by
 * closing them, before it exits.  Nothing opens them on an idle host: no
 * wake-up.  A node not there yet (vfio not loaded) is watched from the
 * first vfiowatch_update() that finds it.
 */

#include <stdint.h>

#include <systemd/sd-event.h>

typedef struct VfioWatch VfioWatch;

typedef struct VfioWatchCallbacks {
	/* A node was opened, or inotify lost events: a VM may be starting. */
	void (*opened)(void *userdata);
	/*
	 * A node was closed: group's file (UINT32_MAX: a device cdev, the
	 * iommufd or unknown).  fsnotify reports it in __fput(), after the fd
	 * left the table and before ->release tears the domains down.  The
	 * container's close (/dev/vfio/vfio) is not reported: it alone makes
	 * no VM.
	 */
	void (*closed)(uint32_t group, void *userdata);
	/*
	 * inotify lost events (its queue overflowed), before opened: any node
	 * may have been opened or closed meanwhile.  NULL: nothing to do.
	 */
	void (*lost)(void *userdata);
} VfioWatchCallbacks;

/* Events come at priority (the manager's: after exit events). */
int vfiowatch_new(sd_event *e, const char *root, int64_t priority, const VfioWatchCallbacks *cb,
		  void *userdata, VfioWatch **ret);
VfioWatch *vfiowatch_free(VfioWatch *w);
static inline void vfiowatch_freep(VfioWatch **w)
{
	vfiowatch_free(*w);
}

/*
 * Inside a callback: its event was queued after this time (CLOCK_MONOTONIC
 * µs), when a read of the watch had found the queue empty; 0: not known
 * (after lost events, outside a callback).
 */
uint64_t vfiowatch_queued_after(const VfioWatch *w);

/* Watches what is there and not watched yet (before each scan). */
int vfiowatch_update(VfioWatch *w);

/*
 * Watches the nodes of pid's own /dev too, through <root>/proc/PID/root,
 * where it is not the host's: a VMM in a mount namespace of its own
 * (libvirt's QEMU, whose group files libvirt makes in a /dev of the
 * VM's) opens its nodes where the host's watches see nothing.  1: watched
 * now; 0: its /dev is the host's, has no VFIO node, or is watched
 * already; -errno.  Call it before looking at the process: an open after
 * the call is an event.  The watches end with that /dev.
 */
int vfiowatch_watch_process(VfioWatch *w, pid_t pid);

/*
 * Reads no event until the loop's first wake-up at or after not_before,
 * and at at_latest at the latest (CLOCK_MONOTONIC usec): they wait, in
 * order, in the kernel's queue, and are read together then, with no
 * wake-up of their own if another source woke the loop.  For the closes
 * that follow a death already counted: news to nobody.  Holding off
 * already: kept as it is, not extended, so an open is seen at at_latest.
 */
int vfiowatch_hold_off(VfioWatch *w, uint64_t not_before, uint64_t at_latest);

/* A node a VM may hold: a group file, a device cdev, the iommufd. */
typedef enum VfioOpenedKind {
	VFIO_OPENED_GROUP,
	VFIO_OPENED_DEVICE,
	VFIO_OPENED_IOMMUFD,
	_VFIO_OPENED_KIND_MAX,
} VfioOpenedKind;

typedef struct VfioOpened {
	VfioOpenedKind kind;
	uint32_t group;        /* GROUP: its number */
	char *device;          /* DEVICE: its name under /dev/vfio/devices */
} VfioOpened;

void vfio_opened_array_free(VfioOpened *a, size_t n);

/*
 * The nodes opened since the last call that are still held, as far as
 * inotify's opens and closes tell (a node's opens since it was watched,
 * less its closes: a VM that opened one holds it until it closes it or
 * dies, an opener that closed again holds nothing), in *ret (n of them;
 * vfio_opened_array_free()); the container (/dev/vfio/vfio), which makes
 * no VM, is left out.  *ret_overflow: inotify lost events since, so any
 * node may have been opened.  Then the record starts anew.
 */
int vfiowatch_take_opened(VfioWatch *w, VfioOpened **ret, size_t *ret_n, bool *ret_overflow);
