/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * VM names from systemd-machined: which machine each leader PID belongs
 * to, and its unit (the scope whose stop job announces its end).  Kept current from MachineNew/MachineRemoved signals, a full reload
 * whenever machined (re)appears (NameOwnerChanged), and reconciliation
 * (ListMachines) on demand: machinewatch_reconcile(), which the daemon
 * calls when it finds a VM machined has not named.  A periodic
 * reconciliation is off by default (an idle daemon must not wake up);
 * machinewatch_set_reconcile_interval() turns it on.  machined being
 * absent is normal: lookups then return NULL.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

typedef struct MachineWatch MachineWatch;

/*
 * bus must be attached to e (or e may be NULL if bus is not attached to
 * any loop: then no reconciliation timer runs).  changed() is called after
 * the set of known machines changed (may be NULL).
 */
int machinewatch_new(sd_bus *bus, sd_event *e, void (*changed)(void *userdata), void *userdata,
		     MachineWatch **ret);
MachineWatch *machinewatch_free(MachineWatch *w);

/* The machine name whose leader is pid, or NULL.  Valid until the next event. */
const char *machinewatch_name_for_pid(MachineWatch *w, pid_t pid);
/* The unit (scope) of the machine whose leader is pid, NULL if not known (yet).  Valid until the next event. */
const char *machinewatch_unit_for_pid(MachineWatch *w, pid_t pid);
/* The leader of the machine whose unit (scope) is unit, or 0. */
pid_t machinewatch_leader_for_unit(MachineWatch *w, const char *unit);
/* Leaders known, into pids (at most max); how many there are. */
size_t machinewatch_leaders(MachineWatch *w, pid_t *pids, size_t max);
/* Number of machines known (for status and tests). */
size_t machinewatch_count(MachineWatch *w);
/* Whether machined is on the bus (as far as we heard). */
bool machinewatch_present(MachineWatch *w);
/* Periodic reconciliation every usec while machined runs; 0 (the default): none. */
int machinewatch_set_reconcile_interval(MachineWatch *w, uint64_t usec);
/*
 * One ListMachines now (asynchronous; changed() follows if it changed
 * anything).  0 if asked or if machined is not on the bus; -errno.
 */
int machinewatch_reconcile(MachineWatch *w);

/* Names we accept from machined: 1-255 bytes, no control characters. */
bool machine_name_is_valid(const char *name);

static inline void machinewatch_freep(MachineWatch **w)
{
	machinewatch_free(*w);
}
