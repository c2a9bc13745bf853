#!/bin/sh
# The DMA-after-unmap check can fail: run on an IOVA that is still mapped,
# its "must fault" read has to come back with the data (reported stale),
# and on an IOVA never mapped it has to fault.  Without this, a check that
# always said "fault" would pass every kernel.
# profiles: all
# timeout: 60
set -eu
. /tests/lib.sh

vmm "DMA check self-test runs" --bdf "$(edu 1)" --selftest --size 4 --dma-pages 1
out=$VMM_OUT
check "a mapped IOVA is read back (the check sees stale data)" "$(kv "$out" selftest_mapped)" = stale
v=$(kv "$out" selftest_never_mapped)
check "a never-mapped IOVA faults ($v)" "$v" = fault -o "$v" = fault-unchanged
