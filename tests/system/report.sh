#!/bin/sh
# report.sh -- reporting upstream: the engine and the http, syslog and
# matrix reporters against receivers on loopback.
#
# tests/system/report-harness runs the engine on a loop of its own with a
# journal in a state directory and generates events at a given pace;
# tests/system/report-fixture.py plays an HTTPS collector (client
# certificate, bearer token; modes up, down, 500 and slow), a Matrix
# homeserver (access token, transaction ids; modes up, 429, flaky) and
# syslog receivers on a UNIX datagram socket and on UDP that check every
# line against RFC 5424.  The scenarios:
#  1. the collector down, then answering 500, then too slow, then up:
#     every event arrives, exactly once after de-duplication by id, with
#     one reporter-failed and one reporter-recovered among them;
#  2. kill -9 of the agent with reports spooled while the collector is
#     down; restarted with the collector up, everything spooled arrives;
#  3. syslog over a UNIX socket that appears late and over UDP: every line
#     parses as RFC 5424 and carries its event's id;
#  4. Matrix: no token refused, a wrong token retried until fixed by a
#     reload, 429 honoured, each event once per transaction id;
#  5. a queue over its limit drops reports and says so in an event;
#  6. through an HTTP proxy (tests/system/httpproxy.py): every event
#     arrives through the proxy's tunnel.
# A test CA and certificates are made with openssl in the test directory.
# Ports RG_TEST_PORT_BASE + 4200 .. + 4299.

RG_TEST_PORT_BASE=$(( ${RG_TEST_PORT_BASE:-16300} + 4200 ))
. "$(dirname "$0")/lib.sh"

export RG_PLUGIN_DIR=${RG_PLUGIN_DIR:-$BUILDDIR/plugins}
HARNESS=${RG_REPORT_HARNESS:-$BUILDDIR/tests/system/report-harness}
FIXTURE=$SRCDIR/tests/system/report-fixture.py
PROXY=$SRCDIR/tests/system/httpproxy.py
P_HTTPS=$RG_TEST_PORT_BASE
P_MATRIX=$((RG_TEST_PORT_BASE + 1))
P_UDP=$((RG_TEST_PORT_BASE + 2))
P_PROXY=$((RG_TEST_PORT_BASE + 3))
P_NONE=$((RG_TEST_PORT_BASE + 90))	# nothing listens here
ROOM='!resguard-test:hs.test'
FIXTURES=
HPID=

if [ ! -x "$HARNESS" ]; then
	echo "SKIP: $HARNESS not built"
	exit 77
fi
for p in http syslog matrix; do
	if [ ! -f "$RG_PLUGIN_DIR/report-$p/.libs/report-$p.so" ] &&
	    [ ! -f "$RG_PLUGIN_DIR/report-$p.so" ]; then
		echo "SKIP: report-$p plugin not built in $RG_PLUGIN_DIR"
		exit 77
	fi
done
# Only loopback: no proxy from the environment.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY \
    no_proxy NO_PROXY

stop_all() {
	if [ -n "$HPID" ]; then
		kill -9 "$HPID" 2>/dev/null
		wait "$HPID" 2>/dev/null
		HPID=
	fi
	for p in $FIXTURES; do
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	FIXTURES=
}
trap 'stop_all; cleanup' EXIT
trap 'exit 1' HUP PIPE

# --- keys and certificates, all made here and thrown away with $T
mk_cert() {	# NAME CN EXT-FILE
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout "$T/$1.key" -out "$T/$1.csr" -subj "/CN=$2" 2>/dev/null &&
	openssl x509 -req -in "$T/$1.csr" -CA "$T/ca.pem" -CAkey "$T/ca.key" \
	    -CAcreateserial -days 2 -out "$T/$1.pem" -extfile "$3" 2>/dev/null
}
printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' \
    > "$T/server.ext"
printf 'extendedKeyUsage=clientAuth\n' > "$T/client.ext"
if ! openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
    -nodes -keyout "$T/ca.key" -out "$T/ca.pem" -days 2 \
    -subj "/CN=resguard test CA" \
    -addext basicConstraints=critical,CA:TRUE \
    -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null ||
    ! mk_cert server 127.0.0.1 "$T/server.ext" ||
    ! mk_cert client resguard-agent "$T/client.ext"; then
	echo "cannot make the test certificates with openssl"
	exit 99
fi
echo "test-token-$$-$(openssl rand -hex 8)" > "$T/token"
echo "test-matrix-token-$$-$(openssl rand -hex 8)" > "$T/mx-token"
echo "test-wrong-token-$$" > "$T/wrong-token"

# --- helpers

# fixture ROLE READY-FILE ARGS...: start it and wait until it listens
fixture() {
	role=$1 readyf=$2
	shift 2
	python3 "$FIXTURE" "$role" --max-s 240 "$@" >>"$T/fixtures.log" 2>&1 &
	FIXTURES="$FIXTURES $!"
	wait_until 10 "the $role fixture listens" -- test -f "$readyf.ready"
}

fixtures_stop() {
	for p in $FIXTURES; do
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	FIXTURES=
}

# harness DIR ARGS...: start the harness on DIR/state with DIR/reporters.json
harness() {
	hdir=$1
	shift
	mkdir -p "$hdir/state"
	"$HARNESS" -s "$hdir/state" -r "$hdir/reporters.json" \
	    -o "$hdir/status.json" -v "$@" >>"$hdir/harness.out" \
	    2>>"$hdir/harness.err" &
	HPID=$!
}

# harness_stop DIR: SIGTERM, exit 0, nothing from the sanitizers
harness_stop() {
	kill -TERM "$HPID"
	wait "$HPID"
	rc=$?
	HPID=
	if [ "$rc" -eq 0 ]; then
		ok "$1: the harness stops cleanly on SIGTERM"
	else
		not_ok "$1: the harness exited $rc on SIGTERM"
		tail -n 30 "$1/harness.err" | sed 's/^/     /'
	fi
	sanitizer_clean "$1"
}

sanitizer_clean() {
	if grep -q -e 'ERROR: AddressSanitizer' -e 'ERROR: LeakSanitizer' \
	    -e 'runtime error:' "$1/harness.err"; then
		not_ok "$1: sanitizer reports"
		grep -A 20 -e 'ERROR: ' -e 'runtime error:' "$1/harness.err" |
		    head -n 40 | sed 's/^/     /'
	fi
}

# st DIR EXPR: EXPR (Python) on DIR/status.json, d the document and r the
# reporters by name; true when EXPR is
st() {
	python3 - "$1/status.json" "$2" <<'EOF'
import json, sys
try:
    d = json.load(open(sys.argv[1]))
except (OSError, ValueError):
    sys.exit(1)
r = {x["name"]: x for x in d["reporters"]}
sys.exit(0 if eval(sys.argv[2]) else 1)
EOF
}

# show DIR: the reporters as the harness last saw them
show() {
	python3 -c 'import json, sys; print(json.dumps(json.load(open(sys.argv[1]))["reporters"], indent=1))' \
	    "$1/status.json" 2>&1 | sed 's/^/     /'
}

# checks DIR PYTHON: run the checks; they print "ok ..." or "FAIL ..." lines
# and have events (the journal of DIR/state), recs(file) (JSON lines) and
# say(cond, text, detail) at hand
checks() {
	out=$(python3 - "$1" "$2" <<'EOF' 2>&1
import json, os, sys
D = sys.argv[1]
def recs(path):
    try:
        with open(path) as f:
            return [json.loads(l) for l in f if l.strip()]
    except OSError:
        return []
events = recs(os.path.join(D, "state", "events.jsonl"))
def say(cond, text, detail=""):
    print(("ok   " if cond else "FAIL ") + text +
          ("" if cond or not detail else ": " + str(detail)))
exec(sys.argv[2])
EOF
)
	rc=$?
	printf '%s\n' "$out" | while IFS= read -r line; do
		case $line in
		"ok   "* | "FAIL "*) ;;
		*) echo "     $line" ;;
		esac
	done
	pass=$((pass + $(printf '%s\n' "$out" | grep -c '^ok   ')))
	fail=$((fail + $(printf '%s\n' "$out" | grep -c '^FAIL ')))
	printf '%s\n' "$out" | grep -e '^ok   ' -e '^FAIL '
	if [ "$rc" -ne 0 ]; then
		not_ok "$1: the checks did not run to their end (exit $rc)"
	fi
}

# --- 0. configuration errors -------------------------------------------

S=$T/s0
mkdir -p "$S/state"
echo "# 0: reporters that cannot be configured"
refused() {	# DESCRIPTION PATTERN REPORTERS-JSON
	printf '%s\n' "$3" > "$S/reporters.json"
	out=$("$HARNESS" -s "$S/state" -r "$S/reporters.json" -n 0 2>&1)
	rc=$?
	if [ "$rc" -eq 1 ] && printf '%s\n' "$out" | grep -q -- "$2"; then
		ok "$1"
	else
		not_ok "$1: exit $rc, /$2/ not in:"
		printf '%s\n' "$out" | sed 's/^/     /'
	fi
}
refused "an unknown reporter type is refused, naming the reporter" \
    'report "x": report plugin "nosuch" not found' \
    '[{"name": "x", "type": "nosuch"}]'
refused "two reporters of one name are refused" 'report "x": named twice' \
    '[{"name": "x", "type": "syslog"}, {"name": "x", "type": "syslog"}]'
refused "an unreadable token file is refused, naming the file" \
    "report \"x\": token-file $S/none: No such file" \
    '[{"name": "x", "type": "http", "url": "https://127.0.0.1/",
      "token_file": "'"$S"'/none"}]'
refused "http needs an http(s) URL" \
    'report "x": .*report-http.*url: an http:// or https:// URL is needed' \
    '[{"name": "x", "type": "http", "url": "ftp://127.0.0.1/"}]'
refused "syslog needs a numeric UDP address" \
    'not a numeric address' \
    '[{"name": "x", "type": "syslog", "socket": "udp:localhost@514"}]'

# --- 1. down, 500, slow, up -------------------------------------------

S=$T/s1
mkdir -p "$S"
echo down > "$S/mode"
fixture https "$S/mode" --port "$P_HTTPS" --cert "$T/server.pem" \
    --key "$T/server.key" --ca "$T/ca.pem" --token-file "$T/token" \
    --control "$S/mode" --ids "$S/ids" --log "$S/log" --slow-s 2.5
cat > "$S/reporters.json" <<EOF
[{"name": "hub", "type": "http",
  "url": "https://127.0.0.1:$P_HTTPS/reports", "ca_file": "$T/ca.pem",
  "client_cert_file": "$T/client.pem", "client_key_file": "$T/client.key",
  "token_file": "$T/token", "interval_s": 2, "timeout_ms": 1000,
  "sightings": true, "client_addresses": false}]
EOF
echo "# 1: the collector down, then 500, then slow, then up"
harness "$S" -n 40 -p 100 -S 1500 -a agent-s1
wait_until 15 "hub fails while the collector is down" -- \
    st "$S" 'r["hub"]["failures"] >= 2 and "POST https://127.0.0.1" in (r["hub"]["last_error"] or "")' &&
    ok "hub fails while the collector is down"
if st "$S" 'd["warning"] is not None and d["warning"].startswith("reporter \"hub\": ") and " queued, last error: POST" in d["warning"]'; then
	ok "the warning names the reporter, its backlog and its error"
else
	not_ok "no warning while failing"; show "$S"
fi
echo 500 > "$S/mode"
wait_until 20 "hub sees the 500" -- \
    st "$S" '"HTTP 500 from https://127.0.0.1:'"$P_HTTPS"'/reports" in (r["hub"]["last_error"] or "")' &&
    ok "hub reports \"HTTP 500 from URL\""
echo slow > "$S/mode"
wait_until 25 "hub gives up on the slow collector" -- \
    st "$S" '"timed out" in (r["hub"]["last_error"] or "")' &&
    ok "hub gives up on the slow collector after its time-out"
echo up > "$S/mode"
wait_until 40 "hub delivers everything once the collector is up" -- \
    st "$S" 'd["generated"] == 40 and r["hub"]["queued"] == 0 and r["hub"]["last_error"] is None' &&
    ok "hub delivers everything once the collector is up"
# Between two deliveries: a status report or sightings spooled a moment
# ago are in the queue (bytes, next attempt 0) until they go.
if wait_until 10 "the reporter's JSON after recovery" -- \
    st "$S" 'r["hub"]["delivered"] >= 40 and r["hub"]["last_success"] and r["hub"]["last_success"].endswith("Z") and r["hub"]["next_attempt_in_ms"] is None and r["hub"]["dropped"] == {"event": 0, "status": 0, "sighting": 0} and r["hub"]["type"] == "http" and r["hub"]["bytes"] == 0 and d["warning"] is None'; then
	ok "the reporter's JSON: delivered, last_success, no error, no drop"
else
	show "$S"
fi
checks "$S" '
got = recs(os.path.join(D, "ids"))
ev = [g for g in got if g["kind"] == "event"]
want = [e["id"] for e in events]
uniq = set(g["id"] for g in ev)
missing = [i for i in want if i not in uniq]
say(not missing, "every event of the journal arrived (%d events)" % len(want),
    "%d missing" % len(missing))
say(uniq <= set(want), "nothing arrived that is not in the journal")
say(len(uniq) == len(want), "after de-duplication by id: %d events, each once "
    "(%d received, %d duplicates)" % (len(uniq), len(ev), len(ev) - len(uniq)))
say(len(ev) > len(uniq), "the batch the slow collector took late was sent "
    "again: at least once, not at most once")
byid = {g["id"]: g for g in ev}
failed = [i for i in byid if byid[i]["type"] == "reporter-failed"]
recovered = [i for i in byid if byid[i]["type"] == "reporter-recovered"]
say(len(failed) == 1 and byid[failed[0]]["subject"] == "hub",
    "one reporter-failed event for hub, not one per retry, and it arrived",
    len(failed))
say(len(recovered) == 1, "one reporter-recovered event, and it arrived",
    len(recovered))
jf = [e for e in events if e["type"] == "reporter-failed"]
say(len(jf) == 1 and jf[0]["new"] == "failing" and
    "POST https://127.0.0.1" in jf[0]["reason"],
    "reporter-failed says what failed", jf)
jr = [e for e in events if e["type"] == "reporter-recovered"]
say(len(jr) == 1 and jr[0]["evidence"]["attempts"] >= 4 and
    "timed out" in jr[0]["evidence"]["last_error"],
    "reporter-recovered counts the failed attempts (down, 500, slow) and "
    "quotes the last error", jr)
st_ = [g for g in got if g["kind"] == "status"]
say(len(st_) >= 1, "status reports arrived (%d)" % len(st_))
si = [g for g in got if g["kind"] == "sighting"]
say(len(si) >= 1 and not any(g["clients"] for g in si),
    "sightings arrived (%d), without client addresses" % len(si), si[:2])
log = recs(os.path.join(D, "log"))
codes = sorted(set(l.get("code") for l in log if "code" in l))
say(500 in codes and 200 in codes and not (set(codes) - {200, 500}),
    "the collector answered only 200 and 500: every request was well formed, "
    "with the token and a client certificate", codes)
'
harness_stop "$S"
fixtures_stop

# --- 2. kill -9 with reports spooled ------------------------------------

S=$T/s2
mkdir -p "$S"
echo down > "$S/mode"
fixture https "$S/mode" --port "$P_HTTPS" --cert "$T/server.pem" \
    --key "$T/server.key" --ca "$T/ca.pem" --token-file "$T/token" \
    --control "$S/mode" --ids "$S/ids" --log "$S/log"
cat > "$S/reporters.json" <<EOF
[{"name": "hub", "type": "http",
  "url": "https://127.0.0.1:$P_HTTPS/reports", "ca_file": "$T/ca.pem",
  "client_cert_file": "$T/client.pem", "client_key_file": "$T/client.key",
  "token_file": "$T/token", "interval_s": 1, "timeout_ms": 1000}]
EOF
echo "# 2: kill -9 with reports spooled, restart with the collector up"
harness "$S" -n 25 -p 40 -a agent-s2
wait_until 15 "25 events spooled while the collector is down" -- \
    st "$S" 'd["generated"] == 25 and r["hub"]["failures"] >= 1 and r["hub"]["queued"] >= 26' &&
    ok "25 events spooled while the collector is down"
kill -9 "$HPID"
wait "$HPID" 2>/dev/null
HPID=
sanitizer_clean "$S"
python3 - "$S" <<'EOF' > "$S/spooled"
import glob, json, os, sys
for p in sorted(glob.glob(os.path.join(sys.argv[1], "state/spool/hub/*.json"))):
    if os.path.basename(p) != "dropped.json":
        r = json.load(open(p))
        print(r["id"], r["kind"])
EOF
checks "$S" '
sp = dict(l.split() for l in open(os.path.join(D, "spooled")))
say(all(e["id"] in sp for e in events), "after kill -9 every event of the "
    "journal (%d) is in the spool, with %d reports in all" %
    (len(events), len(sp)))
say(not recs(os.path.join(D, "ids")), "nothing was taken before the kill")
'
echo up > "$S/mode"
harness "$S" -n 0 -a agent-s2
wait_until 20 "the restarted harness delivers the spool" -- \
    st "$S" 'r["hub"]["queued"] == 0 and r["hub"]["delivered"] > 0 and r["hub"]["last_error"] is None' &&
    ok "the restarted harness delivers the spool"
checks "$S" '
sp = dict(l.split() for l in open(os.path.join(D, "spooled")))
got = set(g["id"] for g in recs(os.path.join(D, "ids")))
missing = [i for i in sp if i not in got]
say(not missing, "everything spooled before the kill arrived: %d reports "
    "(%d events)" % (len(sp), sum(1 for k in sp.values() if k == "event")),
    missing[:3])
say(all(e["id"] in got for e in events), "and every event since, %d in all" %
    len(events))
'
harness_stop "$S"
fixtures_stop

# --- 3. syslog ----------------------------------------------------------

S=$T/s3
mkdir -p "$S"
fixture syslog "$S/udp.out" --udp "$P_UDP" --out "$S/udp.out"
cat > "$S/reporters.json" <<EOF
[{"name": "local", "type": "syslog", "socket": "$S/log.sock",
  "interval_s": 1, "timeout_ms": 1000},
 {"name": "net", "type": "syslog", "socket": "udp:127.0.0.1@$P_UDP",
  "interval_s": 1, "timeout_ms": 1000}]
EOF
echo "# 3: syslog over a UNIX socket that appears late, and over UDP"
# The agent's id goes into an SD-PARAM: the characters RFC 5424 escapes.
harness "$S" -n 12 -p 50 -S 700 -a 'agent "s3" \ [x]'
wait_until 10 "local fails while its socket is missing" -- \
    st "$S" 'r["local"]["failures"] >= 1 and "connect" in (r["local"]["last_error"] or "")' &&
    ok "local fails while its socket is missing"
fixture syslog "$S/log.sock" --unix "$S/log.sock" --out "$S/unix.out"
wait_until 20 "both syslog reporters deliver everything" -- \
    st "$S" 'd["generated"] == 12 and r["local"]["queued"] == 0 and r["net"]["queued"] == 0 and r["local"]["last_error"] is None and r["local"]["delivered"] > 12 and r["net"]["delivered"] > 12' &&
    ok "both syslog reporters deliver everything"
wait_until 10 "status and sightings reach the late socket" -- \
    sh -c "grep -q '\"kind\": \"status\"' '$S/unix.out' && grep -q '\"kind\": \"sighting\"' '$S/unix.out'"
# Reloads: one that fails keeps what runs; net removed (local's limit
# changed: its queue reopened), then net back; both go on delivering.
cp "$S/reporters.json" "$S/both.json"
cat > "$S/reporters.json" <<EOF
[{"name": "local", "type": "syslog", "socket": "$S/log.sock"},
 {"name": "bad", "type": "nosuch"}]
EOF
kill -HUP "$HPID"
wait_until 10 "a failed reload is reported" -- \
    grep -q 'report "bad": report plugin "nosuch" not found' \
    "$S/harness.err" && ok "a failed reload is reported"
if st "$S" 'sorted(r) == ["local", "net"]'; then
	ok "after a failed reload the reporters stay as they were"
else
	not_ok "the reporters after a failed reload"; show "$S"
fi
cat > "$S/reporters.json" <<EOF
[{"name": "local", "type": "syslog", "socket": "$S/log.sock",
  "interval_s": 1, "timeout_ms": 1000, "queue_limit_bytes": 1000000}]
EOF
kill -HUP "$HPID"
wait_until 10 "a reload removes net" -- \
    st "$S" 'sorted(r) == ["local"]' && ok "a reload removes net"
cp "$S/both.json" "$S/reporters.json"
kill -HUP "$HPID"
wait_until 10 "net comes back with the next reload and delivers" -- \
    st "$S" 'sorted(r) == ["local", "net"] and r["net"]["delivered"] > 0 and r["local"]["queued"] == 0 and r["net"]["queued"] == 0' &&
    ok "net comes back with the next reload and delivers"
checks "$S" '
want = [e["id"] for e in events]
for name in ("unix", "udp"):
    got = recs(os.path.join(D, name + ".out"))
    bad = [g for g in got if not g["ok"]]
    say(got and not bad, "%s: all %d lines parse as RFC 5424, facility daemon, "
        "severity and SD-PARAMs as the report says" % (name, len(got)), bad[:2])
    ids = set(g["id"] for g in got if g["ok"])
    missing = [i for i in want if i not in ids]
    say(not missing, "%s: each of the %d events has its line, its id in the "
        "structured data" % (name, len(want)), len(missing))
    pris = set(g["pri"] for g in got if g["ok"])
    say({28, 29, 30} <= pris, "%s: warning, notice and info lines (PRI %s)" %
        (name, sorted(pris)))
    kinds = set(g["kind"] for g in got if g["ok"])
    say(kinds == {"event", "status", "sighting"}, "%s: events, status and "
        "sightings" % name, kinds)
types = [e["type"] for e in events]
say(types.count("reporter-failed") == 1 and types.count("reporter-recovered")
    == 1, "the missing socket: one reporter-failed, one reporter-recovered")
'
harness_stop "$S"
fixtures_stop

# --- 4. Matrix ----------------------------------------------------------

S=$T/s4
mkdir -p "$S"
echo up > "$S/mode"
cp "$T/wrong-token" "$S/token"
fixture matrix "$S/mode" --port "$P_MATRIX" --cert "$T/server.pem" \
    --key "$T/server.key" --token-file "$T/mx-token" --room "$ROOM" \
    --control "$S/mode" --ids "$S/ids" --log "$S/log" --retry-after-ms 1200
echo "# 4: Matrix"
cat > "$S/reporters.json" <<EOF
[{"name": "room", "type": "matrix", "url": "https://127.0.0.1:$P_MATRIX/",
  "ca_file": "$T/ca.pem", "room": "$ROOM", "interval_s": 1,
  "timeout_ms": 2000}]
EOF
mkdir -p "$S/notoken"
expect_exit 1 "a Matrix reporter without an access token is refused" -- \
    "$HARNESS" -s "$S/notoken" -r "$S/reporters.json" -n 0
out=$("$HARNESS" -s "$S/notoken" -r "$S/reporters.json" -n 0 2>&1)
expect_match 'report "room": .*report-matrix.*token-file: an access token is needed' \
    "the refusal names the reporter, the plugin and the missing token" "$out"
cat > "$S/reporters.json" <<EOF
[{"name": "room", "type": "matrix", "url": "https://127.0.0.1:$P_MATRIX/",
  "ca_file": "$T/ca.pem", "token_file": "$S/token", "room": "$ROOM",
  "interval_s": 1, "timeout_ms": 2000, "sightings": true}]
EOF
harness "$S" -n 16 -p 50 -S 500 -a agent-s4
wait_until 15 "a wrong token gets 401" -- \
    st "$S" '"HTTP 401 from https://127.0.0.1:'"$P_MATRIX"': M_UNKNOWN_TOKEN" in (r["room"]["last_error"] or "")' &&
    ok "a wrong token gets \"HTTP 401 ... M_UNKNOWN_TOKEN\""
if grep -q "$(cat "$T/wrong-token")" "$S/status.json" "$S/harness.err"; then
	not_ok "the token shows in the status or the log"
else
	ok "the token shows neither in the status nor in the log"
fi
echo 429 > "$S/mode"
cp "$T/mx-token" "$S/token"
kill -HUP "$HPID"
wait_until 15 "the right token after a reload meets a 429" -- \
    st "$S" '"HTTP 429" in (r["room"]["last_error"] or "") or "rate limited" in (r["room"]["last_error"] or "")' &&
    ok "the right token after a reload; the 429 is the error, with its retry_after_ms"
echo flaky > "$S/mode"
wait_until 20 "events go through between the 429s" -- \
    sh -c "grep -q '\"code\": 200, \"mode\": \"flaky\"' '$S/log' && grep -q '\"code\": 429, \"mode\": \"flaky\"' '$S/log'" &&
    ok "events go through between the 429s"
echo up > "$S/mode"
wait_until 30 "room delivers everything" -- \
    st "$S" 'd["generated"] == 16 and r["room"]["queued"] == 0 and r["room"]["last_error"] is None' &&
    ok "room delivers everything"
checks "$S" '
got = recs(os.path.join(D, "ids"))
log = recs(os.path.join(D, "log"))
codes = [l["code"] for l in log]
say(401 in codes, "401 answers while the token was wrong (%d)" %
    codes.count(401))
say(429 in codes, "429 answers (%d)" % codes.count(429))
ts = sorted((l["t"], l["code"]) for l in log)
gaps = [b[0] - a[0] for a, b in zip(ts, ts[1:]) if a[1] == 429]
say(gaps and min(gaps) >= 1.2, "after a 429, no request before its "
    "retry_after_ms of 1200 (shortest gap %.2f s)" % min(gaps or [0]))
say(not (set(codes) - {200, 401, 429}), "no request the homeserver found "
    "malformed (room, body, txnId = report id)", sorted(set(codes)))
flaky = [l for l in log if l["mode"] == "flaky"]
say(any(l["code"] == 200 for l in flaky) and
    any(l["code"] == 429 for l in flaky),
    "in the flaky mode, some PUTs taken and some rate limited")
say(all(g["kind"] == "event" for g in got), "only events go to the room",
    set(g["kind"] for g in got))
room = {x["name"]: x for x in
        json.load(open(os.path.join(D, "status.json")))["reporters"]}["room"]
say(room["kinds"] == ["event"], "the status says the room takes events only",
    room.get("kinds"))
say(room["delivered"] == len(set(g["id"] for g in got)), "delivered counts "
    "what the room took: no status or sighting spooled and acknowledged "
    "unsent (%d delivered, %d taken)" % (room["delivered"],
    len(set(g["id"] for g in got))))
say(all(g["txn"] == g["id"] for g in got), "txnId is the report id")
want = [e["id"] for e in events]
uniq = set(g["id"] for g in got)
say(all(i in uniq for i in want), "every event arrived: %d, %d PUTs taken, "
    "%d of them a known transaction" % (len(want), len(got),
    sum(1 for g in got if g["dup"])), [i for i in want if i not in uniq][:3])
say(uniq <= set(want), "nothing but the events of the journal")
'
harness_stop "$S"
fixtures_stop

# --- 5. queue limit -----------------------------------------------------

S=$T/s5
mkdir -p "$S"
cat > "$S/reporters.json" <<EOF
[{"name": "tiny", "type": "http",
  "url": "https://127.0.0.1:$P_NONE/reports", "ca_file": "$T/ca.pem",
  "interval_s": 1, "timeout_ms": 500, "queue_limit_bytes": 3000}]
EOF
echo "# 5: a queue over its limit"
harness "$S" -n 30 -p 20 -a agent-s5
wait_until 15 "a reports-dropped event" -- \
    grep -q '"type":"reports-dropped"' "$S/state/events.jsonl" &&
    ok "drops over the limit are an event"
if st "$S" 'r["tiny"]["dropped"]["event"] > 0 and r["tiny"]["bytes"] <= 3000'; then
	ok "the queue stays within its limit, and counts its drops"
else
	not_ok "queue limit"; show "$S"
fi
checks "$S" '
dr = [e for e in events if e["type"] == "reports-dropped"]
ev = dr[0]["evidence"] if dr else {}
say(dr and dr[0]["subject"] == "tiny" and ev["limit"] == 3000 and
    ev["dropped"]["event"] + ev["dropped"]["status"] > 0 and
    ev["total"]["event"] >= ev["dropped"]["event"],
    "reports-dropped names the reporter, the limit and the counts", dr[:1])
'
harness_stop "$S"

# --- 6. through a proxy -------------------------------------------------

S=$T/s6
mkdir -p "$S"
echo up > "$S/mode"
fixture https "$S/mode" --port "$P_HTTPS" --cert "$T/server.pem" \
    --key "$T/server.key" --ca "$T/ca.pem" --token-file "$T/token" \
    --control "$S/mode" --ids "$S/ids" --log "$S/log"
python3 "$PROXY" --port "$P_PROXY" --log "$S/proxy.log" \
    --ready "$S/proxy.ready" --lifetime 240 >>"$T/fixtures.log" 2>&1 &
FIXTURES="$FIXTURES $!"
wait_until 10 "the proxy listens" -- test -s "$S/proxy.ready"
cat > "$S/reporters.json" <<EOF
[{"name": "hub", "type": "http",
  "url": "https://127.0.0.1:$P_HTTPS/reports", "ca_file": "$T/ca.pem",
  "client_cert_file": "$T/client.pem", "client_key_file": "$T/client.key",
  "token_file": "$T/token", "interval_s": 2, "timeout_ms": 2000,
  "proxy": "http://127.0.0.1:$P_PROXY"}]
EOF
echo "# 6: through a proxy"
harness "$S" -n 10 -p 50 -a agent-s6
wait_until 20 "hub delivers through the proxy" -- \
    st "$S" 'd["generated"] == 10 and r["hub"]["queued"] == 0 and r["hub"]["delivered"] >= 10' &&
    ok "hub delivers everything through the proxy"
if grep -q "^CONNECT 127.0.0.1:$P_HTTPS$" "$S/proxy.log" 2>/dev/null; then
	ok "the proxy was asked for a tunnel to the collector"
else
	not_ok "no tunnel through the proxy"; cat "$S/proxy.log" 2>/dev/null
fi
checks "$S" '
got = recs(os.path.join(D, "ids"))
uniq = set(g["id"] for g in got if g["kind"] == "event")
say(set(e["id"] for e in events) <= uniq,
    "every event arrived through the proxy (%d)" % len(uniq))
'
harness_stop "$S"
fixtures_stop

finish
