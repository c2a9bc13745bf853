# Helpers for the deployed host's case scripts: `. /bench/lib.sh`.
# The case contract is the guest's (tests/guest/lib.sh, which this sources:
# ok, not_ok, check, edu, kv, vmm, vmm_start/vmm_go/vmm_wait...); cases run
# under dash as root, on a host booted by systemd with smmud installed from
# its package by the first case.
#
# SMMU          the SMMU's name (smmu3.0x...), SMMU_DIR its arm-smmu-v3 group
# THR, MODE     its inv_threshold and teardown_mode files

# shellcheck disable=SC1091
. /bench/guest-lib.sh

SMMU_DIR=$(ls -d /sys/class/iommu/*/arm-smmu-v3 2>/dev/null | head -n1)
SMMU=${SMMU_DIR%/arm-smmu-v3} SMMU=${SMMU##*/}
THR=$SMMU_DIR/inv_threshold
MODE=$SMMU_DIR/teardown_mode
DEBS=/bench/debs

# knobs: "THRESHOLD MODE" as the kernel has them now.
knobs() { echo "$(cat "$THR") $(cat "$MODE")"; }

# wait_until SECONDS COMMAND...: run COMMAND every 0.1 s until it succeeds
# (0) or SECONDS have passed (1).
wait_until() {
	_deadline=$(($(date +%s) + $1))
	shift
	until "$@"; do
		[ "$(date +%s)" -lt "$_deadline" ] || return 1
		sleep 0.1
	done
}

knobs_are() { [ "$(knobs)" = "$1" ]; }

# unit_prop PROPERTY: smmud.service's property value (systemctl show).
unit_prop() { systemctl show -p "$1" --value smmud.service; }
smmud_pid() { unit_prop MainPID; }

# status_json: smmuctl --json status (the private socket).
status_json() { smmuctl --json status; }

# vmm_pid NAME: the process that holds the VM's VFIO files.  With
# --teardown exit or kill, vfio-vmm forks: the child is the VMM and the
# parent (whose pid vmm_start records) times its death.
vmm_pid() {
	_p=$(cat "/tmp/vmm-$1.pid")
	pgrep -P "$_p" -x vfio-vmm || echo "$_p"
}

# vm_known PID: smmud lists the process as a VM.
vm_known() { status_json | jq -e --argjson p "$1" 'any(.vms[]; .pid == $p)' >/dev/null; }

# journal_mark / journal_since MARK ARGS...: smmud's journal entries
# after a point in time, as journalctl takes it (UTC, microseconds).
journal_mark() { date -u '+%Y-%m-%d %H:%M:%S.%6N UTC'; }
journal_since() {
	_m=$1
	shift
	journalctl -u smmud.service --since="$_m" --no-pager "$@"
}

# The package's files that must be gone after a purge.
PACKAGE_PATHS="/usr/sbin/smmud /usr/bin/smmuctl /lib/systemd/system/smmud.service
/lib/systemd/system-generators/smmud-sysfs-generator /usr/share/dbus-1/system.d/org.smmud1.conf
/etc/smmud/smmud.conf /usr/share/man/man8/smmud.8.gz"

# busybox's usleep, which tests/guest/lib.sh uses, for Debian's dash.
command -v usleep >/dev/null 2>&1 || usleep() { sleep "$(awk -v u="$1" 'BEGIN { printf "%.6f", u / 1e6 }')"; }
