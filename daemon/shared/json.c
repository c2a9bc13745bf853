// SPDX-License-Identifier: GPL-2.0-or-later
#include <errno.h>
#include <inttypes.h>
#include <math.h>

#include "json.h"
#include "util.h"

void json_init(JsonWriter *w, FILE *f, bool pretty)
{
	*w = (JsonWriter){ .f = f, .pretty = pretty };
}

static void newline_indent(JsonWriter *w)
{
	if (!w->pretty)
		return;
	fputc('\n', w->f);
	for (unsigned i = 0; i < w->depth; i++)
		fputs("  ", w->f);
}

/* Before any value: the comma and indentation its position needs. */
static bool value_prefix(JsonWriter *w)
{
	if (w->error)
		return false;
	if (w->after_key) {
		w->after_key = false;
		return true;
	}
	if (w->in_object[w->depth]) {
		w->error = -EINVAL; /* a value in an object needs a key first */
		return false;
	}
	if (w->need_comma[w->depth])
		fputc(',', w->f);
	if (w->depth > 0)
		newline_indent(w);
	w->need_comma[w->depth] = true;
	return true;
}

static void open_container(JsonWriter *w, char c, bool object)
{
	if (!value_prefix(w))
		return;
	if (w->depth >= JSON_MAX_DEPTH) {
		w->error = -E2BIG;
		return;
	}
	fputc(c, w->f);
	w->depth++;
	w->need_comma[w->depth] = false;
	w->in_object[w->depth] = object;
}

static void close_container(JsonWriter *w, char c, bool object)
{
	bool had_items;

	if (w->error)
		return;
	if (w->depth == 0 || w->in_object[w->depth] != object || w->after_key) {
		w->error = -EINVAL;
		return;
	}
	had_items = w->need_comma[w->depth];
	w->depth--;
	if (had_items)
		newline_indent(w);
	fputc(c, w->f);
}

void json_object_begin(JsonWriter *w)
{
	open_container(w, '{', true);
}

void json_object_end(JsonWriter *w)
{
	close_container(w, '}', true);
}

void json_array_begin(JsonWriter *w)
{
	open_container(w, '[', false);
}

void json_array_end(JsonWriter *w)
{
	close_container(w, ']', false);
}

void json_key(JsonWriter *w, const char *key)
{
	if (w->error)
		return;
	if (w->depth == 0 || !w->in_object[w->depth] || w->after_key || !key) {
		w->error = -EINVAL;
		return;
	}
	if (w->need_comma[w->depth])
		fputc(',', w->f);
	newline_indent(w);
	w->need_comma[w->depth] = true;
	json_write_escaped(w->f, key);
	fputs(w->pretty ? ": " : ":", w->f);
	w->after_key = true;
}

void json_write_escaped(FILE *f, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;

	fputc('"', f);
	while (*s) {
		size_t n;

		switch (*s) {
		case '"':
			fputs("\\\"", f);
			s++;
			continue;
		case '\\':
			fputs("\\\\", f);
			s++;
			continue;
		case '\n':
			fputs("\\n", f);
			s++;
			continue;
		case '\t':
			fputs("\\t", f);
			s++;
			continue;
		case '\r':
			fputs("\\r", f);
			s++;
			continue;
		}
		if (*s < 0x20 || *s == 0x7F) {
			fprintf(f, "\\u%04x", *s);
			s++;
			continue;
		}
		n = utf8_char_len((const char *)s, NULL);
		if (n == 0) {
			fputs("\\ufffd", f);
			s++;
			continue;
		}
		fwrite(s, 1, n, f);
		s += n;
	}
	fputc('"', f);
}

void json_string(JsonWriter *w, const char *s)
{
	if (!value_prefix(w))
		return;
	if (s)
		json_write_escaped(w->f, s);
	else
		fputs("null", w->f);
}

void json_u64(JsonWriter *w, uint64_t v)
{
	if (value_prefix(w))
		fprintf(w->f, "%" PRIu64, v);
}

void json_i64(JsonWriter *w, int64_t v)
{
	if (value_prefix(w))
		fprintf(w->f, "%" PRId64, v);
}

void json_double(JsonWriter *w, double v)
{
	if (!value_prefix(w))
		return;
	if (isfinite(v))
		fprintf(w->f, "%.17g", v);
	else
		fputs("null", w->f);
}

void json_bool(JsonWriter *w, bool v)
{
	if (value_prefix(w))
		fputs(v ? "true" : "false", w->f);
}

void json_null(JsonWriter *w)
{
	if (value_prefix(w))
		fputs("null", w->f);
}

void json_kv_string(JsonWriter *w, const char *key, const char *s)
{
	json_key(w, key);
	json_string(w, s);
}

void json_kv_u64(JsonWriter *w, const char *key, uint64_t v)
{
	json_key(w, key);
	json_u64(w, v);
}

void json_kv_double(JsonWriter *w, const char *key, double v)
{
	json_key(w, key);
	json_double(w, v);
}

void json_kv_bool(JsonWriter *w, const char *key, bool v)
{
	json_key(w, key);
	json_bool(w, v);
}

int json_finish(JsonWriter *w)
{
	if (w->error)
		return w->error;
	if (w->depth != 0 || w->after_key)
		return -EINVAL;
	fputc('\n', w->f);
	if (fflush(w->f) != 0 || ferror(w->f))
		return -EIO;
	return 0;
}
