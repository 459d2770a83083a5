"""The WSGI middleware of the web pool (apps/core/wsgi.py), called as gunicorn calls it."""

import io
import json

from apps.core.wsgi import ProxyHeaders, RequestBodyLimit


def seen():
    """An application, and what it saw behind the middleware: client address, scheme, body."""
    result = {}

    def app(env, start_response):
        length = int(env.get("CONTENT_LENGTH") or 0)
        result.update(addr=env["REMOTE_ADDR"], scheme=env["wsgi.url_scheme"], body=env["wsgi.input"].read(length))
        start_response("200 OK", [])
        return [b""]

    return app, result


def call(middleware, environ):
    started = {}
    body = b"".join(middleware(environ, lambda status, headers: started.update(status=status, headers=headers)))
    return started["status"], body


def base(**extra) -> dict:
    return {"REMOTE_ADDR": "127.0.0.1", "wsgi.url_scheme": "http", "PATH_INFO": "/api/v1/orders",
            "wsgi.input": io.BytesIO(b""), **extra}  # fmt: skip


def test_forwarded_headers_are_believed_from_a_trusted_proxy_only():
    app, result = seen()
    middleware = ProxyHeaders(app, "127.0.0.2")
    forwarded = {"HTTP_X_FORWARDED_FOR": "203.0.113.7, 127.0.0.2", "HTTP_X_FORWARDED_PROTO": "https"}
    call(middleware, base(REMOTE_ADDR="127.0.0.2", **forwarded))
    assert (result["addr"], result["scheme"]) == ("203.0.113.7", "https")
    call(middleware, base(REMOTE_ADDR="127.0.0.1", **forwarded))
    assert (result["addr"], result["scheme"]) == ("127.0.0.1", "http")


def test_a_declared_body_over_the_limit_is_413_without_reading_it():
    app, result = seen()
    middleware = RequestBodyLimit(app, 10, {"/big": 100})

    class Unreadable(io.BytesIO):
        def read(self, *args):
            raise AssertionError("the body was read")

    status, body = call(middleware, base(CONTENT_LENGTH="11", **{"wsgi.input": Unreadable()}))
    assert status.startswith("413")
    assert json.loads(body)["error"] == {
        "code": "payload_too_large",
        "message": "The request body is larger than this endpoint accepts (10 bytes).",
        "details": {"max_bytes": 10},
    }
    status, _ = call(middleware, base(PATH_INFO="/big", CONTENT_LENGTH="11", **{"wsgi.input": io.BytesIO(b"x" * 11)}))
    assert status == "200 OK" and result["body"] == b"x" * 11


def test_a_chunked_body_is_read_up_to_the_limit_and_handed_on_with_its_length():
    app, result = seen()
    middleware = RequestBodyLimit(app, 10, {})
    chunked = {"HTTP_TRANSFER_ENCODING": "chunked"}
    status, _ = call(middleware, base(**chunked, **{"wsgi.input": io.BytesIO(b"x" * 10)}))
    assert status == "200 OK" and result["body"] == b"x" * 10
    status, _ = call(middleware, base(**chunked, **{"wsgi.input": io.BytesIO(b"x" * 11)}))
    assert status.startswith("413")
