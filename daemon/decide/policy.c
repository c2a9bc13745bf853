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

static int ring_push(PolicySmmu *p, uint64_t when, uint64_t bytes)
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
	*ring_at(p, p->n_exits) = (PolicyExit){ when, bytes };
	p->n_exits++;
	/* Saturate: a sum past 16 EiB is past any limit anyway. */
	p->window_bytes = p->window_bytes > UINT64_MAX - bytes ? UINT64_MAX : p->window_bytes + bytes;
	return 0;
}

int policy_record_exit(PolicySmmu *p, const SmmuSettings *s, uint64_t now, uint64_t pinned_bytes)
{
	int r;

	ring_prune(p, s, now);
	r = ring_push(p, now, pinned_bytes);
	if (r < 0)
		return r;
	if (!p->any_exit || now > p->last_exit)
		p->last_exit = now;
	p->any_exit = true;
	p->exits_total++;
	return 0;
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

static void why(PolicyDecision *d, const char *fmt, ...) _printf_(2, 3);
static void why(PolicyDecision *d, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(d->why, sizeof(d->why), fmt, ap);
	va_end(ap);
}

/* The automatic state machine: the only place storm flips. */
static void decide_automatic(PolicySmmu *p, const SmmuSettings *s, uint64_t now,
			     PolicyDecision *d)
{
	char a[FORMAT_TIMESPAN_MAX], b[FORMAT_BYTES_MAX], c[FORMAT_BYTES_MAX];
	uint64_t quiet_until;

	ring_prune(p, s, now);

	if (p->storm) {
		quiet_until = p->last_exit + s->hold_usec < p->last_exit ? UINT64_MAX
									  : p->last_exit + s->hold_usec;
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

	if (s->exit_limit > 0 && p->n_exits >= s->exit_limit) {
		p->storm_reason = POLICY_EXIT_LIMIT;
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
			d->next_deadline = newest->when + s->window_usec < newest->when
						   ? UINT64_MAX
						   : newest->when + s->window_usec;
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
	d->next_deadline = p->last_exit + s->hold_usec;
}

void policy_decide(PolicySmmu *p, const SmmuSettings *s, bool shutdown, uint64_t now,
		   PolicyDecision *d)
{
	char auto_why[sizeof(d->why)];

	*d = (PolicyDecision){ .next_deadline = UINT64_MAX };
	decide_automatic(p, s, now, d);
	d->storm = p->storm;
	d->values = p->storm ? &s->storm : &s->baseline;

	if (p->override == OVERRIDE_NONE && !(shutdown && s->storm_on_shutdown))
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
		break;
	}
	d->storm = true;
	d->values = &s->storm;
	d->reason = POLICY_SHUTDOWN;
	why(d, "host shutdown announced");
}
