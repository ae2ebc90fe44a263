/*
 * fetch.c -- getting a feed's document: a local file, one HTTP(S) GET
 * through libcurl, a TAXII 2.1 collection polled page by page and merged
 * into the previous bundle, or a MISP feed directory assembled from its
 * manifest and event files; with a hub key, the detached Ed25519 signature
 * of what was fetched is checked before anything is handed back.
 *
 * Everything here blocks: it runs in a worker thread.  One call holds one
 * curl easy handle, reused for all its requests, and one deadline and one
 * size budget for all of them.  A document is returned whole and checked,
 * or not at all.
 */
#include <sys/stat.h>
#include <ctype.h>
#include <errno.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "config.h"
#include "fetch.h"
#include "util.h"

#define FETCH_TIMEOUT_MS	60000	/* the request gives none */
#define FETCH_CONNECT_MS	10000
#define FETCH_MAX_BYTES		(512ULL * 1024 * 1024)
#define FETCH_FILE_TRIES	3
#define FETCH_REDIRECTS		3L
#define FETCH_HEADER_MAX	1024	/* longest validator kept */
#define FETCH_ERROR_BODY	65536	/* error replies: read, not kept */
#define SIG_MAX_BYTES		4096
#define SIG_LEN			64	/* Ed25519 */
#define SIG_B64_LEN		88
#define MISP_MAX_EVENTS		10000
#define TAXII_MAX_PAGES		1000
#define TAXII_MEDIA		"application/taxii+json;version=2.1"

struct buf {
	char *p;
	size_t len, cap;
};

/* One call of rg_fetch(). */
struct fetch {
	const struct rg_fetch_req *req;
	struct rg_fetch_res *res;
	CURL *curl;
	uint64_t deadline_ms;		/* monotonic */
	uint64_t max_bytes;
	uint64_t total;			/* fetched so far (max_bytes) */
	char curl_err[CURL_ERROR_SIZE];
};

/* One resource: where, what to send, and what came back. */
struct get {
	const char *url;
	const char *accept;		/* Accept header, or NULL */
	int conditional;		/* send the last fetch's validators */
	int auth_eacces;		/* 401 and 403 are -EACCES */
	int shared;			/* LIMIT: what the feed has left */
	uint64_t limit;
	/* results */
	struct buf body;
	long status;			/* HTTP status, 0 for a file */
	long hstatus;			/* status line being read */
	int too_big, no_mem;
	int cut;			/* an error reply's body, cut short */
	char *etag, *last_modified, *added_last;
	char *stamp;			/* file: size:mtime_ns:ino */
};

/* The objects of a STIX bundle being merged with TAXII pages. */
struct taxii_merge {
	json_t *bundle;
	json_t *objects;		/* the bundle's, borrowed */
	json_t *index;			/* id -> position in OBJECTS */
	uint64_t received;
	int changed;			/* an object added or replaced */
};

/* Set once when the agent stops: transfers in flight end. */
static atomic_int fetch_aborted;

static int
abort_cb(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
    curl_off_t ulnow)
{
	(void)arg;
	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	return atomic_load(&fetch_aborted) ? 1 : 0;
}

static int fail(struct fetch *, int, const char *, ...)
    __attribute__((format(printf, 3, 4)));

static int
fail(struct fetch *f, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(f->res->error, sizeof(f->res->error), fmt, ap);
	va_end(ap);
	return rc;
}

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int
has_prefix(const char *s, const char *prefix)
{
	return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

/* URL as shown in messages: no user name or password, no query. */
static void
url_show(const char *url, char *out, size_t len)
{
	const char *p, *host, *end, *at;
	size_t n;

	if ((p = strstr(url, "://")) == NULL) {
		snprintf(out, len, "%.*s", (int)strcspn(url, "?#"), url);
		return;
	}
	host = p + 3;
	end = host + strcspn(host, "/?#");
	at = NULL;
	for (p = host; p < end; p++)
		if (*p == '@')
			at = p;
	n = strcspn(at != NULL ? at + 1 : host, "?#");
	snprintf(out, len, "%.*s%.*s%s", (int)(host - url), url, (int)n,
	    at != NULL ? at + 1 : host,
	    (at != NULL ? at + 1 : host)[n] == '?' ? "?..." : "");
}

static char *
str_cat(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	char *s;

	if ((s = malloc(la + lb + 1)) == NULL)
		return NULL;
	memcpy(s, a, la);
	memcpy(s + la, b, lb + 1);
	return s;
}

/* Append to B, which never grows past LIMIT bytes (plus a NUL). */
static int
buf_add(struct buf *b, const void *p, size_t n, uint64_t limit)
{
	size_t cap;
	char *np;

	if (n > limit || b->len > limit - n)
		return -EFBIG;
	if (b->len + n + 1 > b->cap) {
		cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n + 1)
			cap *= 2;
		if (cap > limit + 1)
			cap = (size_t)limit + 1;
		if ((np = realloc(b->p, cap)) == NULL)
			return -ENOMEM;
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

static void
get_clear(struct get *g)
{
	free(g->body.p);
	free(g->etag);
	free(g->last_modified);
	free(g->added_last);
	free(g->stamp);
	memset(g, 0, sizeof(*g));
}

/* A header value safe to send back: printable, no line break. */
static int
header_safe(const char *v)
{
	if (v == NULL || *v == '\0' || strlen(v) > FETCH_HEADER_MAX)
		return 0;
	for (; *v != '\0'; v++)
		if ((unsigned char)*v < 0x20 || *v == 0x7f)
			return 0;
	return 1;
}

/* When LINE is header NAME, its value (trimmed) replaces *VAL. */
static void
header_take(const char *line, size_t len, const char *name, char **val)
{
	size_t nl = strlen(name), e;
	const char *v;
	char *s;

	if (len <= nl || line[nl] != ':' || strncasecmp(line, name, nl) != 0)
		return;
	v = line + nl + 1;
	len -= nl + 1;
	while (len > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		len--;
	}
	e = len;
	while (e > 0 && (v[e - 1] == '\r' || v[e - 1] == '\n' ||
	    v[e - 1] == ' ' || v[e - 1] == '\t'))
		e--;
	if (e == 0 || e > FETCH_HEADER_MAX || (s = strndup(v, e)) == NULL)
		return;
	if (!header_safe(s)) {
		free(s);
		return;
	}
	free(*val);
	*val = s;
}

static size_t
header_cb(char *line, size_t size, size_t n, void *arg)
{
	struct get *g = arg;
	size_t len = size * n, i;
	char *cl = NULL, *end;
	unsigned long long v;

	if (len > 5 && strncmp(line, "HTTP/", 5) == 0) {
		/* A new response (after a redirect or a 100): its own. */
		free(g->etag);
		free(g->last_modified);
		free(g->added_last);
		g->etag = g->last_modified = g->added_last = NULL;
		for (i = 5; i < len && line[i] != ' '; i++)
			;
		g->hstatus = i < len ? strtol(line + i, NULL, 10) : 0;
		return len;
	}
	header_take(line, len, "ETag", &g->etag);
	header_take(line, len, "Last-Modified", &g->last_modified);
	header_take(line, len, "X-TAXII-Date-Added-Last", &g->added_last);
	/* Refuse a body announced too big before any of it comes. */
	header_take(line, len, "Content-Length", &cl);
	if (cl != NULL && g->hstatus == 200) {
		errno = 0;
		v = strtoull(cl, &end, 10);
		if (errno == 0 && *end == '\0' && v > g->limit) {
			g->too_big = 1;
			free(cl);
			return 0;
		}
	}
	free(cl);
	return len;
}

static size_t
write_cb(char *p, size_t size, size_t n, void *arg)
{
	struct get *g = arg;
	size_t len = size * n;
	int rc;

	if (g->hstatus != 200) {
		/* Read what an error reply says, up to a bound; keep none. */
		g->body.len += len;
		if (g->body.len <= FETCH_ERROR_BODY)
			return len;
		g->cut = 1;
		return 0;
	}
	if ((rc = buf_add(&g->body, p, len, g->limit)) < 0) {
		if (rc == -EFBIG)
			g->too_big = 1;
		else
			g->no_mem = 1;
		return 0;
	}
	return len;
}

#define SETOPT(c, opt, val) do {					\
	if (curl_easy_setopt((c), (opt), (val)) != CURLE_OK)		\
		goto bad;						\
} while (0)

/* The easy handle of this call, with what is the same for every request. */
static int
curl_prepare(struct fetch *f)
{
	const struct rg_fetch_req *r = f->req;
	char pin[256];
	CURL *c;

	if ((c = curl_easy_init()) == NULL)
		return fail(f, -ENOMEM, "cannot start a transfer: out of "
		    "memory");
	f->curl = c;
	SETOPT(c, CURLOPT_NOSIGNAL, 1L);
	/* The agent stopping ends a transfer at once, not at its time-out. */
	SETOPT(c, CURLOPT_NOPROGRESS, 0L);
	SETOPT(c, CURLOPT_XFERINFOFUNCTION, abort_cb);
	SETOPT(c, CURLOPT_ERRORBUFFER, f->curl_err);
#if LIBCURL_VERSION_NUM >= 0x075500
	SETOPT(c, CURLOPT_PROTOCOLS_STR, "http,https");
	SETOPT(c, CURLOPT_REDIR_PROTOCOLS_STR, "https");
#else
	SETOPT(c, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
	SETOPT(c, CURLOPT_REDIR_PROTOCOLS, (long)CURLPROTO_HTTPS);
#endif
	SETOPT(c, CURLOPT_FOLLOWLOCATION, 1L);
	SETOPT(c, CURLOPT_MAXREDIRS, FETCH_REDIRECTS);
	SETOPT(c, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	SETOPT(c, CURLOPT_USERAGENT, PACKAGE_NAME "/" PACKAGE_VERSION);
	SETOPT(c, CURLOPT_ACCEPT_ENCODING, "");
	SETOPT(c, CURLOPT_HEADERFUNCTION, header_cb);
	SETOPT(c, CURLOPT_WRITEFUNCTION, write_cb);
	if (r->ca_file != NULL)
		SETOPT(c, CURLOPT_CAINFO, r->ca_file);
	/* "" is no proxy at all, whatever the environment says; a proxy
	 * named takes every request, whatever no_proxy says. */
	if (r->proxy != NULL)
		SETOPT(c, CURLOPT_PROXY, r->proxy);
	if (r->proxy != NULL && r->proxy[0] != '\0')
		SETOPT(c, CURLOPT_NOPROXY, "");
	if (r->client_cert_file != NULL) {
		SETOPT(c, CURLOPT_SSLCERT, r->client_cert_file);
		SETOPT(c, CURLOPT_SSLCERTTYPE, "PEM");
	}
	if (r->client_key_file != NULL) {
		SETOPT(c, CURLOPT_SSLKEY, r->client_key_file);
		SETOPT(c, CURLOPT_SSLKEYTYPE, "PEM");
	}
	if (r->spki_pin != NULL) {
		if (snprintf(pin, sizeof(pin), "sha256//%s", r->spki_pin) >=
		    (int)sizeof(pin))
			return fail(f, -EINVAL, "SPKI pin too long");
		SETOPT(c, CURLOPT_PINNEDPUBLICKEY, pin);
	}
	/* Only one method each, so curl sends it with the first request. */
	if (r->bearer_token != NULL) {
		SETOPT(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BEARER);
		SETOPT(c, CURLOPT_XOAUTH2_BEARER, r->bearer_token);
	} else if (r->username != NULL) {
		SETOPT(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		SETOPT(c, CURLOPT_USERNAME, r->username);
		SETOPT(c, CURLOPT_PASSWORD, r->password != NULL ?
		    r->password : "");
	}
	return 0;
bad:
	return fail(f, -EINVAL, "cannot set up a transfer: %s",
	    f->curl_err[0] ? f->curl_err : "an option this libcurl refuses");
}

static int
too_big(struct fetch *f, struct get *g, const char *show)
{
	if (g->shared)
		return fail(f, -EFBIG, "%s: the feed grows past its limit of "
		    "%llu bytes here", show, (unsigned long long)f->max_bytes);
	return fail(f, -EFBIG, "%s: more than %llu bytes", show,
	    (unsigned long long)g->limit);
}

static int
get_http(struct fetch *f, struct get *g)
{
	const struct rg_fetch_req *r = f->req;
	struct curl_slist *hdr = NULL, *h;
	char show[256], line[FETCH_HEADER_MAX + 32];
	uint64_t now = now_ms(), left;
	CURLcode cc;
	int rc;

	url_show(g->url, show, sizeof(show));
	if (now >= f->deadline_ms)
		return fail(f, -ETIMEDOUT, "%s: timed out (the fetch's time "
		    "is used up)", show);
	left = f->deadline_ms - now;
	if (f->curl == NULL && (rc = curl_prepare(f)) < 0)
		return rc;
	if (g->accept != NULL) {
		snprintf(line, sizeof(line), "Accept: %s", g->accept);
		if ((h = curl_slist_append(hdr, line)) == NULL)
			goto nomem;
		hdr = h;
	}
	if (g->conditional && header_safe(r->etag)) {
		snprintf(line, sizeof(line), "If-None-Match: %s", r->etag);
		if ((h = curl_slist_append(hdr, line)) == NULL)
			goto nomem;
		hdr = h;
	}
	if (g->conditional && header_safe(r->last_modified)) {
		snprintf(line, sizeof(line), "If-Modified-Since: %s",
		    r->last_modified);
		if ((h = curl_slist_append(hdr, line)) == NULL)
			goto nomem;
		hdr = h;
	}
	f->curl_err[0] = '\0';
	if (curl_easy_setopt(f->curl, CURLOPT_URL, g->url) != CURLE_OK) {
		rc = fail(f, -EINVAL, "%s: not a URL libcurl takes", show);
		goto out;
	}
	if (curl_easy_setopt(f->curl, CURLOPT_HTTPHEADER, hdr) != CURLE_OK ||
	    curl_easy_setopt(f->curl, CURLOPT_TIMEOUT_MS, (long)left) !=
	    CURLE_OK || curl_easy_setopt(f->curl, CURLOPT_CONNECTTIMEOUT_MS,
	    (long)(left < FETCH_CONNECT_MS ? left : FETCH_CONNECT_MS)) !=
	    CURLE_OK || curl_easy_setopt(f->curl, CURLOPT_WRITEDATA, g) !=
	    CURLE_OK || curl_easy_setopt(f->curl, CURLOPT_HEADERDATA, g) !=
	    CURLE_OK) {
		rc = fail(f, -EINVAL, "%s: cannot set up the transfer", show);
		goto out;
	}
	cc = curl_easy_perform(f->curl);
	if (curl_easy_getinfo(f->curl, CURLINFO_RESPONSE_CODE, &g->status) !=
	    CURLE_OK)
		g->status = 0;
	if (g->status != 0)
		f->res->http_status = g->status;
	if (g->cut && cc == CURLE_WRITE_ERROR)
		cc = CURLE_OK;	/* the status says what went wrong */
	if (g->too_big)
		rc = too_big(f, g, show);
	else if (g->no_mem)
		rc = fail(f, -ENOMEM, "%s: out of memory", show);
	else if (cc == CURLE_ABORTED_BY_CALLBACK)
		rc = fail(f, -ECANCELED, "%s: cancelled: the agent is stopping",
		    show);
	else if (cc == CURLE_OPERATION_TIMEDOUT)
		rc = fail(f, -ETIMEDOUT, "%s: timed out (%s)", show,
		    f->curl_err[0] ? f->curl_err : curl_easy_strerror(cc));
	else if (cc != CURLE_OK)
		rc = fail(f, -EIO, "%s: %s%s", show,
		    f->curl_err[0] ? f->curl_err : curl_easy_strerror(cc),
		    cc == CURLE_UNSUPPORTED_PROTOCOL ?
		    " (redirects are followed to https only)" : "");
	else if (g->status == 200) {
		if (g->body.p == NULL &&
		    (g->body.p = calloc(1, 1)) == NULL)
			goto nomem;
		rc = 0;
	} else if (g->status == 304 && g->conditional)
		rc = RG_FETCH_NOT_MODIFIED;
	else if ((g->status == 401 || g->status == 403) && g->auth_eacces)
		rc = fail(f, -EACCES, "HTTP %ld from %s: access refused "
		    "(check the token or the credentials)", g->status, show);
	else
		rc = fail(f, -EIO, "HTTP %ld from %s", g->status, show);
	if (rc != 0 && g->status != 200) {
		/* What an error reply said is not a document. */
		free(g->body.p);
		memset(&g->body, 0, sizeof(g->body));
	}
	goto out;
nomem:
	rc = fail(f, -ENOMEM, "%s: out of memory", show);
out:
	if (f->curl != NULL)
		curl_easy_setopt(f->curl, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(hdr);
	return rc;
}

static void
file_stamp(const struct stat *st, char *out, size_t len)
{
	snprintf(out, len, "%lld:%lld:%llu", (long long)st->st_size,
	    (long long)st->st_mtim.tv_sec * 1000000000LL +
	    st->st_mtim.tv_nsec, (unsigned long long)st->st_ino);
}

/* Read the file whole; a file that changes while read is read again. */
static int
get_file(struct fetch *f, struct get *g)
{
	const char *path = g->url + 7;
	char before[96], after[96];
	struct stat st;
	size_t off;
	ssize_t n = 0;
	int fd, tries, rc;

	if (*path != '/')
		return fail(f, -EINVAL, "%s: only local files (file:///path)",
		    g->url);
	for (tries = 0; tries < FETCH_FILE_TRIES; tries++) {
		if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK |
		    O_NOCTTY)) < 0) {
			rc = -errno;
			return fail(f, rc, "cannot open %s: %s", path,
			    strerror(-rc));
		}
		if (fstat(fd, &st) < 0) {
			rc = -errno;
			close(fd);
			return fail(f, rc, "%s: %s", path, strerror(-rc));
		}
		if (!S_ISREG(st.st_mode)) {
			close(fd);
			return fail(f, -EINVAL, "%s: not a regular file", path);
		}
		file_stamp(&st, before, sizeof(before));
		if (g->conditional && f->req->file_stamp != NULL &&
		    strcmp(before, f->req->file_stamp) == 0) {
			close(fd);
			if ((g->stamp = strdup(before)) == NULL)
				return fail(f, -ENOMEM, "out of memory");
			return RG_FETCH_NOT_MODIFIED;
		}
		if ((uint64_t)st.st_size > g->limit) {
			close(fd);
			return too_big(f, g, path);
		}
		free(g->body.p);
		memset(&g->body, 0, sizeof(g->body));
		if ((g->body.p = malloc((size_t)st.st_size + 1)) == NULL) {
			close(fd);
			return fail(f, -ENOMEM, "%s: out of memory", path);
		}
		off = 0;
		while (off < (size_t)st.st_size) {
			n = read(fd, g->body.p + off, (size_t)st.st_size - off);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			off += (size_t)n;
		}
		if (n < 0) {
			rc = -errno;
			close(fd);
			return fail(f, rc, "cannot read %s: %s", path,
			    strerror(-rc));
		}
		rc = fstat(fd, &st);
		close(fd);
		if (rc < 0)
			continue;
		file_stamp(&st, after, sizeof(after));
		if (off == (size_t)st.st_size && strcmp(before, after) == 0) {
			g->body.p[off] = '\0';
			g->body.len = off;
			if ((g->stamp = strdup(after)) == NULL)
				return fail(f, -ENOMEM, "out of memory");
			return 0;
		}
	}
	return fail(f, -EAGAIN, "%s: changed while read, %d times in a row",
	    path, FETCH_FILE_TRIES);
}

/* Fetch G->url; 0 with the body, RG_FETCH_NOT_MODIFIED, or an error. */
static int
get(struct fetch *f, struct get *g)
{
	char show[256];

	if (has_prefix(g->url, "file://"))
		return get_file(f, g);
	if (has_prefix(g->url, "https://") || has_prefix(g->url, "http://"))
		return get_http(f, g);
	url_show(g->url, show, sizeof(show));
	return fail(f, -EPROTONOSUPPORT, "%s: not a scheme resguard fetches "
	    "(file, http, https, taxii+https)", show);
}

/* Signature text or bytes to the 64 raw bytes. */
static int
sig_decode(const char *sig, size_t len, unsigned char *out)
{
	unsigned char text[SIG_B64_LEN + 1], raw[SIG_B64_LEN], check[
	    SIG_B64_LEN + 1];
	size_t n = 0, i;

	if (len == SIG_LEN) {
		memcpy(out, sig, SIG_LEN);
		return 0;
	}
	for (i = 0; i < len; i++) {
		if (isspace((unsigned char)sig[i]))
			continue;
		if (n == SIG_B64_LEN)
			return -EINVAL;
		text[n++] = (unsigned char)sig[i];
	}
	if (n != SIG_B64_LEN || text[n - 2] != '=' || text[n - 1] != '=')
		return -EINVAL;
	for (i = 0; i < n - 2; i++)
		if (!isalnum(text[i]) && text[i] != '+' && text[i] != '/')
			return -EINVAL;
	text[n] = '\0';
	if (EVP_DecodeBlock(raw, text, (int)n) != SIG_LEN + 2)
		return -EINVAL;
	/* Only the one text that encodes these bytes. */
	if (EVP_EncodeBlock(check, raw, SIG_LEN) != SIG_B64_LEN ||
	    memcmp(check, text, SIG_B64_LEN) != 0)
		return -EINVAL;
	memcpy(out, raw, SIG_LEN);
	return 0;
}

int
rg_sig_verify(const char *key_file, const char *data, size_t len,
    const char *sig, size_t sig_len, char *err, size_t err_len)
{
	unsigned char raw[SIG_LEN];
	EVP_MD_CTX *ctx = NULL;
	EVP_PKEY *pkey = NULL;
	BIO *bio = NULL;
	char msg[384];
	int rc;

	msg[0] = '\0';
	if (sig_decode(sig, sig_len, raw) < 0) {
		rc = -EINVAL;
		snprintf(msg, sizeof(msg), "the signature is neither %d bytes "
		    "nor their base64 text (%zu bytes)", SIG_LEN, sig_len);
		goto out;
	}
	errno = 0;
	if ((bio = BIO_new_file(key_file, "r")) == NULL) {
		rc = errno ? -errno : -ENOENT;
		snprintf(msg, sizeof(msg), "cannot open %s: %s", key_file,
		    strerror(-rc));
		goto out;
	}
	if ((pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL)) == NULL) {
		rc = -EINVAL;
		snprintf(msg, sizeof(msg), "%s: no PEM public key in it",
		    key_file);
		goto out;
	}
	if (!EVP_PKEY_is_a(pkey, "ED25519")) {
		rc = -EINVAL;
		snprintf(msg, sizeof(msg), "%s: the key is %s, not Ed25519",
		    key_file, EVP_PKEY_get0_type_name(pkey) != NULL ?
		    EVP_PKEY_get0_type_name(pkey) : "different");
		goto out;
	}
	if ((ctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pkey) != 1) {
		rc = -ENOMEM;
		snprintf(msg, sizeof(msg), "cannot start checking: out of "
		    "memory");
		goto out;
	}
	if (EVP_DigestVerify(ctx, raw, SIG_LEN, (const unsigned char *)data,
	    len) == 1)
		rc = 0;
	else {
		rc = -EBADMSG;
		snprintf(msg, sizeof(msg), "the signature does not verify "
		    "with %s", key_file);
	}
out:
	if (err != NULL && err_len > 0)
		snprintf(err, err_len, "%s", msg);
	/* Leave nothing on this thread's OpenSSL error queue. */
	ERR_clear_error();
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(pkey);
	BIO_free(bio);
	return rc;
}

/* Fetch the detached signature at SIG_URL and check DATA with it. */
static int
sig_check(struct fetch *f, const char *sig_url, const char *data, size_t len)
{
	struct get s;
	char show[256], err[384];
	int rc;

	memset(&s, 0, sizeof(s));
	s.url = sig_url;
	s.limit = SIG_MAX_BYTES;
	url_show(sig_url, show, sizeof(show));
	if ((rc = get(f, &s)) == -ENOENT || (rc < 0 && s.status == 404))
		rc = fail(f, -EBADMSG, "no signature at %s", show);
	else if (rc == 0 &&
	    (rc = rg_sig_verify(f->req->hub_key_file, data, len, s.body.p,
	    s.body.len, err, sizeof(err))) < 0)
		rc = fail(f, rc, "%s: %s", show, err);
	get_clear(&s);
	return rc;
}

/* The signature of the document at URL: SIGNATURE_URL or URL.sig. */
static int
sig_check_doc(struct fetch *f, const char *url, const char *data, size_t len)
{
	char *sig_url;
	int rc;

	if (f->req->signature_url != NULL)
		return sig_check(f, f->req->signature_url, data, len);
	if ((sig_url = str_cat(url, ".sig")) == NULL)
		return fail(f, -ENOMEM, "out of memory");
	rc = sig_check(f, sig_url, data, len);
	free(sig_url);
	return rc;
}

/* What to keep from G (validators), for a new or an unchanged document. */
static int
keep_validators(struct fetch *f, struct get *g, int not_modified)
{
	const struct rg_fetch_req *r = f->req;
	struct rg_fetch_res *res = f->res;
	int err = 0;

	res->etag = g->etag;
	res->last_modified = g->last_modified;
	res->file_stamp = g->stamp;
	g->etag = g->last_modified = g->stamp = NULL;
	/* A 304 need not repeat them: those sent still hold. */
	if (not_modified && res->etag == NULL)
		res->etag = rg_strdup_opt(r->etag, &err);
	if (not_modified && res->last_modified == NULL)
		res->last_modified = rg_strdup_opt(r->last_modified, &err);
	return err ? fail(f, -ENOMEM, "out of memory") : 0;
}

/* One document: a file or one HTTP(S) GET. */
static int
fetch_doc(struct fetch *f)
{
	struct get g;
	int rc;

	memset(&g, 0, sizeof(g));
	g.url = f->req->url;
	g.conditional = 1;
	g.limit = f->max_bytes;
	if ((rc = get(f, &g)) == RG_FETCH_NOT_MODIFIED) {
		rc = keep_validators(f, &g, 1);
		rc = rc < 0 ? rc : RG_FETCH_NOT_MODIFIED;
		goto out;
	}
	if (rc < 0)
		goto out;
	if (f->req->hub_key_file != NULL &&
	    (rc = sig_check_doc(f, f->req->url, g.body.p, g.body.len)) < 0)
		goto out;
	if ((rc = keep_validators(f, &g, 0)) < 0)
		goto out;
	f->res->data = g.body.p;
	f->res->len = g.body.len;
	g.body.p = NULL;
	rc = RG_FETCH_NEW;
out:
	get_clear(&g);
	return rc;
}

/* 8-4-4-4-12 hex digits: nothing else may name an event file. */
static int
is_uuid(const char *s)
{
	size_t i;

	for (i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return 0;
		} else if (!isxdigit((unsigned char)s[i]))
			return 0;
	}
	return s[36] == '\0';
}

static int
key_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Fetch one event file of a MISP directory, checked, into EVENTS. */
static int
misp_event(struct fetch *f, const char *dir, const char *uuid, json_t *events)
{
	json_error_t jerr;
	json_t *ev = NULL, *e, *id;
	char *url = NULL, name[64], show[256];
	struct get g;
	int rc;

	memset(&g, 0, sizeof(g));
	snprintf(name, sizeof(name), "%s.json", uuid);
	if ((url = str_cat(dir, name)) == NULL) {
		rc = fail(f, -ENOMEM, "out of memory");
		goto out;
	}
	g.url = url;
	g.shared = 1;
	g.limit = f->max_bytes - f->total;
	if ((rc = get(f, &g)) < 0)
		goto out;
	f->total += g.body.len;
	if (f->req->hub_key_file != NULL &&
	    (rc = sig_check_doc(f, url, g.body.p, g.body.len)) < 0)
		goto out;
	url_show(url, show, sizeof(show));
	if ((ev = json_loadb(g.body.p, g.body.len, JSON_REJECT_DUPLICATES,
	    &jerr)) == NULL) {
		rc = fail(f, -EBADMSG, "%s: line %d: %s", show, jerr.line,
		    jerr.text);
		goto out;
	}
	if (!json_is_object(ev) || !json_is_object(e = json_object_get(ev,
	    "Event"))) {
		rc = fail(f, -EBADMSG, "%s: not a MISP event ({\"Event\": "
		    "{...}})", show);
		goto out;
	}
	/* An event file must be the event the manifest names. */
	if ((id = json_object_get(e, "uuid")) != NULL &&
	    (!json_is_string(id) || strcasecmp(json_string_value(id),
	    uuid) != 0)) {
		rc = fail(f, -EBADMSG, "%s: the event inside has another "
		    "uuid", show);
		goto out;
	}
	if (json_array_append_new(events, ev) < 0) {
		ev = NULL;
		rc = fail(f, -ENOMEM, "out of memory");
		goto out;
	}
	ev = NULL;
	rc = 0;
out:
	json_decref(ev);
	get_clear(&g);
	free(url);
	return rc;
}

/* A MISP feed directory: the manifest, then each event it lists. */
static int
fetch_misp(struct fetch *f)
{
	json_error_t jerr;
	json_t *man = NULL, *events = NULL, *v;
	const char *key, **keys = NULL;
	char *man_url, show[256], *doc = NULL;
	size_t n = 0, i;
	struct get g;
	int rc;

	memset(&g, 0, sizeof(g));
	if ((man_url = str_cat(f->req->url, "manifest.json")) == NULL)
		return fail(f, -ENOMEM, "out of memory");
	url_show(man_url, show, sizeof(show));
	g.url = man_url;
	g.conditional = 1;
	g.limit = f->max_bytes;
	if ((rc = get(f, &g)) == RG_FETCH_NOT_MODIFIED) {
		rc = keep_validators(f, &g, 1);
		rc = rc < 0 ? rc : RG_FETCH_NOT_MODIFIED;
		goto out;
	}
	if (rc < 0)
		goto out;
	f->total += g.body.len;
	if (f->req->hub_key_file != NULL &&
	    (rc = sig_check_doc(f, man_url, g.body.p, g.body.len)) < 0)
		goto out;
	if ((man = json_loadb(g.body.p, g.body.len, JSON_REJECT_DUPLICATES,
	    &jerr)) == NULL) {
		rc = fail(f, -EBADMSG, "%s: line %d: %s", show, jerr.line,
		    jerr.text);
		goto out;
	}
	if (!json_is_object(man)) {
		rc = fail(f, -EBADMSG, "%s: not a MISP manifest (an object "
		    "of event UUIDs)", show);
		goto out;
	}
	if (json_object_size(man) > MISP_MAX_EVENTS) {
		rc = fail(f, -EFBIG, "%s: %zu events, more than %d", show,
		    json_object_size(man), MISP_MAX_EVENTS);
		goto out;
	}
	if ((keys = calloc(json_object_size(man) + 1, sizeof(*keys))) ==
	    NULL) {
		rc = fail(f, -ENOMEM, "out of memory");
		goto out;
	}
	json_object_foreach(man, key, v) {
		if (!is_uuid(key)) {
			rc = fail(f, -EBADMSG, "%s: \"%.64s\" is not an event "
			    "UUID", show, key);
			goto out;
		}
		keys[n++] = key;
	}
	qsort(keys, n, sizeof(*keys), key_cmp);
	if ((events = json_array()) == NULL) {
		rc = fail(f, -ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < n; i++)
		if ((rc = misp_event(f, f->req->url, keys[i], events)) < 0)
			goto out;
	if ((doc = json_dumps(events, JSON_COMPACT)) == NULL) {
		rc = fail(f, -ENOMEM, "out of memory");
		goto out;
	}
	if (strlen(doc) > f->max_bytes) {
		rc = fail(f, -EFBIG, "%s: the feed is more than %llu bytes",
		    show, (unsigned long long)f->max_bytes);
		goto out;
	}
	if ((rc = keep_validators(f, &g, 0)) < 0)
		goto out;
	f->res->len = strlen(doc);
	f->res->data = doc;
	doc = NULL;
	rc = RG_FETCH_NEW;
out:
	free(doc);
	free(keys);
	json_decref(events);
	json_decref(man);
	get_clear(&g);
	free(man_url);
	return rc;
}

/* Days from 1970-01-01 to Y-M-D (proleptic Gregorian). */
static int64_t
days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int
digits(const char *s, int n)
{
	int v = 0, i;

	for (i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

/*
 * RFC 3339 time S to seconds since the epoch and a fraction in units of
 * 1e-18 s, so that times of different precisions and offsets compare
 * right.  -1 when S is not one.
 */
static int
rfc3339(const char *s, int64_t *sec, uint64_t *frac)
{
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31,
	    30, 31 };
	int y, mo, d, h, mi, se, oh = 0, om = 0, sign = 0, n;
	uint64_t fr = 0, scale = 100000000000000000ULL;

	if (strlen(s) < 20 || s[4] != '-' || s[7] != '-' ||
	    (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || s[13] != ':' ||
	    s[16] != ':')
		return -1;
	if ((y = digits(s, 4)) < 0 || (mo = digits(s + 5, 2)) < 1 ||
	    mo > 12 || (d = digits(s + 8, 2)) < 1 || d > mdays[mo - 1] ||
	    (h = digits(s + 11, 2)) < 0 || h > 23 ||
	    (mi = digits(s + 14, 2)) < 0 || mi > 59 ||
	    (se = digits(s + 17, 2)) < 0 || se > 60)
		return -1;
	if (mo == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 ||
	    y % 400 == 0)))
		return -1;
	s += 19;
	if (*s == '.') {
		s++;
		for (n = 0; isdigit((unsigned char)*s); s++, n++)
			if (scale > 0) {
				fr += (uint64_t)(*s - '0') * scale;
				scale /= 10;
			}
		if (n == 0)
			return -1;
	}
	if (*s == 'Z' || *s == 'z')
		s++;
	else if (*s == '+' || *s == '-') {
		sign = *s == '-' ? -1 : 1;
		if (strlen(s) != 6 || s[3] != ':' ||
		    (oh = digits(s + 1, 2)) < 0 || oh > 23 ||
		    (om = digits(s + 4, 2)) < 0 || om > 59)
			return -1;
		s += 6;
	} else
		return -1;
	if (*s != '\0')
		return -1;
	*sec = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se -
	    sign * (oh * 3600 + om * 60);
	*frac = fr;
	return 0;
}

/* Order of the "modified" of A and B; a missing or bad one is oldest. */
static int
modified_cmp(json_t *a, json_t *b)
{
	const char *sa = json_string_value(json_object_get(a, "modified"));
	const char *sb = json_string_value(json_object_get(b, "modified"));
	int64_t ta = 0, tb = 0;
	uint64_t fa = 0, fb = 0;
	int oka, okb;

	oka = sa != NULL && rfc3339(sa, &ta, &fa) == 0;
	okb = sb != NULL && rfc3339(sb, &tb, &fb) == 0;
	if (!oka || !okb)
		return oka - okb;
	if (ta != tb)
		return ta < tb ? -1 : 1;
	return fa < fb ? -1 : fa > fb;
}

static void
taxii_merge_free(struct taxii_merge *m)
{
	json_decref(m->bundle);
	json_decref(m->index);
	memset(m, 0, sizeof(*m));
}

/* A new bundle id: "bundle--" and a random (version 4) UUID. */
static int
bundle_id(char *out, size_t len)
{
	unsigned char r[16];

	if (RAND_bytes(r, sizeof(r)) != 1)
		return -EIO;
	r[6] = (unsigned char)((r[6] & 0x0f) | 0x40);
	r[8] = (unsigned char)((r[8] & 0x3f) | 0x80);
	snprintf(out, len, "bundle--%02x%02x%02x%02x-%02x%02x-%02x%02x-"
	    "%02x%02x-%02x%02x%02x%02x%02x%02x", r[0], r[1], r[2], r[3], r[4],
	    r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13], r[14],
	    r[15]);
	return 0;
}

/*
 * Start from the bundle OLD (OLD_LEN bytes), or an empty one when OLD is
 * NULL or not a bundle of objects with ids; 1 when OLD was used, 0 when
 * not, a negative errno code when out of memory.
 */
static int
taxii_merge_init(struct taxii_merge *m, const char *old, size_t old_len)
{
	json_t *b = NULL, *o, *objs;
	const char *id;
	char bid[64];
	size_t i;

	memset(m, 0, sizeof(*m));
	if ((m->index = json_object()) == NULL)
		return -ENOMEM;
	if (old != NULL && old_len > 0 &&
	    (b = json_loadb(old, old_len, JSON_REJECT_DUPLICATES, NULL)) !=
	    NULL) {
		objs = json_object_get(b, "objects");
		if (!json_is_array(objs))
			goto unusable;
		json_array_foreach(objs, i, o) {
			if ((id = json_string_value(json_object_get(o,
			    "id"))) == NULL || json_object_get(m->index,
			    id) != NULL)
				goto unusable;
			if (json_object_set_new(m->index, id,
			    json_integer((json_int_t)i)) < 0)
				goto nomem;
		}
		m->bundle = b;
		m->objects = objs;
		return 1;
	}
	goto fresh;
unusable:
	json_decref(b);
	json_object_clear(m->index);
fresh:
	if (bundle_id(bid, sizeof(bid)) < 0 ||
	    (m->bundle = json_pack("{s:s, s:s, s:[]}", "type", "bundle",
	    "id", bid, "objects")) == NULL) {
		taxii_merge_free(m);
		return -ENOMEM;
	}
	m->objects = json_object_get(m->bundle, "objects");
	return 0;
nomem:
	json_decref(b);
	taxii_merge_free(m);
	return -ENOMEM;
}

/*
 * Merge one TAXII envelope (PAGE, LEN bytes) into M: an object whose id is
 * new is added; one whose id is known replaces the one kept when its
 * "modified" is not older.  *MORE and *NEXT (malloc'ed, or NULL) say
 * whether and how to ask for the next page.  -EBADMSG with ERR when PAGE
 * is not an envelope.
 */
static int
taxii_merge_page(struct taxii_merge *m, const char *page, size_t len,
    int *more, char **next, char *err, size_t err_len)
{
	json_error_t jerr;
	json_t *env, *objs, *o, *v, *pos, *old;
	const char *id;
	size_t i, at;
	int rc = -EBADMSG;

	*more = 0;
	*next = NULL;
	if ((env = json_loadb(page, len, JSON_REJECT_DUPLICATES, &jerr)) ==
	    NULL) {
		snprintf(err, err_len, "not JSON: line %d: %s", jerr.line,
		    jerr.text);
		return -EBADMSG;
	}
	if (!json_is_object(env)) {
		snprintf(err, err_len, "not a TAXII envelope (a JSON object)");
		goto out;
	}
	if ((v = json_object_get(env, "more")) != NULL) {
		if (!json_is_boolean(v)) {
			snprintf(err, err_len, "\"more\" is not true or false");
			goto out;
		}
		*more = json_is_true(v);
	}
	if ((v = json_object_get(env, "next")) != NULL && !json_is_null(v)) {
		if (!json_is_string(v) || json_string_length(v) == 0 ||
		    json_string_length(v) > FETCH_HEADER_MAX) {
			snprintf(err, err_len, "\"next\" is not a string");
			goto out;
		}
		if ((*next = strdup(json_string_value(v))) == NULL) {
			rc = -ENOMEM;
			goto out;
		}
	}
	objs = json_object_get(env, "objects");
	if (objs != NULL && !json_is_array(objs)) {
		snprintf(err, err_len, "\"objects\" is not an array");
		goto out;
	}
	/* Check every object before any is merged: all of the page or none. */
	json_array_foreach(objs, i, o) {
		if (!json_is_object(o) ||
		    !json_is_string(json_object_get(o, "type")) ||
		    (id = json_string_value(json_object_get(o, "id"))) ==
		    NULL || *id == '\0') {
			snprintf(err, err_len, "object %zu has no type or id",
			    i);
			goto out;
		}
	}
	json_array_foreach(objs, i, o) {
		id = json_string_value(json_object_get(o, "id"));
		m->received++;
		if ((pos = json_object_get(m->index, id)) == NULL) {
			at = json_array_size(m->objects);
			if (json_array_append(m->objects, o) < 0 ||
			    json_object_set_new(m->index, id,
			    json_integer((json_int_t)at)) < 0) {
				rc = -ENOMEM;
				goto out;
			}
			m->changed = 1;
			continue;
		}
		at = (size_t)json_integer_value(pos);
		old = json_array_get(m->objects, at);
		if (modified_cmp(o, old) < 0 || json_equal(o, old))
			continue;
		if (json_array_set(m->objects, at, o) < 0) {
			rc = -ENOMEM;
			goto out;
		}
		m->changed = 1;
	}
	rc = 0;
out:
	if (rc < 0) {
		free(*next);
		*next = NULL;
	}
	json_decref(env);
	return rc;
}

/* Percent-encode S into a query value. */
static char *
query_escape(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	char *out, *p;

	if ((out = malloc(strlen(s) * 3 + 1)) == NULL)
		return NULL;
	for (p = out; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~')
			*p++ = (char)c;
		else {
			*p++ = '%';
			*p++ = hex[c >> 4];
			*p++ = hex[c & 15];
		}
	}
	*p = '\0';
	return out;
}

/* "taxii+https://h/api/collections/ID/" to "https://h/api/collections/ID/
 * objects/"; NULL when URL is not a collection. */
static char *
taxii_objects_url(const char *url)
{
	const char *rest = url + strlen("taxii+"), *path, *c, *id;
	size_t idlen;
	char *out;

	if (!has_prefix(rest, "https://") && !has_prefix(rest, "http://"))
		return NULL;
	path = strstr(rest, "://") + 3;
	if ((path = strchr(path, '/')) == NULL || strpbrk(path, "?#") != NULL)
		return NULL;
	/* The last "/collections/" is followed by the id and an optional
	 * slash. */
	for (c = NULL, id = path; (id = strstr(id, "/collections/")) != NULL;
	    id++)
		c = id;
	if (c == NULL)
		return NULL;
	id = c + strlen("/collections/");
	idlen = strcspn(id, "/");
	if (idlen == 0 || (id[idlen] != '\0' && strcmp(id + idlen, "/") != 0))
		return NULL;
	if ((out = malloc(strlen(rest) + sizeof("/objects/"))) == NULL)
		return NULL;
	snprintf(out, strlen(rest) + sizeof("/objects/"), "%s%sobjects/",
	    rest, id[idlen] == '/' ? "" : "/");
	return out;
}

/* TAXII 2.1: poll the collection's objects, all pages, and merge. */
static int
fetch_taxii(struct fetch *f)
{
	const struct rg_fetch_req *r = f->req;
	struct taxii_merge m;
	struct get g;
	char *base = NULL, *url = NULL, *after = NULL, *next = NULL;
	char *enc_after = NULL, *enc_next = NULL, *last = NULL, *doc = NULL;
	char show[256], err[256];
	size_t n, dlen;
	int rc, used_old, more, page;

	memset(&m, 0, sizeof(m));
	memset(&g, 0, sizeof(g));
	url_show(r->url, show, sizeof(show));
	if (r->hub_key_file != NULL)
		return fail(f, -EINVAL, "%s: signatures are not supported for "
		    "TAXII", show);
	if ((base = taxii_objects_url(r->url)) == NULL)
		return fail(f, -EINVAL, "%s: not a TAXII collection "
		    "(taxii+https://HOST/API-ROOT/collections/ID/)", show);
	if ((used_old = taxii_merge_init(&m, r->old_data, r->old_len)) < 0) {
		rc = fail(f, -ENOMEM, "out of memory");
		goto out;
	}
	/* Without the previous bundle, everything is asked for again. */
	if (used_old && r->taxii_added_last != NULL &&
	    (after = strdup(r->taxii_added_last)) == NULL) {
		rc = fail(f, -ENOMEM, "out of memory");
		goto out;
	}
	for (page = 0;; page++) {
		if (page == TAXII_MAX_PAGES) {
			rc = fail(f, -EIO, "%s: still more after %d pages",
			    show, TAXII_MAX_PAGES);
			goto out;
		}
		free(enc_after);
		free(enc_next);
		free(url);
		enc_after = enc_next = url = NULL;
		if ((after != NULL && (enc_after = query_escape(after)) ==
		    NULL) || (next != NULL && (enc_next = query_escape(next)) ==
		    NULL)) {
			rc = fail(f, -ENOMEM, "out of memory");
			goto out;
		}
		n = strlen(base) + (enc_after ? strlen(enc_after) : 0) +
		    (enc_next ? strlen(enc_next) : 0) + 32;
		if ((url = malloc(n)) == NULL) {
			rc = fail(f, -ENOMEM, "out of memory");
			goto out;
		}
		snprintf(url, n, "%s%s%s%s%s%s%s", base,
		    enc_after || enc_next ? "?" : "",
		    enc_after ? "added_after=" : "", enc_after ? enc_after : "",
		    enc_after && enc_next ? "&" : "",
		    enc_next ? "next=" : "", enc_next ? enc_next : "");
		get_clear(&g);
		g.url = url;
		g.accept = TAXII_MEDIA;
		g.auth_eacces = 1;
		g.shared = 1;
		g.limit = f->max_bytes - f->total;
		if ((rc = get(f, &g)) < 0)
			goto out;
		f->total += g.body.len;
		if (g.added_last != NULL) {
			free(last);
			last = g.added_last;
			g.added_last = NULL;
		}
		free(next);
		next = NULL;
		err[0] = '\0';
		if ((rc = taxii_merge_page(&m, g.body.p, g.body.len, &more,
		    &next, err, sizeof(err))) < 0) {
			url_show(url, show, sizeof(show));
			rc = rc == -ENOMEM ? fail(f, rc, "out of memory") :
			    fail(f, rc, "%s: %s", show, err);
			goto out;
		}
		if (!more)
			break;
		if (next != NULL)
			continue;
		/* No "next": ask for what was added after this page. */
		if (last == NULL || (after != NULL && strcmp(after, last) ==
		    0)) {
			url_show(url, show, sizeof(show));
			rc = fail(f, -EBADMSG, "%s: more objects announced, "
			    "but neither \"next\" nor a new "
			    "X-TAXII-Date-Added-Last to ask for them", show);
			goto out;
		}
		free(after);
		if ((after = strdup(last)) == NULL) {
			rc = fail(f, -ENOMEM, "out of memory");
			goto out;
		}
	}
	f->res->objects_new = m.received;
	if (last == NULL && used_old && r->taxii_added_last != NULL &&
	    (last = strdup(r->taxii_added_last)) == NULL) {
		rc = fail(f, -ENOMEM, "out of memory");
		goto out;
	}
	/* Objects that change nothing still move the cursor on. */
	if (m.received == 0 && used_old) {
		f->res->taxii_added_last = last;
		last = NULL;
		rc = RG_FETCH_NOT_MODIFIED;
		goto out;
	}
	if ((doc = json_dumps(m.bundle, JSON_COMPACT)) == NULL) {
		rc = fail(f, -ENOMEM, "out of memory");
		goto out;
	}
	if ((dlen = strlen(doc)) > f->max_bytes) {
		rc = fail(f, -EFBIG, "%s: the merged bundle is more than %llu "
		    "bytes", show, (unsigned long long)f->max_bytes);
		goto out;
	}
	f->res->data = doc;
	f->res->len = dlen;
	f->res->taxii_added_last = last;
	doc = last = NULL;
	rc = RG_FETCH_NEW;
out:
	free(doc);
	free(last);
	free(after);
	free(next);
	free(enc_after);
	free(enc_next);
	free(url);
	free(base);
	get_clear(&g);
	taxii_merge_free(&m);
	return rc;
}

int
rg_fetch(const struct rg_fetch_req *req, struct rg_fetch_res *res)
{
	struct fetch f;
	const char *fmt = req->format != NULL ? req->format : "";
	size_t ulen = req->url != NULL ? strlen(req->url) : 0;
	int rc;

	memset(&f, 0, sizeof(f));
	f.req = req;
	f.res = res;
	f.max_bytes = req->max_bytes ? req->max_bytes : FETCH_MAX_BYTES;
	f.deadline_ms = now_ms() + (req->timeout_ms ? req->timeout_ms :
	    FETCH_TIMEOUT_MS);
	res->error[0] = '\0';
	res->http_status = 0;
	res->objects_new = 0;
	if (ulen == 0)
		rc = fail(&f, -EINVAL, "no source to fetch");
	else if (has_prefix(req->url, "taxii+"))
		rc = fetch_taxii(&f);
	else if (strcmp(fmt, "misp") == 0 && req->url[ulen - 1] == '/')
		rc = fetch_misp(&f);
	else
		rc = fetch_doc(&f);
	if (f.curl != NULL)
		curl_easy_cleanup(f.curl);
	if (rc < 0) {
		/* Nothing of a failed fetch is kept, and there is a reason. */
		char error[sizeof(res->error)];
		long status = res->http_status;

		memcpy(error, res->error, sizeof(error));
		rg_fetch_res_clear(res);
		res->http_status = status;
		if (error[0] == '\0')
			snprintf(error, sizeof(error), "%s", strerror(-rc));
		memcpy(res->error, error, sizeof(error));
	}
	return rc;
}

void
rg_fetch_res_clear(struct rg_fetch_res *res)
{
	free(res->data);
	free(res->etag);
	free(res->last_modified);
	free(res->taxii_added_last);
	free(res->file_stamp);
	memset(res, 0, sizeof(*res));
}

void
rg_fetch_abort_all(void)
{
	atomic_store(&fetch_aborted, 1);
}

int
rg_fetch_aborting(void)
{
	return atomic_load(&fetch_aborted);
}

int
rg_fetch_global_init(void)
{
	static int done;

	if (done)
		return 0;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return -ENOMEM;
	done = 1;
	return 0;
}
