"""ASGI middleware in front of Django and Channels (wired in exchange/asgi.py).

- `RequestBodyLimit`: an HTTP body larger than the API can use is refused with 413 before it is
  read. Django's ASGI handler spools the whole body before any view runs, so without this a
  client could make every process read (and write to disk) 100 MB to get a 405.
- `StreamPortHTTP`: on the stream process's own port (STREAM_PORT), HTTP is the probes only; REST
  belongs to the web pool, and a REST flood here would hold market data back behind it.
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

from apps.core.bodylimit import PathBodyLimits
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


class RequestBodyLimit(PathBodyLimits):
    """Refuses HTTP request bodies over the limit of their path with 413 `payload_too_large`.

    A declared `Content-Length` over the limit is answered at once, without reading the body. A body
    without one (chunked) is counted as it streams in: past the limit the client gets the 413, the
    application is told the client left (Django then drops the request), and nothing more is read.
    Either way the connection is closed, since the rest of the body is never read.
    """

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.application(scope, receive, send)
        limit = self.limit_for(scope["path"])
        declared = None
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = None  # the server refuses a malformed length before we get here
        if declared is not None and declared > limit:
            return await self._refuse(send, limit)

        received = 0
        refused = False

        async def counting_receive():
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    refused = True
                    await self._refuse(send, limit)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message):
            if not refused:  # after a 413 the application has nothing more to say to this client
                await send(message)

        return await self.application(scope, counting_receive, guarded_send)

    @staticmethod
    async def _refuse(send, limit: int) -> None:
        body = json.dumps(
            error_body(
                "payload_too_large",
                f"The request body is larger than this endpoint accepts ({limit} bytes).",
                {"max_bytes": limit},
            )
        ).encode()
        await send({"type": "http.response.start", **_json_response_start(413, body, (b"connection", b"close"))})
        await send({"type": "http.response.body", "body": body})


def request_body_limit(application) -> RequestBodyLimit:
    return RequestBodyLimit.from_settings(application)


class StreamPortHTTP:
    """HTTP requests that arrive on `stream_port` get only the probe paths (liveness, readiness,
    metrics); anything else is 421 `misdirected_request`, naming where it belongs. On any other port,
    or with no stream port set (one ASGI server for everything: the tests' form), HTTP passes."""

    PROBES = frozenset({"/healthz", "/readyz", "/metrics"})

    def __init__(self, application, stream_port: str):
        self.application = application
        self.stream_port = int(stream_port) if stream_port else None

    async def __call__(self, scope, receive, send):
        server = scope.get("server") or (None, None)
        if self.stream_port is None or server[1] != self.stream_port or scope["path"] in self.PROBES:
            return await self.application(scope, receive, send)
        body = json.dumps(
            error_body(
                "misdirected_request",
                "This port serves the WebSocket stream (/ws/v1/) only; the REST API and pages are on the web port.",
            )
        ).encode()
        await send({"type": "http.response.start", **_json_response_start(421, body)})
        await send({"type": "http.response.body", "body": body})


def stream_port_http(application) -> StreamPortHTTP:
    return StreamPortHTTP(application, settings.STREAM_PORT)


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
        try:
            parsed = urlparse(origins[0].decode("latin-1")) if len(origins) == 1 else None
        except ValueError:  # "http://[::1": unparsable
            parsed = None
        if self.valid_origin(parsed):
            return await self.application(scope, receive, send)
        await self.refuse(scope, receive, send)

    def valid_origin(self, parsed_origin):
        try:
            return parsed_origin is not None and self.validate_origin(parsed_origin)
        except ValueError:  # a port out of range, against a pattern with a scheme: not one of ours
            return False

    @staticmethod
    async def refuse(scope, receive, send) -> None:
        if (await receive())["type"] != "websocket.connect":
            return  # the client left before its handshake was answered: nothing to send to
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
