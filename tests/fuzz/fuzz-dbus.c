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
#include "fuzz-manager.h"

static const char base_config[] = "[Manager]\nMachined=no\nTaskStats=no\nProcConnector=no\n"
				  "[Trigger]\nExitLimit=2\nWindow=2s\nHoldTime=3s\n";

static char *conf, *counters_a, *knob_paths[4];

/* 0 and the reply; -EINVAL: sd-bus refused an argument (skip the input). */
static int call(const char *method, char **args, size_t n_args, Reply *reply)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
	int r;

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
	call_message(m, reply);
	return 0;
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
	fuzz_quiet_logs();
	conf = fuzz_path("smmud.conf");
	fuzz_manager_start(conf, base_config, "");
	counters_a = fuzz_path("root/sys/kernel/debug/iommu/arm-smmu-v3/" SMMU_A "/counters");
	knob_paths[0] = fuzz_path("root/sys/class/iommu/" SMMU_A "/arm-smmu-v3/inv_threshold");
	knob_paths[1] = fuzz_path("root/sys/class/iommu/" SMMU_A "/arm-smmu-v3/teardown_mode");
	knob_paths[2] = fuzz_path("root/sys/class/iommu/" SMMU_B "/arm-smmu-v3/inv_threshold");
	knob_paths[3] = fuzz_path("root/sys/class/iommu/" SMMU_B "/arm-smmu-v3/teardown_mode");
	return 0;
}

/* Undoes what a changing method may have done (each undo must succeed). */
static void reset(const char *method)
{
	static char *storm_auto[] = { (char *)"auto" };
	char *a[] = { (char *)SMMU_A, (char *)"" }, *b[] = { (char *)SMMU_B, (char *)"" };
	_cleanup_(reply_done) Reply rep = {};

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
	_cleanup_(reply_done) Reply rep = {};

	if (size < 1)
		return 0;
	method = data[0] % ELEMENTSOF(methods);
	n = fuzz_split(data + 1, size - 1, f, ELEMENTSOF(f));
	n_args = methods[method].n_args == UINT32_MAX ? n : methods[method].n_args;

	if (streq(methods[method].name, "Reload")) {
		_cleanup_free_ char *before = get_digest();

		fuzz_write_string(conf, f[0]);
		call0("Reload", &rep);
		if (rep.error) {
			_cleanup_free_ char *after = get_digest();

			/* A refused config changes nothing. */
			FUZZ_CHECK(streq(before, after));
		}
		reloaded = !rep.error;
	} else if (streq(methods[method].name, "GetCounters")) {
		fuzz_write_string(counters_a, f[0]);
		call0("GetCounters", &rep);
	} else if (n_args == 0)
		call0(methods[method].name, &rep);
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
		call0("Reload", &rep);
		FUZZ_CHECK(!rep.error);
	}
	check_knob_files();
	return 0;
}
