import time

import pytest
from django_otp.oath import TOTP
from rest_framework.test import APIClient

from apps.accounts import services
from tests.factories import PASSWORD, UserFactory


@pytest.fixture
def user(db):
    return UserFactory()


@pytest.fixture
def password():
    return PASSWORD


def bearer(access: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client


@pytest.fixture
def jwt_client(user):
    pair = services.login(username=user.username, password=PASSWORD, otp_code=None)
    return bearer(pair.access)


def totp_code(device, offset_steps: int = 0) -> str:
    """The code an authenticator app shows now (or `offset_steps` steps later)."""
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, 0)
    totp.time = time.time() + offset_steps * device.step
    return f"{totp.token():0{device.digits}d}"


def as_meta(headers: dict[str, str]) -> dict[str, str]:
    """HTTP headers as the Django test client's META keyword arguments."""
    return {f"HTTP_{name.upper().replace('-', '_')}": value for name, value in headers.items()}
