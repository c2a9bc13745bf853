/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * A private dbus-daemon and the fake services of tests/helpers for the
 * unit tests of the D-Bus observers.  Readiness is always a line on a
 * pipe (the daemon's address, the helper's "ready"), never a sleep; waits
 * for asynchronous results are bounded loop runs, never timing assertions.
 * Include after <cmocka.h>.
 */
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

typedef struct TestBus {
	char dir[64];
	char address[512];
	pid_t daemon;
	sd_event *event;
	sd_bus *bus;
} TestBus;

/* Reads one line from fd (the child's readiness), without its newline. */
static inline void testbus_read_line(int fd, char *buf, size_t size)
{
	size_t n = 0;

	while (n + 1 < size) {
		ssize_t k = read(fd, buf + n, 1);

		assert_true(k == 1);
		if (buf[n] == '\n')
			break;
		n++;
	}
	buf[n] = 0;
}

/* Starts argv[0] with its readiness on a pipe; returns its pid once ready. */
static inline pid_t testbus_spawn(char *const argv[], char *line, size_t size)
{
	int p[2];
	pid_t pid;

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		/* The child's stdout is the pipe: "ready" or the address goes there. */
		if (dup2(p[1], 1) < 0)
			_exit(127);
		execv(argv[0], argv);
		_exit(127);
	}
	close(p[1]);
	testbus_read_line(p[0], line, size);
	close(p[0]);
	return pid;
}

static inline void testbus_stop(pid_t pid)
{
	int status;

	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	assert_int_equal(waitpid(pid, &status, 0), pid);
}

/* The path of a helper binary next to this test's variant directory. */
static inline char *testbus_helper(const char *name)
{
	char exe[4096], *p;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	assert_true(n > 0);
	exe[n] = 0;
	/* build/<variant>/tests/unit/test-x -> build/<variant>/tests/helpers/<name> */
	p = dirname(dirname(exe));
	assert_true(asprintf(&p, "%s/helpers/%s", p, name) > 0);
	assert_int_equal(access(p, X_OK), 0);
	return p;
}

static inline void testbus_start(TestBus *t)
{
	char conf[128], listen[128];
	FILE *f;
	char *argv[] = { (char *)"/usr/bin/dbus-daemon", NULL, (char *)"--nofork",
			 (char *)"--print-address=1", NULL };
	char confarg[160];

	memset(t, 0, sizeof(*t));
	strcpy(t->dir, "/tmp/smmud-testbus-XXXXXX");
	assert_non_null(mkdtemp(t->dir));
	snprintf(conf, sizeof(conf), "%s/bus.conf", t->dir);
	snprintf(listen, sizeof(listen), "unix:path=%s/socket", t->dir);
	f = fopen(conf, "we");
	assert_non_null(f);
	fprintf(f,
		"<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\"\n"
		" \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
		"<busconfig>\n"
		"  <type>session</type>\n"
		"  <listen>%s</listen>\n"
		"  <auth>EXTERNAL</auth>\n"
		"  <policy context=\"default\">\n"
		"    <allow send_destination=\"*\" eavesdrop=\"true\"/>\n"
		"    <allow eavesdrop=\"true\"/>\n"
		"    <allow own=\"*\"/>\n"
		"  </policy>\n"
		"</busconfig>\n",
		listen);
	assert_int_equal(fclose(f), 0);
	snprintf(confarg, sizeof(confarg), "--config-file=%s", conf);
	argv[1] = confarg;
	t->daemon = testbus_spawn(argv, t->address, sizeof(t->address));
	assert_true(strlen(t->address) > 0);

	assert_true(sd_event_new(&t->event) >= 0);
	assert_true(sd_bus_new(&t->bus) >= 0);
	assert_true(sd_bus_set_address(t->bus, t->address) >= 0);
	assert_true(sd_bus_set_bus_client(t->bus, 1) >= 0);
	assert_true(sd_bus_start(t->bus) >= 0);
	assert_true(sd_bus_attach_event(t->bus, t->event, 0) >= 0);
}

static inline void testbus_finish(TestBus *t)
{
	char cmd[128];

	sd_bus_flush_close_unref(t->bus);
	sd_event_unref(t->event);
	testbus_stop(t->daemon);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t->dir);
	assert_int_equal(system(cmd), 0);
}

/*
 * Runs the loop until pred() holds, at most about 30 s: a bounded wait for
 * an asynchronous answer, not an assertion about how long it takes.
 */
static inline bool testbus_run_until(TestBus *t, bool (*pred)(void *), void *arg)
{
	for (int i = 0; i < 300; i++) {
		if (pred(arg))
			return true;
		assert_true(sd_event_run(t->event, 100 * 1000) >= 0);
	}
	return pred(arg);
}

/*
 * Lets everything already said on the bus arrive: a round trip to the bus
 * daemon, which answers after it has routed what came before.
 */
static inline void testbus_settle(TestBus *t)
{
	for (int round = 0; round < 4; round++) {
		sd_bus_message *reply = NULL;

		assert_true(sd_bus_call_method(t->bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
					       "org.freedesktop.DBus", "GetId", NULL, &reply, "") >= 0);
		sd_bus_message_unref(reply);
		while (sd_event_run(t->event, 0) > 0)
			;
	}
}
