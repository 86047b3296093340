"""The KMS sealer (chalicelib/adapters/sealing.py) on moto's KMS: exact bytes back, nothing readable
stored, and a tampered or misplaced ciphertext never opens; sealed variables through DynamoDB; and
the local emulator keeps its keys across a SIGKILL (railyard/localdev/kms_keys.py)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from chalicelib.adapters.aws import client, reset_clients
from chalicelib.adapters.dynamo.repository import DynamoRepository
from chalicelib.adapters.dynamo.schema import create_table
from chalicelib.adapters.sealing import KmsSealer
from chalicelib.catalogue import Catalogue
from chalicelib.domain.models import ServiceVariables
from chalicelib.domain.sealing import SealedValue, SealedValueUnreadable, open_variables, sealing_context
from railyard.localdev.bootstrap import _ensure_key
from railyard.localdev.children import start_emulator
from railyard.localdev.emulator_auth import ensure_credentials

PEM = (
    "-----BEGIN PRIVATE KEY-----\n"
    "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\n"
    "-----END PRIVATE KEY-----\n"
)
ALIAS = Catalogue("test").variables_key_alias
WEB = sealing_context("svc_web", "TLS_KEY")


@pytest.fixture
def sealer(aws: int) -> KmsSealer:
    _ensure_key(client("kms"), ALIAS)  # as the local bootstrap does
    return KmsSealer(ALIAS)


def test_a_pem_key_comes_back_byte_for_byte_and_is_stored_unreadable(sealer: KmsSealer) -> None:
    sealed = sealer.seal(PEM.encode(), WEB)
    assert sealer.open(sealed, WEB) == PEM.encode()
    assert b"PRIVATE KEY" not in sealed.ciphertext + sealed.encrypted_key
    assert sealed.key_id.startswith("arn:aws:kms:us-east-1:") and ":key/" in sealed.key_id
    again = sealer.seal(PEM.encode(), WEB)
    assert (
        again.ciphertext != sealed.ciphertext and again.encrypted_key != sealed.encrypted_key
    )  # fresh data key
    text = sealed.to_text()
    assert "PRIVATE" not in text and SealedValue.from_text(text) == sealed


def test_a_tampered_ciphertext_or_data_key_does_not_open(sealer: KmsSealer) -> None:
    sealed = sealer.seal(b"sk_live_123", WEB)
    flipped = bytes([sealed.ciphertext[-1] ^ 1])
    with pytest.raises(SealedValueUnreadable, match="does not verify"):
        sealer.open(dataclasses.replace(sealed, ciphertext=sealed.ciphertext[:-1] + flipped), WEB)
    key = sealed.encrypted_key
    with pytest.raises(SealedValueUnreadable, match="KMS refused"):
        sealer.open(dataclasses.replace(sealed, encrypted_key=key[:-1] + bytes([key[-1] ^ 1])), WEB)


def test_a_ciphertext_moved_to_another_service_or_name_does_not_open(sealer: KmsSealer) -> None:
    sealed = sealer.seal(b"sk_live_123", WEB)
    with pytest.raises(SealedValueUnreadable, match="KMS refused"):
        sealer.open(sealed, sealing_context("svc_other", "TLS_KEY"))
    with pytest.raises(SealedValueUnreadable, match="KMS refused"):
        sealer.open(sealed, sealing_context("svc_web", "OTHER_NAME"))
    # Another service's data key with this service's context: KMS opens the key, GCM refuses the value.
    other = sealer.seal(b"x", WEB)
    with pytest.raises(SealedValueUnreadable, match="does not verify"):
        sealer.open(dataclasses.replace(sealed, encrypted_key=other.encrypted_key), WEB)
    text = sealed.to_text()
    with pytest.raises(SealedValueUnreadable, match="sealed variable TLS_KEY could not be opened"):
        open_variables(sealer, "svc_other", {"TLS_KEY": text})


def test_the_bootstrap_makes_one_key_however_often_it_runs(aws: int) -> None:
    kms = client("kms")
    _ensure_key(kms, ALIAS)
    _ensure_key(kms, ALIAS)
    assert len(kms.list_keys()["Keys"]) == 1
    assert kms.describe_key(KeyId=ALIAS)["KeyMetadata"]["Enabled"]


def test_sealed_variables_are_stored_and_read_back_as_ciphertext(sealer: KmsSealer) -> None:
    create_table("railyard-test-main")
    repo = DynamoRepository("railyard-test-main")
    text = sealer.seal(PEM.encode(), WEB).to_text()
    repo.save(ServiceVariables("svc_web", {"PLAIN": "a\n"}, 1, sealed={"TLS_KEY": text}))
    stored = client("dynamodb").scan(TableName="railyard-test-main")["Items"]
    assert "PRIVATE KEY" not in repr(stored)
    back = repo.get_variables("svc_web")
    assert back.values == {"PLAIN": "a\n"} and back.sealed == {"TLS_KEY": text}
    assert open_variables(sealer, "svc_web", back.sealed) == {"TLS_KEY": PEM}


@pytest.fixture
def emulator_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    key_id, secret = ensure_credentials(tmp_path / "aws")  # the only ones the emulator answers
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    yield tmp_path
    reset_clients()


def test_the_local_emulator_keeps_its_keys_across_a_sigkill(
    emulator_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def start() -> object:
        child, port = start_emulator(emulator_env / "aws", 0, emulator_env / "aws.log")
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
        reset_clients()
        return child

    child = start()
    try:
        _ensure_key(client("kms"), ALIAS)
        sealed = KmsSealer(ALIAS).seal(PEM.encode(), WEB)
    finally:
        child.proc.kill()  # type: ignore[attr-defined]  # SIGKILL: no shutdown code runs
        child.stop()  # type: ignore[attr-defined]
    child = start()
    try:
        assert KmsSealer(ALIAS).open(sealed, WEB) == PEM.encode()
        before = client("kms").list_keys()["Keys"]
        _ensure_key(client("kms"), ALIAS)  # the restarted platform's bootstrap finds it
        assert client("kms").list_keys()["Keys"] == before
    finally:
        child.stop()  # type: ignore[attr-defined]
