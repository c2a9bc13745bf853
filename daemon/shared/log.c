// SPDX-License-Identifier: GPL-2.0-or-later
#include <sys/stat.h>
#include <sys/uio.h>

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

int log_internalv(int level, int error, const char *const *fields, const char *fmt, va_list ap)
{
	char msg[2048];
	int saved = errno;

	if (error < 0)
		error = -error;
	if (level > max_level)
		return -error;

	errno = error;
	vsnprintf(msg, sizeof(msg), fmt, ap);

	if (to_journal) {
		struct iovec iov[32];
		char prio[16], errstr[32];
		_cleanup_free_ char *m = NULL;
		size_t n = 0;

		if (asprintf(&m, "MESSAGE=%s", msg) < 0) {
			errno = saved;
			return -error;
		}
		snprintf(prio, sizeof(prio), "PRIORITY=%d", level);
		iov[n++] = (struct iovec){ m, strlen(m) };
		iov[n++] = (struct iovec){ prio, strlen(prio) };
		if (error > 0) {
			snprintf(errstr, sizeof(errstr), "ERRNO=%d", error);
			iov[n++] = (struct iovec){ errstr, strlen(errstr) };
		}
		for (size_t i = 0; fields && fields[i] && n < ELEMENTSOF(iov); i++)
			iov[n++] = (struct iovec){ (void *)fields[i], strlen(fields[i]) };
		if (sd_journal_sendv(iov, (int)n) >= 0) {
			errno = saved;
			return -error;
		}
	}

	fprintf(stderr, "%s\n", msg);
	errno = saved;
	return -error;
}

int log_internal(int level, int error, const char *const *fields, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = log_internalv(level, error, fields, fmt, ap);
	va_end(ap);
	return r;
}

int log_oom(void)
{
	return log_error_errno(ENOMEM, "Out of memory.");
}
