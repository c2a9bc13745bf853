// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The configuration loader, whole: the input is written as smmud.conf and
 * up to seven drop-ins (fields separated by NUL bytes: main file, then
 * smmud.conf.d/10-*.conf, 11-*.conf, ...) and loaded by config_load(),
 * the same call smmud makes at start and on SIGHUP (inih and the lint in
 * front of it, every key's parser, cross-key validation, profile
 * overlays, dump and digest).
 *
 * Invariants beyond "no crash":
 *  - a failed load reports at least one error, a good one none;
 *  - a good load read every line as written: none longer than inih's
 *    buffer (it would be split), none with a comment after text (inih
 *    would cut " ;" off a value), none of "Key: value" (smmud.conf(5));
 *  - the canonical dump of a loaded config loads again, into a config
 *    with the same dump and digest (what smmuctl's digest check relies on);
 *  - profile matching with the loaded config returns settings that are
 *    the defaults or one of the profiles' effective settings.
 */
#include "config.h"
#include "fuzz.h"
#include "profile.h"

#define MAX_DROPINS 7

static char *main_file, *dropin_dir, *dump_file;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_quiet_logs();
	main_file = fuzz_path("smmud.conf");
	dropin_dir = fuzz_path("smmud.conf.d");
	dump_file = fuzz_path("dump.conf");
	if (mkdir(dropin_dir, 0755) < 0)
		abort();
	return 0;
}

static void check_settings_for(const Config *c)
{
	static const char *const hosts[] = { "testhost", "web-01", "" };
	static const char *const smmus[] = { "smmu3.0x0000000009050000", "smmu3.0x0", "" };

	for (size_t h = 0; h < ELEMENTSOF(hosts); h++)
		for (int k = 0; k < _KERNEL_CAP_MAX; k++) {
			HostFacts host = {
				.hostname = hosts[h],
				.machine_id = h == 2 ? NULL : "0123456789abcdef0123456789abcdef",
				.kernel = (KernelCapability)k,
				.n_smmus = (unsigned)h * 3,
			};

			for (size_t s = 0; s < ELEMENTSOF(smmus); s++) {
				SmmuFacts smmu = { .name = smmus[s], .range_invalidation = s & 1 };
				const char *profile = NULL;
				const SmmuSettings *set =
					config_settings_for(c, &host, &smmu, &profile);
				bool found = set == &c->defaults && !profile;

				for (size_t i = 0; !found && i < c->n_profiles; i++)
					found = set == &c->profiles[i].effective &&
						streq_ptr(profile, c->profiles[i].name);
				FUZZ_CHECK(found);
			}
		}
}

/*
 * Whether inih, left to itself, could have read text other than as
 * written (the lint must have refused it then): the rules of
 * smmud.conf(5), SYNTAX, checked here on their own.
 */
static bool taken_as_written(const char *text)
{
	const char *space = " \t\n\v\f\r";

	for (const char *line = text; *line;) {
		size_t len = strcspn(line, "\n");
		const char *next = line + len + (line[len] == '\n');
		const char *s = line, *end = line + len;

		if (len > 0 && line[len - 1] == '\r')
			end--;
		if ((size_t)(end - line) > CONFIG_LINE_MAX)
			return false;
		if (line == text && startswith(s, "\xEF\xBB\xBF"))
			s += 3;
		while (s < end && strchr(space, *s))
			s++;
		if (s < end && *s != '#' && *s != ';') {
			const char *eq = memchr(s, '=', (size_t)(end - s));
			const char *colon = memchr(s, ':', (size_t)(end - s));

			for (const char *q = s; q + 1 < end; q++)
				if (strchr(space, *q) && (q[1] == '#' || q[1] == ';'))
					return false;
			if (*s != '[' && colon && (!eq || colon < eq))
				return false;
		}
		line = next;
	}
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *fields[1 + MAX_DROPINS];
	_cleanup_strv_free_ char **errors = NULL, **errors2 = NULL;
	_cleanup_config_free_ Config *c = NULL, *c2 = NULL;
	bool as_written = true;
	size_t n;
	int r;

	n = fuzz_split(data, size, fields, ELEMENTSOF(fields));
	/* The main file, and a fresh drop-in directory. */
	fuzz_write_string(main_file, fields[0]);
	as_written = taken_as_written(fields[0]);
	fuzz_rm_rf(dropin_dir);
	if (mkdir(dropin_dir, 0755) < 0)
		abort();
	for (size_t i = 1; i < n; i++) {
		char name[64];
		_cleanup_free_ char *p = NULL;

		/* Not every name is a drop-in: only *.conf are read. */
		snprintf(name, sizeof(name), "%zu-fuzz.%s", 10 + i, i == 5 ? "conf~" : "conf");
		p = path_join(dropin_dir, name);
		if (!p)
			abort();
		fuzz_write_string(p, fields[i]);
		if (i != 5)
			as_written = as_written && taken_as_written(fields[i]);
	}
	fuzz_free_fields(fields, ELEMENTSOF(fields));

	r = config_load(&(ConfigSource){ .file = main_file, .file_required = true,
					 .dropin_dir = dropin_dir },
			&c, &errors);
	FUZZ_CHECK(r == 0 || r == -EINVAL || r == -ENOMEM);
	if (r < 0) {
		FUZZ_CHECK(!c);
		FUZZ_CHECK(r == -ENOMEM || strv_length(errors) > 0);
		return 0;
	}
	FUZZ_CHECK(c && c->dump && strlen(c->digest) == SHA256_HEX_SIZE - 1);
	FUZZ_CHECK(strv_length(errors) == 0);
	FUZZ_CHECK(as_written);

	check_settings_for(c);

	/* The canonical dump is a config of its own, with the same meaning. */
	fuzz_write_string(dump_file, c->dump);
	r = config_load(&(ConfigSource){ .file = dump_file, .file_required = true,
					 .dropin_dir = "" },
			&c2, &errors2);
	if (r < 0) {
		for (size_t i = 0; errors2 && errors2[i]; i++)
			fprintf(stderr, "dump reload: %s\n", errors2[i]);
		fprintf(stderr, "dump was:\n%s\n", c->dump);
	}
	FUZZ_CHECK(r == 0);
	if (!streq(c->dump, c2->dump))
		fprintf(stderr, "dump:\n%s\nreloaded dump:\n%s\n", c->dump, c2->dump);
	FUZZ_CHECK(streq(c->dump, c2->dump));
	FUZZ_CHECK(streq(c->digest, c2->digest));
	return 0;
}
