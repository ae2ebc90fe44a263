#!/bin/sh
# feeds.sh -- domains feeds from files into the live blocklist, as
# "resguardctl check" and "feeds" see it: exact and wildcard rules, hosts
# lines, the allowlist, a bad new version rejected while the old rules
# stay, a changed file picked up, a feed removed by a reload, a format this
# version does not read.  The lab's primary Unbound is the upstream.

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

cat > "$T/hub.txt" <<'EOF'
# a hub's list
ads.example
*.tracker.example      # subdomains only
0.0.0.0 hosts-style.example other.example
127.0.0.1 localhost
not a name at all!
EOF
printf 'second.example\nads.example\n' > "$T/second.txt"
write_conf "{ name = \"hub\"; format = \"domains\"; source = \"file://$T/hub.txt\"; refresh-s = 10; },
    { name = \"second\"; format = \"domains\"; source = \"file://$T/second.txt\"; },
    { name = \"taxii\"; format = \"stix2\"; source = \"https://hub.invalid/feed\"; }"
expect_exit 0 "configuration with feeds is valid" -- "$RESGUARDD" -t -c "$CONF"
daemon_start "$CONF"
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
printf '%s\n' "$(ctl check ads.example)" | grep -q "hub" &&
    ok "check in text names the feed" || not_ok "check text"
expect_exit 1 "check of an invalid name" -- ctl check "bad..name"
out=$(ctl --json feeds)
expect_match '"skipped_lines": 1' "the bad line is counted" "$out"
expect_match '"state": "unavailable"' "stix2 over https is unavailable in this version" "$out"
out=$(ctl --json status)
expect_match '"entries": 5' "status: blocklist entries (a name in two feeds counts once)" "$out"
wait_until 10 "primary up" -- sh -c \
    "$RESGUARDCTL -s $T/control.sock status | grep -q 'lab-primary.* up '"
expect_exit 1 "status warns about the unavailable feed" -- ctl status
expect_match 'feed "taxii" is unavailable' "status names the feed" "$(ctl status)"

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
[ -s "$T/state/feeds/hub.domains" ] && ok "kept copy written" || not_ok "no kept copy"
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
wait_until 10 "status all well without the unavailable feed" -- ctl status

finish
