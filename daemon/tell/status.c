// SPDX-License-Identifier: GPL-2.0-or-later
#include "status.h"

static int status_base(const DaemonView *v, char **ret)
{
	size_t storms = 0, managed = 0, vms = vm_model_n_vms(v->vms), n = v->smmus->n;
	int r;

	for (size_t i = 0; i < n; i++) {
		const ManagedSmmu *ms = v->smmus->items[i];

		storms += ms->decided && ms->decision.storm;
		managed += ms->mode == SMMU_MODE_MANAGED;
	}
	if (!v->topology || n == 0)
		r = asprintf(ret, "No SMMUv3 found; watching %zu VM(s).", vms);
	else if (v->topology->kernel == KERNEL_CAP_MAINLINE)
		r = asprintf(ret,
			     "Kernel %s handles teardown storms itself: reporting only. %zu SMMU(s), "
			     "%zu VM(s), %zu storm(s).",
			     v->topology->osrelease ?: "?", n, vms, storms);
	else if (v->topology->kernel == KERNEL_CAP_NONE)
		r = asprintf(ret,
			     "Monitor-only: kernel has no SMMUv3 tunables. %zu SMMU(s), %zu VM(s), %zu "
			     "storm(s).",
			     n, vms, storms);
	else
		r = asprintf(ret, "%s%zu of %zu SMMU(s) managed, %zu in storm; %zu VM(s).",
			     v->dry_run ? "Dry run: " : "", managed, n, storms, vms);
	return r < 0 ? -ENOMEM : 0;
}

int status_format(const DaemonView *v, char **ret)
{
	_cleanup_free_ char *base = NULL;
	int r = status_base(v, &base);

	if (r < 0)
		return r;
	if (!v->metrics_error) {
		*ret = TAKE_PTR(base);
		return 0;
	}
	/* What an operator would otherwise find only in the log. */
	return asprintf(ret, "%s Metrics: %s.", base, v->metrics_error) < 0 ? -ENOMEM : 0;
}
