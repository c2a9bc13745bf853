// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * shutdownwatch: against fake-logind on a private dbus-daemon.  The fake,
 * like systemd, emits JobNew and a unit's PropertiesChanged only to
 * subscribed clients, so a watch that forgot Subscribe() fails here.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "shutdownwatch.h"
#include "testbus.h"
#include "util.h"

typedef struct Ctx {
	TestBus bus;
	ShutdownWatch *watch;
	char *helper;
	pid_t logind;
	unsigned n, n_cancel;
	char last[128];
	unsigned n_guests;
	bool guests;
	unsigned n_jobs;
	char last_job[128];
} Ctx;

static void on_shutdown(bool start, const char *why, void *userdata)
{
	Ctx *c = userdata;

	if (!start) {
		c->n_cancel++;
		return;
	}
	c->n++;
	snprintf(c->last, sizeof(c->last), "%s", why);
}

static void on_guests(bool stopping, void *userdata)
{
	Ctx *c = userdata;

	c->n_guests++;
	c->guests = stopping;
}

static void on_job(const char *unit, void *userdata)
{
	Ctx *c = userdata;

	c->n_jobs++;
	snprintf(c->last_job, sizeof(c->last_job), "%s", unit);
}

static const ShutdownWatchCallbacks callbacks = {
	.shutdown = on_shutdown,
	.guests_stopping = on_guests,
	.unit_job = on_job,
};

static int setup(void **state)
{
	Ctx *c = calloc(1, sizeof(*c));
	char line[64], addr[600];
	char *argv[] = { NULL, addr, NULL };

	assert_non_null(c);
	testbus_start(&c->bus);
	c->helper = testbus_helper("fake-logind");
	argv[0] = c->helper;
	snprintf(addr, sizeof(addr), "--address=%s", c->bus.address);
	c->logind = testbus_spawn(argv, line, sizeof(line));
	assert_string_equal(line, "ready");
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	Ctx *c = *state;

	shutdownwatch_free(c->watch);
	testbus_stop(c->logind);
	testbus_finish(&c->bus);
	free(c->helper);
	free(c);
	return 0;
}

/* Calls a control method of fake-logind; returns its "b" answer if it has one. */
static int control(Ctx *c, const char *method, const char *sig, ...)
{
	sd_bus_error error = SD_BUS_ERROR_NULL;
	sd_bus_message *m = NULL, *reply = NULL;
	va_list ap;
	int b = -1;

	assert_true(sd_bus_message_new_method_call(c->bus.bus, &m, "org.freedesktop.login1",
						   "/org/freedesktop/login1",
						   "org.smmud.test.FakeLogind", method) >= 0);
	if (sig) {
		va_start(ap, sig);
		assert_true(sd_bus_message_appendv(m, sig, ap) >= 0);
		va_end(ap);
	}
	assert_true(sd_bus_call(c->bus.bus, m, 0, &error, &reply) >= 0);
	if (streq(sd_bus_message_get_signature(reply, 1), "b"))
		assert_true(sd_bus_message_read(reply, "b", &b) >= 0);
	sd_bus_message_unref(m);
	sd_bus_message_unref(reply);
	sd_bus_error_free(&error);
	/* Signals it sent before its reply are queued for us now. */
	while (sd_event_run(c->bus.event, 0) > 0)
		;
	return b;
}

static bool subscribed(void *arg)
{
	Ctx *c = arg;
	sd_bus_message *reply = NULL;
	uint32_t n = 0;

	assert_true(sd_bus_call_method(c->bus.bus, "org.freedesktop.login1", "/org/freedesktop/login1",
				       "org.smmud.test.FakeLogind", "Subscribers", NULL, &reply, "") >= 0);
	assert_true(sd_bus_message_read(reply, "u", &n) >= 0);
	sd_bus_message_unref(reply);
	return n == 1;
}

static void test_logind(void **state)
{
	Ctx *c = *state;

	assert_int_equal(shutdownwatch_new(c->bus.bus, &callbacks, c, &c->watch), 0);
	testbus_settle(&c->bus);
	/* A cancelled shutdown is no announcement, but it is told. */
	control(c, "PrepareForShutdown", "b", 0);
	assert_int_equal(c->n, 0);
	assert_int_equal(c->n_cancel, 1);
	control(c, "PrepareForShutdown", "b", 1);
	assert_int_equal(c->n, 1);
	assert_string_equal(c->last, "logind");
}

static void test_jobs(void **state)
{
	Ctx *c = *state;

	assert_int_equal(shutdownwatch_new(c->bus.bus, &callbacks, c, &c->watch), 0);
	assert_true(testbus_run_until(&c->bus, subscribed, c));
	testbus_settle(&c->bus);

	/* Ordinary jobs are no shutdown, only news of a unit's job. */
	assert_int_equal(control(c, "QueueJob", "s", "libvirtd.service"), 1);
	assert_int_equal(control(c, "QueueJob", "s", "shutdown.target.wants"), 1);
	assert_int_equal(c->n, 0);
	assert_int_equal(c->n_jobs, 2);
	assert_int_equal(control(c, "QueueJob", "s", "machine-qemu\\x2d1\\x2dvm1.scope"), 1);
	assert_int_equal(c->n_jobs, 3);
	assert_string_equal(c->last_job, "machine-qemu\\x2d1\\x2dvm1.scope");

	assert_int_equal(control(c, "QueueJob", "s", "poweroff.target"), 1);
	assert_int_equal(c->n, 1);
	assert_string_equal(c->last, "job poweroff.target");
	assert_int_equal(control(c, "QueueJob", "s", "kexec.target"), 1);
	assert_int_equal(c->n, 2);
	assert_string_equal(c->last, "job kexec.target");
	/* A shutdown target's job is a shutdown, no unit's job. */
	assert_int_equal(c->n_jobs, 3);
}

static bool guests_told(void *arg)
{
	Ctx *c = arg;

	return c->n_guests > 0;
}

static void test_guests(void **state)
{
	Ctx *c = *state;

	/* Stopping already when the watch starts: it asks, and is told. */
	assert_int_equal(control(c, "SetUnitState", "ss", "libvirt-guests.service", "deactivating"), 0);
	assert_int_equal(shutdownwatch_new(c->bus.bus, &callbacks, c, &c->watch), 0);
	assert_true(testbus_run_until(&c->bus, guests_told, c));
	assert_int_equal(c->n_guests, 1);
	assert_true(c->guests);

	assert_true(testbus_run_until(&c->bus, subscribed, c));
	testbus_settle(&c->bus);
	assert_int_equal(control(c, "SetUnitState", "ss", "libvirt-guests.service", "inactive"), 1);
	assert_int_equal(c->n_guests, 2);
	assert_false(c->guests);
	/* Starting is no stop; the same state twice is one change. */
	assert_int_equal(control(c, "SetUnitState", "ss", "libvirt-guests.service", "activating"), 1);
	assert_int_equal(control(c, "SetUnitState", "ss", "libvirt-guests.service", "active"), 1);
	assert_int_equal(c->n_guests, 2);
	assert_int_equal(control(c, "SetUnitState", "ss", "libvirt-guests.service", "deactivating"), 1);
	assert_int_equal(control(c, "SetUnitState", "ss", "libvirt-guests.service", "deactivating"), 1);
	assert_int_equal(c->n_guests, 3);
	assert_true(c->guests);
	/* Another unit deactivating is not libvirt-guests. */
	assert_int_equal(control(c, "SetUnitState", "ss", "libvirtd.service", "inactive"), 1);
	assert_int_equal(c->n_guests, 3);
	assert_int_equal(c->n, 0);
}

static void test_targets(void **state)
{
	static const char *const yes[] = {
		"shutdown.target", "reboot.target", "poweroff.target", "halt.target", "kexec.target",
		"soft-reboot.target",
	};
	static const char *const no[] = {
		"", "shutdown", "shutdown.target ", "xshutdown.target", "multi-user.target",
		"reboot.service", "Reboot.target",
	};

	for (size_t i = 0; i < ELEMENTSOF(yes); i++)
		assert_true(shutdown_target_is_shutdown(yes[i]));
	for (size_t i = 0; i < ELEMENTSOF(no); i++)
		assert_false(shutdown_target_is_shutdown(no[i]));
	assert_false(shutdown_target_is_shutdown(NULL));
	assert_null(shutdownwatch_free(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_targets),
		cmocka_unit_test_setup_teardown(test_logind, setup, teardown),
		cmocka_unit_test_setup_teardown(test_jobs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_guests, setup, teardown),
	};

	return cmocka_run_group_tests_name("shutdownwatch", tests, NULL, NULL);
}
