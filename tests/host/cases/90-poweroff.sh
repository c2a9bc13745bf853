#!/bin/sh
# The host powers off with VMs running, the storm smmud is for at its
# largest: logind's PrepareForShutdown reaches smmud (OnShutdown=) before
# systemd stops machine.slice, whose scopes' stop jobs (OnVmStop=) come
# before each QEMU exits, and smmud, ordered before machine.slice, stops
# after the last VM and restores.  This case only sets the scene: smmud
# installed again (80-package purged it), the journal kept on disk, two
# QEMU VMs left running in their machine scopes.  The power-off after the
# last case is the test: the bench's last shutdown hook prints smmud's
# journal of it (SMMUD-POWEROFF:) and the knobs, and
# tests/host/run-host-tests checks the order there.
# timeout: 300
set -u
. /bench/lib.sh

mib=${SMMUD_QEMU_MIB:-128}
if [ "$(systemctl show -p LoadState --value smmud.service)" != loaded ]; then
	deb=$(ls $DEBS/smmud_*_arm64.deb | grep -v '+bench' | head -n1)
	if apt-get install -y --no-install-recommends "$deb" >/tmp/apt-again.log 2>&1; then
		ok "smmud installed again after its purge: apt install ./$(basename "$deb")"
	else
		not_ok "smmud installed again after its purge" "$(tail -n 3 /tmp/apt-again.log | tr '\n' ' ')"
	fi
fi
check "smmud runs" "$(systemctl is-active smmud.service)" = active
# A storm forced by an earlier case (80-package) is handed back: the
# power-off's announcement is what must start this one.
smmuctl storm auto "$SMMU" >/dev/null 2>&1
if wait_until 15 knobs_are "auto deferred"; then
	ok "no storm in force before the power-off (the kernel's defaults: $(knobs))"
else
	not_ok "no storm in force before the power-off" "knobs $(knobs)"
fi

# Persistent journal: the shutdown hook runs once journald and /run are gone.
mkdir -p /var/log/journal
systemd-tmpfiles --create --prefix /var/log/journal >/dev/null 2>&1
journalctl --flush
check "the journal is kept on disk for the power-off" -d "/var/log/journal/$(cat /etc/machine-id)"

names=
for i in 1 2; do
	if qemu_start "off$i" "$(edu $i)" "$mib"; then
		names="$names qemu-off$i:$QEMU_PID"
	else
		not_ok "off$i: QEMU started" "no QMP answer"
	fi
done
if wait_until 30 sh -c "[ \$(smmuctl --json status | jq '[.vms[] | select(.unit | startswith(\"machine-qemu\"))] | length') -ge 2 ]"; then
	ok "two QEMU VMs left running for the power-off, in their machine scopes:$names"
else
	not_ok "two QEMU VMs left running for the power-off" "$(smmuctl --json status | jq -c '[.vms[] | {pid, unit}]')"
fi
mkdir -p /var/lib/smmud-bench
echo "$names" >/var/lib/smmud-bench/poweroff-vms
# What keeps smmud up until the last VM is gone: each VM's scope is
# ordered after it (the package's machine-.scope.d drop-in).
for n in $names; do
	u=$(machinectl show "${n%%:*}" -p Unit --value)
	after=$(systemctl show -p After --value "$u")
	case " $after " in
	*" smmud.service "*) ok "${n%%:*}: its scope $u stops before smmud (After=smmud.service)" ;;
	*) not_ok "${n%%:*}: its scope $u stops before smmud" "After=$after" ;;
	esac
done
