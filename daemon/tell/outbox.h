/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * What smmud tells, after it acted: the Event and Decision signals, the
 * status line (sd_notify STATUS=) and the metrics file.  A knob write or
 * a storm decision queues its signals here and goes on; the queue is sent
 * when the loop has nothing more urgent to do (idle priority), so the
 * exit events of a mass teardown are all heard, and every knob written,
 * before any reader is woken by a signal.  The status and metrics follow
 * the state after it changed, coalesced: the status once the loop is
 * idle, the metrics file at most once a second (MetricsFile= may be on a
 * disk: never an fsync).  The signals keep their order and their times
 * (a knob write's is when the write returned).
 */

#include <systemd/sd-event.h>

#include "bus.h"
#include "metrics.h"
#include "view.h"

typedef struct Outbox Outbox;

/* The daemon as it is when the outbox writes (the status line, the metrics). */
typedef void (*OutboxView)(void *userdata, DaemonView *ret);

int outbox_new(sd_event *e, OutboxView view, void *userdata, Outbox **ret);
/* Sends what is queued, then frees; the metrics file stays (outbox_stop() removes it). */
Outbox *outbox_free(Outbox *o);
static inline void outbox_freep(Outbox **o)
{
	outbox_free(*o);
}

/* Where the signals go (NULL: nowhere). */
void outbox_set_bus(Outbox *o, Bus *b);

/* Queued: copied, sent later, in order. */
void outbox_event(Outbox *o, const DaemonEvent *e);
void outbox_decision(Outbox *o, const DaemonDecision *d);
/* The state changed: the status line and the metrics file will follow it. */
void outbox_changed(Outbox *o);
/* The status line sent last (NULL: none yet); _forget: send it again at the next change. */
const char *outbox_status(const Outbox *o);
void outbox_forget_status(Outbox *o);

/* Everything queued and due now, signals, status and metrics (stopping, tests). */
void outbox_flush(Outbox *o);
/* Stopped: the metrics file goes (its values are history: no stale storm for a collector). */
void outbox_stop(Outbox *o);
