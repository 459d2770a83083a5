"""Shared pieces of the benchmarks: figures, percentiles, the web process and a load generator."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
CONCURRENCY = 16


@dataclass(frozen=True)
class Figure:
    name: str
    value: float
    unit: str


def percentile(samples: list[float], q: float) -> float:
    """The q-th percentile (0..100) by the inclusive method."""
    return statistics.quantiles(samples, n=100, method="inclusive")[int(q) - 1] if q < 100 else max(samples)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class CpuMeter:
    """CPU seconds (user + system) spent by each part of the stack over a measured interval, so a
    figure can say where an order's cost goes: unlike a rate, CPU time per unit of work hardly moves
    when something else loads the machine. Parts: a server process and its workers (`add`), and the
    embedded PostgreSQL and Redis of tools/devstack.py (processes working in `var/`; servers given by
    URL elsewhere are not counted, and say so by their absence). Processes are looked up again at
    each reading: a database backend started during the interval counts with all of its time."""

    def __init__(self):
        self.roots: dict[str, int] = {}

    def add(self, name: str, pid: int) -> CpuMeter:
        self.roots[name] = pid
        return self

    def _processes(self) -> list[tuple[str, object]]:
        """(part, process) pairs. A PostgreSQL backend is named after the part whose connection it
        serves ("PostgreSQL for web"), found by the client's port."""
        import psutil

        found, clients = [], {}
        for name, pid in self.roots.items():
            with contextlib.suppress(psutil.Error):
                process = psutil.Process(pid)
                for p in (process, *process.children(recursive=True)):
                    found.append((name, p))
                    with contextlib.suppress(psutil.Error):
                        clients.update({c.laddr.port: name for c in p.net_connections("tcp") if c.laddr})
        var = str(ROOT / "var")
        for process in psutil.process_iter(["name"]):
            name = process.info["name"] or ""
            part = "PostgreSQL" if name.startswith("postgres") else "Redis" if name.startswith("redis") else None
            with contextlib.suppress(psutil.Error):
                if part is None or not process.cwd().startswith(var):  # backends work in the data directory
                    continue
                if part == "PostgreSQL":
                    ports = [c.raddr.port for c in process.net_connections("tcp") if c.raddr]
                    owner = next((clients[port] for port in ports if port in clients), None)
                    part = f"PostgreSQL for {owner}" if owner else "PostgreSQL, other"
                found.append((part, process))
        return found

    def reading(self) -> dict[tuple[str, int], float]:
        import psutil

        seconds = {}
        for part, process in self._processes():
            with contextlib.suppress(psutil.Error):
                times = process.cpu_times()
                seconds[part, process.pid] = times.user + times.system
        return seconds

    @staticmethod
    def spent(before: dict, after: dict) -> dict[str, float]:
        """Seconds per part between two readings (a process gone by the second reading is not counted)."""
        parts: dict[str, float] = {}
        for (part, pid), seconds in after.items():
            parts[part] = parts.get(part, 0.0) + seconds - before.get((part, pid), 0.0)
        return parts


class ProcfileProcess:
    """A Procfile command on a free port, for the duration of a `with` block."""

    NAME = ""
    PORT_VARIABLE = ""

    def __init__(self, **env: str):
        self.port = _free_port()
        env.setdefault("STREAM_PORT", "")  # not `make bench`'s 8001: a StreamProcess's port, when given
        # The web process pools its connections, as in production (bench/run.py turns the pool off
        # for the benchmark process itself).
        self.env = {**os.environ, "DATABASE_POOL": "true", **env}

    def command(self) -> str:
        line = next(x for x in (ROOT / "Procfile").read_text().splitlines() if x.startswith(f"{self.NAME}:"))
        return line.split(":", 1)[1].replace("$WEB_HOST", "127.0.0.1").replace(f"${self.PORT_VARIABLE}", str(self.port))

    def __enter__(self):
        args = shlex.split(self.command())
        args[0] = str(Path(sys.executable).parent / args[0])
        # A file, not a pipe: nobody reads the log while the benchmark runs, and a full pipe would
        # block the server's next log line (a connection opened, say) and with it the server.
        self.log = tempfile.TemporaryFile()
        # A session of its own: gunicorn and uvicorn (--workers > 1) fork workers, stopped with it.
        self.proc = subprocess.Popen(args, cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL, stderr=self.log,
                                     start_new_session=True)  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        self.proc.kill()
        self.log.seek(0)
        raise RuntimeError(f"{self.NAME} process did not start: {self.log.read().decode()[-2000:]}")

    def __exit__(self, *exc) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:  # still closing sockets gracefully: enough
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # any worker left behind
        self.log.close()


class WebProcess(ProcfileProcess):
    """The Procfile's web pool (gunicorn, WEB_CONCURRENCY workers, default 2): REST, not WebSockets.
    Pass STREAM_PORT to have it send WebSocket clients to a StreamProcess."""

    NAME, PORT_VARIABLE = "web", "WEB_PORT"


class StreamProcess(ProcfileProcess):
    """The Procfile's stream process (uvicorn on exchange.asgi, STREAM_CONCURRENCY workers, default 1):
    the WebSockets, measured apart from REST. It answers HTTP too (its `/healthz` says it is up)."""

    NAME, PORT_VARIABLE = "stream", "STREAM_PORT"

    def __init__(self, **env: str):
        env.setdefault("STREAM_CONCURRENCY", "1")
        super().__init__(**env)
        # As in production: on its own port its HTTP is the probes only (apps.core.asgi.StreamPortHTTP).
        self.env["STREAM_PORT"] = str(self.port)

    def command(self) -> str:
        return super().command().replace("$STREAM_CONCURRENCY", self.env["STREAM_CONCURRENCY"])

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/v1/"


HeaderFactory = Callable[[str], dict[str, str]]


async def _client(port: int, path: str, count: int, latencies: list[float], headers: HeaderFactory | None) -> None:
    """A minimal keep-alive HTTP/1.1 GET client: cheap enough that the server, not the load
    generator, is what saturates the two cores (httpx spent more CPU than the server)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    fixed = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/json\r\n"
    try:
        for _ in range(count):
            extra = "".join(f"{k}: {v}\r\n" for k, v in headers(path).items()) if headers else ""
            started = time.perf_counter()
            writer.write(f"{fixed}{extra}\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            status = head[9:12]
            length = next(
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            body = await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            if status != b"200":
                raise RuntimeError(f"{path}: HTTP {status.decode()} {body[:200]!r}")
    finally:
        writer.close()


async def _load(
    port: int, path: str, total: int, headers: HeaderFactory | None, concurrency: int = CONCURRENCY
) -> tuple[float, list[float]]:
    latencies: list[float] = []
    started = time.perf_counter()
    await asyncio.gather(*(_client(port, path, total // concurrency, latencies, headers) for _ in range(concurrency)))
    return time.perf_counter() - started, latencies


def measure_get(
    port: int,
    path: str,
    label: str,
    total: int = 2000,
    warmup: int = 200,
    headers: HeaderFactory | None = None,
    concurrency: int = CONCURRENCY,
) -> list[Figure]:
    """Throughput and latency percentiles of `total` GETs from `concurrency` keep-alive connections."""
    asyncio.run(_load(port, path, warmup, headers, concurrency))
    elapsed, latencies = asyncio.run(_load(port, path, total, headers, concurrency))
    ms = [x * 1000 for x in latencies]
    return [
        Figure(f"{label} throughput", total / elapsed, "req/s"),
        Figure(f"{label} p50", percentile(ms, 50), "ms"),
        Figure(f"{label} p99", percentile(ms, 99), "ms"),
    ]


def in_throwaway_database(measure: Callable[[dict], list[Figure]]) -> list[Figure]:
    """measure(settings_dict) in a fresh, migrated database of its own, dropped afterwards (the
    settings name it for child processes: tests.support.database_url)."""
    from django.db import connection

    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    _forget_market_keys()
    try:
        return measure(connection.settings_dict)
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
        _forget_market_keys()


def _forget_market_keys() -> None:
    """A fresh database needs a fresh Redis too: a book cache or a stream left by another benchmark
    would be taken for this database's (the price band reads its reference price from the cache)."""
    from apps.core.redis import get_redis

    client = get_redis()
    for pattern in ("exchange:orders:*", "exchange:book:*"):
        keys = list(client.scan_iter(pattern, count=1000))
        if keys:
            client.delete(*keys)


def btc_usdt_traders(prefix: str, count: int):
    """The BTC-USDT market and `count` verified pro-tier users (password "bench-password-123"),
    each funded with 1,000 BTC and 100,000,000 USDT through the ledger."""
    import datetime as dt
    from decimal import Decimal

    from apps.accounts.models import User
    from apps.kyc.models import Submission
    from apps.markets import services as market_services
    from apps.wallets import ledger
    from apps.wallets.models import Account, Currency

    for code, decimals in (("BTC", 8), ("USDT", 6)):
        Currency.objects.create(code=code, name=code, decimals=decimals)
    market_services.create_market(base="BTC", quote="USDT", tick_size=Decimal("0.01"), lot_size=Decimal("0.0001"))
    users = []
    for i in range(count):
        user = User.objects.create_user(f"{prefix}-{i}", f"{prefix}{i}@bench.local", "bench-password-123", tier="pro")
        Submission.objects.create(user=user, status="approved", full_name="B", country="DE", document_number="B",
                                  date_of_birth=dt.date(1990, 1, 1), document_type="passport")  # fmt: skip
        for code, amount in (("BTC", Decimal(1000)), ("USDT", Decimal(100_000_000))):
            ledger.post(kind="deposit", idempotency_key=f"{prefix}:{user.pk}:{code}", legs=[
                ledger.Leg(ledger.system_account(Account.Kind.HOT, code), -amount),
                ledger.Leg(ledger.user_account(user, code), amount)])  # fmt: skip
        users.append(user)
    return users
