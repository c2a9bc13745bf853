// SPDX-License-Identifier: GPL-2.0-or-later
#include <sys/inotify.h>

#include "log.h"
#include "vfiowatch.h"

typedef enum VfioNode {
	VFIO_NODE_GROUPS,      /* <root>/dev/vfio: group files (and the container) */
	VFIO_NODE_DEVICES,     /* <root>/dev/vfio/devices: VFIO device cdevs */
	VFIO_NODE_IOMMUFD,     /* <root>/dev/iommu */
	_VFIO_NODE_MAX,
} VfioNode;

static const struct {
	const char *path;
	uint32_t mask;
	const char *description;
} vfio_nodes[_VFIO_NODE_MAX] = {
	[VFIO_NODE_GROUPS] = { "dev/vfio",
			       IN_OPEN | IN_CLOSE | IN_CREATE | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR,
			       "vfio-groups" },
	[VFIO_NODE_DEVICES] = { "dev/vfio/devices",
				IN_OPEN | IN_CLOSE | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR,
				"vfio-devices" },
	[VFIO_NODE_IOMMUFD] = { "dev/iommu", IN_OPEN | IN_CLOSE | IN_DELETE_SELF | IN_MOVE_SELF,
				"iommufd" },
};

struct VfioWatch {
	sd_event *event;
	char *root;
	int64_t priority;
	VfioWatchCallbacks cb;
	void *userdata;
	sd_event_source *source[_VFIO_NODE_MAX]; /* NULL: not there (yet) */
};

int vfiowatch_new(sd_event *e, const char *root, int64_t priority, const VfioWatchCallbacks *cb,
		  void *userdata, VfioWatch **ret)
{
	VfioWatch *w;

	assert(e);
	assert(cb);
	assert(ret);
	w = calloc(1, sizeof(VfioWatch));
	if (!w)
		return -ENOMEM;
	w->root = strdup(root);
	if (!w->root) {
		free(w);
		return -ENOMEM;
	}
	w->event = sd_event_ref(e);
	w->priority = priority;
	w->cb = *cb;
	w->userdata = userdata;
	*ret = w;
	return 0;
}

VfioWatch *vfiowatch_free(VfioWatch *w)
{
	if (!w)
		return NULL;
	for (VfioNode n = 0; n < _VFIO_NODE_MAX; n++)
		sd_event_source_disable_unref(w->source[n]);
	sd_event_unref(w->event);
	free(w->root);
	free(w);
	return NULL;
}

static VfioNode node_of(const VfioWatch *w, sd_event_source *s)
{
	VfioNode n = 0;

	while (n < _VFIO_NODE_MAX && w->source[n] != s)
		n++;
	return n;
}

static int on_inotify(sd_event_source *s, const struct inotify_event *ev, void *userdata)
{
	VfioWatch *w = ASSERT_PTR(userdata);
	VfioNode node = node_of(w, s);

	if (node == _VFIO_NODE_MAX)
		return 0;
	if (ev->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF | IN_UNMOUNT)) {
		/* The node went (vfio unloaded): watched again when an update finds it back. */
		log_debug("%s is gone: no longer watched.", vfio_nodes[node].path);
		w->source[node] = sd_event_source_disable_unref(s);
		return 0;
	}
	if (ev->mask & IN_CREATE)
		/* /dev/vfio/devices, when the first cdev appears. */
		(void)vfiowatch_update(w);
	if ((ev->mask & IN_CLOSE) && !(ev->mask & IN_ISDIR)) {
		uint32_t group = UINT32_MAX;

		if (node == VFIO_NODE_GROUPS && ev->len > 0) {
			/* /dev/vfio/vfio, the container, alone makes no VM: its close ends none. */
			if (streq(ev->name, "vfio"))
				return 0;
			if (safe_atou32(ev->name, &group) < 0)
				group = UINT32_MAX;
		}
		w->cb.closed(group, w->userdata);
	}
	/* A directory listed is no VM; an overflow may hide one. */
	if (((ev->mask & IN_OPEN) && !(ev->mask & IN_ISDIR)) || (ev->mask & IN_Q_OVERFLOW))
		w->cb.opened(w->userdata);
	return 0;
}

int vfiowatch_update(VfioWatch *w)
{
	for (VfioNode n = 0; n < _VFIO_NODE_MAX; n++) {
		_cleanup_free_ char *path = NULL;
		int r;

		if (w->source[n])
			continue;
		path = root_path(w->root, vfio_nodes[n].path);
		if (!path)
			return log_oom();
		r = sd_event_add_inotify(w->event, &w->source[n], path, vfio_nodes[n].mask, on_inotify,
					 w);
		if (r == -ENOENT || r == -ENOTDIR)
			continue;
		if (r < 0) {
			log_warning_errno(r, "Cannot watch %s for VMs starting: %m", path);
			continue;
		}
		r = sd_event_source_set_priority(w->source[n], w->priority);
		if (r >= 0)
			r = sd_event_source_set_description(w->source[n], vfio_nodes[n].description);
		if (r < 0) {
			w->source[n] = sd_event_source_disable_unref(w->source[n]);
			return log_error_errno(r, "Cannot set up the watch of %s: %m", path);
		}
		log_debug("Watching %s for VMs starting.", path);
	}
	return 0;
}
