/*
 * plugin.h -- the plugin ABI.
 *
 * A plugin is a shared object exporting one const descriptor named
 * "rg_plugin": the ABI version it was built for, its name and kind, and its
 * hooks.  NULL hooks mean "not used".  The agent refuses a plugin whose
 * ABI version differs from RG_PLUGIN_ABI.  Three kinds: feed formats,
 * backends (apply failover and the blocklist to a resolver), reporters.
 *
 * A plugin calls nothing in the agent: everything it needs comes in as
 * arguments, and what it has to say goes back in return values and message
 * buffers.  So the same object loads into resguardd and into test programs.
 *
 * Backends.  The agent opens one instance per configuration and calls its
 * other hooks from one worker thread at a time (never two at once for one
 * instance), so they may block: connect, write files, wait for answers.
 * Every hook that can fail returns 0 or a negative errno code and, on
 * failure, one line in MSG saying what went wrong and where; on success
 * MSG may say what was done.
 */
#ifndef RG_PLUGIN_H
#define RG_PLUGIN_H

#include <stddef.h>

#define RG_PLUGIN_ABI 1

enum rg_plugin_kind {
	RG_PLUGIN_FEED,
	RG_PLUGIN_BACKEND,
	RG_PLUGIN_REPORT,
};

struct rg_plugin_ctx;		/* opaque: the agent's side */

/** A backend's settings: the "backend" group of the configuration. */
struct rg_backend_settings {
	const char *type;		/**< "unbound", "resolvconf", ... */
	/* unbound */
	const char *control;		/**< "addr@port" or a UNIX socket path */
	int control_use_cert;		/**< TLS: 1, 0, -1 = on TCP only */
	const char *control_key_file;
	const char *control_cert_file;
	const char *server_cert_file;
	const char *const *zones;	/**< forward zones, fully qualified */
	size_t n_zones;
	const char *rpz_file;		/**< RPZ zone file written, or NULL */
	const char *rpz_zone;		/**< its zone name, fully qualified */
	/* resolvconf */
	const char *path;		/**< the resolv.conf file */
	int force;			/**< also when managed by another program */
};

/** One upstream the resolver should send its queries to. */
struct rg_backend_server {
	const char *name;		/**< the upstream's name */
	const char *address;		/**< numeric IPv4 or IPv6 */
	unsigned port;
	int tls;			/**< DNS over TLS */
	int tcp;			/**< transport "tcp" (plain DNS) */
	const char *tls_name;		/**< tls: name on its certificate */
};

/** Where the resolver should send its queries: the failover decision. */
struct rg_backend_target {
	const char *mode;		/**< "normal", "failover", "last-resort" */
	const char *pool;		/**< the active pool */
	int recursive;			/**< resolve from the root, no forwarders */
	const struct rg_backend_server *servers; /**< the pool's usable upstreams */
	size_t n_servers;
};

/** What a blocklist rule does (RPZ policies). */
enum rg_backend_action {
	RG_BACKEND_NXDOMAIN,
	RG_BACKEND_NODATA,
	RG_BACKEND_DROP,
	RG_BACKEND_SINKHOLE,		/**< answer with the sinkhole addresses */
	RG_BACKEND_PASSTHRU,		/**< never blocked (the allowlist) */
	RG_BACKEND_ACTION_COUNT
};

/** One rule of the blocklist. */
struct rg_backend_rule {
	const char *name;		/**< presentation form, no final dot */
	int wildcard;			/**< "*.name": the names below NAME */
	enum rg_backend_action action;
	const char *feed;		/**< the feed it came from, or NULL */
};

/** The whole blocklist, flattened, in no particular order. */
struct rg_backend_rules {
	const struct rg_backend_rule *rules;
	size_t n_rules;
	const char *sinkhole_a;		/**< IPv4 address for RG_BACKEND_SINKHOLE */
	const char *sinkhole_aaaa;	/**< IPv6 address for RG_BACKEND_SINKHOLE */
};

/** check(): the resolver is fine but no longer has the target applied. */
#define RG_BACKEND_DRIFT 1

/** The hooks of a backend; STATE is what open() made. */
struct rg_backend_ops {
	/**
	 * Make an instance for settings S (copied as needed).  Called on
	 * the agent's event loop: no I/O that can block.
	 */
	int (*open)(const struct rg_backend_settings *s, void **state,
	    char *msg, size_t len);
	/** Free the instance. */
	void (*close)(void *state);
	/** Make the resolver send its queries as T says; confirm it. */
	int (*apply)(void *state, const struct rg_backend_target *t,
	    char *msg, size_t len);
	/**
	 * Install the blocklist R; called only when the settings have an
	 * rpz_file.  NULL: the backend does not block.
	 */
	int (*blocklist)(void *state, const struct rg_backend_rules *r,
	    char *msg, size_t len);
	/**
	 * Check that the resolver is alive, and that it still has APPLIED
	 * (NULL: nothing applied yet).  Returns 0, RG_BACKEND_DRIFT, or a
	 * negative errno code when the resolver cannot be reached.  NULL:
	 * nothing to check.
	 */
	int (*check)(void *state, const struct rg_backend_target *applied,
	    char *msg, size_t len);
};

struct rg_plugin {
	unsigned abi;			/**< RG_PLUGIN_ABI */
	const char *name;		/**< "unbound", "stix2", "http", ... */
	enum rg_plugin_kind kind;
	/** Called once after dlopen; returns 0 or a negative errno code. */
	int (*load)(struct rg_plugin_ctx *ctx);
	/** Called once before dlclose. */
	void (*unload)(struct rg_plugin_ctx *ctx);
	/**
	 * Check the plugin's own configuration block (a libconfig setting,
	 * passed as void * to keep libconfig out of this header); report
	 * errors through the context.  Returns the count of errors.
	 */
	int (*check)(struct rg_plugin_ctx *ctx, const void *setting);
	/** Kind RG_PLUGIN_BACKEND: its hooks. */
	const struct rg_backend_ops *backend;
};

#endif
