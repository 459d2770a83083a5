"""Rate limits per tier and budget in the real Redis, their headers, 429s and resets."""

import time

import pytest
from rest_framework.test import APIClient

from apps.accounts import services, signing
from apps.accounts.tests.conftest import as_meta, bearer
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def small_limits(settings):
    settings.RATE_LIMITS = {
        "anonymous": {"orders": 0, "private": 0, "public": 4},
        "basic": {"orders": 2, "private": 3, "public": 4},
        "pro": {"orders": 4, "private": 6, "public": 8},
        "institutional": {"orders": 8, "private": 12, "public": 16},
    }
    settings.STRICT_RATE_LIMITS = {
        "login": 3,
        "register": 2,
        "refresh": 3,
        "two_factor": 2,
        "admin_login": 3,
        "auth_failures": 5,
    }
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


def test_a_flood_of_bad_credentials_is_cut_off_per_address(small_limits):
    attacker = APIClient(REMOTE_ADDR="198.51.100.66")
    codes = [attacker.get("/api/v1/account", HTTP_AUTHORIZATION="Bearer not-a-token").status_code for _ in range(7)]
    assert codes[:5] == [401] * 5 and codes[-1] == 429
    # The same address is cut off for API keys too; another address is not.
    headers = as_meta({"X-API-Key": "f" * 32, "X-API-Timestamp": str(signing.now_ms()), "X-API-Signature": "0" * 64})
    assert attacker.get("/api/v1/account", **headers).status_code == 429
    assert APIClient(REMOTE_ADDR="198.51.100.67").get("/api/v1/account", **headers).status_code == 401


def test_a_client_that_keeps_to_its_limit_is_never_refused():
    from apps.accounts.throttling import hit

    who = f"steady-{time.time_ns()}"
    start = 1_800_000_000.0
    # 10 requests a minute, evenly spaced, for 10 minutes, against a limit of 10.
    results = [hit("test", who, 10, window=60, now=start + i * 6.0) for i in range(100)]
    assert all(r.retry_after == 0 for r in results)


def test_refused_requests_do_not_count():
    from apps.accounts.throttling import hit

    who = f"burst-{time.time_ns()}"
    start = 1_800_000_000.0
    assert [hit("test", who, 3, window=60, now=start + i).retry_after == 0 for i in range(10)] == [True] * 3 + [
        False
    ] * 7
    # Two windows later (nothing left in the sliding estimate) all three fit again.
    assert all(hit("test", who, 3, window=60, now=start + 121 + i).retry_after == 0 for i in range(3))


def test_retry_after_is_enough():
    from apps.accounts.throttling import hit

    who = f"retry-{time.time_ns()}"
    start = 1_800_000_030.0
    for i in range(3):
        hit("test", who, 3, window=60, now=start + i)
    refused = hit("test", who, 3, window=60, now=start + 3)
    assert refused.retry_after > 0
    assert hit("test", who, 3, window=60, now=start + 3 + refused.retry_after).retry_after == 0


def test_ipv6_clients_are_counted_per_64():
    from apps.accounts.net import address_key

    class Request:
        def __init__(self, address):
            self.META = {"REMOTE_ADDR": address}

    assert (
        address_key(Request("2001:db8:1:2::1")) == address_key(Request("2001:db8:1:2:ffff::9")) == "2001:db8:1:2::/64"
    )
    assert address_key(Request("2001:db8:1:3::1")) != address_key(Request("2001:db8:1:2::1"))
    assert address_key(Request("::ffff:192.0.2.1")) == "192.0.2.1"
    assert address_key(Request("192.0.2.1")) == "192.0.2.1"


@pytest.mark.parametrize("error", ["ConnectionError", "TimeoutError"])
def test_redis_unreachable_answers_503_not_500(monkeypatch, error):
    """Every authenticated request's admission (rate limit, revocation markers) is one Redis call:
    when Redis cannot be reached the answer says so (503 service_unavailable), it is not a 500."""
    import redis

    from apps.accounts import markers

    client = client_for(UserFactory(tier="basic"))

    def unreachable(*args, **kwargs):
        raise getattr(redis, error)("Redis is down")

    monkeypatch.setattr(markers, "_run", unreachable)
    response = client.get("/api/v1/account")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "service_unavailable"
