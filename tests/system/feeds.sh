#!/bin/sh
# feeds.sh -- domains feeds from files into the live blocklist, as
# "resguardctl check" and "feeds" see it: exact and wildcard rules, hosts
# lines, a name in Unicode (its punycode blocks), the allowlist, a bad new
# version rejected while the old rules stay, a changed file picked up, a
# feed removed by a reload, a STIX 2.1 bundle with its indicator ids and
# TLP markings, a source that is gone, a source through a proxy.
# The lab's primary Unbound is the upstream.

# transport.sh uses the first hundred ports from RG_TEST_PORT_BASE.
RG_TEST_PORT_BASE=$(( ${RG_TEST_PORT_BASE:-16300} + 1100 ))
. "$(dirname "$0")/lib.sh"

lab_start
export RG_LAB_CONTROL_SOCKET=$T/control.sock
CONF=$T/resguard.conf

write_conf() {
	cat > "$CONF" <<EOF
server: { control-socket = "$T/control.sock"; state-dir = "$T/state"; };
pools = ( { name = "primary"; role = "primary";
	upstreams = ( { name = "lab-primary"; address = "127.0.0.1";
	    port = $RG_LAB_PRIMARY_PORT; } ); } );
health: { interval-ms = 1000; };
policy: { allowlist = [ "good.ads.example" ]; };
feeds = ( $1 );
EOF
}

# feed_field NAME KEY: KEY of feed NAME in "feeds --json" (a list as its
# items, "-" when empty)
feed_field() {
	ctl --json feeds | python3 -c "
import json, sys
v = [f for f in json.load(sys.stdin)['feeds'] if f['name'] == sys.argv[1]][0][sys.argv[2]]
print((' '.join(v) or '-') if isinstance(v, list) else v)" "$1" "$2"
}
# feed_is NAME KEY VALUE: true when KEY of feed NAME prints as VALUE
feed_is() {
	[ "$(feed_field "$1" "$2")" = "$3" ]
}

cat > "$T/hub.txt" <<'EOF'
# a hub's list
ads.example
*.tracker.example      # subdomains only
0.0.0.0 hosts-style.example other.example
127.0.0.1 localhost
not a name at all!
EOF
# The last name in Unicode (bücher): the rule is its punycode.
printf 'second.example\nads.example\nb\303\274cher.example\n' > "$T/second.txt"
cat > "$T/bundle.json" <<'EOF'
{ "type": "bundle", "id": "bundle--5d0092c5-5f74-4287-9642-33f4c354e56d",
  "objects": [
    { "type": "indicator", "spec_version": "2.1",
      "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
      "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z",
      "valid_from": "2026-01-01T00:00:00Z", "pattern_type": "stix",
      "pattern": "[domain-name:value = 'stix-bad.example']",
      "object_marking_refs": [ "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82" ] },
    { "type": "indicator", "spec_version": "2.1",
      "id": "indicator--0b2c6d4e-1a43-4a5e-9d8c-7b2f3e1c0a11",
      "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z",
      "valid_from": "2026-01-01T00:00:00Z", "pattern_type": "stix",
      "pattern": "[domain-name:value MATCHES '^evil']" } ] }
EOF
write_conf "{ name = \"hub\"; format = \"domains\"; source = \"file://$T/hub.txt\"; refresh-s = 10; },
    { name = \"second\"; format = \"domains\"; source = \"file://$T/second.txt\"; },
    { name = \"stix\"; format = \"stix2\"; source = \"file://$T/bundle.json\"; default-lifetime-s = 0; },
    { name = \"gone\"; format = \"stix2\"; source = \"file://$T/no-such-bundle.json\"; }"
expect_exit 0 "configuration with feeds is valid" -- "$RESGUARDD" -t -c "$CONF"
# No server.listen with the builtin backend: valid, but nobody is served.
expect_match 'warning: backend "builtin" (guard mode) without server.listen' \
    "-t says that guard mode without listeners serves nobody" \
    "$("$RESGUARDD" -t -c "$CONF" 2>&1)"
daemon_start "$CONF"
expect_match 'guard: backend "builtin" (guard mode) without server.listen' \
    "so does the log at start" "$(cat "$T/daemon.log")"
wait_until 10 "feeds loaded" -- sh -c \
    "$RESGUARDCTL -s $T/control.sock --json feeds | grep -q '\"state\": \"ok\"'"

check_json() {
	ctl --json check "$1" 2>&1
}
out=$(check_json ads.example)
expect_match '"blocked": true' "exact rule blocks" "$out"
expect_match '"feed": "hub"' "earlier feed wins for a name in two feeds" "$out"
expect_match '"indicator": "line 2"' "indicator is the line" "$out"
expect_match '"action": "nxdomain"' "default action" "$out"
expect_match '"blocked": false' "exact rule does not cover subdomains" \
    "$(check_json www.ads.example)"
out=$(check_json a.b.TRACKER.example)
expect_match '"blocked": true' "wildcard covers subdomains, any case" "$out"
expect_match '"rule": "\*.tracker.example' "wildcard rule named" "$out"
expect_match '"blocked": false' "wildcard does not cover the name itself" \
    "$(check_json tracker.example)"
expect_match '"blocked": true' "hosts line, first name" "$(check_json hosts-style.example)"
expect_match '"blocked": true' "hosts line, second name" "$(check_json other.example)"
expect_match '"blocked": false' "hosts-file localhost skipped" "$(check_json localhost)"
expect_match '"feed": "second"' "second feed" "$(check_json second.example)"
out=$(check_json xn--bcher-kva.example)
expect_match '"rule": "xn--bcher-kva.example"' \
    "a name in Unicode in a list blocks as its punycode" "$out"
expect_match '"indicator": "line 3"' "and names its line" "$out"
printf '%s\n' "$(ctl check ads.example)" | grep -q "hub" &&
    ok "check in text names the feed" || not_ok "check text"
expect_exit 1 "check of an invalid name" -- ctl check "bad..name"
out=$(ctl --json feeds)
expect_match '"skipped_lines": 1' "the bad line is counted" "$out"
expect_match '"unsupported": 1' "the MATCHES indicator is counted as unsupported" "$out"
out=$(check_json stix-bad.example)
expect_match '"blocked": true' "STIX indicator blocks" "$out"
expect_match '"indicator": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"' \
    "check names the STIX indicator" "$out"
expect_match '"tlp": "amber"' "check gives the TLP marking" "$out"
out=$(ctl --json status)
expect_match '"entries": 7' "status: blocklist entries (a name in two feeds counts once)" "$out"
wait_until 10 "primary up" -- sh -c \
    "$RESGUARDCTL -s $T/control.sock status | grep -q 'lab-primary.* up '"
expect_exit 1 "status warns about the feed whose source is gone" -- ctl status
expect_match 'feed "gone" is failing' "status names the feed" "$(ctl status)"

# A bad new version is rejected; the old rules stay.
printf 'this is not\na list of names !!\n' > "$T/hub.txt"
expect_exit 0 "feeds refresh hub" -- ctl feeds refresh hub
wait_until 10 "bad version rejected" -- sh -c \
    "$RESGUARDCTL -s $T/control.sock --json events --limit 0 | grep -q feed-rejected"
expect_match '"blocked": true' "old rules stay after a bad version" "$(check_json ads.example)"
expect_match '"state": "failing"' "feed is failing" "$(ctl --json feeds)"
expect_exit 1 "feeds refresh of an unknown feed" -- ctl feeds refresh nosuch

# A good new version is picked up by itself (the file changed).
printf 'fresh.example\n' > "$T/hub.txt.new"
mv "$T/hub.txt.new" "$T/hub.txt"
wait_until 20 "changed file picked up" -- sh -c \
    "$RESGUARDCTL -s $T/control.sock --json check fresh.example | grep -q '\"blocked\": true'"
expect_match '"feed": "second"' "ads.example now only from the second feed" \
    "$(check_json ads.example)"

# Good versions are kept in the state directory: a restart with the source
# gone still starts with its rules.
daemon_stop && ok "stopped" || not_ok "stop failed"
[ -s "$T/state/feeds/hub.feed" ] && ok "kept copy written" || not_ok "no kept copy"
mv "$T/hub.txt" "$T/hub.txt.away"
daemon_start "$CONF"
wait_until 10 "restart: hub rules from the kept copy" -- sh -c \
    "$RESGUARDCTL -s $T/control.sock --json check fresh.example | grep -q '\"blocked\": true'"
wait_until 10 "restart: hub failing, source gone" -- sh -c \
    "$RESGUARDCTL -s $T/control.sock --json feeds | grep -q '\"state\": \"failing\"'"
mv "$T/hub.txt.away" "$T/hub.txt"
expect_exit 0 "feeds refresh after the source is back" -- ctl feeds refresh hub

# The allowlist wins over every feed.
printf 'good.ads.example\n*.ads.example\n' > "$T/second.txt"
ctl feeds refresh second >/dev/null
wait_until 10 "second feed refreshed" -- sh -c \
    "$RESGUARDCTL -s $T/control.sock --json check x.ads.example | grep -q '\"blocked\": true'"
out=$(check_json www.good.ads.example)
expect_match '"allowed": true' "allowlist covers names below it" "$out"

# A reload that removes a feed removes its rules.
write_conf "{ name = \"second\"; format = \"domains\"; source = \"file://$T/second.txt\"; }"
expect_exit 0 "reload without the hub feed" -- ctl reload
wait_until 10 "hub rules gone" -- sh -c \
    "$RESGUARDCTL -s $T/control.sock --json check fresh.example | grep -q '\"blocked\": false'"
expect_match '"entries": 2' "status: the blocklist shrank" "$(ctl --json status)"
wait_until 10 "status all well without the failing feed" -- ctl status

# A hub pushes an RPZ zone to the push endpoint; it is checked and applied
# like a fetched one.  Port: the lab's ports are base+1..+9.
daemon_stop && ok "stopped for the push test" || not_ok "stop failed"
HTTP_PORT=$((RG_TEST_PORT_BASE + 20))
echo "push-token-0123456789abcdef" > "$T/push.token"
write_conf "{ name = \"pushed\"; format = \"rpz\"; source = \"push\"; zone = \"push.rpz\"; }"
printf 'http: { listen = [ "127.0.0.1@%s" ]; push-token-file = "%s"; };\n' \
    "$HTTP_PORT" "$T/push.token" >> "$CONF"
# A reporter whose receiver is not there: reports wait in the spool.
printf 'report = ( { name = "hub"; type = "http"; url = "http://127.0.0.1:%s/report"; timeout-ms = 500; } );\n' \
    "$((RG_TEST_PORT_BASE + 21))" >> "$CONF"
daemon_start "$CONF"
push() {
	curl -s -o "$T/push.reply" -w '%{http_code}' -H "Authorization: Bearer $1" \
	    --data-binary @"$2" "http://127.0.0.1:$HTTP_PORT/push/feeds/$3"
}
cat > "$T/zone.rpz" <<'EOF'
$TTL 300
@ SOA localhost. hostmaster.localhost. 1 3600 600 86400 300
  NS localhost.
pushed-bad.example CNAME .
*.pushed-bad.example CNAME .
ok.pushed-bad.example CNAME rpz-passthru.
EOF
expect_match '^401$' "push with a wrong token refused" "$(push wrong-token-0123456789 "$T/zone.rpz" pushed)"
expect_match '^404$' "push to an unknown feed" "$(push push-token-0123456789abcdef "$T/zone.rpz" nosuch)"
expect_match '^202$' "push accepted" "$(push push-token-0123456789abcdef "$T/zone.rpz" pushed)"
wait_until 10 "pushed zone applied" -- sh -c \
    "$RESGUARDCTL -s $T/control.sock --json check a.pushed-bad.example | grep -q '\"blocked\": true'"
out=$(check_json ok.pushed-bad.example)
expect_match '"action": "passthru"' "RPZ passthru under a blocked wildcard" "$out"
expect_match '"blocked": false' "a passthru rule does not block" "$out"
printf 'not a zone at all\n' > "$T/bad.rpz"
expect_match '^202$' "a bad zone is accepted for checking" "$(push push-token-0123456789abcdef "$T/bad.rpz" pushed)"
wait_until 10 "bad push rejected" -- sh -c \
    "$RESGUARDCTL -s $T/control.sock --json feeds | grep -q '\"state\": \"failing\"'"
expect_match '"blocked": true' "rules of the last good push stay" \
    "$(check_json pushed-bad.example)"
wait_until 15 "reports queue up for the missing receiver" -- sh -c \
    "$RESGUARDCTL -s $T/control.sock --json status | grep -q '\"queued\": [1-9]'"
# The pushed feed is failing too; once it is good again the backlog alone
# makes status warn.
expect_match '^202$' "a good zone pushed again" "$(push push-token-0123456789abcdef "$T/zone.rpz" pushed)"
wait_until 10 "the reporter's backlog makes status warn" -- sh -c \
    "$RESGUARDCTL -s $T/control.sock status | grep -q 'reporter \"hub\": [0-9]* queued'"
expect_exit 1 "status exits 1 with a reporter backlog" -- ctl status
out=$(ctl --json status)
expect_match '"last_error": "[^"]' "the reporter's last error is shown" "$out"
[ -n "$(ls "$T/state/spool/hub" 2>/dev/null)" ] && ok "reports wait in the spool" ||
    not_ok "spool of reporter hub is empty"


# A restart protects with the kept version at once, even when the source
# then hangs: the kept rules are published while the fetch still waits.
daemon_stop && ok "stopped for the hanging-source test" || not_ok "stop failed"
WEB_PORT=$((RG_TEST_PORT_BASE + 22))
mkdir -p "$T/web"
printf 'kept-at-start.example\n' > "$T/web/list.txt"
python3 -m http.server -b 127.0.0.1 -d "$T/web" "$WEB_PORT" >/dev/null 2>&1 &
WEB_PID=$!
write_conf "{ name = \"web\"; format = \"domains\"; source = \"http://127.0.0.1:$WEB_PORT/list.txt\"; timeout-ms = 60000; }"
wait_until 10 "the web source answers" -- \
    curl -sf -o /dev/null "http://127.0.0.1:$WEB_PORT/list.txt"
daemon_start "$CONF"
wait_until 10 "web feed fetched" -- sh -c \
    "$RESGUARDCTL -s $T/control.sock --json check kept-at-start.example | grep -q '\"blocked\": true'"
daemon_stop && ok "stopped" || not_ok "stop failed"
kill "$WEB_PID"; wait "$WEB_PID" 2>/dev/null
# The same port now accepts and never answers.
python3 -c '
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(8)
open(sys.argv[2], "w").write("ready\n")
conns = []
end = time.time() + 120
s.settimeout(1)
while time.time() < end:
    try:
        conns.append(s.accept()[0])
    except socket.timeout:
        pass
' "$WEB_PORT" "$T/tarpit.ready" &
TARPIT_PID=$!
wait_until 10 "the hanging source listens" -- test -f "$T/tarpit.ready"
daemon_start "$CONF"
wait_until 10 "kept rules published while the source hangs" -- sh -c \
    "$RESGUARDCTL -s $T/control.sock --json check kept-at-start.example | grep -q '\"blocked\": true'"
expect_match '"checked": null' "the hanging fetch has not finished" \
    "$(ctl --json feeds)"
daemon_stop && ok "stops with a fetch in flight" || not_ok "stop failed"
kill "$TARPIT_PID" 2>/dev/null; wait "$TARPIT_PID" 2>/dev/null

# A source through the proxy named in the feed, the environment's
# proxy notwithstanding.
PROXY_PORT=$((RG_TEST_PORT_BASE + 23))
python3 "$SRCDIR/tests/system/httpproxy.py" --port "$PROXY_PORT" \
    --log "$T/proxy.log" --ready "$T/proxy.ready" --lifetime 120 \
    >/dev/null 2>&1 &
PROXY_PID=$!
wait_until 10 "the proxy listens" -- test -s "$T/proxy.ready"
WEB2_PORT=$((RG_TEST_PORT_BASE + 24))
mkdir -p "$T/web2"
printf 'via-proxy.example\n' > "$T/web2/list.txt"
python3 -m http.server -b 127.0.0.1 -d "$T/web2" "$WEB2_PORT" >/dev/null 2>&1 &
WEB2_PID=$!
wait_until 10 "the second web source answers" -- \
    curl -sf -o /dev/null "http://127.0.0.1:$WEB2_PORT/list.txt"
# A source off loopback over plain HTTP: nothing authenticates it, which
# the agent says.  (The proxy refuses it: nothing leaves this host.)
write_conf "{ name = \"web2\"; format = \"domains\"; source = \"http://127.0.0.1:$WEB2_PORT/list.txt\"; proxy = \"http://127.0.0.1:$PROXY_PORT\"; },
    { name = \"plain\"; format = \"domains\"; source = \"http://hub.invalid/list.txt\"; proxy = \"http://127.0.0.1:$PROXY_PORT\"; },
    { name = \"local\"; format = \"domains\"; source = \"file://$T/hub.txt\"; }"
export http_proxy=http://127.0.0.1:$((RG_TEST_PORT_BASE + 90))
daemon_start "$CONF"
unset http_proxy
wait_until 10 "web feed fetched through the proxy" -- sh -c \
    "$RESGUARDCTL -s $T/control.sock --json check via-proxy.example | grep -q '\"blocked\": true'"
expect_match "^GET http://127.0.0.1:$WEB2_PORT/list.txt$" \
    "the feed's request went through its proxy" "$(cat "$T/proxy.log")"
expect_match 'feeds: plain: nothing authenticates http://hub.invalid/list.txt' \
    "a feed off loopback that nothing authenticates is a warning" \
    "$(grep 'nothing authenticates' "$T/daemon.log")"
if grep -q 'nothing authenticates http://127.0.0.1' "$T/daemon.log"; then
	not_ok "a loopback source is warned about"
else
	ok "a loopback source is not warned about"
fi
expect_eq() {	# WANT DESCRIPTION GOT
	if [ "$1" = "$3" ]; then ok "$2"; else not_ok "$2: \"$3\", expected \"$1\""; fi
}
expect_eq "-" "feeds: authenticated_by is empty for plain HTTP" \
    "$(feed_field plain authenticated_by)"
expect_eq "local-file" "feeds: a file is vouched for by the file system" \
    "$(feed_field local authenticated_by)"
daemon_stop && ok "stopped" || not_ok "stop failed"
kill "$PROXY_PID" "$WEB2_PID"; wait "$PROXY_PID" "$WEB2_PID" 2>/dev/null


# Rules that depend on the time: a STIX indicator that expires and one
# that is not valid yet.  The source never changes and is not checked
# again (refresh-s 3600): the rules are built again from the document held
# when one of them changes, and only then.
at() {
	date -u -d "@$(( $(date +%s) + $1 ))" +%Y-%m-%dT%H:%M:%SZ
}
cat > "$T/timed.json" <<EOF
{ "type": "bundle", "id": "bundle--6e1193d6-6085-4398-a753-44d465f67e7e",
  "objects": [
    { "type": "indicator", "spec_version": "2.1",
      "id": "indicator--1c3e5a7b-2d4f-4a6b-8c0d-1e2f3a4b5c6d",
      "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z",
      "valid_from": "2026-01-01T00:00:00Z", "valid_until": "$(at 9)",
      "pattern_type": "stix", "pattern": "[domain-name:value = 'expiring.example']" },
    { "type": "indicator", "spec_version": "2.1",
      "id": "indicator--2d4f6a8c-3e5a-4b7c-9d1e-2f3a4b5c6d7e",
      "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z",
      "valid_from": "$(at 5)", "pattern_type": "stix",
      "pattern": "[domain-name:value = 'starting.example']" } ] }
EOF
write_conf "{ name = \"timed\"; format = \"stix2\"; source = \"file://$T/timed.json\"; refresh-s = 3600; }"
daemon_start "$CONF"
wait_until 10 "the valid indicator blocks" -- sh -c \
    "$RESGUARDCTL -s $T/control.sock --json check expiring.example | grep -q '\"blocked\": true'"
expect_match '"blocked": false' "the indicator not valid yet does not block" \
    "$(check_json starting.example)"
expect_match '"next_change": "20' "feeds shows when the rules change next" \
    "$(ctl --json feeds)"
wait_until 15 "the indicator blocks once valid, the source unchanged" -- sh -c \
    "$RESGUARDCTL -s $T/control.sock --json check starting.example | grep -q '\"blocked\": true'"
wait_until 15 "the expired indicator no longer blocks" -- sh -c \
    "$RESGUARDCTL -s $T/control.sock --json check expiring.example | grep -q '\"blocked\": false'"
pubs=$(grep -c "blocklist of .* rules published" "$T/daemon.log")
sleep 2
[ "$(grep -c "blocklist of .* rules published" "$T/daemon.log")" -eq "$pubs" ] &&
    ok "nothing left to change: no further build ($pubs publications)" ||
    not_ok "builds go on with nothing to change"
daemon_stop && ok "stops" || not_ok "stop failed"

# The sanity of the change: a version with far fewer rules (a truncated or
# emptied list) is held back; the old rules stay until an operator accepts.
i=0
while [ $i -lt 200 ]; do echo "many-$i.example"; i=$((i + 1)); done > "$T/many.txt"
write_conf "{ name = \"many\"; format = \"domains\"; source = \"file://$T/many.txt\"; }"
daemon_start "$CONF"
wait_until 10 "200 rules applied" -- sh -c \
    "$RESGUARDCTL -s $T/control.sock --json check many-199.example | grep -q '\"blocked\": true'"
# A source that has not changed is checked, and nothing is built: the
# snapshot in force stays (one publication since the start).
feed_checked() {
	ctl --json feeds | python3 -c '
import json, sys
print([f for f in json.load(sys.stdin)["feeds"] if f["name"] == "many"][0]["checked"])'
}
c0=$(feed_checked)
pubs0=$(grep -c "blocklist of .* rules published" "$T/daemon.log")
checked_moved() {
	[ "$(feed_checked)" != "$c0" ]
}
ctl feeds refresh many >/dev/null
wait_until 10 "the unchanged source is checked again" -- checked_moved
sleep 0.5
pubs1=$(grep -c "blocklist of .* rules published" "$T/daemon.log")
[ "$pubs1" -eq "$pubs0" ] &&
    ok "an unchanged source: no new snapshot built ($pubs0 publications)" ||
    not_ok "an unchanged source: $pubs0 publications before, $pubs1 after"
head -n 50 "$T/many.txt" > "$T/many.txt.new" && mv "$T/many.txt.new" "$T/many.txt"
ctl feeds refresh many >/dev/null
wait_until 10 "a version with 50 of 200 rules is held" -- sh -c \
    "$RESGUARDCTL -s $T/control.sock --json feeds | grep -q '\"state\": \"held\"'"
expect_match '"blocked": true' "the old rules stay while it is held" \
    "$(check_json many-199.example)"
expect_match '"held_rules": 50' "feeds shows the held version's rules" "$(ctl --json feeds)"
expect_match 'feed-held' "a feed-held event" "$(ctl --json events --limit 5)"
expect_exit 1 "status warns about the held feed" -- ctl status
expect_exit 1 "accept of a feed that holds nothing is refused" -- ctl feeds accept nosuch
expect_exit 0 "feeds accept many" -- ctl feeds accept many
wait_until 10 "the held version applied" -- sh -c \
    "$RESGUARDCTL -s $T/control.sock --json check many-199.example | grep -q '\"blocked\": false'"
expect_match '"blocked": true' "its rules block" "$(check_json many-49.example)"
expect_match '"state": "ok"' "the feed is ok again" "$(ctl --json feeds)"
daemon_stop && ok "stopped" || not_ok "stop failed"

# A push feed whose hub goes quiet: stale after stale-after-s, a warning
# until the next push; a fetched feed whose source answers is never stale.
write_conf "{ name = \"quiet\"; format = \"rpz\"; source = \"push\"; zone = \"push.rpz\"; stale-after-s = 3; },
    { name = \"steady\"; format = \"domains\"; source = \"file://$T/second.txt\"; refresh-s = 10; stale-after-s = 11; }"
printf 'http: { listen = [ "127.0.0.1@%s" ]; push-token-file = "%s"; };\n' \
    "$HTTP_PORT" "$T/push.token" >> "$CONF"
daemon_start "$CONF"
wait_until 10 "the quiet feed waits for a push" -- sh -c \
    "$RESGUARDCTL -s $T/control.sock --json feeds | grep -q '\"state\": \"pending\"'"
wait_until 10 "no push in 3 s: stale" -- sh -c \
    "$RESGUARDCTL -s $T/control.sock status | grep -q 'feed \"quiet\" is stale: no good document in'"
expect_exit 1 "status warns about the stale feed" -- ctl status
expect_match '^202$' "the hub pushes" "$(push push-token-0123456789abcdef "$T/zone.rpz" quiet)"
wait_until 10 "the push makes it fresh" -- feed_is quiet stale False
expect_match '"last_good": "20' "feeds shows when the last good document came" \
    "$(ctl --json feeds)"
wait_until 10 "stale again 3 s after the push" -- sh -c \
    "$RESGUARDCTL -s $T/control.sock status | grep -q 'feed \"quiet\" is stale: its source last gave or confirmed its document'"
# The file feed, unchanged, is confirmed at each check: last_good moves.
g0=$(feed_field steady last_good)
ctl feeds refresh steady >/dev/null
good_moved() {
	! feed_is steady last_good "$g0"
}
wait_until 10 "a check of the unchanged file confirms it" -- good_moved
feed_is steady stale False &&
    ok "a file feed confirmed at its checks is not stale" ||
    not_ok "steady is stale"
daemon_stop && ok "stopped" || not_ok "stop failed"

finish
