/*
 * export.c -- the merged blocklist as a Response Policy Zone in master file
 * form.
 *
 * One walk over the snapshot writes the rules into a growing buffer; the
 * header, which counts them, is written last and put in front.  Owners are
 * relative to the zone ($ORIGIN): "bad.example", "*.bad.example",
 * "24.0.2.0.192.rpz-ip", "128.1.zz.db8.2001.rpz-ip".  In a name, letters,
 * digits, '-' and '_' stay as they are and every other byte is written as
 * a \DDD escape, so that the owner reads back as the same name whatever a
 * feed put in it, and the text stays ASCII.  The allowlist wins as it does
 * in guard mode: each allowlisted name gets rpz-passthru. rules for itself
 * and the names below it, and the rules at or below it are left out (an
 * exact rule there would take precedence over the passthru wildcard).
 * Left out with a comment: names that do not fit under the zone (255
 * octets), names whose last label would make them another kind of
 * trigger (rpz-ip, rpz-nsip, rpz-nsdname, rpz-client-ip), and local data
 * that cannot be said in a zone.  Log-only rules are left out and only
 * counted (a feed in log-only mode may hold millions), but where guard
 * mode lets one win over a wider rule that blocks (an exact name below a
 * wildcard, a prefix inside a wider one), it is written as rpz-passthru.
 * with a comment, so that the zone answers what guard mode answers.
 *
 * Response-IP rules are gathered first and written sorted.  In guard mode
 * the earliest feed wins before the longest prefix; in a policy zone the
 * longest prefix wins.  So a rule inside a shorter prefix of an earlier
 * feed (of the same family) is left out and counted: then the longest
 * trigger left for any address is the one guard mode would take.  (Guard
 * mode also matches IPv4 answers against an IPv6 prefix that holds
 * ::ffff:0:0/96; a zone cannot say so, and such a rule is for IPv6
 * answers only there.)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <ldns/ldns.h>

#include "blocklist.h"
#include "conf.h"
#include "export.h"

#define EXP_TTL		60
#define EXP_WIRE_MAX	255		/* a name in wire form */
/* A name as text: every byte escaped, "*." and a final dot. */
#define EXP_TEXT_MAX	(4 * EXP_WIRE_MAX + 8)

struct buf {
	char *p;
	size_t len, cap;
	int oom;
};

/* An allowlisted name. */
struct allow {
	uint8_t wire[EXP_WIRE_MAX];	/* lowercased, root label included */
	size_t wl;
	char *raw;			/* labels joined by dots, no final dot
					   ("" the root), as the snapshot
					   names rules; NULL when a label holds
					   a dot: no rule can be at or below */
};

/* A response-IP rule, waiting to be written. */
struct ipr {
	uint8_t addr[16];		/* IPv4 mapped into IPv6 */
	unsigned len;			/* of ADDR: 96 + the IPv4 length */
	size_t rank;			/* of its feed: lower wins */
	enum rg_action action;
	char *local;			/* a copy, or NULL */
	char prefix[INET6_ADDRSTRLEN + 8];
};

struct exp {
	struct buf body;
	struct rg_export_stats st;
	const struct rg_blocklist *bl;
	const struct rg_conf *conf;
	size_t zone_wl;
	struct ipr *ips;
	size_t n_ips, cap_ips;
	struct allow *allow;
	size_t n_allow;
	char sink_a[INET_ADDRSTRLEN];
	char sink_aaaa[INET6_ADDRSTRLEN];
};

static int ip_collect(struct exp *x, const struct rg_bl_rule *r);

/* The buffer. */

static int
buf_grow(struct buf *b, size_t n)
{
	size_t cap;
	char *p;

	if (b->oom)
		return -ENOMEM;
	if (b->len + n + 1 <= b->cap)
		return 0;
	cap = b->cap > 0 ? b->cap : 64 * 1024;
	while (cap < b->len + n + 1) {
		if (cap > SIZE_MAX / 2) {
			b->oom = 1;
			return -ENOMEM;
		}
		cap *= 2;
	}
	if ((p = realloc(b->p, cap)) == NULL) {
		b->oom = 1;
		return -ENOMEM;
	}
	b->p = p;
	b->cap = cap;
	return 0;
}

static void
buf_put(struct buf *b, const char *s, size_t n)
{
	if (buf_grow(b, n) < 0)
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
buf_str(struct buf *b, const char *s)
{
	buf_put(b, s, strlen(s));
}

static void buf_fmt(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
buf_fmt(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || buf_grow(b, (size_t)n) < 0)
		return;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

/* Names. */

/* Byte C of a label into OUT, as it is or as \DDD; returns the length. */
static size_t
label_byte(char *out, unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '_') {
		out[0] = (char)c;
		return 1;
	}
	out[0] = '\\';
	out[1] = (char)('0' + c / 100);
	out[2] = (char)('0' + c / 10 % 10);
	out[3] = (char)('0' + c % 10);
	return 4;
}

/* NAME as the snapshot has it (no escapes, no final dot, "" the root) as a
 * relative owner, "*."-prefixed when WILDCARD; returns the length. */
static size_t
owner_text(char out[EXP_TEXT_MAX], const char *name, int wildcard)
{
	size_t n = 0;

	if (wildcard) {
		out[n++] = '*';
		if (name[0] != '\0')
			out[n++] = '.';
	}
	for (; *name != '\0'; name++) {
		if (*name == '.')
			out[n++] = '.';
		else
			n += label_byte(out + n, (unsigned char)*name);
	}
	out[n] = '\0';
	return n;
}

/* Wire name W (WL bytes, root label included) as text: relative without
 * its final dot, or ABSOLUTE with it; "*."-prefixed when WILDCARD. */
static size_t
wire_text(char out[EXP_TEXT_MAX], const uint8_t *w, size_t wl, int wildcard,
    int absolute)
{
	size_t n = 0, i, j;

	if (wildcard) {
		out[n++] = '*';
		if (wl > 1)
			out[n++] = '.';
	}
	for (i = 0; i < wl && w[i] != 0; i += (size_t)w[i] + 1) {
		if (i > 0)
			out[n++] = '.';
		for (j = 1; j <= w[i] && i + j < wl; j++)
			n += label_byte(out + n, w[i + j]);
	}
	if (absolute)
		out[n++] = '.';
	out[n] = '\0';
	return n;
}

/* NAME (no final dot, "" the root) is SUFFIX or below it. */
static int
name_under(const char *name, const char *suffix)
{
	size_t n = strlen(name), m = strlen(suffix);

	if (m == 0)
		return 1;
	if (m > n || memcmp(name + n - m, suffix, m) != 0)
		return 0;
	return m == n || name[n - m - 1] == '.';
}

/* NAME's last label would make its owner another kind of trigger. */
static int
name_special(const char *name)
{
	static const char *const tld[] = {
		"rpz-ip", "rpz-nsip", "rpz-nsdname", "rpz-client-ip"
	};
	const char *dot = strrchr(name, '.');
	size_t i;

	for (i = 0; i < sizeof(tld) / sizeof(tld[0]); i++)
		if (strcasecmp(dot != NULL ? dot + 1 : name, tld[i]) == 0)
			return 1;
	return 0;
}

/* Octets of a relative owner of NAME (snapshot form) in wire form. */
static size_t
name_wire_len(const char *name, int wildcard)
{
	size_t n = strlen(name);

	return (n > 0 ? n + 1 : 0) + (wildcard ? 2 : 0);
}

/*
 * PREFIX ("192.0.2.0/24", "2001:db8::/32") as an rpz-ip owner: the length,
 * then the address backwards, an IPv4 address by octets, an IPv6 address by
 * 16-bit words in hex with the longest run of two or more zero words (the
 * first of equals) written "zz" (RFC 5952's "::").
 */
static int
ip_owner(const char *prefix, char out[EXP_TEXT_MAX])
{
	char a[INET6_ADDRSTRLEN + 1], *end;
	const char *slash;
	unsigned long plen;
	unsigned w[8];
	uint8_t b[16];
	size_t alen, n;
	int v6, i, best = -1, bestlen = 0, run = 0;

	if (prefix == NULL || (slash = strchr(prefix, '/')) == NULL ||
	    (alen = (size_t)(slash - prefix)) >= sizeof(a))
		return -EINVAL;
	memcpy(a, prefix, alen);
	a[alen] = '\0';
	v6 = strchr(a, ':') != NULL;
	if (inet_pton(v6 ? AF_INET6 : AF_INET, a, b) != 1 ||
	    slash[1] < '0' || slash[1] > '9')
		return -EINVAL;
	plen = strtoul(slash + 1, &end, 10);
	if (*end != '\0' || plen > (v6 ? 128u : 32u))
		return -EINVAL;
	if (!v6) {
		snprintf(out, EXP_TEXT_MAX, "%lu.%u.%u.%u.%u.rpz-ip", plen,
		    b[3], b[2], b[1], b[0]);
		return 0;
	}
	for (i = 0; i < 8; i++) {
		w[i] = (unsigned)b[2 * i] << 8 | b[2 * i + 1];
		run = w[i] == 0 ? run + 1 : 0;
		if (run >= 2 && run > bestlen) {
			best = i - run + 1;
			bestlen = run;
		}
	}
	n = (size_t)snprintf(out, EXP_TEXT_MAX, "%lu", plen);
	for (i = 7; i >= 0; i--) {
		if (best >= 0 && i >= best && i < best + bestlen) {
			if (i == best + bestlen - 1)
				n += (size_t)snprintf(out + n, EXP_TEXT_MAX - n,
				    ".zz");
			continue;
		}
		n += (size_t)snprintf(out + n, EXP_TEXT_MAX - n, ".%x", w[i]);
	}
	snprintf(out + n, EXP_TEXT_MAX - n, ".rpz-ip");
	return 0;
}

/* Rules. */

static void
line(struct exp *x, const char *owner, const char *rest)
{
	buf_str(&x->body, owner);
	buf_put(&x->body, "\t", 1);
	buf_str(&x->body, rest);
	buf_put(&x->body, "\n", 1);
}

/* A rule left out: a comment says which and why. */
static void
unusable(struct exp *x, const char *what, const char *why)
{
	x->st.unusable++;
	buf_fmt(&x->body, "; left out: %s: %s\n", what, why);
}

/*
 * The line of local data at *POS ("A 192.0.2.1", "AAAA 2001:db8::1",
 * "CNAME name."): its type and its RDATA as zone text in TEXT.  Returns 1
 * and moves *POS past it, 0 at the end, -1 for a line that does not parse
 * or a CNAME that RPZ would read as an action (to the root, to a wildcard,
 * to an rpz- name).
 */
static int
local_next(const char **pos, uint16_t *type, char text[EXP_TEXT_MAX])
{
	uint8_t rd[255];
	size_t rl, i, last = 0;
	int rc;

	if ((rc = rg_bl_local_next(pos, type, rd, &rl)) != 1)
		return rc;
	if (*type == LDNS_RR_TYPE_A || *type == LDNS_RR_TYPE_AAAA) {
		inet_ntop(*type == LDNS_RR_TYPE_A ? AF_INET : AF_INET6, rd,
		    text, EXP_TEXT_MAX);
		return 1;
	}
	for (i = 0; i < rl && rd[i] != 0; i += (size_t)rd[i] + 1)
		last = i;
	if (rl <= 1 || (rd[0] == 1 && rd[1] == '*') || (rd[last] >= 4 &&
	    strncasecmp((const char *)rd + last + 1, "rpz-", 4) == 0))
		return -1;
	wire_text(text, rd, rl, 0, 1);
	return 1;
}

/*
 * LOCAL's records at OWNER.  A zone cannot hold a CNAME beside other data
 * at one name: the address records are kept then, and of several CNAMEs
 * the first.  Returns 0, or -EINVAL with nothing written.
 */
static int
put_local(struct exp *x, const char *owner, const char *local)
{
	char text[EXP_TEXT_MAX];
	const char *p;
	size_t addrs = 0, cnames = 0, dropped = 0;
	uint16_t type;
	int rc, cname_out = 0;

	for (p = local; (rc = local_next(&p, &type, text)) != 0; ) {
		if (rc < 0)
			return -EINVAL;
		if (type == LDNS_RR_TYPE_CNAME)
			cnames++;
		else
			addrs++;
	}
	if (addrs + cnames == 0)
		return -EINVAL;
	for (p = local; local_next(&p, &type, text) > 0; ) {
		if (type == LDNS_RR_TYPE_CNAME && (addrs > 0 || cname_out)) {
			dropped++;
			continue;
		}
		cname_out |= type == LDNS_RR_TYPE_CNAME;
		buf_str(&x->body, owner);
		buf_str(&x->body, type == LDNS_RR_TYPE_A ? "\tA\t" :
		    type == LDNS_RR_TYPE_AAAA ? "\tAAAA\t" : "\tCNAME\t");
		buf_str(&x->body, text);
		buf_put(&x->body, "\n", 1);
	}
	if (dropped > 0)
		buf_fmt(&x->body, "; %s: %zu CNAME%s of its local data left "
		    "out (a CNAME cannot share a name)\n", owner, dropped,
		    dropped > 1 ? "s" : "");
	return 0;
}

/* The records of a rule at OWNER; 0, or -EINVAL when it cannot be said. */
static int
put_rule(struct exp *x, const char *owner, enum rg_action action,
    const char *local)
{
	switch (action) {
	case RG_ACTION_NXDOMAIN:
		line(x, owner, "CNAME\t.");
		return 0;
	case RG_ACTION_REFUSED:
		line(x, owner, "CNAME\t.\t; refused: RPZ has no REFUSED");
		x->st.refused++;
		return 0;
	case RG_ACTION_NODATA:
		line(x, owner, "CNAME\t*.");
		return 0;
	case RG_ACTION_DROP:
		line(x, owner, "CNAME\trpz-drop.");
		return 0;
	case RG_ACTION_PASSTHRU:
		line(x, owner, "CNAME\trpz-passthru.");
		return 0;
	case RG_ACTION_SINKHOLE:
		buf_fmt(&x->body, "%s\tA\t%s\n%s\tAAAA\t%s\n", owner,
		    x->sink_a, owner, x->sink_aaaa);
		return 0;
	case RG_ACTION_LOCAL:
		return local != NULL ? put_local(x, owner, local) : -EINVAL;
	case RG_ACTION_LOG_ONLY:
	case RG_ACTION_COUNT:
	default:
		return -EINVAL;
	}
}

/* A log-only rule that guard mode lets win over a wider one that blocks. */
static void
log_only_put(struct exp *x, const char *owner)
{
	line(x, owner, "CNAME\trpz-passthru.\t; log-only: answered, as in "
	    "guard mode");
}

/*
 * A wildcard that blocks covers NAME (or the names below it, the same
 * wildcards) once the rule of NAME is gone: the best match of a name
 * beside NAME that no rule can hold.
 */
static int
blocked_above(const struct exp *x, const char *name)
{
	uint8_t w[EXP_WIRE_MAX + 2];
	struct rg_bl_match m;
	const char *p, *dot;
	size_t n = 2, ll;

	w[0] = 1;
	w[1] = '\0';
	p = strchr(name, '.');
	for (p = p != NULL ? p + 1 : ""; *p != '\0';
	    p = *dot != '\0' ? dot + 1 : dot) {
		dot = p + strcspn(p, ".");
		ll = (size_t)(dot - p);
		if (ll == 0 || ll > 63 || n + 1 + ll + 1 > EXP_WIRE_MAX)
			return 0;
		w[n++] = (uint8_t)ll;
		memcpy(w + n, p, ll);
		n += ll;
	}
	w[n++] = 0;
	if (rg_bl_lookup(x->bl, w, n, &m) != 1 || !m.wildcard)
		return 0;
	return m.action != RG_ACTION_LOG_ONLY &&
	    m.action != RG_ACTION_PASSTHRU;
}

static int
rule_cb(void *arg, const struct rg_bl_rule *r)
{
	struct exp *x = arg;
	char owner[EXP_TEXT_MAX];
	const char *name;
	size_t i;

	/* Log-only response-IP rules still override, as in guard mode. */
	if (r->name == NULL)
		return ip_collect(x, r);
	name = strcmp(r->name, ".") == 0 ? "" : r->name;
	for (i = 0; i < x->n_allow; i++)
		if (x->allow[i].raw != NULL &&
		    name_under(name, x->allow[i].raw)) {
			x->st.allowlisted++;
			return 0;
		}
	if (r->action == RG_ACTION_LOG_ONLY && !blocked_above(x, name)) {
		x->st.log_only++;
		return 0;
	}
	owner_text(owner, name, r->wildcard);
	if (name[0] == '\0' && !r->wildcard)
		unusable(x, ".", "the root would be the zone's apex");
	else if (name_wire_len(name, r->wildcard) + x->zone_wl > EXP_WIRE_MAX)
		unusable(x, owner, "too long under the zone");
	else if (name_special(name))
		unusable(x, owner, "its last label makes it another kind of "
		    "trigger");
	else if (r->action != RG_ACTION_LOG_ONLY &&
	    put_rule(x, owner, r->action, r->local) < 0)
		unusable(x, owner, "its action or local data cannot be said in "
		    "a zone");
	else {
		if (r->action == RG_ACTION_LOG_ONLY)
			log_only_put(x, owner);
		if (r->wildcard)
			x->st.wildcards++;
		else
			x->st.names++;
	}
	return x->body.oom ? -ENOMEM : 0;
}

/* Response-IP rules. */

/* The place of FEED in the configuration: earlier feeds win. */
static size_t
feed_rank(const struct exp *x, const char *feed)
{
	size_t i;

	if (x->conf == NULL || feed == NULL)
		return 0;
	for (i = 0; i < x->conf->n_feeds; i++)
		if (strcmp(x->conf->feeds[i].name, feed) == 0)
			return i;
	/* Gone in a reload that the snapshot does not know yet. */
	return x->conf->n_feeds;
}

static int
ip_collect(struct exp *x, const struct rg_bl_rule *r)
{
	struct ipr *ip;
	char a[INET6_ADDRSTRLEN + 8], *slash;
	size_t cap;
	void *p;
	int v6;

	if (r->prefix == NULL || strlen(r->prefix) >= sizeof(a) ||
	    (slash = strchr(strcpy(a, r->prefix), '/')) == NULL) {
		unusable(x, r->prefix != NULL ? r->prefix : "?",
		    "not an address prefix");
		return x->body.oom ? -ENOMEM : 0;
	}
	if (x->n_ips == x->cap_ips) {
		cap = x->cap_ips > 0 ? x->cap_ips * 2 : 64;
		if ((p = reallocarray(x->ips, cap, sizeof(*x->ips))) == NULL)
			return -ENOMEM;
		x->ips = p;
		x->cap_ips = cap;
	}
	ip = &x->ips[x->n_ips];
	memset(ip, 0, sizeof(*ip));
	*slash = '\0';
	v6 = strchr(a, ':') != NULL;
	if (!v6) {
		ip->addr[10] = ip->addr[11] = 0xff;
		if (inet_pton(AF_INET, a, ip->addr + 12) != 1)
			goto bad;
	} else if (inet_pton(AF_INET6, a, ip->addr) != 1)
		goto bad;
	ip->len = (unsigned)strtoul(slash + 1, NULL, 10) + (v6 ? 0 : 96);
	if (ip->len > 128)
		goto bad;
	ip->rank = feed_rank(x, r->feed);
	ip->action = r->action;
	snprintf(ip->prefix, sizeof(ip->prefix), "%s", r->prefix);
	if (r->local != NULL && (ip->local = strdup(r->local)) == NULL)
		return -ENOMEM;
	x->n_ips++;
	return 0;
bad:
	unusable(x, r->prefix, "not an address prefix");
	return x->body.oom ? -ENOMEM : 0;
}

static int
ip_cmp(const void *a, const void *b)
{
	const struct ipr *p = a, *q = b;
	int c = memcmp(p->addr, q->addr, sizeof(p->addr));

	if (c != 0)
		return c;
	return p->len < q->len ? -1 : p->len > q->len;
}

/* By prefix, then the earliest feed first. */
static int
ip_rank_cmp(const void *a, const void *b)
{
	const struct ipr *p = a, *q = b;
	int c = ip_cmp(a, b);

	if (c != 0)
		return c;
	return p->rank < q->rank ? -1 : p->rank > q->rank;
}

static void
mask(uint8_t addr[16], unsigned len)
{
	unsigned i;

	for (i = len; i < 128; i++)
		addr[i / 8] &= (uint8_t)~(0x80u >> (i % 8));
}

/*
 * The shorter prefixes of IP's family that hold it: 2 when one is of an
 * earlier feed (IP never wins), 1 when there are others, 0 for none.
 */
static int
ip_wider(const struct exp *x, const struct ipr *ip, const uint8_t *lens,
    size_t n_lens)
{
	const struct ipr *w;
	struct ipr key;
	size_t k;
	int wider = 0;

	for (k = 0; k < n_lens && lens[k] < ip->len; k++) {
		if (ip->len >= 96 && lens[k] < 96 &&
		    memcmp(ip->addr, "\0\0\0\0\0\0\0\0\0\0\377\377", 12) == 0)
			continue;
		memcpy(key.addr, ip->addr, sizeof(key.addr));
		mask(key.addr, lens[k]);
		key.len = lens[k];
		w = bsearch(&key, x->ips, x->n_ips, sizeof(*x->ips), ip_cmp);
		if (w != NULL && w->rank < ip->rank)
			return 2;
		if (w != NULL)
			wider = 1;
	}
	return wider;
}

/* The response-IP rules, sorted, without those an earlier feed overrides. */
static void
ip_put(struct exp *x)
{
	char owner[EXP_TEXT_MAX];
	uint8_t lens[129];
	unsigned char seen[129] = { 0 };
	const struct ipr *ip;
	size_t i, n, n_lens = 0;
	int wider;

	if (x->n_ips == 0)
		return;
	/* One rule a prefix, that of the earliest feed (the snapshot has
	 * one already; a second would make two actions at one owner). */
	qsort(x->ips, x->n_ips, sizeof(*x->ips), ip_rank_cmp);
	for (i = 0, n = 0; i < x->n_ips; i++) {
		if (n > 0 && ip_cmp(&x->ips[n - 1], &x->ips[i]) == 0) {
			free(x->ips[i].local);
			x->st.shadowed++;
			continue;
		}
		x->ips[n++] = x->ips[i];
	}
	x->n_ips = n;
	for (i = 0; i < x->n_ips; i++)
		seen[x->ips[i].len] = 1;
	for (i = 0; i <= 128; i++)
		if (seen[i])
			lens[n_lens++] = (uint8_t)i;
	for (i = 0; i < x->n_ips; i++) {
		ip = &x->ips[i];
		if ((wider = ip_wider(x, ip, lens, n_lens)) == 2) {
			x->st.shadowed++;
			continue;
		}
		if (ip->action == RG_ACTION_LOG_ONLY && !wider) {
			x->st.log_only++;
			continue;
		}
		if (ip_owner(ip->prefix, owner) < 0)
			unusable(x, ip->prefix, "not an address prefix");
		else if (strlen(owner) + 1 + x->zone_wl > EXP_WIRE_MAX)
			unusable(x, owner, "too long under the zone");
		else if (ip->action == RG_ACTION_LOG_ONLY) {
			log_only_put(x, owner);
			x->st.ips++;
		} else if (put_rule(x, owner, ip->action, ip->local) < 0)
			unusable(x, owner, "its action or local data cannot "
			    "be said in a zone");
		else
			x->st.ips++;
	}
}

/* The allowlist. */

static void
allow_free(struct exp *x)
{
	size_t i;

	for (i = 0; i < x->n_allow; i++)
		free(x->allow[i].raw);
	free(x->allow);
	x->allow = NULL;
	x->n_allow = 0;
}

/* The names of CONF's allowlist, each once. */
static int
allow_load(struct exp *x, const struct rg_conf *conf)
{
	struct allow *al;
	ldns_rdf *rd;
	const uint8_t *d;
	size_t i, j, k, n;

	if (conf == NULL || conf->n_allowlist == 0)
		return 0;
	if ((x->allow = calloc(conf->n_allowlist, sizeof(*x->allow))) == NULL)
		return -ENOMEM;
	for (i = 0; i < conf->n_allowlist; i++) {
		/* The configuration checked the names: one that does not
		 * parse cannot be there. */
		if (ldns_str2rdf_dname(&rd, conf->allowlist[i]) !=
		    LDNS_STATUS_OK)
			continue;
		ldns_dname2canonical(rd);
		al = &x->allow[x->n_allow];
		al->wl = ldns_rdf_size(rd);
		if (al->wl > sizeof(al->wire))
			al->wl = 0;
		else
			memcpy(al->wire, ldns_rdf_data(rd), al->wl);
		ldns_rdf_deep_free(rd);
		if (al->wl == 0)
			continue;
		for (j = 0; j < x->n_allow; j++)
			if (x->allow[j].wl == al->wl &&
			    memcmp(x->allow[j].wire, al->wire, al->wl) == 0)
				break;
		if (j < x->n_allow)
			continue;
		if ((al->raw = malloc(al->wl)) == NULL)
			return -ENOMEM;
		d = al->wire;
		for (j = 0, n = 0; d[j] != 0; j += (size_t)d[j] + 1) {
			if (j > 0)
				al->raw[n++] = '.';
			for (k = 1; k <= d[j]; k++) {
				if (d[j + k] == '.' || d[j + k] == '\0')
					break;
				al->raw[n++] = (char)d[j + k];
			}
			if (k <= d[j])
				break;
		}
		al->raw[n] = '\0';
		if (d[j] != 0) {
			free(al->raw);
			al->raw = NULL;
		}
		x->n_allow++;
	}
	return 0;
}

/* rpz-passthru. rules for every allowlisted name and the names below. */
static void
allow_put(struct exp *x)
{
	const struct allow *al;
	char owner[EXP_TEXT_MAX];
	size_t i;

	for (i = 0; i < x->n_allow; i++) {
		al = &x->allow[i];
		if (al->wl > 1) {
			wire_text(owner, al->wire, al->wl, 0, 0);
			if (al->wl - 1 + x->zone_wl > EXP_WIRE_MAX)
				unusable(x, owner, "policy.allowlist: too long "
				    "under the zone");
			else {
				line(x, owner, "CNAME\trpz-passthru.");
				x->st.allowlist++;
			}
		} else
			buf_str(&x->body, "; policy.allowlist has the root: "
			    "every name passes\n");
		wire_text(owner, al->wire, al->wl, 1, 0);
		if (al->wl + 1 + x->zone_wl > EXP_WIRE_MAX)
			unusable(x, owner, "policy.allowlist: too long under "
			    "the zone");
		else {
			line(x, owner, "CNAME\trpz-passthru.");
			x->st.allowlist++;
		}
	}
}

int
rg_export_rpz_zone(const struct rg_blocklist *bl, const struct rg_conf *conf,
    const char *zone, uint32_t serial, char **out, size_t *len,
    struct rg_export_stats *st, char *err, size_t err_len)
{
	struct exp x;
	struct buf head;
	char ztext[EXP_TEXT_MAX];
	ldns_rdf *rd = NULL;
	size_t i;
	int rc = -ENOMEM;

	memset(&x, 0, sizeof(x));
	memset(&head, 0, sizeof(head));
	*out = NULL;
	*len = 0;
	if (zone == NULL || ldns_str2rdf_dname(&rd, zone) != LDNS_STATUS_OK) {
		snprintf(err, err_len, "\"%.300s\" is not a valid zone name",
		    zone != NULL ? zone : "");
		return -EINVAL;
	}
	ldns_dname2canonical(rd);
	x.zone_wl = ldns_rdf_size(rd);
	if (x.zone_wl <= 1) {
		ldns_rdf_deep_free(rd);
		snprintf(err, err_len, "the zone cannot be the root");
		return -EINVAL;
	}
	wire_text(ztext, ldns_rdf_data(rd), x.zone_wl, 0, 1);
	ldns_rdf_deep_free(rd);
	inet_ntop(AF_INET, conf != NULL ? conf->sinkhole_a :
	    (const uint8_t[4]){ 0 }, x.sink_a, sizeof(x.sink_a));
	inet_ntop(AF_INET6, conf != NULL ? conf->sinkhole_aaaa :
	    (const uint8_t[16]){ 0 }, x.sink_aaaa, sizeof(x.sink_aaaa));

	x.bl = bl;
	x.conf = conf;
	if (allow_load(&x, conf) < 0)
		goto out;
	allow_put(&x);
	if (x.body.oom || (rc = rg_bl_foreach(bl, rule_cb, &x)) < 0 ||
	    x.body.oom) {
		rc = -ENOMEM;
		goto out;
	}
	ip_put(&x);
	if (x.body.oom) {
		rc = -ENOMEM;
		goto out;
	}
	x.st.rules = x.st.names + x.st.wildcards + x.st.ips + x.st.allowlist;
	x.st.digest = 0xcbf29ce484222325ULL;		/* FNV-1a */
	for (i = 0; i < x.body.len; i++)
		x.st.digest = (x.st.digest ^ (unsigned char)x.body.p[i]) *
		    0x100000001b3ULL;

	buf_fmt(&head, "; resguard blocklist as a response policy zone, "
	    "exported by resguardd\n"
	    "; %zu rules: %zu names, %zu wildcards, %zu response-IP, %zu "
	    "passthru for policy.allowlist\n", x.st.rules, x.st.names,
	    x.st.wildcards, x.st.ips, x.st.allowlist);
	if (x.st.refused > 0)
		buf_fmt(&head, "; %zu refused rules written as NXDOMAIN (RPZ "
		    "has no REFUSED)\n", x.st.refused);
	buf_fmt(&head, "; left out: %zu log-only (RPZ has no log-only "
	    "action), %zu at or below an allowlisted name, %zu response-IP "
	    "inside a wider prefix of an earlier feed, %zu that a zone "
	    "cannot hold (see the comments)\n"
	    "$ORIGIN %s\n$TTL %d\n"
	    "@\tIN\tSOA\tlocalhost. hostmaster.localhost. %u 3600 600 86400 "
	    "%d\n@\tIN\tNS\tlocalhost.\n", x.st.log_only, x.st.allowlisted,
	    x.st.shadowed, x.st.unusable, ztext, EXP_TTL, (unsigned)serial,
	    EXP_TTL);
	if (x.body.len > 0)
		buf_put(&head, x.body.p, x.body.len);
	if (head.oom) {
		rc = -ENOMEM;
		goto out;
	}
	*out = head.p;
	*len = head.len;
	head.p = NULL;
	if (st != NULL)
		*st = x.st;
	rc = 0;
out:
	if (rc < 0)
		snprintf(err, err_len, "out of memory exporting the blocklist");
	allow_free(&x);
	for (i = 0; i < x.n_ips; i++)
		free(x.ips[i].local);
	free(x.ips);
	free(x.body.p);
	free(head.p);
	return rc;
}

uint32_t
rg_export_serial(uint32_t last)
{
	time_t now = time(NULL);

	return now > (time_t)last && (uint64_t)now <= UINT32_MAX ?
	    (uint32_t)now : last + 1;
}

struct rg_conf *
rg_export_conf_dup(const struct rg_conf *c)
{
	struct rg_conf *x;
	size_t i;

	if ((x = calloc(1, sizeof(*x))) == NULL)
		return NULL;
	memcpy(x->sinkhole_a, c->sinkhole_a, sizeof(c->sinkhole_a));
	memcpy(x->sinkhole_aaaa, c->sinkhole_aaaa, sizeof(c->sinkhole_aaaa));
	if (c->n_feeds > 0 && (x->feeds = calloc(c->n_feeds,
	    sizeof(*x->feeds))) == NULL)
		goto fail;
	for (i = 0; i < c->n_feeds; i++, x->n_feeds++)
		if ((x->feeds[i].name = strdup(c->feeds[i].name)) == NULL)
			goto fail;
	if (c->n_allowlist > 0 && (x->allowlist = calloc(c->n_allowlist,
	    sizeof(*x->allowlist))) == NULL)
		goto fail;
	for (i = 0; i < c->n_allowlist; i++, x->n_allowlist++)
		if ((x->allowlist[i] = strdup(c->allowlist[i])) == NULL)
			goto fail;
	return x;
fail:
	rg_export_conf_free(x);
	return NULL;
}

void
rg_export_conf_free(struct rg_conf *x)
{
	size_t i;

	if (x == NULL)
		return;
	for (i = 0; i < x->n_feeds; i++)
		free(x->feeds[i].name);
	free(x->feeds);
	for (i = 0; i < x->n_allowlist; i++)
		free(x->allowlist[i]);
	free(x->allowlist);
	free(x);
}

char *
rg_export_rpz(const struct rg_blocklist *bl, const struct rg_conf *conf,
    const char *zone, size_t *len)
{
	char *out, err[400];
	int rc;

	rc = rg_export_rpz_zone(bl, conf, zone, rg_export_serial(0), &out,
	    len, NULL, err, sizeof(err));
	if (rc < 0) {
		errno = -rc;
		return NULL;
	}
	return out;
}
