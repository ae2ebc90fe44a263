/*
 * feed-adblock -- the "adblock" feed format: the AdBlock-style lists that
 * public DNS blocklists publish (the AdGuard DNS filtering syntax), with
 * the hosts-file lines and plain names such lists mix in.
 *
 * "||name^" blocks NAME and the names below it (two rules, NAME and
 * "*.NAME"); "@@||name^" makes the same two rules exceptions.  A hosts
 * line ("0.0.0.0 name", "127.0.0.1 name") blocks NAME alone, and so does a
 * line that is a name alone: AdGuard's syntax says "example.org" blocks
 * example.org but not its subdomains.  An exception must beat a block of
 * the same name whatever their order, and the agent keeps the first rule
 * it is given for a name, so the document is read twice: exceptions are
 * emitted on the first pass (which also does the counting), blocks on the
 * second.
 *
 * A name in Unicode (UTF-8) becomes its punycode, as a resolver would ask
 * for it; in "*.name" only NAME is converted.
 *
 * What a DNS blocklist cannot do exactly is counted unsupported, never
 * widened or narrowed into something else: regular expressions, paths,
 * wildcards other than a leading "*.", patterns not anchored at a name,
 * cosmetic rules, hosts lines that answer with another address, and every
 * modifier but $important.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../plugin.h"
#include "../lib/feedutil.h"

#define AB_QUOTE_MAX	80	/* of a line, in a message */

struct ab {
	struct rg_feed_out out;
	int pass;		/* 0: exceptions and counting; 1: blocks */
	unsigned long line;
	unsigned long seen;	/* lines of the format, used or not */
};

/* Names of hosts files that are no rules. */
static const char *const ab_hosts_skip[] = {
	"localhost", "localhost.localdomain", "local", "localdomain",
	"broadcasthost", "ip6-localhost", "ip6-loopback", "ip6-localnet",
	"ip6-mcastprefix", "ip6-allnodes", "ip6-allrouters", "ip6-allhosts",
	"0.0.0.0", NULL
};

/* Markers of cosmetic (element hiding, CSS, scriptlet, HTML) rules. */
static const char *const ab_cosmetic[] = {
	"##", "#@#", "#$#", "#@$#", "#?#", "#@?#", "#%#", "#@%#", "$$", "$@$",
	NULL
};

static int
ab_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* Count the current line skipped (or UNSUPPORTED), on the counting pass;
 * describe the first, quoting S (N bytes). */
static void
ab_skip(struct ab *z, int unsupported, const char *why, const char *s,
    size_t n)
{
	struct rg_feed_stats *st = z->out.st;
	char text[AB_QUOTE_MAX + 1];
	size_t i;

	if (z->pass != 0)
		return;
	if (unsupported) {
		st->unsupported++;
		z->seen++;
	} else
		st->skipped++;
	if (st->first_skip[0] != '\0')
		return;
	for (i = 0; i < n && i < AB_QUOTE_MAX; i++)
		text[i] = s[i] >= ' ' && s[i] < 0x7f ? s[i] : '?';
	text[i] = '\0';
	snprintf(st->first_skip, sizeof(st->first_skip),
	    "line %lu: %s: \"%s%s\"", z->line, why, text,
	    n > AB_QUOTE_MAX ? "..." : "");
}

/* Whether NEEDLE occurs in S (N bytes). */
static int
ab_find(const char *s, size_t n, const char *needle)
{
	size_t k = strlen(needle), i;

	for (i = 0; i + k <= n; i++)
		if (s[i] == needle[0] && memcmp(s + i, needle, k) == 0)
			return 1;
	return 0;
}

static int
ab_is_address(const char *s, size_t n, uint8_t *buf, int *af)
{
	char a[INET6_ADDRSTRLEN + 1];

	if (n == 0 || n >= sizeof(a))
		return 0;
	memcpy(a, s, n);
	a[n] = '\0';
	if (inet_pton(AF_INET, a, buf) == 1) {
		*af = AF_INET;
		return 1;
	}
	if (inet_pton(AF_INET6, a, buf) == 1) {
		*af = AF_INET6;
		return 1;
	}
	return 0;
}

/* Whether S (N bytes) is in ASCII. */
static int
ab_ascii(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] >= 0x80)
			return 0;
	return 1;
}

/* Bytes of adblock patterns: not in a name, but no typing error either. */
static int
ab_pattern_char(unsigned char c)
{
	return c != '\0' && strchr("*/:?&=^|%~,+;", c) != NULL;
}

/*
 * Check name S (LEN bytes, a final dot allowed, in punycode or in UTF-8)
 * and write it lowercased, in punycode, to OUT; NULL, or why not and
 * whether that is unsupported rather than invalid.  A reason about a name
 * in UTF-8 lasts until the next name is checked.
 */
static const char *
ab_name(const char *s, size_t len, char *out, int *unsupported)
{
	uint8_t addr[16];
	const char *why;
	size_t i, n = len;
	int af, pattern = 0, idn = 0;
	unsigned char c;

	*unsupported = 0;
	if (n > 1 && s[n - 1] == '.')
		n--;
	for (i = 0; i < n; i++) {
		c = (unsigned char)s[i];
		if (c >= 0x80)
			idn = 1;
		else if (ab_pattern_char(c))
			pattern = 1;
		else if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		    c == '.'))
			return "an invalid name";
	}
	if (pattern || (n > 0 && s[0] == '.')) {
		*unsupported = 1;
		if (memchr(s, '*', n) != NULL)
			return "a wildcard other than a leading \"*.\"";
		return "a pattern that is not a name";
	}
	if (ab_is_address(s, n, addr, &af)) {
		*unsupported = 1;
		return "an address, not a name";
	}
	/* Addresses were caught above: a last label of digits is a name. */
	if (rg_name_norm(s, len, RG_NAME_NUMERIC, out, &why) < 0)
		return idn ? why : "an invalid name";
	/* Full-width digits and dots map to an address. */
	if (idn && ab_is_address(out, strlen(out), addr, &af)) {
		*unsupported = 1;
		return "an address, not a name";
	}
	return NULL;
}

static int
ab_emit1(struct ab *z, const char *name, enum rg_feed_action action)
{
	struct rg_feed_rule r;
	char indicator[32];
	int rc;

	snprintf(indicator, sizeof(indicator), "line %lu", z->line);
	memset(&r, 0, sizeof(r));
	r.trigger = RG_FEED_QNAME;
	r.name = name;
	r.action = action;
	r.indicator = indicator;
	if ((rc = rg_feed_emit(&z->out, &r)) < 0)
		rg_feed_say(z->out.msg, z->out.msglen, "line %lu: the rule for "
		    "%s was refused: %s", z->line, name, strerror(-rc));
	return rc;
}

/*
 * Emit NAME (lowercased, valid) on the pass of its kind: the exact name
 * when EXACT, "*.NAME" when BELOW.
 */
static int
ab_emit(struct ab *z, const char *name, int exact, int below, int except)
{
	char wild[RG_NAME_MAX + 5];
	int rc;

	if (except != (z->pass == 0))
		return 0;
	if (exact && (rc = ab_emit1(z, name, except ? RG_FEED_PASSTHRU :
	    RG_FEED_POLICY)) < 0)
		return rc;
	if (below) {
		snprintf(wild, sizeof(wild), "*.%s", name);
		if ((rc = ab_emit1(z, wild, except ? RG_FEED_PASSTHRU :
		    RG_FEED_POLICY)) < 0)
			return rc;
	}
	return 0;
}

static int
ab_hosts_skipped(const char *s, size_t n)
{
	size_t i;

	if (n > 0 && s[n - 1] == '.')
		n--;
	for (i = 0; ab_hosts_skip[i] != NULL; i++)
		if (strlen(ab_hosts_skip[i]) == n &&
		    strncasecmp(s, ab_hosts_skip[i], n) == 0)
			return 1;
	return 0;
}

/* A hosts line P..T: an address (ADDR, of family AF), then names. */
static int
ab_hosts(struct ab *z, const char *p, const char *t, const uint8_t *addr,
    int af)
{
	static const uint8_t any6[16], lo6[16] = { [15] = 1 };
	char name[RG_NAME_MAX + 2], badwhy[128];
	const char *tok, *bad = NULL, *why;
	size_t n, bad_n = 0;
	int names = 0, good = 0, rc, unsup;

	/* The unspecified and the loopback addresses block; any other
	 * answers with itself, which a feed is not trusted to do. */
	if (!(af == AF_INET ? addr[0] == 127 || memcmp(addr, any6, 4) == 0 :
	    memcmp(addr, any6, 16) == 0 || memcmp(addr, lo6, 16) == 0)) {
		ab_skip(z, 1, "a hosts line answering with an address of "
		    "its own", p, (size_t)(t - p));
		return 0;
	}
	for (tok = p; tok < t && !ab_space(*tok); tok++)
		;
	for (;;) {
		while (tok < t && ab_space(*tok))
			tok++;
		if (tok == t)
			break;
		for (n = 0; tok + n < t && !ab_space(tok[n]); n++)
			;
		names++;
		if (!ab_hosts_skipped(tok, n)) {
			if ((why = ab_name(tok, n, name, &unsup)) != NULL) {
				if (bad == NULL) {
					bad = tok;
					bad_n = n;
					/* Say what libidn2 refused. */
					snprintf(badwhy, sizeof(badwhy), "%s",
					    ab_ascii(tok, n) ? "an invalid "
					    "name" : why);
				}
			} else if ((rc = ab_emit(z, name, 1, 0, 0)) < 0)
				return rc;
			else
				good++;
		}
		tok += n;
	}
	if (names == 0)
		ab_skip(z, 0, "no name after the address", p, (size_t)(t - p));
	else if (bad != NULL)
		ab_skip(z, 0, badwhy, bad, bad_n);
	if (z->pass == 0 && names > 0 && (bad == NULL || good > 0))
		z->seen++;
	return 0;
}

/* The modifiers M (N bytes, after "$"); 0, or why not. */
static const char *
ab_modifiers(const char *m, size_t n)
{
	const char *e;
	size_t k;

	if (n == 0)
		return "an empty modifier list";
	while (n > 0) {
		e = memchr(m, ',', n);
		k = e != NULL ? (size_t)(e - m) : n;
		if (!(k == 9 && memcmp(m, "important", 9) == 0))
			return "a modifier other than $important";
		if (e == NULL)
			break;
		m += k + 1;
		n -= k + 1;
		if (n == 0)
			return "an empty modifier";
	}
	return NULL;
}

/* Whether P..T is a cosmetic rule; a line starting with "#" is one only
 * when the marker is followed by the rule ("##.ad", not "## Ads"). */
static int
ab_cosmetic_rule(const char *p, const char *t)
{
	const char *q;
	size_t i, k;

	for (i = 0; ab_cosmetic[i] != NULL; i++) {
		k = strlen(ab_cosmetic[i]);
		if (*p != '#') {
			if (ab_find(p, (size_t)(t - p), ab_cosmetic[i]))
				return 1;
		} else if ((size_t)(t - p) > k && memcmp(p, ab_cosmetic[i],
		    k) == 0) {
			q = p + k;
			if (!ab_space(*q) && *q != '#')
				return 1;
		}
	}
	return 0;
}

/* One line, P..T, trimmed and not empty. */
static int
ab_line(struct ab *z, const char *p, const char *t)
{
	char name[RG_NAME_MAX + 2];
	const char *b, *e, *w, *dollar, *why, *q;
	uint8_t addr[16];
	size_t n;
	int except = 0, anchored = 0, exact = 1, below = 0, unsup, af;

	if (*p != '#') {
		/* A comment after the rule, as hosts files have. */
		for (q = p + 1; q < t; q++)
			if (*q == '#' && ab_space(q[-1])) {
				for (t = q; t > p && ab_space(t[-1]); t--)
					;
				break;
			}
	}
	n = (size_t)(t - p);
	if (*p == '!' || (*p == '[' && t[-1] == ']')) {
		if (z->pass == 0)
			z->seen++;
		return 0;
	}
	if (ab_cosmetic_rule(p, t)) {
		ab_skip(z, 1, "a cosmetic rule", p, n);
		return 0;
	}
	if (*p == '#') {
		if (z->pass == 0)
			z->seen++;
		return 0;
	}
	for (e = p; e < t && !ab_space(*e); e++)
		;
	if (ab_is_address(p, (size_t)(e - p), addr, &af))
		return ab_hosts(z, p, t, addr, af);
	b = p;
	if (n >= 2 && b[0] == '@' && b[1] == '@') {
		except = 1;
		b += 2;
	}
	if (b < t && *b == '/') {
		ab_skip(z, 1, "a regular expression", p, n);
		return 0;
	}
	/* Modifiers may hold spaces ($client='My laptop'), names not. */
	if ((dollar = memchr(b, '$', (size_t)(t - b))) != NULL)
		e = dollar;
	else
		e = t;
	for (w = b; w < e; w++)
		if (ab_space(*w)) {
			ab_skip(z, 0, "more than one word", p, n);
			return 0;
		}
	if (dollar != NULL && (why = ab_modifiers(dollar + 1,
	    (size_t)(t - dollar - 1))) != NULL) {
		ab_skip(z, 1, why, p, n);
		return 0;
	}
	if (e - b >= 2 && b[0] == '|' && b[1] == '|') {
		anchored = 1;
		b += 2;
		/* "^" ends the name, maybe followed by "|" (the end). */
		if (e - b >= 2 && e[-2] == '^' && e[-1] == '|')
			e -= 2;
		else if (e > b && e[-1] == '^')
			e--;
		else {
			ab_skip(z, 1, memchr(b, '/', (size_t)(e - b)) != NULL ?
			    "a rule with a path" : "a pattern not ended by "
			    "\"^\"", p, n);
			return 0;
		}
		below = 1;
	} else if (b < e && *b == '|') {
		ab_skip(z, 1, "a pattern anchored at an address", p, n);
		return 0;
	}
	if (e - b >= 2 && b[0] == '*' && b[1] == '.') {
		/* "*.name": the names below NAME only. */
		b += 2;
		exact = 0;
		below = 1;
	}
	if ((why = ab_name(b, (size_t)(e - b), name, &unsup)) != NULL) {
		if (anchored && unsup && memchr(b, '/', (size_t)(e - b)) != NULL)
			why = "a rule with a path";
		ab_skip(z, unsup, why, p, n);
		return 0;
	}
	if (z->pass == 0)
		z->seen++;
	return ab_emit(z, name, exact, below, except);
}

static long
ab_parse(const struct rg_feed_settings *s, const char *data, size_t len,
    rg_feed_emit_cb *emit, void *arg, struct rg_feed_stats *st, char *msg,
    size_t msglen)
{
	struct ab z;
	const char *p, *end, *eol, *next, *t;
	int rc;

	if (emit == NULL || st == NULL || (data == NULL && len > 0)) {
		rg_feed_say(msg, msglen, "no document or no callback");
		return -EINVAL;
	}
	memset(&z, 0, sizeof(z));
	rg_feed_out_init(&z.out, emit, arg, st, msg, msglen);
	for (z.pass = 0; z.pass < 2; z.pass++) {
		z.line = 0;
		p = data;
		end = data + len;
		/* A byte order mark. */
		if (len >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0)
			p += 3;
		for (; p < end; p = next) {
			if ((eol = memchr(p, '\n', (size_t)(end - p))) == NULL)
				eol = end;
			next = eol < end ? eol + 1 : end;
			z.line++;
			for (t = eol; t > p && ab_space(t[-1]); t--)
				;
			while (p < t && ab_space(*p))
				p++;
			if (p == t)
				continue;
			if ((rc = ab_line(&z, p, t)) < 0)
				return rc;
		}
		if (z.pass == 0 && z.seen == 0 && st->skipped > 0) {
			rg_feed_say(msg, msglen, "not an adblock list: nothing "
			    "could be read (%s)", st->first_skip);
			return -EINVAL;
		}
	}
	return z.out.emitted;
}

static const struct rg_feed_ops ab_ops = {
	.parse = ab_parse,
};

const struct rg_plugin rg_plugin = {
	.abi = RG_PLUGIN_ABI,
	.name = "adblock",
	.kind = RG_PLUGIN_FEED,
	.feed = &ab_ops,
};
