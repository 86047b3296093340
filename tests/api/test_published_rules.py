"""The rules a client checks before sending (the dashboard's variables and settings pages) are the
API's own, published in GET /v1/openapi.json from the one place each is declared: a variable name's
pattern (domain/variable_changes.py) and each setting's range, choices and pattern (the settings
table, domain/service_settings.py). The API still checks them itself: a value the published rule
refuses is refused by the API too, with the domain's message."""

from __future__ import annotations

import re
from typing import Any

from chalicelib.domain.service_settings import SETTINGS
from chalicelib.domain.variable_changes import VARIABLE_NAME
from tests.api.conftest import Api


def _schemas(api: Api) -> dict[str, Any]:
    status, doc = api.call("GET", "/v1/openapi.json", token=None)
    assert status == 200
    return doc["components"]["schemas"]  # type: ignore[no-any-return]


def test_the_variable_name_rule_is_published_as_the_domain_declares_it(api: Api) -> None:
    patch = _schemas(api)["VariablesPatch"]["properties"]
    for key in ("set", "sealed"):
        assert patch[key]["propertyNames"]["pattern"] == VARIABLE_NAME.pattern
    assert patch["unset"]["items"]["pattern"] == VARIABLE_NAME.pattern


def test_every_settings_row_publishes_its_range_choices_and_pattern(api: Api) -> None:
    published = _schemas(api)["SettingsPatch"]["properties"]
    for row in SETTINGS:
        field = published[row.api_name]
        assert field.get("minimum") == row.minimum, row.api_name
        assert field.get("exclusiveMinimum") == row.above, row.api_name
        assert field.get("maximum") == row.maximum, row.api_name
        assert field.get("pattern") == row.pattern, row.api_name
        assert field.get("x-pattern-says", "") == row.pattern_says, row.api_name
        if row.choices:
            assert set(field["enum"]) - {None} == set(row.choices), row.api_name


def test_a_value_the_published_rules_refuse_the_api_refuses_too(api: Api) -> None:
    published = _schemas(api)["SettingsPatch"]["properties"]
    assert not re.match(published["healthcheckPath"]["pattern"], "health")
    replicas = published["numReplicas"]["maximum"] + 1
    service_id = api.service()["id"]
    for settings in ({"numReplicas": replicas}, {"healthcheckPath": "health"}):
        status, body = api.call("PATCH", f"/v1/services/{service_id}", {"settings": settings})
        assert status == 400 and f"settings.{next(iter(settings))}" in body["Message"], body
    status, body = api.call("PATCH", f"/v1/services/{service_id}/variables", {"set": {"1BAD": "x"}})
    assert status == 400 and "1BAD" in body["Message"]
