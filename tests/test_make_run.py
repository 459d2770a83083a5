"""The real `make run`: a process killed with SIGKILL comes back by itself, nothing accepted is lost,
and Ctrl-C still stops everything.

`make run` runs here as an operator runs it (the Makefile, tools/supervise.py, supervisord, the
Procfile), on a database of its own on the test server and a Redis database of its own, with its own
ports and var/ directory."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from decimal import Decimal

import httpx
import psycopg
import pytest
import redis
import websockets
from django.conf import settings

from tests.support import ROOT, database_url, free_port

pytestmark = pytest.mark.integration

REDIS_DB = 6  # none of the suite's (1), bench's (2) or devstack's tests' (3)
RESTART_BUDGET_SECONDS = 20


def _admin_url(settings_dict: dict) -> str:
    return database_url({**settings_dict, "NAME": "postgres"}).replace("postgres://", "postgresql://", 1)


@pytest.fixture
def run_database(django_db_setup, django_db_blocker):
    """A database of its own on the test server, dropped afterwards."""
    with django_db_blocker.unblock():
        from django.db import connection

        settings_dict = dict(connection.settings_dict)
    name = f"exchange_make_run_{os.getpid()}"
    with psycopg.connect(_admin_url(settings_dict), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    yield database_url({**settings_dict, "NAME": name})
    with psycopg.connect(_admin_url(settings_dict), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class MakeRun:
    def __init__(self, tmp_path, database: str):
        self.var = tmp_path / "var"
        self.web = f"http://127.0.0.1:{free_port()}"
        self.stream_port = free_port()
        self.redis_url = settings.REDIS_URL.rsplit("/", 1)[0] + f"/{REDIS_DB}"
        redis.Redis.from_url(self.redis_url).flushdb()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MAKE", "MFLAGS", "PYTEST_"))}
        # `make test` exports these for the suite; `make run` sets its own when they are unset.
        for key in ("DEBUG", "EXCHANGE_SANDBOX"):
            env.pop(key, None)
        env.update(
            DATABASE_URL=database,
            REDIS_URL=self.redis_url,
            EXCHANGE_VAR_DIR=str(self.var),
            WEB_PORT=self.web.rsplit(":", 1)[1],
            STREAM_PORT=str(self.stream_port),
            FLOWER_PORT=str(free_port()),
            MATCHER_METRICS_PORT=str(free_port()),
            HEARTBEAT_INTERVAL_SECONDS="2",
            PYTHONUNBUFFERED="1",
        )
        self.log_path = tmp_path / "make-run.log"
        self._log = self.log_path.open("wb")
        # A session of its own: Ctrl-C is simulated as the terminal sends it, to the whole group.
        self.proc = subprocess.Popen(
            ["make", "--no-print-directory", "run"],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-6000:]

    def wait_for(self, predicate, timeout: float, what: str):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                code = self.proc.returncode
                raise AssertionError(f"make run exited with {code} waiting for {what}:\n{self.output()}")
            try:
                result = predicate()
            except (httpx.HTTPError, OSError, KeyError, ValueError):
                result = None
            if result:
                return result
            time.sleep(0.25)
        raise AssertionError(f"{what}: not within {timeout}s\n{self.output()}")

    def readyz(self) -> dict:
        return httpx.get(f"{self.web}/readyz", timeout=5).json()

    def processes(self) -> dict:
        return self.readyz()["processes"]

    def all_running(self):
        processes = self.processes()
        if set(processes) >= {"web", "stream", "matcher", "worker", "beat", "flower"} and all(
            p["state"] == "RUNNING" for p in processes.values()
        ):
            return processes
        return None

    def ping_through_the_web_port(self) -> dict:
        """A WebSocket client told only the web address: redirected to the stream process (307)."""

        async def ping():
            async with websockets.connect(f"ws://127.0.0.1:{self.web.rsplit(':', 1)[1]}/ws/v1/") as ws:
                await ws.send(json.dumps({"op": "ping"}))
                return json.loads(await asyncio.wait_for(ws.recv(), 10))

        return asyncio.run(ping())

    def login(self, username: str) -> httpx.Client:
        password = json.loads((self.var / "demo-credentials.json").read_text())[username]
        answer = httpx.post(f"{self.web}/api/v1/auth/login", json={"username": username, "password": password})
        assert answer.status_code == 200, answer.text
        token = answer.json()["access"]
        return httpx.Client(base_url=f"{self.web}/api/v1", headers={"Authorization": f"Bearer {token}"})

    def interrupt(self, timeout: float = 90) -> int:
        os.killpg(self.proc.pid, signal.SIGINT)
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            self._log.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                self.interrupt()
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def _kill9(pid: int) -> float:
    os.kill(pid, signal.SIGKILL)
    return time.monotonic()


def _restarted(stack: MakeRun, name: str, old_pid: int):
    state = stack.processes()[name]
    return state if state["state"] == "RUNNING" and state["pid"] not in (None, old_pid) else None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_killed_processes_come_back_and_nothing_accepted_is_lost(run_database, tmp_path):
    stack = MakeRun(tmp_path, run_database)
    try:
        started = stack.wait_for(stack.all_running, 240, "every process RUNNING in /readyz")
        alice, bob = stack.login("alice"), stack.login("bob")
        order = {"symbol": "BTC-USDT", "type": "limit", "price": "60000.00", "quantity": "0.0100"}

        # The matcher dies; orders accepted meanwhile wait in the stream and are matched when it is back.
        killed_at = _kill9(started["matcher"]["pid"])
        sell = alice.post("/orders", json={**order, "side": "sell", "client_order_id": "mr-sell-1"})
        buy = bob.post("/orders", json={**order, "side": "buy", "client_order_id": "mr-buy-1"})
        assert sell.status_code == 201, sell.text
        assert buy.status_code == 201, buy.text
        matcher = stack.wait_for(
            lambda: _restarted(stack, "matcher", started["matcher"]["pid"]), 60, "the matcher restarted"
        )
        assert time.monotonic() - killed_at < RESTART_BUDGET_SECONDS, "the matcher took too long to come back"
        assert matcher["restarts"] == 1 and "exited" in matcher["last_exit"]["detail"]

        def filled(client, order_id):
            return client.get(f"/orders/{order_id}").json()["status"] == "filled"

        stack.wait_for(lambda: filled(alice, sell.json()["id"]) and filled(bob, buy.json()["id"]), 30, "both filled")

        # The Celery worker dies; it comes back and runs the beat's tasks again.
        killed_at = _kill9(started["worker"]["pid"])
        worker = stack.wait_for(
            lambda: _restarted(stack, "worker", started["worker"]["pid"]), 60, "the worker restarted"
        )
        assert time.monotonic() - killed_at < RESTART_BUDGET_SECONDS, "the worker took too long to come back"
        assert worker["restarts"] == 1
        stack.wait_for(
            lambda: stack.readyz()["celery"]["age_seconds"] < 2 and stack.readyz()["celery"]["healthy"],
            30,
            "a heartbeat run by the restarted worker",
        )

        # The web process dies too; the API answers again, and an order placed now is matched.
        killed_at = _kill9(started["web"]["pid"])
        web = stack.wait_for(lambda: _restarted(stack, "web", started["web"]["pid"]), 60, "the web process restarted")
        assert time.monotonic() - killed_at < RESTART_BUDGET_SECONDS
        assert web["restarts"] == 1
        sell = alice.post("/orders", json={**order, "side": "sell", "client_order_id": "mr-sell-2"})
        buy = bob.post("/orders", json={**order, "side": "buy", "client_order_id": "mr-buy-2"})
        assert sell.status_code == buy.status_code == 201, (sell.text, buy.text)
        stack.wait_for(lambda: filled(alice, sell.json()["id"]) and filled(bob, buy.json()["id"]), 30, "both filled")

        # The stream process dies too; a client of the web port is sent to it again once it is back.
        killed_at = _kill9(started["stream"]["pid"])
        stream = stack.wait_for(
            lambda: _restarted(stack, "stream", started["stream"]["pid"]), 60, "the stream process restarted"
        )
        assert time.monotonic() - killed_at < RESTART_BUDGET_SECONDS
        assert stream["restarts"] == 1
        assert stack.wait_for(lambda: stack.ping_through_the_web_port() == {"type": "pong"}, 30, "a pong")

        # Every fill is in each trader's history and every restart in the metrics; the ledger balances.
        fills = bob.get("/trades", params={"symbol": "BTC-USDT"}).json()["results"]
        assert sum(Decimal(f["quantity"]) for f in fills) == Decimal("0.02")
        metrics = httpx.get(f"{stack.web}/metrics", timeout=5).text
        for name in ("matcher", "worker", "web", "stream"):
            assert f'exchange_process_restarts{{process="{name}"}} 1.0' in metrics
            assert f'exchange_process_up{{process="{name}"}} 1.0' in metrics
        verify = subprocess.run(
            [sys.executable, "manage.py", "verify_ledger"],
            cwd=ROOT,
            env={**os.environ, "DATABASE_URL": run_database, "REDIS_URL": stack.redis_url},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert verify.returncode == 0, verify.stdout + verify.stderr

        # Ctrl-C stops every process and supervisord itself.
        pids = [p["pid"] for p in stack.processes().values()]
        supervisord_pid = int((stack.var / "supervisor" / "supervisord.pid").read_text())
        stack.interrupt()
        assert not [pid for pid in [*pids, supervisord_pid] if _pid_alive(pid)], stack.output()
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{stack.web}/healthz", timeout=2)
    finally:
        stack.stop()
