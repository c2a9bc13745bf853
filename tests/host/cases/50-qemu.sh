#!/bin/sh
# Real VMMs: Debian's QEMU 7.2 with an edu device passed through, started
# and registered with machined as libvirt does, stopped by each path a
# host takes: QMP "quit" (libvirt's destroy of a guest with no OS and a
# graceful virsh shutdown's end), SIGTERM (libvirt's first signal), SIGKILL
# (its second), and the machine scope stopped (machinectl terminate, what
# systemd does to machine.slice at host shutdown).  For each: smmud knew
# the VM by its machine name with its pinned memory; the kernel's counters
# say how QEMU tore it down; a DMA from its old IOVAs afterwards faults.
# Then four at once: smmud's storm, and the restore.  Each path is
# bracketed by trace marks, so that QEMU's (the outer one's) command trace
# counts it on any kernel (tests/host/run-vmm-paths).
# timeout: 900
set -u
. /bench/lib.sh

mib=${SMMUD_QEMU_MIB:-128}
installed=0
[ "$(systemctl show -p LoadState --value smmud.service)" = loaded ] && installed=1
echo "# smmud installed: $installed; $mib MiB per VM"

# path_stop PATH NAME PID: stop the VM that way.
path_stop() {
	case $1 in
	quit) qmp "/run/qemu-$2.qmp" quit >/dev/null ;;
	sigterm) kill -TERM "$3" ;;
	sigkill) kill -KILL "$3" ;;
	scope) machinectl terminate "qemu-$2" ;;
	esac
}

n=0 mark=20
for path in quit sigterm sigkill scope; do
	n=$((n + 1))
	bdf=$(edu $n)
	name=$path
	if ! qemu_start "$name" "$bdf" "$mib"; then
		not_ok "$path: QEMU started with $bdf passed through" "no QMP answer"
		continue
	fi
	pid=$QEMU_PID
	ok "$path: QEMU started (pid $pid) with $bdf passed through, $mib MiB mapped"
	check "$path: machined knows it as qemu-$name" \
		-n "$(machinectl show "qemu-$name" -p Leader --value 2>/dev/null | grep -x "$pid")"
	if [ "$installed" = 1 ]; then
		if wait_until 15 sh -c "smmuctl --json status | jq -e --argjson p $pid 'any(.vms[]; .pid == \$p and .pinned_bytes >= $((mib << 20)))' >/dev/null"; then
			ok "$path: smmud lists it with its $mib MiB pinned"
		else
			not_ok "$path: smmud lists it with its $mib MiB pinned" "$(smmuctl --json status | jq -c .vms)"
		fi
		unit=$(smmuctl --json status | jq -r --argjson p "$pid" '.vms[] | select(.pid == $p) | .unit')
		# (smmud's strings escape a backslash as two: machine-qemu\\x2dNAME.)
		case $unit in
		machine-qemu*"x2d$name.scope") ok "$path: in its machine scope ($unit)" ;;
		*) not_ok "$path: in its machine scope" "unit '$unit'" ;;
		esac
	fi
	before_total=$(smmu_counter tlbi_total) before_fb=$(smmu_counter context_fallbacks)
	before_skips=$(smmu_counter deferred_skips) before_ld=$(smmu_counter last_detach_flushes)
	mark_start=$(journal_mark)
	kmsg_before=$(dmesg | wc -l)
	trace_mark $mark
	t0=$(date +%s%N)
	path_stop "$path" "$name" "$pid"
	if wait_until 120 sh -c "! kill -0 $pid 2>/dev/null"; then
		t1=$(date +%s%N)
		ok "$path: QEMU is gone"
	else
		not_ok "$path: QEMU is gone" "still running after 120 s"
		kill -KILL "$pid"
		t1=$(date +%s%N)
	fi
	trace_mark $((mark + 1))
	mark=$((mark + 2))
	tlbi=$(($(smmu_counter tlbi_total) - before_total))
	fb=$(($(smmu_counter context_fallbacks) - before_fb))
	skips=$(($(smmu_counter deferred_skips) - before_skips))
	ld=$(($(smmu_counter last_detach_flushes) - before_ld))
	# The test-only teardown log: what the kernel tore down first, in which task.
	first=$(teardown_first "$kmsg_before")
	qemu_probe_result "$name" "$bdf" "$mib"
	sed 's/^/  /' "/tmp/qemu-$name.probe"
	prc=$PROBE_RC stale=$PROBE_STALE faulted=$PROBE_FAULTED
	echo "QEMU path=$path marks=$((mark - 2)),$((mark - 1)) pid=$pid teardown_ms=$(((t1 - t0) / 1000000)) first=$first tlbi=$tlbi fallbacks=$fb skips=$skips last_detach=$ld stale=$stale faulted=$faulted"
	check "$path: a DMA from its old IOVAs faults afterwards ($faulted faulted, $stale stale)" "$prc/$stale/$faulted" = 0/0/2
	if [ "$installed" = 1 ]; then
		line=$(vm_exit_line "$mark_start" "$pid")
		echo "# smmud: $line"
		check "$path: smmud counted its exit under its machine name" -n "$(echo "$line" | grep -F "qemu-$name (pid $pid)")"
	fi
done

# ---- four at once ------------------------------------------------------------
[ "$installed" = 1 ] || exit 0
conf=/etc/smmud/smmud.conf.d/50-bench.conf
printf '[Trigger]\nHoldTime=5s\n' >"$conf"
systemctl reload smmud.service
orig=$(knobs)
pids=
for i in 1 2 3 4; do
	qemu_start "mass$i" "$(edu $i)" "$mib" || not_ok "mass$i: QEMU started" "no QMP answer"
	pids="$pids $QEMU_PID"
done
wait_until 30 sh -c "[ \$(smmuctl --json status | jq '[.vms[] | select(.unit | startswith(\"machine-qemu\"))] | length') -ge 4 ]"
mark_start=$(journal_mark)
# shellcheck disable=SC2086
kill -TERM $pids
for p in $pids; do wait_until 120 sh -c "! kill -0 $p 2>/dev/null"; done
# Read at once: the last exit held the storm for HoldTime (5 s) more.
smmud_pid=$(systemctl show -p MainPID --value smmud.service)
nice_in_storm=$(cut -d' ' -f19 "/proc/$smmud_pid/stat")
w=$(journal_since "$mark_start" -o cat SMMUD_AFTER=storm SMMUD_BEFORE=baseline | head -n1)
check "four QEMU VMs stopped at once: a storm ($w)" -n "$w"
check "in the storm smmud steps back from the unit's Nice=-10 to 19 (LimitNICE= lets it)" \
	"$nice_in_storm" = 19
if wait_until 30 knobs_are "$orig"; then ok "and the knobs back at $orig after the hold time"; else
	not_ok "and the knobs back after the hold time" "now $(knobs)"; fi
check "and smmud at Nice=-10 again once the storm ended" \
	"$(cut -d' ' -f19 "/proc/$smmud_pid/stat")" = -10
rm -f "$conf"
systemctl reload smmud.service
