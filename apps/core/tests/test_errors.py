"""Every error DRF or Django can raise comes out in the docs/api.md format."""

import json

import pytest
from django.core.cache import cache
from django.test import Client

from apps.accounts.models import User

pytestmark = [pytest.mark.urls("apps.core.tests.error_urls"), pytest.mark.django_db]


def error_of(response):
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]


def test_validation_error_maps_each_field_to_messages(api_client):
    response = api_client.post("/validate", {"quantity": 1.5}, format="json")
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "invalid_request"
    assert set(error["details"]) == {"symbol", "quantity"}
    assert all(isinstance(m, str) for msgs in error["details"].values() for m in msgs)


def test_nested_validation_errors_are_dotted(api_client):
    response = api_client.post(
        "/validate", {"symbol": "BTC-USDT", "quantity": "1", "legs": [{"a": "1"}, {"a": "NaN"}]}, format="json"
    )
    error = error_of(response)
    assert list(error["details"]) == ["legs.1.a"]


def test_valid_request_passes(api_client):
    response = api_client.post("/validate", {"symbol": "BTC-USDT", "quantity": "0.015"}, format="json")
    assert response.status_code == 200
    assert response.json() == {"quantity": "0.015"}


def test_malformed_json_is_400_malformed_request(api_client):
    response = api_client.post("/validate", data='{"symbol": ', content_type="application/json")
    assert response.status_code == 400
    assert error_of(response)["code"] == "malformed_request"


def test_unsupported_media_type_is_415(api_client):
    response = api_client.post("/validate", data="symbol=x", content_type="text/plain")
    assert response.status_code == 415
    assert error_of(response)["code"] == "unsupported_media_type"


def test_not_authenticated_is_401_or_403_with_code(api_client):
    response = api_client.get("/authenticated")
    # Session authentication sends no WWW-Authenticate challenge, so DRF answers 403.
    assert response.status_code in (401, 403)
    assert error_of(response)["code"] == "not_authenticated"


def test_permission_denied_is_403(api_client):
    for path in ("/forbidden", "/django-forbidden"):
        response = api_client.get(path)
        assert response.status_code == 403
        assert error_of(response)["code"] == "permission_denied"


def test_not_found_in_api_view_is_404(api_client):
    response = api_client.get("/missing")
    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"


def test_unknown_url_is_json_404():
    response = Client(raise_request_exception=False).get("/no/such/thing")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    assert error_of(response)["code"] == "not_found"


def test_unknown_url_for_a_browser_is_an_html_page():
    response = Client().get("/no/such/thing", HTTP_ACCEPT="text/html")
    assert response.status_code == 404
    assert b"<h1>404</h1>" in response.content


def test_method_not_allowed_is_405_with_allowed_methods(api_client):
    response = api_client.delete("/validate")
    assert response.status_code == 405
    error = error_of(response)
    assert error["code"] == "method_not_allowed"
    assert "POST" in error["details"]["allowed"]


def test_throttled_is_429_rate_limited_with_retry_after(api_client):
    cache.clear()
    assert api_client.get("/throttled").status_code == 200
    response = api_client.get("/throttled")
    assert response.status_code == 429
    error = error_of(response)
    assert error["code"] == "rate_limited"
    assert int(response["Retry-After"]) >= 1
    assert error["details"]["retry_after"] == int(response["Retry-After"])


def test_domain_error_keeps_its_code_status_and_details(api_client):
    response = api_client.post("/domain", {}, format="json")
    assert response.status_code == 409
    assert error_of(response) == {"code": "conflict", "message": "Order is already closed.", "details": {"order_id": 7}}


def test_unexpected_exception_is_500_with_request_id_and_no_trace(api_client):
    response = api_client.get("/boom")
    assert response.status_code == 500
    error = error_of(response)
    assert error["code"] == "internal_error"
    assert error["details"]["request_id"] == response["X-Request-ID"]
    raw = response.content.decode()
    assert "secret internal detail" not in raw and "Traceback" not in raw


@pytest.mark.django_db(transaction=True)
def test_unexpected_exception_rolls_back_the_request_transaction(settings, api_client):
    settings.DATABASES["default"]["ATOMIC_REQUESTS"] = True
    from django.db import connection

    connection.settings_dict["ATOMIC_REQUESTS"] = True
    try:
        assert api_client.get("/boom").status_code == 500
    finally:
        connection.settings_dict["ATOMIC_REQUESTS"] = False
    assert not User.objects.filter(username="written-before-crash").exists()


def test_exception_in_plain_django_view_is_json_500():
    response = Client(raise_request_exception=False).get("/plain-boom")
    assert response.status_code == 500
    error = error_of(response)
    assert error["code"] == "internal_error"
    assert "secret internal detail" not in response.content.decode()


def test_csrf_failure_is_json_403():
    response = Client(enforce_csrf_checks=True).post("/plain-form", {"a": "b"})
    assert response.status_code == 403
    assert error_of(response)["code"] == "csrf_failed"


def test_error_body_is_valid_json_with_request_id_header(api_client):
    response = api_client.get("/missing")
    assert json.loads(response.content)
    assert len(response["X-Request-ID"]) == 32


@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [
        ("suspicious", 400, "malformed_request"),
        ("too-big", 413, "payload_too_large"),
        ("model-validation", 400, "invalid_request"),
        ("plain-validation", 400, "invalid_request"),
        ("database-down", 503, "service_unavailable"),
    ],
)
def test_django_and_database_errors_in_api_views_are_not_500(api_client, kind, status, code):
    response = api_client.get(f"/django/{kind}")
    assert response.status_code == status
    assert error_of(response)["code"] == code


def test_django_validation_error_keeps_field_messages(api_client):
    error = error_of(api_client.get("/django/model-validation"))
    assert error["details"] == {"price": ["Not on the tick."]}
    error = error_of(api_client.get("/django/plain-validation"))
    assert error["details"] == {"non_field_errors": ["Nope."]}
