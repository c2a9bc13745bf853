// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * exit-storm: make the host's process exit rate high, for smmud's
 * benchmark (tests/scenario/daemon-bench).  Forks children that exit at
 * once, as fast as it can, for SECONDS, and prints how many exited and
 * the rate: "exits=N seconds=S rate=R".  Each exit is a taskstats and a
 * proc connector event smmud must read without losing count.
 *
 *   exit-storm SECONDS
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 1.0, t0 = now(), t;
	unsigned long n = 0;

	if (secs <= 0) {
		fprintf(stderr, "usage: exit-storm SECONDS\n");
		return 2;
	}
	do {
		pid_t pid = vfork();

		if (pid == 0)
			_exit(0);
		if (pid < 0) {
			perror("vfork");
			return 1;
		}
		if (waitpid(pid, NULL, 0) == pid)
			n++;
		t = now() - t0;
	} while (t < secs);
	printf("exits=%lu seconds=%.3f rate=%.0f\n", n, t, (double)n / t);
	return 0;
}
