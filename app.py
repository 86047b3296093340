"""Railyard's HTTP API on API Gateway + Lambda (Chalice). Routes live in chalicelib/api blueprints."""

from __future__ import annotations

from chalice import Chalice

from chalicelib.api import register

app = Chalice(app_name="railyard")
register(app)
