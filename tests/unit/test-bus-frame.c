// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The framing of a client's D-Bus stream: auth lines pass whole, a message
 * passes header first (once all 16 bytes are there), a message larger than
 * the bound is refused by its header whatever follows, bytes offered in any
 * split are judged alike, and what is not D-Bus is refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <endian.h>
#include <errno.h>
#include <string.h>

#include "bus-frame.h"
#include "util.h"

#define AUTH "\0AUTH EXTERNAL 30\r\nNEGOTIATE_UNIX_FD\r\nBEGIN\r\n"
#define AUTH_SIZE (sizeof(AUTH) - 1)

/* A message header: endianness, body length, fields length (then that many bytes of each). */
static size_t message(uint8_t *buf, char endian, uint32_t fields, uint32_t body)
{
	uint32_t f = endian == 'l' ? htole32(fields) : htobe32(fields);
	uint32_t b = endian == 'l' ? htole32(body) : htobe32(body);
	size_t total = BUS_FRAME_HEADER_SIZE + ((fields + 7) & ~7U) + body;

	memset(buf, 0x5a, total);
	buf[0] = (uint8_t)endian;
	buf[1] = 1;
	buf[3] = 1;
	memcpy(buf + 4, &b, 4);
	memcpy(buf + 12, &f, 4);
	return total;
}

/* Offers data in pieces of step bytes, as a reader would: returns how much passed. */
static ssize_t feed(BusFrame *f, const uint8_t *data, size_t size, size_t step)
{
	size_t passed = 0, have = 0;

	while (have < size) {
		ssize_t n;

		have = have + step < size ? have + step : size;
		n = bus_frame_scan(f, data + passed, have - passed);
		if (n < 0)
			return n;
		passed += (size_t)n;
	}
	return (ssize_t)passed;
}

static void test_auth_then_messages(void **state)
{
	uint8_t buf[4096];
	size_t n = AUTH_SIZE;

	memcpy(buf, AUTH, AUTH_SIZE);
	n += message(buf + n, 'l', 61, 40);
	n += message(buf + n, 'B', 8, 0);
	for (size_t step = 1; step <= n; step = step * 3 + 1) {
		BusFrame f = { .max_message = 1024 };

		assert_int_equal(feed(&f, buf, n, step), (ssize_t)n);
		assert_true(f.messages);
		assert_int_equal(f.n_messages, 2);
		assert_int_equal(f.remaining, 0);
	}
}

static void test_partial_pieces_wait(void **state)
{
	uint8_t buf[256];
	BusFrame f = { .max_message = 1024 };
	size_t m;

	/* An auth line without its end: nothing yet. */
	assert_int_equal(bus_frame_scan(&f, (const uint8_t *)"\0AUTH EXT", 9), 0);
	memcpy(buf, AUTH, AUTH_SIZE);
	assert_int_equal(bus_frame_scan(&f, buf, AUTH_SIZE), (ssize_t)AUTH_SIZE);
	/* 15 bytes of a header: nothing; 16: the header, and what of the message is there. */
	m = message(buf, 'l', 0, 100);
	assert_int_equal(bus_frame_scan(&f, buf, 15), 0);
	assert_int_equal(f.n_messages, 0);
	assert_int_equal(bus_frame_scan(&f, buf, 20), 20);
	assert_int_equal(f.n_messages, 1);
	assert_int_equal(f.remaining, m - 20);
}

static void test_large_message_refused_by_its_header(void **state)
{
	uint8_t buf[256];
	BusFrame f = { .max_message = 64 * 1024 };

	memcpy(buf, AUTH, AUTH_SIZE);
	/* 100 MiB announced: refused on its 16 header bytes alone. */
	message(buf + AUTH_SIZE, 'l', 0, 0);
	{
		uint32_t body = htole32(100U << 20);

		memcpy(buf + AUTH_SIZE + 4, &body, sizeof(body));
	}
	assert_int_equal(bus_frame_scan(&f, buf, AUTH_SIZE + 16), -EMSGSIZE);
	/* Exactly the bound passes, one byte more does not (fields are padded to 8). */
	f = (BusFrame){ .max_message = 64, .messages = true };
	message(buf, 'l', 8, 40);
	assert_int_equal(bus_frame_scan(&f, buf, 16), 16);
	f = (BusFrame){ .max_message = 64, .messages = true };
	message(buf, 'B', 9, 33);
	assert_int_equal(bus_frame_scan(&f, buf, 16), -EMSGSIZE);
	/* The largest lengths a header can name do not wrap around. */
	f = (BusFrame){ .max_message = 64, .messages = true };
	message(buf, 'l', 0, 0);
	memset(buf + 4, 0xff, 4);
	memset(buf + 12, 0xff, 4);
	assert_int_equal(bus_frame_scan(&f, buf, 16), -EMSGSIZE);
}

static void test_not_dbus(void **state)
{
	uint8_t line[BUS_FRAME_LINE_MAX + 2];
	BusFrame f = { .max_message = 1024 };

	memset(line, 'A', sizeof(line));
	assert_int_equal(bus_frame_scan(&f, line, sizeof(line)), -EBADMSG);
	f = (BusFrame){ .max_message = 1024, .messages = true };
	memset(line, 'x', 16);
	assert_int_equal(bus_frame_scan(&f, line, 16), -EBADMSG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_auth_then_messages),
		cmocka_unit_test(test_partial_pieces_wait),
		cmocka_unit_test(test_large_message_refused_by_its_header),
		cmocka_unit_test(test_not_dbus),
	};

	return cmocka_run_group_tests_name("bus-frame", tests, NULL, NULL);
}
