// SPDX-License-Identifier: GPL-2.0-or-later
#include <fcntl.h>
#include <ini.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/stat.h>

#include "config.h"
#include "values.h"

static const char *const kernel_capability_table[_KERNEL_CAP_MAX] = {
	[KERNEL_CAP_NONE] = "none",
	[KERNEL_CAP_TUNABLES] = "tunables",
	[KERNEL_CAP_MAINLINE] = "mainline",
};

static const char *const external_change_table[_EXTERNAL_CHANGE_MAX] = {
	[EXTERNAL_CHANGE_RELEASE] = "release",
	[EXTERNAL_CHANGE_REASSERT] = "reassert",
};

const char *kernel_capability_to_string(KernelCapability k)
{
	return k >= 0 && k < _KERNEL_CAP_MAX ? kernel_capability_table[k] : NULL;
}

const char *external_change_to_string(ExternalChange e)
{
	return e >= 0 && e < _EXTERNAL_CHANGE_MAX ? external_change_table[e] : NULL;
}

static int string_table_lookup(const char *const *table, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (table[i] && streq(table[i], s))
			return (int)i;
	return -EINVAL;
}

/* ---- value parsers: each returns 0 or -errno with a reason ----------- */

typedef int (*ValueParser)(const char *value, void *field, const char **reason);

static int parse_bool_value(const char *value, void *field, const char **reason)
{
	return value_boolean(value, field, reason);
}

/*
 * Every time span has bounds: a timer's next time is now plus a span, and
 * a span too small for its job (a /proc scan every microsecond) is a busy
 * loop.  Documented in smmud.conf(5).
 */
static int parse_timespan_in(const char *value, uint64_t min, uint64_t max, const char *range,
			     void *field, const char **reason)
{
	int r = value_timespan(value, min, max, field, reason);

	if (r == -ERANGE)
		*reason = range;
	return r;
}

static int parse_window(const char *value, void *field, const char **reason)
{
	return parse_timespan_in(value, 10 * USEC_PER_MSEC, USEC_PER_HOUR,
				 "out of range (10ms to 1h)", field, reason);
}

static int parse_hold_time(const char *value, void *field, const char **reason)
{
	return parse_timespan_in(value, 10 * USEC_PER_MSEC, 24 * USEC_PER_HOUR,
				 "out of range (10ms to 24h)", field, reason);
}

static int parse_drift_check(const char *value, void *field, const char **reason)
{
	return parse_timespan_in(value, 100 * USEC_PER_MSEC, USEC_PER_HOUR,
				 "out of range (100ms to 1h)", field, reason);
}

static int parse_scan_interval(const char *value, void *field, const char **reason)
{
	const char *range = "out of range (0, or 1s to 24h)";
	uint64_t v;
	int r = parse_timespan_in(value, 0, 24 * USEC_PER_HOUR, range, &v, reason);

	if (r < 0)
		return r;
	if (v > 0 && v < USEC_PER_SEC) {
		*reason = range;
		return -ERANGE;
	}
	*(uint64_t *)field = v;
	return 0;
}

static bool is_timespan(ValueParser p)
{
	return p == parse_window || p == parse_hold_time || p == parse_drift_check ||
	       p == parse_scan_interval;
}

static int parse_size_value(const char *value, void *field, const char **reason)
{
	return value_size(value, field, reason);
}

static int parse_u32_value(const char *value, void *field, const char **reason)
{
	uint64_t v;
	int r = value_number(value, 0, UINT32_MAX, &v, reason);

	if (r >= 0)
		*(uint32_t *)field = (uint32_t)v;
	return r;
}

static int parse_baseline_threshold(const char *value, void *field, const char **reason)
{
	return value_threshold(value, VALUE_ALLOW_KEEP, field, reason);
}

static int parse_storm_threshold(const char *value, void *field, const char **reason)
{
	return value_threshold(value, 0, field, reason);
}

static int parse_baseline_teardown(const char *value, void *field, const char **reason)
{
	return value_teardown_mode(value, VALUE_ALLOW_KEEP, field, reason);
}

static int parse_storm_teardown(const char *value, void *field, const char **reason)
{
	return value_teardown_mode(value, 0, field, reason);
}

static int parse_external_change(const char *value, void *field, const char **reason)
{
	int r = string_table_lookup(external_change_table, _EXTERNAL_CHANGE_MAX, value);

	if (r < 0) {
		*reason = "not release or reassert";
		return r;
	}
	*(ExternalChange *)field = (ExternalChange)r;
	return 0;
}

/*
 * Stores a copy of VALUE (NULL: none) in the string field P.  On ENOMEM the
 * field keeps its old value: a failed parse leaves a setting as it was.
 */
static int replace_string(char **p, const char *value)
{
	char *s = NULL;

	if (value) {
		s = strdup(value);
		if (!s)
			return -ENOMEM;
	}
	free(*p);
	*p = s;
	return 0;
}

/* A group name (resolved when used, so a file can be checked on any host); empty: none. */
static int parse_group(const char *value, void *field, const char **reason)
{
	if (!*value)
		return replace_string(field, NULL);
	if (value_group_name(value, reason) < 0)
		return -EINVAL;
	return replace_string(field, value);
}

/* An absolute file path of printable UTF-8; empty: none. */
static int parse_path(const char *value, void *field, const char **reason)
{
	if (!*value)
		return replace_string(field, NULL);
	if (value_file_path(value, reason) < 0)
		return -EINVAL;
	return replace_string(field, value);
}

static int parse_glob(const char *value, void *field, const char **reason)
{
	if (strlen(value) > 255) {
		*reason = "pattern longer than 255 characters";
		return -EINVAL;
	}
	return replace_string(field, value);
}

static int parse_tristate(const char *value, void *field, const char **reason)
{
	bool b;
	int r = parse_bool_value(value, &b, reason);

	if (r < 0)
		return r;
	*(int *)field = b;
	return 0;
}

static int parse_kernel_match(const char *value, void *field, const char **reason)
{
	int r = string_table_lookup(kernel_capability_table, _KERNEL_CAP_MAX, value);

	if (r < 0) {
		*reason = "not tunables, mainline or none";
		return r;
	}
	*(int *)field = r;
	return 0;
}

/* "N", "N-M" or "N-" (no upper bound), into smmu_count_min/max. */
static int parse_count_range(const char *value, void *field, const char **reason)
{
	ProfileMatch *m = field;
	_cleanup_free_ char *copy = strdup(value);
	const char *why;
	uint64_t lo, hi = UINT_MAX;
	char *dash;

	if (!copy)
		return -ENOMEM;
	dash = strchr(copy, '-');
	if (dash)
		*dash = 0;
	if (value_number(copy, 0, UINT_MAX, &lo, &why) < 0 ||
	    (dash && dash[1] && value_number(dash + 1, 0, UINT_MAX, &hi, &why) < 0)) {
		*reason = "not a count or range (N, N-M or N-)";
		return -EINVAL;
	}
	if (!dash)
		hi = lo;
	if (hi < lo) {
		*reason = "range ends below its start";
		return -ERANGE;
	}
	m->smmu_count_min = (unsigned)lo;
	m->smmu_count_max = (unsigned)hi;
	return 0;
}

static int parse_percent(const char *value, void *field, const char **reason)
{
	return value_percent(value, field, reason);
}

/* ---- the key table ------------------------------------------------- */

typedef enum ConfigSection {
	SECTION_NONE,
	SECTION_MANAGER,
	SECTION_TRIGGER,
	SECTION_BASELINE,
	SECTION_STORM,
	SECTION_PROFILE,
	_SECTION_MAX,
} ConfigSection;

static const char *const section_table[_SECTION_MAX] = {
	[SECTION_MANAGER] = "Manager",
	[SECTION_TRIGGER] = "Trigger",
	[SECTION_BASELINE] = "Baseline",
	[SECTION_STORM] = "Storm",
	[SECTION_PROFILE] = "Profile",
};

typedef enum FieldBase {
	IN_CONFIG,   /* offset into Config */
	IN_SETTINGS, /* offset into SmmuSettings: also settable in [Profile] */
	IN_MATCH,    /* offset into ProfileMatch: [Profile] only */
} FieldBase;

typedef struct ConfigKey {
	ConfigSection section;
	const char *name;
	const char *profile_name; /* its name inside [Profile]; NULL: not there */
	ValueParser parse;
	FieldBase base;
	size_t offset;
	size_t size;
} ConfigKey;

#define S(f) IN_SETTINGS, offsetof(SmmuSettings, f), sizeof(((SmmuSettings *)NULL)->f)
#define C(f) IN_CONFIG, offsetof(Config, f), sizeof(((Config *)NULL)->f)
#define M(f) IN_MATCH, offsetof(ProfileMatch, f), sizeof(((ProfileMatch *)NULL)->f)

/*
 * Settings keys come first: their index is their bit in Profile.set_mask.
 * The dump (and so the digest) follows this order.
 */
static const ConfigKey config_keys[] = {
	{ SECTION_MANAGER, "Manage", "Manage", parse_bool_value, S(manage) },
	{ SECTION_TRIGGER, "Window", "Window", parse_window, S(window_usec) },
	{ SECTION_TRIGGER, "ExitLimit", "ExitLimit", parse_u32_value, S(exit_limit) },
	{ SECTION_TRIGGER, "PinnedLimit", "PinnedLimit", parse_size_value, S(pinned_limit) },
	{ SECTION_TRIGGER, "HoldTime", "HoldTime", parse_hold_time, S(hold_usec) },
	{ SECTION_TRIGGER, "OnShutdown", "OnShutdown", parse_bool_value, S(storm_on_shutdown) },
	{ SECTION_TRIGGER, "OnVmStop", "OnVmStop", parse_bool_value, S(count_vm_stops) },
	{ SECTION_TRIGGER, "OnGuestsStop", "OnGuestsStop", parse_bool_value, S(storm_on_guests_stop) },
	{ SECTION_BASELINE, "Threshold", "BaselineThreshold", parse_baseline_threshold,
	  S(baseline.threshold) },
	{ SECTION_BASELINE, "TeardownMode", "BaselineTeardownMode", parse_baseline_teardown,
	  S(baseline.teardown_mode) },
	{ SECTION_STORM, "Threshold", "StormThreshold", parse_storm_threshold,
	  S(storm.threshold) },
	{ SECTION_STORM, "TeardownMode", "StormTeardownMode", parse_storm_teardown,
	  S(storm.teardown_mode) },

	{ SECTION_MANAGER, "ExternalChange", NULL, parse_external_change, C(external_change) },
	{ SECTION_MANAGER, "DriftCheckInterval", NULL, parse_drift_check,
	  C(drift_check_usec) },
	{ SECTION_MANAGER, "ScanInterval", NULL, parse_scan_interval, C(scan_interval_usec) },
	{ SECTION_MANAGER, "Machined", NULL, parse_bool_value, C(use_machined) },
	{ SECTION_MANAGER, "TaskStats", NULL, parse_bool_value, C(use_taskstats) },
	{ SECTION_MANAGER, "ProcConnector", NULL, parse_bool_value, C(use_proc_connector) },
	{ SECTION_MANAGER, "AdminGroup", NULL, parse_group, C(admin_group) },
	{ SECTION_MANAGER, "ReaderGroup", NULL, parse_group, C(reader_group) },
	{ SECTION_MANAGER, "MetricsFile", NULL, parse_path, C(metrics_file) },

	{ SECTION_PROFILE, NULL, "MatchHostname", parse_glob, M(hostname_glob) },
	{ SECTION_PROFILE, NULL, "MatchSmmu", parse_glob, M(smmu_glob) },
	{ SECTION_PROFILE, NULL, "MatchRangeInvalidation", parse_tristate, M(range_invalidation) },
	{ SECTION_PROFILE, NULL, "MatchKernel", parse_kernel_match, M(kernel) },
	{ SECTION_PROFILE, NULL, "MatchSmmuCount", parse_count_range, IN_MATCH, 0, sizeof(ProfileMatch) },
	{ SECTION_PROFILE, NULL, "Canary", parse_percent, M(canary_percent) },
};

#undef S
#undef C
#undef M

_Static_assert(ELEMENTSOF(config_keys) == CONFIG_N_KEYS, "CONFIG_N_KEYS");
#define N_SETTINGS_KEYS CONFIG_N_SETTINGS_KEYS

/* The index of the settings key a profile calls profile_name. */
static int key_index(const char *profile_name)
{
	for (size_t i = 0; i < N_SETTINGS_KEYS; i++)
		if (streq(config_keys[i].profile_name, profile_name))
			return (int)i;
	return -1;
}

int config_list_keys(char ***ret)
{
	_cleanup_strv_free_ char **l = NULL;
	int r;

	for (size_t i = 0; i < ELEMENTSOF(config_keys); i++) {
		const ConfigKey *k = &config_keys[i];

		if (k->name) {
			r = strv_extendf(&l, "%s.%s", section_table[k->section], k->name);
			if (r < 0)
				return r;
		}
		if (k->profile_name) {
			r = strv_extendf(&l, "Profile.%s", k->profile_name);
			if (r < 0)
				return r;
		}
	}
	*ret = TAKE_PTR(l);
	return 0;
}

/* ---- defaults -------------------------------------------------------- */

static void settings_defaults(SmmuSettings *s)
{
	*s = (SmmuSettings){
		.manage = true,
		.window_usec = 2 * USEC_PER_SEC,
		.exit_limit = 4,
		.pinned_limit = 64ULL << 30,
		.hold_usec = 30 * USEC_PER_SEC,
		.storm_on_shutdown = true,
		.count_vm_stops = true,
		.storm_on_guests_stop = true,
	};
	/* By default only storms change anything: the baseline is what we found. */
	snprintf(s->baseline.threshold, KNOB_VALUE_MAX, "keep");
	snprintf(s->baseline.teardown_mode, KNOB_VALUE_MAX, "keep");
	/*
	 * During a mass teardown every large unmap should become one
	 * whole-context invalidation, and per-unmap flushes can wait for the
	 * domain's final one.
	 */
	snprintf(s->storm.threshold, KNOB_VALUE_MAX, "16");
	snprintf(s->storm.teardown_mode, KNOB_VALUE_MAX, "deferred");
}

Config *config_new_defaults(void)
{
	Config *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->external_change = EXTERNAL_CHANGE_RELEASE;
	c->drift_check_usec = 10 * USEC_PER_SEC;
	c->scan_interval_usec = 0; /* events only: an idle daemon sleeps */
	c->use_machined = true;
	c->use_taskstats = true;
	c->use_proc_connector = true;
	settings_defaults(&c->defaults);
	return c;
}

static void profile_done(Profile *p)
{
	free(p->name);
	free(p->match.hostname_glob);
	free(p->match.smmu_glob);
	free(p->origin);
	for (size_t i = 0; i < CONFIG_N_SETTINGS_KEYS; i++)
		free(p->origins[i]);
}

Config *config_free(Config *c)
{
	if (!c)
		return NULL;
	for (size_t i = 0; i < c->n_profiles; i++)
		profile_done(&c->profiles[i]);
	free(c->profiles);
	strv_free(c->files);
	free(c->admin_group);
	free(c->reader_group);
	free(c->metrics_file);
	for (size_t i = 0; i < CONFIG_N_KEYS; i++)
		free(c->origins[i]);
	free(c->dump);
	free(c);
	return NULL;
}

/* ---- errors ---------------------------------------------------------- */

/*
 * The messages of one load.  The first CONFIG_ERRORS_MAX are kept, the
 * rest only counted: a file of junk costs neither quadratic time nor a log
 * line (and a D-Bus error line) for each of its lines.
 */
typedef struct ConfigErrors {
	char **messages;
	size_t n;
	size_t n_dropped;
} ConfigErrors;

/* Takes over the messages of *l (may be NULL), as the public calls get them. */
static ConfigErrors config_errors_from(char ***l)
{
	ConfigErrors e = {
		.messages = l ? TAKE_PTR(*l) : NULL,
	};

	e.n = strv_length(e.messages);
	return e;
}

/*
 * Hands the messages back to *l (freed if l is NULL), the last one saying
 * how many more there were, if any.  -ENOMEM if that line could not be
 * made (the others are handed back all the same).
 */
static int config_errors_done(ConfigErrors *e, char ***l)
{
	int r = 0;

	if (e->n_dropped > 0)
		r = strv_extendf(&e->messages, "... and %zu more error(s)", e->n_dropped);
	if (l)
		*l = TAKE_PTR(e->messages);
	strv_free(e->messages);
	*e = (ConfigErrors){};
	return r;
}

/*
 * Appends one error message, escaped (text_escape()): it quotes keys,
 * values and file names as they were, and those may hold any bytes, but
 * the message goes to terminals, the journal and D-Bus.
 */
_printf_(2, 3) static int error_extendf(ConfigErrors *errors, const char *fmt, ...)
{
	_cleanup_free_ char *raw = NULL;
	char *e;
	va_list ap;
	int r;

	if (errors->n >= CONFIG_ERRORS_MAX) {
		errors->n_dropped++;
		return 0;
	}
	va_start(ap, fmt);
	r = vasprintf(&raw, fmt, ap);
	va_end(ap);
	if (r < 0)
		return -ENOMEM;
	e = text_escape(raw, 0);
	if (!e)
		return -ENOMEM;
	r = strv_extend(&errors->messages, e);
	free(e);
	if (r >= 0)
		errors->n++;
	return r;
}

/* ---- parsing --------------------------------------------------------- */

typedef struct ConfigParse {
	Config *config;
	const char *file;
	FILE *f;
	size_t budget;        /* bytes this file may still have */
	const char *too_large; /* the error once it has more */
	char buf[CONFIG_LINE_MAX + 2]; /* the line, its CR and its NUL */
	size_t line_len;      /* of the line read last, even if longer than buf */
	bool line_nul;        /* ... and it holds a NUL byte */
	unsigned line;
	ConfigErrors *errors;
	int error;            /* first -errno other than -EINVAL (e.g. -ENOMEM) */
	bool had_error;
	ConfigSection section;
	bool section_ok;      /* false: an unknown or duplicate header, skip its keys */
	bool seen_header;     /* keys before any header are an error */
	size_t profile;       /* in config->profiles, of a [Profile] section */
	char *section_name;   /* full header text, for messages */
	/* What this file had so far: sections, and keys of each (bit = key index). */
	unsigned sections_seen;
	uint64_t keys_seen[_SECTION_MAX];
	bool profile_seen[CONFIG_PROFILES_MAX];
	uint64_t profile_keys_seen[CONFIG_PROFILES_MAX];
} ConfigParse;

static void add_error(ConfigParse *p, const char *key, const char *reason)
{
	int r;

	p->had_error = true;
	if (key)
		r = error_extendf(p->errors, "%s:%u: %s: %s", p->file, p->line, key, reason);
	else
		r = error_extendf(p->errors, "%s:%u: %s", p->file, p->line, reason);
	if (r < 0 && p->error == 0)
		p->error = r;
}

/* The index of the profile NAME in c->profiles, or -1. */
static ssize_t profile_find(const Config *c, const char *name)
{
	for (size_t i = 0; i < c->n_profiles; i++)
		if (streq(c->profiles[i].name, name))
			return (ssize_t)i;
	return -1;
}

/* Its index, -ENOMEM, or -E2BIG past CONFIG_PROFILES_MAX. */
static ssize_t profile_add(ConfigParse *p, const char *name)
{
	Config *c = p->config;
	Profile *n, *prof;

	if (c->n_profiles >= CONFIG_PROFILES_MAX)
		return -E2BIG;
	n = realloc(c->profiles, (c->n_profiles + 1) * sizeof(Profile));
	if (!n)
		return -ENOMEM;
	c->profiles = n;
	prof = &c->profiles[c->n_profiles];
	*prof = (Profile){
		.name = strdup(name),
		.match = { .range_invalidation = -1, .kernel = -1, .smmu_count_max = UINT_MAX,
			   .canary_percent = 100 },
	};
	if (asprintf(&prof->origin, "%s:%u", p->file, p->line) < 0)
		prof->origin = NULL;
	if (!prof->name || !prof->origin) {
		profile_done(prof);
		return -ENOMEM;
	}
	return (ssize_t)c->n_profiles++;
}

/* "[name]: reason" */
static void add_section_error(ConfigParse *p, const char *name, const char *reason)
{
	_cleanup_free_ char *k = NULL;

	if (asprintf(&k, "[%s]", name) < 0) {
		p->error = p->error ?: -ENOMEM;
		return;
	}
	add_error(p, k, reason);
}

/* A "[...]" line: which section, and is it acceptable here. */
static void parse_section_header(ConfigParse *p, const char *line)
{
	const char *close = strchr(line, ']');
	_cleanup_free_ char *name = NULL;
	const char *rest;
	ssize_t i;

	p->section_ok = false;
	p->seen_header = true;
	p->section = SECTION_NONE;
	free(p->section_name);
	p->section_name = NULL;

	if (!close)
		return add_error(p, NULL, "section header without closing ']'");
	rest = close + 1 + strspn(close + 1, " \t\r\n");
	if (*rest)
		return add_error(p, NULL, "text after section header");
	name = strndup(line + 1, (size_t)(close - line - 1));
	if (!name) {
		p->error = p->error ?: -ENOMEM;
		return;
	}
	p->section_name = strdup(name);

	for (int s = SECTION_MANAGER; s < SECTION_PROFILE; s++)
		if (streq(name, section_table[s])) {
			if (p->sections_seen & (1U << s))
				return add_section_error(p, name, "duplicate section in this file");
			p->sections_seen |= 1U << s;
			p->section = (ConfigSection)s;
			p->section_ok = true;
			return;
		}

	rest = startswith(name, "Profile ");
	if (!rest)
		return add_section_error(p, name, "unknown section");
	{
		const char *reason;

		if (value_profile_name(rest, &reason) < 0)
			return add_section_error(p, name, reason);
	}
	i = profile_find(p->config, rest);
	if (i < 0)
		i = profile_add(p, rest);
	if (i == -E2BIG)
		return add_section_error(p, name,
					 "too many profiles (at most " STRINGIFY(CONFIG_PROFILES_MAX) ")");
	if (i < 0) {
		p->error = p->error ?: (int)i;
		return;
	}
	if (p->profile_seen[i])
		return add_section_error(p, name, "duplicate section in this file");
	p->profile_seen[i] = true;
	p->profile = (size_t)i;
	p->section = SECTION_PROFILE;
	p->section_ok = true;
}

/*
 * Reads the next line into p->buf: 1, or 0 at the end of the file.  A line
 * longer than CONFIG_LINE_MAX is read to its end and flagged (its length
 * counted, its bytes dropped), so it costs no memory and never spills into
 * a line of its own; a NUL byte is flagged too.
 */
static int read_line(ConfigParse *p)
{
	size_t n = 0;
	int ch;

	p->line_len = 0;
	p->line_nul = false;
	errno = 0;
	while ((ch = getc_unlocked(p->f)) != EOF) {
		if (p->budget == 0) {
			/* Past the size it may have (it grew since it was measured). */
			p->line++;
			add_error(p, NULL, p->too_large);
			return 0;
		}
		p->budget--;
		if (ch == '\n')
			break;
		if (ch == 0)
			p->line_nul = true;
		if (n < sizeof(p->buf) - 1)
			p->buf[n] = (char)ch;
		n++;
	}
	if (ch == EOF && n == 0)
		return 0;
	p->line++;
	/* A CR before the newline is part of the line ending. */
	if (n > 0 && n < sizeof(p->buf) && p->buf[n - 1] == '\r')
		n--;
	p->line_len = n;
	p->buf[n < sizeof(p->buf) ? n : sizeof(p->buf) - 1] = 0;
	return 1;
}

/* What inih takes for white space (isspace() in the C locale). */
#define INI_WHITESPACE " \t\n\v\f\r"

/*
 * The lint: what inih's defaults would take other than as written is
 * refused here, before inih sees the line.  NULL if the line is fine,
 * else the reason.  LINE has its leading white space dropped.
 *
 * - A '#' or ';' after white space: inih ends the value at " ;" (so
 *   "ExitLimit=64 ; x" would be 64) but not at " #" (so "MatchHostname=a
 *   # x" would be a pattern with the comment in it).  Neither is taken: a
 *   comment is a line of its own.  A '#' or ';' right after other text is
 *   part of the value (MatchHostname=a;b).
 * - inih splits at the first '=' or ':', so "ExitLimit: 64" would be a
 *   setting; only '=' separates, and only after a key.
 */
static const char *lint_line(const char *line)
{
	const char *sep;

	for (const char *s = line; *s; s++)
		if (strchr(INI_WHITESPACE, *s) && s[1] && strchr("#;", s[1]))
			return "inline comment (a comment is a line of its own, starting with '#' or ';')";
	if (*line == '[')
		return NULL;
	sep = line + strcspn(line, "=:");
	if (*sep == ':')
		return "expected 'Key=value', not 'Key: value'";
	if (!*sep || sep == line)
		return "expected 'Key=value', a [Section] or a comment";
	return NULL;
}

/*
 * inih's reader: we hand it one line at a time, so we know the line number
 * of every key, and refuse, naming file and line, what inih would silently
 * mangle: a line longer than its buffer (inih would split it and parse the
 * tail as a line of its own), a NUL byte, and lint_line()'s cases.  A
 * refused line reaches inih as an empty one.  Leading white space is
 * dropped (inih would take an indented line as more of the previous value).  Section headers are ours too (inih calls no
 * handler for an empty section, so duplicates would go unnoticed).
 *
 * num is inih's buffer (INI_MAX_LINE, 200 in Debian's libinih): the line,
 * its newline and a NUL.  CONFIG_LINE_MAX is what Debian's has room for.
 */
static char *config_reader(char *str, int num, void *stream)
{
	ConfigParse *p = stream;
	size_t max = num - 2 < CONFIG_LINE_MAX ? (size_t)num - 2 : CONFIG_LINE_MAX;
	const char *reason;
	char *line;
	size_t len;

	if (read_line(p) <= 0)
		return NULL;
	if (p->line_nul) {
		add_error(p, NULL, "line contains a NUL byte");
		goto blank;
	}
	if (p->line_len > max) {
		char buf[96];

		snprintf(buf, sizeof(buf), "line too long (%zu bytes, at most %zu)", p->line_len,
			 max);
		add_error(p, NULL, buf);
		goto blank;
	}
	line = p->buf;
	if (p->line == 1 && startswith(line, "\xEF\xBB\xBF"))
		line += 3;
	line += strspn(line, INI_WHITESPACE);
	if (!*line || *line == '#' || *line == ';')
		goto blank;
	reason = lint_line(line);
	if (reason) {
		add_error(p, NULL, reason);
		goto blank;
	}
	if (*line == '[') {
		parse_section_header(p, line);
		goto blank;
	}
	len = strlen(line);
	memcpy(str, line, len);
	str[len] = '\n';
	str[len + 1] = 0;
	return str;
blank:
	str[0] = '\n';
	str[1] = 0;
	return str;
}

static Profile *current_profile(ConfigParse *p)
{
	return &p->config->profiles[p->profile];
}

static void *field_address(ConfigParse *p, const ConfigKey *k, bool in_profile)
{
	switch (k->base) {
	case IN_CONFIG:
		return (char *)p->config + k->offset;
	case IN_SETTINGS:
		return (char *)(in_profile ? &current_profile(p)->overrides : &p->config->defaults) +
		       k->offset;
	case IN_MATCH:
		return (char *)&current_profile(p)->match + k->offset;
	}
	return NULL;
}

static const ConfigKey *key_lookup(ConfigSection section, const char *name, size_t *ret_index)
{
	for (size_t i = 0; i < ELEMENTSOF(config_keys); i++) {
		const ConfigKey *k = &config_keys[i];
		bool hit = section == SECTION_PROFILE
				   ? k->profile_name && streq(k->profile_name, name)
				   : k->section == section && k->name && streq(k->name, name);

		if (hit) {
			*ret_index = i;
			return k;
		}
	}
	return NULL;
}

static void set_key(ConfigParse *p, const char *name, const char *value)
{
	const char *reason = "invalid value";
	const ConfigKey *k;
	uint64_t *seen;
	size_t index;
	int r;

	if (!p->seen_header)
		return add_error(p, name, "key outside of any section");
	if (!p->section_ok)
		return;

	k = key_lookup(p->section, name, &index);
	if (!k) {
		char reason_buf[128];

		snprintf(reason_buf, sizeof(reason_buf), "unknown key in [%s]", p->section_name);
		return add_error(p, name, reason_buf);
	}
	seen = p->section == SECTION_PROFILE ? &p->profile_keys_seen[p->profile]
					     : &p->keys_seen[p->section];
	if (*seen & (1ULL << index))
		return add_error(p, name, "duplicate key in this section");
	*seen |= 1ULL << index;
	if (!*value && k->parse != parse_group && k->parse != parse_path)
		return add_error(p, name, "empty value");

	r = k->parse(value, field_address(p, k, p->section == SECTION_PROFILE), &reason);
	if (r == -ENOMEM) {
		p->error = p->error ?: r;
		return;
	}
	if (r < 0) {
		char buf[256];

		snprintf(buf, sizeof(buf), "%s: '%.120s'", reason, value);
		return add_error(p, name, buf);
	}
	{
		Profile *prof = p->section == SECTION_PROFILE ? current_profile(p) : NULL;
		char **origin = prof ? (k->base == IN_SETTINGS ? &prof->origins[index] : NULL)
				     : &p->config->origins[index];
		unsigned *seq = prof ? (k->base == IN_SETTINGS ? &prof->origin_seq[index] : NULL)
				     : &p->config->origin_seq[index];

		if (prof && k->base == IN_SETTINGS)
			prof->set_mask |= 1ULL << index;
		if (seq)
			*seq = ++p->config->n_set;
		if (origin) {
			free(*origin);
			if (asprintf(origin, "%s:%u", p->file, p->line) < 0) {
				*origin = NULL;
				p->error = p->error ?: -ENOMEM;
			}
		}
	}
}

static int config_handler(void *user, const char *section, const char *name, const char *value)
{
	set_key(user, name, value);
	return 1; /* never an error for inih: each is reported by set_key() */
}

/*
 * One file's text into c.  budget: the bytes it may have; too_large: the
 * error if it has more.
 */
static int parse_stream(Config *c, FILE *f, const char *name, size_t budget, const char *too_large,
			ConfigErrors *errors)
{
	ConfigParse p = {
		.config = c,
		.file = name,
		.f = f,
		.budget = budget,
		.too_large = too_large,
		.errors = errors,
	};
	int r;

	_Static_assert(_SECTION_MAX <= 32, "sections_seen");
	_Static_assert(CONFIG_N_KEYS <= 64, "keys_seen");
	r = ini_parse_stream(config_reader, &p, config_handler, &p);
	if (ferror(f)) {
		p.line++;
		add_error(&p, NULL, strerror(errno ?: EIO));
	} else if (r > 0) {
		/* inih refused a line the reader passed: something it did not foresee. */
		p.line = (unsigned)r;
		add_error(&p, NULL, "syntax error");
	} else if (r == -2) {
		p.error = p.error ?: -ENOMEM;
	}
	free(p.section_name);
	if (p.error < 0)
		return p.error;
	return p.had_error ? -EINVAL : 0;
}

int config_parse_stream(Config *c, FILE *f, const char *name, char ***errors)
{
	ConfigErrors e = config_errors_from(errors);
	int r, k;

	r = parse_stream(c, f, name, CONFIG_FILE_SIZE_MAX,
			 "file too large (more than " STRINGIFY(CONFIG_FILE_SIZE_MAX) " bytes)", &e);
	k = config_errors_done(&e, errors);
	return r < 0 ? r : k;
}

/* ---- whole-config validation, dump and digest ------------------------- */

/*
 * origins[] are "file:line" of where each settings key was set (NULL: not
 * set there), seqs[] when (0: not set); fallback names the section for
 * defaults.  Of HoldTime= and Window=, the message blames the one set
 * later: the assignment (in a drop-in, say) that made the pair conflict.
 */
static int validate_settings(const SmmuSettings *s, char *const *origins, const unsigned *seqs,
			     const char *fallback, ConfigErrors *errors)
{
	char w[FORMAT_TIMESPAN_MAX], h[FORMAT_TIMESPAN_MAX];
	int hold = key_index("HoldTime");
	int window = key_index("Window");
	int r;

	/*
	 * A storm ends only after HoldTime without exits; with HoldTime at
	 * least Window every exit that started it has left the window by
	 * then, so leaving can never re-trigger at once: that is the
	 * hysteresis.
	 */
	if (s->hold_usec >= s->window_usec)
		return 0;
	format_timespan(h, sizeof(h), s->hold_usec);
	format_timespan(w, sizeof(w), s->window_usec);
	if (seqs[hold] >= seqs[window])
		r = error_extendf(errors, "%s: HoldTime: %s is shorter than Window=%s%s%s%s",
				  origins[hold] ?: fallback, h, w, origins[window] ? " (set at " : "",
				  origins[window] ?: "", origins[window] ? ")" : "");
	else
		r = error_extendf(errors, "%s: Window: %s is longer than HoldTime=%s%s%s%s",
				  origins[window], w, h, origins[hold] ? " (set at " : "",
				  origins[hold] ?: "", origins[hold] ? ")" : "");
	return r < 0 ? r : -EINVAL;
}

static void profile_overlay(const Config *c, Profile *prof)
{
	prof->effective = c->defaults;
	for (size_t i = 0; i < N_SETTINGS_KEYS; i++) {
		const ConfigKey *k = &config_keys[i];

		if (!(prof->set_mask & (1ULL << i)))
			continue;
		memcpy((char *)&prof->effective + k->offset, (const char *)&prof->overrides + k->offset,
		       k->size);
	}
}

static void dump_value(FILE *f, const ConfigKey *k, const void *field)
{
	char buf[64];

	if (k->parse == parse_bool_value)
		fputs(*(const bool *)field ? "yes" : "no", f);
	else if (k->parse == parse_u32_value)
		fprintf(f, "%" PRIu32, *(const uint32_t *)field);
	else if (k->parse == parse_size_value)
		fputs(format_bytes(buf, sizeof(buf), *(const uint64_t *)field), f);
	else if (is_timespan(k->parse))
		fputs(format_timespan(buf, sizeof(buf), *(const uint64_t *)field), f);
	else if (k->parse == parse_external_change)
		fputs(external_change_to_string(*(const ExternalChange *)field), f);
	else if (k->parse == parse_group || k->parse == parse_path)
		fputs(*(char *const *)field ?: "", f);
	else
		fputs((const char *)field, f);
}

static void dump_match(FILE *f, const ProfileMatch *m)
{
	if (m->hostname_glob)
		fprintf(f, "MatchHostname=%s\n", m->hostname_glob);
	if (m->smmu_glob)
		fprintf(f, "MatchSmmu=%s\n", m->smmu_glob);
	if (m->range_invalidation >= 0)
		fprintf(f, "MatchRangeInvalidation=%s\n", m->range_invalidation ? "yes" : "no");
	if (m->kernel >= 0)
		fprintf(f, "MatchKernel=%s\n", kernel_capability_to_string(m->kernel));
	if (m->smmu_count_min != 0 || m->smmu_count_max != UINT_MAX) {
		fprintf(f, "MatchSmmuCount=%u-", m->smmu_count_min);
		if (m->smmu_count_max != UINT_MAX)
			fprintf(f, "%u", m->smmu_count_max);
		fputc('\n', f);
	}
	if (m->canary_percent != 100)
		fprintf(f, "Canary=%u%%\n", m->canary_percent);
}

int config_dump(const Config *c, char **ret)
{
	char *buf = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);

	if (!f)
		return -ENOMEM;
	for (int s = SECTION_MANAGER; s < SECTION_PROFILE; s++) {
		fprintf(f, "[%s]\n", section_table[s]);
		for (size_t i = 0; i < ELEMENTSOF(config_keys); i++) {
			const ConfigKey *k = &config_keys[i];
			const void *field;

			if (k->section != (ConfigSection)s)
				continue;
			field = k->base == IN_CONFIG ? (const char *)c + k->offset
						     : (const char *)&c->defaults + k->offset;
			fprintf(f, "%s=", k->name);
			dump_value(f, k, field);
			fputc('\n', f);
		}
	}
	/* A profile's dump is its full effective settings: what it really does. */
	for (size_t i = 0; i < c->n_profiles; i++) {
		const Profile *prof = &c->profiles[i];

		fprintf(f, "[Profile %s]\n", prof->name);
		dump_match(f, &prof->match);
		for (size_t j = 0; j < N_SETTINGS_KEYS; j++) {
			const ConfigKey *k = &config_keys[j];

			fprintf(f, "%s=", k->profile_name);
			dump_value(f, k, (const char *)&prof->effective + k->offset);
			fputc('\n', f);
		}
	}
	if (fclose(f) != 0) {
		free(buf);
		return -ENOMEM;
	}
	*ret = buf;
	return 0;
}

static int finalize(Config *c, ConfigErrors *errors)
{
	bool bad = false;
	int r;

	r = validate_settings(&c->defaults, c->origins, c->origin_seq, "[Trigger]", errors);
	if (r == -ENOMEM)
		return r;
	bad = bad || r < 0;
	for (size_t i = 0; i < c->n_profiles; i++) {
		Profile *prof = &c->profiles[i];
		char *origins[N_SETTINGS_KEYS];
		unsigned seqs[N_SETTINGS_KEYS];

		profile_overlay(c, prof);
		for (size_t j = 0; j < N_SETTINGS_KEYS; j++) {
			origins[j] = prof->origins[j] ?: c->origins[j];
			seqs[j] = prof->origins[j] ? prof->origin_seq[j] : c->origin_seq[j];
		}
		r = validate_settings(&prof->effective, origins, seqs, prof->origin, errors);
		if (r == -ENOMEM)
			return r;
		bad = bad || r < 0;
	}
	if (bad)
		return -EINVAL;

	free(c->dump);
	c->dump = NULL;
	r = config_dump(c, &c->dump);
	if (r < 0)
		return r;
	sha256_hex(c->dump, strlen(c->dump), c->digest);
	return 0;
}

int config_finalize(Config *c, char ***errors)
{
	ConfigErrors e = config_errors_from(errors);
	int r, k;

	r = finalize(c, &e);
	k = config_errors_done(&e, errors);
	return r < 0 ? r : k;
}

/* ---- files ---------------------------------------------------------- */

/*
 * *total: the bytes the files read so far had; this one may bring it to
 * CONFIG_TOTAL_SIZE_MAX at most.  A file larger than its share is refused
 * before a byte of it is read.
 */
static int parse_one_file(Config *c, const char *path, bool required, size_t *total,
			  ConfigErrors *errors)
{
	_cleanup_fclose_ FILE *f = NULL;
	char too_large[128];
	size_t budget;
	struct stat st;
	off_t pos;
	int r;

	/* O_NONBLOCK: a FIFO dropped into the directory must not hang a reload. */
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		if (errno == ENOENT && !required)
			return 0;
		r = error_extendf(errors, "%s: cannot open: %s", path, strerror(errno));
		return r < 0 ? r : -EINVAL;
	}
	/* /dev/null: the systemd way of saying "no file here". */
	if (fstat(fd, &st) >= 0 && S_ISCHR(st.st_mode) && streq(path, "/dev/null"))
		return 0;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		r = error_extendf(errors, "%s: not a regular file", path);
		return r < 0 ? r : -EINVAL;
	}
	/*
	 * A file anyone may write, or one of another user, would let them
	 * set AdminGroup= (and so who may change the knobs): smmud reads
	 * only files of root (or of whoever runs check-config).
	 */
	if (st.st_mode & S_IWOTH) {
		r = error_extendf(errors, "%s: writable by anyone (mode %04o), refusing it", path,
				  (unsigned)(st.st_mode & 07777));
		return r < 0 ? r : -EINVAL;
	}
	if (st.st_uid != 0 && st.st_uid != geteuid()) {
		r = error_extendf(errors, "%s: owned by uid %u, not root, refusing it", path,
				  (unsigned)st.st_uid);
		return r < 0 ? r : -EINVAL;
	}
	if ((uint64_t)st.st_size > CONFIG_FILE_SIZE_MAX) {
		r = error_extendf(errors, "%s: too large (%jd bytes, at most %u)", path,
				  (intmax_t)st.st_size, CONFIG_FILE_SIZE_MAX);
		return r < 0 ? r : -EINVAL;
	}
	if (*total + (size_t)st.st_size > CONFIG_TOTAL_SIZE_MAX) {
		r = error_extendf(errors,
				  "%s: too large (%jd bytes): the files would have more than %u "
				  "bytes together",
				  path, (intmax_t)st.st_size, CONFIG_TOTAL_SIZE_MAX);
		return r < 0 ? r : -EINVAL;
	}
	budget = CONFIG_TOTAL_SIZE_MAX - *total;
	if (budget > CONFIG_FILE_SIZE_MAX)
		budget = CONFIG_FILE_SIZE_MAX;
	snprintf(too_large, sizeof(too_large), "grew past %zu bytes while being read", budget);
	f = fdopen(fd, "re");
	if (!f)
		return -ENOMEM;
	TAKE_FD(fd);
	r = strv_extend(&c->files, path);
	if (r < 0)
		return r;
	r = parse_stream(c, f, path, budget, too_large, errors);
	pos = ftello(f);
	*total += pos > 0 ? (size_t)pos : budget;
	return r;
}

static int compare_strings(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int list_dropins(const char *dir, char ***ret, ConfigErrors *errors)
{
	_cleanup_closedir_ DIR *d = opendir(dir);
	_cleanup_strv_free_ char **names = NULL;
	size_t n_names = 0;
	struct dirent *de;
	int r;

	if (!d) {
		if (errno == ENOENT)
			return 0;
		r = error_extendf(errors, "%s: cannot open directory: %s", dir, strerror(errno));
		return r < 0 ? r : -EINVAL;
	}
	while ((errno = 0, de = readdir(d))) {
		size_t n = strlen(de->d_name);

		if (de->d_name[0] == '.' || n < 6 || !streq(de->d_name + n - 5, ".conf"))
			continue;
		if (n_names >= CONFIG_DROPINS_MAX) {
			r = error_extendf(errors, "%s: more than %d drop-ins", dir, CONFIG_DROPINS_MAX);
			return r < 0 ? r : -EINVAL;
		}
		r = strv_extend(&names, de->d_name);
		if (r < 0)
			return r;
		n_names++;
	}
	if (errno != 0) {
		r = error_extendf(errors, "%s: cannot read directory: %s", dir, strerror(errno));
		return r < 0 ? r : -EINVAL;
	}
	if (names)
		qsort(names, n_names, sizeof(char *), compare_strings);
	*ret = TAKE_PTR(names);
	return 0;
}

static int load(const ConfigSource *src, Config *c, ConfigErrors *errors)
{
	_cleanup_strv_free_ char **dropins = NULL;
	const char *file = src && src->file ? src->file : SMMUD_CONFIG_FILE;
	const char *dir = src && src->dropin_dir ? src->dropin_dir : SMMUD_CONFIG_DIR;
	size_t total = 0;
	bool bad = false;
	int r;

	r = parse_one_file(c, file, src && src->file_required, &total, errors);
	if (r == -ENOMEM)
		return r;
	bad = bad || r < 0;

	if (*dir) {
		r = list_dropins(dir, &dropins, errors);
		if (r == -ENOMEM)
			return r;
		bad = bad || r < 0;
	}
	for (size_t i = 0; dropins && dropins[i]; i++) {
		_cleanup_free_ char *path = path_join(dir, dropins[i]);

		if (!path)
			return -ENOMEM;
		r = parse_one_file(c, path, true, &total, errors);
		if (r == -ENOMEM)
			return r;
		bad = bad || r < 0;
	}

	/* Cross-key checks only make sense once every key parsed. */
	if (bad)
		return -EINVAL;
	return finalize(c, errors);
}

int config_load(const ConfigSource *src, Config **ret, char ***ret_errors)
{
	_cleanup_config_free_ Config *c = config_new_defaults();
	_cleanup_strv_free_ char **messages = NULL;
	ConfigErrors errors = {};
	int r, k;

	if (!c)
		return -ENOMEM;
	r = load(src, c, &errors);
	k = config_errors_done(&errors, &messages);
	if (r == -ENOMEM || k < 0)
		return -ENOMEM;
	if (r < 0) {
		if (ret_errors)
			*ret_errors = TAKE_PTR(messages);
		return -EINVAL;
	}
	*ret = TAKE_PTR(c);
	return 0;
}
