// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The topology scan on a fake sysfs tree: an SMMU whose attributes cannot
 * be read (a read that fails with anything but "not there") is reported
 * as not tunable, with why, and the other SMMUs are scanned as usual; a
 * rescan that reads it again finds it tunable.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <sys/stat.h>

#include "log.h"
#include "topology.h"

#define A "smmu3.0x0000000009050000"
#define B "smmu3.0x0000000009060000"

static void put(const char *root, const char *smmu, const char *attr, const char *value)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/sys/class/iommu/%s/arm-smmu-v3/%s", root, smmu, attr);
	f = fopen(path, "we");
	assert_non_null(f);
	fprintf(f, "%s\n", value);
	assert_int_equal(fclose(f), 0);
}

static void make_smmu(const char *root, const char *smmu)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "mkdir -p %s/sys/class/iommu/%s/arm-smmu-v3", root, smmu);
	assert_int_equal(system(cmd), 0);
	put(root, smmu, "inv_threshold", "auto");
	put(root, smmu, "teardown_mode", "strict");
	put(root, smmu, "range_invalidation", "0");
	put(root, smmu, "stages", "s1 s2");
	put(root, smmu, "granules", "4K 64K");
}

static void test_an_unreadable_smmu_spoils_no_other(void **state)
{
	_cleanup_(topology_freep) Topology *t = NULL, *t2 = NULL;
	char root[64], path[256], cmd[128];
	const Smmu *a, *b;

	snprintf(root, sizeof(root), "/tmp/test-topology.XXXXXX");
	assert_non_null(mkdtemp(root));
	make_smmu(root, A);
	make_smmu(root, B);
	/* A read of A's features fails (EISDIR): not "missing", not fatal either. */
	snprintf(path, sizeof(path), "%s/sys/class/iommu/" A "/arm-smmu-v3/stages", root);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(mkdir(path, 0755), 0);

	assert_int_equal(topology_scan(root, &t), 0);
	assert_int_equal(t->n_smmus, 2);
	a = topology_find(t, A);
	b = topology_find(t, B);
	assert_non_null(a);
	assert_non_null(b);
	assert_false(a->tunable);
	assert_int_equal(a->error, -EISDIR);
	assert_true(b->tunable);
	assert_int_equal(b->error, 0);
	assert_int_equal(t->kernel, KERNEL_CAP_TUNABLES);

	/* Readable again: tunable, and a different topology (the manager reconfigures). */
	assert_int_equal(rmdir(path), 0);
	put(root, A, "stages", "s1 s2");
	assert_int_equal(topology_scan(root, &t2), 0);
	assert_true(topology_find(t2, A)->tunable);
	assert_int_equal(topology_find(t2, A)->error, 0);
	assert_false(topology_equal(t, t2));

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_an_unreadable_smmu_spoils_no_other),
	};

	log_set_max_level(LOG_EMERG);
	return cmocka_run_group_tests_name("topology", tests, NULL, NULL);
}
