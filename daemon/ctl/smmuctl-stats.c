// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * smmuctl stats: the kernel's debugfs counters of each SMMU, read by smmud
 * (debugfs is root's), sampled twice --interval apart for rates.
 */
#include <inttypes.h>
#include <time.h>

#include "json.h"
#include "log.h"
#include "smmuctl-bus.h"
#include "smmuctl-table.h"
#include "smmuctl.h"

typedef struct Counter {
	char *smmu;
	char *name;
	uint64_t value;
} Counter;

typedef struct Sample {
	uint64_t usec;
	Counter *c;
	size_t n;
} Sample;

static void sample_done(Sample *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->c[i].smmu);
		free(s->c[i].name);
	}
	free(s->c);
}

static int sample(sd_bus *bus, Sample *s)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	int r;

	r = ctl_call(bus, "GetCounters", &reply, NULL);
	if (r > 0)
		return r;
	r = sd_bus_message_read(reply, "t", &s->usec);
	if (r >= 0)
		r = sd_bus_message_enter_container(reply, 'a', "(sa(st))");
	while (r >= 0) {
		const char *smmu;

		r = sd_bus_message_enter_container(reply, 'r', "sa(st)");
		if (r <= 0)
			break;
		r = sd_bus_message_read(reply, "s", &smmu);
		if (r >= 0)
			r = sd_bus_message_enter_container(reply, 'a', "(st)");
		while (r >= 0) {
			const char *name;
			uint64_t v;
			Counter *n;

			r = sd_bus_message_read(reply, "(st)", &name, &v);
			if (r <= 0)
				break;
			n = realloc(s->c, (s->n + 1) * sizeof(Counter));
			if (!n) {
				r = -ENOMEM;
				break;
			}
			s->c = n;
			s->c[s->n] = (Counter){ .smmu = strdup(smmu), .name = strdup(name), .value = v };
			if (!s->c[s->n].smmu || !s->c[s->n].name) {
				s->n++;
				r = -ENOMEM;
				break;
			}
			s->n++;
		}
		if (r >= 0)
			r = sd_bus_message_exit_container(reply);
		if (r >= 0)
			r = sd_bus_message_exit_container(reply);
	}
	if (r < 0) {
		log_error_errno(r, "Failed to parse smmud's counters: %m");
		return CTL_EXIT_FAILED;
	}
	return 0;
}

static const Counter *find(const Sample *s, const Counter *c)
{
	for (size_t i = 0; i < s->n; i++)
		if (streq(s->c[i].smmu, c->smmu) && streq(s->c[i].name, c->name))
			return &s->c[i];
	return NULL;
}

static bool selected(char **names, const char *smmu)
{
	if (!names[0])
		return true;
	for (size_t i = 0; names[i]; i++)
		if (streq(names[i], smmu))
			return true;
	return false;
}

/* Per second; a counter that went backwards was reset: no rate. */
/* Per second over the interval; -1: none (shown "-", JSON null). */
static double rate(const Sample *a, const Sample *b, const Counter *c)
{
	const Counter *old = find(a, c);
	double dt = (double)(b->usec - a->usec) / 1e6;

	/* A maximum ("cmdq_full_wait_max_ns") is no count: it has no rate. */
	if (strstr(c->name, "_max"))
		return -1;
	if (!old || c->value < old->value || dt <= 0)
		return -1;
	return (double)(c->value - old->value) / dt;
}

int verb_stats(int argc, char **argv)
{
	_cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
	Sample a = {}, b = {};
	struct timespec ts = {
		.tv_sec = (time_t)(arg.interval_usec / USEC_PER_SEC),
		.tv_nsec = (long)(arg.interval_usec % USEC_PER_SEC) * 1000,
	};
	int r;

	r = ctl_bus_open(&bus);
	if (r > 0)
		return r;
	r = sample(bus, &a);
	if (r == 0) {
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
		r = sample(bus, &b);
	}
	if (r != 0)
		goto out;

	if (arg.json) {
		JsonWriter w;
		const char *current = NULL;

		json_init(&w, stdout, false);
		json_object_begin(&w);
		json_kv_double(&w, "interval_seconds", (double)(b.usec - a.usec) / 1e6);
		json_key(&w, "smmus");
		json_object_begin(&w);
		for (size_t i = 0; i < b.n; i++) {
			double rt;

			if (!selected(argv + 1, b.c[i].smmu))
				continue;
			if (!current || !streq(current, b.c[i].smmu)) {
				if (current)
					json_object_end(&w);
				current = b.c[i].smmu;
				json_key(&w, current);
				json_object_begin(&w);
			}
			json_key(&w, b.c[i].name);
			json_object_begin(&w);
			json_kv_u64(&w, "value", b.c[i].value);
			rt = rate(&a, &b, &b.c[i]);
			json_key(&w, "per_second");
			if (rt < 0)
				json_null(&w);
			else
				json_double(&w, rt);
			json_object_end(&w);
		}
		if (current)
			json_object_end(&w);
		json_object_end(&w);
		json_object_end(&w);
		r = json_finish(&w) < 0 ? CTL_EXIT_FAILED : CTL_EXIT_OK;
	} else {
		static const char *const headers[] = { "SMMU", "COUNTER", ">VALUE", ">PER-SECOND" };
		_cleanup_table_free_ Table *t = table_new(ELEMENTSOF(headers), headers);
		int q = 0;

		if (!t) {
			log_oom();
			r = CTL_EXIT_FAILED;
			goto out;
		}
		for (size_t i = 0; i < b.n && q >= 0; i++) {
			double rt = rate(&a, &b, &b.c[i]);

			if (!selected(argv + 1, b.c[i].smmu))
				continue;
			q = table_add(t, b.c[i].smmu);
			q = q ?: table_add(t, b.c[i].name);
			q = q ?: table_addf(t, "%" PRIu64, b.c[i].value);
			q = q ?: (rt < 0 ? table_add(t, NULL) : table_addf(t, "%.1f", rt));
		}
		if (b.n == 0)
			printf("No SMMU counters (a kernel without smmud's debugfs counters?).\n");
		else
			table_print(t, stdout, arg.legend);
		r = q < 0 ? CTL_EXIT_FAILED : CTL_EXIT_OK;
	}
out:
	sample_done(&a);
	sample_done(&b);
	return r;
}
