"""Wallet reads."""

from decimal import Decimal

from apps.wallets import breaker
from apps.wallets.models import Account, Currency, Deposit, WithdrawalAddress


def balances_for(user) -> list[dict]:
    """Every active currency, with the user's available and locked amounts (zero without an account)."""
    held = {a.currency_id: a for a in Account.objects.filter(kind=Account.Kind.USER, user=user)}
    rows = []
    for currency in Currency.objects.filter(is_active=True).order_by("code"):
        account = held.get(currency.code)
        rows.append({
            "currency": currency.code,
            "available": account.available if account else 0,
            "locked": account.locked if account else 0,
            "decimals": currency.decimals,
        })  # fmt: skip
    return rows


def deposits_for(user):
    return Deposit.objects.filter(user=user).select_related("currency")


def withdrawal_addresses_for(user):
    return WithdrawalAddress.objects.filter(user=user).select_related("currency")


def hot_wallets() -> list[tuple[str, Decimal, Decimal]]:
    """(currency, hot account's available balance, hot_min) for every active currency, one query."""
    return list(
        Account.objects.filter(kind=Account.Kind.HOT, user__isnull=True, currency__is_active=True)
        .order_by("currency_id")
        .values_list("currency_id", "available", "currency__hot_min")
    )


def chain_breakers() -> dict[str, str]:
    """Each active currency's chain breaker state (reported, not failing readiness: the exchange
    trades while a node is down; withdrawals and deposits of that currency wait)."""
    try:
        codes = list(Currency.objects.filter(is_active=True).values_list("code", flat=True))
    except Exception:  # noqa: BLE001 - PostgreSQL down is reported by its own check
        return {}
    return {code: breaker.state(code) for code in codes}
