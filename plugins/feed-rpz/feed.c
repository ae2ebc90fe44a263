/*
 * feed-rpz -- the "rpz" feed format: a Response Policy Zone in master file
 * form, as a feed server publishes it and as a zone transfer delivers it.
 *
 * The zone is read one record at a time with ldns over the buffer, never
 * as a whole ldns_zone: policy zones have millions of records.  The zone's
 * name is the configured origin or else the owner of the SOA record, which
 * must then come first.  Records are gathered by owner while the owner
 * stays the same (a master file and a transfer give an owner's records
 * together) and each owner becomes at most one rule when the next one
 * begins: its trigger from the owner name relative to the zone (a name,
 * "*.name" for the names below it, or an rpz-ip address prefix), its
 * action from its CNAME (".", "*.", rpz-passthru., rpz-drop., or another
 * name as local data), or local data from its A and AAAA records.  Local
 * data is rare, so only those owners are kept, in a small table that also
 * joins records of one owner found apart, and they are emitted last.  A
 * CNAME found apart from the A records of its owner (illegal in a zone)
 * is caught when the address records come first; the other way round the
 * CNAME's rule has already gone out, and both rules are emitted.
 *
 * A name in Unicode (UTF-8 bytes in the master file, or their \DDD
 * escapes), as a trigger or as a CNAME target, becomes its punycode, as a
 * resolver would ask for it; in a "*." trigger only what follows "*." is
 * converted.
 *
 * The apex SOA and NS, and DNSSEC records anywhere, are ignored.  An
 * $INCLUDE is refused: a feed never makes resguard open a file.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ldns/ldns.h>

#include "../plugin.h"
#include "../lib/feedutil.h"

#ifdef __linux__
#include <stdio_ext.h>
/* The stream is ours alone: skip the lock that every getc() would take. */
#define RPZ_NOLOCK(fp)	((void)__fsetlocking((fp), FSETLOCKING_BYCALLER))
#else
#define RPZ_NOLOCK(fp)	((void)(fp))
#endif

#define RPZ_WIRE_MAX	255	/* a name in wire form */
#define RPZ_LABELS_MAX	128
#define RPZ_TEXT_MAX	256	/* a name in presentation form, NUL included */
#define RPZ_PREFIX_MAX	64	/* "ffff:...:ffff/128" */
#define RPZ_WHY_MAX	128	/* a reason from libidn2 */

#define RPZ_LABEL_ASCII	1
#define RPZ_LABEL_UTF8	2

enum rpz_kind {
	RPZ_APEX,		/* the zone's own records: ignored */
	RPZ_QNAME,
	RPZ_IP,
	RPZ_UNSUPPORTED,	/* rpz-nsdname, rpz-nsip, rpz-client-ip */
	RPZ_BAD,		/* no usable trigger: why says why */
};

/* The A and AAAA records of one owner. */
struct rpz_local {
	char *name;		/* the trigger relative to the zone: the key */
	char *text;		/* "A 192.0.2.1\nAAAA 2001:db8::1" */
	size_t len, cap;
	uint32_t hash;
	int ip;			/* an rpz-ip trigger */
	int bad;		/* a CNAME at the same owner: skipped */
	unsigned long line;	/* of its first record */
	char prefix[RPZ_PREFIX_MAX];
};

struct rpz_locals {
	struct rpz_local *v;	/* in the order found */
	size_t n, cap;
	uint32_t *slot;		/* index + 1 into v; 0: empty */
	size_t nslot;		/* a power of two, or 0 */
};

/* The records of the current owner. */
struct rpz_owner {
	int active;
	uint8_t wire[RPZ_WIRE_MAX];	/* lowercased */
	size_t wl;
	size_t rel;		/* bytes before the zone's name */
	enum rpz_kind kind;
	const char *why;	/* RPZ_BAD, RPZ_UNSUPPORTED */
	char whybuf[RPZ_WHY_MAX];	/* why, when made for this owner */
	unsigned long line;	/* of its first record */
	char name[RPZ_TEXT_MAX];	/* relative, presentation */
	char prefix[RPZ_PREFIX_MAX];	/* RPZ_IP */
	unsigned long records;	/* not ignored */
	unsigned long ncname, nother;
	uint8_t target[RPZ_WIRE_MAX];	/* of the first CNAME, lowercased */
	size_t tl;
	uint16_t other_type;	/* of the first other record */
	unsigned long other_line;
	size_t local;		/* index + 1 in the locals; 0: none */
};

struct rpz {
	const char *data;
	size_t len;
	size_t scan;		/* line counting: bytes seen */
	unsigned long lines;	/* newlines before scan */
	struct rg_feed_out out;
	uint8_t origin[RPZ_WIRE_MAX];	/* the zone, lowercased */
	size_t ol;
	struct rpz_owner cur;
	struct rpz_locals locals;
	uint8_t prev[RPZ_WIRE_MAX];	/* the last owner, for a line without */
	size_t pl;			/* 0: none yet */
};

/* What a record says, as ldns or the fast reader below read it. */
struct rpz_rr {
	const uint8_t *owner;	/* wire form */
	size_t wl;
	uint16_t type;
	uint16_t class;
	const uint8_t *rd;	/* the one rdata field, or NULL */
	size_t rdlen;
};

static inline uint8_t
rpz_lower(uint8_t c)
{
	return c >= 'A' && c <= 'Z' ? (uint8_t)(c + 32) : c;
}

/* Count an entry skipped (or UNSUPPORTED); describe the first, at its
 * LINE. */
static void
rpz_skip(struct rpz *z, int unsupported, unsigned long line,
    const char *fmt, ...)
{
	struct rg_feed_stats *st = z->out.st;
	char what[sizeof(st->first_skip)];
	va_list ap;

	what[0] = '\0';
	if (st->first_skip[0] == '\0') {
		va_start(ap, fmt);
		vsnprintf(what, sizeof(what), fmt, ap);
		va_end(ap);
	}
	rg_feed_skip(st, unsupported ? &st->unsupported : &st->skipped,
	    "line %lu: %s", line, what);
}

/*
 * The line of the first character of the record that starts at byte OFF
 * or after it, past blank lines and comments: ldns' own count runs to the
 * end of what it read, blank lines after a record included.
 */
static unsigned long
rpz_line_at(struct rpz *z, size_t off)
{
	const char *p, *end = z->data + z->len;

	if (off > z->len)
		off = z->len;
	if (off > z->scan) {
		for (p = z->data + z->scan; (p = memchr(p, '\n',
		    (size_t)(z->data + off - p))) != NULL; p++)
			z->lines++;
		z->scan = off;
	}
	for (p = z->data + z->scan; p < end; p++) {
		if (*p == '\n')
			z->lines++;
		else if (*p == ';') {
			while (p + 1 < end && p[1] != '\n')
				p++;
		} else if (*p != ' ' && *p != '\t' && *p != '\r' &&
		    *p != '\f' && *p != '\v')
			break;
	}
	z->scan = (size_t)(p - z->data);
	return z->lines + 1;
}

/*
 * A label's bytes: RPZ_LABEL_ASCII for the names the blocklist takes,
 * nothing to escape; RPZ_LABEL_UTF8 when bytes above ASCII are among
 * them, a label in Unicode to convert; 0 for anything else.
 */
static int
rpz_label_ok(const uint8_t *l, size_t n)
{
	size_t i;
	int utf8 = 0;

	for (i = 0; i < n; i++) {
		if (l[i] >= 0x80)
			utf8 = 1;
		else if (!rg_name_char(l[i]))
			return 0;
	}
	return utf8 ? RPZ_LABEL_UTF8 : RPZ_LABEL_ASCII;
}

/*
 * Name TEXT (presentation, no final dot, a label of it in Unicode) as
 * A-labels into OUT (RG_NAME_MAX + 1 bytes); 0, or -1 with why in WHY
 * (WHYLEN bytes).
 */
static int
rpz_idn(const char *text, char *out, char *why, size_t whylen)
{
	const char *w;

	/* Relative names may end in a label of digits. */
	if (rg_name_norm(text, strlen(text), RG_NAME_NUMERIC, out, &w) == 0)
		return 0;
	snprintf(why, whylen, "%s", w);
	return -1;
}

/* Wire labels W..W+N (lowercased) to dotted text in OUT; 0 or -1. */
static int
rpz_text(const uint8_t *w, size_t n, char *out, size_t outlen, int dot)
{
	size_t i = 0, o = 0, ll;

	while (i < n) {
		ll = w[i];
		if (ll == 0 || i + 1 + ll > n || o + ll + 2 > outlen)
			return -1;
		if (o > 0)
			out[o++] = '.';
		memcpy(out + o, w + i + 1, ll);
		o += ll;
		i += ll + 1;
	}
	if (dot) {
		if (o + 2 > outlen)
			return -1;
		out[o++] = '.';
	}
	if (o >= outlen)
		return -1;
	out[o] = '\0';
	return 0;
}

static int
rpz_label_is(const uint8_t *l, const char *s)
{
	size_t n = strlen(s);

	return l[0] == n && memcmp(l + 1, s, n) == 0;
}

/* A decimal label, no leading zero, at most MAX; -1 when it is not. */
static long
rpz_dec(const uint8_t *l, long max)
{
	long v = 0;
	size_t i, n = l[0];

	if (n == 0 || n > 3 || (n > 1 && l[1] == '0'))
		return -1;
	for (i = 1; i <= n; i++) {
		if (l[i] < '0' || l[i] > '9')
			return -1;
		v = v * 10 + (l[i] - '0');
	}
	return v <= max ? v : -1;
}

static int
rpz_hex(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/*
 * The prefix of an rpz-ip trigger from its labels (L[0] the prefix length,
 * then the address, least significant part first: "32.1.2.0.192",
 * "128.1.zz.db8.2001" with "zz" for the run of zero groups), in OUT as
 * "192.0.2.1/32"; NULL, or why not.
 */
static const char *
rpz_ip(const uint8_t *const *l, size_t n, char *out, size_t outlen)
{
	uint8_t a[16];
	uint16_t g[8];
	char text[INET6_ADDRSTRLEN];
	long plen, v;
	size_t i, j, k, ng, zz = SIZE_MAX, bits;
	int d, af;

	if (n < 2)
		return "an rpz-ip trigger without an address";
	memset(a, 0, sizeof(a));
	plen = rpz_dec(l[0], 999);
	if (n == 5 && rpz_dec(l[1], 255) >= 0 && rpz_dec(l[2], 255) >= 0 &&
	    rpz_dec(l[3], 255) >= 0 && rpz_dec(l[4], 255) >= 0) {
		af = AF_INET;
		for (i = 0; i < 4; i++)
			a[i] = (uint8_t)rpz_dec(l[4 - i], 255);
		bits = 32;
	} else {
		af = AF_INET6;
		bits = 128;
		ng = n - 1;
		if (ng > 8)
			return "an IPv6 rpz-ip address of more than 8 groups";
		/* G in address order: the labels reversed. */
		memset(g, 0, sizeof(g));
		for (i = 0; i < ng; i++) {
			const uint8_t *lab = l[n - 1 - i];

			if (rpz_label_is(lab, "zz")) {
				if (zz != SIZE_MAX)
					return "an IPv6 rpz-ip address with two "
					    "\"zz\"";
				zz = i;
				continue;
			}
			if (lab[0] == 0 || lab[0] > 4)
				return "an rpz-ip address that is not IPv4 "
				    "or IPv6";
			for (v = 0, j = 1; j <= lab[0]; j++) {
				if ((d = rpz_hex(lab[j])) < 0)
					return "an rpz-ip address that is not "
					    "IPv4 or IPv6";
				v = v * 16 + d;
			}
			g[i] = (uint16_t)v;
		}
		if (zz == SIZE_MAX && ng != 8)
			return "an IPv6 rpz-ip address of fewer than 8 groups "
			    "without \"zz\"";
		/* Spread the groups: those after zz go to the end. */
		for (i = 0, k = 0; i < ng; i++) {
			if (i == zz) {
				k += 8 - (ng - 1);
				continue;
			}
			a[2 * k] = (uint8_t)(g[i] >> 8);
			a[2 * k + 1] = (uint8_t)g[i];
			k++;
		}
	}
	if (plen < 1 || (size_t)plen > bits)
		return af == AF_INET ?
		    "an rpz-ip prefix length that is not 1 to 32" :
		    "an rpz-ip prefix length that is not 1 to 128";
	for (i = (size_t)plen; i < bits; i++)
		if (a[i / 8] & (0x80 >> (i % 8)))
			return "an rpz-ip prefix with host bits set";
	if (inet_ntop(af, a, text, sizeof(text)) == NULL)
		return "an rpz-ip address that cannot be written";
	snprintf(out, outlen, "%s/%ld", text, plen);
	return NULL;
}

/* Classify the owner in Z->cur (wire set) by its name in the zone. */
static void
rpz_owner_classify(struct rpz *z)
{
	struct rpz_owner *o = &z->cur;
	const uint8_t *l[RPZ_LABELS_MAX];
	char ace[RG_NAME_MAX + 1];
	size_t n = 0, i = 0, k, last, w;
	int ok, utf8 = 0;

	while (i < o->wl && o->wire[i] != 0 && n < RPZ_LABELS_MAX) {
		l[n++] = o->wire + i;
		i += (size_t)o->wire[i] + 1;
	}
	/* The zone's name: the same bytes at a label boundary. */
	for (k = 0; k <= n; k++) {
		i = k < n ? (size_t)(l[k] - o->wire) : o->wl - 1;
		if (o->wl - i == z->ol && memcmp(o->wire + i, z->origin,
		    z->ol) == 0)
			break;
	}
	if (k > n) {
		o->kind = RPZ_BAD;
		o->why = "not in the zone";
		rpz_text(o->wire, o->wl - 1, o->name, sizeof(o->name), 1);
		return;
	}
	if (k == 0) {
		o->kind = RPZ_APEX;
		return;
	}
	o->rel = k < n ? (size_t)(l[k] - o->wire) : o->wl - 1;
	n = k;
	if (rpz_text(o->wire, o->rel, o->name, sizeof(o->name), 0) < 0) {
		o->kind = RPZ_BAD;
		o->why = "a name too long";
		o->name[0] = '\0';
		return;
	}
	last = n - 1;
	if (rpz_label_is(l[last], "rpz-ip")) {
		for (i = 0; i < last; i++)
			if (rpz_label_ok(l[i] + 1, l[i][0]) !=
			    RPZ_LABEL_ASCII) {
				o->kind = RPZ_BAD;
				o->why = "an rpz-ip trigger that is not an "
				    "address";
				return;
			}
		o->why = rpz_ip(l, last, o->prefix, sizeof(o->prefix));
		o->kind = o->why == NULL ? RPZ_IP : RPZ_BAD;
		return;
	}
	if (rpz_label_is(l[last], "rpz-nsdname") ||
	    rpz_label_is(l[last], "rpz-nsip") ||
	    rpz_label_is(l[last], "rpz-client-ip")) {
		o->kind = RPZ_UNSUPPORTED;
		o->why = "rpz-nsdname, rpz-nsip and rpz-client-ip triggers "
		    "are not supported";
		return;
	}
	if (n == 1 && rpz_label_is(l[0], "*")) {
		/* Every name in the DNS: never what a feed should say. */
		o->kind = RPZ_BAD;
		o->why = "a wildcard of every name is refused";
		return;
	}
	for (i = 0; i < n; i++) {
		if (i == 0 && rpz_label_is(l[i], "*"))
			continue;
		if ((ok = rpz_label_ok(l[i] + 1, l[i][0])) == 0) {
			o->kind = RPZ_BAD;
			o->why = rpz_label_is(l[i], "*") ?
			    "\"*\" not as the first label of a name below the "
			    "zone's" : "a character not taken in a name";
			return;
		}
		if (ok == RPZ_LABEL_UTF8)
			utf8 = 1;
	}
	if (utf8) {
		/* The trigger is the punycode; after "*." only. */
		w = rpz_label_is(l[0], "*") ? 2 : 0;
		if (rpz_idn(o->name + w, ace, o->whybuf,
		    sizeof(o->whybuf)) < 0) {
			o->kind = RPZ_BAD;
			o->why = o->whybuf;
			return;
		}
		memcpy(o->name + w, ace, strlen(ace) + 1);
	}
	o->kind = RPZ_QNAME;
}

static uint32_t
rpz_hash(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s != '\0'; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h;
}

/* The local data of NAME; NULL when there is none. */
static struct rpz_local *
rpz_local_find(struct rpz_locals *t, const char *name, uint32_t h)
{
	size_t i, mask;
	uint32_t s;

	if (t->nslot == 0)
		return NULL;
	mask = t->nslot - 1;
	for (i = h & mask; (s = t->slot[i]) != 0; i = (i + 1) & mask)
		if (t->v[s - 1].hash == h && strcmp(t->v[s - 1].name,
		    name) == 0)
			return &t->v[s - 1];
	return NULL;
}

static int
rpz_local_grow(struct rpz_locals *t)
{
	struct rpz_local *v;
	uint32_t *slot;
	size_t cap, nslot, i, j, mask;

	if (t->n == t->cap) {
		cap = t->cap ? t->cap * 2 : 16;
		if ((v = realloc(t->v, cap * sizeof(*v))) == NULL)
			return -ENOMEM;
		t->v = v;
		t->cap = cap;
	}
	if ((t->n + 1) * 2 <= t->nslot)
		return 0;
	nslot = t->nslot ? t->nslot * 2 : 32;
	if (nslot > UINT32_MAX / 2 || (slot = calloc(nslot,
	    sizeof(*slot))) == NULL)
		return -ENOMEM;
	mask = nslot - 1;
	for (i = 0; i < t->n; i++) {
		for (j = t->v[i].hash & mask; slot[j] != 0; j = (j + 1) & mask)
			;
		slot[j] = (uint32_t)(i + 1);
	}
	free(t->slot);
	t->slot = slot;
	t->nslot = nslot;
	return 0;
}

/* The local data of the current owner, made when missing; NULL: ENOMEM. */
static struct rpz_local *
rpz_local_get(struct rpz *z)
{
	struct rpz_owner *o = &z->cur;
	struct rpz_locals *t = &z->locals;
	struct rpz_local *e;
	uint32_t h;
	size_t j, mask;

	if (o->local != 0)
		return &t->v[o->local - 1];
	h = rpz_hash(o->name);
	if ((e = rpz_local_find(t, o->name, h)) != NULL) {
		o->local = (size_t)(e - t->v) + 1;
		return e;
	}
	if (rpz_local_grow(t) < 0)
		return NULL;
	e = &t->v[t->n];
	memset(e, 0, sizeof(*e));
	if ((e->name = strdup(o->name)) == NULL)
		return NULL;
	e->hash = h;
	e->ip = o->kind == RPZ_IP;
	e->line = o->line;
	memcpy(e->prefix, o->prefix, sizeof(e->prefix));
	mask = t->nslot - 1;
	for (j = h & mask; t->slot[j] != 0; j = (j + 1) & mask)
		;
	t->slot[j] = (uint32_t)(t->n + 1);
	o->local = ++t->n;
	return e;
}

static void
rpz_locals_free(struct rpz_locals *t)
{
	size_t i;

	for (i = 0; i < t->n; i++) {
		free(t->v[i].name);
		free(t->v[i].text);
	}
	free(t->v);
	free(t->slot);
}

/* Add "TYPE ADDRESS" to the local data of the current owner: RR's
 * address, or a malformed record. */
static int
rpz_local_add(struct rpz *z, const struct rpz_rr *rr, unsigned long line)
{
	struct rpz_local *e;
	int v6 = rr->type == LDNS_RR_TYPE_AAAA;
	char text[8 + INET6_ADDRSTRLEN], *p;
	size_t n, cap;

	if (rr->rd == NULL || rr->rdlen != (v6 ? 16u : 4u) ||
	    inet_ntop(v6 ? AF_INET6 : AF_INET, rr->rd,
	    text + (v6 ? 5 : 2), sizeof(text) - 5) == NULL) {
		rpz_skip(z, 0, line, "%s: a malformed %s record", z->cur.name,
		    v6 ? "AAAA" : "A");
		return 0;
	}
	memcpy(text, v6 ? "AAAA " : "A ", v6 ? 5 : 2);
	if ((e = rpz_local_get(z)) == NULL)
		return -ENOMEM;
	n = strlen(text);
	if (e->len + n + 2 > e->cap) {
		cap = e->cap ? e->cap * 2 : 64;
		while (cap < e->len + n + 2)
			cap *= 2;
		if ((p = realloc(e->text, cap)) == NULL)
			return -ENOMEM;
		e->text = p;
		e->cap = cap;
	}
	if (e->len > 0)
		e->text[e->len++] = '\n';
	memcpy(e->text + e->len, text, n + 1);
	e->len += n;
	return 0;
}

static int
rpz_emit(struct rpz *z, const struct rg_feed_rule *r, unsigned long line)
{
	int rc;

	if ((rc = rg_feed_emit(&z->out, r)) < 0)
		rg_feed_say(z->out.msg, z->out.msglen, "line %lu: the rule for "
		    "%s was refused: %s", line, r->indicator, strerror(-rc));
	return rc;
}

/* The rule of the current owner's CNAME. */
static int
rpz_cname(struct rpz *z)
{
	struct rpz_owner *o = &z->cur;
	struct rg_feed_rule r;
	const uint8_t *t = o->target, *tld;
	char text[RPZ_TEXT_MAX + 8], ace[RG_NAME_MAX + 1], why[RPZ_WHY_MAX];
	size_t i, n;
	int ok, utf8 = 0;

	memset(&r, 0, sizeof(r));
	r.trigger = o->kind == RPZ_IP ? RG_FEED_IP : RG_FEED_QNAME;
	r.name = o->kind == RPZ_IP ? NULL : o->name;
	r.prefix = o->kind == RPZ_IP ? o->prefix : NULL;
	r.indicator = o->name;
	for (tld = t, i = 0; i < o->tl && t[i] != 0; i += (size_t)t[i] + 1)
		tld = t + i;
	if (o->tl == 1)
		r.action = RG_FEED_NXDOMAIN;
	else if (o->tl == 3 && rpz_label_is(t, "*"))
		r.action = RG_FEED_NODATA;
	else if (rpz_label_is(t, "rpz-passthru") && t[t[0] + 1] == 0)
		r.action = RG_FEED_PASSTHRU;
	else if (rpz_label_is(t, "rpz-drop") && t[t[0] + 1] == 0)
		r.action = RG_FEED_DROP;
	else if (rpz_label_is(t, "rpz-tcp-only") && t[t[0] + 1] == 0) {
		rpz_skip(z, 1, o->line, "%s: the rpz-tcp-only action is not "
		    "supported", o->name);
		return 0;
	} else if (tld[0] >= 4 && memcmp(tld + 1, "rpz-", 4) == 0) {
		rpz_skip(z, 0, o->line, "%s: an unknown RPZ action", o->name);
		return 0;
	} else if (o->tl == o->rel + 1 && memcmp(t, o->wire, o->rel) == 0)
		/* The older form of PASSTHRU: a CNAME to the trigger. */
		r.action = RG_FEED_PASSTHRU;
	else if (rpz_label_is(t, "*")) {
		rpz_skip(z, 1, o->line, "%s: a CNAME to a wildcard (a "
		    "rewrite) is not supported", o->name);
		return 0;
	} else {
		memcpy(text, "CNAME ", 6);
		for (i = 0; t[i] != 0; i += (size_t)t[i] + 1) {
			if ((ok = rpz_label_ok(t + i + 1, t[i])) == 0)
				break;
			if (ok == RPZ_LABEL_UTF8)
				utf8 = 1;
		}
		if (t[i] != 0 || rpz_text(t, o->tl - 1, text + 6,
		    sizeof(text) - 7, 0) < 0) {
			rpz_skip(z, 0, o->line, "%s: a CNAME target not "
			    "taken as local data", o->name);
			return 0;
		}
		if (utf8) {
			/* The target as a resolver would ask for it. */
			if (rpz_idn(text + 6, ace, why, sizeof(why)) < 0) {
				rpz_skip(z, 0, o->line, "%s: a CNAME target "
				    "not taken as local data: %s", o->name,
				    why);
				return 0;
			}
			memcpy(text + 6, ace, strlen(ace) + 1);
		}
		/* The older PASSTHRU again, the trigger or its target
		 * written in Unicode. */
		if (strcmp(text + 6, o->name) == 0) {
			r.action = RG_FEED_PASSTHRU;
			return rpz_emit(z, &r, o->line);
		}
		n = strlen(text);
		memcpy(text + n, ".", 2);
		r.action = RG_FEED_LOCAL;
		r.local = text;
	}
	return rpz_emit(z, &r, o->line);
}

/* The name of record type T, in BUF when it has none. */
static const char *
rpz_type_name(uint16_t t, char *buf, size_t len)
{
	const ldns_rr_descriptor *d = ldns_rr_descript(t);

	if (d != NULL && d->_name != NULL)
		return d->_name;
	snprintf(buf, len, "TYPE%u", (unsigned)t);
	return buf;
}

/* The current owner's records are all in: its rule. */
static int
rpz_owner_end(struct rpz *z)
{
	struct rpz_owner *o = &z->cur;
	struct rpz_local *e = NULL;
	char type[16];

	if (!o->active)
		return 0;
	o->active = 0;
	if (o->records == 0 || o->kind == RPZ_APEX)
		return 0;
	if (o->kind == RPZ_BAD || o->kind == RPZ_UNSUPPORTED) {
		rpz_skip(z, o->kind == RPZ_UNSUPPORTED, o->line, "%s: %s",
		    o->name, o->why);
		return 0;
	}
	if (o->local != 0)
		e = &z->locals.v[o->local - 1];
	else if (o->ncname > 0 && z->locals.n > 0)
		e = rpz_local_find(&z->locals, o->name, rpz_hash(o->name));
	if (o->ncname > 1 || (o->ncname == 1 && (o->nother > 0 ||
	    e != NULL))) {
		/* Illegal in a zone: no rule at all for the owner. */
		if (e != NULL)
			e->bad = 1;
		rpz_skip(z, 0, o->line, "%s: %s", o->name, o->ncname > 1 ?
		    "more than one CNAME" : "a CNAME and other data");
		return 0;
	}
	if (o->nother > 0) {
		rpz_skip(z, 1, o->other_line, "%s: %s records as local data "
		    "are not supported", o->name, rpz_type_name(o->other_type,
		    type, sizeof(type)));
		z->out.st->unsupported += o->nother - 1;
	}
	if (o->ncname == 1)
		return rpz_cname(z);
	return 0;
}

static void
rpz_owner_begin(struct rpz *z, const uint8_t *w, size_t wl,
    unsigned long line)
{
	struct rpz_owner *o = &z->cur;

	o->active = 1;
	memcpy(o->wire, w, wl);
	o->wl = wl;
	o->rel = 0;
	o->why = NULL;
	o->line = line;
	o->name[0] = '\0';
	o->prefix[0] = '\0';
	o->records = o->ncname = o->nother = 0;
	o->tl = 0;
	o->local = 0;
	rpz_owner_classify(z);
}

/* One record RR, from LINE. */
static int
rpz_record(struct rpz *z, const struct rpz_rr *rr, unsigned long line)
{
	struct rpz_owner *o = &z->cur;
	uint16_t type = rr->type;
	uint8_t w[RPZ_WIRE_MAX];
	const uint8_t *d;
	size_t wl = rr->wl, i;
	int rc;

	if (rr->owner == NULL || wl == 0 || wl > RPZ_WIRE_MAX) {
		rpz_skip(z, 0, line, "a record without a usable owner");
		return 0;
	}
	d = rr->owner;
	for (i = 0; i < wl; i++)
		w[i] = rpz_lower(d[i]);
	if (!o->active || o->wl != wl || memcmp(o->wire, w, wl) != 0) {
		if ((rc = rpz_owner_end(z)) < 0)
			return rc;
		rpz_owner_begin(z, w, wl, line);
	}
	switch (type) {
	case LDNS_RR_TYPE_RRSIG:
	case LDNS_RR_TYPE_NSEC:
	case LDNS_RR_TYPE_NSEC3:
	case LDNS_RR_TYPE_NSEC3PARAM:
	case LDNS_RR_TYPE_DNSKEY:
	case LDNS_RR_TYPE_CDNSKEY:
	case LDNS_RR_TYPE_DS:
	case LDNS_RR_TYPE_CDS:
	case LDNS_RR_TYPE_ZONEMD:
		/* A signed policy zone: nothing to enforce. */
		return 0;
	default:
		break;
	}
	if (o->kind == RPZ_APEX)
		return 0;
	if (rr->class != LDNS_RR_CLASS_IN) {
		rpz_skip(z, 0, line, "%s: a record not of class IN", o->name);
		return 0;
	}
	o->records++;
	if (o->kind == RPZ_BAD || o->kind == RPZ_UNSUPPORTED)
		return 0;
	switch (type) {
	case LDNS_RR_TYPE_CNAME:
		if (o->ncname++ > 0)
			return 0;
		if (rr->rd == NULL || rr->rdlen == 0 ||
		    rr->rdlen > RPZ_WIRE_MAX) {
			/* Not a policy: the owner gets no rule. */
			o->ncname++;
			return 0;
		}
		o->tl = rr->rdlen;
		d = rr->rd;
		for (i = 0; i < o->tl; i++)
			o->target[i] = rpz_lower(d[i]);
		return 0;
	case LDNS_RR_TYPE_A:
	case LDNS_RR_TYPE_AAAA:
		return rpz_local_add(z, rr, line);
	default:
		if (o->nother++ == 0) {
			o->other_type = type;
			o->other_line = line;
		}
		return 0;
	}
}

/* The owners with local data, in the order found. */
static int
rpz_locals_emit(struct rpz *z)
{
	struct rg_feed_rule r;
	struct rpz_local *e;
	size_t i;
	int rc;

	for (i = 0; i < z->locals.n; i++) {
		e = &z->locals.v[i];
		if (e->bad || e->text == NULL)
			continue;
		memset(&r, 0, sizeof(r));
		r.trigger = e->ip ? RG_FEED_IP : RG_FEED_QNAME;
		r.name = e->ip ? NULL : e->name;
		r.prefix = e->ip ? e->prefix : NULL;
		r.action = RG_FEED_LOCAL;
		r.local = e->text;
		r.indicator = e->name;
		if ((rc = rpz_emit(z, &r, e->line)) < 0)
			return rc;
	}
	return 0;
}

/*
 * The fast reader.  Most lines of a policy zone are one record of the
 * form "owner [TTL] [IN] CNAME|A|AAAA value" with plain names; these are
 * read here, straight from the document, as ldns would read them, and
 * every other line (directives, parentheses, quotes, escapes, names in
 * Unicode, other types and classes, anything odd) is left to ldns, which
 * also gives the errors.  ldns spent most of the parse allocating a record
 * for each line.
 */
/* Off only to compare the two readers in tests. */
#ifndef RPZ_FAST_READER
#define RPZ_FAST_READER		1
#endif
#define RPZ_FAST_LINE_MAX	4096
#define RPZ_FAST_TTL_MAX	21	/* ldns' LDNS_TTL_DATALEN */

enum rpz_fast {
	RPZ_FAST_LDNS,		/* ldns must read this line */
	RPZ_FAST_BLANK,		/* nothing on it */
	RPZ_FAST_RR,		/* one record, read */
};

/* ldns reads a carriage return as a space. */
static inline int
rpz_fast_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* Where ldns goes on after a line ending at EOL: past the line ends and
 * the other line separators that follow. */
static size_t
rpz_fast_next(const struct rpz *z, const char *eol)
{
	const char *end = z->data + z->len;

	while (eol < end && (*eol == '\n' || *eol == '\r' || *eol == '\f' ||
	    *eol == '\v'))
		eol++;
	return (size_t)(eol - z->data);
}

/* A byte of a plain name (besides the dots). */
static inline int
rpz_fast_char(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '*';
}

/*
 * Name token T (N bytes) in wire form, lowercased, into W (RPZ_WIRE_MAX
 * bytes): "@" is ORIGIN (OL bytes, wire form), a name without a final dot
 * is relative to it.  Its length, or 0 when ldns must read it.
 */
static size_t
rpz_fast_name(const char *t, size_t n, const uint8_t *origin, size_t ol,
    uint8_t *w)
{
	size_t i = 0, o = 0, start, ll;
	int absolute;

	if (n == 1 && t[0] == '@') {
		memcpy(w, origin, ol);
		return ol;
	}
	if (n == 1 && t[0] == '.') {
		w[0] = 0;
		return 1;
	}
	if ((absolute = t[n - 1] == '.'))
		n--;
	if (n == 0)
		return 0;
	for (;;) {
		start = i;
		while (i < n && t[i] != '.') {
			if (!rpz_fast_char((uint8_t)t[i]))
				return 0;
			i++;
		}
		ll = i - start;
		if (ll == 0 || ll > 63 || o + 1 + ll + 1 > RPZ_WIRE_MAX)
			return 0;
		w[o++] = (uint8_t)ll;
		for (; start < i; start++)
			w[o++] = rpz_lower((uint8_t)t[start]);
		if (i == n)
			break;
		i++;
	}
	if (absolute) {
		w[o++] = 0;
		return o;
	}
	if (o + ol > RPZ_WIRE_MAX)
		return 0;
	memcpy(w + o, origin, ol);
	return o + ol;
}

static inline int
rpz_fast_is(const char *t, size_t n, const char *word)
{
	return strlen(word) == n && strncasecmp(t, word, n) == 0;
}

/*
 * The line at *POS (the start of a line) of Z's document, ORIGIN (OL
 * bytes) the current origin: a record into RR (its names in OWNER and
 * TARGET) and *POS past the line, a blank line skipped, or RPZ_FAST_LDNS
 * and nothing moved.
 */
static enum rpz_fast
rpz_fast_line(struct rpz *z, size_t *pos, const uint8_t *origin, size_t ol,
    struct rpz_rr *rr, uint8_t *owner, uint8_t *target, uint8_t *addr)
{
	const char *p = z->data + *pos, *end = z->data + z->len, *eol, *c;
	const char *tok[6];
	size_t tl[6], nt = 0, i, k;
	int blank_owner;

	if ((eol = memchr(p, '\n', (size_t)(end - p))) == NULL)
		eol = end;
	/* ldns refuses lines too long: it says so. */
	if (eol - p > RPZ_FAST_LINE_MAX)
		return RPZ_FAST_LDNS;
	if ((c = memchr(p, ';', (size_t)(eol - p))) == NULL)
		c = eol;
	if (p < c && p[0] == '$')
		return RPZ_FAST_LDNS;
	for (i = 0; p + i < c; i++) {
		uint8_t b = (uint8_t)p[i];

		if ((b < ' ' && b != '\t' && b != '\r') || b >= 0x7f ||
		    b == '(' || b == ')' || b == '"' || b == '\\')
			return RPZ_FAST_LDNS;
	}
	blank_owner = p < c && rpz_fast_space(p[0]);
	for (i = 0; p + i < c; ) {
		while (p + i < c && rpz_fast_space(p[i]))
			i++;
		if (p + i == c)
			break;
		if (nt == 6)
			return RPZ_FAST_LDNS;
		tok[nt] = p + i;
		while (p + i < c && !rpz_fast_space(p[i]))
			i++;
		tl[nt] = (size_t)(p + i - tok[nt]);
		nt++;
	}
	if (nt == 0) {
		/* ldns reads on over an empty line or a comment from the
		 * line's start as if they were not there; after a line of
		 * blanks it skips the line separators that follow. */
		if (p == eol || p[0] == ';')
			*pos = (size_t)(eol - z->data) + (eol < end);
		else
			*pos = rpz_fast_next(z, eol);
		return RPZ_FAST_BLANK;
	}
	/* The owner, the last one's for a line that starts blank. */
	k = 0;
	if (blank_owner) {
		if (z->pl == 0)
			return RPZ_FAST_LDNS;
		memcpy(owner, z->prev, z->pl);
		rr->wl = z->pl;
	} else if ((rr->wl = rpz_fast_name(tok[k++], tl[0], origin, ol,
	    owner)) == 0)
		return RPZ_FAST_LDNS;
	/* [TTL] [IN] TYPE, as ldns takes them: a TTL starts with a digit. */
	if (k < nt && tok[k][0] >= '0' && tok[k][0] <= '9') {
		if (tl[k] >= RPZ_FAST_TTL_MAX)
			return RPZ_FAST_LDNS;
		k++;
	}
	if (k < nt && rpz_fast_is(tok[k], tl[k], "IN"))
		k++;
	if (k + 2 != nt)
		return RPZ_FAST_LDNS;
	rr->owner = owner;
	rr->class = LDNS_RR_CLASS_IN;
	if (rpz_fast_is(tok[k], tl[k], "CNAME")) {
		rr->type = LDNS_RR_TYPE_CNAME;
		/* ldns takes a first label "@" as the origin: left to it. */
		if (tl[k + 1] > 1 && tok[k + 1][0] == '@')
			return RPZ_FAST_LDNS;
		if ((rr->rdlen = rpz_fast_name(tok[k + 1], tl[k + 1], origin,
		    ol, target)) == 0)
			return RPZ_FAST_LDNS;
		rr->rd = target;
	} else if (rpz_fast_is(tok[k], tl[k], "A") ||
	    rpz_fast_is(tok[k], tl[k], "AAAA")) {
		char a[INET6_ADDRSTRLEN];
		int v6 = tl[k] == 4;

		rr->type = v6 ? LDNS_RR_TYPE_AAAA : LDNS_RR_TYPE_A;
		if (tl[k + 1] >= sizeof(a))
			return RPZ_FAST_LDNS;
		memcpy(a, tok[k + 1], tl[k + 1]);
		a[tl[k + 1]] = '\0';
		if (inet_pton(v6 ? AF_INET6 : AF_INET, a, addr) != 1)
			return RPZ_FAST_LDNS;
		rr->rd = addr;
		rr->rdlen = v6 ? 16 : 4;
	} else
		return RPZ_FAST_LDNS;
	*pos = rpz_fast_next(z, eol);
	return RPZ_FAST_RR;
}

/* The fields of RR that a policy needs. */
static void
rr_fields(const ldns_rr *rr, struct rpz_rr *f)
{
	const ldns_rdf *own = ldns_rr_owner(rr), *rd;

	f->owner = own != NULL ? ldns_rdf_data(own) : NULL;
	f->wl = own != NULL ? ldns_rdf_size(own) : 0;
	f->type = (uint16_t)ldns_rr_get_type(rr);
	f->class = (uint16_t)ldns_rr_get_class(rr);
	rd = ldns_rr_rd_count(rr) == 1 ? ldns_rr_rdf(rr, 0) : NULL;
	f->rd = rd != NULL ? ldns_rdf_data(rd) : NULL;
	f->rdlen = rd != NULL ? ldns_rdf_size(rd) : 0;
}

/* Whether NAME is the zone's name. */
static int
rpz_is_zone(const struct rpz *z, const ldns_rdf *name)
{
	const uint8_t *d = ldns_rdf_data(name);
	size_t i;

	if (ldns_rdf_size(name) != z->ol)
		return 0;
	for (i = 0; i < z->ol; i++)
		if (rpz_lower(d[i]) != z->origin[i])
			return 0;
	return 1;
}

/*
 * ldns takes the name after $ORIGIN as absolute; a relative one (no final
 * dot) is relative to the origin before it.  The directive starts at byte
 * OFF of the document.
 */
static int
rpz_origin_relative(const struct rpz *z, size_t off)
{
	const char *p = z->data + off, *end = z->data + z->len, *t;

	if ((size_t)(end - p) < 8 || memcmp(p, "$ORIGIN", 7) != 0)
		return 0;
	for (p += 7; p < end && (*p == ' ' || *p == '\t'); p++)
		;
	for (t = p; t < end && *t != ' ' && *t != '\t' && *t != '\n' &&
	    *t != '\r' && *t != ';'; t++)
		;
	return t > p && (t[-1] != '.' || (t - p >= 2 && t[-2] == '\\'));
}

static long
rpz_parse(const struct rg_feed_settings *s, const char *data, size_t len,
    rg_feed_emit_cb *emit, void *arg, struct rg_feed_stats *st, char *msg,
    size_t msglen)
{
	struct rpz *z;
	FILE *fp = NULL;
	ldns_rdf *origin = NULL, *prev = NULL, *last = NULL, *own;
	ldns_rr *rr;
	struct rpz_rr frr;
	uint8_t fown[RPZ_WIRE_MAX], ftarget[RPZ_WIRE_MAX], faddr[16];
	enum rpz_fast fast;
	size_t pos = 0, fpos = 0;
	long npos;
	int prev_stale = 0;
	ldns_status ls;
	uint32_t ttl = 3600;
	unsigned long line = 0, good = 0, bad = 0;
	size_t i, start;
	long off, rc = 0;

	if (emit == NULL || st == NULL || (data == NULL && len > 0)) {
		rg_feed_say(msg, msglen, "no document or no callback");
		return -EINVAL;
	}
	if ((z = calloc(1, sizeof(*z))) == NULL) {
		rg_feed_say(msg, msglen, "out of memory");
		return -ENOMEM;
	}
	z->data = data;
	z->len = len;
	rg_feed_out_init(&z->out, emit, arg, st, msg, msglen);
	if (s != NULL && s->origin != NULL && s->origin[0] != '\0') {
		if ((origin = ldns_dname_new_frm_str(s->origin)) == NULL ||
		    ldns_rdf_size(origin) > RPZ_WIRE_MAX) {
			rg_feed_say(msg, msglen, "the zone name \"%.80s\" is "
			    "not a name", s->origin);
			rc = -EINVAL;
			goto out;
		}
		z->ol = ldns_rdf_size(origin);
		for (i = 0; i < z->ol; i++)
			z->origin[i] = rpz_lower(ldns_rdf_data(origin)[i]);
		if ((last = ldns_rdf_clone(origin)) == NULL)
			goto nomem;
	}
	if (len == 0)
		goto out;
	if ((fp = fmemopen((void *)(uintptr_t)data, len, "r")) == NULL) {
		rc = -errno;
		rg_feed_say(msg, msglen, "cannot read the zone: %s",
		    strerror(errno));
		goto out;
	}
	RPZ_NOLOCK(fp);
	for (;;) {
		/* A line the fast reader takes; at a line start only. */
		if (RPZ_FAST_READER && z->ol != 0 && origin != NULL &&
		    pos < len && (pos == 0 || data[pos - 1] == '\n')) {
			size_t at = pos;

			fast = rpz_fast_line(z, &pos, ldns_rdf_data(origin),
			    ldns_rdf_size(origin), &frr, fown, ftarget, faddr);
			if (fast == RPZ_FAST_BLANK)
				continue;
			if (fast == RPZ_FAST_RR) {
				line = rpz_line_at(z, at);
				good++;
				memcpy(z->prev, frr.owner, frr.wl);
				z->pl = frr.wl;
				prev_stale = 1;
				if ((rc = rpz_record(z, &frr, line)) < 0)
					goto out;
				continue;
			}
		}
		if (pos >= len)
			break;
		/* ldns reads on from where the fast reader stopped, with
		 * the owner it last read. */
		if (fpos != pos && fseek(fp, (long)pos, SEEK_SET) < 0)
			break;
		if (prev_stale) {
			ldns_rdf_deep_free(prev);
			if ((prev = ldns_rdf_new_frm_data(LDNS_RDF_TYPE_DNAME,
			    z->pl, z->prev)) == NULL)
				goto nomem;
			prev_stale = 0;
		}
		off = (long)pos;
		line = rpz_line_at(z, (size_t)off);
		start = z->scan;
		rr = NULL;
		ls = ldns_rr_new_frm_fp_l(&rr, fp, &ttl, &origin, &prev, NULL);
		if ((npos = ftell(fp)) < 0) {
			ldns_rr_free(rr);
			break;
		}
		fpos = pos = (size_t)npos;
		if (prev != NULL && (z->pl = ldns_rdf_size(prev)) <=
		    RPZ_WIRE_MAX)
			memcpy(z->prev, ldns_rdf_data(prev), z->pl);
		else
			z->pl = 0;
		if (ls == LDNS_STATUS_SYNTAX_EMPTY ||
		    ls == LDNS_STATUS_SYNTAX_TTL) {
			if (npos == off && !feof(fp))
				goto stuck;
			continue;
		}
		if (ls == LDNS_STATUS_SYNTAX_ORIGIN) {
			if (last != NULL && rpz_origin_relative(z, start) &&
			    (ldns_rdf_size(origin) - 1 + ldns_rdf_size(last) >
			    RPZ_WIRE_MAX || ldns_dname_cat(origin, last) !=
			    LDNS_STATUS_OK)) {
				bad++;
				rpz_skip(z, 0, line, "$ORIGIN too long");
				ldns_rdf_deep_free(origin);
				if ((origin = ldns_rdf_clone(last)) == NULL)
					goto nomem;
				continue;
			}
			ldns_rdf_deep_free(last);
			if ((last = ldns_rdf_clone(origin)) == NULL)
				goto nomem;
			continue;
		}
		if (ls == LDNS_STATUS_SYNTAX_INCLUDE) {
			bad++;
			rpz_skip(z, 0, line, "$INCLUDE refused: a feed does "
			    "not read files");
			continue;
		}
		if (ls == LDNS_STATUS_MEM_ERR)
			goto nomem;
		if (ls != LDNS_STATUS_OK) {
			/* A bad $ORIGIN leaves ldns without one. */
			if (origin == NULL && last != NULL &&
			    (origin = ldns_rdf_clone(last)) == NULL)
				goto nomem;
			bad++;
			rpz_skip(z, 0, line, "%s", ldns_get_errorstr_by_id(ls));
			if (npos == off && !feof(fp))
				goto stuck;
			continue;
		}
		if (ldns_rr_get_type(rr) == 0) {
			/* ldns reads a type name it does not know as 0. */
			ldns_rr_free(rr);
			bad++;
			rpz_skip(z, 0, line, "an unknown record type");
			continue;
		}
		good++;
		own = ldns_rr_owner(rr);
		if (z->ol == 0) {
			if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_SOA) {
				ldns_rr_free(rr);
				rg_feed_say(msg, msglen, "line %lu: no SOA and "
				    "no zone name", line);
				rc = -EINVAL;
				goto out;
			}
			if (ldns_rdf_size(own) <= 1 ||
			    ldns_rdf_size(own) > RPZ_WIRE_MAX) {
				ldns_rr_free(rr);
				rg_feed_say(msg, msglen, "line %lu: an SOA at "
				    "the root", line);
				rc = -EINVAL;
				goto out;
			}
			z->ol = ldns_rdf_size(own);
			for (i = 0; i < z->ol; i++)
				z->origin[i] = rpz_lower(ldns_rdf_data(own)[i]);
			/* Relative names below are relative to the zone. */
			if (origin == NULL && ((origin = ldns_rdf_clone(own)) ==
			    NULL || (last = ldns_rdf_clone(own)) == NULL)) {
				ldns_rr_free(rr);
				goto nomem;
			}
		} else if (good == 1 && ldns_rr_get_type(rr) ==
		    LDNS_RR_TYPE_SOA && !rpz_is_zone(z, own)) {
			ldns_rr_free(rr);
			rg_feed_say(msg, msglen, "line %lu: the SOA is not the "
			    "one of the zone %.80s", line, s->origin);
			rc = -EINVAL;
			goto out;
		}
		rr_fields(rr, &frr);
		rc = rpz_record(z, &frr, line);
		ldns_rr_free(rr);
		if (rc < 0)
			goto out;
	}
	if ((rc = rpz_owner_end(z)) < 0)
		goto out;
	if (good == 0 && bad > 0) {
		rg_feed_say(msg, msglen, "not a zone: nothing could be read "
		    "(%s)", st->first_skip);
		rc = -EINVAL;
		goto out;
	}
	if ((rc = rpz_locals_emit(z)) < 0)
		goto out;
	rc = z->out.emitted;
	goto out;
stuck:
	rg_feed_say(msg, msglen, "line %lu: the zone cannot be read past this "
	    "line", line);
	rc = -EINVAL;
	goto out;
nomem:
	rg_feed_say(msg, msglen, "out of memory");
	rc = -ENOMEM;
out:
	if (rc == -ENOMEM && msg != NULL && msglen > 0 && msg[0] == '\0')
		rg_feed_say(msg, msglen, "out of memory");
	if (fp != NULL)
		fclose(fp);
	ldns_rdf_deep_free(origin);
	ldns_rdf_deep_free(prev);
	ldns_rdf_deep_free(last);
	rpz_locals_free(&z->locals);
	free(z);
	return rc;
}

static const struct rg_feed_ops rpz_ops = {
	.parse = rpz_parse,
};

const struct rg_plugin rg_plugin = {
	.abi = RG_PLUGIN_ABI,
	.name = "rpz",
	.kind = RG_PLUGIN_FEED,
	.feed = &rpz_ops,
};
