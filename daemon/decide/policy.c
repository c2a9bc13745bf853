// SPDX-License-Identifier: GPL-2.0-or-later
#include <inttypes.h>
#include <stdarg.h>

#include "policy.h"

static const char *const policy_reason_table[_POLICY_REASON_MAX] = {
	[POLICY_IDLE] = "idle",
	[POLICY_BELOW_LIMIT] = "below-limit",
	[POLICY_EXIT_LIMIT] = "exit-limit",
	[POLICY_PINNED_LIMIT] = "pinned-limit",
	[POLICY_HOLD] = "hold",
	[POLICY_QUIET] = "quiet",
	[POLICY_SHUTDOWN] = "host-shutdown",
	[POLICY_GUESTS_STOPPING] = "guests-stopping",
	[POLICY_ANNOUNCED] = "announced",
	[POLICY_FORCED_STORM] = "forced-storm",
	[POLICY_FORCED_BASELINE] = "forced-baseline",
	[POLICY_PINNED_PROFILE] = "pinned-profile",
};

static const char *const policy_override_table[_OVERRIDE_MAX] = {
	[OVERRIDE_NONE] = "none",
	[OVERRIDE_STORM] = "storm",
	[OVERRIDE_BASELINE] = "baseline",
	[OVERRIDE_PIN] = "pin",
};

const char *policy_reason_to_string(PolicyReason r)
{
	return r >= 0 && r < _POLICY_REASON_MAX ? policy_reason_table[r] : NULL;
}

const char *policy_override_to_string(PolicyOverride o)
{
	return o >= 0 && o < _OVERRIDE_MAX ? policy_override_table[o] : NULL;
}

int policy_override_from_string(const char *s)
{
	for (int i = 0; i < _OVERRIDE_MAX; i++)
		if (streq(policy_override_table[i], s))
			return i;
	return -EINVAL;
}

void policy_smmu_init(PolicySmmu *p)
{
	*p = (PolicySmmu){ .storm_reason = POLICY_IDLE };
}

void policy_smmu_done(PolicySmmu *p)
{
	free(p->exits);
	policy_smmu_init(p);
}

static PolicyExit *ring_at(PolicySmmu *p, size_t i)
{
	return &p->exits[(p->head + i) % p->capacity];
}

static void ring_clear(PolicySmmu *p)
{
	p->head = 0;
	p->n_exits = 0;
	p->window_bytes = 0;
}

/* Drops exits that left the window (when + window <= now). */
static void ring_prune(PolicySmmu *p, const SmmuSettings *s, uint64_t now)
{
	while (p->n_exits > 0) {
		PolicyExit *e = ring_at(p, 0);

		if (now < e->when || now - e->when < s->window_usec)
			break;
		p->window_bytes -= e->pinned_bytes;
		p->head = (p->head + 1) % p->capacity;
		p->n_exits--;
	}
}

static uint64_t add_sat(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static int ring_push(PolicySmmu *p, uint64_t when, uint64_t bytes, bool stop)
{
	if (p->n_exits == p->capacity) {
		size_t ncap = p->capacity ? p->capacity * 2 : 16;
		PolicyExit *n = malloc(ncap * sizeof(PolicyExit));

		if (!n)
			return -ENOMEM;
		for (size_t i = 0; i < p->n_exits; i++)
			n[i] = *ring_at(p, i);
		free(p->exits);
		p->exits = n;
		p->capacity = ncap;
		p->head = 0;
	}
	*ring_at(p, p->n_exits) = (PolicyExit){ when, bytes, stop };
	p->n_exits++;
	/* Saturate: a sum past 16 EiB is past any limit anyway. */
	p->window_bytes = add_sat(p->window_bytes, bytes);
	return 0;
}

static size_t ring_stops(PolicySmmu *p)
{
	size_t n = 0;

	for (size_t i = 0; i < p->n_exits; i++)
		n += ring_at(p, i)->stop;
	return n;
}

/* An exit or a stop job at now: in the window (unless counted there already), and for the hold. */
static int record(PolicySmmu *p, const SmmuSettings *s, uint64_t now, uint64_t pinned_bytes,
		  bool in_window, bool stop)
{
	int r;

	ring_prune(p, s, now);
	if (!in_window) {
		r = ring_push(p, now, pinned_bytes, stop);
		if (r < 0)
			return r;
	}
	if (!p->any_exit || now > p->last_exit)
		p->last_exit = now;
	p->any_exit = true;
	return 0;
}

int policy_record_exit(PolicySmmu *p, const SmmuSettings *s, uint64_t now, uint64_t pinned_bytes,
		       uint64_t stopped)
{
	/* Its stop job is in the window still: counted once, at the stop. */
	bool counted = stopped > 0 && stopped <= now && now - stopped < s->window_usec;
	int r = record(p, s, now, pinned_bytes, counted, false);

	if (r >= 0)
		p->exits_total++;
	return r;
}

int policy_record_stop(PolicySmmu *p, const SmmuSettings *s, uint64_t now, uint64_t pinned_bytes)
{
	int r = record(p, s, now, pinned_bytes, false, true);

	if (r >= 0)
		p->stops_total++;
	return r;
}

size_t policy_window_exits(PolicySmmu *p, const SmmuSettings *s, uint64_t now, uint64_t *ret_bytes)
{
	ring_prune(p, s, now);
	if (ret_bytes)
		*ret_bytes = p->window_bytes;
	return p->n_exits;
}

void policy_set_override(PolicySmmu *p, PolicyOverride o, const KnobValues *pinned)
{
	p->override = o;
	if (o == OVERRIDE_PIN && pinned)
		p->pinned = *pinned;
}

void policy_announce(PolicySmmu *p, uint64_t now, uint64_t usec)
{
	p->announced_until = usec == 0 ? 0 : add_sat(now, usec);
	p->announced_usec = usec;
}

static void why(PolicyDecision *d, const char *fmt, ...) _printf_(2, 3);
static void why(PolicyDecision *d, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(d->why, sizeof(d->why), fmt, ap);
	va_end(ap);
}

/* The announcements in force for this SMMU now, and the last one that ended. */
typedef struct Announced {
	PolicyReason reason;     /* of the first in force (by rank), POLICY_IDLE: none */
	uint64_t until;          /* the first end among those in force, UINT64_MAX: none */
	uint64_t ended;          /* the latest end among those over, 0: none */
} Announced;

static void announced(const PolicySmmu *p, const SmmuSettings *s, const PolicyHost *h,
		      uint64_t now, Announced *ret)
{
	const struct {
		PolicyReason reason;
		uint64_t until;
		bool applies;
	} a[] = {
		{ POLICY_SHUTDOWN, h ? h->shutdown_until : 0, s->storm_on_shutdown },
		{ POLICY_GUESTS_STOPPING, h ? h->guests_until : 0, s->storm_on_guests_stop },
		{ POLICY_ANNOUNCED, p->announced_until, true },
	};

	*ret = (Announced){ .reason = POLICY_IDLE, .until = UINT64_MAX };
	for (size_t i = 0; i < ELEMENTSOF(a); i++) {
		if (!a[i].applies || a[i].until == 0)
			continue;
		if (now >= a[i].until) {
			ret->ended = MAX(ret->ended, a[i].until);
			continue;
		}
		if (ret->reason == POLICY_IDLE)
			ret->reason = a[i].reason;
		ret->until = MIN(ret->until, a[i].until);
	}
}

static void why_announced(PolicyDecision *d, const PolicySmmu *p, PolicyReason reason)
{
	char a[FORMAT_TIMESPAN_MAX];

	switch (reason) {
	case POLICY_SHUTDOWN:
		why(d, "host shutdown announced");
		break;
	case POLICY_GUESTS_STOPPING:
		why(d, "libvirt-guests is stopping every guest");
		break;
	default:
		why(d, "storm announced by the operator for %s",
		    format_timespan(a, sizeof(a), p->announced_usec));
		break;
	}
}

/* The automatic state machine: the only place storm flips. */
static void decide_automatic(PolicySmmu *p, const SmmuSettings *s, const PolicyHost *host,
			     uint64_t now, PolicyDecision *d)
{
	char a[FORMAT_TIMESPAN_MAX], b[FORMAT_BYTES_MAX], c[FORMAT_BYTES_MAX];
	uint64_t quiet_until;
	Announced an;
	size_t stops;

	ring_prune(p, s, now);
	announced(p, s, host, now, &an);

	if (an.reason != POLICY_IDLE) {
		/* Announced: a storm now, before any exit; exits still count underneath. */
		if (!p->storm) {
			p->storm = true;
			p->storm_since = now;
			p->storm_reason = an.reason;
			p->storms_total++;
			d->changed = true;
		}
		d->reason = an.reason;
		d->next_deadline = an.until;
		why_announced(d, p, an.reason);
		return;
	}

	if (p->storm) {
		/* HoldTime after the last exit, and not before an announcement ended. */
		quiet_until = MAX(p->any_exit ? add_sat(p->last_exit, s->hold_usec) : 0, an.ended);
		if (now < quiet_until) {
			d->reason = POLICY_HOLD;
			d->next_deadline = quiet_until;
			why(d, "storm (%s) holds until %s without exits",
			    policy_reason_to_string(p->storm_reason),
			    format_timespan(a, sizeof(a), s->hold_usec));
			return;
		}
		p->storm = false;
		d->changed = true;
		/* Everything in it is older than HoldTime >= Window anyway. */
		ring_clear(p);
		d->reason = POLICY_QUIET;
		why(d, "no exit for %s", format_timespan(a, sizeof(a), s->hold_usec));
		return;
	}

	stops = ring_stops(p);
	if (s->exit_limit > 0 && p->n_exits >= s->exit_limit) {
		p->storm_reason = POLICY_EXIT_LIMIT;
		if (stops > 0)
			why(d, "%zu exits within %s, %zu of them announced by stop jobs (ExitLimit=%" PRIu32 ")",
			    p->n_exits, format_timespan(a, sizeof(a), s->window_usec), stops,
			    s->exit_limit);
		else
			why(d, "%zu exits within %s (ExitLimit=%" PRIu32 ")", p->n_exits,
			    format_timespan(a, sizeof(a), s->window_usec), s->exit_limit);
	} else if (s->pinned_limit > 0 && p->window_bytes >= s->pinned_limit) {
		p->storm_reason = POLICY_PINNED_LIMIT;
		why(d, "%s pinned memory torn down within %s (PinnedLimit=%s)",
		    format_bytes(b, sizeof(b), p->window_bytes),
		    format_timespan(a, sizeof(a), s->window_usec),
		    format_bytes(c, sizeof(c), s->pinned_limit));
	} else {
		d->reason = p->n_exits > 0 ? POLICY_BELOW_LIMIT : POLICY_IDLE;
		if (p->n_exits > 0) {
			const PolicyExit *newest = ring_at(p, p->n_exits - 1);

			/*
			 * The values stay, but below-limit ends when the newest
			 * exit leaves the window (the daemon disarms then).
			 */
			d->next_deadline = add_sat(newest->when, s->window_usec);
			why(d, "%zu exits within %s, below the limits", p->n_exits,
			    format_timespan(a, sizeof(a), s->window_usec));
		} else
			why(d, "no exits");
		return;
	}
	p->storm = true;
	p->storm_since = now;
	p->storms_total++;
	d->changed = true;
	d->reason = p->storm_reason;
	d->next_deadline = add_sat(p->last_exit, s->hold_usec);
}

void policy_decide(PolicySmmu *p, const SmmuSettings *s, const PolicyHost *host, uint64_t now,
		   PolicyDecision *d)
{
	char auto_why[sizeof(d->why)];

	*d = (PolicyDecision){ .next_deadline = UINT64_MAX };
	decide_automatic(p, s, host, now, d);
	d->storm = p->storm;
	d->values = p->storm ? &s->storm : &s->baseline;

	if (p->override == OVERRIDE_NONE)
		return;

	/*
	 * The automatic machine keeps running underneath (its deadline stays
	 * useful), so lifting an override lands on the state it would be in.
	 */
	memcpy(auto_why, d->why, sizeof(auto_why));
	switch (p->override) {
	case OVERRIDE_STORM:
		d->storm = true;
		d->values = &s->storm;
		d->reason = POLICY_FORCED_STORM;
		why(d, "storm forced by the operator (automatic: %s)", auto_why);
		return;
	case OVERRIDE_BASELINE:
		d->storm = false;
		d->values = &s->baseline;
		d->reason = POLICY_FORCED_BASELINE;
		why(d, "baseline forced by the operator (automatic: %s)", auto_why);
		return;
	case OVERRIDE_PIN:
		d->storm = false;
		d->values = &p->pinned;
		d->reason = POLICY_PINNED_PROFILE;
		why(d, "values pinned by the operator: threshold=%s teardown_mode=%s",
		    p->pinned.threshold, p->pinned.teardown_mode);
		return;
	default:
		assert_not_reached();
	}
}
