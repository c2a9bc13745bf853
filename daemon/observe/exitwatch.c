// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The sockets of exitwatch: a taskstats listener (generic netlink) and a
 * proc connector listener, each on the sd-event loop, nonblocking, with big
 * receive buffers.  Messages are handed to the pure parsers of
 * exitwatch-parse.c; what they accept is reported through the callbacks.
 */
#include <inttypes.h>
#include <linux/cn_proc.h>
#include <linux/connector.h>
#include <linux/netlink.h>
#include <linux/taskstats.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>

#include "exitfilter.h"
#include "exitwatch.h"
#include "log.h"
#include "util.h"

/*
 * Kernel memory, not ours: enough for seconds of a 10,000 exits/s storm
 * while the loop is busy elsewhere.  An overrun still is reported (lost).
 */
#define EXITWATCH_RCVBUF (8 * 1024 * 1024)
/* Datagrams handled per wake-up before other event sources get a turn. */
#define EXITWATCH_BATCH 256
/*
 * A receive buffer every exit message fits in many times over (taskstats:
 * two records of a few hundred bytes), so that each is read with one
 * recvmsg(), not libnl's MSG_PEEK for its size first.  A longer message
 * would come truncated: libnl reports it, and a rescan follows.
 */
#define EXITWATCH_MSG_BUF (16 * 1024)

/*
 * Linux 6.6+ accepts this instead of the bare operation to filter events
 * per socket (struct proc_input in <linux/cn_proc.h>); older kernels ignore
 * a request of this size, so it is only ever sent after a plain LISTEN.
 */
struct proc_input_v1 {
	uint32_t mcast_op;
	uint32_t event_type;
};

typedef struct NlSource {
	ExitWatch *watch;
	ExitSource kind;
	struct nl_sock *sk;
	struct nl_cb *cb;
	sd_event_source *io;
	int family;     /* taskstats: generic netlink family id */
	char *cpulist;  /* taskstats: the CPUs registered for */
	TaskstatsLayout layout; /* taskstats: its messages, as the probe child's exit showed */
	bool have_layout;
	bool filtered;  /* a BPF filter is attached */
	uint64_t empty_usec; /* CLOCK_MONOTONIC before the last read that found nothing, 0: none */
	uint64_t n_lost, n_malformed, n_foreign;
} NlSource;

struct ExitWatch {
	sd_event *event;
	ExitWatchCallbacks cb;
	void *userdata;
	NlSource src[_EXIT_SOURCE_MAX];
};

static const char *const source_names[_EXIT_SOURCE_MAX] = {
	[EXIT_SOURCE_TASKSTATS] = "taskstats",
	[EXIT_SOURCE_PROC_CONNECTOR] = "proc connector",
};

const char *exit_source_to_string(ExitSource s)
{
	return s >= 0 && s < _EXIT_SOURCE_MAX ? source_names[s] : NULL;
}

/* libnl speaks its own error codes; the rest of smmud speaks errno. */
static int nlerr_to_errno(int e)
{
	static const int map[] = {
		[NLE_INTR] = EINTR,         [NLE_BAD_SOCK] = EBADF,
		[NLE_AGAIN] = EAGAIN,       [NLE_NOMEM] = ENOMEM,
		[NLE_EXIST] = EEXIST,       [NLE_INVAL] = EINVAL,
		[NLE_RANGE] = ERANGE,       [NLE_MSGSIZE] = EMSGSIZE,
		[NLE_OPNOTSUPP] = EOPNOTSUPP, [NLE_AF_NOSUPPORT] = EAFNOSUPPORT,
		[NLE_OBJ_NOTFOUND] = ENOENT, [NLE_MSG_OVERFLOW] = ENOBUFS,
		[NLE_MSG_TRUNC] = EMSGSIZE, [NLE_SEQ_MISMATCH] = EILSEQ,
		[NLE_PROTO_MISMATCH] = EPROTONOSUPPORT, [NLE_NOACCESS] = EACCES,
		[NLE_PERM] = EPERM,         [NLE_NODEV] = ENODEV,
		[NLE_BUSY] = EBUSY,
	};

	e = e < 0 ? -e : e;
	if (e > 0 && (size_t)e < ELEMENTSOF(map) && map[e])
		return -map[e];
	return -EIO;
}

/* libnl folds errnos it has no code for into NLE_FAILURE; sendmsg's is still in errno. */
static int send_errno(int r)
{
	if (r == -NLE_FAILURE && errno > 0)
		return -errno;
	return nlerr_to_errno(r);
}

static void set_rcvbuf(int fd, int size)
{
	/* FORCE passes rmem_max when we may (CAP_NET_ADMIN); else ask nicely. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0 &&
	    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size)) < 0)
		log_debug_errno(negative_errno(), "Cannot enlarge netlink receive buffer: %m");
}

static void nl_msg_freep(struct nl_msg **m)
{
	if (*m)
		nlmsg_free(*m);
}

static void nl_cb_putp(struct nl_cb **cb)
{
	if (*cb)
		nl_cb_put(*cb);
}

/* Logs the first occurrence and then each power of two: visible, not a flood. */
static bool log_this_time(uint64_t count)
{
	return (count & (count - 1)) == 0;
}

/* Only the kernel (port 0) may tell us about exits: user sockets can unicast to us too. */
static bool from_kernel(struct nl_msg *msg, NlSource *s)
{
	if (nlmsg_get_src(msg)->nl_pid == 0)
		return true;
	s->n_foreign++;
	if (log_this_time(s->n_foreign))
		log_warning("Ignoring %s message from user space port %u (%" PRIu64 " so far)",
			    source_names[s->kind], nlmsg_get_src(msg)->nl_pid, s->n_foreign);
	return false;
}

static void count_malformed(NlSource *s, int r)
{
	s->n_malformed++;
	if (log_this_time(s->n_malformed))
		log_warning_errno(r, "Ignoring malformed %s message (%" PRIu64 " so far): %m",
				  source_names[s->kind], s->n_malformed);
}

static int on_taskstats_msg(struct nl_msg *msg, void *arg)
{
	NlSource *s = arg;
	struct nlmsghdr *nlh = nlmsg_hdr(msg);
	pid_t tgid;
	int r;

	if (!from_kernel(msg, s))
		return NL_SKIP;
	r = taskstats_parse_exit(nlh, nlh->nlmsg_len, (uint16_t)s->family, &tgid);
	if (r < 0)
		count_malformed(s, r);
	else if (r > 0 && s->watch->cb.exited)
		s->watch->cb.exited(tgid, EXIT_SOURCE_TASKSTATS, now_usec(CLOCK_MONOTONIC),
				    s->watch->userdata);
	return NL_SKIP;
}

static int on_proc_msg(struct nl_msg *msg, void *arg)
{
	NlSource *s = arg;
	struct nlmsghdr *nlh = nlmsg_hdr(msg);
	ProcConnectorEvent ev;
	int r;

	if (!from_kernel(msg, s))
		return NL_SKIP;
	r = proc_connector_parse(nlh, nlh->nlmsg_len, &ev);
	if (r < 0)
		count_malformed(s, r);
	else if (proc_connector_event_is_group_exit(&ev) && s->watch->cb.exited)
		s->watch->cb.exited(ev.tgid, EXIT_SOURCE_PROC_CONNECTOR, ev.timestamp_ns / 1000,
				    s->watch->userdata);
	return NL_SKIP;
}

static void read_without_peek(struct nl_sock *sk)
{
	/* On failure libnl keeps peeking: a syscall more per message, nothing lost. */
	if (nl_socket_set_msg_buf_size(sk, EXITWATCH_MSG_BUF) == 0)
		nl_socket_disable_msg_peek(sk);
}

static int on_io(sd_event_source *es, int fd, uint32_t revents, void *userdata)
{
	NlSource *s = userdata;

	for (unsigned i = 0; i < EXITWATCH_BATCH; i++) {
		/* Taken before the read: what the queue holds after it came later. */
		uint64_t before = now_usec(CLOCK_MONOTONIC);
		int r = nl_recvmsgs_report(s->sk, s->cb);

		if (r == 0 || r == -NLE_AGAIN) {
			s->empty_usec = before;
			break;
		}
		if (r > 0)
			continue;
		/*
		 * ENOBUFS (the queue overran: exits were dropped) or any
		 * other receive error: we cannot know what we missed, so the
		 * caller rescans.  The socket stays usable.
		 */
		s->n_lost++;
		s->empty_usec = 0;
		if (log_this_time(s->n_lost))
			/* libnl reports the kernel's ENOBUFS as NLE_NOMEM. */
			log_warning_errno(r == -NLE_NOMEM ? -ENOBUFS : nlerr_to_errno(r),
					  "Lost %s events, rescanning (%" PRIu64 " times so far): %m",
					  source_names[s->kind], s->n_lost);
		if (s->watch->cb.lost)
			s->watch->cb.lost(s->kind, s->watch->userdata);
		break;
	}
	return 0;
}

static void source_close(NlSource *s)
{
	s->io = sd_event_source_disable_unref(s->io);
	if (s->cb) {
		nl_cb_put(s->cb);
		s->cb = NULL;
	}
	if (s->sk) {
		nl_socket_free(s->sk);
		s->sk = NULL;
	}
	free(s->cpulist);
	s->cpulist = NULL;
}

static int source_attach(ExitWatch *w, NlSource *s, nl_recvmsg_msg_cb_t handler)
{
	int r;

	s->cb = nl_cb_alloc(NL_CB_DEFAULT);
	if (!s->cb)
		return -ENOMEM;
	/* Every message goes to our handler first, and only there. */
	r = nl_cb_set(s->cb, NL_CB_MSG_IN, NL_CB_CUSTOM, handler, s);
	if (r < 0)
		return nlerr_to_errno(r);
	r = sd_event_add_io(w->event, &s->io, nl_socket_get_fd(s->sk), EPOLLIN, on_io, s);
	if (r < 0)
		return r;
	r = sd_event_source_set_description(s->io, s->kind == EXIT_SOURCE_TASKSTATS
							   ? "exitwatch-taskstats"
							   : "exitwatch-proc-connector");
	return r < 0 ? r : 0;
}

/*
 * The acknowledgement wait of both sources: the kernel answers their
 * requests inside our sendmsg(), so an empty queue (the socket is
 * nonblocking) means no answer is coming (-ENOMSG).  CB's callbacks set
 * *DONE once they see it.  An overrun (NLE_NOMEM, the kernel's ENOBUFS)
 * only dropped exit events nobody listens to yet: keep reading.
 */
static int recv_until_ack(NlSource *s, struct nl_cb *cb, const bool *done)
{
	while (!*done) {
		int r = nl_recvmsgs_report(s->sk, cb);

		if (*done)
			break;
		if (r == 0 || r == -NLE_AGAIN)
			return -ENOMSG;
		if (r < 0 && r != -NLE_NOMEM)
			return nlerr_to_errno(r);
	}
	return 0;
}

/* ---- taskstats -------------------------------------------------------------- */

typedef struct AckWait {
	NlSource *source;
	uint32_t seq;
	bool done;
	int error; /* -errno from the kernel's answer */
} AckWait;

static int ack_skip_foreign(struct nl_msg *msg, void *arg)
{
	AckWait *a = arg;

	return from_kernel(msg, a->source) ? NL_OK : NL_SKIP;
}

static int ack_ok(struct nl_msg *msg, void *arg)
{
	AckWait *a = arg;

	if (nlmsg_hdr(msg)->nlmsg_seq == a->seq) {
		a->done = true;
		a->error = 0;
	}
	return NL_OK;
}

static int ack_err(struct sockaddr_nl *nla, struct nlmsgerr *e, void *arg)
{
	AckWait *a = arg;

	if (e->msg.nlmsg_seq == a->seq) {
		a->done = true;
		a->error = e->error < 0 ? e->error : -EIO;
	}
	return NL_SKIP;
}

static int ack_seq_any(struct nl_msg *msg, void *arg)
{
	return NL_OK;
}

/*
 * The kernel answers a generic netlink request inside our sendmsg(), so the
 * answer is queued by now: read (nonblocking) until it shows up.  Exit
 * notifications queued before it are dropped: nobody is listening yet.
 */
static int taskstats_wait_ack(NlSource *s, uint32_t seq)
{
	_cleanup_(nl_cb_putp) struct nl_cb *cb = nl_cb_alloc(NL_CB_DEFAULT);
	AckWait a = { .source = s, .seq = seq };
	int r;

	if (!cb)
		return -ENOMEM;
	nl_cb_set(cb, NL_CB_MSG_IN, NL_CB_CUSTOM, ack_skip_foreign, &a);
	nl_cb_set(cb, NL_CB_SEQ_CHECK, NL_CB_CUSTOM, ack_seq_any, NULL);
	nl_cb_set(cb, NL_CB_ACK, NL_CB_CUSTOM, ack_ok, &a);
	nl_cb_err(cb, NL_CB_CUSTOM, ack_err, &a);

	r = recv_until_ack(s, cb, &a.done);
	if (r < 0)
		return r;
	return a.error;
}

static int taskstats_command(NlSource *s, int attr, bool wait)
{
	_cleanup_(nl_msg_freep) struct nl_msg *m = nlmsg_alloc();
	int r;

	if (!m)
		return -ENOMEM;
	if (!genlmsg_put(m, NL_AUTO_PORT, NL_AUTO_SEQ, s->family, 0, 0, TASKSTATS_CMD_GET,
			 TASKSTATS_GENL_VERSION))
		return -ENOMEM;
	r = nla_put_string(m, attr, s->cpulist);
	if (r < 0)
		return nlerr_to_errno(r);
	r = nl_send_auto(s->sk, m);
	if (r < 0)
		return send_errno(r);
	return wait ? taskstats_wait_ack(s, nlmsg_hdr(m)->nlmsg_seq) : 0;
}

typedef struct SelfTest {
	NlSource *source;
	pid_t child;
	bool seen;
} SelfTest;

static int selftest_msg(struct nl_msg *msg, void *arg)
{
	SelfTest *t = arg;
	struct nlmsghdr *nlh = nlmsg_hdr(msg);
	pid_t tgid;

	if (from_kernel(msg, t->source) &&
	    taskstats_parse_exit(nlh, nlh->nlmsg_len, (uint16_t)t->source->family, &tgid) > 0 &&
	    tgid == t->child) {
		NlSource *s = t->source;
		int r;

		t->seen = true;
		/* A real exit message of this kernel: what its exit filter must look for. */
		r = taskstats_layout_learn(nlh, nlh->nlmsg_len, (uint16_t)s->family, t->child,
					   &s->layout);
		s->have_layout = r >= 0;
		if (r < 0)
			log_info_errno(r, "taskstats messages not understood well enough to filter them "
				       "in the kernel (%m): every process exit wakes smmud.");
		else
			log_debug("taskstats: struct version %u, taskstats at offset %u, %u-byte "
				  "exit messages: filtered in the kernel.",
				  s->layout.version, s->layout.stats_offset, s->layout.msg_len);
	}
	return NL_SKIP;
}

/*
 * Registration succeeds in any network namespace, but the kernel sends to
 * our port id in the initial one only: elsewhere nothing would ever
 * arrive, or another process's socket would get it.  So watch one exit of
 * our own.  taskstats_exit() runs before exit_notify() wakes the parent,
 * so once waitpid() returns the message is queued: no timing involved.
 */
/*
 * How many children the self-test may fork before it gives up: each try
 * that an overrun spoiled (other processes' exits filled the receive
 * buffer before ours was read) is taken again with a new child.
 */
#define SELFTEST_TRIES 5

/* One child's exit, looked for: 0 seen, -ENOBUFS lost in an overrun, -ENOMSG never sent. */
static int taskstats_selftest_once(NlSource *s, struct nl_cb *cb)
{
	SelfTest t = { .source = s };
	int status;

	nl_cb_set(cb, NL_CB_MSG_IN, NL_CB_CUSTOM, selftest_msg, &t);
	t.child = fork();
	if (t.child < 0)
		return negative_errno();
	if (t.child == 0)
		_exit(0);
	while (waitpid(t.child, &status, 0) < 0)
		if (errno != EINTR)
			return negative_errno();

	while (!t.seen) {
		int r = nl_recvmsgs_report(s->sk, cb);

		if (t.seen)
			break;
		if (r == 0 || r == -NLE_AGAIN)
			return -ENOMSG;
		/* libnl reports the kernel's ENOBUFS as NLE_NOMEM: ours may be among the lost. */
		if (r == -NLE_NOMEM)
			return -ENOBUFS;
		if (r < 0)
			return nlerr_to_errno(r);
	}
	return 0;
}

static int taskstats_selftest(NlSource *s)
{
	_cleanup_(nl_cb_putp) struct nl_cb *cb = nl_cb_alloc(NL_CB_DEFAULT);
	int r = -ENOBUFS;

	if (!cb)
		return -ENOMEM;
	for (unsigned i = 0; i < SELFTEST_TRIES && r == -ENOBUFS; i++) {
		r = taskstats_selftest_once(s, cb);
		if (r == -ENOBUFS)
			log_debug("taskstats self-test: the receive buffer overran, trying again.");
	}
	return r;
}

static int taskstats_start(ExitWatch *w, NlSource *s, const char **hint)
{
	_cleanup_free_ char *possible = NULL;
	int r;

	r = read_one_line_file("/sys/devices/system/cpu/possible", &possible);
	if (r < 0) {
		*hint = "cannot read /sys/devices/system/cpu/possible";
		return r;
	}
	r = taskstats_parse_cpulist(possible, &s->cpulist);
	if (r < 0) {
		*hint = "malformed /sys/devices/system/cpu/possible";
		return r;
	}

	s->sk = nl_socket_alloc();
	if (!s->sk)
		return -ENOMEM;
	/* Notifications carry the kernel's own sequence numbers. */
	nl_socket_disable_seq_check(s->sk);
	r = genl_connect(s->sk);
	if (r < 0)
		return nlerr_to_errno(r);
	s->family = genl_ctrl_resolve(s->sk, TASKSTATS_GENL_NAME);
	if (s->family < 0) {
		*hint = "no TASKSTATS generic netlink family: kernel without CONFIG_TASKSTATS?";
		return nlerr_to_errno(s->family);
	}
	set_rcvbuf(nl_socket_get_fd(s->sk), EXITWATCH_RCVBUF);
	read_without_peek(s->sk);
	r = nl_socket_set_nonblocking(s->sk);
	if (r < 0)
		return nlerr_to_errno(r);

	r = taskstats_command(s, TASKSTATS_CMD_ATTR_REGISTER_CPUMASK, true);
	if (r == -EPERM)
		*hint = "registering a listener needs CAP_NET_ADMIN in the initial user namespace";
	else if (r == -EINVAL)
		*hint = "the kernel refused the CPU mask, or we are not in the initial user and PID namespaces";
	if (r < 0)
		return r;
	r = taskstats_selftest(s);
	if (r < 0) {
		if (r == -ENOMSG)
			*hint = "registered, but our own child's exit never arrived: not in the initial network namespace?";
		else if (r == -ENOBUFS)
			*hint = "other processes' exits overran the receive buffer at every try of the self-test";
		(void)taskstats_command(s, TASKSTATS_CMD_ATTR_DEREGISTER_CPUMASK, false);
		return r;
	}
	return source_attach(w, s, on_taskstats_msg);
}

static void taskstats_stop(NlSource *s)
{
	int r;

	/*
	 * The kernel would drop us from its listener list only at its next
	 * failed send; say goodbye so it stops building messages for us now.
	 */
	if (s->sk && s->cpulist && s->io) {
		r = taskstats_command(s, TASKSTATS_CMD_ATTR_DEREGISTER_CPUMASK, false);
		if (r < 0)
			log_debug_errno(r, "Cannot deregister taskstats listener: %m");
	}
	source_close(s);
}

/* ---- proc connector ------------------------------------------------------- */

static int proc_send(NlSource *s, uint32_t op, uint32_t event_filter, uint32_t ack)
{
	_cleanup_(nl_msg_freep) struct nl_msg *m = nlmsg_alloc_simple(NLMSG_DONE, 0);
	union {
		struct cn_msg cn;
		uint8_t bytes[sizeof(struct cn_msg) + sizeof(struct proc_input_v1)];
	} buf = {};
	struct proc_input_v1 in = { .mcast_op = op, .event_type = event_filter };
	uint16_t len = event_filter ? sizeof(in) : sizeof(op);
	int r;

	if (!m)
		return -ENOMEM;
	buf.cn.id.idx = CN_IDX_PROC;
	buf.cn.id.val = CN_VAL_PROC;
	buf.cn.ack = ack;
	buf.cn.len = len;
	memcpy(buf.bytes + sizeof(struct cn_msg), &in, len);
	r = nlmsg_append(m, &buf, sizeof(struct cn_msg) + len, NLMSG_ALIGNTO);
	if (r < 0)
		return nlerr_to_errno(r);
	r = nl_send_auto(s->sk, m);
	if (r < 0)
		return send_errno(r);
	return 0;
}

typedef struct ProcAckWait {
	NlSource *source;
	uint32_t ack;
	bool done;
	uint32_t err;
} ProcAckWait;

static int proc_ack_msg(struct nl_msg *msg, void *arg)
{
	ProcAckWait *a = arg;
	struct nlmsghdr *nlh = nlmsg_hdr(msg);
	ProcConnectorEvent ev;

	if (!from_kernel(msg, a->source))
		return NL_SKIP;
	if (proc_connector_parse(nlh, nlh->nlmsg_len, &ev) == 0 && ev.what == PROC_EVENT_NONE &&
	    ev.ack == a->ack) {
		a->done = true;
		a->err = ev.err;
	}
	return NL_SKIP;
}

/*
 * The connector runs our request inside our sendmsg() and multicasts its
 * acknowledgement to every listener, us included: it is queued by now.  A
 * kernel that ignores the request (we are not in the initial user or PID
 * namespace) sends none, and would send us no events either.
 */
static int proc_wait_ack(NlSource *s, uint32_t ack)
{
	_cleanup_(nl_cb_putp) struct nl_cb *cb = nl_cb_alloc(NL_CB_DEFAULT);
	ProcAckWait a = { .source = s, .ack = ack };
	int r;

	if (!cb)
		return -ENOMEM;
	nl_cb_set(cb, NL_CB_MSG_IN, NL_CB_CUSTOM, proc_ack_msg, &a);

	r = recv_until_ack(s, cb, &a.done);
	if (r < 0)
		return r;
	return a.err ? -(int)a.err : 0;
}

static int proc_start(ExitWatch *w, NlSource *s, const char **hint)
{
	uint32_t port;
	int r;

	s->sk = nl_socket_alloc();
	if (!s->sk)
		return -ENOMEM;
	/* Multicast events carry per-CPU sequence numbers; the connector never acks. */
	nl_socket_disable_seq_check(s->sk);
	nl_socket_disable_auto_ack(s->sk);
	r = nl_connect(s->sk, NETLINK_CONNECTOR);
	if (r < 0) {
		*hint = "kernel without CONFIG_CONNECTOR?";
		return nlerr_to_errno(r);
	}
	r = nl_socket_add_membership(s->sk, CN_IDX_PROC);
	if (r < 0) {
		*hint = "joining the proc connector group needs CAP_NET_ADMIN on this kernel";
		return nlerr_to_errno(r);
	}
	set_rcvbuf(nl_socket_get_fd(s->sk), EXITWATCH_RCVBUF);
	read_without_peek(s->sk);
	r = nl_socket_set_nonblocking(s->sk);
	if (r < 0)
		return nlerr_to_errno(r);

	/* Our port id is unique among netlink sockets: no other listener's ack matches. */
	port = nl_socket_get_local_port(s->sk);
	r = proc_send(s, PROC_CN_MCAST_LISTEN, 0, port);
	if (r == -ECONNREFUSED)
		*hint = "the connector exists only in the initial network namespace";
	if (r < 0)
		return r;
	r = proc_wait_ack(s, port + 1);
	if (r == -ENOMSG)
		*hint = "no acknowledgement: kernel without CONFIG_PROC_EVENTS, or not in the initial user and PID namespaces";
	else if (r == -EPERM)
		*hint = "listening needs CAP_NET_ADMIN on this kernel";
	if (r < 0) {
		/* Undo the listen in case the kernel took it after all. */
		(void)proc_send(s, PROC_CN_MCAST_IGNORE, 0, 0);
		return r;
	}

	/* Narrow to exits where the kernel can (6.6+); the parser filters anyway. */
	r = proc_send(s, PROC_CN_MCAST_LISTEN, PROC_EVENT_EXIT, 0);
	if (r < 0)
		log_debug_errno(r, "Cannot set proc connector event filter: %m");

	return source_attach(w, s, on_proc_msg);
}

static void proc_stop(NlSource *s)
{
	/*
	 * The kernel counts listeners and keeps building events while the
	 * count is above zero; closing the socket does not lower it.
	 */
	if (s->sk && s->io)
		(void)proc_send(s, PROC_CN_MCAST_IGNORE, 0, 0);
	source_close(s);
}

/* ---- lifecycle -------------------------------------------------------------- */

/* What became of a source: running, asked for but unavailable, or off. */
static const char *source_state(const ExitWatch *w, unsigned sources, ExitSource s)
{
	if (w->src[s].io)
		return "yes";
	return sources & EXITWATCH_SOURCE(s) ? "unavailable" : "off";
}

int exitwatch_new(sd_event *e, unsigned sources, const ExitWatchCallbacks *cb, void *userdata,
		  ExitWatch **ret)
{
	ExitWatch *w;

	if (!e || !cb || !ret || (sources & ~EXITWATCH_ALL))
		return -EINVAL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->event = sd_event_ref(e);
	w->cb = *cb;
	w->userdata = userdata;

	for (ExitSource k = 0; k < _EXIT_SOURCE_MAX; k++) {
		NlSource *s = &w->src[k];
		const char *hint = NULL;
		int r;

		s->watch = w;
		s->kind = k;
		if (!(sources & EXITWATCH_SOURCE(k))) {
			log_debug("Exit events from %s: off by configuration", source_names[k]);
			continue;
		}
		r = k == EXIT_SOURCE_TASKSTATS ? taskstats_start(w, s, &hint) : proc_start(w, s, &hint);
		if (r == -ENOMEM) {
			exitwatch_free(w);
			return r;
		}
		if (r < 0) {
			/* Optional by design: say why once, run with what we have. */
			log_warning_errno(r, "Exit events from %s unavailable: %m%s%s%s", source_names[k],
					  hint ? " (" : "", hint ? hint : "", hint ? ")" : "");
			source_close(s);
			continue;
		}
		log_debug("Listening for exit events from %s", source_names[k]);
	}
	log_info("Exit events: taskstats %s, proc connector %s, pidfd per VM.",
		 source_state(w, sources, EXIT_SOURCE_TASKSTATS),
		 source_state(w, sources, EXIT_SOURCE_PROC_CONNECTOR));
	*ret = w;
	return 0;
}

ExitWatch *exitwatch_free(ExitWatch *w)
{
	if (!w)
		return NULL;
	taskstats_stop(&w->src[EXIT_SOURCE_TASKSTATS]);
	proc_stop(&w->src[EXIT_SOURCE_PROC_CONNECTOR]);
	sd_event_unref(w->event);
	free(w);
	return NULL;
}

static int attach_filter(NlSource *s, const pid_t *pids, size_t n, bool all)
{
	_cleanup_free_ struct sock_filter *prog = NULL;
	struct sock_fprog fprog;
	size_t len;
	int r;

	r = exit_filter_build(s->kind == EXIT_SOURCE_TASKSTATS ? &s->layout : NULL, pids, n, all,
			      &prog, &len);
	if (r < 0)
		return r;
	fprog = (struct sock_fprog){ .len = (unsigned short)len, .filter = prog };
	if (setsockopt(nl_socket_get_fd(s->sk), SOL_SOCKET, SO_ATTACH_FILTER, &fprog,
		       sizeof(fprog)) < 0)
		return negative_errno();
	s->filtered = true;
	return 0;
}

int exitwatch_set_filter(ExitWatch *w, const pid_t *pids, size_t n, bool all)
{
	bool taskstats_filtered = false;
	int ret = 0;

	if (!w || (!pids && n > 0 && !all))
		return -EINVAL;
	/* Taskstats first: whether it took this filter decides the proc connector's. */
	for (ExitSource k = 0; k < _EXIT_SOURCE_MAX; k++) {
		NlSource *s = &w->src[k];
		int r;

		if (!s->io || (k == EXIT_SOURCE_TASKSTATS && !s->have_layout))
			continue;
		if (k == EXIT_SOURCE_PROC_CONNECTOR && taskstats_filtered)
			/* Taskstats tells each of these deaths first: no copy of them, later. */
			r = attach_filter(s, NULL, 0, false);
		else
			r = attach_filter(s, pids, n, all);
		if (k == EXIT_SOURCE_TASKSTATS)
			taskstats_filtered = r >= 0;
		if (r < 0) {
			/* The socket keeps its last program, or none: more wake-ups, no exit lost. */
			log_debug_errno(r, "Cannot filter %s events in the kernel: %m", source_names[k]);
			if (ret == 0)
				ret = r;
		}
	}
	return ret;
}

bool exitwatch_filtered(ExitWatch *w, ExitSource s)
{
	return exitwatch_has(w, s) && w->src[s].filtered;
}

bool exitwatch_has(ExitWatch *w, ExitSource s)
{
	return w && s >= 0 && s < _EXIT_SOURCE_MAX && w->src[s].io;
}

uint64_t exitwatch_queued_after(ExitWatch *w, ExitSource s)
{
	return exitwatch_has(w, s) ? w->src[s].empty_usec : 0;
}

int exitwatch_fd(ExitWatch *w, ExitSource s)
{
	if (!exitwatch_has(w, s))
		return -ENODEV;
	return nl_socket_get_fd(w->src[s].sk);
}
