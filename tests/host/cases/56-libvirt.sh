#!/bin/sh
# libvirt as a host runs it: the QEMU of 50-qemu, now started by libvirt
# (virsh create of a domain with a <hostdev>, paused: the nested guest
# needs no OS) and stopped by libvirt's own calls: virsh destroy (SIGTERM,
# then SIGKILL after its grace time), virsh destroy --graceful (SIGTERM
# only), and four domains destroyed at once.  libvirt does what 50-qemu
# does by hand: machined's registration, the device's ownership and
# memlock limit, QEMU's private /dev.  For each: smmud knew the VM by its
# machine name; the kernel's counters and its first teardown step; a DMA
# from its old IOVAs afterwards faults.  virsh shutdown is not a path here:
# a guest without an OS ignores the ACPI power button.
# timeout: 900
set -u
. /bench/lib.sh

mib=${SMMUD_QEMU_MIB:-128}
installed=0
[ "$(systemctl show -p LoadState --value smmud.service)" = loaded ] && installed=1
export LIBVIRT_DEFAULT_URI=qemu:///system
command -v virsh >/dev/null || { not_ok "libvirt is in the image" "no virsh"; exit 0; }

# The first connection starts libvirtd (socket activation), which probes
# QEMU's capabilities (a QEMU started and asked over QMP, under TCG here).
t0=$(date +%s%N)
if timeout 600 virsh version >/tmp/virsh-version 2>&1; then
	ok "libvirt answers ($(sed -n 's/^Running hypervisor: //p' /tmp/virsh-version))"
else
	not_ok "libvirt answers" "$(tail -n 3 /tmp/virsh-version)"
	exit 0
fi
echo "LIBVIRT first_connection_ms=$((($(date +%s%N) - t0) / 1000000))"

# lv_start NAME BDF: a domain like qemu_start's QEMU (MIB MiB, the edu
# device at BDF, the probe's patterns in RAM), created paused.  Sets
# LV_PID and LV_MACHINE (machined's name for it, as libvirt registers it).
lv_start() {
	_n=$1 _bdf=$2
	# shellcheck disable=SC2046 # two numbers
	set -- $(qemu_probe_iovas "$mib")
	# The patterns where the domain's QEMU (user libvirt-qemu) can read them.
	_dir=/var/lib/libvirt/qemu/smmud-patterns
	mkdir -p "$_dir"
	chmod 755 "$_dir"
	vfio-vmm --pattern-file "$_dir/$_n.p0" --seed "$QEMU_SEED" --iova "$1" >/dev/null
	vfio-vmm --pattern-file "$_dir/$_n.p1" --seed "$QEMU_SEED" --iova "$2" >/dev/null
	chmod 644 "$_dir/$_n.p0" "$_dir/$_n.p1"
	_bus=${_bdf#*:} _bus=${_bus%%:*}
	_slot=${_bdf##*:} _slot=${_slot%.*}
	_fn=${_bdf##*.}
	cat >"/tmp/lv-$_n.xml" <<EOF
<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>lv-$_n</name>
  <memory unit='MiB'>$mib</memory>
  <vcpu>1</vcpu>
  <os><type arch='aarch64' machine='virt'>hvm</type></os>
  <cpu mode='custom' match='exact'><model fallback='forbid'>cortex-a57</model></cpu>
  <features><tcg><tb-cache unit='MiB'>32</tb-cache></tcg></features>
  <devices>
    <emulator>/usr/bin/qemu-system-aarch64</emulator>
    <controller type='usb' model='none'/>
    <memballoon model='none'/>
    <hostdev mode='subsystem' type='pci' managed='no'>
      <source><address domain='0x0000' bus='0x$_bus' slot='0x$_slot' function='0x$_fn'/></source>
    </hostdev>
  </devices>
  <qemu:commandline>
    <qemu:arg value='-device'/><qemu:arg value='loader,file=$_dir/$_n.p0,addr=$1'/>
    <qemu:arg value='-device'/><qemu:arg value='loader,file=$_dir/$_n.p1,addr=$2'/>
  </qemu:commandline>
</domain>
EOF
	LV_PID="" LV_MACHINE=""
	if ! virsh create --paused "/tmp/lv-$_n.xml" >"/tmp/lv-$_n.out" 2>&1; then
		sed 's/^/  virsh: /' "/tmp/lv-$_n.out"
		tail -n 5 "/var/log/libvirt/qemu/lv-$_n.log" 2>/dev/null | sed 's/^/  qemu: /'
		return 1
	fi
	LV_PID=$(cat "/run/libvirt/qemu/lv-$_n.pid")
	LV_MACHINE=$(machinectl list --no-legend | awk -v n="lv-$_n" '$1 ~ "-" n "$" { print $1 }')
}

# lv_gone PID: libvirt's QEMU has exited.
lv_gone() { ! kill -0 "$1" 2>/dev/null; }

n=0
for path in destroy graceful; do
	n=$((n + 1))
	bdf=$(edu $n)
	if ! lv_start "$path" "$bdf"; then
		not_ok "virsh $path: domain created with $bdf as its hostdev" "see above"
		continue
	fi
	pid=$LV_PID
	ok "virsh $path: domain created (QEMU pid $pid) with $bdf as its hostdev"
	check "virsh $path: machined knows it ($LV_MACHINE)" -n "$LV_MACHINE"
	if [ "$installed" = 1 ]; then
		if wait_until 30 sh -c "smmuctl --json status | jq -e --argjson p $pid 'any(.vms[]; .pid == \$p and .pinned_bytes >= $((mib << 20)))' >/dev/null"; then
			ok "virsh $path: smmud lists it with its $mib MiB pinned"
		else
			not_ok "virsh $path: smmud lists it with its $mib MiB pinned" "$(smmuctl --json status | jq -c .vms)"
		fi
	fi
	before_total=$(smmu_counter tlbi_total)
	mark_start=$(journal_mark)
	kmsg_before=$(dmesg | wc -l)
	t0=$(date +%s%N)
	case $path in
	destroy) virsh destroy "lv-$path" >/dev/null ;;
	graceful) virsh destroy --graceful "lv-$path" >/dev/null ;;
	esac
	if wait_until 120 lv_gone "$pid"; then
		ok "virsh $path: QEMU is gone"
	else
		not_ok "virsh $path: QEMU is gone" "still running after 120 s"
		kill -KILL "$pid"
	fi
	t1=$(date +%s%N)
	tlbi=$(($(smmu_counter tlbi_total) - before_total))
	first=$(teardown_first "$kmsg_before")
	qemu_probe_result "$path" "$bdf" "$mib"
	prc=$PROBE_RC stale=$PROBE_STALE faulted=$PROBE_FAULTED
	echo "LIBVIRT path=$path pid=$pid teardown_ms=$(((t1 - t0) / 1000000)) first=$first tlbi=$tlbi stale=$stale faulted=$faulted"
	check "virsh $path: a DMA from its old IOVAs faults afterwards ($faulted faulted, $stale stale)" "$prc/$stale/$faulted" = 0/0/2
	if [ "$installed" = 1 ]; then
		line=$(vm_exit_line "$mark_start" "$pid")
		echo "# smmud: $line"
		check "virsh $path: smmud counted its exit under its machine name" \
			-n "$(echo "$line" | grep -F "$LV_MACHINE (pid $pid)")"
	fi
done

# ---- four at once: a host drained through libvirt ----------------------------
[ "$installed" = 1 ] || exit 0
conf=/etc/smmud/smmud.conf.d/56-bench.conf
printf '[Trigger]\nHoldTime=5s\n' >"$conf"
systemctl reload smmud.service
orig=$(knobs)
pids="" doms=""
for i in 1 2 3 4; do
	if lv_start "mass$i" "$(edu $i)"; then
		pids="$pids $LV_PID" doms="$doms lv-mass$i"
	else
		not_ok "mass$i: domain created" "see above"
	fi
done
wait_until 30 sh -c "[ \$(smmuctl --json status | jq '[.vms[] | select(.unit | startswith(\"machine-qemu\"))] | length') -ge 4 ]"
mark_start=$(journal_mark)
before_total=$(smmu_counter tlbi_total)
for d in $doms; do virsh destroy "$d" >/dev/null & done
wait
for p in $pids; do wait_until 120 lv_gone "$p"; done
echo "LIBVIRT path=mass vms=$(echo "$pids" | wc -w) tlbi=$(($(smmu_counter tlbi_total) - before_total))"
w=$(journal_since "$mark_start" -o cat SMMUD_AFTER=storm SMMUD_BEFORE=baseline | head -n1)
check "four domains destroyed at once: a storm ($w)" -n "$w"
if wait_until 30 knobs_are "$orig"; then ok "and the knobs back at $orig after the hold time"; else
	not_ok "and the knobs back after the hold time" "now $(knobs)"; fi
rm -f "$conf"
systemctl reload smmud.service
