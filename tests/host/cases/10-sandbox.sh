#!/bin/sh
# What smmud sees from inside the sandbox its unit ships (PrivateDevices=,
# ProtectKernelTunables=, ProtectSystem=strict...): VMs found by their
# VFIO opens (inotify) though started after it, their exits heard from
# taskstats, the SMMU's knobs writable through the generator's drop-in
# (also after "systemctl daemon-reload" and a restart), the kernel's
# debugfs counters, the system bus and the private socket.
# timeout: 300
set -u
. /bench/lib.sh

st=$(status_json)
echo "$st" | jq -c '.smmus[] | {name, mode, range_invalidation}' | sed 's/^/# /'
check "smmuctl status over the private socket" -n "$st"
mode=$(echo "$st" | jq -r --arg s "$SMMU" '.smmus[] | select(.name == $s) | .mode')
check "$SMMU is managed (its tunables found and writable)" "$mode" = managed

# ---- devices: the VFIO files a VMM opens ---------------------------------
# The unit's private /dev holds only pseudo devices; smmud must still see
# the host's /dev/vfio to watch VMs start.
ns_dev=$(nsenter -t "$(smmud_pid)" -m ls /dev/vfio 2>&1 | tr '\n' ' ')
echo "# /dev/vfio in smmud's mount namespace: $ns_dev"
vmm_start vm1 --bdf "$(edu 1)" --layout 4k --size 32 --teardown exit
if vmm_ready_all 60; then ok "a VMM started after smmud has mapped its memory"; else
	not_ok "a VMM started after smmud has mapped its memory" "$(cat /tmp/vmm-vm1.out)"; fi
pid=$(vmm_pid vm1)
if wait_until 10 vm_known "$pid"; then
	ok "smmud found the VM started after it (pid $pid) by its VFIO open"
else
	not_ok "smmud found the VM started after it" "pid $pid not in smmuctl status; /dev/vfio seen by smmud: $ns_dev"
fi
pinned=$(status_json | jq -r --argjson p "$pid" '.vms[] | select(.pid == $p) | .pinned_bytes')
check "and its pinned memory (${pinned:-none} bytes of 32 MiB)" "${pinned:-0}" -ge $((32 << 20))
smmus=$(status_json | jq -r --argjson p "$pid" '.vms[] | select(.pid == $p) | .smmus | join(" ")')
check "behind $SMMU" "$smmus" = "$SMMU"

# ---- exits: taskstats ----------------------------------------------------
mark=$(journal_mark)
kill -KILL "$pid"
vm_exit_entry() { journal_since "$mark" -o cat SMMUD_DECISION=vm-exit | grep -F "(pid $pid)"; }
wait_until 10 vm_exit_entry >/dev/null
line=$(vm_exit_entry | head -n1)
echo "# $line"
case $line in
*"(taskstats,"*) ok "its exit was heard first from taskstats" ;;
*) not_ok "its exit was heard first from taskstats" "journal: '${line:-nothing}'" ;;
esac
check "it is gone from smmuctl status" "$(vm_known "$pid" && echo yes || echo no)" = no

# ---- knobs: writable through the generator's drop-in ---------------------
dropin=/run/systemd/generator/smmud.service.d/50-smmu-tunables.conf
check "the generator granted the SMMU's attribute group" \
	-n "$(grep -F "$(readlink -f "$SMMU_DIR")" "$dropin" 2>/dev/null)"
orig=$(knobs)
set_and_reset() { # WHEN
	smmuctl set "$SMMU" threshold 64 >/tmp/set.out 2>&1
	rc=$?
	got=$(cat "$THR")
	smmuctl reset "$SMMU" >/dev/null 2>&1
	check "$1: smmuctl set wrote the knob (exit $rc, inv_threshold=$got)" "$rc/$got" = 0/64
	wait_until 5 knobs_are "$orig"
	check "$1: smmuctl reset gave it back ($(knobs))" "$(knobs)" = "$orig"
}
set_and_reset "at boot"
systemctl daemon-reload
set_and_reset "after daemon-reload"
systemctl restart smmud.service
wait_until 30 sh -c '[ "$(systemctl show -p SubState --value smmud.service)" = running ]'
set_and_reset "after a restart"

# ---- debugfs: the kernel's counters --------------------------------------
stats=$(smmuctl --json stats "$SMMU" 2>&1)
direct=$(sed -n 's/^tlbi_total //p' "/sys/kernel/debug/iommu/arm-smmu-v3/$SMMU/counters")
seen=$(echo "$stats" | jq -r --arg s "$SMMU" '.smmus[$s].tlbi_total.value' 2>/dev/null)
echo "# tlbi_total: debugfs $direct, smmuctl stats $seen"
if [ -n "$seen" ] && [ "$seen" != null ] && [ "$seen" -ge "${direct:-0}" ]; then
	ok "the debugfs counters are readable by smmud (tlbi_total $seen)"
else
	not_ok "the debugfs counters are readable by smmud" "$(echo "$stats" | head -c 300)"
fi

# ---- the system bus ------------------------------------------------------
v=$(busctl get-property org.smmud1 /org/smmud1 org.smmud1.Manager Version 2>&1)
check "org.smmud1 on the system bus answers ($v)" "$v" = "s \"$(smmuctl --version | awk '{print $2}')\""
check "smmuctl --system status" -n "$(smmuctl --system --json status | jq -r .version)"
