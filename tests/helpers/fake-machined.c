// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fake-machined: the part of systemd-machined smmud uses, on a bus of the
 * test's choosing (a private dbus-daemon), so integration tests control
 * which machines exist and when.
 *
 *   fake-machined [--address ADDRESS] [--machine NAME=PID]... [--ready-fd FD]
 *
 * Without --address it connects to $DBUS_SYSTEM_BUS_ADDRESS (the system
 * bus).  It owns org.freedesktop.machine1 and serves:
 *   org.freedesktop.machine1.Manager: ListMachines, GetMachine,
 *     GetMachineByPID; signals MachineNew, MachineRemoved;
 *   org.freedesktop.machine1.Machine on each machine's object: Name,
 *     Class, Service, Leader, Unit ("machine-NAME.scope", as machined
 *     names the scopes it creates, NAME unescaped);
 * and, for the test, org.smmud.test.FakeMachined on /org/freedesktop/machine1:
 *   Register(s name, u leader), Unregister(s name): change and signal;
 *   RegisterSilently(su), UnregisterSilently(s): change without a signal
 *   (what a missed signal looks like: only reconciliation can notice).
 * It writes "ready\n" on FD (default stdout) once it owns the name, and
 * exits 0 on SIGTERM or SIGINT.
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/fake-bus.h"

#define NAME "org.freedesktop.machine1"
#define PATH "/org/freedesktop/machine1"
#define MANAGER "org.freedesktop.machine1.Manager"
#define CONTROL "org.smmud.test.FakeMachined"
#define MAX_MACHINES 1024

typedef struct FakeMachine {
	char *name;
	char *path;
	char *class;
	char *service;
	char *unit;
	uint32_t leader;
	sd_bus_slot *slot;
} FakeMachine;

static FakeMachine *machines[MAX_MACHINES];
static size_t n_machines;

static const sd_bus_vtable machine_vtable[] = {
	SD_BUS_VTABLE_START(0),
	SD_BUS_PROPERTY("Name", "s", NULL, offsetof(FakeMachine, name), SD_BUS_VTABLE_PROPERTY_CONST),
	SD_BUS_PROPERTY("Class", "s", NULL, offsetof(FakeMachine, class), SD_BUS_VTABLE_PROPERTY_CONST),
	SD_BUS_PROPERTY("Service", "s", NULL, offsetof(FakeMachine, service),
			SD_BUS_VTABLE_PROPERTY_CONST),
	SD_BUS_PROPERTY("Leader", "u", NULL, offsetof(FakeMachine, leader), SD_BUS_VTABLE_PROPERTY_CONST),
	SD_BUS_PROPERTY("Unit", "s", NULL, offsetof(FakeMachine, unit), SD_BUS_VTABLE_PROPERTY_CONST),
	SD_BUS_VTABLE_END
};

static FakeMachine *find(const char *name, size_t *ret_index)
{
	for (size_t i = 0; i < n_machines; i++)
		if (strcmp(machines[i]->name, name) == 0) {
			if (ret_index)
				*ret_index = i;
			return machines[i];
		}
	return NULL;
}

static void machine_free(FakeMachine *m)
{
	sd_bus_slot_unref(m->slot);
	free(m->name);
	free(m->path);
	free(m->class);
	free(m->service);
	free(m->unit);
	free(m);
}

static int add_machine(sd_bus *bus, const char *name, uint32_t leader, bool signal)
{
	FakeMachine *m;
	int r;

	if (find(name, NULL))
		return -EEXIST;
	if (n_machines >= MAX_MACHINES)
		return -ENOSPC;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->name = strdup(name);
	m->class = strdup("vm");
	m->service = strdup("fake-machined");
	m->leader = leader;
	if (asprintf(&m->unit, "machine-%s.scope", name) < 0)
		m->unit = NULL;
	r = sd_bus_path_encode(PATH "/machine", name, &m->path);
	if (r < 0 || !m->name || !m->class || !m->service || !m->unit) {
		machine_free(m);
		return r < 0 ? r : -ENOMEM;
	}
	r = sd_bus_add_object_vtable(bus, &m->slot, m->path, "org.freedesktop.machine1.Machine",
				     machine_vtable, m);
	if (r < 0) {
		machine_free(m);
		return r;
	}
	machines[n_machines++] = m;
	if (signal)
		(void)sd_bus_emit_signal(bus, PATH, MANAGER, "MachineNew", "so", m->name, m->path);
	return 0;
}

static int remove_machine(sd_bus *bus, const char *name, bool signal)
{
	size_t i;
	FakeMachine *m = find(name, &i);

	if (!m)
		return -ENOENT;
	if (signal)
		(void)sd_bus_emit_signal(bus, PATH, MANAGER, "MachineRemoved", "so", m->name, m->path);
	machines[i] = machines[--n_machines];
	machine_free(m);
	return 0;
}

static int method_list(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	sd_bus_message *reply = NULL;
	int r;

	r = sd_bus_message_new_method_return(msg, &reply);
	if (r >= 0)
		r = sd_bus_message_open_container(reply, 'a', "(ssso)");
	for (size_t i = 0; r >= 0 && i < n_machines; i++)
		r = sd_bus_message_append(reply, "(ssso)", machines[i]->name, machines[i]->class,
					  machines[i]->service, machines[i]->path);
	if (r >= 0)
		r = sd_bus_message_close_container(reply);
	if (r >= 0)
		r = sd_bus_send(NULL, reply, NULL);
	sd_bus_message_unref(reply);
	return r;
}

static int method_get(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	const char *name;
	FakeMachine *m;
	int r;

	r = sd_bus_message_read(msg, "s", &name);
	if (r < 0)
		return r;
	m = find(name, NULL);
	if (!m)
		return sd_bus_error_setf(error, "org.freedesktop.machine1.NoSuchMachine",
					 "No machine '%s' known", name);
	return sd_bus_reply_method_return(msg, "o", m->path);
}

static int method_get_by_pid(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	uint32_t pid;
	int r;

	r = sd_bus_message_read(msg, "u", &pid);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n_machines; i++)
		if (machines[i]->leader == pid)
			return sd_bus_reply_method_return(msg, "o", machines[i]->path);
	return sd_bus_error_setf(error, "org.freedesktop.machine1.NoMachineForPID",
				 "PID %u does not belong to any known machine", pid);
}

static int control_register(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	bool signal = strcmp(sd_bus_message_get_member(msg), "Register") == 0;
	const char *name;
	uint32_t leader;
	int r;

	r = sd_bus_message_read(msg, "su", &name, &leader);
	if (r < 0)
		return r;
	r = add_machine(sd_bus_message_get_bus(msg), name, leader, signal);
	if (r < 0)
		return sd_bus_error_set_errnof(error, -r, "Cannot register %s: %m", name);
	return sd_bus_reply_method_return(msg, NULL);
}

static int control_unregister(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	bool signal = strcmp(sd_bus_message_get_member(msg), "Unregister") == 0;
	const char *name;
	int r;

	r = sd_bus_message_read(msg, "s", &name);
	if (r < 0)
		return r;
	r = remove_machine(sd_bus_message_get_bus(msg), name, signal);
	if (r < 0)
		return sd_bus_error_set_errnof(error, -r, "Cannot unregister %s: %m", name);
	return sd_bus_reply_method_return(msg, NULL);
}

static const sd_bus_vtable manager_vtable[] = {
	SD_BUS_VTABLE_START(0),
	SD_BUS_METHOD("ListMachines", "", "a(ssso)", method_list, 0),
	SD_BUS_METHOD("GetMachine", "s", "o", method_get, 0),
	SD_BUS_METHOD("GetMachineByPID", "u", "o", method_get_by_pid, 0),
	SD_BUS_SIGNAL("MachineNew", "so", 0),
	SD_BUS_SIGNAL("MachineRemoved", "so", 0),
	SD_BUS_VTABLE_END
};

static const sd_bus_vtable control_vtable[] = {
	SD_BUS_VTABLE_START(0),
	SD_BUS_METHOD("Register", "su", "", control_register, 0),
	SD_BUS_METHOD("RegisterSilently", "su", "", control_register, 0),
	SD_BUS_METHOD("Unregister", "s", "", control_unregister, 0),
	SD_BUS_METHOD("UnregisterSilently", "s", "", control_unregister, 0),
	SD_BUS_VTABLE_END
};

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "address", required_argument, NULL, 'a' },
		{ "machine", required_argument, NULL, 'm' },
		{ "ready-fd", required_argument, NULL, 'r' },
		{}
	};
	const char *address = NULL;
	char *initial[argc + 1];
	size_t n_initial = 0;
	int ready_fd = 1, c, r;
	sd_event *event = NULL;
	sd_bus *bus = NULL;

	while ((c = getopt_long(argc, argv, "a:m:r:", opts, NULL)) >= 0) {
		switch (c) {
		case 'a':
			address = optarg;
			break;
		case 'm':
			initial[n_initial++] = optarg;
			break;
		case 'r':
			ready_fd = atoi(optarg);
			break;
		default:
			fprintf(stderr, "usage: fake-machined [--address A] [--machine NAME=PID]... "
					"[--ready-fd FD]\n");
			return 2;
		}
	}

	r = fake_bus_open(address, &event, &bus);
	if (r < 0) {
		fprintf(stderr, "fake-machined: cannot connect: %s\n", strerror(-r));
		return 1;
	}

	for (size_t i = 0; i < n_initial; i++) {
		char *eq = strchr(initial[i], '=');
		unsigned long pid;

		if (!eq || (pid = strtoul(eq + 1, NULL, 10)) == 0) {
			fprintf(stderr, "fake-machined: bad --machine %s\n", initial[i]);
			return 2;
		}
		*eq = 0;
		r = add_machine(bus, initial[i], (uint32_t)pid, false);
		if (r < 0) {
			fprintf(stderr, "fake-machined: cannot add %s: %s\n", initial[i], strerror(-r));
			return 1;
		}
	}

	r = sd_bus_add_object_vtable(bus, NULL, PATH, MANAGER, manager_vtable, NULL);
	if (r >= 0)
		r = sd_bus_add_object_vtable(bus, NULL, PATH, CONTROL, control_vtable, NULL);
	if (r >= 0)
		r = sd_bus_attach_event(bus, event, 0);
	if (r >= 0)
		r = sd_bus_request_name(bus, NAME, 0);
	if (r < 0) {
		fprintf(stderr, "fake-machined: cannot serve %s: %s\n", NAME, strerror(-r));
		return 1;
	}

	r = fake_bus_serve(event, ready_fd);
	while (n_machines > 0)
		remove_machine(bus, machines[0]->name, false);
	sd_bus_flush_close_unref(bus);
	sd_event_unref(event);
	return r < 0 ? 1 : 0;
}
