#!/bin/sh
# A mass VM shutdown: five VMMs, one per device, in a mix of layouts and
# teardown orders, all mapped and DMA-checked first, then told to go at
# the same moment; every one must finish and every old IOVA must fault.
# profiles: all
# timeout: 180
set -eu
. /tests/lib.sh

e1000e=
for b in $SMMUD_VFIO_BDFS; do
	case " $SMMUD_EDU_BDFS " in *" $b "*) ;; *) e1000e=$b ;; esac
done

vmm_start vm1-4k-unmap --bdf "$(edu 1)" --layout 4k --size 64 --teardown unmap --dma-check
vmm_start vm2-thp-close --bdf "$(edu 2)" --layout thp --size 64 --teardown close --dma-check
vmm_start vm3-hugetlb-exit --bdf "$(edu 3)" --layout hugetlb --size 64 --teardown exit --dma-check
vmm_start vm4-4k-chunks-kill --bdf "$(edu 4)" --layout 4k --size 64 --chunk 2 --teardown kill --dma-check
[ -n "$e1000e" ] && vmm_start vm5-thp-kill-e1000e --bdf "$e1000e" --layout thp --size 64 --teardown kill

if vmm_ready_all 90; then
	ok "all VMMs mapped and ready"
else
	not_ok "all VMMs mapped and ready" "a VMM died or took over 90 s"
fi
t0=$(ms_now)
vmm_go
for name in $VMM_PIDS; do
	vmm_wait "$name"
	echo "# $name: teardown_ms=$(kv "$VMM_OUT" teardown_ms)"
done
echo "# storm: $(($(ms_now) - t0)) ms from go to the last VMM done (DMA checks included)"
