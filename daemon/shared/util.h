/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * Small helpers every smmud file uses: cleanup attributes (so error paths
 * need no goto ladders), string predicates and -errno returning wrappers
 * around the file I/O the daemon does on sysfs, procfs and debugfs.
 */

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))
#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
/* For entry points and callbacks: the pointer, asserted non-NULL (userdata). */
#define ASSERT_PTR(p)                          \
	({                                     \
		__typeof__(p) _ptr = (p);      \
		assert(_ptr);                  \
		_ptr;                          \
	})
/* A place the code cannot get to (the default of a switch over every case). */
#define assert_not_reached() abort()
#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x)
#ifndef MIN
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#endif
#ifndef MAX
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#endif

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

/* *p becomes a copy of s (NULL: none): 1 if it changed, 0 if it held that already, or -ENOMEM. */
int free_and_strdup(char **p, const char *s);

/* Returns the rest of s after prefix, or NULL if s does not start with it. */
static inline const char *startswith(const char *s, const char *prefix)
{
	size_t n = strlen(prefix);

	return strncmp(s, prefix, n) == 0 ? s + n : NULL;
}

/* Whether s ends with suffix. */
static inline bool endswith(const char *s, const char *suffix)
{
	size_t n = strlen(s), l = strlen(suffix);

	return n >= l && memcmp(s + n - l, suffix, l) == 0;
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
int read_one_line_fileat(int dir_fd, const char *path, char **ret);
/* The first line of an open file, read with pread() from offset 0 (the fd's offset is left alone). */
int read_one_line_fd(int fd, char **ret);
int write_string_file(const char *path, const char *s);
/* The same, path relative to dir_fd (or AT_FDCWD). */
int write_string_fileat(int dir_fd, const char *path, const char *s);

/*
 * Reads fd whole, from its current offset to the end: at most max bytes
 * (-EFBIG for more), NUL-terminated in *ret (malloc'd), its length in
 * *ret_size (may be NULL).  -EBADMSG if the data holds a NUL byte: every
 * reader of these files handles text, which would end there.
 */
int read_full_fd(int fd, size_t max, char **ret, size_t *ret_size);
/* The same for the file at path, relative to dir_fd (or AT_FDCWD), opened read-only. */
int read_full_fileat(int dir_fd, const char *path, size_t max, char **ret);
int read_full_file(const char *path, size_t max, char **ret);

/*
 * Writes data to path atomically: a temporary file in the same directory,
 * renamed over it.  Readers, and smmud after a crash of its own, see the
 * old or the new contents, never a mix.  No fsync: what smmud writes (the
 * state file, the metrics) a reboot makes meaningless anyway (the knobs'
 * values do not survive one either), and no write on the way of a storm
 * may wait for a disk.
 */
int write_file_atomic(const char *path, const void *data, size_t size, mode_t mode);

/*
 * The runtime directory (/run/smmud): created 0755 if missing; what is
 * there must be a real directory, not a symlink (-ENOTDIR), so nothing
 * smmud writes there (state file, private socket) goes elsewhere.
 */
int runtime_dir_prepare(const char *dir);

/*
 * One smmud per runtime directory: dir prepared, then an exclusive flock
 * on dir/lock, held by the fd returned for as long as smmud runs (the
 * kernel drops it with the process, a crash included).  -EBUSY: another
 * process holds it.
 */
int runtime_dir_lock(const char *dir, int *ret_fd);

/* malloc'd "a/b", with exactly one slash between the parts. */
char *path_join(const char *a, const char *b);

uint64_t now_usec(clockid_t clock);
/* A CLOCK_MONOTONIC time as CLOCK_REALTIME now sees it (0: 0, "never"; never before the epoch). */
uint64_t monotonic_to_realtime(uint64_t usec, uint64_t now_monotonic, uint64_t now_realtime);

#define USEC_PER_MSEC ((uint64_t)1000)
#define USEC_PER_SEC ((uint64_t)1000000)
#define USEC_PER_MINUTE (60 * USEC_PER_SEC)
#define USEC_PER_HOUR (60 * USEC_PER_MINUTE)
#define USEC_INFINITY UINT64_MAX

void strv_free(char **l);
static inline void strv_freep(char ***p)
{
	strv_free(*p);
}
#define _cleanup_strv_free_ _cleanup_(strv_freep)
size_t strv_length(char *const *l);
/* Appends a copy of s; the array stays NULL-terminated. */
int strv_extend(char ***l, const char *s);
int strv_extendf(char ***l, const char *fmt, ...) _printf_(2, 3);

/*
 * "<root>/<path>": every sysfs, procfs, debugfs and /dev path goes through
 * this, so --root (the test seam) moves all of them at once.
 */
char *root_path(const char *root, const char *path);

/* "yes"/"no", "true"/"false", "on"/"off", "1"/"0". */
int parse_boolean(const char *s);
/* Bytes: a decimal number with an optional K, M, G, T or P suffix (base 1024). */
int parse_size(const char *s, uint64_t *ret);
/* A time span: a decimal number with us, ms, s, min or h; bare = seconds. */
int parse_timespan(const char *s, uint64_t *ret_usec);
/* Human-readable forms of the above, into buf. */
const char *format_bytes(char *buf, size_t size, uint64_t bytes);
const char *format_timespan(char *buf, size_t size, uint64_t usec);
#define FORMAT_BYTES_MAX 32
#define FORMAT_TIMESPAN_MAX 32

/* Target of a symlink (relative to dir_fd, or AT_FDCWD), malloc'd; -ENAMETOOLONG past 64 KiB. */
/*
 * The entries of the directory open at fd (read from its current
 * position, so from its start when just opened), through getdents64():
 * fdopendir() costs three more syscalls per directory (an fstat and two
 * fcntls), on paths that list a /proc directory for each process probed.
 */
typedef struct DirReader {
	int fd;
	size_t pos, len;
	char buf[8192] __attribute__((aligned(__alignof__(struct dirent64))));
} DirReader;

/* Not a compound literal: that would clear the buffer too. */
static inline void dir_reader_init(DirReader *d, int fd)
{
	d->fd = fd;
	d->pos = d->len = 0;
}

/* The next entry: 1 and *ret, 0 at the end, or -errno. */
int dir_reader_next(DirReader *d, const struct dirent64 **ret);

int readlinkat_malloc(int dir_fd, const char *path, char **ret);
int readlink_malloc(const char *path, char **ret);
/* Last component of a path (no allocation). */
const char *path_basename(const char *path);
/* "0-3,8,10-11": the number of CPUs or nodes in a kernel list. */
int parse_cpu_list_count(const char *s, unsigned *ret);
/* Glob match (fnmatch(3) without flags). */
bool glob_match(const char *pattern, const char *s);

/*
 * Text smmud did not write itself (config values and file names, a VMM's
 * comm, sysfs and procfs contents) may hold any bytes.  Where it leaves
 * smmud as text (D-Bus strings must be valid UTF-8, and messages end up on
 * terminals), every byte that is not part of a valid UTF-8 character,
 * every control character (C0, DEL, C1) and the backslash itself are
 * written as \xNN (the backslash as \\), so the result is valid UTF-8,
 * printable, and still says exactly which bytes were there.
 * ESCAPE_KEEP_NEWLINE leaves \n as it is (multi-line texts).
 */
typedef enum EscapeFlags {
	ESCAPE_KEEP_NEWLINE = 1 << 0,
} EscapeFlags;

/*
 * The one UTF-8 decoder: the length (1-4) of the valid UTF-8 character
 * at s (RFC 3629: no overlong form, no surrogate, nothing above
 * U+10FFFF) and its code point in *ret_cp (may be NULL), or 0 for a
 * byte that starts none.
 */
size_t utf8_char_len(const char *s, uint32_t *ret_cp);

/* Whether s needs no escaping. */
bool text_is_safe(const char *s, EscapeFlags flags);
/* malloc'd escaped copy of s (a plain copy if it is safe already). */
char *text_escape(const char *s, EscapeFlags flags);
