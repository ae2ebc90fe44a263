#!/bin/sh
# valgrind.sh -- resguardd under valgrind's memcheck through a short life:
# start in guard mode on the lab (a plain primary, a fallback pool over DNS
# over TLS and UDP, the embedded recursion as the last resort, a feed, the
# HTTP endpoint, an HTTP reporter whose receiver is not there), queries over UDP and TCP, a feed applied and replaced, a
# reload, a failover by freezing the lab's primary and the fail-back after
# the thaw, then SIGTERM.  It must exit 0: no memory error and no
# definitely lost block (--errors-for-leak-kinds=definite
# --error-exitcode=42).  Time limits are wide: everything runs slower under
# valgrind.
# Ports RG_TEST_PORT_BASE + 4660 .. + 4689: resguardd on the base, the lab
# on base+1..+4, the HTTP endpoint on base+20; nothing listens on base+21.

RG_TEST_PORT_BASE=$(( ${RG_TEST_PORT_BASE:-16300} + 4660 ))
. "$(dirname "$0")/lib.sh"

if ! command -v valgrind >/dev/null 2>&1; then
	echo "SKIP: valgrind not found"
	exit 77
fi

lab_start
export RG_LAB_CONTROL_SOCKET=$T/control.sock
G=$RG_LAB_PORT_BASE
H=$((RG_LAB_PORT_BASE + 20))
CONF=$T/resguard.conf
FEED=$T/feed.txt
VGLOG=$T/valgrind.log
export RG_PLUGIN_DIR=${RG_PLUGIN_DIR:-$BUILDDIR/plugins}
REPORT=
if [ -f "$RG_PLUGIN_DIR/report-http.so" ] ||
    [ -f "$RG_PLUGIN_DIR/report-http/.libs/report-http.so" ]; then
	REPORT="report = ( { name = \"hub\"; type = \"http\";
	url = \"http://127.0.0.1:$((RG_LAB_PORT_BASE + 21))/report\";
	timeout-ms = 1000; interval-s = 2; } );"
fi

printf 'blocked.example\n*.wild.example\n' > "$FEED"
cat > "$CONF" <<EOF
server: { listen = [ "127.0.0.1@$G" ]; control-socket = "$T/control.sock";
	  state-dir = "$T/state"; threads = 2; agent-id = "valgrind"; };
http: { listen = [ "127.0.0.1@$H" ]; };
pools = (
	{ name = "primary"; role = "primary";
	  upstreams = ( { name = "lab-primary"; address = "127.0.0.1";
			  port = $RG_LAB_PRIMARY_PORT; } );
	  checks = { nxdomain-zone = "invalid.";
		     expect = { name = "www.lab.test."; type = "A";
				answer = "192.0.2.10"; }; }; },
	{ name = "eu"; role = "fallback";
	  upstreams = (
		{ name = "lab-eu-dot"; address = "127.0.0.1";
		  port = $RG_LAB_FALLBACK_TLS_PORT; transport = "tls";
		  tls-name = "$RG_LAB_TLS_NAME"; ca-file = "$RG_LAB_CA"; },
		{ name = "lab-eu-udp"; address = "127.0.0.1";
		  port = $RG_LAB_FALLBACK_PORT; } ); },
	{ name = "recursion"; role = "last-resort"; type = "recursive";
	  root-addresses = [ "127.0.0.1@$RG_LAB_ROOT_PORT" ];
	  trust-anchor-file = "$RG_LAB_TRUST_ANCHOR"; }
);
health: { interval-ms = 1000; timeout-ms = 1500; fall = 2; rise = 2;
	  backoff-max-ms = 2000; };
failover: { failback = "auto"; failback-hold-s = 2; };
feeds = ( { name = "testhub"; format = "domains"; source = "file://$FEED";
	    refresh-s = 3600; } );
$REPORT
EOF
expect_exit 0 "resguardd -t on the configuration" -- "$RESGUARDD" -t -c "$CONF"

valgrind --tool=memcheck --leak-check=full --errors-for-leak-kinds=definite \
    --error-exitcode=42 --num-callers=30 --log-file="$VGLOG" \
    "$RESGUARDD" -f -v -c "$CONF" >>"$T/daemon.log" 2>&1 &
DAEMON_PID=$!
wait_until 60 "resguardd answers under valgrind" -- daemon_answers || {
	cat "$VGLOG"
	finish
}
wait_until 90 "normal with every upstream up" -- sh -c \
    "$RESGUARDCTL -s $T/control.sock status >/dev/null; [ \$? -le 1 ] &&
    $RESGUARDCTL -s $T/control.sock --json status | grep -q '\"mode\": \"normal\"' &&
    ! $RESGUARDCTL -s $T/control.sock upstreams | grep -q -e ' unknown ' -e ' down '"

q() {
	dig @127.0.0.1 -p "$G" +time=5 +tries=2 "$@" 2>&1
}
blocked() {
	ctl --json check "$1" 2>/dev/null | grep -q '"blocked": true'
}

# -- queries, a feed, a reload, the HTTP endpoint
expect_match "^192.0.2.10$" "UDP answer" "$(q +short www.lab.test A)"
expect_match "^192.0.2.10$" "TCP answer" "$(q +tcp +short www.lab.test A)"
wait_until 30 "the feed is applied" -- blocked blocked.example
expect_match "status: NXDOMAIN" "a blocked name" "$(q blocked.example A)"
expect_match "status: NXDOMAIN" "a name below a wildcard" "$(q a.wild.example A)"
printf 'other.example\n' > "$FEED.new"
mv "$FEED.new" "$FEED"
ctl feeds refresh >/dev/null
wait_until 30 "a new version of the feed is applied" -- blocked other.example
blocked blocked.example && not_ok "the old rules stay" ||
    ok "the new version replaced the old rules"
expect_exit 0 "reload" -- ctl reload
if command -v curl >/dev/null 2>&1; then
	expect_match "^resguard_mode" "metrics over HTTP" \
	    "$(curl -s --noproxy '*' -m 10 "http://127.0.0.1:$H/metrics")"
fi
if command -v dnsperf >/dev/null 2>&1; then
	printf 'www.lab.test A\nwho.primary.lab TXT\nother.example A\nnx.lab.test A\n' \
	    > "$T/queries"
	dnsperf -s 127.0.0.1 -p "$G" -d "$T/queries" -l 3 -Q 100 -c 2 -t 10 \
	    > "$T/perf.out" 2>&1
	echo "# dnsperf: $(grep -e 'Queries completed' "$T/perf.out" | sed 's/^ *//')"
fi

# -- failover and fail-back
"$LAB" freeze primary >/dev/null
wait_until 90 "failover after freezing the primary" -- mode_is failover &&
    ok "failover after freezing the primary"
expect_match "^192.0.2.10$" "answered during the failover" "$(q +short www.lab.test A)"
"$LAB" thaw primary >/dev/null
wait_until 90 "fail-back after the thaw" -- mode_is normal &&
    ok "fail-back after the thaw"
if [ -n "$REPORT" ]; then
	wait_until 30 "reports wait in the spool" -- sh -c \
	    "$RESGUARDCTL -s $T/control.sock --json status | grep -q '\"queued\": [1-9]'" &&
	    ok "reports wait in the spool for the missing receiver"
fi

# -- stop: exit 0, nothing in valgrind's report
kill -TERM "$DAEMON_PID"
wait "$DAEMON_PID"
rc=$?
DAEMON_PID=
[ $rc -eq 0 ] && ok "SIGTERM under valgrind: exit 0" ||
    not_ok "SIGTERM under valgrind: exit $rc (42: valgrind found errors)"
summary=$(grep -e "Command:" -e "total heap usage" -e "ERROR SUMMARY" \
    -e "definitely lost" -e "indirectly lost" -e "possibly lost" \
    -e "All heap blocks" "$VGLOG" | sed 's/^==[0-9]*== *//')
printf '%s\n' "$summary" | sed 's/^/# /'
expect_match "Command: $RESGUARDD " "valgrind's report is resguardd's" "$summary"
expect_match "ERROR SUMMARY: 0 errors" "valgrind: no error" "$summary"
if printf '%s\n' "$summary" | grep -q "definitely lost: [1-9]"; then
	not_ok "valgrind: blocks definitely lost"
else
	ok "valgrind: no block definitely lost"
fi
if [ "$fail" -ne 0 ]; then
	echo "--- valgrind's report"
	grep -v "^==[0-9]*== *$" "$VGLOG" | head -n 150
fi
finish
