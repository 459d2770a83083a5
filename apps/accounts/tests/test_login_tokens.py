"""Login, JWT access and rotating refresh tokens, logout."""

import datetime as dt

import pytest
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from apps.accounts.tests.conftest import bearer
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


def login(username, password=PASSWORD, **extra):
    return APIClient().post("/api/v1/auth/login", {"username": username, "password": password, **extra}, format="json")


def test_login_by_username_or_email_returns_a_working_token_pair(user):
    for name in (user.username, user.email, user.email.upper()):
        response = login(name)
        assert response.status_code == 200, response.content
        assert set(response.json()) == {"access", "refresh"}
    account = bearer(response.json()["access"]).get("/api/v1/account")
    assert account.status_code == 200
    assert account.json() == {
        "id": user.id,
        "email": user.email,
        "username": user.username,
        "tier": "basic",
        "kyc_level": 0,
        "two_factor_enabled": False,
    }


def test_wrong_password_and_unknown_user_get_the_same_answer(user):
    wrong = login(user.username, "not-the-password")
    unknown = login("nobody-by-that-name")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert wrong.json()["error"]["code"] == "invalid_credentials"


def test_inactive_user_cannot_log_in():
    user = UserFactory(is_active=False)
    assert login(user.username).json()["error"]["code"] == "invalid_credentials"


def test_missing_fields_are_400():
    response = APIClient().post("/api/v1/auth/login", {"username": "x"}, format="json")
    assert response.status_code == 400
    assert "password" in response.json()["error"]["details"]


def test_account_without_token_is_401_with_a_bearer_challenge():
    response = APIClient().get("/api/v1/account")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_expired_access_token_is_401_invalid_token(user):
    token = AccessToken.for_user(user)
    token.set_exp(lifetime=-dt.timedelta(seconds=1))
    response = bearer(str(token)).get("/api/v1/account")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_token"


def test_tampered_access_token_is_401_invalid_token(user):
    access = login(user.username).json()["access"]
    header, payload, sig = access.split(".")
    tampered = f"{header}.{payload}.{sig[:-4]}AAAA"
    for token in (tampered, "garbage", access + "x"):
        response = bearer(token).get("/api/v1/account")
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "invalid_token"


def test_refresh_rotates_and_the_old_refresh_token_is_revoked(user):
    first = login(user.username).json()
    client = APIClient()
    response = client.post("/api/v1/auth/refresh", {"refresh": first["refresh"]}, format="json")
    assert response.status_code == 200
    second = response.json()
    assert set(second) == {"access", "refresh"} and second["refresh"] != first["refresh"]
    assert bearer(second["access"]).get("/api/v1/account").status_code == 200
    again = client.post("/api/v1/auth/refresh", {"refresh": first["refresh"]}, format="json")
    assert again.status_code == 401
    assert again.json()["error"]["code"] == "invalid_token"
    assert client.post("/api/v1/auth/refresh", {"refresh": second["refresh"]}, format="json").status_code == 200


@pytest.mark.parametrize("refresh", ["", "garbage", None])
def test_bad_refresh_tokens_are_refused(refresh):
    response = APIClient().post("/api/v1/auth/refresh", {"refresh": refresh}, format="json")
    assert response.status_code in (400, 401)
    assert response.json()["error"]["code"] in ("invalid_request", "invalid_token")


def test_an_access_token_is_not_a_refresh_token(user):
    access = login(user.username).json()["access"]
    response = APIClient().post("/api/v1/auth/refresh", {"refresh": access}, format="json")
    assert response.status_code == 401


def test_logout_revokes_the_refresh_token(user):
    pair = login(user.username).json()
    response = bearer(pair["access"]).post("/api/v1/auth/logout", {"refresh": pair["refresh"]}, format="json")
    assert response.status_code == 204
    refreshed = APIClient().post("/api/v1/auth/refresh", {"refresh": pair["refresh"]}, format="json")
    assert refreshed.status_code == 401


def test_logout_is_idempotent(user):
    pair = login(user.username).json()
    client = bearer(pair["access"])
    assert client.post("/api/v1/auth/logout", {"refresh": pair["refresh"]}, format="json").status_code == 204
    assert client.post("/api/v1/auth/logout", {"refresh": pair["refresh"]}, format="json").status_code == 204


def test_logout_with_another_users_refresh_token_is_refused(user):
    other = UserFactory()
    mine = login(user.username).json()
    theirs = login(other.username).json()
    response = bearer(mine["access"]).post("/api/v1/auth/logout", {"refresh": theirs["refresh"]}, format="json")
    assert response.status_code == 401
    assert APIClient().post("/api/v1/auth/refresh", {"refresh": theirs["refresh"]}, format="json").status_code == 200


def test_changing_the_password_ends_every_session(user):
    pair = login(user.username).json()
    user.set_password("a-brand-new-passphrase-99")
    user.save()
    assert bearer(pair["access"]).get("/api/v1/account").status_code == 401
    assert APIClient().post("/api/v1/auth/refresh", {"refresh": pair["refresh"]}, format="json").status_code == 401


def test_deleted_user_refresh_is_401_not_500(user):
    pair = login(user.username).json()
    user.delete()
    response = APIClient().post("/api/v1/auth/refresh", {"refresh": pair["refresh"]}, format="json")
    assert response.status_code == 401


def test_a_remembered_access_token_is_refused_once_it_expires(user, monkeypatch):
    """Validated tokens are remembered per process (JWTAuthentication.get_validated_token); the
    expiry is still checked on every request."""
    from rest_framework_simplejwt import tokens
    from rest_framework_simplejwt.utils import aware_utcnow

    from apps.accounts import authentication

    access = login(user.username).json()["access"]
    assert bearer(access).get("/api/v1/account").status_code == 200
    assert access.encode() in authentication._validated
    later = aware_utcnow() + dt.timedelta(minutes=30)
    for module in (authentication, tokens):
        monkeypatch.setattr(module, "aware_utcnow", lambda: later)
    response = bearer(access).get("/api/v1/account")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_token"
    assert access.encode() not in authentication._validated


def test_a_remembered_access_token_answers_as_a_fresh_one(user):
    access = login(user.username).json()["access"]
    first = bearer(access).get("/api/v1/account")
    second = bearer(access).get("/api/v1/account")
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    header, payload, sig = access.split(".")
    response = bearer(f"{header}.{payload}.{sig[:-4]}AAAA").get("/api/v1/account")
    assert response.json()["error"]["code"] == "invalid_token"
