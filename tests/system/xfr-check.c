/*
 * xfr-check.c -- rg_xfr() and rg_notify_check() from the command line, for
 * tests/system/xfr.sh.
 *
 *   xfr-check xfr -z ZONE -p ADDR[@PORT] [-y ALG:NAME:SECRET] [-t MS]
 *       [-m BYTES] [-o OLD-ZONE-FILE] [-w OUT-FILE]
 *	Transfers ZONE, from OLD-ZONE-FILE when given; writes the zone to
 *	OUT-FILE and prints "status=new|up-to-date serial=N incremental=0|1
 *	records=N bytes=N", or "status=error rc=-N (ENAME) error=...".  Exits
 *	0 on success, 1 on an error, 2 on bad usage.
 *
 *   xfr-check notify -l ADDR@PORT -Z ZONE,PRIMARY[,ALG:NAME:SECRET] ...
 *       [-n COUNT] [-t MS]
 *	Listens on UDP and TCP, passes each message (at most COUNT, for at
 *	most MS) through rg_notify_check() against the zones given, sends the
 *	reply and prints "notify index=N reply=BYTES rcode=NAME aa=0|1 ...
 *	tsig=none|signed|error-N err=...", prefixed with "tcp " for TCP.
 *	Prints "ready" once listening.
 */
#include <sys/socket.h>
#include <netinet/in.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ldns/ldns.h>

#include "conf.h"
#include "log.h"
#include "xfr.h"

#define MAX_ZONES	8

static void
usage(void)
{
	fprintf(stderr, "usage: xfr-check xfr -z ZONE -p ADDR[@PORT] "
	    "[-y ALG:NAME:SECRET] [-t MS] [-m BYTES] [-o FILE] [-w FILE]\n"
	    "       xfr-check notify -l ADDR@PORT -Z ZONE,PRIMARY"
	    "[,ALG:NAME:SECRET] ... [-n COUNT] [-t MS]\n");
	exit(2);
}

/* "ALG:NAME:SECRET" in place: NUL-separated. */
static int
split_key(char *s, const char **alg, const char **name, const char **secret)
{
	char *a, *b;

	if ((a = strchr(s, ':')) == NULL || (b = strchr(a + 1, ':')) == NULL)
		return -1;
	*a = *b = '\0';
	*alg = s;
	*name = a + 1;
	*secret = b + 1;
	return 0;
}

static char *
read_file(const char *path, size_t *len)
{
	FILE *fp;
	char *buf = NULL;
	long n;

	if ((fp = fopen(path, "r")) == NULL)
		return NULL;
	if (fseek(fp, 0, SEEK_END) == 0 && (n = ftell(fp)) >= 0 &&
	    fseek(fp, 0, SEEK_SET) == 0 &&
	    (buf = malloc((size_t)n + 1)) != NULL) {
		*len = fread(buf, 1, (size_t)n, fp);
		buf[*len] = '\0';
	}
	fclose(fp);
	return buf;
}

static const char *
errname(int rc)
{
	switch (-rc) {
	case ETIMEDOUT:
		return "ETIMEDOUT";
	case ECONNREFUSED:
		return "ECONNREFUSED";
	case ECONNRESET:
		return "ECONNRESET";
	case EBADMSG:
		return "EBADMSG";
	case EACCES:
		return "EACCES";
	case EFBIG:
		return "EFBIG";
	case EINVAL:
		return "EINVAL";
	case ENOTSUP:
		return "ENOTSUP";
	default:
		return "other";
	}
}

static int
cmd_xfr(int argc, char **argv)
{
	struct rg_xfr_req req;
	struct rg_xfr_res res;
	const char *out = NULL, *old = NULL;
	char *old_text = NULL;
	FILE *fp;
	int c, rc;

	memset(&req, 0, sizeof(req));
	memset(&res, 0, sizeof(res));
	while ((c = getopt(argc, argv, "z:p:y:t:m:o:w:")) != -1) {
		switch (c) {
		case 'z':
			req.zone = optarg;
			break;
		case 'p':
			req.primary = optarg;
			break;
		case 'y':
			if (split_key(optarg, &req.tsig_algorithm,
			    &req.tsig_name, &req.tsig_secret) < 0)
				usage();
			break;
		case 't':
			req.timeout_ms = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case 'm':
			req.max_bytes = strtoull(optarg, NULL, 10);
			break;
		case 'o':
			old = optarg;
			break;
		case 'w':
			out = optarg;
			break;
		default:
			usage();
		}
	}
	if (req.zone == NULL || req.primary == NULL)
		usage();
	if (old != NULL) {
		if ((old_text = read_file(old, &req.old_len)) == NULL) {
			perror(old);
			return 2;
		}
		req.old_zone = old_text;
	}
	rc = rg_xfr(&req, &res);
	if (rc < 0) {
		printf("status=error rc=%d (%s) error=%s\n", rc, errname(rc),
		    res.error);
		free(old_text);
		rg_xfr_res_clear(&res);
		return 1;
	}
	if (rc == RG_XFR_UP_TO_DATE)
		printf("status=up-to-date serial=%u\n", res.serial);
	else
		printf("status=new serial=%u incremental=%d records=%llu "
		    "bytes=%zu\n", res.serial, res.incremental,
		    (unsigned long long)res.records, res.len);
	if (rc == RG_XFR_NEW && (res.zone == NULL ||
	    strlen(res.zone) != res.len)) {
		printf("status=error zone text and length disagree\n");
		rc = -1;
	}
	if (rc == RG_XFR_NEW && out != NULL) {
		if ((fp = fopen(out, "w")) == NULL ||
		    fwrite(res.zone, 1, res.len, fp) != res.len ||
		    fclose(fp) != 0) {
			perror(out);
			rc = -1;
		}
	}
	free(old_text);
	rg_xfr_res_clear(&res);
	return rc < 0 ? 1 : 0;
}

/* What the reply says, for the test to compare. */
static void
print_reply(const uint8_t *buf, size_t len, int idx, const char *err)
{
	ldns_pkt *p = NULL;
	ldns_lookup_table *lt;
	const ldns_rr *t;
	const char *tsig = "none";
	char tbuf[32];
	uint16_t e;

	printf("notify index=%d reply=%zu", idx, len);
	if (len > 0 && ldns_wire2pkt(&p, buf, len) == LDNS_STATUS_OK) {
		lt = ldns_lookup_by_id(ldns_rcodes, ldns_pkt_get_rcode(p));
		if ((t = ldns_pkt_tsig(p)) != NULL && ldns_rr_rd_count(t) == 7) {
			e = ldns_rdf2native_int16(ldns_rr_rdf(t, 5));
			if (e == 0)
				tsig = "signed";
			else {
				snprintf(tbuf, sizeof(tbuf), "error-%u", e);
				tsig = tbuf;
			}
		}
		printf(" rcode=%s aa=%d qr=%d opcode=%d qd=%u tsig=%s",
		    lt != NULL ? lt->name : "?", ldns_pkt_aa(p), ldns_pkt_qr(p),
		    (int)ldns_pkt_get_opcode(p), ldns_pkt_qdcount(p), tsig);
		ldns_pkt_free(p);
	} else if (len > 0)
		printf(" rcode=unparsed");
	printf(" err=%s\n", err);
	fflush(stdout);
}

/* One framed message from a TCP client on FD into MSG, or -1. */
static ssize_t
tcp_read_msg(int fd, uint8_t *msg, size_t cap)
{
	uint8_t l2[2];
	size_t len, got = 0;
	ssize_t n;
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	while (got < 2) {
		if (poll(&pfd, 1, 2000) <= 0 ||
		    (n = recv(fd, l2 + got, 2 - got, 0)) <= 0)
			return -1;
		got += (size_t)n;
	}
	len = (size_t)l2[0] << 8 | l2[1];
	if (len > cap)
		return -1;
	for (got = 0; got < len; got += (size_t)n)
		if (poll(&pfd, 1, 2000) <= 0 ||
		    (n = recv(fd, msg + got, len - got, 0)) <= 0)
			return -1;
	return (ssize_t)len;
}

static int
cmd_notify(int argc, char **argv)
{
	struct rg_notify_zone zones[MAX_ZONES];
	struct sockaddr_storage ss, from;
	struct timespec t0, t1;
	struct pollfd pfd[2];
	socklen_t sl, fl;
	const char *listen_on = NULL;
	uint8_t msg[65535], out[4096], l2[2];
	char err[512], *p, *q;
	size_t n_zones = 0, out_len;
	long count = 1, seen = 0, timeout_ms = 10000, waited;
	ssize_t n;
	int c, fd, tfd, cfd, idx, one = 1;

	memset(zones, 0, sizeof(zones));
	while ((c = getopt(argc, argv, "l:Z:n:t:")) != -1) {
		switch (c) {
		case 'l':
			listen_on = optarg;
			break;
		case 'Z':
			if (n_zones == MAX_ZONES ||
			    (p = strchr(optarg, ',')) == NULL)
				usage();
			*p++ = '\0';
			zones[n_zones].feed = optarg;
			zones[n_zones].zone = optarg;
			zones[n_zones].primary = p;
			if ((q = strchr(p, ',')) != NULL) {
				*q++ = '\0';
				if (split_key(q, &zones[n_zones].tsig_algorithm,
				    &zones[n_zones].tsig_name,
				    &zones[n_zones].tsig_secret) < 0)
					usage();
			}
			n_zones++;
			break;
		case 'n':
			count = strtol(optarg, NULL, 10);
			break;
		case 't':
			timeout_ms = strtol(optarg, NULL, 10);
			break;
		default:
			usage();
		}
	}
	if (listen_on == NULL || rg_conf_parse_addr(listen_on, 53, &ss, &sl) <
	    0)
		usage();
	/* UDP, and TCP too: Knot sends its NOTIFY over TCP. */
	if ((fd = socket(ss.ss_family, SOCK_DGRAM, 0)) < 0 ||
	    bind(fd, (struct sockaddr *)&ss, sl) < 0 ||
	    (tfd = socket(ss.ss_family, SOCK_STREAM, 0)) < 0 ||
	    setsockopt(tfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(tfd, (struct sockaddr *)&ss, sl) < 0 || listen(tfd, 4) < 0) {
		perror(listen_on);
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (seen < count) {
		clock_gettime(CLOCK_MONOTONIC, &t1);
		waited = (t1.tv_sec - t0.tv_sec) * 1000 +
		    (t1.tv_nsec - t0.tv_nsec) / 1000000;
		if (waited >= timeout_ms)
			break;
		pfd[0].fd = fd;
		pfd[0].events = POLLIN;
		pfd[1].fd = tfd;
		pfd[1].events = POLLIN;
		if (poll(pfd, 2, (int)(timeout_ms - waited)) <= 0)
			continue;
		if (pfd[1].revents & POLLIN) {
			fl = sizeof(from);
			if ((cfd = accept(tfd, (struct sockaddr *)&from,
			    &fl)) < 0)
				continue;
			while (seen < count &&
			    (n = tcp_read_msg(cfd, msg, sizeof(msg))) >= 0) {
				seen++;
				idx = rg_notify_check(msg, (size_t)n,
				    (struct sockaddr *)&from, zones, n_zones,
				    out, sizeof(out), &out_len, err,
				    sizeof(err));
				l2[0] = (uint8_t)(out_len >> 8);
				l2[1] = (uint8_t)out_len;
				if (out_len > 0 && (send(cfd, l2, 2,
				    MSG_NOSIGNAL) != 2 || send(cfd, out,
				    out_len, MSG_NOSIGNAL) != (ssize_t)out_len))
					fprintf(stderr, "TCP reply not sent\n");
				printf("tcp ");
				print_reply(out, out_len, idx, err);
			}
			close(cfd);
			continue;
		}
		fl = sizeof(from);
		if ((n = recvfrom(fd, msg, sizeof(msg), 0,
		    (struct sockaddr *)&from, &fl)) < 0)
			continue;
		seen++;
		idx = rg_notify_check(msg, (size_t)n,
		    (struct sockaddr *)&from, zones, n_zones, out, sizeof(out),
		    &out_len, err, sizeof(err));
		if (out_len > 0)
			(void)sendto(fd, out, out_len, 0,
			    (struct sockaddr *)&from, fl);
		print_reply(out, out_len, idx, err);
	}
	close(fd);
	close(tfd);
	printf("done %ld\n", seen);
	return seen == count ? 0 : 1;
}

int
main(int argc, char **argv)
{
	rg_log_init("xfr-check", 1, RG_LOG_DEBUG);
	if (argc < 2)
		usage();
	if (strcmp(argv[1], "xfr") == 0)
		return cmd_xfr(argc - 1, argv + 1);
	if (strcmp(argv[1], "notify") == 0)
		return cmd_notify(argc - 1, argv + 1);
	usage();
	return 2;
}
