/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The SMMU tunables (/sys/class/iommu/<smmu>/arm-smmu-v3/{inv_threshold,
 * teardown_mode}).  This file is the only writer of kernel files.
 *
 * A knob is "held" while it carries a value smmud wrote that differs from
 * the one it found (the original).  The original is put in the state file
 * before the first write, so it survives a crash; every hold ends with the
 * original written back (knobs_restore), at stop, or at the next start
 * (knobs_recover).  Before each write, and on the periodic drift check
 * while anything is held, the current value is compared with ours: if
 * someone else changed it, that is logged and (ExternalChange=release)
 * the knob is theirs from then on.
 *
 * A knob is "armed" while its state file entry is written ahead of the
 * hold (knobs_arm): the write that starts it then needs no file write, and
 * goes through the attribute opened at arming time.
 */

#include "config.h"
#include "state.h"

typedef enum KnobOwner {
	KNOB_OWNER_SMMUD,     /* smmud decides its value */
	KNOB_OWNER_OPERATOR,  /* someone else wrote it while we held it: hands off */
	_KNOB_OWNER_MAX,
} KnobOwner;

const char *knob_owner_to_string(KnobOwner o);

typedef struct Knob {
	char *smmu;
	KnobAttr attr;
	char *path;
	int dir_fd;           /* its arm-smmu-v3 directory, checked (O_PATH); -1: not yet */
	int armed_fd;         /* armed: the attribute open read-write, for one-syscall writes */
	bool armed_truncate;  /* ... and it is a plain file (a test tree), not sysfs: truncate after */
	int armed_wd;         /* ... its watch for write(2)s on Knobs.watch_fd, -1: none */
	bool armed_known;     /* ... and current was read through it since the watch began */
	char *original;       /* the value before our hold (or last seen while idle) */
	char *written;        /* our value, in place now; NULL: not held */
	char *current;        /* as last read */
	char *dry_run_value;  /* --dry-run: the value we would have written */
	char *applied;        /* what the last knobs_apply() got it to ("keep": its original);
			       * NULL: nothing yet, or changed since by other means */
	KnobOwner owner;
	char *owner_reason;   /* why it left us */
	uint64_t write_failures; /* writes smmud wanted that did not take (read, state file or write) */
} Knob;

/*
 * Called for every change of a knob's value or ownership, after it took
 * effect (or, in a dry run, instead of it): kind is "write", "restore"
 * (the original back), "release" (someone else changed it: theirs now),
 * "drift" (someone else changed it: ExternalChange=reassert writes ours
 * again) or "recover-skip"; before and after are the values (NULL: none);
 * detail says why (the decision, "stop", "recover", "dry run: ...");
 * realtime_usec is when it took effect (CLOCK_REALTIME): a write's is the
 * moment write(2) returned, not the later one of its log line.
 * The manager streams these (smmuctl monitor); knobs.c knows no more.
 */
typedef void (*KnobsEventHook)(const Knob *k, uint64_t realtime_usec, const char *kind,
			       const char *before, const char *after, const char *detail,
			       void *userdata);

/*
 * The state file changed and its copy waits (see knobs_save_copy()): the
 * owner of the event loop writes it once the moment is quiet.  Without a
 * hook, the copy is written with the state file.
 */
typedef void (*KnobsCopyHook)(void *userdata);

typedef struct Knobs {
	char *root;
	char *runtime_dir;
	bool dry_run;
	ExternalChange on_external_change;
	char *boot_id;
	State *state;         /* what the state file says */
	bool state_saved;     /* ... and it is on disk: the last save succeeded */
	Knob **knobs;
	size_t n_knobs;
	int watch_fd;         /* inotify: IN_MODIFY of armed attributes, -1: none */
	KnobsEventHook event_hook;
	void *event_hook_userdata;
	KnobsCopyHook copy_hook;
	void *copy_hook_userdata;
	bool copy_on_disk;    /* the state file's copy may be there */
	bool copy_due;        /* ... and is not, since the state file changed */
	unsigned save_batch;  /* knobs_save_begin() depth: the state file waits */
	bool save_pending;    /* ... and has changed meanwhile */
} Knobs;

int knobs_new(const char *root, const char *runtime_dir, bool dry_run, Knobs **ret);
Knobs *knobs_free(Knobs *ks);
static inline void knobs_freep(Knobs **ks)
{
	knobs_free(*ks);
}

void knobs_set_event_hook(Knobs *ks, KnobsEventHook hook, void *userdata);
void knobs_set_copy_hook(Knobs *ks, KnobsCopyHook hook, void *userdata);
/* Writes the state file's copy if it is due; failing that, no copy is there. */
int knobs_save_copy(Knobs *ks);
/*
 * Armings and disarmings of several knobs go to disk together: between
 * these, changes to the state file wait, and knobs_save_end() writes them
 * once (its result is that write's).  No knobs_set() or knobs_restore()
 * in between: their entry must be on disk before their write.
 */
void knobs_save_begin(Knobs *ks);
int knobs_save_end(Knobs *ks);

/* The knob (created on first use: no I/O). */
Knob *knobs_get(Knobs *ks, const char *smmu, KnobAttr attr);
/* The SMMU is gone: its knobs cannot be restored anymore; forget them. */
int knobs_forget_smmu(Knobs *ks, const char *smmu);

/* Reads the current value into k->current. */
int knobs_read(Knobs *ks, Knob *k);

/*
 * Makes the knob hold value.  why names the decision (journal field
 * SMMUD_DECISION).  0: done or nothing to do; -EBUSY: the knob is the
 * operator's (now or since this call); other -errno: the write or the state
 * file failed, and nothing changed.
 */
int knobs_set(Knobs *ks, Knob *k, const char *value, const char *why);
/*
 * The write of value may come (VMs that may die, exits below the storm
 * limit): puts the original and value in the state file now, so that
 * knobs_set(value) then needs no file write before the kernel sees it.  Recovery after a crash
 * restores only a knob that has the value an entry names, so an entry for
 * a write that never came restores nothing.  No-op while the knob is held,
 * or is the operator's.
 */
int knobs_arm(Knobs *ks, Knob *k, const char *value);
/* Takes an armed entry out of the state file (no-op while held). */
int knobs_disarm(Knobs *ks, Knob *k);
/* Ends a hold: the original back (if still ours).  0 if nothing held. */
int knobs_restore(Knobs *ks, Knob *k, const char *why);
/*
 * Brings the knob to what a decision wants: a value (knobs_set()) or
 * "keep" (knobs_restore()).  Nothing to do if the last apply got it there
 * and nothing changed it since (a write by someone else, a reclaim, a
 * set or restore of its own), unless force.  Results as knobs_set().
 */
int knobs_apply(Knobs *ks, Knob *k, const char *want, const char *why, bool force);
/*
 * The operator gives back a knob smmud released (ExternalChange=release):
 * smmud's again, and what it holds now is the original to restore to.
 * 1 if it was the operator's, 0 if it was smmud's already.
 */
int knobs_reclaim(Knobs *ks, Knob *k);
/* Every hold, and every armed entry.  Returns the first error, after trying all. */
int knobs_restore_all(Knobs *ks, const char *why);
/* True if any knob is held (the drift check runs only then). */
bool knobs_holding(const Knobs *ks);
/*
 * Compares a held knob with what we wrote.  1: someone else changed it (and
 * it was released or will be rewritten, by the configured policy); 0: fine.
 */
int knobs_check_drift(Knobs *ks, Knob *k);
int knobs_check_drift_all(Knobs *ks);

/*
 * At start, before anything else: a state file left by a run that did not
 * stop cleanly is put back (each knob that still has the value that run
 * wrote gets its original).  Knobs that cannot be restored now stay held,
 * so the state file keeps them.
 */
int knobs_recover(Knobs *ks);
