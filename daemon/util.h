/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * Small helpers every smmud file uses: cleanup attributes (so error paths
 * need no goto ladders), string predicates and -errno returning wrappers
 * around the file I/O the daemon does on sysfs, procfs and debugfs.
 */

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))
#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))

static inline void freep(void *p)
{
	free(*(void **)p);
}

static inline void closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;

		close(*fd);
		errno = saved;
	}
}

static inline void fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}

static inline void closedirp(DIR **d)
{
	if (*d)
		closedir(*d);
}

#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)
#define _cleanup_fclose_ _cleanup_(fclosep)
#define _cleanup_closedir_ _cleanup_(closedirp)

/* Hand a resource out of a cleanup-annotated variable. */
#define TAKE_PTR(p)                            \
	({                                     \
		__typeof__(p) _took = (p);     \
		(p) = NULL;                    \
		_took;                         \
	})
#define TAKE_FD(fd)                            \
	({                                     \
		int _took = (fd);              \
		(fd) = -1;                     \
		_took;                         \
	})

static inline bool streq(const char *a, const char *b)
{
	return strcmp(a, b) == 0;
}

static inline bool streq_ptr(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return streq(a, b);
}

/* Returns the rest of s after prefix, or NULL if s does not start with it. */
static inline const char *startswith(const char *s, const char *prefix)
{
	size_t n = strlen(prefix);

	return strncmp(s, prefix, n) == 0 ? s + n : NULL;
}

static inline int negative_errno(void)
{
	return errno > 0 ? -errno : -EIO;
}

/* Strict decimal parsers: the whole string (minus one trailing newline). */
int safe_atou64(const char *s, uint64_t *ret);
int safe_atou32(const char *s, uint32_t *ret);
int safe_atoi(const char *s, int *ret);

/*
 * Reads the first line of a small file (sysfs attribute, /proc entry),
 * without its newline.  *ret is malloc'd.
 */
int read_one_line_file(const char *path, char **ret);

/* Writes s to an existing file in one write(2) (as sysfs wants). */
int write_string_file(const char *path, const char *s);

/*
 * Writes data to path atomically: a temporary file in the same directory,
 * fsync, rename.  Readers see the old or the new contents, never a mix.
 */
int write_file_atomic(const char *path, const void *data, size_t size, mode_t mode);

/* malloc'd "a/b", with exactly one slash between the parts. */
char *path_join(const char *a, const char *b);

uint64_t now_usec(clockid_t clock);
