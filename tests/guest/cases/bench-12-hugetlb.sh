#!/bin/sh
# A VMM whose memory is hugetlbfs 2 MiB pages (MAP_HUGETLB): every
# teardown order, each followed by the DMA-after-teardown check.
# profiles: all
# timeout: 180
set -eu
. /tests/lib.sh

layout_suite hugetlb 64
