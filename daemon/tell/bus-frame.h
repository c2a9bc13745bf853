/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The framing of a D-Bus byte stream, as a client sends it: the auth
 * exchange (text lines ending in CR LF, up to BEGIN), then messages, each
 * announcing its size in its first 16 bytes.  The private socket passes a
 * client's bytes to sd-bus only as far as this judges them (bus-private.c):
 * so a message too large for smmud's API is refused by its header, before
 * a byte of its body is read, where sd-bus would take up to 128 MiB of it
 * into memory first.  Pure: no I/O.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* An auth line is a few dozen bytes ("AUTH EXTERNAL 30"). */
#define BUS_FRAME_LINE_MAX 1024
/* The fixed part of a message header: what tells its size. */
#define BUS_FRAME_HEADER_SIZE 16

typedef struct BusFrame {
	size_t max_message;  /* bytes: header, header fields and body */
	bool messages;       /* past the auth exchange (its BEGIN line) */
	uint64_t remaining;  /* of the current message, still to pass */
	uint64_t n_messages; /* whose header has been judged */
} BusFrame;

/*
 * How many of the size bytes at data may pass now: every complete auth
 * line, and of each message its header (once all BUS_FRAME_HEADER_SIZE
 * bytes of it are there) and its other bytes.  The bytes after those are
 * to be offered again, with what follows them.  -EMSGSIZE: a message
 * larger than max_message; -EBADMSG: no D-Bus stream (an auth line longer
 * than BUS_FRAME_LINE_MAX, a header without an endianness mark).
 */
ssize_t bus_frame_scan(BusFrame *f, const uint8_t *data, size_t size);
