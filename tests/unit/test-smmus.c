// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The managed SMMUs: a rescan keeps an SMMU's storm, a new SMMU starts
 * afresh and a gone one's knobs are forgotten; the mode follows the
 * kernel and Manage=; leaving management puts the originals back; what a
 * decision asks of each knob ("keep" before any), what "keep" in the
 * baseline stands for; the storm values armed below the limits only; a
 * knob already at its storm value let go only after the storm's write.
 * Knobs are files of a temporary fake sysfs tree.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "log.h"
#include "smmus.h"

#define A "smmu3.0x0000000009050000"
#define B "smmu3.0x0000000009060000"
#define S USEC_PER_SEC
#define T0 (1000 * S)

typedef struct Host {
	char root[64];
	char run[96];
	uint32_t groups_a[1], groups_b[1];
	Smmu smmus[2];
	Topology topology;
	HostFacts facts;
	Config *config;
	Knobs *knobs;
	SmmuSet set;
} Host;

static void put(const Host *h, const char *smmu, const char *attr, const char *value)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/sys/class/iommu/%s/arm-smmu-v3/%s", h->root, smmu, attr);
	f = fopen(path, "we");
	assert_non_null(f);
	fprintf(f, "%s\n", value);
	assert_int_equal(fclose(f), 0);
}

static char *get(const Host *h, const char *smmu, const char *attr)
{
	char path[256];
	char *v = NULL;

	snprintf(path, sizeof(path), "%s/sys/class/iommu/%s/arm-smmu-v3/%s", h->root, smmu, attr);
	assert_int_equal(read_one_line_file(path, &v), 0);
	return v;
}

static void assert_knob(const Host *h, const char *smmu, const char *attr, const char *want)
{
	_cleanup_free_ char *v = get(h, smmu, attr);

	assert_string_equal(v, want);
}

static int host_setup(void **state)
{
	Host *h = calloc(1, sizeof(Host));
	char cmd[256];

	assert_non_null(h);
	snprintf(h->root, sizeof(h->root), "/tmp/test-smmus.XXXXXX");
	assert_non_null(mkdtemp(h->root));
	snprintf(h->run, sizeof(h->run), "%s/run", h->root);
	snprintf(cmd, sizeof(cmd), "mkdir -p %s/sys/class/iommu/" A "/arm-smmu-v3 %s/sys/class/iommu/" B
		 "/arm-smmu-v3", h->root, h->root);
	assert_int_equal(system(cmd), 0);
	put(h, A, "inv_threshold", "auto");
	put(h, A, "teardown_mode", "strict");
	put(h, B, "inv_threshold", "auto");
	put(h, B, "teardown_mode", "strict");
	h->groups_a[0] = 12;
	h->groups_b[0] = 13;
	h->smmus[0] = (Smmu){ .name = (char *)A, .tunable = true, .groups = h->groups_a, .n_groups = 1 };
	h->smmus[1] = (Smmu){ .name = (char *)B, .tunable = true, .groups = h->groups_b, .n_groups = 1 };
	h->topology = (Topology){ .smmus = h->smmus, .n_smmus = 2, .kernel = KERNEL_CAP_TUNABLES };
	h->facts = (HostFacts){ .kernel = KERNEL_CAP_TUNABLES, .n_smmus = 2 };
	h->config = config_new_defaults();
	assert_non_null(h->config);
	h->config->defaults.exit_limit = 2;
	assert_int_equal(knobs_new(h->root, h->run, false, &h->knobs), 0);
	*state = h;
	return 0;
}

static int host_teardown(void **state)
{
	Host *h = *state;
	char cmd[128];

	smmu_set_done(&h->set);
	knobs_free(h->knobs);
	config_free(h->config);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", h->root);
	assert_int_equal(system(cmd), 0);
	free(h);
	return 0;
}

static void adopt(Host *h, const Topology *t)
{
	assert_int_equal(smmu_set_adopt(&h->set, t, h->knobs), 0);
	for (size_t i = 0; i < h->set.n; i++)
		smmu_configure(h->set.items[i], h->config, t, &h->facts, h->knobs);
}

/* As the manager does: decide, apply, then arm (VMs behind it or not). */
static void decide_vms(Host *h, ManagedSmmu *ms, uint64_t now, bool vms_behind, SmmuDecided *c)
{
	smmu_decide(ms, NULL, now, c);
	smmu_apply(ms, h->knobs, false);
	smmu_arm(ms, h->knobs, vms_behind);
}

static void decide(Host *h, ManagedSmmu *ms, uint64_t now, SmmuDecided *c)
{
	decide_vms(h, ms, now, true, c);
}

/* The knobs written, in order: "attr=value,..." */
static void record_write(const Knob *k, uint64_t realtime_usec, const char *kind,
			 const char *before, const char *after, const char *detail, void *userdata)
{
	char *order = userdata;

	if (!streq(kind, "write"))
		return;
	snprintf(order + strlen(order), 128 - strlen(order), "%s%s=%s", *order ? "," : "",
		 knob_attr_to_string(k->attr), after);
}

static void test_rescan_keeps_a_storm(void **state)
{
	Host *h = *state;
	Topology only_a = h->topology;
	char order[128] = "";
	ManagedSmmu *a;
	SmmuDecided c;

	adopt(h, &h->topology);
	assert_int_equal(h->set.n, 2);
	a = smmu_set_find(&h->set, A);
	assert_non_null(a);
	assert_int_equal(a->mode, SMMU_MODE_MANAGED);
	/* Before any decision a knob is asked to keep what it has. */
	assert_string_equal(smmu_desired_value(a, KNOB_THRESHOLD), "keep");
	assert_string_equal(smmu_baseline_value(a, KNOB_THRESHOLD), "auto");

	assert_int_equal(policy_record_exit(&a->policy, a->settings, T0, 0, 0), 0);
	decide(h, a, T0, &c);
	assert_true(c.first);
	assert_int_equal(policy_record_exit(&a->policy, a->settings, T0 + S, 0, 0), 0);
	knobs_set_event_hook(h->knobs, record_write, order);
	decide(h, a, T0 + S, &c);
	knobs_set_event_hook(h->knobs, NULL, NULL);
	/* The knob a dying VMM's teardown reads first: its devices leave before it unmaps. */
	assert_string_equal(order, "teardown_mode=deferred,inv_threshold=16");
	assert_true(c.flipped);
	assert_false(c.was_storm);
	assert_int_equal(a->storm_changed_usec, T0 + S);
	assert_knob(h, A, "inv_threshold", "16");
	assert_knob(h, A, "teardown_mode", "deferred");
	assert_string_equal(smmu_desired_value(a, KNOB_THRESHOLD), "16");
	/* The original, not the storm value, is what "keep" stands for. */
	assert_string_equal(smmu_baseline_value(a, KNOB_THRESHOLD), "auto");

	/* A rescan finds the same SMMU: same record, storm and all. */
	adopt(h, &h->topology);
	assert_ptr_equal(smmu_set_find(&h->set, A), a);
	assert_true(a->decision.storm);
	assert_true(smmu_set_next_deadline(&h->set) < UINT64_MAX);

	/* B is gone: its record and knobs with it. */
	only_a.n_smmus = 1;
	adopt(h, &only_a);
	assert_int_equal(h->set.n, 1);
	assert_null(smmu_set_find(&h->set, B));
	for (size_t i = 0; i < h->knobs->n_knobs; i++)
		assert_string_equal(h->knobs->knobs[i]->smmu, A);
	assert_int_equal(knobs_restore_all(h->knobs, "stop"), 0);
	assert_knob(h, A, "inv_threshold", "auto");
}

static void test_modes(void **state)
{
	Host *h = *state;
	ManagedSmmu *a;
	SmmuDecided c;

	adopt(h, &h->topology);
	a = smmu_set_find(&h->set, A);
	assert_int_equal(policy_record_exit(&a->policy, a->settings, T0, 0, 0), 0);
	assert_int_equal(policy_record_exit(&a->policy, a->settings, T0, 0, 0), 0);
	decide(h, a, T0, &c);
	assert_knob(h, A, "inv_threshold", "16");

	/* Manage=no: decided and reported, written never; the originals come back. */
	h->config->defaults.manage = false;
	adopt(h, &h->topology);
	assert_int_equal(a->mode, SMMU_MODE_UNMANAGED);
	assert_knob(h, A, "inv_threshold", "auto");
	assert_knob(h, A, "teardown_mode", "strict");
	decide(h, a, T0 + S, &c);
	assert_true(a->decision.storm);
	assert_knob(h, A, "inv_threshold", "auto");

	/* No tunables: monitor-only, or mainline's own handling. */
	h->smmus[0].tunable = false;
	adopt(h, &h->topology);
	assert_int_equal(a->mode, SMMU_MODE_MONITOR);
	assert_null(a->knobs[KNOB_THRESHOLD]);
	h->topology.kernel = KERNEL_CAP_MAINLINE;
	adopt(h, &h->topology);
	assert_int_equal(a->mode, SMMU_MODE_MAINLINE);
	assert_string_equal(smmu_mode_to_string(a->mode), "mainline");
}

static bool armed(const Host *h, const char *smmu)
{
	return state_get(h->knobs->state, smmu, "inv_threshold") != NULL;
}

/*
 * The originals on disk before the storm's write: while VMs behind the SMMU
 * may die, and while exits are below the limits; not otherwise.
 */
static void test_arming(void **state)
{
	Host *h = *state;
	ManagedSmmu *a;
	SmmuDecided c;

	adopt(h, &h->topology);
	a = smmu_set_find(&h->set, A);
	decide_vms(h, a, T0, false, &c);
	assert_int_equal(a->decision.reason, POLICY_IDLE);
	assert_false(armed(h, A));
	assert_int_equal(a->knobs[KNOB_THRESHOLD]->armed_fd, -1);
	/* VMs behind it, no exit yet: armed now, off the exit path, and opened. */
	decide_vms(h, a, T0, true, &c);
	assert_true(armed(h, A));
	assert_string_equal(state_get(h->knobs->state, A, "inv_threshold")->written, "16");
	assert_true(a->knobs[KNOB_THRESHOLD]->armed_fd >= 0);
	assert_knob(h, A, "inv_threshold", "auto");
	/* No VM left: disarmed and closed. */
	decide_vms(h, a, T0, false, &c);
	assert_false(armed(h, A));
	assert_int_equal(a->knobs[KNOB_THRESHOLD]->armed_fd, -1);
	/* An exit below the limits, even with no VM left behind it: armed. */
	assert_int_equal(policy_record_exit(&a->policy, a->settings, T0, 0, 0), 0);
	decide_vms(h, a, T0, false, &c);
	assert_int_equal(a->decision.reason, POLICY_BELOW_LIMIT);
	assert_true(armed(h, A));
	assert_knob(h, A, "inv_threshold", "auto");
	/* The window empties: disarmed. */
	decide_vms(h, a, T0 + 10 * S, false, &c);
	assert_int_equal(a->decision.reason, POLICY_IDLE);
	assert_false(armed(h, A));

	/* Not while unmanaged. */
	h->config->defaults.manage = false;
	adopt(h, &h->topology);
	assert_int_equal(policy_record_exit(&a->policy, a->settings, T0 + 20 * S, 0, 0), 0);
	decide(h, a, T0 + 20 * S, &c);
	assert_int_equal(a->decision.reason, POLICY_BELOW_LIMIT);
	assert_false(armed(h, A));
}

/*
 * The storm's write when one knob has its storm value already (6.12's
 * teardown_mode, deferred): the other is written, and the one that needed
 * no write is let go only by the arming after the decision, not between
 * the two, ahead of the write that races the dying VMM.
 */
static void test_storm_write_first(void **state)
{
	Host *h = *state;
	ManagedSmmu *a;
	SmmuDecided c;
	Knob *mode, *threshold;

	put(h, A, "teardown_mode", "deferred");
	adopt(h, &h->topology);
	a = smmu_set_find(&h->set, A);
	mode = a->knobs[KNOB_TEARDOWN_MODE];
	threshold = a->knobs[KNOB_THRESHOLD];
	decide_vms(h, a, T0, true, &c);
	assert_true(armed(h, A));
	assert_true(mode->armed_fd >= 0);
	assert_true(threshold->armed_fd >= 0);

	assert_int_equal(policy_record_exit(&a->policy, a->settings, T0, 0, 0), 0);
	assert_int_equal(policy_record_exit(&a->policy, a->settings, T0, 0, 0), 0);
	smmu_decide(a, NULL, T0, &c);
	assert_true(a->decision.storm);
	assert_int_equal(smmu_apply(a, h->knobs, false), 0);
	/*
	 * Written through its armed file (a plain file here: cut to length),
	 * which stays open and watched: no close in the wake-up of the write.
	 */
	assert_knob(h, A, "inv_threshold", "16");
	assert_true(threshold->armed_fd >= 0);
	assert_true(threshold->armed_wd >= 0);
	/* Nothing to write: still open and watched after the apply... */
	assert_knob(h, A, "teardown_mode", "deferred");
	assert_true(mode->armed_fd >= 0);
	assert_true(mode->armed_wd >= 0);
	/*
	 * ... and through the storm: the arming that follows leaves it as it
	 * is, holding nothing (no state file entry), and so does the next
	 * decision in the storm.
	 */
	smmu_arm(a, h->knobs, true);
	assert_true(mode->armed_fd >= 0);
	assert_true(mode->armed_wd >= 0);
	assert_null(state_get(h->knobs->state, A, "teardown_mode"));
	decide_vms(h, a, T0 + S, false, &c);
	assert_true(a->decision.storm);
	assert_true(mode->armed_fd >= 0);
	assert_true(mode->armed_wd >= 0);

	/* Quiet past HoldTime: back to the baseline, armed again; the mode still as it was. */
	decide_vms(h, a, T0 + 60 * S, true, &c);
	assert_false(a->decision.storm);
	assert_knob(h, A, "inv_threshold", "auto");
	assert_knob(h, A, "teardown_mode", "deferred");
	assert_true(mode->armed_fd >= 0);
	assert_true(threshold->armed_fd >= 0);
	assert_true(armed(h, A));
	/* Someone else writes it: the next storm's write reads it first. */
	put(h, A, "teardown_mode", "strict");
	assert_int_equal(policy_record_exit(&a->policy, a->settings, T0 + 70 * S, 0, 0), 0);
	assert_int_equal(policy_record_exit(&a->policy, a->settings, T0 + 70 * S, 0, 0), 0);
	decide_vms(h, a, T0 + 70 * S, true, &c);
	assert_true(a->decision.storm);
	assert_knob(h, A, "teardown_mode", "deferred");
	assert_knob(h, A, "inv_threshold", "16");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_rescan_keeps_a_storm, host_setup, host_teardown),
		cmocka_unit_test_setup_teardown(test_modes, host_setup, host_teardown),
		cmocka_unit_test_setup_teardown(test_arming, host_setup, host_teardown),
		cmocka_unit_test_setup_teardown(test_storm_write_first, host_setup, host_teardown),
	};

	log_set_max_level(LOG_WARNING);
	return cmocka_run_group_tests_name("smmus", tests, NULL, NULL);
}
