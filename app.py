"""Railyard's HTTP API on API Gateway + Lambda (Chalice). Routes live in chalicelib/api blueprints;
the live-updates WebSocket API's handlers in chalicelib/api/live.py (Chalice takes WebSocket
handlers only on the app, hence the three lines below)."""

from __future__ import annotations

from chalice import Chalice

from chalicelib.api import live, register

# No handler of Chalice's own on the `railyard` logger: our modules log through the root logger
# (Lambda's, or the local platform's log file), and a handler bound to whatever sys.stdout was at
# import would also print every `railyard.*` record (the local API's access log) a second time.
app = Chalice(app_name="railyard", configure_logs=False)
app.experimental_feature_flags.update(["WEBSOCKETS"])
register(app)
ws_connect = app.on_ws_connect()(live.ws_connect)
ws_message = app.on_ws_message()(live.ws_message)
ws_disconnect = app.on_ws_disconnect()(live.ws_disconnect)
