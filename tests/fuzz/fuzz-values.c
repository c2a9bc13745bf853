// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The small value parsers that take outside text one value at a time:
 * smmuctl's --interval= (parse_timespan) and --cost= (safe_atou64), the
 * numbers, sizes, time spans and booleans of config values, knob values
 * read back from sysfs (risk_knobs_from_values, as smmuctl risk uses the
 * inv_threshold and teardown_mode it reads), kernel release strings,
 * machine names from machined, state-file tokens.  The first input byte
 * picks the parser; the rest is the text.
 */
#include <inttypes.h>

#include "fuzz.h"
#include "knobs.h"
#include "machines.h"
#include "policy.h"
#include "risk.h"
#include "state.h"
#include "topology.h"
#include "values.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_quiet_logs();
	return 0;
}

static bool all_digits(const char *s)
{
	return *s && strspn(s, "0123456789") == strlen(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	_cleanup_free_ char *s = NULL;
	char buf[64];
	uint64_t u64, again;
	uint32_t u32;
	int i, r;

	if (size < 1)
		return 0;
	s = fuzz_strndup(data + 1, size - 1);

	switch (data[0] % 10) {
	case 0: /* --interval=, Window=, HoldTime=, ... */
		r = parse_timespan(s, &u64);
		FUZZ_CHECK(r == 0 || r == -EINVAL || r == -ERANGE);
		if (r == 0 && u64 != USEC_INFINITY) {
			/* What smmuctl and the config dump print parses back the same. */
			format_timespan(buf, sizeof(buf), u64);
			FUZZ_CHECK(parse_timespan(buf, &again) == 0 && again == u64);
		}
		break;
	case 1: /* PinnedLimit=, granules */
		r = parse_size(s, &u64);
		FUZZ_CHECK(r == 0 || r == -EINVAL || r == -ERANGE);
		if (r == 0) {
			format_bytes(buf, sizeof(buf), u64);
			FUZZ_CHECK(parse_size(buf, &again) == 0 && again == u64);
		}
		break;
	case 2: /* --cost=, counters, starttime */
		r = safe_atou64(s, &u64);
		if (r == 0) {
			/* Strict: digits and at most one trailing newline, nothing else. */
			size_t d = strspn(s, "0123456789");

			FUZZ_CHECK(d > 0 && (s[d] == 0 || (s[d] == '\n' && s[d + 1] == 0)));
			snprintf(buf, sizeof(buf), "%" PRIu64, u64);
			FUZZ_CHECK(strlen(buf) <= d);
		}
		break;
	case 3: { /* group numbers, thresholds */
		char canonical[KNOB_VALUE_MAX], again_value[KNOB_VALUE_MAX];
		const char *reason = NULL;

		r = safe_atou32(s, &u32);
		if (r == 0)
			FUZZ_CHECK(safe_atou64(s, &u64) == 0 && u64 == u32);
		/* A threshold is taken in one form only, the one the kernel reads back. */
		r = value_threshold(s, VALUE_ALLOW_KEEP, canonical, &reason);
		FUZZ_CHECK(r == 0 || ((r == -EINVAL || r == -ERANGE) && reason));
		if (r == 0) {
			FUZZ_CHECK(value_threshold(canonical, VALUE_ALLOW_KEEP, again_value, &reason) == 0);
			FUZZ_CHECK(streq(canonical, again_value) && value_is_token(canonical));
			if (all_digits(s)) {
				FUZZ_CHECK(safe_atou64(canonical, &u64) == 0 && u64 <= VALUE_THRESHOLD_MAX);
				FUZZ_CHECK(canonical[0] != '0' || canonical[1] == 0);
			} else
				FUZZ_CHECK(streq(canonical, s));
		}
		break;
	}
	case 4: /* numa_node */
		r = safe_atoi(s, &i);
		if (r == 0) {
			size_t d = strspn(s + (*s == '-'), "0123456789");

			FUZZ_CHECK(d > 0);
			snprintf(buf, sizeof(buf), "%d", i);
			FUZZ_CHECK(strncmp(buf, s, strlen(buf)) == 0 || s[*s == '-'] == '0');
		}
		break;
	case 5:
		r = parse_boolean(s);
		FUZZ_CHECK(r == 0 || r == 1 || r == -EINVAL);
		break;
	case 6: /* proc/sys/kernel/osrelease */
		(void)osrelease_has_builtin_threshold(s);
		break;
	case 7: { /* inv_threshold and teardown_mode as read back from sysfs */
		const char *nl = strchr(s, '\n');
		_cleanup_free_ char *threshold = strndup(s, nl ? (size_t)(nl - s) : strlen(s));
		const char *mode = nl ? nl + 1 : "";
		RiskKnobs cur = { .tunables = true, .threshold = 7 }, out;
		RiskEstimate est;
		uint64_t pinned[2] = { 1ULL << 30, 3ULL << 20 };

		if (!threshold)
			abort();
		for (uint64_t g = 1024; g <= (1ULL << 20); g <<= 4) {
			risk_knobs_from_values(threshold, mode, &cur, g, &out);
			if (all_digits(threshold) && safe_atou64(threshold, &u64) == 0)
				FUZZ_CHECK(out.threshold == u64);
			risk_estimate(pinned, 2, g < 4096 ? 4096 : g, g & 1, &out, 150, &est);
		}
		break;
	}
	case 8: /* names from machined, state tokens, API names */
		if (machine_name_is_valid(s))
			FUZZ_CHECK(*s && strlen(s) <= 255);
		if (value_is_token(s))
			FUZZ_CHECK(!strchr(s, '/') && !streq(s, "..") && !streq(s, "."));
		i = knob_attr_from_string(s);
		if (i >= 0)
			FUZZ_CHECK(streq(knob_attr_to_string((KnobAttr)i), s));
		{
			const char *reason = NULL;
			KnobAttr a;

			/* Every sysfs name is a knob name; the short ones are the only others. */
			if (value_knob_name(s, &a, &reason) == 0)
				FUZZ_CHECK(i == (int)a || streq(s, "threshold") || streq(s, "teardown-mode"));
			else
				FUZZ_CHECK(i < 0 && reason);
		}
		i = policy_override_from_string(s);
		if (i >= 0)
			FUZZ_CHECK(streq(policy_override_to_string((PolicyOverride)i), s));
		break;
	case 9: { /* a Match glob from the config against a name from sysfs */
		const char *nl = strchr(s, '\n');

		if (nl) {
			*(char *)nl = 0;
			(void)glob_match(s, nl + 1);
		}
		break;
	}
	}
	return 0;
}
