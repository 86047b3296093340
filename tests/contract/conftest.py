"""The real Chalice app served by the local API server on 127.0.0.1, on moto, for contract tests.

The workflow starter is a fake (as in tests/api): a started deployment stays QUEUED, so a generated
request can never leave a real execution running behind the test.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from chalicelib import wiring
from chalicelib.adapters.dynamo.schema import create_table
from chalicelib.config import Settings
from railyard.localdev.api_server import ApiServer
from railyard.localdev.bootstrap import bootstrap
from tests.fakes import FakeWorkflow

TOKEN = "ry_contract_test"


@pytest.fixture
def live_api(aws: int) -> Iterator[ApiServer]:
    from app import app

    settings = Settings.from_env()
    bootstrap(settings.catalogue, settings.account_id)
    create_table(settings.table_name)
    container = wiring.Container(settings, workflow=FakeWorkflow())
    container.auth.ensure_token(TOKEN, settings.org_id, "contract")
    wiring.use(container)
    server = ApiServer(app).start()
    yield server
    server.stop()
    wiring.use(None)
