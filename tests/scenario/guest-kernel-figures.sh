#!/bin/sh
# The kernel series' own figures, guest side (packed as a case by
# tests/scenario/kernel-figures; profile ril-ignored): one run of the
# test-only unmap trigger per case, each between two QEMU trace marks so
# that the host can count the SMMU commands QEMU executed for it (traced
# boot), and timed by the trigger (untraced boot).  On the patched kernel
# the debugfs counters are read as well.  Prints one line per case:
#   KFIG case=NAME mark=N unmap_ns=.. [tlbi_total=.. context_fallbacks=..]
# Kernel command line: smmud.kfig_traced=1 leaves out the cases whose
# command trace would be too large (64 GiB and 1 TiB).
# profiles: ril-ignored
# timeout: 900
set -u
. /tests/lib.sh

traced=0
for w in $(cat /proc/cmdline); do
	case $w in smmud.kfig_traced=*) traced=${w#*=} ;; esac
done
trig=/sys/kernel/debug/iommu/unmap_trigger
dbg=$(ls -d /sys/kernel/debug/iommu/arm-smmu-v3/* 2>/dev/null | head -n1)
sys=$(ls -d /sys/class/iommu/*/arm-smmu-v3 2>/dev/null | head -n1)
[ -e "$trig" ] || { not_ok "unmap trigger present" "no $trig"; exit 0; }
bdf=$(edu 4)
[ -e "/sys/bus/pci/devices/$bdf/driver" ] && echo "$bdf" >"/sys/bus/pci/devices/$bdf/driver/unbind"

# What counting costs, first, before anything opens the counters (which
# turns counting on for good): the unmap of 4 GiB of 2 MiB blocks with the
# 6.12 tunables (2^20 TLBI commands), three times uncounted, three counted.
if [ "$traced" != 1 ] && [ -n "$dbg" ] && [ -n "$sys" ]; then
	printf 0 >"$sys/inv_threshold"
	printf strict >"$sys/teardown_mode"
	runs() {
		for _ in 1 2 3; do
			echo "dev=$bdf size=4G attach=1" >"$trig"
			sed -n 's/.* unmap_ns=\([0-9]*\).*/\1/p' "$trig"
		done | sort -n | sed -n 2p
	}
	off=$(runs)
	echo 1 >"$dbg/reset"
	on=$(runs)
	n=$(sed -n 's/^tlbi_total //p' "$dbg/counters")
	echo "KFIG case=counting-cost unmap_ns_off=$off unmap_ns_on=$on cmds=$((n / 3))"
	printf auto >"$sys/inv_threshold"
	printf deferred >"$sys/teardown_mode"
fi
[ -n "$dbg" ] && echo 1 >"$dbg/reset"

mark=10
# fig NAME ARGS: one trigger run between marks $mark and $mark+1.
fig() {
	name=$1
	shift
	[ -n "$dbg" ] && echo 1 >"$dbg/reset"
	trace_mark "$mark"
	echo "dev=$bdf $*" >"$trig" || { not_ok "kernel figure $name" "trigger failed"; return; }
	trace_mark $((mark + 1))
	line="KFIG case=$name mark=$mark $(sed 's/^dev=[^ ]* //' "$trig")"
	if [ -n "$dbg" ]; then
		line="$line $(tr ' ' '=' <"$dbg/counters" | tr '\n' ' ')"
	fi
	echo "$line"
	ok "kernel figure $name"
	mark=$((mark + 2))
}

g4=4294967296
fig attached-1g-4k-one-call-1g-aligned size=1G pgsize=4K attach=1 iova=$g4
fig attached-1g-4k-one-call-2m-aligned size=1G pgsize=4K attach=1 iova=$((g4 + 2097152))
fig attached-1g-4k-one-call-4k-offset size=1G pgsize=4K attach=1 iova=$((g4 + 4096))
fig attached-1g-4k-2m-calls size=1G pgsize=4K chunk=2M attach=1 iova=$g4
fig vfio-style-1g-4k size=1G pgsize=4K chunk=2M attach=2 iova=$g4
fig attached-1g-2m-one-call size=1G attach=1 iova=$g4
if [ "$traced" != 1 ]; then
	fig attached-64g-2m-one-call size=64G attach=1
	# 1 TiB on 6.12 is a minute of soft lockup: the patched kernel only.
	[ -n "$sys" ] && fig attached-1t-2m-one-call size=1T attach=1
fi
echo "$bdf" >/sys/bus/pci/drivers_probe
echo "KFIG end"
