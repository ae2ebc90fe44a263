#!/usr/bin/env python3
"""report-fixture.py -- the receivers of resguard's reports, for
tests/system/report.sh; loopback only.

  report-fixture.py https  --port P --cert C --key K --ca CA --token-file F
                           --control FILE --ids FILE --log FILE [--slow-s S]
      A collector: POST /reports over HTTPS with a client certificate
      signed by CA and "Authorization: Bearer <token>"; the body must be a
      JSON array of reports.  Its mode is the first word of the control
      file, read again every 50 ms: "up" takes the reports, "down" closes
      the listening port, "500" answers 500, "slow" takes them but answers
      only after S seconds (longer than the client waits).  Every report
      taken is one JSON line in the ids file.

  report-fixture.py matrix --port P --cert C --key K --token-file F
                           --room ROOM --control FILE --ids FILE --log FILE
      A homeserver's PUT /_matrix/client/v3/rooms/ROOM/send/m.room.message/
      TXNID: the access token is required, the transaction id must be the
      id of the report carried in "org.resguard.report", a known
      transaction id gets its first event_id again.  Modes: "up", "429"
      (every request rate limited), "flaky" (every other request).

  report-fixture.py syslog (--unix PATH | --udp PORT) --out FILE
      Datagrams parsed as RFC 5424 (header, structured data with its
      escapes, BOM, then a sentence and the report as JSON); each line is
      checked (facility daemon, severity from the report, the SD-PARAMs
      against the JSON) and one JSON line written per datagram, with "ok"
      false and "why" for a line that fails.

Each writes "ready" to FILE.ready once listening; SIGTERM stops it.
"""

import argparse
import json
import os
import re
import signal
import socket
import ssl
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, HTTPServer
from socketserver import ThreadingMixIn

LOCK = threading.Lock()


def append(path, obj):
    with LOCK:
        with open(path, "a") as f:
            f.write(json.dumps(obj, sort_keys=True) + "\n")


def read_mode(path):
    try:
        with open(path) as f:
            return (f.read().split() or ["up"])[0]
    except OSError:
        return "up"


def ready(path):
    with open(path + ".ready", "w") as f:
        f.write("ready\n")


def stop_on_term():
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))


class TLSServer(ThreadingMixIn, HTTPServer):
    """TLS handshake in the request's thread, not in accept()."""

    daemon_threads = True
    allow_reuse_address = True
    tls = None

    def finish_request(self, request, client_address):
        request.settimeout(10)
        try:
            conn = self.tls.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as e:
            append(self.log_path, {"tls_error": str(e)})
            return
        self.RequestHandlerClass(conn, client_address, self)


class Handler(BaseHTTPRequestHandler):
    # HTTP/1.0: one request per connection, so "down" really is down.
    protocol_version = "HTTP/1.0"

    def log_message(self, fmt, *args):
        pass

    def reply(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except OSError:
            pass

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""


def check_report(r):
    """Why report R lacks what every report must have, or None."""
    if not isinstance(r, dict):
        return "not an object"
    for k in ("id", "kind", "time"):
        if not isinstance(r.get(k), str):
            return "no " + k
    if r["kind"] not in ("event", "status", "sighting"):
        return "kind " + r["kind"]
    if not re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$", r["time"]):
        return "time " + r["time"]
    a = r.get("agent")
    if not isinstance(a, dict) or not a.get("id") or not a.get("host"):
        return "no agent"
    key = {"event": "event", "status": "status", "sighting": "sightings"}
    if key[r["kind"]] not in r:
        return "no " + key[r["kind"]]
    if r["kind"] == "event" and r["event"].get("id") != r["id"]:
        return "event report id is not the event's id"
    return None


def summary(r, **extra):
    o = {"id": r.get("id"), "kind": r.get("kind")}
    if r.get("kind") == "event":
        o["type"] = r["event"].get("type")
        o["subject"] = r["event"].get("subject")
    if r.get("kind") == "sighting":
        hits = r["sightings"].get("hits", [])
        o["hits"] = len(hits)
        o["clients"] = any("clients" in h for h in hits)
        o["rules"] = sorted(str(h.get("rule")) for h in hits)
        o["feeds"] = sorted(set(str(h.get("feed")) for h in hits))
    o.update(extra)
    return o


# ---- the HTTPS collector ----

def run_https(a):
    token = open(a.token_file).read().strip()

    class Collector(Handler):
        def do_POST(self):
            mode = read_mode(a.control)
            raw = self.body()
            entry = {"mode": mode, "path": self.path}
            if self.path != "/reports":
                entry["code"] = 404
            elif self.headers.get("Authorization") != "Bearer " + token:
                entry["code"] = 401
            elif not (self.headers.get("Content-Type") or "").startswith(
                    "application/json"):
                entry["code"] = 415
            else:
                try:
                    batch = json.loads(raw)
                    why = ("not an array" if not isinstance(batch, list)
                           else next((w for w in map(check_report, batch)
                                      if w), None))
                except ValueError as e:
                    why = str(e)
                if why:
                    entry.update(code=400, why=why)
                elif mode == "500":
                    entry["code"] = 500
                else:
                    if mode == "slow":
                        time.sleep(a.slow_s)
                    # Taken: recorded even when the client has given up.
                    for r in batch:
                        append(a.ids, summary(r, mode=mode))
                    entry.update(code=200, n=len(batch))
            append(a.log, entry)
            self.reply(entry["code"], {"accepted": entry.get("n", 0)})

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(a.cert, a.key)
    ctx.load_verify_locations(a.ca)
    ctx.verify_mode = ssl.CERT_REQUIRED

    server = None
    ready_written = False
    deadline = time.monotonic() + a.max_s
    while time.monotonic() < deadline:
        mode = read_mode(a.control)
        if mode == "down" and server is not None:
            server.shutdown()
            server.server_close()
            server = None
            append(a.log, {"event": "closed"})
        elif mode != "down" and server is None:
            server = TLSServer(("127.0.0.1", a.port), Collector)
            server.tls = ctx
            server.log_path = a.log
            threading.Thread(target=server.serve_forever,
                             kwargs={"poll_interval": 0.05},
                             daemon=True).start()
            append(a.log, {"event": "listening"})
        if not ready_written:
            ready(a.control)
            ready_written = True
        time.sleep(0.05)


# ---- the Matrix homeserver ----

def run_matrix(a):
    token = open(a.token_file).read().strip()
    prefix = "/_matrix/client/v3/rooms/"
    txns = {}
    count = [0]

    class Homeserver(Handler):
        def do_PUT(self):
            mode = read_mode(a.control)
            raw = self.body()
            with LOCK:
                count[0] += 1
                n = count[0]
            entry = {"mode": mode, "n": n, "t": time.monotonic()}
            code, ans = self.handle_put(mode, n, raw, entry)
            entry["code"] = code
            append(a.log, entry)
            self.reply(code, ans)

        def handle_put(self, mode, n, raw, entry):
            auth = self.headers.get("Authorization")
            if auth is None:
                return 401, {"errcode": "M_MISSING_TOKEN",
                             "error": "Missing access token"}
            if auth != "Bearer " + token:
                return 401, {"errcode": "M_UNKNOWN_TOKEN",
                             "error": "Unrecognised access token"}
            path = self.path.split("?")[0]
            if not path.startswith(prefix):
                return 404, {"errcode": "M_UNRECOGNIZED"}
            parts = path[len(prefix):].split("/")
            if len(parts) != 4 or parts[1:3] != ["send", "m.room.message"]:
                return 404, {"errcode": "M_UNRECOGNIZED"}
            room = urllib.parse.unquote(parts[0])
            txn = urllib.parse.unquote(parts[3])
            entry["txn"] = txn
            if room != a.room:
                entry["why"] = "room " + room
                return 403, {"errcode": "M_FORBIDDEN"}
            if mode == "429" or (mode == "flaky" and n % 2 == 0):
                return 429, {"errcode": "M_LIMIT_EXCEEDED",
                             "error": "Too Many Requests",
                             "retry_after_ms": a.retry_after_ms}
            try:
                msg = json.loads(raw)
                rep = msg["org.resguard.report"]
                why = check_report(rep)
                if why is None and (msg.get("msgtype") != "m.text" or
                                    not msg.get("body") or
                                    msg.get("format") !=
                                    "org.matrix.custom.html" or
                                    not msg.get("formatted_body")):
                    why = "not an m.text message with HTML"
                if why is None and rep["id"] != txn:
                    why = "txnId is not the report's id"
            except (ValueError, KeyError, TypeError) as e:
                why = "body: %s" % e
            if why:
                entry["why"] = why
                return 400, {"errcode": "M_BAD_JSON", "error": why}
            with LOCK:
                dup = txn in txns
                if not dup:
                    txns[txn] = "$ev%d" % n
                event_id = txns[txn]
            append(a.ids, summary(rep, txn=txn, dup=dup))
            return 200, {"event_id": event_id}

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(a.cert, a.key)
    server = TLSServer(("127.0.0.1", a.port), Homeserver)
    server.tls = ctx
    server.log_path = a.log
    threading.Thread(target=server.serve_forever,
                     kwargs={"poll_interval": 0.05}, daemon=True).start()
    ready(a.control)
    time.sleep(a.max_s)


# ---- syslog ----

HEADER = re.compile(
    r"^<(\d{1,3})>1 "
    r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?(?:Z|[+-]\d\d:\d\d)) "
    r"([!-~]{1,255}) ([!-~]{1,48}) ([!-~]{1,128}) ([!-~]{1,32}) ")
SD_NAME = re.compile(r"[\x21\x23-\x3c\x3e-\x5c\x5e-\x7e]{1,32}")  # not = ] " SP
BAD_NEWS = {"reload-failed", "feed-rejected", "feed-held",
            "backend-failed", "reporter-failed", "reports-dropped"}


def parse_sd(s, i):
    """Structured data at s[i:]: ({SD-ID: {name: value}}, next index)."""
    if s[i] == "-":
        return {}, i + 1
    sd = {}
    while i < len(s) and s[i] == "[":
        m = SD_NAME.match(s, i + 1)
        if not m:
            raise ValueError("SD-ID at %d" % (i + 1))
        sid, i, params = m.group(0), m.end(), {}
        while s[i] == " ":
            m = SD_NAME.match(s, i + 1)
            if not m or s[m.end():m.end() + 2] != '="':
                raise ValueError("SD-PARAM at %d" % (i + 1))
            name, i, value = m.group(0), m.end() + 2, []
            while s[i] != '"':
                if s[i] == "\\" and s[i + 1] in '"\\]':
                    value.append(s[i + 1])
                    i += 2
                elif s[i] in '"]':
                    raise ValueError("unescaped %r at %d" % (s[i], i))
                else:
                    value.append(s[i])
                    i += 1
            params[name] = "".join(value)
            i += 1
        if s[i] != "]":
            raise ValueError("no ] at %d" % i)
        sd[sid] = params
        i += 1
    return sd, i


def expected_severity(r):
    if r["kind"] != "event":
        return 6
    ev = r["event"]
    t, new = ev.get("type"), ev.get("new")
    bad = (t in BAD_NEWS or (t == "mode" and new not in (None, "normal")) or
           (t == "upstream" and new in ("down", "degraded")))
    return 4 if bad else 5


def check_syslog(s):
    """The record of one datagram (text S)."""
    m = HEADER.match(s)
    if not m:
        raise ValueError("header")
    pri = int(m.group(1))
    sd, i = parse_sd(s, m.end())
    if s[i:i + 2] != " \ufeff":
        raise ValueError("no ' BOM' before MSG")
    msg = s[i + 2:]
    dec, rep, start = json.JSONDecoder(), None, 0
    for j in [k for k, c in enumerate(msg) if c == "{"]:
        try:
            obj, end = dec.raw_decode(msg, j)
        except ValueError:
            continue
        if end == len(msg):
            rep, start = obj, j
            break
    if rep is None:
        raise ValueError("no JSON at the end of MSG")
    why = check_report(rep)
    if why:
        raise ValueError("report: " + why)
    p = sd.get("resguard@32473")
    if p is None:
        raise ValueError("no resguard@32473 SD-ELEMENT")
    if pri >> 3 != 3:
        raise ValueError("facility %d, not daemon" % (pri >> 3))
    if pri & 7 != expected_severity(rep):
        raise ValueError("severity %d, expected %d" %
                         (pri & 7, expected_severity(rep)))
    if p.get("id") != rep["id"] or p.get("kind") != rep["kind"]:
        raise ValueError("SD id/kind differ from the JSON")
    if p.get("agent") != rep["agent"]["id"]:
        raise ValueError("SD agent %r, the JSON's %r" %
                         (p.get("agent"), rep["agent"]["id"]))
    msgid = m.group(6)
    if rep["kind"] == "event":
        ev = rep["event"]
        if p.get("type") != ev.get("type") or msgid != ev.get("type"):
            raise ValueError("type/MSGID differ from the event's type")
        if p.get("subject") != ev.get("subject"):
            raise ValueError("subject differs from the event's")
    elif msgid != rep["kind"]:
        raise ValueError("MSGID %s for a %s" % (msgid, rep["kind"]))
    if m.group(4) != "resguard" or not m.group(5).isdigit():
        raise ValueError("APP-NAME or PROCID")
    sentence = msg[:start].strip()
    if not sentence:
        raise ValueError("no sentence before the JSON")
    return dict(summary(rep), ok=True, pri=pri, msgid=msgid, host=m.group(3),
                sentence=sentence)


def run_syslog(a):
    if a.unix:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(a.unix)
        where = a.unix
    else:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        sock.bind(("127.0.0.1", a.udp))
        where = a.out
    ready(where)
    sock.settimeout(0.2)
    deadline = time.monotonic() + a.max_s
    while time.monotonic() < deadline:
        try:
            data = sock.recv(1 << 17)
        except socket.timeout:
            continue
        try:
            rec = check_syslog(data.decode("utf-8"))
        except (ValueError, IndexError, UnicodeDecodeError) as e:
            rec = {"ok": False, "why": str(e),
                   "line": data[:300].decode("utf-8", "replace")}
        append(a.out, rec)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("role", choices=("https", "matrix", "syslog"))
    p.add_argument("--port", type=int)
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--ca")
    p.add_argument("--token-file")
    p.add_argument("--room")
    p.add_argument("--control")
    p.add_argument("--ids")
    p.add_argument("--log")
    p.add_argument("--out")
    p.add_argument("--unix")
    p.add_argument("--udp", type=int)
    p.add_argument("--slow-s", type=float, default=2.0)
    p.add_argument("--retry-after-ms", type=int, default=300)
    # Bounded: a fixture left behind ends by itself.
    p.add_argument("--max-s", type=float, default=300)
    a = p.parse_args()
    stop_on_term()
    {"https": run_https, "matrix": run_matrix, "syslog": run_syslog}[
        a.role](a)


if __name__ == "__main__":
    sys.exit(main())
