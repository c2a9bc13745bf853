// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * exitwatch: the message parsers with crafted netlink messages (built with
 * libnl, as the kernel lays them out), then the real kernel: children that
 * exit, single- and multi-threaded, and a receive queue made to overrun.
 * A real-kernel test is skipped only when its source cannot start here,
 * and says why.
 */
#include <fcntl.h>
#include <linux/acct.h>
#include <linux/cn_proc.h>
#include <linux/connector.h>
#include <linux/taskstats.h>
#include <netlink/genl/genl.h>
#include <netlink/msg.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "exitwatch.h"
#include "log.h"
#include "util.h"

#define FAMILY 0x1d

/* ---- taskstats messages ----------------------------------------------------- */

typedef struct Rec {
	uint32_t id;        /* pid or tgid attribute */
	uint16_t version;   /* struct version; 0: no STATS attribute */
	uint8_t flag;
	uint32_t ac_tgid;
	int stats_len;      /* 0: the whole struct */
} Rec;

static void put_aggr(struct nl_msg *m, int aggr, int idtype, const Rec *r)
{
	struct nlattr *nest = nla_nest_start(m, aggr);
	struct taskstats ts = {};

	assert_non_null(nest);
	assert_int_equal(nla_put_u32(m, idtype, r->id), 0);
	if (r->version) {
		ts.version = r->version;
		ts.ac_flag = r->flag;
		ts.ac_tgid = r->ac_tgid;
		ts.ac_pid = r->id;
		assert_int_equal(nla_put(m, TASKSTATS_TYPE_STATS, r->stats_len ?: (int)sizeof(ts), &ts), 0);
	}
	nla_nest_end(m, nest);
}

static struct nl_msg *ts_msg(uint16_t family, uint8_t cmd, const Rec *pid, const Rec *tgid)
{
	struct nl_msg *m = nlmsg_alloc();

	assert_non_null(m);
	assert_non_null(genlmsg_put(m, 0, 1, family, 0, 0, cmd, TASKSTATS_GENL_VERSION));
	if (pid)
		put_aggr(m, TASKSTATS_TYPE_AGGR_PID, TASKSTATS_TYPE_PID, pid);
	if (tgid)
		put_aggr(m, TASKSTATS_TYPE_AGGR_TGID, TASKSTATS_TYPE_TGID, tgid);
	return m;
}

static int parse_ts(struct nl_msg *m, pid_t *tgid)
{
	struct nlmsghdr *h = nlmsg_hdr(m);
	int r = taskstats_parse_exit(h, h->nlmsg_len, FAMILY, tgid);

	nlmsg_free(m);
	return r;
}

static void test_ts_single_threaded(void **state)
{
	Rec p = { .id = 4242, .version = TASKSTATS_VERSION, .flag = AGROUP, .ac_tgid = 4242 };
	pid_t t = 0;

	assert_int_equal(parse_ts(ts_msg(FAMILY, TASKSTATS_CMD_NEW, &p, NULL), &t), 1);
	assert_int_equal(t, 4242);
}

static void test_ts_thread_of_live_group(void **state)
{
	Rec p = { .id = 4243, .version = TASKSTATS_VERSION, .flag = 0, .ac_tgid = 4242 };
	pid_t t = 77;

	assert_int_equal(parse_ts(ts_msg(FAMILY, TASKSTATS_CMD_NEW, &p, NULL), &t), 0);
	assert_int_equal(t, 77);
}

static void test_ts_last_thread(void **state)
{
	/* The last thread need not be the leader: the group is what died. */
	Rec p = { .id = 4243, .version = TASKSTATS_VERSION, .flag = AGROUP, .ac_tgid = 4242 };
	Rec g = { .id = 4242, .version = TASKSTATS_VERSION };
	pid_t t = 0;

	assert_int_equal(parse_ts(ts_msg(FAMILY, TASKSTATS_CMD_NEW, &p, &g), &t), 1);
	assert_int_equal(t, 4242);
	t = 0;
	assert_int_equal(parse_ts(ts_msg(FAMILY, TASKSTATS_CMD_NEW, NULL, &g), &t), 1);
	assert_int_equal(t, 4242);
	/* A PID record flagged AGROUP with ac_tgid names the group even alone. */
	t = 0;
	assert_int_equal(parse_ts(ts_msg(FAMILY, TASKSTATS_CMD_NEW, &p, NULL), &t), 1);
	assert_int_equal(t, 4242);
}

static void test_ts_old_versions(void **state)
{
	/* v12 struct cut before ac_tgid: the pid is the best we have. */
	Rec p12 = { .id = 500, .version = 12, .flag = AGROUP, .ac_tgid = 1,
		    .stats_len = (int)offsetof(struct taskstats, ac_tgid) };
	/* Before v12 there is no AGROUP: a lone PID record is a process exit. */
	Rec p10 = { .id = 501, .version = 10, .flag = 0,
		    .stats_len = (int)offsetof(struct taskstats, compact_count) };
	pid_t t = 0;

	assert_int_equal(parse_ts(ts_msg(FAMILY, TASKSTATS_CMD_NEW, &p12, NULL), &t), 1);
	assert_int_equal(t, 500);
	assert_int_equal(parse_ts(ts_msg(FAMILY, TASKSTATS_CMD_NEW, &p10, NULL), &t), 1);
	assert_int_equal(t, 501);
}

static void test_ts_bad(void **state)
{
	Rec good = { .id = 4242, .version = TASKSTATS_VERSION, .flag = AGROUP, .ac_tgid = 4242 };
	Rec no_stats = { .id = 4242 };
	Rec short_stats = { .id = 4242, .version = TASKSTATS_VERSION, .flag = AGROUP, .stats_len = 4 };
	Rec pid0 = { .id = 0, .version = TASKSTATS_VERSION, .flag = AGROUP, .ac_tgid = 4242 };
	Rec huge = { .id = 0x80000000u, .version = TASKSTATS_VERSION, .flag = AGROUP, .ac_tgid = 1 };
	Rec tgid0 = { .id = 4242, .version = TASKSTATS_VERSION, .flag = AGROUP, .ac_tgid = 0 };
	Rec v0 = { .id = 4242, .version = 0xffff, .flag = AGROUP, .ac_tgid = 4242 };
	Rec g0 = { .id = 0 };
	struct nl_msg *m;
	struct nlmsghdr *h;
	pid_t t = 99;

	v0.version = 0;
	assert_int_equal(parse_ts(ts_msg(FAMILY + 1, TASKSTATS_CMD_NEW, &good, NULL), &t), -EBADMSG);
	assert_int_equal(parse_ts(ts_msg(FAMILY, TASKSTATS_CMD_GET, &good, NULL), &t), -EBADMSG);
	assert_int_equal(parse_ts(ts_msg(FAMILY, TASKSTATS_CMD_NEW, NULL, NULL), &t), -EBADMSG);
	assert_int_equal(parse_ts(ts_msg(FAMILY, TASKSTATS_CMD_NEW, &no_stats, NULL), &t), -EBADMSG);
	assert_int_equal(parse_ts(ts_msg(FAMILY, TASKSTATS_CMD_NEW, &short_stats, NULL), &t), -EBADMSG);
	assert_int_equal(parse_ts(ts_msg(FAMILY, TASKSTATS_CMD_NEW, &pid0, NULL), &t), -EBADMSG);
	assert_int_equal(parse_ts(ts_msg(FAMILY, TASKSTATS_CMD_NEW, &huge, NULL), &t), -EBADMSG);
	assert_int_equal(parse_ts(ts_msg(FAMILY, TASKSTATS_CMD_NEW, &tgid0, NULL), &t), -EBADMSG);
	assert_int_equal(parse_ts(ts_msg(FAMILY, TASKSTATS_CMD_NEW, &v0, NULL), &t), -EBADMSG);
	assert_int_equal(parse_ts(ts_msg(FAMILY, TASKSTATS_CMD_NEW, NULL, &g0), &t), -EBADMSG);
	assert_int_equal(t, 99);

	/* Truncated: fewer bytes than the header claims, or than a header. */
	m = ts_msg(FAMILY, TASKSTATS_CMD_NEW, &good, NULL);
	h = nlmsg_hdr(m);
	assert_int_equal(taskstats_parse_exit(h, h->nlmsg_len - 1, FAMILY, &t), -EBADMSG);
	assert_int_equal(taskstats_parse_exit(h, sizeof(*h) - 1, FAMILY, &t), -EBADMSG);
	assert_int_equal(taskstats_parse_exit(h, 0, FAMILY, &t), -EBADMSG);
	/* A header claiming less than the generic netlink header. */
	h->nlmsg_len = NLMSG_HDRLEN + 2;
	assert_int_equal(taskstats_parse_exit(h, h->nlmsg_len, FAMILY, &t), -EBADMSG);
	nlmsg_free(m);

	/* An aggregate whose contents are not attributes at all. */
	m = nlmsg_alloc();
	assert_non_null(genlmsg_put(m, 0, 1, FAMILY, 0, 0, TASKSTATS_CMD_NEW, 1));
	assert_int_equal(nla_put(m, TASKSTATS_TYPE_AGGR_PID, 3, "abc"), 0);
	assert_int_equal(parse_ts(m, &t), -EBADMSG);

	/* A PID attribute of two bytes. */
	m = nlmsg_alloc();
	assert_non_null(genlmsg_put(m, 0, 1, FAMILY, 0, 0, TASKSTATS_CMD_NEW, 1));
	{
		struct nlattr *n = nla_nest_start(m, TASKSTATS_TYPE_AGGR_PID);
		struct taskstats ts = { .version = TASKSTATS_VERSION, .ac_flag = AGROUP, .ac_tgid = 5 };

		assert_int_equal(nla_put_u16(m, TASKSTATS_TYPE_PID, 5), 0);
		assert_int_equal(nla_put(m, TASKSTATS_TYPE_STATS, sizeof(ts), &ts), 0);
		nla_nest_end(m, n);
	}
	assert_int_equal(parse_ts(m, &t), -EBADMSG);
	assert_int_equal(t, 99);

	assert_int_equal(taskstats_parse_exit(NULL, 100, FAMILY, &t), -EINVAL);
}

/* ---- proc connector messages -------------------------------------------------- */

static struct nl_msg *cn_msg_new(uint32_t idx, uint32_t what, pid_t pid, pid_t tgid, uint32_t ack,
				 uint32_t err, int cn_len_delta, int payload_len)
{
	struct nl_msg *m = nlmsg_alloc_simple(NLMSG_DONE, 0);
	union {
		struct cn_msg cn;
		uint8_t b[sizeof(struct cn_msg) + sizeof(struct proc_event)];
	} u = {};
	struct proc_event ev = {};

	assert_non_null(m);
	ev.what = what;
	ev.timestamp_ns = 123456789000ULL;
	if (what == PROC_EVENT_EXIT) {
		ev.event_data.exit.process_pid = pid;
		ev.event_data.exit.process_tgid = tgid;
	} else if (what == PROC_EVENT_NONE) {
		ev.event_data.ack.err = err;
	} else if (what == PROC_EVENT_FORK) {
		ev.event_data.fork.child_pid = pid;
		ev.event_data.fork.child_tgid = tgid;
	}
	u.cn.id.idx = idx;
	u.cn.id.val = CN_VAL_PROC;
	u.cn.seq = 3;
	u.cn.ack = ack;
	if (payload_len < 0)
		payload_len = sizeof(ev);
	u.cn.len = (uint16_t)(payload_len + cn_len_delta);
	memcpy(u.b + sizeof(struct cn_msg), &ev, sizeof(ev));
	assert_int_equal(nlmsg_append(m, &u, sizeof(struct cn_msg) + (size_t)payload_len, NLMSG_ALIGNTO), 0);
	return m;
}

static int parse_cn(struct nl_msg *m, ProcConnectorEvent *ev)
{
	struct nlmsghdr *h = nlmsg_hdr(m);
	int r = proc_connector_parse(h, h->nlmsg_len, ev);

	nlmsg_free(m);
	return r;
}

static void test_cn_exit(void **state)
{
	ProcConnectorEvent ev;

	assert_int_equal(parse_cn(cn_msg_new(CN_IDX_PROC, PROC_EVENT_EXIT, 100, 100, 0, 0, 0, -1), &ev), 0);
	assert_int_equal(ev.what, PROC_EVENT_EXIT);
	assert_int_equal(ev.pid, 100);
	assert_int_equal(ev.tgid, 100);
	assert_int_equal(ev.seq, 3);
	assert_int_equal(ev.timestamp_ns, 123456789000ULL);
	assert_true(proc_connector_event_is_group_exit(&ev));

	/* A thread of 100: not the group. */
	assert_int_equal(parse_cn(cn_msg_new(CN_IDX_PROC, PROC_EVENT_EXIT, 101, 100, 0, 0, 0, -1), &ev), 0);
	assert_false(proc_connector_event_is_group_exit(&ev));

	/* A fork is valid, and no exit. */
	assert_int_equal(parse_cn(cn_msg_new(CN_IDX_PROC, PROC_EVENT_FORK, 102, 102, 0, 0, 0, -1), &ev), 0);
	assert_int_equal(ev.what, PROC_EVENT_FORK);
	assert_false(proc_connector_event_is_group_exit(&ev));

	/* An older, shorter exit event (no parent fields) still has what we need. */
	assert_int_equal(parse_cn(cn_msg_new(CN_IDX_PROC, PROC_EVENT_EXIT, 103, 103, 0, 0, 0,
					     (int)offsetof(struct proc_event, event_data.exit.exit_code)),
				 &ev), 0);
	assert_true(proc_connector_event_is_group_exit(&ev));
	assert_int_equal(ev.tgid, 103);
}

static void test_cn_ack(void **state)
{
	ProcConnectorEvent ev;

	assert_int_equal(parse_cn(cn_msg_new(CN_IDX_PROC, PROC_EVENT_NONE, 0, 0, 43, 0, 0, -1), &ev), 0);
	assert_int_equal(ev.what, PROC_EVENT_NONE);
	assert_int_equal(ev.ack, 43);
	assert_int_equal(ev.err, 0);
	assert_false(proc_connector_event_is_group_exit(&ev));
	assert_int_equal(parse_cn(cn_msg_new(CN_IDX_PROC, PROC_EVENT_NONE, 0, 0, 43, EPERM, 0, -1), &ev), 0);
	assert_int_equal(ev.err, EPERM);
}

static void test_cn_bad(void **state)
{
	ProcConnectorEvent ev = { .what = 0xdead };
	struct nl_msg *m;
	struct nlmsghdr *h;

	/* Another connector. */
	assert_int_equal(parse_cn(cn_msg_new(CN_IDX_PROC + 1, PROC_EVENT_EXIT, 1, 1, 0, 0, 0, -1), &ev), -EBADMSG);
	/* cn_msg claims more data than there is. */
	assert_int_equal(parse_cn(cn_msg_new(CN_IDX_PROC, PROC_EVENT_EXIT, 1, 1, 0, 0, 1, -1), &ev), -EBADMSG);
	/* Too short for a proc_event header. */
	assert_int_equal(parse_cn(cn_msg_new(CN_IDX_PROC, PROC_EVENT_EXIT, 1, 1, 0, 0, 0, 8), &ev), -EBADMSG);
	/* An exit cut before the tgid. */
	assert_int_equal(parse_cn(cn_msg_new(CN_IDX_PROC, PROC_EVENT_EXIT, 1, 1, 0, 0, 0,
					     (int)offsetof(struct proc_event, event_data.exit.process_tgid)),
				 &ev), -EBADMSG);
	/* An ack cut before its error. */
	assert_int_equal(parse_cn(cn_msg_new(CN_IDX_PROC, PROC_EVENT_NONE, 0, 0, 1, 0, 0,
					     (int)offsetof(struct proc_event, event_data)),
				 &ev), -EBADMSG);
	/* Nonsense pids. */
	assert_int_equal(parse_cn(cn_msg_new(CN_IDX_PROC, PROC_EVENT_EXIT, 0, 0, 0, 0, 0, -1), &ev), -EBADMSG);
	assert_int_equal(parse_cn(cn_msg_new(CN_IDX_PROC, PROC_EVENT_EXIT, -5, -5, 0, 0, 0, -1), &ev), -EBADMSG);
	assert_int_equal(ev.what, 0xdead);

	/* Fewer bytes than the netlink header claims; no cn_msg at all. */
	m = cn_msg_new(CN_IDX_PROC, PROC_EVENT_EXIT, 1, 1, 0, 0, 0, -1);
	h = nlmsg_hdr(m);
	assert_int_equal(proc_connector_parse(h, h->nlmsg_len - 1, &ev), -EBADMSG);
	assert_int_equal(proc_connector_parse(h, 3, &ev), -EBADMSG);
	h->nlmsg_len = NLMSG_HDRLEN + 4;
	assert_int_equal(proc_connector_parse(h, h->nlmsg_len, &ev), -EBADMSG);
	nlmsg_free(m);
	assert_int_equal(ev.what, 0xdead);
}

/* ---- cpulist ----------------------------------------------------------------- */

static void test_cpulist(void **state)
{
	static const char *const good[][2] = {
		{ "0-1\n", "0-1" }, { "0", "0" }, { "0,2-5,7\n", "0,2-5,7" }, { "3-3", "3-3" },
	};
	static const char *const bad[] = {
		"", "\n", "1-0", "a", "0,", ",0", "0--1", "0-", "-1", "0 1", "0,,1", "0-1-2",
		"99999999999", "0-70000",
	};
	char *s = NULL;

	for (size_t i = 0; i < ELEMENTSOF(good); i++) {
		assert_int_equal(taskstats_parse_cpulist(good[i][0], &s), 0);
		assert_string_equal(s, good[i][1]);
		free(s);
	}
	s = (char *)"untouched";
	for (size_t i = 0; i < ELEMENTSOF(bad); i++)
		assert_int_equal(taskstats_parse_cpulist(bad[i], &s), -EINVAL);
	assert_string_equal(s, "untouched");
}

/* ---- the real kernel ------------------------------------------------------------ */

#define MAX_SEEN 65536

typedef struct Seen {
	pid_t tgid[MAX_SEEN];
	ExitSource src[MAX_SEEN];
	size_t n;
	unsigned lost[_EXIT_SOURCE_MAX];
} Seen;

static Seen seen;

static void on_exited(pid_t tgid, ExitSource src, uint64_t when, void *userdata)
{
	if (seen.n < MAX_SEEN) {
		seen.tgid[seen.n] = tgid;
		seen.src[seen.n] = src;
		seen.n++;
	}
}

static void on_lost(ExitSource src, void *userdata)
{
	seen.lost[src]++;
}

static unsigned count(pid_t tgid, ExitSource src)
{
	unsigned c = 0;

	for (size_t i = 0; i < seen.n; i++)
		c += seen.tgid[i] == tgid && seen.src[i] == src;
	return c;
}

typedef struct Real {
	sd_event *event;
	ExitWatch *watch;
	ExitSource src;
} Real;

static int setup_real_sources(void **state, ExitSource src, unsigned sources)
{
	static const ExitWatchCallbacks cb = { .exited = on_exited, .lost = on_lost };
	Real *r = calloc(1, sizeof(*r));

	assert_non_null(r);
	memset(&seen, 0, sizeof(seen));
	r->src = src;
	assert_int_equal(sd_event_new(&r->event), 0);
	assert_int_equal(exitwatch_new(r->event, sources, &cb, NULL, &r->watch), 0);
	*state = r;
	return 0;
}

static int setup_real(void **state, ExitSource src)
{
	Real *r;

	/* Only the source under test: the other one opens nothing. */
	setup_real_sources(state, src, EXITWATCH_SOURCE(src));
	r = *state;
	assert_false(exitwatch_has(r->watch, src == EXIT_SOURCE_TASKSTATS
						     ? EXIT_SOURCE_PROC_CONNECTOR
						     : EXIT_SOURCE_TASKSTATS));
	return 0;
}

static int setup_both(void **state)
{
	return setup_real_sources(state, EXIT_SOURCE_TASKSTATS, EXITWATCH_ALL);
}

static int setup_taskstats(void **state)
{
	return setup_real(state, EXIT_SOURCE_TASKSTATS);
}

static int setup_proc(void **state)
{
	return setup_real(state, EXIT_SOURCE_PROC_CONNECTOR);
}

static int teardown_real(void **state)
{
	Real *r = *state;

	exitwatch_free(r->watch);
	sd_event_unref(r->event);
	free(r);
	return 0;
}

static void require_source(Real *r)
{
	if (!exitwatch_has(r->watch, r->src)) {
		print_message("# %s cannot start here (see the warning above): skipping\n",
			      exit_source_to_string(r->src));
		skip();
	}
}

/* Runs the loop until pred() holds; a bounded wait, not a timing assertion. */
static void run_until(Real *r, bool (*pred)(Real *r, pid_t p), pid_t p)
{
	for (int i = 0; i < 300 && !pred(r, p); i++)
		assert_true(sd_event_run(r->event, 100 * 1000) >= 0);
	/* Then whatever else is queued right now. */
	while (sd_event_run(r->event, 0) > 0)
		;
}

static bool seen_pred(Real *r, pid_t p)
{
	return count(p, r->src) > 0;
}

static bool lost_pred(Real *r, pid_t p)
{
	return seen.lost[r->src] > 0;
}

static void reap(pid_t pid)
{
	int status;

	assert_int_equal(waitpid(pid, &status, 0), pid);
}

/* A child that exits at once, reaped: its pid. */
static pid_t exit_one(void)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0)
		_exit(0);
	reap(pid);
	return pid;
}

static void test_real_single(void **state)
{
	Real *r = *state;
	pid_t pid;

	require_source(r);
	pid = exit_one();
	run_until(r, seen_pred, pid);
	assert_int_equal(count(pid, r->src), 1);
}

static int tid_pipe[2];

static void *thread_report(void *arg)
{
	pid_t tid = gettid();

	if (write(tid_pipe[1], &tid, sizeof(tid)) != sizeof(tid))
		_exit(20);
	if (arg)
		return NULL; /* exits while the group lives on */
	for (;;)
		pause();
}

static void test_real_threads(void **state)
{
	Real *r = *state;
	pid_t pid, tids[6];
	int go[2];
	char c;

	require_source(r);
	assert_int_equal(pipe2(tid_pipe, O_CLOEXEC), 0);
	assert_int_equal(pipe2(go, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		pthread_t t[6];

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(go[1]);
		/* Two threads end early, four live until the group dies. */
		for (int i = 0; i < 6; i++)
			if (pthread_create(&t[i], NULL, thread_report, i < 2 ? (void *)1 : NULL) != 0)
				_exit(21);
		for (int i = 0; i < 2; i++)
			pthread_join(t[i], NULL);
		/* EOF once the parent has every tid: then the group dies at once. */
		if (read(go[0], &c, 1) < 0)
			_exit(23);
		exit(0);
	}
	/* Only the child writes: its early death is EOF here, not a hang. */
	close(tid_pipe[1]);
	close(go[0]);
	for (int i = 0; i < 6; i++)
		assert_int_equal(read(tid_pipe[0], &tids[i], sizeof(tids[i])), sizeof(tids[i]));
	close(tid_pipe[0]);
	close(go[1]);
	reap(pid);

	run_until(r, seen_pred, pid);
	/* The group once, by its tgid; its threads never. */
	assert_int_equal(count(pid, r->src), 1);
	for (int i = 0; i < 6; i++) {
		assert_int_not_equal(tids[i], pid);
		assert_int_equal(count(tids[i], r->src), 0);
	}
}

static void test_real_lost(void **state)
{
	Real *r = *state;
	int fd, tiny = 1, big = 8 * 1024 * 1024;
	pid_t pid;

	require_source(r);
	fd = exitwatch_fd(r->watch, r->src);
	assert_true(fd >= 0);
	/* The kernel rounds 1 up to its minimum: two or three messages. */
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &tiny, sizeof(tiny)), 0);
	for (int i = 0; i < 64; i++)
		exit_one();
	run_until(r, lost_pred, 0);
	assert_true(seen.lost[r->src] >= 1);

	/* The socket lives on: the next exit is heard again. */
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big)), 0);
	while (sd_event_run(r->event, 0) > 0)
		;
	pid = exit_one();
	run_until(r, seen_pred, pid);
	assert_int_equal(count(pid, r->src), 1);
}

/* Nothing queued on the socket: the kernel dropped it, nobody was woken. */
static bool queue_empty(Real *r)
{
	char buf[64];

	return recv(exitwatch_fd(r->watch, r->src), buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT) < 0 &&
	       errno == EAGAIN;
}

static pid_t fork_waiting(int *ret_go)
{
	int go[2];
	pid_t pid;
	char c;

	assert_int_equal(pipe2(go, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(go[1]);
		_exit(read(go[0], &c, 1) < 0 ? 1 : 0);
	}
	close(go[0]);
	*ret_go = go[1];
	return pid;
}

/* With a filter, the kernel keeps the watched group's exit and drops the others. */
static void test_real_filtered(void **state)
{
	Real *r = *state;
	pid_t watched, other, pids[2];
	int go;

	require_source(r);
	watched = fork_waiting(&go);
	pids[0] = 1; /* never exits: the set may hold more than the one */
	pids[1] = watched;
	assert_int_equal(exitwatch_set_filter(r->watch, pids, 2, false), 0);
	assert_true(exitwatch_filtered(r->watch, r->src));
	/* What the host's other processes queued before the filter, out of the way. */
	while (sd_event_run(r->event, 0) > 0)
		;
	seen.n = 0;

	/* A hundred exits of processes nobody watches: not one queued. */
	for (int i = 0; i < 100; i++)
		other = exit_one();
	assert_true(queue_empty(r));

	close(go);
	reap(watched);
	run_until(r, seen_pred, watched);
	assert_int_equal(count(watched, r->src), 1);
	assert_int_equal(count(other, r->src), 0);
	assert_int_equal(seen.n, 1);

	/* Every group's death: the next one is heard again. */
	assert_int_equal(exitwatch_set_filter(r->watch, NULL, 0, true), 0);
	other = exit_one();
	run_until(r, seen_pred, other);
	assert_int_equal(count(other, r->src), 1);

	/* No VM: nothing at all. */
	assert_int_equal(exitwatch_set_filter(r->watch, pids, 0, false), 0);
	exit_one();
	assert_true(queue_empty(r));
}

/*
 * Both sources, taskstats filtered: the proc connector tells no death at
 * all, not even the watched group's, which taskstats tells first.
 */
static void test_real_both_filtered(void **state)
{
	Real *r = *state;
	pid_t watched, other;
	int go;

	require_source(r);
	if (!exitwatch_has(r->watch, EXIT_SOURCE_PROC_CONNECTOR)) {
		print_message("# the proc connector cannot start here: skipping\n");
		skip();
	}
	/* Unfiltered, each source tells each death. */
	while (sd_event_run(r->event, 0) > 0)
		;
	seen.n = 0;
	other = exit_one();
	run_until(r, seen_pred, other);
	for (int i = 0; i < 300 && count(other, EXIT_SOURCE_PROC_CONNECTOR) == 0; i++)
		assert_true(sd_event_run(r->event, 100 * 1000) >= 0);
	assert_int_equal(count(other, EXIT_SOURCE_TASKSTATS), 1);
	assert_int_equal(count(other, EXIT_SOURCE_PROC_CONNECTOR), 1);

	watched = fork_waiting(&go);
	assert_int_equal(exitwatch_set_filter(r->watch, &watched, 1, false), 0);
	if (!exitwatch_filtered(r->watch, EXIT_SOURCE_TASKSTATS)) {
		print_message("# taskstats is too old to filter here: skipping\n");
		close(go);
		reap(watched);
		skip();
	}
	assert_true(exitwatch_filtered(r->watch, EXIT_SOURCE_PROC_CONNECTOR));
	while (sd_event_run(r->event, 0) > 0)
		;
	seen.n = 0;
	close(go);
	reap(watched);
	run_until(r, seen_pred, watched);
	/* The proc connector's message comes within microseconds of the parent's wake-up. */
	for (int i = 0; i < 3; i++)
		assert_true(sd_event_run(r->event, 100 * 1000) >= 0);
	assert_int_equal(count(watched, EXIT_SOURCE_TASKSTATS), 1);
	assert_int_equal(count(watched, EXIT_SOURCE_PROC_CONNECTOR), 0);
	assert_int_equal(seen.n, 1);

	/* Every group's death: taskstats tells it, the proc connector still nothing. */
	assert_int_equal(exitwatch_set_filter(r->watch, NULL, 0, true), 0);
	other = exit_one();
	run_until(r, seen_pred, other);
	for (int i = 0; i < 3; i++)
		assert_true(sd_event_run(r->event, 100 * 1000) >= 0);
	assert_int_equal(count(other, EXIT_SOURCE_TASKSTATS), 1);
	assert_int_equal(count(other, EXIT_SOURCE_PROC_CONNECTOR), 0);
}

static void *thread_wait(void *arg)
{
	for (;;)
		pause();
	return NULL;
}

/* A watched multi-threaded group: its death once, its threads' exits never queued. */
static void test_real_filtered_threads(void **state)
{
	Real *r = *state;
	pid_t pid;
	int go[2], ready[2];
	char c;

	require_source(r);
	assert_int_equal(pipe2(go, O_CLOEXEC), 0);
	assert_int_equal(pipe2(ready, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		pthread_t t[4];

		close(go[1]);
		close(ready[0]);
		/* Four threads alive when the group dies: each exit is a message. */
		for (int i = 0; i < 4; i++)
			if (pthread_create(&t[i], NULL, thread_wait, NULL) != 0)
				_exit(21);
		if (write(ready[1], "r", 1) != 1 || read(go[0], &c, 1) < 0)
			_exit(23);
		exit(0);
	}
	close(go[0]);
	close(ready[1]);
	assert_int_equal(exitwatch_set_filter(r->watch, &pid, 1, false), 0);
	while (sd_event_run(r->event, 0) > 0)
		;
	seen.n = 0;
	assert_int_equal(read(ready[0], &c, 1), 1);
	close(ready[0]);
	close(go[1]);
	reap(pid);
	/*
	 * Both sources queue before the parent is woken: read the socket
	 * here, not through the watch.  Five exits (four threads, then the
	 * group), one datagram: the group's.
	 */
	for (;;) {
		union {
			struct nlmsghdr h;
			uint8_t b[8192];
		} buf;
		ssize_t n = recv(exitwatch_fd(r->watch, r->src), &buf, sizeof(buf), MSG_DONTWAIT);
		ProcConnectorEvent ev;
		pid_t tgid;

		if (n < 0) {
			assert_int_equal(errno, EAGAIN);
			break;
		}
		if (r->src == EXIT_SOURCE_TASKSTATS) {
			if (buf.h.nlmsg_type == NLMSG_ERROR || buf.h.nlmsg_type == NLMSG_DONE)
				continue;
			/* The family id: the one the watch's parser takes (its first message's). */
			assert_int_equal(taskstats_parse_exit(&buf, (size_t)n, buf.h.nlmsg_type, &tgid), 1);
		} else {
			assert_int_equal(proc_connector_parse(&buf, (size_t)n, &ev), 0);
			if (ev.what == PROC_EVENT_NONE)
				continue;
			assert_true(proc_connector_event_is_group_exit(&ev));
			tgid = ev.tgid;
		}
		assert_int_equal(tgid, pid);
		seen.n++;
	}
	assert_int_equal(seen.n, 1);
}

static void test_sources_named(void **state)
{
	assert_string_equal(exit_source_to_string(EXIT_SOURCE_TASKSTATS), "taskstats");
	assert_string_equal(exit_source_to_string(EXIT_SOURCE_PROC_CONNECTOR), "proc connector");
	assert_null(exit_source_to_string(_EXIT_SOURCE_MAX));
	assert_false(exitwatch_has(NULL, EXIT_SOURCE_TASKSTATS));
	assert_int_equal(exitwatch_fd(NULL, EXIT_SOURCE_TASKSTATS), -ENODEV);
	assert_null(exitwatch_free(NULL));
}

static unsigned count_fds(void)
{
	_cleanup_closedir_ DIR *d = opendir("/proc/self/fd");
	unsigned n = 0;

	assert_non_null(d);
	while (readdir(d))
		n++;
	return n;
}

/* Sources switched off open nothing: no socket, no probe child. */
static void test_sources_off(void **state)
{
	static const ExitWatchCallbacks cb = { .exited = on_exited, .lost = on_lost };
	_cleanup_(exitwatch_freep) ExitWatch *w = NULL;
	sd_event *e = NULL;
	unsigned before;

	assert_int_equal(sd_event_new(&e), 0);
	before = count_fds();
	assert_int_equal(exitwatch_new(e, 0, &cb, NULL, &w), 0);
	assert_non_null(w);
	for (ExitSource s = 0; s < _EXIT_SOURCE_MAX; s++) {
		assert_false(exitwatch_has(w, s));
		assert_int_equal(exitwatch_fd(w, s), -ENODEV);
	}
	assert_int_equal(count_fds(), before);
	/* No probe child was forked: nothing to reap. */
	assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
	w = exitwatch_free(w);
	assert_int_equal(exitwatch_new(e, EXITWATCH_ALL + 4, &cb, NULL, &w), -EINVAL);
	sd_event_unref(e);
}

#define REAL(name, f, setup) { name, f, setup, teardown_real, NULL }

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ts_single_threaded),
		cmocka_unit_test(test_ts_thread_of_live_group),
		cmocka_unit_test(test_ts_last_thread),
		cmocka_unit_test(test_ts_old_versions),
		cmocka_unit_test(test_ts_bad),
		cmocka_unit_test(test_cn_exit),
		cmocka_unit_test(test_cn_ack),
		cmocka_unit_test(test_cn_bad),
		cmocka_unit_test(test_cpulist),
		cmocka_unit_test(test_sources_named),
		cmocka_unit_test(test_sources_off),
		REAL("taskstats_single", test_real_single, setup_taskstats),
		REAL("taskstats_threads", test_real_threads, setup_taskstats),
		REAL("taskstats_lost", test_real_lost, setup_taskstats),
		REAL("proc_connector_single", test_real_single, setup_proc),
		REAL("proc_connector_threads", test_real_threads, setup_proc),
		REAL("proc_connector_lost", test_real_lost, setup_proc),
		REAL("taskstats_filtered", test_real_filtered, setup_taskstats),
		REAL("taskstats_filtered_threads", test_real_filtered_threads, setup_taskstats),
		REAL("proc_connector_filtered", test_real_filtered, setup_proc),
		REAL("proc_connector_filtered_threads", test_real_filtered_threads, setup_proc),
		REAL("both_filtered", test_real_both_filtered, setup_both),
	};

	log_set_target_stderr(true);
	return cmocka_run_group_tests_name("exitwatch", tests, NULL, NULL);
}
