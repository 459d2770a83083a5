"""HTTP through the real web process (uvicorn on exchange.asgi, DEBUG off, JSON logs at WARNING).

Workload: for each endpoint, 200 warm-up requests, then 2,000 requests from 16 concurrent keep-alive
connections (a minimal asyncio HTTP/1.1 client) on loopback. Reports throughput and latency
percentiles as the client sees them. The client shares the machine's two cores with the server,
so these are floors, not ceilings.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from bench.common import Figure, percentile

ROOT = Path(__file__).resolve().parent.parent
REQUESTS = 2000
CONCURRENCY = 16
ENDPOINTS = ["/healthz", "/api/v1/time", "/readyz"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_web(port: int) -> subprocess.Popen:
    line = next(x for x in (ROOT / "Procfile").read_text().splitlines() if x.startswith("web:"))
    command = line.split(":", 1)[1].replace("$WEB_HOST", "127.0.0.1").replace("$WEB_PORT", str(port))
    args = shlex.split(command)
    args[0] = str(Path(sys.executable).parent / args[0])
    proc = subprocess.Popen(args, cwd=ROOT, env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"web process did not start: {proc.stderr.read().decode()[-2000:]}")


async def _client(port: int, path: str, count: int, latencies: list[float]) -> None:
    """A minimal keep-alive HTTP/1.1 client: cheap enough that the server, not the load
    generator, is what saturates the two cores (httpx spent more CPU than the server)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/json\r\n\r\n".encode()
    try:
        for _ in range(count):
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = head[9:12]
            length = next(
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            if status != b"200":
                raise RuntimeError(f"{path}: HTTP {status.decode()}")
    finally:
        writer.close()


async def _load(port: int, path: str, total: int) -> tuple[float, list[float]]:
    latencies: list[float] = []
    per_client = total // CONCURRENCY
    started = time.perf_counter()
    await asyncio.gather(*(_client(port, path, per_client, latencies) for _ in range(CONCURRENCY)))
    return time.perf_counter() - started, latencies


def run() -> list[Figure]:
    port = _free_port()
    proc = _start_web(port)
    figures = []
    try:
        for path in ENDPOINTS:
            asyncio.run(_load(port, path, 200))
            elapsed, latencies = asyncio.run(_load(port, path, REQUESTS))
            ms = [x * 1000 for x in latencies]
            figures += [
                Figure(f"GET {path} throughput", REQUESTS / elapsed, "req/s"),
                Figure(f"GET {path} p50", percentile(ms, 50), "ms"),
                Figure(f"GET {path} p99", percentile(ms, 99), "ms"),
            ]
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    return figures
