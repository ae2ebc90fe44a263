/*
 * frontend.h -- guard mode: resguardd answers clients on the DNS port.
 *
 * The frontend binds UDP and TCP listeners on every server.listen address
 * (one socket of each per worker, with SO_REUSEPORT, so that the kernel
 * spreads clients over the workers) while the process may still bind
 * privileged ports, then runs one worker thread per socket set, each with
 * its own libuv loop and its own forwarder.  A worker parses each query
 * (FORMERR, NOTIMP, BADVERS or a dropped datagram for what is not a
 * query it can answer), applies server.access-control (REFUSED), looks the
 * name up in the blocklist and answers blocked names itself, with an
 * Extended DNS Error naming the feed; everything else goes to the
 * forwarder, and the reply back to the client with the client's ID, its
 * question as it asked it, and EDNS as it asked for it (truncated when it
 * does not fit).  Good answers are kept in a bounded cache shared by the
 * workers, served stale (RFC 8767) only when no upstream answers.
 *
 * The main thread publishes what workers need that may change at run time
 * (the route, access control, allowlist, sinkhole addresses) as one
 * immutable snapshot; workers take the new one between two queries.
 * Outcomes of real queries come back to the main thread for the passive
 * health checks.
 */
#ifndef RG_FRONTEND_H
#define RG_FRONTEND_H

#include <stdint.h>
#include <sys/socket.h>

#include <jansson.h>
#include <uv.h>

#include "blocklist.h"
#include "conf.h"
#include "forward.h"

struct rg_failover;
struct rg_frontend;

/** TTL of the answers given to blocked names. */
#define RG_BLOCK_TTL	60

/**
 * Worker threads for CONF: 0 when server.listen is empty (no guard mode),
 * else server.threads, or one per online CPU when it is 0.
 */
unsigned rg_frontend_workers(const struct rg_conf *conf);

/**
 * Open the listeners of CONF for WORKERS workers, before privileges are
 * dropped.  Worker i reads the blocklist of BL as reader i.  Returns NULL
 * with the reason in ERR ("127.0.0.1@53 (udp): Address already in use").
 */
struct rg_frontend *rg_frontend_new(const struct rg_conf *conf,
    unsigned workers, struct rg_bl_domain *bl, char *err, size_t err_len);

/**
 * Receives, on the main loop, a failed attempt on the upstream NAME at
 * ADDR over T.
 */
typedef void rg_guard_outcome_cb(void *arg, const char *name,
    const struct sockaddr_storage *addr, enum rg_transport t,
    enum rg_fwd_outcome outcome);

/**
 * Receives, on the main loop, a question for the recursive pool POOL from
 * worker WORKER: QUESTION (QLEN bytes, wire form), to be answered within
 * TIMEOUT_MS through rg_frontend_recursion_reply() with TOKEN.
 */
typedef void rg_guard_recurse_cb(void *arg, unsigned worker, uint16_t token,
    const char *pool, const uint8_t *question, size_t qlen,
    uint32_t timeout_ms);

/**
 * Start the workers.  Outcomes go to CB, questions for recursive pools to
 * RCB, both on LOOP (the main thread's).  Until the first
 * rg_frontend_update() clients get SERVFAIL.  Returns 0 or a negative
 * errno code.
 */
int rg_frontend_start(struct rg_frontend *fe, uv_loop_t *loop,
    rg_guard_outcome_cb *cb, rg_guard_recurse_cb *rcb, void *arg);

/**
 * From the main loop: the reply to the question TOKEN of worker WORKER,
 * with TOKEN as its ID, or PKT NULL when the recursion failed.  Dropped
 * once the frontend is stopping.
 */
void rg_frontend_recursion_reply(struct rg_frontend *fe, unsigned worker,
    uint16_t token, const uint8_t *pkt, size_t len);

/**
 * Publish the route of F and the access control and policy of CONF, when
 * they differ from what the workers use.  Returns 1 when it published.
 */
int rg_frontend_update(struct rg_frontend *fe, const struct rg_conf *conf,
    const struct rg_failover *f);

/** The "guard" object of the status document: counters over all workers. */
json_t *rg_frontend_json(const struct rg_frontend *fe);

/** Queries whose name a blocklist rule matched (every action). */
uint64_t rg_frontend_hits(const struct rg_frontend *fe);

/** Stop the workers and wait for them; closes the handle on the loop. */
void rg_frontend_stop(struct rg_frontend *fe);

/** Free a stopped (or never started) frontend; NULL is allowed. */
void rg_frontend_free(struct rg_frontend *fe);

#endif
