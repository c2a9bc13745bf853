// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * One taskstats generic netlink message, as exitwatch receives it from
 * the kernel: nlmsghdr, genlmsghdr, TASKSTATS_TYPE_AGGR_PID/AGGR_TGID
 * nests holding PID/TGID and a struct taskstats.  Input: the family id
 * (2 bytes, little endian), then the message.  The message is copied into
 * a buffer of exactly its size, 4-byte aligned as recv() gives it, so any
 * read past the end is an AddressSanitizer report.
 *
 * The same message then goes through the kernel filters of exitfilter.c
 * (cbpf.h runs them), built for that family from a canonical exit message
 * with and without the 64-bit pad: a message the parser reports as the
 * death of group T is kept by the filter of {T} and by the filter of
 * every group.  The filters may keep more than they must, never less.
 */
#include <limits.h>
#include <linux/acct.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <linux/taskstats.h>

#include "cbpf.h"
#include "exitfilter.h"
#include "exitwatch.h"
#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_quiet_logs();
	return 0;
}

/* A single-threaded process's exit as kernel/taskstats.c lays it out. */
static size_t canonical(uint8_t *b, uint16_t family, bool pad)
{
	struct taskstats ts = { .version = TASKSTATS_VERSION, .ac_flag = AGROUP, .ac_tgid = 4242 };
	uint16_t stats_len = NLA_HDRLEN + sizeof(ts);
	uint16_t aggr_len = NLA_HDRLEN + 8 + (pad ? NLA_HDRLEN : 0) + stats_len;
	struct nlmsghdr nlh = { .nlmsg_len = NLMSG_HDRLEN + GENL_HDRLEN + aggr_len,
				.nlmsg_type = family };
	struct genlmsghdr gh = { .cmd = TASKSTATS_CMD_NEW, .version = 1 };
	struct nlattr aggr = { aggr_len, TASKSTATS_TYPE_AGGR_PID }, id = { 8, TASKSTATS_TYPE_PID },
		      null = { NLA_HDRLEN, TASKSTATS_TYPE_NULL }, st = { stats_len, TASKSTATS_TYPE_STATS };
	uint32_t pid = 4242;
	size_t n = 0;

#define PUT(x) (memcpy(b + n, &(x), sizeof(x)), n += sizeof(x))
	PUT(nlh);
	PUT(gh);
	PUT(aggr);
	PUT(id);
	PUT(pid);
	if (pad)
		PUT(null);
	PUT(st);
	PUT(ts);
#undef PUT
	return n;
}

/* The parser said group tgid died: every filter that wants it keeps the message. */
static void check_filters(const void *msg, size_t len, uint16_t family, pid_t tgid)
{
	uint8_t b[512];

	for (int pad = 0; pad < 2; pad++) {
		TaskstatsLayout l;
		struct sock_filter *prog;
		size_t n;
		pid_t set[] = { tgid, tgid == INT_MAX ? 1 : tgid + 1 };

		FUZZ_CHECK(taskstats_layout_learn(b, canonical(b, family, pad), family, 4242, &l) == 0);
		FUZZ_CHECK(exit_filter_build(&l, set, ELEMENTSOF(set), false, &prog, &n) == 0);
		FUZZ_CHECK(cbpf_run(prog, n, msg, len) == EXIT_FILTER_KEEP);
		free(prog);
		FUZZ_CHECK(exit_filter_build(&l, NULL, 0, true, &prog, &n) == 0);
		FUZZ_CHECK(cbpf_run(prog, n, msg, len) == EXIT_FILTER_KEEP);
		free(prog);
	}
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
	if (r == 1) {
		FUZZ_CHECK(tgid > 0);
		check_filters(buf, len, family, tgid);
	} else
		FUZZ_CHECK(tgid == -1);
	free(buf);
	return 0;
}
