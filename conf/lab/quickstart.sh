#!/usr/bin/env bash
#
# quickstart.sh -- build resguard on a fresh Debian 12 machine and either
# run it against the local lab ("run") or run the test suite ("check").
#
# Both install the Debian packages that are missing (and only those), build
# in the source tree (autoreconf and configure only when needed, then make),
# and work from any current directory.  "run" starts the lab (conf/lab/lab.sh)
# and resguardd in the foreground on the lab's configuration; Ctrl-C stops
# both.  "check" runs "make check" and shows the logs of the tests that
# failed; its exit status is make's.  Nothing here needs port 53 or talks to
# anything but loopback.
#
set -euo pipefail

readonly PACKAGES="build-essential autoconf automake libtool pkg-config
libldns-dev libuv1-dev libunbound-dev libssl-dev libconfig-dev libjansson-dev
libcmocka-dev libevent-dev libmicrohttpd-dev libcurl4-openssl-dev
libgnutls28-dev libidn2-dev libpsl-dev unbound nsd knot python3 dnsutils
knot-dnsutils ldnsutils openssl prometheus dnsperf dnsdist curl clang
libclang-rt-14-dev chromium valgrind faketime libfaketime libseccomp-dev
ca-certificates nftables"

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
repo=$(cd "$here/../.." && pwd -P)
PATH=$PATH:/usr/sbin:/sbin

say() {
	echo "quickstart: $*"
}

die() {
	echo "quickstart: $*" >&2
	exit 1
}

usage() {
	cat <<EOF
usage: conf/lab/quickstart.sh run | check

  run    install what is missing, build, start the local lab and run
         resguardd in the foreground on it (Ctrl-C stops both)
  check  install what is missing, build and run "make check"
EOF
}

as_root() {
	if [ "$(id -u)" = 0 ]; then
		"$@"
	elif command -v sudo > /dev/null; then
		sudo "$@"
	else
		die "need root for: $* (install sudo or run as root)"
	fi
}

installed() {
	dpkg-query -W -f='${Status}' "$1" 2> /dev/null |
	    grep -q '^install ok installed$'
}

install_packages() {
	local p missing=()
	command -v dpkg-query > /dev/null ||
	    die "dpkg-query not found: this script expects Debian 12"
	for p in $PACKAGES; do
		installed "$p" || missing+=("$p")
	done
	if [ ${#missing[@]} -eq 0 ]; then
		say "all packages present"
		return 0
	fi
	say "installing ${missing[*]}"
	as_root env DEBIAN_FRONTEND=noninteractive apt-get update
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y \
	    --no-install-recommends "${missing[@]}"
	# A package install may start the system's Unbound or NSD on port
	# 53, or Prometheus (installed for promtool) or dnsdist (for the
	# benchmarks); the lab needs none.
	for p in "${missing[@]}"; do
		case $p in
		unbound | nsd | prometheus | dnsdist) stop_service "$p" ;;
		esac
	done
}

stop_service() {
	command -v systemctl > /dev/null || return 0
	[ -d /run/systemd/system ] || return 0
	say "disabling the system's $1 service (the lab runs its own)"
	as_root systemctl disable --now "$1" > /dev/null 2>&1 || true
}

build() {
	cd "$repo"
	if [ ! -x configure ] || [ configure.ac -nt configure ]; then
		say "autoreconf -fi"
		mkdir -p m4
		autoreconf -fi
	fi
	if [ ! -f Makefile ] || [ ! -f config.status ] ||
	    [ configure -nt config.status ]; then
		say "./configure"
		./configure
	fi
	say "make -j2"
	make -j2
}

# The logs of the tests that ran after STAMP and did not pass (their .trs
# file says so), else the summary.
show_failed_logs() {
	local trs log shown=
	while IFS= read -r trs; do
		grep -Eq '^:test-result: (FAIL|ERROR|XPASS)' "$trs" || continue
		log=${trs%.trs}.log
		[ -f "$log" ] || continue
		echo "======== $log"
		cat "$log"
		shown=1
	done < <(find . -name '*.trs' -newer "$1" 2> /dev/null | sort)
	if [ -z "$shown" ] && [ -f test-suite.log ]; then
		echo "======== test-suite.log"
		cat test-suite.log
	fi
}

cmd_check() {
	local stamp rc=0
	install_packages
	build
	stamp=$(mktemp)
	trap 'rm -f "$stamp"' EXIT
	say "make -j2 check"
	make -j2 check || rc=$?
	if [ $rc -ne 0 ]; then
		say "make check failed (status $rc); logs of the failed tests:"
		show_failed_logs "$stamp"
	fi
	exit $rc
}

cmd_run() {
	local bin ctl conf sock
	install_packages
	build
	bin=
	for b in ./resguardd ./src/resguardd; do
		[ -x "$b" ] && { bin=$b; break; }
	done
	[ -n "$bin" ] || die "resguardd was not built"
	ctl=./resguardctl
	[ -x "$ctl" ] || ctl=./src/resguardctl
	"$here/lab.sh" start
	trap '"$here/lab.sh" stop' EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	eval "$("$here/lab.sh" env)"
	conf=$RG_LAB_DIR/resguard-quickstart.conf
	"$here/lab.sh" hub-conf > "$conf"
	# The plugins (feed formats, backends, reporters) of this build tree.
	export RG_PLUGIN_DIR=${RG_PLUGIN_DIR:-$repo/plugins}
	sock=$RG_LAB_CONTROL_SOCKET
	cat <<EOF

The lab is up in $RG_LAB_DIR:
  primary   Unbound  127.0.0.1@$RG_LAB_PRIMARY_PORT
  fallback  Unbound  127.0.0.1@$RG_LAB_FALLBACK_PORT, DNS over TLS @$RG_LAB_FALLBACK_TLS_PORT ($RG_LAB_TLS_NAME)
  root      NSD      127.0.0.1@$RG_LAB_ROOT_PORT (signed local root, and the hub's RPZ zone)

resguardd now runs in the foreground on $conf.
In another terminal, from $repo:
  $ctl -s $sock status
  dig @127.0.0.1 -p $RG_LAB_PORT_BASE www.lab.test          # answered
  dig @127.0.0.1 -p $RG_LAB_PORT_BASE malware.lab.test      # blocked by the hub's feed
  conf/lab/lab.sh block evil.lab.test # the hub adds a name: NOTIFY, transfer
  $ctl -s $sock check evil.lab.test
  conf/lab/lab.sh freeze primary      # an outage: resguard fails over to "eu"
  conf/lab/lab.sh thaw primary        # it fails back after the hold-down
  conf/lab/lab.sh rewrite primary on  # NXDOMAIN rewriting: "degraded"
  $ctl -s $sock events
Ctrl-C here stops resguardd and the lab.

EOF
	"$bin" -f -c "$conf"
}

[ $# -eq 1 ] || { usage >&2; exit 2; }
case $1 in
run) cmd_run ;;
check) cmd_check ;;
-h | --help | help) usage ;;
*) usage >&2; exit 2 ;;
esac
