/*
 * http.c -- /metrics, /status and / over libmicrohttpd.
 *
 * Each listen address gets its own MHD daemon with an internal polling
 * thread, a connection limit and a time-out.  The documents are rendered
 * on the event loop in rg_http_update() and swapped in under a mutex; a
 * request copies the current one under the same mutex, so a response is
 * always one consistent snapshot.  Only GET and HEAD are answered.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <microhttpd.h>

#include "conf.h"
#include "http.h"
#include "log.h"
#include "metrics.h"

#define HTTP_MAX_DAEMONS	8
#define HTTP_CONN_LIMIT		64
#define HTTP_TIMEOUT_S		10
#define HISTORY_POINTS		360	/* one hour at one sample per 10 s */
#define HISTORY_STEP_S		10

struct rg_http {
	struct MHD_Daemon *d[HTTP_MAX_DAEMONS];
	size_t n;
	pthread_mutex_t lock;
	char *status;		/* JSON text */
	char *metrics;		/* Prometheus text */
	char *page;		/* HTML */
	json_t *history;	/* upstream -> [[t, ms], ...] */
	time_t last_sample;
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

static enum MHD_Result
reply(struct MHD_Connection *c, unsigned code, const char *type, char *body,
    size_t len)
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
	ret = MHD_queue_response(c, code, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result
text(struct MHD_Connection *c, unsigned code, const char *msg)
{
	char *b = strdup(msg);

	return b ? reply(c, code, "text/plain; charset=utf-8", b, strlen(b)) :
	    MHD_NO;
}

static enum MHD_Result
handler_cb(void *cls, struct MHD_Connection *c, const char *url,
    const char *method, const char *version, const char *upload,
    size_t *upload_len, void **con_cls)
{
	struct rg_http *h = cls;
	char *body;
	size_t len = 0;

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

struct rg_http *
rg_http_start(char *const *listen, size_t n, char *err, size_t err_len)
{
	struct rg_http *h;
	struct sockaddr_storage ss;
	socklen_t sl;
	size_t i;

	if ((h = calloc(1, sizeof(*h))) == NULL) {
		snprintf(err, err_len, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&h->lock, NULL);
	h->history = json_object();
	for (i = 0; i < n && i < HTTP_MAX_DAEMONS; i++) {
		if (rg_conf_parse_addr(listen[i], 0, &ss, &sl) < 0) {
			snprintf(err, err_len, "%s: not an address@port",
			    listen[i]);
			goto fail;
		}
		h->d[h->n] = MHD_start_daemon(
		    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG |
		    (ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0),
		    0, NULL, NULL, handler_cb, h,
		    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
		    MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP_CONN_LIMIT,
		    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_TIMEOUT_S,
		    MHD_OPTION_END);
		if (h->d[h->n] == NULL) {
			snprintf(err, err_len, "%s: cannot listen (address in "
			    "use or not permitted)", listen[i]);
			goto fail;
		}
		h->n++;
	}
	return h;
fail:
	rg_http_stop(h);
	return NULL;
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

	if (now - h->last_sample < HISTORY_STEP_S)
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
