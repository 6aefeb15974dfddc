# Shared by image/build, image/boot-test, image/reproducible and image/refresh-manifest.
# shellcheck shell=bash

IMAGE_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REPO=$(cd "$IMAGE_DIR/.." && pwd)
SUITE=trixie
COMPONENTS=main,non-free-firmware
# The boards the image supports: their device trees carry image/gfxhat.dts, merged at build time
# (image/stage/customize) and checked by image/check-dtb.
HAT_BOARDS="bcm2837-rpi-3-a-plus bcm2837-rpi-3-b bcm2837-rpi-3-b-plus bcm2711-rpi-4-b bcm2837-rpi-zero-2-w"
T0=${T0:-$(date +%s)}
export T0

stage() { printf '\n=== [%4ss] %s\n' "$(($(date +%s) - T0))" "$*" >&2; }
say() { printf '%s\n' "$*" >&2; }
die() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}

need_root() {
  [[ $(id -u) == 0 ]] || die "$1 needs root (mmdebstrap, chroot, loop-free mounts and binfmt_misc)"
}

need_commands() {
  local c missing=()
  for c in "$@"; do command -v "$c" >/dev/null || missing+=("$c"); done
  ((${#missing[@]} == 0)) || die "missing on this host: ${missing[*]} (apt-get install mmdebstrap python3 git)"
}

# The Debian mirrors come from the host's apt configuration (VIGIL_MIRROR and
# VIGIL_SECURITY_MIRROR override); the repository names none.
# VIGIL_SNAPSHOT=YYYYMMDDTHHMMSSZ takes the archive as it was at that moment instead, from a
# Debian snapshot archive service rooted at VIGIL_SNAPSHOT_ARCHIVE (the address Debian
# publishes for it; its layout is ROOT/archive/debian/TIME/ and ROOT/archive/debian-security/
# TIME/): how a release is rebuilt after Debian has replaced its pinned versions.
# Sets MIRROR, SECURITY_MIRROR, SNAPSHOT (empty for a live mirror) and source_apt_opts.
load_mirrors() {
  SNAPSHOT=${VIGIL_SNAPSHOT:-}
  source_apt_opts
  if [[ -n $SNAPSHOT ]]; then
    [[ $SNAPSHOT =~ ^[0-9]{8}T[0-9]{6}Z$ ]] ||
      die "VIGIL_SNAPSHOT must be a snapshot time as YYYYMMDDTHHMMSSZ (UTC), such as 20261128T000000Z; got '$SNAPSHOT'"
    [[ -n ${VIGIL_SNAPSHOT_ARCHIVE:-} ]] ||
      die "VIGIL_SNAPSHOT needs VIGIL_SNAPSHOT_ARCHIVE, the root URL of a Debian snapshot archive service (image/README.md)"
    [[ ${VIGIL_SNAPSHOT_ARCHIVE} =~ ^https?://[^/]+ ]] ||
      die "VIGIL_SNAPSHOT_ARCHIVE must be an http:// or https:// URL (the build root fetches from it too); got '$VIGIL_SNAPSHOT_ARCHIVE'"
    local root=${VIGIL_SNAPSHOT_ARCHIVE%/}
    MIRROR=$root/archive/debian/$SNAPSHOT/
    SECURITY_MIRROR=$root/archive/debian-security/$SNAPSHOT/
    export MIRROR SECURITY_MIRROR SNAPSHOT
    return 0
  fi
  if [[ -n ${VIGIL_MIRROR:-} && -n ${VIGIL_SECURITY_MIRROR:-} ]]; then
    MIRROR=$VIGIL_MIRROR
    SECURITY_MIRROR=$VIGIL_SECURITY_MIRROR
  else
    local found
    found=$(python3 "$IMAGE_DIR/lib/host_mirror.py") || exit 1
    eval "$found"
    MIRROR=${VIGIL_MIRROR:-$MIRROR}
    SECURITY_MIRROR=${VIGIL_SECURITY_MIRROR:-$SECURITY_MIRROR}
  fi
  export MIRROR SECURITY_MIRROR SNAPSHOT
}

# The apt options the mirror needs, for apt-get (APT_SOURCE_OPTS) and mmdebstrap
# (MMDEBSTRAP_SOURCE_OPTS): a snapshot's Release files are past their Valid-Until date.
source_apt_opts() {
  APT_SOURCE_OPTS=()
  MMDEBSTRAP_SOURCE_OPTS=()
  if [[ -n ${SNAPSHOT:-} ]]; then
    APT_SOURCE_OPTS=(-o Acquire::Check-Valid-Until=false)
    MMDEBSTRAP_SOURCE_OPTS=('--aptopt=Acquire::Check-Valid-Until "false"')
  fi
}

# Serves the live mirrors (MIRROR, SECURITY_MIRROR) in a Debian snapshot archive's layout on
# 127.0.0.1 for one snapshot time (lib/snapshot_proxy.py), for testing --snapshot here, where no
# snapshot service is reachable. Sets SNAPSHOT_PROXY_URL and SNAPSHOT_PROXY_PID; requests are
# logged to DIR/proxy.log. stop_snapshot_proxy ends it.
start_snapshot_proxy() { # time dir
  mkdir -p "$2"
  rm -f "$2/port"
  python3 "$IMAGE_DIR/lib/snapshot_proxy.py" "$1" "$MIRROR" "$SECURITY_MIRROR" "$2/port" \
    "$2/proxy.log" &
  SNAPSHOT_PROXY_PID=$!
  local i
  for i in $(seq 100); do
    [[ -s $2/port ]] && break
    kill -0 "$SNAPSHOT_PROXY_PID" 2>/dev/null || die "the snapshot proxy did not start"
    sleep 0.1
  done
  [[ -s $2/port ]] || die "the snapshot proxy did not listen within 10 s"
  SNAPSHOT_PROXY_URL=http://127.0.0.1:$(cat "$2/port")
}

stop_snapshot_proxy() {
  if [[ -n ${SNAPSHOT_PROXY_PID:-} ]]; then
    kill "$SNAPSHOT_PROXY_PID" 2>/dev/null || true
    wait "$SNAPSHOT_PROXY_PID" 2>/dev/null || true
    SNAPSHOT_PROXY_PID=
  fi
}

# One-line apt sources for the suite, as mmdebstrap takes them.
sources() {
  local comp=${COMPONENTS//,/ }
  printf '%s\n' \
    "deb $MIRROR $SUITE $comp" \
    "deb $MIRROR $SUITE-updates $comp" \
    "deb $SECURITY_MIRROR $SUITE-security $comp"
}

# SOURCE_DATE_EPOCH: the committer time of HEAD, so a commit always builds the same image.
load_source_date() {
  SOURCE_DATE_EPOCH=$(git -C "$REPO" log -1 --format=%ct)
  COMMIT=$(git -C "$REPO" rev-parse HEAD)
  VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' "$REPO/Cargo.toml" | head -1)
  export SOURCE_DATE_EPOCH COMMIT VERSION
  if [[ -n $(git -C "$REPO" status --porcelain --untracked-files=no) ]]; then
    say "note: the work tree has uncommitted changes; the image is built from commit ${COMMIT:0:12} only"
  fi
}

# Top-level package names of a list file (comments and blank lines dropped), comma-separated.
package_list() { sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$1" | paste -sd, -; }

# The pinned entries of a manifest: "name:arch version" lines.
manifest_entries() { sed -e '/^#/d' -e '/^[[:space:]]*$/d' "$1"; }

# apt preferences pinning every package of a manifest to its recorded version(s): a literal
# version, or an anchored regular expression (POSIX ERE, metacharacters escaped) when one key
# has several. apt_preferences(5) takes "Pin: version V"; there is no "=".
# Each pin names the architecture ("Package: libzstd1:arm64"): a bare name binds the native
# architecture only, so in the build root (amd64, arm64 foreign) the arm64 libraries would float
# to a newer security update that cannot sit beside the pinned amd64 one (Multi-Arch: same).
# Architecture "all" stays bare: apt does not match "NAME:all" in a Package line.
preferences_from_manifest() {
  manifest_entries "$1" | python3 -c '
import re, sys
versions = {}
for line in sys.stdin:
    pkg, ver = line.split()
    name, _, arch = pkg.partition(":")
    versions.setdefault(name if arch in ("", "all") else pkg, set()).add(ver)
ere = lambda v: re.sub(r"([.^$*+?()\[\]{}|\\])", r"\\\1", v)
for name in sorted(versions):
    vs = sorted(versions[name])
    pin = "version " + vs[0] if len(vs) == 1 else \
        "version /^(" + "|".join(ere(v) for v in vs) + ")$/"
    print(f"Package: {name}\nPin: {pin}\nPin-Priority: 1001\n")
'
}

# apt options for a private state directory (lists, cache, sources) under $1: the host's own
# apt state is not touched. $2: comma-separated architectures, the first native.
private_apt_opts() { # dir archs
  APT_OPTS=(-o "Dir::State::Lists=$1/lists" -o "Dir::State::status=$1/status"
    -o "Dir::Cache=$1" -o "Dir::Cache::archives=$1/archives"
    -o "Dir::Etc::SourceList=$1/sources.list" -o Dir::Etc::SourceParts=/dev/null
    -o Dir::Etc::Preferences=/dev/null -o Dir::Etc::PreferencesParts=/dev/null
    -o "APT::Architectures=$2" -o "APT::Architecture=${2%%,*}"
    -o Debug::NoLocking=1)
}

# Fails, naming every pinned version the mirror no longer carries, before anything is built.
# Uses apt with a private state directory: the host's own apt state is not touched.
check_pins_available() { # manifest archs(comma) workdir
  local manifest=$1 archs=$2 dir=$3/apt-check
  rm -rf "$dir"
  mkdir -p "$dir"/{lists/partial,archives/partial}
  sources >"$dir/sources.list"
  : >"$dir/status"
  private_apt_opts "$dir" "$archs"
  local opts=("${APT_OPTS[@]}" "${APT_SOURCE_OPTS[@]}")
  apt-get "${opts[@]}" -qq update >"$dir/update.log" 2>&1 ||
    die "apt could not read the $SUITE indices from the host's mirrors ($MIRROR, $SECURITY_MIRROR): $(tail -3 "$dir/update.log")"
  # Every version of every index (apt-cache dumpavail would show the candidates only).
  local f
  apt-get "${opts[@]}" indextargets --format '$(FILENAME)' 'Created-By: Packages' |
    while read -r f; do
      if [[ -e $f ]]; then /usr/lib/apt/apt-helper cat-file "$f"; fi
    done >"$dir/avail"
  manifest_entries "$manifest" >"$dir/pins"
  python3 - "$dir/avail" "$dir/pins" "$manifest" <<'PY'
import sys
avail = set()
stanza = {}
for line in open(sys.argv[1], encoding="utf-8", errors="replace"):
    if not line.strip():
        if {"Package", "Architecture", "Version"} <= stanza.keys():
            avail.add((f"{stanza['Package']}:{stanza['Architecture']}", stanza["Version"]))
        stanza = {}
    elif line[0] not in " \t" and ":" in line:
        key, value = line.split(":", 1)
        if key in ("Package", "Architecture", "Version"):
            stanza[key] = value.strip()
if {"Package", "Architecture", "Version"} <= stanza.keys():
    avail.add((f"{stanza['Package']}:{stanza['Architecture']}", stanza["Version"]))
missing = []
for line in open(sys.argv[2], encoding="utf-8"):
    name, ver = line.split()
    if (name, ver) not in avail:
        missing.append(f"  {name} {ver}")
if missing:
    sys.exit(
        f"error: {len(missing)} pinned package version(s) of {sys.argv[3]} are no longer on the mirror:\n"
        + "\n".join(missing[:40])
        + ("\n  ..." if len(missing) > 40 else "")
        + "\nDebian replaced them (a point release or a security update). Run image/refresh-manifest,"
        "\nreview the diff of image/manifest/ and commit it; the image then changes on purpose."
    )
# Pinned is not current: say which pins the mirror has newer versions of (security updates
# among them), without failing; image/refresh-manifest takes them.
import subprocess
by_name = {}
for name, ver in avail:
    by_name.setdefault(name, set()).add(ver)
newer = []
for line in open(sys.argv[2], encoding="utf-8"):
    name, ver = line.split()
    later = [v for v in by_name.get(name, ()) if v != ver and subprocess.run(
        ["dpkg", "--compare-versions", v, "gt", ver]).returncode == 0]
    if later:
        newer.append(f"  {name} {ver} (mirror: {', '.join(sorted(later))})")
if newer:
    print(f"note: {len(newer)} pinned package(s) of {sys.argv[3]} have newer versions on the mirror;"
          " the build keeps the pins (image/refresh-manifest takes the new ones):", file=sys.stderr)
    print("\n".join(newer[:20]) + ("\n  ..." if len(newer) > 20 else ""), file=sys.stderr)
PY
}

# Compares what a build installed with the manifest (or records it when refreshing).
check_installed() { # manifest installed-list
  local manifest=$1 installed=$2
  if [[ ${VIGIL_REFRESH:-0} == 1 ]]; then
    return 0
  fi
  if ! diff -u <(manifest_entries "$manifest") "$installed" >"$installed.diff"; then
    cat "$installed.diff" >&2
    die "the installed packages differ from $manifest (above: - pinned, + installed); run image/refresh-manifest"
  fi
}

write_manifest() { # manifest installed-list title
  {
    printf '# %s\n' "$3"
    printf '# Every installed package, pinned. Refresh with image/refresh-manifest (see image/README.md).\n'
    printf '# Suites: %s %s-updates %s-security (%s)\n' "$SUITE" "$SUITE" "$SUITE" "$COMPONENTS"
    # The moment the versions were resolved: a Debian snapshot archive at that time holds every
    # one of them (VIGIL_SNAPSHOT, image/README.md), whatever the mirrors carry later.
    if [[ -n ${SNAPSHOT:-} ]]; then
      printf '# Resolved from the Debian snapshot archive at: %s\n' "$SNAPSHOT"
    else
      printf '# Resolved from the live mirror at: %s\n' "$(date -u +%Y%m%dT%H%M%SZ)"
    fi
    cat "$2"
  } >"$1"
}

BINFMT_NAME=vigil-aarch64
BINFMT_DIR=/proc/sys/fs/binfmt_misc

# Runs arm64 maintainer scripts through the build root's qemu-aarch64-static (F: the kernel
# opens the interpreter now, so it works inside every chroot).
register_binfmt() { # interpreter
  [[ -e $BINFMT_DIR/register ]] || mount -t binfmt_misc binfmt_misc "$BINFMT_DIR" ||
    die "binfmt_misc is not available: the arm64 packages cannot be configured"
  unregister_binfmt
  printf '%s' ":$BINFMT_NAME:M::\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:$1:FOC" \
    >"$BINFMT_DIR/register"
}

unregister_binfmt() {
  if [[ -e $BINFMT_DIR/$BINFMT_NAME ]]; then echo -1 >"$BINFMT_DIR/$BINFMT_NAME"; fi
}

# Bind mounts for running commands in a build root; undone by umount_chroot.
mount_chroot() { # root
  local r=$1 m
  # The build root is a mount point of its own: mmdebstrap inside it remounts / private.
  mountpoint -q "$r" || mount --bind "$r" "$r"
  for m in proc sys dev; do
    mkdir -p "$r/$m"
    mountpoint -q "$r/$m" || mount --rbind "/$m" "$r/$m"
    mount --make-rslave "$r/$m"
  done
  cp -L /etc/resolv.conf "$r/etc/resolv.conf"
  # Fetching crates trusts what the host trusts (a proxy's CA, say).
  if [[ -r /etc/ssl/certs/ca-certificates.crt ]]; then
    cp -L /etc/ssl/certs/ca-certificates.crt "$r/etc/ssl/host-ca-certificates.crt"
  fi
}

# Every mount point at or below a directory, deepest first (from /proc/self/mountinfo, whose
# octal escapes for space, tab, newline and backslash are decoded).
mounts_under() { # dir
  python3 - "$1" <<'PY'
import os, re, sys
root = os.path.realpath(sys.argv[1]).rstrip("/") or "/"
found = set()
with open("/proc/self/mountinfo") as f:
    for line in f:
        point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), line.split()[4])
        if point == root or point.startswith(root + "/"):
            found.add(point)
for point in sorted(found, key=lambda p: (-p.count("/"), p)):
    print(point)
PY
}

# Undoes mount_chroot and every other mount below the root (a killed build leaves them behind).
umount_chroot() { # root
  umount_under "$1"
}

umount_under() { # dir
  local m pass
  for pass in 1 2 3; do
    while IFS= read -r m; do
      umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
    done < <(mounts_under "$1")
    [[ -z $(mounts_under "$1") ]] && return 0
  done
  say "still mounted below $1:"
  mounts_under "$1" >&2
  return 1
}

# rm -rf that never follows a mount: a build root that a killed run left with /dev, /sys or a
# source tree bind-mounted inside must not take the host's files with it. Unmounts what is
# below, then removes without crossing file systems; fails rather than guess.
remove_tree() { # dir
  [[ -e $1 ]] || return 0
  umount_under "$1" || die "cannot unmount everything below $1; not removing it"
  rm -rf --one-file-system -- "$1" || die "could not remove $1"
}

# Settles an ext4 image copied from a card whose machine was switched off rather than shut down
# (the boot test stops qemu so): its journal is not replayed, the group descriptors' bitmap
# checksums lag behind, and debugfs refuses to open it ("Block bitmap checksum does not match
# bitmap"). e2fsck replays the journal and mends the summaries; the files read afterwards are
# the ones the machine had committed. Runs e2fsck through the optional runner (a chroot).
ext4_settle() { # image [runner...]
  local img=$1 rc=0
  shift
  "$@" e2fsck -fy "$img" >/dev/null 2>&1 || rc=$?
  # 0: clean; 1: errors corrected; 4 and above: left uncorrected or e2fsck failed.
  ((rc < 4)) || { say "e2fsck could not settle $img (exit $rc)"; return 1; }
}
