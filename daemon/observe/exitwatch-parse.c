// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The pure halves of exitwatch: turning one netlink message into "this
 * thread group died" or a clear refusal.  No I/O and no state, so the unit
 * tests and fuzz targets call them with crafted bytes.  Netlink framing and
 * attribute walking are libnl's (nlmsg_ok(), genlmsg_parse(), nla_parse());
 * the layout checks of what is inside the attributes are ours.
 */
#include <limits.h>
#include <stddef.h>
#include <linux/acct.h>
#include <linux/cn_proc.h>
#include <linux/connector.h>
#include <linux/taskstats.h>
#include <netlink/genl/genl.h>
#include <netlink/msg.h>

#include "exitwatch.h"
#include "util.h"

/* ac_flag and ac_tgid: what an exit needs from struct taskstats. */
#define TASKSTATS_MIN_LEN (offsetof(struct taskstats, ac_flag) + sizeof(uint8_t))
#define TASKSTATS_TGID_END (offsetof(struct taskstats, ac_tgid) + sizeof(uint32_t))
/* AGROUP and ac_tgid came with version 12 of the struct. */
#define TASKSTATS_VERSION_AGROUP 12

static struct nla_policy taskstats_policy[TASKSTATS_TYPE_MAX + 1] = {
	[TASKSTATS_TYPE_AGGR_PID] = { .type = NLA_NESTED },
	[TASKSTATS_TYPE_AGGR_TGID] = { .type = NLA_NESTED },
};

static struct nla_policy taskstats_aggr_policy[TASKSTATS_TYPE_MAX + 1] = {
	[TASKSTATS_TYPE_PID] = { .type = NLA_U32 },
	[TASKSTATS_TYPE_TGID] = { .type = NLA_U32 },
	[TASKSTATS_TYPE_STATS] = { .minlen = TASKSTATS_MIN_LEN },
};

static int pid_from_u32(uint32_t v, pid_t *ret)
{
	if (v == 0 || v > INT_MAX)
		return -EBADMSG;
	*ret = (pid_t)v;
	return 0;
}

/*
 * A message we do not understand is rejected whole: a caller that acted on
 * half of one could report the wrong process.
 */
int taskstats_parse_exit(const void *msg, size_t len, uint16_t family_id, pid_t *ret_tgid)
{
	struct nlmsghdr *nlh = (struct nlmsghdr *)msg;
	struct nlattr *tb[TASKSTATS_TYPE_MAX + 1], *in[TASKSTATS_TYPE_MAX + 1];
	const struct genlmsghdr *gh;
	const uint8_t *stats;
	uint16_t version;
	uint8_t flag;
	uint32_t v;
	pid_t pid, tgid;
	int slen;

	if (!msg || !ret_tgid || len > INT_MAX)
		return -EINVAL;
	if (!nlmsg_ok(nlh, (int)len) || nlh->nlmsg_type != family_id)
		return -EBADMSG;
	if (!genlmsg_valid_hdr(nlh, 0))
		return -EBADMSG;
	gh = nlmsg_data(nlh);
	if (gh->cmd != TASKSTATS_CMD_NEW)
		return -EBADMSG;
	if (genlmsg_parse(nlh, 0, tb, TASKSTATS_TYPE_MAX, taskstats_policy) < 0)
		return -EBADMSG;

	/* The whole group is gone: the kernel aggregated it for us. */
	if (tb[TASKSTATS_TYPE_AGGR_TGID]) {
		if (nla_parse_nested(in, TASKSTATS_TYPE_MAX, tb[TASKSTATS_TYPE_AGGR_TGID],
				     taskstats_aggr_policy) < 0 ||
		    !in[TASKSTATS_TYPE_TGID])
			return -EBADMSG;
		if (pid_from_u32(nla_get_u32(in[TASKSTATS_TYPE_TGID]), &tgid) < 0)
			return -EBADMSG;
		*ret_tgid = tgid;
		return 1;
	}

	if (!tb[TASKSTATS_TYPE_AGGR_PID])
		return -EBADMSG;
	if (nla_parse_nested(in, TASKSTATS_TYPE_MAX, tb[TASKSTATS_TYPE_AGGR_PID],
			     taskstats_aggr_policy) < 0 ||
	    !in[TASKSTATS_TYPE_PID] || !in[TASKSTATS_TYPE_STATS])
		return -EBADMSG;
	if (pid_from_u32(nla_get_u32(in[TASKSTATS_TYPE_PID]), &pid) < 0)
		return -EBADMSG;

	/* Attribute data is only 4-byte aligned: copy, never cast. */
	stats = nla_data(in[TASKSTATS_TYPE_STATS]);
	slen = nla_len(in[TASKSTATS_TYPE_STATS]);
	memcpy(&version, stats + offsetof(struct taskstats, version), sizeof(version));
	memcpy(&flag, stats + offsetof(struct taskstats, ac_flag), sizeof(flag));
	if (version == 0)
		return -EBADMSG;

	if (version < TASKSTATS_VERSION_AGROUP) {
		/*
		 * Old kernels say nothing about the group: a lone PID record
		 * is all a single-threaded process sends.  The caller matches
		 * it against the processes it knows; a thread's id matches none.
		 */
		*ret_tgid = pid;
		return 1;
	}
	if (!(flag & AGROUP))
		return 0; /* one thread of a group that lives on */

	tgid = pid;
	if ((size_t)slen >= TASKSTATS_TGID_END) {
		memcpy(&v, stats + offsetof(struct taskstats, ac_tgid), sizeof(v));
		if (pid_from_u32(v, &tgid) < 0)
			return -EBADMSG;
	}
	*ret_tgid = tgid;
	return 1;
}

/* struct proc_event up to the end of what each kind needs. */
#define PROC_EVENT_HDR_LEN offsetof(struct proc_event, event_data)
#define PROC_EVENT_EXIT_LEN \
	(offsetof(struct proc_event, event_data.exit.process_tgid) + sizeof(__kernel_pid_t))
#define PROC_EVENT_ACK_LEN (offsetof(struct proc_event, event_data.ack.err) + sizeof(uint32_t))

int proc_connector_parse(const void *msg, size_t len, ProcConnectorEvent *ret)
{
	struct nlmsghdr *nlh = (struct nlmsghdr *)msg;
	struct cn_msg cn;
	struct proc_event ev = {};
	ProcConnectorEvent out;
	const uint8_t *data;
	size_t avail;

	if (!msg || !ret || len > INT_MAX)
		return -EINVAL;
	if (!nlmsg_ok(nlh, (int)len))
		return -EBADMSG;
	avail = (size_t)nlmsg_datalen(nlh);
	if (avail < sizeof(cn))
		return -EBADMSG;
	data = nlmsg_data(nlh);
	memcpy(&cn, data, sizeof(cn));
	if (cn.id.idx != CN_IDX_PROC || cn.id.val != CN_VAL_PROC)
		return -EBADMSG;
	if (cn.len > avail - sizeof(cn) || cn.len < PROC_EVENT_HDR_LEN)
		return -EBADMSG;

	/* Newer kernels append fields: take what we know of, zero the rest. */
	memcpy(&ev, data + sizeof(cn), cn.len < sizeof(ev) ? (size_t)cn.len : sizeof(ev));

	out = (ProcConnectorEvent){
		.what = ev.what,
		.seq = cn.seq,
		.timestamp_ns = ev.timestamp_ns,
	};
	switch (ev.what) {
	case PROC_EVENT_EXIT:
		if (cn.len < PROC_EVENT_EXIT_LEN || ev.event_data.exit.process_pid <= 0 ||
		    ev.event_data.exit.process_tgid <= 0)
			return -EBADMSG;
		out.pid = ev.event_data.exit.process_pid;
		out.tgid = ev.event_data.exit.process_tgid;
		break;
	case PROC_EVENT_NONE:
		if (cn.len < PROC_EVENT_ACK_LEN)
			return -EBADMSG;
		out.ack = cn.ack;
		out.err = ev.event_data.ack.err;
		break;
	default:
		break;
	}
	*ret = out;
	return 0;
}

bool proc_connector_event_is_group_exit(const ProcConnectorEvent *ev)
{
	return ev->what == PROC_EVENT_EXIT && ev->pid == ev->tgid;
}

int taskstats_parse_cpulist(const char *text, char **ret)
{
	size_t n;
	const char *p;

	if (!text || !ret)
		return -EINVAL;
	n = strlen(text);
	if (n > 0 && text[n - 1] == '\n')
		n--;
	if (n == 0 || n > 4096)
		return -EINVAL;

	/* Ranges "a" or "a-b" with a <= b, separated by single commas. */
	p = text;
	while (p < text + n) {
		unsigned long a, b;
		char *end;

		if (*p < '0' || *p > '9')
			return -EINVAL;
		errno = 0;
		a = strtoul(p, &end, 10);
		if (errno || a > 65535)
			return -EINVAL;
		b = a;
		if (*end == '-') {
			p = end + 1;
			if (*p < '0' || *p > '9')
				return -EINVAL;
			b = strtoul(p, &end, 10);
			if (errno || b > 65535 || b < a)
				return -EINVAL;
		}
		p = end;
		if (p == text + n)
			break;
		if (*p != ',' || p + 1 == text + n)
			return -EINVAL;
		p++;
	}
	*ret = strndup(text, n);
	return *ret ? 0 : -ENOMEM;
}
