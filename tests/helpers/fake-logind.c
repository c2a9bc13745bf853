// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fake-logind: the shutdown announcements of logind and systemd, on a bus
 * of the test's choosing.
 *
 *   fake-logind [--address ADDRESS] [--no-systemd] [--ready-fd FD]
 *
 * Owns org.freedesktop.login1 and, unless --no-systemd, also
 * org.freedesktop.systemd1 with Manager.Subscribe/Unsubscribe.  The test
 * drives it through org.smmud.test.FakeLogind on /org/freedesktop/login1:
 *   PrepareForShutdown(b): emits logind's PrepareForShutdown(b);
 *   QueueJob(s unit) -> b: like systemd, emits JobNew(uos) only if some
 *     client has called Subscribe(), and says whether it did, so a test
 *     catches a client that forgot to subscribe;
 *   SetUnitState(s unit, s active_state) -> b: the unit's ActiveState (its
 *     object, org.freedesktop.systemd1.Unit on the path systemd gives it, is
 *     made at the first call); like systemd, PropertiesChanged only if some
 *     client has subscribed, and says whether it was sent;
 *   Subscribers() -> u: how many clients are subscribed.
 * Writes "ready\n" on FD (default stdout) once it owns its names; exits 0
 * on SIGTERM or SIGINT.
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/fake-bus.h"

#define MAX_SUBSCRIBERS 64
#define MAX_UNITS 64

typedef struct FakeUnit {
	char *id;
	char *path;
	char *active_state;
} FakeUnit;

static FakeUnit units[MAX_UNITS];
static unsigned n_units;

static char *subscribers[MAX_SUBSCRIBERS];
static unsigned n_subscribers;
static uint32_t next_job_id = 1;

static int subscriber_index(const char *sender)
{
	for (unsigned i = 0; i < n_subscribers; i++)
		if (strcmp(subscribers[i], sender) == 0)
			return (int)i;
	return -1;
}

static int method_subscribe(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	const char *sender = sd_bus_message_get_sender(msg);

	if (!sender)
		return -EINVAL;
	if (subscriber_index(sender) >= 0)
		return sd_bus_error_set(error, "org.freedesktop.systemd1.AlreadySubscribed",
					"Client is already subscribed.");
	if (n_subscribers >= MAX_SUBSCRIBERS)
		return -ENOSPC;
	subscribers[n_subscribers] = strdup(sender);
	if (!subscribers[n_subscribers])
		return -ENOMEM;
	n_subscribers++;
	return sd_bus_reply_method_return(msg, NULL);
}

static int method_unsubscribe(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	int i = subscriber_index(sd_bus_message_get_sender(msg) ?: "");

	if (i < 0)
		return sd_bus_error_set(error, "org.freedesktop.systemd1.NotSubscribed",
					"Client is not subscribed.");
	free(subscribers[i]);
	subscribers[i] = subscribers[--n_subscribers];
	return sd_bus_reply_method_return(msg, NULL);
}

static int control_prepare(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	int b, r;

	r = sd_bus_message_read(msg, "b", &b);
	if (r < 0)
		return r;
	r = sd_bus_emit_signal(sd_bus_message_get_bus(msg), "/org/freedesktop/login1",
			       "org.freedesktop.login1.Manager", "PrepareForShutdown", "b", b);
	if (r < 0)
		return r;
	return sd_bus_reply_method_return(msg, NULL);
}

static int control_queue_job(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	const char *unit;
	char path[64];
	uint32_t id;
	int r;

	r = sd_bus_message_read(msg, "s", &unit);
	if (r < 0)
		return r;
	if (n_subscribers == 0)
		return sd_bus_reply_method_return(msg, "b", 0);
	id = next_job_id++;
	snprintf(path, sizeof(path), "/org/freedesktop/systemd1/job/%u", id);
	r = sd_bus_emit_signal(sd_bus_message_get_bus(msg), "/org/freedesktop/systemd1",
			       "org.freedesktop.systemd1.Manager", "JobNew", "uos", id, path, unit);
	if (r < 0)
		return r;
	return sd_bus_reply_method_return(msg, "b", 1);
}

static const sd_bus_vtable unit_vtable[] = {
	SD_BUS_VTABLE_START(0),
	SD_BUS_PROPERTY("Id", "s", NULL, offsetof(FakeUnit, id), SD_BUS_VTABLE_PROPERTY_CONST),
	SD_BUS_PROPERTY("ActiveState", "s", NULL, offsetof(FakeUnit, active_state),
			SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
	SD_BUS_VTABLE_END
};

static int control_set_unit_state(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	sd_bus *bus = sd_bus_message_get_bus(msg);
	const char *id, *state;
	FakeUnit *u = NULL;
	char *copy;
	int r;

	r = sd_bus_message_read(msg, "ss", &id, &state);
	if (r < 0)
		return r;
	for (unsigned i = 0; i < n_units && !u; i++)
		if (strcmp(units[i].id, id) == 0)
			u = &units[i];
	if (!u) {
		if (n_units >= MAX_UNITS)
			return -ENOSPC;
		u = &units[n_units];
		u->id = strdup(id);
		if (!u->id)
			return -ENOMEM;
		r = sd_bus_path_encode("/org/freedesktop/systemd1/unit", id, &u->path);
		if (r >= 0)
			r = sd_bus_add_object_vtable(bus, NULL, u->path, "org.freedesktop.systemd1.Unit",
						     unit_vtable, u);
		if (r < 0) {
			free(u->id);
			free(u->path);
			*u = (FakeUnit){};
			return r;
		}
		n_units++;
	}
	copy = strdup(state);
	if (!copy)
		return -ENOMEM;
	free(u->active_state);
	u->active_state = copy;
	if (n_subscribers == 0)
		return sd_bus_reply_method_return(msg, "b", 0);
	r = sd_bus_emit_properties_changed(bus, u->path, "org.freedesktop.systemd1.Unit",
					   "ActiveState", NULL);
	if (r < 0)
		return r;
	return sd_bus_reply_method_return(msg, "b", 1);
}

static int control_subscribers(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	return sd_bus_reply_method_return(msg, "u", n_subscribers);
}

static const sd_bus_vtable logind_vtable[] = {
	SD_BUS_VTABLE_START(0),
	SD_BUS_SIGNAL("PrepareForShutdown", "b", 0),
	SD_BUS_VTABLE_END
};

static const sd_bus_vtable systemd_vtable[] = {
	SD_BUS_VTABLE_START(0),
	SD_BUS_METHOD("Subscribe", "", "", method_subscribe, 0),
	SD_BUS_METHOD("Unsubscribe", "", "", method_unsubscribe, 0),
	SD_BUS_SIGNAL("JobNew", "uos", 0),
	SD_BUS_VTABLE_END
};

static const sd_bus_vtable control_vtable[] = {
	SD_BUS_VTABLE_START(0),
	SD_BUS_METHOD("PrepareForShutdown", "b", "", control_prepare, 0),
	SD_BUS_METHOD("QueueJob", "s", "b", control_queue_job, 0),
	SD_BUS_METHOD("Subscribers", "", "u", control_subscribers, 0),
	SD_BUS_METHOD("SetUnitState", "ss", "b", control_set_unit_state, 0),
	SD_BUS_VTABLE_END
};

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "address", required_argument, NULL, 'a' },
		{ "no-systemd", no_argument, NULL, 'n' },
		{ "ready-fd", required_argument, NULL, 'r' },
		{}
	};
	const char *address = NULL;
	bool with_systemd = true;
	int ready_fd = 1, c, r;
	sd_event *event = NULL;
	sd_bus *bus = NULL;

	while ((c = getopt_long(argc, argv, "a:nr:", opts, NULL)) >= 0) {
		switch (c) {
		case 'a':
			address = optarg;
			break;
		case 'n':
			with_systemd = false;
			break;
		case 'r':
			ready_fd = atoi(optarg);
			break;
		default:
			fprintf(stderr, "usage: fake-logind [--address A] [--no-systemd] [--ready-fd FD]\n");
			return 2;
		}
	}

	r = fake_bus_open(address, &event, &bus);
	if (r >= 0)
		r = sd_bus_add_object_vtable(bus, NULL, "/org/freedesktop/login1",
					     "org.freedesktop.login1.Manager", logind_vtable, NULL);
	if (r >= 0)
		r = sd_bus_add_object_vtable(bus, NULL, "/org/freedesktop/login1",
					     "org.smmud.test.FakeLogind", control_vtable, NULL);
	if (r >= 0 && with_systemd)
		r = sd_bus_add_object_vtable(bus, NULL, "/org/freedesktop/systemd1",
					     "org.freedesktop.systemd1.Manager", systemd_vtable, NULL);
	if (r >= 0)
		r = sd_bus_attach_event(bus, event, 0);
	if (r >= 0)
		r = sd_bus_request_name(bus, "org.freedesktop.login1", 0);
	if (r >= 0 && with_systemd)
		r = sd_bus_request_name(bus, "org.freedesktop.systemd1", 0);
	if (r < 0) {
		fprintf(stderr, "fake-logind: %s\n", strerror(-r));
		return 1;
	}

	r = fake_bus_serve(event, ready_fd);
	for (unsigned i = 0; i < n_subscribers; i++)
		free(subscribers[i]);
	for (unsigned i = 0; i < n_units; i++) {
		free(units[i].id);
		free(units[i].path);
		free(units[i].active_state);
	}
	sd_bus_flush_close_unref(bus);
	sd_event_unref(event);
	return r < 0 ? 1 : 0;
}
