// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * exit-many: process exits on the host, as many as asked, as fast as one
 * process makes them: forks a child that exits at once, reaps it, N
 * times.  Each exit is a taskstats and a proc connector event for every
 * listener; none of them is a VM.  Prints "exits=N" when done.
 *
 *   exit-many N
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	unsigned long done = 0;
	unsigned long n;
	char *end;

	if (argc != 2 || (n = strtoul(argv[1], &end, 10), *end) || n == 0) {
		fprintf(stderr, "usage: exit-many N\n");
		return 2;
	}
	for (unsigned long i = 0; i < n; i++) {
		pid_t pid = fork();

		if (pid == 0)
			_exit(0);
		if (pid < 0) {
			perror("exit-many: fork");
			return 1;
		}
		if (waitpid(pid, NULL, 0) == pid)
			done++;
	}
	printf("exits=%lu\n", done);
	return done == n ? 0 : 1;
}
