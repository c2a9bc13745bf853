/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * Uevents of the pci, iommu and vfio subsystems: a device bound or gone
 * may change the topology (pci, iommu), a VFIO group node coming or
 * going may be a VM starting (vfio).  They come in bursts, several per
 * device: the caller coalesces.  Only on the real host: with a test root
 * they would describe another machine.
 */

#include <stdbool.h>

#include <systemd/sd-event.h>

typedef struct DeviceWatch DeviceWatch;

/* topology: a pci or iommu device changed; false: a vfio one alone. */
typedef void (*DeviceWatchChanged)(bool topology, void *userdata);

int devicewatch_new(sd_event *e, DeviceWatchChanged changed, void *userdata, DeviceWatch **ret);
DeviceWatch *devicewatch_free(DeviceWatch *w);
static inline void devicewatch_freep(DeviceWatch **w)
{
	devicewatch_free(*w);
}
