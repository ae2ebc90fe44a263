/*
 * health.h -- upstream health: probe rounds, states, back-off and latency.
 *
 * The health part owns the run-time pools and upstreams built from a
 * configuration.  It is driven from outside: rg_health_run() starts the
 * probe rounds that are due and returns when it next wants to run; probe
 * results arrive through the transport's callback.  A round is the basic
 * probe and, when it passes, the pool's quality checks; its outcome is
 * "down" (the upstream failed), "degraded" (it answered, but failed a
 * quality check) or "up".  The state follows an outcome only after `fall`
 * consecutive worse or `rise` consecutive better rounds.
 */
#ifndef RG_HEALTH_H
#define RG_HEALTH_H

#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "probe.h"

struct rg_net;
struct rg_journal;

/** Upstream states, ordered by quality, so they compare as numbers. */
enum rg_state {
	RG_STATE_UNKNOWN,
	RG_STATE_DOWN,
	RG_STATE_DEGRADED,
	RG_STATE_UP,
	RG_STATE_COUNT
};
extern const char *const rg_state_str[];

/** Latency histogram with exponential decay; buckets in microseconds. */
#define RG_HIST_BUCKETS 80	/* 16 us to 16 s, 4 per octave */
struct rg_hist {
	double bucket[RG_HIST_BUCKETS];	/**< decayed counts */
	double total;
};
/** Add one sample of US microseconds (older samples decay by 1/32). */
void rg_hist_add(struct rg_hist *h, uint64_t us);
/** Median in milliseconds, or a negative value when empty. */
double rg_hist_median_ms(const struct rg_hist *h);

/*
 * Cumulative latency counts of successful probes since start, in fixed
 * buckets, for monitoring (Prometheus histogram): they never decay.
 */
#define RG_LAT_BUCKETS 11	/* 1 ms to 2.5 s; +Inf is the total */
/** Upper bounds of the buckets in microseconds, increasing. */
extern const uint32_t rg_lat_le_us[RG_LAT_BUCKETS];
struct rg_lat_hist {
	uint64_t le[RG_LAT_BUCKETS];	/**< samples <= rg_lat_le_us[i] */
	uint64_t count;			/**< all samples */
	uint64_t sum_us;		/**< their sum in microseconds */
};
/** Count one successful probe of US microseconds. */
void rg_lat_hist_add(struct rg_lat_hist *h, uint64_t us);

struct rg_round;
struct rg_pool;

/** One upstream at run time. */
struct rg_upstream {
	const struct rg_conf_upstream *conf;	/**< in health->conf */
	struct rg_pool *pool;
	enum rg_state state;
	enum rg_state observed;		/**< outcome of the last round */
	int direction;			/**< rounds push up (1), down (-1), or 0 */
	uint32_t streak;		/**< consecutive rounds pushing that way */
	enum rg_state target;		/**< state the streak leads to */
	enum rg_probe_err last_err;	/**< last failure (RG_PROBE_OK: none yet) */
	char last_error[192];		/**< its text, with detail */
	uint64_t last_error_wall_ms;
	uint64_t state_since_wall_ms;
	struct rg_hist rtt;
	uint64_t next_probe_ms;		/**< monotonic deadline of next round */
	uint64_t round_started_ms;	/**< monotonic start of the last round */
	uint32_t backoff_ms;		/**< current back-off while down, or 0 */
	struct rg_round *round;		/**< round in flight, or NULL */
	uint64_t rounds, failed_rounds;
	uint64_t last_rtt_us;		/**< basic probe of the last good round */
	struct rg_lat_hist latency;	/**< good basic probes since start */
};

/** One pool at run time. */
struct rg_pool {
	const struct rg_conf_pool *conf;	/**< in health->conf */
	struct rg_health *health;
	struct rg_upstream **upstreams;
	size_t n_upstreams;
	size_t index;			/**< position in the configuration */
};

/**
 * Called after every probe round, once its outcome is recorded, so that the
 * owner decides again and re-arms its timer.
 */
typedef void rg_health_wake_cb(void *arg);

/*
 * The health of one configuration.  It owns the configuration.  Rounds in
 * flight hold a reference, because the transport calls back after a reload
 * may have replaced this object: a detached health drops the results and is
 * freed by its last round.
 */
struct rg_health {
	unsigned refs;
	int detached;
	struct rg_conf *conf;
	struct rg_pool *pools;
	size_t n_pools;
	struct rg_net *net;
	struct rg_journal *journal;
	rg_health_wake_cb *wake_cb;
	void *wake_arg;
};

/**
 * Build the pools of CONF, taking ownership of CONF.  State (states,
 * streaks, latency, errors) of an upstream of OLD with the same name,
 * address, port and transport is carried over; the others start
 * "unknown".  Returns NULL on allocation failure (CONF is then not taken).
 */
struct rg_health *rg_health_new(struct rg_conf *conf, struct rg_health *old,
    struct rg_net *net, struct rg_journal *journal);

/** Detach H: results of its rounds in flight are dropped; freed when idle. */
void rg_health_free(struct rg_health *h);

/**
 * Start every probe round that is due at NOW_MS (monotonic).  Returns the
 * next monotonic time it wants to run.
 */
uint64_t rg_health_run(struct rg_health *h, uint64_t now_ms);

/** Probe every upstream at the next run (after a reload, a pin, ...). */
void rg_health_probe_soon(struct rg_health *h);

/**
 * Real traffic saw U fail (a time-out, SERVFAIL or REFUSED in guard mode):
 * probe it at the next run, so that an outage is noticed between probes.
 * Nothing changes while a round is in flight, when U is down already (its
 * back-off stands), or within a quarter interval of the last round's start.
 * Returns 1 when a probe was brought forward.
 */
int rg_upstream_suspect(struct rg_health *h, struct rg_upstream *u,
    uint64_t now_ms);

/** The pool named NAME, or NULL. */
struct rg_pool *rg_health_pool(struct rg_health *h, const char *name);
/** The primary pool. */
struct rg_pool *rg_health_primary(struct rg_health *h);
/** Number of upstreams of P that are at least STATE. */
size_t rg_pool_count(const struct rg_pool *p, enum rg_state state);
/** Find an upstream by name over all pools, or NULL. */
struct rg_upstream *rg_health_upstream(struct rg_health *h, const char *name);

/**
 * Feed one round outcome into U's state machine (exposed for unit tests;
 * the rounds call it).  OUTCOME is RG_STATE_DOWN, _DEGRADED or _UP.
 */
void rg_upstream_observe(struct rg_health *h, struct rg_upstream *u,
    enum rg_state outcome, enum rg_probe_err err, const char *detail,
    uint64_t now_ms);

#endif
