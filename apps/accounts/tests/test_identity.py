"""Identity without per-request queries: what an access token claims, the one Redis round trip that
checks its markers and counts the rate limit, and revocation that takes effect at the next request."""

import datetime as dt
import json

import pytest
import redis
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from apps.accounts import identity, keyring, markers, services, signing
from apps.accounts.models import ApiKey, User
from apps.accounts.tests.conftest import as_meta, bearer, totp_code
from apps.kyc.models import Submission
from apps.kyc.selectors import limits_for
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


def log_in(user, **extra):
    return services.login(username=user.username, password=PASSWORD, otp_code=None, **extra)


def approved_identity(user, status="approved"):
    return Submission.objects.create(
        user=user, status=status, full_name="T", country="DE", date_of_birth=dt.date(1990, 1, 1),
        document_type="passport", document_number="T1",
    )  # fmt: skip


def test_a_jwt_request_costs_no_query_and_one_redis_round_trip(user, django_assert_num_queries, redis_commands):
    approved_identity(user)
    client = bearer(log_in(user).access)
    assert client.get("/api/v1/account").status_code == 200  # Redis learns the script (once per server)
    redis_commands.clear()
    with django_assert_num_queries(0):
        response = client.get("/api/v1/account")
    assert response.status_code == 200
    assert response.json() == {"id": user.pk, "email": user.email, "username": user.username, "tier": "basic",
                               "kyc_level": 2, "two_factor_enabled": False}  # fmt: skip
    assert response["X-RateLimit-Limit"] == "300" and response["X-RateLimit-Remaining"] == "298"
    assert redis_commands == ["EVALSHA"]


def test_the_token_claims_what_the_database_says_when_it_is_issued(user):
    approved_identity(user, status="pending")
    device = TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)
    token = RefreshToken(services.login(username=user.username, password=PASSWORD, otp_code=totp_code(device)).refresh)
    claims = identity.claims_in(token)
    assert (claims.user_id, claims.username, claims.email, claims.tier) == (user.pk, user.username, user.email, "basic")
    assert (claims.kyc_level, claims.two_factor) == (1, True)
    assert claims.session == token["jti"]


def test_no_tokens_for_a_password_that_changed_after_it_was_checked(user):
    from apps.accounts.exceptions import InvalidToken

    checked = User.objects.get(pk=user.pk)  # what login or refresh verified
    changed = User.objects.get(pk=user.pk)
    changed.set_password("a-brand-new-passphrase-99")
    changed.save()  # commits between the check and the issue
    with pytest.raises(InvalidToken):
        services._issue_tokens(checked)


def test_the_request_user_is_a_real_user_that_loads_other_fields_when_read(user, django_assert_num_queries):
    claims = identity.claims_in(RefreshToken(log_in(user).refresh))
    with django_assert_num_queries(0):
        made = identity.user_from(claims)
        assert made.pk == user.pk and made.is_authenticated and made.is_active and made.tier == "basic"
        assert not made._state.adding and made._state.db == "default"
    with django_assert_num_queries(1):
        assert made.date_joined == user.date_joined
    assert list(ApiKey.objects.filter(user=made)) == []


def test_a_token_without_claims_still_works_from_the_database(user, django_assert_num_queries):
    from rest_framework_simplejwt.tokens import AccessToken

    client = bearer(str(AccessToken.for_user(user)))
    with django_assert_num_queries(3):  # the user, KYC level, two-factor: as before claims existed
        assert client.get("/api/v1/account").status_code == 200


# --- Revocation: refused at the next request ---------------------------------------------------


def refused(response):
    return response.status_code == 401 and response.json()["error"]["code"] == "invalid_token"


def test_logout_ends_that_session_at_once_and_no_other(user):
    first, second = log_in(user), log_in(user)
    assert (
        bearer(first.access).post("/api/v1/auth/logout", {"refresh": first.refresh}, format="json").status_code == 204
    )
    assert refused(bearer(first.access).get("/api/v1/account"))
    assert bearer(second.access).get("/api/v1/account").status_code == 200


def test_the_session_survives_refresh_rotation_and_logout_ends_every_access_token_of_it(user):
    pair = log_in(user)
    rotated = APIClient().post("/api/v1/auth/refresh", {"refresh": pair.refresh}, format="json").json()
    assert bearer(rotated["access"]).post("/api/v1/auth/logout", {"refresh": rotated["refresh"]},
                                          format="json").status_code == 204  # fmt: skip
    assert refused(bearer(pair.access).get("/api/v1/account"))
    assert refused(bearer(rotated["access"]).get("/api/v1/account"))


@pytest.mark.parametrize("change", ["password", "disabled", "deleted"])
def test_password_change_disabling_or_deleting_the_user_refuses_their_tokens_at_once(user, change):
    pair = log_in(user)
    client = bearer(pair.access)
    assert client.get("/api/v1/account").status_code == 200
    if change == "password":
        user.set_password("a-brand-new-passphrase-99")
        user.save()
    elif change == "disabled":
        user.is_active = False
        user.save()
    else:
        user.delete()
    assert refused(client.get("/api/v1/account"))
    assert APIClient().post("/api/v1/auth/refresh", {"refresh": pair.refresh}, format="json").status_code == 401


def test_disabling_a_user_in_the_admin_refuses_their_tokens(user):
    staff = UserFactory(is_staff=True, is_superuser=True)
    device = TOTPDevice.objects.create(user=staff, name="phone", confirmed=True)
    client = bearer(log_in(user).access)
    admin = Client()
    admin.post("/admin/login/", {"username": staff.username, "password": PASSWORD,
                                 "otp_device": device.persistent_id, "otp_token": totp_code(device)})  # fmt: skip
    form = {
        "username": user.username,
        "email": user.email,
        "tier": "basic",
        "date_joined_0": "2026-01-01",
        "date_joined_1": "00:00:00",
    }  # fmt: skip (is_active left unticked)
    response = admin.post(f"/admin/accounts/user/{user.pk}/change/", form)
    assert response.status_code == 302, response.content[:2000]
    assert not User.objects.get(pk=user.pk).is_active
    assert refused(client.get("/api/v1/account"))


def test_a_claims_change_makes_the_next_request_read_the_database(user, django_assert_num_queries):
    submission = approved_identity(user)
    client = bearer(log_in(user).access)
    assert client.get("/api/v1/account").json()["kyc_level"] == 2
    submission.status, submission.rejection_reason = "rejected", "other"  # a KYC downgrade
    submission.save()
    with django_assert_num_queries(3):
        assert client.get("/api/v1/account").json()["kyc_level"] == 0
    user.tier = "pro"
    user.save()
    assert client.get("/api/v1/account")["X-RateLimit-Limit"] == "1200"


def test_refresh_issues_the_new_claims_and_they_answer_without_a_query(user, django_assert_num_queries):
    submission = approved_identity(user)
    pair = log_in(user)
    submission.status, submission.rejection_reason = "rejected", "other"
    submission.save()
    fresh = APIClient().post("/api/v1/auth/refresh", {"refresh": pair.refresh}, format="json").json()
    with django_assert_num_queries(0):
        assert bearer(fresh["access"]).get("/api/v1/account").json()["kyc_level"] == 0


def test_turning_two_factor_on_or_off_is_seen_by_the_next_request(jwt_client, user):
    jwt_client.post("/api/v1/account/2fa/setup")
    device = TOTPDevice.objects.get(user=user)
    confirmed = jwt_client.post("/api/v1/account/2fa/confirm", {"otp_code": totp_code(device)}, format="json")
    assert confirmed.status_code == 200
    assert jwt_client.get("/api/v1/account").json()["two_factor_enabled"] is True
    TOTPDevice.objects.filter(user=user).delete()
    assert jwt_client.get("/api/v1/account").json()["two_factor_enabled"] is False


def test_a_change_made_by_this_process_is_not_answered_from_the_requests_own_claims(user):
    made = identity.user_from(identity.claims_in(RefreshToken(log_in(user).refresh)))
    assert identity.claims_of(made) is not None
    approved_identity(made)
    assert identity.claims_of(made) is None
    assert limits_for(made)["trading"] is True


def test_a_lost_marker_falls_back_to_the_database_which_still_refuses_a_changed_password(
    user, django_assert_num_queries
):
    from apps.core.redis import get_redis

    pair, other = log_in(user), log_in(user)
    get_redis().delete(markers.user_key(user.pk))  # Redis lost its data
    with django_assert_num_queries(3):
        assert bearer(pair.access).get("/api/v1/account").status_code == 200
    fresh = APIClient().post("/api/v1/auth/refresh", {"refresh": pair.refresh}, format="json").json()
    with django_assert_num_queries(0):
        assert bearer(fresh["access"]).get("/api/v1/account").status_code == 200
    get_redis().delete(markers.user_key(user.pk))
    changed = User.objects.get(pk=user.pk)
    changed.set_password("a-brand-new-passphrase-99")
    changed.save()
    assert refused(bearer(other.access).get("/api/v1/account"))


def test_redis_unreachable_refuses_authenticated_requests_as_before(user, monkeypatch):
    """Fail closed, as the rate limit always did: no request passes unchecked while Redis is down."""
    from apps.core import redis as core_redis

    client = bearer(log_in(user).access)
    down = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    monkeypatch.setattr(markers, "get_redis", lambda: down)
    monkeypatch.setattr(core_redis, "get_redis", lambda: down)
    response = client.get("/api/v1/account")
    assert response.status_code >= 500


# --- API keys -----------------------------------------------------------------------------------


def signed_get(key, secret, path="/api/v1/account"):
    return APIClient(REMOTE_ADDR="127.0.0.1").get(path, **as_meta(signing.signed_headers(key, secret, "GET", path)))


@pytest.fixture
def api_key(user):
    return services.create_api_key(user=user, label="bot", permissions=["read"], ip_allowlist=[])


def test_a_signed_request_with_a_cached_key_costs_no_query_and_one_round_trip(
    api_key, user, django_assert_num_queries, redis_commands
):
    assert signed_get(api_key.api_key.key, api_key.secret).status_code == 200  # loads the key, stamps last use
    redis_commands.clear()
    with django_assert_num_queries(0):
        response = signed_get(api_key.api_key.key, api_key.secret)
    assert response.status_code == 200 and response.json()["username"] == user.username
    assert response["X-RateLimit-Remaining"] == "298"
    assert redis_commands == ["EVALSHA"]


def test_last_use_is_written_once_per_resolution_across_requests(api_key, django_assert_num_queries):
    assert signed_get(api_key.api_key.key, api_key.secret).status_code == 200
    first = ApiKey.objects.get(pk=api_key.api_key.pk).last_used_at
    assert first is not None
    for _ in range(3):
        assert signed_get(api_key.api_key.key, api_key.secret).status_code == 200
    assert ApiKey.objects.get(pk=api_key.api_key.pk).last_used_at == first


@pytest.mark.parametrize("how", ["owner", "admin"])
def test_a_revoked_key_is_refused_at_the_next_request_despite_the_cache(api_key, user, how):
    key, secret = api_key.api_key.key, api_key.secret
    assert signed_get(key, secret).status_code == 200
    assert keyring._entries.get(key) is not None
    if how == "owner":
        services.revoke_api_key(user=user, api_key_id=api_key.api_key.pk)
    else:
        assert services.revoke_api_keys(keys=ApiKey.objects.filter(pk=api_key.api_key.pk)) == 1
    response = signed_get(key, secret)
    assert response.status_code == 401 and response.json()["error"]["code"] == "invalid_api_key"


def test_a_disabled_owner_or_a_new_tier_is_seen_by_the_next_signed_request(api_key, user):
    key, secret = api_key.api_key.key, api_key.secret
    assert signed_get(key, secret)["X-RateLimit-Limit"] == "300"
    user.tier = "pro"
    user.save()
    assert signed_get(key, secret)["X-RateLimit-Limit"] == "1200"
    user.is_active = False
    user.save()
    response = signed_get(key, secret)
    assert response.status_code == 401 and response.json()["error"]["code"] == "invalid_api_key"


def test_a_replayed_signature_is_refused_with_a_cached_key(api_key):
    path = "/api/v1/account"
    headers = as_meta(signing.signed_headers(api_key.api_key.key, api_key.secret, "GET", path))
    assert APIClient().get(path, **headers).status_code == 200
    replay = APIClient().get(path, **headers)
    assert replay.status_code == 401 and replay.json()["error"]["code"] == "replayed_request"
    assert json.loads(replay.content)["error"]["code"] == "replayed_request"
