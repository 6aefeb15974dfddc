"""The image build takes its Debian mirrors from the host's apt configuration."""

import os
import subprocess
import sys
import tempfile
import unittest

SCRIPT = os.path.join(os.path.dirname(__file__), "..", "lib", "host_mirror.py")


def run(files):
    with tempfile.TemporaryDirectory() as root:
        os.makedirs(os.path.join(root, "sources.list.d"))
        for name, text in files.items():
            with open(os.path.join(root, name), "w", encoding="utf-8") as f:
                f.write(text)
        p = subprocess.run(
            [sys.executable, SCRIPT],
            env={**os.environ, "APT_ETC": root},
            capture_output=True,
            text=True,
        )
        return p.returncode, p.stdout, p.stderr


class HostMirror(unittest.TestCase):
    def test_deb822_sources(self):
        rc, out, _ = run(
            {
                "sources.list.d/debian.sources": (
                    "Types: deb deb-src\n"
                    "URIs: http://mirror.example/debian/\n"
                    "Suites: bookworm bookworm-updates\n"
                    "Components: main\n"
                    "\n"
                    "# Types: deb\n"
                    "Types: deb\n"
                    "URIs: http://mirror.example/debian-security\n"
                    "Suites: bookworm-security\n"
                    "Components: main\n"
                ),
            }
        )
        self.assertEqual(rc, 0)
        self.assertEqual(
            out,
            "MIRROR=http://mirror.example/debian\n"
            "SECURITY_MIRROR=http://mirror.example/debian-security\n",
        )

    def test_one_line_sources_with_options_and_third_party_entries(self):
        rc, out, _ = run(
            {
                "sources.list": (
                    "# deb http://commented.example/debian trixie main\n"
                    "deb [arch=amd64] http://vendor.example/apt stable-vendor main\n"
                    "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] "
                    "http://m.example/debian trixie main\n"
                    "deb http://m.example/debian-security trixie-security main\n"
                ),
                "sources.list.d/nodesource.list": "deb https://vendor.example/node nodistro main\n",
            }
        )
        self.assertEqual(rc, 0)
        self.assertIn("MIRROR=http://m.example/debian\n", out)
        self.assertIn("SECURITY_MIRROR=http://m.example/debian-security\n", out)

    def test_disabled_stanzas_are_ignored(self):
        rc, _, err = run(
            {
                "sources.list.d/debian.sources": (
                    "Types: deb\nURIs: http://m.example/debian\nSuites: trixie\n"
                    "Components: main\nEnabled: no\n"
                ),
            }
        )
        self.assertEqual(rc, 1)
        self.assertIn("no Debian archive", err)

    def test_missing_security_archive_is_an_error(self):
        rc, out, err = run({"sources.list": "deb http://m.example/debian trixie main\n"})
        self.assertEqual(rc, 1)
        self.assertEqual(out, "")
        self.assertIn("no Debian security archive", err)


if __name__ == "__main__":
    unittest.main()
