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

/** {"ok": false, "error": MESSAGE} */
json_t *rg_control_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
/** {"ok": true, "result": RESULT} (RESULT stolen). */
json_t *rg_control_ok(json_t *result);

#endif
