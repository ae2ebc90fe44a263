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
 *
 * Feed formats.  parse() turns one whole document (a STIX bundle, a MISP
 * event, an RPZ zone, a list) into rules, handed one at a time to a
 * callback; it keeps no state between calls and may run on any thread,
 * several at once.  A document that cannot be read at all is an error; an
 * entry that cannot be used is skipped, counted and, the first time,
 * described, and the rest of the document is used.
 *
 * Reporters.  The agent opens one instance per reporter of the
 * configuration and calls deliver() from one worker thread at a time; it
 * may block up to the settings' timeout.  A batch is acknowledged in order
 * from its start: deliver() says how many reports the receiver has taken.
 * A reporter says which kinds of report it sends (kinds); the agent
 * spools no other kind for it.
 */
#ifndef RG_PLUGIN_H
#define RG_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#define RG_PLUGIN_ABI 7

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
	/* unbound */
	const char *forward_file;	/**< forward zones written for Unbound
					     to include, or NULL */
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

/**
 * The whole blocklist as a response policy zone: a complete master file
 * for the settings' rpz_zone ($ORIGIN, SOA with SERIAL, NS, then the
 * rules: names and wildcards, response-IP triggers, local data, and the
 * allowlist as rpz-passthru.), the same text "resguardctl feeds export
 * --rpz" prints.
 */
struct rg_backend_rules {
	const char *zone;		/**< NUL-terminated master file */
	size_t len;			/**< its length */
	size_t n_rules;			/**< triggers in it */
	uint32_t serial;		/**< its SOA serial */
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

/* ---- feed formats ---- */

/** What a rule of a feed does when it matches. */
enum rg_feed_action {
	RG_FEED_POLICY,			/**< the feed's configured action */
	RG_FEED_NXDOMAIN,		/**< RPZ "CNAME ." */
	RG_FEED_NODATA,			/**< RPZ "CNAME *." */
	RG_FEED_DROP,			/**< RPZ "rpz-drop." */
	RG_FEED_PASSTHRU,		/**< never blocked: RPZ "rpz-passthru.",
					     AdBlock "@@" */
	RG_FEED_LOCAL,			/**< answer with local data (RPZ) */
	RG_FEED_ACTION_COUNT
};

/** What a rule matches. */
enum rg_feed_trigger {
	RG_FEED_QNAME,			/**< the query name */
	RG_FEED_IP,			/**< an address in the answer (rpz-ip,
					     STIX and MISP addresses) */
};

/** One rule, as a feed format hands it over. */
struct rg_feed_rule {
	enum rg_feed_trigger trigger;
	/**
	 * RG_FEED_QNAME: presentation form, final dot optional, "*.name"
	 * for the names below NAME only (as in RPZ).  A feed that blocks a
	 * name and its subdomains emits two rules, NAME and "*.NAME".
	 */
	const char *name;
	/** RG_FEED_IP: "192.0.2.1", "192.0.2.0/24", "2001:db8::/32". */
	const char *prefix;
	enum rg_feed_action action;
	/**
	 * RG_FEED_LOCAL: the records to answer with, one per line, each
	 * "TYPE RDATA" in presentation form with TYPE one of A, AAAA and
	 * CNAME ("A 192.0.2.1\nA 192.0.2.2", "CNAME walled.example.").
	 */
	const char *local;
	/** What it came from: a STIX id, a MISP attribute uuid, "line 12". */
	const char *indicator;
	/** TLP marking: "clear", "green", "amber", "amber+strict", "red"
	 *  (TLP 1.0 "white" is given as "clear"), or NULL. */
	const char *tlp;
};

/** A feed's settings, as far as a format needs them. */
struct rg_feed_settings {
	const char *name;		/**< the feed */
	const char *format;		/**< "stix2", "misp", "rpz", "adblock" */
	int subdomains;			/**< a domain indicator also covers the
					     names below it (stix2, misp) */
	int min_confidence;		/**< 0..100; lower STIX confidence is
					     skipped */
	uint64_t default_lifetime_s;	/**< STIX: valid_until when absent is
					     valid_from + this; 0 = none */
	int64_t now;			/**< seconds since the epoch, for
					     validity */
	const char *origin;		/**< rpz: the zone's name, or NULL to
					     take it from its SOA */
};

/** What parse() found besides the rules. */
struct rg_feed_stats {
	uint64_t rules;			/**< emitted */
	uint64_t skipped;		/**< entries that could not be used */
	uint64_t unsupported;		/**< patterns or records of a kind not
					     supported (STIX NOT, MATCHES, ...) */
	uint64_t revoked;		/**< revoked, deleted or not to_ids */
	uint64_t expired;		/**< outside their validity */
	uint64_t low_confidence;	/**< below min_confidence */
	char first_skip[256];		/**< the first entry skipped, and why */
	/**
	 * The earliest time after S->now (seconds since the epoch) when an
	 * entry's validity begins or ends, so that the same document would
	 * give other rules: the agent parses it again then.  0: never.
	 */
	int64_t next_change;
};

/** Takes one rule; returns 0, or a negative errno code to stop parse(). */
typedef int rg_feed_emit_cb(void *arg, const struct rg_feed_rule *r);

struct rg_feed_ops {
	/**
	 * Parse DATA (LEN bytes, not NUL-terminated) with settings S,
	 * handing every rule to EMIT(ARG, rule); the strings of a rule are
	 * valid during the call only.  Counts go to ST (zeroed by the
	 * caller).  Returns the number of rules emitted, or a negative
	 * errno code with one line in MSG: -EINVAL for a document that
	 * cannot be read, what EMIT returned when it stopped the parse.
	 */
	long (*parse)(const struct rg_feed_settings *s, const char *data,
	    size_t len, rg_feed_emit_cb *emit, void *arg,
	    struct rg_feed_stats *st, char *msg, size_t msglen);
};

/* ---- reporters ---- */

/** A reporter's settings: one entry of the "report" list. */
struct rg_report_settings {
	const char *name;		/**< the reporter */
	const char *type;		/**< "http", "syslog", "matrix" */
	const char *url;		/**< http: where to POST; matrix: the
					     homeserver's base URL */
	const char *ca_file;		/**< https: CA bundle, or NULL */
	const char *client_cert_file;	/**< https: client certificate */
	const char *client_key_file;
	const char *token;		/**< http: bearer token; matrix: access
					     token; or NULL */
	const char *room;		/**< matrix: room id ("!abc:hs.example") */
	const char *socket;		/**< syslog: a UNIX datagram socket path
					     ("/dev/log" when NULL) or
					     "udp:addr@port" */
	const char *agent_id;		/**< this agent */
	const char *hostname;
	unsigned timeout_ms;		/**< one delivery attempt */
	const char *proxy;		/**< http(s): proxy URL; "": none;
					     NULL: the environment's */
};

/* The kinds of report a reporter sends (rg_report_ops.kinds). */
#define RG_REPORT_TAKES_EVENT		0x1
#define RG_REPORT_TAKES_STATUS		0x2
#define RG_REPORT_TAKES_SIGHTING	0x4
#define RG_REPORT_TAKES_ALL		0x7

struct rg_report_ops {
	/** RG_REPORT_TAKES_* of what it sends; nothing else is spooled. */
	unsigned kinds;
	/** Make an instance (no I/O that can block). */
	int (*open)(const struct rg_report_settings *s, void **state,
	    char *msg, size_t len);
	void (*close)(void *state);
	/**
	 * Deliver N reports, oldest first.  DOCS[i] is one report, a JSON
	 * object of LENS[i] bytes with at least "id" (a UUID), "kind"
	 * ("event", "status", "sighting"; one of KINDS, but a spool written
	 * by an older agent may hold others), "time" (RFC 3339) and "agent"
	 * ({ "id", "host" }).  Returns how many, from the first, the
	 * receiver acknowledged (0..N), or a negative errno code with one
	 * line in MSG when none was.
	 */
	long (*deliver)(void *state, const char *const *docs,
	    const size_t *lens, size_t n, char *msg, size_t len);
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
	/** Kind RG_PLUGIN_FEED: its hooks. */
	const struct rg_feed_ops *feed;
	/** Kind RG_PLUGIN_REPORT: its hooks. */
	const struct rg_report_ops *report;
};

#endif
