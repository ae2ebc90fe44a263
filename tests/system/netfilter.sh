#!/bin/sh
# netfilter.sh -- a send the host refuses.  A firewall rule that drops
# what the host sends to the primary resolver makes each send fail at once
# with EPERM rather than go out and never be answered.  In guard mode that
# must move a client's query to the next upstream at once, not after the
# attempt's time-out, and the probes must say why the primary is down.
#
# The test runs in a network namespace of its own (unshare -n), with its
# own loopback and its own nftables rules: nothing of the host's network
# is touched.  Hedging is off and the primary pool pinned, so that every
# query is first sent to the primary and only the refused send can move
# it on.  Exit 77 (skipped) without root, unshare, ip or nft.

if [ -z "${RG_NETNS:-}" ]; then
	PATH=$PATH:/usr/sbin:/sbin
	for tool in unshare ip nft; do
		if ! command -v $tool >/dev/null 2>&1; then
			echo "SKIP: $tool not found (apt-get install nftables)"
			exit 77
		fi
	done
	if [ "$(id -u)" -ne 0 ] || ! unshare -n true 2>/dev/null; then
		echo "SKIP: cannot make a network namespace (root needed)"
		exit 77
	fi
	RG_NETNS=1 exec unshare -n "$0" "$@"
fi

RG_TEST_PORT_BASE=$(( ${RG_TEST_PORT_BASE:-16300} + 4700 ))
. "$(dirname "$0")/lib.sh"

ip link set lo up || { echo "cannot bring up the namespace's loopback"; exit 99; }
lab_start
G=$RG_LAB_PORT_BASE
CONF=$T/resguard.conf
sed -e "s|^\([[:space:]]*\)listen = \[.*\];|\1listen = [ \"127.0.0.1@$G\" ];\\
\1threads = 1;\\
\1hedge-max-ms = 0;|" "$RG_LAB_CONF" > "$CONF"

guard_get() {
	status_get "d[\"guard\"][\"$1\"]"
}

# counters NAME...: the guard's counters, space-separated
counters() {
	for c in "$@"; do
		printf '%s ' "$(guard_get "$c")"
	done
}

primary_up() {
	ctl status 2>/dev/null | grep -q "lab-primary .* up "
}

daemon_start "$CONF"
wait_until 10 "the primary is up" -- primary_up
ctl failover primary >/dev/null
expect_match "^192.0.2.10$" "answered before the rule" \
    "$(dig @127.0.0.1 -p "$G" +time=2 +tries=1 +short www.lab.test A 2>&1)"

nft add table inet rgtest &&
    nft add chain inet rgtest out '{ type filter hook output priority 0; }' &&
    nft add rule inet rgtest out udp dport "$RG_LAB_PRIMARY_PORT" drop ||
    { echo "cannot add the nftables rule"; exit 99; }
ok "nftables drops what is sent to the primary's UDP port"

set -- $(counters upstream_timeouts upstream_errors retried servfail)
tmo0=$1 err0=$2 ret0=$3 sf0=$4
answered=0
for i in $(seq 20); do
	out=$(dig @127.0.0.1 -p "$G" +time=2 +tries=1 "n$i.lab.test" A 2>&1)
	case $out in
	*"status: NXDOMAIN"* | *"status: NOERROR"*)
		answered=$((answered + 1)) ;;
	esac
done
set -- $(counters upstream_timeouts upstream_errors retried servfail)
[ "$answered" -eq 20 ] && ok "refused sends: 20 of 20 queries answered" ||
    not_ok "refused sends: $answered of 20 queries answered"
[ "$1" -eq "$tmo0" ] && ok "refused sends: no attempt waited for its time-out" ||
    not_ok "refused sends: $(($1 - tmo0)) attempts timed out"
[ $(($2 - err0)) -ge 20 ] && [ $(($3 - ret0)) -ge 20 ] &&
    ok "refused sends: each query's send failed and it moved on ($(($2 - err0)) errors, $(($3 - ret0)) retried)" ||
    not_ok "refused sends: $(($2 - err0)) errors, $(($3 - ret0)) retried"
[ "$4" -eq "$sf0" ] && ok "refused sends: no SERVFAIL" ||
    not_ok "refused sends: $(($4 - sf0)) SERVFAIL"

primary_refused() {
	ctl status 2>/dev/null | grep -q \
	    "lab-primary .* down .*network error: operation not permitted"
}
wait_until 10 "the probes say the primary is down: the host refused the send" \
    -- primary_refused &&
    ok "the probes say the primary is down: the host refused the send"

nft delete table inet rgtest || { echo "cannot remove the rule"; exit 99; }
# Probed again after a back-off of up to 4 s, up after two good rounds.
wait_until 20 "the rule removed: the primary is up again" -- primary_up &&
    ok "the rule removed: the primary is up again"
set -- $(counters retried upstream_errors)
ret0=$1 err0=$2
expect_match "^192.0.2.10$" "the rule removed: answered" \
    "$(dig @127.0.0.1 -p "$G" +time=2 +tries=1 +short www.lab.test A 2>&1)"
set -- $(counters retried upstream_errors)
[ "$1" -eq "$ret0" ] && [ "$2" -eq "$err0" ] &&
    ok "the rule removed: the primary answers, nothing moved on" ||
    not_ok "the rule removed: $(($1 - ret0)) retried, $(($2 - err0)) errors"

daemon_stop && ok "SIGTERM: clean exit" || not_ok "SIGTERM: exit $?"
finish
