#!/bin/sh
# transport.sh -- the transports against real servers on loopback.
#
# Starts, in a temporary directory: Unbound as a UDP/TCP and DNS over TLS
# upstream (a test CA, and a good, an expired and a self-signed
# certificate), NSD serving a small signed root zone for the recursive path,
# and a Python responder that misbehaves on purpose (garbage, wrong IDs,
# truncation, split and broken TCP replies).  Then runs transport-check
# against each and compares exit codes and output.  Everything listens on
# 127.0.0.1, ports from RG_TEST_PORT_BASE (default 16300) to base + 99.
# Exit 77 (skipped) when unbound, nsd, ldns-signzone, openssl or python3 is
# missing.

set -u

BASE=${RG_TEST_PORT_BASE:-16300}
CHECK=${RG_TRANSPORT_CHECK:-${RG_BUILDDIR:-.}/tests/system/transport-check}
PATH=$PATH:/usr/sbin:/sbin

P_UB=$((BASE + 1))		# unbound udp/tcp
P_TLS=$((BASE + 53))		# unbound tls, good certificate
P_TLS_EXP=$((BASE + 54))	# unbound tls, expired certificate
P_TLS_SELF=$((BASE + 55))	# unbound tls, self-signed certificate
P_UB2=$((BASE + 2))
P_UB3=$((BASE + 3))
P_ODD=$((BASE + 7))		# python: garbage and wrong IDs, then the answer
P_TC=$((BASE + 8))		# python: TC over udp, split reply over tcp
P_ZERO=$((BASE + 9))		# python: zero-length tcp message
P_HALF=$((BASE + 10))		# python: half a reply, then close
P_MUTE=$((BASE + 11))		# python: reads, never answers
P_NONE=$((BASE + 98))		# nothing listens here
P_ROOT=$((BASE + 99))		# nsd, the root zone

for tool in unbound nsd ldns-keygen ldns-signzone openssl python3; do
	if ! command -v $tool >/dev/null 2>&1; then
		echo "SKIP: $tool not found"
		exit 77
	fi
done
if [ ! -x "$CHECK" ]; then
	echo "transport-check not found at $CHECK (set RG_TRANSPORT_CHECK)"
	exit 99
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/rg-transport.XXXXXX") || exit 99
PIDS=""
cleanup() {
	for p in $PIDS; do
		kill "$p" 2>/dev/null
	done
	for p in $PIDS; do
		wait "$p" 2>/dev/null
	done
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

fail=0
pass=0

# check NAME WANT-EXIT PATTERN -- transport-check arguments
check() {
	name=$1 want=$2 pattern=$3
	shift 4
	out=$("$CHECK" "$@" 2>&1)
	rc=$?
	if [ "$rc" -eq "$want" ] && printf '%s\n' "$out" | grep -q -- "$pattern"
	then
		pass=$((pass + 1))
		echo "ok   $name"
	else
		fail=$((fail + 1))
		echo "FAIL $name (exit $rc, wanted $want and /$pattern/)"
		printf '%s\n' "$out" | sed 's/^/     /'
	fi
}

# wait_for PORT: until a UDP exchange there gets a reply
wait_for() {
	i=0
	while [ $i -lt 50 ]; do
		if "$CHECK" -t 200 udp "127.0.0.1@$1" www.lab.test A 2>&1 |
		    grep -q "^exchange #1: ok"; then
			return 0
		fi
		sleep 0.1
		i=$((i + 1))
	done
	echo "server on port $1 did not come up"
	return 1
}

start() {
	"$@" >>"$T/servers.log" 2>&1 &
	PIDS="$PIDS $!"
}

# --- certificates --------------------------------------------------------
mkdir -p "$T/ca"
: >"$T/ca/index.txt"
echo 01 >"$T/ca/serial"
cat >"$T/ca.cnf" <<EOF
[ ca ]
default_ca = test_ca
[ test_ca ]
database = $T/ca/index.txt
new_certs_dir = $T/ca
serial = $T/ca/serial
default_md = sha256
policy = any
copy_extensions = copy
unique_subject = no
[ any ]
commonName = supplied
EOF
ossl() {
	openssl "$@" >>"$T/openssl.log" 2>&1 ||
	    { echo "openssl $1 failed"; cat "$T/openssl.log"; exit 99; }
}
ossl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$T/ca.key" -out "$T/ca.pem" -days 2 \
    -subj "/CN=resguard test CA"
ossl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$T/other-ca.key" -out "$T/other-ca.pem" -days 2 \
    -subj "/CN=resguard other CA"
leaf() {	# leaf NAME START END
	ossl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout "$T/$1.key" -out "$T/$1.csr" -subj "/CN=fallback.lab.test" \
	    -addext "subjectAltName=DNS:fallback.lab.test,IP:127.0.0.1"
	ossl ca -batch -config "$T/ca.cnf" -cert "$T/ca.pem" \
	    -keyfile "$T/ca.key" -in "$T/$1.csr" -out "$T/$1.pem" \
	    -startdate "$2" -enddate "$3"
}
leaf good "$(date -u -d '-1 day' +%Y%m%d%H%M%SZ)" \
    "$(date -u -d '+2 days' +%Y%m%d%H%M%SZ)"
leaf expired 20200101000000Z 20210101000000Z
ossl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$T/self.key" -out "$T/self.pem" -days 2 \
    -subj "/CN=fallback.lab.test" \
    -addext "subjectAltName=DNS:fallback.lab.test"
PIN=$(openssl x509 -in "$T/good.pem" -noout -pubkey |
    openssl pkey -pubin -outform der | openssl dgst -sha256 -binary |
    openssl base64)

# --- the root zone, signed, served by NSD --------------------------------
cat >"$T/root.zone" <<EOF
.			3600 IN SOA ns.root.test. hostmaster.root.test. 1 3600 900 604800 300
.			3600 IN NS ns.root.test.
ns.root.test.		3600 IN A 127.0.0.254
www.lab.example.	3600 IN A 192.0.2.1
signed.lab.example.	3600 IN A 192.0.2.2
bogus.lab.example.	3600 IN A 192.0.2.3
EOF
(cd "$T" && ldns-keygen -a ECDSAP256SHA256 -k . >keyname 2>>"$T/openssl.log") ||
    { echo "ldns-keygen failed"; exit 99; }
KEY=$(cat "$T/keyname")
(cd "$T" && ldns-signzone -o . -f root.zone.signed root.zone "$KEY") ||
    { echo "ldns-signzone failed"; exit 99; }
# A changed record under an old signature: bogus.
sed -i 's/192\.0\.2\.3$/192.0.2.99/' "$T/root.zone.signed"
cp "$T/$KEY.key" "$T/root.key"

mkdir -p "$T/nsd"
cat >"$T/nsd.conf" <<EOF
server:
	ip-address: 127.0.0.1@$P_ROOT
	username: ""
	chroot: ""
	zonesdir: "$T"
	database: ""
	zonelistfile: "$T/nsd/zone.list"
	xfrdfile: "$T/nsd/xfrd.state"
	xfrdir: "$T/nsd"
	pidfile: "$T/nsd/nsd.pid"
	logfile: "$T/nsd/nsd.log"
	server-count: 1
	verbosity: 1
remote-control:
	control-enable: no
zone:
	name: "."
	zonefile: "$T/root.zone.signed"
EOF

# --- unbound upstreams ---------------------------------------------------
# Recursion only towards the local root: "." forwarded to NSD, hints that
# point nowhere (Unbound reads them before any stub for "."), and outgoing
# queries from loopback only.
cat >"$T/hints" <<EOF
.			3600 IN NS ns.root.test.
ns.root.test.		3600 IN A 127.0.0.254
EOF
HAVE_V6=no
if python3 -c 'import socket; socket.socket(socket.AF_INET6).bind(("::1", 0))' \
    2>/dev/null; then
	HAVE_V6=yes
fi
unbound_conf() {	# unbound_conf DIR PLAIN-PORT TLS-PORT CERT
	mkdir -p "$T/$1"
	if [ "$HAVE_V6" = yes ]; then
		v6="interface: ::1@$2
	interface: ::1@$3
	outgoing-interface: ::1"
	else
		v6="do-ip6: no"
	fi
	cat >"$T/$1/unbound.conf" <<EOF
server:
	interface: 127.0.0.1@$2
	interface: 127.0.0.1@$3
	$v6
	tls-port: $3
	tls-service-key: "$T/$4.key"
	tls-service-pem: "$T/$4.pem"
	outgoing-interface: 127.0.0.1
	prefer-ip4: yes
	username: ""
	chroot: ""
	directory: "$T/$1"
	pidfile: "$T/$1/unbound.pid"
	use-syslog: no
	logfile: ""
	verbosity: 1
	access-control: 127.0.0.0/8 allow
	do-not-query-localhost: no
	root-hints: "$T/hints"
	module-config: "iterator"
	local-zone: "lab.test." static
	local-data: "lab.test. 300 IN SOA ns.lab.test. h.lab.test. 1 3600 900 604800 300"
	local-data: "www.lab.test. 300 IN A 192.0.2.1"
	local-data: "rewritten.lab.test. 300 IN A 198.51.100.80"
	local-zone: "refused.lab.test." refuse
forward-zone:
	name: "."
	forward-addr: 127.0.0.1@$P_ROOT
EOF
}
unbound_conf ub "$P_UB" "$P_TLS" good
unbound_conf ub-exp "$P_UB2" "$P_TLS_EXP" expired
unbound_conf ub-self "$P_UB3" "$P_TLS_SELF" self

# --- the misbehaving responder -------------------------------------------
cat >"$T/odd.py" <<'EOF'
import socket, struct, sys, threading, time

def reply(q, rid=None, tc=False, addr=b"\xc0\x00\x02\x07"):
    """A reply to query Q (question copied, one A record)."""
    (qid,) = struct.unpack(">H", q[:2])
    end = 12
    while q[end] != 0:
        end += q[end] + 1
    question = q[12:end + 5]
    flags = 0x8180 | (0x0200 if tc else 0)
    ancount = 0 if tc else 1
    hdr = struct.pack(">HHHHHH", qid if rid is None else rid, flags, 1,
                      ancount, 0, 0)
    ans = b"" if tc else b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 4) + addr
    return hdr + question + ans

def udp_odd(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", port))
    other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    other.bind(("127.0.0.1", 0))
    while True:
        q, peer = s.recvfrom(4096)
        (qid,) = struct.unpack(">H", q[:2])
        s.sendto(b"\xde\xad\xbe\xef garbage", peer)
        s.sendto(reply(q, rid=qid ^ 0x5a5a), peer)
        other.sendto(reply(q), peer)           # right reply, wrong port
        time.sleep(0.05)
        s.sendto(reply(q), peer)

def udp_tc(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", port))
    while True:
        q, peer = s.recvfrom(4096)
        s.sendto(reply(q, tc=True), peer)

def read_query(c):
    buf = b""
    while len(buf) < 2:
        buf += c.recv(2 - len(buf))
    (n,) = struct.unpack(">H", buf)
    q = b""
    while len(q) < n:
        q += c.recv(n - len(q))
    return q

def tcp_server(port, handler):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(8)
    while True:
        c, _ = s.accept()
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=handler, args=(c,), daemon=True).start()

def framed(m):
    return struct.pack(">H", len(m)) + m

def tcp_split(c):
    q = read_query(c)
    (qid,) = struct.unpack(">H", q[:2])
    data = framed(reply(q, rid=qid ^ 1)) + framed(reply(q))
    for i in range(0, len(data), 7):   # small pieces, several reads
        c.sendall(data[i:i + 7])
        time.sleep(0.01)
    time.sleep(0.5)
    c.close()

def tcp_zero(c):
    read_query(c)
    c.sendall(b"\x00\x00")
    time.sleep(0.5)
    c.close()

def tcp_half(c):
    q = read_query(c)
    m = framed(reply(q))
    c.sendall(m[:len(m) // 2])
    c.close()

def tcp_mute(c):
    read_query(c)
    time.sleep(5)
    c.close()

odd, tc, zero, half, mute = (int(a) for a in sys.argv[1:6])
for target, args in ((udp_odd, (odd,)), (udp_tc, (tc,)),
                     (tcp_server, (tc, tcp_split)),
                     (tcp_server, (zero, tcp_zero)),
                     (tcp_server, (half, tcp_half)),
                     (tcp_server, (mute, tcp_mute))):
    threading.Thread(target=target, args=args, daemon=True).start()
print("odd responder up", flush=True)
while True:
    time.sleep(3600)
EOF

start nsd -d -c "$T/nsd.conf"
start unbound -d -c "$T/ub/unbound.conf"
start unbound -d -c "$T/ub-exp/unbound.conf"
start unbound -d -c "$T/ub-self/unbound.conf"
start python3 "$T/odd.py" "$P_ODD" "$P_TC" "$P_ZERO" "$P_HALF" "$P_MUTE"
for p in "$P_ROOT" "$P_UB" "$P_UB2" "$P_UB3" "$P_ODD"; do
	wait_for "$p" || { cat "$T/servers.log"; exit 99; }
done

# --- the checks ----------------------------------------------------------
U=127.0.0.1
check "udp basic" 0 "judged basic: ok" -- udp $U@$P_UB www.lab.test A
check "udp root SOA via the local root" 0 "rcode NOERROR" -- \
    udp $U@$P_UB . SOA
check "tcp basic" 0 "judged basic: ok" -- tcp $U@$P_UB www.lab.test A
check "udp expect right" 0 "judged expect: ok" -- \
    -k expect -e 192.0.2.1 udp $U@$P_UB www.lab.test A
check "udp expect wrong" 1 "got 192.0.2.1, expected 192.0.2.9" -- \
    -k expect -e 192.0.2.9 udp $U@$P_UB www.lab.test A
check "udp nxdomain" 0 "judged nxdomain: ok" -- \
    -k nxdomain udp $U@$P_UB lab.test A
check "udp refused" 1 "judged basic: REFUSED" -- \
    udp $U@$P_UB x.refused.lab.test A
check "udp, 8 at once" 0 "exchange #8: ok" -- \
    -n 8 udp $U@$P_UB www.lab.test A
check "udp nothing listening" 1 "network error" -- \
    -t 1000 udp $U@$P_NONE www.lab.test A
check "tcp nothing listening" 1 "connection refused" -- \
    -t 1000 tcp $U@$P_NONE www.lab.test A
check "udp garbage, wrong id and port first" 0 "judged basic: ok" -- \
    -v udp $U@$P_ODD www.lab.test A
check "udp garbage counted" 0 "(2 ignored)" -- \
    -v udp $U@$P_ODD www.lab.test A
check "udp TC retried over tcp, split reply" 0 "judged basic: ok" -- \
    -v udp $U@$P_TC www.lab.test A
check "tcp wrong id on the stream ignored" 0 "(1 ignored)" -- \
    -v tcp $U@$P_TC www.lab.test A
check "tcp zero-length message" 1 "malformed reply: zero-length" -- \
    tcp $U@$P_ZERO www.lab.test A
check "tcp half a reply" 1 "connection closed after" -- \
    tcp $U@$P_HALF www.lab.test A
check "tcp no reply: time-out" 1 "timeout: no reply within 300 ms" -- \
    -t 300 tcp $U@$P_MUTE www.lab.test A
check "cancelled by rg_net_free" 1 "#3: cancelled" -- \
    -x -n 3 -t 1000 tcp $U@$P_MUTE www.lab.test A

check "tls good" 0 "judged basic: ok" -- \
    tls $U@$P_TLS www.lab.test A name=fallback.lab.test ca="$T/ca.pem"
check "tls by address, no name" 0 "judged basic: ok" -- \
    tls $U@$P_TLS www.lab.test A ca="$T/ca.pem"
check "tls pin right" 0 "judged basic: ok" -- \
    tls $U@$P_TLS www.lab.test A name=fallback.lab.test ca="$T/ca.pem" \
    pin="$PIN"
check "tls pin wrong" 1 "SPKI pin mismatch: server key pin is $PIN" -- \
    tls $U@$P_TLS www.lab.test A name=fallback.lab.test ca="$T/ca.pem" \
    pin=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=
check "tls wrong name" 1 "certificate verification failed: hostname mismatch" -- \
    tls $U@$P_TLS www.lab.test A name=other.lab.test ca="$T/ca.pem"
check "tls unknown CA" 1 "certificate verification failed: unable to get local issuer" -- \
    tls $U@$P_TLS www.lab.test A name=fallback.lab.test ca="$T/other-ca.pem"
check "tls expired" 1 "certificate verification failed: certificate has expired" -- \
    tls $U@$P_TLS_EXP www.lab.test A name=fallback.lab.test ca="$T/ca.pem"
check "tls self-signed" 1 "certificate verification failed: self-signed certificate" -- \
    tls $U@$P_TLS_SELF www.lab.test A name=fallback.lab.test ca="$T/ca.pem"
check "tls missing CA file" 1 "certificate verification failed: cannot load" -- \
    tls $U@$P_TLS www.lab.test A name=fallback.lab.test ca="$T/nonexistent.pem"
check "tls to a plain DNS port" 1 "(TLS handshake not done)" -- \
    -t 1000 tls $U@$P_UB www.lab.test A name=fallback.lab.test ca="$T/ca.pem"
check "tls nothing listening" 1 "connection refused" -- \
    tls $U@$P_NONE www.lab.test A name=fallback.lab.test ca="$T/ca.pem"

# Names under lab.example: libunbound answers test. itself (RFC 6761).
if [ "$HAVE_V6" = yes ]; then
	check "udp over ::1" 0 "judged basic: ok" -- udp ::1@$P_UB www.lab.test A
	check "tcp over ::1" 0 "judged basic: ok" -- tcp ::1@$P_UB www.lab.test A
	check "tls over ::1" 0 "judged basic: ok" -- \
	    tls ::1@$P_TLS www.lab.test A name=fallback.lab.test ca="$T/ca.pem"
fi

R="root=$U@$P_ROOT"
# Never a recursive check without a root: libunbound would use the public
# root servers.
check "recursive expect" 0 "judged expect: ok" -- \
    -k expect -e 192.0.2.1 recursive www.lab.example A "$R"
check "recursive, root addresses win over hints" 0 "judged expect: ok" -- \
    -k expect -e 192.0.2.1 recursive www.lab.example A "$R" hints="$T/hints"
check "recursive root SOA" 0 "rcode NOERROR" -- recursive . SOA "$R"
check "recursive nxdomain" 0 "judged nxdomain: ok" -- \
    -k nxdomain recursive lab.example A "$R"
check "recursive signed, validated" 0 "judged dnssec-signed: ok" -- \
    -k dnssec-signed recursive signed.lab.example A "$R" ta="$T/root.key"
check "recursive signed, no anchor" 1 "signed name not validated" -- \
    -k dnssec-signed recursive signed.lab.example A "$R"
check "recursive bogus rejected" 0 "judged dnssec-bogus: ok" -- \
    -k dnssec-bogus recursive bogus.lab.example A "$R" ta="$T/root.key"
check "recursive bogus, no anchor" 1 "bogus name not rejected" -- \
    -k dnssec-bogus recursive bogus.lab.example A "$R"
check "recursive, root not answering" 1 "timeout" -- \
    -t 1500 recursive www.lab.example A root=$U@$P_NONE
check "recursive cancelled" 1 "#2: cancelled" -- \
    -x -n 2 recursive www.lab.example A root=$U@$P_NONE

echo "transport: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
