#!/bin/sh
# A VMM whose memory is transparent huge pages (2 MiB aligned, MADV_HUGEPAGE): every
# teardown order, each followed by the DMA-after-teardown check.
# profiles: all
# timeout: 180
set -eu
. /tests/lib.sh

layout_suite thp 64
