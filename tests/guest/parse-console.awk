# Turn one guest console log into TAP lines (see tests/guest/init for the
# markers).  Variables: profile (label), first (number of the first test),
# kunit (1 if the kernel has KUnit built in, so its results must appear).
# Prints "ok N - [profile] ..." / "not ok N - ..." and "# ..." comments;
# the last line is "# next N failed F" for the caller.

function emit(status, what, why,    line) {
	n++
	line = status " " n " - [" profile "] " what
	if (why != "")
		line = line " # " why
	print line
	if (status != "ok")
		failed++
}

function trim(s) {
	sub(/^[ \t\r]+/, "", s)
	sub(/[ \t\r]+$/, "", s)
	return s
}

BEGIN {
	n = first - 1
	failed = 0
	# Console health: category -> pattern (checked on kernel output only).
	ncat = 0
	cat[++ncat] = "WARNING";      pat[ncat] = "WARNING:"
	cat[++ncat] = "BUG";          pat[ncat] = "BUG:"
	cat[++ncat] = "Oops";         pat[ncat] = "Oops|Unable to handle kernel|Internal error:"
	cat[++ncat] = "soft lockup";  pat[ncat] = "soft lockup|hard LOCKUP"
	cat[++ncat] = "RCU stall";    pat[ncat] = "self-detected stall|RCU stall|rcu: INFO|detected stalls on CPU"
	cat[++ncat] = "lockdep splat"; pat[ncat] = "possible circular locking|possible recursive locking|inconsistent lock state|suspicious RCU usage|sleeping function called from invalid context|DEADLOCK"
	cat[++ncat] = "hung task";    pat[ncat] = "blocked for more than [0-9]+ seconds"
	cat[++ncat] = "kernel panic"; pat[ncat] = "Kernel panic"
	begun = 0; ended = 0; ktap = 0
}

{ sub(/\r$/, "") }

/SMMUD-GUEST-BEGIN/ { begun = 1 }

/SMMUD-GUEST-END/ {
	ended = 1
	if (match($0, /tests=[0-9]+/))
		end_tests = substr($0, RSTART + 6, RLENGTH - 6) + 0
}

/SMMUD-TAP: / {
	s = substr($0, index($0, "SMMUD-TAP: ") + 11)
	status = "ok"
	if (s ~ /^not ok/)
		status = "not ok"
	else if (s !~ /^ok/)
		next
	s = substr(s, length(status) + 1)
	sub(/^ *[0-9]* *-? */, "", s)
	why = ""
	if ((i = index(s, " # ")) > 0) {
		why = substr(s, i + 3)
		s = substr(s, 1, i - 1)
	}
	guest_results++
	emit(status, s, why)
	next
}

/SMMUD-CASE: / {
	s = substr($0, index($0, "SMMUD-CASE: ") + 12)
	print "# [" profile "] case " s
	next
}

# Case output is user space: never a kernel splat, never KTAP.
/SMMUD-OUT: |SMMUD-INFO: / { next }

{
	line = $0
	kmsg = 0
	if (index(line, "SMMUD-KMSG: ")) {
		line = substr(line, index(line, "SMMUD-KMSG: ") + 12)
		kmsg = 1
	}
	for (c = 1; c <= ncat; c++)
		if (!(c in hit) && line ~ pat[c])
			hit[c] = trim(line)
	if (kmsg)
		next

	# KUnit's KTAP, printed at boot: "[  1.2] <indent>ok N name [# SKIP ...]".
	sub(/^\[ *[0-9]+\.[0-9]+\] ?/, "", line)
	if (match(line, /^ *# Subtest: /)) {
		ind = RLENGTH - length("# Subtest: ")
		subname[ind] = trim(substr(line, RLENGTH + 1))
		ktap = 1
		next
	}
	if (ktap && match(line, /^ *(not )?ok [0-9]+ /)) {
		ind = match(line, /[^ ]/) - 1
		if (ind > 4)
			next	# parameters of a case: the case reports them
		s = line
		sub(/^ *(not )?ok [0-9]+ /, "", s)
		status = line ~ /^ *not ok/ ? "not ok" : "ok"
		why = ""
		if ((i = index(s, " # ")) > 0) {
			why = substr(s, i + 3)
			s = substr(s, 1, i - 1)
		}
		if (ind == 4)
			s = subname[4] ": " trim(s)
		kunit_results++
		emit(status, "kunit: " trim(s), why)
	}
}

END {
	if (!begun)
		emit("not ok", "guest init started", "no SMMUD-GUEST-BEGIN on the console")
	if (!ended)
		emit("not ok", "guest finished", "no SMMUD-GUEST-END: hang, timeout or crash")
	else if (end_tests != guest_results)
		emit("not ok", "guest results complete",
		     "guest reported " end_tests " results, console has " guest_results)
	else
		emit("ok", "guest finished")
	if (kunit && !kunit_results)
		emit("not ok", "kunit: results on the console", "KUnit is built in but printed no KTAP")
	for (c = 1; c <= ncat; c++) {
		if (c in hit)
			emit("not ok", "console: no " cat[c], hit[c])
		else
			emit("ok", "console: no " cat[c])
	}
	print "# next " n + 1 " failed " failed
}
