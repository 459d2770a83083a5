"""POST /api/v1/sandbox/faucet: one balanced ledger transaction per credit, every bad input refused
with nothing written, the per-user rate, idempotency."""

import uuid
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from apps.core.models import AuditEvent
from apps.sandbox.tests.conftest import FAUCET, available, faucet
from apps.wallets import ledger
from apps.wallets.models import Account, Entry, Transaction
from tests.factories import UserFactory, assert_ledger_consistent, client_for

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("sandbox_on", "currencies")]


def issuance(code: str) -> Decimal:
    return ledger.system_account(Account.Kind.SANDBOX_ISSUANCE, code).available


def test_a_credit_is_one_balanced_ledger_transaction_from_the_issuance_account(client, user):
    ledger.post(kind="deposit", idempotency_key="d1", legs=[
        ledger.Leg(ledger.system_account(Account.Kind.HOT, "BTC"), Decimal("-0.25")),
        ledger.Leg(ledger.user_account(user, "BTC"), Decimal("0.25")),
    ])  # fmt: skip
    response = faucet(client, {"currency": "BTC", "amount": "0.5"})
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == {"transaction_id", "currency", "amount", "balance", "created_at"}
    assert body["currency"] == "BTC" and body["amount"] == "0.50000000"
    assert body["balance"] == {"available": "0.75000000", "locked": "0.00000000"}
    assert body["created_at"].endswith("Z")
    assert available(user, "BTC") == Decimal("0.75")  # up by exactly the amount
    txn = Transaction.objects.get(kind=Transaction.Kind.FAUCET)
    assert txn.pk == body["transaction_id"] and txn.reference_type == "faucet"
    entries = {(e.account.kind, e.amount) for e in Entry.objects.filter(transaction=txn).select_related("account")}
    assert entries == {(Account.Kind.SANDBOX_ISSUANCE, Decimal("-0.5")), (Account.Kind.USER, Decimal("0.5"))}
    assert issuance("BTC") == Decimal("0.5")  # an asset: its balance grows with the debit
    assert ledger.system_account(Account.Kind.HOT, "BTC").available == Decimal("0.25")  # chain funds untouched
    event = AuditEvent.objects.get(action="sandbox.faucet_credited")
    assert event.actor == user and event.target_id == str(txn.pk) and event.data == {"currency": "BTC", "amount": "0.5"}
    assert_ledger_consistent()


def test_without_an_amount_the_currency_default_is_credited(client, user, settings):
    response = faucet(client, {"currency": "usdt"})  # codes are case-insensitive
    assert response.status_code == 201, response.content
    assert response.json()["amount"] == "10000.000000" and available(user, "USDT") == 10000
    # A currency without a row of its own takes the "*" row.
    assert faucet(client, {"currency": "DOGE"}).json()["amount"] == "100.00000000"
    settings.SANDBOX_FAUCET_AMOUNTS = {**settings.SANDBOX_FAUCET_AMOUNTS, "BTC": {"default": "0.1"}}
    assert faucet(client, {"currency": "BTC"}).json()["amount"] == "0.10000000"  # max still from "*"
    assert faucet(client, {"currency": "BTC", "amount": "1000"}).status_code == 201
    assert_ledger_consistent()


def test_the_maximum_itself_is_accepted(client, user):
    assert faucet(client, {"currency": "BTC", "amount": "10"}).status_code == 201
    assert faucet(client, {"currency": "BTC", "amount": "10.00000000"}).status_code == 201
    assert available(user, "BTC") == 20


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({}, 400, "invalid_request", "currency"),
        ({"amount": "1"}, 400, "invalid_request", "currency"),
        ({"currency": ""}, 400, "invalid_request", "currency"),
        ({"currency": None}, 400, "invalid_request", "currency"),
        ({"currency": "X" * 11}, 400, "invalid_request", "currency"),
        ({"currency": "XYZ"}, 404, "unknown_currency", None),
        ({"currency": "OLD"}, 404, "unknown_currency", None),  # listed but not active
        ({"currency": "BTC", "amount": "-1"}, 400, "invalid_request", "amount"),
        ({"currency": "BTC", "amount": "0"}, 400, "invalid_request", "amount"),
        ({"currency": "BTC", "amount": "0.000000001"}, 400, "invalid_request", "amount"),  # 9 decimals for BTC
        ({"currency": "USDT", "amount": "1.0000001"}, 400, "invalid_request", "amount"),  # 7 for USDT
        ({"currency": "BTC", "amount": "1.0000000000000000001"}, 400, "invalid_request", "amount"),  # 19
        ({"currency": "BTC", "amount": "10.00000001"}, 400, "invalid_request", "amount"),  # above the maximum
        ({"currency": "BTC", "amount": "11"}, 400, "invalid_request", "amount"),
        ({"currency": "BTC", "amount": "9" * 36}, 400, "invalid_request", "amount"),
        ({"currency": "BTC", "amount": "abc"}, 400, "invalid_request", "amount"),
        ({"currency": "BTC", "amount": "1e-3"}, 400, "invalid_request", "amount"),
        ({"currency": "BTC", "amount": "NaN"}, 400, "invalid_request", "amount"),
        ({"currency": "BTC", "amount": 0.5}, 400, "invalid_request", "amount"),  # a JSON float
        ({"currency": "BTC", "amount": True}, 400, "invalid_request", "amount"),
        ({"currency": "BTC", "amount": None}, 400, "invalid_request", "amount"),
        ({"currency": ["BTC"]}, 400, "invalid_request", "currency"),
        ([], 400, "invalid_request", "non_field_errors"),  # a body that is not an object
        (["BTC", "1"], 400, "invalid_request", "non_field_errors"),
        ("BTC", 400, "invalid_request", "non_field_errors"),
        (42, 400, "invalid_request", "non_field_errors"),
    ],
)
def test_bad_input_is_refused_in_the_error_format_and_writes_nothing(client, user, body, status, code, field):
    response = faucet(client, body)
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert error["code"] == code and error["message"]
    if field is not None:
        assert error["details"][field] and all(isinstance(m, str) for m in error["details"][field])
    assert not Transaction.objects.exists() and not AuditEvent.objects.filter(action__startswith="sandbox").exists()
    assert not Account.objects.filter(kind=Account.Kind.USER, user=user, available__gt=0).exists()


def test_the_amount_messages_name_the_limits(client):
    above = faucet(client, {"currency": "BTC", "amount": "11"}).json()["error"]["details"]["amount"]
    assert above == ["At most 10 BTC per request."]
    fine = faucet(client, {"currency": "BTC", "amount": "0.000000001"}).json()["error"]["details"]["amount"]
    assert fine == ["BTC has at most 8 decimal places."]


def test_malformed_json_is_a_400(client):
    response = client.post(FAUCET, data=b'{"currency": ', content_type="application/json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "malformed_request"
    assert not Transaction.objects.exists()


def test_not_logged_in_is_401(currencies):
    response = APIClient().post(FAUCET, {"currency": "BTC"}, format="json")
    assert response.status_code == 401 and response.json()["error"]["code"] == "not_authenticated"
    bad_token = APIClient()
    bad_token.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")
    assert bad_token.post(FAUCET, {"currency": "BTC"}, format="json").status_code == 401
    assert not Transaction.objects.exists()


def test_other_methods_are_405(client):
    response = client.delete(FAUCET)
    assert response.status_code == 405 and response.json()["error"]["code"] == "method_not_allowed"
    assert response.json()["error"]["details"]["allowed"] == ["GET", "HEAD", "OPTIONS", "POST"]


def test_get_lists_the_amounts_and_the_rate(client):
    response = client.get(FAUCET)
    assert response.status_code == 200
    assert response.json() == {
        "rate": "10/hour",
        "currencies": [  # active currencies only, in their precision
            {"currency": "BTC", "default_amount": "1.00000000", "max_amount": "10.00000000"},
            {"currency": "DOGE", "default_amount": "100.00000000", "max_amount": "1000.00000000"},
            {"currency": "USDT", "default_amount": "10000.000000", "max_amount": "100000.000000"},
        ],
    }


# --- The rate ------------------------------------------------------------------------------------


def test_after_the_rate_the_faucet_answers_429_and_credits_nothing(client, user, settings):
    settings.SANDBOX_FAUCET_RATE = "2/hour"
    first = faucet(client, {"currency": "BTC"})
    assert first.status_code == 201
    assert first["X-RateLimit-Limit"] == "2" and first["X-RateLimit-Remaining"] == "1"
    assert faucet(client, {"currency": "USDT"}).status_code == 201  # one budget for every currency
    refused = faucet(client, {"currency": "BTC"})
    assert refused.status_code == 429
    error = refused.json()["error"]
    assert error["code"] == "rate_limited"
    assert 3590 <= int(refused["Retry-After"]) <= 3600 and error["details"]["retry_after"] == int(
        refused["Retry-After"]
    )
    assert refused["X-RateLimit-Remaining"] == "0"
    assert available(user, "BTC") == 1 and Transaction.objects.filter(kind="faucet").count() == 2
    # Per user: someone else still has their budget.
    other = UserFactory()
    assert faucet(client_for(other), {"currency": "BTC"}).status_code == 201
    assert_ledger_consistent()


def test_refused_requests_do_not_use_the_budget(client, user, settings):
    settings.SANDBOX_FAUCET_RATE = "2/minute"
    for body in ({"currency": "XYZ"}, {"currency": "BTC", "amount": "-1"}, {"currency": "BTC", "amount": "99"}, []):
        response = faucet(client, body)
        assert response.status_code in (400, 404)
        assert response["X-RateLimit-Remaining"] == "2"  # given back
    assert faucet(client, {"currency": "BTC"}).status_code == 201
    assert faucet(client, {"currency": "BTC"}).status_code == 201
    assert faucet(client, {"currency": "BTC"}).status_code == 429


def test_the_budget_is_per_user_whatever_token_they_use(user, settings):
    settings.SANDBOX_FAUCET_RATE = "1/day"
    assert faucet(client_for(user), {"currency": "BTC"}).status_code == 201
    assert faucet(client_for(user), {"currency": "BTC"}).status_code == 429  # a new login is no new budget


# --- Idempotency ---------------------------------------------------------------------------------


def test_an_idempotency_key_replays_the_first_credit(client, user, settings):
    settings.SANDBOX_FAUCET_RATE = "1/hour"
    first = faucet(client, {"currency": "BTC", "amount": "2"}, HTTP_IDEMPOTENCY_KEY="faucet-1")
    assert first.status_code == 201 and "Idempotent-Replayed" not in first
    again = faucet(client, {"currency": "BTC", "amount": "2"}, HTTP_IDEMPOTENCY_KEY="faucet-1")
    # Replayed even though the budget is used up: the retry of a credit the client never saw.
    assert again.status_code == 201 and again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert available(user, "BTC") == 2 and Transaction.objects.filter(kind="faucet").count() == 1
    conflict = faucet(client, {"currency": "BTC", "amount": "3"}, HTTP_IDEMPOTENCY_KEY="faucet-1")
    assert conflict.status_code == 409 and conflict.json()["error"]["code"] == "idempotency_conflict"
    assert faucet(client, {"currency": "BTC"}, HTTP_IDEMPOTENCY_KEY="faucet-2").status_code == 429
    assert available(user, "BTC") == 2
    assert_ledger_consistent()


def test_a_repeated_request_id_credits_once(client, user):
    request_id = uuid.uuid4().hex
    first = faucet(client, {"currency": "BTC", "amount": "1"}, HTTP_X_REQUEST_ID=request_id)
    assert first.status_code == 201
    again = faucet(client, {"currency": "BTC", "amount": "1"}, HTTP_X_REQUEST_ID=request_id)
    assert again.status_code == 201 and again["Idempotent-Replayed"] == "true"
    assert again.json()["transaction_id"] == first.json()["transaction_id"]
    assert available(user, "BTC") == 1
    for body in ({"currency": "BTC", "amount": "2"}, {"currency": "USDT", "amount": "1"}):
        reused = faucet(client, body, HTTP_X_REQUEST_ID=request_id)
        assert reused.status_code == 409 and reused.json()["error"]["code"] == "idempotency_conflict"
    assert Transaction.objects.filter(kind="faucet").count() == 1 and available(user, "USDT") == 0
    # Request ids are per user: another user's same id is another request.
    other = UserFactory()
    assert (
        faucet(client_for(other), {"currency": "BTC", "amount": "1"}, HTTP_X_REQUEST_ID=request_id).status_code == 201
    )
    assert Transaction.objects.filter(kind="faucet").count() == 2
    assert_ledger_consistent()
