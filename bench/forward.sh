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
# answers from its cache and the figures are the forwarders' cost.
#
# On a shared machine one pass can fall on a noisy minute, so the passes
# run in BENCH_ROUNDS rounds, the three servers in turn within each (in a
# different order each round); within a round's pass the servers take
# turns slice by slice (BENCH_SLICES slices of the pass each), so that
# the machine's swings, over seconds for the throughput and shorter
# hiccups for a 99th percentile, fall on each server alike.  Prints each
# round's figures and ratios b/c, then the median of the rounds for each
# figure and ratio, then the ratios b/c slice by slice of the queries per
# second and of the p99 (b and c ran one after the other in each slice):
# the median over all slices with a 95 % bootstrap interval of that
# median, which says whether a difference stands out of the machine's
# noise.  It asserts nothing.
#
# Both forwarders run with the same number of worker threads (dnsdist: as
# many listeners), and the whole bench runs once for each count in
# BENCH_THREADS: by default one, then one per CPU, then one per CPU with
# each worker kept on a CPU of its own (a count ending in "p":
# resguardd's server.socket-affinity, dnsdist's listeners with "cpus",
# the k-th on the k-th CPU this process may use).  One per CPU is
# resguardd's default, for a host it has to itself, as in guard mode; here
# dnsperf and Unbound share the CPUs with the forwarder, and take more of
# them than it does.  A summary of every count's slice-by-slice ratios
# ends the output.
#
# Environment: BENCH_PORT_BASE (default 25300), BENCH_SECONDS (10),
# BENCH_ROUNDS (3), BENCH_SLICES (10), BENCH_QPS (20000), BENCH_OUTSTANDING
# (200), BENCH_CLIENTS (8), BENCH_THREADS (worker counts, each a run of
# its own; default: "1 CPUs CPUsp"), BENCH_NAMES (blocklist size, 1000000).
# Everything listens on 127.0.0.1.
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
THREADS=${BENCH_THREADS:-$( (echo 1; nproc) | sort -nu | tr '\n' ' ')}
[ -n "${BENCH_THREADS:-}" ] || [ "$(nproc)" -lt 2 ] || THREADS="$THREADS$(nproc)p"
# The CPUs this process may use, one per line, in order.
cpus_allowed() {
	awk '/^Cpus_allowed_list:/ {
		n = split($2, r, ",")
		for (i = 1; i <= n; i++) {
			if (split(r[i], b, "-") == 1)
				b[2] = b[1]
			for (c = b[1]; c <= b[2]; c++)
				print c
		}
	}' /proc/self/status
}
NAMES=${BENCH_NAMES:-1000000}
ROUNDS=${BENCH_ROUNDS:-3}
SLICES=${BENCH_SLICES:-10}
SLICE_SECS=$(awk -v s="$SECS" -v n="$SLICES" 'BEGIN { print s / n }')
RG_PORT=$((BASE + 10))
DD_PORT=$((BASE + 11))

die() {
	echo "forward.sh: $*" >&2
	exit 1
}

# Several worker counts: a whole run for each, one after the other, then
# their verdicts side by side.
set -- $THREADS
if [ $# -gt 1 ]; then
	sum=$(mktemp "${TMPDIR:-/tmp}/rg-bench-fwd-sum.XXXXXX") || exit 1
	trap 'rm -f "$sum"' EXIT
	for t in "$@"; do
		case $t in
		[1-9] | [1-9]p | [1-9][0-9] | [1-9][0-9]p) ;;
		*) die "bad worker count in BENCH_THREADS: '$t'" ;;
		esac
		echo "### $t worker thread(s) each"
		BENCH_THREADS=$t "${BASH_SOURCE[0]}" | tee -a "$sum" ||
		    die "the run with $t worker thread(s) failed"
		echo
	done
	echo "### summary: ratios b/c slice by slice, by worker threads"
	awk '/^# [0-9]+ CPUs; [0-9]+ worker/ { t = $4 (/own CPU/ ? " pinned" : "") }
	    / b\/c slice by slice / { print t " worker(s): " $0 }' "$sum"
	exit 0
fi

PIN=
case $THREADS in
*p) PIN=1 THREADS=${THREADS%p} ;;
esac
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
[ -n "$PIN" ] && sed -i "s|^\([[:space:]]*\)threads = $THREADS;|&\\
\1socket-affinity = true;|" "$T/resguard.conf"
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
	# With PIN, the k-th listener on the k-th CPU, as resguardd's workers.
	k=0
	for cpu in $(cpus_allowed | head -n "$THREADS"); do
		[ $k -lt "$THREADS" ] || break
		opt="reusePort=true${PIN:+, cpus={$cpu\}}"
		[ $k -eq 0 ] && echo "setLocal(\"127.0.0.1:$DD_PORT\", {$opt})" ||
		    echo "addLocal(\"127.0.0.1:$DD_PORT\", {$opt})"
		k=$((k + 1))
	done
	for _ in $(seq $((k + 1)) "$THREADS"); do
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

port_of() {
	case $1 in
	a) echo "$RG_LAB_PRIMARY_PORT" ;;
	b) echo "$RG_PORT" ;;
	c) echo "$DD_PORT" ;;
	esac
}

field() {
	sed -n "s/^ *$1: *\([0-9.]*\).*/\1/p" "$2" | head -n 1
}

# throughput ROUND ORDER: queries per second, mean latency and lost
# queries at saturation, as lines "ROUND NAME tp QPS MEAN LOST" of
# $T/figures.  As for the latency, the pass is cut into BENCH_SLICES
# slices per server, the servers in turn slice by slice: the machine's
# swings, which move every server's rate by a fifth or more from one
# minute to the next, then fall on each alike.  A server's figures come
# from all its slices together (queries answered over the time taken);
# each slice's rate goes to $T/tpslices for the paired comparison.  A
# query unanswered after 1 s is lost (dnsperf's run time does not count
# the wait for it).
throughput() {
	local i n
	for i in $(seq "$SLICES"); do
		for n in $2; do
			dnsperf -s 127.0.0.1 -p "$(port_of "$n")" -d "$T/queries" \
			    -l "$SLICE_SECS" -c "$CLIENTS" -q "$OUTSTANDING" -t 1 \
			    > "$T/tp" 2>&1
			echo "$1 $i $n $(field 'Queries completed' "$T/tp")" \
			    "$(field 'Run time (s)' "$T/tp")" \
			    "$(field 'Average Latency (s)' "$T/tp")" \
			    "$(field 'Queries lost' "$T/tp")" >> "$T/tpslices"
		done
	done
	awk -v r="$1" -v order="$2" '
	$1 == r && $5 > 0 {
		done[$3] += $4; secs[$3] += $5; lat[$3] += $4 * $6
		lost[$3] += $7
		printf("%s %s %s %.1f\n", $1, $2, $3, $4 / $5) > "/dev/stderr"
	}
	END {
		n = split(order, ns, " ")
		for (k = 1; k <= n; k++) {
			s = ns[k]
			printf("%s %s tp %.1f %.6f %d\n", r, s,
			    secs[s] > 0 ? done[s] / secs[s] : 0,
			    done[s] > 0 ? lat[s] / done[s] : 0, lost[s])
		}
	}' "$T/tpslices" >> "$T/figures" 2>> "$T/tprates"
}

# latency ROUND ORDER: mean, 99th percentile and maximum latency at
# BENCH_QPS, from each query's time, as lines "ROUND NAME lt MEAN P99 MAX".
# The pass is cut into BENCH_SLICES slices per server, the servers in turn
# slice by slice, and each server's figures come from all its slices
# together: a hiccup of the machine (a few hundred milliseconds in which
# every process waits) then falls on every server alike, where one pass
# of SECS seconds per server gave it all to whichever server was running.
latency() {
	local i n
	for n in $2; do
		: > "$T/lat.$n"
	done
	for i in $(seq "$SLICES"); do
		for n in $2; do
			dnsperf -s 127.0.0.1 -p "$(port_of "$n")" -d "$T/queries" \
			    -l "$SLICE_SECS" -c "$CLIENTS" -Q "$QPS" -v 2>/dev/null |
			    awk '$1 == ">" && $2 != "T" { print $NF }' > "$T/slice"
			cat "$T/slice" >> "$T/lat.$n"
			# The slice's own p99, for the paired comparison.
			sort -g "$T/slice" | awk -v r="$1" -v i="$i" -v n="$n" '
			{ v[NR] = $1 }
			END {
				if (NR == 0) exit
				k = int(NR * 0.99); if (k < 1) k = 1
				printf("%s %s %s %.6f\n", r, i, n, v[k])
			}' >> "$T/slices"
		done
	done
	for n in $2; do
		sort -g "$T/lat.$n" | awk -v r="$1" -v n="$n" '
		{ v[NR] = $1; s += $1 }
		END {
			if (NR == 0) { printf("%s %s lt 0 0 0\n", r, n); exit }
			i = int(NR * 0.99); if (i < 1) i = 1
			printf("%s %s lt %.6f %.6f %.6f\n", r, n, s / NR, v[i],
			    v[NR])
		}' >> "$T/figures"
	done
}

echo "# $(nproc) CPUs; $THREADS worker threads for resguardd and dnsdist${PIN:+, each on its own CPU};" \
    "blocklist: $entries rules; $ROUNDS rounds of $SECS s passes" \
    "($SLICES slices of $SLICE_SECS s, the servers in turn)"
: > "$T/figures"
: > "$T/slices"
: > "$T/tpslices"
: > "$T/tprates"
for r in $(seq "$ROUNDS"); do
	# In turn within a round, so that a noisy minute of the machine
	# falls on every server alike; the order turns each round.
	case $((r % 3)) in
	1) order="a b c" ;;
	2) order="c a b" ;;
	0) order="b c a" ;;
	esac
	throughput "$r" "$order"
	latency "$r" "$order"
done

dd_version=$(dnsdist --version 2>/dev/null | awk 'NR==1 { print $2 }')
awk -v rounds="$ROUNDS" -v qps="$QPS" -v out="$OUTSTANDING" \
    -v entries="$entries" -v ddv="$dd_version" '
	function median(arr, n,    i, j, t, v) {
		for (i = 1; i <= n; i++)
			v[i] = arr[i]
		for (i = 2; i <= n; i++)
			for (j = i; j > 1 && v[j - 1] > v[j]; j--) {
				t = v[j]; v[j] = v[j - 1]; v[j - 1] = t
			}
		return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
	}
	$3 == "tp" { q[$2, $1] = $4; m[$2, $1] = $5; l[$2, $1] = $6 }
	$3 == "lt" { lm[$2, $1] = $4; lp[$2, $1] = $5; lx[$2, $1] = $6 }
	END {
		name["a"] = "(a) lab Unbound directly"
		name["b"] = "(b) resguardd, " entries "-rule blocklist"
		name["c"] = "(c) dnsdist " ddv ", no list"
		printf("\n%-5s %-38s %10s %9s %7s | %9s %9s %9s\n", "round",
		    "server", "qps", "mean ms", "lost", "mean ms", "p99 ms",
		    "max ms")
		printf("%-5s %-38s %27s %7s | %29s\n", "", "",
		    "(throughput, " out " in flight)", "", "(at " qps " qps)")
		for (r = 1; r <= rounds; r++) {
			split("a b c", ns, " ")
			for (k = 1; k <= 3; k++) {
				n = ns[k]
				printf("%-5d %-38s %10.0f %9.3f %7d | %9.3f %9.3f" \
				    " %9.3f\n", r, name[n], q[n, r],
				    m[n, r] * 1000, l[n, r], lm[n, r] * 1000,
				    lp[n, r] * 1000, lx[n, r] * 1000)
			}
			rq[r] = q["c", r] > 0 ? q["b", r] / q["c", r] : 0
			rp[r] = lp["c", r] > 0 ? lp["b", r] / lp["c", r] : 0
			rm[r] = lm["c", r] > 0 ? lm["b", r] / lm["c", r] : 0
			printf("%-5s ratios b/c: queries per second %.2f, p99 %.2f," \
			    " mean latency %.2f\n", "", rq[r], rp[r], rm[r])
		}
		printf("\nmedian of %d rounds:\n", rounds)
		for (k = 1; k <= 3; k++) {
			n = ns[k]
			for (r = 1; r <= rounds; r++) {
				v1[r] = q[n, r]; v2[r] = lm[n, r]; v3[r] = lp[n, r]
			}
			printf("%-44s %10.0f qps | mean %.3f ms, p99 %.3f ms\n",
			    name[n], median(v1, rounds), median(v2, rounds) * 1000,
			    median(v3, rounds) * 1000)
		}
		printf("\nratios b/c, median of the rounds: queries per second" \
		    " %.2f (target >= 1.2), p99 latency %.2f (target <= 1)," \
		    " mean latency %.2f\n", median(rq, rounds), median(rp, rounds),
		    median(rm, rounds))
	}' "$T/figures"
# The ratios slice by slice: b and c ran one after the other in each
# slice, so each pair met about the same machine.  The median over every
# round's slices, with a bootstrap interval of that median, tells a
# difference between the forwarders from the noise of the machine.
python3 - "$T/tprates" "$T/slices" "$SLICE_SECS" <<'EOF'
import random, sys

def pairs(path):
    p = {}
    for line in open(path):
        r, i, n, v = line.split()
        p.setdefault((r, i), {})[n] = float(v)
    return sorted(d["b"] / d["c"] for d in p.values()
                  if "b" in d and "c" in d and d["c"] > 0)

def median(v):
    v = sorted(v)
    m = len(v) // 2
    return v[m] if len(v) % 2 else (v[m - 1] + v[m]) / 2

def report(what, ratios, target, better):
    if len(ratios) < 3:
        return
    rnd = random.Random(20261130)
    boot = sorted(median([rnd.choice(ratios) for _ in ratios])
                  for _ in range(2000))
    lo, hi = boot[int(0.025 * len(boot))], boot[int(0.975 * len(boot)) - 1]
    if better == "above":
        k = sum(1 for x in ratios if x >= target)
        side = "at or above %.1f" % target
    else:
        k = sum(1 for x in ratios if x <= target)
        side = "at or below %g" % target
    print("%s b/c slice by slice (%d pairs of %s s): median %.2f, 95 %% "
          "bootstrap interval %.2f-%.2f; %s in %d of %d pairs; the target "
          "holds when the interval is %s"
          % (what, len(ratios), sys.argv[3], median(ratios), lo, hi, side,
             k, len(ratios), side))

report("queries per second", pairs(sys.argv[1]), 1.2, "above")
report("p99", pairs(sys.argv[2]), 1, "below")
EOF
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
