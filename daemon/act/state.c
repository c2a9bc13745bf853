// SPDX-License-Identifier: GPL-2.0-or-later
#include <fcntl.h>
#include <sys/stat.h>

#include "sha256.h"
#include "state.h"

State *state_new(void)
{
	return calloc(1, sizeof(State));
}

static void entry_done(StateEntry *e)
{
	free(e->smmu);
	free(e->attr);
	free(e->original);
	free(e->written);
}

State *state_free(State *s)
{
	if (!s)
		return NULL;
	for (size_t i = 0; i < s->n_entries; i++)
		entry_done(&s->entries[i]);
	free(s->entries);
	free(s->boot_id);
	free(s);
	return NULL;
}

static StateEntry *find(const State *s, const char *smmu, const char *attr)
{
	for (size_t i = 0; i < s->n_entries; i++)
		if (streq(s->entries[i].smmu, smmu) && streq(s->entries[i].attr, attr))
			return &s->entries[i];
	return NULL;
}

const StateEntry *state_get(const State *s, const char *smmu, const char *attr)
{
	return find(s, smmu, attr);
}

int state_set(State *s, const char *smmu, const char *attr, const char *original,
	      const char *written)
{
	StateEntry n = {
		.smmu = strdup(smmu),
		.attr = strdup(attr),
		.original = strdup(original),
		.written = strdup(written),
	};
	StateEntry *e;

	if (!value_is_token(smmu) || !value_is_token(attr) || !value_is_token(original) ||
	    !value_is_token(written)) {
		entry_done(&n);
		return -EINVAL;
	}
	if (!n.smmu || !n.attr || !n.original || !n.written) {
		entry_done(&n);
		return -ENOMEM;
	}
	e = find(s, smmu, attr);
	if (e) {
		entry_done(e);
		*e = n;
		return 0;
	}
	e = realloc(s->entries, (s->n_entries + 1) * sizeof(StateEntry));
	if (!e) {
		entry_done(&n);
		return -ENOMEM;
	}
	s->entries = e;
	s->entries[s->n_entries++] = n;
	return 0;
}

void state_unset(State *s, const char *smmu, const char *attr)
{
	StateEntry *e = find(s, smmu, attr);

	if (!e)
		return;
	entry_done(e);
	*e = s->entries[--s->n_entries];
}

static bool knob_value_valid(KnobAttr a, const char *v)
{
	char canonical[KNOB_VALUE_MAX];
	const char *reason;

	return value_knob(a, v, 0, canonical, &reason) >= 0 && streq(canonical, v);
}

int state_entry_check(const StateEntry *e, const char **ret_reason)
{
	int a = knob_attr_from_string(e->attr);

	if (a < 0)
		*ret_reason = "not a knob smmud knows";
	else if (!knob_value_valid((KnobAttr)a, e->original))
		*ret_reason = "its original is not a value the kernel takes";
	else if (!knob_value_valid((KnobAttr)a, e->written))
		*ret_reason = "its written value is not one the kernel takes";
	else
		return 0;
	return -EINVAL;
}

static int parse_error(char **ret_error, unsigned line, const char *what)
{
	if (ret_error && asprintf(ret_error, "line %u: %s", line, what) < 0)
		*ret_error = NULL;
	return -EBADMSG;
}

int state_parse(const char *text, State **ret, char **ret_error)
{
	_cleanup_state_free_ State *s = state_new();
	uint32_t version = 0;
	bool have_end = false;
	unsigned line = 0;
	const char *p = text;

	if (!s)
		return -ENOMEM;
	while (*p) {
		size_t len = strcspn(p, "\n");
		_cleanup_free_ char *l = strndup(p, len);
		const char *start = p;
		char *w[6] = {};
		size_t n = 0;
		char *save = NULL;

		if (!l)
			return -ENOMEM;
		line++;
		p += len + (p[len] == '\n');
		if (strlen(l) != len)
			return parse_error(ret_error, line, "NUL byte");
		if (have_end)
			return parse_error(ret_error, line, "text after the end line");
		if (*l == '#' || *l == 0)
			continue;
		for (char *t = strtok_r(l, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
			if (n == ELEMENTSOF(w))
				return parse_error(ret_error, line, "too many fields");
			w[n++] = t;
		}
		if (n == 0)
			continue;
		if (streq(w[0], "version")) {
			if (n != 2 || version || safe_atou32(w[1], &version) < 0)
				return parse_error(ret_error, line, "bad version line");
			if (version != 1 && version != STATE_VERSION)
				return parse_error(ret_error, line, "unsupported version");
		} else if (!version) {
			return parse_error(ret_error, line, "no version line first");
		} else if (streq(w[0], "boot")) {
			if (n != 2 || !value_is_token(w[1]) || s->boot_id)
				return parse_error(ret_error, line, "bad boot line");
			s->boot_id = strdup(w[1]);
			if (!s->boot_id)
				return -ENOMEM;
		} else if (streq(w[0], "knob")) {
			int r;

			if (n != 5)
				return parse_error(ret_error, line, "knob lines have 4 fields");
			if (state_get(s, w[1], w[2]))
				return parse_error(ret_error, line, "duplicate knob");
			r = state_set(s, w[1], w[2], w[3], w[4]);
			if (r == -EINVAL)
				return parse_error(ret_error, line, "invalid characters in knob line");
			if (r < 0)
				return r;
		} else if (streq(w[0], "end") && version >= 2) {
			char sum[SHA256_HEX_SIZE];

			if (n != 2 || p[-1] != '\n')
				return parse_error(ret_error, line, "bad end line");
			/* Of every byte before the end line. */
			sha256_hex(text, (size_t)(start - text), sum);
			if (!streq(w[1], sum))
				return parse_error(ret_error, line, "checksum mismatch (altered or damaged)");
			have_end = true;
		} else
			return parse_error(ret_error, line, "unknown line");
	}
	if (!version)
		return parse_error(ret_error, line, "no version line");
	if (version >= 2 && !have_end)
		return parse_error(ret_error, line, "no end line (truncated)");
	*ret = TAKE_PTR(s);
	return 0;
}

int state_format(const State *s, char **ret)
{
	char *buf = NULL, sum[SHA256_HEX_SIZE];
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);

	if (!f)
		return -ENOMEM;
	fprintf(f, "# smmud: original values of the knobs it changed (see smmud(8))\n");
	fprintf(f, "version %d\n", STATE_VERSION);
	if (s->boot_id)
		fprintf(f, "boot %s\n", s->boot_id);
	for (size_t i = 0; i < s->n_entries; i++)
		fprintf(f, "knob %s %s %s %s\n", s->entries[i].smmu, s->entries[i].attr,
			s->entries[i].original, s->entries[i].written);
	if (fflush(f) != 0) {
		fclose(f);
		free(buf);
		return -ENOMEM;
	}
	sha256_hex(buf, size, sum);
	fprintf(f, "end %s\n", sum);
	if (fclose(f) != 0) {
		free(buf);
		return -ENOMEM;
	}
	*ret = buf;
	return 0;
}

int state_load(const char *dir, const char *name, State **ret, char **ret_error)
{
	_cleanup_free_ char *path = path_join(dir, name);
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *text = NULL;
	struct stat st;
	int r;

	if (!path)
		return -ENOMEM;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return negative_errno();
	if (fstat(fd, &st) < 0)
		return negative_errno();
	if (!S_ISREG(st.st_mode)) {
		if (ret_error)
			*ret_error = strdup("not a regular file");
		return -EBADMSG;
	}
	/* A real state file is a few hundred bytes. */
	r = read_full_fd(fd, 1 << 20, &text, NULL);
	if (r == -EBADMSG && ret_error)
		*ret_error = strdup("NUL byte in file");
	if (r < 0)
		return r;
	return state_parse(text, ret, ret_error);
}

int state_save(const char *dir, const State *s, StateCopy copy, bool copy_on_disk)
{
	_cleanup_free_ char *path = path_join(dir, STATE_FILE_NAME);
	_cleanup_free_ char *copy_path = path_join(dir, STATE_COPY_NAME);
	_cleanup_free_ char *text = NULL;
	int r;

	if (!path || !copy_path)
		return -ENOMEM;
	/* The copy first: a copy never outlives its state file, nor differs from it. */
	if ((s->n_entries == 0 || copy == STATE_COPY_LATER) && copy_on_disk &&
	    unlink(copy_path) < 0 && errno != ENOENT)
		return negative_errno();
	if (s->n_entries == 0) {
		if (unlink(path) < 0 && errno != ENOENT)
			return negative_errno();
		return 0;
	}
	r = state_format(s, &text);
	if (r < 0)
		return r;
	r = write_file_atomic(path, text, strlen(text), 0644);
	if (r < 0 || copy == STATE_COPY_LATER)
		return r;
	/* A copy that cannot be brought up to date goes: an old one would mislead. */
	if (write_file_atomic(copy_path, text, strlen(text), 0644) < 0)
		(void)unlink(copy_path);
	return 0;
}

int state_save_copy(const char *dir, const State *s)
{
	_cleanup_free_ char *copy_path = path_join(dir, STATE_COPY_NAME);
	_cleanup_free_ char *text = NULL;
	int r;

	if (!copy_path)
		return -ENOMEM;
	if (s->n_entries == 0)
		return 0;
	r = state_format(s, &text);
	if (r >= 0)
		r = write_file_atomic(copy_path, text, strlen(text), 0644);
	if (r < 0)
		(void)unlink(copy_path);
	return r;
}

int state_quarantine(const char *dir, const char *name)
{
	_cleanup_free_ char *path = path_join(dir, name);
	_cleanup_free_ char *bad = NULL;

	if (!path || asprintf(&bad, "%s.bad", path) < 0)
		return -ENOMEM;
	if (rename(path, bad) < 0)
		return negative_errno();
	return 0;
}
