/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * smmuctl's side of org.smmud1.Manager: the connection (the private
 * socket, or the system bus with --system) and method calls whose D-Bus
 * errors become one line on stderr and a CTL_EXIT_* status.
 */

#include <systemd/sd-bus.h>

#include "smmuctl.h"

/* 0 and *ret, or a CTL_EXIT_* status (> 0) after printing why. */
int ctl_bus_open(sd_bus **ret);

/*
 * Calls method with the arguments in types/...; 0 and *reply (may be NULL:
 * not wanted), or a CTL_EXIT_* status after printing the error.
 */
int ctl_call(sd_bus *bus, const char *method, sd_bus_message **reply, const char *types, ...);

/* The CTL_EXIT_* status for a D-Bus error (printed by the caller). */
int ctl_exit_for_error(const sd_bus_error *e, int r);

/* The sd-bus message for a verb's own argument error: "smmuctl VERB: what". */
#define ctl_usage_error(...) (log_error(__VA_ARGS__), CTL_EXIT_USAGE)
