# SPDX-License-Identifier: GPL-2.0-or-later
# The fake host of the integration tests, sourced by tests/integration/run
# and tests/reliability/*: the real smmud (san build) against a fake sysfs
# tree of real files, fake VMMs holding fake VFIO group files, and a private
# dbus-daemon with fake machined and logind.  The caller has set top and
# is at the top of the tree; it calls make_fake_host, then start_bus if it
# wants the bus.  TAP helpers: ok, not_ok, check; waits: wait_for.
#
# Variables: T (scratch dir, removed at exit unless SMMUD_TEST_KEEP), R
# (the fake root), RUN (runtime dir), CONF, LOG, SMMU names A Bs C, and
# the pids bus_pid machined_pid logind_pid smmud_pid.

B=${BUILD:-build}/san
SMMUD=$B/smmud
VMM=$B/tests/helpers/fake-vmm
MACHINED=$B/tests/helpers/fake-machined
LOGIND=$B/tests/helpers/fake-logind
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

for f in "$SMMUD" "$VMM" "$MACHINED" "$LOGIND"; do
	if [ ! -x "$f" ]; then
		echo "not ok 1 - $f is not built (make san)"
		echo "0 passed, 1 failed"
		exit 1
	fi
done

# On tmpfs where there is one, as sysfs and /run are on a host: on a disk
# a rename or truncate may wait for the disk (ext4 with online discard
# does), and the wake-up counts would count those waits too.
tmp_base=/tmp
[ -d /dev/shm ] && [ -w /dev/shm ] && tmp_base=/dev/shm
T=$(mktemp -d "$tmp_base/smmud-it.XXXXXX")
R=$T/root
RUN=$T/run
CONF=$T/smmud.conf
LOG=$T/smmud.log
A=smmu3.0x0000000009050000 # groups 1 2 3
Bs=smmu3.0x0000000009060000 # group 4
C=smmu3.0x0000000009070000 # group 5, no tunables (unpatched kernel)
children=()
smmud_pid=
n=0
fails=0

cleanup() {
	for p in "${children[@]}"; do
		kill -KILL "$p" 2>/dev/null
	done
	wait 2>/dev/null
	if [ "$fails" -gt 0 ] && [ -f "$LOG" ]; then
		echo "# last lines of the smmud log:"
		tail -n 40 "$LOG" | sed 's/^/#   /'
		mkdir -p "$top/${BUILD:-build}/check"
		cp "$LOG" "$top/${BUILD:-build}/check/${TEST_NAME:-integration}-smmud.log"
		echo "# whole log: ${BUILD:-build}/check/${TEST_NAME:-integration}-smmud.log"
	fi
	if [ -n "${SMMUD_TEST_KEEP:-}" ]; then echo "# kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT

ok() {
	n=$((n + 1))
	echo "ok $n - $*"
}
not_ok() {
	n=$((n + 1))
	fails=$((fails + 1))
	echo "not ok $n - $*"
}
check() {
	local what=$1
	shift
	if "$@"; then ok "$what"; else not_ok "$what"; fi
}

# wait_for SECONDS COMMAND...: polls COMMAND every 50 ms, at most SECONDS.
wait_for() {
	local max=$(($1 * 20)) i=0
	shift
	until "$@"; do
		i=$((i + 1))
		[ "$i" -ge "$max" ] && return 1
		sleep 0.05
	done
}

log_has() { grep -q -- "$1" "$LOG"; }
log_count() { grep -c -- "$1" "$LOG"; }
log_count_is() { [ "$(log_count "$1")" -eq "$2" ]; }
log_count_ge() { [ "$(log_count "$1")" -ge "$2" ]; }
knob() { cat "$R/sys/class/iommu/$1/arm-smmu-v3/$2"; }
knob_is() { [ "$(knob "$1" "$2")" = "$3" ]; }
knobs_are() { knob_is "$1" inv_threshold "$2" && knob_is "$1" teardown_mode "$3"; }
state_file_gone() { [ ! -e "$RUN/state" ]; }
alive() { kill -0 "$1" 2>/dev/null; }
dead() { ! kill -0 "$1" 2>/dev/null; }

# ---- the fake host ------------------------------------------------------

add_group() { # smmu group
	local bdf
	bdf=$(printf '0000:00:%02x.0' "$2")
	mkdir -p "$R/sys/kernel/iommu_groups/$2/devices" "$R/sys/bus/pci/devices/$bdf" \
		"$R/sys/class/iommu/$1/devices" "$R/dev/vfio"
	ln -s "../../../../kernel/iommu_groups/$2" "$R/sys/bus/pci/devices/$bdf/iommu_group"
	ln -s "../../../../bus/pci/devices/$bdf" "$R/sys/kernel/iommu_groups/$2/devices/$bdf"
	ln -s "$R/sys/bus/pci/devices/$bdf" "$R/sys/class/iommu/$1/devices/$bdf"
	echo 0 >"$R/sys/bus/pci/devices/$bdf/numa_node"
	: >"$R/dev/vfio/$2"
}

add_smmu() { # name tunable(yes/no) groups...
	local name=$1 tunable=$2 d
	shift 2
	d=$R/sys/class/iommu/$name
	mkdir -p "$d/devices"
	if [ "$tunable" = yes ]; then
		mkdir -p "$d/arm-smmu-v3"
		echo auto >"$d/arm-smmu-v3/inv_threshold"
		echo strict >"$d/arm-smmu-v3/teardown_mode"
		echo 0 >"$d/arm-smmu-v3/range_invalidation"
		echo "s1 s2" >"$d/arm-smmu-v3/stages"
		echo "4K 16K 64K" >"$d/arm-smmu-v3/granules"
	fi
	for g in "$@"; do add_group "$name" "$g"; done
}

make_fake_host() {
	mkdir -p "$R/sys/devices/system/cpu" "$R/sys/devices/system/node" "$R/sys/class/iommu/dmar0"
	echo 0-1 >"$R/sys/devices/system/cpu/online"
	echo 0 >"$R/sys/devices/system/node/online"
	ln -s /proc "$R/proc"
	add_smmu "$A" yes 1 2 3
	add_smmu "$Bs" yes 4
	add_smmu "$C" no 5
}

write_config() { # exit-limit [extra lines]
	cat >"$CONF" <<EOF
[Manager]
ScanInterval=0
DriftCheckInterval=200ms
[Trigger]
Window=10s
ExitLimit=$1
PinnedLimit=0
HoldTime=10s
${2:-}
EOF
}

# ---- processes ---------------------------------------------------------

# start_vmm NAME GROUP [fake-vmm options]: a fake VMM holding
# /dev/vfio/GROUP, 1 MiB locked.
declare -A vmm
start_vmm() {
	local out=$T/vmm-$1.out
	"$VMM" --open "$R/dev/vfio/$2" --mlock 1048576 "${@:3}" >"$out" 2>&1 &
	vmm[$1]=$!
	children+=($!)
	wait_for 10 grep -q '^ready' "$out" || echo "# fake-vmm $1 did not get ready"
}

stop_vmm() { # NAME [signal]
	kill -"${2:-TERM}" "${vmm[$1]}"
}

exited_in_log() { log_has "(pid ${vmm[$1]}) exited"; }

start_smmud() { # [extra options]
	SMMUD_ROOT=$R "$SMMUD" --config "$CONF" --config-dir "" --runtime-dir "$RUN" "$@" \
		>>"$LOG" 2>&1 &
	smmud_pid=$!
	children+=($smmud_pid)
	wait_for 20 log_count_ge "^smmud [0-9.]* running" "$((runs + 1))"
	runs=$((runs + 1))
}
runs=0

stop_smmud() {
	kill -TERM "$smmud_pid"
	wait "$smmud_pid"
}

# ---- a private bus with machined and logind -----------------------------

# The bus daemon and its services, each restartable (fault tests).
start_dbus_daemon() {
	rm -f "$T/bus"
	dbus-daemon --config-file="$T/bus.conf" --nofork --nopidfile >>"$T/dbus.log" 2>&1 &
	bus_pid=$!
	children+=($bus_pid)
	wait_for 10 test -S "$T/bus"
}
start_machined() {
	: >"$T/machined.out"
	"$MACHINED" >"$T/machined.out" 2>&1 &
	machined_pid=$!
	children+=($machined_pid)
	wait_for 10 grep -q ready "$T/machined.out"
}
start_logind() {
	: >"$T/logind.out"
	"$LOGIND" >"$T/logind.out" 2>&1 &
	logind_pid=$!
	children+=($logind_pid)
	wait_for 10 grep -q ready "$T/logind.out"
}

start_bus() {
	cat >"$T/bus.conf" <<EOF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>smmud-test</type>
  <listen>unix:path=$T/bus</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
EOF
	start_dbus_daemon
	wait_for 10 test -S "$T/bus"
	export DBUS_SYSTEM_BUS_ADDRESS=unix:path=$T/bus
	start_machined
	start_logind
}
