// SPDX-License-Identifier: GPL-2.0-or-later
#include <fcntl.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>

#include "util.h"

static int parse_u64(const char *s, uint64_t max, uint64_t *ret)
{
	char *end;
	unsigned long long v;

	/* strtoull() would skip any leading white space and then take a sign. */
	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno == ERANGE || v > max)
		return -ERANGE;
	if (end == s)
		return -EINVAL;
	if (*end == '\n')
		end++;
	if (*end)
		return -EINVAL;
	*ret = v;
	return 0;
}

int safe_atou64(const char *s, uint64_t *ret)
{
	return parse_u64(s, UINT64_MAX, ret);
}

int safe_atou32(const char *s, uint32_t *ret)
{
	uint64_t v;
	int r = parse_u64(s, UINT32_MAX, &v);

	if (r < 0)
		return r;
	*ret = (uint32_t)v;
	return 0;
}

int safe_atoi(const char *s, int *ret)
{
	uint64_t v;
	bool neg = s && *s == '-';
	int r = parse_u64(neg ? s + 1 : s, (uint64_t)INT_MAX + neg, &v);

	if (r < 0)
		return r;
	*ret = neg ? (int)-(int64_t)v : (int)v;
	return 0;
}

int read_one_line_file(const char *path, char **ret)
{
	return read_one_line_fileat(AT_FDCWD, path, ret);
}

int read_one_line_fd(int fd, char **ret)
{
	char buf[4096], *nl, *line;
	size_t size = 0;

	/*
	 * From offset 0 each time: a sysfs attribute shows its value anew.
	 * It comes whole in the first read; stopping at its newline spares
	 * the read that would only find the end.
	 */
	nl = NULL;
	while (!nl && size < sizeof(buf) - 1) {
		ssize_t n = pread(fd, buf + size, sizeof(buf) - 1 - size, (off_t)size);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return negative_errno();
		}
		if (n == 0)
			break;
		nl = memchr(buf + size, '\n', (size_t)n);
		size += (size_t)n;
	}
	buf[size] = 0;
	if (nl)
		*nl = 0;
	else if (size == sizeof(buf) - 1)
		return -EFBIG;
	line = strdup(buf);
	if (!line)
		return -ENOMEM;
	*ret = line;
	return 0;
}

int read_one_line_fileat(int dir_fd, const char *path, char **ret)
{
	_cleanup_fclose_ FILE *f = NULL;
	_cleanup_free_ char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int fd = openat(dir_fd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	int r;

	if (fd < 0)
		return negative_errno();
	/*
	 * Almost always one read: no stdio, whose fdopen() costs two
	 * syscalls more.  A line longer than read_one_line_fd() takes (a
	 * cpulist of a huge host) is read again with getline().
	 */
	r = read_one_line_fd(fd, ret);
	if (r != -EFBIG) {
		close(fd);
		return r;
	}
	f = fdopen(fd, "re");
	if (!f) {
		r = negative_errno();

		close(fd);
		return r;
	}
	errno = 0;
	n = getline(&line, &cap, f);
	if (n < 0) {
		if (ferror(f))
			return negative_errno();
		/* An empty file is an empty line (getline() may have allocated: free it). */
		free(line);
		line = strdup("");
		if (!line)
			return -ENOMEM;
		n = 0;
	}
	if (n > 0 && line[n - 1] == '\n')
		line[n - 1] = 0;
	*ret = TAKE_PTR(line);
	return 0;
}

int read_full_fd(int fd, size_t max, char **ret, size_t *ret_size)
{
	_cleanup_free_ char *buf = NULL;
	size_t size = 0, cap = 0;

	for (;;) {
		ssize_t n;

		if (size == cap) {
			/* Room for max + 1 bytes at most: reading that many proves the file too long. */
			size_t ncap = cap ? cap * 2 : 4096;
			char *nb;

			if (ncap > max + 1)
				ncap = max + 1;
			if (ncap == cap)
				return -EFBIG;
			nb = realloc(buf, ncap + 1);
			if (!nb)
				return -ENOMEM;
			buf = nb;
			cap = ncap;
		}
		n = read(fd, buf + size, cap - size);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return negative_errno();
		}
		if (n == 0)
			break;
		size += (size_t)n;
	}
	if (size > max)
		return -EFBIG;
	if (!buf) {
		buf = malloc(1);
		if (!buf)
			return -ENOMEM;
	}
	if (memchr(buf, 0, size))
		return -EBADMSG;
	buf[size] = 0;
	if (ret_size)
		*ret_size = size;
	*ret = TAKE_PTR(buf);
	return 0;
}

int read_full_fileat(int dir_fd, const char *path, size_t max, char **ret)
{
	_cleanup_close_ int fd = openat(dir_fd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	if (fd < 0)
		return negative_errno();
	return read_full_fd(fd, max, ret, NULL);
}

int read_full_file(const char *path, size_t max, char **ret)
{
	return read_full_fileat(AT_FDCWD, path, max, ret);
}

int write_string_file(const char *path, const char *s)
{
	return write_string_fileat(AT_FDCWD, path, s);
}

int write_string_fileat(int dir_fd, const char *path, const char *s)
{
	/*
	 * O_TRUNC: sysfs ignores it, but a regular file (the test tree, a
	 * state file) must not keep the tail of a longer old value.
	 */
	_cleanup_close_ int fd = openat(dir_fd, path,
					O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
	size_t len = strlen(s);
	ssize_t n;

	if (fd < 0)
		return negative_errno();
	n = write(fd, s, len);
	if (n < 0)
		return negative_errno();
	if ((size_t)n != len)
		return -EIO;
	return 0;
}

int write_file_atomic(const char *path, const void *data, size_t size, mode_t mode)
{
	_cleanup_free_ char *tmp = NULL;
	_cleanup_close_ int fd = -1;
	const char *p = data;
	int r;

	if (asprintf(&tmp, "%s.XXXXXX", path) < 0)
		return -ENOMEM;
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return negative_errno();
	if (fchmod(fd, mode) < 0)
		goto fail;
	while (size > 0) {
		ssize_t n = write(fd, p, size);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		p += n;
		size -= (size_t)n;
	}
	if (rename(tmp, path) < 0)
		goto fail;
	return 0;
fail:
	r = negative_errno();
	unlink(tmp);
	return r;
}

int runtime_dir_prepare(const char *dir)
{
	struct stat st;

	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return negative_errno();
	if (lstat(dir, &st) < 0)
		return negative_errno();
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	return 0;
}

int runtime_dir_lock(const char *dir, int *ret_fd)
{
	_cleanup_free_ char *path = NULL;
	_cleanup_close_ int fd = -EBADF;
	int r;

	r = runtime_dir_prepare(dir);
	if (r < 0)
		return r;
	path = path_join(dir, "lock");
	if (!path)
		return -ENOMEM;
	/*
	 * Read-only: flock() needs no more, and an fd open for writing would
	 * keep the runtime directory's file system from being remounted
	 * read-only.
	 */
	fd = open(path, O_RDONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
	if (fd < 0)
		return negative_errno();
	if (flock(fd, LOCK_EX | LOCK_NB) < 0)
		return errno == EWOULDBLOCK ? -EBUSY : negative_errno();
	*ret_fd = TAKE_FD(fd);
	return 0;
}

char *path_join(const char *a, const char *b)
{
	char *s;
	size_t la = strlen(a);

	while (la > 0 && a[la - 1] == '/')
		la--;
	while (*b == '/')
		b++;
	if (asprintf(&s, "%.*s/%s", (int)la, a, b) < 0)
		return NULL;
	return s;
}

uint64_t monotonic_to_realtime(uint64_t usec, uint64_t now_monotonic, uint64_t now_realtime)
{
	uint64_t ago;

	if (usec == 0)
		return 0;
	ago = now_monotonic > usec ? now_monotonic - usec : 0;
	return now_realtime > ago ? now_realtime - ago : 1;
}

uint64_t now_usec(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (uint64_t)ts.tv_sec * 1000000ULL + (uint64_t)ts.tv_nsec / 1000ULL;
}


void strv_free(char **l)
{
	if (!l)
		return;
	for (char **i = l; *i; i++)
		free(*i);
	free(l);
}

size_t strv_length(char *const *l)
{
	size_t n = 0;

	while (l && l[n])
		n++;
	return n;
}

static int strv_push(char ***l, char *s)
{
	size_t n = strv_length(*l);
	char **nl = realloc(*l, (n + 2) * sizeof(char *));

	if (!nl) {
		free(s);
		return -ENOMEM;
	}
	nl[n] = s;
	nl[n + 1] = NULL;
	*l = nl;
	return 0;
}

int free_and_strdup(char **p, const char *s)
{
	char *copy = NULL;

	if (streq_ptr(*p, s))
		return 0;
	if (s) {
		copy = strdup(s);
		if (!copy)
			return -ENOMEM;
	}
	free(*p);
	*p = copy;
	return 1;
}

int strv_extend(char ***l, const char *s)
{
	char *c = strdup(s);

	if (!c)
		return -ENOMEM;
	return strv_push(l, c);
}

int strv_extendf(char ***l, const char *fmt, ...)
{
	va_list ap;
	char *s;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (r < 0)
		return -ENOMEM;
	return strv_push(l, s);
}

char *root_path(const char *root, const char *path)
{
	if (!root || !*root || streq(root, "/")) {
		char *s;

		if (asprintf(&s, "/%s", path + strspn(path, "/")) < 0)
			return NULL;
		return s;
	}
	return path_join(root, path);
}

int parse_boolean(const char *s)
{
	static const char *const yes[] = { "1", "yes", "true", "on" };
	static const char *const no[] = { "0", "no", "false", "off" };

	for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
		if (streq(s, yes[i]))
			return 1;
		if (streq(s, no[i]))
			return 0;
	}
	return -EINVAL;
}

/* Splits "123abc" into 123 and "abc"; the number part must be non-empty. */
static int split_number(const char *s, uint64_t *ret, const char **ret_suffix)
{
	size_t n = strspn(s, "0123456789");
	char digits[32];

	if (n == 0 || n >= sizeof(digits))
		return n == 0 ? -EINVAL : -ERANGE;
	memcpy(digits, s, n);
	digits[n] = 0;
	*ret_suffix = s + n;
	return safe_atou64(digits, ret);
}

static int multiply(uint64_t v, uint64_t factor, uint64_t *ret)
{
	if (factor != 0 && v > UINT64_MAX / factor)
		return -ERANGE;
	*ret = v * factor;
	return 0;
}

typedef struct UnitSuffix {
	const char *suffix;
	uint64_t factor;
} UnitSuffix;

/* A whole number followed by one of the N_UNITS suffixes in UNITS, times that suffix's factor. */
static int parse_with_units(const char *s, const UnitSuffix *units, size_t n_units, uint64_t *ret)
{
	const char *suffix;
	uint64_t v;
	int r;

	r = split_number(s, &v, &suffix);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n_units; i++)
		if (streq(suffix, units[i].suffix))
			return multiply(v, units[i].factor, ret);
	return -EINVAL;
}

int parse_size(const char *s, uint64_t *ret)
{
	static const UnitSuffix table[] = {
		{ "", 1 },
		{ "K", 1ULL << 10 },
		{ "M", 1ULL << 20 },
		{ "G", 1ULL << 30 },
		{ "T", 1ULL << 40 },
		{ "P", 1ULL << 50 },
	};

	return parse_with_units(s, table, ELEMENTSOF(table), ret);
}

int parse_timespan(const char *s, uint64_t *ret_usec)
{
	static const UnitSuffix table[] = {
		{ "", USEC_PER_SEC },	    { "us", 1 },
		{ "ms", USEC_PER_MSEC },    { "s", USEC_PER_SEC },
		{ "min", USEC_PER_MINUTE }, { "h", USEC_PER_HOUR },
	};

	return parse_with_units(s, table, ELEMENTSOF(table), ret_usec);
}

const char *format_bytes(char *buf, size_t size, uint64_t bytes)
{
	static const char units[] = "KMGTP";
	int i;

	/* Exact multiples only, so the output parses back to the same value. */
	for (i = 4; i >= 0; i--) {
		uint64_t f = 1ULL << (10 * (i + 1));

		if (bytes >= f && bytes % f == 0) {
			snprintf(buf, size, "%" PRIu64 "%c", bytes / f, units[i]);
			return buf;
		}
	}
	snprintf(buf, size, "%" PRIu64, bytes);
	return buf;
}

const char *format_timespan(char *buf, size_t size, uint64_t usec)
{
	if (usec == USEC_INFINITY)
		snprintf(buf, size, "infinity");
	else if (usec % USEC_PER_HOUR == 0 && usec > 0)
		snprintf(buf, size, "%" PRIu64 "h", usec / USEC_PER_HOUR);
	else if (usec % USEC_PER_MINUTE == 0 && usec > 0)
		snprintf(buf, size, "%" PRIu64 "min", usec / USEC_PER_MINUTE);
	else if (usec % USEC_PER_SEC == 0)
		snprintf(buf, size, "%" PRIu64 "s", usec / USEC_PER_SEC);
	else if (usec % USEC_PER_MSEC == 0)
		snprintf(buf, size, "%" PRIu64 "ms", usec / USEC_PER_MSEC);
	else
		snprintf(buf, size, "%" PRIu64 "us", usec);
	return buf;
}

int dir_reader_next(DirReader *d, const struct dirent64 **ret)
{
	const struct dirent64 *de;

	if (d->pos >= d->len) {
		ssize_t n;

		do
			n = getdents64(d->fd, d->buf, sizeof(d->buf));
		while (n < 0 && errno == EINTR);
		if (n < 0)
			return negative_errno();
		if (n == 0)
			return 0;
		d->pos = 0;
		d->len = (size_t)n;
	}
	de = (const struct dirent64 *)(d->buf + d->pos);
	d->pos += de->d_reclen;
	*ret = de;
	return 1;
}

int readlinkat_malloc(int dir_fd, const char *path, char **ret)
{
	for (size_t size = 256;; size *= 2) {
		_cleanup_free_ char *buf = malloc(size);
		ssize_t n;

		if (!buf)
			return -ENOMEM;
		n = readlinkat(dir_fd, path, buf, size);
		if (n < 0)
			return negative_errno();
		if ((size_t)n < size) {
			buf[n] = 0;
			*ret = TAKE_PTR(buf);
			return 0;
		}
		if (size >= 64 * 1024)
			return -ENAMETOOLONG;
	}
}

int readlink_malloc(const char *path, char **ret)
{
	return readlinkat_malloc(AT_FDCWD, path, ret);
}

const char *path_basename(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}

int parse_cpu_list_count(const char *s, unsigned *ret)
{
	unsigned count = 0;

	if (!*s || streq(s, "\n")) {
		*ret = 0;
		return 0;
	}
	while (*s && *s != '\n') {
		char *end;
		unsigned long a, b;

		if (*s < '0' || *s > '9')
			return -EINVAL;
		a = strtoul(s, &end, 10);
		b = a;
		if (*end == '-') {
			s = end + 1;
			if (*s < '0' || *s > '9')
				return -EINVAL;
			b = strtoul(s, &end, 10);
			if (b < a)
				return -EINVAL;
		}
		if (b - a >= 1u << 20)
			return -ERANGE;
		count += (unsigned)(b - a + 1);
		s = end;
		if (*s == ',')
			s++;
		else if (*s && *s != '\n')
			return -EINVAL;
	}
	*ret = count;
	return 0;
}

bool glob_match(const char *pattern, const char *s)
{
	return fnmatch(pattern, s, 0) == 0;
}

size_t utf8_char_len(const char *str, uint32_t *ret_cp)
{
	static const uint32_t min_cp[5] = { 0, 0, 0x80, 0x800, 0x10000 };
	const unsigned char *s = (const unsigned char *)str;
	size_t n;
	uint32_t cp;

	if (s[0] < 0x80)
		n = 1, cp = s[0];
	else if ((s[0] & 0xe0) == 0xc0)
		n = 2, cp = s[0] & 0x1f;
	else if ((s[0] & 0xf0) == 0xe0)
		n = 3, cp = s[0] & 0x0f;
	else if ((s[0] & 0xf8) == 0xf0)
		n = 4, cp = s[0] & 0x07;
	else
		return 0;
	for (size_t i = 1; i < n; i++) {
		/* Stops at the NUL too: 0 is no continuation byte. */
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if (cp < min_cp[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	if (ret_cp)
		*ret_cp = cp;
	return n;
}

/* What sd-bus refuses in a string although it is valid UTF-8. */
static bool cp_is_noncharacter(uint32_t cp)
{
	return (cp >= 0xfdd0 && cp <= 0xfdef) || (cp & 0xfffe) == 0xfffe;
}

static bool cp_needs_escape(uint32_t cp, EscapeFlags flags)
{
	if (cp_is_noncharacter(cp))
		return true;
	if (cp == '\n')
		return !(flags & ESCAPE_KEEP_NEWLINE);
	return cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0) || cp == '\\';
}

bool text_is_safe(const char *s, EscapeFlags flags)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		uint32_t cp;
		size_t n = utf8_char_len((const char *)p, &cp);

		if (n == 0 || cp_needs_escape(cp, flags))
			return false;
		p += n;
	}
	return true;
}

char *text_escape(const char *s, EscapeFlags flags)
{
	const unsigned char *p = (const unsigned char *)s;
	char *ret, *o;

	/* At worst every byte becomes four. */
	ret = o = malloc(strlen(s) * 4 + 1);
	if (!ret)
		return NULL;
	while (*p) {
		uint32_t cp;
		size_t n = utf8_char_len((const char *)p, &cp);

		if (n > 0 && !cp_needs_escape(cp, flags)) {
			memcpy(o, p, n);
			o += n;
			p += n;
		} else if (n == 1 && *p == '\\') {
			*o++ = '\\';
			*o++ = '\\';
			p++;
		} else {
			/* One byte at a time: the rest may start a valid character. */
			size_t bytes = n ?: 1;

			for (size_t i = 0; i < bytes; i++)
				o += sprintf(o, "\\x%02x", p[i]);
			p += bytes;
		}
	}
	*o = 0;
	return ret;
}
