#!/bin/sh
# hostfaults.sh -- resguardd when its host misbehaves: a SIGHUP with a
# broken configuration, the state directory on a full file system, a
# crash (kill -9) while a big feed is applied and while reports are
# spooled, and the torn journal line a crash can leave.  What must hold:
# the daemon keeps answering and keeps its running configuration, a
# failure to write says so in "status", and what it persisted is either
# the old version or the new one, never half of one, so that a restart
# begins with the last good rules and every spooled report.
# The lab's primary and fallback Unbound are the upstreams.
# Ports RG_TEST_PORT_BASE + 4630 .. + 4659: resguardd on the base, the lab
# on base+1..+4; base+20 is a port where nothing listens.

RG_TEST_PORT_BASE=$(( ${RG_TEST_PORT_BASE:-16300} + 4630 ))
. "$(dirname "$0")/lib.sh"

# kept_is FEEDFILE FILE: the document kept in FEEDFILE (after its one line
# of header) is FILE's content.
kept_is() {
	[ -f "$1" ] && tail -n +2 "$1" | cmp -s - "$2"
}

export RG_PLUGIN_DIR=${RG_PLUGIN_DIR:-$BUILDDIR/plugins}
MNT=
stop_all() {
	if [ -n "$DAEMON_PID" ]; then
		kill -9 "$DAEMON_PID" 2>/dev/null
		wait "$DAEMON_PID" 2>/dev/null
		DAEMON_PID=
	fi
	[ -z "$MNT" ] || umount "$MNT" 2>/dev/null
	MNT=
}
trap 'stop_all; cleanup' EXIT

lab_start
export RG_LAB_CONTROL_SOCKET=$T/control.sock
G=$RG_LAB_PORT_BASE
CLOSED=$((RG_LAB_PORT_BASE + 20))
CONF=$T/resguard.conf

# write_conf STATE-DIR FEED-FILE [EXTRA]: guard mode on 127.0.0.1, the
# lab's Unbounds, one domains feed
write_conf() {
	cat > "$CONF" <<EOF
server: { listen = [ "127.0.0.1@$G" ]; control-socket = "$T/control.sock";
	  state-dir = "$1"; threads = 1; agent-id = "hostfaults"; };
pools = (
	{ name = "primary"; role = "primary";
	  upstreams = ( { name = "lab-primary"; address = "127.0.0.1";
			  port = $RG_LAB_PRIMARY_PORT; } ); },
	{ name = "eu"; role = "fallback";
	  upstreams = ( { name = "lab-eu-udp"; address = "127.0.0.1";
			  port = $RG_LAB_FALLBACK_PORT; } ); }
);
health: { interval-ms = 500; timeout-ms = 400; fall = 3; rise = 2; };
feeds = ( { name = "hub"; format = "domains"; source = "file://$2";
	    refresh-s = 3600; } );
${3:-}
EOF
}

q() {
	dig @127.0.0.1 -p "$G" +time=2 +tries=1 +short "$@" 2>&1
}

blocked() {
	ctl --json check "$1" 2>/dev/null | grep -q '"blocked": true'
}

all_well() {
	ctl status >/dev/null 2>&1
}

# kill9: the daemon dies at once, as in a crash
kill9() {
	kill -9 "$DAEMON_PID" 2>/dev/null
	wait "$DAEMON_PID" 2>/dev/null
	DAEMON_PID=
}

# snapshot: what a failed reload must leave as it was
snapshot() {
	ctl --json status | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(d["mode"], d["active_pool"], d["blocklist"]["entries"])
for p in d["pools"]:
    for u in p["upstreams"]:
        print(p["name"], u["name"], u["address"], u["port"], u["transport"])
for f in d["feeds"]:
    print("feed", f["name"], f["source"])'
}

count_events() {
	ctl --json events --limit 0 | python3 -c "
import json, sys
print(sum(1 for e in json.load(sys.stdin)['events'] if e['type'] == '$1'))"
}

# --- 1. SIGHUP with a broken configuration ----------------------------
# Expected: each broken file (a syntax error, a value out of range, a
# file that is gone) changes nothing: the daemon runs on with the same
# pools, upstreams and feeds, answers, stays all well, and records a
# reload-failed event saying the running configuration stays.
echo "# 1: SIGHUP with a broken configuration"
printf 'blocked.example\n' > "$T/hub.txt"
write_conf "$T/state" "$T/hub.txt"
daemon_start "$CONF"
wait_until 15 "all well at start" -- all_well
wait_until 10 "the feed is applied" -- blocked blocked.example
before=$(snapshot)
cp "$CONF" "$T/good.conf"
for broken in syntax range gone; do
	case $broken in
	syntax) printf 'server: { listen = [ "127.0.0.1@%s" ;\n' "$G" > "$CONF" ;;
	range) sed -e "s/port = $RG_LAB_PRIMARY_PORT;/port = 70000;/" \
	    "$T/good.conf" > "$CONF" ;;
	gone) rm -f "$CONF" ;;
	esac
	n=$(count_events reload-failed)
	kill -HUP "$DAEMON_PID"
	wait_until 10 "$broken: a reload-failed event" -- sh -c \
	    "[ \$($RESGUARDCTL -s $T/control.sock --json events --limit 0 | grep -c '\"type\": \"reload-failed\"') -gt $n ]" &&
	    ok "$broken: SIGHUP recorded a reload-failed event"
	kill -0 "$DAEMON_PID" 2>/dev/null && ok "$broken: still running" ||
	    not_ok "$broken: the daemon died"
	expect_match "the running configuration stays" \
	    "$broken: the event says the running configuration stays" \
	    "$(ctl events --limit 1)"
	after=$(snapshot)
	[ "$after" = "$before" ] &&
	    ok "$broken: pools, upstreams, feeds and mode as they were" ||
	    not_ok "$broken: changed: $before / $after"
	expect_match "^192.0.2.10$" "$broken: still answering" "$(q www.lab.test A)"
	expect_exit 0 "$broken: status still all well" -- ctl status
done
expect_match "70000 is out of range" "the range error is in the event's evidence" \
    "$(ctl --json events --limit 0)"
cp "$T/good.conf" "$CONF"
kill -HUP "$DAEMON_PID"
wait_until 10 "the good file reloads" -- sh -c \
    "$RESGUARDCTL -s $T/control.sock events --limit 1 | grep -q 'configuration reloaded'" &&
    ok "the good file reloads"
daemon_stop && ok "SIGTERM: clean exit" || not_ok "SIGTERM: exit $?"

# --- 2. the state directory on a full file system ----------------------
# Expected (root only: a 200 KiB tmpfs filled up): the daemon keeps
# answering; the journal's failed writes make status warn; a new feed
# version is applied but cannot be kept, and says so in its event; the
# kept copy stays the old version, whole, with no temporary file left.
# Once there is room again the journal goes on with whole lines: the
# line a full disk tore is cut off, not glued to the next event.
echo "# 2: the state directory on a full file system"
MNT_TRY=$T/full
mkdir -p "$MNT_TRY"
if [ "$(id -u)" != 0 ]; then
	echo "# skipped: not root (needs mount -t tmpfs)"
elif ! mount -t tmpfs -o size=200k tmpfs "$MNT_TRY" 2>"$T/mount.err"; then
	echo "# skipped: cannot mount a tmpfs: $(cat "$T/mount.err")"
else
	MNT=$MNT_TRY
	S=$MNT/state
	i=0
	while [ $i -lt 50 ]; do echo "v1-$i.full.example"; i=$((i + 1)); done > "$T/small.txt"
	cp "$T/small.txt" "$T/small.v1"
	write_conf "$S" "$T/small.txt"
	daemon_start "$CONF"
	wait_until 15 "full fs: all well at start" -- all_well
	wait_until 10 "full fs: the feed is applied" -- blocked v1-7.full.example
	wait_until 10 "full fs: the feed is kept" -- kept_is "$S/feeds/hub.feed" "$T/small.v1"
	dd if=/dev/zero of="$MNT/filler" bs=4k 2>/dev/null
	echo "# full fs: $(df -k "$MNT" | awk 'NR == 2 { print $4 }') KiB left"
	# A new version of the feed, and events until the journal's last
	# block is used up too.
	i=0
	while [ $i -lt 60 ]; do echo "v2-$i.full.example"; i=$((i + 1)); done > "$T/small.txt.new"
	mv "$T/small.txt.new" "$T/small.txt"
	ctl feeds refresh hub >/dev/null
	wait_until 10 "full fs: the new version is applied" -- blocked v2-7.full.example
	i=0
	while [ $i -lt 60 ] && ! ctl status 2>&1 | grep -q "journal cannot be written"; do
		ctl reload >/dev/null 2>&1
		i=$((i + 1))
	done
	out=$(ctl status 2>&1)
	rc=$?
	[ $rc -eq 1 ] && ok "full fs: status exits 1" || not_ok "full fs: status exit $rc"
	expect_match "WARNING: the event journal cannot be written ([0-9]* failed writes)" \
	    "full fs: status warns that the journal cannot be written" "$out"
	expect_match "^192.0.2.10$" "full fs: still answering" "$(q www.lab.test A)"
	expect_match "^192.0.2.10$" "full fs: still answering over TCP" "$(q +tcp www.lab.test A)"
	expect_match '"persist_error": "cannot keep a copy in .*No space left on device"' \
	    "full fs: the feed-applied event says the copy could not be kept" \
	    "$(ctl --json events --limit 0)"
	kept_is "$S/feeds/hub.feed" "$T/small.v1" &&
	    ok "full fs: the kept copy is the old version, whole" ||
	    not_ok "full fs: the kept copy is neither whole nor old: $(wc -c < "$S/feeds/hub.feed") bytes"
	left=$(ls -A "$S/feeds" | grep -v -x -e hub.feed)
	[ -z "$left" ] && ok "full fs: no temporary file left in feeds/" ||
	    not_ok "full fs: left in feeds/: $left"
	# Room again: the next events must be whole lines.
	rm -f "$MNT/filler"
	ctl reload >/dev/null
	ctl reload >/dev/null
	ctl --json events --limit 2 > "$T/last2.json"
	out=$(python3 - "$S/events.jsonl" "$T/last2.json" <<'EOF'
import json, sys
data = open(sys.argv[1], "rb").read()
want = [e["id"] for e in json.load(open(sys.argv[2]))["events"]]
lines = data.split(b"\n")
tail = lines.pop()
ids, bad = [], 0
for l in lines:
    try:
        ids.append(json.loads(l)["id"])
    except (ValueError, KeyError, TypeError):
        bad += 1
print("lines %d, unreadable %d, unfinished tail %d bytes" % (len(lines), bad,
      len(tail)))
print("next events " + ("whole" if all(i in ids for i in want) else
      "lost: %d of the %d events since are not whole lines" %
      (sum(1 for i in want if i not in ids), len(want))))
EOF
)
	echo "# full fs: events.jsonl after room is made: $(printf '%s\n' "$out" | head -n 1)"
	expect_match "^next events whole$" \
	    "full fs: room again: the next events are whole lines of their own" "$out"
	expect_match ", unfinished tail 0 bytes" "full fs: the journal ends with a whole line" "$out"
	daemon_stop && ok "full fs: SIGTERM: clean exit" || not_ok "full fs: SIGTERM: exit $?"
	umount "$MNT" && MNT=
fi

# --- 3. a torn journal line, as a crash leaves it ----------------------
# Expected: a journal whose last line was cut short (a crash in the middle
# of a write, power lost) is read with that line skipped, and the events
# of the next start are whole lines of their own, not glued to it.
echo "# 3: a torn journal line"
write_conf "$T/state" "$T/hub.txt"
printf 'blocked.example\n' > "$T/hub.txt"
size=$(wc -c < "$T/state/events.jsonl")
truncate -s $((size - 25)) "$T/state/events.jsonl"
daemon_start "$CONF"
wait_until 10 "torn line: started" -- all_well
daemon_stop
out=$(python3 - "$T/state/events.jsonl" <<'EOF'
import json, sys
types = []
for l in open(sys.argv[1], "rb"):
    try:
        types.append(json.loads(l)["type"])
    except ValueError:
        types.append("?")
after = types[types.index("?") + 1] if "?" in types else "-"
print("lines %d, unreadable %d, after the unreadable one: %s; last: %s" % (
      len(types), types.count("?"), after, types[-1]))
EOF
)
echo "# torn line: $out"
expect_match "unreadable 1," "torn line: only the torn line is unreadable" "$out"
expect_match "after the unreadable one: start;" \
    "torn line: the next start is a whole line of its own" "$out"
expect_match "last: stop$" "torn line: and so is the stop" "$out"

# --- 4. kill -9 while a big feed is applied -----------------------------
# Expected: whenever the daemon dies while it fetches, checks, keeps and
# builds a new version of a 400 000-name feed, the kept copy is the old
# version or the new one, whole, with its source and a state that parses;
# restarted with the source gone, it blocks by that copy's rules.
echo "# 4: kill -9 while a big feed is applied"
python3 - "$T" <<'EOF'
import os, sys
for v in ("v1", "v2"):
    with open(os.path.join(sys.argv[1], "big.%s" % v), "w") as f:
        for i in range(400000):
            f.write("%s-%d.big.example\n" % (v, i))
EOF
cp "$T/big.v1" "$T/big.txt"
write_conf "$T/state-big" "$T/big.txt"
daemon_start "$CONF"
wait_until 30 "big feed: v1 applied" -- blocked v1-399999.big.example
wait_until 10 "big feed: v1 kept" -- kept_is "$T/state-big/feeds/hub.feed" "$T/big.v1"
kept=v1
seen=
for delay in 0.05 0.15 0.25 0.35 0.5; do
	[ $kept = v1 ] && new=v2 || new=v1
	cp "$T/big.$new" "$T/big.txt.new"
	mv "$T/big.txt.new" "$T/big.txt"
	ctl feeds refresh hub >/dev/null
	sleep "$delay"
	kill9
	F=$T/state-big/feeds
	if kept_is "$F/hub.feed" "$T/big.v1"; then
		kept=v1
	elif kept_is "$F/hub.feed" "$T/big.v2"; then
		kept=v2
	else
		kept=
	fi
	[ -n "$kept" ] && ok "kill -9 at $delay s: the kept copy is $kept, whole" ||
	    not_ok "kill -9 at $delay s: the kept copy is neither version: $(wc -c < "$F/hub.feed") bytes"
	# NAME.feed: one line of JSON (source, size, conditional-fetch
	# state), then the document, in one file renamed into place.
	python3 - "$F/hub.feed" "file://$T/big.txt" <<'PY' &&
import json, sys
data = open(sys.argv[1], "rb").read()
head, _, doc = data.partition(b"\n")
h = json.loads(head)
assert h["resguard_feed"] == 1 and h["source"] == sys.argv[2], h
assert h["bytes"] == len(doc), (h["bytes"], len(doc))
PY
	    ok "kill -9 at $delay s: its header names the source and the size" ||
	    not_ok "kill -9 at $delay s: hub.feed's header: $(head -c 300 "$F/hub.feed" | head -n 1)"
	seen="$seen $delay:${kept:-?}$(ls "$F" | grep -q '\.tmp$' && echo '(+tmp)')"
	[ -n "$kept" ] || kept=v1
	# Restart with the source gone: only the kept copy can give rules.
	mv "$T/big.txt" "$T/big.txt.away"
	daemon_start "$CONF"
	[ $kept = v1 ] && other=v2 || other=v1
	wait_until 30 "kill -9 at $delay s: restarted with the $kept rules" -- \
	    blocked "$kept-123456.big.example" &&
	    ok "kill -9 at $delay s: restarted with the rules of the kept copy ($kept)"
	blocked "$other-123456.big.example" &&
	    not_ok "kill -9 at $delay s: $other rules after the restart" ||
	    ok "kill -9 at $delay s: and not those of the other version"
	mv "$T/big.txt.away" "$T/big.txt"
done
echo "# kept copy after each kill (delay after the refresh: version):$seen"
daemon_stop && ok "big feed: SIGTERM: clean exit" || not_ok "big feed: SIGTERM: exit $?"

# --- 5. kill -9 while reports are spooled --------------------------------
# Expected: a reporter whose receiver is gone (a closed port) spools every
# event; the daemon is killed while reload events pour in.  Every file of
# the spool is a whole report that parses; every event of the journal is
# spooled (the last one may have been written to the journal just before
# the kill, before the spool); restarted, the daemon takes the spool
# whole: nothing unreadable, nothing left in .incoming.
echo "# 5: kill -9 while reports are spooled"
if [ ! -f "$RG_PLUGIN_DIR/report-http.so" ] &&
    [ ! -f "$RG_PLUGIN_DIR/report-http/.libs/report-http.so" ]; then
	echo "# skipped: the report-http plugin is not built in $RG_PLUGIN_DIR"
else
	SP=$T/state-spool
	write_conf "$SP" "$T/hub.txt" "report = ( { name = \"hub\"; type = \"http\";
	url = \"http://127.0.0.1:$CLOSED/report\"; timeout-ms = 500; interval-s = 1; } );"
	for delay in 0.3 0.6 0.9; do
		first=$(cat "$SP/events.jsonl" 2>/dev/null | wc -l | tr -d ' ')
		daemon_start "$CONF"
		i=0
		(while [ $i -lt 500 ]; do
			"$RESGUARDCTL" -s "$T/control.sock" -t 2 reload >/dev/null 2>&1 || exit 0
			i=$((i + 1))
		done) &
		LOOP=$!
		sleep "$delay"
		# A slow build (the sanitizers' on a busy host) reloads
		# slower: not before 20 events of this run are in.
		poured() {
			[ "$(cat "$SP/events.jsonl" 2>/dev/null | wc -l)" -gt \
			    $((first + 20)) ]
		}
		wait_until 10 "kill -9 at $delay s: 20 events before the kill" -- poured
		kill9
		wait $LOOP
		out=$(python3 - "$SP" "$first" <<'EOF'
import json, os, re, sys
D = sys.argv[1]
first = int(sys.argv[2])
q = os.path.join(D, "spool", "hub")
ids, bad, other = set(), [], []
for name in sorted(os.listdir(q)):
    p = os.path.join(q, name)
    if name == "dropped.json" or re.fullmatch(r"[0-9a-f]{16}\.[esg]\.json", name):
        try:
            r = json.load(open(p))
            if not isinstance(r, dict):
                raise ValueError("not an object")
            if name != "dropped.json":
                if not isinstance(r.get("id"), str) or r.get("kind") not in ("event", "status", "sighting"):
                    raise ValueError("no id or kind")
                ids.add(r["id"])
        except ValueError as e:
            bad.append("%s: %s" % (name, e))
    else:
        other.append(name)
ev, torn = [], 0
for l in open(os.path.join(D, "events.jsonl"), "rb"):
    try:
        ev.append(json.loads(l))
    except ValueError:
        torn += 1
missing = [i for i, e in enumerate(ev) if e["id"] not in ids and i >= first]
inc = os.listdir(os.path.join(D, "spool", ".incoming"))
print("spool %d reports, %d unreadable, %d other files; journal %d events, "
      "%d of this run, %d torn lines, %d of this run not spooled%s; "
      ".incoming %d" % (len(ids), len(bad), len(other), len(ev),
      len(ev) - first, torn, len(missing), " (the last, written to the "
      "journal just before the kill)" if missing == [len(ev) - 1] else "",
      len(inc)))
print("whole " + ("yes" if not bad and not other else "no: " + "; ".join(bad + other)))
print("journal " + ("yes" if torn == 0 else "no"))
print("spooled " + ("yes" if not missing or missing == [len(ev) - 1] else
      "no: events %s of %d" % (missing[:5], len(ev))))
print("run " + ("yes" if len(ev) - first > 20 else "no"))
EOF
)
		echo "# kill -9 at $delay s: $(printf '%s\n' "$out" | head -n 1)"
		expect_match "^whole yes" "kill -9 at $delay s: every spool file is a whole report" "$out"
		expect_match "^journal yes" "kill -9 at $delay s: every journal line parses" "$out"
		expect_match "^run yes" "kill -9 at $delay s: events poured in before the kill" "$out"
		expect_match "^spooled yes" "kill -9 at $delay s: every event of the journal is spooled, but for the last at most" "$out"
		n=$(find "$SP/spool/hub" -name '*.[esg].json' | wc -l | tr -d ' ')
		# What the kill left half-written; the restarted daemon writes
		# new reports through .incoming too, so only these are checked.
		torn=$(ls -A "$SP/spool/.incoming")
		daemon_start "$CONF"
		q_=$(status_get 'd["reporters"][0]["queued"]')
		[ "$q_" -ge "$n" ] && ok "kill -9 at $delay s: restarted, all $n spooled reports queued ($q_ now)" ||
		    not_ok "kill -9 at $delay s: $q_ queued after the restart, $n in the spool"
		[ "$(status_get 'd["reporters"][0]["unreadable"]')" = 0 ] &&
		    ok "kill -9 at $delay s: nothing unreadable" ||
		    not_ok "kill -9 at $delay s: unreadable reports: $(status_get 'd["reporters"][0]["unreadable"]')"
		left=
		for f in $torn; do
			[ -e "$SP/spool/.incoming/$f" ] && left="$left $f"
		done
		[ -z "$left" ] &&
		    ok "kill -9 at $delay s: .incoming cleaned at start (${torn:-nothing} torn)" ||
		    not_ok "kill -9 at $delay s: left in .incoming:$left"
		daemon_stop || not_ok "spool: SIGTERM: exit $?"
	done
fi

finish
