"""Live-logs benchmark app: prints `LIVE <epoch seconds>` every 50 ms (flushed) and answers HTTP on
$PORT, so the bench can time each line from the moment it was written to the moment it arrived."""

import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "3")
        self.end_headers()
        self.wfile.write(b"ok\n")

    def log_message(self, fmt, *args):
        pass


def tick():
    while True:
        print(f"LIVE {time.time():.6f}", flush=True)
        time.sleep(0.05)


threading.Thread(target=tick, daemon=True).start()
ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
