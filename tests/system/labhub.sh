#!/bin/sh
# labhub.sh -- the quick start's hub: resguardd in guard mode with the
# lab's RPZ feed (conf/lab/lab.sh hub-conf), transferred from the lab's
# NSD with TSIG; "lab.sh block" changes the zone, NSD's NOTIFY brings the
# new version at once (the feed's refresh is 300 s), and dig sees the
# change; a feed cannot block what resguard itself needs nor a public
# suffix.  Also a wrong TSIG secret: the feed fails, the kept version still
# protects, status warns.

# Ports: the lab and the guard from RG_TEST_PORT_BASE + 5000.
RG_TEST_PORT_BASE=$(( ${RG_TEST_PORT_BASE:-16300} + 5000 ))
. "$(dirname "$0")/lib.sh"

export RG_PLUGIN_DIR=${RG_PLUGIN_DIR:-$BUILDDIR/plugins}
lab_start
CONF=$T/hub.conf
"$LAB" hub-conf > "$CONF" || { not_ok "lab.sh hub-conf"; finish; }
G=$RG_LAB_PORT_BASE

q() {
	dig @127.0.0.1 -p "$G" +time=2 +tries=1 "$@" 2>&1
}

expect_exit 0 "the quick start's configuration is valid" -- \
    "$RESGUARDD" -t -c "$CONF"
daemon_start "$CONF"
wait_until 15 "the hub's zone is transferred" -- sh -c \
    "$RESGUARDCTL -s $RG_LAB_CONTROL_SOCKET check malware.lab.test | grep -q nxdomain"
out=$(q malware.lab.test A)
expect_match "status: NXDOMAIN" "a name of the hub's zone is blocked" "$out"
expect_match 'EDE: 15 (Blocked): (resguard: blocked by feed "lab-hub")' \
    "the answer names the feed" "$out"
expect_match "status: NXDOMAIN" "a wildcard of the zone blocks below it" \
    "$(q www.phishing.lab.test A)"
expect_match "^192.0.2.10$" "other names are answered" "$(q +short www.lab.test A)"

"$LAB" block evil.lab.test >/dev/null
wait_until 10 "NSD's NOTIFY brings the new version" -- sh -c \
    "$RESGUARDCTL -s $RG_LAB_CONTROL_SOCKET check evil.lab.test | grep -q nxdomain"
expect_match "status: NXDOMAIN" "the new name is blocked" "$(q evil.lab.test A)"
"$LAB" unblock malware.lab.test >/dev/null
wait_until 10 "and the next one" -- sh -c \
    "! $RESGUARDCTL -s $RG_LAB_CONTROL_SOCKET check malware.lab.test | grep -q nxdomain"
expect_match "NOTIFY for rpz.lab.test.: transfer now" "the daemon logged NOTIFY" \
    "$(cat "$T/daemon.log")"
# Names resguard itself needs are never blocked (the fallback's TLS name),
# and no feed blocks a TLD or another public suffix.
"$LAB" block fallback.lab.test >/dev/null
"$LAB" block co.uk >/dev/null
"$LAB" block '*.com' >/dev/null
"$LAB" block last.lab.test >/dev/null
wait_until 10 "the version with them is applied" -- sh -c \
    "$RESGUARDCTL -s $RG_LAB_CONTROL_SOCKET check last.lab.test | grep -q nxdomain"
out=$(ctl --json check fallback.lab.test)
expect_match '"blocked": false' "an upstream's TLS name is not blocked" "$out"
expect_match '"feed": "protected"' "by the protected names" "$out"
expect_match '"blocked": false' "a public suffix is not blocked" "$(ctl --json check www.co.uk)"
expect_match '"blocked": false' "nor a TLD's wildcard" "$(ctl --json check example.com)"
expect_match 'public suffix' "the feed says why it skipped them" "$(ctl --json feeds)"
out=$(ctl --json feeds)
expect_match '"state": "ok"' "the feed is ok" "$out"
daemon_stop && ok "stopped" || not_ok "stop failed"
"$LAB" block malware.lab.test >/dev/null

# A wrong key: the transfer is refused, the feed fails, status warns.
sed 's|tsig-secret = "[^"]*"|tsig-secret = "d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldA=="|' \
    "$CONF" > "$T/wrong.conf"
daemon_start "$T/wrong.conf"
wait_until 15 "the feed fails" -- sh -c \
    "$RESGUARDCTL -s $RG_LAB_CONTROL_SOCKET --json feeds | grep -q '\"state\": \"failing\"'"
expect_match 'TSIG\|NOTAUTH\|BADSIG\|refused' "the feed's error says why" \
    "$(ctl --json feeds)"
# The kept zone of the first run is still applied: nothing is lost.
expect_match "status: NXDOMAIN" "the kept version still protects" "$(q www.phishing.lab.test A)"
expect_exit 1 "status warns about the failing feed" -- ctl status
daemon_stop && ok "stopped" || not_ok "stop failed"
finish
