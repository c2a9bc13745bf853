// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Machine names from systemd-machined.  Everything is asynchronous: a
 * machined that hangs must not stall the loop that reacts to VM exits.
 *
 * One table of machines, kept by three kinds of news, applied in the order
 * machined sent them (D-Bus keeps one sender's messages in order):
 *  - MachineNew / MachineRemoved signals;
 *  - a ListMachines answer (at start, when machined appears, and every
 *    reconciliation interval): what it lists is kept or added, what it does
 *    not list is dropped;
 *  - a Leader property answer for one machine.
 * Calls are made without auto-start: smmud watches machined, it does not
 * start it.  NameOwnerChanged says when machined comes and goes.
 */
#include <limits.h>
#include <systemd/sd-bus.h>

#include "log.h"
#include "machines.h"
#include "util.h"

#define MACHINED_NAME "org.freedesktop.machine1"
#define MACHINED_PATH "/org/freedesktop/machine1"
#define MACHINED_MANAGER "org.freedesktop.machine1.Manager"
#define MACHINED_MACHINE "org.freedesktop.machine1.Machine"

typedef struct Machine {
	MachineWatch *watch;
	char *name;
	char *path;
	pid_t leader;               /* 0 until machined told us */
	char *unit;                 /* its scope, NULL until machined told us */
	sd_bus_slot *leader_call, *unit_call;
	bool listed;                /* mark of the current reconciliation */
} Machine;

struct MachineWatch {
	sd_bus *bus;
	sd_event *event;
	void (*changed)(void *userdata);
	void *userdata;

	sd_bus_slot *match_new, *match_removed, *match_owner;
	sd_bus_slot *owner_call, *list_call;
	sd_event_source *timer;
	uint64_t interval;

	Machine **machines;
	size_t n_machines;
	bool present;               /* machined owns its name */
};

bool machine_name_is_valid(const char *name)
{
	size_t n;

	if (!name)
		return false;
	n = strlen(name);
	if (n == 0 || n > 255)
		return false;
	/* It ends up in logs and journal fields: no control characters. */
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return false;
	return true;
}

static Machine *machine_free(Machine *m)
{
	if (!m)
		return NULL;
	sd_bus_slot_unref(m->leader_call);
	sd_bus_slot_unref(m->unit_call);
	free(m->unit);
	free(m->name);
	free(m->path);
	free(m);
	return NULL;
}

static void notify(MachineWatch *w)
{
	if (w->changed)
		w->changed(w->userdata);
}

static Machine *find_by_name(MachineWatch *w, const char *name)
{
	for (size_t i = 0; i < w->n_machines; i++)
		if (streq(w->machines[i]->name, name))
			return w->machines[i];
	return NULL;
}

static void remove_at(MachineWatch *w, size_t i)
{
	machine_free(w->machines[i]);
	memmove(w->machines + i, w->machines + i + 1, (w->n_machines - i - 1) * sizeof(Machine *));
	w->n_machines--;
}

static void clear_all(MachineWatch *w)
{
	bool had = w->n_machines > 0;

	while (w->n_machines > 0)
		remove_at(w, w->n_machines - 1);
	free(w->machines);
	w->machines = NULL;
	if (had)
		notify(w);
}

static int on_leader(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error)
{
	Machine *m = userdata;
	const sd_bus_error *e = sd_bus_message_get_error(reply);
	uint32_t leader;
	int r;

	m->leader_call = sd_bus_slot_unref(m->leader_call);
	if (e) {
		/* Usually gone already; its MachineRemoved is on the way. */
		log_debug("Cannot get leader of machine %s: %s", m->name, e->message ?: e->name);
		return 0;
	}
	r = sd_bus_message_read(reply, "v", "u", &leader);
	if (r < 0 || leader == 0 || leader > INT_MAX) {
		log_warning_errno(r < 0 ? r : -EBADMSG, "Ignoring bad Leader of machine %s: %m", m->name);
		return 0;
	}
	if (m->leader != (pid_t)leader) {
		m->leader = (pid_t)leader;
		log_debug("Machine %s: leader %u", m->name, leader);
		notify(m->watch);
	}
	return 0;
}

static int call_no_autostart(MachineWatch *w, sd_bus_slot **slot, const char *path,
			     const char *iface, const char *member, sd_bus_message_handler_t cb,
			     void *userdata, const char *sig, ...)
{
	sd_bus_message *msg = NULL;
	va_list ap;
	int r;

	r = sd_bus_message_new_method_call(w->bus, &msg, MACHINED_NAME, path, iface, member);
	if (r < 0)
		return r;
	r = sd_bus_message_set_auto_start(msg, 0);
	if (r >= 0 && sig) {
		va_start(ap, sig);
		r = sd_bus_message_appendv(msg, sig, ap);
		va_end(ap);
	}
	if (r >= 0)
		r = sd_bus_call_async(w->bus, slot, msg, cb, userdata, 0);
	sd_bus_message_unref(msg);
	return r;
}

static int on_unit(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error)
{
	Machine *m = userdata;
	const char *unit;
	int r;

	m->unit_call = sd_bus_slot_unref(m->unit_call);
	if (sd_bus_message_is_method_error(reply, NULL))
		return 0; /* gone already, or a machined without it: no unit to match */
	r = sd_bus_message_read(reply, "v", "s", &unit);
	if (r < 0 || !machine_name_is_valid(unit)) {
		log_warning_errno(r < 0 ? r : -EBADMSG, "Ignoring bad Unit of machine %s: %m", m->name);
		return 0;
	}
	if (!streq_ptr(m->unit, unit)) {
		char *copy = strdup(unit);

		if (!copy)
			return log_oom();
		free(m->unit);
		m->unit = copy;
		log_debug("Machine %s: unit %s", m->name, unit);
		/* Its VM may have been found before machined moved it into that scope. */
		notify(m->watch);
	}
	return 0;
}

/* Its leader, and its unit (whose stop job announces the VM's end). */
static int request_leader(Machine *m)
{
	int r;

	m->leader_call = sd_bus_slot_unref(m->leader_call);
	m->unit_call = sd_bus_slot_unref(m->unit_call);
	r = call_no_autostart(m->watch, &m->leader_call, m->path, "org.freedesktop.DBus.Properties",
			      "Get", on_leader, m, "ss", MACHINED_MACHINE, "Leader");
	if (r >= 0)
		r = call_no_autostart(m->watch, &m->unit_call, m->path,
				      "org.freedesktop.DBus.Properties", "Get", on_unit, m, "ss",
				      MACHINED_MACHINE, "Unit");
	return r;
}

/* Adds (or finds) a machine; new ones get their leader asked for. */
static int machine_add(MachineWatch *w, const char *name, const char *path, Machine **ret)
{
	Machine *m, **nm;

	if (!machine_name_is_valid(name) || !sd_bus_object_path_is_valid(path))
		return -EBADMSG;
	m = find_by_name(w, name);
	if (m && streq(m->path, path)) {
		if (ret)
			*ret = m;
		return 0;
	}
	if (m) {
		/* Same name, other object: a new machine replaced the old. */
		for (size_t i = 0; i < w->n_machines; i++)
			if (w->machines[i] == m) {
				remove_at(w, i);
				break;
			}
	}

	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->watch = w;
	m->name = strdup(name);
	m->path = strdup(path);
	nm = realloc(w->machines, (w->n_machines + 1) * sizeof(*nm));
	if (!m->name || !m->path || !nm) {
		if (nm)
			w->machines = nm;
		machine_free(m);
		return -ENOMEM;
	}
	w->machines = nm;
	w->machines[w->n_machines++] = m;
	if (ret)
		*ret = m;
	return 1;
}

/* Applies a ListMachines answer: marks every machine it lists. */
static int apply_list(MachineWatch *w, sd_bus_message *reply)
{
	const char *name, *class, *service, *path;
	int r;

	r = sd_bus_message_enter_container(reply, 'a', "(ssso)");
	if (r < 0)
		return r;
	while ((r = sd_bus_message_read(reply, "(ssso)", &name, &class, &service, &path)) > 0) {
		Machine *m;

		r = machine_add(w, name, path, &m);
		if (r == -EBADMSG) {
			log_warning("Ignoring machine with invalid name or path from machined");
			continue;
		}
		if (r < 0)
			return r;
		m->listed = true;
		/*
		 * Ask again even for known ones: a machine re-created under
		 * the same name between two signals we missed has a new leader.
		 */
		r = request_leader(m);
		if (r < 0)
			log_warning_errno(r, "Cannot ask for leader of machine %s: %m", name);
	}
	return r;
}

static int on_list(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error)
{
	MachineWatch *w = userdata;
	const sd_bus_error *e = sd_bus_message_get_error(reply);
	bool dropped = false;
	int r;

	w->list_call = sd_bus_slot_unref(w->list_call);
	if (e) {
		log_debug("ListMachines failed: %s", e->message ?: e->name);
		return 0;
	}

	for (size_t i = 0; i < w->n_machines; i++)
		w->machines[i]->listed = false;
	r = apply_list(w, reply);
	if (r < 0) {
		/* Keep what we had: an answer we cannot read tells us nothing. */
		for (size_t i = 0; i < w->n_machines; i++)
			w->machines[i]->listed = true;
		return log_warning_errno(r, "Cannot use ListMachines reply: %m");
	}

	for (size_t i = w->n_machines; i > 0; i--)
		if (!w->machines[i - 1]->listed) {
			log_debug("Machine %s is gone", w->machines[i - 1]->name);
			remove_at(w, i - 1);
			dropped = true;
		}
	if (dropped)
		notify(w);
	return 0;
}

static int reload(MachineWatch *w)
{
	w->list_call = sd_bus_slot_unref(w->list_call);
	return call_no_autostart(w, &w->list_call, MACHINED_PATH, MACHINED_MANAGER, "ListMachines",
				 on_list, w, NULL);
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	MachineWatch *w = userdata;
	int r;

	if (!w->present || sd_bus_is_open(w->bus) <= 0)
		return sd_event_source_set_enabled(s, SD_EVENT_OFF);
	r = reload(w);
	if (r < 0)
		log_warning_errno(r, "Cannot reconcile machines: %m");
	r = sd_event_source_set_time_relative(s, w->interval);
	if (r >= 0)
		r = sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
	return r;
}

static int timer_start(MachineWatch *w)
{
	int r;

	if (!w->event || w->interval == 0)
		return 0;
	if (!w->timer) {
		r = sd_event_add_time_relative(w->event, &w->timer, CLOCK_MONOTONIC, w->interval,
					       w->interval / 10, on_timer, w);
		if (r < 0)
			return r;
		r = sd_event_source_set_description(w->timer, "machinewatch-reconcile");
		return r < 0 ? r : 0;
	}
	r = sd_event_source_set_time_relative(w->timer, w->interval);
	if (r < 0)
		return r;
	return sd_event_source_set_enabled(w->timer, SD_EVENT_ONESHOT);
}

static void machined_appeared(MachineWatch *w)
{
	int r;

	w->present = true;
	r = reload(w);
	if (r < 0)
		log_warning_errno(r, "Cannot list machines: %m");
	r = timer_start(w);
	if (r < 0)
		log_warning_errno(r, "Cannot start machine reconciliation timer: %m");
}

static void machined_vanished(MachineWatch *w)
{
	w->present = false;
	w->list_call = sd_bus_slot_unref(w->list_call);
	if (w->timer && sd_event_source_set_enabled(w->timer, SD_EVENT_OFF) < 0)
		/* It would not turn off: dropped, and made anew when machined is back. */
		w->timer = sd_event_source_disable_unref(w->timer);
	/* Its names described machines it no longer vouches for. */
	clear_all(w);
}

static int on_owner_changed(sd_bus_message *msg, void *userdata, sd_bus_error *ret_error)
{
	MachineWatch *w = userdata;
	const char *name, *old_owner, *new_owner;
	int r;

	r = sd_bus_message_read(msg, "sss", &name, &old_owner, &new_owner);
	if (r < 0)
		return log_warning_errno(r, "Cannot parse NameOwnerChanged: %m");
	if (!streq(name, MACHINED_NAME))
		return 0;
	/* A restarted machined lost nothing, but start from its word anyway. */
	if (old_owner && *old_owner) {
		log_info("systemd-machined left the bus");
		machined_vanished(w);
	}
	if (new_owner && *new_owner) {
		log_info("systemd-machined is on the bus");
		machined_appeared(w);
	}
	return 0;
}

static int on_get_owner(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error)
{
	MachineWatch *w = userdata;

	w->owner_call = sd_bus_slot_unref(w->owner_call);
	if (sd_bus_message_is_method_error(reply, NULL)) {
		log_debug("systemd-machined is not running: machine names come from cgroups");
		return 0;
	}
	machined_appeared(w);
	return 0;
}

static int on_machine_new(sd_bus_message *msg, void *userdata, sd_bus_error *ret_error)
{
	MachineWatch *w = userdata;
	const char *name, *path;
	Machine *m;
	int r;

	r = sd_bus_message_read(msg, "so", &name, &path);
	if (r < 0)
		return log_warning_errno(r, "Cannot parse MachineNew: %m");
	r = machine_add(w, name, path, &m);
	if (r == -EBADMSG) {
		log_warning("Ignoring MachineNew with invalid name or path");
		return 0;
	}
	if (r < 0)
		return log_error_errno(r, "Cannot track machine %s: %m", name);
	log_debug("Machine %s registered", name);
	r = request_leader(m);
	if (r < 0)
		log_warning_errno(r, "Cannot ask for leader of machine %s: %m", name);
	return 0;
}

static int on_machine_removed(sd_bus_message *msg, void *userdata, sd_bus_error *ret_error)
{
	MachineWatch *w = userdata;
	const char *name, *path;
	int r;

	r = sd_bus_message_read(msg, "so", &name, &path);
	if (r < 0)
		return log_warning_errno(r, "Cannot parse MachineRemoved: %m");
	for (size_t i = 0; i < w->n_machines; i++)
		if (streq(w->machines[i]->name, name)) {
			log_debug("Machine %s unregistered", name);
			remove_at(w, i);
			notify(w);
			break;
		}
	return 0;
}

int machinewatch_new(sd_bus *bus, sd_event *e, void (*changed)(void *userdata), void *userdata,
		     MachineWatch **ret)
{
	MachineWatch *w;
	int r;

	if (!bus || !ret)
		return -EINVAL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->bus = sd_bus_ref(bus);
	w->event = sd_event_ref(e ?: sd_bus_get_event(bus));
	w->changed = changed;
	w->userdata = userdata;
	w->interval = 0;

	/* Matches first, then the question: no news can fall between. */
	r = sd_bus_match_signal_async(bus, &w->match_new, MACHINED_NAME, MACHINED_PATH,
				      MACHINED_MANAGER, "MachineNew", on_machine_new, NULL, w);
	if (r >= 0)
		r = sd_bus_match_signal_async(bus, &w->match_removed, MACHINED_NAME, MACHINED_PATH,
					      MACHINED_MANAGER, "MachineRemoved", on_machine_removed,
					      NULL, w);
	if (r >= 0)
		r = sd_bus_add_match_async(bus, &w->match_owner,
					   "type='signal',sender='org.freedesktop.DBus',"
					   "path='/org/freedesktop/DBus',"
					   "interface='org.freedesktop.DBus',"
					   "member='NameOwnerChanged',arg0='" MACHINED_NAME "'",
					   on_owner_changed, NULL, w);
	if (r >= 0)
		r = sd_bus_call_method_async(bus, &w->owner_call, "org.freedesktop.DBus",
					     "/org/freedesktop/DBus", "org.freedesktop.DBus",
					     "GetNameOwner", on_get_owner, w, "s", MACHINED_NAME);
	if (r < 0) {
		machinewatch_free(w);
		return log_error_errno(r, "Cannot watch systemd-machined: %m");
	}
	*ret = w;
	return 0;
}

MachineWatch *machinewatch_free(MachineWatch *w)
{
	if (!w)
		return NULL;
	sd_bus_slot_unref(w->match_new);
	sd_bus_slot_unref(w->match_removed);
	sd_bus_slot_unref(w->match_owner);
	sd_bus_slot_unref(w->owner_call);
	sd_bus_slot_unref(w->list_call);
	sd_event_source_disable_unref(w->timer);
	w->changed = NULL;
	clear_all(w);
	sd_event_unref(w->event);
	sd_bus_unref(w->bus);
	free(w);
	return NULL;
}

int machinewatch_set_reconcile_interval(MachineWatch *w, uint64_t usec)
{
	if (!w)
		return -EINVAL;
	w->interval = usec;
	if (usec == 0) {
		if (w->timer)
			return sd_event_source_set_enabled(w->timer, SD_EVENT_OFF);
		return 0;
	}
	return w->present ? timer_start(w) : 0;
}

int machinewatch_reconcile(MachineWatch *w)
{
	int r;

	if (!w)
		return -EINVAL;
	/* One question at a time: a reply still to come answers this one too. */
	if (!w->present || w->list_call)
		return 0;
	r = reload(w);
	return r < 0 ? r : 0;
}

const char *machinewatch_name_for_pid(MachineWatch *w, pid_t pid)
{
	if (!w || pid <= 0)
		return NULL;
	for (size_t i = 0; i < w->n_machines; i++)
		if (w->machines[i]->leader == pid)
			return w->machines[i]->name;
	return NULL;
}

const char *machinewatch_unit_for_pid(MachineWatch *w, pid_t pid)
{
	if (!w || pid <= 0)
		return NULL;
	for (size_t i = 0; i < w->n_machines; i++)
		if (w->machines[i]->leader == pid)
			return w->machines[i]->unit;
	return NULL;
}

pid_t machinewatch_leader_for_unit(MachineWatch *w, const char *unit)
{
	if (!w || !unit)
		return 0;
	for (size_t i = 0; i < w->n_machines; i++)
		if (w->machines[i]->leader > 0 && streq_ptr(w->machines[i]->unit, unit))
			return w->machines[i]->leader;
	return 0;
}

size_t machinewatch_leaders(MachineWatch *w, pid_t *pids, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; w && i < w->n_machines; i++)
		if (w->machines[i]->leader > 0) {
			if (n < max)
				pids[n] = w->machines[i]->leader;
			n++;
		}
	return n;
}

size_t machinewatch_count(MachineWatch *w)
{
	return w ? w->n_machines : 0;
}

bool machinewatch_present(MachineWatch *w)
{
	return w && w->present;
}
