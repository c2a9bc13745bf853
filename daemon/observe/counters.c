// SPDX-License-Identifier: GPL-2.0-or-later
#include "counters.h"
#include "util.h"

/* The file is a few hundred bytes; anything far larger is not it. */
#define COUNTERS_FILE_MAX (64 * 1024)

int counters_read(const char *root, const char *smmu, char **ret)
{
	_cleanup_free_ char *rel = NULL, *path = NULL;

	if (asprintf(&rel, "sys/kernel/debug/iommu/arm-smmu-v3/%s/counters", smmu) < 0)
		return -ENOMEM;
	path = root_path(root, rel);
	if (!path)
		return -ENOMEM;
	return read_full_file(path, COUNTERS_FILE_MAX, ret);
}

void counters_parse(const char *text, void (*fn)(const char *name, uint64_t value, void *userdata),
		    void *userdata)
{
	const char *p = text;

	while (p && *p) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		char line[256], name[64], value[32];
		uint64_t v;
		char extra;

		if (len < sizeof(line)) {
			memcpy(line, p, len);
			line[len] = 0;
			for (char *c = line; *c; c++)
				if (*c == ':' || *c == '=')
					*c = ' ';
			if (sscanf(line, "%63s %31s %c", name, value, &extra) == 2 &&
			    safe_atou64(value, &v) >= 0)
				fn(name, v, userdata);
		}
		p = nl ? nl + 1 : NULL;
	}
}
