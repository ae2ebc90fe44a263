/*
 * http.h -- the HTTP listener: /metrics, /status and a page for a person.
 *
 * libmicrohttpd serves from its own thread; what it serves is a snapshot
 * the event loop hands over with rg_http_update() (the status document,
 * the last events), so the HTTP thread never touches the agent's state.
 * Read-only; loopback by default (http.listen).
 */
#ifndef RG_HTTP_H
#define RG_HTTP_H

#include <jansson.h>
#include <stddef.h>

struct rg_http;

/**
 * Listen on every "addr@port" of LISTEN.  Returns NULL with a message in
 * ERR when an address cannot be bound.
 */
struct rg_http *rg_http_start(char *const *listen, size_t n, char *err,
    size_t err_len);

/**
 * Hand over a new snapshot: STATUS (the status document) and EVENTS (the
 * last events, oldest first).  Also samples each upstream's latency for
 * the page's one-hour plot.  Called from the event loop.
 */
void rg_http_update(struct rg_http *h, const json_t *status,
    const json_t *events);

/** Stop listening and free (NULL is allowed). */
void rg_http_stop(struct rg_http *h);

/**
 * The page for a person, from a snapshot (exposed for tests).  HISTORY is
 * the latency samples: { "upstream": [[unix_seconds, ms or null], ...] }.
 */
char *rg_http_page(const json_t *status, const json_t *events,
    const json_t *history);

#endif
