/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The state file, <runtime-dir>/state (/run/smmud/state): for every knob
 * smmud holds at a value of its own, the value it found there before its
 * first write and the value it wrote.  Written before every such write,
 * atomically replaced, removed when smmud holds nothing; so after a crash
 * the next start knows exactly what to put back.  This file is the only
 * writer of the runtime directory.
 *
 *   # smmud: original values of the knobs it changed (see smmud(8))
 *   version 2
 *   boot <boot id>
 *   knob <smmu> <attribute> <original> <written>
 *   end <sha256 of everything before this line>
 *
 * Values are the raw sysfs strings; they never contain white space (the
 * parser refuses anything but A-Z a-z 0-9 . _ : -).  The end line makes a
 * truncated or altered file one that is refused, never one that reads as
 * something else (a boot line cut short naming another boot, say); a
 * version 1 file (no end line, from an older smmud) is still read.
 *
 * Every save writes the same text to a second file, state.copy: a start
 * that finds state missing or unusable recovers from the copy, so one
 * damaged file loses no original.
 */

#include "util.h"
#include "values.h"

#define STATE_FILE_NAME "state"
#define STATE_COPY_NAME "state.copy"
#define STATE_VERSION 2

typedef struct StateEntry {
	char *smmu;
	char *attr;
	char *original;
	char *written;
} StateEntry;

typedef struct State {
	char *boot_id;      /* NULL: unknown */
	StateEntry *entries;
	size_t n_entries;
} State;

State *state_new(void);
State *state_free(State *s);
static inline void state_freep(State **s)
{
	state_free(*s);
}
#define _cleanup_state_free_ _cleanup_(state_freep)

/* Replaces or adds the entry for (smmu, attr). */
int state_set(State *s, const char *smmu, const char *attr, const char *original,
	      const char *written);
/* Removes the entry for (smmu, attr), if any. */
void state_unset(State *s, const char *smmu, const char *attr);
const StateEntry *state_get(const State *s, const char *smmu, const char *attr);

/*
 * Whether an entry may be acted on: a knob attribute smmud knows, and an
 * original and a written value the kernel takes, in the form it shows
 * them (values.h).  0, or -EINVAL and why.
 */
int state_entry_check(const StateEntry *e, const char **ret_reason);

/* True if s is safe as a path component / file token. */
bool state_token_valid(const char *s);

/* Pure: text <-> State.  Parse errors: -EBADMSG and a message with the line. */
int state_parse(const char *text, State **ret, char **ret_error);
int state_format(const State *s, char **ret);

/*
 * The file NAME (STATE_FILE_NAME or STATE_COPY_NAME) in the runtime
 * directory dir (runtime_dir_prepare() makes it): -ENOENT if no file,
 * -EBADMSG or -EFBIG (and why) if it is unusable; opened with O_NOFOLLOW.
 */
int state_load(const char *dir, const char *name, State **ret, char **ret_error);
/*
 * The state file, an atomic replace; and its copy as well as it can be
 * (STATE_COPY_NOW), or not yet (STATE_COPY_LATER: an old copy is unlinked
 * first, so that no copy ever differs from its state file; the caller
 * writes it with state_save_copy() once the moment is quiet).  Both are
 * unlinked, the copy first, when s holds no entry.  The result is the
 * state file's.
 */
typedef enum StateCopy {
	STATE_COPY_NOW,
	STATE_COPY_LATER,
} StateCopy;

int state_save(const char *dir, const State *s, StateCopy copy, bool copy_on_disk);
/* The copy of what state_save() wrote last (s must be that state). */
int state_save_copy(const char *dir, const State *s);
/* Moves an unusable file NAME aside (NAME.bad) so it is kept for a human. */
int state_quarantine(const char *dir, const char *name);
