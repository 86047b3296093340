"""A tiny web app whose deploy log the live-dashboard tests read (tests/browser/test_dashboard_live.py):
at start it prints `lines` numbered rows at once (a big log, cheaply), then waits `listen_after`
seconds before it listens (so its deployment stays DEPLOYING for a moment), then prints a tick every
`tick_seconds`, each stamped with the epoch milliseconds it was printed at (so a reader can measure
how late it arrives), until `GET /stop` or `ticks` ticks. No requirements: the python build is the
shortest there is."""

from __future__ import annotations

import re

APP = """
import os, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LINES, LISTEN_AFTER, TICKS, EVERY = {lines}, {listen_after}, {ticks}, {tick_seconds}
out = sys.stdout
for n in range(1, LINES + 1):
    out.write("row %05d of the big log\\n" % n)
out.flush()
time.sleep(LISTEN_AFTER)


STOP = threading.Event()


def tick():
    for n in range(1, TICKS + 1):
        print("tick %d at %d" % (n, time.time() * 1000), flush=True)
        if STOP.wait(EVERY):
            break
    print("ticks done", flush=True)


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/stop":
            STOP.set()
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


threading.Thread(target=tick, daemon=True).start()
ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
"""

TICK = re.compile(r"^tick (\d+) at (\d+)$")  # a tick line: its number and when it was printed


def files(
    lines: int = 0, listen_after: float = 0.0, ticks: int = 0, tick_seconds: float = 0.25
) -> dict[str, str]:
    """The app's files, for tests.support.platform.write_app."""
    text = APP.format(lines=lines, listen_after=listen_after, ticks=ticks, tick_seconds=tick_seconds)
    return {"main.py": text}
