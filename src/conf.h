/*
 * conf.h -- the configuration: one libconfig file, validated completely
 * before anything uses it.
 *
 * rg_conf_load() parses and checks the whole file and reports every error
 * it finds, each as "FILE:LINE: error: message" naming the setting, through
 * a callback (so that the daemon logs them at start and "resguardctl reload"
 * shows them to the caller).  It returns a configuration only when there was
 * no error at all; a configuration is immutable once loaded.
 *
 * Error policy: fatal at start-up; on reload, reported and the running
 * configuration stays.  Never partial.
 */
#ifndef RG_CONF_H
#define RG_CONF_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

enum rg_transport {
	RG_TRANSPORT_UDP,
	RG_TRANSPORT_TCP,
	RG_TRANSPORT_TLS,
	RG_TRANSPORT_RECURSIVE,	/**< embedded libunbound (last-resort pools) */
};
extern const char *const rg_transport_str[];

enum rg_pool_role {
	RG_ROLE_PRIMARY,
	RG_ROLE_FALLBACK,
	RG_ROLE_LAST_RESORT,
};
extern const char *const rg_role_str[];

enum rg_failback {
	RG_FAILBACK_AUTO,
	RG_FAILBACK_MANUAL,
};

/** One upstream resolver. */
struct rg_conf_upstream {
	char *name;			/**< unique over the whole file */
	char *address;			/**< numeric IPv4 or IPv6 as written */
	uint16_t port;			/**< default 53, or 853 for tls */
	enum rg_transport transport;	/**< default udp */
	char *tls_name;			/**< tls: name checked on the certificate */
	char *ca_file;			/**< tls: CA bundle; NULL = system store */
	char *spki_pin;			/**< tls: base64 SHA-256 of the SPKI, or NULL */
	struct sockaddr_storage addr;	/**< address and port, ready to use */
	socklen_t addrlen;
	int line;			/**< line of its definition */
};

/** Optional quality checks of a pool; a failing check makes "degraded". */
struct rg_conf_checks {
	char *expect_name;		/**< name whose answer is checked, or NULL */
	uint16_t expect_type;		/**< its type (default A) */
	char **expect_answers;		/**< accepted rdata, presentation form */
	size_t n_expect_answers;
	char *nxdomain_zone;		/**< random label below must be NXDOMAIN */
	char *dnssec_signed;		/**< must come back with AD set */
	char *dnssec_bogus;		/**< must come back SERVFAIL */
	uint32_t max_latency_ms;	/**< 0 = no limit */
};

/** A pool: a set of upstreams with one role. */
struct rg_conf_pool {
	char *name;
	enum rg_pool_role role;
	int recursive;			/**< type = "recursive" (libunbound) */
	struct rg_conf_upstream *upstreams;
	size_t n_upstreams;		/**< recursive pools get one, "recursion" */
	struct rg_conf_checks checks;
	char *root_hints;		/**< recursive: root hints file, or NULL */
	char **root_addrs;		/**< recursive: "addr@port" stubs for "." */
	size_t n_root_addrs;
	char *trust_anchor_file;	/**< recursive: NULL = no DNSSEC */
	int line;
};

/** A feed (accepted and checked here; used by the feeds part). */
struct rg_conf_feed {
	char *name;
	char *format;
	char *source;			/**< file://, https://, http://,
					     taxii+https://, axfr://, push: */
	uint32_t refresh_s;
	char *action;			/**< NULL: policy.action */
	int subdomains;			/**< stix2, misp: a domain covers the
					     names below it */
	int min_confidence;		/**< stix2: 0..100 */
	uint64_t default_lifetime_s;	/**< stix2: when valid_until is absent */
	uint32_t timeout_ms;		/**< one fetch (default 30000) */
	uint64_t max_bytes;		/**< largest document (64 MiB) */
	char *ca_file;			/**< https */
	char *client_cert_file;
	char *client_key_file;
	char *spki_pin;
	char *token_file;		/**< bearer token, read at each fetch */
	char *username;			/**< basic auth */
	char *password_file;
	char *proxy;			/**< URL; "": none; NULL: environment */
	char *hub_key_file;		/**< Ed25519 public key: signed feed */
	char *signature;		/**< URL of the signature; NULL: .sig */
	char *zone;			/**< rpz: the zone (axfr: from source) */
	char *tsig_name;		/**< axfr: TSIG key, or NULL */
	char *tsig_algorithm;		/**< default "hmac-sha256" */
	char *tsig_secret;		/**< base64 */
	uint64_t max_rules;		/**< more rules: the version is rejected */
	uint32_t stale_after_s;		/**< no good document for this long:
					     a warning; 0: never */
	uint32_t max_drop_percent;	/**< a new version with this much fewer
					     rules is held (default 50; 100:
					     never) */
	int line;
};

/** A reporter (accepted and checked here; used by the report part). */
struct rg_conf_report {
	char *name;
	char *type;			/**< "http", "syslog", "matrix" */
	char *url;
	uint32_t interval_s;		/**< status and sightings (default 60) */
	char *ca_file;
	char *client_cert_file;
	char *client_key_file;
	char *token_file;		/**< http: bearer; matrix: access token */
	char *proxy;			/**< URL; "": none; NULL: environment */
	char *room;			/**< matrix */
	char *socket;			/**< syslog: path or "udp:addr@port" */
	uint32_t timeout_ms;		/**< one delivery (default 10000) */
	uint64_t queue_limit_bytes;	/**< spool queue limit (64 MiB) */
	int sightings;			/**< report sightings (default on) */
	int client_addresses;		/**< with client prefixes (/24, /56) */
	int line;
};

struct rg_conf {
	char *path;			/**< the file it came from */

	/* server */
	char **listen;			/**< "addr@port" */
	size_t n_listen;
	char **access_control;		/**< "prefix/len" */
	size_t n_access_control;
	uint32_t threads;
	int socket_affinity;		/**< guard: workers on CPUs, UDP by CPU */
	uint32_t udp_size;		/**< guard: largest UDP message (1232) */
	uint32_t client_timeout_ms;	/**< guard: a client query's budget */
	uint32_t hedge_max_ms;		/**< guard: hedge delay cap; 0 = no hedging */
	uint32_t tcp_idle_timeout_ms;	/**< guard: idle client TCP closed after */
	uint32_t stale_cache;		/**< guard: answers kept to serve stale; 0 = off */
	char *control_socket;		/**< default /run/resguard/control.sock */
	char *control_group;		/**< may change state besides root; NULL */
	char *state_dir;		/**< default /var/lib/resguard */
	char *user;			/**< NULL = do not drop privileges */
	int seccomp;			/**< install the seccomp filter (default off) */
	char *agent_id;			/**< default: the host name */

	/* http */
	char **http_listen;
	size_t n_http_listen;
	char *http_tls_cert_file;	/**< HTTPS instead of HTTP, or NULL */
	char *http_tls_key_file;
	char *push_token_file;		/**< push endpoint on: bearer token */
	char *push_client_ca_file;	/**< push: client certificate required */

	/* NOTIFY listener for RPZ feeds by transfer */
	char **notify_listen;
	size_t n_notify_listen;

	/* backend: "builtin" is guard mode; the others are sidecar plugins */
	char *backend_type;		/**< "builtin", "unbound", "resolvconf" */
	char *backend_control;		/**< unbound: "addr@port" or a socket path */
	int backend_control_use_cert;	/**< unbound: TLS; -1 (unset): on TCP only */
	char *backend_control_key_file;	/**< unbound: TLS client key */
	char *backend_control_cert_file; /**< unbound: TLS client certificate */
	char *backend_server_cert_file;	/**< unbound: Unbound's certificate */
	char **backend_zones;		/**< unbound: forward zones (default ".") */
	size_t n_backend_zones;
	char *backend_rpz_file;		/**< unbound: RPZ zone file, or NULL */
	char *backend_rpz_zone;		/**< unbound: its name (resguard.rpz.) */
	char *backend_forward_file;	/**< unbound: forward zones written for
					     Unbound to include, or NULL */
	char *backend_path;		/**< resolvconf: default /etc/resolv.conf */
	int backend_force;		/**< resolvconf: also when managed */

	/* pools, in file order; exactly one primary */
	struct rg_conf_pool *pools;
	size_t n_pools;

	/* health */
	uint32_t interval_ms;		/**< probe period of a healthy upstream */
	uint32_t timeout_ms;
	uint32_t fall;
	uint32_t rise;
	uint32_t backoff_max_ms;	/**< cap of the back-off for down upstreams */
	char *probe_name;		/**< default "." */
	uint16_t probe_type;		/**< default SOA */

	/* failover */
	enum rg_failback failback;
	uint32_t failback_hold_s;

	/* journal */
	uint32_t journal_ring;		/**< events kept in memory (default 1000) */

	/* feeds, policy, report: checked, kept for the parts that use them */
	struct rg_conf_feed *feeds;
	size_t n_feeds;
	char *policy_action;		/**< default "nxdomain" */
	char **allowlist;
	size_t n_allowlist;
	uint8_t sinkhole_a[4];		/**< policy.sinkhole-a (0.0.0.0) */
	uint8_t sinkhole_aaaa[16];	/**< policy.sinkhole-aaaa (::) */
	struct rg_conf_report *reports;
	size_t n_reports;
};

/** Receives one complete error line, "FILE:LINE: error: message". */
typedef void rg_conf_error_cb(void *arg, const char *line);

/**
 * Load and check PATH.  On success stores a new configuration in *OUT and
 * returns 0.  Otherwise reports every error through CB and returns the
 * negative count of errors (-1 at least); *OUT is left untouched.
 */
int rg_conf_load(const char *path, struct rg_conf **out,
    rg_conf_error_cb *cb, void *arg);

/** Free a configuration (NULL is allowed). */
void rg_conf_free(struct rg_conf *conf);

/** The pool named NAME, or NULL. */
const struct rg_conf_pool *rg_conf_pool_find(const struct rg_conf *conf,
    const char *name);

/**
 * Parse "addr@port" (IPv4 or IPv6, port optional, default DEFPORT) into SS.
 * Returns 0 or -EINVAL.
 */
int rg_conf_parse_addr(const char *s, uint16_t defport,
    struct sockaddr_storage *ss, socklen_t *len);

#endif
