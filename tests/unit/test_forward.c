/*
 * test_forward.c -- unit tests of the forwarder's recursion tokens, on a
 * real libuv loop with a route whose only upstream is a recursive pool, so
 * that no socket is opened: the test plays the main thread, taking the
 * questions the forwarder hands out and answering them, late ones
 * included.  A late answer or failure (its attempt cancelled or over) must
 * not touch a newer attempt that took the same ID.  Last, over two UDP
 * upstreams on loopback: a worker that comes late to its loop, and an
 * upstream port that nobody listens on.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <uv.h>

#include "forward.h"

/* Start and cancel this many queries at most, looking for a reused ID
 * (each start draws one of 65536 at random: the chance of never seeing
 * one given ID in so many draws is below 1e-13). */
#define REUSE_TRIES	2000000

/* What the forwarder handed to the "main thread". */
struct asked {
	unsigned n;
	uint64_t token;			/* the last one */
	uint8_t question[260];
	size_t qlen;
	uint32_t timeout_ms;
};

/* What a query came to. */
struct done {
	unsigned n;
	int failed;
	int had_pkt;
	uint8_t rcode;
};

static int
recurse_cb(void *arg, const struct rg_route_upstream *u,
    const uint8_t *question, size_t qlen, uint64_t token,
    uint32_t timeout_ms)
{
	struct asked *a = arg;

	assert_int_equal(u->transport, RG_TRANSPORT_RECURSIVE);
	assert_true(qlen <= sizeof(a->question));
	a->n++;
	a->token = token;
	memcpy(a->question, question, qlen);
	a->qlen = qlen;
	a->timeout_ms = timeout_ms;
	return 0;
}

static void
done_cb(void *arg, const uint8_t *pkt, size_t len, int failed)
{
	struct done *d = arg;

	d->n++;
	d->failed = failed;
	d->had_pkt = pkt != NULL;
	d->rcode = pkt != NULL && len >= 12 ? pkt[3] & 0x0f : 0xff;
}

/* A route of one upstream: the recursive pool "recursion". */
static struct rg_route *
route_recursive(void)
{
	struct rg_route *r;

	assert_non_null(r = calloc(1, sizeof(*r)));
	atomic_init(&r->refs, 1);
	assert_non_null(r->ups = calloc(1, sizeof(*r->ups)));
	assert_non_null(r->ups[0].name = strdup("lab-recursion"));
	assert_non_null(r->ups[0].pool = strdup("recursion"));
	r->ups[0].transport = RG_TRANSPORT_RECURSIVE;
	r->ups[0].state = RG_STATE_UP;
	r->n_ups = 1;
	r->attempt_timeout_ms = 400;
	r->budget_ms = 500;
	r->udp_size = 1232;
	return r;
}

/* NAME (dotted, no final dot) as a question of type A, class IN. */
static size_t
question(const char *name, uint8_t *q)
{
	const char *p = name, *dot;
	size_t n = 0, l;

	for (;;) {
		dot = strchr(p, '.');
		l = dot != NULL ? (size_t)(dot - p) : strlen(p);
		q[n++] = (uint8_t)l;
		memcpy(q + n, p, l);
		n += l;
		if (dot == NULL)
			break;
		p = dot + 1;
	}
	q[n++] = 0;
	q[n++] = 0, q[n++] = 1;		/* A */
	q[n++] = 0, q[n++] = 1;		/* IN */
	return n;
}

/* The reply the main thread's libunbound would give to Q: NOERROR,
 * no records, ID 0 (it does not matter). */
static size_t
reply(const uint8_t *q, size_t qlen, uint8_t rcode, uint8_t *out)
{
	memset(out, 0, 12);
	out[2] = 0x81;			/* QR, RD */
	out[3] = 0x80 | rcode;		/* RA */
	out[5] = 1;
	memcpy(out + 12, q, qlen);
	return 12 + qlen;
}

struct fixture {
	uv_loop_t loop;
	struct rg_fwd *fw;
	struct asked asked;
};

static int
setup(void **state)
{
	struct fixture *f;
	struct rg_route *r;

	assert_non_null(f = calloc(1, sizeof(*f)));
	assert_int_equal(uv_loop_init(&f->loop), 0);
	assert_non_null(f->fw = rg_fwd_new(&f->loop, NULL, recurse_cb,
	    &f->asked));
	r = route_recursive();
	rg_fwd_set_route(f->fw, r);
	rg_route_unref(r);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	rg_fwd_close(f->fw);
	/* The forwarder frees itself once its handles are closed. */
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	free(f);
	return 0;
}

static struct rg_fwd_req *
start(struct fixture *f, const uint8_t *q, size_t qlen, struct done *d)
{
	struct rg_fwd_query fq;
	struct rg_fwd_req *req;
	unsigned before = f->asked.n;

	memset(&fq, 0, sizeof(fq));
	fq.question = q;
	fq.question_len = qlen;
	fq.flags = 0x0100;
	assert_non_null(req = rg_fwd_start(f->fw, &fq, done_cb, d));
	/* The recursion is asked at once, under a token of its own. */
	assert_int_equal(f->asked.n, before + 1);
	return req;
}

static uint64_t
stat_late(const struct fixture *f)
{
	return atomic_load(&rg_fwd_stats(f->fw)->recursion_late);
}

/*
 * The query of attempt A is cancelled (its client went away); a newer
 * query B gets the same ID; then A's failure and A's answer come back
 * late.  B must go on waiting, and take its own answer.
 */
static void
test_late_reply_after_reuse(void **state)
{
	struct fixture *f = *state;
	struct done da = { 0 }, db = { 0 };
	struct rg_fwd_req *req;
	uint8_t qa[64], qb[64], pkt[128];
	size_t la, lb, n;
	uint64_t ta, tb = 0;
	unsigned i;

	la = question("late.example", qa);
	lb = question("new.example", qb);
	req = start(f, qa, la, &da);
	ta = f->asked.token;
	assert_int_equal(f->asked.qlen, la);
	assert_memory_equal(f->asked.question, qa, la);
	rg_fwd_cancel(req);
	for (i = 0; i < REUSE_TRIES; i++) {
		req = start(f, qb, lb, &db);
		tb = f->asked.token;
		if ((uint16_t)tb == (uint16_t)ta)
			break;
		rg_fwd_cancel(req);
	}
	assert_true(i < REUSE_TRIES);
	/* Same ID, another generation. */
	assert_true(tb != ta);

	/* A's failure, late: B is not touched. */
	rg_fwd_recursion_reply(f->fw, ta, NULL, 0);
	assert_int_equal(db.n, 0);
	assert_int_equal(stat_late(f), 1);
	/* A's answer, late, even one to B's very question. */
	n = reply(qb, lb, 0, pkt);
	rg_fwd_recursion_reply(f->fw, ta, pkt, n);
	assert_int_equal(db.n, 0);
	assert_int_equal(stat_late(f), 2);
	/* Nothing ever reached the cancelled query. */
	assert_int_equal(da.n, 0);

	/* B's own answer is taken. */
	rg_fwd_recursion_reply(f->fw, tb, pkt, n);
	assert_int_equal(db.n, 1);
	assert_int_equal(db.failed, 0);
	assert_true(db.had_pkt);
	assert_int_equal(db.rcode, 0);
	assert_int_equal(stat_late(f), 2);
	/* And once only: a second answer is late too. */
	rg_fwd_recursion_reply(f->fw, tb, pkt, n);
	assert_int_equal(db.n, 1);
	assert_int_equal(stat_late(f), 3);
}

/* The failure of the attempt itself ends the query (no candidate left). */
static void
test_failure_ends_query(void **state)
{
	struct fixture *f = *state;
	struct done d = { 0 };
	uint8_t q[64];
	size_t l;

	l = question("fail.example", q);
	(void)start(f, q, l, &d);
	assert_true(f->asked.timeout_ms > 0 && f->asked.timeout_ms <= 500);
	rg_fwd_recursion_reply(f->fw, f->asked.token, NULL, 0);
	assert_int_equal(d.n, 1);
	assert_int_equal(d.failed, 1);
	assert_false(d.had_pkt);
	assert_int_equal(stat_late(f), 0);
}

/*
 * A reply that is not one to the question is the only one the attempt
 * would get: it ends the attempt, rather than leave the client waiting
 * for its whole budget.
 */
static void
test_foreign_reply_fails(void **state)
{
	struct fixture *f = *state;
	struct done d = { 0 };
	uint8_t q[64], other[64], pkt[128];
	size_t l, lo, n;

	l = question("asked.example", q);
	lo = question("other.example", other);
	(void)start(f, q, l, &d);
	n = reply(other, lo, 0, pkt);
	rg_fwd_recursion_reply(f->fw, f->asked.token, pkt, n);
	assert_int_equal(d.n, 1);
	assert_int_equal(d.failed, 1);
	assert_int_equal(atomic_load(&rg_fwd_stats(f->fw)->unmatched), 1);
}

/* A SERVFAIL from the recursion is kept, and relayed as a failure. */
static void
test_servfail_relayed(void **state)
{
	struct fixture *f = *state;
	struct done d = { 0 };
	uint8_t q[64], pkt[128];
	size_t l, n;

	l = question("servfail.example", q);
	(void)start(f, q, l, &d);
	n = reply(q, l, 2, pkt);
	rg_fwd_recursion_reply(f->fw, f->asked.token, pkt, n);
	assert_int_equal(d.n, 1);
	assert_int_equal(d.failed, 1);
	assert_true(d.had_pkt);
	assert_int_equal(d.rcode, 2);
}

/* The budget runs out first: the answer that comes after is late. */
static void
test_answer_after_budget(void **state)
{
	struct fixture *f = *state;
	struct done d = { 0 };
	uint8_t q[64], pkt[128];
	size_t l, n;
	uint64_t t;
	unsigned i;

	l = question("slow.example", q);
	(void)start(f, q, l, &d);
	t = f->asked.token;
	/* The route's budget is 500 ms: the loop's timer ends the query. */
	for (i = 0; i < 100 && d.n == 0; i++)
		uv_run(&f->loop, UV_RUN_ONCE);
	assert_int_equal(d.n, 1);
	assert_int_equal(d.failed, 1);
	n = reply(q, l, 0, pkt);
	rg_fwd_recursion_reply(f->fw, t, pkt, n);
	assert_int_equal(d.n, 1);
	assert_int_equal(stat_late(f), 1);
}

/*
 * A worker that comes late to its loop (descheduled on a busy host) finds
 * a reply waiting in its socket after the upstream's hedge delay and
 * attempt time-out have passed.  The reply was on time: the query must
 * take it, with no time-out, no hedge and no failure blamed on the
 * upstream.
 */
struct late {
	struct asked asked;
	unsigned reports;
	enum rg_fwd_outcome last;
};

static void
late_report_cb(void *arg, const struct rg_route_upstream *u,
    enum rg_fwd_outcome outcome)
{
	struct late *l = arg;

	(void)u;
	l->reports++;
	l->last = outcome;
}

static int
udp_bound(struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	int fd;

	assert_true((fd = socket(AF_INET, SOCK_DGRAM, 0)) >= 0);
	memset(ss, 0, sizeof(*ss));
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	*len = sizeof(*sin);
	assert_int_equal(bind(fd, (struct sockaddr *)sin, *len), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)ss, len), 0);
	return fd;
}

/* A route of two UDP upstreams of the pool "primary", "a" then "b", each
 * on a socket of the test's bound on loopback (*FA, *FB). */
static struct rg_route *
route_udp_pair(uint32_t hedge_ms, int *fa, int *fb)
{
	struct rg_route *r;
	int i;

	r = route_recursive();
	free(r->ups[0].name);
	free(r->ups[0].pool);
	free(r->ups);
	assert_non_null(r->ups = calloc(2, sizeof(*r->ups)));
	r->n_ups = 2;
	*fa = udp_bound(&r->ups[0].addr, &r->ups[0].addrlen);
	*fb = udp_bound(&r->ups[1].addr, &r->ups[1].addrlen);
	for (i = 0; i < 2; i++) {
		assert_non_null(r->ups[i].name = strdup(i ? "b" : "a"));
		assert_non_null(r->ups[i].pool = strdup("primary"));
		r->ups[i].transport = RG_TRANSPORT_UDP;
		r->ups[i].state = RG_STATE_UP;
		r->ups[i].hedge_ms = hedge_ms;
	}
	return r;
}

/* A forwarder on a loop of its own over route_udp_pair(), and a query. */
struct pair {
	uv_loop_t loop;
	struct late l;
	struct rg_fwd *fw;
	int fa, fb;			/* a's socket (-1: closed), b's */
	struct sockaddr_storage sa;	/* a's address */
	socklen_t sl;
	uint8_t q[64];
	size_t ql;
	struct rg_fwd_query fq;		/* type A for the name asked */
};

/* P with a's and b's hedge delay HEDGE_MS, attempts of ATTEMPT_MS within
 * BUDGET_MS, and a query for NAME.  With A_DEAD, nobody listens on a's
 * port: it was free a moment ago, and b's was bound before it closed. */
static void
pair_open(struct pair *p, uint32_t hedge_ms, uint32_t attempt_ms,
    uint32_t budget_ms, const char *name, int a_dead)
{
	struct rg_route *r;

	memset(p, 0, sizeof(*p));
	assert_int_equal(uv_loop_init(&p->loop), 0);
	assert_non_null(p->fw = rg_fwd_new(&p->loop, late_report_cb,
	    recurse_cb, &p->l));
	r = route_udp_pair(hedge_ms, &p->fa, &p->fb);
	if (a_dead) {
		close(p->fa);
		p->fa = -1;
	}
	r->attempt_timeout_ms = attempt_ms;
	r->budget_ms = budget_ms;
	p->sa = r->ups[0].addr;
	p->sl = r->ups[0].addrlen;
	rg_fwd_set_route(p->fw, r);
	rg_route_unref(r);
	p->ql = question(name, p->q);
	p->fq.question = p->q;
	p->fq.question_len = p->ql;
	p->fq.flags = 0x0100;
}

static void
pair_close(struct pair *p)
{
	rg_fwd_close(p->fw);
	uv_run(&p->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&p->loop), 0);
	if (p->fa >= 0)
		close(p->fa);
	if (p->fb >= 0)
		close(p->fb);
}

static void
test_late_worker_takes_waiting_reply(void **state)
{
	struct pair p;
	struct done d = { 0 };
	struct sockaddr_storage from;
	socklen_t fl;
	uint8_t pkt[512];
	ssize_t n = -1;
	int i;

	(void)state;
	pair_open(&p, 20, 100, 3000, "late.example", 0);
	assert_non_null(rg_fwd_start(p.fw, &p.fq, done_cb, &d));
	/* The query goes out when the loop turns. */
	for (i = 0; i < 400 && n < 0; i++) {
		uv_run(&p.loop, UV_RUN_NOWAIT);
		fl = sizeof(from);
		n = recvfrom(p.fa, pkt, sizeof(pkt), MSG_DONTWAIT,
		    (struct sockaddr *)&from, &fl);
		if (n < 0)
			usleep(5000);
	}
	assert_true(n >= 12 + (ssize_t)p.ql);
	/* Answered at once, same ID and question... */
	pkt[2] |= 0x80;
	pkt[3] = 0x80;
	assert_int_equal(sendto(p.fa, pkt, (size_t)n, 0,
	    (struct sockaddr *)&from, fl), n);
	/* ... but the worker comes back only after its hedge delay and
	 * attempt time-out have both passed. */
	usleep(300 * 1000);
	for (i = 0; i < 200 && d.n == 0; i++)
		uv_run(&p.loop, UV_RUN_ONCE);
	assert_int_equal(d.n, 1);
	assert_int_equal(d.failed, 0);
	assert_true(d.had_pkt);
	assert_int_equal(d.rcode, 0);
	assert_int_equal(p.l.reports, 0);
	assert_int_equal(atomic_load(&rg_fwd_stats(p.fw)->timeouts), 0);
	assert_int_equal(atomic_load(&rg_fwd_stats(p.fw)->hedged), 0);
	/* The second upstream was never asked. */
	assert_true(recv(p.fb, pkt, sizeof(pkt), MSG_DONTWAIT) < 0);
	pair_close(&p);
}

/* Wait (a bounded number of turns) for a query on FD; answer it with
 * RCODE, or leave it unanswered when RCODE is -1.  Returns its length. */
static ssize_t
serve_one(uv_loop_t *loop, int fd, int rcode)
{
	struct sockaddr_storage from;
	socklen_t fl;
	uint8_t pkt[512];
	ssize_t n = -1;
	int i;

	for (i = 0; i < 2000 && n < 0; i++) {
		uv_run(loop, UV_RUN_NOWAIT);
		fl = sizeof(from);
		n = recvfrom(fd, pkt, sizeof(pkt), MSG_DONTWAIT,
		    (struct sockaddr *)&from, &fl);
		if (n < 0)
			usleep(5000);
	}
	if (n >= 12 && rcode >= 0) {
		pkt[2] |= 0x80;
		pkt[3] = 0x80 | (uint8_t)rcode;
		assert_int_equal(sendto(fd, pkt, (size_t)n, 0,
		    (struct sockaddr *)&from, fl), n);
	}
	return n;
}

/*
 * The first upstream's port has nobody listening: the ICMP port
 * unreachable that the query draws fails the attempt at once, as a
 * network error, and the next upstream is asked without waiting for the
 * hedge delay.  Then the first upstream comes back on the same port: the
 * forwarder's sockets, one of which took the error, go on reading its
 * replies.
 */
static void
test_refused_port_fails_fast(void **state)
{
	struct pair p;
	struct done d;
	uint8_t buf[64];
	int i, k;

	(void)state;
	/* b is asked for a's failure only, never for a's silence: the
	 * hedge delay is far longer than the test. */
	pair_open(&p, 60000, 60000, 120000, "refused.example", 1);
	memset(&d, 0, sizeof(d));
	assert_non_null(rg_fwd_start(p.fw, &p.fq, done_cb, &d));
	assert_true(serve_one(&p.loop, p.fb, 0) >= 12 + (ssize_t)p.ql);
	for (i = 0; i < 2000 && d.n == 0; i++) {
		uv_run(&p.loop, UV_RUN_NOWAIT);
		usleep(1000);
	}
	assert_int_equal(d.n, 1);
	assert_int_equal(d.failed, 0);
	assert_int_equal(d.rcode, 0);
	/* a was blamed for a network error, not a time-out. */
	assert_int_equal(p.l.reports, 1);
	assert_int_equal(p.l.last, RG_FWD_NETWORK);
	assert_int_equal(atomic_load(&rg_fwd_stats(p.fw)->timeouts), 0);

	/* a listens again, on its port: every one of its sockets (the
	 * forwarder turns over them) takes its replies. */
	assert_true((p.fa = socket(AF_INET, SOCK_DGRAM, 0)) >= 0);
	assert_int_equal(bind(p.fa, (struct sockaddr *)&p.sa, p.sl), 0);
	for (k = 0; k < 8; k++) {
		memset(&d, 0, sizeof(d));
		assert_non_null(rg_fwd_start(p.fw, &p.fq, done_cb, &d));
		assert_true(serve_one(&p.loop, p.fa, 0) >=
		    12 + (ssize_t)p.ql);
		for (i = 0; i < 2000 && d.n == 0; i++) {
			uv_run(&p.loop, UV_RUN_NOWAIT);
			usleep(1000);
		}
		assert_int_equal(d.n, 1);
		assert_int_equal(d.failed, 0);
	}
	assert_int_equal(p.l.reports, 1);
	/* b was asked the first time only. */
	assert_true(recv(p.fb, buf, sizeof(buf), MSG_DONTWAIT) < 0);
	pair_close(&p);
}

/* A reply to a query on FD, which the test has read off it. */
static void
answer(int fd, uint8_t *pkt, ssize_t n, const struct sockaddr_storage *from,
    socklen_t fl)
{
	assert_true(n >= 12);
	pkt[2] |= 0x80;
	pkt[3] = 0x80;
	assert_int_equal(sendto(fd, pkt, (size_t)n, 0,
	    (const struct sockaddr *)from, fl), n);
}

/*
 * An ICMP port unreachable that a send reports (the socket was not polled
 * since it came) fails that socket's attempts at once, as one reported by
 * the poll does: their queries reach the next upstream within the same
 * flush, without the loop running, and nothing times out.
 */
static void
test_refused_send_fails_fast(void **state)
{
	struct pair p;
	struct done d[8];
	struct sockaddr_storage from;
	struct pollfd pfd;
	socklen_t fl;
	uint8_t pkt[512];
	ssize_t n;
	int i, k, started, moved = 0;

	(void)state;
	memset(d, 0, sizeof(d));
	pair_open(&p, 60000, 60000, 120000, "refused.example", 1);
	/* One query a flush, the loop never running: each goes out on the
	 * next of a's sockets and draws an ICMP error that nobody polls,
	 * until a socket takes its second query, whose send reports it. */
	pfd.fd = p.fb;
	pfd.events = POLLIN;
	for (started = 0; started < 8 && moved == 0; started++) {
		assert_non_null(rg_fwd_start(p.fw, &p.fq, done_cb,
		    &d[started]));
		rg_fwd_flush(p.fw);
		usleep(20000);
		while (poll(&pfd, 1, started > 0 ? 200 : 0) == 1) {
			fl = sizeof(from);
			n = recvfrom(p.fb, pkt, sizeof(pkt), MSG_DONTWAIT,
			    (struct sockaddr *)&from, &fl);
			if (n < 0)
				break;
			answer(p.fb, pkt, n, &from, fl);
			moved++;
		}
	}
	/* The socket's two attempts, the first and the last, moved to b. */
	assert_true(started > 1);
	assert_int_equal(moved, 2);
	assert_int_equal(p.l.reports, 1);
	assert_int_equal(p.l.last, RG_FWD_NETWORK);

	/* The others' sockets report their error when polled; b answers
	 * every query. */
	for (k = moved; k < started; k++)
		assert_true(serve_one(&p.loop, p.fb, 0) >=
		    12 + (ssize_t)p.ql);
	for (i = 0; i < 2000; i++) {
		for (k = 0; k < started && d[k].n == 1; k++)
			;
		if (k == started)
			break;
		uv_run(&p.loop, UV_RUN_NOWAIT);
		usleep(1000);
	}
	for (k = 0; k < started; k++) {
		assert_int_equal(d[k].n, 1);
		assert_int_equal(d[k].failed, 0);
		assert_int_equal(d[k].rcode, 0);
	}
	assert_int_equal(atomic_load(&rg_fwd_stats(p.fw)->timeouts), 0);
	pair_close(&p);
}

/* A client that asks again each time it is answered, CAP times. */
struct requery {
	struct rg_fwd *fw;
	const struct rg_fwd_query *fq;
	unsigned n, cap, failed, refused;
};

static void
requery_cb(void *arg, const uint8_t *pkt, size_t len, int failed)
{
	struct requery *rq = arg;

	(void)pkt;
	(void)len;
	rq->n++;
	rq->failed += failed != 0;
	if (rq->n < rq->cap && rg_fwd_start(rq->fw, rq->fq, requery_cb,
	    rq) == NULL)
		rq->refused++;
}

/* Refuse sendmmsg(2) to this process with EPERM, as a firewall's reject
 * rule does for every datagram.  Returns 0, or -1 (not done here). */
static int
deny_sendmmsg(void)
{
#ifdef __x86_64__
	struct sock_filter code[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
		    offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 0, 3),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
		    offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_sendmmsg, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog;

	memset(&prog, 0, sizeof(prog));
	prog.len = sizeof(code) / sizeof(code[0]);
	prog.filter = code;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0)
		return -1;
	return 0;
#else
	return -1;
#endif
}

/*
 * Every send fails at once (EPERM, as behind a firewall that rejects),
 * and the client asks again at each SERVFAIL.  Each query fails without a
 * time-out, but a turn of the loop fails a bounded number of them: the
 * rest wait for the next flush, and the next turn comes without waiting
 * for I/O.  In a child process, whose system calls the test restricts:
 * set up before the fork, as cmocka's checks are the parent's.
 */
static void
test_failing_sends_yield(void **state)
{
	struct pair p;
	struct requery rq;
	unsigned before, most = 0;
	int status, t, k;
	pid_t pid;

	(void)state;
	pair_open(&p, 60000, 60000, 120000, "again.example", 0);
	memset(&rq, 0, sizeof(rq));
	rq.fw = p.fw;
	rq.fq = &p.fq;
	rq.cap = 100000;
	assert_true((pid = fork()) >= 0);
	if (pid == 0) {
		/* The child's own epoll set: the parent's stays as it was. */
		if (uv_loop_fork(&p.loop) != 0)
			_exit(2);
		if (deny_sendmmsg() < 0)
			_exit(77);
		for (k = 0; k < 16; k++)
			if (rg_fwd_start(p.fw, &p.fq, requery_cb, &rq) == NULL)
				_exit(2);
		for (t = 0; t < 20000 && rq.n < 2000; t++) {
			before = rq.n;
			uv_run(&p.loop, UV_RUN_NOWAIT);
			if (rq.n - before > most)
				most = rq.n - before;
		}
		fprintf(stderr, "# %u SERVFAIL of %u answers in %d turns, "
		    "at most %u a turn; %lu time-outs\n", rq.failed, rq.n, t,
		    most, (unsigned long)atomic_load(
		    &rg_fwd_stats(p.fw)->timeouts));
		/* A flush fails each query's attempt once at most, and a
		 * turn flushes three times (idle, prepare, check phases). */
		_exit(rq.n >= 2000 && rq.failed == rq.n && rq.refused == 0 &&
		    most <= 3 * 16 &&
		    atomic_load(&rg_fwd_stats(p.fw)->timeouts) == 0 ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	pair_close(&p);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == 77)
		skip();
	assert_int_equal(WEXITSTATUS(status), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_late_reply_after_reuse,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_failure_ends_query,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_foreign_reply_fails,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_servfail_relayed,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_answer_after_budget,
		    setup, teardown),
		cmocka_unit_test(test_late_worker_takes_waiting_reply),
		cmocka_unit_test(test_refused_port_fails_fast),
		cmocka_unit_test(test_refused_send_fails_fast),
		cmocka_unit_test(test_failing_sends_yield),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
