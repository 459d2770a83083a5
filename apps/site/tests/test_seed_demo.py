import json
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command


@pytest.mark.django_db
def test_seed_demo_is_idempotent_and_prints_working_credentials(settings, tmp_path, capsys):
    settings.VAR_DIR = tmp_path
    settings.KYC_MEDIA_ROOT = tmp_path / "kyc"
    call_command("seed_demo")
    first = capsys.readouterr().out
    call_command("seed_demo")
    second = capsys.readouterr().out
    assert first == second
    User = get_user_model()
    passwords = json.loads((tmp_path / "demo-credentials.json").read_text())
    assert set(passwords) == {"admin", "carol", "dave", "erin", "alice", "bob"}
    for username, password in passwords.items():
        assert f"{username} / {password}" in first
        assert User.objects.get(username=username).check_password(password)
    assert User.objects.get(username="admin").is_superuser
    assert not User.objects.get(username="alice").is_staff
    assert User.objects.get(username="bob").tier == "pro"
    carol = User.objects.get(username="carol")
    assert carol.is_staff and not carol.is_superuser and carol.has_perm("kyc.review_submission")
    dave, erin = User.objects.get(username="dave"), User.objects.get(username="erin")
    assert dave.is_staff and not dave.is_superuser and dave.has_perm("wallets.change_custodytransfer")
    assert not dave.has_perm("kyc.view_submission") and not dave.has_perm("markets.use_kill_switch")
    assert erin.is_staff and not erin.is_superuser and erin.has_perm("markets.use_kill_switch")
    assert not erin.has_perm("wallets.view_withdrawal") and not erin.has_perm("kyc.view_submission")
    assert [g.name for g in dave.groups.all()] == ["Treasury"] and [g.name for g in erin.groups.all()] == [
        "Trading operations"
    ]
    assert "treasury             dave / " in first and "trading operations   erin / " in first
    from apps.kyc.selectors import submissions_for

    assert [s.status for s in submissions_for(User.objects.get(username="alice"))] == ["pending"]
    from apps.wallets.models import Currency

    assert sorted(Currency.objects.values_list("code", flat=True)) == ["BTC", "ETH", "USDT"]
    from apps.markets.models import Market
    from apps.wallets.selectors import balances_for
    from apps.wallets.verification import verify_ledger

    assert list(Market.objects.values_list("symbol", flat=True)) == ["BTC-USDT", "ETH-BTC", "ETH-USDT"]
    bob_usdt = next(b for b in balances_for(User.objects.get(username="bob")) if b["currency"] == "USDT")
    assert bob_usdt["available"] == 100000  # credited once, whatever the number of runs
    assert verify_ledger() == []
    from apps.wallets.reconciliation import reconcile

    # Demo funds come from the sandbox issuance account: the hot wallets match the simulated chain.
    assert reconcile().mismatches == []
    btc_usdt = Market.objects.get(symbol="BTC-USDT")
    assert (btc_usdt.market_order_collar, btc_usdt.breaker_move) == (Decimal("0.05"), Decimal("0.1"))
    assert (tmp_path / "demo-credentials.json").stat().st_mode & 0o077 == 0


@pytest.mark.django_db
def test_seed_demo_says_when_admin_otp_is_off(settings, tmp_path, capsys):
    settings.VAR_DIR = tmp_path
    settings.KYC_MEDIA_ROOT = tmp_path / "kyc"
    settings.ADMIN_REQUIRE_OTP = False
    call_command("seed_demo")
    assert "Admin OTP is OFF" in capsys.readouterr().out
