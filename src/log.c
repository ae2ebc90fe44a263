/*
 * log.c -- logging to stderr or syslog with a verbosity threshold.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "log.h"

static int log_stderr = 1;
static enum rg_verbosity log_level = RG_LOG_INFO;

void
rg_log_init(const char *ident, int to_stderr, enum rg_verbosity v)
{
	log_stderr = to_stderr;
	log_level = v;
	if (!to_stderr)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void
rg_log_set_verbosity(enum rg_verbosity v)
{
	log_level = v;
}

static void
log_emit(int prio, const char *fmt, va_list ap, const char *suffix)
{
	char msg[2048];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (log_stderr) {
		struct timespec ts;
		struct tm tm;
		char stamp[32];

		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
		fprintf(stderr, "%s.%03ldZ %s%s%s\n", stamp, ts.tv_nsec / 1000000,
		    prio == LOG_WARNING ? "warning: " : "", msg,
		    suffix ? suffix : "");
		fflush(stderr);
	} else
		syslog(prio, "%s%s", msg, suffix ? suffix : "");
}

void
rg_log_warn(const char *fmt, ...)
{
	char suffix[256];
	int saved = errno;
	va_list ap;

	snprintf(suffix, sizeof(suffix), ": %s", strerror(saved));
	va_start(ap, fmt);
	log_emit(LOG_WARNING, fmt, ap, suffix);
	va_end(ap);
	errno = saved;
}

void
rg_log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(LOG_WARNING, fmt, ap, NULL);
	va_end(ap);
}

void
rg_log_info(const char *fmt, ...)
{
	va_list ap;

	if (log_level < RG_LOG_INFO)
		return;
	va_start(ap, fmt);
	log_emit(LOG_INFO, fmt, ap, NULL);
	va_end(ap);
}

void
rg_log_debug(const char *fmt, ...)
{
	va_list ap;

	if (log_level < RG_LOG_DEBUG)
		return;
	va_start(ap, fmt);
	log_emit(LOG_DEBUG, fmt, ap, NULL);
	va_end(ap);
}
