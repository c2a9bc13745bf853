// SPDX-License-Identifier: GPL-2.0-or-later
#include <inttypes.h>

#include "counters.h"
#include "log.h"
#include "metrics.h"
#include "util.h"

/* A label value: valid printable UTF-8 (backslashes doubled by text_escape), '"' as \". */
static void put_label(FILE *f, const char *key, const char *value)
{
	_cleanup_free_ char *e = text_escape(value ?: "", 0);

	fprintf(f, "%s=\"", key);
	/* Prometheus' own escapes: \\ and \" (text_escape's \xNN becomes \\xNN). */
	for (const char *p = e ?: ""; *p; p++) {
		if (*p == '"' || *p == '\\')
			fputc('\\', f);
		fputc(*p, f);
	}
	fputc('"', f);
}

static void header(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void smmu_sample(FILE *f, const char *metric, const MetricsSmmu *s, uint64_t v)
{
	fprintf(f, "%s{", metric);
	put_label(f, "smmu", s->name);
	fprintf(f, "} %" PRIu64 "\n", v);
}

typedef struct CounterCtx {
	FILE *f;
	const MetricsSmmu *s;
} CounterCtx;

static void put_counter(const char *name, uint64_t value, void *userdata)
{
	CounterCtx *c = userdata;

	fputs("smmud_kernel_counter{", c->f);
	put_label(c->f, "smmu", c->s->name);
	fputc(',', c->f);
	put_label(c->f, "counter", name);
	fprintf(c->f, "} %" PRIu64 "\n", value);
}

int metrics_format(const MetricsHost *h, const MetricsSmmu *smmus, size_t n, char **ret)
{
	char *buf = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);

	if (!f)
		return -ENOMEM;

	header(f, "smmud_info", "gauge", "smmud's version, kernel capability and config digest.");
	fputs("smmud_info{", f);
	put_label(f, "version", h->version);
	fputc(',', f);
	put_label(f, "kernel", h->kernel);
	fputc(',', f);
	put_label(f, "config_digest", h->config_digest);
	fputs("} 1\n", f);
	header(f, "smmud_dry_run", "gauge", "1 if smmud writes no knob (--dry-run).");
	fprintf(f, "smmud_dry_run %d\n", h->dry_run);
	header(f, "smmud_shutdown_announced", "gauge", "1 once a host shutdown was announced.");
	fprintf(f, "smmud_shutdown_announced %d\n", h->shutdown_announced);
	header(f, "smmud_vms", "gauge", "VMs (processes holding VFIO or iommufd files).");
	fprintf(f, "smmud_vms %" PRIu64 "\n", h->vms);
	header(f, "smmud_exits_total", "counter", "VM exits seen.");
	fprintf(f, "smmud_exits_total %" PRIu64 "\n", h->exits_total);
	header(f, "smmud_exits_unattributed_total", "counter",
	       "VM exits behind no known SMMU.");
	fprintf(f, "smmud_exits_unattributed_total %" PRIu64 "\n", h->exits_unattributed);
	if (h->costs) {
		const DaemonCosts *c = h->costs;

		header(f, "smmud_scans_total", "counter",
		       "Scans of every process (full), looks at the processes a VFIO open may come from (look).");
		fprintf(f, "smmud_scans_total{kind=\"full\"} %" PRIu64 "\n", c->scans);
		fprintf(f, "smmud_scans_total{kind=\"look\"} %" PRIu64 "\n", c->looks);
		header(f, "smmud_open_scans_total", "counter",
		       "Scans of every process a VFIO open's look did not make unnecessary.");
		fprintf(f, "smmud_open_scans_total %" PRIu64 "\n", c->open_scans);
		header(f, "smmud_probes_total", "counter", "Processes looked at one by one.");
		fprintf(f, "smmud_probes_total %" PRIu64 "\n", c->probes);
		header(f, "smmud_exit_filter_pids", "gauge",
		       "Processes whose deaths the kernel reports to smmud (-1: every process's).");
		fprintf(f, "smmud_exit_filter_pids %" PRId64 "\n",
			!c->exit_filter || c->exit_filter_all ? -1 : (int64_t)c->exit_filter_pids);
		header(f, "smmud_exit_filter_updates_total", "counter", "Exit filters attached.");
		fprintf(f, "smmud_exit_filter_updates_total %" PRIu64 "\n", c->exit_filter_updates);
	}

	header(f, "smmud_smmu_info", "gauge", "Each SMMU, its mode and matching profile.");
	for (size_t i = 0; i < n; i++) {
		fputs("smmud_smmu_info{", f);
		put_label(f, "smmu", smmus[i].name);
		fputc(',', f);
		put_label(f, "mode", smmus[i].mode);
		fputc(',', f);
		put_label(f, "profile", smmus[i].profile);
		fputs("} 1\n", f);
	}
	header(f, "smmud_smmu_storm", "gauge", "1 while the SMMU is in its storm settings.");
	for (size_t i = 0; i < n; i++) {
		fputs("smmud_smmu_storm{", f);
		put_label(f, "smmu", smmus[i].name);
		fputc(',', f);
		put_label(f, "reason", smmus[i].reason);
		fprintf(f, "} %d\n", smmus[i].storm);
	}
	header(f, "smmud_smmu_vms", "gauge", "VMs behind the SMMU.");
	for (size_t i = 0; i < n; i++)
		smmu_sample(f, "smmud_smmu_vms", &smmus[i], smmus[i].vms);
	header(f, "smmud_smmu_pinned_bytes", "gauge", "DMA-pinned memory of the VMs behind the SMMU.");
	for (size_t i = 0; i < n; i++)
		smmu_sample(f, "smmud_smmu_pinned_bytes", &smmus[i], smmus[i].pinned_bytes);
	header(f, "smmud_smmu_exits_total", "counter", "VM exits behind the SMMU.");
	for (size_t i = 0; i < n; i++)
		smmu_sample(f, "smmud_smmu_exits_total", &smmus[i], smmus[i].exits_total);
	header(f, "smmud_smmu_storms_total", "counter", "Storms the SMMU entered.");
	for (size_t i = 0; i < n; i++)
		smmu_sample(f, "smmud_smmu_storms_total", &smmus[i], smmus[i].storms_total);

	header(f, "smmud_knob_info", "gauge",
	       "Each knob: current, desired, baseline and storm values, and its owner.");
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < smmus[i].n_knobs; k++) {
			const MetricsKnob *kn = &smmus[i].knobs[k];

			fputs("smmud_knob_info{", f);
			put_label(f, "smmu", smmus[i].name);
			fputc(',', f);
			put_label(f, "knob", kn->name);
			fputc(',', f);
			put_label(f, "current", kn->current);
			fputc(',', f);
			put_label(f, "desired", kn->desired);
			fputc(',', f);
			put_label(f, "baseline", kn->baseline);
			fputc(',', f);
			put_label(f, "storm", kn->storm);
			fputc(',', f);
			put_label(f, "owner", kn->owner);
			fputs("} 1\n", f);
		}
	header(f, "smmud_knob_value", "gauge", "A numeric knob's current value.");
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < smmus[i].n_knobs; k++) {
			const MetricsKnob *kn = &smmus[i].knobs[k];
			uint64_t v;

			if (!kn->current || safe_atou64(kn->current, &v) < 0)
				continue;
			fputs("smmud_knob_value{", f);
			put_label(f, "smmu", smmus[i].name);
			fputc(',', f);
			put_label(f, "knob", kn->name);
			fprintf(f, "} %" PRIu64 "\n", v);
		}

	header(f, "smmud_kernel_counter", "counter",
	       "The kernel's debugfs counters of the SMMU (arm-smmu-v3/<smmu>/counters).");
	for (size_t i = 0; i < n; i++) {
		CounterCtx c = { .f = f, .s = &smmus[i] };

		if (smmus[i].counters)
			counters_parse(smmus[i].counters, put_counter, &c);
	}

	if (fclose(f) != 0) {
		free(buf);
		return -ENOMEM;
	}
	*ret = buf;
	return 0;
}

void metrics_file_remove(MetricsFile *f)
{
	if (f->path && unlink(f->path) < 0 && errno != ENOENT)
		log_debug_errno(negative_errno(), "Cannot remove %s: %m", f->path);
	free(f->path);
	free(f->text);
	*f = (MetricsFile){};
}

static void smmu_metrics(const DaemonView *v, const ManagedSmmu *ms, MetricsSmmu *ret)
{
	*ret = (MetricsSmmu){
		.name = ms->name,
		.mode = smmu_mode_to_string(ms->mode),
		.profile = ms->profile,
		.storm = ms->decided && ms->decision.storm,
		.reason = ms->decided ? policy_reason_to_string(ms->decision.reason) : "",
		.exits_total = ms->policy.exits_total,
		.storms_total = ms->policy.storms_total,
	};
	ret->vms = vm_model_vms_behind(v->vms, ms->smmu, &ret->pinned_bytes);
	for (KnobAttr a = 0; a < _KNOB_ATTR_MAX; a++) {
		const Knob *k = ms->knobs[a];

		if (!k)
			continue;
		ret->knobs[ret->n_knobs++] = (MetricsKnob){
			.name = knob_attr_to_string(a),
			.current = k->current,
			.desired = smmu_desired_value(ms, a),
			.baseline = smmu_baseline_value(ms, a),
			.storm = knob_values_get(&ms->settings->storm, a),
			.owner = knob_owner_to_string(k->owner),
		};
	}
}

/* The metrics of v as text, with each SMMU's counters as the kernel has them now. */
static int collect(const DaemonView *v, char **ret)
{
	size_t n = v->smmus->n;
	_cleanup_free_ MetricsSmmu *s = calloc(n + 1, sizeof(MetricsSmmu));
	_cleanup_free_ char **counters = calloc(n + 1, sizeof(char *));
	MetricsHost h = {
		.version = SMMUD_VERSION,
		.kernel = kernel_capability_to_string(v->topology ? v->topology->kernel
								  : KERNEL_CAP_NONE),
		.config_digest = v->config->digest,
		.dry_run = v->dry_run,
		.shutdown_announced = v->shutdown_announced,
		.vms = vm_model_n_vms(v->vms),
		.exits_total = vm_model_exits_total(v->vms),
		.exits_unattributed = vm_model_exits_unattributed(v->vms),
		.costs = v->costs,
	};
	int r;

	if (!s || !counters)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const ManagedSmmu *ms = v->smmus->items[i];

		smmu_metrics(v, ms, &s[i]);
		if (ms->smmu && ms->smmu->has_counters &&
		    counters_read(v->root, ms->name, &counters[i]) >= 0)
			s[i].counters = counters[i];
	}
	r = metrics_format(&h, s, n, ret);
	/* Not a strv: an SMMU without counters leaves a hole. */
	for (size_t i = 0; i < n; i++)
		free(counters[i]);
	return r;
}

void metrics_file_update(MetricsFile *f, const DaemonView *v)
{
	const char *path = v->config ? v->config->metrics_file : NULL;
	_cleanup_free_ char *text = NULL;
	int r;

	if (!streq_ptr(path, f->path))
		metrics_file_remove(f);
	if (!path)
		return;
	r = collect(v, &text);
	if (r < 0)
		return (void)log_oom();
	if (streq_ptr(text, f->text))
		return;
	r = write_file_atomic(path, text, strlen(text), 0644);
	if (r < 0)
		/* Said once per text: the next change tries again. */
		return (void)log_warning_errno(r, "Cannot write metrics to %s: %m", path);
	if (!f->path) {
		f->path = strdup(path);
		if (!f->path)
			return (void)log_oom();
	}
	free(f->text);
	f->text = TAKE_PTR(text);
}
