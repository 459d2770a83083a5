"""JSON nested deeper than the API ever needs is 400 `invalid_request` on every JSON endpoint (logged in
or not, JWT or signed API key, with or without an Idempotency-Key) and an `invalid_message` on the
WebSocket: never a 500, never an ERROR log line, and nothing changes."""

import json
import logging

import pytest
from channels.testing import WebsocketCommunicator
from rest_framework.test import APIClient

from apps.accounts import services, signing
from apps.accounts.models import ApiKey, User
from apps.accounts.tests.conftest import as_meta
from apps.core.models import IdempotencyKey
from apps.core.parsers import MAX_JSON_DEPTH
from apps.orders.models import Order
from exchange.asgi import application
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


def nested_lists(depth: int) -> str:
    return "[" * depth + "]" * depth


def nested_objects(depth: int, leaf: str = "1") -> str:
    return '{"a":' * depth + leaf + "}" * depth


# 1,000 and more levels make Python's parser raise RecursionError; a few hundred parse, and are
# refused all the same; one level above the limit is the edge.
DEEP_BODIES = [
    nested_lists(1_000),
    nested_lists(5_000),
    nested_objects(3_000),
    nested_objects(600),
    '{"username": ' + nested_lists(800) + ', "password": "x"}',
    nested_objects(MAX_JSON_DEPTH + 1),
]


@pytest.fixture
def no_error_logs(caplog):
    caplog.set_level(logging.WARNING)
    yield
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]


def assert_too_deep(response):
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert error["details"] == {"non_field_errors": [f"JSON nested deeper than {MAX_JSON_DEPTH} levels."]}


@pytest.fixture
def jwt_client():
    user = UserFactory()
    client = APIClient()
    pair = services.login(username=user.username, password=PASSWORD, otp_code=None)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {pair.access}")
    return client


@pytest.mark.parametrize("body", DEEP_BODIES, ids=lambda b: f"{len(b)}-chars")
@pytest.mark.parametrize("path", ["/api/v1/auth/login", "/api/v1/auth/register", "/api/v1/auth/refresh"])
def test_anonymous_endpoints_refuse_deep_json(path, body, no_error_logs):
    users = User.objects.count()
    assert_too_deep(APIClient().post(path, body, content_type="application/json"))
    assert User.objects.count() == users


@pytest.mark.parametrize("body", DEEP_BODIES, ids=lambda b: f"{len(b)}-chars")
def test_logged_in_endpoints_refuse_deep_json(jwt_client, market, body, no_error_logs):
    assert_too_deep(jwt_client.post("/api/v1/orders", body, content_type="application/json"))
    assert_too_deep(jwt_client.post("/api/v1/withdrawals", body, content_type="application/json"))
    assert_too_deep(jwt_client.post("/api/v1/account/2fa/confirm", body, content_type="application/json"))
    assert not Order.objects.exists()


def test_deep_json_with_an_idempotency_key_stores_nothing(jwt_client, no_error_logs):
    for body in DEEP_BODIES:
        response = jwt_client.post(
            "/api/v1/account/api-keys", body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="deep-1"
        )
        assert_too_deep(response)
    assert not IdempotencyKey.objects.exists()
    assert not ApiKey.objects.exists()


def test_deep_json_in_a_signed_api_key_request(jwt_client, market, no_error_logs):
    created = jwt_client.post(
        "/api/v1/account/api-keys", {"label": "bot", "permissions": ["read", "trade"]}, format="json"
    ).json()
    for body in DEEP_BODIES:
        raw = body.encode()
        headers = signing.signed_headers(created["key"], created["secret"], "POST", "/api/v1/orders", raw)
        response = APIClient().post("/api/v1/orders", raw, content_type="application/json", **as_meta(headers))
        assert_too_deep(response)
    assert not Order.objects.exists()


def test_json_up_to_the_limit_is_parsed(jwt_client, market, no_error_logs):
    # As deep as allowed: the body reaches the view, whose validation answers for its shape.
    body = nested_objects(MAX_JSON_DEPTH - 1, "[]")
    response = jwt_client.post("/api/v1/orders", body, content_type="application/json")
    assert response.status_code == 400
    assert set(response.json()["error"]["details"]) >= {"symbol", "side", "type"}


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "raw",
    [
        nested_lists(2_000),
        '{"op": "subscribe", "channel": ' + nested_lists(900) + ', "symbol": "BTC-USDT"}',
        '{"op": "subscribe", "channel": "book", "symbol": ' + nested_objects(600) + "}",
        '{"op": "auth", "token": ' + nested_lists(MAX_JSON_DEPTH) + "}",
    ],
    ids=["2000-lists", "900-in-channel", "600-in-symbol", "limit-plus-one"],
)
async def test_websocket_messages_nested_too_deep_get_an_error(raw, caplog):
    caplog.set_level(logging.WARNING)
    ws = WebsocketCommunicator(application, "/ws/v1/", headers=[(b"origin", b"http://localhost")])
    connected, _ = await ws.connect()
    assert connected
    assert len(raw) <= 4096
    await ws.send_to(text_data=raw)
    reply = await ws.receive_json_from()
    too_deep = f"JSON nested deeper than {MAX_JSON_DEPTH} levels."
    assert reply == {"type": "error", "code": "invalid_message", "message": too_deep}
    await ws.send_to(text_data=json.dumps({"op": "ping"}))
    assert await ws.receive_json_from() == {"type": "pong"}
    await ws.disconnect()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
