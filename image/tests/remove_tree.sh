#!/usr/bin/env bash
# remove_tree (image/lib/common.sh) clears a work directory that a killed build left with bind
# mounts inside (the build root's /dev, /sys, /proc, the bound source and output directories)
# without deleting anything on the mounted-from side, and leaves no mount behind. A plain
# `rm -rf` there would empty the host's directories through the binds. Needs root (mounts).
set -euo pipefail
. "$(dirname "$0")/../lib/common.sh"
need_root image/tests/remove_tree.sh
tmp=$(mktemp -d)
trap 'umount_under "$tmp" 2>/dev/null || true; rm -rf --one-file-system "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# The host side: directories with files that must survive, one on a tmpfs with a submount.
mkdir -p "$tmp/host/dev" "$tmp/host/out" "$tmp/host/with space"
echo keep >"$tmp/host/out/keep"
echo keep >"$tmp/host/with space/keep"
mount -t tmpfs vigil-test "$tmp/host/dev"
mkdir -p "$tmp/host/dev/pts"
echo keep >"$tmp/host/dev/null-stand-in"
mount -t tmpfs vigil-test-pts "$tmp/host/dev/pts"
echo keep >"$tmp/host/dev/pts/0"

# A build root as a killed run leaves it: itself bind-mounted, recursive and plain binds inside.
br=$tmp/work/a/buildroot
mkdir -p "$br/dev" "$br/out" "$br/work/with space" "$br/etc"
echo gone >"$br/etc/hostname"
mount --bind "$br" "$br"
mount --rbind "$tmp/host/dev" "$br/dev"
mount --make-rslave "$br/dev"
mount --bind "$tmp/host/out" "$br/out"
mount --bind "$tmp/host/with space" "$br/work/with space"
(($(mounts_under "$tmp/work" | wc -l) == 5)) || fail "expected 5 mounts below the work dir: $(mounts_under "$tmp/work")"
[[ $(mounts_under "$tmp/work" | head -1) == "$br/dev/pts" ]] || fail "deepest mount is not listed first"

remove_tree "$tmp/work/a"

[[ ! -e $tmp/work/a ]] || fail "the work directory is still there"
[[ -z $(mounts_under "$tmp/work") ]] || fail "mounts left behind: $(mounts_under "$tmp/work")"
for f in out/keep "with space/keep" dev/null-stand-in dev/pts/0; do
  [[ $(cat "$tmp/host/$f") == keep ]] || fail "host file $f was deleted through a bind mount"
done
echo "ok: a build root with five mounts inside is removed; the host's files survive"

remove_tree "$tmp/does-not-exist"
echo "ok: removing a missing directory is not an error"
