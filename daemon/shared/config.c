// SPDX-License-Identifier: GPL-2.0-or-later
#include <fcntl.h>
#include <inttypes.h>
#include <ini.h>
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

static int parse_timespan_value(const char *value, void *field, const char **reason)
{
	return value_timespan(value, 0, USEC_INFINITY, field, reason);
}

static int parse_positive_timespan_value(const char *value, void *field, const char **reason)
{
	return value_timespan(value, 1, USEC_INFINITY, field, reason);
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
	{ SECTION_TRIGGER, "Window", "Window", parse_positive_timespan_value, S(window_usec) },
	{ SECTION_TRIGGER, "ExitLimit", "ExitLimit", parse_u32_value, S(exit_limit) },
	{ SECTION_TRIGGER, "PinnedLimit", "PinnedLimit", parse_size_value, S(pinned_limit) },
	{ SECTION_TRIGGER, "HoldTime", "HoldTime", parse_positive_timespan_value, S(hold_usec) },
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
	{ SECTION_MANAGER, "DriftCheckInterval", NULL, parse_positive_timespan_value,
	  C(drift_check_usec) },
	{ SECTION_MANAGER, "ScanInterval", NULL, parse_timespan_value, C(scan_interval_usec) },
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

static int key_index(ValueParser parse_fn, const char *profile_name)
{
	for (size_t i = 0; i < ELEMENTSOF(config_keys); i++)
		if (config_keys[i].parse == parse_fn && config_keys[i].profile_name &&
		    streq(config_keys[i].profile_name, profile_name))
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

/* ---- parsing --------------------------------------------------------- */

typedef struct ConfigParse {
	Config *config;
	const char *file;
	FILE *f;
	char *buf;
	size_t buf_size;
	unsigned line;
	char ***errors;
	int error;            /* first -errno other than -EINVAL (e.g. -ENOMEM) */
	bool had_error;
	ConfigSection section;
	bool section_ok;      /* false: an unknown or duplicate header, skip its keys */
	bool seen_header;     /* keys before any header are an error */
	Profile *profile;
	char *section_name;   /* full header text, for messages */
	char **sections_seen; /* headers of this file */
	char **keys_seen;     /* "section\nkey" of this file */
} ConfigParse;

/*
 * Appends one error message, escaped (text_escape()): it quotes keys,
 * values and file names as they were, and those may hold any bytes, but
 * the message goes to terminals, the journal and D-Bus.
 */
_printf_(2, 3) static int error_extendf(char ***errors, const char *fmt, ...)
{
	_cleanup_free_ char *raw = NULL;
	char *e;
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&raw, fmt, ap);
	va_end(ap);
	if (r < 0)
		return -ENOMEM;
	e = text_escape(raw, 0);
	if (!e)
		return -ENOMEM;
	r = strv_extend(errors, e);
	free(e);
	return r;
}

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

static bool strv_contains(char **l, const char *s)
{
	for (size_t i = 0; l && l[i]; i++)
		if (streq(l[i], s))
			return true;
	return false;
}

static Profile *profile_find(Config *c, const char *name)
{
	for (size_t i = 0; i < c->n_profiles; i++)
		if (streq(c->profiles[i].name, name))
			return &c->profiles[i];
	return NULL;
}

static Profile *profile_add(ConfigParse *p, const char *name)
{
	Config *c = p->config;
	Profile *n = realloc(c->profiles, (c->n_profiles + 1) * sizeof(Profile));
	Profile *prof;

	if (!n)
		return NULL;
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
		return NULL;
	}
	c->n_profiles++;
	return prof;
}

/* A "[...]" line: which section, and is it acceptable here. */
static void parse_section_header(ConfigParse *p, const char *line)
{
	const char *close = strchr(line, ']');
	_cleanup_free_ char *name = NULL;
	const char *rest;
	int r;

	p->section_ok = false;
	p->seen_header = true;
	p->section = SECTION_NONE;
	p->profile = NULL;
	free(p->section_name);
	p->section_name = NULL;

	if (!close)
		return add_error(p, NULL, "section header without closing ']'");
	rest = close + 1 + strspn(close + 1, " \t\r\n");
	if (*rest && *rest != ';' && *rest != '#')
		return add_error(p, NULL, "text after section header");
	name = strndup(line + 1, (size_t)(close - line - 1));
	if (!name) {
		p->error = p->error ?: -ENOMEM;
		return;
	}
	p->section_name = strdup(name);

	if (strv_contains(p->sections_seen, name)) {
		_cleanup_free_ char *k = NULL;

		if (asprintf(&k, "[%s]", name) >= 0)
			add_error(p, k, "duplicate section in this file");
		return;
	}
	r = strv_extend(&p->sections_seen, name);
	if (r < 0) {
		p->error = p->error ?: r;
		return;
	}

	for (int s = SECTION_MANAGER; s < SECTION_PROFILE; s++)
		if (streq(name, section_table[s])) {
			p->section = (ConfigSection)s;
			p->section_ok = true;
			return;
		}

	rest = startswith(name, "Profile ");
	if (rest) {
		const char *reason;

		if (value_profile_name(rest, &reason) < 0) {
			_cleanup_free_ char *k = NULL;

			if (asprintf(&k, "[%s]", name) >= 0)
				add_error(p, k, reason);
			return;
		}
		p->profile = profile_find(p->config, rest) ?: profile_add(p, rest);
		if (!p->profile) {
			p->error = p->error ?: -ENOMEM;
			return;
		}
		p->section = SECTION_PROFILE;
		p->section_ok = true;
		return;
	}

	{
		_cleanup_free_ char *k = NULL;

		if (asprintf(&k, "[%s]", name) >= 0)
			add_error(p, k, "unknown section");
	}
}

/*
 * inih's reader: we hand it one line at a time, so we know the line number
 * of every key, can refuse what inih would silently mangle (an overlong
 * line split in two, a NUL byte, an indented line taken as a continuation
 * of the previous value), and handle section headers ourselves (inih calls
 * no handler for an empty section, so duplicates would go unnoticed).
 */
static char *config_reader(char *str, int num, void *stream)
{
	ConfigParse *p = stream;
	ssize_t n;
	char *line;
	size_t len;

	errno = 0;
	n = getline(&p->buf, &p->buf_size, p->f);
	if (n < 0)
		return NULL;
	p->line++;
	line = p->buf;
	if (strlen(line) != (size_t)n) {
		add_error(p, NULL, "line contains a NUL byte");
		goto blank;
	}
	if (n > 0 && line[n - 1] == '\n')
		line[--n] = 0;
	if (n > 0 && line[n - 1] == '\r')
		line[--n] = 0;
	if (n + 2 > num) {
		char reason[96];

		snprintf(reason, sizeof(reason), "line too long (%zd bytes, at most %d)", n,
			 num - 2);
		add_error(p, NULL, reason);
		goto blank;
	}
	if (p->line == 1 && startswith(line, "\xEF\xBB\xBF"))
		line += 3;
	line += strspn(line, " \t");
	len = strlen(line);

	if (*line == '[') {
		parse_section_header(p, line);
		goto blank;
	}
	if (*line && *line != ';' && *line != '#') {
		if (!strchr(line, '=')) {
			add_error(p, NULL, "expected 'Key=value', a [Section] or a comment");
			goto blank;
		}
	}
	memcpy(str, line, len);
	str[len] = '\n';
	str[len + 1] = 0;
	return str;
blank:
	str[0] = '\n';
	str[1] = 0;
	return str;
}

static void *field_address(ConfigParse *p, const ConfigKey *k, bool in_profile)
{
	switch (k->base) {
	case IN_CONFIG:
		return (char *)p->config + k->offset;
	case IN_SETTINGS:
		return (char *)(in_profile ? &p->profile->overrides : &p->config->defaults) +
		       k->offset;
	case IN_MATCH:
		return (char *)&p->profile->match + k->offset;
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

static int config_handler(void *user, const char *section, const char *name, const char *value)
{
	ConfigParse *p = user;
	_cleanup_free_ char *seen = NULL;
	const char *reason = "invalid value";
	const ConfigKey *k;
	size_t index;
	int r;

	if (!p->seen_header) {
		add_error(p, name, "key outside of any section");
		return 1;
	}
	if (!p->section_ok)
		return 1;

	k = key_lookup(p->section, name, &index);
	if (!k) {
		char reason_buf[128];

		snprintf(reason_buf, sizeof(reason_buf), "unknown key in [%s]", p->section_name);
		add_error(p, name, reason_buf);
		return 1;
	}
	if (asprintf(&seen, "%s\n%s", p->section_name, name) < 0) {
		p->error = p->error ?: -ENOMEM;
		return 1;
	}
	if (strv_contains(p->keys_seen, seen)) {
		add_error(p, name, "duplicate key in this section");
		return 1;
	}
	r = strv_extend(&p->keys_seen, seen);
	if (r < 0) {
		p->error = p->error ?: r;
		return 1;
	}
	if (!*value && k->parse != parse_group && k->parse != parse_path) {
		add_error(p, name, "empty value");
		return 1;
	}

	r = k->parse(value, field_address(p, k, p->section == SECTION_PROFILE), &reason);
	if (r == -ENOMEM) {
		p->error = p->error ?: r;
		return 1;
	}
	if (r < 0) {
		char buf[256];

		snprintf(buf, sizeof(buf), "%s: '%.120s'", reason, value);
		add_error(p, name, buf);
		return 1;
	}
	{
		char **origin = p->section == SECTION_PROFILE
					? (k->base == IN_SETTINGS ? &p->profile->origins[index] : NULL)
					: &p->config->origins[index];

		if (p->section == SECTION_PROFILE && k->base == IN_SETTINGS)
			p->profile->set_mask |= 1ULL << index;
		if (origin) {
			free(*origin);
			if (asprintf(origin, "%s:%u", p->file, p->line) < 0) {
				*origin = NULL;
				p->error = p->error ?: -ENOMEM;
			}
		}
	}
	return 1;
}

int config_parse_stream(Config *c, FILE *f, const char *name, char ***errors)
{
	ConfigParse p = {
		.config = c,
		.file = name,
		.f = f,
		.errors = errors,
	};
	int r;

	r = ini_parse_stream(config_reader, &p, config_handler, &p);
	if (ferror(f)) {
		int e = errno ?: EIO;

		p.line++;
		add_error(&p, NULL, strerror(e));
	} else if (r > 0 && !p.had_error) {
		/* Something inih refused that our reader did not foresee. */
		p.line = (unsigned)r;
		add_error(&p, NULL, "syntax error");
	} else if (r == -2 && p.error == 0) {
		p.error = -ENOMEM;
	}
	free(p.buf);
	free(p.section_name);
	strv_free(p.sections_seen);
	strv_free(p.keys_seen);
	if (p.error < 0)
		return p.error;
	return p.had_error ? -EINVAL : 0;
}

/* ---- whole-config validation, dump and digest ------------------------- */

/*
 * origins[] are "file:line" of where each settings key was set (NULL: not
 * set there); the message blames the key that was set, HoldTime first.
 */
static int validate_settings(const SmmuSettings *s, char *const *origins, const char *fallback,
			     char ***errors)
{
	char w[FORMAT_TIMESPAN_MAX], h[FORMAT_TIMESPAN_MAX];
	int hold = key_index(parse_positive_timespan_value, "HoldTime");
	int window = key_index(parse_positive_timespan_value, "Window");
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
	if (origins[hold] || !origins[window])
		r = error_extendf(errors, "%s: HoldTime: %s is shorter than Window=%s",
				 origins[hold] ?: fallback, h, w);
	else
		r = error_extendf(errors, "%s: Window: %s is longer than HoldTime=%s", origins[window],
				 w, h);
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
	else if (k->parse == parse_positive_timespan_value || k->parse == parse_timespan_value)
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

int config_finalize(Config *c, char ***errors)
{
	bool bad = false;
	int r;

	r = validate_settings(&c->defaults, c->origins, "[Trigger]", errors);
	if (r == -ENOMEM)
		return r;
	bad = bad || r < 0;
	for (size_t i = 0; i < c->n_profiles; i++) {
		Profile *prof = &c->profiles[i];
		char *origins[N_SETTINGS_KEYS];

		profile_overlay(c, prof);
		for (size_t j = 0; j < N_SETTINGS_KEYS; j++)
			origins[j] = prof->origins[j] ?: c->origins[j];
		r = validate_settings(&prof->effective, origins, prof->origin, errors);
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

/* ---- files ---------------------------------------------------------- */

static int parse_one_file(Config *c, const char *path, bool required, char ***errors)
{
	_cleanup_fclose_ FILE *f = NULL;
	struct stat st;
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
	f = fdopen(fd, "re");
	if (!f)
		return -ENOMEM;
	TAKE_FD(fd);
	r = strv_extend(&c->files, path);
	if (r < 0)
		return r;
	return config_parse_stream(c, f, path, errors);
}

static int compare_strings(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int list_dropins(const char *dir, char ***ret, char ***errors)
{
	_cleanup_closedir_ DIR *d = opendir(dir);
	_cleanup_strv_free_ char **names = NULL;
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
		r = strv_extend(&names, de->d_name);
		if (r < 0)
			return r;
	}
	if (errno != 0) {
		r = error_extendf(errors, "%s: cannot read directory: %s", dir, strerror(errno));
		return r < 0 ? r : -EINVAL;
	}
	if (names)
		qsort(names, strv_length(names), sizeof(char *), compare_strings);
	*ret = TAKE_PTR(names);
	return 0;
}

int config_load(const ConfigSource *src, Config **ret, char ***ret_errors)
{
	_cleanup_config_free_ Config *c = config_new_defaults();
	_cleanup_strv_free_ char **dropins = NULL;
	_cleanup_strv_free_ char **errors = NULL;
	const char *file = src && src->file ? src->file : SMMUD_CONFIG_FILE;
	const char *dir = src && src->dropin_dir ? src->dropin_dir : SMMUD_CONFIG_DIR;
	bool bad = false;
	int r;

	if (!c)
		return -ENOMEM;

	r = parse_one_file(c, file, src && src->file_required, &errors);
	if (r == -ENOMEM)
		return r;
	bad = bad || r < 0;

	if (*dir) {
		r = list_dropins(dir, &dropins, &errors);
		if (r == -ENOMEM)
			return r;
		bad = bad || r < 0;
	}
	for (size_t i = 0; dropins && dropins[i]; i++) {
		_cleanup_free_ char *path = path_join(dir, dropins[i]);

		if (!path)
			return -ENOMEM;
		r = parse_one_file(c, path, true, &errors);
		if (r == -ENOMEM)
			return r;
		bad = bad || r < 0;
	}

	/* Cross-key checks only make sense once every key parsed. */
	if (!bad) {
		r = config_finalize(c, &errors);
		if (r == -ENOMEM)
			return r;
		bad = r < 0;
	}
	if (bad) {
		if (ret_errors)
			*ret_errors = TAKE_PTR(errors);
		return -EINVAL;
	}
	*ret = TAKE_PTR(c);
	return 0;
}
