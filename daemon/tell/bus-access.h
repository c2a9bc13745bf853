/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * Who may do what through org.smmud1.Manager, on the system bus and on the
 * private socket alike: root and members of AdminGroup= may change state;
 * reading is open to everyone, or, with ReaderGroup= set, to root and the
 * members of either group.  Membership is judged from the caller's
 * kernel-provided credentials (uid, gid) and the group database, never from
 * anything the caller claims.
 */

#include <stdbool.h>
#include <sys/types.h>
#include <systemd/sd-bus.h>

typedef struct BusAccess {
	bool admin_group_set;
	gid_t admin_gid;
	bool reader_group_set;
	gid_t reader_gid;
} BusAccess;

typedef enum BusRight {
	BUS_RIGHT_READ,
	BUS_RIGHT_CHANGE,
} BusRight;

/*
 * The rules for AdminGroup= and ReaderGroup= (NULL: not set), resolved in
 * the group database now: a group that does not exist grants nothing, and
 * a reader group that does not exist restricts reading to root.
 */
void bus_access_resolve(const char *admin_group, const char *reader_group, BusAccess *ret);

/* Pure: may a caller with this uid, primary gid and user name have right? */
bool bus_access_allows(const BusAccess *a, BusRight right, uid_t uid, gid_t gid,
		       const char *user_name);

/*
 * For the sender of the message being handled: 1 allowed, 0 denied (with
 * error set to org.freedesktop.DBus.Error.AccessDenied), -errno if the
 * credentials could not be had (also denied).
 */
int bus_access_check(const BusAccess *a, BusRight right, sd_bus_message *m,
		     sd_bus_error *error);

/* Same, for a peer known by its credentials (a private connection). */
bool bus_access_allows_peer(const BusAccess *a, BusRight right, uid_t uid, gid_t gid);
/* bus_access_check() for such a peer: 1 allowed, 0 denied (with error set). */
int bus_access_check_peer(const BusAccess *a, BusRight right, uid_t uid, gid_t gid,
			  sd_bus_error *error);
