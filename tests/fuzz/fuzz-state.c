// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The state file (/run/smmud/state) as smmud reads it back at start after
 * a crash: whatever is there (a truncated write, a disk error, a hand
 * edit).  A file that parses formats back to text that parses to the same
 * state, and every token in it is one value_is_token() accepts (they
 * become sysfs path components).
 */
#include "fuzz.h"
#include "state.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_quiet_logs();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	_cleanup_free_ char *text = fuzz_strndup(data, size);
	_cleanup_free_ char *error = NULL, *out = NULL, *out2 = NULL, *error2 = NULL;
	_cleanup_state_free_ State *s = NULL, *s2 = NULL;
	int r;

	r = state_parse(text, &s, &error);
	FUZZ_CHECK(r == 0 || r == -EBADMSG);
	if (r < 0) {
		FUZZ_CHECK(!s && error && *error);
		return 0;
	}
	FUZZ_CHECK(s);
	for (size_t i = 0; i < s->n_entries; i++) {
		const StateEntry *e = &s->entries[i];

		FUZZ_CHECK(value_is_token(e->smmu) && value_is_token(e->attr));
		FUZZ_CHECK(value_is_token(e->original) && value_is_token(e->written));
		FUZZ_CHECK(state_get(s, e->smmu, e->attr) == e);
	}
	FUZZ_CHECK(state_format(s, &out) == 0);
	r = state_parse(out, &s2, &error2);
	if (r < 0)
		fprintf(stderr, "reparse: %s\n%s", error2, out);
	FUZZ_CHECK(r == 0);
	FUZZ_CHECK(s2->n_entries == s->n_entries && streq_ptr(s->boot_id, s2->boot_id));
	FUZZ_CHECK(state_format(s2, &out2) == 0 && streq(out, out2));
	return 0;
}
