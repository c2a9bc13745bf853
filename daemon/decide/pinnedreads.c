// SPDX-License-Identifier: GPL-2.0-or-later
#include "pinnedreads.h"

void pinned_reads_done(PinnedReads *p)
{
	free(p->young);
	*p = (PinnedReads){};
}

static PinnedYoung *young_find(const PinnedReads *p, pid_t pid, uint64_t starttime)
{
	for (size_t i = 0; i < p->n_young; i++)
		if (p->young[i].pid == pid && p->young[i].starttime == starttime)
			return &p->young[i];
	return NULL;
}

int pinned_reads_found(PinnedReads *p, pid_t pid, uint64_t starttime, uint64_t now)
{
	PinnedYoung *y = young_find(p, pid, starttime);

	if (!y) {
		PinnedYoung *n = realloc(p->young, (p->n_young + 1) * sizeof(PinnedYoung));

		if (!n)
			return -ENOMEM;
		p->young = n;
		y = &p->young[p->n_young++];
	}
	*y = (PinnedYoung){ .pid = pid, .starttime = starttime, .due = now + PINNED_YOUNG_FIRST_USEC };
	if (p->all_due == 0)
		p->all_due = now + PINNED_ALL_USEC;
	/* What PINNED_LATE counts from, before any read. */
	if (p->read_usec == 0)
		p->read_usec = now;
	return 0;
}

void pinned_reads_exit(PinnedReads *p, uint64_t now)
{
	p->exit_usec = now;
}

uint64_t pinned_reads_next(const PinnedReads *p)
{
	uint64_t t = p->all_due ?: USEC_INFINITY;

	for (size_t i = 0; i < p->n_young; i++)
		t = MIN(t, p->young[i].due);
	if (t != USEC_INFINITY && p->exit_usec > 0 && t < p->exit_usec + PINNED_QUIET_USEC)
		t = MAX(t, MIN(p->exit_usec + PINNED_QUIET_USEC, p->read_usec + PINNED_LATE_USEC));
	return t;
}

bool pinned_reads_begin(const PinnedReads *p, uint64_t now, bool *ret_all)
{
	if (now < pinned_reads_next(p))
		return false;
	*ret_all = p->all_due > 0 && now >= p->all_due;
	return true;
}

bool pinned_reads_wants(const PinnedReads *p, uint64_t now, bool all, pid_t pid,
			uint64_t starttime)
{
	const PinnedYoung *y;

	if (all)
		return true;
	y = young_find(p, pid, starttime);
	return y && y->due <= now;
}

void pinned_reads_end(PinnedReads *p, uint64_t now, bool all)
{
	size_t j = 0;

	p->read_usec = now;
	/* A young VM read (or gone: not found to read) twice is settled. */
	for (size_t i = 0; i < p->n_young; i++) {
		PinnedYoung y = p->young[i];

		if (all || y.due <= now) {
			if (++y.reads >= 2)
				continue;
			y.due = now + PINNED_YOUNG_SECOND_USEC;
		}
		p->young[j++] = y;
	}
	p->n_young = j;
	if (all)
		p->all_due = now + PINNED_ALL_USEC;
}
