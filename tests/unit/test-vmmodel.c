// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The VM and exit model, case by case: every sequence of events the
 * integration tests and the soak caught the daemon miscounting, and the
 * others an exit can come in, as tables.  A fake host (a few processes,
 * each running, exiting or gone, holding VFIO groups or not) answers the
 * model's probe; a scan reads it at its beginning, so that events can
 * come between a scan's reading and its end as they do in the daemon.
 * Each step names the events it must queue, and how many VMs are tracked
 * and exits counted after it.  Time is an argument: nothing sleeps.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "vmmodel.h"

#define GROUP_A 12       /* behind SMMU A */
#define GROUP_B 13       /* behind SMMU B */
#define GROUP_NONE 99    /* behind no known SMMU */
#define IOMMUFD 0xffff   /* in FakeProc.groups: an iommufd, no group */

typedef struct FakeProc {
	pid_t pid;
	VmProcessState state;
	uint64_t starttime;
	uint32_t groups[2];   /* the VFIO files it holds; 0: none */
	bool unreadable;      /* the probe cannot tell */
	bool zombie;          /* EXITING and past exit_files() */
} FakeProc;

typedef enum Op {
	SET,         /* the process is as proc says from now on (GONE: no such pid) */
	SCAN,        /* a whole scan, nothing between its reading and its end */
	SCAN_BEGIN,  /* a scan reads the host now ... */
	SCAN_END,    /* ... and ends now */
	SCAN_ABORT,
	TASKSTATS,   /* an exit event from before exit_files() */
	CONNECTOR,   /* an exit event from after it */
	PIDFD,       /* the pidfd of (pid, starttime) hung up */
	CLOSE,       /* a VFIO file of group was closed (UINT32_MAX: not a group's) */
	PROBE,       /* a look at pid alone (a VFIO open's): what the probe says of it */
	STOP,        /* a stop job for the VM pid's scope */
} Op;

typedef struct Step {
	Op op;
	FakeProc proc;        /* SET */
	pid_t pid;            /* TASKSTATS, CONNECTOR, PIDFD */
	uint64_t starttime;   /* PIDFD */
	uint32_t group;       /* CLOSE */
	const char *events;   /* queued by the step, "; "-separated; "" for none */
	int vms;              /* tracked after it */
	int exits;            /* counted after it */
} Step;

#define END { .op = -1 }
#define PROC(p, s, t, ...) { .op = SET, .proc = { .pid = (p), .state = (s), .starttime = (t), .groups = { __VA_ARGS__ } } }
#define UNREADABLE(p) { .op = SET, .proc = { .pid = (p), .unreadable = true } }
#define RUN(o, ev, v, x) { .op = (o), .events = (ev), .vms = (v), .exits = (x) }
#define EXIT(o, p, ev, v, x) { .op = (o), .pid = (p), .events = (ev), .vms = (v), .exits = (x) }
#define HANGUP(p, t, ev, v, x) { .op = PIDFD, .pid = (p), .starttime = (t), .events = (ev), .vms = (v), .exits = (x) }
#define CLOSED(g, ev, v, x) { .op = CLOSE, .group = (g), .events = (ev), .vms = (v), .exits = (x) }
#define LOOK(p, ev, v, x) { .op = PROBE, .pid = (p), .events = (ev), .vms = (v), .exits = (x) }
#define STOPJOB(p, ev, v, x) { .op = STOP, .pid = (p), .events = (ev), .vms = (v), .exits = (x) }

typedef struct Case {
	const char *name;
	Step steps[16];
	int unattributed;     /* after the last step, -1: not checked */
} Case;

#define R VM_PROCESS_RUNNING
#define X VM_PROCESS_EXITING
#define G VM_PROCESS_GONE

static const Case cases[] = {
	{ "an exit counted twice between exit_mm() and exit_files()", {
		/* The soak's 1 to 4 per thousand: taskstats counts the exit, a scan
		 * finds the dying VMM still holding its files, tracks it again, and
		 * its pidfd or proc connector event counts it again. */
		PROC(100, R, 1, GROUP_A),
		RUN(SCAN, "found 100", 1, 0),
		PROC(100, X, 1, GROUP_A),
		EXIT(TASKSTATS, 100, "exit 100 [taskstats] A", 0, 1),
		RUN(SCAN, "", 0, 1),
		PROC(100, X, 1),
		EXIT(CONNECTOR, 100, "", 0, 1),
		PROC(100, G, 0),
		RUN(SCAN, "", 0, 1),
		END }, 0 },
	{ "the proc connector during a scan that read the dying VM's files", {
		/* Commit 16ed08e: the proc connector's event during the scan forgot
		 * the counted exit; the scan's end tracked the VM again and "gone at
		 * discovery" counted it a second time. */
		PROC(100, R, 1, GROUP_A),
		RUN(SCAN, "found 100", 1, 0),
		PROC(100, X, 1, GROUP_A),
		EXIT(TASKSTATS, 100, "exit 100 [taskstats] A", 0, 1),
		RUN(SCAN_BEGIN, "", 0, 1),
		PROC(100, X, 1),
		EXIT(CONNECTOR, 100, "", 0, 1),
		PROC(100, G, 0),
		RUN(SCAN_END, "", 0, 1),
		HANGUP(100, 1, "", 0, 1),
		END }, 0 },
	{ "an exit counted during a scan that saw the VM alive", {
		/* No taskstats: the exit is counted from the proc connector while
		 * a scan runs that read the VM before it died. */
		PROC(100, R, 1, GROUP_A),
		RUN(SCAN, "found 100", 1, 0),
		RUN(SCAN_BEGIN, "", 1, 0),
		PROC(100, G, 0),
		EXIT(CONNECTOR, 100, "exit 100 [proc connector] A", 0, 1),
		RUN(SCAN_END, "", 0, 1),
		END }, 0 },
	{ "a close then an exit", {
		/* A graceful VMM shutdown closes its VFIO files, VFIO tears the
		 * domains down then; the exit that follows is no teardown. */
		PROC(100, R, 1, GROUP_A),
		RUN(SCAN, "found 100", 1, 0),
		PROC(100, R, 1),
		CLOSED(GROUP_A, "exit 100 [closed its VFIO files] A", 0, 1),
		PROC(100, X, 1),
		EXIT(TASKSTATS, 100, "", 0, 1),
		EXIT(CONNECTOR, 100, "", 0, 1),
		PROC(100, G, 0),
		HANGUP(100, 1, "", 0, 1),
		RUN(SCAN, "", 0, 1),
		END }, 0 },
	{ "a close by a dying VM is its exit", {
		/* Past exit_files(), before its exit event is handled. */
		PROC(100, R, 1, GROUP_A),
		RUN(SCAN, "found 100", 1, 0),
		PROC(100, X, 1),
		CLOSED(GROUP_A, "exit 100 [VFIO close] A", 0, 1),
		EXIT(TASKSTATS, 100, "", 0, 1),
		EXIT(CONNECTOR, 100, "", 0, 1),
		END }, 0 },
	{ "a close concerns the VMs holding that group only", {
		PROC(100, R, 1, GROUP_A),
		PROC(101, R, 2, GROUP_B),
		RUN(SCAN, "found 100; found 101", 2, 0),
		PROC(101, R, 2),
		CLOSED(GROUP_A, "", 2, 0),
		CLOSED(GROUP_B, "exit 101 [closed its VFIO files] B", 1, 1),
		/* The container, a device or iommufd: every VM is looked at. */
		PROC(100, R, 1),
		CLOSED(UINT32_MAX, "exit 100 [closed its VFIO files] A", 0, 2),
		END }, 0 },
	{ "a VM closing one of its groups stays a VM", {
		PROC(100, R, 1, GROUP_A, GROUP_B),
		RUN(SCAN, "found 100", 1, 0),
		PROC(100, R, 1, GROUP_B),
		CLOSED(GROUP_A, "", 1, 0),
		/* Its exit now counts against the group it still holds. */
		PROC(100, X, 1, GROUP_B),
		EXIT(TASKSTATS, 100, "exit 100 [taskstats] B", 0, 1),
		END }, 0 },
	{ "an iommufd alone tears nothing down", {
		PROC(100, R, 1, IOMMUFD),
		RUN(SCAN, "found 100", 1, 0),
		PROC(100, R, 1),
		CLOSED(UINT32_MAX, "dropped 100", 0, 0),
		PROC(100, X, 1),
		EXIT(TASKSTATS, 100, "", 0, 0),
		END }, 0 },
	{ "pid reuse with a queued event", {
		/* The VM dies unheard (its events queued behind the scan); a new
		 * VM takes its pid; the scan counts the old one, tracks the new
		 * one, and the old one's queued events must not count the new. */
		PROC(100, R, 1, GROUP_A),
		RUN(SCAN, "found 100", 1, 0),
		PROC(100, R, 7, GROUP_B),
		RUN(SCAN, "exit 100 [rescan] A; found 100", 1, 1),
		EXIT(TASKSTATS, 100, "", 1, 1),
		EXIT(CONNECTOR, 100, "", 1, 1),
		/* The old pidfd's hang-up names the old process. */
		HANGUP(100, 1, "", 1, 1),
		/* The new VM's own exit counts, against its own SMMU. */
		PROC(100, X, 7, GROUP_B),
		EXIT(TASKSTATS, 100, "exit 100 [taskstats] B", 0, 2),
		END }, 0 },
	{ "pid reuse while the probe cannot tell", {
		PROC(100, R, 1, GROUP_A),
		RUN(SCAN, "found 100", 1, 0),
		PROC(100, R, 7, GROUP_B),
		RUN(SCAN_BEGIN, "", 1, 0),
		UNREADABLE(100),
		/* The scan saw the new VM: the old one is gone all the same. */
		RUN(SCAN_END, "exit 100 [pid reused] A; found 100", 1, 1),
		END }, 0 },
	{ "a VM seen first at its exit", {
		/* Started after the last scan; taskstats comes before exit_files(). */
		PROC(300, X, 3, GROUP_B),
		EXIT(TASKSTATS, 300, "exit 300 [taskstats] B", 0, 1),
		/* A scan finds it still holding them: dying, not a VM. */
		RUN(SCAN, "", 0, 1),
		PROC(300, X, 3),
		EXIT(CONNECTOR, 300, "", 0, 1),
		PROC(300, G, 0),
		RUN(SCAN, "", 0, 1),
		END }, 0 },
	{ "an unknown exit is looked at only while its files may be open", {
		PROC(300, X, 3, GROUP_B),
		EXIT(CONNECTOR, 300, "", 0, 0),
		/* A stale event for a pid a running VM holds now: no exit of it. */
		PROC(301, R, 4, GROUP_A),
		EXIT(TASKSTATS, 301, "", 0, 0),
		/* Not a VM at all. */
		PROC(302, X, 5),
		EXIT(TASKSTATS, 302, "", 0, 0),
		EXIT(TASKSTATS, 303, "", 0, 0),
		END }, 0 },
	{ "every source tells, one exit counts", {
		PROC(100, R, 1, GROUP_A),
		RUN(SCAN, "found 100", 1, 0),
		PROC(100, X, 1, GROUP_A),
		EXIT(TASKSTATS, 100, "exit 100 [taskstats] A", 0, 1),
		EXIT(TASKSTATS, 100, "", 0, 1),
		PROC(100, X, 1),
		EXIT(CONNECTOR, 100, "", 0, 1),
		PROC(100, G, 0),
		HANGUP(100, 1, "", 0, 1),
		END }, 0 },
	{ "the pidfd alone", {
		PROC(100, R, 1, GROUP_A, GROUP_B),
		RUN(SCAN, "found 100", 1, 0),
		PROC(100, G, 0),
		HANGUP(100, 1, "exit 100 [pidfd] A,B", 0, 1),
		END }, 0 },
	{ "gone between its scan and its pidfd", {
		/* A VM a scan found, dead before its pidfd could be opened. */
		PROC(100, R, 1, GROUP_A),
		RUN(SCAN_BEGIN, "", 0, 0),
		PROC(100, G, 0),
		RUN(SCAN_END, "found 100", 1, 0),
		HANGUP(100, 1, "exit 100 [pidfd] A", 0, 1),
		END }, 0 },
	{ "a scan misses a VM that lost its files", {
		/* No close heard (no inotify): the next scan finds it out. */
		PROC(100, R, 1, GROUP_A),
		PROC(101, R, 2, GROUP_B),
		RUN(SCAN, "found 100; found 101", 2, 0),
		PROC(100, R, 1),
		PROC(101, X, 2),
		RUN(SCAN, "exit 101 [rescan] B; exit 100 [closed its VFIO files] A", 0, 2),
		END }, 0 },
	{ "a close during a scan is newer than the scan", {
		PROC(100, R, 1, GROUP_A),
		RUN(SCAN, "found 100", 1, 0),
		RUN(SCAN_BEGIN, "", 1, 0),
		PROC(100, R, 1),
		CLOSED(GROUP_A, "exit 100 [closed its VFIO files] A", 0, 1),
		/* The scan read the files before the close: not a VM again. */
		RUN(SCAN_END, "", 0, 1),
		END }, 0 },
	{ "an aborted scan changes nothing", {
		PROC(100, R, 1, GROUP_A),
		RUN(SCAN, "found 100", 1, 0),
		PROC(100, X, 1, GROUP_A),
		EXIT(TASKSTATS, 100, "exit 100 [taskstats] A", 0, 1),
		RUN(SCAN_BEGIN, "", 0, 1),
		RUN(SCAN_ABORT, "", 0, 1),
		PROC(100, X, 1),
		EXIT(CONNECTOR, 100, "", 0, 1),
		/* Forgotten (no scan runs): the same process could not be found again anyway. */
		PROC(101, R, 2, GROUP_A),
		RUN(SCAN, "found 101", 1, 1),
		END }, 0 },
	{ "the probe cannot tell: nothing changes", {
		PROC(100, R, 1, GROUP_A),
		RUN(SCAN, "found 100", 1, 0),
		UNREADABLE(100),
		CLOSED(GROUP_A, "", 1, 0),
		/* An exit event is believed then. */
		EXIT(TASKSTATS, 100, "exit 100 [taskstats] A", 0, 1),
		END }, 0 },
	{ "a stop job announces the exit once, and the exit carries it", {
		PROC(100, R, 1, GROUP_A),
		PROC(101, R, 2, GROUP_B),
		RUN(SCAN, "found 100; found 101", 2, 0),
		STOPJOB(100, "stopping 100 A", 2, 0),
		/* A second job for the same scope (systemctl kill, a retry): no news. */
		STOPJOB(100, "", 2, 0),
		/* A rescan renews the VM's record: the stop stays noted. */
		RUN(SCAN, "", 2, 0),
		PROC(100, X, 1, GROUP_A),
		EXIT(TASKSTATS, 100, "exit 100 [taskstats] A stopped", 1, 1),
		/* Not a VM's (any more): nothing to announce. */
		STOPJOB(100, "", 1, 1),
		STOPJOB(555, "", 1, 1),
		PROC(101, G, 0),
		EXIT(CONNECTOR, 101, "exit 101 [proc connector] B", 0, 2),
		END }, 0 },
	{ "a look at one process finds a VM, and concludes nothing else", {
		PROC(100, R, 1, GROUP_A),
		LOOK(100, "found 100", 1, 0),
		LOOK(100, "", 1, 0),
		/* Another VM, not looked at, gone or not: not the look's business. */
		PROC(101, R, 2, GROUP_B),
		PROC(100, G, 0),
		LOOK(101, "found 101", 2, 0),
		/* Its pid, to a new VM: the old one's exit went unheard. */
		PROC(100, R, 9, GROUP_B),
		LOOK(100, "exit 100 [pid reused] A; found 100", 2, 1),
		/* No VFIO files (yet): no VM. */
		PROC(102, R, 3),
		LOOK(102, "", 2, 1),
		END }, 0 },
	{ "a look during a scan is newer than the scan", {
		RUN(SCAN_BEGIN, "", 0, 0),
		PROC(100, R, 1, GROUP_A),
		LOOK(100, "found 100", 1, 0),
		/* The scan read the host before the VM opened its files. */
		RUN(SCAN_END, "", 1, 0),
		END }, 0 },
	{ "a look at a dying VM already counted", {
		PROC(100, R, 1, GROUP_A),
		RUN(SCAN, "found 100", 1, 0),
		PROC(100, X, 1, GROUP_A),
		EXIT(TASKSTATS, 100, "exit 100 [taskstats] A", 0, 1),
		LOOK(100, "", 0, 1),
		END }, 0 },
	{ "a VM behind no known SMMU", {
		PROC(100, R, 1, GROUP_NONE),
		RUN(SCAN, "found 100", 1, 0),
		PROC(100, G, 0),
		EXIT(CONNECTOR, 100, "exit 100 [proc connector] -", 0, 1),
		END }, 1 },
};

typedef struct Fake {
	FakeProc procs[8];
	size_t n_procs;
	Vm **read;            /* what a begun scan read */
	size_t n_read;
	Smmu smmus[2];
	uint32_t groups_a[1], groups_b[1];
	Topology topology;
	VmModel *model;
	uint64_t seen;        /* what a scan says of when it saw each VM (Vm.seen_usec) */
	unsigned n_probes;
	unsigned n_file_looks; /* the probes that read a process's files */
} Fake;

static FakeProc *fake_find(Fake *f, pid_t pid)
{
	for (size_t i = 0; i < f->n_procs; i++)
		if (f->procs[i].pid == pid)
			return &f->procs[i];
	return NULL;
}

static void fake_set(Fake *f, const FakeProc *p)
{
	FakeProc *old = fake_find(f, p->pid);

	if (old) {
		*old = *p;
		if (p->state == VM_PROCESS_GONE && !p->unreadable)
			*old = f->procs[--f->n_procs];
		return;
	}
	if (p->state == VM_PROCESS_GONE && !p->unreadable)
		return;
	assert_true(f->n_procs < ELEMENTSOF(f->procs));
	f->procs[f->n_procs++] = *p;
}

/* The VM p is, or NULL if it holds no VFIO file. */
static Vm *fake_vm(const FakeProc *p)
{
	Vm *vm;

	if (!p->groups[0])
		return NULL;
	vm = calloc(1, sizeof(Vm));
	assert_non_null(vm);
	vm->pid = p->pid;
	vm->starttime = p->starttime;
	vm->comm = strdup("qemu");
	vm->pinned_bytes = 1 << 20;
	for (size_t i = 0; i < ELEMENTSOF(p->groups) && p->groups[i]; i++) {
		if (p->groups[i] == IOMMUFD) {
			vm->iommufd = true;
			continue;
		}
		vm->groups = realloc(vm->groups, (vm->n_groups + 1) * sizeof(uint32_t));
		assert_non_null(vm->groups);
		vm->groups[vm->n_groups++] = p->groups[i];
	}
	return vm;
}

static int fake_probe(pid_t pid, bool want_files, VmProcess *ret, void *userdata)
{
	Fake *f = userdata;
	const FakeProc *p = fake_find(f, pid);

	f->n_probes++;
	f->n_file_looks += want_files;
	if (p && p->unreadable)
		return -EACCES;
	if (!p) {
		*ret = (VmProcess){ .state = VM_PROCESS_GONE };
		return 0;
	}
	*ret = (VmProcess){
		.state = p->state,
		.starttime = p->starttime,
		.vm = want_files ? fake_vm(p) : NULL,
		.zombie = p->zombie,
	};
	return 0;
}

/* What a scan reads: every process holding VFIO files. */
static void fake_read(Fake *f)
{
	vm_array_free(f->read, f->n_read);
	f->read = NULL;
	f->n_read = 0;
	for (size_t i = 0; i < f->n_procs; i++) {
		Vm *vm = f->procs[i].unreadable ? NULL : fake_vm(&f->procs[i]);

		if (!vm)
			continue;
		vm->seen_usec = f->seen;
		f->read = realloc(f->read, (f->n_read + 1) * sizeof(Vm *));
		assert_non_null(f->read);
		f->read[f->n_read++] = vm;
	}
}

static void fake_init(Fake *f)
{
	*f = (Fake){
		.groups_a = { GROUP_A },
		.groups_b = { GROUP_B },
	};
	f->smmus[0] = (Smmu){ .name = (char *)"A", .groups = f->groups_a, .n_groups = 1 };
	f->smmus[1] = (Smmu){ .name = (char *)"B", .groups = f->groups_b, .n_groups = 1 };
	f->topology = (Topology){ .smmus = f->smmus, .n_smmus = 2 };
	assert_int_equal(vm_model_new(fake_probe, f, &f->model), 0);
	vm_model_set_topology(f->model, &f->topology);
}

static void fake_done(Fake *f)
{
	vm_array_free(f->read, f->n_read);
	vm_model_free(f->model);
}

/* The events queued, as the tables write them. */
static void take_events(Fake *f, uint64_t now, char *buf, size_t size)
{
	VmEvent e;
	size_t len = 0;

	buf[0] = 0;
	while (vm_model_next_event(f->model, &e)) {
		char smmus[64] = "-";

		if (e.kind == VM_EVENT_EXIT || e.kind == VM_EVENT_STOPPING) {
			assert_int_equal(e.counted_usec, now);
			if (e.kind == VM_EVENT_EXIT) {
				assert_non_null(e.vm);
				assert_int_equal(e.vm->pid, e.pid);
			} else
				assert_non_null(vm_model_find(f->model, e.pid));
			for (size_t i = 0; i < e.n_smmus; i++)
				snprintf(smmus + (i ? strlen(smmus) : 0), sizeof(smmus) - (i ? strlen(smmus) : 0),
					 "%s%s", i ? "," : "", e.smmus[i]->name);
		}
		if (e.kind == VM_EVENT_FOUND) {
			/* Found: the model has it now. */
			assert_null(e.vm);
			assert_non_null(vm_model_find(f->model, e.pid));
		}
		len += (size_t)snprintf(buf + len, size - len, "%s", len ? "; " : "");
		switch (e.kind) {
		case VM_EVENT_FOUND:
			len += (size_t)snprintf(buf + len, size - len, "found %d", (int)e.pid);
			break;
		case VM_EVENT_EXIT:
			len += (size_t)snprintf(buf + len, size - len, "exit %d [%s] %s%s", (int)e.pid,
						e.source, smmus, e.vm->stopping_usec ? " stopped" : "");
			break;
		case VM_EVENT_STOPPING:
			len += (size_t)snprintf(buf + len, size - len, "stopping %d %s", (int)e.pid, smmus);
			break;
		case VM_EVENT_DROPPED:
			len += (size_t)snprintf(buf + len, size - len, "dropped %d", (int)e.pid);
			break;
		default:
			fail_msg("unknown event kind %d", e.kind);
		}
		assert_true(len < size);
		vm_event_done(&e);
	}
}

static void run_step(Fake *f, const Step *s, uint64_t now)
{
	switch (s->op) {
	case SET:
		fake_set(f, &s->proc);
		return;
	case SCAN:
		vm_model_scan_begin(f->model);
		fake_read(f);
		assert_int_equal(vm_model_scan_end(f->model, f->read, f->n_read, now), 0);
		break;
	case SCAN_BEGIN:
		vm_model_scan_begin(f->model);
		assert_true(vm_model_scanning(f->model));
		fake_read(f);
		break;
	case SCAN_END:
		assert_int_equal(vm_model_scan_end(f->model, f->read, f->n_read, now), 0);
		break;
	case SCAN_ABORT:
		vm_model_scan_abort(f->model);
		break;
	case TASKSTATS:
		assert_int_equal(vm_model_exit(f->model, s->pid, "taskstats", true, now - 1, 0, now), 0);
		break;
	case CONNECTOR:
		assert_int_equal(vm_model_exit(f->model, s->pid, "proc connector", false, now - 1, 0,
						 now), 0);
		break;
	case PIDFD:
		assert_int_equal(vm_model_gone(f->model, s->pid, s->starttime, "pidfd", now), 0);
		break;
	case CLOSE:
		/* Queued after the scans' time of seeing (0 in the tables: not known). */
		assert_int_equal(vm_model_vfio_closed(f->model, s->group, now - 1, now), 0);
		break;
	case PROBE: {
		const FakeProc *p = fake_find(f, s->pid);
		Vm *vm = p ? fake_vm(p) : NULL;

		if (vm)
			assert_int_equal(vm_model_probed(f->model, vm, now), 0);
		break;
	}
	case STOP: {
		int r = vm_model_stopping(f->model, s->pid, now);

		assert_true(r == 0 || r == -ESRCH);
		break;
	}
	}
	/* The scan's Vms are the model's now (or freed by it). */
	if (s->op == SCAN || s->op == SCAN_END) {
		for (size_t i = 0; i < f->n_read; i++)
			assert_null(f->read[i]);
		assert_false(vm_model_scanning(f->model));
	}
}

static void test_cases(void **state)
{
	for (size_t c = 0; c < ELEMENTSOF(cases); c++) {
		Fake f;

		print_message("case: %s\n", cases[c].name);
		fake_init(&f);
		for (size_t i = 0; cases[c].steps[i].op != (Op)-1; i++) {
			const Step *s = &cases[c].steps[i];
			uint64_t now = 1000000 + i * 1000;
			char events[512];

			run_step(&f, s, now);
			if (s->op == SET)
				continue;
			take_events(&f, now, events, sizeof(events));
			if (!streq(events, s->events))
				fail_msg("%s, step %zu: events '%s', want '%s'", cases[c].name, i, events,
					 s->events);
			assert_int_equal(vm_model_n_vms(f.model), s->vms);
			assert_int_equal(vm_model_exits_total(f.model), s->exits);
		}
		if (cases[c].unattributed >= 0)
			assert_int_equal(vm_model_exits_unattributed(f.model), cases[c].unattributed);
		fake_done(&f);
	}
}

/* The exit filter's set: the VMs and the exits counted with their files open. */
static void test_watched_pids(void **state)
{
	pid_t *pids = NULL;
	size_t n = 0;
	uint64_t gen;
	char events[512];
	Fake f;

	fake_init(&f);
	assert_int_equal(vm_model_watched_pids(f.model, &pids, &n), 0);
	assert_null(pids);
	assert_int_equal(n, 0);
	gen = vm_model_generation(f.model);
	fake_set(&f, &(FakeProc){ 300, VM_PROCESS_RUNNING, 3, { GROUP_A }, false, false });
	fake_set(&f, &(FakeProc){ 100, VM_PROCESS_RUNNING, 1, { GROUP_B }, false, false });
	vm_model_scan_begin(f.model);
	fake_read(&f);
	assert_int_equal(vm_model_scan_end(f.model, f.read, f.n_read, 1000), 0);
	take_events(&f, 1000, events, sizeof(events));
	assert_int_not_equal(vm_model_generation(f.model), gen);
	assert_int_equal(vm_model_watched_pids(f.model, &pids, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(pids[0], 100);
	assert_int_equal(pids[1], 300);
	free(pids);

	/* A rescan that changes nothing changes no generation. */
	gen = vm_model_generation(f.model);
	vm_model_scan_begin(f.model);
	fake_read(&f);
	assert_int_equal(vm_model_scan_end(f.model, f.read, f.n_read, 2000), 0);
	assert_int_equal(vm_model_generation(f.model), gen);

	/* Counted with its files open: still watched, for its proc connector event. */
	fake_set(&f, &(FakeProc){ 300, VM_PROCESS_EXITING, 3, { GROUP_A }, false, false });
	assert_int_equal(vm_model_exit(f.model, 300, "taskstats", true, 2999, 0, 3000), 0);
	take_events(&f, 3000, events, sizeof(events));
	assert_string_equal(events, "exit 300 [taskstats] A");
	assert_int_equal(vm_model_watched_pids(f.model, &pids, &n), 0);
	assert_int_equal(n, 2);
	free(pids);
	gen = vm_model_generation(f.model);
	assert_int_equal(vm_model_exit(f.model, 300, "proc connector", false, 3999, 0, 4000), 0);
	assert_int_not_equal(vm_model_generation(f.model), gen);
	assert_int_equal(vm_model_watched_pids(f.model, &pids, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(pids[0], 100);
	free(pids);
	fake_done(&f);
}

/* The pids the exit filter is to keep, as a bitmask of 100 (1), 200 (2) and 300 (4). */
static unsigned watched(Fake *f)
{
	pid_t *pids = NULL;
	unsigned mask = 0;
	size_t n = 0;

	assert_int_equal(vm_model_watched_pids(f->model, &pids, &n), 0);
	for (size_t i = 0; i < n; i++)
		mask |= pids[i] == 100 ? 1 : pids[i] == 200 ? 2 : pids[i] == 300 ? 4 : 8;
	free(pids);
	return mask;
}

/*
 * Dying exits with no proc connector event to end them (taskstats
 * filtered): asked about, they go once the process is past exit_files(),
 * whichever way it is, and stay while it is not or cannot be told.
 */
static void test_prune_dying(void **state)
{
	char events[512];
	uint64_t gen;
	Fake f;

	fake_init(&f);
	fake_set(&f, &(FakeProc){ 100, VM_PROCESS_RUNNING, 1, { GROUP_A }, false, false });
	fake_set(&f, &(FakeProc){ 200, VM_PROCESS_RUNNING, 2, { GROUP_A }, false, false });
	fake_set(&f, &(FakeProc){ 300, VM_PROCESS_RUNNING, 3, { GROUP_B }, false, false });
	run_step(&f, &(Step){ .op = SCAN }, 1000);
	take_events(&f, 1000, events, sizeof(events));
	for (pid_t pid = 100; pid <= 300; pid += 100) {
		fake_set(&f, &(FakeProc){ pid, VM_PROCESS_EXITING, (uint64_t)pid / 100,
					   { pid == 300 ? GROUP_B : GROUP_A }, false, false });
		run_step(&f, &(Step){ .op = TASKSTATS, .pid = pid }, 2000);
	}
	take_events(&f, 2000, events, sizeof(events));
	assert_string_equal(events, "exit 100 [taskstats] A; exit 200 [taskstats] A; exit 300 [taskstats] B");
	assert_int_equal(watched(&f), 7);

	/* All three still in do_exit(), or unreadable: nothing goes. */
	fake_set(&f, &(FakeProc){ 300, VM_PROCESS_EXITING, 3, { GROUP_B }, true, false });
	gen = vm_model_generation(f.model);
	vm_model_prune_dying(f.model);
	assert_int_equal(vm_model_generation(f.model), gen);
	assert_int_equal(watched(&f), 7);

	/* 100 a zombie, 200 reaped and its pid another's; a scan under way: they stay. */
	fake_set(&f, &(FakeProc){ 100, VM_PROCESS_EXITING, 1, {}, false, true });
	fake_set(&f, &(FakeProc){ 200, VM_PROCESS_RUNNING, 9, {}, false, false });
	run_step(&f, &(Step){ .op = SCAN_BEGIN }, 3000);
	vm_model_prune_dying(f.model);
	assert_int_equal(watched(&f), 7);
	run_step(&f, &(Step){ .op = SCAN_ABORT }, 3000);

	/* Then they go; 300 stays until it is told, then reaped, it goes too. */
	vm_model_prune_dying(f.model);
	assert_int_not_equal(vm_model_generation(f.model), gen);
	assert_int_equal(watched(&f), 4);
	fake_set(&f, &(FakeProc){ 300, VM_PROCESS_GONE, 0, {}, false, false });
	vm_model_prune_dying(f.model);
	assert_int_equal(watched(&f), 0);
	take_events(&f, 4000, events, sizeof(events));
	assert_string_equal(events, "");
	fake_done(&f);
}

/* A scan at now finds pid running and holding files (as FakeProc.groups), seen at seen. */
static void seen_vm(Fake *f, pid_t pid, uint64_t starttime, uint32_t file0, uint32_t file1,
		    uint64_t seen, uint64_t now)
{
	char events[512];

	f->seen = seen;
	fake_set(f, &(FakeProc){ pid, VM_PROCESS_RUNNING, starttime, { file0, file1 }, false, false });
	vm_model_scan_begin(f->model);
	fake_read(f);
	assert_int_equal(vm_model_scan_end(f->model, f->read, f->n_read, now), 0);
	take_events(f, now, events, sizeof(events));
}

/* ... holding GROUP_A alone. */
static void track_seen(Fake *f, pid_t pid, uint64_t starttime, uint64_t seen, uint64_t now)
{
	seen_vm(f, pid, starttime, GROUP_A, 0, seen, now);
}

/* The events of a taskstats exit of pid queued after queued_after, and the probes it took. */
static unsigned exit_queued_after(Fake *f, pid_t pid, uint64_t queued_after, uint64_t now,
				  char *events, size_t size)
{
	unsigned probes = f->n_probes;

	assert_int_equal(vm_model_exit(f->model, pid, "taskstats", true, now - 1, queued_after, now),
			 0);
	take_events(f, now, events, size);
	return f->n_probes - probes;
}

/*
 * A tracked VM seen alive before its exit event was queued: that event is
 * its death, counted with no look at /proc.  Seen after (or not known when,
 * or since events were lost), the pid may have a new holder: looked at.
 */
static void test_exit_seen_before_queued(void **state)
{
	char events[512];
	Fake f;

	fake_init(&f);
	/* Its pid even reads as running (a look would call it stale): not looked at. */
	track_seen(&f, 300, 3, 500, 1000);
	assert_int_equal(exit_queued_after(&f, 300, 600, 2000, events, sizeof(events)), 0);
	assert_string_equal(events, "exit 300 [taskstats] A");

	/* Seen after the event was queued: the pid's next holder, not counted. */
	track_seen(&f, 301, 4, 700, 3000);
	assert_int_equal(exit_queued_after(&f, 301, 600, 4000, events, sizeof(events)), 1);
	assert_string_equal(events, "");
	assert_non_null(vm_model_find(f.model, 301));

	/* Events lost: seen before no longer counts. */
	vm_model_forget_seen(f.model);
	assert_int_equal(exit_queued_after(&f, 301, 900, 5000, events, sizeof(events)), 1);
	assert_string_equal(events, "");
	assert_non_null(vm_model_find(f.model, 301));
	fake_done(&f);
}

/* The events of a close of group queued after queued_after, and the looks at files it took. */
static unsigned close_looks(Fake *f, uint32_t group, uint64_t queued_after, uint64_t now,
			    char *events, size_t size)
{
	unsigned looks = f->n_file_looks;

	assert_int_equal(vm_model_vfio_closed(f->model, group, queued_after, now), 0);
	take_events(f, now, events, size);
	return f->n_file_looks - looks;
}

/* pid is as state says from now on, holding no VFIO file. */
static void set_holding_none(Fake *f, pid_t pid, uint64_t starttime, VmProcessState state)
{
	fake_set(f, &(FakeProc){ pid, state, starttime, {}, false, false });
}

/* A VM seen holding GROUP_A alone closes it, and is then as state says: no look at its files. */
static void closed_only_group(pid_t pid, VmProcessState state, const char *want_events)
{
	char events[512];
	Fake f;

	fake_init(&f);
	track_seen(&f, pid, 1, 500, 1000);
	set_holding_none(&f, pid, 1, state);
	assert_int_equal(close_looks(&f, GROUP_A, 600, 2000, events, sizeof(events)), 0);
	assert_string_equal(events, want_events);
	assert_null(vm_model_find(f.model, pid));
	fake_done(&f);
}

/*
 * The close of a VM's only group file, queued after it was seen holding
 * it, with no other holder known, is its last file going: whether it runs
 * on or dies is all there is to tell, from its stat, with no look at its
 * files.  Anything that leaves room for another owner of the close is
 * looked into.
 */
static void test_close_of_its_only_group(void **state)
{
	char events[512];
	Fake f;

	/* Runs on: it closed its files.  Dying: its exit. */
	closed_only_group(400, VM_PROCESS_RUNNING, "exit 400 [closed its VFIO files] A");
	closed_only_group(401, VM_PROCESS_EXITING, "exit 401 [VFIO close] A");

	/* Another group, or an iommufd, held too: the close may be one of several. */
	fake_init(&f);
	seen_vm(&f, 402, 1, GROUP_A, GROUP_B, 500, 1000);
	assert_int_equal(close_looks(&f, GROUP_A, 600, 2000, events, sizeof(events)), 1);
	assert_string_equal(events, "");
	seen_vm(&f, 403, 1, GROUP_B, IOMMUFD, 500, 3000);
	assert_int_equal(close_looks(&f, GROUP_B, 600, 4000, events, sizeof(events)), 2);
	assert_string_equal(events, "");
	fake_done(&f);

	/* Two claim the group: whose close it was, their files tell. */
	fake_init(&f);
	track_seen(&f, 404, 1, 500, 1000);
	track_seen(&f, 405, 1, 500, 1000);
	set_holding_none(&f, 405, 1, VM_PROCESS_RUNNING);
	assert_int_equal(close_looks(&f, GROUP_A, 600, 2000, events, sizeof(events)), 2);
	assert_string_equal(events, "exit 405 [closed its VFIO files] A");
	assert_non_null(vm_model_find(f.model, 404));
	fake_done(&f);

	/* A dying holder of the group: the close may be its own. */
	fake_init(&f);
	track_seen(&f, 406, 1, 500, 1000);
	track_seen(&f, 407, 1, 500, 1000);
	fake_set(&f, &(FakeProc){ 407, VM_PROCESS_EXITING, 1, { GROUP_A }, false, false });
	assert_int_equal(vm_model_exit(f.model, 407, "taskstats", true, 1999, 0, 2000), 0);
	take_events(&f, 2000, events, sizeof(events));
	assert_string_equal(events, "exit 407 [taskstats] A");
	assert_int_equal(close_looks(&f, GROUP_A, 600, 3000, events, sizeof(events)), 1);
	assert_string_equal(events, "");
	assert_non_null(vm_model_find(f.model, 406));
	fake_done(&f);

	/*
	 * Queued before the VM was seen (the close of the group's former
	 * holder, read late), or with no time known, or after events were
	 * lost since it was seen (its own close and another's open among
	 * them): its files are read, and it holds the group still.
	 */
	fake_init(&f);
	track_seen(&f, 408, 2, 700, 1000);
	assert_int_equal(close_looks(&f, GROUP_A, 600, 2000, events, sizeof(events)), 1);
	assert_int_equal(close_looks(&f, GROUP_A, 0, 3000, events, sizeof(events)), 1);
	vm_model_forget_seen(f.model);
	assert_int_equal(close_looks(&f, GROUP_A, 900, 4000, events, sizeof(events)), 1);
	assert_string_equal(events, "");
	assert_non_null(vm_model_find(f.model, 408));
	fake_done(&f);
}

/* What the manager and the API read of it: the VMs behind an SMMU, and an exit's SMMUs. */
/*
 * The machine name machined gave a VM stays with it: a look at its files
 * (a new record) keeps it, and its exit carries it, though machined may
 * have stopped by then (a host power-off).
 */
static void test_machine_name_kept(void **state)
{
	char events[512];
	VmEvent e;
	Fake f;

	fake_init(&f);
	seen_vm(&f, 300, 3, GROUP_A, GROUP_B, 500, 1000);
	assert_int_equal(vm_model_set_name(f.model, 300, 3, "qemu-off1"), 0);
	assert_string_equal(vm_model_find(f.model, 300)->name, "qemu-off1");
	assert_int_equal(vm_model_set_name(f.model, 300, 4, "x"), -ESRCH);
	assert_int_equal(vm_model_set_name(f.model, 301, 3, "x"), -ESRCH);
	/* Two groups: a close is looked into, and the record read anew. */
	assert_int_equal(close_looks(&f, GROUP_B, 600, 2000, events, sizeof(events)), 1);
	assert_non_null(vm_model_find(f.model, 300));
	assert_string_equal(vm_model_find(f.model, 300)->name, "qemu-off1");
	/* Its exit carries it. */
	fake_set(&f, &(FakeProc){ 300, VM_PROCESS_EXITING, 3, { GROUP_A, GROUP_B }, false, false });
	assert_int_equal(vm_model_exit(f.model, 300, "taskstats", true, 2999, 2500, 3000), 0);
	assert_true(vm_model_next_event(f.model, &e));
	assert_int_equal(e.kind, VM_EVENT_EXIT);
	assert_string_equal(e.vm->name, "qemu-off1");
	vm_event_done(&e);
	fake_done(&f);
}

static void test_queries(void **state)
{
	static const FakeProc procs[] = {
		{ 100, VM_PROCESS_RUNNING, 1, { GROUP_A, GROUP_B }, false, false },
		{ 101, VM_PROCESS_RUNNING, 2, { GROUP_A }, false, false },
		{ 102, VM_PROCESS_RUNNING, 3, { GROUP_NONE }, false, false },
	};
	const Smmu *smmus[4];
	uint64_t pinned = 0;
	char events[512];
	Fake f;

	fake_init(&f);
	for (size_t i = 0; i < ELEMENTSOF(procs); i++)
		fake_set(&f, &procs[i]);
	vm_model_scan_begin(f.model);
	fake_read(&f);
	assert_int_equal(vm_model_scan_end(f.model, f.read, f.n_read, 1000), 0);
	take_events(&f, 1000, events, sizeof(events));
	assert_string_equal(events, "found 100; found 101; found 102");

	assert_int_equal(vm_model_vms_behind(f.model, &f.smmus[0], &pinned), 2);
	assert_int_equal(pinned, 2 << 20);
	assert_int_equal(vm_model_vms_behind(f.model, &f.smmus[1], &pinned), 1);
	assert_int_equal(pinned, 1 << 20);
	/* Pinned memory read again later (a VMM pins after its open): only for that process. */
	assert_int_equal(vm_model_set_pinned(f.model, 100, 1, 8 << 20), 0);
	assert_int_equal(vm_model_vms_behind(f.model, &f.smmus[1], &pinned), 1);
	assert_int_equal(pinned, 8 << 20);
	assert_int_equal(vm_model_set_pinned(f.model, 100, 7, 1), -ESRCH);
	assert_int_equal(vm_model_set_pinned(f.model, 103, 1, 1), -ESRCH);
	/* machined moved it into its scope: its unit now, for that process only. */
	{
		bool moved = true;

		assert_int_equal(vm_model_set_unit(f.model, 100, 1, "machine-qemu\\x2dvm.scope", &moved), 0);
		assert_true(moved);
		assert_string_equal(vm_model_find(f.model, 100)->unit, "machine-qemu\\x2dvm.scope");
		assert_int_equal(vm_model_set_unit(f.model, 100, 1, "machine-qemu\\x2dvm.scope", &moved), 0);
		assert_false(moved);
		assert_int_equal(vm_model_set_unit(f.model, 100, 1, NULL, &moved), 0);
		assert_true(moved);
		assert_null(vm_model_find(f.model, 100)->unit);
		assert_int_equal(vm_model_set_unit(f.model, 100, 7, "x.scope", NULL), -ESRCH);
		assert_int_equal(vm_model_set_unit(f.model, 103, 1, "x.scope", NULL), -ESRCH);
	}
	assert_int_equal(vm_model_vms_behind(f.model, &f.smmus[0], &pinned), 2);
	assert_int_equal(pinned, (8 << 20) + (1 << 20));
	assert_int_equal(vm_model_smmus_of(f.model, vm_model_find(f.model, 100), smmus, 4), 2);
	assert_ptr_equal(smmus[0], &f.smmus[0]);
	assert_ptr_equal(smmus[1], &f.smmus[1]);
	assert_int_equal(vm_model_smmus_of(f.model, vm_model_find(f.model, 100), smmus, 1), 1);
	assert_int_equal(vm_model_smmus_of(f.model, vm_model_find(f.model, 102), smmus, 4), 0);
	assert_null(vm_model_find(f.model, 103));
	assert_null(vm_model_vm(f.model, 3));

	/* Without a topology, no exit is behind anything. */
	vm_model_set_topology(f.model, NULL);
	assert_int_equal(vm_model_vms_behind(f.model, &f.smmus[0], NULL), 0);
	fake_set(&f, &(FakeProc){ .pid = 101, .state = VM_PROCESS_GONE });
	assert_int_equal(vm_model_gone(f.model, 101, 2, "pidfd", 2000), 0);
	take_events(&f, 2000, events, sizeof(events));
	assert_string_equal(events, "exit 101 [pidfd] -");
	assert_int_equal(vm_model_exits_unattributed(f.model), 1);
	fake_done(&f);
}

/* Events not taken are freed with the model; taking them in two goes keeps their order. */
static void test_queue(void **state)
{
	Fake f;
	VmEvent e;

	fake_init(&f);
	fake_set(&f, &(FakeProc){ 100, VM_PROCESS_RUNNING, 1, { GROUP_A }, false, false });
	fake_set(&f, &(FakeProc){ 101, VM_PROCESS_RUNNING, 2, { GROUP_B }, false, false });
	vm_model_scan_begin(f.model);
	fake_read(&f);
	assert_int_equal(vm_model_scan_end(f.model, f.read, f.n_read, 1000), 0);
	assert_true(vm_model_next_event(f.model, &e));
	assert_int_equal(e.pid, 100);
	vm_event_done(&e);
	fake_set(&f, &(FakeProc){ .pid = 100, .state = VM_PROCESS_GONE });
	assert_int_equal(vm_model_gone(f.model, 100, 1, "pidfd", 2000), 0);
	assert_true(vm_model_next_event(f.model, &e));
	assert_int_equal(e.kind, VM_EVENT_FOUND);
	assert_int_equal(e.pid, 101);
	vm_event_done(&e);
	/* The exit stays queued: the model frees it (and its VM) at the end. */
	fake_done(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_machine_name_kept),
		cmocka_unit_test(test_queries),
		cmocka_unit_test(test_watched_pids),
		cmocka_unit_test(test_prune_dying),
		cmocka_unit_test(test_exit_seen_before_queued),
		cmocka_unit_test(test_close_of_its_only_group),
		cmocka_unit_test(test_queue),
	};

	return cmocka_run_group_tests_name("vmmodel", tests, NULL, NULL);
}
