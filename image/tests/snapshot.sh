#!/usr/bin/env bash
# The --snapshot plumbing (VIGIL_SNAPSHOT, VIGIL_SNAPSHOT_ARCHIVE): malformed values are refused
# with a message; a valid one points apt at ROOT/archive/debian/TIME/ and
# ROOT/archive/debian-security/TIME/, and every pin of both manifests is found there.
# No snapshot service is reachable from the project's machines: lib/snapshot_proxy.py serves the
# host's mirrors in that layout on 127.0.0.1 for one time (404 for any other), so what is tested
# is the layout and the plumbing, with Debian's own signatures; not an expired Release file (the
# proxy's are current) nor the real service. The whole build through it: image/reproducible
# --second-via-snapshot (CI's build b). Needs the mirror, as image/build does; no root.
set -euo pipefail
. "$(dirname "$0")/../lib/common.sh"
tmp=$(mktemp -d)
trap 'stop_snapshot_proxy; rm -rf "$tmp"' EXIT
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

refused() { # want-in-message env...
  local want=$1 out
  shift
  if out=$(env "$@" bash -c '. "$0"; load_mirrors' "$IMAGE_DIR/lib/common.sh" 2>&1); then
    fail "accepted: $*"
  fi
  grep -qF "$want" <<<"$out" || fail "the refusal of '$*' does not say '$want': $out"
  echo "ok: refused $* ($out)"
}
refused "YYYYMMDDTHHMMSSZ" VIGIL_SNAPSHOT=2026-11-28 VIGIL_SNAPSHOT_ARCHIVE=http://127.0.0.1:1
refused "YYYYMMDDTHHMMSSZ" "VIGIL_SNAPSHOT=20261128T000000Z/../x" VIGIL_SNAPSHOT_ARCHIVE=http://127.0.0.1:1
refused "needs VIGIL_SNAPSHOT_ARCHIVE" VIGIL_SNAPSHOT=20261128T000000Z VIGIL_SNAPSHOT_ARCHIVE=
refused "http:// or https://" VIGIL_SNAPSHOT=20261128T000000Z VIGIL_SNAPSHOT_ARCHIVE=/srv/snapshot

load_mirrors # the live mirrors, relayed by the proxy
when=$(date -u +%Y%m%dT%H%M%SZ)
start_snapshot_proxy "$when" "$tmp/proxy"

# A valid snapshot: the mirrors are the archive's dated trees, and apt finds every pin there.
(
  export VIGIL_SNAPSHOT=$when VIGIL_SNAPSHOT_ARCHIVE=$SNAPSHOT_PROXY_URL/
  load_mirrors
  [[ $MIRROR == "$SNAPSHOT_PROXY_URL/archive/debian/$when/" ]] || fail "MIRROR=$MIRROR"
  [[ $SECURITY_MIRROR == "$SNAPSHOT_PROXY_URL/archive/debian-security/$when/" ]] || fail "SECURITY_MIRROR=$SECURITY_MIRROR"
  [[ ${APT_SOURCE_OPTS[*]} == "-o Acquire::Check-Valid-Until=false" ]] || fail "apt options: ${APT_SOURCE_OPTS[*]}"
  [[ ${MMDEBSTRAP_SOURCE_OPTS[*]} == '--aptopt=Acquire::Check-Valid-Until "false"' ]] ||
    fail "mmdebstrap options: ${MMDEBSTRAP_SOURCE_OPTS[*]}"
  check_pins_available "$IMAGE_DIR/manifest/image.txt" arm64 "$tmp/image"
  check_pins_available "$IMAGE_DIR/manifest/buildroot.txt" amd64,arm64 "$tmp/buildroot"
)
for archive in debian debian-security; do
  n=$(grep -c "^200 /archive/$archive/$when/dists/$SUITE" "$tmp/proxy/proxy.log" || true)
  ((n > 0)) || fail "apt fetched nothing from /archive/$archive/$when/: $(head "$tmp/proxy/proxy.log")"
  echo "ok: apt read $n index file(s) from /archive/$archive/$when/ and found every pin of both manifests"
done

# Another time is another tree: the proxy has none, and apt says so rather than use the live one.
if (
  export VIGIL_SNAPSHOT=20000101T000000Z VIGIL_SNAPSHOT_ARCHIVE=$SNAPSHOT_PROXY_URL
  load_mirrors
  check_pins_available "$IMAGE_DIR/manifest/image.txt" arm64 "$tmp/other"
) >"$tmp/other.out" 2>&1; then
  fail "a snapshot time the archive does not hold was accepted"
fi
grep -q "20000101T000000Z" "$tmp/other.out" || fail "the refusal does not name the snapshot: $(cat "$tmp/other.out")"
grep -q "^404 /archive/debian/20000101T000000Z/" "$tmp/proxy/proxy.log" || fail "apt did not ask for the other time"
echo "ok: a snapshot time the archive does not hold stops the build: $(tail -1 "$tmp/other.out")"
