#!/bin/sh
# The host powers off with QEMU VMs running (tests/host/run-vmm-paths):
# two QEMUs left in their machine scopes, which systemd stops at the
# power-off after this last case (SIGTERM, as machine.slice stops).  A
# trace mark before the power-off: every SMMU command after it is the
# power-off's, counted by the outer QEMU on any kernel.
# timeout: 120
set -u
. /bench/lib.sh

mib=${SMMUD_QEMU_MIB:-128}
names='' vms=0
for i in 1 2; do
	if qemu_start "off$i" "$(edu $i)" "$mib"; then
		ok "off$i: QEMU started (pid $QEMU_PID), left running for the power-off"
		names="${names:+$names,}qemu-off$i" vms=$((vms + 1))
	else
		not_ok "off$i: QEMU started" "no QMP answer"
	fi
done
check "both in their machine scopes" "$(machinectl list --no-legend | grep -c '^qemu-off')" = 2
trace_mark 90
echo "QEMU path=poweroff mark=90 vms=$vms mib=$mib names=$names"
