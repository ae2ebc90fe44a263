/*
 * feeds.h -- indicator feeds turned into blocklist snapshots.
 *
 * Every feed of the configuration is fetched, parsed and validated; the
 * rules of all feeds are built into one new snapshot off the event loop
 * (libuv's thread pool) and published atomically.  A feed that cannot be
 * fetched or parsed keeps its last good data, so a bad feed never replaces
 * a good one; its state and last error show in "resguardctl feeds".
 * Formats: "domains" built in, the others feed plugins; transports:
 * file://, https://, TAXII 2.1, zone transfer with NOTIFY, and pushes.
 */
#ifndef RG_FEEDS_H
#define RG_FEEDS_H

#include <jansson.h>
#include <uv.h>

#include "blocklist.h"
#include "conf.h"
#include "plugin.h"

struct rg_feeds;
struct rg_journal;

/** Feeds on LOOP, publishing into DOMAIN, recording events in J. */
struct rg_feeds *rg_feeds_new(uv_loop_t *loop, struct rg_journal *j,
    struct rg_bl_domain *domain);

/**
 * Take the feeds of CONF (at start and after every reload): feeds that
 * keep their name, format and source keep their data; then rebuild.
 * CONF must stay valid until the next call.
 */
void rg_feeds_configure(struct rg_feeds *f, const struct rg_conf *conf);

/**
 * Fetch NAME again (NULL: all) and rebuild.  Returns 0, or -ENOENT for an
 * unknown feed.
 */
int rg_feeds_refresh(struct rg_feeds *f, const char *name);

/**
 * Bind the sockets of the NOTIFY listeners, one "addr@port" of LISTEN each
 * (N of them, at most 8 used): a UDP socket then a TCP socket an address,
 * in FDS (2 * N entries), so that a port below 1024 is bound before
 * privileges are dropped.  Returns 0, or a negative errno code with ERR
 * and nothing left open.
 */
int rg_feeds_notify_open(char *const *listen, size_t n, int *fds, char *err,
    size_t err_len);

/**
 * Receive NOTIFY messages for the feeds by zone transfer on the sockets
 * FDS that rg_feeds_notify_open() bound for LISTEN (N addresses); they are
 * F's from then on.  Returns 0, or a negative errno code with ERR.
 */
int rg_feeds_listen_notify(struct rg_feeds *f, char *const *listen,
    size_t n, int *fds, char *err, size_t err_len);

/**
 * A hub pushed DATA (LEN bytes) for feed NAME, with SIG (SIG_LEN bytes,
 * may be NULL) as its detached signature.  Thread-safe: called from the
 * HTTP thread.  Checks the feed, the size and the signature at once, then
 * leaves the document to the next rebuild (started at once).  Returns an
 * HTTP status: 202, 400, 403, 404, 409, 413 or 503, with one line in MSG.
 */
unsigned rg_feeds_push(struct rg_feeds *f, const char *name,
    const char *data, size_t len, const char *sig, size_t sig_len, char *msg,
    size_t msg_len);

/**
 * Apply the version of NAME that was held back (it had more than the
 * feed's max-drop-percent fewer rules).  Returns 0, -ENOENT for an unknown
 * feed, -EALREADY when nothing is held.
 */
int rg_feeds_accept(struct rg_feeds *f, const char *name);

/**
 * Called on the event loop with the document of a feed of format
 * "directive" when a new one was verified, and once with the kept one
 * after a start.
 */
typedef void rg_feeds_directive_cb(void *arg, const char *feed,
    const char *data, size_t len);

/** Call CB(ARG, ...) for every directive taken. */
void rg_feeds_on_directive(struct rg_feeds *f, rg_feeds_directive_cb *cb,
    void *arg);

/** Called on the event loop after every snapshot published. */
typedef void rg_feeds_publish_cb(void *arg, const struct rg_blocklist *bl);

/** Call CB(ARG, snapshot) after every publication (a sidecar backend). */
void rg_feeds_on_publish(struct rg_feeds *f, rg_feeds_publish_cb *cb,
    void *arg);

/** The "feeds" array of the status document. */
json_t *rg_feeds_json(const struct rg_feeds *f);

/**
 * 1 when a feed is failing or has never loaded (a warning for "status"),
 * with its name and error in SUMMARY.
 */
int rg_feeds_warning(const struct rg_feeds *f, char *summary, size_t len);

/**
 * The built-in "domains" format as a feed format's parse(): the names of
 * a list (as rg_feed_domains_parse() reads them; a name in Unicode as its
 * punycode) handed to EMIT as rules with the feed's policy, the indicator
 * "line N"; lines that do not parse are counted in ST->skipped and the
 * first described in ST->first_skip.  Returns the rules handed over, or a
 * negative errno code with one line in MSG.
 */
long rg_feed_domains_emit(const struct rg_feed_settings *s, const char *data,
    size_t len, rg_feed_emit_cb *emit, void *arg, struct rg_feed_stats *st,
    char *msg, size_t msglen);

/*
 * The rules of one document, parsed once: kept from the parse that checks
 * a new document to the build of the snapshot.
 */
struct rg_feed_rules;

/**
 * Parse DATA (LEN bytes) with feed format FORMAT (NULL: the built-in
 * "domains") and settings S into *RULES, as a rebuild checks a new
 * document: rules that take the feed's policy get POLICY; a format
 * plugin's rule that would block too much (the root, a public suffix, an
 * address prefix shorter than /8 or /16) is refused and counted in
 * ST->skipped; at most MAX rules are kept, all are counted.  Returns the
 * usable rules counted, or a negative errno code with one line in ERR
 * (*RULES is NULL then).
 */
long rg_feed_rules_parse(const struct rg_feed_ops *format,
    const struct rg_feed_settings *s, enum rg_action policy, uint64_t max,
    const char *data, size_t len, struct rg_feed_rules **rules,
    struct rg_feed_stats *st, char *err, size_t err_len);

/**
 * Put RULES into B as feed FEED, freeing them as they go (whatever the
 * outcome); rules B refuses are counted in ST->skipped.  Returns 0 or
 * -ENOMEM.
 */
int rg_feed_rules_build(struct rg_feed_rules *rules, struct rg_bl_builder *b,
    int feed, struct rg_feed_stats *st);

/** Free RULES that were not built (NULL is allowed). */
void rg_feed_rules_free(struct rg_feed_rules *rules);

/** Stop: wait for a rebuild in flight, free everything but the domain. */
void rg_feeds_free(struct rg_feeds *f);

#endif
