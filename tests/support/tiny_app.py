"""A tiny web app packed as a release artifact (the build runner's contract: the tar root is the app's
working directory). It answers 200 with its version on every path and starts in milliseconds, so a
test can activate a hundred releases; `filler_bytes` of incompressible data make disk use visible.
With the variable TERM_DELAY it exits that many seconds after SIGTERM (a release that drains)."""

from __future__ import annotations

import io
import os
import shlex
import sys
import tarfile

APP = """
import os, signal, threading
from http.server import BaseHTTPRequestHandler, HTTPServer

VERSION = open("version.txt").read().encode()
if os.environ.get("TERM_DELAY"):  # drain: exit that many seconds after SIGTERM
    delay = float(os.environ["TERM_DELAY"])
    signal.signal(signal.SIGTERM, lambda *_: threading.Timer(delay, os._exit, (0,)).start())


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(len(VERSION)))
        self.end_headers()
        self.wfile.write(VERSION)

    def log_message(self, *args):
        pass


HTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
"""

# -S: no site-packages to scan, so the interpreter is up in a few milliseconds.
START_COMMAND = f"exec {shlex.quote(sys.executable)} -S app.py"


def pack(version: str, filler_bytes: int = 0) -> bytes:
    files = {"app.py": APP.encode(), "version.txt": version.encode(), "filler.bin": os.urandom(filler_bytes)}
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()
