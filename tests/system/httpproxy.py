#!/usr/bin/env python3
"""httpproxy.py -- the HTTP proxy of the tests, on 127.0.0.1.

It takes what an HTTP proxy takes from libcurl: CONNECT HOST:PORT for
https:// (a tunnel), and GET or POST with an absolute URL for http:// (the
request is made again and its reply relayed).  Only loopback targets are
served; any other gets 403.  Each request is appended to --log as
"CONNECT host:port" or "GET url" / "POST url".  --ready is written once it
listens; the process exits after --lifetime seconds, or as soon as the
process that started it is gone.
"""

import argparse
import http.client
import http.server
import os
import select
import socket
import socketserver
import sys
import threading
import time
from urllib.parse import urlsplit

LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")
HOP = ("connection", "keep-alive", "proxy-connection", "proxy-authorization",
       "transfer-encoding", "te", "upgrade")


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class Proxy(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    log_path = None
    log_lock = threading.Lock()

    def log_message(self, fmt, *args):
        pass

    def note(self, what):
        with self.log_lock:
            with open(self.log_path, "a") as f:
                f.write("%s %s\n" % (self.command, what))

    def refuse(self, status, why):
        body = (why + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_CONNECT(self):
        host, _, port = self.path.rpartition(":")
        self.note(self.path)
        if host not in LOOPBACK or not port.isdigit():
            return self.refuse(403, "loopback only")
        try:
            up = socket.create_connection((host.strip("[]"), int(port)), 5)
        except OSError as e:
            return self.refuse(502, str(e))
        self.send_response(200, "Connection established")
        self.end_headers()
        self.wfile.flush()
        me = self.connection
        end = time.monotonic() + 60
        try:
            while time.monotonic() < end:
                r, _, _ = select.select([me, up], [], [], 1.0)
                if not r:
                    continue
                for s in r:
                    data = s.recv(65536)
                    if not data:
                        return
                    (up if s is me else me).sendall(data)
        except OSError:
            pass
        finally:
            up.close()
            self.close_connection = True

    def relay(self):
        u = urlsplit(self.path)
        self.note(self.path)
        if u.scheme != "http" or u.hostname not in LOOPBACK:
            return self.refuse(403, "http:// to loopback only")
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n > 0 else None
        headers = {k: v for k, v in self.headers.items()
                   if k.lower() not in HOP}
        path = u.path or "/"
        if u.query:
            path += "?" + u.query
        try:
            c = http.client.HTTPConnection(u.hostname, u.port or 80,
                                           timeout=10)
            c.request(self.command, path, body=body, headers=headers)
            r = c.getresponse()
            data = r.read()
        except OSError as e:
            return self.refuse(502, str(e))
        self.send_response(r.status, r.reason)
        for k, v in r.getheaders():
            if k.lower() not in HOP and k.lower() != "content-length":
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        c.close()

    do_GET = relay
    do_POST = relay
    do_PUT = relay


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--ready", required=True)
    ap.add_argument("--lifetime", type=float, default=300.0)
    opts = ap.parse_args()
    Proxy.log_path = opts.log
    for attempt in range(100):
        try:
            srv = Server(("127.0.0.1", opts.port), Proxy)
            break
        except OSError:
            if attempt == 99:
                raise
            time.sleep(0.1)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    with open(opts.ready, "w") as f:
        f.write("%d\n" % os.getpid())
    parent = os.getppid()
    end = time.monotonic() + min(opts.lifetime, 3600.0)
    while time.monotonic() < end and os.getppid() == parent:
        time.sleep(0.2)
    sys.exit(0)


if __name__ == "__main__":
    main()
