/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * smmud's metrics, as a Prometheus text-format file for node_exporter's
 * textfile collector ([Manager] MetricsFile=).  After every decision and
 * state change (no timer) the manager hands over its view; the metrics
 * are collected from it and the file replaced atomically, only when its
 * text changed.  The formatter is pure (unit tests): every label value is
 * escaped to valid, printable UTF-8 (text_escape()) with '"' as \".
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "view.h"

typedef struct MetricsKnob {
	const char *name;      /* sysfs name: inv_threshold, teardown_mode */
	const char *current;   /* what the file holds */
	const char *desired;   /* what smmud last applied ("keep": nothing) */
	const char *baseline;
	const char *storm;
	const char *owner;     /* smmud, operator, ... */
} MetricsKnob;

typedef struct MetricsSmmu {
	const char *name;
	const char *mode;      /* managed, unmanaged, monitor-only, mainline */
	const char *profile;   /* NULL: none */
	bool storm;
	const char *reason;    /* the last decision's */
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
} MetricsHost;

/* The whole file's text, malloc'd. */
int metrics_format(const MetricsHost *h, const MetricsSmmu *smmus, size_t n, char **ret);

/* The file as last written: it is written again only when its text changes. */
typedef struct MetricsFile {
	char *path;
	char *text;
} MetricsFile;

/*
 * Writes v's metrics to MetricsFile= (v->config), if they changed; a
 * changed or emptied path removes the file written before.  A failure is
 * logged, and the next change tries again.
 */
void metrics_file_update(MetricsFile *f, const DaemonView *v);
/* Removes the file (stopped, the values it showed are history) and forgets it. */
void metrics_file_remove(MetricsFile *f);
