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
 * A name or a URL host in Unicode gives the rule of its punycode.
 * A rule's TLP is the most restrictive tlp: tag of the attribute or, when
 * it has none, of the event.
 */
#include <sys/socket.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "../plugin.h"
#include "../lib/feedjson.h"
#include "../lib/feedutil.h"

#define MISP_ID_MAX		160

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
	struct rg_feed_out out;
};

/* A rule of an attribute before it is handed over. */
struct mrule {
	enum rg_feed_trigger trigger;
	char text[RG_NAME_MAX + 3];
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
static enum rg_tlp
tags_tlp(json_t *tags)
{
	enum rg_tlp t, best = RG_TLP_NONE;
	const char *name;
	json_t *v;
	size_t i;

	json_array_foreach(tags, i, v) {
		if ((name = json_string_value(v)) == NULL &&
		    (name = json_string_value(json_object_get(v, "name"))) ==
		    NULL)
			continue;
		if ((t = rg_tlp_tag(name)) > best)
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
		if (rg_name_norm(v, nl, 0, r[nr].text, why) < 0)
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
		if (rg_prefix_norm(bar + 1, n - nl - 1, AF_UNSPEC, r[nr].text,
		    why) < 0)
			return -EINVAL;
		nr++;
		break;
	case K_URL:
		if (rg_url_host(v, n, &host, &hlen, &br, why) < 0 ||
		    rg_host_rule(host, hlen, br, &r[nr].trigger, r[nr].text,
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
		if (rg_prefix_norm(v, nl, AF_UNSPEC, r[nr].text, why) < 0)
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
    enum rg_tlp evtlp, int odel)
{
	struct rg_feed_stats *st = c->out.st;
	struct mrule rules[3];
	enum kind k = K_NONE;
	enum rg_tlp tlp;
	char idbuf[MISP_ID_MAX], num[32];
	const char *type, *id, *aid, *v, *why = NULL;
	json_t *jv;
	size_t i, n;
	int del, ids, nr, rc;

	if (!json_is_object(a)) {
		rg_feed_skip(st, &st->skipped, "event %s: attribute %zu is "
		    "not an object", evid, idx);
		return 0;
	}
	if ((type = json_string_value(json_object_get(a, "type"))) == NULL) {
		rg_feed_skip(st, &st->skipped, "event %s: attribute %zu has "
		    "no type", evid, idx);
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
		rg_feed_skip(st, &st->skipped, "%s: %s is not a flag", id,
		    del < 0 ? "deleted" : "to_ids");
		return 0;
	}
	if (del || odel || !ids) {
		st->revoked++;
		return 0;
	}
	if ((jv = json_object_get(a, "value")) == NULL ||
	    (v = json_string_value(jv)) == NULL) {
		rg_feed_skip(st, &st->skipped, "%s: %s without a value", id,
		    type);
		return 0;
	}
	n = json_string_length(jv);
	trim(&v, &n);
	if ((nr = value_rules(c, k, v, n, rules, &why)) < 0) {
		rg_feed_skip(st, &st->skipped, "%s: %s \"%.*s%s\": %s", id,
		    type, (int)(n > 80 ? 80 : n), v, n > 80 ? "..." : "", why);
		return 0;
	}
	if ((tlp = tags_tlp(json_object_get(a, "Tag"))) == RG_TLP_NONE)
		tlp = evtlp;
	for (i = 0; i < (size_t)nr; i++)
		if ((rc = rg_feed_policy(&c->out, rules[i].trigger,
		    rules[i].text, id, tlp)) < 0)
			return rc;
	return 0;
}

/* The attributes of event EV and of its objects; 0 or emit's code. */
static int
event_use(struct mctx *c, json_t *ev)
{
	struct rg_feed_stats *st = c->out.st;
	char evbuf[MISP_ID_MAX], num[32];
	const char *evid;
	json_t *a, *o, *attrs, *objs;
	enum rg_tlp evtlp;
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
		rg_feed_skip(st, &st->skipped, "event %s: %s is not an array",
		    evbuf, attrs != NULL && !json_is_array(attrs) ?
		    "Attribute" : "Object");
		return 0;
	}
	json_array_foreach(attrs, i, a)
		if ((rc = attr_use(c, a, evbuf, idx++, evtlp, 0)) < 0)
			return rc;
	json_array_foreach(objs, i, o) {
		if (!json_is_object(o)) {
			rg_feed_skip(st, &st->skipped, "event %s: object %zu "
			    "is not an object", evbuf, i);
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
	struct rg_feed_stats *st = c->out.st;
	json_t *ev;

	if (json_is_object(ev = json_object_get(e, "Event")))
		return event_use(c, ev);
	if (json_is_object(e) && ev == NULL && is_event(e))
		return event_use(c, e);
	rg_feed_skip(st, &st->skipped, "%s[%zu]: not a MISP event", where, i);
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
	json_t *root, *v;
	long rc;

	memset(&c, 0, sizeof(c));
	c.s = s != NULL ? s : &none;
	rg_feed_out_init(&c.out, emit, arg, st, msg, msglen);
	if ((rc = rg_json_load(data, len, &root, msg, msglen)) < 0)
		return rc;
	rc = -EINVAL;
	if (json_is_array(root))
		rc = entries_use(&c, root, "entries");
	else if (!json_is_object(root))
		rg_feed_say(msg, msglen, "not a JSON object or array");
	else if ((v = json_object_get(root, "Event")) != NULL) {
		if (json_is_object(v))
			rc = event_use(&c, v);
		else
			rg_feed_say(msg, msglen, "\"Event\" is not an object");
	} else if ((v = json_object_get(root, "response")) != NULL) {
		if (json_is_array(v))
			rc = entries_use(&c, v, "response");
		else if (json_is_object(v) && (json_is_object(json_object_get(v,
		    "Event")) || is_event(v)))
			rc = entry_use(&c, v, "response", 0);
		else
			rg_feed_say(msg, msglen, "\"response\" holds no MISP "
			    "event");
	} else if (is_event(root))
		rc = event_use(&c, root);
	else
		rg_feed_say(msg, msglen, "not a MISP event, nor an array of "
		    "events, nor a search result");
	json_decref(root);
	return rc < 0 ? rc : c.out.emitted;
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
