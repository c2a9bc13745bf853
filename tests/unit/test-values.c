// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The value validators the config parser, the D-Bus methods and smmuctl
 * share: each value taken in its canonical form, each refusal with a
 * reason.  tests/ctl/run sends a table of the same kind through all
 * three doors of a running smmud.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "config.h"
#include "values.h"

/* want: the canonical form, or NULL for a refusal. */
typedef struct KnobCase {
	KnobAttr attr;
	ValueFlags flags;
	const char *value;
	const char *want;
	int error;
} KnobCase;

static void test_knob_values(void **state)
{
	static const KnobCase cases[] = {
		{ KNOB_THRESHOLD, 0, "7", "7", 0 },
		{ KNOB_THRESHOLD, 0, "007", "7", 0 },
		{ KNOB_THRESHOLD, 0, "0", "0", 0 },
		{ KNOB_THRESHOLD, 0, "0000", "0", 0 },
		{ KNOB_THRESHOLD, 0, "1048576", "1048576", 0 },
		{ KNOB_THRESHOLD, 0, "00000000000000000000000000001", "1", 0 },
		{ KNOB_THRESHOLD, 0, "auto", "auto", 0 },
		{ KNOB_THRESHOLD, VALUE_ALLOW_KEEP, "keep", "keep", 0 },
		{ KNOB_THRESHOLD, 0, "1048577", NULL, -ERANGE },
		{ KNOB_THRESHOLD, 0, "4294967296", NULL, -ERANGE },
		{ KNOB_THRESHOLD, 0, "99999999999999999999999", NULL, -ERANGE },
		{ KNOB_THRESHOLD, 0, "keep", NULL, -EINVAL },
		{ KNOB_THRESHOLD, 0, "", NULL, -EINVAL },
		{ KNOB_THRESHOLD, 0, "-5", NULL, -EINVAL },
		{ KNOB_THRESHOLD, 0, "+7", NULL, -EINVAL },
		{ KNOB_THRESHOLD, 0, " 7", NULL, -EINVAL },
		{ KNOB_THRESHOLD, 0, "7 ", NULL, -EINVAL },
		{ KNOB_THRESHOLD, 0, "7\n", NULL, -EINVAL },
		{ KNOB_THRESHOLD, 0, "0x10", NULL, -EINVAL },
		{ KNOB_THRESHOLD, 0, "7.0", NULL, -EINVAL },
		{ KNOB_THRESHOLD, 0, "AUTO", NULL, -EINVAL },
		{ KNOB_THRESHOLD, VALUE_ALLOW_KEEP, "KEEP", NULL, -EINVAL },
		{ KNOB_TEARDOWN_MODE, 0, "strict", "strict", 0 },
		{ KNOB_TEARDOWN_MODE, 0, "deferred", "deferred", 0 },
		{ KNOB_TEARDOWN_MODE, VALUE_ALLOW_KEEP, "keep", "keep", 0 },
		{ KNOB_TEARDOWN_MODE, 0, "keep", NULL, -EINVAL },
		{ KNOB_TEARDOWN_MODE, 0, "Deferred", NULL, -EINVAL },
		{ KNOB_TEARDOWN_MODE, 0, "deferred\n", NULL, -EINVAL },
		{ KNOB_TEARDOWN_MODE, 0, "", NULL, -EINVAL },
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		const KnobCase *c = &cases[i];
		char got[KNOB_VALUE_MAX] = "untouched";
		const char *reason = NULL;
		int r = value_knob(c->attr, c->value, c->flags, got, &reason);

		print_message("case %zu: %s '%s'\n", i, knob_attr_to_string(c->attr), c->value);
		assert_int_equal(r, c->error);
		if (c->want) {
			char again[KNOB_VALUE_MAX];

			assert_string_equal(got, c->want);
			/* Canonical: the form taken is taken as it is. */
			assert_int_equal(value_knob(c->attr, got, c->flags, again, &reason), 0);
			assert_string_equal(again, got);
		} else
			assert_non_null(reason);
	}
}

static void test_knob_and_storm_names(void **state)
{
	const char *reason = NULL;
	StormRequest s;
	KnobAttr a;

	assert_int_equal(value_knob_name("threshold", &a, &reason), 0);
	assert_int_equal(a, KNOB_THRESHOLD);
	assert_int_equal(value_knob_name("inv_threshold", &a, &reason), 0);
	assert_int_equal(a, KNOB_THRESHOLD);
	assert_int_equal(value_knob_name("teardown-mode", &a, &reason), 0);
	assert_int_equal(a, KNOB_TEARDOWN_MODE);
	assert_int_equal(value_knob_name("teardown_mode", &a, &reason), 0);
	assert_int_equal(a, KNOB_TEARDOWN_MODE);
	assert_int_equal(value_knob_name("Threshold", &a, &reason), -EINVAL);
	assert_int_equal(value_knob_name("", &a, &reason), -EINVAL);
	assert_non_null(strstr(reason, "threshold, teardown-mode"));

	assert_int_equal(value_storm_request("enter", &s, &reason), 0);
	assert_int_equal(s, STORM_REQUEST_ENTER);
	assert_int_equal(value_storm_request("leave", &s, &reason), 0);
	assert_int_equal(s, STORM_REQUEST_LEAVE);
	assert_int_equal(value_storm_request("auto", &s, &reason), 0);
	assert_int_equal(s, STORM_REQUEST_AUTO);
	assert_int_equal(value_storm_request("sideways", &s, &reason), -EINVAL);
}

static void test_numbers_spans_sizes(void **state)
{
	const char *reason = NULL;
	uint64_t v;
	unsigned p;
	bool b;

	assert_int_equal(value_number("42", 1, 100, &v, &reason), 0);
	assert_int_equal(v, 42);
	assert_int_equal(value_number("0", 1, 100, &v, &reason), -ERANGE);
	assert_int_equal(value_number("101", 1, 100, &v, &reason), -ERANGE);
	assert_string_equal(reason, "number out of range");
	assert_int_equal(value_number("42\n", 1, 100, &v, &reason), -EINVAL);
	assert_int_equal(value_number("4 2", 1, 100, &v, &reason), -EINVAL);
	assert_string_equal(reason, "not a whole number");

	assert_int_equal(value_timespan("250ms", 1, USEC_PER_HOUR, &v, &reason), 0);
	assert_int_equal(v, 250 * USEC_PER_MSEC);
	assert_int_equal(value_timespan("0", 1, USEC_PER_HOUR, &v, &reason), -ERANGE);
	assert_string_equal(reason, "must be greater than zero");
	assert_int_equal(value_timespan("2h", 1, USEC_PER_HOUR, &v, &reason), -ERANGE);
	assert_string_equal(reason, "time span out of range");
	assert_int_equal(value_timespan("5 s", 0, USEC_INFINITY, &v, &reason), -EINVAL);
	assert_non_null(strstr(reason, "not a time span"));
	/* Whole numbers only in the configuration; smmuctl's SECONDS may be fractional. */
	assert_int_equal(value_timespan("0.1", 1, USEC_PER_HOUR, &v, &reason), -EINVAL);
	assert_int_equal(value_seconds("2s", 1, USEC_PER_HOUR, &v, &reason), 0);
	assert_int_equal(v, 2000000);
	/* Fractional seconds, as smmuctl --interval=SECONDS says. */
	assert_int_equal(value_seconds("0.1", 1, USEC_PER_HOUR, &v, &reason), 0);
	assert_int_equal(v, 100000);
	assert_int_equal(value_seconds("1.5s", 1, USEC_PER_HOUR, &v, &reason), 0);
	assert_int_equal(v, 1500000);
	assert_int_equal(value_seconds("0.000001", 1, USEC_PER_HOUR, &v, &reason), 0);
	assert_int_equal(v, 1);
	assert_int_equal(value_seconds("0.0000001", 1, USEC_PER_HOUR, &v, &reason), -EINVAL);
	assert_int_equal(value_seconds("0.0", 1, USEC_PER_HOUR, &v, &reason), -ERANGE);
	assert_int_equal(value_seconds(".5", 1, USEC_PER_HOUR, &v, &reason), -EINVAL);
	assert_int_equal(value_seconds("1.", 1, USEC_PER_HOUR, &v, &reason), -EINVAL);
	assert_int_equal(value_seconds("1.5ms", 1, USEC_PER_HOUR, &v, &reason), -EINVAL);
	assert_int_equal(value_seconds("-0.5", 1, USEC_PER_HOUR, &v, &reason), -EINVAL);
	assert_int_equal(value_seconds("3600.000001", 1, USEC_PER_HOUR, &v, &reason), -ERANGE);

	assert_int_equal(value_storm_duration("30s", &v, &reason), 0);
	assert_int_equal(v, 30 * USEC_PER_SEC);
	assert_int_equal(value_storm_duration("24h", &v, &reason), 0);
	assert_int_equal(value_storm_duration("999ms", &v, &reason), -ERANGE);
	assert_string_equal(reason, "a storm lasts from 1s to 24h");
	assert_int_equal(value_storm_duration("25h", &v, &reason), -ERANGE);
	assert_int_equal(value_storm_duration("0", &v, &reason), -ERANGE);
	assert_int_equal(value_storm_duration("later", &v, &reason), -EINVAL);
	assert_non_null(strstr(reason, "not a time span"));

	assert_int_equal(value_size("64G", &v, &reason), 0);
	assert_int_equal(v, 64ULL << 30);
	assert_int_equal(value_size("2g", &v, &reason), -EINVAL);
	assert_int_equal(value_size("99999999999P", &v, &reason), -ERANGE);

	assert_int_equal(value_percent("5%", &p, &reason), 0);
	assert_int_equal(p, 5);
	assert_int_equal(value_percent("100", &p, &reason), 0);
	assert_int_equal(p, 100);
	assert_int_equal(value_percent("101%", &p, &reason), -EINVAL);
	assert_int_equal(value_percent("%", &p, &reason), -EINVAL);
	assert_int_equal(value_percent("-1", &p, &reason), -EINVAL);

	assert_int_equal(value_boolean("on", &b, &reason), 0);
	assert_true(b);
	assert_int_equal(value_boolean("maybe", &b, &reason), -EINVAL);
}

static void test_names(void **state)
{
	const char *reason = NULL;

	assert_int_equal(value_group_name("kvm-admins", &reason), 0);
	assert_int_equal(value_group_name("9wheel", &reason), -EINVAL);
	assert_int_equal(value_group_name("a b", &reason), -EINVAL);
	assert_int_equal(value_group_name("", &reason), -EINVAL);
	assert_int_equal(value_profile_name("lab.v2_x-1", &reason), 0);
	assert_int_equal(value_profile_name("has space", &reason), -EINVAL);
	assert_int_equal(value_file_path("/var/lib/x.prom", &reason), 0);
	assert_int_equal(value_file_path("relative", &reason), -EINVAL);
	assert_int_equal(value_file_path("/var/lib/", &reason), -EINVAL);
	assert_int_equal(value_file_path("/bad\x01name", &reason), -EINVAL);
	assert_true(value_is_token("smmu3.0x0000000009050000"));
	assert_false(value_is_token(".."));
	assert_false(value_is_token("a/b"));
	assert_false(value_is_token(""));
}

/* The parser says what the validator says: same canonical form, same reason. */
static void test_config_uses_them(void **state)
{
	static const struct {
		const char *text;
		const char *storm_threshold;
		const char *error;
	} cases[] = {
		{ "[Storm]\nThreshold=007\n", "7", NULL },
		{ "[Storm]\nThreshold=1048576\n", "1048576", NULL },
		{ "[Storm]\nThreshold=1048577\n", NULL, "threshold out of range (0 to 1048576)" },
		{ "[Storm]\nThreshold=4294967295\n", NULL, "threshold out of range (0 to 1048576)" },
		{ "[Storm]\nThreshold=+7\n", NULL, "not a threshold (auto or a whole number)" },
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		_cleanup_config_free_ Config *c = config_new_defaults();
		_cleanup_strv_free_ char **errors = NULL;
		FILE *f = fmemopen((void *)cases[i].text, strlen(cases[i].text), "r");
		int r;

		assert_non_null(c);
		assert_non_null(f);
		r = config_parse_stream(c, f, "t.conf", &errors);
		fclose(f);
		if (cases[i].storm_threshold) {
			assert_int_equal(r, 0);
			assert_string_equal(c->defaults.storm.threshold, cases[i].storm_threshold);
		} else {
			assert_int_equal(r, -EINVAL);
			assert_non_null(errors);
			assert_non_null(strstr(errors[0], cases[i].error));
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_knob_values),
		cmocka_unit_test(test_knob_and_storm_names),
		cmocka_unit_test(test_numbers_spans_sizes),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_config_uses_them),
	};

	return cmocka_run_group_tests_name("values", tests, NULL, NULL);
}
