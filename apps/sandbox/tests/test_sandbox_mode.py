"""Sandbox mode on and off: the faucet does not exist when off (404 like any unknown URL, absent from
the schema), exists when on (in the schema too); the switch comes from the environment; the
configuration is checked at start; API keys need `trade`."""

import json
from decimal import Decimal

import pytest
from django.core.checks import run_checks
from django.test import Client
from openapi_spec_validator import validate
from rest_framework.test import APIClient

from apps.accounts import services as account_services
from apps.accounts import signing
from apps.accounts.tests.conftest import as_meta
from apps.core.tests.test_settings import PRODUCTION, run
from apps.sandbox import services
from apps.sandbox.exceptions import SandboxModeOff
from apps.sandbox.tests.conftest import FAUCET, available, faucet
from apps.wallets.models import Transaction


def schema_paths() -> dict:
    response = Client().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    document = response.json()
    validate(document)
    return document["paths"]


@pytest.mark.django_db
@pytest.mark.usefixtures("sandbox_off", "currencies")
def test_off_the_faucet_does_not_exist(client, user):
    unknown = client.post("/api/v1/sandbox/no-such-thing", {"currency": "BTC"}, format="json")
    for method in ("get", "post", "put", "delete"):
        response = getattr(client, method)(FAUCET, {"currency": "BTC"}, format="json")
        assert response.status_code == 404, method
        # Exactly what any unknown URL answers: nothing tells that a faucet could be there.
        assert (
            response.json() == {"error": {"code": "not_found", "message": "Not found.", "details": {"path": FAUCET}}}
            and unknown.json()["error"]["code"] == "not_found"
        )
    assert APIClient().post(FAUCET, {"currency": "BTC"}, format="json").status_code == 404  # not 401
    assert not Transaction.objects.exists() and available(user, "BTC") == 0
    assert FAUCET not in schema_paths()
    with pytest.raises(SandboxModeOff):  # the service refuses too, if called some other way
        services.credit(user=user, currency_code="BTC", amount=None, request_id="r1")
    assert not Transaction.objects.exists()


@pytest.mark.django_db
@pytest.mark.usefixtures("sandbox_on", "currencies")
def test_on_the_faucet_is_routed_and_documented(client):
    assert faucet(client, {"currency": "BTC"}).status_code == 201
    operations = schema_paths()[FAUCET]
    assert set(operations) == {"get", "post"}
    post = operations["post"]
    assert post["tags"] == ["sandbox"] and "201" in post["responses"] and "default" in post["responses"]
    assert "Idempotency-Key" in {p["name"] for p in post["parameters"]}


@pytest.mark.usefixtures("sandbox_on")
def test_the_schema_with_the_faucet_generates_without_warnings(tmp_path):
    from django.core.management import call_command

    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    assert "/api/v1/sandbox/faucet" in out.read_text()


@pytest.mark.subprocess
def test_the_switch_comes_from_the_environment():
    # Off, the path falls through to the API's catch-all for unknown URLs (no name).
    probe = f"import django; django.setup(); from django.urls import resolve; print(resolve({FAUCET!r}).url_name)"
    development = {"DEBUG": "true"}
    assert run(development, "-c", probe).stdout.strip() == "None"  # off by default
    assert run({**development, "EXCHANGE_SANDBOX": "1"}, "-c", probe).stdout.strip() == "sandbox-faucet"
    assert run({**development, "EXCHANGE_SANDBOX": "false"}, "-c", probe).stdout.strip() == "None"


@pytest.mark.subprocess
def test_check_deploy_warns_when_sandbox_mode_is_on():
    result = run({**PRODUCTION, "EXCHANGE_SANDBOX": "true"}, "manage.py", "check", "--deploy")
    assert "sandbox.W001" in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("setting", "value", "check_id"),
    [
        ("SANDBOX_FAUCET_RATE", "ten per hour", "sandbox.E001"),
        ("SANDBOX_FAUCET_RATE", "10/fortnight", "sandbox.E001"),
        ("SANDBOX_FAUCET_AMOUNTS", {"*": {"default": "1", "max": "0.5"}}, "sandbox.E002"),  # default above max
        ("SANDBOX_FAUCET_AMOUNTS", {"*": {"default": "0", "max": "1"}}, "sandbox.E002"),
        ("SANDBOX_FAUCET_AMOUNTS", {"*": {"default": "x", "max": "1"}}, "sandbox.E002"),
        ("SANDBOX_FAUCET_AMOUNTS", {"BTC": {"default": "1", "max": "2"}}, "sandbox.E002"),  # no "*" row
    ],
)
def test_a_bad_faucet_configuration_is_refused_at_start(settings, setting, value, check_id):
    setattr(settings, setting, value)
    assert check_id in {message.id for message in run_checks()}


def test_the_default_configuration_passes_the_checks_and_parses(settings):
    from apps.sandbox import limits

    assert not [m for m in run_checks() if m.id.startswith("sandbox.E")]
    assert limits.parse_rate("10/hour") == (10, 3600) and limits.parse_rate("5 / Minute") == (5, 60)
    assert limits.parse_rate("1/d") == (1, 86400) and limits.parse_rate("0/s") == (0, 1)
    assert limits.amounts_for("btc").max == Decimal("10")


@pytest.mark.subprocess
def test_amounts_can_be_overridden_from_the_environment():
    probe = ("import django, json; django.setup(); from django.conf import settings; "
             "print(json.dumps(settings.SANDBOX_FAUCET_AMOUNTS))")  # fmt: skip
    result = run({"DEBUG": "true", "SANDBOX_FAUCET_AMOUNTS_JSON": '{"btc": {"max": 50}, "SOL": {"default": "5"}}'},
                 "-c", probe)  # fmt: skip
    table = json.loads(result.stdout)
    assert table["BTC"] == {"default": "1", "max": "50"} and table["SOL"] == {"default": "5"}


# --- API keys ------------------------------------------------------------------------------------


def signed_post(key, secret, body: dict):
    raw = json.dumps(body).encode()
    headers = signing.signed_headers(key, secret, "POST", FAUCET, raw)
    return APIClient(REMOTE_ADDR="127.0.0.1").post(FAUCET, data=raw, content_type="application/json",
                                                     **as_meta(headers))  # fmt: skip


@pytest.mark.django_db
@pytest.mark.usefixtures("sandbox_on", "currencies")
def test_an_api_key_needs_the_trade_permission(user):
    trade = account_services.create_api_key(user=user, label="bot", permissions=["trade"], ip_allowlist=[])
    read = account_services.create_api_key(user=user, label="ro", permissions=["read"], ip_allowlist=[])
    refused = signed_post(read.api_key.key, read.secret, {"currency": "BTC"})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "permission_denied"
    assert available(user, "BTC") == 0
    credited = signed_post(trade.api_key.key, trade.secret, {"currency": "BTC", "amount": "0.5"})
    assert credited.status_code == 201, credited.content
    assert available(user, "BTC") == Decimal("0.5")


@pytest.mark.django_db
@pytest.mark.usefixtures("sandbox_on", "currencies")
def test_a_process_that_skipped_the_checks_answers_503_for_a_misconfigured_currency(client, user, settings):
    settings.SANDBOX_FAUCET_AMOUNTS = {"BTC": {"default": "1", "max": "2"}}  # no "*" row for USDT
    response = faucet(client, {"currency": "USDT"})
    assert response.status_code == 503 and response.json()["error"]["code"] == "service_unavailable"
    assert response["X-RateLimit-Remaining"] == "10"  # nothing credited, nothing counted
    assert faucet(client, {"currency": "BTC"}).status_code == 201
    assert available(user, "USDT") == 0 and Transaction.objects.count() == 1
