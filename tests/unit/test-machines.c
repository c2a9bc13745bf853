// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * machines: MachineWatch against fake-machined on a private dbus-daemon:
 * absent at start, appearing, signals, missed signals caught by
 * reconciliation, bad names refused, going away and coming back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "machines.h"
#include "testbus.h"
#include "util.h"

typedef struct Ctx {
	TestBus bus;
	MachineWatch *watch;
	unsigned changed;
	bool told_unit; /* a change was told with machine b's unit known */
	char *helper;
	pid_t machined;
} Ctx;

static void on_changed(void *userdata)
{
	Ctx *c = userdata;

	c->changed++;
	if (c->watch && machinewatch_unit_for_pid(c->watch, 200))
		c->told_unit = true;
}

static pid_t start_machined(Ctx *c, const char *m1, const char *m2)
{
	char line[64];
	char addr[600];
	char *argv[] = { c->helper, addr, (char *)m1, (char *)m2, NULL };
	pid_t pid;

	snprintf(addr, sizeof(addr), "--address=%s", c->bus.address);
	pid = testbus_spawn(argv, line, sizeof(line));
	assert_string_equal(line, "ready");
	return pid;
}

static void control(Ctx *c, const char *method, const char *sig, ...)
{
	sd_bus_error error = SD_BUS_ERROR_NULL;
	sd_bus_message *m = NULL, *reply = NULL;
	va_list ap;

	assert_true(sd_bus_message_new_method_call(c->bus.bus, &m, "org.freedesktop.machine1",
						   "/org/freedesktop/machine1",
						   "org.smmud.test.FakeMachined", method) >= 0);
	va_start(ap, sig);
	assert_true(sd_bus_message_appendv(m, sig, ap) >= 0);
	va_end(ap);
	assert_true(sd_bus_call(c->bus.bus, m, 0, &error, &reply) >= 0);
	sd_bus_message_unref(m);
	sd_bus_message_unref(reply);
	sd_bus_error_free(&error);
	/* Signals it sent before its reply are queued for us now. */
	while (sd_event_run(c->bus.event, 0) > 0)
		;
}

static int setup(void **state)
{
	Ctx *c = calloc(1, sizeof(*c));

	assert_non_null(c);
	testbus_start(&c->bus);
	c->helper = testbus_helper("fake-machined");
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	Ctx *c = *state;

	machinewatch_free(c->watch);
	testbus_stop(c->machined);
	testbus_finish(&c->bus);
	free(c->helper);
	free(c);
	return 0;
}

typedef struct Want {
	Ctx *c;
	pid_t pid;
	const char *name; /* NULL: no name */
} Want;

static bool name_is(void *arg)
{
	Want *w = arg;

	return streq_ptr(machinewatch_name_for_pid(w->c->watch, w->pid), w->name);
}

static void wait_name(Ctx *c, pid_t pid, const char *name)
{
	Want w = { c, pid, name };

	assert_true(testbus_run_until(&c->bus, name_is, &w));
}

static bool is_empty_and_absent(void *arg)
{
	Ctx *c = arg;

	return machinewatch_count(c->watch) == 0 && !machinewatch_present(c->watch);
}

static void test_lifecycle(void **state)
{
	Ctx *c = *state;
	unsigned before;

	/* No machined yet: nothing known, nothing started. */
	assert_int_equal(machinewatch_new(c->bus.bus, c->bus.event, on_changed, c, &c->watch), 0);
	testbus_settle(&c->bus);
	assert_false(machinewatch_present(c->watch));
	assert_int_equal(machinewatch_count(c->watch), 0);
	assert_null(machinewatch_name_for_pid(c->watch, 1111));

	/* It appears with two machines: NameOwnerChanged, ListMachines, Leader. */
	c->machined = start_machined(c, "--machine=vm1=1111", "--machine=vm2=2222");
	wait_name(c, 1111, "vm1");
	wait_name(c, 2222, "vm2");
	assert_true(machinewatch_present(c->watch));
	assert_int_equal(machinewatch_count(c->watch), 2);
	assert_true(c->changed >= 1);

	/* Signals. */
	control(c, "Register", "su", "vm3", 3333);
	wait_name(c, 3333, "vm3");
	before = c->changed;
	control(c, "Unregister", "s", "vm1");
	assert_null(machinewatch_name_for_pid(c->watch, 1111));
	assert_int_equal(machinewatch_count(c->watch), 2);
	assert_true(c->changed > before);

	/* Bad input from the bus changes nothing. */
	control(c, "Register", "su", "bad\nname", 4040);
	testbus_settle(&c->bus);
	assert_null(machinewatch_name_for_pid(c->watch, 4040));
	assert_int_equal(machinewatch_count(c->watch), 2);
	control(c, "Unregister", "s", "bad\nname");

	/* Missed signals: only reconciliation notices. */
	control(c, "RegisterSilently", "su", "vm4", 4444);
	control(c, "UnregisterSilently", "s", "vm2");
	testbus_settle(&c->bus);
	assert_null(machinewatch_name_for_pid(c->watch, 4444));
	assert_string_equal(machinewatch_name_for_pid(c->watch, 2222), "vm2");
	assert_int_equal(machinewatch_set_reconcile_interval(c->watch, 50 * 1000), 0);
	wait_name(c, 4444, "vm4");
	wait_name(c, 2222, NULL);
	assert_int_equal(machinewatch_count(c->watch), 2);
	assert_int_equal(machinewatch_set_reconcile_interval(c->watch, 0), 0);

	/* Off by default and off again: only an explicit reconcile asks. */
	control(c, "RegisterSilently", "su", "vm7", 7777);
	testbus_settle(&c->bus);
	assert_null(machinewatch_name_for_pid(c->watch, 7777));
	assert_int_equal(machinewatch_reconcile(c->watch), 0);
	wait_name(c, 7777, "vm7");
	assert_int_equal(machinewatch_count(c->watch), 3);
	control(c, "Unregister", "s", "vm7");
	wait_name(c, 7777, NULL);

	/* It goes away: its names go with it. */
	testbus_stop(c->machined);
	c->machined = 0;
	assert_true(testbus_run_until(&c->bus, is_empty_and_absent, c));
	assert_null(machinewatch_name_for_pid(c->watch, 3333));

	/* And comes back with other machines. */
	c->machined = start_machined(c, "--machine=vm5=5555", "--machine=vm6=6666");
	wait_name(c, 5555, "vm5");
	wait_name(c, 6666, "vm6");
	assert_int_equal(machinewatch_count(c->watch), 2);
}

static bool unit_known(void *arg)
{
	Ctx *c = arg;

	return machinewatch_leader_for_unit(c->watch, "machine-b.scope") == 200;
}

static void test_present_at_start(void **state)
{
	Ctx *c = *state;
	pid_t leaders[4] = {};

	c->machined = start_machined(c, "--machine=a=100", "--machine=b=200");
	assert_int_equal(machinewatch_new(c->bus.bus, c->bus.event, on_changed, c, &c->watch), 0);
	wait_name(c, 100, "a");
	wait_name(c, 200, "b");
	assert_null(machinewatch_name_for_pid(c->watch, 300));
	assert_null(machinewatch_name_for_pid(c->watch, 0));
	assert_null(machinewatch_name_for_pid(c->watch, -1));

	/* Each machine's unit: a job for it stops that machine's leader. */
	assert_true(testbus_run_until(&c->bus, unit_known, c));
	assert_int_equal(machinewatch_leader_for_unit(c->watch, "machine-a.scope"), 100);
	assert_int_equal(machinewatch_leader_for_unit(c->watch, "machine-c.scope"), 0);
	/* The unit of a leader, and its arrival told (a VM found earlier takes it then). */
	assert_string_equal(machinewatch_unit_for_pid(c->watch, 200), "machine-b.scope");
	assert_null(machinewatch_unit_for_pid(c->watch, 300));
	assert_null(machinewatch_unit_for_pid(NULL, 200));
	assert_true(c->told_unit);
	assert_int_equal(machinewatch_leader_for_unit(c->watch, NULL), 0);
	assert_int_equal(machinewatch_leader_for_unit(NULL, "machine-a.scope"), 0);
	assert_int_equal(machinewatch_leaders(c->watch, leaders, 1), 2);
	assert_int_equal(machinewatch_leaders(c->watch, leaders, 4), 2);
	assert_true((leaders[0] == 100 && leaders[1] == 200) || (leaders[0] == 200 && leaders[1] == 100));
}

static void test_names(void **state)
{
	char long_name[300];

	memset(long_name, 'x', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = 0;
	assert_true(machine_name_is_valid("qemu-1-vm1"));
	assert_true(machine_name_is_valid("vm with spaces and ünïcode"));
	assert_false(machine_name_is_valid(""));
	assert_false(machine_name_is_valid(NULL));
	assert_false(machine_name_is_valid("a\nb"));
	assert_false(machine_name_is_valid("a\x7f"));
	assert_false(machine_name_is_valid(long_name));
	long_name[255] = 0;
	assert_true(machine_name_is_valid(long_name));
	assert_null(machinewatch_free(NULL));
	assert_int_equal(machinewatch_count(NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test_setup_teardown(test_lifecycle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_present_at_start, setup, teardown),
	};

	return cmocka_run_group_tests_name("machines", tests, NULL, NULL);
}
