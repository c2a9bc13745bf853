// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * smmuctl monitor: smmud's Decision signals (storm flips) and Event signals
 * (every knob write, restore, release, override, reload, storm), one line
 * (or JSON object) each.
 */
#include <inttypes.h>
#include <signal.h>
#include <time.h>

#include "json.h"
#include "log.h"
#include "smmuctl-bus.h"
#include "smmuctl.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	stop = 1;
}

/* "2026-11-25 08:54:20.123" */
static void format_time(uint64_t when, char *buf, size_t size)
{
	time_t sec = (time_t)(when / USEC_PER_SEC);
	struct tm tm;
	char ts[32];

	strftime(ts, sizeof(ts), "%Y-%m-%d %H:%M:%S", localtime_r(&sec, &tm));
	snprintf(buf, size, "%s.%03u", ts, (unsigned)(when % USEC_PER_SEC / 1000));
}

static int on_event(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	const char *kind, *smmu, *knob, *before, *after, *detail;
	uint64_t when;
	int r;

	r = sd_bus_message_read(m, "tssssss", &when, &kind, &smmu, &knob, &before, &after,
				&detail);
	if (r < 0) {
		log_warning_errno(r, "Ignoring a malformed Event signal: %m");
		return 0;
	}
	if (arg.json) {
		JsonWriter w;

		json_init(&w, stdout, false);
		json_object_begin(&w);
		json_kv_string(&w, "type", "event");
		json_kv_u64(&w, "realtime_usec", when);
		json_kv_string(&w, "kind", kind);
		json_kv_string(&w, "smmu", smmu);
		json_kv_string(&w, "knob", knob);
		json_kv_string(&w, "before", before);
		json_kv_string(&w, "after", after);
		json_kv_string(&w, "detail", detail);
		json_object_end(&w);
		(void)json_finish(&w);
	} else {
		char ts[64];

		format_time(when, ts, sizeof(ts));
		/* "... write smmu3.0x.../inv_threshold: auto -> 16 (exit-limit)" */
		printf("%s %s %s%s%s%s%s -> %s (%s)\n", ts, kind, *smmu ? smmu : "",
		       *smmu && *knob ? "/" : "", knob, *smmu || *knob ? ": " : "",
		       *before ? before : "-", *after ? after : "-", detail);
	}
	fflush(stdout);
	return 0;
}

static int on_decision(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	const char *smmu, *reason, *why, *threshold, *mode;
	uint64_t when;
	int storm, r;

	r = sd_bus_message_read(m, "tsbssss", &when, &smmu, &storm, &reason, &why, &threshold,
				&mode);
	if (r < 0) {
		log_warning_errno(r, "Ignoring a malformed Decision signal: %m");
		return 0;
	}
	if (arg.json) {
		JsonWriter w;

		json_init(&w, stdout, false);
		json_object_begin(&w);
		json_kv_string(&w, "type", "decision");
		json_kv_u64(&w, "realtime_usec", when);
		json_kv_string(&w, "smmu", smmu);
		json_kv_bool(&w, "storm", storm);
		json_kv_string(&w, "reason", reason);
		json_kv_string(&w, "why", why);
		json_kv_string(&w, "threshold", threshold);
		json_kv_string(&w, "teardown_mode", mode);
		json_object_end(&w);
		(void)json_finish(&w);
	} else {
		char ts[64];

		format_time(when, ts, sizeof(ts));
		printf("%s %s %s (%s): %s [threshold=%s teardown_mode=%s]\n", ts, smmu,
		       storm ? "STORM" : "baseline", reason, why, threshold, mode);
	}
	fflush(stdout);
	return 0;
}

/* Connected and subscribed, the reader check passed; > 0: a CTL_EXIT_* status. */
static int monitor_connect(sd_bus **ret)
{
	_cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
	int r;

	r = ctl_bus_open(&bus);
	if (r > 0)
		return r;
	r = sd_bus_match_signal(bus, NULL, arg.system_bus ? "org.smmud1" : NULL, "/org/smmud1",
				"org.smmud1.Manager", "Decision", on_decision, NULL);
	if (r < 0) {
		log_error_errno(r, "Failed to subscribe to smmud's decisions: %m");
		return CTL_EXIT_FAILED;
	}
	r = sd_bus_match_signal(bus, NULL, arg.system_bus ? "org.smmud1" : NULL, "/org/smmud1",
				"org.smmud1.Manager", "Event", on_event, NULL);
	if (r < 0) {
		log_error_errno(r, "Failed to subscribe to smmud's events: %m");
		return CTL_EXIT_FAILED;
	}
	/* A read, so the reader check applies: fail now, not by silence. */
	r = ctl_call(bus, "GetConfig", NULL, NULL);
	if (r > 0)
		return r;
	*ret = TAKE_PTR(bus);
	return 0;
}

/*
 * smmud restarted (an upgrade, a crash, systemctl restart): its private
 * socket went with it.  Tried again every MONITOR_RETRY_NSEC until it is
 * back or we are told to stop; the attempts are quiet, the wait is said
 * once.  On the system bus the connection stays and the matches follow
 * the name, so only the private socket needs this.
 */
#define MONITOR_RETRY_NSEC (200 * 1000 * 1000L)

static int monitor_reconnect(sd_bus **bus)
{
	int level = log_get_max_level();

	*bus = sd_bus_flush_close_unref(*bus);
	fprintf(stderr, "smmud went away from %s; waiting for it to come back (^C to stop).\n",
		arg.socket);
	while (!stop) {
		struct timespec ts = { .tv_nsec = MONITOR_RETRY_NSEC };
		int r;

		/* First a pause: a stopping smmud may still accept for a moment. */
		(void)nanosleep(&ts, NULL);
		if (stop)
			break;
		log_set_max_level(LOG_EMERG);
		r = monitor_connect(bus);
		log_set_max_level(level);
		if (r == 0) {
			fprintf(stderr, "smmud is back at %s.\n", arg.socket);
			return 0;
		}
		if (r == CTL_EXIT_DENIED)
			return log_error("No longer allowed to read smmud's state at %s.", arg.socket),
			       r;
	}
	return CTL_EXIT_OK;
}

int verb_monitor(int argc, char **argv)
{
	_cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
	struct sigaction sa = { .sa_handler = on_signal };
	int r;

	r = monitor_connect(&bus);
	if (r > 0)
		return r;
	if (!arg.json) {
		printf("Monitoring smmud's decisions; ^C to stop.\n");
		fflush(stdout);
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	while (!stop) {
		r = sd_bus_process(bus, NULL);
		if (r == 0)
			r = sd_bus_wait(bus, UINT64_MAX);
		if (r == -EINTR || r > 0)
			continue;
		if (r < 0 && arg.system_bus) {
			log_error_errno(r, "Lost the connection to the system bus: %m");
			return CTL_EXIT_UNREACHABLE;
		}
		if (r < 0) {
			r = monitor_reconnect(&bus);
			if (r > 0)
				return r;
		}
	}
	return CTL_EXIT_OK;
}
