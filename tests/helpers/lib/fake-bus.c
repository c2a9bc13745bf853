// SPDX-License-Identifier: GPL-2.0-or-later
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include "util.h"

#include "fake-bus.h"

static int connect_bus(const char *address, sd_bus **ret)
{
	_cleanup_(sd_bus_unrefp) sd_bus *bus = NULL;
	int r;

	if (!address)
		return sd_bus_open_system(ret);
	r = sd_bus_new(&bus);
	if (r < 0)
		return r;
	r = sd_bus_set_address(bus, address);
	if (r < 0)
		return r;
	r = sd_bus_set_bus_client(bus, 1);
	if (r < 0)
		return r;
	r = sd_bus_start(bus);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(bus);
	return 0;
}

int fake_bus_open(const char *address, sd_event **ret_event, sd_bus **ret_bus)
{
	_cleanup_(sd_event_unrefp) sd_event *event = NULL;
	sigset_t mask;
	int r;

	/* Blocked so that the event loop's signal sources, not the default
	 * action, handle them: the test's SIGTERM is a clean exit. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);

	r = sd_event_default(&event);
	if (r < 0)
		return r;
	r = sd_event_add_signal(event, NULL, SIGTERM, NULL, NULL);
	if (r < 0)
		return r;
	r = sd_event_add_signal(event, NULL, SIGINT, NULL, NULL);
	if (r < 0)
		return r;
	r = connect_bus(address, ret_bus);
	if (r < 0)
		return r;
	*ret_event = TAKE_PTR(event);
	return 0;
}

int fake_bus_serve(sd_event *event, int ready_fd)
{
	dprintf(ready_fd, "ready\n");
	if (ready_fd != 1)
		close(ready_fd);
	return sd_event_loop(event);
}
