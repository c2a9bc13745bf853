// SPDX-License-Identifier: GPL-2.0-or-later
#include <endian.h>
#include <errno.h>
#include <string.h>

#include "bus-frame.h"

/* The body's and the header fields' lengths, in the message's byte order. */
static uint32_t header_u32(const uint8_t *header, size_t offset)
{
	uint32_t v;

	memcpy(&v, header + offset, sizeof(v));
	return header[0] == 'l' ? le32toh(v) : be32toh(v);
}

/* A judged auth line: BEGIN ends the exchange. */
static void auth_line(BusFrame *f, const uint8_t *line, size_t len)
{
	if (len == strlen("BEGIN") && memcmp(line, "BEGIN", len) == 0)
		f->messages = true;
}

ssize_t bus_frame_scan(BusFrame *f, const uint8_t *data, size_t size)
{
	size_t done = 0;

	while (done < size) {
		const uint8_t *p = data + done;
		size_t left = size - done;
		uint64_t total;

		if (!f->messages) {
			const uint8_t *end = memmem(p, left, "\r\n", 2);

			if (!end) {
				if (left > BUS_FRAME_LINE_MAX)
					return -EBADMSG;
				break;
			}
			if ((size_t)(end - p) > BUS_FRAME_LINE_MAX)
				return -EBADMSG;
			auth_line(f, p, (size_t)(end - p));
			done += (size_t)(end - p) + 2;
			continue;
		}
		if (f->remaining > 0) {
			size_t n = left < f->remaining ? left : (size_t)f->remaining;

			f->remaining -= n;
			done += n;
			continue;
		}
		if (left < BUS_FRAME_HEADER_SIZE)
			break;
		if (p[0] != 'l' && p[0] != 'B')
			return -EBADMSG;
		/* Fixed header, the fields array padded to 8, the body. */
		total = BUS_FRAME_HEADER_SIZE + (((uint64_t)header_u32(p, 12) + 7) & ~UINT64_C(7)) +
			header_u32(p, 4);
		if (total > f->max_message)
			return -EMSGSIZE;
		f->remaining = total;
		f->n_messages++;
	}
	return (ssize_t)done;
}
