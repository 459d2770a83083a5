"""Domain errors. Services raise these; apps.core.errors renders them in the docs/api.md error format.

Each app defines its own subclasses (InsufficientFunds, MarketHalted, ...) with a code, a status and
a default message, so views never build error responses by hand.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    code = "invalid_request"
    status_code = 400
    default_message = "The request cannot be carried out."

    def __init__(self, message: str | None = None, *, details: dict[str, Any] | None = None):
        self.message = message or self.default_message
        self.details = details or {}
        super().__init__(self.message)


class Conflict(DomainError):
    code = "conflict"
    status_code = 409
    default_message = "The resource is not in a state that allows this."


class ServiceUnavailable(DomainError):
    code = "service_unavailable"
    status_code = 503
    default_message = "A dependency is unavailable; try again shortly."


class StreamAuthenticationFailed(Exception):
    """A WebSocket `auth` message refused: `code` and `message` as the REST API would answer them."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message
