// SPDX-License-Identifier: GPL-2.0-or-later
#include "event-util.h"
#include "log.h"
#include "rescans.h"

/* How long one slice of a scan looks at processes before the loop gets a turn. */
#define SCAN_SLICE_USEC (1 * USEC_PER_MSEC)
/* What an open waits for its fd to be installed (see rescans_vfio_opened()). */
#define OPEN_DEFER_USEC (50 * USEC_PER_MSEC)

struct Rescans {
	sd_event *event;
	char *root;
	RescanCallbacks cb;
	void *userdata;

	sd_event_source *defer;        /* the coalesced looks asked for */
	bool topology_pending;
	bool vms_pending;              /* a scan of every process */
	bool opens_pending;            /* a look for VFIO openers */
	uint64_t open_due;             /* the latest open seen wants a look starting by then */
	uint64_t covered;              /* opens due by then have been looked into */
	uint64_t scan_start;           /* of the scan under way */
	RescanStats stats;

	sd_event_source *interval;     /* ScanInterval= */
	uint64_t interval_usec;

	sd_event_source *step;         /* the scan under way, a slice per loop iteration */
	VmScan *scan;                  /* NULL: none */
	bool scan_again;               /* asked for while one ran */
};

Rescans *rescans_free(Rescans *r)
{
	if (!r)
		return NULL;
	sd_event_source_disable_unref(r->defer);
	sd_event_source_disable_unref(r->interval);
	sd_event_source_disable_unref(r->step);
	vm_scan_free(r->scan);
	sd_event_unref(r->event);
	free(r->root);
	free(r);
	return NULL;
}

/* ---- the scan ------------------------------------------------------------ */

/* A look or a scan begun at start is over: the opens due by then are accounted for. */
static void covered(Rescans *r, uint64_t start)
{
	bool was = rescans_opens_pending(r);

	if (start > r->covered)
		r->covered = start;
	if (was && !rescans_opens_pending(r) && r->cb.opens_covered)
		r->cb.opens_covered(r->userdata);
}

bool rescans_opens_pending(const Rescans *r)
{
	return r->open_due > r->covered;
}

const RescanStats *rescans_stats(const Rescans *r)
{
	return &r->stats;
}

void rescans_scan(Rescans *r)
{
	int k;

	if (r->scan) {
		r->scan_again = true;
		return;
	}
	k = vm_scan_new(r->root, &r->scan);
	r->scan_start = event_now(r->event);
	r->stats.scans++;
	/* A deferred source, on: dispatched once in every loop iteration until the end. */
	if (k >= 0)
		k = sd_event_source_set_enabled(r->step, SD_EVENT_ON);
	if (k < 0) {
		r->scan = vm_scan_free(r->scan);
		return (void)log_warning_errno(k, "Failed to scan processes for VMs: %m");
	}
	r->cb.scan_begin(r->userdata);
}

/* The scan ended (k: 0, or its error): told with nothing under way, so it may start another. */
static void scan_finish(Rescans *r, int k)
{
	_cleanup_(vm_scan_freep) VmScan *s = TAKE_PTR(r->scan);
	Vm **found = NULL;
	size_t n = 0;
	int q;

	q = sd_event_source_set_enabled(r->step, SD_EVENT_OFF);
	if (k >= 0 && q < 0)
		k = q;
	if (k >= 0)
		vm_scan_take(s, &found, &n);
	r->cb.scan_done(k, found, n, r->userdata);
	if (k >= 0)
		covered(r, r->scan_start);
	if (r->scan_again) {
		r->scan_again = false;
		rescans_scan(r);
	}
}

static void scan_slice(Rescans *r)
{
	uint64_t end = now_usec(CLOCK_MONOTONIC) + SCAN_SLICE_USEC;
	int k;

	do
		k = vm_scan_step(r->scan);
	while (k > 0 && now_usec(CLOCK_MONOTONIC) < end);
	if (k <= 0)
		scan_finish(r, k);
}

static int on_step(sd_event_source *s, void *userdata)
{
	scan_slice(ASSERT_PTR(userdata));
	return 0;
}

void rescans_scan_whole(Rescans *r)
{
	rescans_scan(r);
	while (r->scan)
		scan_slice(r);
}

/* ---- when ----------------------------------------------------------------- */

static int schedule_at(Rescans *r, bool topology, bool vms, bool opens, uint64_t when)
{
	uint64_t pending;

	r->topology_pending |= topology;
	r->vms_pending |= vms;
	r->opens_pending |= opens;
	if (sd_event_source_get_enabled(r->defer, NULL) > 0 &&
	    sd_event_source_get_time(r->defer, &pending) >= 0 && pending <= when)
		return 0;
	return event_timer_arm(r->defer, when, SD_EVENT_ONESHOT);
}

int rescans_schedule(Rescans *r, bool topology, bool vms, uint64_t delay)
{
	return schedule_at(r, topology, vms, false, event_now(r->event) + delay);
}

int rescans_vfio_opened(Rescans *r)
{
	uint64_t due = event_now(r->event) + OPEN_DEFER_USEC;

	if (due > r->open_due)
		r->open_due = due;
	return schedule_at(r, false, false, true, due);
}

static int on_defer(sd_event_source *s, uint64_t usec, void *userdata)
{
	Rescans *r = ASSERT_PTR(userdata);
	uint64_t start = event_now(r->event);

	if (r->topology_pending) {
		r->topology_pending = false;
		r->cb.topology(r->userdata);
	}
	if (r->vms_pending) {
		/* A scan of every process covers the opens too. */
		r->vms_pending = r->opens_pending = false;
		rescans_scan(r);
	} else if (r->opens_pending) {
		r->opens_pending = false;
		r->stats.looks++;
		if (r->cb.look && r->cb.look(r->userdata))
			covered(r, start);
		else {
			r->stats.open_scans++;
			rescans_scan(r);
		}
	}
	/*
	 * An open seen less than OPEN_DEFER_USEC before this look (coalesced
	 * into it) may not have had its fd installed yet: one more look then.
	 * Opens all the time still look at most once per OPEN_DEFER_USEC.
	 */
	if (r->open_due > start)
		return schedule_at(r, false, false, true, r->open_due);
	return 0;
}

static int on_interval(sd_event_source *s, uint64_t usec, void *userdata)
{
	Rescans *r = ASSERT_PTR(userdata);

	rescans_scan(r);
	return sd_event_source_set_time(s, usec + r->interval_usec);
}

int rescans_set_interval(Rescans *r, uint64_t usec)
{
	int k;

	r->interval_usec = usec;
	if (usec == 0)
		return sd_event_source_set_enabled(r->interval, SD_EVENT_OFF);
	/* Let the kernel batch it with other wake-ups (the watchdog's). */
	k = sd_event_source_set_time_accuracy(r->interval, usec / 4 ?: 1);
	if (k >= 0)
		k = event_timer_arm(r->interval, event_now(r->event) + usec, SD_EVENT_ON);
	return k;
}

/* Off until needed, idle priority, and a failure in it ends the loop. */
static int setup_source(sd_event_source *s, const char *description)
{
	int k = event_source_setup(s, SD_EVENT_PRIORITY_IDLE, description);

	if (k >= 0)
		k = sd_event_source_set_exit_on_failure(s, true);
	return k;
}

int rescans_new(sd_event *e, const char *root, const RescanCallbacks *cb, void *userdata,
		Rescans **ret)
{
	_cleanup_(rescans_freep) Rescans *r = NULL;
	int k;

	assert(e);
	assert(root);
	assert(cb);
	assert(ret);
	r = calloc(1, sizeof(Rescans));
	if (!r)
		return -ENOMEM;
	r->event = sd_event_ref(e);
	r->cb = *cb;
	r->userdata = userdata;
	r->root = strdup(root);
	if (!r->root)
		return -ENOMEM;
	k = sd_event_add_time(e, &r->defer, CLOCK_MONOTONIC, USEC_INFINITY, 0, on_defer, r);
	if (k >= 0)
		k = setup_source(r->defer, "rescan");
	if (k >= 0)
		k = sd_event_add_time(e, &r->interval, CLOCK_MONOTONIC, USEC_INFINITY, 0, on_interval,
				      r);
	if (k >= 0)
		k = setup_source(r->interval, "scan-interval");
	if (k >= 0)
		k = sd_event_add_defer(e, &r->step, on_step, r);
	if (k >= 0)
		k = setup_source(r->step, "vm-scan");
	if (k < 0)
		return k;
	*ret = TAKE_PTR(r);
	return 0;
}
