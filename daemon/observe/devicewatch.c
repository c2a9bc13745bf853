// SPDX-License-Identifier: GPL-2.0-or-later
#include <systemd/sd-device.h>

#include "devicewatch.h"
#include "util.h"

struct DeviceWatch {
	sd_device_monitor *monitor;
	DeviceWatchChanged changed;
	void *userdata;
};

DeviceWatch *devicewatch_free(DeviceWatch *w)
{
	if (!w)
		return NULL;
	sd_device_monitor_unref(w->monitor);
	free(w);
	return NULL;
}

static int on_uevent(sd_device_monitor *mon, sd_device *d, void *userdata)
{
	DeviceWatch *w = ASSERT_PTR(userdata);
	const char *subsystem = NULL;

	(void)sd_device_get_subsystem(d, &subsystem);
	w->changed(!streq_ptr(subsystem, "vfio"), w->userdata);
	return 0;
}

int devicewatch_new(sd_event *e, DeviceWatchChanged changed, void *userdata, DeviceWatch **ret)
{
	static const char *const subsystems[] = { "pci", "iommu", "vfio" };
	_cleanup_(devicewatch_freep) DeviceWatch *w = NULL;
	int r;

	assert(e);
	assert(changed);
	assert(ret);
	w = calloc(1, sizeof(DeviceWatch));
	if (!w)
		return -ENOMEM;
	w->changed = changed;
	w->userdata = userdata;
	r = sd_device_monitor_new(&w->monitor);
	for (size_t i = 0; r >= 0 && i < ELEMENTSOF(subsystems); i++)
		r = sd_device_monitor_filter_add_match_subsystem_devtype(w->monitor, subsystems[i],
									 NULL);
	if (r >= 0)
		r = sd_device_monitor_attach_event(w->monitor, e);
	if (r >= 0)
		r = sd_device_monitor_set_description(w->monitor, "uevents");
	if (r >= 0)
		r = sd_device_monitor_start(w->monitor, on_uevent, w);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(w);
	return 0;
}
