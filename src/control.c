/*
 * control.c -- the control socket: framing, permissions, dispatch.
 *
 * Each connection reads lines of at most CONTROL_MAX_LINE bytes; every
 * line is one request and gets one reply line.  A request that is not a
 * JSON object, lacks "command", names an unknown command or exceeds the
 * limit gets an error reply and changes nothing; an over-long line also
 * closes the connection, since its end cannot be found reliably.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "control.h"
#include "log.h"

#define CONTROL_MAX_LINE	(64 * 1024)
#define CONTROL_MAX_CONNS	64		/* more are refused */
#define CONTROL_IDLE_MS		60000		/* idle connections close */
#define CONTROL_MAX_QUEUED	(256 * 1024)	/* replies not yet read */

/* The commands, and whether they change state. */
static const struct {
	const char *name;
	int changes_state;
} commands[] = {
	{ "status", 0 },
	{ "upstreams", 0 },
	{ "events", 0 },
	{ "check", 0 },
	{ "feeds", 0 },		/* with "refresh" or "accept" it changes state */
	{ "failover", 1 },
	{ "failback", 1 },
	{ "reload", 1 },
};

struct rg_control {
	uv_loop_t *loop;
	uv_pipe_t server;
	char *path;
	int has_group;
	gid_t gid;
	rg_control_handler *handler;
	void *arg;
	struct conn *conns;
	size_t n_conns;
	struct conn *current;	/* whose request the handler is on */
	uv_timer_t idle;
	int closes;		/* close callbacks still to come */
};

struct conn {
	uv_pipe_t pipe;
	struct rg_control *ctl;
	struct conn *next;
	char *buf;
	size_t len, cap;
	uid_t uid;
	gid_t gid;
	int creds;
	int closing;
	int paused;		/* reading stopped until replies drain */
	int finish;		/* the peer is done: close after the answer */
	int held;		/* reading stopped for a request pending */
	int answered;		/* answered from within its handler */
	struct rg_control_pending *pending;	/* a request answered later */
	uint64_t last_ms;	/* last activity, uv_now() */
};

struct rg_control_pending {
	struct conn *conn;	/* NULL once it is gone */
};

json_t rg_control_later_mark;

json_t *
rg_control_error(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return json_pack("{s:b, s:s}", "ok", 0, "error", msg);
}

json_t *
rg_control_ok(json_t *result)
{
	return json_pack("{s:b, s:o}", "ok", 1, "result",
	    result != NULL ? result : json_object());
}

/* The connection's memory is freed in the close callback: libuv still
 * holds the handle until then. */
static void
conn_close_cb(uv_handle_t *hd)
{
	struct conn *c = hd->data;
	struct conn **pp;

	if (c->pending != NULL)
		c->pending->conn = NULL;
	for (pp = c->ctl ? &c->ctl->conns : NULL; pp && *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			c->ctl->n_conns--;
			break;
		}
	free(c->buf);
	free(c);
}

static void
conn_close(struct conn *c)
{
	if (c->closing)
		return;
	c->closing = 1;
	uv_read_stop((uv_stream_t *)&c->pipe);
	uv_close((uv_handle_t *)&c->pipe, conn_close_cb);
}

static void
shutdown_cb(uv_shutdown_t *req, int status)
{
	struct conn *c = req->data;

	free(req);
	conn_close(c);
}

/* Close once the replies queued so far are out. */
static void
conn_finish(struct conn *c)
{
	uv_shutdown_t *req;

	uv_read_stop((uv_stream_t *)&c->pipe);
	if ((req = calloc(1, sizeof(*req))) == NULL) {
		conn_close(c);
		return;
	}
	req->data = c;
	if (uv_shutdown(req, (uv_stream_t *)&c->pipe, shutdown_cb) < 0) {
		free(req);
		conn_close(c);
	}
}

struct write_req {
	uv_write_t req;
	char *data;
	struct conn *conn;
};

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static void alloc_cb(uv_handle_t *hd, size_t suggested, uv_buf_t *buf);
static void conn_drain(struct conn *c);

static void
write_cb(uv_write_t *req, int status)
{
	struct write_req *w = (struct write_req *)req;
	struct conn *c = w->conn;

	free(w->data);
	free(w);
	/* A peer that sends without reading is paused until its replies
	 * are out, so it cannot make the daemon buffer without bound. */
	if (status == 0 && c->paused && !c->closing &&
	    uv_stream_get_write_queue_size((uv_stream_t *)&c->pipe) <
	    CONTROL_MAX_QUEUED / 2) {
		c->paused = 0;
		uv_read_start((uv_stream_t *)&c->pipe, alloc_cb, read_cb);
	}
}

/* Send the serialized reply S (N bytes, stolen) and a newline. */
static void
conn_send(struct conn *c, char *s, size_t n)
{
	struct write_req *w;
	uv_buf_t b;

	if (s == NULL || c->closing) {
		free(s);
		return;
	}
	if ((w = calloc(1, sizeof(*w))) == NULL ||
	    (w->data = realloc(s, n + 1)) == NULL) {
		free(w);
		free(s);
		conn_close(c);
		return;
	}
	w->data[n++] = '\n';
	w->conn = c;
	b = uv_buf_init(w->data, (unsigned)n);
	if (uv_write(&w->req, (uv_stream_t *)&c->pipe, &b, 1, write_cb) < 0) {
		free(w->data);
		free(w);
		conn_close(c);
	}
}

static void
conn_reply(struct conn *c, json_t *reply)
{
	char *s;

	if (reply == RG_CONTROL_LATER)
		return;
	s = json_dumps(reply, JSON_COMPACT | JSON_REAL_PRECISION(10));
	json_decref(reply);
	conn_send(c, s, s != NULL ? strlen(s) : 0);
}

static int
peer_in_group(uid_t uid, gid_t pgid, gid_t want)
{
	struct passwd *pw;
	gid_t groups[256];
	int n = 256, i;

	if (pgid == want)
		return 1;
	if ((pw = getpwuid(uid)) == NULL)
		return 0;
	if (getgrouplist(pw->pw_name, pw->pw_gid, groups, &n) < 0)
		return 0;
	for (i = 0; i < n; i++)
		if (groups[i] == want)
			return 1;
	return 0;
}

static int
conn_may_change_state(struct conn *c)
{
	if (!c->creds)
		return 0;
	if (c->uid == 0 || c->uid == geteuid())
		return 1;
	return c->ctl->has_group && peer_in_group(c->uid, c->gid, c->ctl->gid);
}

static void
conn_request(struct conn *c, const char *line, size_t len)
{
	json_error_t jerr;
	json_t *req, *reply;
	const char *cmd;
	size_t i;
	int changes;

	req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	if (req == NULL || !json_is_object(req)) {
		reply = rg_control_error("malformed request: %s (one JSON object "
		    "per line expected)", req == NULL ? jerr.text :
		    "not an object");
		goto out;
	}
	cmd = json_string_value(json_object_get(req, "command"));
	if (cmd == NULL) {
		reply = rg_control_error("malformed request: no \"command\" "
		    "string");
		goto out;
	}
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i].name, cmd) == 0)
			break;
	if (i == sizeof(commands) / sizeof(commands[0])) {
		reply = rg_control_error("unknown command \"%.64s\" (commands: "
		    "status, upstreams, events, check, feeds, failover, "
		    "failback, reload)", cmd);
		goto out;
	}
	changes = commands[i].changes_state ||
	    json_is_true(json_object_get(req, "refresh")) ||
	    json_is_true(json_object_get(req, "accept"));
	if (changes && !conn_may_change_state(c)) {
		rg_log_warnx("control: \"%s\" refused to uid %u", cmd,
		    (unsigned)c->uid);
		reply = rg_control_error("permission denied: \"%s\" changes "
		    "state; only root, the daemon's user or the control group "
		    "may use it", cmd);
		goto out;
	}
	rg_log_debug("control: \"%s\" from uid %u", cmd, (unsigned)c->uid);
	c->ctl->current = c;
	c->answered = 0;
	reply = c->ctl->handler(c->ctl->arg, cmd, req);
	c->ctl->current = NULL;
	if (reply == NULL || (reply == RG_CONTROL_LATER &&
	    c->pending == NULL && !c->answered))
		reply = rg_control_error("internal error");
out:
	json_decref(req);
	conn_reply(c, reply);
}

static void
alloc_cb(uv_handle_t *hd, size_t suggested, uv_buf_t *buf)
{
	struct conn *c = hd->data;
	size_t want = c->len + 4096;
	char *p;

	if (want > c->cap) {
		if ((p = realloc(c->buf, want)) == NULL) {
			*buf = uv_buf_init(NULL, 0);
			return;
		}
		c->buf = p;
		c->cap = want;
	}
	*buf = uv_buf_init(c->buf + c->len, (unsigned)(c->cap - c->len));
}

static void
read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = s->data;

	if (nread == UV_EOF) {
		/* The peer has sent all it will; replies may still be queued
		 * (a script that half-closes after its request), and a last
		 * request may lack its newline. */
		if (c->len > 0 && c->len <= CONTROL_MAX_LINE)
			conn_request(c, c->buf, c->len);
		c->len = 0;
		if (c->pending != NULL) {
			c->finish = 1;
			uv_read_stop(s);
		} else
			conn_finish(c);
		return;
	}
	if (nread < 0) {
		conn_close(c);
		return;
	}
	c->len += (size_t)nread;
	c->last_ms = uv_now(c->ctl->loop);
	conn_drain(c);
}

/* Handle the whole request lines received, up to one answered later. */
static void
conn_drain(struct conn *c)
{
	uv_stream_t *s = (uv_stream_t *)&c->pipe;
	char *nl;
	size_t used;

	while (!c->closing && c->pending == NULL &&
	    (nl = memchr(c->buf, '\n', c->len)) != NULL) {
		used = (size_t)(nl - c->buf) + 1;
		if (used > 1)
			conn_request(c, c->buf, used - 1);
		memmove(c->buf, c->buf + used, c->len - used);
		c->len -= used;
	}
	if (c->closing)
		return;
	if (c->pending != NULL) {
		uv_read_stop(s);
		c->held = 1;
		return;
	}
	if (c->len > CONTROL_MAX_LINE) {
		conn_reply(c, rg_control_error("request longer than %d bytes",
		    CONTROL_MAX_LINE));
		c->len = 0;
		conn_finish(c);
	} else if (uv_stream_get_write_queue_size(s) > CONTROL_MAX_QUEUED) {
		c->paused = 1;
		uv_read_stop(s);
	} else if (c->held && !c->paused) {
		c->held = 0;
		uv_read_start(s, alloc_cb, read_cb);
	}
}

struct rg_control_pending *
rg_control_later(struct rg_control *ctl)
{
	struct rg_control_pending *p;
	struct conn *c = ctl != NULL ? ctl->current : NULL;

	if (c == NULL || c->pending != NULL ||
	    (p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	p->conn = c;
	c->pending = p;
	return p;
}

void
rg_control_answer(struct rg_control_pending *p, json_t *reply, char *text,
    size_t len)
{
	struct conn *c;

	if (p == NULL) {
		json_decref(reply);
		free(text);
		return;
	}
	c = p->conn;
	free(p);
	if (c == NULL) {
		json_decref(reply);
		free(text);
		return;
	}
	c->pending = NULL;
	c->last_ms = uv_now(c->ctl->loop);
	if (text != NULL) {
		json_decref(reply);
		conn_send(c, text, len);
	} else
		conn_reply(c, reply);
	/* From within the handler: the caller goes on with the requests. */
	if (c->ctl->current == c) {
		c->answered = 1;
		return;
	}
	if (c->finish) {
		if (!c->closing)
			conn_finish(c);
		return;
	}
	conn_drain(c);
}

static void
connection_cb(uv_stream_t *server, int status)
{
	struct rg_control *ctl = server->data;
	struct conn *c;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	uv_os_fd_t fd;

	if (status < 0)
		return;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return;
	c->ctl = ctl;
	c->last_ms = uv_now(ctl->loop);
	uv_pipe_init(ctl->loop, &c->pipe, 0);
	c->pipe.data = c;
	c->next = ctl->conns;
	ctl->conns = c;
	ctl->n_conns++;
	if (uv_accept(server, (uv_stream_t *)&c->pipe) < 0) {
		conn_close(c);
		return;
	}
	if (ctl->n_conns > CONTROL_MAX_CONNS) {
		/* Descriptors are for probes first: a flood of control
		 * connections must not make upstreams look down. */
		rg_log_warnx("control: more than %d connections; refusing one",
		    CONTROL_MAX_CONNS);
		conn_close(c);
		return;
	}
	if (uv_fileno((uv_handle_t *)&c->pipe, &fd) == 0 &&
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
		c->uid = cred.uid;
		c->gid = cred.gid;
		c->creds = 1;
	}
	uv_read_start((uv_stream_t *)&c->pipe, alloc_cb, read_cb);
}

static void
idle_timer_cb(uv_timer_t *t)
{
	struct rg_control *ctl = t->data;
	uint64_t now = uv_now(ctl->loop);
	struct conn *c;

	for (c = ctl->conns; c != NULL; c = c->next)
		if (!c->closing && c->pending == NULL &&
		    now - c->last_ms > CONTROL_IDLE_MS)
			conn_close(c);
}

/* 1 when something answers on PATH: another daemon owns it. */
static int
socket_alive(const char *path)
{
	struct sockaddr_un sun;
	int fd, alive;

	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return 0;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	alive = connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0;
	close(fd);
	return alive;
}

static void
make_parent_dir(const char *path)
{
	char *dir = strdup(path), *slash;

	if (dir == NULL)
		return;
	if ((slash = strrchr(dir, '/')) != NULL && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0755) < 0 && errno != EEXIST)
			rg_log_warn("control: cannot make %s", dir);
	}
	free(dir);
}

/* The server and the idle timer live in CTL: free it after both. */
static void
server_close_cb(uv_handle_t *hd)
{
	struct rg_control *ctl = hd->data;

	if (--ctl->closes > 0)
		return;
	free(ctl->path);
	free(ctl);
}

struct rg_control *
rg_control_open(uv_loop_t *loop, const char *path, const char *group,
    rg_control_handler *handler, void *arg, char *err, size_t err_len)
{
	struct rg_control *ctl;
	struct group *gr;
	struct stat st;
	mode_t old;
	int rc;

	if ((ctl = calloc(1, sizeof(*ctl))) == NULL ||
	    (ctl->path = strdup(path)) == NULL) {
		free(ctl);
		snprintf(err, err_len, "out of memory");
		return NULL;
	}
	ctl->loop = loop;
	ctl->handler = handler;
	ctl->arg = arg;
	if (group != NULL) {
		if ((gr = getgrnam(group)) == NULL) {
			snprintf(err, err_len, "unknown group \"%s\"", group);
			goto fail;
		}
		ctl->gid = gr->gr_gid;
		ctl->has_group = 1;
	}
	make_parent_dir(path);
	if (socket_alive(path)) {
		snprintf(err, err_len, "%s: another resguardd is listening "
		    "there", path);
		goto fail;
	}
	/* Replace a stale socket, and nothing else: a mistyped path must
	 * not delete a file. */
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, err_len, "%s exists and is not a socket",
			    path);
			goto fail;
		}
		(void)unlink(path);
	}
	uv_pipe_init(loop, &ctl->server, 0);
	ctl->server.data = ctl;
	/* Never a moment with a socket open to everybody. */
	old = umask(0117);
	rc = uv_pipe_bind(&ctl->server, path);
	umask(old);
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)&ctl->server, 16, connection_cb);
	if (rc < 0) {
		snprintf(err, err_len, "%s: %s", path, uv_strerror(rc));
		ctl->closes = 1;
		uv_close((uv_handle_t *)&ctl->server, server_close_cb);
		return NULL;
	}
	/* The umask above made it 0660; lchown does not follow a link
	 * someone may have put in its place. */
	if (ctl->has_group && lchown(path, (uid_t)-1, ctl->gid) < 0)
		rg_log_warn("control: cannot give %s to its group", path);
	uv_timer_init(loop, &ctl->idle);
	ctl->idle.data = ctl;
	ctl->server.data = ctl;
	uv_timer_start(&ctl->idle, idle_timer_cb, 10000, 10000);
	uv_unref((uv_handle_t *)&ctl->idle);
	return ctl;
fail:
	free(ctl->path);
	free(ctl);
	return NULL;
}

void
rg_control_close(struct rg_control *ctl)
{
	struct conn *c;

	if (ctl == NULL)
		return;
	/* Close callbacks may run after the server's, which frees CTL. */
	for (c = ctl->conns; c != NULL; c = c->next) {
		conn_close(c);
		c->ctl = NULL;
	}
	ctl->conns = NULL;
	(void)unlink(ctl->path);
	ctl->closes = 2;
	uv_close((uv_handle_t *)&ctl->idle, server_close_cb);
	uv_close((uv_handle_t *)&ctl->server, server_close_cb);
}
