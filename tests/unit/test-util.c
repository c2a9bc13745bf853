// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The shared helpers every reader of outside files and text relies on:
 * the one whole-file reader (size limit, NUL bytes), the one symlink
 * reader, the runtime directory (never through a symlink), the one UTF-8
 * decoder.  Files live in a temporary directory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "util.h"

typedef struct Dir {
	char path[64];
} Dir;

static int dir_setup(void **state)
{
	Dir *d = calloc(1, sizeof(Dir));

	assert_non_null(d);
	strcpy(d->path, "/tmp/smmud-test-util-XXXXXX");
	assert_non_null(mkdtemp(d->path));
	*state = d;
	return 0;
}

static int dir_teardown(void **state)
{
	Dir *d = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", d->path);
	assert_int_equal(system(cmd), 0);
	free(d);
	return 0;
}

static char *file_with(const Dir *d, const char *name, const void *data, size_t size)
{
	char *path = path_join(d->path, name);
	int fd;

	assert_non_null(path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, size), (ssize_t)size);
	assert_int_equal(close(fd), 0);
	return path;
}

/* A copy, NULL for none; 1 when it changed, 0 when it held that already (no new copy). */
static void test_free_and_strdup(void **state)
{
	_cleanup_free_ char *p = NULL;
	const char *held;

	assert_int_equal(free_and_strdup(&p, NULL), 0);
	assert_null(p);
	assert_int_equal(free_and_strdup(&p, "auto"), 1);
	assert_string_equal(p, "auto");
	held = p;
	assert_int_equal(free_and_strdup(&p, "auto"), 0);
	assert_ptr_equal(p, held);
	assert_int_equal(free_and_strdup(&p, "16"), 1);
	assert_string_equal(p, "16");
	assert_int_equal(free_and_strdup(&p, NULL), 1);
	assert_null(p);
}

/* Exactly max bytes are read; one more is too long, whatever the buffer sizes on the way. */
static void test_read_full_limit(void **state)
{
	static const size_t sizes[] = { 0, 1, 4095, 4096, 4097, 8192, 10000 };
	Dir *d = *state;

	for (size_t i = 0; i < ELEMENTSOF(sizes); i++) {
		_cleanup_free_ char *data = malloc(sizes[i] + 1), *path = NULL, *text = NULL;

		assert_non_null(data);
		memset(data, 'x', sizes[i]);
		path = file_with(d, "f", data, sizes[i]);
		assert_int_equal(read_full_file(path, sizes[i], &text), 0);
		assert_int_equal(strlen(text), sizes[i]);
		free(TAKE_PTR(text));
		if (sizes[i] > 0) {
			assert_int_equal(read_full_file(path, sizes[i] - 1, &text), -EFBIG);
			assert_null(text);
		}
	}
}

static void test_read_full_refuses_nul(void **state)
{
	Dir *d = *state;
	_cleanup_free_ char *path = file_with(d, "nul", "ab\0cd", 5), *text = NULL;
	_cleanup_close_ int fd = -1;
	size_t size = 0;

	assert_int_equal(read_full_file(path, 100, &text), -EBADMSG);
	assert_int_equal(read_full_file("/nonexistent/smmud-test", 100, &text), -ENOENT);

	/* From the fd's offset, with its length. */
	free(path);
	path = file_with(d, "text", "skip:kept\n", 10);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(lseek(fd, 5, SEEK_SET), 5);
	assert_int_equal(read_full_fd(fd, 100, &text, &size), 0);
	assert_string_equal(text, "kept\n");
	assert_int_equal(size, 5);
}

/* Every entry once, across more than one getdents64() buffer, "." and ".." included. */
static void test_dir_reader(void **state)
{
	Dir *d = *state;
	enum { N = 600 }; /* names of ~40 bytes: about three 8 KiB buffers */
	_cleanup_close_ int dfd = open(d->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	static bool seen[N];
	const struct dirent64 *de;
	DirReader rd;
	unsigned n = 0, dots = 0;
	int r;

	assert_true(dfd >= 0);
	for (unsigned i = 0; i < N; i++) {
		char name[64];
		int fd;

		snprintf(name, sizeof(name), "entry-with-a-longish-name-%05u", i);
		fd = openat(dfd, name, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
		assert_true(fd >= 0);
		close(fd);
	}
	dir_reader_init(&rd, dfd);
	while ((r = dir_reader_next(&rd, &de)) > 0) {
		unsigned i;

		if (streq(de->d_name, ".") || streq(de->d_name, "..")) {
			dots++;
			continue;
		}
		assert_int_equal(sscanf(de->d_name, "entry-with-a-longish-name-%05u", &i), 1);
		assert_true(i < N);
		assert_false(seen[i]);
		seen[i] = true;
		n++;
	}
	assert_int_equal(r, 0);
	assert_int_equal(n, N);
	assert_int_equal(dots, 2);
	/* At the end it stays there. */
	assert_int_equal(dir_reader_next(&rd, &de), 0);

	for (unsigned i = 0; i < N; i++) {
		char name[64];

		snprintf(name, sizeof(name), "entry-with-a-longish-name-%05u", i);
		assert_int_equal(unlinkat(dfd, name, 0), 0);
	}
	dir_reader_init(&rd, -1);
	assert_int_equal(dir_reader_next(&rd, &de), -EBADF);
}

/* One line, however long: past read_one_line_fd()'s buffer, getline() takes over. */
static void test_read_one_line_long(void **state)
{
	Dir *d = *state;
	_cleanup_free_ char *p = path_join(d->path, "long"), *line = NULL, *text = NULL;
	FILE *f;

	text = malloc(20001);
	assert_non_null(text);
	memset(text, '7', 20000);
	text[20000] = 0;
	f = fopen(p, "we");
	assert_non_null(f);
	fprintf(f, "%s\nsecond line\n", text);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(read_one_line_file(p, &line), 0);
	assert_string_equal(line, text);
	free(line);
	line = NULL;

	f = fopen(p, "we");
	assert_non_null(f);
	fputs("short\nsecond\n", f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(read_one_line_file(p, &line), 0);
	assert_string_equal(line, "short");
	assert_int_equal(unlink(p), 0);
}

static void test_readlink(void **state)
{
	Dir *d = *state;
	_cleanup_free_ char *link = path_join(d->path, "link"), *target = NULL;
	_cleanup_close_ int dfd = open(d->path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	char long_target[1000];

	assert_true(dfd >= 0);
	memset(long_target, 'a', sizeof(long_target) - 1);
	long_target[sizeof(long_target) - 1] = 0;
	assert_int_equal(symlink(long_target, link), 0);
	assert_int_equal(readlink_malloc(link, &target), 0);
	assert_string_equal(target, long_target);
	free(TAKE_PTR(target));
	assert_int_equal(readlinkat_malloc(dfd, "link", &target), 0);
	assert_string_equal(target, long_target);
	free(TAKE_PTR(target));
	assert_int_equal(readlinkat_malloc(dfd, "none", &target), -ENOENT);
}

/* Made when missing, taken when a directory, refused when a symlink (even to a directory). */
static void test_runtime_dir(void **state)
{
	Dir *d = *state;
	_cleanup_free_ char *run = path_join(d->path, "run"), *link = path_join(d->path, "runlink"),
			    *file = file_with(d, "plain", "x", 1);
	struct stat st;

	umask(022);
	assert_int_equal(runtime_dir_prepare(run), 0);
	assert_int_equal(lstat(run, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0755);
	assert_int_equal(runtime_dir_prepare(run), 0);
	assert_int_equal(symlink(run, link), 0);
	assert_int_equal(runtime_dir_prepare(link), -ENOTDIR);
	assert_int_equal(runtime_dir_prepare(file), -ENOTDIR);
}

/* One holder: a second open of the lock is refused while the first fd lives, taken after. */
static void test_runtime_dir_lock(void **state)
{
	Dir *d = *state;
	_cleanup_free_ char *run = path_join(d->path, "run"), *file = file_with(d, "f", "x", 1);
	_cleanup_close_ int a = -EBADF, b = -EBADF;

	assert_int_equal(runtime_dir_lock(run, &a), 0);
	assert_true(a >= 0);
	assert_int_equal(runtime_dir_lock(run, &b), -EBUSY);
	assert_int_equal(b, -EBADF);
	closep(&a);
	a = -EBADF;
	assert_int_equal(runtime_dir_lock(run, &b), 0);
	assert_int_equal(runtime_dir_lock(file, &a), -ENOTDIR);
}

static void test_monotonic_to_realtime(void **state)
{
	/* 10 s ago on the monotonic clock is 10 s before the realtime now. */
	assert_int_equal(monotonic_to_realtime(90 * USEC_PER_SEC, 100 * USEC_PER_SEC,
					       1700000000 * USEC_PER_SEC),
			 1699999990 * USEC_PER_SEC);
	assert_int_equal(monotonic_to_realtime(0, 100, 1000), 0);  /* never */
	assert_int_equal(monotonic_to_realtime(200, 100, 1000), 1000); /* not in the future */
	assert_int_equal(monotonic_to_realtime(1, 100000, 1000), 1);   /* not before the epoch */
}

static void test_utf8_char_len(void **state)
{
	static const struct {
		const char *s;
		size_t len;
		uint32_t cp;
	} cases[] = {
		{ "a", 1, 'a' },
		{ "\x7f", 1, 0x7f },
		{ "\xc3\xa9", 2, 0xe9 },
		{ "\xe2\x82\xac", 3, 0x20ac },
		{ "\xf0\x9f\x98\x80", 4, 0x1f600 },
		{ "\xef\xbf\xbf", 3, 0xffff },      /* a noncharacter is valid UTF-8 */
		{ "\xf4\x8f\xbf\xbf", 4, 0x10ffff },
		{ "\xc0\xaf", 0, 0 },               /* overlong */
		{ "\xe0\x80\xaf", 0, 0 },           /* overlong */
		{ "\xed\xa0\x80", 0, 0 },           /* surrogate */
		{ "\xf4\x90\x80\x80", 0, 0 },       /* above U+10FFFF */
		{ "\x80", 0, 0 },                   /* stray continuation */
		{ "\xe2\x82", 0, 0 },               /* cut short by the end */
		{ "\xff", 0, 0 },
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		uint32_t cp = 0;

		assert_int_equal(utf8_char_len(cases[i].s, &cp), cases[i].len);
		if (cases[i].len)
			assert_int_equal(cp, cases[i].cp);
	}
	/* One decoder for both readers: the D-Bus escape refuses what sd-bus would. */
	assert_false(text_is_safe("\xef\xbf\xbf", 0));
	assert_true(text_is_safe("\xe2\x82\xac", 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_read_full_limit, dir_setup, dir_teardown),
		cmocka_unit_test_setup_teardown(test_read_full_refuses_nul, dir_setup, dir_teardown),
		cmocka_unit_test_setup_teardown(test_readlink, dir_setup, dir_teardown),
		cmocka_unit_test_setup_teardown(test_dir_reader, dir_setup, dir_teardown),
		cmocka_unit_test_setup_teardown(test_read_one_line_long, dir_setup, dir_teardown),
		cmocka_unit_test_setup_teardown(test_runtime_dir, dir_setup, dir_teardown),
		cmocka_unit_test_setup_teardown(test_runtime_dir_lock, dir_setup, dir_teardown),
		cmocka_unit_test(test_monotonic_to_realtime),
		cmocka_unit_test(test_utf8_char_len),
		cmocka_unit_test(test_free_and_strdup),
	};

	return cmocka_run_group_tests_name("util", tests, NULL, NULL);
}
