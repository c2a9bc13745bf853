#!/bin/sh
# What the debugfs counters cost, and that they cost nothing until read:
# the same unmap of 4 GiB of 2 MiB blocks with the 6.12 tunables (one
# million TLBI commands, each counted by opcode once counting is on), three
# times before anything has opened the counters (a static key keeps every
# counting site a patched-out branch), then three times after.  Runs before
# any other case opens them (daemon-10 starts smmud, which reads them).
# profiles: ril-ignored
# timeout: 240
set -u
. /tests/lib.sh

trig=/sys/kernel/debug/iommu/unmap_trigger
dbg=$(ls -d /sys/kernel/debug/iommu/arm-smmu-v3/* 2>/dev/null | head -n1)
sys=$(ls -d /sys/class/iommu/*/arm-smmu-v3 2>/dev/null | head -n1)
[ -e "$trig" ] || { ok "counting cost # SKIP no unmap trigger (testing patches not applied)"; exit 0; }
[ -n "$dbg" ] && [ -n "$sys" ] || { ok "counting cost # SKIP kernel without the arm-smmu-v3 series"; exit 0; }
bdf=$(edu 4)
[ -e "/sys/bus/pci/devices/$bdf/driver" ] && echo "$bdf" >"/sys/bus/pci/devices/$bdf/driver/unbind"
printf 0 >"$sys/inv_threshold"
printf strict >"$sys/teardown_mode"

# unmap_times N: unmap_ns of N runs, space-separated
unmap_times() {
	t=
	for _ in $(seq "$1"); do
		echo "dev=$bdf size=4G attach=1" >"$trig" || { echo fail; return; }
		t="$t $(sed -n 's/.* unmap_ns=\([0-9]*\).*/\1/p' "$trig")"
	done
	echo $t
}
median() { echo "$@" | tr ' ' '\n' | sort -n | sed -n 2p; }

off=$(unmap_times 3)
# First open of the counters: they start now, so they must be (nearly) 0
# after a million commands went by uncounted.
eval "$(sed 's/^\([a-z0-9_]*\) \([0-9]*\)$/C_\1=\2/' "$dbg/counters")"
check "nothing counted before the first open ($C_tlbi_total TLBI after 3 million issued)" "$C_tlbi_total" -lt 100
echo 1 >"$dbg/reset"
on=$(unmap_times 3)
eval "$(sed 's/^\([a-z0-9_]*\) \([0-9]*\)$/C_\1=\2/' "$dbg/counters")"
check "counted once open (tlbi_total $C_tlbi_total >= 3 x 2^20)" "$C_tlbi_total" -ge 3145728
moff=$(median $off) mon=$(median $on)
echo "# unmap_ns off: $off; on: $on"
echo "SMMUD-BENCH: kernel counting-cost unmap_ns_off=$moff unmap_ns_on=$mon cmds=$((C_tlbi_total / 3))"
ok "counting cost: median unmap of 4 GiB (2^20 TLBI) $((moff / 1000)) us uncounted, $((mon / 1000)) us counted ($(( (mon - moff) * 1000 / (C_tlbi_total / 3) )) ps per command)"

printf auto >"$sys/inv_threshold"
printf deferred >"$sys/teardown_mode"
echo "$bdf" >/sys/bus/pci/drivers_probe
