#!/bin/sh
# iommufd: vfio-vmm with the VFIO device cdev bound to /dev/iommu, an IOAS,
# and a HWPT allocated for the device and attached to it.  Each teardown
# must leave the old IOVAs faulting (QEMU's IOTLB caches, so a skipped
# invalidation reads stale data):
#   - unmap while attached;
#   - detach: the device leaves the HWPT, the IOAS is unmapped while
#     nothing is attached (deferred mode skips it), the same HWPT (same
#     domain, same ASID) is attached again and the old IOVAs are read
#     through it;
#   - close: device and iommufd closed with the mappings in place, then a
#     fresh IOAS and HWPT (which may get the dead one's ASID) read them;
# in both teardown modes, and with the counters of the detach in deferred
# mode: no TLBI by address, one context invalidation at the detach.
# profiles: all
# timeout: 240
set -u
. /tests/lib.sh

bdf=$(edu 4)
[ -n "$bdf" ] || bdf=$(edu 1)
if [ ! -c /dev/iommu ] || ! ls -d "/sys/bus/pci/devices/$bdf/vfio-dev/vfio"* >/dev/null 2>&1; then
	not_ok "iommufd and the VFIO device cdev" "no /dev/iommu or vfio-dev for $bdf (CONFIG_IOMMUFD, CONFIG_VFIO_DEVICE_CDEV)"
	exit 0
fi
sys=$(ls -d /sys/class/iommu/*/arm-smmu-v3 2>/dev/null | head -n1)
dbg=$(ls -d /sys/kernel/debug/iommu/arm-smmu-v3/* 2>/dev/null | head -n1)
mode() { [ -n "$sys" ] && printf '%s' "$1" >"$sys/teardown_mode"; }

for m in deferred strict; do
	[ -n "$sys" ] || [ "$m" = deferred ] || continue
	mode "$m"
	for lay in 4k thp; do
		for td in unmap detach close; do
			vmm "iommufd $m: $lay 32 MiB, teardown $td, DMA faults after" --backend iommufd \
				--bdf "$bdf" --layout "$lay" --size 32 --teardown "$td" --dma-check --dma-pages 3
			echo "# iommufd $m $lay $td: map_ms=$(kv "$VMM_OUT" map_ms) teardown_ms=$(kv "$VMM_OUT" teardown_ms) hwpt_id=$(kv "$VMM_OUT" hwpt_id)"
		done
	done
done
mode deferred

# Repeated detach/re-attach of the same HWPT in 2 MiB maps.
vmm "iommufd: 8 MiB in 2 MiB maps, detach/unmap/re-attach x8, DMA faults each time" --backend iommufd \
	--bdf "$bdf" --layout 4k --size 8 --chunk 2 --teardown detach --dma-check --dma-pages 3 --iterations 8

# What the detach teardown costs the SMMU in deferred mode.
if [ -n "$dbg" ]; then
	echo 1 >"$dbg/reset"
	vmm "iommufd: counted detach teardown" --backend iommufd --bdf "$bdf" --layout 4k --size 32 \
		--teardown detach --dma-check --dma-pages 2
	eval "$(sed 's/^\([a-z0-9_]*\) \([0-9]*\)$/C_\1=\2/' "$dbg/counters")"
	echo "# iommufd detach: tlbi_nh_va=$C_tlbi_nh_va tlbi_nh_asid=$C_tlbi_nh_asid skips=$C_deferred_skips last_detach=$C_last_detach_flushes"
	check "iommufd detach in deferred mode: no TLBI by address ($C_tlbi_nh_va)" "$C_tlbi_nh_va" -eq 0
	check "iommufd detach in deferred mode: the unmap while detached was skipped ($C_deferred_skips)" "$C_deferred_skips" -ge 1
	check "iommufd detach in deferred mode: a context invalidation per detach ($C_last_detach_flushes detaches, $C_tlbi_nh_asid ASID TLBI)" \
		"$C_last_detach_flushes" -ge 2 -a "$C_tlbi_nh_asid" -eq "$C_last_detach_flushes"
fi
