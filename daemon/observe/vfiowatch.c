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

/* A node files were opened on: how many of those are open still. */
typedef struct Held {
	VfioOpened node;
	uint64_t n;            /* opens less closes since watched, never below 0 */
	bool opened;           /* since the last vfiowatch_take_opened() */
} Held;

struct VfioWatch {
	sd_event *event;
	char *root;
	int64_t priority;
	VfioWatchCallbacks cb;
	void *userdata;
	sd_event_source *source[_VFIO_NODE_MAX]; /* NULL: not there (yet) */
	Held *held;
	size_t n_held;
	bool overflow;
};

void vfio_opened_array_free(VfioOpened *a, size_t n)
{
	for (size_t i = 0; a && i < n; i++)
		free(a[i].device);
	free(a);
}

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
	for (size_t i = 0; i < w->n_held; i++)
		free(w->held[i].node.device);
	free(w->held);
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

/* The node an event names (by its watch and name): false for the container or a bad name. */
static bool node_named(VfioNode node, const struct inotify_event *ev, VfioOpened *ret)
{
	switch (node) {
	case VFIO_NODE_GROUPS:
		if (ev->len == 0 || safe_atou32(ev->name, &ret->group) < 0)
			return false; /* "vfio", the container, is no VM's by itself */
		ret->kind = VFIO_OPENED_GROUP;
		return true;
	case VFIO_NODE_DEVICES:
		if (ev->len == 0 || !*ev->name)
			return false;
		ret->kind = VFIO_OPENED_DEVICE;
		ret->device = (char *)ev->name;
		return true;
	default:
		ret->kind = VFIO_OPENED_IOMMUFD;
		return true;
	}
}

static Held *held_find(VfioWatch *w, const VfioOpened *o, bool add)
{
	Held *n;

	for (size_t i = 0; i < w->n_held; i++) {
		const VfioOpened *h = &w->held[i].node;

		if (h->kind == o->kind && h->group == o->group && streq_ptr(h->device, o->device))
			return &w->held[i];
	}
	if (!add)
		return NULL;
	n = realloc(w->held, (w->n_held + 1) * sizeof(Held));
	if (!n)
		return NULL;
	w->held = n;
	n = &w->held[w->n_held];
	*n = (Held){ .node = { .kind = o->kind, .group = o->group } };
	if (o->device && !(n->node.device = strdup(o->device)))
		return NULL;
	w->n_held++;
	return n;
}

/* An open or a close of a node: what is held, and what was opened since the last look. */
static void note(VfioWatch *w, VfioNode node, const struct inotify_event *ev, bool open)
{
	VfioOpened o = {};
	Held *h;

	if (!node_named(node, ev, &o))
		return;
	h = held_find(w, &o, open);
	if (!h) {
		/* Out of memory: the next look cannot trust the record, so it scans. */
		if (open)
			w->overflow = true;
		return;
	}
	if (open) {
		h->n++;
		h->opened = true;
	} else if (h->n > 0)
		/* Opened before the watch began: it was never counted. */
		h->n--;
}

int vfiowatch_take_opened(VfioWatch *w, VfioOpened **ret, size_t *ret_n, bool *ret_overflow)
{
	VfioOpened *a = NULL;
	size_t n = 0;

	for (size_t i = 0; i < w->n_held; i++) {
		Held *h = &w->held[i];
		VfioOpened *na;

		if (!h->opened || h->n == 0) {
			h->opened = false;
			continue;
		}
		na = realloc(a, (n + 1) * sizeof(VfioOpened));
		if (!na) {
			vfio_opened_array_free(a, n);
			return -ENOMEM;
		}
		a = na;
		a[n] = (VfioOpened){ .kind = h->node.kind, .group = h->node.group };
		if (h->node.device && !(a[n].device = strdup(h->node.device))) {
			vfio_opened_array_free(a, n);
			return -ENOMEM;
		}
		n++;
		h->opened = false;
	}
	*ret = a;
	*ret_n = n;
	*ret_overflow = w->overflow;
	w->overflow = false;
	return 0;
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

		note(w, node, ev, false);
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
	if ((ev->mask & IN_OPEN) && !(ev->mask & IN_ISDIR))
		note(w, node, ev, true);
	if (ev->mask & IN_Q_OVERFLOW)
		w->overflow = true;
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
