"""The two-factor life cycle with real TOTP codes: setup, confirm, login, replay, backup codes, disable."""

import base64
import time
import xml.etree.ElementTree as ET
from urllib.parse import parse_qs, urlsplit

import pytest
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from apps.accounts.tests.conftest import totp_code
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def login(user, **extra):
    body = {"username": user.username, "password": PASSWORD, **extra}
    return APIClient().post("/api/v1/auth/login", body, format="json")


def enable(jwt_client, user) -> list[str]:
    jwt_client.post("/api/v1/account/2fa/setup")
    device = TOTPDevice.objects.get(user=user)
    response = jwt_client.post("/api/v1/account/2fa/confirm", {"otp_code": totp_code(device)}, format="json")
    assert response.status_code == 200, response.content
    return response.json()["backup_codes"]


def test_setup_returns_secret_uri_and_svg_qr_and_is_not_active_yet(jwt_client, user):
    response = jwt_client.post("/api/v1/account/2fa/setup")
    assert response.status_code == 200
    body = response.json()
    device = TOTPDevice.objects.get(user=user)
    assert base64.b32decode(body["secret"] + "=" * (-len(body["secret"]) % 8)) == device.bin_key
    uri = urlsplit(body["otpauth_uri"])
    assert uri.scheme == "otpauth" and uri.netloc == "totp"
    assert parse_qs(uri.query)["secret"] == [body["secret"]]
    assert parse_qs(uri.query)["issuer"] == ["Exchange"]
    svg = ET.fromstring(body["qr_svg"])
    assert svg.tag.endswith("svg")
    assert jwt_client.get("/api/v1/account").json()["two_factor_enabled"] is False
    assert login(user).status_code == 200  # not required until confirmed


def test_full_life_cycle(jwt_client, user):
    backup_codes = enable(jwt_client, user)
    assert len(backup_codes) == 10 and len(set(backup_codes)) == 10
    assert jwt_client.get("/api/v1/account").json()["two_factor_enabled"] is True
    device = TOTPDevice.objects.get(user=user, confirmed=True)

    # Login now needs a code.
    response = login(user)
    assert response.status_code == 401 and response.json()["error"]["code"] == "otp_required"
    response = login(user, otp_code="000000" if totp_code(device, 1) != "000000" else "111111")
    assert response.status_code == 401 and response.json()["error"]["code"] == "invalid_otp"

    # The next step's code (within the drift window) logs in once; the same code again is refused.
    device.refresh_from_db()
    device.throttle_reset()
    code = totp_code(device, 1)
    assert login(user, otp_code=code).status_code == 200
    replay = login(user, otp_code=code)
    assert replay.status_code == 401 and replay.json()["error"]["code"] == "invalid_otp"

    # A backup code works exactly once (typed in any case, with spaces).
    typed = " ".join([backup_codes[0][:5].upper(), backup_codes[0][5:]])
    assert login(user, otp_code=typed).status_code == 200
    assert login(user, otp_code=backup_codes[0]).json()["error"]["code"] == "invalid_otp"
    assert StaticToken.objects.filter(device__user=user).count() == 9

    # Disable needs a valid code; afterwards login needs none.
    wrong = jwt_client.post("/api/v1/account/2fa/disable", {"otp_code": "12345x"}, format="json")
    assert wrong.status_code == 400 and wrong.json()["error"]["code"] == "invalid_otp"
    time.sleep(1.1)  # one wrong code: the next try waits 1 s (django-otp's back-off)
    response = jwt_client.post("/api/v1/account/2fa/disable", {"otp_code": backup_codes[1]}, format="json")
    assert response.status_code == 204
    assert not TOTPDevice.objects.filter(user=user).exists()
    assert login(user).status_code == 200


def test_codes_two_steps_away_are_refused(jwt_client, user):
    enable(jwt_client, user)
    device = TOTPDevice.objects.get(user=user, confirmed=True)
    for offset in (-3, 3):
        assert login(user, otp_code=totp_code(device, offset)).json()["error"]["code"] == "invalid_otp"


def test_confirm_with_a_wrong_code_keeps_2fa_off(jwt_client, user):
    jwt_client.post("/api/v1/account/2fa/setup")
    device = TOTPDevice.objects.get(user=user)
    wrong = "123456" if totp_code(device) != "123456" else "654321"
    response = jwt_client.post("/api/v1/account/2fa/confirm", {"otp_code": wrong}, format="json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_otp"
    assert jwt_client.get("/api/v1/account").json()["two_factor_enabled"] is False


def test_a_wrong_confirm_code_counts_towards_the_back_off(jwt_client, user):
    jwt_client.post("/api/v1/account/2fa/setup")
    device = TOTPDevice.objects.get(user=user)
    right = totp_code(device)
    jwt_client.post(
        "/api/v1/account/2fa/confirm", {"otp_code": "999999" if right != "999999" else "888888"}, format="json"
    )
    device.refresh_from_db()
    assert device.throttling_failure_count == 1
    refused = jwt_client.post("/api/v1/account/2fa/confirm", {"otp_code": right}, format="json")
    assert refused.status_code == 400
    time.sleep(1.1)
    assert jwt_client.post("/api/v1/account/2fa/confirm", {"otp_code": right}, format="json").status_code == 200


def test_confirm_without_setup_is_409(jwt_client):
    response = jwt_client.post("/api/v1/account/2fa/confirm", {"otp_code": "123456"}, format="json")
    assert response.status_code == 409 and response.json()["error"]["code"] == "two_factor_not_pending"


def test_setup_while_enabled_is_409_and_changes_nothing(jwt_client, user):
    enable(jwt_client, user)
    key = TOTPDevice.objects.get(user=user).key
    response = jwt_client.post("/api/v1/account/2fa/setup")
    assert response.status_code == 409 and response.json()["error"]["code"] == "two_factor_already_enabled"
    assert TOTPDevice.objects.get(user=user).key == key


def test_disable_when_off_is_409(jwt_client):
    response = jwt_client.post("/api/v1/account/2fa/disable", {"otp_code": "123456"}, format="json")
    assert response.status_code == 409 and response.json()["error"]["code"] == "two_factor_not_enabled"


def test_a_wrong_code_makes_the_next_try_wait_even_with_a_right_code(jwt_client, user):
    enable(jwt_client, user)
    device = TOTPDevice.objects.get(user=user, confirmed=True)
    right = totp_code(device, 1)
    login(user, otp_code="999999" if right != "999999" else "888888")
    # django-otp refuses any code until the back-off (2^(failures-1) seconds) has passed ...
    assert login(user, otp_code=right).json()["error"]["code"] == "invalid_otp"
    time.sleep(1.1)
    # ... and the refused code was not spent: it still works once the wait is over.
    assert login(user, otp_code=right).status_code == 200


def test_secrets_never_reach_the_logs(jwt_client, user, caplog):
    caplog.set_level("DEBUG")
    setup = jwt_client.post("/api/v1/account/2fa/setup").json()
    device = TOTPDevice.objects.get(user=user)
    codes = jwt_client.post("/api/v1/account/2fa/confirm", {"otp_code": totp_code(device)}, format="json").json()
    text = caplog.text
    assert setup["secret"] not in text and device.key not in text
    assert not any(code in text for code in codes["backup_codes"])
    assert PASSWORD not in text
