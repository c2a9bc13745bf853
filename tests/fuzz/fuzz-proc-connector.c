// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * One proc connector message (NETLINK_CONNECTOR): nlmsghdr, cn_msg,
 * proc_event, as exitwatch receives it.  The message is copied into a
 * buffer of exactly its size, so any read past the end is an
 * AddressSanitizer report.
 */
#include <linux/cn_proc.h>

#include "exitwatch.h"
#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_quiet_logs();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ProcConnectorEvent ev;
	uint32_t *buf = malloc(size ? size : 1);
	int r;

	if (!buf)
		abort();
	memcpy(buf, data, size);
	r = proc_connector_parse(buf, size, &ev);
	if (getenv("SMMUD_FUZZ_LOG"))
		fprintf(stderr, "proc_connector_parse: %d, what %#x pid %d tgid %d\n", r,
			r == 0 ? ev.what : 0, r == 0 ? ev.pid : 0, r == 0 ? ev.tgid : 0);
	FUZZ_CHECK(r == 0 || r == -EBADMSG);
	if (r == 0) {
		if (ev.what == PROC_EVENT_EXIT)
			FUZZ_CHECK(ev.pid > 0 && ev.tgid > 0);
		else
			FUZZ_CHECK(ev.pid == 0 && ev.tgid == 0);
		if (proc_connector_event_is_group_exit(&ev))
			FUZZ_CHECK(ev.what == PROC_EVENT_EXIT && ev.pid == ev.tgid);
	}
	free(buf);
	return 0;
}
