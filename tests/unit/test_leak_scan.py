"""The secret scan the API suite runs after every test (tests/support/leaks.py) finds what it must."""

from __future__ import annotations

from tests.support.leaks import LeakScan


def test_a_password_or_sealed_value_anywhere_but_its_request_is_a_leak() -> None:
    scan = LeakScan()
    scan.request({"email": "a@example.com", "password": "correct horse battery"}, None)
    scan.answer("POST /v1/auth/register", 201, '{"accessToken": "eyJ.issued.here"}')
    scan.request({"sealed": {"STRIPE_KEY": "sk_live_abcdef123"}}, "Bearer eyJ.issued.here")
    scan.answer("PATCH /v1/services/s/variables", 200, '{"variables": {}, "sealed": ["STRIPE_KEY"]}')
    assert scan.leaks("") == []  # issued in its own answer, sent in requests: fine

    scan.answer("GET /v1/services/s/variables", 200, '{"STRIPE_KEY": "sk_live_abcdef123"}')
    scan.events.append('[{"Detail": "{\\"token\\": \\"eyJ.issued.here\\"}"}]')
    leaks = scan.leaks("log: login correct horse battery")
    assert "GET /v1/services/s/variables answered with a secret (sk_l...)" in leaks
    assert "an event holds a secret (eyJ....)" in leaks
    assert "the process output holds a secret (corr...)" in leaks


def test_what_a_refused_request_sent_is_not_a_secret() -> None:
    scan = LeakScan()
    scan.request({"email": "ada@example.com", "password": "ada@example.com"}, None)
    scan.answer("POST /v1/auth/register", 400, '{"Code": "BadRequest", "Message": "not the email"}')
    assert scan.leaks("ada@example.com signed up") == []
