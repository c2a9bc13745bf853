// SPDX-License-Identifier: GPL-2.0-or-later
#include <grp.h>
#include <pwd.h>

#include "bus-access.h"
#include "log.h"
#include "util.h"

static bool in_group(gid_t group, gid_t gid, const char *user_name)
{
	struct group gr, *res = NULL;
	char buf[16384];

	if (gid == group)
		return true;
	if (!user_name)
		return false;
	if (getgrgid_r(group, &gr, buf, sizeof(buf), &res) != 0 || !res)
		return false;
	for (char **mem = gr.gr_mem; mem && *mem; mem++)
		if (streq(*mem, user_name))
			return true;
	return false;
}

bool bus_access_allows(const BusAccess *a, BusRight right, uid_t uid, gid_t gid,
		       const char *user_name)
{
	bool admin;

	if (uid == 0)
		return true;
	admin = a->admin_group_set && in_group(a->admin_gid, gid, user_name);
	if (right == BUS_RIGHT_CHANGE)
		return admin;
	if (!a->reader_group_set)
		return true;
	return admin || in_group(a->reader_gid, gid, user_name);
}

static bool allows_uid(const BusAccess *a, BusRight right, uid_t uid, gid_t gid)
{
	struct passwd pw, *res = NULL;
	char buf[16384];

	if (uid == 0)
		return true;
	if (getpwuid_r(uid, &pw, buf, sizeof(buf), &res) != 0)
		res = NULL;
	return bus_access_allows(a, right, uid, gid, res ? res->pw_name : NULL);
}

bool bus_access_allows_peer(const BusAccess *a, BusRight right, uid_t uid, gid_t gid)
{
	return allows_uid(a, right, uid, gid);
}

int bus_access_check(const BusAccess *a, BusRight right, sd_bus_message *m,
		     sd_bus_error *error)
{
	_cleanup_(sd_bus_creds_unrefp) sd_bus_creds *creds = NULL;
	uid_t uid;
	gid_t gid;
	int r;

	/* On a private connection these are the socket's SO_PEERCRED; on the
	 * bus, what the bus daemon vouches for.  Not augmented from /proc. */
	r = sd_bus_query_sender_creds(m, SD_BUS_CREDS_EUID | SD_BUS_CREDS_EGID, &creds);
	if (r >= 0)
		r = sd_bus_creds_get_euid(creds, &uid);
	if (r >= 0)
		r = sd_bus_creds_get_egid(creds, &gid);
	if (r < 0) {
		sd_bus_error_set(error, SD_BUS_ERROR_ACCESS_DENIED,
				 "Cannot determine the caller's credentials");
		return r;
	}
	if (allows_uid(a, right, uid, gid))
		return 1;
	sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED,
			  right == BUS_RIGHT_CHANGE
				  ? "Only root or members of AdminGroup= may change smmud's state"
				  : "Only root or members of ReaderGroup= or AdminGroup= may read smmud's state");
	return 0;
}
