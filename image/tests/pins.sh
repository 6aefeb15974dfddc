#!/usr/bin/env bash
# A pin the mirror no longer carries stops the build before anything is built, naming the
# package and the way out; a pin it carries passes. Needs network access to the mirror (as
# image/build does); no root. (Whether the committed manifest is current is image/build's
# first check: Debian replaces versions on its own schedule.)
set -euo pipefail
. "$(dirname "$0")/../lib/common.sh"
load_mirrors
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# A pin taken from the mirror's own index passes (multi-line stanzas, Version before
# Architecture, several index files).
check_pins_available /dev/null arm64 "$tmp"
current=$(awk '/^Package: base-files$/ {p=1} p && /^Version:/ {print $2; exit}' "$tmp/apt-check/avail")
[[ -n $current ]] || { echo "FAIL: no base-files in the mirror's index" >&2; exit 1; }
echo "base-files:arm64 $current" >"$tmp/current.txt"
check_pins_available "$tmp/current.txt" arm64 "$tmp"
echo "ok: a version the mirror carries (base-files $current) passes"

printf '%s\n' "base-files:arm64 $current" "base-files:arm64 0.0-vigil-never-released" >"$tmp/gone.txt"
if out=$( (check_pins_available "$tmp/gone.txt" arm64 "$tmp") 2>&1); then
  echo "FAIL: a manifest pinning a version the mirror lacks was accepted" >&2
  exit 1
fi
for want in "1 pinned package version(s)" "base-files:arm64 0.0-vigil-never-released" \
  "image/refresh-manifest"; do
  grep -qF "$want" <<<"$out" || {
    printf 'FAIL: the refusal does not say "%s":\n%s\n' "$want" "$out" >&2
    exit 1
  }
done
echo "ok: a vanished pin is refused before building:"
sed 's/^/    /' <<<"$out"

# The apt preferences pin every package, one version or several (multi-arch binNMUs).
prefs=$(printf '%s\n' "libc6:amd64 2.41-1" "libc6:arm64 2.41-1" "rustc:amd64 1.0+b1" \
  "rustc:arm64 1.0" >"$tmp/m.txt" && preferences_from_manifest "$tmp/m.txt")
grep -qxF 'Pin: version =2.41-1' <<<"$prefs" &&
  grep -qxF 'Pin: version /^(1\.0|1\.0\+b1)$/' <<<"$prefs" ||
  { printf 'FAIL: preferences:\n%s\n' "$prefs" >&2; exit 1; }
echo "ok: apt preferences pin single and multiple versions"
