#!/bin/sh
# The service's life on a real host: a mass shutdown of four VMs writes the
# storm values and the hold time restores them; "systemctl reload" takes a
# good drop-in and refuses a bad one (the reload fails, the old config
# stays); "systemctl stop" during a storm restores every knob; a watchdog
# timeout (smmud frozen with SIGSTOP) and a SIGKILL mid-storm each make
# systemd restart it, and the new instance restores the originals from the
# state file.
# timeout: 600
set -u
. /bench/lib.sh

orig=$(knobs)
echo "# originals: $orig"
conf=/etc/smmud/smmud.conf.d/50-bench.conf
digest() { status_json | jq -r .config.digest; }

# ---- reload: a good drop-in, then a bad one ------------------------------
d0=$(digest)
cat >"$conf" <<EOF
# A storm ends 5 s after the last exit (the default, 30 s, is long to wait).
[Trigger]
HoldTime=5s
EOF
if systemctl reload smmud.service; then ok "systemctl reload with a good drop-in"; else
	not_ok "systemctl reload with a good drop-in" "exit $?"; fi
d1=$(digest)
check "the running config changed (digest $d0 -> $d1)" "$d1" != "$d0"
check "and names the drop-in" -n "$(status_json | jq -r '.config.files[]' | grep -F "$conf")"
bad=/etc/smmud/smmud.conf.d/60-bad.conf
printf '[Trigger]\nHoldTime=soon\n' >"$bad"
if systemctl reload smmud.service 2>/tmp/reload.err; then
	not_ok "systemctl reload with a bad drop-in fails" "it succeeded"
else
	ok "systemctl reload with a bad drop-in fails"
fi
journalctl -u smmud.service -n 5 --no-pager -o cat | sed 's/^/  /'
check "the old config stays (digest $(digest))" "$(digest)" = "$d1"
check "smmud still runs" "$(unit_prop SubState)" = running
rm -f "$bad"

# ---- a storm from real exits ---------------------------------------------
n=0
for i in 1 2 3 4; do
	bdf=$(edu $i)
	[ -n "$bdf" ] || continue
	vmm_start "vm$i" --bdf "$bdf" --layout 4k --size 32 --teardown exit
	n=$((n + 1))
done
vmm_ready_all 60 || not_ok "$n VMs started" "not all ready"
for i in 1 2 3 4; do
	wait_until 10 vm_known "$(vmm_pid vm$i)" || not_ok "smmud knows vm$i" "not in status"
done
mark=$(journal_mark)
vmm_go
for i in 1 2 3 4; do vmm_wait "vm$i" >/dev/null; done
# The storm decision, then the write it made (journal fields, smmud(8)).
storm_entry() { journal_since "$mark" -o cat "$@" | head -n1; }
if wait_until 10 sh -c "[ -n \"\$(journalctl -u smmud.service --since='$mark' -o cat SMMUD_DECISION=exit-limit SMMUD_AFTER=storm)\" ]"; then
	ok "$n simultaneous VM exits: a storm, by the exit limit ($(storm_entry SMMUD_AFTER=storm))"
else
	not_ok "$n simultaneous VM exits: a storm, by the exit limit" "no storm decision in the journal"
fi
w=$(storm_entry SMMUD_DECISION=exit-limit SMMUD_KNOB=inv_threshold)
check "smmud wrote the storm threshold ($w)" -n "$w"
journal_since "$mark" -o cat | sed 's/^/  /'
if wait_until 20 knobs_are "$orig"; then
	ok "the hold time (5 s) over, the knobs are back at $orig"
else
	not_ok "the knobs are back after the hold time" "now $(knobs)"
fi

# ---- stop during a storm -------------------------------------------------
smmuctl storm enter "$SMMU" >/dev/null
storm=$(knobs)
check "smmuctl storm enter: storm values ($storm)" "$storm" != "$orig"
systemctl stop smmud.service
check "systemctl stop during a storm restores every knob ($(knobs))" "$(knobs)" = "$orig"
check "and leaves no state file" ! -e /run/smmud/state
systemctl start smmud.service
wait_until 30 sh -c '[ "$(systemctl show -p SubState --value smmud.service)" = running ]'

# ---- crash recovery: the watchdog, then SIGKILL --------------------------
# crash_mid_storm WHAT SIGNAL SECONDS: a storm in force, smmud gets SIGNAL;
# systemd must restart it within SECONDS and the new one restore.
crash_mid_storm() {
	smmuctl storm enter "$SMMU" >/dev/null
	wait_until 5 sh -c "[ \"\$(cat '$THR') \$(cat '$MODE')\" != '$orig' ]"
	old=$(smmud_pid) restarts=$(unit_prop NRestarts)
	check "$1: storm values in force before ($(knobs)), state file present" -s /run/smmud/state
	kill "-$2" "$old"
	if wait_until "$3" sh -c "p=\$(systemctl show -p MainPID --value smmud.service); [ \"\$p\" != 0 ] && [ \"\$p\" != $old ] && [ \"\$(systemctl show -p SubState --value smmud.service)\" = running ]"; then
		ok "$1: systemd restarted smmud (restarts $restarts -> $(unit_prop NRestarts))"
	else
		not_ok "$1: systemd restarted smmud" "MainPID $(smmud_pid), state $(unit_prop ActiveState)/$(unit_prop SubState)"
	fi
	wait_until 10 knobs_are "$orig"
	check "$1: the new instance restored the originals from the state file ($(knobs))" "$(knobs)" = "$orig"
}
crash_mid_storm "watchdog (SIGSTOP)" STOP 90
journalctl -u smmud.service -n 8 --no-pager -o cat | sed 's/^/  /'
check "the watchdog fired" -n "$(journalctl -u smmud.service --no-pager -o cat | grep -i 'watchdog timeout')"
crash_mid_storm "SIGKILL" KILL 30
rm -f "$conf"
systemctl reload smmud.service
