#!/bin/sh
# unit.sh -- the systemd unit in conf/ passes "systemd-analyze verify" with
# the paths of this build, and keeps its hardening settings.

set -u
BUILDDIR=${RG_BUILDDIR:-.}
SRCDIR=${RG_SRCDIR:-.}
if ! command -v systemd-analyze >/dev/null 2>&1; then
	echo "SKIP: systemd-analyze not found"
	exit 77
fi
T=$(mktemp -d "${TMPDIR:-/tmp}/rg-unit.XXXXXX") || exit 99
trap 'rm -rf "$T"' EXIT

sed -e "s|@sbindir@|$BUILDDIR|g" -e "s|@sysconfdir@|$SRCDIR/conf|g" \
    "$SRCDIR/conf/resguardd.service.in" > "$T/resguardd.service"
fail=0
if systemd-analyze verify --man=no "$T/resguardd.service"; then
	echo "ok   systemd-analyze verify"
else
	echo "FAIL systemd-analyze verify"
	fail=1
fi
for want in "NoNewPrivileges=yes" "ProtectSystem=strict" \
    "CapabilityBoundingSet=CAP_NET_BIND_SERVICE" "User=resguard" \
    "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6"; do
	if grep -qx "$want" "$T/resguardd.service"; then
		echo "ok   $want"
	else
		echo "FAIL $want missing"
		fail=1
	fi
done
exit $fail
