# lib.sh -- shared by the system tests: a private lab, the daemon, and
# assertions that print what they saw.  Source it with RG_TEST_PORT_BASE
# set; everything listens on 127.0.0.1 only.

set -u
PATH=$PATH:/usr/sbin:/sbin
# Everything the tests fetch is on loopback: no proxy in between (curl and
# the daemon's libcurl both honour these).
unset http_proxy https_proxy all_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY

SRCDIR=${RG_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILDDIR=${RG_BUILDDIR:-$SRCDIR}
RESGUARDD=$BUILDDIR/resguardd
RESGUARDCTL=$BUILDDIR/resguardctl
LAB=$SRCDIR/conf/lab/lab.sh

for tool in unbound nsd ldns-keygen ldns-signzone openssl python3 dig; do
	if ! command -v $tool >/dev/null 2>&1; then
		echo "SKIP: $tool not found"
		exit 77
	fi
done

T=$(mktemp -d "${TMPDIR:-/tmp}/rg-system.XXXXXX") || exit 99
export RG_LAB_DIR=$T/lab
export RG_LAB_PORT_BASE=${RG_TEST_PORT_BASE:?}
DAEMON_PID=

cleanup() {
	if [ -n "$DAEMON_PID" ]; then
		kill "$DAEMON_PID" 2>/dev/null
		wait "$DAEMON_PID" 2>/dev/null
	fi
	"$LAB" stop >/dev/null 2>&1
	if [ "${fail:-0}" -ne 0 ] && [ -f "$T/daemon.log" ]; then
		echo "--- daemon log"
		tail -n 60 "$T/daemon.log"
	fi
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

pass=0
fail=0

ok() {
	pass=$((pass + 1))
	echo "ok   $*"
}

not_ok() {
	fail=$((fail + 1))
	echo "FAIL $*"
}

# expect_exit WANT DESCRIPTION -- COMMAND...: run it, compare its exit code
expect_exit() {
	want=$1 desc=$2
	shift 3
	out=$("$@" 2>&1)
	rc=$?
	if [ "$rc" -eq "$want" ]; then
		ok "$desc (exit $rc)"
	else
		not_ok "$desc: exit $rc, expected $want"
		printf '%s\n' "$out" | sed 's/^/     /'
	fi
}

# expect_match PATTERN DESCRIPTION TEXT
expect_match() {
	if printf '%s\n' "$3" | grep -q -- "$1"; then
		ok "$2"
	else
		not_ok "$2: /$1/ not in:"
		printf '%s\n' "$3" | sed 's/^/     /'
	fi
}

ctl() {
	"$RESGUARDCTL" -s "$RG_LAB_CONTROL_SOCKET" "$@"
}

# json_get EXPR: evaluate a Python expression on "status --json" as d
status_get() {
	ctl --json status 2>/dev/null | python3 -c "
import json, sys
d = json.load(sys.stdin)
print($1)"
}

# wait_until SECONDS DESCRIPTION -- COMMAND...: poll every 50 ms
wait_until() {
	limit=$1 desc=$2
	shift 3
	start=$(date +%s%N)
	while :; do
		if "$@" >/dev/null 2>&1; then
			return 0
		fi
		now=$(date +%s%N)
		if [ $(( (now - start) / 1000000000 )) -ge "$limit" ]; then
			not_ok "$desc: not within $limit s"
			return 1
		fi
		sleep 0.05
	done
}

mode_is() {
	[ "$(status_get 'd["mode"]')" = "$1" ]
}

lab_start() {
	if ! "$LAB" start >"$T/lab.log" 2>&1; then
		cat "$T/lab.log"
		echo "cannot start the lab"
		exit 99
	fi
	eval "$("$LAB" env)"
}

daemon_start() {
	"$RESGUARDD" -f -v -c "${1:-$RG_LAB_CONF}" >>"$T/daemon.log" 2>&1 &
	DAEMON_PID=$!
	wait_until 10 "daemon answers" -- daemon_answers
}

# The daemon answers (status exits 0, 1 or 2; 3 is "unreachable").
daemon_answers() {
	ctl status >/dev/null 2>&1
	[ $? -ne 3 ]
}

daemon_stop() {
	kill -TERM "$DAEMON_PID"
	wait "$DAEMON_PID"
	rc=$?
	DAEMON_PID=
	return $rc
}

finish() {
	echo "$pass passed, $fail failed"
	[ "$fail" -eq 0 ]
	exit $?
}
