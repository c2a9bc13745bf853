// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The verbs that change smmud's state: set, reset, storm, pin, unpin,
 * reload.  Arguments are checked here first, so a typo never reaches the
 * daemon; smmud checks them again, and decides who may call.
 */
#include "json.h"
#include "log.h"
#include "smmuctl-bus.h"
#include "smmuctl.h"

static bool valid_threshold(const char *v, bool allow_keep)
{
	uint32_t n;

	return streq(v, "auto") || (allow_keep && streq(v, "keep")) ||
	       (safe_atou32(v, &n) >= 0 && strlen(v) <= 10);
}

static bool valid_teardown(const char *v, bool allow_keep)
{
	return streq(v, "strict") || streq(v, "deferred") || (allow_keep && streq(v, "keep"));
}

/* The API's knob name for what the user typed, or NULL. */
static const char *knob_name(const char *s)
{
	if (streq(s, "threshold") || streq(s, "inv_threshold"))
		return "inv_threshold";
	if (streq(s, "teardown-mode") || streq(s, "teardown_mode"))
		return "teardown_mode";
	return NULL;
}

static int done(const char *what)
{
	if (arg.json) {
		JsonWriter w;

		json_init(&w, stdout, false);
		json_object_begin(&w);
		json_kv_bool(&w, "ok", true);
		json_kv_string(&w, "done", what);
		json_object_end(&w);
		if (json_finish(&w) < 0)
			return CTL_EXIT_FAILED;
	}
	return CTL_EXIT_OK;
}

static int call(const char *method, const char *types, const char *a, const char *b,
		const char *c)
{
	_cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
	int r;

	r = ctl_bus_open(&bus);
	if (r > 0)
		return r;
	if (!types)
		return ctl_call(bus, method, NULL, NULL);
	return ctl_call(bus, method, NULL, types, a, b, c);
}

int verb_set(int argc, char **argv)
{
	const char *knob = knob_name(argv[2]);
	int r;

	if (!knob)
		return ctl_usage_error("Unknown knob '%s' (threshold, teardown-mode)", argv[2]);
	if (streq(knob, "inv_threshold") ? !valid_threshold(argv[3], false)
					 : !valid_teardown(argv[3], false))
		return ctl_usage_error("'%s' is not a valid %s (%s)", argv[3], argv[2],
				       streq(knob, "inv_threshold") ? "auto or a whole number"
								    : "strict or deferred");
	r = call("SetKnob", "sss", argv[1], knob, argv[3]);
	return r ?: done("set");
}

int verb_reset(int argc, char **argv)
{
	const char *knob = "";
	int r;

	if (argc > 2) {
		knob = knob_name(argv[2]);
		if (!knob)
			return ctl_usage_error("Unknown knob '%s' (threshold, teardown-mode)",
					       argv[2]);
	}
	r = call("ResetKnob", "ss", argv[1], knob, NULL);
	return r ?: done("reset");
}

int verb_storm(int argc, char **argv)
{
	_cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
	sd_bus_error error = SD_BUS_ERROR_NULL;
	int r;

	if (!streq(argv[1], "enter") && !streq(argv[1], "leave") && !streq(argv[1], "auto"))
		return ctl_usage_error("Unknown storm mode '%s' (enter, leave, auto)", argv[1]);
	r = ctl_bus_open(&bus);
	if (r > 0)
		return r;
	/* An "as" argument: built by hand, ctl_call() takes plain types only. */
	r = sd_bus_message_new_method_call(bus, &m, arg.system_bus ? "org.smmud1" : NULL,
					   "/org/smmud1", "org.smmud1.Manager", "SetStorm");
	if (r >= 0)
		r = sd_bus_message_append(m, "s", argv[1]);
	if (r >= 0)
		r = sd_bus_message_append_strv(m, argv + 2);
	if (r < 0)
		return log_error_errno(r, "Failed to build the call: %m"), CTL_EXIT_FAILED;
	r = sd_bus_call(bus, m, 0, &error, &reply);
	if (r < 0) {
		int status = ctl_exit_for_error(&error, r);

		if (sd_bus_error_is_set(&error))
			fprintf(stderr, "%s\n", error.message ?: error.name);
		else
			log_error_errno(r, "SetStorm failed: %m");
		sd_bus_error_free(&error);
		return status;
	}
	return done(argv[1]);
}

int verb_pin(int argc, char **argv)
{
	int r;

	if (!valid_threshold(argv[2], true))
		return ctl_usage_error("'%s' is not a threshold (keep, auto or a whole number)",
				       argv[2]);
	if (!valid_teardown(argv[3], true))
		return ctl_usage_error("'%s' is not a teardown mode (keep, strict, deferred)",
				       argv[3]);
	r = call("Pin", "sss", argv[1], argv[2], argv[3]);
	return r ?: done("pin");
}

int verb_unpin(int argc, char **argv)
{
	int r = call("Unpin", "s", argv[1], NULL, NULL);

	return r ?: done("unpin");
}

int verb_reload(int argc, char **argv)
{
	int r = call("Reload", NULL, NULL, NULL, NULL);

	return r ?: done("reload");
}
