/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * Logging in the style of systemd's log_*_errno(): the errno-taking
 * variants return -abs(error) so a caller can write
 *	return log_error_errno(r, "Failed to write %s: %m", path);
 * where %m prints that error.  Under journald (JOURNAL_STREAM matches our
 * stderr) messages go to the journal with structured fields; otherwise to
 * stderr, one line each, which is what the test guest and tests read.
 */

#include <stdarg.h>
#include <syslog.h>

#include "util.h"

void log_set_max_level(int level);
int log_get_max_level(void);
/* Force stderr even under journald (tests, --no-journal). */
void log_set_target_stderr(bool on);
void log_open(void);

int log_internal(int level, int error, const char *const *fields, const char *fmt, ...)
	_printf_(4, 5);
int log_internalv(int level, int error, const char *const *fields, const char *fmt,
		  va_list ap) _printf_(4, 0);

#define log_full_errno(level, error, ...) log_internal(level, error, NULL, __VA_ARGS__)
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
 * Structured message: fields is a NULL-terminated array of "KEY=value"
 * journal fields (SMMUD_SMMU=, SMMUD_VM=, SMMUD_DECISION=, ...).
 */
#define log_struct(level, fields, ...) log_internal(level, 0, fields, __VA_ARGS__)

int log_oom(void);
