#!/bin/sh
# faults.sh -- resguardd in guard mode while the network to its primary
# resolver breaks.  tests/system/faultrelay.py stands between resguardd and
# the lab's primary Unbound, on one port for UDP and TCP, which the primary
# pool uses as two upstreams, relay-udp and relay-tcp; the fallback pool
# "eu" is the lab's fallback Unbound, reached directly.  The relay breaks
# the path on demand: loss, delay, a black hole, reordering, corrupt
# replies, TCP resets.  Through each fault a checking client (faultrelay.py
# ask: every answer parsed and compared with the record expected) or
# dnsperf sends a steady, bounded stream of queries to resguardd; what is
# expected is said before each part, and asserted.  At the end the event
# journal must tell the story.
# Settings: interval-ms 500, timeout-ms 400, fall 3, rise 2,
# max-latency-ms 150 on the primary pool, failback-hold-s 2.
# Ports RG_TEST_PORT_BASE + 4600 .. + 4629: resguardd on the base, the lab
# on base+1..+4, the relay on base+10.

RG_TEST_PORT_BASE=$(( ${RG_TEST_PORT_BASE:-16300} + 4600 ))
. "$(dirname "$0")/lib.sh"

for tool in dnsperf unbound-control; do
	if ! command -v $tool >/dev/null 2>&1; then
		echo "SKIP: $tool not found"
		exit 77
	fi
done

RELAY=$SRCDIR/tests/system/faultrelay.py
RELAY_PID=
relay_stop() {
	if [ -n "$RELAY_PID" ]; then
		kill "$RELAY_PID" 2>/dev/null
		wait "$RELAY_PID" 2>/dev/null
		RELAY_PID=
	fi
}
trap 'relay_stop; cleanup' EXIT

lab_start
export RG_LAB_CONTROL_SOCKET=$T/control.sock
G=$RG_LAB_PORT_BASE
R=$((RG_LAB_PORT_BASE + 10))
CONF=$T/resguard.conf

# -- the names asked: 1600 TXT records, the same in both Unbounds, so that
# an answer is right whichever pool gave it; each part asks its own
# hundred, so that no answer of an earlier part can be served stale.
i=0
while [ $i -lt 1600 ]; do
	echo "n$i.fault.lab TXT n$i"
	i=$((i + 1))
done > "$T/names.all"
BIG=$(python3 -c "print('x' * 240)")
for c in "$RG_LAB_PRIMARY_UNBOUND_CONF" "$RG_LAB_FALLBACK_UNBOUND_CONF"; do
	if ! unbound-control -c "$c" local_zone fault.lab. static >/dev/null ||
	    ! awk '{ printf "%s. 300 IN TXT \"%s\"\n", $1, $3 }' "$T/names.all" |
	    unbound-control -c "$c" local_datas >/dev/null; then
		echo "cannot load the test names into Unbound ($c)"
		exit 99
	fi
	for j in 1 2 3 4 5 6; do
		unbound-control -c "$c" local_data \
		    "big.fault.lab. 300 IN TXT \"$j$BIG\"" >/dev/null
	done
done

cat > "$CONF" <<EOF
server: { listen = [ "127.0.0.1@$G" ]; control-socket = "$T/control.sock";
	  state-dir = "$T/state"; threads = 2; agent-id = "faults"; };
pools = (
	{ name = "primary"; role = "primary";
	  upstreams = (
		{ name = "relay-udp"; address = "127.0.0.1"; port = $R;
		  transport = "udp"; },
		{ name = "relay-tcp"; address = "127.0.0.1"; port = $R;
		  transport = "tcp"; } );
	  checks = { max-latency-ms = 150; }; },
	{ name = "eu"; role = "fallback";
	  upstreams = ( { name = "lab-eu-udp"; address = "127.0.0.1";
			  port = $RG_LAB_FALLBACK_PORT; } ); }
);
health: { interval-ms = 500; timeout-ms = 400; fall = 3; rise = 2;
	  backoff-max-ms = 1000; };
failover: { failback = "auto"; failback-hold-s = 2; };
EOF

# -- helpers

printf 'pass\n' > "$T/relay.ctl"
python3 "$RELAY" relay --listen "127.0.0.1@$R" \
    --upstream "127.0.0.1@$RG_LAB_PRIMARY_PORT" --control "$T/relay.ctl" \
    --stats "$T/relay.stats" --ready "$T/relay.ready" --log "$T/relay.log" \
    --max-s 400 2>>"$T/relay.log" &
RELAY_PID=$!
wait_until 10 "the relay listens" -- test -f "$T/relay.ready" || exit 99

# relay EXPR: EXPR (Python) on the relay's counters, s
relay() {
	python3 -c "
import json, sys
s = json.load(open(sys.argv[1]))
print($1)" "$T/relay.stats"
}

relay_in() {
	[ "$(relay 's["mode"]')" = "$1" ]
}

# fault MODE: switch the relay to MODE and wait until it has
fault() {
	printf '%s\n' "$1" > "$T/relay.ctl.tmp"
	mv "$T/relay.ctl.tmp" "$T/relay.ctl"
	wait_until 5 "relay in mode $1" -- relay_in "$1"
	echo "# relay: $1"
}

state_of() {
	status_get "[u['state'] for p in d['pools'] for u in p['upstreams'] if u['name'] == '$1'][0]"
}

both_are() {
	[ "$(state_of relay-udp)" = "$1" ] && [ "$(state_of relay-tcp)" = "$1" ]
}

healthy() {
	mode_is normal && both_are up && [ "$(state_of lab-eu-udp)" = up ]
}

guard() {
	status_get "d['guard']['$1']"
}

# normal_again WHAT: the path repaired, resguardd back on the primary
normal_again() {
	fault pass
	wait_until 30 "$1: normal again, every upstream up" -- healthy
}

# ask RUN SLICE ARGS...: the checking client on the SLICE-th hundred names;
# its summary in $T/RUN.json
ask() {
	run=$1 slice=$2
	shift 2
	sed -n "$((slice * 100 + 1)),$((slice * 100 + 100))p" "$T/names.all" \
	    > "$T/names.$run"
	python3 "$RELAY" ask --server "127.0.0.1@$G" --names "$T/names.$run" \
	    --timeout 5 --out "$T/$run.json" "$@" >/dev/null 2>"$T/$run.err"
}

# answered RUN WHAT: every query of RUN answered, and rightly
answered() {
	out=$(python3 - "$T/$1.json" <<'EOF'
import json, sys
try:
    r = json.load(open(sys.argv[1]))
except (OSError, ValueError) as e:
    print("no summary (%s)" % e)
    print("answered no")
    print("right no")
    sys.exit(0)
print("sent %d: right %d, wrong %d, SERVFAIL %d, stale %d, other rcodes %s, "
      "timed out %d, malformed %d, truncated %d; median %s ms, max %s ms%s" % (
      r["sent"], r["correct"], r["wrong"], r["servfail"], r["stale"],
      r["rcodes"] or "none", r["timeout"], r["malformed"], r["truncated"],
      r.get("p50_ms", "-"), r.get("max_ms", "-"),
      "; " + "; ".join(r["examples"]) if r["examples"] else ""))
print("answered " + ("yes" if r["sent"] > 0 and r["servfail"] == 0 and
      r["stale"] == 0 and not r["rcodes"] and r["timeout"] == 0 and
      r["truncated"] == 0 else "no"))
print("right " + ("yes" if r["sent"] > 0 and r["correct"] == r["sent"]
      else "no"))
EOF
)
	sum=$(printf '%s\n' "$out" | sed -n 1p)
	echo "# $2: $sum"
	if printf '%s\n' "$out" | grep -q '^answered yes$'; then
		ok "$2: every query answered (no SERVFAIL, no stale answer, none lost)"
	else
		not_ok "$2: not every query answered: $sum"
		cat "$T/$1.err" 2>/dev/null | sed 's/^/     /'
	fi
	if printf '%s\n' "$out" | grep -q '^right yes$'; then
		ok "$2: every answer the record asked for (none wrong, none malformed)"
	else
		not_ok "$2: answers not all right: $sum"
	fi
}

# dnsperf_check FILE WHAT: no query lost, no SERVFAIL
dnsperf_check() {
	sent=$(sed -n 's/^ *Queries sent: *\([0-9]*\).*/\1/p' "$1")
	done_=$(sed -n 's/^ *Queries completed: *\([0-9]*\).*/\1/p' "$1")
	lost=$(sed -n 's/^ *Queries lost: *\([0-9]*\).*/\1/p' "$1")
	echo "# $2: dnsperf sent ${sent:-?}, completed ${done_:-?}," \
	    "lost ${lost:-?}; $(grep 'Response codes' "$1" | sed 's/^ *//')"
	if [ -z "$sent" ] || [ "$sent" -eq 0 ]; then
		not_ok "$2: dnsperf did not run"
		cat "$1"
		return
	fi
	[ "$lost" = 0 ] && [ "$done_" = "$sent" ] &&
	    ok "$2: every query answered ($done_ of $sent)" ||
	    not_ok "$2: $lost of $sent lost"
	grep -q SERVFAIL "$1" &&
	    not_ok "$2: SERVFAIL answers: $(grep 'Response codes' "$1")" ||
	    ok "$2: no SERVFAIL"
}

# servfail_since N WHAT: the guard gave no SERVFAIL since its counter was N
servfail_since() {
	now=$(guard servfail)
	[ "$now" -eq "$1" ] && ok "$2: resguardd counted no SERVFAIL" ||
	    not_ok "$2: resguardd counted $((now - $1)) SERVFAIL"
}

expect_exit 0 "resguardd -t on the configuration" -- "$RESGUARDD" -t -c "$CONF"
daemon_start "$CONF"
wait_until 15 "normal with every upstream up" -- healthy

# -- no fault: the primary's traffic goes through the relay
# Expected: every query answered by the primary, through the relay.
before=$(relay 's["udp_replies"]')
ask base 0 --count 200 --rate 200
ask base-tcp 1 --count 40 --rate 40 --tcp
answered base "no fault, UDP"
answered base-tcp "no fault, TCP clients"
[ "$(relay 's["udp_replies"]')" -gt "$before" ] &&
    ok "the primary's traffic goes through the relay" ||
    not_ok "no reply through the relay"

# -- loss
# Expected: with 30 % of the messages dropped each way (about half the
# exchanges fail), every client query is still answered, and rightly: an
# attempt that gets no reply is hedged or retried on the next upstream,
# the fallback's, within the client's time.  The primary's upstreams may
# go down and up meanwhile; that is not asserted.
sf=$(guard servfail)
fault "loss 30"
ask loss 2 --count 600 --rate 150
ask loss-tcp 3 --count 60 --rate 30 --tcp
answered loss "30 % loss"
answered loss-tcp "30 % loss, TCP clients"
servfail_since "$sf" "30 % loss"
[ "$(relay 's["dropped_queries"] + s["dropped_replies"]')" -gt 0 ] &&
    ok "30 % loss: the relay did drop ($(relay 's["dropped_queries"]') queries, $(relay 's["dropped_replies"]') replies)" ||
    not_ok "30 % loss: nothing dropped"
normal_again "after the loss"

# -- delay
# Expected: replies held 250 ms (above max-latency-ms 150, below
# timeout-ms 400) still come through, but the probes measure the latency:
# both relay upstreams go degraded, the primary pool has none up, and
# resguardd fails over; clients are answered meanwhile (hedged to the
# fallback after twice the median round trip).  Held 600 ms (above
# timeout-ms), the probes time out and both go down; clients are still
# answered.
sf=$(guard servfail)
hd=$(guard hedged)
fault "delay 250"
ask delay250 4 --count 400 --rate 100 &
ASK=$!
wait_until 15 "250 ms delay: both relay upstreams degraded" -- both_are degraded &&
    ok "250 ms delay: both relay upstreams degraded (latency over max-latency-ms)"
wait $ASK
wait_until 10 "250 ms delay: failover" -- mode_is failover &&
    ok "250 ms delay: failover to eu"
answered delay250 "250 ms delay"
[ "$(guard hedged)" -gt "$hd" ] &&
    ok "250 ms delay: $(( $(guard hedged) - hd )) queries hedged to the next upstream" ||
    not_ok "250 ms delay: no query hedged"
fault "delay 600"
ask delay600 5 --count 300 --rate 100 &
ASK=$!
wait_until 15 "600 ms delay: both relay upstreams down" -- both_are down &&
    ok "600 ms delay: both relay upstreams down (probes time out)"
wait $ASK
answered delay600 "600 ms delay"
servfail_since "$sf" "delay"
[ "$(relay 's["delayed"]')" -gt 0 ] && ok "the relay delayed $(relay 's["delayed"]') replies" ||
    not_ok "nothing delayed"
normal_again "after the delay"

# -- black hole, under dnsperf
# Expected: from 2 s into an 8 s stream at 300 queries a second the relay
# drops everything and leaves TCP connections hanging: the probes time
# out, both relay upstreams go down and resguardd fails over to eu; not
# one of dnsperf's queries is lost or gets SERVFAIL (timed-out attempts go
# to the fallback).
sf=$(guard servfail)
sed -n '601,700p' "$T/names.all" | awk '{ print $1, $2 }' > "$T/perf.queries"
dnsperf -s 127.0.0.1 -p "$G" -d "$T/perf.queries" -l 8 -Q 300 -c 2 -t 5 \
    > "$T/perf.out" 2>&1 &
PERF=$!
sleep 2
fault blackhole
wait $PERF
dnsperf_check "$T/perf.out" "black hole at 2 s of 8 s at 300 qps"
servfail_since "$sf" "black hole"
wait_until 10 "black hole: both relay upstreams down" -- both_are down &&
    ok "black hole: both relay upstreams down"
mode_is failover && ok "black hole: failover to eu" ||
    not_ok "black hole: mode $(status_get 'd["mode"]')"
echo "# black hole: the relay dropped $(relay 's["dropped_queries"]') queries" \
    "in all, $(relay 's["hanging"]') on hanging TCP connections"
normal_again "after the black hole"

# -- reordering
# Expected: replies held and sent after the next one: each is still
# matched to its query by ID and question, every answer right.
sf=$(guard servfail)
before=$(relay 's["reordered"]')
fault reorder
ask reorder 7 --count 400 --rate 200
ask reorder-tcp 8 --count 60 --rate 60 --tcp
answered reorder "reordered replies"
answered reorder-tcp "reordered replies, TCP clients"
servfail_since "$sf" "reordered replies"
[ "$(relay 's["reordered"]')" -gt "$before" ] &&
    ok "the relay swapped $(( $(relay 's["reordered"]') - before )) pairs of replies" ||
    not_ok "nothing reordered"
fault pass

# -- corrupt replies followed by the genuine ones
# Expected: each reply of the primary comes first as a broken copy, then
# as itself.  The broken copy is ignored: the ID changed (another query's,
# or none), the question changed, the QR bit cleared, random bytes, or a
# reply cut short inside its records (TC clear: it does not parse).  The
# genuine reply that follows answers: the client gets the right answer,
# never the broken one, and nothing stale.  One kind at a time.
slice=9
for kind in id question qr garbage cut; do
	sf=$(guard servfail)
	um=$(guard unmatched)
	st=$(guard stale)
	fault "corrupt $kind dup"
	ask "c-$kind" $slice --count 100 --rate 200
	answered "c-$kind" "corrupt ($kind) then genuine"
	echo "# corrupt ($kind): resguardd ignored $(( $(guard unmatched) - um ))" \
	    "replies, served $(( $(guard stale) - st )) stale," \
	    "counted $(( $(guard servfail) - sf )) SERVFAIL"
	slice=$((slice + 1))
done
[ "$(relay 'sum(s["corrupted"].values())')" -ge 500 ] &&
    ok "the relay broke $(relay 'sum(s["corrupted"].values())') replies" ||
    not_ok "corrupted: $(relay 's["corrupted"]')"
healthy && ok "the primary stayed up through corrupt-then-genuine replies" ||
    not_ok "after corrupt-then-genuine: mode $(status_get 'd["mode"]'), relay-udp $(state_of relay-udp), relay-tcp $(state_of relay-tcp)"

# -- corrupt replies only
# Expected: the primary answers only with broken replies: the probes
# ignore them and time out, both relay upstreams go down, failover; the
# clients are answered by the fallback, never with a broken reply.
sf=$(guard servfail)
fault "corrupt mixed"
ask corrupt 14 --count 400 --rate 100 &
ASK=$!
wait_until 15 "corrupt replies only: both relay upstreams down" -- both_are down &&
    ok "corrupt replies only: both relay upstreams down"
wait $ASK
answered corrupt "corrupt replies only"
servfail_since "$sf" "corrupt replies only"
mode_is failover && ok "corrupt replies only: failover to eu" ||
    not_ok "corrupt replies only: mode $(status_get 'd["mode"]')"
normal_again "after the corrupt replies"

# -- TCP resets
# Expected: every TCP connection to the relay is reset, at accept or in
# the middle of a reply (SO_LINGER 0): relay-tcp goes down (its probes are
# reset), relay-udp stays up, so resguardd stays on the primary pool.
# TCP clients still get every answer.  A big answer, which resguardd asks
# again over TCP after a truncated UDP reply, still comes: from the
# fallback once the reset fails the attempt.
sf=$(guard servfail)
fault tcp-reset
ask tcp-reset 15 --count 100 --rate 50 --tcp
answered tcp-reset "TCP resets, TCP clients"
n=0
for j in 1 2 3 4 5; do
	out=$(dig @127.0.0.1 -p "$G" +time=4 +tries=1 big.fault.lab TXT 2>&1)
	printf '%s\n' "$out" | grep -q "ANSWER: 6," && n=$((n + 1))
done
[ $n -eq 5 ] && ok "TCP resets: the big answer came 5 times of 5" ||
    { not_ok "TCP resets: the big answer came $n times of 5"; printf '%s\n' "$out" | sed 's/^/     /'; }
wait_until 10 "TCP resets: relay-tcp down" -- sh -c \
    "$RESGUARDCTL -s $T/control.sock upstreams | grep -q 'relay-tcp .* down '" &&
    ok "TCP resets: relay-tcp down"
[ "$(state_of relay-udp)" = up ] && mode_is normal &&
    ok "TCP resets: relay-udp up, resguardd stays on the primary pool" ||
    not_ok "TCP resets: relay-udp $(state_of relay-udp), mode $(status_get 'd["mode"]')"
servfail_since "$sf" "TCP resets"
echo "# TCP resets: $(relay 's["resets_accept"]') at accept," \
    "$(relay 's["resets_mid"]') in the middle of a reply"
[ "$(relay 's["resets_accept"]')" -gt 0 ] && [ "$(relay 's["resets_mid"]')" -gt 0 ] &&
    ok "the relay reset connections at accept and in the middle of a reply" ||
    not_ok "resets: $(relay 's["resets_accept"]') at accept, $(relay 's["resets_mid"]') mid-reply"
normal_again "after the TCP resets"

# -- the story in the journal
ctl --json events --limit 0 > "$T/events.json"
out=$(python3 - "$T/events.json" <<'EOF'
import json, sys
ev = json.load(open(sys.argv[1]))["events"]
story = [e for e in ev if e["type"] in ("mode", "upstream", "failback")]
for e in story:
    print("# %s %s %s -> %s: %s" % (e["type"], e["subject"], e["old"],
                                   e["new"], e["reason"]))
# Each chapter in order: (what, test on an event)
chapters = [
    ("relay-udp degraded for its latency", lambda e: e["type"] == "upstream"
     and e["subject"] == "relay-udp" and e["new"] == "degraded" and
     "latency over limit" in e["reason"]),
    ("failover to eu", lambda e: e["type"] == "mode" and
     e["new"] == "failover" and e["evidence"]["to_pool"] == "eu"),
    ("relay-udp down on time-outs", lambda e: e["type"] == "upstream" and
     e["subject"] == "relay-udp" and e["new"] == "down" and
     "timeout" in e["reason"]),
    ("back to the primary", lambda e: e["type"] == "mode" and
     e["new"] == "normal" and "hold 2 s" in e["reason"]),
    # A reset in the middle of a reply reads as a reset or, when the
    # reply's first bytes were read before it came, as a cut reply.
    ("relay-tcp down on resets", lambda e: e["type"] == "upstream" and
     e["subject"] == "relay-tcp" and e["new"] == "down" and
     ("reset" in e["reason"] or "connection closed after" in e["reason"])),
    ("relay-tcp up again", lambda e: e["type"] == "upstream" and
     e["subject"] == "relay-tcp" and e["new"] == "up"),
]
i = 0
for what, test in chapters:
    while i < len(story) and not test(story[i]):
        i += 1
    if i == len(story):
        print("missing " + what)
        break
    i += 1
else:
    print("complete")
modes = [e for e in story if e["type"] == "mode"]
print("# %d mode changes, %d upstream changes" % (len(modes),
      len(story) - len(modes)))
EOF
)
printf '%s\n' "$out" | grep '^#'
expect_match "^complete$" "the journal tells the story: degraded, failover, down, fail-back, reset" "$out"

# -- the relay is bounded: it leaves with its parent
sh -c "python3 '$RELAY' relay --listen 127.0.0.1@$((R + 1)) \
    --upstream 127.0.0.1@$RG_LAB_PRIMARY_PORT --control '$T/relay.ctl' \
    --ready '$T/relay2.ready' --log '$T/relay2.log' --max-s 60 &
    echo \$! > '$T/relay2.pid'; sleep 1"
wait_until 10 "the relay exits once its parent is gone" -- sh -c \
    "! kill -0 \$(cat '$T/relay2.pid') 2>/dev/null" &&
    ok "the relay exits once its parent is gone"

relay_stop
daemon_stop && ok "SIGTERM: clean exit" || not_ok "SIGTERM: exit $?"
finish
