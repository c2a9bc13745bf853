/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * smmud's control API: org.smmud1.Manager at /org/smmud1, served on the
 * system bus (as org.smmud1) when one runs and always on the private
 * socket <runtime-dir>/private.  It knows the daemon through BusControl
 * alone: a view to read (properties, reading methods) and the changes a
 * caller may ask for, after a credential check (bus-access.h).
 * The daemon calls back with every storm decision (the Decision signal)
 * and every knob write, restore, release, override, reload and storm flip
 * (the Event signal; smmuctl monitor).
 */

#include "bus-access.h"
#include "view.h"

typedef struct Bus Bus;

/* The daemon as the API sees it; userdata is bus_new()'s. */
typedef struct BusControl {
	void (*view)(void *userdata, DaemonView *ret);
	/* A reload (errors: "file:line: key: reason" each), as SIGHUP. */
	int (*reload)(void *userdata, char ***ret_errors);
	/* -ENOENT: no such SMMU (smmu NULL: every SMMU). */
	int (*set_override)(void *userdata, const char *smmu, PolicyOverride o,
			    const KnobValues *pin);
	/* A released knob back to smmud; -EOPNOTSUPP: the SMMU has no such knob. */
	int (*reclaim_knob)(void *userdata, const char *smmu, KnobAttr attr);
	/*
	 * A storm announced for usec from now (0: withdrawn) on smmu (NULL:
	 * every SMMU); -ENOENT: no such SMMU.
	 */
	int (*announce_storm)(void *userdata, const char *smmu, uint64_t usec);
} BusControl;

/*
 * Starts serving: the private socket in runtime_dir always (failure is
 * fatal: smmuctl would have no way in), the name on system_bus when there
 * is one (failure to get it is logged, not fatal).
 */
int bus_new(sd_event *event, sd_bus *system_bus, const char *runtime_dir, const BusAccess *access,
	    const BusControl *control, void *userdata, Bus **ret);
Bus *bus_free(Bus *b);
static inline void bus_freep(Bus **b)
{
	bus_free(*b);
}

/* New access rules (after a reload). */
void bus_set_access(Bus *b, const BusAccess *access);

/* A storm flip, as the Decision signal, to every peer that may read. */
void bus_emit_decision(Bus *b, const DaemonDecision *d);
/* One thing smmud did or saw, as the Event signal, to every peer that may read. */
void bus_emit_event(Bus *b, const DaemonEvent *e);

/* The interface's vtable, for tests and documentation tools. */
extern const sd_bus_vtable bus_manager_vtable[];
