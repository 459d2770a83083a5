"""Rate limits per tier and budget in the real Redis, their headers, 429s and resets."""

import time

import pytest
from rest_framework.test import APIClient

from apps.accounts import services, signing
from apps.accounts.tests.conftest import as_meta, bearer
from apps.accounts.tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def small_limits(settings):
    settings.RATE_LIMITS = {
        "anonymous": {"orders": 0, "private": 0, "public": 4},
        "basic": {"orders": 2, "private": 3, "public": 4},
        "pro": {"orders": 4, "private": 6, "public": 8},
        "institutional": {"orders": 8, "private": 12, "public": 16},
    }
    settings.STRICT_RATE_LIMITS = {"login": 3, "register": 2, "refresh": 3, "two_factor": 2}
    return settings


def client_for(user):
    return bearer(services.login(username=user.username, password=PASSWORD, otp_code=None).access)


def test_private_budget_counts_down_in_headers_then_429(small_limits):
    client = client_for(UserFactory(tier="basic"))
    remaining = []
    for _ in range(3):
        response = client.get("/api/v1/account")
        assert response.status_code == 200
        assert response["X-RateLimit-Limit"] == "3"
        remaining.append(int(response["X-RateLimit-Remaining"]))
    assert remaining == [2, 1, 0]
    response = client.get("/api/v1/account")
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "rate_limited"
    assert int(response["Retry-After"]) >= 1
    assert response["X-RateLimit-Remaining"] == "0"


@pytest.mark.parametrize(("tier", "limit"), [("basic", 3), ("pro", 6), ("institutional", 12)])
def test_each_tier_has_its_own_limit(small_limits, tier, limit):
    client = client_for(UserFactory(tier=tier))
    statuses = [client.get("/api/v1/account").status_code for _ in range(limit + 1)]
    assert statuses == [200] * limit + [429]


def test_the_budget_comes_back_after_retry_after(small_limits):
    small_limits.RATE_LIMIT_WINDOW_SECONDS = 2
    client = client_for(UserFactory(tier="basic"))
    for _ in range(3):
        assert client.get("/api/v1/account").status_code == 200
    refused = client.get("/api/v1/account")
    assert refused.status_code == 429
    time.sleep(int(refused["Retry-After"]))
    assert client.get("/api/v1/account").status_code == 200


def test_users_do_not_share_budgets(small_limits):
    first, second = client_for(UserFactory()), client_for(UserFactory())
    for _ in range(3):
        first.get("/api/v1/account")
    assert first.get("/api/v1/account").status_code == 429
    assert second.get("/api/v1/account").status_code == 200


def test_each_api_key_has_its_own_budget(small_limits):
    user = UserFactory()
    keys = [services.create_api_key(user=user, label=f"k{i}", permissions=["read"], ip_allowlist=[]) for i in range(2)]

    def call(new_key):
        headers = signing.signed_headers(new_key.api_key.key, new_key.secret, "GET", "/api/v1/account")
        time.sleep(0.002)  # a new millisecond: identical signatures would be replays
        return APIClient().get("/api/v1/account", **as_meta(headers))

    assert [call(keys[0]).status_code for _ in range(4)] == [200, 200, 200, 429]
    assert call(keys[1]).status_code == 200
    assert client_for(user).get("/api/v1/account").status_code == 200  # the user's JWT budget too


def test_anonymous_public_requests_are_counted_per_address(small_limits):
    here, there = APIClient(REMOTE_ADDR="198.51.100.1"), APIClient(REMOTE_ADDR="198.51.100.2")
    assert [here.get("/api/v1/time").status_code for _ in range(5)] == [200] * 4 + [429]
    assert there.get("/api/v1/time").status_code == 200


def test_health_probes_are_never_limited(small_limits):
    client = APIClient()
    assert all(client.get("/readyz").status_code == 200 for _ in range(10))


def test_login_has_a_strict_brute_force_limit_per_address(small_limits):
    user = UserFactory()
    attacker = APIClient(REMOTE_ADDR="203.0.113.9")
    for _ in range(3):
        attacker.post("/api/v1/auth/login", {"username": user.username, "password": "guess"}, format="json")
    blocked = attacker.post("/api/v1/auth/login", {"username": user.username, "password": PASSWORD}, format="json")
    assert blocked.status_code == 429 and blocked.json()["error"]["code"] == "rate_limited"
    owner = APIClient(REMOTE_ADDR="203.0.113.10")
    ok = owner.post("/api/v1/auth/login", {"username": user.username, "password": PASSWORD}, format="json")
    assert ok.status_code == 200


def test_two_factor_checks_have_a_strict_limit_per_user(small_limits):
    client = client_for(UserFactory())
    statuses = [
        client.post("/api/v1/account/2fa/confirm", {"otp_code": "123456"}, format="json").status_code for _ in range(3)
    ]
    assert statuses == [409, 409, 429]


def test_registration_is_limited_per_address(small_limits):
    client = APIClient(REMOTE_ADDR="192.0.2.50")
    statuses = [
        client.post(
            "/api/v1/auth/register",
            {"email": f"u{i}@example.com", "username": f"user{i}", "password": "a-long-unusual-passphrase-7"},
            format="json",
        ).status_code
        for i in range(3)
    ]
    assert statuses == [201, 201, 429]
