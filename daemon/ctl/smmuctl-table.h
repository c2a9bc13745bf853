/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* smmuctl's human output: aligned tables, and sizes, times and rates as people read them. */

#include <stdint.h>
#include <stdio.h>

#include "util.h"

typedef struct Table Table;

/* headers: n_cols column titles; a title starting with '>' is right-aligned (the '>' is not shown). */
Table *table_new(size_t n_cols, const char *const *headers);
Table *table_free(Table *t);
static inline void table_freep(Table **t)
{
	table_free(*t);
}
#define _cleanup_table_free_ _cleanup_(table_freep)

/* Adds one cell (rows fill left to right); NULL shows as "-". */
int table_add(Table *t, const char *cell);
int table_addf(Table *t, const char *fmt, ...) _printf_(2, 3);
/* Prints with two spaces between columns; legend: the header row first. */
int table_print(const Table *t, FILE *f, bool legend);
/* The same, or the line empty ("No VMs.") when the table has no row: no bare header. */
int table_print_or(const Table *t, FILE *f, bool legend, const char *empty);

/* "1.5G", "512K", "0": powers of 1024, one decimal below 10. */
const char *format_size_human(char *buf, size_t size, uint64_t bytes);
/* "1.2s", "35ms", "12us", "2h": the two most telling units at most. */
const char *format_nsec_human(char *buf, size_t size, uint64_t nsec);
/* "262144", "1.2M", "3.4G": counts. */
const char *format_count_human(char *buf, size_t size, uint64_t n);
