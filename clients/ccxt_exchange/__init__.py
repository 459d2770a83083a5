"""A ccxt exchange class for this exchange (issue 24; docs/ccxt.md): `djex` (ccxt.Exchange) and, for
asyncio, `clients.ccxt_exchange.async_support.djex` (ccxt.async_support.Exchange), with the WebSocket
stream `clients.ccxt_exchange.pro.djex` (ccxt.pro)."""

from clients.ccxt_exchange.sync import djex

__all__ = ["djex"]
