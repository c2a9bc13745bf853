/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * What the fuzz targets that drive the real daemon share: a Manager
 * started on a fake tree (two SMMUv3s with tunables, counters, no VMs)
 * serving its private socket, and a client connected to it on the same
 * event loop; a call made through that client runs the loop until its
 * reply, and every call must get one.
 */

#include <sched.h>

#include <systemd/sd-bus.h>

#include "bus-api.h"
#include "fuzz.h"
#include "manager.h"

#define SMMU_A "smmu3.0x0000000009050000"
#define SMMU_B "smmu3.0x0000000009060000"

static Manager *manager;
static sd_bus *client;
static char *root;

static void mk_smmu(const char *name, const char *platform, const char *bdf, const char *group,
		    const char *ril)
{
	_cleanup_free_ char *dev = NULL, *p = NULL, *target = NULL;

	if (asprintf(&dev, "%s/sys/devices/platform/%s/iommu/%s", root, platform, name) < 0)
		abort();
#define W(rel, text)                                                           \
	do {                                                                   \
		_cleanup_free_ char *_p = NULL;                                \
		if (asprintf(&_p, "%s/%s", dev, rel) < 0)                      \
			abort();                                               \
		fuzz_write_string(_p, text);                                   \
	} while (0)
	W("arm-smmu-v3/inv_threshold", "auto\n");
	W("arm-smmu-v3/teardown_mode", "strict\n");
	W("arm-smmu-v3/range_invalidation", ril);
	W("arm-smmu-v3/stages", "s1 s2\n");
	W("arm-smmu-v3/granules", "4K 64K\n");
#undef W
	if (asprintf(&p, "%s/devices/%s/iommu_group", dev, bdf) < 0 ||
	    asprintf(&target, "../../../../../../kernel/iommu_groups/%s", group) < 0)
		abort();
	fuzz_mkdir_parents(p);
	if (symlink(target, p) < 0)
		abort();
	free(p);
	free(target);
	if (asprintf(&p, "%s/sys/class/iommu/%s", root, name) < 0 ||
	    asprintf(&target, "../../devices/platform/%s/iommu/%s", platform, name) < 0)
		abort();
	fuzz_mkdir_parents(p);
	if (symlink(target, p) < 0)
		abort();
	free(p);
	if (asprintf(&p, "%s/sys/kernel/debug/iommu/arm-smmu-v3/%s/counters", root, name) < 0)
		abort();
	fuzz_write_string(p, "tlbi_asid 10\ntlbi_va 2000\ntlbi_total 2010\n");
}

typedef struct Reply {
	bool done;
	bool error;
	char error_name[256];
	char *error_message; /* malloc'd */
} Reply;

static void reply_done(Reply *r)
{
	free(r->error_message);
	r->error_message = NULL;
}

static int on_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	Reply *r = userdata;
	const sd_bus_error *e = sd_bus_message_get_error(m);

	r->done = true;
	r->error = !!e;
	if (e) {
		snprintf(r->error_name, sizeof(r->error_name), "%s", e->name ?: "");
		r->error_message = strdup(e->message ?: "");
		if (!r->error_message)
			abort();
	}
	return 0;
}

static void run_until(Reply *r)
{
	for (int i = 0; i < 1000 && !r->done; i++) {
		int k = sd_event_run(manager->event, USEC_PER_SEC);

		if (k < 0)
			fprintf(stderr, "sd_event_run: %s\n", strerror(-k));
		/* The loop smmud runs on must never fail: sd_event_loop() would return. */
		FUZZ_CHECK(k >= 0);
	}
	/* Every call is answered, with a return or an error (not sd-bus's timeout). */
	FUZZ_CHECK(r->done);
	if (r->error && (streq(r->error_name, SD_BUS_ERROR_NO_REPLY) ||
			 streq(r->error_name, SD_BUS_ERROR_TIMEOUT)))
		fprintf(stderr, "no reply from smmud: %s\n", r->error_name);
	FUZZ_CHECK(!r->error || (!streq(r->error_name, SD_BUS_ERROR_NO_REPLY) &&
				 !streq(r->error_name, SD_BUS_ERROR_TIMEOUT)));
}

/* Sends m and runs the loop until its reply (5 s without one is a missing one). */
static void call_message(sd_bus_message *m, Reply *reply)
{
	reply_done(reply);
	*reply = (Reply){};
	FUZZ_CHECK(sd_bus_call_async(client, NULL, m, on_reply, reply, 5 * USEC_PER_SEC) >= 0);
	run_until(reply);
}

static void call0(const char *method, Reply *reply)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;

	FUZZ_CHECK(sd_bus_message_new_method_call(client, &m, NULL, SMMUD_BUS_PATH,
						  SMMUD_BUS_INTERFACE, method) >= 0);
	call_message(m, reply);
}

/* The running config's digest (read on the loop's thread, as bus.c does). */
static char *get_digest(void)
{
	char *d = strdup(manager->config ? manager->config->digest : "");

	if (!d)
		abort();
	return d;
}

/*
 * The fake tree under <scratch>/root, a Manager on it with config_file
 * (holding config_text) and dropin_dir ("" for none), and the client.
 */
static void fuzz_manager_start(const char *config_file, const char *config_text,
			       const char *dropin_dir)
{
	_cleanup_free_ char *rundir = NULL, *proc = NULL, *address = NULL;
	ManagerOptions o = {};
	int r;

	/* Exit events of this host would only be noise: no netlink here. */
	(void)unshare(CLONE_NEWNET);

	root = fuzz_path("root");
	rundir = fuzz_path("run");
	proc = fuzz_path("root/proc/sys/kernel/osrelease");
	fuzz_write_string(proc, "6.12.117-smmud\n");
	free(proc);
	proc = fuzz_path("root/proc/sys/kernel/hostname");
	fuzz_write_string(proc, "testhost\n");
	free(proc);
	proc = fuzz_path("root/etc/machine-id");
	fuzz_write_string(proc, "0123456789abcdef0123456789abcdef\n");
	mk_smmu(SMMU_A, "9050000.smmuv3", "0000:00:02.0", "12", "0\n");
	mk_smmu(SMMU_B, "9060000.smmuv3", "0000:00:03.0", "13", "1\n");
	fuzz_write_string(config_file, config_text);

	o.root = root;
	o.runtime_dir = rundir;
	o.config_source = (ConfigSource){ .file = config_file, .file_required = true,
					  .dropin_dir = dropin_dir };
	r = manager_new(&o, &manager);
	if (r >= 0)
		r = manager_startup(manager);
	if (r < 0) {
		fprintf(stderr, "fuzz: the manager did not start: %s\n", strerror(-r));
		abort();
	}
	FUZZ_CHECK(manager->smmus.n == 2);

	if (asprintf(&address, "unix:path=%s/private", rundir) < 0)
		abort();
	r = sd_bus_new(&client);
	if (r >= 0)
		r = sd_bus_set_address(client, address);
	if (r >= 0)
		r = sd_bus_start(client);
	if (r >= 0)
		r = sd_bus_attach_event(client, manager->event, SD_EVENT_PRIORITY_NORMAL);
	if (r < 0) {
		fprintf(stderr, "fuzz: cannot connect: %s\n", strerror(-r));
		abort();
	}
}
