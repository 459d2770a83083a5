"""Staff must pass OTP to enter the admin (django-otp's admin site)."""

import pytest
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.accounts.tests.conftest import totp_code
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff():
    return UserFactory(is_staff=True, is_superuser=True)


def test_admin_requires_otp_by_default(settings):
    assert settings.ADMIN_REQUIRE_OTP is True


def test_staff_without_otp_is_refused(staff):
    client = Client()
    response = client.post("/admin/login/", {"username": staff.username, "password": PASSWORD})
    assert response.status_code == 200  # the form again, with an error
    assert client.get("/admin/").status_code == 302
    # A password-only session (as the REST login would make) does not open the admin either.
    client.force_login(staff)
    assert client.get("/admin/").status_code == 302


def test_staff_with_a_wrong_code_is_refused(staff):
    device = TOTPDevice.objects.create(user=staff, name="phone", confirmed=True)
    wrong = "000000" if totp_code(device) != "000000" else "111111"
    client = Client()
    client.post(
        "/admin/login/",
        {"username": staff.username, "password": PASSWORD, "otp_device": device.persistent_id, "otp_token": wrong},
    )
    assert client.get("/admin/").status_code == 302


def test_staff_with_a_code_enters(staff):
    device = TOTPDevice.objects.create(user=staff, name="phone", confirmed=True)
    client = Client()
    response = client.post(
        "/admin/login/",
        {
            "username": staff.username,
            "password": PASSWORD,
            "otp_device": device.persistent_id,
            "otp_token": totp_code(device),
        },
    )
    assert response.status_code == 302
    index = client.get("/admin/")
    assert index.status_code == 200
    assert client.get("/admin/accounts/apikey/").status_code == 200
    assert client.get("/admin/accounts/user/").status_code == 200


def test_non_staff_cannot_enter_even_with_otp():
    user = UserFactory()
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    client = Client()
    client.post(
        "/admin/login/",
        {
            "username": user.username,
            "password": PASSWORD,
            "otp_device": device.persistent_id,
            "otp_token": totp_code(device),
        },
    )
    assert client.get("/admin/").status_code == 302


def test_admin_login_attempts_are_limited_per_address(settings, staff):
    settings.STRICT_RATE_LIMITS = {**settings.STRICT_RATE_LIMITS, "admin_login": 3}
    client = Client(REMOTE_ADDR="203.0.113.77")
    statuses = [
        client.post("/admin/login/", {"username": staff.username, "password": f"guess-{i}"}).status_code
        for i in range(4)
    ]
    assert statuses == [200, 200, 200, 429]
    assert (
        Client(REMOTE_ADDR="203.0.113.78").post("/admin/login/", {"username": "x", "password": "y"}).status_code == 200
    )


def test_staff_cannot_read_refresh_tokens_or_otp_secrets(staff):
    from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

    from apps.accounts import services

    services.login(username=staff.username, password=PASSWORD, otp_code=None)
    device = TOTPDevice.objects.create(user=staff, name="phone", confirmed=True)
    client = Client()
    client.post(
        "/admin/login/",
        {
            "username": staff.username,
            "password": PASSWORD,
            "otp_device": device.persistent_id,
            "otp_token": totp_code(device),
        },
    )
    token = OutstandingToken.objects.filter(user=staff).first()
    page = client.get(f"/admin/token_blacklist/outstandingtoken/{token.pk}/change/")
    assert page.status_code == 200
    assert token.token not in page.content.decode()
    device_page = client.get(f"/admin/otp_totp/totpdevice/{device.pk}/change/")
    assert device_page.status_code == 200
    assert device.key not in device_page.content.decode()
