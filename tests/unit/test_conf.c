/*
 * test_conf.c -- the configuration file: good files load with the values
 * written and the defaults for the rest; each bad file gives exactly the
 * errors expected, every one of them in the one run, in file order.
 *
 * The files are in RG_TEST_DATA.  An expected error is written without its
 * file name when that is the bad file's own; "@D" in it stands for the
 * absolute directory RG_TEST_DATA, where relative file names point (an
 * error in an included file starts with "@D/" and names it).
 */
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "conf.h"
#include "util.h"

#ifndef RG_TEST_DATA
#error "RG_TEST_DATA must name the directory of the test files"
#endif

#define MAX_ERRORS	64

struct errors {
	char *line[MAX_ERRORS];
	size_t n;
};

static void
errors_cb(void *arg, const char *line)
{
	struct errors *e = arg;

	if (e->n < MAX_ERRORS)
		e->line[e->n] = strdup(line);
	e->n++;
}

static void
errors_free(struct errors *e)
{
	size_t i;

	for (i = 0; i < e->n && i < MAX_ERRORS; i++)
		free(e->line[i]);
	e->n = 0;
}

static const char *
data_path(const char *file, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", RG_TEST_DATA, file);
	return buf;
}

/* PREFIX followed by TMPL, with "@D" replaced by the data directory. */
static const char *
expand(const char *prefix, const char *tmpl, const char *dir, char *buf,
    size_t len)
{
	size_t n;

	n = (size_t)snprintf(buf, len, "%s", prefix);
	for (; *tmpl != '\0' && n + 1 < len; tmpl++) {
		if (tmpl[0] == '@' && tmpl[1] == 'D') {
			n += (size_t)snprintf(buf + n, len - n, "%s", dir);
			tmpl++;
		} else
			buf[n++] = *tmpl;
	}
	buf[n < len ? n : len - 1] = '\0';
	return buf;
}

/* Load FILE and expect the errors EXPECTED (NULL-terminated), in order. */
static void
check_bad(const char *file, const char *const expected[])
{
	struct rg_conf *conf = NULL;
	struct errors e = { .n = 0 };
	char path[PATH_MAX], dir[PATH_MAX], want[2 * PATH_MAX + 512];
	size_t n, i;
	int rc;

	if (realpath(RG_TEST_DATA, dir) == NULL)
		fail_msg("realpath(%s) failed", RG_TEST_DATA);
	data_path(file, path, sizeof(path));
	for (n = 0; expected[n] != NULL; n++)
		;
	rc = rg_conf_load(path, &conf, errors_cb, &e);
	assert_null(conf);
	if (e.n != n) {
		print_message("%s: %zu errors, %zu expected:\n", file, e.n, n);
		for (i = 0; i < e.n && i < MAX_ERRORS; i++)
			print_message("  %s\n", e.line[i]);
	}
	for (i = 0; i < e.n && i < n; i++)
		assert_string_equal(e.line[i], expand(expected[i][0] == '@' ?
		    "" : path, expected[i], dir, want, sizeof(want)));
	assert_int_equal(e.n, n);
	assert_int_equal(rc, -(int)n);
	errors_free(&e);
}

static struct rg_conf *
load_good(const char *path)
{
	struct rg_conf *conf = NULL;
	struct errors e = { .n = 0 };
	size_t i;
	int rc;

	rc = rg_conf_load(path, &conf, errors_cb, &e);
	for (i = 0; i < e.n && i < MAX_ERRORS; i++)
		print_message("unexpected: %s\n", e.line[i]);
	assert_int_equal(e.n, 0);
	assert_int_equal(rc, 0);
	assert_non_null(conf);
	errors_free(&e);
	return conf;
}

static void
assert_sockaddr(const struct rg_conf_upstream *up, int family,
    const char *addr, uint16_t port)
{
	char buf[INET6_ADDRSTRLEN];

	assert_int_equal(up->addr.ss_family, family);
	if (family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)&up->addr;

		assert_int_equal(up->addrlen, sizeof(*sin));
		assert_int_equal(ntohs(sin->sin_port), port);
		inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof(buf));
	} else {
		const struct sockaddr_in6 *sin6 = (const void *)&up->addr;

		assert_int_equal(up->addrlen, sizeof(*sin6));
		assert_int_equal(ntohs(sin6->sin6_port), port);
		inet_ntop(AF_INET6, &sin6->sin6_addr, buf, sizeof(buf));
	}
	assert_string_equal(buf, addr);
	assert_int_equal(up->port, port);
}

static void
test_good_minimal(void **state)
{
	char path[PATH_MAX], host[256];
	const struct rg_conf_upstream *up;
	const struct rg_conf_pool *pool;
	struct rg_conf *conf;

	conf = load_good(data_path("good-minimal.conf", path, sizeof(path)));
	assert_string_equal(conf->path, path);

	assert_int_equal(conf->n_listen, 0);
	assert_int_equal(conf->n_access_control, 2);
	assert_string_equal(conf->access_control[0], "127.0.0.0/8");
	assert_string_equal(conf->access_control[1], "::1/128");
	assert_int_equal(conf->threads, 0);
	assert_int_equal(conf->socket_affinity, 0);
	assert_string_equal(conf->control_socket,
	    "/run/resguard/control.sock");
	assert_null(conf->control_group);
	assert_string_equal(conf->state_dir, "/var/lib/resguard");
	assert_null(conf->user);
	assert_int_equal(gethostname(host, sizeof(host)), 0);
	assert_string_equal(conf->agent_id, host);
	assert_int_equal(conf->n_http_listen, 0);
	assert_string_equal(conf->backend_type, "builtin");

	assert_int_equal(conf->n_pools, 1);
	pool = &conf->pools[0];
	assert_string_equal(pool->name, "primary");
	assert_int_equal(pool->role, RG_ROLE_PRIMARY);
	assert_int_equal(pool->recursive, 0);
	assert_int_equal(pool->line, 4);
	assert_int_equal(pool->n_upstreams, 1);
	up = &pool->upstreams[0];
	assert_string_equal(up->name, "isp-a");
	assert_string_equal(up->address, "127.0.0.1");
	assert_int_equal(up->transport, RG_TRANSPORT_UDP);
	assert_null(up->tls_name);
	assert_null(up->ca_file);
	assert_null(up->spki_pin);
	assert_int_equal(up->line, 5);
	assert_sockaddr(up, AF_INET, "127.0.0.1", 5301);
	assert_null(pool->checks.expect_name);
	assert_int_equal(pool->checks.expect_type, 1);
	assert_int_equal(pool->checks.n_expect_answers, 0);
	assert_null(pool->checks.nxdomain_zone);
	assert_null(pool->checks.dnssec_signed);
	assert_null(pool->checks.dnssec_bogus);
	assert_int_equal(pool->checks.max_latency_ms, 0);
	assert_null(pool->root_hints);
	assert_int_equal(pool->n_root_addrs, 0);
	assert_null(pool->trust_anchor_file);

	assert_int_equal(conf->interval_ms, 1000);
	assert_int_equal(conf->timeout_ms, 800);
	assert_int_equal(conf->fall, 3);
	assert_int_equal(conf->rise, 3);
	assert_int_equal(conf->backoff_max_ms, 30000);
	assert_string_equal(conf->probe_name, ".");
	assert_int_equal(conf->probe_type, 6);
	assert_int_equal(conf->failback, RG_FAILBACK_AUTO);
	assert_int_equal(conf->failback_hold_s, 120);
	assert_int_equal(conf->journal_ring, 1000);
	assert_int_equal(conf->n_feeds, 0);
	assert_string_equal(conf->policy_action, "nxdomain");
	assert_int_equal(conf->n_allowlist, 0);
	assert_int_equal(conf->n_reports, 0);
	rg_conf_free(conf);
}

static void
test_good_full(void **state)
{
	char path[PATH_MAX], dir[PATH_MAX], want[PATH_MAX + 64];
	const struct rg_conf_upstream *up;
	const struct rg_conf_pool *pool;
	struct rg_conf *conf;

	assert_non_null(realpath(RG_TEST_DATA, dir));
	conf = load_good(data_path("good-full.conf", path, sizeof(path)));

	assert_int_equal(conf->n_listen, 2);
	assert_string_equal(conf->listen[0], "127.0.0.1@5353");
	assert_string_equal(conf->listen[1], "::1");
	assert_int_equal(conf->n_access_control, 3);
	assert_string_equal(conf->access_control[1], "2001:db8::/32");
	assert_int_equal(conf->threads, 4);
	assert_int_equal(conf->socket_affinity, 1);
	snprintf(want, sizeof(want), "%s/run/control.sock", dir);
	assert_string_equal(conf->control_socket, want);
	assert_string_equal(conf->control_group, "root");
	assert_string_equal(conf->state_dir, "/tmp/resguard-test-state");
	assert_string_equal(conf->user, "root");
	assert_string_equal(conf->agent_id, "resolver-1.example");
	assert_int_equal(conf->n_http_listen, 2);
	assert_string_equal(conf->http_listen[1], "::1@8054");
	assert_string_equal(conf->backend_type, "builtin");

	assert_int_equal(conf->n_pools, 3);
	pool = &conf->pools[0];
	assert_int_equal(pool->role, RG_ROLE_PRIMARY);
	assert_int_equal(pool->n_upstreams, 2);
	assert_int_equal(pool->upstreams[1].transport, RG_TRANSPORT_TCP);
	assert_sockaddr(&pool->upstreams[1], AF_INET6, "::1", 5302);
	assert_string_equal(pool->checks.expect_name, "canary.example.");
	assert_int_equal(pool->checks.expect_type, 28);
	assert_int_equal(pool->checks.n_expect_answers, 2);
	assert_string_equal(pool->checks.expect_answers[0], "2001:db8::1");
	assert_string_equal(pool->checks.expect_answers[1], "2001:db8::2");
	assert_string_equal(pool->checks.nxdomain_zone, "invalid.");
	assert_string_equal(pool->checks.dnssec_signed, "signed.example.");
	assert_string_equal(pool->checks.dnssec_bogus, "bogus.example.");
	assert_int_equal(pool->checks.max_latency_ms, 250);

	pool = &conf->pools[1];
	assert_string_equal(pool->name, "eu");
	assert_int_equal(pool->role, RG_ROLE_FALLBACK);
	up = &pool->upstreams[0];
	assert_string_equal(up->name, "eu-dot");
	assert_int_equal(up->transport, RG_TRANSPORT_TLS);
	assert_sockaddr(up, AF_INET, "127.0.0.2", 853);
	assert_string_equal(up->tls_name, "dot.example");
	snprintf(want, sizeof(want), "%s/ca.pem", dir);
	assert_string_equal(up->ca_file, want);
	assert_string_equal(up->spki_pin,
	    "x2dsT9ZcMCHS4SNAasP4icl6aPyM01SHBHZAgqFUHmc=");
	up = &pool->upstreams[1];
	assert_sockaddr(up, AF_INET6, "::1", 8853);
	assert_string_equal(up->tls_name, "dot.example");
	assert_null(up->ca_file);
	assert_int_equal(pool->checks.expect_type, 1);
	assert_int_equal(pool->checks.n_expect_answers, 1);
	assert_string_equal(pool->checks.expect_answers[0], "192.0.2.1");

	pool = &conf->pools[2];
	assert_string_equal(pool->name, "recursion");
	assert_int_equal(pool->role, RG_ROLE_LAST_RESORT);
	assert_int_equal(pool->recursive, 1);
	assert_int_equal(pool->n_upstreams, 1);
	up = &pool->upstreams[0];
	assert_string_equal(up->name, "recursion");
	assert_string_equal(up->address, "recursion");
	assert_int_equal(up->port, 0);
	assert_int_equal(up->transport, RG_TRANSPORT_RECURSIVE);
	assert_int_equal(up->addrlen, 0);
	assert_int_equal(up->line, pool->line);
	snprintf(want, sizeof(want), "%s/root.hints", dir);
	assert_string_equal(pool->root_hints, want);
	assert_int_equal(pool->n_root_addrs, 2);
	assert_string_equal(pool->root_addrs[0], "127.0.0.1@5399");
	assert_string_equal(pool->root_addrs[1], "::1");
	snprintf(want, sizeof(want), "%s/root.key", dir);
	assert_string_equal(pool->trust_anchor_file, want);
	assert_string_equal(pool->checks.dnssec_signed, "signed.lab.");

	assert_int_equal(conf->interval_ms, 500);
	assert_int_equal(conf->timeout_ms, 300);
	assert_int_equal(conf->fall, 2);
	assert_int_equal(conf->rise, 4);
	assert_int_equal(conf->backoff_max_ms, 8000);
	assert_string_equal(conf->probe_name, "example.");
	assert_int_equal(conf->probe_type, 2);
	assert_int_equal(conf->failback, RG_FAILBACK_MANUAL);
	assert_int_equal(conf->failback_hold_s, 0);
	assert_int_equal(conf->journal_ring, 10);

	assert_int_equal(conf->n_feeds, 2);
	assert_string_equal(conf->feeds[0].name, "hub");
	assert_string_equal(conf->feeds[0].format, "stix2");
	assert_string_equal(conf->feeds[0].source,
	    "taxii+https://hub.example/taxii2/");
	assert_int_equal(conf->feeds[0].refresh_s, 600);
	assert_string_equal(conf->feeds[1].format, "domains");
	assert_int_equal(conf->feeds[1].refresh_s, 300);
	assert_string_equal(conf->policy_action, "sinkhole");
	assert_int_equal(conf->n_allowlist, 2);
	assert_string_equal(conf->allowlist[0], "example.org.");
	assert_string_equal(conf->allowlist[1], "Gov.Example.");
	assert_int_equal(conf->n_reports, 2);
	assert_string_equal(conf->reports[0].type, "http");
	assert_string_equal(conf->reports[0].url,
	    "https://hub.example/report");
	assert_int_equal(conf->reports[0].interval_s, 30);
	snprintf(want, sizeof(want), "%s/ca.pem", dir);
	assert_string_equal(conf->reports[0].ca_file, want);
	assert_string_equal(conf->reports[1].type, "syslog");
	assert_null(conf->reports[1].url);
	assert_int_equal(conf->reports[1].interval_s, 60);

	assert_ptr_equal(rg_conf_pool_find(conf, "eu"), &conf->pools[1]);
	assert_null(rg_conf_pool_find(conf, "nope"));
	rg_conf_free(conf);
}

static void
test_good_empty_lists(void **state)
{
	char path[PATH_MAX];
	struct rg_conf *conf;

	conf = load_good(data_path("good-empty-lists.conf", path,
	    sizeof(path)));
	assert_int_equal(conf->n_listen, 0);
	assert_int_equal(conf->n_access_control, 0);
	assert_int_equal(conf->n_http_listen, 0);
	assert_int_equal(conf->n_feeds, 0);
	assert_int_equal(conf->n_reports, 0);
	assert_int_equal(conf->n_allowlist, 0);
	assert_int_equal(conf->n_pools, 1);
	assert_int_equal(conf->pools[0].role, RG_ROLE_PRIMARY);
	assert_int_equal(conf->pools[0].recursive, 1);
	/* The back-off cap follows a long interval when left out. */
	assert_int_equal(conf->interval_ms, 60000);
	assert_int_equal(conf->backoff_max_ms, 60000);
	rg_conf_free(conf);
}

static void
test_good_include(void **state)
{
	char path[PATH_MAX];
	struct rg_conf *conf;

	conf = load_good(data_path("good-include.conf", path, sizeof(path)));
	assert_int_equal(conf->n_pools, 1);
	assert_string_equal(conf->pools[0].upstreams[0].name, "isp-a");
	assert_int_equal(conf->fall, 5);
	rg_conf_free(conf);
}

/* Load TEXT from a temporary file. */
static struct rg_conf *
load_good_text(const char *text)
{
	struct rg_conf *conf;
	char path[] = "/tmp/rg-test-conf.XXXXXX";
	int fd;

	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	conf = load_good(path);
	unlink(path);
	return conf;
}

static void
test_good_backend(void **state)
{
	struct rg_conf *conf;

	conf = load_good_text("backend: { type = \"unbound\"; "
	    "control = \"/run/unbound.ctl\"; rpz-file = \"/tmp/r.rpz\"; "
	    "zones = [ \"example.\", \"corp.example\" ]; };\n"
	    "pools = ( { name = \"p\"; role = \"primary\"; upstreams = ( "
	    "{ name = \"u\"; address = \"127.0.0.1\"; } ); } );\n");
	assert_string_equal(conf->backend_type, "unbound");
	assert_string_equal(conf->backend_control, "/run/unbound.ctl");
	assert_int_equal(conf->backend_control_use_cert, -1);
	assert_null(conf->backend_control_key_file);
	assert_int_equal(conf->n_backend_zones, 2);
	assert_string_equal(conf->backend_zones[1], "corp.example.");
	assert_string_equal(conf->backend_rpz_file, "/tmp/r.rpz");
	assert_string_equal(conf->backend_rpz_zone, "resguard.rpz.");
	assert_null(conf->backend_path);
	rg_conf_free(conf);

	conf = load_good_text("backend: { type = \"unbound\"; "
	    "control = \"::1@8953\"; control-use-cert = false; };\n"
	    "pools = ( { name = \"p\"; role = \"primary\"; upstreams = ( "
	    "{ name = \"u\"; address = \"127.0.0.1\"; } ); } );\n");
	assert_int_equal(conf->backend_control_use_cert, 0);
	assert_int_equal(conf->n_backend_zones, 1);
	assert_string_equal(conf->backend_zones[0], ".");
	assert_null(conf->backend_rpz_file);
	rg_conf_free(conf);

	conf = load_good_text("backend: { type = \"resolvconf\"; "
	    "force = true; };\n"
	    "pools = ( { name = \"p\"; role = \"primary\"; upstreams = ( "
	    "{ name = \"u\"; address = \"127.0.0.1\"; } ); } );\n");
	assert_string_equal(conf->backend_type, "resolvconf");
	assert_string_equal(conf->backend_path, "/etc/resolv.conf");
	assert_int_equal(conf->backend_force, 1);
	assert_null(conf->backend_control);
	rg_conf_free(conf);
}

static void
test_example(void **state)
{
	static const char *const dns4eu[] = {
		"86.54.11.1", "86.54.11.201", "2a13:1001::86:54:11:1",
		"2a13:1001::86:54:11:201"
	};
	const struct rg_conf_pool *pool;
	struct rg_conf *conf;
	size_t i, primaries = 0;

	conf = load_good(RG_TEST_DATA "/../../../conf/resguard.conf.example");
	for (i = 0; i < conf->n_pools; i++)
		if (conf->pools[i].role == RG_ROLE_PRIMARY)
			primaries++;
	assert_int_equal(primaries, 1);

	pool = rg_conf_pool_find(conf, "dns4eu");
	assert_non_null(pool);
	assert_int_equal(pool->role, RG_ROLE_FALLBACK);
	assert_int_equal(pool->n_upstreams, 4);
	for (i = 0; i < 4; i++) {
		assert_string_equal(pool->upstreams[i].address, dns4eu[i]);
		assert_int_equal(pool->upstreams[i].transport,
		    RG_TRANSPORT_TLS);
		assert_int_equal(pool->upstreams[i].port, 853);
		assert_string_equal(pool->upstreams[i].tls_name,
		    "protective.joindns4.eu");
	}
	pool = rg_conf_pool_find(conf, "odvr");
	assert_non_null(pool);
	assert_int_equal(pool->role, RG_ROLE_FALLBACK);
	assert_int_equal(pool->n_upstreams, 2);
	assert_string_equal(pool->upstreams[0].address, "193.17.47.1");
	assert_string_equal(pool->upstreams[1].address, "185.43.135.1");
	assert_string_equal(pool->upstreams[1].tls_name, "odvr.nic.cz");
	pool = rg_conf_pool_find(conf, "recursion");
	assert_non_null(pool);
	assert_int_equal(pool->role, RG_ROLE_LAST_RESORT);
	assert_int_equal(pool->recursive, 1);
	rg_conf_free(conf);
}

static void
test_url_loopback(void **state)
{
	static const char *const yes[] = {
		"http://127.0.0.1/x", "http://127.1.2.3:8080/x",
		"https://localhost/x", "http://LOCALHOST:80", "http://[::1]:8080/",
		"taxii+http://127.0.0.1/api/", "http://user:pw@127.0.0.1/x",
		"axfr://127.0.0.1@5304/rpz.", "axfr://::1/rpz.",
		"http://hub.example@127.0.0.1/", NULL
	};
	static const char *const no[] = {
		"http://hub.example/x", "http://128.0.0.1/x",
		"http://127.0.0.1.hub.example/x", "http://[::2]/x",
		"http://127.0.0.1@hub.example/", "http://localhost.example/",
		"axfr://192.0.2.1@53/rpz.", "http:///x", "127.0.0.1", "push",
		"http://[::1", NULL
	};
	size_t i;

	(void)state;
	for (i = 0; yes[i] != NULL; i++)
		if (!rg_url_loopback(yes[i]))
			fail_msg("%s: not loopback", yes[i]);
	for (i = 0; no[i] != NULL; i++)
		if (rg_url_loopback(no[i]))
			fail_msg("%s: loopback", no[i]);
	/* What stays on this host, and the proxy libcurl is given. */
	assert_true(rg_url_local("http://127.0.0.1/x", NULL));
	assert_true(rg_url_local("http://127.0.0.1/x", ""));
	assert_true(rg_url_local("http://127.0.0.1/x", "http://[::1]:3128"));
	assert_false(rg_url_local("http://127.0.0.1/x",
	    "http://proxy.example:3128"));
	assert_false(rg_url_local("http://hub.example/x", "http://127.0.0.1:1"));
	assert_string_equal(rg_proxy_for("http://127.0.0.1/x", NULL), "");
	assert_null(rg_proxy_for("https://hub.example/x", NULL));
	assert_string_equal(rg_proxy_for("http://127.0.0.1/x", "http://p:1"),
	    "http://p:1");
	assert_string_equal(rg_proxy_for("https://hub.example/x", ""), "");
}

static void
test_parse_addr(void **state)
{
	static const char *const bad[] = {
		"", "@53", "127.0.0.1@", "127.0.0.1@0", "127.0.0.1@65536",
		"127.0.0.1@53x", "127.0.0.1@-1", "127.0.0.1@+53",
		"localhost", "localhost@53", "256.0.0.1", "[::1]:53",
		"::1@99999999999999999999", "127.0.0.1@53@53", " 127.0.0.1",
		"1.2.3", NULL
	};
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	char buf[INET6_ADDRSTRLEN];
	socklen_t len;
	size_t i;

	assert_int_equal(rg_conf_parse_addr("127.0.0.1@5301", 53, &ss, &len),
	    0);
	assert_int_equal(ss.ss_family, AF_INET);
	assert_int_equal(len, sizeof(*sin));
	assert_int_equal(ntohs(sin->sin_port), 5301);
	assert_int_equal(ntohl(sin->sin_addr.s_addr), 0x7f000001);

	assert_int_equal(rg_conf_parse_addr("::1@53", 5353, &ss, &len), 0);
	assert_int_equal(ss.ss_family, AF_INET6);
	assert_int_equal(len, sizeof(*sin6));
	assert_int_equal(ntohs(sin6->sin6_port), 53);

	assert_int_equal(rg_conf_parse_addr("::1", 5353, &ss, &len), 0);
	assert_int_equal(ntohs(sin6->sin6_port), 5353);
	inet_ntop(AF_INET6, &sin6->sin6_addr, buf, sizeof(buf));
	assert_string_equal(buf, "::1");

	assert_int_equal(rg_conf_parse_addr("2001:db8::1@853", 53, &ss, &len),
	    0);
	assert_int_equal(ntohs(sin6->sin6_port), 853);
	inet_ntop(AF_INET6, &sin6->sin6_addr, buf, sizeof(buf));
	assert_string_equal(buf, "2001:db8::1");

	assert_int_equal(rg_conf_parse_addr("192.0.2.1@65535", 53, &ss, &len),
	    0);
	assert_int_equal(ntohs(sin->sin_port), 65535);

	/* Without a default port, the port must be written. */
	assert_int_equal(rg_conf_parse_addr("127.0.0.1", 0, &ss, &len),
	    -EINVAL);
	assert_int_equal(rg_conf_parse_addr("127.0.0.1@8053", 0, &ss, &len),
	    0);

	for (i = 0; bad[i] != NULL; i++) {
		if (rg_conf_parse_addr(bad[i], 53, &ss, &len) != -EINVAL)
			fail_msg("\"%s\" was taken as an address", bad[i]);
	}
	assert_int_equal(rg_conf_parse_addr(NULL, 53, &ss, &len), -EINVAL);
}

static void
test_tables(void **state)
{
	assert_string_equal(rg_transport_str[RG_TRANSPORT_UDP], "udp");
	assert_string_equal(rg_transport_str[RG_TRANSPORT_TCP], "tcp");
	assert_string_equal(rg_transport_str[RG_TRANSPORT_TLS], "tls");
	assert_string_equal(rg_transport_str[RG_TRANSPORT_RECURSIVE],
	    "recursive");
	assert_string_equal(rg_role_str[RG_ROLE_PRIMARY], "primary");
	assert_string_equal(rg_role_str[RG_ROLE_FALLBACK], "fallback");
	assert_string_equal(rg_role_str[RG_ROLE_LAST_RESORT], "last-resort");
	rg_conf_free(NULL);
	assert_null(rg_conf_pool_find(NULL, "x"));
}

static void
test_no_callback(void **state)
{
	struct rg_conf *conf = NULL;
	char path[PATH_MAX];

	assert_int_equal(rg_conf_load(data_path("bad-range.conf", path,
	    sizeof(path)), &conf, NULL, NULL), -9);
	assert_null(conf);
}

static void
test_missing_file(void **state)
{
	check_bad("no-such.conf", (const char *const[]){
	    ": error: cannot read: No such file or directory",
	    NULL });
}

static void
test_directory(void **state)
{
	check_bad("", (const char *const[]){
	    ": error: cannot read: Is a directory",
	    NULL });
}

static void
test_bad_syntax(void **state)
{
	check_bad("bad-syntax.conf", (const char *const[]){
	    ":3: error: syntax error",
	    NULL });
}

static void
test_bad_empty(void **state)
{
	check_bad("bad-empty.conf", (const char *const[]){
	    ": error: pools: required setting is missing (exactly one pool "
	    "with role \"primary\" is needed)",
	    NULL });
}

static void
test_bad_unknown_key(void **state)
{
	check_bad("bad-unknown-key.conf", (const char *const[]){
	    ":2: error: unknown setting \"adress\" in pools[0].upstreams[0]",
	    ":4: error: unknown setting \"intervall-ms\" in health",
	    ":6: error: unknown setting \"serve\"",
	    NULL });
}

static void
test_bad_type(void **state)
{
	check_bad("bad-type.conf", (const char *const[]){
	    ":2: error: pools[0].upstreams[0].port: expected an integer, got a "
	    "string",
	    ":3: error: health.fall: expected an integer, got a floating-point "
	    "number",
	    ":3: error: health.rise: expected an integer, got a boolean",
	    ":4: error: server: expected a group { ... }, got a string",
	    ":5: error: policy.allowlist: expected a list of strings "
	    "[ \"...\", ... ], got a string",
	    ":6: error: feeds: expected a list ( { ... }, ... ), got a group",
	    NULL });
}

static void
test_bad_range(void **state)
{
	check_bad("bad-range.conf", (const char *const[]){
	    ":1: error: server.threads: 257 is out of range 0..256",
	    ":6: error: pools[1].upstreams[0].port: 70000 is out of range "
	    "1..65535",
	    ":7: error: pools[1].checks.max-latency-ms: 60001 is out of range "
	    "0..60000",
	    ":9: error: health.timeout-ms: 49 is out of range 50..60000",
	    ":9: error: health.backoff-max-ms: 1000 is less than "
	    "health.interval-ms (2000)",
	    ":10: error: failover.failback-hold-s: 86401 is out of range "
	    "0..86400",
	    /* libconfig alone would read this as 10. */
	    ":11: error: journal.ring: 4294967306 is out of range 10..1000000",
	    ":12: error: feeds[0].refresh-s: 5 is out of range 10..604800",
	    ":13: error: report[0].interval-s: 0 is out of range 1..86400",
	    NULL });
}

static void
test_bad_two_primaries(void **state)
{
	check_bad("bad-two-primaries.conf", (const char *const[]){
	    ":6: error: pools[2].role: a second primary pool (pools[0] \"isp\" "
	    "at line 2 is primary; exactly one is allowed)",
	    NULL });
}

static void
test_bad_no_primary(void **state)
{
	check_bad("bad-no-primary.conf", (const char *const[]){
	    ":2: error: pools: no pool has role \"primary\" (exactly one is "
	    "needed)",
	    NULL });
}

static void
test_bad_dup_upstream(void **state)
{
	check_bad("bad-dup-upstream.conf", (const char *const[]){
	    ":5: error: pools[1].name: duplicate pool name \"isp\" (first "
	    "defined at line 2)",
	    ":6: error: pools[1].upstreams[0].name: duplicate upstream name "
	    "\"a\" (first defined at line 3)",
	    ":7: error: pools[2].name: a recursive pool has an upstream of its "
	    "own name, and upstream \"b\" is defined at line 4",
	    ":9: error: pools[3].upstreams[0].name: duplicate upstream name "
	    "\"b\" (first defined at line 4)",
	    NULL });
}

static void
test_bad_tls(void **state)
{
	check_bad("bad-tls.conf", (const char *const[]){
	    ":4: error: pools[0].upstreams[0].tls-name: required with "
	    "transport \"tls\" (DNS over TLS without a name check is refused)",
	    ":5: error: pools[0].upstreams[1].tls-name: only allowed with "
	    "transport \"tls\"",
	    ":7: error: pools[0].upstreams[2].tls-name: \"bad..example\" is "
	    "not a valid host name",
	    ":8: error: pools[0].upstreams[3].transport: unknown transport "
	    "\"https\" (expected udp, tcp or tls)",
	    NULL });
}

static void
test_bad_address(void **state)
{
	check_bad("bad-address.conf", (const char *const[]){
	    ":1: error: server.listen[0]: \"127.0.0.1@0\" is not an address "
	    "(ADDRESS[@PORT] with a numeric IPv4 or IPv6 ADDRESS and PORT "
	    "1..65535)",
	    ":1: error: server.listen[1]: \"localhost@53\" is not an address "
	    "(ADDRESS[@PORT] with a numeric IPv4 or IPv6 ADDRESS and PORT "
	    "1..65535)",
	    ":2: error: server.access-control[0]: \"10.0.0.0/33\" is not a "
	    "prefix (ADDRESS/LENGTH, 0..32 for IPv4, 0..128 for IPv6)",
	    ":2: error: server.access-control[1]: \"10.0.0.0\" is not a "
	    "prefix (ADDRESS/LENGTH, 0..32 for IPv4, 0..128 for IPv6)",
	    ":3: error: http.listen[0]: \"127.0.0.1\" is not an address "
	    "(ADDRESS@PORT with a numeric IPv4 or IPv6 ADDRESS and PORT "
	    "1..65535)",
	    ":7: error: pools[0].upstreams[0].address: \"192.0.2.300\" is not "
	    "a numeric IPv4 or IPv6 address",
	    ":8: error: pools[0].upstreams[1].address: \"192.0.2.1@53\" is not "
	    "a numeric IPv4 or IPv6 address",
	    ":9: error: pools[0].upstreams[2].address: required setting is "
	    "missing",
	    ":12: error: pools[1].root-addresses[0]: \"::1@70000\" is not an "
	    "address (ADDRESS[@PORT] with a numeric IPv4 or IPv6 ADDRESS and "
	    "PORT 1..65535)",
	    NULL });
}

static void
test_bad_spki_pin(void **state)
{
	check_bad("bad-spki-pin.conf", (const char *const[]){
	    ":5: error: pools[0].upstreams[0].spki-pin: \"abc\" is not the "
	    "base64 of a 32-byte SHA-256 digest",
	    ":8: error: pools[0].upstreams[1].spki-pin: "
	    "\"h9T7CwPWqG73Oo1tjJIsRDkr+ISpHJDFbVmvQ8ixOA==\" is not the "
	    "base64 of a 32-byte SHA-256 digest",
	    ":11: error: pools[0].upstreams[2].spki-pin: "
	    "\"FjviJJzsRtCVnwNTZscVrEE0HvFW+LKFk8CghydiQEKMDE8EoHre9XaHjKKr7DkU\""
	    " is not the base64 of a 32-byte SHA-256 digest",
	    ":14: error: pools[0].upstreams[3].spki-pin: "
	    "\"x2dsT9ZcMCHS4SNAasP4icl6aPyM01SHBHZAgqF!Hmc=\" is not the "
	    "base64 of a 32-byte SHA-256 digest",
	    NULL });
}

static void
test_bad_backend(void **state)
{
	check_bad("bad-backend.conf", (const char *const[]){
	    ":5: error: backend.control-use-cert: expected a boolean (true or "
	    "false), got a string",
	    ":6: error: backend.zones[2]: zone \"EXAMPLE.\" is listed twice",
	    ":7: error: backend.rpz-zone: the root cannot be the RPZ zone",
	    ":8: error: backend.rpz-file: directory \"/nonexistent-rg\": No "
	    "such file or directory",
	    ":9: error: backend.path: not used by backend \"unbound\"",
	    ":10: error: backend.server-cert-file: only used with TLS remote "
	    "control (control on TCP, or control-use-cert = true)",
	    NULL });
	check_bad("bad-backend-tls.conf", (const char *const[]){
	    ":6: error: backend.control-key-file: cannot read "
	    "\"/nonexistent-rg/key\": No such file or directory",
	    ":9: error: backend.force: not used by backend \"unbound\"",
	    NULL });
	check_bad("bad-backend-unknown.conf", (const char *const[]){
	    ":1: error: backend.type: unknown backend \"bind\" (expected "
	    "builtin, unbound or resolvconf)",
	    NULL });
}

static void
test_bad_role(void **state)
{
	check_bad("bad-role.conf", (const char *const[]){
	    ":3: error: pools[0].role: unknown role \"primry\" (expected "
	    "primary, fallback or last-resort)",
	    ":5: error: pools[1].role: required setting is missing",
	    NULL });
}

static void
test_bad_pools(void **state)
{
	check_bad("bad-pools.conf", (const char *const[]){
	    ":2: error: pools[0].type: unknown pool type \"iterative\" "
	    "(expected forward or recursive)",
	    ":5: error: pools[1].upstreams: not allowed in a recursive pool",
	    ":6: error: pools[1].trust-anchor-file: cannot read "
	    "\"@D/no-such.key\": No such file or directory",
	    ":7: error: pools[2].upstreams: required setting is missing (a "
	    "forward pool needs at least one upstream)",
	    ":7: error: pools[2].root-hints: only allowed in a recursive pool "
	    "(type = \"recursive\")",
	    ":8: error: pools[3].upstreams: a forward pool needs at least one "
	    "upstream",
	    ":9: error: pools[4].name: \"auto\" is reserved (\"resguardctl "
	    "failover auto\")",
	    ":11: error: pools[5].name: \"my pool\" is not a valid name (1 to "
	    "63 letters, digits, '.', '-' or '_', starting with a letter or "
	    "digit)",
	    ":12: error: pools[5].upstreams[0].name: required setting is "
	    "missing",
	    ":14: error: pools[6]: expected a group { ... }, got a string",
	    NULL });
}

static void
test_bad_names(void **state)
{
	check_bad("bad-names.conf", (const char *const[]){
	    ":5: error: pools[0].checks.expect.type: \"BOGUS\" is not an RR "
	    "type a query can ask for",
	    ":6: error: pools[0].checks.nxdomain-zone: \"in valid\" is not a "
	    "valid domain name",
	    ":7: error: pools[0].checks.dnssec.signed: \"foo..example\" is not "
	    "a valid domain name",
	    ":11: error: pools[1].checks.expect.name: required setting is "
	    "missing",
	    ":11: error: pools[1].checks.expect.answer[1]: \"300.1.1.1\" is "
	    "not valid A data",
	    ":14: error: pools[2].checks.expect.answer: required setting is "
	    "missing",
	    ":16: error: health.probe.name: \"foo..bar\" is not a valid domain "
	    "name",
	    ":16: error: health.probe.type: \"AXFR\" is not an RR type a query "
	    "can ask for",
	    ":17: error: policy.action: unknown action \"block\" (expected "
	    "nxdomain, nodata, refused, drop, sinkhole or log-only)",
	    ":17: error: policy.allowlist[1]: \"bad..example\" is not a valid "
	    "domain name",
	    NULL });
}

static void
test_bad_feeds(void **state)
{
	check_bad("bad-feeds.conf", (const char *const[]){
	    ":4: error: feeds[0].format: unknown feed format \"csv\" (expected "
	    "stix2, misp, rpz, domains, adblock or directive)",
	    ":4: error: feeds[0].source: \"ftp://hub.example/x\" is not a URL "
	    "starting with file://, https://, http://, taxii+https://, "
	    "taxii+http:// or axfr://",
	    ":5: error: feeds[1].name: duplicate feed name \"a\" (first "
	    "defined at line 4)",
	    ":5: error: feeds[1].source: required setting is missing",
	    ":6: error: feeds[2].format: required setting is missing",
	    ":6: error: feeds[2].source: \"https://\" is not a URL starting "
	    "with file://, https://, http://, taxii+https://, taxii+http:// or "
	    "axfr://",
	    ":7: error: feeds[3].source: TAXII collections carry STIX 2.1; the "
	    "format must be \"stix2\"",
	    ":8: error: feeds[4].source: a zone transfer carries an RPZ zone; "
	    "the format must be \"rpz\"",
	    ":9: error: feeds[5].source: \"hub.example\" is not an IP address "
	    "with an optional @port",
	    ":9: error: feeds[5]: tsig-name and tsig-secret go together",
	    ":10: error: feeds[6].proxy: used only with https:// and TAXII "
	    "sources",
	    ":10: error: feeds[6].min-confidence: used only with format "
	    "\"stix2\"",
	    ":10: error: feeds[6].tsig-secret: used only with axfr:// sources",
	    ":11: error: feeds[7].ca-file: cannot read \"@D/none.pem\": No "
	    "such file or directory",
	    ":11: error: feeds[7].signature: needs hub-key-file, the key it is "
	    "checked with",
	    ":11: error: feeds[7].ca-file: used only with https:// and TAXII "
	    "sources",
	    ":12: error: feeds[8].min-confidence: 101 is out of range 0..100",
	    ":12: error: feeds[8].stale-after-s: 300 is not longer than "
	    "refresh-s (300): the feed would be stale between two checks",
	    ":12: error: feeds[8].spki-pin: \"abc\" is not the base64 of a "
	    "32-byte SHA-256 digest",
	    ":12: error: feeds[8]: username and password-file go together",
	    ":12: error: feeds[8].proxy: \"ftp://proxy.example\" is not a URL "
	    "starting with http://, https://, socks5:// or socks5h://",
	    ":13: error: feeds[9].tsig-algorithm: unknown TSIG algorithm "
	    "\"hmac-md4\" (expected hmac-md5, hmac-sha1, hmac-sha256 or "
	    "hmac-sha512)",
	    ":13: error: feeds[9].tsig-secret: not base64",
	    ":13: error: feeds[9]: tsig-name and tsig-secret go together",
	    ":14: error: feeds[10].token-file: sent to the source over "
	    "http://, the secret would cross the network in clear; use "
	    "https://",
	    ":15: error: feeds[11].token-file: sent to the signature over "
	    "http://, the secret would cross the network in clear; use "
	    "https://",
	    ":16: error: feeds[12].password-file: sent to the source over "
	    "taxii+http://, the secret would cross the network in clear; use "
	    "https://",
	    ":17: error: feeds[13].token-file: sent to the source over "
	    "http:// through a proxy off this host, the secret would cross "
	    "the network in clear; use https://",
	    ":20: error: report[0].url: required for type \"http\"",
	    ":21: error: report[1].url: \"ftp://m.example\" is not a URL "
	    "starting with https:// or http://",
	    ":21: error: report[1].ca-file: cannot read \"@D/none.pem\": No "
	    "such file or directory",
	    ":21: error: report[1].room: required for type \"matrix\"",
	    ":21: error: report[1].token-file: required for type \"matrix\" "
	    "(the access token)",
	    ":22: error: report[2].url: not used by type \"syslog\"",
	    ":22: error: report[2].proxy: not used by type \"syslog\"",
	    ":22: error: report[2].socket: \"udp:nowhere\" is not "
	    "udp:ADDRESS[@PORT]",
	    ":23: error: report[3].type: unknown report type \"email\" "
	    "(expected http, syslog or matrix)",
	    ":24: error: report[4].token-file: cannot read \"@D/none.token\": "
	    "No such file or directory",
	    ":24: error: report[4].room: \"general\" is not a room id "
	    "(\"!opaque:server\")",
	    ":24: error: report[4].sightings: type \"matrix\" sends events "
	    "only, not sightings",
	    ":25: error: report[5].token-file: sent to the url over http://, "
	    "the secret would cross the network in clear; use https://",
	    NULL });
}

static void
test_bad_server(void **state)
{
	check_bad("bad-server.conf", (const char *const[]){
	    ":2: error: server.control-socket: \"/run/resguard/a-very-long-"
	    "directory-name-that-goes-on/and-on-and-on/and-on-and-on-and-on/"
	    "and-on-and-on/control.sock\" is too long for a UNIX socket (at "
	    "most 107 bytes)",
	    ":3: error: server.control-group: no such group "
	    "\"resguard-no-such-group\"",
	    ":4: error: server.user: no such user \"resguard-no-such-user\"",
	    ":5: error: server.agent-id: must not be empty",
	    ":6: error: server.state-dir: expected a string, got an integer",
	    NULL });
}

static void
test_bad_include(void **state)
{
	check_bad("bad-include.conf", (const char *const[]){
	    ":3: error: health.rise: 0 is out of range 1..100",
	    "@D/include-bad.inc:3: error: pools[0].upstreams[0].port: 0 is out "
	    "of range 1..65535",
	    NULL });
}

/* Found by tests/fuzz/fuzz_conf.c: libconfig's scanner ended the process. */
static void
test_bad_include_dir(void **state)
{
	check_bad("bad-include-dir.conf", (const char *const[]){
	    ":3: error: @include \"domains\": a directory, not a file",
	    ":4: error: @include \"\": a directory, not a file",
	    NULL });
}

/* An HTTPS answer longer than ldns' first buffer made ldns abort. */
static void
test_good_https(void **state)
{
	struct rg_conf *conf;
	char path[PATH_MAX];

	conf = load_good(data_path("good-https.conf", path, sizeof(path)));
	assert_int_equal(conf->pools[0].checks.expect_type, 65);
	assert_int_equal(conf->pools[0].checks.n_expect_answers, 1);
	assert_string_equal(conf->pools[0].checks.expect_answers[0],
	    "1 . alpn=h2,h3,h3-29,h3-28,h3-27,http/1.1 "
	    "ipv4hint=192.0.2.1,192.0.2.2,192.0.2.3,192.0.2.4 "
	    "ipv6hint=2001:db8::1,2001:db8::2");
	rg_conf_free(conf);
}

static void
test_good_feeds(void **state)
{
	const struct rg_conf_feed *f;
	const struct rg_conf_report *r;
	struct rg_conf *conf;
	char path[PATH_MAX];

	conf = load_good(data_path("good-feeds.conf", path, sizeof(path)));
	assert_int_equal(conf->n_notify_listen, 2);
	assert_non_null(conf->push_token_file);
	assert_int_equal(conf->n_feeds, 4);
	f = &conf->feeds[0];
	assert_true(f->subdomains);
	assert_int_equal(f->min_confidence, 60);
	assert_int_equal(f->default_lifetime_s, 86400);
	assert_int_equal(f->timeout_ms, 5000);
	assert_int_equal(f->max_bytes, 1048576);
	assert_string_equal(f->action, "refused");
	assert_non_null(f->hub_key_file);
	assert_null(f->signature);
	assert_string_equal(f->proxy, "http://proxy.example:3128");
	f = &conf->feeds[1];
	assert_string_equal(f->username, "u");
	assert_string_equal(f->proxy, "");
	assert_int_equal(f->timeout_ms, 30000);
	assert_int_equal(f->default_lifetime_s, 90 * 86400);
	f = &conf->feeds[2];
	assert_string_equal(f->zone, "rpz.hub.");
	assert_string_equal(f->tsig_name, "hub-key.");
	assert_string_equal(f->tsig_algorithm, "hmac-sha256");
	assert_null(f->proxy);
	assert_string_equal(conf->feeds[3].source, "push");
	assert_string_equal(conf->feeds[3].zone, "pushed.rpz.");
	assert_int_equal(conf->feeds[3].stale_after_s, 7200);
	assert_int_equal(conf->feeds[0].stale_after_s, 0);
	r = &conf->reports[0];
	assert_int_equal(r->timeout_ms, 2000);
	assert_int_equal(r->queue_limit_bytes, 1048576);
	assert_false(r->sightings);
	assert_true(r->client_addresses);
	assert_string_equal(r->proxy, "socks5h://proxy.example:1080");
	assert_string_equal(conf->reports[1].socket, "udp:127.0.0.1@5514");
	assert_true(conf->reports[1].sightings);
	assert_string_equal(conf->reports[2].room, "!abc:matrix.example");
	assert_false(conf->reports[2].sightings);
	assert_null(conf->reports[2].proxy);
	rg_conf_free(conf);
}

static void
test_bad_many(void **state)
{
	check_bad("bad-many.conf", (const char *const[]){
	    ":2: error: server.threads: -1 is out of range 0..256",
	    ":5: error: pools[0].upstreams[0].port: 0 is out of range 1..65535",
	    ":7: error: pools[1].upstreams[0].tls-name: required with "
	    "transport \"tls\" (DNS over TLS without a name check is refused)",
	    ":9: error: health.fall: 0 is out of range 1..100",
	    ":9: error: health.rise: 101 is out of range 1..100",
	    ":9: error: unknown setting \"class\" in health.probe",
	    ":10: error: failover.failback: unknown failback mode "
	    "\"sometimes\" (expected auto or manual)",
	    ":11: error: journal.ring: 5 is out of range 10..1000000",
	    NULL });
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_minimal),
		cmocka_unit_test(test_good_full),
		cmocka_unit_test(test_good_empty_lists),
		cmocka_unit_test(test_good_include),
		cmocka_unit_test(test_example),
		cmocka_unit_test(test_url_loopback),
		cmocka_unit_test(test_parse_addr),
		cmocka_unit_test(test_tables),
		cmocka_unit_test(test_no_callback),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_directory),
		cmocka_unit_test(test_bad_syntax),
		cmocka_unit_test(test_bad_empty),
		cmocka_unit_test(test_bad_unknown_key),
		cmocka_unit_test(test_bad_type),
		cmocka_unit_test(test_bad_range),
		cmocka_unit_test(test_bad_two_primaries),
		cmocka_unit_test(test_bad_no_primary),
		cmocka_unit_test(test_bad_dup_upstream),
		cmocka_unit_test(test_bad_tls),
		cmocka_unit_test(test_bad_address),
		cmocka_unit_test(test_bad_spki_pin),
		cmocka_unit_test(test_bad_backend),
		cmocka_unit_test(test_good_backend),
		cmocka_unit_test(test_bad_role),
		cmocka_unit_test(test_bad_pools),
		cmocka_unit_test(test_bad_names),
		cmocka_unit_test(test_bad_feeds),
		cmocka_unit_test(test_bad_server),
		cmocka_unit_test(test_bad_include),
		cmocka_unit_test(test_bad_include_dir),
		cmocka_unit_test(test_good_https),
		cmocka_unit_test(test_good_feeds),
		cmocka_unit_test(test_bad_many),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
