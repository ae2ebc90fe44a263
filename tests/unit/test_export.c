/*
 * test_export.c -- unit tests of the RPZ export: rules of every kind (exact,
 * wildcard, every action, local data, response-IP prefixes of both
 * families) and the allowlist in, zone text out, read back with ldns:
 * every record must parse, every owner must be relative to the zone in the
 * text and below it once read, and each rule must come back as the records
 * RPZ gives its action.  Also names with bytes that need escapes, names
 * that do not fit under the zone, bad zone names and a large snapshot.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <ldns/ldns.h>

#include "blocklist.h"
#include "conf.h"
#include "export.h"

#define ZONE	"resguard.rpz."

#define assert_contains(hay, needle) do {				\
	if (strstr((hay), (needle)) == NULL)				\
		fail_msg("zone lacks \"%s\":\n%s", (needle), (hay));	\
} while (0)

#define assert_lacks(hay, needle) do {					\
	if (strstr((hay), (needle)) != NULL)				\
		fail_msg("zone contains \"%s\":\n%s", (needle), (hay));	\
} while (0)

/* The exported text, its zone read back, and the counts. */
struct result {
	char *text;
	size_t len;
	ldns_zone *z;
	ldns_rdf *origin;
	struct rg_export_stats st;
};

static void
result_free(struct result *r)
{
	free(r->text);
	if (r->z != NULL)
		ldns_zone_deep_free(r->z);
	if (r->origin != NULL)
		ldns_rdf_deep_free(r->origin);
	memset(r, 0, sizeof(*r));
}

/*
 * Every line that holds a record must have a relative owner: not ending in
 * a dot (the apex is "@"), and not one of the $ directives but $ORIGIN and
 * $TTL.
 */
static void
check_relative(const char *text)
{
	const char *p, *e, *f;
	char owner[1200];
	size_t n;

	for (p = text; *p != '\0'; p = *e != '\0' ? e + 1 : e) {
		e = p + strcspn(p, "\n");
		if (p == e || *p == ';')
			continue;
		if (*p == '$') {
			if (strncmp(p, "$ORIGIN ", 8) != 0 &&
			    strncmp(p, "$TTL ", 5) != 0)
				fail_msg("unexpected directive: %.*s",
				    (int)(e - p), p);
			continue;
		}
		f = p + strcspn(p, "\t ");
		n = (size_t)(f - p);
		if (n == 0 || n >= sizeof(owner))
			fail_msg("a record line without an owner: %.*s",
			    (int)(e - p), p);
		memcpy(owner, p, n);
		owner[n] = '\0';
		if (owner[n - 1] == '.' && (n < 2 || owner[n - 2] != '\\'))
			fail_msg("absolute owner \"%s\" in: %.*s", owner,
			    (int)(e - p), p);
	}
}

/* Parse R->text with ldns; every record must parse and sit in ZONENAME. */
static void
parse_back(struct result *r, const char *zonename)
{
	ldns_status s;
	ldns_rr *rr;
	FILE *fp;
	size_t i;
	int line = 0;

	for (i = 0; i < r->len; i++)
		if ((unsigned char)r->text[i] > 0x7e ||
		    ((unsigned char)r->text[i] < 0x20 && r->text[i] != '\n' &&
		    r->text[i] != '\t'))
			fail_msg("byte 0x%02x at %zu is not printable ASCII",
			    (unsigned char)r->text[i], i);
	check_relative(r->text);
	fp = fmemopen(r->text, r->len, "r");
	assert_non_null(fp);
	s = ldns_zone_new_frm_fp_l(&r->z, fp, NULL, 0, LDNS_RR_CLASS_IN,
	    &line);
	fclose(fp);
	if (s != LDNS_STATUS_OK)
		fail_msg("line %d: %s", line, ldns_get_errorstr_by_id(s));
	assert_int_equal(ldns_str2rdf_dname(&r->origin, zonename),
	    LDNS_STATUS_OK);
	assert_non_null(ldns_zone_soa(r->z));
	assert_int_equal(ldns_dname_compare(ldns_rr_owner(ldns_zone_soa(r->z)),
	    r->origin), 0);
	for (i = 0; i < ldns_zone_rr_count(r->z); i++) {
		rr = ldns_rr_list_rr(ldns_zone_rrs(r->z), i);
		if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_NS &&
		    ldns_dname_compare(ldns_rr_owner(rr), r->origin) == 0)
			continue;
		if (!ldns_dname_is_subdomain(ldns_rr_owner(rr), r->origin)) {
			char *o = ldns_rdf2str(ldns_rr_owner(rr));

			fail_msg("owner %s is not below %s", o, zonename);
		}
	}
}

static void
do_export(const struct rg_blocklist *bl, const struct rg_conf *conf,
    const char *zone, struct result *r)
{
	char err[256] = "";
	int rc;

	memset(r, 0, sizeof(*r));
	rc = rg_export_rpz_zone(bl, conf, zone, 42, &r->text, &r->len, &r->st,
	    err, sizeof(err));
	if (rc != 0)
		fail_msg("export: %d (%s)", rc, err);
	assert_non_null(r->text);
	assert_int_equal(strlen(r->text), r->len);
	parse_back(r, zone);
}

/*
 * The records read back at OWNER (relative to the zone) of TYPE, their
 * RDATA as ldns prints it, joined by "|" in the order found, in OUT.
 * Returns how many there are.
 */
static int
records(const struct result *r, const char *owner, ldns_rr_type type,
    char *out, size_t len)
{
	char name[1400], *zone, *s;
	ldns_rdf *abs = NULL;
	ldns_rr *rr;
	size_t i, o = 0;
	int n = 0;

	out[0] = '\0';
	zone = ldns_rdf2str(r->origin);
	assert_non_null(zone);
	snprintf(name, sizeof(name), "%s.%s", owner, zone);
	free(zone);
	/* A name too long to be in the zone has no records there. */
	if (ldns_str2rdf_dname(&abs, name) != LDNS_STATUS_OK)
		return 0;
	for (i = 0; i < ldns_zone_rr_count(r->z); i++) {
		rr = ldns_rr_list_rr(ldns_zone_rrs(r->z), i);
		if (ldns_rr_get_type(rr) != type ||
		    ldns_dname_compare(ldns_rr_owner(rr), abs) != 0)
			continue;
		s = ldns_rdf2str(ldns_rr_rdf(rr, 0));
		o += (size_t)snprintf(out + o, len > o ? len - o : 0, "%s%s",
		    n > 0 ? "|" : "", s);
		free(s);
		n++;
	}
	ldns_rdf_deep_free(abs);
	return n;
}

/* Assert the records of OWNER and TYPE are WANT ("a|b"; NULL: none). */
static void
expect_rr(const struct result *r, const char *owner, ldns_rr_type type,
    const char *want)
{
	char got[1024];
	int n = records(r, owner, type, got, sizeof(got));

	if (want == NULL) {
		if (n != 0)
			fail_msg("%s: expected no record, got \"%s\"", owner,
			    got);
		return;
	}
	if (strcmp(got, want) != 0)
		fail_msg("%s: expected \"%s\", got \"%s\"", owner, want, got);
}

/* Records at OWNER of any type. */
static size_t
owner_records(const struct result *r, const char *owner)
{
	static const ldns_rr_type t[] = {
		LDNS_RR_TYPE_A, LDNS_RR_TYPE_AAAA, LDNS_RR_TYPE_CNAME
	};
	char got[1024];
	size_t i, n = 0;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		n += (size_t)records(r, owner, t[i], got, sizeof(got));
	return n;
}

static struct rg_conf *
conf_new(const char *const *allow, size_t n)
{
	struct rg_conf *c = calloc(1, sizeof(*c));
	size_t i;

	assert_non_null(c);
	if (n > 0) {
		c->allowlist = calloc(n, sizeof(*c->allowlist));
		assert_non_null(c->allowlist);
		for (i = 0; i < n; i++)
			c->allowlist[i] = strdup(allow[i]);
		c->n_allowlist = n;
	}
	assert_int_equal(inet_pton(AF_INET, "192.0.2.123", c->sinkhole_a), 1);
	assert_int_equal(inet_pton(AF_INET6, "2001:db8::123",
	    c->sinkhole_aaaa), 1);
	return c;
}

static void
conf_del(struct rg_conf *c)
{
	size_t i;

	for (i = 0; i < c->n_allowlist; i++)
		free(c->allowlist[i]);
	free(c->allowlist);
	free(c);
}

static void
add(struct rg_bl_builder *b, const char *name, enum rg_action a, int feed,
    const char *local)
{
	struct rg_bl_meta m = { "test", NULL, local };
	int rc = rg_bl_builder_add_meta(b, name, a, feed, &m);

	if (rc != 0)
		fail_msg("add %s: %d", name, rc);
}

static void
add_ip(struct rg_bl_builder *b, const char *prefix, enum rg_action a,
    int feed, const char *local)
{
	struct rg_bl_meta m = { "test", NULL, local };
	int rc = rg_bl_builder_add_ip(b, prefix, a, feed, &m);

	if (rc != 0)
		fail_msg("add %s: %d", prefix, rc);
}

static void
test_every_kind(void **state)
{
	static const char *const allow[] = {
		"good.example.", "ok.wild.example.", "GOOD.example."
	};
	struct rg_bl_builder *b = rg_bl_builder_new();
	struct rg_conf *c = conf_new(allow, 3);
	struct rg_blocklist *bl;
	struct result r;
	int f0, f1;

	(void)state;
	assert_non_null(b);
	f0 = rg_bl_builder_feed(b, "rpzhub");
	f1 = rg_bl_builder_feed(b, "hub");
	add(b, "bad.example", RG_ACTION_NXDOMAIN, f1, NULL);
	add(b, "*.wild.example", RG_ACTION_NXDOMAIN, f1, NULL);
	add(b, "nodata.example", RG_ACTION_NODATA, f1, NULL);
	add(b, "dropped.example", RG_ACTION_DROP, f1, NULL);
	add(b, "refused.example", RG_ACTION_REFUSED, f1, NULL);
	add(b, "sink.example", RG_ACTION_SINKHOLE, f1, NULL);
	add(b, "*.sinkall.example", RG_ACTION_SINKHOLE, f1, NULL);
	add(b, "watched.example", RG_ACTION_LOG_ONLY, f1, NULL);
	/* Guard mode answers it, its exact rule winning over the wildcard. */
	add(b, "logged.wild.example", RG_ACTION_LOG_ONLY, f1, NULL);
	add(b, "exempt.wild.example", RG_ACTION_PASSTHRU, f0, NULL);
	add(b, "local.example", RG_ACTION_LOCAL, f0,
	    "A 192.0.2.7\nA 192.0.2.8\nAAAA 2001:db8::7");
	add(b, "walled.example", RG_ACTION_LOCAL, f0, "CNAME garden.example.");
	/* At and below the allowlist: left out, passthru instead. */
	add(b, "good.example", RG_ACTION_NXDOMAIN, f1, NULL);
	add(b, "x.good.example", RG_ACTION_NXDOMAIN, f1, NULL);
	add(b, "*.good.example", RG_ACTION_DROP, f1, NULL);
	add_ip(b, "192.0.2.0/24", RG_ACTION_NXDOMAIN, f0, NULL);
	add_ip(b, "198.51.100.77", RG_ACTION_LOCAL, f0, "A 192.0.2.250");
	add_ip(b, "198.51.100.99/32", RG_ACTION_PASSTHRU, f0, NULL);
	add_ip(b, "203.0.113.5/32", RG_ACTION_DROP, f0, NULL);
	add_ip(b, "203.0.113.9/32", RG_ACTION_NODATA, f0, NULL);
	add_ip(b, "2001:db8:bad::/48", RG_ACTION_SINKHOLE, f0, NULL);
	add_ip(b, "2001:db8::10/128", RG_ACTION_NXDOMAIN, f0, NULL);
	add_ip(b, "10.9.9.9/32", RG_ACTION_LOG_ONLY, f0, NULL);
	bl = rg_bl_build(b);
	assert_non_null(bl);

	do_export(bl, c, ZONE, &r);
	expect_rr(&r, "bad.example", LDNS_RR_TYPE_CNAME, ".");
	expect_rr(&r, "*.wild.example", LDNS_RR_TYPE_CNAME, ".");
	expect_rr(&r, "wild.example", LDNS_RR_TYPE_CNAME, NULL);
	expect_rr(&r, "nodata.example", LDNS_RR_TYPE_CNAME, "*.");
	expect_rr(&r, "dropped.example", LDNS_RR_TYPE_CNAME, "rpz-drop.");
	expect_rr(&r, "refused.example", LDNS_RR_TYPE_CNAME, ".");
	assert_contains(r.text, "refused.example\tCNAME\t.\t; refused");
	expect_rr(&r, "sink.example", LDNS_RR_TYPE_A, "192.0.2.123");
	expect_rr(&r, "sink.example", LDNS_RR_TYPE_AAAA, "2001:db8::123");
	expect_rr(&r, "*.sinkall.example", LDNS_RR_TYPE_A, "192.0.2.123");
	expect_rr(&r, "exempt.wild.example", LDNS_RR_TYPE_CNAME,
	    "rpz-passthru.");
	expect_rr(&r, "local.example", LDNS_RR_TYPE_A,
	    "192.0.2.7|192.0.2.8");
	expect_rr(&r, "local.example", LDNS_RR_TYPE_AAAA, "2001:db8::7");
	expect_rr(&r, "walled.example", LDNS_RR_TYPE_CNAME,
	    "garden.example.");
	assert_int_equal(owner_records(&r, "watched.example"), 0);
	assert_lacks(r.text, "watched");
	expect_rr(&r, "logged.wild.example", LDNS_RR_TYPE_CNAME,
	    "rpz-passthru.");
	assert_contains(r.text, "logged.wild.example\tCNAME\trpz-passthru.\t"
	    "; log-only");
	/* The allowlist, each name once though listed twice. */
	expect_rr(&r, "good.example", LDNS_RR_TYPE_CNAME, "rpz-passthru.");
	expect_rr(&r, "*.good.example", LDNS_RR_TYPE_CNAME, "rpz-passthru.");
	expect_rr(&r, "ok.wild.example", LDNS_RR_TYPE_CNAME, "rpz-passthru.");
	expect_rr(&r, "*.ok.wild.example", LDNS_RR_TYPE_CNAME,
	    "rpz-passthru.");
	assert_int_equal(owner_records(&r, "x.good.example"), 0);
	/* Response-IP triggers. */
	expect_rr(&r, "24.0.2.0.192.rpz-ip", LDNS_RR_TYPE_CNAME, ".");
	expect_rr(&r, "32.77.100.51.198.rpz-ip", LDNS_RR_TYPE_A,
	    "192.0.2.250");
	expect_rr(&r, "32.99.100.51.198.rpz-ip", LDNS_RR_TYPE_CNAME,
	    "rpz-passthru.");
	expect_rr(&r, "32.5.113.0.203.rpz-ip", LDNS_RR_TYPE_CNAME,
	    "rpz-drop.");
	expect_rr(&r, "32.9.113.0.203.rpz-ip", LDNS_RR_TYPE_CNAME, "*.");
	expect_rr(&r, "48.zz.bad.db8.2001.rpz-ip", LDNS_RR_TYPE_A,
	    "192.0.2.123");
	expect_rr(&r, "48.zz.bad.db8.2001.rpz-ip", LDNS_RR_TYPE_AAAA,
	    "2001:db8::123");
	expect_rr(&r, "128.10.zz.db8.2001.rpz-ip", LDNS_RR_TYPE_CNAME, ".");
	assert_int_equal(owner_records(&r, "32.9.9.9.10.rpz-ip"), 0);

	/* The counts, in the result and in the header. */
	assert_int_equal(r.st.names, 9);
	assert_int_equal(r.st.wildcards, 2);
	assert_int_equal(r.st.ips, 7);
	assert_int_equal(r.st.allowlist, 4);
	assert_int_equal(r.st.rules, 22);
	assert_int_equal(r.st.refused, 1);
	assert_int_equal(r.st.log_only, 2);
	assert_int_equal(r.st.allowlisted, 3);
	assert_int_equal(r.st.unusable, 0);
	assert_contains(r.text, "; 22 rules: 9 names, 2 wildcards, 7 "
	    "response-IP, 4 passthru for policy.allowlist\n");
	assert_contains(r.text, "; 1 refused rules written as NXDOMAIN");
	assert_contains(r.text, "; left out: 2 log-only (RPZ has no log-only "
	    "action), 3 at or below an allowlisted name, 0 ");
	/* The apex: $ORIGIN, $TTL, the SOA with the serial, one NS. */
	assert_contains(r.text, "$ORIGIN resguard.rpz.\n$TTL 60\n");
	assert_int_equal(ldns_rdf2native_int32(ldns_rr_rdf(
	    ldns_zone_soa(r.z), 2)), 42);
	/* Every rule is one record but the sinkholes (two) and the local
	 * data with three addresses; plus the NS. */
	assert_int_equal(ldns_zone_rr_count(r.z), 22 + 3 + 2 + 1);
	result_free(&r);

	/* Another zone, given without its final dot. */
	do_export(bl, c, "Policy.Example", &r);
	assert_contains(r.text, "$ORIGIN policy.example.\n");
	expect_rr(&r, "bad.example", LDNS_RR_TYPE_CNAME, ".");
	result_free(&r);

	/* Without a configuration: no allowlist, sinkholes unspecified. */
	do_export(bl, NULL, ZONE, &r);
	expect_rr(&r, "x.good.example", LDNS_RR_TYPE_CNAME, ".");
	expect_rr(&r, "*.good.example", LDNS_RR_TYPE_CNAME, "rpz-drop.");
	expect_rr(&r, "sink.example", LDNS_RR_TYPE_A, "0.0.0.0");
	expect_rr(&r, "sink.example", LDNS_RR_TYPE_AAAA, "::");
	assert_int_equal(r.st.allowlist, 0);
	assert_int_equal(r.st.allowlisted, 0);
	result_free(&r);
	rg_bl_free(bl);
	conf_del(c);
}

/* Names with bytes a zone file must escape read back as the same names. */
static void
test_escapes(void **state)
{
	static const char *const odd[] = {
		"semi;colon.example", "paren(s).example", "quo\"te.example",
		"dollar$.example", "at@.example", "caf\xc3\xa9.example",
		"st*r.example", "$origin.example", "back`tick.example",
		"under_score.example",
	};
	static const char *const allow[] = { "al\\;low.example." };
	struct rg_bl_builder *b = rg_bl_builder_new();
	struct rg_conf *c = conf_new(allow, 1);
	struct rg_blocklist *bl;
	struct result r;
	ldns_rdf *want, *lab;
	char got[64];
	size_t i;
	int f;

	(void)state;
	f = rg_bl_builder_feed(b, "hub");
	for (i = 0; i < sizeof(odd) / sizeof(odd[0]); i++)
		add(b, odd[i], RG_ACTION_NXDOMAIN, f, NULL);
	add(b, "*.wild;card.example", RG_ACTION_NXDOMAIN, f, NULL);
	add(b, "x.al;low.example", RG_ACTION_NXDOMAIN, f, NULL);
	bl = rg_bl_build(b);
	assert_non_null(bl);
	do_export(bl, c, ZONE, &r);
	assert_contains(r.text, "semi\\059colon.example\tCNAME\t.\n");
	assert_contains(r.text, "caf\\195\\169.example\tCNAME\t.\n");
	assert_contains(r.text, "under_score.example\tCNAME\t.\n");
	assert_contains(r.text, "*.wild\\059card.example\tCNAME\t.\n");
	/* Each owner read back is the name, byte for byte. */
	for (i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
		const char *dot = strchr(odd[i], '.');
		uint8_t w[300];
		size_t n = (size_t)(dot - odd[i]), k, found = 0;
		ldns_rr *rr;

		w[0] = (uint8_t)n;
		memcpy(w + 1, odd[i], n);
		memcpy(w + 1 + n, "\007example\010resguard\003rpz", 22);
		lab = ldns_rdf_new_frm_data(LDNS_RDF_TYPE_DNAME, n + 23, w);
		assert_non_null(lab);
		want = lab;
		for (k = 0; k < ldns_zone_rr_count(r.z); k++) {
			rr = ldns_rr_list_rr(ldns_zone_rrs(r.z), k);
			if (ldns_dname_compare(ldns_rr_owner(rr), want) == 0)
				found++;
		}
		if (found != 1)
			fail_msg("%s: %zu records read back", odd[i], found);
		ldns_rdf_deep_free(want);
	}
	/* The allowlisted name, given escaped, matches the rule below it. */
	assert_int_equal(records(&r, "al\\059low.example", LDNS_RR_TYPE_CNAME,
	    got, sizeof(got)), 1);
	assert_string_equal(got, "rpz-passthru.");
	assert_int_equal(records(&r, "*.al\\059low.example",
	    LDNS_RR_TYPE_CNAME, got, sizeof(got)), 1);
	assert_int_equal(r.st.allowlisted, 1);
	assert_int_equal(records(&r, "x.al\\059low.example",
	    LDNS_RR_TYPE_CNAME, got, sizeof(got)), 0);
	result_free(&r);
	rg_bl_free(bl);
	conf_del(c);
}

/* What a zone cannot hold is left out with a comment, the rest kept. */
static void
test_left_out(void **state)
{
	struct rg_bl_builder *b = rg_bl_builder_new();
	struct rg_blocklist *bl;
	struct result r;
	char longname[300];
	int f;

	(void)state;
	/* 4 labels of 62: 250 characters, 252 octets in wire form. */
	memset(longname, 'a', 250);
	longname[62] = longname[125] = longname[188] = '.';
	longname[250] = '\0';
	f = rg_bl_builder_feed(b, "hub");
	add(b, longname, RG_ACTION_NXDOMAIN, f, NULL);
	add(b, "x.rpz-ip", RG_ACTION_NXDOMAIN, f, NULL);
	add(b, "a.b.rpz-nsdname", RG_ACTION_NXDOMAIN, f, NULL);
	add(b, "rpz-client-ip", RG_ACTION_NXDOMAIN, f, NULL);
	add(b, "rpz-ipx.example", RG_ACTION_NXDOMAIN, f, NULL);
	add(b, "to-root.example", RG_ACTION_LOCAL, f, "CNAME .");
	add(b, "to-wild.example", RG_ACTION_LOCAL, f, "CNAME *.example.");
	add(b, "to-action.example", RG_ACTION_LOCAL, f,
	    "CNAME rpz-passthru.");
	add(b, "bad-local.example", RG_ACTION_LOCAL, f, "A 192.0.2.1\nMX 10");
	add(b, "bad-addr.example", RG_ACTION_LOCAL, f, "AAAA 192.0.2.1");
	add(b, "mixed.example", RG_ACTION_LOCAL, f,
	    "CNAME a.example.\nA 192.0.2.1\nCNAME b.example.");
	add(b, "two.example", RG_ACTION_LOCAL, f,
	    "cname a.example.\ncname b.example.");
	add(b, "blanks.example", RG_ACTION_LOCAL, f,
	    "  a 192.0.2.9 \n\n aaaa  2001:db8::9\n");
	bl = rg_bl_build(b);
	assert_non_null(bl);

	do_export(bl, NULL, ZONE, &r);
	assert_int_equal(owner_records(&r, longname), 0);
	assert_contains(r.text, "; left out: aaaa");
	assert_contains(r.text, ": too long under the zone\n");
	assert_int_equal(owner_records(&r, "x.rpz-ip"), 0);
	assert_contains(r.text, "; left out: x.rpz-ip: its last label");
	assert_contains(r.text, "; left out: a.b.rpz-nsdname: its last label");
	assert_contains(r.text, "; left out: rpz-client-ip: its last label");
	expect_rr(&r, "rpz-ipx.example", LDNS_RR_TYPE_CNAME, ".");
	assert_int_equal(owner_records(&r, "to-root.example"), 0);
	assert_int_equal(owner_records(&r, "to-wild.example"), 0);
	assert_int_equal(owner_records(&r, "to-action.example"), 0);
	assert_int_equal(owner_records(&r, "bad-local.example"), 0);
	assert_int_equal(owner_records(&r, "bad-addr.example"), 0);
	assert_contains(r.text, "; left out: to-root.example: its action or "
	    "local data cannot be said in a zone\n");
	expect_rr(&r, "mixed.example", LDNS_RR_TYPE_A, "192.0.2.1");
	expect_rr(&r, "mixed.example", LDNS_RR_TYPE_CNAME, NULL);
	assert_contains(r.text, "; mixed.example: 2 CNAMEs of its local data "
	    "left out");
	expect_rr(&r, "two.example", LDNS_RR_TYPE_CNAME, "a.example.");
	expect_rr(&r, "blanks.example", LDNS_RR_TYPE_A, "192.0.2.9");
	expect_rr(&r, "blanks.example", LDNS_RR_TYPE_AAAA, "2001:db8::9");
	assert_int_equal(r.st.unusable, 9);
	assert_int_equal(r.st.names, 4);
	assert_contains(r.text, ", 9 that a zone cannot hold");
	result_free(&r);

	/* Under a short zone the long name fits. */
	do_export(bl, NULL, "z.", &r);
	assert_int_equal(owner_records(&r, longname), 1);
	assert_int_equal(r.st.unusable, 8);
	result_free(&r);
	rg_bl_free(bl);
}

/* rpz-ip owners: IPv4 by octets, IPv6 by words with "zz" (RFC 5952). */
static void
test_ip_owners(void **state)
{
	static const struct {
		const char *prefix, *owner;
	} t[] = {
		{ "10.0.0.0/8", "8.0.0.0.10.rpz-ip" },
		{ "0.0.0.0/0", "0.0.0.0.0.rpz-ip" },
		{ "192.0.2.1", "32.1.2.0.192.rpz-ip" },
		{ "2001:db8::/32", "32.zz.db8.2001.rpz-ip" },
		{ "::/0", "0.zz.rpz-ip" },
		{ "::1/128", "128.1.zz.rpz-ip" },
		{ "2001:db8:0:1::57/128", "128.57.zz.1.0.db8.2001.rpz-ip" },
		{ "1:0:0:2:0:0:3:4/128", "128.4.3.0.0.2.zz.1.rpz-ip" },
		{ "1:2:3:4:5:6:7:8/128", "128.8.7.6.5.4.3.2.1.rpz-ip" },
		{ "1:0:2:3:4:5:6:7/128", "128.7.6.5.4.3.2.0.1.rpz-ip" },
		{ "fe80::/10", "10.zz.fe80.rpz-ip" },
	};
	struct rg_bl_builder *b = rg_bl_builder_new();
	struct rg_blocklist *bl;
	struct result r;
	char want[128];
	size_t i;
	int f;

	(void)state;
	f = rg_bl_builder_feed(b, "hub");
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		add_ip(b, t[i].prefix, RG_ACTION_NXDOMAIN, f, NULL);
	bl = rg_bl_build(b);
	assert_non_null(bl);
	do_export(bl, NULL, ZONE, &r);
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		snprintf(want, sizeof(want), "\n%s\tCNAME\t.\n", t[i].owner);
		assert_contains(r.text, want);
	}
	assert_int_equal(r.st.ips, sizeof(t) / sizeof(t[0]));
	assert_int_equal(r.st.rules, sizeof(t) / sizeof(t[0]));
	result_free(&r);
	rg_bl_free(bl);
}

/* Outcome of an IP rule's action for an answer: what the client gets. */
static const char *
outcome(enum rg_action a)
{
	switch (a) {
	case RG_ACTION_NXDOMAIN:
	case RG_ACTION_REFUSED:
		return "nxdomain";
	case RG_ACTION_NODATA:
		return "nodata";
	case RG_ACTION_DROP:
		return "drop";
	case RG_ACTION_SINKHOLE:
	case RG_ACTION_LOCAL:
		return "local";
	case RG_ACTION_PASSTHRU:
	case RG_ACTION_LOG_ONLY:
	case RG_ACTION_COUNT:
	default:
		return "answer";
	}
}

static uint32_t
rnd(uint32_t *seed)
{
	*seed = *seed * 1103515245u + 12345u;
	return *seed >> 8;
}

/*
 * Guard mode takes the earliest feed's response-IP rule before the longest
 * prefix; a policy zone the longest.  For every address of a range with
 * hundreds of nested rules from three feeds, the longest trigger of the
 * zone must give what guard mode gives.
 */
static void
precedence_round(uint32_t seed)
{
	static const enum rg_action acts[] = {
		RG_ACTION_NXDOMAIN, RG_ACTION_PASSTHRU, RG_ACTION_DROP,
		RG_ACTION_LOG_ONLY, RG_ACTION_NODATA
	};
	static const char *const names[] = { "first", "second", "third" };
	struct rg_bl_builder *b = rg_bl_builder_new();
	struct rg_conf *c = conf_new(NULL, 0);
	struct rg_conf_feed feeds[3];
	struct {
		uint8_t a[4];
		unsigned len;
		const char *what;
	} *z = NULL;
	struct rg_blocklist *bl;
	struct rg_bl_match m;
	struct result r;
	const char *p, *e, *want, *got;
	char prefix[64], rest[64];
	unsigned v[5], len, best, i, k, nz = 0;
	uint32_t mask;
	uint8_t addr[4];

	memset(feeds, 0, sizeof(feeds));
	for (i = 0; i < 3; i++) {
		feeds[i].name = (char *)names[i];
		assert_int_equal(rg_bl_builder_feed(b, names[i]), (int)i);
	}
	c->feeds = feeds;
	c->n_feeds = 3;
	for (i = 0; i < 300; i++) {
		len = 20 + rnd(&seed) % 13;
		mask = len == 32 ? 0xffffffffu : ~(0xffffffffu >> len);
		k = (0x0a000000u | (rnd(&seed) % 1024)) & mask;
		snprintf(prefix, sizeof(prefix), "%u.%u.%u.%u/%u", k >> 24,
		    (k >> 16) & 255, (k >> 8) & 255, k & 255, len);
		add_ip(b, prefix, acts[rnd(&seed) % 5], (int)(rnd(&seed) % 3),
		    NULL);
	}
	add_ip(b, "2001:db8::/32", RG_ACTION_DROP, 0, NULL);
	add_ip(b, "2001:db8:1::/48", RG_ACTION_NXDOMAIN, 1, NULL);
	bl = rg_bl_build(b);
	assert_non_null(bl);
	do_export(bl, c, ZONE, &r);

	/* The IPv6 rule inside an earlier feed's /32 is left out. */
	expect_rr(&r, "32.zz.db8.2001.rpz-ip", LDNS_RR_TYPE_CNAME,
	    "rpz-drop.");
	expect_rr(&r, "48.zz.1.db8.2001.rpz-ip", LDNS_RR_TYPE_CNAME, NULL);
	assert_true(r.st.shadowed > 1);
	assert_contains(r.text, " response-IP inside a wider prefix of an "
	    "earlier feed");

	/* The IPv4 triggers of the zone. */
	for (p = r.text; *p != '\0'; p = *e != '\0' ? e + 1 : e) {
		e = p + strcspn(p, "\n");
		if (sscanf(p, "%u.%u.%u.%u.%u.rpz-ip\tCNAME\t%63[^\t\n]", &v[0],
		    &v[1], &v[2], &v[3], &v[4], rest) != 6)
			continue;
		z = realloc(z, (nz + 1) * sizeof(*z));
		assert_non_null(z);
		z[nz].len = v[0];
		for (k = 0; k < 4; k++)
			z[nz].a[k] = (uint8_t)v[4 - k];
		z[nz].what = strcmp(rest, ".") == 0 ? "nxdomain" :
		    strcmp(rest, "*.") == 0 ? "nodata" :
		    strcmp(rest, "rpz-drop.") == 0 ? "drop" :
		    strcmp(rest, "rpz-passthru.") == 0 ? "answer" : "?";
		nz++;
	}
	assert_true(nz > 30);
	for (k = 0; k < 1024; k++) {
		uint32_t ak = 0x0a000000u | k, zk;

		addr[0] = 10;
		addr[1] = 0;
		addr[2] = (uint8_t)(k >> 8);
		addr[3] = (uint8_t)k;
		want = rg_bl_lookup_ip(bl, AF_INET, addr, &m) == 1 ?
		    outcome(m.action) : "answer";
		got = "answer";
		best = 0;
		for (i = 0; i < nz; i++) {
			zk = (uint32_t)z[i].a[0] << 24 |
			    (uint32_t)z[i].a[1] << 16 |
			    (uint32_t)z[i].a[2] << 8 | z[i].a[3];
			mask = z[i].len == 0 ? 0 : z[i].len == 32 ?
			    0xffffffffu : ~(0xffffffffu >> z[i].len);
			if ((ak & mask) == zk && (got == NULL ||
			    z[i].len + 1 > best)) {
				best = z[i].len + 1;
				got = z[i].what;
			}
		}
		if (strcmp(want, got) != 0)
			fail_msg("10.0.%u.%u: guard mode %s (rule %s), zone %s",
			    k >> 8, k & 255, want, m.rule, got);
	}
	free(z);
	result_free(&r);
	rg_bl_free(bl);
	c->feeds = NULL;
	c->n_feeds = 0;
	conf_del(c);
}

static void
test_ip_precedence(void **state)
{
	static const uint32_t seeds[] = { 7, 1, 3, 99, 12345 };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++)
		precedence_round(seeds[i]);
}

/* An IPv6 prefix does not override an IPv4 one: a zone cannot say so. */
static void
test_ip_families(void **state)
{
	static const char *const names[] = { "first", "second" };
	struct rg_bl_builder *b = rg_bl_builder_new();
	struct rg_conf *c = conf_new(NULL, 0);
	struct rg_conf_feed feeds[2];
	struct rg_blocklist *bl;
	struct result r;

	(void)state;
	memset(feeds, 0, sizeof(feeds));
	feeds[0].name = (char *)names[0];
	feeds[1].name = (char *)names[1];
	c->feeds = feeds;
	c->n_feeds = 2;
	assert_int_equal(rg_bl_builder_feed(b, names[0]), 0);
	assert_int_equal(rg_bl_builder_feed(b, names[1]), 1);
	add_ip(b, "::/0", RG_ACTION_PASSTHRU, 0, NULL);
	add_ip(b, "172.16.0.0/12", RG_ACTION_NXDOMAIN, 1, NULL);
	add_ip(b, "2001:db8::/32", RG_ACTION_NXDOMAIN, 1, NULL);
	bl = rg_bl_build(b);
	assert_non_null(bl);
	do_export(bl, c, ZONE, &r);
	expect_rr(&r, "0.zz.rpz-ip", LDNS_RR_TYPE_CNAME, "rpz-passthru.");
	expect_rr(&r, "12.0.0.16.172.rpz-ip", LDNS_RR_TYPE_CNAME, ".");
	expect_rr(&r, "32.zz.db8.2001.rpz-ip", LDNS_RR_TYPE_CNAME, NULL);
	assert_int_equal(r.st.shadowed, 1);
	result_free(&r);
	rg_bl_free(bl);
	c->feeds = NULL;
	c->n_feeds = 0;
	conf_del(c);
}

/*
 * Name rules: an exact rule before any wildcard, the longest wildcard
 * first, the allowlist before all, in guard mode and in the zone alike.
 * Every name of a small tree is asked of both, with rules of every
 * CNAME action (log-only among them) at random places of three feeds.
 */
static void
test_name_precedence(void **state)
{
	static const enum rg_action acts[] = {
		RG_ACTION_NXDOMAIN, RG_ACTION_PASSTHRU, RG_ACTION_DROP,
		RG_ACTION_LOG_ONLY, RG_ACTION_NODATA
	};
	static const char *const allow[] = { "b.a.ex." };
	char tree[121][24], name[32], owner[32], rest[32];
	struct rg_bl_builder *b;
	struct rg_conf *c = conf_new(allow, 1);
	struct rg_blocklist *bl;
	struct rg_bl_match m;
	struct result r;
	const char *p, *e, *want, *got;
	size_t i, j, k, n = 0, best, round;
	uint32_t seed = 5;

	(void)state;
	/* ex, then a.ex .. c.ex, then three more levels. */
	strcpy(tree[n++], "ex");
	for (i = 0; n < 121; i++)
		for (k = 0; k < 3 && n < 121; k++)
			snprintf(tree[n++], sizeof(tree[0]), "%c.%.20s",
			    (int)('a' + k), tree[i]);
	for (round = 0; round < 5; round++) {
		b = rg_bl_builder_new();
		for (i = 0; i < 3; i++)
			rg_bl_builder_feed(b, i == 0 ? "f0" : i == 1 ? "f1" :
			    "f2");
		for (i = 0; i < 60; i++) {
			j = rnd(&seed) % 121;
			snprintf(name, sizeof(name), "%s%s", rnd(&seed) % 2 ?
			    "*." : "", tree[j]);
			add(b, name, acts[rnd(&seed) % 5],
			    (int)(rnd(&seed) % 3), NULL);
		}
		bl = rg_bl_build(b);
		assert_non_null(bl);
		do_export(bl, c, ZONE, &r);
		for (i = 0; i < 121; i++) {
			int under = strcmp(tree[i], "b.a.ex") == 0 ||
			    strstr(tree[i], ".b.a.ex") != NULL;

			want = !under &&
			    rg_bl_lookup_str(bl, tree[i], &m) == 1 ?
			    outcome(m.action) : "answer";
			got = "answer";
			best = 0;
			for (p = r.text; *p != '\0';
			    p = *e != '\0' ? e + 1 : e) {
				const char *o = owner, *what;
				size_t ol;

				e = p + strcspn(p, "\n");
				if (sscanf(p, "%31[^\t\n]\tCNAME\t%31[^\t\n]",
				    owner, rest) != 2)
					continue;
				what = strcmp(rest, ".") == 0 ? "nxdomain" :
				    strcmp(rest, "*.") == 0 ? "nodata" :
				    strcmp(rest, "rpz-drop.") == 0 ? "drop" :
				    "answer";
				if (strcmp(o, tree[i]) == 0) {
					got = what;
					best = SIZE_MAX;
					break;
				}
				if (strncmp(o, "*.", 2) != 0)
					continue;
				o += 2;
				ol = strlen(o);
				if (strlen(tree[i]) > ol + 1 && strcmp(tree[i] +
				    strlen(tree[i]) - ol, o) == 0 &&
				    tree[i][strlen(tree[i]) - ol - 1] == '.' &&
				    ol + 1 > best) {
					best = ol + 1;
					got = what;
				}
			}
			if (strcmp(want, got) != 0)
				fail_msg("round %zu, %s: guard mode %s (rule "
				    "%s), zone %s:\n%s", round, tree[i], want,
				    under ? "allowlist" : m.rule, got, r.text);
		}
		result_free(&r);
		rg_bl_free(bl);
	}
	conf_del(c);
}

static void
test_zone_names(void **state)
{
	struct result r;
	char *text = (char *)1, err[256];
	size_t len = 1;

	(void)state;
	assert_int_equal(rg_export_rpz_zone(NULL, NULL, ".", 1, &text, &len,
	    NULL, err, sizeof(err)), -EINVAL);
	assert_null(text);
	assert_string_equal(err, "the zone cannot be the root");
	assert_int_equal(rg_export_rpz_zone(NULL, NULL, "a..b", 1, &text, &len,
	    NULL, err, sizeof(err)), -EINVAL);
	assert_contains(err, "is not a valid zone name");
	assert_int_equal(rg_export_rpz_zone(NULL, NULL, NULL, 1, &text, &len,
	    NULL, err, sizeof(err)), -EINVAL);
	errno = 0;
	assert_null(rg_export_rpz(NULL, NULL, "", &len));
	assert_int_equal(errno, EINVAL);

	/* No snapshot: the apex alone, a valid zone. */
	do_export(NULL, NULL, ZONE, &r);
	assert_int_equal(r.st.rules, 0);
	assert_int_equal(ldns_zone_rr_count(r.z), 1);
	assert_contains(r.text, "; 0 rules: ");
	result_free(&r);

	text = rg_export_rpz(NULL, NULL, "resguard.rpz", &len);
	assert_non_null(text);
	assert_int_equal(strlen(text), len);
	assert_contains(text, "$ORIGIN resguard.rpz.\n");
	free(text);
}

/* A snapshot of many rules: every one comes back. */
static void
test_large(void **state)
{
	struct rg_bl_builder *b = rg_bl_builder_new();
	struct rg_blocklist *bl;
	struct result r;
	char name[64];
	size_t i, n = 100000;
	int f;

	(void)state;
	f = rg_bl_builder_feed(b, "hub");
	for (i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "%sh%zu.example%zu",
		    i % 3 == 0 ? "*." : "", i, i % 97);
		add(b, name, i % 5 == 0 ? RG_ACTION_DROP : RG_ACTION_NXDOMAIN,
		    f, NULL);
	}
	bl = rg_bl_build(b);
	assert_non_null(bl);
	assert_int_equal(rg_bl_entries(bl), n);
	do_export(bl, NULL, ZONE, &r);
	assert_int_equal(r.st.rules, n);
	assert_int_equal(r.st.wildcards, (n + 2) / 3);
	assert_int_equal(ldns_zone_rr_count(r.z), n + 1);
	expect_rr(&r, "*.h99999.example89", LDNS_RR_TYPE_CNAME, ".");
	expect_rr(&r, "h5.example5", LDNS_RR_TYPE_CNAME, "rpz-drop.");
	result_free(&r);
	rg_bl_free(bl);
}

/* The digest says whether two zones hold the same policy, whatever their
 * serial; a copy of the settings exports as the settings do. */
static void
test_digest(void **state)
{
	struct rg_bl_builder *b;
	struct rg_blocklist *bl1, *bl2;
	struct rg_conf conf, *dup;
	struct rg_export_stats s1, s2, s3;
	char *t1, *t2, *t3, err[256], *allow[] = { (char *)"ok.example" };
	size_t l1, l2, l3;
	int f;

	(void)state;
	memset(&conf, 0, sizeof(conf));
	conf.allowlist = allow;
	conf.n_allowlist = 1;
	conf.sinkhole_a[0] = 192;
	b = rg_bl_builder_new();
	f = rg_bl_builder_feed(b, "hub");
	add(b, "bad.example", RG_ACTION_NXDOMAIN, f, NULL);
	add(b, "*.ok.example", RG_ACTION_SINKHOLE, f, NULL);
	bl1 = rg_bl_build(b);
	b = rg_bl_builder_new();
	f = rg_bl_builder_feed(b, "hub");
	add(b, "bad.example", RG_ACTION_NXDOMAIN, f, NULL);
	add(b, "*.ok.example", RG_ACTION_SINKHOLE, f, NULL);
	add(b, "worse.example", RG_ACTION_NXDOMAIN, f, NULL);
	bl2 = rg_bl_build(b);
	assert_non_null(bl1);
	assert_non_null(bl2);
	assert_non_null(dup = rg_export_conf_dup(&conf));
	assert_int_equal(rg_export_rpz_zone(bl1, &conf, ZONE, 1, &t1, &l1,
	    &s1, err, sizeof(err)), 0);
	assert_int_equal(rg_export_rpz_zone(bl1, dup, ZONE, 2, &t2, &l2, &s2,
	    err, sizeof(err)), 0);
	assert_int_equal(rg_export_rpz_zone(bl2, dup, ZONE, 2, &t3, &l3, &s3,
	    err, sizeof(err)), 0);
	assert_true(s1.digest != 0);
	assert_true(s1.digest == s2.digest);
	assert_true(s1.digest != s3.digest);
	/* Only the serial differs. */
	assert_int_equal(l1, l2);
	assert_true(strcmp(t1, t2) != 0);
	assert_contains(t2, "rpz-passthru.");
	free(t1);
	free(t2);
	free(t3);
	rg_export_conf_free(dup);
	rg_export_conf_free(NULL);
	rg_bl_free(bl1);
	rg_bl_free(bl2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_kind),
		cmocka_unit_test(test_escapes),
		cmocka_unit_test(test_left_out),
		cmocka_unit_test(test_ip_owners),
		cmocka_unit_test(test_ip_precedence),
		cmocka_unit_test(test_ip_families),
		cmocka_unit_test(test_name_precedence),
		cmocka_unit_test(test_zone_names),
		cmocka_unit_test(test_large),
		cmocka_unit_test(test_digest),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
