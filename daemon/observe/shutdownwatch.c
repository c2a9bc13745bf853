// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Teardowns, heard as early as the host says them: logind's
 * PrepareForShutdown(true) comes before any unit is stopped, a job for one
 * of the shutdown targets is queued before libvirt-guests and the machine
 * scopes are stopped, libvirt-guests turns "deactivating" before it asks
 * the first guest to shut down, and a scope's stop job is sent by PID 1
 * (JobNew, from its D-Bus queue) before the job runs and signals the
 * scope's processes.  systemd emits JobNew and PropertiesChanged only to
 * clients that called Subscribe(), so we do, again whenever PID 1 comes
 * back to the bus (daemon-reexec).
 */
#include <systemd/sd-bus.h>

#include "log.h"
#include "shutdownwatch.h"
#include "util.h"

#define LOGIND_NAME "org.freedesktop.login1"
#define SYSTEMD_NAME "org.freedesktop.systemd1"
#define SYSTEMD_PATH "/org/freedesktop/systemd1"
#define SYSTEMD_MANAGER "org.freedesktop.systemd1.Manager"
#define SYSTEMD_UNIT "org.freedesktop.systemd1.Unit"
/* LIBVIRT_GUESTS_UNIT's object, as sd_bus_path_encode() makes it. */
#define GUESTS_PATH SYSTEMD_PATH "/unit/libvirt_2dguests_2eservice"

struct ShutdownWatch {
	sd_bus *bus;
	ShutdownWatchCallbacks cb;
	void *userdata;
	sd_bus_slot *match_prepare, *match_job, *match_owner, *match_guests;
	sd_bus_slot *subscribe_call, *guests_call;
	bool guests_stopping;
};

bool shutdown_target_is_shutdown(const char *unit)
{
	static const char *const targets[] = {
		"shutdown.target", "reboot.target",   "poweroff.target",
		"halt.target",     "kexec.target",    "soft-reboot.target",
	};

	if (!unit)
		return false;
	for (size_t i = 0; i < ELEMENTSOF(targets); i++)
		if (streq(unit, targets[i]))
			return true;
	return false;
}

static int on_prepare(sd_bus_message *msg, void *userdata, sd_bus_error *ret_error)
{
	ShutdownWatch *w = userdata;
	int start, r;

	r = sd_bus_message_read(msg, "b", &start);
	if (r < 0)
		return log_warning_errno(r, "Cannot parse PrepareForShutdown: %m");
	if (!start)
		/* A cancelled shutdown: the storm then ends by the usual quiet hold. */
		log_info("Host shutdown cancelled (logind)");
	else
		log_info("Host shutdown announced by logind");
	w->cb.shutdown(start, "logind", w->userdata);
	return 0;
}

static int on_job_new(sd_bus_message *msg, void *userdata, sd_bus_error *ret_error)
{
	ShutdownWatch *w = userdata;
	const char *path, *unit;
	char why[300];
	uint32_t id;
	int r;

	r = sd_bus_message_read(msg, "uos", &id, &path, &unit);
	if (r < 0)
		return log_warning_errno(r, "Cannot parse JobNew: %m");
	if (!shutdown_target_is_shutdown(unit)) {
		if (w->cb.unit_job)
			w->cb.unit_job(unit, w->userdata);
		return 0;
	}
	log_info("Host shutdown announced: job %u for %s", id, unit);
	snprintf(why, sizeof(why), "job %s", unit);
	w->cb.shutdown(true, why, w->userdata);
	return 0;
}

static void guests_state(ShutdownWatch *w, const char *state)
{
	bool stopping = streq(state, "deactivating");

	if (stopping == w->guests_stopping)
		return;
	w->guests_stopping = stopping;
	log_info(LIBVIRT_GUESTS_UNIT " is %s: %s.", state,
		 stopping ? "every guest is being stopped" : "done stopping guests");
	if (w->cb.guests_stopping)
		w->cb.guests_stopping(stopping, w->userdata);
}

/* (s interface, a{sv} changed, as invalidated): ActiveState, if it is among them. */
static int on_guests_changed(sd_bus_message *msg, void *userdata, sd_bus_error *ret_error)
{
	ShutdownWatch *w = userdata;
	const char *iface, *name, *state;
	int r;

	r = sd_bus_message_read(msg, "s", &iface);
	if (r >= 0)
		r = sd_bus_message_enter_container(msg, 'a', "{sv}");
	while (r > 0 && (r = sd_bus_message_enter_container(msg, 'e', "sv")) > 0) {
		r = sd_bus_message_read(msg, "s", &name);
		if (r < 0)
			break;
		if (!streq(name, "ActiveState")) {
			r = sd_bus_message_skip(msg, "v");
			if (r >= 0)
				r = sd_bus_message_exit_container(msg);
			continue;
		}
		r = sd_bus_message_read(msg, "v", "s", &state);
		if (r < 0)
			break;
		guests_state(w, state);
		return 0;
	}
	if (r < 0)
		log_debug_errno(r, "Cannot parse PropertiesChanged of " LIBVIRT_GUESTS_UNIT ": %m");
	return 0;
}

static int on_guests_state(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error)
{
	ShutdownWatch *w = userdata;
	const char *state;
	int r;

	w->guests_call = sd_bus_slot_unref(w->guests_call);
	/* No such unit, or no systemd on this bus: nothing is stopping. */
	if (sd_bus_message_is_method_error(reply, NULL))
		return 0;
	r = sd_bus_message_read(reply, "v", "s", &state);
	if (r < 0)
		return log_debug_errno(r, "Cannot read the ActiveState of " LIBVIRT_GUESTS_UNIT ": %m");
	guests_state(w, state);
	return 0;
}

/* Where libvirt-guests stands now: smmud may start (or PID 1 return) while it stops the guests. */
static int ask_guests_state(ShutdownWatch *w)
{
	w->guests_call = sd_bus_slot_unref(w->guests_call);
	return sd_bus_call_method_async(w->bus, &w->guests_call, SYSTEMD_NAME, GUESTS_PATH,
					"org.freedesktop.DBus.Properties", "Get", on_guests_state, w,
					"ss", SYSTEMD_UNIT, "ActiveState");
}

static int on_subscribed(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error)
{
	ShutdownWatch *w = userdata;
	const sd_bus_error *e = sd_bus_message_get_error(reply);

	w->subscribe_call = sd_bus_slot_unref(w->subscribe_call);
	/* No systemd on this bus (a test bus, a container): logind may still tell us. */
	if (e)
		log_debug("Cannot subscribe to systemd jobs: %s", e->message ?: e->name);
	else
		log_debug("Subscribed to systemd jobs");
	return 0;
}

static int subscribe(ShutdownWatch *w)
{
	w->subscribe_call = sd_bus_slot_unref(w->subscribe_call);
	return sd_bus_call_method_async(w->bus, &w->subscribe_call, SYSTEMD_NAME, SYSTEMD_PATH,
					SYSTEMD_MANAGER, "Subscribe", on_subscribed, w, NULL);
}

static int on_owner_changed(sd_bus_message *msg, void *userdata, sd_bus_error *ret_error)
{
	ShutdownWatch *w = userdata;
	const char *name, *old_owner, *new_owner;
	int r;

	r = sd_bus_message_read(msg, "sss", &name, &old_owner, &new_owner);
	if (r < 0)
		return log_warning_errno(r, "Cannot parse NameOwnerChanged: %m");
	if (!streq(name, SYSTEMD_NAME) || !new_owner || !*new_owner)
		return 0;
	r = subscribe(w);
	if (r >= 0)
		r = ask_guests_state(w);
	if (r < 0)
		log_warning_errno(r, "Cannot subscribe to systemd jobs: %m");
	return 0;
}

int shutdownwatch_new(sd_bus *bus, const ShutdownWatchCallbacks *cb, void *userdata,
		      ShutdownWatch **ret)
{
	ShutdownWatch *w;
	int r;

	if (!bus || !cb || !cb->shutdown || !ret)
		return -EINVAL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->bus = sd_bus_ref(bus);
	w->cb = *cb;
	w->userdata = userdata;

	r = sd_bus_match_signal_async(bus, &w->match_prepare, LOGIND_NAME, "/org/freedesktop/login1",
				      "org.freedesktop.login1.Manager", "PrepareForShutdown",
				      on_prepare, NULL, w);
	if (r >= 0)
		r = sd_bus_match_signal_async(bus, &w->match_job, SYSTEMD_NAME, SYSTEMD_PATH,
					      SYSTEMD_MANAGER, "JobNew", on_job_new, NULL, w);
	if (r >= 0)
		r = sd_bus_add_match_async(bus, &w->match_owner,
					   "type='signal',sender='org.freedesktop.DBus',"
					   "path='/org/freedesktop/DBus',"
					   "interface='org.freedesktop.DBus',"
					   "member='NameOwnerChanged',arg0='" SYSTEMD_NAME "'",
					   on_owner_changed, NULL, w);
	if (r >= 0 && w->cb.guests_stopping)
		r = sd_bus_match_signal_async(bus, &w->match_guests, SYSTEMD_NAME, GUESTS_PATH,
					      "org.freedesktop.DBus.Properties", "PropertiesChanged",
					      on_guests_changed, NULL, w);
	if (r >= 0)
		r = subscribe(w);
	if (r >= 0 && w->cb.guests_stopping)
		r = ask_guests_state(w);
	if (r < 0) {
		shutdownwatch_free(w);
		return log_error_errno(r, "Cannot watch for host shutdown: %m");
	}
	*ret = w;
	return 0;
}

ShutdownWatch *shutdownwatch_free(ShutdownWatch *w)
{
	if (!w)
		return NULL;
	sd_bus_slot_unref(w->match_prepare);
	sd_bus_slot_unref(w->match_job);
	sd_bus_slot_unref(w->match_owner);
	sd_bus_slot_unref(w->match_guests);
	sd_bus_slot_unref(w->subscribe_call);
	sd_bus_slot_unref(w->guests_call);
	sd_bus_unref(w->bus);
	free(w);
	return NULL;
}
