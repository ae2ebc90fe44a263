/*
 * curlutil.h -- what the reporters that speak HTTP through libcurl (http,
 * matrix) share: the settings they keep (TLS files, the bearer token, the
 * time-out), the handle kept between deliveries and set up the same way
 * for every request, and the words of a failed transfer.
 *
 * Compiled into each reporter that uses it (a plugin calls nothing in the
 * agent); the plugins export rg_plugin alone, so two reporters loaded
 * into one process never see each other's copy.
 */
#ifndef RG_CURLUTIL_H
#define RG_CURLUTIL_H

#include <stddef.h>

#include <curl/curl.h>

#include "../plugin.h"

/** A reporter's libcurl side. */
struct rg_curl {
	CURL *curl;			/**< made by the first rg_curl_get() */
	char *ca_file, *cert_file, *key_file;
	char *proxy;			/* "": none; NULL: the environment's */
	char *auth;			/**< "Authorization: Bearer ..." or
					     NULL */
	struct curl_slist *headers;	/**< of every request */
	unsigned timeout_ms;		/**< of one delivery */
	char err[CURL_ERROR_SIZE];	/**< libcurl's words on a failure */
};

/** Load hook: libcurl's global state.  0 or -EIO. */
int rg_curl_load(struct rg_plugin_ctx *ctx);

/** Unload hook. */
void rg_curl_unload(struct rg_plugin_ctx *ctx);

/** Whether URL is an http:// or https:// URL (NULL is not). */
int rg_curl_url_ok(const char *url);

/**
 * Check the TLS settings of S: a client certificate comes with its key.
 * 0, or -EINVAL with one line in MSG (LEN bytes).
 */
int rg_curl_check(const struct rg_report_settings *s, char *msg,
    size_t len);

/**
 * Fill C (zeroed by the caller) from settings S: copies of the TLS files,
 * the time-out (10 s when none), and the headers of every request:
 * HEADERS (NULL-terminated), no "Expect: 100-continue", and the bearer
 * token of S when it has one.  0 or -ENOMEM; rg_curl_close() frees what
 * was made either way.
 */
int rg_curl_open(struct rg_curl *c, const struct rg_report_settings *s,
    const char *const *headers);

/** Free what C holds (the token wiped first); C itself is the caller's. */
void rg_curl_close(struct rg_curl *c);

/** The handle, made at the first call; NULL when out of memory. */
CURL *rg_curl_get(struct rg_curl *c);

/**
 * Set the handle (made) up for one request to URL with body BODY (LEN
 * bytes), given up after TIMEOUT_MS: HTTP and HTTPS only, no redirect, no
 * signal, the TLS files and headers of C, the answer to WRITE_CB(..., ARG).
 * The caller says the method.
 */
void rg_curl_setup(struct rg_curl *c, const char *url, const char *body,
    size_t len, long timeout_ms, curl_write_callback write_cb, void *arg);

/** Run the request set up; the handle then forgets the body. */
CURLcode rg_curl_perform(struct rg_curl *c);

/** What went wrong in the transfer that gave CODE. */
const char *rg_curl_error(const struct rg_curl *c, CURLcode code);

/** URL without its user information, for messages; NULL: no memory. */
char *rg_url_shown(const char *url);

/** *OUT a copy of S, or NULL when S is NULL.  0, or -1: no memory. */
int rg_strdup_opt(const char *s, char **out);

#endif
