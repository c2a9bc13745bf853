#!/bin/sh
# The sysfs ABI of the arm-smmu-v3 series: formats, defaults, accepted
# values read back exactly, and a table of bad inputs that must each be
# rejected with EINVAL and leave the value unchanged.
# profiles: all
# timeout: 60
set -u
. /tests/lib.sh

dir=$(ls -d /sys/class/iommu/*/arm-smmu-v3 2>/dev/null | head -n1)
if [ -z "$dir" ]; then
	ok "arm-smmu-v3 sysfs # SKIP kernel without the arm-smmu-v3 series"
	exit 0
fi
echo "# $dir"
thr=$dir/inv_threshold mode=$dir/teardown_mode

for f in inv_threshold teardown_mode range_invalidation stages granules; do
	check "$f exists" -e "$dir/$f"
done
check "inv_threshold is 0644, owned by root" "$(stat -c '%a %u' "$thr")" = "644 0"
check "teardown_mode is 0644, owned by root" "$(stat -c '%a %u' "$mode")" = "644 0"
for f in range_invalidation stages granules; do
	check "$f is 0444" "$(stat -c '%a' "$dir/$f")" = 444
done

check "inv_threshold defaults to auto" "$(cat "$thr")" = auto
check "teardown_mode defaults to deferred" "$(cat "$mode")" = deferred
ril=$(cat "$dir/range_invalidation")
case $SMMUD_PROFILE in
ril-ignored) check "range_invalidation is 0 with test_ignore_ril ($ril)" "$ril" = 0 ;;
ril) check "range_invalidation is 1 on QEMU's SMMUv3 ($ril)" "$ril" = 1 ;;
*) check "range_invalidation is 0 or 1 ($ril)" "$ril" = 0 -o "$ril" = 1 ;;
esac
st=$(cat "$dir/stages")
check "stages is s1 on QEMU 7.2 ($st)" "$st" = s1
gr=$(cat "$dir/granules")
echo "$gr" | grep -Eqx '(4K|16K|64K)( (16K|64K))*' && ok "granules format ($gr)" ||
	not_ok "granules format" "got '$gr'"
check "granules has 4K ($gr)" -n "$(echo " $gr " | grep ' 4K ')"

# put FILE FORMAT: one write(2) of printf FORMAT's bytes (kept exactly,
# trailing newlines included), through dd so the errno is reported.
put() {
	printf '%b' "$2" >/tmp/sysfs-value
	dd if=/tmp/sysfs-value of="$1" bs=65536 2>&1 >/dev/null
}

# good FILE FORMAT EXPECTED: accepted and read back as EXPECTED.
good() {
	if err=$(put "$1" "$2"); then
		got=$(cat "$1")
		check "$(basename "$1") accepts '$2' and reads back '$3' ($got)" "$got" = "$3"
	else
		not_ok "$(basename "$1") accepts '$2'" "write failed: $err"
	fi
}
for v in auto 0 1 511 512 4096 1048576 auto; do good "$thr" "$v" "$v"; done
good "$thr" '77\n' 77
good "$thr" 'auto\n' auto
for v in strict deferred strict; do good "$mode" "$v" "$v"; done
good "$mode" 'deferred\n' deferred

# bad FILE FORMAT LABEL: must fail with EINVAL and change nothing.
bad() {
	before=$(cat "$1")
	err=$(put "$1" "$2") && rc=0 || rc=1
	after=$(cat "$1")
	if [ "$rc" = 0 ]; then
		not_ok "$(basename "$1") rejects $3" "write succeeded, now '$after'"
	elif ! echo "$err" | grep -q 'Invalid argument'; then
		not_ok "$(basename "$1") rejects $3" "not EINVAL: $err"
	elif [ "$before" != "$after" ]; then
		not_ok "$(basename "$1") rejects $3" "value changed '$before' -> '$after'"
	else
		ok "$(basename "$1") rejects $3 with EINVAL, value unchanged"
	fi
}
long=$(head -c 4000 /dev/zero | tr '\0' 9)
put "$thr" 512 >/dev/null
bad "$thr" '\n' "an empty line"
bad "$thr" ' ' "a space"
bad "$thr" 'abc' "a word"
bad "$thr" '-1' "a negative number"
bad "$thr" '-0' "minus zero"
bad "$thr" '1048577' "the maximum plus one"
bad "$thr" '4294967295' "U32_MAX"
bad "$thr" '4294967296' "2^32"
bad "$thr" '99999999999999999999' "a number overflowing u64"
bad "$thr" "$long" "a 4000-digit number"
bad "$thr" '0x10' "hexadecimal"
bad "$thr" '1.5' "a decimal fraction"
bad "$thr" '1e3' "an exponent"
bad "$thr" ' 5' "a leading space"
bad "$thr" '5 ' "a trailing space"
bad "$thr" '5\t' "a trailing tab"
bad "$thr" '5\n\n' "two trailing newlines"
bad "$thr" '\n5' "a leading newline"
bad "$thr" '5abc' "trailing garbage"
bad "$thr" '1 2' "two numbers"
bad "$thr" 'AUTO' "AUTO in capitals"
bad "$thr" 'auto ' "auto with a trailing space"
bad "$thr" 'autox' "autox"
bad "$thr" 'auto\n\n' "auto with two newlines"
bad "$thr" '+' "a lone plus"
check "inv_threshold is still 512 after the bad inputs" "$(cat "$thr")" = 512
put "$mode" deferred >/dev/null
bad "$mode" '\n' "an empty line"
bad "$mode" 'STRICT' "STRICT in capitals"
bad "$mode" 'strict ' "strict with a trailing space"
bad "$mode" ' strict' "strict with a leading space"
bad "$mode" 'stric' "a prefix of strict"
bad "$mode" 'strictly' "strictly"
bad "$mode" 'lazy' "an unknown mode"
bad "$mode" '0' "a number"
bad "$mode" 'strict\n\n' "two trailing newlines"
bad "$mode" "$long" "4000 characters"
check "teardown_mode is still deferred after the bad inputs" "$(cat "$mode")" = deferred
for f in range_invalidation stages granules; do
	{ echo 1 >"$dir/$f"; } 2>/dev/null && not_ok "$f is read-only" "write succeeded" || ok "$f is read-only"
done

put "$thr" auto >/dev/null
put "$mode" deferred >/dev/null
check "defaults restored" "$(cat "$thr") $(cat "$mode")" = "auto deferred"
