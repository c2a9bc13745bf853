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

static void knob_sample_start(FILE *f, const char *metric, const MetricsSmmu *s,
			      const MetricsKnob *kn)
{
	fprintf(f, "%s{", metric);
	put_label(f, "smmu", s->name);
	fputc(',', f);
	put_label(f, "knob", kn->name);
}

/* A CLOCK_REALTIME instant in seconds, to the microsecond, and the line's end. */
static void put_seconds(FILE *f, uint64_t usec)
{
	fprintf(f, "%" PRIu64 ".%06" PRIu64 "\n", usec / USEC_PER_SEC, usec % USEC_PER_SEC);
}

static void smmu_sample(FILE *f, const char *metric, const MetricsSmmu *s, uint64_t v)
{
	fprintf(f, "%s{", metric);
	put_label(f, "smmu", s->name);
	fprintf(f, "} %" PRIu64 "\n", v);
}

/*
 * The kernel's counters, one metric family each, in the names Prometheus
 * expects: "x" a counter smmud_kernel_x_total ("x_total" as is), "x_max_ns"
 * a maximum, a gauge smmud_kernel_x_max_seconds.  A name that could not be
 * a metric's is left out.
 */
static bool counter_name_ok(const char *name)
{
	if (!*name || strlen(name) > 48)
		return false;
	for (const char *p = name; *p; p++)
		if (!(*p == '_' || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')))
			return false;
	return true;
}

typedef struct CounterNames {
	char **names;
	int r;
} CounterNames;

static void add_counter_name(const char *name, uint64_t value, void *userdata)
{
	CounterNames *c = userdata;

	if (c->r < 0 || !counter_name_ok(name))
		return;
	for (char **n = c->names; n && *n; n++)
		if (streq(*n, name))
			return;
	c->r = strv_extend(&c->names, name);
}

typedef struct CounterFind {
	const char *name;
	bool found;
	uint64_t value;
} CounterFind;

static void find_counter(const char *name, uint64_t value, void *userdata)
{
	CounterFind *c = userdata;

	if (!c->found && streq(name, c->name)) {
		c->found = true;
		c->value = value;
	}
}

static int put_kernel_counters(FILE *f, const MetricsSmmu *smmus, size_t n)
{
	_cleanup_strv_free_ char **names = NULL;
	CounterNames c = {};

	for (size_t i = 0; i < n; i++)
		if (smmus[i].counters)
			counters_parse(smmus[i].counters, add_counter_name, &c);
	names = c.names;
	if (c.r < 0)
		return c.r;
	for (char **name = names; name && *name; name++) {
		_cleanup_free_ char *metric = NULL, *help = NULL;
		size_t len = strlen(*name);
		bool max = endswith(*name, "_max_ns");
		int r;

		if (max)
			r = asprintf(&metric, "smmud_kernel_%.*s_seconds", (int)(len - 3), *name);
		else
			r = asprintf(&metric, "smmud_kernel_%s%s", *name,
				     endswith(*name, "_total") ? "" : "_total");
		if (r < 0) {
			metric = NULL;
			return -ENOMEM;
		}
		if (asprintf(&help, "The SMMU's debugfs counter %s%s.", *name,
			     max ? ", in seconds" : "") < 0) {
			help = NULL;
			return -ENOMEM;
		}
		header(f, metric, max ? "gauge" : "counter", help);
		for (size_t i = 0; i < n; i++) {
			CounterFind cf = { .name = *name };

			if (!smmus[i].counters)
				continue;
			counters_parse(smmus[i].counters, find_counter, &cf);
			if (!cf.found)
				continue;
			fprintf(f, "%s{", metric);
			put_label(f, "smmu", smmus[i].name);
			if (max)
				fprintf(f, "} %" PRIu64 ".%09" PRIu64 "\n", cf.value / 1000000000,
					cf.value % 1000000000);
			else
				fprintf(f, "} %" PRIu64 "\n", cf.value);
		}
	}
	return 0;
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
	if (h->started_usec > 0) {
		header(f, "smmud_start_time_seconds", "gauge",
		       "When this smmud started (seconds since the epoch): a change is a restart.");
		fputs("smmud_start_time_seconds ", f);
		put_seconds(f, h->started_usec);
	}
	if (h->reloads) {
		header(f, "smmud_config_reloads_total", "counter",
		       "Configuration reloads: taken (ok), or refused with the running one kept (rejected).");
		fprintf(f, "smmud_config_reloads_total{result=\"ok\"} %" PRIu64 "\n", h->reloads->ok);
		fprintf(f, "smmud_config_reloads_total{result=\"rejected\"} %" PRIu64 "\n",
			h->reloads->rejected);
		header(f, "smmud_config_last_reload_successful", "gauge",
		       "0 if the last reload was refused (the configuration on disk is not the one running).");
		fprintf(f, "smmud_config_last_reload_successful %d\n", !h->reloads->last_rejected);
	}
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
	for (size_t i = 0; i < n; i++)
		smmu_sample(f, "smmud_smmu_storm", &smmus[i], smmus[i].storm);
	header(f, "smmud_smmu_reason", "gauge",
	       "The reason of the SMMU's last decision: 1 for it, 0 for every other.");
	for (size_t i = 0; i < n; i++)
		for (PolicyReason r = 0; r < _POLICY_REASON_MAX; r++) {
			fputs("smmud_smmu_reason{", f);
			put_label(f, "smmu", smmus[i].name);
			fputc(',', f);
			put_label(f, "reason", policy_reason_to_string(r));
			fprintf(f, "} %d\n", streq_ptr(smmus[i].reason, policy_reason_to_string(r)));
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

	header(f, "smmud_knob_info", "gauge", "Each knob's configured baseline and storm values.");
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < smmus[i].n_knobs; k++) {
			const MetricsKnob *kn = &smmus[i].knobs[k];

			knob_sample_start(f, "smmud_knob_info", &smmus[i], kn);
			fputc(',', f);
			put_label(f, "baseline", kn->baseline);
			fputc(',', f);
			put_label(f, "storm", kn->storm);
			fputs("} 1\n", f);
		}
	header(f, "smmud_knob_as_desired", "gauge",
	       "1 if the knob holds what smmud last wrote to it, or smmud wrote nothing.");
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < smmus[i].n_knobs; k++) {
			const MetricsKnob *kn = &smmus[i].knobs[k];

			knob_sample_start(f, "smmud_knob_as_desired", &smmus[i], kn);
			fprintf(f, "} %d\n", !kn->desired || streq(kn->desired, "keep") ||
					     streq_ptr(kn->current, kn->desired));
		}
	header(f, "smmud_knob_owner", "gauge",
	       "Who decides the knob's value: 1 for that owner, 0 for every other.");
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < smmus[i].n_knobs; k++)
			for (KnobOwner o = 0; o < _KNOB_OWNER_MAX; o++) {
				const MetricsKnob *kn = &smmus[i].knobs[k];

				knob_sample_start(f, "smmud_knob_owner", &smmus[i], kn);
				fputc(',', f);
				put_label(f, "owner", knob_owner_to_string(o));
				fprintf(f, "} %d\n", streq_ptr(kn->owner, knob_owner_to_string(o)));
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

	header(f, "smmud_knob_write_failures_total", "counter",
	       "Writes smmud wanted that did not take (knob unreadable, state file or write failed).");
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < smmus[i].n_knobs; k++) {
			const MetricsKnob *kn = &smmus[i].knobs[k];

			knob_sample_start(f, "smmud_knob_write_failures_total", &smmus[i], kn);
			fprintf(f, "} %" PRIu64 "\n", kn->write_failures);
		}

	if (put_kernel_counters(f, smmus, n) < 0) {
		fclose(f);
		free(buf);
		return -ENOMEM;
	}
	header(f, "smmud_metrics_last_update_timestamp_seconds", "gauge",
	       "When smmud wrote this file (seconds since the epoch).");
	fputs("smmud_metrics_last_update_timestamp_seconds ", f);
	put_seconds(f, h->realtime_usec);

	if (fclose(f) != 0) {
		free(buf);
		return -ENOMEM;
	}
	*ret = buf;
	return 0;
}

void metrics_file_remove(MetricsFile *f)
{
	/* Only a file smmud wrote: a path it never could write may be someone else's. */
	if (f->path && f->text && unlink(f->path) < 0 && errno != ENOENT)
		log_debug_errno(negative_errno(), "Cannot remove %s: %m", f->path);
	free(f->path);
	free(f->text);
	free(f->error);
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
			.write_failures = k->write_failures,
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
		.reloads = v->reloads,
		.started_usec = v->started_usec,
		.realtime_usec = now_usec(CLOCK_REALTIME),
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

	if (!streq_ptr(path, f->path)) {
		metrics_file_remove(f);
		if (!path)
			return;
		f->path = strdup(path);
		if (!f->path)
			return (void)log_oom();
	}
	if (!path)
		return; /* no MetricsFile=, before as now: nothing to write */
	r = collect(v, &text);
	if (r < 0)
		return (void)log_oom();
	if (streq_ptr(text, f->text))
		return;
	r = write_file_atomic(path, text, strlen(text), 0644);
	if (r < 0) {
		_cleanup_free_ char *error = NULL;

		errno = -r;
		if (asprintf(&error, "cannot write metrics to %s: %m", path) < 0)
			return (void)log_oom();
		/* Said once: the refresh tries again every few seconds. */
		if (!streq_ptr(error, f->error))
			log_warning_errno(r, "Cannot write metrics to %s: %m", path);
		free(f->error);
		f->error = TAKE_PTR(error);
		return;
	}
	if (f->error) {
		log_info("Metrics written to %s again.", path);
		free(f->error);
		f->error = NULL;
	}
	free(f->text);
	f->text = TAKE_PTR(text);
}
