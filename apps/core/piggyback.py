"""Values that ride along with a request's one Redis round trip (the rate-limit script in
apps.accounts.markers) so that later code in the same request can use them without asking Redis again.

Today one value rides along: the market registry's version (apps.markets.registry). It is noted per
request in a context variable, forgotten when the next request starts (under WSGI and the test client
a thread serves many requests; under ASGI each request has its own context anyway)."""

from __future__ import annotations

from contextvars import ContextVar

MARKETS_VERSION_KEY = "exchange:markets:version"

_markets_version: ContextVar[str | None] = ContextVar("markets_version", default=None)


def note_markets_version(version: str | None) -> None:
    _markets_version.set(version)


def noted_markets_version() -> str | None:
    return _markets_version.get()


def forget(**_) -> None:
    """Connected to request_started: nothing a previous request noted is trusted by the next."""
    _markets_version.set(None)
