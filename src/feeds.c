/*
 * feeds.c -- fetch, verify, parse, validate, build, publish, persist.
 *
 * One rebuild at a time runs in libuv's thread pool: it brings the feeds
 * that are due up to date (a file, an HTTPS or TAXII source, a zone
 * transfer, or a document a hub pushed), checks each new document whole
 * (its signature when the feed names a hub key, then a parse that must
 * find something usable), parses every feed's newest good document into
 * one builder and builds the snapshot; back on the loop the snapshot is
 * published and each feed's state recorded.  A new document replaces a
 * feed's last good one only when it passed every check; otherwise the
 * feed is "failing" and keeps what it had, so a bad version never takes
 * the place of a good one and a snapshot never holds half a feed.
 *
 * Formats: "domains" is built in; the others are feed plugins
 * (plugins/feed-*), loaded when a feed names them.
 *
 * Every good document is kept in STATE_DIR/feeds/NAME.feed (written to a
 * temporary file, synced, renamed), after a first line that says the
 * source it came from and what a conditional fetch needs next (ETag,
 * Last-Modified, TAXII's last added date): one file, so that a crash never
 * pairs a document with another's source.  At start these are loaded
 * before any source is asked, so the agent protects from its first
 * snapshot even when a source is gone.
 *
 * Pushes arrive on the HTTP thread: rg_feeds_push() checks what it can at
 * once (the feed, the size, the signature), hands the document to the
 * loop through an async handle, and the next rebuild takes it like a
 * fetched one.  NOTIFY messages for feeds by zone transfer arrive on the
 * notify listener and start a transfer at once.
 */
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <libpsl.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "clock.h"
#include "directive.h"
#include "feeds.h"
#include "util.h"
#include "fetch.h"
#include "journal.h"
#include "log.h"
#include "plugin.h"
#include "xfr.h"

#define FEED_MAX_BYTES		(1024 * 1024 * 1024)
#define PROTECT_FEED		"protected"	/* feed 0 of every snapshot */
#define NOTIFY_MAX_SOCKETS	8
#define NOTIFY_TCP_CONNS	16	/* open at once; more are closed */
#define NOTIFY_TCP_TIMEOUT_MS	5000	/* for one message and its reply */
#define VALIDITY_GAP_MS		10000	/* between builds for STIX validity */

enum feed_state {
	FEED_PENDING,		/* never loaded yet */
	FEED_OK,
	FEED_FAILING,		/* last fetch or parse failed; old data kept */
	FEED_UNSUPPORTED,	/* format not available */
	FEED_HELD,		/* a new version lost too many rules */
};

static const char *const feed_state_str[] = {
	[FEED_PENDING] = "pending",
	[FEED_OK] = "ok",
	[FEED_FAILING] = "failing",
	[FEED_UNSUPPORTED] = "unavailable",
	[FEED_HELD] = "held",
};

/*
 * The rules of a new document, kept from the parse that checks it to the
 * build, so that a document is parsed once.  Records go into chunks; the
 * build puts them into the builder and frees each chunk as it goes, so
 * that the kept rules and the builder are never both whole.  A record is
 * a byte of flags (the action, an IP rule, how the indicator is kept, TLP
 * and local data present), the name or prefix, then as the flags say the
 * indicator (a string; N of "line N" as a varint; or nothing when it is
 * the name itself), the TLP and the local data, strings NUL-terminated.
 * Chunks are mapped, not taken from malloc: a chunk freed goes back to the
 * system at once, where malloc would keep it below the builder's memory.
 */
#define RULES_CHUNK	(1024 * 1024)	/* bytes mapped at a time */

#define REC_ACTION	0x07	/* enum rg_action */
#define REC_IP		0x08	/* a response-IP rule */
#define REC_IND		0x30	/* how the indicator is kept: */
#define REC_IND_NONE	0x00
#define REC_IND_STR	0x10
#define REC_IND_LINE	0x20
#define REC_IND_NAME	0x30
#define REC_TLP		0x40
#define REC_LOCAL	0x80

_Static_assert(RG_ACTION_COUNT <= REC_ACTION + 1, "an action in 3 bits");

struct rules_chunk {
	struct rules_chunk *next;
	size_t len, cap;
	uint8_t data[];
};

struct rg_feed_rules {
	struct rules_chunk *head, *tail;
};

static void
chunk_free(struct rules_chunk *c)
{
	munmap(c, sizeof(*c) + c->cap);
}

static void
rules_clear(struct rg_feed_rules *rs)
{
	struct rules_chunk *c;

	while ((c = rs->head) != NULL) {
		rs->head = c->next;
		chunk_free(c);
	}
	rs->tail = NULL;
}

/* N bytes at the end of RS, or NULL. */
static uint8_t *
rules_room(struct rg_feed_rules *rs, size_t n)
{
	struct rules_chunk *c = rs->tail;
	size_t cap;
	uint8_t *p;

	if (c == NULL || c->cap - c->len < n) {
		cap = RULES_CHUNK - sizeof(*c);
		if (n > cap)
			cap = n;
		if ((c = mmap(NULL, sizeof(*c) + cap, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)) == MAP_FAILED)
			return NULL;
		c->next = NULL;
		c->len = 0;
		c->cap = cap;
		if (rs->tail != NULL)
			rs->tail->next = c;
		else
			rs->head = c;
		rs->tail = c;
	}
	p = c->data + c->len;
	c->len += n;
	return p;
}

/* N of an indicator "line N" written as the domains format writes it. */
static int
ind_line(const char *s, uint64_t *n)
{
	size_t i;

	if (strncmp(s, "line ", 5) != 0)
		return 0;
	s += 5;
	if (s[0] < '0' || s[0] > '9' || (s[0] == '0' && s[1] != '\0'))
		return 0;
	for (i = 0, *n = 0; s[i] >= '0' && s[i] <= '9'; i++) {
		if (i == 19)
			return 0;
		*n = *n * 10 + (uint64_t)(s[i] - '0');
	}
	return s[i] == '\0';
}

static size_t
varint_put(uint8_t *p, uint64_t v)
{
	size_t n = 0;

	do {
		p[n++] = (uint8_t)((v & 0x7f) | (v >= 0x80 ? 0x80 : 0));
		v >>= 7;
	} while (v != 0);
	return n;
}

static const uint8_t *
varint_get(const uint8_t *p, uint64_t *v)
{
	unsigned shift = 0;

	uint8_t c;

	*v = 0;
	do {
		c = *p++;
		if (shift < 64)
			*v |= (uint64_t)(c & 0x7f) << shift;
		shift += 7;
	} while (c & 0x80);
	return p;
}

/* Keep rule R, with ACTION, in RS; 0 or -ENOMEM. */
static int
rules_add(struct rg_feed_rules *rs, const struct rg_feed_rule *r,
    enum rg_action action)
{
	const char *name = r->trigger == RG_FEED_IP ? r->prefix : r->name;
	const char *tlp = r->tlp, *local = r->local;
	uint8_t flags, vbuf[10], *p;
	size_t nl, il = 0, tl = 0, ll = 0;
	uint64_t line;

	/* A missing name is refused at the build, as an invalid one. */
	if (name == NULL)
		name = "";
	nl = strlen(name) + 1;
	flags = (uint8_t)action | (r->trigger == RG_FEED_IP ? REC_IP : 0);
	if (r->indicator == NULL)
		flags |= REC_IND_NONE;
	else if (strcmp(r->indicator, name) == 0)
		flags |= REC_IND_NAME;
	else if (ind_line(r->indicator, &line)) {
		flags |= REC_IND_LINE;
		il = varint_put(vbuf, line);
	} else {
		flags |= REC_IND_STR;
		il = strlen(r->indicator) + 1;
	}
	/* The builder takes an empty TLP or local data as none. */
	if (tlp != NULL && tlp[0] != '\0') {
		flags |= REC_TLP;
		tl = strlen(tlp) + 1;
	}
	if (local != NULL && local[0] != '\0') {
		flags |= REC_LOCAL;
		ll = strlen(local) + 1;
	}
	if ((p = rules_room(rs, 1 + nl + il + tl + ll)) == NULL)
		return -ENOMEM;
	*p++ = flags;
	memcpy(p, name, nl);
	p += nl;
	if ((flags & REC_IND) == REC_IND_LINE)
		memcpy(p, vbuf, il);
	else if ((flags & REC_IND) == REC_IND_STR)
		memcpy(p, r->indicator, il);
	p += il;
	if (tl > 0)
		memcpy(p, tlp, tl);
	p += tl;
	if (ll > 0)
		memcpy(p, local, ll);
	return 0;
}

/*
 * Put the rules RS into B as feed FEED, freeing them as they go; the rules
 * B refuses are counted in *REJECTED.  0 or -ENOMEM (RS is emptied then
 * too).
 */
static int
rules_build(struct rg_feed_rules *rs, struct rg_bl_builder *b, int feed,
    uint64_t *rejected)
{
	struct rules_chunk *c;
	struct rg_bl_meta meta;
	const uint8_t *p, *end;
	const char *name;
	char line[32];
	uint64_t n;
	uint8_t flags;
	int rc = 0;

	while (rc == 0 && (c = rs->head) != NULL) {
		for (p = c->data, end = c->data + c->len; p < end; ) {
			flags = *p++;
			name = (const char *)p;
			p += strlen(name) + 1;
			switch (flags & REC_IND) {
			case REC_IND_STR:
				meta.indicator = (const char *)p;
				p += strlen(meta.indicator) + 1;
				break;
			case REC_IND_LINE:
				p = varint_get(p, &n);
				snprintf(line, sizeof(line), "line %llu",
				    (unsigned long long)n);
				meta.indicator = line;
				break;
			case REC_IND_NAME:
				meta.indicator = name;
				break;
			default:
				meta.indicator = NULL;
				break;
			}
			meta.tlp = meta.local = NULL;
			if (flags & REC_TLP) {
				meta.tlp = (const char *)p;
				p += strlen(meta.tlp) + 1;
			}
			if (flags & REC_LOCAL) {
				meta.local = (const char *)p;
				p += strlen(meta.local) + 1;
			}
			rc = (flags & REC_IP) ? rg_bl_builder_add_ip(b, name,
			    (enum rg_action)(flags & REC_ACTION), feed, &meta) :
			    rg_bl_builder_add_meta(b, name,
			    (enum rg_action)(flags & REC_ACTION), feed, &meta);
			if (rc == -EINVAL) {
				(*rejected)++;
				rc = 0;
			} else if (rc < 0)
				break;
		}
		rs->head = c->next;
		chunk_free(c);
	}
	rules_clear(rs);
	return rc;
}

void
rg_feed_rules_free(struct rg_feed_rules *rs)
{
	if (rs == NULL)
		return;
	rules_clear(rs);
	free(rs);
}

/* What a fetch needs to remember for the next one. */
struct feed_cond {
	char *etag, *last_modified, *taxii_added_last, *file_stamp;
};

struct feed {
	struct rg_conf_feed cf;		/* a copy of its settings */
	enum rg_action action;		/* for rules that take the policy */
	struct rg_plugin_handle *plugin; /* the format, NULL for domains */
	enum feed_state state;
	char *data;			/* last good document, or NULL */
	size_t len;
	struct feed_cond cond;
	uint64_t updated_wall_ms;	/* when the data last changed */
	uint64_t checked_wall_ms;	/* when the source was last asked */
	uint64_t good_wall_ms;		/* when the source last gave or
					   confirmed a good document */
	uint64_t since_wall_ms;		/* configured (stale, when no good
					   document ever came) */
	uint64_t next_check_ms;
	size_t entries;
	struct rg_feed_stats stats;
	char last_error[512];
	int want_fetch;
	int fetch_later;		/* after the snapshot of kept documents */
	int directive_kept;		/* a kept directive to hand over */
	int force;			/* the next document skips the hold */
	char version[17];		/* of the data: 64-bit FNV-1a, hex */
	char *held_data;		/* a version held back, or NULL */
	size_t held_len;
	uint64_t held_rules;
	/* A pushed document waiting for the next rebuild (under push_lock). */
	char *push_data;
	size_t push_len;
};

/* What a rebuild takes along to the thread pool and brings back. */
struct job_feed {
	const struct feed *fd;		/* read-only while the job runs */
	int fetch;
	char *push_data;		/* taken from the feed */
	size_t push_len;
	/* results */
	char *new_data;
	size_t new_len;
	struct feed_cond cond;		/* new values, when fetched */
	int force;			/* no hold for this one */
	int held;			/* new_data is held back */
	uint64_t new_rules;		/* usable rules in new_data */
	struct rg_feed_rules *rules;	/* new_data's, from its check */
	int fetched;			/* new_data is good and replaces old */
	int unchanged;			/* the source said nothing changed */
	int asked;			/* the source was asked */
	struct rg_feed_stats stats;
	char error[512];
	char persist_error[256];
};

struct job {
	uv_work_t req;
	struct rg_feeds *feeds;
	char **protect;			/* a copy of the feeds' */
	size_t n_protect;
	char *state_dir;		/* where good versions are kept */
	struct job_feed *jf;
	size_t n;
	struct rg_blocklist *bl;
	uint64_t started_ms;
	int own_thread;			/* job_run() on a thread of its own */
	int must_build;			/* the feeds or the protected names
					   changed: build even if no document
					   did */
	int skipped;			/* nothing changed: no build */
};

struct rg_feeds {
	char **protect;			/* names never blocked: the upstreams'
					   TLS names, the feeds' and reporters'
					   hosts */
	size_t n_protect;
	uv_loop_t *loop;
	struct rg_journal *journal;
	struct rg_bl_domain *domain;
	struct feed *feeds;
	size_t n;
	char *state_dir;
	struct job *job;		/* rebuild in flight, or NULL */
	int again;			/* another rebuild wanted after it */
	uint64_t validity_build_ms;	/* the last build for a validity
					   change (rg_clock_ms) */
	int dirty;			/* the next rebuild must build */
	const struct rg_conf *pending;	/* configuration waiting for it */
	uv_timer_t timer;
	uv_async_t push_async;
	pthread_mutex_t push_lock;	/* feeds' push_data, and f->feeds
					   against replacement while a push
					   looks a feed up */
	uv_udp_t notify[NOTIFY_MAX_SOCKETS];
	size_t n_notify;
	uv_tcp_t notify_tcp[NOTIFY_MAX_SOCKETS];
	size_t n_notify_tcp;
	unsigned notify_conns;		/* TCP connections open */
	struct notify_conn *conns;	/* the list of them */
	int stopping;
	int closing;			/* handles still to close */
	rg_feeds_publish_cb *publish_cb;
	void *publish_arg;
	rg_feeds_directive_cb *directive_cb;
	void *directive_arg;
};

static void feeds_rebuild(struct rg_feeds *f);
static void feeds_destroy(struct rg_feeds *f);

static void cf_free(struct rg_conf_feed *c);

/* A copy of S in D; -ENOMEM (and nothing allocated) when it fails. */
static int
cf_copy(struct rg_conf_feed *d, const struct rg_conf_feed *s)
{
	int fail = 0;

	*d = *s;
	d->name = rg_strdup_opt(s->name, &fail);
	d->format = rg_strdup_opt(s->format, &fail);
	d->source = rg_strdup_opt(s->source, &fail);
	d->action = rg_strdup_opt(s->action, &fail);
	d->ca_file = rg_strdup_opt(s->ca_file, &fail);
	d->client_cert_file = rg_strdup_opt(s->client_cert_file, &fail);
	d->client_key_file = rg_strdup_opt(s->client_key_file, &fail);
	d->spki_pin = rg_strdup_opt(s->spki_pin, &fail);
	d->token_file = rg_strdup_opt(s->token_file, &fail);
	d->username = rg_strdup_opt(s->username, &fail);
	d->password_file = rg_strdup_opt(s->password_file, &fail);
	d->proxy = rg_strdup_opt(s->proxy, &fail);
	d->hub_key_file = rg_strdup_opt(s->hub_key_file, &fail);
	d->signature = rg_strdup_opt(s->signature, &fail);
	d->zone = rg_strdup_opt(s->zone, &fail);
	d->tsig_name = rg_strdup_opt(s->tsig_name, &fail);
	d->tsig_algorithm = rg_strdup_opt(s->tsig_algorithm, &fail);
	d->tsig_secret = rg_strdup_opt(s->tsig_secret, &fail);
	if (fail) {
		cf_free(d);
		return -ENOMEM;
	}
	return 0;
}

static void
cf_free(struct rg_conf_feed *c)
{
	free(c->name);
	free(c->format);
	free(c->source);
	free(c->action);
	free(c->ca_file);
	free(c->client_cert_file);
	free(c->client_key_file);
	free(c->spki_pin);
	free(c->token_file);
	free(c->username);
	free(c->password_file);
	free(c->proxy);
	free(c->hub_key_file);
	free(c->signature);
	free(c->zone);
	free(c->tsig_name);
	free(c->tsig_algorithm);
	free(c->tsig_secret);
}

/* Every setting that decides what the document is: a feed that keeps
 * them keeps its data across a reload. */
static int
cf_same_source(const struct rg_conf_feed *a, const struct rg_conf_feed *b)
{
#define SAME(x) ((a->x == NULL && b->x == NULL) || \
	(a->x != NULL && b->x != NULL && strcmp(a->x, b->x) == 0))
	return SAME(name) && SAME(format) && SAME(source) && SAME(zone) &&
	    SAME(hub_key_file) && SAME(signature);
#undef SAME
}

/* A short version of a document: what "feeds" shows, to tell two apart. */
static void
doc_version(const char *data, size_t len, char out[17])
{
	uint64_t h = 0xcbf29ce484222325ULL;
	size_t i;

	for (i = 0; i < len; i++)
		h = (h ^ (uint8_t)data[i]) * 0x100000001b3ULL;
	snprintf(out, 17, "%016llx", (unsigned long long)h);
}

static void
cond_clear(struct feed_cond *c)
{
	free(c->etag);
	free(c->last_modified);
	free(c->taxii_added_last);
	free(c->file_stamp);
	memset(c, 0, sizeof(*c));
}

static int
is_push(const struct feed *fd)
{
	return strcmp(fd->cf.source, "push") == 0;
}

/*
 * What vouches for the documents of feed C, into WHAT (room for 3): the
 * TLS of https://, a TSIG key, a hub's Ed25519 signature, the push
 * endpoint's token, or the local file system.  Returns how many; 0: none,
 * anyone on the path can change the rules.
 */
static size_t
feed_auth(const struct rg_conf_feed *c, const char *what[3])
{
	const char *s = c->source;
	size_t n = 0;

	if (strncmp(s, "file://", 7) == 0)
		what[n++] = "local-file";
	else if (strcmp(s, "push") == 0)
		what[n++] = "push-token";
	else if (strncmp(s, "https://", 8) == 0 ||
	    strncmp(s, "taxii+https://", 14) == 0)
		what[n++] = "tls";
	else if (strncmp(s, "axfr://", 7) == 0 && c->tsig_name != NULL)
		what[n++] = "tsig";
	if (c->hub_key_file != NULL)
		what[n++] = "signature";
	return n;
}

/* 1 when FD has had no good document for its stale-after-s at NOW (wall
 * ms); *AGE: for how long. */
static int
feed_stale(const struct feed *fd, uint64_t now, uint64_t *age)
{
	uint64_t base = fd->good_wall_ms != 0 ? fd->good_wall_ms :
	    fd->since_wall_ms;

	*age = now > base ? now - base : 0;
	return fd->cf.stale_after_s > 0 &&
	    *age > (uint64_t)fd->cf.stale_after_s * 1000;
}

static int
is_directive(const struct feed *fd)
{
	return strcmp(fd->cf.format, "directive") == 0;
}

static int
is_axfr(const struct feed *fd)
{
	return strncmp(fd->cf.source, "axfr://", 7) == 0;
}

/* Read PATH whole; a file that changes while read is read again later. */
static int
read_file(const char *path, char **data, size_t *len, struct stat *st,
    char *err, size_t err_len)
{
	char *buf = NULL;
	size_t off = 0;
	ssize_t n;
	int fd, rc = -1;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		snprintf(err, err_len, "cannot open %s: %s", path,
		    strerror(errno));
		return -1;
	}
	if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode)) {
		snprintf(err, err_len, "%s: not a regular file", path);
		goto out;
	}
	if (st->st_size > FEED_MAX_BYTES) {
		snprintf(err, err_len, "%s: %lld bytes, more than the limit "
		    "of %d", path, (long long)st->st_size, FEED_MAX_BYTES);
		goto out;
	}
	if ((buf = malloc((size_t)st->st_size + 1)) == NULL) {
		snprintf(err, err_len, "%s: out of memory", path);
		goto out;
	}
	while (off < (size_t)st->st_size &&
	    (n = read(fd, buf + off, (size_t)st->st_size - off)) > 0)
		off += (size_t)n;
	if (off != (size_t)st->st_size) {
		snprintf(err, err_len, "%s: short read (%zu of %lld bytes)",
		    path, off, (long long)st->st_size);
		goto out;
	}
	buf[off] = '\0';
	*data = buf;
	*len = off;
	buf = NULL;
	rc = 0;
out:
	free(buf);
	close(fd);
	return rc;
}

static int
write_all(int fd, const char *data, size_t len)
{
	ssize_t n;

	while (len > 0) {
		if ((n = write(fd, data, len)) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Write PATH whole or not at all: a temporary file, synced, renamed over
 * it, and the directory synced so the rename survives a crash. */
static int
write_atomic(const char *dir, const char *path, const char *head,
    size_t head_len, const char *data, size_t len)
{
	char *tmp = NULL;
	int fd = -1, dfd, rc;

	if (asprintf(&tmp, "%s.tmp", path) < 0)
		return -ENOMEM;
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0640)) < 0) {
		rc = -errno;
		goto out;
	}
	if ((rc = write_all(fd, head, head_len)) < 0 ||
	    (rc = write_all(fd, data, len)) < 0)
		goto out;
	if (fsync(fd) < 0 || close(fd) < 0) {
		rc = -errno;
		fd = -1;
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) < 0) {
		rc = -errno;
		goto out;
	}
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		(void)fsync(dfd);
		close(dfd);
	}
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	if (rc < 0)
		(void)unlink(tmp);
	free(tmp);
	return rc;
}

/* Keep a good version of feed FD in the state directory, in one file
 * written whole or not at all: NAME.feed, a first line of JSON (the
 * source, what the next conditional fetch needs, the document's size),
 * then the document. */
static int
feed_persist(const char *state_dir, const struct feed *fd, const char *data,
    size_t len, const struct feed_cond *c)
{
	char *dir = NULL, *path = NULL, *head = NULL, *h;
	size_t hl;
	json_t *o;
	int rc = -ENOMEM;

	o = json_pack("{s:i, s:s, s:s?, s:s?, s:s?, s:I}", "resguard_feed", 1,
	    "source", fd->cf.source, "etag", c->etag, "last_modified",
	    c->last_modified, "taxii_added_last", c->taxii_added_last,
	    "bytes", (json_int_t)len);
	head = o != NULL ? json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII) :
	    NULL;
	json_decref(o);
	if (head == NULL || asprintf(&dir, "%s/feeds", state_dir) < 0) {
		dir = NULL;
		goto out;
	}
	if (mkdir(dir, 0750) < 0 && errno != EEXIST) {
		rc = -errno;
		goto out;
	}
	if (asprintf(&path, "%s/%s.feed", dir, fd->cf.name) < 0) {
		path = NULL;
		goto out;
	}
	/* The header is one line: compact JSON has no newline in it. */
	if ((h = realloc(head, (hl = strlen(head)) + 2)) == NULL)
		goto out;
	head = h;
	memcpy(head + hl, "\n", 2);
	rc = write_atomic(dir, path, head, hl + 1, data, len);
out:
	free(dir);
	free(path);
	free(head);
	return rc;
}

/* The kept version of FD in NAME.feed, if it came from FD's source. */
static int
feed_restore_one(const char *state_dir, struct feed *fd)
{
	char *path = NULL, *buf = NULL, *nl, err[256];
	size_t len;
	struct stat st;
	json_t *o = NULL, *v;
	int rc = -1, fail = 0;	/* a condition not kept: fetched whole */

	if (asprintf(&path, "%s/feeds/%s.feed", state_dir, fd->cf.name) < 0) {
		path = NULL;
		goto out;
	}
	if (read_file(path, &buf, &len, &st, err, sizeof(err)) < 0 ||
	    (nl = memchr(buf, '\n', len)) == NULL ||
	    (o = json_loadb(buf, (size_t)(nl - buf), 0, NULL)) == NULL ||
	    json_integer_value(json_object_get(o, "resguard_feed")) != 1 ||
	    (v = json_object_get(o, "source")) == NULL ||
	    !json_is_string(v) || strcmp(json_string_value(v),
	    fd->cf.source) != 0 ||
	    json_integer_value(json_object_get(o, "bytes")) !=
	    (json_int_t)(len - (size_t)(nl + 1 - buf)))
		goto out;
	fd->len = len - (size_t)(nl + 1 - buf);
	memmove(buf, nl + 1, fd->len);
	buf[fd->len] = '\0';
	fd->data = buf;
	buf = NULL;
	fd->cond.etag = rg_strdup_opt(json_string_value(json_object_get(o,
	    "etag")), &fail);
	fd->cond.last_modified = rg_strdup_opt(json_string_value(
	    json_object_get(o, "last_modified")), &fail);
	fd->cond.taxii_added_last = rg_strdup_opt(json_string_value(
	    json_object_get(o, "taxii_added_last")), &fail);
	fd->updated_wall_ms = (uint64_t)st.st_mtim.tv_sec * 1000 +
	    (uint64_t)st.st_mtim.tv_nsec / 1000000;
	rc = 0;
out:
	json_decref(o);
	free(buf);
	free(path);
	return rc;
}

/* The kept version of FD as the first release kept it: NAME.domains,
 * with its source alone in NAME.source. */
static int
feed_restore_old(const char *state_dir, struct feed *fd)
{
	char *path = NULL, *spath = NULL, *src = NULL, err[256];
	size_t slen;
	struct stat st;
	int rc = -1;

	if (asprintf(&spath, "%s/feeds/%s.source", state_dir,
	    fd->cf.name) < 0) {
		spath = NULL;
		goto out;
	}
	if (read_file(spath, &src, &slen, &st, err, sizeof(err)) < 0 ||
	    strcmp(src, fd->cf.source) != 0)
		goto out;
	if (asprintf(&path, "%s/feeds/%s.domains", state_dir,
	    fd->cf.name) < 0) {
		path = NULL;
		goto out;
	}
	if (read_file(path, &fd->data, &fd->len, &st, err, sizeof(err)) < 0)
		goto out;
	fd->updated_wall_ms = (uint64_t)st.st_mtim.tv_sec * 1000 +
	    (uint64_t)st.st_mtim.tv_nsec / 1000000;
	rc = 0;
out:
	free(path);
	free(spath);
	free(src);
	return rc;
}

/* Load the kept version of FD, if it came from FD's source. */
static void
feed_restore(const char *state_dir, struct feed *fd)
{
	if (feed_restore_one(state_dir, fd) < 0 &&
	    feed_restore_old(state_dir, fd) < 0)
		return;
	doc_version(fd->data, fd->len, fd->version);
	fd->state = FEED_OK;
	/* A pushed document is as old as when it came: a push feed stale
	 * before a restart is stale after it.  A fetched one may have been
	 * confirmed since it last changed, which is not kept: it counts from
	 * the start, until its first check. */
	if (is_push(fd))
		fd->good_wall_ms = fd->updated_wall_ms;
	rg_log_info("feeds: %s: %zu bytes kept from the last good version",
	    fd->cf.name, fd->len);
}

/* The parse of one document: into a builder, or kept in a rule set. */
struct emit_ctx {
	struct rg_bl_builder *b;	/* into it, when not NULL */
	struct rg_feed_rules *keep;	/* else kept here */
	uint64_t keep_max;		/* rules kept at most; counted on */
	int feed;
	int wide;			/* refuse rules that block too much */
	enum rg_action policy;
	uint64_t usable;
	uint64_t rejected;		/* names or prefixes the builder refused */
	uint64_t too_wide;		/* of them, rules that cover everything */
};

static const enum rg_action feed_action_map[RG_FEED_ACTION_COUNT] = {
	[RG_FEED_POLICY] = RG_ACTION_NXDOMAIN,	/* replaced by the policy */
	[RG_FEED_NXDOMAIN] = RG_ACTION_NXDOMAIN,
	[RG_FEED_NODATA] = RG_ACTION_NODATA,
	[RG_FEED_DROP] = RG_ACTION_DROP,
	[RG_FEED_PASSTHRU] = RG_ACTION_PASSTHRU,
	[RG_FEED_LOCAL] = RG_ACTION_LOCAL,
};

/* The built-in format, called as the plugins are. */
static const struct rg_feed_ops domains_ops = {
	.parse = rg_feed_domains_emit,
};

/* NAME ("*." allowed, final dot allowed) is a TLD or another public
 * suffix of the ICANN section of the Public Suffix List built into libpsl:
 * no feed may block all of it.  The private section (github.io, a dynamic
 * DNS provider's domain) is one company's domain, which an operator may
 * well mean to block whole. */
static int
public_suffix(const char *name)
{
	char buf[256];
	size_t n;

	if (strncmp(name, "*.", 2) == 0)
		name += 2;
	snprintf(buf, sizeof(buf), "%s", name);
	if ((n = strlen(buf)) > 1 && buf[n - 1] == '.')
		buf[n - 1] = '\0';
	/* Public suffixes have few labels: most names are done here. */
	if (strchr(buf, '.') != NULL && strchr(strchr(buf, '.') + 1, '.') !=
	    NULL && strchr(strchr(strchr(buf, '.') + 1, '.') + 1, '.') != NULL)
		return 0;
	/* One label: a TLD, in the list or not. */
	if (strchr(buf, '.') == NULL)
		return 1;
	if (psl_builtin() == NULL)
		return 0;
	return psl_is_public_suffix2(psl_builtin(), buf,
	    PSL_TYPE_ICANN | PSL_TYPE_NO_STAR_RULE);
}

static int
too_wide(const struct rg_feed_rule *r)
{
	const char *slash;
	long len;

	if (r->trigger == RG_FEED_IP) {
		if (r->prefix == NULL || (slash = strchr(r->prefix, '/')) == NULL)
			return 0;
		len = strtol(slash + 1, NULL, 10);
		if (strchr(r->prefix, ':') == NULL)
			return len < 8;
		/* IPv4-mapped prefixes match IPv4 answers: /96 is 0.0.0.0/0. */
		if (strncasecmp(r->prefix, "::ffff:", 7) == 0 || len <= 96)
			return len < 16 || (len >= 96 && len < 104) ||
			    (len < 96 && strncasecmp(r->prefix, "::", 2) == 0);
		return 0;
	}
	if (r->name == NULL)
		return 0;
	if (strcmp(r->name, ".") == 0 || strcmp(r->name, "*") == 0 ||
	    strcmp(r->name, "*.") == 0)
		return 1;
	return public_suffix(r->name);
}

static int
emit_cb(void *arg, const struct rg_feed_rule *r)
{
	struct emit_ctx *e = arg;
	struct rg_bl_meta meta = { r->indicator, r->tlp, r->local };
	enum rg_action action;
	int rc;

	if ((unsigned)r->action >= RG_FEED_ACTION_COUNT) {
		e->rejected++;
		return 0;
	}
	action = r->action == RG_FEED_POLICY ? e->policy :
	    feed_action_map[r->action];
	/* A rule that would block everything is a feed's mistake, not a
	 * policy: the root, "*.", or an address prefix shorter than /8
	 * (IPv4) or /16 (IPv6). */
	if (e->wide && action != RG_ACTION_PASSTHRU && too_wide(r)) {
		e->rejected++;
		e->too_wide++;
		return 0;
	}
	if (e->b == NULL) {
		/* Past the feed's max-rules the document is refused: it is
		 * counted to the end, and no more of it kept. */
		if (e->keep != NULL && e->usable < e->keep_max &&
		    (rc = rules_add(e->keep, r, action)) < 0)
			return rc;
		e->usable++;
		return 0;
	}
	if (r->trigger == RG_FEED_IP)
		rc = r->prefix != NULL ? rg_bl_builder_add_ip(e->b, r->prefix,
		    action, e->feed, &meta) : -EINVAL;
	else
		rc = r->name != NULL ? rg_bl_builder_add_meta(e->b, r->name,
		    action, e->feed, &meta) : -EINVAL;
	if (rc == -EINVAL) {
		e->rejected++;
		return 0;
	}
	if (rc < 0)
		return rc;
	e->usable++;
	return 0;
}

/* Why rules were refused, when nothing said so before. */
static void
rejected_say(struct rg_feed_stats *st, uint64_t rejected, uint64_t wide)
{
	st->skipped += rejected;
	if (rejected > 0 && st->first_skip[0] == '\0')
		snprintf(st->first_skip, sizeof(st->first_skip), "%s",
		    wide > 0 ? "a rule that would block too much (the "
		    "root, a TLD or another public suffix, or an address "
		    "prefix shorter than /8 or /16)" :
		    "a rule with a name or prefix the blocklist refuses");
}

/*
 * Parse DATA with format OPS and settings S into B as feed IDX or, when B
 * is NULL, into the rule set KEEP (at most KEEP_MAX rules kept, all
 * counted); rules of the policy take POLICY.  Returns the rules added or
 * counted, or a negative errno code with ERR.
 */
static long
rules_parse(const struct rg_feed_ops *ops, const struct rg_feed_settings *s,
    enum rg_action policy, struct rg_bl_builder *b, int idx,
    struct rg_feed_rules *keep, uint64_t keep_max, const char *data,
    size_t len, struct rg_feed_stats *st, char *err, size_t err_len)
{
	struct emit_ctx e;
	long rc;

	memset(st, 0, sizeof(*st));
	err[0] = '\0';
	memset(&e, 0, sizeof(e));
	e.b = b;
	e.keep = keep;
	e.keep_max = keep_max;
	e.feed = idx;
	/* Every format's rules are checked for how much they cover: a
	 * plain list with "com" on a line is as wrong as an RPZ with it. */
	e.wide = 1;
	e.policy = policy;
	rc = ops->parse(s, data, len, emit_cb, &e, st, err, err_len);
	if (rc < 0)
		return rc;
	rejected_say(st, e.rejected, e.too_wide);
	return (long)e.usable;
}

long
rg_feed_rules_parse(const struct rg_feed_ops *format,
    const struct rg_feed_settings *s, enum rg_action policy, uint64_t max,
    const char *data, size_t len, struct rg_feed_rules **rules,
    struct rg_feed_stats *st, char *err, size_t err_len)
{
	long rc;

	if ((*rules = calloc(1, sizeof(**rules))) == NULL) {
		memset(st, 0, sizeof(*st));
		snprintf(err, err_len, "out of memory");
		return -ENOMEM;
	}
	rc = rules_parse(format != NULL ? format : &domains_ops, s, policy,
	    NULL, 0, *rules, max, data, len, st, err, err_len);
	if (rc < 0) {
		rg_feed_rules_free(*rules);
		*rules = NULL;
	}
	return rc;
}

int
rg_feed_rules_build(struct rg_feed_rules *rules, struct rg_bl_builder *b,
    int feed, struct rg_feed_stats *st)
{
	uint64_t rejected = 0;
	int rc;

	rc = rules_build(rules, b, feed, &rejected);
	rg_feed_rules_free(rules);
	rejected_say(st, rejected, 0);
	return rc;
}

/* The settings of feed FD as its format sees them. */
static void
feed_settings(const struct feed *fd, struct rg_feed_settings *s)
{
	memset(s, 0, sizeof(*s));
	s->name = fd->cf.name;
	s->format = fd->cf.format;
	s->subdomains = fd->cf.subdomains;
	s->min_confidence = fd->cf.min_confidence;
	s->default_lifetime_s = fd->cf.default_lifetime_s;
	s->now = (int64_t)time(NULL);
	s->origin = fd->cf.zone;
}

static const struct rg_feed_ops *
feed_ops(const struct feed *fd)
{
	return fd->plugin != NULL ? fd->plugin->plugin->feed : &domains_ops;
}

/* 1 when DATA is something besides white space and comments. */
static int
has_content(const char *data, size_t len)
{
	size_t i = 0;

	while (i < len) {
		while (i < len && (data[i] == ' ' || data[i] == '\t' ||
		    data[i] == '\r'))
			i++;
		if (i < len && data[i] != '\n' && data[i] != '#' &&
		    data[i] != '!' && data[i] != ';')
			return 1;
		while (i < len && data[i] != '\n')
			i++;
		i++;
	}
	return 0;
}

/* Get FD's document if it changed: into JF->new_data, or JF->unchanged,
 * or JF->error. */
static void
feed_fetch(const struct feed *fd, struct job_feed *jf)
{
	const struct rg_conf_feed *c = &fd->cf;
	char token[4096], password[1024];
	int rc;

	jf->asked = 1;
	/* A document handed over: pushed, or a held version accepted. */
	if (jf->push_data != NULL) {
		jf->asked = 0;
		jf->new_data = jf->push_data;
		jf->new_len = jf->push_len;
		jf->push_data = NULL;
		return;
	}
	if (is_push(fd)) {
		jf->asked = 0;
		jf->unchanged = 1;
		return;
	}
	if (is_axfr(fd)) {
		struct rg_xfr_req req;
		struct rg_xfr_res res;
		const char *p = c->source + 7, *slash = strchr(p, '/');
		char primary[128];

		memset(&req, 0, sizeof(req));
		memset(&res, 0, sizeof(res));
		snprintf(primary, sizeof(primary), "%.*s",
		    (int)(slash != NULL ? slash - p : 0), p);
		req.zone = c->zone;
		req.primary = primary;
		req.tsig_name = c->tsig_name;
		req.tsig_algorithm = c->tsig_algorithm;
		req.tsig_secret = c->tsig_secret;
		req.timeout_ms = c->timeout_ms;
		req.max_bytes = c->max_bytes;
		req.old_zone = fd->data;
		req.old_len = fd->len;
		rc = rg_xfr(&req, &res);
		if (rc == RG_XFR_UP_TO_DATE)
			jf->unchanged = 1;
		else if (rc == RG_XFR_NEW) {
			jf->new_data = res.zone;
			jf->new_len = res.len;
			res.zone = NULL;
		} else
			snprintf(jf->error, sizeof(jf->error), "%s",
			    res.error[0] ? res.error : strerror(-rc));
		rg_xfr_res_clear(&res);
		return;
	}
	{
		struct rg_fetch_req req;
		struct rg_fetch_res res;

		memset(&req, 0, sizeof(req));
		memset(&res, 0, sizeof(res));
		if (c->token_file != NULL && rg_read_secret(c->token_file, token,
		    sizeof(token), jf->error, sizeof(jf->error)) < 0)
			return;
		if (c->password_file != NULL && rg_read_secret(c->password_file,
		    password, sizeof(password), jf->error,
		    sizeof(jf->error)) < 0)
			return;
		req.url = c->source;
		req.format = c->format;
		req.ca_file = c->ca_file;
		req.client_cert_file = c->client_cert_file;
		req.client_key_file = c->client_key_file;
		req.spki_pin = c->spki_pin;
		req.bearer_token = c->token_file != NULL ? token : NULL;
		req.username = c->username;
		req.password = c->password_file != NULL ? password : NULL;
		req.proxy = rg_proxy_for(c->source, c->proxy);
		req.hub_key_file = c->hub_key_file;
		req.signature_url = c->signature;
		req.timeout_ms = c->timeout_ms;
		req.max_bytes = c->max_bytes;
		/* Conditional only when the document they describe is held. */
		if (fd->data != NULL) {
			req.etag = fd->cond.etag;
			req.last_modified = fd->cond.last_modified;
			req.taxii_added_last = fd->cond.taxii_added_last;
			req.file_stamp = fd->cond.file_stamp;
			req.old_data = fd->data;
			req.old_len = fd->len;
		}
		rc = rg_fetch(&req, &res);
		explicit_bzero(token, sizeof(token));
		explicit_bzero(password, sizeof(password));
		if (rc == RG_FETCH_NOT_MODIFIED) {
			jf->unchanged = 1;
			jf->cond.file_stamp = res.file_stamp;
			res.file_stamp = NULL;
		} else if (rc == RG_FETCH_NEW) {
			jf->new_data = res.data;
			jf->new_len = res.len;
			res.data = NULL;
			jf->cond.etag = res.etag;
			jf->cond.last_modified = res.last_modified;
			jf->cond.taxii_added_last = res.taxii_added_last;
			jf->cond.file_stamp = res.file_stamp;
			res.etag = res.last_modified = NULL;
			res.taxii_added_last = res.file_stamp = NULL;
		} else
			snprintf(jf->error, sizeof(jf->error), "%s",
			    res.error[0] ? res.error : strerror(-rc));
		rg_fetch_res_clear(&res);
	}
}

/* Check a new document whole before it may replace the good one; its
 * rules stay in JF->rules when it may. */
static int
feed_check(const struct feed *fd, struct job_feed *jf)
{
	const struct rg_feed_stats *st = &jf->stats;
	struct rg_feed_settings s;
	char err[256];
	long rc;

	if (is_directive(fd)) {
		struct rg_directive d, old;

		if (rg_directive_parse(jf->new_data, jf->new_len,
		    (int64_t)time(NULL), &d, jf->error, sizeof(jf->error)) < 0)
			return -1;
		/* A replayed or older directive never undoes a newer one. */
		if (fd->data != NULL && rg_directive_parse(fd->data, fd->len,
		    -1, &old, err, sizeof(err)) == 0 &&
		    d.issued <= old.issued && strcmp(d.id, old.id) != 0) {
			snprintf(jf->error, sizeof(jf->error), "directive %.100s "
			    "is not newer than %.100s, in force", d.id,
			    old.id);
			return -1;
		}
		jf->new_rules = 0;
		return 0;
	}
	/* The parse that checks the document keeps its rules for the
	 * build: it is the only parse of this version. */
	feed_settings(fd, &s);
	rc = rg_feed_rules_parse(feed_ops(fd), &s, fd->action,
	    fd->cf.max_rules, jf->new_data, jf->new_len, &jf->rules,
	    &jf->stats, err, sizeof(err));
	if (rc < 0) {
		snprintf(jf->error, sizeof(jf->error), "%s: %s",
		    fd->cf.format, err[0] ? err : strerror((int)-rc));
		return -1;
	}
	/* Nothing usable in a document that is not empty on purpose. */
	if (rc == 0 && (st->skipped > 0 || (fd->plugin == NULL &&
	    has_content(jf->new_data, jf->new_len)))) {
		snprintf(jf->error, sizeof(jf->error), "no usable rule in it "
		    "(%llu entries skipped%s%.200s)",
		    (unsigned long long)st->skipped, st->first_skip[0] ? ": " :
		    "", st->first_skip);
		return -1;
	}
	jf->new_rules = (uint64_t)rc;
	if ((uint64_t)rc > fd->cf.max_rules) {
		snprintf(jf->error, sizeof(jf->error), "%ld rules, more than "
		    "the feed's max-rules of %llu", rc,
		    (unsigned long long)fd->cf.max_rules);
		return -1;
	}
	/* The sanity of the change: a hub's truncated or emptied list must
	 * not unblock at once what it blocked; an operator accepts it. */
	if (!jf->force && fd->data != NULL && fd->entries >= 100 &&
	    ((fd->cf.max_drop_percent < 100 && (uint64_t)rc * 100 <
	    (uint64_t)fd->entries * (100 - fd->cf.max_drop_percent)) ||
	    (uint64_t)rc > (uint64_t)fd->entries * 10)) {
		jf->held = 1;
		return -1;
	}
	return 0;
}

/* Fetch what is due, check what is new, build from every feed's good
 * version: a new one from the rules its check kept, a kept one parsed. */
#define JOB_NICE	19

/* On the job's own thread: the lowest CPU priority from now on (see
 * job_thread()). */
static void
job_lower_priority(struct job *job)
{
#ifdef __linux__
	/* Linux keeps a nice value per thread. */
	if (job->own_thread)
		(void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid),
		    JOB_NICE);
#else
	(void)job;
#endif
}

/* FD's rules start or stop being valid by NOW (seconds since the epoch):
 * its held document gives other rules than at its last build. */
static int
validity_due(const struct feed *fd, int64_t now)
{
	return fd->data != NULL && fd->stats.next_change != 0 &&
	    fd->stats.next_change <= now;
}

/*
 * Whether the job has a new document to apply, or a feed whose rules
 * changed with the time (STIX validity): without either, a new snapshot
 * would be the one in force, and the checks of unchanged sources (every
 * refresh-s of every feed) would each parse and build every feed again.
 */
static int
job_changes(const struct job *job)
{
	int64_t now = (int64_t)time(NULL);
	size_t i;

	/* New data, or data whose rules change with the time. */
	for (i = 0; i < job->n; i++)
		if (job->jf[i].fetched || validity_due(job->jf[i].fd, now))
			return 1;
	return 0;
}

static void
job_run(struct job *job)
{
	struct rg_feed_settings s;
	struct rg_bl_builder *b;
	char err[256];
	size_t i;
	int idx, rc;
	long added;

	for (i = 0; i < job->n; i++) {
		struct job_feed *jf = &job->jf[i];
		const struct feed *fd = jf->fd;

		if (fd->state == FEED_UNSUPPORTED ||
		    (!jf->fetch && jf->push_data == NULL))
			continue;
		feed_fetch(fd, jf);
	}
	/* The fetches are done at the normal priority, against their time
	 * limits; the parses and the build take what the workers leave. */
	job_lower_priority(job);
	for (i = 0; i < job->n; i++) {
		struct job_feed *jf = &job->jf[i];
		const struct feed *fd = jf->fd;

		/* What was fetched or pushed: feed_fetch() took the push. */
		if (fd->state == FEED_UNSUPPORTED || jf->new_data == NULL)
			continue;
		if (feed_check(fd, jf) < 0) {
			rg_feed_rules_free(jf->rules);
			jf->rules = NULL;
			continue;
		}
		jf->fetched = 1;
		if (job->state_dir != NULL && (rc = feed_persist(job->state_dir,
		    fd, jf->new_data, jf->new_len, &jf->cond)) < 0)
			snprintf(jf->persist_error, sizeof(jf->persist_error),
			    "cannot keep a copy in %s: %s", job->state_dir,
			    strerror(-rc));
	}
	if (!job->must_build && !job_changes(job)) {
		job->skipped = 1;
		return;
	}
	if ((b = rg_bl_builder_new()) == NULL)
		return;
	/* Feed 0: names no feed may block, before every feed so that its
	 * passthru rules win (an exact rule over any wildcard, a longer
	 * wildcard over a shorter one, the first feed for one name). */
	if (rg_bl_builder_feed(b, PROTECT_FEED) != 0)
		goto fail;
	for (i = 0; i < job->n_protect; i++) {
		struct rg_bl_meta meta = { "never blocked: a host resguard "
		    "itself needs", NULL, NULL };
		char wild[300];

		snprintf(wild, sizeof(wild), "*.%s", job->protect[i]);
		if (rg_bl_builder_add_meta(b, job->protect[i],
		    RG_ACTION_PASSTHRU, 0, &meta) == -ENOMEM ||
		    rg_bl_builder_add_meta(b, wild, RG_ACTION_PASSTHRU, 0,
		    &meta) == -ENOMEM)
			goto fail;
	}
	for (i = 0; i < job->n; i++) {
		struct job_feed *jf = &job->jf[i];
		const struct feed *fd = jf->fd;

		if ((idx = rg_bl_builder_feed(b, fd->cf.name)) < 0)
			goto fail;
		if (fd->state == FEED_UNSUPPORTED || is_directive(fd))
			continue;
		if (jf->fetched) {
			rc = rg_feed_rules_build(jf->rules, b, idx,
			    &jf->stats);
			jf->rules = NULL;
			if (rc < 0)
				goto fail;
			continue;
		}
		if (fd->data == NULL)
			continue;
		feed_settings(fd, &s);
		added = rules_parse(feed_ops(fd), &s, fd->action, b, idx, NULL,
		    0, fd->data, fd->len, &jf->stats, err, sizeof(err));
		if (added == -ENOMEM)
			goto fail;
		/* A kept document that no longer parses (a format plugin
		 * changed): its rules are gone, and the feed says why. */
		if (added < 0)
			snprintf(jf->error, sizeof(jf->error), "the kept "
			    "version does not parse: %s", err);
	}
	job->bl = rg_bl_build(b);
	return;
fail:
	rg_bl_builder_free(b);
}

/*
 * The rebuild runs on a thread of its own at the lowest CPU priority.  On
 * a host with few cores it competes with the guard workers, and a worker
 * waiting for a core holds every query it has; niced, the rebuild takes
 * what the workers leave, and a worker that wakes up takes the core from
 * it at once.  A thread of the pool is not niced itself: an unprivileged
 * process could not undo it for the other users of the pool.  The
 * fetches come first, at the normal priority.
 */

static void *
job_thread(void *arg)
{
	struct job *job = arg;

	job->own_thread = 1;
	job_run(job);
	return NULL;
}

/* In the thread pool: the rebuild, on its thread when one can start. */
static void
job_work_cb(uv_work_t *req)
{
	pthread_t t;

	if (pthread_create(&t, NULL, job_thread, req->data) == 0)
		pthread_join(t, NULL);
	else
		job_run(req->data);
}

static json_t *
stats_json(const struct rg_feed_stats *st)
{
	char t[40];

	if (st->next_change > 0)
		rg_time_format((uint64_t)st->next_change * 1000, t, sizeof(t));
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:s?, s:s?}",
	    "skipped", (json_int_t)st->skipped,
	    "unsupported", (json_int_t)st->unsupported,
	    "revoked", (json_int_t)st->revoked,
	    "expired", (json_int_t)st->expired,
	    "low_confidence", (json_int_t)st->low_confidence,
	    "first_skip", st->first_skip[0] ? st->first_skip : NULL,
	    "next_change", st->next_change > 0 ? t : NULL);
}

static void
feed_record(struct rg_feeds *f, struct feed *fd, struct job_feed *jf,
    const struct rg_blocklist *bl, int idx)
{
	char reason[700], oldn[32], newn[32];
	size_t before = fd->entries;

	if (jf->asked)
		fd->checked_wall_ms = rg_clock_wall_ms();
	if (jf->held) {
		free(fd->held_data);
		fd->held_data = jf->new_data;
		fd->held_len = jf->new_len;
		fd->held_rules = jf->new_rules;
		jf->new_data = NULL;
		if (fd->held_rules > (uint64_t)fd->entries)
			snprintf(reason, sizeof(reason), "a new version has "
			    "%llu rules against %zu: more than ten times as "
			    "many; the old rules stay until \"resguardctl feeds "
			    "accept %s\"", (unsigned long long)fd->held_rules,
			    fd->entries, fd->cf.name);
		else
			snprintf(reason, sizeof(reason), "a new version has "
			    "%llu rules against %zu: more than %u %% fewer; "
			    "the old rules stay until \"resguardctl feeds "
			    "accept %s\"", (unsigned long long)fd->held_rules,
			    fd->entries, (unsigned)fd->cf.max_drop_percent,
			    fd->cf.name);
		if (fd->state != FEED_HELD)
			rg_journal_add(f->journal, RG_EVENT_FEED_HELD, 1,
			    fd->cf.name, NULL, NULL, reason, json_pack(
			    "{s:s, s:I, s:I, s:i}", "source", fd->cf.source,
			    "rules_kept", (json_int_t)fd->entries,
			    "rules_held", (json_int_t)fd->held_rules,
			    "max_drop_percent", (int)fd->cf.max_drop_percent));
		fd->state = FEED_HELD;
		snprintf(fd->last_error, sizeof(fd->last_error), "%.500s", reason);
		/* The rules in force were built again from the version kept:
		 * their counts (and when they change next) are this build's. */
		if (bl != NULL && fd->data != NULL) {
			fd->entries = rg_bl_feed_entries(bl, idx);
			fd->stats = jf->stats;
		}
		return;
	}
	if (jf->fetched) {
		free(fd->held_data);
		fd->held_data = NULL;
		fd->held_len = 0;
		free(fd->data);
		fd->data = jf->new_data;
		fd->len = jf->new_len;
		jf->new_data = NULL;
		doc_version(fd->data, fd->len, fd->version);
		cond_clear(&fd->cond);
		fd->cond = jf->cond;
		memset(&jf->cond, 0, sizeof(jf->cond));
		fd->state = FEED_OK;
		fd->last_error[0] = '\0';
		fd->updated_wall_ms = rg_clock_wall_ms();
		fd->good_wall_ms = fd->updated_wall_ms;
		fd->entries = rg_bl_feed_entries(bl, idx);
		fd->stats = jf->stats;
		snprintf(oldn, sizeof(oldn), "%zu", before);
		snprintf(newn, sizeof(newn), "%zu", fd->entries);
		snprintf(reason, sizeof(reason), "%zu rules from %s%s",
		    fd->entries, is_push(fd) ? "a push" : fd->cf.source,
		    jf->stats.skipped ? " (entries skipped)" : "");
		rg_journal_add(f->journal, RG_EVENT_FEED_APPLIED, 0, fd->cf.name,
		    oldn, newn, reason, json_pack("{s:s, s:s, s:I, s:I, s:o, "
		    "s:s?}", "format", fd->cf.format, "source", fd->cf.source,
		    "bytes", (json_int_t)fd->len,
		    "skipped_lines", (json_int_t)jf->stats.skipped,
		    "stats", stats_json(&jf->stats),
		    "persist_error", jf->persist_error[0] ?
		    jf->persist_error : NULL));
		if (jf->persist_error[0])
			rg_log_warnx("feeds: %s: %s", fd->cf.name,
			    jf->persist_error);
		if (is_directive(fd) && f->directive_cb != NULL) {
			fd->directive_kept = 0;
			f->directive_cb(f->directive_arg, fd->cf.name,
			    fd->data, fd->len);
		}
		return;
	}
	if (fd->directive_kept && fd->data != NULL) {
		/* The directive kept from before a restart, once. */
		fd->directive_kept = 0;
		if (f->directive_cb != NULL)
			f->directive_cb(f->directive_arg, fd->cf.name,
			    fd->data, fd->len);
	}
	if (jf->unchanged) {
		/* The source says it is the version we hold. */
		if (fd->data != NULL)
			fd->good_wall_ms = rg_clock_wall_ms();
		if (jf->cond.file_stamp != NULL) {
			free(fd->cond.file_stamp);
			fd->cond.file_stamp = jf->cond.file_stamp;
			jf->cond.file_stamp = NULL;
		}
		if (fd->state == FEED_FAILING && fd->data != NULL) {
			fd->state = FEED_OK;
			fd->last_error[0] = '\0';
		}
		/* The source is back to the version in force: what was held
		 * is moot, and must not be accepted by mistake later. */
		if (fd->state == FEED_HELD && fd->data != NULL) {
			free(fd->held_data);
			fd->held_data = NULL;
			fd->held_len = 0;
			fd->state = FEED_OK;
			fd->last_error[0] = '\0';
			rg_journal_add(f->journal, RG_EVENT_FEED_APPLIED, 0,
			    fd->cf.name, NULL, NULL, "the source is back to the "
			    "version in force; the held version is dropped",
			    NULL);
		}
	}
	if (bl != NULL && fd->data != NULL) {
		fd->entries = rg_bl_feed_entries(bl, idx);
		fd->stats = jf->stats;
	}
	if (jf->error[0] == '\0')
		return;
	/* One event per new trouble, not one per refresh. */
	if (fd->state != FEED_FAILING ||
	    strcmp(fd->last_error, jf->error) != 0) {
		snprintf(reason, sizeof(reason), "%.500s; %s", jf->error,
		    fd->data ? "the last good version stays" :
		    "no good version yet");
		rg_journal_add(f->journal, RG_EVENT_FEED_REJECTED, 1,
		    fd->cf.name, NULL, NULL, reason, json_pack("{s:s, s:I}",
		    "source", fd->cf.source, "rules_kept",
		    (json_int_t)fd->entries));
	}
	fd->state = FEED_FAILING;
	snprintf(fd->last_error, sizeof(fd->last_error), "%s", jf->error);
}

static void
job_free(struct job *job)
{
	size_t i;

	for (i = 0; i < job->n; i++) {
		free(job->jf[i].new_data);
		free(job->jf[i].push_data);
		cond_clear(&job->jf[i].cond);
		rg_feed_rules_free(job->jf[i].rules);
	}
	free(job->jf);
	rg_bl_free(job->bl);
	free(job->state_dir);
	for (i = 0; i < job->n_protect; i++)
		free(job->protect[i]);
	free(job->protect);
	free(job);
}

static void
job_after_cb(uv_work_t *req, int status)
{
	struct job *job = req->data;
	struct rg_feeds *f = job->feeds;
	size_t i;

	f->job = NULL;
	if (f->stopping || status < 0) {
		job_free(job);
		if (f->stopping && f->closing == 0 && f->notify_conns == 0)
			feeds_destroy(f);
		return;
	}
	if (job->skipped) {
		/* No document changed: what was checked, failed or held is
		 * recorded; the snapshot in force stays. */
		for (i = 0; i < job->n && i < f->n; i++)
			feed_record(f, &f->feeds[i], &job->jf[i], NULL,
			    (int)i + 1);
		job_free(job);
		goto tail;
	}
	if (job->bl == NULL) {
		f->dirty = 1;
		rg_log_warnx("feeds: cannot build the blocklist: out of memory; "
		    "the current one stays, and the feeds are asked again");
		for (i = 0; i < job->n && i < f->n; i++)
			if (!is_push(&f->feeds[i]))
				f->feeds[i].want_fetch = 1;
		job_free(job);
		goto tail;
	}
	/* The feeds array was not touched while the job ran: rebuilds wait
	 * for each other and reconfiguration waits for the job. */
	for (i = 0; i < job->n && i < f->n; i++)
		feed_record(f, &f->feeds[i], &job->jf[i], job->bl, (int)i + 1);
	rg_log_info("feeds: blocklist of %zu rules published (%zu bytes, "
	    "built in %llu ms)", rg_bl_entries(job->bl), rg_bl_bytes(job->bl),
	    (unsigned long long)(rg_clock_ms() - job->started_ms));
	rg_bl_publish(f->domain, job->bl);
	if (f->publish_cb != NULL)
		f->publish_cb(f->publish_arg, job->bl);
	job->bl = NULL;
	rg_bl_reclaim(f->domain);
	job_free(job);
tail:
	for (i = 0; i < f->n; i++)
		if (f->feeds[i].fetch_later) {
			f->feeds[i].fetch_later = 0;
			f->feeds[i].want_fetch = 1;
			f->again = 1;
		}
	if (f->pending != NULL) {
		const struct rg_conf *c = f->pending;

		f->pending = NULL;
		f->again = 0;
		rg_feeds_configure(f, c);
	} else if (f->again) {
		f->again = 0;
		feeds_rebuild(f);
	}
}

static void
feeds_rebuild(struct rg_feeds *f)
{
	struct job *job;
	size_t i;

	if (f->stopping)
		return;
	if (f->job != NULL) {
		f->again = 1;
		return;
	}
	if ((job = calloc(1, sizeof(*job))) == NULL ||
	    (f->n > 0 && (job->jf = calloc(f->n, sizeof(*job->jf))) == NULL)) {
		free(job);
		rg_log_warnx("feeds: out of memory");
		return;
	}
	job->req.data = job;
	job->feeds = f;
	job->state_dir = f->state_dir ? strdup(f->state_dir) : NULL;
	if (f->n_protect > 0 && (job->protect = calloc(f->n_protect,
	    sizeof(char *))) != NULL)
		for (i = 0; i < f->n_protect; i++)
			if ((job->protect[job->n_protect] =
			    strdup(f->protect[i])) != NULL)
				job->n_protect++;
	job->n = f->n;
	job->started_ms = rg_clock_ms();
	job->must_build = f->dirty;
	f->dirty = 0;
	pthread_mutex_lock(&f->push_lock);
	for (i = 0; i < f->n; i++) {
		struct feed *fd = &f->feeds[i];

		job->jf[i].fd = fd;
		job->jf[i].fetch = fd->want_fetch;
		job->jf[i].force = fd->force && fd->push_data != NULL;
		fd->force = 0;
		job->jf[i].push_data = fd->push_data;
		job->jf[i].push_len = fd->push_len;
		fd->push_data = NULL;
		fd->want_fetch = 0;
	}
	pthread_mutex_unlock(&f->push_lock);
	f->job = job;
	if (uv_queue_work(f->loop, &job->req, job_work_cb,
	    job_after_cb) < 0) {
		f->job = NULL;
		job_free(job);
	}
}

static void
timer_cb(uv_timer_t *t)
{
	struct rg_feeds *f = t->data;
	uint64_t now = rg_clock_ms();
	int64_t wall = (int64_t)time(NULL);
	size_t i;
	int due = 0;

	for (i = 0; i < f->n; i++) {
		struct feed *fd = &f->feeds[i];

		/* Rules that start or stop being valid now: built again
		 * from the document held, whatever the source says; but
		 * not more often than every VALIDITY_GAP_MS, as a bundle
		 * may have an indicator change every second. */
		if (validity_due(fd, wall) && (f->validity_build_ms == 0 ||
		    now >= f->validity_build_ms + VALIDITY_GAP_MS)) {
			f->validity_build_ms = now;
			due = 1;
		}
		if (fd->state == FEED_UNSUPPORTED || is_push(fd) ||
		    now < fd->next_check_ms)
			continue;
		/* A failing source is asked again sooner, but not in a
		 * tight loop: at most every refresh-s, at least every 10 s. */
		fd->next_check_ms = now + fd->cf.refresh_s * 1000ULL;
		fd->want_fetch = 1;
		due = 1;
	}
	if (due)
		feeds_rebuild(f);
}

static void
push_async_cb(uv_async_t *a)
{
	feeds_rebuild(a->data);
}

/* NOTIFY (RFC 1996) from an RPZ feed's primary: transfer at once. */
static void
notify_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	static char mem[4096];

	(void)h;
	(void)suggested;
	buf->base = mem;
	buf->len = sizeof(mem);
}

static void
notify_send_cb(uv_udp_send_t *req, int status)
{
	(void)status;
	free(req);
}

/* Judge MSG from FROM against the feeds by transfer; the reply in OUT. */
static void
notify_judge(struct rg_feeds *f, const uint8_t *msg, size_t len,
    const struct sockaddr *from, uint8_t *out, size_t cap, size_t *out_len)
{
	struct rg_notify_zone zones[64];
	static char primaries[64][128];
	char err[256] = "";
	size_t nz = 0, i;
	int idx;

	for (i = 0; i < f->n && nz < 64; i++) {
		const struct feed *fd = &f->feeds[i];
		const char *p, *slash;

		if (!is_axfr(fd) || fd->cf.zone == NULL)
			continue;
		p = fd->cf.source + 7;
		slash = strchr(p, '/');
		snprintf(primaries[nz], sizeof(primaries[nz]), "%.*s",
		    (int)(slash != NULL ? slash - p : 0), p);
		zones[nz].feed = fd->cf.name;
		zones[nz].zone = fd->cf.zone;
		zones[nz].primary = primaries[nz];
		zones[nz].tsig_name = fd->cf.tsig_name;
		zones[nz].tsig_algorithm = fd->cf.tsig_algorithm;
		zones[nz].tsig_secret = fd->cf.tsig_secret;
		nz++;
	}
	*out_len = 0;
	idx = rg_notify_check(msg, len, from, zones, nz, out, cap, out_len,
	    err, sizeof(err));
	if (idx >= 0) {
		rg_log_info("feeds: NOTIFY for %s: transfer now",
		    zones[idx].zone);
		rg_feeds_refresh(f, zones[idx].feed);
	} else if (err[0] != '\0')
		rg_log_info("feeds: NOTIFY refused: %s", err);
}

static void
notify_recv_cb(uv_udp_t *u, ssize_t nread, const uv_buf_t *buf,
    const struct sockaddr *from, unsigned flags)
{
	struct rg_feeds *f = u->data;
	struct {
		uv_udp_send_t req;
		uint8_t out[1024];
	} *s;
	size_t out_len = 0;
	uv_buf_t b;

	(void)flags;
	if (nread <= 0 || from == NULL || f->stopping)
		return;
	if ((s = malloc(sizeof(*s))) == NULL)
		return;
	notify_judge(f, (const uint8_t *)buf->base, (size_t)nread, from, s->out,
	    sizeof(s->out), &out_len);
	if (out_len == 0) {
		free(s);
		return;
	}
	b = uv_buf_init((char *)s->out, (unsigned)out_len);
	if (uv_udp_send(&s->req, u, &b, 1, from, notify_send_cb) < 0)
		free(s);
}

/*
 * NOTIFY over TCP (Knot sends it so): one length-prefixed message a
 * connection, answered, then closed; bounded in time and in number.
 */
struct notify_conn {
	struct notify_conn *next, **prevp;
	uv_tcp_t tcp;
	uv_timer_t timer;
	uv_write_t wr;
	struct rg_feeds *f;
	struct sockaddr_storage peer;
	uint8_t in[2 + 1024];
	size_t have;
	uint8_t out[2 + 1024];
	int closing;
};

static void
notify_conn_closed_cb(uv_handle_t *h)
{
	struct notify_conn *c = h->data;

	struct rg_feeds *f = c->f;

	/* Both handles share the struct: the second close frees it. */
	if (++c->closing < 2)
		return;
	if ((*c->prevp = c->next) != NULL)
		c->next->prevp = c->prevp;
	free(c);
	if (--f->notify_conns == 0 && f->stopping && f->closing == 0 &&
	    f->job == NULL)
		feeds_destroy(f);
}

static void
notify_conn_close(struct notify_conn *c)
{
	if (uv_is_closing((uv_handle_t *)&c->tcp))
		return;
	uv_close((uv_handle_t *)&c->tcp, notify_conn_closed_cb);
	uv_close((uv_handle_t *)&c->timer, notify_conn_closed_cb);
}

static void
notify_conn_timer_cb(uv_timer_t *t)
{
	notify_conn_close(t->data);
}

static void
notify_conn_written_cb(uv_write_t *w, int status)
{
	(void)status;
	notify_conn_close(w->data);
}

static void
notify_conn_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct notify_conn *c = h->data;

	(void)suggested;
	buf->base = (char *)c->in + c->have;
	buf->len = sizeof(c->in) - c->have;
}

static void
notify_conn_read_cb(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
	struct notify_conn *c = st->data;
	size_t need, out_len = 0;
	uv_buf_t b;

	(void)buf;
	if (nread < 0 || c->f->stopping) {
		notify_conn_close(c);
		return;
	}
	c->have += (size_t)nread;
	if (c->have < 2)
		return;
	need = 2 + ((size_t)c->in[0] << 8 | c->in[1]);
	if (need > sizeof(c->in)) {
		notify_conn_close(c);
		return;
	}
	if (c->have < need)
		return;
	uv_read_stop(st);
	notify_judge(c->f, c->in + 2, need - 2, (struct sockaddr *)&c->peer,
	    c->out + 2, sizeof(c->out) - 2, &out_len);
	if (out_len == 0) {
		notify_conn_close(c);
		return;
	}
	c->out[0] = (uint8_t)(out_len >> 8);
	c->out[1] = (uint8_t)out_len;
	b = uv_buf_init((char *)c->out, (unsigned)(out_len + 2));
	c->wr.data = c;
	if (uv_write(&c->wr, st, &b, 1, notify_conn_written_cb) < 0)
		notify_conn_close(c);
}

static void
notify_accept_cb(uv_stream_t *server, int status)
{
	struct rg_feeds *f = server->data;
	struct notify_conn *c;
	int len = sizeof(c->peer);

	if (status < 0 || f->stopping || (c = calloc(1, sizeof(*c))) == NULL)
		return;
	c->f = f;
	uv_tcp_init(f->loop, &c->tcp);
	uv_timer_init(f->loop, &c->timer);
	c->tcp.data = c->timer.data = c;
	f->notify_conns++;
	if ((c->next = f->conns) != NULL)
		c->next->prevp = &c->next;
	f->conns = c;
	c->prevp = &f->conns;
	if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0 ||
	    f->notify_conns > NOTIFY_TCP_CONNS ||
	    uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&c->peer,
	    &len) < 0) {
		notify_conn_close(c);
		return;
	}
	uv_timer_start(&c->timer, notify_conn_timer_cb, NOTIFY_TCP_TIMEOUT_MS,
	    0);
	uv_read_start((uv_stream_t *)&c->tcp, notify_conn_alloc_cb,
	    notify_conn_read_cb);
}

static void
handle_closed_cb(uv_handle_t *h)
{
	struct rg_feeds *f = h->data;

	/* A rebuild still in the thread pool reads the feeds' data: the
	 * last of them all to finish frees them. */
	if (--f->closing == 0 && f->job == NULL && f->notify_conns == 0)
		feeds_destroy(f);
}

struct rg_feeds *
rg_feeds_new(uv_loop_t *loop, struct rg_journal *j,
    struct rg_bl_domain *domain)
{
	struct rg_feeds *f;

	if ((f = calloc(1, sizeof(*f))) == NULL)
		return NULL;
	f->loop = loop;
	f->journal = j;
	f->domain = domain;
	pthread_mutex_init(&f->push_lock, NULL);
	uv_timer_init(loop, &f->timer);
	f->timer.data = f;
	/* Each feed is only looked at every refresh-s. */
	uv_timer_start(&f->timer, timer_cb, 1000, 1000);
	uv_unref((uv_handle_t *)&f->timer);
	uv_async_init(loop, &f->push_async, push_async_cb);
	f->push_async.data = f;
	uv_unref((uv_handle_t *)&f->push_async);
	rg_fetch_global_init();
	return f;
}

int
rg_feeds_notify_open(char *const *listen, size_t n, int *fds, char *err,
    size_t err_len)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	size_t i, k;
	int one = 1, type, fd, rc;

	for (i = 0; i < 2 * n; i++)
		fds[i] = -1;
	for (i = 0; i < n && i < NOTIFY_MAX_SOCKETS; i++) {
		if (rg_conf_parse_addr(listen[i], 53, &ss, &sl) < 0) {
			snprintf(err, err_len, "notify-listen %s: not an "
			    "address", listen[i]);
			rc = -EINVAL;
			goto fail;
		}
		for (k = 0; k < 2; k++) {
			type = k == 0 ? SOCK_DGRAM : SOCK_STREAM;
			if ((fd = socket(ss.ss_family, type | SOCK_NONBLOCK |
			    SOCK_CLOEXEC, 0)) < 0 ||
			    (type == SOCK_STREAM && setsockopt(fd, SOL_SOCKET,
			    SO_REUSEADDR, &one, sizeof(one)) < 0) ||
			    bind(fd, (struct sockaddr *)&ss, sl) < 0) {
				rc = -errno;
				snprintf(err, err_len, "notify-listen %s "
				    "(%s): %s", listen[i], k == 0 ? "udp" :
				    "tcp", strerror(errno));
				if (fd >= 0)
					close(fd);
				goto fail;
			}
			fds[2 * i + k] = fd;
		}
	}
	return 0;
fail:
	for (i = 0; i < 2 * n; i++)
		if (fds[i] >= 0) {
			close(fds[i]);
			fds[i] = -1;
		}
	return rc;
}

int
rg_feeds_listen_notify(struct rg_feeds *f, char *const *listen, size_t n,
    int *fds, char *err, size_t err_len)
{
	size_t i;
	int rc;

	for (i = 0; i < n && i < NOTIFY_MAX_SOCKETS; i++) {
		uv_udp_t *u = &f->notify[f->n_notify];
		uv_tcp_t *t = &f->notify_tcp[f->n_notify_tcp];

		uv_udp_init(f->loop, u);
		u->data = f;
		f->n_notify++;
		if ((rc = uv_udp_open(u, fds[2 * i])) < 0 ||
		    (rc = uv_udp_recv_start(u, notify_alloc_cb,
		    notify_recv_cb)) < 0) {
			snprintf(err, err_len, "notify-listen %s: %s",
			    listen[i], uv_strerror(rc));
			return rc;
		}
		fds[2 * i] = -1;
		uv_tcp_init(f->loop, t);
		t->data = f;
		f->n_notify_tcp++;
		if ((rc = uv_tcp_open(t, fds[2 * i + 1])) < 0 ||
		    (rc = uv_listen((uv_stream_t *)t, 16,
		    notify_accept_cb)) < 0) {
			snprintf(err, err_len, "notify-listen %s (tcp): %s",
			    listen[i], uv_strerror(rc));
			return rc;
		}
		fds[2 * i + 1] = -1;
		rg_log_info("feeds: NOTIFY accepted on %s (udp and tcp)",
		    listen[i]);
	}
	return 0;
}

/* The host of URL (scheme://[user@]host[:port]/...) into BUF, lowercased,
 * when it is a name (not an address literal); else "". */
static void
url_host(const char *url, char *buf, size_t len)
{
	const char *p, *e, *at;
	struct in6_addr a6;
	struct in_addr a4;
	size_t n, i;

	buf[0] = '\0';
	if (url == NULL || (p = strstr(url, "://")) == NULL)
		return;
	p += 3;
	e = p + strcspn(p, "/?#");
	if ((at = memchr(p, '@', (size_t)(e - p))) != NULL)
		p = at + 1;
	if (*p == '[')
		return;
	n = strcspn(p, ":/?#");
	if (n == 0 || n >= len)
		return;
	for (i = 0; i < n; i++)
		buf[i] = (char)tolower((unsigned char)p[i]);
	buf[n] = '\0';
	if (inet_pton(AF_INET, buf, &a4) == 1 ||
	    inet_pton(AF_INET6, buf, &a6) == 1)
		buf[0] = '\0';
}

static void
protect_add(struct rg_feeds *f, const char *name)
{
	char buf[256], **v;
	size_t n, i;

	if (name == NULL || name[0] == '\0')
		return;
	snprintf(buf, sizeof(buf), "%s", name);
	if ((n = strlen(buf)) > 1 && buf[n - 1] == '.')
		buf[n - 1] = '\0';
	for (i = 0; buf[i] != '\0'; i++)
		buf[i] = (char)tolower((unsigned char)buf[i]);
	for (i = 0; i < f->n_protect; i++)
		if (strcmp(f->protect[i], buf) == 0)
			return;
	if ((v = reallocarray(f->protect, f->n_protect + 1,
	    sizeof(*v))) == NULL)
		return;
	f->protect = v;
	if ((f->protect[f->n_protect] = strdup(buf)) != NULL)
		f->n_protect++;
}

static void
protect_clear(struct rg_feeds *f)
{
	size_t i;

	for (i = 0; i < f->n_protect; i++)
		free(f->protect[i]);
	free(f->protect);
	f->protect = NULL;
	f->n_protect = 0;
}

/* The names no feed may block: what the agent itself must resolve or
 * reach by name. */
static void
protect_set(struct rg_feeds *f, const struct rg_conf *conf)
{
	char host[256];
	size_t i, j;

	protect_clear(f);
	for (i = 0; i < conf->n_pools; i++)
		for (j = 0; j < conf->pools[i].n_upstreams; j++)
			protect_add(f, conf->pools[i].upstreams[j].tls_name);
	for (i = 0; i < conf->n_feeds; i++) {
		url_host(conf->feeds[i].source, host, sizeof(host));
		protect_add(f, host);
		url_host(conf->feeds[i].signature, host, sizeof(host));
		protect_add(f, host);
	}
	for (i = 0; i < conf->n_reports; i++) {
		url_host(conf->reports[i].url, host, sizeof(host));
		protect_add(f, host);
	}
}

static void
feed_clear(struct feed *fd)
{
	cf_free(&fd->cf);
	free(fd->data);
	free(fd->push_data);
	free(fd->held_data);
	cond_clear(&fd->cond);
	rg_plugin_close(fd->plugin);
}

void
rg_feeds_configure(struct rg_feeds *f, const struct rg_conf *conf)
{
	struct feed *nf = NULL, *old_feeds;
	const char *auth[3];
	char err[512];
	size_t i, j, old_n;
	int act, fa;

	if (f->job != NULL) {
		/* The rebuild in flight holds pointers into the current
		 * array: configure when it is done. */
		f->pending = conf;
		return;
	}
	act = rg_action_parse(conf->policy_action ? conf->policy_action :
	    "nxdomain");
	free(f->state_dir);
	f->state_dir = conf->state_dir ? strdup(conf->state_dir) : NULL;
	protect_set(f, conf);
	if (conf->n_feeds > 0 &&
	    (nf = calloc(conf->n_feeds, sizeof(*nf))) == NULL) {
		rg_log_warnx("feeds: out of memory; feeds unchanged");
		return;
	}
	/* Every copy first: running out of memory leaves the feeds as they
	 * were, before any data moves to the new array. */
	for (i = 0; i < conf->n_feeds; i++)
		if (cf_copy(&nf[i].cf, &conf->feeds[i]) < 0) {
			while (i-- > 0)
				cf_free(&nf[i].cf);
			free(nf);
			rg_log_warnx("feeds: out of memory; feeds unchanged");
			return;
		}
	for (i = 0; i < conf->n_feeds; i++) {
		const struct rg_conf_feed *cf = &conf->feeds[i];
		struct feed *fd = &nf[i];

		fa = cf->action != NULL ? rg_action_parse(cf->action) : act;
		fd->action = fa < 0 ? RG_ACTION_NXDOMAIN : (enum rg_action)fa;
		fd->want_fetch = !is_push(fd);
		fd->since_wall_ms = rg_clock_wall_ms();
		if (feed_auth(cf, auth) == 0 && !rg_url_local(cf->source,
		    cf->proxy))
			rg_log_warnx("feeds: %s: nothing authenticates %s (no "
			    "TLS, TSIG or hub-key-file): anyone on the path "
			    "can change its rules", cf->name, cf->source);
		if (strcmp(cf->format, "domains") != 0 &&
		    strcmp(cf->format, "directive") != 0 &&
		    (fd->plugin = rg_plugin_open(RG_PLUGIN_FEED, cf->format,
		    err, sizeof(err))) == NULL) {
			fd->state = FEED_UNSUPPORTED;
			fd->want_fetch = 0;
			snprintf(fd->last_error, sizeof(fd->last_error),
			    "format \"%s\": %.400s", cf->format, err);
			continue;
		}
		if (fd->plugin != NULL && fd->plugin->plugin->feed == NULL) {
			fd->state = FEED_UNSUPPORTED;
			fd->want_fetch = 0;
			snprintf(fd->last_error, sizeof(fd->last_error),
			    "%s is not a feed format plugin",
			    fd->plugin->path);
			continue;
		}
		for (j = 0; j < f->n; j++) {
			struct feed *old = &f->feeds[j];

			if (!cf_same_source(&old->cf, cf))
				continue;
			/* Waiting for its first document since then. */
			fd->since_wall_ms = old->since_wall_ms;
			if (old->data == NULL && old->push_data == NULL &&
			    old->held_data == NULL)
				continue;
			/* Same feed: keep its data, and let the refresh
			 * timer decide about a new fetch. */
			fd->data = old->data;
			fd->len = old->len;
			fd->cond = old->cond;
			memset(&old->cond, 0, sizeof(old->cond));
			fd->state = old->state;
			fd->entries = old->entries;
			fd->stats = old->stats;
			fd->updated_wall_ms = old->updated_wall_ms;
			memcpy(fd->version, old->version, sizeof(fd->version));
			fd->checked_wall_ms = old->checked_wall_ms;
			fd->good_wall_ms = old->good_wall_ms;
			fd->since_wall_ms = old->since_wall_ms;
			memcpy(fd->last_error, old->last_error,
			    sizeof(fd->last_error));
			old->data = NULL;
			/* A push not yet taken and a version held back stay
			 * with the feed. */
			pthread_mutex_lock(&f->push_lock);
			fd->push_data = old->push_data;
			fd->push_len = old->push_len;
			old->push_data = NULL;
			pthread_mutex_unlock(&f->push_lock);
			fd->held_data = old->held_data;
			fd->held_len = old->held_len;
			fd->held_rules = old->held_rules;
			old->held_data = NULL;
			fd->want_fetch = 0;
			fd->next_check_ms = old->next_check_ms;
		}
		if (fd->data == NULL && f->state_dir != NULL) {
			feed_restore(f->state_dir, fd);
			fd->directive_kept = fd->data != NULL &&
			    is_directive(fd);
			/* Protect with the kept version at once; ask the
			 * source in the next rebuild, which may take up to
			 * its time-out. */
			if (fd->data != NULL && fd->want_fetch) {
				fd->want_fetch = 0;
				fd->fetch_later = 1;
			}
		}
	}
	pthread_mutex_lock(&f->push_lock);
	old_feeds = f->feeds;
	old_n = f->n;
	f->feeds = nf;
	f->n = conf->n_feeds;
	pthread_mutex_unlock(&f->push_lock);
	for (j = 0; j < old_n; j++)
		feed_clear(&old_feeds[j]);
	free(old_feeds);
	/* The feeds, their actions or the protected names may differ. */
	f->dirty = 1;
	feeds_rebuild(f);
}

void
rg_feeds_on_directive(struct rg_feeds *f, rg_feeds_directive_cb *cb,
    void *arg)
{
	f->directive_cb = cb;
	f->directive_arg = arg;
}

void
rg_feeds_on_publish(struct rg_feeds *f, rg_feeds_publish_cb *cb, void *arg)
{
	f->publish_cb = cb;
	f->publish_arg = arg;
}

int
rg_feeds_refresh(struct rg_feeds *f, const char *name)
{
	size_t i;
	int found = 0;

	for (i = 0; i < f->n; i++)
		if (name == NULL || strcmp(f->feeds[i].cf.name, name) == 0) {
			if (f->feeds[i].state != FEED_UNSUPPORTED &&
			    !is_push(&f->feeds[i]))
				f->feeds[i].want_fetch = 1;
			found = 1;
		}
	if (!found && name != NULL)
		return -ENOENT;
	feeds_rebuild(f);
	return 0;
}

int
rg_feeds_accept(struct rg_feeds *f, const char *name)
{
	struct feed *fd = NULL;
	size_t i;

	for (i = 0; i < f->n; i++)
		if (strcmp(f->feeds[i].cf.name, name) == 0)
			fd = &f->feeds[i];
	if (fd == NULL)
		return -ENOENT;
	if (fd->held_data == NULL)
		return -EALREADY;
	pthread_mutex_lock(&f->push_lock);
	free(fd->push_data);
	fd->push_data = fd->held_data;
	fd->push_len = fd->held_len;
	fd->force = 1;
	pthread_mutex_unlock(&f->push_lock);
	fd->held_data = NULL;
	fd->held_len = 0;
	feeds_rebuild(f);
	return 0;
}

unsigned
rg_feeds_push(struct rg_feeds *f, const char *name, const char *data,
    size_t len, const char *sig, size_t sig_len, char *msg, size_t msg_len)
{
	struct feed *fd = NULL;
	char key[4096] = "", err[256];
	uint64_t max = 0;
	unsigned code = 202;
	char *copy;
	size_t i;
	int rc;

	pthread_mutex_lock(&f->push_lock);
	for (i = 0; i < f->n; i++)
		if (strcmp(f->feeds[i].cf.name, name) == 0)
			fd = &f->feeds[i];
	if (fd == NULL) {
		snprintf(msg, msg_len, "no feed named \"%.100s\"", name);
		code = 404;
	} else if (!is_push(fd)) {
		snprintf(msg, msg_len, "feed \"%.100s\" is not pushed (its "
		    "source is %.200s)", name, fd->cf.source);
		code = 409;
	} else if (fd->plugin == NULL && strcmp(fd->cf.format, "domains") != 0 &&
	    strcmp(fd->cf.format, "directive") != 0) {
		/* Set at configure, before the array is published: safe
		 * here, unlike the state the loop changes. */
		snprintf(msg, msg_len, "feed \"%.100s\": format \"%.64s\" is "
		    "not available", name, fd->cf.format);
		code = 503;
	} else {
		max = fd->cf.max_bytes;
		if (fd->cf.hub_key_file != NULL)
			snprintf(key, sizeof(key), "%s", fd->cf.hub_key_file);
	}
	pthread_mutex_unlock(&f->push_lock);
	if (code != 202)
		return code;
	if (len > max) {
		snprintf(msg, msg_len, "%zu bytes, more than the feed's limit "
		    "of %llu", len, (unsigned long long)max);
		return 413;
	}
	/* The signature is checked here, so that the hub hears about it. */
	if (key[0] != '\0') {
		if (sig == NULL || sig_len == 0) {
			snprintf(msg, msg_len, "feed \"%.100s\" requires a "
			    "signature (X-Resguard-Signature)", name);
			return 403;
		}
		if ((rc = rg_sig_verify(key, data, len, sig, sig_len, err,
		    sizeof(err))) < 0) {
			snprintf(msg, msg_len, "signature: %s", rc == -EBADMSG ?
			    "does not verify with the hub's key" : err);
			return rc == -EBADMSG ? 403 : 400;
		}
	}
	if ((copy = malloc(len + 1)) == NULL) {
		snprintf(msg, msg_len, "out of memory");
		return 503;
	}
	memcpy(copy, data, len);
	copy[len] = '\0';
	pthread_mutex_lock(&f->push_lock);
	fd = NULL;
	for (i = 0; i < f->n; i++)
		if (strcmp(f->feeds[i].cf.name, name) == 0 &&
		    is_push(&f->feeds[i]))
			fd = &f->feeds[i];
	if (fd != NULL) {
		/* A newer push replaces one not yet taken, an accepted held
		 * version too: it gets the checks again. */
		free(fd->push_data);
		fd->push_data = copy;
		fd->push_len = len;
		fd->force = 0;
		copy = NULL;
	}
	pthread_mutex_unlock(&f->push_lock);
	if (copy != NULL) {
		free(copy);
		snprintf(msg, msg_len, "feed \"%.100s\" went away", name);
		return 404;
	}
	uv_async_send(&f->push_async);
	snprintf(msg, msg_len, "%zu bytes accepted for feed \"%.100s\"; see "
	    "its state for the outcome", len, name);
	return 202;
}

json_t *
rg_feeds_json(const struct rg_feeds *f)
{
	json_t *arr = json_array(), *o, *a;
	const char *auth[3];
	char when[40], checked[40], next[40];
	uint64_t mono = rg_clock_ms(), wall = rg_clock_wall_ms(), age;
	size_t i, k, n;

	for (i = 0; i < f->n; i++) {
		const struct feed *fd = &f->feeds[i];

		rg_time_format(fd->updated_wall_ms, when, sizeof(when));
		rg_time_format(fd->checked_wall_ms, checked, sizeof(checked));
		rg_time_format(wall + (fd->next_check_ms > mono ?
		    fd->next_check_ms - mono : 0), next, sizeof(next));
		json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s, "
		    "s:I, s:I, s:s?, s:s?, s:s?, s:I, s:o, s:o}",
		    "name", fd->cf.name, "format", fd->cf.format,
		    "source", fd->cf.source, "state", feed_state_str[fd->state],
		    "entries", (json_int_t)fd->entries,
		    "skipped_lines", (json_int_t)fd->stats.skipped,
		    "updated", fd->updated_wall_ms ? when : NULL,
		    "checked", fd->checked_wall_ms ? checked : NULL,
		    "last_error", fd->last_error[0] ? fd->last_error : NULL,
		    "bytes", (json_int_t)fd->len,
		    "stats", stats_json(&fd->stats),
		    "held_rules", fd->held_data != NULL ?
		    json_integer((json_int_t)fd->held_rules) : json_null()));
		o = json_array_get(arr, json_array_size(arr) - 1);
		json_object_set_new(o, "version", fd->version[0] ?
		    json_string(fd->version) : json_null());
		json_object_set_new(o, "etag", fd->cond.etag != NULL ?
		    json_string(fd->cond.etag) : json_null());
		rg_time_format(fd->good_wall_ms, when, sizeof(when));
		json_object_set_new(o, "last_good", fd->good_wall_ms ?
		    json_string(when) : json_null());
		json_object_set_new(o, "stale", json_boolean(feed_stale(fd,
		    wall, &age)));
		n = feed_auth(&fd->cf, auth);
		a = json_array();
		for (k = 0; k < n; k++)
			json_array_append_new(a, json_string(auth[k]));
		json_object_set_new(o, "authenticated_by", a);
		json_object_set_new(o, "next_check", is_push(fd) ||
		    fd->state == FEED_UNSUPPORTED ? json_null() :
		    json_string(next));
	}
	return arr;
}

int
rg_feeds_warning(const struct rg_feeds *f, char *summary, size_t len)
{
	uint64_t now = rg_clock_wall_ms(), age;
	size_t i;

	for (i = 0; i < f->n; i++) {
		const struct feed *fd = &f->feeds[i];

		if (fd->state == FEED_FAILING || fd->state == FEED_UNSUPPORTED ||
		    fd->state == FEED_HELD) {
			snprintf(summary, len, "feed \"%s\" is %s: %s",
			    fd->cf.name, feed_state_str[fd->state],
			    fd->last_error);
			return 1;
		}
	}
	for (i = 0; i < f->n; i++) {
		const struct feed *fd = &f->feeds[i];

		if (!feed_stale(fd, now, &age))
			continue;
		if (fd->good_wall_ms != 0)
			snprintf(summary, len, "feed \"%s\" is stale: its "
			    "source last gave or confirmed its document %llu s "
			    "ago (stale-after-s %u)", fd->cf.name,
			    (unsigned long long)(age / 1000),
			    (unsigned)fd->cf.stale_after_s);
		else
			snprintf(summary, len, "feed \"%s\" is stale: no "
			    "good document in %llu s (stale-after-s %u)",
			    fd->cf.name, (unsigned long long)(age / 1000),
			    (unsigned)fd->cf.stale_after_s);
		return 1;
	}
	return 0;
}

static void
feeds_destroy(struct rg_feeds *f)
{
	size_t i;

	for (i = 0; i < f->n; i++)
		feed_clear(&f->feeds[i]);
	free(f->feeds);
	free(f->state_dir);
	protect_clear(f);
	pthread_mutex_destroy(&f->push_lock);
	free(f);
}

void
rg_feeds_free(struct rg_feeds *f)
{
	struct notify_conn *c;
	size_t i;

	if (f == NULL)
		return;
	f->stopping = 1;
	rg_fetch_abort_all();
	f->closing = 2 + (int)f->n_notify + (int)f->n_notify_tcp;
	uv_close((uv_handle_t *)&f->timer, handle_closed_cb);
	uv_close((uv_handle_t *)&f->push_async, handle_closed_cb);
	for (i = 0; i < f->n_notify; i++)
		uv_close((uv_handle_t *)&f->notify[i], handle_closed_cb);
	for (i = 0; i < f->n_notify_tcp; i++)
		uv_close((uv_handle_t *)&f->notify_tcp[i], handle_closed_cb);
	for (c = f->conns; c != NULL; c = c->next)
		notify_conn_close(c);
}
