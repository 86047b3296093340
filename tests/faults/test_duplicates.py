"""Faults: the same create-deployment request sent twice, as a client that retries after a lost
answer would.

With the same Idempotency-Key and body the second request gets the first answer, byte for byte, and
creates nothing; the same key with another body is a 409 `{"Code", "Message"}` that creates nothing;
without a key each request is a deployment of its own.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
import requests

from tests.support.faults import deployments, echo_app, figures
from tests.support.platform import Dev

pytestmark = [pytest.mark.faults, pytest.mark.timeout(180)]


@pytest.fixture(scope="module")
def service_id(dev: Dev, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A live service, so that a redeploy has a release to deploy."""
    app, service = echo_app(dev, tmp_path_factory.mktemp("apps"), "dup")
    dev.cli("up", cwd=app)
    return service


def _create(dev: Dev, service_id: str, body: dict[str, object], key: str | None) -> requests.Response:
    headers = {"Authorization": f"Bearer {dev.token}"}
    if key is not None:
        headers["Idempotency-Key"] = key
    return requests.post(
        f"{dev.api_url}/v1/services/{service_id}/deployments", json=body, headers=headers, timeout=30
    )


def _ids(dev: Dev, service_id: str) -> set[str]:
    return {d["id"] for d in deployments(dev, service_id)}


def test_the_same_key_twice_makes_one_deployment_and_the_same_answer(
    dev: Dev, service_id: str, record_property: Callable[[str, object], None]
) -> None:
    before = _ids(dev, service_id)
    key = str(uuid.uuid4())
    # WHEN the same request is sent twice with the same key
    first = _create(dev, service_id, {"redeploy": True}, key)
    second = _create(dev, service_id, {"redeploy": True}, key)
    made = _ids(dev, service_id) - before
    figures(
        record_property,
        "same key twice",
        deployments_made=len(made),
        statuses=[first.status_code, second.status_code],
    )
    # THEN both are answered 201 with the same body, and exactly one deployment exists: that one
    assert (first.status_code, second.status_code) == (201, 201), second.text
    assert second.text == first.text
    assert made == {first.json()["deployment"]["id"]}


def test_the_same_key_with_another_body_is_a_409_that_creates_nothing(
    dev: Dev, service_id: str, record_property: Callable[[str, object], None]
) -> None:
    key = str(uuid.uuid4())
    first = _create(dev, service_id, {"redeploy": True}, key)
    assert first.status_code == 201, first.text
    before = _ids(dev, service_id)
    # WHEN the key is reused for a different request
    reused = _create(dev, service_id, {"sourceKey": "sources/some-other-upload.tar.gz"}, key)
    made = _ids(dev, service_id) - before
    figures(record_property, "same key, other body", status=reused.status_code, deployments_made=len(made))
    # THEN it is refused as a conflict in the API's error shape, and nothing was created
    assert reused.status_code == 409, reused.text
    error = reused.json()
    assert set(error) == {"Code", "Message"} and error["Code"] and error["Message"]
    assert made == set()


def test_without_a_key_each_request_is_a_deployment(
    dev: Dev, service_id: str, record_property: Callable[[str, object], None]
) -> None:
    before = _ids(dev, service_id)
    answers = [_create(dev, service_id, {"redeploy": True}, None) for _ in range(2)]
    made = _ids(dev, service_id) - before
    figures(record_property, "no key, twice", deployments_made=len(made))
    assert [a.status_code for a in answers] == [201, 201]
    assert made == {a.json()["deployment"]["id"] for a in answers} and len(made) == 2
