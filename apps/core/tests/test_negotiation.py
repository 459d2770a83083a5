"""Content negotiation remembered per Accept header (apps.core.negotiation), and django-prometheus's
metrics with their labelled children looked up once (apps.core.middleware.PrometheusAfterMiddleware)."""

import re

import pytest
from django.test import Client

from apps.core.negotiation import ContentNegotiation

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("accept", [None, "application/json", "*/*", "application/json; indent=4", "text/html"])
def test_a_remembered_choice_answers_as_the_first(accept):
    ContentNegotiation._chosen.clear()
    headers = {} if accept is None else {"HTTP_ACCEPT": accept}
    first = Client().get("/api/v1/time", **headers)
    second = Client().get("/api/v1/time", **headers)
    assert first.status_code == second.status_code == 200
    assert first["Content-Type"] == second["Content-Type"]
    assert ContentNegotiation._chosen


def test_an_unacceptable_accept_header_is_406_every_time():
    ContentNegotiation._chosen.clear()
    for _ in range(2):
        response = Client().get("/api/v1/time", HTTP_ACCEPT="application/xml")
        assert response.status_code == 406
        assert response.json()["error"]["code"] == "not_acceptable"
    assert not ContentNegotiation._chosen


def _count(text: str, status: str) -> float:
    found = re.search(rf'^django_http_responses_total_by_status_total{{status="{status}"}} (\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


def test_every_answer_is_still_counted_by_status():
    client = Client()
    before = client.get("/metrics").content.decode()
    client.get("/healthz")
    client.get("/healthz")
    client.get("/api/v1/definitely-not-here")
    after = client.get("/metrics").content.decode()
    assert _count(after, "200") - _count(before, "200") == 3  # the first /metrics answer too
    assert _count(after, "404") - _count(before, "404") == 1
