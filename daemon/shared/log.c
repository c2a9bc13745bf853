// SPDX-License-Identifier: GPL-2.0-or-later
#include <printf.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <wchar.h>

#define SD_JOURNAL_SUPPRESS_LOCATION
#include <systemd/sd-journal.h>

#include "log.h"

static int max_level = LOG_INFO;
static bool to_journal;
static bool force_stderr;

void log_set_max_level(int level)
{
	max_level = level;
}

int log_get_max_level(void)
{
	return max_level;
}

void log_set_target_stderr(bool on)
{
	force_stderr = on;
	if (on)
		to_journal = false;
}

/* journald sets JOURNAL_STREAM to "dev:ino" of the stream it gave us. */
static bool stderr_is_journal(void)
{
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2)
		return false;
	if (fstat(STDERR_FILENO, &st) < 0)
		return false;
	return st.st_dev == dev && st.st_ino == ino;
}

void log_open(void)
{
	to_journal = !force_stderr && stderr_is_journal();
}

#define LOG_FIELDS_MAX 16

/* The journal, or stderr: fields are "KEY=value" (MESSAGE= among them), NULL-terminated. */
static void log_send(int level, int error, char *const *fields, const char *msg)
{
	if (to_journal) {
		struct iovec iov[LOG_FIELDS_MAX + 3];
		char prio[16], errstr[32];
		size_t n = 0;

		snprintf(prio, sizeof(prio), "PRIORITY=%d", level);
		iov[n++] = (struct iovec){ prio, strlen(prio) };
		if (ERRNO_VALUE(error) > 0 && !ERRNO_IS_SYNTHETIC(error)) {
			snprintf(errstr, sizeof(errstr), "ERRNO=%d", ERRNO_VALUE(error));
			iov[n++] = (struct iovec){ errstr, strlen(errstr) };
		}
		for (size_t i = 0; fields[i] && n < ELEMENTSOF(iov); i++)
			iov[n++] = (struct iovec){ fields[i], strlen(fields[i]) };
		if (sd_journal_sendv(iov, (int)n) >= 0)
			return;
	}
	fprintf(stderr, "%s\n", msg);
}

int log_internalv(int level, int error, const char *fmt, va_list ap)
{
	_cleanup_free_ char *m = NULL;
	char msg[2048];
	int saved = errno;

	if (level > max_level)
		return -ERRNO_VALUE(error);

	errno = ERRNO_VALUE(error);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (asprintf(&m, "MESSAGE=%s", msg) >= 0)
		log_send(level, error, (char *[]){ m, NULL }, msg);
	else
		fprintf(stderr, "%s\n", msg);
	errno = saved;
	return -ERRNO_VALUE(error);
}

int log_internal(int level, int error, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = log_internalv(level, error, fmt, ap);
	va_end(ap);
	return r;
}

/*
 * Moves ap past the arguments format takes, as systemd's VA_FORMAT_ADVANCE
 * does: glibc's parse_printf_format() says what they are.
 */
static int va_format_advance(const char *format, va_list *ap)
{
	int types[32];
	size_t n = parse_printf_format(format, ELEMENTSOF(types), types);

	if (n > ELEMENTSOF(types))
		return -E2BIG;
	for (size_t i = 0; i < n; i++) {
		if (types[i] & PA_FLAG_PTR) {
			(void)va_arg(*ap, void *);
			continue;
		}
		switch (types[i] & ~PA_FLAG_MASK) {
		case PA_INT:
		case PA_CHAR:
			if (types[i] & PA_FLAG_LONG_LONG)
				(void)va_arg(*ap, long long);
			else if (types[i] & PA_FLAG_LONG)
				(void)va_arg(*ap, long);
			else
				(void)va_arg(*ap, int);
			break;
		case PA_WCHAR:
			(void)va_arg(*ap, wint_t);
			break;
		case PA_STRING:
		case PA_WSTRING:
		case PA_POINTER:
			(void)va_arg(*ap, void *);
			break;
		case PA_FLOAT:
		case PA_DOUBLE:
			if (types[i] & PA_FLAG_LONG_DOUBLE)
				(void)va_arg(*ap, long double);
			else
				(void)va_arg(*ap, double);
			break;
		default:
			return -EINVAL;
		}
	}
	return 0;
}

/* The fields of a log_struct(), formatted: a strv (the message among them, as MESSAGE=). */
static int format_fields(char ***ret, const char *format, va_list ap)
{
	_cleanup_strv_free_ char **fields = NULL;
	va_list walk;
	int r = 0;

	va_copy(walk, ap);
	for (size_t n = 0; format && r >= 0; n++) {
		va_list aq;
		char *s;

		if (n == LOG_FIELDS_MAX) {
			r = -E2BIG;
			break;
		}
		va_copy(aq, walk);
		/* Each format is the caller's literal; only one va_list can carry them all. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
		r = vasprintf(&s, format, aq) < 0 ? -ENOMEM : 0;
#pragma GCC diagnostic pop
		va_end(aq);
		if (r >= 0) {
			/* A field that comes out empty is left out: the way to make one optional. */
			if (*s)
				r = strv_extend(&fields, s);
			free(s);
		}
		if (r >= 0)
			r = va_format_advance(format, &walk);
		if (r >= 0)
			format = va_arg(walk, const char *);
	}
	va_end(walk);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(fields);
	return 0;
}

int log_struct_format(char ***ret, const char *format, ...)
{
	va_list ap;
	int r;

	va_start(ap, format);
	r = format_fields(ret, format, ap);
	va_end(ap);
	return r;
}

int log_struct_internal(int level, int error, const char *format, ...)
{
	_cleanup_strv_free_ char **fields = NULL;
	const char *msg = NULL;
	int saved = errno;
	va_list ap;
	int r;

	if (level > max_level)
		return -ERRNO_VALUE(error);
	errno = ERRNO_VALUE(error);
	va_start(ap, format);
	r = format_fields(&fields, format, ap);
	va_end(ap);
	errno = saved;
	if (r < 0)
		return log_oom();
	for (size_t i = 0; fields[i] && !msg; i++)
		msg = startswith(fields[i], "MESSAGE=");
	log_send(level, error, fields, msg ?: "");
	return -ERRNO_VALUE(error);
}

int log_oom(void)
{
	return log_error_errno(ENOMEM, "Out of memory.");
}
