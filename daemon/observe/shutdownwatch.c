// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Host shutdown, heard as early as the host says it: logind's
 * PrepareForShutdown(true) comes before any unit is stopped, and a job for
 * one of the shutdown targets is queued before libvirt-guests and the
 * machine scopes are stopped.  Either means "many VMs are about to die at
 * once": the caller treats it as a storm.  systemd emits JobNew only to
 * clients that called Subscribe(), so we do, again whenever PID 1 comes back
 * to the bus (daemon-reexec).
 */
#include <systemd/sd-bus.h>

#include "log.h"
#include "shutdownwatch.h"
#include "util.h"

#define LOGIND_NAME "org.freedesktop.login1"
#define SYSTEMD_NAME "org.freedesktop.systemd1"
#define SYSTEMD_PATH "/org/freedesktop/systemd1"
#define SYSTEMD_MANAGER "org.freedesktop.systemd1.Manager"

struct ShutdownWatch {
	sd_bus *bus;
	void (*announced)(const char *why, void *userdata);
	void *userdata;
	sd_bus_slot *match_prepare, *match_job, *match_owner, *subscribe_call;
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
	if (!start) {
		/* A cancelled shutdown: the storm then ends by the usual quiet hold. */
		log_info("Host shutdown cancelled (logind)");
		return 0;
	}
	log_info("Host shutdown announced by logind");
	w->announced("logind", w->userdata);
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
	if (!shutdown_target_is_shutdown(unit))
		return 0;
	log_info("Host shutdown announced: job %u for %s", id, unit);
	snprintf(why, sizeof(why), "job %s", unit);
	w->announced(why, w->userdata);
	return 0;
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
	if (r < 0)
		log_warning_errno(r, "Cannot subscribe to systemd jobs: %m");
	return 0;
}

int shutdownwatch_new(sd_bus *bus, void (*announced)(const char *why, void *userdata),
		      void *userdata, ShutdownWatch **ret)
{
	ShutdownWatch *w;
	int r;

	if (!bus || !announced || !ret)
		return -EINVAL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->bus = sd_bus_ref(bus);
	w->announced = announced;
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
	if (r >= 0)
		r = subscribe(w);
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
	sd_bus_slot_unref(w->subscribe_call);
	sd_bus_unref(w->bus);
	free(w);
	return NULL;
}
