"""Signed requests with an API key (docs/api.md "Authentication"). No Django import: clients use this too.

    signature = hex(HMAC-SHA256(secret, timestamp + METHOD + path_with_query + body))

Headers: X-API-Key (the key id), X-API-Timestamp (unix milliseconds), X-API-Signature.

    import httpx
    from apps.accounts.signing import ApiKeyAuth
    client = httpx.Client(base_url="http://127.0.0.1:8000", auth=ApiKeyAuth(key, secret))
    client.get("/api/v1/account")
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Generator
from urllib.parse import urlsplit

KEY_HEADER = "X-API-Key"
TIMESTAMP_HEADER = "X-API-Timestamp"
SIGNATURE_HEADER = "X-API-Signature"


def signature(secret: str, timestamp: int | str, method: str, path_with_query: str, body: bytes = b"") -> str:
    message = f"{timestamp}{method.upper()}{path_with_query}".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def signed_headers(
    key: str, secret: str, method: str, path_with_query: str, body: bytes = b"", timestamp: int | None = None
) -> dict[str, str]:
    timestamp = now_ms() if timestamp is None else timestamp
    return {
        KEY_HEADER: key,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature(secret, timestamp, method, path_with_query, body),
    }


def path_with_query(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


try:
    import httpx
except ImportError:  # pragma: no cover - httpx is only needed by clients
    httpx = None


if httpx is not None:

    class ApiKeyAuth(httpx.Auth):
        """httpx authentication that signs every request."""

        requires_request_body = True

        def __init__(self, key: str, secret: str):
            self.key, self.secret = key, secret

        def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
            target = request.url.raw_path.decode()
            request.headers.update(signed_headers(self.key, self.secret, request.method, target, request.content))
            yield request
