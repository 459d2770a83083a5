"""Market reads."""

from __future__ import annotations

import re

from apps.markets.exceptions import UnknownMarket
from apps.markets.models import Market


def markets():
    return Market.objects.select_related("base", "quote").order_by("symbol")


SYMBOL = re.compile(r"[A-Z0-9]{1,10}-[A-Z0-9]{1,10}")


def market_by_symbol(symbol: str) -> Market:
    """The market, or UnknownMarket (404 `unknown_market`). Symbols are matched upper-cased; anything
    not shaped like BASE-QUOTE is unknown without a query (a NUL byte would make PostgreSQL refuse it)."""
    valid = isinstance(symbol, str) and SYMBOL.fullmatch(symbol.upper())
    market = markets().filter(symbol=symbol.upper()).first() if valid else None
    if market is None:
        raise UnknownMarket(details={"symbol": symbol})
    return market
