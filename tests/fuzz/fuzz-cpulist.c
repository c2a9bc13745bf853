// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * CPU and node lists from sysfs (/sys/devices/system/cpu/possible and
 * online, node/online): taskstats_parse_cpulist() builds the cpumask
 * exitwatch registers with, parse_cpu_list_count() counts CPUs and nodes
 * for the topology.
 */
#include "exitwatch.h"
#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_quiet_logs();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	_cleanup_free_ char *text = fuzz_strndup(data, size);
	_cleanup_free_ char *list = NULL;
	unsigned count = 0, count2 = 0;
	int r, rc;

	r = taskstats_parse_cpulist(text, &list);
	FUZZ_CHECK(r == 0 || r == -EINVAL);
	rc = parse_cpu_list_count(text, &count);
	FUZZ_CHECK(rc == 0 || rc == -EINVAL || rc == -ERANGE);
	if (r == 0) {
		size_t n = strlen(text);

		/* The list without its newline, and nothing else changed. */
		FUZZ_CHECK(list && !strchr(list, '\n'));
		FUZZ_CHECK(strncmp(list, text, strlen(list)) == 0);
		FUZZ_CHECK(strlen(list) == n || (strlen(list) == n - 1 && text[n - 1] == '\n'));
		/* A list taskstats accepts is a non-empty list the counter accepts too. */
		FUZZ_CHECK(rc == 0 && count > 0);
		/* Its own output is accepted again, unchanged. */
		{
			_cleanup_free_ char *again = NULL;

			FUZZ_CHECK(taskstats_parse_cpulist(list, &again) == 0);
			FUZZ_CHECK(streq(again, list));
		}
		FUZZ_CHECK(parse_cpu_list_count(list, &count2) == 0 && count2 == count);
	}
	return 0;
}
