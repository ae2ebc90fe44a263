/*
 * failover.h -- the failover decision.
 *
 * The agent is in one mode at a time: normal (the primary pool serves),
 * failover (a fallback pool serves), last-resort (embedded recursion).  It
 * leaves normal when the primary pool has no upstream up, and moves only to
 * a pool that has an upstream up right now, fallbacks in configuration
 * order first.  At start, while a primary upstream has not been judged yet,
 * it waits for that verdict, at most `fall` x (interval + timeout).  It fails back once the primary pool has stayed healthy for
 * failback-hold-s (any lapse restarts the hold), or only on command when
 * failback = "manual".  An administrator can pin a pool.  Every change is an
 * event with the reason and the evidence.
 */
#ifndef RG_FAILOVER_H
#define RG_FAILOVER_H

#include <stdint.h>

#include "health.h"

enum rg_mode {
	RG_MODE_NORMAL,
	RG_MODE_FAILOVER,
	RG_MODE_LAST_RESORT,
	RG_MODE_COUNT
};
extern const char *const rg_mode_str[];

#define RG_PIN_BY_MAX	320

struct rg_failover {
	struct rg_health *health;
	struct rg_journal *journal;
	enum rg_mode mode;
	char active[64];		/**< name of the active pool */
	char pinned[64];		/**< pinned pool, or "" */
	char pinned_by[RG_PIN_BY_MAX];	/**< who pinned it: "the
					     administrator", a hub directive */
	uint64_t mode_since_wall_ms;
	uint64_t primary_ok_since_ms;	/**< monotonic; 0 = primary not ok */
	int serving;			/**< the active pool has an upstream up */
	int starting;			/**< waiting for the primary's verdict */
	uint64_t started_ms;		/**< monotonic time of the start */
	uint64_t changes;		/**< mode changes since start */
};

/** Start in normal mode on the primary pool of H. */
void rg_failover_init(struct rg_failover *f, struct rg_health *h,
    struct rg_journal *j, uint64_t now_ms);

/**
 * Point at a new health after a reload.  The mode and the active pool are
 * kept when the pool still exists; a pin on a pool that is gone is lifted
 * (an event says so).
 */
void rg_failover_rebind(struct rg_failover *f, struct rg_health *h,
    uint64_t now_ms);

/**
 * Decide again from the upstream states at NOW_MS.  Returns the next
 * monotonic time at which a decision may change by itself (the end of the
 * fail-back hold), or UINT64_MAX.
 */
uint64_t rg_failover_evaluate(struct rg_failover *f, uint64_t now_ms);

/**
 * Pin POOL ("auto" unpins) on behalf of BY ("the administrator", a hub
 * directive), which the journal and the status name.  Returns 0, or
 * -ENOENT for an unknown pool.  WARNING receives a text when the pool is
 * not healthy (pinned anyway).
 */
int rg_failover_pin(struct rg_failover *f, const char *pool,
    const char *by, uint64_t now_ms, char *warning, size_t warning_len);

/**
 * Fail back to the primary pool now (failback = "manual", or to cut the
 * hold short).  Returns 0, -EBUSY when pinned, -EAGAIN when the primary
 * pool has no upstream up, -EALREADY when already normal.
 */
int rg_failover_failback(struct rg_failover *f, uint64_t now_ms);

/** Milliseconds the primary has been healthy (0 when not). */
uint64_t rg_failover_primary_ok_ms(const struct rg_failover *f,
    uint64_t now_ms);

#endif
