/*
 * spool.c -- one directory per reporter, one file per report.
 *
 * A report is serialised once into DIR/.incoming/SEQ.tmp, synced, and
 * hard-linked into each reporter's directory as SEQ.K.json (K: e event,
 * s status, g sighting), then the temporary name is removed and each
 * directory synced.  Sequence numbers grow across restarts (the largest on
 * disk plus one), so names sort by age.  Each queue keeps an index in
 * memory (sequence, kind, size) built by scanning its directory at open.
 * Drop counters live in DIR/NAME/dropped.json, rewritten atomically.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "journal.h"
#include "log.h"
#include "spool.h"

const char *const rg_report_kind_str[] = {
	[RG_REPORT_EVENT] = "event",
	[RG_REPORT_STATUS] = "status",
	[RG_REPORT_SIGHTING] = "sighting",
};
static const char kind_letter[] = { 'e', 's', 'g' };

struct entry {
	uint64_t seq;
	enum rg_report_kind kind;
	uint64_t size;
};

struct queue {
	char *name;
	char *dir;
	struct entry *e;	/* sorted by seq */
	size_t n, cap;
	uint64_t bytes;
	uint64_t delivered;
	uint64_t dropped[RG_REPORT_KIND_COUNT];
	uint64_t unreadable;
};

struct rg_spool {
	char *dir;
	char *incoming;
	struct queue *q;
	size_t nq;
	uint64_t limit;
	uint64_t seq;
};

static int
dir_sync(const char *dir)
{
	int fd, rc = 0;

	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return -errno;
	if (fsync(fd) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

static int
write_file_sync(const char *path, const char *data, size_t len)
{
	ssize_t w;
	int fd, rc = 0;

	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0640)) < 0)
		return -errno;
	while (len > 0) {
		if ((w = write(fd, data, len)) < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			break;
		}
		data += w;
		len -= (size_t)w;
	}
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	return rc;
}

static char *
entry_path(const struct queue *q, const struct entry *e, const char *suffix)
{
	char *p;

	if (asprintf(&p, "%s/%016" PRIx64 ".%c.json%s", q->dir, e->seq,
	    kind_letter[e->kind], suffix) < 0)
		return NULL;
	return p;
}

static void
drops_save(const struct queue *q)
{
	char *path = NULL, *tmp = NULL, *text;
	json_t *o;

	o = json_pack("{s:I, s:I, s:I, s:I}",
	    "event", (json_int_t)q->dropped[RG_REPORT_EVENT],
	    "status", (json_int_t)q->dropped[RG_REPORT_STATUS],
	    "sighting", (json_int_t)q->dropped[RG_REPORT_SIGHTING],
	    "unreadable", (json_int_t)q->unreadable);
	text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (text == NULL || asprintf(&path, "%s/dropped.json", q->dir) < 0 ||
	    asprintf(&tmp, "%s/dropped.json.tmp", q->dir) < 0)
		goto out;
	if (write_file_sync(tmp, text, strlen(text)) < 0 ||
	    rename(tmp, path) < 0)
		rg_log_warn("spool: cannot save the drop counters in %s",
		    q->dir);
out:
	free(text);
	free(path);
	free(tmp);
}

static void
drops_load(struct queue *q)
{
	char *path;
	json_t *o;

	if (asprintf(&path, "%s/dropped.json", q->dir) < 0)
		return;
	if ((o = json_load_file(path, 0, NULL)) != NULL) {
		q->dropped[RG_REPORT_EVENT] = (uint64_t)json_integer_value(
		    json_object_get(o, "event"));
		q->dropped[RG_REPORT_STATUS] = (uint64_t)json_integer_value(
		    json_object_get(o, "status"));
		q->dropped[RG_REPORT_SIGHTING] = (uint64_t)json_integer_value(
		    json_object_get(o, "sighting"));
		q->unreadable = (uint64_t)json_integer_value(
		    json_object_get(o, "unreadable"));
		json_decref(o);
	}
	free(path);
}

static int
entry_cmp(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;

	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int
queue_push(struct queue *q, const struct entry *e)
{
	struct entry *ne;

	if (q->n == q->cap) {
		size_t cap = q->cap ? q->cap * 2 : 64;

		if ((ne = realloc(q->e, cap * sizeof(*ne))) == NULL)
			return -ENOMEM;
		q->e = ne;
		q->cap = cap;
	}
	q->e[q->n++] = *e;
	q->bytes += e->size;
	return 0;
}

static void
queue_remove(struct queue *q, size_t i)
{
	q->bytes -= q->e[i].size;
	memmove(&q->e[i], &q->e[i + 1], (q->n - i - 1) * sizeof(*q->e));
	q->n--;
}

/* Scan a queue's directory; returns the largest sequence number seen. */
static uint64_t
queue_scan(struct queue *q)
{
	struct dirent *de;
	struct stat st;
	struct entry e;
	uint64_t max = 0;
	char kind, *path;
	DIR *d;
	int k;

	if ((d = opendir(q->dir)) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		if (sscanf(de->d_name, "%16" SCNx64 ".%c.json", &e.seq,
		    &kind) != 2 || strlen(de->d_name) != 23)
			continue;
		for (k = 0; k < RG_REPORT_KIND_COUNT; k++)
			if (kind_letter[k] == kind)
				break;
		if (k == RG_REPORT_KIND_COUNT)
			continue;
		e.kind = (enum rg_report_kind)k;
		if (asprintf(&path, "%s/%s", q->dir, de->d_name) < 0)
			continue;
		e.size = stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
		free(path);
		if (queue_push(q, &e) == 0 && e.seq > max)
			max = e.seq;
	}
	closedir(d);
	if (q->n > 1)
		qsort(q->e, q->n, sizeof(*q->e), entry_cmp);
	return max;
}

/* Remove what an interrupted put left in .incoming. */
static void
incoming_clean(const char *dir)
{
	struct dirent *de;
	char *path;
	DIR *d;

	if ((d = opendir(dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (asprintf(&path, "%s/%s", dir, de->d_name) >= 0) {
			(void)unlink(path);
			free(path);
		}
	}
	closedir(d);
}

struct rg_spool *
rg_spool_open(const char *dir, const char *const *names, size_t n,
    uint64_t limit)
{
	struct rg_spool *s;
	uint64_t max;
	size_t i;
	int saved;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->limit = limit;
	if ((s->dir = strdup(dir)) == NULL ||
	    asprintf(&s->incoming, "%s/.incoming", dir) < 0) {
		s->incoming = NULL;
		goto fail;
	}
	if ((mkdir(dir, 0750) < 0 && errno != EEXIST) ||
	    (mkdir(s->incoming, 0750) < 0 && errno != EEXIST))
		goto fail;
	incoming_clean(s->incoming);
	if (n > 0 && (s->q = calloc(n, sizeof(*s->q))) == NULL)
		goto fail;
	s->nq = n;
	for (i = 0; i < n; i++) {
		struct queue *q = &s->q[i];

		if ((q->name = strdup(names[i])) == NULL ||
		    asprintf(&q->dir, "%s/%s", dir, names[i]) < 0) {
			q->dir = NULL;
			goto fail;
		}
		if (mkdir(q->dir, 0750) < 0 && errno != EEXIST)
			goto fail;
		max = queue_scan(q);
		if (max > s->seq)
			s->seq = max;
		drops_load(q);
	}
	return s;
fail:
	saved = errno;
	rg_spool_close(s);
	errno = saved;
	return NULL;
}

void
rg_spool_close(struct rg_spool *s)
{
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < s->nq; i++) {
		free(s->q[i].name);
		free(s->q[i].dir);
		free(s->q[i].e);
	}
	free(s->q);
	free(s->dir);
	free(s->incoming);
	free(s);
}

/* Drop from Q until it fits: status first, then sightings, then events. */
static void
queue_enforce(struct queue *q, uint64_t limit)
{
	static const enum rg_report_kind order[] = { RG_REPORT_STATUS,
	    RG_REPORT_SIGHTING, RG_REPORT_EVENT };
	size_t k, i;
	int changed = 0;
	char *path;

	for (k = 0; k < 3 && limit > 0 && q->bytes > limit; k++)
		for (i = 0; i < q->n && q->bytes > limit;) {
			if (q->e[i].kind != order[k]) {
				i++;
				continue;
			}
			if ((path = entry_path(q, &q->e[i], "")) != NULL) {
				(void)unlink(path);
				free(path);
			}
			q->dropped[order[k]]++;
			if (order[k] == RG_REPORT_EVENT)
				rg_log_warnx("spool: %s: over its limit of "
				    "%" PRIu64 " bytes: an event dropped "
				    "(%" PRIu64 " so far)", q->name, limit,
				    q->dropped[RG_REPORT_EVENT]);
			queue_remove(q, i);
			changed = 1;
		}
	if (changed)
		drops_save(q);
}

int
rg_spool_put(struct rg_spool *s, enum rg_report_kind kind,
    const json_t *report)
{
	char id[37], *text = NULL, *tmp = NULL, *path;
	json_t *r;
	struct entry e;
	size_t i, len;
	int rc = 0, err;

	if ((r = json_deep_copy(report)) == NULL || !json_is_object(r)) {
		json_decref(r);
		return -EINVAL;
	}
	if (!json_is_string(json_object_get(r, "id"))) {
		rg_uuid_v4(id);
		json_object_set_new(r, "id", json_string(id));
	}
	json_object_set_new(r, "kind", json_string(rg_report_kind_str[kind]));
	text = json_dumps(r, JSON_COMPACT);
	json_decref(r);
	if (text == NULL)
		return -ENOMEM;
	len = strlen(text);
	e.seq = ++s->seq;
	e.kind = kind;
	e.size = len;
	if (asprintf(&tmp, "%s/%016" PRIx64 ".tmp", s->incoming, e.seq) < 0) {
		tmp = NULL;
		rc = -ENOMEM;
		goto out;
	}
	if ((rc = write_file_sync(tmp, text, len)) < 0)
		goto out;
	for (i = 0; i < s->nq; i++) {
		struct queue *q = &s->q[i];

		if ((path = entry_path(q, &e, "")) == NULL) {
			rc = -ENOMEM;
			continue;
		}
		if (link(tmp, path) < 0) {
			err = errno;
			rg_log_warnx("spool: %s: cannot queue a report: %s",
			    q->name, strerror(err));
			rc = -err;
		} else if (dir_sync(q->dir) < 0 || queue_push(q, &e) < 0) {
			/* Not sure to survive a crash, or not indexed:
			 * take it back rather than half-queue it. */
			(void)unlink(path);
			rc = -EIO;
		} else
			queue_enforce(q, s->limit);
		free(path);
	}
out:
	if (tmp != NULL) {
		(void)unlink(tmp);
		free(tmp);
	}
	free(text);
	return rc;
}

static char *
read_all(const char *path, size_t *len)
{
	FILE *fp;
	char *buf = NULL;
	long n;

	if ((fp = fopen(path, "re")) == NULL)
		return NULL;
	if (fseek(fp, 0, SEEK_END) == 0 && (n = ftell(fp)) >= 0 &&
	    fseek(fp, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n + 1)) &&
	    fread(buf, 1, (size_t)n, fp) == (size_t)n) {
		buf[n] = '\0';
		*len = (size_t)n;
	} else {
		free(buf);
		buf = NULL;
	}
	fclose(fp);
	return buf;
}

int
rg_spool_peek(struct rg_spool *s, size_t r, size_t max, size_t max_bytes,
    struct rg_spool_batch *b)
{
	struct queue *q = &s->q[r];
	size_t i = 0, bytes = 0, len;
	char *path, *bad, *text;
	json_t *rep;

	memset(b, 0, sizeof(*b));
	if ((b->reports = json_array()) == NULL ||
	    (b->seqs = calloc(max > 0 ? max : 1, sizeof(*b->seqs))) == NULL) {
		rg_spool_batch_clear(b);
		return -ENOMEM;
	}
	while (i < q->n && b->n < max &&
	    (b->n == 0 || bytes + q->e[i].size <= max_bytes)) {
		if ((path = entry_path(q, &q->e[i], "")) == NULL)
			break;
		text = read_all(path, &len);
		rep = text ? json_loadb(text, len, 0, NULL) : NULL;
		free(text);
		if (rep == NULL || !json_is_object(rep)) {
			/* Keep it for a person to look at, out of the way. */
			json_decref(rep);
			if ((bad = entry_path(q, &q->e[i], ".bad")) != NULL) {
				(void)rename(path, bad);
				free(bad);
			}
			rg_log_warnx("spool: %s: unreadable report moved "
			    "aside", path);
			q->unreadable++;
			drops_save(q);
			queue_remove(q, i);
			free(path);
			continue;
		}
		free(path);
		json_array_append_new(b->reports, rep);
		b->seqs[b->n++] = q->e[i].seq;
		bytes += q->e[i].size;
		i++;
	}
	return 0;
}

int
rg_spool_ack(struct rg_spool *s, size_t r, const struct rg_spool_batch *b)
{
	struct queue *q = &s->q[r];
	size_t i, j;
	char *path;

	for (j = 0; j < b->n; j++)
		for (i = 0; i < q->n; i++) {
			if (q->e[i].seq != b->seqs[j])
				continue;
			if ((path = entry_path(q, &q->e[i], "")) != NULL) {
				(void)unlink(path);
				free(path);
			}
			queue_remove(q, i);
			q->delivered++;
			break;
		}
	return 0;
}

void
rg_spool_batch_clear(struct rg_spool_batch *b)
{
	json_decref(b->reports);
	free(b->seqs);
	memset(b, 0, sizeof(*b));
}

void
rg_spool_stats(const struct rg_spool *s, size_t r, struct rg_spool_stats *st)
{
	const struct queue *q = &s->q[r];
	size_t k;

	memset(st, 0, sizeof(*st));
	st->queued = q->n;
	st->bytes = q->bytes;
	st->delivered = q->delivered;
	for (k = 0; k < RG_REPORT_KIND_COUNT; k++)
		st->dropped[k] = q->dropped[k];
	st->unreadable = q->unreadable;
}
