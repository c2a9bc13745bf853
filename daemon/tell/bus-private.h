/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The private control socket (/run/smmud/private), as systemd serves
 * /run/systemd/private: a listening AF_UNIX socket; each accepted
 * connection becomes its own sd-bus server connection (peer-to-peer D-Bus,
 * no bus daemon), on which the caller's setup function installs the same
 * objects as on the system bus.  So smmuctl works where no bus runs.
 *
 * The socket is open to every local user (mode 0666; who may do what is
 * decided per call), so what one client may take is bounded:
 *  - connections: BUS_PRIVATE_CONNECTIONS_MAX in all, of which users other
 *    than root hold at most BUS_PRIVATE_UNPRIVILEGED_MAX together and
 *    BUS_PRIVATE_PER_USER_MAX each: root always finds a way in;
 *  - time: a connection that has sent no message BUS_PRIVATE_IDLE_USEC
 *    after it was accepted is closed;
 *  - memory: the client's bytes reach sd-bus through a pipe, only as far
 *    as bus-frame.h judges them: a message larger than
 *    BUS_PRIVATE_MESSAGE_MAX ends the connection by its header, before
 *    its body is read; a client that lets more than BUS_PRIVATE_QUEUED_MAX
 *    replies and signals queue up unread is dropped.
 * The peer's credentials are the socket's, taken at accept
 * (bus_private_peer()); sd-bus, reading a pipe, has none of its own.
 */

#include <stdbool.h>
#include <sys/types.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#define BUS_PRIVATE_CONNECTIONS_MAX 64
#define BUS_PRIVATE_UNPRIVILEGED_MAX 48
#define BUS_PRIVATE_PER_USER_MAX 8
#define BUS_PRIVATE_IDLE_USEC (10 * 1000 * 1000ULL)
/* smmud's calls carry a few names and values; its largest reply is sent, never read. */
#define BUS_PRIVATE_MESSAGE_MAX (64 * 1024)
#define BUS_PRIVATE_QUEUED_MAX 64

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
/* If bus is one of p's connections: true, and its peer's uid and gid. */
bool bus_private_peer(const BusPrivate *p, sd_bus *bus, uid_t *ret_uid, gid_t *ret_gid);

static inline void bus_private_freep(BusPrivate **p)
{
	bus_private_free(*p);
}
