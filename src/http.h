/*
 * http.h -- the HTTP listener: /metrics, /status, a page for a person and
 * the push endpoint for hubs.
 *
 * libmicrohttpd serves from its own thread; what it serves is a snapshot
 * the event loop hands over with rg_http_update() (the status document,
 * the last events), so the HTTP thread never touches the agent's state.
 * Loopback by default (http.listen); HTTPS when a certificate and key are
 * given.  With a push token, POST /push/feeds/NAME hands a document to a
 * callback (bearer token, optionally a client certificate as well).
 */
#ifndef RG_HTTP_H
#define RG_HTTP_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct rg_http;

/** Default and upper bound of a pushed document. */
#define RG_HTTP_PUSH_MAX_BYTES	(64 * 1024 * 1024)

/**
 * A document pushed to feed FEED: LEN bytes at BODY (followed by a NUL
 * that is not counted), SIG the X-Resguard-Signature header as sent
 * (base64, SIG_LEN bytes, NUL-terminated) or NULL.  Returns an HTTP status
 * (202 accepted, 400, 403, 404, 409, 413, 503) and one line in MSG.
 * Called on an HTTP thread, one per listen address, so possibly from
 * several threads at once; BODY is valid during the call only.
 */
typedef unsigned rg_http_push_cb(void *arg, const char *feed,
    const char *body, size_t len, const char *sig, size_t sig_len,
    char *msg, size_t msg_len);

/** How to listen.  Zero or NULL fields take the defaults. */
struct rg_http_opts {
	char *const *listen;		/**< "addr@port" each */
	size_t n_listen;
	const char *tls_cert_file;	/**< PEM chain: HTTPS, or NULL: HTTP */
	const char *tls_key_file;	/**< PEM key, with tls_cert_file */
	const char *push_token;		/**< push endpoint on: bearer token */
	const char *push_token_file;	/**< or read it from this file */
	const char *push_client_ca_file; /**< push: client certificate CA */
	uint64_t push_max_bytes;	/**< largest document (64 MiB) */
	rg_http_push_cb *push_cb;	/**< required with a push token */
	void *push_arg;
	unsigned timeout_s;		/**< idle connection cut after (10) */
	unsigned push_deadline_s;	/**< a whole push within (300) */
};

/**
 * Listen as O says.  Returns NULL with a message in ERR when a file
 * cannot be read or used, or an address cannot be bound.  The push
 * endpoint is on when O has a push token (or token file).
 */
struct rg_http *rg_http_start_opts(const struct rg_http_opts *o, char *err,
    size_t err_len);

/** Plain HTTP on every "addr@port" of LISTEN, no push endpoint. */
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
