/*
 * blocklist.h -- the blocklist: an immutable, compact snapshot of domain
 * rules, looked up lock-free from every worker.
 *
 * A builder collects rules off the data path (exact names, and wildcards
 * "*.example" that match the subdomains of example, not example itself, as
 * in RPZ), each with its action, the feed it came from and the indicator
 * behind it; rg_bl_build() turns it into a snapshot.  Names are compared
 * case-insensitively in wire form.  Precedence: an exact rule before any
 * wildcard, the longest (most specific) wildcard before shorter ones; of two
 * rules for the same name, the one added first (the earlier feed) wins.
 *
 * Snapshots are published through a domain with one slot per reader thread
 * (quiescent-state based reclamation): a reader uses rg_bl_current() freely
 * between two calls of rg_bl_quiescent(); a retired snapshot is freed by
 * rg_bl_reclaim() once every reader has passed a quiescent point after it
 * was replaced.
 */
#ifndef RG_BLOCKLIST_H
#define RG_BLOCKLIST_H

#include <stddef.h>
#include <stdint.h>

enum rg_action {
	RG_ACTION_NXDOMAIN,
	RG_ACTION_NODATA,
	RG_ACTION_REFUSED,
	RG_ACTION_DROP,
	RG_ACTION_SINKHOLE,
	RG_ACTION_LOG_ONLY,
	RG_ACTION_PASSTHRU,		/**< never blocked (an exception) */
	RG_ACTION_LOCAL,		/**< answered with the rule's local data */
	RG_ACTION_COUNT
};
extern const char *const rg_action_str[];

/** Parse an action name; returns the action or -1. */
int rg_action_parse(const char *s);

struct rg_bl_builder;
struct rg_blocklist;

/** A new, empty builder; NULL on allocation failure. */
struct rg_bl_builder *rg_bl_builder_new(void);
/** Free a builder that was not built. */
void rg_bl_builder_free(struct rg_bl_builder *b);

/**
 * Register a feed by NAME; returns its index (0, 1, ...) for
 * rg_bl_builder_add(), or a negative errno code.  Earlier feeds take
 * precedence over later ones for the same name.
 */
int rg_bl_builder_feed(struct rg_bl_builder *b, const char *name);

/**
 * Add a rule.  NAME is in presentation form ("ads.example",
 * "ads.example.", "*.example"; case does not matter; IDNs as punycode);
 * INDICATOR (may be NULL) is kept for "check", reports and sightings.
 * Returns 0, -EINVAL for a name that is not a valid domain name (nothing
 * added), or -ENOMEM.
 */
int rg_bl_builder_add(struct rg_bl_builder *b, const char *name,
    enum rg_action action, int feed, const char *indicator);

/** What a rule carries besides its name and action (all may be NULL). */
struct rg_bl_meta {
	const char *indicator;		/**< what it came from */
	const char *tlp;		/**< TLP marking: "clear", ..., "red" */
	const char *local;		/**< RG_ACTION_LOCAL: "TYPE RDATA" lines
					     (A, AAAA, CNAME) */
};

/**
 * The next record of local data (META->local, "TYPE RDATA" lines) at *POS,
 * which moves past it: its type (1 A, 28 AAAA, 5 CNAME) in *TYPE and its
 * rdata in wire form in RD (*RDLEN bytes; room for 255), a CNAME target
 * with its root label.  Returns 1, 0 at the end, or -1 for a line that is
 * none of those (*POS still moves past it).
 */
int rg_bl_local_next(const char **pos, uint16_t *type, uint8_t rd[255],
    size_t *rdlen);

/**
 * rg_bl_builder_add() with a marking and local data besides the
 * indicator.  RG_ACTION_LOCAL needs META->local.
 */
int rg_bl_builder_add_meta(struct rg_bl_builder *b, const char *name,
    enum rg_action action, int feed, const struct rg_bl_meta *meta);

/**
 * Add a response-IP rule: PREFIX is "192.0.2.1", "192.0.2.0/24",
 * "2001:db8::/32"; it matches an A or AAAA record of an answer within the
 * prefix.  Of several matching rules the one of the earliest feed wins,
 * then the longest prefix.  Returns 0, -EINVAL or -ENOMEM.
 */
int rg_bl_builder_add_ip(struct rg_bl_builder *b, const char *prefix,
    enum rg_action action, int feed, const struct rg_bl_meta *meta);

/** Rules added so far (duplicates included). */
size_t rg_bl_builder_count(const struct rg_bl_builder *b);

/**
 * Build the snapshot and free the builder (also on failure).  Returns NULL
 * on allocation failure.
 */
struct rg_blocklist *rg_bl_build(struct rg_bl_builder *b);

/** Free a snapshot that was never published (NULL is allowed). */
void rg_bl_free(struct rg_blocklist *bl);

/** What a lookup found. */
struct rg_bl_match {
	enum rg_action action;
	int wildcard;			/**< matched a "*." rule */
	const char *feed;		/**< name of the feed */
	const char *indicator;		/**< or NULL */
	const char *tlp;		/**< or NULL */
	const char *local;		/**< RG_ACTION_LOCAL: its data */
	char rule[258];			/**< the rule, presentation form; an
					     IP rule as "192.0.2.0/24" */
	char indicator_buf[24];		/**< where INDICATOR may point */
};

/**
 * Look up NAME, in uncompressed wire form (as in a question section, any
 * case).  Returns 1 and fills M (when not NULL) when a rule matches, 0 when
 * none does, -EINVAL for a malformed name.  Allocation-free, lock-free.
 */
int rg_bl_lookup(const struct rg_blocklist *bl, const uint8_t *name,
    size_t len, struct rg_bl_match *m);

/** The same for a presentation-form NAME ("check"). */
int rg_bl_lookup_str(const struct rg_blocklist *bl, const char *name,
    struct rg_bl_match *m);

/**
 * Look up an answer's address ADDR (4 bytes for AF_INET, 16 for
 * AF_INET6) among the response-IP rules.  Returns 1 and fills M, or 0.
 */
int rg_bl_lookup_ip(const struct rg_blocklist *bl, int family,
    const uint8_t *addr, struct rg_bl_match *m);

/** Response-IP rules in the snapshot. */
size_t rg_bl_ip_entries(const struct rg_blocklist *bl);

/** One rule of a snapshot, as rg_bl_foreach() shows it. */
struct rg_bl_rule {
	const char *name;		/**< presentation form without the final
					     dot nor the "*." of a wildcard;
					     "." for the root */
	int wildcard;			/**< a "*." rule: the names below NAME */
	enum rg_action action;
	const char *feed;		/**< name of the feed */
	const char *indicator;		/**< or NULL */
	const char *tlp;		/**< or NULL */
	const char *local;		/**< RG_ACTION_LOCAL: its data */
	const char *prefix;		/**< a response-IP rule: its prefix
					     ("192.0.2.0/24"); NAME is NULL */
};

/** Called for each rule; a value other than 0 stops the walk. */
typedef int rg_bl_rule_cb(void *arg, const struct rg_bl_rule *r);

/**
 * Call CB for every distinct rule of BL (NULL: none), names then
 * response-IP rules, in no particular order; the rule and its strings are valid during the call only.
 * Returns what CB returned when it stopped the walk, else 0.
 */
int rg_bl_foreach(const struct rg_blocklist *bl, rg_bl_rule_cb *cb,
    void *arg);

/** Distinct rules in the snapshot. */
size_t rg_bl_entries(const struct rg_blocklist *bl);
/** Rules of feed FEED in the snapshot. */
size_t rg_bl_feed_entries(const struct rg_blocklist *bl, int feed);
/** Bytes the snapshot occupies. */
size_t rg_bl_bytes(const struct rg_blocklist *bl);

/* Publication. */
struct rg_bl_domain;

/** A domain for READERS reader threads, publishing INITIAL (may be NULL). */
struct rg_bl_domain *rg_bl_domain_new(unsigned readers,
    struct rg_blocklist *initial);
/** Free the domain and every snapshot it holds (readers stopped). */
void rg_bl_domain_free(struct rg_bl_domain *d);
/** Writer: publish BL (may be NULL: no blocklist); the old one is retired. */
void rg_bl_publish(struct rg_bl_domain *d, struct rg_blocklist *bl);
/** Writer: free retired snapshots that no reader can still see. */
void rg_bl_reclaim(struct rg_bl_domain *d);
/**
 * Writer: keep every snapshot, the current one included, from being freed
 * until rg_bl_release(), for a thread that is no reader (an export).
 */
void rg_bl_hold(struct rg_bl_domain *d);
/** Writer: end a hold; what was retired meanwhile is reclaimed. */
void rg_bl_release(struct rg_bl_domain *d);
/** Reader: the current snapshot (may be NULL). */
const struct rg_blocklist *rg_bl_current(struct rg_bl_domain *d);
/** Reader READER: no snapshot obtained before this call is used after. */
void rg_bl_quiescent(struct rg_bl_domain *d, unsigned reader);

/**
 * Parse a "domains" list: one name per line, "*." wildcards, "#" comments
 * (whole lines and trailing), blank lines, and hosts-file lines
 * ("0.0.0.0 name [name...]", "127.0.0.1 name", "::1 name"; "localhost"
 * style names of a hosts file are skipped).  Every name is added with
 * ACTION and FEED, the indicator being "line N".  Returns the number of
 * rules added, or a negative errno code; lines that do not parse are
 * counted in *SKIPPED and the first one is described in ERR.
 */
long rg_feed_domains_parse(struct rg_bl_builder *b, int feed,
    enum rg_action action, const char *data, size_t len, size_t *skipped,
    char *err, size_t err_len);

#endif
