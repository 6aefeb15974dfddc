#!/usr/bin/env python3
"""A Debian snapshot archive's layout on loopback, for testing the build's --snapshot plumbing.

The project's machines cannot reach a snapshot archive service. This serves its URL layout,
    /archive/debian/<TIME>/<path>           -> <MIRROR>/<path>
    /archive/debian-security/<TIME>/<path>  -> <SECURITY_MIRROR>/<path>
for one TIME only (any other path or time is 404), relaying the host's own mirrors, whose
Release files keep Debian's signatures: apt verifies them as it would a real snapshot's.

    snapshot_proxy.py TIME MIRROR SECURITY_MIRROR PORT_FILE LOG_FILE

Listens on 127.0.0.1 (an ephemeral port, written to PORT_FILE once listening); appends one
line per request to LOG_FILE ("STATUS PATH"). Runs until killed.
"""

import http.server
import os
import shutil
import sys
import urllib.error
import urllib.request

TIME, MIRROR, SECURITY, PORT_FILE, LOG_FILE = sys.argv[1:6]
ROUTES = {
    f"/archive/debian/{TIME}/": MIRROR.rstrip("/") + "/",
    f"/archive/debian-security/{TIME}/": SECURITY.rstrip("/") + "/",
}
PASSED_REQUEST = ("Range", "If-Modified-Since", "If-Range")
PASSED_RESPONSE = ("Content-Type", "Content-Length", "Last-Modified", "Content-Range", "ETag")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def upstream(self):
        for prefix, base in ROUTES.items():
            if self.path.startswith(prefix) and ".." not in self.path:
                return base + self.path[len(prefix):]
        return None

    def relay(self, body):
        url = self.upstream()
        if url is None:
            self.answer(404, body)
            return
        req = urllib.request.Request(url, method=self.command)
        for h in PASSED_REQUEST:
            if self.headers.get(h):
                req.add_header(h, self.headers[h])
        try:
            resp = urllib.request.urlopen(req, timeout=60)
        except urllib.error.HTTPError as e:
            resp = e
        except (urllib.error.URLError, OSError):
            self.answer(502, body)
            return
        with resp:
            self.send_response(resp.status)
            for h in PASSED_RESPONSE:
                if resp.headers.get(h):
                    self.send_header(h, resp.headers[h])
            if resp.headers.get("Content-Length") is None:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            if body:
                shutil.copyfileobj(resp, self.wfile, 1 << 16)
        self.record(resp.status)

    def answer(self, status, body):
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()
        self.record(status)

    def record(self, status):
        with open(LOG_FILE, "a", encoding="utf-8") as log:
            log.write(f"{status} {self.path}\n")

    def do_GET(self):
        self.relay(True)

    def do_HEAD(self):
        self.relay(False)

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
with open(PORT_FILE + ".tmp", "w", encoding="utf-8") as f:
    f.write(str(server.server_address[1]))
# Renamed once the port is written: a reader never sees a partial file.
os.replace(PORT_FILE + ".tmp", PORT_FILE)
server.serve_forever()
