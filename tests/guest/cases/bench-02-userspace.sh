#!/bin/sh
# The arm64 smmud and smmuctl in the initramfs start (their shared
# libraries and loader were packed with them).
# profiles: all
# timeout: 30
set -u
. /tests/lib.sh

for b in /usr/sbin/smmud /usr/bin/smmuctl; do
	if [ ! -e "$b" ]; then
		ok "${b##*/} starts # SKIP not built yet"
		continue
	fi
	if out=$("$b" --version 2>&1); then
		ok "${b##*/} starts ($out)"
	else
		not_ok "${b##*/} starts" "$(echo "$out" | tail -n1)"
	fi
done
