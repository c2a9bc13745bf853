/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * A small streaming JSON writer for smmuctl's --json output.  It tracks
 * nesting and commas itself, so callers only say what comes next, and it
 * always produces valid JSON: strings are escaped, and bytes that are not
 * valid UTF-8 (a VMM's comm can hold anything) become U+FFFD.
 */

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define JSON_MAX_DEPTH 32

typedef struct JsonWriter {
	FILE *f;
	bool pretty;
	unsigned depth;
	bool need_comma[JSON_MAX_DEPTH + 1];
	bool after_key;
	int error; /* first -errno: too deep, unbalanced, a key outside an object */
	bool in_object[JSON_MAX_DEPTH + 1];
} JsonWriter;

void json_init(JsonWriter *w, FILE *f, bool pretty);

void json_object_begin(JsonWriter *w);
void json_object_end(JsonWriter *w);
void json_array_begin(JsonWriter *w);
void json_array_end(JsonWriter *w);
void json_key(JsonWriter *w, const char *key);

void json_string(JsonWriter *w, const char *s); /* NULL: null */
void json_u64(JsonWriter *w, uint64_t v);
void json_i64(JsonWriter *w, int64_t v);
void json_double(JsonWriter *w, double v);      /* NaN and infinities: null */
void json_bool(JsonWriter *w, bool v);
void json_null(JsonWriter *w);

/* Key and value in one call. */
void json_kv_string(JsonWriter *w, const char *key, const char *s);
void json_kv_u64(JsonWriter *w, const char *key, uint64_t v);
void json_kv_double(JsonWriter *w, const char *key, double v);
void json_kv_bool(JsonWriter *w, const char *key, bool v);

/* Ends the document (a newline); 0, or the first error, or -EIO. */
int json_finish(JsonWriter *w);

/* Writes s as a JSON string literal, quotes included. */
void json_write_escaped(FILE *f, const char *s);
