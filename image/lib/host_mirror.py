#!/usr/bin/env python3
"""Print the Debian mirror and security mirror configured in the host's apt sources.

The image build never names a mirror itself: it uses whatever the build host already trusts
(one-line .list files and deb822 .sources files alike). Output, two shell assignments:
    MIRROR=<uri of the first Debian archive entry>
    SECURITY_MIRROR=<uri of the first Debian security entry>
Exits 1 with a message when either is missing.
"""

import glob
import os
import re
import shlex
import sys

# A Debian suite: a code name or alias, optionally with an archive suffix.
CODENAMES = (
    "buster|bullseye|bookworm|trixie|forky|duke|sid|"
    "oldoldstable|oldstable|stable|testing|unstable"
)
SUITE = re.compile(rf"^({CODENAMES})(-updates|-security|-backports|/updates)?$")


def entries(root):
    """(uri, suite) pairs of every enabled `deb` source."""
    out = []
    lists = [f"{root}/sources.list"] + sorted(glob.glob(f"{root}/sources.list.d/*.list"))
    for path in lists:
        try:
            text = open(path, encoding="utf-8").read()
        except OSError:
            continue
        for line in text.splitlines():
            line = line.split("#", 1)[0].strip()
            if not line.startswith("deb "):
                continue
            words = line.split()[1:]
            if words and words[0].startswith("["):
                while words and not words[0].endswith("]"):
                    words.pop(0)
                words = words[1:]
            if len(words) >= 2:
                out.append((words[0], words[1]))
    for path in sorted(glob.glob(f"{root}/sources.list.d/*.sources")):
        try:
            text = open(path, encoding="utf-8").read()
        except OSError:
            continue
        for stanza in re.split(r"\n\s*\n", text):
            fields = {}
            key = None
            for line in stanza.splitlines():
                if line.startswith("#"):
                    continue
                if line[:1].isspace() and key:
                    fields[key] += " " + line.strip()
                elif ":" in line:
                    key, value = line.split(":", 1)
                    key = key.strip().lower()
                    fields[key] = value.strip()
            if "deb" not in fields.get("types", "").split():
                continue
            if fields.get("enabled", "yes").lower() == "no":
                continue
            for uri in fields.get("uris", "").split():
                for suite in fields.get("suites", "").split():
                    out.append((uri, suite))
    return out


def main():
    root = os.environ.get("APT_ETC", "/etc/apt")
    archive = security = None
    for uri, suite in entries(root):
        m = SUITE.match(suite)
        if not m:
            continue
        uri = uri.rstrip("/")
        if m.group(2) in ("-security", "/updates"):
            security = security or uri
        else:
            archive = archive or uri
    if not archive:
        sys.exit(
            f"no Debian archive in {root}/sources.list(.d): configure one for the host "
            "(or set VIGIL_MIRROR) and run the build again"
        )
    if not security:
        sys.exit(
            f"no Debian security archive in {root}/sources.list(.d): configure one for the "
            "host (or set VIGIL_SECURITY_MIRROR) and run the build again"
        )
    print(f"MIRROR={shlex.quote(archive)}")
    print(f"SECURITY_MIRROR={shlex.quote(security)}")


if __name__ == "__main__":
    main()
