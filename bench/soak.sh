#!/usr/bin/env bash
#
# soak.sh [MINUTES] -- resguardd in guard mode under a steady load for
# MINUTES (default 10) while everything around it keeps changing.
#
# The lab runs with resguardd in front of it, fed by a domains list of
# about 100,000 names from a file that is rewritten every 10 s (a few
# hundred names change each time; refresh-s = 10), by the lab hub's RPZ
# zone (transfer with TSIG, NOTIFY), and reporting to an HTTPS collector
# (tests/system/report-fixture.py: client certificate, bearer token, a
# test CA made here; interval-s = 10).  dnsperf first finds the highest
# rate resguardd answers (20 s, unthrottled), then sends half that rate
# for MINUTES with a 2 s time-out.  Meanwhile the primary Unbound is
# frozen for 40 s every 2 minutes, the collector is down 60 s out of every
# 120, and a name is blocked or unblocked in the hub's zone every 30 s.
#
# Prints queries sent, answered, SERVFAIL and lost (with the datagrams the
# kernel dropped at resguardd's and at the primary's sockets), resguardd's
# resident memory (VmRSS, sampled every second; its mean over the first
# 120 s cycle of the schedule after the warm-up against its mean over the
# last one), the failovers it saw (within an outage or not), the events
# its journal holds against the events the collector took, and the spool
# left once the collector has been up for 60 s after the load, with PASS
# or MISS against the targets (0 lost, memory growth < 5 %, every event
# delivered).  A benchmark: it exits 0 whatever the figures.
#
# Environment: BENCH_PORT_BASE (default 57300: resguardd on it, the lab on
# base+1..+5, the collector on base+20), BENCH_CLIENTS (4),
# BENCH_OUTSTANDING (200, for the rate search), BENCH_QPS (the soak's rate
# instead of half the highest), BENCH_WARMUP_S (30), BENCH_NAMES (100000),
# BENCH_KEEP (1: keep the work directory).  Everything is on 127.0.0.1.
#
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
repo=$(cd "$here/.." && pwd -P)
BUILDDIR=${RG_BUILDDIR:-$repo}
PATH=$PATH:/usr/sbin:/sbin
LAB=$repo/conf/lab/lab.sh
FIXTURE=$repo/tests/system/report-fixture.py

MINUTES=${1:-10}
case $MINUTES in
'' | *[!0-9]* | 0) echo "usage: soak.sh [MINUTES]" >&2; exit 2 ;;
esac
DUR=$((MINUTES * 60))
BASE=${BENCH_PORT_BASE:-57300}
CLIENTS=${BENCH_CLIENTS:-4}
OUTSTANDING=${BENCH_OUTSTANDING:-200}
WARMUP=${BENCH_WARMUP_S:-30}
NAMES=${BENCH_NAMES:-100000}
RG_PORT=$BASE
FIX_PORT=$((BASE + 20))
TOGGLE=soak-toggle.lab.test

# The schedule, in seconds from the start of the load.
OUTAGE_EVERY=120
OUTAGE_AT=60		# first freeze
OUTAGE_S=40
RECV_AT=30		# the collector goes down first here
RECV_DOWN_S=60
RECV_EVERY=120
BLOCK_EVERY=30
DRAIN_S=60		# collector up after the load, before the spool is read

die() {
	echo "soak.sh: $*" >&2
	exit 1
}

note() {
	printf '# %s %s\n' "$(date +%H:%M:%S)" "$*"
}

for tool in dnsperf dig unbound nsd python3 openssl; do
	command -v $tool >/dev/null 2>&1 || die "$tool not found (apt-get install dnsperf unbound nsd dnsutils python3 openssl)"
done
[ -x "$BUILDDIR/resguardd" ] || die "build first: $BUILDDIR/resguardd is missing"
[ -x "$BUILDDIR/resguardctl" ] || die "build first: $BUILDDIR/resguardctl is missing"
export RG_PLUGIN_DIR=${RG_PLUGIN_DIR:-$BUILDDIR/plugins}
[ -f "$RG_PLUGIN_DIR/report-http/.libs/report-http.so" ] ||
    [ -f "$RG_PLUGIN_DIR/report-http.so" ] ||
    die "the report-http plugin is not built in $RG_PLUGIN_DIR"
# Only loopback: no proxy from the environment.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY \
    no_proxy NO_PROXY

T=$(mktemp -d "${TMPDIR:-/tmp}/rg-soak.XXXXXX") || exit 1
RG_PID=
FIX_PID=
REW_PID=
PERF_PID=
FROZEN=
cleanup() {
	local p
	trap - EXIT INT TERM
	for p in $PERF_PID $REW_PID $FIX_PID $RG_PID; do
		kill "$p" 2>/dev/null
	done
	for p in $PERF_PID $REW_PID $FIX_PID $RG_PID; do
		# resguardd gets 10 s to stop, then SIGKILL.
		for _ in $(seq 100); do
			kill -0 "$p" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	[ -n "$FROZEN" ] && "$LAB" thaw primary >/dev/null 2>&1
	"$LAB" stop >/dev/null 2>&1
	if [ "${BENCH_KEEP:-0}" = 1 ]; then
		echo "soak.sh: work directory kept: $T" >&2
	else
		rm -rf "$T"
	fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

export RG_LAB_DIR=$T/lab RG_LAB_PORT_BASE=$BASE
note "starting the lab in $T/lab (ports $BASE..$((BASE + 5)), collector $FIX_PORT)"
"$LAB" start > "$T/lab.log" 2>&1 || { cat "$T/lab.log"; die "cannot start the lab"; }
eval "$("$LAB" env)"
STATE=$RG_LAB_DIR/resguard/state
ctl() {
	"$BUILDDIR/resguardctl" -s "$RG_LAB_CONTROL_SOCKET" -t 5 "$@"
}

# -- the collector: a test CA, its certificate, the agent's, a token
mk_cert() {	# NAME CN EXT-FILE
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout "$T/$1.key" -out "$T/$1.csr" -subj "/CN=$2" 2>/dev/null &&
	openssl x509 -req -in "$T/$1.csr" -CA "$T/ca.pem" -CAkey "$T/ca.key" \
	    -CAcreateserial -days 2 -out "$T/$1.pem" -extfile "$3" 2>/dev/null
}
printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' > "$T/server.ext"
printf 'extendedKeyUsage=clientAuth\n' > "$T/client.ext"
openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$T/ca.key" -out "$T/ca.pem" -days 2 -subj "/CN=resguard soak test CA" \
    -addext basicConstraints=critical,CA:TRUE \
    -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null &&
    mk_cert server 127.0.0.1 "$T/server.ext" &&
    mk_cert client resguard-soak "$T/client.ext" ||
    die "cannot make the test certificates with openssl"
echo "soak-test-token-$(openssl rand -hex 12)" > "$T/token"

# receiver MODE: switch the collector (atomically: it polls the file)
receiver() {
	echo "$1" > "$T/mode.tmp" && mv "$T/mode.tmp" "$T/mode"
}
receiver up
python3 "$FIXTURE" https --port "$FIX_PORT" --cert "$T/server.pem" \
    --key "$T/server.key" --ca "$T/ca.pem" --token-file "$T/token" \
    --control "$T/mode" --ids "$T/ids" --log "$T/fixture.log" \
    --max-s $((DUR + 900)) > "$T/fixture.out" 2>&1 &
FIX_PID=$!
for _ in $(seq 100); do
	[ -f "$T/mode.ready" ] && break
	kill -0 "$FIX_PID" 2>/dev/null || { cat "$T/fixture.out"; die "the collector died"; }
	sleep 0.1
done
[ -f "$T/mode.ready" ] || die "the collector does not listen"

# -- the domains list and what rewrites it every 10 s: names below
# KEEP never change (the queries ask for some of them), a few hundred
# others are replaced by new ones each time.
python3 - "$T/list.txt" "$NAMES" $((DUR + 900)) <<'EOF' > "$T/rewriter.log" 2>&1 &
import os, random, sys, time
path, n, max_s = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
KEEP, CHANGE, EVERY = 1000, 300, 10.0
rnd = random.Random(20261130)
def name(i, gen):
    return "%s%d-%d.%s.soak.example" % ("".join(
        rnd.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(6)), i, gen,
        "eu" if i % 3 else "com")
names = ["stable%d.soak.example" % i if i < KEEP else name(i, 0)
         for i in range(n)]
def write():
    with open(path + ".tmp", "w") as f:
        f.write("# resguard soak list\n")
        for i, s in enumerate(names):
            f.write(("*." if i % 10 == 5 else "") + s + "\n")
    os.rename(path + ".tmp", path)
write()
gen, end = 0, time.monotonic() + max_s
while time.monotonic() < end:
    time.sleep(EVERY)
    gen += 1
    for i in rnd.sample(range(KEEP, n), CHANGE):
        names[i] = name(i, gen)
    write()
    print("generation %d" % gen, flush=True)
EOF
REW_PID=$!
for _ in $(seq 200); do
	[ -s "$T/list.txt" ] && break
	sleep 0.1
done
[ -s "$T/list.txt" ] || die "the list was not written"

# -- resguardd: the lab with the hub's RPZ feed, the list, the collector
"$LAB" hub-conf > "$T/hub.conf" || die "lab.sh hub-conf failed"
sed -e "s|^feeds = ( {|feeds = ( { name = \"soak\"; format = \"domains\"; source = \"file://$T/list.txt\"; refresh-s = 10; },\\
	{|" "$T/hub.conf" > "$T/resguard.conf"
grep -q 'name = "soak"' "$T/resguard.conf" || die "could not add the list to the feeds of $T/hub.conf"
cat >> "$T/resguard.conf" <<EOF

report = ( { name = "hub"; type = "http"; url = "https://127.0.0.1:$FIX_PORT/reports";
	interval-s = 10; timeout-ms = 3000; ca-file = "$T/ca.pem";
	client-cert-file = "$T/client.pem"; client-key-file = "$T/client.key";
	token-file = "$T/token"; } );
EOF
"$BUILDDIR/resguardd" -t -c "$T/resguard.conf" > "$T/conf-check.log" 2>&1 ||
    { cat "$T/conf-check.log"; die "resguardd rejects $T/resguard.conf"; }
"$BUILDDIR/resguardd" -f -c "$T/resguard.conf" > "$T/resguardd.log" 2>&1 &
RG_PID=$!

# status_py EXPR: EXPR (Python) on "resguardctl --json status" as s
status_py() {
	ctl --json status 2>/dev/null | python3 -c '
import json, sys
try:
    s = json.load(sys.stdin)
except ValueError:
    sys.exit(1)
r = eval(sys.argv[1])
if r is True:
    sys.exit(0)
if r is False or r is None:
    sys.exit(1)
print(r)' "$1"
}

note "waiting for resguardd: both feeds loaded, mode normal"
ready=
for _ in $(seq 600); do
	if status_py '(s["mode"] == "normal" and len(s["feeds"]) == 2 and
	    all(f["state"] == "ok" for f in s["feeds"]) and
	    s["blocklist"]["entries"] >= '"$((NAMES / 2))"')'; then
		ready=1
		break
	fi
	kill -0 "$RG_PID" 2>/dev/null || { tail -n 30 "$T/resguardd.log"; die "resguardd died"; }
	sleep 0.2
done
[ -n "$ready" ] || { ctl status; die "resguardd is not ready after 120 s"; }
entries=$(status_py 's["blocklist"]["entries"]')

cat > "$T/queries" <<EOF
www.lab.test A
www.lab.test AAAA
alias.lab.test A
who.lab.test TXT
nx.lab.test A
fallback.lab.test A
www.lab.test A
alias.lab.test A
stable1.soak.example A
x.stable5.soak.example A
malware.lab.test A
$TOGGLE A
EOF
# Warm the caches and resguardd's sockets.
dnsperf -s 127.0.0.1 -p "$RG_PORT" -d "$T/queries" -l 2 -Q 1000 > "$T/warm.out" 2>&1

field() {
	sed -n "s/^ *$1: *\([0-9.]*\).*/\1/p" "$2" | head -n 1
}

note "$(nproc) CPUs; blocklist $entries rules; searching the highest rate (20 s)"
dnsperf -s 127.0.0.1 -p "$RG_PORT" -d "$T/queries" -l 20 -c "$CLIENTS" \
    -q "$OUTSTANDING" -t 2 > "$T/max.out" 2>&1
max_qps=$(field 'Queries per second' "$T/max.out")
max_qps=${max_qps%.*}
[ -n "$max_qps" ] && [ "$max_qps" -gt 0 ] 2>/dev/null ||
    { cat "$T/max.out"; die "no rate from dnsperf"; }
rate=${BENCH_QPS:-$((max_qps / 2))}
note "highest rate $max_qps queries/s; soaking at $rate queries/s for $MINUTES min"

rss() {
	sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$RG_PID/status" 2>/dev/null
}

# udp_drops: datagrams the kernel dropped for want of room in a receive
# buffer, summed over resguardd's listening sockets and over the primary's
udp_drops() {
	python3 - "$RG_PORT" "$RG_LAB_PRIMARY_PORT" <<'EOF'
import sys
rg, pr = int(sys.argv[1]), int(sys.argv[2])
d = {rg: 0, pr: 0}
with open("/proc/net/udp") as f:
    for line in f.readlines()[1:]:
        x = line.split()
        port = int(x[1].split(":")[1], 16)
        if port in d:
            d[port] += int(x[-1])
print(d[rg], d[pr])
EOF
}

# sample: the time, resguardd's SERVFAIL and upstream time-out counters
# and its mode
sample() {
	ctl --json status 2>/dev/null | python3 -c '
import json, sys, time
try:
    s = json.load(sys.stdin)
except ValueError:
    sys.exit(0)
g = s.get("guard", {})
print("%d %d %d %s" % (time.time(), g.get("servfail", 0),
      g.get("upstream_timeouts", 0), s.get("mode")))'
}

# -- the load, and what happens around it
drops_before=$(udp_drops)
rss_idle_before=$(rss)
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
dnsperf -s 127.0.0.1 -p "$RG_PORT" -d "$T/queries" -l "$DUR" -c "$CLIENTS" \
    -Q "$rate" -q 100000 -t 2 > "$T/soak.out" 2> "$T/soak.err" &
PERF_PID=$!
t0=$(date +%s)
recv=up
block_k=-1
outages=0
recv_downs=0
blocks=0
: > "$T/rss"
: > "$T/outages"
: > "$T/timeline"
last_sample=-1
while kill -0 "$PERF_PID" 2>/dev/null; do
	t=$(($(date +%s) - t0))
	[ "$t" -gt $((DUR + 60)) ] && break	# dnsperf overran: give up
	# The primary: frozen in [OUTAGE_AT + k*EVERY, + OUTAGE_S).
	want=
	if [ "$t" -ge "$OUTAGE_AT" ] && [ "$t" -lt "$DUR" ] &&
	    [ $(((t - OUTAGE_AT) % OUTAGE_EVERY)) -lt "$OUTAGE_S" ]; then
		want=1
	fi
	if [ -n "$want" ] && [ -z "$FROZEN" ]; then
		"$LAB" freeze primary >> "$T/events.log" 2>&1 && FROZEN=1 &&
		    outages=$((outages + 1)) && note "t=${t}s: primary frozen" &&
		    printf '%s ' "$(date +%s)" >> "$T/outages"
	elif [ -z "$want" ] && [ -n "$FROZEN" ]; then
		"$LAB" thaw primary >> "$T/events.log" 2>&1 && FROZEN= &&
		    note "t=${t}s: primary thawed" &&
		    date +%s >> "$T/outages"
	fi
	# The collector: down in [RECV_AT + k*EVERY, + RECV_DOWN_S).
	want=up
	if [ "$t" -ge "$RECV_AT" ] && [ "$t" -lt "$DUR" ] &&
	    [ $(((t - RECV_AT) % RECV_EVERY)) -lt "$RECV_DOWN_S" ]; then
		want=down
	fi
	if [ "$want" != "$recv" ]; then
		receiver "$want"
		recv=$want
		[ "$want" = down ] && recv_downs=$((recv_downs + 1))
		note "t=${t}s: collector $want"
	fi
	# The hub's zone: block at 15 s, unblock at 45 s, and so on.
	if [ "$t" -ge 15 ]; then
		k=$(((t - 15) / BLOCK_EVERY))
		if [ "$k" -gt "$block_k" ]; then
			block_k=$k
			if [ $((k % 2)) -eq 0 ]; then how=block; else how=unblock; fi
			"$LAB" "$how" "$TOGGLE" >> "$T/events.log" 2>&1 &&
			    blocks=$((blocks + 1))
		fi
	fi
	r=$(rss)
	[ -n "$r" ] && echo "$t $r" >> "$T/rss"
	if [ $((t % 5)) -eq 0 ] && [ "$t" -ne "$last_sample" ]; then
		last_sample=$t
		sample >> "$T/timeline"
	fi
	kill -0 "$RG_PID" 2>/dev/null || { note "resguardd died"; break; }
	sleep 1
done
wait "$PERF_PID" 2>/dev/null
PERF_PID=
drops_after=$(udp_drops)
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
t=$(($(date +%s) - t0))
note "t=${t}s: load over"
if [ -n "$FROZEN" ]; then
	"$LAB" thaw primary >> "$T/events.log" 2>&1 && FROZEN= &&
	    date +%s >> "$T/outages"
fi
sample >> "$T/timeline"
if [ "$recv" != up ]; then
	receiver up
	recv=up
fi
kill -0 "$RG_PID" 2>/dev/null || { tail -n 30 "$T/resguardd.log"; die "resguardd died"; }
note "the collector is up; reading the spool in $DRAIN_S s"
sleep "$DRAIN_S"
rss_idle_after=$(rss)

# -- figures
ctl --json status > "$T/status.json" 2>/dev/null
ctl --json events --limit 0 > "$T/events.json" 2>/dev/null
spool_files=$(find "$STATE/spool/hub" -maxdepth 1 -name '*.json' ! -name dropped.json 2>/dev/null | wc -l)

python3 - "$T" "$STATE" <<EOF
import datetime, json, os, re, sys
T, STATE = sys.argv[1], sys.argv[2]

def recs(path):
    try:
        with open(path) as f:
            out = []
            for l in f:
                try:
                    out.append(json.loads(l))
                except ValueError:
                    pass
            return out
    except OSError:
        return []

def verdict(ok):
    return "PASS" if ok else "MISS"

text = open(os.path.join(T, "soak.out")).read()
def num(label):
    m = re.search(r"%s:\s+([0-9.]+)" % label, text)
    return int(float(m.group(1))) if m else 0
sent, done, lost = num("Queries sent"), num("Queries completed"), num("Queries lost")
codes = {}
if "Response codes:" in text:
    line = text.split("Response codes:")[1].splitlines()[0]
    codes = dict((k, int(v)) for k, v in re.findall(r"([A-Z]+) (\d+) \(", line))
servfail = codes.get("SERVFAIL", 0)
lat = re.search(r"Average Latency \(s\):\s+([0-9.]+) \(min ([0-9.]+), max ([0-9.]+)\)", text)

print()
print("soak: $MINUTES min at $rate queries/s (half of $max_qps), $CLIENTS clients, "
      "2 s time-out; $outages primary outages of ${OUTAGE_S} s, collector down "
      "$recv_downs times for ${RECV_DOWN_S} s, $blocks RPZ changes")
print("machine: $(nproc) CPUs, load average $load_before at the start of "
      "the load, $load_after at its end")
print()
print("queries sent        %10d" % sent)
print("answered            %10d   (%s)" % (done - servfail, ", ".join(
    "%s %d" % kv for kv in sorted(codes.items())) or "-"))
print("SERVFAIL            %10d" % servfail)
print("lost                %10d   target 0: %s" % (lost, verdict(lost == 0)))
d0, d1 = "$drops_before".split(), "$drops_after".split()
print("receive-buffer drops during the load: resguardd's listening sockets %d, "
      "the primary Unbound's %d" % (int(d1[0]) - int(d0[0]), int(d1[1]) - int(d0[1])))
if lat:
    print("latency             mean %.3f ms, max %.3f ms" %
          (float(lat.group(1)) * 1000, float(lat.group(3)) * 1000))

# Resident memory moves with the load, and in steps with each new
# blocklist (built beside the old one), so each end is the mean over one
# whole cycle of the schedule (120 s, shorter in a short run): the first
# after the warm-up and the last.
rss = [tuple(map(int, l.split())) for l in open(os.path.join(T, "rss")) if l.strip()]
W = min($OUTAGE_EVERY, ($DUR - $WARMUP) // 2)
def mean(v):
    return sum(v) // len(v) if v else None
start = mean([r for t, r in rss if $WARMUP <= t < $WARMUP + W])
end = mean([r for t, r in rss if $DUR - W <= t < $DUR])
if start and end:
    growth = (end - start) * 100.0 / start
    print("resguardd VmRSS     %d kB after the warm-up (mean of %d..%d s), "
          "%d kB at the end (mean of %d..%d s): growth %+.1f %%   "
          "target < 5 %%: %s" % (start, $WARMUP, $WARMUP + W, end, $DUR - W,
          $DUR, growth, verdict(growth < 5)))
    print("                    range under load %d..%d kB; idle %s kB before "
          "the load, %s kB after it" % (min(r for _, r in rss),
          max(r for _, r in rss), "$rss_idle_before" or "?",
          "$rss_idle_after" or "?"))
else:
    print("resguardd VmRSS     not measured (too few samples): MISS")

try:
    ctl_events = json.load(open(os.path.join(T, "events.json")))["events"]
except (OSError, ValueError, KeyError):
    ctl_events = []
# An outage lasts from the freeze to the thaw; what follows within
# SLACK s (rise, fail-back hold) still belongs to it.
SLACK = 20
outages = []
for l in open(os.path.join(T, "outages")):
    x = l.split()
    if len(x) == 2:
        outages.append((int(x[0]), int(x[1])))
def in_outage(a, b):
    return any(a < t1 + SLACK and b > t0 for t0, t1 in outages)
def epoch(iso):
    t = datetime.datetime.strptime(iso, "%Y-%m-%dT%H:%M:%S.%fZ")
    return t.replace(tzinfo=datetime.timezone.utc).timestamp()
mode = [e for e in ctl_events if e.get("type") == "mode"]
fo = [e for e in mode if e.get("new") != "normal"]
fb = [e for e in mode if e.get("new") == "normal"]
fo_in = [e for e in fo if in_outage(epoch(e["time"]), epoch(e["time"]))]
print("failovers seen      %10d   (%d in the %d outages, %d outside them; "
      "%d back to normal)" % (len(fo), len(fo_in), len(outages),
      len(fo) - len(fo_in), len(fb)))
tl = []
for l in open(os.path.join(T, "timeline")):
    x = l.split()
    if len(x) == 4:
        tl.append((int(x[0]), int(x[1]), int(x[2])))
sf_in = sf_out = to_in = to_out = 0
for (a, s0, u0), (b, s1, u1) in zip(tl, tl[1:]):
    if in_outage(a, b):
        sf_in += s1 - s0
        to_in += u1 - u0
    else:
        sf_out += s1 - s0
        to_out += u1 - u0
print("resguardd SERVFAIL  %10d   in the outages (to %d s after the thaw), "
      "%d outside; upstream time-outs %d in, %d outside" %
      (sf_in, SLACK, sf_out, to_in, to_out))

journal = recs(os.path.join(STATE, "events.jsonl.1")) + \
    recs(os.path.join(STATE, "events.jsonl"))
gen = set(e["id"] for e in journal if "id" in e)
got = recs(os.path.join(T, "ids"))
ev = [g for g in got if g.get("kind") == "event"]
uniq = set(g["id"] for g in ev)
missing = gen - uniq
types = {}
for e in journal:
    types[e.get("type")] = types.get(e.get("type"), 0) + 1
print("events generated    %10d   (%s)" % (len(gen), ", ".join(
    "%s %d" % kv for kv in sorted(types.items()))))
print("events delivered    %10d   (%d received, %d duplicates; %d missing, "
      "%d not in the journal)   target all: %s" % (len(uniq & gen), len(ev),
      len(ev) - len(uniq), len(missing), len(uniq - gen),
      verdict(not missing and gen)))
other = {}
for g in got:
    if g.get("kind") != "event":
        other[g.get("kind")] = other.get(g.get("kind"), 0) + 1
if other:
    print("other reports taken %s" % ", ".join("%s %d" % kv for kv in sorted(other.items())))
try:
    st = json.load(open(os.path.join(T, "status.json")))
    hub = [r for r in st.get("reporters", []) if r.get("name") == "hub"][0]
    print("spool at the end    %10s   (queued, $spool_files files, after the "
          "collector was up $DRAIN_S s; delivered %s, last error %s)" %
          (hub.get("queued"), hub.get("delivered"), hub.get("last_error")))
    g = st.get("guard", {})
    print("resguardd counters  forwarded %s, hedged %s, retried %s, upstream "
          "time-outs %s, SERVFAIL %s; mode at the end %s" % (g.get("forwarded"),
          g.get("hedged"), g.get("retried"), g.get("upstream_timeouts"),
          g.get("servfail"), st.get("mode")))
except (OSError, ValueError, IndexError):
    print("spool at the end    unknown (no status), $spool_files files")
EOF
exit 0
