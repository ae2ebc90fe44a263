/*
 * feed-stix2 -- the "stix2" feed format: indicators of a STIX 2.1 bundle,
 * of a TAXII 2.1 envelope ({"more": ..., "objects": [...]}) or of a bare
 * JSON array of STIX objects, turned into blocklist rules.
 *
 * Only indicators with a STIX pattern are used, and only the patterns
 * that a resolver can act on without losing soundness: observations of
 * domain-name, url, ipv4-addr and ipv6-addr values compared with "=" or
 * IN, joined by OR (or by AND when one value satisfies every comparison).
 * Anything else (NOT, MATCHES, ranges, other objects, qualifiers, AND or
 * FOLLOWEDBY between observations, which need correlation) makes the
 * whole indicator unsupported: an indicator is used whole or not at all.
 * Of several versions of one indicator the latest "modified" wins; revoked,
 * expired and not yet valid ones and those below the feed's minimum
 * confidence give no rule.  The earliest time an indicator starts or stops
 * being valid is the stats' next_change: the agent parses the bundle again
 * then, and not before unless it changes.  A domain-name gives NAME (and
 * "*.NAME" when the feed covers subdomains); a URL gives its host only; a
 * name or a host in Unicode gives the rule of its punycode; an address or a
 * CIDR prefix gives an IP rule.  The TLP of a rule is the most restrictive
 * of the indicator's TLP markings, TLP 1.0 or 2.0, by their well-known ids
 * or by marking-definitions in the document.
 */
#include <sys/socket.h>

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "../plugin.h"
#include "../lib/feedjson.h"
#include "../lib/feedutil.h"

/* Nesting of parentheses in a pattern. */
#define STIX_MAX_DEPTH		64
#define STIX_TLP2_EXT \
	"extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"

/* The marking-definitions every STIX producer may refer to by id alone. */
static const struct {
	const char *id;
	enum rg_tlp tlp;
} tlp_known[] = {
	/* TLP 2.0 (OASIS TLP 2.0 extension) */
	{ "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
	    RG_TLP_CLEAR },
	{ "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
	    RG_TLP_GREEN },
	{ "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
	    RG_TLP_AMBER },
	{ "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
	    RG_TLP_AMBER_STRICT },
	{ "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
	    RG_TLP_RED },
	/* TLP 1.0 (STIX 2.1 section 7.2.1.4) */
	{ "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9",
	    RG_TLP_CLEAR },
	{ "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da",
	    RG_TLP_GREEN },
	{ "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82",
	    RG_TLP_AMBER },
	{ "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed",
	    RG_TLP_RED },
};

/* ---- RFC 3339 timestamps ---- */

struct ts {
	int64_t sec;
	long nsec;
};

static int
digits(const char *s, int n, int64_t *v)
{
	int i;

	*v = 0;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		*v = *v * 10 + (s[i] - '0');
	}
	return 1;
}

/* Days since 1970-01-01 of a proleptic Gregorian date. */
static int64_t
days_from_civil(int64_t y, int64_t m, int64_t d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* "2024-05-01T12:00:00.123Z" (or an offset) to T; 0 or -EINVAL. */
static int
ts_parse(const char *s, struct ts *t)
{
	static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31,
	    30, 31 };
	int64_t y, mo, d, h, mi, se, oh, om, off = 0;
	long ns = 0;
	int nd = 0, dim;

	if (!digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) ||
	    s[7] != '-' || !digits(s + 8, 2, &d) ||
	    (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
	    !digits(s + 11, 2, &h) || s[13] != ':' || !digits(s + 14, 2, &mi) ||
	    s[16] != ':' || !digits(s + 17, 2, &se))
		return -EINVAL;
	s += 19;
	if (*s == '.') {
		for (s++; *s >= '0' && *s <= '9'; s++, nd++)
			if (nd < 9)
				ns = ns * 10 + (*s - '0');
		if (nd == 0)
			return -EINVAL;
		for (; nd < 9; nd++)
			ns *= 10;
	}
	if (*s == 'Z' || *s == 'z')
		s++;
	else if (*s == '+' || *s == '-') {
		if (!digits(s + 1, 2, &oh) || s[3] != ':' ||
		    !digits(s + 4, 2, &om) || oh > 23 || om > 59)
			return -EINVAL;
		off = (oh * 3600 + om * 60) * (*s == '-' ? -1 : 1);
		s += 6;
	} else
		return -EINVAL;
	if (*s != '\0' || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 ||
	    se > 60)
		return -EINVAL;
	dim = mdays[mo - 1];
	if (mo == 2 && y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))
		dim = 29;
	if (d > dim)
		return -EINVAL;
	t->sec = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se -
	    off;
	t->nsec = ns;
	return 0;
}

static int
ts_cmp(const struct ts *a, const struct ts *b)
{
	if (a->sec != b->sec)
		return a->sec < b->sec ? -1 : 1;
	if (a->nsec != b->nsec)
		return a->nsec < b->nsec ? -1 : 1;
	return 0;
}

/* ---- the patterning language ---- */

enum tk {
	TK_EOF, TK_ERR,
	TK_LBRACK, TK_RBRACK, TK_LPAREN, TK_RPAREN, TK_COMMA, TK_COLON,
	TK_DOT, TK_STAR, TK_EQ, TK_NEQ, TK_LT, TK_LE, TK_GT, TK_GE,
	TK_STRING, TK_INT, TK_FLOAT, TK_BINARY, TK_HEX, TK_TIME, TK_BOOL,
	TK_IDENT,		/* letters, digits, "_" */
	TK_IDENT_H,		/* with a "-" too: object types */
	TK_AND, TK_OR, TK_NOT, TK_FOLLOWEDBY, TK_LIKE, TK_MATCHES,
	TK_ISSUBSET, TK_ISSUPERSET, TK_IN, TK_EXISTS, TK_START, TK_STOP,
	TK_WITHIN, TK_SECONDS, TK_REPEATS, TK_TIMES
};

static const struct {
	const char *word;
	enum tk tk;
} pat_keywords[] = {
	{ "AND", TK_AND }, { "OR", TK_OR }, { "NOT", TK_NOT },
	{ "FOLLOWEDBY", TK_FOLLOWEDBY }, { "LIKE", TK_LIKE },
	{ "MATCHES", TK_MATCHES }, { "ISSUBSET", TK_ISSUBSET },
	{ "ISSUPERSET", TK_ISSUPERSET }, { "IN", TK_IN },
	{ "EXISTS", TK_EXISTS }, { "START", TK_START }, { "STOP", TK_STOP },
	{ "WITHIN", TK_WITHIN }, { "SECONDS", TK_SECONDS },
	{ "REPEATS", TK_REPEATS }, { "TIMES", TK_TIMES },
	{ "true", TK_BOOL }, { "false", TK_BOOL },
};

/* The object types whose "value" a resolver can act on. */
enum otype {
	OT_NONE = -1,
	OT_DOMAIN,
	OT_URL,
	OT_IPV4,
	OT_IPV6
};

static const char *const otype_str[] = {
	"domain-name", "url", "ipv4-addr", "ipv6-addr"
};

/* One value an observation compares a supported path with. */
struct pv {
	enum otype type;
	char *key;		/* normalized: a name, a prefix, a URL */
};

struct vset {
	struct pv *v;
	size_t n, cap;
};

struct pat {
	const char *start, *p, *end;
	enum tk tk;		/* the current token */
	const char *ts;		/* its text */
	size_t tn;
	int neg;		/* a number with a "-" */
	int depth;
	int nomem;
	char syntax[120];	/* the syntax error, if any */
	char unsup[120];	/* the first construct not supported */
	char bad[160];		/* the first value not usable */
};

static void
vset_free(struct vset *vs)
{
	size_t i;

	for (i = 0; i < vs->n; i++)
		free(vs->v[i].key);
	free(vs->v);
	memset(vs, 0, sizeof(*vs));
}

static int
vset_push(struct vset *vs, enum otype type, char *key)
{
	struct pv *nv;
	size_t cap;

	if (vs->n == vs->cap) {
		cap = vs->cap == 0 ? 4 : vs->cap * 2;
		if ((nv = realloc(vs->v, cap * sizeof(*nv))) == NULL)
			return -ENOMEM;
		vs->v = nv;
		vs->cap = cap;
	}
	vs->v[vs->n].type = type;
	vs->v[vs->n].key = key;
	vs->n++;
	return 0;
}

/* A gets B's values; B is emptied. */
static int
vset_union(struct vset *a, struct vset *b)
{
	size_t i;

	for (i = 0; i < b->n; i++) {
		if (vset_push(a, b->v[i].type, b->v[i].key) < 0) {
			for (; i < b->n; i++)
				free(b->v[i].key);
			b->n = 0;
			vset_free(b);
			return -ENOMEM;
		}
	}
	b->n = 0;
	vset_free(b);
	return 0;
}

static int
pv_cmp(const void *x, const void *y)
{
	const struct pv *a = x, *b = y;

	if (a->type != b->type)
		return a->type < b->type ? -1 : 1;
	return strcmp(a->key, b->key);
}

/* A keeps the values that are also in B, once each; B is emptied.
 * Returns 0 when both had values but no object type in common. */
static int
vset_intersect(struct vset *a, struct vset *b)
{
	unsigned ta = 0, tb = 0;
	size_t i, j = 0, o = 0;

	for (i = 0; i < a->n; i++)
		ta |= 1u << a->v[i].type;
	for (i = 0; i < b->n; i++)
		tb |= 1u << b->v[i].type;
	if (a->n > 1)
		qsort(a->v, a->n, sizeof(*a->v), pv_cmp);
	if (b->n > 1)
		qsort(b->v, b->n, sizeof(*b->v), pv_cmp);
	for (i = 0; i < a->n; i++) {
		while (j < b->n && pv_cmp(&b->v[j], &a->v[i]) < 0)
			j++;
		if (j < b->n && pv_cmp(&b->v[j], &a->v[i]) == 0 &&
		    (o == 0 || pv_cmp(&a->v[o - 1], &a->v[i]) != 0))
			a->v[o++] = a->v[i];
		else
			free(a->v[i].key);
	}
	a->n = o;
	vset_free(b);
	return (ta & tb) != 0 || ta == 0 || tb == 0;
}

static void
pat_unsup(struct pat *p, const char *fmt, ...)
{
	va_list ap;

	if (p->unsup[0] != '\0')
		return;
	va_start(ap, fmt);
	vsnprintf(p->unsup, sizeof(p->unsup), fmt, ap);
	va_end(ap);
}

/* A syntax error at the current token; returns -1 to unwind. */
static int
pat_error(struct pat *p, const char *what)
{
	size_t off = (size_t)(p->ts - p->start), n = p->tn;

	if (p->syntax[0] == '\0') {
		if (p->tk == TK_EOF)
			snprintf(p->syntax, sizeof(p->syntax),
			    "pattern syntax: %s at the end", what);
		else
			snprintf(p->syntax, sizeof(p->syntax),
			    "pattern syntax: %s at offset %zu near \"%.*s\"",
			    what, off, (int)(n > 24 ? 24 : n), p->ts);
	}
	return -1;
}

static int
is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* A quoted literal from P->p (at the quote): TK or TK_ERR. */
static enum tk
lex_quoted(struct pat *p, enum tk tk)
{
	const char *q = p->p + 1;

	while (q < p->end && *q != '\'') {
		if (*q == '\\') {
			if (tk != TK_STRING || q + 1 >= p->end ||
			    (q[1] != '\\' && q[1] != '\''))
				break;
			q++;
		}
		q++;
	}
	if (q >= p->end || *q != '\'') {
		p->tn = (size_t)(p->end - p->ts);
		p->tk = TK_ERR;
		pat_error(p, q >= p->end ? "unterminated string" :
		    "bad escape in a string");
		return TK_ERR;
	}
	p->p = q + 1;
	return tk;
}

/* Advance to the next token. */
static enum tk
lex(struct pat *p)
{
	const char *q;
	size_t i;
	char c;

	for (;;) {
		while (p->p < p->end && (*p->p == ' ' || *p->p == '\t' ||
		    *p->p == '\r' || *p->p == '\n' || *p->p == '\v' ||
		    *p->p == '\f'))
			p->p++;
		if (p->end - p->p >= 2 && p->p[0] == '/' && p->p[1] == '*') {
			for (q = p->p + 2; p->end - q >= 2 &&
			    !(q[0] == '*' && q[1] == '/'); q++)
				;
			p->p = p->end - q >= 2 ? q + 2 : p->end;
			continue;
		}
		if (p->end - p->p >= 2 && p->p[0] == '/' && p->p[1] == '/') {
			while (p->p < p->end && *p->p != '\n' &&
			    *p->p != '\r')
				p->p++;
			continue;
		}
		break;
	}
	p->ts = p->p;
	p->neg = 0;
	if (p->p >= p->end) {
		p->tn = 0;
		return p->tk = TK_EOF;
	}
	c = *p->p;
	q = p->p + 1;
	switch (c) {
	case '[': p->tk = TK_LBRACK; break;
	case ']': p->tk = TK_RBRACK; break;
	case '(': p->tk = TK_LPAREN; break;
	case ')': p->tk = TK_RPAREN; break;
	case ',': p->tk = TK_COMMA; break;
	case ':': p->tk = TK_COLON; break;
	case '*': p->tk = TK_STAR; break;
	case '=':
		p->tk = TK_EQ;
		if (q < p->end && *q == '=')
			q++;
		break;
	case '!':
		if (q < p->end && *q == '=') {
			p->tk = TK_NEQ;
			q++;
		} else
			p->tk = TK_ERR;
		break;
	case '<':
		p->tk = TK_LT;
		if (q < p->end && *q == '=') {
			p->tk = TK_LE;
			q++;
		} else if (q < p->end && *q == '>') {
			p->tk = TK_NEQ;
			q++;
		}
		break;
	case '>':
		p->tk = TK_GT;
		if (q < p->end && *q == '=') {
			p->tk = TK_GE;
			q++;
		}
		break;
	case '\'':
		p->tk = lex_quoted(p, TK_STRING);
		p->tn = (size_t)(p->p - p->ts);
		return p->tk;
	default:
		if ((c == 'b' || c == 'h' || c == 't') && q < p->end &&
		    *q == '\'') {
			p->p = q;
			p->tk = lex_quoted(p, c == 'b' ? TK_BINARY :
			    c == 'h' ? TK_HEX : TK_TIME);
			p->tn = (size_t)(p->p - p->ts);
			return p->tk;
		}
		if (c == '.' && !(q < p->end && is_digit(*q))) {
			p->tk = TK_DOT;
			break;
		}
		if (is_digit(c) || c == '.' || ((c == '-' || c == '+') &&
		    q < p->end && (is_digit(*q) || *q == '.'))) {
			p->neg = c == '-';
			q = p->p + (c == '-' || c == '+');
			while (q < p->end && is_digit(*q))
				q++;
			p->tk = TK_INT;
			if (q < p->end && *q == '.') {
				q++;
				if (q >= p->end || !is_digit(*q)) {
					p->tk = TK_ERR;
					break;
				}
				while (q < p->end && is_digit(*q))
					q++;
				p->tk = TK_FLOAT;
			}
			break;
		}
		if (is_alpha(c)) {
			p->tk = TK_IDENT;
			while (q < p->end && (is_alpha(*q) || is_digit(*q) ||
			    *q == '-')) {
				if (*q == '-')
					p->tk = TK_IDENT_H;
				q++;
			}
			for (i = 0; p->tk == TK_IDENT && i <
			    sizeof(pat_keywords) / sizeof(pat_keywords[0]); i++)
				if (strlen(pat_keywords[i].word) ==
				    (size_t)(q - p->p) &&
				    memcmp(pat_keywords[i].word, p->p,
				    (size_t)(q - p->p)) == 0)
					p->tk = pat_keywords[i].tk;
			break;
		}
		p->tk = TK_ERR;
		break;
	}
	p->p = q;
	p->tn = (size_t)(q - p->ts);
	if (p->tk == TK_ERR)
		pat_error(p, "unexpected character");
	return p->tk;
}

static int
expect(struct pat *p, enum tk tk, const char *what)
{
	if (p->tk != tk)
		return pat_error(p, what);
	lex(p);
	return 0;
}

static int
is_literal(enum tk tk)
{
	switch (tk) {
	case TK_STRING: case TK_INT: case TK_FLOAT: case TK_BINARY:
	case TK_HEX: case TK_TIME: case TK_BOOL:
		return 1;
	case TK_EOF: case TK_ERR: case TK_LBRACK: case TK_RBRACK:
	case TK_LPAREN: case TK_RPAREN: case TK_COMMA: case TK_COLON:
	case TK_DOT: case TK_STAR: case TK_EQ: case TK_NEQ: case TK_LT:
	case TK_LE: case TK_GT: case TK_GE: case TK_IDENT: case TK_IDENT_H:
	case TK_AND: case TK_OR: case TK_NOT: case TK_FOLLOWEDBY:
	case TK_LIKE: case TK_MATCHES: case TK_ISSUBSET: case TK_ISSUPERSET:
	case TK_IN: case TK_EXISTS: case TK_START: case TK_STOP:
	case TK_WITHIN: case TK_SECONDS: case TK_REPEATS: case TK_TIMES:
		break;
	}
	return 0;
}

/* Check the text of the current literal where the grammar says more
 * than its quotes: timestamps, hex and base64. */
static int
literal_check(struct pat *p)
{
	const char *s = p->ts + 2;
	size_t n = p->tn - 3, i;
	char buf[40];
	struct ts t;

	switch (p->tk) {
	case TK_TIME:
		if (n >= sizeof(buf))
			return pat_error(p, "bad timestamp");
		memcpy(buf, s, n);
		buf[n] = '\0';
		if (ts_parse(buf, &t) < 0)
			return pat_error(p, "bad timestamp");
		break;
	case TK_HEX:
		for (i = 0; i < n; i++)
			if (!is_digit(s[i]) && !((s[i] >= 'a' && s[i] <= 'f') ||
			    (s[i] >= 'A' && s[i] <= 'F')))
				return pat_error(p, "bad hex literal");
		if (n % 2 != 0)
			return pat_error(p, "bad hex literal");
		break;
	case TK_BINARY:
		for (i = 0; i < n; i++)
			if (!is_alpha(s[i]) && !is_digit(s[i]) && s[i] != '+' &&
			    s[i] != '/' && s[i] != '=')
				return pat_error(p, "bad binary literal");
		if (n % 4 != 0)
			return pat_error(p, "bad binary literal");
		break;
	case TK_EOF: case TK_ERR: case TK_LBRACK: case TK_RBRACK:
	case TK_LPAREN: case TK_RPAREN: case TK_COMMA: case TK_COLON:
	case TK_DOT: case TK_STAR: case TK_EQ: case TK_NEQ: case TK_LT:
	case TK_LE: case TK_GT: case TK_GE: case TK_STRING: case TK_INT:
	case TK_FLOAT: case TK_BOOL: case TK_IDENT: case TK_IDENT_H:
	case TK_AND: case TK_OR: case TK_NOT: case TK_FOLLOWEDBY:
	case TK_LIKE: case TK_MATCHES: case TK_ISSUBSET: case TK_ISSUPERSET:
	case TK_IN: case TK_EXISTS: case TK_START: case TK_STOP:
	case TK_WITHIN: case TK_SECONDS: case TK_REPEATS: case TK_TIMES:
		break;
	}
	return 0;
}

/* The current string literal without quotes and escapes, or NULL. */
static char *
string_value(struct pat *p, size_t *len)
{
	const char *s = p->ts + 1, *e = p->ts + p->tn - 1;
	char *out, *o;

	if ((out = malloc((size_t)(e - s) + 1)) == NULL) {
		p->nomem = 1;
		return NULL;
	}
	for (o = out; s < e; s++) {
		if (*s == '\\')
			s++;
		*o++ = *s;
	}
	*o = '\0';
	*len = (size_t)(o - out);
	return out;
}

/* Add the current string literal, compared with TYPE's value, to VS. */
static int
value_add(struct pat *p, struct vset *vs, enum otype type)
{
	char norm[RG_NAME_MAX + 1], prefix[RG_PREFIX_MAX], *s, *key = NULL;
	enum rg_feed_trigger trigger;
	const char *why = "not supported", *host;
	size_t n, hlen;
	int br, rc = -EINVAL;

	if ((s = string_value(p, &n)) == NULL)
		return -1;
	switch (type) {
	case OT_DOMAIN:
		if ((rc = rg_name_norm(s, n, 0, norm, &why)) == 0)
			key = strdup(norm);
		break;
	case OT_URL:
		/* The URL itself is the value: AND compares whole URLs. */
		if ((rc = rg_url_host(s, n, &host, &hlen, &br, &why)) == 0 &&
		    (rc = rg_host_rule(host, hlen, br, &trigger, norm,
		    &why)) == 0)
			key = strdup(s);
		break;
	case OT_IPV4:
	case OT_IPV6:
		if ((rc = rg_prefix_norm(s, n, type == OT_IPV4 ? AF_INET :
		    AF_INET6, prefix, &why)) == 0)
			key = strdup(prefix);
		break;
	case OT_NONE:
		break;
	}
	if (rc < 0) {
		if (p->bad[0] == '\0')
			snprintf(p->bad, sizeof(p->bad), "%s:value '%.80s%s': %s",
			    otype_str[type], s, n > 80 ? "..." : "", why);
		free(s);
		return 0;
	}
	free(s);
	if (key == NULL || vset_push(vs, type, key) < 0) {
		free(key);
		p->nomem = 1;
		return -1;
	}
	return 0;
}

/*
 * objectPath: the object type, ":", the first component, more steps.
 * *TYPE is the supported object type whose "value" it is, or OT_NONE.
 */
static int
object_path(struct pat *p, enum otype *type)
{
	const char *start = p->ts, *ots = p->ts, *end;
	size_t otn = p->tn, i;
	int simple;

	*type = OT_NONE;
	if (p->tk != TK_IDENT && p->tk != TK_IDENT_H)
		return pat_error(p, "expected an object path");
	lex(p);
	if (expect(p, TK_COLON, "expected \":\" in an object path") < 0)
		return -1;
	if (p->tk != TK_IDENT && p->tk != TK_STRING)
		return pat_error(p, "expected a property name");
	simple = p->tk == TK_IDENT && p->tn == 5 &&
	    memcmp(p->ts, "value", 5) == 0;
	end = p->ts + p->tn;
	lex(p);
	while (p->tk == TK_DOT || p->tk == TK_LBRACK) {
		simple = 0;
		if (p->tk == TK_DOT) {
			lex(p);
			if (p->tk != TK_IDENT && p->tk != TK_STRING)
				return pat_error(p, "expected a property name");
			end = p->ts + p->tn;
			lex(p);
		} else {
			lex(p);
			if ((p->tk != TK_INT || p->tn > 10) &&
			    p->tk != TK_STAR)
				return pat_error(p, "expected an index");
			lex(p);
			end = p->ts;
			if (expect(p, TK_RBRACK, "expected \"]\"") < 0)
				return -1;
		}
	}
	for (i = 0; simple && i < sizeof(otype_str) / sizeof(otype_str[0]);
	    i++)
		if (strlen(otype_str[i]) == otn &&
		    memcmp(otype_str[i], ots, otn) == 0)
			*type = (enum otype)i;
	if (*type == OT_NONE)
		pat_unsup(p, "pattern uses the object path %.*s",
		    (int)((end - start) > 60 ? 60 : (end - start)), start);
	return 0;
}

static int cmp_or(struct pat *, struct vset *);
static int obs_followedby(struct pat *, struct vset *);

/* propTest: one comparison, EXISTS, or a comparison in parentheses. */
static int
prop_test(struct pat *p, struct vset *out)
{
	static const char *const opname[] = {
		[TK_NEQ] = "!=", [TK_LT] = "<", [TK_LE] = "<=", [TK_GT] = ">",
		[TK_GE] = ">=", [TK_LIKE] = "LIKE", [TK_MATCHES] = "MATCHES",
		[TK_ISSUBSET] = "ISSUBSET", [TK_ISSUPERSET] = "ISSUPERSET",
	};
	enum otype type;
	enum tk op;
	int neg = 0, rc;

	if (p->tk == TK_LPAREN) {
		if (++p->depth > STIX_MAX_DEPTH)
			return pat_error(p, "nested too deep");
		lex(p);
		if ((rc = cmp_or(p, out)) < 0)
			return rc;
		p->depth--;
		return expect(p, TK_RPAREN, "expected \")\"");
	}
	if (p->tk == TK_EXISTS) {
		lex(p);
		pat_unsup(p, "pattern uses EXISTS");
		return object_path(p, &type);
	}
	if (object_path(p, &type) < 0)
		return -1;
	if (p->tk == TK_NOT) {
		neg = 1;
		pat_unsup(p, "pattern uses NOT");
		lex(p);
	}
	switch ((op = p->tk)) {
	case TK_EQ:
	case TK_NEQ:
		lex(p);
		if (!is_literal(p->tk))
			return pat_error(p, "expected a literal");
		if (literal_check(p) < 0)
			return -1;
		if (op == TK_NEQ)
			pat_unsup(p, "pattern uses !=");
		else if (type != OT_NONE && p->tk != TK_STRING)
			pat_unsup(p, "pattern compares %s:value with a "
			    "non-string", otype_str[type]);
		else if (type != OT_NONE && !neg &&
		    value_add(p, out, type) < 0)
			return -1;
		lex(p);
		return 0;
	case TK_LT:
	case TK_LE:
	case TK_GT:
	case TK_GE:
		lex(p);
		if (!is_literal(p->tk) || p->tk == TK_BOOL)
			return pat_error(p, "expected an orderable literal");
		if (literal_check(p) < 0)
			return -1;
		pat_unsup(p, "pattern uses %s", opname[op]);
		lex(p);
		return 0;
	case TK_LIKE:
	case TK_MATCHES:
	case TK_ISSUBSET:
	case TK_ISSUPERSET:
		lex(p);
		if (p->tk != TK_STRING)
			return pat_error(p, "expected a string");
		pat_unsup(p, "pattern uses %s", opname[op]);
		lex(p);
		return 0;
	case TK_IN:
		lex(p);
		if (expect(p, TK_LPAREN, "expected \"(\" after IN") < 0)
			return -1;
		while (p->tk != TK_RPAREN) {
			if (!is_literal(p->tk))
				return pat_error(p, "expected a literal");
			if (literal_check(p) < 0)
				return -1;
			if (type != OT_NONE && p->tk != TK_STRING)
				pat_unsup(p, "pattern compares %s:value with "
				    "a non-string", otype_str[type]);
			else if (type != OT_NONE && !neg &&
			    value_add(p, out, type) < 0)
				return -1;
			lex(p);
			if (p->tk == TK_COMMA) {
				lex(p);
				if (p->tk == TK_RPAREN)
					return pat_error(p,
					    "expected a literal");
			} else if (p->tk != TK_RPAREN)
				return pat_error(p, "expected \",\" or \")\"");
		}
		lex(p);
		return 0;
	case TK_EOF: case TK_ERR: case TK_LBRACK: case TK_RBRACK:
	case TK_LPAREN: case TK_RPAREN: case TK_COMMA: case TK_COLON:
	case TK_DOT: case TK_STAR: case TK_STRING: case TK_INT: case TK_FLOAT:
	case TK_BINARY: case TK_HEX: case TK_TIME: case TK_BOOL:
	case TK_IDENT: case TK_IDENT_H: case TK_AND: case TK_OR: case TK_NOT:
	case TK_FOLLOWEDBY: case TK_EXISTS: case TK_START: case TK_STOP:
	case TK_WITHIN: case TK_SECONDS: case TK_REPEATS: case TK_TIMES:
		break;
	}
	return pat_error(p, "expected a comparison operator");
}

/* comparisonExpressionAnd: one object must satisfy every comparison, so
 * the values are those common to all (a single one, in practice). */
static int
cmp_and(struct pat *p, struct vset *out)
{
	struct vset rhs;

	if (prop_test(p, out) < 0)
		return -1;
	while (p->tk == TK_AND) {
		memset(&rhs, 0, sizeof(rhs));
		lex(p);
		if (prop_test(p, &rhs) < 0) {
			vset_free(&rhs);
			return -1;
		}
		if (!vset_intersect(out, &rhs))
			pat_unsup(p, "pattern uses AND of different object "
			    "types");
		else if (out->n == 0)
			pat_unsup(p, "pattern uses AND of comparisons that "
			    "no one value satisfies");
	}
	return 0;
}

/* comparisonExpression: comparisons joined by OR. */
static int
cmp_or(struct pat *p, struct vset *out)
{
	struct vset rhs;

	if (cmp_and(p, out) < 0)
		return -1;
	while (p->tk == TK_OR) {
		memset(&rhs, 0, sizeof(rhs));
		lex(p);
		if (cmp_and(p, &rhs) < 0) {
			vset_free(&rhs);
			return -1;
		}
		if (vset_union(out, &rhs) < 0) {
			p->nomem = 1;
			return -1;
		}
	}
	return 0;
}

/* observationExpression: "[...]" or "(...)", then any qualifiers. */
static int
obs_expr(struct pat *p, struct vset *out)
{
	if (p->tk == TK_LBRACK) {
		lex(p);
		if (cmp_or(p, out) < 0 ||
		    expect(p, TK_RBRACK, "expected \"]\"") < 0)
			return -1;
	} else if (p->tk == TK_LPAREN) {
		if (++p->depth > STIX_MAX_DEPTH)
			return pat_error(p, "nested too deep");
		lex(p);
		if (obs_followedby(p, out) < 0 ||
		    expect(p, TK_RPAREN, "expected \")\"") < 0)
			return -1;
		p->depth--;
	} else
		return pat_error(p, "expected \"[\" or \"(\"");
	for (;;) {
		switch (p->tk) {
		case TK_START:
			lex(p);
			if (p->tk != TK_TIME || literal_check(p) < 0)
				return pat_error(p, "expected a timestamp");
			lex(p);
			if (expect(p, TK_STOP, "expected STOP") < 0)
				return -1;
			if (p->tk != TK_TIME || literal_check(p) < 0)
				return pat_error(p, "expected a timestamp");
			lex(p);
			pat_unsup(p, "pattern uses the qualifier START/STOP");
			continue;
		case TK_WITHIN:
			lex(p);
			if ((p->tk != TK_INT && p->tk != TK_FLOAT) || p->neg)
				return pat_error(p, "expected a number");
			lex(p);
			if (expect(p, TK_SECONDS, "expected SECONDS") < 0)
				return -1;
			pat_unsup(p, "pattern uses the qualifier WITHIN");
			continue;
		case TK_REPEATS:
			lex(p);
			if (p->tk != TK_INT || p->neg)
				return pat_error(p, "expected a number");
			lex(p);
			if (expect(p, TK_TIMES, "expected TIMES") < 0)
				return -1;
			pat_unsup(p, "pattern uses the qualifier REPEATS");
			continue;
		case TK_EOF: case TK_ERR: case TK_LBRACK: case TK_RBRACK:
		case TK_LPAREN: case TK_RPAREN: case TK_COMMA: case TK_COLON:
		case TK_DOT: case TK_STAR: case TK_EQ: case TK_NEQ: case TK_LT:
		case TK_LE: case TK_GT: case TK_GE: case TK_STRING:
		case TK_INT: case TK_FLOAT: case TK_BINARY: case TK_HEX:
		case TK_TIME: case TK_BOOL: case TK_IDENT: case TK_IDENT_H:
		case TK_AND: case TK_OR: case TK_NOT: case TK_FOLLOWEDBY:
		case TK_LIKE: case TK_MATCHES: case TK_ISSUBSET:
		case TK_ISSUPERSET: case TK_IN: case TK_EXISTS: case TK_STOP:
		case TK_SECONDS: case TK_TIMES:
			break;
		}
		return 0;
	}
}

/* Observations joined by AND would need two sightings to be matched
 * together: a resolver cannot, so they are not supported. */
static int
obs_and(struct pat *p, struct vset *out)
{
	struct vset rhs;

	if (obs_expr(p, out) < 0)
		return -1;
	while (p->tk == TK_AND) {
		pat_unsup(p, "pattern uses AND between observations");
		memset(&rhs, 0, sizeof(rhs));
		lex(p);
		if (obs_expr(p, &rhs) < 0) {
			vset_free(&rhs);
			return -1;
		}
		vset_free(&rhs);
	}
	return 0;
}

static int
obs_or(struct pat *p, struct vset *out)
{
	struct vset rhs;

	if (obs_and(p, out) < 0)
		return -1;
	while (p->tk == TK_OR) {
		memset(&rhs, 0, sizeof(rhs));
		lex(p);
		if (obs_and(p, &rhs) < 0) {
			vset_free(&rhs);
			return -1;
		}
		if (vset_union(out, &rhs) < 0) {
			p->nomem = 1;
			return -1;
		}
	}
	return 0;
}

static int
obs_followedby(struct pat *p, struct vset *out)
{
	struct vset rhs;

	if (obs_or(p, out) < 0)
		return -1;
	while (p->tk == TK_FOLLOWEDBY) {
		pat_unsup(p, "pattern uses FOLLOWEDBY");
		memset(&rhs, 0, sizeof(rhs));
		lex(p);
		if (obs_or(p, &rhs) < 0) {
			vset_free(&rhs);
			return -1;
		}
		vset_free(&rhs);
	}
	return 0;
}

/*
 * Parse pattern S (N bytes) into OUT.  0 with P->unsup and P->bad empty
 * when every value can be used; 0 with one of them set when the pattern
 * is valid but cannot be used; -EINVAL with P->syntax set; -ENOMEM.
 */
static int
pattern_parse(struct pat *p, const char *s, size_t n, struct vset *out)
{
	memset(p, 0, sizeof(*p));
	p->start = p->p = s;
	p->end = s + n;
	lex(p);
	if (p->tk != TK_ERR && obs_followedby(p, out) == 0 &&
	    p->tk != TK_EOF)
		pat_error(p, "text after the pattern");
	if (p->nomem && p->syntax[0] == '\0')
		return -ENOMEM;
	if (p->syntax[0] != '\0')
		return -EINVAL;
	return 0;
}

/* ---- the document ---- */

/* A rule before it is handed over. */
struct rule {
	enum rg_feed_trigger trigger;
	char *text;
	size_t idx;
	int dup;
};

/* What an indicator comes to, read with its object. */
enum ind_kind {
	IND_VALUES,		/* values to block */
	IND_REVOKED,
	IND_EXPIRED,		/* or not yet valid */
	IND_LOW_CONFIDENCE,
	IND_SKIPPED,		/* why says why */
	IND_UNSUPPORTED,	/* why says why */
};

/*
 * One indicator object of the document, read when the object is parsed
 * (the object itself is not kept) and used only when it is the latest
 * version of its id: then it counts and its rules go out.
 */
struct ind {
	char *id;
	struct ts modified;
	size_t idx;
	enum ind_kind kind;
	char *why;		/* the skip's description, or NULL */
	struct vset vs;		/* IND_VALUES */
	char *refs;		/* object_marking_refs: strings one after the
				   other, an empty one last; or NULL */
};

/* A marking-definition of the document that says a TLP level. */
struct mark {
	char *id;
	enum rg_tlp tlp;
};

struct ctx {
	const struct rg_feed_settings *s;
	struct rg_feed_out out;
	struct mark *marks;
	size_t n_marks, cap_marks;
	struct ind *inds;
	size_t n_inds, cap_inds;
};

static int
mark_cmp(const void *x, const void *y)
{
	const struct mark *a = x, *b = y;

	return strcmp(a->id, b->id);
}

static int
ind_cmp(const void *x, const void *y)
{
	const struct ind *a = x, *b = y;
	int c;

	if ((c = strcmp(a->id, b->id)) != 0)
		return c;
	if ((c = ts_cmp(&b->modified, &a->modified)) != 0)
		return c;
	return a->idx < b->idx ? -1 : a->idx > b->idx;
}

static int
ind_idx_cmp(const void *x, const void *y)
{
	const struct ind *a = x, *b = y;

	return a->idx < b->idx ? -1 : a->idx > b->idx;
}

static int
rule_cmp(const void *x, const void *y)
{
	const struct rule *const *a = x, *const *b = y;
	int c;

	if ((*a)->trigger != (*b)->trigger)
		return (*a)->trigger < (*b)->trigger ? -1 : 1;
	if ((c = strcmp((*a)->text, (*b)->text)) != 0)
		return c;
	return (*a)->idx < (*b)->idx ? -1 : (*a)->idx > (*b)->idx;
}

/* The TLP level a marking-definition object says, or RG_TLP_NONE. */
static enum rg_tlp
marking_tlp(json_t *o)
{
	json_t *v;
	const char *s;

	if ((s = json_string_value(json_object_get(o, "definition_type"))) !=
	    NULL && strcmp(s, "tlp") == 0 &&
	    (s = json_string_value(json_object_get(json_object_get(o,
	    "definition"), "tlp"))) != NULL)
		return rg_tlp_level(s);
	v = json_object_get(json_object_get(o, "extensions"), STIX_TLP2_EXT);
	if ((s = json_string_value(json_object_get(v, "tlp_2_0"))) != NULL)
		return rg_tlp_level(s);
	return RG_TLP_NONE;
}

/* The string references of O's object_marking_refs, one after the other
 * and an empty one last, into *REFS (NULL when there are none). */
static int
object_refs(json_t *o, char **refs)
{
	json_t *v, *a = json_object_get(o, "object_marking_refs");
	size_t i, n = 1;
	char *p;

	/* An empty reference would end the list: it matches nothing, so it
	 * is left out. */
	*refs = NULL;
	json_array_foreach(a, i, v)
		if (json_is_string(v) && json_string_value(v)[0] != '\0')
			n += strlen(json_string_value(v)) + 1;
	if (n == 1)
		return 0;
	if ((*refs = p = malloc(n)) == NULL)
		return -ENOMEM;
	json_array_foreach(a, i, v)
		if (json_is_string(v) && json_string_value(v)[0] != '\0') {
			strcpy(p, json_string_value(v));
			p += strlen(p) + 1;
		}
	*p = '\0';
	return 0;
}

/* The most restrictive TLP among the marking references REFS. */
static enum rg_tlp
object_tlp(const struct ctx *c, const char *refs)
{
	struct mark key, *m;
	enum rg_tlp t, best = RG_TLP_NONE;
	size_t k;

	for (; refs != NULL && refs[0] != '\0'; refs += strlen(refs) + 1) {
		key.id = (char *)(uintptr_t)refs;
		t = RG_TLP_NONE;
		for (k = 0; k < sizeof(tlp_known) / sizeof(tlp_known[0]); k++)
			if (strcmp(tlp_known[k].id, key.id) == 0)
				t = tlp_known[k].tlp;
		if (t == RG_TLP_NONE && c->n_marks > 0 && (m = bsearch(&key,
		    c->marks, c->n_marks, sizeof(*m), mark_cmp)) != NULL)
			t = m->tlp;
		if (t > best)
			best = t;
	}
	return best;
}

static int
rules_add(struct rule **rules, size_t *n, size_t *cap,
    enum rg_feed_trigger trigger, const char *fmt, const char *text)
{
	struct rule *nr;
	size_t ncap;
	int len;

	if (*n == *cap) {
		ncap = *cap == 0 ? 8 : *cap * 2;
		if ((nr = realloc(*rules, ncap * sizeof(*nr))) == NULL)
			return -ENOMEM;
		*rules = nr;
		*cap = ncap;
	}
	nr = &(*rules)[*n];
	memset(nr, 0, sizeof(*nr));
	nr->trigger = trigger;
	nr->idx = *n;
	len = snprintf(NULL, 0, fmt, text);
	if ((nr->text = malloc((size_t)len + 1)) == NULL)
		return -ENOMEM;
	snprintf(nr->text, (size_t)len + 1, fmt, text);
	(*n)++;
	return 0;
}

/* Hand the rules of the values VS of indicator ID over, each once. */
static int
emit_values(struct ctx *c, const char *id, enum rg_tlp tlp,
    const struct vset *vs)
{
	char norm[RG_NAME_MAX + 1];
	struct rule *rules = NULL, **order = NULL;
	enum rg_feed_trigger trigger;
	const char *host, *why;
	size_t n = 0, cap = 0, i, hlen;
	int br, rc = 0;

	for (i = 0; i < vs->n && rc == 0; i++) {
		switch (vs->v[i].type) {
		case OT_DOMAIN:
			rc = rules_add(&rules, &n, &cap, RG_FEED_QNAME, "%s",
			    vs->v[i].key);
			if (rc == 0 && c->s->subdomains)
				rc = rules_add(&rules, &n, &cap, RG_FEED_QNAME,
				    "*.%s", vs->v[i].key);
			break;
		case OT_URL:
			/* Checked when the pattern was read. */
			if (rg_url_host(vs->v[i].key, strlen(vs->v[i].key),
			    &host, &hlen, &br, &why) == 0 &&
			    rg_host_rule(host, hlen, br, &trigger, norm,
			    &why) == 0)
				rc = rules_add(&rules, &n, &cap, trigger, "%s",
				    norm);
			break;
		case OT_IPV4:
		case OT_IPV6:
			rc = rules_add(&rules, &n, &cap, RG_FEED_IP, "%s",
			    vs->v[i].key);
			break;
		case OT_NONE:
			break;
		}
	}
	if (rc < 0 || (n > 0 && (order = calloc(n, sizeof(*order))) ==
	    NULL)) {
		rc = -ENOMEM;
		rg_feed_say(c->out.msg, c->out.msglen, "out of memory");
		goto out;
	}
	for (i = 0; i < n; i++)
		order[i] = &rules[i];
	if (n > 0)
		qsort(order, n, sizeof(*order), rule_cmp);
	for (i = 1; i < n; i++)
		if (order[i]->trigger == order[i - 1]->trigger &&
		    strcmp(order[i]->text, order[i - 1]->text) == 0)
			order[i]->dup = 1;
	for (i = 0; i < n && rc == 0; i++)
		if (!rules[i].dup)
			rc = rg_feed_policy(&c->out, rules[i].trigger,
			    rules[i].text, id, tlp);
out:
	for (i = 0; i < n; i++)
		free(rules[i].text);
	free(rules);
	free(order);
	return rc;
}

/* A timestamp property of O: 1 found, 0 absent, -1 not a timestamp. */
static int
ts_prop(json_t *o, const char *name, struct ts *t)
{
	json_t *v;

	if ((v = json_object_get(o, name)) == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v) || ts_parse(json_string_value(v), t) < 0)
		return -1;
	return 1;
}

/* IND is skipped (or of a kind not supported, KIND) for the reason in
 * FMT; 0 or -ENOMEM. */
static int ind_why(struct ind *, enum ind_kind, const char *, ...)
    __attribute__((format(printf, 3, 4)));

static int
ind_why(struct ind *ind, enum ind_kind kind, const char *fmt, ...)
{
	char why[sizeof(((struct rg_feed_stats *)0)->first_skip)];
	va_list ap;

	ind->kind = kind;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	return (ind->why = strdup(why)) == NULL ? -ENOMEM : 0;
}

/* The rules change at T (the first whole second at or after it): keep
 * the earliest such time for the agent. */
static void
change_at(struct ctx *c, const struct ts *t)
{
	int64_t sec = t->sec + (t->nsec > 0);

	if (sec > c->s->now && (c->out.st->next_change == 0 ||
	    sec < c->out.st->next_change))
		c->out.st->next_change = sec;
}

/* Read indicator O, of id IND->id, into IND; 0 or -ENOMEM. */
static int
indicator_read(struct ctx *c, json_t *o, struct ind *ind)
{
	const char *id = ind->id;
	struct ts from, until, now;
	struct pat p;
	const char *ptype;
	json_t *v, *pattern;
	json_int_t conf;
	int has_until, rc;

	if (json_is_true(json_object_get(o, "revoked"))) {
		ind->kind = IND_REVOKED;
		return 0;
	}
	/* STIX 2.0 had no pattern_type: its patterns were all STIX. */
	if ((v = json_object_get(o, "pattern_type")) != NULL) {
		if ((ptype = json_string_value(v)) == NULL)
			return ind_why(ind, IND_SKIPPED, "%s: pattern_type is "
			    "not a string", id);
		if (strcmp(ptype, "stix") != 0)
			return ind_why(ind, IND_UNSUPPORTED, "%s: "
			    "pattern_type \"%.40s\" (only \"stix\" is "
			    "supported)", id, ptype);
	}
	if (!json_is_string(pattern = json_object_get(o, "pattern")))
		return ind_why(ind, IND_SKIPPED, "%s: no pattern", id);
	if ((rc = ts_prop(o, "valid_from", &from)) == 0)
		rc = ts_prop(o, "created", &from);
	if (rc <= 0)
		return ind_why(ind, IND_SKIPPED, "%s: %s", id, rc == 0 ?
		    "neither valid_from nor created" : "bad valid_from");
	if ((has_until = ts_prop(o, "valid_until", &until)) < 0)
		return ind_why(ind, IND_SKIPPED, "%s: bad valid_until", id);
	if (!has_until && c->s->default_lifetime_s > 0 &&
	    c->s->default_lifetime_s < (uint64_t)INT64_MAX / 4 &&
	    from.sec < INT64_MAX / 4) {
		until.sec = from.sec + (int64_t)c->s->default_lifetime_s;
		until.nsec = from.nsec;
		has_until = 1;
	}
	now.sec = c->s->now;
	now.nsec = 0;
	if (ts_cmp(&from, &now) > 0 || (has_until &&
	    ts_cmp(&until, &now) <= 0)) {
		/* Not valid yet: the rules change when it is. */
		if (ts_cmp(&from, &now) > 0)
			change_at(c, &from);
		ind->kind = IND_EXPIRED;
		return 0;
	}
	if (has_until)
		change_at(c, &until);
	if ((v = json_object_get(o, "confidence")) != NULL &&
	    !json_is_null(v)) {
		if (!json_is_integer(v) || (conf = json_integer_value(v)) < 0 ||
		    conf > 100)
			return ind_why(ind, IND_SKIPPED, "%s: confidence is "
			    "not 0..100", id);
		if (conf < c->s->min_confidence) {
			ind->kind = IND_LOW_CONFIDENCE;
			return 0;
		}
	}
	rc = pattern_parse(&p, json_string_value(pattern),
	    json_string_length(pattern), &ind->vs);
	if (rc == -ENOMEM)
		return rc;
	if (p.syntax[0] != '\0')
		rc = ind_why(ind, IND_SKIPPED, "%s: %s", id, p.syntax);
	else if (p.unsup[0] != '\0')
		rc = ind_why(ind, IND_UNSUPPORTED, "%s: %s", id, p.unsup);
	else if (p.bad[0] != '\0')
		rc = ind_why(ind, IND_SKIPPED, "%s: %s", id, p.bad);
	else if (ind->vs.n == 0)
		rc = ind_why(ind, IND_SKIPPED, "%s: pattern has no value", id);
	else {
		ind->kind = IND_VALUES;
		return object_refs(o, &ind->refs);
	}
	vset_free(&ind->vs);
	return rc;
}

/* Use IND, the latest version of its id: count it, hand its rules over;
 * 0 or a negative code. */
static int
indicator_use(struct ctx *c, const struct ind *ind)
{
	struct rg_feed_stats *st = c->out.st;

	switch (ind->kind) {
	case IND_REVOKED:
		st->revoked++;
		return 0;
	case IND_EXPIRED:
		st->expired++;
		return 0;
	case IND_LOW_CONFIDENCE:
		st->low_confidence++;
		return 0;
	case IND_SKIPPED:
		rg_feed_skip(st, &st->skipped, "%s", ind->why);
		return 0;
	case IND_UNSUPPORTED:
		rg_feed_skip(st, &st->unsupported, "%s", ind->why);
		return 0;
	case IND_VALUES:
		break;
	}
	return emit_values(c, ind->id, object_tlp(c, ind->refs), &ind->vs);
}

static void
ind_free(struct ind *ind)
{
	free(ind->id);
	free(ind->why);
	free(ind->refs);
	vset_free(&ind->vs);
}

/* Forget what reading the objects found, as if nothing had been read. */
static void
ctx_clear(struct ctx *c)
{
	size_t i;

	for (i = 0; i < c->n_inds; i++)
		ind_free(&c->inds[i]);
	for (i = 0; i < c->n_marks; i++)
		free(c->marks[i].id);
	free(c->inds);
	free(c->marks);
	c->inds = NULL;
	c->marks = NULL;
	c->n_inds = c->cap_inds = c->n_marks = c->cap_marks = 0;
}

/* Room for one more element in *V (N used of *CAP, SIZE bytes each). */
static int
grow(void *vp, size_t n, size_t *cap, size_t size)
{
	void **v = vp, *nv;
	size_t ncap;

	if (n < *cap)
		return 0;
	ncap = *cap == 0 ? 64 : *cap * 2;
	if ((nv = reallocarray(*v, ncap, size)) == NULL)
		return -ENOMEM;
	*v = nv;
	*cap = ncap;
	return 0;
}

/* Object number I of the document, O: a marking-definition or an
 * indicator is read, the others are passed over.  0 or -ENOMEM. */
static int
object_read(void *arg, json_t *o, size_t i)
{
	struct ctx *c = arg;
	struct rg_feed_stats *st = c->out.st;
	const char *type, *id;
	struct ind *ind;
	enum rg_tlp tlp;

	if (!json_is_object(o)) {
		rg_feed_skip(st, &st->skipped, "objects[%zu]: not an object", i);
		return 0;
	}
	type = json_string_value(json_object_get(o, "type"));
	id = json_string_value(json_object_get(o, "id"));
	if (type == NULL) {
		rg_feed_skip(st, &st->skipped, "objects[%zu]: no type", i);
		return 0;
	}
	if (strcmp(type, "marking-definition") == 0 && id != NULL) {
		if ((tlp = marking_tlp(o)) == RG_TLP_NONE)
			return 0;
		if (grow(&c->marks, c->n_marks, &c->cap_marks,
		    sizeof(*c->marks)) < 0 ||
		    (c->marks[c->n_marks].id = strdup(id)) == NULL)
			return -ENOMEM;
		c->marks[c->n_marks++].tlp = tlp;
		return 0;
	}
	if (strcmp(type, "indicator") != 0)
		return 0;
	if (id == NULL || id[0] == '\0') {
		rg_feed_skip(st, &st->skipped, "objects[%zu]: indicator "
		    "without an id", i);
		return 0;
	}
	if (grow(&c->inds, c->n_inds, &c->cap_inds, sizeof(*c->inds)) < 0)
		return -ENOMEM;
	ind = &c->inds[c->n_inds];
	memset(ind, 0, sizeof(*ind));
	if ((ind->id = strdup(id)) == NULL)
		return -ENOMEM;
	c->n_inds++;
	ind->idx = i;
	/* Without a readable modified, any other version wins. */
	if (ts_prop(o, "modified", &ind->modified) <= 0 &&
	    ts_prop(o, "created", &ind->modified) <= 0) {
		ind->modified.sec = INT64_MIN;
		ind->modified.nsec = 0;
	}
	return indicator_read(c, o, ind);
}

/* The objects of document ROOT: *OBJS, or NULL when there are none. */
static int
document_objects(json_t *root, json_t **objs, char *msg, size_t msglen)
{
	const char *type;
	json_t *v;

	*objs = NULL;
	if (json_is_array(root)) {
		*objs = root;
		return 0;
	}
	if ((v = json_object_get(root, "objects")) != NULL) {
		if (!json_is_array(v)) {
			rg_feed_say(msg, msglen, "\"objects\" is not an array");
			return -EINVAL;
		}
		*objs = v;
		return 0;
	}
	/* A bundle or a TAXII envelope may leave an empty list out. */
	type = json_string_value(json_object_get(root, "type"));
	if ((type != NULL && strcmp(type, "bundle") == 0) ||
	    (type == NULL && (json_object_size(root) == 0 ||
	    json_object_get(root, "more") != NULL)))
		return 0;
	rg_feed_say(msg, msglen, "neither a STIX bundle nor a TAXII envelope "
	    "nor an array of STIX objects");
	return -EINVAL;
}

/* Read the whole document DATA at once: the way for documents that are
 * not a bundle, an envelope or an array of objects, or do not read. */
static long
document_read(struct ctx *c, const char *data, size_t len, char *msg,
    size_t msglen)
{
	json_t *root = NULL, *objs;
	size_t i, n;
	long rc;

	if ((rc = rg_json_load(data, len, &root, msg, msglen)) < 0)
		return rc;
	if (!json_is_object(root) && !json_is_array(root)) {
		rg_feed_say(msg, msglen, "not a JSON object or array");
		rc = -EINVAL;
		goto out;
	}
	if ((rc = document_objects(root, &objs, msg, msglen)) < 0 ||
	    objs == NULL)
		goto out;
	n = json_array_size(objs);
	for (i = 0; i < n && rc == 0; i++)
		rc = object_read(c, json_array_get(objs, i), i);
out:
	json_decref(root);
	return rc;
}

static long
stix_parse(const struct rg_feed_settings *s, const char *data, size_t len,
    rg_feed_emit_cb *emit, void *arg, struct rg_feed_stats *st, char *msg,
    size_t msglen)
{
	static const struct rg_feed_settings none;
	struct ctx c;
	size_t i, k;
	long rc;

	memset(&c, 0, sizeof(c));
	c.s = s != NULL ? s : &none;
	rg_feed_out_init(&c.out, emit, arg, st, msg, msglen);
	/* Object by object; a document of another shape, or one that does
	 * not read, is read again whole, which says what is wrong. */
	if ((rc = rg_json_each(data, len, "objects", object_read, &c)) == 1) {
		ctx_clear(&c);
		memset(st, 0, sizeof(*st));
		rc = document_read(&c, data, len, msg, msglen);
	}
	if (rc < 0) {
		if (rc == -ENOMEM)
			rg_feed_say(msg, msglen, "out of memory");
		goto out;
	}
	if (c.n_marks > 0)
		qsort(c.marks, c.n_marks, sizeof(*c.marks), mark_cmp);

	/* The latest version of each id, then back in document order. */
	if (c.n_inds > 0)
		qsort(c.inds, c.n_inds, sizeof(*c.inds), ind_cmp);
	for (i = 0, k = 0; i < c.n_inds; i++) {
		if (k == 0 || strcmp(c.inds[i].id, c.inds[k - 1].id) != 0)
			c.inds[k++] = c.inds[i];
		else
			ind_free(&c.inds[i]);
	}
	c.n_inds = k;
	if (k > 0)
		qsort(c.inds, k, sizeof(*c.inds), ind_idx_cmp);
	for (i = 0, rc = 0; i < k && rc == 0; i++)
		rc = indicator_use(&c, &c.inds[i]);
out:
	ctx_clear(&c);
	return rc < 0 ? rc : c.out.emitted;
}

static const struct rg_feed_ops stix_ops = {
	.parse = stix_parse,
};

const struct rg_plugin rg_plugin = {
	.abi = RG_PLUGIN_ABI,
	.name = "stix2",
	.kind = RG_PLUGIN_FEED,
	.feed = &stix_ops,
};
