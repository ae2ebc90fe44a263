/*
 * failover.c -- which pool serves: the decision and its record.
 *
 * The decision is a function of the upstream states, the pin, the policy
 * and one timer (the fail-back hold).  It is taken again after every probe
 * round and when the hold ends.  "Usable" means at least one upstream up
 * right now; degraded upstreams do not count, so a pool that rewrites
 * NXDOMAIN or fails DNSSEC never takes traffic.  A change is recorded as an
 * event whose evidence lists the states and last errors of the pools
 * involved, so that the journal explains every switch on its own.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "clock.h"
#include "failover.h"
#include "journal.h"
#include "log.h"

const char *const rg_mode_str[] = {
	[RG_MODE_NORMAL] = "normal",
	[RG_MODE_FAILOVER] = "failover",
	[RG_MODE_LAST_RESORT] = "last-resort",
};

static int
pool_usable(const struct rg_pool *p)
{
	return p != NULL && rg_pool_count(p, RG_STATE_UP) > 0;
}

static int
primary_unknown(const struct rg_pool *p)
{
	size_t i;

	for (i = 0; i < p->n_upstreams; i++)
		if (p->upstreams[i]->state == RG_STATE_UNKNOWN)
			return 1;
	return 0;
}

static enum rg_mode
mode_of(const struct rg_pool *p)
{
	switch (p->conf->role) {
	case RG_ROLE_PRIMARY:
		return RG_MODE_NORMAL;
	case RG_ROLE_FALLBACK:
		return RG_MODE_FAILOVER;
	case RG_ROLE_LAST_RESORT:
		return RG_MODE_LAST_RESORT;
	}
	return RG_MODE_NORMAL;
}

static json_t *
pool_evidence(const struct rg_pool *p)
{
	json_t *ups = json_array();
	size_t i;

	for (i = 0; i < p->n_upstreams; i++) {
		const struct rg_upstream *u = p->upstreams[i];

		json_array_append_new(ups, json_pack("{s:s, s:s, s:s?}",
		    "name", u->conf->name, "state", rg_state_str[u->state],
		    "last_error", u->last_err == RG_PROBE_OK ? NULL :
		    u->last_error));
	}
	return json_pack("{s:s, s:s, s:o}", "pool", p->conf->name,
	    "role", rg_role_str[p->conf->role], "upstreams", ups);
}

/* Switch to pool TO and record why, with the states of the pool we leave
 * and of the pool we take as evidence. */
static void
failover_switch(struct rg_failover *f, struct rg_pool *to,
    const char *reason)
{
	struct rg_pool *from = rg_health_pool(f->health, f->active);
	enum rg_mode old = f->mode;
	json_t *ev;

	ev = json_pack("{s:s, s:s, s:o, s:o}",
	    "from_pool", f->active, "to_pool", to->conf->name,
	    "from", from ? pool_evidence(from) : json_null(),
	    "to", pool_evidence(to));
	if (from != NULL && from != to &&
	    from->conf->role != RG_ROLE_PRIMARY) {
		struct rg_pool *pri = rg_health_primary(f->health);

		json_object_set_new(ev, "primary", pool_evidence(pri));
	}
	f->mode = mode_of(to);
	snprintf(f->active, sizeof(f->active), "%s", to->conf->name);
	f->mode_since_wall_ms = rg_clock_wall_ms();
	f->changes++;
	rg_journal_add(f->journal, RG_EVENT_MODE, f->mode != RG_MODE_NORMAL,
	    to->conf->name, rg_mode_str[old], rg_mode_str[f->mode], reason,
	    ev);
}

/* The best pool other than the primary that can serve now: fallbacks in
 * configuration order, then last-resort pools. */
static struct rg_pool *
failover_choose(struct rg_failover *f)
{
	struct rg_health *h = f->health;
	size_t i;

	for (i = 0; i < h->n_pools; i++)
		if (h->pools[i].conf->role == RG_ROLE_FALLBACK &&
		    pool_usable(&h->pools[i]))
			return &h->pools[i];
	for (i = 0; i < h->n_pools; i++)
		if (h->pools[i].conf->role == RG_ROLE_LAST_RESORT &&
		    pool_usable(&h->pools[i]))
			return &h->pools[i];
	return NULL;
}

void
rg_failover_init(struct rg_failover *f, struct rg_health *h,
    struct rg_journal *j, uint64_t now_ms)
{
	struct rg_pool *p = rg_health_primary(h);

	memset(f, 0, sizeof(*f));
	f->health = h;
	f->journal = j;
	f->mode = RG_MODE_NORMAL;
	snprintf(f->active, sizeof(f->active), "%s", p->conf->name);
	f->mode_since_wall_ms = rg_clock_wall_ms();
	f->started_ms = now_ms;
}

void
rg_failover_rebind(struct rg_failover *f, struct rg_health *h,
    uint64_t now_ms)
{
	struct rg_pool *p;
	char reason[160];

	f->health = h;
	if (f->pinned[0] != '\0' && rg_health_pool(h, f->pinned) == NULL) {
		snprintf(reason, sizeof(reason),
		    "pinned pool \"%s\" is gone from the configuration",
		    f->pinned);
		rg_journal_add(f->journal, RG_EVENT_UNPIN, 1, f->pinned, NULL,
		    NULL, reason, NULL);
		f->pinned[0] = '\0';
	}
	if (f->pinned[0] != '\0' && (p = rg_health_pool(h, f->pinned)) !=
	    NULL && (strcmp(f->active, f->pinned) != 0 || mode_of(p) !=
	    f->mode)) {
		/* The pin holds across a reload, whatever role the pool
		 * has now. */
		snprintf(reason, sizeof(reason), "pinned pool \"%s\" after "
		    "a reload", f->pinned);
		failover_switch(f, p, reason);
		return;
	}
	p = rg_health_pool(h, f->active);
	if (p == NULL || mode_of(p) != f->mode) {
		/* The active pool is gone or changed its role: start over
		 * from the primary; the next evaluation moves on if needed. */
		p = rg_health_primary(h);
		snprintf(reason, sizeof(reason),
		    "active pool \"%s\" is gone or changed its role", f->active);
		failover_switch(f, p, reason);
	}
	(void)now_ms;
}

uint64_t
rg_failover_evaluate(struct rg_failover *f, uint64_t now_ms)
{
	struct rg_health *h = f->health;
	const struct rg_conf *c = h->conf;
	struct rg_pool *pri = rg_health_primary(h);
	struct rg_pool *cur = rg_health_pool(h, f->active);
	struct rg_pool *to;
	uint64_t hold_ms = (uint64_t)c->failback_hold_s * 1000;
	char reason[256];
	int pri_ok = pool_usable(pri);

	if (!pri_ok)
		f->primary_ok_since_ms = 0;
	else if (f->primary_ok_since_ms == 0)
		f->primary_ok_since_ms = now_ms > 0 ? now_ms : 1;

	if (f->pinned[0] != '\0')
		goto out;

	/* At start the primary is not down, only not probed yet: wait for
	 * its verdict rather than race the fallbacks, but no longer than
	 * `fall` rounds take. */
	f->starting = f->mode == RG_MODE_NORMAL && !pri_ok &&
	    primary_unknown(pri) && now_ms < f->started_ms +
	    (uint64_t)c->fall * (c->interval_ms + c->timeout_ms);
	if (f->mode == RG_MODE_NORMAL) {
		if (pri_ok || f->starting)
			goto out;
		if ((to = failover_choose(f)) != NULL) {
			snprintf(reason, sizeof(reason),
			    "primary pool \"%s\" has no upstream up; "
			    "\"%s\" has %zu of %zu up", pri->conf->name,
			    to->conf->name, rg_pool_count(to, RG_STATE_UP),
			    to->n_upstreams);
			failover_switch(f, to, reason);
		}
		goto out;
	}

	if (pri_ok && c->failback == RG_FAILBACK_AUTO &&
	    now_ms - f->primary_ok_since_ms >= hold_ms) {
		snprintf(reason, sizeof(reason),
		    "primary pool \"%s\" healthy for %llu s (hold %u s)",
		    pri->conf->name,
		    (unsigned long long)(now_ms - f->primary_ok_since_ms) /
		    1000, c->failback_hold_s);
		failover_switch(f, pri, reason);
		goto out;
	}
	if (pool_usable(cur)) {
		if (f->mode == RG_MODE_LAST_RESORT &&
		    (to = failover_choose(f)) != NULL &&
		    to->conf->role == RG_ROLE_FALLBACK) {
			snprintf(reason, sizeof(reason),
			    "fallback pool \"%s\" can serve again",
			    to->conf->name);
			failover_switch(f, to, reason);
		}
		goto out;
	}
	/* The active fallback failed too: the primary if it can serve, even
	 * within the hold, else the next best pool. */
	if (pri_ok) {
		snprintf(reason, sizeof(reason),
		    "active pool \"%s\" has no upstream up; primary pool "
		    "\"%s\" is up", f->active, pri->conf->name);
		failover_switch(f, pri, reason);
	} else if ((to = failover_choose(f)) != NULL && to != cur) {
		snprintf(reason, sizeof(reason),
		    "active pool \"%s\" has no upstream up; \"%s\" has %zu of "
		    "%zu up", f->active, to->conf->name,
		    rg_pool_count(to, RG_STATE_UP), to->n_upstreams);
		failover_switch(f, to, reason);
	}
out:
	f->serving = pool_usable(rg_health_pool(h, f->active));
	if (f->starting)
		return f->started_ms + (uint64_t)c->fall * (c->interval_ms +
		    c->timeout_ms);
	if (f->pinned[0] == '\0' && f->mode != RG_MODE_NORMAL && pri_ok &&
	    c->failback == RG_FAILBACK_AUTO)
		return f->primary_ok_since_ms + hold_ms;
	return UINT64_MAX;
}

int
rg_failover_pin(struct rg_failover *f, const char *pool, const char *by,
    uint64_t now_ms, char *warning, size_t warning_len)
{
	struct rg_pool *p;
	char reason[RG_PIN_BY_MAX + 80];

	if (warning_len > 0)
		warning[0] = '\0';
	if (strcmp(pool, "auto") == 0) {
		if (f->pinned[0] == '\0') {
			snprintf(warning, warning_len, "no pool was pinned");
			return 0;
		}
		snprintf(reason, sizeof(reason), "unpinned by %s", by);
		rg_journal_add(f->journal, RG_EVENT_UNPIN, 0, f->pinned,
		    f->pinned, "auto", reason, NULL);
		f->pinned[0] = '\0';
		f->pinned_by[0] = '\0';
		rg_failover_evaluate(f, now_ms);
		return 0;
	}
	if ((p = rg_health_pool(f->health, pool)) == NULL)
		return -ENOENT;
	if (!pool_usable(p))
		snprintf(warning, warning_len,
		    "pool \"%s\" has no upstream up; pinned anyway", pool);
	snprintf(reason, sizeof(reason), "pinned by %s", by);
	rg_journal_add(f->journal, RG_EVENT_PIN, !pool_usable(p), pool,
	    f->pinned[0] ? f->pinned : "auto", pool, reason, pool_evidence(p));
	snprintf(f->pinned, sizeof(f->pinned), "%s", pool);
	snprintf(f->pinned_by, sizeof(f->pinned_by), "%s", by);
	if (strcmp(f->active, pool) != 0) {
		snprintf(reason, sizeof(reason), "pool \"%s\" pinned by %s",
		    pool, by);
		failover_switch(f, p, reason);
	}
	f->serving = pool_usable(p);
	return 0;
}

int
rg_failover_failback(struct rg_failover *f, uint64_t now_ms)
{
	struct rg_pool *pri = rg_health_primary(f->health);

	if (f->pinned[0] != '\0')
		return -EBUSY;
	if (f->mode == RG_MODE_NORMAL)
		return -EALREADY;
	if (!pool_usable(pri))
		return -EAGAIN;
	rg_journal_add(f->journal, RG_EVENT_FAILBACK, 0, pri->conf->name,
	    f->active, pri->conf->name, "fail-back ordered by the administrator",
	    NULL);
	failover_switch(f, pri, "fail-back ordered by the administrator");
	f->serving = 1;
	(void)now_ms;
	return 0;
}

uint64_t
rg_failover_primary_ok_ms(const struct rg_failover *f, uint64_t now_ms)
{
	if (f->primary_ok_since_ms == 0 || now_ms < f->primary_ok_since_ms)
		return 0;
	return now_ms - f->primary_ok_since_ms;
}
