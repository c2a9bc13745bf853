/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * smmud's metrics, as a Prometheus text-format file for node_exporter's
 * textfile collector ([Manager] MetricsFile=).  After decisions and state
 * changes, and every METRICS_REFRESH_USEC besides (the kernel's counters
 * change without smmud deciding anything), the outbox hands over the
 * manager's view; the metrics are collected from it and the file replaced
 * atomically.  The formatter is pure (unit tests): every label value is
 * escaped to valid, printable UTF-8 (text_escape()) with '"' as \".
 * Labels hold only what changes with the configuration or the hardware;
 * values that change (a reason, an owner) are state sets, one series per
 * possible value, so that a storm makes no new series.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "view.h"

/* The file is written again this often while nothing else changes it (smmud.conf(5)). */
#define METRICS_REFRESH_USEC (5 * USEC_PER_SEC)

typedef struct MetricsKnob {
	const char *name;      /* sysfs name: inv_threshold, teardown_mode */
	const char *current;   /* what the file holds */
	const char *desired;   /* what smmud last applied ("keep": nothing) */
	const char *baseline;
	const char *storm;
	const char *owner;     /* knob_owner_to_string(): smmud, operator */
	uint64_t write_failures;
} MetricsKnob;

typedef struct MetricsSmmu {
	const char *name;
	const char *mode;      /* managed, unmanaged, monitor-only, mainline */
	const char *profile;   /* NULL: none */
	bool storm;
	const char *reason;    /* the last decision's, policy_reason_to_string() */
	uint64_t vms;
	uint64_t pinned_bytes;
	uint64_t exits_total;
	uint64_t storms_total;
	MetricsKnob knobs[2];
	size_t n_knobs;
	const char *counters;  /* text of the kernel's debugfs counters file; NULL: none */
} MetricsSmmu;

typedef struct MetricsHost {
	const char *version;
	const char *kernel;    /* tunables, mainline, none */
	const char *config_digest;
	bool dry_run;
	bool shutdown_announced;
	uint64_t vms;
	uint64_t exits_total;
	uint64_t exits_unattributed;
	const DaemonCosts *costs;  /* NULL: not shown */
	const DaemonReloads *reloads; /* NULL: not shown */
	uint64_t started_usec;     /* CLOCK_REALTIME; 0: not shown */
	uint64_t realtime_usec;    /* when: smmud_metrics_last_update_timestamp_seconds */
} MetricsHost;

/* The whole file's text, malloc'd. */
int metrics_format(const MetricsHost *h, const MetricsSmmu *smmus, size_t n, char **ret);

/* The file as last written: it is written again only when its text changes. */
typedef struct MetricsFile {
	char *path;
	char *text;
	char *error;   /* why the last write failed ("cannot write ...: ..."); NULL: it did not */
} MetricsFile;

/*
 * Writes v's metrics to MetricsFile= (v->config), if they changed; a
 * changed or emptied path removes the file written before.  A failure is
 * logged once (until it changes or a write succeeds) and kept in f->error
 * for the status line; the next change or refresh tries again.
 */
void metrics_file_update(MetricsFile *f, const DaemonView *v);
/* Removes the file (stopped, the values it showed are history) and forgets it. */
void metrics_file_remove(MetricsFile *f);
