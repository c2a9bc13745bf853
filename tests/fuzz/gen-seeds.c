// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Writes the binary seeds of the netlink fuzz targets, built the way the
 * kernel builds them (libnl for the framing, the kernel's own structs):
 *   DIR/taskstats/NAME       2 bytes family id (LE) + one taskstats message
 *   DIR/proc-connector/NAME  one proc connector message
 * Usage: gen-seeds DIR (make fuzz-seeds writes tests/fuzz/corpus/).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <linux/acct.h>
#include <linux/cn_proc.h>
#include <linux/connector.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <linux/taskstats.h>
#include <netlink/genl/genl.h>
#include <netlink/msg.h>

#define FAMILY 0x17 /* what the kernel usually gives taskstats */

static const char *dir;

static void write_seed(const char *sub, const char *name, const void *prefix, size_t plen,
		       const void *data, size_t len)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, sub);
	(void)mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/%s/%s", dir, sub, name);
	f = fopen(path, "we");
	if (!f || (plen && fwrite(prefix, 1, plen, f) != plen) || fwrite(data, 1, len, f) != len ||
	    fclose(f) != 0) {
		perror(path);
		exit(1);
	}
}

/* A taskstats exit message: the nest type, the id attribute, the struct. */
static void taskstats_seed(const char *name, int nest, int idattr, uint32_t id, uint16_t version,
			   uint8_t flag, uint32_t tgid, size_t stats_len)
{
	struct nl_msg *msg = nlmsg_alloc();
	struct nlattr *n;
	struct taskstats ts = { 0 };
	uint8_t fam[2] = { FAMILY & 0xff, FAMILY >> 8 };
	struct nlmsghdr *nlh;

	ts.version = version;
	ts.ac_flag = flag;
	ts.ac_pid = id;
	ts.ac_tgid = tgid;
	ts.ac_exitcode = 0;
	snprintf(ts.ac_comm, sizeof(ts.ac_comm), "qemu-system-aar");
	if (!msg || !genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, FAMILY, 0, 0, TASKSTATS_CMD_NEW,
				 TASKSTATS_GENL_VERSION))
		exit(1);
	n = nla_nest_start(msg, nest);
	if (!n || nla_put_u32(msg, idattr, id) < 0 ||
	    (stats_len && nla_put(msg, TASKSTATS_TYPE_STATS, (int)stats_len, &ts) < 0))
		exit(1);
	nla_nest_end(msg, n);
	nlh = nlmsg_hdr(msg);
	write_seed("taskstats", name, fam, sizeof(fam), nlh, nlh->nlmsg_len);
	nlmsg_free(msg);
}

/*
 * As kernel/taskstats.c lays them out (nests without NLA_F_NESTED, no pad
 * on 64-bit hosts): the shapes the exit filters drop what they may.  With
 * tgid: the last thread of a group, PID and TGID records.
 */
static void taskstats_kernel_seed(const char *name, uint32_t pid, uint8_t flag, uint32_t tgid,
				  bool tgid_record)
{
	uint8_t buf[1024], fam[2] = { FAMILY & 0xff, FAMILY >> 8 };
	struct taskstats ts = { .version = TASKSTATS_VERSION };
	uint16_t stats_len = NLA_HDRLEN + sizeof(ts), aggr_len = 2 * NLA_HDRLEN + 4 + stats_len;
	struct nlmsghdr nlh = { .nlmsg_type = FAMILY, .nlmsg_seq = 7 };
	struct genlmsghdr gh = { .cmd = TASKSTATS_CMD_NEW, .version = TASKSTATS_GENL_VERSION };
	size_t n = sizeof(nlh);

	for (int r = 0; r < 1 + tgid_record; r++) {
		struct nlattr aggr = { aggr_len, r ? TASKSTATS_TYPE_AGGR_TGID : TASKSTATS_TYPE_AGGR_PID };
		struct nlattr id = { NLA_HDRLEN + 4, r ? TASKSTATS_TYPE_TGID : TASKSTATS_TYPE_PID };
		struct nlattr st = { stats_len, TASKSTATS_TYPE_STATS };
		uint32_t v = r ? tgid : pid;

		if (r == 0) {
			memcpy(buf + n, &gh, sizeof(gh));
			n += sizeof(gh);
		}
		ts.ac_flag = r ? 0 : flag;
		ts.ac_pid = v;
		ts.ac_tgid = tgid;
		memcpy(buf + n, &aggr, sizeof(aggr));
		memcpy(buf + n + NLA_HDRLEN, &id, sizeof(id));
		memcpy(buf + n + 2 * NLA_HDRLEN, &v, sizeof(v));
		memcpy(buf + n + 2 * NLA_HDRLEN + 4, &st, sizeof(st));
		memcpy(buf + n + 3 * NLA_HDRLEN + 4, &ts, sizeof(ts));
		n += aggr_len;
	}
	nlh.nlmsg_len = (uint32_t)n;
	memcpy(buf, &nlh, sizeof(nlh));
	write_seed("taskstats", name, fam, sizeof(fam), buf, n);
}

static void connector_seed(const char *name, uint32_t what, pid_t pid, pid_t tgid, uint32_t seq,
			   uint32_t ack, size_t ev_len)
{
	/* nlmsghdr, cn_msg (whose data[] is the proc_event), as the kernel lays them out. */
	uint32_t buf[(sizeof(struct nlmsghdr) + sizeof(struct cn_msg) + sizeof(struct proc_event)) / 4 + 1];
	struct nlmsghdr *nlh = (struct nlmsghdr *)buf;
	struct cn_msg *cn = (struct cn_msg *)(nlh + 1);
	struct proc_event e, *ev = &e;

	memset(buf, 0, sizeof(buf));
	memset(&e, 0, sizeof(e));
	nlh->nlmsg_len = (uint32_t)(sizeof(*nlh) + sizeof(*cn) + ev_len);
	nlh->nlmsg_type = NLMSG_DONE;
	cn->id.idx = CN_IDX_PROC;
	cn->id.val = CN_VAL_PROC;
	cn->seq = seq;
	cn->ack = ack;
	cn->len = (uint16_t)ev_len;
	ev->what = what;
	ev->cpu = 1;
	ev->timestamp_ns = 123456789012ULL;
	if (what == PROC_EVENT_EXIT) {
		ev->event_data.exit.process_pid = pid;
		ev->event_data.exit.process_tgid = tgid;
		ev->event_data.exit.exit_code = 9;
		ev->event_data.exit.exit_signal = 17;
		ev->event_data.exit.parent_pid = 1;
		ev->event_data.exit.parent_tgid = 1;
	} else if (what == PROC_EVENT_FORK) {
		ev->event_data.fork.parent_pid = 1;
		ev->event_data.fork.parent_tgid = 1;
		ev->event_data.fork.child_pid = pid;
		ev->event_data.fork.child_tgid = tgid;
	} else if (what == PROC_EVENT_NONE)
		ev->event_data.ack.err = 0;
	memcpy(cn + 1, ev, ev_len);
	write_seed("proc-connector", name, NULL, 0, buf, NLMSG_ALIGN(nlh->nlmsg_len));
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	dir = argv[1];
	(void)mkdir(dir, 0755);

	/* The death of a single-threaded VMM (AGROUP), and of its last thread. */
	taskstats_seed("pid-agroup-v14", TASKSTATS_TYPE_AGGR_PID, TASKSTATS_TYPE_PID, 4242,
		       TASKSTATS_VERSION, AGROUP, 4242, sizeof(struct taskstats));
	taskstats_seed("pid-thread-v14", TASKSTATS_TYPE_AGGR_PID, TASKSTATS_TYPE_PID, 4250,
		       TASKSTATS_VERSION, 0, 4242, sizeof(struct taskstats));
	taskstats_seed("tgid-aggr", TASKSTATS_TYPE_AGGR_TGID, TASKSTATS_TYPE_TGID, 4242,
		       TASKSTATS_VERSION, AGROUP, 4242, sizeof(struct taskstats));
	/* An old kernel's struct (version 8, no ac_tgid). */
	taskstats_seed("pid-v8-short", TASKSTATS_TYPE_AGGR_PID, TASKSTATS_TYPE_PID, 777, 8, 0, 0,
		       offsetof(struct taskstats, ac_tgid));
	taskstats_kernel_seed("kernel-group-death", 4242, AGROUP, 4242, false);
	taskstats_kernel_seed("kernel-thread", 4250, 0, 4242, false);
	taskstats_kernel_seed("kernel-last-thread", 4250, AGROUP, 4242, true);
	/* A PID record without its struct: malformed. */
	taskstats_seed("pid-no-stats", TASKSTATS_TYPE_AGGR_PID, TASKSTATS_TYPE_PID, 99,
		       TASKSTATS_VERSION, AGROUP, 99, 0);

	connector_seed("exit-leader", PROC_EVENT_EXIT, 4242, 4242, 1, 0, sizeof(struct proc_event));
	connector_seed("exit-thread", PROC_EVENT_EXIT, 4250, 4242, 2, 0, sizeof(struct proc_event));
	connector_seed("fork", PROC_EVENT_FORK, 4300, 4300, 3, 0, sizeof(struct proc_event));
	connector_seed("ack", PROC_EVENT_NONE, 0, 0, 0, 1, sizeof(struct proc_event));
	connector_seed("exit-short", PROC_EVENT_EXIT, 4242, 4242, 4, 0,
		       offsetof(struct proc_event, event_data.exit.process_tgid));
	return 0;
}
