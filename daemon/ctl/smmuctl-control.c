// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The verbs that change smmud's state: set, reset, storm, pin, unpin,
 * reload.  Arguments are checked here first, with the validators smmud
 * uses (values.h), so a typo never reaches the daemon and a value goes
 * out in the form smmud would make of it; smmud checks them again, and
 * decides who may call.
 */
#include "json.h"
#include "log.h"
#include "smmuctl-bus.h"
#include "smmuctl.h"
#include "values.h"

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
	char value[KNOB_VALUE_MAX];
	const char *reason;
	KnobAttr a;
	int r;

	if (value_knob_name(argv[2], &a, &reason) < 0)
		return ctl_usage_error("knob '%s': %s", argv[2], reason);
	if (value_knob(a, argv[3], 0, value, &reason) < 0)
		return ctl_usage_error("%s '%s': %s", argv[2], argv[3], reason);
	r = call("SetKnob", "sss", argv[1], knob_attr_to_string(a), value);
	return r ?: done("set");
}

int verb_reset(int argc, char **argv)
{
	const char *reason;
	KnobAttr a;
	int r;

	if (argc > 2 && value_knob_name(argv[2], &a, &reason) < 0)
		return ctl_usage_error("knob '%s': %s", argv[2], reason);
	r = call("ResetKnob", "ss", argv[1], argc > 2 ? knob_attr_to_string(a) : "", NULL);
	return r ?: done("reset");
}

int verb_storm(int argc, char **argv)
{
	_cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
	sd_bus_error error = SD_BUS_ERROR_NULL;
	const char *reason;
	StormRequest request;
	int r;

	if (value_storm_request(argv[1], &request, &reason) < 0)
		return ctl_usage_error("storm mode '%s': %s", argv[1], reason);
	/* Only a storm entered can end by itself. */
	if (arg.storm_for && request != STORM_REQUEST_ENTER)
		return ctl_usage_error("--for goes with storm enter only");
	r = ctl_bus_open(&bus);
	if (r > 0)
		return r;
	/* An "as" argument: built by hand, ctl_call() takes plain types only. */
	r = sd_bus_message_new_method_call(bus, &m, arg.system_bus ? "org.smmud1" : NULL,
					   "/org/smmud1", "org.smmud1.Manager",
					   arg.storm_for ? "AnnounceStorm" : "SetStorm");
	if (r >= 0)
		r = sd_bus_message_append(m, "s", arg.storm_for ?: argv[1]);
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
			log_error_errno(r, "%s failed: %m", arg.storm_for ? "AnnounceStorm" : "SetStorm");
		sd_bus_error_free(&error);
		return status;
	}
	return done(argv[1]);
}

int verb_pin(int argc, char **argv)
{
	KnobValues pin;
	const char *reason;
	int r;

	if (value_threshold(argv[2], VALUE_ALLOW_KEEP, pin.threshold, &reason) < 0)
		return ctl_usage_error("threshold '%s': %s", argv[2], reason);
	if (value_teardown_mode(argv[3], VALUE_ALLOW_KEEP, pin.teardown_mode, &reason) < 0)
		return ctl_usage_error("teardown mode '%s': %s", argv[3], reason);
	r = call("Pin", "sss", argv[1], pin.threshold, pin.teardown_mode);
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
