#!/bin/sh
# The mass VM shutdown scenario, guest side (a case of the test bench: the
# host packs it as /tests/cases/scenario.sh, see tests/scenario/run-config;
# with SC_HOST=1 it runs as a case of the deployed host image instead).
#
# Parameters come from the kernel command line (smmud.sc_NAME=VALUE):
#   config   1..6 (tests/scenario/run-config lists them)
#   k, m     K VMMs of M MiB each, one edu device (VFIO group) per VMM
#   phases   storm,synthetic (comma-separated; configurations 1 and 2
#            split them over two boots so that QEMU's command trace stays
#            small)
#   syn      size of the synthetic one-call unmap (1T, 64G, ...)
#   syn2     a second synthetic unmap, of this size (the patched
#            configurations run 64G too, the size configurations 1 and 2
#            run, so that the two can be compared); empty for none
#   space    milliseconds between two VMMs' go signals
#   quiet    seconds of the live VM's quiet windows before and after
#   storm    the storm profile "THRESHOLD,MODE" (config 6 sets it statically)
#   monitor  1: stream `smmuctl monitor` (human form) to the console
# Figures are printed as "SCENARIO key=value ..." lines the host parses;
# the phases are bracketed in the SMMU command stream by marker unmaps
# (one 2 MiB block at a known IOVA) so that QEMU's trace can be cut into
# the same phases from outside.
# profiles: ril-ignored
# timeout: 1500
set -u
. /tests/lib.sh

config=4 k=4 m=64 phases=storm,synthetic syn=1T syn2= space=5 quiet=3 storm=16,deferred monitor=0 nice=0
for w in $(cat /proc/cmdline); do
	case $w in
	smmud.sc_*=*) n=${w#smmud.sc_} v=${n#*=} n=${n%%=*}
		case $n in config | k | m | phases | syn | syn2 | space | quiet | storm | monitor | nice) eval "$n=\$v" ;; esac ;;
	esac
done
say() { echo "SCENARIO $*"; }
# The deployed host image (systemd as PID 1, smmud from its package) or
# the busybox guest.
host=0
[ "$(cat /proc/1/comm)" = systemd ] && host=1
say "params host=$host config=$config k=$k m=$m phases=$phases syn=$syn space=$space quiet=$quiet storm=$storm"

sys=$(ls -d /sys/class/iommu/*/arm-smmu-v3 2>/dev/null | head -n1)
dbg=$(ls -d /sys/kernel/debug/iommu/arm-smmu-v3/* 2>/dev/null | head -n1)
trig=/sys/kernel/debug/iommu/unmap_trigger
invmax=/sys/kernel/debug/iommu/inv_max_ns
[ -e "$trig" ] && [ -e "$invmax" ] || { not_ok "test hooks present" "no $trig or $invmax"; exit 0; }

# The trigger and the markers use the e1000e, taken from vfio-pci: it is
# never opened by a VMM, so nothing else uses it.
tdev=
for b in $SMMUD_VFIO_BDFS; do
	case " $SMMUD_EDU_BDFS " in *" $b "*) ;; *) tdev=$b ;; esac
done
[ -n "$tdev" ] || { not_ok "a device for the unmap trigger" "no e1000e"; exit 0; }
[ -e "/sys/bus/pci/devices/$tdev/driver" ] && echo "$tdev" >"/sys/bus/pci/devices/$tdev/driver/unbind"

set -- $SMMUD_EDU_BDFS
[ $# -ge $((k + 1)) ] || { not_ok "enough edu devices" "$# edu devices, need $((k + 1))"; exit 0; }

# ---- knobs of this configuration -----------------------------------------
knob() { cat "$sys/$1" 2>/dev/null || echo none; }
case $config in
1) [ -z "$sys" ] || { not_ok "configuration 1 runs on the unpatched kernel" "found $sys"; exit 0; } ;;
2) echo 0 >"$sys/inv_threshold" && echo strict >"$sys/teardown_mode" ;;
6) echo "${storm%,*}" >"$sys/inv_threshold" && echo "${storm#*,}" >"$sys/teardown_mode" ;;
esac
if [ "$config" != 1 ] && [ -z "$sys" ]; then
	not_ok "configuration $config runs on the patched kernel" "no arm-smmu-v3 sysfs group"
	exit 0
fi
say "knobs inv_threshold=$(knob inv_threshold) teardown_mode=$(knob teardown_mode) range_invalidation=$(knob range_invalidation)"

# ---- probes ----------------------------------------------------------------
mark_n=0
# marker NAME: unmap one 2 MiB block at 0x200000000000 + n * 2 MiB: a
# TLBI_NH_VA at an address nothing else uses, visible in QEMU's trace.
marker() {
	iova=$((0x200000000000 + mark_n * 0x200000))
	echo "dev=$tdev size=2M pgsize=2M attach=1 iova=$iova" >"$trig" ||
		not_ok "marker $1" "trigger failed"
	say "marker name=$1 n=$mark_n iova=$(printf 0x%x "$iova")"
	mark_n=$((mark_n + 1))
}
# snap NAME: the global counters, the live VM's domain and inv_max_ns;
# the CPU time smmud has used and the vCPUs' idle time (clock ticks of
# USER_HZ), to tell what smmud's own work costs the VMMs tearing down;
# smmud's also to the nanosecond (proc-cputime: its CPU-time clock).
snap() {
	line="snap name=$1 inv_max_ns=$(cat "$invmax") live_rounds=$(tr -d ' ' </tmp/live.rounds 2>/dev/null || echo 0)"
	line="$line uptime_ms=$(awk '{ printf "%d", $1 * 1000 }' /proc/uptime) idle_ticks=$(awk '$1 == "cpu" { print $5 + $6 }' /proc/stat)"
	[ -n "${smmud_pid:-}" ] && line="$line $(awk '{ print "smmud_cpu_ticks=" $14 + $15, "smmud_sys_ticks=" $15 }' "/proc/$smmud_pid/stat" 2>/dev/null)"
	[ -n "${smmud_pid:-}" ] && line="$line smmud_cpu_ns=$(proc-cputime "$smmud_pid" 2>/dev/null | cut -d' ' -f2)"
	# Its wake-ups: each sleep it woke from (smmud has one thread).
	[ -n "${smmud_pid:-}" ] && line="$line smmud_wakeups=$(awk '/^voluntary_ctxt_switches:/ { print $2 }' "/proc/$smmud_pid/status" 2>/dev/null)"
	if [ -n "$dbg" ]; then
		line="$line $(tr ' ' '=' <"$dbg/counters" | tr '\n' ' ')"
		[ -n "${live_asid:-}" ] && line="$line live_$(grep " asid=$live_asid " "$dbg/domains" |
			sed -n 's/.* \(tlbi=[0-9]*\) \(fallbacks=[0-9]*\) \(skips=[0-9]*\).*/\1 live_\2 live_\3/p')"
	fi
	say "$line"
}
# (busybox date has no sub-second format: the clocks of record are
# vfio-vmm's and smmud's, both CLOCK_REALTIME in microseconds.)
# live_stop / live_cont: hold the live VM still (its ioctl in flight ends
# first) while a marker and a snapshot are taken, so that QEMU's trace and
# the counters cut the command stream at the same point.
live_stop() {
	kill -STOP "$live_pid"
	while [ "$(cut -d' ' -f3 "/proc/$live_pid/stat")" != T ]; do usleep 1000; done
}
live_cont() { kill -CONT "$live_pid"; }
# begin MARKER SNAP / end SNAP MARKER: the edges of a measured phase.
begin() { live_stop; marker "$1"; snap "$2"; live_cont; }
end() { live_stop; snap "$1"; marker "$2"; live_cont; }

# ---- smmud (configurations 4 and 5) -------------------------------------------
# smmud runs before any VM starts, as on a real host, and finds them as
# they open their VFIO files: in the busybox guest started by hand, on the
# deployed host image installed from its package.  (Started after them, it
# would know every helper the VMMs forked as an old process, and each
# helper's first VFIO open would cost it a scan of every process.)
smmud_pid= mon_pid= monj_pid=
start_smmud() {
	if [ "$host" = 1 ]; then
		deb=$(ls /bench/debs/smmud_*_arm64.deb | grep -v '+bench' | head -n1)
		apt-get install -y "$deb" >/tmp/apt.log 2>&1 || { sed 's/^/  /' /tmp/apt.log; not_ok "apt install ./$(basename "$deb")" "see above"; }
		i=0
		until [ "$(systemctl show -p SubState --value smmud.service)" = running ]; do
			i=$((i + 1)); [ $i -lt 300 ] || break; sleep 0.1
		done
		smmud_pid=$(systemctl show -p MainPID --value smmud.service)
		# What an operator sees first.
		systemctl status --no-pager smmud.service 2>&1 | while IFS= read -r l; do echo "OPERATOR $l"; done
		smmuctl status 2>&1 | while IFS= read -r l; do echo "OPERATOR $l"; done
	else
		mkdir -p /run/smmud
		# No /etc/smmud in the guest: the compiled-in defaults (what
		# conf/smmud.conf documents), at the unit's Nice= (no systemd here).
		# (busybox here has renice, not nice.)
		sh -c 'renice -n "$0" -p $$ >/dev/null && exec "$@"' "$nice" \
			smmud --no-bus --log-level=info >/tmp/smmud.log 2>&1 &
		smmud_pid=$!
	fi
	i=0
	until smmuctl --json status >/tmp/status.json 2>/dev/null; do
		i=$((i + 1)); [ $i -lt 100 ] || break; sleep 0.1
	done
	check "smmud runs at the unit's Nice=$nice" "$(cut -d' ' -f19 "/proc/$smmud_pid/stat" 2>/dev/null)" = "$nice"
	smmuctl --json monitor >/tmp/monitor.json 2>&1 &
	monj_pid=$!
	if [ "$monitor" = 1 ]; then
		smmuctl monitor 2>&1 | while IFS= read -r l; do echo "MONITOR $l"; done &
		mon_pid=$!
	fi
}
# wait_smmud_tracks N: until smmud lists N VMs (the live VM and the VMMs).
wait_smmud_tracks() {
	i=0
	while :; do
		smmuctl --json status >/tmp/status.json 2>/dev/null || true
		nvm=$(grep -o '"pinned_bytes"' /tmp/status.json 2>/dev/null | wc -l)
		[ "$nvm" -ge "$1" ] || [ $i -ge 100 ] || { i=$((i + 1)); sleep 0.1; continue; }
		break
	done
	check "smmud tracks the live VM and the $k VMMs ($nvm VMs)" "$nvm" -ge "$1"
	say "smmud vms=$nvm"
}
# ---- the live VM -------------------------------------------------------------
if [ "$config" = 4 ] || [ "$config" = 5 ]; then
	start_smmud
fi
before=$( [ -n "$dbg" ] && sed -n 's/.* asid=\([0-9]*\) .*/\1/p' "$dbg/domains" | tr '\n' ' ')
rm -f /tmp/live.ready
vfio-vmm --bdf "$1" --layout thp --live 0 --dma-every 1 --dma-check \
	--ready-file /tmp/live.ready --rounds-file /tmp/live.rounds >/tmp/live.out 2>&1 &
live_pid=$!
i=0
while [ ! -e /tmp/live.ready ] && kill -0 $live_pid 2>/dev/null && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
check "live VM mapped and running" -e /tmp/live.ready
live_asid=
if [ -n "$dbg" ]; then
	for a in $(sed -n 's/.* asid=\([0-9]*\) .*/\1/p' "$dbg/domains"); do
		case " $before " in *" $a "*) ;; *) live_asid=$a ;; esac
	done
	say "live asid=$live_asid"
fi

# ---- the VMMs that will die together ------------------------------------------
shift
layouts="4k thp hugetlb"
# The graceful teardowns first: they end before their VMM exits, so the
# exit that crosses smmud's ExitLimit (4 by default) is a VMM that exits
# or is killed, whose exit smmud can hear before its teardown (issue 6's
# reaction target).  Any K of 4 or more has both teardown orders.
tds="close unmap exit kill exit kill"
VMM_PIDS=
i=0
# Each VMM writes a byte here once torn down, and waits for SIGUSR2 before
# its stale-DMA probe opens its group again: that probe is a new VFIO user
# (a VM to smmud, to be found and tracked) which a real mass shutdown does
# not have, so the window (storm0..storm1) closes before the probes run.
# Held open read-write: no writer blocks, and the reader sees no end.
torn=/tmp/vmm-torn.fifo
rm -f "$torn"
mkfifo "$torn"
exec 8<>"$torn"
if echo "$phases" | grep -q storm; then
	while [ $i -lt "$k" ]; do
		bdf=$1
		shift
		lay=$(echo $layouts | cut -d' ' -f$((i % 3 + 1)))
		td=$(echo $tds | cut -d' ' -f$((i % 6 + 1)))
		vmm_start "vm$i-$lay-$td" --bdf "$bdf" --layout "$lay" --size "$m" --teardown "$td" \
			--dma-check --dma-pages 4 --torn-fifo "$torn"
		# One at a time: the domains view (oldest first) then lists the
		# VMMs' domains in this order, so QEMU's per-ASID counts map to VMs.
		vmm_ready_all 600 || break
		i=$((i + 1))
	done
	if vmm_ready_all 600; then ok "$k VMMs of $m MiB mapped and DMA-checked"; else
		not_ok "$k VMMs of $m MiB mapped and DMA-checked" "a VMM died or took over 600 s"
		for n in $VMM_PIDS; do sed "s/^/  $n: /" "/tmp/vmm-$n.out"; done
	fi
fi

# ---- smmud tracks them (configurations 4 and 5) ----------------------------------
if [ "$config" = 4 ] || [ "$config" = 5 ]; then
	wait_smmud_tracks $((k + 1))
fi

# ---- phase: before the storm (the live VM alone) ---------------------------------
if echo "$phases" | grep -q storm; then
	# What a marker pair costs by itself (the cross-check subtracts it).
	live_stop; marker calib; snap calib0; snap calib1; marker calib-end; live_cont
	begin quiet-before pre0
	sleep "$quiet"
	end pre1 quiet-before-end

	if [ "$config" = 5 ]; then
		# In the guest there is no logind to announce a shutdown: the
		# operator's "storm enter" is the same pre-arming.
		smmuctl storm enter >/dev/null && say "prearm storm=entered"
		say "knobs-prearmed inv_threshold=$(knob inv_threshold) teardown_mode=$(knob teardown_mode)"
	fi

	# ---- phase: the mass shutdown --------------------------------------------------
	echo 0 >"$invmax"
	# Every domain before the storm (the live VM's, the VMMs'), so that
	# QEMU's per-ASID counts can be told apart per VM afterwards.
	[ -n "$dbg" ] && sed 's/^/SCENARIO domain /' "$dbg/domains"
	begin storm-begin storm0
	vmm_go "$space"
	# One byte from each VMM: all torn down (or failed).  The window ends.
	if timeout 600 head -c "$k" <&8 >/dev/null; then :; else
		not_ok "every VMM said it was torn down" "not within 600 s"; fi
	end storm1 storm-end
	for name in $VMM_PIDS; do kill -USR2 "$(cat "/tmp/vmm-$name.pid")" 2>/dev/null; done
	for name in $VMM_PIDS; do
		vmm_wait "$name" >/tmp/vmm-report.out
		grep -E '^(ok|not ok)' /tmp/vmm-report.out
		out=/tmp/vmm-$name.out
		say "vmm name=$name pid=$(kv "$out" vmm_pid) layout=$(kv "$out" layout) teardown=$(kv "$out" teardown) start_us=$(kv "$out" teardown_start_us) teardown_ms=$(kv "$out" teardown_ms) map_ms=$(kv "$out" map_ms) stale=$(grep -c '^dma_after_[a-z]*=stale' "$out") faulted=$(grep -c '^dma_after_[a-z]*=fault' "$out") rc=$VMM_RC"
	done
	say "storm done vmms=$k"

	# ---- phase: after the storm, once smmud is back at baseline -------------------
	if [ -n "$smmud_pid" ]; then
		[ "$config" = 5 ] && smmuctl storm auto >/dev/null
		i=0
		# A storm=false decision after a storm=true one: smmud left the storm.
		while ! awk '/"storm": *true/ { t = 1 } t && /"storm": *false/ { f = 1 } END { exit !f }' \
			/tmp/monitor.json 2>/dev/null &&
			[ $i -lt 1200 ]; do sleep 0.1; i=$((i + 1)); done
		say "baseline-back waited_ds=$i"
	fi
	say "knobs-after inv_threshold=$(knob inv_threshold) teardown_mode=$(knob teardown_mode)"
	begin quiet-after post0
	sleep "$quiet"
	end post1 quiet-after-end
fi

# ---- phase: the synthetic huge unmap -------------------------------------------
if echo "$phases" | grep -q synthetic; then
	echo 0 >"$invmax"
	begin synthetic-begin syn0
	if echo "dev=$tdev size=$syn attach=1" >"$trig"; then
		say "synthetic $(cat "$trig")"
		ok "synthetic unmap of $syn ran"
	else
		not_ok "synthetic unmap of $syn" "$(cat "$trig")"
	fi
	end syn1 synthetic-end
	if [ -n "$syn2" ]; then
		echo 0 >"$invmax"
		begin synthetic2-begin syn20
		if echo "dev=$tdev size=$syn2 attach=1" >"$trig"; then
			say "synthetic2 $(cat "$trig")"
			ok "synthetic unmap of $syn2 ran"
		else
			not_ok "synthetic unmap of $syn2" "$(cat "$trig")"
		fi
		end syn21 synthetic2-end
	fi
fi

# ---- the end: live VM, smmud, what they saw --------------------------------------
kill -TERM $live_pid
wait $live_pid
live_rc=$?
say "live rc=$live_rc rounds=$(kv /tmp/live.out live_rounds) checks=$(kv /tmp/live.out live_dma_checks) failures=$(kv /tmp/live.out live_failures) stale=$(grep -c '^live_stale=' /tmp/live.out) unmap_us=$(kv /tmp/live.out live_unmap_us_median) unmap_us_max=$(kv /tmp/live.out live_unmap_us_max) map_us=$(kv /tmp/live.out live_map_us_median)"
check "live VM: every DMA check held (failures=$(kv /tmp/live.out live_failures))" "$live_rc" = 0
if [ -n "$smmud_pid" ]; then
	if [ "$host" = 1 ]; then
		systemctl stop smmud.service
		journalctl -u smmud.service -b -o cat --no-pager >/tmp/smmud.log
	else
		kill -TERM "$smmud_pid"
		wait "$smmud_pid"
	fi
	say "knobs-restored inv_threshold=$(knob inv_threshold) teardown_mode=$(knob teardown_mode)"
	kill "$monj_pid" 2>/dev/null
	[ -n "$mon_pid" ] && kill "$mon_pid" 2>/dev/null
	sed 's/^/SMMUD-LOG /' /tmp/smmud.log
	sed 's/^/MONITOR-JSON /' /tmp/monitor.json
fi
echo "$tdev" >/sys/bus/pci/drivers_probe
say "end"
ok "scenario configuration $config ran to its end"
