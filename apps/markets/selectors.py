"""Market reads."""

from __future__ import annotations

from apps.markets.exceptions import UnknownMarket
from apps.markets.models import Market


def markets():
    return Market.objects.select_related("base", "quote").order_by("symbol")


def market_by_symbol(symbol: str) -> Market:
    """The market, or UnknownMarket (404 `unknown_market`). Symbols are matched as given (upper case)."""
    market = markets().filter(symbol=str(symbol).upper()).first() if isinstance(symbol, str) else None
    if market is None:
        raise UnknownMarket(details={"symbol": symbol})
    return market
