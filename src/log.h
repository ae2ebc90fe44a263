/*
 * log.h -- the daemon's small log vocabulary.
 *
 * Four levels, chosen by a verbosity enum with meanings; messages carry a
 * subsystem tag as their first word ("health: ...").  In the foreground the
 * log goes to stderr, otherwise to syslog(3).
 */
#ifndef RG_LOG_H
#define RG_LOG_H

/** Verbosity: each level includes the ones before it. */
enum rg_verbosity {
	RG_LOG_WARN = 0,	/**< problems an operator must act on */
	RG_LOG_INFO = 1,	/**< state changes: modes, upstream states, reloads */
	RG_LOG_DEBUG = 2,	/**< every probe, every control request */
};

/** Start logging as IDENT; TO_STDERR selects stderr instead of syslog. */
void rg_log_init(const char *ident, int to_stderr, enum rg_verbosity v);
/** Change the verbosity at run time. */
void rg_log_set_verbosity(enum rg_verbosity v);
/** Warning with ": strerror(errno)" appended. */
void rg_log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/** Warning without errno. */
void rg_log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void rg_log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void rg_log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
