"""The ASGI server at its edge (the Procfile's `stream:` uvicorn, serving REST and WebSockets on one
port here), over real sockets: a graceful stop after
refused and dropped WebSockets, the WebSocket origin policy (bots without Origin are let in), the
client address behind a proxy (FORWARDED_ALLOW_IPS), and the size caps on bodies and frames."""

from __future__ import annotations

import asyncio
import json
import re
import shlex
import signal
import socket
import subprocess
import time
import uuid

import httpx
import pytest
import websockets
from django.conf import settings

from apps.accounts.signing import ApiKeyAuth
from tests.support import ROOT, WebServer

# The users these tests register through the web process are in the test database: flushed after each.
pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

FOREIGN = "http://evil.example"


def procfile_flag(name: str) -> str:
    stream = next(line for line in (ROOT / "Procfile").read_text().splitlines() if line.startswith("stream:"))
    args = shlex.split(stream)
    return args[args.index(name) + 1]


def ws_url(server) -> str:
    return f"ws://127.0.0.1:{server.port}/ws/v1/"


def handshake(port: int, origin: str | None) -> bytes:
    """One WebSocket handshake on a raw socket; the status line of the answer. The socket is then
    closed at once, as a client that gives up would."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(
            (
                f"GET /ws/v1/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                + (f"Origin: {origin}\r\n" if origin else "")
                + "\r\n"
            ).encode()
        )
        return sock.recv(4096).split(b"\r\n", 1)[0]


@pytest.fixture
def user_access(web_server):
    """A registered user's JWT access token, through the web process."""
    name = f"edge{uuid.uuid4().hex[:8]}"
    password = "a-long-unusual-passphrase-7"
    with httpx.Client(base_url=web_server.base_url, timeout=10) as http:
        registered = http.post(
            "/api/v1/auth/register", json={"email": f"{name}@example.com", "username": name, "password": password}
        )
        assert registered.status_code == 201, registered.text
        return http.post("/api/v1/auth/login", json={"username": name, "password": password}).json()["access"]


# -- graceful stop -----------------------------------------------------------------------------------


def test_sigterm_after_refused_and_dropped_websockets_stops_well_within_the_timeout(live_env, process_log_dir):
    """Refused handshakes (a foreign Origin) and connections the client drops right after the
    handshake used to leave a channel-layer read behind that never ended: uvicorn then waited for
    it on SIGTERM until killed. The Procfile's graceful-shutdown timeout is only the backstop."""
    timeout = float(procfile_flag("--timeout-graceful-shutdown"))
    assert timeout <= 10
    server = WebServer(live_env, process_log_dir)
    try:
        for _ in range(10):
            assert handshake(server.port, FOREIGN) == b"HTTP/1.1 403 Forbidden"
            assert handshake(server.port, server.base_url) == b"HTTP/1.1 101 Switching Protocols"
        time.sleep(0.5)
        started = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        try:
            server.proc.wait(timeout=timeout + 5)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the web process ignored SIGTERM:\n{server.output()}")
        elapsed = time.monotonic() - started
        assert elapsed < timeout / 3, f"stopped after {elapsed:.1f}s, waiting on its connections:\n{server.output()}"
        assert "timeout graceful shutdown exceeded" not in server.output()
    finally:
        server.stop()


# -- origin policy -----------------------------------------------------------------------------------


def test_a_client_without_origin_connects_authenticates_and_subscribes(web_server, user_access):
    """A bot (Python websockets, ccxt.pro, Node ws) sends no Origin: it is let in and acts as the
    user it authenticates as."""

    async def scenario():
        async with websockets.connect(ws_url(web_server)) as ws:  # no origin= : no Origin header
            await ws.send(json.dumps({"op": "ping"}))
            assert json.loads(await asyncio.wait_for(ws.recv(), 10)) == {"type": "pong"}
            await ws.send(json.dumps({"op": "auth", "token": user_access}))
            assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "authenticated"
            await ws.send(json.dumps({"op": "subscribe", "channel": "orders"}))
            assert json.loads(await asyncio.wait_for(ws.recv(), 10)) == {"type": "subscribed", "channel": "orders"}

    asyncio.run(scenario())


@pytest.mark.parametrize("origin", [FOREIGN, "null", "http://127.0.0.1.evil.example", "http://[::1"])
def test_a_browser_page_of_another_origin_is_refused_with_the_error_envelope(web_server, origin):
    async def scenario():
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with websockets.connect(ws_url(web_server), origin=origin):
                pass
        response = refused.value.response
        assert response.status_code == 403
        assert json.loads(response.body)["error"]["code"] == "origin_not_allowed"

    asyncio.run(scenario())


def test_a_browser_page_of_our_own_origin_connects(web_server):
    async def scenario():
        async with websockets.connect(ws_url(web_server), origin=web_server.base_url) as ws:
            await ws.send(json.dumps({"op": "ping"}))
            assert json.loads(await asyncio.wait_for(ws.recv(), 10)) == {"type": "pong"}

    asyncio.run(scenario())


# -- client address behind a proxy -------------------------------------------------------------------


def test_forwarded_for_is_believed_only_from_the_trusted_proxy(web_server, live_env, process_log_dir):
    """What address a view sees (the API-key allowlist decides on it), with FORWARDED_ALLOW_IPS unset
    (uvicorn trusts loopback 127.0.0.1 only) and set to a proxy's address (127.0.0.2 here)."""
    name = f"fwd{uuid.uuid4().hex[:8]}"
    password = "a-long-unusual-passphrase-7"
    forwarded = {"X-Forwarded-For": "203.0.113.7"}
    default = web_server
    with WebServer({**live_env, "FORWARDED_ALLOW_IPS": "127.0.0.2"}, process_log_dir) as configured:
        with httpx.Client(base_url=default.base_url, timeout=10) as http:
            http.post("/api/v1/auth/register", json={"email": f"{name}@example.com", "username": name,
                                                     "password": password})  # fmt: skip
            access = http.post("/api/v1/auth/login", json={"username": name, "password": password}).json()
            keys = {}
            for label, allowlist in (("client", ["203.0.113.0/24"]), ("proxy", ["127.0.0.2/32"])):
                created = http.post(
                    "/api/v1/account/api-keys",
                    json={"label": label, "permissions": ["read"], "ip_allowlist": allowlist},
                    headers={"Authorization": f"Bearer {access['access']}"},
                )
                assert created.status_code == 201, created.text
                keys[label] = ApiKeyAuth(created.json()["key"], created.json()["secret"])

        def status(server, peer: str, key: str) -> int:
            transport = httpx.HTTPTransport(local_address=peer)
            with httpx.Client(base_url=server.base_url, transport=transport, auth=keys[key], timeout=10) as c:
                return c.get("/api/v1/account", headers=forwarded).status_code

        # Unset: a proxy on 127.0.0.2 is not believed; the view sees the proxy, not the client.
        assert status(default, "127.0.0.1", "client") == 200
        assert status(default, "127.0.0.2", "client") == 403
        assert status(default, "127.0.0.2", "proxy") == 200
        # Set to the proxy's address: the client's address comes through, from that proxy only.
        assert status(configured, "127.0.0.2", "client") == 200
        assert status(configured, "127.0.0.2", "proxy") == 403
        assert status(configured, "127.0.0.1", "client") == 403


# -- size caps ---------------------------------------------------------------------------------------


def read_response(sock: socket.socket) -> tuple[int, dict]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before an answer: {data!r}"
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    length = int(re.search(rb"(?i)content-length: (\d+)", head).group(1))
    while len(body) < length:
        body += sock.recv(65536)
    return int(head.split(b" ", 2)[1]), json.loads(body[:length])


def test_a_declared_body_over_the_limit_is_refused_before_it_is_read(web_server):
    """100 MB announced to an endpoint that takes no body: 413 at once, after the first 64 KiB."""
    with socket.create_connection(("127.0.0.1", web_server.port), timeout=10) as sock:
        started = time.monotonic()
        sock.sendall(
            b"POST /api/v1/markets HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100000000\r\n\r\n" + b"x" * 65536
        )
        status, body = read_response(sock)
        assert time.monotonic() - started < 2
    assert status == 413
    assert body["error"]["code"] == "payload_too_large"
    assert body["error"]["details"]["max_bytes"] == settings.REQUEST_BODY_MAX_BYTES


def test_a_chunked_body_is_refused_as_soon_as_it_passes_the_limit(web_server):
    """No Content-Length: the bytes are counted as they arrive, and the answer comes before the
    body ends (Django alone would wait for the last chunk)."""
    chunk = b"x" * 65536
    frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    with socket.create_connection(("127.0.0.1", web_server.port), timeout=10) as sock:
        sock.sendall(
            b"POST /api/v1/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        for _ in range(settings.REQUEST_BODY_MAX_BYTES // len(chunk) + 2):
            sock.sendall(frame)
        status, body = read_response(sock)  # the terminating chunk was never sent
    assert status == 413
    assert body["error"]["code"] == "payload_too_large"
    # A chunked body within the limit is passed on: the view answers (DRF reads no body without a
    # Content-Length, hence "required" fields rather than a wrong password).
    login = json.dumps({"username": "nobody-here", "password": "not-the-password"}).encode()
    response = httpx.post(
        f"{web_server.base_url}/api/v1/auth/login",
        content=iter([login[:10], login[10:]]),  # an iterator: sent chunked, without Content-Length
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert "content-length" not in response.request.headers
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_request"


def test_identity_documents_may_be_larger_than_other_bodies(web_server):
    """The KYC submission takes up to three documents: a body over the general limit still reaches
    the view (anonymous here: 401), and one over the submission's own limit does not."""
    kyc_limit = settings.REQUEST_BODY_PATH_LIMITS["/api/v1/kyc/submissions"]
    assert kyc_limit >= 3 * settings.KYC_MAX_FILE_BYTES
    body = b"x" * (settings.REQUEST_BODY_MAX_BYTES + 1024 * 1024)
    response = httpx.post(
        f"{web_server.base_url}/api/v1/kyc/submissions",
        content=body,
        headers={"Content-Type": "multipart/form-data; boundary=b"},
        timeout=30,
    )
    assert response.status_code == 401, response.text
    with socket.create_connection(("127.0.0.1", web_server.port), timeout=10) as sock:
        sock.sendall(
            b"POST /api/v1/kyc/submissions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: multipart/form-data; boundary=b\r\n" + f"Content-Length: {kyc_limit + 1}\r\n\r\n".encode()
        )
        status, body = read_response(sock)
    assert status == 413
    assert body["error"]["details"]["max_bytes"] == kyc_limit


def test_websocket_frames_over_the_server_cap_close_the_connection_and_4_kib_messages_work(web_server):
    """uvicorn's default would buffer frames up to 16 MiB for the app to refuse anything over 4 KiB."""

    async def scenario():
        async with websockets.connect(ws_url(web_server)) as ws:
            ping = json.dumps({"op": "ping", "pad": ""})
            await ws.send(json.dumps({"op": "ping", "pad": "x" * (4096 - len(ping))}))
            assert json.loads(await asyncio.wait_for(ws.recv(), 10)) == {"type": "pong"}
            # Over the app's 4 KiB but under the server's cap: the app's error, the socket stays.
            await ws.send(json.dumps({"op": "ping", "pad": "x" * 5000}))
            assert json.loads(await asyncio.wait_for(ws.recv(), 10))["code"] == "invalid_message"
            await ws.send(json.dumps({"op": "ping", "pad": "x" * 65536}))
            with pytest.raises(websockets.ConnectionClosedError):
                await asyncio.wait_for(ws.recv(), 10)
            assert ws.close_code == 1009  # message too big

    asyncio.run(scenario())
    # Every message the app accepts (4,096 characters, up to 4 bytes each in UTF-8) fits under the cap.
    assert 4096 * 4 <= int(procfile_flag("--ws-max-size")) <= 65536
