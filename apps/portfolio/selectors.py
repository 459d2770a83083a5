"""Portfolio reads: the valued portfolio (GET /portfolio) and the value history."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, localcontext

from django.conf import settings

from apps.core import money as money_helpers
from apps.core.fields import format_in_precision
from apps.portfolio import prices
from apps.portfolio.models import Snapshot
from apps.wallets.models import Account, Currency


@dataclass
class Asset:
    currency: str
    decimals: int
    available: Decimal
    locked: Decimal
    total: Decimal
    average_cost: Decimal | None
    price: Decimal | None
    value: Decimal | None
    unrealized_pnl: Decimal | None
    realized_pnl: Decimal
    cost: Decimal


@dataclass
class PortfolioView:
    valuation_currency: str
    valuation_decimals: int
    assets: list[Asset]
    total_value: Decimal
    total_cost: Decimal
    realized_pnl: Decimal
    unrealized_pnl: Decimal


def valuation_currency() -> str:
    return settings.PORTFOLIO_VALUATION_CURRENCY


def value_portfolio(user, positions: dict) -> PortfolioView:
    """The user's balances valued at the last trade prices, with `positions` (account id ->
    Position, as services.sync_positions returns them) for costs and realized PnL. Reads only:
    `services.portfolio_for` brings the positions up to date first."""
    valuation = valuation_currency()
    val_decimals = Currency.objects.values_list("decimals", flat=True).get(pk=valuation)
    graph = prices.MarketGraph(valuation)
    last = prices.last_prices()
    accounts = (Account.objects.filter(kind=Account.Kind.USER, user=user).select_related("currency")
                .order_by("currency_id"))  # fmt: skip
    assets: list[Asset] = []
    with localcontext() as ctx:
        ctx.prec = 60
        for account in accounts:
            position = positions.get(account.pk)
            total = account.available + account.locked
            price = graph.price(account.currency_id, last.get)
            cost = position.cost if position else Decimal(0)
            quantity = position.quantity if position else Decimal(0)
            known_cost = position is not None and not position.unpriced
            average = cost / quantity if known_cost and quantity else None
            value = total * price if price is not None else None
            unrealized = value - average * total if value is not None and average is not None else None
            if total == 0:
                average, unrealized = None, (Decimal(0) if value is not None else None)
            assets.append(Asset(
                currency=account.currency_id, decimals=account.currency.decimals, available=account.available,
                locked=account.locked, total=total, average_cost=average, price=price, value=value,
                unrealized_pnl=unrealized, realized_pnl=position.realized_pnl if position else Decimal(0),
                cost=cost,
            ))  # fmt: skip
    return PortfolioView(
        valuation_currency=valuation, valuation_decimals=val_decimals, assets=assets,
        total_value=sum((a.value for a in assets if a.value is not None), Decimal(0)),
        # Cost and unrealized PnL over the same assets: those whose cost and price are both known.
        total_cost=sum((a.cost for a in assets if a.unrealized_pnl is not None), Decimal(0)),
        realized_pnl=sum((a.realized_pnl for a in assets), Decimal(0)),
        unrealized_pnl=sum((a.unrealized_pnl for a in assets if a.unrealized_pnl is not None), Decimal(0)),
    )  # fmt: skip


def money(value: Decimal | None, decimals: int) -> str | None:
    """An amount in the valuation currency, in its precision; None stays null."""
    return None if value is None else format_in_precision(value, decimals)


def unit_price(value: Decimal | None, decimals: int) -> str | None:
    """A price per unit: to 18 places, trailing zeros dropped but never fewer places than the
    valuation currency has ("2500.000000", "0.333333333333333333")."""
    if value is None:
        return None
    exact = value.quantize(money_helpers.unit(18), ROUND_HALF_EVEN).normalize()
    if -exact.as_tuple().exponent < decimals:
        exact = exact.quantize(money_helpers.unit(decimals))
    return format(exact, "f")


def portfolio_payload(view: PortfolioView) -> dict:
    d = view.valuation_decimals
    return {
        "valuation_currency": view.valuation_currency,
        "total_value": money(view.total_value, d),
        "total_cost": money(view.total_cost, d),
        "realized_pnl": money(view.realized_pnl, d),
        "unrealized_pnl": money(view.unrealized_pnl, d),
        "assets": [
            {"currency": a.currency, "available": format_in_precision(a.available, a.decimals),
             "locked": format_in_precision(a.locked, a.decimals), "total": format_in_precision(a.total, a.decimals),
             "average_cost": unit_price(a.average_cost, d), "price": unit_price(a.price, d),
             "value": money(a.value, d), "unrealized_pnl": money(a.unrealized_pnl, d),
             "realized_pnl": money(a.realized_pnl, d)}
            for a in view.assets
        ],
    }  # fmt: skip


def history(user, *, since: dt.date | None, until: dt.date | None, before: dt.date | None, limit: int) -> list:
    """The user's daily snapshots, newest first, strictly before the cursor date `before`."""
    rows = Snapshot.objects.filter(user=user).order_by("-date")
    if since:
        rows = rows.filter(date__gte=since)
    if until:
        rows = rows.filter(date__lte=until)
    if before:
        rows = rows.filter(date__lt=before)
    return list(rows.select_related("valuation_currency")[:limit])


def snapshot_payload(snapshot: Snapshot) -> dict:
    d = snapshot.valuation_currency.decimals
    return {
        "date": snapshot.date.isoformat(), "valuation_currency": snapshot.valuation_currency_id,
        "total_value": money(snapshot.total_value, d), "total_cost": money(snapshot.total_cost, d),
        "realized_pnl": money(snapshot.realized_pnl, d), "unrealized_pnl": money(snapshot.unrealized_pnl, d),
    }  # fmt: skip
