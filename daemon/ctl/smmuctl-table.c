// SPDX-License-Identifier: GPL-2.0-or-later
#include <inttypes.h>
#include <stdarg.h>

#include "smmuctl-table.h"

struct Table {
	size_t n_cols;
	char **headers;
	bool *right;
	char **cells;
	size_t n_cells;
};

Table *table_new(size_t n_cols, const char *const *headers)
{
	Table *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->n_cols = n_cols;
	t->headers = calloc(n_cols, sizeof(char *));
	t->right = calloc(n_cols, sizeof(bool));
	if (!t->headers || !t->right)
		return table_free(t);
	for (size_t i = 0; i < n_cols; i++) {
		const char *h = headers[i];

		t->right[i] = h[0] == '>';
		t->headers[i] = strdup(h + t->right[i]);
		if (!t->headers[i])
			return table_free(t);
	}
	return t;
}

Table *table_free(Table *t)
{
	if (!t)
		return NULL;
	for (size_t i = 0; t->headers && i < t->n_cols; i++)
		free(t->headers[i]);
	for (size_t i = 0; i < t->n_cells; i++)
		free(t->cells[i]);
	free(t->headers);
	free(t->right);
	free(t->cells);
	free(t);
	return NULL;
}

int table_add(Table *t, const char *cell)
{
	char **n = realloc(t->cells, (t->n_cells + 1) * sizeof(char *));
	char *s;

	if (!n)
		return -ENOMEM;
	t->cells = n;
	s = strdup(cell ? cell : "-");
	if (!s)
		return -ENOMEM;
	/* A table cell is one line: control characters (a VM's comm) become '?'. */
	for (char *c = s; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
	t->cells[t->n_cells++] = s;
	return 0;
}

int table_addf(Table *t, const char *fmt, ...)
{
	_cleanup_free_ char *s = NULL;
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (r < 0)
		return -ENOMEM;
	return table_add(t, s);
}

/* Display width: UTF-8 continuation bytes take no column. */
static size_t width(const char *s)
{
	size_t w = 0;

	for (; *s; s++)
		if (((unsigned char)*s & 0xC0) != 0x80)
			w++;
	return w;
}

static void print_row(const Table *t, FILE *f, char *const *row, const size_t *widths)
{
	for (size_t c = 0; c < t->n_cols; c++) {
		size_t pad = widths[c] - width(row[c]);
		bool last = c + 1 == t->n_cols;

		if (t->right[c])
			fprintf(f, "%*s%s", (int)pad, "", row[c]);
		else
			fprintf(f, "%s%*s", row[c], last ? 0 : (int)pad, "");
		if (!last)
			fputs("  ", f);
	}
	fputc('\n', f);
}

int table_print(const Table *t, FILE *f, bool legend)
{
	_cleanup_free_ size_t *widths = calloc(t->n_cols, sizeof(size_t));

	if (!widths)
		return -ENOMEM;
	for (size_t c = 0; c < t->n_cols; c++)
		widths[c] = legend ? width(t->headers[c]) : 0;
	for (size_t i = 0; i < t->n_cells; i++) {
		size_t w = width(t->cells[i]);

		if (w > widths[i % t->n_cols])
			widths[i % t->n_cols] = w;
	}
	if (legend)
		print_row(t, f, t->headers, widths);
	for (size_t i = 0; i + t->n_cols <= t->n_cells; i += t->n_cols)
		print_row(t, f, t->cells + i, widths);
	return ferror(f) ? -EIO : 0;
}

int table_print_or(const Table *t, FILE *f, bool legend, const char *empty)
{
	if (t->n_cells >= t->n_cols)
		return table_print(t, f, legend);
	fprintf(f, "%s\n", empty);
	return ferror(f) ? -EIO : 0;
}

static const char *format_scaled(char *buf, size_t size, uint64_t v, uint64_t base,
				 const char *units)
{
	double d = (double)v;
	size_t u = 0;

	if (v < base) {
		snprintf(buf, size, "%" PRIu64, v);
		return buf;
	}
	while (d >= (double)base && units[u + 1]) {
		d /= (double)base;
		u++;
	}
	if (d < 10)
		snprintf(buf, size, "%.1f%c", d, units[u]);
	else
		snprintf(buf, size, "%.0f%c", d, units[u]);
	return buf;
}

const char *format_size_human(char *buf, size_t size, uint64_t bytes)
{
	return format_scaled(buf, size, bytes, 1024, " KMGTPE");
}

const char *format_count_human(char *buf, size_t size, uint64_t n)
{
	if (n < 1000000) {
		snprintf(buf, size, "%" PRIu64, n);
		return buf;
	}
	return format_scaled(buf, size, n, 1000, " KMGTPE");
}

const char *format_nsec_human(char *buf, size_t size, uint64_t nsec)
{
	static const struct {
		const char *unit;
		uint64_t ns;
	} units[] = {
		{ "h", 3600000000000ULL }, { "min", 60000000000ULL }, { "s", 1000000000ULL },
		{ "ms", 1000000ULL },       { "us", 1000ULL },
	};

	for (size_t i = 0; i < ELEMENTSOF(units); i++)
		if (nsec >= units[i].ns) {
			double d = (double)nsec / (double)units[i].ns;

			snprintf(buf, size, d < 10 ? "%.1f%s" : "%.0f%s", d, units[i].unit);
			return buf;
		}
	snprintf(buf, size, "%" PRIu64 "ns", nsec);
	return buf;
}
