/*
 * report-syslog -- reports as RFC 5424 syslog messages, one datagram each,
 * to a local UNIX datagram socket (/dev/log by default) or over UDP
 * ("udp:addr@port", RFC 5426):
 *
 *   <PRI>1 TIME HOST resguard PID MSGID [resguard@32473 id=".." kind=".."
 *   agent=".." type=".." subject=".."] BOM sentence JSON
 *
 * Facility daemon; severity warning for events that bring bad news (a
 * failover, an upstream going down, something refused or failing), notice
 * for the other events, info for status and sightings.  MSGID is the
 * event's type, or "status", "sighting".  The structured data carries the
 * report's id so a collector can drop the duplicates of a retry; MSG is a
 * short sentence for a person and the whole report as JSON, UTF-8 behind
 * its byte order mark (RFC 5424 6.4).  Datagrams have no answer: a
 * datagram sent is a report acknowledged.
 */
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "../plugin.h"

#define FACILITY_DAEMON	3
#define SEV_WARNING	4
#define SEV_NOTICE	5
#define SEV_INFO	6
#define SD_ID		"resguard@32473"
#define UDP_MAX		65000	/* one UDP datagram, with room */
#define SENTENCE_MAX	480
#define BOM		"\xef\xbb\xbf"

struct sl {
	int udp;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	char *target;			/* for messages */
	char *hostname;			/* as RFC 5424 HOSTNAME */
	char *agent_id;
	unsigned timeout_ms;
	int fd;
};

/* A growing string. */
struct buf {
	char *p;
	size_t len, cap;
	int fail;
};

static void
buf_add(struct buf *b, const char *s, size_t n)
{
	size_t cap;
	char *p;

	if (b->fail)
		return;
	if (b->len + n + 1 > b->cap) {
		cap = b->cap > 0 ? b->cap : 256;
		while (cap < b->len + n + 1)
			cap *= 2;
		if ((p = realloc(b->p, cap)) == NULL) {
			b->fail = 1;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
buf_str(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

/* RFC 5424 header fields: printable US-ASCII without spaces, at most MAX
 * characters, "-" (NILVALUE) when nothing is left. */
static void
buf_field(struct buf *b, const char *s, size_t max)
{
	size_t i, n = 0;
	char c;

	for (i = 0; s != NULL && s[i] != '\0' && n < max; i++) {
		c = s[i];
		if (c < 33 || c > 126)
			continue;
		buf_add(b, &c, 1);
		n++;
	}
	if (n == 0)
		buf_add(b, "-", 1);
}

/* An SD-PARAM value: '"', '\' and ']' escaped (RFC 5424 6.3.3). */
static void
buf_param(struct buf *b, const char *name, const char *value)
{
	const char *s;

	if (value == NULL)
		return;
	buf_str(b, " ");
	buf_str(b, name);
	buf_str(b, "=\"");
	for (s = value; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\' || *s == ']')
			buf_add(b, "\\", 1);
		buf_add(b, s, 1);
	}
	buf_str(b, "\"");
}

/* The bad news among the events: the reader should act or look. */
static int
event_bad(const char *type, const char *new_)
{
	static const char *const bad[] = { "reload-failed", "feed-rejected",
	    "feed-held", "backend-failed", "reporter-failed",
	    "reports-dropped" };
	size_t i;

	if (type == NULL)
		return 0;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (strcmp(type, bad[i]) == 0)
			return 1;
	if (strcmp(type, "mode") == 0)
		return new_ != NULL && strcmp(new_, "normal") != 0;
	if (strcmp(type, "upstream") == 0)
		return new_ != NULL && (strcmp(new_, "down") == 0 ||
		    strcmp(new_, "degraded") == 0);
	return 0;
}

static const char *
get_str(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* A short sentence saying what the report is about. */
static void
sentence(const json_t *rep, const char *kind, char *out, size_t len)
{
	const json_t *ev, *st, *hits;
	const char *type, *subject, *old, *new_, *reason, *mode;

	if (kind != NULL && strcmp(kind, "event") == 0) {
		ev = json_object_get(rep, "event");
		type = get_str(ev, "type");
		subject = get_str(ev, "subject");
		old = get_str(ev, "old");
		new_ = get_str(ev, "new");
		reason = get_str(ev, "reason");
		snprintf(out, len, "%s%s%s%s%s%s%s%s%s",
		    type != NULL ? type : "event",
		    subject != NULL ? " " : "", subject != NULL ? subject : "",
		    old != NULL || new_ != NULL ? " " : "",
		    old != NULL || new_ != NULL ? (old != NULL ? old : "-") :
		    "", old != NULL || new_ != NULL ? " -> " : "",
		    old != NULL || new_ != NULL ? (new_ != NULL ? new_ : "-") :
		    "", reason != NULL && reason[0] != '\0' ? ": " : "",
		    reason != NULL ? reason : "");
	} else if (kind != NULL && strcmp(kind, "status") == 0) {
		st = json_object_get(rep, "status");
		mode = get_str(st, "mode");
		snprintf(out, len, "status%s%s", mode != NULL ? ", mode " : "",
		    mode != NULL ? mode : "");
	} else if (kind != NULL && strcmp(kind, "sighting") == 0) {
		hits = json_object_get(json_object_get(rep, "sightings"),
		    "hits");
		snprintf(out, len, "sightings: %zu blocklist hit%s",
		    json_array_size(hits), json_array_size(hits) == 1 ? "" :
		    "s");
	} else
		snprintf(out, len, "report");
}

/* One datagram for the report DOC; FULL: with the JSON. */
static char *
format(const struct sl *sl, const char *doc, size_t doclen, int full,
    size_t *outlen)
{
	struct buf b = { NULL, 0, 0, 0 };
	json_t *rep;
	const json_t *ev;
	const char *kind, *time, *type = NULL, *subject = NULL;
	char head[32], text[SENTENCE_MAX], *p;
	int sev;

	rep = json_loadb(doc, doclen, 0, NULL);
	kind = get_str(rep, "kind");
	time = get_str(rep, "time");
	ev = json_object_get(rep, "event");
	if (kind != NULL && strcmp(kind, "event") == 0) {
		type = get_str(ev, "type");
		subject = get_str(ev, "subject");
		sev = event_bad(type, get_str(ev, "new")) ? SEV_WARNING :
		    SEV_NOTICE;
	} else
		sev = SEV_INFO;
	snprintf(head, sizeof(head), "<%d>1 ", FACILITY_DAEMON * 8 + sev);
	buf_str(&b, head);
	buf_field(&b, time, 64);
	buf_str(&b, " ");
	buf_field(&b, sl->hostname, 255);
	buf_str(&b, " resguard ");
	snprintf(head, sizeof(head), "%ld ", (long)getpid());
	buf_str(&b, head);
	buf_field(&b, type != NULL ? type : kind, 32);
	buf_str(&b, " [" SD_ID);
	buf_param(&b, "id", get_str(rep, "id"));
	buf_param(&b, "kind", kind);
	buf_param(&b, "agent", sl->agent_id);
	buf_param(&b, "type", type);
	buf_param(&b, "subject", subject);
	buf_str(&b, "] " BOM);
	sentence(rep, kind, text, sizeof(text));
	/* The sentence is for a person: no line breaks in a log line. */
	for (p = text; *p != '\0'; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	buf_str(&b, text);
	if (full) {
		buf_str(&b, " ");
		buf_add(&b, doc, doclen);
	} else
		buf_str(&b, " (the report as JSON is too large for a "
		    "datagram)");
	json_decref(rep);
	if (b.fail) {
		free(b.p);
		return NULL;
	}
	*outlen = b.len;
	return b.p;
}

static uint64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void
sl_close(void *state)
{
	struct sl *sl = state;

	if (sl == NULL)
		return;
	if (sl->fd >= 0)
		close(sl->fd);
	free(sl->target);
	free(sl->hostname);
	free(sl->agent_id);
	free(sl);
}

/* "udp:addr@port" (port 514 by default) or a socket's path. */
static int
sl_parse(struct sl *sl, const char *s, char *msg, size_t len)
{
	struct sockaddr_un *un = (struct sockaddr_un *)&sl->addr;
	struct sockaddr_in *in4 = (struct sockaddr_in *)&sl->addr;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&sl->addr;
	char host[INET6_ADDRSTRLEN + 2], *at, *end;
	unsigned long port = 514;

	if (strncmp(s, "udp:", 4) != 0) {
		if (s[0] == '\0' || strlen(s) >= sizeof(un->sun_path)) {
			snprintf(msg, len, "socket \"%s\": not a usable path",
			    s);
			return -EINVAL;
		}
		un->sun_family = AF_UNIX;
		memcpy(un->sun_path, s, strlen(s) + 1);
		sl->addrlen = sizeof(*un);
		return 0;
	}
	sl->udp = 1;
	if (strlen(s + 4) >= sizeof(host)) {
		snprintf(msg, len, "socket \"%s\": not udp:addr@port", s);
		return -EINVAL;
	}
	memcpy(host, s + 4, strlen(s + 4) + 1);
	if ((at = strrchr(host, '@')) != NULL) {
		*at = '\0';
		errno = 0;
		port = strtoul(at + 1, &end, 10);
		if (errno != 0 || *end != '\0' || end == at + 1 || port == 0 ||
		    port > 65535) {
			snprintf(msg, len, "socket \"%s\": bad port", s);
			return -EINVAL;
		}
	}
	if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)port);
		sl->addrlen = sizeof(*in4);
	} else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		sl->addrlen = sizeof(*in6);
	} else {
		snprintf(msg, len, "socket \"%s\": not a numeric address", s);
		return -EINVAL;
	}
	return 0;
}

static int
sl_open(const struct rg_report_settings *s, void **state, char *msg,
    size_t len)
{
	const char *target = s->socket != NULL ? s->socket : "/dev/log";
	struct sl *sl;
	int rc;

	*state = NULL;
	if ((sl = calloc(1, sizeof(*sl))) == NULL)
		goto nomem;
	sl->fd = -1;
	sl->timeout_ms = s->timeout_ms > 0 ? s->timeout_ms : 10000;
	if ((sl->target = strdup(target)) == NULL ||
	    (sl->hostname = strdup(s->hostname != NULL ? s->hostname : "-")) ==
	    NULL || (s->agent_id != NULL &&
	    (sl->agent_id = strdup(s->agent_id)) == NULL))
		goto nomem;
	if ((rc = sl_parse(sl, target, msg, len)) < 0) {
		sl_close(sl);
		return rc;
	}
	*state = sl;
	return 0;
nomem:
	sl_close(sl);
	snprintf(msg, len, "out of memory");
	return -ENOMEM;
}

static int
sl_connect(struct sl *sl, char *msg, size_t len)
{
	struct timeval tv;
	int fd, rc;

	if (sl->fd >= 0)
		return 0;
	if ((fd = socket(sl->addr.ss_family, SOCK_DGRAM | SOCK_CLOEXEC,
	    0)) < 0) {
		rc = -errno;
		snprintf(msg, len, "syslog %s: socket: %s", sl->target,
		    strerror(errno));
		return rc;
	}
	/* A full receive queue blocks a send: not beyond the time-out. */
	tv.tv_sec = (time_t)(sl->timeout_ms / 1000);
	tv.tv_usec = (suseconds_t)(sl->timeout_ms % 1000) * 1000;
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sl->addr, sl->addrlen) < 0) {
		rc = -errno;
		snprintf(msg, len, "syslog %s: connect: %s", sl->target,
		    strerror(errno));
		close(fd);
		return rc;
	}
	sl->fd = fd;
	return 0;
}

/* Send one datagram; reconnect once when the receiver went away and came
 * back (a restarted syslog daemon has a new socket). */
static int
sl_send(struct sl *sl, const char *line, size_t n, char *msg, size_t len)
{
	int tries, rc;

	for (tries = 0; tries < 2; tries++) {
		if ((rc = sl_connect(sl, msg, len)) < 0)
			return rc;
		if (send(sl->fd, line, n, MSG_NOSIGNAL) == (ssize_t)n)
			return 0;
		rc = -errno;
		snprintf(msg, len, "syslog %s: send: %s", sl->target,
		    rc == -EAGAIN ? "timed out" : strerror(-rc));
		if (rc == -EMSGSIZE)
			return rc;
		close(sl->fd);
		sl->fd = -1;
		if (rc == -EAGAIN || rc == -EINTR)
			return rc;
	}
	return rc;
}

static long
sl_deliver(void *state, const char *const *docs, const size_t *lens,
    size_t n, char *msg, size_t len)
{
	struct sl *sl = state;
	uint64_t deadline;
	char *line;
	size_t i, linelen;
	int rc;

	deadline = mono_ms() + sl->timeout_ms;
	for (i = 0; i < n; i++) {
		/* The whole batch within the time-out: what is sent is
		 * taken, the rest waits for the next call. */
		if (i > 0 && mono_ms() >= deadline)
			break;
		if ((line = format(sl, docs[i], lens[i], 1, &linelen)) ==
		    NULL) {
			snprintf(msg, len, "out of memory");
			return i > 0 ? (long)i : -ENOMEM;
		}
		if (sl->udp && linelen > UDP_MAX)
			rc = -EMSGSIZE;
		else
			rc = sl_send(sl, line, linelen, msg, len);
		free(line);
		if (rc == -EMSGSIZE) {
			/* Too large for one datagram: the line without its
			 * JSON, rather than nothing. */
			if ((line = format(sl, docs[i], lens[i], 0,
			    &linelen)) == NULL) {
				snprintf(msg, len, "out of memory");
				return i > 0 ? (long)i : -ENOMEM;
			}
			rc = sl_send(sl, line, linelen, msg, len);
			free(line);
		}
		if (rc < 0)
			return i > 0 ? (long)i : rc;
	}
	msg[0] = '\0';
	return (long)i;
}

static const struct rg_report_ops sl_ops = {
	.kinds = RG_REPORT_TAKES_ALL,
	.open = sl_open,
	.close = sl_close,
	.deliver = sl_deliver,
};

const struct rg_plugin rg_plugin = {
	.abi = RG_PLUGIN_ABI,
	.name = "syslog",
	.kind = RG_PLUGIN_REPORT,
	.report = &sl_ops,
};
