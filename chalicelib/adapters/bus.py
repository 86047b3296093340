"""Putting one event on Railyard's EventBridge bus (source `railyard`, the catalogue's EVENT_SOURCE):
what the audit log and the GitHub webhook both do from the API."""

from __future__ import annotations

import json
from typing import Any


def put_event(bus_name: str, region: str | None, detail_type: str, detail: dict[str, Any]) -> None:
    """One PutEvents entry; RuntimeError when the bus does not accept it."""
    from chalicelib.adapters import aws
    from chalicelib.catalogue import EVENT_SOURCE

    answer = aws.client("events", region).put_events(
        Entries=[
            {
                "EventBusName": bus_name,
                "Source": EVENT_SOURCE,
                "DetailType": detail_type,
                "Detail": json.dumps(detail),
            }
        ]
    )
    if answer.get("FailedEntryCount"):
        raise RuntimeError(f"the {detail_type} event was not accepted: {answer['Entries']}")
