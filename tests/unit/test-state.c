// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The state file and the knobs that use it: originals recorded before the
 * first write, restore at stop, recovery after a crash, external changes,
 * a broken or hostile state file, a failing write.  Runs on a temporary
 * fake sysfs tree with real files.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "knobs.h"
#include "log.h"
#include "util.h"

#define SMMU "smmu3.0x0000000009050000"

typedef struct Tree {
	char root[64];
	char run[96];
	char thr[192];
	char mode[192];
} Tree;

static void put(const char *path, const char *text)
{
	FILE *f = fopen(path, "we");

	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

static char *get(const char *path)
{
	char *v = NULL;

	assert_int_equal(read_one_line_file(path, &v), 0);
	return v;
}

static void assert_file(const char *path, const char *want)
{
	_cleanup_free_ char *v = get(path);

	assert_string_equal(v, want);
}

static int tree_setup(void **state)
{
	Tree *t = calloc(1, sizeof(Tree));
	char cmd[512];

	snprintf(t->root, sizeof(t->root), "/tmp/test-state.XXXXXX");
	assert_non_null(mkdtemp(t->root));
	snprintf(t->run, sizeof(t->run), "%s/run", t->root);
	snprintf(cmd, sizeof(cmd), "mkdir -p %s/sys/class/iommu/" SMMU "/arm-smmu-v3", t->root);
	assert_int_equal(system(cmd), 0);
	snprintf(t->thr, sizeof(t->thr), "%s/sys/class/iommu/" SMMU "/arm-smmu-v3/inv_threshold",
		 t->root);
	snprintf(t->mode, sizeof(t->mode), "%s/sys/class/iommu/" SMMU "/arm-smmu-v3/teardown_mode",
		 t->root);
	put(t->thr, "auto\n");
	put(t->mode, "strict\n");
	*state = t;
	return 0;
}

static int tree_teardown(void **state)
{
	Tree *t = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t->root);
	assert_int_equal(system(cmd), 0);
	free(t);
	return 0;
}

static Knobs *knobs(const Tree *t)
{
	Knobs *ks = NULL;

	assert_int_equal(knobs_new(t->root, t->run, false, &ks), 0);
	return ks;
}

static char *state_text(const Tree *t)
{
	_cleanup_free_ char *p = path_join(t->run, STATE_FILE_NAME);
	char *text = NULL;
	size_t n = 0;
	FILE *f = fopen(p, "re");

	if (!f)
		return NULL;
	assert_true(getdelim(&text, &n, 0, f) > 0);
	fclose(f);
	return text;
}

static void test_parse_format_roundtrip(void **state)
{
	State *s = NULL;
	char *text = NULL, *err = NULL;

	assert_int_equal(state_parse("# c\nversion 1\nboot abc\nknob " SMMU " inv_threshold auto 16\n"
				     "knob " SMMU " teardown_mode strict deferred\n",
				     &s, &err),
			 0);
	assert_int_equal(s->n_entries, 2);
	assert_string_equal(s->boot_id, "abc");
	assert_string_equal(state_get(s, SMMU, "inv_threshold")->original, "auto");
	assert_string_equal(state_get(s, SMMU, "teardown_mode")->written, "deferred");
	assert_int_equal(state_format(s, &text), 0);
	assert_non_null(strstr(text, "version 2\n"));
	assert_non_null(strstr(text, "knob " SMMU " inv_threshold auto 16\n"));
	state_free(s);
	s = NULL;
	assert_int_equal(state_parse(text, &s, &err), 0);
	assert_int_equal(s->n_entries, 2);
	state_free(s);
	s = NULL;

	/* Every cut of it, and every changed byte, is refused: never misread. */
	for (size_t i = 0; i + 1 < strlen(text); i++) {
		_cleanup_free_ char *cut = strndup(text, i), *changed = strdup(text);

		assert_non_null(cut);
		assert_non_null(changed);
		changed[i] = changed[i] == 'a' ? 'b' : 'a';
		if (state_parse(cut, &s, &err) == 0)
			fail_msg("cut after %zu bytes, parsed: %s", i, cut);
		free(err);
		err = NULL;
		if (state_parse(changed, &s, &err) == 0)
			fail_msg("byte %zu changed, parsed: %s", i, changed);
		state_free(s);
		s = NULL;
		free(err);
		err = NULL;
	}
	free(text);
}

static void test_parse_refuses_bad_files(void **state)
{
	static const struct {
		const char *text;
		const char *error;
	} cases[] = {
		{ "", "no version line" },
		{ "knob a b c d\n", "line 1: no version line first" },
		{ "version 3\n", "line 1: unsupported version" },
		{ "version 1\nversion 1\n", "line 2: bad version line" },
		/* Version 2 ends with the checksum of all before it: nothing cut, nothing changed. */
		{ "version 2\nboot ab\n", "line 2: no end line (truncated)" },
		{ "version 2\nend 00\n", "line 2: checksum mismatch" },
		{ "version 2\nend x y\n", "line 2: bad end line" },
		{ "version 2\nend "
		  "fe2fc3e8e5d4e1c26a60b27f1b7af2b4f5b6ac4b29d4f0ac1bd4b08de3e0b48d", "line 2: bad end line" },
		{ "version 1\nend x\n", "line 2: unknown line" },
		{ "version one\n", "line 1: bad version line" },
		{ "version 1\nknob a b c\n", "line 2: knob lines have 4 fields" },
		{ "version 1\nknob a/../x inv_threshold auto 1\n", "line 2: invalid characters" },
		{ "version 1\nknob .. inv_threshold auto 1\n", "line 2: invalid characters" },
		{ "version 1\nknob a inv_threshold auto 1\nknob a inv_threshold auto 2\n",
		  "line 3: duplicate knob" },
		{ "version 1\nfrob\n", "line 2: unknown line" },
		{ "version 1\nboot a\nboot b\n", "line 3: bad boot line" },
		{ "version 1\nknob a b c d e f g\n", "line 2: too many fields" },
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		State *s = NULL;
		char *err = NULL;

		print_message("case %zu\n", i);
		assert_int_equal(state_parse(cases[i].text, &s, &err), -EBADMSG);
		assert_null(s);
		assert_non_null(err);
		if (!strstr(err, cases[i].error))
			fail_msg("'%s' lacks '%s'", err, cases[i].error);
		free(err);
	}
}

static void test_original_saved_before_write_and_restored(void **state)
{
	Tree *t = *state;
	Knobs *ks = knobs(t);
	Knob *thr = knobs_get(ks, SMMU, KNOB_THRESHOLD);
	Knob *mode = knobs_get(ks, SMMU, KNOB_TEARDOWN_MODE);
	_cleanup_free_ char *text = NULL;

	assert_null(state_text(t));
	assert_int_equal(knobs_set(ks, thr, "16", "test"), 0);
	assert_int_equal(knobs_set(ks, mode, "deferred", "test"), 0);
	assert_file(t->thr, "16");
	assert_file(t->mode, "deferred");
	assert_true(knobs_holding(ks));
	text = state_text(t);
	assert_non_null(text);
	assert_non_null(strstr(text, "knob " SMMU " inv_threshold auto 16\n"));
	assert_non_null(strstr(text, "knob " SMMU " teardown_mode strict deferred\n"));

	/* A second storm value keeps the first original. */
	assert_int_equal(knobs_set(ks, thr, "8", "test"), 0);
	free(text);
	text = state_text(t);
	assert_non_null(strstr(text, "inv_threshold auto 8\n"));

	assert_int_equal(knobs_restore_all(ks, "stop"), 0);
	assert_file(t->thr, "auto");
	assert_file(t->mode, "strict");
	assert_false(knobs_holding(ks));
	/* Holding nothing: no state file at all. */
	assert_null(state_text(t));
	knobs_free(ks);
}

/* A crashing run: holds both knobs (16, deferred), dies without restoring. */
static void crash_holding_both(const Tree *t)
{
	pid_t pid = fork();
	int status;

	assert_true(pid >= 0);
	if (pid == 0) {
		Knobs *c = NULL;

		if (knobs_new(t->root, t->run, false, &c) < 0 ||
		    knobs_set(c, knobs_get(c, SMMU, KNOB_THRESHOLD), "16", "storm") < 0 ||
		    knobs_set(c, knobs_get(c, SMMU, KNOB_TEARDOWN_MODE), "deferred", "storm") < 0)
			_exit(1);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_file(t->thr, "16");
	assert_file(t->mode, "deferred");
}

static void test_recover_after_crash(void **state)
{
	Tree *t = *state;
	Knobs *ks;

	crash_holding_both(t);
	ks = knobs(t);
	assert_int_equal(knobs_recover(ks), 0);
	assert_file(t->thr, "auto");
	assert_file(t->mode, "strict");
	assert_null(state_text(t));
	assert_false(knobs_holding(ks));
	knobs_free(ks);
}

/* A crashed run's state file (text) and the knobs' values now; then a start's recovery. */
static void recover_from(const Tree *t, const char *text, const char *thr, const char *mode)
{
	char path[160];
	Knobs *ks;

	assert_int_equal(runtime_dir_prepare(t->run), 0);
	snprintf(path, sizeof(path), "%s/" STATE_FILE_NAME, t->run);
	put(path, text);
	put(t->thr, thr);
	put(t->mode, mode);
	ks = knobs(t);
	assert_int_equal(knobs_recover(ks), 0);
	knobs_free(ks);
}

static void test_recover_leaves_foreign_values(void **state)
{
	Tree *t = *state;

	/* smmud wrote 16; since then an operator set 300. */
	recover_from(t, "version 1\nknob " SMMU " inv_threshold auto 16\nknob " SMMU
		     " teardown_mode strict deferred\n", "300\n", "deferred\n");
	assert_file(t->thr, "300");
	assert_file(t->mode, "strict");
}

static void test_recover_from_other_boot_restores_nothing(void **state)
{
	Tree *t = *state;
	Knobs *ks;
	char path[160], text[256], cmd[256];

	snprintf(cmd, sizeof(cmd), "mkdir -p %s/proc/sys/kernel/random && echo this-boot > "
		 "%s/proc/sys/kernel/random/boot_id", t->root, t->root);
	assert_int_equal(system(cmd), 0);
	ks = knobs(t);
	assert_string_equal(ks->boot_id, "this-boot");
	assert_int_equal(runtime_dir_prepare(t->run), 0);
	snprintf(path, sizeof(path), "%s/" STATE_FILE_NAME, t->run);
	snprintf(text, sizeof(text), "version 1\nboot not-this-boot\nknob " SMMU " inv_threshold 5 16\n");
	put(path, text);
	put(t->thr, "16\n");
	assert_int_equal(knobs_recover(ks), 0);
	assert_file(t->thr, "16");
	assert_null(state_text(t));
	knobs_free(ks);
}

/*
 * The state file cut inside its boot line (it read as from another boot,
 * and the storm values were taken as originals), or with a byte changed:
 * refused, and the copy has every original.
 */
static void test_damaged_state_file_recovers_from_copy(void **state)
{
	Tree *t = *state;
	char cmd[1024], path[160], copy[160];

	snprintf(cmd, sizeof(cmd), "mkdir -p %s/proc/sys/kernel/random && echo this-boot-0123 > "
		 "%s/proc/sys/kernel/random/boot_id", t->root, t->root);
	assert_int_equal(system(cmd), 0);
	snprintf(path, sizeof(path), "%s/" STATE_FILE_NAME, t->run);
	snprintf(copy, sizeof(copy), "%s/" STATE_COPY_NAME, t->run);
	for (int damage = 0; damage < 3; damage++) {
		_cleanup_free_ char *text = NULL;
		char *boot;
		Knobs *ks;

		crash_holding_both(t);
		text = state_text(t);
		assert_non_null(text);
		boot = strstr(text, "boot this-boot-0123\n");
		assert_non_null(boot);
		if (damage == 0)
			boot[strlen("boot this-boot")] = 0;  /* cut inside the boot line */
		else if (damage == 1)
			strstr(text, " auto 16")[1] = 'x';  /* the original changed */
		else
			strstr(text, "knob " SMMU " teardown")[0] = 0;  /* cut before a knob line */
		put(path, text);
		ks = knobs(t);
		assert_int_equal(knobs_recover(ks), 0);
		assert_file(t->thr, "auto");
		assert_file(t->mode, "strict");
		assert_false(knobs_holding(ks));
		knobs_free(ks);
		/* The damaged file kept for a human; no state left. */
		snprintf(cmd, sizeof(cmd), "test -f %s.bad && ! test -e %s && ! test -e %s && rm %s.bad",
			 path, path, copy, path);
		assert_int_equal(system(cmd), 0);
	}
}

/* A value the kernel would not take was not written by smmud: never written back. */
static void test_recover_validates_what_it_writes(void **state)
{
	Tree *t = *state;

	/* A version 1 file (no checksum), planted: originals no kernel shows. */
	recover_from(t, "version 1\nknob " SMMU " inv_threshold garbage 16\nknob " SMMU
		     " teardown_mode 007 deferred\n", "16\n", "deferred\n");
	assert_file(t->thr, "16");
	assert_file(t->mode, "deferred");
	assert_null(state_text(t));
	/* Values the kernel takes are restored. */
	recover_from(t, "version 1\nknob " SMMU " inv_threshold 7 16\n", "16\n", "deferred\n");
	assert_file(t->thr, "7");
}

static void test_corrupt_state_file_is_quarantined(void **state)
{
	Tree *t = *state;
	Knobs *ks = knobs(t);
	char path[160], bad[160];
	struct stat st;

	assert_int_equal(runtime_dir_prepare(t->run), 0);
	snprintf(path, sizeof(path), "%s/" STATE_FILE_NAME, t->run);
	snprintf(bad, sizeof(bad), "%s/" STATE_FILE_NAME ".bad", t->run);
	put(path, "version 1\nknob " SMMU " inv_threshold auto\n");
	put(t->thr, "16\n");
	assert_int_equal(knobs_recover(ks), 0);
	/* Nothing written from a file we cannot read; the file kept for a human. */
	assert_file(t->thr, "16");
	assert_int_equal(stat(bad, &st), 0);
	assert_int_equal(stat(path, &st), -1);
	knobs_free(ks);
}

static void test_state_file_symlink_not_followed(void **state)
{
	Tree *t = *state;
	Knobs *ks = knobs(t);
	Knob *thr = knobs_get(ks, SMMU, KNOB_THRESHOLD);
	char path[160], target[160];
	State *s = NULL;
	struct stat st;

	assert_int_equal(runtime_dir_prepare(t->run), 0);
	snprintf(path, sizeof(path), "%s/" STATE_FILE_NAME, t->run);
	snprintf(target, sizeof(target), "%s/elsewhere", t->root);
	put(target, "version 1\n");
	assert_int_equal(symlink(target, path), 0);
	assert_int_equal(state_load(t->run, STATE_FILE_NAME, &s, NULL), -ELOOP);
	/* Saving replaces the link itself; the target is untouched. */
	assert_int_equal(knobs_set(ks, thr, "16", "test"), 0);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_file(target, "version 1");
	assert_int_equal(knobs_restore_all(ks, "stop"), 0);
	knobs_free(ks);
}

/* smmud holds thr at 16, someone writes 99, the drift check hands it over (release). */
static void hold_then_release(const Tree *t, Knobs *ks, Knob *thr)
{
	assert_int_equal(knobs_set(ks, thr, "16", "storm"), 0);
	put(t->thr, "99\n");
	assert_int_equal(knobs_check_drift(ks, thr), 1);
	assert_int_equal(thr->owner, KNOB_OWNER_OPERATOR);
	assert_false(knobs_holding(ks));
}

static void test_external_change_releases_knob(void **state)
{
	Tree *t = *state;
	Knobs *ks = knobs(t);
	Knob *thr = knobs_get(ks, SMMU, KNOB_THRESHOLD);

	hold_then_release(t, ks, thr);
	/* Hands off: neither a later decision nor the stop touches it. */
	assert_int_equal(knobs_set(ks, thr, "auto", "quiet"), -EBUSY);
	assert_int_equal(knobs_restore_all(ks, "stop"), 0);
	assert_file(t->thr, "99");
	assert_null(state_text(t));
	knobs_free(ks);
}

static void test_external_change_seen_before_write(void **state)
{
	Tree *t = *state;
	Knobs *ks = knobs(t);
	Knob *thr = knobs_get(ks, SMMU, KNOB_THRESHOLD);

	assert_int_equal(knobs_set(ks, thr, "16", "storm"), 0);
	put(t->thr, "42\n");
	assert_int_equal(knobs_set(ks, thr, "8", "storm"), -EBUSY);
	assert_file(t->thr, "42");
	knobs_free(ks);
}

static void test_external_change_reassert(void **state)
{
	Tree *t = *state;
	Knobs *ks = knobs(t);
	Knob *thr = knobs_get(ks, SMMU, KNOB_THRESHOLD);

	ks->on_external_change = EXTERNAL_CHANGE_REASSERT;
	assert_int_equal(knobs_set(ks, thr, "16", "storm"), 0);
	put(t->thr, "42\n");
	assert_int_equal(knobs_check_drift(ks, thr), 1);
	assert_int_equal(thr->owner, KNOB_OWNER_SMMUD);
	assert_int_equal(knobs_set(ks, thr, "16", "storm"), 0);
	assert_file(t->thr, "16");
	/* The original stays the one found before the first write. */
	assert_int_equal(knobs_restore_all(ks, "stop"), 0);
	assert_file(t->thr, "auto");
	knobs_free(ks);
}

static void test_failed_write_changes_nothing(void **state)
{
	Tree *t = *state;
	Knobs *ks = knobs(t);
	Knob *thr = knobs_get(ks, SMMU, KNOB_THRESHOLD);

	/* A file even root cannot write, whose value reads as a clean token. */
	free(thr->path);
	thr->path = strdup("/proc/sys/kernel/osrelease");
	assert_true(knobs_set(ks, thr, "16", "storm") < 0);
	assert_false(knobs_holding(ks));
	assert_null(state_text(t));
	knobs_free(ks);
}

static void test_unwritable_runtime_dir_blocks_write(void **state)
{
	Tree *t = *state;
	Knobs *ks;
	Knob *thr;

	/* The runtime dir path is a file: no state, so no write either. */
	put(t->run, "not a directory\n");
	ks = knobs(t);
	thr = knobs_get(ks, SMMU, KNOB_THRESHOLD);
	assert_true(knobs_set(ks, thr, "16", "storm") < 0);
	assert_file(t->thr, "auto");
	knobs_free(ks);
	unlink(t->run);
}

static void test_dry_run_writes_nothing(void **state)
{
	Tree *t = *state;
	Knobs *ks = NULL;
	Knob *thr;

	assert_int_equal(knobs_new(t->root, t->run, true, &ks), 0);
	thr = knobs_get(ks, SMMU, KNOB_THRESHOLD);
	assert_int_equal(knobs_set(ks, thr, "16", "storm"), 0);
	assert_string_equal(thr->dry_run_value, "16");
	assert_file(t->thr, "auto");
	assert_null(state_text(t));
	assert_int_equal(knobs_restore_all(ks, "stop"), 0);
	knobs_free(ks);
}

static void test_refuses_bad_values(void **state)
{
	Tree *t = *state;
	Knobs *ks = knobs(t);
	Knob *thr = knobs_get(ks, SMMU, KNOB_THRESHOLD);

	assert_int_equal(knobs_set(ks, thr, "1 2", "test"), -EINVAL);
	assert_int_equal(knobs_set(ks, thr, "../x", "test"), -EINVAL);
	assert_null(knobs_get(ks, "../../etc", KNOB_THRESHOLD));
	assert_file(t->thr, "auto");
	knobs_free(ks);
}

/* An armed knob is read through its open fd: the first line, from offset 0. */
static void test_read_one_line_fd(void **state)
{
	Tree *t = *state;
	char *v = NULL;
	int fd;

	put(t->thr, "16\nnot this\n");
	fd = open(t->thr, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(lseek(fd, 7, SEEK_SET), 7);
	assert_int_equal(read_one_line_fd(fd, &v), 0);
	assert_string_equal(v, "16");
	free(v);

	/* No newline: all of it. */
	put(t->thr, "auto");
	assert_int_equal(read_one_line_fd(fd, &v), 0);
	assert_string_equal(v, "auto");
	free(v);

	put(t->thr, "");
	assert_int_equal(read_one_line_fd(fd, &v), 0);
	assert_string_equal(v, "");
	free(v);
	close(fd);
}

/*
 * Armed, untouched: the storm's write records and restores the original,
 * both through the attribute opened when it was armed.
 */
static void test_armed_write(void **state)
{
	Tree *t = *state;
	Knobs *ks = knobs(t);
	Knob *thr = knobs_get(ks, SMMU, KNOB_THRESHOLD);
	_cleanup_free_ char *armed = NULL, *held = NULL;
	int fd;

	assert_int_equal(knobs_arm(ks, thr, "16"), 0);
	armed = state_text(t);
	assert_non_null(strstr(armed, "knob " SMMU " inv_threshold auto 16"));
	assert_file(t->thr, "auto");
	fd = thr->armed_fd;
	assert_true(fd >= 0);
	assert_int_equal(knobs_set(ks, thr, "16", "test"), 0);
	assert_file(t->thr, "16");
	held = state_text(t);
	assert_non_null(strstr(held, "knob " SMMU " inv_threshold auto 16"));
	/* Still open and watched after its write, but what it holds is to be read again. */
	assert_int_equal(thr->armed_fd, fd);
	assert_true(thr->armed_wd >= 0);
	assert_false(thr->armed_known);
	/* The operator's write meanwhile is read through it, and written over through it. */
	ks->on_external_change = EXTERNAL_CHANGE_REASSERT;
	put(t->thr, "8\n");
	assert_int_equal(knobs_check_drift(ks, thr), 1);
	assert_string_equal(thr->current, "8");
	assert_int_equal(knobs_set(ks, thr, "16", "test"), 0);
	assert_file(t->thr, "16");
	assert_int_equal(knobs_check_drift(ks, thr), 0);
	/* The restore goes through it too, from offset 0; stopping lets it go. */
	assert_int_equal(knobs_restore_all(ks, "stop"), 0);
	assert_file(t->thr, "auto");
	assert_int_equal(thr->armed_fd, -1);
	knobs_free(ks);
}

/*
 * Armed for the value it has: nothing recorded, and the attribute stays
 * open and watched, so that the next arming (each decision of a storm
 * makes one) need not read it; a write meanwhile makes it read again.
 */
static void test_arm_at_value(void **state)
{
	Tree *t = *state;
	Knobs *ks = knobs(t);
	Knob *thr = knobs_get(ks, SMMU, KNOB_THRESHOLD);
	_cleanup_free_ char *text = NULL, *after = NULL;
	int fd;

	put(t->thr, "16\n");
	assert_int_equal(knobs_arm(ks, thr, "16"), 0);
	text = state_text(t);
	assert_true(!text || !strstr(text, "inv_threshold"));
	fd = thr->armed_fd;
	assert_true(fd >= 0);
	assert_true(thr->armed_known);
	assert_int_equal(knobs_arm(ks, thr, "16"), 0);
	assert_int_equal(thr->armed_fd, fd);

	/* The operator moves it: the next arming reads it, and records. */
	put(t->thr, "8\n");
	assert_int_equal(knobs_arm(ks, thr, "16"), 0);
	assert_string_equal(thr->current, "8");
	after = state_text(t);
	assert_non_null(strstr(after, "knob " SMMU " inv_threshold 8 16"));
	assert_int_equal(knobs_set(ks, thr, "16", "test"), 0);
	assert_file(t->thr, "16");
	assert_int_equal(knobs_restore_all(ks, "stop"), 0);
	assert_file(t->thr, "8");
	knobs_free(ks);
}

/*
 * The operator writes an armed knob before the storm: that value is the
 * original the storm's write records, and the one put back after it.
 */
static void test_armed_write_after_operator_change(void **state)
{
	Tree *t = *state;
	Knobs *ks = knobs(t);
	Knob *thr = knobs_get(ks, SMMU, KNOB_THRESHOLD);
	_cleanup_free_ char *held = NULL;

	assert_int_equal(knobs_arm(ks, thr, "16"), 0);
	put(t->thr, "8\n");
	assert_int_equal(knobs_set(ks, thr, "16", "test"), 0);
	assert_file(t->thr, "16");
	held = state_text(t);
	assert_non_null(strstr(held, "knob " SMMU " inv_threshold 8 16"));
	assert_int_equal(knobs_restore_all(ks, "stop"), 0);
	assert_file(t->thr, "8");
	knobs_free(ks);
}

static void count_change(const Knob *k, uint64_t realtime_usec, const char *kind,
			 const char *before, const char *after, const char *detail, void *userdata)
{
	if (streq(kind, "write") || streq(kind, "restore"))
		(*(unsigned *)userdata)++;
}

/* A decision applied again writes nothing; anything else that moved the knob makes it look again. */
static void test_apply_once_until_changed(void **state)
{
	Tree *t = *state;
	Knobs *ks = knobs(t);
	Knob *thr = knobs_get(ks, SMMU, KNOB_THRESHOLD);
	unsigned writes = 0;

	knobs_set_event_hook(ks, count_change, &writes);
	ks->on_external_change = EXTERNAL_CHANGE_REASSERT;
	assert_int_equal(knobs_apply(ks, thr, "16", "storm", false), 0);
	assert_int_equal(knobs_apply(ks, thr, "16", "storm", false), 0);
	assert_int_equal(writes, 1);
	assert_string_equal(thr->applied, "16");
	/* Someone else wrote it: the drift check forgets what was applied. */
	put(t->thr, "42\n");
	assert_int_equal(knobs_check_drift(ks, thr), 1);
	assert_null(thr->applied);
	assert_int_equal(knobs_apply(ks, thr, "16", "storm", false), 0);
	assert_int_equal(writes, 2);
	assert_file(t->thr, "16");
	/* force: written (checked) again all the same. */
	put(t->thr, "43\n");
	assert_int_equal(knobs_apply(ks, thr, "16", "reload", true), 0);
	assert_file(t->thr, "16");
	assert_int_equal(writes, 3);
	/* keep: the original back, once. */
	assert_int_equal(knobs_apply(ks, thr, "keep", "quiet", false), 0);
	assert_int_equal(knobs_apply(ks, thr, "keep", "quiet", false), 0);
	assert_file(t->thr, "auto");
	assert_int_equal(writes, 4);
	/* A restore of its own (a mode change, the stop) is no apply. */
	assert_int_equal(knobs_apply(ks, thr, "16", "storm", false), 0);
	assert_int_equal(knobs_restore(ks, thr, "unmanaged"), 0);
	assert_null(thr->applied);
	assert_int_equal(knobs_apply(ks, thr, "16", "storm", false), 0);
	assert_file(t->thr, "16");
	assert_int_equal(writes, 7);
	assert_int_equal(knobs_restore_all(ks, "stop"), 0);
	knobs_free(ks);
}

static void test_reclaim(void **state)
{
	Tree *t = *state;
	Knobs *ks = knobs(t);
	Knob *thr = knobs_get(ks, SMMU, KNOB_THRESHOLD);

	assert_int_equal(knobs_reclaim(ks, thr), 0);
	hold_then_release(t, ks, thr);
	assert_int_equal(knobs_apply(ks, thr, "16", "storm", false), -EBUSY);
	/* Given back: ours, and 99 is what a restore puts back from now on. */
	assert_int_equal(knobs_reclaim(ks, thr), 1);
	assert_int_equal(thr->owner, KNOB_OWNER_SMMUD);
	assert_null(thr->owner_reason);
	assert_int_equal(knobs_apply(ks, thr, "16", "storm", false), 0);
	assert_file(t->thr, "16");
	assert_int_equal(knobs_restore_all(ks, "stop"), 0);
	assert_file(t->thr, "99");
	knobs_free(ks);
}

static void count_copy_due(void *userdata)
{
	(*(int *)userdata)++;
}

/*
 * With a copy hook (the daemon's), the state file is written alone and an
 * old copy goes first: no copy ever differs from its state file.  The copy
 * comes with knobs_save_copy(), once.  Armings between knobs_save_begin()
 * and knobs_save_end() are one write, none of it on disk before the end.
 */
static void test_copy_later_and_batched_arming(void **state)
{
	Tree *t = *state;
	_cleanup_free_ char *copy = path_join(t->run, STATE_COPY_NAME);
	_cleanup_free_ char *text = NULL, *copy_text = NULL;
	Knobs *ks = knobs(t);
	Knob *thr = knobs_get(ks, SMMU, KNOB_THRESHOLD);
	Knob *mode = knobs_get(ks, SMMU, KNOB_TEARDOWN_MODE);
	int due = 0;

	/* A copy left from before: the first save with the hook unlinks it. */
	assert_int_equal(runtime_dir_prepare(t->run), 0);
	put(copy, "stale\n");
	knobs_set_copy_hook(ks, count_copy_due, &due);

	knobs_save_begin(ks);
	assert_int_equal(knobs_arm(ks, thr, "16"), 0);
	assert_int_equal(knobs_arm(ks, mode, "deferred"), 0);
	assert_null(state_text(t));
	assert_int_equal(due, 0);
	assert_int_equal(knobs_save_end(ks), 0);
	text = state_text(t);
	assert_non_null(strstr(text, " inv_threshold auto 16\n"));
	assert_non_null(strstr(text, " teardown_mode strict deferred\n"));
	assert_int_equal(due, 1);
	assert_int_equal(access(copy, F_OK), -1);

	assert_int_equal(knobs_save_copy(ks), 0);
	assert_int_equal(read_full_file(copy, 1 << 16, &copy_text), 0);
	assert_string_equal(copy_text, text);
	/* Not due again until the state file changes. */
	assert_int_equal(unlink(copy), 0);
	assert_int_equal(knobs_save_copy(ks), 0);
	assert_int_equal(access(copy, F_OK), -1);

	/* The armed write needs no save; the copy is not touched. */
	assert_int_equal(knobs_save_copy(ks), 0);
	put(copy, "stale\n");
	assert_int_equal(knobs_set(ks, thr, "16", "storm"), 0);
	assert_file(t->thr, "16");
	assert_int_equal(due, 1);
	/* A restore changes the state file: the copy goes first. */
	assert_int_equal(knobs_restore(ks, thr, "end"), 0);
	assert_int_equal(due, 2);
	assert_int_equal(access(copy, F_OK), -1);
	/* Nothing held, nothing armed: no file at all. */
	assert_int_equal(knobs_restore_all(ks, "stop"), 0);
	assert_null(state_text(t));
	assert_int_equal(knobs_save_copy(ks), 0);
	assert_int_equal(access(copy, F_OK), -1);
	knobs_free(ks);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_format_roundtrip),
		cmocka_unit_test_setup_teardown(test_read_one_line_fd, tree_setup, tree_teardown),
		cmocka_unit_test_setup_teardown(test_arm_at_value, tree_setup, tree_teardown),
		cmocka_unit_test_setup_teardown(test_armed_write, tree_setup, tree_teardown),
		cmocka_unit_test_setup_teardown(test_armed_write_after_operator_change, tree_setup,
						tree_teardown),
		cmocka_unit_test(test_parse_refuses_bad_files),
		cmocka_unit_test_setup_teardown(test_original_saved_before_write_and_restored,
						tree_setup, tree_teardown),
		cmocka_unit_test_setup_teardown(test_recover_after_crash, tree_setup, tree_teardown),
		cmocka_unit_test_setup_teardown(test_recover_leaves_foreign_values, tree_setup,
						tree_teardown),
		cmocka_unit_test_setup_teardown(test_recover_from_other_boot_restores_nothing,
						tree_setup, tree_teardown),
		cmocka_unit_test_setup_teardown(test_damaged_state_file_recovers_from_copy, tree_setup,
						tree_teardown),
		cmocka_unit_test_setup_teardown(test_recover_validates_what_it_writes, tree_setup,
						tree_teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_state_file_is_quarantined, tree_setup,
						tree_teardown),
		cmocka_unit_test_setup_teardown(test_state_file_symlink_not_followed, tree_setup,
						tree_teardown),
		cmocka_unit_test_setup_teardown(test_external_change_releases_knob, tree_setup,
						tree_teardown),
		cmocka_unit_test_setup_teardown(test_external_change_seen_before_write, tree_setup,
						tree_teardown),
		cmocka_unit_test_setup_teardown(test_external_change_reassert, tree_setup,
						tree_teardown),
		cmocka_unit_test_setup_teardown(test_failed_write_changes_nothing, tree_setup,
						tree_teardown),
		cmocka_unit_test_setup_teardown(test_unwritable_runtime_dir_blocks_write, tree_setup,
						tree_teardown),
		cmocka_unit_test_setup_teardown(test_dry_run_writes_nothing, tree_setup,
						tree_teardown),
		cmocka_unit_test_setup_teardown(test_refuses_bad_values, tree_setup, tree_teardown),
		cmocka_unit_test_setup_teardown(test_apply_once_until_changed, tree_setup,
						tree_teardown),
		cmocka_unit_test_setup_teardown(test_reclaim, tree_setup, tree_teardown),
		cmocka_unit_test_setup_teardown(test_copy_later_and_batched_arming, tree_setup,
						tree_teardown),
	};

	log_set_max_level(LOG_WARNING);
	return cmocka_run_group_tests_name("state", tests, NULL, NULL);
}
