// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * smmuctl risk: what a simultaneous teardown of every running VM would
 * cost each SMMU, now and with smmud's storm settings.  Scans sysfs and
 * /proc itself (topology.c, vmscan.c), so it needs no daemon and works on
 * any kernel; the model is risk.c's.
 */
#include <inttypes.h>

#include "config.h"
#include "json.h"
#include "log.h"
#include "profile.h"
#include "risk.h"
#include "smmuctl-table.h"
#include "smmuctl.h"
#include "topology.h"
#include "vmscan.h"

typedef struct SmmuRisk {
	const Smmu *smmu;
	uint64_t granule;
	size_t n_vms;
	uint64_t pinned_total;
	char *threshold;        /* current value, NULL: no tunables */
	char *teardown_mode;
	const char *profile;    /* matching config profile, NULL: defaults */
	RiskEstimate now;
	bool has_storm;
	RiskEstimate storm;
	const KnobValues *storm_values;
} SmmuRisk;

/* The smallest granule in "4K 16K 64K"; 4 KiB if unknown. */
static uint64_t smallest_granule(const char *granules)
{
	uint64_t best = 0;
	const char *p = granules;

	while (p && *p) {
		char word[16];
		size_t n = strcspn(p, " ,\n");
		uint64_t v;

		if (n > 0 && n < sizeof(word)) {
			memcpy(word, p, n);
			word[n] = 0;
			if (parse_size(word, &v) >= 0 && v >= 4096 && (best == 0 || v < best))
				best = v;
		}
		p += n;
		p += strspn(p, " ,\n");
	}
	return best ?: 4096;
}

static void read_knob(const char *smmu, const char *attr, char **ret)
{
	_cleanup_free_ char *rel = NULL, *path = NULL;

	*ret = NULL;
	if (asprintf(&rel, "sys/class/iommu/%s/arm-smmu-v3/%s", smmu, attr) < 0)
		return;
	path = root_path(arg.root ?: "/", rel);
	if (path)
		(void)read_one_line_file(path, ret);
}

static bool vm_uses_smmu(const Topology *t, const Vm *vm, const Smmu *s)
{
	for (size_t g = 0; g < vm->n_groups; g++)
		if (topology_smmu_for_group(t, vm->groups[g]) == s)
			return true;
	return false;
}

static void estimate(const Topology *t, Vm **vms, size_t n_vms, const Config *c,
		     SmmuRisk *r)
{
	_cleanup_free_ uint64_t *pinned = calloc(n_vms ?: 1, sizeof(uint64_t));
	RiskKnobs current = { .mainline = t->kernel == KERNEL_CAP_MAINLINE }, storm;
	const Smmu *s = r->smmu;
	HostFacts host;
	SmmuFacts facts;
	const SmmuSettings *settings;
	uint64_t v;

	if (!pinned)
		return;
	for (size_t i = 0; i < n_vms; i++)
		if (vm_uses_smmu(t, vms[i], s)) {
			pinned[r->n_vms++] = vms[i]->pinned_bytes;
			r->pinned_total += vms[i]->pinned_bytes;
		}
	r->granule = smallest_granule(s->granules);

	if (s->tunable) {
		read_knob(s->name, "inv_threshold", &r->threshold);
		read_knob(s->name, "teardown_mode", &r->teardown_mode);
		current.tunables = true;
		if (r->threshold && safe_atou64(r->threshold, &v) >= 0)
			current.threshold = v;
		else if (r->threshold && streq(r->threshold, "auto"))
			current.threshold = r->granule >> 3;
		current.deferred = r->teardown_mode && streq(r->teardown_mode, "deferred");
	}
	risk_estimate(pinned, r->n_vms, r->granule, s->range_invalidation, &current, arg.cost_ns,
		      &r->now);

	if (!s->tunable || !c)
		return;
	profile_host_facts(t, &host);
	profile_smmu_facts(s, &facts);
	settings = config_settings_for(c, &host, &facts, &r->profile);
	r->storm_values = &settings->storm;
	risk_knobs_from_values(settings->storm.threshold, settings->storm.teardown_mode, &current,
			       r->granule, &storm);
	risk_estimate(pinned, r->n_vms, r->granule, s->range_invalidation, &storm, arg.cost_ns,
		      &r->storm);
	r->has_storm = true;
}

static void json_estimate(JsonWriter *w, const char *key, const RiskEstimate *e,
			  const char *threshold, const char *mode)
{
	json_key(w, key);
	json_object_begin(w);
	json_kv_string(w, "threshold", threshold);
	json_kv_string(w, "teardown_mode", mode);
	json_kv_u64(w, "commands", e->commands);
	json_kv_double(w, "seconds", (double)e->nsec / 1e9);
	json_object_end(w);
}

static int print_json(const Topology *t, const SmmuRisk *risks, size_t n)
{
	JsonWriter w;

	json_init(&w, stdout, false);
	json_object_begin(&w);
	json_kv_string(&w, "kernel", kernel_capability_to_string(t->kernel));
	json_kv_u64(&w, "cost_ns", arg.cost_ns);
	json_key(&w, "smmus");
	json_array_begin(&w);
	for (size_t i = 0; i < n; i++) {
		const SmmuRisk *r = &risks[i];

		json_object_begin(&w);
		json_kv_string(&w, "name", r->smmu->name);
		json_kv_bool(&w, "range_invalidation", r->smmu->range_invalidation);
		json_kv_bool(&w, "tunables", r->smmu->tunable);
		json_kv_u64(&w, "granule", r->granule);
		json_kv_u64(&w, "vms", r->n_vms);
		json_kv_u64(&w, "pinned_bytes", r->pinned_total);
		json_estimate(&w, "now", &r->now, r->threshold, r->teardown_mode);
		if (r->has_storm) {
			json_kv_string(&w, "profile", r->profile);
			json_estimate(&w, "storm", &r->storm, r->storm_values->threshold,
				      r->storm_values->teardown_mode);
		} else {
			json_key(&w, "storm");
			json_null(&w);
		}
		json_object_end(&w);
	}
	json_array_end(&w);
	json_object_end(&w);
	return json_finish(&w) < 0 ? CTL_EXIT_FAILED : CTL_EXIT_OK;
}

static int print_table(const Topology *t, const SmmuRisk *risks, size_t n)
{
	static const char *const headers[] = { "SMMU", "RIL", ">GRANULE", ">VMS", ">PINNED",
					       ">COMMANDS", ">TIME", ">STORM-COMMANDS",
					       ">STORM-TIME" };
	_cleanup_table_free_ Table *tab = table_new(ELEMENTSOF(headers), headers);
	char a[32], b[32];
	int r = 0;

	if (!tab)
		return log_oom(), CTL_EXIT_FAILED;
	for (size_t i = 0; i < n && r >= 0; i++) {
		const SmmuRisk *k = &risks[i];

		r = table_add(tab, k->smmu->name);
		r = r ?: table_add(tab, k->smmu->range_invalidation ? "yes" : "no");
		r = r ?: table_add(tab, format_size_human(a, sizeof(a), k->granule));
		r = r ?: table_addf(tab, "%zu", k->n_vms);
		r = r ?: table_add(tab, format_size_human(a, sizeof(a), k->pinned_total));
		r = r ?: table_add(tab, format_count_human(a, sizeof(a), k->now.commands));
		r = r ?: table_add(tab, format_nsec_human(b, sizeof(b), k->now.nsec));
		r = r ?: table_add(tab, k->has_storm ? format_count_human(a, sizeof(a),
									 k->storm.commands)
						     : NULL);
		r = r ?: table_add(tab, k->has_storm ? format_nsec_human(b, sizeof(b),
									k->storm.nsec)
						     : NULL);
	}
	if (r < 0)
		return log_oom(), CTL_EXIT_FAILED;
	if (n == 0)
		printf("No SMMUv3 on this host.\n");
	else
		table_print(tab, stdout, arg.legend);
	if (arg.legend)
		printf("\nkernel: %s; one command assumed to take %" PRIu64 " ns (--cost).\n",
		       kernel_capability_to_string(t->kernel), arg.cost_ns);
	return CTL_EXIT_OK;
}

int verb_risk(int argc, char **argv)
{
	_cleanup_(topology_freep) Topology *t = NULL;
	_cleanup_config_free_ Config *c = NULL;
	_cleanup_strv_free_ char **errors = NULL;
	_cleanup_free_ SmmuRisk *risks = NULL;
	const char *root = arg.root ?: "/";
	Vm **vms = NULL;
	size_t n_vms = 0;
	int r, ret;

	r = topology_scan(root, &t);
	if (r < 0) {
		log_error_errno(r, "Failed to read the SMMUs under %s: %m", root);
		return CTL_EXIT_FAILED;
	}
	r = vm_scan_all(root, &vms, &n_vms);
	if (r < 0) {
		log_error_errno(r, "Failed to scan the processes under %s: %m", root);
		return CTL_EXIT_FAILED;
	}
	if (geteuid() != 0)
		log_warning("Not root: VMs run by other users are not seen.");
	/* The storm column: the installed configuration, as smmud loads it. */
	if (config_load(NULL, &c, &errors) < 0) {
		log_warning("The installed configuration is invalid (smmuctl check-config): "
			    "estimating with the compiled-in storm settings.");
		c = config_new_defaults();
		if (c && config_finalize(c, &errors) < 0)
			c = config_free(c);
	}

	risks = calloc(t->n_smmus ?: 1, sizeof(SmmuRisk));
	if (!risks) {
		vm_array_free(vms, n_vms);
		return log_oom(), CTL_EXIT_FAILED;
	}
	for (size_t i = 0; i < t->n_smmus; i++) {
		risks[i].smmu = &t->smmus[i];
		estimate(t, vms, n_vms, c, &risks[i]);
	}
	ret = arg.json ? print_json(t, risks, t->n_smmus) : print_table(t, risks, t->n_smmus);
	for (size_t i = 0; i < t->n_smmus; i++) {
		free(risks[i].threshold);
		free(risks[i].teardown_mode);
	}
	vm_array_free(vms, n_vms);
	return ret;
}
