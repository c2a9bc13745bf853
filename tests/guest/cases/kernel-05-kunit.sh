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
# The suite arm-smmu-v3-inv-kunit-test: the decisions, counted against the
# commands that reach the (fake) queue, the page-table freelist, and the
# attach/detach state machine on fake masters, CD 0 race included.
for c in arm_smmu_v3_inv_test_threshold arm_smmu_v3_inv_test_counted_is_issued \
	arm_smmu_v3_inv_test_freelist arm_smmu_v3_inv_test_last_detach \
	arm_smmu_v3_inv_test_never_attached arm_smmu_v3_inv_test_two_masters \
	arm_smmu_v3_inv_test_modes arm_smmu_v3_inv_test_pasid \
	arm_smmu_v3_inv_test_cd0_race; do
	if echo "$log" | grep -q "[^t] ok [0-9]* $c\$"; then
		ok "KUnit $c passed"
	elif echo "$log" | grep -q "not ok [0-9]* $c\$"; then
		not_ok "KUnit $c passed" "it failed at boot"
	else
		not_ok "KUnit $c passed" "no result on the console (kunit.enable=1?)"
	fi
done
