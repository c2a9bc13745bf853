// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The reload path's error handling at size: Reload through the private
 * socket of a real Manager (fuzz-manager.h), with drop-ins made large from
 * the input.  Byte 0 picks the size of each drop-in: none, 1 KiB, 64 KiB,
 * the largest a file may have (CONFIG_FILE_SIZE_MAX) or one byte more;
 * the rest is NUL-separated: the main file's text, then up to four pieces
 * of text, each repeated (and cut) to that size as a drop-in, so four of
 * the largest reach the bound on all files together.
 *
 * Invariants: every Reload is answered (on main a 256 KiB junk drop-in
 * took longer than sd-bus's call timeout); a refused one leaves the digest
 * as it was and reports at most CONFIG_ERRORS_MAX errors, then one line
 * counting the rest; a drop-in over the size bound is refused by its size
 * alone, with one error naming it.  libFuzzer's -timeout turns a reload
 * that costs more than linear time at these sizes into a failure.
 */
#include "fuzz-manager.h"

#define MAX_DROPINS 4

static const char base_config[] = "[Manager]\nMachined=no\nTaskStats=no\nProcConnector=no\n";
static char *conf, *dropin_dir;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_quiet_logs();
	conf = fuzz_path("smmud.conf");
	dropin_dir = fuzz_path("smmud.conf.d");
	if (mkdir(dropin_dir, 0755) < 0)
		abort();
	fuzz_manager_start(conf, base_config, dropin_dir);
	return 0;
}

/* text repeated to exactly size bytes (an empty text: newlines). */
static void write_sized(const char *path, const char *text, size_t size)
{
	_cleanup_free_ char *buf = malloc(size + 1);
	size_t n = strlen(text);

	if (!buf)
		abort();
	for (size_t i = 0; i < size; i++)
		buf[i] = n ? text[i % n] : '\n';
	fuzz_write_file(path, buf, size);
}

static size_t count_lines(const char *s)
{
	size_t n = *s ? 1 : 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t sizes[] = { 0, 1024, 64 * 1024, CONFIG_FILE_SIZE_MAX,
					CONFIG_FILE_SIZE_MAX + 1 };
	_cleanup_(reply_done) Reply rep = {};
	_cleanup_free_ char *before = NULL;
	char *f[1 + MAX_DROPINS];
	size_t n, dropin_size;

	if (size < 1)
		return 0;
	dropin_size = sizes[data[0] % ELEMENTSOF(sizes)];
	n = fuzz_split(data + 1, size - 1, f, ELEMENTSOF(f));
	fuzz_write_string(conf, f[0]);
	for (size_t i = 1; i < n && dropin_size > 0; i++) {
		char name[32];
		_cleanup_free_ char *p = NULL;

		snprintf(name, sizeof(name), "%zu-fuzz.conf", 10 + i);
		p = path_join(dropin_dir, name);
		if (!p)
			abort();
		write_sized(p, f[i], dropin_size);
	}
	fuzz_free_fields(f, ELEMENTSOF(f));

	before = get_digest();
	call0("Reload", &rep);
	if (rep.error) {
		_cleanup_free_ char *after = get_digest();
		size_t lines = count_lines(rep.error_message);

		FUZZ_CHECK(streq(before, after));
		if (streq(rep.error_name, SMMUD_ERROR_CONFIG_INVALID)) {
			FUZZ_CHECK(lines >= 1 && lines <= CONFIG_ERRORS_MAX + 1);
			if (lines == CONFIG_ERRORS_MAX + 1)
				FUZZ_CHECK(strstr(rep.error_message, "\n... and ") != NULL);
			if (dropin_size > CONFIG_FILE_SIZE_MAX && n > 1)
				FUZZ_CHECK(strstr(rep.error_message, "11-fuzz.conf: too large ("));
		}
	}

	/* Back to the base config, for the next input. */
	fuzz_rm_rf(dropin_dir);
	if (mkdir(dropin_dir, 0755) < 0)
		abort();
	fuzz_write_string(conf, base_config);
	call0("Reload", &rep);
	FUZZ_CHECK(!rep.error);
	return 0;
}
