// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * One proc connector message (NETLINK_CONNECTOR): nlmsghdr, cn_msg,
 * proc_event, as exitwatch receives it.  The message is copied into a
 * buffer of exactly its size, so any read past the end is an
 * AddressSanitizer report.  A message the parser reports as the death of
 * group T goes through the kernel filters of exitfilter.c too (cbpf.h
 * runs them): the filter of {T} and the filter of every group keep it.
 */
#include <linux/cn_proc.h>

#include "cbpf.h"
#include "exitfilter.h"
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
		if (proc_connector_event_is_group_exit(&ev)) {
			pid_t set[] = { ev.tgid - 1, ev.tgid };
			struct sock_filter *prog;
			size_t n;

			FUZZ_CHECK(ev.what == PROC_EVENT_EXIT && ev.pid == ev.tgid);
			FUZZ_CHECK(exit_filter_build(NULL, set, ELEMENTSOF(set), false, &prog, &n) == 0);
			FUZZ_CHECK(cbpf_run(prog, n, buf, size) == EXIT_FILTER_KEEP);
			free(prog);
			FUZZ_CHECK(exit_filter_build(NULL, NULL, 0, true, &prog, &n) == 0);
			FUZZ_CHECK(cbpf_run(prog, n, buf, size) == EXIT_FILTER_KEEP);
			free(prog);
		}
	}
	free(buf);
	return 0;
}
