"""What a running release turned out to be: a web service, a worker or a job (docs/decisions/0030).

Railway's semantics, which Railyard follows:
- with a health-check path, a deployment is live (SUCCESS, Railway's "Active") once the path answers
  200 within the health-check timeout, else FAILED. Strict, as before.
- without one, a deployment is live once its process has started, which Railyard observes as: it
  accepted a TCP connection on $PORT (a WEB service: it gets a route and a URL), or it stayed up for
  the worker settle time without doing so (a WORKER: a bot, a queue consumer; no route, no URL),
  whichever comes first;
- a process that exits with code 0 and that its restart policy does not restart (ON_FAILURE and
  NEVER never restart a clean exit) ran to completion: a JOB. Its deployment ends COMPLETED
  (Railway's "Completed"), before or after it was declared live, and it is the service's active
  deployment all the same: the release it replaced is retired as on any deploy;
- a non-zero exit the policy does not (or no longer) restarts is FAILED before the deployment is
  live and CRASHED after, both with the exit code in the reason.

The kind is stored on the deployment and on the service when the deployment commits, so a status
view knows whether to show a URL without another read.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

# How long a process without a health-check path must stay up, without opening $PORT, before it is
# declared a worker. A web app that opens $PORT sooner is live at once, so this only delays
# workers; a web app slower to open its port than this is taken for a worker (its log says so and
# how to avoid it: a health-check path, or a longer settle time).
DEFAULT_WORKER_SETTLE_SECONDS = 5.0
MAX_WORKER_SETTLE_SECONDS = 600.0
# A process that ran this long before it exited (or has run again this long since) gets its full
# restart budget back, so a service that crashes once a day is not CRASHED after its third day. Both
# runtimes apply it: the local one to the processes it supervises, Kubernetes to a pod's last run.
RESTART_BUDGET_RESET_SECONDS = 30.0


class Workload(StrEnum):
    WEB = "web"  # opened $PORT (or passed its HTTP health check): routed, has a URL
    WORKER = "worker"  # stayed up without opening $PORT: no route, no URL
    JOB = "job"  # exited 0 on its own: the deployment is COMPLETED

    @property
    def serves_http(self) -> bool:
        return self is Workload.WEB


def of_replicas(outcomes: Iterable[Workload]) -> Workload:
    """A release is what its replicas are: a job only when every replica ran to completion; web
    when any opened $PORT; else a worker (one replica that finished does not end the others)."""
    kinds = set(outcomes)
    if kinds == {Workload.JOB}:
        return Workload.JOB
    return Workload.WEB if Workload.WEB in kinds else Workload.WORKER
