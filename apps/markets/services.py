"""Market writes: listing a market, halting and resuming it."""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction

from apps.core import audit
from apps.markets.models import Market
from apps.wallets import ledger
from apps.wallets.models import Account, Currency


@transaction.atomic
def create_market(
    *, base: str, quote: str, tick_size: Decimal, lot_size: Decimal, min_notional: Decimal = Decimal(0),
    maker_fee: Decimal = Decimal("0.001"), taker_fee: Decimal = Decimal("0.002"), actor=None, **limits,
) -> Market:  # fmt: skip
    """List BASE-QUOTE. Validates the filters against both currencies' precision (full_clean) and
    creates the fee accounts the matcher credits. Raises ValidationError; changes nothing then."""
    market = Market(
        symbol=f"{base}-{quote}", base=Currency.objects.get(pk=base), quote=Currency.objects.get(pk=quote),
        tick_size=tick_size, lot_size=lot_size, min_notional=min_notional, maker_fee=maker_fee, taker_fee=taker_fee,
        **{name: limits[name] for name in LIMIT_FIELDS if name in limits},
    )  # fmt: skip
    market.full_clean()
    market.save()
    for code in (base, quote):
        ledger.system_account(Account.Kind.FEES, code)
    audit.record(actor=actor, action="market.created", target=market, symbol=market.symbol)
    return market


LIMIT_FIELDS = ("max_order_quantity", "max_order_notional", "price_band", "max_open_orders")
EDITABLE_FIELDS = ("min_notional", "maker_fee", "taker_fee", *LIMIT_FIELDS)


@transaction.atomic
def update_market(*, market: Market, changes: dict, actor=None) -> Market:
    """Change a market's filters, fees or risk limits (not its tick and lot: open orders are in
    those units). Validated like a new market; every change goes to the audit log with old and new."""
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValueError(f"not editable: {', '.join(sorted(unknown))}")
    market = Market.objects.select_for_update().get(pk=market.pk)
    before = {name: getattr(market, name) for name in changes}
    for name, value in changes.items():
        setattr(market, name, value)
    market.full_clean()
    market.save(update_fields=[*changes, "updated_at"])
    changed = {name: {"from": _text(before[name]), "to": _text(changes[name])} for name in changes
               if before[name] != changes[name]}  # fmt: skip
    if changed:
        audit.record(actor=actor, action="market.updated", target=market, changes=changed)
    return market


def _text(value) -> str | None:
    return None if value is None else f"{value}"


@transaction.atomic
def set_status(*, market: Market, status: str, reason: str = "", actor=None) -> Market:
    """Halt or resume a market. New orders are refused while halted; cancels still go through."""
    market = Market.objects.select_for_update().get(pk=market.pk)
    if market.status != status:
        market.status, market.status_reason = status, reason
        market.save(update_fields=["status", "status_reason", "updated_at"])
        audit.record(actor=actor, action=f"market.{status}", target=market, reason=reason)
    return market
