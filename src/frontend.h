/*
 * frontend.h -- guard mode: resguardd answers clients on the DNS port.
 *
 * The frontend binds UDP and TCP listeners on every server.listen address
 * (one socket of each per worker, with SO_REUSEPORT, so that the kernel
 * spreads clients over the workers; on a wildcard address, 0.0.0.0 or ::,
 * each UDP reply leaves from the address its query was sent to) while the
 * process may still bind privileged ports, then runs one worker thread per
 * socket set, each with its own libuv loop and its own forwarder.  A
 * worker parses each query (FORMERR, NOTIMP, BADVERS or a dropped
 * datagram for what is not a query it can answer), applies
 * server.access-control (REFUSED), looks the name up in the blocklist
 * and answers blocked names itself (by the rule's action, local data
 * included), with an Extended DNS Error naming
 * the feed; everything else goes to the forwarder (a passthru rule is an
 * exception: forwarded, and its answer never judged), and the reply back
 * to the client with the client's ID, its question as it asked it, and
 * EDNS as it asked for it (truncated when it does not fit).  Good answers
 * are kept in a bounded cache shared by the workers, served stale (RFC
 * 8767) only when no upstream answers.  Whatever answer goes to a client,
 * fresh or stale, is first checked against the response-IP rules: the
 * first A or AAAA record of its answer section that a rule matches applies
 * that rule's action to the whole answer.  Client queries caught by a rule
 * are counted per rule as sightings.
 *
 * The main thread publishes what workers need that may change at run time
 * (the route, access control, allowlist, sinkhole addresses) as one
 * immutable snapshot; workers take the new one between two queries.
 * Outcomes of real queries come back to the main thread for the passive
 * health checks.
 *
 * A worker holds at most 10000 queries in flight (beyond, SERVFAIL with
 * an Extended DNS Error at once), 1 MiB of replies a TCP client has not
 * read and 16 MiB over all its TCP clients (beyond, the connection is
 * closed); each is counted in rg_frontend_json().
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
 * TIMEOUT_MS through rg_frontend_recursion_reply() with TOKEN, exactly
 * once (a failure too, and however late): the worker lends TOKEN to no
 * other question until then.
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
 * From the main loop: the reply to the question TOKEN of worker WORKER
 * (its ID does not matter), or PKT NULL when the recursion failed.  A
 * reply that comes after its query is over is dropped by the worker and
 * counted ("recursion_late"); all are dropped once the frontend is
 * stopping.
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

/**
 * Client queries a blocklist rule caught: name rules and response-IP
 * rules, every action but passthru.
 */
uint64_t rg_frontend_hits(const struct rg_frontend *fe);

/**
 * The sightings since the last call, taken from every worker (which start
 * afresh) and merged: { "hits": [ { "rule", "feed", "indicator", "tlp",
 * "action", "trigger" ("qname" or "response-ip"), "count", and with
 * WITH_CLIENTS "clients": [ "192.0.2.0/24", "2001:db8::/56", ... ] (at
 * most 16) } ], "overflow": N }, N counting the hits that found no room
 * (each worker keeps up to 4096 rules an interval).  Called from the main
 * loop once per report interval; NULL on allocation failure.
 */
json_t *rg_frontend_sightings(struct rg_frontend *fe, int with_clients);

/** Stop the workers and wait for them; closes the handle on the loop. */
void rg_frontend_stop(struct rg_frontend *fe);

/** Free a stopped (or never started) frontend; NULL is allowed. */
void rg_frontend_free(struct rg_frontend *fe);

/**
 * For the fuzz targets: a frontend of one worker with no socket, no
 * running loop and no upstream, that reads the blocklist of BL as reader
 * 0, lets every client in, has the allowlist "allowed.example", the
 * sinkholes 192.0.2.123 and 2001:db8::123 and a small stale cache.  Free
 * it with rg_frontend_free().
 */
struct rg_frontend *rg_frontend_fuzz_new(struct rg_bl_domain *bl);

/**
 * Handle the client message PKT (LEN bytes) from FROM (NULL: 192.0.2.1),
 * over TCP when TCP is set.  The reply, if any, is copied to OUT (at most
 * CAP bytes) and its length returned (0: none); *FORWARDED is 1 when the
 * query was to go upstream: it then waits for rg_frontend_fuzz_reply().
 */
size_t rg_frontend_fuzz_query(struct rg_frontend *fe, const uint8_t *pkt,
    size_t len, const struct sockaddr *from, int tcp, uint8_t *out,
    size_t cap, int *forwarded);

/**
 * Judge the upstream reply PKT (LEN bytes; NULL: no upstream answered)
 * to the query waiting, as the forwarder would hand it over (FAILED as
 * for rg_fwd_done_cb).  The reply to the client is copied to OUT (at most
 * CAP bytes) and its length returned; 0 when none is sent or no query
 * waits.
 */
size_t rg_frontend_fuzz_reply(struct rg_frontend *fe, const uint8_t *pkt,
    size_t len, int failed, uint8_t *out, size_t cap);

#endif
