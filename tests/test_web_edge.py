"""The web process at its edge, over real sockets against the Procfile's uvicorn: a graceful stop after
refused and dropped WebSockets, the WebSocket origin policy (bots without Origin are let in), the
client address behind a proxy (FORWARDED_ALLOW_IPS), and the size caps on bodies and frames."""

from __future__ import annotations

import asyncio
import json
import shlex
import signal
import socket
import subprocess
import time
import uuid

import httpx
import pytest
import websockets

from tests.support import ROOT, WebServer

# The users these tests register through the web process are in the test database: flushed after each.
pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

FOREIGN = "http://evil.example"


def procfile_flag(name: str) -> str:
    web = next(line for line in (ROOT / "Procfile").read_text().splitlines() if line.startswith("web:"))
    args = shlex.split(web)
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


@pytest.mark.parametrize("origin", [FOREIGN, "null", "http://127.0.0.1.evil.example"])
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
