/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * What every user of the event loop does alike: the loop's own now, a
 * timer armed or turned off, a new source set up off, at its priority,
 * with its description (what sd-event's debug output names it by).
 */

#include <systemd/sd-event.h>

#include "util.h"

/* CLOCK_MONOTONIC as the loop saw it at this iteration (the clock's now, before the first). */
uint64_t event_now(sd_event *e);
/* Arms the timer for usec (enabled: SD_EVENT_ON or _ONESHOT), or turns it off (USEC_INFINITY). */
int event_timer_arm(sd_event_source *s, uint64_t usec, int enabled);
/* A source just added: off until armed, at priority, described. */
int event_source_setup(sd_event_source *s, int64_t priority, const char *description);
