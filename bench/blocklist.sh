#!/bin/sh
#
# blocklist.sh -- the blocklist benchmark, and the same names loaded by
# Unbound (as an RPZ zone) and by dnsdist (as a SuffixMatchNode).
#
# bench/blocklist.sh [N]
#
# Runs bench/blocklist on N names (default 1,000,000), which also writes
# them as a domains list and an RPZ zone.  Then, for each of Unbound and
# dnsdist that is installed, starts it on 127.0.0.1 with the list, times
# how long it takes until it answers NXDOMAIN for a listed name, and takes
# its resident memory (VmRSS) less that of the same server started without
# the list.  Nothing leaves the loopback: Unbound forwards everything else
# to a closed port on 127.0.0.1, dnsdist refuses it, and dnsdist's security
# polling is off.  Every server started is stopped on exit.
#
# Environment: RG_BUILDDIR (where bench/blocklist was built, default the
# source tree), RG_BENCH_PORT (first of two UDP ports, default chosen from
# the process id).
set -eu

n=${1:-1000000}
srcdir=$(cd "$(dirname "$0")/.." && pwd)
bin=${RG_BUILDDIR:-$srcdir}/bench/blocklist
# The rpz feed plugin, from the build tree unless told otherwise.
RG_PLUGIN_DIR=${RG_PLUGIN_DIR:-${RG_BUILDDIR:-$srcdir}/plugins}
export RG_PLUGIN_DIR
port=${RG_BENCH_PORT:-$((40000 + $$ % 10000 * 2))}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/rg-bench-bl.XXXXXX")
pids=

cleanup() {
	for p in $pids; do
		kill "$p" 2>/dev/null || :
	done
	for p in $pids; do
		wait "$p" 2>/dev/null || :
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

if [ ! -x "$bin" ]; then
	echo "blocklist.sh: $bin not built (make bench/blocklist)" >&2
	exit 1
fi

now() { date +%s.%N; }

# Seconds since $1.
since() { awk -v a="$(now)" -v b="$1" 'BEGIN { printf "%.2f", a - b }'; }

# The value of "KEY: value" in the output of bench/blocklist.
field() { sed -n "s/^$1: \([0-9.]*\).*/\1/p" "$tmp/resguard.out"; }

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

# rcode PORT NAME: the status of a query for NAME, or "none".
rcode() {
	dig @127.0.0.1 -p "$1" "$2" A +tries=1 +time=1 +noall +comments \
	    2>/dev/null | sed -n 's/.*status: \([A-Z]*\),.*/\1/p' | head -n 1 |
	    grep . || echo none
}

# serve NAME PORT QNAME STATUS COMMAND...: start the server, wait until
# QNAME gets STATUS; sets $secs (time to that answer) and $kb (VmRSS), then
# stops it.
serve() {
	what=$1 sport=$2 qname=$3 want=$4
	shift 4
	t0=$(now)
	"$@" >"$tmp/$what.log" 2>&1 &
	spid=$!
	pids="$pids $spid"
	while :; do
		if ! kill -0 "$spid" 2>/dev/null; then
			echo "blocklist.sh: $what exited; its log:" >&2
			tail -n 20 "$tmp/$what.log" >&2
			exit 1
		fi
		[ "$(rcode "$sport" "$qname")" = "$want" ] && break
		if [ "$(since "$t0" | cut -d. -f1)" -ge 900 ]; then
			echo "blocklist.sh: $what: no $want after 900 s" >&2
			exit 1
		fi
		sleep 0.05
	done
	secs=$(since "$t0")
	kb=$(rss_kb "$spid")
	kill "$spid"
	wait "$spid" 2>/dev/null || :
	pids=$(echo "$pids" | sed "s/ $spid\$//")
}

echo "== resguard: bench/blocklist $n"
"$bin" --write-domains "$tmp/domains.txt" --write-rpz "$tmp/rpz.zone" "$n" |
    tee "$tmp/resguard.out"
blocked=$(grep -v '^\*' "$tmp/domains.txt" | head -n 1)
# Like for like with the servers: the list parsed from text, each rule with
# its "line N" indicator; the builder fed directly is shown as well.
rows="resguard-domains $(field "parse build time") $(field "parse rss growth per rule")
resguard-add $(field "build time") $(field "rss growth per rule")"
# The RPZ zone Unbound loads below, through resguard's rpz feed plugin.
if [ -n "$(field "rpz build time")" ]; then
	rows="$rows
resguard-rpz $(field "rpz build time") $(field "rpz rss growth per rule")"
fi

unbound=$(command -v unbound || ls /usr/sbin/unbound 2>/dev/null || :)
if [ -n "$unbound" ]; then
	for kind in base rpz; do
		cat >"$tmp/unbound-$kind.conf" <<-EOF
		server:
			interface: 127.0.0.1
			port: $port
			do-ip6: no
			num-threads: 1
			username: ""
			chroot: ""
			directory: "$tmp"
			pidfile: "$tmp/unbound.pid"
			use-syslog: no
			logfile: ""
			verbosity: 0
			module-config: "respip iterator"
			do-not-query-localhost: no
			local-zone: "test." static
			local-data: "ready.test. A 127.0.0.1"
		remote-control:
			control-enable: no
		forward-zone:
			name: "."
			forward-addr: 127.0.0.1@9
		EOF
	done
	cat >>"$tmp/unbound-rpz.conf" <<-EOF
	rpz:
		name: "rpz.local."
		zonefile: "$tmp/rpz.zone"
	EOF
	echo "== Unbound $($unbound -V | sed -n 's/^Version //p'):" \
	    "RPZ zone of $n rules"
	serve unbound-base "$port" ready.test NOERROR \
	    "$unbound" -d -c "$tmp/unbound-base.conf"
	base_kb=$kb
	serve unbound-rpz "$port" "$blocked" NXDOMAIN \
	    "$unbound" -d -c "$tmp/unbound-rpz.conf"
	ub_bytes=$(awk -v a="$kb" -v b="$base_kb" -v n="$n" \
	    'BEGIN { printf "%.1f", (a - b) * 1024 / n }')
	echo "load until NXDOMAIN: $secs s, rss growth per rule: $ub_bytes"
	rows="$rows
unbound $secs $ub_bytes"
else
	echo "== Unbound not installed: skipped"
fi

dnsdist=$(command -v dnsdist || :)
if [ -n "$dnsdist" ]; then
	dport=$((port + 1))
	for kind in base list; do
		cat >"$tmp/dnsdist-$kind.conf" <<-EOF
		setLocal("127.0.0.1:$dport")
		setSecurityPollSuffix("")
		EOF
	done
	cat >>"$tmp/dnsdist-list.conf" <<-EOF
	local smn = newSuffixMatchNode()
	for line in io.lines("$tmp/domains.txt") do
		smn:add((string.gsub(line, "^%*%.", "")))
	end
	collectgarbage()
	addAction(SuffixMatchNodeRule(smn, true),
	    RCodeAction(DNSRCode.NXDOMAIN))
	EOF
	for kind in base list; do
		echo 'addAction(AllRule(), RCodeAction(DNSRCode.REFUSED))' \
		    >>"$tmp/dnsdist-$kind.conf"
	done
	version=$($dnsdist --version 2>/dev/null | head -n 1 | cut -d' ' -f1-2)
	echo "== $version:" \
	    "SuffixMatchNode of $n names"
	serve dnsdist-base "$dport" ready.test REFUSED \
	    "$dnsdist" --supervised --disable-syslog -C "$tmp/dnsdist-base.conf"
	base_kb=$kb
	serve dnsdist-list "$dport" "$blocked" NXDOMAIN \
	    "$dnsdist" --supervised --disable-syslog -C "$tmp/dnsdist-list.conf"
	dd_bytes=$(awk -v a="$kb" -v b="$base_kb" -v n="$n" \
	    'BEGIN { printf "%.1f", (a - b) * 1024 / n }')
	echo "load until NXDOMAIN: $secs s, rss growth per rule: $dd_bytes"
	rows="$rows
dnsdist $secs $dd_bytes"
else
	echo "== dnsdist not installed (apt-get install dnsdist): skipped"
fi

echo
echo "Load: resguard from the list in memory; a server from its start to its"
echo "first NXDOMAIN, reading the file included.  Bytes/rule: growth of the"
echo "resident memory per name.  Ratios: resguard-domains over each row."
echo "$rows" | awk -v n="$n" '
	NR == 1 { t = $2; b = $3 }
	{ s[NR] = $1; lt[NR] = $2; bp[NR] = $3 }
	END {
		printf "%-20s %9s %11s %18s %6s\n", n " names", "load (s)",
		    "bytes/rule", "resguard/it: load", "bytes"
		for (i = 1; i <= NR; i++)
			printf "%-20s %9.2f %11.1f %18.3f %6.3f\n", s[i], lt[i],
			    bp[i], (lt[i] > 0 ? t / lt[i] : 0),
			    (bp[i] > 0 ? b / bp[i] : 0)
	}'
