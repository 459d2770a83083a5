"""Sandbox mode is decided when the URLconf is imported (off: the faucet is not routed at all), so
switching it in a test means re-importing the URLconf as a process started that way would."""

import importlib
from decimal import Decimal

import pytest
from django.conf import settings
from django.test import override_settings
from django.urls import clear_url_caches

from tests import factories
from tests.factories import UserFactory, client_for

FAUCET = "/api/v1/sandbox/faucet"


def reload_urlconf() -> None:
    importlib.reload(importlib.import_module(settings.ROOT_URLCONF))
    clear_url_caches()


def _mode(on: bool):
    with override_settings(EXCHANGE_SANDBOX=on):
        reload_urlconf()
        yield
    reload_urlconf()


@pytest.fixture
def sandbox_on():
    yield from _mode(True)


@pytest.fixture
def sandbox_off():
    yield from _mode(False)


@pytest.fixture
def currencies(db):
    return {
        "BTC": factories.currency("BTC", confirmations=2),
        "USDT": factories.currency("USDT"),
        "DOGE": factories.currency("DOGE", 8, name="Dogecoin"),
        "OLD": factories.currency("OLD", 8, name="Delisted", is_active=False),
    }


@pytest.fixture
def user(db):
    return UserFactory()


@pytest.fixture
def client(user):
    return client_for(user)


def faucet(client, body, **headers):
    return client.post(FAUCET, body, format="json", **headers)


def available(user, code: str) -> Decimal:
    from apps.wallets.models import Account

    account = Account.objects.filter(kind="user", user=user, currency_id=code).first()
    return account.available if account else Decimal(0)
