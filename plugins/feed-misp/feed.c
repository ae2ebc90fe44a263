/*
 * feed-misp -- the "misp" feed format: the attributes of MISP events
 * turned into blocklist rules.
 *
 * A document is one event ({"Event": {...}}, or the event object alone),
 * an array of them (a MISP feed directory, as fetched), or the answer of
 * a REST search ({"response": [...]}).  The attributes of an event and of
 * its objects are used when they are meant for detection (to_ids) and not
 * deleted; MISP versions and exports disagree on the types of these flags
 * and of numbers, so booleans, 0/1 and their strings are all taken.
 * domain and hostname give a name rule (and "*.NAME" when the feed covers
 * subdomains), domain|ip a name and an IP rule, url the rule of its host,
 * ip-src and ip-dst (with or without |port) an IP rule, CIDR allowed;
 * other types are not for a resolver and are passed over without a word.
 * A rule's TLP is the most restrictive tlp: tag of the attribute or, when
 * it has none, of the event.
 */
#include <sys/socket.h>
#include <arpa/inet.h>

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "../plugin.h"

/* A larger document is not a feed but a mistake (or an attack). */
#define MISP_MAX_BYTES		(256 * 1024 * 1024)
/* Deeper nesting than any MISP event needs is refused before parsing,
 * whatever the JSON library's own limit. */
#define MISP_MAX_NESTING		100
#define MISP_NAME_MAX		253
#define MISP_PREFIX_MAX		(INET6_ADDRSTRLEN + 4)
#define MISP_ID_MAX		160

/* ---- small helpers, shared in spirit with feed-stix2 ---- */

/* TLP levels, least restrictive first: the highest of several wins. */
enum tlp {
	TLP_NONE = -1,
	TLP_CLEAR,
	TLP_GREEN,
	TLP_AMBER,
	TLP_AMBER_STRICT,
	TLP_RED,
	TLP_COUNT
};

static const char *const tlp_str[TLP_COUNT] = {
	"clear", "green", "amber", "amber+strict", "red"
};

/* A tag "tlp:LEVEL", TLP 1.0 or 2.0, any case; TLP_NONE for other tags. */
static enum tlp
tlp_tag(const char *s)
{
	int i;

	if (strncasecmp(s, "tlp:", 4) != 0)
		return TLP_NONE;
	s += 4;
	if (strcasecmp(s, "white") == 0)
		return TLP_CLEAR;
	for (i = 0; i < TLP_COUNT; i++)
		if (strcasecmp(s, tlp_str[i]) == 0)
			return (enum tlp)i;
	return TLP_NONE;
}

/* Replace what must not reach a log line or a JSON string: control
 * bytes, and bytes above ASCII (a cut could leave half a character). */
static void
ascii_only(char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < ' ' || (unsigned char)*s >= 0x7f)
			*s = '?';
}

/* Whether JSON text S (N bytes) nests arrays and objects MAX deep at most. */
static int
nesting_ok(const char *s, size_t n, int max)
{
	size_t i;
	int depth = 0, str = 0;

	for (i = 0; i < n; i++) {
		if (str) {
			if (s[i] == '\\')
				i++;
			else if (s[i] == '"')
				str = 0;
			continue;
		}
		if (s[i] == '"')
			str = 1;
		else if (s[i] == '[' || s[i] == '{') {
			if (++depth > max)
				return 0;
		} else if (s[i] == ']' || s[i] == '}')
			depth--;
	}
	return 1;
}

static void
say(char *msg, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (msg == NULL || len == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, len, fmt, ap);
	va_end(ap);
	ascii_only(msg);
}

/* Count an entry that could not be used in *COUNTER, and describe it if it
 * is the first. */
static void
skip(struct rg_feed_stats *st, uint64_t *counter, const char *fmt, ...)
{
	va_list ap;

	(*counter)++;
	if (st->first_skip[0] != '\0')
		return;
	va_start(ap, fmt);
	vsnprintf(st->first_skip, sizeof(st->first_skip), fmt, ap);
	va_end(ap);
	ascii_only(st->first_skip);
}

/*
 * Domain name S (N bytes) lowercased into OUT (MISP_NAME_MAX + 1 bytes),
 * without its final dot.  0, or -EINVAL with *WHY saying what is wrong.
 * Hostname-like names only: letters, digits, "-" and "_"; the last label
 * not all digits (that is an address).  A name in UTF-8 is refused: MISP
 * keeps internationalized names in punycode.
 */
static int
name_norm(const char *s, size_t n, char *out, const char **why)
{
	size_t i, ll = 0;
	int numeric = 1;
	unsigned char c;

	if (n > 0 && s[n - 1] == '.')
		n--;
	if (n == 0) {
		*why = "empty name";
		return -EINVAL;
	}
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] >= 0x80) {
			*why = "not ASCII (an internationalized name must "
			    "come in punycode, xn--)";
			return -EINVAL;
		}
	if (n > MISP_NAME_MAX) {
		*why = "name longer than 253 characters";
		return -EINVAL;
	}
	for (i = 0; i < n; i++) {
		c = (unsigned char)s[i];
		if (c == '.') {
			if (ll == 0)
				goto empty;
			ll = 0;
			numeric = 1;
			out[i] = '.';
			continue;
		}
		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c - 'A' + 'a');
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_')) {
			*why = "a character not allowed in a name";
			return -EINVAL;
		}
		if (c < '0' || c > '9')
			numeric = 0;
		if (++ll > 63) {
			*why = "label longer than 63 characters";
			return -EINVAL;
		}
		out[i] = (char)c;
	}
	if (ll == 0)
		goto empty;
	if (numeric) {
		*why = "an address, not a name";
		return -EINVAL;
	}
	out[n] = '\0';
	return 0;
empty:
	*why = "empty label";
	return -EINVAL;
}

/*
 * Address or CIDR prefix S (N bytes) of family AF (AF_UNSPEC: either) in
 * canonical form into OUT (MISP_PREFIX_MAX bytes), host bits cleared and
 * "/32" or "/128" dropped.  0, or -EINVAL with *WHY.
 */
static int
prefix_norm(const char *s, size_t n, int af, char *out, const char **why)
{
	char a[INET6_ADDRSTRLEN + 1];
	unsigned char buf[16];
	const char *slash;
	size_t alen, i;
	unsigned plen, max;
	int fam;

	slash = memchr(s, '/', n);
	alen = slash != NULL ? (size_t)(slash - s) : n;
	if (alen == 0 || alen >= sizeof(a))
		goto bad;
	memcpy(a, s, alen);
	a[alen] = '\0';
	if (af != AF_INET6 && inet_pton(AF_INET, a, buf) == 1) {
		fam = AF_INET;
		max = 32;
	} else if (af != AF_INET && inet_pton(AF_INET6, a, buf) == 1) {
		fam = AF_INET6;
		max = 128;
	} else
		goto bad;
	plen = max;
	if (slash != NULL) {
		if (n - alen < 2 || n - alen > 4) {
			*why = "bad prefix length";
			return -EINVAL;
		}
		plen = 0;
		for (i = alen + 1; i < n; i++) {
			if (s[i] < '0' || s[i] > '9') {
				*why = "bad prefix length";
				return -EINVAL;
			}
			plen = plen * 10 + (unsigned)(s[i] - '0');
		}
		if (plen > max) {
			*why = "prefix length out of range";
			return -EINVAL;
		}
	}
	for (i = 0; i < max / 8; i++) {
		if (i * 8 >= plen)
			buf[i] = 0;
		else if (i * 8 + 8 > plen)
			buf[i] &= (unsigned char)(0xff << (8 - (plen - i * 8)));
	}
	if (inet_ntop(fam, buf, out, MISP_PREFIX_MAX) == NULL)
		goto bad;
	if (plen != max)
		snprintf(out + strlen(out), MISP_PREFIX_MAX - strlen(out),
		    "/%u", plen);
	return 0;
bad:
	*why = af == AF_INET6 ? "not an IPv6 address" : "not an address";
	return -EINVAL;
}

/*
 * The host of URL S (N bytes) into *HOST and *HLEN, without userinfo,
 * port or brackets; *BRACKETED for "[v6]".  A URL without a scheme is
 * taken as "host[:port]/path"; one with a scheme but no "//" ("mailto:")
 * has no host.  0, or -EINVAL with *WHY.
 */
static int
url_host(const char *s, size_t n, const char **host, size_t *hlen,
    int *bracketed, const char **why)
{
	const char *p = s, *end = s + n, *q, *d, *auth, *aend, *h, *he;

	for (q = p; q < end && ((*q >= 'a' && *q <= 'z') ||
	    (*q >= 'A' && *q <= 'Z') || (q > p && ((*q >= '0' && *q <= '9') ||
	    *q == '+' || *q == '-' || *q == '.'))); q++)
		;
	if (q > p && end - q >= 3 && memcmp(q, "://", 3) == 0)
		p = q + 3;
	else if (end - p >= 2 && memcmp(p, "//", 2) == 0)
		p += 2;
	else if (q > p && q < end && *q == ':') {
		/* "host:port" or "scheme:", told apart by the digits. */
		for (d = q + 1; d < end && *d >= '0' && *d <= '9'; d++)
			;
		if (d == q + 1 || (d < end && *d != '/' && *d != '?' &&
		    *d != '#')) {
			*why = "no host (no \"//\" after the scheme)";
			return -EINVAL;
		}
	}
	auth = p;
	for (aend = auth; aend < end && *aend != '/' && *aend != '?' &&
	    *aend != '#' && *aend != '\\'; aend++)
		;
	h = auth;
	for (q = auth; q < aend; q++)
		if (*q == '@')
			h = q + 1;
	*bracketed = 0;
	if (h < aend && *h == '[') {
		if ((he = memchr(h, ']', (size_t)(aend - h))) == NULL) {
			*why = "no \"]\" after an IPv6 address";
			return -EINVAL;
		}
		*bracketed = 1;
		*host = h + 1;
		*hlen = (size_t)(he - h - 1);
		q = he + 1;
	} else {
		for (he = h; he < aend && *he != ':'; he++)
			;
		*host = h;
		*hlen = (size_t)(he - h);
		q = he;
	}
	if (q < aend) {
		if (*q != ':') {
			*why = "text after the host";
			return -EINVAL;
		}
		for (q++; q < aend; q++)
			if (*q < '0' || *q > '9') {
				*why = "bad port";
				return -EINVAL;
			}
	}
	if (*hlen == 0) {
		*why = "no host";
		return -EINVAL;
	}
	return 0;
}

/*
 * Host H (N bytes) of a URL, BRACKETED or not, as a rule: an IP rule for
 * an address, a QNAME rule for a name, its text into OUT (MISP_NAME_MAX +
 * 1 bytes).  0 or -EINVAL with *WHY.
 */
static int
host_rule(const char *h, size_t n, int bracketed,
    enum rg_feed_trigger *trigger, char *out, const char **why)
{
	const char *v4why;

	*trigger = RG_FEED_IP;
	if (bracketed)
		return prefix_norm(h, n, AF_INET6, out, why);
	if (memchr(h, '/', n) == NULL &&
	    prefix_norm(h, n, AF_INET, out, &v4why) == 0)
		return 0;
	*trigger = RG_FEED_QNAME;
	return name_norm(h, n, out, why);
}

/* ---- events and attributes ---- */

/* What an attribute type gives. */
enum kind {
	K_NONE,
	K_NAME,			/* domain, hostname */
	K_NAME_IP,		/* domain|ip */
	K_URL,			/* url */
	K_IP,			/* ip-src, ip-dst */
	K_IP_PORT		/* ip-src|port, ip-dst|port */
};

static const struct {
	const char *type;
	enum kind kind;
} misp_types[] = {
	{ "domain", K_NAME },
	{ "hostname", K_NAME },
	{ "domain|ip", K_NAME_IP },
	{ "url", K_URL },
	{ "ip-dst", K_IP },
	{ "ip-src", K_IP },
	{ "ip-dst|port", K_IP_PORT },
	{ "ip-src|port", K_IP_PORT },
};

struct mctx {
	const struct rg_feed_settings *s;
	rg_feed_emit_cb *emit;
	void *arg;
	struct rg_feed_stats *st;
	long emitted;
	char *msg;
	size_t msglen;
};

/* A rule of an attribute before it is handed over. */
struct mrule {
	enum rg_feed_trigger trigger;
	char text[MISP_NAME_MAX + 3];
};

/* A flag: true, false, 1, 0, "1", "0", "true", "false".  1, 0, DFLT when
 * absent or null, -1 for anything else. */
static int
lax_bool(json_t *v, int dflt)
{
	const char *s;
	json_int_t i;

	if (v == NULL || json_is_null(v))
		return dflt;
	if (json_is_boolean(v))
		return json_is_true(v);
	if (json_is_integer(v)) {
		i = json_integer_value(v);
		return i == 0 || i == 1 ? (int)i : -1;
	}
	if ((s = json_string_value(v)) != NULL) {
		if (strcmp(s, "1") == 0 || strcasecmp(s, "true") == 0)
			return 1;
		if (strcmp(s, "0") == 0 || strcasecmp(s, "false") == 0)
			return 0;
	}
	return -1;
}

/* An id that may come as a string or a number into BUF; NULL if none. */
static const char *
lax_id(json_t *v, char *buf, size_t len)
{
	const char *s;

	if ((s = json_string_value(v)) != NULL && s[0] != '\0')
		return s;
	if (json_is_integer(v)) {
		snprintf(buf, len, "%lld", (long long)json_integer_value(v));
		return buf;
	}
	return NULL;
}

/* The most restrictive tlp: tag of TAGS ([{"name": ...}] or names). */
static enum tlp
tags_tlp(json_t *tags)
{
	enum tlp t, best = TLP_NONE;
	const char *name;
	json_t *v;
	size_t i;

	json_array_foreach(tags, i, v) {
		if ((name = json_string_value(v)) == NULL &&
		    (name = json_string_value(json_object_get(v, "name"))) ==
		    NULL)
			continue;
		if ((t = tlp_tag(name)) > best)
			best = t;
	}
	return best;
}

static void
trim(const char **s, size_t *n)
{
	while (*n > 0 && (**s == ' ' || **s == '\t' || **s == '\r' ||
	    **s == '\n')) {
		(*s)++;
		(*n)--;
	}
	while (*n > 0 && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t' ||
	    (*s)[*n - 1] == '\r' || (*s)[*n - 1] == '\n'))
		(*n)--;
}

/* The rules of value V (N bytes) of kind K into R (3 at most); how many,
 * or -EINVAL with *WHY. */
static int
value_rules(const struct mctx *c, enum kind k, const char *v, size_t n,
    struct mrule *r, const char **why)
{
	const char *bar, *host;
	size_t hlen, nl = n;
	int br, nr = 0;

	bar = memchr(v, '|', n);
	switch (k) {
	case K_NAME_IP:
		if (bar == NULL) {
			*why = "no \"|\" between the name and the address";
			return -EINVAL;
		}
		nl = (size_t)(bar - v);
		/* FALLTHROUGH */
	case K_NAME:
		r[nr].trigger = RG_FEED_QNAME;
		if (name_norm(v, nl, r[nr].text, why) < 0)
			return -EINVAL;
		nr++;
		if (c->s->subdomains) {
			r[nr].trigger = RG_FEED_QNAME;
			r[nr].text[0] = '*';
			r[nr].text[1] = '.';
			memcpy(r[nr].text + 2, r[nr - 1].text,
			    strlen(r[nr - 1].text) + 1);
			nr++;
		}
		if (k == K_NAME)
			break;
		r[nr].trigger = RG_FEED_IP;
		if (prefix_norm(bar + 1, n - nl - 1, AF_UNSPEC, r[nr].text,
		    why) < 0)
			return -EINVAL;
		nr++;
		break;
	case K_URL:
		if (url_host(v, n, &host, &hlen, &br, why) < 0 ||
		    host_rule(host, hlen, br, &r[nr].trigger, r[nr].text,
		    why) < 0)
			return -EINVAL;
		nr++;
		break;
	case K_IP_PORT:
		if (bar == NULL) {
			*why = "no \"|\" between the address and the port";
			return -EINVAL;
		}
		nl = (size_t)(bar - v);
		/* FALLTHROUGH */
	case K_IP:
		r[nr].trigger = RG_FEED_IP;
		if (prefix_norm(v, nl, AF_UNSPEC, r[nr].text, why) < 0)
			return -EINVAL;
		nr++;
		break;
	case K_NONE:
		break;
	}
	return nr;
}

/*
 * Use attribute A, the IDX-th of event EV (EVID) or of one of its
 * objects (deleted when ODEL); EVTLP is the event's TLP.  0 or the
 * negative code of emit.
 */
static int
attr_use(struct mctx *c, json_t *a, const char *evid, size_t idx,
    enum tlp evtlp, int odel)
{
	struct rg_feed_stats *st = c->st;
	struct rg_feed_rule r;
	struct mrule rules[3];
	enum kind k = K_NONE;
	enum tlp tlp;
	char idbuf[MISP_ID_MAX], num[32];
	const char *type, *id, *aid, *v, *why = NULL;
	json_t *jv;
	size_t i, n;
	int del, ids, nr, rc;

	if (!json_is_object(a)) {
		skip(st, &st->skipped, "event %s: attribute %zu is not an "
		    "object", evid, idx);
		return 0;
	}
	if ((type = json_string_value(json_object_get(a, "type"))) == NULL) {
		skip(st, &st->skipped, "event %s: attribute %zu has no type",
		    evid, idx);
		return 0;
	}
	for (i = 0; i < sizeof(misp_types) / sizeof(misp_types[0]); i++)
		if (strcmp(misp_types[i].type, type) == 0)
			k = misp_types[i].kind;
	if (k == K_NONE)
		return 0;
	if ((id = json_string_value(json_object_get(a, "uuid"))) == NULL ||
	    id[0] == '\0') {
		if ((aid = lax_id(json_object_get(a, "id"), num,
		    sizeof(num))) != NULL)
			snprintf(idbuf, sizeof(idbuf), "%s/%s", evid, aid);
		else
			snprintf(idbuf, sizeof(idbuf), "%s/#%zu", evid, idx);
		id = idbuf;
	}
	del = lax_bool(json_object_get(a, "deleted"), 0);
	ids = lax_bool(json_object_get(a, "to_ids"), 0);
	if (del < 0 || ids < 0) {
		skip(st, &st->skipped, "%s: %s is not a flag", id, del < 0 ?
		    "deleted" : "to_ids");
		return 0;
	}
	if (del || odel || !ids) {
		st->revoked++;
		return 0;
	}
	if ((jv = json_object_get(a, "value")) == NULL ||
	    (v = json_string_value(jv)) == NULL) {
		skip(st, &st->skipped, "%s: %s without a value", id, type);
		return 0;
	}
	n = json_string_length(jv);
	trim(&v, &n);
	if ((nr = value_rules(c, k, v, n, rules, &why)) < 0) {
		skip(st, &st->skipped, "%s: %s \"%.*s%s\": %s", id, type,
		    (int)(n > 80 ? 80 : n), v, n > 80 ? "..." : "", why);
		return 0;
	}
	if ((tlp = tags_tlp(json_object_get(a, "Tag"))) == TLP_NONE)
		tlp = evtlp;
	for (i = 0; i < (size_t)nr; i++) {
		memset(&r, 0, sizeof(r));
		r.trigger = rules[i].trigger;
		if (r.trigger == RG_FEED_QNAME)
			r.name = rules[i].text;
		else
			r.prefix = rules[i].text;
		r.action = RG_FEED_POLICY;
		r.indicator = id;
		r.tlp = tlp == TLP_NONE ? NULL : tlp_str[tlp];
		if (c->emit != NULL && (rc = c->emit(c->arg, &r)) < 0) {
			say(c->msg, c->msglen, "%s: rule %s not taken (%s)",
			    id, rules[i].text, strerror(-rc));
			return rc;
		}
		c->emitted++;
		st->rules++;
	}
	return 0;
}

/* The attributes of event EV and of its objects; 0 or emit's code. */
static int
event_use(struct mctx *c, json_t *ev)
{
	struct rg_feed_stats *st = c->st;
	char evbuf[MISP_ID_MAX], num[32];
	const char *evid;
	json_t *a, *o, *attrs, *objs;
	enum tlp evtlp;
	size_t i, j, idx = 0;
	int odel, rc;

	if ((evid = json_string_value(json_object_get(ev, "uuid"))) == NULL ||
	    evid[0] == '\0') {
		if ((evid = lax_id(json_object_get(ev, "id"), num,
		    sizeof(num))) == NULL)
			evid = "?";
	}
	snprintf(evbuf, sizeof(evbuf), "%s", evid);
	evtlp = tags_tlp(json_object_get(ev, "Tag"));
	attrs = json_object_get(ev, "Attribute");
	objs = json_object_get(ev, "Object");
	if ((attrs != NULL && !json_is_array(attrs)) ||
	    (objs != NULL && !json_is_array(objs))) {
		skip(st, &st->skipped, "event %s: %s is not an array", evbuf,
		    attrs != NULL && !json_is_array(attrs) ? "Attribute" :
		    "Object");
		return 0;
	}
	json_array_foreach(attrs, i, a)
		if ((rc = attr_use(c, a, evbuf, idx++, evtlp, 0)) < 0)
			return rc;
	json_array_foreach(objs, i, o) {
		if (!json_is_object(o)) {
			skip(st, &st->skipped, "event %s: object %zu is not an "
			    "object", evbuf, i);
			continue;
		}
		/* A deleted object takes its attributes with it. */
		if ((odel = lax_bool(json_object_get(o, "deleted"), 0)) < 0)
			odel = 0;
		attrs = json_object_get(o, "Attribute");
		json_array_foreach(attrs, j, a)
			if ((rc = attr_use(c, a, evbuf, idx++, evtlp,
			    odel)) < 0)
				return rc;
	}
	return 0;
}

static int
is_event(json_t *o)
{
	return json_object_get(o, "Attribute") != NULL ||
	    json_object_get(o, "Object") != NULL;
}

/* One entry of an array: {"Event": {...}} or the event alone. */
static int
entry_use(struct mctx *c, json_t *e, const char *where, size_t i)
{
	struct rg_feed_stats *st = c->st;
	json_t *ev;

	if (json_is_object(ev = json_object_get(e, "Event")))
		return event_use(c, ev);
	if (json_is_object(e) && ev == NULL && is_event(e))
		return event_use(c, e);
	skip(st, &st->skipped, "%s[%zu]: not a MISP event", where, i);
	return 0;
}

static int
entries_use(struct mctx *c, json_t *arr, const char *where)
{
	json_t *e;
	size_t i;
	int rc;

	json_array_foreach(arr, i, e)
		if ((rc = entry_use(c, e, where, i)) < 0)
			return rc;
	return 0;
}

static long
misp_parse(const struct rg_feed_settings *s, const char *data, size_t len,
    rg_feed_emit_cb *emit, void *arg, struct rg_feed_stats *st, char *msg,
    size_t msglen)
{
	static const struct rg_feed_settings none;
	struct mctx c;
	json_error_t je;
	json_t *root, *v;
	long rc;

	if (msg != NULL && msglen > 0)
		msg[0] = '\0';
	memset(&c, 0, sizeof(c));
	c.s = s != NULL ? s : &none;
	c.emit = emit;
	c.arg = arg;
	c.st = st;
	c.msg = msg;
	c.msglen = msglen;
	if (len > MISP_MAX_BYTES) {
		say(msg, msglen, "document of %zu bytes, more than %d MB",
		    len, MISP_MAX_BYTES / (1024 * 1024));
		return -EFBIG;
	}
	if (len >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0) {
		data += 3;
		len -= 3;
	}
	if (!nesting_ok(data, len, MISP_MAX_NESTING)) {
		say(msg, msglen, "nested more than %d levels deep",
		    MISP_MAX_NESTING);
		return -EINVAL;
	}
	if ((root = json_loadb(data, len, 0, &je)) == NULL) {
#if JANSSON_VERSION_HEX >= 0x020b00
		if (json_error_code(&je) == json_error_out_of_memory) {
			say(msg, msglen, "out of memory");
			return -ENOMEM;
		}
#endif
		say(msg, msglen, "not JSON: line %d, column %d: %s", je.line,
		    je.column, je.text);
		return -EINVAL;
	}
	rc = -EINVAL;
	if (json_is_array(root))
		rc = entries_use(&c, root, "entries");
	else if (!json_is_object(root))
		say(msg, msglen, "not a JSON object or array");
	else if ((v = json_object_get(root, "Event")) != NULL) {
		if (json_is_object(v))
			rc = event_use(&c, v);
		else
			say(msg, msglen, "\"Event\" is not an object");
	} else if ((v = json_object_get(root, "response")) != NULL) {
		if (json_is_array(v))
			rc = entries_use(&c, v, "response");
		else if (json_is_object(v) && (json_is_object(json_object_get(v,
		    "Event")) || is_event(v)))
			rc = entry_use(&c, v, "response", 0);
		else
			say(msg, msglen, "\"response\" holds no MISP event");
	} else if (is_event(root))
		rc = event_use(&c, root);
	else
		say(msg, msglen, "not a MISP event, nor an array of events, "
		    "nor a search result");
	json_decref(root);
	return rc < 0 ? rc : c.emitted;
}

static const struct rg_feed_ops misp_ops = {
	.parse = misp_parse,
};

const struct rg_plugin rg_plugin = {
	.abi = RG_PLUGIN_ABI,
	.name = "misp",
	.kind = RG_PLUGIN_FEED,
	.feed = &misp_ops,
};
