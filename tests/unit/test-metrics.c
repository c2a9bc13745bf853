// SPDX-License-Identifier: GPL-2.0-or-later
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <dirent.h>
#include <stdlib.h>
#include <unistd.h>

#include "counters.h"
#include "metrics.h"
#include "util.h"

static void assert_line(const char *text, const char *line)
{
	_cleanup_free_ char *want = NULL;

	assert_true(asprintf(&want, "\n%s\n", line) > 0);
	if (!strstr(text, want))
		fail_msg("no line '%s' in:\n%s", line, text);
}

static int count_lines(const char *text, const char *prefix)
{
	int n = 0;

	for (const char *p = text; p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (startswith(p, prefix))
			n++;
	return n;
}

static void test_format(void **state)
{
	DaemonReloads reloads = { .ok = 2, .rejected = 1, .last_rejected = true };
	MetricsHost h = {
		.version = "1.2", .kernel = "tunables", .config_digest = "abc",
		.vms = 3, .exits_total = 7, .exits_unattributed = 1,
		.realtime_usec = 1700000000250000,
		.reloads = &reloads, .started_usec = 1699999000000001,
	};
	MetricsSmmu s[2] = {
		{ .name = "smmu0", .mode = "managed", .storm = true, .reason = "exit-limit",
		  .vms = 2, .pinned_bytes = 4096, .exits_total = 5, .storms_total = 1,
		  .n_knobs = 2,
		  .knobs = { { "inv_threshold", "16", "16", "auto", "16", "smmud" },
			     { "teardown_mode", "strict", "deferred", "strict", "deferred",
			       "smmud", 3 } },
		  .counters = "tlbi_va 2000\ntlbi_asid: 10\ncmdq_full=3\nnot a counter\nx 1 2\n"
			      "tlbi_total 2010\ncmdq_full_wait_max_ns 1500000\nBad-Name 4\n" },
		/* Hostile bytes from sysfs must come out as valid, quoted UTF-8. */
		{ .name = "we\"ird\xff\\", .mode = "monitor-only", .reason = "",
		  .counters = "cmdq_full 9\n" },
	};
	_cleanup_free_ char *t = NULL;

	assert_int_equal(metrics_format(&h, s, 2, &t), 0);
	assert_line(t, "smmud_info{version=\"1.2\",kernel=\"tunables\",config_digest=\"abc\"} 1");
	assert_line(t, "smmud_vms 3");
	assert_line(t, "smmud_exits_total 7");
	assert_line(t, "smmud_exits_unattributed_total 1");
	assert_line(t, "# TYPE smmud_exits_total counter");
	/* Values that change are no labels: a storm makes no new series. */
	assert_line(t, "smmud_smmu_storm{smmu=\"smmu0\"} 1");
	assert_line(t, "smmud_smmu_reason{smmu=\"smmu0\",reason=\"exit-limit\"} 1");
	assert_line(t, "smmud_smmu_reason{smmu=\"smmu0\",reason=\"hold\"} 0");
	assert_line(t, "smmud_smmu_reason{smmu=\"smmu0\",reason=\"quiet\"} 0");
	assert_line(t, "smmud_smmu_pinned_bytes{smmu=\"smmu0\"} 4096");
	assert_line(t, "smmud_smmu_storms_total{smmu=\"smmu0\"} 1");
	assert_line(t, "smmud_knob_info{smmu=\"smmu0\",knob=\"inv_threshold\",baseline=\"auto\","
		       "storm=\"16\"} 1");
	assert_null(strstr(t, "current="));
	assert_null(strstr(t, "desired="));
	assert_line(t, "smmud_knob_as_desired{smmu=\"smmu0\",knob=\"inv_threshold\"} 1");
	assert_line(t, "smmud_knob_as_desired{smmu=\"smmu0\",knob=\"teardown_mode\"} 0");
	assert_line(t, "smmud_knob_owner{smmu=\"smmu0\",knob=\"inv_threshold\",owner=\"smmud\"} 1");
	assert_line(t, "smmud_knob_owner{smmu=\"smmu0\",knob=\"inv_threshold\",owner=\"operator\"} 0");
	assert_line(t, "smmud_knob_value{smmu=\"smmu0\",knob=\"inv_threshold\"} 16");
	/* Not a number: no value sample. */
	assert_null(strstr(t, "smmud_knob_value{smmu=\"smmu0\",knob=\"teardown_mode\"}"));
	/* One counter family per kernel counter, named as Prometheus wants. */
	assert_line(t, "# TYPE smmud_kernel_tlbi_va_total counter");
	assert_line(t, "smmud_kernel_tlbi_va_total{smmu=\"smmu0\"} 2000");
	assert_line(t, "smmud_kernel_tlbi_asid_total{smmu=\"smmu0\"} 10");
	assert_line(t, "smmud_kernel_tlbi_total{smmu=\"smmu0\"} 2010");
	assert_line(t, "# TYPE smmud_kernel_cmdq_full_total counter");
	assert_line(t, "smmud_kernel_cmdq_full_total{smmu=\"smmu0\"} 3");
	assert_line(t, "smmud_kernel_cmdq_full_total{smmu=\"we\\\"ird\\\\xff\\\\\\\\\"} 9");
	/* A maximum is a gauge, in seconds. */
	assert_line(t, "# TYPE smmud_kernel_cmdq_full_wait_max_seconds gauge");
	assert_line(t, "smmud_kernel_cmdq_full_wait_max_seconds{smmu=\"smmu0\"} 0.001500000");
	assert_null(strstr(t, "_ns{"));
	assert_null(strstr(t, "smmud_kernel_counter"));
	assert_null(strstr(t, "Bad-Name"));
	assert_null(strstr(t, "smmud_kernel_not"));
	assert_null(strstr(t, "smmud_kernel_x_"));
	/* Every family's samples together: one TYPE line each. */
	assert_int_equal(count_lines(t, "# TYPE smmud_kernel_cmdq_full_total "), 1);
	assert_line(t, "smmud_metrics_last_update_timestamp_seconds 1700000000.250000");
	assert_line(t, "smmud_start_time_seconds 1699999000.000001");
	assert_line(t, "smmud_config_reloads_total{result=\"ok\"} 2");
	assert_line(t, "smmud_config_reloads_total{result=\"rejected\"} 1");
	assert_line(t, "smmud_config_last_reload_successful 0");
	assert_line(t, "# TYPE smmud_knob_write_failures_total counter");
	assert_line(t, "smmud_knob_write_failures_total{smmu=\"smmu0\",knob=\"inv_threshold\"} 0");
	assert_line(t, "smmud_knob_write_failures_total{smmu=\"smmu0\",knob=\"teardown_mode\"} 3");
	assert_line(t, "smmud_smmu_storm{smmu=\"we\\\"ird\\\\xff\\\\\\\\\"} 0");
	assert_true(text_is_safe(t, ESCAPE_KEEP_NEWLINE) ||
		    /* backslashes are the escapes themselves */ strchr(t, '\\'));
	for (const unsigned char *p = (const unsigned char *)t; *p; p++)
		assert_true(*p == '\n' || (*p >= 0x20 && *p < 0x7f));
}

static void count_cb(const char *name, uint64_t v, void *userdata)
{
	(*(unsigned *)userdata)++;
}

static void test_counters_edge(void **state)
{
	unsigned n = 0;

	counters_parse("", count_cb, &n);
	counters_parse("a 1", count_cb, &n);          /* no final newline */
	counters_parse("b -1\nc 99999999999999999999\n", count_cb, &n);
	assert_int_equal(n, 1);
}

/* Without MetricsFile= an update writes nothing anywhere (it once renamed a temporary to NULL). */
static void test_no_metrics_file(void **state)
{
	char dir[] = "/tmp/smmud-test-metrics-XXXXXX", *old = getcwd(NULL, 0);
	MetricsFile f = {};
	DaemonView v = {};
	struct dirent *de;
	DIR *d;
	int entries = 0;

	assert_non_null(old);
	assert_non_null(mkdtemp(dir));
	assert_int_equal(chdir(dir), 0);
	metrics_file_update(&f, &v);
	metrics_file_update(&f, &v);
	assert_null(f.path);
	d = opendir(".");
	assert_non_null(d);
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			entries++;
	closedir(d);
	assert_int_equal(chdir(old), 0);
	free(old);
	assert_int_equal(rmdir(dir), 0);
	assert_int_equal(entries, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_counters_edge),
		cmocka_unit_test(test_no_metrics_file),
	};

	return cmocka_run_group_tests_name("metrics", tests, NULL, NULL);
}
