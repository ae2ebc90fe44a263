/*
 * util.h -- small helpers the parts of the agent share.
 */
#ifndef RG_UTIL_H
#define RG_UTIL_H

#include <stddef.h>

/** strdup(3) that takes NULL (giving NULL); *FAIL set when out of memory. */
char *rg_strdup_opt(const char *s, int *fail);

/**
 * The first line of FILE (a token, a password), without its line end,
 * into BUF (LEN bytes).  Returns 0, or a negative errno code with one line
 * in ERR: the file cannot be read, the line is empty or does not fit.
 * The bytes read are wiped before they are freed.
 */
int rg_read_secret(const char *file, char *buf, size_t len, char *err,
    size_t err_len);

/**
 * 1 when the host of URL (http://, https://, taxii+..., axfr://) is
 * loopback: localhost, 127.0.0.0/8 or ::1; else 0.
 */
int rg_url_loopback(const char *url);

/**
 * 1 when what is sent to URL through PROXY (a proxy URL, "" for none,
 * NULL for the environment's) stays on this host: URL is loopback, and so
 * is the proxy, if any.  (A loopback URL never goes through the
 * environment's proxy: see rg_proxy_for().)
 */
int rg_url_local(const char *url, const char *proxy);

/**
 * The proxy to give libcurl for URL when the setting is PROXY: PROXY
 * itself, but "" (direct) for a loopback URL when PROXY is NULL, so that
 * the environment's proxy never sees what goes to this host.
 */
const char *rg_proxy_for(const char *url, const char *proxy);

#endif
