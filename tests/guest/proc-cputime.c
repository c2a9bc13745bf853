// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * proc-cputime PID...: the CPU time each process has used, in nanoseconds,
 * one "PID NS" line each (a process gone: "PID -").
 *
 * What the scenario charges smmud with over a window.  /proc/PID/stat
 * gives the same runtime cut to 10 ms clock ticks, a sixth of the 1%
 * target over a 1.5 s window on two vCPUs; the process's CPU-time clock
 * is the scheduler's runtime to the nanosecond, readable for any process
 * (clock_getcpuclockid(3)), and the test kernel needs no SCHEDSTATS for it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int main(int argc, char **argv)
{
	int ret = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s PID...\n", argv[0]);
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		char *end;
		long pid = strtol(argv[i], &end, 10);
		clockid_t clock;
		struct timespec ts;
		int r;

		if (*end || end == argv[i] || pid <= 0) {
			fprintf(stderr, "%s: not a pid: '%s'\n", argv[0], argv[i]);
			return 2;
		}
		r = clock_getcpuclockid((pid_t)pid, &clock);
		if (r == 0 && clock_gettime(clock, &ts) < 0)
			r = errno;
		if (r != 0) {
			printf("%ld -\n", pid);
			if (r != ESRCH)
				fprintf(stderr, "%s: %ld: %s\n", argv[0], pid, strerror(r));
			ret = 1;
			continue;
		}
		printf("%ld %" PRIu64 "\n", pid,
		       (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec);
	}
	return ret;
}
