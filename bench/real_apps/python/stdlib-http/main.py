import os
from http.server import BaseHTTPRequestHandler, HTTPServer


class Hello(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"stdlib says hello")


HTTPServer(("0.0.0.0", int(os.environ["PORT"])), Hello).serve_forever()
