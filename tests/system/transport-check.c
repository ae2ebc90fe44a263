/*
 * transport-check.c -- one probe against one upstream, from the command
 * line, through the real transports: builds the query, runs the exchange on
 * a libuv loop, judges the reply and prints what happened.  Exit 0 when the
 * exchange and the judgement are both "ok", 1 otherwise, 2 on bad usage.
 *
 *   transport-check [options] udp|tcp|tls ADDR@PORT NAME TYPE [KEY=VALUE]...
 *   transport-check [options] recursive NAME TYPE root=ADDR@PORT...
 *       [KEY=VALUE]...
 *
 * KEY=VALUE: name=TLS-NAME ca=CA-FILE pin=SPKI-PIN (tls); root=ADDR@PORT
 * (repeatable) hints=FILE ta=TRUST-ANCHOR-FILE (recursive).
 * Options: -v debug log, -t MS time-out (default 2000), -k KIND (basic,
 * expect, nxdomain, dnssec-signed, dnssec-bogus), -e ANSWER (repeatable,
 * for expect), -n N exchanges at once, -x cancel them by freeing the
 * network context after 1 ms.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ldns/ldns.h>
#include <uv.h>

#include "conf.h"
#include "log.h"
#include "probe.h"
#include "transport.h"

#define MAX_LIST 16

static struct rg_net *net;
static struct rg_probe_query query;
static unsigned pending, n_ok, n_fail;

static void
usage(void)
{
	fprintf(stderr,
	    "usage: transport-check [-vx] [-t ms] [-k kind] [-e answer] "
	    "[-n n]\n"
	    "           udp|tcp|tls addr@port name type [name=] [ca=] [pin=]\n"
	    "       transport-check [-vx] [-t ms] [-k kind] [-n n]\n"
	    "           recursive name type root=addr@port [hints=] [ta=]\n");
	exit(2);
}

static int
parse_addr(const char *s, uint16_t defport, struct sockaddr_storage *ss,
    socklen_t *len, char **host)
{
	char buf[128], *at;
	long port = defport;

	if (snprintf(buf, sizeof(buf), "%s", s) >= (int)sizeof(buf))
		return -EINVAL;
	if ((at = strrchr(buf, '@')) != NULL) {
		*at++ = '\0';
		port = strtol(at, NULL, 10);
		if (port <= 0 || port > 65535)
			return -EINVAL;
	}
	memset(ss, 0, sizeof(*ss));
	if (uv_ip4_addr(buf, (int)port, (struct sockaddr_in *)ss) == 0)
		*len = sizeof(struct sockaddr_in);
	else if (uv_ip6_addr(buf, (int)port, (struct sockaddr_in6 *)ss) == 0)
		*len = sizeof(struct sockaddr_in6);
	else
		return -EINVAL;
	if ((*host = strdup(buf)) == NULL)
		return -ENOMEM;
	return 0;
}

static void
print_reply(const uint8_t *pkt, size_t len)
{
	ldns_pkt *p = NULL;
	ldns_lookup_table *lt;
	size_t i;
	char *s;

	if (ldns_wire2pkt(&p, pkt, len) != LDNS_STATUS_OK) {
		printf("  (reply does not parse)\n");
		return;
	}
	lt = ldns_lookup_by_id(ldns_rcodes, ldns_pkt_get_rcode(p));
	printf("  rcode %s, id %u, flags%s%s%s%s%s, %zu answer(s)\n",
	    lt != NULL ? lt->name : "?", ldns_pkt_id(p),
	    ldns_pkt_qr(p) ? " qr" : "", ldns_pkt_tc(p) ? " tc" : "",
	    ldns_pkt_rd(p) ? " rd" : "", ldns_pkt_ra(p) ? " ra" : "",
	    ldns_pkt_ad(p) ? " ad" : "",
	    ldns_rr_list_rr_count(ldns_pkt_answer(p)));
	for (i = 0; i < ldns_rr_list_rr_count(ldns_pkt_answer(p)); i++) {
		s = ldns_rr2str(ldns_rr_list_rr(ldns_pkt_answer(p), i));
		if (s != NULL)
			printf("  %s", s);
		free(s);
	}
	ldns_pkt_free(p);
}

static void
exchange_cb(void *arg, enum rg_probe_err err, const uint8_t *pkt,
    size_t len, uint64_t rtt_us, const char *detail)
{
	enum rg_probe_err judged;
	char jdetail[256];

	pending--;
	printf("exchange %s: %s%s%s, rtt %.3f ms, %zu bytes\n",
	    (const char *)arg, rg_probe_err_str(err), detail ? ": " : "",
	    detail ? detail : "", rtt_us / 1000.0, len);
	if (err != RG_PROBE_OK) {
		n_fail++;
		return;
	}
	print_reply(pkt, len);
	judged = rg_probe_judge(&query, pkt, len, jdetail, sizeof(jdetail));
	printf("judged %s: %s%s%s\n", rg_probe_kind_str[query.kind],
	    rg_probe_err_str(judged), jdetail[0] ? ": " : "", jdetail);
	if (judged == RG_PROBE_OK)
		n_ok++;
	else
		n_fail++;
}

static void
cancel_timer_cb(uv_timer_t *t)
{
	printf("freeing the network context with %u in flight\n", pending);
	rg_net_free(net);
	net = NULL;
	uv_close((uv_handle_t *)t, NULL);
}

int
main(int argc, char **argv)
{
	char *answers[MAX_LIST], *roots[MAX_LIST], *host = NULL;
	struct rg_conf_upstream up;
	struct rg_conf_pool pool;
	struct rg_conf_checks checks;
	enum rg_probe_kind kind = RG_PROBE_BASIC;
	uint32_t timeout_ms = 2000;
	const char *name = NULL, *typestr = NULL;
	char label[MAX_LIST][16];
	uv_timer_t cancel;
	uv_loop_t loop;
	ldns_rr_type type;
	int ch, i, rc, n = 1, do_cancel = 0, verbose = 0;

	memset(&up, 0, sizeof(up));
	memset(&pool, 0, sizeof(pool));
	memset(&checks, 0, sizeof(checks));
	checks.expect_answers = answers;
	pool.root_addrs = roots;
	pool.name = "check";
	up.name = "check";

	while ((ch = getopt(argc, argv, "e:k:n:t:vx")) != -1) {
		switch (ch) {
		case 'e':
			if (checks.n_expect_answers == MAX_LIST)
				usage();
			answers[checks.n_expect_answers++] = optarg;
			break;
		case 'k':
			for (i = 0; i < RG_PROBE_KIND_COUNT; i++)
				if (strcmp(optarg, rg_probe_kind_str[i]) == 0)
					break;
			if (i == RG_PROBE_KIND_COUNT)
				usage();
			kind = (enum rg_probe_kind)i;
			break;
		case 'n':
			n = atoi(optarg);
			if (n < 1 || n > MAX_LIST)
				usage();
			break;
		case 't':
			timeout_ms = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case 'v':
			verbose = 1;
			break;
		case 'x':
			do_cancel = 1;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	rg_log_init("transport-check", 1, verbose ? RG_LOG_DEBUG : RG_LOG_INFO);
	if (argc < 1)
		usage();

	if (strcmp(argv[0], "recursive") == 0) {
		up.transport = RG_TRANSPORT_RECURSIVE;
		pool.recursive = 1;
		pool.role = RG_ROLE_LAST_RESORT;
		argc--;
		argv++;
	} else {
		if (strcmp(argv[0], "udp") == 0)
			up.transport = RG_TRANSPORT_UDP;
		else if (strcmp(argv[0], "tcp") == 0)
			up.transport = RG_TRANSPORT_TCP;
		else if (strcmp(argv[0], "tls") == 0)
			up.transport = RG_TRANSPORT_TLS;
		else
			usage();
		if (argc < 2 || parse_addr(argv[1],
		    up.transport == RG_TRANSPORT_TLS ? 853 : 53, &up.addr,
		    &up.addrlen, &host) < 0)
			usage();
		up.address = host;
		argc -= 2;
		argv += 2;
	}
	for (; argc > 0; argc--, argv++) {
		if (strncmp(argv[0], "name=", 5) == 0)
			up.tls_name = argv[0] + 5;
		else if (strncmp(argv[0], "ca=", 3) == 0)
			up.ca_file = argv[0] + 3;
		else if (strncmp(argv[0], "pin=", 4) == 0)
			up.spki_pin = argv[0] + 4;
		else if (strncmp(argv[0], "root=", 5) == 0) {
			if (pool.n_root_addrs == MAX_LIST)
				usage();
			roots[pool.n_root_addrs++] = argv[0] + 5;
		} else if (strncmp(argv[0], "hints=", 6) == 0)
			pool.root_hints = argv[0] + 6;
		else if (strncmp(argv[0], "ta=", 3) == 0)
			pool.trust_anchor_file = argv[0] + 3;
		else if (name == NULL)
			name = argv[0];
		else if (typestr == NULL)
			typestr = argv[0];
		else
			usage();
	}
	if (name == NULL)
		usage();
	if (typestr == NULL)
		typestr = "SOA";
	if ((type = ldns_get_rr_type_by_name(typestr)) == 0)
		usage();
	if ((rc = rg_probe_build(&query, kind, name, (uint16_t)type,
	    &checks)) < 0) {
		fprintf(stderr, "transport-check: bad name %s: %s\n", name,
		    strerror(-rc));
		return 2;
	}
	printf("query %s %s %s id %u\n", rg_probe_kind_str[kind], query.qname,
	    typestr, query.id);

	uv_loop_init(&loop);
	if ((net = rg_net_new(&loop)) == NULL)
		return 1;
	for (i = 0; i < n; i++) {
		snprintf(label[i], sizeof(label[i]), "#%d", i + 1);
		rc = rg_net_exchange(net, &pool, &up, &query, timeout_ms,
		    exchange_cb, label[i]);
		if (rc < 0) {
			printf("exchange %s not started: %s\n", label[i],
			    strerror(-rc));
			n_fail++;
			continue;
		}
		pending++;
	}
	if (do_cancel) {
		uv_timer_init(&loop, &cancel);
		uv_timer_start(&cancel, cancel_timer_cb, 1, 0);
	}
	uv_run(&loop, UV_RUN_DEFAULT);
	if (pending != 0)
		printf("%u callback(s) missing\n", pending);
	/* At shutdown: free the context, then let the close callbacks run. */
	rg_net_free(net);
	uv_run(&loop, UV_RUN_DEFAULT);
	if ((rc = uv_loop_close(&loop)) != 0)
		printf("loop not closed: %s\n", uv_strerror(rc));
	rg_probe_clear(&query);
	free(host);
	return n_fail == 0 && pending == 0 && rc == 0 ? 0 : 1;
}
