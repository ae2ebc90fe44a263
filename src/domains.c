/*
 * domains.c -- the "domains" feed format: one name per line, "*."
 * wildcards, comments, and hosts-file lines.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "blocklist.h"

#define BL_TEXT_MAX	255	/* longest name accepted in presentation form */

/* The "domains" list format. */

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
    const char *s, size_t n)
{
	char text[84];
	size_t i, max = 80;

	if (err == NULL || err_len == 0)
		return;
	for (i = 0; i < n && i < max; i++)
		text[i] = (s[i] >= ' ' && s[i] < 0x7f) ? s[i] : '?';
	text[i] = '\0';
	snprintf(err, err_len, "line %zu: %s \"%s%s\"", line, what, text,
	    n > max ? "..." : "");
}

/* Add name S (N bytes) from a list; 0, -EINVAL or -ENOMEM. */
static int
list_add(struct rg_bl_builder *b, int feed, enum rg_action action,
    const char *s, size_t n, const char *indicator)
{
	char name[BL_TEXT_MAX + 1];

	if (n > BL_TEXT_MAX || !list_name_ok(s, n))
		return -EINVAL;
	memcpy(name, s, n);
	name[n] = '\0';
	return rg_bl_builder_add(b, name, action, feed, indicator);
}

long
rg_feed_domains_parse(struct rg_bl_builder *b, int feed,
    enum rg_action action, const char *data, size_t len, size_t *skipped,
    char *err, size_t err_len)
{
	const char *p, *end, *eol, *next, *hash, *tok, *t;
	size_t line = 0, bad = 0, n;
	char indicator[32];
	long added = 0;
	int rc, hosts, line_bad, names;

	if (skipped != NULL)
		*skipped = 0;
	if (err != NULL && err_len > 0)
		err[0] = '\0';
	if (b == NULL || (data == NULL && len > 0))
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
		snprintf(indicator, sizeof(indicator), "line %zu", line);
		for (tok = p; tok < t && !is_space(*tok); tok++)
			;
		hosts = is_address(p, (size_t)(tok - p));
		if (!hosts) {
			/* One name, nothing else, on the line. */
			rc = tok == t ? list_add(b, feed, action, p,
			    (size_t)(t - p), indicator) : -EINVAL;
			if (rc == -EINVAL) {
				if (bad++ == 0)
					line_error(err, err_len, line,
					    "invalid name", p, (size_t)(t - p));
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
			rc = list_add(b, feed, action, tok, n, indicator);
			if (rc == -EINVAL) {
				if (!line_bad && bad == 0)
					line_error(err, err_len, line,
					    "invalid name", tok, n);
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
				    "no name after address", p,
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
