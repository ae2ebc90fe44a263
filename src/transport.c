/*
 * transport.c -- one DNS exchange with one upstream, on the libuv loop.
 *
 * An exchange sends one probe query and waits for the one reply that
 * rg_probe_match() accepts, over UDP (a fresh socket on a kernel-chosen
 * port, connected to the upstream, falling back to TCP on a TC reply), TCP
 * (two-byte length prefix), DNS over TLS (OpenSSL on memory BIOs, fed from
 * the TCP stream) or the libunbound recursion of a last-resort pool.  Every
 * exchange owns a time-out timer and calls its callback exactly once, never
 * from inside rg_net_exchange().  The context caches one SSL_CTX per CA file
 * and one ub_ctx per recursion configuration.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <unbound.h>
#include <uv.h>

#include "log.h"
#include "tls.h"
#include "transport.h"

#define XCH_RBUF_SIZE	65536	/* a whole datagram, or a read's worth */
#define DNS_HDR_SIZE	12

/* One SSL_CTX per CA file, rebuilt when the file changes. */
struct tls_entry {
	struct tls_entry *next;
	char *ca_file;			/* NULL: the system store */
	struct stat st;			/* of ca_file when loaded */
	SSL_CTX *ctx;
};

/* One libunbound context per recursion configuration. */
struct ub_entry {
	struct ub_entry *next;
	char *key;			/* hints, anchor and root addresses */
	struct ub_ctx *ctx;
	uv_poll_t poll;			/* on ub_fd(ctx) */
	int polling;
	unsigned inflight;
	uint64_t used_ms;		/* last exchange started, uv_now() */
};

/* A context unused this long, with nothing in flight, is dropped: its
 * configuration went away with a reload, or its files changed. */
#define UB_IDLE_MS	(10 * 60 * 1000)

struct rg_net {
	uv_loop_t *loop;
	struct xch *xchs;		/* exchanges in flight */
	struct tls_entry *tls;
	struct ub_entry *ubs;
	int freeing;
};

enum xch_proto {
	XCH_UDP,
	XCH_TCP,
	XCH_TLS,
	XCH_RECURSIVE,
};
static const char *const xch_proto_str[] = { "udp", "tcp", "tls",
    "recursive" };

struct xch {
	struct xch *next, *prev;
	struct rg_net *net;
	rg_exchange_cb *cb;
	void *arg;
	enum xch_proto proto;
	struct rg_probe_query q;	/* copy; wire not owned, see frame */
	uint8_t *frame;			/* length prefix + query */
	struct sockaddr_storage addr;
	socklen_t addrlen;
	char peer[INET6_ADDRSTRLEN + 8];
	char *tls_name;
	char *spki_pin;
	uint32_t timeout_ms;
	uint64_t start_ns;
	uint64_t rtt_us;
	int done;			/* callback called or suppressed */
	int open;			/* handles not closed yet */
	unsigned ignored;		/* packets that were not the reply */

	uv_timer_t timer;
	uv_udp_t udp;
	uv_udp_send_t send;
	int udp_init;
	uv_tcp_t tcp;
	uv_connect_t conn;
	uv_write_t wr;
	int tcp_init;

	uint8_t *rbuf;			/* datagrams, raw stream reads */
	uint8_t hdr[2];			/* stream framing */
	size_t hdr_have;
	uint8_t *msg;			/* the stream message, or unbound's */
	size_t msg_len, msg_have;

	SSL *ssl;
	BIO *rbio, *wbio;
	int handshake_done;

	struct ub_entry *ub;
	int async_id;
	int ub_pending;

	int deferred;			/* the timer reports def_err */
	enum rg_probe_err def_err;
	char detail[256];
};

/* A TLS record on its way out; freed by its write callback. */
struct tls_write {
	uv_write_t req;
	struct xch *x;
	uint8_t data[];
};

static void xch_timer_cb(uv_timer_t *);
static void udp_alloc_cb(uv_handle_t *, size_t, uv_buf_t *);
static void udp_recv_cb(uv_udp_t *, ssize_t, const uv_buf_t *,
    const struct sockaddr *, unsigned);
static void udp_send_cb(uv_udp_send_t *, int);
static void tcp_connect_cb(uv_connect_t *, int);
static void tcp_alloc_cb(uv_handle_t *, size_t, uv_buf_t *);
static void tcp_read_cb(uv_stream_t *, ssize_t, const uv_buf_t *);
static void tcp_write_cb(uv_write_t *, int);
static void tls_write_cb(uv_write_t *, int);
static void tls_advance(struct xch *);

static void
xch_free(struct xch *x)
{
	free(x->frame);
	free(x->rbuf);
	free(x->msg);
	free(x->tls_name);
	free(x->spki_pin);
	free(x);
}

/*
 * libuv still owns a handle until its close callback has run, so the
 * exchange that embeds the handles is freed only after the last one.
 */
static void
xch_close_cb(uv_handle_t *h)
{
	struct xch *x = h->data;

	if (--x->open == 0)
		xch_free(x);
}

static void
xch_close_handles(struct xch *x)
{
	if (!uv_is_closing((uv_handle_t *)&x->timer))
		uv_close((uv_handle_t *)&x->timer, xch_close_cb);
	if (x->udp_init && !uv_is_closing((uv_handle_t *)&x->udp))
		uv_close((uv_handle_t *)&x->udp, xch_close_cb);
	if (x->tcp_init && !uv_is_closing((uv_handle_t *)&x->tcp))
		uv_close((uv_handle_t *)&x->tcp, xch_close_cb);
}

static void
xch_unlink(struct xch *x)
{
	if (x->prev != NULL)
		x->prev->next = x->next;
	else if (x->net->xchs == x)
		x->net->xchs = x->next;
	if (x->next != NULL)
		x->next->prev = x->prev;
	x->next = x->prev = NULL;
}

/* Release what the protocol holds besides handles. */
static void
xch_release(struct xch *x)
{
	if (x->ssl != NULL) {
		SSL_free(x->ssl);	/* frees both BIOs */
		x->ssl = NULL;
	}
	if (x->ub_pending) {
		ub_cancel(x->ub->ctx, x->async_id);
		x->ub_pending = 0;
		x->ub->inflight--;
	}
}

/* The one place that calls the callback. */
static void
xch_finish(struct xch *x, enum rg_probe_err err, const uint8_t *pkt,
    size_t len, const char *detail)
{
	uint64_t rtt;

	if (x->done)
		return;
	x->done = 1;
	rtt = x->rtt_us != 0 ? x->rtt_us :
	    (uv_hrtime() - x->start_ns) / 1000;
	xch_unlink(x);
	xch_release(x);
	xch_close_handles(x);
	if (err == RG_PROBE_OK)
		rg_log_debug("transport: %s %s %s %u: reply of %zu bytes in "
		    "%.1f ms (%u ignored)", xch_proto_str[x->proto], x->peer,
		    x->q.qname, x->q.qtype, len, rtt / 1000.0, x->ignored);
	else
		rg_log_debug("transport: %s %s %s %u: %s%s%s (%u ignored)",
		    xch_proto_str[x->proto], x->peer, x->q.qname, x->q.qtype,
		    rg_probe_err_str(err), detail != NULL ? ": " : "",
		    detail != NULL ? detail : "", x->ignored);
	/* The reply lives in the exchange, freed after the close callbacks. */
	if (err == RG_PROBE_OK)
		x->cb(x->arg, err, pkt, len, rtt, NULL);
	else
		x->cb(x->arg, err, NULL, 0, rtt, detail);
}

/*
 * Report ERR from the timer on the next loop iteration: for failures found
 * while rg_net_exchange() runs, and for libunbound results, which arrive
 * inside ub_process().  A NULL FMT keeps the detail already in x->detail.
 */
static void xch_defer(struct xch *x, enum rg_probe_err err,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
xch_defer(struct xch *x, enum rg_probe_err err, const char *fmt, ...)
{
	va_list ap;

	x->deferred = 1;
	x->def_err = err;
	if (fmt != NULL) {
		va_start(ap, fmt);
		vsnprintf(x->detail, sizeof(x->detail), fmt, ap);
		va_end(ap);
	}
	uv_timer_start(&x->timer, xch_timer_cb, 0, 0);
}

static void
xch_timer_cb(uv_timer_t *t)
{
	struct xch *x = t->data;
	char detail[96];

	if (x->deferred) {
		xch_finish(x, x->def_err, x->msg, x->msg_len,
		    x->detail[0] != '\0' ? x->detail : NULL);
		return;
	}
	snprintf(detail, sizeof(detail), "no reply within %u ms%s",
	    x->timeout_ms, x->proto == XCH_TLS && !x->handshake_done ?
	    " (TLS handshake not done)" : "");
	xch_finish(x, RG_PROBE_TIMEOUT, NULL, 0, detail);
}

static void
xch_ignore(struct xch *x, const char *why, size_t len)
{
	x->ignored++;
	rg_log_debug("transport: %s %s %s: ignored %zu bytes: %s",
	    xch_proto_str[x->proto], x->peer, x->q.qname, len, why);
}

static int
addr_equal(const struct sockaddr *a, const struct sockaddr_storage *b)
{
	const struct sockaddr_in *a4, *b4;
	const struct sockaddr_in6 *a6, *b6;

	if (a == NULL || a->sa_family != b->ss_family)
		return 0;
	if (a->sa_family == AF_INET) {
		a4 = (const struct sockaddr_in *)a;
		b4 = (const struct sockaddr_in *)b;
		return a4->sin_port == b4->sin_port &&
		    a4->sin_addr.s_addr == b4->sin_addr.s_addr;
	}
	if (a->sa_family == AF_INET6) {
		a6 = (const struct sockaddr_in6 *)a;
		b6 = (const struct sockaddr_in6 *)b;
		return a6->sin6_port == b6->sin6_port &&
		    memcmp(&a6->sin6_addr, &b6->sin6_addr, 16) == 0;
	}
	return 0;
}

/* UDP */

static void
udp_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct xch *x = h->data;

	buf->base = (char *)x->rbuf;
	buf->len = XCH_RBUF_SIZE;
}

static int tcp_start(struct xch *);

static void
udp_recv_cb(uv_udp_t *u, ssize_t nread, const uv_buf_t *buf,
    const struct sockaddr *from, unsigned flags)
{
	struct xch *x = u->data;
	int rc;

	if (x->done || uv_is_closing((uv_handle_t *)u))
		return;
	if (nread < 0) {
		/* ICMP port unreachable shows here: the socket is connected. */
		xch_finish(x, RG_PROBE_NETWORK, NULL, 0, uv_strerror(nread));
		return;
	}
	if (from == NULL)
		return;
	if (flags & UV_UDP_PARTIAL) {
		xch_ignore(x, "datagram larger than the buffer", nread);
		return;
	}
	if (!addr_equal(from, &x->addr)) {
		xch_ignore(x, "from another address or port", nread);
		return;
	}
	if (!rg_probe_match(&x->q, x->rbuf, nread)) {
		xch_ignore(x, "not a reply to the query", nread);
		return;
	}
	if (nread >= DNS_HDR_SIZE && (x->rbuf[2] & 0x02) != 0) {
		rg_log_debug("transport: udp %s %s: truncated, retrying over "
		    "TCP", x->peer, x->q.qname);
		uv_close((uv_handle_t *)&x->udp, xch_close_cb);
		x->proto = XCH_TCP;
		if ((rc = tcp_start(x)) < 0)
			xch_finish(x, RG_PROBE_NETWORK, NULL, 0,
			    uv_strerror(rc));
		return;
	}
	xch_finish(x, RG_PROBE_OK, x->rbuf, nread, NULL);
}

static void
udp_send_cb(uv_udp_send_t *req, int status)
{
	struct xch *x = req->data;

	if (status < 0 && !x->done)
		xch_finish(x, RG_PROBE_NETWORK, NULL, 0, uv_strerror(status));
}

/* Returns 0, or a libuv error code with what failed in x->detail. */
static int
udp_start(struct xch *x)
{
	struct sockaddr_storage any;
	uv_buf_t buf;
	int rc;

	if ((rc = uv_udp_init(x->net->loop, &x->udp)) < 0) {
		snprintf(x->detail, sizeof(x->detail), "socket: %s",
		    uv_strerror(rc));
		return rc;
	}
	x->udp.data = x;
	x->udp_init = 1;
	x->open++;

	/* Port 0: the kernel picks a random source port. */
	memset(&any, 0, sizeof(any));
	any.ss_family = x->addr.ss_family;
	if (any.ss_family == AF_INET6)
		((struct sockaddr_in6 *)&any)->sin6_addr = in6addr_any;
	if ((rc = uv_udp_bind(&x->udp, (struct sockaddr *)&any, 0)) < 0) {
		snprintf(x->detail, sizeof(x->detail), "bind: %s",
		    uv_strerror(rc));
		return rc;
	}
	/* Connected: the kernel drops other sources and reports ICMP. */
	if ((rc = uv_udp_connect(&x->udp,
	    (const struct sockaddr *)&x->addr)) < 0) {
		snprintf(x->detail, sizeof(x->detail), "connect: %s",
		    uv_strerror(rc));
		return rc;
	}
	if ((rc = uv_udp_recv_start(&x->udp, udp_alloc_cb, udp_recv_cb)) < 0) {
		snprintf(x->detail, sizeof(x->detail), "recv: %s",
		    uv_strerror(rc));
		return rc;
	}
	x->send.data = x;
	buf = uv_buf_init((char *)x->frame + 2, (unsigned)x->q.wire_len);
	if ((rc = uv_udp_send(&x->send, &x->udp, &buf, 1, NULL,
	    udp_send_cb)) < 0) {
		snprintf(x->detail, sizeof(x->detail), "send: %s",
		    uv_strerror(rc));
		return rc;
	}
	return 0;
}

/* TCP and the DNS stream framing */

static int
tcp_start(struct xch *x)
{
	int rc;

	if ((rc = uv_tcp_init(x->net->loop, &x->tcp)) < 0)
		return rc;
	x->tcp.data = x;
	x->tcp_init = 1;
	x->open++;
	uv_tcp_nodelay(&x->tcp, 1);
	x->conn.data = x;
	return uv_tcp_connect(&x->conn, &x->tcp,
	    (const struct sockaddr *)&x->addr, tcp_connect_cb);
}

static void
tcp_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct xch *x = h->data;

	buf->base = (char *)x->rbuf;
	buf->len = XCH_RBUF_SIZE;
}

/* Take N bytes of the reply stream; a reply that matches ends it. */
static void
frame_input(struct xch *x, const uint8_t *data, size_t n)
{
	size_t take;

	while (n > 0 && !x->done) {
		if (x->hdr_have < 2) {
			x->hdr[x->hdr_have++] = *data++;
			n--;
			if (x->hdr_have < 2)
				continue;
			x->msg_len = (size_t)x->hdr[0] << 8 | x->hdr[1];
			x->msg_have = 0;
			if (x->msg_len == 0) {
				xch_finish(x, RG_PROBE_MALFORMED, NULL, 0,
				    "zero-length message on the stream");
				return;
			}
			free(x->msg);
			if ((x->msg = malloc(x->msg_len)) == NULL) {
				xch_finish(x, RG_PROBE_NETWORK, NULL, 0,
				    "out of memory");
				return;
			}
			continue;
		}
		take = x->msg_len - x->msg_have;
		if (take > n)
			take = n;
		memcpy(x->msg + x->msg_have, data, take);
		x->msg_have += take;
		data += take;
		n -= take;
		if (x->msg_have < x->msg_len)
			continue;
		x->hdr_have = 0;
		if (rg_probe_match(&x->q, x->msg, x->msg_len)) {
			xch_finish(x, RG_PROBE_OK, x->msg, x->msg_len, NULL);
			return;
		}
		xch_ignore(x, "not a reply to the query", x->msg_len);
	}
}

static void
tcp_write_cb(uv_write_t *req, int status)
{
	struct xch *x = req->data;

	if (status < 0 && !x->done)
		xch_finish(x, RG_PROBE_NETWORK, NULL, 0, uv_strerror(status));
}

static void
tcp_send_query(struct xch *x)
{
	uv_buf_t buf;
	int rc;

	buf = uv_buf_init((char *)x->frame, (unsigned)x->q.wire_len + 2);
	x->wr.data = x;
	if ((rc = uv_write(&x->wr, (uv_stream_t *)&x->tcp, &buf, 1,
	    tcp_write_cb)) < 0)
		xch_finish(x, RG_PROBE_NETWORK, NULL, 0, uv_strerror(rc));
}

static void
tcp_connect_cb(uv_connect_t *req, int status)
{
	struct xch *x = req->data;
	char detail[128];
	int rc;

	if (x->done)
		return;
	if (status < 0) {
		snprintf(detail, sizeof(detail), "connect: %s",
		    uv_strerror(status));
		xch_finish(x, RG_PROBE_NETWORK, NULL, 0, detail);
		return;
	}
	if ((rc = uv_read_start((uv_stream_t *)&x->tcp, tcp_alloc_cb,
	    tcp_read_cb)) < 0) {
		xch_finish(x, RG_PROBE_NETWORK, NULL, 0, uv_strerror(rc));
		return;
	}
	if (x->proto == XCH_TLS)
		tls_advance(x);
	else
		tcp_send_query(x);
}

static void
tcp_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct xch *x = s->data;
	char detail[128];

	if (x->done || nread == 0)
		return;
	if (nread == UV_EOF) {
		if (x->proto == XCH_TLS && !x->handshake_done)
			xch_finish(x, RG_PROBE_TLS_HANDSHAKE, NULL, 0,
			    "connection closed during the handshake");
		else {
			if (x->hdr_have == 2)
				snprintf(detail, sizeof(detail), "connection "
				    "closed after %zu of %zu bytes",
				    x->msg_have, x->msg_len);
			else
				snprintf(detail, sizeof(detail), "connection "
				    "closed before the reply");
			xch_finish(x, RG_PROBE_NETWORK, NULL, 0, detail);
		}
		return;
	}
	if (nread < 0) {
		xch_finish(x, RG_PROBE_NETWORK, NULL, 0, uv_strerror(nread));
		return;
	}
	if (x->proto == XCH_TLS) {
		if (BIO_write(x->rbio, buf->base, (int)nread) != (int)nread) {
			xch_finish(x, RG_PROBE_NETWORK, NULL, 0,
			    "out of memory");
			return;
		}
		tls_advance(x);
	} else
		frame_input(x, (const uint8_t *)buf->base, (size_t)nread);
}

/* DNS over TLS */

static void
tls_write_cb(uv_write_t *req, int status)
{
	struct tls_write *w = req->data;
	struct xch *x = w->x;

	/* Also called, cancelled, when the handle closes: X is alive. */
	if (status < 0 && !x->done)
		xch_finish(x, RG_PROBE_NETWORK, NULL, 0, uv_strerror(status));
	free(w);
}

/* Send what OpenSSL wrote into the outgoing BIO; 0 or -1 (finished). */
static int
tls_flush(struct xch *x)
{
	struct tls_write *w;
	size_t pending;
	uv_buf_t buf;
	int n, rc;

	while ((pending = BIO_ctrl_pending(x->wbio)) > 0) {
		if ((w = malloc(sizeof(*w) + pending)) == NULL) {
			xch_finish(x, RG_PROBE_NETWORK, NULL, 0,
			    "out of memory");
			return -1;
		}
		if ((n = BIO_read(x->wbio, w->data, (int)pending)) <= 0) {
			free(w);
			break;
		}
		w->x = x;
		w->req.data = w;
		buf = uv_buf_init((char *)w->data, (unsigned)n);
		if ((rc = uv_write(&w->req, (uv_stream_t *)&x->tcp, &buf, 1,
		    tls_write_cb)) < 0) {
			free(w);
			xch_finish(x, RG_PROBE_NETWORK, NULL, 0,
			    uv_strerror(rc));
			return -1;
		}
	}
	return 0;
}

/* Why the handshake failed, as the callback reports it. */
static void
tls_fail(struct xch *x, int sslerr)
{
	char detail[256];
	unsigned long e;
	long v;

	v = SSL_get_verify_result(x->ssl);
	if (v != X509_V_OK) {
		xch_finish(x, RG_PROBE_TLS_VERIFY, NULL, 0,
		    X509_verify_cert_error_string(v));
		ERR_clear_error();
		return;
	}
	if ((e = ERR_get_error()) != 0)
		ERR_error_string_n(e, detail, sizeof(detail));
	else if (sslerr == SSL_ERROR_ZERO_RETURN)
		snprintf(detail, sizeof(detail), "closed by the server");
	else
		snprintf(detail, sizeof(detail), "SSL error %d", sslerr);
	ERR_clear_error();
	xch_finish(x, RG_PROBE_TLS_HANDSHAKE, NULL, 0, detail);
}

/* Drive the handshake, then send the query and read the reply. */
static void
tls_advance(struct xch *x)
{
	char pin[64], detail[128];
	int r, e;

	if (!x->handshake_done) {
		ERR_clear_error();
		r = SSL_do_handshake(x->ssl);
		if (r != 1) {
			e = SSL_get_error(x->ssl, r);
			if (e == SSL_ERROR_WANT_READ ||
			    e == SSL_ERROR_WANT_WRITE) {
				tls_flush(x);
				return;
			}
			/* Send the alert, if any, before closing. */
			if (tls_flush(x) == 0)
				tls_fail(x, e);
			return;
		}
		x->handshake_done = 1;
		if (x->spki_pin != NULL) {
			if (rg_tls_spki_pin(x->ssl, pin, sizeof(pin)) < 0) {
				xch_finish(x, RG_PROBE_TLS_PIN, NULL, 0,
				    "cannot compute the server's SPKI pin");
				return;
			}
			if (strcmp(pin, x->spki_pin) != 0) {
				snprintf(detail, sizeof(detail),
				    "server key pin is %s", pin);
				xch_finish(x, RG_PROBE_TLS_PIN, NULL, 0,
				    detail);
				return;
			}
		}
		rg_log_debug("transport: tls %s: %s with %s", x->peer,
		    SSL_get_version(x->ssl), SSL_get_cipher_name(x->ssl));
		/* Memory BIOs grow as needed: the write never blocks. */
		if (SSL_write(x->ssl, x->frame, (int)x->q.wire_len + 2) <= 0) {
			tls_fail(x, SSL_get_error(x->ssl, -1));
			return;
		}
	}
	for (;;) {
		ERR_clear_error();
		r = SSL_read(x->ssl, x->rbuf, XCH_RBUF_SIZE);
		if (r > 0) {
			frame_input(x, x->rbuf, (size_t)r);
			if (x->done)
				return;
			continue;
		}
		e = SSL_get_error(x->ssl, r);
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
			break;
		if (e == SSL_ERROR_ZERO_RETURN)
			xch_finish(x, RG_PROBE_NETWORK, NULL, 0,
			    "TLS connection closed before the reply");
		else {
			snprintf(detail, sizeof(detail), "TLS: %s",
			    ERR_reason_error_string(ERR_peek_error()) ?
			    ERR_reason_error_string(ERR_peek_error()) :
			    "read failed");
			ERR_clear_error();
			xch_finish(x, RG_PROBE_NETWORK, NULL, 0, detail);
		}
		return;
	}
	tls_flush(x);
}

static void
tls_entry_free(struct tls_entry *t)
{
	SSL_CTX_free(t->ctx);
	free(t->ca_file);
	free(t);
}

/* The cached context for CA_FILE (NULL: system store), or NULL. */
static SSL_CTX *
tls_ctx_get(struct rg_net *net, const char *ca_file)
{
	struct tls_entry *t, **tp;
	struct stat st;

	memset(&st, 0, sizeof(st));
	if (ca_file != NULL && stat(ca_file, &st) < 0)
		return NULL;
	for (tp = &net->tls; (t = *tp) != NULL; tp = &t->next) {
		if ((t->ca_file == NULL) != (ca_file == NULL) ||
		    (ca_file != NULL && strcmp(t->ca_file, ca_file) != 0))
			continue;
		if (ca_file == NULL || (t->st.st_mtim.tv_sec ==
		    st.st_mtim.tv_sec && t->st.st_mtim.tv_nsec ==
		    st.st_mtim.tv_nsec && t->st.st_ino == st.st_ino &&
		    t->st.st_size == st.st_size))
			return t->ctx;
		/* The file changed: load it again. */
		*tp = t->next;
		tls_entry_free(t);
		break;
	}
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	if ((ca_file != NULL && (t->ca_file = strdup(ca_file)) == NULL) ||
	    (t->ctx = rg_tls_ctx_new(ca_file)) == NULL) {
		ERR_clear_error();
		tls_entry_free(t);
		return NULL;
	}
	t->st = st;
	t->next = net->tls;
	net->tls = t;
	return t->ctx;
}

/* Returns RG_PROBE_OK, or the failure with what failed in x->detail. */
static enum rg_probe_err
tls_prepare(struct xch *x, const struct rg_conf_upstream *up)
{
	SSL_CTX *ctx;

	if ((ctx = tls_ctx_get(x->net, up->ca_file)) == NULL) {
		snprintf(x->detail, sizeof(x->detail), "cannot load %s",
		    up->ca_file != NULL ? up->ca_file :
		    "the system CA store");
		return RG_PROBE_TLS_VERIFY;
	}
	if ((x->ssl = SSL_new(ctx)) == NULL ||
	    (x->rbio = BIO_new(BIO_s_mem())) == NULL ||
	    (x->wbio = BIO_new(BIO_s_mem())) == NULL) {
		BIO_free(x->rbio);
		x->rbio = NULL;
		snprintf(x->detail, sizeof(x->detail), "out of memory");
		return RG_PROBE_TLS_HANDSHAKE;
	}
	SSL_set_bio(x->ssl, x->rbio, x->wbio);
	SSL_set_connect_state(x->ssl);
	if (rg_tls_prepare(x->ssl, up->tls_name, &x->addr) < 0) {
		snprintf(x->detail, sizeof(x->detail), "bad %s %s",
		    up->tls_name ? "tls-name" : "address",
		    up->tls_name ? up->tls_name : up->address);
		return RG_PROBE_TLS_VERIFY;
	}
	return RG_PROBE_OK;
}

/* Recursion with libunbound */

static void
ub_entry_close_cb(uv_handle_t *h)
{
	struct ub_entry *e = h->data;

	free(e->key);
	free(e);
}

/* Close the entry's poll first: ub_ctx_delete() closes the fd it watches. */
static void
ub_entry_free(struct ub_entry *e)
{
	if (e->polling) {
		uv_close((uv_handle_t *)&e->poll, ub_entry_close_cb);
		ub_ctx_delete(e->ctx);
		return;
	}
	if (e->ctx != NULL)
		ub_ctx_delete(e->ctx);
	free(e->key);
	free(e);
}

static void
ub_poll_cb(uv_poll_t *p, int status, int events)
{
	struct ub_entry *e = p->data;
	int rc;

	/* Results only land in exchanges here; callbacks run later. */
	if ((rc = ub_process(e->ctx)) != 0)
		rg_log_warnx("transport: libunbound: %s", ub_strerror(rc));
}

static void
ub_key_file(char *key, size_t len, const char *path)
{
	struct stat st;
	size_t n = strlen(key);

	if (path != NULL && stat(path, &st) == 0)
		snprintf(key + n, len - n, "\nfile=%lld.%ld:%lld:%llu",
		    (long long)st.st_mtim.tv_sec, (long)st.st_mtim.tv_nsec,
		    (long long)st.st_size, (unsigned long long)st.st_ino);
}

static char *
ub_key(const struct rg_conf_pool *pool)
{
	size_t i, len = 64 + 2 * 80;
	char *key;

	len += pool->root_hints != NULL ? strlen(pool->root_hints) : 0;
	len += pool->trust_anchor_file != NULL ?
	    strlen(pool->trust_anchor_file) : 0;
	for (i = 0; i < pool->n_root_addrs; i++)
		len += strlen(pool->root_addrs[i]) + 8;
	if ((key = malloc(len)) == NULL)
		return NULL;
	snprintf(key, len, "hints=%s\nta=%s",
	    pool->root_hints != NULL ? pool->root_hints : "",
	    pool->trust_anchor_file != NULL ? pool->trust_anchor_file : "");
	/* An edited hints or anchor file makes a new context. */
	ub_key_file(key, len, pool->root_hints);
	ub_key_file(key, len, pool->trust_anchor_file);
	for (i = 0; i < pool->n_root_addrs; i++) {
		strcat(key, "\nroot=");
		strcat(key, pool->root_addrs[i]);
	}
	return key;
}

/* Returns 0, or -1 with what failed in DETAIL. */
static int
ub_entry_setup(struct rg_net *net, struct ub_entry *e,
    const struct rg_conf_pool *pool, char *detail, size_t dlen)
{
	const char *what = "ub_ctx_create";
	size_t i;
	int rc = 0;

	if ((e->ctx = ub_ctx_create()) == NULL)
		goto fail;
	/*
	 * Never resolv.conf or hosts: the pool says where the root is.
	 * Loopback roots are what tests and labs use.
	 */
	what = "do-not-query-localhost";
	if ((rc = ub_ctx_set_option(e->ctx, "do-not-query-localhost:", "no")))
		goto fail;
	/* Health probes ask for random names: an answer synthesised from
	 * cached NSEC records would hide a root that is gone. */
	what = "aggressive-nsec";
	if ((rc = ub_ctx_set_option(e->ctx, "aggressive-nsec:", "no")))
		goto fail;
	/*
	 * libunbound reads a root hints file before the stubs and then
	 * ignores a stub for ".": with both, the addresses win.
	 */
	if (pool->root_hints != NULL && pool->n_root_addrs > 0)
		rg_log_warnx("transport: pool %s: root-addresses set, "
		    "root-hints %s not used", pool->name, pool->root_hints);
	else if (pool->root_hints != NULL) {
		what = pool->root_hints;
		if ((rc = ub_ctx_set_option(e->ctx, "root-hints:",
		    pool->root_hints)))
			goto fail;
	}
	for (i = 0; i < pool->n_root_addrs; i++) {
		what = pool->root_addrs[i];
		if ((rc = ub_ctx_set_stub(e->ctx, ".", pool->root_addrs[i], 0)))
			goto fail;
	}
	if (pool->trust_anchor_file != NULL) {
		what = pool->trust_anchor_file;
		if ((rc = ub_ctx_add_ta_file(e->ctx,
		    pool->trust_anchor_file)))
			goto fail;
	}
	what = "ub_ctx_async";
	if ((rc = ub_ctx_async(e->ctx, 1)))
		goto fail;
	what = "poll";
	if (uv_poll_init(net->loop, &e->poll, ub_fd(e->ctx)) < 0)
		goto fail;
	e->poll.data = e;
	e->polling = 1;
	/* The poll alone must not keep the loop running. */
	uv_unref((uv_handle_t *)&e->poll);
	if (uv_poll_start(&e->poll, UV_READABLE, ub_poll_cb) < 0)
		goto fail;
	return 0;
fail:
	snprintf(detail, dlen, "libunbound: %s: %s", what,
	    rc != 0 ? ub_strerror(rc) : "failed");
	return -1;
}

static void
ub_entries_expire(struct rg_net *net)
{
	struct ub_entry **ep = &net->ubs, *e;
	uint64_t now = uv_now(net->loop);

	while ((e = *ep) != NULL) {
		if (e->inflight == 0 && now - e->used_ms > UB_IDLE_MS) {
			*ep = e->next;
			ub_entry_free(e);
		} else
			ep = &e->next;
	}
}

static struct ub_entry *
ub_entry_get(struct rg_net *net, const struct rg_conf_pool *pool,
    char *detail, size_t dlen)
{
	struct ub_entry *e;
	char *key;

	if ((key = ub_key(pool)) == NULL) {
		snprintf(detail, dlen, "out of memory");
		return NULL;
	}
	for (e = net->ubs; e != NULL; e = e->next)
		if (strcmp(e->key, key) == 0) {
			free(key);
			e->used_ms = uv_now(net->loop);
			return e;
		}
	ub_entries_expire(net);
	if ((e = calloc(1, sizeof(*e))) == NULL) {
		free(key);
		snprintf(detail, dlen, "out of memory");
		return NULL;
	}
	e->key = key;
	if (ub_entry_setup(net, e, pool, detail, dlen) < 0) {
		ub_entry_free(e);
		return NULL;
	}
	e->next = net->ubs;
	net->ubs = e;
	e->used_ms = uv_now(net->loop);
	return e;
}

static void
ub_entry_drop(struct rg_net *net, struct ub_entry *e)
{
	struct ub_entry **ep;

	for (ep = &net->ubs; *ep != NULL; ep = &(*ep)->next)
		if (*ep == e) {
			*ep = e->next;
			ub_entry_free(e);
			return;
		}
}

/* Length of the header and the one question of MSG, or 0. */
static size_t
wire_question_end(const uint8_t *msg, size_t len)
{
	size_t off = DNS_HDR_SIZE;

	if (len < DNS_HDR_SIZE || msg[4] != 0 || msg[5] != 1)
		return 0;
	for (;;) {
		if (off >= len || (msg[off] & 0xc0) != 0)
			return 0;
		if (msg[off] == 0)
			break;
		off += msg[off] + 1;
	}
	off += 1 + 4;
	return off <= len ? off : 0;
}

static void
ub_done_cb(void *arg, int err, struct ub_result *res)
{
	struct xch *x = arg;
	size_t qend;

	x->ub_pending = 0;
	x->ub->inflight--;
	if (x->done)
		goto out;
	x->rtt_us = (uv_hrtime() - x->start_ns) / 1000;
	if (err != 0) {
		xch_defer(x, RG_PROBE_NETWORK, "libunbound: %s",
		    ub_strerror(err));
		goto out;
	}
	if (res == NULL || res->answer_packet == NULL ||
	    res->answer_len < DNS_HDR_SIZE) {
		xch_defer(x, RG_PROBE_NETWORK, "libunbound: no answer "
		    "packet (rcode %d)", res != NULL ? res->rcode : -1);
		goto out;
	}
	if ((x->msg = malloc((size_t)res->answer_len)) == NULL) {
		xch_defer(x, RG_PROBE_NETWORK, "out of memory");
		goto out;
	}
	memcpy(x->msg, res->answer_packet, (size_t)res->answer_len);
	x->msg_len = (size_t)res->answer_len;
	/*
	 * The packet carries libunbound's own ID: put back ours, so that
	 * callers match it like any reply.  AD says what the validator
	 * found, and a bogus answer becomes what a validating resolver
	 * sends: SERVFAIL with the question only.
	 */
	x->msg[0] = x->q.id >> 8;
	x->msg[1] = x->q.id & 0xff;
	if (res->secure)
		x->msg[3] |= 0x20;
	else
		x->msg[3] &= ~0x20;
	if (res->bogus) {
		rg_log_debug("transport: recursive %s: bogus: %s",
		    x->q.qname, res->why_bogus != NULL ? res->why_bogus : "?");
		if ((qend = wire_question_end(x->msg, x->msg_len)) > 0) {
			x->msg_len = qend;
			memset(x->msg + 6, 0, 6);
		}
		x->msg[3] = (x->msg[3] & 0xf0) | 2;
	}
	xch_defer(x, RG_PROBE_OK, NULL);
out:
	if (res != NULL)
		ub_resolve_free(res);
}

/* Returns 0, or -1 with what failed in x->detail. */
static int
recursive_start(struct xch *x, const struct rg_conf_pool *pool)
{
	struct ub_entry *e;
	int rc;

	e = ub_entry_get(x->net, pool, x->detail, sizeof(x->detail));
	if (e == NULL)
		return -1;
	rc = ub_resolve_async(e->ctx, x->q.qname, x->q.qtype, 1, x,
	    ub_done_cb, &x->async_id);
	if (rc != 0) {
		snprintf(x->detail, sizeof(x->detail), "libunbound: %s",
		    ub_strerror(rc));
		/* A context that failed to start is rebuilt next time. */
		if (e->inflight == 0)
			ub_entry_drop(x->net, e);
		return -1;
	}
	x->ub = e;
	x->ub_pending = 1;
	e->inflight++;
	return 0;
}

/* The context */

struct rg_net *
rg_net_new(uv_loop_t *loop)
{
	struct rg_net *net;

	if ((net = calloc(1, sizeof(*net))) == NULL)
		return NULL;
	net->loop = loop;
	return net;
}

void
rg_net_free(struct rg_net *net)
{
	struct tls_entry *t;
	struct ub_entry *e;

	if (net == NULL)
		return;
	net->freeing = 1;
	while (net->xchs != NULL)
		xch_finish(net->xchs, RG_PROBE_CANCELLED, NULL, 0,
		    "network context freed");
	while ((t = net->tls) != NULL) {
		net->tls = t->next;
		tls_entry_free(t);
	}
	while ((e = net->ubs) != NULL) {
		net->ubs = e->next;
		ub_entry_free(e);
	}
	free(net);
}

static void
peer_str(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN] = "?";
	int port = 0;

	if (ss->ss_family == AF_INET) {
		uv_ip4_name((const struct sockaddr_in *)ss, host, sizeof(host));
		port = ntohs(((const struct sockaddr_in *)ss)->sin_port);
	} else if (ss->ss_family == AF_INET6) {
		uv_ip6_name((const struct sockaddr_in6 *)ss, host,
		    sizeof(host));
		port = ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
	}
	snprintf(buf, len, "%s@%d", host, port);
}

int
rg_net_exchange(struct rg_net *net, const struct rg_conf_pool *pool,
    const struct rg_conf_upstream *up, const struct rg_probe_query *q,
    uint32_t timeout_ms, rg_exchange_cb *cb, void *arg)
{
	struct xch *x = NULL;
	enum rg_probe_err fail = RG_PROBE_NETWORK;
	int rc = -EINVAL, recursive, started = 0;

	if (net == NULL || up == NULL || q == NULL || cb == NULL ||
	    q->wire == NULL || q->wire_len < DNS_HDR_SIZE ||
	    q->wire_len > 65535)
		goto out;
	rc = -ECANCELED;
	if (net->freeing)
		goto out;
	rc = -EINVAL;
	recursive = up->transport == RG_TRANSPORT_RECURSIVE ||
	    (pool != NULL && pool->recursive);
	if (recursive) {
		/* Without root-hints or root-addresses, libunbound uses its
		 * built-in hints: the public root servers, as a real last
		 * resort should.  Tests and the lab always set a local root. */
		if (pool == NULL)
			goto out;
	} else if ((up->addr.ss_family != AF_INET &&
	    up->addr.ss_family != AF_INET6) || up->addrlen == 0 ||
	    up->addrlen > sizeof(x->addr))
		goto out;

	rc = -ENOMEM;
	if ((x = calloc(1, sizeof(*x))) == NULL)
		goto out;
	x->net = net;
	x->cb = cb;
	x->arg = arg;
	x->q = *q;
	x->q.wire = NULL;
	x->timeout_ms = timeout_ms;
	if ((x->frame = malloc(q->wire_len + 2)) == NULL ||
	    (!recursive && (x->rbuf = malloc(XCH_RBUF_SIZE)) == NULL) ||
	    (up->tls_name != NULL &&
	    (x->tls_name = strdup(up->tls_name)) == NULL) ||
	    (up->spki_pin != NULL &&
	    (x->spki_pin = strdup(up->spki_pin)) == NULL))
		goto out;
	x->frame[0] = q->wire_len >> 8;
	x->frame[1] = q->wire_len & 0xff;
	memcpy(x->frame + 2, q->wire, q->wire_len);
	x->q.wire = x->frame + 2;
	if (recursive) {
		x->proto = XCH_RECURSIVE;
		snprintf(x->peer, sizeof(x->peer), "%s", pool->name);
	} else {
		memcpy(&x->addr, &up->addr, up->addrlen);
		x->addrlen = up->addrlen;
		peer_str(&x->addr, x->peer, sizeof(x->peer));
		switch (up->transport) {
		case RG_TRANSPORT_UDP:
			x->proto = XCH_UDP;
			break;
		case RG_TRANSPORT_TCP:
			x->proto = XCH_TCP;
			break;
		case RG_TRANSPORT_TLS:
			x->proto = XCH_TLS;
			break;
		case RG_TRANSPORT_RECURSIVE:
			break;
		}
	}

	/* From here on, the exchange is freed through its close callbacks. */
	uv_timer_init(net->loop, &x->timer);
	x->timer.data = x;
	x->open = 1;
	x->next = net->xchs;
	if (net->xchs != NULL)
		net->xchs->prev = x;
	net->xchs = x;
	x->start_ns = uv_hrtime();
	uv_timer_start(&x->timer, xch_timer_cb, timeout_ms, 0);

	switch (x->proto) {
	case XCH_UDP:
		started = udp_start(x) == 0;
		break;
	case XCH_TCP:
		started = (rc = tcp_start(x)) == 0;
		if (!started)
			snprintf(x->detail, sizeof(x->detail), "connect: %s",
			    uv_strerror(rc));
		break;
	case XCH_TLS:
		if ((fail = tls_prepare(x, up)) != RG_PROBE_OK)
			break;
		fail = RG_PROBE_NETWORK;
		started = (rc = tcp_start(x)) == 0;
		if (!started)
			snprintf(x->detail, sizeof(x->detail), "connect: %s",
			    uv_strerror(rc));
		break;
	case XCH_RECURSIVE:
		started = recursive_start(x, pool) == 0;
		break;
	}
	if (!started)
		xch_defer(x, fail, NULL);
	rg_log_debug("transport: %s %s %s %u: started, time-out %u ms",
	    xch_proto_str[x->proto], x->peer, x->q.qname, x->q.qtype,
	    timeout_ms);
	return 0;
out:
	if (x != NULL)
		xch_free(x);
	return rc;
}
