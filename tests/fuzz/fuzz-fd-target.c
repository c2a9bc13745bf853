// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Targets of /proc/PID/fd links and of sysfs iommu_group links: what
 * decides whether a process is a VM and which IOMMU groups it holds.
 * Input: one byte choosing the root the links were seen under ("/" or a
 * fake tree, with or without a trailing slash), then the link target.
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
	static const char *const roots[] = { "/", "/tmp/root", "/tmp/root/", "/r" };
	_cleanup_free_ char *target = NULL, *device = NULL;
	const char *root;
	VmFdKind kind = (VmFdKind)-1;
	uint32_t group = UINT32_MAX, g2;
	int r;

	if (size < 1)
		return 0;
	root = roots[data[0] % ELEMENTSOF(roots)];
	target = fuzz_strndup(data + 1, size - 1);

	r = vm_parse_fd_target(root, target, &kind, &group, &device);
	FUZZ_CHECK(r == 0 || r == -EINVAL);
	if (r == 0) {
		FUZZ_CHECK(kind >= VM_FD_OTHER && kind <= VM_FD_IOMMUFD);
		FUZZ_CHECK((kind == VM_FD_VFIO_DEVICE) == !!device);
		if (device) {
			FUZZ_CHECK(*device && !strchr(device, '/'));
			FUZZ_CHECK(strstr(target, device));
		}
		/* A caller that does not want the device name gets the same answer. */
		{
			VmFdKind k2;
			uint32_t g3 = UINT32_MAX;

			FUZZ_CHECK(vm_parse_fd_target(root, target, &k2, &g3, NULL) == 0);
			FUZZ_CHECK(k2 == kind);
			if (kind == VM_FD_VFIO_GROUP)
				FUZZ_CHECK(g3 == group);
		}
	} else
		FUZZ_CHECK(!device);

	r = vm_parse_group_link(target, &g2);
	FUZZ_CHECK(r == 0 || r == -EINVAL);
	return 0;
}
