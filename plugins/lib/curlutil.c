/*
 * curlutil.c -- the libcurl side of the reporters that speak HTTP: one
 * handle per reporter, kept between deliveries so that a receiver that
 * keeps connections alive is spoken to over one TLS session, and set up
 * for each request with the same limits: HTTP and HTTPS only, no
 * redirect, a time-out for the whole request.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "curlutil.h"

int
rg_curl_load(struct rg_plugin_ctx *ctx)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -EIO;
}

void
rg_curl_unload(struct rg_plugin_ctx *ctx)
{
	curl_global_cleanup();
}

int
rg_curl_url_ok(const char *url)
{
	return url != NULL && (strncmp(url, "https://", 8) == 0 ||
	    strncmp(url, "http://", 7) == 0);
}

int
rg_curl_check(const struct rg_report_settings *s, char *msg, size_t len)
{
	if ((s->client_cert_file == NULL) != (s->client_key_file == NULL)) {
		snprintf(msg, len, "client-cert-file and client-key-file go "
		    "together");
		return -EINVAL;
	}
	return 0;
}

int
rg_strdup_opt(const char *s, char **out)
{
	*out = NULL;
	if (s != NULL && (*out = strdup(s)) == NULL)
		return -1;
	return 0;
}

char *
rg_url_shown(const char *url)
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

int
rg_curl_open(struct rg_curl *c, const struct rg_report_settings *s,
    const char *const *headers)
{
	struct curl_slist *l;
	size_t i;

	c->timeout_ms = s->timeout_ms > 0 ? s->timeout_ms : 10000;
	if (rg_strdup_opt(s->ca_file, &c->ca_file) < 0 ||
	    rg_strdup_opt(s->client_cert_file, &c->cert_file) < 0 ||
	    rg_strdup_opt(s->client_key_file, &c->key_file) < 0 ||
	    rg_strdup_opt(s->proxy, &c->proxy) < 0)
		return -ENOMEM;
	if (s->token != NULL &&
	    asprintf(&c->auth, "Authorization: Bearer %s", s->token) < 0) {
		c->auth = NULL;
		return -ENOMEM;
	}
	for (i = 0; headers != NULL && headers[i] != NULL; i++) {
		if ((l = curl_slist_append(c->headers, headers[i])) == NULL)
			return -ENOMEM;
		c->headers = l;
	}
	/* No "Expect: 100-continue": one round trip less per request. */
	if ((l = curl_slist_append(c->headers, "Expect:")) == NULL)
		return -ENOMEM;
	c->headers = l;
	if (c->auth != NULL &&
	    (l = curl_slist_append(c->headers, c->auth)) == NULL)
		return -ENOMEM;
	return 0;
}

void
rg_curl_close(struct rg_curl *c)
{
	if (c->curl != NULL)
		curl_easy_cleanup(c->curl);
	curl_slist_free_all(c->headers);
	if (c->auth != NULL) {
		explicit_bzero(c->auth, strlen(c->auth));
		free(c->auth);
	}
	free(c->ca_file);
	free(c->cert_file);
	free(c->key_file);
	free(c->proxy);
	memset(c, 0, sizeof(*c));
}

CURL *
rg_curl_get(struct rg_curl *c)
{
	if (c->curl == NULL)
		c->curl = curl_easy_init();
	return c->curl;
}

void
rg_curl_setup(struct rg_curl *c, const char *url, const char *body,
    size_t len, long timeout_ms, curl_write_callback write_cb, void *arg)
{
	CURL *h = c->curl;

	c->err[0] = '\0';
	curl_easy_setopt(h, CURLOPT_URL, url);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(h, CURLOPT_PROTOCOLS,
	    (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, c->headers);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "resguard");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	/* Worker threads: no signals for the time-outs. */
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
	if (c->ca_file != NULL)
		curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file);
	/* "" is direct; a proxy named takes every request, whatever the
	 * environment's no_proxy says. */
	if (c->proxy != NULL)
		curl_easy_setopt(h, CURLOPT_PROXY, c->proxy);
	if (c->proxy != NULL && c->proxy[0] != '\0')
		curl_easy_setopt(h, CURLOPT_NOPROXY, "");
	if (c->cert_file != NULL) {
		curl_easy_setopt(h, CURLOPT_SSLCERT, c->cert_file);
		curl_easy_setopt(h, CURLOPT_SSLKEY, c->key_file);
	}
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, arg);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->err);
}

CURLcode
rg_curl_perform(struct rg_curl *c)
{
	CURLcode code;

	code = curl_easy_perform(c->curl);
	curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, NULL);
	curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, NULL);
	return code;
}

const char *
rg_curl_error(const struct rg_curl *c, CURLcode code)
{
	return c->err[0] != '\0' ? c->err : curl_easy_strerror(code);
}
