/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * What the host looks like: every SMMUv3 (from /sys/class/iommu), its
 * features and whether it has our tunables, the PCI devices and IOMMU
 * groups behind it; CPUs and NUMA nodes; what the kernel can do.  A
 * snapshot: a rescan builds a new one and the manager compares.  Observes
 * only, decides nothing.
 */

#include "config.h"

typedef struct SmmuDevice {
	char *bdf;              /* "0000:00:02.0" */
	int64_t group;          /* IOMMU group, -1: none */
	int numa_node;          /* -1: unknown */
} SmmuDevice;

typedef struct Smmu {
	char *name;             /* "smmu3.0x0000000009050000" */
	bool tunable;           /* has arm-smmu-v3/ (our series), and it could be read */
	int error;              /* 0, or why its attributes or devices could not be read
				 * (-errno): then it is not tunable, until a rescan reads it */
	bool range_invalidation;
	char *stages;           /* "s1 s2", NULL: unknown */
	char *granules;         /* "4K 16K 64K", NULL: unknown */
	bool has_counters;      /* debugfs counters present */
	SmmuDevice *devices;
	size_t n_devices;
	uint32_t *groups;       /* sorted, unique */
	size_t n_groups;
} Smmu;

typedef struct Topology {
	Smmu *smmus;            /* SMMUv3 instances, sorted by name */
	size_t n_smmus;
	char **other_iommus;    /* IOMMUs of other kinds (not ours to tune) */
	unsigned n_cpus;
	unsigned n_nodes;
	KernelCapability kernel;
	char *osrelease;
	char *hostname;
	char *machine_id;
} Topology;

int topology_scan(const char *root, Topology **ret);
Topology *topology_free(Topology *t);
static inline void topology_freep(Topology **t)
{
	topology_free(*t);
}

const Smmu *topology_find(const Topology *t, const char *name);
/* The SMMU a group sits behind, or NULL. */
const Smmu *topology_smmu_for_group(const Topology *t, uint32_t group);
/* True if both list the same SMMUs with the same devices and features. */
bool topology_equal(const Topology *a, const Topology *b);


/* "7.1.0-rc1" >= 7.1: the kernel has mainline's built-in handling. */
bool osrelease_has_builtin_threshold(const char *osrelease);
