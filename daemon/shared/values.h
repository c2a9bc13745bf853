/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * One validator per kind of value smmud takes from people: the config
 * parser, the D-Bus methods and smmuctl's arguments all check with these,
 * so a value is accepted, refused or normalised the same way whichever
 * door it comes through.  Each returns 0 and the value in its canonical
 * form (the one a knob reads back, the one the config dump prints), or
 * -EINVAL or -ERANGE and, in *reason, what was wanted, for the caller's
 * message ("not a threshold (auto or a whole number)").  Pure.  The
 * vocabulary of knob values is here too: what each knob is called, and a
 * value for each.
 */

#include "util.h"

/* Values are the raw sysfs strings, so they fit what the kernel reads back. */
#define KNOB_VALUE_MAX 24

/* The tunables of an SMMU, by their sysfs names (inv_threshold, teardown_mode). */
typedef enum KnobAttr {
	KNOB_THRESHOLD,
	KNOB_TEARDOWN_MODE,
	_KNOB_ATTR_MAX,
} KnobAttr;

const char *knob_attr_to_string(KnobAttr a);
int knob_attr_from_string(const char *s);

/* A value for each knob of one SMMU; "keep" (baseline only) = what the kernel had. */
typedef struct KnobValues {
	char threshold[KNOB_VALUE_MAX];     /* "keep", "auto" or a decimal count */
	char teardown_mode[KNOB_VALUE_MAX]; /* "keep", "strict" or "deferred" */
} KnobValues;

const char *knob_values_get(const KnobValues *v, KnobAttr a);
void knob_values_set(KnobValues *v, KnobAttr a, const char *value);

/* The largest inv_threshold the kernel takes (commands). */
#define VALUE_THRESHOLD_MAX 1048576

typedef enum ValueFlags {
	VALUE_ALLOW_KEEP = 1 << 0,  /* "keep" (the knob's own value) too: baselines and pins */
} ValueFlags;

/*
 * inv_threshold: "auto", or a whole number of ASCII digits from 0 to
 * VALUE_THRESHOLD_MAX, written back without leading zeros: "007" is "7",
 * as the kernel shows it (a "007" written would read back as a change
 * behind smmud's back).
 */
int value_threshold(const char *s, ValueFlags flags, char ret[KNOB_VALUE_MAX], const char **reason);
/* teardown_mode: "strict" or "deferred". */
int value_teardown_mode(const char *s, ValueFlags flags, char ret[KNOB_VALUE_MAX],
			const char **reason);
/* The validator of knob a. */
int value_knob(KnobAttr a, const char *s, ValueFlags flags, char ret[KNOB_VALUE_MAX],
	       const char **reason);
/* A knob as people name it ("threshold", "teardown-mode") or as sysfs does. */
int value_knob_name(const char *s, KnobAttr *ret, const char **reason);

typedef enum StormRequest {
	STORM_REQUEST_ENTER,    /* storm values now, whatever the exits */
	STORM_REQUEST_LEAVE,    /* baseline values now, whatever the exits */
	STORM_REQUEST_AUTO,     /* smmud decides again */
	_STORM_REQUEST_MAX,
} StormRequest;

/* "enter", "leave" or "auto". */
int value_storm_request(const char *s, StormRequest *ret, const char **reason);

/* How long a storm announced by the operator lasts at least (storm enter --for). */
#define VALUE_STORM_FOR_MIN USEC_PER_SEC
#define VALUE_STORM_FOR_MAX (24 * USEC_PER_HOUR)
/* A time span from VALUE_STORM_FOR_MIN to VALUE_STORM_FOR_MAX ("30s", "5min"). */
int value_storm_duration(const char *s, uint64_t *ret, const char **reason);

/* A time span (parse_timespan()) from min to max µs. */
int value_timespan(const char *s, uint64_t min, uint64_t max, uint64_t *ret, const char **reason);
/* The same, or seconds with up to six decimals ("0.1", "1.5s"): smmuctl's SECONDS. */
int value_seconds(const char *s, uint64_t min, uint64_t max, uint64_t *ret, const char **reason);
/* A size in bytes (parse_size()). */
int value_size(const char *s, uint64_t *ret, const char **reason);
/* A whole number of ASCII digits from min to max. */
int value_number(const char *s, uint64_t min, uint64_t max, uint64_t *ret, const char **reason);
/* "N" or "N%", N from 0 to 100. */
int value_percent(const char *s, unsigned *ret, const char **reason);
int value_boolean(const char *s, bool *ret, const char **reason);

/* A group name as the group database has them (resolved only where used). */
int value_group_name(const char *s, const char **reason);
/* The NAME of a [Profile NAME] section: 1-64 of A-Z a-z 0-9 _ . - */
int value_profile_name(const char *s, const char **reason);
/* An absolute path of a file (not a directory: no trailing slash), printable UTF-8. */
int value_file_path(const char *s, const char **reason);

/*
 * Safe as a path component and as a word of the state file: 1-255 of
 * A-Z a-z 0-9 . _ : - and neither "." nor "..".  SMMU names (they become
 * sysfs paths) and the knob values smmud reads back are held to it.
 */
bool value_is_token(const char *s);
