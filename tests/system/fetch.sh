#!/bin/sh
# fetch.sh -- the feed transports against local servers: files, HTTP and
# HTTPS (CA file, SPKI pin, client certificate, bearer token, basic auth,
# conditional GET, redirects, time-out, size limit, truncated and failed
# replies, an HTTP proxy), TAXII 2.1 polling with pagination and merge,
# MISP feed directories, and detached Ed25519 signatures.
#
# A test CA, server and client certificates and Ed25519 keys are made with
# openssl in the test's directory; tests/system/fetch-fixture.py plays the
# servers and tests/system/httpproxy.py the proxy on 127.0.0.1, ports
# RG_TEST_PORT_BASE + 4000 .. + 4099.

RG_TEST_PORT_BASE=$(( ${RG_TEST_PORT_BASE:-16300} + 4000 ))
. "$(dirname "$0")/lib.sh"

CHECK=${RG_FETCH_CHECK:-$BUILDDIR/tests/system/fetch-check}
FIXTURE=$SRCDIR/tests/system/fetch-fixture.py
PROXY=$SRCDIR/tests/system/httpproxy.py
PLOG=$T/proxy.log
P_HTTP=$((RG_TEST_PORT_BASE + 1))
P_HTTPS=$((RG_TEST_PORT_BASE + 2))
P_MTLS=$((RG_TEST_PORT_BASE + 3))
P_PROXY=$((RG_TEST_PORT_BASE + 4))
P_NONE=$((RG_TEST_PORT_BASE + 90))	# nothing listens here
HTTP=http://127.0.0.1:$P_HTTP
HTTPS=https://127.0.0.1:$P_HTTPS
MTLS=https://127.0.0.1:$P_MTLS
TOKEN=test-token-$$
USER=feeduser
PASS=test-password-$$
LOG=$T/requests.log
W=$T/www
FIXTURE_PID=
PROXY_PID=

if [ ! -x "$CHECK" ]; then
	echo "SKIP: $CHECK not built"
	exit 77
fi
# Only loopback: no proxy from the environment.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY \
    no_proxy NO_PROXY

fixture_stop() {
	if [ -n "$FIXTURE_PID" ]; then
		kill "$FIXTURE_PID" 2>/dev/null
		wait "$FIXTURE_PID" 2>/dev/null
		FIXTURE_PID=
	fi
	if [ -n "$PROXY_PID" ]; then
		kill "$PROXY_PID" 2>/dev/null
		wait "$PROXY_PID" 2>/dev/null
		PROXY_PID=
	fi
}
trap 'fixture_stop; cleanup' EXIT
trap 'exit 1' HUP PIPE

# --- keys and certificates, all made here and thrown away with $T
mk_cert() {	# NAME CN EXT-FILE CA
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout "$T/$1.key" -out "$T/$1.csr" -subj "/CN=$2" 2>/dev/null &&
	openssl x509 -req -in "$T/$1.csr" -CA "$T/$4.pem" -CAkey "$T/$4.key" \
	    -CAcreateserial -days 2 -out "$T/$1.pem" -extfile "$3" 2>/dev/null
}
mk_ca() {	# NAME
	openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
	    -nodes -keyout "$T/$1.key" -out "$T/$1.pem" -days 2 \
	    -subj "/CN=resguard test $1" \
	    -addext basicConstraints=critical,CA:TRUE \
	    -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
}
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' \
    > "$T/server.ext"
printf 'extendedKeyUsage=clientAuth\n' > "$T/client.ext"
if ! mk_ca ca || ! mk_ca otherca ||
    ! mk_cert server 127.0.0.1 "$T/server.ext" ca ||
    ! mk_cert client resguard-client "$T/client.ext" ca ||
    ! openssl genpkey -algorithm ed25519 -out "$T/hub.key" 2>/dev/null ||
    ! openssl pkey -in "$T/hub.key" -pubout -out "$T/hub.pub" 2>/dev/null ||
    ! openssl genpkey -algorithm ed25519 -out "$T/other.key" 2>/dev/null ||
    ! openssl pkey -in "$T/other.key" -pubout -out "$T/other.pub" \
    2>/dev/null ||
    ! openssl genpkey -algorithm ec -pkeyopt ec_paramgen_curve:P-256 \
    -out "$T/ec.key" 2>/dev/null ||
    ! openssl pkey -in "$T/ec.key" -pubout -out "$T/ec.pub" 2>/dev/null; then
	echo "cannot make the test keys with openssl"
	exit 99
fi
PIN=$(openssl x509 -in "$T/server.pem" -pubkey -noout |
    openssl pkey -pubin -outform der | openssl dgst -sha256 -binary |
    openssl base64 -A)
OTHERPIN=$(openssl pkey -in "$T/ec.key" -pubout -outform der |
    openssl dgst -sha256 -binary | openssl base64 -A)

sign() {	# FILE [KEY]: FILE.sig, 64 raw bytes
	openssl pkeyutl -sign -inkey "${2:-$T/hub.key}" -rawin -in "$1" \
	    -out "$1.sig"
}
sign_b64() {	# FILE: FILE.sig, base64 text with a line break
	sign "$1" && openssl base64 -A -in "$1.sig" > "$1.b64" &&
	    printf '\n' >> "$1.b64" && mv "$1.b64" "$1.sig"
}

# --- what the servers serve
mkdir -p "$W/taxii" "$W/misp" "$W/misp-evil" "$W/misp-missing" \
    "$W/misp-unsigned" || exit 99
printf 'bad.example\nworse.example\n' > "$W/a.txt"
printf 'base64.example\n' > "$W/b.txt"
printf 'tampered.example\n' > "$W/bad.txt"
printf 'original.example\n' > "$T/bad-orig.txt"
printf 'unsigned.example\n' > "$W/nosig.txt"
printf 'other-key.example\n' > "$W/otherkey.txt"
sign "$W/a.txt" && sign_b64 "$W/b.txt" && sign "$T/bad-orig.txt" &&
    cp "$T/bad-orig.txt.sig" "$W/bad.txt.sig" &&
    sign "$W/otherkey.txt" "$T/other.key" &&
    cp "$W/a.txt.sig" "$W/a-detached.sig" || exit 99

python3 - "$W" <<'EOF' || exit 99
import json, os, sys
w = sys.argv[1]
def ind(n, modified, value):
    return {"type": "indicator", "spec_version": "2.1",
            "id": "indicator--00000000-0000-4000-8000-%012d" % n,
            "created": "2024-01-01T00:00:00Z", "modified": modified,
            "pattern": "[domain-name:value = '%s']" % value,
            "pattern_type": "stix", "valid_from": "2024-01-01T00:00:00Z"}
c1 = [{"date_added": "2024-05-01T00:00:0%d.000Z" % n,
       "object": ind(n, "2024-01-01T00:00:00Z", "v1-%d.example" % n)}
      for n in range(1, 6)]
json.dump(c1, open(os.path.join(w, "taxii", "c1.json"), "w"))
json.dump(c1[:1], open(os.path.join(w, "taxii", "secret.json"), "w"))
json.dump([], open(os.path.join(w, "taxii", "empty.json"), "w"))
# Later additions: a newer version of 1 (".5" after a time without a
# fraction: later, though it sorts first as text), an older version of 2,
# an older version of 3 written with an offset (sorts later as text), and
# a new indicator 6.
c1b = c1 + [
    {"date_added": "2024-05-01T00:00:06.000Z",
     "object": ind(1, "2024-01-01T00:00:00.5Z", "v2-1.example")},
    {"date_added": "2024-05-01T00:00:07.000Z",
     "object": ind(2, "2023-12-31T23:59:59.999Z", "old-2.example")},
    {"date_added": "2024-05-01T00:00:08.000Z",
     "object": ind(3, "2024-01-01T01:00:00.000+02:00", "old-3.example")},
    {"date_added": "2024-05-01T00:00:09.000Z",
     "object": ind(6, "2024-01-01T00:00:00Z", "v1-6.example")}]
json.dump(c1b, open(os.path.join(w, "c1-later.json"), "w"))

uuids = ["5b4d6f2e-0d1c-4c3a-9b8e-1f2a3b4c5d6e",
         "0a9e8d7c-6b5a-4f3e-8d2c-1b0a9f8e7d6c"]
def event(u, i):
    return {"Event": {"uuid": u, "info": "event %d" % i,
            "Attribute": [{"type": "domain", "value": "misp%d.example" % i,
                           "to_ids": True}]}}
for d in ("misp", "misp-unsigned"):
    man = {}
    for i, u in enumerate(uuids):
        json.dump(event(u, i), open(os.path.join(w, d, u + ".json"), "w"))
        man[u] = {"info": "event %d" % i, "timestamp": "1700000000"}
    json.dump(man, open(os.path.join(w, d, "manifest.json"), "w"))
json.dump({"../etc/passwd": {"info": "x"}},
          open(os.path.join(w, "misp-evil", "manifest.json"), "w"))
json.dump({uuids[0]: {"info": "x"}, "11111111-2222-4333-8444-555555555555":
           {"info": "gone"}},
          open(os.path.join(w, "misp-missing", "manifest.json"), "w"))
json.dump(event(uuids[0], 0),
          open(os.path.join(w, "misp-missing", uuids[0] + ".json"), "w"))
EOF
for f in "$W"/misp/*.json "$W"/misp-unsigned/*.json; do
	sign "$f" || exit 99
done
rm -f "$W/misp-unsigned/0a9e8d7c-6b5a-4f3e-8d2c-1b0a9f8e7d6c.json.sig"

# --- the servers
python3 "$FIXTURE" --dir "$W" --log "$LOG" --http "$P_HTTP" \
    --https "$P_HTTPS" --mtls "$P_MTLS" --cert "$T/server.pem" \
    --key "$T/server.key" --ca "$T/ca.pem" --token "$TOKEN" --user "$USER" \
    --password "$PASS" --slow 4 --lifetime 300 --ready "$T/ready" \
    >"$T/fixture.log" 2>&1 &
FIXTURE_PID=$!
# Ready, or gone (a port held by another program).
fixture_settled() {
	[ -s "$T/ready" ] || ! kill -0 "$FIXTURE_PID" 2>/dev/null
}
if ! wait_until 15 "fixture starts" -- fixture_settled || [ ! -s "$T/ready" ]
then
	echo "the fixture does not listen on $P_HTTP, $P_HTTPS and $P_MTLS:"
	tail -n 5 "$T/fixture.log"
	exit 99
fi

# json_eval FILE EXPR: a Python expression on the JSON document as d
json_eval() {
	python3 -c "
import json, sys
d = json.load(open(sys.argv[1]))
print($2)" "$1" 2>&1
}
# expect_eq WANT DESCRIPTION GOT
expect_eq() {
	if [ "$1" = "$3" ]; then
		ok "$2"
	else
		not_ok "$2: \"$3\", expected \"$1\""
	fi
}
# same_file DESCRIPTION A B
same_file() {
	if cmp -s "$2" "$3"; then
		ok "$1"
	else
		not_ok "$1: $2 and $3 differ"
	fi
}
# requests: how many requests whose line matches PATTERN the fixture saw
requests() {
	grep -c -- "$1" "$LOG" 2>/dev/null
}
F="$CHECK -C $T/ca.pem"

# --- files
S=$T/st-file
expect_exit 0 "file: read" -- $F -s "$S" -o "$T/out" "file://$W/a.txt"
same_file "file: the contents" "$T/out" "$W/a.txt"
expect_match "^stamp: [0-9]*:[0-9]*:[0-9]*$" "file: a stamp is kept" "$out"
expect_exit 3 "file: unchanged is not modified" -- $F -s "$S" "file://$W/a.txt"
expect_match "^data: none" "file: nothing handed back when not modified" "$out"
cp "$W/a.txt" "$T/a-copy.txt"
expect_exit 0 "file: copy read" -- $F -s "$T/st-copy" "file://$T/a-copy.txt"
printf 'more.example\n' >> "$T/a-copy.txt"
expect_exit 0 "file: changed is new" -- $F -s "$T/st-copy" -o "$T/out" \
    "file://$T/a-copy.txt"
same_file "file: the new contents" "$T/out" "$T/a-copy.txt"
expect_exit 1 "file: missing" -- $F "file://$W/nosuch.txt"
expect_match "^code: -2 ENOENT" "file: missing is ENOENT" "$out"
expect_exit 1 "file: a directory" -- $F "file://$W/"
expect_match "not a regular file" "file: a directory is refused" "$out"
expect_exit 1 "file: over the size limit" -- $F -m 10 "file://$W/a.txt"
expect_match "^code: -27 EFBIG" "file: too big is EFBIG" "$out"
expect_match "^data: none" "file: nothing handed back on error" "$out"
expect_exit 1 "scheme not handled" -- $F "ftp://127.0.0.1:$P_NONE/x"
expect_match "EPROTONOSUPPORT" "ftp is EPROTONOSUPPORT" "$out"

# --- HTTPS
S=$T/st-https
expect_exit 0 "https: fetch" -- $F -s "$S" -o "$T/out" "$HTTPS/files/a.txt"
same_file "https: the contents" "$T/out" "$W/a.txt"
expect_match '^etag: "' "https: the ETag is kept" "$out"
expect_match '^last-modified: .* GMT$' "https: Last-Modified is kept" "$out"
expect_match '^http: 200$' "https: status 200" "$out"
expect_exit 3 "https: second fetch not modified" -- $F -s "$S" \
    "$HTTPS/files/a.txt"
expect_match '^http: 304$' "https: the server said 304" "$out"
expect_match '^etag: "' "https: the ETag is still kept after a 304" "$out"
rm -f "$S.etag"
expect_exit 3 "https: If-Modified-Since alone also gives not modified" -- \
    $F -s "$S" "$HTTPS/files/a.txt"
expect_exit 0 "http: plain fetch" -- $F -o "$T/out" "$HTTP/files/a.txt"
same_file "http: the contents" "$T/out" "$W/a.txt"

expect_exit 1 "https: 500" -- $F "$HTTPS/status/500"
expect_match "^code: -5 EIO" "https: 500 is EIO" "$out"
expect_match "^error: HTTP 500 from $HTTPS/status/500$" "https: 500 message" "$out"
expect_match '^http: 500$' "https: status 500 reported" "$out"
expect_match "^data: none" "https: nothing handed back on a 500" "$out"
expect_exit 1 "https: 404" -- $F "$HTTPS/files/nosuch.txt"
expect_match "HTTP 404 from" "https: 404 message" "$out"
expect_exit 1 "https: credentials in the URL stay out of messages" -- \
    $F "https://someone:s3cret-$$@127.0.0.1:$P_HTTPS/status/500?key=k3y-$$"
if printf '%s\n' "$out" | grep -q -e "s3cret-$$" -e "k3y-$$"; then
	not_ok "https: a message shows the password or the query: $out"
else
	ok "https: no password or query in the message"
fi
expect_match "^error: HTTP 500 from $HTTPS/status/500?...$" \
    "https: the message names the URL without them" "$out"

expect_exit 1 "https: slow server" -- $F -t 1000 "$HTTPS/slow"
expect_match "^code: -110 ETIMEDOUT" "https: time-out is ETIMEDOUT" "$out"
expect_match "$HTTPS/slow: timed out" "https: time-out message names the URL" "$out"
expect_exit 1 "https: huge body announced" -- $F -m 100000 "$HTTPS/huge"
expect_match "^code: -27 EFBIG" "https: announced too big is EFBIG" "$out"
expect_exit 1 "https: huge body not announced" -- $F -m 100000 \
    "$HTTPS/huge-nolength"
expect_match "^code: -27 EFBIG" "https: streamed too big is EFBIG" "$out"
expect_match "more than 100000 bytes" "https: too big message" "$out"
expect_exit 1 "https: truncated body" -- $F "$HTTPS/truncated"
expect_match "^code: -5 EIO" "https: truncated is EIO" "$out"
expect_match "^error: $HTTPS/truncated: " "https: truncated message names the URL" "$out"
expect_match "^data: none" "https: nothing of a truncated body handed back" "$out"
expect_exit 1 "http: nothing listens" -- $F "http://127.0.0.1:$P_NONE/x"
expect_match "^code: -5 EIO" "http: refused connection is EIO" "$out"

expect_exit 0 "https: right SPKI pin" -- $F -p "$PIN" "$HTTPS/files/a.txt"
expect_exit 1 "https: wrong SPKI pin" -- $F -p "$OTHERPIN" "$HTTPS/files/a.txt"
expect_match "pinned public key" "https: wrong pin message" "$out"
expect_exit 1 "https: wrong CA" -- "$CHECK" -C "$T/otherca.pem" \
    "$HTTPS/files/a.txt"
expect_match "^code: -5 EIO" "https: wrong CA is EIO" "$out"
expect_match "certificate" "https: wrong CA message speaks of the certificate" "$out"

expect_exit 1 "https: client certificate wanted, none given" -- \
    $F "$MTLS/files/a.txt"
expect_match "^code: -5 EIO" "https: no client certificate is EIO" "$out"
expect_exit 0 "https: with the client certificate" -- $F -c "$T/client.pem" \
    -k "$T/client.key" -o "$T/out" "$MTLS/files/a.txt"
same_file "https: client certificate: the contents" "$T/out" "$W/a.txt"

expect_exit 1 "https: bearer token missing" -- $F "$HTTPS/bearer/a.txt"
expect_match "^error: HTTP 401 from" "https: no token is a 401" "$out"
expect_exit 1 "https: bad bearer token" -- $F -b "wrong-$TOKEN" \
    "$HTTPS/bearer/a.txt"
expect_match "^error: HTTP 401 from" "https: bad token is a 401" "$out"
expect_exit 0 "https: right bearer token" -- $F -b "$TOKEN" -o "$T/out" \
    "$HTTPS/bearer/a.txt"
same_file "https: bearer: the contents" "$T/out" "$W/a.txt"
expect_exit 1 "https: bad password" -- $F -u "$USER" -P "x$PASS" \
    "$HTTPS/basic/a.txt"
expect_match "HTTP 401 from" "https: bad password is a 401" "$out"
expect_exit 0 "https: basic auth" -- $F -u "$USER" -P "$PASS" \
    "$HTTPS/basic/a.txt"

expect_exit 0 "https: redirect to https followed" -- $F -o "$T/out" \
    "$HTTPS/redirect/https/a.txt"
same_file "https: redirect: the contents" "$T/out" "$W/a.txt"
n0=$(requests "^http /files/a.txt")
expect_exit 1 "https: redirect to http refused" -- $F \
    "$HTTPS/redirect/http/a.txt"
expect_match "^code: -5 EIO" "https: redirect to http is EIO" "$out"
expect_match "redirects are followed to https only" \
    "https: redirect to http message" "$out"
expect_eq "$n0" "https: the http URL was never asked for" \
    "$(requests "^http /files/a.txt")"

# --- signatures
K="-K $T/hub.pub"
expect_exit 0 "sig: raw signature verifies" -- $F $K -o "$T/out" \
    "$HTTPS/files/a.txt"
same_file "sig: the contents" "$T/out" "$W/a.txt"
expect_exit 0 "sig: base64 signature verifies" -- $F $K "$HTTPS/files/b.txt"
expect_exit 0 "sig: file with signature" -- $F $K "file://$W/a.txt"
expect_exit 0 "sig: signature at its own URL" -- $F $K \
    -S "$HTTPS/files/a-detached.sig" "$HTTPS/files/a.txt"
expect_exit 1 "sig: tampered document" -- $F $K "$HTTPS/files/bad.txt"
expect_match "^code: -74 EBADMSG" "sig: tampered is EBADMSG" "$out"
expect_match "does not verify" "sig: tampered message" "$out"
expect_match "^data: none" "sig: nothing of a tampered document handed back" "$out"
expect_exit 1 "sig: signature missing" -- $F $K "$HTTPS/files/nosig.txt"
expect_match "^code: -74 EBADMSG" "sig: missing is EBADMSG" "$out"
expect_match "no signature at $HTTPS/files/nosig.txt.sig" "sig: missing message" "$out"
expect_exit 1 "sig: signature missing (file)" -- $F $K "file://$W/nosig.txt"
expect_match "^code: -74 EBADMSG" "sig: missing (file) is EBADMSG" "$out"
expect_exit 1 "sig: signed with another key" -- $F $K "$HTTPS/files/otherkey.txt"
expect_match "^code: -74 EBADMSG" "sig: another key is EBADMSG" "$out"
expect_exit 1 "sig: hub key not Ed25519" -- $F -K "$T/ec.pub" \
    "$HTTPS/files/a.txt"
expect_match "^code: -22 EINVAL" "sig: an EC key is EINVAL" "$out"
expect_match "ec.pub: the key is EC, not Ed25519" "sig: wrong key type message" \
    "$out"
expect_exit 1 "sig: hub key file missing" -- $F -K "$T/nosuch.pub" \
    "$HTTPS/files/a.txt"
expect_match "cannot open" "sig: missing key message" "$out"
S=$T/st-sig
expect_exit 0 "sig: first fetch" -- $F $K -s "$S" "$HTTPS/files/a.txt"
n0=$(requests "^https /files/a.txt.sig")
expect_exit 3 "sig: not modified" -- $F $K -s "$S" "$HTTPS/files/a.txt"
expect_eq "$n0" "sig: no signature fetched for a 304" \
    "$(requests "^https /files/a.txt.sig")"
expect_exit 0 "verify: raw" -- "$CHECK" verify "$T/hub.pub" "$W/a.txt" \
    "$W/a.txt.sig"
expect_exit 0 "verify: base64 and white space" -- "$CHECK" verify \
    "$T/hub.pub" "$W/b.txt" "$W/b.txt.sig"
head -c 63 "$W/a.txt.sig" > "$T/short.sig"
expect_exit 1 "verify: 63 bytes" -- "$CHECK" verify "$T/hub.pub" "$W/a.txt" \
    "$T/short.sig"
expect_match "^code: -22 EINVAL" "verify: a short signature is EINVAL" "$out"
expect_exit 1 "verify: other data" -- "$CHECK" verify "$T/hub.pub" "$W/b.txt" \
    "$W/a.txt.sig"
expect_match "^code: -74 EBADMSG" "verify: other data is EBADMSG" "$out"
expect_exit 1 "verify: a private key is not a public key" -- "$CHECK" verify \
    "$T/hub.key" "$W/a.txt" "$W/a.txt.sig"

# --- TAXII 2.1
C1=taxii+https://127.0.0.1:$P_HTTPS/taxii/api1/collections/c1/
S=$T/st-taxii
: > "$LOG"
expect_exit 0 "taxii: first poll" -- $F -s "$S" -o "$T/bundle" "$C1"
expect_match "^objects-new: 5$" "taxii: 5 objects received" "$out"
expect_match "^added-last: 2024-05-01T00:00:05.000Z$" \
    "taxii: X-TAXII-Date-Added-Last kept" "$out"
expect_eq "3" "taxii: three pages asked for" \
    "$(requests "^https /taxii/api1/collections/c1/objects/")"
expect_eq "1" "taxii: page 2 by next" "$(requests "objects/?next=2$")"
expect_eq "1" "taxii: page 3 by next" "$(requests "objects/?next=4$")"
expect_eq "bundle 5 5" "taxii: a bundle of the 5 objects" \
    "$(json_eval "$T/bundle" 'd["type"], len(d["objects"]), len({o["id"] for o in d["objects"]})' | tr -d "(),'")"
: > "$LOG"
expect_exit 3 "taxii: second poll, nothing new" -- $F -s "$S" "$C1"
expect_match "^objects-new: 0$" "taxii: no object received" "$out"
expect_eq "1" "taxii: asked with added_after" \
    "$(requests "objects/?added_after=2024-05-01T00%3A00%3A05.000Z$")"
cp "$W/c1-later.json" "$W/taxii/c1.json"
: > "$LOG"
expect_exit 0 "taxii: third poll, new versions" -- $F -s "$S" -o "$T/bundle" "$C1"
expect_match "^objects-new: 4$" "taxii: 4 objects received" "$out"
expect_match "^added-last: 2024-05-01T00:00:09.000Z$" \
    "taxii: X-TAXII-Date-Added-Last moves on" "$out"
expect_eq "2" "taxii: two pages after added_after" \
    "$(requests "added_after=2024-05-01T00%3A00%3A05.000Z")"
pat() {
	json_eval "$T/bundle" "[o['pattern'] for o in d['objects'] if o['id'].endswith('$1')][0]"
}
expect_eq "6" "taxii: 6 objects after the merge" \
    "$(json_eval "$T/bundle" 'len(d["objects"])')"
expect_eq "[domain-name:value = 'v2-1.example']" \
    "taxii: a later version (.5 s after a time without fraction) replaces" \
    "$(pat 000000000001)"
expect_eq "[domain-name:value = 'v1-2.example']" \
    "taxii: an older version does not replace" "$(pat 000000000002)"
expect_eq "[domain-name:value = 'v1-3.example']" \
    "taxii: an older version in another offset does not replace" \
    "$(pat 000000000003)"
expect_eq "[domain-name:value = 'v1-6.example']" \
    "taxii: a new object is added" "$(pat 000000000006)"
expect_exit 3 "taxii: fourth poll, nothing new" -- $F -s "$S" "$C1"
python3 - "$W/taxii/c1.json" <<'EOF' || exit 99
import copy, json, sys
c = json.load(open(sys.argv[1]))
e = copy.deepcopy(c[1])
e["date_added"] = "2024-05-01T00:00:10.000Z"
e["object"]["pattern"] = "[domain-name:value = 'old-2b.example']"
e["object"]["modified"] = "2023-06-01T00:00:00Z"
c.append(e)
json.dump(c, open(sys.argv[1], "w"))
EOF
cp "$T/bundle" "$T/bundle-before"
expect_exit 0 "taxii: fifth poll, only an older version" -- $F -s "$S" \
    -o "$T/bundle" "$C1"
expect_match "^objects-new: 1$" "taxii: one object received" "$out"
expect_match "^added-last: 2024-05-01T00:00:10.000Z$" \
    "taxii: the cursor moves on though nothing changed" "$out"
expect_eq "True" "taxii: the bundle is the same" \
    "$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1])) == json.load(open(sys.argv[2])))' "$T/bundle-before" "$T/bundle")"
expect_exit 0 "taxii: empty collection, first poll" -- $F -o "$T/empty" \
    "taxii+https://127.0.0.1:$P_HTTPS/taxii/api1/collections/empty/"
expect_eq "bundle 0" "taxii: an empty bundle" \
    "$(json_eval "$T/empty" 'd["type"], len(d["objects"])' | tr -d "(),'")"
expect_exit 0 "taxii: over plain http on loopback" -- $F -o "$T/bundle" \
    "taxii+http://127.0.0.1:$P_HTTP/taxii/api1/collections/c1"
expect_match "^objects-new: 10$" "taxii+http: all 10 objects received" "$out"
expect_eq "6" "taxii+http: 6 ids after the merge within one poll" \
    "$(json_eval "$T/bundle" 'len(d["objects"])')"
expect_eq "[domain-name:value = 'v2-1.example']" \
    "taxii+http: the latest version kept" "$(pat 000000000001)"
expect_exit 1 "taxii: token wanted" -- $F \
    "taxii+https://127.0.0.1:$P_HTTPS/taxii/api1/collections/secret/"
expect_match "^code: -13 EACCES" "taxii: 401 is EACCES" "$out"
expect_match "HTTP 401 from .*access refused" "taxii: 401 message" "$out"
expect_exit 0 "taxii: with the token" -- $F -b "$TOKEN" \
    "taxii+https://127.0.0.1:$P_HTTPS/taxii/api1/collections/secret/"
expect_exit 1 "taxii: not an envelope" -- $F \
    "taxii+https://127.0.0.1:$P_HTTPS/taxii/api1/collections/bad/"
expect_match "^code: -74 EBADMSG" "taxii: not an envelope is EBADMSG" "$out"
expect_exit 1 "taxii: no such collection" -- $F \
    "taxii+https://127.0.0.1:$P_HTTPS/taxii/api1/collections/nosuch/"
expect_match "HTTP 404 from" "taxii: 404 message" "$out"
expect_exit 1 "taxii: not a collection URL" -- $F \
    "taxii+https://127.0.0.1:$P_HTTPS/taxii/api1/"
expect_match "^code: -22 EINVAL" "taxii: bad URL is EINVAL" "$out"
expect_exit 1 "taxii: signatures refused" -- $F $K "$C1"
expect_match "signatures are not supported for TAXII" "taxii: signature message" "$out"

# --- MISP feed directories
S=$T/st-misp
: > "$LOG"
expect_exit 0 "misp: directory over https" -- $F -f misp -s "$S" \
    -o "$T/misp.json" "$HTTPS/files/misp/"
expect_eq "2 ['event 1', 'event 0']" "misp: both events, in UUID order" \
    "$(json_eval "$T/misp.json" 'len(d), [e["Event"]["info"] for e in d]')"
expect_exit 3 "misp: manifest not modified" -- $F -f misp -s "$S" \
    "$HTTPS/files/misp/"
expect_eq "1" "misp: only the manifest asked for the second time" \
    "$(grep -c "/files/misp/0a9e8d7c-6b5a-4f3e-8d2c-1b0a9f8e7d6c.json$" "$LOG")"
expect_exit 0 "misp: directory as a file URL" -- $F -f misp -s "$T/st-mf" \
    -o "$T/misp-file.json" "file://$W/misp/"
same_file "misp: same document from file and https" "$T/misp.json" \
    "$T/misp-file.json"
expect_exit 3 "misp: file manifest not modified" -- $F -f misp \
    -s "$T/st-mf" "file://$W/misp/"
: > "$LOG"
expect_exit 1 "misp: manifest naming a path" -- $F -f misp \
    "$HTTPS/files/misp-evil/"
expect_match "^code: -74 EBADMSG" "misp: a non-UUID name is EBADMSG" "$out"
expect_match "\"../etc/passwd\" is not an event UUID" "misp: bad name message" "$out"
expect_eq "0" "misp: no request for that path" "$(requests "passwd")"
expect_exit 1 "misp: manifest naming a path (file)" -- $F -f misp \
    "file://$W/misp-evil/"
expect_exit 1 "misp: an event file missing" -- $F -f misp \
    "$HTTPS/files/misp-missing/"
expect_match "HTTP 404 from" "misp: missing event message" "$out"
expect_match "^data: none" "misp: no half feed" "$out"
expect_exit 1 "misp: over the size limit" -- $F -f misp -m 400 \
    "$HTTPS/files/misp/"
expect_match "^code: -27 EFBIG" "misp: the events count against the limit" "$out"
expect_match "grows past its limit of 400 bytes" "misp: too big message" "$out"
expect_exit 0 "misp: signed directory" -- $F -f misp $K "$HTTPS/files/misp/"
expect_exit 1 "misp: an event without signature" -- $F -f misp $K \
    "$HTTPS/files/misp-unsigned/"
expect_match "no signature at .*0a9e8d7c-6b5a-4f3e-8d2c-1b0a9f8e7d6c.json.sig" \
    "misp: the unsigned event is named" "$out"
expect_exit 0 "misp: a file URL without a slash is one document" -- \
    $F -f misp -o "$T/out" "file://$W/misp/manifest.json"
same_file "misp: one document as is" "$T/out" "$W/misp/manifest.json"

# --- through a proxy (tests/system/httpproxy.py on 127.0.0.1)
python3 "$PROXY" --port "$P_PROXY" --log "$PLOG" --ready "$T/proxy-ready" \
    --lifetime 300 >"$T/proxy.out" 2>&1 &
PROXY_PID=$!
proxy_settled() {
	[ -s "$T/proxy-ready" ] || ! kill -0 "$PROXY_PID" 2>/dev/null
}
if ! wait_until 15 "proxy starts" -- proxy_settled ||
    [ ! -s "$T/proxy-ready" ]; then
	echo "the proxy does not listen on $P_PROXY:"
	tail -n 5 "$T/proxy.out"
	exit 99
fi
PX=http://127.0.0.1:$P_PROXY
: > "$LOG"
expect_exit 0 "proxy: https through a tunnel" -- $F -x "$PX" -o "$T/out" \
    "$HTTPS/files/a.txt"
same_file "proxy: https contents" "$T/out" "$W/a.txt"
expect_eq "1" "proxy: it was asked for a tunnel to the server" \
    "$(grep -c "^CONNECT 127.0.0.1:$P_HTTPS$" "$PLOG")"
expect_eq "1" "proxy: the server saw the request" \
    "$(requests "^https /files/a.txt$")"
expect_exit 0 "proxy: http relayed" -- $F -x "$PX" -o "$T/out" \
    "$HTTP/files/b.txt"
same_file "proxy: http contents" "$T/out" "$W/b.txt"
expect_eq "1" "proxy: it relayed the absolute URL" \
    "$(grep -c "^GET $HTTP/files/b.txt$" "$PLOG")"
expect_exit 0 "proxy: a signed feed and its signature both go through it" \
    -- $F -x "$PX" $K -o "$T/out" "$HTTPS/files/a.txt"
expect_eq "2" "proxy: the document and its signature through one more tunnel" \
    "$(grep -c "^CONNECT 127.0.0.1:$P_HTTPS$" "$PLOG")"
expect_eq "1" "proxy: the server saw the signature asked for" \
    "$(requests "^https /files/a.txt.sig$")"
# The environment's proxy is libcurl's default; "" turns it off.
: > "$PLOG"
expect_exit 0 "proxy: the environment's https_proxy is used" -- \
    env https_proxy="$PX" $F -o "$T/out" "$HTTPS/files/a.txt"
expect_eq "1" "proxy: from the environment, a tunnel" \
    "$(grep -c "^CONNECT" "$PLOG")"
expect_exit 0 "proxy: \"\" goes direct whatever the environment says" -- \
    env https_proxy="http://127.0.0.1:$P_NONE" $F -x "" -o "$T/out" \
    "$HTTPS/files/a.txt"
same_file "proxy: direct contents" "$T/out" "$W/a.txt"
expect_exit 1 "proxy: a proxy that does not answer fails the fetch" -- \
    $F -t 2000 -x "http://127.0.0.1:$P_NONE" "$HTTPS/files/a.txt"
expect_match "^data: none" "proxy: nothing handed back when it fails" "$out"
expect_exit 1 "proxy: a refused tunnel fails the fetch" -- \
    $F -x "$PX" "https://hub.invalid:$P_HTTPS/files/a.txt"
expect_eq "1" "proxy: the proxy refused a tunnel off loopback" \
    "$(grep -c "^CONNECT hub.invalid:$P_HTTPS$" "$PLOG")"

finish
