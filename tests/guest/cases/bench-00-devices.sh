#!/bin/sh
# The bench's ground: an SMMUv3, at least four PCI devices bound to
# vfio-pci, each alone in its own IOMMU group with its /dev/vfio node.
# profiles: all
# timeout: 30
set -eu
. /tests/lib.sh

smmus=$(ls -d /sys/class/iommu/smmu3.* 2>/dev/null | wc -l)
check "an SMMUv3 is registered ($smmus)" "$smmus" -ge 1

n=0 alone=0 groups=
for bdf in $SMMUD_VFIO_BDFS; do
	d=/sys/bus/pci/devices/$bdf
	drv=$(readlink "$d/driver" || true)
	g=$(readlink "$d/iommu_group" || true)
	g=${g##*/}
	[ "${drv##*/}" = vfio-pci ] && [ -c "/dev/vfio/$g" ] && n=$((n + 1))
	[ "$(ls "/sys/kernel/iommu_groups/$g/devices" | wc -l)" -eq 1 ] && alone=$((alone + 1))
	groups="$groups $g"
	echo "$bdf group $g driver ${drv##*/}"
done
check "at least 4 devices bound to vfio-pci with /dev/vfio nodes ($n)" "$n" -ge 4
check "each device alone in its IOMMU group ($alone of $n)" "$alone" -eq "$n"
distinct=$(echo "$groups" | tr ' ' '\n' | sed '/^$/d' | sort -u | wc -l)
check "groups distinct ($distinct)" "$distinct" -eq "$n"
edus=$(echo $SMMUD_EDU_BDFS | wc -w)
check "at least 4 edu devices for DMA checks ($edus)" "$edus" -ge 4

# The boot profile took effect: with ril-ignored the driver must not use
# range invalidation (once the test-only switch and the sysfs exist).
param=/sys/module/arm_smmu_v3/parameters/test_ignore_ril
for a in /sys/class/iommu/smmu3.*/arm-smmu-v3/*; do
	[ -f "$a" ] && echo "${a#/sys/class/iommu/}: $(cat "$a" 2>/dev/null | head -n1)"
done
ril=$(cat /sys/class/iommu/smmu3.*/arm-smmu-v3/range_invalidation 2>/dev/null | head -n1)
case $SMMUD_PROFILE in
ril-ignored)
	if [ -e "$param" ]; then
		check "test_ignore_ril is set in profile ril-ignored" "$(cat "$param")" = Y
		[ -n "$ril" ] && check "the SMMU reports no range invalidation in profile ril-ignored" "$ril" = 0
	else
		ok "profile ril-ignored # SKIP the kernel has no test_ignore_ril"
	fi
	;;
ril)
	[ -n "$ril" ] && check "the SMMU reports range invalidation in profile ril" "$ril" = 1
	;;
esac
exit 0
