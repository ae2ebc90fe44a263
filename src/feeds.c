/*
 * feeds.c -- fetch, parse, validate, build, publish.
 *
 * One rebuild at a time runs in libuv's thread pool: it reads the feeds
 * that are due, parses every feed's newest good data into one builder and
 * builds the snapshot; back on the loop the snapshot is published and each
 * feed's state recorded.  New data replaces a feed's last good data only
 * when it parsed into at least one rule, or is empty on purpose (no line
 * but comments); otherwise the feed is "failing" and keeps what it had.
 * Files are checked every refresh-s and re-read when their size or
 * modification time changed.
 *
 * Every good version is also kept in STATE_DIR/feeds/NAME.domains (written
 * to a temporary file, synced, renamed), with the source it came from in
 * NAME.source; at start these copies are loaded before any source is read,
 * so the agent protects from its first snapshot even when a source is gone.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "feeds.h"
#include "journal.h"
#include "log.h"

#define FEED_MAX_BYTES	(512 * 1024 * 1024)

enum feed_state {
	FEED_PENDING,		/* never loaded yet */
	FEED_OK,
	FEED_FAILING,		/* last fetch or parse failed; old data kept */
	FEED_UNSUPPORTED,	/* format or transport not in this version */
};

static const char *const feed_state_str[] = {
	[FEED_PENDING] = "pending",
	[FEED_OK] = "ok",
	[FEED_FAILING] = "failing",
	[FEED_UNSUPPORTED] = "unavailable",
};

struct feed {
	char *name, *format, *source;
	uint32_t refresh_s;
	enum feed_state state;
	char *data;			/* last good data, or NULL */
	size_t len;
	struct stat st;			/* of the file it came from */
	uint64_t updated_wall_ms;	/* when the data last changed */
	uint64_t next_check_ms;
	size_t entries, skipped;
	char last_error[512];
	int want_fetch;
};

/* What a rebuild takes along to the thread pool and brings back. */
struct job_feed {
	const char *name, *path;	/* path NULL: nothing to fetch */
	const char *source;
	const char *old_data;
	size_t old_len;
	int fetch;
	/* results */
	char *new_data;
	size_t new_len;
	struct stat st;
	int fetched;			/* new_data is good and replaces old */
	long added;
	size_t skipped;
	char error[512];
	char persist_error[256];
};

struct job {
	uv_work_t req;
	struct rg_feeds *feeds;
	char *state_dir;		/* where good versions are kept */
	enum rg_action action;
	struct job_feed *jf;
	size_t n;
	struct rg_blocklist *bl;
	uint64_t started_ms;
};

struct rg_feeds {
	uv_loop_t *loop;
	struct rg_journal *journal;
	struct rg_bl_domain *domain;
	struct feed *feeds;
	size_t n;
	enum rg_action action;
	char *state_dir;
	struct job *job;		/* rebuild in flight, or NULL */
	int again;			/* another rebuild wanted after it */
	const struct rg_conf *pending;	/* configuration waiting for it */
	uv_timer_t timer;
	int stopping;
	int timer_closed;
	rg_feeds_publish_cb *publish_cb;
	void *publish_arg;
};

static void feeds_rebuild(struct rg_feeds *f);
static void feeds_destroy(struct rg_feeds *f);

static const char *
feed_path(const struct feed *fd)
{
	if (strcmp(fd->format, "domains") != 0 ||
	    strncmp(fd->source, "file:///", 8) != 0)
		return NULL;
	return fd->source + 7;
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

/* 1 when DATA has a line that is neither blank nor a comment. */
static int
has_content(const char *data, size_t len)
{
	size_t i = 0;

	while (i < len) {
		while (i < len && (data[i] == ' ' || data[i] == '\t' ||
		    data[i] == '\r'))
			i++;
		if (i < len && data[i] != '\n' && data[i] != '#')
			return 1;
		while (i < len && data[i] != '\n')
			i++;
		i++;
	}
	return 0;
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
write_atomic(const char *dir, const char *path, const char *data,
    size_t len)
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
	if ((rc = write_all(fd, data, len)) < 0)
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

/* Keep a good version of feed NAME in the state directory.  The source
 * goes first: a crash between the two leaves a data file whose source
 * does not match, which the loader ignores rather than mislabels. */
static int
feed_persist(const char *state_dir, const char *name, const char *source,
    const char *data, size_t len)
{
	char *dir = NULL, *path = NULL, *spath = NULL;
	int rc = -ENOMEM;

	if (asprintf(&dir, "%s/feeds", state_dir) < 0) {
		dir = NULL;
		goto out;
	}
	if (mkdir(dir, 0750) < 0 && errno != EEXIST) {
		rc = -errno;
		goto out;
	}
	if (asprintf(&path, "%s/%s.domains", dir, name) < 0 ||
	    asprintf(&spath, "%s/%s.source", dir, name) < 0)
		goto out;
	if ((rc = write_atomic(dir, spath, source, strlen(source))) < 0)
		goto out;
	rc = write_atomic(dir, path, data, len);
out:
	free(dir);
	free(path);
	free(spath);
	return rc;
}

/* Load the kept version of FD, if it came from FD's source. */
static void
feed_restore(const char *state_dir, struct feed *fd)
{
	char *path = NULL, *spath = NULL, *src = NULL, err[256];
	size_t slen;
	struct stat st;

	if (asprintf(&path, "%s/feeds/%s.domains", state_dir, fd->name) < 0 ||
	    asprintf(&spath, "%s/feeds/%s.source", state_dir, fd->name) < 0)
		goto out;
	if (read_file(spath, &src, &slen, &st, err, sizeof(err)) < 0 ||
	    strcmp(src, fd->source) != 0)
		goto out;
	if (read_file(path, &fd->data, &fd->len, &st, err, sizeof(err)) < 0)
		goto out;
	/* The kept copy says nothing about the source file's identity:
	 * leave fd->st zero so the first check reads the source. */
	fd->state = FEED_OK;
	fd->updated_wall_ms = (uint64_t)st.st_mtim.tv_sec * 1000 +
	    (uint64_t)st.st_mtim.tv_nsec / 1000000;
	rg_log_info("feeds: %s: %zu bytes kept from the last good version",
	    fd->name, fd->len);
out:
	free(path);
	free(spath);
	free(src);
}

/* In the thread pool: fetch what is due, parse everything, build. */
static void
job_work_cb(uv_work_t *req)
{
	struct job *job = req->data;
	struct rg_bl_builder *b;
	size_t i;
	int idx, rc;

	if ((b = rg_bl_builder_new()) == NULL)
		return;
	for (i = 0; i < job->n; i++) {
		struct job_feed *jf = &job->jf[i];
		char err[256] = "";
		size_t skipped = 0;
		long added;

		if ((idx = rg_bl_builder_feed(b, jf->name)) < 0)
			goto fail;
		if (jf->fetch && jf->path != NULL &&
		    read_file(jf->path, &jf->new_data, &jf->new_len, &jf->st,
		    jf->error, sizeof(jf->error)) == 0) {
			/* Parse the new data into a scratch builder first: a
			 * bad version must not leave rules in the real one. */
			struct rg_bl_builder *t = rg_bl_builder_new();
			int ti = t ? rg_bl_builder_feed(t, jf->name) : -1;

			added = ti < 0 ? -ENOMEM : rg_feed_domains_parse(t, ti,
			    job->action, jf->new_data, jf->new_len, &skipped,
			    err, sizeof(err));
			rg_bl_builder_free(t);
			if (added < 0)
				snprintf(jf->error, sizeof(jf->error),
				    "%s: %s", jf->path, strerror((int)-added));
			else if (added == 0 && has_content(jf->new_data,
			    jf->new_len))
				snprintf(jf->error, sizeof(jf->error),
				    "%.200s: no valid name in it (%.200s)", jf->path,
				    err[0] ? err : "nothing parsed");
			else {
				jf->fetched = 1;
				if (job->state_dir != NULL &&
				    (rc = feed_persist(job->state_dir,
				    jf->name, jf->source, jf->new_data,
				    jf->new_len)) < 0)
					snprintf(jf->persist_error,
					    sizeof(jf->persist_error),
					    "cannot keep a copy in %s: %s",
					    job->state_dir, strerror(-rc));
			}
		}
		if (jf->fetched)
			added = rg_feed_domains_parse(b, idx, job->action,
			    jf->new_data, jf->new_len, &jf->skipped, err,
			    sizeof(err));
		else if (jf->old_data != NULL)
			added = rg_feed_domains_parse(b, idx, job->action,
			    jf->old_data, jf->old_len, &jf->skipped, err,
			    sizeof(err));
		else
			added = 0;
		if (added < 0)
			goto fail;
		jf->added = added;
	}
	job->bl = rg_bl_build(b);
	return;
fail:
	rg_bl_builder_free(b);
}

static void
feed_record(struct rg_feeds *f, struct feed *fd, struct job_feed *jf,
    const struct rg_blocklist *bl, int idx)
{
	char reason[512], oldn[32], newn[32];
	size_t before = fd->entries;

	if (jf->fetched) {
		free(fd->data);
		fd->data = jf->new_data;
		fd->len = jf->new_len;
		fd->st = jf->st;
		jf->new_data = NULL;
		fd->state = FEED_OK;
		fd->last_error[0] = '\0';
		fd->updated_wall_ms = rg_clock_wall_ms();
		fd->entries = rg_bl_feed_entries(bl, idx);
		fd->skipped = jf->skipped;
		snprintf(oldn, sizeof(oldn), "%zu", before);
		snprintf(newn, sizeof(newn), "%zu", fd->entries);
		snprintf(reason, sizeof(reason), "%zu rules from %s%s", fd->entries,
		    fd->source, jf->skipped ? " (lines skipped)" : "");
		rg_journal_add(f->journal, RG_EVENT_FEED_APPLIED, 0, fd->name,
		    oldn, newn, reason, json_pack("{s:s, s:s, s:I, s:I, s:s?}",
		    "format", fd->format, "source", fd->source,
		    "bytes", (json_int_t)fd->len,
		    "skipped_lines", (json_int_t)jf->skipped,
		    "persist_error", jf->persist_error[0] ?
		    jf->persist_error : NULL));
		if (jf->persist_error[0])
			rg_log_warnx("feeds: %s: %s", fd->name,
			    jf->persist_error);
	} else if (jf->error[0] != '\0') {
		fd->state = FEED_FAILING;
		snprintf(fd->last_error, sizeof(fd->last_error), "%s",
		    jf->error);
		fd->entries = bl ? rg_bl_feed_entries(bl, idx) : fd->entries;
		snprintf(reason, sizeof(reason), "%.400s; %s", jf->error,
		    fd->data ? "the last good version stays" :
		    "no good version yet");
		rg_journal_add(f->journal, RG_EVENT_FEED_REJECTED, 1, fd->name,
		    NULL, NULL, reason, json_pack("{s:s, s:I}", "source",
		    fd->source, "rules_kept", (json_int_t)fd->entries));
	}
}

static void
job_free(struct job *job)
{
	size_t i;

	for (i = 0; i < job->n; i++)
		free(job->jf[i].new_data);
	free(job->jf);
	rg_bl_free(job->bl);
	free(job->state_dir);
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
		if (f->timer_closed)
			feeds_destroy(f);
		return;
	}
	if (job->bl == NULL) {
		rg_log_warnx("feeds: cannot build the blocklist: out of memory; "
		    "the current one stays");
		job_free(job);
		return;
	}
	/* The feeds array was not touched while the job ran: rebuilds wait
	 * for each other and reconfiguration waits for the job. */
	for (i = 0; i < job->n && i < f->n; i++)
		feed_record(f, &f->feeds[i], &job->jf[i], job->bl, (int)i);
	rg_log_info("feeds: blocklist of %zu rules published (%zu bytes, "
	    "built in %llu ms)", rg_bl_entries(job->bl), rg_bl_bytes(job->bl),
	    (unsigned long long)(rg_clock_ms() - job->started_ms));
	rg_bl_publish(f->domain, job->bl);
	if (f->publish_cb != NULL)
		f->publish_cb(f->publish_arg, job->bl);
	job->bl = NULL;
	rg_bl_reclaim(f->domain);
	job_free(job);
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
	job->action = f->action;
	job->n = f->n;
	job->started_ms = rg_clock_ms();
	for (i = 0; i < f->n; i++) {
		struct feed *fd = &f->feeds[i];

		job->jf[i].name = fd->name;
		job->jf[i].source = fd->source;
		job->jf[i].path = feed_path(fd);
		job->jf[i].old_data = fd->data;
		job->jf[i].old_len = fd->len;
		job->jf[i].fetch = fd->want_fetch;
		fd->want_fetch = 0;
	}
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
	struct stat st;
	const char *path;
	size_t i;
	int due = 0;

	for (i = 0; i < f->n; i++) {
		struct feed *fd = &f->feeds[i];

		if (fd->state == FEED_UNSUPPORTED || now < fd->next_check_ms)
			continue;
		fd->next_check_ms = now + fd->refresh_s * 1000ULL;
		path = feed_path(fd);
		if (fd->state == FEED_OK && stat(path, &st) == 0 &&
		    st.st_size == fd->st.st_size &&
		    st.st_mtim.tv_sec == fd->st.st_mtim.tv_sec &&
		    st.st_mtim.tv_nsec == fd->st.st_mtim.tv_nsec &&
		    st.st_ino == fd->st.st_ino)
			continue;
		fd->want_fetch = 1;
		due = 1;
	}
	if (due)
		feeds_rebuild(f);
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
	uv_timer_init(loop, &f->timer);
	f->timer.data = f;
	/* Checking a file's size and time once a second is cheap; each feed
	 * is only looked at every refresh-s. */
	uv_timer_start(&f->timer, timer_cb, 1000, 1000);
	uv_unref((uv_handle_t *)&f->timer);
	return f;
}

static void
feed_clear(struct feed *fd)
{
	free(fd->name);
	free(fd->format);
	free(fd->source);
	free(fd->data);
}

void
rg_feeds_configure(struct rg_feeds *f, const struct rg_conf *conf)
{
	struct feed *nf = NULL;
	size_t i, j;
	int act;

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
	if (conf->n_feeds > 0 &&
	    (nf = calloc(conf->n_feeds, sizeof(*nf))) == NULL) {
		rg_log_warnx("feeds: out of memory; feeds unchanged");
		return;
	}
	for (i = 0; i < conf->n_feeds; i++) {
		const struct rg_conf_feed *cf = &conf->feeds[i];
		struct feed *fd = &nf[i];

		fd->name = strdup(cf->name);
		fd->format = strdup(cf->format);
		fd->source = strdup(cf->source);
		fd->refresh_s = cf->refresh_s;
		fd->want_fetch = 1;
		for (j = 0; j < f->n; j++) {
			struct feed *old = &f->feeds[j];

			if (old->data != NULL &&
			    strcmp(old->name, cf->name) == 0 &&
			    strcmp(old->format, cf->format) == 0 &&
			    strcmp(old->source, cf->source) == 0) {
				/* Same feed: keep its data, and let the
				 * refresh timer decide about a new fetch. */
				fd->data = old->data;
				fd->len = old->len;
				fd->st = old->st;
				fd->state = old->state;
				fd->entries = old->entries;
				fd->skipped = old->skipped;
				fd->updated_wall_ms = old->updated_wall_ms;
				memcpy(fd->last_error, old->last_error,
				    sizeof(fd->last_error));
				old->data = NULL;
				fd->want_fetch = 0;
				fd->next_check_ms = old->next_check_ms;
			}
		}
		if (fd->data == NULL && feed_path(fd) != NULL &&
		    f->state_dir != NULL)
			feed_restore(f->state_dir, fd);
		if (feed_path(fd) == NULL) {
			fd->state = FEED_UNSUPPORTED;
			fd->want_fetch = 0;
			snprintf(fd->last_error, sizeof(fd->last_error),
			    "format \"%s\" from \"%.120s\" is not available in "
			    "this version (domains lists from file:// are)",
			    fd->format, fd->source);
		}
	}
	for (j = 0; j < f->n; j++)
		feed_clear(&f->feeds[j]);
	free(f->feeds);
	f->feeds = nf;
	f->n = conf->n_feeds;
	f->action = act < 0 ? RG_ACTION_NXDOMAIN : (enum rg_action)act;
	feeds_rebuild(f);
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
		if (name == NULL || strcmp(f->feeds[i].name, name) == 0) {
			if (f->feeds[i].state != FEED_UNSUPPORTED)
				f->feeds[i].want_fetch = 1;
			found = 1;
		}
	if (!found && name != NULL)
		return -ENOENT;
	feeds_rebuild(f);
	return 0;
}

json_t *
rg_feeds_json(const struct rg_feeds *f)
{
	json_t *arr = json_array();
	char when[40];
	size_t i;

	for (i = 0; i < f->n; i++) {
		const struct feed *fd = &f->feeds[i];

		rg_time_format(fd->updated_wall_ms, when, sizeof(when));
		json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s, "
		    "s:I, s:I, s:s?, s:s?}",
		    "name", fd->name, "format", fd->format,
		    "source", fd->source, "state", feed_state_str[fd->state],
		    "entries", (json_int_t)fd->entries,
		    "skipped_lines", (json_int_t)fd->skipped,
		    "updated", fd->updated_wall_ms ? when : NULL,
		    "last_error", fd->last_error[0] ? fd->last_error : NULL));
	}
	return arr;
}

int
rg_feeds_warning(const struct rg_feeds *f, char *summary, size_t len)
{
	size_t i;

	for (i = 0; i < f->n; i++) {
		const struct feed *fd = &f->feeds[i];

		if (fd->state == FEED_FAILING || fd->state == FEED_UNSUPPORTED) {
			snprintf(summary, len, "feed \"%s\" is %s: %s",
			    fd->name, feed_state_str[fd->state],
			    fd->last_error);
			return 1;
		}
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
	free(f);
}

static void
feeds_timer_close_cb(uv_handle_t *h)
{
	struct rg_feeds *f = h->data;

	/* A rebuild still in the thread pool reads the feeds' data: the
	 * last of the two to finish frees them. */
	f->timer_closed = 1;
	if (f->job == NULL)
		feeds_destroy(f);
}

void
rg_feeds_free(struct rg_feeds *f)
{
	if (f == NULL)
		return;
	f->stopping = 1;
	uv_close((uv_handle_t *)&f->timer, feeds_timer_close_cb);
}
