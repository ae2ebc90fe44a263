/*
 * health.c -- probe rounds, upstream states, back-off and latency.
 *
 * Every upstream is probed on its own schedule.  A round sends the basic
 * probe; when the upstream answers it, the pool's quality checks go out in
 * parallel.  The round's outcome feeds a rise/fall state machine: the state
 * follows a worse outcome after `fall` consecutive rounds and a better one
 * after `rise`.  A down upstream is probed with exponential back-off and
 * jitter, capped at backoff-max-ms.  Latency of the basic probe goes into a
 * decaying histogram whose median `status` shows, and, when the probe
 * passed, into cumulative counts since start for monitoring.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <ldns/ldns.h>

#include "clock.h"
#include "health.h"
#include "journal.h"
#include "log.h"
#include "transport.h"

const char *const rg_state_str[] = {
	[RG_STATE_UNKNOWN] = "unknown",
	[RG_STATE_DOWN] = "down",
	[RG_STATE_DEGRADED] = "degraded",
	[RG_STATE_UP] = "up",
};

/*
 * Histogram: bucket i holds samples below HIST_BASE_US * 2^((i+1)/4), so
 * the median is known within a factor of 2^(1/4); the last bucket takes
 * everything above.  Each new sample first decays the others by 31/32.
 */
#define HIST_BASE_US	16.0
#define HIST_DECAY	(31.0 / 32.0)

static double
hist_upper_us(int i)
{
	return HIST_BASE_US * pow(2.0, (i + 1) / 4.0);
}

void
rg_hist_add(struct rg_hist *h, uint64_t us)
{
	int i;

	for (i = 0; i < RG_HIST_BUCKETS; i++)
		h->bucket[i] *= HIST_DECAY;
	h->total *= HIST_DECAY;
	for (i = 0; i < RG_HIST_BUCKETS - 1; i++)
		if ((double)us < hist_upper_us(i))
			break;
	h->bucket[i] += 1.0;
	h->total += 1.0;
}

double
rg_hist_median_ms(const struct rg_hist *h)
{
	double half, sum = 0, lo, hi;
	int i;

	if (h->total <= 0)
		return -1;
	half = h->total / 2;
	for (i = 0; i < RG_HIST_BUCKETS; i++) {
		if (sum + h->bucket[i] >= half && h->bucket[i] > 0)
			break;
		sum += h->bucket[i];
	}
	if (i == RG_HIST_BUCKETS)
		i = RG_HIST_BUCKETS - 1;
	lo = i == 0 ? 0 : hist_upper_us(i - 1);
	hi = hist_upper_us(i);
	/* Linear within the bucket. */
	return (lo + (hi - lo) * ((half - sum) / h->bucket[i])) / 1000.0;
}

const uint32_t rg_lat_le_us[RG_LAT_BUCKETS] = {
	1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
	1000000, 2500000
};

void
rg_lat_hist_add(struct rg_lat_hist *h, uint64_t us)
{
	int i;

	/* Buckets are cumulative, as Prometheus reads them: a sample
	 * counts in every bucket whose bound it does not exceed. */
	for (i = RG_LAT_BUCKETS - 1; i >= 0; i--) {
		if (us > rg_lat_le_us[i])
			break;
		h->le[i]++;
	}
	h->count++;
	h->sum_us += us;
}

/* One query of a round. */
struct round_query {
	struct rg_round *round;
	struct rg_probe_query q;
	int started;
};

/*
 * A round in flight.  It holds a reference on its health, because the
 * transport may call back after a reload detached that health.
 */
struct rg_round {
	struct rg_health *health;
	struct rg_upstream *u;
	struct round_query queries[RG_PROBE_KIND_COUNT];
	unsigned pending;
	int quality_stage;
	enum rg_state outcome;
	enum rg_probe_err err;
	char detail[256];
};

static void health_unref(struct rg_health *h);
static void round_done(struct rg_round *r);

static void
health_wake(struct rg_health *h)
{
	if (!h->detached && h->wake_cb != NULL)
		h->wake_cb(h->wake_arg);
}

static uint32_t
jitter(uint32_t ms)
{
	uint32_t r;

	/* Spread over [0.8, 1.2] times the delay, so down upstreams of many
	 * hosts are not probed in lock-step. */
	rg_random_bytes(&r, sizeof(r));
	return (uint32_t)(ms * 0.8 + (double)(r % 1000) * ms * 0.4 / 1000.0);
}

/* Healthy upstreams are probed every interval from the start of the last
 * round, so that detection time does not grow with the time-out; down ones
 * back off from the end of it. */
static void
upstream_schedule(struct rg_health *h, struct rg_upstream *u,
    uint64_t now_ms)
{
	const struct rg_conf *c = h->conf;

	if (u->state == RG_STATE_DOWN && u->observed == RG_STATE_DOWN) {
		if (u->backoff_ms == 0)
			u->backoff_ms = c->interval_ms;
		else if (u->backoff_ms < c->backoff_max_ms / 2)
			u->backoff_ms *= 2;
		else
			u->backoff_ms = c->backoff_max_ms;
		u->next_probe_ms = now_ms + jitter(u->backoff_ms);
	} else {
		u->backoff_ms = 0;
		u->next_probe_ms = u->round_started_ms + c->interval_ms;
		if (u->next_probe_ms < now_ms)
			u->next_probe_ms = now_ms;
	}
}

static json_t *
upstream_evidence(const struct rg_upstream *u)
{
	double med = rg_hist_median_ms(&u->rtt);

	return json_pack("{s:s, s:s, s:s, s:i, s:s?, s:o}",
	    "pool", u->pool->conf->name,
	    "upstream", u->conf->name,
	    "outcome", rg_state_str[u->observed],
	    "consecutive", (int)u->streak,
	    "last_error", u->last_err == RG_PROBE_OK ? NULL : u->last_error,
	    "rtt_ms", med < 0 ? json_null() : json_real(med));
}

void
rg_upstream_observe(struct rg_health *h, struct rg_upstream *u,
    enum rg_state outcome, enum rg_probe_err err, const char *detail,
    uint64_t now_ms)
{
	enum rg_state old = u->state;
	uint32_t need;
	char reason[256];
	int dir;

	u->rounds++;
	if (outcome != RG_STATE_UP) {
		u->failed_rounds++;
		u->last_err = err;
		if (detail != NULL && *detail != '\0')
			snprintf(u->last_error, sizeof(u->last_error), "%s: %s",
			    rg_probe_err_str(err), detail);
		else
			snprintf(u->last_error, sizeof(u->last_error), "%s",
			    rg_probe_err_str(err));
		u->last_error_wall_ms = rg_clock_wall_ms();
	}
	/*
	 * Rounds that push the same way count together: better news needs
	 * `rise` of them, worse news `fall`; from unknown, only "up" is
	 * better.  Mixed bad rounds (a time-out, then a slow answer) still
	 * add up; the state taken is the latest round's when falling, and
	 * the worst of the pushing rounds when rising, so a recovery is
	 * never rosier than what was seen.
	 */
	u->observed = outcome;
	if (u->state == RG_STATE_UNKNOWN)
		dir = outcome == RG_STATE_UP ? 1 : -1;
	else
		dir = outcome > u->state ? 1 : outcome < u->state ? -1 : 0;
	if (dir == 0 || dir != u->direction) {
		u->direction = dir;
		u->streak = 0;
		u->target = outcome;
	}
	if (dir != 0) {
		u->streak++;
		if (dir < 0 || outcome < u->target)
			u->target = outcome;
	}
	rg_log_debug("health: %s: round %s (%s), %u in a row, state %s",
	    u->conf->name, rg_state_str[outcome],
	    outcome == RG_STATE_UP ? "ok" : u->last_error, u->streak,
	    rg_state_str[u->state]);

	need = dir > 0 ? h->conf->rise : h->conf->fall;
	if (dir != 0 && u->streak >= need) {
		u->state = u->target;
		u->state_since_wall_ms = rg_clock_wall_ms();
		if (u->state == RG_STATE_UP)
			snprintf(reason, sizeof(reason),
			    "%u consecutive good probe rounds", u->streak);
		else
			snprintf(reason, sizeof(reason),
			    "%u consecutive %s probe rounds: %s", u->streak,
			    dir > 0 ? "better" : "failed", u->last_error);
		rg_journal_add(h->journal, RG_EVENT_UPSTREAM,
		    u->state != RG_STATE_UP, u->conf->name,
		    rg_state_str[old], rg_state_str[u->state], reason,
		    upstream_evidence(u));
		u->direction = 0;
		u->streak = 0;
	}
	upstream_schedule(h, u, now_ms);
}

static void
round_finish_query(struct round_query *rq)
{
	struct rg_round *r = rq->round;

	rg_probe_clear(&rq->q);
	rq->started = 0;
	if (--r->pending == 0)
		round_done(r);
}

static void round_quality_start(struct rg_round *r);

static void
round_exchange_cb(void *arg, enum rg_probe_err err, const uint8_t *pkt,
    size_t len, uint64_t rtt_us, const char *detail)
{
	struct round_query *rq = arg;
	struct rg_round *r = rq->round;
	char judged[160] = "";
	uint32_t max_latency;

	if (r->health->detached || err == RG_PROBE_CANCELLED) {
		r->outcome = RG_STATE_COUNT;	/* dropped */
		round_finish_query(rq);
		return;
	}
	if (err == RG_PROBE_OK)
		err = rg_probe_judge(&rq->q, pkt, len, judged, sizeof(judged));
	else if (detail != NULL)
		snprintf(judged, sizeof(judged), "%s", detail);

	if (rq->q.kind == RG_PROBE_BASIC) {
		if (pkt != NULL)
			rg_hist_add(&r->u->rtt, rtt_us);
		if (err != RG_PROBE_OK) {
			r->outcome = RG_STATE_DOWN;
			r->err = err;
			snprintf(r->detail, sizeof(r->detail), "%s", judged);
		} else {
			r->u->last_rtt_us = rtt_us;
			rg_lat_hist_add(&r->u->latency, rtt_us);
			max_latency = r->u->pool->conf->checks.max_latency_ms;
			if (max_latency > 0 && rtt_us > max_latency * 1000ULL) {
				r->outcome = RG_STATE_DEGRADED;
				r->err = RG_PROBE_SLOW;
				snprintf(r->detail, sizeof(r->detail),
				    "%.1f ms, limit %u ms", rtt_us / 1000.0,
				    max_latency);
			}
			round_quality_start(r);
		}
	} else if (err != RG_PROBE_OK && r->outcome == RG_STATE_UP) {
		/* In the quality stage the upstream has answered already: any
		 * failure, even a time-out, is a failed check. */
		r->outcome = RG_STATE_DEGRADED;
		r->err = rg_probe_err_is_quality(err) ? err :
		    RG_PROBE_WRONG_ANSWER;
		snprintf(r->detail, sizeof(r->detail), "%s %.80s: %s%s%s",
		    rg_probe_kind_str[rq->q.kind], rq->q.qname,
		    rg_probe_err_str(err), *judged ? ", " : "", judged);
	}
	round_finish_query(rq);
}

static int
round_send(struct rg_round *r, enum rg_probe_kind kind, const char *name,
    uint16_t type)
{
	struct round_query *rq = &r->queries[kind];
	struct rg_health *h = r->health;
	int rc;

	rq->round = r;
	/*
	 * A recursive pool answers the basic probe from its cache long after
	 * the root is gone.  Ask it for a random label below the probe name
	 * instead, which no cache holds, and judge the answer as the basic
	 * probe (NXDOMAIN is a good answer).
	 */
	if (kind == RG_PROBE_BASIC && r->u->pool->conf->recursive) {
		rc = rg_probe_build(&rq->q, RG_PROBE_NXDOMAIN, name, type,
		    &r->u->pool->conf->checks);
		rq->q.kind = RG_PROBE_BASIC;
	} else
		rc = rg_probe_build(&rq->q, kind, name, type,
		    &r->u->pool->conf->checks);
	if (rc < 0)
		return rc;
	rc = rg_net_exchange(h->net, r->u->pool->conf, r->u->conf, &rq->q,
	    h->conf->timeout_ms, round_exchange_cb, rq);
	if (rc < 0) {
		rg_probe_clear(&rq->q);
		return rc;
	}
	rq->started = 1;
	r->pending++;
	return 0;
}

static void
round_quality_start(struct rg_round *r)
{
	const struct rg_conf_checks *ck = &r->u->pool->conf->checks;

	r->quality_stage = 1;
	/* A failed send of a check is a failed check: the upstream is not
	 * trusted with names we cannot even ask it. */
	if (ck->expect_name != NULL &&
	    round_send(r, RG_PROBE_EXPECT, ck->expect_name,
	    ck->expect_type) < 0)
		goto fail;
	if (ck->nxdomain_zone != NULL &&
	    round_send(r, RG_PROBE_NXDOMAIN, ck->nxdomain_zone,
	    LDNS_RR_TYPE_A) < 0)
		goto fail;
	if (ck->dnssec_signed != NULL &&
	    round_send(r, RG_PROBE_DNSSEC_SIGNED, ck->dnssec_signed,
	    LDNS_RR_TYPE_A) < 0)
		goto fail;
	if (ck->dnssec_bogus != NULL &&
	    round_send(r, RG_PROBE_DNSSEC_BOGUS, ck->dnssec_bogus,
	    LDNS_RR_TYPE_A) < 0)
		goto fail;
	return;
fail:
	if (r->outcome == RG_STATE_UP) {
		r->outcome = RG_STATE_DEGRADED;
		r->err = RG_PROBE_NETWORK;
		snprintf(r->detail, sizeof(r->detail),
		    "cannot send a quality check");
	}
}

static void
round_done(struct rg_round *r)
{
	struct rg_health *h = r->health;
	struct rg_upstream *u = r->u;
	int dropped = r->outcome == RG_STATE_COUNT;

	if (!h->detached) {
		u->round = NULL;
		if (!dropped)
			rg_upstream_observe(h, u, r->outcome, r->err,
			    r->detail, rg_clock_ms());
	}
	free(r);
	/* A cancelled round (shutdown) must not start new ones. */
	if (!dropped)
		health_wake(h);
	health_unref(h);
}

static void
round_start(struct rg_health *h, struct rg_upstream *u, uint64_t now_ms)
{
	struct rg_round *r;
	int rc;

	if ((r = calloc(1, sizeof(*r))) == NULL) {
		rg_log_warn("health: %s: cannot start a probe round",
		    u->conf->name);
		u->next_probe_ms = now_ms + h->conf->interval_ms;
		return;
	}
	r->health = h;
	r->u = u;
	u->round_started_ms = now_ms;
	r->outcome = RG_STATE_UP;
	r->err = RG_PROBE_OK;
	h->refs++;
	u->round = r;
	/* The pending count guards the round while its first query starts. */
	r->pending = 1;
	rc = round_send(r, RG_PROBE_BASIC, h->conf->probe_name,
	    h->conf->probe_type);
	if (rc < 0) {
		r->outcome = RG_STATE_DOWN;
		r->err = RG_PROBE_NETWORK;
		snprintf(r->detail, sizeof(r->detail), "cannot send: %s",
		    strerror(-rc));
	}
	if (--r->pending == 0)
		round_done(r);
}

uint64_t
rg_health_run(struct rg_health *h, uint64_t now_ms)
{
	uint64_t next = UINT64_MAX;
	size_t i, j;

	for (i = 0; i < h->n_pools; i++) {
		for (j = 0; j < h->pools[i].n_upstreams; j++) {
			struct rg_upstream *u = h->pools[i].upstreams[j];

			if (u->round == NULL && u->next_probe_ms <= now_ms)
				round_start(h, u, now_ms);
			if (u->round == NULL && u->next_probe_ms < next)
				next = u->next_probe_ms;
		}
	}
	return next;
}

void
rg_health_probe_soon(struct rg_health *h)
{
	size_t i, j;

	for (i = 0; i < h->n_pools; i++)
		for (j = 0; j < h->pools[i].n_upstreams; j++)
			h->pools[i].upstreams[j]->next_probe_ms = 0;
}

int
rg_upstream_suspect(struct rg_health *h, struct rg_upstream *u,
    uint64_t now_ms)
{
	uint64_t at;

	if (u->round != NULL || u->state == RG_STATE_DOWN)
		return 0;
	/* Legitimate SERVFAILs (a broken signature) come at the clients'
	 * pace: a floor keeps them from turning into a probe storm. */
	at = u->round_started_ms + h->conf->interval_ms / 4;
	if (at < now_ms)
		at = now_ms;
	if (at >= u->next_probe_ms)
		return 0;
	u->next_probe_ms = at;
	return 1;
}

static int
upstream_same(const struct rg_conf_upstream *a,
    const struct rg_conf_upstream *b)
{
	return strcmp(a->name, b->name) == 0 &&
	    strcmp(a->address, b->address) == 0 && a->port == b->port &&
	    a->transport == b->transport;
}

static void
health_destroy(struct rg_health *h)
{
	size_t i, j;

	for (i = 0; i < h->n_pools; i++) {
		for (j = 0; j < h->pools[i].n_upstreams; j++)
			free(h->pools[i].upstreams[j]);
		free(h->pools[i].upstreams);
	}
	free(h->pools);
	rg_conf_free(h->conf);
	free(h);
}

static void
health_unref(struct rg_health *h)
{
	if (--h->refs == 0)
		health_destroy(h);
}

struct rg_health *
rg_health_new(struct rg_conf *conf, struct rg_health *old,
    struct rg_net *net, struct rg_journal *journal)
{
	struct rg_health *h;
	struct rg_upstream *prev;
	size_t i, j;

	if ((h = calloc(1, sizeof(*h))) == NULL)
		return NULL;
	h->refs = 1;
	h->conf = conf;
	h->net = net;
	h->journal = journal;
	if ((h->pools = calloc(conf->n_pools, sizeof(*h->pools))) == NULL)
		goto fail;
	h->n_pools = conf->n_pools;
	for (i = 0; i < conf->n_pools; i++) {
		struct rg_pool *p = &h->pools[i];

		p->conf = &conf->pools[i];
		p->health = h;
		p->index = i;
		p->upstreams = calloc(p->conf->n_upstreams,
		    sizeof(*p->upstreams));
		if (p->upstreams == NULL)
			goto fail;
		for (j = 0; j < p->conf->n_upstreams; j++) {
			struct rg_upstream *u;

			if ((u = calloc(1, sizeof(*u))) == NULL)
				goto fail;
			p->upstreams[p->n_upstreams++] = u;
			u->conf = &p->conf->upstreams[j];
			prev = old == NULL ? NULL :
			    rg_health_upstream(old, u->conf->name);
			if (prev != NULL && upstream_same(prev->conf, u->conf)) {
				u->state = prev->state;
				u->observed = prev->observed;
				u->direction = prev->direction;
				u->streak = prev->streak;
				u->target = prev->target;
				u->last_err = prev->last_err;
				memcpy(u->last_error, prev->last_error,
				    sizeof(u->last_error));
				u->last_error_wall_ms = prev->last_error_wall_ms;
				u->state_since_wall_ms =
				    prev->state_since_wall_ms;
				u->rtt = prev->rtt;
				u->last_rtt_us = prev->last_rtt_us;
				u->latency = prev->latency;
				u->rounds = prev->rounds;
				u->failed_rounds = prev->failed_rounds;
				u->backoff_ms = prev->backoff_ms;
			} else
				u->state_since_wall_ms = rg_clock_wall_ms();
			u->pool = p;
			/* Probe at once: after a reload the checks may
			 * have changed. */
			u->next_probe_ms = 0;
		}
	}
	return h;
fail:
	h->conf = NULL;		/* not taken */
	health_destroy(h);
	return NULL;
}

void
rg_health_free(struct rg_health *h)
{
	if (h == NULL)
		return;
	h->detached = 1;
	health_unref(h);
}

struct rg_pool *
rg_health_pool(struct rg_health *h, const char *name)
{
	size_t i;

	for (i = 0; i < h->n_pools; i++)
		if (strcmp(h->pools[i].conf->name, name) == 0)
			return &h->pools[i];
	return NULL;
}

struct rg_pool *
rg_health_primary(struct rg_health *h)
{
	size_t i;

	for (i = 0; i < h->n_pools; i++)
		if (h->pools[i].conf->role == RG_ROLE_PRIMARY)
			return &h->pools[i];
	return NULL;
}

size_t
rg_pool_count(const struct rg_pool *p, enum rg_state state)
{
	size_t i, n = 0;

	for (i = 0; i < p->n_upstreams; i++)
		if (p->upstreams[i]->state >= state)
			n++;
	return n;
}

struct rg_upstream *
rg_health_upstream(struct rg_health *h, const char *name)
{
	size_t i, j;

	for (i = 0; i < h->n_pools; i++)
		for (j = 0; j < h->pools[i].n_upstreams; j++)
			if (strcmp(h->pools[i].upstreams[j]->conf->name,
			    name) == 0)
				return h->pools[i].upstreams[j];
	return NULL;
}
