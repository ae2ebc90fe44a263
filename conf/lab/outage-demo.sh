#!/usr/bin/env bash
#
# outage-demo.sh -- an outage of the primary resolver, live, with clients
# querying resguardd all along.
#
# Starts the lab (or uses the running one) and resguardd in guard mode on
# the lab's configuration (or uses the running one): it answers on
# 127.0.0.1 at the lab's base port.  dnsperf sends a steady stream of
# queries to it; after a few seconds the lab's primary Unbound is frozen
# (SIGSTOP: it keeps its port and answers nothing).  The script prints the
# failover as "resguardctl status" and "resguardctl events" show it, thaws
# the primary, waits for the fail-back, and prints how many client queries
# failed (SERVFAIL or no answer): the point is that there are none.
# Everything stays on loopback.
#
# Environment: RG_LAB_DIR, RG_LAB_PORT_BASE (see lab.sh), DEMO_QPS (1000),
# DEMO_SECONDS (30), DEMO_FREEZE_AT (5), DEMO_THAW_AT (12).
#
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
repo=$(cd "$here/../.." && pwd -P)
BUILDDIR=${RG_BUILDDIR:-$repo}
PATH=$PATH:/usr/sbin:/sbin
LAB=$here/lab.sh
QPS=${DEMO_QPS:-1000}
SECS=${DEMO_SECONDS:-30}
FREEZE_AT=${DEMO_FREEZE_AT:-5}
THAW_AT=${DEMO_THAW_AT:-12}

if [ -t 1 ]; then
	B=$(printf '\033[1m') N=$(printf '\033[0m')
else
	B= N=
fi
say() {
	printf '\n%s== %s%s\n' "$B" "$*" "$N"
}

die() {
	echo "outage-demo.sh: $*" >&2
	exit 1
}

command -v dnsperf >/dev/null 2>&1 ||
    die "dnsperf not found (Debian package dnsperf; conf/lab/quickstart.sh installs it)"
[ -x "$BUILDDIR/resguardd" ] && [ -x "$BUILDDIR/resguardctl" ] ||
    die "build first (conf/lab/quickstart.sh run, or make)"

"$LAB" start || die "cannot start the lab"
eval "$("$LAB" env)"
PORT=$RG_LAB_PORT_BASE
ctl() {
	"$BUILDDIR/resguardctl" -s "$RG_LAB_CONTROL_SOCKET" "$@"
}
mode() {
	ctl --json status 2>/dev/null | python3 -c \
	    'import json,sys; print(json.load(sys.stdin)["mode"])' 2>/dev/null
}

T=$(mktemp -d "${TMPDIR:-/tmp}/rg-demo.XXXXXX") || exit 1
RG_PID=
PERF=
cleanup() {
	[ -n "$PERF" ] && kill "$PERF" 2>/dev/null
	"$LAB" thaw primary >/dev/null 2>&1
	if [ -n "$RG_PID" ]; then
		kill "$RG_PID" 2>/dev/null
		wait "$RG_PID" 2>/dev/null
	fi
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

ctl status >/dev/null 2>&1
if [ $? -eq 3 ]; then
	"$BUILDDIR/resguardd" -f -c "$RG_LAB_CONF" > "$RG_LAB_DIR/resguard/demo.log" 2>&1 &
	RG_PID=$!
	echo "started resguardd (pid $RG_PID, log $RG_LAB_DIR/resguard/demo.log)"
else
	echo "using the resguardd that runs on $RG_LAB_CONTROL_SOCKET"
fi
for _ in $(seq 200); do
	[ "$(mode)" = normal ] && ctl status >/dev/null 2>&1 && break
	[ -z "$RG_PID" ] || kill -0 "$RG_PID" 2>/dev/null ||
	    die "resguardd stopped: $(tail -n 5 "$RG_LAB_DIR/resguard/demo.log")"
	sleep 0.1
done
[ "$(mode)" = normal ] || die "resguardd is not in normal mode: $(ctl status)"
ctl --json status | python3 -c 'import json,sys; sys.exit(0 if json.load(sys.stdin).get("guard") else 1)' ||
    die "resguardd does not answer queries (server.listen is empty in its configuration)"
answer=$(dig @127.0.0.1 -p "$PORT" +time=2 +tries=1 +short www.lab.test A 2>/dev/null)
[ -n "$answer" ] || die "no answer from resguardd on 127.0.0.1 port $PORT"

say "before: dig @127.0.0.1 -p $PORT www.lab.test A -> $answer"
ctl status

cat > "$T/queries" <<'EOF'
www.lab.test A
www.lab.test AAAA
alias.lab.test A
who.lab.test TXT
nx.lab.test A
EOF
say "a steady stream: $QPS queries per second for $SECS s (dnsperf)"
dnsperf -s 127.0.0.1 -p "$PORT" -d "$T/queries" -l "$SECS" -Q "$QPS" -c 4 \
    -q 100000 > "$T/perf" 2>&1 &
PERF=$!
start=$SECONDS

sleep "$FREEZE_AT"
say "$((SECONDS - start)) s: the primary resolver stops answering"
"$LAB" freeze primary
for _ in $(seq 200); do
	[ "$(mode)" = failover ] && break
	sleep 0.1
done
say "$((SECONDS - start)) s: resguardctl status"
ctl status
say "resguardctl events --limit 4"
ctl events --limit 4

[ $((SECONDS - start)) -lt "$THAW_AT" ] && sleep $((THAW_AT - (SECONDS - start)))
say "$((SECONDS - start)) s: the primary resolver is back"
"$LAB" thaw primary
for _ in $(seq 600); do
	[ "$(mode)" = normal ] && break
	sleep 0.1
done
say "$((SECONDS - start)) s: resguardctl events --limit 3"
ctl events --limit 3

wait "$PERF"
PERF=
python3 - "$T/perf" "$B" "$N" <<'EOF'
import re, sys
text = open(sys.argv[1]).read()
def num(label):
    m = re.search(r'%s:\s+([0-9]+)' % label, text)
    return int(m.group(1)) if m else 0
sent, done, lost = num('Queries sent'), num('Queries completed'), num('Queries lost')
m = re.search(r'Response codes:\s+(.*)', text)
codes = dict((k, int(v)) for k, v in re.findall(r'([A-Z]+) (\d+) \(', m.group(1))) if m else {}
servfail = codes.get('SERVFAIL', 0)
print('\n%s== client queries: %d sent, %d answered, %d SERVFAIL, %d lost: '
      '%d failed%s' % (sys.argv[2], sent, done - servfail, servfail, lost,
      servfail + lost, sys.argv[3]))
EOF
