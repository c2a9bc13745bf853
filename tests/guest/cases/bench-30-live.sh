#!/bin/sh
# The VM that stays alive: map, DMA, unmap and read again with buffers of
# 64 KiB to 2 MiB for a few seconds; every unmapped buffer must fault.
# profiles: all
# timeout: 60
set -eu
. /tests/lib.sh

vmm "live VM maps and unmaps with DMA checks" --bdf "$(edu 1)" --layout thp --live 4 --dma-every 2 --dma-check
rounds=$(kv "$VMM_OUT" live_rounds)
checks=$(kv "$VMM_OUT" live_dma_checks)
check "live VM did rounds ($rounds) and DMA checks ($checks)" "${rounds:-0}" -gt 0 -a "${checks:-0}" -gt 0
