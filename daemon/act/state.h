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
 *   version 1
 *   boot <boot id>
 *   knob <smmu> <attribute> <original> <written>
 *
 * Values are the raw sysfs strings; they never contain white space (the
 * parser refuses anything but A-Z a-z 0-9 . _ : -).
 */

#include "util.h"
#include "values.h"

#define STATE_FILE_NAME "state"
#define STATE_VERSION 1

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

/* True if s is safe as a path component / file token. */
bool state_token_valid(const char *s);

/* Pure: text <-> State.  Parse errors: -EBADMSG and a message with the line. */
int state_parse(const char *text, State **ret, char **ret_error);
int state_format(const State *s, char **ret);

/*
 * The file in the runtime directory dir (runtime_dir_prepare() makes
 * it).  state_load(): -ENOENT if no file; the file is opened with
 * O_NOFOLLOW.  state_save(): atomic replace, or unlink when s holds no
 * entry.
 */
int state_load(const char *dir, State **ret, char **ret_error);
int state_save(const char *dir, const State *s);
/* Moves an unusable state file aside (state.bad) so it is kept for a human. */
int state_quarantine(const char *dir);
