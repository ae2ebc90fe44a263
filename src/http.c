/*
 * http.c -- /metrics, /status, / and /push/feeds/NAME over libmicrohttpd.
 *
 * Each listen address gets its own MHD daemon with an internal polling
 * thread, a connection limit, a memory limit per connection and an idle
 * time-out; HTTPS when a certificate is configured.  The documents are
 * rendered on the event loop in rg_http_update() and swapped in under a
 * mutex; a request copies the current one under the same mutex, so a
 * response is always one consistent snapshot.  GET and HEAD are answered
 * everywhere; POST only on the push endpoint, which checks the client
 * certificate, the bearer token and the size before it reads a byte of
 * the body, and hands the whole body to the push callback.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <microhttpd.h>

#include "conf.h"
#include "http.h"
#include "log.h"
#include "metrics.h"

#define HTTP_MAX_DAEMONS	8
#define HTTP_CONN_LIMIT		64
#define HTTP_CONN_PER_IP	16	/* one client cannot take them all */
#define HTTP_TIMEOUT_S		10
#define HTTP_CONN_MEMORY	(64 * 1024)	/* headers and I/O buffers */
#define HTTP_TOO_LARGE		413	/* MHD renamed its constant */
#define HTTP_FILE_MAX		(1024 * 1024)	/* a PEM file or the token */
#define HTTP_TLS_PRIORITIES	"NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"
#define HISTORY_POINTS		360	/* one hour at one sample per 10 s */
#define HISTORY_STEP_S		10

#define PUSH_PREFIX		"/push/feeds/"
#define PUSH_NAME_MAX		63	/* as feed names in the configuration */
#define PUSH_SIG_MAX		256	/* an Ed25519 signature is 88 */
#define PUSH_TOKEN_MIN		16
#define PUSH_INFLIGHT_MAX	4	/* bodies in memory at once */
#define PUSH_DEADLINE_S		300	/* 64 MiB at 2 Mbit/s */
#define PUSH_DISCARD_MAX	(1024 * 1024)
#define PUSH_BUF_MIN		(64 * 1024)
#define PUSH_LOG_PER_S		10	/* refusals logged a second */

/* One push request, from its accepted headers to its completion. */
struct push_req {
	char feed[PUSH_NAME_MAX + 1];
	char *sig;		/* X-Resguard-Signature, or NULL */
	char *body;
	size_t len, cap;
	size_t discarded;	/* past the limit, read to answer 413 */
	int too_large;
	unsigned refuse;	/* refused before the body: answered with
				   this status once the body is read */
	int counted;		/* in h->inflight */
	struct timespec start;
};

struct rg_http {
	struct MHD_Daemon *d[HTTP_MAX_DAEMONS];
	size_t n;
	pthread_mutex_t lock;
	char *status;		/* JSON text */
	char *metrics;		/* Prometheus text */
	char *page;		/* HTML */
	json_t *history;	/* upstream -> [[t, ms], ...] */
	time_t last_sample;

	/* TLS material, kept while the daemons run */
	char *cert_pem, *key_pem, *ca_pem;
	size_t key_len;

	/* push endpoint */
	int push;
	unsigned char token_sha256[32];	/* the token itself is not kept */
	uint64_t push_max;
	rg_http_push_cb *push_cb;
	void *push_arg;
	unsigned push_deadline_s;
	unsigned inflight;		/* under lock */
	time_t log_second;		/* under lock: refusals logged in it */
	unsigned log_count, log_dropped;
};

static char *
copy_locked(struct rg_http *h, char *const *doc, size_t *len)
{
	char *c = NULL;

	pthread_mutex_lock(&h->lock);
	if (*doc != NULL && (c = strdup(*doc)) != NULL)
		*len = strlen(c);
	pthread_mutex_unlock(&h->lock);
	return c;
}

/* Queue BODY (freed here) with the usual headers and one more, HNAME. */
static enum MHD_Result
reply_hdr(struct MHD_Connection *c, unsigned code, const char *type,
    char *body, size_t len, const char *hname, const char *hval)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (r == NULL) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", type);
	MHD_add_response_header(r, "Cache-Control", "no-store");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "Content-Security-Policy",
	    "default-src 'none'; style-src 'unsafe-inline'; img-src data:");
	if (hname != NULL)
		MHD_add_response_header(r, hname, hval);
	ret = MHD_queue_response(c, code, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result
reply(struct MHD_Connection *c, unsigned code, const char *type, char *body,
    size_t len)
{
	return reply_hdr(c, code, type, body, len, NULL, NULL);
}

static enum MHD_Result
text(struct MHD_Connection *c, unsigned code, const char *msg)
{
	char *b = strdup(msg);

	return b ? reply(c, code, "text/plain; charset=utf-8", b, strlen(b)) :
	    MHD_NO;
}

/* The push endpoint */

static const char *
push_reason(unsigned code)
{
	switch (code) {
	case MHD_HTTP_ACCEPTED:
		return "accepted";
	case MHD_HTTP_BAD_REQUEST:
		return "bad request";
	case MHD_HTTP_UNAUTHORIZED:
		return "bearer token missing or wrong";
	case MHD_HTTP_FORBIDDEN:
		return "forbidden";
	case MHD_HTTP_NOT_FOUND:
		return "no such feed";
	case MHD_HTTP_CONFLICT:
		return "conflict";
	case HTTP_TOO_LARGE:
		return "document too large";
	case MHD_HTTP_SERVICE_UNAVAILABLE:
		return "busy, try again later";
	default:
		return "error";
	}
}

/* {"status": CODE, "message": MSG}, with one extra header if HNAME. */
static enum MHD_Result
push_reply(struct MHD_Connection *c, unsigned code, const char *msg,
    const char *hname, const char *hval)
{
	char line[512], *b;
	json_t *o;
	size_t i, n;

	snprintf(line, sizeof(line), "%s", msg != NULL && *msg != '\0' ? msg :
	    push_reason(code));
	for (i = 0; line[i] != '\0'; i++)
		if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
			line[i] = ' ';
	o = json_pack("{s:I, s:s}", "status", (json_int_t)code, "message",
	    line);
	if (o == NULL)		/* not UTF-8 */
		o = json_pack("{s:I, s:s}", "status", (json_int_t)code,
		    "message", push_reason(code));
	n = o != NULL ? json_dumpb(o, NULL, 0, 0) : 0;
	if (n == 0 || (b = malloc(n + 2)) == NULL) {
		json_decref(o);
		return MHD_NO;
	}
	json_dumpb(o, b, n, 0);
	json_decref(o);
	b[n] = '\n';
	b[n + 1] = '\0';
	return reply_hdr(c, code, "application/json", b, n + 1, hname, hval);
}

static void
client_addr(struct MHD_Connection *c, char *buf, size_t len)
{
	const union MHD_ConnectionInfo *ci;
	const struct sockaddr *sa;

	snprintf(buf, len, "?");
	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci == NULL || (sa = ci->client_addr) == NULL)
		return;
	getnameinfo(sa, sa->sa_family == AF_INET6 ?
	    sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in), buf,
	    (socklen_t)len, NULL, 0, NI_NUMERICHOST);
}

/*
 * A refused push, logged with the client's address; a few a second at
 * most, so that a client trying tokens cannot flood the log.
 */
static void
push_refused(struct rg_http *h, struct MHD_Connection *c, const char *feed,
    const char *why)
{
	char addr[NI_MAXHOST];
	time_t now = time(NULL);
	unsigned dropped;

	pthread_mutex_lock(&h->lock);
	if (h->log_second != now) {
		h->log_second = now;
		h->log_count = 0;
	}
	if (h->log_count >= PUSH_LOG_PER_S) {
		h->log_dropped++;
		pthread_mutex_unlock(&h->lock);
		return;
	}
	h->log_count++;
	dropped = h->log_dropped;
	h->log_dropped = 0;
	pthread_mutex_unlock(&h->lock);
	client_addr(c, addr, sizeof(addr));
	if (dropped > 0)
		rg_log_info("http: push to %s from %s refused: %s (and %u "
		    "more refusals not logged)", feed, addr, why, dropped);
	else
		rg_log_info("http: push to %s from %s refused: %s", feed,
		    addr, why);
}

static int
push_name_ok(const char *s)
{
	size_t i;

	if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') ||
	    (s[0] >= '0' && s[0] <= '9')))
		return 0;
	for (i = 0; s[i] != '\0'; i++)
		if (i >= PUSH_NAME_MAX || !((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' &&
		    s[i] <= '9') || strchr(".-_", s[i]) != NULL))
			return 0;
	return 1;
}

static int
push_sig_ok(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n <= PUSH_SIG_MAX &&
	    strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789+/=") == n;
}

/*
 * The bearer token, compared as SHA-256 digests in constant time: neither
 * the content nor the length of the token shows in the time taken.
 */
static int
push_token_ok(struct rg_http *h, struct MHD_Connection *c)
{
	const char *a;
	unsigned char d[32];
	unsigned char diff = 0;
	size_t i, n;

	a = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_AUTHORIZATION);
	if (a == NULL || strncasecmp(a, "Bearer ", 7) != 0)
		return 0;
	for (a += 7; *a == ' ' || *a == '\t'; a++)
		;
	for (n = strlen(a); n > 0 && (a[n - 1] == ' ' || a[n - 1] == '\t');
	    n--)
		;
	if (n == 0 || gnutls_hash_fast(GNUTLS_DIG_SHA256, a, n, d) < 0)
		return 0;
	for (i = 0; i < sizeof(d); i++)
		diff |= d[i] ^ h->token_sha256[i];
	return diff == 0;
}

/*
 * The client certificate, verified against the push CA (libmicrohttpd
 * asks for one but lets the handshake finish without it), in its validity
 * period and, when it names purposes, meant for TLS clients.  Any
 * certificate of that CA will do: the CA is the hubs' own.  0 when
 * verified, else why not in WHY.
 */
static int
push_client_cert(struct MHD_Connection *c, char *why, size_t why_len)
{
	static char kp_client[] = GNUTLS_KP_TLS_WWW_CLIENT;
	const union MHD_ConnectionInfo *ci;
	gnutls_session_t s;
	gnutls_typed_vdata_st vd;
	gnutls_datum_t out;
	unsigned status = 0, n = 0;
	size_t len;
	int rc;

	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	if (ci == NULL || ci->tls_session == NULL) {
		snprintf(why, why_len, "no TLS session");
		return -EPERM;
	}
	s = ci->tls_session;
	if (gnutls_certificate_type_get2(s, GNUTLS_CTYPE_PEERS) !=
	    GNUTLS_CRT_X509 || gnutls_certificate_get_peers(s, &n) == NULL ||
	    n == 0) {
		snprintf(why, why_len, "no client certificate");
		return -EPERM;
	}
	memset(&vd, 0, sizeof(vd));
	vd.type = GNUTLS_DT_KEY_PURPOSE_OID;
	vd.data = (unsigned char *)kp_client;
	if ((rc = gnutls_certificate_verify_peers(s, &vd, 1, &status)) < 0) {
		snprintf(why, why_len, "client certificate: %s",
		    gnutls_strerror(rc));
		return -EPERM;
	}
	if (status != 0) {
		if (gnutls_certificate_verification_status_print(status,
		    GNUTLS_CRT_X509, &out, 0) == 0) {
			snprintf(why, why_len, "client certificate: %s",
			    (char *)out.data);
			gnutls_free(out.data);
			for (len = strlen(why); len > 0 &&
			    why[len - 1] == ' '; len--)
				why[len - 1] = '\0';
		} else
			snprintf(why, why_len, "client certificate not "
			    "verified");
		return -EPERM;
	}
	return 0;
}

static int
push_late(const struct rg_http *h, const struct push_req *r)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec - r->start.tv_sec >= (time_t)h->push_deadline_s;
}

/*
 * A push refused on its headers (token, client certificate) that has a
 * body: answered once the body is read, not before.  A reply sent while
 * the client still sends makes the kernel reset the connection when it
 * closes with unread data, and the client may never see the reply.
 * Bodies past PUSH_DISCARD_MAX are cut by closing, as for 413.
 */
static enum MHD_Result
push_refuse_later(struct MHD_Connection *c, void **con_cls, unsigned code)
{
	const char *cl, *te;
	struct push_req *r;

	cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_CONTENT_LENGTH);
	te = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_TRANSFER_ENCODING);
	if ((cl == NULL || strtoull(cl, NULL, 10) == 0 ||
	    strtoull(cl, NULL, 10) > PUSH_DISCARD_MAX) && te == NULL)
		return MHD_NO;
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return MHD_NO;
	r->refuse = code;
	r->too_large = 1;	/* drop what comes */
	clock_gettime(CLOCK_MONOTONIC, &r->start);
	*con_cls = r;
	return MHD_YES;
}

/* The headers of a push: answer now, or accept the body that follows. */
static enum MHD_Result
push_begin(struct rg_http *h, struct MHD_Connection *c, const char *url,
    const char *method, void **con_cls)
{
	const char *feed, *sig, *cl;
	struct push_req *r;
	char why[256], *end;
	unsigned long long n;

	if (!h->push)
		return push_reply(c, MHD_HTTP_NOT_FOUND, "no push endpoint "
		    "here", NULL, NULL);
	if (strncmp(url, PUSH_PREFIX, strlen(PUSH_PREFIX)) != 0 ||
	    !push_name_ok(feed = url + strlen(PUSH_PREFIX)))
		return push_reply(c, MHD_HTTP_NOT_FOUND, "not found: try "
		    "POST " PUSH_PREFIX "NAME", NULL, NULL);
	if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
		return push_reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "only POST",
		    MHD_HTTP_HEADER_ALLOW, MHD_HTTP_METHOD_POST);
	if (h->ca_pem != NULL && push_client_cert(c, why, sizeof(why)) < 0) {
		push_refused(h, c, feed, why);
		if (push_refuse_later(c, con_cls, MHD_HTTP_FORBIDDEN) ==
		    MHD_YES)
			return MHD_YES;
		return push_reply(c, MHD_HTTP_FORBIDDEN, "a client "
		    "certificate from the push CA is required", NULL, NULL);
	}
	if (!push_token_ok(h, c)) {
		push_refused(h, c, feed, "bearer token missing or wrong");
		if (push_refuse_later(c, con_cls, MHD_HTTP_UNAUTHORIZED) ==
		    MHD_YES)
			return MHD_YES;
		return push_reply(c, MHD_HTTP_UNAUTHORIZED, NULL,
		    MHD_HTTP_HEADER_WWW_AUTHENTICATE,
		    "Bearer realm=\"resguard\"");
	}
	sig = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
	    "X-Resguard-Signature");
	if (sig != NULL && !push_sig_ok(sig))
		return push_reply(c, MHD_HTTP_BAD_REQUEST, "X-Resguard-"
		    "Signature: not a base64 signature", NULL, NULL);
	cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl != NULL) {
		errno = 0;
		n = strtoull(cl, &end, 10);
		if (errno != 0 || end == cl || *end != '\0' || *cl == '-')
			return push_reply(c, MHD_HTTP_BAD_REQUEST, "bad "
			    "Content-Length", NULL, NULL);
		if (n > h->push_max) {
			snprintf(why, sizeof(why), "document of %llu bytes, "
			    "more than %llu", n,
			    (unsigned long long)h->push_max);
			push_refused(h, c, feed, why);
			return push_reply(c, HTTP_TOO_LARGE, why, NULL,
			    NULL);
		}
	}
	pthread_mutex_lock(&h->lock);
	if (h->inflight >= PUSH_INFLIGHT_MAX) {
		pthread_mutex_unlock(&h->lock);
		push_refused(h, c, feed, "too many pushes at once");
		return push_reply(c, MHD_HTTP_SERVICE_UNAVAILABLE, NULL,
		    MHD_HTTP_HEADER_RETRY_AFTER, "5");
	}
	h->inflight++;
	pthread_mutex_unlock(&h->lock);
	/* From here on, completed_cb frees R and counts it out. */
	if ((r = calloc(1, sizeof(*r))) == NULL ||
	    (sig != NULL && (r->sig = strdup(sig)) == NULL)) {
		pthread_mutex_lock(&h->lock);
		h->inflight--;
		pthread_mutex_unlock(&h->lock);
		free(r);
		return MHD_NO;
	}
	snprintf(r->feed, sizeof(r->feed), "%s", feed);
	clock_gettime(CLOCK_MONOTONIC, &r->start);
	r->counted = 1;
	*con_cls = r;
	return MHD_YES;
}

/*
 * A part of the body.  A response cannot be queued while the body comes
 * in: past the limit the rest is read and dropped, up to a bound, to
 * answer 413; past that bound, or past the deadline, the connection is
 * closed.
 */
static enum MHD_Result
push_data(struct rg_http *h, struct MHD_Connection *c, struct push_req *r,
    const char *data, size_t *len)
{
	size_t n = *len, cap;
	char *nb;

	*len = 0;
	if (push_late(h, r)) {
		push_refused(h, c, r->feed, "body not complete in time");
		return MHD_NO;
	}
	if (r->too_large) {
		r->discarded += n;
		return r->discarded > PUSH_DISCARD_MAX ? MHD_NO : MHD_YES;
	}
	if ((uint64_t)r->len + n > h->push_max) {
		r->too_large = 1;
		r->discarded = n;
		free(r->body);
		r->body = NULL;
		r->len = r->cap = 0;
		return MHD_YES;
	}
	if (r->len + n + 1 > r->cap) {
		/* Grow as the data comes, not as Content-Length promises. */
		cap = r->cap > 0 ? r->cap : PUSH_BUF_MIN;
		while (cap < r->len + n + 1)
			cap *= 2;
		if ((uint64_t)cap > h->push_max + 1)
			cap = (size_t)h->push_max + 1;
		if ((nb = realloc(r->body, cap)) == NULL)
			return MHD_NO;
		r->body = nb;
		r->cap = cap;
	}
	memcpy(r->body + r->len, data, n);
	r->len += n;
	r->body[r->len] = '\0';
	return MHD_YES;
}

/* The whole body is in: hand it over and answer what the callback says. */
static enum MHD_Result
push_end(struct rg_http *h, struct MHD_Connection *c, struct push_req *r)
{
	char msg[256], why[320];
	unsigned code;

	if (r->refuse == MHD_HTTP_UNAUTHORIZED)
		return push_reply(c, MHD_HTTP_UNAUTHORIZED, NULL,
		    MHD_HTTP_HEADER_WWW_AUTHENTICATE,
		    "Bearer realm=\"resguard\"");
	if (r->refuse == MHD_HTTP_FORBIDDEN)
		return push_reply(c, MHD_HTTP_FORBIDDEN, "a client "
		    "certificate from the push CA is required", NULL, NULL);
	if (r->too_large) {
		snprintf(why, sizeof(why), "document larger than %llu bytes",
		    (unsigned long long)h->push_max);
		push_refused(h, c, r->feed, why);
		return push_reply(c, HTTP_TOO_LARGE, why, NULL, NULL);
	}
	msg[0] = '\0';
	code = h->push_cb(h->push_arg, r->feed, r->body != NULL ? r->body : "",
	    r->len, r->sig, r->sig != NULL ? strlen(r->sig) : 0, msg,
	    sizeof(msg));
	msg[sizeof(msg) - 1] = '\0';
	if (code < 200 || code > 599)
		code = MHD_HTTP_INTERNAL_SERVER_ERROR;
	rg_log_debug("http: push to %s, %zu bytes: %u %s", r->feed, r->len,
	    code, msg);
	return push_reply(c, code, msg, code == MHD_HTTP_SERVICE_UNAVAILABLE ?
	    MHD_HTTP_HEADER_RETRY_AFTER : NULL, "30");
}

static void
completed_cb(void *cls, struct MHD_Connection *c, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct rg_http *h = cls;
	struct push_req *r = *con_cls;

	if (r == NULL)
		return;
	if (r->counted) {
		pthread_mutex_lock(&h->lock);
		h->inflight--;
		pthread_mutex_unlock(&h->lock);
	}
	free(r->body);
	free(r->sig);
	free(r);
	*con_cls = NULL;
}

static enum MHD_Result
handler_cb(void *cls, struct MHD_Connection *c, const char *url,
    const char *method, const char *version, const char *upload,
    size_t *upload_len, void **con_cls)
{
	struct rg_http *h = cls;
	char *body;
	size_t len = 0;

	if (*con_cls != NULL) {
		if (*upload_len != 0)
			return push_data(h, c, *con_cls, upload, upload_len);
		return push_end(h, c, *con_cls);
	}
	if (strcmp(url, "/push") == 0 || strncmp(url, "/push/", 6) == 0)
		return push_begin(h, c, url, method, con_cls);
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return text(c, MHD_HTTP_METHOD_NOT_ALLOWED,
		    "only GET and HEAD\n");
	if (*upload_len != 0)
		return text(c, MHD_HTTP_BAD_REQUEST, "no body expected\n");
	if (strcmp(url, "/metrics") == 0) {
		if ((body = copy_locked(h, &h->metrics, &len)) == NULL)
			return text(c, MHD_HTTP_SERVICE_UNAVAILABLE,
			    "starting\n");
		return reply(c, MHD_HTTP_OK,
		    "text/plain; version=0.0.4; charset=utf-8", body, len);
	}
	if (strcmp(url, "/status") == 0) {
		if ((body = copy_locked(h, &h->status, &len)) == NULL)
			return text(c, MHD_HTTP_SERVICE_UNAVAILABLE,
			    "starting\n");
		return reply(c, MHD_HTTP_OK, "application/json", body, len);
	}
	if (strcmp(url, "/") == 0) {
		if ((body = copy_locked(h, &h->page, &len)) == NULL)
			return text(c, MHD_HTTP_SERVICE_UNAVAILABLE,
			    "starting\n");
		return reply(c, MHD_HTTP_OK, "text/html; charset=utf-8", body,
		    len);
	}
	return text(c, MHD_HTTP_NOT_FOUND, "not found: try /, /status or "
	    "/metrics\n");
}

/* libmicrohttpd's own messages: handshakes that fail, clients that go. */
static void
mhd_log_cb(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	size_t n;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
		msg[--n] = '\0';
	rg_log_debug("http: %s", msg);
}

/* Start-up */

/* The whole of the small file PATH, NUL-terminated, in *OUT. */
static int
read_small(const char *path, const char *what, char **out, size_t *len,
    char *err, size_t err_len)
{
	FILE *f;
	char *b;
	size_t n;
	int rc;

	*out = NULL;
	if ((f = fopen(path, "re")) == NULL) {
		rc = -errno;
		snprintf(err, err_len, "%s %s: cannot read: %s", what, path,
		    strerror(errno));
		return rc;
	}
	if ((b = malloc(HTTP_FILE_MAX + 1)) == NULL) {
		fclose(f);
		snprintf(err, err_len, "out of memory");
		return -ENOMEM;
	}
	n = fread(b, 1, HTTP_FILE_MAX + 1, f);
	if (ferror(f)) {
		rc = errno != 0 ? -errno : -EIO;
		snprintf(err, err_len, "%s %s: cannot read: %s", what, path,
		    strerror(-rc));
		goto fail;
	}
	if (n > HTTP_FILE_MAX) {
		rc = -EFBIG;
		snprintf(err, err_len, "%s %s: larger than %d bytes", what,
		    path, HTTP_FILE_MAX);
		goto fail;
	}
	if (n == 0) {
		rc = -EINVAL;
		snprintf(err, err_len, "%s %s: empty", what, path);
		goto fail;
	}
	fclose(f);
	b[n] = '\0';
	*out = b;
	*len = n;
	return 0;
fail:
	fclose(f);
	explicit_bzero(b, HTTP_FILE_MAX + 1);
	free(b);
	return rc;
}

/* The certificate goes with the key, and the CA file holds certificates. */
static int
tls_check(const struct rg_http_opts *o, const char *cert, size_t cert_len,
    const char *key, size_t key_len, const char *ca, size_t ca_len,
    char *err, size_t err_len)
{
	gnutls_certificate_credentials_t cred;
	gnutls_datum_t dc, dk, da;
	int rc;

	if ((rc = gnutls_certificate_allocate_credentials(&cred)) < 0) {
		snprintf(err, err_len, "TLS: %s", gnutls_strerror(rc));
		return -ENOMEM;
	}
	dc.data = (unsigned char *)cert;
	dc.size = (unsigned)cert_len;
	dk.data = (unsigned char *)key;
	dk.size = (unsigned)key_len;
	if ((rc = gnutls_certificate_set_x509_key_mem2(cred, &dc, &dk,
	    GNUTLS_X509_FMT_PEM, NULL, 0)) < 0) {
		snprintf(err, err_len, "tls-cert-file %s, tls-key-file %s: %s",
		    o->tls_cert_file, o->tls_key_file, gnutls_strerror(rc));
		rc = -EINVAL;
		goto out;
	}
	rc = 0;
	if (ca != NULL) {
		da.data = (unsigned char *)ca;
		da.size = (unsigned)ca_len;
		if ((rc = gnutls_certificate_set_x509_trust_mem(cred, &da,
		    GNUTLS_X509_FMT_PEM)) <= 0) {
			snprintf(err, err_len, "push-client-ca-file %s: %s",
			    o->push_client_ca_file, rc < 0 ?
			    gnutls_strerror(rc) : "no certificate");
			rc = -EINVAL;
			goto out;
		}
		rc = 0;
	}
out:
	gnutls_certificate_free_credentials(cred);
	return rc;
}

/* The bearer token: printable, no spaces, long enough; kept as a digest. */
static int
token_load(struct rg_http *h, const struct rg_http_opts *o, char *err,
    size_t err_len)
{
	char *t = NULL;
	const char *tok, *what = "push token";
	struct stat st;
	size_t n, i;
	int rc;

	if (o->push_token != NULL) {
		tok = o->push_token;
		n = strlen(tok);
	} else {
		if ((rc = read_small(o->push_token_file, "push-token-file",
		    &t, &n, err, err_len)) < 0)
			return rc;
		if (stat(o->push_token_file, &st) == 0 &&
		    (st.st_mode & S_IROTH) != 0)
			rg_log_warnx("http: push-token-file %s is readable by "
			    "everyone", o->push_token_file);
		while (n > 0 && strchr(" \t\r\n", t[n - 1]) != NULL)
			t[--n] = '\0';
		tok = t;
		what = o->push_token_file;
	}
	rc = 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)tok[i] <= 0x20 ||
		    (unsigned char)tok[i] >= 0x7f) {
			snprintf(err, err_len, "%s: the token holds a space or "
			    "a character that is not printable ASCII", what);
			rc = -EINVAL;
			goto out;
		}
	if (n < PUSH_TOKEN_MIN) {
		snprintf(err, err_len, "%s: the token is shorter than %d "
		    "characters", what, PUSH_TOKEN_MIN);
		rc = -EINVAL;
		goto out;
	}
	if ((rc = gnutls_hash_fast(GNUTLS_DIG_SHA256, tok, n,
	    h->token_sha256)) < 0) {
		snprintf(err, err_len, "%s: %s", what, gnutls_strerror(rc));
		rc = -EINVAL;
	}
out:
	if (t != NULL) {
		explicit_bzero(t, n);
		free(t);
	}
	return rc;
}

static int
addr_loopback(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr)
		    >> 24) == 127;
	return ss->ss_family == AF_INET6 && IN6_IS_ADDR_LOOPBACK(
	    &((const struct sockaddr_in6 *)ss)->sin6_addr);
}

static void
opt_add(struct MHD_OptionItem *ops, size_t *n, enum MHD_OPTION opt,
    intptr_t value, void *ptr)
{
	ops[*n].option = opt;
	ops[*n].value = value;
	ops[*n].ptr_value = ptr;
	(*n)++;
}

struct rg_http *
rg_http_start_opts(const struct rg_http_opts *o, char *err, size_t err_len)
{
	struct MHD_OptionItem ops[16];
	struct rg_http *h;
	struct sockaddr_storage ss;
	socklen_t sl;
	char *cert = NULL;
	size_t i, nops, cert_len = 0, ca_len = 0;
	unsigned timeout_s;
	int tls;

	if ((h = calloc(1, sizeof(*h))) == NULL) {
		snprintf(err, err_len, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&h->lock, NULL);
	h->history = json_object();
	timeout_s = o->timeout_s > 0 ? o->timeout_s : HTTP_TIMEOUT_S;
	tls = o->tls_cert_file != NULL || o->tls_key_file != NULL;
	if (tls) {
		if (o->tls_cert_file == NULL || o->tls_key_file == NULL) {
			snprintf(err, err_len, "tls-cert-file and tls-key-file "
			    "go together");
			goto fail;
		}
		if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
			snprintf(err, err_len, "HTTPS: libmicrohttpd was built "
			    "without TLS");
			goto fail;
		}
		if (read_small(o->tls_cert_file, "tls-cert-file", &cert,
		    &cert_len, err, err_len) < 0 ||
		    read_small(o->tls_key_file, "tls-key-file", &h->key_pem,
		    &h->key_len, err, err_len) < 0)
			goto fail;
		h->cert_pem = cert;
	}
	if (o->push_token != NULL || o->push_token_file != NULL) {
		if (o->push_cb == NULL) {
			snprintf(err, err_len, "push: no handler for pushed "
			    "documents");
			goto fail;
		}
		if (token_load(h, o, err, err_len) < 0)
			goto fail;
		h->push = 1;
		h->push_max = o->push_max_bytes > 0 ? o->push_max_bytes :
		    RG_HTTP_PUSH_MAX_BYTES;
		if (h->push_max > SIZE_MAX / 2)
			h->push_max = SIZE_MAX / 2;
		h->push_cb = o->push_cb;
		h->push_arg = o->push_arg;
		h->push_deadline_s = o->push_deadline_s > 0 ?
		    o->push_deadline_s : PUSH_DEADLINE_S;
	}
	if (o->push_client_ca_file != NULL) {
		if (!h->push || !tls) {
			snprintf(err, err_len, "push-client-ca-file %s: needs "
			    "a push token and HTTPS", o->push_client_ca_file);
			goto fail;
		}
		if (read_small(o->push_client_ca_file, "push-client-ca-file",
		    &h->ca_pem, &ca_len, err, err_len) < 0)
			goto fail;
	}
	if (tls && tls_check(o, h->cert_pem, cert_len, h->key_pem, h->key_len,
	    h->ca_pem, ca_len, err, err_len) < 0)
		goto fail;
	for (i = 0; i < o->n_listen && i < HTTP_MAX_DAEMONS; i++) {
		if (rg_conf_parse_addr(o->listen[i], 0, &ss, &sl) < 0) {
			snprintf(err, err_len, "%s: not an address@port",
			    o->listen[i]);
			goto fail;
		}
		/* A bearer token in clear text only on the loopback. */
		if (h->push && !tls && !addr_loopback(&ss)) {
			snprintf(err, err_len, "%s: the push endpoint needs "
			    "HTTPS on an address that is not the loopback",
			    o->listen[i]);
			goto fail;
		}
		nops = 0;
		/* First, or MHD logs to stderr what comes before. */
		opt_add(ops, &nops, MHD_OPTION_EXTERNAL_LOGGER,
		    (intptr_t)mhd_log_cb, NULL);
		opt_add(ops, &nops, MHD_OPTION_SOCK_ADDR, 0, &ss);
		opt_add(ops, &nops, MHD_OPTION_CONNECTION_LIMIT,
		    HTTP_CONN_LIMIT, NULL);
		opt_add(ops, &nops, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
		    HTTP_CONN_PER_IP, NULL);
		opt_add(ops, &nops, MHD_OPTION_CONNECTION_TIMEOUT, timeout_s,
		    NULL);
		opt_add(ops, &nops, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
		    HTTP_CONN_MEMORY, NULL);
		opt_add(ops, &nops, MHD_OPTION_NOTIFY_COMPLETED,
		    (intptr_t)completed_cb, h);
		if (tls) {
			opt_add(ops, &nops, MHD_OPTION_HTTPS_MEM_CERT, 0,
			    h->cert_pem);
			opt_add(ops, &nops, MHD_OPTION_HTTPS_MEM_KEY, 0,
			    h->key_pem);
			opt_add(ops, &nops, MHD_OPTION_HTTPS_PRIORITIES, 0,
			    (void *)(uintptr_t)HTTP_TLS_PRIORITIES);
		}
		if (h->ca_pem != NULL)
			opt_add(ops, &nops, MHD_OPTION_HTTPS_MEM_TRUST, 0,
			    h->ca_pem);
		opt_add(ops, &nops, MHD_OPTION_END, 0, NULL);
		h->d[h->n] = MHD_start_daemon(
		    MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG |
		    (tls ? MHD_USE_TLS : 0) |
		    (ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0),
		    0, NULL, NULL, handler_cb, h,
		    MHD_OPTION_ARRAY, ops, MHD_OPTION_END);
		if (h->d[h->n] == NULL) {
			snprintf(err, err_len, "%s: cannot listen (address in "
			    "use or not permitted)", o->listen[i]);
			goto fail;
		}
		h->n++;
	}
	return h;
fail:
	if (cert != NULL && h->cert_pem == NULL)
		free(cert);
	rg_http_stop(h);
	return NULL;
}

struct rg_http *
rg_http_start(char *const *listen, size_t n, char *err, size_t err_len)
{
	struct rg_http_opts o;

	memset(&o, 0, sizeof(o));
	o.listen = listen;
	o.n_listen = n;
	return rg_http_start_opts(&o, err, err_len);
}

void
rg_http_stop(struct rg_http *h)
{
	size_t i;

	if (h == NULL)
		return;
	for (i = 0; i < h->n; i++)
		MHD_stop_daemon(h->d[i]);
	pthread_mutex_destroy(&h->lock);
	free(h->status);
	free(h->metrics);
	free(h->page);
	json_decref(h->history);
	free(h->cert_pem);
	if (h->key_pem != NULL) {
		explicit_bzero(h->key_pem, h->key_len);
		free(h->key_pem);
	}
	free(h->ca_pem);
	explicit_bzero(h->token_sha256, sizeof(h->token_sha256));
	free(h);
}

/* One latency sample per upstream every HISTORY_STEP_S. */
static void
history_sample(struct rg_http *h, const json_t *status)
{
	time_t now = time(NULL);
	const json_t *p, *u, *rtt;
	json_t *series;
	size_t i, j;

	/* A clock stepped back takes a sample at once rather than none for
	 * as long as the step. */
	if (now >= h->last_sample && now - h->last_sample < HISTORY_STEP_S)
		return;
	h->last_sample = now;
	json_array_foreach(json_object_get(status, "pools"), i, p)
		json_array_foreach(json_object_get(p, "upstreams"), j, u) {
			const char *name = json_string_value(
			    json_object_get(u, "name"));

			if (name == NULL)
				continue;
			if ((series = json_object_get(h->history, name)) ==
			    NULL) {
				series = json_array();
				json_object_set_new(h->history, name, series);
			}
			rtt = json_object_get(u, "rtt_ms");
			json_array_append_new(series, json_pack("[I, O]",
			    (json_int_t)now, json_is_number(rtt) &&
			    strcmp(json_string_value(json_object_get(u,
			    "state")) ? json_string_value(json_object_get(u,
			    "state")) : "", "down") != 0 ? rtt : json_null()));
			while (json_array_size(series) > HISTORY_POINTS)
				json_array_remove(series, 0);
		}
}

void
rg_http_update(struct rg_http *h, const json_t *status, const json_t *events)
{
	char *s, *m, *p;

	if (h == NULL)
		return;
	history_sample(h, status);
	s = json_dumps(status, JSON_INDENT(2) | JSON_REAL_PRECISION(10));
	m = rg_metrics_render(status);
	p = rg_http_page(status, events, h->history);
	pthread_mutex_lock(&h->lock);
	free(h->status);
	free(h->metrics);
	free(h->page);
	h->status = s;
	h->metrics = m;
	h->page = p;
	pthread_mutex_unlock(&h->lock);
}

/* The page */

struct buf {
	char *b;
	size_t len, cap;
};

static void buf_printf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;
	char *nb;

	if (b->b == NULL)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->b + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
		if ((size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		if ((nb = realloc(b->b, b->cap * 2 + (size_t)n)) == NULL) {
			free(b->b);
			b->b = NULL;
			return;
		}
		b->b = nb;
		b->cap = b->cap * 2 + (size_t)n;
	}
}

/* Text from the daemon's state may hold anything: escape it. */
static void
buf_html(struct buf *b, const char *s)
{
	for (; s != NULL && *s != '\0'; s++)
		switch (*s) {
		case '<':
			buf_printf(b, "&lt;");
			break;
		case '>':
			buf_printf(b, "&gt;");
			break;
		case '&':
			buf_printf(b, "&amp;");
			break;
		case '"':
			buf_printf(b, "&quot;");
			break;
		case '\'':
			buf_printf(b, "&#39;");
			break;
		default:
			buf_printf(b, "%c", *s);
		}
}

static const char *
js(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s != NULL ? s : "";
}

/* An SVG polyline of the last hour of one upstream's median latency. */
static void
plot(struct buf *b, const json_t *series)
{
	const double w = 360, ht = 60;
	double max = 1, v;
	json_int_t t0, t;
	const json_t *pt;
	size_t i;
	int pen = 0;

	json_array_foreach(series, i, pt)
		if (json_is_number(json_array_get(pt, 1)) &&
		    (v = json_number_value(json_array_get(pt, 1))) > max)
			max = v;
	t0 = (json_int_t)time(NULL) - HISTORY_POINTS * HISTORY_STEP_S;
	buf_printf(b, "<svg class=\"plot\" viewBox=\"0 0 %.0f %.0f\" "
	    "width=\"%.0f\" height=\"%.0f\" role=\"img\" aria-label=\"median "
	    "latency, last hour, up to %.1f ms\"><path d=\"", w, ht, w, ht, max);
	json_array_foreach(series, i, pt) {
		t = json_integer_value(json_array_get(pt, 0));
		if (!json_is_number(json_array_get(pt, 1))) {
			pen = 0;
			continue;
		}
		v = json_number_value(json_array_get(pt, 1));
		buf_printf(b, "%s%.1f %.1f ", pen ? "L" : "M",
		    (double)(t - t0) * w / (HISTORY_POINTS * HISTORY_STEP_S),
		    ht - 2 - v * (ht - 4) / max);
		pen = 1;
	}
	buf_printf(b, "\" fill=\"none\" stroke=\"#2a6\" stroke-width=\"1.5\"/>"
	    "</svg> <small>max %.1f ms</small>", max);
}

char *
rg_http_page(const json_t *status, const json_t *events,
    const json_t *history)
{
	struct buf b = { malloc(8192), 0, 8192 };
	const json_t *p, *u, *e, *f, *health = json_object_get(status,
	    "health");
	json_int_t code = json_integer_value(json_object_get(health, "code"));
	size_t i, j;

	buf_printf(&b, "<!doctype html>\n<html lang=\"en\"><head>"
	    "<meta charset=\"utf-8\"><meta http-equiv=\"refresh\" "
	    "content=\"10\"><title>resguard ");
	buf_html(&b, js(status, "agent_id"));
	buf_printf(&b, "</title><style>body{font:14px sans-serif;margin:1em}"
	    "table{border-collapse:collapse;margin:.5em 0}td,th{padding:2px 8px;"
	    "border-bottom:1px solid #ddd;text-align:left}.up{color:#080}"
	    ".down{color:#b00}.degraded{color:#b60}.unknown{color:#666}"
	    ".v0{background:#dfd}.v1{background:#ffd}.v2{background:#fdd}"
	    "</style></head><body>\n<h1>resguard on ");
	buf_html(&b, js(status, "agent_id"));
	buf_printf(&b, "</h1>\n<p id=\"verdict\" class=\"v%d\">%s: ",
	    (int)code, code == 0 ? "OK" : code == 1 ? "WARNING" : "CRITICAL");
	buf_html(&b, js(health, "summary"));
	buf_printf(&b, "</p>\n<p>mode <b id=\"mode\">");
	buf_html(&b, js(status, "mode"));
	buf_printf(&b, "</b>, pool <b id=\"active\">");
	buf_html(&b, js(status, "active_pool"));
	buf_printf(&b, "</b> serves since ");
	buf_html(&b, js(status, "mode_since"));
	if (json_is_string(json_object_get(status, "pinned"))) {
		buf_printf(&b, " (pinned to ");
		buf_html(&b, js(status, "pinned"));
		buf_printf(&b, ")");
	}
	buf_printf(&b, "</p>\n");
	json_array_foreach(json_object_get(status, "pools"), i, p) {
		buf_printf(&b, "<h2>pool ");
		buf_html(&b, js(p, "name"));
		buf_printf(&b, " <small>(");
		buf_html(&b, js(p, "role"));
		buf_printf(&b, ")</small></h2>\n<table><tr><th>upstream</th>"
		    "<th>address</th><th>transport</th><th>state</th>"
		    "<th>median RTT</th><th>last hour</th><th>last error</th>"
		    "</tr>\n");
		json_array_foreach(json_object_get(p, "upstreams"), j, u) {
			buf_printf(&b, "<tr><td>");
			buf_html(&b, js(u, "name"));
			buf_printf(&b, "</td><td>");
			buf_html(&b, js(u, "address"));
			buf_printf(&b, "@%d</td><td>", (int)json_integer_value(
			    json_object_get(u, "port")));
			buf_html(&b, js(u, "transport"));
			buf_printf(&b, "</td><td class=\"");
			buf_html(&b, js(u, "state"));
			buf_printf(&b, "\">");
			buf_html(&b, js(u, "state"));
			if (json_is_number(json_object_get(u, "rtt_ms")))
				buf_printf(&b, "</td><td>%.2f ms</td><td>",
				    json_number_value(json_object_get(u,
				    "rtt_ms")));
			else
				buf_printf(&b, "</td><td>-</td><td>");
			plot(&b, json_object_get(history, js(u, "name")));
			buf_printf(&b, "</td><td>");
			buf_html(&b, js(u, "last_error"));
			buf_printf(&b, "</td></tr>\n");
		}
		buf_printf(&b, "</table>\n");
	}
	buf_printf(&b, "<h2>feeds</h2>\n<table><tr><th>feed</th><th>format"
	    "</th><th>state</th><th>rules</th><th>updated</th><th>last error"
	    "</th></tr>\n");
	json_array_foreach(json_object_get(status, "feeds"), i, f) {
		buf_printf(&b, "<tr><td>");
		buf_html(&b, js(f, "name"));
		buf_printf(&b, "</td><td>");
		buf_html(&b, js(f, "format"));
		buf_printf(&b, "</td><td>");
		buf_html(&b, js(f, "state"));
		buf_printf(&b, "</td><td>%" JSON_INTEGER_FORMAT "</td><td>",
		    json_integer_value(json_object_get(f, "entries")));
		buf_html(&b, js(f, "updated"));
		buf_printf(&b, "</td><td>");
		buf_html(&b, js(f, "last_error"));
		buf_printf(&b, "</td></tr>\n");
	}
	buf_printf(&b, "</table>\n<h2>last events</h2>\n<table id=\"events\">"
	    "<tr><th>time</th><th>type</th><th>subject</th><th>change</th>"
	    "<th>reason</th></tr>\n");
	for (i = json_array_size(events); i-- > 0;) {
		e = json_array_get(events, i);
		buf_printf(&b, "<tr><td>");
		buf_html(&b, js(e, "time"));
		buf_printf(&b, "</td><td>");
		buf_html(&b, js(e, "type"));
		buf_printf(&b, "</td><td>");
		buf_html(&b, js(e, "subject"));
		buf_printf(&b, "</td><td>");
		if (json_is_string(json_object_get(e, "new"))) {
			buf_html(&b, js(e, "old"));
			buf_printf(&b, " &rarr; ");
			buf_html(&b, js(e, "new"));
		}
		buf_printf(&b, "</td><td>");
		buf_html(&b, js(e, "reason"));
		buf_printf(&b, "</td></tr>\n");
	}
	buf_printf(&b, "</table>\n<p><small>resguard %s &middot; "
	    "<a href=\"/status\">/status</a> &middot; <a href=\"/metrics\">"
	    "/metrics</a> &middot; refreshes every 10 s</small></p>\n"
	    "</body></html>\n", js(status, "version"));
	return b.b;
}
