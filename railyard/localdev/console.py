"""What `railyard dev` prints, and where everything else goes.

The terminal shows platform events (started, restored, a deployment reaching an end) and errors,
one line each. Everything else — per-request access logs (logger "railyard.access"), the workers'
structured logs, moto's internal exceptions with their tracebacks — goes to
`<data dir>/logs/railyard.log`, which the terminal names once at start.

Deployment events reach the terminal the way they reach anything else: EventBridge's notify rule
delivers them to the notifications queue, and a local poller hands them to `print_event`.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

EVENTS = "railyard.events"
ACCESS = "railyard.access"  # the local API server's per-request lines
LOG_FORMAT = "%(asctime)s %(threadName)s %(name)s %(levelname)s %(message)s"


class _OneLine(logging.Formatter):
    """ERROR lines for a person: the message and the exception's last line, no traceback."""

    def format(self, record: logging.LogRecord) -> str:
        text = f"railyard dev: {record.levelname.lower()}: {record.getMessage()}"
        if record.exc_info and record.exc_info[1] is not None:
            text += f" ({type(record.exc_info[1]).__name__}: {record.exc_info[1]}; details in the log file)"
        return text


class _NotEvents(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not record.name.startswith(EVENTS)


def configure(data_dir: Path, quiet: bool = False) -> Path:
    """Routes logging: all of it to the log file, events and errors to the terminal. Returns the
    log file's path."""
    log_file = data_dir / "logs" / "railyard.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    to_file = logging.FileHandler(log_file, encoding="utf-8")
    to_file.setFormatter(logging.Formatter(LOG_FORMAT))
    root.addHandler(to_file)
    root.setLevel(logging.INFO)
    if not quiet:
        errors = logging.StreamHandler(sys.stderr)
        errors.setLevel(logging.ERROR)
        errors.setFormatter(_OneLine())
        errors.addFilter(_NotEvents())
        root.addHandler(errors)
    # Chalice owns the logger named after the app ("railyard"): it sets it to ERROR and stops
    # propagation, so these two children get their level and handlers of their own.
    for name in (EVENTS, ACCESS):
        logger = logging.getLogger(name)
        logger.setLevel(logging.INFO)
        logger.propagate = False
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
        logger.addHandler(to_file)
    if not quiet:
        events = logging.StreamHandler(sys.stdout)
        events.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
        logging.getLogger(EVENTS).addHandler(events)
    for noisy in ("werkzeug", "botocore", "urllib3", "moto"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return log_file


def redirect_stream_loggers(log_file: Path) -> None:
    """Loggers that bring their own handler to the terminal (Powertools' Logger in functions/, the
    Chalice app's logger) write to the log file instead: in Lambda their lines go to CloudWatch,
    here they are not events a person at the terminal needs. Call it once the handlers and the
    app are imported."""
    stream = None
    for logger in list(logging.Logger.manager.loggerDict.values()):
        if not isinstance(logger, logging.Logger) or logger.name.startswith(EVENTS):
            continue
        for handler in logger.handlers:
            terminal = getattr(handler, "stream", None) in (sys.stdout, sys.stderr)
            if terminal and type(handler) is logging.StreamHandler:
                stream = stream or open(log_file, "a", encoding="utf-8", buffering=1)  # noqa: SIM115
                handler.setStream(stream)


def event(message: str) -> None:
    """One platform event line on the terminal (and in the log file)."""
    logging.getLogger(EVENTS).info(message)


def print_event(sqs_event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The notifications queue's local consumer: one line per deployment event."""
    for record in sqs_event.get("Records", []):
        try:
            envelope = json.loads(record["body"])
            detail = envelope.get("detail") or {}
            data = detail.get("data") or {}
            name = (detail.get("metadata") or {}).get("event_name") or envelope.get("detail-type")
        except (ValueError, AttributeError):
            continue
        deployment_id = str(data.get("deployment_id", "?"))
        if name == "deployment.completed":
            status = data.get("status", "?")
            service, reason = _describe(deployment_id)
            why = f": {reason}" if reason and status != "SUCCESS" else ""
            event(f"{service}: deployment {deployment_id} → {status}{why}")
        elif name == "deployment.requested":
            event(f"{_describe(deployment_id)[0]}: deployment {deployment_id} requested")
    return {"batchItemFailures": []}


def _describe(deployment_id: str) -> tuple[str, str | None]:
    """The deployment's service host name and its reason, for a person; best effort."""
    from chalicelib.wiring import container

    try:
        repo = container().repository
        deployment = repo.get_deployment(deployment_id)
        return repo.get_service(deployment.service_id).hostname, deployment.reason
    except Exception:  # an event line is never worth failing the queue's message
        return "?", None
