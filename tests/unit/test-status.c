// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The status line (systemd's STATUS=, the D-Bus Status property) for each
 * kind of host: no SMMU, the kernel series, an unpatched kernel, a kernel
 * that handles storms itself, a dry run; a metrics file that cannot be written.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "status.h"

static int probe_nothing(pid_t pid, bool want_files, VmProcess *ret, void *userdata)
{
	*ret = (VmProcess){ .state = VM_PROCESS_GONE };
	return 0;
}

static void assert_status(const DaemonView *v, const char *want)
{
	_cleanup_free_ char *s = NULL;

	assert_int_equal(status_format(v, &s), 0);
	assert_string_equal(s, want);
}

static void test_status_lines(void **state)
{
	ManagedSmmu a = { .name = (char *)"a", .mode = SMMU_MODE_MANAGED, .decided = true,
			  .decision = { .storm = true } };
	ManagedSmmu b = { .name = (char *)"b", .mode = SMMU_MODE_UNMANAGED };
	ManagedSmmu *items[] = { &a, &b };
	SmmuSet none = {}, two = { .items = items, .n = 2 };
	Topology t = { .kernel = KERNEL_CAP_TUNABLES, .osrelease = (char *)"7.1.0" };
	VmModel *vms = NULL;
	DaemonView v;

	assert_int_equal(vm_model_new(probe_nothing, NULL, &vms), 0);
	v = (DaemonView){ .smmus = &none, .vms = vms };
	assert_status(&v, "No SMMUv3 found; watching 0 VM(s).");
	v.topology = &t;
	assert_status(&v, "No SMMUv3 found; watching 0 VM(s).");
	v.smmus = &two;
	assert_status(&v, "1 of 2 SMMU(s) managed, 1 in storm; 0 VM(s).");
	v.dry_run = true;
	assert_status(&v, "Dry run: 1 of 2 SMMU(s) managed, 1 in storm; 0 VM(s).");
	t.kernel = KERNEL_CAP_NONE;
	assert_status(&v, "Monitor-only: kernel has no SMMUv3 tunables. 2 SMMU(s), 0 VM(s), 1 storm(s).");
	t.kernel = KERNEL_CAP_MAINLINE;
	assert_status(&v, "Kernel 7.1.0 handles teardown storms itself: reporting only. 2 SMMU(s), "
			  "0 VM(s), 1 storm(s).");
	/* An unwritable MetricsFile= is in the status, not only in the log. */
	t.kernel = KERNEL_CAP_TUNABLES;
	v.dry_run = false;
	v.metrics_error = "cannot write metrics to /m/smmud.prom: Read-only file system";
	assert_status(&v, "1 of 2 SMMU(s) managed, 1 in storm; 0 VM(s). Metrics: cannot write "
			  "metrics to /m/smmud.prom: Read-only file system.");
	vm_model_free(vms);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status_lines),
	};

	return cmocka_run_group_tests_name("status", tests, NULL, NULL);
}
