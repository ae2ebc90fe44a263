#!/bin/sh
# export.sh -- "resguardctl feeds export --rpz" loaded into a real Unbound.
#
# The daemon (no guard) reads four feeds from files: a policy zone (format
# rpz: a passthru exception, local data, rpz-drop., "CNAME *.", rpz-ip
# triggers of both families), a domains list (exact and wildcard names),
# a list with the sinkhole action and one that only logs; the allowlist
# holds a name below a blocked wildcard.  The export must be the zone
# alone on stdout, read by ldns-read-zone, accepted by unbound-checkconf,
# and enforced by an Unbound that has it as an rpz: zone and takes its
# answers from the lab's primary Unbound (local zone primary.lab.): a
# blocked name NXDOMAIN, the passthru and the allowlisted names answered,
# local data and the sinkhole answered, answers with an address under an
# rpz-ip prefix NXDOMAIN, a name no rule covers answered.  --json gives the
# rule count, --zone another origin, a bad zone an error and no zone.
#
# Ports RG_TEST_PORT_BASE + 4700 .. + 4799: the lab from + 4700, the
# Unbound that loads the export on + 4740.

RG_TEST_PORT_BASE=$(( ${RG_TEST_PORT_BASE:-16300} + 4700 ))
. "$(dirname "$0")/lib.sh"

for tool in unbound-checkconf ldns-read-zone; do
	if ! command -v $tool >/dev/null 2>&1; then
		echo "SKIP: $tool not found"
		exit 77
	fi
done
export RG_PLUGIN_DIR=${RG_PLUGIN_DIR:-$BUILDDIR/plugins}
if [ ! -f "$RG_PLUGIN_DIR/feed-rpz/.libs/feed-rpz.so" ] &&
    [ ! -f "$RG_PLUGIN_DIR/feed-rpz.so" ]; then
	echo "SKIP: feed-rpz plugin not built in $RG_PLUGIN_DIR"
	exit 77
fi

lab_start
export RG_LAB_CONTROL_SOCKET=$T/control.sock
U=$T/unbound
UPORT=$((RG_LAB_PORT_BASE + 40))
CONF=$T/resguard.conf
ZONE=$U/resguard.rpz
mkdir -p "$U" "$T/state"

unbound_stop() {
	[ -s "$U/unbound.pid" ] || return 0
	pid=$(cat "$U/unbound.pid")
	kill "$pid" 2>/dev/null
	for _ in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	rm -f "$U/unbound.pid"
}

export_cleanup() {
	unbound_stop
	if [ "${fail:-0}" -ne 0 ] && [ -f "$U/unbound.log" ]; then
		echo "--- unbound log"
		tail -n 30 "$U/unbound.log"
	fi
	cleanup
}
trap export_cleanup EXIT

# -- the feeds and the daemon ---------------------------------------------

# Names the lab's primary Unbound answers, for the Unbound below.
for rr in \
    'blocked.primary.lab. 300 IN A 192.0.2.31' \
    'x.wild.primary.lab. 300 IN A 192.0.2.32' \
    'ok.wild.primary.lab. 300 IN A 192.0.2.33' \
    'pass.primary.lab. 300 IN A 192.0.2.34' \
    'ipnx.primary.lab. 300 IN A 198.51.100.1' \
    'ipnx6.primary.lab. 300 IN AAAA 2001:db8:bad::1' \
    'kept.primary.lab. 300 IN A 192.0.2.200'; do
	unbound-control -c "$RG_LAB_PRIMARY_UNBOUND_CONF" local_data "$rr" \
	    >/dev/null || { echo "cannot add local data: $rr"; exit 99; }
done

cat > "$T/policy.rpz" <<'EOF'
$ORIGIN policy.rpz.
$TTL 60
@			SOA	ns.rpz.test. hostmaster.rpz.test. 1 3600 600 86400 60
@			NS	ns.rpz.test.
pass.primary.lab	CNAME	rpz-passthru.
local.example		A	192.0.2.7
local.example		AAAA	2001:db8::7
walled.example		CNAME	garden.primary.lab.
dropped.example		CNAME	rpz-drop.
nodata.example		CNAME	*.
24.0.100.51.198.rpz-ip	CNAME	.
48.zz.bad.db8.2001.rpz-ip CNAME	.
EOF
printf '%s\n' blocked.primary.lab '*.wild.primary.lab' pass.primary.lab \
    > "$T/hub.txt"
printf '%s\n' sink.example > "$T/sink.txt"
printf '%s\n' watched.example > "$T/watch.txt"
cat > "$CONF" <<EOF
server: { listen = [ ]; control-socket = "$T/control.sock";
	  state-dir = "$T/state"; };
pools = ( { name = "primary"; role = "primary";
	upstreams = ( { name = "lab-primary"; address = "127.0.0.1";
	    port = $RG_LAB_PRIMARY_PORT; } ); } );
health: { interval-ms = 1000; };
policy: { allowlist = [ "ok.wild.primary.lab" ];
	  sinkhole-a = "192.0.2.123"; sinkhole-aaaa = "2001:db8::123"; };
feeds = (
	{ name = "rpzhub"; format = "rpz"; source = "file://$T/policy.rpz"; },
	{ name = "hub"; format = "domains"; source = "file://$T/hub.txt"; },
	{ name = "sink"; format = "domains"; action = "sinkhole";
	  source = "file://$T/sink.txt"; },
	{ name = "watch"; format = "domains"; action = "log-only";
	  source = "file://$T/watch.txt"; } );
EOF
expect_exit 0 "the configuration is valid" -- "$RESGUARDD" -t -c "$CONF"
daemon_start "$CONF"

feeds_ok() {
	ctl --json feeds 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)
f = d["feeds"]
sys.exit(0 if len(f) == 4 and all(x["state"] == "ok" for x in f) else 1)'
}
wait_until 10 "the four feeds are loaded" -- feeds_ok

# -- the export ------------------------------------------------------------

ctl feeds export --rpz > "$ZONE" 2> "$T/export.err"
expect_exit 0 "feeds export --rpz" -- ctl feeds export --rpz
if [ -s "$T/export.err" ]; then
	not_ok "nothing on stderr: $(cat "$T/export.err")"
else
	ok "nothing on stderr"
fi
zone=$(cat "$ZONE")
TAB=$(printf '\t')
expect_match '^; resguard blocklist as a response policy zone' \
    "stdout is the zone from its first line" "$(head -n 1 "$ZONE")"
expect_match '^\$ORIGIN resguard\.rpz\.$' "default zone resguard.rpz." "$zone"
expect_match "^@${TAB}IN${TAB}SOA${TAB}" "SOA at the apex" "$zone"

# has_line OWNER "TYPE DATA" DESCRIPTION: the zone has that line, with
# tabs between the fields.
has_line() {
	want=$(printf '%s %s' "$1" "$2" | tr ' ' '\t')
	if grep -Fxq "$want" "$ZONE"; then
		ok "$3: $1 $2"
	else
		not_ok "$3: no line \"$1 $2\""
	fi
}
has_line blocked.primary.lab "CNAME ." "exact name, relative owner"
has_line '*.wild.primary.lab' "CNAME ." "wildcard name"
has_line pass.primary.lab "CNAME rpz-passthru." \
    "passthru of the earlier feed wins"
has_line ok.wild.primary.lab "CNAME rpz-passthru." "allowlisted name passes"
has_line '*.ok.wild.primary.lab' "CNAME rpz-passthru." \
    "names below the allowlisted name pass"
has_line local.example "A 192.0.2.7" "local data"
has_line local.example "AAAA 2001:db8::7" "local data"
has_line walled.example "CNAME garden.primary.lab." "local data CNAME"
has_line dropped.example "CNAME rpz-drop." "drop"
has_line nodata.example "CNAME *." "no data"
has_line sink.example "A 192.0.2.123" "sinkhole"
has_line sink.example "AAAA 2001:db8::123" "sinkhole"
has_line 24.0.100.51.198.rpz-ip "CNAME ." "rpz-ip, IPv4"
has_line 48.zz.bad.db8.2001.rpz-ip "CNAME ." "rpz-ip, IPv6"
expect_match '^; left out: 1 log-only' "log-only counted in the header" \
    "$zone"
if printf '%s\n' "$zone" | grep -q watched; then
	not_ok "the log-only name is in the zone"
else
	ok "the log-only name is left out"
fi
if out=$(ldns-read-zone "$ZONE" 2>&1 >/dev/null); then
	ok "ldns-read-zone reads every record"
else
	not_ok "ldns-read-zone: $out"
fi

# --json: the same zone (but for the serial) and its rule count, which
# the owners in it must bear out.
ctl --json feeds export --rpz > "$T/export.json"
out=$(python3 - "$T/export.json" "$ZONE" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
def body(text):
    return [l for l in text.splitlines() if "\tSOA\t" not in l]
owners = set()
for line in r["rpz"].splitlines():
    if line and line[0] not in ";$@":
        owners.add(line.split("\t")[0])
same = body(r["rpz"]) == body(open(sys.argv[2]).read())
print(r["rules"], len(owners), "same" if same else "different")
EOF
)
set -- $out
if [ "${1:-x}" = "${2:-y}" ] && [ "${1:-0}" -eq 12 ] &&
    [ "${3:-}" = same ]; then
	ok "--json: the same zone, \"rules\" 12, the owners in it"
else
	not_ok "--json: rules, owners, zone: $out (12 12 same expected)"
fi

# Exports in quick succession (most in one second): each serial is
# greater than the one before, so a secondary takes every one.
serials=
for _ in 1 2 3; do
	serials="$serials $(ctl feeds export --rpz | awk '$3 == "SOA" { print $6; exit }')"
done
set -- $serials
if [ $# -eq 3 ] && [ "$1" -lt "$2" ] && [ "$2" -lt "$3" ]; then
	ok "serials grow from one export to the next ($serials )"
else
	not_ok "serials of three exports:$serials"
fi

out=$(ctl feeds export --rpz --zone other.rpz 2>&1)
expect_match '^\$ORIGIN other\.rpz\.$' "--zone names the origin" "$out"
out=$(ctl feeds export --rpz --zone 'a..b' 2>"$T/bad.err")
rc=$?
if [ "$rc" -eq 1 ] && [ -z "$out" ] &&
    grep -q 'not a valid zone name' "$T/bad.err"; then
	ok "a bad zone: exit 1, a message, no zone"
else
	not_ok "a bad zone: exit $rc, stdout \"$out\"," \
	    "stderr $(cat "$T/bad.err")"
fi
expect_exit 2 "feeds export without a format" -- ctl feeds export

# The zone is built off the loop and answered later: requests sent behind
# it on the same connection are answered after it, in order, and a peer
# that half-closes after its request still gets the zone.
out=$(python3 - "$T/control.sock" <<'PYEOF'
import json, socket, sys
def talk(data, half_close=False):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(20)
    s.connect(sys.argv[1])
    s.sendall(data)
    if half_close:
        s.shutdown(socket.SHUT_WR)
    buf = b""
    while True:
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            break
        if not chunk:
            break
        buf += chunk
        if not half_close and buf.count(b"\n") >= 4:
            break
    s.close()
    return [json.loads(l) for l in buf.decode().splitlines() if l]
r = talk(b'{"command":"feeds","export":"rpz"}\n{"command":"status"}\n'
         b'{"command":"feeds","export":"rpz","zone":"a..b"}\n'
         b'{"command":"nosuch"}\n')
print("replies", len(r))
print("first", "rpz" in r[0].get("result", {}))
print("second", r[1].get("ok") is True and "mode" in r[1].get("result", {}))
print("third", r[2].get("ok") is False and "zone" in r[2].get("error", ""))
print("fourth", r[3].get("ok") is False and "unknown command" in r[3]["error"])
r = talk(b'{"command":"feeds","export":"rpz"}', half_close=True)
print("halfclose", len(r) == 1 and "rpz" in r[0].get("result", {}))
PYEOF
)
expect_match '^replies 4$' "export, status, bad export, unknown: four replies" "$out"
expect_match '^first True$' "the export answered first" "$out"
expect_match '^second True$' "then the status" "$out"
expect_match '^third True$' "then the bad zone's error" "$out"
expect_match '^fourth True$' "then the unknown command's error" "$out"
expect_match '^halfclose True$' "a half-closed peer gets its zone" "$out"

# -- Unbound with the export -----------------------------------------------

cat > "$U/unbound.conf" <<EOF
server:
	interface: 127.0.0.1@$UPORT
	port: $UPORT
	interface-automatic: no
	do-ip6: no
	so-reuseport: no
	num-threads: 1
	access-control: 127.0.0.0/8 allow
	username: ""
	chroot: ""
	directory: "$U"
	pidfile: "$U/unbound.pid"
	logfile: "$U/unbound.log"
	use-syslog: no
	do-not-query-localhost: no
	module-config: "respip iterator"
	local-zone: "test." nodefault
# Answers for primary.lab. from the lab's primary, the rest from the
# lab's root: nothing leaves loopback.
forward-zone:
	name: "primary.lab."
	forward-addr: 127.0.0.1@$RG_LAB_PRIMARY_PORT
stub-zone:
	name: "."
	stub-addr: 127.0.0.1@$RG_LAB_ROOT_PORT
	stub-prime: no
rpz:
	name: resguard.rpz.
	zonefile: "$ZONE"
EOF
if out=$(unbound-checkconf "$U/unbound.conf" 2>&1); then
	ok "unbound-checkconf accepts the rpz: clause with the export"
else
	not_ok "unbound-checkconf: $out"
fi
if ! unbound -c "$U/unbound.conf" 2>"$U/stderr.log"; then
	not_ok "Unbound starts: $(cat "$U/stderr.log")"
	finish
fi

# ask NAME TYPE: the answer section, or the rcode when it is not NOERROR,
# or "NODATA" for an empty answer.
ask() {
	out=$(dig @127.0.0.1 -p "$UPORT" +time=2 +tries=1 "$1" "$2" 2>&1)
	case $out in
	*"status: NOERROR"*) ;;
	*"status: "*)
		printf '%s\n' "$out" | sed -n 's/.*status: \([A-Z]*\).*/\1/p'
		return ;;
	*) echo "NO-ANSWER"; return ;;
	esac
	ans=$(dig @127.0.0.1 -p "$UPORT" +time=2 +tries=1 +short "$1" "$2")
	echo "${ans:-NODATA}"
}
unbound_answers() {
	[ "$(ask kept.primary.lab A)" = 192.0.2.200 ]
}
wait_until 10 "Unbound answers from the lab" -- unbound_answers

# answer NAME TYPE WANT DESCRIPTION
answer() {
	got=$(ask "$1" "$2" | tr '\n' ' ' | sed 's/ $//')
	if [ "$got" = "$3" ]; then
		ok "$4: $1 $2 -> $got"
	else
		not_ok "$4: $1 $2 -> \"$got\", expected \"$3\""
	fi
}
answer blocked.primary.lab A NXDOMAIN "blocked name"
answer blocked.primary.lab AAAA NXDOMAIN "blocked name, any type"
answer x.wild.primary.lab A NXDOMAIN "blocked by a wildcard"
answer pass.primary.lab A 192.0.2.34 "passthru name answered"
answer ok.wild.primary.lab A 192.0.2.33 \
    "allowlisted name below a blocked wildcard answered"
answer kept.primary.lab A 192.0.2.200 "a name no rule covers answered"
answer ipnx.primary.lab A NXDOMAIN "answer address under an rpz-ip prefix"
answer ipnx6.primary.lab AAAA NXDOMAIN "under an IPv6 rpz-ip prefix"
answer local.example A 192.0.2.7 "local data"
answer local.example AAAA 2001:db8::7 "local data, AAAA"
answer sink.example A 192.0.2.123 "sinkhole"
answer nodata.example A NODATA "no data"
if grep -qi 'error' "$U/unbound.log"; then
	not_ok "Unbound logged errors: $(grep -i error "$U/unbound.log" |
	    head -n 5)"
else
	ok "Unbound logged no error loading the zone"
fi

finish
