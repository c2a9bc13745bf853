#!/bin/sh
# The package's life: an upgrade to a rebuilt version while a storm is in
# force (the package neither stops nor restarts smmud: the storm goes on,
# and the operator's restart afterwards runs the new binary, which
# restores at the old one's stop), then remove, then purge.  After the
# restart, the remove and the purge the knobs are at their originals;
# after remove the program and unit are gone and the configuration stays;
# after purge nothing of smmud is left.
# timeout: 300
set -u
. /bench/lib.sh

orig=$(knobs)
up=$(ls $DEBS/smmud_*+bench*_arm64.deb | head -n1)
smmuctl storm enter "$SMMU" >/dev/null
check "a storm in force before the upgrade ($(knobs))" "$(knobs)" != "$orig"
old=$(smmud_pid)
if apt-get install -y "$up" >/tmp/apt-up.log 2>&1; then ok "apt install ./$(basename "$up") (upgrade)"; else
	not_ok "apt install ./$(basename "$up") (upgrade)" "$(tail -n 3 /tmp/apt-up.log | tr '\n' ' ')"; fi
sed 's/^/  /' /tmp/apt-up.log | tail -n 8
check "the upgraded package is installed ($(dpkg-query -W -f '${Version}' smmud))" \
	"$(dpkg-query -W -f '${Version}' smmud)" = "$(dpkg-deb -f "$up" Version)"
check "the upgrade left smmud running, unrestarted (pid $old)" \
	"$(unit_prop SubState)" = running -a "$(smmud_pid)" = "$old"
check "and its storm in force ($(knobs))" "$(knobs)" != "$orig"
systemctl restart smmud.service
wait_until 30 sh -c '[ "$(systemctl show -p SubState --value smmud.service)" = running ]'
check "the operator's restart runs the new smmud (pid $old -> $(smmud_pid))" \
	"$(unit_prop SubState)" = running -a "$(smmud_pid)" != "$old"
check "after the restart the knobs are at their originals ($(knobs))" "$(knobs)" = "$orig"

smmuctl storm enter "$SMMU" >/dev/null
if apt-get remove -y smmud >/tmp/apt-rm.log 2>&1; then ok "apt remove smmud (during a storm)"; else
	not_ok "apt remove smmud" "$(tail -n 3 /tmp/apt-rm.log | tr '\n' ' ')"; fi
check "after remove the knobs are at their originals ($(knobs))" "$(knobs)" = "$orig"
check "the service is gone" "$(systemctl show -p LoadState --value smmud.service)" = not-found
for f in /usr/sbin/smmud /usr/bin/smmuctl /lib/systemd/system/smmud.service \
	/lib/systemd/system-generators/smmud-sysfs-generator; do
	check "removed: $f" ! -e "$f"
done
check "the generator's drop-in is gone" ! -e /run/systemd/generator/smmud.service.d
check "the configuration stays until purge" -f /etc/smmud/smmud.conf
check "nothing is left in /run/smmud" ! -e /run/smmud

if apt-get purge -y smmud >/tmp/apt-purge.log 2>&1; then ok "apt purge smmud"; else
	not_ok "apt purge smmud" "$(tail -n 3 /tmp/apt-purge.log | tr '\n' ' ')"; fi
check "after purge nothing of /etc/smmud is left" ! -e /etc/smmud
check "dpkg knows nothing of smmud" -z "$(dpkg-query -W -f '${Status}' smmud 2>/dev/null | grep -v not-installed)"
check "the knobs are at their originals ($(knobs))" "$(knobs)" = "$orig"

# The last case ends the boot with smmud running and a storm in force:
# reinstall, so that the power-off shows smmud restoring at host shutdown.
deb=$(ls $DEBS/smmud_*_arm64.deb | grep -v '+bench' | head -n1)
apt-get install -y "$deb" >/dev/null 2>&1
wait_until 30 sh -c '[ "$(systemctl show -p SubState --value smmud.service)" = running ]'
smmuctl storm enter "$SMMU" >/dev/null
check "reinstalled, storm in force for the power-off ($(knobs))" "$(knobs)" != "$orig"
