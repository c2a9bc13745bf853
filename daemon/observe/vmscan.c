// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * VM discovery from /proc: which processes hold VFIO groups, VFIO device
 * cdevs or iommufd open, which IOMMU groups those are, and how much DMA
 * memory they have pinned.  The parsers at the top are pure; the scanner
 * below them does the I/O.
 */
#include <ctype.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "util.h"
#include "values.h"
#include "vmscan.h"

/* No /proc file we read comes close; a larger one is not what we expect. */
#define PROC_FILE_MAX (1024 * 1024)

/* ---- pure parsers ---------------------------------------------------------- */

static bool ends_with_n(const char *s, size_t n, const char *suffix)
{
	size_t l = strlen(suffix);

	return n >= l && memcmp(s + n - l, suffix, l) == 0;
}

/* A decimal u32 in exactly s[0..n): no sign, no spaces, no leading "+". */
static int parse_u32_n(const char *s, size_t n, uint32_t *ret)
{
	uint64_t v = 0;

	if (n == 0 || n > 10)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v > UINT32_MAX)
		return -EINVAL;
	*ret = (uint32_t)v;
	return 0;
}

int vm_parse_fd_target(const char *root, const char *target, VmFdKind *ret_kind,
		       uint32_t *ret_group, char **ret_device)
{
	const char *rel = target, *rest;
	size_t rlen, n;
	uint32_t group = 0;
	VmFdKind kind = VM_FD_OTHER;
	char *device = NULL;

	if (!root || !target || !ret_kind)
		return -EINVAL;

	/*
	 * Under a fake root the kernel shows the full path of the files the
	 * test's processes opened ("<root>/dev/vfio/12"): take the root off
	 * first.  Anything outside the root is not ours to count.
	 */
	rlen = strlen(root);
	while (rlen > 0 && root[rlen - 1] == '/')
		rlen--;
	if (rlen > 0) {
		if (strncmp(target, root, rlen) != 0 || target[rlen] != '/')
			goto done;
		rel = target + rlen;
	}

	/* A device node unlinked while open still names what it was. */
	n = strlen(rel);
	if (ends_with_n(rel, n, " (deleted)"))
		n -= strlen(" (deleted)");

	if (n == strlen("/dev/iommu") && memcmp(rel, "/dev/iommu", n) == 0) {
		kind = VM_FD_IOMMUFD;
		goto done;
	}
	if (n < strlen("/dev/vfio/") || memcmp(rel, "/dev/vfio/", strlen("/dev/vfio/")) != 0)
		goto done;
	rest = rel + strlen("/dev/vfio/");
	n -= strlen("/dev/vfio/");

	if (n == strlen("vfio") && memcmp(rest, "vfio", n) == 0) {
		kind = VM_FD_VFIO_CONTAINER;
		goto done;
	}
	/* No-IOMMU groups have no SMMU behind them. */
	if (n >= strlen("noiommu-") && memcmp(rest, "noiommu-", strlen("noiommu-")) == 0)
		goto done;
	if (n > strlen("devices/") && memcmp(rest, "devices/", strlen("devices/")) == 0) {
		const char *name = rest + strlen("devices/");
		size_t nl = n - strlen("devices/");

		if (memchr(name, '/', nl) || (nl == 1 && name[0] == '.') ||
		    (nl == 2 && name[0] == '.' && name[1] == '.') || nl > NAME_MAX)
			return -EINVAL;
		if (ret_device) {
			device = strndup(name, nl);
			if (!device)
				return -ENOMEM;
		}
		kind = VM_FD_VFIO_DEVICE;
		goto done;
	}
	if (parse_u32_n(rest, n, &group) < 0)
		return -EINVAL;
	kind = VM_FD_VFIO_GROUP;
done:
	*ret_kind = kind;
	if (ret_group)
		*ret_group = group;
	if (ret_device)
		*ret_device = device;
	return 0;
}

int vm_parse_group_link(const char *target, uint32_t *ret_group)
{
	const char *slash, *name;
	size_t n;

	if (!target || !ret_group)
		return -EINVAL;
	n = strlen(target);
	while (n > 0 && target[n - 1] == '/')
		n--;
	slash = memrchr(target, '/', n);
	name = slash ? slash + 1 : target;
	/* The component before the number must be iommu_groups. */
	if (!slash || slash - target < (ptrdiff_t)strlen("iommu_groups") ||
	    memcmp(slash - strlen("iommu_groups"), "iommu_groups", strlen("iommu_groups")) != 0)
		return -EINVAL;
	if (slash - target > (ptrdiff_t)strlen("iommu_groups") &&
	    slash[-(ptrdiff_t)strlen("iommu_groups") - 1] != '/')
		return -EINVAL;
	return parse_u32_n(name, n - (size_t)(name - target), ret_group);
}

/* "   1024 kB" (the rest of a status line after "VmXxx:") into bytes. */
static int parse_status_kb(const char *s, size_t n, uint64_t *ret)
{
	size_t i = 0, start;
	uint64_t v = 0;

	while (i < n && (s[i] == ' ' || s[i] == '\t'))
		i++;
	start = i;
	for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
		if (v > (UINT64_MAX - 9) / 10)
			return -ERANGE;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (i == start)
		return -EBADMSG;
	if (i + 3 != n || memcmp(s + i, " kB", 3) != 0)
		return -EBADMSG;
	if (v > UINT64_MAX / 1024)
		return -ERANGE;
	*ret = v * 1024;
	return 0;
}

int vm_parse_status_pinned(const char *text, uint64_t *ret_bytes)
{
	uint64_t lck = 0, pin = 0;
	bool have_lck = false, have_pin = false;
	const char *p = text;

	if (!text || !ret_bytes)
		return -EINVAL;

	while (*p) {
		const char *eol = strchrnul(p, '\n');
		size_t n = (size_t)(eol - p);
		bool is_lck = n >= 6 && memcmp(p, "VmLck:", 6) == 0;
		bool is_pin = n >= 6 && memcmp(p, "VmPin:", 6) == 0;
		int r;

		if (is_lck || is_pin) {
			bool *have = is_lck ? &have_lck : &have_pin;

			/* The kernel writes each once; two is not its output. */
			if (*have)
				return -EBADMSG;
			*have = true;
			r = parse_status_kb(p + 6, n - 6, is_lck ? &lck : &pin);
			if (r < 0)
				return r;
		}
		p = *eol ? eol + 1 : eol;
	}
	if (lck > UINT64_MAX - pin)
		return -ERANGE;
	*ret_bytes = lck + pin;
	return 0;
}

/*
 * Field number field (>= 3, counted as in proc(5)) of /proc/PID/stat, a
 * decimal u64.  close is the last ')' of the text, where comm ends: the
 * fields after it are single spaces apart and never hold one.
 */
static int stat_field_u64(const char *close, int field, uint64_t *ret)
{
	const char *p = close + 1;
	char num[24];
	size_t n;

	for (int f = 3; f < field; f++) {
		if (*p != ' ')
			return -EBADMSG;
		p++;
		n = strcspn(p, " \n");
		if (n == 0)
			return -EBADMSG;
		p += n;
	}
	if (*p != ' ')
		return -EBADMSG;
	p++;
	n = strcspn(p, " \n");
	if (n == 0 || n >= sizeof(num))
		return -EBADMSG;
	memcpy(num, p, n);
	num[n] = 0;
	return safe_atou64(num, ret) < 0 ? -EBADMSG : 0;
}

int vm_parse_stat_flags(const char *text, unsigned long *ret_flags)
{
	const char *close = text ? strrchr(text, ')') : NULL;
	uint64_t flags;

	if (!close || !ret_flags || stat_field_u64(close, 9, &flags) < 0 || flags > ULONG_MAX)
		return -EBADMSG;
	*ret_flags = (unsigned long)flags;
	return 0;
}

int vm_parse_stat(const char *text, char **ret_comm, uint64_t *ret_starttime)
{
	const char *open, *close, *p;
	uint64_t starttime;
	int r;

	if (!text || !ret_starttime)
		return -EINVAL;

	/*
	 * comm may contain anything but NUL, including ") " and newlines: it
	 * ends at the last ')' of the line, the fields after it never hold
	 * one.
	 */
	open = strchr(text, '(');
	close = strrchr(text, ')');
	if (!open || !close || close < open || open == text || open[-1] != ' ')
		return -EBADMSG;
	for (p = text; p < open - 1; p++)
		if (*p < '0' || *p > '9')
			return -EBADMSG;
	if (p == text)
		return -EBADMSG;

	r = stat_field_u64(close, 22, &starttime);
	if (r < 0)
		return r;

	if (ret_comm) {
		char *comm = strndup(open + 1, (size_t)(close - open - 1));

		if (!comm)
			return -ENOMEM;
		*ret_comm = comm;
	}
	*ret_starttime = starttime;
	return 0;
}

/* The last ".scope"/".service" component of a cgroup path, or NULL. */
static int cgroup_path_unit(const char *path, size_t n, char **ret)
{
	const char *best = NULL;
	size_t best_len = 0;

	for (size_t i = 0; i < n;) {
		size_t j = i;

		while (j < n && path[j] != '/')
			j++;
		if (j > i) {
			const char *c = path + i;
			size_t l = j - i;

			if ((ends_with_n(c, l, ".scope") && l > strlen(".scope")) ||
			    (ends_with_n(c, l, ".service") && l > strlen(".service"))) {
				best = c;
				best_len = l;
			}
		}
		i = j + 1;
	}
	if (!best) {
		*ret = NULL;
		return 0;
	}
	*ret = strndup(best, best_len);
	return *ret ? 0 : -ENOMEM;
}

int vm_parse_cgroup_unit(const char *text, char **ret_unit)
{
	const char *unified = NULL, *named = NULL, *p = text;
	size_t unified_len = 0, named_len = 0;

	if (!text || !ret_unit)
		return -EINVAL;

	while (*p) {
		const char *eol = strchrnul(p, '\n');
		const char *c1, *c2;
		size_t n = (size_t)(eol - p);
		uint32_t id;

		if (n == 0) {
			/* Only the end of the text may be empty. */
			if (*eol && eol[1])
				return -EBADMSG;
			break;
		}
		c1 = memchr(p, ':', n);
		c2 = c1 ? memchr(c1 + 1, ':', (size_t)(eol - c1 - 1)) : NULL;
		if (!c1 || !c2 || parse_u32_n(p, (size_t)(c1 - p), &id) < 0 || c2 + 1 == eol ||
		    c2[1] != '/')
			return -EBADMSG;

		if (id == 0 && c2 == c1 + 1) {
			unified = c2 + 1;
			unified_len = (size_t)(eol - unified);
		} else if ((size_t)(c2 - c1 - 1) == strlen("name=systemd") &&
			   memcmp(c1 + 1, "name=systemd", strlen("name=systemd")) == 0) {
			named = c2 + 1;
			named_len = (size_t)(eol - named);
		}
		p = *eol ? eol + 1 : eol;
	}

	if (unified)
		return cgroup_path_unit(unified, unified_len, ret_unit);
	if (named)
		return cgroup_path_unit(named, named_len, ret_unit);
	*ret_unit = NULL;
	return 0;
}

/* ---- the scanner --------------------------------------------------------- */

Vm *vm_free(Vm *vm)
{
	if (!vm)
		return NULL;
	free(vm->name);
	free(vm->comm);
	free(vm->unit);
	free(vm->groups);
	free(vm);
	return NULL;
}

void vm_array_free(Vm **vms, size_t n)
{
	if (!vms)
		return;
	for (size_t i = 0; i < n; i++)
		vm_free(vms[i]);
	free(vms);
}

/*
 * A /proc file of a process, read whole through the process's directory
 * fd: once the process is gone the read fails instead of reading a
 * newcomer with the same pid.  Errors that mean "gone" become -ESRCH.
 */
static int read_proc_file(int dfd, const char *name, char **ret)
{
	int r = read_full_fileat(dfd, name, PROC_FILE_MAX, ret);

	return r == -ENOENT ? -ESRCH : r;
}

/* What one read of /proc/PID/stat tells. */
typedef struct ProcStat {
	char *comm;
	uint64_t starttime;
	char state;
	unsigned long flags;
} ProcStat;

static void proc_stat_done(ProcStat *st)
{
	free(st->comm);
	st->comm = NULL;
}

/* name: "stat" in a process's directory, or "PID/stat" in /proc. */
static int stat_of(int dfd, const char *name, bool want_comm, ProcStat *ret)
{
	_cleanup_free_ char *text = NULL;
	ProcStat st = {};
	const char *close;
	int r;

	r = read_proc_file(dfd, name, &text);
	if (r < 0)
		return r;
	r = vm_parse_stat(text, want_comm ? &st.comm : NULL, &st.starttime);
	if (r >= 0)
		r = vm_parse_stat_flags(text, &st.flags);
	if (r < 0) {
		proc_stat_done(&st);
		return r;
	}
	close = strrchr(text, ')');
	st.state = close[1] == ' ' ? close[2] : 0;
	*ret = st;
	return 0;
}

int vm_device_group(const char *root, const char *device, uint32_t *ret)
{
	_cleanup_free_ char *rel = NULL, *path = NULL, *target = NULL;
	int r;

	if (asprintf(&rel, "sys/class/vfio-dev/%s/device/iommu_group", device) < 0)
		return -ENOMEM;
	path = path_join(root, rel);
	if (!path)
		return -ENOMEM;
	r = readlinkat_malloc(AT_FDCWD, path, &target);
	if (r < 0)
		return r;
	return vm_parse_group_link(target, ret);
}

static int add_group(Vm *vm, uint32_t g)
{
	uint32_t *n;
	size_t i;

	for (i = 0; i < vm->n_groups && vm->groups[i] < g; i++)
		;
	if (i < vm->n_groups && vm->groups[i] == g)
		return 0;
	n = realloc(vm->groups, (vm->n_groups + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	memmove(n + i + 1, n + i, (vm->n_groups - i) * sizeof(*n));
	n[i] = g;
	vm->groups = n;
	vm->n_groups++;
	return 0;
}

/* Walks /proc/PID/fd: returns 1 if any fd makes this process a VM. */
static int scan_fds(const char *root, int dfd, pid_t pid, Vm *vm)
{
	_cleanup_close_ int fd = -1;
	bool is_vm = false;
	DirReader d;

	fd = openat(dfd, "fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ESRCH : negative_errno();
	dir_reader_init(&d, fd);

	for (;;) {
		_cleanup_free_ char *target = NULL, *device = NULL;
		const struct dirent64 *de;
		VmFdKind kind;
		uint32_t group;
		int r;

		r = dir_reader_next(&d, &de);
		if (r == -ENOENT || r == -ESRCH)
			return -ESRCH;
		if (r < 0)
			return r;
		if (r == 0)
			break;
		if (de->d_name[0] == '.')
			continue;

		r = readlinkat_malloc(fd, de->d_name, &target);
		if (r == -ENOENT)
			continue; /* closed while we looked */
		if (r < 0)
			return r;

		r = vm_parse_fd_target(root, target, &kind, &group, &device);
		if (r == -ENOMEM)
			return r;
		if (r < 0) {
			log_debug_errno(r, "Process %d: fd %s -> %s: unrecognized VFIO name, ignoring: %m",
					(int)pid, de->d_name, target);
			continue;
		}

		switch (kind) {
		case VM_FD_VFIO_GROUP:
			is_vm = true;
			r = add_group(vm, group);
			if (r < 0)
				return r;
			break;
		case VM_FD_VFIO_DEVICE:
			is_vm = true;
			r = vm_device_group(root, device, &group);
			if (r < 0) {
				/* Still a VM: it holds a device; only its group is unknown. */
				log_debug_errno(r, "Process %d: no IOMMU group for VFIO device %s: %m",
						(int)pid, device);
				break;
			}
			r = add_group(vm, group);
			if (r < 0)
				return r;
			break;
		case VM_FD_IOMMUFD:
			is_vm = true;
			vm->iommufd = true;
			break;
		case VM_FD_VFIO_CONTAINER:
		case VM_FD_OTHER:
			break;
		}
	}
	return is_vm;
}

static int canonical_root(const char *root, char **ret)
{
	char *c = realpath(root ? root : "/", NULL);

	if (!c)
		return negative_errno();
	*ret = c;
	return 0;
}

/*
 * dying_too: look at the files of a process in do_exit() as well.  A scan
 * does not: such a process is closing its files, and reading one of its fd
 * links takes a reference on that file for a moment; if the process drops
 * its own meanwhile, the last reference is ours, and the file's release
 * (for a VFIO group: the VM's whole IOMMU teardown) runs in smmud, at its
 * return to user space, while the VMM's parent finds the group still busy.
 * Its exit events tell of it instead.
 *
 * dfd is the process's /proc directory, first what its stat said when
 * dfd was opened (first->comm is taken).
 */
static int scan_process(const char *croot, int dfd, pid_t pid, ProcStat *first, bool dying_too,
			Vm **ret)
{
	_cleanup_(vm_freep) Vm *vm = NULL;
	_cleanup_free_ char *status = NULL, *cgroup = NULL;
	ProcStat again;
	int r;

	/* A zombie has released its files already: its teardown is done. */
	if (first->state == 'Z' || first->state == 'X')
		return -ESRCH;
	/*
	 * A kernel thread opens no VFIO file.  Most of /proc on a big host,
	 * and each costs a dozen syscalls to look through: skipped.
	 */
	if (first->flags & VM_PF_KTHREAD)
		return -ENOENT;
	if ((first->flags & VM_PF_EXITING) && !dying_too)
		return -ESRCH;

	vm = calloc(1, sizeof(*vm));
	if (!vm)
		return -ENOMEM;
	vm->pid = pid;
	vm->starttime = first->starttime;
	vm->comm = TAKE_PTR(first->comm);

	r = scan_fds(croot, dfd, pid, vm);
	if (r < 0)
		return r;
	if (r == 0)
		return -ENOENT;

	r = read_proc_file(dfd, "status", &status);
	if (r < 0)
		return r;
	r = vm_parse_status_pinned(status, &vm->pinned_bytes);
	if (r < 0)
		return log_warning_errno(r, "Process %d: cannot parse pinned memory from status: %m",
					 (int)pid);

	r = read_proc_file(dfd, "cgroup", &cgroup);
	if (r >= 0) {
		r = vm_parse_cgroup_unit(cgroup, &vm->unit);
		if (r < 0)
			return log_warning_errno(r, "Process %d: cannot parse its cgroup: %m", (int)pid);
	} else if (r != -ESRCH || faccessat(dfd, "stat", F_OK, 0) < 0)
		return r;
	/* else: a kernel without cgroups has no cgroup file, so no unit. */

	/*
	 * Everything above was read through the directory of the process we
	 * opened, but make sure it did not die meanwhile (its fds would then
	 * be half gone): a second look at stat must still succeed.
	 */
	r = stat_of(dfd, "stat", false, &again);
	if (r < 0)
		return r;
	if (again.starttime != vm->starttime || again.state == 'Z' || again.state == 'X')
		return -ESRCH;
	vm->seen_usec = now_usec(CLOCK_MONOTONIC);

	*ret = TAKE_PTR(vm);
	return 0;
}

/* The /proc directory of pid, opened through proc_fd: -ESRCH if there is none. */
static int open_pid_dir(int proc_fd, pid_t pid)
{
	char name[16];
	int dfd;

	snprintf(name, sizeof(name), "%d", (int)pid);
	dfd = openat(proc_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return errno == ENOENT ? -ESRCH : negative_errno();
	return dfd;
}

static int scan_pid_in(const char *croot, int proc_fd, pid_t pid, Vm **ret)
{
	_cleanup_close_ int dfd = -1;
	ProcStat st = {};
	int r;

	if (pid <= 0)
		return -EINVAL;
	dfd = open_pid_dir(proc_fd, pid);
	if (dfd < 0)
		return dfd;
	r = stat_of(dfd, "stat", true, &st);
	if (r < 0)
		return r;
	r = scan_process(croot, dfd, pid, &st, false, ret);
	proc_stat_done(&st);
	return r;
}

/* The root made canonical (fd link targets are compared with it) and its proc opened: the fd. */
static int open_proc(const char *root, char **ret_croot)
{
	_cleanup_free_ char *croot = NULL, *p = NULL;
	int fd, r;

	r = canonical_root(root, &croot);
	if (r < 0)
		return r;
	p = path_join(croot, "proc");
	if (!p)
		return -ENOMEM;
	fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return negative_errno();
	*ret_croot = TAKE_PTR(croot);
	return fd;
}

/* p's /proc: opened at the first call that succeeds, then kept. */
static int proc_fd_of(VmProc *p)
{
	if (p->fd < 0) {
		int fd = open_proc(p->root, &p->croot);

		if (fd < 0)
			return fd;
		p->fd = fd;
	}
	return p->fd;
}

void vm_proc_done(VmProc *p)
{
	if (!p)
		return;
	if (p->fd >= 0)
		close(p->fd);
	p->fd = -1;
	free(p->croot);
	p->croot = NULL;
}

int vm_scan_pid(VmProc *p, pid_t pid, Vm **ret)
{
	int proc_fd;

	if (!p || !ret)
		return -EINVAL;
	proc_fd = proc_fd_of(p);
	if (proc_fd < 0)
		return proc_fd;
	return scan_pid_in(p->croot, proc_fd, pid, ret);
}

static int vm_cmp(const void *a, const void *b)
{
	const Vm *x = *(Vm *const *)a, *y = *(Vm *const *)b;

	return (x->pid > y->pid) - (x->pid < y->pid);
}

struct VmScan {
	char *croot;
	DIR *proc;
	Vm **vms;
	size_t n_vms;
	bool done;
};

VmScan *vm_scan_free(VmScan *s)
{
	if (!s)
		return NULL;
	if (s->proc)
		closedir(s->proc);
	vm_array_free(s->vms, s->n_vms);
	free(s->croot);
	free(s);
	return NULL;
}

int vm_scan_new(const char *root, VmScan **ret)
{
	_cleanup_(vm_scan_freep) VmScan *s = calloc(1, sizeof(VmScan));
	int proc_fd, r;

	if (!s)
		return -ENOMEM;
	proc_fd = open_proc(root, &s->croot);
	if (proc_fd < 0)
		return proc_fd;
	s->proc = fdopendir(proc_fd);
	if (!s->proc) {
		r = negative_errno();
		close(proc_fd);
		return r;
	}
	*ret = TAKE_PTR(s);
	return 0;
}

int vm_scan_step(VmScan *s)
{
	for (;;) {
		struct dirent *de;
		uint32_t pid;
		Vm *vm, **nv;
		int r;

		if (s->done)
			return 0;
		errno = 0;
		de = readdir(s->proc);
		if (!de) {
			if (errno != 0)
				return negative_errno();
			s->done = true;
			return 0;
		}
		if (parse_u32_n(de->d_name, strlen(de->d_name), &pid) < 0 || pid == 0 ||
		    pid > INT_MAX)
			continue;
		/*
		 * Not smmud itself: sd-event keeps an O_PATH fd of each file it
		 * watches with inotify (/dev/iommu among them) while it adds
		 * the watch, which is no open of the device.
		 */
		if ((pid_t)pid == getpid())
			continue;

		r = scan_pid_in(s->croot, dirfd(s->proc), (pid_t)pid, &vm);
		if (r == -ESRCH || r == -ENOENT)
			return 1;
		if (r == -ENOMEM)
			return r;
		if (r < 0) {
			/*
			 * One unreadable process (EACCES under a restricted
			 * /proc, odd text) must not hide every other VM.
			 */
			log_debug_errno(r, "Skipping process %u: %m", pid);
			return 1;
		}
		nv = realloc(s->vms, (s->n_vms + 1) * sizeof(*nv));
		if (!nv) {
			vm_free(vm);
			return -ENOMEM;
		}
		s->vms = nv;
		s->vms[s->n_vms++] = vm;
		return 1;
	}
}

void vm_scan_take(VmScan *s, Vm ***ret, size_t *ret_n)
{
	if (s->n_vms > 1)
		qsort(s->vms, s->n_vms, sizeof(*s->vms), vm_cmp);
	*ret = TAKE_PTR(s->vms);
	*ret_n = s->n_vms;
	s->n_vms = 0;
}

/* ---- where to look first ---------------------------------------------------- */

/* The first pid the kernel gives out when pids go round (RESERVED_PIDS). */
#define PID_WRAP_FIRST 300

static int read_u64_at(int dir_fd, const char *rel, uint64_t *ret)
{
	_cleanup_free_ char *text = NULL;
	int r;

	r = read_one_line_fileat(dir_fd, rel, &text);
	if (r < 0)
		return r;
	return safe_atou64(text, ret) < 0 ? -EBADMSG : 0;
}

int vm_parse_loadavg_last_pid(const char *text, pid_t *ret)
{
	const char *last;
	uint32_t pid;
	size_t len;

	if (!text || !ret)
		return -EINVAL;
	/* "0.20 0.18 0.12 1/80 11206\n": the last field is the last pid given out. */
	len = strcspn(text, "\n");
	while (len > 0 && text[len - 1] == ' ')
		len--;
	last = memrchr(text, ' ', len);
	if (!last || last == text)
		return -EBADMSG;
	last++;
	if (parse_u32_n(last, len - (size_t)(last - text), &pid) < 0 || pid > INT_MAX)
		return -EBADMSG;
	*ret = (pid_t)pid;
	return 0;
}

/* Now, as /proc/PID/stat's start time counts: clock ticks since boot, suspend included. */
static int boot_ticks_now(uint64_t *ret)
{
	long hz = sysconf(_SC_CLK_TCK);

	if (hz <= 0)
		return -EINVAL;
	*ret = now_usec(CLOCK_BOOTTIME) / (USEC_PER_SEC / (uint64_t)hz);
	return 0;
}

int vm_pid_cursor_now(VmProc *p, VmPidCursor *ret)
{
	_cleanup_free_ char *text = NULL, *loadavg = NULL;
	uint64_t forks = 0, ticks;
	const char *line;
	pid_t last;
	int proc_fd, r;

	if (!p || !ret)
		return -EINVAL;
	proc_fd = proc_fd_of(p);
	if (proc_fd < 0)
		return proc_fd;
	/*
	 * The last pid given out: /proc/loadavg has it on every kernel
	 * (ns_last_pid needs CONFIG_CHECKPOINT_RESTORE).
	 */
	r = read_one_line_fileat(proc_fd, "loadavg", &loadavg);
	if (r < 0)
		return r;
	r = vm_parse_loadavg_last_pid(loadavg, &last);
	if (r < 0)
		return r;
	r = read_full_fileat(proc_fd, "stat", PROC_FILE_MAX, &text);
	if (r < 0)
		return r;
	line = strstr(text, "\nprocesses ");
	if (!line || sscanf(line, "\nprocesses %" SCNu64, &forks) != 1)
		return -EBADMSG;
	r = boot_ticks_now(&ticks);
	if (r < 0)
		return r;
	*ret = (VmPidCursor){ .set = true, .last_pid = last, .forks = forks, .ticks = ticks };
	return 0;
}

/*
 * Whether the process pid was started after the cursor from, now being
 * to.  Without going round, pids are given out in order: its number
 * tells.  Once they went round, the kernel gave out the free ones from
 * PID_WRAP_FIRST up, past processes of any age (the host's daemons hold
 * low pids since boot): there, only its start time tells.
 */
static bool pid_is_new(int proc_fd, pid_t pid, const VmPidCursor *from, const VmPidCursor *to)
{
	_cleanup_close_ int dfd = -1;
	ProcStat st = {};

	if (from->last_pid <= to->last_pid)
		return pid > from->last_pid && pid <= to->last_pid;
	if (pid > from->last_pid)
		return true;
	if (pid < PID_WRAP_FIRST || pid > to->last_pid)
		return false;
	dfd = open_pid_dir(proc_fd, pid);
	if (dfd < 0 || stat_of(dfd, "stat", false, &st) < 0)
		return false; /* gone: nothing to probe */
	/* Same tick as the cursor: maybe older, one probe too many at worst. */
	return st.starttime >= from->ticks;
}

int vm_scan_new_pids(VmProc *p, VmPidCursor *cursor, pid_t **ret, size_t *ret_n)
{
	_cleanup_free_ pid_t *pids = NULL;
	_cleanup_close_ int fd = -1;
	VmPidCursor now;
	uint64_t pid_max = 0;
	DirReader d;
	size_t n = 0;
	int r;

	if (!p || !cursor || !ret || !ret_n)
		return -EINVAL;
	r = vm_pid_cursor_now(p, &now);
	if (r < 0)
		return r;
	r = read_u64_at(p->fd, "sys/kernel/pid_max", &pid_max);
	if (r < 0)
		return r;
	/* Every pid may have been given out again since: no telling which are new. */
	if (!cursor->set || now.forks < cursor->forks ||
	    now.forks - cursor->forks + PID_WRAP_FIRST >= pid_max)
		return -ERANGE;

	/* An open of its own: a directory's read position is shared by its dups. */
	fd = openat(p->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return negative_errno();
	dir_reader_init(&d, fd);
	for (;;) {
		const struct dirent64 *de;
		uint32_t pid;
		pid_t *np;

		r = dir_reader_next(&d, &de);
		if (r < 0)
			return r;
		if (r == 0)
			break;
		if (parse_u32_n(de->d_name, strlen(de->d_name), &pid) < 0 || pid == 0 ||
		    pid > INT_MAX)
			continue;
		if (!pid_is_new(p->fd, (pid_t)pid, cursor, &now))
			continue;
		np = realloc(pids, (n + 1) * sizeof(pid_t));
		if (!np)
			return -ENOMEM;
		pids = np;
		pids[n++] = (pid_t)pid;
	}
	*cursor = now;
	*ret = TAKE_PTR(pids);
	*ret_n = n;
	return 0;
}

#define CGROUP_DEPTH_MAX 8

static int cgroup_walk(int dfd, unsigned depth, pid_t **pids, size_t *n)
{
	_cleanup_free_ char *procs = NULL;
	_cleanup_closedir_ DIR *d = NULL;
	int r, fd;

	r = read_full_fileat(dfd, "cgroup.procs", PROC_FILE_MAX, &procs);
	if (r >= 0)
		for (const char *p = procs; *p;) {
			size_t len = strcspn(p, "\n");
			uint32_t pid;
			pid_t *np;

			if (parse_u32_n(p, len, &pid) >= 0 && pid > 0 && pid <= INT_MAX) {
				np = realloc(*pids, (*n + 1) * sizeof(pid_t));
				if (!np)
					return -ENOMEM;
				*pids = np;
				(*pids)[(*n)++] = (pid_t)pid;
			}
			p += len + (p[len] == '\n');
		}
	if (depth >= CGROUP_DEPTH_MAX)
		return 0;
	fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return 0;
	}
	for (struct dirent *de; (de = readdir(d));) {
		_cleanup_close_ int sub = -1;

		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
		if (sub < 0)
			continue; /* removed meanwhile: a scope that ended */
		r = cgroup_walk(sub, depth + 1, pids, n);
		if (r < 0)
			return r;
	}
	return 0;
}

int vm_scan_cgroup_pids(const char *root, const char *slice, pid_t **pids, size_t *n)
{
	static const char *const bases[] = { "sys/fs/cgroup", "sys/fs/cgroup/unified",
					     "sys/fs/cgroup/systemd" };

	if (!slice || !pids || !n || !value_is_token(slice))
		return -EINVAL;
	for (size_t i = 0; i < ELEMENTSOF(bases); i++) {
		_cleanup_free_ char *rel = NULL, *p = NULL;
		_cleanup_close_ int dfd = -1;

		if (asprintf(&rel, "%s/%s", bases[i], slice) < 0)
			return -ENOMEM;
		p = root_path(root, rel);
		if (!p)
			return -ENOMEM;
		dfd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0)
			continue;
		return cgroup_walk(dfd, 0, pids, n);
	}
	return 0;
}

int vm_scan_all(const char *root, Vm ***ret, size_t *ret_n)
{
	_cleanup_(vm_scan_freep) VmScan *s = NULL;
	int r;

	if (!ret || !ret_n)
		return -EINVAL;
	r = vm_scan_new(root, &s);
	if (r < 0)
		return r;
	while ((r = vm_scan_step(s)) > 0)
		;
	if (r < 0)
		return r;
	vm_scan_take(s, ret, ret_n);
	return 0;
}

int vm_probe(VmProc *p, pid_t pid, bool want_files, VmProcess *ret)
{
	_cleanup_close_ int dfd = -1;
	_cleanup_(vm_freep) Vm *vm = NULL;
	ProcStat st = {};
	VmProcessState state;
	int proc_fd, r;

	if (!p || pid <= 0 || !ret)
		return -EINVAL;
	proc_fd = proc_fd_of(p);
	if (proc_fd < 0)
		return proc_fd;
	if (want_files) {
		dfd = open_pid_dir(proc_fd, pid);
		r = dfd < 0 ? dfd : stat_of(dfd, "stat", true, &st);
	} else {
		char name[32];

		/*
		 * Nothing read after the stat file, so no directory to hold
		 * the process by: two syscalls fewer on the paths that race a
		 * dying VMM's teardown (a close's look, an exit's).
		 */
		snprintf(name, sizeof(name), "%d/stat", (int)pid);
		r = stat_of(proc_fd, name, false, &st);
	}
	if (r == -ESRCH) {
		*ret = (VmProcess){ .state = VM_PROCESS_GONE };
		return 0;
	}
	if (r < 0)
		return r;
	state = (st.flags & VM_PF_EXITING) || st.state == 'Z' || st.state == 'X'
			? VM_PROCESS_EXITING
			: VM_PROCESS_RUNNING;
	if (want_files) {
		r = scan_process(p->croot, dfd, pid, &st, true, &vm);
		proc_stat_done(&st);
		/*
		 * -ESRCH: it died while its files were read, through the
		 * directory opened above, so no newcomer was: no VM, and
		 * the state first read.
		 */
		if (r < 0 && r != -ENOENT && r != -ESRCH)
			return r;
	}
	*ret = (VmProcess){
		.state = state,
		.starttime = st.starttime,
		.vm = TAKE_PTR(vm),
		.zombie = st.state == 'Z' || st.state == 'X',
	};
	return 0;
}

/* The /proc directory of the process pid started at starttime: -ESRCH if that one is gone. */
static int open_process(VmProc *p, pid_t pid, uint64_t starttime, int *ret_dfd)
{
	_cleanup_close_ int dfd = -1;
	ProcStat st;
	int proc_fd, r;

	proc_fd = proc_fd_of(p);
	if (proc_fd < 0)
		return proc_fd;
	dfd = open_pid_dir(proc_fd, pid);
	if (dfd < 0)
		return dfd;
	r = stat_of(dfd, "stat", false, &st);
	if (r < 0)
		return r;
	if (st.starttime != starttime)
		return -ESRCH;
	*ret_dfd = TAKE_FD(dfd);
	return 0;
}

int vm_read_pinned(VmProc *p, pid_t pid, uint64_t starttime, uint64_t *ret_bytes)
{
	_cleanup_free_ char *status = NULL;
	_cleanup_close_ int dfd = -1;
	int r;

	if (!p || pid <= 0 || !ret_bytes)
		return -EINVAL;
	r = open_process(p, pid, starttime, &dfd);
	if (r < 0)
		return r;
	r = read_proc_file(dfd, "status", &status);
	if (r < 0)
		return r;
	return vm_parse_status_pinned(status, ret_bytes);
}
