/*
 * domains.c -- the "domains" feed format: one name per line, "*."
 * wildcards, comments, and hosts-file lines.  A name in Unicode becomes
 * its punycode by the rules of the feed plugins (plugins/lib/feedutil.c),
 * so that one name gives one rule whichever format a hub sends it in.
 *
 * One parser serves two callers: rg_feed_domains_parse() puts the names
 * straight into a builder; rg_feed_domains_emit() hands them over as feed
 * rules, as a format plugin does, so that the feeds keep the rules of a
 * new document from the parse that checks it to the build.  Names are
 * checked here as the builder checks them, so that both see the same
 * lines refused.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <idn2.h>

#include "blocklist.h"
#include "feeds.h"

#define BL_TEXT_MAX	255	/* longest name accepted in presentation form */
#define BL_WIRE_MAX	255	/* a name in wire form, root label included */
#define IDN_MAX		1024	/* longest name in UTF-8 read, in bytes */

/*
 * Takes name NAME (NUL-terminated) of line LINE; returns 0, 1 when the
 * name is refused (the line counts as a bad one), or a negative errno
 * code that stops the parse.
 */
typedef int domains_name_cb(void *arg, const char *name, size_t line);

static const char *const hosts_skip[] = {
	"localhost", "localhost.localdomain", "local", "localdomain",
	"broadcasthost", "ip6-localhost", "ip6-loopback", "ip6-localnet",
	"ip6-mcastprefix", "ip6-allnodes", "ip6-allrouters", "ip6-allhosts",
	"0.0.0.0", NULL
};

static int
hosts_skipped(const char *s, size_t n)
{
	size_t i;

	if (n > 0 && s[n - 1] == '.')
		n--;
	for (i = 0; hosts_skip[i] != NULL; i++)
		if (strlen(hosts_skip[i]) == n &&
		    strncasecmp(s, hosts_skip[i], n) == 0)
			return 1;
	return 0;
}

static int
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* A name in a list has only these bytes: anything else is another syntax
 * (a URL, an adblock filter) that must not become a rule silently. */
static int
list_name_ok(const char *s, size_t n)
{
	size_t i;
	char c;

	for (i = 0; i < n; i++) {
		c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		    c == '.' || c == '*'))
			return 0;
	}
	return 1;
}

/*
 * Whether S (N bytes of list_name_ok()) is a name the blocklist takes,
 * by the rules of its builder: at most 255 characters, a final dot
 * allowed, a leftmost "*" label making a wildcard and "*" as no other
 * label, labels of 1 to 63 bytes, at most 254 bytes in wire form without
 * the root label, and not the root (nor its wildcard).
 */
static int
name_ok(const char *s, size_t n)
{
	size_t i = 0, start, ll, w = 0;

	if (n == 0 || n > BL_TEXT_MAX)
		return 0;
	if (s[n - 1] == '.')
		n--;
	if (n >= 1 && s[0] == '*' && (n == 1 || s[1] == '.'))
		i = 2;
	if (i >= n)
		return 0;
	for (;;) {
		start = i;
		while (i < n && s[i] != '.')
			i++;
		ll = i - start;
		if (ll == 0 || ll > 63 || w + 1 + ll > BL_WIRE_MAX - 1)
			return 0;
		if (ll == 1 && s[start] == '*')
			return 0;
		w += 1 + ll;
		if (i == n)
			return 1;
		i++;
	}
}

/*
 * Name S (N bytes, some of them above ASCII) as A-labels into OUT
 * (BL_TEXT_MAX + 1 bytes): IDNA2008 with the UTS #46 mapping,
 * non-transitional, else transitional, as the feed plugins convert
 * (rg_name_norm()); a leading "*." stays, a final dot goes.  0, or
 * -EINVAL with *WHY (libidn2's reason, or NULL).
 */
static int
name_idn(const char *s, size_t n, char *out, const char **why)
{
	char in[IDN_MAX + 1], *ace = NULL;
	size_t wild = 0, al;
	int rc = -EINVAL, err;

	*why = NULL;
	if (n >= 2 && s[0] == '*' && s[1] == '.')
		wild = 2;
	if (n > wild && s[n - 1] == '.')
		n--;
	if (n - wild == 0 || n - wild > IDN_MAX)
		return -EINVAL;
	memcpy(in, s + wild, n - wild);
	in[n - wild] = '\0';
	if ((err = idn2_to_ascii_8z(in, &ace, IDN2_NONTRANSITIONAL)) !=
	    IDN2_OK && idn2_to_ascii_8z(in, &ace, IDN2_TRANSITIONAL) !=
	    IDN2_OK) {
		*why = idn2_strerror(err);
		goto out;
	}
	al = strlen(ace);
	/* A mapped full stop (U+3002) may end the name in a dot now. */
	if (al > 0 && ace[al - 1] == '.')
		al--;
	if (al == 0 || wild + al > BL_TEXT_MAX)
		goto out;
	memcpy(out, "*.", wild);
	memcpy(out + wild, ace, al);
	out[wild + al] = '\0';
	rc = 0;
out:
	idn2_free(ace);
	return rc;
}

/* Name S (N bytes) of a list, checked, into OUT (BL_TEXT_MAX + 1 bytes);
 * 0, or -EINVAL with *WHY when libidn2 says why. */
static int
list_name(const char *s, size_t n, char *out, const char **why)
{
	size_t i;

	*why = NULL;
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] >= 0x80)
			break;
	if (i < n) {
		/* libidn2 would stop at a NUL and read a shorter name. */
		if (memchr(s, '\0', n) != NULL ||
		    name_idn(s, n, out, why) < 0)
			return -EINVAL;
		n = strlen(out);
	} else {
		if (n > BL_TEXT_MAX)
			return -EINVAL;
		memcpy(out, s, n);
		out[n] = '\0';
	}
	if (!list_name_ok(out, n) || !name_ok(out, n))
		return -EINVAL;
	return 0;
}

static int
is_address(const char *s, size_t n)
{
	char a[64], *scope;
	uint8_t buf[16];

	if (n == 0 || n >= sizeof(a))
		return 0;
	memcpy(a, s, n);
	a[n] = '\0';
	/* "fe80::1%lo0" in the hosts files of some systems. */
	if ((scope = strchr(a, '%')) != NULL)
		*scope = '\0';
	return inet_pton(AF_INET, a, buf) == 1 ||
	    inet_pton(AF_INET6, a, buf) == 1;
}

static void
line_error(char *err, size_t err_len, size_t line, const char *what,
    const char *why, const char *s, size_t n)
{
	char text[84];
	size_t i, max = 80;

	if (err == NULL || err_len == 0)
		return;
	for (i = 0; i < n && i < max; i++)
		text[i] = (s[i] >= ' ' && s[i] < 0x7f) ? s[i] : '?';
	text[i] = '\0';
	snprintf(err, err_len, "line %zu: %s%s%s%s \"%s%s\"", line, what,
	    why != NULL ? " (" : "", why != NULL ? why : "",
	    why != NULL ? ")" : "", text, n > max ? "..." : "");
}

/* Take name S (N bytes) of LINE: 0 taken, 1 refused (*WHY may say why),
 * or the callback's negative code. */
static int
name_take(domains_name_cb *cb, void *arg, const char *s, size_t n,
    size_t line, const char **why)
{
	char name[BL_TEXT_MAX + 1];

	if (list_name(s, n, name, why) < 0)
		return 1;
	return cb(arg, name, line);
}

/* The parse itself: every name to CB; the names taken, or a negative
 * errno code. */
static long
domains_parse(domains_name_cb *cb, void *arg, const char *data, size_t len,
    size_t *skipped, char *err, size_t err_len)
{
	const char *p, *end, *eol, *next, *hash, *tok, *t, *why;
	size_t line = 0, bad = 0, n;
	long added = 0;
	int rc, hosts, line_bad, names;

	if (skipped != NULL)
		*skipped = 0;
	if (err != NULL && err_len > 0)
		err[0] = '\0';
	if (data == NULL && len > 0)
		return -EINVAL;
	for (p = data, end = data + len; p < end; p = next) {
		if ((eol = memchr(p, '\n', (size_t)(end - p))) == NULL)
			eol = end;
		next = eol < end ? eol + 1 : end;
		line++;
		if ((hash = memchr(p, '#', (size_t)(eol - p))) != NULL)
			t = hash;
		else
			t = eol;
		while (p < t && is_space(*p))
			p++;
		while (t > p && is_space(t[-1]))
			t--;
		if (p == t)
			continue;
		for (tok = p; tok < t && !is_space(*tok); tok++)
			;
		hosts = is_address(p, (size_t)(tok - p));
		if (!hosts) {
			/* One name, nothing else, on the line. */
			why = NULL;
			rc = tok == t ? name_take(cb, arg, p, (size_t)(t - p),
			    line, &why) : 1;
			if (rc == 1) {
				if (bad++ == 0)
					line_error(err, err_len, line,
					    why != NULL ? "invalid "
					    "internationalized name" :
					    "invalid name", why, p,
					    (size_t)(t - p));
				continue;
			}
			if (rc < 0)
				return rc;
			added++;
			continue;
		}
		line_bad = 0;
		names = 0;
		for (;;) {
			while (tok < t && is_space(*tok))
				tok++;
			if (tok == t)
				break;
			for (n = 0; tok + n < t && !is_space(tok[n]); n++)
				;
			names++;
			if (hosts_skipped(tok, n)) {
				tok += n;
				continue;
			}
			why = NULL;
			rc = name_take(cb, arg, tok, n, line, &why);
			if (rc == 1) {
				if (!line_bad && bad == 0)
					line_error(err, err_len, line,
					    why != NULL ? "invalid "
					    "internationalized name" :
					    "invalid name", why, tok, n);
				line_bad = 1;
			} else if (rc < 0)
				return rc;
			else
				added++;
			tok += n;
		}
		if (names == 0) {
			if (bad == 0)
				line_error(err, err_len, line,
				    "no name after address", NULL, p,
				    (size_t)(t - p));
			line_bad = 1;
		}
		if (line_bad)
			bad++;
	}
	if (skipped != NULL)
		*skipped = bad;
	return added;
}

/* rg_feed_domains_parse(): the names into a builder. */
struct to_builder {
	struct rg_bl_builder *b;
	int feed;
	enum rg_action action;
};

static int
to_builder_cb(void *arg, const char *name, size_t line)
{
	struct to_builder *t = arg;
	char indicator[32];
	int rc;

	snprintf(indicator, sizeof(indicator), "line %zu", line);
	rc = rg_bl_builder_add(t->b, name, t->action, t->feed, indicator);
	return rc == -EINVAL ? 1 : rc;
}

long
rg_feed_domains_parse(struct rg_bl_builder *b, int feed,
    enum rg_action action, const char *data, size_t len, size_t *skipped,
    char *err, size_t err_len)
{
	struct to_builder t = { b, feed, action };

	if (skipped != NULL)
		*skipped = 0;
	if (err != NULL && err_len > 0)
		err[0] = '\0';
	if (b == NULL)
		return -EINVAL;
	return domains_parse(to_builder_cb, &t, data, len, skipped, err,
	    err_len);
}

/* rg_feed_domains_emit(): the names as feed rules. */
struct to_emit {
	rg_feed_emit_cb *emit;
	void *arg;
	int rc;			/* what stopped the parse */
};

static int
to_emit_cb(void *arg, const char *name, size_t line)
{
	struct to_emit *t = arg;
	struct rg_feed_rule r;
	char indicator[32];

	snprintf(indicator, sizeof(indicator), "line %zu", line);
	memset(&r, 0, sizeof(r));
	r.trigger = RG_FEED_QNAME;
	r.name = name;
	r.action = RG_FEED_POLICY;
	r.indicator = indicator;
	t->rc = t->emit(t->arg, &r);
	return t->rc < 0 ? t->rc : 0;
}

long
rg_feed_domains_emit(const struct rg_feed_settings *s, const char *data,
    size_t len, rg_feed_emit_cb *emit, void *arg, struct rg_feed_stats *st,
    char *msg, size_t msglen)
{
	struct to_emit t = { emit, arg, 0 };
	size_t skipped = 0;
	long rc;

	(void)s;
	if (msg != NULL && msglen > 0)
		msg[0] = '\0';
	if (emit == NULL || st == NULL || (data == NULL && len > 0)) {
		if (msg != NULL && msglen > 0)
			snprintf(msg, msglen, "no document or no callback");
		return -EINVAL;
	}
	rc = domains_parse(to_emit_cb, &t, data, len, &skipped,
	    st->first_skip, sizeof(st->first_skip));
	if (rc < 0) {
		if (msg != NULL && msglen > 0)
			snprintf(msg, msglen, "%s", t.rc == -ENOMEM ?
			    "out of memory" : strerror((int)-rc));
		return rc;
	}
	st->rules = (uint64_t)rc;
	st->skipped = skipped;
	return rc;
}
