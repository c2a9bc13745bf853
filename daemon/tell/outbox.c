// SPDX-License-Identifier: GPL-2.0-or-later
#include <systemd/sd-daemon.h>

#include "event-util.h"
#include "log.h"
#include "outbox.h"
#include "status.h"

/* The metrics file is written at most this often. */
#define METRICS_INTERVAL_USEC USEC_PER_SEC

enum {
	/* DaemonEvent: kind smmu knob before after detail; DaemonDecision: smmu reason why threshold teardown_mode */
	N_STRINGS = 6,
};

typedef struct Told {
	bool decision;
	bool storm;
	uint64_t realtime_usec;
	char *s[N_STRINGS];
} Told;

struct Outbox {
	sd_event *event;
	OutboxView view;
	void *userdata;
	Bus *bus;

	Told *queue;
	size_t n_queue;
	bool changed;                 /* the status and metrics are behind the state */
	bool metrics_due;
	uint64_t metrics_written;     /* CLOCK_MONOTONIC of the last write (0: never) */

	sd_event_source *idle;        /* sends the queue, the status; the metrics if due */
	sd_event_source *metrics_timer; /* the next write: due, or the refresh */
	char *status;
	MetricsFile metrics;
};

static void told_done(Told *t)
{
	for (size_t i = 0; i < N_STRINGS; i++)
		free(t->s[i]);
}

static void send_queue(Outbox *o)
{
	/* Taken first: a signal sent may run callbacks that queue more. */
	Told *q = TAKE_PTR(o->queue);
	size_t n = o->n_queue;

	o->n_queue = 0;
	for (size_t i = 0; i < n; i++) {
		Told *t = &q[i];

		if (o->bus && t->decision) {
			DaemonDecision d = {
				.realtime_usec = t->realtime_usec,
				.smmu = t->s[0],
				.storm = t->storm,
				.reason = t->s[1],
				.why = t->s[2],
				.threshold = t->s[3],
				.teardown_mode = t->s[4],
			};

			bus_emit_decision(o->bus, &d);
		} else if (o->bus) {
			DaemonEvent e = {
				.realtime_usec = t->realtime_usec,
				.kind = t->s[0],
				.smmu = t->s[1],
				.knob = t->s[2],
				.before = t->s[3],
				.after = t->s[4],
				.detail = t->s[5],
			};

			bus_emit_event(o->bus, &e);
		}
		told_done(t);
	}
	free(q);
}

/*
 * Writes the metrics, and arms their refresh: the kernel's counters and
 * the VMs' pinned memory change with no decision, and a file written only
 * on decisions would hold stale counters (rate() of nothing).  The timer is
 * at idle priority, behind anything the loop has to decide or write.
 */
static void send_status(Outbox *o);

static void write_metrics(Outbox *o)
{
	bool had_error = o->metrics.error;
	DaemonView v;
	int r;

	o->view(o->userdata, &v);
	metrics_file_update(&o->metrics, &v);
	if (!!o->metrics.error != had_error)
		send_status(o);
	o->metrics_written = now_usec(CLOCK_MONOTONIC);
	o->metrics_due = false;
	if (!v.config || !v.config->metrics_file) {
		(void)event_timer_arm(o->metrics_timer, USEC_INFINITY, SD_EVENT_OFF);
		return;
	}
	r = event_timer_arm(o->metrics_timer, o->metrics_written + METRICS_REFRESH_USEC,
			    SD_EVENT_ONESHOT);
	/* -ESTALE: the loop is ending, there is nothing to refresh for. */
	if (r < 0 && r != -ESTALE)
		log_warning_errno(r, "Cannot arm the metrics refresh, %s is written on changes only: %m",
				  v.config->metrics_file);
}

static void send_status(Outbox *o)
{
	_cleanup_free_ char *s = NULL;
	DaemonView v;

	o->view(o->userdata, &v);
	v.metrics_error = o->metrics.error;
	if (status_format(&v, &s) < 0 || streq_ptr(s, o->status))
		return;
	free(o->status);
	o->status = TAKE_PTR(s);
	(void)sd_notifyf(false, "STATUS=%s", o->status);
}

/* The metrics now if the last write is old enough, else when it is. */
static void metrics_when_due(Outbox *o)
{
	uint64_t now = now_usec(CLOCK_MONOTONIC), due = o->metrics_written + METRICS_INTERVAL_USEC;
	int r;

	if (!o->metrics_due)
		return;
	/*
	 * With no MetricsFile=, before as now, a write is no I/O: nothing to
	 * space out, and no timer to wake the loop for after every change.
	 */
	if (o->metrics_written == 0 || now >= due || !o->metrics.path) {
		write_metrics(o);
		return;
	}
	/* Earlier than the refresh it may be armed for. */
	r = event_timer_arm(o->metrics_timer, due, SD_EVENT_ONESHOT);
	if (r < 0)
		/* No timer: written now rather than late. */
		write_metrics(o);
}

void outbox_flush(Outbox *o)
{
	if (!o)
		return;
	(void)sd_event_source_set_enabled(o->idle, SD_EVENT_OFF);
	send_queue(o);
	if (o->changed) {
		o->changed = false;
		o->metrics_due = true;
		send_status(o);
	}
	metrics_when_due(o);
}

static int on_idle(sd_event_source *s, void *userdata)
{
	outbox_flush(ASSERT_PTR(userdata));
	return 0;
}

static int on_metrics_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	/* Due after a change, or a refresh. */
	write_metrics(ASSERT_PTR(userdata));
	return 0;
}

/* The idle source on; if it cannot be, everything now (late telling beats none). */
static void wake(Outbox *o)
{
	if (sd_event_source_set_enabled(o->idle, SD_EVENT_ONESHOT) < 0)
		outbox_flush(o);
}

int outbox_new(sd_event *e, OutboxView view, void *userdata, Outbox **ret)
{
	_cleanup_(outbox_freep) Outbox *o = NULL;
	int r;

	assert(e);
	assert(view);
	assert(ret);
	o = calloc(1, sizeof(Outbox));
	if (!o)
		return -ENOMEM;
	o->event = sd_event_ref(e);
	o->view = view;
	o->userdata = userdata;
	r = sd_event_add_defer(e, &o->idle, on_idle, o);
	if (r >= 0)
		r = event_source_setup(o->idle, SD_EVENT_PRIORITY_IDLE, "outbox");
	if (r >= 0)
		r = sd_event_add_time(e, &o->metrics_timer, CLOCK_MONOTONIC, USEC_INFINITY, 0,
				      on_metrics_timer, o);
	if (r >= 0)
		r = event_source_setup(o->metrics_timer, SD_EVENT_PRIORITY_IDLE, "metrics");
	if (r < 0)
		return r;
	*ret = TAKE_PTR(o);
	return 0;
}

Outbox *outbox_free(Outbox *o)
{
	if (!o)
		return NULL;
	send_queue(o);
	sd_event_source_disable_unref(o->idle);
	sd_event_source_disable_unref(o->metrics_timer);
	sd_event_unref(o->event);
	free(o->status);
	free(o->metrics.path);
	free(o->metrics.text);
	free(o->metrics.error);
	free(o);
	return NULL;
}

void outbox_set_bus(Outbox *o, Bus *b)
{
	o->bus = b;
}

static void queue(Outbox *o, const Told *t)
{
	Told *n = realloc(o->queue, (o->n_queue + 1) * sizeof(Told));

	if (!n) {
		/* Not told then, rather than lost with everything queued before it. */
		log_oom();
		told_done((Told *)t);
		return;
	}
	o->queue = n;
	o->queue[o->n_queue++] = *t;
	wake(o);
}

static char *copy(const char *s, bool *oom)
{
	char *c;

	if (!s)
		return NULL;
	c = strdup(s);
	if (!c)
		*oom = true;
	return c;
}

void outbox_event(Outbox *o, const DaemonEvent *e)
{
	bool oom = false;
	Told t = {
		.realtime_usec = e->realtime_usec,
		.s = { copy(e->kind, &oom), copy(e->smmu, &oom), copy(e->knob, &oom),
		       copy(e->before, &oom), copy(e->after, &oom), copy(e->detail, &oom) },
	};

	if (oom) {
		log_oom();
		told_done(&t);
		return;
	}
	queue(o, &t);
}

void outbox_decision(Outbox *o, const DaemonDecision *d)
{
	bool oom = false;
	Told t = {
		.decision = true,
		.storm = d->storm,
		.realtime_usec = d->realtime_usec,
		.s = { copy(d->smmu, &oom), copy(d->reason, &oom), copy(d->why, &oom),
		       copy(d->threshold, &oom), copy(d->teardown_mode, &oom) },
	};

	if (oom) {
		log_oom();
		told_done(&t);
		return;
	}
	queue(o, &t);
}

void outbox_changed(Outbox *o)
{
	o->changed = true;
	wake(o);
}

const char *outbox_status(const Outbox *o)
{
	return o ? o->status : NULL;
}

void outbox_forget_status(Outbox *o)
{
	free(o->status);
	o->status = NULL;
	outbox_changed(o);
}

void outbox_stop(Outbox *o)
{
	if (!o)
		return;
	send_queue(o);
	metrics_file_remove(&o->metrics);
}
