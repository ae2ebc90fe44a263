#!/usr/bin/env bash
#
# lab.sh -- the resguard local lab: a signed local root (NSD) and two
# validating Unbound resolvers, all on 127.0.0.1, for the quick start and
# the system tests.
#
# The primary Unbound stands in for the resolver that resguard watches, the
# fallback Unbound (plain DNS and DNS over TLS) for DNS4EU; both recurse
# only through the local root, so no query ever leaves loopback.  The lab
# can break its servers on demand: "freeze" stops a process (an outage that
# still holds its port), "rewrite" makes a resolver answer names under
# invalid. that must not exist (NXDOMAIN rewriting).  State lives in
# ${RG_LAB_DIR:-<repository>/.lab}, ports start at ${RG_LAB_PORT_BASE:-5300}:
# primary base+1, fallback base+2 and DoT base+3, root base+4.
#
# NSD also plays a hub's RPZ primary: the zone rpz.lab.test., transferred
# with a TSIG key made for the lab, with NOTIFY sent to base+5 whenever
# "block" or "unblock" changes it.
#
set -euo pipefail

usage() {
	cat <<EOF
usage: lab.sh start | stop | status | env
       lab.sh freeze NAME | thaw NAME      (NAME: primary, fallback, root)
       lab.sh rewrite NAME on|off          (NAME: primary, fallback)
       lab.sh block NAME | unblock NAME    (a name in the hub's RPZ zone)
       lab.sh hub-conf

  start    start whatever is not running and wait until every server answers
  stop     stop every server of the lab (nothing else)
  status   show each server; exit 0 when all run and answer, 1 otherwise
  env      print shell assignments for the lab (eval "\$(lab.sh env)")
  freeze   stop the process with SIGSTOP: it keeps its port and answers nothing
  thaw     resume it with SIGCONT
  rewrite  on: answer every name under invalid. with an A record; off: undo
  block    add NAME to the RPZ zone rpz.lab.test. (NXDOMAIN) and notify
  unblock  take it out again
  hub-conf print resguardd's lab configuration with the hub's RPZ feed

environment: RG_LAB_DIR (default <repository>/.lab),
             RG_LAB_PORT_BASE (default: the lab's last one, else 5300)
EOF
}

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
repo=$(cd "$here/../.." && pwd -P)
PATH=$PATH:/usr/sbin:/sbin

readonly WAIT_S=10
readonly TLS_NAME=fallback.lab.test
readonly REWRITE_ZONE=invalid.
readonly REWRITE_ADDR=192.0.2.254
readonly SERVERS="root primary fallback"

die() {
	echo "lab.sh: $*" >&2
	exit 1
}

note() {
	echo "lab.sh: $*"
}

lab=${RG_LAB_DIR:-$repo/.lab}
case $lab in
/*) ;;
*) lab=$PWD/$lab ;;
esac
case $lab in
*[[:space:]\"\'\\]*) die "RG_LAB_DIR must not contain spaces, quotes or backslashes: $lab" ;;
esac
# Room for "/fallback/control.sock" in sun_path (108 bytes).
[ ${#lab} -le 80 ] || die "RG_LAB_DIR is too long for UNIX socket paths (max 80 characters): $lab"

base_valid() {
	case $1 in
	'' | *[!0-9]*) return 1 ;;
	esac
	[ "$1" -ge 1024 ] && [ "$1" -le 65530 ]
}

# The port base is recorded at start.  Other commands use the recorded one;
# start takes RG_LAB_PORT_BASE, else the recorded one, else 5300.
recorded_base() {
	[ -f "$lab/lab.env" ] || return 0
	sed -n 's/^RG_LAB_PORT_BASE=//p' "$lab/lab.env"
}

set_ports() {
	base=$1
	base_valid "$base" || die "bad RG_LAB_PORT_BASE: '$base' (1024..65530)"
	port_primary=$((base + 1))
	port_fallback=$((base + 2))
	port_tls=$((base + 3))
	port_root=$((base + 4))
	port_notify=$((base + 5))
}

# The lab's TSIG secret for the RPZ zone, made once.
rpz_secret() {
	local f=$lab/root/rpz.secret
	if [ ! -s "$f" ]; then
		mkdir -p "$lab/root"
		openssl rand -base64 32 > "$f.tmp" && mv "$f.tmp" "$f" ||
		    die "cannot make the RPZ TSIG secret"
	fi
	cat "$f"
}

# The RPZ zone from the names in root/rpz.names, with the next serial.
rpz_write() {
	local d=$lab/root serial=1 n
	[ -f "$d/rpz.serial" ] && serial=$(($(cat "$d/rpz.serial") + 1))
	touch "$d/rpz.names"
	{
		echo '$ORIGIN rpz.lab.test.'
		echo '$TTL 60'
		echo "@ SOA localhost. hostmaster.lab.test. $serial 60 30 3600 60"
		echo '@ NS localhost.'
		while read -r n; do
			[ -n "$n" ] && echo "$n CNAME ."
		done < "$d/rpz.names"
	} > "$d/rpz.zone.tmp"
	mv "$d/rpz.zone.tmp" "$d/rpz.zone"
	echo "$serial" > "$d/rpz.serial"
}

# render TEMPLATE OUTPUT [SERIAL]: fill the @...@ placeholders.
render() {
	local esc
	esc=$(printf '%s' "$lab" | sed -e 's/[\\&|]/\\&/g')
	sed -e "s|@RG_LAB_DIR@|$esc|g" \
	    -e "s|@RG_LAB_PORT_BASE@|$base|g" \
	    -e "s|@RG_LAB_PRIMARY_PORT@|$port_primary|g" \
	    -e "s|@RG_LAB_FALLBACK_PORT@|$port_fallback|g" \
	    -e "s|@RG_LAB_FALLBACK_TLS_PORT@|$port_tls|g" \
	    -e "s|@RG_LAB_ROOT_PORT@|$port_root|g" \
	    -e "s|@RG_LAB_NOTIFY_PORT@|$port_notify|g" \
	    -e "s|@RG_LAB_RPZ_SECRET@|$(rpz_secret)|g" \
	    -e "s|@SERIAL@|${3:-1}|g" \
	    "$here/$1" > "$2.tmp"
	mv "$2.tmp" "$2"
}

# --- processes -------------------------------------------------------------

pidfile_of() {
	case $1 in
	root) echo "$lab/root/nsd.pid" ;;
	*) echo "$lab/$1/unbound.pid" ;;
	esac
}

conf_of() {
	case $1 in
	root) echo "$lab/root/nsd.conf" ;;
	*) echo "$lab/$1/unbound.conf" ;;
	esac
}

log_of() {
	case $1 in
	root) echo "$lab/root/nsd.log" ;;
	*) echo "$lab/$1/unbound.log" ;;
	esac
}

# The pid of server NAME when its pid file names a live process that runs
# our configuration file (so a recycled pid is never signalled).
pid_of() {
	local f pid
	f=$(pidfile_of "$1")
	[ -s "$f" ] || return 0
	pid=$(tr -dc '0-9' < "$f")
	[ -n "$pid" ] || return 0
	[ -r "/proc/$pid/cmdline" ] || return 0
	tr '\0' '\n' < "/proc/$pid/cmdline" | grep -qxF -- "$(conf_of "$1")" || return 0
	echo "$pid"
}

# A process and all its descendants (NSD serves from grandchildren of the
# process in its pid file).
pids_tree() {
	local pairs p c st
	local -a queue
	pairs=$(for st in /proc/[0-9]*/stat; do
		p=${st#/proc/}
		p=${p%/stat}
		c=$(sed -e 's/^.*) [A-Za-z] \([0-9]*\) .*$/\1/' "$st" 2>/dev/null) &&
		    echo "$c $p"
	done)
	queue=("$1")
	while [ ${#queue[@]} -gt 0 ]; do
		p=${queue[0]}
		queue=("${queue[@]:1}")
		echo "$p"
		for c in $(echo "$pairs" | awk -v p="$p" '$1 == p { print $2 }'); do
			queue+=("$c")
		done
	done
}

proc_state() {
	sed -e 's/^.*) \([A-Za-z]\) .*$/\1/' "/proc/$1/stat" 2>/dev/null || echo X
}

is_frozen() {
	[ "$(proc_state "$1")" = T ]
}

log_tail() {
	local f
	for f in "$(log_of "$1")" "$lab/$1/stderr.log"; do
		[ -s "$f" ] || continue
		echo "--- last lines of $f:" >&2
		tail -n 15 "$f" >&2
	done
}

fail_server() {
	echo "lab.sh: $1: $2" >&2
	log_tail "$1"
	echo "lab.sh: \"lab.sh stop\" stops what did start" >&2
	exit 1
}

stop_server() {
	local name=$1 pid pids p alive
	pid=$(pid_of "$name")
	if [ -z "$pid" ]; then
		rm -f "$(pidfile_of "$name")"
		return 0
	fi
	pids=$(pids_tree "$pid")
	# A stopped process only acts on SIGTERM once it runs again.
	for p in $pids; do kill -CONT "$p" 2>/dev/null || true; done
	kill -TERM "$pid" 2>/dev/null || true
	for _ in $(seq 50); do
		alive=
		for p in $pids; do
			case $(proc_state "$p") in
			X | Z) ;;
			*) alive=1 ;;
			esac
		done
		[ -z "$alive" ] && break
		sleep 0.1
	done
	for p in $pids; do kill -KILL "$p" 2>/dev/null || true; done
	rm -f "$(pidfile_of "$name")" "$lab/$name/rewrite"
	note "stopped $name (pid $pid)"
}

# --- DNS checks ------------------------------------------------------------

# ask PORT NAME TYPE [dig options]: the short answer, or nothing.
ask() {
	local port=$1 qname=$2 qtype=$3
	shift 3
	dig @127.0.0.1 -p "$port" +time=1 +tries=1 +short "$@" "$qname" "$qtype" 2>/dev/null || true
}

ask_tls() {
	kdig @127.0.0.1 -p "$port_tls" +tls-ca="$lab/ca.pem" \
	    +tls-hostname="$TLS_NAME" +timeout=1 +retry=0 +short \
	    "$1" "$2" 2>/dev/null || true
}

# ready NAME: 0 once server NAME answers its own question.
ready() {
	case $1 in
	root) [ -n "$(ask "$port_root" . SOA +norec)" ] ;;
	primary) [ "$(ask "$port_primary" who.primary.lab TXT)" = '"primary"' ] ;;
	fallback)
		[ "$(ask "$port_fallback" who.fallback.lab TXT)" = '"fallback"' ] || return 1
		! command -v kdig >/dev/null ||
		    [ "$(ask_tls who.fallback.lab TXT)" = '"fallback"' ]
		;;
	esac
}

wait_ready() {
	local name=$1 deadline pid
	deadline=$((SECONDS + WAIT_S))
	while [ $SECONDS -lt $deadline ]; do
		pid=$(pid_of "$name")
		if [ -n "$pid" ] && ready "$name"; then
			return 0
		fi
		sleep 0.2
	done
	pid=$(pid_of "$name")
	[ -n "$pid" ] || fail_server "$name" "did not start"
	fail_server "$name" "pid $pid does not answer on loopback after ${WAIT_S} s"
}

# A validating Unbound must answer www.lab.test. with AD and refuse the
# broken www.bogus.test.
check_dnssec() {
	local name=$1 port=$2 out
	out=$(dig @127.0.0.1 -p "$port" +time=2 +tries=1 +dnssec www.lab.test A 2>&1) || true
	case $out in
	*"flags: qr rd ra ad;"*192.0.2.10*) ;;
	*) fail_server "$name" "www.lab.test. A does not validate (no AD):
$out" ;;
	esac
	out=$(dig @127.0.0.1 -p "$port" +time=2 +tries=1 +dnssec www.bogus.test A 2>&1) || true
	case $out in
	*"status: SERVFAIL"*) ;;
	*) fail_server "$name" "www.bogus.test. A is not SERVFAIL:
$out" ;;
	esac
}

# --- material: CA, certificate, keys, zone ---------------------------------

make_tls() {
	local ext
	if [ ! -s "$lab/ca.pem" ] || [ ! -s "$lab/ca.key" ]; then
		rm -f "$lab/fallback.pem"
		openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
		    -out "$lab/ca.key" 2>/dev/null
		chmod 600 "$lab/ca.key"
		openssl req -x509 -new -key "$lab/ca.key" -sha256 -days 3650 \
		    -subj "/CN=resguard lab CA" \
		    -addext "basicConstraints=critical,CA:TRUE" \
		    -addext "keyUsage=critical,keyCertSign,cRLSign" \
		    -out "$lab/ca.pem"
		note "made test CA $lab/ca.pem"
	fi
	if [ ! -s "$lab/fallback.pem" ] || [ ! -s "$lab/fallback.key" ]; then
		openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
		    -out "$lab/fallback.key" 2>/dev/null
		chmod 600 "$lab/fallback.key"
		openssl req -new -key "$lab/fallback.key" -subj "/CN=$TLS_NAME" \
		    -out "$lab/fallback.csr"
		ext=$lab/fallback.ext
		cat > "$ext" <<EOF
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:$TLS_NAME
EOF
		openssl x509 -req -in "$lab/fallback.csr" -CA "$lab/ca.pem" \
		    -CAkey "$lab/ca.key" -CAcreateserial -sha256 -days 825 \
		    -extfile "$ext" -out "$lab/fallback.pem" 2>/dev/null
		rm -f "$lab/fallback.csr" "$ext" "$lab/ca.srl"
		note "issued certificate for $TLS_NAME: $lab/fallback.pem"
	fi
}

make_keys() {
	local k d=$lab/root/keys
	command -v ldns-keygen >/dev/null ||
	    die "ldns-keygen not found (Debian package ldnsutils)"
	mkdir -p "$d"
	if [ ! -s "$d/ksk" ] || [ ! -s "$d/zsk" ]; then
		k=$(cd "$d" && ldns-keygen -a ECDSAP256SHA256 -k .)
		rm -f "$d/$k.ds"
		echo "$k" > "$d/ksk"
		k=$(cd "$d" && ldns-keygen -a ECDSAP256SHA256 .)
		echo "$k" > "$d/zsk"
		note "made root keys $(cat "$d/ksk") (KSK) and $k (ZSK)"
	fi
	ldns-key2ds -n -2 "$d/$(cat "$d/ksk").key" > "$lab/root.anchor.tmp"
	mv "$lab/root.anchor.tmp" "$lab/root.anchor"
}

# Render, sign (valid from a day ago for thirty days) and break the zone.
sign_zone() {
	local d=$lab/root now z
	now=$(date +%s)
	z=$d/root.zone
	render root.zone.in "$z" "$now"
	(cd "$d/keys" && ldns-signzone -i $((now - 86400)) \
	    -e $((now + 30 * 86400)) -f "$z.signed.tmp" "$z" \
	    "$(cat ksk)" "$(cat zsk)")
	sed -i -e 's/^\(www\.bogus\.test\.[[:space:]].*[[:space:]]A[[:space:]]\{1,\}\)192\.0\.2\.66$/\1192.0.2.99/' \
	    "$z.signed.tmp"
	grep -Eq '^www\.bogus\.test\.[[:space:]].*[[:space:]]A[[:space:]]+192\.0\.2\.99$' "$z.signed.tmp" ||
	    die "could not break the signature of www.bogus.test. in $z.signed.tmp"
	nsd-checkzone . "$z.signed.tmp" > /dev/null ||
	    die "nsd-checkzone rejects $z.signed.tmp"
	mv "$z.signed.tmp" "$z.signed"
}

# --- start -----------------------------------------------------------------

start_root() {
	local pid
	pid=$(pid_of root)
	if [ -n "$pid" ]; then
		note "root already running (pid $pid)"
		return 0
	fi
	command -v nsd >/dev/null || die "nsd not found (Debian package nsd)"
	sign_zone
	[ -f "$lab/root/rpz.names" ] ||
	    printf '%s\n' malware.lab.test '*.phishing.lab.test' > "$lab/root/rpz.names"
	rpz_write
	render nsd.conf.in "$lab/root/nsd.conf"
	rm -f "$lab/root/nsd.pid" "$lab/root/xfrd.state" "$lab/root/zone.list"
	nsd-checkconf "$lab/root/nsd.conf" ||
	    die "nsd-checkconf rejects $lab/root/nsd.conf"
	nsd -c "$lab/root/nsd.conf" 2>> "$lab/root/stderr.log" ||
	    fail_server root "nsd exited with status $?"
	wait_ready root
	note "root (NSD) serves . on 127.0.0.1@$port_root (pid $(pid_of root))"
}

start_unbound() {
	local name=$1 pid conf
	pid=$(pid_of "$name")
	conf=$(conf_of "$name")
	if [ -n "$pid" ]; then
		note "$name already running (pid $pid)"
		return 0
	fi
	command -v unbound >/dev/null ||
	    die "unbound not found (Debian package unbound)"
	render "unbound-$name.conf.in" "$conf"
	rm -f "$lab/$name/unbound.pid" "$lab/$name/control.sock" \
	    "$lab/$name/rewrite"
	unbound-checkconf "$conf" > "$lab/$name/checkconf.log" 2>&1 ||
	    die "unbound-checkconf rejects $conf: $(cat "$lab/$name/checkconf.log")"
	unbound -c "$conf" 2>> "$lab/$name/stderr.log" ||
	    fail_server "$name" "unbound exited with status $?"
	wait_ready "$name"
	note "$name (Unbound) up (pid $(pid_of "$name"))"
}

thaw_if_frozen() {
	local pid p
	pid=$(pid_of "$1")
	[ -n "$pid" ] && is_frozen "$pid" || return 0
	for p in $(pids_tree "$pid"); do kill -CONT "$p" 2>/dev/null || true; done
	note "thawed $1"
}

write_env() {
	{
		echo "RG_LAB_DIR=$lab"
		echo "RG_LAB_PORT_BASE=$base"
	} > "$lab/lab.env.tmp"
	mv "$lab/lab.env.tmp" "$lab/lab.env"
}

any_running() {
	local s
	for s in $SERVERS; do
		[ -z "$(pid_of "$s")" ] || return 0
	done
	return 1
}

cmd_start() {
	local want rec s
	rec=$(recorded_base)
	want=${RG_LAB_PORT_BASE:-${rec:-5300}}
	if [ -n "$rec" ] && [ "$rec" != "$want" ] && any_running; then
		die "the lab in $lab runs with port base $rec; stop it first or use another RG_LAB_DIR"
	fi
	set_ports "$want"
	command -v dig >/dev/null || die "dig not found (Debian package dnsutils)"
	command -v openssl >/dev/null || die "openssl not found"
	mkdir -p "$lab/root" "$lab/primary" "$lab/fallback" \
	    "$lab/resguard/state"
	[ -e "$lab/.gitignore" ] || echo '*' > "$lab/.gitignore"
	write_env
	make_tls
	make_keys
	for s in $SERVERS; do thaw_if_frozen "$s"; done
	start_root
	start_unbound primary
	start_unbound fallback
	check_dnssec primary "$port_primary"
	check_dnssec fallback "$port_fallback"
	render resguard.conf.in "$lab/resguard.conf"
	note "lab up in $lab: primary 127.0.0.1@$port_primary," \
	    "fallback 127.0.0.1@$port_fallback (DoT @$port_tls)," \
	    "root 127.0.0.1@$port_root"
}

cmd_stop() {
	stop_server primary
	stop_server fallback
	stop_server root
}

cmd_status() {
	local s pid state what rc=0 ports rw
	printf 'lab %s, port base %s\n' "$lab" "$base"
	for s in $SERVERS; do
		case $s in
		root) what=nsd; ports="127.0.0.1@$port_root" ;;
		primary) what=unbound; ports="127.0.0.1@$port_primary" ;;
		fallback) what=unbound
			ports="127.0.0.1@$port_fallback, DoT 127.0.0.1@$port_tls" ;;
		esac
		pid=$(pid_of "$s")
		if [ -z "$pid" ]; then
			state=stopped
			rc=1
		elif is_frozen "$pid"; then
			state=frozen
			rc=1
		elif ready "$s"; then
			state=running
		else
			state="running, not answering"
			rc=1
		fi
		rw=
		[ -f "$lab/$s/rewrite" ] && rw=", rewriting $REWRITE_ZONE"
		printf '%-9s %-8s pid %-7s %s (%s)%s\n' "$s" "$what" \
		    "${pid:--}" "$state" "$ports" "$rw"
	done
	return $rc
}

cmd_env() {
	local v
	for v in "RG_LAB_DIR=$lab" \
	    "RG_LAB_PORT_BASE=$base" \
	    "RG_LAB_PRIMARY_PORT=$port_primary" \
	    "RG_LAB_FALLBACK_PORT=$port_fallback" \
	    "RG_LAB_FALLBACK_TLS_PORT=$port_tls" \
	    "RG_LAB_ROOT_PORT=$port_root" \
	    "RG_LAB_NOTIFY_PORT=$port_notify" \
	    "RG_LAB_RPZ_ZONE=rpz.lab.test." \
	    "RG_LAB_RPZ_KEY=lab-rpz." \
	    "RG_LAB_RPZ_SECRET=$(rpz_secret)" \
	    "RG_LAB_CA=$lab/ca.pem" \
	    "RG_LAB_TLS_NAME=$TLS_NAME" \
	    "RG_LAB_TRUST_ANCHOR=$lab/root.anchor" \
	    "RG_LAB_CONF=$lab/resguard.conf" \
	    "RG_LAB_CONTROL_SOCKET=$lab/resguard/control.sock" \
	    "RG_LAB_PRIMARY_UNBOUND_CONF=$lab/primary/unbound.conf" \
	    "RG_LAB_FALLBACK_UNBOUND_CONF=$lab/fallback/unbound.conf" \
	    "RG_LAB_PRIMARY_CONTROL=$lab/primary/control.sock" \
	    "RG_LAB_FALLBACK_CONTROL=$lab/fallback/control.sock"; do
		printf 'export %s=%q\n' "${v%%=*}" "${v#*=}"
	done
}

check_name() {
	case $1 in
	root | primary | fallback) ;;
	*) die "unknown server '$1' (primary, fallback or root)" ;;
	esac
}

cmd_signal() {
	local sig=$1 name=$2 pid p
	check_name "$name"
	pid=$(pid_of "$name")
	[ -n "$pid" ] || die "$name is not running"
	for p in $(pids_tree "$pid"); do kill "-$sig" "$p" 2>/dev/null || true; done
	if [ "$sig" = STOP ]; then
		note "froze $name (pid $pid): it holds its port and answers nothing"
	else
		note "thawed $name (pid $pid)"
	fi
}

uctl() {
	unbound-control -c "$(conf_of "$1")" "${@:2}" > /dev/null ||
	    die "unbound-control $2 failed on $1"
}

cmd_rewrite() {
	local name=$1 how=$2 pid
	case $name in
	primary | fallback) ;;
	*) die "rewrite works on primary or fallback, not '$name'" ;;
	esac
	pid=$(pid_of "$name")
	[ -n "$pid" ] || die "$name is not running"
	! is_frozen "$pid" || die "$name is frozen; thaw it first"
	case $how in
	on)
		uctl "$name" local_zone "$REWRITE_ZONE" redirect
		uctl "$name" local_data "$REWRITE_ZONE 60 IN A $REWRITE_ADDR"
		uctl "$name" flush_zone "$REWRITE_ZONE"
		echo on > "$lab/$name/rewrite"
		note "$name now answers every name under $REWRITE_ZONE with $REWRITE_ADDR"
		;;
	off)
		uctl "$name" local_zone_remove "$REWRITE_ZONE"
		uctl "$name" flush_zone "$REWRITE_ZONE"
		rm -f "$lab/$name/rewrite"
		note "$name answers names under $REWRITE_ZONE truthfully again"
		;;
	*) die "rewrite $name: say on or off" ;;
	esac
}

# block|unblock NAME: change the hub's RPZ zone; NSD reloads it on SIGHUP
# and notifies base+5.
cmd_rpz() {
	local how=$1 name=$2 d=$lab/root pid
	case $name in
	'' | *[!A-Za-z0-9.*_-]*) die "not a name for the RPZ zone: '$name'" ;;
	esac
	pid=$(pid_of root)
	[ -n "$pid" ] || die "root is not running"
	! is_frozen "$pid" || die "root is frozen; thaw it first"
	touch "$d/rpz.names"
	grep -v -x -F -- "$name" "$d/rpz.names" > "$d/rpz.names.tmp" || :
	[ "$how" = block ] && echo "$name" >> "$d/rpz.names.tmp"
	mv "$d/rpz.names.tmp" "$d/rpz.names"
	rpz_write
	kill -HUP "$pid"
	note "rpz.lab.test. serial $(cat "$d/rpz.serial"): $name ${how}ed; NSD notifies 127.0.0.1@$port_notify"
}

# The lab's configuration plus the hub's RPZ feed, transferred from the
# lab's NSD with TSIG and kept current by its NOTIFY.
cmd_hub_conf() {
	[ -f "$lab/resguard.conf" ] || die "no lab in $lab: start it first"
	sed -e "s|^\([[:space:]]*\)listen = \(\[.*\]\);|\1listen = \2;\\
\1notify-listen = [ \"127.0.0.1@$port_notify\" ];|" "$lab/resguard.conf"
	cat <<EOF

# The hub's indicators: an RPZ zone by transfer (TSIG), NOTIFY to the port
# above ("conf/lab/lab.sh block NAME" adds a name).
feeds = ( { name = "lab-hub"; format = "rpz";
	source = "axfr://127.0.0.1@$port_root/rpz.lab.test.";
	tsig-name = "lab-rpz."; tsig-secret = "$(rpz_secret)"; } );
EOF
}

[ $# -ge 1 ] || { usage >&2; exit 2; }
cmd=$1
shift
if [ "$cmd" != start ]; then
	rec=$(recorded_base)
	set_ports "${rec:-${RG_LAB_PORT_BASE:-5300}}"
fi
case $cmd:$# in
start:0) cmd_start ;;
stop:0) cmd_stop ;;
status:0) cmd_status ;;
env:0) cmd_env ;;
freeze:1) cmd_signal STOP "$1" ;;
thaw:1) cmd_signal CONT "$1" ;;
rewrite:2) cmd_rewrite "$1" "$2" ;;
block:1) cmd_rpz block "$1" ;;
unblock:1) cmd_rpz unblock "$1" ;;
hub-conf:0) cmd_hub_conf ;;
-h:0 | --help:0 | help:0) usage ;;
*) usage >&2; exit 2 ;;
esac
