// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vmscan: the pure parsers with good and bad input, then the scanner on
 * a fake root whose proc is the real /proc and whose VFIO files are plain
 * files held open by real child processes.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "util.h"
#include "vmscan.h"

/* ---- vm_parse_fd_target ------------------------------------------------- */

static void test_fd_target_kinds(void **state)
{
	VmFdKind k;
	uint32_t g;
	char *dev;

	assert_int_equal(vm_parse_fd_target("/", "/dev/vfio/12", &k, &g, &dev), 0);
	assert_int_equal(k, VM_FD_VFIO_GROUP);
	assert_int_equal(g, 12);
	assert_null(dev);

	assert_int_equal(vm_parse_fd_target("/", "/dev/vfio/0", &k, &g, NULL), 0);
	assert_int_equal(k, VM_FD_VFIO_GROUP);
	assert_int_equal(g, 0);

	assert_int_equal(vm_parse_fd_target("/", "/dev/vfio/4294967295", &k, &g, NULL), 0);
	assert_int_equal(k, VM_FD_VFIO_GROUP);
	assert_int_equal(g, 4294967295u);

	assert_int_equal(vm_parse_fd_target("/", "/dev/vfio/vfio", &k, &g, NULL), 0);
	assert_int_equal(k, VM_FD_VFIO_CONTAINER);

	assert_int_equal(vm_parse_fd_target("/", "/dev/iommu", &k, &g, NULL), 0);
	assert_int_equal(k, VM_FD_IOMMUFD);

	assert_int_equal(vm_parse_fd_target("/", "/dev/vfio/devices/vfio3", &k, &g, &dev), 0);
	assert_int_equal(k, VM_FD_VFIO_DEVICE);
	assert_string_equal(dev, "vfio3");
	free(dev);

	/* Unlinked while open: still what it was. */
	assert_int_equal(vm_parse_fd_target("/", "/dev/vfio/7 (deleted)", &k, &g, NULL), 0);
	assert_int_equal(k, VM_FD_VFIO_GROUP);
	assert_int_equal(g, 7);
}

static void test_fd_target_other(void **state)
{
	static const char *const others[] = {
		"socket:[12345]", "pipe:[99]", "anon_inode:[eventfd]", "/dev/null",
		"/dev/vfio",      "/dev/iommu0", "/dev/iommu/x", "/dev/vfiox/12",
		"/dev/vfio/noiommu-3", "", "/", "dev/vfio/12",
	};
	VmFdKind k;
	uint32_t g;

	for (size_t i = 0; i < ELEMENTSOF(others); i++) {
		k = VM_FD_IOMMUFD;
		assert_int_equal(vm_parse_fd_target("/", others[i], &k, &g, NULL), 0);
		assert_int_equal(k, VM_FD_OTHER);
	}
}

static void test_fd_target_malformed(void **state)
{
	static const char *const bad[] = {
		"/dev/vfio/12a", "/dev/vfio/-1", "/dev/vfio/+1", "/dev/vfio/4294967296",
		"/dev/vfio/99999999999", "/dev/vfio/ 1", "/dev/vfio/", "/dev/vfio/1/",
		"/dev/vfio/devices/a/b", "/dev/vfio/devices/..", "/dev/vfio/devices/.",
		"/dev/vfio/foo", "/dev/vfio/devices", "/dev/vfio/devices/",
	};
	VmFdKind k = VM_FD_IOMMUFD;
	uint32_t g;
	char *dev = (char *)"untouched";

	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		assert_int_equal(vm_parse_fd_target("/", bad[i], &k, &g, &dev), -EINVAL);
		/* A refusal changes nothing. */
		assert_int_equal(k, VM_FD_IOMMUFD);
		assert_string_equal(dev, "untouched");
	}
	assert_int_equal(vm_parse_fd_target(NULL, "/dev/iommu", &k, &g, NULL), -EINVAL);
	assert_int_equal(vm_parse_fd_target("/", NULL, &k, &g, NULL), -EINVAL);
}

static void test_fd_target_root(void **state)
{
	VmFdKind k;
	uint32_t g;

	assert_int_equal(vm_parse_fd_target("/tmp/root", "/tmp/root/dev/vfio/5", &k, &g, NULL), 0);
	assert_int_equal(k, VM_FD_VFIO_GROUP);
	assert_int_equal(g, 5);
	/* Trailing slashes on the root do not matter. */
	assert_int_equal(vm_parse_fd_target("/tmp/root//", "/tmp/root/dev/iommu", &k, &g, NULL), 0);
	assert_int_equal(k, VM_FD_IOMMUFD);
	/* The real device is outside a fake root: not ours. */
	assert_int_equal(vm_parse_fd_target("/tmp/root", "/dev/vfio/5", &k, &g, NULL), 0);
	assert_int_equal(k, VM_FD_OTHER);
	/* A sibling directory sharing the prefix is not inside. */
	assert_int_equal(vm_parse_fd_target("/tmp/root", "/tmp/rootx/dev/vfio/5", &k, &g, NULL), 0);
	assert_int_equal(k, VM_FD_OTHER);
}

/* ---- vm_parse_group_link --------------------------------------------------- */

static void test_group_link(void **state)
{
	uint32_t g;

	assert_int_equal(vm_parse_group_link("../../../../kernel/iommu_groups/12", &g), 0);
	assert_int_equal(g, 12);
	assert_int_equal(vm_parse_group_link("/sys/kernel/iommu_groups/0", &g), 0);
	assert_int_equal(g, 0);
	assert_int_equal(vm_parse_group_link("iommu_groups/3/", &g), 0);
	assert_int_equal(g, 3);

	g = 77;
	assert_int_equal(vm_parse_group_link("../kernel/iommu_groups/x", &g), -EINVAL);
	assert_int_equal(vm_parse_group_link("../kernel/groups/1", &g), -EINVAL);
	assert_int_equal(vm_parse_group_link("../kernel/xiommu_groups/1", &g), -EINVAL);
	assert_int_equal(vm_parse_group_link("12", &g), -EINVAL);
	assert_int_equal(vm_parse_group_link("", &g), -EINVAL);
	assert_int_equal(vm_parse_group_link("iommu_groups/", &g), -EINVAL);
	assert_int_equal(vm_parse_group_link("iommu_groups/4294967296", &g), -EINVAL);
	assert_int_equal(g, 77);
}

/* ---- vm_parse_status_pinned -------------------------------------------------- */

static void test_status(void **state)
{
	uint64_t b = 1;

	assert_int_equal(vm_parse_status_pinned("Name:\tqemu\nVmLck:\t    1024 kB\nVmPin:\t       0 kB\n", &b), 0);
	assert_int_equal(b, 1024 * 1024);
	assert_int_equal(vm_parse_status_pinned("VmPin:\t 8 kB\nVmLck:\t4 kB", &b), 0);
	assert_int_equal(b, 12 * 1024);
	/* Zombies and kernel threads have no Vm lines. */
	assert_int_equal(vm_parse_status_pinned("Name:\tkworker\nState:\tI (idle)\n", &b), 0);
	assert_int_equal(b, 0);
	assert_int_equal(vm_parse_status_pinned("", &b), 0);
	assert_int_equal(b, 0);
	/* Lookalike keys are not ours. */
	assert_int_equal(vm_parse_status_pinned("VmLckX:\tgarbage\nXVmLck: 1 kB\n", &b), 0);
	assert_int_equal(b, 0);
	/* Largest value that fits. */
	assert_int_equal(vm_parse_status_pinned("VmLck:\t18014398509481983 kB\n", &b), 0);
	assert_int_equal(b, 18014398509481983ULL * 1024);
}

static void test_status_bad(void **state)
{
	static const char *const bad[] = {
		"VmLck:\t1024 MB\n", "VmLck:\t1024\n", "VmLck:\t kB\n", "VmLck:\t-1 kB\n",
		"VmLck:\t1 kB trailing\n", "VmLck:\n", "VmLck:\t1kB\n",
		"VmLck:\t1 kB\nVmLck:\t1 kB\n", "VmPin:\t0x10 kB\n",
	};
	uint64_t b = 42;

	for (size_t i = 0; i < ELEMENTSOF(bad); i++)
		assert_int_equal(vm_parse_status_pinned(bad[i], &b), -EBADMSG);
	assert_int_equal(vm_parse_status_pinned("VmLck:\t18014398509481984 kB\n", &b), -ERANGE);
	assert_int_equal(vm_parse_status_pinned("VmLck:\t99999999999999999999999 kB\n", &b), -ERANGE);
	assert_int_equal(vm_parse_status_pinned("VmLck:\t18014398509481983 kB\nVmPin:\t1 kB\n", &b),
			 -ERANGE);
	assert_int_equal(b, 42);
}

/* ---- vm_parse_stat --------------------------------------------------------- */

static const char stat_tail[] =
	" S 1 100 100 0 -1 4194560 500 0 0 0 10 5 0 0 20 0 3 0 987654 123456 789";

static void test_stat(void **state)
{
	_cleanup_free_ char *line = NULL, *comm = NULL;
	uint64_t st;

	assert_true(asprintf(&line, "4242 (qemu-system-aar)%s\n", stat_tail) > 0);
	assert_int_equal(vm_parse_stat(line, &comm, &st), 0);
	assert_string_equal(comm, "qemu-system-aar");
	assert_int_equal(st, 987654);
	free(line);
	free(comm);
	comm = NULL;

	/* comm may hold ") (", spaces, and parentheses of its own. */
	assert_true(asprintf(&line, "7 (a) (b c) S 9)%s", stat_tail) > 0);
	assert_int_equal(vm_parse_stat(line, &comm, &st), 0);
	assert_string_equal(comm, "a) (b c) S 9");
	assert_int_equal(st, 987654);
	free(line);
	free(comm);
	comm = NULL;

	assert_true(asprintf(&line, "7 ()%s", stat_tail) > 0);
	assert_int_equal(vm_parse_stat(line, NULL, &st), 0);
	assert_int_equal(st, 987654);
}

static void test_stat_bad(void **state)
{
	static const char *const bad[] = {
		"", "4242", "4242 qemu S 1", "(qemu) S 1 2 3", "x (qemu) S",
		"4242 (qemu S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20",
		"4242 (qemu) S 1 2 3",
		"4242 (qemu) S 1 100 100 0 -1 4194560 500 0 0 0 10 5 0 0 20 0 3 0 abc 1",
		"4242 (qemu) S 1 100 100 0 -1 4194560 500 0 0 0 10 5 0 0 20 0 3 0 -5 1",
		"4242 (qemu)  S 1 100 100 0 -1 4194560 500 0 0 0 10 5 0 0 20 0 3 0 5 1",
		"4242(qemu) S 1 100 100 0 -1 4194560 500 0 0 0 10 5 0 0 20 0 3 0 5 1",
		"4242 (qemu) S 1 100 100 0 -1 4194560 500 0 0 0 10 5 0 0 20 0 3 0 99999999999999999999999 1",
	};
	char *comm = (char *)"untouched";
	uint64_t st = 5;

	for (size_t i = 0; i < ELEMENTSOF(bad); i++)
		assert_int_equal(vm_parse_stat(bad[i], &comm, &st), -EBADMSG);
	assert_string_equal(comm, "untouched");
	assert_int_equal(st, 5);
}

static void test_stat_flags(void **state)
{
	unsigned long flags = 0;

	/* kthreadd as the kernel writes it: PF_KTHREAD set. */
	assert_int_equal(vm_parse_stat_flags("2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 "
					     "20 0 1 0 26 0 0",
					     &flags),
			 0);
	assert_true(flags & VM_PF_KTHREAD);
	/* A user process, and a comm that looks like more fields. */
	assert_int_equal(vm_parse_stat_flags("7 (a) 1 2 3 4 5 6 7) S 1 100 100 0 -1 4194560 500", &flags),
			 0);
	assert_int_equal(flags, 4194560);
	assert_false(flags & VM_PF_KTHREAD);

	flags = 5;
	assert_int_equal(vm_parse_stat_flags("7 (a) S 1 100 100 0 -1", &flags), -EBADMSG);
	assert_int_equal(vm_parse_stat_flags("7 (a) S 1 100 100 0 -1 x1 500", &flags), -EBADMSG);
	assert_int_equal(vm_parse_stat_flags("7 (a) S 1 100 100 0 -1 -4 500", &flags), -EBADMSG);
	assert_int_equal(vm_parse_stat_flags("7 (a) S 1 100  100 0 -1 4 500", &flags), -EBADMSG);
	assert_int_equal(vm_parse_stat_flags("no parenthesis", &flags), -EBADMSG);
	assert_int_equal(flags, 5);
}

/* ---- vm_parse_cgroup_unit ---------------------------------------------------- */

static void test_cgroup(void **state)
{
	char *u;

	assert_int_equal(vm_parse_cgroup_unit("0::/machine.slice/machine-qemu\\x2d1\\x2dvm1.scope/libvirt/emulator\n", &u), 0);
	assert_string_equal(u, "machine-qemu\\x2d1\\x2dvm1.scope");
	free(u);

	assert_int_equal(vm_parse_cgroup_unit("0::/system.slice/chv@a.service\n", &u), 0);
	assert_string_equal(u, "chv@a.service");
	free(u);

	/* The last one wins: a service inside a scope's subtree. */
	assert_int_equal(vm_parse_cgroup_unit("0::/a.slice/x.scope/y.service/z\n", &u), 0);
	assert_string_equal(u, "y.service");
	free(u);

	/* Hybrid hierarchy: the unified line first, then name=systemd. */
	assert_int_equal(vm_parse_cgroup_unit("12:cpu,cpuacct:/other.scope\n1:name=systemd:/machine.slice/vm.scope\n0::/\n", &u), 0);
	assert_null(u);
	assert_int_equal(vm_parse_cgroup_unit("12:cpu,cpuacct:/other.scope\n1:name=systemd:/machine.slice/vm.scope\n", &u), 0);
	assert_string_equal(u, "vm.scope");
	free(u);

	assert_int_equal(vm_parse_cgroup_unit("0::/\n", &u), 0);
	assert_null(u);
	assert_int_equal(vm_parse_cgroup_unit("0::/user.slice/.scope/x.scopes\n", &u), 0);
	assert_null(u);
	assert_int_equal(vm_parse_cgroup_unit("", &u), 0);
	assert_null(u);
	assert_int_equal(vm_parse_cgroup_unit("0::/a.scope", &u), 0);
	assert_string_equal(u, "a.scope");
	free(u);
}

static void test_cgroup_bad(void **state)
{
	static const char *const bad[] = {
		"garbage\n", "0:/x.scope\n", "x::/a.scope\n", "0::\n", "0::a.scope\n",
		"0::/a.scope\n\n0::/b.scope\n", ":/:/\n", "-1::/a.scope\n",
	};
	char *u = (char *)"untouched";

	for (size_t i = 0; i < ELEMENTSOF(bad); i++)
		assert_int_equal(vm_parse_cgroup_unit(bad[i], &u), -EBADMSG);
	assert_string_equal(u, "untouched");
}

/* ---- the scanner on a fake root with real processes ------------------------ */

typedef struct Fixture {
	char dir[64];
	char *root;    /* dir/root */
	char *link;    /* dir/link -> root: a root given through a symlink */
} Fixture;

static void make_file(const char *root, const char *rel)
{
	_cleanup_free_ char *p = path_join(root, rel);
	int fd = open(p, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	close(fd);
}

static void make_dir(const char *root, const char *rel)
{
	_cleanup_free_ char *p = path_join(root, rel);

	assert_int_equal(mkdir(p, 0755), 0);
}

static int setup_root(void **state)
{
	Fixture *f = calloc(1, sizeof(*f));
	_cleanup_free_ char *proc = NULL, *grp = NULL;

	assert_non_null(f);
	strcpy(f->dir, "/tmp/smmud-test-vmscan-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	f->root = path_join(f->dir, "root");
	f->link = path_join(f->dir, "link");
	assert_int_equal(mkdir(f->root, 0755), 0);
	assert_int_equal(symlink("root", f->link), 0);

	proc = path_join(f->root, "proc");
	assert_int_equal(symlink("/proc", proc), 0);
	make_dir(f->root, "dev");
	make_dir(f->root, "dev/vfio");
	make_dir(f->root, "dev/vfio/devices");
	make_file(f->root, "dev/vfio/vfio");
	make_file(f->root, "dev/vfio/12");
	make_file(f->root, "dev/vfio/13");
	make_file(f->root, "dev/vfio/devices/vfio0");
	make_file(f->root, "dev/vfio/devices/vfio1");
	make_file(f->root, "dev/iommu");
	make_dir(f->root, "sys");
	make_dir(f->root, "sys/class");
	make_dir(f->root, "sys/class/vfio-dev");
	make_dir(f->root, "sys/class/vfio-dev/vfio0");
	make_dir(f->root, "sys/class/vfio-dev/vfio0/device");
	grp = path_join(f->root, "sys/class/vfio-dev/vfio0/device/iommu_group");
	assert_int_equal(symlink("../../../../kernel/iommu_groups/7", grp), 0);
	/* vfio1 has no sysfs entry: a VM still, with its group unknown. */
	*state = f;
	return 0;
}

static int teardown_root(void **state)
{
	Fixture *f = *state;
	_cleanup_free_ char *cmd = NULL;

	assert_true(asprintf(&cmd, "rm -rf '%s'", f->dir) > 0);
	assert_int_equal(system(cmd), 0);
	free(f->root);
	free(f->link);
	free(f);
	return 0;
}

/*
 * A child that opens rels (under root), locks lock_bytes, reports ready
 * and waits to be killed.  Returns its pid once it is ready.
 */
static pid_t spawn_holder(const char *root, const char *const *rels, size_t n, size_t lock_bytes)
{
	int p[2];
	char c;
	pid_t pid;

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* A failed assertion in the parent must not leave us behind. */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() == 1)
			_exit(9);
		for (size_t i = 0; i < n; i++) {
			_cleanup_free_ char *path = path_join(root, rels[i]);

			if (open(path, O_RDWR) < 0)
				_exit(10);
		}
		if (lock_bytes > 0) {
			void *m = mmap(NULL, lock_bytes, PROT_READ | PROT_WRITE,
				       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

			/* The raw syscall: ASan's mlock() interceptor does nothing. */
			if (m == MAP_FAILED || syscall(SYS_mlock, m, lock_bytes) < 0)
				_exit(11);
		}
		if (write(p[1], "r", 1) != 1)
			_exit(12);
		for (;;)
			pause();
	}
	close(p[1]);
	assert_int_equal(read(p[0], &c, 1), 1);
	close(p[0]);
	return pid;
}

static void kill_and_reap(pid_t pid)
{
	int status;

	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &status, 0), pid);
}

static uint64_t real_starttime(pid_t pid)
{
	_cleanup_free_ char *path = NULL, *line = NULL;
	uint64_t st;

	assert_true(asprintf(&path, "/proc/%d/stat", (int)pid) > 0);
	assert_int_equal(read_one_line_file(path, &line), 0);
	assert_int_equal(vm_parse_stat(line, NULL, &st), 0);
	return st;
}

/* One process scanned through a VmProc of its own, as a single call would. */
static int scan_pid_at(const char *root, pid_t pid, Vm **ret)
{
	_cleanup_(vm_proc_done) VmProc proc = VM_PROC_INIT(root);

	return vm_scan_pid(&proc, pid, ret);
}

static void test_scan_pid(void **state)
{
	Fixture *f = *state;
	static const char *const rels[] = {
		"dev/vfio/vfio", "dev/vfio/12", "dev/vfio/devices/vfio0", "dev/vfio/devices/vfio1",
		"dev/iommu", "dev/vfio/12",
	};
	pid_t pid = spawn_holder(f->root, rels, ELEMENTSOF(rels), 256 * 1024);
	_cleanup_(vm_freep) Vm *vm = NULL;
	Vm *via_link = NULL;

	assert_int_equal(scan_pid_at(f->root, pid, &vm), 0);
	assert_int_equal(vm->pid, pid);
	/* 12 twice counts once; vfio0 gives 7; vfio1 has no group. Sorted. */
	assert_int_equal(vm->n_groups, 2);
	assert_int_equal(vm->groups[0], 7);
	assert_int_equal(vm->groups[1], 12);
	assert_true(vm->iommufd);
	assert_true(vm->pinned_bytes >= 256 * 1024);
	assert_int_equal(vm->starttime, real_starttime(pid));
	assert_non_null(vm->comm);
	assert_string_equal(vm->comm, "test-vmscan");
	assert_null(vm->name);

	/* The same through a root that is a symlink. */
	assert_int_equal(scan_pid_at(f->link, pid, &via_link), 0);
	assert_int_equal(via_link->n_groups, 2);
	vm_free(via_link);

	/* Seen from the real root, these plain files are no VFIO at all. */
	assert_int_equal(scan_pid_at("/", pid, &via_link), -ENOENT);

	kill_and_reap(pid);
	assert_int_equal(scan_pid_at(f->root, pid, &via_link), -ESRCH);
}

/* A kernel thread of this machine, if this pid namespace shows one. */
static pid_t some_kernel_thread(void)
{
	for (pid_t pid = 2; pid < 64; pid++) {
		_cleanup_free_ char *path = NULL, *line = NULL;
		unsigned long flags;

		assert_true(asprintf(&path, "/proc/%d/stat", (int)pid) > 0);
		if (read_one_line_file(path, &line) < 0)
			continue;
		if (vm_parse_stat_flags(line, &flags) == 0 && (flags & VM_PF_KTHREAD))
			return pid;
	}
	return 0;
}

static void test_scan_pid_not_vm(void **state)
{
	Fixture *f = *state;
	static const char *const container_only[] = { "dev/vfio/vfio" };
	pid_t pid = spawn_holder(f->root, NULL, 0, 0);
	pid_t kthread = some_kernel_thread();
	Vm *vm = NULL;

	/* Kernel threads are not looked through: no VM. */
	if (kthread > 0)
		assert_int_equal(scan_pid_at(f->root, kthread, &vm), -ENOENT);
	else
		print_message("(no kernel thread visible here: that case not run)\n");

	assert_int_equal(scan_pid_at(f->root, pid, &vm), -ENOENT);
	kill_and_reap(pid);

	/* A type1 container alone is no VM: it has no device behind it yet. */
	pid = spawn_holder(f->root, container_only, 1, 0);
	assert_int_equal(scan_pid_at(f->root, pid, &vm), -ENOENT);
	kill_and_reap(pid);
	assert_null(vm);

	assert_int_equal(scan_pid_at(f->root, 0, &vm), -EINVAL);
	assert_int_equal(scan_pid_at("/nonexistent-smmud-root", getpid(), &vm), -ENOENT);
}

static void test_scan_zombie(void **state)
{
	Fixture *f = *state;
	static const char *const rels[] = { "dev/vfio/13" };
	pid_t pid = spawn_holder(f->root, rels, 1, 0);
	siginfo_t si;
	Vm *vm = NULL;

	kill(pid, SIGKILL);
	/* Wait for it to die without reaping it: a zombie. */
	assert_int_equal(waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT), 0);
	assert_int_equal(scan_pid_at(f->root, pid, &vm), -ESRCH);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
}

static void test_scan_all(void **state)
{
	Fixture *f = *state;
	static const char *const a_rels[] = { "dev/vfio/12" };
	static const char *const b_rels[] = { "dev/iommu" };
	pid_t a = spawn_holder(f->root, a_rels, 1, 0);
	pid_t b = spawn_holder(f->root, b_rels, 1, 0);
	pid_t plain = spawn_holder(f->root, NULL, 0, 0);
	Vm **vms = NULL;
	size_t n = 0;
	bool seen_a = false, seen_b = false;

	assert_int_equal(vm_scan_all(f->root, &vms, &n), 0);
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			assert_true(vms[i - 1]->pid < vms[i]->pid);
		assert_int_not_equal(vms[i]->pid, plain);
		assert_int_not_equal(vms[i]->pid, getpid());
		if (vms[i]->pid == a) {
			seen_a = true;
			assert_int_equal(vms[i]->n_groups, 1);
			assert_int_equal(vms[i]->groups[0], 12);
			assert_false(vms[i]->iommufd);
		} else if (vms[i]->pid == b) {
			seen_b = true;
			assert_int_equal(vms[i]->n_groups, 0);
			assert_true(vms[i]->iommufd);
		}
	}
	assert_true(seen_a);
	assert_true(seen_b);
	vm_array_free(vms, n);

	kill_and_reap(a);
	assert_int_equal(vm_scan_all(f->root, &vms, &n), 0);
	for (size_t i = 0; i < n; i++)
		assert_int_not_equal(vms[i]->pid, a);
	vm_array_free(vms, n);

	kill_and_reap(b);
	kill_and_reap(plain);
}

/* What a process is now, as the VM model asks: running, exiting (a zombie here), gone. */
static void test_probe(void **state)
{
	Fixture *f = *state;
	static const char *const rels[] = { "dev/vfio/12" };
	pid_t pid = spawn_holder(f->root, rels, 1, 0);
	pid_t plain = spawn_holder(f->root, NULL, 0, 0);
	_cleanup_(vm_proc_done) VmProc proc = VM_PROC_INIT(f->root);
	VmProcess p;
	siginfo_t si;
	int proc_fd;

	assert_int_equal(vm_probe(&proc, pid, true, &p), 0);
	/* /proc was opened once, and is kept for the next probes. */
	proc_fd = proc.fd;
	assert_true(proc_fd >= 0);
	assert_int_equal(p.state, VM_PROCESS_RUNNING);
	assert_int_equal(p.starttime, real_starttime(pid));
	assert_non_null(p.vm);
	assert_int_equal(p.vm->n_groups, 1);
	assert_int_equal(p.vm->groups[0], 12);
	vm_free(p.vm);

	/* Without its files: the process alone, cheaply. */
	assert_int_equal(vm_probe(&proc, pid, false, &p), 0);
	assert_int_equal(p.state, VM_PROCESS_RUNNING);
	assert_int_equal(p.starttime, real_starttime(pid));
	assert_null(p.vm);

	assert_int_equal(vm_probe(&proc, plain, true, &p), 0);
	assert_int_equal(p.state, VM_PROCESS_RUNNING);
	assert_false(p.zombie);
	assert_null(p.vm);
	kill_and_reap(plain);

	kill(pid, SIGKILL);
	assert_int_equal(waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT), 0);
	assert_int_equal(vm_probe(&proc, pid, true, &p), 0);
	assert_int_equal(p.state, VM_PROCESS_EXITING);
	/* Waitable: a zombie, past exit_files(). */
	assert_true(p.zombie);
	assert_null(p.vm);
	assert_int_equal(vm_probe(&proc, pid, false, &p), 0);
	assert_int_equal(p.state, VM_PROCESS_EXITING);
	assert_true(p.zombie);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	assert_int_equal(vm_probe(&proc, pid, true, &p), 0);
	assert_int_equal(p.state, VM_PROCESS_GONE);
	assert_null(p.vm);
	/* Gone, read without its directory: the same answer, not an error. */
	assert_int_equal(vm_probe(&proc, pid, false, &p), 0);
	assert_int_equal(p.state, VM_PROCESS_GONE);

	assert_int_equal(vm_probe(&proc, 0, true, &p), -EINVAL);
	assert_int_equal(proc.fd, proc_fd);
}

/* The pinned memory of one process, as it is now; another process on its pid is not it. */
static void test_read_pinned(void **state)
{
	Fixture *f = *state;
	size_t bytes = 64 * (size_t)sysconf(_SC_PAGESIZE);
	pid_t pid = spawn_holder(f->root, NULL, 0, bytes);
	uint64_t st = real_starttime(pid), got = 0;
	_cleanup_(vm_proc_done) VmProc proc = VM_PROC_INIT(f->root);

	assert_int_equal(vm_read_pinned(&proc, pid, st, &got), 0);
	assert_true(got >= bytes);
	assert_int_equal(vm_read_pinned(&proc, pid, st + 1, &got), -ESRCH);
	kill_and_reap(pid);
	assert_int_equal(vm_read_pinned(&proc, pid, st, &got), -ESRCH);
	assert_int_equal(vm_read_pinned(&proc, 0, st, &got), -EINVAL);
}

/* The caller has control back after every process looked at: at least one step per child. */
static void test_scan_steps(void **state)
{
	Fixture *f = *state;
	static const char *const rels[] = { "dev/vfio/12" };
	pid_t a = spawn_holder(f->root, rels, 1, 0);
	pid_t plain = spawn_holder(f->root, NULL, 0, 0);
	_cleanup_(vm_scan_freep) VmScan *s = NULL;
	Vm **vms = NULL;
	size_t n = 0, steps = 0;
	bool seen_a = false;
	int r;

	assert_int_equal(vm_scan_new(f->root, &s), 0);
	while ((r = vm_scan_step(s)) > 0)
		steps++;
	assert_int_equal(r, 0);
	/* Done stays done. */
	assert_int_equal(vm_scan_step(s), 0);
	vm_scan_take(s, &vms, &n);
	assert_true(steps >= 3); /* a, plain, and this test itself */
	assert_true(steps >= n);
	for (size_t i = 0; i < n; i++) {
		seen_a = seen_a || vms[i]->pid == a;
		if (i > 0)
			assert_true(vms[i - 1]->pid < vms[i]->pid);
	}
	assert_true(seen_a);
	vm_array_free(vms, n);
	kill_and_reap(a);
	kill_and_reap(plain);
}

static pid_t *mfree_pids(pid_t *p)
{
	free(p);
	return NULL;
}

static bool has_pid(const pid_t *pids, size_t n, pid_t pid)
{
	for (size_t i = 0; i < n; i++)
		if (pids[i] == pid)
			return true;
	return false;
}

/* What a VFIO open's look probes: the processes started since the last look. */
static void test_new_pids(void **state)
{
	Fixture *f = *state;
	VmPidCursor cursor = {};
	_cleanup_(vm_proc_done) VmProc proc = VM_PROC_INIT(f->root);
	_cleanup_free_ pid_t *pids = NULL;
	pid_t old, young;
	size_t n;

	/* No cursor yet: no telling what is new. */
	assert_int_equal(vm_scan_new_pids(&proc, &cursor, &pids, &n), -ERANGE);
	old = spawn_holder(f->root, NULL, 0, 0);
	assert_int_equal(vm_pid_cursor_now(&proc, &cursor), 0);
	assert_true(cursor.set);
	assert_true(cursor.last_pid >= old);
	young = spawn_holder(f->root, NULL, 0, 0);

	assert_int_equal(vm_scan_new_pids(&proc, &cursor, &pids, &n), 0);
	assert_true(has_pid(pids, n, young));
	assert_false(has_pid(pids, n, old));
	assert_false(has_pid(pids, n, getpid()));
	for (size_t i = 1; i < n; i++)
		assert_true(pids[i - 1] < pids[i]);
	/* The cursor moved on: nothing started since, nothing new. */
	pids = mfree_pids(pids);
	assert_int_equal(vm_scan_new_pids(&proc, &cursor, &pids, &n), 0);
	assert_false(has_pid(pids, n, young));
	kill_and_reap(old);
	kill_and_reap(young);
}

/* Sets the last pid given out (root, CONFIG_CHECKPOINT_RESTORE): false if this host cannot. */
static bool set_last_pid(pid_t pid)
{
	_cleanup_close_ int fd = open("/proc/sys/kernel/ns_last_pid", O_WRONLY | O_CLOEXEC);
	char text[16];
	int len = snprintf(text, sizeof(text), "%d", (int)pid);

	return fd >= 0 && write(fd, text, (size_t)len) == len;
}

/*
 * Past pid_max the pids go round from 300, past processes of any age: an
 * old process with a pid below the last one given out is not new.
 */
static void test_new_pids_round(void **state)
{
	Fixture *f = *state;
	VmPidCursor cursor = {};
	_cleanup_(vm_proc_done) VmProc proc = VM_PROC_INIT(f->root);
	_cleanup_free_ pid_t *pids = NULL;
	_cleanup_free_ char *max_text = NULL;
	pid_t old, young_high, young_low;
	uint32_t pid_max;
	size_t n;

	assert_int_equal(read_one_line_file("/proc/sys/kernel/pid_max", &max_text), 0);
	assert_int_equal(safe_atou32(max_text, &pid_max), 0);
	if (pid_max < 2000 || !set_last_pid(400)) {
		skip(); /* not root, or no ns_last_pid: the integration suite says so too */
		return;
	}
	old = spawn_holder(f->root, NULL, 0, 0);
	/* Its start a clock tick (10 ms at most) before the cursor's. */
	usleep(30000);
	assert_true(set_last_pid((pid_t)pid_max - 2));
	assert_int_equal(vm_pid_cursor_now(&proc, &cursor), 0);
	young_high = spawn_holder(f->root, NULL, 0, 0);
	/* Round, and past old: the kernel's next free pid after it. */
	assert_true(set_last_pid(old + 50));
	young_low = spawn_holder(f->root, NULL, 0, 0);
	assert_true(young_high > old + 50 && young_low > old && young_low < young_high);

	assert_int_equal(vm_scan_new_pids(&proc, &cursor, &pids, &n), 0);
	assert_true(has_pid(pids, n, young_high));
	assert_true(has_pid(pids, n, young_low));
	assert_false(has_pid(pids, n, old));
	assert_false(has_pid(pids, n, getpid()));
	assert_false(has_pid(pids, n, 1));
	kill_and_reap(old);
	kill_and_reap(young_high);
	kill_and_reap(young_low);
}

/* The cursor's last pid: /proc/loadavg's last field, on every kernel. */
static void test_loadavg_last_pid(void **state)
{
	pid_t pid = -1;

	assert_int_equal(vm_parse_loadavg_last_pid("0.20 0.18 0.12 1/80 11206\n", &pid), 0);
	assert_int_equal(pid, 11206);
	assert_int_equal(vm_parse_loadavg_last_pid("0.00 0.00 0.00 1/1 1", &pid), 0);
	assert_int_equal(pid, 1);
	pid = -1;
	assert_int_equal(vm_parse_loadavg_last_pid("0.20 0.18 0.12 1/80 x11\n", &pid), -EBADMSG);
	assert_int_equal(vm_parse_loadavg_last_pid("0.20 0.18 0.12 1/80 4294967295\n", &pid), -EBADMSG);
	assert_int_equal(vm_parse_loadavg_last_pid("11206\n", &pid), -EBADMSG);
	assert_int_equal(vm_parse_loadavg_last_pid("0.20 0.18 0.12 1/80 \n", &pid), -EBADMSG);
	assert_int_equal(vm_parse_loadavg_last_pid("", &pid), -EBADMSG);
	assert_int_equal(pid, -1);
}

static void write_text(const char *root, const char *rel, const char *text)
{
	_cleanup_free_ char *p = path_join(root, rel);

	assert_int_equal(write_file_atomic(p, text, strlen(text), 0644), 0);
}

/* And the processes under machine.slice, at any depth (libvirt's emulator sub-cgroup). */
static void test_cgroup_pids(void **state)
{
	Fixture *f = *state;
	_cleanup_free_ pid_t *pids = NULL;
	size_t n = 0;

	assert_int_equal(vm_scan_cgroup_pids(f->root, "machine.slice", &pids, &n), 0);
	assert_int_equal(n, 0);
	make_dir(f->root, "sys/fs");
	make_dir(f->root, "sys/fs/cgroup");
	make_dir(f->root, "sys/fs/cgroup/machine.slice");
	make_dir(f->root, "sys/fs/cgroup/machine.slice/machine-qemu\\x2d1\\x2dvm1.scope");
	make_dir(f->root, "sys/fs/cgroup/machine.slice/machine-qemu\\x2d1\\x2dvm1.scope/libvirt");
	make_dir(f->root, "sys/fs/cgroup/machine.slice/machine-qemu\\x2d1\\x2dvm1.scope/libvirt/emulator");
	make_dir(f->root, "sys/fs/cgroup/machine.slice/vm2.scope");
	write_text(f->root, "sys/fs/cgroup/machine.slice/cgroup.procs", "");
	write_text(f->root,
		   "sys/fs/cgroup/machine.slice/machine-qemu\\x2d1\\x2dvm1.scope/libvirt/emulator/cgroup.procs",
		   "4242\n4243\n");
	write_text(f->root, "sys/fs/cgroup/machine.slice/vm2.scope/cgroup.procs", "77\nbogus\n0\n");
	assert_int_equal(vm_scan_cgroup_pids(f->root, "machine.slice", &pids, &n), 0);
	assert_int_equal(n, 3);
	assert_true(has_pid(pids, n, 4242) && has_pid(pids, n, 4243) && has_pid(pids, n, 77));
	assert_int_equal(vm_scan_cgroup_pids(f->root, "../etc", &pids, &n), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fd_target_kinds),
		cmocka_unit_test(test_loadavg_last_pid),
		cmocka_unit_test(test_fd_target_other),
		cmocka_unit_test(test_fd_target_malformed),
		cmocka_unit_test(test_fd_target_root),
		cmocka_unit_test(test_group_link),
		cmocka_unit_test(test_status),
		cmocka_unit_test(test_status_bad),
		cmocka_unit_test(test_stat),
		cmocka_unit_test(test_stat_bad),
		cmocka_unit_test(test_stat_flags),
		cmocka_unit_test(test_cgroup),
		cmocka_unit_test(test_cgroup_bad),
		cmocka_unit_test_setup_teardown(test_scan_pid, setup_root, teardown_root),
		cmocka_unit_test_setup_teardown(test_scan_pid_not_vm, setup_root, teardown_root),
		cmocka_unit_test_setup_teardown(test_scan_zombie, setup_root, teardown_root),
		cmocka_unit_test_setup_teardown(test_scan_all, setup_root, teardown_root),
		cmocka_unit_test_setup_teardown(test_scan_steps, setup_root, teardown_root),
		cmocka_unit_test_setup_teardown(test_probe, setup_root, teardown_root),
		cmocka_unit_test_setup_teardown(test_read_pinned, setup_root, teardown_root),
		cmocka_unit_test_setup_teardown(test_new_pids, setup_root, teardown_root),
		cmocka_unit_test_setup_teardown(test_new_pids_round, setup_root, teardown_root),
		cmocka_unit_test_setup_teardown(test_cgroup_pids, setup_root, teardown_root),
	};

	return cmocka_run_group_tests_name("vmscan", tests, NULL, NULL);
}
