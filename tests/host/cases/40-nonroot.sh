#!/bin/sh
# A user without privileges on the host may read smmud's state and may not
# change any knob: not through smmuctl (private socket or system bus), not
# by calling the changing methods with busctl on the system bus under the
# shipped D-Bus policy, not by writing the attributes.
# timeout: 120
set -u
. /bench/lib.sh

id tenant >/dev/null 2>&1 || useradd -M -s /bin/sh tenant
as_tenant() { runuser -u tenant -- "$@"; }
orig=$(knobs)

check "tenant: smmuctl status (private socket) works" \
	-n "$(as_tenant smmuctl --json status | jq -r .version)"
check "tenant: smmuctl --system status works" \
	-n "$(as_tenant smmuctl --system --json status | jq -r .version)"
check "tenant: busctl reads a property" \
	-n "$(as_tenant busctl get-property org.smmud1 /org/smmud1 org.smmud1.Manager Status)"

as_tenant smmuctl set "$SMMU" threshold 64 >/tmp/t.out 2>&1
rc=$?
check "tenant: smmuctl set is refused with exit 4 ($(head -n1 /tmp/t.out))" "$rc" = 4
as_tenant smmuctl --system storm enter "$SMMU" >/tmp/t.out 2>&1
rc=$?
check "tenant: smmuctl --system storm enter is refused with exit 4" "$rc" = 4
for call in "SetKnob sss $SMMU threshold 64" "SetStorm sas enter 1 $SMMU" \
	"Pin sss $SMMU 64 strict" "Reload"; do
	# shellcheck disable=SC2086 # the call's words
	out=$(as_tenant busctl call org.smmud1 /org/smmud1 org.smmud1.Manager $call 2>&1)
	rc=$?
	case "$rc:$out" in
	0:*) not_ok "tenant: busctl call ${call%% *} is refused" "it succeeded" ;;
	*ccess*enied* | *ermission*) ok "tenant: busctl call ${call%% *} is refused ($out)" ;;
	*) not_ok "tenant: busctl call ${call%% *} is refused as access denied" "$out" ;;
	esac
done
as_tenant sh -c "echo 64 >'$THR'" 2>/dev/null
check "tenant: writing inv_threshold directly fails" "$(knobs)" = "$orig"
check "after all of it the knobs are unchanged ($(knobs))" "$(knobs)" = "$orig"
