"""Railyard's HTTP API on API Gateway + Lambda (Chalice). Routes live in chalicelib/api blueprints."""

from __future__ import annotations

from chalice import Chalice

from chalicelib.api import register

# No handler of Chalice's own on the `railyard` logger: our modules log through the root logger
# (Lambda's, or the local platform's log file), and a handler bound to whatever sys.stdout was at
# import would also print every `railyard.*` record (the local API's access log) a second time.
app = Chalice(app_name="railyard", configure_logs=False)
register(app)
