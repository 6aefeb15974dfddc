#!/usr/bin/env bash
# image/lib/exposure.sh passes the image's own vigild unit and refuses one hardened less (the
# unit as it was before socket activation: a network capability, no PrivateMounts, Internet
# address families), so the boot test's bound can fail.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
mkdir -p "$tmp/good/etc/systemd/system" "$tmp/weak/etc/systemd/system"
cp "$here"/rootfs/etc/systemd/system/vigild* "$tmp/good/etc/systemd/system/"
bash "$here/lib/exposure.sh" "$tmp/good" vigild.service 1.5 || fail "the image's unit is over 1.5"
sed -e 's/^CapabilityBoundingSet=$/CapabilityBoundingSet=CAP_NET_BIND_SERVICE\nAmbientCapabilities=CAP_NET_BIND_SERVICE/' \
  -e '/^PrivateMounts=/d' -e 's/^RestrictAddressFamilies=.*/RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX/' \
  "$here/rootfs/etc/systemd/system/vigild.service" >"$tmp/weak/etc/systemd/system/vigild.service"
! bash "$here/lib/exposure.sh" "$tmp/weak" vigild.service 1.5 2>"$tmp/weak.err" ||
  fail "a unit with a capability and Internet sockets passed the bound"
grep -q 'exposed above 1.5: 1.8' "$tmp/weak.err" || fail "unexpected refusal: $(cat "$tmp/weak.err")"
! bash "$here/lib/exposure.sh" "$tmp/good" missing.service 1.5 2>/dev/null ||
  fail "a missing unit passed"
echo "exposure: the image's unit passes, a weaker one and a missing one are refused"
