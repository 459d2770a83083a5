"""Running the Procfile's processes as children: the web pool, the stream server, the matcher and a Celery
worker on free ports, each with its output in a log file. Used by the cross-process tests and by
`manage.py soak`."""

from __future__ import annotations

import os
import shlex
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote, urlencode

import httpx
import kombu.exceptions
import redis.exceptions

ROOT = Path(__file__).resolve().parent.parent.parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def database_url(settings_dict: dict) -> str:
    """A DATABASE_URL for the database Django is using now (the test database in tests)."""
    user = quote(settings_dict.get("USER") or "postgres", safe="")
    password = quote(settings_dict.get("PASSWORD") or "", safe="")
    auth = f"{user}:{password}" if password else user
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or 5432
    options = {k: v for k, v in settings_dict.get("OPTIONS", {}).items() if k in ("sslmode", "sslrootcert")}
    query = f"?{urlencode(options)}" if options else ""
    return f"postgres://{auth}@{host}:{port}/{quote(settings_dict['NAME'], safe='')}{query}"


def process_env(**overrides: str) -> dict[str, str]:
    env = {**os.environ, "DEBUG": "true", "LOG_FORMAT": "json", "PYTHONUNBUFFERED": "1"}
    env.update(overrides)
    return env


class Process:
    """A child process with its output in a log file; stopped (and reaped) on exit."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log_dir: Path):
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = self.log_path.open("wb")
        # The Procfile's own command lines, never user input.
        self.proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT)  # noqa: S603

    def wait_until(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.output()}")
            try:
                if predicate():
                    return
            except (OSError, httpx.HTTPError):
                pass
            time.sleep(0.1)
        raise TimeoutError(f"{self.name}: {what} not within {timeout}s:\n{self.output()}")

    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-5000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()

    def __enter__(self) -> Process:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def procfile_command(name: str, **variables: str) -> list[str]:
    """The Procfile's command line for process `name`, with $VARIABLES filled in."""
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.startswith(f"{name}:"):
            command = line.split(":", 1)[1]
            for key, value in variables.items():
                command = command.replace(f"${key}", value)
            args = shlex.split(command)
            if (BIN / args[0]).exists():
                args[0] = str(BIN / args[0])
            elif args[0] == "env":  # `env VAR=value program ...`
                index = next(i for i, a in enumerate(args[1:], 1) if "=" not in a)
                args[index] = str(BIN / args[index])
            return args
    raise KeyError(name)


def _answers_healthz(base_url: str) -> Callable[[], bool]:
    return lambda: httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200


class StreamServer(Process):
    """The Procfile's stream process (uvicorn on exchange.asgi) on a free port.

    The ASGI application answers HTTP too, so on its own it is one server for everything, REST and
    WebSockets on one port (the form most cross-process tests use: `WebServer`). Its pages then find
    the stream on their own origin, as STREAM_PORT is unset."""

    def __init__(self, env: dict[str, str], log_dir: Path, *, name: str = "stream", workers: int = 1):
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}/ws/v1/"
        env = {**env, "STREAM_PORT": "", "STREAM_URL": ""}
        args = procfile_command(
            "stream", WEB_HOST="127.0.0.1", STREAM_PORT=str(self.port), STREAM_CONCURRENCY=str(workers)
        )
        super().__init__(f"{name}-{self.port}", args, env, log_dir)
        self.wait_until(_answers_healthz(self.base_url), 60, "/healthz answering")


# Most cross-process tests talk REST and WebSockets to one port: the ASGI server serves both.
WebServer = StreamServer


class WebPool(Process):
    """The Procfile's web process (gunicorn on exchange.wsgi, WEB_CONCURRENCY workers) on a free port,
    sending WebSocket clients to the stream server on `stream_port` (none: the web port itself)."""

    def __init__(self, env: dict[str, str], log_dir: Path, *, stream_port: int | None = None, workers: int = 2):
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        env = {**env, "STREAM_PORT": str(stream_port or ""), "WEB_CONCURRENCY": str(workers)}
        args = procfile_command("web", WEB_HOST="127.0.0.1", WEB_PORT=str(self.port))
        super().__init__(f"web-{self.port}", args, env, log_dir)
        self.wait_until(_answers_healthz(self.base_url), 60, "/healthz answering")


class CeleryWorker(Process):
    """The Procfile's Celery worker (prefork), with its own hostname; ready once it answers a ping."""

    def __init__(self, env: dict[str, str], log_dir: Path, app):
        self.hostname = f"test-{os.getpid()}-{free_port()}@localhost"
        args = [*procfile_command("worker"), "--hostname", self.hostname, "--without-mingle", "--without-gossip"]
        super().__init__("celery-worker", args, env, log_dir)

        def answers() -> bool:
            # A connection of its own, not the app's pool: a pooled one may have been closed by
            # Redis since (a test kills Redis clients), and the ping would fail on it.
            try:
                with app.connection_for_write() as connection:
                    return bool(app.control.ping(destination=[self.hostname], timeout=1, connection=connection))
            except (redis.exceptions.RedisError, kombu.exceptions.OperationalError):
                return False

        try:
            self.wait_until(answers, 60, "the worker answering a ping")
        except BaseException:
            self.stop()  # never leave a worker behind: it would answer the next test's pings
            raise


class MatcherProcess(Process):
    """The Procfile's matcher (`run_matcher`), with its own metrics port; ready once it serves metrics."""

    def __init__(self, env: dict[str, str], log_dir: Path, name: str = "matcher"):
        self.metrics_port = free_port()
        env = {**env, "MATCHER_METRICS_PORT": str(self.metrics_port), "MATCHER_DISCOVERY_SECONDS": "0.5",
               "MATCHER_RECOVERY_SECONDS": "1"}  # fmt: skip
        super().__init__(name, procfile_command("matcher"), env, log_dir)
        self.wait_until(self.metrics_text, 60, "the matcher's metrics endpoint")

    def metrics_text(self) -> str:
        return httpx.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=2).text

    def kill9(self) -> None:
        self.proc.kill()  # SIGKILL: no handler runs, no batch is finished
        self.proc.wait()
