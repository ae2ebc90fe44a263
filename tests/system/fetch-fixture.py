#!/usr/bin/env python3
"""fetch-fixture.py -- the feed servers played by tests/system/fetch.sh.

One process, three listeners on 127.0.0.1: plain HTTP, HTTPS, and HTTPS
that requires a client certificate.  All serve the same paths:

  /files/NAME         a file under --dir, with ETag and Last-Modified;
                      If-None-Match / If-Modified-Since give 304
  /bearer/NAME        the same, with "Authorization: Bearer --token" only
  /basic/NAME         the same, with basic auth --user:--password only
  /status/N           an empty reply with status N
  /slow               answers after --slow seconds (bounded)
  /huge               announces and sends 8 MiB
  /huge-nolength      sends 8 MiB without a Content-Length, then closes
  /truncated          announces 1000 bytes, sends 100, closes
  /redirect/http/NAME, /redirect/https/NAME
                      302 to /files/NAME on the plain or the TLS port
  /taxii/api1/collections/ID/objects/
                      TAXII 2.1: the objects of --dir/taxii/ID.json (a list
                      of {"date_added", "object"}), added_after, two per
                      page with "more"/"next", X-TAXII-Date-Added-Last;
                      collection "secret" wants the bearer token, "bad"
                      answers something that is not an envelope

Every request line is appended to --log.  --ready is written once all
three listen.  The process exits on its own after --lifetime seconds, or
as soon as the process that started it is gone.
"""

import argparse
import base64
import hashlib
import http.server
import json
import os
import socketserver
import ssl
import sys
import threading
import time
from email.utils import formatdate, parsedate_to_datetime
from urllib.parse import unquote

TAXII = "application/taxii+json;version=2.1"
PAGE = 2


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    opts = None
    log_lock = threading.Lock()

    def log_message(self, fmt, *args):
        pass

    def note(self):
        with self.log_lock:
            with open(self.opts.log, "a") as f:
                f.write("%s %s\n" % (self.server.name, self.path))

    def reply(self, status, body=b"", ctype="text/plain", headers=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def serve_file(self, name):
        path = os.path.realpath(os.path.join(self.opts.dir, name))
        if not path.startswith(os.path.realpath(self.opts.dir) + os.sep) \
                or not os.path.isfile(path):
            return self.reply(404, b"no such file\n")
        with open(path, "rb") as f:
            body = f.read()
        etag = '"%s"' % hashlib.sha256(body).hexdigest()[:32]
        mtime = os.stat(path).st_mtime
        lm = formatdate(mtime, usegmt=True)
        inm = self.headers.get("If-None-Match")
        ims = self.headers.get("If-Modified-Since")
        hdrs = [("ETag", etag), ("Last-Modified", lm)]
        if inm is not None:
            if inm == etag:
                return self.reply(304, headers=hdrs)
        elif ims is not None:
            try:
                if int(mtime) <= parsedate_to_datetime(ims).timestamp():
                    return self.reply(304, headers=hdrs)
            except (TypeError, ValueError):
                pass
        self.reply(200, body, "application/octet-stream", hdrs)

    def stream(self, total, length):
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        if length:
            self.send_header("Content-Length", str(total))
        else:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        chunk = b"x" * 65536
        sent = 0
        try:
            while sent < total:
                self.wfile.write(chunk)
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def taxii(self, cid, query):
        if self.headers.get("Accept", "").replace(" ", "") != TAXII:
            return self.reply(406, b"wrong Accept\n")
        if cid == "secret" and self.headers.get("Authorization") != \
                "Bearer " + self.opts.token:
            return self.reply(401, b'{"title": "unauthorized"}',
                              TAXII)
        if cid == "bad":
            return self.reply(200, b'[{"id": "x"}]', TAXII)
        try:
            with open(os.path.join(self.opts.dir, "taxii",
                                   cid + ".json")) as f:
                entries = json.load(f)
        except FileNotFoundError:
            return self.reply(404, b'{"title": "no collection"}', TAXII)
        entries.sort(key=lambda e: e["date_added"])
        after = query.get("added_after")
        if after is not None:
            entries = [e for e in entries if e["date_added"] > after]
        start = int(query.get("next", "0"))
        page = entries[start:start + PAGE]
        env = {}
        hdrs = []
        if page:
            env["objects"] = [e["object"] for e in page]
            hdrs = [("X-TAXII-Date-Added-First", page[0]["date_added"]),
                    ("X-TAXII-Date-Added-Last", page[-1]["date_added"])]
        if start + PAGE < len(entries):
            env["more"] = True
            env["next"] = str(start + PAGE)
        elif page:
            env["more"] = False
        self.reply(200, json.dumps(env).encode(), TAXII, hdrs)

    def do_GET(self):
        self.note()
        path, _, qs = self.path.partition("?")
        query = {}
        for kv in qs.split("&") if qs else []:
            k, _, v = kv.partition("=")
            query[k] = unquote(v)
        parts = path.split("/")
        if path.startswith("/files/"):
            return self.serve_file(path[len("/files/"):])
        if path.startswith("/bearer/"):
            if self.headers.get("Authorization") != \
                    "Bearer " + self.opts.token:
                return self.reply(401, b"token wanted\n",
                                  headers=[("WWW-Authenticate", "Bearer")])
            return self.serve_file(path[len("/bearer/"):])
        if path.startswith("/basic/"):
            want = "Basic " + base64.b64encode(
                (self.opts.user + ":" + self.opts.password).encode()
            ).decode()
            if self.headers.get("Authorization") != want:
                return self.reply(401, b"password wanted\n", headers=[
                    ("WWW-Authenticate", 'Basic realm="feeds"')])
            return self.serve_file(path[len("/basic/"):])
        if path.startswith("/status/"):
            return self.reply(int(parts[2]), b"status on purpose\n")
        if path == "/slow":
            time.sleep(self.opts.slow)
            return self.reply(200, b"late\n")
        if path == "/huge":
            return self.stream(8 << 20, True)
        if path == "/huge-nolength":
            return self.stream(8 << 20, False)
        if path == "/truncated":
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"y" * 100)
            self.wfile.flush()
            self.close_connection = True
            return
        if path.startswith("/redirect/") and len(parts) >= 4:
            scheme, port = ("https", self.opts.https) \
                if parts[2] == "https" else ("http", self.opts.http)
            loc = "%s://127.0.0.1:%d/files/%s" % (scheme, port,
                                                 "/".join(parts[3:]))
            return self.reply(302, headers=[("Location", loc)])
        if path.startswith("/taxii/api1/collections/") and len(parts) == 7 \
                and parts[5] == "objects" and parts[6] == "":
            return self.taxii(parts[4], query)
        self.reply(404, b"no such path\n")


def listen(name, port, ctx):
    # A port still held by a server that is going away: try for 10 s.
    for attempt in range(100):
        try:
            srv = Server(("127.0.0.1", port), Handler)
            break
        except OSError:
            if attempt == 99:
                raise
            time.sleep(0.1)
    srv.name = name
    if ctx is not None:
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    return srv


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--ready", required=True)
    ap.add_argument("--http", type=int, required=True)
    ap.add_argument("--https", type=int, required=True)
    ap.add_argument("--mtls", type=int, required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--ca", required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--slow", type=float, default=4.0)
    ap.add_argument("--lifetime", type=float, default=300.0)
    opts = ap.parse_args()
    opts.slow = min(opts.slow, 30.0)
    Handler.opts = opts

    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(opts.cert, opts.key)
    mtls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    mtls.load_cert_chain(opts.cert, opts.key)
    mtls.load_verify_locations(opts.ca)
    mtls.verify_mode = ssl.CERT_REQUIRED
    listen("http", opts.http, None)
    listen("https", opts.https, tls)
    listen("mtls", opts.mtls, mtls)
    with open(opts.ready, "w") as f:
        f.write("%d\n" % os.getpid())
    # Gone with the test: at the end of the lifetime, or when the test
    # that started it is gone without stopping it.
    parent = os.getppid()
    end = time.monotonic() + min(opts.lifetime, 3600.0)
    while time.monotonic() < end and os.getppid() == parent:
        time.sleep(0.2)
    sys.exit(0)


if __name__ == "__main__":
    main()
