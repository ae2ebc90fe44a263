#!/usr/bin/env bash
#
# forward.sh -- guard mode's forwarding speed, beside the lab's resolver
# itself and dnsdist.
#
# In one run on this machine, dnsperf asks (a) the lab's primary Unbound
# directly, (b) resguardd in guard mode in front of it with a 1,000,000-name
# blocklist loaded, and (c) dnsdist in front of it, configured the same way
# (the primary first, the lab's fallback Unbound second, the same number of
# threads) without a list.  Two passes each: a throughput pass (as many
# queries as the server takes, BENCH_OUTSTANDING in flight) giving queries
# per second and mean latency, and a latency pass at a fixed rate every
# server sustains (BENCH_QPS) giving mean and 99th percentile latency from
# each query's time.  The query names are the lab's, so the resolver
# answers from its cache and the figures are the forwarders' cost.  Prints
# the figures and the ratios b/c; it asserts nothing.
#
# Environment: BENCH_PORT_BASE (default 25300), BENCH_SECONDS (10),
# BENCH_QPS (20000), BENCH_OUTSTANDING (200), BENCH_CLIENTS (8),
# BENCH_THREADS (workers of both forwarders; default: CPUs), BENCH_NAMES
# (blocklist size, 1000000).  Everything listens on 127.0.0.1.
#
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
repo=$(cd "$here/.." && pwd -P)
BUILDDIR=${RG_BUILDDIR:-$repo}
PATH=$PATH:/usr/sbin:/sbin
LAB=$repo/conf/lab/lab.sh

BASE=${BENCH_PORT_BASE:-25300}
SECS=${BENCH_SECONDS:-10}
QPS=${BENCH_QPS:-20000}
OUTSTANDING=${BENCH_OUTSTANDING:-200}
CLIENTS=${BENCH_CLIENTS:-8}
THREADS=${BENCH_THREADS:-$(nproc)}
NAMES=${BENCH_NAMES:-1000000}
RG_PORT=$((BASE + 10))
DD_PORT=$((BASE + 11))

die() {
	echo "forward.sh: $*" >&2
	exit 1
}

for tool in dnsperf dnsdist dig unbound nsd; do
	command -v $tool >/dev/null 2>&1 || die "$tool not found (apt-get install dnsperf dnsdist unbound nsd dnsutils)"
done
[ -x "$BUILDDIR/resguardd" ] || die "build first: $BUILDDIR/resguardd is missing"

T=$(mktemp -d "${TMPDIR:-/tmp}/rg-bench-fwd.XXXXXX") || exit 1
RG_PID=
DD_PID=
cleanup() {
	[ -n "$RG_PID" ] && kill "$RG_PID" 2>/dev/null && wait "$RG_PID" 2>/dev/null
	[ -n "$DD_PID" ] && kill "$DD_PID" 2>/dev/null && wait "$DD_PID" 2>/dev/null
	RG_LAB_DIR=$T/lab "$LAB" stop >/dev/null 2>&1
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

export RG_LAB_DIR=$T/lab RG_LAB_PORT_BASE=$BASE
"$LAB" start > "$T/lab.log" 2>&1 || { cat "$T/lab.log"; die "cannot start the lab"; }
eval "$("$LAB" env)"

# -- the blocklist: bench/blocklist's names when it can write them
echo "# writing $NAMES blocklist names"
if [ -x "$BUILDDIR/bench/blocklist" ] &&
    timeout 300 "$BUILDDIR/bench/blocklist" --write-domains "$T/list.txt" \
    "$NAMES" > "$T/blgen.log" 2>&1 && [ -s "$T/list.txt" ]; then
	:
else
	awk -v n="$NAMES" 'BEGIN {
		srand(20261130)
		for (i = 0; i < n; i++) {
			l = ""
			for (k = 0; k < 8; k++)
				l = l sprintf("%c", 97 + int(rand() * 26))
			printf("%s%s%d.%s.example\n", (i % 10 == 0) ? "*." : "",
			    l, i, (i % 3 == 0) ? "com" : "eu")
		}
	}' > "$T/list.txt"
fi

# -- resguardd: the lab's configuration in guard mode, with the list
sed -e "s|^\([[:space:]]*\)listen = \[.*\];|\1listen = [ \"127.0.0.1@$RG_PORT\" ];\\
\1threads = $THREADS;|" "$RG_LAB_CONF" > "$T/resguard.conf"
cat >> "$T/resguard.conf" <<EOF
feeds = ( { name = "bench"; format = "domains"; source = "file://$T/list.txt"; } );
EOF
"$BUILDDIR/resguardd" -f -c "$T/resguard.conf" > "$T/resguardd.log" 2>&1 &
RG_PID=$!
ctl() {
	"$BUILDDIR/resguardctl" -s "$RG_LAB_CONTROL_SOCKET" "$@"
}
entries=0
for _ in $(seq 600); do
	entries=$(ctl --json status 2>/dev/null | python3 -c \
	    'import json,sys; print(json.load(sys.stdin)["blocklist"]["entries"])' 2>/dev/null |
	    tail -n 1)
	# More than the few passthru rules of the protected names: the list.
	[ "${entries:-0}" -gt 1000 ] && break
	kill -0 "$RG_PID" 2>/dev/null || { cat "$T/resguardd.log"; die "resguardd died"; }
	sleep 0.2
done
[ "${entries:-0}" -gt 0 ] || die "the blocklist did not load"
for _ in $(seq 100); do
	ctl status >/dev/null 2>&1 && break
	sleep 0.1
done

# -- dnsdist: the same pools, in order, the same thread count, no list
{
	echo 'setSecurityPollSuffix("")'
	echo "setLocal(\"127.0.0.1:$DD_PORT\", {reusePort=true})"
	for _ in $(seq 2 "$THREADS"); do
		echo "addLocal(\"127.0.0.1:$DD_PORT\", {reusePort=true})"
	done
	echo 'setACL({"127.0.0.0/8"})'
	echo "newServer({address=\"127.0.0.1:$RG_LAB_PRIMARY_PORT\", name=\"primary\", order=1, sockets=4, checkName=\".\", checkType=\"SOA\", checkInterval=1, mustResolve=false})"
	echo "newServer({address=\"127.0.0.1:$RG_LAB_FALLBACK_PORT\", name=\"fallback\", order=2, sockets=4, checkName=\".\", checkType=\"SOA\", checkInterval=1, mustResolve=false})"
	echo 'setServerPolicy(firstAvailable)'
} > "$T/dnsdist.conf"
dnsdist --supervised --disable-syslog -C "$T/dnsdist.conf" > "$T/dnsdist.log" 2>&1 &
DD_PID=$!
for _ in $(seq 100); do
	[ -n "$(dig @127.0.0.1 -p "$DD_PORT" +time=1 +tries=1 +short www.lab.test A 2>/dev/null)" ] && break
	kill -0 "$DD_PID" 2>/dev/null || { cat "$T/dnsdist.log"; die "dnsdist died"; }
	sleep 0.1
done

cat > "$T/queries" <<'EOF'
www.lab.test A
www.lab.test AAAA
alias.lab.test A
who.lab.test TXT
nx.lab.test A
who.primary.lab TXT
fallback.lab.test A
nothere.lab.test AAAA
EOF
# Warm every cache (and resguardd's and dnsdist's sockets).
for p in "$RG_LAB_PRIMARY_PORT" "$RG_PORT" "$DD_PORT"; do
	dnsperf -s 127.0.0.1 -p "$p" -d "$T/queries" -l 1 -Q 1000 > /dev/null 2>&1
done

field() {
	sed -n "s/^ *$1: *\([0-9.]*\).*/\1/p" "$2" | head -n 1
}

# throughput NAME PORT: queries per second and mean latency at saturation
throughput() {
	dnsperf -s 127.0.0.1 -p "$2" -d "$T/queries" -l "$SECS" -c "$CLIENTS" \
	    -q "$OUTSTANDING" > "$T/tp.$1" 2>&1
	eval "tp_qps_$1=$(field 'Queries per second' "$T/tp.$1")"
	eval "tp_mean_$1=$(field 'Average Latency (s)' "$T/tp.$1")"
	eval "tp_lost_$1=$(field 'Queries lost' "$T/tp.$1")"
}

# latency NAME PORT: mean and 99th percentile at BENCH_QPS
latency() {
	dnsperf -s 127.0.0.1 -p "$2" -d "$T/queries" -l "$SECS" -c "$CLIENTS" \
	    -Q "$QPS" -v 2>/dev/null | awk '$1 == ">" && $2 != "T" { print $NF }' |
	    sort -g > "$T/lat.$1"
	eval "$(awk '{ v[NR] = $1; s += $1 } END {
		if (NR == 0) { print "lat_n=0 lat_mean=0 lat_p99=0 lat_max=0"; exit }
		i = int(NR * 0.99); if (i < 1) i = 1
		printf("lat_n=%d lat_mean=%.6f lat_p99=%.6f lat_max=%.6f\n",
		    NR, s / NR, v[i], v[NR]) }' "$T/lat.$1")"
	eval "lt_n_$1=$lat_n lt_mean_$1=$lat_mean lt_p99_$1=$lat_p99 lt_max_$1=$lat_max"
}

echo "# $(nproc) CPUs; $THREADS worker threads for resguardd and dnsdist;" \
    "blocklist: $entries rules; $SECS s per pass"
for s in a:"$RG_LAB_PRIMARY_PORT" b:"$RG_PORT" c:"$DD_PORT"; do
	throughput "${s%%:*}" "${s#*:}"
done
for s in a:"$RG_LAB_PRIMARY_PORT" b:"$RG_PORT" c:"$DD_PORT"; do
	latency "${s%%:*}" "${s#*:}"
done

ms() {
	awk -v v="$1" 'BEGIN { printf("%.3f", v * 1000) }'
}

printf '\n%-38s %12s %10s %8s | %10s %10s %10s\n' "server" "qps" "mean ms" "lost" \
    "mean ms" "p99 ms" "max ms"
printf '%-38s %12s %10s %8s | %10s %10s %10s\n' "" "(throughput, $OUTSTANDING in flight)" "" "" \
    "(at $QPS qps)" "" ""
for s in a b c; do
	case $s in
	a) name="(a) lab Unbound directly" ;;
	b) name="(b) resguardd, $entries-rule blocklist" ;;
	c) name="(c) dnsdist $(dnsdist --version 2>/dev/null | awk 'NR==1 { print $2 }'), no list" ;;
	esac
	eval "q=\$tp_qps_$s m=\$tp_mean_$s l=\$tp_lost_$s lm=\$lt_mean_$s lp=\$lt_p99_$s lx=\$lt_max_$s"
	printf '%-38s %12.0f %10s %8s | %10s %10s %10s\n' "$name" "$q" "$(ms "$m")" "$l" \
	    "$(ms "$lm")" "$(ms "$lp")" "$(ms "$lx")"
done
awk -v qb="$tp_qps_b" -v qc="$tp_qps_c" -v pb="$lt_p99_b" -v pc="$lt_p99_c" \
    -v mb="$lt_mean_b" -v mc="$lt_mean_c" 'BEGIN {
	printf("\nratios b/c: queries per second %.2f (target >= 1.2), " \
	    "p99 latency %.2f (target <= 1), mean latency %.2f\n",
	    qc > 0 ? qb / qc : 0, pc > 0 ? pb / pc : 0, mc > 0 ? mb / mc : 0) }'
ctl --json status 2>/dev/null | python3 -c '
import json, sys
g = json.load(sys.stdin)["guard"]
print("resguardd counters: forwarded %d, hedged %d, retried %d, upstream timeouts %d, SERVFAIL %d" %
      (g["forwarded"], g["hedged"], g["retried"], g["upstream_timeouts"], g["servfail"]))
s, m = g["stalls"], g["stall_max_ms"]
print("resguardd worker stalls (turns away from the sockets): over 1 ms %d, 5 ms %d, 20 ms %d;"
      " on a CPU over 1 ms %d, 5 ms %d; longest %.1f ms, %.1f ms on a CPU" %
      (s["over_1ms"], s["over_5ms"], s["over_20ms"], s["cpu_over_1ms"], s["cpu_over_5ms"],
       m["wall"], m["cpu"]))'
