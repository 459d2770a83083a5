"""Liveness, readiness, request ids and metrics, in process against the real stores."""

import uuid

import pytest
from django.test import Client

from apps.core import services
from apps.core.redis import get_redis

pytestmark = pytest.mark.django_db


def test_healthz_is_ok():
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_reports_each_dependency():
    get_redis().delete(services.HEARTBEAT_KEY)
    response = Client().get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["failing"] == []
    assert body["checks"]["postgres"]["ok"] and body["checks"]["redis"]["ok"]
    assert body["celery"] == {"last_beat": None, "age_seconds": None, "healthy": False}


def test_readyz_shows_the_last_heartbeat():
    services.record_heartbeat(worker="w1@host")
    body = Client().get("/readyz").json()
    assert body["celery"]["worker"] == "w1@host"
    assert body["celery"]["healthy"] is True
    assert body["celery"]["last_beat"].endswith("Z")


def test_heartbeat_never_moves_backwards():
    import datetime as dt

    from django.utils import timezone

    now = timezone.now()
    services.record_heartbeat(worker="new", now=now)
    services.record_heartbeat(worker="old", now=now - dt.timedelta(minutes=5))
    assert get_redis().hget(services.HEARTBEAT_KEY, "worker") == "new"


def test_readyz_503_names_redis_when_unreachable(settings):
    # A port nothing listens on; the out-of-process test stops a real server instead.
    settings.REDIS_URL = "redis://127.0.0.1:9/0"
    response = Client().get("/readyz")
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "not_ready"
    assert error["details"]["failing"] == ["redis"]
    assert "redis" in error["message"]
    assert error["details"]["checks"]["postgres"]["ok"] is True


def test_every_response_carries_a_request_id():
    response = Client().get("/healthz")
    assert len(response["X-Request-ID"]) == 32


def test_a_valid_client_request_id_is_echoed():
    rid = uuid.uuid4().hex
    response = Client().get("/healthz", HTTP_X_REQUEST_ID=rid)
    assert response["X-Request-ID"] == rid


def test_an_invalid_client_request_id_is_replaced():
    response = Client().get("/healthz", HTTP_X_REQUEST_ID="<script>evil</script>")
    assert response["X-Request-ID"] != "<script>evil</script>"
    uuid.UUID(response["X-Request-ID"])


def test_server_time_is_consistent():
    body = Client().get("/api/v1/time").json()
    import datetime as dt

    parsed = dt.datetime.fromisoformat(body["time"].replace("Z", "+00:00"))
    assert int(parsed.timestamp() * 1000) == body["epoch_ms"]


def test_unknown_api_path_is_json_404_even_in_debug(settings):
    settings.DEBUG = True
    response = Client().get("/api/v1/definitely-not-here")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_metrics_exposes_http_and_dependency_metrics():
    client = Client()
    client.get("/readyz")
    text = client.get("/metrics").content.decode()
    assert "django_http_requests_total_by_method_total" in text
    assert 'exchange_dependency_up{dependency="postgres"} 1.0' in text
    assert 'exchange_dependency_up{dependency="redis"} 1.0' in text


def test_home_page_links_the_operator_urls():
    html = Client().get("/").content.decode()
    for href in ("/api/docs/", "/admin/", "/readyz", "/metrics"):
        assert f'href="{href}' in html


def test_metrics_require_the_token_when_one_is_set(settings):
    settings.METRICS_TOKEN = "s3cret-scrape-token"
    client = Client()
    response = client.get("/metrics")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-scrape-token").status_code == 200


def test_readyz_lists_no_processes_outside_supervisord(monkeypatch):
    monkeypatch.delenv("SUPERVISOR_SERVER_URL", raising=False)
    assert "processes" not in Client().get("/readyz").json()


def test_readyz_reports_a_supervisord_that_does_not_answer_without_failing(monkeypatch, tmp_path):
    """Under `make run` the processes come from supervisord (tests/test_make_run.py runs the real one);
    a supervisord that is gone is named in the report, and readiness (PostgreSQL, Redis) still holds."""
    monkeypatch.setenv("SUPERVISOR_SERVER_URL", f"unix://{tmp_path / 'gone.sock'}")
    answer = Client().get("/readyz")
    assert answer.status_code == 200
    assert answer.json()["processes"]["error"].startswith("FileNotFoundError")
