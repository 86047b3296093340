"""`railyard admin rotate-keys` against Secrets Manager on in-process moto."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from chalicelib.adapters.session_keys import SecretsManagerKeyStore
from chalicelib.config import session_keys_secret
from railyard import cli
from tests.support.moto_inprocess import in_process_aws


@pytest.fixture
def aws() -> Iterator[None]:
    with in_process_aws():
        yield


def rotate(stage: str = "prod") -> tuple[int, str]:
    result = CliRunner().invoke(cli.app, ["admin", "rotate-keys", "--stage", stage, "--region", "us-east-1"])
    return result.exit_code, result.output


def test_rotation_makes_a_new_signing_key_and_keeps_the_old_one_verifying(aws: None) -> None:
    store = SecretsManagerKeyStore(session_keys_secret("prod"))
    first = store.load()  # what the first sign-in does

    code, output = rotate()
    assert code == 0, output
    ring = store.load()
    assert ring.current.kid != first.current.kid and ring.current.kid in output
    assert [k.kid for k in ring.keys] == [ring.current.kid, first.current.kid]
    assert first.current.kid in ring.verifying(int(ring.keys[1].retired_at or 0))
    assert ring.box_key == first.box_key  # sealed MFA secrets stay readable


def test_a_stage_without_keys_is_refused_and_gets_no_secret(aws: None) -> None:
    code, output = rotate("typo")
    assert code == 1 and "no session keys" in output
    code, output = rotate("typo")
    assert code == 1  # still nothing was made
