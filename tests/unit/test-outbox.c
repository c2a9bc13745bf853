// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The outbox on a real event loop: the status line follows changes, and
 * with no MetricsFile= nothing is left armed to wake the loop after them
 * (the metrics spacing is for a file; without one there is no write).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "outbox.h"
#include "util.h"

typedef struct Host {
	Config *config;
	SmmuSet smmus;
	VmModel *vms;
	unsigned views;
} Host;

static int no_process(pid_t pid, bool want_files, VmProcess *ret, void *userdata)
{
	return -ENOENT;
}

static void view(void *userdata, DaemonView *ret)
{
	Host *h = userdata;

	h->views++;
	*ret = (DaemonView){ .root = "/", .config = h->config, .smmus = &h->smmus, .vms = h->vms };
}

static void run_pending(sd_event *e)
{
	while (sd_event_run(e, 0) > 0)
		;
}

static void test_no_metrics_file_no_timer(void **state)
{
	_cleanup_(outbox_freep) Outbox *o = NULL;
	sd_event *e = NULL;
	Host h = {};

	h.config = config_new_defaults();
	assert_non_null(h.config);
	assert_null(h.config->metrics_file);
	assert_int_equal(vm_model_new(no_process, NULL, &h.vms), 0);
	assert_int_equal(sd_event_new(&e), 0);
	assert_int_equal(outbox_new(e, view, &h, &o), 0);

	/* Changes in a row, as a mass shutdown makes them: the status follows each. */
	for (int i = 0; i < 3; i++) {
		outbox_changed(o);
		run_pending(e);
	}
	assert_non_null(outbox_status(o));
	assert_true(h.views > 0);
	/*
	 * Nothing armed: the loop sleeps past the metrics interval (1 s)
	 * with nothing to dispatch.  A timer armed for a file that does not
	 * exist would fire within it.
	 */
	assert_int_equal(sd_event_run(e, 1500 * 1000), 0);

	o = outbox_free(o);
	sd_event_unref(e);
	vm_model_free(h.vms);
	config_free(h.config);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_metrics_file_no_timer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
