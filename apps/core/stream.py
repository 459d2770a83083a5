"""Where clients find the WebSocket stream (docs/api.md "WebSocket /ws/v1/").

The stream is served by a process of its own (Procfile `stream:`, uvicorn on exchange.asgi, port
STREAM_PORT), so that market data never waits behind REST in the web pool (gunicorn, WEB_PORT). A
client needs no configuration for it: the trading page gets the URL in its HTML, and a client that
opens `/ws/v1/` on the web port is redirected there (307; Python's `websockets` follows it).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.http.request import split_domain_port

STREAM_PATH = "/ws/v1/"


def stream_url(request) -> str:
    """STREAM_URL when set; otherwise the request's host with STREAM_PORT, or the request's own origin
    when STREAM_PORT is unset or is the port the request came to (one ASGI server for everything)."""
    if settings.STREAM_URL:
        return settings.STREAM_URL
    scheme = "wss" if request.is_secure() else "ws"
    host = request.get_host()
    port = settings.STREAM_PORT
    if port and port != str(request.get_port()):
        domain, _ = split_domain_port(host)
        if ":" in domain:  # an IPv6 address
            domain = domain if domain.startswith("[") else f"[{domain}]"
        host = f"{domain}:{port}"
    return f"{scheme}://{host}{STREAM_PATH}"


def stream_origin(url: str) -> str:
    """The scheme and authority of a stream URL, as a Content-Security-Policy source."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def is_own_origin(request, url: str) -> bool:
    """Whether the stream URL is this server itself (nowhere else to send a client)."""
    return urlsplit(url).netloc == request.get_host()
