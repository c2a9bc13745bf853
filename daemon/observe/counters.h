/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The kernel's own counters of one SMMU (the series' debugfs file
 * iommu/arm-smmu-v3/<smmu>/counters): read as text, and its lines of
 * "name value", "name: value" or "name=value" handed out one by one.
 * The D-Bus API (GetCounters) and the metrics file read them the same way.
 */

#include <stdint.h>

/* The file's text, malloc'd (-ENOENT: no such file, the kernel lacks the series). */
int counters_read(const char *root, const char *smmu, char **ret);

/* Calls fn for every line whose value is a whole number; other lines are skipped. */
void counters_parse(const char *text, void (*fn)(const char *name, uint64_t value, void *userdata),
		    void *userdata);
