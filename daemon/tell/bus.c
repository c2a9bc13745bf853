// SPDX-License-Identifier: GPL-2.0-or-later
#include <inttypes.h>

#include "bus-api.h"
#include "bus-private.h"
#include "bus.h"
#include "counters.h"
#include "log.h"
#include "values.h"

struct Bus {
	sd_bus *system_bus;       /* NULL: none */
	BusControl control;       /* the daemon, as far as the API sees it */
	void *userdata;
	BusAccess access;
	BusPrivate *private;
	char *socket_path;
	sd_bus_slot *system_slot; /* the object on the system bus */
	bool name_acquired;
};

/* ---- helpers ---------------------------------------------------------- */

/*
 * Every string smmud puts on the bus goes through bus_text(): D-Bus wants
 * valid UTF-8, and the strings come from places that guarantee nothing
 * (sysfs and debugfs names and contents, a VMM's comm, config values, file
 * names).  Escaping here, at the one exit, covers every getter and signal,
 * present and future, where escaping at each source would miss the next
 * one; the stored values stay exact (knob writes compare raw sysfs text).
 * Safe strings pass through as they are; escaped copies live in the
 * BusText until the message is built.
 */
typedef struct BusText {
	char **copies;
	int error;
} BusText;

static void bus_text_done(BusText *t)
{
	strv_free(t->copies);
	t->copies = NULL;
}

static const char *bus_text_flags(BusText *t, const char *s, EscapeFlags flags)
{
	char *e;

	if (!s)
		return "";
	if (text_is_safe(s, flags))
		return s;
	e = text_escape(s, flags);
	if (!e || strv_extend(&t->copies, e) < 0) {
		free(e);
		t->error = -ENOMEM;
		return "";
	}
	free(e);
	return t->copies[strv_length(t->copies) - 1];
}

static const char *bus_text(BusText *t, const char *s)
{
	return bus_text_flags(t, s, 0);
}

/* The first error of building a message, or the text's (ENOMEM). */
static int bus_text_result(const BusText *t, int r)
{
	return r < 0 ? r : t->error;
}

static int append_strv_text(sd_bus_message *reply, char **l)
{
	_cleanup_(bus_text_done) BusText t = {};
	int r = sd_bus_message_open_container(reply, 'a', "s");

	for (size_t i = 0; r >= 0 && l && l[i]; i++)
		r = sd_bus_message_append(reply, "s", bus_text(&t, l[i]));
	if (r >= 0)
		r = sd_bus_message_close_container(reply);
	return bus_text_result(&t, r);
}

static int check(Bus *b, BusRight right, sd_bus_message *m, sd_bus_error *error)
{
	uid_t uid;
	gid_t gid;
	int r;

	/* A private connection's peer is who connected to the socket (sd-bus reads a pipe there). */
	if (bus_private_peer(b->private, sd_bus_message_get_bus(m), &uid, &gid))
		r = bus_access_check_peer(&b->access, right, uid, gid, error);
	else
		r = bus_access_check(&b->access, right, m, error);

	if (r > 0)
		return 0;
	return r < 0 ? r : -EACCES;
}

/* Property getters run for Get and GetAll: the reader check applies there too. */
static int check_property_read(Bus *b, sd_bus *bus, sd_bus_error *error)
{
	sd_bus_message *m = sd_bus_get_current_message(bus);

	return m ? check(b, BUS_RIGHT_READ, m, error) : 0;
}

/* A value its validator (values.h) refused, as smmuctl says it too: "what 'value': reason". */
static int invalid_value(sd_bus_error *error, const char *what, const char *value,
			 const char *reason)
{
	return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "%s '%s': %s", what, value, reason);
}

/* The daemon as it is now. */
static DaemonView view_of(Bus *b)
{
	DaemonView v;

	b->control.view(b->userdata, &v);
	return v;
}

static ManagedSmmu *find_smmu(Bus *b, const char *name, sd_bus_error *error)
{
	DaemonView v = view_of(b);
	ManagedSmmu *ms = smmu_set_find(v.smmus, name);

	if (!ms)
		sd_bus_error_setf(error, SMMUD_ERROR_NO_SUCH_SMMU, "No SMMU named '%s'", name);
	return ms;
}

/* ---- properties ------------------------------------------------------- */

static int property_get_string(sd_bus *bus, const char *path, const char *interface,
			       const char *property, sd_bus_message *reply, void *userdata,
			       sd_bus_error *error)
{
	_cleanup_(bus_text_done) BusText t = {};
	Bus *b = ASSERT_PTR(userdata);
	DaemonView d = view_of(b);
	const char *v = NULL;
	int r = check_property_read(b, bus, error);

	if (r < 0)
		return r;
	if (streq(property, "Version"))
		v = SMMUD_VERSION;
	else if (streq(property, "KernelCapability"))
		v = d.topology ? kernel_capability_to_string(d.topology->kernel) : "none";
	else if (streq(property, "Hostname"))
		v = d.topology ? d.topology->hostname : NULL;
	else if (streq(property, "ConfigDigest"))
		v = d.config ? d.config->digest : NULL;
	else if (streq(property, "ShutdownReason"))
		v = d.shutdown_why;
	else if (streq(property, "Status"))
		v = d.status;
	r = sd_bus_message_append(reply, "s", bus_text(&t, v));
	return bus_text_result(&t, r);
}

static int property_get_bool(sd_bus *bus, const char *path, const char *interface,
			     const char *property, sd_bus_message *reply, void *userdata,
			     sd_bus_error *error)
{
	Bus *b = ASSERT_PTR(userdata);
	DaemonView d = view_of(b);
	int v = 0;
	int r = check_property_read(b, bus, error);

	if (r < 0)
		return r;
	if (streq(property, "DryRun"))
		v = d.dry_run;
	else if (streq(property, "ShutdownAnnounced"))
		v = d.shutdown_announced;
	return sd_bus_message_append(reply, "b", v);
}

static int property_get_counts(sd_bus *bus, const char *path, const char *interface,
			       const char *property, sd_bus_message *reply, void *userdata,
			       sd_bus_error *error)
{
	Bus *b = ASSERT_PTR(userdata);
	DaemonView d = view_of(b);
	uint64_t v = 0;
	int r = check_property_read(b, bus, error);

	if (r < 0)
		return r;
	if (streq(property, "NSmmus"))
		v = d.smmus->n;
	else if (streq(property, "NVms"))
		v = vm_model_n_vms(d.vms);
	else if (streq(property, "ExitsTotal"))
		v = vm_model_exits_total(d.vms);
	return sd_bus_message_append(reply, "t", v);
}

static int property_get_config_files(sd_bus *bus, const char *path, const char *interface,
				     const char *property, sd_bus_message *reply,
				     void *userdata, sd_bus_error *error)
{
	Bus *b = ASSERT_PTR(userdata);
	DaemonView d = view_of(b);
	char **files = d.config ? d.config->files : NULL;
	int r = check_property_read(b, bus, error);

	if (r < 0)
		return r;
	return append_strv_text(reply, files);
}

static int property_get_storm_smmus(sd_bus *bus, const char *path, const char *interface,
				    const char *property, sd_bus_message *reply,
				    void *userdata, sd_bus_error *error)
{
	_cleanup_(bus_text_done) BusText t = {};
	Bus *b = ASSERT_PTR(userdata);
	DaemonView d = view_of(b);
	int r = check_property_read(b, bus, error);

	if (r < 0)
		return r;
	r = sd_bus_message_open_container(reply, 'a', "s");
	for (size_t i = 0; r >= 0 && i < d.smmus->n; i++)
		if (d.smmus->items[i]->decided && d.smmus->items[i]->decision.storm)
			r = sd_bus_message_append(reply, "s", bus_text(&t, d.smmus->items[i]->name));
	if (r >= 0)
		r = sd_bus_message_close_container(reply);
	return bus_text_result(&t, r);
}

/* ---- read methods ----------------------------------------------------- */

static int append_knob(sd_bus_message *reply, const ManagedSmmu *ms, KnobAttr a)
{
	_cleanup_(bus_text_done) BusText t = {};
	const Knob *k = ms->knobs[a];
	const char *baseline = smmu_baseline_value(ms, a);
	const char *storm = ms->settings ? knob_values_get(&ms->settings->storm, a) : NULL;

	/*
	 * (name, current, desired, baseline, storm, original, owner, why);
	 * desired is what the policy wants, not the last value written: a
	 * failed write shows as current != desired.
	 */
	int r = sd_bus_message_append(reply, "(ssssssss)", knob_attr_to_string(a),
				      bus_text(&t, k ? k->current : NULL),
				      bus_text(&t, smmu_desired_value(ms, a)), bus_text(&t, baseline),
				      bus_text(&t, storm), bus_text(&t, k ? k->original : NULL),
				      k ? knob_owner_to_string(k->owner) : "none",
				      bus_text(&t, k ? k->owner_reason : NULL));

	return bus_text_result(&t, r);
}

static const char *smmu_mode_why(const DaemonView *v, const ManagedSmmu *ms)
{
	switch (ms->mode) {
	case SMMU_MODE_MONITOR:
		return "no arm-smmu-v3 attributes: the kernel lacks smmud's series "
		       "(kernel-patch/), so there is nothing to write; watching and counting only";
	case SMMU_MODE_MAINLINE:
		return "Linux 7.1 or later invalidates a torn-down domain cheaply by itself: "
		       "nothing to tune, reporting only";
	case SMMU_MODE_UNMANAGED:
		return "Manage=no in its profile: decisions are made and shown, never written";
	default:
		return "";
	}
}

static int append_smmu(const DaemonView *v, sd_bus_message *reply, const ManagedSmmu *ms)
{
	_cleanup_(bus_text_done) BusText t = {};
	const Smmu *s = ms->smmu;
	uint64_t pinned = 0;
	size_t n_vms = vm_model_vms_behind(v->vms, s, &pinned);
	int r;

	r = sd_bus_message_open_container(reply, 'a', "{sv}");
	if (r < 0)
		return r;
	r = sd_bus_message_append(
		reply, "{sv}{sv}{sv}{sv}{sv}{sv}{sv}{sv}{sv}{sv}{sv}{sv}{sv}{sv}{sv}", "Name",
		"s", bus_text(&t, ms->name), "Mode", "s", smmu_mode_to_string(ms->mode), "Profile",
		"s", bus_text(&t, ms->profile), "Stages", "s", bus_text(&t, s ? s->stages : NULL),
		"Granules", "s", bus_text(&t, s ? s->granules : NULL), "Storm", "b",
		ms->decided ? ms->decision.storm : 0, "Reason", "s",
		ms->decided ? policy_reason_to_string(ms->decision.reason) : "",
		"Why", "s", bus_text(&t, ms->decided ? ms->decision.why : NULL), "Override", "s",
		policy_override_to_string(ms->policy.override), "StormChangedUSec", "t",
		/* Realtime, as every other time smmud shows (signals, events). */
		monotonic_to_realtime(ms->storm_changed_usec, now_usec(CLOCK_MONOTONIC),
				      now_usec(CLOCK_REALTIME)),
		"Vms", "u", (uint32_t)n_vms, "PinnedBytes", "t", pinned,
		"ExitsTotal", "t", ms->policy.exits_total, "StormsTotal", "t",
		ms->policy.storms_total, "Counters", "b", s ? s->has_counters : 0);
	r = bus_text_result(&t, r);
	/* Why an SMMU is not managed, for whoever reads "monitor-only" and wonders. */
	if (r >= 0 && ms->mode != SMMU_MODE_MANAGED)
		r = sd_bus_message_append(reply, "{sv}", "ModeWhy", "s", smmu_mode_why(v, ms));
	/* Known only from the series' attributes: left out (unknown) without them. */
	if (r >= 0 && s && s->tunable)
		r = sd_bus_message_append(reply, "{sv}", "RangeInvalidation", "b",
					  s->range_invalidation);
	if (r < 0)
		return r;

	r = sd_bus_message_open_container(reply, 'e', "sv");
	if (r >= 0)
		r = sd_bus_message_append(reply, "s", "Knobs");
	if (r >= 0)
		r = sd_bus_message_open_container(reply, 'v', "a(ssssssss)");
	if (r >= 0)
		r = sd_bus_message_open_container(reply, 'a', "(ssssssss)");
	for (int a = 0; r >= 0 && a < _KNOB_ATTR_MAX; a++)
		if (ms->knobs[a])
			r = append_knob(reply, ms, (KnobAttr)a);
	for (int i = 0; r >= 0 && i < 3; i++)
		r = sd_bus_message_close_container(reply);
	if (r >= 0)
		r = sd_bus_message_close_container(reply);
	return r;
}

/* ---- reading methods -------------------------------------------------- */

/* Appends a reading method's whole answer to its reply. */
typedef int (*ReplyBuilder)(const DaemonView *v, sd_bus_message *reply);

/*
 * What every reading method does around its answer: the reader check
 * first, so a caller without the right learns nothing, then the reply
 * BUILD fills, sent only if all of it could be built.
 */
static int reply_read(Bus *b, sd_bus_message *msg, sd_bus_error *error, ReplyBuilder build)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	DaemonView v = view_of(b);
	int r = check(b, BUS_RIGHT_READ, msg, error);

	if (r < 0)
		return r;
	r = sd_bus_message_new_method_return(msg, &reply);
	if (r >= 0)
		r = build(&v, reply);
	if (r < 0)
		return r;
	return sd_bus_send(NULL, reply, NULL);
}

static int build_smmus(const DaemonView *v, sd_bus_message *reply)
{
	int r = sd_bus_message_open_container(reply, 'a', "a{sv}");

	for (size_t i = 0; r >= 0 && i < v->smmus->n; i++)
		r = append_smmu(v, reply, v->smmus->items[i]);
	if (r >= 0)
		r = sd_bus_message_close_container(reply);
	return r;
}

static int method_get_smmus(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	return reply_read(userdata, msg, error, build_smmus);
}

static int build_vms(const DaemonView *v, sd_bus_message *reply)
{
	_cleanup_(bus_text_done) BusText t = {};
	int r = sd_bus_message_open_container(reply, 'a', "(ussstas)");

	for (size_t i = 0; r >= 0 && i < vm_model_n_vms(v->vms); i++) {
		const Vm *vm = vm_model_vm(v->vms, i);
		const Smmu *smmus[VM_EVENT_SMMUS_MAX];
		size_t n = vm_model_smmus_of(v->vms, vm, smmus, ELEMENTSOF(smmus));

		r = sd_bus_message_open_container(reply, 'r', "ussstas");
		if (r >= 0)
			r = sd_bus_message_append(reply, "ussst", (uint32_t)vm->pid,
						  bus_text(&t, vm->name), bus_text(&t, vm->comm),
						  bus_text(&t, vm->unit), vm->pinned_bytes);
		if (r >= 0)
			r = sd_bus_message_open_container(reply, 'a', "s");
		/* The SMMUs its groups sit behind, each once. */
		for (size_t s = 0; r >= 0 && s < n; s++)
			r = sd_bus_message_append(reply, "s", bus_text(&t, smmus[s]->name));
		if (r >= 0)
			r = sd_bus_message_close_container(reply);
		if (r >= 0)
			r = sd_bus_message_close_container(reply);
	}
	if (r >= 0)
		r = sd_bus_message_close_container(reply);
	return bus_text_result(&t, r);
}

static int method_get_vms(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	return reply_read(userdata, msg, error, build_vms);
}

typedef struct CounterReply {
	sd_bus_message *reply;
	BusText text;
	int error;
} CounterReply;

static void counter_reply_done(CounterReply *c)
{
	bus_text_done(&c->text);
}

static void append_counter(const char *name, uint64_t value, void *userdata)
{
	CounterReply *c = userdata;

	if (c->error >= 0)
		c->error = sd_bus_message_append(c->reply, "(st)", bus_text(&c->text, name), value);
}

/* One SMMU's debugfs counters (none where the file is missing or unreadable). */
static int append_counters(const DaemonView *v, sd_bus_message *reply, const char *smmu)
{
	_cleanup_free_ char *text = NULL;
	_cleanup_(counter_reply_done) CounterReply c = { .reply = reply };
	int r;

	r = sd_bus_message_open_container(reply, 'a', "(st)");
	if (r < 0)
		return r;
	if (counters_read(v->root, smmu, &text) >= 0)
		counters_parse(text, append_counter, &c);
	r = bus_text_result(&c.text, c.error);
	if (r < 0)
		return r;
	return sd_bus_message_close_container(reply);
}

static int build_counters(const DaemonView *v, sd_bus_message *reply)
{
	int r = sd_bus_message_append(reply, "t", now_usec(CLOCK_MONOTONIC));

	if (r >= 0)
		r = sd_bus_message_open_container(reply, 'a', "(sa(st))");
	for (size_t i = 0; r >= 0 && i < v->smmus->n; i++) {
		r = sd_bus_message_open_container(reply, 'r', "sa(st)");
		if (r >= 0) {
			_cleanup_(bus_text_done) BusText t = {};

			r = bus_text_result(&t, sd_bus_message_append(reply, "s",
								      bus_text(&t, v->smmus->items[i]->name)));
		}
		if (r >= 0)
			r = append_counters(v, reply, v->smmus->items[i]->name);
		if (r >= 0)
			r = sd_bus_message_close_container(reply);
	}
	if (r >= 0)
		r = sd_bus_message_close_container(reply);
	return r;
}

static int method_get_counters(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	return reply_read(userdata, msg, error, build_counters);
}

static int build_config(const DaemonView *v, sd_bus_message *reply)
{
	_cleanup_(bus_text_done) BusText t = {};
	const Config *c = v->config;
	int r = sd_bus_message_append(reply, "ss",
				      bus_text_flags(&t, c ? c->dump : NULL, ESCAPE_KEEP_NEWLINE),
				      c ? c->digest : "");

	r = bus_text_result(&t, r);
	if (r >= 0)
		r = append_strv_text(reply, c ? c->files : NULL);
	return r;
}

static int method_get_config(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	return reply_read(userdata, msg, error, build_config);
}

/* ---- changing methods -------------------------------------------------- */

/* The override result, as a D-Bus error where it failed. */
static int override_result(int r, const char *smmu, sd_bus_error *error)
{
	if (r == -ENOENT)
		return sd_bus_error_setf(error, SMMUD_ERROR_NO_SUCH_SMMU, "No SMMU named '%s'",
					 smmu ?: "");
	if (r == -EOPNOTSUPP)
		return sd_bus_error_setf(error, SMMUD_ERROR_NOT_WRITABLE,
					 "SMMU '%s' has no tunables smmud may write", smmu ?: "");
	if (r < 0)
		return sd_bus_error_set_errnof(error, r, "Failed: %m");
	return 0;
}

/*
 * After a change was taken: whether the kernel took what it asked of the
 * knobs of ms (NULL: of every SMMU).  A write it refused (or a knob that
 * could not be read, a state file that could not be written) fails the
 * call, as smmuctl(8) promises; the change stays in force and smmud
 * writes again at its next decision.
 */
static int applied(Bus *b, const ManagedSmmu *ms, sd_bus_error *error)
{
	_cleanup_(bus_text_done) BusText t = {};
	DaemonView v = view_of(b);

	for (size_t i = 0; !ms && i < v.smmus->n; i++)
		if (v.smmus->items[i]->apply_error < 0) {
			ms = v.smmus->items[i];
			break;
		}
	if (!ms || ms->apply_error == 0)
		return 0;
	return sd_bus_error_setf(error, SMMUD_ERROR_WRITE_FAILED,
				 "%s: could not write %s %s: %s (the change stays in force; smmud "
				 "tries again at its next decision)",
				 bus_text(&t, ms->name), knob_attr_to_string(ms->apply_error_knob),
				 bus_text(&t, smmu_desired_value(ms, ms->apply_error_knob)),
				 strerror(-ms->apply_error));
}

/* applied() for the SMMUs a storm method names (every SMMU if none). */
static int applied_named(Bus *b, char **names, sd_bus_error *error)
{
	int r = 0;

	if (!names || !names[0])
		return applied(b, NULL, error);
	for (size_t i = 0; r >= 0 && names[i]; i++)
		r = applied(b, find_smmu(b, names[i], error), error);
	return r;
}

static int writable(Bus *b, ManagedSmmu *ms, sd_bus_error *error)
{
	_cleanup_(bus_text_done) BusText t = {};

	if (ms->mode == SMMU_MODE_MANAGED)
		return 0;
	return sd_bus_error_setf(error, SMMUD_ERROR_NOT_WRITABLE,
				 "SMMU '%s' is not managed by smmud (mode %s)", bus_text(&t, ms->name),
				 smmu_mode_to_string(ms->mode));
}

static int method_set_knob(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	Bus *b = userdata;
	const char *smmu, *knob, *value;
	char canonical[KNOB_VALUE_MAX];
	const char *reason;
	ManagedSmmu *ms;
	KnobValues pin;
	KnobAttr a;
	int r;

	r = sd_bus_message_read(msg, "sss", &smmu, &knob, &value);
	if (r < 0)
		return r;
	r = check(b, BUS_RIGHT_CHANGE, msg, error);
	if (r < 0)
		return r;
	if (value_knob_name(knob, &a, &reason) < 0)
		return invalid_value(error, "knob", knob, reason);
	if (value_knob(a, value, 0, canonical, &reason) < 0)
		return invalid_value(error, knob_attr_to_string(a), value, reason);
	ms = find_smmu(b, smmu, error);
	if (!ms)
		return -ENOENT;
	r = writable(b, ms, error);
	if (r < 0)
		return r;
	/* A knob set by hand is a pin of that knob: the other keeps what it has now. */
	if (ms->policy.override == OVERRIDE_PIN)
		pin = ms->policy.pinned;
	else {
		snprintf(pin.threshold, sizeof(pin.threshold), "%s",
			 smmu_desired_value(ms, KNOB_THRESHOLD));
		snprintf(pin.teardown_mode, sizeof(pin.teardown_mode), "%s",
			 smmu_desired_value(ms, KNOB_TEARDOWN_MODE));
	}
	knob_values_set(&pin, a, canonical);
	r = b->control.set_override(b->userdata, ms->name, OVERRIDE_PIN, &pin);
	if (r < 0)
		return override_result(r, smmu, error);
	log_info("Control API: %s %s set to %s.", ms->name, knob_attr_to_string(a), canonical);
	r = applied(b, ms, error);
	if (r < 0)
		return r;
	return sd_bus_reply_method_return(msg, NULL);
}

static int method_reset_knob(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	Bus *b = userdata;
	const char *smmu, *knob, *reason;
	ManagedSmmu *ms;
	KnobAttr only;
	int a = -1, r;

	r = sd_bus_message_read(msg, "ss", &smmu, &knob);
	if (r < 0)
		return r;
	r = check(b, BUS_RIGHT_CHANGE, msg, error);
	if (r < 0)
		return r;
	if (*knob) {
		if (value_knob_name(knob, &only, &reason) < 0)
			return invalid_value(error, "knob", knob, reason);
		a = only;
	}
	ms = find_smmu(b, smmu, error);
	if (!ms)
		return -ENOENT;
	/* Back to smmud: taken back from whoever changed it, and no pin left. */
	for (int i = 0; i < _KNOB_ATTR_MAX; i++) {
		if ((a >= 0 && i != a) || !ms->knobs[i])
			continue;
		r = b->control.reclaim_knob(b->userdata, ms->name, (KnobAttr)i);
		if (r < 0)
			return override_result(r, smmu, error);
	}
	if (ms->policy.override == OVERRIDE_PIN) {
		r = b->control.set_override(b->userdata, ms->name, OVERRIDE_NONE, NULL);
		if (r < 0)
			return override_result(r, smmu, error);
	}
	log_info("Control API: %s %s given back to smmud.", ms->name,
		 a >= 0 ? knob_attr_to_string((KnobAttr)a) : "knobs");
	r = applied(b, ms, error);
	if (r < 0)
		return r;
	return sd_bus_reply_method_return(msg, NULL);
}

/*
 * The SMMUs a storm method names, each checked first (all or nothing),
 * then f for each of them, or once for every SMMU (NULL) if none is named.
 */
typedef int (*PerSmmu)(Bus *b, const char *smmu, const void *arg);

static int for_named(Bus *b, char **names, PerSmmu f, const void *arg, sd_bus_error *error)
{
	int r = 0;

	for (size_t i = 0; names && names[i]; i++)
		if (!find_smmu(b, names[i], error))
			return -ENOENT;
	if (!names || !names[0])
		return f(b, NULL, arg);
	for (size_t i = 0; r >= 0 && names[i]; i++)
		r = f(b, names[i], arg);
	return r;
}

/*
 * A storm forced, left or announced needs SMMUs smmud may write: each one
 * named (as set), or, with none named, at least one.  Checked before
 * anything changes, so a refused call changes nothing.
 */
static int storm_writable(Bus *b, char **names, sd_bus_error *error)
{
	DaemonView v = view_of(b);
	int r;

	for (size_t i = 0; names && names[i]; i++) {
		ManagedSmmu *ms = find_smmu(b, names[i], error);

		if (!ms)
			return -ENOENT;
		r = writable(b, ms, error);
		if (r < 0)
			return r;
	}
	if (names && names[0])
		return 0;
	for (size_t i = 0; i < v.smmus->n; i++)
		if (v.smmus->items[i]->mode == SMMU_MODE_MANAGED)
			return 0;
	return sd_bus_error_setf(error, SMMUD_ERROR_NOT_WRITABLE,
				 "No SMMU is managed by smmud (%zu found, none with tunables "
				 "smmud may write): no storm values to apply", v.smmus->n);
}

static int override_one(Bus *b, const char *smmu, const void *arg)
{
	return b->control.set_override(b->userdata, smmu, *(const PolicyOverride *)arg, NULL);
}

static int announce_one(Bus *b, const char *smmu, const void *arg)
{
	return b->control.announce_storm(b->userdata, smmu, *(const uint64_t *)arg);
}

static int method_set_storm(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	_cleanup_strv_free_ char **names = NULL;
	Bus *b = userdata;
	static const PolicyOverride overrides[_STORM_REQUEST_MAX] = {
		[STORM_REQUEST_ENTER] = OVERRIDE_STORM,
		[STORM_REQUEST_LEAVE] = OVERRIDE_BASELINE,
		[STORM_REQUEST_AUTO] = OVERRIDE_NONE,
	};
	const char *mode, *reason;
	StormRequest request;
	PolicyOverride o;
	int r;

	r = sd_bus_message_read(msg, "s", &mode);
	if (r >= 0)
		r = sd_bus_message_read_strv(msg, &names);
	if (r < 0)
		return r;
	r = check(b, BUS_RIGHT_CHANGE, msg, error);
	if (r < 0)
		return r;
	if (value_storm_request(mode, &request, &reason) < 0)
		return invalid_value(error, "storm mode", mode, reason);
	/* "auto" only hands back: fine on any SMMU. */
	if (request != STORM_REQUEST_AUTO) {
		r = storm_writable(b, names, error);
		if (r < 0)
			return r;
	}
	o = overrides[request];
	r = for_named(b, names, override_one, &o, error);
	if (r == -ENOENT && sd_bus_error_is_set(error))
		return r;
	/* "auto" hands every decision back: an announced storm goes too. */
	if (r >= 0 && request == STORM_REQUEST_AUTO)
		r = for_named(b, names, announce_one, &(const uint64_t){ 0 }, error);
	if (r < 0)
		return override_result(r, NULL, error);
	log_info("Control API: storm %s on %s.", mode,
		 names && names[0] ? names[0] : "every SMMU");
	r = applied_named(b, names, error);
	if (r < 0)
		return r;
	return sd_bus_reply_method_return(msg, NULL);
}

static int method_announce_storm(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	_cleanup_strv_free_ char **names = NULL;
	_cleanup_(bus_text_done) BusText t = {};
	Bus *b = userdata;
	const char *duration, *reason;
	uint64_t usec;
	int r;

	r = sd_bus_message_read(msg, "s", &duration);
	if (r >= 0)
		r = sd_bus_message_read_strv(msg, &names);
	if (r < 0)
		return r;
	r = check(b, BUS_RIGHT_CHANGE, msg, error);
	if (r < 0)
		return r;
	if (value_storm_duration(duration, &usec, &reason) < 0)
		return invalid_value(error, "duration", bus_text(&t, duration), reason);
	r = storm_writable(b, names, error);
	if (r < 0)
		return r;
	r = for_named(b, names, announce_one, &usec, error);
	if (r == -ENOENT && sd_bus_error_is_set(error))
		return r;
	if (r < 0)
		return override_result(r, NULL, error);
	log_info("Control API: storm announced for %s on %s.", duration,
		 names && names[0] ? names[0] : "every SMMU");
	/* The storm values go on now: a write the kernel refused fails the call. */
	r = applied_named(b, names, error);
	if (r < 0)
		return r;
	return sd_bus_reply_method_return(msg, NULL);
}

static int method_pin(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	Bus *b = userdata;
	const char *smmu, *threshold, *mode, *reason;
	KnobValues pin = {};
	ManagedSmmu *ms;
	int r;

	r = sd_bus_message_read(msg, "sss", &smmu, &threshold, &mode);
	if (r < 0)
		return r;
	r = check(b, BUS_RIGHT_CHANGE, msg, error);
	if (r < 0)
		return r;
	if (value_threshold(threshold, VALUE_ALLOW_KEEP, pin.threshold, &reason) < 0)
		return invalid_value(error, "inv_threshold", threshold, reason);
	if (value_teardown_mode(mode, VALUE_ALLOW_KEEP, pin.teardown_mode, &reason) < 0)
		return invalid_value(error, "teardown_mode", mode, reason);
	ms = find_smmu(b, smmu, error);
	if (!ms)
		return -ENOENT;
	r = writable(b, ms, error);
	if (r < 0)
		return r;
	r = b->control.set_override(b->userdata, ms->name, OVERRIDE_PIN, &pin);
	if (r < 0)
		return override_result(r, smmu, error);
	log_info("Control API: %s pinned at threshold %s, teardown mode %s.", ms->name,
		 pin.threshold, pin.teardown_mode);
	r = applied(b, ms, error);
	if (r < 0)
		return r;
	return sd_bus_reply_method_return(msg, NULL);
}

static int method_unpin(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	Bus *b = userdata;
	const char *smmu;
	ManagedSmmu *ms;
	int r;

	r = sd_bus_message_read(msg, "s", &smmu);
	if (r < 0)
		return r;
	r = check(b, BUS_RIGHT_CHANGE, msg, error);
	if (r < 0)
		return r;
	ms = find_smmu(b, smmu, error);
	if (!ms)
		return -ENOENT;
	r = b->control.set_override(b->userdata, ms->name, OVERRIDE_NONE, NULL);
	if (r < 0)
		return override_result(r, smmu, error);
	log_info("Control API: %s unpinned.", ms->name);
	r = applied(b, ms, error);
	if (r < 0)
		return r;
	return sd_bus_reply_method_return(msg, NULL);
}

static int method_reload(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
	_cleanup_strv_free_ char **errors = NULL;
	_cleanup_free_ char *joined = NULL;
	_cleanup_(bus_text_done) BusText t = {};
	Bus *b = userdata;
	size_t len = 0;
	char *p;
	int r;

	r = check(b, BUS_RIGHT_CHANGE, msg, error);
	if (r < 0)
		return r;
	r = b->control.reload(b->userdata, &errors);
	if (r >= 0)
		return sd_bus_reply_method_return(msg, NULL);
	if (!errors)
		return sd_bus_error_set_errnof(error, r, "Reload failed: %m");
	/* Every "file:line: key: reason", one a line: smmuctl prints them as they are. */
	for (size_t i = 0; errors[i]; i++)
		len += strlen(errors[i]) + 1;
	joined = calloc(1, len + 1);
	if (!joined)
		return -ENOMEM;
	p = joined;
	for (size_t i = 0; errors[i]; i++) {
		if (i > 0)
			*p++ = '\n';
		p = stpcpy(p, errors[i]);
	}
	/* config.c escaped each message already; this is the bus's own guarantee. */
	return sd_bus_error_set(error, SMMUD_ERROR_CONFIG_INVALID,
				bus_text_flags(&t, joined, ESCAPE_KEEP_NEWLINE));
}

/* ---- the vtable --------------------------------------------------------- */

#define PROP(name, sig, getter) \
	SD_BUS_PROPERTY(name, sig, getter, 0, 0)

const sd_bus_vtable bus_manager_vtable[] = {
	SD_BUS_VTABLE_START(0),
	SD_BUS_PROPERTY("Version", "s", property_get_string, 0, SD_BUS_VTABLE_PROPERTY_CONST),
	SD_BUS_PROPERTY("DryRun", "b", property_get_bool, 0, SD_BUS_VTABLE_PROPERTY_CONST),
	PROP("KernelCapability", "s", property_get_string),
	PROP("Hostname", "s", property_get_string),
	PROP("ConfigDigest", "s", property_get_string),
	PROP("ConfigFiles", "as", property_get_config_files),
	PROP("Status", "s", property_get_string),
	PROP("ShutdownAnnounced", "b", property_get_bool),
	PROP("ShutdownReason", "s", property_get_string),
	PROP("NSmmus", "t", property_get_counts),
	PROP("NVms", "t", property_get_counts),
	PROP("ExitsTotal", "t", property_get_counts),
	PROP("StormSmmus", "as", property_get_storm_smmus),

	SD_BUS_METHOD_WITH_ARGS("GetSmmus", SD_BUS_NO_ARGS, SD_BUS_RESULT("aa{sv}", smmus),
				method_get_smmus, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("GetVms", SD_BUS_NO_ARGS,
				SD_BUS_RESULT("a(ussstas)", vms), method_get_vms,
				SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("GetCounters", SD_BUS_NO_ARGS,
				SD_BUS_RESULT("t", monotonic_usec, "a(sa(st))", counters),
				method_get_counters, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("GetConfig", SD_BUS_NO_ARGS,
				SD_BUS_RESULT("s", dump, "s", digest, "as", files),
				method_get_config, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("SetKnob", SD_BUS_ARGS("s", smmu, "s", knob, "s", value),
				SD_BUS_NO_RESULT, method_set_knob, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("ResetKnob", SD_BUS_ARGS("s", smmu, "s", knob), SD_BUS_NO_RESULT,
				method_reset_knob, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("SetStorm", SD_BUS_ARGS("s", mode, "as", smmus), SD_BUS_NO_RESULT,
				method_set_storm, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("AnnounceStorm", SD_BUS_ARGS("s", duration, "as", smmus),
				SD_BUS_NO_RESULT, method_announce_storm, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("Pin", SD_BUS_ARGS("s", smmu, "s", threshold, "s", teardown_mode),
				SD_BUS_NO_RESULT, method_pin, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("Unpin", SD_BUS_ARGS("s", smmu), SD_BUS_NO_RESULT, method_unpin,
				SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_METHOD_WITH_ARGS("Reload", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_reload,
				SD_BUS_VTABLE_UNPRIVILEGED),

	SD_BUS_SIGNAL_WITH_ARGS("Decision",
				SD_BUS_ARGS("t", realtime_usec, "s", smmu, "b", storm, "s", reason,
					    "s", why, "s", threshold, "s", teardown_mode),
				0),
	SD_BUS_SIGNAL_WITH_ARGS("Event",
				SD_BUS_ARGS("t", realtime_usec, "s", kind, "s", smmu, "s", knob,
					    "s", before, "s", after, "s", detail),
				0),
	SD_BUS_VTABLE_END,
};

/* ---- signals ------------------------------------------------------------ */

typedef struct DecisionSignal {
	Bus *bus;
	const DaemonDecision *d;
} DecisionSignal;

static void emit_decision(sd_bus *bus, const DaemonDecision *d)
{
	_cleanup_(bus_text_done) BusText t = {};
	int r;

	r = sd_bus_emit_signal(bus, SMMUD_BUS_PATH, SMMUD_BUS_INTERFACE, "Decision", "tsbssss",
			       d->realtime_usec, bus_text(&t, d->smmu), (int)d->storm,
			       bus_text(&t, d->reason), bus_text(&t, d->why),
			       bus_text(&t, d->threshold), bus_text(&t, d->teardown_mode));
	r = bus_text_result(&t, r);
	if (r < 0)
		log_debug_errno(r, "Failed to emit Decision: %m");
}

static void visit_private(sd_bus *bus, uid_t uid, gid_t gid, void *userdata)
{
	const DecisionSignal *s = userdata;

	/* Only to peers that may read: a monitor is a read. */
	if (bus_access_allows_peer(&s->bus->access, BUS_RIGHT_READ, uid, gid))
		emit_decision(bus, s->d);
}

/* A bus broadcast reaches anyone: not when reading is restricted. */
static bool broadcast(const Bus *b)
{
	return b->system_bus && b->name_acquired && !b->access.reader_group_set;
}

void bus_emit_decision(Bus *b, const DaemonDecision *d)
{
	DecisionSignal s = {
		.bus = b,
		.d = d,
	};

	bus_private_foreach(b->private, visit_private, &s);
	if (broadcast(b))
		emit_decision(b->system_bus, d);
}

typedef struct EventSignal {
	Bus *bus;
	const DaemonEvent *e;
} EventSignal;

static void emit_event(sd_bus *bus, const DaemonEvent *e)
{
	_cleanup_(bus_text_done) BusText t = {};
	int r;

	r = sd_bus_emit_signal(bus, SMMUD_BUS_PATH, SMMUD_BUS_INTERFACE, "Event", "tssssss",
			       e->realtime_usec, bus_text(&t, e->kind), bus_text(&t, e->smmu),
			       bus_text(&t, e->knob), bus_text(&t, e->before),
			       bus_text(&t, e->after), bus_text(&t, e->detail));
	r = bus_text_result(&t, r);
	if (r < 0)
		log_debug_errno(r, "Failed to emit Event: %m");
}

static void visit_private_event(sd_bus *bus, uid_t uid, gid_t gid, void *userdata)
{
	const EventSignal *s = userdata;

	/* As for Decision: only to peers that may read. */
	if (bus_access_allows_peer(&s->bus->access, BUS_RIGHT_READ, uid, gid))
		emit_event(bus, s->e);
}

void bus_emit_event(Bus *b, const DaemonEvent *e)
{
	EventSignal s = {
		.bus = b,
		.e = e,
	};

	bus_private_foreach(b->private, visit_private_event, &s);
	if (broadcast(b))
		emit_event(b->system_bus, e);
}

/* ---- setup ---------------------------------------------------------------- */

static int add_object(sd_bus *bus, sd_bus_slot **slot, void *userdata)
{
	int r;

	r = sd_bus_add_object_vtable(bus, slot, SMMUD_BUS_PATH, SMMUD_BUS_INTERFACE,
				     bus_manager_vtable, userdata);
	if (r < 0)
		return log_error_errno(r, "Failed to add the " SMMUD_BUS_INTERFACE " object: %m");
	return 0;
}

/* A private connection's object lives as long as the connection. */
static int add_objects(sd_bus *bus, void *userdata)
{
	return add_object(bus, NULL, userdata);
}

int bus_new(sd_event *event, sd_bus *system_bus, const char *runtime_dir, const BusAccess *access,
	    const BusControl *control, void *userdata, Bus **ret)
{
	_cleanup_(bus_freep) Bus *b = NULL;
	int r;

	assert(event);
	assert(runtime_dir);
	assert(control);
	assert(ret);
	b = calloc(1, sizeof(*b));
	if (!b)
		return log_oom();
	b->control = *control;
	b->userdata = userdata;
	if (access)
		b->access = *access;
	b->socket_path = path_join(runtime_dir, "private");
	if (!b->socket_path)
		return log_oom();
	r = runtime_dir_prepare(runtime_dir);
	if (r < 0)
		return log_error_errno(r, "Runtime directory %s unusable: %m", runtime_dir);

	r = bus_private_new(event, b->socket_path, add_objects, b, &b->private);
	if (r < 0)
		return r;

	if (system_bus) {
		b->system_bus = sd_bus_ref(system_bus);
		r = add_object(system_bus, &b->system_slot, b);
		if (r < 0)
			return r;
		r = sd_bus_request_name(system_bus, SMMUD_BUS_NAME, 0);
		if (r < 0)
			log_warning_errno(r, "Failed to acquire " SMMUD_BUS_NAME
					  " on the system bus, serving %s only: %m",
					  b->socket_path);
		else
			b->name_acquired = true;
	}
	log_debug("Control API on %s%s.", b->socket_path,
		  b->name_acquired ? " and the system bus" : "");
	*ret = TAKE_PTR(b);
	return 0;
}

Bus *bus_free(Bus *b)
{
	if (!b)
		return NULL;
	if (b->name_acquired)
		(void)sd_bus_release_name(b->system_bus, SMMUD_BUS_NAME);
	sd_bus_slot_unref(b->system_slot);
	sd_bus_unref(b->system_bus);
	bus_private_free(b->private);
	free(b->socket_path);
	free(b);
	return NULL;
}

void bus_set_access(Bus *b, const BusAccess *access)
{
	b->access = *access;
}
