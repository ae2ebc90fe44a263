#!/bin/sh
# seccomp.sh -- resguardd under its seccomp filter (server.seccomp = true),
# in guard mode against the lab, with feeds from a file and over HTTP, the
# status page and, when the test runs as root, server.user (so the filter
# goes on after privileges are dropped).  The daemon answers queries, fails
# over and back when the primary Unbound is frozen and thawed, refreshes
# its feeds, loads the RPZ feed and HTTP reporter plugins on a SIGHUP
# reload, delivers reports, answers the status commands and stops cleanly.
# A system call off the filter's list kills it with SIGSYS: after each
# step the test asserts that it still runs, and at the end that it exits
# 0.  The filter must be on every thread ("Seccomp: 2" in /proc).
# Lab settings: interval-ms 500, timeout-ms 400, fall 3, rise 2,
# failback-hold-s 10.
# Ports RG_TEST_PORT_BASE + 5200 .. + 5299: the guard on the base, the lab
# on base+1..+5, the status page on base+20, the web feed on base+21, the
# report receiver on base+22.

RG_TEST_PORT_BASE=$(( ${RG_TEST_PORT_BASE:-16300} + 5200 ))
. "$(dirname "$0")/lib.sh"

for tool in curl; do
	if ! command -v $tool >/dev/null 2>&1; then
		echo "SKIP: $tool not found"
		exit 77
	fi
done
# AddressSanitizer's exit checks need calls the filter does not allow, so
# such a build refuses server.seccomp at start.
if nm "$RESGUARDD" 2>/dev/null | grep -q ' __asan_init'; then
	echo "SKIP: resguardd is built with AddressSanitizer"
	exit 77
fi
export RG_PLUGIN_DIR=${RG_PLUGIN_DIR:-$BUILDDIR/plugins}

lab_start
G=$RG_LAB_PORT_BASE
HTTP_PORT=$((G + 20))
WEB_PORT=$((G + 21))
SINK_PORT=$((G + 22))
CONF=$T/resguard.conf
FEED=$T/feed.txt
mkdir -p "$T/web"
printf 'blocked.example\n*.wild.example\n' > "$FEED"
printf 'web-blocked.example\n' > "$T/web/list.txt"
cat > "$T/hub.rpz" <<'EOF'
$ORIGIN hub.rpz.
$TTL 300
@ SOA localhost. hostmaster.localhost. 1 3600 600 86400 300
  NS localhost.
rpz-blocked.example CNAME .
EOF

# Started as root: resguardd drops to nobody before the filter goes on.
# Everything it reads or writes afterwards must be open to that user.
USER_LINE=
if [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1; then
	USER_LINE="user = \"nobody\";"
	chmod o+x "$T"
	mkdir -p "$T/run"
	chown nobody "$T/run"
	RG_LAB_CONTROL_SOCKET=$T/run/control.sock
else
	echo "# not root: server.user is not set"
	RG_LAB_CONTROL_SOCKET=$T/control.sock
fi

# write_conf SECCOMP [EXTRA_FEEDS [MORE]]: the lab configuration in guard
# mode with server.seccomp = SECCOMP, the file and web feeds, the status
# page; EXTRA_FEEDS go into the feeds list, MORE at the end.
write_conf() {
	sed -e "s|^\([[:space:]]*\)listen = \[.*\];|\1listen = [ \"127.0.0.1@$G\" ];\\
\1threads = 2;\\
\1seccomp = $1;\\
\1$USER_LINE|" \
	    -e "s|^\([[:space:]]*control-socket = \).*|\1\"$RG_LAB_CONTROL_SOCKET\";|" \
	    -e "s|^\([[:space:]]*state-dir = \).*|\1\"$T/state\";|" \
	    "$RG_LAB_CONF" > "$CONF.tmp"
	cat >> "$CONF.tmp" <<EOF
http: { listen = [ "127.0.0.1@$HTTP_PORT" ]; };
feeds = (
	{ name = "file"; format = "domains"; source = "file://$FEED"; },
	{ name = "web"; format = "domains";
	  source = "http://127.0.0.1:$WEB_PORT/list.txt"; timeout-ms = 5000; }${2:+,
	$2}
);
${3:-}
EOF
	chmod 0644 "$CONF.tmp"
	mv "$CONF.tmp" "$CONF"
}

write_conf '"yes"'
out=$("$RESGUARDD" -t -c "$CONF" 2>&1)
expect_match "error: server.seccomp: expected a boolean" \
    "server.seccomp must be a boolean" "$out"
write_conf true
if ! grep -q '^#define HAVE_LIBSECCOMP 1' "$BUILDDIR/config.h" 2>/dev/null; then
	expect_exit 1 "without libseccomp: server.seccomp = true refused" -- \
	    "$RESGUARDD" -t -c "$CONF"
	expect_match "built without libseccomp" "and the error says why" \
	    "$("$RESGUARDD" -t -c "$CONF" 2>&1)"
	echo "# built without libseccomp: nothing more to test"
	finish
fi
expect_exit 0 "resguardd -t with server.seccomp = true" -- \
    "$RESGUARDD" -t -c "$CONF"

# The web feed's server and the report receiver, both on loopback.
python3 -m http.server -b 127.0.0.1 -d "$T/web" "$WEB_PORT" \
    > "$T/web.log" 2>&1 &
WEB_PID=$!
python3 - "$SINK_PORT" "$T/reports.jsonl" > "$T/sink.log" 2>&1 <<'EOF' &
import http.server, json, sys
out = sys.argv[2]
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers.get('Content-Length', 0))
        body = json.loads(self.rfile.read(n))
        with open(out, 'a') as f:
            for r in body:
                f.write(json.dumps(r) + '\n')
        self.send_response(200)
        self.send_header('Content-Length', '0')
        self.end_headers()
    def log_message(self, *args):
        pass
http.server.HTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()
EOF
SINK_PID=$!
trap 'kill $WEB_PID $SINK_PID 2>/dev/null; cleanup' EXIT
wait_until 10 "the web feed's server answers" -- \
    curl -sf -o /dev/null "http://127.0.0.1:$WEB_PORT/list.txt"

# sigsys_says PID: the kernel's audit line for the call that killed PID
# (type 1326, "syscall=N"), when the kernel log can be read.
sigsys_says() {
	dmesg 2>/dev/null | grep "type=1326.* pid=$1 .* sig=31 " | tail -n 1 |
	    sed 's/^/     /'
}

# alive WHEN: the daemon still runs; if not, its end, and no test further.
alive() {
	if kill -0 "$DAEMON_PID" 2>/dev/null; then
		ok "alive $1"
		return
	fi
	pid=$DAEMON_PID
	wait "$DAEMON_PID"
	rc=$?
	DAEMON_PID=
	if [ "$rc" -eq $((128 + 31)) ]; then
		not_ok "killed by SIGSYS $1: a system call off the filter's list"
		sigsys_says "$pid"
	else
		not_ok "dead $1: exit $rc"
	fi
	finish
}

# q ARGS...: dig at the guard, one try
q() {
	dig @127.0.0.1 -p "$G" +time=2 +tries=1 "$@" 2>&1
}
blocked() {
	ctl --json check "$1" | grep -q '"blocked": true'
}

daemon_start "$CONF"
alive "at start"
wait_until 15 "normal with every upstream up" -- sh -c \
    "\"$RESGUARDCTL\" -s \"$RG_LAB_CONTROL_SOCKET\" status >/dev/null"
expect_match "seccomp: filter installed" "the log says the filter is on" \
    "$(cat "$T/daemon.log")"

# -- the filter is on, on every thread, with no new privileges
expect_match "^Seccomp:[[:space:]]*2$" "Seccomp: 2 (filter mode)" \
    "$(grep '^Seccomp:' "/proc/$DAEMON_PID/status")"
expect_match "^NoNewPrivs:[[:space:]]*1$" "NoNewPrivs: 1" \
    "$(grep '^NoNewPrivs:' "/proc/$DAEMON_PID/status")"
n=0 bad=0
for st in /proc/"$DAEMON_PID"/task/*/status; do
	n=$((n + 1))
	grep -q '^Seccomp:[[:space:]]*2$' "$st" || bad=$((bad + 1))
done
[ "$n" -ge 3 ] && [ "$bad" -eq 0 ] &&
    ok "every thread filtered ($n threads)" ||
    not_ok "threads: $n, $bad without the filter"
if [ -n "$USER_LINE" ]; then
	expect_match "^Uid:[[:space:]]*$(id -u nobody)[[:space:]]" \
	    "privileges dropped to nobody" \
	    "$(grep '^Uid:' "/proc/$DAEMON_PID/status")"
fi

# -- queries, the feeds, the status page
expect_match "^192.0.2.10$" "UDP answer" "$(q +short www.lab.test A)"
expect_match "^192.0.2.10$" "TCP answer" "$(q +tcp +short www.lab.test A)"
wait_until 10 "the file feed is applied" -- blocked blocked.example &&
    ok "the file feed is applied"
wait_until 10 "the web feed is fetched and applied" -- \
    blocked web-blocked.example && ok "the web feed is fetched and applied"
out=$(q x.wild.example A)
expect_match "status: NXDOMAIN" "a blocked name: NXDOMAIN" "$out"
expect_match 'EDE: 15 (Blocked)' "with its EDE" "$out"
expect_match 'EDE: 15 (Blocked): (resguard: blocked by feed "web")' \
    "a name from the web feed blocked" "$(q web-blocked.example A)"
get() {
	curl -s --max-time 5 "http://127.0.0.1:$HTTP_PORT$1"
}
page_normal() {
	get / | grep -q '<b id="mode">normal</b>'
}
wait_until 5 "status page serves the mode" -- page_normal &&
    ok "status page serves the mode"
expect_match '^resguard_mode{mode="normal"} 1$' "/metrics" "$(get /metrics)"
expect_match '"mode": *"normal"' "/status" "$(get /status)"
alive "after queries, feeds and the status page"

# -- feed refreshes: from the file and over HTTP
printf 'blocked.example\n*.wild.example\nfresh.example\n' > "$FEED"
printf 'web-blocked.example\nweb-fresh.example\n' > "$T/web/list.txt.new"
# HTTP dates have whole seconds: a change within the second of the first
# version would be "not modified" to the web server.
touch -d "@$(( $(stat -c %Y "$T/web/list.txt") + 2 ))" "$T/web/list.txt.new"
mv "$T/web/list.txt.new" "$T/web/list.txt"
expect_exit 0 "feeds refresh" -- ctl feeds refresh
wait_until 10 "refreshed file feed applied" -- blocked fresh.example &&
    ok "refreshed file feed applied"
if wait_until 10 "refreshed web feed applied" -- blocked web-fresh.example; then
	ok "refreshed web feed applied"
else
	# What the feed says, and what the web server saw.
	ctl --json feeds | sed 's/^/     /'
	sed 's/^/     web: /' "$T/web.log" | tail -n 5
fi
expect_match 'EDE: 15 (Blocked): (resguard: blocked by feed "file")' \
    "the new name is blocked" "$(q fresh.example A)"
alive "after the feed refreshes"

# -- SIGHUP: a reload that adds an RPZ feed and an HTTP reporter, whose
# plugins are loaded now, under the filter
write_conf true \
    "{ name = \"hub\"; format = \"rpz\"; source = \"file://$T/hub.rpz\"; }" \
    "report = ( { name = \"sink\"; type = \"http\";
	url = \"http://127.0.0.1:$SINK_PORT/reports\"; timeout-ms = 2000; } );"
kill -HUP "$DAEMON_PID"
wait_until 10 "after SIGHUP, the RPZ feed is applied" -- \
    blocked rpz-blocked.example && ok "after SIGHUP, the RPZ feed is applied"
alive "after a SIGHUP reload"
expect_match '"requested_by": "SIGHUP"' "a reload event for the SIGHUP" \
    "$(ctl --json events --limit 5)"
expect_match 'EDE: 15 (Blocked): (resguard: blocked by feed "hub")' \
    "a name from the RPZ feed is blocked" "$(q rpz-blocked.example A)"

# -- failover and failback: the primary Unbound frozen, then thawed
"$LAB" freeze primary >/dev/null
wait_until 20 "failover after freezing the primary" -- mode_is failover &&
    ok "failover after freezing the primary"
expect_match "^192.0.2.10$" "answered during the failover" \
    "$(q +short www.lab.test A)"
alive "during the failover"
"$LAB" thaw primary >/dev/null
wait_until 40 "failback after the thaw" -- mode_is normal &&
    ok "failback after the thaw"
expect_match "^192.0.2.10$" "answered after the failback" \
    "$(q +short www.lab.test A)"
alive "after the failback"

# -- the reporter delivered the events, from libuv's thread pool
delivered() {
	[ "$(status_get '[r["delivered"] for r in d["reporters"]
	    if r["name"] == "sink"][0]')" -gt 0 ] 2>/dev/null
}
mode_reported() {
	python3 - "$T/reports.jsonl" <<'EOF'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r.get('kind') == 'event' and r['event'].get('type') == 'mode':
        sys.exit(0)
sys.exit(1)
EOF
}
wait_until 20 "the reporter delivered reports" -- delivered &&
    ok "the reporter delivered reports"
wait_until 20 "the receiver has the mode events" -- mode_reported &&
    ok "the receiver has the mode events"

# -- the control commands and a reload through the control socket
expect_exit 0 "resguardctl reload" -- ctl reload
expect_exit 0 "resguardctl status: all well" -- ctl status
expect_match "lab-primary" "resguardctl upstreams" "$(ctl upstreams)"
expect_match "reload" "resguardctl events" "$(ctl events --limit 5)"
expect_match '"name": "hub"' "resguardctl feeds" "$(ctl --json feeds)"
alive "after the control commands"

# -- a clean stop
pid=$DAEMON_PID
daemon_stop
rc=$?
if [ "$rc" -eq 0 ]; then
	ok "SIGTERM: clean exit (0)"
elif [ "$rc" -eq $((128 + 31)) ]; then
	not_ok "SIGTERM: killed by SIGSYS while stopping"
	sigsys_says "$pid"
else
	not_ok "SIGTERM: exit $rc"
fi
finish
