#!/bin/sh
# backend.sh -- the sidecar backends against real files and a real Unbound.
#
# A third Unbound stands in for the host's resolver: it listens on
# 127.0.0.1 (base+10), takes remote control over TLS on 127.0.0.1
# (base+11, keys from unbound-control-setup) and on a UNIX socket, reads
# the RPZ zone the agent writes, and resolves only through the lab.  The
# agent must set its forwarders from the failover decision (a frozen
# primary moves them to the fallback, fail-back moves them back), export
# the blocklist as RPZ (blocked names answer NXDOMAIN, the allowlist passes,
# the next snapshot changes the answers), notice when that Unbound is
# gone, retry, and apply everything again when it is back.  A pool of DNS
# over TLS upstreams reaches an Unbound that cannot be told so by remote
# control (before 1.20) through the forward-file it includes: Unbound
# resolves through the lab's DoT listener, also after a restart, and
# fail-back writes plain forwarders there again.  The resolvconf
# backend rewrites a resolv.conf in the test's directory and refuses
# symbolic links, read-only and managed files.
#
# The agent is resguardd when it carries the backend (rg_backend_apply is
# linked in), else tests/system/backend-harness, the same parts on the same
# loop with the state in a file; RG_BACKEND_AGENT=daemon|harness chooses.  Lab settings: interval-ms 500, timeout-ms 400, fall 3, rise 2.

# transport.sh uses the first hundred ports from RG_TEST_PORT_BASE,
# failover.sh, feeds.sh and guard.sh the next thousands.
RG_TEST_PORT_BASE=$(( ${RG_TEST_PORT_BASE:-16300} + 3000 ))
. "$(dirname "$0")/lib.sh"

for tool in unbound-control unbound-control-setup unbound-checkconf; do
	if ! command -v $tool >/dev/null 2>&1; then
		echo "SKIP: $tool not found"
		exit 77
	fi
done
export RG_PLUGIN_DIR=${RG_PLUGIN_DIR:-$BUILDDIR/plugins}
HARNESS=$BUILDDIR/tests/system/backend-harness
if [ -n "${RG_BACKEND_AGENT:-}" ]; then
	AGENT=$RG_BACKEND_AGENT
elif nm "$RESGUARDD" 2>/dev/null | grep -q ' T rg_backend_apply$'; then
	AGENT=daemon
else
	AGENT=harness
fi
echo "# agent: $AGENT, plugins from $RG_PLUGIN_DIR"

lab_start
export RG_LAB_CONTROL_SOCKET=$T/control.sock
H=$T/host
HOST_PORT=$((RG_LAB_PORT_BASE + 10))
CTL_PORT=$((RG_LAB_PORT_BASE + 11))
CONF=$T/resguard.conf
STATE=$T/agent.json
FWD=$H/resguard-forward.conf

# -- the host's Unbound ----------------------------------------------------

host_conf() {
	cat > "$H/unbound.conf" <<EOF
server:
	interface: 127.0.0.1@$HOST_PORT
	port: $HOST_PORT
	interface-automatic: no
	do-ip6: no
	so-reuseport: no
	num-threads: 1
	access-control: 127.0.0.0/8 allow
	username: ""
	chroot: ""
	directory: "$H"
	pidfile: "$H/unbound.pid"
	logfile: "$H/unbound.log"
	use-syslog: no
	do-not-query-localhost: no
	module-config: "respip iterator"
	# Read at start only: the CA of the lab's DoT listener.
	tls-cert-bundle: "$RG_LAB_CA"
	local-zone: "test." nodefault
	local-zone: "lab." nodefault
# Without forwarders (the last resort) it recurses from the lab's root.
stub-zone:
	name: "."
	stub-addr: 127.0.0.1@$RG_LAB_ROOT_PORT
	stub-prime: no
rpz:
	name: resguard.rpz.
	zonefile: "$H/resguard.rpz"
remote-control:
	control-enable: yes
	control-interface: 127.0.0.1
	control-interface: "$H/control.sock"
	control-port: $CTL_PORT
	control-use-cert: yes
	server-key-file: "$H/unbound_server.key"
	server-cert-file: "$H/unbound_server.pem"
	control-key-file: "$H/unbound_control.key"
	control-cert-file: "$H/unbound_control.pem"
include-toplevel: "$FWD"
EOF
}

uctl() {
	unbound-control -c "$H/unbound.conf" "$@" 2>&1
}

host_start() {
	unbound -c "$H/unbound.conf" 2>>"$H/stderr.log" || return 1
	wait_until 10 "host Unbound answers remote control" -- uctl status
}

host_stop() {
	[ -s "$H/unbound.pid" ] || return 0
	pid=$(cat "$H/unbound.pid")
	kill "$pid" 2>/dev/null
	for _ in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	rm -f "$H/unbound.pid"
}

# ask NAME TYPE: the short answer of the host's Unbound, from its upstream
# (the lab's names are flushed first); "NXDOMAIN" for a name error.
ask() {
	uctl flush_zone lab. >/dev/null
	uctl flush_zone test. >/dev/null
	out=$(dig @127.0.0.1 -p "$HOST_PORT" +time=2 +tries=1 "$1" "$2" 2>&1)
	case $out in
	*"status: NXDOMAIN"*) echo NXDOMAIN ;;
	*) dig @127.0.0.1 -p "$HOST_PORT" +time=2 +tries=1 +short "$1" "$2" ;;
	esac
}

answer_is() {
	[ "$(ask "$1" "$2")" = "$3" ]
}

backend_cleanup() {
	host_stop
	cleanup
}
trap backend_cleanup EXIT

mkdir -p "$H" "$T/state"
unbound-control-setup -d "$H" >"$H/setup.log" 2>&1 ||
    { cat "$H/setup.log"; echo "unbound-control-setup failed"; exit 99; }
host_conf
echo '# resguard forward zones' > "$FWD"
printf '$ORIGIN resguard.rpz.\n@ 60 SOA localhost. root.localhost. 1 3600 600 86400 60\n@ 60 NS localhost.\n' \
    > "$H/resguard.rpz"
unbound-checkconf "$H/unbound.conf" >/dev/null || exit 99
host_start || { cat "$H/stderr.log"; exit 99; }

# -- the agent ---------------------------------------------------------------

agent_start() {
	if [ "$AGENT" = daemon ]; then
		daemon_start "$1"
		return
	fi
	rm -f "$STATE"
	"$HARNESS" -v -c "$1" -o "$STATE" >>"$T/daemon.log" 2>&1 &
	DAEMON_PID=$!
	wait_until 10 "harness writes its state" -- test -s "$STATE"
}

agent_stop() {
	daemon_stop
}

agent_reload() {
	if [ "$AGENT" = daemon ]; then
		ctl reload >/dev/null
	else
		kill -HUP "$DAEMON_PID"
	fi
}

agent_pin() {
	if [ "$AGENT" = daemon ]; then
		ctl failover "$1" >/dev/null
	else
		echo "$1" > "$STATE.pin"
		kill -USR1 "$DAEMON_PID"
	fi
}

# st EXPR: a Python expression on the status document as d.
st() {
	if [ "$AGENT" = daemon ]; then
		ctl --json status 2>/dev/null
	else
		cat "$STATE" 2>/dev/null
	fi | python3 -c "
import json, sys
d = json.load(sys.stdin)
d = d.get('status', d)
print($1)" 2>/dev/null
}

events() {
	if [ "$AGENT" = daemon ]; then
		ctl --json events --limit 0 2>/dev/null
	else
		cat "$STATE" 2>/dev/null
	fi
}

# ev_count TYPE [TEXT]: events of TYPE whose reason contains TEXT.
ev_count() {
	events | python3 -c "
import json, sys
print(len([e for e in json.load(sys.stdin)['events']
    if e['type'] == '$1' and '''${2:-}''' in e['reason']]))" 2>/dev/null
}

# wait_ok: wait_until, and an "ok" line when it came true.
wait_ok() {
	wait_until "$@" && ok "$2"
}

ev_more() {
	[ "$(ev_count "$1" "${2:-}")" -gt "$3" ]
}

st_is() {
	[ "$(st "$1")" = "$2" ]
}

# -- configuration ----------------------------------------------------------

write_conf() {
	cat > "$CONF" <<EOF
server: { control-socket = "$T/control.sock"; state-dir = "$T/state";
    agent-id = "backend-test"; };
backend: { type = "unbound"; $1 zones = [ "." ];
    rpz-file = "$H/resguard.rpz"; rpz-zone = "${2:-resguard.rpz.}"; };
pools = (
  { name = "primary"; role = "primary";
    upstreams = ( { name = "lab-primary"; address = "127.0.0.1";
        port = $RG_LAB_PRIMARY_PORT; } ); },
  { name = "eu"; role = "fallback";
    upstreams = (
      { name = "lab-eu-dot"; address = "$EU_DOT_ADDRESS";
        port = $RG_LAB_FALLBACK_TLS_PORT; transport = "tls";
        tls-name = "$RG_LAB_TLS_NAME"; ca-file = "$RG_LAB_CA"; }$EU_UDP ); }
);
health: { interval-ms = 500; timeout-ms = 400; fall = 3; rise = 2;
    backoff-max-ms = 2000; };
failover: { failback-hold-s = 5; };
policy: { allowlist = [ "www.lab.test" ]; };
feeds = ( { name = "hub"; format = "domains";
    source = "file://$T/hub.txt"; refresh-s = 10; },
  { name = "rpzhub"; format = "rpz"; source = "file://$T/hub.rpz"; } );
EOF
}

# The fallback pool: DNS over TLS and plain DNS; DNS over TLS alone when
# EU_UDP is empty.
EU_DOT_ADDRESS=127.0.0.1
EU_UDP=",
      { name = \"lab-eu-udp\"; address = \"127.0.0.1\";
        port = $RG_LAB_FALLBACK_PORT; }"
TLS_CONTROL="control = \"127.0.0.1@$CTL_PORT\";
    control-key-file = \"$H/unbound_control.key\";
    control-cert-file = \"$H/unbound_control.pem\";
    server-cert-file = \"$H/unbound_server.pem\";"
printf '# the hub feed\n*.lab.test\n' > "$T/hub.txt"
# Local data and a response-IP rule: what a flattened list of names
# cannot carry to the resolver.
cat > "$T/hub.rpz" <<'EOF'
$ORIGIN hub.rpz.
$TTL 60
@			SOA	ns.rpz.test. hostmaster.rpz.test. 1 3600 600 86400 60
@			NS	ns.rpz.test.
local.example		A	192.0.2.7
32.1.100.51.198.rpz-ip	CNAME	.
EOF
unbound-control -c "$RG_LAB_PRIMARY_UNBOUND_CONF" local_data \
    'ipnx.primary.lab. 300 IN A 198.51.100.1' >/dev/null ||
    { echo "cannot add local data to the lab's primary"; exit 99; }
write_conf "$TLS_CONTROL"
expect_exit 0 "resguardd -t accepts the unbound backend" -- \
    "$RESGUARDD" -t -c "$CONF"
cat > "$T/bad.conf" <<EOF
backend: { type = "unbound"; control = "localhost";
    rpz-file = "/nonexistent-rg/x.rpz"; path = "/etc/resolv.conf"; };
pools = ( { name = "p"; role = "primary";
    upstreams = ( { name = "u"; address = "127.0.0.1"; } ); } );
EOF
out=$("$RESGUARDD" -t -c "$T/bad.conf" 2>&1)
expect_match 'bad.conf:1: error: backend.control: "localhost" is neither' \
    "-t: a bad control address, with file and line" "$out"
expect_match 'bad.conf:2: error: backend.rpz-file: directory' \
    "-t: an RPZ file in a missing directory" "$out"
expect_match 'bad.conf:2: error: backend.path: not used by backend "unbound"' \
    "-t: a setting of another backend" "$out"

# -- forwarders follow the decision -----------------------------------------

agent_start "$CONF"
wait_ok 15 "Unbound forwards to the primary" -- \
    st_is 'd["backend"]["applied"]["pool"]' primary
st_is 'd["backend"]["resolver"]' up && ok "the host's Unbound is checked: up" ||
    not_ok "resolver state: $(st 'd["backend"]')"
expect_match '^\. IN forward 127\.0\.0\.1$' "list_forwards shows the root forwarded" \
    "$(uctl list_forwards)"
[ "$(st 'd["backend"]["applied"]["servers"]')" = "['127.0.0.1@$RG_LAB_PRIMARY_PORT']" ] &&
    ok "forwarders: the primary's address and port" ||
    not_ok "forwarders: $(st 'd["backend"]["applied"]')"
wait_ok 10 "resolves through the primary" -- answer_is who.primary.lab TXT '"primary"'
expect_match 'backend-applied' "a backend-applied event" "$(events)"

# -- the blocklist as RPZ -----------------------------------------------------

# The feed's wildcard, the allowlisted name and the names below it as
# passthru, the same for the fallback's TLS name (so that it is never
# blocked), local.example's local data, and the response-IP rule.
wait_ok 15 "RPZ written and loaded" -- st_is 'd["backend"]["blocklist"]["rules"]' 7
expect_match '^fallback\.lab\.test	CNAME	rpz-passthru\.$' \
    "an upstream's TLS name passes" "$(cat "$H/resguard.rpz")"
expect_match '^\*\.lab\.test	CNAME	\.$' "wildcard rule in the RPZ file" "$(cat "$H/resguard.rpz")"
expect_match '^www\.lab\.test	CNAME	rpz-passthru\.$' \
    "an allowlisted name under a wildcard passes" "$(cat "$H/resguard.rpz")"
[ "$(ask who.lab.test TXT)" = NXDOMAIN ] && ok "a blocked name answers NXDOMAIN" ||
    not_ok "who.lab.test TXT: $(ask who.lab.test TXT)"
[ "$(ask www.lab.test A)" = 192.0.2.10 ] && ok "the allowlisted name resolves" ||
    not_ok "www.lab.test A: $(ask www.lab.test A)"
[ "$(ask local.example A)" = 192.0.2.7 ] &&
    ok "the feed's local data answers through the host's Unbound" ||
    not_ok "local.example A: $(ask local.example A)"
[ "$(ask ipnx.primary.lab A)" = NXDOMAIN ] &&
    ok "an answer under a response-IP rule is blocked by the host's Unbound" ||
    not_ok "ipnx.primary.lab A: $(ask ipnx.primary.lab A)"
expect_match '"response_ip": *1' "the blocklist event counts the response-IP rule" \
    "$(events)"

# -- failover and fail-back ---------------------------------------------------

"$LAB" freeze primary >/dev/null
wait_ok 20 "forwarders move to the fallback" -- \
    st_is 'd["backend"]["applied"]["pool"]' eu
st_is 'd["mode"]' failover && ok "mode failover" || not_ok "mode $(st 'd["mode"]')"
expect_match '^\. IN forward 127\.0\.0\.1$' "list_forwards after failover" "$(uctl list_forwards)"
wait_ok 10 "resolves through the fallback" -- answer_is who.fallback.lab TXT '"fallback"'
out=$(st 'd["backend"]["applied"]["servers"]')
expect_match "127.0.0.1@$RG_LAB_FALLBACK_PORT" "fallback's plain-DNS upstream applied" "$out"
"$LAB" thaw primary >/dev/null
wait_ok 30 "forwarders move back after the hold" -- \
    st_is 'd["backend"]["applied"]["pool"]' primary
wait_ok 10 "resolves through the primary again" -- answer_is who.primary.lab TXT '"primary"'
[ "$(ev_count backend-applied 'pool "eu"')" -ge 1 ] && ok "failover recorded as backend-applied" ||
    not_ok "no backend-applied event for eu"

# -- the next snapshot changes the answers ------------------------------------

printf '# the hub feed, version 2\nalias.lab.test\n' > "$T/hub.txt.new"
mv "$T/hub.txt.new" "$T/hub.txt"
[ "$AGENT" = daemon ] && ctl feeds refresh hub >/dev/null
wait_ok 30 "the new snapshot reaches Unbound" -- \
    sh -c "grep -q '^alias' '$H/resguard.rpz'"
wait_ok 10 "the formerly blocked name resolves" -- answer_is who.lab.test TXT '"root"'
[ "$(ask alias.lab.test A)" = NXDOMAIN ] && ok "the newly blocked name answers NXDOMAIN" ||
    not_ok "alias.lab.test A: $(ask alias.lab.test A)"

# -- the host's Unbound goes away and comes back ------------------------------

before=$(ev_count backend-failed)
host_stop
wait_ok 20 "backend-failed when remote control is gone" -- \
    ev_more backend-failed "" "$before"
wait_ok 10 "status: the host's resolver is down" -- \
    st_is 'd["backend"]["resolver"]' down
st_is 'd["health"]["code"]' 1 && ok "status warns" || not_ok "health: $(st 'd["health"]')"
expect_match "host's resolver does not answer" "status says why" "$(st 'd["health"]["summary"]')"
wait_ok 10 "retried: a second attempt" -- st_is 'd["backend"]["failures"] >= 2' True
kill -0 "$DAEMON_PID" && ok "the agent runs on" || not_ok "the agent died"
host_start
wait_ok 20 "backend-recovered when Unbound is back" -- ev_more backend-recovered "" 0
wait_ok 10 "forwarders applied again" -- \
    sh -c "unbound-control -c '$H/unbound.conf' list_forwards | grep -q '^\. IN forward'"
wait_ok 10 "resolves through the primary after the restart" -- \
    answer_is who.primary.lab TXT '"primary"'
wait_ok 10 "status all well again" -- st_is 'd["health"]["code"]' 0

# -- remote control over the UNIX socket; a zone Unbound does not have --------

write_conf "control = \"$H/control.sock\"; control-use-cert = true;
    control-key-file = \"$H/unbound_control.key\";
    control-cert-file = \"$H/unbound_control.pem\";
    server-cert-file = \"$H/unbound_server.pem\";"
agent_reload
wait_ok 15 "forwarders applied through the UNIX socket" -- \
    st_is '"control.sock" in (d["backend"]["resolver_detail"] or "") and d["backend"]["applied"] is not None' True
before=$(ev_count backend-failed 'no auth-zone')
write_conf "$TLS_CONTROL" "nosuch.rpz."
agent_reload
wait_ok 15 "a zone Unbound does not have: backend-failed" -- \
    ev_more backend-failed 'no auth-zone' "$before"
expect_match 'rpz: name: nosuch.rpz. zonefile' "the event says what unbound.conf needs" \
    "$(events)"
expect_match '^\*\.lab\.test\|^alias' "the RPZ file stays as it was" "$(cat "$H/resguard.rpz")"
expect_match '^\$ORIGIN resguard\.rpz\.$' "with its own zone name" "$(cat "$H/resguard.rpz")"
expect_match '^\. IN forward 127\.0\.0\.1$' "the forwarders stay" "$(uctl list_forwards)"
write_conf "$TLS_CONTROL"
agent_reload
wait_ok 15 "good again after the fix" -- st_is 'd["backend"]["state"]' ok

# -- DNS over TLS forwarders through the forward-file -------------------------

# Unbound before 1.20 has no "forward_add +t": the forward-file and a reload.
UB_VERSION=$(uctl status | sed -n 's/^version: //p')
if printf '%s\n1.20\n' "$UB_VERSION" | sort -V -C; then
	ub_reloads=1
else
	ub_reloads=0
fi
echo "# host Unbound $UB_VERSION; DNS over TLS by reload: $ub_reloads"

EU_UDP=
write_conf "$TLS_CONTROL"
agent_reload
if [ "$ub_reloads" = 1 ]; then
	before=$(ev_count backend-failed 'set backend.forward-file')
	agent_pin eu
	wait_ok 15 "DNS over TLS alone, no forward-file: backend-failed, saying what helps" -- \
	    ev_more backend-failed 'set backend.forward-file' "$before"
	agent_pin auto
	wait_ok 15 "back on the primary" -- st_is 'd["backend"]["state"]' ok
fi

write_conf "$TLS_CONTROL forward-file = \"$FWD\";"
expect_exit 0 "resguardd -t accepts backend.forward-file" -- \
    "$RESGUARDD" -t -c "$CONF"
agent_reload
wait_ok 15 "the forward-file holds the primary" -- \
    grep -qx "	forward-addr: 127.0.0.1@$RG_LAB_PRIMARY_PORT" "$FWD"
grep -q 'forward-tls-upstream' "$FWD" && not_ok "plain forwarders written as TLS" ||
    ok "plain forwarders written without TLS"
before_tls=$(ev_count backend-applied "$RG_LAB_TLS_NAME over TLS")
"$LAB" freeze primary >/dev/null
wait_ok 20 "failover: forwarders move to the DNS over TLS pool" -- \
    st_is 'd["backend"]["applied"]["pool"]' eu
[ "$(ev_count backend-applied "$RG_LAB_TLS_NAME over TLS")" -gt "$before_tls" ] &&
    ok "backend-applied: forwarding over TLS" ||
    not_ok "no backend-applied over TLS: $(events | grep -o '"reason": "[^"]*eu[^"]*"')"
out=$(cat "$FWD")
expect_match '^	forward-tls-upstream: yes$' "the forward-file asks for TLS" "$out"
expect_match "^	forward-addr: 127\.0\.0\.1@$RG_LAB_FALLBACK_TLS_PORT#$RG_LAB_TLS_NAME\$" \
    "the forward-file names the DoT upstream and its TLS name" "$out"
if [ "$ub_reloads" = 1 ]; then
	[ "$(ev_count backend-applied 'loaded by reload_keep_cache')" -ge 1 ] &&
	    ok "Unbound reloaded the forward-file, keeping its cache" ||
	    not_ok "no reload_keep_cache in the events"
fi
expect_match '^\. IN forward 127\.0\.0\.1$' "list_forwards shows the DoT upstream" \
    "$(uctl list_forwards)"
wait_ok 10 "resolves through the fallback's DoT listener" -- \
    answer_is who.fallback.lab TXT '"fallback"'
expect_match "^127\.0\.0\.1@$RG_LAB_FALLBACK_TLS_PORT " \
    "Unbound asked the DoT port" "$(uctl dump_infra)"

# A restarted Unbound reads the forward-file: it forwards over TLS again
# without being told.
applied=$(ev_count backend-applied)
recovered=$(ev_count backend-recovered)
host_stop
wait_ok 20 "the agent notices Unbound gone" -- \
    st_is 'd["backend"]["resolver"]' down
host_start
wait_ok 10 "restarted, it resolves over TLS" -- \
    answer_is who.fallback.lab TXT '"fallback"'
wait_ok 20 "backend-recovered" -- ev_more backend-recovered "" "$recovered"
[ "$(ev_count backend-applied)" = "$applied" ] &&
    ok "nothing applied again: Unbound came back with the forwarders" ||
    not_ok "applied again after the restart: $(ev_count backend-applied) != $applied"

"$LAB" thaw primary >/dev/null
wait_ok 30 "fail-back: forwarders move back to the primary" -- \
    st_is 'd["backend"]["applied"]["pool"]' primary
wait_ok 10 "resolves through the primary" -- answer_is who.primary.lab TXT '"primary"'
out=$(cat "$FWD")
expect_match "^	forward-addr: 127\.0\.0\.1@$RG_LAB_PRIMARY_PORT\$" \
    "the forward-file holds the primary again" "$out"
printf '%s\n' "$out" | grep -q 'forward-tls-upstream' &&
    not_ok "the forward-file still asks for TLS" || ok "the forward-file asks for plain DNS"
wait_ok 10 "status all well" -- st_is 'd["health"]["code"]' 0

# A forward-file that Unbound does not include: after the reload its
# forwarders are not the ones written (an address the lab does not use
# tells them apart), and the failure says what unbound.conf lacks.
if [ "$ub_reloads" = 1 ]; then
	EU_DOT_ADDRESS=127.0.0.2
	write_conf "$TLS_CONTROL forward-file = \"$H/not-included.conf\";"
	agent_reload
	before=$(ev_count backend-failed 'does unbound.conf include')
	agent_pin eu
	wait_ok 20 "a forward-file Unbound does not include: backend-failed" -- \
	    ev_more backend-failed "does unbound.conf include $H/not-included.conf" "$before"
	grep -q '^	forward-addr: 127\.0\.0\.2@' "$H/not-included.conf" &&
	    ok "that file was written all the same" || not_ok "not-included.conf not written"
	agent_pin auto
	wait_ok 20 "back on the primary" -- st_is 'd["backend"]["state"]' ok
	wait_ok 10 "resolves through the primary" -- answer_is who.primary.lab TXT '"primary"'
	EU_DOT_ADDRESS=127.0.0.1
fi

agent_stop && ok "the agent stops cleanly" || not_ok "agent exit $?"

# -- resolvconf ---------------------------------------------------------------

R=$T/rc
mkdir -p "$R"
cat > "$R/resolv.conf" <<'EOF'
# the host's own resolv.conf
search corp.example
nameserver 192.0.2.1
nameserver 192.0.2.2
options edns0 timeout:1
EOF
cp "$R/resolv.conf" "$R/original"

write_rc_conf() {
	cat > "$CONF" <<EOF
server: { control-socket = "$T/control.sock"; state-dir = "$T/state2"; };
backend: { type = "resolvconf"; path = "$1"; ${2:-} };
pools = (
  { name = "primary"; role = "primary";
    upstreams = ( { name = "lab-primary"; address = "127.0.0.1";
        port = $RG_LAB_PRIMARY_PORT; } ); },
  { name = "local53"; role = "fallback";
    upstreams = (
      { name = "l4"; address = "127.0.0.1"; port = 53; },
      { name = "l6"; address = "::1"; transport = "tcp"; },
      { name = "dot"; address = "127.0.0.1"; transport = "tls";
        tls-name = "dot.lab.test"; } ); }
);
health: { interval-ms = 500; timeout-ms = 400; fall = 2; rise = 2; };
EOF
}

write_rc_conf "$R/resolv.conf"
expect_exit 0 "resguardd -t accepts the resolvconf backend" -- \
    "$RESGUARDD" -t -c "$CONF"
agent_start "$CONF"
wait_ok 15 "nothing usable in resolv.conf: backend-failed" -- \
    ev_more backend-failed "no plain-DNS upstream on port 53" 0
cmp -s "$R/resolv.conf" "$R/original" && ok "resolv.conf left alone" ||
    not_ok "resolv.conf changed: $(cat "$R/resolv.conf")"
agent_pin local53
wait_ok 15 "resolv.conf rewritten for pool local53" -- \
    sh -c "grep -q '^nameserver 127.0.0.1$' '$R/resolv.conf'"
out=$(cat "$R/resolv.conf")
expect_match '^search corp.example$' "search kept" "$out"
expect_match '^options edns0 timeout:1$' "options kept" "$out"
expect_match '^# the host' "comments kept" "$out"
printf '%s\n' "$out" | grep -q 192.0.2.1 && not_ok "old nameservers still there" ||
    ok "old nameservers replaced"
printf '%s\n' "$out" | grep -q 'dot\|853' && not_ok "DoT upstream written" ||
    ok "DoT upstream not written"
cmp -s "$R/resolv.conf.resguard-backup" "$R/original" && ok "backup of the original" ||
    not_ok "no backup"

# A symbolic link (systemd-resolved's stub, say) is refused.
printf 'nameserver 127.0.0.53\n' > "$R/stub-resolv.conf"
ln -s stub-resolv.conf "$R/link.conf"
write_rc_conf "$R/link.conf"
agent_reload
wait_ok 15 "a symbolic link is refused" -- ev_more backend-failed "symbolic link" 0
[ -L "$R/link.conf" ] && [ "$(cat "$R/stub-resolv.conf")" = "nameserver 127.0.0.53" ] &&
    ok "the link and its target untouched" || not_ok "link changed"

# A read-only file is refused and stays as it was.
printf 'search ro.example\nnameserver 192.0.2.9\n' > "$R/ro.conf"
chmod 0444 "$R/ro.conf"
write_rc_conf "$R/ro.conf"
agent_reload
wait_ok 15 "a read-only file: backend-failed" -- ev_more backend-failed "read-only" 0
[ "$(cat "$R/ro.conf")" = "$(printf 'search ro.example\nnameserver 192.0.2.9')" ] &&
    ok "the read-only file is intact" || not_ok "ro.conf changed"
st_is 'd["backend"]["state"]' failing && ok "status: the backend is failing" ||
    not_ok "state $(st 'd["backend"]["state"]')"

# A file another program generates: refused, unless forced.
printf '# Generated by NetworkManager\nsearch nm.example\nnameserver 192.0.2.7\n' > "$R/nm.conf"
write_rc_conf "$R/nm.conf"
agent_reload
wait_ok 15 "a managed file is refused" -- ev_more backend-failed "another program manages" 0
grep -q '^nameserver 192.0.2.7$' "$R/nm.conf" && ok "the managed file is intact" ||
    not_ok "nm.conf changed"
write_rc_conf "$R/nm.conf" "force = true;"
agent_reload
wait_ok 15 "force = true writes it" -- \
    sh -c "grep -q '^nameserver 127.0.0.1$' '$R/nm.conf'"
agent_stop && ok "the agent stops cleanly" || not_ok "agent exit $?"

finish
