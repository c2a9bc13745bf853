// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * /proc/PID/stat text -> comm and starttime (field 22), as vm_scan_pid()
 * reads them; comm is chosen by the process itself (prctl(PR_SET_NAME)),
 * so anything may be inside the parentheses.
 */
#include "fuzz.h"
#include "vmscan.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_quiet_logs();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	_cleanup_free_ char *text = fuzz_strndup(data, size);
	_cleanup_free_ char *comm = NULL;
	uint64_t start = 0, start2 = 0;
	int r, r2;

	r = vm_parse_stat(text, &comm, &start);
	FUZZ_CHECK(r == 0 || r == -EBADMSG);
	if (r < 0) {
		FUZZ_CHECK(!comm);
		return 0;
	}
	FUZZ_CHECK(comm);
	/* comm is what sits between the first '(' and the last ')'. */
	FUZZ_CHECK(strlen(comm) < strlen(text));
	FUZZ_CHECK(strstr(text, comm));
	/* Not wanting comm changes nothing else. */
	r2 = vm_parse_stat(text, NULL, &start2);
	FUZZ_CHECK(r2 == 0 && start2 == start);
	return 0;
}
