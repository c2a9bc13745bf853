#!/bin/sh
# DMA-after-unmap under concurrency: while the arm-smmu-v3 tunables flip
# between every mode and threshold (6.12 behaviour included) every few
# milliseconds, one VM stays attached and maps/DMAs/unmaps, and three others
# attach, map, DMA, tear down (detach first, or unmap while attached) and
# start again, each teardown followed by a DMA from the stale IOVAs that
# must fault, from a fresh container that may reuse the old ASID.  The
# third is an iommufd VMM: it detaches its device from its HWPT, unmaps
# with nothing attached, attaches the same HWPT again and reads the stale
# IOVAs through it, then closes, and the same again torn down by close.
# profiles: all
# timeout: 150
set -u
. /tests/lib.sh

sys=$(ls -d /sys/class/iommu/*/arm-smmu-v3 2>/dev/null | head -n1)
secs=12
stop=/tmp/kernel-stress.stop
rm -f "$stop"
flips=0
if [ -n "$sys" ]; then
	(
		n=0
		while [ ! -e "$stop" ]; do
			for m in strict deferred; do
				for t in auto 0 1 512 auto; do
					printf '%s' "$t" >"$sys/inv_threshold"
					printf '%s' "$m" >"$sys/teardown_mode"
					n=$((n + 1))
					usleep 3000
				done
			done
		done
		echo "$n" >/tmp/kernel-stress.flips
	) &
	flipper=$!
fi

VMM_RC=0
vfio-vmm --bdf "$(edu 1)" --layout thp --live "$secs" --dma-every 1 --dma-check \
	>/tmp/kernel-stress-live.out 2>&1 &
live=$!
vfio-vmm --bdf "$(edu 2)" --layout 4k --size 8 --teardown close --dma-check \
	--dma-pages 3 --iterations 25 >/tmp/kernel-stress-close.out 2>&1 &
close=$!
vfio-vmm --bdf "$(edu 3)" --layout thp --size 32 --chunk 2 --teardown unmap \
	--dma-check --dma-pages 3 --iterations 12 >/tmp/kernel-stress-unmap.out 2>&1 &
unmap=$!
if [ -c /dev/iommu ]; then
	(
		vfio-vmm --backend iommufd --bdf "$(edu 4)" --layout 4k --size 8 --teardown detach \
			--dma-check --dma-pages 3 --iterations 10 &&
			vfio-vmm --backend iommufd --bdf "$(edu 4)" --layout thp --size 8 \
				--teardown close --dma-check --dma-pages 3 --iterations 10
	) >/tmp/kernel-stress-iommufd.out 2>&1 &
	iommufd=$!
fi

VMM_RC=0; wait "$close" || VMM_RC=$?
vmm_report "stress: attach/map/DMA/close x25 (detach first), stale DMA faults" /tmp/kernel-stress-close.out
VMM_RC=0; wait "$unmap" || VMM_RC=$?
vmm_report "stress: attach/map/DMA/unmap x12 (attached), stale DMA faults" /tmp/kernel-stress-unmap.out
if [ -n "${iommufd:-}" ]; then
	VMM_RC=0; wait "$iommufd" || VMM_RC=$?
	vmm_report "stress: iommufd detach/unmap/re-attach x10, then close x10, stale DMA faults" \
		/tmp/kernel-stress-iommufd.out
else
	not_ok "stress: iommufd VMM" "no /dev/iommu (CONFIG_IOMMUFD)"
fi
VMM_RC=0; wait "$live" || VMM_RC=$?
vmm_report "stress: live VM map/DMA/unmap, every unmapped buffer faults" /tmp/kernel-stress-live.out

if [ -n "$sys" ]; then
	touch "$stop"
	wait "$flipper"
	flips=$(cat /tmp/kernel-stress.flips 2>/dev/null || echo 0)
	check "tunables flipped during the stress ($flips times)" "$flips" -gt 10
	printf auto >"$sys/inv_threshold"
	printf deferred >"$sys/teardown_mode"
fi
