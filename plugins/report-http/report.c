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
 * The curl handle is kept between deliveries, so a collector that keeps
 * connections alive is spoken to over one TLS session.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "../plugin.h"

#define ANSWER_KEEP	200	/* bytes of an error answer quoted */

struct http {
	char *url;
	char *url_shown;		/* without user:password@ */
	char *ca_file, *cert_file, *key_file;
	char *auth;			/* "Authorization: Bearer ..." */
	struct curl_slist *headers;
	unsigned timeout_ms;
	CURL *curl;
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

/* URL without the user information, for messages. */
static char *
url_shown(const char *url)
{
	const char *host = strstr(url, "://"), *at, *slash;
	char *s;

	if (host == NULL)
		return strdup(url);
	host += 3;
	slash = host + strcspn(host, "/?#");
	at = memchr(host, '@', (size_t)(slash - host));
	if (at == NULL)
		return strdup(url);
	if (asprintf(&s, "%.*s%s", (int)(host - url), url, at + 1) < 0)
		return NULL;
	return s;
}

static void
http_close(void *state)
{
	struct http *h = state;

	if (h == NULL)
		return;
	if (h->curl != NULL)
		curl_easy_cleanup(h->curl);
	curl_slist_free_all(h->headers);
	if (h->auth != NULL) {
		explicit_bzero(h->auth, strlen(h->auth));
		free(h->auth);
	}
	free(h->url);
	free(h->url_shown);
	free(h->ca_file);
	free(h->cert_file);
	free(h->key_file);
	free(h);
}

static int
dup_opt(const char *s, char **out)
{
	*out = NULL;
	if (s != NULL && (*out = strdup(s)) == NULL)
		return -1;
	return 0;
}

static int
http_open(const struct rg_report_settings *s, void **state, char *msg,
    size_t len)
{
	struct http *h;
	struct curl_slist *l;

	*state = NULL;
	if (s->url == NULL || (strncmp(s->url, "https://", 8) != 0 &&
	    strncmp(s->url, "http://", 7) != 0)) {
		snprintf(msg, len, "url: an http:// or https:// URL is needed");
		return -EINVAL;
	}
	if ((s->client_cert_file == NULL) != (s->client_key_file == NULL)) {
		snprintf(msg, len, "client-cert-file and client-key-file go "
		    "together");
		return -EINVAL;
	}
	if ((h = calloc(1, sizeof(*h))) == NULL)
		goto nomem;
	h->timeout_ms = s->timeout_ms > 0 ? s->timeout_ms : 10000;
	if (dup_opt(s->url, &h->url) < 0 ||
	    (h->url_shown = url_shown(s->url)) == NULL ||
	    dup_opt(s->ca_file, &h->ca_file) < 0 ||
	    dup_opt(s->client_cert_file, &h->cert_file) < 0 ||
	    dup_opt(s->client_key_file, &h->key_file) < 0)
		goto nomem;
	if (s->token != NULL &&
	    asprintf(&h->auth, "Authorization: Bearer %s", s->token) < 0) {
		h->auth = NULL;
		goto nomem;
	}
	/* No "Expect: 100-continue": one round trip less per batch. */
	if ((l = curl_slist_append(NULL, "Content-Type: application/json")) ==
	    NULL)
		goto nomem;
	h->headers = l;
	if ((l = curl_slist_append(h->headers, "Accept: application/json")) ==
	    NULL || (l = curl_slist_append(h->headers, "Expect:")) == NULL ||
	    (h->auth != NULL &&
	    (l = curl_slist_append(h->headers, h->auth)) == NULL))
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
	char err[CURL_ERROR_SIZE] = "", *body, *p;
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

	if (h->curl == NULL && (h->curl = curl_easy_init()) == NULL) {
		free(body);
		snprintf(msg, len, "out of memory");
		return -ENOMEM;
	}
	memset(&a, 0, sizeof(a));
	curl_easy_setopt(h->curl, CURLOPT_URL, h->url);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(h->curl, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(h->curl, CURLOPT_PROTOCOLS,
	    (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	curl_easy_setopt(h->curl, CURLOPT_POST, 1L);
	curl_easy_setopt(h->curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(h->curl, CURLOPT_POSTFIELDSIZE_LARGE,
	    (curl_off_t)(p - body));
	curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, h->headers);
	curl_easy_setopt(h->curl, CURLOPT_USERAGENT, "resguard");
	curl_easy_setopt(h->curl, CURLOPT_FOLLOWLOCATION, 0L);
	/* Worker threads: no signals for the time-outs. */
	curl_easy_setopt(h->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h->curl, CURLOPT_TIMEOUT_MS, (long)h->timeout_ms);
	curl_easy_setopt(h->curl, CURLOPT_CONNECTTIMEOUT_MS,
	    (long)h->timeout_ms);
	if (h->ca_file != NULL)
		curl_easy_setopt(h->curl, CURLOPT_CAINFO, h->ca_file);
	if (h->cert_file != NULL) {
		curl_easy_setopt(h->curl, CURLOPT_SSLCERT, h->cert_file);
		curl_easy_setopt(h->curl, CURLOPT_SSLKEY, h->key_file);
	}
	curl_easy_setopt(h->curl, CURLOPT_WRITEFUNCTION, answer_cb);
	curl_easy_setopt(h->curl, CURLOPT_WRITEDATA, &a);
	curl_easy_setopt(h->curl, CURLOPT_ERRORBUFFER, err);

	c = curl_easy_perform(h->curl);
	curl_easy_setopt(h->curl, CURLOPT_ERRORBUFFER, NULL);
	curl_easy_setopt(h->curl, CURLOPT_POSTFIELDS, NULL);
	free(body);
	if (c != CURLE_OK) {
		snprintf(msg, len, "POST %s: %s", h->url_shown,
		    err[0] != '\0' ? err : curl_easy_strerror(c));
		return curl_errno(c);
	}
	curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &code);
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

static int
http_load(struct rg_plugin_ctx *ctx)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -EIO;
}

static void
http_unload(struct rg_plugin_ctx *ctx)
{
	curl_global_cleanup();
}

static const struct rg_report_ops http_ops = {
	.open = http_open,
	.close = http_close,
	.deliver = http_deliver,
};

const struct rg_plugin rg_plugin = {
	.abi = RG_PLUGIN_ABI,
	.name = "http",
	.kind = RG_PLUGIN_REPORT,
	.load = http_load,
	.unload = http_unload,
	.report = &http_ops,
};
