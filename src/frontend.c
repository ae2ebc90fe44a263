/*
 * frontend.c -- guard mode's listeners and workers: client queries parsed,
 * checked, answered from the blocklist or handed to the forwarder.
 *
 * Each worker thread owns a libuv loop with one UDP and one TCP listener
 * per server.listen address (the sockets were bound by the main thread
 * with SO_REUSEPORT), its TCP clients and its forwarder.  Nothing on the
 * query path takes a lock: the blocklist is read under quiescent-state
 * reclamation (each worker announces a quiescent state before it waits for
 * I/O, so a snapshot is taken afresh in every callback and never kept
 * across a wait), the snapshot of route and policy is swapped between two
 * queries when its version moves, and the counters are written by their
 * worker only.  The main thread takes the lock of the snapshot to publish,
 * and of the outcome queue to collect failed attempts.  Only the blocked
 * path takes a lock, its worker's, to count the hit in the sightings that
 * the main thread collects for the reports.
 *
 * Replies go out with the client's ID and its question as it sent it; the
 * OPT record is the client's business: removed for a client without EDNS,
 * given our UDP size for one with it, and a reply that does not fit the
 * client's UDP size is truncated so that the client asks again over TCP.
 * The last good answers are kept, in shards with a lock each, and served
 * stale when no upstream gives a usable one; the blocklist is consulted
 * before, so a blocked name never comes from there.  Response-IP rules
 * judge the answer as it leaves, fresh or stale, while the cache keeps
 * the upstream's answer as it came, so that each snapshot decides anew.
 *
 * A worker reads its UDP listeners itself, with recvmmsg(2) when uv_poll
 * says they are readable, rather than through uv_udp: a listener on a
 * wildcard address (0.0.0.0, ::) must answer from the address each query
 * was sent to, or the client drops the reply, and only the IP_PKTINFO or
 * IPV6_PKTINFO control message of recvmsg(2) says which address that was;
 * uv_udp does not pass control messages on.  Replies already went out
 * through sendmmsg(2) on the same descriptor, which now carries that
 * address back.  Listeners on one address need no control message.
 *
 * What a worker holds is bounded: FE_INFLIGHT_MAX queries in flight (the
 * forwarder's retired UDP sockets that still wait for replies count too;
 * beyond it a query is answered SERVFAIL at once, so that the client
 * turns to its next resolver rather than wait for a time-out), and
 * FE_TCP_WQ_MAX bytes of replies a TCP client has not read, FE_TCP_WQ_WORKER
 * over all of the worker's clients (beyond either, the connection is
 * closed).
 *
 * A question for the recursion goes to the main thread under a 16-bit
 * token that names a slot of the worker, and the slot keeps the
 * forwarder's token (with its generation) until the main thread has
 * answered, which it does once for each question.  So a slot is never
 * lent twice at a time, and a late answer reaches the forwarder with the
 * generation it was asked with, which drops it if the attempt is over.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <linux/filter.h>
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stddef.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <ldns/ldns.h>

#include "failover.h"
#include "frontend.h"
#include "log.h"

#define FE_RECV_BATCH	16		/* datagrams read by one recvmmsg(2) */
#define FE_RECV_SIZE	65536		/* ... each into this much room */
#define FE_RECV_ROUNDS	8		/* recvmmsg(2) calls per wake-up */
#define FE_RBUF_SIZE	(FE_RECV_BATCH * FE_RECV_SIZE)
#define FE_OUT_SIZE	(2 + 65535 + 64)
#define FE_TCP_MAX	1024		/* client connections per worker */
#define FE_TCP_PIPE	64		/* queries in flight per connection */
#define FE_TCP_WQ_MAX	(1024 * 1024)	/* unread replies before we hang up */
#define FE_TCP_WQ_WORKER (16 * 1024 * 1024) /* ... summed over a worker */
#define FE_INFLIGHT_MAX	10000		/* queries in flight per worker */
#define FE_REC_SLOTS	65536		/* recursion tokens per worker */
#define FE_RSLOT_NONE	UINT32_MAX
#define FE_FREE_MAX	1024		/* idle query contexts kept */
#define FE_OUTQ		256		/* outcomes waiting for the main loop */
#define FE_RECQ		1024		/* questions for the recursion */
#define FE_UDP_RCVBUF	(4 * 1024 * 1024)
#define FE_BATCH	64		/* replies sent by one sendmmsg(2) */
#define FE_STALE_TTL	30		/* TTL of a stale answer (RFC 8767) */
#define FE_STALE_MAX_S	86400		/* served at most this long expired */
#define FE_STALE_BYTES	4096		/* larger answers are not kept */
#define FE_STALE_SHARDS	16		/* locks of the stale cache */
#define FE_BATCH_BYTES	(128 * 1024)
#define FE_SIGHT_MAX	4096		/* rules seen per worker per interval */
#define FE_SIGHT_BUCKETS 1024
#define FE_SIGHT_CLIENTS 16		/* client prefixes kept per rule */

#define DNS_TYPE_A	1
#define DNS_TYPE_CNAME	5
#define DNS_TYPE_AAAA	28
#define DNS_TYPE_OPT	41
#define DNS_TYPE_TKEY	249
#define DNS_TYPE_TSIG	250
#define DNS_TYPE_IXFR	251
#define DNS_TYPE_AXFR	252
#define DNS_CLASS_IN	1

#define RCODE_NOERROR	0
#define RCODE_FORMERR	1
#define RCODE_SERVFAIL	2
#define RCODE_NXDOMAIN	3
#define RCODE_NOTIMP	4
#define RCODE_REFUSED	5
#define RCODE_BADVERS	16

#define EDE_OTHER		0
#define EDE_STALE		3
#define EDE_BLOCKED		15
#define EDE_NO_REACHABLE	22

/* The steps that stalls are counted over, in milliseconds. */
#define FE_STALL_STEPS	3
static const unsigned fe_stall_ms[FE_STALL_STEPS] = { 1, 5, 20 };

/* Counters of one worker: written by it alone, read by the main thread. */
struct fe_stats {
	_Atomic uint64_t queries;
	_Atomic uint64_t tcp_queries;
	_Atomic uint64_t answered;
	_Atomic uint64_t servfail;
	_Atomic uint64_t refused_acl;
	_Atomic uint64_t refused;
	_Atomic uint64_t formerr;
	_Atomic uint64_t notimp;
	_Atomic uint64_t dropped;
	_Atomic uint64_t truncated;
	_Atomic uint64_t tcp_conns;
	_Atomic uint64_t tcp_timeouts;
	_Atomic uint64_t stale;
	_Atomic uint64_t overloaded;	/* FE_INFLIGHT_MAX reached */
	_Atomic uint64_t tcp_reply_overflow;	/* FE_TCP_WQ_MAX reached */
	_Atomic uint64_t tcp_reply_worker_overflow; /* FE_TCP_WQ_WORKER */
	_Atomic uint64_t tcp_reply_queued;	/* bytes now, all clients */
	/* Hits of name rules (passthru: of both kinds), of response-IP
	 * rules. */
	_Atomic uint64_t blocked[RG_ACTION_COUNT];
	_Atomic uint64_t ip_blocked[RG_ACTION_COUNT];
	/* Stalls: loop turns in which a worker was away from its sockets
	 * for a millisecond or more, by how long (wall clock) and by how
	 * much of it the worker itself spent on a CPU. */
	_Atomic uint64_t stall_wall[FE_STALL_STEPS];
	_Atomic uint64_t stall_cpu[FE_STALL_STEPS];
};

#define STAT_ADD(w, f, n)	atomic_store_explicit(&(w)->st.f,	\
	atomic_load_explicit(&(w)->st.f, memory_order_relaxed) + (n),	\
	memory_order_relaxed)
#define STAT_INC(w, f)		STAT_ADD(w, f, 1)

struct fe_prefix {
	int family;
	uint8_t addr[16];
	unsigned len;
};

struct fe_name {
	uint8_t wire[256];
	size_t len;
};

/* What workers use and the main thread may change. */
struct fe_snap {
	_Atomic unsigned refs;
	struct rg_route *route;
	struct fe_prefix *acl;
	size_t n_acl;
	struct fe_name *allow;
	size_t n_allow;
	uint8_t sink_a[4];
	uint8_t sink_aaaa[16];
	uint32_t udp_size;
	uint32_t tcp_idle_ms;
	size_t stale_cap;		/* answers each stale shard keeps */
};

/* An answer kept to be served stale: the upstream's reply as it came. */
struct fe_stale {
	struct fe_stale *hnext;		/* hash chain */
	struct fe_stale *prev, *next;	/* most recently stored first */
	uint64_t expires_ms;		/* loop time when its TTL ran out */
	uint32_t hash;
	uint16_t klen;
	uint16_t len;
	uint8_t *pkt;
	uint8_t key[262];		/* name lowercased, type, DO and CD */
};

/* One of the shards of the stale cache, shared by the workers. */
struct fe_stale_shard {
	pthread_mutex_t mtx;
	struct fe_stale **tab;
	size_t nb;			/* buckets, a power of two */
	size_t n;
	struct fe_stale *head, *tail;
	char pad[64];
};

/* A client network as sightings keep it: IPv4 /24, IPv6 /56. */
struct fe_net {
	uint8_t family;			/* AF_INET, AF_INET6, 0: none */
	uint8_t addr[7];
};

/*
 * The client queries one rule caught in this interval.  The strings are
 * copies: the snapshot they came from may be gone by the next report.
 */
struct fe_sight {
	struct fe_sight *hnext;
	uint32_t hash;
	uint8_t ip;			/* a response-IP rule */
	uint8_t action;
	uint8_t n_nets;
	uint64_t count;
	struct fe_net nets[FE_SIGHT_CLIENTS];
	const char *feed, *indicator, *tlp;	/* in text, after the rule */
	char text[];			/* rule, feed, indicator, tlp */
};

/* A worker's sightings of one interval. */
struct fe_sights {
	struct fe_sight **tab;		/* FE_SIGHT_BUCKETS, or NULL */
	size_t n;
	uint64_t overflow;		/* hits beyond FE_SIGHT_MAX rules */
};

struct fe_worker;
struct fe_tconn;

/*
 * The address a UDP query was sent to, as a listener on a wildcard
 * address learns it: its reply must come from there.
 */
struct fe_dst {
	int family;			/* AF_INET, AF_INET6; 0: not known */
	union {
		struct in_pktinfo v4;
		struct in6_pktinfo v6;
	} u;
};

/* Room for one IP_PKTINFO or IPV6_PKTINFO control message. */
union fe_cmsg {
	struct cmsghdr align;
	uint8_t buf[CMSG_SPACE(sizeof(struct in6_pktinfo))];
};

/* A UDP listener, and the replies waiting to go out of it together. */
struct fe_udp {
	uv_poll_t h;
	struct fe_worker *w;
	int fd;				/* ours: closed by rg_frontend_free() */
	int pktinfo;			/* on a wildcard address */
	unsigned n;
	size_t used;
	struct mmsghdr msg[FE_BATCH];
	struct iovec iov[FE_BATCH];
	struct sockaddr_storage to[FE_BATCH];
	union fe_cmsg ctl[FE_BATCH];
	uint8_t buf[FE_BATCH_BYTES];
};

/* What one recvmmsg(2) on a listener reads into (the data: w->rbuf). */
struct fe_rx {
	struct mmsghdr msg[FE_RECV_BATCH];
	struct iovec iov[FE_RECV_BATCH];
	struct sockaddr_storage from[FE_RECV_BATCH];
	union fe_cmsg ctl[FE_RECV_BATCH];
};

/*
 * A recursion token lent to the main thread: the slot's index is the
 * token it sees, TOKEN the forwarder's (with its generation).
 */
struct fe_rslot {
	uint64_t token;
	uint32_t next;			/* free list, while free */
	int busy;
};

/* A query being forwarded. */
struct fe_query {
	struct fe_worker *w;
	struct fe_query *next, *prev;	/* worker's list */
	struct fe_query *cnext, *cprev;	/* its TCP connection's list */
	struct rg_fwd_req *req;
	struct fe_tconn *conn;		/* TCP client, or NULL */
	struct fe_udp *udp;		/* UDP listener it came in on */
	struct sockaddr_storage addr;
	struct fe_dst dst;		/* where it was sent to, over UDP */
	uint16_t id;
	uint16_t flags;
	int edns;
	int edns_do;
	uint16_t edns_size;
	uint16_t qlen;
	int passthru;			/* exempt: its answer goes as is */
	uint8_t question[260];
};

/* A TCP client. */
struct fe_tconn {
	uv_tcp_t h;
	uv_timer_t timer;
	struct fe_worker *w;
	struct fe_tconn *next, *prev;
	struct sockaddr_storage peer;
	struct fe_query *queries;
	unsigned nq;
	size_t wq;		/* reply bytes queued, not yet written */
	uint8_t *buf;
	size_t len, cap;
	int closing;
	int reading;
	int open;
	int draining;		/* tconn_drain() is on the stack */
	int again;		/* ... and must go round once more */
};

/*
 * How long a worker goes without reading its sockets: the time from the
 * first callback after a wait for I/O (the first read of a socket, or the
 * loop's check phase when no socket woke it) to the next wait.  (libuv's
 * idle-time metric would tell the same, but it makes the loop poll once
 * without waiting before every wait: a system call per wake-up.)  A
 * turn of the loop that takes long is a stall; what of it the thread
 * spent on a CPU (its CPU clock, read once every FE_CPU_SAMPLE_NS at
 * most, so that the figure is an upper bound by that much) tells the
 * worker's own work apart from the machine's scheduling.
 */
#define FE_STALL_NS		1000000ULL
#define FE_CPU_SAMPLE_NS	250000ULL
#define FE_STALL_LOG_NS		5000000ULL	/* logged, when the worst yet */

struct fe_loopmon {
	uint64_t woke_ns;		/* the turn's first callback, or 0 */
	uint64_t cpu_ns, cpu_at_ns;	/* thread CPU time, and when read;
					 * 0: not yet */
	_Atomic uint64_t max_wall_us, max_cpu_us;
};

struct fe_worker {
	struct rg_frontend *fe;
	unsigned index;
	int cpu;			/* server.socket-affinity: its CPU; -1 */
	pthread_t thread;
	int running;
	int loop_init;
	uv_loop_t loop;
	uv_async_t wake;
	uv_async_t rec_async;		/* recursion replies arrived */
	pthread_mutex_t rec_mtx;
	int rec_mtx_init;
	struct fe_recres *rec_res;	/* under rec_mtx: replies */
	uint64_t *rec_failed;		/* ... and tokens failed, one bit each */
	uint64_t *rec_failed_spare;	/* swapped with it, worker's own */
	int rec_failed_any;
	struct fe_rslot *rslots;	/* FE_REC_SLOTS at most, grown */
	uint32_t n_rslots;
	uint32_t rfree;			/* first free slot, or FE_RSLOT_NONE */
	uv_prepare_t prep;
	uv_check_t check;
	struct fe_udp *udp;
	uv_tcp_t *tcp;
	int *fd_udp, *fd_tcp;
	struct rg_fwd *fwd;
	struct fe_snap *snap;
	uint64_t snap_version;
	struct fe_query *queries, *free_q;
	unsigned n_queries;		/* in flight */
	unsigned n_free;
	struct fe_tconn *conns;
	unsigned n_conns;
	struct fe_rx rx;
	uint8_t *rbuf;
	uint8_t *out;
	uint8_t *stale_buf;
	int stopping;
	pthread_mutex_t sight_mtx;	/* taken on the blocked path only */
	int sight_mtx_init;
	struct fe_sights sights;
	int fuzz;			/* no sockets: rg_frontend_fuzz_*() */
	int fuzz_tcp;			/* ... the client is on TCP */
	struct fe_query *fuzz_q;	/* ... the query to be answered */
	uint8_t *fuzz_out;		/* ... where its reply goes */
	size_t fuzz_cap, fuzz_len;
	int fuzz_forwarded;
	struct fe_stats st;
	struct fe_loopmon mon;
};

/* A callback of the loop's I/O phase: the turn's work begins, if it has
 * not yet. */
static inline void
turn_mark(struct fe_worker *w)
{
	if (w->mon.woke_ns == 0)
		w->mon.woke_ns = uv_hrtime();
}

/* A question for the main thread's recursion. */
struct fe_recq {
	unsigned worker;
	uint16_t token;			/* the worker's slot */
	uint32_t timeout_ms;
	char pool[64];
	size_t qlen;
	uint8_t question[260];
};

/* Its reply, on the way back to the worker. */
struct fe_recres {
	struct fe_recres *next;
	uint16_t token;
	size_t len;
	uint8_t pkt[];
};

struct fe_outcome {
	char name[64];
	struct sockaddr_storage addr;
	enum rg_transport transport;
	enum rg_fwd_outcome outcome;
};

struct rg_frontend {
	unsigned n_workers;
	int affinity;			/* workers placed on CPUs */
	uv_timer_t spread_timer;	/* checks how the queries spread */
	int spread_init;
	uint64_t *spread_last;		/* each worker's queries at the last */
	size_t n_listen;
	char **listen;
	struct sockaddr_storage *laddr;
	struct fe_worker *w;
	struct rg_bl_domain *bl;
	pthread_mutex_t snap_mtx;
	struct fe_snap *snap;
	_Atomic uint64_t snap_version;
	pthread_mutex_t out_mtx;
	struct fe_outcome outq[FE_OUTQ];
	unsigned n_out;
	uint64_t out_lost;
	struct fe_stale_shard stale[FE_STALE_SHARDS];
	struct fe_recq *recq;		/* under out_mtx */
	struct fe_recq *recq_spare;	/* swapped with it by the main loop */
	unsigned n_rec;
	uv_async_t out_async;
	int async_init;
	rg_guard_outcome_cb *cb;
	rg_guard_recurse_cb *rcb;
	void *cb_arg;
	int started;
	int stopped;
};

/* Snapshots */

static void
snap_unref(struct fe_snap *s)
{
	if (s == NULL ||
	    atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
		return;
	rg_route_unref(s->route);
	free(s->acl);
	free(s->allow);
	free(s);
}

static int
prefix_parse(const char *s, struct fe_prefix *p)
{
	char buf[INET6_ADDRSTRLEN + 8], *slash;
	long len;

	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	if ((slash = strchr(buf, '/')) != NULL)
		*slash++ = '\0';
	memset(p, 0, sizeof(*p));
	if (inet_pton(AF_INET, buf, p->addr) == 1) {
		p->family = AF_INET;
		len = 32;
	} else if (inet_pton(AF_INET6, buf, p->addr) == 1) {
		p->family = AF_INET6;
		len = 128;
	} else
		return -EINVAL;
	if (slash != NULL)
		len = strtol(slash, NULL, 10);
	p->len = (unsigned)len;
	return 0;
}

static int
name_wire(const char *s, struct fe_name *n)
{
	ldns_rdf *d;
	size_t i;

	if (ldns_str2rdf_dname(&d, s) != LDNS_STATUS_OK)
		return -EINVAL;
	n->len = ldns_rdf_size(d);
	if (n->len > sizeof(n->wire)) {
		ldns_rdf_deep_free(d);
		return -EINVAL;
	}
	memcpy(n->wire, ldns_rdf_data(d), n->len);
	ldns_rdf_deep_free(d);
	for (i = 0; i < n->len; i++)
		if (n->wire[i] >= 'A' && n->wire[i] <= 'Z')
			n->wire[i] += 32;
	return 0;
}

static struct fe_snap *
snap_build(const struct rg_conf *conf, const struct rg_failover *f)
{
	struct fe_snap *s;
	size_t i;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	atomic_init(&s->refs, 1);
	if ((s->route = rg_route_build(f)) == NULL ||
	    (s->acl = calloc(conf->n_access_control + 1,
	    sizeof(*s->acl))) == NULL ||
	    (s->allow = calloc(conf->n_allowlist + 1,
	    sizeof(*s->allow))) == NULL)
		goto fail;
	for (i = 0; i < conf->n_access_control; i++)
		if (prefix_parse(conf->access_control[i],
		    &s->acl[s->n_acl]) == 0)
			s->n_acl++;
	for (i = 0; i < conf->n_allowlist; i++)
		if (name_wire(conf->allowlist[i], &s->allow[s->n_allow]) == 0)
			s->n_allow++;
	memcpy(s->sink_a, conf->sinkhole_a, 4);
	memcpy(s->sink_aaaa, conf->sinkhole_aaaa, 16);
	s->udp_size = conf->udp_size;
	s->tcp_idle_ms = conf->tcp_idle_timeout_ms;
	s->stale_cap = (conf->stale_cache + FE_STALE_SHARDS - 1) /
	    FE_STALE_SHARDS;
	return s;
fail:
	snap_unref(s);
	return NULL;
}

/* The same policy: only the route may differ. */
static int
snap_policy_equal(const struct fe_snap *a, const struct fe_snap *b)
{
	return a->n_acl == b->n_acl && a->n_allow == b->n_allow &&
	    memcmp(a->acl, b->acl, a->n_acl * sizeof(*a->acl)) == 0 &&
	    memcmp(a->allow, b->allow, a->n_allow * sizeof(*a->allow)) == 0 &&
	    memcmp(a->sink_a, b->sink_a, sizeof(a->sink_a)) == 0 &&
	    memcmp(a->sink_aaaa, b->sink_aaaa, sizeof(a->sink_aaaa)) == 0 &&
	    a->udp_size == b->udp_size && a->tcp_idle_ms == b->tcp_idle_ms &&
	    a->stale_cap == b->stale_cap;
}

int
rg_frontend_update(struct rg_frontend *fe, const struct rg_conf *conf,
    const struct rg_failover *f)
{
	struct fe_snap *s, *old;

	if (fe == NULL)
		return 0;
	if ((s = snap_build(conf, f)) == NULL) {
		rg_log_warnx("guard: out of memory; the route stays");
		return 0;
	}
	old = fe->snap;
	if (old != NULL && snap_policy_equal(old, s) &&
	    rg_route_equal(old->route, s->route)) {
		snap_unref(s);
		return 0;
	}
	pthread_mutex_lock(&fe->snap_mtx);
	fe->snap = s;
	atomic_fetch_add_explicit(&fe->snap_version, 1, memory_order_release);
	pthread_mutex_unlock(&fe->snap_mtx);
	snap_unref(old);
	if (s->route->n_ups > 0)
		rg_log_debug("guard: route of %zu upstreams, %s (%s) first",
		    s->route->n_ups, s->route->ups[0].name,
		    s->route->ups[0].pool);
	else
		rg_log_debug("guard: no upstream can be asked");
	return 1;
}

/* Take the newest snapshot, between two queries. */
static void
worker_refresh(struct fe_worker *w)
{
	struct rg_frontend *fe = w->fe;
	struct fe_snap *s;
	uint64_t v;

	if (atomic_load_explicit(&fe->snap_version, memory_order_acquire) ==
	    w->snap_version)
		return;
	pthread_mutex_lock(&fe->snap_mtx);
	v = atomic_load_explicit(&fe->snap_version, memory_order_relaxed);
	if ((s = fe->snap) != NULL)
		atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
	pthread_mutex_unlock(&fe->snap_mtx);
	snap_unref(w->snap);
	w->snap = s;
	w->snap_version = v;
	if (s != NULL && w->fwd != NULL)
		rg_fwd_set_route(w->fwd, s->route);
}

/* Outcomes, from the workers to the main loop */

static void
report_cb(void *arg, const struct rg_route_upstream *u,
    enum rg_fwd_outcome o)
{
	struct fe_worker *w = arg;
	struct rg_frontend *fe = w->fe;
	struct fe_outcome *e;

	pthread_mutex_lock(&fe->out_mtx);
	if (fe->n_out < FE_OUTQ) {
		e = &fe->outq[fe->n_out++];
		snprintf(e->name, sizeof(e->name), "%s", u->name);
		e->addr = u->addr;
		e->transport = u->transport;
		e->outcome = o;
	} else
		fe->out_lost++;
	pthread_mutex_unlock(&fe->out_mtx);
	uv_async_send(&fe->out_async);
}

/* Recursion tokens: the worker's slots, lent to the main thread. */

/* Lend a slot for the forwarder's TOKEN; its index into *SLOT. */
static int
rslot_get(struct fe_worker *w, uint64_t token, uint16_t *slot)
{
	struct fe_rslot *t;
	uint32_t i, n;

	if (w->rfree == FE_RSLOT_NONE) {
		if (w->n_rslots >= FE_REC_SLOTS)
			return -EAGAIN;
		n = w->n_rslots > 0 ? w->n_rslots * 2 : 256;
		if ((t = realloc(w->rslots, n * sizeof(*t))) == NULL)
			return -ENOMEM;
		for (i = n; i-- > w->n_rslots;) {
			t[i].busy = 0;
			t[i].next = w->rfree;
			w->rfree = i;
		}
		w->rslots = t;
		w->n_rslots = n;
	}
	i = w->rfree;
	w->rfree = w->rslots[i].next;
	w->rslots[i].busy = 1;
	w->rslots[i].token = token;
	*slot = (uint16_t)i;
	return 0;
}

/* The slot SLOT is back: the forwarder's token it held into *TOKEN. */
static int
rslot_put(struct fe_worker *w, uint16_t slot, uint64_t *token)
{
	struct fe_rslot *e;

	if (slot >= w->n_rslots || !(e = &w->rslots[slot])->busy)
		return -ENOENT;
	*token = e->token;
	e->busy = 0;
	e->next = w->rfree;
	w->rfree = slot;
	return 0;
}

/* A worker's attempt on a recursive pool: to the main loop. */
static int
recurse_cb(void *arg, const struct rg_route_upstream *u,
    const uint8_t *question, size_t qlen, uint64_t token,
    uint32_t timeout_ms)
{
	struct fe_worker *w = arg;
	struct rg_frontend *fe = w->fe;
	struct fe_recq *e;
	uint16_t slot;
	int rc;

	if (qlen > sizeof(e->question))
		return -EINVAL;
	if ((rc = rslot_get(w, token, &slot)) < 0)
		return rc;
	pthread_mutex_lock(&fe->out_mtx);
	if (fe->n_rec < FE_RECQ) {
		e = &fe->recq[fe->n_rec++];
		e->worker = w->index;
		e->token = slot;
		e->timeout_ms = timeout_ms;
		snprintf(e->pool, sizeof(e->pool), "%s", u->pool);
		e->qlen = qlen;
		memcpy(e->question, question, qlen);
	} else
		rc = -EAGAIN;
	pthread_mutex_unlock(&fe->out_mtx);
	if (rc == 0)
		uv_async_send(&fe->out_async);
	else
		(void)rslot_put(w, slot, &token);
	return rc;
}

static void
out_async_cb(uv_async_t *a)
{
	struct rg_frontend *fe = a->data;
	struct fe_outcome v[FE_OUTQ];
	struct fe_recq *rq;
	unsigned i, n, nr;

	pthread_mutex_lock(&fe->out_mtx);
	n = fe->n_out;
	memcpy(v, fe->outq, n * sizeof(v[0]));
	fe->n_out = 0;
	/* Taken whole: the workers fill the other one meanwhile, and every
	 * question taken is answered (the slots it holds come back). */
	nr = fe->n_rec;
	rq = fe->recq;
	fe->recq = fe->recq_spare;
	fe->recq_spare = rq;
	fe->n_rec = 0;
	pthread_mutex_unlock(&fe->out_mtx);
	for (i = 0; i < n; i++)
		fe->cb(fe->cb_arg, v[i].name, &v[i].addr, v[i].transport,
		    v[i].outcome);
	for (i = 0; i < nr; i++)
		fe->rcb(fe->cb_arg, rq[i].worker, rq[i].token, rq[i].pool,
		    rq[i].question, rq[i].qlen, rq[i].timeout_ms);
}

void
rg_frontend_recursion_reply(struct rg_frontend *fe, unsigned worker,
    uint16_t token, const uint8_t *pkt, size_t len)
{
	struct fe_worker *w;
	struct fe_recres *r = NULL;

	if (fe->stopped || worker >= fe->n_workers ||
	    !fe->w[worker].rec_mtx_init)
		return;
	w = &fe->w[worker];
	/* A failure takes no memory: a bit for its slot.  A reply with no
	 * memory to carry it is a failure too, so that the slot returns. */
	if (pkt != NULL && (r = malloc(sizeof(*r) + len)) != NULL) {
		r->token = token;
		r->len = len;
		memcpy(r->pkt, pkt, len);
	}
	pthread_mutex_lock(&w->rec_mtx);
	if (r != NULL) {
		r->next = w->rec_res;
		w->rec_res = r;
	} else {
		w->rec_failed[token / 64] |= (uint64_t)1 << (token % 64);
		w->rec_failed_any = 1;
	}
	pthread_mutex_unlock(&w->rec_mtx);
	uv_async_send(&w->rec_async);
}

/* The main thread's answer for SLOT: to the forwarder, which judges it. */
static void
rec_done(struct fe_worker *w, uint16_t slot, const uint8_t *pkt, size_t len)
{
	uint64_t token;

	if (rslot_put(w, slot, &token) == 0 && w->fwd != NULL)
		rg_fwd_recursion_reply(w->fwd, token, pkt, len);
}

static void
rec_async_cb(uv_async_t *a)
{
	struct fe_worker *w = a->data;
	struct fe_recres *r, *next;
	uint64_t *failed = NULL, bits;
	unsigned i, b;

	turn_mark(w);
	pthread_mutex_lock(&w->rec_mtx);
	r = w->rec_res;
	w->rec_res = NULL;
	if (w->rec_failed_any) {
		failed = w->rec_failed;
		w->rec_failed = w->rec_failed_spare;
		w->rec_failed_spare = failed;
		w->rec_failed_any = 0;
	}
	pthread_mutex_unlock(&w->rec_mtx);
	for (; r != NULL; r = next) {
		next = r->next;
		rec_done(w, r->token, r->pkt, r->len);
		free(r);
	}
	for (i = 0; failed != NULL && i < FE_REC_SLOTS / 64; i++) {
		if ((bits = failed[i]) == 0)
			continue;
		failed[i] = 0;
		for (b = 0; b < 64; b++)
			if (bits & (uint64_t)1 << b)
				rec_done(w, (uint16_t)(i * 64 + b), NULL, 0);
	}
}

/* Parsing client queries */

enum fe_verdict {
	FE_OK,
	FE_DROP,
	FE_FORMERR,
	FE_NOTIMP,
	FE_BADVERS,
};

struct fe_msg {
	uint16_t id;
	uint16_t flags;
	const uint8_t *question;
	size_t qlen;			/* name, type and class */
	size_t namelen;
	uint16_t qtype, qclass;
	int qok;			/* the question parsed: it is echoed */
	int edns;
	int edns_do;
	uint16_t edns_size;
	const uint8_t *opts;
	size_t opts_len;
};

static long
skip_name(const uint8_t *p, size_t len, size_t off)
{
	while (off < len) {
		uint8_t c = p[off];

		if (c == 0)
			return (long)off + 1;
		if ((c & 0xc0) == 0xc0)
			return off + 2 <= len ? (long)off + 2 : -1;
		if (c & 0xc0)
			return -1;
		off += 1 + (size_t)c;
	}
	return -1;
}

static enum fe_verdict
msg_parse(const uint8_t *p, size_t len, struct fe_msg *m)
{
	unsigned qd, an, ns, ar, i, opcode, version = 0;
	size_t off, start, rdlen;
	long o;
	uint16_t type;
	uint8_t c;

	memset(m, 0, sizeof(*m));
	if (len < 12)
		return FE_DROP;
	m->id = (uint16_t)(p[0] << 8 | p[1]);
	m->flags = (uint16_t)(p[2] << 8 | p[3]);
	if (m->flags & 0x8000)
		return FE_DROP;		/* a response: never answered */
	opcode = (m->flags >> 11) & 0x0f;
	qd = (unsigned)(p[4] << 8 | p[5]);
	an = (unsigned)(p[6] << 8 | p[7]);
	ns = (unsigned)(p[8] << 8 | p[9]);
	ar = (unsigned)(p[10] << 8 | p[11]);
	if (qd >= 1) {
		/* An uncompressed name: nothing precedes it to point to. */
		for (off = 12; off < len && (c = p[off]) != 0; off += 1 + c)
			if (c > 63 || off + 1 + c - 12 > 254)
				break;
		if (off < len && p[off] == 0 && off + 5 <= len) {
			m->qok = 1;
			m->question = p + 12;
			m->namelen = off + 1 - 12;
			m->qlen = m->namelen + 4;
			m->qtype = (uint16_t)(p[off + 1] << 8 | p[off + 2]);
			m->qclass = (uint16_t)(p[off + 3] << 8 | p[off + 4]);
		}
	}
	if (opcode != 0)
		return FE_NOTIMP;
	if (qd != 1 || !m->qok || an != 0 || ns != 0)
		return FE_FORMERR;
	off = 12 + m->qlen;
	for (i = 0; i < ar; i++) {
		start = off;
		if ((o = skip_name(p, len, off)) < 0 || (size_t)o + 10 > len)
			return FE_FORMERR;
		off = (size_t)o;
		type = (uint16_t)(p[off] << 8 | p[off + 1]);
		rdlen = (size_t)p[off + 8] << 8 | p[off + 9];
		if (off + 10 + rdlen > len)
			return FE_FORMERR;
		if (type == DNS_TYPE_OPT) {
			if (m->edns || p[start] != 0 || off != start + 1)
				return FE_FORMERR;
			m->edns = 1;
			m->edns_size = (uint16_t)(p[off + 2] << 8 | p[off + 3]);
			version = p[off + 5];
			m->edns_do = (p[off + 6] & 0x80) != 0;
			m->opts = p + off + 10;
			m->opts_len = rdlen;
		}
		off += 10 + rdlen;
	}
	if (m->edns && version != 0)
		return FE_BADVERS;
	return FE_OK;
}

/* Replies */

static void
put16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* An OPT record at O: our UDP size, the client's DO, EDE when CODE >= 0. */
static size_t
opt_put(uint8_t *o, const struct fe_snap *s, int ext_rcode, int dnssec_ok,
    int code, const char *text)
{
	size_t tl = text != NULL ? strlen(text) : 0, n = 11;

	if (tl > 200)
		tl = 200;
	o[0] = 0;
	put16(o + 1, DNS_TYPE_OPT);
	put16(o + 3, s != NULL ? s->udp_size : 1232);
	o[5] = (uint8_t)ext_rcode;
	o[6] = 0;
	o[7] = dnssec_ok ? 0x80 : 0;
	o[8] = 0;
	put16(o + 9, 0);
	if (code >= 0) {
		put16(o + 9, (unsigned)(6 + tl));
		put16(o + 11, 15);		/* EDE */
		put16(o + 13, (unsigned)(2 + tl));
		put16(o + 15, (unsigned)code);
		memcpy(o + 17, text, tl);
		n += 6 + tl;
	}
	return n;
}

/*
 * A reply made here: header, the question when it parsed, an answer
 * record of TYPE with RDATA when given, OPT when the client sent one.
 */
static size_t
reply_local(uint8_t *o, const struct fe_msg *m, const struct fe_snap *s,
    int rcode, uint16_t type, const uint8_t *rdata, size_t rdlen,
    int ede, const char *text)
{
	size_t n = 12;
	unsigned an = 0;

	put16(o, m->id);
	/* QR, the opcode and RD as asked, RA; CD as asked. */
	o[2] = (uint8_t)(0x80 | ((m->flags >> 8) & 0x79));
	o[3] = (uint8_t)(0x80 | (m->flags & 0x10) | (rcode & 0x0f));
	put16(o + 4, m->qok ? 1 : 0);
	put16(o + 6, 0);
	put16(o + 8, 0);
	put16(o + 10, 0);
	if (m->qok) {
		memcpy(o + n, m->question, m->qlen);
		n += m->qlen;
	}
	if (rdata != NULL) {
		put16(o + n, 0xc00c);
		put16(o + n + 2, type);
		put16(o + n + 4, DNS_CLASS_IN);
		put16(o + n + 6, 0);
		put16(o + n + 8, RG_BLOCK_TTL);
		put16(o + n + 10, (unsigned)rdlen);
		memcpy(o + n + 12, rdata, rdlen);
		n += 12 + rdlen;
		an = 1;
	}
	put16(o + 6, an);
	if (m->edns) {
		n += opt_put(o + n, s, rcode >> 4, m->edns_do, ede, text);
		put16(o + 10, 1);
	}
	return n;
}

/*
 * Local data (RG_ACTION_LOCAL): "TYPE RDATA" lines, one record each, A,
 * AAAA or CNAME (rg_bl_local_next()).  They are parsed again for every
 * answer: this is the blocked path, and the text is short.
 *
 * The records of LOCAL that answer QTYPE, written at O + *NP, owned by the
 * question name: every record of that type, else the CNAME, which answers
 * every type.  Its target is not followed (nor looked up in the blocklist):
 * the client's resolver asks for it.  Records past ROOM are left out and
 * *FULL set.  Returns the number of records that answer, or -1 when a
 * line does not parse (then nothing of it is used).
 */
static int
local_put(uint8_t *o, size_t *np, size_t room, uint16_t qtype,
    const char *local, int *full)
{
	const char *pos;
	uint8_t rd[256];
	size_t rdlen, n = *np;
	uint16_t type, want;
	int pass, count = 0, rc;

	for (pass = 0; pass < 2 && count == 0; pass++) {
		want = pass == 0 ? qtype : DNS_TYPE_CNAME;
		pos = local;
		while ((rc = rg_bl_local_next(&pos, &type, rd, &rdlen)) == 1) {
			/* One CNAME at most: an owner has no more. */
			if (type != want || (type == DNS_TYPE_CNAME &&
			    count > 0))
				continue;
			count++;
			if (n + 12 + rdlen > room) {
				*full = 1;
				continue;
			}
			put16(o + n, 0xc00c);
			put16(o + n + 2, type);
			put16(o + n + 4, DNS_CLASS_IN);
			put16(o + n + 6, 0);
			put16(o + n + 8, RG_BLOCK_TTL);
			put16(o + n + 10, (unsigned)rdlen);
			memcpy(o + n + 12, rd, rdlen);
			n += 12 + rdlen;
		}
		if (rc < 0)
			return -1;
	}
	*np = n;
	return count;
}

/*
 * The answer of local data LOCAL to M, into O: NOERROR, the records that
 * answer its type (none: no data), and EDE 15 with TEXT when the client
 * sent EDNS; TC and no records when they do not fit LIMIT.  Returns the
 * length, or 0 when LOCAL does not parse.
 */
static size_t
reply_data(uint8_t *o, const struct fe_msg *m, const struct fe_snap *s,
    const char *local, size_t limit, const char *text)
{
	struct fe_msg plain = *m;
	size_t n, qend, opt = 0;
	int an, full = 0;

	plain.edns = 0;
	n = qend = reply_local(o, &plain, s, RCODE_NOERROR, 0, NULL, 0, -1,
	    NULL);
	if (m->edns)
		opt = 17 + (text != NULL && strlen(text) < 200 ?
		    strlen(text) : 200);
	if ((an = local_put(o, &n, limit > opt ? limit - opt : 0, m->qtype,
	    local, &full)) < 0)
		return 0;
	if (full) {
		o[2] |= 0x02;
		n = qend;
		an = 0;
	}
	put16(o + 6, (unsigned)an);
	if (m->edns) {
		n += opt_put(o + n, s, 0, m->edns_do, EDE_BLOCKED, text);
		put16(o + 10, 1);
	}
	return n;
}

/* Largest reply a UDP client takes. */
static size_t
udp_limit(int edns, uint16_t size, const struct fe_snap *s)
{
	size_t lim = s != NULL ? s->udp_size : 1232;

	if (!edns)
		return 512;
	if (size < 512)
		size = 512;
	return size < lim ? size : lim;
}

/*
 * The upstream's reply PKT made the client's, into O: the client's ID and
 * question, its EDNS, truncated beyond LIMIT.  Returns the length, or 0
 * when the reply does not parse.
 */
static size_t
reply_relay(uint8_t *o, const struct fe_query *q, const struct fe_snap *s,
    const uint8_t *pkt, size_t len, size_t limit, int *truncated)
{
	size_t off, start, opt_s = 0, opt_e = 0, rdlen, n;
	unsigned an, ns, ar, i;
	long r;

	if (len < 12 + (size_t)q->qlen || len > 65535)
		return 0;
	memcpy(o, pkt, len);
	put16(o, q->id);
	memcpy(o + 12, q->question, q->qlen);
	an = (unsigned)(o[6] << 8 | o[7]);
	ns = (unsigned)(o[8] << 8 | o[9]);
	ar = (unsigned)(o[10] << 8 | o[11]);
	off = 12 + q->qlen;
	for (i = 0; i < an + ns + ar; i++) {
		start = off;
		if ((r = skip_name(o, len, off)) < 0 || (size_t)r + 10 > len)
			return 0;
		off = (size_t)r;
		rdlen = (size_t)o[off + 8] << 8 | o[off + 9];
		if (off + 10 + rdlen > len)
			return 0;
		if (i >= an + ns && o[off] == 0 && o[off + 1] == DNS_TYPE_OPT &&
		    opt_s == 0) {
			opt_s = start;
			opt_e = off + 10 + rdlen;
		}
		off += 10 + rdlen;
	}
	len = off;		/* trailing bytes dropped */
	if (q->edns && opt_s != 0) {
		put16(o + opt_s + 3, s != NULL ? s->udp_size : 1232);
	} else if (q->edns) {
		len += opt_put(o + len, s, 0, q->edns_do, -1, NULL);
		put16(o + 10, ar + 1);
	} else if (opt_s != 0) {
		memmove(o + opt_s, o + opt_e, len - opt_e);
		len -= opt_e - opt_s;
		put16(o + 10, ar - 1);
	}
	if (len <= limit)
		return len;
	/* Too big for the client: header and question, TC set. */
	*truncated = 1;
	o[2] |= 0x02;
	put16(o + 6, 0);
	put16(o + 8, 0);
	put16(o + 10, 0);
	n = 12 + q->qlen;
	if (q->edns) {
		n += opt_put(o + n, s, 0, q->edns_do, -1, NULL);
		put16(o + 10, 1);
	}
	return n;
}

/* Sending */

struct fe_wreq {
	uv_write_t req;
	struct fe_tconn *c;
	size_t len;
	uint8_t data[];
};

static void tconn_close(struct fe_tconn *c);

/* Called for every write, cancelled ones too, before the close callback. */
static void
tconn_write_cb(uv_write_t *wr, int status)
{
	struct fe_wreq *r = wr->data;

	turn_mark(r->c->w);
	r->c->wq -= r->len;
	STAT_ADD(r->c->w, tcp_reply_queued, -(uint64_t)r->len);
	if (status < 0 && status != UV_ECANCELED)
		tconn_close(r->c);
	free(r);
}

/* Send BUF (LEN bytes, with room for the length in the 2 bytes before). */
static void
tconn_send(struct fe_tconn *c, uint8_t *buf, size_t len)
{
	struct fe_wreq *r;
	uv_buf_t b;
	size_t n = len + 2;
	uint8_t *f = buf - 2;
	int rc;

	if (c->closing)
		return;
	put16(f, (unsigned)len);
	b = uv_buf_init((char *)f, (unsigned)n);
	rc = uv_try_write((uv_stream_t *)&c->h, &b, 1);
	if (rc == (int)n)
		return;
	if (rc < 0 && rc != UV_EAGAIN) {
		tconn_close(c);
		return;
	}
	if (rc > 0) {
		f += rc;
		n -= (size_t)rc;
	}
	/* A client that does not read its replies is not given more memory:
	 * it asks again if it wants the answers. */
	if (c->wq + n > FE_TCP_WQ_MAX) {
		STAT_INC(c->w, tcp_reply_overflow);
		tconn_close(c);
		return;
	}
	if (atomic_load_explicit(&c->w->st.tcp_reply_queued,
	    memory_order_relaxed) + n > FE_TCP_WQ_WORKER) {
		STAT_INC(c->w, tcp_reply_worker_overflow);
		tconn_close(c);
		return;
	}
	if ((r = malloc(sizeof(*r) + n)) == NULL) {
		tconn_close(c);
		return;
	}
	memcpy(r->data, f, n);
	r->c = c;
	r->len = n;
	r->req.data = r;
	b = uv_buf_init((char *)r->data, (unsigned)n);
	if (uv_write(&r->req, (uv_stream_t *)&c->h, &b, 1,
	    tconn_write_cb) < 0) {
		free(r);
		tconn_close(c);
		return;
	}
	c->wq += n;
	STAT_ADD(c->w, tcp_reply_queued, n);
}

/* Where a reply goes. */
struct fe_client {
	struct fe_udp *udp;
	const struct sockaddr *addr;
	struct fe_tconn *conn;
	const struct fe_dst *dst;	/* UDP: the address to answer from */
};

/*
 * Send the replies queued on U with as few system calls as it takes.  A
 * full socket buffer loses a reply, as the network could: the client asks
 * again.
 */
static void
udp_flush(struct fe_udp *u)
{
	unsigned off = 0;
	int r;

	while (off < u->n) {
		r = sendmmsg(u->fd, u->msg + off, u->n - off, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			/* This one cannot go: drop it, try the rest. */
			STAT_INC(u->w, dropped);
			off++;
			continue;
		}
		off += (unsigned)r;
	}
	u->n = 0;
	u->used = 0;
}

/* The control message that makes a reply leave from DST, into M. */
static void
dst_put(struct msghdr *m, union fe_cmsg *ctl, const struct fe_dst *dst)
{
	struct cmsghdr *c = &ctl->align;

	memset(ctl, 0, sizeof(*ctl));
	m->msg_control = ctl->buf;
	if (dst->family == AF_INET) {
		m->msg_controllen = CMSG_SPACE(sizeof(dst->u.v4));
		c->cmsg_level = IPPROTO_IP;
		c->cmsg_type = IP_PKTINFO;
		c->cmsg_len = CMSG_LEN(sizeof(dst->u.v4));
		memcpy(CMSG_DATA(c), &dst->u.v4, sizeof(dst->u.v4));
	} else {
		m->msg_controllen = CMSG_SPACE(sizeof(dst->u.v6));
		c->cmsg_level = IPPROTO_IPV6;
		c->cmsg_type = IPV6_PKTINFO;
		c->cmsg_len = CMSG_LEN(sizeof(dst->u.v6));
		memcpy(CMSG_DATA(c), &dst->u.v6, sizeof(dst->u.v6));
	}
}

/* The address a datagram received with M was sent to, if M says. */
static void
dst_get(struct msghdr *m, struct fe_dst *dst)
{
	struct cmsghdr *c;

	dst->family = 0;
	for (c = CMSG_FIRSTHDR(m); c != NULL; c = CMSG_NXTHDR(m, c)) {
		if (c->cmsg_level == IPPROTO_IP &&
		    c->cmsg_type == IP_PKTINFO &&
		    c->cmsg_len >= CMSG_LEN(sizeof(dst->u.v4))) {
			memcpy(&dst->u.v4, CMSG_DATA(c), sizeof(dst->u.v4));
			/* ipi_spec_dst is the source asked for; the routing
			 * table, not the query's interface, picks the way. */
			dst->u.v4.ipi_ifindex = 0;
			dst->family = AF_INET;
		} else if (c->cmsg_level == IPPROTO_IPV6 &&
		    c->cmsg_type == IPV6_PKTINFO &&
		    c->cmsg_len >= CMSG_LEN(sizeof(dst->u.v6))) {
			/* The interface stays: a link-local address needs it. */
			memcpy(&dst->u.v6, CMSG_DATA(c), sizeof(dst->u.v6));
			dst->family = AF_INET6;
		}
	}
}

static void
udp_queue(struct fe_udp *u, const uint8_t *buf, size_t len,
    const struct sockaddr *to, const struct fe_dst *dst)
{
	struct mmsghdr *m;
	socklen_t tl = to->sa_family == AF_INET6 ?
	    sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);

	if (len > FE_BATCH_BYTES)
		return;
	if (u->n == FE_BATCH || u->used + len > FE_BATCH_BYTES)
		udp_flush(u);
	memcpy(u->buf + u->used, buf, len);
	memcpy(&u->to[u->n], to, tl);
	u->iov[u->n].iov_base = u->buf + u->used;
	u->iov[u->n].iov_len = len;
	m = &u->msg[u->n];
	memset(m, 0, sizeof(*m));
	m->msg_hdr.msg_name = &u->to[u->n];
	m->msg_hdr.msg_namelen = tl;
	m->msg_hdr.msg_iov = &u->iov[u->n];
	m->msg_hdr.msg_iovlen = 1;
	if (dst != NULL && dst->family != 0)
		dst_put(&m->msg_hdr, &u->ctl[u->n], dst);
	u->used += len;
	u->n++;
}

static void
worker_flush(struct fe_worker *w)
{
	size_t j;

	for (j = 0; j < w->fe->n_listen; j++)
		if (w->udp[j].n > 0)
			udp_flush(&w->udp[j]);
}

/* BUF points into w->out + 2. */
static void
client_send(struct fe_worker *w, const struct fe_client *cl, uint8_t *buf,
    size_t len)
{
	STAT_INC(w, answered);
	if (w->fuzz) {
		w->fuzz_len = len < w->fuzz_cap ? len : w->fuzz_cap;
		memcpy(w->fuzz_out, buf, w->fuzz_len);
		return;
	}
	if (cl->conn != NULL) {
		tconn_send(cl->conn, buf, len);
		return;
	}
	/* Sent once this loop iteration has nothing else to do. */
	udp_queue(cl->udp, buf, len, cl->addr, cl->dst);
}

/* Access control */

static int
acl_allows(const struct fe_snap *s, const struct sockaddr *sa)
{
	const uint8_t *a;
	uint8_t mapped[4];
	size_t i;
	unsigned bits, full;
	int family = sa->sa_family;

	if (s == NULL)
		return 0;
	if (family == AF_INET)
		a = (const uint8_t *)
		    &((const struct sockaddr_in *)sa)->sin_addr;
	else if (family == AF_INET6) {
		a = (const uint8_t *)
		    &((const struct sockaddr_in6 *)sa)->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)a)) {
			memcpy(mapped, a + 12, 4);
			a = mapped;
			family = AF_INET;
		}
	} else
		return 0;
	for (i = 0; i < s->n_acl; i++) {
		const struct fe_prefix *p = &s->acl[i];

		if (p->family != family)
			continue;
		full = p->len / 8;
		bits = p->len % 8;
		if (memcmp(p->addr, a, full) != 0)
			continue;
		if (bits != 0 && ((p->addr[full] ^ a[full]) &
		    (uint8_t)(0xff << (8 - bits))) != 0)
			continue;
		return 1;
	}
	return 0;
}

/* Is NAME (wire form, any case) on the allowlist, or below a name on it? */
static int
allowlisted(const struct fe_snap *s, const uint8_t *name, size_t len)
{
	size_t i, pos, k;
	uint8_t a;

	for (i = 0; i < s->n_allow; i++) {
		const struct fe_name *n = &s->allow[i];

		for (pos = 0; pos < len && len - pos >= n->len;
		    pos += 1 + name[pos]) {
			if (len - pos != n->len)
				continue;
			for (k = 0; k < n->len; k++) {
				a = name[pos + k];
				if (a >= 'A' && a <= 'Z')
					a += 32;
				if (a != n->wire[k])
					break;
			}
			if (k == n->len)
				return 1;
		}
	}
	return 0;
}

/*
 * Serve-stale (RFC 8767): the last good answers relayed, in a cache that
 * all workers share, in shards with a lock each, so that a client gets the
 * answer whichever worker its query reaches.
 */

static size_t
stale_key(const struct fe_query *q, uint8_t *k, uint32_t *hash)
{
	size_t i, n = q->qlen;
	uint32_t h = 2166136261u;

	for (i = 0; i < n; i++) {
		k[i] = q->question[i];
		if (i + 4 < n && k[i] >= 'A' && k[i] <= 'Z')
			k[i] += 32;
	}
	k[n++] = (uint8_t)((q->edns_do ? 2 : 0) | ((q->flags & 0x10) ? 1 : 0));
	for (i = 0; i < n; i++)
		h = (h ^ k[i]) * 16777619u;
	*hash = h;
	return n;
}

static struct fe_stale_shard *
stale_shard(struct rg_frontend *fe, uint32_t h)
{
	return &fe->stale[(h >> 24) % FE_STALE_SHARDS];
}

static struct fe_stale *
stale_find(struct fe_stale_shard *sh, const uint8_t *k, size_t kl, uint32_t h)
{
	struct fe_stale *e;

	if (sh->nb == 0)
		return NULL;
	for (e = sh->tab[h & (sh->nb - 1)]; e != NULL; e = e->hnext)
		if (e->hash == h && e->klen == kl && memcmp(e->key, k, kl) == 0)
			return e;
	return NULL;
}

static void
stale_unlink(struct fe_stale_shard *sh, struct fe_stale *e)
{
	if (e->prev != NULL)
		e->prev->next = e->next;
	else
		sh->head = e->next;
	if (e->next != NULL)
		e->next->prev = e->prev;
	else
		sh->tail = e->prev;
	e->prev = e->next = NULL;
}

static void
stale_push(struct fe_stale_shard *sh, struct fe_stale *e)
{
	e->next = sh->head;
	if (sh->head != NULL)
		sh->head->prev = e;
	sh->head = e;
	if (sh->tail == NULL)
		sh->tail = e;
}

static void
stale_drop(struct fe_stale_shard *sh, struct fe_stale *e)
{
	struct fe_stale **pp;

	for (pp = &sh->tab[e->hash & (sh->nb - 1)]; *pp != e;
	    pp = &(*pp)->hnext)
		;
	*pp = e->hnext;
	stale_unlink(sh, e);
	sh->n--;
	free(e->pkt);
	free(e);
}

static int
stale_grow(struct fe_stale_shard *sh)
{
	size_t nb = sh->nb ? sh->nb * 2 : 256, i;
	struct fe_stale **t, *e, *next;

	if ((t = calloc(nb, sizeof(*t))) == NULL)
		return -ENOMEM;
	for (i = 0; i < sh->nb; i++)
		for (e = sh->tab[i]; e != NULL; e = next) {
			next = e->hnext;
			e->hnext = t[e->hash & (nb - 1)];
			t[e->hash & (nb - 1)] = e;
		}
	free(sh->tab);
	sh->tab = t;
	sh->nb = nb;
	return 0;
}

/* Smallest TTL of the answer and authority records, or -1. */
static long
min_ttl(const uint8_t *p, size_t len, size_t qlen)
{
	unsigned an = (unsigned)(p[6] << 8 | p[7]);
	unsigned ns = (unsigned)(p[8] << 8 | p[9]), i;
	size_t off = 12 + qlen;
	long r, ttl = FE_STALE_MAX_S, t;

	for (i = 0; i < an + ns; i++) {
		if ((r = skip_name(p, len, off)) < 0 || (size_t)r + 10 > len)
			return -1;
		off = (size_t)r;
		t = (long)((uint32_t)p[off + 4] << 24 |
		    (uint32_t)p[off + 5] << 16 | (uint32_t)p[off + 6] << 8 |
		    p[off + 7]);
		if (t < ttl)
			ttl = t;
		off += 10 + ((size_t)p[off + 8] << 8 | p[off + 9]);
		if (off > len)
			return -1;
	}
	return ttl;
}

/* Keep a good answer (NOERROR or NXDOMAIN, whole) for hard times. */
static void
stale_store(struct fe_worker *w, const struct fe_query *q, const uint8_t *pkt,
    size_t len)
{
	const struct fe_snap *s = w->snap;
	uint64_t now = uv_now(&w->loop);
	struct fe_stale_shard *sh;
	struct fe_stale *e;
	uint8_t k[sizeof(e->key)], *np;
	uint32_t h;
	size_t kl;
	long ttl;
	uint8_t rcode = pkt[3] & 0x0f;

	if (s == NULL || s->stale_cap == 0 || len > FE_STALE_BYTES ||
	    (pkt[2] & 0x02) || (rcode != RCODE_NOERROR &&
	    rcode != RCODE_NXDOMAIN))
		return;
	kl = stale_key(q, k, &h);
	sh = stale_shard(w->fe, h);
	pthread_mutex_lock(&sh->mtx);
	if ((e = stale_find(sh, k, kl, h)) != NULL && now < e->expires_ms) {
		/* Still fresh: kept as it is, only the order changes. */
		stale_unlink(sh, e);
		stale_push(sh, e);
		goto out;
	}
	if ((ttl = min_ttl(pkt, len, q->qlen)) < 0)
		goto out;
	if (e == NULL) {
		while (sh->n >= s->stale_cap && sh->tail != NULL)
			stale_drop(sh, sh->tail);
		if ((sh->n + 1 > sh->nb && stale_grow(sh) < 0) ||
		    (e = calloc(1, sizeof(*e))) == NULL)
			goto out;
		memcpy(e->key, k, kl);
		e->klen = (uint16_t)kl;
		e->hash = h;
		e->hnext = sh->tab[h & (sh->nb - 1)];
		sh->tab[h & (sh->nb - 1)] = e;
		sh->n++;
	} else
		stale_unlink(sh, e);
	stale_push(sh, e);
	if (e->len != len) {
		if ((np = realloc(e->pkt, len)) == NULL) {
			stale_drop(sh, e);
			goto out;
		}
		e->pkt = np;
	}
	memcpy(e->pkt, pkt, len);
	e->len = (uint16_t)len;
	e->expires_ms = now + (uint64_t)ttl * 1000;
out:
	pthread_mutex_unlock(&sh->mtx);
}

/*
 * No upstream answered: the answer kept for the question, if not expired
 * for too long, with TTLs of FE_STALE_TTL and EDE 3 (Stale Answer), into
 * O.  Returns its length, or 0; *RAW and *RAWLEN are then the answer
 * before it was fitted to LIMIT.
 */
static size_t
stale_serve(struct fe_worker *w, const struct fe_query *q, uint8_t *o,
    size_t limit, int *truncated, const uint8_t **raw, size_t *rawlen)
{
	uint64_t now = uv_now(&w->loop);
	struct fe_query plain = *q;
	struct fe_stale_shard *sh;
	struct fe_stale *e;
	uint8_t k[sizeof(e->key)], kept[FE_STALE_BYTES], *b = w->stale_buf;
	unsigned i, rr;
	size_t kl, n = 0, off, klen = 0;
	uint32_t h;
	long r;

	if (w->snap == NULL || w->snap->stale_cap == 0)
		return 0;
	kl = stale_key(q, k, &h);
	sh = stale_shard(w->fe, h);
	pthread_mutex_lock(&sh->mtx);
	if ((e = stale_find(sh, k, kl, h)) != NULL &&
	    (now <= e->expires_ms ||
	    now - e->expires_ms <= (uint64_t)FE_STALE_MAX_S * 1000)) {
		klen = e->len;
		memcpy(kept, e->pkt, klen);
	}
	pthread_mutex_unlock(&sh->mtx);
	if (klen == 0)
		return 0;
	/* Without its OPT first, then with ours, which says it is stale. */
	plain.edns = 0;
	if ((n = reply_relay(b, &plain, w->snap, kept, klen, 65535,
	    truncated)) == 0)
		return 0;
	rr = (unsigned)(b[6] << 8 | b[7]) + (unsigned)(b[8] << 8 | b[9]) +
	    (unsigned)(b[10] << 8 | b[11]);
	for (i = 0, off = 12 + q->qlen; i < rr; i++) {
		if ((r = skip_name(b, n, off)) < 0 || (size_t)r + 10 > n)
			return 0;
		off = (size_t)r;
		b[off + 4] = b[off + 5] = b[off + 6] = 0;
		b[off + 7] = FE_STALE_TTL;
		off += 10 + ((size_t)b[off + 8] << 8 | b[off + 9]);
	}
	if (q->edns) {
		n += opt_put(b + n, w->snap, 0, q->edns_do, EDE_STALE,
		    "resguard: stale answer; no upstream answered");
		put16(b + 10, (unsigned)(b[10] << 8 | b[11]) + 1);
	}
	*raw = b;
	*rawlen = n;
	return reply_relay(o, q, w->snap, b, n, limit, truncated);
}

/*
 * Sightings: the client queries each rule caught, with the networks they
 * came from, per worker under a lock that only the blocked path and the
 * main thread's report take; the main thread takes the whole table.
 */

static uint32_t
sight_hash(int ip, int action, const char *feed, const char *rule)
{
	uint32_t h = 2166136261u;
	const char *p;

	h = (h ^ (uint32_t)ip) * 16777619u;
	h = (h ^ (uint32_t)action) * 16777619u;
	for (p = feed; *p != '\0'; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	h = (h ^ 0xffu) * 16777619u;
	for (p = rule; *p != '\0'; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	return h;
}

/* The network of the client at SA: IPv4 /24, IPv6 /56 (none: family 0). */
static void
client_net(const struct sockaddr *sa, struct fe_net *net)
{
	const uint8_t *a;

	memset(net, 0, sizeof(*net));
	if (sa == NULL)
		return;
	if (sa->sa_family == AF_INET) {
		a = (const uint8_t *)
		    &((const struct sockaddr_in *)sa)->sin_addr;
		net->family = AF_INET;
		memcpy(net->addr, a, 3);
	} else if (sa->sa_family == AF_INET6) {
		a = (const uint8_t *)
		    &((const struct sockaddr_in6 *)sa)->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)a)) {
			net->family = AF_INET;
			memcpy(net->addr, a + 12, 3);
		} else {
			net->family = AF_INET6;
			memcpy(net->addr, a, 7);
		}
	}
}

static void
sights_free(struct fe_sights *t)
{
	struct fe_sight *e, *next;
	size_t i;

	for (i = 0; t->tab != NULL && i < FE_SIGHT_BUCKETS; i++)
		for (e = t->tab[i]; e != NULL; e = next) {
			next = e->hnext;
			free(e);
		}
	free(t->tab);
	memset(t, 0, sizeof(*t));
}

static char *
sight_copy(char *p, const char *s, const char **dst)
{
	size_t l = strlen(s) + 1;

	memcpy(p, s, l);
	*dst = p;
	return p + l;
}

/* A client query from CLIENT caught by the rule of BM (IP: response-IP). */
static void
sight(struct fe_worker *w, const struct rg_bl_match *bm, int ip,
    const struct sockaddr *client)
{
	struct fe_sights *t = &w->sights;
	const char *feed = bm->feed != NULL ? bm->feed : "";
	struct fe_sight *e;
	struct fe_net net;
	uint32_t h = sight_hash(ip, (int)bm->action, feed, bm->rule);
	size_t rl, len, i;
	char *p;

	client_net(client, &net);
	pthread_mutex_lock(&w->sight_mtx);
	if (t->tab == NULL &&
	    (t->tab = calloc(FE_SIGHT_BUCKETS, sizeof(*t->tab))) == NULL) {
		t->overflow++;
		goto out;
	}
	for (e = t->tab[h % FE_SIGHT_BUCKETS]; e != NULL; e = e->hnext)
		if (e->hash == h && e->ip == ip && e->action == bm->action &&
		    strcmp(e->feed, feed) == 0 &&
		    strcmp(e->text, bm->rule) == 0)
			break;
	if (e == NULL) {
		rl = strnlen(bm->rule, sizeof(bm->rule) - 1);
		len = rl + 1 + strlen(feed) + 1 +
		    (bm->indicator != NULL ? strlen(bm->indicator) + 1 : 0) +
		    (bm->tlp != NULL ? strlen(bm->tlp) + 1 : 0);
		if (t->n >= FE_SIGHT_MAX ||
		    (e = calloc(1, sizeof(*e) + len)) == NULL) {
			t->overflow++;
			goto out;
		}
		memcpy(e->text, bm->rule, rl);
		e->text[rl] = '\0';
		p = sight_copy(e->text + rl + 1, feed, &e->feed);
		if (bm->indicator != NULL)
			p = sight_copy(p, bm->indicator, &e->indicator);
		if (bm->tlp != NULL)
			(void)sight_copy(p, bm->tlp, &e->tlp);
		e->hash = h;
		e->ip = (uint8_t)ip;
		e->action = (uint8_t)bm->action;
		e->hnext = t->tab[h % FE_SIGHT_BUCKETS];
		t->tab[h % FE_SIGHT_BUCKETS] = e;
		t->n++;
	}
	e->count++;
	if (net.family != 0 && e->n_nets < FE_SIGHT_CLIENTS) {
		for (i = 0; i < e->n_nets; i++)
			if (memcmp(&e->nets[i], &net, sizeof(net)) == 0)
				break;
		if (i == e->n_nets)
			e->nets[e->n_nets++] = net;
	}
out:
	pthread_mutex_unlock(&w->sight_mtx);
}

/* Policy */

/*
 * Local data that does not parse is answered NXDOMAIN; it is logged once
 * per blocklist snapshot, not once per query.
 */
static void
local_bad(const struct rg_blocklist *bl, const struct rg_bl_match *bm)
{
	static _Atomic uintptr_t logged;

	if (atomic_exchange_explicit(&logged, (uintptr_t)bl,
	    memory_order_relaxed) == (uintptr_t)bl)
		return;
	rg_log_debug("guard: rule %s of feed %s: local data does not parse; "
	    "answered NXDOMAIN", bm->rule, bm->feed != NULL ? bm->feed : "?");
}

/*
 * The answer to M under the rule of BM (of snapshot BL) into O, within
 * LIMIT bytes: its length, or 0 for no answer at all.
 */
static size_t
block_reply(uint8_t *o, const struct fe_msg *m, const struct fe_snap *s,
    const struct rg_blocklist *bl, const struct rg_bl_match *bm,
    size_t limit)
{
	char text[240];
	int rcode = RCODE_NOERROR;
	const uint8_t *rd = NULL;
	size_t rdlen = 0, n;

	snprintf(text, sizeof(text), "resguard: blocked by feed \"%.180s\"",
	    bm->feed != NULL ? bm->feed : "?");
	switch (bm->action) {
	case RG_ACTION_NXDOMAIN:
		rcode = RCODE_NXDOMAIN;
		break;
	case RG_ACTION_REFUSED:
		rcode = RCODE_REFUSED;
		break;
	case RG_ACTION_SINKHOLE:
		if (m->qtype == DNS_TYPE_A) {
			rd = s->sink_a;
			rdlen = 4;
		} else if (m->qtype == DNS_TYPE_AAAA) {
			rd = s->sink_aaaa;
			rdlen = 16;
		}
		break;
	case RG_ACTION_NODATA:
		break;
	case RG_ACTION_LOCAL:
		if (bm->local != NULL && (n = reply_data(o, m, s, bm->local,
		    limit, text)) > 0)
			return n;
		local_bad(bl, bm);
		rcode = RCODE_NXDOMAIN;
		break;
	case RG_ACTION_DROP:
	case RG_ACTION_LOG_ONLY:
	case RG_ACTION_PASSTHRU:
	case RG_ACTION_COUNT:
		return 0;
	}
	return reply_local(o, m, s, rcode, m->qtype, rd, rdlen, EDE_BLOCKED,
	    text);
}

/* A blocked name: answered here, or not at all. */
static void
block(struct fe_worker *w, const struct fe_msg *m, const struct fe_client *cl,
    const struct rg_blocklist *bl, const struct rg_bl_match *bm)
{
	uint8_t *o = w->out + 2;
	size_t limit, n;

	limit = cl->conn != NULL || w->fuzz_tcp ? 65535 :
	    udp_limit(m->edns, m->edns_size, w->snap);
	if ((n = block_reply(o, m, w->snap, bl, bm, limit)) > 0)
		client_send(w, cl, o, n);
}

/* The client query Q as a parsed message, to answer it here. */
static void
query_msg(const struct fe_query *q, struct fe_msg *m)
{
	memset(m, 0, sizeof(*m));
	m->id = q->id;
	m->flags = q->flags;
	m->question = q->question;
	m->qlen = q->qlen;
	m->namelen = q->qlen - 4u;
	m->qtype = (uint16_t)(q->question[q->qlen - 4] << 8 |
	    q->question[q->qlen - 3]);
	m->qclass = (uint16_t)(q->question[q->qlen - 2] << 8 |
	    q->question[q->qlen - 1]);
	m->qok = 1;
	m->edns = q->edns;
	m->edns_do = q->edns_do;
	m->edns_size = q->edns_size;
}

/*
 * Response-IP rules, on an answer PKT about to go to the client of Q (from
 * CLIENT): the first A or AAAA record of its answer section (those at the
 * end of a CNAME chain too) that a rule matches decides for the whole
 * answer.  Returns 1 when the rule replaced the answer (the new one in O,
 * *NP bytes, 0 for none at all), 0 when the answer goes as it is.  PKT is
 * not changed: the stale cache keeps the upstream's answer, and the
 * snapshot of the day judges it whenever it is served.
 */
static int
respip(struct fe_worker *w, const struct fe_query *q,
    const struct sockaddr *client, const uint8_t *pkt, size_t len,
    uint8_t *o, size_t limit, size_t *np)
{
	const struct rg_blocklist *bl;
	struct rg_bl_match bm;
	struct fe_msg m;
	unsigned qd, an, i;
	size_t off, rdlen;
	uint16_t type, klass;
	long r;
	int family;

	/* Taken now: the snapshot of the query's start may be gone. */
	bl = rg_bl_current(w->fe->bl);
	if (bl == NULL || rg_bl_ip_entries(bl) == 0 || q->passthru ||
	    pkt == NULL || len < 12 || w->snap == NULL ||
	    allowlisted(w->snap, q->question, q->qlen - 4u))
		return 0;
	qd = (unsigned)(pkt[4] << 8 | pkt[5]);
	an = (unsigned)(pkt[6] << 8 | pkt[7]);
	off = 12;
	for (i = 0; i < qd; i++) {
		if ((r = skip_name(pkt, len, off)) < 0 || (size_t)r + 4 > len)
			return 0;
		off = (size_t)r + 4;
	}
	for (i = 0; i < an; i++) {
		if ((r = skip_name(pkt, len, off)) < 0 || (size_t)r + 10 > len)
			return 0;
		off = (size_t)r;
		type = (uint16_t)(pkt[off] << 8 | pkt[off + 1]);
		klass = (uint16_t)(pkt[off + 2] << 8 | pkt[off + 3]);
		rdlen = (size_t)pkt[off + 8] << 8 | pkt[off + 9];
		if (off + 10 + rdlen > len)
			return 0;
		family = 0;
		if (klass == DNS_CLASS_IN && type == DNS_TYPE_A && rdlen == 4)
			family = AF_INET;
		else if (klass == DNS_CLASS_IN && type == DNS_TYPE_AAAA &&
		    rdlen == 16)
			family = AF_INET6;
		if (family != 0 &&
		    rg_bl_lookup_ip(bl, family, pkt + off + 10, &bm) == 1)
			break;
		off += 10 + rdlen;
	}
	if (i == an)
		return 0;
	switch (bm.action) {
	case RG_ACTION_PASSTHRU:
		/* An exception: the answer goes, nothing else is checked. */
		STAT_INC(w, blocked[RG_ACTION_PASSTHRU]);
		return 0;
	case RG_ACTION_LOG_ONLY:
		STAT_INC(w, ip_blocked[RG_ACTION_LOG_ONLY]);
		sight(w, &bm, 1, client);
		rg_log_debug("guard: an answer address matched %s, log-only "
		    "(feed %s)", bm.rule, bm.feed != NULL ? bm.feed : "?");
		return 0;
	case RG_ACTION_NXDOMAIN:
	case RG_ACTION_NODATA:
	case RG_ACTION_REFUSED:
	case RG_ACTION_DROP:
	case RG_ACTION_SINKHOLE:
	case RG_ACTION_LOCAL:
		break;
	case RG_ACTION_COUNT:
		return 0;
	}
	STAT_INC(w, ip_blocked[bm.action]);
	sight(w, &bm, 1, client);
	query_msg(q, &m);
	*np = block_reply(o, &m, w->snap, bl, &bm, limit);
	return 1;
}

/* Forwarding */

static void
query_free(struct fe_query *q)
{
	struct fe_worker *w = q->w;

	if (q->prev != NULL)
		q->prev->next = q->next;
	else
		w->queries = q->next;
	if (q->next != NULL)
		q->next->prev = q->prev;
	w->n_queries--;
	if (q->conn != NULL) {
		struct fe_tconn *c = q->conn;

		if (q->cprev != NULL)
			q->cprev->cnext = q->cnext;
		else
			c->queries = q->cnext;
		if (q->cnext != NULL)
			q->cnext->cprev = q->cprev;
		c->nq--;
	}
	if (w->n_free < FE_FREE_MAX) {
		q->next = w->free_q;
		w->free_q = q;
		w->n_free++;
	} else
		free(q);
}

static void tconn_resume(struct fe_tconn *c);

static void
fwd_done_cb(void *arg, const uint8_t *pkt, size_t len, int failed)
{
	struct fe_query *q = arg;
	struct fe_worker *w = q->w;
	struct fe_tconn *c = q->conn;
	struct sockaddr_storage addr = q->addr;
	struct fe_dst dst = q->dst;
	struct fe_client cl = { q->udp, (struct sockaddr *)&addr, c, &dst };
	const struct sockaddr *client = c != NULL ?
	    (const struct sockaddr *)&c->peer : (const struct sockaddr *)&addr;
	const uint8_t *src = NULL;
	uint8_t *o = w->out + 2;
	struct fe_msg m;
	size_t n = 0, limit, srclen = 0;
	int trunc = 0, stale = 0, policy = 0;

	worker_refresh(w);
	limit = c != NULL || w->fuzz_tcp ? 65535 :
	    udp_limit(q->edns, q->edns_size, w->snap);
	if (!failed && pkt != NULL &&
	    (n = reply_relay(o, q, w->snap, pkt, len, limit, &trunc)) > 0) {
		stale_store(w, q, pkt, len);
		src = pkt;
		srclen = len;
	}
	/* Nothing usable from any upstream: an old answer beats none. */
	if (n == 0 && (n = stale_serve(w, q, o, limit, &trunc, &src,
	    &srclen)) > 0)
		stale = 1;
	if (n == 0 && pkt != NULL &&
	    (n = reply_relay(o, q, w->snap, pkt, len, limit, &trunc)) > 0) {
		src = pkt;
		srclen = len;
	}
	/* Whatever goes to the client, fresh or stale, is judged by the
	 * addresses in it (the whole of it, before any truncation). */
	if (n > 0 && respip(w, q, client, src, srclen, o, limit, &n))
		policy = 1;
	else {
		if (trunc)
			STAT_INC(w, truncated);
		if (stale)
			STAT_INC(w, stale);
		else if (failed || n == 0)
			STAT_INC(w, servfail);
	}
	if (n == 0 && !policy) {
		memset(&m, 0, sizeof(m));
		m.id = q->id;
		m.flags = q->flags;
		m.question = q->question;
		m.qlen = q->qlen;
		m.qok = 1;
		m.edns = q->edns;
		m.edns_do = q->edns_do;
		n = reply_local(o, &m, w->snap, RCODE_SERVFAIL, 0, NULL, 0,
		    EDE_NO_REACHABLE, "resguard: no upstream answered");
	}
	/* Off its connection first: sending may close the connection,
	 * which cancels the queries still on it. */
	q->req = NULL;
	query_free(q);
	if (n > 0)
		client_send(w, &cl, o, n);
	if (c != NULL)
		tconn_resume(c);
}

static void
forward(struct fe_worker *w, const struct fe_msg *m,
    const struct fe_client *cl, int passthru)
{
	struct rg_fwd_query fq;
	struct fe_query *q;
	uint8_t *o = w->out + 2;
	unsigned retired = w->fwd == NULL ? 0 : (unsigned)atomic_load_explicit(
	    &rg_fwd_stats(w->fwd)->udp_retired, memory_order_relaxed);

	/* Full: an answer now, so that the client asks its next resolver,
	 * rather than silence until its time-out (and the same question
	 * again); the answer is no bigger than a refusal. */
	if (w->n_queries + retired >= FE_INFLIGHT_MAX) {
		STAT_INC(w, overloaded);
		STAT_INC(w, servfail);
		client_send(w, cl, o, reply_local(o, m, w->snap,
		    RCODE_SERVFAIL, 0, NULL, 0, EDE_OTHER,
		    "resguard: too many queries in flight"));
		return;
	}
	if ((q = w->free_q) != NULL) {
		w->free_q = q->next;
		w->n_free--;
	} else if ((q = malloc(sizeof(*q))) == NULL)
		goto fail;
	memset(q, 0, offsetof(struct fe_query, question));
	q->w = w;
	q->udp = cl->udp;
	q->conn = cl->conn;
	if (cl->conn == NULL)
		memcpy(&q->addr, cl->addr, cl->addr->sa_family == AF_INET6 ?
		    sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
	if (cl->dst != NULL)
		q->dst = *cl->dst;
	q->id = m->id;
	q->flags = m->flags;
	q->edns = m->edns;
	q->edns_do = m->edns_do;
	q->edns_size = m->edns_size;
	q->qlen = (uint16_t)m->qlen;
	q->passthru = passthru;
	memcpy(q->question, m->question, m->qlen);

	fq.question = m->question;
	fq.question_len = m->qlen;
	fq.flags = m->flags;
	fq.dnssec_ok = m->edns_do;
	fq.options = m->opts;
	fq.options_len = m->opts_len;
	if (w->fuzz) {
		/* No upstream: rg_frontend_fuzz_reply() answers it. */
		if (w->fuzz_q != NULL)
			query_free(w->fuzz_q);
		w->fuzz_q = q;
		w->fuzz_forwarded = 1;
	} else if ((q->req = rg_fwd_start(w->fwd, &fq, fwd_done_cb,
	    q)) == NULL) {
		free(q);
		goto fail;
	}
	q->next = w->queries;
	if (w->queries != NULL)
		w->queries->prev = q;
	w->queries = q;
	w->n_queries++;
	if (cl->conn != NULL) {
		q->cnext = cl->conn->queries;
		if (cl->conn->queries != NULL)
			cl->conn->queries->cprev = q;
		cl->conn->queries = q;
		cl->conn->nq++;
	}
	return;
fail:
	STAT_INC(w, servfail);
	client_send(w, cl, o, reply_local(o, m, w->snap, RCODE_SERVFAIL, 0,
	    NULL, 0, EDE_NO_REACHABLE, "resguard: no upstream can be asked"));
}

/* One message from a client. */
static void
query_in(struct fe_worker *w, const struct fe_client *cl, const uint8_t *pkt,
    size_t len)
{
	const struct rg_blocklist *bl;
	struct rg_bl_match bm;
	enum fe_verdict v;
	struct fe_msg m;
	uint8_t *o = w->out + 2;
	int rcode;

	worker_refresh(w);
	STAT_INC(w, queries);
	v = msg_parse(pkt, len, &m);
	if (v == FE_DROP) {
		STAT_INC(w, dropped);
		return;
	}
	if (!acl_allows(w->snap, cl->addr)) {
		STAT_INC(w, refused_acl);
		m.edns = 0;
		client_send(w, cl, o, reply_local(o, &m, w->snap,
		    RCODE_REFUSED, 0, NULL, 0, -1, NULL));
		return;
	}
	switch (v) {
	case FE_OK:
		break;
	case FE_NOTIMP:
		STAT_INC(w, notimp);
		m.edns = 0;
		client_send(w, cl, o, reply_local(o, &m, w->snap, RCODE_NOTIMP,
		    0, NULL, 0, -1, NULL));
		return;
	case FE_BADVERS:
		STAT_INC(w, formerr);
		client_send(w, cl, o, reply_local(o, &m, w->snap,
		    RCODE_BADVERS, 0, NULL, 0, -1, NULL));
		return;
	case FE_DROP:
	case FE_FORMERR:
		STAT_INC(w, formerr);
		client_send(w, cl, o, reply_local(o, &m, w->snap,
		    RCODE_FORMERR, 0, NULL, 0, -1, NULL));
		return;
	}
	rcode = -1;
	if (m.qtype == DNS_TYPE_OPT || m.qtype == DNS_TYPE_TSIG ||
	    m.qtype == DNS_TYPE_TKEY)
		rcode = RCODE_FORMERR;
	else if (m.qclass != DNS_CLASS_IN || m.qtype == DNS_TYPE_AXFR ||
	    m.qtype == DNS_TYPE_IXFR)
		rcode = RCODE_REFUSED;
	if (rcode >= 0) {
		if (rcode == RCODE_FORMERR)
			STAT_INC(w, formerr);
		else
			STAT_INC(w, refused);
		client_send(w, cl, o, reply_local(o, &m, w->snap, rcode, 0,
		    NULL, 0, -1, NULL));
		return;
	}
	bl = rg_bl_current(w->fe->bl);
	if (bl != NULL && rg_bl_lookup(bl, m.question, m.namelen, &bm) == 1 &&
	    !allowlisted(w->snap, m.question, m.namelen)) {
		if (bm.action == RG_ACTION_PASSTHRU) {
			/* An exception: forwarded, and its answer is not
			 * judged by the response-IP rules either. */
			STAT_INC(w, blocked[RG_ACTION_PASSTHRU]);
			forward(w, &m, cl, 1);
			return;
		}
		STAT_INC(w, blocked[bm.action]);
		sight(w, &bm, 0, cl->addr);
		if (bm.action != RG_ACTION_LOG_ONLY) {
			block(w, &m, cl, bl, &bm);
			return;
		}
		rg_log_debug("guard: %s matched, log-only (feed %s)",
		    bm.rule, bm.feed != NULL ? bm.feed : "?");
	}
	forward(w, &m, cl, 0);
}

/* UDP */

/*
 * A listener is readable: take what waits, a batch per recvmmsg(2), a
 * few batches at most before the other handles of the loop get a turn.
 */
static void
udp_poll_cb(uv_poll_t *h, int status, int events)
{
	struct fe_udp *u = h->data;
	struct fe_worker *w = u->w;
	struct fe_rx *rx = &w->rx;
	struct fe_client cl = { u, NULL, NULL, NULL };
	struct fe_dst dst;
	struct msghdr *mh;
	socklen_t el = sizeof(int);
	unsigned i, round;
	int n, err;

	if (w->stopping)
		return;
	turn_mark(w);
	if (status < 0) {
		/* Taken, so that it is not reported again and again; libuv
		 * stopped polling on the error: poll again. */
		(void)getsockopt(u->fd, SOL_SOCKET, SO_ERROR, &err, &el);
		(void)uv_poll_start(h, UV_READABLE, udp_poll_cb);
		return;
	}
	for (round = 0; round < FE_RECV_ROUNDS; round++) {
		for (i = 0; i < FE_RECV_BATCH; i++) {
			mh = &rx->msg[i].msg_hdr;
			rx->iov[i].iov_base = w->rbuf + i * FE_RECV_SIZE;
			rx->iov[i].iov_len = FE_RECV_SIZE;
			mh->msg_name = &rx->from[i];
			mh->msg_namelen = sizeof(rx->from[i]);
			mh->msg_iov = &rx->iov[i];
			mh->msg_iovlen = 1;
			mh->msg_control = u->pktinfo ? rx->ctl[i].buf : NULL;
			mh->msg_controllen = u->pktinfo ? sizeof(rx->ctl[i]) : 0;
			mh->msg_flags = 0;
		}
		if ((n = recvmmsg(u->fd, rx->msg, FE_RECV_BATCH, MSG_DONTWAIT,
		    NULL)) < 0) {
			if (errno == EINTR)
				continue;
			break;		/* EAGAIN: all read */
		}
		for (i = 0; i < (unsigned)n && !w->stopping; i++) {
			mh = &rx->msg[i].msg_hdr;
			if (mh->msg_flags & MSG_TRUNC) {
				STAT_INC(w, queries);
				STAT_INC(w, dropped);
				continue;
			}
			if (u->pktinfo)
				dst_get(mh, &dst);
			cl.addr = (const struct sockaddr *)&rx->from[i];
			cl.dst = u->pktinfo ? &dst : NULL;
			query_in(w, &cl, rx->iov[i].iov_base,
			    rx->msg[i].msg_len);
		}
		/* What this batch asked and answered goes now, not after
		 * the whole backlog has been read. */
		if (!w->stopping) {
			rg_fwd_flush(w->fwd);
			worker_flush(w);
		}
		if (n < FE_RECV_BATCH)
			break;
	}
}

/* TCP */

static void
tconn_close_cb(uv_handle_t *h)
{
	struct fe_tconn *c = h->data;

	if (--c->open > 0)
		return;
	free(c->buf);
	free(c);
}

static void
tconn_close(struct fe_tconn *c)
{
	struct fe_worker *w = c->w;
	struct fe_query *q;

	if (c->closing)
		return;
	c->closing = 1;
	while ((q = c->queries) != NULL) {
		rg_fwd_cancel(q->req);
		query_free(q);
	}
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	w->n_conns--;
	STAT_ADD(w, tcp_conns, -1);
	uv_close((uv_handle_t *)&c->timer, tconn_close_cb);
	uv_close((uv_handle_t *)&c->h, tconn_close_cb);
}

static void
tconn_timer_cb(uv_timer_t *t)
{
	struct fe_tconn *c = t->data;

	/* Answers still due keep it open: the budget bounds them. */
	if (c->nq > 0) {
		uv_timer_again(t);
		return;
	}
	STAT_INC(c->w, tcp_timeouts);
	tconn_close(c);
}

static void
tconn_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct fe_tconn *c = h->data;
	size_t need = c->len + 65536;
	uint8_t *nb;

	if (need > c->cap) {
		if ((nb = realloc(c->buf, need)) == NULL) {
			*buf = uv_buf_init(NULL, 0);
			return;
		}
		c->buf = nb;
		c->cap = need;
	}
	*buf = uv_buf_init((char *)c->buf + c->len, 65536);
}

static void tconn_read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);

/* Take the messages in the buffer, as long as the pipeline has room. */
static void
tconn_drain(struct fe_tconn *c)
{
	struct fe_worker *w = c->w;
	struct fe_client cl = { NULL, (struct sockaddr *)&c->peer, c, NULL };
	size_t off, l;

	/*
	 * Forwarding a query can finish others of this connection on the
	 * spot (an upstream connection that fails while written to), and
	 * their completion resumes this connection: that nested call must
	 * not consume the buffer under the loop below, only ask it to go
	 * round again.
	 */
	if (c->draining) {
		c->again = 1;
		return;
	}
	c->draining = 1;
	do {
		c->again = 0;
		off = 0;
		while (!c->closing && c->len - off >= 2 &&
		    c->nq < FE_TCP_PIPE) {
			l = (size_t)c->buf[off] << 8 | c->buf[off + 1];
			if (l < 12) {
				STAT_INC(w, queries);
				STAT_INC(w, dropped);
				c->draining = 0;
				tconn_close(c);
				return;
			}
			if (c->len - off < 2 + l)
				break;
			STAT_INC(w, tcp_queries);
			query_in(w, &cl, c->buf + off + 2, l);
			off += 2 + l;
		}
		if (c->closing) {
			c->draining = 0;
			return;
		}
		memmove(c->buf, c->buf + off, c->len - off);
		c->len -= off;
	} while (c->again && c->nq < FE_TCP_PIPE);
	c->draining = 0;
	if (c->nq >= FE_TCP_PIPE && c->reading) {
		uv_read_stop((uv_stream_t *)&c->h);
		c->reading = 0;
	}
}

static void
tconn_resume(struct fe_tconn *c)
{
	if (c->closing || c->nq >= FE_TCP_PIPE)
		return;
	tconn_drain(c);
	if (!c->closing && !c->reading && c->nq < FE_TCP_PIPE &&
	    uv_read_start((uv_stream_t *)&c->h, tconn_alloc_cb,
	    tconn_read_cb) == 0)
		c->reading = 1;
}

static void
tconn_read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct fe_tconn *c = s->data;
	size_t before;

	turn_mark(c->w);
	if (c->closing || n == 0)
		return;
	if (n < 0) {
		/* A client that half-closes still gets its answers. */
		if (n == UV_EOF && c->nq > 0) {
			uv_read_stop(s);
			c->reading = 0;
			return;
		}
		tconn_close(c);
		return;
	}
	c->len += (size_t)n;
	before = c->len;
	tconn_drain(c);
	/* Only whole messages keep a connection open: a client that
	 * trickles a byte now and then would hold its slot for ever. */
	if (!c->closing && c->len < before)
		uv_timer_again(&c->timer);
}

static void
tcp_conn_cb(uv_stream_t *srv, int status)
{
	struct fe_worker *w = srv->data;
	struct fe_tconn *c;
	int len;

	turn_mark(w);
	if (status < 0 || w->stopping)
		return;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return;
	c->w = w;
	c->h.data = c->timer.data = c;
	uv_tcp_init(&w->loop, &c->h);
	uv_timer_init(&w->loop, &c->timer);
	c->open = 2;
	c->next = w->conns;
	if (w->conns != NULL)
		w->conns->prev = c;
	w->conns = c;
	w->n_conns++;
	STAT_INC(w, tcp_conns);
	if (uv_accept(srv, (uv_stream_t *)&c->h) < 0 ||
	    w->n_conns > FE_TCP_MAX) {
		tconn_close(c);
		return;
	}
	len = sizeof(c->peer);
	if (uv_tcp_getpeername(&c->h, (struct sockaddr *)&c->peer, &len) < 0) {
		tconn_close(c);
		return;
	}
	uv_tcp_nodelay(&c->h, 1);
	uv_timer_start(&c->timer, tconn_timer_cb,
	    w->snap ? w->snap->tcp_idle_ms : 10000,
	    w->snap ? w->snap->tcp_idle_ms : 10000);
	if (uv_read_start((uv_stream_t *)&c->h, tconn_alloc_cb,
	    tconn_read_cb) < 0) {
		tconn_close(c);
		return;
	}
	c->reading = 1;
}

/* Workers */

static uint64_t
thread_cpu_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) < 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static int
stall_max(_Atomic uint64_t *max, uint64_t us)
{
	if (us <= atomic_load_explicit(max, memory_order_relaxed))
		return 0;
	atomic_store_explicit(max, us, memory_order_relaxed);
	return 1;
}

/* Before a wait for I/O: account for the turn that ends here. */
static void
loop_turn(struct fe_worker *w)
{
	struct fe_loopmon *m = &w->mon;
	uint64_t now = uv_hrtime();
	uint64_t busy, cpu;
	unsigned k;

	if (m->cpu_at_ns == 0) {
		m->cpu_ns = thread_cpu_ns();
		m->cpu_at_ns = now;
	} else {
		busy = m->woke_ns != 0 && m->woke_ns < now ?
		    now - m->woke_ns : 0;
		if (busy >= FE_STALL_NS) {
			cpu = thread_cpu_ns();
			for (k = 0; k < FE_STALL_STEPS; k++) {
				if (busy >= fe_stall_ms[k] * 1000000ULL)
					STAT_INC(w, stall_wall[k]);
				if (cpu - m->cpu_ns >= fe_stall_ms[k] *
				    1000000ULL)
					STAT_INC(w, stall_cpu[k]);
			}
			(void)stall_max(&m->max_wall_us, busy / 1000);
			/* The worker's own work held it: say so, when it is
			 * the worst yet. */
			if (stall_max(&m->max_cpu_us, (cpu - m->cpu_ns) /
			    1000) && cpu - m->cpu_ns >= FE_STALL_LOG_NS)
				rg_log_info("guard: worker %u was kept from its "
				    "sockets for %.1f ms, %.1f ms of it on a "
				    "CPU: its longest yet", w->index,
				    (double)busy / 1e6,
				    (double)(cpu - m->cpu_ns) / 1e6);
			m->cpu_ns = cpu;
			m->cpu_at_ns = now;
		} else if (now - m->cpu_at_ns >= FE_CPU_SAMPLE_NS) {
			m->cpu_ns = thread_cpu_ns();
			m->cpu_at_ns = now;
		}
	}
	m->woke_ns = 0;
}

static void
prep_cb(uv_prepare_t *p)
{
	struct fe_worker *w = p->data;

	/* Queries and replies made by timers go before the wait, not after
	 * it, and count in the turn. */
	if (w->fwd != NULL)
		rg_fwd_flush(w->fwd);
	worker_flush(w);
	loop_turn(w);
	/* About to wait for I/O: no blocklist snapshot is held across. */
	rg_bl_quiescent(w->fe->bl, w->index);
}

static void
check_cb(uv_check_t *c)
{
	struct fe_worker *w = c->data;

	/* Woken by a timer, or by a handle that does not mark. */
	turn_mark(w);
	worker_flush(w);
}

static void
worker_stop_cb(uv_async_t *a)
{
	struct fe_worker *w = a->data;
	struct rg_frontend *fe = w->fe;
	struct fe_query *q;
	size_t i;

	w->stopping = 1;
	worker_flush(w);
	for (i = 0; i < fe->n_listen; i++) {
		uv_close((uv_handle_t *)&w->udp[i].h, NULL);
		uv_close((uv_handle_t *)&w->tcp[i], NULL);
	}
	while (w->conns != NULL)
		tconn_close(w->conns);
	while ((q = w->queries) != NULL) {
		rg_fwd_cancel(q->req);
		query_free(q);
	}
	rg_fwd_close(w->fwd);
	w->fwd = NULL;
	uv_close((uv_handle_t *)&w->check, NULL);
	uv_close((uv_handle_t *)&w->prep, NULL);
	uv_close((uv_handle_t *)&w->rec_async, NULL);
	uv_close((uv_handle_t *)&w->wake, NULL);
}

static void *
worker_main(void *arg)
{
	struct fe_worker *w = arg;

	uv_run(&w->loop, UV_RUN_DEFAULT);
	return NULL;
}

/*
 * server.socket-affinity assumes that the queries are received on every
 * CPU.  Where one CPU receives them all (a network card with one receive
 * queue and no receive packet steering), every UDP query goes to its
 * worker while the others idle: one worker's worth of capacity.  So every
 * FE_SPREAD_MS the main thread looks at how the queries spread, and the
 * first time one worker took FE_SPREAD_SHARE % or more of at least
 * FE_SPREAD_MIN UDP queries, it says so in the log, once.  It changes
 * nothing: for clients on the host itself, say, one worker on the CPU
 * they send from is no loss.
 */
#define FE_SPREAD_MS		10000
#define FE_SPREAD_MIN		10000
#define FE_SPREAD_SHARE		90

static void
spread_cb(uv_timer_t *t)
{
	struct rg_frontend *fe = t->data;
	uint64_t q, d, total = 0, top = 0;
	unsigned i, top_i = 0;

	/* UDP only: TCP connections are spread by the kernel's hash. */
	for (i = 0; i < fe->n_workers; i++) {
		q = atomic_load_explicit(&fe->w[i].st.queries,
		    memory_order_relaxed) - atomic_load_explicit(
		    &fe->w[i].st.tcp_queries, memory_order_relaxed);
		d = q - fe->spread_last[i];
		fe->spread_last[i] = q;
		total += d;
		if (d > top) {
			top = d;
			top_i = i;
		}
	}
	if (total < FE_SPREAD_MIN || top * 100 < total * FE_SPREAD_SHARE)
		return;
	rg_log_warnx("guard: server.socket-affinity: worker %u took %llu of "
	    "the last %llu UDP queries: they are received on few CPUs, and "
	    "the other workers idle; the setting suits a network card with "
	    "a receive queue per CPU", top_i, (unsigned long long)top,
	    (unsigned long long)total);
	uv_timer_stop(t);
}

/* server.socket-affinity: the worker's thread runs on its CPU only.  If it
 * cannot, the log says so, the status shows it with no CPU, and -1: the
 * caller steers that CPU's queries at random. */
static int
worker_place(struct fe_worker *w)
{
	cpu_set_t set;
	int rc;

	if (w->cpu < 0)
		return 0;
	CPU_ZERO(&set);
	CPU_SET(w->cpu, &set);
	if ((rc = pthread_setaffinity_np(w->thread, sizeof(set), &set)) != 0) {
		rg_log_warnx("guard: server.socket-affinity: worker %u cannot "
		    "be kept on CPU %d (%s); that CPU's queries go to a "
		    "worker drawn at random", w->index, w->cpu, strerror(rc));
		w->cpu = -1;
		return -1;
	}
	return 0;
}

unsigned
rg_frontend_workers(const struct rg_conf *conf)
{
	cpu_set_t set;
	long n;

	if (conf->n_listen == 0)
		return 0;
	if (conf->threads > 0)
		return conf->threads;
	/* The CPUs this process may run on (taskset, systemd's
	 * CPUAffinity=, a container's cpuset), not all the host has. */
	if (sched_getaffinity(0, sizeof(set), &set) == 0)
		n = CPU_COUNT(&set);
	else
		n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : n > 64 ? 64 : (unsigned)n;
}

/* 0.0.0.0 or ::, where a reply must say which address it comes from. */
static int
addr_is_any(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ((const struct sockaddr_in *)ss)->sin_addr.s_addr ==
		    htonl(INADDR_ANY);
	if (ss->ss_family == AF_INET6)
		return IN6_IS_ADDR_UNSPECIFIED(
		    &((const struct sockaddr_in6 *)ss)->sin6_addr);
	return 0;
}

static int
sock_open(const struct sockaddr_storage *ss, int type, const char *name,
    char *err, size_t err_len)
{
	socklen_t len = ss->ss_family == AF_INET6 ?
	    sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	int fd, one = 1, size = FE_UDP_RCVBUF;

	if ((fd = socket(ss->ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) < 0)
		goto fail;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0 ||
	    (type == SOCK_STREAM && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR,
	    &one, sizeof(one)) < 0) ||
	    (ss->ss_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6,
	    IPV6_V6ONLY, &one, sizeof(one)) < 0))
		goto fail;
	/* Room for the queries that come while a worker is not scheduled
	 * (a busy host): beyond net.core.rmem_max while we may. */
	if (type == SOCK_DGRAM && setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE,
	    &size, sizeof(size)) < 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size,
		    sizeof(size));
	if (type == SOCK_DGRAM && addr_is_any(ss) && (ss->ss_family ==
	    AF_INET ? setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one,
	    sizeof(one)) : setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO,
	    &one, sizeof(one))) < 0)
		goto fail;
	if (bind(fd, (const struct sockaddr *)ss, len) < 0)
		goto fail;
	if (type == SOCK_STREAM && listen(fd, 256) < 0)
		goto fail;
	return fd;
fail:
	snprintf(err, err_len, "%s (%s): %s", name,
	    type == SOCK_DGRAM ? "udp" : "tcp", strerror(errno));
	if (fd >= 0)
		close(fd);
	return -1;
}

/*
 * The kernel spreads the datagrams of a SO_REUSEPORT group by a hash of
 * their addresses and ports, so a few busy clients can land on one worker
 * while another idles.  A query needs no state of its client's: each
 * datagram goes to a worker drawn at random instead (a classic BPF
 * program on the group, the workers' sockets in the order they joined).
 * Without it (an old kernel) the hash stays.
 *
 * With server.socket-affinity, each worker runs on a CPU of its own, and
 * a datagram goes to the worker of the CPU that received it (the one that
 * ran the network stack for it: the NIC queue's, or a local client's), so
 * that the worker is woken on the CPU where the datagram already is, and
 * no other CPU is interrupted for it.  A datagram received on a CPU
 * without a worker goes to one drawn at random.  The program compares
 * the CPU with each worker's in turn: "if equal, return this worker".
 */
static int
udp_spread(int fd, const struct rg_frontend *fe)
{
	struct sock_filter *code;
	struct sock_fprog prog;
	unsigned workers = fe->n_workers, i, n = 0;
	int err;

	if (workers < 2)
		return 0;
	if ((code = calloc(2 * workers + 4, sizeof(*code))) == NULL) {
		rg_log_warnx("guard: out of memory: queries spread by the "
		    "kernel's hash");
		return -1;
	}
	if (fe->affinity) {
		code[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W |
		    BPF_ABS, SKF_AD_OFF + SKF_AD_CPU);
		for (i = 0; i < workers; i++) {
			if (fe->w[i].cpu < 0)
				continue;
			code[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP |
			    BPF_JEQ | BPF_K, (uint32_t)fe->w[i].cpu, 0, 1);
			code[n++] = (struct sock_filter)BPF_STMT(BPF_RET |
			    BPF_K, i);
		}
	}
	code[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
	    SKF_AD_OFF + SKF_AD_RANDOM);
	code[n++] = (struct sock_filter)BPF_STMT(BPF_ALU | BPF_MOD | BPF_K,
	    workers);
	code[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_A, 0);
	/* Its padding too: the kernel copies the whole of it. */
	memset(&prog, 0, sizeof(prog));
	prog.len = (unsigned short)n;
	prog.filter = code;
	err = setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog,
	    sizeof(prog)) < 0 ? errno : 0;
	free(code);
	if (err != 0) {
		if (fe->affinity)
			rg_log_warnx("guard: server.socket-affinity: cannot "
			    "steer queries by CPU (%s); they are spread by "
			    "the kernel's hash, and no worker is kept on a "
			    "CPU", strerror(err));
		else
			rg_log_debug("guard: queries spread by the kernel's "
			    "hash: %s", strerror(err));
		return -1;
	}
	return 0;
}

/*
 * server.socket-affinity: worker i runs on the i-th CPU the process may
 * run on.  Workers beyond the CPUs run where the scheduler puts them and
 * get UDP queries only from CPUs without a worker, if any; the log says
 * so.  One worker, or one CPU: nothing to place.
 */
static void
affinity_plan(struct rg_frontend *fe)
{
	cpu_set_t set;
	unsigned i, k = 0, ncpu;
	int c;

	for (i = 0; i < fe->n_workers; i++)
		fe->w[i].cpu = -1;
	if (!fe->affinity)
		return;
	if (sched_getaffinity(0, sizeof(set), &set) < 0) {
		rg_log_warn("guard: server.socket-affinity: sched_getaffinity");
		fe->affinity = 0;
		return;
	}
	ncpu = (unsigned)CPU_COUNT(&set);
	if (fe->n_workers < 2 || ncpu < 2) {
		rg_log_info("guard: server.socket-affinity: %u worker(s) on "
		    "%u CPU(s): nothing to place", fe->n_workers, ncpu);
		fe->affinity = 0;
		return;
	}
	for (c = 0; c < CPU_SETSIZE && k < fe->n_workers; c++)
		if (CPU_ISSET(c, &set))
			fe->w[k++].cpu = c;
	if (fe->n_workers > ncpu)
		rg_log_warnx("guard: server.socket-affinity: %u workers but "
		    "%u CPUs: the last %u have no CPU of their own and get "
		    "UDP queries only from CPUs without a worker "
		    "(server.threads = 0 makes one per CPU)",
		    fe->n_workers, ncpu, fe->n_workers - ncpu);
}

struct rg_frontend *
rg_frontend_new(const struct rg_conf *conf, unsigned workers,
    struct rg_bl_domain *bl, char *err, size_t err_len)
{
	struct rg_frontend *fe;
	unsigned i;
	size_t j;

	if ((fe = calloc(1, sizeof(*fe))) == NULL)
		goto nomem;
	pthread_mutex_init(&fe->snap_mtx, NULL);
	pthread_mutex_init(&fe->out_mtx, NULL);
	for (i = 0; i < FE_STALE_SHARDS; i++)
		pthread_mutex_init(&fe->stale[i].mtx, NULL);
	atomic_init(&fe->snap_version, 0);
	fe->bl = bl;
	fe->n_workers = workers;
	fe->affinity = conf->socket_affinity;
	fe->n_listen = conf->n_listen;
	if ((fe->listen = calloc(conf->n_listen + 1, sizeof(char *))) == NULL ||
	    (fe->laddr = calloc(conf->n_listen + 1,
	    sizeof(*fe->laddr))) == NULL ||
	    (fe->w = calloc(workers, sizeof(*fe->w))) == NULL)
		goto nomem;
	affinity_plan(fe);
	for (j = 0; j < conf->n_listen; j++) {
		if ((fe->listen[j] = strdup(conf->listen[j])) == NULL)
			goto nomem;
		if (rg_conf_parse_addr(conf->listen[j], 53, &fe->laddr[j],
		    NULL) < 0) {
			snprintf(err, err_len, "%s: not an address",
			    conf->listen[j]);
			goto fail;
		}
	}
	for (i = 0; i < workers; i++) {
		struct fe_worker *w = &fe->w[i];

		w->fe = fe;
		w->index = i;
		pthread_mutex_init(&w->sight_mtx, NULL);
		w->sight_mtx_init = 1;
		if ((w->fd_udp = malloc((fe->n_listen + 1) * sizeof(int))) ==
		    NULL ||
		    (w->fd_tcp = malloc((fe->n_listen + 1) * sizeof(int))) ==
		    NULL)
			goto nomem;
		for (j = 0; j < fe->n_listen; j++)
			w->fd_udp[j] = w->fd_tcp[j] = -1;
		for (j = 0; j < fe->n_listen; j++) {
			if ((w->fd_udp[j] = sock_open(&fe->laddr[j],
			    SOCK_DGRAM, fe->listen[j], err, err_len)) < 0 ||
			    (w->fd_tcp[j] = sock_open(&fe->laddr[j],
			    SOCK_STREAM, fe->listen[j], err, err_len)) < 0)
				goto fail;
		}
	}
	for (j = 0; j < fe->n_listen; j++)
		if (udp_spread(fe->w[0].fd_udp[j], fe) < 0 && fe->affinity) {
			/* Not steered by CPU: no worker is kept on one, and
			 * every listener spreads at random, from the first. */
			for (i = 0; i < workers; i++)
				fe->w[i].cpu = -1;
			fe->affinity = 0;
			j = (size_t)-1;
		}
	return fe;
nomem:
	snprintf(err, err_len, "out of memory");
fail:
	rg_frontend_free(fe);
	return NULL;
}

static int
worker_start(struct fe_worker *w)
{
	struct rg_frontend *fe = w->fe;
	size_t j;
	int rc;

	if ((rc = uv_loop_init(&w->loop)) < 0)
		return rc;
	w->loop_init = 1;
	if ((w->udp = calloc(fe->n_listen + 1, sizeof(*w->udp))) == NULL)
		return -ENOMEM;
	for (j = 0; j < fe->n_listen; j++)
		w->udp[j].fd = -1;
	w->rfree = FE_RSLOT_NONE;
	if ((w->rbuf = malloc(FE_RBUF_SIZE)) == NULL ||
	    (w->out = malloc(FE_OUT_SIZE)) == NULL ||
	    (w->stale_buf = malloc(FE_OUT_SIZE)) == NULL ||
	    (w->rec_failed = calloc(FE_REC_SLOTS / 64,
	    sizeof(uint64_t))) == NULL ||
	    (w->rec_failed_spare = calloc(FE_REC_SLOTS / 64,
	    sizeof(uint64_t))) == NULL ||
	    (w->tcp = calloc(fe->n_listen + 1, sizeof(*w->tcp))) == NULL ||
	    (w->fwd = rg_fwd_new(&w->loop, report_cb, recurse_cb, w)) == NULL)
		return -ENOMEM;
	rg_fwd_set_wake_mark(w->fwd, &w->mon.woke_ns);
	uv_async_init(&w->loop, &w->wake, worker_stop_cb);
	w->wake.data = w;
	pthread_mutex_init(&w->rec_mtx, NULL);
	w->rec_mtx_init = 1;
	uv_async_init(&w->loop, &w->rec_async, rec_async_cb);
	w->rec_async.data = w;
	uv_prepare_init(&w->loop, &w->prep);
	w->prep.data = w;
	uv_prepare_start(&w->prep, prep_cb);
	uv_check_init(&w->loop, &w->check);
	w->check.data = w;
	uv_check_start(&w->check, check_cb);
	for (j = 0; j < fe->n_listen; j++) {
		w->udp[j].h.data = &w->udp[j];
		w->udp[j].w = w;
		w->udp[j].fd = w->fd_udp[j];
		w->udp[j].pktinfo = addr_is_any(&fe->laddr[j]);
		w->fd_udp[j] = -1;
		w->tcp[j].data = w;
		if ((rc = uv_poll_init(&w->loop, &w->udp[j].h,
		    w->udp[j].fd)) < 0)
			return rc;
		if ((rc = uv_tcp_init(&w->loop, &w->tcp[j])) < 0 ||
		    (rc = uv_tcp_open(&w->tcp[j], w->fd_tcp[j])) < 0)
			return rc;
		w->fd_tcp[j] = -1;
		if ((rc = uv_poll_start(&w->udp[j].h, UV_READABLE,
		    udp_poll_cb)) < 0 ||
		    (rc = uv_listen((uv_stream_t *)&w->tcp[j], 256,
		    tcp_conn_cb)) < 0)
			return rc;
	}
	worker_refresh(w);
	return 0;
}

int
rg_frontend_start(struct rg_frontend *fe, uv_loop_t *loop,
    rg_guard_outcome_cb *cb, rg_guard_recurse_cb *rcb, void *arg)
{
	sigset_t all, old;
	unsigned i;
	size_t j;
	int rc, unplaced = 0;

	fe->cb = cb;
	fe->rcb = rcb;
	fe->cb_arg = arg;
	if ((fe->recq = calloc(FE_RECQ, sizeof(*fe->recq))) == NULL ||
	    (fe->recq_spare = calloc(FE_RECQ, sizeof(*fe->recq))) == NULL)
		return -ENOMEM;
	if ((rc = uv_async_init(loop, &fe->out_async, out_async_cb)) < 0)
		return rc;
	fe->out_async.data = fe;
	fe->async_init = 1;
	if (fe->affinity) {
		if ((fe->spread_last = calloc(fe->n_workers,
		    sizeof(*fe->spread_last))) == NULL)
			return -ENOMEM;
		if ((rc = uv_timer_init(loop, &fe->spread_timer)) < 0)
			return rc;
		fe->spread_timer.data = fe;
		fe->spread_init = 1;
		uv_timer_start(&fe->spread_timer, spread_cb, FE_SPREAD_MS,
		    FE_SPREAD_MS);
	}
	fe->started = 1;
	for (i = 0; i < fe->n_workers; i++)
		if ((rc = worker_start(&fe->w[i])) < 0)
			return rc;
	/* Signals are the main loop's business. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (i = 0; i < fe->n_workers; i++) {
		if ((rc = pthread_create(&fe->w[i].thread, NULL, worker_main,
		    &fe->w[i])) != 0) {
			pthread_sigmask(SIG_SETMASK, &old, NULL);
			return -rc;
		}
		fe->w[i].running = 1;
		if (worker_place(&fe->w[i]) < 0)
			unplaced = 1;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	/* A worker not kept on its CPU takes no longer that CPU's
	 * queries: they go to a worker drawn at random. */
	for (j = 0; unplaced && j < fe->n_listen; j++)
		(void)udp_spread(fe->w[0].udp[j].fd, fe);
	return 0;
}

json_t *
rg_frontend_json(const struct rg_frontend *fe)
{
	uint64_t v[sizeof(struct fe_stats) / sizeof(uint64_t)] = { 0 };
	uint64_t fv[sizeof(struct rg_fwd_stats) / sizeof(uint64_t)] = { 0 };
	json_t *o, *b, *ib, *l, *stl, *mx, *wq;
	uint64_t max_wall = 0, max_cpu = 0;
	unsigned i, k;
	size_t j;

#define SUM(arr, st) do {						\
	const _Atomic uint64_t *p = (const _Atomic uint64_t *)(st);	\
	for (k = 0; k < sizeof(arr) / sizeof(arr[0]); k++)		\
		arr[k] += atomic_load_explicit(&p[k], memory_order_relaxed); \
} while (0)
	for (i = 0; i < fe->n_workers; i++) {
		SUM(v, &fe->w[i].st);
		if (fe->w[i].fwd != NULL)
			SUM(fv, rg_fwd_stats(fe->w[i].fwd));
	}
#undef SUM
#define W	sizeof(uint64_t)
#define F(name)	(json_int_t)v[offsetof(struct fe_stats, name) / W]
#define G(name)	(json_int_t)fv[offsetof(struct rg_fwd_stats, name) / W]
	/* Passthru rules are exceptions, not blocks: counted apart. */
	b = json_object();
	ib = json_object();
	for (k = 0; k < RG_ACTION_COUNT; k++) {
		if (k == RG_ACTION_PASSTHRU)
			continue;
		json_object_set_new(b, rg_action_str[k], json_integer(
		    (json_int_t)v[offsetof(struct fe_stats, blocked) / W + k]));
		json_object_set_new(ib, rg_action_str[k], json_integer(
		    (json_int_t)v[offsetof(struct fe_stats, ip_blocked) / W +
		    k]));
	}
	l = json_array();
	for (j = 0; j < fe->n_listen; j++)
		json_array_append_new(l, json_string(fe->listen[j]));
	o = json_pack("{s:o, s:i, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
	    "s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
	    "s:o}",
	    "listen", l,
	    "workers", (int)fe->n_workers,
	    "queries", F(queries),
	    "tcp_queries", F(tcp_queries),
	    "answered", F(answered),
	    "forwarded", G(forwarded),
	    "hedged", G(hedged),
	    "retried", G(retried),
	    "tcp_retries", G(tcp_retries),
	    "truncated", F(truncated),
	    "servfail", F(servfail),
	    "refused_acl", F(refused_acl),
	    "refused", F(refused),
	    "formerr", F(formerr),
	    "notimp", F(notimp),
	    "dropped", F(dropped),
	    "upstream_timeouts", G(timeouts),
	    "upstream_errors", G(upstream_errors),
	    "unmatched", G(unmatched),
	    "inflight", G(inflight),
	    "tcp_clients", F(tcp_conns),
	    "stale", F(stale),
	    "blocked", b);
	json_object_set_new(o, "ip_blocked", ib);
	json_object_set_new(o, "passthru", json_integer((json_int_t)
	    v[offsetof(struct fe_stats, blocked) / W + RG_ACTION_PASSTHRU]));
	/* The bounds of a worker, and what reaching them cost. */
	json_object_set_new(o, "overloaded", json_integer(F(overloaded)));
	json_object_set_new(o, "tcp_reply_overflow",
	    json_integer(F(tcp_reply_overflow)));
	json_object_set_new(o, "tcp_reply_worker_overflow",
	    json_integer(F(tcp_reply_worker_overflow)));
	json_object_set_new(o, "tcp_reply_queued",
	    json_integer(F(tcp_reply_queued)));
	json_object_set_new(o, "recursion_late",
	    json_integer(G(recursion_late)));
	json_object_set_new(o, "udp_retired", json_integer(G(udp_retired)));
	/* Stalls of the workers' loops: counts over each step, then the
	 * longest of any worker since the start. */
	stl = json_object();
	mx = json_object();
	for (k = 0; k < FE_STALL_STEPS; k++) {
		char key[32];

		snprintf(key, sizeof(key), "over_%ums", fe_stall_ms[k]);
		json_object_set_new(stl, key, json_integer((json_int_t)
		    v[offsetof(struct fe_stats, stall_wall) / W + k]));
		snprintf(key, sizeof(key), "cpu_over_%ums", fe_stall_ms[k]);
		json_object_set_new(stl, key, json_integer((json_int_t)
		    v[offsetof(struct fe_stats, stall_cpu) / W + k]));
	}
	for (i = 0; i < fe->n_workers; i++) {
		uint64_t a = atomic_load_explicit(&fe->w[i].mon.max_wall_us,
		    memory_order_relaxed);
		uint64_t c = atomic_load_explicit(&fe->w[i].mon.max_cpu_us,
		    memory_order_relaxed);

		max_wall = a > max_wall ? a : max_wall;
		max_cpu = c > max_cpu ? c : max_cpu;
	}
	json_object_set_new(mx, "wall", json_real((double)max_wall / 1000));
	json_object_set_new(mx, "cpu", json_real((double)max_cpu / 1000));
	/* How the queries spread over the workers. */
	wq = json_array();
	for (i = 0; i < fe->n_workers; i++)
		json_array_append_new(wq, json_integer((json_int_t)
		    atomic_load_explicit(&fe->w[i].st.queries,
		    memory_order_relaxed)));
	json_object_set_new(o, "worker_queries", wq);
	/* server.socket-affinity: the CPU each worker runs on, or null. */
	wq = json_array();
	for (i = 0; i < fe->n_workers; i++)
		json_array_append_new(wq, fe->w[i].cpu < 0 ? json_null() :
		    json_integer(fe->w[i].cpu));
	json_object_set_new(o, "worker_cpus", wq);
	json_object_set_new(o, "stalls", stl);
	json_object_set_new(o, "stall_max_ms", mx);
#undef F
#undef G
#undef W
	return o;
}

uint64_t
rg_frontend_hits(const struct rg_frontend *fe)
{
	uint64_t n = 0;
	unsigned i, k;

	if (fe == NULL)
		return 0;
	for (i = 0; i < fe->n_workers; i++)
		for (k = 0; k < RG_ACTION_COUNT; k++)
			if (k != RG_ACTION_PASSTHRU)
				n += atomic_load_explicit(
				    &fe->w[i].st.blocked[k],
				    memory_order_relaxed) +
				    atomic_load_explicit(
				    &fe->w[i].st.ip_blocked[k],
				    memory_order_relaxed);
	return n;
}

/* A client network as a sighting shows it: "192.0.2.0/24". */
static json_t *
net_json(const struct fe_net *net)
{
	uint8_t a[16] = { 0 };
	char buf[INET6_ADDRSTRLEN + 8];
	size_t l;

	if (net->family == AF_INET) {
		memcpy(a, net->addr, 3);
		if (inet_ntop(AF_INET, a, buf, sizeof(buf)) == NULL)
			return NULL;
		l = strlen(buf);
		snprintf(buf + l, sizeof(buf) - l, "/24");
	} else {
		memcpy(a, net->addr, 7);
		if (inet_ntop(AF_INET6, a, buf, sizeof(buf)) == NULL)
			return NULL;
		l = strlen(buf);
		snprintf(buf + l, sizeof(buf) - l, "/56");
	}
	return json_string(buf);
}

/* S as a JSON string; bytes that are not UTF-8 become "?". */
static json_t *
jstr(const char *s)
{
	json_t *j;
	char *c, *p;

	if (s == NULL)
		return json_null();
	if ((j = json_string(s)) != NULL || (c = strdup(s)) == NULL)
		return j;
	for (p = c; *p != '\0'; p++)
		if ((unsigned char)*p >= 0x80 || (unsigned char)*p < 0x20)
			*p = '?';
	j = json_string(c);
	free(c);
	return j;
}

/* Add E to HITS, or to the hit of the same rule that IDX knows. */
static int
sight_merge(json_t *hits, json_t *idx, const struct fe_sight *e,
    int with_clients)
{
	json_t *h, *cl, *c, *v;
	char *key;
	size_t i, j, n;
	int found;

	if (asprintf(&key, "%c\x1f%u\x1f%s\x1f%s", e->ip ? 'i' : 'n',
	    (unsigned)e->action, e->feed, e->text) < 0)
		return -ENOMEM;
	if ((h = json_object_get(idx, key)) == NULL) {
		h = json_pack("{s:o, s:o, s:o, s:o, s:s, s:s, s:I}",
		    "rule", jstr(e->text), "feed", jstr(e->feed),
		    "indicator", jstr(e->indicator),
		    "tlp", jstr(e->tlp),
		    "action", rg_action_str[e->action],
		    "trigger", e->ip ? "response-ip" : "qname",
		    "count", (json_int_t)0);
		if (h == NULL || (with_clients && json_object_set_new(h,
		    "clients", json_array()) < 0) ||
		    json_object_set_new_nocheck(idx, key, json_incref(h)) < 0 ||
		    json_array_append_new(hits, h) < 0) {
			free(key);
			return -ENOMEM;
		}
	}
	free(key);
	json_object_set_new(h, "count", json_integer(json_integer_value(
	    json_object_get(h, "count")) + (json_int_t)e->count));
	if (!with_clients || (cl = json_object_get(h, "clients")) == NULL)
		return 0;
	for (i = 0; i < e->n_nets; i++) {
		if (json_array_size(cl) >= FE_SIGHT_CLIENTS)
			break;
		if ((c = net_json(&e->nets[i])) == NULL)
			continue;
		n = json_array_size(cl);
		for (j = 0, found = 0; j < n && !found; j++) {
			v = json_array_get(cl, j);
			found = json_equal(v, c);
		}
		if (found)
			json_decref(c);
		else
			json_array_append_new(cl, c);
	}
	return 0;
}

json_t *
rg_frontend_sightings(struct rg_frontend *fe, int with_clients)
{
	json_t *hits, *idx, *res;
	struct fe_sights t;
	const struct fe_sight *e;
	uint64_t overflow = 0;
	unsigned i;
	size_t b;

	if ((hits = json_array()) == NULL || (idx = json_object()) == NULL) {
		json_decref(hits);
		return NULL;
	}
	for (i = 0; fe != NULL && i < fe->n_workers; i++) {
		struct fe_worker *w = &fe->w[i];

		if (!w->sight_mtx_init)
			continue;
		/* Taken whole: the worker starts a new table meanwhile. */
		pthread_mutex_lock(&w->sight_mtx);
		t = w->sights;
		memset(&w->sights, 0, sizeof(w->sights));
		pthread_mutex_unlock(&w->sight_mtx);
		overflow += t.overflow;
		for (b = 0; t.tab != NULL && b < FE_SIGHT_BUCKETS; b++)
			for (e = t.tab[b]; e != NULL; e = e->hnext)
				if (sight_merge(hits, idx, e,
				    with_clients) < 0)
					overflow += e->count;
		sights_free(&t);
	}
	json_decref(idx);
	res = json_pack("{s:o, s:I}", "hits", hits, "overflow",
	    (json_int_t)overflow);
	return res;
}

void
rg_frontend_stop(struct rg_frontend *fe)
{
	unsigned i;

	if (fe == NULL)
		return;
	fe->stopped = 1;
	for (i = 0; i < fe->n_workers; i++)
		if (fe->w[i].running)
			uv_async_send(&fe->w[i].wake);
	for (i = 0; i < fe->n_workers; i++)
		if (fe->w[i].running) {
			pthread_join(fe->w[i].thread, NULL);
			fe->w[i].running = 0;
		}
	if (fe->async_init && !uv_is_closing((uv_handle_t *)&fe->out_async))
		uv_close((uv_handle_t *)&fe->out_async, NULL);
	if (fe->spread_init &&
	    !uv_is_closing((uv_handle_t *)&fe->spread_timer))
		uv_close((uv_handle_t *)&fe->spread_timer, NULL);
}

void
rg_frontend_free(struct rg_frontend *fe)
{
	unsigned i;
	size_t j;

	if (fe == NULL)
		return;
	for (i = 0; fe->w != NULL && i < fe->n_workers; i++) {
		struct fe_worker *w = &fe->w[i];

		if (w->loop_init && uv_loop_close(&w->loop) < 0)
			rg_log_warnx("guard: worker %u: handles left open", i);
		/* The loop no longer polls them: the listeners' sockets are
		 * ours to close. */
		for (j = 0; j < fe->n_listen; j++) {
			if (w->fd_udp != NULL && w->fd_udp[j] >= 0)
				close(w->fd_udp[j]);
			if (w->fd_tcp != NULL && w->fd_tcp[j] >= 0)
				close(w->fd_tcp[j]);
			if (w->udp != NULL && w->udp[j].fd >= 0)
				close(w->udp[j].fd);
		}
		snap_unref(w->snap);
		while (w->rec_res != NULL) {
			struct fe_recres *r = w->rec_res;

			w->rec_res = r->next;
			free(r);
		}
		if (w->rec_mtx_init)
			pthread_mutex_destroy(&w->rec_mtx);
		free(w->rec_failed);
		free(w->rec_failed_spare);
		free(w->rslots);
		sights_free(&w->sights);
		if (w->sight_mtx_init)
			pthread_mutex_destroy(&w->sight_mtx);
		if (w->fuzz_q != NULL)
			query_free(w->fuzz_q);
		while (w->free_q != NULL) {
			struct fe_query *q = w->free_q;

			w->free_q = q->next;
			free(q);
		}
		free(w->fd_udp);
		free(w->fd_tcp);
		free(w->udp);
		free(w->tcp);
		free(w->stale_buf);
		free(w->rbuf);
		free(w->out);
	}
	free(fe->w);
	for (j = 0; fe->listen != NULL && j < fe->n_listen; j++)
		free(fe->listen[j]);
	free(fe->listen);
	free(fe->laddr);
	free(fe->spread_last);
	free(fe->recq);
	free(fe->recq_spare);
	for (i = 0; i < FE_STALE_SHARDS; i++) {
		struct fe_stale_shard *sh = &fe->stale[i];

		while (sh->head != NULL)
			stale_drop(sh, sh->head);
		free(sh->tab);
		pthread_mutex_destroy(&sh->mtx);
	}
	snap_unref(fe->snap);
	pthread_mutex_destroy(&fe->snap_mtx);
	pthread_mutex_destroy(&fe->out_mtx);
	free(fe);
}

/* Fuzzing: one worker, no sockets, no loop running, no upstream */

struct rg_frontend *
rg_frontend_fuzz_new(struct rg_bl_domain *bl)
{
	struct rg_frontend *fe;
	struct fe_worker *w;
	struct fe_snap *s;
	unsigned i;

	if ((fe = calloc(1, sizeof(*fe))) == NULL)
		return NULL;
	pthread_mutex_init(&fe->snap_mtx, NULL);
	pthread_mutex_init(&fe->out_mtx, NULL);
	for (i = 0; i < FE_STALE_SHARDS; i++)
		pthread_mutex_init(&fe->stale[i].mtx, NULL);
	fe->bl = bl;
	fe->n_workers = 1;
	if ((fe->w = calloc(1, sizeof(*fe->w))) == NULL ||
	    (s = calloc(1, sizeof(*s))) == NULL)
		goto fail;
	fe->w[0].cpu = -1;
	atomic_init(&s->refs, 1);
	fe->snap = s;
	atomic_init(&fe->snap_version, 1);
	if ((s->acl = calloc(2, sizeof(*s->acl))) == NULL ||
	    (s->allow = calloc(1, sizeof(*s->allow))) == NULL ||
	    prefix_parse("0.0.0.0/0", &s->acl[0]) < 0 ||
	    prefix_parse("::/0", &s->acl[1]) < 0 ||
	    name_wire("allowed.example", &s->allow[0]) < 0)
		goto fail;
	s->n_acl = 2;
	s->n_allow = 1;
	inet_pton(AF_INET, "192.0.2.123", s->sink_a);
	inet_pton(AF_INET6, "2001:db8::123", s->sink_aaaa);
	s->udp_size = 1232;
	s->tcp_idle_ms = 10000;
	s->stale_cap = 4;
	w = &fe->w[0];
	w->fe = fe;
	w->fuzz = 1;
	w->rfree = FE_RSLOT_NONE;
	pthread_mutex_init(&w->sight_mtx, NULL);
	w->sight_mtx_init = 1;
	if (uv_loop_init(&w->loop) < 0)
		goto fail;
	w->loop_init = 1;
	if ((w->out = malloc(FE_OUT_SIZE)) == NULL ||
	    (w->stale_buf = malloc(FE_OUT_SIZE)) == NULL)
		goto fail;
	return fe;
fail:
	rg_frontend_free(fe);
	return NULL;
}

size_t
rg_frontend_fuzz_query(struct rg_frontend *fe, const uint8_t *pkt,
    size_t len, const struct sockaddr *from, int tcp, uint8_t *out,
    size_t cap, int *forwarded)
{
	struct fe_worker *w = &fe->w[0];
	struct sockaddr_in dflt;
	struct fe_client cl = { NULL, from, NULL, NULL };

	if (from == NULL) {
		memset(&dflt, 0, sizeof(dflt));
		dflt.sin_family = AF_INET;
		dflt.sin_port = htons(5353);
		inet_pton(AF_INET, "192.0.2.1", &dflt.sin_addr);
		cl.addr = (const struct sockaddr *)&dflt;
	}
	w->fuzz_tcp = tcp;
	w->fuzz_out = out;
	w->fuzz_cap = cap;
	w->fuzz_len = 0;
	w->fuzz_forwarded = 0;
	query_in(w, &cl, pkt, len);
	*forwarded = w->fuzz_forwarded;
	/* As before a wait for I/O. */
	rg_bl_quiescent(fe->bl, 0);
	return w->fuzz_len;
}

size_t
rg_frontend_fuzz_reply(struct rg_frontend *fe, const uint8_t *pkt,
    size_t len, int failed, uint8_t *out, size_t cap)
{
	struct fe_worker *w = &fe->w[0];
	struct fe_query *q;

	if ((q = w->fuzz_q) == NULL)
		return 0;
	w->fuzz_q = NULL;
	w->fuzz_out = out;
	w->fuzz_cap = cap;
	w->fuzz_len = 0;
	fwd_done_cb(q, pkt, len, failed);
	rg_bl_quiescent(fe->bl, 0);
	return w->fuzz_len;
}
