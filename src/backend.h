/*
 * backend.h -- making the host's resolver follow the agent (sidecar mode).
 *
 * The backend of the configuration ("unbound", "resolvconf"; "builtin" is
 * guard mode and does nothing here) is a plugin.  The agent tells it what
 * it wants -- the active pool's usable upstreams after every failover
 * decision, the blocklist after every publication -- and the backend
 * applies that in libuv's thread pool, one job at a time, so the event
 * loop never waits on the resolver.  Only a change is applied: calling
 * rg_backend_apply() after every decision costs a comparison.  A job that
 * fails is an event ("backend-failed") and is retried with back-off; the
 * resolver itself is checked every few probe intervals, and when it lost
 * what was applied (it restarted) the backend applies it again.  State for
 * "resguardctl status" comes from rg_backend_json() and
 * rg_backend_warning().
 */
#ifndef RG_BACKEND_H
#define RG_BACKEND_H

#include <jansson.h>
#include <stddef.h>
#include <uv.h>

struct rg_blocklist;
struct rg_bl_domain;
struct rg_conf;
struct rg_failover;
struct rg_journal;

struct rg_backend;

/**
 * The backend of CONF on LOOP, recording events in J.  Loads the plugin
 * (see plugin.h for where it is looked for).  Returns NULL with the reason,
 * naming the plugin file, in ERR.
 */
struct rg_backend *rg_backend_new(uv_loop_t *loop, struct rg_journal *j,
    const struct rg_conf *conf, char *err, size_t len);

/**
 * Take the backend settings of CONF after a reload (CONF may be freed
 * afterwards).  Unchanged settings change nothing; new ones take over once
 * the job in flight is done, and what was applied is applied again through
 * them.  Returns 0, or a negative errno code with the reason in ERR when
 * the new backend cannot be loaded: the old one then stays and a
 * "backend-failed" event says so.
 */
int rg_backend_configure(struct rg_backend *b, const struct rg_conf *conf,
    char *err, size_t len);

/**
 * The failover decision F may have changed: when the mode, the active pool
 * or its usable upstreams differ from what the resolver has, apply them.
 * Nothing is applied while F is still waiting for the primary's verdict.
 */
void rg_backend_apply(struct rg_backend *b, const struct rg_failover *f);

/**
 * DOM published a new blocklist snapshot: install the blocklist as a
 * response policy zone, with the allowlist and the sinkhole addresses of
 * the configuration.  The zone is built in the thread pool from the
 * snapshot current when that work starts (held meanwhile, so DOM must
 * outlive the backend); the resolver gets it only when it differs from
 * the zone installed.  A backend that does not block ignores it.
 */
void rg_backend_blocklist(struct rg_backend *b, struct rg_bl_domain *dom);

/** The "backend" member of the status document (a new reference). */
json_t *rg_backend_json(const struct rg_backend *b);

/**
 * 1 when the backend is failing or the host's resolver does not answer,
 * with one line in SUMMARY; else 0.
 */
int rg_backend_warning(const struct rg_backend *b, char *summary, size_t len);

/**
 * For "resguardd -t": load the plugin of CONF and open it with its
 * settings.  Returns 0, or a negative errno code with the reason in ERR.
 */
int rg_backend_test(const struct rg_conf *conf, char *err, size_t len);

/**
 * Stop: no new job starts; the backend is freed once the job in flight is
 * done (the loop must run on).  NULL is allowed.
 */
void rg_backend_free(struct rg_backend *b);

#endif
