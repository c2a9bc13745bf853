// SPDX-License-Identifier: GPL-2.0-or-later
/* The JSON writer behind smmuctl --json: structure, escaping, misuse. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "json.h"

typedef struct Buf {
	char *data;
	size_t size;
	FILE *f;
	JsonWriter w;
} Buf;

static void buf_open(Buf *b, bool pretty)
{
	b->data = NULL;
	b->size = 0;
	b->f = open_memstream(&b->data, &b->size);
	assert_non_null(b->f);
	json_init(&b->w, b->f, pretty);
}

/* Finishes the document and returns json_finish()'s result. */
static int buf_close(Buf *b)
{
	int r = json_finish(&b->w);

	fclose(b->f);
	return r;
}

static void test_nesting_and_commas(void **state)
{
	Buf b;

	buf_open(&b, false);
	json_object_begin(&b.w);
	json_kv_string(&b.w, "name", "smmu0");
	json_kv_u64(&b.w, "vms", 3);
	json_key(&b.w, "list");
	json_array_begin(&b.w);
	json_u64(&b.w, 1);
	json_i64(&b.w, -2);
	json_object_begin(&b.w);
	json_object_end(&b.w);
	json_array_begin(&b.w);
	json_array_end(&b.w);
	json_null(&b.w);
	json_array_end(&b.w);
	json_kv_bool(&b.w, "storm", true);
	json_kv_string(&b.w, "none", NULL);
	json_object_end(&b.w);
	assert_int_equal(buf_close(&b), 0);
	assert_string_equal(b.data, "{\"name\":\"smmu0\",\"vms\":3,\"list\":[1,-2,{},[],null],"
				    "\"storm\":true,\"none\":null}\n");
	free(b.data);
}

static void test_pretty(void **state)
{
	Buf b;

	buf_open(&b, true);
	json_object_begin(&b.w);
	json_key(&b.w, "a");
	json_array_begin(&b.w);
	json_u64(&b.w, 1);
	json_u64(&b.w, 2);
	json_array_end(&b.w);
	json_object_end(&b.w);
	assert_int_equal(buf_close(&b), 0);
	assert_string_equal(b.data, "{\n  \"a\": [\n    1,\n    2\n  ]\n}\n");
	free(b.data);
}

static void test_escaping(void **state)
{
	Buf b;

	buf_open(&b, false);
	json_array_begin(&b.w);
	json_string(&b.w, "q\"b\\s/n\nt\tr\r\x01\x1f\x7f");
	json_string(&b.w, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");   /* valid UTF-8 kept */
	json_string(&b.w, "bad\xff\xc3(\xe0\x80\x80\xed\xa0\x80\xf4\x90\x80\x80!");
	json_array_end(&b.w);
	assert_int_equal(buf_close(&b), 0);
	assert_string_equal(b.data,
			    "[\"q\\\"b\\\\s/n\\nt\\tr\\r\\u0001\\u001f\\u007f\","
			    "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\","
			    "\"bad\\ufffd\\ufffd(\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd"
			    "\\ufffd\\ufffd\\ufffd\\ufffd!\"]\n");
	free(b.data);
}

static void test_numbers(void **state)
{
	Buf b;

	buf_open(&b, false);
	json_array_begin(&b.w);
	json_u64(&b.w, UINT64_MAX);
	json_double(&b.w, 0.5);
	json_double(&b.w, NAN);
	json_double(&b.w, INFINITY);
	json_array_end(&b.w);
	assert_int_equal(buf_close(&b), 0);
	assert_string_equal(b.data, "[18446744073709551615,0.5,null,null]\n");
	free(b.data);
}

static void test_misuse(void **state)
{
	Buf b;

	/* A value in an object without a key. */
	buf_open(&b, false);
	json_object_begin(&b.w);
	json_u64(&b.w, 1);
	json_object_end(&b.w);
	assert_int_equal(buf_close(&b), -EINVAL);
	free(b.data);

	/* A key in an array. */
	buf_open(&b, false);
	json_array_begin(&b.w);
	json_key(&b.w, "k");
	json_array_end(&b.w);
	assert_int_equal(buf_close(&b), -EINVAL);
	free(b.data);

	/* Unbalanced. */
	buf_open(&b, false);
	json_object_begin(&b.w);
	assert_int_equal(buf_close(&b), -EINVAL);
	free(b.data);

	/* Mismatched close. */
	buf_open(&b, false);
	json_object_begin(&b.w);
	json_array_end(&b.w);
	assert_int_equal(buf_close(&b), -EINVAL);
	free(b.data);

	/* A key with no value. */
	buf_open(&b, false);
	json_object_begin(&b.w);
	json_key(&b.w, "k");
	json_object_end(&b.w);
	assert_int_equal(buf_close(&b), -EINVAL);
	free(b.data);

	/* Too deep. */
	buf_open(&b, false);
	for (int i = 0; i < JSON_MAX_DEPTH + 1; i++)
		json_array_begin(&b.w);
	assert_int_equal(buf_close(&b), -E2BIG);
	free(b.data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nesting_and_commas),
		cmocka_unit_test(test_pretty),
		cmocka_unit_test(test_escaping),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_misuse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
