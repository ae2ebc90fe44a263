/*
 * fuzz_control.c -- libFuzzer target: the bytes a local client sends on
 * the control socket, through the real socket of rg_control_open().
 *
 * The socket is opened once in a temporary directory; for each input a
 * client connects, sends the input after its first byte, half-closes, and
 * reads the replies until the daemon closes: framing, lines split across
 * reads, a last line without its newline, over-long lines, malformed JSON,
 * unknown commands and the state-changing ones go through the code
 * resguardctl talks to.  Byte 0 chooses how the rest is written: its low
 * six bits + 1 are the size of the pieces (63 + 1: in one piece), each
 * piece written after the loop has run; with bits 6 and 7 both set a line
 * of 65 KiB goes first, past the limit on a line.  The handler answers a
 * known command with the command and, for a "limit" in the request, that
 * many bytes of padding (up to 64 KiB), so that replies queue up, and
 * for "fail": true nothing, as a handler that fails.
 * Checked: every reply line is a JSON object with a boolean "ok", and the
 * connection is closed on both sides before the next input.
 */
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <uv.h>

#include "control.h"
#include "log.h"

/* An invariant broken: a finding, reported like a crash. */
#define CHECK(c) do {							\
	if (!(c)) {							\
		fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,	\
		    __LINE__, #c);					\
		abort();						\
	}								\
} while (0)

#define FUZZ_LONG_LINE	(65 * 1024 + 1)
#define FUZZ_PAD_MAX	(64 * 1024)

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct client {
	uv_pipe_t pipe;
	uv_connect_t connect;
	uv_shutdown_t shutdown;
	int connected;
	int closed;
	char *buf;		/* replies received */
	size_t len, cap;
};

static uv_loop_t *fuzz_loop;
static struct rg_control *fuzz_ctl;
static char fuzz_dir[] = "/tmp/rg-fuzz-control.XXXXXX";
static char fuzz_path[256];
static unsigned fuzz_handles;	/* the server's, when no client is there */

static json_t *
handler(void *arg, const char *command, json_t *request)
{
	json_int_t limit;
	json_t *res;
	char *pad;

	if (json_is_true(json_object_get(request, "fail")))
		return NULL;
	limit = json_integer_value(json_object_get(request, "limit"));
	if (limit <= 0)
		return rg_control_ok(json_pack("{s:s}", "command", command));
	if (limit > FUZZ_PAD_MAX)
		limit = FUZZ_PAD_MAX;
	if ((pad = malloc((size_t)limit + 1)) == NULL)
		return NULL;
	memset(pad, 'x', (size_t)limit);
	pad[limit] = '\0';
	res = json_pack("{s:s, s:s}", "command", command, "pad", pad);
	free(pad);
	return rg_control_ok(res);
}

static void
count_cb(uv_handle_t *h, void *arg)
{
	(*(unsigned *)arg)++;
}

static unsigned
handles(void)
{
	unsigned n = 0;

	uv_walk(fuzz_loop, count_cb, &n);
	return n;
}

static void
fuzz_cleanup(void)
{
	rg_control_close(fuzz_ctl);
	uv_run(fuzz_loop, UV_RUN_NOWAIT);
	(void)rmdir(fuzz_dir);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char err[256];

	signal(SIGPIPE, SIG_IGN);
	rg_log_init("fuzz_control", 1, RG_LOG_WARN);
	if (mkdtemp(fuzz_dir) == NULL) {
		perror("fuzz_control: mkdtemp");
		exit(1);
	}
	snprintf(fuzz_path, sizeof(fuzz_path), "%s/control.sock", fuzz_dir);
	fuzz_loop = uv_default_loop();
	fuzz_ctl = rg_control_open(fuzz_loop, fuzz_path, NULL, handler, NULL,
	    err, sizeof(err));
	if (fuzz_ctl == NULL) {
		fprintf(stderr, "fuzz_control: %s\n", err);
		exit(1);
	}
	atexit(fuzz_cleanup);
	fuzz_handles = handles();
	return 0;
}

static void
client_close_cb(uv_handle_t *h)
{
	struct client *cl = h->data;

	cl->closed = 1;
}

static void
client_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct client *cl = h->data;
	char *p;

	if (cl->cap - cl->len < 4096) {
		if ((p = realloc(cl->buf, cl->cap + 65536)) == NULL) {
			*buf = uv_buf_init(NULL, 0);
			return;
		}
		cl->buf = p;
		cl->cap += 65536;
	}
	*buf = uv_buf_init(cl->buf + cl->len, (unsigned)(cl->cap - cl->len));
}

static void
client_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct client *cl = s->data;

	if (nread > 0)
		cl->len += (size_t)nread;
	else if (nread < 0 && !uv_is_closing((uv_handle_t *)s))
		uv_close((uv_handle_t *)s, client_close_cb);
}

static void
client_connect_cb(uv_connect_t *req, int status)
{
	struct client *cl = req->data;

	CHECK(status == 0);
	cl->connected = 1;
	uv_read_start((uv_stream_t *)&cl->pipe, client_alloc_cb,
	    client_read_cb);
}

static void
write_cb(uv_write_t *req, int status)
{
	free(req->data);
	free(req);
}

static void
shutdown_cb(uv_shutdown_t *req, int status)
{
}

/* Queue N bytes at P on the client, copied. */
static void
client_send(struct client *cl, const void *p, size_t n)
{
	uv_write_t *req;
	uv_buf_t b;
	char *copy;

	if ((req = malloc(sizeof(*req))) == NULL ||
	    (copy = malloc(n)) == NULL) {
		free(req);
		return;
	}
	memcpy(copy, p, n);
	req->data = copy;
	b = uv_buf_init(copy, (unsigned)n);
	if (uv_write(req, (uv_stream_t *)&cl->pipe, &b, 1, write_cb) < 0)
		write_cb(req, 0);
}

/* Every line of the replies is a JSON object with a boolean "ok". */
static void
replies_check(const char *buf, size_t len)
{
	const char *p = buf, *nl;
	json_t *reply;

	while (p < buf + len) {
		nl = memchr(p, '\n', (size_t)(buf + len - p));
		CHECK(nl != NULL);
		reply = json_loadb(p, (size_t)(nl - p), 0, NULL);
		CHECK(json_is_object(reply));
		CHECK(json_is_boolean(json_object_get(reply, "ok")));
		json_decref(reply);
		p = nl + 1;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct client cl;
	size_t piece, off, n;
	char *line;

	if (size < 1)
		return 0;
	piece = (data[0] & 0x3f) == 0x3f ? size : (size_t)(data[0] & 0x3f) + 1;
	memset(&cl, 0, sizeof(cl));
	uv_pipe_init(fuzz_loop, &cl.pipe, 0);
	cl.pipe.data = &cl;
	cl.connect.data = &cl;
	uv_pipe_connect(&cl.connect, &cl.pipe, fuzz_path, client_connect_cb);
	while (!cl.connected)
		uv_run(fuzz_loop, UV_RUN_ONCE);

	if ((data[0] & 0xc0) == 0xc0 &&
	    (line = malloc(FUZZ_LONG_LINE)) != NULL) {
		memset(line, 'x', FUZZ_LONG_LINE);
		client_send(&cl, line, FUZZ_LONG_LINE);
		free(line);
	}
	for (off = 1; off < size && !cl.closed; off += n) {
		n = size - off < piece ? size - off : piece;
		client_send(&cl, data + off, n);
		uv_run(fuzz_loop, UV_RUN_NOWAIT);
	}
	if (!cl.closed && !uv_is_closing((uv_handle_t *)&cl.pipe))
		uv_shutdown(&cl.shutdown, (uv_stream_t *)&cl.pipe,
		    shutdown_cb);
	while (!cl.closed || handles() > fuzz_handles)
		uv_run(fuzz_loop, UV_RUN_ONCE);

	replies_check(cl.buf, cl.len);
	free(cl.buf);
	return 0;
}
