// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Config loading and validation: defaults, drop-in order, profiles, the
 * digest, and every kind of bad input, each of which must name file, line,
 * key and reason and yield no Config at all.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "config.h"
#include "profile.h"

typedef struct Dir {
	char path[64];
} Dir;

static void dir_make(Dir *d)
{
	snprintf(d->path, sizeof(d->path), "/tmp/test-config.XXXXXX");
	assert_non_null(mkdtemp(d->path));
}

static void dir_remove(Dir *d)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d->path);
	assert_int_equal(system(cmd), 0);
}

static char *write_file(const Dir *d, const char *name, const char *text)
{
	char *p = path_join(d->path, name);
	FILE *f;

	assert_non_null(p);
	f = fopen(p, "we");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
	return p;
}

/* A fresh directory: smmud.conf holding main_text, and an empty drop-in directory d/. */
static ConfigSource make_config_dir(Dir *d, const char *main_text, char **ret_main,
				    char **ret_dropins)
{
	dir_make(d);
	*ret_main = write_file(d, "smmud.conf", main_text);
	*ret_dropins = path_join(d->path, "d");
	assert_non_null(*ret_dropins);
	assert_int_equal(mkdir(*ret_dropins, 0755), 0);
	return (ConfigSource){ .file = *ret_main, .dropin_dir = *ret_dropins };
}

/* Loads text as the main file (no drop-ins); returns r, errors in *errs. */
static int load_text(const char *text, Config **ret, char ***errs)
{
	Dir d;
	_cleanup_free_ char *p = NULL;
	ConfigSource src;
	int r;

	dir_make(&d);
	p = write_file(&d, "smmud.conf", text);
	src = (ConfigSource){ .file = p, .file_required = true, .dropin_dir = "" };
	r = config_load(&src, ret, errs);
	dir_remove(&d);
	return r;
}

/* Asserts the text is refused with exactly one error containing want. */
static void assert_refused(const char *text, const char *want)
{
	Config *c = NULL;
	char **errs = NULL;
	int r = load_text(text, &c, &errs);

	assert_int_equal(r, -EINVAL);
	assert_null(c);
	assert_non_null(errs);
	if (!strstr(errs[0], want))
		fail_msg("error '%s' lacks '%s'", errs[0], want);
	if (errs[1])
		fail_msg("more than one error: '%s', then '%s'", errs[0], errs[1]);
	strv_free(errs);
}

/* Asserts src is refused with exactly one error, containing want. */
static void assert_load_refused(const ConfigSource *src, const char *want)
{
	Config *c = NULL;
	char **errs = NULL;

	assert_int_equal(config_load(src, &c, &errs), -EINVAL);
	assert_null(c);
	if (strv_length(errs) != 1 || !strstr(errs[0], want))
		fail_msg("%zu error(s), the first '%s'; wanted one with '%s'", strv_length(errs),
			 errs ? errs[0] : "", want);
	strv_free(errs);
}

static void test_defaults_without_any_file(void **state)
{
	Config *c = NULL;
	char **errs = NULL;
	ConfigSource src = { .file = "/nonexistent/smmud.conf", .dropin_dir = "/nonexistent.d" };

	assert_int_equal(config_load(&src, &c, &errs), 0);
	assert_null(errs);
	assert_non_null(c);
	assert_null(c->files);
	assert_true(c->defaults.manage);
	assert_int_equal(c->defaults.window_usec, 2 * USEC_PER_SEC);
	assert_int_equal(c->defaults.exit_limit, 4);
	assert_int_equal(c->defaults.pinned_limit, 64ULL << 30);
	assert_int_equal(c->defaults.hold_usec, 30 * USEC_PER_SEC);
	assert_string_equal(c->defaults.baseline.threshold, "keep");
	assert_string_equal(c->defaults.storm.threshold, "16");
	assert_string_equal(c->defaults.storm.teardown_mode, "deferred");
	assert_int_equal(strlen(c->digest), 64);
	config_free(c);
}

static void test_required_file_missing(void **state)
{
	Config *c = NULL;
	char **errs = NULL;
	ConfigSource src = { .file = "/nonexistent/smmud.conf", .file_required = true,
			     .dropin_dir = "" };

	assert_int_equal(config_load(&src, &c, &errs), -EINVAL);
	assert_null(c);
	assert_string_equal(errs[0], "/nonexistent/smmud.conf: cannot open: No such file or directory");
	strv_free(errs);
}

static void test_empty_file_is_defaults(void **state)
{
	Config *c = NULL, *d = config_new_defaults();
	char **errs = NULL;

	assert_int_equal(load_text("", &c, &errs), 0);
	assert_non_null(c);
	assert_int_equal(strv_length(c->files), 1);
	assert_int_equal(config_finalize(d, &errs), 0);
	/* Same effective config, same digest, whatever the files. */
	assert_string_equal(c->digest, d->digest);
	config_free(c);
	config_free(d);
}

static void test_comments_only_and_whitespace(void **state)
{
	Config *c = NULL;
	char **errs = NULL;

	assert_int_equal(load_text("# comment\n; other\n\n   \n[Manager]\n  # indented\n", &c, &errs), 0);
	config_free(c);
}

static void test_values_and_units(void **state)
{
	Config *c = NULL;
	char **errs = NULL;

	assert_int_equal(load_text("[Manager]\nExternalChange=reassert\nDriftCheckInterval=250ms\n"
				   "ScanInterval=0\nManage=no\nTaskStats=off\n"
				   "[Trigger]\nWindow=5s\nExitLimit=7\nPinnedLimit=512M\n"
				   "HoldTime=2min\nOnShutdown=false\n"
				   "[Baseline]\nThreshold=auto\nTeardownMode=strict\n"
				   "[Storm]\nThreshold=0008\n  TeardownMode =\tstrict \r\n",
				   &c, &errs),
			 0);
	assert_int_equal(c->external_change, EXTERNAL_CHANGE_REASSERT);
	assert_int_equal(c->drift_check_usec, 250 * USEC_PER_MSEC);
	assert_int_equal(c->scan_interval_usec, 0);
	assert_false(c->defaults.manage);
	assert_false(c->use_taskstats);
	assert_int_equal(c->defaults.window_usec, 5 * USEC_PER_SEC);
	assert_int_equal(c->defaults.exit_limit, 7);
	assert_int_equal(c->defaults.pinned_limit, 512ULL << 20);
	assert_int_equal(c->defaults.hold_usec, 120 * USEC_PER_SEC);
	assert_false(c->defaults.storm_on_shutdown);
	assert_string_equal(c->defaults.baseline.threshold, "auto");
	assert_string_equal(c->defaults.baseline.teardown_mode, "strict");
	/* Canonical: one value, one write, one digest. */
	assert_string_equal(c->defaults.storm.threshold, "8");
	assert_string_equal(c->defaults.storm.teardown_mode, "strict");
	assert_non_null(strstr(c->dump, "PinnedLimit=512M\n"));
	assert_non_null(strstr(c->dump, "HoldTime=2min\n"));
	config_free(c);
}

/* Each time span at its bounds is taken. */
static void test_timespan_bounds(void **state)
{
	Config *c = NULL;
	char **errs = NULL;

	assert_int_equal(load_text("[Manager]\nDriftCheckInterval=100ms\nScanInterval=1s\n"
				   "[Trigger]\nWindow=10ms\nHoldTime=10ms\n",
				   &c, &errs),
			 0);
	assert_int_equal(c->drift_check_usec, 100 * USEC_PER_MSEC);
	assert_int_equal(c->scan_interval_usec, USEC_PER_SEC);
	assert_int_equal(c->defaults.window_usec, 10 * USEC_PER_MSEC);
	config_free(c);
	assert_int_equal(load_text("[Manager]\nDriftCheckInterval=1h\nScanInterval=24h\n"
				   "[Trigger]\nWindow=1h\nHoldTime=24h\n",
				   &c, &errs),
			 0);
	assert_int_equal(c->scan_interval_usec, 24 * USEC_PER_HOUR);
	assert_int_equal(c->defaults.hold_usec, 24 * USEC_PER_HOUR);
	config_free(c);
}

static void test_bad_inputs(void **state)
{
	static const struct {
		const char *text;
		const char *error;
	} cases[] = {
		{ "[Manager]\nFrobnicate=1\n", ":2: Frobnicate: unknown key in [Manager]" },
		{ "[Bogus]\nx=1\n", ":1: [Bogus]: unknown section" },
		{ "[Bogus]\n", ":1: [Bogus]: unknown section" },
		{ "Window=2s\n", ":1: Window: key outside of any section" },
		{ "[Trigger]\nExitLimit=abc\n", ":2: ExitLimit: not a whole number: 'abc'" },
		{ "[Trigger]\nExitLimit=-1\n", "ExitLimit: not a whole number" },
		{ "[Trigger]\nExitLimit=4294967296\n", "ExitLimit: number out of range" },
		{ "[Trigger]\nExitLimit=1.5\n", "ExitLimit: not a whole number" },
		{ "[Trigger]\nExitLimit= 4x\n", "ExitLimit: not a whole number" },
		{ "[Trigger]\nPinnedLimit=2X\n", ":2: PinnedLimit: not a size" },
		{ "[Trigger]\nPinnedLimit=2g\n", "PinnedLimit: not a size" },
		{ "[Trigger]\nPinnedLimit=G\n", "PinnedLimit: not a size" },
		{ "[Trigger]\nPinnedLimit=99999999999P\n", "PinnedLimit: size out of range" },
		{ "[Trigger]\nWindow=5 s\n", "Window: not a time span" },
		{ "[Trigger]\nWindow=5sec\n", "Window: not a time span" },
		{ "[Trigger]\nWindow=0\n", "Window: out of range (10ms to 1h): '0'" },
		{ "[Trigger]\nWindow=9ms\n", "Window: out of range (10ms to 1h)" },
		{ "[Trigger]\nWindow=61min\nHoldTime=2h\n", ":2: Window: out of range (10ms to 1h)" },
		{ "[Trigger]\nHoldTime=25h\n", "HoldTime: out of range (10ms to 24h)" },
		{ "[Manager]\nDriftCheckInterval=18446744073709551615us\n",
		  ":2: DriftCheckInterval: out of range (100ms to 1h): '18446744073709551615us'" },
		{ "[Manager]\nDriftCheckInterval=99ms\n", "DriftCheckInterval: out of range (100ms to 1h)" },
		{ "[Manager]\nScanInterval=1us\n", ":2: ScanInterval: out of range (0, or 1s to 24h): '1us'" },
		{ "[Manager]\nScanInterval=999ms\n", "ScanInterval: out of range (0, or 1s to 24h)" },
		{ "[Manager]\nScanInterval=1441min\n", "ScanInterval: out of range (0, or 1s to 24h)" },
		{ "[Trigger]\nHoldTime=-5s\n", "HoldTime: not a time span" },
		{ "[Trigger]\nHoldTime=1s\n", ":2: HoldTime: 1s is shorter than Window=2s" },
		{ "[Trigger]\nWindow=1min\n", ":2: Window: 1min is longer than HoldTime=30s" },
		{ "[Trigger]\nOnShutdown=maybe\n", "OnShutdown: not a boolean" },
		{ "[Trigger]\nExitLimit=\n", ":2: ExitLimit: empty value" },
		{ "[Storm]\nThreshold=keep\n", "Threshold: not a threshold (auto or a whole number)" },
		{ "[Storm]\nTeardownMode=lazy\n", "TeardownMode: not a teardown mode (strict or deferred)" },
		{ "[Baseline]\nThreshold=-3\n", "Threshold: not a threshold (keep, auto or" },
		{ "[Manager]\nExternalChange=fight\n", "ExternalChange: not release or reassert" },
		{ "[Manager]\nAdminGroup=9wheel\n", "AdminGroup: not a valid group name" },
		{ "[Trigger]\nWindow=2s\nWindow=3s\n", ":3: Window: duplicate key in this section" },
		{ "[Trigger]\n[Manager]\n[Trigger]\n", ":3: [Trigger]: duplicate section in this file" },
		{ "[Profile a]\n[Profile a]\n", ":2: [Profile a]: duplicate section" },
		{ "[Profile bad name]\n", ":1: [Profile bad name]: profile names are" },
		{ "[Profile ]\n", "profile names are" },
		{ "[Profile x]\nMatchKernel=linux\n", "MatchKernel: not tunables, mainline or none" },
		{ "[Profile x]\nMatchSmmuCount=8-2\n", "MatchSmmuCount: range ends below its start" },
		{ "[Profile x]\nMatchSmmuCount=x\n", "MatchSmmuCount: not a count or range" },
		{ "[Profile x]\nCanary=101%\n", "Canary: not a percentage from 0 to 100" },
		{ "[Profile x]\nThreshold=5\n", "Threshold: unknown key in [Profile x]" },
		{ "[Profile x]\nHoldTime=1s\n", "HoldTime: 1s is shorter than Window=2s" },
		{ "[Manager]\nCanary=5\n", "Canary: unknown key in [Manager]" },
		{ "[Manager\nManage=yes\n", ":1: section header without closing ']'" },
		{ "[Manager] junk\n", ":1: text after section header" },
		{ "[Manager]\njust words\n", ":2: expected 'Key=value', a [Section] or a comment" },
		{ "[Manager]\nManage=yes\n   ExitLimit=3\n", ":3: ExitLimit: unknown key in [Manager]" },
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		print_message("case %zu: %s", i, cases[i].text);
		assert_refused(cases[i].text, cases[i].error);
	}
}

/* Loads text, which must succeed, and returns the glob of its first profile's MatchHostname=. */
static size_t loaded_hostname_glob_length(const char *text)
{
	Config *c = NULL;
	char **errs = NULL;
	size_t n;

	assert_int_equal(load_text(text, &c, &errs), 0);
	n = strlen(c->profiles[0].match.hostname_glob);
	config_free(c);
	return n;
}

/*
 * inih's buffer holds 198 bytes of a line (Debian's INI_MAX_LINE of 200,
 * less the newline and the NUL): a longer line is refused whole, naming
 * it, never split (inih would parse its tail as a line of its own) or cut.
 */
static void test_overlong_line_is_an_error(void **state)
{
	char text[1024];

	assert_int_equal(CONFIG_LINE_MAX, 198);
	snprintf(text, sizeof(text), "[Manager]\nScanInterval=%0400d\nManage=yes\n", 5);
	assert_refused(text, ":2: line too long (413 bytes, at most 198)");
	/* 14 bytes of "MatchHostname=" and 185 of glob: one byte too many. */
	snprintf(text, sizeof(text), "[Profile x]\nMatchHostname=%0185d\n", 1);
	assert_refused(text, ":2: line too long (199 bytes, at most 198)");
	/* So a MatchHostname= of 255 characters is refused, and why is said. */
	snprintf(text, sizeof(text), "# a comment\n[Profile x]\nMatchHostname=%0255d\n", 1);
	assert_refused(text, "smmud.conf:3: line too long (269 bytes, at most 198)");
	/* An overlong comment too: inih would read its tail as a setting. */
	snprintf(text, sizeof(text), "[Manager]\n#%0198dManage=no\n", 0);
	assert_refused(text, ":2: line too long (208 bytes, at most 198)");
	/* The longest line that fits is taken whole, with a CR or without. */
	snprintf(text, sizeof(text), "[Profile x]\nMatchHostname=%0184d\n", 1);
	assert_int_equal(loaded_hostname_glob_length(text), 184);
	snprintf(text, sizeof(text), "[Profile x]\r\nMatchHostname=%0184d\r\n", 1);
	assert_int_equal(loaded_hostname_glob_length(text), 184);
}

/*
 * One rule for comments: a comment is a line of its own.  A '#' or ';'
 * after white space is refused wherever it is (inih would end a value at
 * " ;" but keep " #" in it); right after other text it is part of the
 * value.  Only '=' separates a key from its value (inih takes ':' too).
 */
static void test_inline_comments_and_separators(void **state)
{
	static const struct {
		const char *text;
		const char *error;
	} cases[] = {
		{ "[Trigger]\nExitLimit = 64 ; x\n", ":2: inline comment (a comment is a line of its own" },
		{ "[Trigger]\nExitLimit=64\t;x\n", ":2: inline comment" },
		{ "[Trigger]\nExitLimit = 64 # x\n", ":2: inline comment" },
		{ "[Trigger]\nExitLimit= ;64\n", ":2: inline comment" },
		{ "[Profile p]\nMatchHostname=web-* # the web tier\n", ":2: inline comment" },
		{ "[Trigger] ; the trigger\n", ":1: inline comment" },
		{ "[Trigger] # the trigger\n", ":1: inline comment" },
		{ "[Trigger];x\n", ":1: text after section header" },
		{ "[Trigger]\nExitLimit: 64\n", ":2: expected 'Key=value', not 'Key: value'" },
		{ "[Trigger]\nExitLimit : 6=4\n", ":2: expected 'Key=value', not 'Key: value'" },
		{ "[Trigger]\n=4\n", ":2: expected 'Key=value', a [Section] or a comment" },
		{ "[Trigger]\n: 4\n", ":2: expected 'Key=value', not 'Key: value'" },
	};
	Config *c = NULL;
	char **errs = NULL;

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		print_message("case %zu: %s", i, cases[i].text);
		assert_refused(cases[i].text, cases[i].error);
	}
	/* Comment lines, indented or not; '#', ';', ':' and '=' inside a value. */
	assert_int_equal(load_text("; one\n# two\n[Profile p]\n  ;three\n\t#four\n"
				   "MatchHostname = a=b;c#d:e\n",
				   &c, &errs),
			 0);
	assert_string_equal(c->profiles[0].match.hostname_glob, "a=b;c#d:e");
	config_free(c);
}

static void test_nul_byte_is_an_error(void **state)
{
	Dir d;
	_cleanup_free_ char *p = NULL;
	Config *c = NULL;
	char **errs = NULL;
	ConfigSource src;
	FILE *f;

	dir_make(&d);
	p = path_join(d.path, "smmud.conf");
	f = fopen(p, "we");
	fwrite("[Manager]\nManage=y\0es\n", 1, 22, f);
	fclose(f);
	src = (ConfigSource){ .file = p, .file_required = true, .dropin_dir = "" };
	assert_int_equal(config_load(&src, &c, &errs), -EINVAL);
	assert_non_null(strstr(errs[0], ":2: line contains a NUL byte"));
	strv_free(errs);
	dir_remove(&d);
}

static void test_all_errors_reported(void **state)
{
	Config *c = NULL;
	char **errs = NULL;

	assert_int_equal(load_text("[Manager]\nA=1\nB=2\n[Nope]\n[Trigger]\nExitLimit=x\n", &c, &errs),
			 -EINVAL);
	assert_int_equal(strv_length(errs), 4);
	assert_non_null(strstr(errs[0], ":2: A:"));
	assert_non_null(strstr(errs[1], ":3: B:"));
	assert_non_null(strstr(errs[2], ":4: [Nope]"));
	assert_non_null(strstr(errs[3], ":6: ExitLimit:"));
	strv_free(errs);
}

/* head, then n times before, a number (0 first) and after. */
static char *lines_of(const char *head, const char *before, const char *after, int n)
{
	char *text = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&text, &size);

	assert_non_null(f);
	fputs(head, f);
	for (int i = 0; i < n; i++)
		fprintf(f, "%s%d%s", before, i, after);
	assert_int_equal(fclose(f), 0);
	return text;
}

/* Junk costs one error line each up to CONFIG_ERRORS_MAX, then one line in all. */
static void test_errors_are_bounded(void **state)
{
	_cleanup_free_ char *text = lines_of("[Manager]\n", "junk line ", "\n", 5000);
	Config *c = NULL;
	char **errs = NULL;

	assert_int_equal(load_text(text, &c, &errs), -EINVAL);
	assert_null(c);
	assert_int_equal(strv_length(errs), CONFIG_ERRORS_MAX + 1);
	assert_non_null(strstr(errs[0], ":2: expected 'Key=value'"));
	assert_non_null(strstr(errs[CONFIG_ERRORS_MAX - 1], ":21: expected 'Key=value'"));
	assert_string_equal(errs[CONFIG_ERRORS_MAX], "... and 4980 more error(s)");
	strv_free(errs);
}

static void write_size(const Dir *d, const char *name, size_t size)
{
	_cleanup_free_ char *p = path_join(d->path, name);
	FILE *f;

	assert_non_null(p);
	f = fopen(p, "we");
	assert_non_null(f);
	/* Comment lines: valid text, so only the size can be refused. */
	for (size_t i = 0; i < size; i++)
		fputc(i % 64 == 63 ? '\n' : '#', f);
	assert_int_equal(fclose(f), 0);
}

static void test_sizes_are_bounded(void **state)
{
	Dir d;
	_cleanup_free_ char *main_file = NULL, *dropins = NULL;
	Config *c = NULL;
	char **errs = NULL;
	ConfigSource src;
	char name[64];

	src = make_config_dir(&d, "[Trigger]\nExitLimit=5\n", &main_file, &dropins);

	/* One file: refused by its size, unread, with one error naming it. */
	write_size(&d, "d/10-big.conf", CONFIG_FILE_SIZE_MAX + 1);
	assert_load_refused(&src, "d/10-big.conf: too large (262145 bytes, at most 262144)");

	/* As large as a file may be: fine; four of them and a main file: too much together. */
	write_size(&d, "d/10-big.conf", CONFIG_FILE_SIZE_MAX);
	assert_int_equal(config_load(&src, &c, &errs), 0);
	config_free(c);
	c = NULL;
	for (int i = 11; i < 14; i++) {
		snprintf(name, sizeof(name), "d/%d-big.conf", i);
		write_size(&d, name, CONFIG_FILE_SIZE_MAX);
	}
	assert_load_refused(&src, "d/13-big.conf: too large (262144 bytes): the files would "
					"have more than 1048576 bytes together");
	dir_remove(&d);

	/* More drop-ins than CONFIG_DROPINS_MAX. */
	free(main_file);
	free(dropins);
	src = make_config_dir(&d, "", &main_file, &dropins);
	for (int i = 0; i <= CONFIG_DROPINS_MAX; i++) {
		snprintf(name, sizeof(name), "d/%03d.conf", i);
		free(write_file(&d, name, ""));
	}
	assert_load_refused(&src, "/d: more than 128 drop-ins");
	dir_remove(&d);
}

static void test_profiles_are_bounded(void **state)
{
	_cleanup_free_ char *most = lines_of("", "[Profile p", "]\nExitLimit=1\n", CONFIG_PROFILES_MAX);
	_cleanup_free_ char *more =
		lines_of("", "[Profile p", "]\nExitLimit=1\n", CONFIG_PROFILES_MAX + 1);
	Config *c = NULL;
	char **errs = NULL;

	assert_int_equal(load_text(most, &c, &errs), 0);
	assert_int_equal(c->n_profiles, CONFIG_PROFILES_MAX);
	config_free(c);
	c = NULL;
	assert_int_equal(load_text(more, &c, &errs), -EINVAL);
	assert_int_equal(strv_length(errs), 1);
	assert_non_null(strstr(errs[0], ":129: [Profile p64]: too many profiles (at most 64)"));
	strv_free(errs);
}

static void test_unreadable_file(void **state)
{
	Dir d;
	_cleanup_free_ char *p = NULL;
	pid_t pid;
	int status;

	dir_make(&d);
	p = write_file(&d, "smmud.conf", "[Manager]\n");
	assert_int_equal(chmod(p, 0600), 0);
	assert_int_equal(chmod(d.path, 0755), 0);

	/* Root reads anything: judge as an unprivileged user would be judged. */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		Config *c = NULL;
		char **errs = NULL;
		ConfigSource src = { .file = p, .file_required = true, .dropin_dir = "" };
		char want[256];

		if (geteuid() == 0 && (setgid(65534) < 0 || setuid(65534) < 0))
			_exit(2);
		snprintf(want, sizeof(want), "%s: cannot open: Permission denied", p);
		if (config_load(&src, &c, &errs) != -EINVAL || c || !errs || !streq(errs[0], want))
			_exit(1);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	dir_remove(&d);
}

/* A file someone else may write could grant AdminGroup=: refused. */
static void test_foreign_or_world_writable_file(void **state)
{
	Dir d;
	_cleanup_free_ char *main_file = NULL, *dropins = NULL, *dropin = NULL;
	Config *c = NULL;
	char **errs = NULL;
	ConfigSource src;

	src = make_config_dir(&d, "[Trigger]\nExitLimit=5\n", &main_file, &dropins);
	dropin = write_file(&d, "d/50-admin.conf", "[Manager]\nAdminGroup=users\n");

	assert_int_equal(chmod(dropin, 0666), 0);
	assert_load_refused(&src, "d/50-admin.conf: writable by anyone (mode 0666), refusing it");
	/* Group-writable is the owner's choice. */
	assert_int_equal(chmod(dropin, 0664), 0);
	assert_int_equal(config_load(&src, &c, &errs), 0);
	assert_string_equal(c->admin_group, "users");
	config_free(c);
	c = NULL;

	if (geteuid() == 0) {
		assert_int_equal(chown(dropin, 65534, 65534), 0);
		assert_load_refused(&src, "d/50-admin.conf: owned by uid 65534, not root, refusing it");
	}
	dir_remove(&d);
}

static void test_directory_as_file(void **state)
{
	Dir d;
	Config *c = NULL;
	char **errs = NULL;
	ConfigSource src;

	dir_make(&d);
	src = (ConfigSource){ .file = d.path, .file_required = true, .dropin_dir = "" };
	assert_int_equal(config_load(&src, &c, &errs), -EINVAL);
	assert_non_null(strstr(errs[0], ": not a regular file"));
	strv_free(errs);
	dir_remove(&d);
}

static void test_dropins_in_lexical_order(void **state)
{
	Dir d;
	_cleanup_free_ char *main_file = NULL, *dropins = NULL;
	Config *c = NULL;
	char **errs = NULL;
	ConfigSource src;

	dir_make(&d);
	main_file = write_file(&d, "smmud.conf", "[Trigger]\nExitLimit=5\nPinnedLimit=1G\n");
	dropins = path_join(d.path, "smmud.conf.d");
	assert_int_equal(mkdir(dropins, 0755), 0);
	free(write_file(&d, "smmud.conf.d/20-b.conf", "[Trigger]\nExitLimit=20\n"));
	free(write_file(&d, "smmud.conf.d/10-a.conf", "[Trigger]\nExitLimit=10\nHoldTime=40s\n"));
	free(write_file(&d, "smmud.conf.d/30-c.conf.disabled", "[Bogus]\n"));
	free(write_file(&d, "smmud.conf.d/.hidden.conf", "[Bogus]\n"));
	src = (ConfigSource){ .file = main_file, .dropin_dir = dropins };
	assert_int_equal(config_load(&src, &c, &errs), 0);
	assert_int_equal(c->defaults.exit_limit, 20);
	assert_int_equal(c->defaults.pinned_limit, 1ULL << 30);
	assert_int_equal(c->defaults.hold_usec, 40 * USEC_PER_SEC);
	assert_int_equal(strv_length(c->files), 3);
	assert_non_null(strstr(c->files[1], "10-a.conf"));
	assert_non_null(strstr(c->files[2], "20-b.conf"));
	/* The same key in two files is an override, in one file a duplicate. */
	config_free(c);

	/* A bad drop-in spoils the whole: no config. */
	free(write_file(&d, "smmud.conf.d/25-bad.conf", "[Storm]\nThreshold=many\n"));
	c = NULL;
	assert_int_equal(config_load(&src, &c, &errs), -EINVAL);
	assert_null(c);
	assert_non_null(strstr(errs[0], "25-bad.conf:2: Threshold: not a threshold"));
	strv_free(errs);
	dir_remove(&d);
}

/* A conflict a drop-in brings is blamed on the drop-in, whichever key it set. */
static void test_conflict_blames_the_later_file(void **state)
{
	static const struct {
		const char *main, *dropin, *error;
	} cases[] = {
		{ "[Trigger]\nHoldTime=30s\n", "[Trigger]\nWindow=1min\n",
		  "d/50.conf:2: Window: 1min is longer than HoldTime=30s (set at " },
		{ "[Trigger]\nWindow=1min\nHoldTime=2min\n", "[Trigger]\nHoldTime=30s\n",
		  "d/50.conf:2: HoldTime: 30s is shorter than Window=1min (set at " },
		{ "[Profile p]\nHoldTime=30s\n", "[Profile p]\nWindow=1min\n",
		  "d/50.conf:2: Window: 1min is longer than HoldTime=30s (set at " },
		{ "[Trigger]\nHoldTime=30s\n", "[Profile p]\nWindow=1min\n",
		  "d/50.conf:2: Window: 1min is longer than HoldTime=30s (set at " },
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		Dir d;
		_cleanup_free_ char *main_file = NULL, *dropins = NULL;
		Config *c = NULL;
		char **errs = NULL;
		ConfigSource src;

		src = make_config_dir(&d, cases[i].main, &main_file, &dropins);
		free(write_file(&d, "d/50.conf", cases[i].dropin));
		assert_int_equal(config_load(&src, &c, &errs), -EINVAL);
		assert_int_equal(strv_length(errs), 1);
		if (!strstr(errs[0], cases[i].error) || !strstr(errs[0], "smmud.conf:"))
			fail_msg("case %zu: '%s' lacks '%s'", i, errs[0], cases[i].error);
		strv_free(errs);
		dir_remove(&d);
	}
}

static void test_digest_tracks_effective_values(void **state)
{
	Config *a = NULL, *b = NULL, *c = NULL;
	char **errs = NULL;

	assert_int_equal(load_text("[Trigger]\nExitLimit=5\n", &a, &errs), 0);
	assert_int_equal(load_text("# same\n[Trigger]\nExitLimit=05\n", &b, &errs), 0);
	assert_int_equal(load_text("[Trigger]\nExitLimit=6\n", &c, &errs), 0);
	assert_string_equal(a->digest, b->digest);
	assert_string_not_equal(a->digest, c->digest);
	{
		char hex[SHA256_HEX_SIZE];

		sha256_hex(a->dump, strlen(a->dump), hex);
		assert_string_equal(hex, a->digest);
	}
	config_free(a);
	config_free(b);
	config_free(c);
}

static void test_sha256_vectors(void **state)
{
	char hex[SHA256_HEX_SIZE];
	char million[1000];

	sha256_hex("", 0, hex);
	assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	sha256_hex("abc", 3, hex);
	assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56, hex);
	assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
	{
		Sha256 s;
		uint8_t d[SHA256_DIGEST_SIZE];

		memset(million, 'a', sizeof(million));
		sha256_init(&s);
		for (int i = 0; i < 1000; i++)
			sha256_update(&s, million, sizeof(million));
		sha256_final(&s, d);
		assert_int_equal(d[0], 0xcd);
		assert_int_equal(d[1], 0xc7);
		assert_int_equal(d[31], 0xd0);
	}
}

static void test_profiles_match_first(void **state)
{
	Config *c = NULL;
	char **errs = NULL;
	const char *name;
	const SmmuSettings *s;
	HostFacts host = { .hostname = "lab-7", .machine_id = "0123456789abcdef0123456789abcdef",
			   .kernel = KERNEL_CAP_TUNABLES, .n_smmus = 2 };
	SmmuFacts noril = { .name = "smmu3.0x1", .range_invalidation = false };
	SmmuFacts ril = { .name = "smmu3.0x2", .range_invalidation = true };

	assert_int_equal(load_text("[Trigger]\nExitLimit=4\n"
				   "[Profile has-ril]\nMatchRangeInvalidation=yes\nManage=no\n"
				   "[Profile lab]\nMatchHostname=lab-*\nExitLimit=2\nStormThreshold=4\n"
				   "[Profile big]\nMatchSmmuCount=8-\nExitLimit=9\n",
				   &c, &errs),
			 0);
	s = config_settings_for(c, &host, &ril, &name);
	assert_string_equal(name, "has-ril");
	assert_false(s->manage);
	s = config_settings_for(c, &host, &noril, &name);
	assert_string_equal(name, "lab");
	assert_int_equal(s->exit_limit, 2);
	assert_string_equal(s->storm.threshold, "4");
	/* Keys the profile leaves alone come from the plain sections. */
	assert_string_equal(s->storm.teardown_mode, "deferred");

	host.hostname = "prod-1";
	s = config_settings_for(c, &host, &noril, &name);
	assert_null(name);
	assert_int_equal(s->exit_limit, 4);
	host.n_smmus = 8;
	s = config_settings_for(c, &host, &noril, &name);
	assert_string_equal(name, "big");
	assert_int_equal(s->exit_limit, 9);
	config_free(c);
}

static void test_profile_overlay_sees_later_dropins(void **state)
{
	Dir d;
	_cleanup_free_ char *main_file = NULL, *dropins = NULL;
	Config *c = NULL;
	char **errs = NULL;
	ConfigSource src;

	dir_make(&d);
	main_file = write_file(&d, "smmud.conf", "[Profile p]\nExitLimit=3\n");
	dropins = path_join(d.path, "d");
	assert_int_equal(mkdir(dropins, 0755), 0);
	free(write_file(&d, "d/50.conf", "[Trigger]\nPinnedLimit=7G\n[Profile p]\nMatchKernel=none\n"));
	src = (ConfigSource){ .file = main_file, .dropin_dir = dropins };
	assert_int_equal(config_load(&src, &c, &errs), 0);
	assert_int_equal(c->n_profiles, 1);
	assert_int_equal(c->profiles[0].effective.exit_limit, 3);
	assert_int_equal(c->profiles[0].effective.pinned_limit, 7ULL << 30);
	assert_int_equal(c->profiles[0].match.kernel, KERNEL_CAP_NONE);
	config_free(c);
	dir_remove(&d);
}

static void test_canary_is_stable_and_proportional(void **state)
{
	unsigned in = 0;
	char id[33];

	assert_int_equal(canary_slot("0123456789abcdef0123456789abcdef", "p"),
			 canary_slot("0123456789abcdef0123456789abcdef", "p"));
	for (unsigned i = 0; i < 2000; i++) {
		snprintf(id, sizeof(id), "%032x", i * 2654435761u);
		in += canary_slot(id, "rollout") < 10 * 100;
	}
	/* 10% of 2000 hosts, give or take what a hash gives. */
	assert_in_range(in, 140, 260);
}

static void test_canary_profile_needs_machine_id(void **state)
{
	Config *c = NULL;
	char **errs = NULL;
	HostFacts host = { .hostname = "h", .kernel = KERNEL_CAP_TUNABLES, .n_smmus = 1 };
	SmmuFacts s = { .name = "smmu3.0x1" };
	const char *name;

	assert_int_equal(load_text("[Profile all]\nCanary=100%\nExitLimit=1\n"
				   "[Profile none]\nCanary=0\nExitLimit=2\n",
				   &c, &errs),
			 0);
	config_settings_for(c, &host, &s, &name);
	assert_string_equal(name, "all");
	c->profiles[0].match.canary_percent = 50;
	host.machine_id = NULL;
	config_settings_for(c, &host, &s, &name);
	assert_null(name);
	config_free(c);
}

static void test_installed_examples_parse(void **state)
{
	static const char *const files[] = {
		"conf/smmud.conf",
		"conf/examples/canary.conf",
		"conf/examples/lab-hosts.conf",
		"conf/examples/mixed-fleet.conf",
		"conf/examples/monitor-only.conf",
	};

	for (size_t i = 0; i < ELEMENTSOF(files); i++) {
		Config *c = NULL;
		char **errs = NULL;
		ConfigSource src = { .file = files[i], .dropin_dir = "" };

		if (access(files[i], F_OK) < 0)
			continue;
		if (config_load(&src, &c, &errs) < 0)
			fail_msg("%s: %s", files[i], errs ? errs[0] : "?");
		config_free(c);
	}
}

static void test_errors_are_escaped_utf8(void **state)
{
	/* A stray byte, an escape sequence, a backslash: quoted, never raw. */
	assert_refused("[Manager]\n\xff=1\n", ":2: \\xff: unknown key in [Manager]");
	assert_refused("[Manager]\nManage=\x1b[31m\n", "'\\x1b[31m'");
	assert_refused("[Manager]\nManage=a\\b\n", "'a\\\\b'");
	/* Valid UTF-8 stays as it is. */
	assert_refused("[Manager]\nManage=gr\xc3\xbcn\n", "'gr\xc3\xbcn'");
}

static void test_text_escape(void **state)
{
	static const struct {
		const char *in, *out;
		EscapeFlags flags;
	} cases[] = {
		{ "plain", "plain", 0 },
		{ "\xff", "\\xff", 0 },
		{ "a\xff" "b", "a\\xffb", 0 },
		{ "\xc3", "\\xc3", 0 },                 /* truncated sequence */
		{ "\xc0\xaf", "\\xc0\\xaf", 0 },        /* overlong '/' */
		{ "\xed\xa0\x80", "\\xed\\xa0\\x80", 0 }, /* surrogate */
		{ "\xef\xbf\xbf", "\\xef\\xbf\\xbf", 0 }, /* noncharacter */
		{ "\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80", 0 }, /* > U+10FFFF */
		{ "\xc2\x9b", "\\xc2\\x9b", 0 },         /* C1 CSI */
		{ "\xe2\x82\xac", "\xe2\x82\xac", 0 },     /* EUR sign */
		{ "\xf0\x9f\x99\x82", "\xf0\x9f\x99\x82", 0 },
		{ "a\nb\tc\x7f", "a\\x0ab\\x09c\\x7f", 0 },
		{ "a\nb", "a\nb", ESCAPE_KEEP_NEWLINE },
		{ "back\\slash", "back\\\\slash", 0 },
		{ "", "", 0 },
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		_cleanup_free_ char *e = text_escape(cases[i].in, cases[i].flags);

		assert_non_null(e);
		assert_string_equal(e, cases[i].out);
		assert_int_equal(text_is_safe(cases[i].in, cases[i].flags),
				 streq(cases[i].in, cases[i].out));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults_without_any_file),
		cmocka_unit_test(test_required_file_missing),
		cmocka_unit_test(test_empty_file_is_defaults),
		cmocka_unit_test(test_comments_only_and_whitespace),
		cmocka_unit_test(test_values_and_units),
		cmocka_unit_test(test_timespan_bounds),
		cmocka_unit_test(test_bad_inputs),
		cmocka_unit_test(test_overlong_line_is_an_error),
		cmocka_unit_test(test_inline_comments_and_separators),
		cmocka_unit_test(test_nul_byte_is_an_error),
		cmocka_unit_test(test_all_errors_reported),
		cmocka_unit_test(test_errors_are_bounded),
		cmocka_unit_test(test_sizes_are_bounded),
		cmocka_unit_test(test_profiles_are_bounded),
		cmocka_unit_test(test_errors_are_escaped_utf8),
		cmocka_unit_test(test_text_escape),
		cmocka_unit_test(test_unreadable_file),
		cmocka_unit_test(test_foreign_or_world_writable_file),
		cmocka_unit_test(test_directory_as_file),
		cmocka_unit_test(test_dropins_in_lexical_order),
		cmocka_unit_test(test_conflict_blames_the_later_file),
		cmocka_unit_test(test_digest_tracks_effective_values),
		cmocka_unit_test(test_sha256_vectors),
		cmocka_unit_test(test_profiles_match_first),
		cmocka_unit_test(test_profile_overlay_sees_later_dropins),
		cmocka_unit_test(test_canary_is_stable_and_proportional),
		cmocka_unit_test(test_canary_profile_needs_machine_id),
		cmocka_unit_test(test_installed_examples_parse),
	};

	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
