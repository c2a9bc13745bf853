// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The observers that feed the VM model: the pidfd of each VM (an exit, the
 * pid and start time it was added with, and nothing once removed) and the
 * inotify watch on the VFIO nodes (an open, a group's close, the
 * container's close not reported, a node created after the start, events
 * held off and read later, in order).  Real
 * processes, real files in a temporary root; every wait is a bounded run
 * of the event loop, no timing assertion.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "pidwatch.h"
#include "util.h"
#include "vfiowatch.h"

typedef struct Seen {
	pid_t exited_pid;
	uint64_t exited_starttime;
	unsigned n_exited;
	unsigned n_opened;
	uint32_t closed[8];
	uint64_t closed_queued_after[8];
	unsigned n_closed;
	unsigned n_lost;
	const VfioWatch *vfiowatch;
} Seen;

static void run_until(sd_event *e, const unsigned *counter, unsigned want)
{
	for (int i = 0; i < 100 && *counter < want; i++)
		assert_true(sd_event_run(e, 100 * 1000) >= 0);
	while (sd_event_run(e, 0) > 0)
		;
}

static void on_exited(pid_t pid, uint64_t starttime, void *userdata)
{
	Seen *s = userdata;

	s->exited_pid = pid;
	s->exited_starttime = starttime;
	s->n_exited++;
}

static pid_t spawn_sleeper(void)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		pause();
		_exit(0);
	}
	return pid;
}

static void test_pidwatch(void **state)
{
	_cleanup_(pidwatch_freep) PidWatch *w = NULL;
	sd_event *e = NULL;
	Seen s = {};
	pid_t a = spawn_sleeper(), b = spawn_sleeper();

	assert_int_equal(sd_event_new(&e), 0);
	assert_int_equal(pidwatch_new(e, on_exited, &s, &w), 0);
	assert_int_equal(pidwatch_add(w, a, 11), 0);
	assert_int_equal(pidwatch_add(w, b, 22), 0);
	assert_int_equal(pidwatch_count(w), 2);

	/* Removed: its exit is no event any more. */
	pidwatch_remove(w, b);
	assert_int_equal(kill(b, SIGKILL), 0);
	assert_int_equal(waitpid(b, NULL, 0), b);

	assert_int_equal(kill(a, SIGKILL), 0);
	run_until(e, &s.n_exited, 1);
	assert_int_equal(s.n_exited, 1);
	assert_int_equal(s.exited_pid, a);
	assert_int_equal(s.exited_starttime, 11);
	/* Once: it is not watched after its exit. */
	assert_int_equal(pidwatch_count(w), 0);
	assert_int_equal(waitpid(a, NULL, 0), a);

	/* Gone before it could be watched. */
	assert_int_equal(pidwatch_add(w, b, 22), -ESRCH);
	assert_int_equal(pidwatch_count(w), 0);
	w = pidwatch_free(w);
	sd_event_unref(e);
}

static void on_opened(void *userdata)
{
	((Seen *)userdata)->n_opened++;
}

static void on_closed(uint32_t group, void *userdata)
{
	Seen *s = userdata;

	assert_true(s->n_closed < ELEMENTSOF(s->closed));
	s->closed_queued_after[s->n_closed] = s->vfiowatch ? vfiowatch_queued_after(s->vfiowatch) : 0;
	s->closed[s->n_closed++] = group;
}

static void on_closed_counted(uint32_t group, void *userdata)
{
	((Seen *)userdata)->n_closed++;
}

static void on_lost(void *userdata)
{
	((Seen *)userdata)->n_lost++;
}

static void touch(const char *root, const char *rel)
{
	_cleanup_free_ char *p = path_join(root, rel);
	int fd = open(p, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(close(fd), 0);
}

static void open_close(const char *root, const char *rel)
{
	_cleanup_free_ char *p = path_join(root, rel);
	int fd = open(p, O_RDONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(close(fd), 0);
}

static void test_vfiowatch(void **state)
{
	static const VfioWatchCallbacks cb = { .opened = on_opened, .closed = on_closed };
	_cleanup_(vfiowatch_freep) VfioWatch *w = NULL;
	char root[] = "/tmp/smmud-test-watches-XXXXXX";
	_cleanup_free_ char *vfio = NULL, *devices = NULL, *cmd = NULL;
	sd_event *e = NULL;
	Seen s = {};

	assert_non_null(mkdtemp(root));
	vfio = path_join(root, "dev/vfio");
	devices = path_join(root, "dev/vfio/devices");
	assert_true(asprintf(&cmd, "mkdir -p %s", vfio) > 0);
	assert_int_equal(system(cmd), 0);
	touch(root, "dev/vfio/12");
	touch(root, "dev/vfio/13");
	touch(root, "dev/vfio/vfio");
	touch(root, "dev/iommu");

	assert_int_equal(sd_event_new(&e), 0);
	assert_int_equal(vfiowatch_new(e, root, SD_EVENT_PRIORITY_IDLE, &cb, &s, &w), 0);
	assert_int_equal(vfiowatch_update(w), 0);
	s.vfiowatch = w;

	/*
	 * Each close comes with a time it was queued after: known (the queue
	 * was empty when the watch began), and from before the close.
	 */
	{
		uint64_t before_close = now_usec(CLOCK_MONOTONIC);

		open_close(root, "dev/vfio/12");
		run_until(e, &s.n_closed, 1);
		assert_int_equal(s.n_opened, 1);
		assert_int_equal(s.n_closed, 1);
		assert_int_equal(s.closed[0], 12);
		assert_true(s.closed_queued_after[0] > 0);
		assert_true(s.closed_queued_after[0] <= before_close);
		assert_int_equal(vfiowatch_queued_after(w), 0);

		/* Later: after the read that took the first close. */
		before_close = now_usec(CLOCK_MONOTONIC);
		open_close(root, "dev/vfio/13");
		run_until(e, &s.n_closed, 2);
		assert_true(s.closed_queued_after[1] > s.closed_queued_after[0]);
		assert_true(s.closed_queued_after[1] <= before_close);
		/* What follows counts from the first open and close. */
		s.n_closed = s.n_opened = 1;
	}

	/* The container alone makes no VM: an open (a VMM starting), no close. */
	open_close(root, "dev/vfio/vfio");
	run_until(e, &s.n_opened, 2);
	assert_int_equal(s.n_opened, 2);
	open_close(root, "dev/iommu");
	run_until(e, &s.n_closed, 2);
	assert_int_equal(s.n_closed, 2);
	assert_int_equal(s.closed[1], UINT32_MAX);

	/* What was opened and is still held: nothing, they were all closed. */
	{
		VfioOpened *o = NULL;
		size_t n = 99;
		bool overflow = true;
		_cleanup_free_ char *p12 = path_join(root, "dev/vfio/12");
		int fd;

		assert_int_equal(vfiowatch_take_opened(w, &o, &n, &overflow), 0);
		assert_int_equal(n, 0);
		assert_false(overflow);
		/* A holder: group 12 and the iommufd, until it closes them. */
		fd = open(p12, O_RDONLY | O_CLOEXEC);
		assert_true(fd >= 0);
		open_close(root, "dev/iommu");
		run_until(e, &s.n_opened, 5);
		assert_int_equal(vfiowatch_take_opened(w, &o, &n, &overflow), 0);
		assert_int_equal(n, 1);
		assert_int_equal(o[0].kind, VFIO_OPENED_GROUP);
		assert_int_equal(o[0].group, 12);
		vfio_opened_array_free(o, n);
		/* Taken: the record starts anew. */
		assert_int_equal(vfiowatch_take_opened(w, &o, &n, &overflow), 0);
		assert_int_equal(n, 0);
		close(fd);
		run_until(e, &s.n_closed, 4);
	}

	/* /dev/vfio/devices appears with the first cdev: watched from then on. */
	assert_int_equal(mkdir(devices, 0755), 0);
	touch(root, "dev/vfio/devices/vfio0");
	while (sd_event_run(e, 0) > 0)
		;
	s.n_closed = 0;
	open_close(root, "dev/vfio/devices/vfio0");
	run_until(e, &s.n_closed, 1);
	assert_int_equal(s.n_closed, 1);
	assert_int_equal(s.closed[0], UINT32_MAX);
	{
		_cleanup_free_ char *p0 = path_join(root, "dev/vfio/devices/vfio0");
		int fd = open(p0, O_RDONLY | O_CLOEXEC);
		VfioOpened *o = NULL;
		size_t n = 0;
		bool overflow;

		assert_true(fd >= 0);
		run_until(e, &s.n_opened, s.n_opened + 1);
		assert_int_equal(vfiowatch_take_opened(w, &o, &n, &overflow), 0);
		assert_int_equal(n, 1);
		assert_int_equal(o[0].kind, VFIO_OPENED_DEVICE);
		assert_string_equal(o[0].device, "vfio0");
		vfio_opened_array_free(o, n);
		close(fd);
		run_until(e, &s.n_closed, 2);
	}

	/*
	 * Held off: the events wait in the kernel's queue, none is read
	 * before not_before (the loop runs meanwhile), then all come, in
	 * order, with no other source to wake the loop.
	 */
	{
		uint64_t before = now_usec(CLOCK_MONOTONIC), hold = 200 * 1000;
		unsigned opened = s.n_opened;

		s.n_closed = 0;
		assert_int_equal(vfiowatch_hold_off(w, before + hold, before + 2 * hold), 0);
		/* Holding off already: not extended. */
		assert_int_equal(vfiowatch_hold_off(w, before + 100 * hold, before + 200 * hold), 0);
		open_close(root, "dev/vfio/12");
		open_close(root, "dev/iommu");
		open_close(root, "dev/vfio/13");
		while (sd_event_run(e, 0) > 0)
			;
		if (s.n_closed > 0)
			/* Only a stall of the test itself may have let the time pass. */
			assert_true(now_usec(CLOCK_MONOTONIC) >= before + hold);
		else {
			/*
			 * Past at_latest, the hold's end is the one source due:
			 * its turn of the loop reads what queued, all of it.
			 */
			while (now_usec(CLOCK_MONOTONIC) < before + 2 * hold + 10 * 1000)
				(void)usleep(10 * 1000);
			assert_true(sd_event_run(e, 0) > 0);
		}
		assert_int_equal(s.n_closed, 3);
		assert_int_equal(s.closed[0], 12);
		assert_int_equal(s.closed[1], UINT32_MAX);
		assert_int_equal(s.closed[2], 13);
		assert_int_equal(s.n_opened, opened + 3);
		/* Read as it happens again. */
		open_close(root, "dev/vfio/12");
		run_until(e, &s.n_closed, 4);
		assert_int_equal(s.closed[3], 12);
	}

	/*
	 * A process whose /dev is its own (libvirt's QEMU): its nodes are
	 * watched through proc/PID/root, until that /dev goes; one whose /dev
	 * is the host's adds no watch, and the host's stays.
	 */
	{
		_cleanup_free_ char *mk = NULL, *shared = NULL, *gone = NULL;

		assert_true(asprintf(&mk, "mkdir -p %s/proc/4242/root/dev/vfio %s/proc/4343", root,
				     root) > 0);
		assert_int_equal(system(mk), 0);
		touch(root, "proc/4242/root/dev/vfio/7");
		shared = path_join(root, "proc/4343/root");
		assert_int_equal(symlink(root, shared), 0);
		assert_int_equal(vfiowatch_watch_process(w, 4242), 1);
		assert_int_equal(vfiowatch_watch_process(w, 4242), 0);
		assert_int_equal(vfiowatch_watch_process(w, 4343), 0);
		assert_int_equal(vfiowatch_watch_process(w, 4444), 0); /* no such process */
		assert_int_equal(vfiowatch_watch_process(w, 0), -EINVAL);
		s.n_closed = 0;
		open_close(root, "proc/4242/root/dev/vfio/7");
		run_until(e, &s.n_closed, 1);
		assert_int_equal(s.closed[0], 7);
		open_close(root, "dev/vfio/12");
		run_until(e, &s.n_closed, 2);
		assert_int_equal(s.closed[1], 12);
		/* Its /dev gone: forgotten, so a new one of the same pid is watched. */
		assert_true(asprintf(&gone, "rm -rf %s/proc/4242/root/dev", root) > 0);
		assert_int_equal(system(gone), 0);
		while (sd_event_run(e, 0) > 0)
			;
		assert_int_equal(system(mk), 0);
		assert_int_equal(vfiowatch_watch_process(w, 4242), 1);
		touch(root, "proc/4242/root/dev/vfio/8");
		open_close(root, "proc/4242/root/dev/vfio/8");
		run_until(e, &s.n_closed, 3);
		assert_int_equal(s.closed[2], 8);
	}

	w = vfiowatch_free(w);
	sd_event_unref(e);
	free(cmd);
	assert_true(asprintf(&cmd, "rm -rf %s", root) > 0);
	assert_int_equal(system(cmd), 0);
}

/* More opens and closes than inotify queues: lost, told once, and the record says so. */
static void test_vfiowatch_lost(void **state)
{
	static const VfioWatchCallbacks cb = { .opened = on_opened, .closed = on_closed_counted,
					       .lost = on_lost };
	_cleanup_(vfiowatch_freep) VfioWatch *w = NULL;
	char root[] = "/tmp/smmud-test-watches-XXXXXX";
	_cleanup_free_ char *cmd = NULL, *max = NULL, *p12 = NULL;
	VfioOpened *o = NULL;
	size_t n = 0;
	bool overflow = false;
	uint32_t queued;
	sd_event *e = NULL;
	Seen s = {};

	assert_non_null(mkdtemp(root));
	assert_true(asprintf(&cmd, "mkdir -p %s/dev/vfio", root) > 0);
	assert_int_equal(system(cmd), 0);
	touch(root, "dev/vfio/12");
	assert_int_equal(read_one_line_file("/proc/sys/fs/inotify/max_queued_events", &max), 0);
	assert_int_equal(safe_atou32(max, &queued), 0);
	if (queued > 1024 * 1024)
		skip(); /* a host that queues this many: too many opens for a unit test */

	assert_int_equal(sd_event_new(&e), 0);
	assert_int_equal(vfiowatch_new(e, root, SD_EVENT_PRIORITY_IDLE, &cb, &s, &w), 0);
	assert_int_equal(vfiowatch_update(w), 0);
	s.vfiowatch = w;
	/* An open and a close each: they alternate, so none merges with the one before. */
	p12 = path_join(root, "dev/vfio/12");
	for (uint32_t i = 0; i <= queued / 2; i++) {
		int fd = open(p12, O_RDONLY | O_CLOEXEC);

		assert_true(fd >= 0);
		close(fd);
	}
	run_until(e, &s.n_lost, 1);
	assert_int_equal(s.n_lost, 1);
	assert_true(s.n_closed > 0);
	assert_int_equal(vfiowatch_take_opened(w, &o, &n, &overflow), 0);
	assert_true(overflow);
	vfio_opened_array_free(o, n);

	w = vfiowatch_free(w);
	sd_event_unref(e);
	free(cmd);
	assert_true(asprintf(&cmd, "rm -rf %s", root) > 0);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pidwatch),
		cmocka_unit_test(test_vfiowatch),
		cmocka_unit_test(test_vfiowatch_lost),
	};

	return cmocka_run_group_tests_name("watches", tests, NULL, NULL);
}
