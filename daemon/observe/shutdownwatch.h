/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * Teardowns announced before they happen, as logind and systemd tell them:
 *  - the host goes down: logind's PrepareForShutdown(true), or a job
 *    queued for shutdown.target, reboot.target, poweroff.target,
 *    halt.target, kexec.target or soft-reboot.target (JobNew, after
 *    Subscribe()); PrepareForShutdown(false) takes it back;
 *  - libvirt-guests.service is stopping (its ActiveState "deactivating",
 *    from its PropertiesChanged): it shuts every libvirt guest down;
 *  - a job was queued for some unit (JobNew): the caller knows which
 *    units are VMs' scopes (a job for a running scope stops it: a scope
 *    cannot be started again or reloaded).
 * One shutdown usually brings several announcements (logind, then a job
 * for each target): the callee must be idempotent.  systemd emits JobNew
 * and unit PropertiesChanged only to clients that called Subscribe(), so
 * the watch does, again whenever PID 1 comes back to the bus.
 */

#include <stdbool.h>
#include <stdint.h>

#include <systemd/sd-bus.h>

typedef struct ShutdownWatch ShutdownWatch;

typedef struct ShutdownWatchCallbacks {
	/* The host goes down (why: "logind", "job poweroff.target"), or not after all (false). */
	void (*shutdown)(bool start, const char *why, void *userdata);
	/* libvirt-guests.service began (true) or ended (false) stopping the guests. */
	void (*guests_stopping)(bool stopping, void *userdata);
	/* A job was queued for unit (NULL: not wanted). */
	void (*unit_job)(const char *unit, void *userdata);
} ShutdownWatchCallbacks;

int shutdownwatch_new(sd_bus *bus, const ShutdownWatchCallbacks *cb, void *userdata,
		      ShutdownWatch **ret);
ShutdownWatch *shutdownwatch_free(ShutdownWatch *w);

/* True for the unit names whose job means the host goes down. */
bool shutdown_target_is_shutdown(const char *unit);

/* The unit whose stop is every libvirt guest's. */
#define LIBVIRT_GUESTS_UNIT "libvirt-guests.service"

static inline void shutdownwatch_freep(ShutdownWatch **w)
{
	shutdownwatch_free(*w);
}
