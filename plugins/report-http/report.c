/*
 * report-http -- reports POSTed to a collector over HTTPS (or plain HTTP
 * on a trusted network): one request per batch, its body the JSON array
 * of the batch's reports, "Content-Type: application/json", a bearer
 * token, the CA to check the collector with, a client certificate and a
 * time-out for the whole request.  A 2xx answer acknowledges the whole
 * batch; anything else is an error that names the status and the URL.
 * The receiver drops duplicates by the reports' ids: a batch whose answer
 * was lost is sent again whole.
 *
 * The curl handle is kept between deliveries (curlutil.c), so a collector
 * that keeps connections alive is spoken to over one TLS session.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "../plugin.h"
#include "../lib/curlutil.h"

#define ANSWER_KEEP	200	/* bytes of an error answer quoted */

struct http {
	char *url;
	char *url_shown;		/* without user:password@ */
	struct rg_curl c;
};

/* What a request answered, the start of it. */
struct answer {
	char buf[ANSWER_KEEP + 1];
	size_t len;
};

static size_t
answer_cb(char *p, size_t size, size_t nmemb, void *arg)
{
	struct answer *a = arg;
	size_t n = size * nmemb, room = ANSWER_KEEP - a->len;

	if (room > 0) {
		memcpy(a->buf + a->len, p, n < room ? n : room);
		a->len += n < room ? n : room;
		a->buf[a->len] = '\0';
	}
	return n;
}

static void
http_close(void *state)
{
	struct http *h = state;

	if (h == NULL)
		return;
	rg_curl_close(&h->c);
	free(h->url);
	free(h->url_shown);
	free(h);
}

static int
http_open(const struct rg_report_settings *s, void **state, char *msg,
    size_t len)
{
	static const char *const headers[] = {
		"Content-Type: application/json", "Accept: application/json",
		NULL
	};
	struct http *h;

	*state = NULL;
	if (!rg_curl_url_ok(s->url)) {
		snprintf(msg, len, "url: an http:// or https:// URL is needed");
		return -EINVAL;
	}
	if (rg_curl_check(s, msg, len) < 0)
		return -EINVAL;
	if ((h = calloc(1, sizeof(*h))) == NULL)
		goto nomem;
	if ((h->url = strdup(s->url)) == NULL ||
	    (h->url_shown = rg_url_shown(s->url)) == NULL ||
	    rg_curl_open(&h->c, s, headers) < 0)
		goto nomem;
	*state = h;
	return 0;
nomem:
	http_close(h);
	snprintf(msg, len, "out of memory");
	return -ENOMEM;
}

static long
curl_errno(CURLcode c)
{
	/* An if chain: a switch would have to name all of libcurl's codes. */
	if (c == CURLE_OPERATION_TIMEDOUT)
		return -ETIMEDOUT;
	if (c == CURLE_COULDNT_CONNECT)
		return -ECONNREFUSED;
	if (c == CURLE_COULDNT_RESOLVE_HOST)
		return -EHOSTUNREACH;
	if (c == CURLE_OUT_OF_MEMORY)
		return -ENOMEM;
	if (c == CURLE_SSL_CACERT_BADFILE || c == CURLE_SSL_CERTPROBLEM ||
	    c == CURLE_PEER_FAILED_VERIFICATION)
		return -EPERM;
	return -EIO;
}

/* The answer on one line of printable characters. */
static void
answer_clean(struct answer *a)
{
	size_t i;

	for (i = 0; i < a->len; i++)
		if ((unsigned char)a->buf[i] < 0x20 ||
		    (unsigned char)a->buf[i] == 0x7f)
			a->buf[i] = ' ';
	while (a->len > 0 && a->buf[a->len - 1] == ' ')
		a->buf[--a->len] = '\0';
}

static long
http_deliver(void *state, const char *const *docs, const size_t *lens,
    size_t n, char *msg, size_t len)
{
	struct http *h = state;
	char *body, *p;
	struct answer a;
	size_t i, total = 2;
	long code = 0, rc;
	CURLcode c;

	if (n == 0)
		return 0;
	for (i = 0; i < n; i++)
		total += lens[i] + 1;
	if ((body = malloc(total)) == NULL) {
		snprintf(msg, len, "out of memory");
		return -ENOMEM;
	}
	p = body;
	*p++ = '[';
	for (i = 0; i < n; i++) {
		if (i > 0)
			*p++ = ',';
		memcpy(p, docs[i], lens[i]);
		p += lens[i];
	}
	*p++ = ']';

	if (rg_curl_get(&h->c) == NULL) {
		free(body);
		snprintf(msg, len, "out of memory");
		return -ENOMEM;
	}
	memset(&a, 0, sizeof(a));
	rg_curl_setup(&h->c, h->url, body, (size_t)(p - body),
	    (long)h->c.timeout_ms, answer_cb, &a);
	curl_easy_setopt(h->c.curl, CURLOPT_POST, 1L);
	c = rg_curl_perform(&h->c);
	free(body);
	if (c != CURLE_OK) {
		snprintf(msg, len, "POST %s: %s", h->url_shown,
		    rg_curl_error(&h->c, c));
		return curl_errno(c);
	}
	curl_easy_getinfo(h->c.curl, CURLINFO_RESPONSE_CODE, &code);
	if (code >= 200 && code <= 299) {
		snprintf(msg, len, "HTTP %ld from %s: %zu reports", code,
		    h->url_shown, n);
		return (long)n;
	}
	answer_clean(&a);
	snprintf(msg, len, "HTTP %ld from %s%s%s", code, h->url_shown,
	    a.len > 0 ? ": " : "", a.buf);
	rc = code == 401 || code == 403 ? -EACCES : code == 429 ? -EAGAIN :
	    -EIO;
	return rc;
}

static const struct rg_report_ops http_ops = {
	.kinds = RG_REPORT_TAKES_ALL,
	.open = http_open,
	.close = http_close,
	.deliver = http_deliver,
};

const struct rg_plugin rg_plugin = {
	.abi = RG_PLUGIN_ABI,
	.name = "http",
	.kind = RG_PLUGIN_REPORT,
	.load = rg_curl_load,
	.unload = rg_curl_unload,
	.report = &http_ops,
};
