// SPDX-License-Identifier: GPL-2.0-or-later
#include "event-util.h"

uint64_t event_now(sd_event *e)
{
	uint64_t t;

	if (sd_event_now(e, CLOCK_MONOTONIC, &t) < 0)
		t = now_usec(CLOCK_MONOTONIC);
	return t;
}

int event_timer_arm(sd_event_source *s, uint64_t usec, int enabled)
{
	int r;

	if (usec == USEC_INFINITY)
		return sd_event_source_set_enabled(s, SD_EVENT_OFF);
	r = sd_event_source_set_time(s, usec);
	if (r >= 0)
		r = sd_event_source_set_enabled(s, enabled);
	return r;
}

int event_source_setup(sd_event_source *s, int64_t priority, const char *description)
{
	int r = sd_event_source_set_enabled(s, SD_EVENT_OFF);

	if (r >= 0)
		r = sd_event_source_set_priority(s, priority);
	if (r >= 0)
		r = sd_event_source_set_description(s, description);
	return r < 0 ? r : 0;
}
