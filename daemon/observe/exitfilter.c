// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The exit sockets' BPF programs (exitfilter.h), assembled with symbolic
 * jump targets: classic BPF jumps only forward, at most 255 instructions
 * for a conditional one, so the layout below keeps every conditional jump
 * short (the set's comparisons each have their own "keep" next to them)
 * and uses BPF_JA, which has 32 bits, for the one long jump.
 *
 * taskstats (the shape learnt: S is the offset of struct taskstats, M1
 * the length of a message with the PID record only, M2 with both):
 *
 *	    ld   len			the message, nlmsghdr included
 *	    jeq  #M1, single
 *	    jeq  #M2, double, keep
 *	single: the nlmsghdr's length, type and the command, the headers of
 *	    AGGR_PID, PID and STATS, the struct's version; then
 *	    ldb  [S + ac_flag]; jset #AGROUP, 1, drop	one thread of a live group
 *	    ld   [S + ac_tgid]; ja set
 *	double: the same headers, and AGGR_TGID's, TGID's and its STATS's; then
 *	    ld   [M1 + 8]				the group's TGID
 *	set:    jeq #pid1, keep1 ... ret #0		or, for every group, ret keep
 *
 * proc connector (struct cn_msg and struct proc_event are fixed ABI):
 *
 *	    ld len; jge #end of process_tgid, 1, keep
 *	    cn_msg.id.idx == CN_IDX_PROC, cn_msg.id.val == CN_VAL_PROC, else keep
 *	    ld [what]; jeq #EXIT, exit; jeq #NONE, keep, drop
 *	exit: ld [process_pid]; tax; ld [process_tgid]; jeq x, set, drop
 */
#include <linux/acct.h>
#include <linux/cn_proc.h>
#include <linux/connector.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <linux/taskstats.h>

#include "exitfilter.h"
#include "util.h"

/* ---- constants as BPF loads see them -------------------------------------- */

/* What "ld [k]" loads from these four bytes: the packet big-endian. */
static uint32_t bpf_word(const void *p)
{
	const uint8_t *b = p;

	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/* What "ldh [k]" loads from these two bytes. */
static uint32_t bpf_half(const void *p)
{
	const uint8_t *b = p;

	return (uint32_t)b[0] << 8 | b[1];
}

static uint32_t word_u32(uint32_t host)
{
	return bpf_word(&host);
}

static uint32_t half_u16(uint16_t host)
{
	return bpf_half(&host);
}

/* A netlink attribute header (len, type), host-endian as the kernel writes it. */
static uint32_t word_nla(uint16_t len, uint16_t type)
{
	struct nlattr a = { .nla_len = len, .nla_type = type };

	return bpf_word(&a);
}

/* ---- learning the taskstats layout ------------------------------------------ */

static int nla_at(const uint8_t *msg, size_t len, size_t off, struct nlattr *ret)
{
	if (off + sizeof(*ret) > len)
		return -EBADMSG;
	memcpy(ret, msg + off, sizeof(*ret));
	if (ret->nla_len < sizeof(*ret) || off + ret->nla_len > len)
		return -EBADMSG;
	return 0;
}

int taskstats_layout_learn(const void *msg, size_t len, uint16_t family, pid_t pid,
			   TaskstatsLayout *ret)
{
	const uint8_t *m = msg;
	struct nlmsghdr nlh;
	struct genlmsghdr gh;
	struct nlattr aggr, id, a;
	uint32_t v, tgid;
	uint16_t version;
	uint8_t flag;
	size_t off, end;

	if (!msg || !ret || pid <= 0)
		return -EINVAL;
	if (len < NLMSG_HDRLEN + GENL_HDRLEN)
		return -EBADMSG;
	memcpy(&nlh, m, sizeof(nlh));
	memcpy(&gh, m + NLMSG_HDRLEN, sizeof(gh));
	if (nlh.nlmsg_len != len || nlh.nlmsg_type != family || gh.cmd != TASKSTATS_CMD_NEW)
		return -EBADMSG;

	/* One AGGR_PID nest, the whole message: the probe child was single-threaded. */
	off = NLMSG_HDRLEN + GENL_HDRLEN;
	if (nla_at(m, len, off, &aggr) < 0 ||
	    (aggr.nla_type & NLA_TYPE_MASK) != TASKSTATS_TYPE_AGGR_PID ||
	    off + NLA_ALIGN(aggr.nla_len) != len)
		return -EBADMSG;
	end = off + aggr.nla_len;

	off += NLA_HDRLEN;
	if (nla_at(m, end, off, &id) < 0 || id.nla_type != TASKSTATS_TYPE_PID ||
	    id.nla_len != NLA_HDRLEN + sizeof(uint32_t))
		return -EBADMSG;
	memcpy(&v, m + off + NLA_HDRLEN, sizeof(v));
	if (v != (uint32_t)pid)
		return -EBADMSG;
	off += NLA_ALIGN(id.nla_len);

	/* A pad where the kernel aligns the 64-bit struct, then the struct. */
	if (nla_at(m, end, off, &a) < 0)
		return -EBADMSG;
	if (a.nla_type == TASKSTATS_TYPE_NULL) {
		off += NLA_ALIGN(a.nla_len);
		if (nla_at(m, end, off, &a) < 0)
			return -EBADMSG;
	}
	if (a.nla_type != TASKSTATS_TYPE_STATS || off + a.nla_len != end ||
	    a.nla_len < NLA_HDRLEN + offsetof(struct taskstats, ac_flag) + 1)
		return -EBADMSG;
	off += NLA_HDRLEN;

	memcpy(&version, m + off + offsetof(struct taskstats, version), sizeof(version));
	memcpy(&flag, m + off + offsetof(struct taskstats, ac_flag), sizeof(flag));
	if (version < 12 ||
	    a.nla_len < NLA_HDRLEN + offsetof(struct taskstats, ac_tgid) + sizeof(uint32_t))
		return -EPROTONOSUPPORT;
	memcpy(&tgid, m + off + offsetof(struct taskstats, ac_tgid), sizeof(tgid));
	/* Its death is its group's: what every filter decision rests on. */
	if (!(flag & AGROUP) || tgid != (uint32_t)pid)
		return -EBADMSG;

	*ret = (TaskstatsLayout){
		.family = family,
		.msg_len = (uint32_t)len,
		.aggr_len = NLA_ALIGN(aggr.nla_len),
		.stats_offset = (uint32_t)off,
		.version = version,
		.aggr_nla_len = aggr.nla_len,
		.aggr_nla_type = aggr.nla_type,
		.pid_nla_len = id.nla_len,
		.pid_nla_type = id.nla_type,
		.stats_nla_len = a.nla_len,
		.stats_nla_type = a.nla_type,
	};
	return 0;
}

/* ---- a small assembler ------------------------------------------------------------ */

enum {
	LBL_NONE,
	LBL_KEEP,      /* the header checks' "keep": near them */
	LBL_DROP,
	LBL_SINGLE,
	LBL_DOUBLE,
	LBL_EXIT,
	LBL_SET,
	_LBL_MAX,
};

typedef struct Insn {
	struct sock_filter f;
	int jt, jf, ja;    /* label targets, LBL_NONE: the offset in f is meant */
} Insn;

typedef struct Prog {
	Insn *insns;
	size_t n, cap;
	size_t labels[_LBL_MAX];
	int error;
} Prog;

static void emit(Prog *p, uint16_t code, uint32_t k, int jt, int jf)
{
	Insn *n;

	if (p->error < 0)
		return;
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 64;

		n = realloc(p->insns, cap * sizeof(Insn));
		if (!n) {
			p->error = -ENOMEM;
			return;
		}
		p->insns = n;
		p->cap = cap;
	}
	p->insns[p->n++] = (Insn){ .f = { .code = code, .k = k }, .jt = jt, .jf = jf };
}

static void label(Prog *p, int l)
{
	p->labels[l] = p->n;
}

static void ld_len(Prog *p)
{
	emit(p, BPF_LD | BPF_W | BPF_LEN, 0, LBL_NONE, LBL_NONE);
}

static void ld(Prog *p, uint16_t size, uint32_t off)
{
	emit(p, BPF_LD | size | BPF_ABS, off, LBL_NONE, LBL_NONE);
}

/* if (A == k) goto jt else goto jf; LBL_NONE: the next instruction. */
static void jeq(Prog *p, uint32_t k, int jt, int jf)
{
	emit(p, BPF_JMP | BPF_JEQ | BPF_K, k, jt, jf);
}

/* Loads a field and keeps the message unless it holds k. */
static void expect(Prog *p, uint16_t size, uint32_t off, uint32_t k)
{
	ld(p, size, off);
	jeq(p, k, LBL_NONE, LBL_KEEP);
}

static void ret(Prog *p, uint32_t k)
{
	emit(p, BPF_RET | BPF_K, k, LBL_NONE, LBL_NONE);
}

static void ja(Prog *p, int l)
{
	emit(p, BPF_JMP | BPF_JA, 0, LBL_NONE, LBL_NONE);
	if (p->error >= 0)
		p->insns[p->n - 1].ja = l;
}

/* The set: A holds a pid as loaded; keep it if it is one of them. */
static void set(Prog *p, const pid_t *pids, size_t n, bool all)
{
	label(p, LBL_SET);
	if (all) {
		ret(p, EXIT_FILTER_KEEP);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		/* Equal: the next instruction keeps; else past it. */
		emit(p, BPF_JMP | BPF_JEQ | BPF_K, word_u32((uint32_t)pids[i]), LBL_NONE, LBL_NONE);
		if (p->error >= 0)
			p->insns[p->n - 1].f.jf = 1;
		ret(p, EXIT_FILTER_KEEP);
	}
	ret(p, EXIT_FILTER_DROP);
}

/* Where the checks jump: keep, drop, and the set (A holds the group's pid). */
static void verdicts(Prog *p, const pid_t *pids, size_t n, bool all)
{
	label(p, LBL_KEEP);
	ret(p, EXIT_FILTER_KEEP);
	label(p, LBL_DROP);
	ret(p, EXIT_FILTER_DROP);
	set(p, pids, n, all);
}

static int resolve(Prog *p, int l, size_t from, uint8_t *ret8, uint32_t *ret32)
{
	size_t to = p->labels[l];

	if (to <= from)
		return -EINVAL; /* classic BPF jumps forward only */
	if (ret8) {
		if (to - from - 1 > 255)
			return -E2BIG;
		*ret8 = (uint8_t)(to - from - 1);
	} else
		*ret32 = (uint32_t)(to - from - 1);
	return 0;
}

static int finish(Prog *p, struct sock_filter **ret, size_t *ret_len)
{
	_cleanup_free_ struct sock_filter *f = NULL;
	int r;

	if (p->error < 0)
		return p->error;
	if (p->n > BPF_MAXINSNS)
		return -E2BIG;
	f = calloc(p->n, sizeof(*f));
	if (!f)
		return -ENOMEM;
	for (size_t i = 0; i < p->n; i++) {
		Insn *in = &p->insns[i];

		f[i] = in->f;
		if (in->jt != LBL_NONE && (r = resolve(p, in->jt, i, &f[i].jt, NULL)) < 0)
			return r;
		if (in->jf != LBL_NONE && (r = resolve(p, in->jf, i, &f[i].jf, NULL)) < 0)
			return r;
		if (in->ja != LBL_NONE && (r = resolve(p, in->ja, i, NULL, &f[i].k)) < 0)
			return r;
	}
	*ret = TAKE_PTR(f);
	*ret_len = p->n;
	return 0;
}

/* ---- the programs ------------------------------------------------------------------- */

/* The headers both shapes start with: nlmsghdr, genlmsghdr, AGGR_PID, PID, STATS. */
static void taskstats_headers(Prog *p, const TaskstatsLayout *l, uint32_t len)
{
	expect(p, BPF_W, offsetof(struct nlmsghdr, nlmsg_len), word_u32(len));
	expect(p, BPF_H, offsetof(struct nlmsghdr, nlmsg_type), half_u16(l->family));
	expect(p, BPF_B, NLMSG_HDRLEN + offsetof(struct genlmsghdr, cmd), TASKSTATS_CMD_NEW);
	expect(p, BPF_W, NLMSG_HDRLEN + GENL_HDRLEN, word_nla(l->aggr_nla_len, l->aggr_nla_type));
	expect(p, BPF_W, NLMSG_HDRLEN + GENL_HDRLEN + NLA_HDRLEN,
	       word_nla(l->pid_nla_len, l->pid_nla_type));
	expect(p, BPF_W, l->stats_offset - NLA_HDRLEN, word_nla(l->stats_nla_len, l->stats_nla_type));
	expect(p, BPF_H, l->stats_offset + offsetof(struct taskstats, version), half_u16(l->version));
}

static void taskstats_program(Prog *p, const TaskstatsLayout *l, const pid_t *pids, size_t n,
			      bool all)
{
	uint32_t m1 = l->msg_len, m2 = l->msg_len + l->aggr_len;
	/* The TGID record: the PID record's layout, its types swapped, at M1. */
	uint16_t tgid_aggr_type = (l->aggr_nla_type & ~NLA_TYPE_MASK) | TASKSTATS_TYPE_AGGR_TGID;
	uint32_t tgid_stats = m1 + (l->stats_offset - (NLMSG_HDRLEN + GENL_HDRLEN));

	ld_len(p);
	jeq(p, m1, LBL_SINGLE, LBL_NONE);
	jeq(p, m2, LBL_DOUBLE, LBL_KEEP);

	label(p, LBL_SINGLE);
	taskstats_headers(p, l, m1);
	ld(p, BPF_B, l->stats_offset + offsetof(struct taskstats, ac_flag));
	emit(p, BPF_JMP | BPF_JSET | BPF_K, AGROUP, LBL_NONE, LBL_DROP);
	ld(p, BPF_W, l->stats_offset + offsetof(struct taskstats, ac_tgid));
	ja(p, LBL_SET);

	label(p, LBL_DOUBLE);
	taskstats_headers(p, l, m2);
	expect(p, BPF_W, m1, word_nla(l->aggr_nla_len, tgid_aggr_type));
	expect(p, BPF_W, m1 + NLA_HDRLEN, word_nla(l->pid_nla_len, TASKSTATS_TYPE_TGID));
	expect(p, BPF_W, tgid_stats - NLA_HDRLEN, word_nla(l->stats_nla_len, l->stats_nla_type));
	ld(p, BPF_W, m1 + 2 * NLA_HDRLEN);
	ja(p, LBL_SET);

	verdicts(p, pids, n, all);
}

#define CN_OFF (NLMSG_HDRLEN)
#define EV_OFF (NLMSG_HDRLEN + sizeof(struct cn_msg))
#define EXIT_PID_OFF (EV_OFF + offsetof(struct proc_event, event_data.exit.process_pid))
#define EXIT_TGID_OFF (EV_OFF + offsetof(struct proc_event, event_data.exit.process_tgid))

static void proc_connector_program(Prog *p, const pid_t *pids, size_t n, bool all)
{
	ld_len(p);
	emit(p, BPF_JMP | BPF_JGE | BPF_K, EXIT_TGID_OFF + sizeof(uint32_t), LBL_NONE, LBL_KEEP);
	expect(p, BPF_W, CN_OFF + offsetof(struct cn_msg, id.idx), word_u32(CN_IDX_PROC));
	expect(p, BPF_W, CN_OFF + offsetof(struct cn_msg, id.val), word_u32(CN_VAL_PROC));
	ld(p, BPF_W, EV_OFF + offsetof(struct proc_event, what));
	jeq(p, word_u32(PROC_EVENT_EXIT), LBL_EXIT, LBL_NONE);
	/* Acknowledgements are kept; forks, execs and the rest (before 6.6's filter) are not. */
	jeq(p, word_u32(PROC_EVENT_NONE), LBL_KEEP, LBL_DROP);

	label(p, LBL_EXIT);
	ld(p, BPF_W, EXIT_PID_OFF);
	emit(p, BPF_MISC | BPF_TAX, 0, LBL_NONE, LBL_NONE);
	ld(p, BPF_W, EXIT_TGID_OFF);
	/* A thread whose group lives on: pid != tgid. */
	emit(p, BPF_JMP | BPF_JEQ | BPF_X, 0, LBL_NONE, LBL_DROP);
	ja(p, LBL_SET);

	verdicts(p, pids, n, all);
}

int exit_filter_build(const TaskstatsLayout *layout, const pid_t *pids, size_t n, bool all,
		      struct sock_filter **ret, size_t *ret_len)
{
	Prog p = {};
	int r;

	if (!ret || !ret_len || (!pids && n > 0 && !all))
		return -EINVAL;
	if (n > EXIT_FILTER_PIDS_MAX)
		all = true;
	if (layout)
		taskstats_program(&p, layout, pids, n, all);
	else
		proc_connector_program(&p, pids, n, all);
	r = finish(&p, ret, ret_len);
	free(p.insns);
	return r;
}
