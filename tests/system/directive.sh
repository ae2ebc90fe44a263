#!/bin/sh
# directive.sh -- hub directives: a signed JSON document pushed to a feed
# of format "directive" pins a pool until a given time (a declared crisis
# moving operators onto EU resolvers).  Checked: an unsigned or badly
# signed directive is refused at the push endpoint; a good one pins the
# pool, shows in status and the journal; an older one replayed is
# rejected; "release" unpins; a pin ends by itself at its time; the
# administrator overrides a directive with "resguardctl failover"; a
# directive still in force is applied again after a restart.

# Ports: the lab from RG_TEST_PORT_BASE + 5100, HTTP at +20.
RG_TEST_PORT_BASE=$(( ${RG_TEST_PORT_BASE:-16300} + 5100 ))
. "$(dirname "$0")/lib.sh"

export RG_PLUGIN_DIR=${RG_PLUGIN_DIR:-$BUILDDIR/plugins}
lab_start
HTTP_PORT=$((RG_TEST_PORT_BASE + 20))
CONF=$T/resguard.conf
TOKEN=directive-token-0123456789abcdef
echo "$TOKEN" > "$T/push.token"
openssl genpkey -algorithm ed25519 -out "$T/hub.key" 2>/dev/null &&
    openssl pkey -in "$T/hub.key" -pubout -out "$T/hub.pub" 2>/dev/null ||
    { not_ok "cannot make an Ed25519 key"; finish; }
openssl genpkey -algorithm ed25519 -out "$T/other.key" 2>/dev/null
cat "$RG_LAB_CONF" > "$CONF"
cat >> "$CONF" <<CONF
http: { listen = [ "127.0.0.1@$HTTP_PORT" ]; push-token-file = "$T/push.token"; };
feeds = ( { name = "crisis"; format = "directive"; source = "push";
	    hub-key-file = "$T/hub.pub"; } );
CONF

# when OFFSET: an RFC 3339 time OFFSET seconds from now (negative: past)
when() {
	date -u -d "@$(( $(date +%s) + $1 ))" +%Y-%m-%dT%H:%M:%SZ
}

# directive FILE ID ACTION [POOL UNTIL-OFFSET [ISSUED-OFFSET]]
directive() {
	if [ "$3" = pin ]; then
		printf '{"type": "resguard-directive", "version": 1, "id": "%s", "issued": "%s", "action": "pin", "pool": "%s", "until": "%s", "reason": "test crisis %s"}\n' \
		    "$2" "$(when "${6:-0}")" "$4" "$(when "$5")" "$2" > "$1"
	else
		printf '{"type": "resguard-directive", "version": 1, "id": "%s", "issued": "%s", "action": "release"}\n' \
		    "$2" "$(when 0)" > "$1"
	fi
}

# push FILE [KEY]: signed with KEY (default the hub's); prints the status
push() {
	key=${2:-$T/hub.key}
	openssl pkeyutl -sign -rawin -inkey "$key" -in "$1" -out "$1.sig" 2>/dev/null
	curl -s --noproxy '*' -o "$T/push.reply" -w '%{http_code}' \
	    -H "Authorization: Bearer $TOKEN" \
	    -H "X-Resguard-Signature: $(base64 -w0 < "$1.sig")" \
	    --data-binary @"$1" "http://127.0.0.1:$HTTP_PORT/push/feeds/crisis"
}

pinned_to() {
	ctl --json status 2>/dev/null | grep -q "\"pinned\": \"$1\""
}
not_pinned() {
	ctl --json status 2>/dev/null | grep -q '"pinned": null'
}

expect_exit 0 "a configuration with a directive feed is valid" -- \
    "$RESGUARDD" -t -c "$CONF"
sed 's|hub-key-file = "[^"]*";||' "$CONF" > "$T/nokey.conf"
expect_exit 1 "a directive feed without a hub key is refused" -- \
    "$RESGUARDD" -t -c "$T/nokey.conf"
daemon_start "$CONF"
wait_until 15 "normal at start" -- not_pinned

directive "$T/d1.json" d1 pin eu 3600 -60
# Unsigned: refused at once.
out=$(curl -s --noproxy '*' -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" \
    --data-binary @"$T/d1.json" "http://127.0.0.1:$HTTP_PORT/push/feeds/crisis")
expect_match '^403$' "an unsigned directive is refused" "$out"
expect_match '^403$' "a directive signed by another key is refused" \
    "$(push "$T/d1.json" "$T/other.key")"
not_pinned && ok "nothing pinned by them" || not_ok "pinned by a refused directive"

expect_match '^202$' "a signed directive is accepted" "$(push "$T/d1.json")"
wait_until 10 "the directive pins pool eu" -- pinned_to eu
out=$(ctl --json status)
expect_match '"directive": {' "status shows the directive in force" "$out"
expect_match '"id": "d1"' "with its id" "$out"
out=$(ctl --json events --limit 10)
expect_match '"type": "directive"' "a directive event" "$out"
expect_match 'test crisis d1' "with the hub's reason" "$out"
expect_match '"type": "pin"' "and the pin" "$out"
expect_match '"reason": "pinned by hub directive ..d1.. from feed ..crisis.."' \
    "the pin names the directive and its feed, not the administrator" "$out"
out=$(ctl --json status)
expect_match '"pinned_by": "hub directive ..d1.. from feed ..crisis.."' \
    "status: pinned_by names the directive" "$out"
expect_match 'pinned to pool .*eu.* by hub directive' \
    "status: the verdict names the directive" "$(ctl status)"

# An older directive (issued before d1) replayed: rejected, the pin stays.
directive "$T/d0.json" d0 release
sed -i "s/\"issued\": \"[^\"]*\"/\"issued\": \"$(when -600)\"/" "$T/d0.json"
expect_match '^202$' "an older directive is accepted for checking" "$(push "$T/d0.json")"
wait_until 10 "the older directive is rejected" -- sh -c \
    "$RESGUARDCTL -s $RG_LAB_CONTROL_SOCKET --json feeds | grep -q 'not newer than d1'"
pinned_to eu && ok "the pin stays" || not_ok "an older directive changed the pin"

# Release.
directive "$T/d2.json" d2 release
sleep 1
expect_match '^202$' "release accepted" "$(push "$T/d2.json")"
wait_until 10 "released: unpinned" -- not_pinned
expect_match '"reason": "unpinned by hub directive ..d2.. from feed ..crisis.."' \
    "the unpin names the releasing directive" "$(ctl --json events --limit 10)"
expect_match '"pinned_by": null' "status: pinned_by null when unpinned" \
    "$(ctl --json status)"
expect_match '"directive": null' "status: no directive in force" "$(ctl --json status)"

# A pin that ends by itself.
sleep 1
directive "$T/d3.json" d3 pin eu 4
expect_match '^202$' "a short pin accepted" "$(push "$T/d3.json")"
wait_until 10 "the short pin applies" -- pinned_to eu
wait_until 15 "the short pin ends by itself" -- not_pinned
expect_match "the directive's pin ended" "the end is an event" "$(ctl --json events --limit 10)"
expect_match '"reason": "unpinned by the end of hub directive ..d3..' \
    "the unpin names the directive that ended" "$(ctl --json events --limit 10)"

# The administrator overrides.
sleep 1
directive "$T/d4.json" d4 pin eu 3600
expect_match '^202$' "another pin accepted" "$(push "$T/d4.json")"
wait_until 10 "pinned again" -- pinned_to eu
expect_exit 0 "resguardctl failover auto" -- ctl failover auto
wait_until 5 "the administrator's choice wins" -- not_pinned
expect_match '"reason": "unpinned by the administrator"' \
    "the unpin names the administrator" "$(ctl --json events --limit 10)"
expect_match '"new": "overridden"' "the override is an event" "$(ctl --json events --limit 10)"
# The overridden directive pushed again, or kept over a restart, does not
# pin again.
expect_match '^202$' "the overridden directive pushed again" "$(push "$T/d4.json")"
sleep 2
not_pinned && ok "an overridden directive does not pin again" ||
    not_ok "the overridden directive pinned again"

# The administrator's own pin is not taken over by a directive.
expect_exit 0 "the administrator pins eu" -- ctl failover eu
sleep 1
directive "$T/d4b.json" d4b pin eu 3600
expect_match '^202$' "a directive while the administrator's pin holds" \
    "$(push "$T/d4b.json")"
wait_until 10 "it is refused" -- sh -c \
    "$RESGUARDCTL -s $RG_LAB_CONTROL_SOCKET --json events --limit 5 | grep -q 'pinned by the administrator, whose choice a directive does not override'"
expect_match '"pinned_by": "the administrator"' \
    "the administrator's pin stands" "$(ctl --json status)"
expect_exit 0 "the administrator unpins" -- ctl failover auto
wait_until 5 "unpinned" -- not_pinned

# Kept across a restart: a directive still in force applies again.
sleep 1
directive "$T/d5.json" d5 pin eu 3600
expect_match '^202$' "a pin before the restart" "$(push "$T/d5.json")"
wait_until 10 "pinned before the restart" -- pinned_to eu
daemon_stop && ok "stopped" || not_ok "stop failed"
daemon_start "$CONF"
wait_until 15 "the kept directive applies after the restart" -- pinned_to eu
daemon_stop && ok "stopped" || not_ok "stop failed"
finish
