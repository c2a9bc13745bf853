# Helpers for the guest's case scripts: `. /tests/lib.sh`.
#
# The case contract (tests/guest/init enforces it):
#   - a case is /tests/cases/NAME.sh, run by busybox sh in lexical order;
#   - header lines "# profiles: P1 P2" (default: every profile) and
#     "# timeout: SECONDS" (default: smmud.case_timeout, 120);
#   - it prints "ok - what" or "not ok - what # why" lines; init numbers
#     them and prefixes the case name; any other output is kept as a log;
#   - exiting non-zero without a "not ok" line, printing no result, or
#     running past the timeout is a failure;
#   - whatever the case leaves running in its session is killed when it
#     ends; anything meant to outlive it needs setsid and its output sent
#     elsewhere than the case's stdout (which init reads to the end).
# /run/smmud-bench.env gives SMMUD_PROFILE, SMMUD_EDU_BDFS (edu devices,
# bound to vfio-pci), SMMUD_VFIO_BDFS (every device bound) and
# SMMUD_HUGEPAGES.

# shellcheck disable=SC1091
[ -r /run/smmud-bench.env ] && . /run/smmud-bench.env

ok() { echo "ok - $*"; }
not_ok() {
	what=$1
	shift
	echo "not ok - $what # $*"
}
# check WHAT CONDITION...: ok when the test(1) condition holds.
check() {
	what=$1
	shift
	if [ "$@" ]; then ok "$what"; else not_ok "$what" "failed: [ $* ]"; fi
}

# edu N: the Nth edu device (from 1), empty if there are fewer.
edu() {
	i=$1
	set -- $SMMUD_EDU_BDFS
	[ "$i" -le $# ] || return 0
	eval "echo \${$i}"
}

# kv FILE KEY: the first word of the value of the last KEY=... line.
kv() { sed -n "s/^$2=//p" "$1" | tail -n1 | cut -d' ' -f1; }

# vmm NAME ARGS...: run vfio-vmm ARGS, log its output, report ok/not ok
# NAME on its exit status.  Always returns 0 (the result is in the TAP
# line); the output stays in /tmp/vmm-NAME.out for kv, VMM_RC has the status.
vmm() {
	name=$1
	shift
	out=/tmp/vmm-$(echo "$name" | tr -c 'A-Za-z0-9_.\n-' '_').out
	VMM_RC=0
	vfio-vmm "$@" >"$out" 2>&1 || VMM_RC=$?
	vmm_report "$name" "$out"
}

vmm_report() {
	sed 's/^/  /' "$2"
	VMM_OUT=$2
	if [ "$VMM_RC" -eq 0 ]; then
		ok "$1"
	else
		# The first error is the cause; later ones are its consequences.
		not_ok "$1" "$(sed -n 's/^error=//p' "$2" | head -n1) (exit $VMM_RC)"
	fi
}

# vmm_start NAME ARGS...: vfio-vmm --hold in the background; vmm_go sends
# every started one its SIGUSR1 at once once all are ready (a mass VM
# shutdown); vmm_wait NAME reports it like vmm.
VMM_PIDS=
vmm_start() {
	name=$1
	shift
	rm -f "/tmp/vmm-$name.ready"
	vfio-vmm --hold --ready-file "/tmp/vmm-$name.ready" "$@" >"/tmp/vmm-$name.out" 2>&1 &
	echo $! >"/tmp/vmm-$name.pid"
	VMM_PIDS="$VMM_PIDS $name"
}

# vmm_ready_all SECONDS: wait until every started VMM is ready (or died).
vmm_ready_all() {
	deadline=$(($(date +%s) + $1))
	for name in $VMM_PIDS; do
		while [ ! -e "/tmp/vmm-$name.ready" ]; do
			kill -0 "$(cat "/tmp/vmm-$name.pid")" 2>/dev/null || return 1
			[ "$(date +%s)" -lt "$deadline" ] || return 1
			sleep 0.1
		done
	done
}

# vmm_go [SPACING_MS]: all at once, or one every SPACING_MS milliseconds
# (an exit storm a watcher can tell apart).
vmm_go() {
	if [ -n "${1:-}" ]; then
		for name in $VMM_PIDS; do
			kill -USR1 "$(cat "/tmp/vmm-$name.pid")"
			usleep $(($1 * 1000))
		done
		return 0
	fi
	pids=
	for name in $VMM_PIDS; do pids="$pids $(cat "/tmp/vmm-$name.pid")"; done
	# shellcheck disable=SC2086
	kill -USR1 $pids
}

vmm_wait() {
	VMM_RC=0
	wait "$(cat "/tmp/vmm-$1.pid")" || VMM_RC=$?
	vmm_report "$1" "/tmp/vmm-$1.out"
}

# ms_now: milliseconds since boot (for timing a case's own phases).
ms_now() {
	read -r up _ </proc/uptime
	# "1${frac} - 100": a fraction like "08" is not read as octal.
	echo $((${up%.*} * 1000 + (1${up#*.} - 100) * 10))
}

# layout_suite LAYOUT MIB: one VMM of MIB MiB in LAYOUT for each teardown
# (unmap while attached, close, exit, kill), each with the DMA check
# before and after, then the same with many 2 MiB maps; and the check
# that the memory really has that layout.
layout_suite() {
	layout=$1 mib=$2
	for td in unmap close exit kill; do
		vmm "$layout $mib MiB, teardown $td, DMA faults after" --bdf "$(edu 1)" \
			--layout "$layout" --size "$mib" --teardown "$td" --dma-check
		echo "# $layout $td: map_ms=$(kv "$VMM_OUT" map_ms) teardown_ms=$(kv "$VMM_OUT" teardown_ms)"
	done
	huge=$(kv "$VMM_OUT" huge_kib)
	case $layout in
	4k) check "4k layout has no huge pages (huge_kib=$huge)" "${huge:-x}" = 0 ;;
	thp) check "THP layout is backed by huge pages (huge_kib=$huge of $((mib * 1024)))" "${huge:-0}" -gt 0 ;;
	hugetlb) check "hugetlb layout is all huge pages (huge_kib=$huge)" "${huge:-0}" -eq $((mib * 1024)) ;;
	esac
	vmm "$layout $mib MiB in 2 MiB maps, teardown unmap, DMA faults after" --bdf "$(edu 2)" \
		--layout "$layout" --size "$mib" --chunk 2 --teardown unmap --dma-check --dma-pages 3
	vmm "$layout $mib MiB in 2 MiB maps, teardown close, DMA faults after" --bdf "$(edu 2)" \
		--layout "$layout" --size "$mib" --chunk 2 --teardown close --dma-check --dma-pages 3
}

# trace_mark N (0..255): a marker in QEMU's trace from inside the guest.
# Writes N to byte 0xfc of the first test device's PCI config space (a
# read-only, unused byte: the write changes nothing, but QEMU's
# pci_cfg_write trace event records it), so that with
# SMMUD_QEMU_TRACE=smmuv3_cmdq_opcode,pci_cfg_write the host can count the
# SMMU commands between two marks (tests/guest/smmu-trace-count).
trace_mark() {
	set -- "$1" $SMMUD_VFIO_BDFS
	# shellcheck disable=SC2059 # an octal escape, built on purpose
	printf "\\$(printf %o "$1")" |
		dd of="/sys/bus/pci/devices/$2/config" bs=1 seek=252 conv=notrunc 2>/dev/null
}
