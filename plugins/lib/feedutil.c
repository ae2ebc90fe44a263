/*
 * feedutil.c -- what the feed formats have in common: handing rules over,
 * describing skipped entries on one line of ASCII, and reading the values
 * of indicators (domain names, address prefixes, URL hosts, TLP levels)
 * the same way in every format, so that one indicator gives one rule
 * whichever hub sent it: a name in Unicode and its punycode give the same
 * rule, through libidn2.
 */
#include <sys/socket.h>
#include <arpa/inet.h>

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <idn2.h>

#include "feedutil.h"

/* The longest internationalized name read, in bytes of UTF-8: four for
 * each of the 253 characters of its A-labels, and some to spare. */
#define RG_IDN_MAX	1024

static const char *const tlp_str[RG_TLP_COUNT] = {
	"clear", "green", "amber", "amber+strict", "red"
};

void
rg_feed_out_init(struct rg_feed_out *o, rg_feed_emit_cb *emit, void *arg,
    struct rg_feed_stats *st, char *msg, size_t msglen)
{
	memset(o, 0, sizeof(*o));
	o->emit = emit;
	o->arg = arg;
	o->st = st;
	o->msg = msg;
	o->msglen = msglen;
	if (msg != NULL && msglen > 0)
		msg[0] = '\0';
}

int
rg_feed_emit(struct rg_feed_out *o, const struct rg_feed_rule *r)
{
	int rc;

	if (o->emit != NULL && (rc = o->emit(o->arg, r)) < 0)
		return rc;
	o->emitted++;
	o->st->rules++;
	return 0;
}

/* What must not reach a log line or a JSON string: control bytes, and
 * bytes above ASCII (a cut could leave half a character). */
static void
ascii_only(char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < ' ' || (unsigned char)*s >= 0x7f)
			*s = '?';
}

void
rg_feed_say(char *msg, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (msg == NULL || len == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, len, fmt, ap);
	va_end(ap);
	ascii_only(msg);
}

void
rg_feed_skip(struct rg_feed_stats *st, uint64_t *counter, const char *fmt,
    ...)
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

int
rg_name_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
	    c == '_';
}

/* Name S (N bytes, ASCII, no final dot) lowercased into OUT. */
static int
name_ascii(const char *s, size_t n, int flags, char *out, const char **why)
{
	size_t i, ll = 0;
	int numeric = 1;
	unsigned char c;

	if (n > RG_NAME_MAX) {
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
		if (!rg_name_char(c)) {
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
	if (numeric && !(flags & RG_NAME_NUMERIC)) {
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
 * Name S (N bytes, UTF-8, no final dot) as A-labels, lowercased and
 * checked, into OUT.  Non-transitional processing first, as resolvers
 * and browsers do since IDNA2008, transitional when that refuses the name
 * (a joiner in the wrong place, a symbol IDNA2003 took).
 */
static int
name_idn(const char *s, size_t n, int flags, char *out, const char **why)
{
	/* Per thread: feeds are parsed in the thread pool and, when pushed,
	 * on the HTTP thread. */
	static _Thread_local char idn_why[128];
	char in[RG_IDN_MAX + 1], *ace = NULL;
	const char *w;
	int rc, err;

	if (n > RG_IDN_MAX) {
		*why = "internationalized name longer than 1024 bytes";
		return -EINVAL;
	}
	/* libidn2 would stop at a NUL and read a shorter name. */
	if (memchr(s, '\0', n) != NULL) {
		*why = "a character not allowed in a name";
		return -EINVAL;
	}
	memcpy(in, s, n);
	in[n] = '\0';
	rc = -EINVAL;
	if ((err = idn2_to_ascii_8z(in, &ace, IDN2_NONTRANSITIONAL)) !=
	    IDN2_OK && idn2_to_ascii_8z(in, &ace, IDN2_TRANSITIONAL) !=
	    IDN2_OK) {
		w = idn2_strerror(err);
		goto out;
	}
	n = strlen(ace);
	/* A mapped full stop (U+3002) may end the name in a dot now. */
	if (n > 0 && ace[n - 1] == '.')
		n--;
	if (n == 0)
		w = "empty name";
	else
		rc = name_ascii(ace, n, flags, out, &w);
out:
	idn2_free(ace);
	if (rc < 0) {
		snprintf(idn_why, sizeof(idn_why), "an invalid "
		    "internationalized name (%s)", w);
		*why = idn_why;
	}
	return rc;
}

int
rg_name_norm(const char *s, size_t n, int flags, char *out,
    const char **why)
{
	size_t i;

	if (n > 0 && s[n - 1] == '.')
		n--;
	if (n == 0) {
		*why = "empty name";
		return -EINVAL;
	}
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] >= 0x80)
			return name_idn(s, n, flags, out, why);
	return name_ascii(s, n, flags, out, why);
}

int
rg_prefix_norm(const char *s, size_t n, int af, char *out, const char **why)
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
	if (inet_ntop(fam, buf, out, RG_PREFIX_MAX) == NULL)
		goto bad;
	if (plen != max)
		snprintf(out + strlen(out), RG_PREFIX_MAX - strlen(out),
		    "/%u", plen);
	return 0;
bad:
	*why = af == AF_INET ? "not an IPv4 address" : af == AF_INET6 ?
	    "not an IPv6 address" : "not an address";
	return -EINVAL;
}

int
rg_url_host(const char *s, size_t n, const char **host, size_t *hlen,
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

int
rg_host_rule(const char *h, size_t n, int bracketed,
    enum rg_feed_trigger *trigger, char *out, const char **why)
{
	const char *v4why;

	*trigger = RG_FEED_IP;
	if (bracketed)
		return rg_prefix_norm(h, n, AF_INET6, out, why);
	if (memchr(h, '/', n) == NULL &&
	    rg_prefix_norm(h, n, AF_INET, out, &v4why) == 0)
		return 0;
	*trigger = RG_FEED_QNAME;
	return rg_name_norm(h, n, 0, out, why);
}

const char *
rg_tlp_str(enum rg_tlp t)
{
	return t > RG_TLP_NONE && t < RG_TLP_COUNT ? tlp_str[t] : NULL;
}

/* A level's word alone: "red", "amber+strict", TLP 1.0's "white". */
static enum rg_tlp
tlp_word(const char *s)
{
	int i;

	if (strcasecmp(s, "white") == 0)
		return RG_TLP_CLEAR;
	for (i = 0; i < RG_TLP_COUNT; i++)
		if (strcasecmp(s, tlp_str[i]) == 0)
			return (enum rg_tlp)i;
	return RG_TLP_NONE;
}

enum rg_tlp
rg_tlp_level(const char *s)
{
	if (strncasecmp(s, "tlp:", 4) == 0)
		s += 4;
	return tlp_word(s);
}

enum rg_tlp
rg_tlp_tag(const char *s)
{
	if (strncasecmp(s, "tlp:", 4) != 0)
		return RG_TLP_NONE;
	return tlp_word(s + 4);
}

int
rg_feed_policy(struct rg_feed_out *o, enum rg_feed_trigger trigger,
    const char *text, const char *id, enum rg_tlp tlp)
{
	struct rg_feed_rule r;
	int rc;

	memset(&r, 0, sizeof(r));
	r.trigger = trigger;
	if (trigger == RG_FEED_QNAME)
		r.name = text;
	else
		r.prefix = text;
	r.action = RG_FEED_POLICY;
	r.indicator = id;
	r.tlp = rg_tlp_str(tlp);
	if ((rc = rg_feed_emit(o, &r)) < 0)
		rg_feed_say(o->msg, o->msglen, "%s: rule %s not taken (%s)",
		    id, text, strerror(-rc));
	return rc;
}
