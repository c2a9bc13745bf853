/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The set-up the fake bus services of tests/helpers (fake-logind,
 * fake-machined) share: a bus connection of the test's choosing, an event
 * loop that SIGTERM and SIGINT end, and the "ready" handshake with the test.
 */
#pragma once

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

/*
 * Blocks SIGTERM and SIGINT, makes the default event loop exit on either,
 * and connects as a bus client to ADDRESS, or to the system bus if ADDRESS
 * is NULL.  The caller attaches the bus to the event loop once its objects
 * are in place.  Returns 0 or -errno (then sets neither).
 */
int fake_bus_open(const char *address, sd_event **ret_event, sd_bus **ret_bus);

/*
 * Writes "ready\n" on READY_FD (closing it unless it is stdout), then runs
 * EVENT until SIGTERM or SIGINT.  Returns sd_event_loop()'s result.
 */
int fake_bus_serve(sd_event *event, int ready_fd);
