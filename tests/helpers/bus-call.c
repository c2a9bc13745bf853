// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * bus-call: calls a method of org.smmud1.Manager on smmud's private socket
 * with string arguments, the way any D-Bus client could, so tests reach
 * the daemon's own argument checks without smmuctl's in front of them
 * (busctl cannot: it greets a bus daemon first, and the socket has none).
 *
 *   bus-call SOCKET METHOD [STRING...]
 *
 * An argument "as:A,B" is an array of strings (A and B; "as:" is empty).
 * Exit 0 if the call succeeded; 1 with "ERROR-NAME: message" on stdout if
 * smmud answered with an error; 2 if the call could not be made.
 */
#include <stdio.h>

#include <systemd/sd-bus.h>

#include "bus-api.h"
#include "util.h"

int main(int argc, char **argv)
{
	_cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
	_cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
	_cleanup_free_ char *address = NULL;
	int r;

	if (argc < 3) {
		fprintf(stderr, "usage: bus-call SOCKET METHOD [STRING...]\n");
		return 2;
	}
	if (asprintf(&address, "unix:path=%s", argv[1]) < 0)
		return 2;
	r = sd_bus_new(&bus);
	if (r >= 0)
		r = sd_bus_set_address(bus, address);
	if (r >= 0)
		r = sd_bus_start(bus);
	if (r >= 0)
		r = sd_bus_message_new_method_call(bus, &m, NULL, SMMUD_BUS_PATH, SMMUD_BUS_INTERFACE,
						   argv[2]);
	for (int i = 3; r >= 0 && i < argc; i++) {
		_cleanup_strv_free_ char **l = NULL;
		const char *list = startswith(argv[i], "as:");

		if (!list) {
			r = sd_bus_message_append(m, "s", argv[i]);
			continue;
		}
		for (const char *p = list; *p;) {
			size_t n = strcspn(p, ",");
			_cleanup_free_ char *e = strndup(p, n);

			r = e ? strv_extend(&l, e) : -ENOMEM;
			if (r < 0)
				break;
			p += n + (p[n] == ',');
		}
		if (r >= 0)
			r = sd_bus_message_append_strv(m, l);
	}
	if (r < 0) {
		fprintf(stderr, "bus-call: %s: %s\n", argv[1], strerror(-r));
		return 2;
	}
	r = sd_bus_call(bus, m, 0, &error, &reply);
	if (r < 0 && !sd_bus_error_is_set(&error)) {
		fprintf(stderr, "bus-call: %s: %s\n", argv[2], strerror(-r));
		return 2;
	}
	if (r < 0) {
		printf("%s: %s\n", error.name, error.message ?: "");
		return 1;
	}
	return 0;
}
