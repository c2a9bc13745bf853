// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The exit sockets' BPF filters: the taskstats layout learnt from an exit
 * message, then each program run over crafted messages, laid out byte by
 * byte as the kernel sends them (kernel/taskstats.c, drivers/connector/
 * cn_proc.c), twice: through the interpreter of the fuzz targets, and
 * through the real kernel (the program attached to an AF_UNIX datagram
 * socket, which runs socket filters on what it receives as netlink does).
 * Both must keep or drop each message as the table says, and agree.  The
 * real exit sockets with a filter are tests/unit/test-exitwatch.c's.
 */
#include <linux/acct.h>
#include <linux/cn_proc.h>
#include <linux/connector.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <linux/taskstats.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "../fuzz/cbpf.h"
#include "exitfilter.h"
#include "exitwatch.h"
#include "util.h"

#define FAMILY 0x1d

typedef struct Msg {
	uint8_t b[2048];
	size_t len;
} Msg;

static void put(Msg *m, const void *p, size_t n)
{
	assert_true(m->len + n <= sizeof(m->b));
	memcpy(m->b + m->len, p, n);
	m->len += n;
}

static size_t nla_begin(Msg *m, uint16_t type)
{
	struct nlattr a = { .nla_type = type };
	size_t off = m->len;

	put(m, &a, sizeof(a));
	return off;
}

static void nla_finish(Msg *m, size_t off)
{
	uint16_t len = (uint16_t)(m->len - off);

	memcpy(m->b + off, &len, sizeof(len));
	while (m->len % NLA_ALIGNTO)
		m->b[m->len++] = 0;
}

static void nla_u32(Msg *m, uint16_t type, uint32_t v)
{
	size_t off = nla_begin(m, type);

	put(m, &v, sizeof(v));
	nla_finish(m, off);
}

typedef struct Rec {
	uint32_t id;          /* the PID or TGID attribute */
	uint16_t version;
	uint8_t flag;
	uint32_t ac_tgid;
} Rec;

/* mk_reply(): a nest, its id, a pad where 64-bit alignment wants one, the struct. */
static void ts_record(Msg *m, uint16_t aggr, uint16_t idtype, const Rec *r, bool pad)
{
	size_t nest = nla_begin(m, aggr), st;
	struct taskstats ts = { .version = r->version, .ac_flag = r->flag, .ac_tgid = r->ac_tgid,
				.ac_pid = r->id };

	nla_u32(m, idtype, r->id);
	if (pad)
		nla_finish(m, nla_begin(m, TASKSTATS_TYPE_NULL));
	st = nla_begin(m, TASKSTATS_TYPE_STATS);
	put(m, &ts, sizeof(ts));
	nla_finish(m, st);
	nla_finish(m, nest);
}

static void ts_msg(Msg *m, uint16_t family, uint8_t cmd, const Rec *pid, const Rec *tgid, bool pad)
{
	struct nlmsghdr nlh = { .nlmsg_type = family, .nlmsg_seq = 77 };
	struct genlmsghdr gh = { .cmd = cmd, .version = TASKSTATS_GENL_VERSION };
	uint32_t len;

	*m = (Msg){};
	put(m, &nlh, sizeof(nlh));
	put(m, &gh, sizeof(gh));
	if (pid)
		ts_record(m, TASKSTATS_TYPE_AGGR_PID, TASKSTATS_TYPE_PID, pid, pad);
	if (tgid)
		ts_record(m, TASKSTATS_TYPE_AGGR_TGID, TASKSTATS_TYPE_TGID, tgid, pad);
	len = (uint32_t)m->len;
	memcpy(m->b, &len, sizeof(len));
}

/* A single-threaded process's exit: what the layout is learnt from. */
static void ts_single(Msg *m, pid_t pid, bool pad)
{
	Rec r = { (uint32_t)pid, TASKSTATS_VERSION, AGROUP, (uint32_t)pid };

	ts_msg(m, FAMILY, TASKSTATS_CMD_NEW, &r, NULL, pad);
}

static void cn_msg(Msg *m, uint32_t idx, uint32_t what, pid_t pid, pid_t tgid, uint16_t cn_len)
{
	struct nlmsghdr nlh = { .nlmsg_type = NLMSG_DONE };
	struct cn_msg cn = { .id = { .idx = idx, .val = CN_VAL_PROC }, .len = cn_len };
	struct proc_event ev = { .what = what, .timestamp_ns = 1 };
	uint32_t len;

	if (what == PROC_EVENT_EXIT) {
		ev.event_data.exit.process_pid = pid;
		ev.event_data.exit.process_tgid = tgid;
	} else if (what == PROC_EVENT_FORK) {
		ev.event_data.fork.child_pid = pid;
		ev.event_data.fork.child_tgid = tgid;
	}
	*m = (Msg){};
	put(m, &nlh, sizeof(nlh));
	put(m, &cn, sizeof(cn));
	put(m, &ev, cn_len < sizeof(ev) ? cn_len : sizeof(ev));
	len = (uint32_t)m->len;
	memcpy(m->b, &len, sizeof(len));
}

/* ---- running a program ------------------------------------------------------ */

typedef struct Filter {
	struct sock_filter *prog;
	size_t len;
	int sv[2];      /* a datagram pair, the program on sv[1] */
} Filter;

static void filter_build(Filter *f, const TaskstatsLayout *l, const pid_t *pids, size_t n, bool all)
{
	struct sock_fprog fp;

	*f = (Filter){};
	assert_int_equal(exit_filter_build(l, pids, n, all, &f->prog, &f->len), 0);
	assert_true(f->len > 0 && f->len <= BPF_MAXINSNS);
	assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, f->sv), 0);
	fp = (struct sock_fprog){ .len = (unsigned short)f->len, .filter = f->prog };
	/* The kernel's checker takes it: every jump in range, a return at the end. */
	assert_int_equal(setsockopt(f->sv[1], SOL_SOCKET, SO_ATTACH_FILTER, &fp, sizeof(fp)), 0);
}

static void filter_done(Filter *f)
{
	free(f->prog);
	close(f->sv[0]);
	close(f->sv[1]);
}

/* Whether the message is kept; the interpreter and the kernel must agree. */
static bool kept(Filter *f, const Msg *m)
{
	uint8_t buf[sizeof(m->b)];
	uint32_t v = cbpf_run(f->prog, f->len, m->b, m->len);
	ssize_t n;

	assert_true(v == EXIT_FILTER_KEEP || v == EXIT_FILTER_DROP);
	assert_int_equal(send(f->sv[0], m->b, m->len, 0), (ssize_t)m->len);
	n = recv(f->sv[1], buf, sizeof(buf), MSG_DONTWAIT);
	if (n < 0)
		assert_int_equal(errno, EAGAIN);
	else
		assert_int_equal(n, (ssize_t)m->len);
	if ((n >= 0) != (v == EXIT_FILTER_KEEP))
		fail_msg("the interpreter says %s, the kernel %s", v ? "keep" : "drop",
			 n >= 0 ? "keep" : "drop");
	return n >= 0;
}

/* ---- taskstats ------------------------------------------------------------------- */

static void test_learn(void **state)
{
	TaskstatsLayout l;
	Msg m;
	Rec r;

	ts_single(&m, 4242, false);
	assert_int_equal(taskstats_layout_learn(m.b, m.len, FAMILY, 4242, &l), 0);
	assert_int_equal(l.family, FAMILY);
	assert_int_equal(l.msg_len, m.len);
	assert_int_equal(l.stats_offset, NLMSG_HDRLEN + GENL_HDRLEN + 3 * NLA_HDRLEN + 4);
	assert_int_equal(l.version, TASKSTATS_VERSION);
	assert_int_equal(l.aggr_len, m.len - NLMSG_HDRLEN - GENL_HDRLEN);

	/* Where the kernel pads for the 64-bit struct. */
	ts_single(&m, 4242, true);
	assert_int_equal(taskstats_layout_learn(m.b, m.len, FAMILY, 4242, &l), 0);
	assert_int_equal(l.stats_offset, NLMSG_HDRLEN + GENL_HDRLEN + 4 * NLA_HDRLEN + 4);

	/* Not the probe child's exit, or not as expected: nothing learnt. */
	ts_single(&m, 4242, false);
	assert_int_equal(taskstats_layout_learn(m.b, m.len, FAMILY, 4243, &l), -EBADMSG);
	assert_int_equal(taskstats_layout_learn(m.b, m.len, FAMILY + 1, 4242, &l), -EBADMSG);
	assert_int_equal(taskstats_layout_learn(m.b, m.len - 4, FAMILY, 4242, &l), -EBADMSG);
	assert_int_equal(taskstats_layout_learn(m.b, 10, FAMILY, 4242, &l), -EBADMSG);
	r = (Rec){ 4242, TASKSTATS_VERSION, 0, 4242 };
	ts_msg(&m, FAMILY, TASKSTATS_CMD_NEW, &r, NULL, false);
	assert_int_equal(taskstats_layout_learn(m.b, m.len, FAMILY, 4242, &l), -EBADMSG);
	r = (Rec){ 4242, TASKSTATS_VERSION, AGROUP, 4242 };
	ts_msg(&m, FAMILY, TASKSTATS_CMD_NEW, &r, &r, false);
	assert_int_equal(taskstats_layout_learn(m.b, m.len, FAMILY, 4242, &l), -EBADMSG);
	ts_msg(&m, FAMILY, TASKSTATS_CMD_GET, &r, NULL, false);
	assert_int_equal(taskstats_layout_learn(m.b, m.len, FAMILY, 4242, &l), -EBADMSG);
	/* Before version 12 no message tells a group's death from a thread's. */
	r = (Rec){ 4242, 11, 0, 0 };
	ts_msg(&m, FAMILY, TASKSTATS_CMD_NEW, &r, NULL, false);
	assert_int_equal(taskstats_layout_learn(m.b, m.len, FAMILY, 4242, &l), -EPROTONOSUPPORT);
}

typedef struct TsCase {
	const char *what;
	Rec pid, tgid;        /* tgid.id == 0: no TGID record */
	bool keep_set;        /* with the set {100, 300} */
	bool keep_all;        /* with every group */
} TsCase;

static const TsCase ts_cases[] = {
	{ "a watched single-threaded VM dies", { 100, TASKSTATS_VERSION, AGROUP, 100 }, {}, true, true },
	{ "an unwatched process dies", { 555, TASKSTATS_VERSION, AGROUP, 555 }, {}, false, true },
	{ "a thread of a watched VM, its group lives on", { 101, TASKSTATS_VERSION, 0, 100 }, {}, false, false },
	{ "a thread of an unwatched group", { 556, TASKSTATS_VERSION, 0, 555 }, {}, false, false },
	{ "the last thread of a watched VM (not its leader)",
	  { 301, TASKSTATS_VERSION, AGROUP, 300 }, { 300, TASKSTATS_VERSION, 0, 300 }, true, true },
	{ "the last thread of an unwatched group",
	  { 557, TASKSTATS_VERSION, AGROUP, 555 }, { 555, TASKSTATS_VERSION, 0, 555 }, false, true },
	/* Shapes it does not know: kept, for the parser to judge. */
	{ "another struct version", { 555, TASKSTATS_VERSION + 1, AGROUP, 555 }, {}, true, true },
};

static void check_ts(const TaskstatsLayout *l, bool pad)
{
	static const pid_t set[] = { 300, 100 };
	Filter fs, fa, fn;

	filter_build(&fs, l, set, ELEMENTSOF(set), false);
	filter_build(&fa, l, NULL, 0, true);
	filter_build(&fn, l, set, 0, false);
	for (size_t i = 0; i < ELEMENTSOF(ts_cases); i++) {
		const TsCase *c = &ts_cases[i];
		Msg m;

		print_message("taskstats%s: %s\n", pad ? " (padded)" : "", c->what);
		ts_msg(&m, FAMILY, TASKSTATS_CMD_NEW, &c->pid, c->tgid.id ? &c->tgid : NULL, pad);
		assert_int_equal(kept(&fs, &m), c->keep_set);
		assert_int_equal(kept(&fa, &m), c->keep_all);
		/* No VM at all: no group's death is kept (unless its shape is unknown). */
		assert_int_equal(kept(&fn, &m), c->keep_set && c->pid.version != TASKSTATS_VERSION);
	}
	filter_done(&fs);
	filter_done(&fa);
	filter_done(&fn);
}

static void test_taskstats(void **state)
{
	TaskstatsLayout l;
	Msg m;

	ts_single(&m, 4242, false);
	assert_int_equal(taskstats_layout_learn(m.b, m.len, FAMILY, 4242, &l), 0);
	check_ts(&l, false);
	ts_single(&m, 4242, true);
	assert_int_equal(taskstats_layout_learn(m.b, m.len, FAMILY, 4242, &l), 0);
	check_ts(&l, true);
}

/* Whatever is not an exit message of the shape learnt passes. */
static void test_taskstats_foreign(void **state)
{
	static const pid_t set[] = { 100 };
	Rec r = { 555, TASKSTATS_VERSION, AGROUP, 555 };
	struct nlmsghdr err = { .nlmsg_len = sizeof(err) + sizeof(struct nlmsgerr),
				.nlmsg_type = NLMSG_ERROR };
	TaskstatsLayout l;
	Filter f;
	Msg m;

	ts_single(&m, 4242, false);
	assert_int_equal(taskstats_layout_learn(m.b, m.len, FAMILY, 4242, &l), 0);
	filter_build(&f, &l, set, ELEMENTSOF(set), false);

	ts_msg(&m, FAMILY + 1, TASKSTATS_CMD_NEW, &r, NULL, false);
	assert_true(kept(&f, &m));
	ts_msg(&m, FAMILY, TASKSTATS_CMD_GET, &r, NULL, false);
	assert_true(kept(&f, &m));
	/* A length other than the two shapes'. */
	ts_msg(&m, FAMILY, TASKSTATS_CMD_NEW, &r, NULL, false);
	m.len -= 4;
	assert_true(kept(&f, &m));
	m.len += 8;
	assert_true(kept(&f, &m));
	/* nlmsg_len that disagrees with the datagram. */
	ts_msg(&m, FAMILY, TASKSTATS_CMD_NEW, &r, NULL, false);
	m.b[0] ^= 4;
	assert_true(kept(&f, &m));
	/* An attribute header not where the shape has it. */
	ts_msg(&m, FAMILY, TASKSTATS_CMD_NEW, &r, NULL, false);
	m.b[NLMSG_HDRLEN + GENL_HDRLEN + NLA_HDRLEN + 2] = TASKSTATS_TYPE_TGID;
	assert_true(kept(&f, &m));
	/* An error (the answer to a command). */
	m = (Msg){};
	put(&m, &err, sizeof(err));
	put(&m, &(struct nlmsgerr){ .error = -EINVAL }, sizeof(struct nlmsgerr));
	assert_true(kept(&f, &m));
	/* Too short for any of it. */
	m.len = 3;
	assert_true(kept(&f, &m));
	filter_done(&f);
}

/* ---- proc connector --------------------------------------------------------------- */

static void test_proc_connector(void **state)
{
	static const pid_t set[] = { 100, 300 };
	const uint16_t full = sizeof(struct proc_event);
	Filter fs, fa;
	Msg m;

	filter_build(&fs, NULL, set, ELEMENTSOF(set), false);
	filter_build(&fa, NULL, NULL, 0, true);

	cn_msg(&m, CN_IDX_PROC, PROC_EVENT_EXIT, 300, 300, full);
	assert_true(kept(&fs, &m));
	assert_true(kept(&fa, &m));
	cn_msg(&m, CN_IDX_PROC, PROC_EVENT_EXIT, 555, 555, full);
	assert_false(kept(&fs, &m));
	assert_true(kept(&fa, &m));
	/* A thread of a watched VM: its group lives on. */
	cn_msg(&m, CN_IDX_PROC, PROC_EVENT_EXIT, 301, 300, full);
	assert_false(kept(&fs, &m));
	assert_false(kept(&fa, &m));
	/* Forks and the rest (a kernel before 6.6 sends them all). */
	cn_msg(&m, CN_IDX_PROC, PROC_EVENT_FORK, 100, 100, full);
	assert_false(kept(&fs, &m));
	assert_false(kept(&fa, &m));
	/* The acknowledgement of LISTEN. */
	cn_msg(&m, CN_IDX_PROC, PROC_EVENT_NONE, 0, 0, full);
	assert_true(kept(&fs, &m));
	/* Another connector, or a short event: kept for the parser. */
	cn_msg(&m, CN_IDX_PROC + 1, PROC_EVENT_EXIT, 555, 555, full);
	assert_true(kept(&fs, &m));
	cn_msg(&m, CN_IDX_PROC, PROC_EVENT_EXIT, 555, 555,
	       (uint16_t)offsetof(struct proc_event, event_data.exit.process_tgid));
	assert_true(kept(&fs, &m));
	filter_done(&fs);
	filter_done(&fa);
}

/* ---- sizes ---------------------------------------------------------------------- */

static void test_sizes(void **state)
{
	_cleanup_free_ pid_t *pids = calloc(EXIT_FILTER_PIDS_MAX + 1, sizeof(pid_t));
	TaskstatsLayout l;
	Filter f;
	Msg m;

	assert_non_null(pids);
	for (size_t i = 0; i <= EXIT_FILTER_PIDS_MAX; i++)
		pids[i] = (pid_t)(1000 + 2 * i);
	ts_single(&m, 4242, false);
	assert_int_equal(taskstats_layout_learn(m.b, m.len, FAMILY, 4242, &l), 0);

	/* The largest set: the last pid of it is found, its neighbour not. */
	filter_build(&f, &l, pids, EXIT_FILTER_PIDS_MAX, false);
	ts_single(&m, pids[EXIT_FILTER_PIDS_MAX - 1], false);
	assert_true(kept(&f, &m));
	ts_single(&m, pids[EXIT_FILTER_PIDS_MAX - 1] + 1, false);
	assert_false(kept(&f, &m));
	filter_done(&f);
	filter_build(&f, NULL, pids, EXIT_FILTER_PIDS_MAX, false);
	cn_msg(&m, CN_IDX_PROC, PROC_EVENT_EXIT, pids[0], pids[0], sizeof(struct proc_event));
	assert_true(kept(&f, &m));
	filter_done(&f);

	/* One more: every group's death passes. */
	filter_build(&f, &l, pids, EXIT_FILTER_PIDS_MAX + 1, false);
	ts_single(&m, 7, false);
	assert_true(kept(&f, &m));
	filter_done(&f);

	assert_int_equal(exit_filter_build(&l, NULL, 3, false, &f.prog, &f.len), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_learn),
		cmocka_unit_test(test_taskstats),
		cmocka_unit_test(test_taskstats_foreign),
		cmocka_unit_test(test_proc_connector),
		cmocka_unit_test(test_sizes),
	};

	return cmocka_run_group_tests_name("exitfilter", tests, NULL, NULL);
}
