// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * churn: randomized VM churn for the soak test.  Forks fake VMs, each a
 * child that opens one of the given (fake) VFIO group files that no live
 * VM holds (the kernel lets one process at a time open a group), mlocks some
 * memory (raw syscall: ASan's mlock() interceptor does nothing), lives a
 * random time and exits; keeps at most --max-live alive; after --seconds
 * it stops starting new ones and reaps the rest.  Its own tally, the
 * ground truth the test compares smmud's count with, is the last line:
 *
 *   churn: started N exited N failed N
 *
 * Nothing tells smmud of a VM: it must find each by the open of its group
 * (as no machined, no rescan timer).
 *
 *   churn --seconds S --max-live N --min-ms A --max-ms B [--seed X] GROUPFILE...
 *
 * --max-live is at most the number of group files.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void vm(const char *group, long life_ms)
{
	size_t len = 64 * 1024;
	void *p;
	int fd = open(group, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		_exit(2);
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED || syscall(SYS_mlock, p, len) < 0)
		_exit(3);
	sleep_ms(life_ms);
	_exit(0);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "seconds", required_argument, NULL, 's' },
		{ "max-live", required_argument, NULL, 'n' },
		{ "min-ms", required_argument, NULL, 'a' },
		{ "max-ms", required_argument, NULL, 'b' },
		{ "seed", required_argument, NULL, 'r' },
		{}
	};
	double seconds = 10, end;
	long max_live = 10, min_ms = 50, max_ms = 500, live = 0;
	unsigned long started = 0, exited = 0, failed = 0;
	unsigned seed = 1;
	pid_t *holder; /* per group file: the live VM holding it, 0: none */
	int c, n_groups;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0)
		switch (c) {
		case 's': seconds = atof(optarg); break;
		case 'n': max_live = atol(optarg); break;
		case 'a': min_ms = atol(optarg); break;
		case 'b': max_ms = atol(optarg); break;
		case 'r': seed = (unsigned)atol(optarg); break;
		default: return 2;
		}
	n_groups = argc - optind;
	if (n_groups < 1 || max_live < 1 || max_live > n_groups || min_ms < 0 || max_ms < min_ms) {
		fprintf(stderr, "usage: churn --seconds S --max-live N --min-ms A --max-ms B "
				"[--seed X] GROUPFILE... (N at most the number of group files)\n");
		return 2;
	}
	holder = calloc(n_groups, sizeof(pid_t));
	if (!holder)
		return 1;
	srand(seed);
	end = now() + seconds;
	for (;;) {
		bool ending = now() >= end;
		bool block = live > 0 && (ending || live >= max_live);
		int st;
		pid_t p;

		if (ending && live == 0)
			break;
		p = waitpid(-1, &st, block ? 0 : WNOHANG);
		if (p > 0) {
			for (int i = 0; i < n_groups; i++)
				if (holder[i] == p)
					holder[i] = 0;
			live--;
			if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
				exited++;
			else
				failed++;
			continue;
		}
		if (!ending && live < max_live) {
			int g = rand() % n_groups;
			long life = min_ms + rand() % (max_ms - min_ms + 1);

			/* live < max_live <= n_groups: a free one exists. */
			while (holder[g])
				g = (g + 1) % n_groups;

			p = fork();
			if (p < 0) {
				sleep_ms(10);
				continue;
			}
			if (p == 0)
				vm(argv[optind + g], life);
			holder[g] = p;
			live++;
			started++;
		}
	}
	free(holder);
	printf("churn: started %lu exited %lu failed %lu\n", started, exited, failed);
	return failed ? 1 : 0;
}
