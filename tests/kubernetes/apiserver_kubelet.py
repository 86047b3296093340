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
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import TYPE_CHECKING, Any

from tests.kubernetes.apiserver_resources import parse_time, rfc3339

if TYPE_CHECKING:
    from tests.kubernetes.apiserver import KubeApiServer

JSON = dict[str, Any]

NO_PORT_MARKER = "no-port"
_EXITS = re.compile(r"exits-(\d+)")
# kubelet's container restart back-off (pkg/kubelet/kubelet.go: backOffPeriod, MaxContainerBackOff).
BACKOFF_SECONDS = 10
MAX_BACKOFF_SECONDS = 300


def exit_code(server: KubeApiServer, image: str) -> int | None:
    """The code the image's process exits with at once; None for a process that keeps running."""
    if image in server.container_exit_codes:
        return server.container_exit_codes[image]
    found = _EXITS.search(image)
    return int(found.group(1)) if found else None


def opens_port(server: KubeApiServer, image: str) -> bool:
    return image not in server.portless_images and NO_PORT_MARKER not in image


def passes_readiness(server: KubeApiServer, container: JSON) -> bool:
    """Whether the container's readiness probe (if any) ever passes. HTTP probes pass unless the
    image is never-ready; a tcpSocket probe also needs the process to listen."""
    image = container.get("image", "")
    if not server.image_ready(image) or exit_code(server, image) is not None:
        return False
    probe = container.get("readinessProbe") or {}
    return not ("tcpSocket" in probe and not opens_port(server, image))


def exiting_status(server: KubeApiServer, container: JSON, previous: JSON | None, now: datetime) -> JSON:
    """The next status of a container whose process exits at once (see the module docstring)."""
    image = container.get("image", "")
    code = exit_code(server, image)
    assert code is not None
    stamp = rfc3339(now)
    terminated = {
        "exitCode": code,
        "reason": "Completed" if code == 0 else "Error",
        "startedAt": stamp,
        "finishedAt": stamp,
    }
    restarts = int((previous or {}).get("restartCount") or 0)
    state = (previous or {}).get("state") or {}
    last = (previous or {}).get("lastState") or {}
    if "terminated" in state:  # it just exited: back-off before the restart
        message = f"back-off {_backoff(restarts)}s restarting failed container"
        new_state: JSON = {"waiting": {"reason": "CrashLoopBackOff", "message": message}}
        new_last: JSON = {"terminated": state["terminated"]}
    elif "waiting" in state and "terminated" in last:
        finished = parse_time(last["terminated"]["finishedAt"])
        if (now - finished).total_seconds() < _backoff(restarts):
            return dict(previous or {})
        restarts += 1  # restarted, and exited again at once
        new_state, new_last = {"terminated": terminated}, dict(last)
    else:  # first start
        new_state, new_last = {"terminated": terminated}, {}
    return {
        **_base(container, image),
        "state": new_state,
        "lastState": new_last,
        "ready": False,
        "restartCount": restarts,
        "started": False,
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
