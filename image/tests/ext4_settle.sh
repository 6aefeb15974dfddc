#!/usr/bin/env bash
# ext4_settle (image/lib/common.sh) makes a card's root file system readable by debugfs after
# its machine was switched off. The boot test stops qemu without a shutdown, and CI once failed
# reading the card's units: "Block bitmap checksum does not match bitmap". Here a small ext4
# gets the same fault (a group's bitmap checksum that does not match its bitmap): plain debugfs
# must refuse it, and after ext4_settle the file written before must read back.
set -euo pipefail
. "$(dirname "$0")/../lib/common.sh"
need_commands mkfs.ext4 debugfs e2fsck
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

img=$tmp/root.ext4
truncate -s 32M "$img"
mkfs.ext4 -q -F -O metadata_csum -L vigil-test "$img"
echo "vigild.service as written" >"$tmp/unit"
debugfs -w -R "write $tmp/unit vigild.service" "$img" >/dev/null 2>&1
debugfs -w -R "set_bg 0 block_bitmap_csum 0" "$img" >/dev/null 2>&1

out=$(debugfs -R "cat /vigild.service" "$img" 2>&1 || true)
grep -q "Block bitmap checksum does not match" <<<"$out" ||
  fail "the damaged file system opened anyway, the test shows nothing: $out"
echo "shown: debugfs refuses the unsettled file system (block bitmap checksum)"

ext4_settle "$img" || fail "ext4_settle failed"
[[ $(debugfs -R "cat /vigild.service" "$img" 2>/dev/null) == "vigild.service as written" ]] ||
  fail "after ext4_settle the file does not read back"
echo "ext4_settle: the file system opens and the file reads back"

# A file that is not a file system at all is reported, not passed over.
head -c 1M /dev/zero >"$tmp/zero.img"
if ext4_settle "$tmp/zero.img" 2>/dev/null; then fail "ext4_settle accepted a file with no file system"; fi
echo "ext4_settle: a file with no file system is refused"
