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

void bus_access_resolve(const char *admin_group, const char *reader_group, BusAccess *ret)
{
	struct group *g;

	*ret = (BusAccess){};
	if (admin_group && (g = getgrnam(admin_group))) {
		ret->admin_group_set = true;
		ret->admin_gid = g->gr_gid;
	}
	if (reader_group) {
		ret->reader_group_set = true;
		g = getgrnam(reader_group);
		/* A restriction must not vanish with its group: root only then. */
		ret->reader_gid = g ? g->gr_gid : 0;
	}
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

/* The caller's uid and gid: effective ones where known (SO_PEERCRED on a
 * private connection), else what the bus daemon vouches for (UnixUserID);
 * a gid it does not give comes from the user database. */
static int sender_ids(sd_bus_message *m, uid_t *ret_uid, gid_t *ret_gid, bool *ret_have_gid)
{
	_cleanup_(sd_bus_creds_unrefp) sd_bus_creds *creds = NULL;
	int r;

	r = sd_bus_query_sender_creds(m, SD_BUS_CREDS_UID | SD_BUS_CREDS_EUID | SD_BUS_CREDS_GID |
					      SD_BUS_CREDS_EGID,
				      &creds);
	if (r < 0)
		return r;
	if (sd_bus_creds_get_euid(creds, ret_uid) < 0) {
		r = sd_bus_creds_get_uid(creds, ret_uid);
		if (r < 0)
			return r;
	}
	*ret_have_gid = sd_bus_creds_get_egid(creds, ret_gid) >= 0 ||
			sd_bus_creds_get_gid(creds, ret_gid) >= 0;
	return 0;
}

static int denied(BusRight right, sd_bus_error *error)
{
	sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED,
			  right == BUS_RIGHT_CHANGE
				  ? "Only root or members of AdminGroup= may change smmud's state"
				  : "Only root or members of ReaderGroup= or AdminGroup= may read smmud's state");
	return 0;
}

int bus_access_check_peer(const BusAccess *a, BusRight right, uid_t uid, gid_t gid,
			  sd_bus_error *error)
{
	return allows_uid(a, right, uid, gid) ? 1 : denied(right, error);
}

int bus_access_check(const BusAccess *a, BusRight right, sd_bus_message *m,
		     sd_bus_error *error)
{
	struct passwd pw, *res = NULL;
	char buf[16384];
	bool have_gid;
	uid_t uid;
	gid_t gid = (gid_t)-1;
	int r;

	r = sender_ids(m, &uid, &gid, &have_gid);
	if (r < 0) {
		sd_bus_error_set(error, SD_BUS_ERROR_ACCESS_DENIED,
				 "Cannot determine the caller's credentials");
		return r;
	}
	if (uid != 0 && (getpwuid_r(uid, &pw, buf, sizeof(buf), &res) != 0))
		res = NULL;
	if (!have_gid)
		gid = res ? res->pw_gid : (gid_t)-1;
	if (bus_access_allows(a, right, uid, gid, res ? res->pw_name : NULL))
		return 1;
	return denied(right, error);
}
