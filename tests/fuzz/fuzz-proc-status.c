// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * /proc/PID/status text -> pinned DMA memory (VmLck + VmPin), as
 * vm_scan_pid() reads it for every process holding VFIO files.
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
	uint64_t bytes = UINT64_MAX;
	int r;

	r = vm_parse_status_pinned(text, &bytes);
	FUZZ_CHECK(r == 0 || r == -EBADMSG || r == -ERANGE);
	if (r == 0) {
		/* No VmLck/VmPin line: nothing pinned. */
		if (!strstr(text, "VmLck:") && !strstr(text, "VmPin:"))
			FUZZ_CHECK(bytes == 0);
	}
	return 0;
}
