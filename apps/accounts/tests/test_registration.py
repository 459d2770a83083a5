"""POST /auth/register: 201 with {id, email, username}; every bad input is a 400 that writes nothing."""

import pytest
from rest_framework.test import APIClient

from apps.accounts.models import User
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/auth/register"
GOOD = {"email": "carol@example.com", "username": "carol", "password": "a-long-unusual-passphrase-7"}


def register(body=None, **kwargs):
    return APIClient().post(URL, body if body is not None else GOOD, format="json", **kwargs)


def test_register_creates_a_basic_user():
    response = register()
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "email", "username"}
    user = User.objects.get(pk=body["id"])
    assert (user.email, user.username, user.tier) == ("carol@example.com", "carol", "basic")
    assert user.check_password(GOOD["password"])
    assert GOOD["password"] not in response.content.decode()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"email": "TAKEN@example.com"}, "email"),
        ({"username": "Taken"}, "username"),
    ],
)
def test_duplicates_are_refused_case_insensitively(changes, field):
    UserFactory(username="taken", email="taken@example.com")
    before = User.objects.count()
    response = register({**GOOD, **changes})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert field in error["details"]
    assert User.objects.count() == before


@pytest.mark.parametrize(
    "password",
    ["short", "password123", "1234567890123", "carol@example.com"],
    ids=["too-short", "common", "numeric", "same-as-email"],
)
def test_weak_passwords_are_refused(password):
    response = register({**GOOD, "password": password})
    assert response.status_code == 400
    assert "password" in response.json()["error"]["details"]
    assert not User.objects.filter(username="carol").exists()


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, {"email", "username", "password"}),
        ({**GOOD, "email": "not-an-email"}, {"email"}),
        ({**GOOD, "username": "ca"}, {"username"}),
        ({**GOOD, "username": "càrol"}, {"username"}),
        ({**GOOD, "username": "carol smith"}, {"username"}),
        ({**GOOD, "password": 12345}, {"password"}),
        ({**GOOD, "email": ["x@example.com"]}, {"email"}),
        ({**GOOD, "email": "\u212aim@example.com"}, {"email"}),  # KELVIN SIGN, a look-alike of K
        ({**GOOD, "email": "jo\u017fh@example.com"}, {"email"}),  # long s
    ],
)
def test_missing_and_malformed_fields_are_400_per_field(body, fields):
    response = register(body)
    assert response.status_code == 400
    assert fields <= set(response.json()["error"]["details"])
    assert User.objects.count() == 0


def test_malformed_json_is_400():
    response = APIClient().post(URL, data="{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_request"
    assert User.objects.count() == 0


def test_a_json_array_body_is_400():
    response = APIClient().post(URL, data="[1, 2]", content_type="application/json")
    assert response.status_code == 400
    assert User.objects.count() == 0
