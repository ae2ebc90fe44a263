#!/bin/sh
# push.sh -- the push endpoint of the HTTP listener, served by
# tests/system/push-server (the listener with a callback that records what
# it gets) and driven by curl: HTTPS with a CA made here, client
# certificates from that CA, self-signed and for the wrong purpose, the
# bearer token right, wrong and missing, the signature header passed on,
# documents too large, a body that comes too slowly, too many pushes at
# once, and /status still served over HTTPS.  Everything on 127.0.0.1.

PORT=$(( ${RG_TEST_PORT_BASE:-16300} + 4400 ))
SRCDIR=${RG_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILDDIR=${RG_BUILDDIR:-$SRCDIR}
SERVER=${RG_PUSH_SERVER:-$BUILDDIR/tests/system/push-server}

for tool in curl openssl python3; do
	if ! command -v $tool >/dev/null 2>&1; then
		echo "SKIP: $tool not found"
		exit 77
	fi
done
if [ ! -x "$SERVER" ]; then
	echo "$SERVER: not built"
	exit 99
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/rg-push.XXXXXX") || exit 99
PIDS=
pass=0
fail=0

cleanup() {
	for p in $PIDS; do
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	if [ "$fail" -ne 0 ]; then
		for l in "$T"/*.log; do
			[ -f "$l" ] || continue
			echo "--- $l"
			tail -n 30 "$l"
		done
	fi
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' HUP INT PIPE TERM

ok() {
	pass=$((pass + 1))
	echo "ok   $*"
}

not_ok() {
	fail=$((fail + 1))
	echo "FAIL $*"
}

# expect_eq WANT GOT DESCRIPTION
expect_eq() {
	if [ "$1" = "$2" ]; then
		ok "$3"
	else
		not_ok "$3: got '$2', expected '$1'"
	fi
}

# expect_match PATTERN DESCRIPTION TEXT
expect_match() {
	if printf '%s\n' "$3" | grep -q -- "$1"; then
		ok "$2"
	else
		not_ok "$2: /$1/ not in:"
		printf '%s\n' "$3" | sed 's/^/     /'
	fi
}

# wait_for_file SECONDS FILE: poll every 50 ms
wait_for_file() {
	i=0
	while [ ! -e "$2" ]; do
		i=$((i + 1))
		[ $i -gt $(( $1 * 20 )) ] && return 1
		sleep 0.05
	done
}

# server NAME PORT-OFFSET OPTIONS...: start push-server, wait until ready
server() {
	name=$1 port=$((PORT + $2))
	shift 2
	mkdir -p "$T/$name"
	"$SERVER" -o "$T/$name" "$@" "127.0.0.1@$port" >"$T/$name.log" 2>&1 &
	PIDS="$PIDS $!"
	eval "PID_$name=$!"
	if ! wait_for_file 10 "$T/$name/ready"; then
		not_ok "$name: push-server not ready on port $port"
		finish
	fi
}

# server_stop NAME: SIGTERM; push-server exits 0 (and, under ASan, finds
# no leak)
server_stop() {
	eval "p=\$PID_$1"
	kill -TERM "$p"
	wait "$p"
	rc=$?
	PIDS=$(echo "$PIDS" | sed "s/ $p\$//; s/ $p / /")
	expect_eq 0 "$rc" "$1: stops cleanly on SIGTERM"
}

finish() {
	echo "$pass passed, $fail failed"
	[ "$fail" -eq 0 ]
	exit $?
}

# req OPTIONS... URL: the status code; headers in $T/hdr, body in $T/body
req() {
	rm -f "$T/hdr" "$T/body"
	curl -s --max-time 20 -D "$T/hdr" -o "$T/body" -w '%{http_code}' "$@"
}

# pushes DIR: how many documents the callback got
pushes() {
	ls "$1" | grep -c '\.feed$'
}

# --- a CA, the server's certificate, and clients good and bad
cd "$T" || exit 99
mk_key() {
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
	    -out "$1" 2>>"$T/openssl.log"
}
# sign NAME SUBJECT EXTENSIONS: a certificate for NAME.key from the CA
sign() {
	printf '%s\n' "$3" > "$1.ext"
	openssl req -new -key "$1.key" -subj "$2" -out "$1.csr" \
	    2>>"$T/openssl.log" &&
	openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key \
	    -CAcreateserial -days 2 -extfile "$1.ext" -out "$1.pem" \
	    2>>"$T/openssl.log"
}
{
	mk_key ca.key &&
	openssl req -x509 -new -key ca.key -subj "/CN=resguard push test CA" \
	    -days 2 -addext "basicConstraints=critical,CA:TRUE" \
	    -addext "keyUsage=critical,keyCertSign,cRLSign" -out ca.pem \
	    2>>"$T/openssl.log" &&
	mk_key server.key &&
	sign server "/CN=127.0.0.1" "basicConstraints=CA:FALSE
subjectAltName=IP:127.0.0.1
extendedKeyUsage=serverAuth" &&
	mk_key client.key &&
	sign client "/CN=hub.test" "basicConstraints=CA:FALSE
extendedKeyUsage=clientAuth" &&
	mk_key server-only.key &&
	sign server-only "/CN=not-a-client.test" "basicConstraints=CA:FALSE
extendedKeyUsage=serverAuth" &&
	mk_key self.key &&
	openssl req -x509 -new -key self.key -subj "/CN=hub.test" -days 2 \
	    -addext "extendedKeyUsage=clientAuth" -out self.pem \
	    2>>"$T/openssl.log"
} || { cat "$T/openssl.log"; echo "cannot make the test certificates"; exit 99; }
TOKEN=$(openssl rand -hex 24)
printf '%s\n' "$TOKEN" > token
chmod 600 token
head -c 50000 /dev/urandom > doc
head -c 64 /dev/urandom | openssl base64 -A > sig
SIG=$(cat sig)
head -c 100000 /dev/urandom > exact
head -c 200000 /dev/urandom > big
head -c 3000000 /dev/zero > huge

# --- HTTPS, client certificate and token (port +0)
server mtls 0 -c server.pem -k server.key -a ca.pem -t "$TOKEN" -m 100000
U=https://127.0.0.1:$PORT
C="--cacert ca.pem"
AUTH="Authorization: Bearer $TOKEN"
GOOD="--cert client.pem --key client.key"
accepted=0

code=$(req $C "$U/status")
expect_eq 200 "$code" "GET /status over HTTPS, no client certificate"
expect_eq normal "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["mode"])' "$T/body" 2>&1)" \
    "/status over HTTPS is the status document"
expect_eq 200 "$(req $C "$U/metrics")" "GET /metrics over HTTPS"
expect_eq 000 "$(req "http://127.0.0.1:$PORT/status")" \
    "plain HTTP on the HTTPS port is not answered"
expect_eq 200 "$(req $C --tlsv1.2 --tls-max 1.2 "$U/status")" "TLS 1.2 served"
expect_eq 200 "$(req $C --tlsv1.3 "$U/status")" "TLS 1.3 served"

code=$(req $C $GOOD -H "$AUTH" -H "X-Resguard-Signature: $SIG" \
    -H "Content-Type: application/octet-stream" --data-binary @doc \
    "$U/push/feeds/hub-1.stix")
expect_eq 202 "$code" "push with certificate, token and signature accepted"
accepted=$((accepted + 1))
expect_eq '{"status": 202, "message": "accepted 50000 bytes for hub-1.stix"}' \
    "$(cat "$T/body")" "the reply is the callback's status and message"
expect_match '^Content-Type: application/json' "the reply is JSON" "$(cat "$T/hdr")"
expect_eq hub-1.stix "$(cat mtls/1.feed 2>&1)" "the callback got the feed name"
cmp -s doc mtls/1.body && ok "the callback got the body byte for byte" ||
    not_ok "the body differs: $(cmp doc mtls/1.body 2>&1)"
expect_eq "$SIG" "$(cat mtls/1.sig 2>&1)" "the signature header is passed on"

code=$(req $C $GOOD -H "$AUTH" -H "Content-Type: application/x-www-form-urlencoded" \
    --data-binary 'a=1&b=2' "$U/push/feeds/form")
expect_eq 202 "$code" "any content type: a form body is a document too"
accepted=$((accepted + 1))
expect_eq 'a=1&b=2' "$(cat mtls/2.body 2>&1)" "the form body is passed as is"
[ ! -e mtls/2.sig ] && ok "no signature header, no signature" ||
    not_ok "a signature appeared: $(cat mtls/2.sig)"

code=$(req $C $GOOD -H "$AUTH" -H "Transfer-Encoding: chunked" \
    --data-binary @doc "$U/push/feeds/chunked")
expect_eq 202 "$code" "chunked push accepted"
accepted=$((accepted + 1))
cmp -s doc mtls/3.body && ok "the chunked body arrives whole" ||
    not_ok "chunked body differs: $(cmp doc mtls/3.body 2>&1)"

code=$(req $C $GOOD -H "$AUTH" -H "Expect:" --data-binary @exact \
    "$U/push/feeds/exact")
expect_eq 202 "$code" "a document of exactly the limit is accepted"
accepted=$((accepted + 1))
cmp -s exact mtls/4.body && ok "the document at the limit arrives whole" ||
    not_ok "document at the limit differs"

code=$(req $C $GOOD -H "Authorization: Bearer x$TOKEN" --data-binary @doc \
    "$U/push/feeds/f")
expect_eq 401 "$code" "wrong token refused"
expect_match '^WWW-Authenticate: Bearer' "401 asks for a bearer token" "$(cat "$T/hdr")"
expect_match '"status": 401' "401 body is JSON" "$(cat "$T/body")"
code=$(req $C $GOOD -H "Authorization: Bearer ${TOKEN%?}" --data-binary @doc \
    "$U/push/feeds/f")
expect_eq 401 "$code" "token one character short refused"
code=$(req $C $GOOD -H "Authorization: Basic $(printf 'a:%s' "$TOKEN" | openssl base64 -A)" \
    --data-binary @doc "$U/push/feeds/f")
expect_eq 401 "$code" "the token as Basic credentials refused"
code=$(req $C $GOOD --data-binary @doc "$U/push/feeds/f")
expect_eq 401 "$code" "missing token refused"
expect_match '^WWW-Authenticate: Bearer' "401 without a token asks for one" "$(cat "$T/hdr")"

code=$(req $C -H "$AUTH" --data-binary @doc "$U/push/feeds/f")
expect_eq 403 "$code" "no client certificate: 403 even with the token"
code=$(req $C --cert self.pem --key self.key -H "$AUTH" --data-binary @doc \
    "$U/push/feeds/f")
expect_eq 403 "$code" "self-signed client certificate refused"
code=$(req $C --cert server-only.pem --key server-only.key -H "$AUTH" \
    --data-binary @doc "$U/push/feeds/f")
expect_eq 403 "$code" "certificate from the CA but not for client authentication refused"
code=$(req $C --cert self.pem --key self.key --data-binary @doc "$U/push/feeds/f")
expect_eq 403 "$code" "self-signed certificate and no token refused"
expect_match 'refused: no client certificate' \
    "the refusal without a certificate is logged" "$(cat "$T/mtls.log")"
expect_match 'refused: client certificate: .*issuer is unknown' \
    "the refusal of the self-signed certificate is logged with the reason" \
    "$(cat "$T/mtls.log")"
expect_match 'refused: client certificate: .*intended purpose' \
    "the refusal of the server certificate is logged with the reason" \
    "$(cat "$T/mtls.log")"

code=$(req $C $GOOD -H "$AUTH" -H "Expect:" --data-binary @big "$U/push/feeds/big")
expect_eq 413 "$code" "too large by Content-Length, body sent at once: 413"
expect_match 'more than 100000' "413 says the limit" "$(cat "$T/body")"
code=$(req $C $GOOD -H "$AUTH" -H "Expect: 100-continue" --data-binary @big \
    "$U/push/feeds/big")
expect_eq 413 "$code" "too large by Content-Length, 100-continue: 413"
code=$(req $C $GOOD -H "$AUTH" -H "Transfer-Encoding: chunked" \
    --data-binary @big "$U/push/feeds/big")
expect_eq 413 "$code" "too large, chunked: 413 once the body passes the limit"
code=$(req $C $GOOD -H "$AUTH" -H "Transfer-Encoding: chunked" \
    --data-binary @huge "$U/push/feeds/huge")
[ "$code" != 202 ] && [ "$code" != 200 ] &&
    ok "far too large, chunked: refused or cut ($code)" ||
    not_ok "far too large, chunked: $code"

code=$(req $C $GOOD -H "$AUTH" -H "X-Resguard-Signature: not base64!" \
    --data-binary @doc "$U/push/feeds/f")
expect_eq 400 "$code" "a signature header that is not base64 refused"

code=$(req $C $GOOD -H "$AUTH" --data-binary x "$U/push/feeds/nosuch")
expect_eq 404 "$code" "the callback's 404 is passed on"
expect_eq '{"status": 404, "message": "no feed nosuch"}' "$(cat "$T/body")" \
    "with its message"
code=$(req $C $GOOD -H "$AUTH" --data-binary x "$U/push/feeds/conflict")
expect_eq 409 "$code" "the callback's 409 is passed on"
code=$(req $C $GOOD -H "$AUTH" --data-binary x "$U/push/feeds/busy")
expect_eq 503 "$code" "the callback's 503 is passed on"
expect_match '^Retry-After:' "503 says when to retry" "$(cat "$T/hdr")"

code=$(req $C $GOOD -H "$AUTH" "$U/push/feeds/f")
expect_eq 405 "$code" "GET on a push URL: 405"
expect_match '^Allow: POST' "405 says POST" "$(cat "$T/hdr")"
code=$(req $C $GOOD -H "$AUTH" -X PUT --data-binary x "$U/push/feeds/f")
expect_eq 405 "$code" "PUT on a push URL: 405"
for path in /push /push/ /push/feeds /push/feeds/ /push/feeds/a/b \
    /push/feeds/a%2Fb /push/feeds/.hidden /push/feeds/-x /push/other/f \
    /push/feeds/%00x; do
	code=$(req $C $GOOD -H "$AUTH" --path-as-is --data-binary x "$U$path")
	expect_eq 404 "$code" "POST $path: 404"
done
code=$(req $C $GOOD -H "$AUTH" --data-binary x \
    "$U/push/feeds/$(printf '%064d' 0)")
expect_eq 404 "$code" "a feed name of 64 characters: 404"
code=$(req $C $GOOD -H "$AUTH" --data-binary x \
    "$U/push/feeds/$(printf '%063d' 0)")
expect_eq 202 "$code" "a feed name of 63 characters accepted"
accepted=$((accepted + 1))
expect_eq 405 "$(req $C -X POST --data-binary x "$U/status")" \
    "POST elsewhere still 405"

expect_eq "$accepted" "$(pushes mtls)" "the callback ran once per accepted push"
server_stop mtls

# --- HTTPS and token, no client certificate asked for (port +1)
server tls 1 -c server.pem -k server.key -T token
U=https://127.0.0.1:$((PORT + 1))
code=$(req $C -H "$AUTH" --data-binary @doc "$U/push/feeds/plain-tls")
expect_eq 202 "$code" "HTTPS, token from a file, no client certificate: accepted"
cmp -s doc tls/1.body && ok "the body arrives whole" || not_ok "the body differs"
code=$(req $C -H "Authorization: Bearer $TOKEN " --data-binary x "$U/push/feeds/f")
expect_eq 202 "$code" "trailing space after the token ignored"
code=$(req $C -H "authorization: bearer $TOKEN" --data-binary x "$U/push/feeds/f")
expect_eq 202 "$code" "header name and scheme in any case"
code=$(req $C -H "Authorization: Bearer wrong-token-wrong-token" \
    --data-binary x "$U/push/feeds/f")
expect_eq 401 "$code" "wrong token refused"
expect_eq 3 "$(pushes tls)" "the callback ran for the accepted pushes only"
server_stop tls

# --- plain HTTP on the loopback with a token (port +2)
server plain 2 -t "$TOKEN"
U=http://127.0.0.1:$((PORT + 2))
code=$(req -H "$AUTH" --data-binary @doc "$U/push/feeds/loopback")
expect_eq 202 "$code" "plain HTTP on the loopback with the token: accepted"
cmp -s doc plain/1.body && ok "the body arrives whole" || not_ok "the body differs"
expect_eq 401 "$(req --data-binary x "$U/push/feeds/f")" "no token: 401"
expect_eq 200 "$(req "$U/status")" "GET /status still served"
big=$(head -c 70000 /dev/zero | tr '\0' a)
expect_eq 431 "$(req -H "$AUTH" -H "X-Big: $big" --data-binary x "$U/push/feeds/f")" \
    "headers past the memory of a connection: 431"

# One client holds at most 16 connections: sixteen that have sent half a
# request are accepted before a seventeenth (the kernel hands them over in
# order), which is closed unanswered; the sixteen are then answered.
cat > many.py <<'PY'
import socket, sys
port = int(sys.argv[1])
held = []
for i in range(16):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(b"GET /status HTTP/1.0\r\n")
    held.append(s)
extra = socket.create_connection(("127.0.0.1", port), timeout=5)
try:
    extra.sendall(b"GET /status HTTP/1.0\r\n\r\n")
    r = extra.recv(64)
except OSError:
    r = b""
n = 0
for s in held:
    try:
        s.sendall(b"\r\n")
        n += s.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        pass
    s.close()
print("%d answered, the seventeenth %s" % (n, "answered" if r else "closed"))
PY
expect_eq "16 answered, the seventeenth closed" \
    "$(python3 many.py $((PORT + 2)) 2>&1)" \
    "one address: sixteen connections served, the seventeenth closed"

# Four pushes in the middle of their bodies: a fifth must wait.
cat > hold.py <<'PY'
import os, socket, sys, time
port, token, n, ready, go = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
socks = []
for i in range(n):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(("POST /push/feeds/hold HTTP/1.1\r\nHost: 127.0.0.1\r\n"
               "Authorization: Bearer %s\r\nContent-Length: 1000\r\n"
               "Expect: 100-continue\r\n\r\n" % token).encode())
    r = s.recv(4096)
    if not r.startswith(b"HTTP/1.1 100"):
        print("no 100 Continue: %r" % r)
        sys.exit(1)
    s.sendall(b"x" * 10)
    socks.append(s)
open(ready, "w").close()
for _ in range(400):
    if os.path.exists(go):
        break
    time.sleep(0.05)
for s in socks:
    s.close()
PY
python3 hold.py $((PORT + 2)) "$TOKEN" 4 held go > hold.log 2>&1 &
HOLD=$!
PIDS="$PIDS $HOLD"
if wait_for_file 15 held; then
	code=$(req -H "$AUTH" --data-binary x "$U/push/feeds/fifth")
	expect_eq 503 "$code" "a fifth push while four bodies are in: 503"
	expect_match '^Retry-After:' "503 says when to retry" "$(cat "$T/hdr")"
	expect_eq 200 "$(req "$U/status")" "GET served while four pushes wait"
else
	not_ok "four pushes held: $(cat hold.log)"
fi
touch go
wait "$HOLD"
i=0 code=
while [ $i -lt 100 ]; do
	code=$(req -H "$AUTH" --data-binary x "$U/push/feeds/after")
	[ "$code" = 202 ] && break
	i=$((i + 1))
	sleep 0.1
done
expect_eq 202 "$code" "pushes accepted again once the four are gone"
expect_eq 2 "$(pushes plain)" "the held pushes never reached the callback"
server_stop plain

# --- slow clients: idle time-out 5 s, a whole push within 2 s (port +3)
server slow 3 -t "$TOKEN" -i 5 -d 2
cat > slow.py <<'PY'
import select, socket, sys, time
port, token, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3]
s = socket.create_connection(("127.0.0.1", port), timeout=30)
s.sendall(("POST /push/feeds/slow HTTP/1.1\r\nHost: 127.0.0.1\r\n"
           "Authorization: Bearer %s\r\nContent-Length: 100\r\n\r\n"
           % token).encode())
sent = 0
def closed():
    try:
        d = s.recv(4096)
    except ConnectionResetError:
        return "reset"
    return "closed" if d == b"" else "answered " + repr(d.split(b"\r\n")[0])
if mode == "stall":
    s.sendall(b"0123456789")
    r, _, _ = select.select([s], [], [], 30)
    print(closed() if r else "still open after 30 s")
    sys.exit(0)
# One byte every 0.2 s: never idle, but 20 s for the whole body.
for sent in range(100):
    r, _, _ = select.select([s], [], [], 0)
    if r:
        print("%s after %d bytes" % (closed(), sent))
        sys.exit(0)
    try:
        s.sendall(b"x")
    except (BrokenPipeError, ConnectionResetError):
        print("reset after %d bytes" % sent)
        sys.exit(0)
    time.sleep(0.2)
r, _, _ = select.select([s], [], [], 10)
print("whole body sent; " + (closed() if r else "no answer"))
PY
out=$(python3 slow.py $((PORT + 3)) "$TOKEN" stall 2>&1)
expect_match '^closed\|^reset' "a body that stops is cut by the idle time-out" "$out"
out=$(python3 slow.py $((PORT + 3)) "$TOKEN" trickle 2>&1)
expect_match '^\(closed\|reset\) after [0-9]* bytes' \
    "a body that trickles is cut by the push deadline" "$out"
expect_match 'not complete in time' "the cut is logged" "$(cat "$T/slow.log")"
expect_eq 0 "$(pushes slow)" "the slow bodies never reached the callback"
expect_eq 202 "$(req -H "$AUTH" --data-binary x "http://127.0.0.1:$((PORT + 3))/push/feeds/quick")" \
    "a quick push after the slow ones accepted"
server_stop slow

# --- no token: no push endpoint (port +4)
server nopush 4
U=http://127.0.0.1:$((PORT + 4))
expect_eq 404 "$(req -H "$AUTH" --data-binary x "$U/push/feeds/f")" \
    "without a token there is no push endpoint"
expect_eq 405 "$(req -X POST --data-binary x "$U/status")" "POST /status: 405"
expect_eq 200 "$(req "$U/status")" "GET /status"
server_stop nopush

# --- start-up errors name the file or the setting
# start_err DESCRIPTION PATTERN OPTIONS...: push-server exits 1 saying so
start_err() {
	desc=$1 pat=$2
	shift 2
	mkdir -p "$T/err"
	out=$("$SERVER" -o "$T/err" "$@" 2>&1)
	rc=$?
	if [ $rc -eq 1 ] && printf '%s\n' "$out" | grep -q -- "$pat"; then
		ok "$desc"
	else
		not_ok "$desc: exit $rc, /$pat/ not in: $out"
	fi
}
L=127.0.0.1@$((PORT + 10))
start_err "missing certificate file named" "tls-cert-file $T/missing.pem: cannot read" \
    -c "$T/missing.pem" -k server.key -t "$TOKEN" "$L"
chmod 000 client.key
if [ "$(id -u)" -ne 0 ]; then
	start_err "unreadable key file named" "tls-key-file client.key: cannot read" \
	    -c client.pem -k client.key "$L"
fi
chmod 600 client.key
start_err "certificate and key that do not match named" "server.pem, tls-key-file client.key" \
    -c server.pem -k client.key "$L"
start_err "certificate alone refused" "go together" -c server.pem "$L"
start_err "a CA file without a certificate named" "push-client-ca-file token:" \
    -c server.pem -k server.key -t "$TOKEN" -a token "$L"
start_err "a CA file without HTTPS refused" "needs a push token and HTTPS" \
    -t "$TOKEN" -a ca.pem "$L"
start_err "a short token refused" "shorter than 16" -t short "$L"
printf 'two words-that-are-long-enough\n' > badtoken
start_err "a token with a space refused, file named" "badtoken: the token holds a space" \
    -T badtoken "$L"
start_err "missing token file named" "push-token-file $T/nothing: cannot read" \
    -T "$T/nothing" "$L"
start_err "plain HTTP push off the loopback refused" "needs HTTPS" \
    -t "$TOKEN" "192.0.2.1@$((PORT + 11))"

finish
