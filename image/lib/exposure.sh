#!/usr/bin/env bash
# The exposure score systemd gives a service, from unit files only (no running system needed):
#   image/lib/exposure.sh ROOT UNIT MAX
# runs `systemd-analyze security --offline=yes --root=ROOT UNIT`, prints what is not hardened
# and the overall score, and fails when the score is above MAX (a decimal such as 1.5).
# image/boot-test runs it on the units of the card it booted; image/tests/exposure.sh proves
# that it fails above the bound.
set -euo pipefail
(($# == 3)) || { echo "usage: $0 ROOT UNIT MAX" >&2; exit 2; }
root=$1 unit=$2 max=$3
command -v systemd-analyze >/dev/null || { echo "error: no systemd-analyze on this host" >&2; exit 1; }
out=$(systemd-analyze security --offline=yes --root="$root" --no-pager "$unit" 2>&1) || {
  printf '%s\n' "$out" >&2
  echo "error: systemd-analyze could not analyse $unit under $root" >&2
  exit 1
}
printf '%s\n' "$out" | grep -E '✗|Overall exposure' >&2 || true
score=$(printf '%s\n' "$out" | sed -n "s/.*Overall exposure level for $unit: \([0-9.]*\).*/\1/p")
[[ -n $score ]] || { echo "error: no overall exposure level for $unit" >&2; exit 1; }
echo "$unit: exposure $score (bound $max; $(systemd-analyze --version | head -1))" >&2
awk -v s="$score" -v m="$max" 'BEGIN { exit !(s <= m) }' || {
  echo "error: $unit is exposed above $max: $score" >&2
  exit 1
}
