"""The simulated kubelet's view of one container: does it open its port, does it exit, and what its
``containerStatus`` says as it crash-loops. Test support for ``apiserver_controllers._kubelet``.

Images say how their process behaves, the way ``never-ready`` already does:

* ``no-port`` in the image (or the image in ``server.portless_images``): the process runs but never
  listens, so a ``tcpSocket`` readiness probe never passes; without a probe the pod is Ready once
  the container runs, as on a real kubelet;
* ``exits-<code>`` in the image (or ``server.container_exit_codes[image]``): the process exits with
  that code as soon as it starts. A Deployment's pods have ``restartPolicy: Always``, so the kubelet
  restarts it after the crash-loop back-off (10 s doubling up to 300 s of the server's clock): the
  status goes terminated -> waiting (``CrashLoopBackOff``, ``lastState.terminated``) -> terminated
  again with ``restartCount`` + 1, and the pod is never Ready.
* ``exits-<code>-after-<n>s`` (or ``server.container_run_seconds[image]`` with an exit code): the
  process runs for ``n`` seconds of the server's clock (Ready meanwhile, as its probe allows), then
  exits: running -> terminated (``startedAt``/``finishedAt`` ``n`` s apart) -> waiting
  (``CrashLoopBackOff``) -> running again with ``restartCount`` + 1 after the back-off, and so on.
  The pod is not Ready from the exit until the process runs again.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from tests.kubernetes.apiserver_resources import parse_time, rfc3339

if TYPE_CHECKING:
    from tests.kubernetes.apiserver import KubeApiServer

JSON = dict[str, Any]

NO_PORT_MARKER = "no-port"
_EXITS = re.compile(r"exits-(\d+)(?:-after-(\d+)s)?")
# kubelet's container restart back-off (pkg/kubelet/kubelet.go: backOffPeriod, MaxContainerBackOff).
BACKOFF_SECONDS = 10
MAX_BACKOFF_SECONDS = 300


def exit_code(server: KubeApiServer, image: str) -> int | None:
    """The code the image's process exits with at once; None for a process that keeps running."""
    if image in server.container_exit_codes:
        return server.container_exit_codes[image]
    found = _EXITS.search(image)
    return int(found.group(1)) if found else None


def run_seconds(server: KubeApiServer, image: str) -> int:
    """How long the image's process runs before it exits (0: at once)."""
    if image in server.container_run_seconds:
        return server.container_run_seconds[image]
    found = _EXITS.search(image)
    return int(found.group(2) or 0) if found else 0


def opens_port(server: KubeApiServer, image: str) -> bool:
    return image not in server.portless_images and NO_PORT_MARKER not in image


def passes_readiness(server: KubeApiServer, container: JSON) -> bool:
    """Whether the container's readiness probe (if any) ever passes. HTTP probes pass unless the
    image is never-ready; a tcpSocket probe also needs the process to listen."""
    image = container.get("image", "")
    if not server.image_ready(image):
        return False
    if exit_code(server, image) is not None and not run_seconds(server, image):
        return False  # exits at once; one that runs a while is ready while it runs (is_running)
    probe = container.get("readinessProbe") or {}
    return not ("tcpSocket" in probe and not opens_port(server, image))


def is_running(status: JSON) -> bool:
    return "running" in (status.get("state") or {})


def exiting_status(server: KubeApiServer, container: JSON, previous: JSON | None, now: datetime) -> JSON:
    """The next status of a container whose process exits, at once or after a while (see the module
    docstring). `ready` says whether it runs; the caller ands it with the pod's readiness."""
    image = container.get("image", "")
    code = exit_code(server, image)
    assert code is not None
    runs = run_seconds(server, image)
    restarts = int((previous or {}).get("restartCount") or 0)
    state = (previous or {}).get("state") or {}
    last = (previous or {}).get("lastState") or {}
    new_last: JSON = dict(last)
    if "running" in state:
        started = parse_time(state["running"]["startedAt"])
        if (now - started).total_seconds() < runs:
            return dict(previous or {})
        new_state: JSON = {"terminated": _terminated(code, started, started + timedelta(seconds=runs))}
    elif "terminated" in state:  # it just exited: back-off before the restart
        message = f"back-off {_backoff(restarts)}s restarting failed container"
        new_state = {"waiting": {"reason": "CrashLoopBackOff", "message": message}}
        new_last = {"terminated": state["terminated"]}
    elif "waiting" in state and "terminated" in last:
        finished = parse_time(last["terminated"]["finishedAt"])
        if (now - finished).total_seconds() < _backoff(restarts):
            return dict(previous or {})
        restarts += 1  # restarted: it runs again (and exits again, at once or later)
        new_state = _started(code, runs, now)
    else:  # first start
        new_state = _started(code, runs, now)
    return {
        **_base(container, image),
        "state": new_state,
        "lastState": new_last,
        "ready": "running" in new_state,
        "restartCount": restarts,
        "started": "running" in new_state,
    }


def _started(code: int, runs: int, now: datetime) -> JSON:
    if runs:
        return {"running": {"startedAt": rfc3339(now)}}
    return {"terminated": _terminated(code, now, now)}


def _terminated(code: int, started: datetime, finished: datetime) -> JSON:
    return {
        "exitCode": code,
        "reason": "Completed" if code == 0 else "Error",
        "startedAt": rfc3339(started),
        "finishedAt": rfc3339(finished),
    }


def _backoff(restarts: int) -> int:
    return int(min(BACKOFF_SECONDS * 2**restarts, MAX_BACKOFF_SECONDS))


def _base(container: JSON, image: str) -> JSON:
    import hashlib

    digest = hashlib.sha256(image.encode()).hexdigest()
    return {
        "name": container.get("name", ""),
        "image": image,
        "imageID": f"{image.split(':')[0]}@sha256:{digest}",
        "containerID": f"containerd://{digest}",
    }
