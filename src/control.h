/*
 * control.h -- the control socket.
 *
 * A UNIX stream socket, mode 0660, speaking one JSON object per line each
 * way: {"command": "...", ...} in, {"ok": true, "result": {...}} or
 * {"ok": false, "error": "..."} out.  This part does the framing, refuses
 * malformed and unknown requests, and refuses state-changing commands from
 * peers that are neither root, nor the daemon's own user, nor in the
 * configured control group (SO_PEERCRED); the owner's handler does the
 * rest.
 */
#ifndef RG_CONTROL_H
#define RG_CONTROL_H

#include <jansson.h>
#include <uv.h>

struct rg_control;

/**
 * Handle a well-formed request for a known COMMAND; return the whole reply
 * object (a new reference).
 */
typedef json_t *rg_control_handler(void *arg, const char *command,
    json_t *request);

/**
 * Listen on PATH (its directory is made when missing; a stale socket is
 * replaced, a live one is an error).  GROUP, when not NULL, owns the socket
 * and may change state.  Returns NULL with a message in ERR.
 */
struct rg_control *rg_control_open(uv_loop_t *loop, const char *path,
    const char *group, rg_control_handler *handler, void *arg, char *err,
    size_t err_len);

/** Stop listening, close every connection, remove the socket. */
void rg_control_close(struct rg_control *c);

/** What a handler returns when it will answer later (rg_control_later). */
extern json_t rg_control_later_mark;
#define RG_CONTROL_LATER	(&rg_control_later_mark)

struct rg_control_pending;

/**
 * From within a handler: the request being handled will be answered
 * later, by rg_control_answer(), and the handler returns
 * RG_CONTROL_LATER.  Meanwhile the connection reads no further request,
 * so that replies keep the order of the requests.  Returns NULL (answer
 * at once) on allocation failure or outside a handler.
 */
struct rg_control_pending *rg_control_later(struct rg_control *c);

/**
 * Answer the request P stands for with REPLY (stolen) or, when TEXT is
 * not NULL, with TEXT (LEN bytes of a reply object already serialized,
 * without its newline; stolen, free(3)d).  When the peer went away or the
 * socket was closed meanwhile, the reply is dropped.  P is freed.
 */
void rg_control_answer(struct rg_control_pending *p, json_t *reply,
    char *text, size_t len);

/** {"ok": false, "error": MESSAGE} */
json_t *rg_control_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
/** {"ok": true, "result": RESULT} (RESULT stolen). */
json_t *rg_control_ok(json_t *result);

#endif
