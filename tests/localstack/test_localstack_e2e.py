"""End to end on LocalStack: `railyard dev --aws localstack` runs the same platform with S3, SQS,
EventBridge and Step Functions in LocalStack and the table in DynamoDB Local, deploys
examples/hello-python through the CLI, and serves it through the router. Skips only when
LocalStack's Python 3.13 venv or Java is missing, and says which."""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from chalicelib.catalogue import Catalogue
from railyard.localdev import localstack
from tests.support.localstack import REGION, LocalStackDev, running_localstack_dev, skip_reason

ROOT = Path(__file__).resolve().parents[2]
REASON = skip_reason()
pytestmark = [pytest.mark.e2e, pytest.mark.skipif(REASON is not None, reason=str(REASON))]


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStackDev]:
    started = time.monotonic()
    with running_localstack_dev(tmp_path_factory.mktemp("railyard-home")) as running:
        print(f"railyard dev --aws localstack ready in {time.monotonic() - started:.1f}s")
        yield running
    # The platform's stop took LocalStack and DynamoDB Local with it (no stray servers left).
    for url in (running.aws_endpoint_url, running.dynamodb_url):
        assert not _answers(url), f"{url} still answers after the platform stopped"


def _answers(url: str) -> bool:
    try:
        requests.get(url, timeout=2)
        return True
    except requests.ConnectionError:
        return False


def test_hello_python_deploys_on_localstack_and_answers_through_the_router(
    platform: LocalStackDev, tmp_path: Path
) -> None:
    dev = platform.dev
    app = dev.app(tmp_path, "hello-python", "ls")
    out = dev.cli("up", cwd=app, timeout=90).stdout
    assert "✔ Deployed: http://web-production-ls.localhost:" in out
    assert dev.get("web-production-ls") == (200, "Hello from Railyard! (python, version 1)\n")

    # EventBridge (in LocalStack) delivered the pipeline's events to the notifications queue, whose
    # poller printed them on the platform's terminal.
    deadline = time.monotonic() + 10
    while "→ SUCCESS" not in platform.process.output() and time.monotonic() < deadline:
        time.sleep(0.2)
    output = platform.process.output()
    requested = re.search(r"web-production-ls: deployment (dep_\w+) requested", output)
    assert requested is not None, output
    deployment_id = requested.group(1)
    assert f"web-production-ls: deployment {deployment_id} → SUCCESS" in output

    # LocalStack's own Step Functions interpreter ran the deploy state machine (execution name =
    # deployment id; its task tokens went through LocalStack's SQS) ...
    sfn = platform.localstack_client("stepfunctions")
    machines = sfn.list_state_machines()["stateMachines"]
    assert [m["name"] for m in machines] == ["railyard-dev-deploy"]
    executions = sfn.list_executions(stateMachineArn=machines[0]["stateMachineArn"])["executions"]
    assert [(e["name"], e["status"]) for e in executions] == [(deployment_id, "SUCCEEDED")]
    # ... its queues and buckets are LocalStack's, and the table is DynamoDB Local's.
    queues = platform.localstack_client("sqs").list_queues(QueueNamePrefix="railyard-dev-")["QueueUrls"]
    assert any(url.endswith("/railyard-dev-deploy") for url in queues), queues
    s3 = platform.localstack_client("s3")
    buckets = {b.key: b.name for b in Catalogue("dev", account=localstack.ACCOUNT_ID, region=REGION).buckets}
    assert s3.list_objects_v2(Bucket=buckets["sources"]).get("KeyCount", 0) >= 1
    assert s3.list_objects_v2(Bucket=buckets["artifacts"]).get("KeyCount", 0) >= 1
    assert "railyard-dev-main" in platform.dynamodb_client().list_tables()["TableNames"]


def test_the_ready_hook_bootstraps_the_catalogue_on_localstack(platform: LocalStackDev) -> None:
    """localstack/init/ready.d's hook (the Docker path) runs the same bootstrap; here it is run on
    the host against the platform's LocalStack with the project's venv instead of its own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RAILYARD_"))}
    env.update(
        RAILYARD_PYTHON=str(ROOT / ".venv" / "bin" / "python"),
        RAILYARD_SRC=str(ROOT),
        RAILYARD_STAGE="hook",
        AWS_ENDPOINT_URL=platform.aws_endpoint_url,
        AWS_ENDPOINT_URL_DYNAMODB=platform.dynamodb_url,
    )
    hook = ROOT / "localstack" / "init" / "ready.d" / "10-railyard-bootstrap.sh"
    result = subprocess.run(["bash", str(hook)], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    queues = platform.localstack_client("sqs").list_queues(QueueNamePrefix="railyard-hook-")["QueueUrls"]
    names = {url.rsplit("/", 1)[1] for url in queues}
    assert names == {n for q in Catalogue("hook").queues for n in (q.name, q.dlq_name)}, queues  # with DLQs
    machines = platform.localstack_client("stepfunctions").list_state_machines()["stateMachines"]
    assert "railyard-hook-deploy" in [m["name"] for m in machines]
    assert "railyard-hook-main" in platform.dynamodb_client().list_tables()["TableNames"]


def test_an_external_localstack_is_used_whole_and_nothing_is_started(
    platform: LocalStackDev, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """RAILYARD_LOCALSTACK_URL (the Docker path): the platform starts no LocalStack and no DynamoDB
    Local of its own and sends every service, the table included, to that one."""
    from railyard.localdev import targets

    monkeypatch.setenv("RAILYARD_LOCALSTACK_URL", platform.aws_endpoint_url + "/")
    target = targets.start("localstack", tmp_path / "data")
    assert target.stoppers == []
    assert target.endpoint_url == target.dynamodb_url == platform.aws_endpoint_url
    assert target.env["AWS_ENDPOINT_URL"] == platform.aws_endpoint_url
    assert "AWS_ENDPOINT_URL_DYNAMODB" not in target.env
    assert not (tmp_path / "data").exists()
