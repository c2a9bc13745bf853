// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Logging: log_struct()'s fields come out right whatever the types of the
 * arguments between them (the compiler cannot check that walk), an empty
 * field is left out, stderr gets the message alone, and an errno, made up
 * (SYNTHETIC_ERRNO) or not, is returned and printed by %m.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <inttypes.h>

#include "log.h"

static void test_struct_fields(void **state)
{
	_cleanup_strv_free_ char **f = NULL;
	uint64_t big = UINT64_C(18446744073709551615);
	long long ll = -5;
	size_t z = 42;
	short h = 7;

	assert_int_equal(log_struct_format(&f,
					   "A=%s", "one",
					   "B=%d/%u", -1, 2U,
					   "C=%zu", z,
					   "D=%" PRIu64 " %" PRIx64, big, (uint64_t)255,
					   "E=%lld %hd %c", ll, h, 'x',
					   "F=%.*s|%5.1f", 3, "abcdef", 2.25,
					   "G=%p", (void *)NULL,
					   "%s%s", "", "",
					   "H=%%",
					   LOG_MESSAGE("%s: %d", "msg", 9), NULL),
			 0);
	assert_int_equal(strv_length(f), 9);
	assert_string_equal(f[0], "A=one");
	assert_string_equal(f[1], "B=-1/2");
	assert_string_equal(f[2], "C=42");
	assert_string_equal(f[3], "D=18446744073709551615 ff");
	assert_string_equal(f[4], "E=-5 7 x");
	assert_string_equal(f[5], "F=abc|  2.2");
	assert_string_equal(f[6], "G=(nil)");
	/* the empty one is left out */
	assert_string_equal(f[7], "H=%");
	assert_string_equal(f[8], "MESSAGE=msg: 9");
}

static void test_too_many_fields(void **state)
{
	char **f = NULL;

	assert_int_equal(log_struct_format(&f, "1", "2", "3", "4", "5", "6", "7", "8", "9", "10",
					   "11", "12", "13", "14", "15", "16", "17", NULL),
			 -E2BIG);
	assert_null(f);
}

/* Runs fn with stderr going to a file; returns what it wrote. */
static char *captured_stderr(void (*fn)(void))
{
	char path[] = "/tmp/smmud-test-log-XXXXXX";
	int fd = mkstemp(path), saved = dup(STDERR_FILENO);
	char *text = NULL;

	assert_true(fd >= 0 && saved >= 0);
	fflush(stderr);
	assert_true(dup2(fd, STDERR_FILENO) >= 0);
	fn();
	fflush(stderr);
	assert_true(dup2(saved, STDERR_FILENO) >= 0);
	close(saved);
	close(fd);
	assert_int_equal(read_full_file(path, 4096, &text), 0);
	unlink(path);
	return text;
}

static void log_some(void)
{
	assert_int_equal(log_struct(LOG_NOTICE, "SMMUD_SMMU=%s", "smmu0",
				    LOG_MESSAGE("storm %s on %s", "begins", "smmu0")),
			 0);
	assert_int_equal(log_error_errno(SYNTHETIC_ERRNO(EINVAL), "bad: %m"), -EINVAL);
	assert_int_equal(log_error_errno(-ENOENT, "missing: %m"), -ENOENT);
	/* Below the level: nothing written, the error returned all the same. */
	assert_int_equal(log_debug_errno(SYNTHETIC_ERRNO(EBUSY), "quiet: %m"), -EBUSY);
}

static void test_stderr(void **state)
{
	_cleanup_free_ char *out = NULL;

	log_set_max_level(LOG_INFO);
	log_set_target_stderr(true);
	out = captured_stderr(log_some);
	assert_string_equal(out, "storm begins on smmu0\n"
				 "bad: Invalid argument\n"
				 "missing: No such file or directory\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_struct_fields),
		cmocka_unit_test(test_too_many_fields),
		cmocka_unit_test(test_stderr),
	};

	return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
