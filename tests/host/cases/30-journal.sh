#!/bin/sh
# smmud's journal fields are exactly those its installed man page
# documents (smmud(8), JOURNAL FIELDS): every SMMUD_* field in this boot's
# entries is documented, every documented field selects at least one entry
# of the storms, writes and exits the earlier cases caused, and every
# SMMUD_DECISION value seen is one the page names.
# timeout: 120
set -u
. /bench/lib.sh

page=$(zcat /usr/share/man/man8/smmud.8.gz 2>/dev/null)
check "the installed man page smmud(8) is readable" -n "$page"
# roff of scdoc: each field is \fBSMMUD_NAME=\fR in the section.
section=$(echo "$page" | sed -n '/^\.SH JOURNAL FIELDS/,/^\.SH /p')
documented=$(echo "$section" | grep -o 'SMMUD_[A-Z_]*=' | tr -d = | sort -u)
check "smmud(8) has a JOURNAL FIELDS section naming fields ($(echo $documented))" -n "$documented"

journalctl -u smmud.service -b -o json --no-pager >/tmp/smmud-journal.json
seen=$(jq -r 'keys[] | select(startswith("SMMUD_"))' /tmp/smmud-journal.json | sort -u)
echo "# fields in this boot's entries: $(echo $seen)"
for f in $seen; do
	check "journal field $f is documented" -n "$(echo "$documented" | grep -x "$f")"
done
for f in $documented; do
	n=$(jq -r --arg f "$f" 'select(has($f)) | .[$f]' /tmp/smmud-journal.json | wc -l)
	v=$(journalctl -u smmud.service -b -o cat "$f=$(jq -r --arg f "$f" 'select(has($f)) | .[$f]' /tmp/smmud-journal.json | head -n1)" | wc -l)
	check "journalctl -u smmud $f=... selects entries ($n with the field, $v by its first value)" "$n" -gt 0 -a "$v" -gt 0
done
for d in $(jq -r 'select(has("SMMUD_DECISION")) | .SMMUD_DECISION' /tmp/smmud-journal.json | sort -u); do
	check "SMMUD_DECISION=$d is documented" -n "$(echo "$section" | grep -F "$d")"
done
# The page's own examples select what they say.
check "journalctl -u smmud SMMUD_BEFORE=baseline SMMUD_AFTER=storm: the storm starts" \
	"$(journalctl -u smmud.service -b -o cat SMMUD_BEFORE=baseline SMMUD_AFTER=storm | grep -c 'storm begins')" -gt 0
check "journalctl -u smmud SMMUD_KNOB=inv_threshold: only that knob's entries" \
	"$(journalctl -u smmud.service -b -o cat SMMUD_KNOB=inv_threshold | grep -vc '/inv_threshold:')" -eq 0
