"""Every route of the project, walked: odd methods (OPTIONS, HEAD) and hostile path parameters (a NUL
byte) never reach a 500, and an unknown API path is a 404 whatever the method and the credentials."""

import json
import re

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.resolvers import RoutePattern

from apps.accounts import services, signing
from apps.accounts.tests.conftest import as_meta
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

PARAMETER = re.compile(r"<(?:(?P<converter>\w+):)?(?P<name>\w+)>")
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD")


def routes(patterns=None, prefix="/"):
    """(route, view) for every path() of the URL configuration, e.g. "/api/v1/orders/<int:order_id>"."""
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        if not isinstance(entry.pattern, RoutePattern):
            continue  # re_path(): the catch-alls and the admin's app index, no named path parameters
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from routes(entry.url_patterns, route)
        elif isinstance(entry, URLPattern):
            yield route, entry.callback


def fill(route: str, value) -> str:
    """The route with each path parameter replaced by value(converter, name)."""
    return PARAMETER.sub(lambda m: value(m["converter"] or "str", m["name"]), route)


def api_routes():
    return [route for route, _view in routes() if route.startswith("/api/")]


def with_parameters():
    return [route for route, _view in routes() if PARAMETER.search(route)]


@pytest.fixture
def jwt():
    user = UserFactory()
    pair = services.login(username=user.username, password=PASSWORD, otp_code=None)
    return {"HTTP_AUTHORIZATION": f"Bearer {pair.access}"}


def call(client, method, path, **extra):
    return client.generic(method, path, b"{}", content_type="application/json", **extra)


def error_code(response) -> str:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    return body["error"]["code"]


def test_the_walk_sees_every_api_path_parameter():
    names = {m["name"] for route in api_routes() for m in PARAMETER.finditer(route)}
    assert names >= {"symbol", "currency", "order_id", "api_key_id", "withdrawal_id", "address_id"}


# A NUL alone, before, inside and after a valid value; and NUL with what an int parameter accepts.
NUL_VALUES = ["%00", "%00BTC", "BTC%00", "BT%00C", "1%00", "%001"]


@pytest.mark.parametrize("nul", NUL_VALUES)
def test_a_nul_byte_in_any_path_parameter_is_404(market, jwt, nul):
    client = Client(enforce_csrf_checks=True)
    checked = 0
    for route in with_parameters():
        path = fill(route, lambda converter, name: nul)
        for method in METHODS:
            for credentials in ({}, jwt):
                response = call(client, method, path, **credentials)
                assert response.status_code == 404, (method, path, response.status_code, response.content[:200])
                if method != "HEAD":
                    assert error_code(response) in ("not_found", "unknown_market"), (method, path)
                checked += 1
    assert checked > 100


def test_the_reported_nul_paths_are_404_not_found(market, jwt):
    for path in ("/api/v1/wallets/%00/deposit-address", "/api/v1/wallets/BTC%00/deposit-address"):
        response = Client().get(path, **jwt)
        assert response.status_code == 404
        assert error_code(response) == "not_found"


def concrete(converter: str, name: str) -> str:
    return {"symbol": "BTC-USDT", "currency": "BTC"}.get(name, "1")


@pytest.mark.parametrize("authenticated", [False, True], ids=["anonymous", "jwt"])
def test_options_and_head_on_every_api_route_answer_without_a_5xx(market, jwt, authenticated):
    client = Client(enforce_csrf_checks=True)
    credentials = jwt if authenticated else {}
    for route in api_routes():
        path = fill(route, concrete)
        options = client.options(path, **credentials)
        head = client.head(path, **credentials)
        assert options.status_code < 500 and head.status_code < 500, (path, options.content, head.status_code)
        if options.status_code == 200:
            assert {"OPTIONS"} <= {m.strip() for m in options["Allow"].split(",")}, path
        if authenticated and "/api/v1/" in path:
            # A logged-in client may ask any operation what it allows.
            assert options.status_code == 200, (path, options.content)
            assert options["Allow"], path


def test_options_on_orders_with_a_jwt_lists_the_methods(jwt):
    response = Client().options("/api/v1/orders", **jwt)
    assert response.status_code == 200, response.content
    assert {m.strip() for m in response["Allow"].split(",")} == {"GET", "POST", "DELETE", "HEAD", "OPTIONS"}
    assert response.json()["name"]


@pytest.fixture
def api_key_headers(jwt):
    def headers(method, path):
        created = Client().post(
            "/api/v1/account/api-keys", {"label": "bot", "permissions": ["read", "trade"]},
            content_type="application/json", **jwt,
        ).json()  # fmt: skip
        return as_meta(signing.signed_headers(created["key"], created["secret"], method, path, b"{}"))

    return headers


UNKNOWN = ["/api/v1/nope", "/api/v1/orders/", "/api/v1/orders/1/fills", "/api/v2/orders", "/api/nope", "/api/"]


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "GET", "OPTIONS"])
def test_an_unknown_api_path_is_404_whatever_the_method_and_credentials(jwt, api_key_headers, method):
    client = Client(enforce_csrf_checks=True)
    for path in UNKNOWN:
        for credentials in ({}, jwt, api_key_headers(method, path)):
            response = call(client, method, path, **credentials)
            assert response.status_code == 404, (method, path, response.content)
            assert error_code(response) == "not_found"
            assert response.json()["error"]["details"] == {"path": path}


def test_an_unknown_api_path_is_404_with_a_session_cookie_too(jwt):
    # A browser session (the admin's) does not make an unknown API path a CSRF failure either.
    user = UserFactory(is_staff=True)
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    response = client.post("/api/v1/nope", json.dumps({}), content_type="application/json")
    assert response.status_code == 404
    assert error_code(response) == "not_found"


def paginated_lists(jwt) -> list[str]:
    """The API's GET operations that answer a page: {"results": [...], "next": ...}."""
    found = []
    for route in api_routes():
        if PARAMETER.search(route):
            continue
        response = Client().get(route, **jwt)
        if response.status_code == 200 and response.get("Content-Type") == "application/json":
            body = response.json()
            if isinstance(body, dict) and set(body) == {"results", "next"}:
                found.append(route)
    return found


def test_every_paginated_list_refuses_a_cursor_with_a_nul_or_any_byte_outside_its_alphabet(jwt):
    import datetime as dt

    from apps.trades.selectors import Position

    lists = paginated_lists(jwt)
    assert set(lists) >= {
        "/api/v1/orders", "/api/v1/trades", "/api/v1/deposits", "/api/v1/withdrawals",
        "/api/v1/withdrawal-addresses", "/api/v1/portfolio/history",
    }  # fmt: skip
    # Well-formed cursors of each kind of list: DRF's (base64 of "o=1"), the fills' keyset, a day.
    candidates = ["bz0x", Position(dt.datetime(2026, 1, 1, tzinfo=dt.UTC), 7).encode(), "2026-01-01"]
    for path in lists:
        accepted = [c for c in candidates if Client().get(f"{path}?cursor={c}", **jwt).status_code == 200]
        assert len(accepted) == 1, (path, accepted)
        cursor = accepted[0]
        assert Client().get(f"{path}?cursor=", **jwt).status_code == 200  # empty: the first page
        for tampered in (
            f"{cursor}%00",
            f"{cursor}%00%00%00%00",  # whole base64 quads: the fills' keyset decoder skipped them
            f"%00{cursor}",
            f"{cursor[:2]}%00{cursor[2:]}",
            "%00",
            f"{cursor}%20",
            f"{cursor}%0A",
        ):
            response = Client().get(f"{path}?cursor={tampered}", **jwt)
            assert response.status_code == 400, (path, tampered, response.content)
            assert error_code(response) == "invalid_request"
            assert response.json()["error"]["details"] == {"cursor": ["Invalid cursor."]}, (path, tampered)


QUERY_PARAMETERS = ("symbol", "currency", "status", "from", "to", "order_id", "limit", "depth", "interval", "cursor")


def test_a_nul_byte_in_any_query_parameter_is_never_a_5xx(market, jwt):
    # A guard (each view checks its own parameters), not a fix: none of these reached a 500.
    client = Client(enforce_csrf_checks=True)
    for route in api_routes():
        path = fill(route, concrete)
        for name in QUERY_PARAMETERS:
            for value in ("%00", "BTC%00"):
                for method in ("GET", "DELETE"):
                    response = call(client, method, f"{path}?{name}={value}", **jwt)
                    assert response.status_code < 500, (method, path, name, value, response.content[:200])


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_under_asgi_a_nul_path_is_404_too():
    # The web process serves through Django's ASGI handler (today it runs this middleware chain
    # synchronously: a sync-only middleware sits in it; the check has an async path for when it does not).
    from django.test import AsyncClient

    for path in ("/api/v1/wallets/%00/deposit-address", "/api/v1/wallets/BTC%00/deposit-address", "/trade/BTC%00"):
        response = await AsyncClient().get(path)
        assert response.status_code == 404
        assert error_code(response) == "not_found"
