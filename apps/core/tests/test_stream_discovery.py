"""Where clients are told the stream is (apps/core/stream.py): the trading page's meta tag and CSP, and
the web pool's answer to `/ws/v1/`. The processes themselves are tested in tests/test_web_pool.py."""

import pytest

pytestmark = pytest.mark.django_db


@pytest.fixture
def split(settings):
    """`make run`: the web pool on 8000, the stream process on 8001."""
    settings.STREAM_URL, settings.STREAM_PORT = "", "8001"


def test_the_page_names_the_stream_on_the_requests_host_and_allows_it(client, split):
    response = client.get("/trade/", HTTP_HOST="localhost:8000")
    assert '<meta name="stream-url" content="ws://localhost:8001/ws/v1/">' in response.content.decode()
    assert "connect-src 'self' ws://localhost:8001;" in response["Content-Security-Policy"]


def test_a_websocket_client_of_the_web_port_is_sent_to_the_stream(client, split):
    response = client.get("/ws/v1/", HTTP_HOST="127.0.0.1:8000")
    assert response.status_code == 307
    assert response["Location"] == "ws://127.0.0.1:8001/ws/v1/"


def test_behind_tls_the_stream_is_wss(client, split, settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    response = client.get("/ws/v1/", HTTP_HOST="[::1]:8000", HTTP_X_FORWARDED_PROTO="https")
    assert response["Location"] == "wss://[::1]:8001/ws/v1/"


def test_an_explicit_stream_url_wins(client, settings):
    settings.STREAM_URL, settings.STREAM_PORT = "wss://stream.example/ws/v1/", "8001"
    assert client.get("/ws/v1/")["Location"] == "wss://stream.example/ws/v1/"
    page = client.get("/trade/")
    assert "connect-src 'self' wss://stream.example;" in page["Content-Security-Policy"]


@pytest.mark.parametrize("port", ["", "80"])
def test_one_server_for_everything_keeps_the_stream_on_its_own_origin(client, settings, port):
    """STREAM_PORT unset, or the port the request came to: the page's own origin, and a plain HTTP
    request for the stream is told to upgrade rather than redirected to itself."""
    settings.STREAM_URL, settings.STREAM_PORT = "", port
    page = client.get("/trade/")
    assert '<meta name="stream-url" content="ws://testserver/ws/v1/">' in page.content.decode()
    assert "connect-src 'self';" in page["Content-Security-Policy"]
    answer = client.get("/ws/v1/")
    assert answer.status_code == 426
    assert answer.json()["error"]["code"] == "upgrade_required"


@pytest.mark.parametrize(
    ("stream_port", "server_port", "path", "status"),
    [
        ("8001", 8001, "/api/v1/markets", 421),  # REST sent to the stream process
        ("8001", 8001, "/healthz", 200),  # its probes answer
        ("8001", 8001, "/readyz", 200),
        ("8001", 8000, "/api/v1/markets", 200),  # another port of an ASGI server: not the stream's
        ("", 8001, "/api/v1/markets", 200),  # one ASGI server for everything
    ],
)
def test_the_stream_port_answers_http_probes_only(settings, stream_port, server_port, path, status):
    import asyncio

    from channels.testing import HttpCommunicator

    from apps.core.asgi import stream_port_http
    from exchange.asgi import django_asgi_app

    settings.STREAM_PORT = stream_port
    communicator = HttpCommunicator(stream_port_http(django_asgi_app), "GET", path)
    communicator.scope["server"] = ("127.0.0.1", server_port)
    response = asyncio.run(communicator.get_response(timeout=10))
    assert response["status"] == status
    if status == 421:
        assert b"misdirected_request" in response["body"]
