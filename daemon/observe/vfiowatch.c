// SPDX-License-Identifier: GPL-2.0-or-later
#include <limits.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "event-util.h"

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

/*
 * The nodes of a process whose /dev is its own (a mount namespace with a
 * /dev of its own: libvirt starts QEMU so, and makes the VM's device nodes
 * there), watched through <root>/proc/PID/root.  An open there reaches no
 * watch on the host's /dev.  The watches go with that /dev (IN_IGNORED
 * when its tmpfs is unmounted, the namespace's last process gone).
 */
typedef struct PrivateDev {
	pid_t pid;
	int wd[_VFIO_NODE_MAX];        /* -1: not watched */
} PrivateDev;

/* A node files were opened on: how many of those are open still. */
typedef struct Held {
	VfioOpened node;
	uint64_t n;            /* opens less closes since watched, never below 0 */
	bool opened;           /* since the last vfiowatch_take_opened() */
} Held;

struct VfioWatch {
	sd_event *event;
	char *root;
	VfioWatchCallbacks cb;
	void *userdata;
	/*
	 * Our own inotify instance, not sd-event's inotify sources: those
	 * cannot be kept from waking the loop without their watch (and the
	 * events queued on it) going.  An I/O source turned off keeps both.
	 */
	int inotify_fd;
	sd_event_source *io;
	sd_event_source *hold_end;     /* on: reading is held off until it fires */
	int wd[_VFIO_NODE_MAX];        /* -1: not watched (not there yet, or gone) */
	PrivateDev *private;
	size_t n_private;
	Held *held;
	size_t n_held;
	bool overflow;
	/*
	 * CLOCK_MONOTONIC before the last read that emptied the queue (or
	 * before the queue was made, empty): what the next read finds was
	 * queued after it.  0: not known (events were lost).
	 */
	uint64_t drained_before;
	uint64_t queued_after;         /* of the events being handled now */
};

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata);
static int on_hold_end(sd_event_source *s, uint64_t usec, void *userdata);

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
	int r = 0;

	assert(e);
	assert(cb);
	assert(ret);
	w = calloc(1, sizeof(VfioWatch));
	if (!w)
		return -ENOMEM;
	w->inotify_fd = -1;
	w->root = strdup(root);
	if (!w->root) {
		free(w);
		return -ENOMEM;
	}
	w->event = sd_event_ref(e);
	w->cb = *cb;
	w->userdata = userdata;
	for (VfioNode n = 0; n < _VFIO_NODE_MAX; n++)
		w->wd[n] = -1;
	w->drained_before = now_usec(CLOCK_MONOTONIC);
	w->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (w->inotify_fd < 0)
		r = -errno;
	if (r >= 0)
		r = sd_event_add_io(e, &w->io, w->inotify_fd, EPOLLIN, on_io, w);
	if (r >= 0)
		r = sd_event_source_set_priority(w->io, priority);
	if (r >= 0)
		r = sd_event_source_set_description(w->io, "vfio-nodes");
	if (r >= 0)
		r = sd_event_add_time(e, &w->hold_end, CLOCK_MONOTONIC, USEC_INFINITY, 0, on_hold_end,
				      w);
	if (r >= 0)
		r = event_source_setup(w->hold_end, priority, "vfio-nodes-hold-off");
	if (r < 0) {
		vfiowatch_free(w);
		return r;
	}
	*ret = w;
	return 0;
}

VfioWatch *vfiowatch_free(VfioWatch *w)
{
	if (!w)
		return NULL;
	sd_event_source_disable_unref(w->hold_end);
	sd_event_source_disable_unref(w->io);
	closep(&w->inotify_fd);
	for (size_t i = 0; i < w->n_held; i++)
		free(w->held[i].node.device);
	free(w->held);
	free(w->private);
	sd_event_unref(w->event);
	free(w->root);
	free(w);
	return NULL;
}

/* The node a watch is on, in *ret_wds (the host's wd[] or a private /dev's); _VFIO_NODE_MAX: none. */
static VfioNode node_of(VfioWatch *w, int wd, int **ret_wds)
{
	/* The host's first: a /dev watched as a process's and then as the host's is the host's. */
	for (size_t i = 0; i <= w->n_private; i++) {
		int *wds = i == 0 ? w->wd : w->private[i - 1].wd;

		for (VfioNode n = 0; n < _VFIO_NODE_MAX; n++)
			if (wds[n] >= 0 && wds[n] == wd) {
				*ret_wds = wds;
				return n;
			}
	}
	*ret_wds = NULL;
	return _VFIO_NODE_MAX;
}

/* Private /devs whose every watch went are forgotten. */
static void private_prune(VfioWatch *w)
{
	size_t j = 0;

	for (size_t i = 0; i < w->n_private; i++) {
		bool any = false;

		for (VfioNode n = 0; n < _VFIO_NODE_MAX; n++)
			any = any || w->private[i].wd[n] >= 0;
		if (any)
			w->private[j++] = w->private[i];
		else
			log_debug("The /dev of pid %d is gone: no longer watched.", (int)w->private[i].pid);
	}
	w->n_private = j;
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

static int watch_nodes(VfioWatch *w, const char *base, int wds[static _VFIO_NODE_MAX],
		       uint32_t extra_mask);

static void handle_event(VfioWatch *w, const struct inotify_event *ev)
{
	int *wds;
	VfioNode node = node_of(w, ev->wd, &wds);

	if (ev->mask & IN_Q_OVERFLOW) {
		w->overflow = true;
		w->queued_after = 0;
		if (w->cb.lost)
			w->cb.lost(w->userdata);
		w->cb.opened(w->userdata);
		return;
	}
	if (node == _VFIO_NODE_MAX)
		return;
	if (ev->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF | IN_UNMOUNT)) {
		/* The node went (vfio unloaded): watched again when an update finds it back. */
		log_debug("%s is gone: no longer watched.", vfio_nodes[node].path);
		if (!(ev->mask & IN_IGNORED))
			(void)inotify_rm_watch(w->inotify_fd, wds[node]);
		wds[node] = -1;
		if (wds != w->wd)
			private_prune(w);
		return;
	}
	if ((ev->mask & IN_CREATE) && wds == w->wd)
		/* /dev/vfio/devices, when the first cdev appears. */
		(void)vfiowatch_update(w);
	else if (ev->mask & IN_CREATE) {
		for (size_t i = 0; i < w->n_private; i++)
			if (w->private[i].wd == wds) {
				_cleanup_free_ char *base = NULL;

				if (asprintf(&base, "proc/%d/root", (int)w->private[i].pid) >= 0)
					(void)watch_nodes(w, base, wds, IN_MASK_CREATE);
				break;
			}
	}
	if ((ev->mask & IN_CLOSE) && !(ev->mask & IN_ISDIR)) {
		uint32_t group = UINT32_MAX;

		note(w, node, ev, false);
		if (node == VFIO_NODE_GROUPS && ev->len > 0) {
			/* /dev/vfio/vfio, the container, alone makes no VM: its close ends none. */
			if (streq(ev->name, "vfio"))
				return;
			if (safe_atou32(ev->name, &group) < 0)
				group = UINT32_MAX;
		}
		w->cb.closed(group, w->userdata);
	}
	/* A directory listed is no VM; an overflow may hide one. */
	if ((ev->mask & IN_OPEN) && !(ev->mask & IN_ISDIR)) {
		note(w, node, ev, true);
		w->cb.opened(w->userdata);
	}
}

/* The largest event inotify hands out: one whose name is NAME_MAX long. */
#define INOTIFY_EVENT_MAX (sizeof(struct inotify_event) + NAME_MAX + 1)

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	VfioWatch *w = ASSERT_PTR(userdata);
	union {
		struct inotify_event ev;
		uint8_t raw[16 * INOTIFY_EVENT_MAX];
	} buf;
	uint64_t before = now_usec(CLOCK_MONOTONIC);
	ssize_t n;

	(void)s;
	(void)revents;
	n = read(fd, &buf, sizeof(buf));
	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR)
			log_warning_errno(errno, "Cannot read VFIO node events: %m");
		else if (errno == EAGAIN)
			w->drained_before = before;
		return 0;
	}
	w->queued_after = w->drained_before;
	/*
	 * With room left for the largest event, this read took all that was
	 * queued when it began.  (An overflow in it sets 0 again below.)
	 */
	w->drained_before = (size_t)n <= sizeof(buf) - INOTIFY_EVENT_MAX ? before : 0;
	for (size_t off = 0; off + sizeof(struct inotify_event) <= (size_t)n;) {
		const struct inotify_event *ev = (const struct inotify_event *)(buf.raw + off);

		off += sizeof(struct inotify_event) + ev->len;
		if (off > (size_t)n)
			break; /* the kernel never splits one: cannot happen */
		handle_event(w, ev);
		if (ev->mask & IN_Q_OVERFLOW)
			w->drained_before = 0;
	}
	w->queued_after = 0;
	/*
	 * No second read for EAGAIN: a read takes every event that fits, so
	 * with room left for the largest one the queue was empty; with less,
	 * the source is still ready and the loop comes back.
	 */
	return 0;
}

static int on_hold_end(sd_event_source *s, uint64_t usec, void *userdata)
{
	VfioWatch *w = ASSERT_PTR(userdata);
	int r;

	(void)s;
	(void)usec;
	r = sd_event_source_set_enabled(w->io, SD_EVENT_ON);
	if (r < 0)
		log_warning_errno(r, "Cannot listen to VFIO node events again: %m");
	/*
	 * What queued meanwhile is read in this same wake-up: sd-event
	 * dispatches one source per turn of the loop, so the I/O source
	 * turned on would wait for the next one.  Non-blocking: nothing
	 * queued, nothing read.
	 */
	return on_io(w->io, w->inotify_fd, EPOLLIN, w);
}

uint64_t vfiowatch_queued_after(const VfioWatch *w)
{
	return w->queued_after;
}

int vfiowatch_hold_off(VfioWatch *w, uint64_t not_before, uint64_t at_latest)
{
	int enabled = SD_EVENT_OFF;
	int r;

	assert(w);
	assert(not_before <= at_latest);
	r = sd_event_source_get_enabled(w->hold_end, &enabled);
	if (r < 0)
		return r;
	if (enabled != SD_EVENT_OFF)
		return 0; /* holding off already: not extended, so a VM starting is seen in time */
	r = sd_event_source_set_time_accuracy(w->hold_end, at_latest - not_before);
	if (r >= 0)
		r = event_timer_arm(w->hold_end, not_before, SD_EVENT_ONESHOT);
	if (r >= 0)
		r = sd_event_source_set_enabled(w->io, SD_EVENT_OFF);
	if (r < 0) {
		(void)sd_event_source_set_enabled(w->hold_end, SD_EVENT_OFF);
		(void)sd_event_source_set_enabled(w->io, SD_EVENT_ON);
	}
	return r;
}



/*
 * Watches the nodes under <root>/base not watched in wds yet: how many it
 * added.  extra_mask IN_MASK_CREATE: a node whose inode is watched already
 * (a process's /dev that is the host's) is left to that watch.
 */
static int watch_nodes(VfioWatch *w, const char *base, int wds[static _VFIO_NODE_MAX],
		       uint32_t extra_mask)
{
	int added = 0;

	for (VfioNode n = 0; n < _VFIO_NODE_MAX; n++) {
		_cleanup_free_ char *rel = NULL, *path = NULL;
		int r;

		if (wds[n] >= 0)
			continue;
		if (asprintf(&rel, "%s%s%s", base, *base ? "/" : "", vfio_nodes[n].path) < 0)
			return log_oom();
		path = root_path(w->root, rel);
		if (!path)
			return log_oom();
		r = inotify_add_watch(w->inotify_fd, path, vfio_nodes[n].mask | extra_mask);
		if (r < 0 && (errno == ENOENT || errno == ENOTDIR || errno == EEXIST))
			continue;
		if (r < 0 && *base && (errno == EACCES || errno == ESRCH))
			continue; /* a process gone, or not ours to look into */
		if (r < 0) {
			log_warning_errno(errno, "Cannot watch %s for VMs starting: %m", path);
			continue;
		}
		wds[n] = r;
		added++;
		log_debug("Watching %s (%s) for VMs starting.", path, vfio_nodes[n].description);
	}
	return added;
}

int vfiowatch_update(VfioWatch *w)
{
	int r = watch_nodes(w, "", w->wd, 0);

	return r < 0 ? r : 0;
}

int vfiowatch_watch_process(VfioWatch *w, pid_t pid)
{
	_cleanup_free_ char *base = NULL;
	PrivateDev *p;
	int r;

	assert(w);
	if (pid <= 0)
		return -EINVAL;
	for (size_t i = 0; i < w->n_private; i++)
		if (w->private[i].pid == pid)
			return 0;
	if (asprintf(&base, "proc/%d/root", (int)pid) < 0)
		return -ENOMEM;
	p = realloc(w->private, (w->n_private + 1) * sizeof(PrivateDev));
	if (!p)
		return -ENOMEM;
	w->private = p;
	p = &w->private[w->n_private];
	*p = (PrivateDev){ .pid = pid };
	for (VfioNode n = 0; n < _VFIO_NODE_MAX; n++)
		p->wd[n] = -1;
	/* Its /dev is the host's (watched already, or not there): nothing to add. */
	r = watch_nodes(w, base, p->wd, IN_MASK_CREATE);
	for (VfioNode n = 0; n < _VFIO_NODE_MAX; n++)
		if (p->wd[n] >= 0) {
			/* Kept even if a later node failed: its watches are live. */
			w->n_private++;
			break;
		}
	if (r <= 0)
		return r;
	log_debug("Pid %d has a /dev of its own: its VFIO nodes are watched too.", (int)pid);
	return 1;
}
