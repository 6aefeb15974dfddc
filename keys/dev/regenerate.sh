#!/usr/bin/env bash
# Regenerates the INSECURE development keys and the SSHSIG test vectors signed with them.
# These keys are public in the repository: never enrol them on a real appliance.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
vectors="$here/../../appliance/core/tests/vectors"
cd "$here"
for name in source-dev auditor-dev admin-dev; do
  rm -f "$name" "$name.pub"
  ssh-keygen -q -t ed25519 -N '' -C "$name INSECURE" -f "$name"
done
mkdir -p "$vectors"
cp source-dev.pub "$vectors/source-dev.pub"
cat > "$vectors/alert.txt" <<'STMT'
alert/v1
to: vigil.example/log
ts: 1795349600
nonce: 20257a7e1f2e7caa46c11e32a5b6adbb
severity: warning
title: disk full on nas

/dev/sda1  252G  240G  12G  96% /srv
STMT
rm -f "$vectors"/*.sig
ssh-keygen -q -Y sign -n vigil -f source-dev "$vectors/alert.txt"
cp "$vectors/alert.txt" "$vectors/alert-other-ns.txt"
ssh-keygen -q -Y sign -n file -f source-dev "$vectors/alert-other-ns.txt"
rm "$vectors/alert-other-ns.txt"
mv "$vectors/alert-other-ns.txt.sig" "$vectors/alert.txt.file-ns.sig"
echo "regenerated keys in $here and vectors in $vectors"
