#!/bin/sh
# The figures of the arm-smmu-v3 series, from its debugfs counters, with
# range invalidation ignored (the SMMUs that lock up hosts), driving the
# test-only unmap trigger on an edu device taken from vfio-pci:
#   - 1 GiB of 4 KiB pages unmapped from an attached domain in one call,
#     at a 1 GiB, a 2 MiB and a 4 KiB offset: <= 3 TLBI each, the whole run
#     (attach, map, unmap, detach, free) included;
#   - the same in 2 MiB calls: one invalidation per call, <= 514;
#   - the 6.12 decisions back with the 6.12 tunables (0, strict);
#   - the same torn down VFIO-style (detach, then unmap) in deferred mode:
#     no TLBI during the unmap, one ASID invalidation per domain;
#   - one unmap of 1 TiB of 2 MiB blocks: < 100 ms, <= 3 TLBI (6.12: 54 s,
#     soft lockup), and 64 GiB with the 6.12 tunables: the 16.8 M back;
#   - counted is issued: a live VM's domain's own TLBI count (debugfs
#     "domains", what the driver decided) equals the TLBI commands that
#     reached the queue (debugfs "counters", counted by opcode).
# profiles: ril-ignored
# timeout: 240
set -u
. /tests/lib.sh

trig=/sys/kernel/debug/iommu/unmap_trigger
dbg=$(ls -d /sys/kernel/debug/iommu/arm-smmu-v3/* 2>/dev/null | head -n1)
sys=$(ls -d /sys/class/iommu/*/arm-smmu-v3 2>/dev/null | head -n1)
bdf=$(edu 4)
[ -n "$bdf" ] || bdf=$(edu 1)
[ -e "$trig" ] || { not_ok "unmap trigger present" "no $trig (testing patches not applied)"; exit 0; }

# Take the device from vfio-pci (closed, so nothing uses it) for the trigger.
[ -e "/sys/bus/pci/devices/$bdf/driver" ] && echo "$bdf" >"/sys/bus/pci/devices/$bdf/driver/unbind"

# run LABEL ARGS: one trigger run; sets UNMAP_NS and, with the series, C_<name>.
run() {
	label=$1
	shift
	[ -n "$dbg" ] && echo 1 >"$dbg/reset"
	if ! echo "dev=$bdf $*" >"$trig"; then
		not_ok "$label" "trigger failed: $(cat "$trig")"
		return 1
	fi
	res=$(cat "$trig")
	UNMAP_NS=$(echo "$res" | sed -n 's/.* unmap_ns=\([0-9]*\).*/\1/p')
	echo "# $label: $res"
	if [ -n "$dbg" ]; then
		eval "$(sed 's/^\([a-z0-9_]*\) \([0-9]*\)$/C_\1=\2/' "$dbg/counters")"
		echo "# $label: tlbi_total=$C_tlbi_total tlbi_nh_va=$C_tlbi_nh_va tlbi_nh_asid=$C_tlbi_nh_asid cmd_sync=$C_cmd_sync fallbacks=$C_context_fallbacks skips=$C_deferred_skips last_detach=$C_last_detach_flushes"
		echo "SMMUD-BENCH: kernel $label unmap_ns=$UNMAP_NS tlbi_total=$C_tlbi_total cmd_sync=$C_cmd_sync fallbacks=$C_context_fallbacks skips=$C_deferred_skips"
	fi
	ok "$label ran"
}
tune() { printf '%s' "$1" >"$sys/inv_threshold"; printf '%s' "$2" >"$sys/teardown_mode"; }

if [ -z "$dbg" ] || [ -z "$sys" ]; then
	# Unpatched kernel: timing only, for comparison.
	run "1 GiB of 4 KiB pages, attached" size=1G pgsize=4K chunk=2M attach=1 iova=4G
	echo "# unpatched: 1 GiB of 4 KiB pages took unmap_ns=$UNMAP_NS"
	run "64 GiB of 2 MiB blocks in one unmap, attached" size=64G attach=1
	echo "# unpatched: 64 GiB took unmap_ns=$UNMAP_NS"
	echo "$bdf" >/sys/bus/pci/drivers_probe
	exit 0
fi
check "range invalidation is ignored in this profile" "$(cat "$sys/range_invalidation")" = 0

tune auto deferred
# One call, the table layout shifted: whole 1 GiB table, 2 MiB tables,
# 4 KiB pages at both ends.
for off in 0 2097152 4096; do
	iova=$((4294967296 + off))
	run "1 GiB of 4 KiB pages, attached, one unmap at 4 GiB + $off" size=1G pgsize=4K attach=1 iova=$iova &&
		check "1 GiB of 4 KiB pages in one unmap at +$off: <= 3 TLBI ($C_tlbi_total)" "$C_tlbi_total" -le 3 &&
		echo "SMMUD-BENCH: kernel attached-1g-4k-one-call offset=$off tlbi_total=$C_tlbi_total unmap_ns=$UNMAP_NS"
done
run "1 GiB of 4 KiB pages, attached, 2 MiB per unmap, defaults" size=1G pgsize=4K chunk=2M attach=1 iova=4G &&
	check "1 GiB of 4 KiB pages in 2 MiB unmaps: one invalidation per call, <= 514 TLBI ($C_tlbi_total)" "$C_tlbi_total" -le 514 &&
	check "1 GiB of 4 KiB pages in 2 MiB unmaps: each 2 MiB table fell back ($C_context_fallbacks)" "$C_context_fallbacks" -ge 512

tune 0 strict
run "1 GiB of 4 KiB pages, attached, 6.12 tunables" size=1G pgsize=4K chunk=2M attach=1 iova=4G &&
	check "6.12 tunables bring back >= 262144 TLBI ($C_tlbi_total)" "$C_tlbi_total" -ge 262144 &&
	check "6.12 tunables: no fallback, no skip" "$C_context_fallbacks $C_deferred_skips $C_last_detach_flushes" = "0 0 0"

tune auto deferred
run "VFIO-style teardown (detach, then unmap 1 GiB), deferred" size=1G pgsize=4K chunk=2M attach=2 iova=4G &&
	check "deferred teardown: no TLBI by address during the unmap ($C_tlbi_nh_va)" "$C_tlbi_nh_va" -eq 0 &&
	check "deferred teardown: unmap and free skipped ($C_deferred_skips >= 513)" "$C_deferred_skips" -ge 513 &&
	check "deferred teardown: one ASID invalidation per domain (nh_asid=$C_tlbi_nh_asid, last-detach=$C_last_detach_flushes, 2 domains)" \
		"$C_tlbi_nh_asid" -eq "$C_last_detach_flushes" -a "$C_last_detach_flushes" -le 2

tune auto strict
run "VFIO-style teardown (detach, then unmap 1 GiB), strict" size=1G pgsize=4K chunk=2M attach=2 iova=4G &&
	check "strict teardown invalidates the detached domain ($C_tlbi_total)" "$C_tlbi_total" -ge 512 &&
	check "strict teardown skips nothing" "$C_deferred_skips" -eq 0

tune auto deferred
run "never-attached domain, 1 GiB of 4 KiB pages, deferred" size=1G pgsize=4K chunk=2M attach=0 iova=4G &&
	check "a never-attached domain is not skipped, it falls back ($C_context_fallbacks)" "$C_context_fallbacks" -ge 512 -a "$C_deferred_skips" -eq 0

run "one unmap of 1 TiB of 2 MiB blocks, attached, defaults" size=1T attach=1 &&
	check "1 TiB unmap in < 100 ms ($((UNMAP_NS / 1000)) us)" "$UNMAP_NS" -lt 100000000 &&
	check "1 TiB unmap: its tables freed after one context invalidation, <= 3 TLBI ($C_tlbi_total)" "$C_tlbi_total" -le 3 -a "$C_context_fallbacks" -ge 1

tune 0 strict
run "one unmap of 64 GiB of 2 MiB blocks, attached, 6.12 tunables" size=64G attach=1 &&
	check "6.12 tunables bring back >= 16777216 TLBI for 64 GiB ($C_tlbi_total)" "$C_tlbi_total" -ge 16777216

tune auto deferred
echo "$bdf" >/sys/bus/pci/drivers_probe

# Counted is issued: one live VM (its own domain) maps, DMAs and unmaps
# 64 KiB..2 MiB buffers; frozen between rounds, its domain's tlbi (decided)
# must equal the SMMU's tlbi_total (issued), both counted since the reset.
rm -f /tmp/k20-live.ready
vfio-vmm --bdf "$(edu 1)" --layout 4k --live 0 --dma-every 4 --dma-check \
	--ready-file /tmp/k20-live.ready >/tmp/k20-live.out 2>&1 &
lpid=$!
i=0
while [ ! -e /tmp/k20-live.ready ] && kill -0 $lpid 2>/dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
freeze() {
	kill -STOP "$lpid"
	while [ "$(cut -d' ' -f3 "/proc/$lpid/stat")" != T ]; do usleep 1000; done
}
freeze
echo 1 >"$dbg/reset"
kill -CONT "$lpid"
sleep 3
freeze
eval "$(sed 's/^\([a-z0-9_]*\) \([0-9]*\)$/C_\1=\2/' "$dbg/counters")"
cat "$dbg/domains"
dom=$(sed -n 's/.* tlbi=\([0-9]*\) .*/\1/p' "$dbg/domains" | awk '{ s += $1 } END { print s + 0 }')
kill -CONT "$lpid"
kill -TERM "$lpid"
VMM_RC=0
wait "$lpid" || VMM_RC=$?
vmm_report "live VM for the counted-is-issued check, every DMA check held" /tmp/k20-live.out
check "counted is issued: the domains' tlbi ($dom) = SMMU tlbi_total ($C_tlbi_total), $C_context_fallbacks fallbacks" \
	"$dom" -eq "$C_tlbi_total" -a "$C_tlbi_total" -gt 0
