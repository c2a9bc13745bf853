// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fake-vmm: a process that looks like a VMM to smmud.  It opens the given
 * (fake) VFIO files and keeps them open, mlocks memory so /proc/PID/status
 * shows it as VmLck (as VFIO type1 accounts pinned pages), optionally runs
 * extra threads, tells its parent it is ready, and exits on a signal or
 * after a duration.
 *
 *   fake-vmm [--open PATH]... [--mlock BYTES] [--threads N]
 *            [--duration SECONDS] [--ready-fd FD] [--exit-code N]
 *            [--close-on-usr2] [--open-on-usr2 PATH]...
 *
 * Ready: one line "ready <pid>\n" on stdout (or on --ready-fd), written
 * after every file is open and the memory locked, so a test waits on a
 * pipe, never on a sleep.  SIGTERM, SIGINT or SIGUSR1 end it: exit() from
 * the main thread, so a multi-threaded fake dies as a whole thread group
 * (what taskstats reports as AGGR_TGID).
 *
 * --close-on-usr2: SIGUSR2 closes every --open file and it runs on (a
 * VMM's graceful shutdown: its VFIO files go before the process), and
 * says "closed <pid>\n" where it said ready.
 *
 * --open-on-usr2 PATH: SIGUSR2 opens PATH (and keeps it open) and it runs
 * on: a process smmud has known for long that becomes a VFIO user (a VM
 * whose first device is hot-plugged); it says "opened <pid>\n".  With
 * --close-on-usr2 too, the first SIGUSR2 closes and the second opens (a
 * device unplugged, then plugged back).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define MAX_OPEN 64

static void *thread_main(void *arg)
{
	/* Threads only exist; the main thread decides when the group dies. */
	for (;;)
		pause();
	return NULL;
}

static int parse_ulong(const char *s, unsigned long *ret)
{
	char *end;

	errno = 0;
	*ret = strtoul(s, &end, 10);
	return errno || end == s || *end || *s == '-' ? -EINVAL : 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: fake-vmm [--open PATH]... [--mlock BYTES] [--threads N] "
			"[--duration SECONDS] [--ready-fd FD] [--exit-code N] [--close-on-usr2]\n"
			"                [--open-on-usr2 PATH]...\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "open", required_argument, NULL, 'o' },
		{ "mlock", required_argument, NULL, 'm' },
		{ "threads", required_argument, NULL, 't' },
		{ "duration", required_argument, NULL, 'd' },
		{ "ready-fd", required_argument, NULL, 'r' },
		{ "exit-code", required_argument, NULL, 'e' },
		{ "close-on-usr2", no_argument, NULL, 'c' },
		{ "open-on-usr2", required_argument, NULL, 'O' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	unsigned long lock_bytes = 0, threads = 0, duration = 0, ready_fd = 1, exit_code = 0;
	int open_fds[MAX_OPEN], n_open = 0;
	const char *late[MAX_OPEN];
	int n_late = 0;
	bool close_on_usr2 = false;
	struct timespec timeout;
	sigset_t mask;
	int c, sig;

	/* Block first: a signal sent as soon as we are ready must not be lost. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGUSR1);
	sigprocmask(SIG_BLOCK, &mask, NULL);

	while ((c = getopt_long(argc, argv, "o:O:m:t:d:r:e:ch", opts, NULL)) >= 0) {
		unsigned long v;

		switch (c) {
		case 'o': {
			/* Kept open until exit (or SIGUSR2): that is what makes us a "VM". */
			int fd = open(optarg, O_RDWR | O_CLOEXEC);

			if (fd < 0)
				fd = open(optarg, O_RDONLY | O_CLOEXEC);
			if (fd < 0) {
				fprintf(stderr, "fake-vmm: cannot open %s: %m\n", optarg);
				return 2;
			}
			if (n_open == MAX_OPEN) {
				fprintf(stderr, "fake-vmm: more than %d files\n", MAX_OPEN);
				return 2;
			}
			open_fds[n_open++] = fd;
			break;
		}
		case 'c':
			close_on_usr2 = true;
			break;
		case 'O':
			if (n_late == MAX_OPEN) {
				fprintf(stderr, "fake-vmm: more than %d files\n", MAX_OPEN);
				return 2;
			}
			late[n_late++] = optarg;
			break;
		case 'm':
		case 't':
		case 'd':
		case 'r':
		case 'e':
			if (parse_ulong(optarg, &v) < 0) {
				fprintf(stderr, "fake-vmm: bad number: %s\n", optarg);
				return 2;
			}
			if (c == 'm')
				lock_bytes = v;
			else if (c == 't')
				threads = v;
			else if (c == 'd')
				duration = v;
			else if (c == 'r')
				ready_fd = v;
			else
				exit_code = v & 0xff;
			break;
		case 'h':
			usage();
			return 0;
		default:
			usage();
			return 2;
		}
	}
	if (optind < argc) {
		usage();
		return 2;
	}

	if (lock_bytes > 0) {
		void *p = mmap(NULL, lock_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		/* The raw syscall: ASan's mlock() interceptor does nothing. */
		if (p == MAP_FAILED || syscall(SYS_mlock, p, lock_bytes) < 0) {
			fprintf(stderr, "fake-vmm: cannot lock %lu bytes: %m\n", lock_bytes);
			return 2;
		}
	}

	for (unsigned long i = 0; i < threads; i++) {
		pthread_t t;
		int r = pthread_create(&t, NULL, thread_main, NULL);

		if (r != 0) {
			fprintf(stderr, "fake-vmm: cannot start thread: %s\n", strerror(r));
			return 2;
		}
	}

	/* Without the option SIGUSR2 kills, as before. */
	if (close_on_usr2 || n_late > 0) {
		sigaddset(&mask, SIGUSR2);
		sigprocmask(SIG_BLOCK, &mask, NULL);
	}

	dprintf((int)ready_fd, "ready %d\n", (int)getpid());
	/* Kept for "closed": a reader waiting for EOF wants the option off. */
	if (ready_fd != 1 && !close_on_usr2 && n_late == 0)
		close((int)ready_fd);

	/* The duration counts from ready, whatever SIGUSR2 does meanwhile. */
	clock_gettime(CLOCK_MONOTONIC, &timeout);
	timeout.tv_sec += (time_t)duration;
	for (;;) {
		struct timespec now, left = {};

		if (duration) {
			clock_gettime(CLOCK_MONOTONIC, &now);
			left.tv_sec = timeout.tv_sec - now.tv_sec;
			left.tv_nsec = timeout.tv_nsec - now.tv_nsec;
			if (left.tv_nsec < 0) {
				left.tv_sec--;
				left.tv_nsec += 1000000000L;
			}
			if (left.tv_sec < 0)
				break;
		}
		sig = sigtimedwait(&mask, NULL, duration ? &left : NULL);
		if (sig < 0 && errno == EINTR)
			continue;
		if (sig != SIGUSR2)
			break;
		if (n_late > 0 && !(close_on_usr2 && n_open > 0)) {
			for (int i = 0; i < n_late && n_open < MAX_OPEN; i++) {
				int fd = open(late[i], O_RDONLY | O_CLOEXEC);

				if (fd >= 0)
					open_fds[n_open++] = fd;
			}
			n_late = 0;
			dprintf((int)ready_fd, "opened %d\n", (int)getpid());
			continue;
		}
		for (int i = 0; i < n_open; i++)
			close(open_fds[i]);
		n_open = 0;
		dprintf((int)ready_fd, "closed %d\n", (int)getpid());
	}
	exit((int)exit_code);
}
