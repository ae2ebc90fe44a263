#!/bin/sh
# xfr.sh -- RPZ feeds by zone transfer and NOTIFY against Knot DNS (and NSD
# when installed) on loopback, through tests/system/xfr-check.
#
# Knot serves rpz.test. to a TSIG key generated here and open.test. without
# one, loads zone file changes as differences and keeps them in its journal,
# so that it answers IXFR.  Checked: AXFR of a zone not held (records,
# serial, the text parses and holds what kdig transfers), up to date on the
# next call, IXFR after one and after two edits (incremental, and the same
# text as an AXFR of the new version), TSIG required (no key, a wrong
# secret, an unknown key: EACCES), a closed port, a size limit; the NOTIFY
# Knot sends after a reload, and NOTIFY sent by kdig and by hand: good
# (kdig verifies the signed reply), from another address, for an unknown
# zone, with a wrong secret, unsigned for a zone with a key, a query, a
# response, a runt.  With NSD, a zone of 30000 records: an AXFR of many
# messages, each with its TSIG.  Then resguardd itself with an RPZ feed by
# transfer from Knot: applied, and a new version brought in by Knot's
# NOTIFY long before the feed's refresh.
#
# Ports: RG_TEST_PORT_BASE (16300) + 4100 .. 4109; as root, the NOTIFY
# port is 600 + RG_TEST_PORT_BASE / 100 % 400 instead.

set -u
PATH=$PATH:/usr/sbin:/sbin

SRCDIR=${RG_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILDDIR=${RG_BUILDDIR:-$SRCDIR}
CHECK=$BUILDDIR/tests/system/xfr-check
BASE=$(( ${RG_TEST_PORT_BASE:-16300} + 4100 ))
KNOT_PORT=$BASE
NOTIFY_PORT=$((BASE + 1))
# As root, the NOTIFY listener is on a port below 1024 and the daemon
# drops to nobody: the port must be bound before privileges go.  The rpz
# plugin is loaded after the drop, so only when nobody can read it where
# this build keeps it.
DAEMON_USER=
RPZ_PLUGIN=${RG_PLUGIN_DIR:-$BUILDDIR/plugins}/feed-rpz/.libs/feed-rpz.so
if [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1 &&
    command -v setpriv >/dev/null 2>&1 &&
    setpriv --reuid=nobody --regid=nogroup --clear-groups \
    test -r "$RPZ_PLUGIN"; then
	NOTIFY_PORT=$((600 + ${RG_TEST_PORT_BASE:-16300} / 100 % 400))
	DAEMON_USER="user = \"nobody\";"
else
	echo "# the daemon keeps its user: not root, or nobody cannot read $RPZ_PLUGIN"
fi
NSD_PORT=$((BASE + 2))
CLOSED_PORT=$((BASE + 3))

for tool in knotd knotc kdig openssl python3 ldns-read-zone; do
	if ! command -v $tool >/dev/null 2>&1; then
		echo "SKIP: $tool not found"
		exit 77
	fi
done
if [ ! -x "$CHECK" ]; then
	echo "SKIP: $CHECK not built"
	exit 77
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/rg-xfr.XXXXXX") || exit 99
KNOT_PID=
NSD_PID=
LISTEN_PID=
pass=0
fail=0

cleanup() {
	for pid in $LISTEN_PID $KNOT_PID $NSD_PID; do
		kill "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	if [ "$fail" -ne 0 ] && [ -f "$T/knot/knot.log" ]; then
		echo "--- knot log"
		tail -n 30 "$T/knot/knot.log"
	fi
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

ok() {
	pass=$((pass + 1))
	echo "ok   $*"
}

not_ok() {
	fail=$((fail + 1))
	echo "FAIL $*"
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

# wait_for SECONDS DESCRIPTION -- COMMAND...: poll every 100 ms
wait_for() {
	limit=$1 desc=$2
	shift 3
	i=0
	while [ "$i" -lt $((limit * 10)) ]; do
		if "$@" >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.1
		i=$((i + 1))
	done
	not_ok "$desc: not within $limit s"
	return 1
}

# The records of a master file, one per line, blanks squeezed, lowercased,
# sorted, each once (an AXFR shows the SOA twice).
normalize() {
	grep -v '^;' | grep -v '^$' | tr -s ' \t' '  ' |
	    tr 'A-Z' 'a-z' | sort -u
}

SECRET=$(openssl rand -base64 32)
OTHER=$(openssl rand -base64 32)
KEY="hmac-sha256:xfr-key.:$SECRET"

xfr() {
	"$CHECK" xfr -p "127.0.0.1@$KNOT_PORT" -t 10000 "$@" 2>>"$T/check.log"
}

# -- Knot --------------------------------------------------------------------

K=$T/knot
mkdir -p "$K/zones" "$K/db"
cat > "$K/knot.conf" <<EOF
server:
    rundir: "$K"
    listen: 127.0.0.1@$KNOT_PORT
log:
  - target: "$K/knot.log"
    any: info
database:
    storage: "$K/db"
key:
  - id: xfr-key.
    algorithm: hmac-sha256
    secret: $SECRET
remote:
  - id: resguard
    address: 127.0.0.1@$NOTIFY_PORT
    key: xfr-key.
acl:
  - id: transfer-signed
    address: 127.0.0.1
    key: xfr-key.
    action: transfer
  - id: transfer-open
    address: 127.0.0.1
    action: transfer
template:
  - id: default
    storage: "$K/zones"
    zonefile-sync: -1
    zonefile-load: difference
    journal-content: changes
zone:
  - domain: rpz.test.
    file: rpz.test.zone
    acl: transfer-signed
    notify: resguard
  - domain: open.test.
    file: open.test.zone
    acl: transfer-open
EOF

# rpz_zone SERIAL RECORDS...
rpz_zone() {
	serial=$1
	shift
	{
		echo '$ORIGIN rpz.test.'
		echo '$TTL 300'
		echo "@ SOA ns.rpz.test. hostmaster.rpz.test. $serial 3600 600 86400 300"
		echo '@ NS localhost.'
		for r in "$@"; do
			echo "$r"
		done
	} > "$K/zones/rpz.test.zone"
}

rpz_zone 1 'bad.example CNAME .' '*.bad.example CNAME .' \
    'evil.example CNAME .' 'drop.example CNAME rpz-drop.' \
    'walled.example A 192.0.2.1'
sed 's/rpz\.test\./open.test./g' "$K/zones/rpz.test.zone" \
    > "$K/zones/open.test.zone"

knotd -c "$K/knot.conf" >"$K/stdout" 2>&1 &
KNOT_PID=$!

serial_is() {
	[ "$(kdig @127.0.0.1 -p "$KNOT_PORT" +short +timeout=1 +retry=0 \
	    -y "$KEY" rpz.test. SOA 2>/dev/null | awk 'NR == 1 { print $3 }')" \
	    = "$1" ]
}

if ! wait_for 10 "knotd serves rpz.test." -- serial_is 1; then
	cat "$K/stdout" "$K/knot.log"
	exit 99
fi

# kdig's AXFR of a zone, normalized.
kdig_axfr() {
	kdig @127.0.0.1 -p "$KNOT_PORT" "$@" AXFR +noall +answer | normalize
}

# -- AXFR, up to date --------------------------------------------------------

out=$(xfr -z rpz.test. -y "$KEY" -w "$T/v1")
expect_match '^status=new serial=1 incremental=0 records=7 ' \
    "AXFR of a zone not held" "$out"
if ldns-read-zone "$T/v1" >/dev/null 2>&1; then
	ok "the zone text parses (ldns-read-zone)"
else
	not_ok "the zone text does not parse: $(ldns-read-zone "$T/v1" 2>&1)"
fi
if [ "$(head -n 1 "$T/v1" | cut -f 4)" = SOA ]; then
	ok "the SOA comes first"
else
	not_ok "first line: $(head -n 1 "$T/v1")"
fi
normalize < "$T/v1" > "$T/v1.norm"
kdig_axfr -y "$KEY" rpz.test. > "$T/v1.kdig"
if cmp -s "$T/v1.norm" "$T/v1.kdig"; then
	ok "the zone holds the records kdig transfers"
else
	not_ok "the zone and kdig's AXFR differ:"
	diff "$T/v1.norm" "$T/v1.kdig" | sed 's/^/     /'
fi

out=$(xfr -z rpz.test. -y "$KEY" -o "$T/v1" -w "$T/none")
expect_match '^status=up-to-date serial=1$' "up to date on the next call" \
    "$out"
if [ ! -e "$T/none" ]; then
	ok "up to date writes no zone"
else
	not_ok "up to date wrote a zone"
fi

out=$(xfr -z open.test. -w "$T/open")
expect_match '^status=new serial=1 incremental=0 records=7 ' \
    "AXFR without TSIG where none is asked" "$out"

# -- TSIG required -----------------------------------------------------------

out=$(xfr -z rpz.test. -w "$T/nokey")
expect_match 'status=error rc=-13 (EACCES) error=.*AXFR refused: NOTAUTH' \
    "no key: refused" "$out"
out=$(xfr -z rpz.test. -y "hmac-sha256:xfr-key.:$OTHER")
expect_match 'status=error rc=-13 (EACCES) error=.*TSIG error BADSIG' \
    "a wrong secret: BADSIG" "$out"
out=$(xfr -z rpz.test. -y "hmac-sha256:other-key.:$SECRET")
expect_match 'status=error rc=-13 (EACCES) error=.*TSIG error BADKEY' \
    "an unknown key: BADKEY" "$out"
out=$(xfr -z rpz.test. -y "hmac-sha256:xfr-key.:$OTHER" -o "$T/v1")
expect_match 'status=error rc=-13 (EACCES) error=.*SOA' \
    "a wrong secret on the SOA query: refused" "$out"
out=$("$CHECK" xfr -z rpz.test. -p "127.0.0.1@$CLOSED_PORT" -y "$KEY" 2>&1)
expect_match 'status=error rc=-111 (ECONNREFUSED)' "a closed port" "$out"
out=$(xfr -z rpz.test. -y "$KEY" -m 200)
expect_match 'status=error rc=-27 (EFBIG) error=zone larger than 200' \
    "a zone larger than the limit" "$out"

# -- IXFR, and the NOTIFY Knot sends -----------------------------------------

"$CHECK" notify -l "127.0.0.1@$NOTIFY_PORT" \
    -Z "rpz.test.,127.0.0.1,$KEY" -n 100 -t 30000 >"$T/knot-notify" \
    2>>"$T/check.log" &
LISTEN_PID=$!
wait_for 5 "the NOTIFY listener" -- grep -q '^ready' "$T/knot-notify"

rpz_zone 2 'bad.example CNAME .' '*.bad.example CNAME .' \
    'drop.example CNAME rpz-drop.' 'walled.example A 192.0.2.1' \
    'walled.example A 192.0.2.2' 'new.example CNAME .' \
    'Mixed.Example CNAME *.'
knotc -c "$K/knot.conf" zone-reload rpz.test. >/dev/null
wait_for 10 "knotd loads serial 2" -- serial_is 2

out=$(xfr -z rpz.test. -y "$KEY" -o "$T/v1" -w "$T/v2")
expect_match '^status=new serial=2 incremental=1 records=9 ' \
    "IXFR after an edit" "$out"
out=$(xfr -z rpz.test. -y "$KEY" -w "$T/v2.axfr")
expect_match '^status=new serial=2 incremental=0 ' "AXFR of version 2" "$out"
if cmp -s "$T/v2" "$T/v2.axfr"; then
	ok "the IXFR result is the AXFR of the new version"
else
	not_ok "IXFR and AXFR differ:"
	diff "$T/v2" "$T/v2.axfr" | sed 's/^/     /'
fi
normalize < "$T/v2" > "$T/v2.norm"
kdig_axfr -y "$KEY" rpz.test. > "$T/v2.kdig"
if cmp -s "$T/v2.norm" "$T/v2.kdig"; then
	ok "the IXFR result holds the records kdig transfers"
else
	not_ok "the IXFR result and kdig's AXFR differ:"
	diff "$T/v2.norm" "$T/v2.kdig" | sed 's/^/     /'
fi

# Knot retries a NOTIFY that failed (the one at its start, before the
# listener was up): the listener takes any number until Knot logs serial 2.
if wait_for 10 "Knot logs the NOTIFY" -- grep -q "notify, outgoing.*serial 2" \
    "$K/knot.log"; then
	line=$(grep "notify, outgoing.*serial 2" "$K/knot.log")
	if printf '%s\n' "$line" | grep -q -i "fail\|error"; then
		not_ok "Knot did not accept the reply: $line"
	else
		ok "Knot accepts the reply: ${line#*notify, }"
	fi
fi
kill "$LISTEN_PID" 2>/dev/null
wait "$LISTEN_PID" 2>/dev/null
LISTEN_PID=
out=$(cat "$T/knot-notify")
expect_match \
    '^tcp notify index=0 .*rcode=NOERROR aa=1 qr=1 opcode=4 qd=1 tsig=signed' \
    "Knot's NOTIFY (over TCP) after the reload: the index, a signed reply" \
    "$out"
if printf '%s\n' "$out" | grep 'notify index=' | grep -q -v 'index=0'; then
	not_ok "a NOTIFY from Knot was not accepted: $out"
fi

# Two versions on: the differences chain.
rpz_zone 3 '*.bad.example CNAME .' 'drop.example CNAME rpz-drop.' \
    'walled.example A 192.0.2.2' 'new.example CNAME .' \
    'newer.example CNAME .'
knotc -c "$K/knot.conf" zone-reload rpz.test. >/dev/null
wait_for 10 "knotd loads serial 3" -- serial_is 3
out=$(xfr -z rpz.test. -y "$KEY" -o "$T/v1" -w "$T/v3")
expect_match '^status=new serial=3 incremental=1 records=7 ' \
    "IXFR from version 1 to 3" "$out"
out=$(xfr -z rpz.test. -y "$KEY" -o "$T/v2" -w "$T/v3.from2")
expect_match '^status=new serial=3 incremental=1 ' "IXFR from version 2 to 3" \
    "$out"
xfr -z rpz.test. -y "$KEY" -w "$T/v3.axfr" >/dev/null
if cmp -s "$T/v3" "$T/v3.axfr" && cmp -s "$T/v3.from2" "$T/v3.axfr"; then
	ok "both IXFR results are the AXFR of version 3"
else
	not_ok "IXFR and AXFR of version 3 differ:"
	diff "$T/v3" "$T/v3.axfr" | sed 's/^/     /'
	diff "$T/v3.from2" "$T/v3.axfr" | sed 's/^/     /'
fi
# A zone held that the primary's journal does not know: whole zone.
sed 's/ 1 3600 600/ 77 3600 600/' "$T/v1" > "$T/v77"
out=$(xfr -z rpz.test. -y "$KEY" -o "$T/v77" -w "$T/v3.from77")
expect_match '^status=new serial=3 incremental=0 ' \
    "a serial the primary does not know: the whole zone" "$out"
if cmp -s "$T/v3.from77" "$T/v3.axfr"; then
	ok "that zone is version 3"
else
	not_ok "zone from serial 77 differs from the AXFR of version 3"
fi

# -- NOTIFY by kdig and by hand ----------------------------------------------

"$CHECK" notify -l "127.0.0.1@$NOTIFY_PORT" \
    -Z "rpz.test.,127.0.0.1,$KEY" -Z "open.test.,127.0.0.1@53" \
    -n 9 -t 20000 >"$T/notify" 2>>"$T/check.log" &
LISTEN_PID=$!
wait_for 5 "the NOTIFY listener" -- grep -q '^ready' "$T/notify"

knotify() {
	kdig @127.0.0.1 -p "$NOTIFY_PORT" +retry=0 +timeout=2 "$@" 2>&1
}

# The listener's line for the Nth message.
nth() {
	wait_for 5 "the listener judges message $1" -- \
	    test "$(grep -c '^notify' "$T/notify")" -ge "$1"
	grep '^notify' "$T/notify" | sed -n "${1}p"
}

out=$(knotify -y "$KEY" rpz.test. NOTIFY)
expect_match 'opcode: NOTIFY; status: NOERROR' "kdig: a good NOTIFY" "$out"
if printf '%s\n' "$out" | grep -q 'WARNING'; then
	not_ok "kdig warns about the reply: $(printf '%s\n' "$out" | grep WARNING)"
else
	ok "kdig verifies the signed reply"
fi
expect_match '^notify index=0 .*rcode=NOERROR aa=1 .*tsig=signed err=$' \
    "a good NOTIFY: the zone's index" "$(nth 1)"

out=$(knotify open.test. NOTIFY)
expect_match '^notify index=1 .*rcode=NOERROR aa=1 .*tsig=none' \
    "an unsigned NOTIFY for the zone without a key" "$(nth 2)"

out=$(knotify -b 127.0.0.2 -y "$KEY" rpz.test. NOTIFY)
expect_match 'status: REFUSED' "kdig: from another address" "$out"
expect_match '^notify index=-1 .*rcode=REFUSED .*not from its primary' \
    "from another address: REFUSED" "$(nth 3)"

out=$(knotify other.test. NOTIFY)
expect_match 'status: NOTAUTH' "kdig: an unknown zone" "$out"
expect_match '^notify index=-1 .*rcode=NOTAUTH .*not a zone of ours' \
    "an unknown zone: NOTAUTH" "$(nth 4)"

out=$(knotify -y "hmac-sha256:xfr-key.:$OTHER" rpz.test. NOTIFY)
expect_match 'status: BADSIG' "kdig: a wrong secret" "$out"
expect_match \
    '^notify index=-1 .*rcode=NOTAUTH .*tsig=error-16 .*does not verify' \
    "a wrong secret: NOTAUTH, BADSIG" "$(nth 5)"

out=$(knotify rpz.test. NOTIFY)
expect_match '^notify index=-1 .*rcode=NOTAUTH .*tsig=none .*not signed' \
    "unsigned for a zone with a key: NOTAUTH" "$(nth 6)"

out=$(knotify rpz.test. SOA)
expect_match 'opcode: QUERY; status: NOTIMP' "kdig: a query" "$out"
expect_match '^notify index=-1 reply=12 rcode=NOTIMPL .*opcode=0 ' \
    "not a NOTIFY: NOTIMP" "$(nth 7)"

# A response (QR set) and a runt: no reply.
out=$(python3 - "$NOTIFY_PORT" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
dst = ("127.0.0.1", int(sys.argv[1]))
# ID 0x1234, QR and opcode NOTIFY, one question: rpz.test. SOA IN
s.sendto(bytes.fromhex("1234a400000100000000000003727a70047465737400"
    "00060001"), dst)
s.sendto(b"\x12\x34\x20", dst)
s.settimeout(0.5)
try:
    s.recvfrom(512)
    print("a reply came")
except socket.timeout:
    print("no reply")
EOF
)
expect_match '^no reply$' "no datagram back for a response or a runt" "$out"
expect_match '^notify index=-1 reply=0 .*a response, ignored' \
    "a response: no reply" "$(nth 8)"
expect_match '^notify index=-1 reply=0 .*3 bytes, not a DNS message' \
    "a runt: no reply" "$(nth 9)"
wait "$LISTEN_PID" 2>/dev/null
LISTEN_PID=

# -- NSD: many messages, each signed -----------------------------------------

if command -v nsd >/dev/null 2>&1; then
	N=$T/nsd
	mkdir -p "$N"
	cat > "$N/nsd.conf" <<EOF
server:
  ip-address: 127.0.0.1@$NSD_PORT
  port: $NSD_PORT
  username: ""
  chroot: ""
  zonesdir: "$N"
  pidfile: "$N/nsd.pid"
  database: ""
  xfrdfile: "$N/xfrd.state"
  zonelistfile: "$N/zone.list"
  logfile: "$N/nsd.log"
  xfrdir: "$N"
  do-ip6: no
  server-count: 1
remote-control:
  control-enable: no
key:
  name: xfr-key.
  algorithm: hmac-sha256
  secret: "$SECRET"
zone:
  name: big.test.
  zonefile: big.test.zone
  provide-xfr: 127.0.0.1 xfr-key.
EOF
	{
		echo '$ORIGIN big.test.'
		echo '$TTL 300'
		echo '@ SOA ns.big.test. hostmaster.big.test. 7 3600 600 86400 300'
		echo '@ NS localhost.'
		i=1
		while [ $i -le 30000 ]; do
			echo "host$i.example CNAME ."
			i=$((i + 1))
		done
	} > "$N/big.test.zone"
	nsd -d -c "$N/nsd.conf" >"$N/stdout" 2>&1 &
	NSD_PID=$!
	big_up() {
		kdig @127.0.0.1 -p "$NSD_PORT" +short +timeout=1 +retry=0 \
		    big.test. SOA | grep -q ' 7 '
	}
	if wait_for 15 "nsd serves big.test." -- big_up; then
		out=$("$CHECK" xfr -z big.test. -p "127.0.0.1@$NSD_PORT" \
		    -y "$KEY" -t 30000 -w "$T/big" 2>"$T/big.log")
		expect_match '^status=new serial=7 incremental=0 records=30002 ' \
		    "NSD: AXFR of 30000 records" "$out"
		count=$(sed -n 's/.*: \([0-9]* messages, [0-9]* signed\)/\1/p' \
		    "$T/big.log")
		expect_match 'messages, [0-9]* signed' "NSD: $count" \
		    "$(cat "$T/big.log")"
		out=$("$CHECK" xfr -z big.test. -p "127.0.0.1@$NSD_PORT" \
		    -y "hmac-sha256:xfr-key.:$OTHER" 2>&1)
		expect_match 'rc=-13 (EACCES).*BADSIG' "NSD: a wrong secret" \
		    "$out"
	fi
else
	echo "# nsd not found: no multi-message test against NSD"
fi

# -- the daemon: an RPZ feed by transfer, kept current by NOTIFY --------------

RESGUARDD=$BUILDDIR/resguardd
RESGUARDCTL=$BUILDDIR/resguardctl
export RG_PLUGIN_DIR=${RG_PLUGIN_DIR:-$BUILDDIR/plugins}
D=$T/daemon
mkdir -p "$D/run"
CTL_SOCK=$D/control.sock
if [ -n "$DAEMON_USER" ]; then
	chmod o+x "$T" "$D"
	chown nobody "$D/run"
	CTL_SOCK=$D/run/control.sock
fi
cat > "$D/resguard.conf" <<CONF
server: { control-socket = "$CTL_SOCK"; state-dir = "$D/state";
	  notify-listen = [ "127.0.0.1@$NOTIFY_PORT" ]; $DAEMON_USER };
pools = ( { name = "primary"; role = "primary";
	upstreams = ( { name = "closed"; address = "127.0.0.1";
	    port = $CLOSED_PORT; } ); } );
feeds = ( { name = "knot"; format = "rpz";
	source = "axfr://127.0.0.1@$KNOT_PORT/rpz.test.";
	tsig-name = "xfr-key."; tsig-secret = "$SECRET";
	refresh-s = 3600; } );
CONF
"$RESGUARDD" -f -c "$D/resguard.conf" >"$D/log" 2>&1 &
DAEMON_PID=$!
LISTEN_PID="$LISTEN_PID $DAEMON_PID"
blocked() {
	"$RESGUARDCTL" -s "$CTL_SOCK" --json check "$1" 2>/dev/null |
	    grep -q '"blocked": true'
}
if wait_for 15 "the daemon transfers the zone" -- blocked x.bad.example; then
	ok "the daemon blocks from the transferred zone"
fi
out=$("$RESGUARDCTL" -s "$CTL_SOCK" --json check new.example)
expect_match '"indicator": "new.example"' "the rule's indicator is its owner" \
    "$out"
# A new version: Knot's NOTIFY (over TCP) makes the daemon transfer it now,
# an hour before its refresh.
rpz_zone 4 '*.bad.example CNAME .' 'notified.example CNAME .'
knotc -c "$K/knot.conf" zone-reload rpz.test. >/dev/null
if wait_for 15 "NOTIFY brings the new version" -- blocked notified.example; then
	ok "NOTIFY from Knot: the new version is applied"
fi
if blocked new.example; then
	not_ok "a name removed by the new version still blocks"
else
	ok "a name removed by the new version no longer blocks"
fi
expect_match 'NOTIFY for rpz.test.: transfer now' "the daemon logs the NOTIFY" \
    "$(cat "$D/log")"
# A NOTIFY with a wrong key changes nothing.
out=$(kdig @127.0.0.1 -p "$NOTIFY_PORT" +retry=0 +timeout=2 \
    -y "hmac-sha256:xfr-key.:$OTHER" rpz.test. NOTIFY 2>&1)
expect_match 'status: BADSIG' "the daemon: a NOTIFY with a wrong secret" "$out"
if [ -n "$DAEMON_USER" ]; then
	expect_match "^Uid:[[:space:]]*$(id -u nobody)[[:space:]]" \
	    "the daemon runs as nobody, NOTIFY on port $NOTIFY_PORT" \
	    "$(cat /proc/"$DAEMON_PID"/status 2>/dev/null)"
fi
[ -s "$D/state/feeds/knot.feed" ] && ok "the zone is kept in the state directory" ||
    not_ok "no kept copy of the zone"
kill "$DAEMON_PID" 2>/dev/null
wait "$DAEMON_PID" 2>/dev/null && ok "the daemon exits cleanly" ||
    not_ok "the daemon's exit status"

# Under AddressSanitizer or UBSan (RG_BUILDDIR of a sanitizer build), any
# report from the driver fails the test.
if grep -q -E "Sanitizer|runtime error" "$T/check.log" "$T"/big.log \
    2>/dev/null; then
	not_ok "sanitizer reports:"
	grep -h -A 12 -E "Sanitizer|runtime error" "$T/check.log" \
	    "$T"/big.log 2>/dev/null | head -n 60 | sed 's/^/     /'
else
	ok "no sanitizer report from xfr-check"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
