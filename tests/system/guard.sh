#!/bin/sh
# guard.sh -- guard mode against the lab: resguardd answers dig, kdig and
# dnsperf on 127.0.0.1 (and 127.0.0.2 for access control) and forwards to
# the lab's Unbound resolvers.  UDP and TCP, truncation and the retry over
# TCP, EDNS sizes and versions, access control, every blocking action with
# its Extended DNS Error, a frozen primary (then a frozen fallback too, for
# the last resort) under a steady query stream with no failed client
# query, serve-stale when every pool is down, blocklist swaps under load,
# bad input, and a recursion that fails after its query was cancelled.
# Lab settings: interval-ms 500, timeout-ms 400, fall 3, rise 2.

# transport.sh uses the first hundred ports from RG_TEST_PORT_BASE,
# failover.sh and feeds.sh the next thousands.
RG_TEST_PORT_BASE=$(( ${RG_TEST_PORT_BASE:-16300} + 2000 ))
. "$(dirname "$0")/lib.sh"

for tool in dnsperf kdig; do
	if ! command -v $tool >/dev/null 2>&1; then
		echo "SKIP: $tool not found"
		exit 77
	fi
done

lab_start
G=$RG_LAB_PORT_BASE
CONF=$T/resguard.conf
FEED=$T/feed.txt

cat > "$FEED" <<'EOF'
# test feed
blocked.example
*.wild.example
allowed.example
EOF

# write_conf ACTION: the lab configuration in guard mode on 127.0.0.1 and
# 127.0.0.2, clients from 127.0.0.1 only, with the test feed.
write_conf() {
	sed -e "s|^\([[:space:]]*\)listen = \[.*\];|\1listen = [ \"127.0.0.1@$G\", \"127.0.0.2@$G\" ];\\
\1access-control = [ \"127.0.0.1/32\" ];\\
\1threads = 2;\\
\1tcp-idle-timeout-ms = 1000;|" "$RG_LAB_CONF" > "$CONF.tmp"
	cat >> "$CONF.tmp" <<EOF
feeds = ( { name = "testhub"; format = "domains";
	    source = "file://$FEED"; refresh-s = 10; } );
policy: { action = "$1"; allowlist = [ "allowed.example" ];
	  sinkhole-a = "192.0.2.123"; sinkhole-aaaa = "2001:db8::123"; };
EOF
	mv "$CONF.tmp" "$CONF"
}

# q ARGS...: dig at the guard, one try
q() {
	dig @127.0.0.1 -p "$G" +time=2 +tries=1 "$@" 2>&1
}

guard_get() {
	status_get "d[\"guard\"]$1"
}

write_conf nxdomain
expect_exit 0 "resguardd -t on the guard configuration" -- "$RESGUARDD" -t -c "$CONF"

# -- a port in use is a clear error at start
python3 -c "
import socket, time, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('127.0.0.1', $G))
sys.stdout.write('bound\n'); sys.stdout.flush()
time.sleep(5)" > "$T/holder.out" &
HOLDER=$!
wait_until 5 "port holder ready" -- grep -q bound "$T/holder.out"
"$RESGUARDD" -f -c "$CONF" > "$T/inuse.log" 2>&1
rc=$?
kill $HOLDER 2>/dev/null
wait $HOLDER 2>/dev/null
[ $rc -eq 1 ] && ok "port in use: exit 1" || not_ok "port in use: exit $rc"
expect_match "127.0.0.1@$G (udp): Address already in use" \
    "port in use: the log names the address" "$(cat "$T/inuse.log")"

daemon_start "$CONF"
wait_until 10 "normal with every upstream up" -- sh -c \
    "[ \"\$($RESGUARDCTL -s $RG_LAB_CONTROL_SOCKET status >/dev/null; echo \$?)\" = 0 ]"
wait_until 10 "the feed is loaded" -- sh -c \
    "$RESGUARDCTL -s $RG_LAB_CONTROL_SOCKET check blocked.example | grep -q nxdomain"

# -- UDP and TCP
expect_match "^192.0.2.10$" "UDP answer" "$(q +short www.lab.test A)"
expect_match "^192.0.2.10$" "TCP answer" "$(q +tcp +short www.lab.test A)"
expect_match "^2001:db8::10$" "kdig over TCP" \
    "$(kdig @127.0.0.1 -p "$G" +tcp +short +timeout=2 www.lab.test AAAA 2>&1)"
out=$(q +noall +question +answer WwW.LaB.TeSt A)
expect_match "^;WwW.LaB.TeSt.[[:space:]]*IN[[:space:]]*A" "question case kept" "$out"
out=$(q www.lab.test A +dnssec)
expect_match "flags: qr rd ra ad;" "DNSSEC: AD from the validating upstream" "$out"
expect_match "RRSIG" "DNSSEC: DO passed on, RRSIG back" "$out"
out=$(q www.bogus.test A)
expect_match "status: SERVFAIL" "bogus name: SERVFAIL" "$out"
expect_match "EDE: 6 (DNSSEC Bogus)" "bogus name: the upstream's EDE relayed" "$out"
# Several queries pipelined on one TCP connection.
out=$(kdig @127.0.0.1 -p "$G" +tcp +keepopen +timeout=2 +short \
    www.lab.test A who.lab.test TXT alias.lab.test A 2>&1)
expect_match '"root"' "pipelined TCP: second answer" "$out"
[ "$(printf '%s\n' "$out" | grep -c '192.0.2.10')" -ge 2 ] &&
    ok "pipelined TCP: first and third answers" ||
    not_ok "pipelined TCP: $out"

# -- EDNS
out=$(q +bufsize=4096 www.lab.test A)
expect_match "udp: 1232" "EDNS: our UDP size in the reply" "$out"
out=$(q +noedns www.lab.test A)
echo "$out" | grep -q "OPT PSEUDOSECTION" &&
    not_ok "no EDNS asked, OPT in the reply" || ok "no EDNS asked, none given"
expect_match "status: NOERROR" "no EDNS: answered" "$out"
out=$(q +edns=1 +noednsneg www.lab.test A)
expect_match "status: BADVERS" "EDNS version 1: BADVERS" "$out"

# -- truncation: an answer bigger than 1232 bytes
TXT=$(python3 -c "print('x' * 240)")
for i in 1 2 3 4 5 6; do
	unbound-control -c "$RG_LAB_PRIMARY_UNBOUND_CONF" local_data \
	    "big.primary.lab. 300 IN TXT \"$i$TXT\"" >/dev/null
done
before=$(guard_get '["tcp_retries"]')
out=$(q big.primary.lab TXT)
expect_match "ANSWER: 6," "big answer: complete (client retried over TCP)" "$out"
expect_match "MSG SIZE  rcvd: 1[0-9][0-9][0-9]" "big answer: over 1000 bytes" "$out"
after=$(guard_get '["tcp_retries"]')
[ "$after" -gt "$before" ] && ok "truncated UDP reply asked again over TCP upstream" ||
    not_ok "tcp_retries $before -> $after"
out=$(q +ignore +noedns big.primary.lab TXT)
expect_match "flags: qr aa tc rd ra" "big answer, no EDNS: TC set" "$out"
expect_match "ANSWER: 0," "big answer, no EDNS: header and question only" "$out"
out=$(q +tcp big.primary.lab TXT)
expect_match "ANSWER: 6," "big answer over TCP" "$out"
[ "$(guard_get '["truncated"]')" -ge 2 ] && ok "truncated replies counted" ||
    not_ok "truncated: $(guard_get '["truncated"]')"

# -- access control
out=$(dig @127.0.0.2 -p "$G" -b 127.0.0.2 +time=2 +tries=1 www.lab.test A 2>&1)
expect_match "status: REFUSED" "client outside access-control: REFUSED" "$out"
out=$(dig @127.0.0.2 -p "$G" -b 127.0.0.2 +tcp +time=2 +tries=1 www.lab.test A 2>&1)
expect_match "status: REFUSED" "over TCP too" "$out"
out=$(dig @127.0.0.2 -p "$G" -b 127.0.0.1 +time=2 +tries=1 +short www.lab.test A 2>&1)
expect_match "^192.0.2.10$" "allowed client on the second address answered" "$out"
[ "$(guard_get '["refused_acl"]')" -ge 2 ] && ok "ACL refusals counted" ||
    not_ok "refused_acl: $(guard_get '["refused_acl"]')"

# -- blocking actions, each with its EDE naming the feed
# use_action ACTION: reload with it and wait until the rules carry it
use_action() {
	write_conf "$1"
	ctl reload >/dev/null 2>&1
	wait_until 10 "rules rebuilt with action $1" -- sh -c \
	    "$RESGUARDCTL -s $RG_LAB_CONTROL_SOCKET check blocked.example | grep -q -- '$1'"
}
EDE='EDE: 15 (Blocked): (resguard: blocked by feed "testhub")'

out=$(q blocked.example A)
expect_match "status: NXDOMAIN" "nxdomain: rcode" "$out"
expect_match "$EDE" "nxdomain: EDE 15 with the feed" "$out"
out=$(q x.y.wild.example A)
expect_match "status: NXDOMAIN" "wildcard: a name below is blocked" "$out"
expect_match "$EDE" "wildcard: EDE" "$out"
out=$(q wild.example A)
echo "$out" | grep -q "EDE: 15" && not_ok "wildcard: the apex is blocked" ||
    ok "wildcard: the apex is not blocked"
out=$(q allowed.example A)
echo "$out" | grep -q "EDE: 15" && not_ok "allowlisted name blocked" ||
    ok "allowlisted name not blocked"
out=$(q +noedns blocked.example A)
expect_match "status: NXDOMAIN" "no EDNS: still blocked" "$out"
echo "$out" | grep -q "OPT PSEUDOSECTION" && not_ok "no EDNS: OPT added" ||
    ok "no EDNS: no OPT (so no EDE) in the reply"

use_action nodata
out=$(q blocked.example A)
expect_match "status: NOERROR" "nodata: NOERROR" "$out"
expect_match "ANSWER: 0," "nodata: no answer" "$out"
expect_match "$EDE" "nodata: EDE" "$out"

use_action refused
out=$(q blocked.example A)
expect_match "status: REFUSED" "refused: REFUSED" "$out"
expect_match "$EDE" "refused: EDE" "$out"

use_action sinkhole
out=$(q blocked.example A)
expect_match "blocked.example.[[:space:]]*60[[:space:]]*IN[[:space:]]*A[[:space:]]*192.0.2.123" \
    "sinkhole: A from policy.sinkhole-a" "$out"
expect_match "$EDE" "sinkhole: EDE" "$out"
expect_match "^2001:db8::123$" "sinkhole: AAAA from policy.sinkhole-aaaa" \
    "$(q +short blocked.example AAAA)"
out=$(q blocked.example TXT)
expect_match "ANSWER: 0," "sinkhole: other types get no data" "$out"

use_action drop
out=$(q +time=1 blocked.example A)
expect_match "timed out" "drop: no answer at all" "$out"
expect_match "^192.0.2.10$" "drop: others still answered" "$(q +short www.lab.test A)"

use_action log-only
out=$(q blocked.example A)
expect_match "status: NXDOMAIN" "log-only: the upstream's answer" "$out"
echo "$out" | grep -q "EDE: 15" && not_ok "log-only: EDE 15 given" ||
    ok "log-only: no EDE 15"
blocked=$(guard_get '["blocked"]')
expect_match "'log-only': [1-9]" "log-only hits counted" "$blocked"
expect_match "'drop': [1-9]" "drop hits counted" "$blocked"
[ "$(status_get 'd["blocklist"]["hits"]')" -ge 8 ] && ok "blocklist hits in status" ||
    not_ok "blocklist hits: $(status_get 'd["blocklist"]["hits"]')"
expect_match "^guard:" "resguardctl status: a guard line" "$(ctl status)"
use_action nxdomain

# -- bad input: never a crash, never a stuck worker
out=$(python3 - "$G" <<'EOF'
import socket, struct, sys
port = int(sys.argv[1])
def ask(pkt, want=True):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(1)
    s.sendto(pkt, ('127.0.0.1', port))
    try:
        r = s.recv(65535)
    except socket.timeout:
        return None
    return r
q = b'\x03www\x03lab\x04test\x00\x00\x01\x00\x01'
def rc(r):
    return 'none' if r is None else str(r[3] & 15)
print('garbage', rc(ask(b'\xff' * 3)))
print('response', rc(ask(struct.pack('>HHHHHH', 1, 0x8100, 1, 0, 0, 0) + q)))
print('qdcount2', rc(ask(struct.pack('>HHHHHH', 2, 0x0100, 2, 0, 0, 0) + q + q)))
print('qdcount0', rc(ask(struct.pack('>HHHHHH', 3, 0x0100, 0, 0, 0, 0))))
print('truncq', rc(ask(struct.pack('>HHHHHH', 4, 0x0100, 1, 0, 0, 0) + q[:7])))
print('opcode', rc(ask(struct.pack('>HHHHHH', 5, 0x2900, 1, 0, 0, 0) + q)))
print('class', rc(ask(struct.pack('>HHHHHH', 6, 0x0100, 1, 0, 0, 0) + q[:-2] + b'\x00\x2a')))
print('ancount', rc(ask(struct.pack('>HHHHHH', 7, 0x0100, 1, 1, 0, 0) + q)))
print('badopt', rc(ask(struct.pack('>HHHHHH', 8, 0x0100, 1, 0, 0, 1) + q + b'\x00\x00\x29\x04')))
print('ptrname', rc(ask(struct.pack('>HHHHHH', 9, 0x0100, 1, 0, 0, 0) + b'\xc0\x0c\x00\x01\x00\x01')))
EOF
)
expect_match "^garbage none$" "3 bytes: dropped" "$out"
expect_match "^response none$" "a response: dropped" "$out"
expect_match "^qdcount2 1$" "QDCOUNT 2: FORMERR" "$out"
expect_match "^qdcount0 1$" "QDCOUNT 0: FORMERR" "$out"
expect_match "^truncq 1$" "truncated question: FORMERR" "$out"
expect_match "^opcode 4$" "opcode UPDATE: NOTIMP" "$out"
expect_match "^class 5$" "unknown class: REFUSED" "$out"
expect_match "^ancount 1$" "a query with an answer section: FORMERR" "$out"
expect_match "^badopt 1$" "a cut OPT record: FORMERR" "$out"
expect_match "^ptrname 1$" "a compressed question name: FORMERR" "$out"

# A TCP client that sends a length and stalls is dropped (after
# tcp-idle-timeout-ms, 1 s here); the workers answer others meanwhile.
python3 - "$G" > "$T/stall.out" 2>&1 <<'EOF' &
import socket, sys, time
s = socket.create_connection(('127.0.0.1', int(sys.argv[1])))
s.sendall(b'\x00\x40\x12')
s.settimeout(15)
t = time.time()
try:
    r = s.recv(10)
    print('closed' if r == b'' else 'data')
except socket.timeout:
    print('still open')
except ConnectionResetError:
    print('closed')
EOF
STALL=$!
sleep 0.2
expect_match "^192.0.2.10$" "answers while a TCP client stalls (UDP)" "$(q +short www.lab.test A)"
expect_match "^192.0.2.10$" "answers while a TCP client stalls (TCP)" "$(q +tcp +short www.lab.test A)"
wait $STALL
expect_match "^closed$" "the stalled TCP client is dropped" "$(cat "$T/stall.out")"
# One that trickles a byte every 400 ms never completes a message: it is
# dropped too, the bytes do not keep it open.
out=$(python3 - "$G" <<'EOF'
import socket, sys, time
s = socket.create_connection(('127.0.0.1', int(sys.argv[1])))
s.settimeout(0.4)
msg = b'\x00\x40' + b'\x12' * 64
for i in range(len(msg)):
    try:
        s.sendall(msg[i:i + 1])
        r = s.recv(10)
        print('closed' if r == b'' else 'data')
        break
    except socket.timeout:
        continue
    except (ConnectionResetError, BrokenPipeError):
        print('closed')
        break
else:
    print('still open')
EOF
)
expect_match "^closed$" "a TCP client that trickles bytes is dropped" "$out"
out=$(python3 - "$G" <<'EOF'
import socket, sys
s = socket.create_connection(('127.0.0.1', int(sys.argv[1])))
s.settimeout(5)
s.sendall(b'\x00\x03abc')
try:
    print('closed' if s.recv(10) == b'' else 'data')
except ConnectionResetError:
    print('closed')
EOF
)
expect_match "^closed$" "a TCP message shorter than a header: connection closed" "$out"
kill -0 "$DAEMON_PID" && ok "still running after the bad input" || not_ok "daemon died"
expect_match "^192.0.2.10$" "and answering" "$(q +short www.lab.test A)"
[ "$(guard_get '["formerr"]')" -ge 6 ] && ok "FORMERR counted" ||
    not_ok "formerr: $(guard_get '["formerr"]')"
[ "$(guard_get '["dropped"]')" -ge 2 ] && ok "dropped counted" ||
    not_ok "dropped: $(guard_get '["dropped"]')"

# -- the primary freezes under a steady stream: no failed client query
cat > "$T/queries" <<'EOF'
www.lab.test A
www.lab.test AAAA
alias.lab.test A
who.lab.test TXT
nx.lab.test A
who.primary.lab TXT
EOF
# dnsperf_check FILE WHAT: 0 lost, no SERVFAIL, everything answered
dnsperf_check() {
	sent=$(sed -n 's/^ *Queries sent: *\([0-9]*\).*/\1/p' "$1")
	done_=$(sed -n 's/^ *Queries completed: *\([0-9]*\).*/\1/p' "$1")
	lost=$(sed -n 's/^ *Queries lost: *\([0-9]*\).*/\1/p' "$1")
	echo "# $2: sent ${sent:-?}, completed ${done_:-?}, lost ${lost:-?};" \
	    "$(grep 'Response codes' "$1" | sed 's/^ *//')"
	[ -n "$sent" ] && [ "$sent" -gt 0 ] && ok "$2: dnsperf ran" ||
	    { not_ok "$2: dnsperf did not run"; cat "$1"; return; }
	[ "$lost" = 0 ] && ok "$2: no query lost" || not_ok "$2: $lost lost"
	grep -q SERVFAIL "$1" && not_ok "$2: SERVFAIL answers: $(grep 'Response codes' "$1")" ||
	    ok "$2: no SERVFAIL"
}
dnsperf -s 127.0.0.1 -p "$G" -d "$T/queries" -l 15 -Q 2000 -c 4 -t 5 -q 20000 \
    > "$T/perf1.out" 2>&1 &
PERF=$!
sleep 5
"$LAB" freeze primary >/dev/null
wait $PERF
dnsperf_check "$T/perf1.out" "primary frozen at 5 s of 15 s at 2000 qps"
mode_is failover && ok "and resguardd failed over" ||
    not_ok "mode $(status_get 'd["mode"]') after the freeze"
[ "$(guard_get '["hedged"]')" -gt 0 ] && ok "hedged queries counted" ||
    not_ok "hedged: $(guard_get '["hedged"]')"
"$LAB" thaw primary >/dev/null
wait_until 30 "normal again after the thaw" -- mode_is normal

# -- the primary and the fallback freeze: the last resort (resguardd's own
# recursion from the lab's root) answers, still no failed query
dnsperf -s 127.0.0.1 -p "$G" -d "$T/queries" -l 10 -Q 1000 -c 4 -t 5 -q 10000 \
    > "$T/perf3.out" 2>&1 &
PERF=$!
sleep 3
"$LAB" freeze primary >/dev/null
"$LAB" freeze fallback >/dev/null
wait $PERF
dnsperf_check "$T/perf3.out" "primary and fallback frozen at 3 s of 10 s at 1000 qps"
wait_until 20 "last resort with primary and fallback frozen" -- mode_is last-resort
out=$(q . SOA)
expect_match "status: NOERROR" "last resort: answered by the recursion" "$out"
expect_match "ns.lab.test. hostmaster.lab.test." "last resort: the lab root's SOA" "$out"
"$LAB" thaw fallback >/dev/null
"$LAB" thaw primary >/dev/null
wait_until 40 "normal once both are back" -- mode_is normal

# -- serve-stale: with every pool down, the last good answer, TTL 30 and
# EDE 3 (Stale Answer); a name never answered gets SERVFAIL
# (A name under a top-level domain that no one asked the root about, so
# that the recursion has nothing cached to answer it with.)
unbound-control -c "$RG_LAB_PRIMARY_UNBOUND_CONF" local_data \
    'kept.stale-test. 300 IN TXT "kept"' >/dev/null
expect_match '^"kept"$' "serve-stale: the answer while the primary is up" \
    "$(q +short kept.stale-test TXT)"
"$LAB" freeze primary >/dev/null
"$LAB" freeze fallback >/dev/null
"$LAB" freeze root >/dev/null
wait_until 30 "critical when no pool can serve" -- sh -c \
    "$RESGUARDCTL -s $RG_LAB_CONTROL_SOCKET status >/dev/null; [ \$? = 2 ]"
out=$(q +time=6 kept.stale-test TXT)
expect_match "status: NOERROR" "serve-stale: answered with every pool down" "$out"
expect_match 'kept.stale-test.[[:space:]]*30[[:space:]]*IN[[:space:]]*TXT[[:space:]]*"kept"' \
    "serve-stale: the kept answer, TTL 30" "$out"
expect_match "EDE: 3 (Stale Answer)" "serve-stale: EDE 3" "$out"
out=$(q +time=6 never.stale-test TXT)
expect_match "status: SERVFAIL" "serve-stale: a name never answered gets SERVFAIL" "$out"
out=$(q +time=6 blocked.example A)
expect_match "$EDE" "serve-stale: blocked names still blocked" "$out"
[ "$(guard_get '["stale"]')" -ge 1 ] && ok "stale answers counted" ||
    not_ok "stale: $(guard_get '["stale"]')"
"$LAB" thaw root >/dev/null
"$LAB" thaw fallback >/dev/null
"$LAB" thaw primary >/dev/null
wait_until 40 "normal once everything is back" -- mode_is normal

# -- blocklist snapshots swapped under load: no failed query
cat >> "$T/queries" <<'EOF'
blocked.example A
x.wild.example A
flip.example A
EOF
dnsperf -s 127.0.0.1 -p "$G" -d "$T/queries" -l 8 -Q 1000 -c 4 -t 5 -q 10000 \
    > "$T/perf2.out" 2>&1 &
PERF=$!
i=0
while kill -0 $PERF 2>/dev/null; do
	i=$((i + 1))
	if [ $((i % 2)) = 0 ]; then
		printf 'blocked.example\n*.wild.example\nflip.example\n# %s\n' "$i" > "$FEED.new"
	else
		printf 'blocked.example\n*.wild.example\n# %s\n' "$i" > "$FEED.new"
	fi
	mv "$FEED.new" "$FEED"
	ctl feeds refresh >/dev/null 2>&1
	sleep 0.2
done
wait $PERF
dnsperf_check "$T/perf2.out" "$i blocklist swaps under 1000 qps"
ev=$(ctl --json events --limit 0)
[ "$(printf '%s\n' "$ev" | grep -c '"type": "feed-applied"')" -ge 3 ] &&
    ok "snapshots were published meanwhile" ||
    echo "# (feed-applied events: $(printf '%s\n' "$ev" | grep -c feed-applied))"
# -- one client's datagrams spread over both workers, not hashed onto one
wq0=$(guard_get '["worker_queries"]')
python3 - "$G" <<'EOF'
import socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
q = b'\x03www\x03lab\x04test\x00' + struct.pack('>HH', 1, 1)
for i in range(200):
    s.sendto(struct.pack('>HHHHHH', i, 0x0100, 1, 0, 0, 0) + q,
             ('127.0.0.1', int(sys.argv[1])))
    try:
        s.recv(512)
    except socket.timeout:
        pass
EOF
wq1=$(guard_get '["worker_queries"]')
out=$(python3 -c '
import json, sys
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
d = [y - x for x, y in zip(a, b)]
print("spread" if len(d) == 2 and sum(d) >= 200 and min(d) > 0 else "one",
      d)' "$wq0" "$wq1")
expect_match "^spread " \
    "200 queries from one socket reach both workers ($out)" "$out"

# The workers' loops were timed meanwhile: counts by step, each step a
# subset of the one before, on a CPU a subset of the turns counted.
st=$(ctl --json status | python3 -c '
import json, sys
g = json.load(sys.stdin)["guard"]; s = g["stalls"]; m = g["stall_max_ms"]
w = [s["over_%dms" % k] for k in (1, 5, 20)]
c = [s["cpu_over_%dms" % k] for k in (1, 5, 20)]
ok = all(isinstance(x, int) and x >= 0 for x in w + c) and \
    w[0] >= w[1] >= w[2] and c[0] >= c[1] >= c[2] and c[0] <= w[0] and \
    m["wall"] >= 0 and m["cpu"] >= 0 and (w[0] > 0) == (m["wall"] >= 1)
print("ok" if ok else "bad", w, c, m["wall"], m["cpu"])')
expect_match "^ok " "status: worker loop stalls counted by step ($st)" "$st"

# -- reload: listeners need a restart, access control does not
sed -e "s|\"127.0.0.1/32\"|\"127.0.0.0/8\"|" -e "s|threads = 2;|threads = 1;|" \
    "$CONF" > "$CONF.tmp" && mv "$CONF.tmp" "$CONF"
out=$(ctl reload 2>&1)
expect_match "server.threads changed" "reload warns that threads need a restart" "$out"
out=$(dig @127.0.0.2 -p "$G" -b 127.0.0.2 +time=2 +tries=1 www.lab.test A 2>&1)
expect_match "status: NOERROR" "access-control widened by reload" "$out"

daemon_stop && ok "SIGTERM: clean exit" || not_ok "SIGTERM: exit $?"

# -- a recursion answered after its query is over.  A fresh daemon, so
# that its recursion has learnt no denial of existence from the root (no
# NSEC record to answer a new name with): the primary and the fallback
# frozen, then the root, a TCP client asks a name under a top-level
# domain no one asked the root about (and not under test., which
# libunbound answers itself) and, once the query is in flight, resets
# the connection, which cancels the query; the main thread's recursion
# goes on until its time-out, and its failure, late, is dropped and
# counted; the recursion answers the next question.
daemon_start "$CONF"
wait_until 10 "restarted, normal" -- sh -c \
    "[ \"\$($RESGUARDCTL -s $RG_LAB_CONTROL_SOCKET status >/dev/null; echo \$?)\" = 0 ]"
"$LAB" freeze primary >/dev/null
"$LAB" freeze fallback >/dev/null
wait_until 20 "restarted, last resort" -- mode_is last-resort
late_before=$(guard_get '["recursion_late"]')
"$LAB" freeze root >/dev/null
rm -f "$T/reset"
python3 - "$G" "$T/reset" <<'EOF' &
import os, socket, struct, sys, time
s = socket.create_connection(('127.0.0.1', int(sys.argv[1])))
q = struct.pack('>HHHHHH', 7, 0x0100, 1, 0, 0, 0) + \
    b'\x04late\x0erecursion-test\x00' + struct.pack('>HH', 1, 1)
s.sendall(struct.pack('>H', len(q)) + q)
end = time.time() + 20
while not os.path.exists(sys.argv[2]) and time.time() < end:
    time.sleep(0.05)
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
s.close()
EOF
CLIENT=$!
in_flight() {
	[ "$(guard_get '["inflight"]')" -ge 1 ]
}
# Reset only once the query is with the recursion, not before it is read.
wait_until 10 "the query is in flight" -- in_flight
touch "$T/reset"
wait $CLIENT
late_more() {
	[ "$(guard_get '["recursion_late"]')" -gt "$late_before" ]
}
wait_until 15 "a late recursion failure is dropped and counted" -- late_more &&
    ok "a late recursion failure is dropped and counted"
"$LAB" thaw root >/dev/null
out=$(q . SOA)
expect_match "ns.lab.test. hostmaster.lab.test." \
    "the recursion answers after the late failure" "$out"
"$LAB" thaw fallback >/dev/null
"$LAB" thaw primary >/dev/null
daemon_stop && ok "SIGTERM after the late failure: clean exit" ||
    not_ok "SIGTERM: exit $?"

# threads = 0: one worker per CPU the agent may run on, not per CPU of the
# host.  The shell's affinity (one CPU) is the daemon's.
write_conf nxdomain
sed -i "s|threads = 2;|threads = 0;|" "$CONF"
cpus=$(taskset -p $$ | sed 's/.*: //')
if taskset -p -c 0 $$ >/dev/null 2>&1; then
	daemon_start "$CONF"
	taskset -p "$cpus" $$ >/dev/null 2>&1
	expect_match '^1$' "threads = 0 under an affinity of one CPU: one worker" \
	    "$(guard_get '["workers"]')"
	daemon_stop && ok "stopped" || not_ok "stop failed"
else
	echo "# taskset cannot set this shell's affinity: not checked"
fi
# server.socket-affinity: each worker on a CPU of its own, and a UDP query
# to the worker of the CPU that received it; on loopback that is the
# sender's CPU, so a client kept on one CPU reaches one worker only.
if [ "$(nproc)" -ge 2 ]; then
	write_conf nxdomain
	sed -i "s|^\([[:space:]]*\)threads = 2;|&\\
\1socket-affinity = true;|" "$CONF"
	daemon_start "$CONF"
	wcpu=$(guard_get '["worker_cpus"]')
	out=$(python3 -c '
import json, os, sys
c = json.loads(sys.argv[1])
ok = len(c) == 2 and all(isinstance(x, int) for x in c) and \
    c[0] != c[1] and set(c) <= os.sched_getaffinity(0)
print("placed" if ok else "not placed", c)' "$wcpu")
	expect_match "^placed " "socket-affinity: two workers on two CPUs ($out)" "$out"
	# Threads kept on exactly one CPU: one for each worker's CPU.
	pinned=$(for f in /proc/$DAEMON_PID/task/*/status; do
		awk '/^Cpus_allowed_list:/ && $2 ~ /^[0-9]+$/ { print $2 }' "$f"
	done | sort -n | tr '\n' ' ' | sed 's/ $//')
	want=$(python3 -c 'import json, sys
print(" ".join(str(x) for x in sorted(json.loads(sys.argv[1]))))' "$wcpu")
	[ "$pinned" = "$want" ] &&
	    ok "socket-affinity: the worker threads run on CPUs $pinned only" ||
	    not_ok "socket-affinity: threads on one CPU: '$pinned', want '$want'"
	expect_match "(2 workers on CPUs [0-9]*, [0-9]*)" \
	    "socket-affinity: status names the CPUs" "$(ctl status)"
	for k in 0 1; do
		wq0=$(guard_get '["worker_queries"]')
		out=$(python3 - "$G" "$wcpu" "$k" <<'EOF'
import json, os, socket, struct, sys
cpu = json.loads(sys.argv[2])[int(sys.argv[3])]
os.sched_setaffinity(0, {cpu})
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
q = b'\x03www\x03lab\x04test\x00' + struct.pack('>HH', 1, 1)
got = 0
for i in range(40):
    s.sendto(struct.pack('>HHHHHH', i, 0x0100, 1, 0, 0, 0) + q,
             ('127.0.0.1', int(sys.argv[1])))
    try:
        s.recv(512)
        got += 1
    except socket.timeout:
        pass
print(got)
EOF
)
		wq1=$(guard_get '["worker_queries"]')
		d=$(python3 -c 'import json, sys
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(" ".join(str(y - x) for x, y in zip(a, b)))' "$wq0" "$wq1")
		want=$([ $k -eq 0 ] && echo "40 0" || echo "0 40")
		[ "$d" = "$want" ] && [ "$out" = 40 ] &&
		    ok "socket-affinity: 40 queries sent from worker $k's CPU reach worker $k only, all answered" ||
		    not_ok "socket-affinity: from worker $k's CPU: per worker '$d' (want '$want'), $out answered"
	done
	# Every query from one CPU, as from a network card with one receive
	# queue: within a check (10 s) of 10,000 queries or more, the log
	# says so, once, and nothing changes.
	printf 'www.lab.test A\n' > "$T/one.txt"
	c0=$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])[0])' "$wcpu")
	taskset -c "$c0" dnsperf -s 127.0.0.1 -p "$G" -d "$T/one.txt" -l 12 \
	    -Q 2000 > "$T/one.out" 2>&1
	expect_match "Queries completed: *2[0-9]\{4\} " \
	    "dnsperf sent its queries from CPU $c0" "$(cat "$T/one.out")"
	warned() {
		grep -q "server.socket-affinity: worker 0 took" "$T/daemon.log"
	}
	wait_until 15 "socket-affinity: the log says when one CPU receives every query" -- warned &&
	    ok "socket-affinity: the log says when one CPU receives every query"
	sleep 11
	n=$(grep -c "server.socket-affinity: worker 0 took" "$T/daemon.log")
	[ "$n" -eq 1 ] && ok "... once ($n line after another check)" ||
	    not_ok "... said $n times"
	still=$(for f in /proc/$DAEMON_PID/task/*/status; do
		awk '/^Cpus_allowed_list:/ && $2 ~ /^[0-9]+$/ { print $2 }' "$f"
	done | sort -n | tr '\n' ' ' | sed 's/ $//')
	[ "$still" = "$pinned" ] &&
	    ok "... and the workers stay on CPUs $still" ||
	    not_ok "... the workers moved: on one CPU: '$still', before '$pinned'"
	sed -i "/socket-affinity = true;/d" "$CONF"
	out=$(ctl reload 2>&1)
	expect_match "server.socket-affinity changed" \
	    "reload warns that socket-affinity needs a restart" "$out"
	daemon_stop && ok "stopped" || not_ok "stop failed"
else
	echo "# one CPU: server.socket-affinity not checked"
fi
# One CPU only: nothing to place, and the workers run as before.
write_conf nxdomain
sed -i "s|^\([[:space:]]*\)threads = 2;|&\\
\1socket-affinity = true;|" "$CONF"
if taskset -p -c 0 $$ >/dev/null 2>&1; then
	daemon_start "$CONF"
	taskset -p "$cpus" $$ >/dev/null 2>&1
	expect_match '^\[None, None\]$' \
	    "socket-affinity on one CPU: no worker placed" "$(guard_get '["worker_cpus"]')"
	expect_match "server.socket-affinity: 2 worker(s) on 1 CPU(s): nothing to place" \
	    "socket-affinity on one CPU: the log says so" "$(cat "$T/daemon.log")"
	expect_match "^192.0.2.10$" "socket-affinity on one CPU: answered" \
	    "$(q +short www.lab.test A)"
	daemon_stop && ok "stopped" || not_ok "stop failed"
else
	echo "# taskset cannot set this shell's affinity: one CPU not checked"
fi
sed -e 's|socket-affinity = true;|socket-affinity = "yes";|' "$CONF" > "$T/bad.conf"
expect_exit 1 "resguardd -t: socket-affinity must be a boolean" -- \
    "$RESGUARDD" -t -c "$T/bad.conf"
finish
