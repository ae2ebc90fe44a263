#!/bin/sh
# clockstep.sh -- the wall clock steps under a running resguardd, as an
# NTP step does, while it answers a steady query stream in guard mode.
# Only the daemon's CLOCK_REALTIME steps: libfaketime, preloaded into
# resguardd alone, reads its offset from a file that this test rewrites
# (FAKETIME_TIMESTAMP_FILE, FAKETIME_NO_CACHE=1), and the monotonic clock
# runs on untouched (FAKETIME_DONT_FAKE_MONOTONIC=1).  The machine's clock
# is never touched.
#
# What must hold, and is asserted:
# - every client query is answered whatever the wall clock does, and no
#   step by itself causes a failover, a fail-back or an upstream change:
#   health, back-off and the fail-back hold run on the monotonic clock;
# - a fail-back hold is counted in monotonic time: neither a step back
#   (it would wait an hour more) nor a step forward (it would end at once)
#   changes when the fail-back happens;
# - a hub directive pins a pool "until" a wall-clock time, so a step
#   forward past that time ends the pin: that is what a wall-clock deadline
#   means;
# - a feed's next refresh is a monotonic interval: no burst of fetches
#   after a step forward, no pause after a step back;
# - reports spooled before a step back go out after it, none lost;
# - the event journal stays readable, in the order things happened, and
#   shows each step as a jump in its time stamps; what it persisted
#   survives a restart.
#
# The steps, as offsets of the daemon's clock from the real one: +1 day
# (normal mode), back 1 hour (failover held, primary frozen), +1 day
# (inside the fail-back hold), +1 day (a directive's pin in force), back 1
# hour (reports spooled for a receiver that is down).
#
# Needs libfaketime (Debian: faketime, libfaketime); skips without it.
# Ports RG_TEST_PORT_BASE + 5300 .. + 5399: resguardd's DNS on the base,
# the lab on base+1..+5, resguardd's HTTP (pushes) on base+20, the test's
# feed source and report collector on base+21.

RG_TEST_PORT_BASE=$(( ${RG_TEST_PORT_BASE:-16300} + 5300 ))

FAKETIME_LIB=${RG_LIBFAKETIME:-}
if [ -z "$FAKETIME_LIB" ]; then
	for f in /usr/lib/*/faketime/libfaketimeMT.so.1 \
	    /usr/lib/faketime/libfaketimeMT.so.1 \
	    /usr/local/lib/faketime/libfaketimeMT.so.1; do
		if [ -f "$f" ]; then
			FAKETIME_LIB=$f
			break
		fi
	done
fi
if [ -z "$FAKETIME_LIB" ] || [ ! -f "$FAKETIME_LIB" ]; then
	echo "SKIP: libfaketime not found (Debian packages faketime, libfaketime)"
	exit 77
fi
for tool in dnsperf curl; do
	if ! command -v $tool >/dev/null 2>&1; then
		echo "SKIP: $tool not found"
		exit 77
	fi
done

. "$(dirname "$0")/lib.sh"

export RG_PLUGIN_DIR=${RG_PLUGIN_DIR:-$BUILDDIR/plugins}
FIX_PID=
PERF=
stop_all() {
	if [ -n "$PERF" ]; then
		kill "$PERF" 2>/dev/null
		wait "$PERF" 2>/dev/null
	fi
	if [ -n "$DAEMON_PID" ]; then
		kill "$DAEMON_PID" 2>/dev/null
		wait "$DAEMON_PID" 2>/dev/null
		shm_clean "$DAEMON_PID"
		DAEMON_PID=
	fi
	if [ -n "$FIX_PID" ]; then
		kill "$FIX_PID" 2>/dev/null
		wait "$FIX_PID" 2>/dev/null
	fi
}
# libfaketime keeps a semaphore and a shared memory segment named after
# the process; an orderly exit removes them, this catches the rest.
shm_clean() {
	rm -f "/dev/shm/faketime_shm_$1" "/dev/shm/sem.faketime_sem_$1"
}
trap 'stop_all; cleanup' EXIT

lab_start
export RG_LAB_CONTROL_SOCKET=$T/control.sock
G=$RG_LAB_PORT_BASE
HTTP_PORT=$((RG_TEST_PORT_BASE + 20))
FIX_PORT=$((RG_TEST_PORT_BASE + 21))
CONF=$T/resguard.conf
RC=$T/faketime.rc
OFFSET=0
TOKEN=clockstep-token-0123456789abcdef

# -- the feed source and the report collector, both on FIX_PORT
# GET /list.txt serves the file list.txt with an ETag (304 when
# unchanged) and logs every request with the real time; POST /report
# takes a batch of reports unless the file collector.mode says "down"
# (503), and logs each report's id.
cat > "$T/fixture.py" <<'EOF'
import hashlib, json, os, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import threading

d, port = sys.argv[1], int(sys.argv[2])

LOCK = threading.Lock()

def append(name, line):
    with LOCK, open(os.path.join(d, name), "a") as f:
        f.write(line + "\n")

class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, code, body=b"", etag=None):
        self.send_response(code)
        if etag:
            self.send_header("ETag", etag)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path != "/list.txt":
            return self.reply(404)
        with open(os.path.join(d, "list.txt"), "rb") as f:
            body = f.read()
        etag = '"%s"' % hashlib.sha256(body).hexdigest()[:16]
        same = self.headers.get("If-None-Match") == etag
        append("fetches.log", "%.3f %d" % (time.time(), 304 if same else 200))
        self.reply(304 if same else 200, b"" if same else body, etag)

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n)
        try:
            with open(os.path.join(d, "collector.mode")) as f:
                mode = f.read().strip()
        except OSError:
            mode = "up"
        if self.path != "/report" or mode == "down":
            return self.reply(503, b"down\n")
        for r in json.loads(body):
            append("received.log", "%s %s" % (r["kind"], r["id"]))
        self.reply(200, b"ok\n")

# Threads: the reporter keeps its connection open between deliveries.
ThreadingHTTPServer.daemon_threads = True
s = ThreadingHTTPServer(("127.0.0.1", port), H)
open(os.path.join(d, "fixture.ready"), "w").write("ready\n")
s.serve_forever()
EOF
mkdir -p "$T/fix"
printf 'blocked-one.example\n' > "$T/fix/list.txt"
echo up > "$T/fix/collector.mode"
python3 "$T/fixture.py" "$T/fix" "$FIX_PORT" > "$T/fixture.log" 2>&1 &
FIX_PID=$!
wait_until 10 "the feed source and collector listen" -- \
    test -f "$T/fix/fixture.ready" || finish

echo "$TOKEN" > "$T/push.token"
openssl genpkey -algorithm ed25519 -out "$T/hub.key" 2>/dev/null &&
    openssl pkey -in "$T/hub.key" -pubout -out "$T/hub.pub" 2>/dev/null ||
    { not_ok "cannot make an Ed25519 key"; finish; }

cat > "$CONF" <<EOF
server: { listen = [ "127.0.0.1@$G" ]; control-socket = "$T/control.sock";
	  state-dir = "$T/state"; threads = 2; agent-id = "clockstep"; };
http: { listen = [ "127.0.0.1@$HTTP_PORT" ]; push-token-file = "$T/push.token"; };
pools = (
	{ name = "primary"; role = "primary";
	  upstreams = ( { name = "lab-primary"; address = "127.0.0.1";
			  port = $RG_LAB_PRIMARY_PORT; } ); },
	{ name = "eu"; role = "fallback";
	  upstreams = ( { name = "lab-eu-udp"; address = "127.0.0.1";
			  port = $RG_LAB_FALLBACK_PORT; } ); }
);
health: { interval-ms = 500; timeout-ms = 400; fall = 3; rise = 2;
	  backoff-max-ms = 4000; };
failover: { failback = "auto"; failback-hold-s = 10; };
feeds = (
	{ name = "hub"; format = "domains";
	  source = "http://127.0.0.1:$FIX_PORT/list.txt"; refresh-s = 10; },
	{ name = "crisis"; format = "directive"; source = "push";
	  hub-key-file = "$T/hub.pub"; }
);
report = ( { name = "collector"; type = "http";
	     url = "http://127.0.0.1:$FIX_PORT/report"; interval-s = 3600;
	     timeout-ms = 1000; sightings = false; } );
EOF

# The lab's DoT upstream is left out on purpose: its certificate
# is made when the lab starts, so a step back makes it "not yet valid",
# which is right for TLS and not what this test is about.

# -- what the scenarios use

# step SECONDS: the daemon's wall clock jumps by SECONDS (negative: back).
# The offset file is replaced whole, so that libfaketime never reads half
# of it.
step() {
	OFFSET=$((OFFSET + $1))
	if [ "$OFFSET" -ge 0 ]; then
		printf '+%d\n' "$OFFSET" > "$RC.tmp"
	else
		printf '%d\n' "$OFFSET" > "$RC.tmp"
	fi
	mv "$RC.tmp" "$RC"
	echo "# the daemon's clock steps by $1 s (offset now $OFFSET s)"
}

# A sanitizer build wants its runtime first among the preloaded objects.
PRELOAD=$FAKETIME_LIB
asan=$(ldd "$RESGUARDD" 2>/dev/null | awk '/libasan/ { print $3 }')
[ -z "$asan" ] || PRELOAD=$asan:$PRELOAD

daemon_start_faked() {
	LD_PRELOAD=$PRELOAD FAKETIME_TIMESTAMP_FILE=$RC FAKETIME_NO_CACHE=1 \
	    FAKETIME_DONT_FAKE_MONOTONIC=1 NO_FAKE_STAT=1 \
	    "$RESGUARDD" -f -v -c "$CONF" >>"$T/daemon.log" 2>&1 &
	DAEMON_PID=$!
	wait_until 10 "daemon answers" -- daemon_answers
}

daemon_stop_faked() {
	pid=$DAEMON_PID
	daemon_stop
	rc=$?
	shm_clean "$pid"
	return $rc
}

# daemon_offset: the daemon's time() less the real time, in seconds, from
# the Date header of its HTTP server.
daemon_offset() {
	real=$(date +%s)
	curl -s --noproxy '*' -o /dev/null -D - "http://127.0.0.1:$HTTP_PORT/status" |
	    python3 -c "
import email.utils, sys
for l in sys.stdin:
    if l.lower().startswith('date:'):
        print(int(email.utils.parsedate_to_datetime(l[5:].strip()).timestamp()) - $real)
        break"
}

# expect_offset DESCRIPTION: the daemon's time() is OFFSET from the real
# time (30 s either way for a slow request: the steps are an hour or more).
expect_offset() {
	got=$(daemon_offset)
	if [ -n "$got" ] && [ "$got" -ge $((OFFSET - 30)) ] &&
	    [ "$got" -le $((OFFSET + 30)) ]; then
		ok "$1 (daemon's clock at $got s)"
	else
		not_ok "$1: the daemon's clock is at ${got:-?} s, expected $OFFSET s"
	fi
}

# events_py EXPR: a Python expression on the journal as ev (a list)
events_py() {
	ctl --json events --limit 0 | python3 -c "
import datetime, json, sys
ev = json.load(sys.stdin)['events']
def t(e):
    return datetime.datetime.strptime(e['time'], '%Y-%m-%dT%H:%M:%S.%fZ').replace(
        tzinfo=datetime.timezone.utc).timestamp()
print($1)"
}

count_events() {
	events_py "sum(1 for e in ev if e['type'] == '$1')"
}

# last_event_offset TYPE: the time stamped on the newest event of TYPE
# less the real time now, in seconds.
last_event_offset() {
	events_py "int(round(t([e for e in ev if e['type'] == '$1'][-1]) - $(date +%s.%N)))"
}

# expect_event_offset TYPE DESCRIPTION: the newest event of TYPE was
# stamped with the daemon's clock at OFFSET (the event is seconds old, the
# steps are an hour or more).
expect_event_offset() {
	got=$(last_event_offset "$1")
	if [ -n "$got" ] && [ "$got" -ge $((OFFSET - 300)) ] &&
	    [ "$got" -le $((OFFSET + 30)) ]; then
		ok "$2 (stamped $got s from the real time)"
	else
		not_ok "$2: stamped ${got:-?} s from the real time, expected about $OFFSET"
	fi
}

# status_is MODE POOL PINNED EXIT: the status document and the exit code
# of "resguardctl status" agree with each other and with what is expected.
status_is() {
	got=$(ctl --json status | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(d["mode"], d["active_pool"], d["pinned"] or "-")')
	ctl status >/dev/null 2>&1
	rc=$?
	if [ "$got $rc" = "$1 $2 $3 $4" ]; then
		ok "status: $1, pool $2, pinned $3, exit $4"
	else
		not_ok "status: $got, exit $rc; expected $1 $2 $3, exit $4"
		ctl status | sed 's/^/     /'
	fi
}

mode_events() {
	count_events mode
}

# upstream_events NAME: state changes recorded for upstream NAME
upstream_events() {
	events_py "sum(1 for e in ev if e['type'] == 'upstream' and e['subject'] == '$1')"
}

cat > "$T/queries" <<'EOF'
www.lab.test A
www.lab.test AAAA
alias.lab.test A
who.lab.test TXT
nx.lab.test A
EOF

# stream SECONDS: a steady stream of queries at the guard, in the
# background (200 a second, 5 s to answer each)
stream() {
	dnsperf -s 127.0.0.1 -p "$G" -d "$T/queries" -l "$1" -Q 200 -c 2 -t 5 \
	    > "$T/perf.out" 2>&1 &
	PERF=$!
}

# stream_check WHAT: wait for the stream; every query answered, none
# with SERVFAIL
stream_check() {
	wait "$PERF"
	PERF=
	sent=$(sed -n 's/^ *Queries sent: *\([0-9]*\).*/\1/p' "$T/perf.out")
	lost=$(sed -n 's/^ *Queries lost: *\([0-9]*\).*/\1/p' "$T/perf.out")
	echo "# $1: sent ${sent:-?}, lost ${lost:-?};" \
	    "$(grep 'Response codes' "$T/perf.out" | sed 's/^ *//')"
	if [ -z "$sent" ] || [ "$sent" -eq 0 ]; then
		not_ok "$1: dnsperf did not run"
		sed 's/^/     /' "$T/perf.out"
		return
	fi
	[ "$lost" = 0 ] && ok "$1: every query answered ($sent)" ||
	    not_ok "$1: $lost of $sent queries lost"
	grep -q SERVFAIL "$T/perf.out" &&
	    not_ok "$1: SERVFAIL answers: $(grep 'Response codes' "$T/perf.out")" ||
	    ok "$1: no SERVFAIL"
}

blocked() {
	ctl --json check "$1" 2>/dev/null | grep -q '"blocked": true'
}

pinned_to() {
	ctl --json status 2>/dev/null | grep -q "\"pinned\": \"$1\""
}

not_pinned() {
	ctl --json status 2>/dev/null | grep -q '"pinned": null'
}

upstream_up() {
	[ "$(status_get "[u['state'] for p in d['pools'] for u in p['upstreams'] if u['name'] == '$1'][0]")" = up ]
}

queued_is() {
	[ "$(status_get "[r['queued'] for r in d['reporters'] if r['name'] == 'collector'][0]")" = "$1" ]
}

reporter_failing() {
	[ "$(status_get "[r['last_error'] is not None and r['queued'] > 0 for r in d['reporters'] if r['name'] == 'collector'][0]")" = True ]
}

# when_daemon SECONDS: an RFC 3339 time SECONDS from the daemon's now
when_daemon() {
	date -u -d "@$(( $(date +%s) + OFFSET + $1 ))" +%Y-%m-%dT%H:%M:%SZ
}

# push_directive ID ACTION [POOL UNTIL]: signed with the hub's key, issued
# by the daemon's clock (a hub's clock in agreement with it)
push_directive() {
	if [ "$2" = pin ]; then
		printf '{"type": "resguard-directive", "version": 1, "id": "%s", "issued": "%s", "action": "pin", "pool": "%s", "until": "%s", "reason": "clock step test %s"}\n' \
		    "$1" "$(when_daemon -60)" "$3" "$4" "$1" > "$T/$1.json"
	else
		printf '{"type": "resguard-directive", "version": 1, "id": "%s", "issued": "%s", "action": "release"}\n' \
		    "$1" "$(when_daemon 0)" > "$T/$1.json"
	fi
	openssl pkeyutl -sign -rawin -inkey "$T/hub.key" -in "$T/$1.json" \
	    -out "$T/$1.sig" 2>/dev/null
	curl -s --noproxy '*' -o "$T/push.reply" -w '%{http_code}' \
	    -H "Authorization: Bearer $TOKEN" \
	    -H "X-Resguard-Signature: $(base64 -w0 < "$T/$1.sig")" \
	    --data-binary @"$T/$1.json" \
	    "http://127.0.0.1:$HTTP_PORT/push/feeds/crisis"
}

# ---------------------------------------------------------------------
echo "# 0: resguardd under libfaketime ($FAKETIME_LIB), clock not stepped"
expect_exit 0 "resguardd -t on the configuration" -- "$RESGUARDD" -t -c "$CONF"
printf '+0\n' > "$RC"
daemon_start_faked
wait_until 15 "normal with every upstream up" -- sh -c \
    "$RESGUARDCTL -s $T/control.sock status >/dev/null"
wait_until 15 "the hub feed is applied" -- blocked blocked-one.example
expect_offset "not stepped yet: the daemon's clock is the real one"
status_is normal primary - 0
T_START=$(date +%s)
eu_events=$(upstream_events lab-eu-udp)

# --- 1. a step forward by a day, in normal mode, under a query stream ---
# Expected: the stream is answered; no mode or upstream event; the feed
# refresh goes on at its pace (checked at the end) and a new list is
# applied; events after the step carry the new time.
echo "# 1: a step forward by a day in normal mode"
modes=$(mode_events)
ups=$(count_events upstream)
stream 8
sleep 2
step 86400
expect_offset "the step reached the daemon's time()"
printf 'blocked-one.example\nblocked-two.example\n' > "$T/fix/list.txt.new"
mv "$T/fix/list.txt.new" "$T/fix/list.txt"
stream_check "forward step in normal mode"
[ "$(mode_events)" = "$modes" ] && ok "no mode change from the step" ||
    not_ok "mode events: $modes before the step, $(mode_events) after"
[ "$(count_events upstream)" = "$ups" ] && ok "no upstream change from the step" ||
    not_ok "upstream events: $ups before the step, $(count_events upstream) after"
status_is normal primary - 0
wait_until 15 "the next refresh after the step applies the new list" -- \
    blocked blocked-two.example &&
    ok "the feed refresh goes on after a step forward"
expect_event_offset feed-applied \
    "the feed-applied event carries the stepped clock (CLOCK_REALTIME)"

# --- 2. steps while a failover is held ----------------------------------
# The primary freezes: failover.  A step back by an hour while it is
# frozen must not fail back; after the thaw, a step forward by a day
# inside the 10 s hold must not end the hold early.  Expected: exactly one
# fail-back, at least 10 s after the thaw (the hold, in monotonic time),
# and the fail-back event says so; every query answered throughout.
echo "# 2: steps during a failover and its fail-back hold"
stream 24
sleep 1
"$LAB" freeze primary >/dev/null
wait_until 10 "failover after freezing the primary" -- mode_is failover
modes=$(mode_events)
step -3600
expect_offset "the step back reached the daemon"
sleep 2
mode_is failover && ok "step back while the primary is frozen: still failover" ||
    not_ok "step back: mode $(status_get 'd["mode"]')"
[ "$(mode_events)" = "$modes" ] && ok "no mode event from the step back" ||
    not_ok "mode events: $modes before the step back, $(mode_events) after"
status_is failover eu - 1
t_thaw=$(date +%s)
"$LAB" thaw primary >/dev/null
wait_until 10 "the primary is up again" -- upstream_up lab-primary
sleep 1
step 86400
expect_offset "the step forward reached the daemon"
wait_until 30 "fail-back after the hold" -- mode_is normal
t_back=$(date +%s)
# A lower bound only, which a loaded machine cannot break: the hold began
# after the thaw, and a step forward counted as time would end it at once.
[ $((t_back - t_thaw)) -ge 10 ] &&
    ok "the fail-back came $((t_back - t_thaw)) s after the thaw (hold 10 s)" ||
    not_ok "the fail-back came $((t_back - t_thaw)) s after the thaw, before the 10 s hold"
[ "$(mode_events)" = $((modes + 1)) ] && ok "exactly one mode change: the fail-back" ||
    not_ok "mode events: $modes at the failover, $(mode_events) now"
expect_match 'healthy for 1[0-9] s (hold 10 s)' "the fail-back event counts the hold in monotonic seconds" \
    "$(ctl events --limit 0 | grep 'hold 10 s' | tail -n 1)"
expect_event_offset mode "the fail-back's mode event carries the stepped clock"
stream_check "steps during a failover and its hold"
status_is normal primary - 0

# --- 3. a directive's pin until a wall-clock time, and a step past it ---
# Expected: the pin ends when the wall clock passes "until", however it
# got there; a step forward by a day past it ends the pin at once, and
# the journal says so.
echo "# 3: a step forward past a directive's until"
expect_match '^202$' "a pin for one hour (daemon's time) pushed" \
    "$(push_directive d1 pin eu "$(when_daemon 3600)")"
wait_until 10 "the directive pins pool eu" -- pinned_to eu
status_is failover eu eu 1
step 86400
expect_offset "the step forward reached the daemon"
if wait_until 10 "a step forward past the pin's until ends the pin" -- not_pinned; then
	ok "a step forward past the pin's until ends the pin"
	expect_match "the directive's pin ended" "the end of the pin is an event" \
	    "$(ctl events --limit 0 | tail -n 5)"
else
	echo "# still in force: $(status_get 'd["directive"]'), the daemon's" \
	    "clock at $(when_daemon 0)"
	# Unpinned by the hub, so that the rest of the test runs.
	expect_match '^202$' "a release pushed instead" "$(push_directive d2 release)"
	wait_until 10 "released" -- not_pinned
fi
wait_until 10 "back to normal after the pin" -- mode_is normal
expect_event_offset directive "the directive's last event carries the stepped clock"
status_is normal primary - 0

# --- 4. reports spooled across a step back -------------------------------
# The collector is down: an event waits in the spool; the clock steps back
# an hour; the collector comes back.  Expected: the spool drains, every
# event of the journal reaches the collector; the feed refresh goes on
# after the step back.
echo "# 4: reports spooled across a step back"
echo down > "$T/fix/collector.mode"
expect_exit 0 "reload (an event to report)" -- ctl reload
wait_until 10 "the reporter fails and the event waits in the spool" -- \
    reporter_failing
step -3600
expect_offset "the step back reached the daemon"
printf 'blocked-one.example\nblocked-two.example\nblocked-three.example\n' \
    > "$T/fix/list.txt.new"
mv "$T/fix/list.txt.new" "$T/fix/list.txt"
echo up > "$T/fix/collector.mode"
wait_until 20 "the next refresh after the step back applies the new list" -- \
    blocked blocked-three.example &&
    ok "the feed refresh goes on after a step back"
expect_event_offset feed-applied "the feed-applied event carries the clock stepped back"
wait_until 30 "the spool drains after the step back" -- queued_is 0 &&
    ok "the reports spooled before the step back went out"
expect_match '"type": "reporter-recovered"' "the recovery is an event" \
    "$(ctl --json events --limit 0)"
# The outage lasted seconds of real time across a step back of an hour:
# measured on the wall clock it would come out as 0 (or, across a step
# forward, as a day).
ms=$(events_py "[e['evidence']['failing_for_ms'] for e in ev if e['type'] == 'reporter-recovered'][-1]")
[ "${ms:-0}" -gt 0 ] && [ "$ms" -lt 3600000 ] &&
    ok "the recovery event measures the outage in monotonic time ($ms ms)" ||
    not_ok "the recovery event says the collector failed for ${ms:-?} ms across the step back"
ctl --json events --limit 0 | python3 -c '
import json, sys
for e in json.load(sys.stdin)["events"]:
    print(e["id"])' | sort -u > "$T/journal.ids"
wait_until 10 "every event in the journal reached the collector" -- sh -c \
    "awk '\$1 == \"event\" { print \$2 }' $T/fix/received.log | sort -u |
    comm -23 $T/journal.ids - | grep -q . && exit 1 || exit 0" &&
    ok "every event in the journal reached the collector ($(wc -l < "$T/journal.ids"))"
status_is normal primary - 0
[ "$(upstream_events lab-eu-udp)" = "$eu_events" ] &&
    ok "the fallback's upstream never changed state" ||
    not_ok "upstream events for lab-eu-udp: $eu_events at start, $(upstream_events lab-eu-udp) now"

# --- 5. the journal tells the story; what was persisted survives ---------
echo "# 5: the journal and the persisted state"
out=$(events_py "' '.join('%d' % round(t(b) - t(a)) for a, b in zip(ev, ev[1:]) if abs(t(b) - t(a)) > 1800)")
echo "# jumps between consecutive events (s): $out"
fwd=0 back=0
for j in $out; do
	if [ "$j" -gt 80000 ] && [ "$j" -lt 90000 ]; then
		fwd=$((fwd + 1))
	elif [ "$j" -lt -3000 ] && [ "$j" -gt -4000 ]; then
		back=$((back + 1))
	fi
done
[ "$fwd" -eq 3 ] && ok "three jumps of a day forward in the journal's time stamps" ||
    not_ok "$fwd jumps of a day forward in the journal's time stamps (expected 3): $out"
[ "$back" -eq 2 ] && ok "two jumps of an hour back in the journal's time stamps" ||
    not_ok "$back jumps of an hour back in the journal's time stamps (expected 2): $out"
elapsed=$(( $(date +%s) - T_START ))
n=$(awk -v s="$T_START" '$1 >= s' "$T/fix/fetches.log" | wc -l)
most=$((elapsed / 10 + 2))
[ "$n" -le "$most" ] &&
    ok "no burst of fetches: $n in $elapsed s with refresh-s 10" ||
    not_ok "$n fetches in $elapsed s with refresh-s 10: more than $most"
before=$(ctl --json events --limit 0 | python3 -c '
import json, sys
print(" ".join(e["id"] for e in json.load(sys.stdin)["events"]))')
daemon_stop_faked && ok "SIGTERM: clean exit" || not_ok "SIGTERM: exit $?"
python3 - "$T/state/events.jsonl" "$before" <<'EOF' > "$T/journal.check" 2>&1
import json, sys
ids = []
for n, line in enumerate(open(sys.argv[1]), 1):
    e = json.loads(line)
    assert isinstance(e, dict) and e.get("id") and e.get("time"), "line %d" % n
    ids.append(e["id"])
want = sys.argv[2].split()
missing = [i for i in want if i not in ids]
assert not missing, "missing from the file: %s" % missing
assert ids[-1] != want[-1], "no stop event after the last one listed"
print(len(ids))
EOF
[ $? -eq 0 ] &&
    ok "events.jsonl: every line parses, every event listed is in it ($(cat "$T/journal.check") lines)" ||
    not_ok "events.jsonl: $(cat "$T/journal.check")"
daemon_start_faked
wait_until 15 "all well after the restart" -- sh -c \
    "$RESGUARDCTL -s $T/control.sock status >/dev/null"
blocked blocked-three.example && ok "the last list is in force after the restart" ||
    not_ok "blocked-three.example not blocked after the restart"
missing=$(events_py "' '.join(i for i in '$before'.split() if i not in [e['id'] for e in ev])")
[ -z "$missing" ] && ok "the journal reloaded every event across the steps" ||
    not_ok "events lost across the restart: $missing"
out=$(events_py "[e['type'] for e in ev if e['id'] not in '$before'.split()][:2]")
[ "$out" = "['stop', 'start']" ] && ok "then the stop and the new start" ||
    not_ok "after the kept events: $out, expected stop and start"
status_is normal primary - 0
daemon_stop_faked && ok "stopped" || not_ok "stop failed"
finish
