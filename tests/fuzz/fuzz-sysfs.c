// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * What smmud reads back from sysfs, procfs and its runtime directory,
 * through the real readers on a real (fake) tree: topology_scan() (SMMU
 * and device attributes, iommu_group links, CPU and node lists, kernel
 * release, hostname, machine id), profile matching on those facts, and
 * the knobs: boot id, the state file a crashed run left (knobs_recover),
 * the current inv_threshold and teardown_mode values, a write and its
 * restore.
 *
 * Input: NUL-separated fields, in this order (a missing one keeps a
 * realistic default, an empty one is an empty file):
 *   0 SMMU name   1 osrelease   2 hostname   3 machine-id   4 cpu/online
 *   5 node/online   6 range_invalidation   7 stages   8 granules
 *   9 numa_node   10 iommu_group link target   11 inv_threshold
 *   12 teardown_mode   13 boot_id   14 state file   15 debugfs counters
 *
 * Invariants: a second scan of the same tree gives an equal topology;
 * after recovery every knob the state file says smmud wrote (and still
 * holds that value, and both values are ones the kernel takes) has its
 * original back; a state file on disk has its copy beside it; a write
 * followed by a restore leaves the knob file with the value it had, and
 * no state file.
 */
#include "config.h"
#include "fuzz.h"
#include "knobs.h"
#include "profile.h"
#include "state.h"
#include "topology.h"

enum {
	F_NAME, F_OSRELEASE, F_HOSTNAME, F_MACHINE_ID, F_CPUS, F_NODES, F_RIL, F_STAGES,
	F_GRANULES, F_NUMA, F_GROUP_LINK, F_THRESHOLD, F_MODE, F_BOOT_ID, F_STATE, F_COUNTERS,
	_F_MAX,
};

static const char *const defaults[_F_MAX] = {
	[F_NAME] = "smmu3.0x0000000009050000",
	[F_OSRELEASE] = "6.12.117-smmud\n",
	[F_HOSTNAME] = "testhost\n",
	[F_MACHINE_ID] = "0123456789abcdef0123456789abcdef\n",
	[F_CPUS] = "0-1\n",
	[F_NODES] = "0\n",
	[F_RIL] = "0\n",
	[F_STAGES] = "s1 s2\n",
	[F_GRANULES] = "4K 64K\n",
	[F_NUMA] = "-1\n",
	[F_GROUP_LINK] = "../../../../../../kernel/iommu_groups/12",
	[F_THRESHOLD] = "auto\n",
	[F_MODE] = "strict\n",
	[F_BOOT_ID] = "5f1c0a0e-9b7f-4f0c-9a55-3d1ad6a1c7b2\n",
	[F_STATE] = NULL, /* none */
	[F_COUNTERS] = "tlbi_asid 10\ntlbi_va 2000\n",
};

static char *root, *rundir, *confdir;
static Config *config;

static const char config_text[] =
	"[Trigger]\nExitLimit=2\n"
	"[Profile lab]\nMatchHostname=lab-*\nStormThreshold=8\n"
	"[Profile no-ril]\nMatchRangeInvalidation=no\nMatchKernel=tunables\nMatchSmmu=smmu3.*\n"
	"StormThreshold=auto\n"
	"[Profile canary]\nCanary=50%\nMatchSmmuCount=1-4\nStormTeardownMode=strict\n";

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	_cleanup_strv_free_ char **errors = NULL;
	_cleanup_free_ char *conf = NULL;

	fuzz_quiet_logs();
	root = fuzz_path("root");
	rundir = fuzz_path("run");
	confdir = fuzz_path("conf.d");
	conf = fuzz_path("smmud.conf");
	fuzz_write_string(conf, config_text);
	if (config_load(&(ConfigSource){ .file = conf, .file_required = true, .dropin_dir = "" },
			&config, &errors) < 0) {
		for (size_t i = 0; errors && errors[i]; i++)
			fprintf(stderr, "%s\n", errors[i]);
		abort();
	}
	return 0;
}

static bool name_ok(const char *s)
{
	return *s && strlen(s) < 200 && !strchr(s, '/') && !streq(s, ".") && !streq(s, "..");
}

static void put(const char *rel, const char *text)
{
	_cleanup_free_ char *p = path_join(root, rel);

	if (!p)
		abort();
	if (text)
		fuzz_write_string(p, text);
}

/* The first line of a file, or NULL. */
static char *first_line(const char *path)
{
	char *v = NULL;

	return read_one_line_file(path, &v) < 0 ? NULL : v;
}

static void build_tree(char **f, const char **name)
{
	_cleanup_free_ char *dev = NULL, *rel = NULL, *link = NULL, *target = NULL, *p = NULL;

	*name = f[F_NAME] && name_ok(f[F_NAME]) ? f[F_NAME] : defaults[F_NAME];
	if (asprintf(&dev, "sys/devices/platform/9050000.smmuv3/iommu/%s", *name) < 0)
		abort();
	put("proc/sys/kernel/osrelease", f[F_OSRELEASE]);
	put("proc/sys/kernel/hostname", f[F_HOSTNAME]);
	put("etc/machine-id", f[F_MACHINE_ID]);
	put("sys/devices/system/cpu/online", f[F_CPUS]);
	put("sys/devices/system/node/online", f[F_NODES]);
	put("proc/sys/kernel/random/boot_id", f[F_BOOT_ID]);

#define PUT_DEV(sub, field)                                            \
	do {                                                           \
		_cleanup_free_ char *_r = path_join(dev, sub);         \
		if (!_r)                                               \
			abort();                                       \
		put(_r, f[field]);                                     \
	} while (0)
	PUT_DEV("arm-smmu-v3/range_invalidation", F_RIL);
	PUT_DEV("arm-smmu-v3/stages", F_STAGES);
	PUT_DEV("arm-smmu-v3/granules", F_GRANULES);
	PUT_DEV("arm-smmu-v3/inv_threshold", F_THRESHOLD);
	PUT_DEV("arm-smmu-v3/teardown_mode", F_MODE);
	PUT_DEV("devices/0000:00:02.0/numa_node", F_NUMA);
#undef PUT_DEV

	if (asprintf(&rel, "%s/devices/0000:00:02.0/iommu_group", dev) < 0)
		abort();
	link = path_join(root, rel);
	/* An empty target cannot be a symlink: the device then has no group link. */
	if (!link || (*f[F_GROUP_LINK] && symlink(f[F_GROUP_LINK], link) < 0))
		abort();
	put("sys/kernel/iommu_groups/12/type", "DMA\n");

	p = path_join(root, "sys/class/iommu/x");
	if (!p)
		abort();
	fuzz_mkdir_parents(p);
	free(p);
	if (asprintf(&p, "%s/sys/class/iommu/%s", root, *name) < 0 ||
	    asprintf(&target, "../../devices/platform/9050000.smmuv3/iommu/%s", *name) < 0 ||
	    symlink(target, p) < 0)
		abort();
	free(rel);
	rel = NULL;
	if (asprintf(&rel, "sys/kernel/debug/iommu/arm-smmu-v3/%s/counters", *name) < 0)
		abort();
	put(rel, f[F_COUNTERS]);
	if (f[F_STATE]) {
		_cleanup_free_ char *sp = path_join(rundir, STATE_FILE_NAME);

		if (!sp)
			abort();
		fuzz_write_string(sp, f[F_STATE]);
	}
}

static void check_topology(const Topology *t, const char *name)
{
	HostFacts host;

	FUZZ_CHECK(t->n_smmus <= 1);
	FUZZ_CHECK(t->n_nodes >= 1);
	profile_host_facts(t, &host);
	for (size_t i = 0; i < t->n_smmus; i++) {
		const Smmu *s = &t->smmus[i];
		SmmuFacts facts;
		const char *profile = NULL;
		const SmmuSettings *set;

		FUZZ_CHECK(streq(s->name, name) && topology_find(t, name) == s);
		FUZZ_CHECK(s->n_groups <= s->n_devices);
		for (size_t g = 0; g < s->n_groups; g++)
			FUZZ_CHECK(topology_smmu_for_group(t, s->groups[g]) == s);
		profile_smmu_facts(s, &facts);
		set = config_settings_for(config, &host, &facts, &profile);
		FUZZ_CHECK(set);
	}
}

/* The knob file's first line must be want (NULL: unreadable before too). */
static void check_knob_file(const Knob *k, const char *want)
{
	_cleanup_free_ char *now = first_line(k->path);

	if (want)
		FUZZ_CHECK(now && streq(now, want));
}

/* The state file smmud wrote has its copy, the same text; no state file, no copy. */
static void check_copy(void)
{
	_cleanup_free_ char *sp = path_join(rundir, STATE_FILE_NAME);
	_cleanup_free_ char *cp = path_join(rundir, STATE_COPY_NAME);
	_cleanup_free_ char *a = NULL, *b = NULL;
	int ra, rb;

	if (!sp || !cp)
		abort();
	ra = read_full_file(sp, 1 << 20, &a);
	rb = read_full_file(cp, 1 << 20, &b);
	FUZZ_CHECK(ra == -ENOENT ? rb == -ENOENT : ra < 0 || (rb == 0 && streq(a, b)));
}

static void exercise_knobs(const Topology *t, const char *state_text)
{
	_cleanup_(knobs_freep) Knobs *ks = NULL;
	_cleanup_(state_freep) State *st = NULL;
	_cleanup_free_ char *err = NULL, *sp = path_join(rundir, STATE_FILE_NAME);
	char *before[_KNOB_ATTR_MAX] = {};
	struct stat stbuf;
	int r;

	if (!sp)
		abort();
	/* What the state file asks for, before recovery reads it. */
	if (state_text && state_parse(state_text, &st, &err) < 0)
		st = NULL;

	FUZZ_CHECK(knobs_new(root, rundir, false, &ks) == 0);
	if (ks->boot_id)
		FUZZ_CHECK(value_is_token(ks->boot_id));
	r = knobs_recover(ks);
	(void)r;
	/* Every entry whose knob held exactly what smmud wrote has its original back. */
	for (size_t i = 0; st && i < st->n_entries; i++) {
		const StateEntry *e = &st->entries[i];
		int a = knob_attr_from_string(e->attr);
		const char *reason;
		Knob *k;
		_cleanup_free_ char *now = NULL;

		if (state_entry_check(e, &reason) < 0 ||
		    (st->boot_id && ks->boot_id && !streq(st->boot_id, ks->boot_id)))
			continue;
		k = knobs_get(ks, e->smmu, (KnobAttr)a);
		FUZZ_CHECK(k);
		now = first_line(k->path);
		if (now)
			FUZZ_CHECK(!streq(now, e->written) || streq(e->written, e->original) ||
				   strlen(e->original) >= KNOB_VALUE_MAX);
	}
	/* Recovery leaves nothing held that it could restore. */
	if (!knobs_holding(ks))
		FUZZ_CHECK(stat(sp, &stbuf) < 0);
	check_copy();

	/* A storm write and its restore, on the SMMU of the tree. */
	for (size_t i = 0; i < t->n_smmus; i++) {
		if (!t->smmus[i].tunable)
			continue;
		for (int a = 0; a < _KNOB_ATTR_MAX; a++) {
			Knob *k = knobs_get(ks, t->smmus[i].name, (KnobAttr)a);

			FUZZ_CHECK(k);
			before[a] = first_line(k->path);
			r = knobs_set(ks, k, a == KNOB_THRESHOLD ? "16" : "deferred", "fuzz");
			if (r == 0 && before[a] && value_is_token(before[a]) &&
			    strlen(before[a]) < KNOB_VALUE_MAX)
				check_knob_file(k, a == KNOB_THRESHOLD ? "16" : "deferred");
		}
		FUZZ_CHECK(knobs_restore_all(ks, "fuzz") == 0);
		for (int a = 0; a < _KNOB_ATTR_MAX; a++) {
			Knob *k = knobs_get(ks, t->smmus[i].name, (KnobAttr)a);

			/* Never a lost original: the file has what it had before the write. */
			if (k->owner == KNOB_OWNER_SMMUD)
				check_knob_file(k, before[a]);
			free(before[a]);
		}
	}
	if (!knobs_holding(ks))
		FUZZ_CHECK(stat(sp, &stbuf) < 0);
	check_copy();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *f[_F_MAX];
	_cleanup_(topology_freep) Topology *t = NULL, *t2 = NULL;
	const char *name;
	size_t n;
	int r;

	n = fuzz_split(data, size, f, _F_MAX);
	for (size_t i = n; i < _F_MAX; i++)
		if (defaults[i] && !(f[i] = strdup(defaults[i])))
			abort();
	fuzz_rm_rf(root);
	fuzz_rm_rf(rundir);
	if (mkdir(root, 0755) < 0 || mkdir(rundir, 0755) < 0)
		abort();
	build_tree(f, &name);

	r = topology_scan(root, &t);
	FUZZ_CHECK(r == 0);
	check_topology(t, name);
	r = topology_scan(root, &t2);
	FUZZ_CHECK(r == 0 && topology_equal(t, t2));

	exercise_knobs(t, f[F_STATE]);
	fuzz_free_fields(f, _F_MAX);
	return 0;
}
