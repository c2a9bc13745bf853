/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * Host shutdown announcements, heard before libvirt starts stopping the
 * guests: logind's PrepareForShutdown(true), and a systemd job queued for
 * shutdown.target, reboot.target, poweroff.target, halt.target,
 * kexec.target or soft-reboot.target (JobNew, after Subscribe()).
 * announced() is called once per announcement with a short reason
 * ("logind", "job poweroff.target"); one shutdown usually brings several
 * (logind, then a job for each target), so the caller must be idempotent.
 * PrepareForShutdown(false), a cancelled shutdown, is logged only.
 */

#include <stdbool.h>

#include <systemd/sd-bus.h>

typedef struct ShutdownWatch ShutdownWatch;

int shutdownwatch_new(sd_bus *bus, void (*announced)(const char *why, void *userdata),
		      void *userdata, ShutdownWatch **ret);
ShutdownWatch *shutdownwatch_free(ShutdownWatch *w);

/* True for the unit names whose job means the host goes down. */
bool shutdown_target_is_shutdown(const char *unit);

static inline void shutdownwatch_freep(ShutdownWatch **w)
{
	shutdownwatch_free(*w);
}
