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

# ---- real QEMU VMMs ----------------------------------------------------------
# qemu_start NAME BDF MIB [QEMU ARGS...]: a QEMU VMM as a host runs one:
# Debian's qemu-system-aarch64 with the edu device at BDF passed through
# (-device vfio-pci), MIB MiB of guest RAM that QEMU maps through VFIO
# type1 itself, paused before the guest runs (-S: the nested guest needs no
# OS, and TCG inside TCG would be slow), and registered with
# systemd-machined as libvirt registers its guests (CreateMachine: a
# machine-qemu\x2dNAME.scope in machine.slice).  Two 4 KiB pages of guest
# RAM (qemu_probe_iovas) hold vfio-vmm's pattern of seed QEMU_SEED (QEMU's loader device):
# qemu_probe reads them back after the VM is gone and requires a fault.
# Sets QEMU_PID; the QMP socket is /run/qemu-NAME.qmp.
QEMU_RAM_BASE=0x40000000 # the virt machine's RAM, also its IOVA under VFIO
QEMU_SEED=0x51ed
# The probed pages: 4 MiB into RAM (past the device tree QEMU puts at its
# start) and three quarters in (half-way is 2 GiB for a 2 GiB VM: the IOVA
# where vfio-vmm's probe maps its own scratch pages).
qemu_probe_iovas() { echo "$((QEMU_RAM_BASE + 4 * 1048576)) $((QEMU_RAM_BASE + $1 * 1048576 / 4 * 3))"; }
qemu_start() {
	_n=$1 _bdf=$2 _mib=$3
	shift 3
	rm -f "/run/qemu-$_n.qmp"
	set -- $(qemu_probe_iovas "$_mib") "$@"
	_a0=$1 _a1=$2
	shift 2
	vfio-vmm --pattern-file "/run/qemu-$_n.p0" --seed $QEMU_SEED --iova "$_a0" >/dev/null
	vfio-vmm --pattern-file "/run/qemu-$_n.p1" --seed $QEMU_SEED --iova "$_a1" >/dev/null
	setsid qemu-system-aarch64 -machine virt -cpu cortex-a57 -accel tcg,tb-size=32 -smp 1 \
		-m "$_mib" -S -nodefaults -no-user-config -display none \
		-qmp "unix:/run/qemu-$_n.qmp,server=on,wait=off" \
		-device "vfio-pci,host=$_bdf" \
		-device "loader,file=/run/qemu-$_n.p0,addr=$_a0" \
		-device "loader,file=/run/qemu-$_n.p1,addr=$_a1" \
		"$@" </dev/null >"/tmp/qemu-$_n.log" 2>&1 &
	QEMU_PID=$!
	echo "$QEMU_PID" >"/run/qemu-$_n.pid"
	# QMP answers once the machine is created, its RAM mapped through VFIO.
	if ! wait_until 300 sh -c "! kill -0 $QEMU_PID 2>/dev/null || { [ -S /run/qemu-$_n.qmp ] && qmp /run/qemu-$_n.qmp query-status >/dev/null 2>&1; }" ||
		! kill -0 "$QEMU_PID" 2>/dev/null; then
		sed 's/^/  qemu: /' "/tmp/qemu-$_n.log"
		return 1
	fi
	busctl call org.freedesktop.machine1 /org/freedesktop/machine1 \
		org.freedesktop.machine1.Manager CreateMachine 'sayssusa(sv)' \
		"qemu-$_n" 0 qemu vm "$QEMU_PID" "" 0 >/dev/null
}

# qemu_probe NAME BDF MIB: after the VM's teardown, read its old IOVAs
# from a fresh container on its device (vfio-vmm --probe); 0 when every
# read faulted, with the result lines in /tmp/qemu-NAME.probe.
qemu_probe() {
	vfio-vmm --bdf "$2" --seed $QEMU_SEED \
		--probe "$(qemu_probe_iovas "$3" | tr ' ' ,)" >"/tmp/qemu-$1.probe" 2>&1
}

# teardown_first KMSG_LINE: what the test-only teardown log (vfio_iommu_type1.
# test_log_teardown=1) says the kernel tore down first after that dmesg
# line, and in which task: "detach_group,COMM", "release,COMM" or "none".
teardown_first() {
	_f=$(dmesg | tail -n +$(($1 + 1)) | grep "TEST teardown=" | head -n1 |
		sed -n 's/.*TEST teardown=\([a-z_]*\) pid=[0-9]* comm=\([^ ]*\).*/\1,\2/p')
	echo "${_f:-none}"
}

# qemu_probe_result NAME BDF MIB: qemu_probe, then PROBE_RC (its status),
# PROBE_STALE and PROBE_FAULTED (how many of its reads read data, how many
# faulted).
qemu_probe_result() {
	qemu_probe "$1" "$2" "$3"
	PROBE_RC=$?
	PROBE_STALE=$(grep -c '=stale' "/tmp/qemu-$1.probe")
	PROBE_FAULTED=$(grep -c '=fault' "/tmp/qemu-$1.probe")
}

# vm_exit_line MARK PID: smmud's journal entry of the exit of the VM PID since MARK.
vm_exit_line() { journal_since "$1" -o cat SMMUD_DECISION=vm-exit | grep -F "(pid $2)" | head -n1; }

# smmu_counter NAME: the SMMU's debugfs counter NAME now (0 without debugfs).
smmu_counter() {
	sed -n "s/^$1 //p" "/sys/kernel/debug/iommu/arm-smmu-v3/$SMMU/counters" 2>/dev/null || echo 0
}
