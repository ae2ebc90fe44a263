#!/bin/sh
# guard2.sh -- guard mode's bounds and wildcard listeners, against an
# upstream played by a Python fixture on 127.0.0.1 (no lab): it answers
# every name (an A record, or four TXT records of 250 bytes for names
# that start with "big"), but never a name under hold.test, so that such
# queries stay in flight until health.timeout-ms (10 s here).
#
# - resguardd listens on 0.0.0.0 (and :: when ::1 works) and answers a
#   UDP query from the address it was sent to: 127.0.0.1 and 127.0.0.2
#   (dig drops a reply from another address), ::1;
# - a TCP client that does not read its replies is closed once 1 MiB of
#   them waits for it; many such clients are closed once 16 MiB waits for
#   all of them on a worker; the memory comes back;
# - with 10000 queries in flight on a worker, the next ones are answered
#   SERVFAIL at once with an Extended DNS Error saying so; once they are
#   over, queries are answered again.
# One worker, so that every client meets the same bounds.

# Ports RG_TEST_PORT_BASE + 2100 .. + 2109 (guard.sh has + 2000 .. + 2099):
# resguardd on the base, the fixture on base + 1.
RG_TEST_PORT_BASE=$(( ${RG_TEST_PORT_BASE:-16300} + 2100 ))
. "$(dirname "$0")/lib.sh"

G=$RG_TEST_PORT_BASE
F=$((G + 1))
CONF=$T/resguard.conf
export RG_LAB_CONTROL_SOCKET=$T/control.sock
mkdir -p "$T/state"

# A second loopback address is needed for the wildcard test.
if ! python3 -c "
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('127.0.0.2', 0))" 2>/dev/null; then
	echo "SKIP: 127.0.0.2 cannot be used"
	exit 77
fi
V6=
if python3 -c "
import socket
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.bind(('::1', 0))" 2>/dev/null; then
	V6=1
fi

cat > "$T/upstream.py" <<'EOF'
import socket, struct, sys

def parse(pkt):
    if len(pkt) < 12 or struct.unpack('>H', pkt[4:6])[0] != 1:
        return None
    off, labels = 12, []
    while True:
        if off >= len(pkt) or pkt[off] & 0xc0:
            return None
        l = pkt[off]
        if l == 0:
            off += 1
            break
        labels.append(pkt[off + 1:off + 1 + l].lower())
        off += 1 + l
    if off + 4 > len(pkt):
        return None
    qtype = struct.unpack('>H', pkt[off:off + 2])[0]
    return labels, qtype, pkt[12:off + 4]

def answer(pkt):
    p = parse(pkt)
    if p is None:
        return None
    labels, qtype, question = p
    if labels[-2:] == [b'hold', b'test']:
        return None
    an, n = b'', 0
    if labels and labels[0].startswith(b'big') and qtype == 16:
        for i in range(4):
            txt = (b'%d' % i) + b'x' * 249
            an += b'\xc0\x0c' + struct.pack('>HHIH', 16, 1, 300,
                len(txt) + 1) + bytes([len(txt)]) + txt
            n += 1
    elif qtype == 1:
        an, n = b'\xc0\x0c' + struct.pack('>HHIH', 1, 1, 300, 4) + \
            bytes([192, 0, 2, 1]), 1
    flags = 0x8080 | (struct.unpack('>H', pkt[2:4])[0] & 0x0100)
    return pkt[0:2] + struct.pack('>HHHHH', flags, 1, n, 0, 0) + \
        question + an

s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
s.bind(('127.0.0.1', int(sys.argv[1])))
print('ready', flush=True)
while True:
    pkt, addr = s.recvfrom(65535)
    r = answer(pkt)
    if r is not None:
        try:
            s.sendto(r, addr)
        except OSError:
            pass
EOF
python3 "$T/upstream.py" "$F" > "$T/upstream.out" 2>&1 &
UPSTREAM=$!
wait_until 5 "the upstream fixture is ready" -- grep -q ready "$T/upstream.out"
trap 'kill $UPSTREAM 2>/dev/null; cleanup' EXIT

LISTEN="\"0.0.0.0@$G\""
[ -n "$V6" ] && LISTEN="$LISTEN, \"::@$G\""
cat > "$CONF" <<EOF
server: {
	listen = [ $LISTEN ];
	access-control = [ "127.0.0.0/8", "::1/128" ];
	threads = 1;
	control-socket = "$RG_LAB_CONTROL_SOCKET";
	state-dir = "$T/state";
	client-timeout-ms = 12000;
	tcp-idle-timeout-ms = 20000;
};
backend: { type = "builtin"; };
pools = (
	{ name = "primary"; role = "primary";
	  upstreams = ( { name = "fixture"; address = "127.0.0.1"; port = $F;
			  transport = "udp"; } ); }
);
health: { interval-ms = 500; timeout-ms = 10000; fall = 5; rise = 1; };
EOF
expect_exit 0 "resguardd -t on the configuration" -- "$RESGUARDD" -t -c "$CONF"
daemon_start "$CONF"
wait_until 10 "normal with the upstream up" -- sh -c \
    "$RESGUARDCTL -s $RG_LAB_CONTROL_SOCKET status >/dev/null"

guard_get() {
	status_get "d[\"guard\"][\"$1\"]"
}

# -- wildcard listeners: the reply comes from the address asked
expect_match "^192.0.2.1$" "0.0.0.0: asked at 127.0.0.1" \
    "$(dig @127.0.0.1 -p "$G" +time=2 +tries=1 +short www.ok.test A 2>&1)"
expect_match "^192.0.2.1$" "0.0.0.0: asked at 127.0.0.2, answered from it" \
    "$(dig @127.0.0.2 -p "$G" +time=2 +tries=1 +short www.ok.test A 2>&1)"
expect_match "^192.0.2.1$" "0.0.0.0: asked at 127.0.0.3 without EDNS" \
    "$(dig @127.0.0.3 -p "$G" +time=2 +tries=1 +noedns +short www.ok.test A 2>&1)"
expect_match "^192.0.2.1$" "0.0.0.0: over TCP at 127.0.0.2" \
    "$(dig @127.0.0.2 -p "$G" +tcp +time=2 +tries=1 +short www.ok.test A 2>&1)"
# The source of every reply, seen by a client that accepts any: the
# address each query went to, for answers made here (REFUSED: class CH)
# and for those that came from the upstream.
out=$(python3 - "$G" <<'EOF'
import socket, struct, sys
port = int(sys.argv[1])
q = b'\x03www\x02ok\x04test\x00'
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
for i, dst in enumerate(['127.0.0.2', '127.0.0.9', '127.0.0.1']):
    for klass in (1, 3):
        s.sendto(struct.pack('>HHHHHH', i * 8 + klass, 0x0100, 1, 0, 0, 0) +
            q + struct.pack('>HH', 1, klass), (dst, port))
        try:
            r, src = s.recvfrom(4096)
            print(dst, klass, src[0], r[3] & 15)
        except socket.timeout:
            print(dst, klass, 'none')
EOF
)
for a in 127.0.0.2 127.0.0.9 127.0.0.1; do
	expect_match "^$a 1 $a 0$" "forwarded answer asked at $a comes from $a" "$out"
	expect_match "^$a 3 $a 5$" "local answer asked at $a comes from $a" "$out"
done
if [ -n "$V6" ]; then
	expect_match "^192.0.2.1$" "::: asked at ::1" \
	    "$(dig @::1 -p "$G" +time=2 +tries=1 +short www.ok.test A 2>&1)"
	expect_match "^192.0.2.1$" "::: over TCP at ::1" \
	    "$(dig @::1 -p "$G" +tcp +time=2 +tries=1 +short www.ok.test A 2>&1)"
else
	echo "# ::1 cannot be used: the IPv6 wildcard is not tested"
fi

# -- TCP clients that do not read their replies
# hog.py CONNS QUERIES GO: CONNS connections (a small receive window and
# small segments, so that the kernel holds little), each sending QUERIES
# queries for big answers and reading nothing until the file GO appears
# (at most 60 s); then each reads what it can: "closed" counts those that
# met the end of the stream (or a reset) before all of their answers.
cat > "$T/hog.py" <<'EOF'
import os, socket, struct, sys, time
port, conns, n, go = (int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]),
    sys.argv[4])
def msg(i):
    q = struct.pack('>HHHHHH', i & 0xffff, 0x0100, 1, 0, 0, 0) + \
        b'\x07big%04d\x04test\x00' % (i % 10000) + struct.pack('>HH', 16, 1)
    return struct.pack('>H', len(q)) + q
socks = []
for c in range(conns):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 536)
    s.connect(('127.0.0.1', port))
    s.setblocking(False)
    socks.append([s, b''.join(msg(c * n + i) for i in range(n))])
end = time.time() + 60
while time.time() < end and not os.path.exists(go):
    for e in socks:
        if e[1]:
            try:
                e[1] = e[1][e[0].send(e[1]):]
            except BlockingIOError:
                pass
            except OSError:
                e[1] = b''
    time.sleep(0.01)
closed = answers = 0
for e in socks:
    s, buf, got, eof = e[0], b'', 0, False
    s.settimeout(3)
    try:
        while got < n:
            r = s.recv(65536)
            if not r:
                eof = True
                break
            buf += r
            while len(buf) >= 2 and len(buf) >= 2 + (buf[0] << 8 | buf[1]):
                buf = buf[2 + (buf[0] << 8 | buf[1]):]
                got += 1
    except socket.timeout:
        pass
    except OSError:
        eof = True
    answers += got
    if eof and got < n:
        closed += 1
print('closed', closed, 'of', conns, 'answers', answers)
EOF
# above NAME VALUE: the guard counter NAME is above VALUE
above() {
	[ "$(guard_get "$1")" -gt "$2" ]
}
# hog CONNS QUERIES COUNTER: hog.py until COUNTER moves (60 s at most)
hog() {
	rm -f "$T/go"
	b=$(guard_get "$3")
	python3 "$T/hog.py" "$G" "$1" "$2" "$T/go" > "$T/hog.out" 2>&1 &
	HOG=$!
	wait_until 60 "$3 counts a closed connection" -- above "$3" "$b"
	touch "$T/go"
	wait $HOG
	cat "$T/hog.out"
}
queued_none() {
	[ "$(guard_get tcp_reply_queued)" = 0 ]
}
out=$(hog 1 3000 tcp_reply_overflow)
echo "# one client, 3000 queries: $out"
expect_match "^closed 1 of 1 " "a TCP client that reads nothing is closed" "$out"
[ "$(guard_get tcp_reply_overflow)" -ge 1 ] &&
    ok "... for its 1 MiB of replies (tcp_reply_overflow)" ||
    not_ok "tcp_reply_overflow: $(guard_get tcp_reply_overflow)"
[ "$(guard_get tcp_reply_worker_overflow)" = 0 ] &&
    ok "... before the worker's bound" ||
    not_ok "tcp_reply_worker_overflow: $(guard_get tcp_reply_worker_overflow)"
wait_until 10 "no reply bytes queued once the client is gone" -- queued_none

out=$(hog 40 1000 tcp_reply_worker_overflow)
echo "# 40 clients, 1000 queries each: $out"
expect_match "^closed [1-9]" "clients that read nothing: closed" "$out"
w=$(guard_get tcp_reply_worker_overflow)
[ "$w" -gt 0 ] &&
    ok "... once 16 MiB waits on the worker (tcp_reply_worker_overflow $w)" ||
    not_ok "tcp_reply_worker_overflow: $w"
wait_until 10 "no reply bytes queued once the clients are gone" -- queued_none
expect_match "^192.0.2.1$" "TCP answered after them" \
    "$(dig @127.0.0.1 -p "$G" +tcp +time=2 +tries=1 +short www.ok.test A 2>&1)"

# -- too many queries in flight: sent until the first refusal is seen
# Retired upstream sockets count against the bound until their last reply
# is in: some from the phases above may still wait (a loaded machine),
# and closing them after the refusal would make room again before dig
# asks.  So the phase starts without any.
retired_none() {
	[ "$(guard_get udp_retired)" = 0 ]
}
wait_until 30 "no retired upstream socket waits for replies" -- retired_none
out=$(python3 - "$G" <<'EOF'
import socket, struct, sys, time
port = int(sys.argv[1])
opt = b'\x00' + struct.pack('>HHIH', 41, 1232, 0, 0)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
s.setblocking(False)
sent = over = other = 0
def drain():
    global over, other
    while True:
        try:
            r = s.recv(4096)
        except BlockingIOError:
            return
        if r[3] & 15 == 2 and b'resguard: too many queries in flight' in r:
            over += 1
        else:
            other += 1
end = time.time() + 2.5
while time.time() < end and over == 0 and sent < 40000:
    for k in range(100):
        q = struct.pack('>HHHHHH', sent & 0xffff, 0x0100, 1, 0, 0, 1) + \
            b'\x06q%05d\x04hold\x04test\x00' % sent + \
            struct.pack('>HH', 1, 1) + opt
        try:
            s.sendto(q, ('127.0.0.1', port))
            sent += 1
        except BlockingIOError:
            break
    time.sleep(0.001)
    drain()
time.sleep(0.3)
drain()
print('sent', sent, 'overloaded', over, 'other', other)
EOF
)
# (The queries sent stay in flight for 10 s: time enough for dig.)
dout=$(dig @127.0.0.1 -p "$G" +time=2 +tries=1 www.ok.test A 2>&1)
echo "# $out"
expect_match "overloaded [1-9]" \
    "10000 queries in flight: the next gets SERVFAIL with the EDE at once" "$out"
expect_match "status: SERVFAIL" "dig: SERVFAIL while the worker is full" "$dout"
expect_match "EDE: 0 (Other): (resguard: too many queries in flight)" \
    "dig: the EDE says why" "$dout"
n=$(guard_get overloaded)
[ "$n" -gt 0 ] && ok "refusals counted (overloaded $n)" || not_ok "overloaded: $n"
inflight_none() {
	[ "$(guard_get inflight)" = 0 ]
}
wait_until 30 "the held queries are over" -- inflight_none
expect_match "^192.0.2.1$" "answered again once they are over" \
    "$(dig @127.0.0.1 -p "$G" +time=2 +tries=1 +short www.ok.test A 2>&1)"
[ "$(guard_get udp_retired)" -ge 0 ] 2>/dev/null &&
    ok "udp_retired in the status ($(guard_get udp_retired))" ||
    not_ok "udp_retired missing"
metrics=$(status_get 'sorted(d["guard"].keys())')
for k in overloaded tcp_reply_overflow tcp_reply_worker_overflow \
    recursion_late tcp_reply_queued; do
	expect_match "'$k'" "guard status has $k" "$metrics"
done

kill -0 "$DAEMON_PID" && ok "still running" || not_ok "daemon died"
daemon_stop && ok "SIGTERM: clean exit" || not_ok "SIGTERM: exit $?"
finish
