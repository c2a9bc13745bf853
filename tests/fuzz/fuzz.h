/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * What every fuzz target shares: NUL-terminated copies of the input (the
 * parsers take C strings, as they get them from read_one_line_file() or
 * getline()), splitting one input into several fields at NUL bytes (a NUL
 * can never be inside a field), a private scratch directory for targets
 * that feed the real file readers, and quiet logging.
 *
 * FUZZ_CHECK() is an invariant of the code under test: a violation aborts,
 * so libFuzzer records it as a crash like any sanitizer report.
 */

#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define FUZZ_CHECK(cond)                                                                    \
	do {                                                                                \
		if (!(cond)) {                                                              \
			fprintf(stderr, "%s:%d: invariant violated: %s\n", __FILE__, __LINE__, \
				#cond);                                                     \
			abort();                                                            \
		}                                                                           \
	} while (0)

/* Logs cost time and fill the output; SMMUD_FUZZ_LOG=1 shows them. */
static inline void fuzz_quiet_logs(void)
{
	log_set_target_stderr(true);
	log_set_max_level(getenv("SMMUD_FUZZ_LOG") ? LOG_DEBUG : LOG_EMERG);
}

/* The input as a C string (up to its first NUL); never NULL. */
static inline char *fuzz_strndup(const uint8_t *data, size_t size)
{
	char *s = strndup((const char *)data, size);

	if (!s)
		abort();
	return s;
}

/*
 * Splits data at NUL bytes into at most max fields (the last one takes
 * the rest, NULs and all, cut at its first NUL).  Fields are malloc'd
 * strings; returns how many there are (>= 1).  Missing fields are NULL.
 */
static inline size_t fuzz_split(const uint8_t *data, size_t size, char **fields, size_t max)
{
	size_t n = 0, start = 0;

	for (size_t i = 0; i < max; i++)
		fields[i] = NULL;
	for (size_t i = 0; i <= size && n < max; i++) {
		if (i == size || data[i] == 0) {
			fields[n++] = fuzz_strndup(data + start, i - start);
			start = i + 1;
			if (i == size)
				break;
		}
	}
	return n;
}

static inline void fuzz_free_fields(char **fields, size_t max)
{
	for (size_t i = 0; i < max; i++) {
		free(fields[i]);
		fields[i] = NULL;
	}
}

static inline int fuzz_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path) < 0 ? -1 : 0;
}

/* rm -rf */
static inline void fuzz_rm_rf(const char *path)
{
	(void)nftw(path, fuzz_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static char *fuzz_scratch_dir;

static inline void fuzz_scratch_cleanup(void)
{
	if (fuzz_scratch_dir && !getenv("SMMUD_FUZZ_KEEP"))
		fuzz_rm_rf(fuzz_scratch_dir);
}

/* A private directory for this process, removed at exit. */
static inline const char *fuzz_scratch(void)
{
	if (!fuzz_scratch_dir) {
		/* tmpfs where there is one: state files are fsync'd, a disk makes that slow. */
		const char *tmp = getenv("TMPDIR");
		char *t;

		if (!tmp || !*tmp)
			tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";

		if (asprintf(&t, "%s/smmud-fuzz.XXXXXX", tmp) < 0 || !mkdtemp(t))
			abort();
		fuzz_scratch_dir = t;
		atexit(fuzz_scratch_cleanup);
	}
	return fuzz_scratch_dir;
}

/* "<scratch>/<rel>", malloc'd. */
static inline char *fuzz_path(const char *rel)
{
	char *p;

	if (asprintf(&p, "%s/%s", fuzz_scratch(), rel) < 0)
		abort();
	return p;
}

/* Creates every missing directory of path (not the last component). */
static inline void fuzz_mkdir_parents(const char *path)
{
	char *p = strdup(path);

	if (!p)
		abort();
	for (char *s = strchr(p + 1, '/'); s; s = strchr(s + 1, '/')) {
		*s = 0;
		(void)mkdir(p, 0755);
		*s = '/';
	}
	free(p);
}

/* Writes size bytes to path (created with its parents, truncated). */
static inline void fuzz_write_file(const char *path, const void *data, size_t size)
{
	int fd;

	fuzz_mkdir_parents(path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || (size > 0 && write(fd, data, size) != (ssize_t)size)) {
		perror(path);
		abort();
	}
	close(fd);
}

static inline void fuzz_write_string(const char *path, const char *s)
{
	fuzz_write_file(path, s, strlen(s));
}
