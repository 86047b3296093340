"""The API's size and count limits as a user meets them: a 4xx whose body names the limit, never a
500 (domain/limits.py declares every number; docs/api.md "Limits" lists them)."""

from __future__ import annotations

import base64
import json

from chalicelib.domain import limits
from tests.api.conftest import Api


def test_a_deeply_nested_body_is_a_400_naming_the_depth_limit_not_a_500(api: Api) -> None:
    service = api.service()
    path = f"/v1/services/{service['id']}/variables"
    deep = b"[" * 10_000 + b"]" * 10_000  # json.loads alone raises RecursionError on this

    reply = api.send("PATCH", path, raw=deep)

    assert reply.status == 400
    assert reply.body["Code"] == "BadRequest"
    assert f"the limit is {limits.MAX_JSON_DEPTH} levels" in reply.body["Message"]


def test_nesting_up_to_the_limit_is_parsed_and_one_more_level_is_refused(api: Api) -> None:
    service = api.service()
    path = f"/v1/services/{service['id']}/variables"
    at_limit = "[" * limits.MAX_JSON_DEPTH + "]" * limits.MAX_JSON_DEPTH
    # Brackets inside strings do not nest anything.
    quoted = json.dumps({"set": {"A": "[" * 100}})

    allowed = api.send("PATCH", path, raw=at_limit.encode())
    deeper = api.send("PATCH", path, raw=f"[{at_limit}]".encode())
    text = api.send("PATCH", path, raw=quoted.encode())

    assert allowed.status == 400 and allowed.body["Message"] == "the request body must be a JSON object"
    assert deeper.status == 400 and "nests 33 levels deep" in deeper.body["Message"]
    assert text.status == 200 and text.body["variables"]["A"] == "[" * 100


def test_a_body_over_the_size_limit_is_a_413_before_it_is_parsed(api: Api) -> None:
    service = api.service()
    path = f"/v1/services/{service['id']}/variables"
    big = json.dumps({"set": {"A": "x" * limits.MAX_REQUEST_BODY_BYTES}}).encode()

    reply = api.send("PATCH", path, raw=big)

    assert reply.status == 413
    assert reply.body["Code"] == "PayloadTooLarge"
    assert f"the limit is {limits.MAX_REQUEST_BODY_BYTES} bytes" in reply.body["Message"]
    assert api.call("GET", path)[1] == {"variables": {}, "sealed": []}


def test_the_201st_variable_is_refused_naming_the_count_limit(api: Api) -> None:
    service = api.service()
    path = f"/v1/services/{service['id']}/variables"
    full = {f"V{i}": "x" for i in range(limits.MAX_VARIABLES)}
    assert api.call("PATCH", path, {"set": full})[0] == 200

    status, body = api.call("PATCH", path, {"set": {"ONE_MORE": "x"}})
    replaced_status, _ = api.call("PATCH", path, {"set": {"V0": "changed"}, "unset": ["V1"]})

    assert status == 400
    assert f"at most {limits.MAX_VARIABLES} variables" in body["Message"]
    assert "would leave 201" in body["Message"]
    assert replaced_status == 200  # changing and removing stay possible at the limit


def test_variables_that_would_overflow_the_item_are_a_413_not_a_500(api: Api) -> None:
    """Before the total limit, 13 values of 32 KiB (each under the per-value limit, sent in
    several requests under the body limit) made the variables item exceed DynamoDB's 400 KB: a 500."""
    service = api.service()
    path = f"/v1/services/{service['id']}/variables"
    value = "x" * limits.MAX_VARIABLE_BYTES
    answers = [api.call("PATCH", path, {"set": {f"BIG_{i}": value}}) for i in range(13)]

    statuses = [status for status, _ in answers]
    assert statuses[:1] == [200]
    assert 500 not in statuses
    first_refused = next(body for status, body in answers if status != 200)
    assert first_refused["Code"] == "PayloadTooLarge"
    assert f"at most {limits.MAX_VARIABLES_BYTES} bytes together" in first_refused["Message"]
    stored = api.call("GET", path)[1]["variables"]
    assert limits.stored_size(stored) <= limits.MAX_VARIABLES_BYTES


def test_control_characters_count_as_stored_json_escapes_them(api: Api) -> None:
    """JSON stores "\\u0001" as six bytes: the total counts what is stored, so a value of control
    characters under the per-value limit can still take the service over the total."""
    service = api.service()
    path = f"/v1/services/{service['id']}/variables"
    value = "\x01" * 12_000  # 12,000 bytes as UTF-8, 72,000 as stored

    status, body = api.call("PATCH", path, {"set": {"BINARY": value}})

    assert status == 413 and "would make 72" in body["Message"]


def test_a_start_command_over_the_limit_is_a_400_naming_it(api: Api) -> None:
    service = api.service()
    too_long = "x" * (limits.MAX_COMMAND_CHARS + 1)

    status, body = api.call(
        "PATCH", f"/v1/services/{service['id']}", {"settings": {"startCommand": too_long}}
    )

    assert status == 400
    assert "settings.startCommand" in body["Message"] and str(limits.MAX_COMMAND_CHARS) in body["Message"]


def test_an_upload_is_a_presigned_post_bounded_to_the_upload_limit(api: Api) -> None:
    service = api.service()

    status, upload = api.call("POST", f"/v1/services/{service['id']}/uploads")

    assert status == 201
    assert upload["uploadUrl"].startswith("http://127.0.0.1:")
    assert upload["uploadFields"]["key"] == upload["sourceKey"]
    assert "policy" in upload["uploadFields"] and "x-amz-signature" in upload["uploadFields"]
    assert upload["maxBytes"] == limits.MAX_UPLOAD_BYTES
    policy = json.loads(base64.b64decode(upload["uploadFields"]["policy"]))
    assert ["content-length-range", 1, limits.MAX_UPLOAD_BYTES] in policy["conditions"]
