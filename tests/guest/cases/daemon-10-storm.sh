#!/bin/sh
# smmud on the emulated SMMUv3: the arm64 daemon, with no bus daemon (it
# serves its private socket only) and a test drop-in with a short Window
# and HoldTime, finds the SMMU and its tunables; a mass shutdown of four
# vfio-vmm VMs crosses its ExitLimit and it moves the knobs to the storm
# values (seen in sysfs while the storm lasts, in smmuctl status and in its
# log), puts the baseline back after the hold time, and SIGTERM during a
# second storm puts back the values it found.
# profiles: ril-ignored
# timeout: 300
set -u
. /tests/lib.sh

dir=$(ls -d /sys/class/iommu/*/arm-smmu-v3 2>/dev/null | head -n1)
if [ -z "$dir" ]; then
	# A kernel without the series (the base variant) has nothing to tune.
	if ls -d /sys/class/iommu/smmu3.* >/dev/null 2>&1; then
		ok "smmud's storm # SKIP kernel without the arm-smmu-v3 series"
	else
		not_ok "an SMMU with the arm-smmu-v3 tunables" "no SMMUv3 under /sys/class/iommu"
	fi
	exit 0
fi
smmu=$(basename "$(dirname "$dir")")
thr=$dir/inv_threshold mode=$dir/teardown_mode
if ! command -v smmud >/dev/null || ! command -v smmuctl >/dev/null; then
	not_ok "smmud and smmuctl in the guest" "not packed into the initramfs"
	exit 0
fi
echo "# $smmu ($dir)"

# What the kernel had before this case: put back at the end whatever
# happens, so later cases (kernel-10-sysfs checks the defaults) see them.
# The baseline is "keep" (the values smmud finds); teardown_mode starts at
# strict so that the storm's deferred is a change to see.
kern_thr=$(cat "$thr") kern_mode=$(cat "$mode")
orig_thr=$kern_thr orig_mode=strict
storm_thr=16 storm_mode=deferred
[ "$orig_thr" = "$storm_thr" ] && orig_thr=auto
log=/tmp/smmud-daemon-10.log
drop=/etc/smmud/smmud.conf.d/90-guest-daemon-10.conf
smmud_pid=
cleanup() {
	if [ -n "$smmud_pid" ] && kill -0 "$smmud_pid" 2>/dev/null; then
		kill -TERM "$smmud_pid"
		wait "$smmud_pid" 2>/dev/null
	fi
	for name in $VMM_PIDS; do
		kill -KILL "$(cat "/tmp/vmm-$name.pid")" 2>/dev/null
	done
	rm -f "$drop"
	rm -rf /run/smmud
	echo "$kern_thr" >"$thr"
	echo "$kern_mode" >"$mode"
}
trap cleanup EXIT

echo "$orig_thr" >"$thr"
echo "$orig_mode" >"$mode"
mkdir -p /etc/smmud/smmud.conf.d
cat >"$drop" <<EOF
# daemon-10-storm: short times, a limit four simultaneous exits cross.
[Trigger]
Window=3s
ExitLimit=2
HoldTime=6s
[Baseline]
Threshold=keep
TeardownMode=keep
[Storm]
Threshold=$storm_thr
TeardownMode=$storm_mode
EOF

# knobs_are THR MODE SECONDS: wait until sysfs shows both (0: it did).
knobs_are() {
	i=0
	while [ "$(cat "$thr")" != "$1" ] || [ "$(cat "$mode")" != "$2" ]; do
		i=$((i + 1))
		[ "$i" -le $(($3 * 20)) ] || return 1
		usleep 50000
	done
}

# status_json: smmuctl --json status on one line, blanks removed (busybox
# grep/sed then match keys and values the same way whatever the layout).
status_json() { smmuctl --json status 2>/tmp/smmuctl.err | tr -d ' \t\n'; }
# knob_field JSON KNOB FIELD: one field of one knob of the status.
knob_field() {
	echo "$1" | sed -n "s/.*{\"name\":\"$2\",\\([^}]*\\)}.*/\\1/p" |
		sed -n "s/.*\"$3\":\"\\([^\"]*\\)\".*/\\1/p"
}
# nvms JSON: VMs smmud tracks.
nvms() { echo "$1" | grep -o '"pid":' | wc -l; }

# four_vmms: one VMM per edu device, mapped, DMA-checked, holding.
four_vmms() {
	VMM_PIDS=
	for n in 1 2 3 4; do
		vmm_start "d10-$1-vm$n" --bdf "$(edu $n)" --layout 4k --size 32 --teardown exit \
			--dma-check
	done
	if vmm_ready_all 90; then
		ok "$1: four VMMs mapped and holding"
	else
		not_ok "$1: four VMMs mapped and holding" "a VMM died or took over 90 s"
	fi
}

# tracked WHAT: wait until smmud tracks the four VMs.
tracked() {
	i=0
	while :; do
		st=$(status_json)
		n=$(nvms "$st")
		[ "$n" -ge 4 ] || [ "$i" -ge 100 ] || { i=$((i + 1)); usleep 100000; continue; }
		break
	done
	check "$1: smmud tracks the four VMs ($n)" "$n" -ge 4
}

# ---- the first storm: in, and out after the hold time ---------------------------
four_vmms storm1

mkdir -p /run/smmud
smmud --no-bus --log-level=info >"$log" 2>&1 &
smmud_pid=$!
i=0
until smmuctl status >/dev/null 2>&1; do
	i=$((i + 1))
	if [ "$i" -gt 150 ] || ! kill -0 "$smmud_pid" 2>/dev/null; then break; fi
	usleep 100000
done
if smmuctl status >/tmp/status.txt 2>&1; then
	ok "smmud serves smmuctl on the private socket without a bus daemon"
else
	not_ok "smmud serves smmuctl on the private socket" "$(tail -n1 /tmp/status.txt)"
	sed 's/^/  smmud: /' "$log"
	exit 0
fi
sed 's/^/  /' /tmp/status.txt
check "smmuctl status names $smmu" -n "$(grep -F "$smmu" /tmp/status.txt)"
st=$(status_json)
check "status --json lists the drop-in among the config files" -n "$(echo "$st" | grep -F "\"$drop\"")"
echo "$st" | grep -q "\"name\":\"$smmu\"" && ok "status --json has $smmu" ||
	not_ok "status --json has $smmu" "$st"
check "$smmu is managed (its tunables found)" -n "$(echo "$st" | grep '"mode":"managed"')"
check "kernel capability: tunables" -n "$(echo "$st" | grep '"kernel":"tunables"')"
check "inv_threshold: current $orig_thr in status ($(knob_field "$st" inv_threshold current))" \
	"$(knob_field "$st" inv_threshold current)" = "$orig_thr"
check "teardown_mode: current $orig_mode in status ($(knob_field "$st" teardown_mode current))" \
	"$(knob_field "$st" teardown_mode current)" = "$orig_mode"
check "inv_threshold: storm value $storm_thr from the drop-in" \
	"$(knob_field "$st" inv_threshold storm)" = "$storm_thr"
check "no storm before the VMs go" -z "$(echo "$st" | grep '"storm":true')"
check "knobs untouched before the storm ($(cat "$thr") $(cat "$mode"))" \
	"$(cat "$thr") $(cat "$mode")" = "$orig_thr $orig_mode"
tracked storm1

vmm_go
if knobs_are "$storm_thr" "$storm_mode" 60; then
	ok "storm 1: sysfs shows the storm values ($storm_thr, $storm_mode)"
	st=$(status_json)
	smmuctl status >/tmp/status-storm.txt 2>&1
	sed 's/^/  /' /tmp/status-storm.txt
	check "storm 1: status --json says storm" -n "$(echo "$st" | grep '"storm":true')"
	check "storm 1: status --json inv_threshold current $storm_thr" \
		"$(knob_field "$st" inv_threshold current)" = "$storm_thr"
	check "storm 1: status --json remembers the original $orig_mode" \
		"$(knob_field "$st" teardown_mode original)" = "$orig_mode"
	check "storm 1: smmuctl status shows $smmu in STORM" \
		-n "$(grep -F "$smmu" /tmp/status-storm.txt | grep -w STORM)"
else
	not_ok "storm 1: sysfs shows the storm values" "still $(cat "$thr") $(cat "$mode")"
fi
for name in $VMM_PIDS; do vmm_wait "$name"; done
grep -q "inv_threshold: $orig_thr -> $storm_thr" "$log" &&
	ok "storm 1: the log has inv_threshold $orig_thr -> $storm_thr" ||
	not_ok "storm 1: the log has inv_threshold $orig_thr -> $storm_thr" "not in $log"
grep -q "teardown_mode: $orig_mode -> $storm_mode" "$log" &&
	ok "storm 1: the log has teardown_mode $orig_mode -> $storm_mode" ||
	not_ok "storm 1: the log has teardown_mode $orig_mode -> $storm_mode" "not in $log"

# Out after HoldTime without exits (6 s here; the bound is only a guard).
if knobs_are "$orig_thr" "$orig_mode" 90; then
	ok "storm 1 over: the baseline ($orig_thr, $orig_mode) is back in sysfs"
else
	not_ok "storm 1 over: baseline back" "still $(cat "$thr") $(cat "$mode")"
fi
grep -q "inv_threshold: $storm_thr -> $orig_thr (hold\|inv_threshold: $storm_thr -> $orig_thr (quiet" "$log" &&
	ok "storm 1 over: the log restores inv_threshold after the hold time" ||
	not_ok "storm 1 over: the log restores inv_threshold after the hold time" "not in $log"
st=$(status_json)
check "storm 1 over: status --json says no storm" -z "$(echo "$st" | grep '"storm":true')"
check "storm 1 over: status --json teardown_mode current $orig_mode" \
	"$(knob_field "$st" teardown_mode current)" = "$orig_mode"
check "storm 1 over: smmud still runs" -n "$(kill -0 "$smmud_pid" 2>/dev/null && echo y)"

# ---- the second storm: SIGTERM while it lasts ----------------------------------
four_vmms storm2
# No SIGUSR1: smmud finds the new VMs by their opens of /dev/vfio (inotify).
tracked storm2
vmm_go
if knobs_are "$storm_thr" "$storm_mode" 60; then
	ok "storm 2: sysfs shows the storm values"
else
	not_ok "storm 2: sysfs shows the storm values" "still $(cat "$thr") $(cat "$mode")"
fi
check "storm 2: status --json says storm" -n "$(status_json | grep '"storm":true')"
kill -TERM "$smmud_pid"
rc=0
wait "$smmud_pid" || rc=$?
smmud_pid=
check "storm 2: smmud stops on SIGTERM with status 0 ($rc)" "$rc" -eq 0
check "storm 2: SIGTERM restored the originals ($(cat "$thr") $(cat "$mode"))" \
	"$(cat "$thr") $(cat "$mode")" = "$orig_thr $orig_mode"
grep -q "inv_threshold: $storm_thr -> $orig_thr (stop)" "$log" &&
	ok "storm 2: the log restores inv_threshold at stop" ||
	not_ok "storm 2: the log restores inv_threshold at stop" "not in $log"
check "storm 2: no state file left behind" ! -e /run/smmud/state
for name in $VMM_PIDS; do vmm_wait "$name"; done
sed 's/^/  smmud: /' "$log"
