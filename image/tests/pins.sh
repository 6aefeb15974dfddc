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
candidate() { # preferences-file package
  apt-cache "${APT_OPTS[@]}" -o "Dir::Etc::Preferences=$1" policy "$2" |
    awk '/^  Candidate:/ {print $2; exit}'
}
# "NAME VERSION" of a package of ARCH that the index holds in several versions, VERSION not the
# one apt picks unpinned (Multi-Arch: same libraries first, versions with "+" or "~" first).
pinnable() { # avail-file arch
  local name free older
  read -r name < <(python3 - "$1" "$2" <<'PY'
import sys
seen, same = {}, set()
for stanza in open(sys.argv[1], encoding="utf-8", errors="replace").read().split("\n\n"):
    f = dict(l.split(": ", 1) for l in stanza.splitlines() if l and l[0] not in " \t" and ": " in l)
    if f.get("Architecture") == sys.argv[2] and "Package" in f and "Version" in f:
        seen.setdefault(f["Package"], set()).add(f["Version"])
        if f.get("Multi-Arch") == "same":
            same.add(f["Package"])
multi = sorted((n, sorted(v)) for n, v in seen.items() if len(v) > 1)
multi.sort(key=lambda nv: (nv[0] not in same, not any(c in "".join(nv[1]) for c in "+~")))
if multi:
    print(multi[0][0])
PY
  )
  [[ -n ${name:-} ]] || { echo "FAIL: the mirror's index has no $2 package in two versions to pin" >&2; exit 1; }
  free=$(candidate /dev/null "$name:$2")
  older=$(awk -v p="$name" -v a="$2" -v c="$free" '
    /^$/ {if (n == p && ar == a && v != c) {print v; exit}; n = ar = v = ""}
    $1 == "Package:" {n = $2} $1 == "Architecture:" {ar = $2} $1 == "Version:" {v = $2}
    END {if (n == p && ar == a && v != c) print v}' "$1" | head -1)
  [[ -n $older ]] || { echo "FAIL: no second version of $name:$2 besides $free" >&2; exit 1; }
  echo "$name $older $free"
}

private_apt_opts "$tmp/apt-check" arm64
read -r name older free < <(pinnable "$tmp/apt-check/avail" arm64)
echo "$name:arm64 $older" >"$tmp/one.txt"
preferences_from_manifest "$tmp/one.txt" >"$tmp/one.pref"
got=$(candidate "$tmp/one.pref" "$name:arm64")
[[ $got == "$older" && $free != "$older" ]] ||
  { printf 'FAIL: pinned %s %s, apt chose %s (unpinned %s):\n%s\n' "$name" "$older" "$got" "$free" "$(cat "$tmp/one.pref")" >&2; exit 1; }
printf '%s\n' "$name:arm64 $older" "$name:arm64 $older+b9~vigil.(x)" >"$tmp/two.txt"
preferences_from_manifest "$tmp/two.txt" >"$tmp/two.pref"
grep -q '^Pin: version /^(' "$tmp/two.pref" || { echo "FAIL: two versions did not give a regex pin" >&2; exit 1; }
got=$(candidate "$tmp/two.pref" "$name:arm64")
[[ $got == "$older" ]] ||
  { printf 'FAIL: regex pin of %s %s: apt chose %s:\n%s\n' "$name" "$older" "$got" "$(cat "$tmp/two.pref")" >&2; exit 1; }
echo "ok: apt takes the pinned $name $older over its own choice $free (one version and a regex of two)"

# A foreign architecture, as in the build root (amd64 native, arm64 foreign): an arm64 library
# of which the mirror carries a newer version (a security update) must stay at its pin. A pin
# keyed by the bare name binds amd64 only (the fault that broke the build root).
foreign=$tmp/foreign
check_pins_available /dev/null amd64,arm64 "$foreign"
private_apt_opts "$foreign/apt-check" amd64,arm64
read -r name older free < <(pinnable "$foreign/apt-check/avail" arm64)
printf '%s\n' "$name:arm64 $older" >"$tmp/foreign.txt"
preferences_from_manifest "$tmp/foreign.txt" >"$tmp/foreign.pref"
got=$(candidate "$tmp/foreign.pref" "$name:arm64")
[[ $got == "$older" && $free != "$older" ]] ||
  { printf 'FAIL: foreign-architecture pin %s:arm64 %s: apt chose %s (unpinned %s):\n%s\n' \
    "$name" "$older" "$got" "$free" "$(cat "$tmp/foreign.pref")" >&2; exit 1; }
echo "ok: in an amd64 root with arm64 foreign, apt takes the pinned $name:arm64 $older over $free"

# Architecture "all" stays a bare name (apt matches no "NAME:all"), and it binds.
printf '%s\n' "adduser:all 1.0" "libzstd1:arm64 1.0" "libzstd1:amd64 1.0" >"$tmp/kinds.txt"
want=$'Package: adduser\nPackage: libzstd1:amd64\nPackage: libzstd1:arm64'
got=$(preferences_from_manifest "$tmp/kinds.txt" | grep '^Package:')
[[ $got == "$want" ]] || { printf 'FAIL: pin keys:\n%s\nwanted:\n%s\n' "$got" "$want" >&2; exit 1; }
all=$(python3 - "$foreign/apt-check/avail" <<'PY'
import sys
seen = {}
for stanza in open(sys.argv[1], encoding="utf-8", errors="replace").read().split("\n\n"):
    f = dict(l.split(": ", 1) for l in stanza.splitlines() if l and l[0] not in " \t" and ": " in l)
    if f.get("Architecture") == "all" and "Package" in f and "Version" in f:
        seen.setdefault(f["Package"], set()).add(f["Version"])
for n, v in sorted(seen.items()):
    if len(v) > 1:
        print(n, " ".join(sorted(v)))
        break
PY
)
if [[ -n $all ]]; then
  read -r aname aversions <<<"$all"
  afree=$(candidate /dev/null "$aname")
  for aolder in $aversions; do [[ $aolder != "$afree" ]] && break; done
  echo "$aname:all $aolder" >"$tmp/all.txt"
  preferences_from_manifest "$tmp/all.txt" >"$tmp/all.pref"
  got=$(candidate "$tmp/all.pref" "$aname")
  [[ $got == "$aolder" ]] ||
    { printf 'FAIL: arch-all pin %s %s: apt chose %s:\n%s\n' "$aname" "$aolder" "$got" "$(cat "$tmp/all.pref")" >&2; exit 1; }
  echo "ok: the arch-all pin $aname $aolder binds (unpinned: $afree)"
else
  echo "note: the mirror has no arch-all package in two versions today; the bare-name key is checked above"
fi
