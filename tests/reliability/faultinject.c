// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * faultinject.so: an LD_PRELOAD fault injector for the reliability tests.
 *
 * $FAULTINJECT_RULES names a rules file, read again at every open(), so a
 * test changes the faults of a running process by replacing that file
 * (atomically: write another, rename it over).  One rule a line:
 *
 *   open ERRNO SUBSTRING    open() for writing of a path containing SUBSTRING
 *                           fails (reads are left alone: an attribute one may
 *                           not write still reads)
 *   write ERRNO SUBSTRING   open() succeeds, every write() to that fd fails
 *   rcvbuf BYTES -          setsockopt(SO_RCVBUF[FORCE]) asks for BYTES instead
 *   filter ERRNO -          setsockopt(SO_ATTACH_FILTER) fails (the kernel refuses
 *                           smmud's exit filter)
 *
 * No rule, and no fault: every fsync() and fdatasync() is noted too, as
 * "fsync 0 fdN", so a test can tell that none was made.
 * ERRNO is a name (EIO, EACCES, ENOENT, ENOSPC, EROFS).  Every injected
 * fault is appended as one line to $FAULTINJECT_LOG (if set), so a test
 * can count them.  Only the calls smmud makes through the PLT are seen
 * (libc-internal opens, e.g. mkostemp's or fopen's, are not).
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

int open(const char *path, int flags, ...);
int open64(const char *path, int flags, ...);
int openat(int dirfd, const char *path, int flags, ...);
int openat64(int dirfd, const char *path, int flags, ...);
int __open_2(const char *path, int flags);
int __open64_2(const char *path, int flags);
int __openat_2(int dirfd, const char *path, int flags);
ssize_t write(int fd, const void *buf, size_t n);
int close(int fd);
int setsockopt(int fd, int level, int name, const void *val, socklen_t len);
int fsync(int fd);
int fdatasync(int fd);

#define MAX_FD 65536
static volatile int fd_fault[MAX_FD]; /* errno for write(), 0: none */

static const struct {
	const char *name;
	int value;
} errnos[] = {
	{ "EIO", EIO }, { "EACCES", EACCES }, { "ENOENT", ENOENT }, { "ENOSPC", ENOSPC },
	{ "EROFS", EROFS }, { "EPERM", EPERM }, { "ENODEV", ENODEV }, { "EBUSY", EBUSY },
};

static int errno_from_name(const char *s)
{
	for (size_t i = 0; i < sizeof(errnos) / sizeof(errnos[0]); i++)
		if (strcmp(errnos[i].name, s) == 0)
			return errnos[i].value;
	return atoi(s);
}

/* Raw syscalls only below: no recursion into ourselves. */
static void note(const char *op, const char *arg, long value)
{
	const char *log = getenv("FAULTINJECT_LOG");
	char line[600];
	int fd, n;

	if (!log)
		return;
	n = snprintf(line, sizeof(line), "%s %ld %s\n", op, value, arg ? arg : "-");
	if (n < 0 || (size_t)n >= sizeof(line))
		n = (int)strlen(line);
	fd = (int)syscall(SYS_openat, AT_FDCWD, log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	(void)!syscall(SYS_write, fd, line, (size_t)n);
	syscall(SYS_close, fd);
}

/*
 * The first rule for op whose SUBSTRING is in subject (any subject for
 * "-"): its number (errno or bytes), or 0 if none.
 */
static long rule_for(const char *op, const char *subject)
{
	const char *rules = getenv("FAULTINJECT_RULES");
	char buf[8192], *line, *save = NULL;
	long len;
	int fd;

	if (!rules)
		return 0;
	fd = (int)syscall(SYS_openat, AT_FDCWD, rules, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	len = syscall(SYS_read, fd, buf, sizeof(buf) - 1);
	syscall(SYS_close, fd);
	if (len <= 0)
		return 0;
	buf[len] = 0;
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char o[16], num[32], sub[512];

		if (sscanf(line, "%15s %31s %511s", o, num, sub) != 3 || strcmp(o, op) != 0)
			continue;
		if (strcmp(sub, "-") != 0 && (!subject || !strstr(subject, sub)))
			continue;
		return strcmp(op, "rcvbuf") == 0 ? atol(num) : errno_from_name(num);
	}
	return 0;
}

typedef int (*open_fn)(const char *, int, ...);
typedef int (*openat_fn)(int, const char *, int, ...);

static int after_open(int fd, long write_errno)
{
	if (fd < 0 || fd >= MAX_FD)
		return fd;
	fd_fault[fd] = (int)write_errno;
	return fd;
}

/*
 * A write rule also drops O_TRUNC: like a sysfs attribute, a file whose
 * write fails keeps its value (the tests' fake knobs are regular files).
 */
static long write_rule(const char *path, int *flags)
{
	/*
	 * A read-only fd is never written: its number, closed and reused by
	 * an open we do not see (mkostemp's), must not inherit the fault.
	 */
	long e = (*flags & O_ACCMODE) == O_RDONLY ? 0 : rule_for("write", path);

	if (e > 0)
		*flags &= ~O_TRUNC;
	return e;
}

static int before_open(const char *path, int flags)
{
	long e = (flags & O_ACCMODE) == O_RDONLY ? 0 : rule_for("open", path);

	if (e > 0) {
		note("open", path, e);
		errno = (int)e;
		return -1;
	}
	return 0;
}

/* What a rule matches for openat(): a relative path joined to its directory's own. */
static const char *subject_of(int dirfd, const char *path, char *buf, size_t size)
{
	char link[64];
	long n;

	if (dirfd == AT_FDCWD || !path || path[0] == '/')
		return path;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", dirfd);
	n = syscall(SYS_readlinkat, AT_FDCWD, link, buf, size - 1);
	if (n <= 0 || (size_t)n + 1 + strlen(path) >= size)
		return path;
	buf[n] = '/';
	strcpy(buf + n + 1, path);
	return buf;
}

static mode_t mode_arg(int flags, va_list ap)
{
	return (flags & (O_CREAT | __O_TMPFILE)) ? va_arg(ap, mode_t) : 0;
}

#define OPEN_WRAPPER(fn)                                                              \
	int fn(const char *path, int flags, ...)                                       \
	{                                                                              \
		static open_fn real;                                                   \
		va_list ap;                                                            \
		mode_t mode;                                                           \
		long e;                                                                \
		va_start(ap, flags);                                                   \
		mode = mode_arg(flags, ap);                                            \
		va_end(ap);                                                            \
		if (!real)                                                             \
			real = (open_fn)dlsym(RTLD_NEXT, #fn);                         \
		if (before_open(path, flags) < 0)                                      \
			return -1;                                                     \
		e = write_rule(path, &flags);                                          \
		return after_open(real(path, flags, mode), e);                         \
	}
OPEN_WRAPPER(open)
OPEN_WRAPPER(open64)

#define OPENAT_WRAPPER(fn)                                                            \
	int fn(int dirfd, const char *path, int flags, ...)                            \
	{                                                                              \
		static openat_fn real;                                                 \
		char full[4096];                                                       \
		const char *subject = subject_of(dirfd, path, full, sizeof(full));     \
		va_list ap;                                                            \
		mode_t mode;                                                           \
		long e;                                                                \
		va_start(ap, flags);                                                   \
		mode = mode_arg(flags, ap);                                            \
		va_end(ap);                                                            \
		if (!real)                                                             \
			real = (openat_fn)dlsym(RTLD_NEXT, #fn);                       \
		if (before_open(subject, flags) < 0)                                   \
			return -1;                                                     \
		e = write_rule(subject, &flags);                                       \
		return after_open(real(dirfd, path, flags, mode), e);                  \
	}
OPENAT_WRAPPER(openat)
OPENAT_WRAPPER(openat64)

int __open_2(const char *path, int flags)
{
	return open(path, flags);
}

int __open64_2(const char *path, int flags)
{
	return open64(path, flags);
}

int __openat_2(int dirfd, const char *path, int flags)
{
	return openat(dirfd, path, flags);
}

ssize_t write(int fd, const void *buf, size_t n)
{
	static ssize_t (*real)(int, const void *, size_t);

	if (fd >= 0 && fd < MAX_FD && fd_fault[fd]) {
		char what[32];

		snprintf(what, sizeof(what), "fd%d", fd);
		note("write", what, fd_fault[fd]);
		errno = fd_fault[fd];
		return -1;
	}
	if (!real)
		real = (ssize_t(*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
	return real(fd, buf, n);
}

int close(int fd)
{
	static int (*real)(int);

	if (fd >= 0 && fd < MAX_FD)
		fd_fault[fd] = 0;
	if (!real)
		real = (int (*)(int))dlsym(RTLD_NEXT, "close");
	return real(fd);
}

int setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
	static int (*real)(int, int, int, const void *, socklen_t);
	int small;
	long b;

	if (!real)
		real = (int (*)(int, int, int, const void *, socklen_t))dlsym(RTLD_NEXT,
									  "setsockopt");
	if (level == SOL_SOCKET && (name == SO_RCVBUF || name == SO_RCVBUFFORCE) &&
	    len == sizeof(int) && (b = rule_for("rcvbuf", NULL)) > 0) {
		small = (int)b;
		note("rcvbuf", NULL, b);
		return real(fd, level, name, &small, len);
	}
	if (level == SOL_SOCKET && name == SO_ATTACH_FILTER && (b = rule_for("filter", NULL)) > 0) {
		note("filter", NULL, b);
		errno = (int)b;
		return -1;
	}
	return real(fd, level, name, val, len);
}

static int synced(int fd, const char *name)
{
	int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, name);
	char what[32];

	snprintf(what, sizeof(what), "fd%d", fd);
	note("fsync", what, 0);
	return real(fd);
}

int fsync(int fd)
{
	return synced(fd, "fsync");
}

int fdatasync(int fd)
{
	return synced(fd, "fdatasync");
}
