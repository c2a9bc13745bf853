/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The private control socket (/run/smmud/private), as systemd serves
 * /run/systemd/private: a listening AF_UNIX socket; each accepted
 * connection becomes its own sd-bus server connection (peer-to-peer D-Bus,
 * no bus daemon), on which the caller's setup function installs the same
 * objects as on the system bus.  So smmuctl works where no bus runs.
 */

#include <stdbool.h>
#include <sys/types.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

/* At most this many clients at once; more are refused (an fd budget). */
#define BUS_PRIVATE_CONNECTIONS_MAX 64

typedef struct BusPrivate BusPrivate;

/* Installs objects on a fresh connection; -errno drops the connection. */
typedef int (*BusPrivateSetup)(sd_bus *bus, void *userdata);

/*
 * Binds and listens on path (a stale socket there is replaced; anything
 * else is refused), mode 0666: who may do what is decided per call from
 * the peer's credentials (bus-access.h).
 */
int bus_private_new(sd_event *event, const char *path, BusPrivateSetup setup, void *userdata,
		    BusPrivate **ret);
/* Closes every connection and the socket, and removes it. */
BusPrivate *bus_private_free(BusPrivate *p);

typedef void (*BusPrivateVisit)(sd_bus *bus, uid_t uid, gid_t gid, void *userdata);
/* Each open connection with its peer's credentials (to emit signals). */
void bus_private_foreach(BusPrivate *p, BusPrivateVisit visit, void *userdata);
size_t bus_private_n_connections(const BusPrivate *p);

static inline void bus_private_freep(BusPrivate **p)
{
	bus_private_free(*p);
}
