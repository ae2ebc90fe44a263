#!/usr/bin/env bash
#
# failover.sh -- what clients see when the primary resolver stops
# answering: resguardd in guard mode beside dnsdist, in the same run.
#
# Both forward to the lab's primary Unbound first and to the lab's
# fallback Unbound second (resguardd also has the fallback's DNS over TLS
# and the lab's failover settings; dnsdist its quickest health checks:
# every second, one failure marks the server down).  dnsperf sends a
# steady BENCH_QPS queries per second to each for BENCH_SECONDS; at
# BENCH_FREEZE_AT seconds the primary Unbound is frozen (SIGSTOP: it
# keeps its port and answers nothing).  Prints, for each, the queries
# sent, answered, answered SERVFAIL and lost (not answered within
# dnsperf's 5 s; dnsperf may keep that many queries in flight, so that a
# stalled server does not slow the stream down).  Target: zero lost and zero SERVFAIL for resguardd.  It
# asserts nothing.
#
# Environment: BENCH_PORT_BASE (default 25400), BENCH_QPS (5000),
# BENCH_SECONDS (20), BENCH_FREEZE_AT (5).  Everything listens on
# 127.0.0.1.
#
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
repo=$(cd "$here/.." && pwd -P)
BUILDDIR=${RG_BUILDDIR:-$repo}
PATH=$PATH:/usr/sbin:/sbin
LAB=$repo/conf/lab/lab.sh

BASE=${BENCH_PORT_BASE:-25400}
QPS=${BENCH_QPS:-5000}
SECS=${BENCH_SECONDS:-20}
FREEZE_AT=${BENCH_FREEZE_AT:-5}
RG_PORT=$((BASE + 10))
DD_PORT=$((BASE + 11))

die() {
	echo "failover.sh: $*" >&2
	exit 1
}

for tool in dnsperf dnsdist dig unbound nsd python3; do
	command -v $tool >/dev/null 2>&1 || die "$tool not found (apt-get install dnsperf dnsdist unbound nsd dnsutils python3)"
done
[ -x "$BUILDDIR/resguardd" ] || die "build first: $BUILDDIR/resguardd is missing"

T=$(mktemp -d "${TMPDIR:-/tmp}/rg-bench-fo.XXXXXX") || exit 1
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
ctl() {
	"$BUILDDIR/resguardctl" -s "$RG_LAB_CONTROL_SOCKET" "$@"
}

sed -e "s|^\([[:space:]]*\)listen = \[.*\];|\1listen = [ \"127.0.0.1@$RG_PORT\" ];|" \
    "$RG_LAB_CONF" > "$T/resguard.conf"
"$BUILDDIR/resguardd" -f -c "$T/resguard.conf" > "$T/resguardd.log" 2>&1 &
RG_PID=$!
ready=
for _ in $(seq 200); do
	ctl status >/dev/null 2>&1 && { ready=1; break; }
	kill -0 "$RG_PID" 2>/dev/null || { cat "$T/resguardd.log"; die "resguardd died"; }
	sleep 0.1
done
[ -n "$ready" ] || die "resguardd does not reach normal mode with every upstream up"

cat > "$T/dnsdist.conf" <<EOF
setSecurityPollSuffix("")
setLocal("127.0.0.1:$DD_PORT")
setACL({"127.0.0.0/8"})
newServer({address="127.0.0.1:$RG_LAB_PRIMARY_PORT", name="primary", order=1,
    checkName=".", checkType="SOA", checkInterval=1, checkTimeout=400,
    maxCheckFailures=1, rise=1, mustResolve=false})
newServer({address="127.0.0.1:$RG_LAB_FALLBACK_PORT", name="fallback", order=2,
    checkName=".", checkType="SOA", checkInterval=1, checkTimeout=400,
    maxCheckFailures=1, rise=1, mustResolve=false})
setServerPolicy(firstAvailable)
EOF
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
fallback.lab.test A
EOF
for p in "$RG_PORT" "$DD_PORT"; do
	dnsperf -s 127.0.0.1 -p "$p" -d "$T/queries" -l 1 -Q 500 > /dev/null 2>&1
done

echo "# $QPS queries per second to each for $SECS s; the primary Unbound" \
    "freezes at $FREEZE_AT s"
dnsperf -s 127.0.0.1 -p "$RG_PORT" -d "$T/queries" -l "$SECS" -Q "$QPS" -c 4 \
    -q 100000 > "$T/perf.rg" 2>&1 &
P1=$!
dnsperf -s 127.0.0.1 -p "$DD_PORT" -d "$T/queries" -l "$SECS" -Q "$QPS" -c 4 \
    -q 100000 > "$T/perf.dd" 2>&1 &
P2=$!
sleep "$FREEZE_AT"
t0=$(date +%s%N)
"$LAB" freeze primary > /dev/null
wait $P1 $P2
frozen_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
mode=$(ctl --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)["mode"])')
decision=$(ctl --json events --limit 0 | python3 -c "
import datetime, json, sys
ev = [e for e in json.load(sys.stdin)['events'] if e['type'] == 'mode']
if not ev:
    print('none'); sys.exit()
t = datetime.datetime.strptime(ev[-1]['time'], '%Y-%m-%dT%H:%M:%S.%fZ')
t = t.replace(tzinfo=datetime.timezone.utc).timestamp()
print('%d ms' % int(t * 1000 - $t0 / 1000000))")
"$LAB" thaw primary > /dev/null

# report NAME FILE: one row of figures from dnsperf's summary
report() {
	python3 - "$1" "$2" <<'EOF'
import re, sys
name, path = sys.argv[1], sys.argv[2]
text = open(path).read()
def num(label):
    m = re.search(r'%s:\s+([0-9.]+)' % label, text)
    return float(m.group(1)) if m else 0.0
sent, done, lost = num('Queries sent'), num('Queries completed'), num('Queries lost')
codes = dict((k, int(v)) for k, v in re.findall(r'([A-Z]+) (\d+) \(', text.split('Response codes:')[1].splitlines()[0])) if 'Response codes:' in text else {}
servfail = codes.get('SERVFAIL', 0)
print('%-22s %10d %10d %10d %10d %9.3f %9.3f' % (name, sent, done - servfail,
      servfail, lost, num('Average Latency \\(s\\)') * 1000,
      float(re.search(r'max ([0-9.]+)', text).group(1)) * 1000 if re.search(r'max ([0-9.]+)', text) else 0))
EOF
}

printf '\n%-22s %10s %10s %10s %10s %9s %9s\n' "" "sent" "answered" "SERVFAIL" "lost" \
    "mean ms" "max ms"
report "resguardd (guard)" "$T/perf.rg"
report "dnsdist $(dnsdist --version 2>/dev/null | awk 'NR==1 { print $2 }')" "$T/perf.dd"
echo
echo "resguardd: freeze to failover decision $decision, mode at the end: $mode"
ctl --json status | python3 -c '
import json, sys
g = json.load(sys.stdin)["guard"]
print("resguardd counters: forwarded %d, hedged %d, retried %d, upstream timeouts %d, SERVFAIL %d" %
      (g["forwarded"], g["hedged"], g["retried"], g["upstream_timeouts"], g["servfail"]))'
grep -i "down\|up" "$T/dnsdist.log" | grep -i "primary" | sed 's/^/dnsdist: /' | head -n 4
