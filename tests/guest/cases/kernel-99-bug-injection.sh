#!/bin/sh
# The DMA-after-unmap checks catch a kernel that misses an invalidation:
# with the test-only arm_smmu_v3.test_skip_asid_inv set, ASID-wide TLB
# invalidations (free, last detach, threshold fallback) are dropped, a new
# domain reuses the ASID of the old one with its stale IOTLB entries, and
# the checks must fail.  Last of all cases: the stale entries it leaves
# would poison whatever runs after it.
# profiles: all
# timeout: 90
set -u
. /tests/lib.sh

p=/sys/module/arm_smmu_v3/parameters/test_skip_asid_inv
[ -e "$p" ] || { ok "bug injection # SKIP no test_skip_asid_inv (testing patches not applied)"; exit 0; }
# On 6.12 itself the ASID-wide invalidations it drops are redundant for
# this workload (every unmap already invalidated by address), so there is
# nothing to catch: only the series relies on them.
if ! ls -d /sys/class/iommu/*/arm-smmu-v3 >/dev/null 2>&1; then
	ok "bug injection # SKIP kernel without the arm-smmu-v3 series"
	exit 0
fi
# injected NAME ARGS...: vfio-vmm with the bug injected must fail its checks.
# vfio-vmm turns the bug on for its teardown step only (--inject) and closes
# cleanly after its checks, which invalidates what the bug left stale: a
# DMA write through a stale translation lands in memory the VMM still owns,
# never in a page the kernel has reused (a test that left stale entries for
# the next domain of that ASID once corrupted a page table that way).
injected() {
	name=$1
	shift
	VMM_RC=0
	vfio-vmm --inject "$p" "$@" >/tmp/kernel-bug.out 2>&1 || VMM_RC=$?
	echo 0 >"$p"
	sed 's/^/  /' /tmp/kernel-bug.out
	if [ "$VMM_RC" -ne 0 ]; then
		ok "$name ($(sed -n 's/^error=//p' /tmp/kernel-bug.out | tail -n1))"
	else
		not_ok "$name" "every check passed with the bug injected"
	fi
}
injected "skipped ASID invalidations are caught by the DMA checks" \
	--bdf "$(edu 2)" --layout 4k --size 8 --teardown close --dma-check --dma-pages 3 --iterations 6
# The iommufd re-attach check: a HWPT detached, unmapped while detached and
# attached again serves stale translations if the last-detach invalidation
# is lost.
if [ -c /dev/iommu ]; then
	injected "skipped ASID invalidations are caught through a re-attached iommufd HWPT" \
		--backend iommufd --bdf "$(edu 3)" --layout 4k --size 8 --teardown detach --dma-check \
		--dma-pages 3 --iterations 3
fi
