"""WSGI middleware in front of Django for the web process (gunicorn, wired in exchange/wsgi.py): what
apps/core/asgi.py and uvicorn's --proxy-headers do for the same requests when the ASGI server answers
them (the stream process, and tests that run one ASGI server for everything).

- `RequestBodyLimit`: a body over the limit of its path is refused with 413 `payload_too_large`
  before Django reads it.
- `ProxyHeaders`: REMOTE_ADDR and the scheme from X-Forwarded-For / X-Forwarded-Proto, believed only
  from the proxies of FORWARDED_ALLOW_IPS (uvicorn's rule and default). gunicorn's own
  --forwarded-allow-ips sets the scheme only, never the client's address.
"""

from __future__ import annotations

import io
import json
import os

from uvicorn.middleware.proxy_headers import _TrustedHosts

from apps.core.bodylimit import PathBodyLimits
from apps.core.errors import error_body


class RequestBodyLimit(PathBodyLimits):
    """The WSGI form of apps.core.asgi.RequestBodyLimit.

    A declared `Content-Length` over the limit is answered at once, without reading the body, and
    the connection is closed. A chunked body has no
    length: Django under WSGI would read it as empty, so it is read here, up to the limit and no
    further, and handed on with its length, as the ASGI server hands it to Django.
    """

    def __call__(self, environ, start_response):
        limit = self.limit_for(environ.get("PATH_INFO", ""))
        try:
            declared = int(environ.get("CONTENT_LENGTH") or "")
        except ValueError:
            declared = None
        if declared is not None:
            if declared > limit:
                return self._refuse(start_response, limit)
        elif "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
            body = environ["wsgi.input"].read(limit + 1)
            if len(body) > limit:
                return self._refuse(start_response, limit)
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
        return self.application(environ, start_response)

    @staticmethod
    def _refuse(start_response, limit: int):
        body = json.dumps(
            error_body(
                "payload_too_large",
                f"The request body is larger than this endpoint accepts ({limit} bytes).",
                {"max_bytes": limit},
            )
        ).encode()
        start_response(
            "413 Request Entity Too Large",
            [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
        )
        # The connection is closed after the answer, since the rest of the body is never read. A WSGI
        # application may not send `Connection: close` (hop-by-hop); gunicorn's response, whose bound
        # method start_response is, can be told directly. Otherwise its keep-alive would read the
        # unread body through to find the next request.
        force_close = getattr(getattr(start_response, "__self__", None), "force_close", None)
        if force_close is not None:
            force_close()
        return [body]


def request_body_limit(application) -> RequestBodyLimit:
    return RequestBodyLimit.from_settings(application)


class ProxyHeaders:
    """uvicorn's ProxyHeadersMiddleware for WSGI, with its parsing of the trusted list (so both servers
    believe the same proxies): from a trusted peer, the client is the nearest untrusted address of
    X-Forwarded-For, and the scheme is X-Forwarded-Proto."""

    def __init__(self, application, trusted_hosts: str):
        self.application = application
        self.trusted_hosts = _TrustedHosts(trusted_hosts)

    def __call__(self, environ, start_response):
        if environ.get("REMOTE_ADDR") in self.trusted_hosts:
            proto = environ.get("HTTP_X_FORWARDED_PROTO", "").strip()
            if proto in ("http", "https"):
                environ["wsgi.url_scheme"] = proto
            forwarded_for = environ.get("HTTP_X_FORWARDED_FOR")
            if forwarded_for:
                host, _port = self.trusted_hosts.get_trusted_client_address(forwarded_for)
                if host:
                    environ["REMOTE_ADDR"] = host
        return self.application(environ, start_response)


def proxy_headers(application) -> ProxyHeaders:
    """Trusts FORWARDED_ALLOW_IPS, with uvicorn's default when it is unset."""
    return ProxyHeaders(application, os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1"))
