"""A tiny web app that answers with its own environment: GET /NAME is the value of the variable NAME
(404 when it is not set). No dependencies, so `railyard up` builds and starts it in seconds: for
tests about variables and settings, not about builds."""

from __future__ import annotations

from pathlib import Path

from tests.support.platform import write_app

MAIN = """
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        value = os.environ.get(self.path.strip("/"))
        body = (value if value is not None else "unset").encode()
        self.send_response(200 if value is not None else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
"""


def write(directory: Path) -> Path:
    """The app's source in `directory`, ready for `railyard init` and `railyard up`."""
    return write_app(directory, {"main.py": MAIN})
