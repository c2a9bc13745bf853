/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * Logging in the style of systemd's log_*_errno(): the errno-taking
 * variants return -abs(error) so a caller can write
 *	return log_error_errno(r, "Failed to write %s: %m", path);
 * where %m prints that error.  An error made up on the spot, not one a
 * call returned, is SYNTHETIC_ERRNO(EINVAL): returned and printed by %m
 * all the same, but not put in the journal's ERRNO= field.  Under
 * journald (JOURNAL_STREAM matches our stderr) messages go to the journal
 * with structured fields; otherwise to stderr, one line each, which is
 * what the test guest and tests read.
 */

#include <stdarg.h>
#include <syslog.h>

#include "util.h"

#define SYNTHETIC_ERRNO(num) (1 << 30 | (num))
#define ERRNO_IS_SYNTHETIC(val) ((((val) < 0 ? -(val) : (val)) & (1 << 30)) != 0)
#define ERRNO_VALUE(val) (((val) < 0 ? -(val) : (val)) & ~(1 << 30))

void log_set_max_level(int level);
int log_get_max_level(void);
/* Force stderr even under journald (tests, --no-journal). */
void log_set_target_stderr(bool on);
void log_open(void);

int log_internal(int level, int error, const char *fmt, ...) _printf_(3, 4);
int log_internalv(int level, int error, const char *fmt, va_list ap) _printf_(3, 0);

#define log_full_errno(level, error, ...) log_internal(level, error, __VA_ARGS__)
#define log_debug(...) log_full_errno(LOG_DEBUG, 0, __VA_ARGS__)
#define log_info(...) log_full_errno(LOG_INFO, 0, __VA_ARGS__)
#define log_notice(...) log_full_errno(LOG_NOTICE, 0, __VA_ARGS__)
#define log_warning(...) log_full_errno(LOG_WARNING, 0, __VA_ARGS__)
#define log_error(...) log_full_errno(LOG_ERR, 0, __VA_ARGS__)
#define log_debug_errno(e, ...) log_full_errno(LOG_DEBUG, e, __VA_ARGS__)
#define log_info_errno(e, ...) log_full_errno(LOG_INFO, e, __VA_ARGS__)
#define log_warning_errno(e, ...) log_full_errno(LOG_WARNING, e, __VA_ARGS__)
#define log_error_errno(e, ...) log_full_errno(LOG_ERR, e, __VA_ARGS__)

/*
 * A structured message, as systemd writes them: journal fields as format
 * strings, each followed by its arguments, and the message last:
 *	log_struct(LOG_NOTICE,
 *		   "SMMUD_SMMU=%s", name,
 *		   "SMMUD_DECISION=%s", why,
 *		   LOG_MESSAGE("%s: storm begins", name));
 * Fields (SMMUD_SMMU=, SMMUD_VM=, SMMUD_DECISION=, ...) go to the journal;
 * on stderr only the message.  A field that formats to nothing is left
 * out ("%s%s", x ? "KEY=" : "", x ?: "").  At most 16 fields.  The
 * compiler cannot check these formats against their arguments: keep each
 * simple; test-log checks the walk over them.
 */
#define LOG_MESSAGE(fmt, ...) "MESSAGE=" fmt, ##__VA_ARGS__
#define log_struct(level, ...) log_struct_internal(level, 0, __VA_ARGS__, NULL)
int log_struct_internal(int level, int error, const char *format, ...);

/* The fields log_struct() would send, formatted (a strv), for tests. */
int log_struct_format(char ***ret, const char *format, ...);

int log_oom(void);
