# SPDX-License-Identifier: GPL-2.0-or-later
# TAP-style helpers for the shell test suites (sourced).
tap_failed=0
ok() { echo "ok - $*"; }
not_ok() { echo "not ok - $*"; tap_failed=$((tap_failed + 1)); }
diag() { sed 's/^/# /'; }
# check DESCRIPTION COMMAND...: ok if COMMAND succeeds; its output on failure.
check() {
	desc=$1; shift
	if out=$("$@" 2>&1); then
		ok "$desc"
	else
		not_ok "$desc"
		printf '%s\n' "$out" | tail -n 15 | diag
	fi
}
# fails COMMAND...: succeeds if COMMAND fails.
fails() { ! "$@"; }
# quiet COMMAND...: succeeds if COMMAND succeeds and prints nothing.
quiet() {
	qout=$("$@" 2>&1) || { printf '%s\n' "$qout"; return 1; }
	[ -z "$qout" ] || { printf '%s\n' "$qout"; return 1; }
}
tap_done() { [ "$tap_failed" -eq 0 ]; }
