// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * /proc/PID/cgroup text -> the VM's unit (the last .scope/.service
 * component), as vm_scan_pid() names VMs without machined.  The path is
 * whatever cgroup the process was put in: anyone with a delegated subtree
 * chooses its names.
 */
#include "fuzz.h"
#include "vmscan.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_quiet_logs();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	_cleanup_free_ char *text = fuzz_strndup(data, size);
	_cleanup_free_ char *unit = NULL;
	int r;

	r = vm_parse_cgroup_unit(text, &unit);
	FUZZ_CHECK(r == 0 || r == -EBADMSG);
	if (r < 0) {
		FUZZ_CHECK(!unit);
		return 0;
	}
	if (unit) {
		FUZZ_CHECK(endswith(unit, ".scope") || endswith(unit, ".service"));
		FUZZ_CHECK(!strchr(unit, '/') && !strchr(unit, '\n'));
		FUZZ_CHECK(strstr(text, unit));
	}
	return 0;
}
