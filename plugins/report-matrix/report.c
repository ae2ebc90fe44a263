/*
 * report-matrix -- events as messages in a Matrix room, through the
 * client-server API of the homeserver at URL:
 *
 *   PUT URL/_matrix/client/v3/rooms/ROOM/send/m.room.message/TXNID
 *   Authorization: Bearer TOKEN
 *   { "msgtype": "m.text", "body": "...", "format":
 *     "org.matrix.custom.html", "formatted_body": "...",
 *     "org.resguard.report": the report }
 *
 * The transaction id is the report's id, so the homeserver itself drops
 * the duplicates of a retry (the API makes a PUT with a known transaction
 * id idempotent).  A 200 answer with an event_id acknowledges the report;
 * a 429 stops the batch there, and its retry_after_ms is kept: until it
 * has passed, deliveries fail at once without asking the homeserver.
 * The whole batch is bounded by the settings' time-out; what was sent
 * when it runs out is acknowledged and the rest waits for the next call.
 *
 * Only events go to the room: periodic status and sightings are for
 * machines, and a room that receives one every minute is a room nobody
 * reads.  The plugin says so (kinds), so the agent does not spool them;
 * those left in a spool by an older agent are acknowledged unsent.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#include "../plugin.h"
#include "../lib/curlutil.h"

#define ANSWER_MAX	(64 * 1024)
#define TEXT_MAX	1024

struct mx {
	char *base;			/* URL without its final '/' */
	char *base_shown;		/* without user:password@ */
	char *room_enc;			/* the room id, URL-encoded */
	char *hostname;
	uint64_t not_before_ms;		/* rate limited until then */
	struct rg_curl c;
};

struct answer {
	char *buf;
	size_t len;
};

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static size_t
answer_cb(char *p, size_t size, size_t nmemb, void *arg)
{
	struct answer *a = arg;
	size_t n = size * nmemb;
	char *q;

	if (a->len + n > ANSWER_MAX)
		return 0;
	if ((q = realloc(a->buf, a->len + n + 1)) == NULL)
		return 0;
	a->buf = q;
	memcpy(a->buf + a->len, p, n);
	a->len += n;
	a->buf[a->len] = '\0';
	return n;
}

static void
mx_close(void *state)
{
	struct mx *m = state;

	if (m == NULL)
		return;
	rg_curl_close(&m->c);
	free(m->base);
	free(m->base_shown);
	free(m->room_enc);
	free(m->hostname);
	free(m);
}

static int
mx_open(const struct rg_report_settings *s, void **state, char *msg,
    size_t len)
{
	static const char *const headers[] = {
		"Content-Type: application/json", NULL
	};
	struct mx *m;
	char *enc;
	size_t n;

	*state = NULL;
	if (!rg_curl_url_ok(s->url)) {
		snprintf(msg, len, "url: the homeserver's http:// or https:// "
		    "URL is needed");
		return -EINVAL;
	}
	if (s->room == NULL || s->room[0] != '!' || strchr(s->room, ':') ==
	    NULL) {
		snprintf(msg, len, "room: a room id (\"!opaque:server\") is "
		    "needed");
		return -EINVAL;
	}
	if (s->token == NULL) {
		snprintf(msg, len, "token-file: an access token is needed");
		return -EINVAL;
	}
	if (rg_curl_check(s, msg, len) < 0)
		return -EINVAL;
	if ((m = calloc(1, sizeof(*m))) == NULL)
		goto nomem;
	if ((m->base = strdup(s->url)) == NULL ||
	    (m->hostname = strdup(s->hostname != NULL ? s->hostname : "")) ==
	    NULL)
		goto nomem;
	n = strlen(m->base);
	while (n > 0 && m->base[n - 1] == '/')
		m->base[--n] = '\0';
	if ((m->base_shown = rg_url_shown(m->base)) == NULL)
		goto nomem;
	if ((enc = curl_easy_escape(NULL, s->room, 0)) == NULL)
		goto nomem;
	m->room_enc = strdup(enc);
	curl_free(enc);
	if (m->room_enc == NULL || rg_curl_open(&m->c, s, headers) < 0)
		goto nomem;
	*state = m;
	return 0;
nomem:
	mx_close(m);
	snprintf(msg, len, "out of memory");
	return -ENOMEM;
}

static const char *
get_str(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* Text for HTML, escaped. */
static void
html_add(char *out, size_t len, const char *s)
{
	size_t used = strlen(out);
	const char *e;
	char one[2] = "";

	for (; s != NULL && *s != '\0' && used + 7 < len; s++) {
		switch (*s) {
		case '&':
			e = "&amp;";
			break;
		case '<':
			e = "&lt;";
			break;
		case '>':
			e = "&gt;";
			break;
		case '"':
			e = "&quot;";
			break;
		default:
			one[0] = *s;
			e = one;
		}
		memcpy(out + used, e, strlen(e) + 1);
		used += strlen(e);
	}
}

/* The message of event report REP: plain BODY and HTML. */
static void
mx_text(const struct mx *m, const json_t *rep, char *body, char *html,
    size_t len)
{
	const json_t *ev = json_object_get(rep, "event");
	const char *type = get_str(ev, "type"), *subject = get_str(ev,
	    "subject"), *old = get_str(ev, "old"), *new_ = get_str(ev, "new"),
	    *reason = get_str(ev, "reason"), *host = get_str(json_object_get(
	    rep, "agent"), "host");
	int change = old != NULL || new_ != NULL;

	if (host == NULL)
		host = m->hostname;
	if (type == NULL)
		type = "event";
	snprintf(body, len, "resguard on %s: %s%s%s%s%s%s%s%s", host, type,
	    subject != NULL ? " " : "", subject != NULL ? subject : "",
	    change ? " " : "", change ? (old != NULL ? old : "-") : "",
	    change ? " \xe2\x86\x92 " : "", change ? (new_ != NULL ? new_ :
	    "-") : "", reason != NULL && reason[0] != '\0' ? ": " : "");
	if (reason != NULL)
		snprintf(body + strlen(body), len - strlen(body), "%s",
		    reason);
	html[0] = '\0';
	html_add(html, len, "resguard on ");
	snprintf(html + strlen(html), len - strlen(html), "<code>");
	html_add(html, len, host);
	snprintf(html + strlen(html), len - strlen(html), "</code>: <b>");
	html_add(html, len, type);
	snprintf(html + strlen(html), len - strlen(html), "</b>");
	if (subject != NULL) {
		html_add(html, len, " ");
		html_add(html, len, subject);
	}
	if (change) {
		snprintf(html + strlen(html), len - strlen(html), " <code>");
		html_add(html, len, old != NULL ? old : "-");
		snprintf(html + strlen(html), len - strlen(html),
		    "</code> \xe2\x86\x92 <code>");
		html_add(html, len, new_ != NULL ? new_ : "-");
		snprintf(html + strlen(html), len - strlen(html), "</code>");
	}
	if (reason != NULL && reason[0] != '\0') {
		snprintf(html + strlen(html), len - strlen(html), "<br/>");
		html_add(html, len, reason);
	}
}

/* Put the one event report REP; returns 0 when acknowledged. */
static int
mx_put(struct mx *m, const json_t *rep, uint64_t deadline, char *msg,
    size_t len)
{
	char body[TEXT_MAX], html[TEXT_MAX * 2];
	char *url = NULL, *txn = NULL, *text = NULL;
	const char *id = get_str(rep, "id"), *errcode, *error;
	struct answer a = { NULL, 0 };
	json_t *doc = NULL, *ans = NULL;
	uint64_t now = now_ms();
	json_int_t retry;
	long code = 0;
	CURLcode c;
	int rc;

	if (id == NULL) {
		snprintf(msg, len, "a report without an id");
		return -EINVAL;
	}
	if (now >= deadline) {
		snprintf(msg, len, "PUT %s: no time left", m->base_shown);
		return -ETIMEDOUT;
	}
	mx_text(m, rep, body, html, sizeof(body));
	doc = json_pack("{s:s, s:s, s:s, s:s, s:O}", "msgtype", "m.text",
	    "body", body, "format", "org.matrix.custom.html",
	    "formatted_body", html, "org.resguard.report", rep);
	if (doc == NULL || (text = json_dumps(doc, JSON_COMPACT)) == NULL ||
	    (txn = curl_easy_escape(m->c.curl, id, 0)) == NULL ||
	    asprintf(&url, "%s/_matrix/client/v3/rooms/%s/send/"
	    "m.room.message/%s", m->base, m->room_enc, txn) < 0) {
		url = NULL;
		snprintf(msg, len, "out of memory");
		rc = -ENOMEM;
		goto out;
	}
	rg_curl_setup(&m->c, url, text, strlen(text), (long)(deadline - now),
	    answer_cb, &a);
	curl_easy_setopt(m->c.curl, CURLOPT_CUSTOMREQUEST, "PUT");
	c = rg_curl_perform(&m->c);
	if (c != CURLE_OK) {
		snprintf(msg, len, "PUT %s: %s", m->base_shown,
		    rg_curl_error(&m->c, c));
		rc = c == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT :
		    c == CURLE_COULDNT_CONNECT ? -ECONNREFUSED : -EIO;
		goto out;
	}
	curl_easy_getinfo(m->c.curl, CURLINFO_RESPONSE_CODE, &code);
	ans = a.buf != NULL ? json_loadb(a.buf, a.len, 0, NULL) : NULL;
	if (code == 200 && get_str(ans, "event_id") != NULL) {
		rc = 0;
		goto out;
	}
	errcode = get_str(ans, "errcode");
	error = get_str(ans, "error");
	if (code == 429) {
		retry = json_integer_value(json_object_get(ans,
		    "retry_after_ms"));
		if (retry <= 0)
			retry = 1000;
		if (retry > 3600 * 1000)
			retry = 3600 * 1000;
		m->not_before_ms = now_ms() + (uint64_t)retry;
		snprintf(msg, len, "HTTP 429 from %s: %s, retry after %lld ms",
		    m->base_shown, errcode != NULL ? errcode : "rate limited",
		    (long long)retry);
		rc = -EAGAIN;
		goto out;
	}
	snprintf(msg, len, "HTTP %ld from %s%s%s%s%s", code, m->base_shown,
	    errcode != NULL ? ": " : "", errcode != NULL ? errcode : "",
	    error != NULL ? ": " : "", error != NULL ? error : "");
	if (code == 200)
		snprintf(msg, len, "HTTP 200 from %s without an event_id",
		    m->base_shown);
	rc = code == 401 || code == 403 ? -EACCES : -EIO;
out:
	json_decref(ans);
	json_decref(doc);
	free(a.buf);
	free(text);
	free(url);
	curl_free(txn);
	return rc;
}

static long
mx_deliver(void *state, const char *const *docs, const size_t *lens,
    size_t n, char *msg, size_t len)
{
	struct mx *m = state;
	uint64_t now = now_ms(), deadline = now + m->c.timeout_ms;
	json_t *rep;
	const char *kind;
	size_t i;
	int rc;

	if (now < m->not_before_ms) {
		snprintf(msg, len, "rate limited by %s for another %llu ms",
		    m->base_shown,
		    (unsigned long long)(m->not_before_ms - now));
		return -EAGAIN;
	}
	if (rg_curl_get(&m->c) == NULL) {
		snprintf(msg, len, "out of memory");
		return -ENOMEM;
	}
	for (i = 0; i < n; i++) {
		if ((rep = json_loadb(docs[i], lens[i], 0, NULL)) == NULL) {
			snprintf(msg, len, "a report that is not JSON");
			return i > 0 ? (long)i : -EINVAL;
		}
		kind = get_str(rep, "kind");
		/* Status and sightings of an older spool: acknowledged,
		 * not sent (above). */
		if (kind != NULL && strcmp(kind, "event") != 0) {
			json_decref(rep);
			continue;
		}
		if (i > 0 && now_ms() >= deadline) {
			/* Out of time with progress made: the rest waits. */
			json_decref(rep);
			msg[0] = '\0';
			return (long)i;
		}
		rc = mx_put(m, rep, deadline, msg, len);
		json_decref(rep);
		if (rc < 0)
			return i > 0 ? (long)i : rc;
	}
	msg[0] = '\0';
	return (long)n;
}

static const struct rg_report_ops mx_ops = {
	.kinds = RG_REPORT_TAKES_EVENT,
	.open = mx_open,
	.close = mx_close,
	.deliver = mx_deliver,
};

const struct rg_plugin rg_plugin = {
	.abi = RG_PLUGIN_ABI,
	.name = "matrix",
	.kind = RG_PLUGIN_REPORT,
	.load = rg_curl_load,
	.unload = rg_curl_unload,
	.report = &mx_ops,
};
