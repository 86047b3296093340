"""hello-python: a stdlib web app for Railyard. Listens on $PORT; shows its version and variables."""

import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VERSION = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "VERSION")).read().strip()


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path.startswith("/env/"):
            name = self.path[len("/env/"):]
            body = json.dumps({name: os.environ.get(name)}).encode()
            content_type = "application/json"
        else:
            body = f"Hello from Railyard! (python, version {VERSION})\n".encode()
            content_type = "text/plain"
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        print(fmt % args, flush=True)


if __name__ == "__main__":
    port = int(os.environ.get("PORT", "8000"))
    print(f"hello-python {VERSION} listening on {port}", flush=True)
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
