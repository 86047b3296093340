"""Putting one event on Railyard's EventBridge bus (source `railyard`, the catalogue's EVENT_SOURCE):
what the audit log and the GitHub webhook both do from the API, and `EventBridgePublisher`, the
domain's EventPublisher (a live release's end: domain/live_end.py). The detail is the envelope
`{data, metadata}` and the detail-type its event name, as the deploy state machine's `putEvents`."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chalicelib.domain.events import Envelope


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


class EventBridgePublisher:
    """EventPublisher (domain/ports.py) on Railyard's bus."""

    def __init__(self, bus_name: str, region: str | None = None) -> None:
        self._bus = bus_name
        self._region = region

    def publish(self, envelope: Envelope) -> None:
        put_event(self._bus, self._region, envelope.metadata.event_name, envelope.model_dump(mode="json"))
