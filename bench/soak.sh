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
# test CA made here; interval-s = 10).  Meanwhile the primary Unbound is
# frozen for 40 s every 2 minutes, the collector is down 60 s out of every
# 120, and a name is blocked or unblocked in the hub's zone every 30 s.
#
# The rate: dnsperf first finds the highest rate resguardd answers in this
# very setup (20 s, unthrottled, BENCH_OUTSTANDING queries in flight: the
# usual dnsperf maximum, with dnsperf, both Unbound and the soak's helpers
# on the same CPUs), then sends half that rate for MINUTES, paced, with a
# 2 s time-out.  Paced queries cost every program more CPU than the
# maximum's back-to-back ones (fewer per wake-up: about twice as much for
# resguardd and dnsperf), so on a small machine half the maximum keeps it
# nearly as busy as the search did.  dnsperf uses BENCH_CLIENTS sockets:
# the kernel spreads them over resguardd's workers by a hash of their
# ports, and with a handful of them one worker may get most (with 4 and
# two workers, all four one time in eight), so that the maximum would
# measure that draw.
#
# Two things in the lab are set here for the load, in a copy of conf/lab
# (the lab itself is left as the system tests use it):
#  - both Unbound get 4 MiB socket buffers (so-rcvbuf, so-sndbuf): with
#    the system's 208 KiB, a resolver that is not scheduled for a few
#    milliseconds drops datagrams, and the soak would measure the lab;
#  - dnsperf gets 4 MiB socket buffers (-b) for the same reason, and at
#    most BENCH_SOAK_OUTSTANDING queries in flight (default: 40 ms of the
#    soak's rate, at least 2000): until it has sent that many, dnsperf
#    yields the CPU after every other query, so on a busy machine it
#    falls behind its rate and then sends what it owes at once (with
#    100,000: some 150,000 queries at three times the rate, which the
#    soak would measure instead of resguardd).  "queries sent" against
#    the planned count shows when dnsperf was held back by the cap.
# The soak's names are the lab's, which both Unbound answer from their
# cache (the negative answers from the validated NSEC records), and the
# blocked names resguardd answers itself.
#
# Prints queries sent, answered, SERVFAIL and lost; the datagrams the
# kernel dropped for want of buffer room, per program (resguardd's
# listeners and its upstream sockets, each Unbound, dnsperf); resguardd's
# resident memory (VmRSS, sampled every second; see below); the failovers
# it saw (within an outage or not); the events its journal holds against
# the events the collector took, and the spool left once the collector has
# been up for 60 s after the load; the CPU time each program used; with
# PASS or MISS against the targets (0 lost, memory growth < 5 %, every
# event delivered).  A benchmark: it exits 0 whatever the figures.
#
# Memory: resguardd's resident size grows while what it has allocated does
# not (heaptrack: 20 to 24 MB of heap in use from the first minute to the
# last, at 15,000 and at 65,000 queries/s).  Each new blocklist is built
# beside the one in use (the heap peaks at 27 to 41 MB with a
# 100,000-name list, every 10 s here); libc serves the largest buffers of
# a build by mmap(2) at first, then, having seen them freed, raises its
# threshold and serves them from its per-thread arenas, which keep the
# pages for the next peak.  So the resident size climbs towards the high
# water mark of those peaks, quickly at first, then in rarer steps.  The
# start is therefore taken after a warm-up of one whole
# cycle (BENCH_WARMUP_S, 120 s: an outage and its fail-back, the collector
# down and up, a dozen list updates), and each end is the mean over one
# cycle (shorter in a short run): the first after the warm-up against the
# last.  Growth between the two is what the target is about; the growth
# from the start of the load is printed too.  With the threshold fixed
# (BENCH_RG_ENV below) the resident size stayed flat after the warm-up
# (+0.4 % in 5 minutes at 65,000 queries/s, against +10 % without).
#
# Environment: BENCH_PORT_BASE (default 57300: resguardd on it, the lab on
# base+1..+5, the collector on base+20), BENCH_CLIENTS (32),
# BENCH_OUTSTANDING (200, for the rate search), BENCH_SOAK_OUTSTANDING
# (see above), BENCH_QPS (the soak's rate instead of half the highest),
# BENCH_WARMUP_S (120), BENCH_NAMES (100000), BENCH_RG_ENV (NAME=VALUE
# words for resguardd's environment, for instance
# GLIBC_TUNABLES=glibc.malloc.mmap_threshold=1048576, which keeps the
# blocklist's large buffers out of libc's arenas), BENCH_KEEP (1: keep the
# work directory).  Everything is on 127.0.0.1.
#
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
repo=$(cd "$here/.." && pwd -P)
BUILDDIR=${RG_BUILDDIR:-$repo}
PATH=$PATH:/usr/sbin:/sbin
FIXTURE=$repo/tests/system/report-fixture.py

MINUTES=${1:-10}
case $MINUTES in
'' | *[!0-9]* | 0) echo "usage: soak.sh [MINUTES]" >&2; exit 2 ;;
esac
DUR=$((MINUTES * 60))
BASE=${BENCH_PORT_BASE:-57300}
CLIENTS=${BENCH_CLIENTS:-32}
OUTSTANDING=${BENCH_OUTSTANDING:-200}
WARMUP=${BENCH_WARMUP_S:-120}
NAMES=${BENCH_NAMES:-100000}
RG_PORT=$BASE
FIX_PORT=$((BASE + 20))
TOGGLE=soak-toggle.lab.test
SOCKBUF_KB=4096		# dnsperf's socket buffers
MAX_S=20		# the rate search

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
LAB=$T/labsrc/conf/lab/lab.sh
RG_PID=
FIX_PID=
REW_PID=
PERF_PID=
MON_PID=
FROZEN=
LAB_UP=
cleanup() {
	local p
	trap - EXIT INT TERM
	for p in $PERF_PID $MON_PID $REW_PID $FIX_PID $RG_PID; do
		kill "$p" 2>/dev/null
	done
	for p in $PERF_PID $MON_PID $REW_PID $FIX_PID $RG_PID; do
		# resguardd gets 10 s to stop, then SIGKILL.
		for _ in $(seq 100); do
			kill -0 "$p" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	if [ -n "$LAB_UP" ]; then
		[ -n "$FROZEN" ] && "$LAB" thaw primary >/dev/null 2>&1
		"$LAB" stop >/dev/null 2>&1
	fi
	if [ "${BENCH_KEEP:-0}" = 1 ]; then
		echo "soak.sh: work directory kept: $T" >&2
	else
		rm -rf "$T"
	fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

# -- the lab, from a copy of conf/lab whose Unbound get large socket
# buffers (see above)
mkdir -p "$T/labsrc/conf" && cp -R "$repo/conf/lab" "$T/labsrc/conf/" ||
    die "cannot copy $repo/conf/lab"
for f in "$T"/labsrc/conf/lab/unbound-*.conf.in; do
	sed -i -e 's/^\([[:space:]]*\)so-reuseport: no$/&\
\1so-rcvbuf: 4m\
\1so-sndbuf: 4m/' "$f"
	grep -q 'so-rcvbuf: 4m' "$f" || die "could not set so-rcvbuf in $f"
done
export RG_LAB_DIR=$T/lab RG_LAB_PORT_BASE=$BASE
note "starting the lab in $T/lab (ports $BASE..$((BASE + 5)), collector $FIX_PORT;" \
    "Unbound with 4 MiB socket buffers)"
LAB_UP=1
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
# shellcheck disable=SC2086 # BENCH_RG_ENV is words: NAME=VALUE ...
env ${BENCH_RG_ENV:-} "$BUILDDIR/resguardd" -f -c "$T/resguard.conf" \
    > "$T/resguardd.log" 2>&1 &
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

# -- the monitor: every second, resguardd's resident size, the datagrams
# each program's sockets dropped for want of room (resguardd's upstream
# sockets come and go, so they are read while they live), and the CPU
# time of each program and of the machine.  It stops at the stop file.
python3 - "$T/mon" "$T/mon.stop" "$$" "$RG_PID" "$RG_PORT" "$RG_LAB_DIR" \
    "$FIX_PID" "$REW_PID" <<'EOF' > "$T/mon.log" 2>&1 &
import json, os, sys, time
out, stop, shell, rg, rg_port, lab, fix, rew = sys.argv[1:9]
HZ = os.sysconf("SC_CLK_TCK")

def read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None

def classify():
    # pid -> class, for the programs of this soak
    r = {rg: "resguardd", fix: "helpers", rew: "helpers"}
    for p in os.listdir("/proc"):
        if not p.isdigit() or p in r:
            continue
        cmd = read("/proc/%s/cmdline" % p)
        if not cmd:
            continue
        cmd = cmd.replace("\0", " ")
        if lab + "/primary/unbound.conf" in cmd:
            r[p] = "primary"
        elif lab + "/fallback/unbound.conf" in cmd:
            r[p] = "fallback"
        elif lab + "/root/nsd.conf" in cmd:
            r[p] = "nsd"
        elif cmd.startswith("dnsperf "):
            st = read("/proc/%s/stat" % p)
            if st and st.rsplit(")", 1)[1].split()[1] == shell:
                r[p] = "dnsperf"
    return r

def cpu_of(p):
    st = read("/proc/%s/stat" % p)
    if not st:
        return None
    x = st.rsplit(")", 1)[1].split()
    return (int(x[11]) + int(x[12])) / HZ

def inodes(p):
    s = set()
    try:
        fds = os.listdir("/proc/%s/fd" % p)
    except OSError:
        return s
    for fd in fds:
        try:
            l = os.readlink("/proc/%s/fd/%s" % (p, fd))
        except OSError:
            continue
        if l.startswith("socket:["):
            s.add(l[8:-1])
    return s

def machine():
    x = list(map(int, read("/proc/stat").split("\n", 1)[0].split()[1:]))
    # user nice system idle iowait irq softirq steal
    return {"busy": (sum(x[:8]) - x[3] - x[4]) / HZ,
            "softirq": x[6] / HZ, "idle": (x[3] + x[4]) / HZ}

def udp_errors():
    l = [x.split() for x in read("/proc/net/snmp").splitlines()
         if x.startswith("Udp:")]
    d = dict(zip(l[0][1:], l[1][1:]))
    return int(d.get("RcvbufErrors", 0))

drops = {}	# inode -> [class, drops]
cpu = {}	# pid -> [class, seconds]
pids = {}
n = 0
with open(out, "w") as f:
    while not os.path.exists(stop):
        if n % 5 == 0 or rg not in pids:
            pids = classify()
        n += 1
        own = {}
        for p, c in pids.items():
            v = cpu_of(p)
            if v is not None:
                cpu[p] = [c, v]
            for i in inodes(p):
                own[i] = c
        for path in ("/proc/net/udp", "/proc/net/udp6"):
            for line in (read(path) or "").splitlines()[1:]:
                x = line.split()
                if len(x) < 13 or x[9] not in own:
                    continue
                c = own[x[9]]
                if c == "resguardd":
                    port = int(x[1].split(":")[1], 16)
                    c = "rg-listen" if port == int(rg_port) else "rg-up"
                d = drops.setdefault(x[9], [c, 0])
                d[1] = max(d[1], int(x[-1]))
        rss = None
        for line in (read("/proc/%s/status" % rg) or "").splitlines():
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
        dsum, csum = {}, {}
        for c, v in drops.values():
            dsum[c] = dsum.get(c, 0) + v
        for c, v in cpu.values():
            csum[c] = csum.get(c, 0) + v
        f.write(json.dumps({"t": time.time(), "rss": rss, "drops": dsum,
                            "cpu": csum, "machine": machine(),
                            "rcvbuf_errors": udp_errors()}) + "\n")
        f.flush()
        time.sleep(1 - time.time() % 1)
EOF
MON_PID=$!

field() {
	sed -n "s/^ *$1: *\([0-9.]*\).*/\1/p" "$2" | head -n 1
}

note "$(nproc) CPUs; blocklist $entries rules; searching the highest rate ($MAX_S s)"
max_t0=$(date +%s)
dnsperf -s 127.0.0.1 -p "$RG_PORT" -d "$T/queries" -l "$MAX_S" -c "$CLIENTS" \
    -q "$OUTSTANDING" -t 2 -b "$SOCKBUF_KB" > "$T/max.out" 2>&1
max_t1=$(date +%s)
max_qps=$(field 'Queries per second' "$T/max.out")
max_qps=${max_qps%.*}
[ -n "$max_qps" ] && [ "$max_qps" -gt 0 ] 2>/dev/null ||
    { cat "$T/max.out"; die "no rate from dnsperf"; }
rate=${BENCH_QPS:-$((max_qps / 2))}
soak_q=${BENCH_SOAK_OUTSTANDING:-$((rate / 25 > 2000 ? rate / 25 : 2000))}
note "highest rate $max_qps queries/s; soaking at $rate queries/s for $MINUTES min" \
    "(at most $soak_q in flight)"
# Let the search's queries drain before the load.
sleep 3

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
print("%d %d %d %s %d" % (time.time(), g.get("servfail", 0),
      g.get("upstream_timeouts", 0), s.get("mode"), g.get("inflight", 0)))'
}

# -- the load, and what happens around it
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
t0=$(date +%s)
dnsperf -s 127.0.0.1 -p "$RG_PORT" -d "$T/queries" -l "$DUR" -c "$CLIENTS" \
    -Q "$rate" -q "$soak_q" -t 2 -b "$SOCKBUF_KB" -S 10 \
    > "$T/soak.out" 2> "$T/soak.err" &
PERF_PID=$!
recv=up
block_k=-1
outages=0
recv_downs=0
blocks=0
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
	if [ $((t % 5)) -eq 0 ] && [ "$t" -ne "$last_sample" ]; then
		last_sample=$t
		sample >> "$T/timeline"
	fi
	kill -0 "$RG_PID" 2>/dev/null || { note "resguardd died"; break; }
	sleep 1
done
wait "$PERF_PID" 2>/dev/null
PERF_PID=
t1=$(date +%s)
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
note "t=$((t1 - t0))s: load over"
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
: > "$T/mon.stop"
wait "$MON_PID" 2>/dev/null
MON_PID=

# -- figures
ctl --json status > "$T/status.json" 2>/dev/null
ctl --json events --limit 0 > "$T/events.json" 2>/dev/null
spool_files=$(find "$STATE/spool/hub" -maxdepth 1 -name '*.json' ! -name dropped.json 2>/dev/null | wc -l)

export T STATE MINUTES DUR WARMUP CLIENTS OUTAGE_EVERY OUTAGE_S RECV_DOWN_S \
    DRAIN_S rate max_qps soak_q outages recv_downs blocks load_before \
    load_after spool_files t0 t1 max_t0 max_t1 MAX_S OUTSTANDING
NCPU=$(nproc) python3 - <<'EOF'
import datetime, json, os, re

E = os.environ
T, STATE = E["T"], E["STATE"]
DUR, WARMUP, EVERY = int(E["DUR"]), int(E["WARMUP"]), int(E["OUTAGE_EVERY"])
WARMUP = min(WARMUP, DUR // 3)	# a short run keeps two thirds to compare
t0, t1 = int(E["t0"]), int(E["t1"])

def recs(path):
    out = []
    try:
        with open(path) as f:
            for l in f:
                try:
                    out.append(json.loads(l))
                except ValueError:
                    pass
    except OSError:
        pass
    return out

def verdict(ok):
    return "PASS" if ok else "MISS"

def perf(path):
    try:
        text = open(path).read()
    except OSError:
        text = ""
    def num(label):
        m = re.search(r"%s:\s+([0-9.]+)" % label, text)
        return int(float(m.group(1))) if m else 0
    codes = {}
    if "Response codes:" in text:
        line = text.split("Response codes:")[1].splitlines()[0]
        codes = dict((k, int(v)) for k, v in
                     re.findall(r"([A-Z]+) (\d+) \(", line))
    lat = re.search(r"Average Latency \(s\):\s+([0-9.]+) \(min ([0-9.]+), "
                    r"max ([0-9.]+)\)", text)
    return (num("Queries sent"), num("Queries completed"),
            num("Queries lost"), codes, lat, text)

sent, done, lost, codes, lat, text = perf(os.path.join(T, "soak.out"))
servfail = codes.get("SERVFAIL", 0)
rate = int(E["rate"])
planned = rate * DUR

print()
print("soak: %s min at %d queries/s (half of %s, the highest rate found in "
      "%s s with %s in flight), %s clients, at most %s in flight, 2 s "
      "time-out; %s primary outages of %s s, collector down %s times for "
      "%s s, %s RPZ changes" % (E["MINUTES"], rate, E["max_qps"],
      E["MAX_S"], E["OUTSTANDING"], E["CLIENTS"], E["soak_q"],
      E["outages"], E["OUTAGE_S"], E["recv_downs"], E["RECV_DOWN_S"],
      E["blocks"]))
print("machine: %s CPUs, load average %s at the start of the load, %s at "
      "its end%s" % (E["NCPU"], E["load_before"], E["load_after"],
      "; resguardd's environment: " + E["BENCH_RG_ENV"]
      if E.get("BENCH_RG_ENV") else ""))
print()
print("queries sent        %10d   (%.2f %% of the %d planned)" %
      (sent, sent * 100.0 / planned if planned else 0, planned))
print("answered            %10d   (%s)" % (done - servfail, ", ".join(
    "%s %d" % kv for kv in sorted(codes.items())) or "-"))
print("SERVFAIL            %10d" % servfail)
print("lost                %10d   target 0: %s" % (lost, verdict(
    sent > 0 and lost == 0)))
if lat:
    print("latency             mean %.3f ms, max %.3f ms" %
          (float(lat.group(1)) * 1000, float(lat.group(3)) * 1000))

# The monitor's samples, and the outages.
mon = recs(os.path.join(T, "mon"))
outages = []
for l in open(os.path.join(T, "outages")):
    x = l.split()
    if len(x) == 2:
        outages.append((int(x[0]), int(x[1])))
# An outage lasts from the freeze to the thaw; what follows within
# SLACK s (rise, fail-back hold) still belongs to it.
SLACK = 20
def in_outage(a, b):
    return any(a < o1 + SLACK and b > o0 for o0, o1 in outages)

def at(t):
    # the last sample at or before epoch t (the first one if none)
    best = mon[0] if mon else None
    for m in mon:
        if m["t"] <= t + 0.5:
            best = m
    return best

def delta(a, b, key, cls):
    return (b[key].get(cls, 0) if b else 0) - (a[key].get(cls, 0) if a else 0)

m0, m1 = at(t0), at(t1 + 2)
names = [("rg-listen", "resguardd's listening sockets"),
         ("rg-up", "resguardd's upstream sockets"),
         ("primary", "the primary Unbound's"),
         ("fallback", "the fallback Unbound's"),
         ("dnsperf", "dnsperf's")]
if m0 and m1:
    print("datagrams dropped for want of buffer room during the load: %s; "
          "all UDP sockets of the machine %d" % (", ".join(
          "%s %d" % (n, delta(m0, m1, "drops", c)) for c, n in names),
          m1["rcvbuf_errors"] - m0["rcvbuf_errors"]))
    # The primary's drops while it is frozen are resguardd's queries to a
    # stopped process, not lost client queries.
    fr = 0
    for o0, o1 in outages:
        a, b = at(o0), at(o1 + 2)
        fr += delta(a, b, "drops", "primary")
    if delta(m0, m1, "drops", "primary"):
        print("                    (the primary's: %d while it was frozen, "
              "%d otherwise)" % (fr, delta(m0, m1, "drops", "primary") - fr))

# Resident memory: see the head of this script.
rss = [(int(m["t"]) - t0, m["rss"]) for m in mon
       if m.get("rss") and t0 <= m["t"] <= t1]
W = min(EVERY, (DUR - WARMUP) // 2)
def mean(v):
    return sum(v) // len(v) if v else None
start = mean([r for t, r in rss if WARMUP <= t < WARMUP + W])
end = mean([r for t, r in rss if DUR - W <= t < DUR])
first = mean([r for t, r in rss if t < W])
idle = [m["rss"] for m in mon if m.get("rss") and m["t"] < t0]
after = [m["rss"] for m in mon if m.get("rss") and m["t"] > t1 + 2]
if start and end:
    growth = (end - start) * 100.0 / start
    print("resguardd VmRSS     %d kB after the %d s warm-up (mean of %d..%d "
          "s), %d kB at the end (mean of %d..%d s): growth %+.1f %%   "
          "target < 5 %%: %s" % (start, WARMUP, WARMUP, WARMUP + W, end,
          DUR - W, DUR, growth, verdict(growth < 5)))
    print("                    from the start of the load (mean of 0..%d s, "
          "%d kB): %+.1f %%; range under load %d..%d kB; %s kB before the "
          "rate search, %s kB %d s after the load" % (W, first,
          (end - first) * 100.0 / first, min(r for _, r in rss),
          max(r for _, r in rss), idle[0] if idle else "?",
          after[-1] if after else "?", int(E["DRAIN_S"])))
else:
    print("resguardd VmRSS     not measured (too few samples): MISS")

try:
    ctl_events = json.load(open(os.path.join(T, "events.json")))["events"]
except (OSError, ValueError, KeyError):
    ctl_events = []
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
    if len(x) >= 4:
        tl.append((int(x[0]), int(x[1]), int(x[2]),
                   int(x[4]) if len(x) > 4 else 0))
sf_in = sf_out = to_in = to_out = 0
for (a, s0, u0, _), (b, s1, u1, _) in zip(tl, tl[1:]):
    if in_outage(a, b):
        sf_in += s1 - s0
        to_in += u1 - u0
    else:
        sf_out += s1 - s0
        to_out += u1 - u0
print("resguardd SERVFAIL  %10d   in the outages (to %d s after the thaw), "
      "%d outside; upstream time-outs %d in, %d outside; queries in "
      "flight at most %d (sampled every 5 s)" % (sf_in + sf_out, SLACK,
      sf_out, to_in, to_out, max([x[3] for x in tl] or [0])))

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
    print("spool at the end    %10s   (queued, %s files, after the "
          "collector was up %s s; delivered %s, last error %s)" %
          (hub.get("queued"), E["spool_files"], E["DRAIN_S"],
           hub.get("delivered"), hub.get("last_error")))
    g = st.get("guard", {})
    print("resguardd counters  forwarded %s, hedged %s, retried %s, upstream "
          "time-outs %s, SERVFAIL %s, over the in-flight cap %s; mode at "
          "the end %s" % (g.get("forwarded"), g.get("hedged"),
          g.get("retried"), g.get("upstream_timeouts"), g.get("servfail"),
          g.get("overloaded"), st.get("mode")))
except (OSError, ValueError, IndexError):
    print("spool at the end    unknown (no status), %s files" % E["spool_files"])

# CPU: who had the machine, during the search and during the load.
def cpu_line(a, b, secs):
    if not a or not b:
        return "not measured"
    cls = [("resguardd", "resguardd"), ("primary", "primary Unbound"),
           ("fallback", "fallback Unbound"), ("nsd", "NSD"),
           ("dnsperf", "dnsperf"), ("helpers", "collector and list writer")]
    own = sum(delta(a, b, "cpu", c) for c, _ in cls)
    busy = b["machine"]["busy"] - a["machine"]["busy"]
    idle = b["machine"]["idle"] - a["machine"]["idle"]
    return "%s; the rest %.0f (the kernel's packet delivery, this script, " \
        "other programs on the machine); idle %.0f of %.0f" % (", ".join(
        "%s %.0f" % (n, delta(a, b, "cpu", c)) for c, n in cls),
        busy - own, idle, secs * int(E["NCPU"]))
print("CPU seconds         rate search: %s" % cpu_line(at(int(E["max_t0"])),
      at(int(E["max_t1"])), int(E["max_t1"]) - int(E["max_t0"])))
print("                    load: %s" % cpu_line(m0, m1, t1 - t0))
EOF
exit 0
