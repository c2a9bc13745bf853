/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * VM discovery: a VM is any process that holds a VFIO group
 * (/dev/vfio/<N>), a VFIO device cdev (/dev/vfio/devices/vfioX) or an
 * iommufd (/dev/iommu) open, so QEMU, cloud-hypervisor, crosvm and
 * firecracker are all found the same way, from /proc/PID/fd.
 *
 * Every path is looked up under a root directory ("/" normally, a fake tree
 * in tests).  The text parsers are pure functions of their input (no I/O,
 * no globals) so unit tests and fuzz targets call them directly.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct Vm {
	pid_t pid;
	uint64_t starttime;     /* field 22 of /proc/PID/stat: guards against PID reuse */
	char *name;             /* NULL here; the manager fills it from machined */
	char *comm;
	char *unit;             /* last .scope/.service cgroup component, or NULL */
	uint64_t pinned_bytes;  /* VmLck (VFIO type1) + VmPin (iommufd) */
	uint32_t *groups;       /* IOMMU groups, sorted, no duplicates */
	size_t n_groups;
	bool iommufd;           /* holds /dev/iommu open */
	uint64_t stopping_usec; /* the VM model's: when its stop job was heard, 0: never */
	uint64_t seen_usec;     /* CLOCK_MONOTONIC after its files were read, it still there, 0: unknown */
} Vm;

/*
 * <root>/proc, opened at the first call that needs it and kept until
 * vm_proc_done(): the daemon probes single processes as they open VFIO
 * files and exit, and each probe would otherwise resolve the root and
 * open /proc again.  root is borrowed: it must outlive the VmProc.
 */
typedef struct VmProc {
	const char *root;
	char *croot;            /* root made canonical: fd link targets are compared with it */
	int fd;
} VmProc;

#define VM_PROC_INIT(r) ((VmProc){ .root = (r), .fd = -1 })

void vm_proc_done(VmProc *p);

/*
 * Scans one process.  0 and *ret (a VM), -ESRCH if the process is gone (or
 * in do_exit(), or a zombie: its exit events tell of it), -ENOENT if it holds no VFIO group, device or iommufd, other
 * -errno on failure.
 */
int vm_scan_pid(VmProc *p, pid_t pid, Vm **ret);

/*
 * A scan of every process under <root>/proc, one process a step, so that
 * the caller can attend to other events between steps: a scan of a busy
 * host's /proc takes long, and an exit heard meanwhile must not wait for
 * its end.  Processes that vanish or are not VMs are skipped.
 */
typedef struct VmScan VmScan;

int vm_scan_new(const char *root, VmScan **ret);
/* Looks at the next process: 1 while processes remain, 0 once all were seen, or -errno. */
int vm_scan_step(VmScan *s);
/* The VMs found so far, sorted by pid, as a malloc'd array (vm_array_free()). */
void vm_scan_take(VmScan *s, Vm ***ret, size_t *ret_n);
VmScan *vm_scan_free(VmScan *s);
static inline void vm_scan_freep(VmScan **s)
{
	vm_scan_free(*s);
}

/*
 * Where process creation stands: the last pid given out (/proc/loadavg),
 * the processes forked since boot (/proc/stat) and the time, in the clock
 * ticks since boot that /proc/PID/stat's start times count; set: read once
 * at least.
 */
typedef struct VmPidCursor {
	bool set;
	pid_t last_pid;
	uint64_t forks;
	uint64_t ticks;
} VmPidCursor;

int vm_pid_cursor_now(VmProc *p, VmPidCursor *ret);
/* The last pid given out, the last field of /proc/loadavg's text. */
int vm_parse_loadavg_last_pid(const char *text, pid_t *ret);

/*
 * The processes started since cursor: those <root>/proc lists whose pid
 * was given out after it (pids go round from pid_max to 300: then those
 * below the last pid are new only if they started since), sorted,
 * malloc'd (NULL if none); then *cursor is where things stand now.
 * -ERANGE if the cursor was not set or more processes were forked since
 * than there are pids (any may be new).  What a VFIO open's look probes
 * first: the opener is almost always a VMM started since the last look.
 */
int vm_scan_new_pids(VmProc *p, VmPidCursor *cursor, pid_t **ret, size_t *ret_n);

/*
 * The processes of the cgroups under <root>/sys/fs/cgroup/SLICE, at any
 * depth (the unified hierarchy, or the systemd one of a hybrid), appended
 * to *pids (*n of them): "machine.slice" holds the machines' scopes.
 * 0 if there is no such slice.
 */
int vm_scan_cgroup_pids(const char *root, const char *slice, pid_t **pids, size_t *n);

/* The IOMMU group of the VFIO device cdev named device (/dev/vfio/devices/NAME). */
int vm_device_group(const char *root, const char *device, uint32_t *ret);

/* All steps at once: every VM under <root>/proc, as vm_scan_take() gives them. */
int vm_scan_all(const char *root, Vm ***ret, size_t *ret_n);

typedef enum VmProcessState {
	VM_PROCESS_GONE,        /* no such process (reaped, or never was) */
	VM_PROCESS_EXITING,     /* in do_exit() (PF_EXITING), or a zombie */
	VM_PROCESS_RUNNING,
	_VM_PROCESS_STATE_MAX,
} VmProcessState;

typedef struct VmProcess {
	VmProcessState state;
	uint64_t starttime;     /* unless GONE */
	Vm *vm;                 /* asked for: the VM it is (it holds VFIO files), else NULL */
	bool zombie;            /* EXITING, and past exit_files(): its files are closed */
} VmProcess;

/*
 * What pid is now: gone, exiting or running, with its start time; with
 * want_files, and unless it is a zombie, also the VM it is (ret->vm,
 * malloc'd) if it holds a VFIO group, device or iommufd.  -errno if that
 * cannot be told (an unreadable /proc).
 */
int vm_probe(VmProc *p, pid_t pid, bool want_files, VmProcess *ret);

/*
 * The memory the process pid (started at starttime) has pinned now, from
 * /proc/PID/status: -ESRCH if that process is gone.  A VMM pins its
 * memory after it opened its VFIO files, so a VM found by its open is
 * found before it pins: its figure is read again later.
 */
int vm_read_pinned(VmProc *p, pid_t pid, uint64_t starttime, uint64_t *ret_bytes);

Vm *vm_free(Vm *vm);
void vm_array_free(Vm **vms, size_t n);

static inline void vm_freep(Vm **vm)
{
	vm_free(*vm);
	*vm = (Vm *)0;
}

/* ---- pure parsers (unit tests, fuzzing) ---------------------------------- */

typedef enum VmFdKind {
	VM_FD_OTHER,            /* anything else: a VM does not need it */
	VM_FD_VFIO_CONTAINER,   /* /dev/vfio/vfio: a type1 container, no group by itself */
	VM_FD_VFIO_GROUP,       /* /dev/vfio/<N> */
	VM_FD_VFIO_DEVICE,      /* /dev/vfio/devices/<name>: group from sysfs */
	VM_FD_IOMMUFD,          /* /dev/iommu */
} VmFdKind;

/*
 * Classifies the target of a /proc/PID/fd link.  root is the canonical root
 * directory the link targets were seen under ("/" or a fake tree); targets
 * outside it are VM_FD_OTHER.  A " (deleted)" suffix is ignored.  For
 * VM_FD_VFIO_GROUP *ret_group is set; for VM_FD_VFIO_DEVICE *ret_device
 * is the malloc'd device name ("vfio0"), NULL otherwise (ret_device may be
 * NULL: not wanted).  Returns 0, or -EINVAL for a malformed name under
 * /dev/vfio (nothing is set then), -ENOMEM.
 */
int vm_parse_fd_target(const char *root, const char *target, VmFdKind *ret_kind,
		       uint32_t *ret_group, char **ret_device);

/*
 * The IOMMU group number from the target of a sysfs iommu_group link
 * ("../../../../kernel/iommu_groups/12").  -EINVAL if malformed.
 */
int vm_parse_group_link(const char *target, uint32_t *ret_group);

/*
 * Pinned DMA memory from /proc/PID/status text: VmLck + VmPin, in bytes.
 * A missing line counts 0 (zombies and kernel threads have none).  -EBADMSG
 * for a malformed VmLck/VmPin line or unit, -ERANGE on overflow.
 */
int vm_parse_status_pinned(const char *text, uint64_t *ret_bytes);

/*
 * comm and starttime (field 22) from /proc/PID/stat text.  comm is
 * everything between the first '(' and the last ')' (it may itself contain
 * ")" and spaces).  *ret_comm is malloc'd (NULL ret_comm: not wanted).
 * -EBADMSG if malformed.
 */
int vm_parse_stat(const char *text, char **ret_comm, uint64_t *ret_starttime);

/* PF_* of include/linux/sched.h, in the flags field of /proc/PID/stat. */
#define VM_PF_EXITING 0x00000004UL
#define VM_PF_KTHREAD 0x00200000UL

/* The flags (field 9) from /proc/PID/stat text.  -EBADMSG if malformed. */
int vm_parse_stat_flags(const char *text, unsigned long *ret_flags);

/*
 * The unit of a process from /proc/PID/cgroup text: the last path
 * component ending in ".scope" or ".service" of the unified ("0::") line,
 * or of the "name=systemd" line on a hybrid hierarchy.  *ret_unit is
 * malloc'd, or NULL when there is no such component.  -EBADMSG if a line
 * is not "ID:CONTROLLERS:PATH".
 */
int vm_parse_cgroup_unit(const char *text, char **ret_unit);
