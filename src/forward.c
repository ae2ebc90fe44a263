/*
 * forward.c -- routes, and the forwarder that sends client queries on to
 * upstreams with hedging and retry, one per worker loop.
 *
 * A request tries the candidates of its route in order.  Each attempt
 * goes out with a fresh random ID, over one of a few connected UDP sockets
 * of the upstream (on random ports, replaced after some use) or over a
 * reused TCP or DNS over TLS connection with pipelined queries; replies are
 * looked up by ID in the socket's or connection's table and checked against
 * the question.  A request asks the next candidate too when the current
 * one has not answered within its hedge delay, at once when an attempt
 * fails, and gives up when the candidates or the client's budget run out.
 * Hedges are rationed (a tenth of the queries, with a small burst), so that
 * an overloaded upstream does not get its load doubled onto the next one;
 * but an upstream that has gone silent is not rationed, and one that has
 * just timed out several times in a row in this worker and gone silent is
 * not waited for: the next candidate is asked at the same time.
 *
 * Silence and time-outs are judged from what the worker has read, not from
 * the clock alone: when the worker has been busy, or has not been
 * scheduled at all (a loaded host), replies wait unread in its sockets
 * while the clock runs on, and libuv runs the timers of the next loop
 * iteration before reading them.  A deadline that passed after the worker
 * last read its sockets is therefore judged only once it has read them
 * again.  Otherwise a stall of the worker's own turns into time-outs and
 * unrationed hedges, which add load to an overloaded host and make the
 * next stall longer.
 *
 * An attempt on a recursive pool is handed to the owner (which has the
 * main thread's libunbound resolve it) under an ID of its own, and may use
 * what is left of the client's budget.  Its token is that ID with the
 * attempt's serial number as a generation: the main thread answers every
 * token once, possibly long after the attempt is over and its ID taken by
 * a newer one, and such a late reply must not touch the newer attempt.
 *
 * Memory is bounded by the owner's cap on queries in flight: a request
 * holds at most FWD_ATT_MAX attempts, and an attempt leaves the tables of
 * its socket or connection the moment its request is over.  A UDP socket
 * retired after its share of queries stays open only while it waits for
 * replies to attempts still running; it gives its send buffers back at
 * once, and at most FWD_RETIRED_MAX of them are kept: beyond that, a
 * socket due for retirement goes on serving until one has closed.
 *
 * Everything here runs on the worker's loop, except the routes, which the
 * main thread builds and the workers share read-only.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <errno.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "failover.h"
#include "forward.h"
#include "tls.h"
#include "log.h"
#include "probe.h"

#define FWD_ATT_MAX	4	/* attempts of one request at a time */
#define FWD_OPTS_MAX	512	/* client EDNS options passed on */
#define FWD_WIRE_MAX	(12 + 259 + 11 + FWD_OPTS_MAX)
#define FWD_UDP_SOCKS	4	/* UDP sockets per upstream */
#define FWD_SOCK_USES	1000	/* queries on a socket before it is replaced */
#define FWD_SOCK_AGE_MS	10000	/* ... or after this long */
#define FWD_SOCK_MAX_IDS 8192	/* queries in flight on one socket */
#define FWD_CONN_MAX	4	/* stream connections per upstream */
#define FWD_CONN_PIPE	100	/* queries in flight on one connection */
#define FWD_CONN_IDLE_MS 10000
#define FWD_CONN_STALE	3	/* time-outs in a row: a new connection */
#define FWD_SWEEP_MS	1000
#define FWD_REPORT_MS	50	/* one report per upstream this often */
#define FWD_SUSPECT	2	/* time-outs in a row: do not wait for it */
#define FWD_SILENT_MS	20	/* no reply this long: silent, if also past
				 * its hedge delay (above scheduling noise) */
#define FWD_HEDGE_RATE	0.1	/* hedges earned per query */
#define FWD_HEDGE_BURST	20.0
#define FWD_FREE_MAX	1024	/* idle requests kept for reuse */
#define FWD_RECV_BATCH	16		/* datagrams read by one recvmmsg(2) */
#define FWD_RECV_SIZE	65536		/* ... each up to this long */
#define FWD_RECV_ROUNDS	8		/* recvmmsg(2) calls per wake-up */
#define FWD_RBUF_SIZE	(FWD_RECV_BATCH * FWD_RECV_SIZE)
#define FWD_BATCH	32		/* queries sent by one sendmmsg(2) */
#define FWD_OVER_MAX	1024		/* queries waiting for a full socket */
#define FWD_RCVBUF	(1024 * 1024)	/* receive buffer of a UDP socket */
#define FWD_RETIRED_MAX	256		/* retired UDP sockets kept open */
#define FWD_GEN_BITS	48		/* of a recursion token's generation */

#define DNS_RCODE_FORMERR	1
#define DNS_RCODE_SERVFAIL	2
#define DNS_RCODE_NOTIMP	4
#define DNS_RCODE_REFUSED	5

const char *const rg_fwd_outcome_str[] = {
	[RG_FWD_TIMEOUT] = "timeout",
	[RG_FWD_SERVFAIL] = "SERVFAIL",
	[RG_FWD_REFUSED] = "REFUSED",
	[RG_FWD_NETWORK] = "network error",
};

/* Routes */

static int
state_pref(enum rg_state s)
{
	switch (s) {
	case RG_STATE_UP:
		return 3;
	case RG_STATE_UNKNOWN:
		return 2;
	case RG_STATE_DEGRADED:
		return 1;
	case RG_STATE_DOWN:
	case RG_STATE_COUNT:
		break;
	}
	return 0;
}

/* 0 for the active pool, 1 with an upstream up, 2 with one not known to
 * be down, 3 for a pool that cannot serve (left out). */
static int
pool_rank(const struct rg_pool *p, const char *active)
{
	size_t i;

	if (strcmp(p->conf->name, active) == 0)
		return 0;
	if (rg_pool_count(p, RG_STATE_UP) > 0)
		return 1;
	for (i = 0; i < p->n_upstreams; i++)
		if (p->upstreams[i]->state != RG_STATE_DOWN)
			return 2;
	return 3;
}

struct rank {
	const void *p;
	int a, b;
	double c;
	size_t d;
};

static int
rank_cmp(const void *x, const void *y)
{
	const struct rank *r = x, *s = y;

	if (r->a != s->a)
		return r->a < s->a ? -1 : 1;
	if (r->b != s->b)
		return r->b < s->b ? -1 : 1;
	if (r->c != s->c)
		return r->c < s->c ? -1 : 1;
	return r->d < s->d ? -1 : r->d > s->d;
}

static uint32_t
hedge_ms(const struct rg_upstream *u, uint32_t cap)
{
	double med = rg_hist_median_ms(&u->rtt), h;

	if (cap == 0)
		return 0;
	if (cap < RG_HEDGE_MIN_MS)
		return cap;
	if (med < 0)
		return cap;
	h = 2 * med + 0.999;
	if (h < RG_HEDGE_MIN_MS)
		return RG_HEDGE_MIN_MS;
	return h > cap ? cap : (uint32_t)h;
}

static char *
strdup_opt(const char *s, int *oom)
{
	char *d;

	if (s == NULL)
		return NULL;
	if ((d = strdup(s)) == NULL)
		*oom = 1;
	return d;
}

static void
route_free(struct rg_route *r)
{
	size_t i;

	for (i = 0; i < r->n_ups; i++) {
		free(r->ups[i].name);
		free(r->ups[i].pool);
		free(r->ups[i].tls_name);
		free(r->ups[i].ca_file);
		free(r->ups[i].spki_pin);
	}
	free(r->ups);
	free(r);
}

struct rg_route *
rg_route_build(const struct rg_failover *f)
{
	const struct rg_health *h = f->health;
	const struct rg_conf *c = h->conf;
	struct rank *pools = NULL, *ups = NULL;
	struct rg_route *r;
	size_t i, j, n = 0, np = 0, nu;
	int oom = 0;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	atomic_init(&r->refs, 1);
	r->attempt_timeout_ms = c->timeout_ms;
	r->budget_ms = c->client_timeout_ms;
	r->udp_size = c->udp_size;
	for (i = 0; i < h->n_pools; i++)
		n += h->pools[i].n_upstreams;
	if ((pools = calloc(h->n_pools + 1, sizeof(*pools))) == NULL ||
	    (ups = calloc(n + 1, sizeof(*ups))) == NULL ||
	    (r->ups = calloc(n + 1, sizeof(*r->ups))) == NULL)
		goto fail;
	for (i = 0; i < h->n_pools; i++) {
		const struct rg_pool *p = &h->pools[i];
		int rank = pool_rank(p, f->active);

		if (rank == 3)
			continue;
		pools[np].p = p;
		pools[np].a = rank;
		pools[np].b = (int)p->conf->role;
		pools[np].d = i;
		np++;
	}
	qsort(pools, np, sizeof(*pools), rank_cmp);
	for (i = 0; i < np; i++) {
		const struct rg_pool *p = pools[i].p;

		for (j = nu = 0; j < p->n_upstreams; j++) {
			const struct rg_upstream *u = p->upstreams[j];
			double med = rg_hist_median_ms(&u->rtt);

			ups[nu].p = u;
			ups[nu].a = -state_pref(u->state);
			ups[nu].c = med < 0 ? 1e9 : med;
			ups[nu].d = j;
			nu++;
		}
		qsort(ups, nu, sizeof(*ups), rank_cmp);
		for (j = 0; j < nu; j++) {
			const struct rg_upstream *u = ups[j].p;
			struct rg_route_upstream *ru = &r->ups[r->n_ups++];

			ru->name = strdup_opt(u->conf->name, &oom);
			ru->pool = strdup_opt(p->conf->name, &oom);
			ru->addr = u->conf->addr;
			ru->addrlen = u->conf->addrlen;
			ru->transport = u->conf->transport;
			ru->tls_name = strdup_opt(u->conf->tls_name, &oom);
			ru->ca_file = strdup_opt(u->conf->ca_file, &oom);
			ru->spki_pin = strdup_opt(u->conf->spki_pin, &oom);
			ru->state = u->state;
			ru->hedge_ms = hedge_ms(u, c->hedge_max_ms);
		}
	}
	if (oom)
		goto fail;
	free(pools);
	free(ups);
	return r;
fail:
	free(pools);
	free(ups);
	if (r->ups == NULL)
		free(r);
	else
		route_free(r);
	return NULL;
}

static int
str_eq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

/* Same upstream as far as sockets go: a worker keeps its sockets. */
static int
upstream_same(const struct rg_route_upstream *a,
    const struct rg_route_upstream *b)
{
	return a->addrlen == b->addrlen &&
	    memcmp(&a->addr, &b->addr, a->addrlen) == 0 &&
	    a->transport == b->transport && str_eq(a->tls_name, b->tls_name) &&
	    str_eq(a->ca_file, b->ca_file) && str_eq(a->spki_pin, b->spki_pin);
}

int
rg_route_equal(const struct rg_route *a, const struct rg_route *b)
{
	size_t i;

	if (a == NULL || b == NULL)
		return a == b;
	if (a->n_ups != b->n_ups ||
	    a->attempt_timeout_ms != b->attempt_timeout_ms ||
	    a->budget_ms != b->budget_ms || a->udp_size != b->udp_size)
		return 0;
	for (i = 0; i < a->n_ups; i++) {
		const struct rg_route_upstream *x = &a->ups[i], *y = &b->ups[i];

		if (!upstream_same(x, y) || strcmp(x->name, y->name) != 0 ||
		    strcmp(x->pool, y->pool) != 0 || x->state != y->state ||
		    x->hedge_ms != y->hedge_ms)
			return 0;
	}
	return 1;
}

void
rg_route_ref(struct rg_route *r)
{
	atomic_fetch_add_explicit(&r->refs, 1, memory_order_relaxed);
}

void
rg_route_unref(struct rg_route *r)
{
	if (r == NULL)
		return;
	if (atomic_fetch_sub_explicit(&r->refs, 1, memory_order_acq_rel) == 1)
		route_free(r);
}

/* The forwarder */

/* Counters are written by one thread only: no locked instruction. */
#define STAT_ADD(fw, f, n)	atomic_store_explicit(&(fw)->st.f,	\
	atomic_load_explicit(&(fw)->st.f, memory_order_relaxed) + (n),	\
	memory_order_relaxed)
#define STAT_INC(fw, f)		STAT_ADD(fw, f, 1)

/* Query IDs in flight on one socket or connection: open addressing. */
struct idmap_slot {
	struct fwd_att *att;
	uint16_t id;
};

struct idmap {
	struct idmap_slot *s;
	uint32_t cap;			/* a power of two, or 0 */
	uint32_t n;
};

struct fwd_up;

/* Queries waiting to go out of one socket together. */
struct fwd_batch {
	struct mmsghdr msg[FWD_BATCH];
	struct iovec iov[FWD_BATCH];
	uint64_t serial[FWD_BATCH];	/* of each query's attempt */
	uint8_t buf[FWD_BATCH][FWD_WIRE_MAX];
};

/* A query the socket buffer refused, sent when the socket is writable. */
struct fwd_dgram {
	struct fwd_dgram *next;
	uint64_t serial;		/* of its attempt */
	size_t len;
	uint8_t data[];
};

/* What a socket's failed sends call for. */
enum {
	SOCK_FAIL_ALL = 1,		/* the path is broken: every attempt */
	SOCK_FAIL_UNSENT = 2,		/* the attempts marked unsent */
};

struct fwd_sock {
	uv_poll_t h;
	int fd;
	int events;			/* polled for: UV_READABLE, UV_WRITABLE */
	struct rg_fwd *fw;
	struct fwd_sock *next;		/* the upstream's retiring list */
	struct idmap ids;
	uint32_t uses;
	uint64_t born_ms;
	int closing;
	int retired;			/* sends no more; counted in n_retired */
	struct fwd_sock *qnext;		/* forwarder's list of sockets with */
	int queued;			/* ... queries queued */
	unsigned qn;
	struct fwd_batch *q;		/* NULL once retired and flushed */
	struct fwd_dgram *over, **over_tail;
	unsigned n_over;
	int fail;			/* SOCK_FAIL_*: attempts to fail */
	struct fwd_sock *fnext;		/* forwarder's list of those */
};

enum conn_state {
	CONN_CONNECTING,
	CONN_HANDSHAKE,
	CONN_READY,
	CONN_CLOSING,
};

struct fwd_conn {
	uv_tcp_t h;
	uv_connect_t creq;
	struct rg_fwd *fw;
	struct fwd_up *up;
	struct fwd_conn *next;
	int tls;
	enum conn_state state;
	SSL *ssl;
	BIO *rbio, *wbio;
	struct idmap ids;
	uint8_t *pend;			/* frames written before it was ready */
	size_t pend_len, pend_cap;
	uint8_t *rbuf;			/* stream bytes not yet a whole frame */
	size_t rlen, rcap;
	uint64_t last_ms;
	unsigned timeouts;		/* attempts timed out since a reply */
};

/* A worker's end of one upstream; it outlives routes that still use it. */
struct fwd_up {
	struct rg_fwd *fw;
	struct fwd_up *next;
	unsigned refs;			/* worker routes that list it */
	struct rg_route *route;		/* holds RU */
	const struct rg_route_upstream *ru;
	struct fwd_sock *socks[FWD_UDP_SOCKS];
	unsigned next_sock;
	struct fwd_sock *retiring;
	struct fwd_conn *conns;
	unsigned n_conns;
	unsigned timeouts_row;		/* time-outs since its last reply */
	uint64_t last_reply_ms;		/* loop time of its last reply */
	uint64_t last_report_ms[RG_FWD_OUTCOME_COUNT];
};

/* A route as one worker uses it: the candidates' sockets. */
struct fwd_route {
	struct rg_route *r;
	struct fwd_up **ups;
	unsigned refs;			/* the forwarder's, and requests' */
};

struct fwd_att {
	struct rg_fwd_req *req;
	struct fwd_up *up;
	struct fwd_sock *sock;		/* UDP attempt */
	struct fwd_conn *conn;		/* stream attempt */
	int rec;			/* recursion attempt, in fw->rec_ids */
	uint64_t deadline;
	uint64_t serial;
	uint16_t id;
	uint8_t used;
	uint8_t unsent;			/* its datagram could not go */
};

struct rg_fwd_req {
	uv_timer_t timer;
	struct rg_fwd *fw;
	struct rg_fwd_req *next, *prev;	/* active list, or the free list */
	struct fwd_route *route;
	rg_fwd_done_cb *cb;
	void *arg;
	uint64_t budget_at;
	uint64_t hedge_at;		/* 0: no hedge pending */
	int hedge_again;		/* refused once: asked again already */
	unsigned next_cand;
	unsigned inflight;
	int active;
	int refused;			/* SERVFAIL or REFUSED received */
	struct fwd_att att[FWD_ATT_MAX];
	uint8_t *fail_pkt;		/* first SERVFAIL seen */
	size_t fail_len;
	size_t qlen;
	size_t wire_len;
	uint8_t wire[FWD_WIRE_MAX];
};

struct tls_ctx {
	struct tls_ctx *next;
	char *ca_file;
	SSL_CTX *ctx;
};

struct rg_fwd {
	uv_loop_t *loop;
	uv_timer_t sweep;
	uv_prepare_t prep;
	uv_check_t check;
	struct fwd_sock *pending;	/* sockets with queries queued */
	struct fwd_sock *failing;	/* sockets with attempts to fail */
	uv_idle_t again;		/* a turn without waiting, for those */
	rg_fwd_report_cb *report;
	rg_fwd_recurse_cb *recurse;
	void *report_arg;
	struct idmap rec_ids;		/* recursion attempts in flight */
	struct fwd_route *route;
	struct fwd_up *ups;
	struct rg_fwd_req *active;
	struct rg_fwd_req *free;
	unsigned n_free;
	struct tls_ctx *tls;
	double tokens;
	uint64_t serial;
	uint8_t rnd[512];
	size_t rnd_pos;
	uint8_t *rbuf;
	uint64_t *woke_ns;		/* the owner's mark of a loop turn */
	uint64_t read_ms;		/* loop time of the last read of sockets */
	unsigned n_retired;		/* retired UDP sockets still open */
	unsigned handles;		/* open handles: freed at 0 */
	int closing;
	struct rg_fwd_stats st;
};

static void req_timer_cb(uv_timer_t *t);
static void req_next(struct rg_fwd_req *req, int after_failure);
static void idmap_fail(struct rg_fwd *fw, struct idmap *m,
    enum rg_fwd_outcome o, int only_unsent);
static void conn_fail(struct fwd_conn *c, const char *why);
static void tls_advance(struct fwd_conn *c);
static void fwd_maybe_free(struct rg_fwd *fw);
static void fwd_input(struct rg_fwd *fw, struct idmap *m, const uint8_t *pkt,
    size_t len);
static void att_answer(struct fwd_att *att, const uint8_t *pkt, size_t len);

/* idmap */

static struct fwd_att *
idmap_get(const struct idmap *m, uint16_t id)
{
	uint32_t i, mask;

	if (m->cap == 0)
		return NULL;
	mask = m->cap - 1;
	for (i = id & mask; m->s[i].att != NULL; i = (i + 1) & mask)
		if (m->s[i].id == id)
			return m->s[i].att;
	return NULL;
}

static int
idmap_grow(struct idmap *m)
{
	struct idmap_slot *old = m->s, *s;
	uint32_t cap = m->cap ? m->cap * 2 : 64, i, j, oldcap = m->cap;

	if ((s = calloc(cap, sizeof(*s))) == NULL)
		return -ENOMEM;
	for (i = 0; i < oldcap; i++) {
		if (old[i].att == NULL)
			continue;
		for (j = old[i].id & (cap - 1); s[j].att != NULL;
		    j = (j + 1) & (cap - 1))
			;
		s[j] = old[i];
	}
	free(old);
	m->s = s;
	m->cap = cap;
	return 0;
}

static int
idmap_put(struct idmap *m, uint16_t id, struct fwd_att *att)
{
	uint32_t i, mask;

	if ((m->n + 1) * 2 > m->cap && idmap_grow(m) < 0)
		return -ENOMEM;
	mask = m->cap - 1;
	for (i = id & mask; m->s[i].att != NULL; i = (i + 1) & mask)
		if (m->s[i].id == id)
			return -EEXIST;
	m->s[i].att = att;
	m->s[i].id = id;
	m->n++;
	return 0;
}

static void
idmap_del(struct idmap *m, uint16_t id)
{
	uint32_t i, j, k, mask;

	if (m->cap == 0)
		return;
	mask = m->cap - 1;
	for (i = id & mask; m->s[i].att != NULL; i = (i + 1) & mask)
		if (m->s[i].id == id)
			break;
	if (m->s[i].att == NULL)
		return;
	/* Backward shift: no tombstones, lookups stay short. */
	m->s[i].att = NULL;
	m->n--;
	for (j = (i + 1) & mask; m->s[j].att != NULL; j = (j + 1) & mask) {
		k = m->s[j].id & mask;
		if ((j > i && (k <= i || k > j)) ||
		    (j < i && k <= i && k > j)) {
			m->s[i] = m->s[j];
			m->s[j].att = NULL;
			i = j;
		}
	}
}

static void
idmap_free(struct idmap *m)
{
	free(m->s);
	m->s = NULL;
	m->cap = m->n = 0;
}

static uint16_t
rand16(struct rg_fwd *fw)
{
	uint16_t v;

	if (fw->rnd_pos + 2 > sizeof(fw->rnd)) {
		rg_random_bytes(fw->rnd, sizeof(fw->rnd));
		fw->rnd_pos = 0;
	}
	memcpy(&v, fw->rnd + fw->rnd_pos, 2);
	fw->rnd_pos += 2;
	return v;
}

/* Put ATT under a new random ID in M. */
static int
id_assign(struct rg_fwd *fw, struct idmap *m, struct fwd_att *att)
{
	uint16_t id;
	int i, rc;

	for (i = 0; i < 32; i++) {
		id = rand16(fw);
		if ((rc = idmap_put(m, id, att)) == 0) {
			att->id = id;
			return 0;
		}
		if (rc != -EEXIST)
			return rc;
	}
	return -EAGAIN;
}

/* Passive reports */

static void
up_report(struct fwd_up *up, enum rg_fwd_outcome o)
{
	struct rg_fwd *fw = up->fw;
	uint64_t now = uv_now(fw->loop);

	if (fw->report == NULL ||
	    now - up->last_report_ms[o] < FWD_REPORT_MS)
		return;
	up->last_report_ms[o] = now;
	fw->report(fw->report_arg, up->ru, o);
}

/* Attempts */

static void
att_unregister(struct fwd_att *att)
{
	if (att->sock != NULL) {
		idmap_del(&att->sock->ids, att->id);
		att->sock = NULL;
	}
	if (att->conn != NULL) {
		idmap_del(&att->conn->ids, att->id);
		att->conn = NULL;
	}
	if (att->rec) {
		idmap_del(&att->req->fw->rec_ids, att->id);
		att->rec = 0;
	}
}

static void
att_release(struct fwd_att *att)
{
	att_unregister(att);
	att->used = 0;
	att->req->inflight--;
}

static void sock_poll_cb(uv_poll_t *, int, int);

/* An I/O callback of the loop: the owner's turn begins, if it has not. */
static inline void
fwd_mark(struct rg_fwd *fw)
{
	if (fw->woke_ns != NULL && *fw->woke_ns == 0)
		*fw->woke_ns = uv_hrtime();
}

/* Poll S for what it needs: replies, and room for what waits to go. */
static void
sock_poll_update(struct fwd_sock *s)
{
	int ev = UV_READABLE | (s->over != NULL ? UV_WRITABLE : 0);

	if (ev == s->events || s->closing)
		return;
	if (uv_poll_start(&s->h, ev, sock_poll_cb) == 0)
		s->events = ev;
}

/* Is ERR a full socket buffer, to be tried again when it has room? */
static int
send_later(int err)
{
	return err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS;
}

/* An error of the path to the upstream, not of one datagram: the ICMP
 * error an earlier datagram drew, or a route or firewall that refuses. */
static int
path_error(int err)
{
	switch (err) {
	case ECONNREFUSED:
	case EHOSTUNREACH:
	case ENETUNREACH:
	case EHOSTDOWN:
	case ENETDOWN:
	case EPERM:
	case EACCES:
		return 1;
	}
	return 0;
}

/* Fail attempts of S (HOW: SOCK_FAIL_*) once the send under way is over:
 * their requests may send again. */
static void
sock_fail_later(struct fwd_sock *s, int how)
{
	struct rg_fwd *fw = s->fw;

	if (s->closing)
		return;
	if (s->fail == 0) {
		s->fnext = fw->failing;
		fw->failing = s;
	}
	s->fail |= how;
}

/* The attempt of serial SERIAL whose query on S is WIRE, if it runs. */
static struct fwd_att *
sock_att(struct fwd_sock *s, const uint8_t *wire, uint64_t serial)
{
	struct fwd_att *att;

	att = idmap_get(&s->ids, (uint16_t)(wire[0] << 8 | wire[1]));
	return att != NULL && att->serial == serial ? att : NULL;
}

/* The query of ATT (on S; NULL: ended) could not be sent: ATT fails. */
static void
att_unsent(struct fwd_sock *s, struct fwd_att *att)
{
	if (att == NULL)
		return;
	att->unsent = 1;
	sock_fail_later(s, SOCK_FAIL_UNSENT);
}

enum { SEND_AGAIN, SEND_LATER, SEND_DROP };

/* What becomes of the query of ATT, whose send on S failed with ERR: sent
 * again at once, later when S is writable, or dropped, and then ATT fails
 * (every attempt of S, for an error of the path). */
static int
send_failed(struct fwd_sock *s, struct fwd_att *att, int err)
{
	if (err == EINTR)
		return SEND_AGAIN;
	if (send_later(err))
		return SEND_LATER;
	if (path_error(err))
		sock_fail_later(s, SOCK_FAIL_ALL);
	else
		att_unsent(s, att);
	return SEND_DROP;
}

/* Send what waits since the socket buffer was full, while it has room:
 * not what belongs to attempts that have ended or fail. */
static void
sock_drain(struct fwd_sock *s)
{
	struct fwd_dgram *d;
	struct fwd_att *att;
	int how;

	while ((d = s->over) != NULL) {
		att = sock_att(s, d->data, d->serial);
		if (att != NULL && !(s->fail & SOCK_FAIL_ALL) &&
		    send(s->fd, d->data, d->len, 0) < 0) {
			how = send_failed(s, att, errno);
			if (how == SEND_AGAIN)
				continue;
			if (how == SEND_LATER)
				break;
		}
		s->over = d->next;
		s->n_over--;
		free(d);
	}
	if (s->over == NULL)
		s->over_tail = &s->over;
	sock_poll_update(s);
}

/* Send what is queued on S; what the socket buffer refuses waits until
 * the socket is writable, unless every attempt of S fails. */
static void
sock_flush(struct fwd_sock *s)
{
	struct fwd_batch *q = s->q;
	struct fwd_dgram *d;
	struct fwd_att *att;
	unsigned off = 0, n = s->qn;
	size_t len;
	int r, how;

	s->qn = 0;
	if (n == 0 || q == NULL)
		goto out;
	if (s->over != NULL)
		sock_drain(s);
	while (off < n && s->over == NULL && !(s->fail & SOCK_FAIL_ALL)) {
		r = sendmmsg(s->fd, q->msg + off, n - off, 0);
		if (r > 0) {
			off += (unsigned)r;
			continue;
		}
		how = send_failed(s, sock_att(s, q->buf[off], q->serial[off]),
		    errno);
		if (how == SEND_AGAIN)
			continue;
		if (how == SEND_LATER)
			break;
		off++;
	}
	for (; off < n && !(s->fail & SOCK_FAIL_ALL); off++) {
		if ((att = sock_att(s, q->buf[off], q->serial[off])) == NULL)
			continue;	/* its attempt has ended */
		/* Beyond the bound, or out of memory: it fails. */
		len = q->iov[off].iov_len;
		if (s->n_over >= FWD_OVER_MAX ||
		    (d = malloc(sizeof(*d) + len)) == NULL) {
			att_unsent(s, att);
			continue;
		}
		d->next = NULL;
		d->serial = att->serial;
		d->len = len;
		memcpy(d->data, q->buf[off], len);
		*s->over_tail = d;
		s->over_tail = &d->next;
		s->n_over++;
	}
	sock_poll_update(s);
out:
	/* A retired socket sends no more: only its replies are awaited. */
	if (s->retired) {
		free(s->q);
		s->q = NULL;
	}
}

static void again_cb(uv_idle_t *h);

static void
fwd_send_queued(struct rg_fwd *fw)
{
	struct fwd_sock *s;

	while ((s = fw->pending) != NULL) {
		fw->pending = s->qnext;
		s->queued = 0;
		sock_flush(s);
	}
}

/*
 * Send what is queued.  The attempts whose sends failed then fail, and
 * what their requests send next is sent; one round a call, so that
 * queries whose every send fails cannot hold the loop: the failures of
 * this round's sends wait for the next call (the prepare and check
 * phases call, and the idle phase of a turn that does not wait for I/O).
 */
static void
fwd_flush(struct rg_fwd *fw)
{
	struct fwd_sock *s, *list;
	int how;

	fwd_send_queued(fw);
	if (fw->failing == NULL)
		return;
	list = fw->failing;
	fw->failing = NULL;
	while ((s = list) != NULL) {
		list = s->fnext;
		how = s->fail;
		s->fail = 0;
		/* A socket closed meanwhile is freed in the loop's close
		 * phase, after this. */
		if (!s->closing)
			idmap_fail(fw, &s->ids, RG_FWD_NETWORK,
			    !(how & SOCK_FAIL_ALL));
	}
	fwd_send_queued(fw);
	if (fw->failing != NULL && !fw->closing)
		(void)uv_idle_start(&fw->again, again_cb);
}

static void
sock_close_cb(uv_handle_t *h)
{
	struct fwd_sock *s = h->data;
	struct rg_fwd *fw = s->fw;
	struct fwd_dgram *d;

	(void)close(s->fd);
	while ((d = s->over) != NULL) {
		s->over = d->next;
		free(d);
	}
	idmap_free(&s->ids);
	free(s->q);
	free(s);
	fw->handles--;
	fwd_maybe_free(fw);
}

static void
sock_close(struct fwd_sock *s)
{
	struct fwd_sock **pp;

	if (s->closing)
		return;
	if (s->queued) {
		for (pp = &s->fw->pending; *pp != s; pp = &(*pp)->qnext)
			;
		*pp = s->qnext;
		s->queued = 0;
	}
	sock_flush(s);
	if (s->fail != 0) {
		for (pp = &s->fw->failing; *pp != NULL && *pp != s;
		    pp = &(*pp)->fnext)
			;
		if (*pp != NULL)
			*pp = s->fnext;
		s->fail = 0;
	}
	s->closing = 1;
	if (s->retired) {
		s->fw->n_retired--;
		atomic_store_explicit(&s->fw->st.udp_retired, s->fw->n_retired,
		    memory_order_relaxed);
	}
	uv_close((uv_handle_t *)&s->h, sock_close_cb);
}

/*
 * Retire socket K of UP: it takes no new queries, and waits for the
 * replies to those it has.  Returns 0, or -EBUSY when FWD_RETIRED_MAX
 * retired sockets are open already (it then goes on serving).
 */
static int
sock_retire(struct fwd_up *up, unsigned k)
{
	struct rg_fwd *fw = up->fw;
	struct fwd_sock *s = up->socks[k];

	if (fw->n_retired >= FWD_RETIRED_MAX)
		return -EBUSY;
	up->socks[k] = NULL;
	s->retired = 1;
	s->next = up->retiring;
	up->retiring = s;
	fw->n_retired++;
	atomic_store_explicit(&fw->st.udp_retired, fw->n_retired,
	    memory_order_relaxed);
	if (!s->queued) {
		free(s->q);
		s->q = NULL;
	}
	return 0;
}

/* Does PKT carry the question REQ asked (the name compared without
 * case, label by label)? */
static int
question_match(const struct rg_fwd_req *req, const uint8_t *pkt, size_t len)
{
	const uint8_t *q = req->wire + 12, *p = pkt + 12;
	size_t i = 0, n = req->qlen, l, e;
	uint8_t a, b;

	if (len < 12 + n || pkt[4] != 0 || pkt[5] != 1)
		return 0;
	while ((l = q[i]) != 0) {
		if (p[i] != l)
			return 0;
		for (e = i + 1 + l, i++; i < e; i++) {
			a = q[i];
			b = p[i];
			if (a >= 'A' && a <= 'Z')
				a += 32;
			if (b >= 'A' && b <= 'Z')
				b += 32;
			if (a != b)
				return 0;
		}
	}
	return memcmp(q + i, p + i, n - i) == 0;
}

/* Do the sections of PKT parse: every name and record whole?  A reply
 * cut short or garbled inside its records is no answer: it is ignored
 * like one with another ID, so that the genuine reply, or the next
 * upstream, still can answer. */
static int
records_whole(const uint8_t *pkt, size_t len)
{
	size_t off = 12, i, n;
	uint8_t c;

	n = 1 + (size_t)(pkt[6] << 8 | pkt[7]) +
	    (size_t)(pkt[8] << 8 | pkt[9]) + (size_t)(pkt[10] << 8 | pkt[11]);
	for (i = 0; i < n; i++) {
		for (;;) {
			if (off >= len)
				return 0;
			c = pkt[off];
			if ((c & 0xc0) == 0xc0) {
				off += 2;
				break;
			}
			if (c & 0xc0)
				return 0;
			off += 1 + (size_t)c;
			if (c == 0)
				break;
		}
		if (i == 0) {
			off += 4;
			continue;
		}
		if (off + 10 > len)
			return 0;
		off += 10 + (size_t)(pkt[off + 8] << 8 | pkt[off + 9]);
	}
	return off <= len;
}

static int stream_send(struct fwd_att *att);

static void
fwd_route_unref(struct fwd_route *fr)
{
	size_t i;

	if (fr == NULL || --fr->refs > 0)
		return;
	for (i = 0; i < fr->r->n_ups; i++)
		fr->ups[i]->refs--;
	rg_route_unref(fr->r);
	free(fr->ups);
	free(fr);
}

/* libuv owns the timer until it is closed: the request is freed then. */
static void
req_timer_close_cb(uv_handle_t *h)
{
	struct rg_fwd_req *req = h->data;
	struct rg_fwd *fw = req->fw;

	free(req);
	fw->handles--;
	fwd_maybe_free(fw);
}

static void
req_finish(struct rg_fwd_req *req)
{
	struct rg_fwd *fw = req->fw;
	unsigned i;

	for (i = 0; i < FWD_ATT_MAX; i++)
		if (req->att[i].used)
			att_release(&req->att[i]);
	uv_timer_stop(&req->timer);
	free(req->fail_pkt);
	req->fail_pkt = NULL;
	req->active = 0;
	req->cb = NULL;
	fwd_route_unref(req->route);
	req->route = NULL;
	if (req->prev != NULL)
		req->prev->next = req->next;
	else
		fw->active = req->next;
	if (req->next != NULL)
		req->next->prev = req->prev;
	STAT_ADD(fw, inflight, -1);
	if (fw->n_free < FWD_FREE_MAX && !fw->closing) {
		req->prev = NULL;
		req->next = fw->free;
		fw->free = req;
		fw->n_free++;
	} else
		uv_close((uv_handle_t *)&req->timer, req_timer_close_cb);
}

static void
req_done(struct rg_fwd_req *req, const uint8_t *pkt, size_t len, int failed)
{
	rg_fwd_done_cb *cb = req->cb;
	void *arg = req->arg;
	uint8_t *keep = NULL;

	/* The callback may send; the request is recycled first, so keep the
	 * SERVFAIL it owns until then. */
	if (pkt != NULL && pkt == req->fail_pkt) {
		keep = req->fail_pkt;
		req->fail_pkt = NULL;
	}
	req_finish(req);
	if (failed)
		STAT_INC(req->fw, failed);
	cb(arg, pkt, len, failed);
	free(keep);
}

static void
req_fail(struct rg_fwd_req *req)
{
	if (req->fail_pkt != NULL)
		req_done(req, req->fail_pkt, req->fail_len, 1);
	else
		req_done(req, NULL, 0, 1);
}

static void
att_fail(struct fwd_att *att, enum rg_fwd_outcome o, int report)
{
	struct rg_fwd *fw = att->req->fw;

	if (o == RG_FWD_TIMEOUT) {
		att->up->timeouts_row++;
		/* A connection whose peer went away without a word: the
		 * sweep replaces it, so that a server that is back is not
		 * judged on a dead connection. */
		if (att->conn != NULL)
			att->conn->timeouts++;
		STAT_INC(fw, timeouts);
	} else
		STAT_INC(fw, upstream_errors);
	if (report)
		up_report(att->up, o);
	att_release(att);
}

static int
udp_send(struct fwd_att *att)
{
	struct fwd_up *up = att->up;
	struct rg_fwd *fw = up->fw;
	struct rg_fwd_req *req = att->req;
	struct fwd_batch *q;
	struct fwd_sock *s;
	struct mmsghdr *m;
	unsigned i, k;
	int rc, fd, rcvbuf = FWD_RCVBUF;

	/* The queries of one turn of the loop go out on one socket, in one
	 * sendmmsg(2), and their replies come back in one recvmmsg(2); the
	 * next turn's take the next socket, round-robin, opening those not
	 * open yet. */
	k = (up->next_sock + FWD_UDP_SOCKS - 1) % FWD_UDP_SOCKS;
	s = up->socks[k];
	if (s == NULL || !s->queued || s->ids.n >= FWD_SOCK_MAX_IDS) {
		for (i = 0; i < FWD_UDP_SOCKS; i++) {
			k = (up->next_sock + i) % FWD_UDP_SOCKS;
			if (up->socks[k] == NULL || up->socks[k]->ids.n <
			    FWD_SOCK_MAX_IDS)
				break;
		}
		if (i == FWD_UDP_SOCKS)
			return -EAGAIN;
		up->next_sock = k + 1;
		s = up->socks[k];
	}
	if (s == NULL) {
		/* Connected without a bind: the kernel picks a random free
		 * port, and the socket hears from the upstream only. */
		fd = socket(up->ru->addr.ss_family,
		    SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -errno;
		if (connect(fd, (const struct sockaddr *)&up->ru->addr,
		    up->ru->addrlen) < 0) {
			rc = -errno;
			(void)close(fd);
			return rc;
		}
		/* Room for a burst of replies while the worker is busy. */
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf,
		    sizeof(rcvbuf));
		if ((s = calloc(1, sizeof(*s))) == NULL) {
			(void)close(fd);
			return -ENOMEM;
		}
		s->fw = fw;
		s->fd = fd;
		s->over_tail = &s->over;
		s->h.data = s;
		if ((rc = uv_poll_init_socket(fw->loop, &s->h, fd)) < 0) {
			(void)close(fd);
			free(s);
			return rc;
		}
		fw->handles++;
		if ((rc = uv_poll_start(&s->h, UV_READABLE,
		    sock_poll_cb)) < 0) {
			sock_close(s);
			return rc;
		}
		s->events = UV_READABLE;
		s->born_ms = uv_now(fw->loop);
		up->socks[k] = s;
	}
	if (s->q == NULL && (s->q = malloc(sizeof(*s->q))) == NULL)
		return -ENOMEM;
	if ((rc = id_assign(fw, &s->ids, att)) < 0)
		return rc;
	/* Queued, and sent with others before the loop waits again. */
	if (s->qn == FWD_BATCH)
		sock_flush(s);
	q = s->q;
	memcpy(q->buf[s->qn], req->wire, req->wire_len);
	q->buf[s->qn][0] = att->id >> 8;
	q->buf[s->qn][1] = att->id & 0xff;
	q->iov[s->qn].iov_base = q->buf[s->qn];
	q->iov[s->qn].iov_len = req->wire_len;
	q->serial[s->qn] = att->serial;
	m = &q->msg[s->qn];
	memset(m, 0, sizeof(*m));
	m->msg_hdr.msg_iov = &q->iov[s->qn];
	m->msg_hdr.msg_iovlen = 1;
	s->qn++;
	if (!s->queued) {
		s->queued = 1;
		s->qnext = fw->pending;
		fw->pending = s;
	}
	att->sock = s;
	/* Replace the socket after some use: a new random port. */
	if (++s->uses >= FWD_SOCK_USES)
		(void)sock_retire(up, k);
	return 0;
}

/* The generation part of a recursion token: the attempt's serial. */
static uint64_t
rec_gen(uint64_t serial)
{
	return serial & (((uint64_t)1 << FWD_GEN_BITS) - 1);
}

/* Hand ATT to the owner, for the main thread's recursion. */
static int
rec_send(struct fwd_att *att)
{
	struct rg_fwd_req *req = att->req;
	struct rg_fwd *fw = req->fw;
	uint64_t now = uv_now(fw->loop), token;
	int rc;

	if (fw->recurse == NULL || now >= req->budget_at)
		return -ENOTSUP;
	if ((rc = id_assign(fw, &fw->rec_ids, att)) < 0)
		return rc;
	token = rec_gen(att->serial) << 16 | att->id;
	if ((rc = fw->recurse(fw->report_arg, att->up->ru, req->wire + 12,
	    req->qlen, token, (uint32_t)(req->budget_at - now))) < 0) {
		idmap_del(&fw->rec_ids, att->id);
		return rc;
	}
	att->rec = 1;
	return 0;
}

void
rg_fwd_recursion_reply(struct rg_fwd *fw, uint64_t token, const uint8_t *pkt,
    size_t len)
{
	struct fwd_att *att;

	/* The ID alone may be a newer attempt's: the generation decides. */
	if ((att = idmap_get(&fw->rec_ids, (uint16_t)token)) == NULL ||
	    !att->used || !att->rec || rec_gen(att->serial) != token >> 16) {
		STAT_INC(fw, recursion_late);
		return;
	}
	if (pkt == NULL) {
		att_fail(att, RG_FWD_NETWORK, 1);
		req_next(att->req, 1);
		return;
	}
	/* The only reply this attempt gets: one that does not fit ends it. */
	if (len < 12 || !(pkt[2] & 0x80) || !question_match(att->req, pkt,
	    len)) {
		STAT_INC(fw, unmatched);
		att_fail(att, RG_FWD_NETWORK, 0);
		req_next(att->req, 1);
		return;
	}
	att_answer(att, pkt, len);
}

/* Start an attempt of REQ on candidate CAND in a free slot. */
static int
att_start(struct rg_fwd_req *req, unsigned cand)
{
	struct rg_fwd *fw = req->fw;
	struct fwd_att *att = NULL;
	uint64_t now = uv_now(fw->loop);
	unsigned i;
	int rc;

	for (i = 0; i < FWD_ATT_MAX; i++)
		if (!req->att[i].used) {
			att = &req->att[i];
			break;
		}
	if (att == NULL)
		return -EBUSY;
	memset(att, 0, sizeof(*att));
	att->req = req;
	att->up = req->route->ups[cand];
	att->serial = ++fw->serial;
	switch (att->up->ru->transport) {
	case RG_TRANSPORT_UDP:
		rc = udp_send(att);
		break;
	case RG_TRANSPORT_TCP:
	case RG_TRANSPORT_TLS:
		rc = stream_send(att);
		break;
	case RG_TRANSPORT_RECURSIVE:
		rc = rec_send(att);
		break;
	default:
		rc = -ENOTSUP;
		break;
	}
	if (rc < 0)
		return rc;
	att->used = 1;
	req->inflight++;
	/* Recursion from the root takes longer than a forwarder's answer,
	 * and is the last resort: it may use the whole budget. */
	att->deadline = now + req->route->r->attempt_timeout_ms;
	if (att->deadline > req->budget_at || att->rec)
		att->deadline = req->budget_at;
	STAT_INC(fw, attempts);
	return 0;
}

/*
 * Has UP been silent for D milliseconds (or FWD_SILENT_MS, if longer) as
 * far as the worker knows: nothing read from it in that time before the
 * worker last read its sockets?
 */
static int
up_silent(const struct fwd_up *up, uint64_t d)
{
	const struct rg_fwd *fw = up->fw;

	if (d < FWD_SILENT_MS)
		d = FWD_SILENT_MS;
	return fw->read_ms >= up->last_reply_ms + d;
}

/*
 * Start the next candidate that will start.  An upstream that keeps
 * timing out in this worker and has gone silent is not waited for: the
 * one after it starts too.  Returns the number started.
 */
static int
req_launch(struct rg_fwd_req *req)
{
	const struct rg_route *r = req->route->r;
	struct fwd_up *up;
	unsigned c;
	int n = 0;

	req->hedge_at = 0;
	req->hedge_again = 0;
	while (req->next_cand < r->n_ups && req->inflight < FWD_ATT_MAX) {
		c = req->next_cand++;
		/* The recursion is the last resort for upstreams that cannot
		 * be reached, not a second opinion on an answer: a name that
		 * a resolver refused (policy, DNSSEC) stays refused. */
		if (c > 0 && req->refused &&
		    r->ups[c].transport == RG_TRANSPORT_RECURSIVE)
			continue;
		if (att_start(req, c) < 0)
			continue;
		n++;
		up = req->route->ups[c];
		if (up->timeouts_row >= FWD_SUSPECT &&
		    req->next_cand < r->n_ups &&
		    up_silent(up, r->ups[c].hedge_ms)) {
			STAT_INC(req->fw, hedged);
			continue;
		}
		if (r->ups[c].hedge_ms > 0 && req->next_cand < r->n_ups)
			req->hedge_at = uv_now(req->fw->loop) +
			    r->ups[c].hedge_ms;
		break;
	}
	return n;
}

static void
req_arm(struct rg_fwd_req *req)
{
	uint64_t now = uv_now(req->fw->loop), next = req->budget_at;
	unsigned i;

	for (i = 0; i < FWD_ATT_MAX; i++)
		if (req->att[i].used && req->att[i].deadline < next)
			next = req->att[i].deadline;
	if (req->hedge_at != 0 && req->hedge_at < next)
		next = req->hedge_at;
	uv_timer_start(&req->timer, req_timer_cb, next > now ? next - now : 0,
	    0);
}

/* After a failure (or a hedge): go on, or give up when nothing is left. */
static void
req_next(struct rg_fwd_req *req, int after_failure)
{
	int n = req_launch(req);

	if (n > 0 && after_failure)
		STAT_INC(req->fw, retried);
	if (req->inflight == 0) {
		req_fail(req);
		return;
	}
	req_arm(req);
}

static void
req_timer_cb(uv_timer_t *t)
{
	struct rg_fwd_req *req = t->data;
	struct rg_fwd *fw = req->fw;
	uint64_t now = uv_now(fw->loop), seen = fw->read_ms;
	struct fwd_up *up;
	uint32_t d;
	int failed = 0, stalled, n;
	unsigned i;

	if (now >= req->budget_at) {
		req_fail(req);
		return;
	}
	/* Only what fell due before the worker last read its sockets is
	 * judged: what fell due since may have its reply waiting there. */
	for (i = 0; i < FWD_ATT_MAX; i++)
		if (req->att[i].used && req->att[i].deadline <= seen) {
			att_fail(&req->att[i], RG_FWD_TIMEOUT, 1);
			failed = 1;
		}
	if (failed) {
		req_next(req, 1);
		return;
	}
	if (req->hedge_at != 0 && req->hedge_at <= seen) {
		/*
		 * Hedges are rationed against overload, where an upstream
		 * is slow but answers.  One that has answered nothing at
		 * all for a hedge delay (and FWD_SILENT_MS) has stalled: no
		 * ration then.  A hedge refused is asked for once more, when
		 * an upstream that stopped as it was due would count as
		 * stalled: the queries of an outage's first milliseconds
		 * need not wait for their time-out.
		 */
		d = req->route->r->ups[req->next_cand - 1].hedge_ms;
		up = req->route->ups[req->next_cand - 1];
		stalled = up_silent(up, d);
		req->hedge_at = 0;
		/* Real traffic noticed first: the health part probes now. */
		if (stalled)
			up_report(up, RG_FWD_TIMEOUT);
		if (stalled || fw->tokens >= 1.0) {
			if (!stalled)
				fw->tokens -= 1.0;
			if ((n = req_launch(req)) > 0)
				STAT_INC(fw, hedged);
		} else if (!req->hedge_again) {
			req->hedge_again = 1;
			req->hedge_at = now + (d > FWD_SILENT_MS ? d :
			    FWD_SILENT_MS);
		}
		if (req->inflight == 0) {
			req_fail(req);
			return;
		}
	}
	/* Due, but not judged yet: after the next read (a timer due now
	 * would run again before it). */
	for (i = 0; i < FWD_ATT_MAX; i++)
		if (req->att[i].used && req->att[i].deadline <= now)
			break;
	if (i < FWD_ATT_MAX || (req->hedge_at != 0 && req->hedge_at <= now)) {
		uv_timer_start(&req->timer, req_timer_cb, 1, 0);
		return;
	}
	req_arm(req);
}

/* A reply that matched ATT. */
static void
att_answer(struct fwd_att *att, const uint8_t *pkt, size_t len)
{
	struct rg_fwd_req *req = att->req;
	struct rg_fwd *fw = req->fw;
	uint8_t rcode = pkt[3] & 0x0f;
	uint64_t now;

	att->up->timeouts_row = 0;
	att->up->last_reply_ms = uv_now(fw->loop);
	if (att->conn != NULL)
		att->conn->timeouts = 0;
	if ((pkt[2] & 0x02) && att->sock != NULL) {
		/* Truncated over UDP: the same upstream over TCP. */
		att_unregister(att);
		STAT_INC(fw, tcp_retries);
		if (stream_send(att) == 0) {
			now = uv_now(fw->loop);
			att->deadline = now + req->route->r->attempt_timeout_ms;
			if (att->deadline > req->budget_at)
				att->deadline = req->budget_at;
			/* It did answer: its hedge delay starts again with
			 * the exchange over TCP. */
			if (req->hedge_at != 0 &&
			    att->up == req->route->ups[req->next_cand - 1])
				req->hedge_at = now +
				    req->route->r->ups[req->next_cand - 1].hedge_ms;
			req_arm(req);
			return;
		}
		att_fail(att, RG_FWD_NETWORK, 0);
		req_next(req, 1);
		return;
	}
	switch (rcode) {
	case DNS_RCODE_SERVFAIL:
		req->refused = 1;
		if (req->fail_pkt == NULL &&
		    (req->fail_pkt = malloc(len)) != NULL) {
			memcpy(req->fail_pkt, pkt, len);
			req->fail_len = len;
		}
		att_fail(att, RG_FWD_SERVFAIL, 1);
		req_next(req, 1);
		return;
	case DNS_RCODE_REFUSED:
		req->refused = 1;
		att_fail(att, RG_FWD_REFUSED, 1);
		req_next(req, 1);
		return;
	case DNS_RCODE_FORMERR:
	case DNS_RCODE_NOTIMP:
		att_fail(att, RG_FWD_NETWORK, 0);
		req_next(req, 1);
		return;
	default:
		break;
	}
	req_done(req, pkt, len, 0);
}

/* A packet from an upstream socket or connection with table M. */
static void
fwd_input(struct rg_fwd *fw, struct idmap *m, const uint8_t *pkt, size_t len)
{
	struct fwd_att *att;

	if (len < 12 || !(pkt[2] & 0x80) ||
	    (att = idmap_get(m, (uint16_t)(pkt[0] << 8 | pkt[1]))) == NULL ||
	    !question_match(att->req, pkt, len) || !records_whole(pkt, len)) {
		STAT_INC(fw, unmatched);
		return;
	}
	att_answer(att, pkt, len);
}

/* Fail the attempts in M: all of them (a socket or connection that
 * broke), or with ONLY_UNSENT those whose query could not be sent, which
 * says nothing of the upstream. */
static void
idmap_fail(struct rg_fwd *fw, struct idmap *m, enum rg_fwd_outcome o,
    int only_unsent)
{
	struct {
		struct fwd_att *att;
		uint64_t serial;
	} *v;
	uint32_t i, n = 0;

	if (m->n == 0)
		return;
	if ((v = calloc(m->n, sizeof(*v))) == NULL)
		return;		/* they time out instead */
	for (i = 0; i < m->cap; i++)
		if (m->s[i].att != NULL &&
		    (!only_unsent || m->s[i].att->unsent)) {
			v[n].att = m->s[i].att;
			v[n].serial = m->s[i].att->serial;
			n++;
		}
	for (i = 0; i < n; i++) {
		struct fwd_att *att = v[i].att;

		/* An earlier failure may have ended its request. */
		if (!att->used || att->serial != v[i].serial)
			continue;
		att_fail(att, o, !only_unsent);
		req_next(att->req, 1);
	}
	free(v);
}

/*
 * A socket is readable, writable or in error.  Replies are read a batch
 * per recvmmsg(2); a batch that does not fill up has emptied the socket,
 * so no further call is made just to hear EAGAIN.
 */
static void
sock_poll_cb(uv_poll_t *h, int status, int events)
{
	struct fwd_sock *s = h->data;
	struct rg_fwd *fw = s->fw;
	struct mmsghdr msg[FWD_RECV_BATCH];
	struct iovec iov[FWD_RECV_BATCH];
	socklen_t el = sizeof(int);
	unsigned i, round;
	int n, err = 0;

	if (s->closing)
		return;
	fwd_mark(fw);
	if (status < 0) {
		/* libuv stops polling on an error: take the error, so that
		 * it is not reported again, and poll again. */
		(void)getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &el);
		s->events = 0;
		sock_poll_update(s);
		/* An ICMP error: the upstream is not there now. */
		if (path_error(err))
			idmap_fail(fw, &s->ids, RG_FWD_NETWORK, 0);
		return;
	}
	for (round = 0; (events & UV_READABLE) && round < FWD_RECV_ROUNDS &&
	    !s->closing; round++) {
		for (i = 0; i < FWD_RECV_BATCH; i++) {
			iov[i].iov_base = fw->rbuf + i * FWD_RECV_SIZE;
			iov[i].iov_len = FWD_RECV_SIZE;
			memset(&msg[i].msg_hdr, 0, sizeof(msg[i].msg_hdr));
			msg[i].msg_hdr.msg_iov = &iov[i];
			msg[i].msg_hdr.msg_iovlen = 1;
		}
		if ((n = recvmmsg(s->fd, msg, FWD_RECV_BATCH, MSG_DONTWAIT,
		    NULL)) < 0) {
			if (errno == EINTR)
				continue;
			if (path_error(errno)) {
				idmap_fail(fw, &s->ids, RG_FWD_NETWORK, 0);
				continue;
			}
			break;		/* EAGAIN: all read */
		}
		for (i = 0; i < (unsigned)n && !s->closing; i++) {
			if (msg[i].msg_hdr.msg_flags & MSG_TRUNC) {
				STAT_INC(fw, unmatched);
				continue;
			}
			fwd_input(fw, &s->ids, iov[i].iov_base,
			    msg[i].msg_len);
		}
		if (n < FWD_RECV_BATCH)
			break;
	}
	/* After the replies that wait there (the attempts of those that
	 * fail to go are failed before the loop waits). */
	if ((events & UV_WRITABLE) && !s->closing)
		sock_drain(s);
}

/* Streams: TCP and DNS over TLS */

struct wreq {
	uv_write_t req;
	struct fwd_conn *c;
	uint8_t data[];
};

static void
conn_write_cb(uv_write_t *w, int status)
{
	struct wreq *wr = w->data;

	if (status < 0 && status != UV_ECANCELED)
		conn_fail(wr->c, uv_strerror(status));
	free(wr);
}

/* Write raw bytes to the socket, queueing a copy of what does not go now. */
static int
conn_raw_write(struct fwd_conn *c, const uint8_t *p, size_t n)
{
	struct wreq *wr;
	uv_buf_t b = uv_buf_init((char *)p, (unsigned)n);
	int rc;

	rc = uv_try_write((uv_stream_t *)&c->h, &b, 1);
	if (rc == (int)n)
		return 0;
	if (rc < 0 && rc != UV_EAGAIN)
		return rc;
	if (rc > 0) {
		p += rc;
		n -= (size_t)rc;
	}
	if ((wr = malloc(sizeof(*wr) + n)) == NULL)
		return -ENOMEM;
	memcpy(wr->data, p, n);
	wr->c = c;
	wr->req.data = wr;
	b = uv_buf_init((char *)wr->data, (unsigned)n);
	if ((rc = uv_write(&wr->req, (uv_stream_t *)&c->h, &b, 1,
	    conn_write_cb)) < 0) {
		free(wr);
		return rc;
	}
	return 0;
}

static int
tls_flush(struct fwd_conn *c)
{
	uint8_t buf[16384];
	int n, rc;

	while (BIO_ctrl_pending(c->wbio) > 0) {
		if ((n = BIO_read(c->wbio, buf, sizeof(buf))) <= 0)
			break;
		if ((rc = conn_raw_write(c, buf, (size_t)n)) < 0)
			return rc;
	}
	return 0;
}

/* Send one frame (length prefix included) on a ready connection. */
static int
conn_send_ready(struct fwd_conn *c, const uint8_t *f, size_t n)
{
	if (!c->tls)
		return conn_raw_write(c, f, n);
	ERR_clear_error();
	if (SSL_write(c->ssl, f, (int)n) <= 0)
		return -EIO;
	return tls_flush(c);
}

static void
conn_close_cb(uv_handle_t *h)
{
	struct fwd_conn *c = h->data;
	struct rg_fwd *fw = c->fw;

	SSL_free(c->ssl);
	idmap_free(&c->ids);
	free(c->pend);
	free(c->rbuf);
	free(c);
	fw->handles--;
	fwd_maybe_free(fw);
}

static void
conn_unlink(struct fwd_conn *c)
{
	struct fwd_conn **pp;

	for (pp = &c->up->conns; *pp != NULL; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			c->up->n_conns--;
			break;
		}
}

static void
conn_close(struct fwd_conn *c)
{
	if (c->state == CONN_CLOSING)
		return;
	c->state = CONN_CLOSING;
	conn_unlink(c);
	uv_close((uv_handle_t *)&c->h, conn_close_cb);
}

static void
conn_fail(struct fwd_conn *c, const char *why)
{
	if (c->state == CONN_CLOSING)
		return;
	if (c->ids.n > 0)
		rg_log_debug("guard: %s %s: %s", c->tls ? "tls" : "tcp",
		    c->up->ru->name, why);
	conn_close(c);
	idmap_fail(c->fw, &c->ids, RG_FWD_NETWORK, 0);
}

static void
conn_ready(struct fwd_conn *c)
{
	int rc;

	c->state = CONN_READY;
	if (c->pend_len > 0) {
		rc = conn_send_ready(c, c->pend, c->pend_len);
		c->pend_len = 0;
		if (rc < 0)
			conn_fail(c, "write failed");
	}
}

static void
conn_input(struct fwd_conn *c, const uint8_t *p, size_t n)
{
	size_t need, off = 0, len;
	uint8_t *nb;

	if (c->rlen + n > c->rcap) {
		need = c->rlen + n;
		if ((nb = realloc(c->rbuf, need)) == NULL) {
			conn_fail(c, "out of memory");
			return;
		}
		c->rbuf = nb;
		c->rcap = need;
	}
	memcpy(c->rbuf + c->rlen, p, n);
	c->rlen += n;
	while (c->rlen - off >= 2 && c->state != CONN_CLOSING) {
		len = (size_t)c->rbuf[off] << 8 | c->rbuf[off + 1];
		if (c->rlen - off < 2 + len)
			break;
		fwd_input(c->fw, &c->ids, c->rbuf + off + 2, len);
		off += 2 + len;
	}
	if (c->state == CONN_CLOSING)
		return;
	memmove(c->rbuf, c->rbuf + off, c->rlen - off);
	c->rlen -= off;
	c->last_ms = uv_now(c->fw->loop);
}

static void
conn_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct fwd_conn *c = h->data;

	*buf = uv_buf_init((char *)c->fw->rbuf, 65536);
}

static void
conn_read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct fwd_conn *c = s->data;

	fwd_mark(c->fw);
	if (c->state == CONN_CLOSING || n == 0)
		return;
	if (n < 0) {
		conn_fail(c, n == UV_EOF ? "closed by the upstream" :
		    uv_strerror((int)n));
		return;
	}
	if (!c->tls) {
		conn_input(c, (const uint8_t *)buf->base, (size_t)n);
		return;
	}
	if (BIO_write(c->rbio, buf->base, (int)n) != (int)n) {
		conn_fail(c, "out of memory");
		return;
	}
	tls_advance(c);
}

static void
tls_advance(struct fwd_conn *c)
{
	uint8_t buf[16384];
	char pin[64], why[160];
	unsigned long e;
	long v;
	int r;

	if (c->state == CONN_HANDSHAKE) {
		ERR_clear_error();
		r = SSL_do_handshake(c->ssl);
		if (r != 1) {
			r = SSL_get_error(c->ssl, r);
			if (r == SSL_ERROR_WANT_READ ||
			    r == SSL_ERROR_WANT_WRITE) {
				if (tls_flush(c) < 0)
					conn_fail(c, "write failed");
				return;
			}
			tls_flush(c);
			v = SSL_get_verify_result(c->ssl);
			e = ERR_get_error();
			snprintf(why, sizeof(why), "TLS handshake: %s",
			    v != X509_V_OK ? X509_verify_cert_error_string(v) :
			    e != 0 ? ERR_reason_error_string(e) : "failed");
			ERR_clear_error();
			conn_fail(c, why);
			return;
		}
		if (c->up->ru->spki_pin != NULL &&
		    (rg_tls_spki_pin(c->ssl, pin, sizeof(pin)) < 0 ||
		    strcmp(pin, c->up->ru->spki_pin) != 0)) {
			conn_fail(c, "SPKI pin mismatch");
			return;
		}
		conn_ready(c);
		if (c->state == CONN_CLOSING)
			return;
	}
	for (;;) {
		ERR_clear_error();
		r = SSL_read(c->ssl, buf, sizeof(buf));
		if (r > 0) {
			conn_input(c, buf, (size_t)r);
			if (c->state == CONN_CLOSING)
				return;
			continue;
		}
		r = SSL_get_error(c->ssl, r);
		if (r == SSL_ERROR_WANT_READ || r == SSL_ERROR_WANT_WRITE)
			break;
		ERR_clear_error();
		conn_fail(c, r == SSL_ERROR_ZERO_RETURN ?
		    "TLS closed by the upstream" : "TLS read failed");
		return;
	}
	if (tls_flush(c) < 0)
		conn_fail(c, "write failed");
}

static SSL_CTX *
tls_ctx_get(struct rg_fwd *fw, const char *ca_file)
{
	struct tls_ctx *t;
	SSL_CTX *ctx;

	for (t = fw->tls; t != NULL; t = t->next)
		if (str_eq(t->ca_file, ca_file))
			return t->ctx;
	if ((ctx = rg_tls_ctx_new(ca_file)) == NULL) {
		ERR_clear_error();
		return NULL;
	}
	if ((t = calloc(1, sizeof(*t))) == NULL) {
		ERR_clear_error();
		SSL_CTX_free(ctx);
		return NULL;
	}
	if (ca_file != NULL && (t->ca_file = strdup(ca_file)) == NULL) {
		SSL_CTX_free(ctx);
		free(t);
		return NULL;
	}
	t->ctx = ctx;
	t->next = fw->tls;
	fw->tls = t;
	return ctx;
}

static int
tls_start(struct fwd_conn *c)
{
	const struct rg_route_upstream *ru = c->up->ru;
	SSL_CTX *ctx;

	if ((ctx = tls_ctx_get(c->fw, ru->ca_file)) == NULL ||
	    (c->ssl = SSL_new(ctx)) == NULL)
		return -EIO;
	if ((c->rbio = BIO_new(BIO_s_mem())) == NULL ||
	    (c->wbio = BIO_new(BIO_s_mem())) == NULL) {
		BIO_free(c->rbio);
		c->rbio = NULL;
		return -ENOMEM;
	}
	SSL_set_bio(c->ssl, c->rbio, c->wbio);
	SSL_set_connect_state(c->ssl);
	if (rg_tls_prepare(c->ssl, ru->tls_name, &ru->addr) < 0)
		return -EINVAL;
	c->state = CONN_HANDSHAKE;
	tls_advance(c);
	return 0;
}

static void
conn_connect_cb(uv_connect_t *cr, int status)
{
	struct fwd_conn *c = cr->data;

	fwd_mark(c->fw);
	if (c->state == CONN_CLOSING)
		return;
	if (status < 0) {
		conn_fail(c, uv_strerror(status));
		return;
	}
	if (uv_read_start((uv_stream_t *)&c->h, conn_alloc_cb,
	    conn_read_cb) < 0) {
		conn_fail(c, "cannot read");
		return;
	}
	if (c->tls) {
		if (tls_start(c) < 0)
			conn_fail(c, "cannot set up TLS");
		return;
	}
	conn_ready(c);
}

static struct fwd_conn *
conn_new(struct fwd_up *up, int tls)
{
	struct rg_fwd *fw = up->fw;
	struct fwd_conn *c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->fw = fw;
	c->up = up;
	c->tls = tls;
	c->h.data = c;
	c->creq.data = c;
	if (uv_tcp_init(fw->loop, &c->h) < 0) {
		free(c);
		return NULL;
	}
	fw->handles++;
	c->state = CONN_CONNECTING;
	c->last_ms = uv_now(fw->loop);
	c->next = up->conns;
	up->conns = c;
	up->n_conns++;
	uv_tcp_nodelay(&c->h, 1);
	if (uv_tcp_connect(&c->creq, &c->h,
	    (const struct sockaddr *)&up->ru->addr, conn_connect_cb) < 0) {
		conn_close(c);
		return NULL;
	}
	return c;
}

/* Send ATT's query over a stream of its upstream (TLS for a tls
 * upstream, TCP otherwise). */
static int
stream_send(struct fwd_att *att)
{
	struct fwd_up *up = att->up;
	struct rg_fwd_req *req = att->req;
	int tls = up->ru->transport == RG_TRANSPORT_TLS;
	struct fwd_conn *c, *best = NULL;
	uint8_t f[2 + FWD_WIRE_MAX], *np;
	size_t n = req->wire_len + 2, cap;
	int rc;

	for (c = up->conns; c != NULL; c = c->next)
		if (c->tls == tls && c->ids.n < FWD_CONN_PIPE &&
		    c->timeouts < FWD_CONN_STALE &&
		    (best == NULL || c->ids.n < best->ids.n))
			best = c;
	/* A second connection only when the first is busy. */
	if ((best == NULL || best->ids.n >= FWD_CONN_PIPE / 2) &&
	    up->n_conns < FWD_CONN_MAX && (c = conn_new(up, tls)) != NULL)
		best = c;
	if ((c = best) == NULL)
		return -EAGAIN;
	if ((rc = id_assign(up->fw, &c->ids, att)) < 0)
		return rc;
	f[0] = (uint8_t)(req->wire_len >> 8);
	f[1] = (uint8_t)req->wire_len;
	memcpy(f + 2, req->wire, req->wire_len);
	f[2] = att->id >> 8;
	f[3] = att->id & 0xff;
	if (c->state == CONN_READY)
		rc = conn_send_ready(c, f, n);
	else {
		if (c->pend_len + n > c->pend_cap) {
			cap = (c->pend_len + n) * 2;
			if ((np = realloc(c->pend, cap)) == NULL) {
				idmap_del(&c->ids, att->id);
				return -ENOMEM;
			}
			c->pend = np;
			c->pend_cap = cap;
		}
		memcpy(c->pend + c->pend_len, f, n);
		c->pend_len += n;
		rc = 0;
	}
	if (rc < 0) {
		idmap_del(&c->ids, att->id);
		conn_fail(c, "write failed");
		return rc;
	}
	att->conn = c;
	c->last_ms = uv_now(up->fw->loop);
	return 0;
}

/* Upstreams and worker routes */

static void
up_close(struct fwd_up *up)
{
	struct fwd_sock *s;
	unsigned i;

	for (i = 0; i < FWD_UDP_SOCKS; i++)
		if (up->socks[i] != NULL)
			sock_close(up->socks[i]);
	while ((s = up->retiring) != NULL) {
		up->retiring = s->next;
		sock_close(s);
	}
	while (up->conns != NULL)
		conn_fail(up->conns, "closing");
	rg_route_unref(up->route);
	free(up);
}

static struct fwd_up *
up_get(struct rg_fwd *fw, struct rg_route *r, size_t i)
{
	const struct rg_route_upstream *ru = &r->ups[i];
	struct fwd_up *up;

	for (up = fw->ups; up != NULL; up = up->next)
		if (upstream_same(up->ru, ru))
			break;
	if (up == NULL) {
		if ((up = calloc(1, sizeof(*up))) == NULL)
			return NULL;
		up->fw = fw;
		up->next = fw->ups;
		fw->ups = up;
	}
	/* Names and states come from the newest route. */
	if (up->route != r) {
		rg_route_ref(r);
		rg_route_unref(up->route);
		up->route = r;
	}
	up->ru = ru;
	return up;
}

void
rg_fwd_set_route(struct rg_fwd *fw, struct rg_route *r)
{
	struct fwd_route *fr;
	size_t i;

	if (fw->closing || (fr = calloc(1, sizeof(*fr))) == NULL)
		return;
	if ((fr->ups = calloc(r->n_ups + 1, sizeof(*fr->ups))) == NULL) {
		free(fr);
		return;
	}
	for (i = 0; i < r->n_ups; i++)
		if ((fr->ups[i] = up_get(fw, r, i)) == NULL) {
			while (i-- > 0)
				fr->ups[i]->refs--;
			free(fr->ups);
			free(fr);
			return;
		} else
			fr->ups[i]->refs++;
	rg_route_ref(r);
	fr->r = r;
	fr->refs = 1;
	fwd_route_unref(fw->route);
	fw->route = fr;
}

/* Once a second: replace old sockets, close idle ones and connections,
 * and drop upstreams no route lists any more. */
static void
sweep_timer_cb(uv_timer_t *t)
{
	struct rg_fwd *fw = t->data;
	uint64_t now = uv_now(fw->loop);
	struct fwd_up *up, **upp;
	struct fwd_sock *s, **sp;
	struct fwd_conn *c, *cn;
	unsigned i;

	for (upp = &fw->ups; (up = *upp) != NULL;) {
		if (up->refs == 0) {
			*upp = up->next;
			up_close(up);
			continue;
		}
		for (i = 0; i < FWD_UDP_SOCKS; i++) {
			s = up->socks[i];
			if (s != NULL && now - s->born_ms >= FWD_SOCK_AGE_MS)
				(void)sock_retire(up, i);
		}
		for (sp = &up->retiring; (s = *sp) != NULL;) {
			if (s->ids.n == 0) {
				*sp = s->next;
				sock_close(s);
			} else
				sp = &s->next;
		}
		for (c = up->conns; c != NULL; c = cn) {
			cn = c->next;
			if (c->timeouts >= FWD_CONN_STALE)
				conn_fail(c, "no reply to queries");
			else if (c->ids.n == 0 &&
			    now - c->last_ms >= FWD_CONN_IDLE_MS)
				conn_close(c);
		}
		upp = &up->next;
	}
}

void
rg_fwd_flush(struct rg_fwd *fw)
{
	fwd_flush(fw);
}

static void
prep_cb(uv_prepare_t *p)
{
	fwd_flush(p->data);
}

/* A turn that did not wait for I/O: the attempts the last flush left. */
static void
again_cb(uv_idle_t *h)
{
	uv_idle_stop(h);
	fwd_flush(h->data);
}

/* Right after the loop's I/O callbacks: the loop time is the time its
 * poll returned, when the sockets were last read. */
static void
check_cb(uv_check_t *c)
{
	struct rg_fwd *fw = c->data;

	fw->read_ms = uv_now(fw->loop);
	fwd_flush(fw);
}

void
rg_fwd_set_wake_mark(struct rg_fwd *fw, uint64_t *ns)
{
	fw->woke_ns = ns;
}

struct rg_fwd *
rg_fwd_new(uv_loop_t *loop, rg_fwd_report_cb *cb, rg_fwd_recurse_cb *rcb,
    void *arg)
{
	struct rg_fwd *fw;

	if ((fw = calloc(1, sizeof(*fw))) == NULL)
		return NULL;
	if ((fw->rbuf = malloc(FWD_RBUF_SIZE)) == NULL) {
		free(fw);
		return NULL;
	}
	fw->loop = loop;
	fw->report = cb;
	fw->recurse = rcb;
	fw->report_arg = arg;
	fw->tokens = FWD_HEDGE_BURST;
	fw->rnd_pos = sizeof(fw->rnd);
	uv_timer_init(loop, &fw->sweep);
	fw->sweep.data = fw;
	fw->handles++;
	uv_timer_start(&fw->sweep, sweep_timer_cb, FWD_SWEEP_MS, FWD_SWEEP_MS);
	uv_unref((uv_handle_t *)&fw->sweep);
	/* Queries queued in this loop iteration go before it waits, and
	 * after its I/O callbacks. */
	uv_prepare_init(loop, &fw->prep);
	uv_check_init(loop, &fw->check);
	uv_idle_init(loop, &fw->again);
	fw->prep.data = fw->check.data = fw->again.data = fw;
	fw->handles += 3;
	uv_prepare_start(&fw->prep, prep_cb);
	uv_check_start(&fw->check, check_cb);
	uv_unref((uv_handle_t *)&fw->prep);
	uv_unref((uv_handle_t *)&fw->check);
	uv_unref((uv_handle_t *)&fw->again);
	return fw;
}

/* Client EDNS options passed on: all but those about the hop itself. */
static size_t
opts_filter(uint8_t *out, const uint8_t *p, size_t n)
{
	size_t off = 0, len = 0, l;
	uint16_t code;

	while (off + 4 <= n) {
		code = (uint16_t)(p[off] << 8 | p[off + 1]);
		l = (size_t)p[off + 2] << 8 | p[off + 3];
		if (off + 4 + l > n)
			break;
		/* COOKIE, tcp-keepalive, padding, EDE: this hop's. */
		if (code != 10 && code != 11 && code != 12 && code != 15 &&
		    len + 4 + l <= FWD_OPTS_MAX) {
			memcpy(out + len, p + off, 4 + l);
			len += 4 + l;
		}
		off += 4 + l;
	}
	return len;
}

struct rg_fwd_req *
rg_fwd_start(struct rg_fwd *fw, const struct rg_fwd_query *q,
    rg_fwd_done_cb *cb, void *arg)
{
	struct rg_fwd_req *req;
	const struct rg_route *r;
	uint8_t *w;
	size_t ol, o;

	if (fw->closing || fw->route == NULL || fw->route->r->n_ups == 0 ||
	    q->question_len > 259)
		return NULL;
	r = fw->route->r;
	if ((req = fw->free) != NULL) {
		fw->free = req->next;
		fw->n_free--;
	} else {
		if ((req = calloc(1, sizeof(*req))) == NULL)
			return NULL;
		req->fw = fw;
		req->timer.data = req;
		uv_timer_init(fw->loop, &req->timer);
		fw->handles++;
	}
	req->route = fw->route;
	req->route->refs++;
	req->cb = cb;
	req->arg = arg;
	req->next_cand = 0;
	req->inflight = 0;
	req->active = 1;
	req->refused = 0;
	req->prev = NULL;
	req->next = fw->active;
	if (fw->active != NULL)
		fw->active->prev = req;
	fw->active = req;
	STAT_INC(fw, forwarded);
	STAT_INC(fw, inflight);

	/* Header, the question as the client asked it, and EDNS. */
	w = req->wire;
	w[0] = w[1] = 0;
	w[2] = (uint8_t)(q->flags >> 8) & 0x01;		/* RD */
	w[3] = (uint8_t)q->flags & 0x30;		/* AD, CD */
	w[4] = 0, w[5] = 1;
	w[6] = w[7] = w[8] = w[9] = 0;
	w[10] = 0, w[11] = 1;
	memcpy(w + 12, q->question, q->question_len);
	req->qlen = q->question_len;
	o = 12 + q->question_len;
	w[o++] = 0;
	w[o++] = 0, w[o++] = 41;
	w[o++] = (uint8_t)(r->udp_size >> 8), w[o++] = (uint8_t)r->udp_size;
	w[o++] = 0, w[o++] = 0;
	w[o++] = q->dnssec_ok ? 0x80 : 0, w[o++] = 0;
	ol = q->options != NULL ? opts_filter(w + o + 2, q->options,
	    q->options_len) : 0;
	w[o++] = (uint8_t)(ol >> 8), w[o++] = (uint8_t)ol;
	req->wire_len = o + ol;

	req->budget_at = uv_now(fw->loop) + r->budget_ms;
	fw->tokens += FWD_HEDGE_RATE;
	if (fw->tokens > FWD_HEDGE_BURST)
		fw->tokens = FWD_HEDGE_BURST;
	if (req_launch(req) == 0 && req->inflight == 0) {
		/* Called back later, never from here. */
		req->next_cand = (unsigned)r->n_ups;
		req->budget_at = uv_now(fw->loop);
	}
	req_arm(req);
	return req;
}

void
rg_fwd_cancel(struct rg_fwd_req *req)
{
	if (req != NULL && req->active)
		req_finish(req);
}

const struct rg_fwd_stats *
rg_fwd_stats(const struct rg_fwd *fw)
{
	return &fw->st;
}

static void
fwd_maybe_free(struct rg_fwd *fw)
{
	struct tls_ctx *t;

	if (!fw->closing || fw->handles > 0)
		return;
	while ((t = fw->tls) != NULL) {
		fw->tls = t->next;
		SSL_CTX_free(t->ctx);
		free(t->ca_file);
		free(t);
	}
	idmap_free(&fw->rec_ids);
	free(fw->rbuf);
	free(fw);
}

/* The forwarder's own handles. */
static void
sweep_close_cb(uv_handle_t *h)
{
	struct rg_fwd *fw = h->data;

	fw->handles--;
	fwd_maybe_free(fw);
}

void
rg_fwd_close(struct rg_fwd *fw)
{
	struct rg_fwd_req *req;
	struct fwd_up *up;

	fw->closing = 1;
	while (fw->active != NULL)
		req_finish(fw->active);
	while ((req = fw->free) != NULL) {
		fw->free = req->next;
		uv_close((uv_handle_t *)&req->timer, req_timer_close_cb);
	}
	fwd_route_unref(fw->route);
	fw->route = NULL;
	while ((up = fw->ups) != NULL) {
		fw->ups = up->next;
		up_close(up);
	}
	uv_close((uv_handle_t *)&fw->sweep, sweep_close_cb);
	uv_close((uv_handle_t *)&fw->prep, sweep_close_cb);
	uv_close((uv_handle_t *)&fw->check, sweep_close_cb);
	uv_close((uv_handle_t *)&fw->again, sweep_close_cb);
}
