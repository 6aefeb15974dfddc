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

# The apt preferences make apt choose the pinned version over a newer one, for one version and
# for several (the regular-expression form, with versions holding ERE metacharacters), as
# image/build relies on. Checked with apt itself against the mirror's index: a package of which
# the mirror carries several versions, pinned to one that is not apt's own choice.
private_apt_opts "$tmp/apt-check" arm64
candidate() { # preferences-file package
  apt-cache "${APT_OPTS[@]}" -o "Dir::Etc::Preferences=$1" policy "$2" |
    awk '/^  Candidate:/ {print $2; exit}'
}
read -r name older < <(python3 - "$tmp/apt-check/avail" <<'PY'
import sys
seen = {}
for stanza in open(sys.argv[1], encoding="utf-8", errors="replace").read().split("\n\n"):
    f = dict(l.split(": ", 1) for l in stanza.splitlines() if l and l[0] not in " \t" and ": " in l)
    if f.get("Architecture") == "arm64" and "Package" in f and "Version" in f:
        seen.setdefault(f["Package"], set()).add(f["Version"])
multi = sorted((n, sorted(v)) for n, v in seen.items() if len(v) > 1)
# Prefer versions with "+" or "~" (escaping matters); the lowest sorts first only by chance.
multi.sort(key=lambda nv: not any(c in nv[1][0] for c in "+~"))
if multi:
    print(multi[0][0], multi[0][1][0])
PY
)
[[ -n ${name:-} ]] || { echo "FAIL: the mirror's index has no package in two versions to pin" >&2; exit 1; }
free=$(candidate /dev/null "$name:arm64")
if [[ $free == "$older" ]]; then # the lexically lowest is apt's choice: pin another one
  older=$(awk -v p="$name" -v c="$free" '$1 == "Package:" {n = $2} n == p && $1 == "Version:" && $2 != c {print $2; exit}' "$tmp/apt-check/avail")
fi
echo "$name:arm64 $older" >"$tmp/one.txt"
preferences_from_manifest "$tmp/one.txt" >"$tmp/one.pref"
got=$(candidate "$tmp/one.pref" "$name:arm64")
[[ $got == "$older" && $free != "$older" ]] ||
  { printf 'FAIL: pinned %s %s, apt chose %s (unpinned %s):\n%s\n' "$name" "$older" "$got" "$free" "$(cat "$tmp/one.pref")" >&2; exit 1; }
printf '%s\n' "$name:arm64 $older" "$name:amd64 $older+b9~vigil.(x)" >"$tmp/two.txt"
preferences_from_manifest "$tmp/two.txt" >"$tmp/two.pref"
grep -q '^Pin: version /^(' "$tmp/two.pref" || { echo "FAIL: two versions did not give a regex pin" >&2; exit 1; }
got=$(candidate "$tmp/two.pref" "$name:arm64")
[[ $got == "$older" ]] ||
  { printf 'FAIL: regex pin of %s %s: apt chose %s:\n%s\n' "$name" "$older" "$got" "$(cat "$tmp/two.pref")" >&2; exit 1; }
echo "ok: apt takes the pinned $name $older over its own choice $free (one version and a regex of two)"
