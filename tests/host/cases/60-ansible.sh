#!/bin/sh
# The fleet role (fleet/ansible) applied for real, -c local, on the host:
# systemd is PID 1, so the role's service tasks and handlers are real.
# First apply: changes, the running digest is the one check-config gave.
# Second apply: changed=0.  A bad variable: check-config rejects it, the
# play fails before anything is written, smmud keeps its digest.  A canary
# step (Canary= raised), then removal: the role's drop-ins are gone and
# smmud runs the package's configuration again.
# timeout: 1500
set -u
. /bench/lib.sh

F=/tmp/fleet
rm -rf "$F"
cp -r /bench/fleet/ansible "$F"
cat >"$F/host-vars.yml" <<VARS
---
smmud_metrics_file: /var/lib/prometheus/node-exporter/smmud.prom
smmud_trigger:
  ExitLimit: 3
  HoldTime: 20s
smmud_storm:
  Threshold: 16
  TeardownMode: deferred
smmud_canary_profile:
  name: host-canary
  settings:
    MatchKernel: tunables
    HoldTime: 45s
VARS
digest() { smmuctl --json status | jq -r .config.digest; }
# play LOG PLAYBOOK [ansible-playbook options]: the exit status, the recap in LOG
play() {
	log=$1 pb=$2
	shift 2
	ANSIBLE_ROLES_PATH=$F/roles ANSIBLE_NOCOLOR=1 ANSIBLE_RETRY_FILES_ENABLED=0 \
		ansible-playbook -c local -i localhost, -e @"$F/host-vars.yml" \
		-e smmud_deb="$deb" "$@" "$pb" >"$log" 2>&1
}
recap() { grep -E '^localhost +:' "$1" | sed 's/  */ /g'; }
changed() { recap "$1" | sed -n 's/.*changed=\([0-9]*\).*/\1/p'; }
failed() { recap "$1" | sed -n 's/.*failed=\([0-9]*\).*/\1/p'; }
deb=$(ls $DEBS/smmud_*_arm64.deb | grep -v '+bench' | head -n1)
cat >"$F/local.yml" <<'PB'
---
- name: Apply the smmud role to this host
  hosts: localhost
  become: false
  gather_facts: false
  roles:
    - role: smmud
PB
# The shipped canary play, on this host, with its last two steps (50%,
# 100%): each step is the same play, and each costs the role's twenty-odd
# tasks, a Python run each under TCG.
sed -e 's/hosts: kvm_hosts/hosts: localhost/' -e 's/become: true/become: false/' \
	"$F/canary.yml" | awk '/^- name: Canary / { keep = ($4 == "50%" || $4 == "100%") } keep || !/^(- |  )/' \
	>"$F/local-canary.yml"

check "ansible-playbook is installed ($(ansible --version 2>/dev/null | head -n1))" \
	-n "$(command -v ansible-playbook)"
before=$(digest)

if play /tmp/ans-1.log "$F/local.yml"; then ok "first apply ($(recap /tmp/ans-1.log))"; else
	not_ok "first apply" "$(tail -n 15 /tmp/ans-1.log | tr '\n' ' ')"; fi
first=$(digest)
check "first apply: something changed ($(changed /tmp/ans-1.log))" "$(changed /tmp/ans-1.log)" -gt 0
check "the role's drop-in is in place" -f /etc/smmud/smmud.conf.d/60-ansible.conf
check "the unit's drop-in opens the metrics directory" \
	"$(systemctl show -p ReadWritePaths --value smmud.service | grep -c /var/lib/prometheus/node-exporter)" -ge 1
check "smmud runs a new configuration ($before -> $first)" "$first" != "$before"
check "the running digest is check-config's of the installed directory" \
	"$first" = "$(smmuctl --json check-config | jq -r .digest)"
check "smmud is running" "$(unit_prop SubState)" = running
wait_until 20 test -s /var/lib/prometheus/node-exporter/smmud.prom
check "smmud writes the metrics file" -s /var/lib/prometheus/node-exporter/smmud.prom
check "with the running digest in it" \
	"$(grep -c "config_digest=\"$first\"" /var/lib/prometheus/node-exporter/smmud.prom)" = 1

pid=$(smmud_pid)
if play /tmp/ans-2.log "$F/local.yml"; then ok "second apply ($(recap /tmp/ans-2.log))"; else
	not_ok "second apply" "$(tail -n 15 /tmp/ans-2.log | tr '\n' ' ')"; fi
check "second apply: changed=0" "$(changed /tmp/ans-2.log)" = 0
check "second apply: smmud not restarted (pid $pid)" "$(smmud_pid)" = "$pid"
check "second apply: digest unchanged" "$(digest)" = "$first"

sum=$(cat /etc/smmud/smmud.conf.d/* /etc/systemd/system/smmud.service.d/* | md5sum)
if play /tmp/ans-3.log "$F/local.yml" -e '{"smmud_storm": {"Threshold": "banana"}}'; then
	not_ok "a bad variable (Threshold=banana) fails the play" "it passed: $(recap /tmp/ans-3.log)"
else ok "a bad variable (Threshold=banana) fails the play ($(recap /tmp/ans-3.log))"; fi
check "the failure is smmuctl check-config's, naming the key" \
	"$(grep -c 'check-config rejected.*Threshold' /tmp/ans-3.log)" -ge 1
check "bad variable: nothing written" "$(cat /etc/smmud/smmud.conf.d/* /etc/systemd/system/smmud.service.d/* | md5sum)" = "$sum"
check "bad variable: the old config keeps running ($(digest))" "$(digest)" = "$first"
check "bad variable: smmud not restarted" "$(smmud_pid)" = "$pid"

# The canary play: Canary= raised to 50%, then 100%, each step verified.
if play /tmp/ans-4.log "$F/local-canary.yml"; then ok "canary rollout ($(recap /tmp/ans-4.log))"; else
	not_ok "canary rollout" "$(tail -n 15 /tmp/ans-4.log | tr '\n' ' ')"; fi
check "canary: the profile is in the drop-in at 100% at the end" \
	"$(grep -c '^Canary=100%' /etc/smmud/smmud.conf.d/60-ansible.conf)" = 1
check "canary: two steps applied, each verified" \
	"$(grep -c 'smmud runs configuration' /tmp/ans-4.log)" = 2
canary=$(digest)
check "canary: a new digest ($canary)" "$canary" != "$first"
check "canary: the profile is in smmud's configuration" \
	"$(smmuctl --json config | jq -r .text | grep -c '^\[Profile host-canary\]')" = 1

if play /tmp/ans-5.log "$F/local.yml" -e smmud_state=absent; then ok "removal ($(recap /tmp/ans-5.log))"; else
	not_ok "removal" "$(tail -n 15 /tmp/ans-5.log | tr '\n' ' ')"; fi
check "removal: the role's drop-in is gone" ! -e /etc/smmud/smmud.conf.d/60-ansible.conf
check "removal: the unit drop-in is gone" ! -e /etc/systemd/system/smmud.service.d/60-ansible-metrics.conf
check "removal: smmud runs the package's configuration again ($(digest))" "$(digest)" = "$before"
check "removal: smmud is running" "$(unit_prop SubState)" = running
