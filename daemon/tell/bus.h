/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * smmud's control API: org.smmud1.Manager at /org/smmud1, served on the
 * system bus (as org.smmud1) when one runs and always on the private
 * socket <runtime-dir>/private.  Properties and methods read the manager's
 * state on the loop's thread; changing methods go through the manager_*
 * control functions, after a credential check (bus-access.h).  Storm
 * decisions are broadcast as Decision signals, and every knob write,
 * restore, release, override, reload and storm flip as an Event signal
 * (smmuctl monitor).
 */

#include "bus-access.h"
#include "manager.h"

typedef struct Bus Bus;

/*
 * Starts serving: the private socket always (failure is fatal: smmuctl
 * would have no way in), the system bus name when m->bus is set (failure
 * to get the name is logged, not fatal).  Installs the manager's decision
 * and event hooks.
 */
int bus_setup(Manager *m, const BusAccess *access, Bus **ret);
Bus *bus_free(Bus *b);
static inline void bus_freep(Bus **b)
{
	bus_free(*b);
}

/* New access rules (after a reload). */
void bus_set_access(Bus *b, const BusAccess *access);

/* The interface's vtable, for tests and documentation tools. */
extern const sd_bus_vtable bus_manager_vtable[];
