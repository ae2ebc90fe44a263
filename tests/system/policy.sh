#!/bin/sh
# policy.sh -- guard mode enforcing a response policy zone read from a
# file:// feed of format "rpz": exact and wildcard names, a passthru
# exception under a blocked wildcard, local data (A, AAAA, CNAME),
# rpz-drop., "CNAME *." (no data), and rpz-ip triggers on the addresses
# in the lab's answers (at the end of a CNAME chain too), fresh and served
# stale; each asserted with dig (rcode, answers, EDE 15 naming the feed)
# and in the guard's counters; the hits reported as sightings through a
# syslog reporter to a local socket.
# Lab settings: interval-ms 500, timeout-ms 400, fall 3, rise 2.

# Ports: the lab and the guard from RG_TEST_PORT_BASE + 4300.
RG_TEST_PORT_BASE=$(( ${RG_TEST_PORT_BASE:-16300} + 4300 ))
. "$(dirname "$0")/lib.sh"

export RG_PLUGIN_DIR=${RG_PLUGIN_DIR:-$BUILDDIR/plugins}
if [ ! -f "$RG_PLUGIN_DIR/feed-rpz/.libs/feed-rpz.so" ] &&
    [ ! -f "$RG_PLUGIN_DIR/feed-rpz.so" ]; then
	echo "SKIP: feed-rpz plugin not built in $RG_PLUGIN_DIR"
	exit 77
fi

lab_start
G=$RG_LAB_PORT_BASE
CONF=$T/resguard.conf
ZONE=$T/policy.rpz
FEED=rpzhub
EDE="EDE: 15 (Blocked): (resguard: blocked by feed \"$FEED\")"

# Names the primary Unbound answers (its local zone primary.lab.), with
# the addresses the rpz-ip triggers below are about.
for rr in \
    'blocked.primary.lab. 300 IN A 192.0.2.31' \
    'x.wild.primary.lab. 300 IN A 192.0.2.32' \
    'ok.wild.primary.lab. 300 IN A 192.0.2.33' \
    'ipnx.primary.lab. 300 IN A 198.51.100.1' \
    'iplocal.primary.lab. 300 IN A 198.51.100.77' \
    'ippass.primary.lab. 300 IN A 198.51.100.99' \
    'ipdrop.primary.lab. 300 IN A 203.0.113.5' \
    'ipnodata.primary.lab. 300 IN A 203.0.113.9' \
    'ipsink.primary.lab. 300 IN AAAA 2001:db8:bad::1' \
    'exempt.primary.lab. 300 IN A 198.51.100.1' \
    'kept.primary.lab. 300 IN A 192.0.2.200' \
    'kept2.primary.lab. 300 IN A 192.0.2.201'; do
	unbound-control -c "$RG_LAB_PRIMARY_UNBOUND_CONF" local_data "$rr" \
	    >/dev/null || { echo "cannot add local data: $rr"; exit 99; }
done

# write_zone SERIAL [EXTRA-RECORD...]: the policy zone
write_zone() {
	serial=$1
	shift
	{
		cat <<EOF
\$ORIGIN policy.rpz.
\$TTL 60
@	SOA	ns.rpz.test. hostmaster.rpz.test. $serial 3600 600 86400 60
@	NS	ns.rpz.test.
; names
blocked.primary.lab	CNAME	.
*.wild.primary.lab	CNAME	.
ok.wild.primary.lab	CNAME	rpz-passthru.
dropped.primary.lab	CNAME	rpz-drop.
nodata.primary.lab	CNAME	*.
local.example		A	192.0.2.7
local.example		A	192.0.2.8
local.example		AAAA	2001:db8::7
walled.example		CNAME	garden.lab.test.
exempt.primary.lab	CNAME	rpz-passthru.
; answer addresses
24.0.100.51.198.rpz-ip		CNAME	.
32.77.100.51.198.rpz-ip		A	192.0.2.250
32.99.100.51.198.rpz-ip		CNAME	rpz-passthru.
32.5.113.0.203.rpz-ip		CNAME	rpz-drop.
32.9.113.0.203.rpz-ip		CNAME	*.
48.zz.bad.db8.2001.rpz-ip	AAAA	2001:db8::beef
128.10.zz.db8.2001.rpz-ip	CNAME	.
EOF
		for r in "$@"; do
			echo "$r"
		done
	} > "$ZONE.new"
	mv "$ZONE.new" "$ZONE"
}
write_zone 1

sed -e "s|^\([[:space:]]*\)listen = \[.*\];|\1listen = [ \"127.0.0.1@$G\" ];\\
\1access-control = [ \"127.0.0.0/8\" ];\\
\1threads = 2;|" "$RG_LAB_CONF" > "$CONF"
cat >> "$CONF" <<EOF
feeds = ( { name = "$FEED"; format = "rpz";
	    source = "file://$ZONE"; refresh-s = 10; } );
policy: { action = "nxdomain";
	  sinkhole-a = "192.0.2.123"; sinkhole-aaaa = "2001:db8::123"; };
report = ( { name = "siem"; type = "syslog"; socket = "$T/syslog.sock";
	     interval-s = 1; } );
EOF
python3 "$SRCDIR/tests/system/report-fixture.py" syslog --unix "$T/syslog.sock" \
    --out "$T/syslog.out" &
SYSLOG_PID=$!
wait_until 10 "the syslog socket listens" -- test -f "$T/syslog.sock.ready"

# q ARGS...: dig at the guard, one try
q() {
	dig @127.0.0.1 -p "$G" +time=2 +tries=1 "$@" 2>&1
}

guard_get() {
	status_get "d[\"guard\"]$1"
}

# entries_are OP N: the feed's rule count compares to N with test's OP
entries_are() {
	[ "$(status_get 'd["feeds"][0]["entries"]')" "$1" "$2" ]
}

no_ede() {
	if printf '%s\n' "$2" | grep -q "EDE: 15"; then
		not_ok "$1: EDE 15 given"
		printf '%s\n' "$2" | sed 's/^/     /'
	else
		ok "$1"
	fi
}

expect_exit 0 "resguardd -t on a configuration with an rpz feed" -- \
    "$RESGUARDD" -t -c "$CONF"
daemon_start "$CONF"
wait_until 10 "normal with every upstream up" -- sh -c \
    "[ \"\$($RESGUARDCTL -s $RG_LAB_CONTROL_SOCKET status >/dev/null; echo \$?)\" = 0 ]"
wait_until 15 "the policy zone is loaded" -- sh -c \
    "$RESGUARDCTL -s $RG_LAB_CONTROL_SOCKET check blocked.primary.lab | grep -q nxdomain"

# -- names
expect_match "^192.0.2.10$" "an unlisted name is answered" "$(q +short www.lab.test A)"
out=$(q blocked.primary.lab A)
expect_match "status: NXDOMAIN" "exact name: NXDOMAIN" "$out"
expect_match "$EDE" "exact name: EDE 15 names the feed" "$out"
out=$(q x.wild.primary.lab A)
expect_match "status: NXDOMAIN" "wildcard: a name below is blocked" "$out"
expect_match "$EDE" "wildcard: EDE 15" "$out"
out=$(q ok.wild.primary.lab A)
expect_match "status: NOERROR" "passthru under a blocked wildcard: answered" "$out"
expect_match "ok.wild.primary.lab.[[:space:]]*[0-9]*[[:space:]]*IN[[:space:]]*A[[:space:]]*192.0.2.33" \
    "passthru: the upstream's answer" "$out"
no_ede "passthru: no EDE 15" "$out"
out=$(q +time=1 dropped.primary.lab A)
expect_match "timed out" "rpz-drop.: no answer at all" "$out"
out=$(q nodata.primary.lab A)
expect_match "status: NOERROR" "CNAME *.: NOERROR" "$out"
expect_match "ANSWER: 0," "CNAME *.: no data" "$out"
expect_match "$EDE" "CNAME *.: EDE 15" "$out"

# -- local data
out=$(q local.example A)
expect_match "status: NOERROR" "local data: NOERROR" "$out"
expect_match "ANSWER: 2," "local data: both A records" "$out"
expect_match "local.example.[[:space:]]*60[[:space:]]*IN[[:space:]]*A[[:space:]]*192.0.2.7" \
    "local data: first A, TTL 60" "$out"
expect_match "local.example.[[:space:]]*60[[:space:]]*IN[[:space:]]*A[[:space:]]*192.0.2.8" \
    "local data: second A" "$out"
expect_match "$EDE" "local data: EDE 15" "$out"
echo "$out" | grep -q "flags:.* aa" && not_ok "local data: AA set" ||
    ok "local data: AA not set"
out=$(q local.example AAAA)
expect_match "ANSWER: 1," "local data AAAA: one record" "$out"
expect_match "local.example.[[:space:]]*60[[:space:]]*IN[[:space:]]*AAAA[[:space:]]*2001:db8::7" \
    "local data AAAA: the address" "$out"
out=$(q local.example MX)
expect_match "status: NOERROR" "local data, other type: NOERROR" "$out"
expect_match "ANSWER: 0," "local data, other type: no data" "$out"
out=$(q walled.example TXT)
expect_match "walled.example.[[:space:]]*60[[:space:]]*IN[[:space:]]*CNAME[[:space:]]*garden.lab.test." \
    "local CNAME: answers any type with the CNAME" "$out"
expect_match "ANSWER: 1," "local CNAME: its target is not chased" "$out"
expect_match "$EDE" "local CNAME: EDE 15" "$out"
out=$(q +tcp local.example A)
expect_match "ANSWER: 2," "local data over TCP" "$out"

# -- response-IP triggers, on the addresses of the answers
out=$(q ipnx.primary.lab A)
expect_match "status: NXDOMAIN" "rpz-ip /24: NXDOMAIN for an answer in it" "$out"
expect_match "$EDE" "rpz-ip: EDE 15 names the feed" "$out"
echo "$out" | grep -q "198.51.100.1" && not_ok "rpz-ip: the address leaked" ||
    ok "rpz-ip: the blocked address is not in the reply"
out=$(q iplocal.primary.lab A)
expect_match "iplocal.primary.lab.[[:space:]]*60[[:space:]]*IN[[:space:]]*A[[:space:]]*192.0.2.250" \
    "rpz-ip /32 with local data: the longer prefix wins, local answer" "$out"
expect_match "ANSWER: 1," "rpz-ip local data: only the local record" "$out"
out=$(q ippass.primary.lab A)
expect_match "ippass.primary.lab.[[:space:]]*300[[:space:]]*IN[[:space:]]*A[[:space:]]*198.51.100.99" \
    "rpz-ip passthru /32 inside a blocked /24: answer untouched" "$out"
no_ede "rpz-ip passthru: no EDE 15" "$out"
out=$(q +time=1 ipdrop.primary.lab A)
expect_match "timed out" "rpz-ip rpz-drop.: no answer" "$out"
out=$(q ipnodata.primary.lab A)
expect_match "status: NOERROR" "rpz-ip CNAME *.: NOERROR" "$out"
expect_match "ANSWER: 0," "rpz-ip CNAME *.: no data" "$out"
out=$(q ipsink.primary.lab AAAA)
expect_match "ipsink.primary.lab.[[:space:]]*60[[:space:]]*IN[[:space:]]*AAAA[[:space:]]*2001:db8::beef" \
    "rpz-ip on an AAAA (/48): local AAAA" "$out"
out=$(q exempt.primary.lab A)
expect_match "198.51.100.1$" "a passthru name: its answer is not judged by rpz-ip" "$out"
no_ede "passthru name: no EDE 15" "$out"
# The lab root's own answers: www.lab.test AAAA is 2001:db8::10.
out=$(q www.lab.test AAAA)
expect_match "status: NXDOMAIN" "rpz-ip /128: www.lab.test AAAA blocked" "$out"
expect_match "^192.0.2.10$" "its A answer untouched" "$(q +short www.lab.test A)"
out=$(q alias.lab.test AAAA)
expect_match "status: NXDOMAIN" "rpz-ip at the end of a CNAME chain: alias.lab.test AAAA" "$out"
expect_match "$EDE" "rpz-ip at the end of a CNAME chain: EDE 15" "$out"
out=$(q +tcp ipnx.primary.lab A)
expect_match "status: NXDOMAIN" "rpz-ip over TCP" "$out"

# -- counters
blocked=$(guard_get '["blocked"]')
expect_match "'local': [1-9]" "local data hits counted" "$blocked"
expect_match "'drop': [1-9]" "drop hits counted" "$blocked"
expect_match "'nodata': [1-9]" "nodata hits counted" "$blocked"
echo "$blocked" | grep -q "passthru" && not_ok "passthru counted as blocked: $blocked" ||
    ok "passthru not among the blocked"
[ "$(guard_get '["passthru"]')" -ge 3 ] && ok "passthru exceptions counted" ||
    not_ok "passthru: $(guard_get '["passthru"]')"
ipb=$(guard_get '["ip_blocked"]')
expect_match "'nxdomain': [1-9]" "response-IP NXDOMAIN counted" "$ipb"
expect_match "'local': [1-9]" "response-IP local data counted" "$ipb"
expect_match "'drop': [1-9]" "response-IP drop counted" "$ipb"
[ "$(status_get 'd["blocklist"]["hits"]')" -ge 15 ] && ok "blocklist hits in status" ||
    not_ok "blocklist hits: $(status_get 'd["blocklist"]["hits"]')"
expect_match "^guard:.* blocked" "resguardctl status: the guard line" "$(ctl status)"

# -- a new snapshot judges the answers anew, also those served stale
expect_match "^192.0.2.200$" "kept: answered while no rule matches" \
    "$(q +short kept.primary.lab A)"
expect_match "^192.0.2.201$" "kept2: answered" "$(q +short kept2.primary.lab A)"
entries=$(status_get 'd["feeds"][0]["entries"]')
write_zone 2 "32.200.2.0.192.rpz-ip	CNAME	."
ctl feeds refresh >/dev/null 2>&1
wait_until 15 "the zone with a new rpz-ip rule is applied" -- \
    entries_are -gt "$entries"
out=$(q kept.primary.lab A)
expect_match "status: NXDOMAIN" "kept: the new rule applies to the fresh answer" "$out"
"$LAB" freeze primary >/dev/null
"$LAB" freeze fallback >/dev/null
"$LAB" freeze root >/dev/null
wait_until 30 "critical when no pool can serve" -- sh -c \
    "$RESGUARDCTL -s $RG_LAB_CONTROL_SOCKET status >/dev/null; [ \$? = 2 ]"
out=$(q +time=6 kept2.primary.lab A)
expect_match "EDE: 3 (Stale Answer)" "kept2: served stale" "$out"
expect_match "192.0.2.201" "kept2: the kept address" "$out"
out=$(q +time=6 kept.primary.lab A)
expect_match "status: NXDOMAIN" "stale answer judged by the rpz-ip rule" "$out"
expect_match "$EDE" "stale answer blocked: EDE 15" "$out"
echo "$out" | grep -q "192.0.2.200" && not_ok "stale blocked answer leaked" ||
    ok "stale answer blocked: the address is not in the reply"
# The rule goes: the kept answer, untouched by the block, is served again.
entries=$(status_get 'd["feeds"][0]["entries"]')
write_zone 3
ctl feeds refresh >/dev/null 2>&1
wait_until 15 "the zone without that rule is applied" -- \
    entries_are -lt "$entries"
out=$(q +time=6 kept.primary.lab A)
expect_match "EDE: 3 (Stale Answer)" "rule removed: kept answer served stale" "$out"
expect_match "kept.primary.lab.[[:space:]]*30[[:space:]]*IN[[:space:]]*A[[:space:]]*192.0.2.200" \
    "rule removed: the cache kept the upstream's answer" "$out"
"$LAB" thaw root >/dev/null
"$LAB" thaw fallback >/dev/null
"$LAB" thaw primary >/dev/null
wait_until 40 "normal once everything is back" -- mode_is normal

kill -0 "$DAEMON_PID" && ok "still running" || not_ok "daemon died"
# The hits went out as sightings, each with its rule, feed and indicator.
wait_until 10 "sightings reported" -- grep -q '"kind": "sighting"' "$T/syslog.out"
sight=$(grep '"kind": "sighting"' "$T/syslog.out")
expect_match 'blocked.primary.lab' "a sighting names the blocked rule" "$sight"
expect_match "\"feeds\": \[\"$FEED\"\]" "a sighting names the feed" "$sight"
wait_until 10 "hits counted by feed" -- sh -c \
    "$RESGUARDCTL -s $RG_LAB_CONTROL_SOCKET --json status | grep -q '\"$FEED\": [1-9]'"
if grep -q '"ok": false' "$T/syslog.out"; then
	not_ok "every syslog line is RFC 5424: $(grep -m1 '"ok": false' "$T/syslog.out")"
else
	ok "every syslog line is RFC 5424"
fi
daemon_stop && ok "SIGTERM: clean exit" || not_ok "SIGTERM: exit $?"
kill "$SYSLOG_PID" 2>/dev/null
wait "$SYSLOG_PID" 2>/dev/null
finish
