/*
 * transport.h -- one DNS exchange with one upstream, over UDP, TCP, DNS over
 * TLS (OpenSSL) or the embedded recursion of a last-resort pool (libunbound).
 *
 * The health part calls rg_net_exchange() for every probe; the scenario
 * tests link a fake with the same symbols.  The callback is called exactly
 * once per accepted exchange, never from inside rg_net_exchange(): with the
 * reply that rg_probe_match() accepted, or with the failure (a timeout, a
 * refused connection, a certificate that fails, ...).  Replies that do not
 * match (wrong ID, question or source) are ignored and the wait goes on.
 */
#ifndef RG_TRANSPORT_H
#define RG_TRANSPORT_H

#include <stdint.h>
#include <uv.h>

#include "conf.h"
#include "probe.h"

struct rg_net;

/**
 * Result of one exchange.  ERR is RG_PROBE_OK with the reply in PKT/LEN (the
 * caller then judges it), or a transport failure with PKT NULL.  RTT_US is
 * the time from send to reply.  DETAIL says more about a failure
 * ("connection refused", "certificate has expired", ...), or is NULL.
 */
typedef void rg_exchange_cb(void *arg, enum rg_probe_err err,
    const uint8_t *pkt, size_t len, uint64_t rtt_us, const char *detail);

/** A network context on LOOP: TLS contexts and recursion contexts cache. */
struct rg_net *rg_net_new(uv_loop_t *loop);

/**
 * Cancel every exchange in flight (their callbacks run with
 * RG_PROBE_CANCELLED before this returns) and free the context.
 */
void rg_net_free(struct rg_net *net);

/**
 * Send Q to UP (of POOL) and wait at most TIMEOUT_MS for the reply.  UDP
 * uses a fresh socket on a random source port; a TC reply is retried over
 * TCP within the same time-out; TLS verifies the chain (UP->ca_file or the
 * system store), the name UP->tls_name and the SPKI pin when set.  A
 * recursive pool resolves through libunbound with POOL's root hints, root
 * addresses and trust anchor.  Returns 0 when the exchange started (CB will
 * be called), or a negative errno code (CB will not be called).
 */
int rg_net_exchange(struct rg_net *net, const struct rg_conf_pool *pool,
    const struct rg_conf_upstream *up, const struct rg_probe_query *q,
    uint32_t timeout_ms, rg_exchange_cb *cb, void *arg);

#endif
