#!/bin/sh
# A QEMU on every edu device the host has (tests/host/run-vmm-paths gives
# it eight), stopped at once with SIGTERM, as libvirt-guests or an
# orchestrator draining the host does: the commands between the marks are
# the mass shutdown's on any kernel.  When smmud is installed (the run's
# third boot) it sees the exits behind one SMMU within its window and
# enters its storm at the fourth: the run compares that with the kernel's
# defaults alone.
# timeout: 300
set -u
. /bench/lib.sh

mib=${SMMUD_QEMU_MIB:-128}
installed=0
[ "$(systemctl show -p LoadState --value smmud.service 2>/dev/null)" = loaded ] && installed=1
# shellcheck disable=SC2086 # the devices
n=$(set -- $SMMUD_EDU_BDFS; echo $#)
pids='' vms=0
for i in $(seq 1 "$n"); do
	if qemu_start "mass$i" "$(edu "$i")" "$mib"; then
		pids="$pids $QEMU_PID" vms=$((vms + 1))
	else
		not_ok "mass$i: QEMU started" "no QMP answer"
	fi
done
check "$n QEMUs running, $mib MiB each, in their machine scopes ($(awk '/^MemAvailable:/ { print int($2 / 1024) }' /proc/meminfo) MiB left)" \
	"$(machinectl list --no-legend | grep -c '^qemu-mass')" = "$n"
spid=
if [ "$installed" = 1 ]; then
	if wait_until 30 sh -c "[ \$(smmuctl --json status | jq '[.vms[] | select(.unit | startswith(\"machine-qemu\"))] | length') -ge $n ]"; then
		ok "smmud tracks the $n"
	else
		not_ok "smmud tracks the $n" "$(smmuctl --json status | jq -c '[.vms[] | {pid, unit}]')"
	fi
	spid=$(smmud_pid)
	cpu0=$(proc-cputime "$spid" | cut -d' ' -f2)
	wake0=$(sed -n 's/^voluntary_ctxt_switches:[[:space:]]*//p' "/proc/$spid/status")
	mark_start=$(journal_mark)
fi
before=$(smmu_counter tlbi_total)
kmsg_before=$(dmesg | wc -l)
trace_mark 70
t0=$(date +%s%N)
# shellcheck disable=SC2086 # the pids
kill -TERM $pids
for p in $pids; do wait_until 120 sh -c "! kill -0 $p 2>/dev/null" || kill -KILL "$p"; done
t1=$(date +%s%N)
trace_mark 71
tlbi=$(($(smmu_counter tlbi_total) - before))
first=$(teardown_first "$kmsg_before")
extra=
if [ -n "$spid" ]; then
	cpu1=$(proc-cputime "$spid" | cut -d' ' -f2)
	wake1=$(sed -n 's/^voluntary_ctxt_switches:[[:space:]]*//p' "/proc/$spid/status")
	storm=$(journal_since "$mark_start" -o cat SMMUD_AFTER=storm | head -n1)
	check "smmud entered its storm for them ($storm)" -n "$storm"
	extra=" smmud_cpu_us=$(((cpu1 - cpu0) / 1000)) smmud_wakeups=$((wake1 - wake0)) storm=$([ -n "$storm" ] && echo 1 || echo 0)"
fi
stale=0 faulted=0
for i in $(seq 1 "$n"); do
	qemu_probe_result "mass$i" "$(edu "$i")" "$mib"
	stale=$((stale + PROBE_STALE)) faulted=$((faulted + PROBE_FAULTED))
done
check "a DMA from each one's old IOVAs faults afterwards ($faulted faulted, $stale stale)" "$stale/$faulted" = "0/$((2 * vms))"
echo "QEMU path=mass marks=70,71 vms=$vms mib=$mib teardown_ms=$(((t1 - t0) / 1000000)) first=$first tlbi=$tlbi stale=$stale faulted=$faulted$extra"
