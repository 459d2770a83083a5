"""ASGI middleware in front of Django and Channels (wired in exchange/asgi.py).

- `BrowserOriginValidator`: the WebSocket origin policy. A browser always sends `Origin`, and only
  browser pages of our own hosts may open the stream from a browser; a client that sends no
  `Origin` is not a browser (a bot: Python `websockets`, ccxt.pro, Node `ws`) and is let in, since
  it can only act as a user by authenticating with a token or an API key.
"""

from __future__ import annotations

import json
from urllib.parse import urlparse

from channels.security.websocket import OriginValidator
from django.conf import settings

from apps.core.errors import error_body


def _json_response_start(status: int, body: bytes, *extra: tuple[bytes, bytes]) -> dict:
    return {
        "status": status,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            *extra,
        ],
    }


class BrowserOriginValidator(OriginValidator):
    """Channels' origin check (patterns as in ALLOWED_HOSTS) with two differences.

    - No `Origin` header: let in (not a browser, see the module's docstring). An `Origin` that is
      present but unparsable, empty or `null` (a sandboxed page) is a browser's and is refused.
    - The refusal is an HTTP 403 with the API's error envelope, answered here. Channels' own denial
      runs a consumer that opens a channel-layer read only to cancel it at once; on Python 3.11 that
      cancellation is regularly lost inside redis-py (`asyncio.wait_for` swallows a cancellation that
      arrives as the awaited write completes), the read then never ends, and uvicorn waited for it
      forever on SIGTERM. Refusing without a consumer touches no Redis at all.
    """

    async def __call__(self, scope, receive, send):
        if scope["type"] != "websocket":
            raise ValueError("BrowserOriginValidator only guards WebSocket connections")
        origins = [value for name, value in scope.get("headers", []) if name == b"origin"]
        if not origins:
            return await self.application(scope, receive, send)
        if len(origins) == 1 and self.valid_origin(urlparse(origins[0].decode("latin-1"))):
            return await self.application(scope, receive, send)
        await self.refuse(scope, receive, send)

    def valid_origin(self, parsed_origin):
        return parsed_origin is not None and self.validate_origin(parsed_origin)

    @staticmethod
    async def refuse(scope, receive, send) -> None:
        await receive()  # websocket.connect
        if "websocket.http.response" not in scope.get("extensions", {}):
            await send({"type": "websocket.close"})  # the server answers 403 without a body
            return
        body = json.dumps(
            error_body("origin_not_allowed", "This page's origin may not open the stream; see ALLOWED_HOSTS.")
        ).encode()
        await send({"type": "websocket.http.response.start", **_json_response_start(403, body)})
        await send({"type": "websocket.http.response.body", "body": body})


def browser_origin_validator(application) -> BrowserOriginValidator:
    """Like channels' AllowedHostsOriginValidator: the patterns of ALLOWED_HOSTS."""
    allowed_hosts = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed_hosts:
        allowed_hosts = ["localhost", "127.0.0.1", "[::1]"]
    return BrowserOriginValidator(application, allowed_hosts)
