/*
 * journal.h -- the event journal.
 *
 * Every mode change, upstream state change, pin, fail-back, reload, start
 * and stop is an event: a UUID, the wall time, a type, the subject, old and
 * new value, a reason and the evidence behind it.  Events are kept in a
 * bounded ring in memory, appended as JSON lines to STATE_DIR/events.jsonl
 * (one write(2) per line, then fdatasync) and logged once.  At start the
 * ring is refilled from the tail of the file; a torn last line is skipped.
 */
#ifndef RG_JOURNAL_H
#define RG_JOURNAL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define RG_EVENT_TYPES(X)						\
	X(START,	"start")					\
	X(STOP,		"stop")						\
	X(MODE,		"mode")						\
	X(UPSTREAM,	"upstream")					\
	X(PIN,		"pin")						\
	X(UNPIN,	"unpin")					\
	X(FAILBACK,	"failback")					\
	X(RELOAD,	"reload")					\
	X(RELOAD_FAILED, "reload-failed")				\
	X(FEED_APPLIED,	"feed-applied")					\
	X(FEED_REJECTED, "feed-rejected")				\
	X(BACKEND_APPLIED, "backend-applied")				\
	X(BACKEND_FAILED, "backend-failed")				\
	X(BACKEND_RECOVERED, "backend-recovered")			\
	X(FEED_HELD,	"feed-held")					\
	X(PUSH,		"push")						\
	X(REPORTER_FAILED, "reporter-failed")				\
	X(REPORTER_RECOVERED, "reporter-recovered")			\
	X(REPORTS_DROPPED, "reports-dropped")				\
	X(DIRECTIVE,	"directive")

enum rg_event_type {
#define X(n, s) RG_EVENT_##n,
	RG_EVENT_TYPES(X)
#undef X
	RG_EVENT_TYPE_COUNT
};
extern const char *const rg_event_type_str[];

struct rg_journal;

/**
 * Open the journal: ring of RING events, file in STATE_DIR (NULL: memory
 * only).  Returns NULL with errno set when the file cannot be opened.
 */
struct rg_journal *rg_journal_open(const char *state_dir, size_t ring);
void rg_journal_close(struct rg_journal *j);

/**
 * Record an event.  SUBJECT, OLD, NEW may be NULL; EVIDENCE (may be NULL)
 * is stolen.  The event is logged at info level (warning for bad news when
 * WARN is set).  Returns the event (owned by the journal) or NULL.
 */
const json_t *rg_journal_add(struct rg_journal *j, enum rg_event_type type,
    int warn, const char *subject, const char *old, const char *new_,
    const char *reason, json_t *evidence);

/** Called with every event recorded, after it is written. */
typedef void rg_journal_cb(void *arg, const json_t *event);

/** Call CB(ARG, event) for every event from now on (one subscriber). */
void rg_journal_subscribe(struct rg_journal *j, rg_journal_cb *cb,
    void *arg);

/** The last LIMIT events (0 = all in memory), oldest first; new reference. */
json_t *rg_journal_list(struct rg_journal *j, size_t limit);

/** Count of events recorded since start, and of write failures. */
size_t rg_journal_count(const struct rg_journal *j);
size_t rg_journal_write_errors(const struct rg_journal *j);

/** A random (version 4) UUID in its 36-character text form. */
void rg_uuid_v4(char out[37]);

/** Format a wall time in ms as RFC 3339 UTC into BUF (at least 32 bytes). */
void rg_time_format(uint64_t wall_ms, char *buf, size_t len);

#endif
