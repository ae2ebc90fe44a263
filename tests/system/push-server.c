/*
 * push-server.c -- the HTTP listener alone, with a push callback that
 * writes what it receives to files, for tests/system/push.sh.
 *
 *   push-server -o DIR [-c CERT -k KEY] [-a CA] [-t TOKEN | -T FILE]
 *       [-m MAX-BYTES] [-i IDLE-S] [-d DEADLINE-S] ADDR@PORT...
 *
 * Push number N (from 1) leaves DIR/N.feed, DIR/N.body and, when the
 * request had one, DIR/N.sig, each written under a temporary name and
 * renamed, so a file that exists is complete.  The callback answers 202,
 * except for the feeds "nosuch" (404), "conflict" (409) and "busy" (503).
 * DIR/ready appears once listening; SIGTERM or SIGINT stops, exit 0.  On
 * a start-up error the message goes to stderr and the exit is 1.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "http.h"
#include "log.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned pushes;
static const char *outdir;

static int
write_file(const char *name, const char *data, size_t len)
{
	char tmp[4096], path[4096];
	FILE *f;
	int ok;

	snprintf(path, sizeof(path), "%s/%s", outdir, name);
	snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", outdir, name);
	if ((f = fopen(tmp, "w")) == NULL)
		return -errno;
	ok = fwrite(data, 1, len, f) == len;
	if (fclose(f) != 0 || !ok || rename(tmp, path) < 0)
		return -EIO;
	return 0;
}

static unsigned
push_cb(void *arg, const char *feed, const char *body, size_t len,
    const char *sig, size_t sig_len, char *msg, size_t msg_len)
{
	char name[64];
	unsigned n;

	if (strcmp(feed, "nosuch") == 0) {
		snprintf(msg, msg_len, "no feed %s", feed);
		return 404;
	}
	if (strcmp(feed, "conflict") == 0) {
		snprintf(msg, msg_len, "feed %s is not a push feed", feed);
		return 409;
	}
	if (strcmp(feed, "busy") == 0)
		return 503;
	if (body[len] != '\0') {
		snprintf(msg, msg_len, "body not NUL-terminated");
		return 500;
	}
	pthread_mutex_lock(&lock);
	n = ++pushes;
	snprintf(name, sizeof(name), "%u.body", n);
	write_file(name, body, len);
	if (sig != NULL) {
		snprintf(name, sizeof(name), "%u.sig", n);
		write_file(name, sig, sig_len);
	}
	snprintf(name, sizeof(name), "%u.feed", n);
	write_file(name, feed, strlen(feed));
	pthread_mutex_unlock(&lock);
	snprintf(msg, msg_len, "accepted %zu bytes for %s", len, feed);
	return 202;
}

static void
usage(void)
{
	fprintf(stderr, "usage: push-server -o dir [-c cert -k key] [-a ca] "
	    "[-t token | -T file]\n"
	    "           [-m max-bytes] [-i idle-s] [-d deadline-s] "
	    "addr@port...\n");
	exit(2);
}

int
main(int argc, char *argv[])
{
	struct rg_http_opts o;
	struct rg_http *h;
	json_t *status, *events;
	sigset_t ss;
	char err[512];
	int ch, sig;

	memset(&o, 0, sizeof(o));
	while ((ch = getopt(argc, argv, "a:c:d:i:k:m:o:t:T:")) != -1) {
		switch (ch) {
		case 'a':
			o.push_client_ca_file = optarg;
			break;
		case 'c':
			o.tls_cert_file = optarg;
			break;
		case 'd':
			o.push_deadline_s = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'i':
			o.timeout_s = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'k':
			o.tls_key_file = optarg;
			break;
		case 'm':
			o.push_max_bytes = strtoull(optarg, NULL, 10);
			break;
		case 'o':
			outdir = optarg;
			break;
		case 't':
			o.push_token = optarg;
			break;
		case 'T':
			o.push_token_file = optarg;
			break;
		default:
			usage();
		}
	}
	if (outdir == NULL || optind == argc)
		usage();
	o.listen = argv + optind;
	o.n_listen = (size_t)(argc - optind);
	o.push_cb = push_cb;
	rg_log_init("push-server", 1, RG_LOG_DEBUG);

	/* The listener's threads inherit the mask: signals come to sigwait. */
	sigemptyset(&ss);
	sigaddset(&ss, SIGTERM);
	sigaddset(&ss, SIGINT);
	pthread_sigmask(SIG_BLOCK, &ss, NULL);
	if ((h = rg_http_start_opts(&o, err, sizeof(err))) == NULL) {
		fprintf(stderr, "push-server: %s\n", err);
		return 1;
	}
	status = json_pack("{s:s, s:s, s:s, s:s, s:{s:i, s:s}, s:[], s:[]}",
	    "agent_id", "push-test", "version", "test", "mode", "normal",
	    "active_pool", "primary", "health", "code", 0, "summary", "ok",
	    "pools", "feeds");
	events = json_array();
	rg_http_update(h, status, events);
	json_decref(status);
	json_decref(events);
	if (write_file("ready", "", 0) < 0) {
		fprintf(stderr, "push-server: %s: cannot write\n", outdir);
		rg_http_stop(h);
		return 1;
	}
	sigwait(&ss, &sig);
	rg_http_stop(h);
	return 0;
}
