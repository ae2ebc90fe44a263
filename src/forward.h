/*
 * forward.h -- guard mode's forwarder: client queries sent on to the
 * upstreams of a route, with hedging and retry.
 *
 * The main thread turns the failover decision into a route: the upstreams
 * in the order to try them (the active pool first, then the other pools
 * that can serve), each with the delay after which the next one is asked
 * too.  A route is immutable and reference-counted, so that workers switch
 * to a new one between two queries while queries in flight finish on the
 * old one.
 *
 * Each worker thread has its own forwarder on its own loop, with its own
 * upstream sockets: a few UDP sockets per upstream on random ports,
 * rotated, and reused, pipelined TCP and DNS over TLS connections.  Every
 * attempt gets a new random query ID; a reply counts only when it comes
 * from the attempt's socket (and so from the upstream's address and port)
 * with its ID and its question.  A time-out, SERVFAIL or REFUSED moves the
 * query to the next candidate at once; a truncated UDP reply is asked again
 * over TCP of the same upstream; the caller hears of a failure only when
 * every candidate failed or the client's time budget ran out.  The
 * upstream of a recursive (last-resort) pool is the main thread's
 * libunbound: the forwarder hands such attempts to its owner, which
 * passes them to the main thread and the reply back.  Such an attempt
 * carries a token with a generation: a reply that comes back after its
 * attempt is over (the query was answered or cancelled meanwhile) is
 * dropped even when a newer attempt took the same slot.
 */
#ifndef RG_FORWARD_H
#define RG_FORWARD_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "conf.h"
#include "health.h"

struct rg_failover;

/** The shortest hedge delay: below it, scheduling noise looks like loss. */
#define RG_HEDGE_MIN_MS	5

/** One upstream of a route. */
struct rg_route_upstream {
	char *name;			/**< the upstream's name */
	char *pool;			/**< its pool's name */
	struct sockaddr_storage addr;	/**< address and port */
	socklen_t addrlen;
	enum rg_transport transport;	/**< udp, tcp, tls or recursive */
	char *tls_name;			/**< tls: name checked, or NULL */
	char *ca_file;			/**< tls: CA bundle, or NULL: system */
	char *spki_pin;			/**< tls: pin, or NULL */
	enum rg_state state;		/**< its state in the decision */
	uint32_t hedge_ms;		/**< next asked too after; 0: never */
};

/** Where client queries go, and how long they may take. */
struct rg_route {
	_Atomic unsigned refs;
	struct rg_route_upstream *ups;	/**< candidates, in the order to try */
	size_t n_ups;
	uint32_t attempt_timeout_ms;	/**< one attempt (health.timeout-ms) */
	uint32_t budget_ms;		/**< a client query's time */
	uint32_t udp_size;		/**< EDNS size asked of upstreams */
};

/**
 * Build the route of the decision in F: the active pool first, then the
 * other pools that have an upstream up (primary first, fallbacks in
 * configuration order, last-resort pools last), then those with an
 * upstream not known to be down; within a pool, up before unknown before
 * degraded before down, then by median round-trip time.  The hedge delay
 * of an upstream is twice its median round-trip time, at least
 * RG_HEDGE_MIN_MS and at most server.hedge-max-ms.  Returns a route with
 * one reference, or NULL on allocation failure.
 */
struct rg_route *rg_route_build(const struct rg_failover *f);

/** 1 when A and B route alike (so that publishing B would change nothing). */
int rg_route_equal(const struct rg_route *a, const struct rg_route *b);

/** Take a reference (any thread). */
void rg_route_ref(struct rg_route *r);
/** Drop a reference (any thread); the last one frees R. NULL is allowed. */
void rg_route_unref(struct rg_route *r);

/** What an attempt on an upstream came to, for the passive health checks. */
enum rg_fwd_outcome {
	RG_FWD_TIMEOUT,
	RG_FWD_SERVFAIL,
	RG_FWD_REFUSED,
	RG_FWD_NETWORK,
	RG_FWD_OUTCOME_COUNT
};
extern const char *const rg_fwd_outcome_str[];

/**
 * Called on the worker's thread when an attempt on U failed (at most once
 * per upstream per worker every few milliseconds).
 */
typedef void rg_fwd_report_cb(void *arg, const struct rg_route_upstream *u,
    enum rg_fwd_outcome outcome);

/**
 * Called on the worker's thread to have the recursive pool of U resolve
 * QUESTION (QLEN bytes of wire form: name, type, class) within
 * TIMEOUT_MS.  The reply or its failure must come back, once, with TOKEN
 * through rg_fwd_recursion_reply() on this thread.  Returns 0, or a
 * negative errno code when it cannot be asked.
 */
typedef int rg_fwd_recurse_cb(void *arg, const struct rg_route_upstream *u,
    const uint8_t *question, size_t qlen, uint64_t token,
    uint32_t timeout_ms);

/** A client query, as the frontend parsed it. */
struct rg_fwd_query {
	const uint8_t *question;	/**< name, type, class (wire form) */
	size_t question_len;
	uint16_t flags;			/**< client's flags (RD, AD, CD kept) */
	int dnssec_ok;			/**< the client set DO */
	const uint8_t *options;		/**< client's EDNS options, or NULL */
	size_t options_len;
};

/**
 * The result of a query: the upstream's reply (ID and question still the
 * upstream's), or PKT NULL when every candidate failed or the budget ran
 * out.  FAILED, when PKT is not NULL, says the reply is a SERVFAIL kept
 * from a failed attempt (relayed because it may explain the failure).
 */
typedef void rg_fwd_done_cb(void *arg, const uint8_t *pkt, size_t len,
    int failed);

/** Counters of one forwarder; written by its worker, read by anyone. */
struct rg_fwd_stats {
	_Atomic uint64_t forwarded;	/**< client queries forwarded */
	_Atomic uint64_t attempts;	/**< attempts sent to upstreams */
	_Atomic uint64_t hedged;	/**< next asked after a hedge delay */
	_Atomic uint64_t retried;	/**< next one asked after a failure */
	_Atomic uint64_t tcp_retries;	/**< truncated: asked again over TCP */
	_Atomic uint64_t timeouts;	/**< attempts that timed out */
	_Atomic uint64_t upstream_errors; /**< SERVFAIL, REFUSED, network */
	_Atomic uint64_t unmatched;	/**< upstream packets unmatched */
	_Atomic uint64_t failed;	/**< queries no candidate answered */
	_Atomic uint64_t inflight;	/**< client queries in flight now */
	_Atomic uint64_t recursion_late; /**< recursion replies, attempt over */
	_Atomic uint64_t udp_retired;	/**< retired UDP sockets still open */
};

struct rg_fwd;
struct rg_fwd_req;

/**
 * A forwarder on LOOP (the worker's); CB hears of failed attempts, RCB
 * takes attempts on recursive pools (NULL: such upstreams are skipped).
 */
struct rg_fwd *rg_fwd_new(uv_loop_t *loop, rg_fwd_report_cb *cb,
    rg_fwd_recurse_cb *rcb, void *arg);

/**
 * Have the forwarder stamp *NS with uv_hrtime() when it reads an upstream
 * socket while *NS is 0: the owner's mark of when a turn of the loop
 * began its work.  NS NULL: no mark.
 */
void rg_fwd_set_wake_mark(struct rg_fwd *fw, uint64_t *ns);

/**
 * The reply to the recursion asked with TOKEN (its ID does not matter),
 * or PKT NULL when it failed.  Replies to attempts that are over are
 * dropped and counted (recursion_late); a reply that is not one to the
 * question fails the attempt, as no other will come.
 */
void rg_fwd_recursion_reply(struct rg_fwd *fw, uint64_t token,
    const uint8_t *pkt, size_t len);

/**
 * Use route R for the queries started from now on (takes a reference;
 * queries in flight keep theirs).
 */
void rg_fwd_set_route(struct rg_fwd *fw, struct rg_route *r);

/**
 * Send the queries queued so far now, in batches per socket; otherwise
 * they go when the loop's turn ends.  Attempts whose send failed fail
 * here, and a request with nothing left to try ends: its callback may be
 * called from within.
 */
void rg_fwd_flush(struct rg_fwd *fw);

/**
 * Forward Q (copied).  CB is called exactly once, later, unless the query
 * is cancelled.  Returns the request, or NULL when it cannot start (no
 * route, no memory): the caller answers SERVFAIL.
 */
struct rg_fwd_req *rg_fwd_start(struct rg_fwd *fw, const struct rg_fwd_query *q,
    rg_fwd_done_cb *cb, void *arg);

/** Forget REQ: its callback will not be called. */
void rg_fwd_cancel(struct rg_fwd_req *req);

/** The forwarder's counters. */
const struct rg_fwd_stats *rg_fwd_stats(const struct rg_fwd *fw);

/**
 * Cancel every request, close every socket and free FW once its handles
 * are closed (the loop must run on).
 */
void rg_fwd_close(struct rg_fwd *fw);

#endif
