#!/bin/sh
# A VMM whose memory is 4 KiB pages (MADV_NOHUGEPAGE): every
# teardown order, each followed by the DMA-after-teardown check.
# profiles: all
# timeout: 180
set -eu
. /tests/lib.sh

layout_suite 4k 64
