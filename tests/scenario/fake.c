/*
 * fake.c -- the fake clock and network (see fake.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <ldns/ldns.h>

#include "clock.h"
#include "fake.h"
#include "transport.h"

#define FAKE_MAX_UPSTREAMS 32

struct fake_upstream {
	char name[64];
	enum fake_mode mode;
	uint32_t rtt_ms;
	unsigned sent;
};

struct pending {
	struct pending *next;
	uint64_t due;
	rg_exchange_cb *cb;
	void *arg;
	enum rg_probe_err err;
	uint8_t *pkt;
	size_t len;
	uint64_t rtt_us;
};

struct rg_net {
	int unused;
};

static uint64_t now_ms = 1000;
static struct fake_upstream ups[FAKE_MAX_UPSTREAMS];
static size_t n_ups;
static struct pending *queue;

uint64_t
rg_clock_ms(void)
{
	return now_ms;
}

uint64_t
rg_clock_wall_ms(void)
{
	/* 2026-11-30T00:00:00Z plus the simulated time. */
	return 1796000000000ULL + now_ms;
}

void
fake_set_now(uint64_t ms)
{
	now_ms = ms;
}

uint64_t
fake_now(void)
{
	return now_ms;
}

static struct fake_upstream *
fake_find(const char *name, int create)
{
	size_t i;

	for (i = 0; i < n_ups; i++)
		if (strcmp(ups[i].name, name) == 0)
			return &ups[i];
	if (!create || n_ups == FAKE_MAX_UPSTREAMS)
		return NULL;
	memset(&ups[n_ups], 0, sizeof(ups[n_ups]));
	strncpy(ups[n_ups].name, name, sizeof(ups[n_ups].name) - 1);
	ups[n_ups].rtt_ms = 5;
	return &ups[n_ups++];
}

void
fake_upstream(const char *name, enum fake_mode mode, uint32_t rtt_ms)
{
	struct fake_upstream *f = fake_find(name, 1);

	f->mode = mode;
	f->rtt_ms = rtt_ms;
}

unsigned
fake_sent(const char *name)
{
	struct fake_upstream *f = fake_find(name, 0);

	return f ? f->sent : 0;
}

void
fake_reset(void)
{
	struct pending *p;

	while ((p = queue) != NULL) {
		queue = p->next;
		free(p->pkt);
		free(p);
	}
	n_ups = 0;
	now_ms = 1000;
}

struct rg_net *
rg_net_new(uv_loop_t *loop)
{
	return calloc(1, sizeof(struct rg_net));
}

void
rg_net_free(struct rg_net *net)
{
	struct pending *p;

	while ((p = queue) != NULL) {
		queue = p->next;
		p->cb(p->arg, RG_PROBE_CANCELLED, NULL, 0, 0, NULL);
		free(p->pkt);
		free(p);
	}
	free(net);
}

static void
add_a(ldns_pkt *pkt, const char *owner, const char *addr)
{
	ldns_rr *rr;
	char text[512];

	snprintf(text, sizeof(text), "%s 60 IN A %s", owner, addr);
	if (ldns_rr_new_frm_str(&rr, text, 0, NULL, NULL) == LDNS_STATUS_OK)
		ldns_pkt_push_rr(pkt, LDNS_SECTION_ANSWER, rr);
}

/* The reply an upstream in MODE gives to Q. */
static int
make_reply(const struct rg_probe_query *q, enum fake_mode mode,
    uint8_t **out, size_t *len)
{
	ldns_pkt *pkt;
	ldns_status st;
	const char *good;

	if (ldns_wire2pkt(&pkt, q->wire, q->wire_len) != LDNS_STATUS_OK)
		return -EINVAL;
	ldns_pkt_set_qr(pkt, 1);
	ldns_pkt_set_ra(pkt, 1);
	ldns_pkt_set_rcode(pkt, LDNS_RCODE_NOERROR);
	if (mode == FAKE_SERVFAIL)
		ldns_pkt_set_rcode(pkt, LDNS_RCODE_SERVFAIL);
	else switch (q->kind) {
	case RG_PROBE_BASIC:
		break;
	case RG_PROBE_EXPECT:
		good = q->checks->n_expect_answers > 0 ?
		    q->checks->expect_answers[0] : "192.0.2.1";
		add_a(pkt, q->qname, mode == FAKE_WRONG ? "192.0.2.99" : good);
		break;
	case RG_PROBE_NXDOMAIN:
		if (mode == FAKE_REWRITE)
			add_a(pkt, q->qname, "192.0.2.66");
		else
			ldns_pkt_set_rcode(pkt, LDNS_RCODE_NXDOMAIN);
		break;
	case RG_PROBE_DNSSEC_SIGNED:
		add_a(pkt, q->qname, "192.0.2.7");
		ldns_pkt_set_ad(pkt, mode != FAKE_NOAD);
		break;
	case RG_PROBE_DNSSEC_BOGUS:
		if (mode == FAKE_NOAD)
			add_a(pkt, q->qname, "192.0.2.8");
		else
			ldns_pkt_set_rcode(pkt, LDNS_RCODE_SERVFAIL);
		break;
	case RG_PROBE_KIND_COUNT:
		break;
	}
	st = ldns_pkt2wire(out, pkt, len);
	ldns_pkt_free(pkt);
	return st == LDNS_STATUS_OK ? 0 : -ENOMEM;
}

int
rg_net_exchange(struct rg_net *net, const struct rg_conf_pool *pool,
    const struct rg_conf_upstream *up, const struct rg_probe_query *q,
    uint32_t timeout_ms, rg_exchange_cb *cb, void *arg)
{
	struct fake_upstream *f = fake_find(up->name, 1);
	struct pending *p, **pp;
	uint32_t rtt;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return -ENOMEM;
	f->sent++;
	p->cb = cb;
	p->arg = arg;
	rtt = f->mode == FAKE_SLOW ? f->rtt_ms * 3 : f->rtt_ms;
	switch (f->mode) {
	case FAKE_TIMEOUT:
		p->err = RG_PROBE_TIMEOUT;
		p->due = now_ms + timeout_ms;
		break;
	case FAKE_REFUSED_CONN:
		p->err = RG_PROBE_NETWORK;
		p->due = now_ms + 1;
		break;
	case FAKE_OK:
	case FAKE_SERVFAIL:
	case FAKE_REWRITE:
	case FAKE_WRONG:
	case FAKE_NOAD:
	case FAKE_SLOW:
		if (rtt >= timeout_ms) {
			p->err = RG_PROBE_TIMEOUT;
			p->due = now_ms + timeout_ms;
			break;
		}
		if (make_reply(q, f->mode, &p->pkt, &p->len) < 0) {
			free(p);
			return -ENOMEM;
		}
		p->err = RG_PROBE_OK;
		p->due = now_ms + rtt;
		p->rtt_us = (uint64_t)rtt * 1000;
		break;
	}
	/* Keep the queue in due order, first come first served on ties. */
	for (pp = &queue; *pp != NULL && (*pp)->due <= p->due;
	    pp = &(*pp)->next)
		;
	p->next = *pp;
	*pp = p;
	return 0;
}

void
fake_run(uint64_t until_ms, uint64_t *next_ms, void (*tick)(void *),
    void *arg)
{
	struct pending *p;
	uint64_t t, last = 0;
	unsigned spins = 0;

	for (;;) {
		t = *next_ms;
		if (queue != NULL && queue->due < t)
			t = queue->due;
		if (t > until_ms)
			break;
		/* A tick that asks to run again at the same instant forever
		 * is a bug in the code under test, not a long scenario. */
		if (t == last && ++spins > 100000)
			abort();
		if (t != last)
			spins = 0;
		last = t;
		if (t > now_ms)
			now_ms = t;
		while ((p = queue) != NULL && p->due <= now_ms) {
			queue = p->next;
			p->cb(p->arg, p->err, p->pkt, p->len, p->rtt_us,
			    p->err == RG_PROBE_NETWORK ? "connection refused" :
			    NULL);
			free(p->pkt);
			free(p);
		}
		tick(arg);
	}
	if (until_ms > now_ms)
		now_ms = until_ms;
}
