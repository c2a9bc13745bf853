// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vfio-vmm: what a VMM does to the IOMMU, from VFIO open to teardown.
 *
 * Runs in the arm64 test guest (static, no libc beyond the kernel ABI).  It
 * opens a device through one of two backends, maps N MiB of its own memory
 * for DMA in one of three layouts (4 KiB pages, THP, hugetlb), optionally
 * drives the DMA engine of QEMU's edu device through the mapping, and tears
 * down the way a VMM does:
 *
 *   unmap  unmap while the device is still attached (a VMM shutting down
 *          gracefully);
 *   close  close the fds with the mappings in place (VFIO and iommufd
 *          detach the device, then unmap and unpin);
 *   exit   the VMM process just exits with everything open;
 *   kill   the VMM process is SIGKILLed with everything open;
 *   wait   the VMM blocks until somebody else kills it;
 *   detach (iommufd) detach the device from its HWPT, unmap while nothing
 *          is attached, attach the same HWPT again and require the old
 *          IOVAs to fault through it, then close.
 *
 * Backends (--backend): type1, a VFIO group in a container with the type1
 * IOMMU; iommufd, the VFIO device cdev bound to /dev/iommu, with an IOAS and
 * a HWPT allocated explicitly for the device (IOMMU_HWPT_ALLOC) and
 * attached to it, so that a detached HWPT can be attached again.
 *
 * exit and kill fork: the child is the VMM, the parent times the child's
 * death (waitpid returns after do_exit() ran the VFIO release).
 *
 * The DMA check (--dma-check) proves the IOMMU does what it must: before
 * teardown, edu reads a known pattern through the IOVA and it arrives;
 * after teardown, the same read from the stale IOVA must fault.  A faulting
 * edu read leaves zeroes in the edu buffer; a kernel that skipped an
 * invalidation lets QEMU's IOTLB serve the old translation and the pattern
 * comes back.  --selftest shows the check can fail: it runs the "must
 * fault" check on an IOVA that is still mapped and requires it to say so.
 *
 * Results are key=value lines on stdout; errors go to stderr as
 * "error=..." and the exit status is 1 (2 for bad usage).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/vfio.h>
#include "iommufd-uapi.h"
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>

#define KiB ((uint64_t)1024)
#define MiB (KiB * 1024)
#define HUGE_2M (2 * MiB)
#define PAGE_4K ((uint64_t)4096)

/* QEMU edu: BAR0 registers and the DMA engine's view of its buffer. */
#define EDU_REG_ID 0x00
#define EDU_REG_LIVE 0x04
#define EDU_REG_DMA_SRC 0x80
#define EDU_REG_DMA_DST 0x88
#define EDU_REG_DMA_CNT 0x90
#define EDU_REG_DMA_CMD 0x98
#define EDU_DMA_RUN 0x1
#define EDU_DMA_TO_RAM 0x2 /* edu buffer -> RAM; clear: RAM -> buffer */
#define EDU_DMA_BUF 0x40000ULL
/*
 * QEMU 7.2's edu aborts the whole VM (hw_error) when a transfer ends at the
 * very end of its 4 KiB buffer (off by one): move half of it.
 */
#define EDU_DMA_LEN ((uint64_t)2048)
#define EDU_DMA_TIMEOUT_NS (5ULL * 1000000000ULL)

/* Where things sit in the IOVA space: clear of the SMMU's MSI window. */
#define SCRATCH_IOVA 0x80000000ULL
#define DEFAULT_IOVA 0x100000000ULL
#define LIVE_IOVA 0x200000000ULL

enum layout { LAYOUT_4K, LAYOUT_THP, LAYOUT_HUGETLB };
enum teardown { TD_UNMAP, TD_CLOSE, TD_EXIT, TD_KILL, TD_WAIT, TD_DETACH };
enum backend { BACKEND_TYPE1, BACKEND_IOMMUFD };

struct opts {
	const char *bdf;
	int group;
	uint64_t size;
	uint64_t chunk;
	uint64_t iova;
	enum layout layout;
	enum teardown teardown;
	enum backend backend;
	bool dma_check;
	unsigned int dma_pages;
	unsigned int iterations;
	bool hold;
	const char *ready_file;
	const char *torn_fifo;
	const char *rounds_file;
	double live_seconds;
	bool live;
	unsigned int dma_every;
	bool selftest;
	const char *probe;
	const char *inject;
	const char *pattern_file;
};

struct vdev {
	enum backend backend;
	int container;		/* type1 container, or the iommufd */
	int group;
	int device;
	uint32_t ioas_id;	/* iommufd */
	uint32_t hwpt_id;
	uint32_t dev_id;
	volatile uint8_t *bar0;
	size_t bar0_size;
	bool edu;
	char bdf[64];
	int group_nr;
};

struct region {
	uint8_t *base;
	uint64_t size;
	void *map_base;
	size_t map_len;
};

/* The edu DMA engine's two scratch pages, mapped at SCRATCH_IOVA. */
struct scratch {
	uint8_t *mem;		/* [0] readback, [1] preload pattern */
	bool mapped;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* CLOCK_REALTIME in microseconds: the clock smmud's Decision signals carry. */
static uint64_t realtime_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000ULL + (uint64_t)ts.tv_nsec / 1000;
}

static double ms_since(uint64_t t0)
{
	return (double)(now_ns() - t0) / 1e6;
}

static void err(const char *what, int e)
{
	fprintf(stderr, "error=%s: %s\n", what, strerror(e < 0 ? -e : e));
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}

/* ---- sysfs: BDF <-> IOMMU group ------------------------------------- */

static int group_of_bdf(const char *bdf)
{
	char path[PATH_MAX], link[PATH_MAX];
	ssize_t n;
	const char *slash;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/iommu_group", bdf);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return -errno;
	link[n] = '\0';
	slash = strrchr(link, '/');
	return atoi(slash ? slash + 1 : link);
}

/* The first device of a group: the one a group-only caller drives. */
static int bdf_of_group(int group, char *bdf, size_t len)
{
	char path[PATH_MAX];
	struct dirent *e;
	DIR *dir;
	int ret = -ENODEV;

	snprintf(path, sizeof(path), "/sys/kernel/iommu_groups/%d/devices", group);
	dir = opendir(path);
	if (!dir)
		return -errno;
	while ((e = readdir(dir))) {
		if (e->d_name[0] == '.')
			continue;
		ret = strlen(e->d_name) < len ? 0 : -ENAMETOOLONG;
		if (!ret)
			memcpy(bdf, e->d_name, strlen(e->d_name) + 1);
		break;
	}
	closedir(dir);
	return ret;
}

static bool is_edu(const char *bdf)
{
	char path[PATH_MAX], v[32] = "", d[32] = "";
	FILE *f;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/vendor", bdf);
	f = fopen(path, "r");
	if (!f)
		return false;
	if (!fgets(v, sizeof(v), f))
		v[0] = '\0';
	fclose(f);
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/device", bdf);
	f = fopen(path, "r");
	if (!f)
		return false;
	if (!fgets(d, sizeof(d), f))
		d[0] = '\0';
	fclose(f);
	return strncmp(v, "0x1234", 6) == 0 && strncmp(d, "0x11e8", 6) == 0;
}

/* ---- VFIO ----------------------------------------------------------- */

static uint32_t mmio_read32(struct vdev *d, uint64_t off)
{
	return *(volatile uint32_t *)(d->bar0 + off);
}

static void mmio_write32(struct vdev *d, uint64_t off, uint32_t v)
{
	*(volatile uint32_t *)(d->bar0 + off) = v;
}

static uint64_t mmio_read64(struct vdev *d, uint64_t off)
{
	return *(volatile uint64_t *)(d->bar0 + off);
}

static void mmio_write64(struct vdev *d, uint64_t off, uint64_t v)
{
	*(volatile uint64_t *)(d->bar0 + off) = v;
}

static int region_info(int device, unsigned int index, struct vfio_region_info *ri)
{
	memset(ri, 0, sizeof(*ri));
	ri->argsz = sizeof(*ri);
	ri->index = index;
	return ioctl(device, VFIO_DEVICE_GET_REGION_INFO, ri) ? -errno : 0;
}

/* Memory decoding and bus mastering on, as a guest driver would. */
static int enable_bus_master(int device)
{
	struct vfio_region_info cfg;
	uint16_t cmd;
	int ret;

	ret = region_info(device, VFIO_PCI_CONFIG_REGION_INDEX, &cfg);
	if (ret)
		return ret;
	if (pread(device, &cmd, sizeof(cmd), (off_t)cfg.offset + 4) != sizeof(cmd))
		return -EIO;
	cmd |= 0x2 | 0x4;
	if (pwrite(device, &cmd, sizeof(cmd), (off_t)cfg.offset + 4) != sizeof(cmd))
		return -EIO;
	return 0;
}

static int map_bar0(struct vdev *d)
{
	struct vfio_region_info ri;
	void *p;
	int ret;

	ret = region_info(d->device, VFIO_PCI_BAR0_REGION_INDEX, &ri);
	if (ret)
		return ret;
	if (!(ri.flags & VFIO_REGION_INFO_FLAG_MMAP) || ri.size < EDU_DMA_BUF)
		return -ENOTSUP;
	p = mmap(NULL, ri.size, PROT_READ | PROT_WRITE, MAP_SHARED, d->device, (off_t)ri.offset);
	if (p == MAP_FAILED)
		return -errno;
	d->bar0 = p;
	d->bar0_size = ri.size;
	/* The liveness register returns the complement of what was written. */
	if ((mmio_read32(d, EDU_REG_ID) & 0xff) != 0xed)
		return -ENODEV;
	mmio_write32(d, EDU_REG_LIVE, 0x5a5a1234);
	if (mmio_read32(d, EDU_REG_LIVE) != (uint32_t)~0x5a5a1234u)
		return -ENODEV;
	return 0;
}

static void vdev_init(struct vdev *d)
{
	memset(d, 0, sizeof(*d));
	d->container = d->group = d->device = -1;
}

/* iommufd: attach the device to the HWPT allocated for it, or detach it */
static int vdev_attach(struct vdev *d)
{
	struct vfio_device_attach_iommufd_pt at = {
		.argsz = sizeof(at), .pt_id = d->hwpt_id,
	};

	return ioctl(d->device, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &at) ? -errno : 0;
}

static int vdev_detach(struct vdev *d)
{
	struct vfio_device_detach_iommufd_pt dt = { .argsz = sizeof(dt) };

	return ioctl(d->device, VFIO_DEVICE_DETACH_IOMMUFD_PT, &dt) ? -errno : 0;
}

/* The VFIO device cdev of a PCI device: /dev/vfio/devices/vfioN */
static int cdev_of_bdf(const char *bdf, char *path, size_t len)
{
	char dir[PATH_MAX];
	struct dirent *e;
	DIR *dp;
	int ret = -ENODEV;

	snprintf(dir, sizeof(dir), "/sys/bus/pci/devices/%s/vfio-dev", bdf);
	dp = opendir(dir);
	if (!dp)
		return -errno;
	while ((e = readdir(dp))) {
		if (strncmp(e->d_name, "vfio", 4))
			continue;
		snprintf(path, len, "/dev/vfio/devices/%s", e->d_name);
		ret = 0;
		break;
	}
	closedir(dp);
	return ret;
}

/*
 * iommufd: an IOAS, the device's cdev bound to the iommufd, a HWPT allocated
 * for the device in the IOAS, and the device attached to that HWPT.
 */
static int vdev_open_iommufd(struct vdev *d)
{
	struct iommu_ioas_alloc ioas = { .size = sizeof(ioas) };
	struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind) };
	struct iommu_hwpt_alloc hwpt = { .size = sizeof(hwpt) };
	char path[PATH_MAX];
	int ret;

	d->container = open("/dev/iommu", O_RDWR | O_CLOEXEC);
	if (d->container < 0)
		return -errno;
	if (ioctl(d->container, IOMMU_IOAS_ALLOC, &ioas))
		return -errno;
	d->ioas_id = ioas.out_ioas_id;
	ret = cdev_of_bdf(d->bdf, path, sizeof(path));
	if (ret)
		return ret;
	d->device = open(path, O_RDWR | O_CLOEXEC);
	if (d->device < 0)
		return -errno;
	bind.iommufd = d->container;
	if (ioctl(d->device, VFIO_DEVICE_BIND_IOMMUFD, &bind))
		return -errno;
	d->dev_id = bind.out_devid;
	hwpt.dev_id = d->dev_id;
	hwpt.pt_id = d->ioas_id;
	if (ioctl(d->container, IOMMU_HWPT_ALLOC, &hwpt))
		return -errno;
	d->hwpt_id = hwpt.out_hwpt_id;
	return vdev_attach(d);
}

/* Close everything; what a VMM's fds do when it goes away. */
static void vdev_close(struct vdev *d)
{
	if (d->bar0)
		munmap((void *)d->bar0, d->bar0_size);
	d->bar0 = NULL;
	if (d->device >= 0)
		close(d->device);
	if (d->group >= 0)
		close(d->group);
	if (d->container >= 0)
		close(d->container);
	d->container = d->group = d->device = -1;
}

/*
 * Open a container and the group of one device, attach with type1v2, and
 * open the device (with edu's BAR mapped when it is an edu).
 */
static int vdev_open(struct vdev *d, const struct opts *o)
{
	struct vfio_group_status st = { .argsz = sizeof(st) };
	char path[64];
	int ret;

	vdev_init(d);
	if (o->bdf) {
		snprintf(d->bdf, sizeof(d->bdf), "%s", o->bdf);
		ret = group_of_bdf(d->bdf);
		if (ret < 0)
			return ret;
		d->group_nr = ret;
	} else {
		d->group_nr = o->group;
		ret = bdf_of_group(o->group, d->bdf, sizeof(d->bdf));
		if (ret)
			return ret;
	}
	d->edu = is_edu(d->bdf);
	d->backend = o->backend;

	if (d->backend == BACKEND_IOMMUFD) {
		ret = vdev_open_iommufd(d);
		if (ret)
			return ret;
		goto device_open;
	}

	d->container = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
	if (d->container < 0)
		return -errno;
	if (ioctl(d->container, VFIO_GET_API_VERSION) != VFIO_API_VERSION)
		return -EPROTO;
	if (ioctl(d->container, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) <= 0)
		return -EOPNOTSUPP;
	snprintf(path, sizeof(path), "/dev/vfio/%d", d->group_nr);
	d->group = open(path, O_RDWR | O_CLOEXEC);
	if (d->group < 0)
		return -errno;
	if (ioctl(d->group, VFIO_GROUP_GET_STATUS, &st))
		return -errno;
	if (!(st.flags & VFIO_GROUP_FLAGS_VIABLE))
		return -EBUSY;
	if (ioctl(d->group, VFIO_GROUP_SET_CONTAINER, &d->container))
		return -errno;
	if (ioctl(d->container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU))
		return -errno;
	d->device = ioctl(d->group, VFIO_GROUP_GET_DEVICE_FD, d->bdf);
	if (d->device < 0)
		return -errno;
device_open:
	if (d->edu) {
		ret = enable_bus_master(d->device);
		if (ret)
			return ret;
		ret = map_bar0(d);
		if (ret)
			return ret;
	}
	return 0;
}

static int dma_map(struct vdev *d, void *vaddr, uint64_t iova, uint64_t size)
{
	if (d->backend == BACKEND_IOMMUFD) {
		struct iommu_ioas_map m = {
			.size = sizeof(m),
			.flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE |
				 IOMMU_IOAS_MAP_WRITEABLE,
			.ioas_id = d->ioas_id,
			.user_va = (uintptr_t)vaddr,
			.length = size,
			.iova = iova,
		};

		return ioctl(d->container, IOMMU_IOAS_MAP, &m) ? -errno : 0;
	}

	struct vfio_iommu_type1_dma_map m = {
		.argsz = sizeof(m),
		.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
		.vaddr = (uintptr_t)vaddr,
		.iova = iova,
		.size = size,
	};

	return ioctl(d->container, VFIO_IOMMU_MAP_DMA, &m) ? -errno : 0;
}

static int dma_unmap(struct vdev *d, uint64_t iova, uint64_t size)
{
	if (d->backend == BACKEND_IOMMUFD) {
		struct iommu_ioas_unmap u = {
			.size = sizeof(u),
			.ioas_id = d->ioas_id,
			.iova = iova,
			.length = size,
		};

		if (ioctl(d->container, IOMMU_IOAS_UNMAP, &u))
			return -errno;
		return u.length == size ? 0 : -ENOENT;
	}

	struct vfio_iommu_type1_dma_unmap u = {
		.argsz = sizeof(u),
		.iova = iova,
		.size = size,
	};

	if (ioctl(d->container, VFIO_IOMMU_UNMAP_DMA, &u))
		return -errno;
	return u.size == size ? 0 : -ENOENT;
}

/* ---- edu DMA ---------------------------------------------------------- */

/* One edu DMA of EDU_DMA_LEN bytes; QEMU runs it 100 ms (virtual) later. */
static int edu_dma(struct vdev *d, uint64_t src, uint64_t dst, bool to_ram)
{
	uint64_t t0 = now_ns();

	if (!d->edu)
		return -ENOTSUP;
	mmio_write64(d, EDU_REG_DMA_SRC, src);
	mmio_write64(d, EDU_REG_DMA_DST, dst);
	mmio_write64(d, EDU_REG_DMA_CNT, EDU_DMA_LEN);
	mmio_write64(d, EDU_REG_DMA_CMD, EDU_DMA_RUN | (to_ram ? EDU_DMA_TO_RAM : 0));
	while (mmio_read64(d, EDU_REG_DMA_CMD) & EDU_DMA_RUN) {
		if (now_ns() - t0 > EDU_DMA_TIMEOUT_NS)
			return -ETIMEDOUT;
		usleep(2000);
	}
	return 0;
}

static int scratch_map(struct vdev *d, struct scratch *s)
{
	int ret;

	s->mem = mmap(NULL, 2 * PAGE_4K, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (s->mem == MAP_FAILED) {
		s->mem = NULL;
		return -errno;
	}
	/* The preload page: what edu's buffer holds when a read changes nothing. */
	for (unsigned int i = 0; i < PAGE_4K; i++)
		s->mem[PAGE_4K + i] = (uint8_t)(0xc3 ^ i);
	ret = dma_map(d, s->mem, SCRATCH_IOVA, 2 * PAGE_4K);
	s->mapped = ret == 0;
	return ret;
}

static void scratch_free(struct scratch *s)
{
	if (s->mem)
		munmap(s->mem, 2 * PAGE_4K);
	s->mem = NULL;
	s->mapped = false;
}

/* edu reads EDU_DMA_LEN at iova into its buffer, then writes it to scratch[0]. */
static int edu_read_iova(struct vdev *d, struct scratch *s, uint64_t iova)
{
	int ret;

	memset(s->mem, 0xee, PAGE_4K);
	ret = edu_dma(d, iova, EDU_DMA_BUF, false);
	if (ret)
		return ret;
	return edu_dma(d, EDU_DMA_BUF, SCRATCH_IOVA, true);
}

/* The pattern of one 4 KiB page: distinct per run and per IOVA. */
static void fill_pattern(uint8_t *page, uint64_t seed, uint64_t iova)
{
	uint64_t *w = (uint64_t *)page;

	for (unsigned int i = 0; i < PAGE_4K / 8; i++)
		w[i] = (seed << 32) ^ (iova + 8 * i) ^ 0x5bd1e995ULL;
}

/* Before teardown: the device must read exactly what the VMM wrote. */
static int dma_check_readable(struct vdev *d, struct scratch *s, uint64_t iova,
			      const uint8_t *expect)
{
	int ret = edu_read_iova(d, s, iova);

	if (ret)
		return ret;
	return memcmp(s->mem, expect, EDU_DMA_LEN) ? -EIO : 0;
}

enum fault_result { DMA_FAULTED, DMA_UNCHANGED, DMA_STALE, DMA_OTHER };
static const char *const fault_names[] = { "fault", "fault-unchanged", "stale", "readable" };

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/*
 * After teardown: a read from the old IOVA must not reach memory.  edu's
 * buffer is first loaded with the preload page, so that a read which does
 * nothing at all is told apart from a read that returned zeroes.
 */
static int dma_check_fault(struct vdev *d, struct scratch *s, uint64_t iova,
			   const uint8_t *old, enum fault_result *res)
{
	int ret;

	ret = edu_dma(d, SCRATCH_IOVA + PAGE_4K, EDU_DMA_BUF, false);
	if (ret)
		return ret;
	ret = edu_read_iova(d, s, iova);
	if (ret)
		return ret;
	if (all_zero(s->mem, EDU_DMA_LEN))
		*res = DMA_FAULTED;
	else if (!memcmp(s->mem, s->mem + PAGE_4K, EDU_DMA_LEN))
		*res = DMA_UNCHANGED;
	else if (old && !memcmp(s->mem, old, EDU_DMA_LEN))
		*res = DMA_STALE;
	else
		*res = DMA_OTHER;
	return 0;
}

/* ---- guest memory ----------------------------------------------------- */

static int region_alloc(struct region *r, enum layout layout, uint64_t size)
{
	int flags = MAP_PRIVATE | MAP_ANONYMOUS;
	size_t len = size;
	uint8_t *p;

	memset(r, 0, sizeof(*r));
	if (layout == LAYOUT_HUGETLB)
		flags |= MAP_HUGETLB;
	if (layout == LAYOUT_THP)
		len += HUGE_2M;	/* room to align to 2 MiB */
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, flags, -1, 0);
	if (p == MAP_FAILED)
		return -errno;
	r->map_base = p;
	r->map_len = len;
	r->size = size;
	r->base = p;
	if (layout == LAYOUT_THP) {
		r->base = (uint8_t *)(((uintptr_t)p + HUGE_2M - 1) & ~(uintptr_t)(HUGE_2M - 1));
		if (madvise(r->base, size, MADV_HUGEPAGE))
			return -errno;
	} else if (layout == LAYOUT_4K) {
		if (madvise(r->base, size, MADV_NOHUGEPAGE))
			return -errno;
	}
	return 0;
}

static void region_free(struct region *r)
{
	if (r->map_base)
		munmap(r->map_base, r->map_len);
	memset(r, 0, sizeof(*r));
}

/* Touch every page (a VM's RAM is in use) and pattern the DMA-checked ones. */
static void region_fill(struct region *r, uint64_t seed, uint64_t iova,
			const uint64_t *check, unsigned int ncheck)
{
	for (uint64_t off = 0; off < r->size; off += PAGE_4K)
		*(volatile uint64_t *)(r->base + off) = seed ^ (iova + off);
	for (unsigned int i = 0; i < ncheck; i++)
		fill_pattern(r->base + check[i], seed, iova + check[i]);
}

/* Huge page backing of the region, from /proc/self/smaps, in KiB. */
static long region_huge_kib(const struct region *r)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[256];
	bool in = false;
	long total = 0;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		long kib;

		/* A VMA header ("lo-hi perms ..."); no "Key:" line parses so. */
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2) {
			in = (uintptr_t)r->base < hi && (uintptr_t)r->base + r->size > lo;
			continue;
		}
		if (!in)
			continue;
		if (sscanf(line, "AnonHugePages: %ld kB", &kib) == 1 ||
		    sscanf(line, "Private_Hugetlb: %ld kB", &kib) == 1 ||
		    sscanf(line, "Shared_Hugetlb: %ld kB", &kib) == 1)
			total += kib;
	}
	fclose(f);
	return total;
}

/* ---- one VMM life ------------------------------------------------------ */

static const char *const layout_names[] = { "4k", "thp", "hugetlb" };
static const char *const teardown_names[] = {
	"unmap", "close", "exit", "kill", "wait", "detach",
};
static const char *const backend_names[] = { "type1", "iommufd" };

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
}

/* The IOVAs (offsets into the region) whose DMA is checked. */
static unsigned int check_offsets(const struct opts *o, uint64_t *off, unsigned int max)
{
	unsigned int n = o->dma_pages < max ? o->dma_pages : max;

	for (unsigned int i = 0; i < n; i++) {
		uint64_t pages = o->size / PAGE_4K;

		off[i] = n == 1 ? 0 : (pages - 1) * i / (n - 1) * PAGE_4K;
	}
	return n;
}

static int map_region(struct vdev *d, const struct opts *o, struct region *r)
{
	uint64_t chunk = o->chunk ? o->chunk : o->size;

	for (uint64_t off = 0; off < o->size; off += chunk) {
		uint64_t len = o->size - off < chunk ? o->size - off : chunk;
		int ret = dma_map(d, r->base + off, o->iova + off, len);

		if (ret)
			return ret;
	}
	return 0;
}

static int unmap_region(struct vdev *d, const struct opts *o)
{
	uint64_t chunk = o->chunk ? o->chunk : o->size;

	for (uint64_t off = 0; off < o->size; off += chunk) {
		uint64_t len = o->size - off < chunk ? o->size - off : chunk;
		int ret = dma_unmap(d, o->iova + off, len);

		if (ret)
			return ret;
	}
	return 0;
}

/*
 * Read each old IOVA through a device that is attached to the domain in
 * `d` (the VMM's own, after unmap, or a fresh one after close/exit) and
 * require a fault.  `seed` recreates the pattern the VMM had there, so a
 * stale translation is named as such.
 */
static int check_faults(struct vdev *d, struct scratch *s, const char *key, uint64_t seed,
			const uint64_t *iovas, unsigned int n)
{
	uint8_t old[PAGE_4K];
	int bad = 0;

	for (unsigned int i = 0; i < n; i++) {
		enum fault_result res;
		int ret;

		fill_pattern(old, seed, iovas[i]);
		ret = dma_check_fault(d, s, iovas[i], old, &res);
		if (ret) {
			err("DMA after teardown", ret);
			return ret;
		}
		printf("%s=%s iova=0x%" PRIx64 "\n", key, fault_names[res], iovas[i]);
		if (res == DMA_STALE || res == DMA_OTHER)
			bad++;
	}
	return bad ? -EIO : 0;
}

/*
 * After a teardown that closed the VMM's fds: open the group again in a
 * new container that maps only the scratch pages, and read the old IOVAs.
 * The new domain may well get the dead one's ASID back, so a missing
 * invalidation shows up here as a stale read.
 */
static int probe_stale(const struct opts *o, const char *key, uint64_t seed,
		       const uint64_t *iovas, unsigned int n)
{
	struct vdev d;
	struct scratch s = { 0 };
	int ret;

	ret = vdev_open(&d, o);
	if (!ret)
		ret = scratch_map(&d, &s);
	if (ret)
		err("open the group again for the stale-DMA probe", ret);
	else
		ret = check_faults(&d, &s, key, seed, iovas, n);
	scratch_free(&s);
	vdev_close(&d);
	return ret;
}

struct vmm {
	struct vdev d;
	struct region r;
	struct scratch s;
	uint64_t off[8];
	uint64_t iovas[8];
	unsigned int ncheck;
};

static void vmm_free(struct vmm *v)
{
	vdev_close(&v->d);
	scratch_free(&v->s);
	region_free(&v->r);
}

/* Everything a VMM does before it runs: open, allocate, map, DMA. */
static int vmm_setup(const struct opts *o, uint64_t seed, struct vmm *v, double *map_ms)
{
	uint64_t t0;
	int ret;

	memset(v, 0, sizeof(*v));
	vdev_init(&v->d);
	ret = vdev_open(&v->d, o);
	if (ret) {
		err(o->backend == BACKEND_IOMMUFD ? "open the VFIO device with iommufd"
						  : "open VFIO group", ret);
		return ret;
	}
	if (o->dma_check && !v->d.edu) {
		err("DMA check needs an edu device", -ENOTSUP);
		return -ENOTSUP;
	}
	ret = region_alloc(&v->r, o->layout, o->size);
	if (ret) {
		err(o->layout == LAYOUT_HUGETLB ? "allocate hugetlb memory (hugepages reserved?)"
						 : "allocate memory", ret);
		return ret;
	}
	v->ncheck = o->dma_check ? check_offsets(o, v->off, 8) : 0;
	for (unsigned int i = 0; i < v->ncheck; i++)
		v->iovas[i] = o->iova + v->off[i];
	region_fill(&v->r, seed, o->iova, v->off, v->ncheck);
	printf("bdf=%s\ngroup=%d\nbackend=%s\nlayout=%s\nsize_mib=%" PRIu64
	       "\nchunk_mib=%" PRIu64 "\n",
	       v->d.bdf, v->d.group_nr, backend_names[o->backend], layout_names[o->layout],
	       o->size / MiB, (o->chunk ? o->chunk : o->size) / MiB);
	if (o->backend == BACKEND_IOMMUFD)
		printf("ioas_id=%u\nhwpt_id=%u\ndev_id=%u\n", v->d.ioas_id, v->d.hwpt_id,
		       v->d.dev_id);
	printf("huge_kib=%ld\n", region_huge_kib(&v->r));
	if (o->dma_check) {
		ret = scratch_map(&v->d, &v->s);
		if (ret) {
			err("map the scratch pages", ret);
			return ret;
		}
	}
	t0 = now_ns();
	ret = map_region(&v->d, o, &v->r);
	*map_ms = ms_since(t0);
	if (ret) {
		err("VFIO_IOMMU_MAP_DMA", ret);
		return ret;
	}
	printf("map_ms=%.3f\n", *map_ms);
	for (unsigned int i = 0; i < v->ncheck; i++) {
		ret = dma_check_readable(&v->d, &v->s, v->iovas[i], v->r.base + v->off[i]);
		if (ret) {
			printf("dma_before=%s iova=0x%" PRIx64 "\n",
			       ret == -EIO ? "wrong-data" : "error", v->iovas[i]);
			err("DMA through a live mapping", ret);
			return ret;
		}
		printf("dma_before=ok iova=0x%" PRIx64 "\n", v->iovas[i]);
	}
	return 0;
}

/* Ready: tell whoever waits (a file), then wait for the go signal if held. */
static int ready_and_hold(const struct opts *o)
{
	sigset_t set;
	int fd;

	printf("ready=1\n");
	fflush(stdout);
	if (o->ready_file) {
		fd = open(o->ready_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0)
			return -errno;
		close(fd);
	}
	if (!o->hold)
		return 0;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	return sigwaitinfo(&set, NULL) < 0 ? -errno : 0;
}

/*
 * --torn-fifo PATH: the VM is gone, its VFIO files closed or its VMM
 * process reaped (or this VMM failed before that):
 * one byte to the FIFO at PATH, which the scenario holds open and reads
 * one byte a VMM from, so that it can close its measurement window
 * before any VMM opens its group again for the stale-DMA probe.  Such a
 * probe is a new VFIO user (a VM to smmud) that a real mass shutdown
 * does not have.  Once per process; 0 without the option.
 */
static bool torn_told;

static int tell_torn(const struct opts *o)
{
	int fd, ret = 0;

	if (!o->torn_fifo || torn_told)
		return 0;
	torn_told = true;
	fflush(stdout);
	fd = open(o->torn_fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, "t", 1) != 1)
		ret = -errno;
	close(fd);
	return ret;
}

/* ... and, before the probe that opens the group again, SIGUSR2: the window closed. */
static int wait_probe_go(const struct opts *o)
{
	sigset_t set;
	int ret = tell_torn(o);

	if (ret || !o->torn_fifo)
		return ret;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	return sigwaitinfo(&set, NULL) < 0 ? -errno : 0;
}

/*
 * --inject FILE: write 1 to FILE (a test-only kernel switch that injects a
 * bug, such as arm_smmu_v3.test_skip_asid_inv) for the teardown step only,
 * and 0 once it is done, before the checks: the damage the bug does (stale
 * TLB entries) then stays with this VMM's own domain, and the clean close
 * that follows the checks invalidates it, instead of leaving stale entries
 * for whoever gets the ASID next.
 */
static int inject(const struct opts *o, bool on)
{
	int fd, ret = 0;

	if (!o->inject)
		return 0;
	fd = open(o->inject, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, on ? "1" : "0", 1) != 1)
		ret = -errno;
	close(fd);
	return ret;
}

/* unmap or close, in this process. */
static int run_inproc(const struct opts *o, uint64_t seed, double *map_ms, double *td_ms)
{
	struct vmm v;
	uint64_t t0;
	int ret;

	ret = vmm_setup(o, seed, &v, map_ms);
	if (!ret)
		ret = ready_and_hold(o);
	if (ret) {
		vmm_free(&v);
		return ret;
	}
	/* Who tears down and when it starts, to order it against smmud's writes. */
	printf("vmm_pid=%d\nteardown_start_us=%" PRIu64 "\n", (int)getpid(), realtime_us());
	t0 = now_ns();
	if (o->teardown == TD_UNMAP) {
		ret = unmap_region(&v.d, o);
		*td_ms = ms_since(t0);
		if (ret)
			err("VFIO_IOMMU_UNMAP_DMA", ret);
		/* The device is still attached: read the unmapped IOVAs. */
		if (!ret && v.ncheck)
			ret = check_faults(&v.d, &v.s, "dma_after_unmap", seed, v.iovas, v.ncheck);
		vmm_free(&v);
		/* Its files closed, as its exit would: its VM is gone. */
		if (tell_torn(o) && !ret)
			ret = -EIO;
	} else if (o->teardown == TD_DETACH) {
		/*
		 * Nothing attached to the HWPT's domain while it is unmapped:
		 * then the same domain, same ASID, is attached again and the
		 * old IOVAs must fault through it.
		 */
		ret = inject(o, true);
		if (!ret) {
			ret = vdev_detach(&v.d);
			if (ret)
				err("VFIO_DEVICE_DETACH_IOMMUFD_PT", ret);
		}
		if (!ret) {
			ret = unmap_region(&v.d, o);
			if (ret)
				err("IOMMU_IOAS_UNMAP with the device detached", ret);
		}
		*td_ms = ms_since(t0);
		if (inject(o, false) && !ret)
			ret = -EIO;
		if (!ret) {
			ret = vdev_attach(&v.d);
			if (ret)
				err("attach the detached HWPT again", ret);
		}
		if (!ret && v.ncheck)
			ret = check_faults(&v.d, &v.s, "dma_after_reattach", seed, v.iovas,
					   v.ncheck);
		vmm_free(&v);
		if (tell_torn(o) && !ret)
			ret = -EIO;
	} else {
		ret = inject(o, true);
		vdev_close(&v.d);
		*td_ms = ms_since(t0);
		if (inject(o, false) && !ret)
			ret = -EIO;
		/*
		 * Probe while this process still holds the memory: the old
		 * pages keep their pattern, so a stale translation reads it
		 * back instead of whatever a reuse of the page left there.
		 */
		if (!ret && v.ncheck)
			ret = wait_probe_go(o);
		if (!ret && v.ncheck)
			ret = probe_stale(o, "dma_after_close", seed, v.iovas, v.ncheck);
		vmm_free(&v);
	}
	printf("teardown_ms=%.3f\n", *td_ms);
	return ret;
}

/*
 * exit or kill: the child is the VMM; this process times its death from
 * the moment it is told to go until waitpid() returns.
 */
static int run_forked(const struct opts *o, uint64_t seed, double *map_ms, double *td_ms)
{
	int ready[2], go[2], status;
	char c;
	pid_t pid;
	uint64_t t0;
	ssize_t n;
	int ret;

	if (pipe2(ready, O_CLOEXEC) || pipe2(go, O_CLOEXEC))
		return -errno;
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		struct vmm v;

		close(ready[0]);
		close(go[1]);
		if (vmm_setup(o, seed, &v, map_ms))
			_exit(1);
		fflush(stdout);
		if (write(ready[1], "r", 1) != 1)
			_exit(1);
		/* Wait for the word (or the parent's death), then die as told. */
		n = read(go[0], &c, 1);
		if (o->teardown == TD_KILL || n < 0)
			raise(SIGKILL);
		_exit(0);
	}
	close(ready[1]);
	close(go[0]);
	n = read(ready[0], &c, 1);
	close(ready[0]);
	ret = n == 1 ? ready_and_hold(o) : -ECHILD;
	if (ret) {
		/* The child failed (it said why) or we cannot go on: end it. */
		kill(pid, SIGKILL);
		close(go[1]);
		waitpid(pid, &status, 0);
		if (ret == -ECHILD)
			err("the VMM process failed before it was ready", ret);
		return ret;
	}
	/* The child is the VMM: its teardown starts in its do_exit(), after this. */
	printf("vmm_pid=%d\nteardown_start_us=%" PRIu64 "\n", (int)pid, realtime_us());
	t0 = now_ns();
	if (o->teardown == TD_EXIT) {
		if (write(go[1], "g", 1) < 0)
			ret = -errno;
	} else {
		kill(pid, SIGKILL);
	}
	close(go[1]);
	if (waitpid(pid, &status, 0) < 0)
		return -errno;
	*td_ms = ms_since(t0);
	if (ret)
		return ret;
	if (o->teardown == TD_EXIT && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
		err("the VMM process did not exit cleanly", -ECHILD);
		return -ECHILD;
	}
	if (o->teardown == TD_KILL && !(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)) {
		err("the VMM process did not die of SIGKILL", -ECHILD);
		return -ECHILD;
	}
	printf("teardown_ms=%.3f\n", *td_ms);
	if (o->dma_check) {
		struct vmm v;

		ret = wait_probe_go(o);
		if (ret)
			return ret;

		v.ncheck = check_offsets(o, v.off, 8);
		for (unsigned int i = 0; i < v.ncheck; i++)
			v.iovas[i] = o->iova + v.off[i];
		return probe_stale(o, o->teardown == TD_EXIT ? "dma_after_exit" : "dma_after_kill",
				   seed, v.iovas, v.ncheck);
	}
	return 0;
}

/* wait: set up, then block until a signal ends this VMM. */
static int run_wait(const struct opts *o, uint64_t seed)
{
	struct vmm v;
	double map_ms;
	int ret;

	ret = vmm_setup(o, seed, &v, &map_ms);
	if (!ret)
		ret = ready_and_hold(o);
	if (ret)
		return ret;
	while (!stop_requested)
		pause();
	/* SIGTERM/SIGINT: leave like a VMM that exits with its fds open. */
	fflush(stdout);
	_exit(0);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void print_stats(const char *key, double *v, unsigned int n)
{
	if (!n)
		return;
	qsort(v, n, sizeof(*v), cmp_double);
	printf("%s_median=%.3f\n%s_min=%.3f\n%s_max=%.3f\n", key, v[n / 2], key, v[0],
	       key, v[n - 1]);
}

/* Latency samples, grown as needed. */
struct samples {
	double *v;
	unsigned int n, cap;
};

static void samples_free(struct samples *s)
{
	free(s->v);
}

static int samples_add(struct samples *s, double x)
{
	if (s->n == s->cap) {
		unsigned int cap = s->cap ? 2 * s->cap : 256;
		double *v = realloc(s->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n++] = x;
	return 0;
}

struct live {
	struct samples map_us, unmap_us;
	unsigned int rounds, checks, failures;
};

static void live_free(struct live *l)
{
	samples_free(&l->map_us);
	samples_free(&l->unmap_us);
}

static void vmm_init(struct vmm *v)
{
	memset(v, 0, sizeof(*v));
	vdev_init(&v->d);
}

static int live_setup(const struct opts *o, struct vmm *v)
{
	int ret = vdev_open(&v->d, o);

	if (ret) {
		err("open VFIO group", ret);
		return ret;
	}
	if (o->dma_check && !v->d.edu) {
		err("DMA check needs an edu device", -ENOTSUP);
		return -ENOTSUP;
	}
	if (o->dma_check) {
		ret = scratch_map(&v->d, &v->s);
		if (ret) {
			err("map the scratch pages", ret);
			return ret;
		}
	}
	ret = region_alloc(&v->r, o->layout, HUGE_2M);
	if (ret) {
		err("allocate memory", ret);
		return ret;
	}
	memset(v->r.base, 0x11, HUGE_2M);
	return 0;
}

/* One round of the live VM: map, (check), unmap, (check it faults). */
static int live_round(const struct opts *o, struct vmm *v, uint64_t seed, struct live *l)
{
	unsigned int n = l->rounds;
	uint64_t size = 64 * KiB << (n % 6);
	uint64_t iova = LIVE_IOVA + (n % 2) * 4 * MiB;
	uint64_t last = size - PAGE_4K;
	bool check = o->dma_check && n % o->dma_every == 0;
	enum fault_result res;
	uint64_t t0;
	int ret;

	fill_pattern(v->r.base + last, seed + n, iova + last);
	t0 = now_ns();
	ret = dma_map(&v->d, v->r.base, iova, size);
	if (ret) {
		err("VFIO_IOMMU_MAP_DMA", ret);
		return ret;
	}
	ret = samples_add(&l->map_us, ms_since(t0) * 1000);
	if (ret)
		return ret;
	if (check) {
		ret = dma_check_readable(&v->d, &v->s, iova + last, v->r.base + last);
		if (ret == -EIO)
			l->failures++;
		else if (ret)
			return ret;
	}
	t0 = now_ns();
	ret = dma_unmap(&v->d, iova, size);
	if (ret) {
		err("VFIO_IOMMU_UNMAP_DMA", ret);
		return ret;
	}
	ret = samples_add(&l->unmap_us, ms_since(t0) * 1000);
	if (ret)
		return ret;
	if (check) {
		ret = dma_check_fault(&v->d, &v->s, iova + last, v->r.base + last, &res);
		if (ret)
			return ret;
		if (res == DMA_STALE || res == DMA_OTHER) {
			printf("live_stale=%s iova=0x%" PRIx64 " round=%u\n",
			       fault_names[res], iova + last, n);
			l->failures++;
		}
		l->checks++;
	}
	l->rounds++;
	return 0;
}

/*
 * The VM that stays alive: map, DMA, unmap and read again, with buffers of
 * 64 KiB to 2 MiB, until the time is up or SIGTERM.  Every dma_every-th
 * round checks the last page by DMA (both ways: it must arrive while
 * mapped and fault once unmapped).
 */
static int run_live(const struct opts *o, uint64_t seed)
{
	struct vmm v __attribute__((cleanup(vmm_free)));
	struct live l __attribute__((cleanup(live_free))) = { 0 };
	int rounds_fd __attribute__((cleanup(close_fd))) = -1;
	uint64_t deadline;
	int ret;

	vmm_init(&v);
	ret = live_setup(o, &v);
	if (!ret)
		ret = ready_and_hold(o);
	if (ret)
		return ret;
	if (o->rounds_file) {
		rounds_fd = open(o->rounds_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (rounds_fd < 0) {
			ret = -errno;
			err(o->rounds_file, ret);
			return ret;
		}
	}
	deadline = o->live_seconds > 0 ? now_ns() + (uint64_t)(o->live_seconds * 1e9) : 0;
	while (!stop_requested && (!deadline || now_ns() < deadline)) {
		ret = live_round(o, &v, seed, &l);
		if (ret)
			return ret;
		/* Rounds so far, for a reader that stops us to count per round. */
		if (rounds_fd >= 0) {
			char buf[16];
			int n = snprintf(buf, sizeof(buf), "%10u\n", l.rounds);

			if (pwrite(rounds_fd, buf, (size_t)n, 0) != n) {
				err(o->rounds_file, EIO);
				return -EIO;
			}
		}
	}
	printf("live_rounds=%u\nlive_dma_checks=%u\nlive_failures=%u\n", l.rounds, l.checks,
	       l.failures);
	print_stats("live_map_us", l.map_us.v, l.map_us.n);
	print_stats("live_unmap_us", l.unmap_us.v, l.unmap_us.n);
	return l.failures ? -EIO : 0;
}

/*
 * Proof that the DMA check can fail: the "must fault" check, run on an IOVA
 * that is still mapped, has to report the data as stale; and the same check
 * on an IOVA that was never mapped has to report a fault.
 */
static int run_selftest(const struct opts *o, uint64_t seed)
{
	struct vmm v;
	enum fault_result res;
	double map_ms;
	int ret, bad = 0;

	ret = vmm_setup(o, seed, &v, &map_ms);
	if (!ret)
		ret = dma_check_fault(&v.d, &v.s, v.iovas[0], v.r.base + v.off[0], &res);
	if (!ret) {
		printf("selftest_mapped=%s\n", fault_names[res]);
		bad += res != DMA_STALE;
		ret = dma_check_fault(&v.d, &v.s, o->iova + o->size + HUGE_2M, NULL, &res);
	}
	if (!ret) {
		printf("selftest_never_mapped=%s\n", fault_names[res]);
		bad += res != DMA_FAULTED && res != DMA_UNCHANGED;
	}
	vmm_free(&v);
	return ret ? ret : bad ? -EIO : 0;
}

/* --pattern-file PATH: the page --probe expects a stale read to return at --iova. */
static int write_pattern_file(const struct opts *o, uint64_t seed)
{
	uint8_t page[PAGE_4K];
	FILE *f = fopen(o->pattern_file, "we");
	size_t n;

	if (!f)
		return -errno;
	fill_pattern(page, seed, o->iova);
	n = fwrite(page, 1, sizeof(page), f);
	if (fclose(f) != 0 || n != sizeof(page))
		return -EIO;
	return 0;
}

/* --probe IOVA[,IOVA...]: read old IOVAs from a fresh container. */
static int run_probe(struct opts *o, uint64_t seed)
{
	uint64_t iovas[8];
	unsigned int n = 0;
	char *list = strdup(o->probe), *save = NULL;
	int ret;

	if (!list)
		return -ENOMEM;
	for (char *t = strtok_r(list, ",", &save); t && n < 8; t = strtok_r(NULL, ",", &save))
		iovas[n++] = strtoull(t, NULL, 0);
	free(list);
	ret = probe_stale(o, "dma_probe", seed, iovas, n);
	return ret;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: vfio-vmm (--bdf BDF | --group N) [options]\n"
		"  --size MIB          memory to map (default 64; multiple of 2)\n"
		"  --layout L          4k | thp | hugetlb (default 4k)\n"
		"  --chunk MIB         map in chunks of MIB (default: one map)\n"
		"  --iova ADDR         first IOVA (default 0x100000000)\n"
		"  --teardown T        unmap | close | exit | kill | wait | detach (default unmap)\n"
		"  --backend B         type1 (VFIO group) | iommufd (device cdev, IOAS, HWPT)\n"
		"  --dma-check         edu DMA through the mapping before teardown,\n"
		"                      and a fault required after it\n"
		"  --dma-pages N       pages checked, spread over the region (default 2)\n"
		"  --iterations N      repeat map + teardown N times (default 1)\n"
		"  --hold              when mapped, wait for SIGUSR1 before teardown\n"
		"  --ready-file PATH   create PATH once mapped (and checked)\n"
		"  --torn-fifo PATH    once torn down, write a byte to the FIFO PATH, and\n"
		"                      wait for SIGUSR2 before a probe that opens the\n"
		"                      group again\n"
		"  --live SECONDS      live VM: map/DMA/unmap 64K..2M buffers (0: until SIGTERM)\n"
		"  --dma-every N       live: DMA-check every Nth round (default 1)\n"
		"  --rounds-file PATH  live: keep the number of rounds done in PATH\n"
		"  --selftest          show the DMA-after-unmap check can fail\n"
		"  --probe IOVA[,..]   read IOVAs from a fresh container; must fault\n"
		"  --pattern-file PATH write the 4 KiB page a VMM with --seed has at --iova\n"
		"                      to PATH (no device: for another VMM to load, such as\n"
		"                      QEMU's -device loader, and --probe to look for)\n"
		"  --seed N            pattern seed (default: from pid and time)\n"
		"  --inject FILE       write 1 to FILE for the teardown step, 0 after it\n"
		"                      (unmap/close/detach: a test-only kernel bug switch)\n");
}

static int parse_enum(const char *s, const char *const *names, int n)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(s, names[i]))
			return i;
	return -1;
}

/* Options into *o (and *seed); 1 when --help was printed, -EINVAL on misuse. */
static int parse_opts(int argc, char **argv, struct opts *o, uint64_t *seed)
{
	static const struct option lo[] = {
		{ "bdf", required_argument, NULL, 'b' },
		{ "group", required_argument, NULL, 'g' },
		{ "size", required_argument, NULL, 's' },
		{ "layout", required_argument, NULL, 'l' },
		{ "chunk", required_argument, NULL, 'c' },
		{ "iova", required_argument, NULL, 'a' },
		{ "teardown", required_argument, NULL, 't' },
		{ "backend", required_argument, NULL, 'B' },
		{ "dma-check", no_argument, NULL, 'd' },
		{ "dma-pages", required_argument, NULL, 'p' },
		{ "iterations", required_argument, NULL, 'i' },
		{ "hold", no_argument, NULL, 'H' },
		{ "torn-fifo", required_argument, NULL, 'T' },
		{ "ready-file", required_argument, NULL, 'r' },
		{ "live", required_argument, NULL, 'L' },
		{ "dma-every", required_argument, NULL, 'e' },
		{ "rounds-file", required_argument, NULL, 'R' },
		{ "selftest", no_argument, NULL, 'S' },
		{ "probe", required_argument, NULL, 'P' },
		{ "pattern-file", required_argument, NULL, 'F' },
		{ "seed", required_argument, NULL, 'x' },
		{ "inject", required_argument, NULL, 'I' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c, v;

	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 'b': o->bdf = optarg; break;
		case 'g': o->group = atoi(optarg); break;
		case 's': o->size = strtoull(optarg, NULL, 0) * MiB; break;
		case 'c': o->chunk = strtoull(optarg, NULL, 0) * MiB; break;
		case 'a': o->iova = strtoull(optarg, NULL, 0); break;
		case 'd': o->dma_check = true; break;
		case 'p': o->dma_pages = (unsigned int)atoi(optarg); break;
		case 'i': o->iterations = (unsigned int)atoi(optarg); break;
		case 'H': o->hold = true; break;
		case 'r': o->ready_file = optarg; break;
		case 'T': o->torn_fifo = optarg; break;
		case 'L': o->live = true; o->live_seconds = atof(optarg); break;
		case 'e': o->dma_every = (unsigned int)atoi(optarg); break;
		case 'R': o->rounds_file = optarg; break;
		case 'S': o->selftest = o->dma_check = true; break;
		case 'P': o->probe = optarg; break;
		case 'F': o->pattern_file = optarg; break;
		case 'x': *seed = strtoull(optarg, NULL, 0); break;
		case 'I': o->inject = optarg; break;
		case 'l':
			v = parse_enum(optarg, layout_names, 3);
			if (v < 0)
				return -EINVAL;
			o->layout = (enum layout)v;
			break;
		case 't':
			v = parse_enum(optarg, teardown_names, 6);
			if (v < 0)
				return -EINVAL;
			o->teardown = (enum teardown)v;
			break;
		case 'B':
			v = parse_enum(optarg, backend_names, 2);
			if (v < 0)
				return -EINVAL;
			o->backend = (enum backend)v;
			break;
		case 'h': usage(stdout); return 1;
		default: return -EINVAL;
		}
	}
	if (o->pattern_file)
		return optind == argc && o->iova % PAGE_4K == 0 ? 0 : -EINVAL;
	if (optind != argc || (!o->bdf && o->group < 0) || !o->size || o->size % HUGE_2M ||
	    (o->chunk && o->chunk % HUGE_2M) || o->iova % HUGE_2M || !o->iterations ||
	    !o->dma_every || o->dma_pages < 1 || o->dma_pages > 8 ||
	    (o->hold && o->iterations > 1) ||
	    (o->teardown == TD_DETACH && o->backend != BACKEND_IOMMUFD))
		return -EINVAL;
	return 0;
}

/* unmap/close/exit/kill, --iterations times, with the timing summary. */
static int run_vmms(const struct opts *o, uint64_t seed)
{
	double *map_ms = calloc(o->iterations, sizeof(*map_ms));
	double *td_ms = calloc(o->iterations, sizeof(*td_ms));
	int ret = 0;

	if (!map_ms || !td_ms)
		ret = -ENOMEM;
	else
		printf("teardown=%s\n", teardown_names[o->teardown]);
	for (unsigned int i = 0; !ret && i < o->iterations; i++) {
		if (o->teardown == TD_UNMAP || o->teardown == TD_CLOSE ||
		    o->teardown == TD_DETACH)
			ret = run_inproc(o, seed + i, &map_ms[i], &td_ms[i]);
		else
			ret = run_forked(o, seed + i, &map_ms[i], &td_ms[i]);
	}
	if (!ret && o->iterations > 1) {
		print_stats("map_ms", map_ms, o->iterations);
		print_stats("teardown_ms", td_ms, o->iterations);
	}
	free(map_ms);
	free(td_ms);
	return ret;
}

int main(int argc, char **argv)
{
	struct opts o = {
		.group = -1, .size = 64 * MiB, .iova = DEFAULT_IOVA, .dma_pages = 2,
		.iterations = 1, .dma_every = 1,
	};
	struct sigaction sa = { .sa_handler = on_stop };
	uint64_t seed = ((uint64_t)getpid() << 16) ^ (now_ns() & 0xffffffffULL);
	sigset_t set;
	int ret;

	setvbuf(stdout, NULL, _IOLBF, 0);
	/* A dead VMM child's pipe must give EPIPE, not kill its parent. */
	signal(SIGPIPE, SIG_IGN);
	ret = parse_opts(argc, argv, &o, &seed);
	if (ret) {
		if (ret < 0) {
			usage(stderr);
			fprintf(stderr, "error=bad usage\n");
		}
		return ret < 0 ? 2 : 0;
	}

	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	/*
	 * SIGUSR1 is the go of --hold, SIGUSR2 that of --torn-fifo's probe:
	 * blocked, so that they wait in sigwaitinfo.
	 */
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	sigprocmask(SIG_BLOCK, &set, NULL);
	printf("seed=0x%" PRIx64 "\n", seed);

	if (o.pattern_file)
		ret = write_pattern_file(&o, seed);
	else if (o.probe)
		ret = run_probe(&o, seed);
	else if (o.selftest)
		ret = run_selftest(&o, seed);
	else if (o.live)
		ret = run_live(&o, seed);
	else if (o.teardown == TD_WAIT)
		ret = run_wait(&o, seed);
	else
		ret = run_vmms(&o, seed);
	/* Failed before its teardown: the scenario still counts one byte from it. */
	(void)tell_torn(&o);
	if (ret)
		err("vfio-vmm", ret);
	printf("result=%s\n", ret ? "fail" : "ok");
	return ret ? 1 : 0;
}
