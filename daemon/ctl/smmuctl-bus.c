// SPDX-License-Identifier: GPL-2.0-or-later
#include <stdarg.h>

#include "bus-api.h"
#include "log.h"
#include "smmuctl-bus.h"

/* D-Bus addresses escape everything but [-0-9A-Za-z_/.\\]. */
static char *address_escape(const char *path)
{
	static const char hex[] = "0123456789abcdef";
	char *r = malloc(strlen(path) * 3 + 1), *p = r;

	if (!r)
		return NULL;
	for (const unsigned char *s = (const unsigned char *)path; *s; s++) {
		if ((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'z') ||
		    (*s >= 'A' && *s <= 'Z') || strchr("-_/.\\", *s))
			*p++ = (char)*s;
		else {
			*p++ = '%';
			*p++ = hex[*s >> 4];
			*p++ = hex[*s & 15];
		}
	}
	*p = 0;
	return r;
}

int ctl_bus_open(sd_bus **ret)
{
	_cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
	_cleanup_free_ char *escaped = NULL, *address = NULL;
	int r;

	if (arg.system_bus) {
		r = sd_bus_open_system(&bus);
		if (r < 0) {
			log_error_errno(r, "Failed to connect to the system bus: %m");
			return CTL_EXIT_UNREACHABLE;
		}
		*ret = TAKE_PTR(bus);
		return 0;
	}

	escaped = address_escape(arg.socket);
	if (!escaped || asprintf(&address, "unix:path=%s", escaped) < 0)
		return log_oom(), CTL_EXIT_FAILED;
	r = sd_bus_new(&bus);
	if (r >= 0)
		r = sd_bus_set_address(bus, address);
	if (r < 0) {
		log_error_errno(r, "Failed to set up a connection to %s: %m", arg.socket);
		return CTL_EXIT_FAILED;
	}
	r = sd_bus_start(bus);
	if (r == -EACCES || r == -EPERM) {
		log_error_errno(r, "Cannot connect to smmud at %s: %m", arg.socket);
		return CTL_EXIT_DENIED;
	}
	if (r < 0) {
		log_error_errno(r, "smmud is not reachable at %s (is it running?): %m", arg.socket);
		return CTL_EXIT_UNREACHABLE;
	}
	*ret = TAKE_PTR(bus);
	return 0;
}

int ctl_exit_for_error(const sd_bus_error *e, int r)
{
	if (sd_bus_error_has_names(e, SD_BUS_ERROR_ACCESS_DENIED, SD_BUS_ERROR_AUTH_FAILED,
				   "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired"))
		return CTL_EXIT_DENIED;
	if (sd_bus_error_has_name(e, SMMUD_ERROR_CONFIG_INVALID))
		return CTL_EXIT_BAD_CONFIG;
	if (sd_bus_error_has_name(e, SMMUD_ERROR_WRITE_FAILED))
		return CTL_EXIT_FAILED;
	if (sd_bus_error_has_names(e, SD_BUS_ERROR_INVALID_ARGS, SD_BUS_ERROR_INVALID_SIGNATURE))
		return CTL_EXIT_USAGE;
	if (sd_bus_error_has_names(e, SD_BUS_ERROR_SERVICE_UNKNOWN, SD_BUS_ERROR_NAME_HAS_NO_OWNER,
				   SD_BUS_ERROR_NO_REPLY, SD_BUS_ERROR_DISCONNECTED,
				   SD_BUS_ERROR_UNKNOWN_OBJECT, SD_BUS_ERROR_UNKNOWN_INTERFACE) ||
	    r == -ECONNRESET || r == -ENOTCONN || r == -ETIMEDOUT)
		return CTL_EXIT_UNREACHABLE;
	return CTL_EXIT_FAILED;
}

int ctl_call(sd_bus *bus, const char *method, sd_bus_message **reply, const char *types, ...)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *rep = NULL;
	sd_bus_error error = SD_BUS_ERROR_NULL;
	va_list ap;
	int r;

	r = sd_bus_message_new_method_call(bus, &m, arg.system_bus ? SMMUD_BUS_NAME : NULL,
					   SMMUD_BUS_PATH, SMMUD_BUS_INTERFACE, method);
	if (r >= 0 && types) {
		va_start(ap, types);
		r = sd_bus_message_appendv(m, types, ap);
		va_end(ap);
	}
	if (r < 0) {
		log_error_errno(r, "Failed to build the %s call: %m", method);
		return CTL_EXIT_FAILED;
	}
	r = sd_bus_call(bus, m, 0, &error, &rep);
	if (r < 0) {
		int status = ctl_exit_for_error(&error, r);

		if (sd_bus_error_is_set(&error))
			/* A reload's errors are one per line: print them as they are. */
			fprintf(stderr, "%s\n", error.message ?: error.name);
		else
			log_error_errno(r, "%s failed: %m", method);
		sd_bus_error_free(&error);
		return status;
	}
	if (reply)
		*reply = TAKE_PTR(rep);
	return 0;
}
