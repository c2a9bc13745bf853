// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * One taskstats generic netlink message, as exitwatch receives it from
 * the kernel: nlmsghdr, genlmsghdr, TASKSTATS_TYPE_AGGR_PID/AGGR_TGID
 * nests holding PID/TGID and a struct taskstats.  Input: the family id
 * (2 bytes, little endian), then the message.  The message is copied into
 * a buffer of exactly its size, 4-byte aligned as recv() gives it, so any
 * read past the end is an AddressSanitizer report.
 */
#include <limits.h>

#include "exitwatch.h"
#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_quiet_logs();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint16_t family;
	uint32_t *buf;
	pid_t tgid = -1;
	size_t len;
	int r;

	if (size < 2)
		return 0;
	family = (uint16_t)(data[0] | data[1] << 8);
	len = size - 2;
	/* At least one byte, so the allocation is never a zero-size one. */
	buf = malloc(len ? len : 1);
	if (!buf)
		abort();
	memcpy(buf, data + 2, len);

	r = taskstats_parse_exit(buf, len, family, &tgid);
	if (getenv("SMMUD_FUZZ_LOG"))
		fprintf(stderr, "taskstats_parse_exit: %d, tgid %d\n", r, (int)tgid);
	FUZZ_CHECK(r == 1 || r == 0 || r == -EBADMSG);
	if (r == 1)
		FUZZ_CHECK(tgid > 0);
	else
		FUZZ_CHECK(tgid == -1);
	free(buf);
	return 0;
}
