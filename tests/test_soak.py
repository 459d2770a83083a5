"""manage.py soak: the simulator trading through processes of its own while the matcher and a Celery
worker are killed with SIGKILL, then the ledger and a reconciliation checked."""

from __future__ import annotations

import io
import re
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from apps.orders.selectors import unsettled_count
from apps.trades.models import Trade
from apps.wallets import ledger
from apps.wallets.models import Account
from tests.factories import funded_trader

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _fast_password_hasher():
    """Overrides the suite's MD5 hasher: the bots log in through the web process's own hashers."""


def soak(tmp_path, *args: str) -> str:
    out = io.StringIO()
    call_command("soak", "--markets", "BTC-USDT", "--log-dir", str(tmp_path), *args, stdout=out)
    return out.getvalue()


def test_soak_survives_kill_9_of_matcher_and_worker_with_the_books_intact(settings, market, tmp_path):
    settings.EXCHANGE_SANDBOX = True
    output = soak(tmp_path, "--duration", "12", "--kill-every", "4", "--rate", "15")
    kills = re.search(r"kill -9: matcher (\d+), worker (\d+)", output)
    assert kills and int(kills[1]) >= 1 and int(kills[2]) >= 1, output
    assert "soak: ledger verified, reconciliation clean, every order settled" in output
    assert Trade.objects.exists() and unsettled_count() == 0


def test_soak_fails_on_a_ledger_discrepancy(settings, market, tmp_path):
    settings.EXCHANGE_SANDBOX = True
    # A balance that no ledger entry explains: money invented outside a transaction.
    account = ledger.user_account(funded_trader(usdt="10"), "USDT")
    Account.objects.filter(pk=account.pk).update(available=Decimal("11"))
    with pytest.raises(CommandError, match="soak found discrepancies:\n  ledger: "):
        soak(tmp_path, "--duration", "2", "--kill-every", "100", "--rate", "5")


def test_soak_runs_only_in_sandbox_mode(settings, tmp_path):
    settings.EXCHANGE_SANDBOX = False
    with pytest.raises(CommandError, match="sandbox mode only"):
        soak(tmp_path, "--duration", "1")
