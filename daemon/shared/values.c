// SPDX-License-Identifier: GPL-2.0-or-later
#include <inttypes.h>
#include <limits.h>

#include "values.h"

static const char *const knob_attr_table[_KNOB_ATTR_MAX] = {
	[KNOB_THRESHOLD] = "inv_threshold",
	[KNOB_TEARDOWN_MODE] = "teardown_mode",
};

const char *knob_attr_to_string(KnobAttr a)
{
	return a >= 0 && a < _KNOB_ATTR_MAX ? knob_attr_table[a] : NULL;
}

int knob_attr_from_string(const char *s)
{
	for (int i = 0; i < _KNOB_ATTR_MAX; i++)
		if (streq(knob_attr_table[i], s))
			return i;
	return -EINVAL;
}

const char *knob_values_get(const KnobValues *v, KnobAttr a)
{
	return a == KNOB_THRESHOLD ? v->threshold : v->teardown_mode;
}

void knob_values_set(KnobValues *v, KnobAttr a, const char *value)
{
	snprintf(a == KNOB_THRESHOLD ? v->threshold : v->teardown_mode, KNOB_VALUE_MAX, "%s", value);
}

/* Digits only: no sign, no space, no newline (safe_atou64() allows one), not empty. */
static bool all_digits(const char *s)
{
	return *s && strspn(s, "0123456789") == strlen(s);
}

int value_number(const char *s, uint64_t min, uint64_t max, uint64_t *ret, const char **reason)
{
	uint64_t v;

	if (!all_digits(s)) {
		*reason = "not a whole number";
		return -EINVAL;
	}
	if (safe_atou64(s, &v) < 0 || v < min || v > max) {
		*reason = "number out of range";
		return -ERANGE;
	}
	*ret = v;
	return 0;
}

int value_threshold(const char *s, ValueFlags flags, char ret[KNOB_VALUE_MAX], const char **reason)
{
	bool keep = flags & VALUE_ALLOW_KEEP;
	uint64_t n;

	if (streq(s, "auto") || (keep && streq(s, "keep"))) {
		snprintf(ret, KNOB_VALUE_MAX, "%s", s);
		return 0;
	}
	if (!all_digits(s)) {
		*reason = keep ? "not a threshold (keep, auto or a whole number)"
			       : "not a threshold (auto or a whole number)";
		return -EINVAL;
	}
	if (safe_atou64(s, &n) < 0 || n > VALUE_THRESHOLD_MAX) {
		*reason = "threshold out of range (0 to " STRINGIFY(VALUE_THRESHOLD_MAX) ")";
		return -ERANGE;
	}
	snprintf(ret, KNOB_VALUE_MAX, "%" PRIu64, n);
	return 0;
}

int value_teardown_mode(const char *s, ValueFlags flags, char ret[KNOB_VALUE_MAX],
			const char **reason)
{
	bool keep = flags & VALUE_ALLOW_KEEP;

	if (!streq(s, "strict") && !streq(s, "deferred") && !(keep && streq(s, "keep"))) {
		*reason = keep ? "not a teardown mode (keep, strict or deferred)"
			       : "not a teardown mode (strict or deferred)";
		return -EINVAL;
	}
	snprintf(ret, KNOB_VALUE_MAX, "%s", s);
	return 0;
}

int value_knob(KnobAttr a, const char *s, ValueFlags flags, char ret[KNOB_VALUE_MAX],
	       const char **reason)
{
	return a == KNOB_THRESHOLD ? value_threshold(s, flags, ret, reason)
				   : value_teardown_mode(s, flags, ret, reason);
}

int value_knob_name(const char *s, KnobAttr *ret, const char **reason)
{
	int a = knob_attr_from_string(s);

	if (streq(s, "threshold"))
		a = KNOB_THRESHOLD;
	else if (streq(s, "teardown-mode"))
		a = KNOB_TEARDOWN_MODE;
	if (a < 0) {
		*reason = "not a knob (threshold, teardown-mode)";
		return -EINVAL;
	}
	*ret = (KnobAttr)a;
	return 0;
}

static const char *const storm_request_table[_STORM_REQUEST_MAX] = {
	[STORM_REQUEST_ENTER] = "enter",
	[STORM_REQUEST_LEAVE] = "leave",
	[STORM_REQUEST_AUTO] = "auto",
};

int value_storm_request(const char *s, StormRequest *ret, const char **reason)
{
	for (StormRequest i = 0; i < _STORM_REQUEST_MAX; i++)
		if (streq(s, storm_request_table[i])) {
			*ret = i;
			return 0;
		}
	*reason = "not a storm mode (enter, leave, auto)";
	return -EINVAL;
}

/* "N.F" or "N.Fs": seconds with up to six decimals, as µs.  -EINVAL: not that form. */
static int parse_decimal_seconds(const char *s, uint64_t *ret)
{
	const char *dot = strchr(s, '.'), *end;
	uint64_t whole = 0, frac = 0, scale = USEC_PER_SEC;
	size_t n;

	if (!dot || dot == s)
		return -EINVAL;
	end = endswith(s, "s") ? s + strlen(s) - 1 : s + strlen(s);
	for (const char *p = s; p < dot; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		if (whole > (UINT64_MAX / USEC_PER_SEC - 9) / 10)
			return -ERANGE;
		whole = whole * 10 + (uint64_t)(*p - '0');
	}
	n = (size_t)(end - dot - 1);
	if (n == 0 || n > 6)
		return -EINVAL;
	for (const char *p = dot + 1; p < end; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		scale /= 10;
		frac += (uint64_t)(*p - '0') * scale;
	}
	*ret = whole * USEC_PER_SEC + frac;
	return 0;
}

static int value_timespan_full(const char *s, uint64_t min, uint64_t max, bool decimals,
			       uint64_t *ret, const char **reason);

int value_timespan(const char *s, uint64_t min, uint64_t max, uint64_t *ret, const char **reason)
{
	return value_timespan_full(s, min, max, false, ret, reason);
}

int value_seconds(const char *s, uint64_t min, uint64_t max, uint64_t *ret, const char **reason)
{
	return value_timespan_full(s, min, max, true, ret, reason);
}

static int value_timespan_full(const char *s, uint64_t min, uint64_t max, bool decimals,
			       uint64_t *ret, const char **reason)
{
	uint64_t v;
	int r = parse_timespan(s, &v);

	if (r == -EINVAL && decimals && strchr(s, '.'))
		r = parse_decimal_seconds(s, &v);
	if (r == -ERANGE)
		*reason = "time span out of range";
	else if (r < 0 && decimals)
		*reason = "not a time span (seconds with up to six decimals, or a whole number "
			  "with us, ms, s, min or h)";
	else if (r < 0)
		*reason = "not a time span (a whole number with us, ms, s, min or h)";
	else if (v < min && min == 1)
		*reason = "must be greater than zero";
	else if (v < min || v > max)
		*reason = "time span out of range";
	if (r < 0)
		return r;
	if (v < min || v > max)
		return -ERANGE;
	*ret = v;
	return 0;
}

int value_storm_duration(const char *s, uint64_t *ret, const char **reason)
{
	int r = value_timespan(s, VALUE_STORM_FOR_MIN, VALUE_STORM_FOR_MAX, ret, reason);

	if (r == -ERANGE)
		*reason = "a storm lasts from 1s to 24h";
	return r;
}

int value_size(const char *s, uint64_t *ret, const char **reason)
{
	int r = parse_size(s, ret);

	if (r == -ERANGE)
		*reason = "size out of range";
	else if (r < 0)
		*reason = "not a size (a whole number with an optional K, M, G, T or P)";
	return r;
}

int value_percent(const char *s, unsigned *ret, const char **reason)
{
	size_t n = strlen(s);
	char digits[8];
	uint64_t v;

	/* "100%" is the longest there is. */
	if (n > 0 && s[n - 1] == '%')
		n--;
	if (n == 0 || n >= sizeof(digits)) {
		*reason = "not a percentage from 0 to 100";
		return -EINVAL;
	}
	memcpy(digits, s, n);
	digits[n] = 0;
	if (value_number(digits, 0, 100, &v, reason) < 0) {
		*reason = "not a percentage from 0 to 100";
		return -EINVAL;
	}
	*ret = (unsigned)v;
	return 0;
}

int value_boolean(const char *s, bool *ret, const char **reason)
{
	int r = parse_boolean(s);

	if (r < 0) {
		*reason = "not a boolean (yes/no, true/false, on/off, 1/0)";
		return -EINVAL;
	}
	*ret = r;
	return 0;
}

int value_group_name(const char *s, const char **reason)
{
	size_t n = strlen(s);

	if (n == 0 || n > 32 || strchr("-0123456789", s[0]) ||
	    strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") != n) {
		*reason = "not a valid group name";
		return -EINVAL;
	}
	return 0;
}

int value_profile_name(const char *s, const char **reason)
{
	size_t n = strlen(s);

	if (n == 0 || n > 64 ||
	    strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != n) {
		*reason = "profile names are 1-64 of A-Z a-z 0-9 _ . -";
		return -EINVAL;
	}
	return 0;
}

int value_file_path(const char *s, const char **reason)
{
	size_t n = strlen(s);

	if (n < 2 || s[0] != '/' || n > PATH_MAX || s[n - 1] == '/' || !text_is_safe(s, 0)) {
		*reason = "not an absolute file path";
		return -EINVAL;
	}
	return 0;
}

bool value_is_token(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n < 256 &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:-") == n &&
	       !streq(s, ".") && !streq(s, "..");
}
