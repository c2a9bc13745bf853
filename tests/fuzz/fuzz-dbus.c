// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * org.smmud1.Manager's method arguments past sd-bus's type check, handled
 * by the real daemon: a Manager started on a fake tree (two SMMUv3s with
 * tunables, no VMs), serving its private socket, and a client connected
 * to it on the same event loop.  Each input is one or more method calls:
 *
 *   byte 0: the method (SetKnob, ResetKnob, SetStorm, Pin, Unpin, Reload,
 *           GetSmmus, GetCounters, GetConfig, GetVms, AnnounceStorm, a
 *           property)
 *   then NUL-separated strings: its arguments (the rest of SetStorm's and
 *           AnnounceStorm's are their SMMU list); for Reload the first one is written as the
 *           config file first, for GetCounters as the SMMU's debugfs
 *           counters.
 *
 * An input with strings sd-bus refuses (not UTF-8) is skipped: the
 * daemon never sees it.  Invariants: every call gets a reply (a method
 * return or an error, never silence); a failed Reload leaves the config
 * digest unchanged; the knob files only ever hold values the kernel
 * accepts ("auto" or a number for inv_threshold, "strict" or "deferred"
 * for teardown_mode).  After each input the overrides are undone and the
 * original config reloaded, so inputs do not depend on each other.
 */
#include <sched.h>
#include <signal.h>

#include <systemd/sd-bus.h>

#include "bus-api.h"
#include "fuzz.h"
#include "manager.h"

#define SMMU_A "smmu3.0x0000000009050000"
#define SMMU_B "smmu3.0x0000000009060000"

static const char base_config[] = "[Manager]\nMachined=no\nTaskStats=no\nProcConnector=no\n"
				  "[Trigger]\nExitLimit=2\nWindow=2s\nHoldTime=3s\n";

static Manager *manager;
static sd_bus *client;
static char *root, *conf, *counters_a, *knob_paths[4];

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
} Reply;

static int on_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	Reply *r = userdata;
	const sd_bus_error *e = sd_bus_message_get_error(m);

	r->done = true;
	r->error = !!e;
	if (e)
		snprintf(r->error_name, sizeof(r->error_name), "%s", e->name ?: "");
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

/* 0 and the reply; -EINVAL: sd-bus refused an argument (skip the input). */
static int call(const char *method, char **args, size_t n_args, Reply *reply)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
	int r;

	*reply = (Reply){};
	r = sd_bus_message_new_method_call(client, &m, NULL, SMMUD_BUS_PATH, SMMUD_BUS_INTERFACE,
					   method);
	FUZZ_CHECK(r >= 0);
	if (streq(method, "SetStorm") || streq(method, "AnnounceStorm")) {
		char *list[17] = {};

		for (size_t i = 1; i < n_args && i < ELEMENTSOF(list); i++)
			list[i - 1] = args[i];
		r = sd_bus_message_append(m, "s", n_args > 0 ? args[0] : "");
		if (r >= 0)
			r = sd_bus_message_append_strv(m, list);
	} else
		for (size_t i = 0; r >= 0 && i < n_args; i++)
			r = sd_bus_message_append(m, "s", args[i]);
	if (r < 0)
		return -EINVAL;
	/* smmud answers at once; 5 s without a reply is a missing one. */
	r = sd_bus_call_async(client, NULL, m, on_reply, reply, 5 * USEC_PER_SEC);
	FUZZ_CHECK(r >= 0);
	run_until(reply);
	return 0;
}

static int call0(const char *method, Reply *reply)
{
	return call(method, NULL, 0, reply);
}

/* The running config's digest (read on the loop's thread, as bus.c does). */
static char *get_digest(void)
{
	char *d = strdup(manager->config ? manager->config->digest : "");

	if (!d)
		abort();
	return d;
}

static bool threshold_ok(const char *v)
{
	size_t n = strspn(v, "0123456789");

	return streq(v, "auto") || (n > 0 && n == strlen(v) && n <= 10);
}

static void check_knob_files(void)
{
	for (size_t i = 0; i < ELEMENTSOF(knob_paths); i++) {
		_cleanup_free_ char *v = NULL;

		FUZZ_CHECK(read_one_line_file(knob_paths[i], &v) == 0);
		if (i % 2 == 0)
			FUZZ_CHECK(threshold_ok(v));
		else
			FUZZ_CHECK(streq(v, "strict") || streq(v, "deferred"));
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	_cleanup_free_ char *rundir = NULL, *proc = NULL;
	ManagerOptions o = {};
	int r;

	fuzz_quiet_logs();
	/* Exit events of this host would only be noise: no netlink here. */
	(void)unshare(CLONE_NEWNET);

	root = fuzz_path("root");
	rundir = fuzz_path("run");
	conf = fuzz_path("smmud.conf");
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
	fuzz_write_string(conf, base_config);
	counters_a = fuzz_path("root/sys/kernel/debug/iommu/arm-smmu-v3/" SMMU_A "/counters");
	knob_paths[0] = fuzz_path("root/sys/class/iommu/" SMMU_A "/arm-smmu-v3/inv_threshold");
	knob_paths[1] = fuzz_path("root/sys/class/iommu/" SMMU_A "/arm-smmu-v3/teardown_mode");
	knob_paths[2] = fuzz_path("root/sys/class/iommu/" SMMU_B "/arm-smmu-v3/inv_threshold");
	knob_paths[3] = fuzz_path("root/sys/class/iommu/" SMMU_B "/arm-smmu-v3/teardown_mode");

	o.root = root;
	o.runtime_dir = rundir;
	o.config_source = (ConfigSource){ .file = conf, .file_required = true, .dropin_dir = "" };
	r = manager_new(&o, &manager);
	if (r >= 0)
		r = manager_startup(manager);
	if (r < 0) {
		fprintf(stderr, "fuzz-dbus: the manager did not start: %s\n", strerror(-r));
		abort();
	}
	FUZZ_CHECK(manager->smmus.n == 2);

	{
		_cleanup_free_ char *address = NULL;

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
			fprintf(stderr, "fuzz-dbus: cannot connect: %s\n", strerror(-r));
			abort();
		}
	}
	return 0;
}

/* Undoes what a changing method may have done (each undo must succeed). */
static void reset(const char *method)
{
	static char *storm_auto[] = { (char *)"auto" };
	char *a[] = { (char *)SMMU_A, (char *)"" }, *b[] = { (char *)SMMU_B, (char *)"" };
	Reply rep;

	/* "auto" also withdraws an announced storm. */
	if (streq(method, "SetStorm") || streq(method, "AnnounceStorm"))
		FUZZ_CHECK(call("SetStorm", storm_auto, 1, &rep) == 0 && !rep.error);
	if (streq(method, "SetKnob") || streq(method, "Pin")) {
		/* ResetKnob with no knob named also ends a pin. */
		FUZZ_CHECK(call("ResetKnob", a, 2, &rep) == 0 && !rep.error);
		FUZZ_CHECK(call("ResetKnob", b, 2, &rep) == 0 && !rep.error);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct {
		const char *name;
		unsigned n_args; /* UINT_MAX: a list */
	} methods[] = {
		{ "SetKnob", 3 },   { "ResetKnob", 2 }, { "SetStorm", UINT32_MAX },
		{ "Pin", 3 },	    { "Unpin", 1 },	{ "Reload", 0 },
		{ "GetSmmus", 0 },  { "GetCounters", 0 }, { "GetConfig", 0 },
		{ "GetVms", 0 },    { "AnnounceStorm", UINT32_MAX },
	};
	char *f[16];
	size_t n, method, n_args;
	bool reloaded = false;
	Reply rep;

	if (size < 1)
		return 0;
	method = data[0] % ELEMENTSOF(methods);
	n = fuzz_split(data + 1, size - 1, f, ELEMENTSOF(f));
	n_args = methods[method].n_args == UINT32_MAX ? n : methods[method].n_args;

	if (streq(methods[method].name, "Reload")) {
		_cleanup_free_ char *before = get_digest();

		fuzz_write_string(conf, f[0]);
		FUZZ_CHECK(call0("Reload", &rep) == 0);
		if (rep.error) {
			_cleanup_free_ char *after = get_digest();

			/* A refused config changes nothing. */
			FUZZ_CHECK(streq(before, after));
		}
		reloaded = !rep.error;
	} else if (streq(methods[method].name, "GetCounters")) {
		fuzz_write_string(counters_a, f[0]);
		FUZZ_CHECK(call0("GetCounters", &rep) == 0);
	} else if (n_args == 0)
		FUZZ_CHECK(call0(methods[method].name, &rep) == 0);
	else {
		char *args[16];

		for (size_t i = 0; i < n_args; i++)
			args[i] = i < n ? f[i] : (char *)"";
		(void)call(methods[method].name, args, n_args, &rep);
	}
	check_knob_files();
	fuzz_free_fields(f, ELEMENTSOF(f));

	reset(methods[method].name);
	if (reloaded) {
		fuzz_write_string(conf, base_config);
		FUZZ_CHECK(call0("Reload", &rep) == 0 && !rep.error);
	}
	check_knob_files();
	return 0;
}
