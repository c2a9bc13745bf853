#!/bin/sh
# The KUnit cases of the invalidation series ran at boot and passed.  The
# harness reports every KTAP line of the console on its own; this case
# makes a kernel without them (or with KUnit not run) visible here.
# profiles: all
# timeout: 30
set -u
. /tests/lib.sh

if [ ! -d /sys/class/iommu ] || ! ls -d /sys/class/iommu/*/arm-smmu-v3 >/dev/null 2>&1; then
	ok "invalidation KUnit cases # SKIP kernel without the arm-smmu-v3 series"
	exit 0
fi
log=$(dmesg)
for c in arm_smmu_v3_inv_cmds_test_no_range arm_smmu_v3_inv_cmds_test_range \
	arm_smmu_v3_inv_threshold_test_auto arm_smmu_v3_inv_threshold_test_explicit \
	arm_smmu_v3_inv_skip_test arm_smmu_v3_detach_flush_test; do
	if echo "$log" | grep -q "[^t] ok [0-9]* $c\$"; then
		ok "KUnit $c passed"
	elif echo "$log" | grep -q "not ok [0-9]* $c\$"; then
		not_ok "KUnit $c passed" "it failed at boot"
	else
		not_ok "KUnit $c passed" "no result on the console (kunit.enable=1?)"
	fi
done
