// SPDX-License-Identifier: GPL-2.0-or-later
#include <stddef.h>
#include <sys/stat.h>

#include "log.h"
#include "values.h"
#include "topology.h"

static void smmu_done(Smmu *s)
{
	free(s->name);
	free(s->stages);
	free(s->granules);
	for (size_t i = 0; i < s->n_devices; i++)
		free(s->devices[i].bdf);
	free(s->devices);
	free(s->groups);
}

Topology *topology_free(Topology *t)
{
	if (!t)
		return NULL;
	for (size_t i = 0; i < t->n_smmus; i++)
		smmu_done(&t->smmus[i]);
	free(t->smmus);
	strv_free(t->other_iommus);
	free(t->osrelease);
	free(t->hostname);
	free(t->machine_id);
	free(t);
	return NULL;
}

bool osrelease_has_builtin_threshold(const char *osrelease)
{
	unsigned major = 0, minor = 0;

	if (!osrelease || sscanf(osrelease, "%u.%u", &major, &minor) != 2)
		return false;
	return major > 7 || (major == 7 && minor >= 1);
}

/* Reads <dir>/<name>; NULL (not an error) when it does not exist. */
static int read_attr(const char *dir, const char *name, char **ret)
{
	_cleanup_free_ char *p = path_join(dir, name);
	int r;

	if (!p)
		return -ENOMEM;
	r = read_one_line_file(p, ret);
	if (r == -ENOENT || r == -ENOTDIR) {
		*ret = NULL;
		return 0;
	}
	return r;
}

static int group_of_device(const char *root, const char *devdir, const char *bdf, int64_t *ret)
{
	_cleanup_free_ char *link = path_join(devdir, "iommu_group");
	_cleanup_free_ char *target = NULL;
	uint32_t g;
	int r;

	if (!link)
		return -ENOMEM;
	r = readlink_malloc(link, &target);
	if (r < 0) {
		/* devices/<bdf> may be a plain entry: ask the PCI bus directory. */
		_cleanup_free_ char *rel = NULL, *alt = NULL;

		if (asprintf(&rel, "sys/bus/pci/devices/%s/iommu_group", bdf) < 0)
			return -ENOMEM;
		alt = root_path(root, rel);
		if (!alt)
			return -ENOMEM;
		r = readlink_malloc(alt, &target);
	}
	if (r < 0) {
		*ret = -1;
		return 0;
	}
	if (safe_atou32(path_basename(target), &g) < 0) {
		*ret = -1;
		return 0;
	}
	*ret = g;
	return 0;
}

static int compare_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static int compare_devices(const void *a, const void *b)
{
	return strcmp(((const SmmuDevice *)a)->bdf, ((const SmmuDevice *)b)->bdf);
}

static int scan_devices(const char *root, const char *smmudir, Smmu *s)
{
	_cleanup_free_ char *dir = path_join(smmudir, "devices");
	_cleanup_closedir_ DIR *d = NULL;
	struct dirent *de;

	if (!dir)
		return -ENOMEM;
	d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : negative_errno();
	while ((de = readdir(d))) {
		_cleanup_free_ char *devdir = NULL, *numa = NULL;
		SmmuDevice *n, dev = { .group = -1, .numa_node = -1 };
		int r;

		if (de->d_name[0] == '.')
			continue;
		devdir = path_join(dir, de->d_name);
		dev.bdf = strdup(de->d_name);
		if (!devdir || !dev.bdf) {
			free(dev.bdf);
			return -ENOMEM;
		}
		r = group_of_device(root, devdir, de->d_name, &dev.group);
		if (r >= 0 && read_attr(devdir, "numa_node", &numa) >= 0 && numa)
			(void)safe_atoi(numa, &dev.numa_node);
		n = r < 0 ? NULL : realloc(s->devices, (s->n_devices + 1) * sizeof(SmmuDevice));
		if (!n) {
			free(dev.bdf);
			return r < 0 ? r : -ENOMEM;
		}
		s->devices = n;
		s->devices[s->n_devices++] = dev;
	}
	if (s->n_devices > 0)
		qsort(s->devices, s->n_devices, sizeof(SmmuDevice), compare_devices);

	s->groups = calloc(s->n_devices + 1, sizeof(uint32_t));
	if (!s->groups)
		return -ENOMEM;
	for (size_t i = 0; i < s->n_devices; i++)
		if (s->devices[i].group >= 0)
			s->groups[s->n_groups++] = (uint32_t)s->devices[i].group;
	qsort(s->groups, s->n_groups, sizeof(uint32_t), compare_u32);
	{
		size_t j = 0;

		for (size_t i = 0; i < s->n_groups; i++)
			if (j == 0 || s->groups[j - 1] != s->groups[i])
				s->groups[j++] = s->groups[i];
		s->n_groups = j;
	}
	return 0;
}

static int scan_smmu(const char *root, const char *classdir, const char *name, Smmu *s)
{
	_cleanup_free_ char *dir = path_join(classdir, name);
	_cleanup_free_ char *tdir = NULL, *ril = NULL, *dbg = NULL, *rel = NULL;
	struct stat st;
	int r;

	if (!dir)
		return -ENOMEM;
	*s = (Smmu){ .name = strdup(name) };
	if (!s->name)
		return -ENOMEM;
	tdir = path_join(dir, "arm-smmu-v3");
	if (!tdir)
		return -ENOMEM;
	s->tunable = stat(tdir, &st) >= 0 && S_ISDIR(st.st_mode);
	if (s->tunable) {
		r = read_attr(tdir, "range_invalidation", &ril);
		if (r < 0)
			return r;
		s->range_invalidation = ril && streq(ril, "1");
		r = read_attr(tdir, "stages", &s->stages);
		if (r < 0)
			return r;
		r = read_attr(tdir, "granules", &s->granules);
		if (r < 0)
			return r;
	}
	if (asprintf(&rel, "sys/kernel/debug/iommu/arm-smmu-v3/%s/counters", name) < 0)
		return -ENOMEM;
	dbg = root_path(root, rel);
	if (!dbg)
		return -ENOMEM;
	s->has_counters = access(dbg, R_OK) >= 0;
	return scan_devices(root, dir, s);
}

static int compare_smmus(const void *a, const void *b)
{
	return strcmp(((const Smmu *)a)->name, ((const Smmu *)b)->name);
}

static int scan_host(const char *root, Topology *t)
{
	static const struct {
		const char *path;
		size_t offset;
	} strings[] = {
		{ "proc/sys/kernel/osrelease", offsetof(Topology, osrelease) },
		{ "proc/sys/kernel/hostname", offsetof(Topology, hostname) },
		{ "etc/machine-id", offsetof(Topology, machine_id) },
	};
	static const struct {
		const char *path;
		size_t offset;
	} counts[] = {
		{ "sys/devices/system/cpu/online", offsetof(Topology, n_cpus) },
		{ "sys/devices/system/node/online", offsetof(Topology, n_nodes) },
	};

	for (size_t i = 0; i < ELEMENTSOF(strings); i++) {
		_cleanup_free_ char *p = root_path(root, strings[i].path);
		char **field = (char **)((char *)t + strings[i].offset);

		if (!p)
			return -ENOMEM;
		if (read_one_line_file(p, field) < 0)
			*field = NULL;
	}
	for (size_t i = 0; i < ELEMENTSOF(counts); i++) {
		_cleanup_free_ char *p = root_path(root, counts[i].path), *v = NULL;
		unsigned *field = (unsigned *)((char *)t + counts[i].offset);

		if (!p)
			return -ENOMEM;
		if (read_one_line_file(p, &v) < 0 || parse_cpu_list_count(v, field) < 0)
			*field = 0;
	}
	/* A machine without NUMA has no node directory: one node. */
	if (t->n_nodes == 0)
		t->n_nodes = 1;
	return 0;
}

int topology_scan(const char *root, Topology **ret)
{
	_cleanup_(topology_freep) Topology *t = calloc(1, sizeof(Topology));
	_cleanup_free_ char *classdir = root_path(root, "sys/class/iommu");
	_cleanup_closedir_ DIR *d = NULL;
	struct dirent *de;
	bool any_tunable = false;
	int r;

	if (!t || !classdir)
		return -ENOMEM;
	r = scan_host(root, t);
	if (r < 0)
		return r;

	d = opendir(classdir);
	if (!d && errno != ENOENT)
		return log_error_errno(errno, "Failed to open %s: %m", classdir);
	while (d && (errno = 0, de = readdir(d))) {
		Smmu *n, *s;

		if (de->d_name[0] == '.')
			continue;
		/* arm-smmu-v3 names its instances "smmu3.<base address>". */
		if (!startswith(de->d_name, "smmu3.")) {
			r = strv_extend(&t->other_iommus, de->d_name);
			if (r < 0)
				return r;
			continue;
		}
		if (!value_is_token(de->d_name)) {
			log_warning("Ignoring IOMMU with an unexpected name: %s", de->d_name);
			continue;
		}
		n = realloc(t->smmus, (t->n_smmus + 1) * sizeof(Smmu));
		if (!n)
			return -ENOMEM;
		t->smmus = n;
		s = &t->smmus[t->n_smmus++];
		*s = (Smmu){};
		r = scan_smmu(root, classdir, de->d_name, s);
		if (r == -ENOMEM)
			return r;
		if (r < 0) {
			/* One SMMU that cannot be read keeps none of the others from being managed. */
			log_warning_errno(r, "Cannot read %s/%s (%m): not managed until a rescan reads it.",
					  classdir, de->d_name);
			s->error = r;
			s->tunable = false;
		}
		any_tunable = any_tunable || s->tunable;
	}
	if (t->n_smmus > 0)
		qsort(t->smmus, t->n_smmus, sizeof(Smmu), compare_smmus);

	if (any_tunable)
		t->kernel = KERNEL_CAP_TUNABLES;
	else if (osrelease_has_builtin_threshold(t->osrelease))
		t->kernel = KERNEL_CAP_MAINLINE;
	else
		t->kernel = KERNEL_CAP_NONE;
	*ret = TAKE_PTR(t);
	return 0;
}

const Smmu *topology_find(const Topology *t, const char *name)
{
	for (size_t i = 0; t && i < t->n_smmus; i++)
		if (streq(t->smmus[i].name, name))
			return &t->smmus[i];
	return NULL;
}

const Smmu *topology_smmu_for_group(const Topology *t, uint32_t group)
{
	for (size_t i = 0; t && i < t->n_smmus; i++) {
		const Smmu *s = &t->smmus[i];

		if (bsearch(&group, s->groups, s->n_groups, sizeof(uint32_t), compare_u32))
			return s;
	}
	return NULL;
}

bool topology_equal(const Topology *a, const Topology *b)
{
	if (!a || !b || a->n_smmus != b->n_smmus || a->kernel != b->kernel)
		return false;
	for (size_t i = 0; i < a->n_smmus; i++) {
		const Smmu *x = &a->smmus[i], *y = &b->smmus[i];

		if (!streq(x->name, y->name) || x->tunable != y->tunable || x->error != y->error ||
		    x->range_invalidation != y->range_invalidation ||
		    x->n_devices != y->n_devices || x->n_groups != y->n_groups)
			return false;
		for (size_t j = 0; j < x->n_devices; j++)
			if (!streq(x->devices[j].bdf, y->devices[j].bdf) ||
			    x->devices[j].group != y->devices[j].group)
				return false;
	}
	return true;
}
