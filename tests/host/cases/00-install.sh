#!/bin/sh
# smmud installed as an operator installs it: "apt install ./smmud_*.deb"
# on a host booted by systemd.  The package enables and starts the unit;
# it reaches active (running) through Type=notify (READY=1 and a STATUS=
# line), under the sandbox it ships, with a systemd-analyze security
# exposure of at most 2.5 on the live unit, and gets the scheduler slice
# it asks for.
# timeout: 300
set -u
. /bench/lib.sh

check "an SMMUv3 with the series' tunables ($SMMU)" -n "$SMMU" -a -d "$SMMU_DIR"
check "PID 1 is systemd" "$(cat /proc/1/comm)" = systemd
deb=$(ls $DEBS/smmud_*_arm64.deb | grep -v '+bench' | head -n1)
echo "# installing $deb"
if apt-get install -y --no-install-recommends "$deb" >/tmp/apt-install.log 2>&1; then
	ok "apt install ./$(basename "$deb")"
else
	not_ok "apt install ./$(basename "$deb")" "$(tail -n 3 /tmp/apt-install.log | tr '\n' ' ')"
	exit 0
fi
sed 's/^/  /' /tmp/apt-install.log | tail -n 15
check "the unit is enabled by the package" "$(systemctl is-enabled smmud.service)" = enabled
wait_until 60 sh -c '[ "$(systemctl show -p SubState --value smmud.service)" = running ]'
check "the unit is active (running)" \
	"$(unit_prop ActiveState)/$(unit_prop SubState)" = active/running
check "it is Type=notify" "$(unit_prop Type)" = notify
status=$(unit_prop StatusText)
echo "# StatusText: $status"
case $status in
*"SMMU(s) managed"*) ok "systemctl status shows smmud's STATUS= line ($status)" ;;
*) not_ok "systemctl status shows smmud's STATUS= line" "StatusText='$status'" ;;
esac
systemctl status --no-pager smmud.service | sed 's/^/  /'
check "systemctl status prints the Status: line" \
	-n "$(systemctl status --no-pager smmud.service | grep -F "Status: \"$status\"")"

score=$(systemd-analyze security smmud.service 2>/dev/null |
	sed -n 's/.*Overall exposure level for smmud.service: \([0-9.]*\).*/\1/p')
if [ -n "$score" ] && awk -v s="$score" 'BEGIN { exit !(s <= 2.5) }'; then
	ok "systemd-analyze security on the live unit: $score <= 2.5"
else
	not_ok "systemd-analyze security on the live unit <= 2.5" "exposure '${score:-none}'"
fi

# The shortest scheduler slice smmud asks for at its start (so an exit's
# wake-up preempts the dying VMM that woke it): the unit's syscall filter
# lets sched_setattr() through, and this kernel (6.12) honours it.
check "smmud got the short scheduler slice it asks for, inside the unit's sandbox" \
	-n "$(journalctl -u smmud.service -b --no-pager -o cat | grep -F 'Scheduler slice: 100 us')"
