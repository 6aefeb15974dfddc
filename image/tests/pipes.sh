#!/usr/bin/env bash
# The image scripts run under `set -o pipefail`. There, `producer | grep -q PATTERN` fails when
# grep -q finds its match and exits before the producer has written everything: the producer
# dies of SIGPIPE and the pipeline reports failure although the line is there (the boot test
# failed so in CI: "SSH was not left off", with the line on the console). The scripts let grep
# read to the end instead (`grep PATTERN >/dev/null`); this keeps it that way, and shows the
# failure it prevents.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
fail() { echo "FAIL: $*" >&2; exit 1; }
# The mechanism, on this host: a long producer and an early match.
if (set -o pipefail; seq 1 2000000 | grep -q '^1$'); then
  echo "note: this host's pipe buffering hid the race this time" >&2
else
  echo "shown: under pipefail, 'seq | grep -q' failed although the match was there" >&2
fi
(set -o pipefail; seq 1 2000000 | grep '^1$' >/dev/null) || fail "grep >/dev/null failed"
found=$(grep -nE '\|[[:space:]]*grep[[:space:]]+(-[A-Za-z]*q|.*[[:space:]]-q)' \
  "$here/boot-test" "$here/hw-test" "$here/build" "$here/reproducible" "$here/refresh-manifest" \
  "$here"/lib/*.sh "$here"/stage/* | grep -vE '^[^:]+:[0-9]+:[[:space:]]*#' || true)
[[ -z $found ]] || fail "a pipe into grep -q under pipefail: $found"
echo "pipes: no producer | grep -q in the image scripts"
