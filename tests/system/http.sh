#!/bin/sh
# http.sh -- the HTTP listener of a real daemon on the lab: /metrics passes
# "promtool check metrics" on a live scrape and follows a failover, /status
# is the document "resguardctl status --json" prints, / is a page for a
# person; anything else is refused.

# transport.sh uses the first hundred ports from RG_TEST_PORT_BASE.
RG_TEST_PORT_BASE=$(( ${RG_TEST_PORT_BASE:-16300} + 1200 ))
. "$(dirname "$0")/lib.sh"

if ! command -v curl >/dev/null 2>&1; then
	echo "SKIP: curl not found"
	exit 77
fi
lab_start
CONF=$T/resguard.conf
HTTP=127.0.0.1:$((RG_TEST_PORT_BASE + 50))
sed -e "s|^http: {.*|http: { listen = [ \"127.0.0.1@$((RG_TEST_PORT_BASE + 50))\" ]; };|" \
    "$RG_LAB_CONF" > "$CONF"
grep -q '^http: {' "$CONF" ||
    printf 'http: { listen = [ "127.0.0.1@%s" ]; };\n' \
    "$((RG_TEST_PORT_BASE + 50))" >> "$CONF"
expect_exit 0 "configuration with http.listen" -- "$RESGUARDD" -t -c "$CONF"
daemon_start "$CONF"
wait_until 15 "all well" -- ctl status

get() {
	curl -s --max-time 5 "$@"
}
# The listener serves a snapshot taken every second.
wait_until 5 "metrics snapshot with the primary up" -- sh -c \
    "curl -s --max-time 5 http://$HTTP/metrics | grep -q 'upstream=\"lab-primary\",state=\"up\"} 1'"
m=$(get "http://$HTTP/metrics")
expect_match '^resguard_mode{mode="normal"} 1$' "metrics: mode normal" "$m"
expect_match 'resguard_upstream_state{pool="primary",upstream="lab-primary",state="up"} 1' \
    "metrics: upstream state" "$m"
if command -v promtool >/dev/null 2>&1; then
	out=$(printf '%s\n' "$m" | promtool check metrics 2>&1)
	rc=$?
	[ $rc -eq 0 ] && [ -z "$out" ] && ok "promtool check metrics: nothing to fix" ||
	    not_ok "promtool check metrics (exit $rc): $out"
else
	echo "skip promtool (not installed)"
fi
ct=$(get -o /dev/null -w '%{content_type}' "http://$HTTP/metrics")
expect_match 'text/plain; version=0.0.4' "metrics content type" "$ct"

s=$(get "http://$HTTP/status")
[ "$(printf '%s' "$s" | python3 -c 'import json,sys; print(json.load(sys.stdin)["mode"])')" = normal ] &&
    ok "/status is the status document" || not_ok "/status: $s"
p=$(get "http://$HTTP/")
expect_match '<b id="mode">normal</b>' "page shows the mode" "$p"
expect_match 'lab-primary' "page lists the upstreams" "$p"
expect_match '404' "unknown path refused" "$(get -o /dev/null -w '%{http_code}' "http://$HTTP/nosuch")"
expect_match '405' "POST refused" "$(get -o /dev/null -w '%{http_code}' -X POST -d x "http://$HTTP/metrics")"

"$LAB" freeze primary >/dev/null
wait_until 20 "metrics follow the failover" -- sh -c \
    "curl -s --max-time 5 http://$HTTP/metrics | grep -q '^resguard_mode{mode=\"failover\"} 1$'"
expect_match 'event.*mode\|failover' "page shows the failover event" "$(get "http://$HTTP/")"
"$LAB" thaw primary >/dev/null

finish
