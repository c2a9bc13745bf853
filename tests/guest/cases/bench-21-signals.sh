#!/bin/sh
# A VMM killed from outside (`--teardown wait`): SIGTERM (it exits with its
# fds open) and SIGKILL, each followed by a probe from a fresh container
# that must see the old IOVAs fault.
# profiles: all
# timeout: 60
set -eu
. /tests/lib.sh

bdf=$(edu 3)
first=0x100000000 last=0x1007ff000	# --dma-pages 2 of 8 MiB: first and last page
for sig in TERM KILL; do
	rm -f /tmp/wait.ready
	vfio-vmm --bdf "$bdf" --layout 4k --size 8 --teardown wait --dma-check --seed 0x5eed \
		--ready-file /tmp/wait.ready >/tmp/wait.out 2>&1 &
	pid=$!
	i=0
	while [ ! -e /tmp/wait.ready ] && kill -0 "$pid" 2>/dev/null && [ $i -lt 300 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	t0=$(ms_now)
	kill -"$sig" "$pid" 2>/dev/null || true
	rc=0
	wait "$pid" || rc=$?
	echo "# SIG$sig: $(($(ms_now) - t0)) ms from the signal to the VMM reaped"
	sed 's/^/  /' /tmp/wait.out
	want=0
	[ "$sig" = KILL ] && want=137
	check "VMM mapped, DMA-checked and ended by SIG$sig (status $rc)" -e /tmp/wait.ready -a "$rc" -eq "$want"
	vmm "after SIG$sig, the old IOVAs fault from a fresh container" --bdf "$bdf" \
		--probe "$first,$last" --seed 0x5eed
done
