/*
 * journal.c -- events in a bounded ring and in STATE_DIR/events.jsonl.
 *
 * Each event is one JSON object on one line, written with a single write(2)
 * on an O_APPEND descriptor and made durable with fdatasync(2), so a crash
 * leaves at worst a torn last line, which the loader skips.  The file is
 * rotated to events.jsonl.1 when it passes JOURNAL_ROTATE_BYTES.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "journal.h"
#include "log.h"
#include "probe.h"

#define JOURNAL_FILE		"events.jsonl"
#define JOURNAL_ROTATE_BYTES	(8 * 1024 * 1024)

const char *const rg_event_type_str[] = {
#define X(n, s) [RG_EVENT_##n] = s,
	RG_EVENT_TYPES(X)
#undef X
};

struct rg_journal {
	json_t **ring;
	size_t size;		/* capacity */
	size_t head;		/* next slot to write */
	size_t used;
	char *path;		/* NULL: memory only */
	int fd;
	off_t bytes;
	size_t count;
	size_t write_errors;
	int torn;		/* the file ends in a torn line */
	rg_journal_cb *cb;
	void *cb_arg;
};

void
rg_time_format(uint64_t wall_ms, char *buf, size_t len)
{
	time_t t = (time_t)(wall_ms / 1000);
	struct tm tm;
	char s[32];

	gmtime_r(&t, &tm);
	strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, len, "%s.%03uZ", s, (unsigned)(wall_ms % 1000));
}

void
rg_uuid_v4(char out[37])
{
	uint8_t b[16];

	rg_random_bytes(b, sizeof(b));
	b[6] = (b[6] & 0x0f) | 0x40;
	b[8] = (b[8] & 0x3f) | 0x80;
	snprintf(out, 37,
	    "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
	    "%02x%02x%02x%02x%02x%02x",
	    b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9],
	    b[10], b[11], b[12], b[13], b[14], b[15]);
}

static void
ring_push(struct rg_journal *j, json_t *ev)
{
	json_decref(j->ring[j->head]);
	j->ring[j->head] = ev;
	j->head = (j->head + 1) % j->size;
	if (j->used < j->size)
		j->used++;
}

/* Refill the ring from the tail of the file; skip lines that do not parse
 * (a torn last line after a crash). */
static void
journal_load(struct rg_journal *j)
{
	FILE *fp;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	json_t *ev;
	size_t bad = 0;

	if ((fp = fopen(j->path, "r")) == NULL)
		return;
	while ((n = getline(&line, &cap, fp)) > 0) {
		j->torn = line[n - 1] != '\n';
		if (line[n - 1] != '\n' ||
		    (ev = json_loadb(line, (size_t)n, 0, NULL)) == NULL ||
		    !json_is_object(ev)) {
			bad++;
			continue;
		}
		ring_push(j, ev);
	}
	free(line);
	fclose(fp);
	if (bad > 0)
		rg_log_warnx("journal: %s: skipped %zu unreadable line%s",
		    j->path, bad, bad == 1 ? "" : "s");
}

static int
journal_open_file(struct rg_journal *j)
{
	struct stat st;

	j->fd = open(j->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (j->fd < 0)
		return -errno;
	if (fstat(j->fd, &st) == 0)
		j->bytes = st.st_size;
	return 0;
}

struct rg_journal *
rg_journal_open(const char *state_dir, size_t ring)
{
	struct rg_journal *j;
	int rc;

	if ((j = calloc(1, sizeof(*j))) == NULL)
		return NULL;
	j->fd = -1;
	j->size = ring > 0 ? ring : 1;
	if ((j->ring = calloc(j->size, sizeof(*j->ring))) == NULL)
		goto fail;
	if (state_dir == NULL)
		return j;
	if (asprintf(&j->path, "%s/%s", state_dir, JOURNAL_FILE) < 0) {
		j->path = NULL;
		goto fail;
	}
	journal_load(j);
	if ((rc = journal_open_file(j)) < 0) {
		errno = -rc;
		goto fail;
	}
	return j;
fail:
	rc = errno;
	rg_journal_close(j);
	errno = rc;
	return NULL;
}

void
rg_journal_close(struct rg_journal *j)
{
	size_t i;

	if (j == NULL)
		return;
	for (i = 0; i < j->size && j->ring != NULL; i++)
		json_decref(j->ring[i]);
	free(j->ring);
	if (j->fd >= 0)
		close(j->fd);
	free(j->path);
	free(j);
}

static void
journal_rotate(struct rg_journal *j)
{
	char *old;

	if (asprintf(&old, "%s.1", j->path) < 0)
		return;
	if (rename(j->path, old) == 0) {
		close(j->fd);
		j->fd = -1;
		j->bytes = 0;
		j->torn = 0;
		if (journal_open_file(j) < 0)
			rg_log_warn("journal: cannot reopen %s", j->path);
	}
	free(old);
}

static void
journal_write(struct rg_journal *j, const json_t *ev)
{
	struct stat st;
	char *s, *line;
	size_t len;
	ssize_t n;

	if (j->fd < 0 && (j->path == NULL || journal_open_file(j) < 0)) {
		if (j->path != NULL)
			j->write_errors++;
		return;
	}
	if ((s = json_dumps(ev, JSON_COMPACT)) == NULL) {
		j->write_errors++;
		return;
	}
	len = strlen(s);
	if ((line = realloc(s, len + 1)) == NULL) {
		free(s);
		j->write_errors++;
		return;
	}
	s = line;
	s[len++] = '\n';
	/* The next event starts on a line of its own; the loader skips the
	 * torn one. */
	if (j->torn && write(j->fd, "\n", 1) == 1)
		j->torn = 0;
	n = j->torn ? -1 : write(j->fd, s, len);
	if (n != (ssize_t)len || fdatasync(j->fd) < 0) {
		j->write_errors++;
		rg_log_warn("journal: cannot write %s", j->path);
		/* A short write leaves a torn line: cut it off, which needs no
		 * room on a full disk, or else end it before the next event. */
		if (n > 0 && n != (ssize_t)len && (fstat(j->fd, &st) < 0 ||
		    ftruncate(j->fd, st.st_size - n) < 0))
			j->torn = 1;
	} else
		j->bytes += (off_t)len;
	free(s);
	if (j->bytes > JOURNAL_ROTATE_BYTES)
		journal_rotate(j);
}

const json_t *
rg_journal_add(struct rg_journal *j, enum rg_event_type type, int warn,
    const char *subject, const char *old, const char *new_,
    const char *reason, json_t *evidence)
{
	char id[37], when[40];
	json_t *ev;

	rg_uuid_v4(id);
	rg_time_format(rg_clock_wall_ms(), when, sizeof(when));
	ev = json_pack("{s:s, s:s, s:s, s:s?, s:s?, s:s?, s:s, s:o}",
	    "id", id, "time", when, "type", rg_event_type_str[type],
	    "subject", subject, "old", old, "new", new_,
	    "reason", reason != NULL ? reason : "",
	    "evidence", evidence != NULL ? evidence : json_null());
	if (ev == NULL)
		return NULL;

	if (old != NULL || new_ != NULL)
		(warn ? rg_log_warnx : rg_log_info)("event: %s%s%s %s -> %s: %s",
		    rg_event_type_str[type], subject ? " " : "",
		    subject ? subject : "", old ? old : "-",
		    new_ ? new_ : "-", reason ? reason : "");
	else
		(warn ? rg_log_warnx : rg_log_info)("event: %s%s%s: %s",
		    rg_event_type_str[type], subject ? " " : "",
		    subject ? subject : "", reason ? reason : "");

	/* The subscriber (the report spool) first: a crash between the two
	 * then leaves a report of an event the journal lacks, never an
	 * event that is never reported. */
	if (j->cb != NULL)
		j->cb(j->cb_arg, ev);
	journal_write(j, ev);
	ring_push(j, ev);
	j->count++;
	return ev;
}

void
rg_journal_subscribe(struct rg_journal *j, rg_journal_cb *cb, void *arg)
{
	j->cb = cb;
	j->cb_arg = arg;
}

json_t *
rg_journal_list(struct rg_journal *j, size_t limit)
{
	json_t *a = json_array();
	size_t n, i, start;

	if (a == NULL)
		return NULL;
	n = j->used;
	if (limit > 0 && limit < n)
		n = limit;
	start = (j->head + j->size - n) % j->size;
	for (i = 0; i < n; i++)
		json_array_append(a, j->ring[(start + i) % j->size]);
	return a;
}

size_t
rg_journal_count(const struct rg_journal *j)
{
	return j->count;
}

size_t
rg_journal_write_errors(const struct rg_journal *j)
{
	return j->write_errors;
}
