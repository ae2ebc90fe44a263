#!/usr/bin/env bash
#
# feeds.sh -- what applying a large feed costs: parse and build time and
# memory for each feed format, and the stall that swapping a new
# blocklist under load causes in guard mode.
#
# bench/feeds.sh [apply | swap | all]          (default: all)
#
# apply: runs bench/feeds, which makes a 1,000,000-rule RPZ zone, a
# 1,000,000-line domains list and a 100,000-indicator STIX 2.1 bundle and
# applies each in a child process of its own (rpz and stix2 through their
# plugins, the list through the built-in parser, then the snapshot build),
# printing time, rules per second, peak and final resident size, and the
# targets: under 2 s each, peak at most 2.5 times the size after.
#
# swap: starts the lab (conf/lab/lab.sh) and resguardd in guard mode in
# front of it with a domains feed of BENCH_NAMES (1,000,000) names read
# from a file, then makes two runs of BENCH_SECONDS (30) each, under the
# same load: dnsperf at BENCH_QPS (20,000) queries per second (lab names,
# forwarded to the lab's Unbound and answered from its cache, and listed
# names, answered from the blocklist), and beside it a probe, bench/feeds
# --probe, that sends a query for a listed name every millisecond over 16
# sockets (SO_REUSEPORT spreads them over the workers) and times each
# reply.  The first run is the baseline.  In the second, BENCH_SWAPS (4)
# times at even intervals, the feed file is replaced (rename(2) of a new
# version: the same names and a thousand new ones, so every version is a
# real change; all versions are written before the runs) and
# "resguardctl feeds refresh" is run: resguardd reads
# the file, checks it, parses it, builds a new snapshot in its thread
# pool and publishes it while the workers answer.
#
# The stall.  A worker that stops holds every query it receives meanwhile,
# so the slowest probe query is the longest stall of a worker plus one
# round trip; the probe's one-millisecond spacing bounds what it can miss
# to that, and the longest gap between two of its replies says the same
# from the other side.  The probe takes both times from the kernel
# (SO_TIMESTAMPING: when the query left, when the reply came in), so its
# own scheduling on a busy machine does not count; how late it sent is
# shown apart.  resguardd logs each publication with its time (to
# the millisecond) and how long the job took since it was started; a probe
# query counts as sent during a swap when it went out between the start of
# a job and a second after its publication (the old snapshot is freed once
# every worker has moved on, at the main loop's next tick: the lab's
# health interval is 500 ms), and as sent at a publication when within
# 50 ms before and 200 ms after it.  The report gives the
# slowest probe query at publications, during swaps, and outside them,
# beside the baseline run's, and dnsperf's own maximum and 99.9th
# percentile latency (from -v, each query's time) for both runs.  Target:
# no stall over 5 ms, judged on the slowest probe query sent during a
# swap; it asserts nothing.  On a small or busy machine the baseline's
# slowest query is the noise floor: a figure during swaps near it is
# scheduling, not the swap.
#
# The workers' own measure, beside it: each worker times every turn of its
# loop away from its sockets, on the wall clock and on its thread's CPU
# clock (resguardctl status --json, guard.stalls).  The count of turns
# over 5 ms on a CPU during the swap run is resguardd's own stall, which
# scheduling cannot make up: the target's verdict on it is printed too.
#
# Environment: RG_BUILDDIR (default the source tree), BENCH_PORT_BASE
# (58300: the lab on base+1..base+5, resguardd on base+10), BENCH_SECONDS,
# BENCH_QPS, BENCH_CLIENTS (4), BENCH_THREADS (resguardd's workers;
# default: CPUs), BENCH_NAMES, BENCH_SWAPS, and for apply BENCH_RPZ,
# BENCH_DOMAINS, BENCH_STIX (rules, lines and indicators); BENCH_KEEP, a
# directory where the swap's raw figures stay (each probe query, the
# publications, resguardd's log, dnsperf's output).  Everything listens on
# 127.0.0.1; everything started is stopped on exit.
#
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
repo=$(cd "$here/.." && pwd -P)
BUILDDIR=${RG_BUILDDIR:-$repo}
PATH=$PATH:/usr/sbin:/sbin
LAB=$repo/conf/lab/lab.sh
BIN=$BUILDDIR/bench/feeds
RG_PLUGIN_DIR=${RG_PLUGIN_DIR:-$BUILDDIR/plugins}
export RG_PLUGIN_DIR

WHAT=${1:-all}
BASE=${BENCH_PORT_BASE:-58300}
SECS=${BENCH_SECONDS:-30}
QPS=${BENCH_QPS:-20000}
CLIENTS=${BENCH_CLIENTS:-4}
THREADS=${BENCH_THREADS:-$(nproc)}
NAMES=${BENCH_NAMES:-1000000}
SWAPS=${BENCH_SWAPS:-4}
RG_PORT=$((BASE + 10))
PROBE_NAME=probe.feeds.bench.test
STALL_MS=5

die() {
	echo "feeds.sh: $*" >&2
	exit 1
}

case $WHAT in
apply | swap | all) ;;
*) die "usage: feeds.sh [apply | swap | all]" ;;
esac
[ -x "$BIN" ] || die "build first: $BIN is missing (make bench/feeds)"

echo "# $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"

if [ "$WHAT" != swap ]; then
	echo "== apply: bench/feeds"
	"$BIN" --rpz "${BENCH_RPZ:-1000000}" --domains "${BENCH_DOMAINS:-1000000}" \
	    --stix "${BENCH_STIX:-100000}"
	echo
fi
[ "$WHAT" = apply ] && exit 0

for tool in dnsperf dig unbound nsd python3; do
	command -v $tool >/dev/null 2>&1 ||
	    die "$tool not found (apt-get install dnsperf unbound nsd dnsutils)"
done
[ -x "$BUILDDIR/resguardd" ] || die "build first: $BUILDDIR/resguardd is missing"
[ -x "$BUILDDIR/resguardctl" ] || die "build first: $BUILDDIR/resguardctl is missing"
if [ "$SECS" -lt 5 ] || [ "$SECS" -gt 60 ]; then
	die "BENCH_SECONDS: 5 to 60"
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/rg-bench-feeds.XXXXXX") || exit 1
RG_PID=
BG_PIDS=
cleanup() {
	for p in $BG_PIDS; do
		kill "$p" 2>/dev/null
	done
	[ -n "$RG_PID" ] && kill "$RG_PID" 2>/dev/null && wait "$RG_PID" 2>/dev/null
	RG_LAB_DIR=$T/lab "$LAB" stop >/dev/null 2>&1
	if [ -n "${BENCH_KEEP:-}" ] && mkdir -p "$BENCH_KEEP"; then
		cp "$T"/raw.* "$T"/pub.* "$T"/probe.* "$T"/dnsperf.* \
		    "$T"/resguardd.log "$BENCH_KEEP"/ 2>/dev/null
	fi
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

export RG_LAB_DIR=$T/lab RG_LAB_PORT_BASE=$BASE
"$LAB" start >"$T/lab.log" 2>&1 || { cat "$T/lab.log"; die "cannot start the lab"; }
eval "$("$LAB" env)"

echo "== swap: writing $NAMES names"
"$BIN" --write-domains "$T/base.txt" "$NAMES" || die "cannot write the list"
echo "$PROBE_NAME" >>"$T/base.txt"

# Version K: the base list and a thousand names of its own.  All are
# written before the runs, and put in place by rename(2) during them: the
# bench's own work stays out of the figures, and resguardd never reads
# half a file.
for k in $(seq 0 "$SWAPS"); do
	{
		cat "$T/base.txt"
		awk -v k="$k" 'BEGIN {
			for (i = 0; i < 1000; i++)
				printf("v%d-%d.swap.bench.test\n", k, i)
		}'
	} >"$T/list.$k" || die "cannot write version $k of the list"
done
mv "$T/list.0" "$T/list.txt"

# -- resguardd: the lab's configuration in guard mode, with the feed
sed -e "s|^\([[:space:]]*\)listen = \[.*\];|\1listen = [ \"127.0.0.1@$RG_PORT\" ];\\
\1threads = $THREADS;|" "$RG_LAB_CONF" >"$T/resguard.conf"
cat >>"$T/resguard.conf" <<EOF
feeds = ( { name = "bench"; format = "domains"; source = "file://$T/list.txt";
	refresh-s = 604800; } );
EOF
"$BUILDDIR/resguardd" -f -c "$T/resguard.conf" >"$T/resguardd.log" 2>&1 &
RG_PID=$!
ctl() {
	"$BUILDDIR/resguardctl" -s "$RG_LAB_CONTROL_SOCKET" "$@"
}
entries() {
	local v
	v=$(ctl --json status 2>/dev/null | python3 -c \
	    'import json,sys; print(json.load(sys.stdin)["blocklist"]["entries"])' \
	    2>/dev/null | tail -n 1)
	case $v in
	'' | *[!0-9]*) echo 0 ;;
	*) echo "$v" ;;
	esac
}
n=0
for _ in $(seq 600); do
	n=$(entries)
	[ "${n:-0}" -gt "$NAMES" ] && break
	kill -0 "$RG_PID" 2>/dev/null || { cat "$T/resguardd.log"; die "resguardd died"; }
	sleep 0.2
done
[ "${n:-0}" -gt "$NAMES" ] || die "the blocklist did not load ($n rules)"
st=$(dig @127.0.0.1 -p "$RG_PORT" +time=2 +tries=1 "$PROBE_NAME" A 2>/dev/null |
    sed -n 's/.*status: \([A-Z]*\),.*/\1/p')
[ "$st" = NXDOMAIN ] || die "$PROBE_NAME is not blocked (status ${st:-none})"

{
	cat <<-'EOF'
	www.lab.test A
	www.lab.test AAAA
	alias.lab.test A
	who.lab.test TXT
	nx.lab.test A
	fallback.lab.test A
	EOF
	grep -v '^[#*]' "$T/base.txt" | sed -n '2p;500000p' | sed 's/$/ A/'
} >"$T/queries"
dnsperf -s 127.0.0.1 -p "$RG_PORT" -d "$T/queries" -l 2 -Q 2000 >/dev/null 2>&1

# ISO time of resguardd's log (UTC, milliseconds) to seconds since the epoch.
log_epoch() {
	date -u -d "$1" +%s.%3N
}

# "TID CPU_NS WAIT_NS" of each thread of resguardd (schedstat: time on a
# CPU, time runnable but waiting for one).
sched() {
	local f
	for f in /proc/"$RG_PID"/task/*/schedstat; do
		echo "$(basename "$(dirname "$f")") $(cut -d' ' -f1-2 "$f")"
	done 2>/dev/null
}

# Pressure stall totals of the whole machine (PSI), in microseconds: "CPU
# some, memory some, I/O some, I/O full"; empty without PSI.
psi() {
	[ -r /proc/pressure/cpu ] || return 0
	echo "$(sed -n 's/^some .*total=//p' /proc/pressure/cpu)" \
	    "$(sed -n 's/^some .*total=//p' /proc/pressure/memory)" \
	    "$(sed -n 's/^some .*total=//p' /proc/pressure/io)" \
	    "$(sed -n 's/^full .*total=//p' /proc/pressure/io)"
}

# The workers' own measure of their stalls (resguardctl status --json,
# guard.stalls): turns of a worker's loop over 1, 5 and 20 ms on the wall
# clock, the same on a CPU, then the longest since the start, wall and CPU.
stalls() {
	ctl --json status | python3 -c '
import json, sys
g = json.load(sys.stdin)["guard"]; s = g["stalls"]; m = g["stall_max_ms"]
print(*[s["over_%dms" % k] for k in (1, 5, 20)],
    *[s["cpu_over_%dms" % k] for k in (1, 5, 20)], m["wall"], m["cpu"])'
}

# run NAME SWAPS: one run of dnsperf and the probe, SWAPS refreshes in it.
run() {
	local name=$1 swaps=$2 k iv lines
	lines=$(wc -l <"$T/resguardd.log")
	sched >"$T/sched0.$name"
	psi >"$T/psi0.$name"
	stalls >"$T/stalls0.$name"
	dnsperf -s 127.0.0.1 -p "$RG_PORT" -d "$T/queries" -l "$SECS" \
	    -c "$CLIENTS" -Q "$QPS" -v >"$T/dnsperf.$name" 2>&1 &
	local dp=$!
	"$BIN" --probe "$RG_PORT" "$SECS" "$PROBE_NAME" --out "$T/raw.$name" \
	    >"$T/probe.$name" 2>&1 &
	local pr=$!
	BG_PIDS="$dp $pr"
	if [ "$swaps" -gt 0 ]; then
		iv=$(awk -v s="$SECS" -v n="$swaps" 'BEGIN { printf("%.2f", s / (n + 1)) }')
		for k in $(seq "$swaps"); do
			sleep "$iv"
			mv "$T/list.$k" "$T/list.txt"
			ctl feeds refresh bench >/dev/null ||
			    echo "feeds.sh: refresh $k refused" >&2
		done
	fi
	wait "$pr"
	wait "$dp"
	BG_PIDS=
	sched >"$T/sched1.$name"
	psi >"$T/psi1.$name"
	stalls >"$T/stalls1.$name"
	# The publications of this run: "EPOCH JOB_SECONDS" each.
	tail -n +"$((lines + 1))" "$T/resguardd.log" |
	    sed -n 's/^\([0-9T:.-]*Z\) .*blocklist of .* rules published .*built in \([0-9]*\) ms.*/\1 \2/p' |
	    while read -r ts ms; do
		echo "$(log_epoch "$ts") $ms"
	    done >"$T/pub.$name"
	awk '$1 == ">" && $2 != "T" { print $NF }' "$T/dnsperf.$name" | sort -g >"$T/dplat.$name"
}

field() {
	sed -n "s/^$1: *\([0-9.]*\).*/\1/p" "$2" | head -n 1
}

# windows NAME: publications, slowest probe query at them, during swaps and
# outside, queries during swaps; then the queries over STALL_MS during swaps
# and outside, and the queries outside.
windows() {
	awk -v pubs="$T/pub.$1" -v lim="$STALL_MS" '
		BEGIN {
			while ((getline l < pubs) > 0) {
				split(l, f, " ")
				n++; p[n] = f[1]; job[n] = f[2] / 1000
			}
		}
		$2 < 0 { lost++; next }
		{
			atpub = 0; during = 0
			for (i = 1; i <= n; i++) {
				if ($1 >= p[i] - 0.05 && $1 <= p[i] + 0.2)
					atpub = 1
				if ($1 >= p[i] - job[i] && $1 <= p[i] + 1.0)
					during = 1
			}
			if (atpub && $2 > mp) mp = $2
			if (during && $2 > md) md = $2
			if (during) nd++
			if (during && $2 * 1000 > lim) sd++
			if (!during && $2 > mo) mo = $2
			if (!during) no++
			if (!during && $2 * 1000 > lim) so++
		}
		END {
			printf("%d %.3f %.3f %.3f %d %d %d %d\n", n, mp * 1000,
			    md * 1000, mo * 1000, nd, sd, so, no)
		}' "$T/raw.$1"
}

dp_stats() {
	awk '{ v[NR] = $1 } END {
		if (NR == 0) { print "0 0 0"; exit }
		i = int(NR * 0.999); if (i < 1) i = 1
		printf("%d %.3f %.3f\n", NR, v[i] * 1000, v[NR] * 1000) }' "$T/dplat.$1"
}

echo "== swap: $n rules; $THREADS workers; $SECS s per run; dnsperf at $QPS qps," \
    "$CLIENTS clients; probe every 1 ms"
run base 0
run swap "$SWAPS"

printf '\n%-6s %7s %7s %8s %8s %8s %8s %8s | %8s %8s %9s\n' "run" "probe" "lost" \
    "p99 ms" "p99.9 ms" "max ms" "gap ms" "late ms" "dnsperf" "p99.9 ms" "max ms"
for r in base swap; do
	read -r dn dp999 dmax <<<"$(dp_stats $r)"
	printf '%-6s %7s %7s %8s %8s %8s %8s %8s | %8s %8s %9s\n' "$r" \
	    "$(field 'probe queries' "$T/probe.$r")" \
	    "$(field 'probe lost' "$T/probe.$r")" \
	    "$(field 'probe latency p99 ms' "$T/probe.$r")" \
	    "$(field 'probe latency p99.9 ms' "$T/probe.$r")" \
	    "$(field 'probe latency max ms' "$T/probe.$r")" \
	    "$(field 'probe reply gap max ms' "$T/probe.$r")" \
	    "$(field 'probe send late max ms' "$T/probe.$r")" \
	    "$dn" "$dp999" "$dmax"
done
echo "(late: the most the probe itself sent after its time: its own scheduling)"
grep -h '^probe send late' "$T/probe.swap" | sed 's/^probe /swap run, probe /'
for r in base swap; do
	echo "$r: $(grep -h '^probe kernel stamps' "$T/probe.$r" | sed 's/^probe //');" \
	    "resguardd threads: $(awk '
		NR == FNR { c[$1] = $2; w[$1] = $3; next }
		{ dc = $2 - c[$1]; dw = $3 - w[$1]; tc += dc; tw += dw
		  if (dc > 1e9) { nb++; bc += dc; bw += dw } }
		END { printf("%.1f s on a CPU, %.1f s waiting for one; of them" \
		    " the %d busiest (over 1 s each: workers, builder): %.1f s and" \
		    " %.1f s", tc / 1e9, tw / 1e9, nb, bc / 1e9, bw / 1e9) }' \
	    "$T/sched0.$r" "$T/sched1.$r")"
	if [ -s "$T/psi0.$r" ]; then
		echo "$r: machine, share of the run with some task waiting:" \
		    "$(paste -d' ' "$T/psi0.$r" "$T/psi1.$r" | awk -v s="$SECS" '{
			printf("for a CPU %.0f%%, for memory %.0f%%, for I/O %.0f%%" \
			    " (every task: %.1f%%)", ($5 - $1) / s / 1e4,
			    ($6 - $2) / s / 1e4, ($7 - $3) / s / 1e4,
			    ($8 - $4) / s / 1e4) }')"
	fi
done
echo
echo "the workers' own count of loop turns that kept them from their sockets" \
    "(wall clock; on a CPU):"
for r in base swap; do
	paste -d' ' "$T/stalls0.$r" "$T/stalls1.$r" | awk -v r="$r" '{
		printf("%s: over 1 ms %d, over 5 ms %d, over 20 ms %d; on a CPU" \
		    " over 1 ms %d, over 5 ms %d, over 20 ms %d; longest: %s, on a" \
		    " CPU %s\n", r, $9 - $1, $10 - $2, $11 - $3, $12 - $4,
		    $13 - $5, $14 - $6,
		    $15 > $7 ? sprintf("%.3f ms", $15) : sprintf("<= %.3f ms", $7),
		    $16 > $8 ? sprintf("%.3f ms", $16) : sprintf("<= %.3f ms", $8))
		}'
done
paste -d' ' "$T/stalls0.swap" "$T/stalls1.swap" "$T/stalls0.base" \
    "$T/stalls1.base" | awk -v t="$STALL_MS" '{
	c = $13 - $5; w = $10 - $2; bw = $26 - $18
	printf("%s worker stall: %d turns over %d ms on a CPU during the swap" \
	    " run (wall clock: %d, baseline run %d)\n", c == 0 ? "PASS" : "MISS",
	    c, t, w, bw) }'
nb=$(field 'probe not blocked' "$T/probe.swap")
[ "${nb:-0}" -eq 0 ] || echo "warning: $nb probe replies were not NXDOMAIN during the swaps"

read -r npub mpub mdur mout ndur sdur sout nout <<<"$(windows swap)"
read -r _ _ _ bmax _ _ sbase nbase <<<"$(windows base)"
echo
echo "swap run: $npub publications of a new blocklist (asked: $SWAPS); jobs took" \
    "$(awk '{ printf("%s%d", NR > 1 ? ", " : "", $2) } END { if (NR == 0) printf("-") }' "$T/pub.swap") ms"
echo "slowest probe query: at a publication $mpub ms, during a swap $mdur ms" \
    "($ndur queries), outside swaps $mout ms; baseline run" \
    "$(field 'probe latency max ms' "$T/probe.base") ms"
awk -v sd="$sdur" -v nd="$ndur" -v so="$sout" -v no="$nout" -v sb="$sbase" \
    -v nb="$nbase" -v lim="$STALL_MS" 'BEGIN {
	printf("probe queries over %d ms: during swaps %d of %d (%.2f%%), outside" \
	    " swaps %d of %d (%.2f%%), baseline run %d of %d (%.2f%%)\n", lim,
	    sd, nd, nd ? 100 * sd / nd : 0, so, no, no ? 100 * so / no : 0,
	    sb, nb, nb ? 100 * sb / nb : 0) }'
grep -h '^probe slow' "$T/probe.swap" | sed 's/^/  swap run, /'
awk -v pubs="$T/pub.swap" -v t0="$(head -n 1 "$T/raw.swap" | cut -d' ' -f1)" \
    'BEGIN { while ((getline l < pubs) > 0) { split(l, f, " ")
	printf("  publication at %.3f s (job started at %.3f s)\n", f[1] - t0,
	    f[1] - f[2] / 1000 - t0) } }'
if [ "$npub" -eq 0 ]; then
	echo "MISS stall: no publication was seen during the swap run"
else
	awk -v d="$mdur" -v b="$bmax" -v t="$STALL_MS" 'BEGIN {
		printf("%s stall: slowest query during a swap %.3f ms (target <= %d ms;" \
		    " baseline slowest %.3f ms%s)\n", d <= t ? "PASS" : "MISS", d, t, b,
		    d > t && b > t ? ": over the target without swaps too, so this" \
		    " machine cannot tell" : "") }'
fi
