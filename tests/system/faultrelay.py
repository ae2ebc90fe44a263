#!/usr/bin/env python3
"""faultrelay.py -- a DNS relay on loopback that breaks the network on
demand, and a client that checks every answer it gets; both played by
tests/system/faults.sh.

  faultrelay.py relay --listen 127.0.0.1@PORT --upstream 127.0.0.1@PORT
                      --control FILE [--stats FILE] [--ready FILE]
                      [--log FILE] [--max-s SECONDS] [--seed N]

Listens on UDP and TCP and passes DNS messages on to the upstream (UDP
queries under IDs of its own, one upstream TCP connection per client
connection), applying the mode written in the control file, re-read
whenever it changes:

  pass              pass everything on
  loss P            drop P % of the messages, each direction on its own
  delay MS          hold each reply MS milliseconds
  blackhole         drop everything; TCP connections are accepted and
                    left hanging
  reorder           hold each reply until the next one on the same path
                    (then send the newer first) or for 100 ms
  corrupt [KIND] [dup]
                    replace each reply by a broken copy: KIND id (the ID
                    changed), question (the question changed), qr (the QR
                    bit cleared), garbage (random bytes), cut (cut short
                    inside its records, TC not set) or mixed (each in
                    turn, the default); with dup the genuine reply follows
                    the broken one
  tcp-reset [accept|mid|mixed]
                    TCP: reset (SO_LINGER 0) at once after accept, or in
                    the middle of a reply; mixed (the default) resets
                    every other new connection at accept and the others
                    in their first reply.  UDP passes.

--stats is a JSON document of counters, rewritten when they change.  The
relay exits after --max-s seconds, or as soon as its parent is gone.

  faultrelay.py ask --server 127.0.0.1@PORT --names FILE --count N
                    [--rate QPS] [--inflight N] [--timeout S] [--tcp]
                    [--out FILE]

Sends N queries (the lines of FILE in turn: "NAME TYPE EXPECTED", TYPE A
or TXT, EXPECTED an address or the text) at a pace, over UDP or one TCP
connection each, and checks each answer: its ID, its question, that it
parses and that it holds the expected record.  Prints (and writes to
--out) a JSON summary: sent, correct, wrong, servfail, other rcodes,
stale answers (Extended DNS Error 3), timeouts, malformed replies,
truncated replies, stray datagrams and the latency.
"""

import argparse
import asyncio
import json
import os
import random
import socket
import struct
import sys
import time

T_A = 1
T_TXT = 16
T_OPT = 41


def addr_port(s):
    host, _, port = s.rpartition("@")
    return host, int(port)


def log(opts, text):
    if opts.log:
        with open(opts.log, "a") as f:
            f.write("%.3f %s\n" % (time.time(), text))


# --- DNS wire helpers ---------------------------------------------------

def skip_name(msg, off):
    """Offset after the name at OFF; ValueError when it does not parse."""
    while True:
        if off >= len(msg):
            raise ValueError("name runs past the end")
        n = msg[off]
        if n == 0:
            return off + 1
        if n & 0xC0 == 0xC0:
            if off + 2 > len(msg):
                raise ValueError("cut pointer")
            return off + 2
        if n & 0xC0:
            raise ValueError("bad label type")
        off += 1 + n


def question_end(msg):
    if len(msg) < 12 or struct.unpack(">H", msg[4:6])[0] != 1:
        return None
    try:
        off = skip_name(msg, 12)
    except ValueError:
        return None
    return off + 4 if off + 4 <= len(msg) else None


def parse_reply(msg):
    """(header fields, question wire, answer records) or ValueError."""
    if len(msg) < 12:
        raise ValueError("shorter than a header")
    qid, flags, qd, an, ns, ar = struct.unpack(">HHHHHH", msg[:12])
    if qd != 1:
        raise ValueError("QDCOUNT %d" % qd)
    off = skip_name(msg, 12)
    if off + 4 > len(msg):
        raise ValueError("cut question")
    qwire = msg[12:off + 4]
    off += 4
    answers, ede = [], []
    for i in range(an + ns + ar):
        off = skip_name(msg, off)
        if off + 10 > len(msg):
            raise ValueError("cut record header")
        rtype, rclass, ttl, rdlen = struct.unpack(">HHIH", msg[off:off + 10])
        off += 10
        if off + rdlen > len(msg):
            raise ValueError("cut record data")
        if i < an:
            answers.append((rtype, msg[off:off + rdlen]))
        elif i >= an + ns and rtype == T_OPT:
            ede += ede_codes(msg[off:off + rdlen])
        off += rdlen
    if off != len(msg):
        raise ValueError("%d bytes after the records" % (len(msg) - off))
    return qid, flags, qwire, answers, ede


def ede_codes(rdata):
    """The info-codes of the Extended DNS Errors in an OPT record."""
    out, i = [], 0
    while i + 4 <= len(rdata):
        code, n = struct.unpack(">HH", rdata[i:i + 4])
        if code == 15 and n >= 2:
            out.append(struct.unpack(">H", rdata[i + 4:i + 6])[0])
        i += 4 + n
    return out


def encode_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode("ascii")
    return out + b"\0"


def make_query(qid, name, qtype):
    hdr = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 1)
    opt = b"\0" + struct.pack(">HHIH", T_OPT, 1232, 0, 0)
    return hdr + encode_name(name) + struct.pack(">HH", qtype, 1) + opt


def txt_strings(rdata):
    out, i = [], 0
    while i < len(rdata):
        n = rdata[i]
        out.append(rdata[i + 1:i + 1 + n].decode("ascii", "replace"))
        i += 1 + n
    return out


# --- the relay ----------------------------------------------------------

class Relay:
    def __init__(self, opts):
        self.opts = opts
        self.up = addr_port(opts.upstream)
        self.mode = ["pass"]
        self.mode_text = "pass"
        self.ctl_stamp = None
        self.stats = {"mode": "pass", "mode_changes": 0, "bad_modes": 0,
                      "udp_queries": 0, "udp_replies": 0, "tcp_conns": 0,
                      "tcp_queries": 0, "tcp_replies": 0,
                      "dropped_queries": 0, "dropped_replies": 0,
                      "delayed": 0, "reordered": 0, "held_alone": 0,
                      "corrupted": {}, "genuine_after_corrupt": 0,
                      "resets_accept": 0, "resets_mid": 0, "hanging": 0,
                      "stray_replies": 0}
        self.dirty = True
        self.turn = 0		# for the mixed kinds
        self.reset_turn = 0
        self.pending = {}	# relay ID -> (client addr, client ID, time)
        self.next_id = random.randrange(65536)
        self.held = {}		# path -> (send, msg, timer)
        self.conns = set()

    def count(self, key, n=1):
        self.stats[key] += n
        self.dirty = True

    # Mode
    def read_control(self):
        try:
            st = os.stat(self.opts.control)
            stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
            if stamp == self.ctl_stamp:
                return
            self.ctl_stamp = stamp
            with open(self.opts.control) as f:
                text = f.read().strip()
        except OSError:
            return
        if not text or text == self.mode_text:
            return
        words = text.split()
        if not self.mode_ok(words):
            self.count("bad_modes")
            log(self.opts, "bad mode %r ignored" % text)
            return
        self.flush_held()
        self.mode = words
        self.mode_text = text
        self.stats["mode"] = text
        self.count("mode_changes")
        log(self.opts, "mode %s" % text)

    @staticmethod
    def mode_ok(w):
        try:
            if w[0] in ("pass", "blackhole", "reorder"):
                return len(w) == 1
            if w[0] == "loss":
                return len(w) == 2 and 0 <= float(w[1]) <= 100
            if w[0] == "delay":
                return len(w) == 2 and 0 <= int(w[1]) <= 60000
            if w[0] == "corrupt":
                kinds = ("id", "question", "qr", "garbage", "cut", "mixed")
                rest = w[1:]
                if rest and rest[-1] == "dup":
                    rest = rest[:-1]
                return len(rest) <= 1 and (not rest or rest[0] in kinds)
            if w[0] == "tcp-reset":
                return len(w) <= 2 and (len(w) == 1 or
                                        w[1] in ("accept", "mid", "mixed"))
        except ValueError:
            pass
        return False

    def lost(self):
        return (self.mode[0] == "loss" and
                random.random() * 100 < float(self.mode[1]))

    # Replies, whatever the transport: SEND delivers one message
    def reply(self, path, msg, send):
        m = self.mode
        if m[0] == "blackhole" or self.lost():
            self.count("dropped_replies")
            return
        if m[0] == "delay":
            self.count("delayed")
            self.loop.call_later(int(m[1]) / 1000.0, send, msg)
            return
        if m[0] == "reorder":
            held = self.held.pop(path, None)
            if held is None:
                timer = self.loop.call_later(0.1, self.release, path)
                self.held[path] = (send, msg, timer)
                return
            held[2].cancel()
            send(msg)
            held[0](held[1])
            self.count("reordered")
            return
        if m[0] == "corrupt":
            rest = m[1:]
            dup = bool(rest) and rest[-1] == "dup"
            if dup:
                rest = rest[:-1]
            kind = rest[0] if rest else "mixed"
            if kind == "mixed":
                kinds = ("id", "question", "qr", "garbage", "cut")
                kind = kinds[self.turn % len(kinds)]
                self.turn += 1
            bad = self.corrupt(msg, kind)
            self.stats["corrupted"][kind] = \
                self.stats["corrupted"].get(kind, 0) + 1
            self.dirty = True
            send(bad)
            if dup:
                send(msg)
                self.count("genuine_after_corrupt")
            return
        send(msg)

    def release(self, path):
        held = self.held.pop(path, None)
        if held is not None:
            held[0](held[1])
            self.count("held_alone")

    def flush_held(self):
        for path in list(self.held):
            held = self.held.pop(path)
            held[2].cancel()
            held[0](held[1])

    @staticmethod
    def corrupt(msg, kind):
        b = bytearray(msg)
        qend = question_end(msg)
        if kind == "id":
            b[0] ^= 0x5A
            b[1] ^= 0xA5
        elif kind == "qr":
            b[2] &= 0x7F
        elif kind == "question" and qend is not None:
            if b[12] > 0:
                # Another first letter: not a case change.
                b[13] = ord("q") if b[13] not in (ord("q"), ord("Q")) \
                    else ord("z")
            else:
                b[qend - 3] ^= 0x01	# the type of the root's question
        elif kind == "cut" and qend is not None and len(b) > qend + 1:
            # Inside the records, TC clear: a reply that cannot parse.
            b = b[:qend + random.randrange(1, len(b) - qend)]
            b[2] &= 0xFD
        else:
            b = bytearray(random.getrandbits(8) for _ in range(len(b)))
        return bytes(b)

    # UDP
    def udp_query(self, data, addr):
        self.count("udp_queries")
        if len(data) < 12:
            return
        if self.mode[0] == "blackhole" or self.lost():
            self.count("dropped_queries")
            return
        for _ in range(65536):
            rid = self.next_id
            self.next_id = (self.next_id + 1) & 0xFFFF
            if rid not in self.pending:
                break
        else:
            return
        self.pending[rid] = (addr, data[:2], time.monotonic())
        self.back.sendto(struct.pack(">H", rid) + data[2:])

    def udp_reply(self, data):
        if len(data) < 12:
            return
        rid = struct.unpack(">H", data[:2])[0]
        p = self.pending.pop(rid, None)
        if p is None:
            self.count("stray_replies")
            return
        self.count("udp_replies")
        addr = p[0]
        self.reply("udp", p[1] + data[2:],
                   lambda m: self.front.sendto(m, addr))

    def sweep(self):
        old = time.monotonic() - 15
        for rid in [r for r, p in self.pending.items() if p[2] < old]:
            del self.pending[rid]

    # TCP
    @staticmethod
    def rst(writer):
        sock = writer.get_extra_info("socket")
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                            struct.pack("ii", 1, 0))
        except OSError:
            pass
        writer.transport.abort()

    def reset_kind(self):
        k = self.mode[1] if len(self.mode) > 1 else "mixed"
        if k == "mixed":
            k = ("accept", "mid")[self.reset_turn % 2]
            self.reset_turn += 1
        return k

    async def tcp_client(self, reader, writer):
        self.count("tcp_conns")
        kind = self.reset_kind() if self.mode[0] == "tcp-reset" else None
        if kind == "accept":
            self.count("resets_accept")
            self.rst(writer)
            return
        uw = None
        try:
            ur, uw = await asyncio.wait_for(
                asyncio.open_connection(*self.up), 5)
            task = self.loop.create_task(self.tcp_replies(ur, writer))
            self.conns.add(task)
            try:
                while True:
                    hdr = await reader.readexactly(2)
                    msg = await reader.readexactly(
                        struct.unpack(">H", hdr)[0])
                    self.count("tcp_queries")
                    if self.mode[0] == "blackhole":
                        self.count("hanging")
                        continue
                    if self.lost():
                        self.count("dropped_queries")
                        continue
                    uw.write(hdr + msg)
            finally:
                task.cancel()
                self.conns.discard(task)
        except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError):
            pass
        finally:
            for w in (writer, uw):
                if w is not None:
                    w.close()

    async def tcp_replies(self, ur, writer):
        path = ("tcp", id(writer))

        def send(m):
            if not writer.is_closing():
                writer.write(struct.pack(">H", len(m)) + m)
        try:
            while True:
                hdr = await ur.readexactly(2)
                msg = await ur.readexactly(struct.unpack(">H", hdr)[0])
                self.count("tcp_replies")
                if self.mode[0] == "tcp-reset" and \
                        self.mode[1:2] != ["accept"]:
                    # Half a reply, then a reset.
                    writer.write(hdr + msg[:len(msg) // 2])
                    await writer.drain()
                    self.count("resets_mid")
                    self.rst(writer)
                    return
                self.reply(path, msg, send)
        except (OSError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            self.held.pop(path, None)

    async def run(self):
        opts = self.opts
        self.loop = asyncio.get_running_loop()
        host, port = addr_port(opts.listen)
        relay = self

        class Front(asyncio.DatagramProtocol):
            def datagram_received(self, data, addr):
                relay.udp_query(data, addr)

        class Back(asyncio.DatagramProtocol):
            def datagram_received(self, data, addr):
                relay.udp_reply(data)

        self.front, _ = await self.loop.create_datagram_endpoint(
            Front, local_addr=(host, port))
        self.back, _ = await self.loop.create_datagram_endpoint(
            Back, remote_addr=self.up)
        server = await asyncio.start_server(self.tcp_client, host, port,
                                            reuse_address=True)
        self.read_control()
        if opts.ready:
            with open(opts.ready, "w") as f:
                f.write("ready\n")
        log(opts, "listening on %s, upstream %s" % (opts.listen,
                                                     opts.upstream))
        parent = os.getppid()
        end = time.monotonic() + opts.max_s
        n = 0
        while time.monotonic() < end:
            await asyncio.sleep(0.05)
            n += 1
            self.read_control()
            if self.dirty and opts.stats:
                self.dirty = False
                tmp = opts.stats + ".tmp"
                with open(tmp, "w") as f:
                    json.dump(self.stats, f)
                os.replace(tmp, opts.stats)
            if n % 20 == 0:
                self.sweep()
                if os.getppid() != parent:
                    log(opts, "parent gone: exit")
                    break
        else:
            log(opts, "lifetime of %d s over: exit" % opts.max_s)
        server.close()
        for t in list(self.conns):
            t.cancel()


# --- the checking client ------------------------------------------------

class Asker:
    def __init__(self, opts):
        self.opts = opts
        self.host, self.port = addr_port(opts.server)
        self.names = []
        with open(opts.names) as f:
            for line in f:
                w = line.split()
                if len(w) >= 3 and not w[0].startswith("#"):
                    self.names.append((w[0], {"A": T_A, "TXT": T_TXT}[w[1]],
                                       w[2]))
        self.r = {"sent": 0, "correct": 0, "wrong": 0, "servfail": 0,
                  "rcodes": {}, "timeout": 0, "malformed": 0, "stale": 0,
                  "truncated": 0, "stray": 0, "examples": []}
        self.lat = []
        self.waiting = {}

    def example(self, text):
        if len(self.r["examples"]) < 5:
            self.r["examples"].append(text)

    def judge(self, q, msg, t0):
        name, qtype, want = q
        qwire = encode_name(name) + struct.pack(">HH", qtype, 1)
        try:
            _, flags, got_q, answers, ede = parse_reply(msg)
        except ValueError as e:
            self.r["malformed"] += 1
            self.example("%s: malformed reply (%s)" % (name, e))
            return
        if not flags & 0x8000 or got_q.lower() != qwire.lower():
            self.r["malformed"] += 1
            self.example("%s: not a reply to the question" % name)
            return
        self.lat.append(time.monotonic() - t0)
        rcode = flags & 0x0F
        if flags & 0x0200:
            self.r["truncated"] += 1
            return
        if 3 in ede:
            self.r["stale"] += 1
            return
        if rcode == 2:
            self.r["servfail"] += 1
            return
        if rcode != 0:
            k = str(rcode)
            self.r["rcodes"][k] = self.r["rcodes"].get(k, 0) + 1
            return
        ok = False
        for rtype, rdata in answers:
            if rtype != qtype:
                continue
            if qtype == T_A and len(rdata) == 4:
                ok = socket.inet_ntoa(rdata) == want
            elif qtype == T_TXT:
                ok = txt_strings(rdata) == [want]
            if not ok:
                break
        if ok:
            self.r["correct"] += 1
        else:
            self.r["wrong"] += 1
            self.example("%s: wrong answer %r" % (name, answers))

    async def ask_udp(self, q, sock_send):
        qid = random.randrange(65536)
        while qid in self.waiting:
            qid = random.randrange(65536)
        fut = self.loop.create_future()
        self.waiting[qid] = fut
        t0 = time.monotonic()
        sock_send(make_query(qid, q[0], q[1]))
        try:
            msg = await asyncio.wait_for(fut, self.opts.timeout)
        except asyncio.TimeoutError:
            self.r["timeout"] += 1
            return
        finally:
            self.waiting.pop(qid, None)
        self.judge(q, msg, t0)

    async def ask_tcp(self, q):
        qid = random.randrange(65536)
        t0 = time.monotonic()
        w = None
        try:
            r, w = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port),
                self.opts.timeout)
            m = make_query(qid, q[0], q[1])
            w.write(struct.pack(">H", len(m)) + m)
            left = self.opts.timeout - (time.monotonic() - t0)
            hdr = await asyncio.wait_for(r.readexactly(2), max(left, 0.01))
            msg = await asyncio.wait_for(
                r.readexactly(struct.unpack(">H", hdr)[0]),
                max(self.opts.timeout - (time.monotonic() - t0), 0.01))
        except asyncio.TimeoutError:
            self.r["timeout"] += 1
            return
        except (OSError, asyncio.IncompleteReadError) as e:
            self.r["malformed"] += 1
            self.example("%s: TCP: %s" % (q[0], e))
            return
        finally:
            if w is not None:
                w.close()
        if struct.unpack(">H", msg[:2])[0] != qid:
            self.r["malformed"] += 1
            self.example("%s: TCP reply with another ID" % q[0])
            return
        self.judge(q, msg, t0)

    async def run(self):
        self.loop = asyncio.get_running_loop()
        asker = self

        class Proto(asyncio.DatagramProtocol):
            def datagram_received(self, data, addr):
                if len(data) < 2:
                    asker.r["stray"] += 1
                    return
                fut = asker.waiting.get(struct.unpack(">H", data[:2])[0])
                if fut is None or fut.done():
                    asker.r["stray"] += 1
                else:
                    fut.set_result(data)

        send = None
        if not self.opts.tcp:
            tr, _ = await self.loop.create_datagram_endpoint(
                Proto, remote_addr=(self.host, self.port))
            send = tr.sendto
        sem = asyncio.Semaphore(self.opts.inflight)
        tasks = []

        async def one(q):
            try:
                if self.opts.tcp:
                    await self.ask_tcp(q)
                else:
                    await self.ask_udp(q, send)
            finally:
                sem.release()

        gap = 1.0 / self.opts.rate if self.opts.rate > 0 else 0
        start = time.monotonic()
        for i in range(self.opts.count):
            await sem.acquire()
            due = start + i * gap
            now = time.monotonic()
            if due > now:
                await asyncio.sleep(due - now)
            self.r["sent"] += 1
            tasks.append(self.loop.create_task(
                one(self.names[i % len(self.names)])))
        await asyncio.gather(*tasks)
        self.r["seconds"] = round(time.monotonic() - start, 2)
        lat = sorted(self.lat)
        if lat:
            self.r["p50_ms"] = round(lat[len(lat) // 2] * 1000, 1)
            self.r["p99_ms"] = round(lat[int(len(lat) * 0.99)] * 1000, 1)
            self.r["max_ms"] = round(lat[-1] * 1000, 1)
        text = json.dumps(self.r, sort_keys=True)
        if self.opts.out:
            with open(self.opts.out, "w") as f:
                f.write(text + "\n")
        print(text)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("relay")
    r.add_argument("--listen", required=True)
    r.add_argument("--upstream", required=True)
    r.add_argument("--control", required=True)
    r.add_argument("--stats")
    r.add_argument("--ready")
    r.add_argument("--log")
    r.add_argument("--max-s", type=int, default=300)
    r.add_argument("--seed", type=int)
    a = sub.add_parser("ask")
    a.add_argument("--server", required=True)
    a.add_argument("--names", required=True)
    a.add_argument("--count", type=int, default=100)
    a.add_argument("--rate", type=float, default=100)
    a.add_argument("--inflight", type=int, default=50)
    a.add_argument("--timeout", type=float, default=5)
    a.add_argument("--tcp", action="store_true")
    a.add_argument("--out")
    opts = ap.parse_args()
    for s in [getattr(opts, k, None) for k in ("listen", "upstream",
                                                  "server")]:
        if s is not None and not (s.startswith("127.") or
                                  s.startswith("::1@")):
            sys.exit("%s: loopback addresses only" % s)
    if opts.cmd == "relay":
        if opts.seed is not None:
            random.seed(opts.seed)
        asyncio.run(Relay(opts).run())
    else:
        asyncio.run(Asker(opts).run())


if __name__ == "__main__":
    main()
