"""The processes supervisord runs under `make run` (tools/supervise.py), as /readyz and /metrics show them.

supervisord gives each child SUPERVISOR_SERVER_URL (its XML-RPC socket); where that is unset (docker-compose,
Kubernetes, the tests' own processes) nothing here is reported and the platform's own restart policy
applies. The restart counts come from the event listener of tools/supervise.py, which keeps them in Redis.
"""

from __future__ import annotations

import http.client
import os
import socket
import time
import xmlrpc.client
from urllib.parse import quote

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from apps.core.redis import get_redis

RESTARTS_KEY = "exchange:supervisor:restarts"  # the keys tools/supervise.py's listener writes
LAST_EXIT_KEY = "exchange:supervisor:last_exit"
LISTENER = "process_events"
# supervisord answers from memory in a millisecond; a probe must never hang on it.
TIMEOUT_SECONDS = 2.0


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str):
        super().__init__("localhost", timeout=TIMEOUT_SECONDS)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(TIMEOUT_SECONDS)
        self.sock.connect(self.path)


class _Transport(xmlrpc.client.Transport):
    def __init__(self, server_url: str):
        super().__init__()
        self.server_url = server_url

    def make_connection(self, host):
        # get_host_info turns user:password@ into the Authorization header (as the base class does).
        chost, self._extra_headers, _ = self.get_host_info(host)
        if self.server_url.startswith("unix://"):
            return _UnixHTTPConnection(self.server_url.removeprefix("unix://"))
        return http.client.HTTPConnection(chost, timeout=TIMEOUT_SECONDS)


def server_url() -> str | None:
    return os.environ.get("SUPERVISOR_SERVER_URL") or None


def _process_info(url: str) -> list[dict]:
    host = "localhost" if url.startswith("unix://") else url.removeprefix("http://")
    username, password = os.environ.get("SUPERVISOR_USERNAME"), os.environ.get("SUPERVISOR_PASSWORD")
    if username and password:  # xmlrpc.client sends user:password@ as basic auth
        host = f"{quote(username, safe='')}:{quote(password, safe='')}@{host}"
    proxy = xmlrpc.client.ServerProxy(f"http://{host}/RPC2", transport=_Transport(url))
    return proxy.supervisor.getAllProcessInfo()


def processes(*, read_redis: bool = True) -> dict[str, dict] | None:
    """Each supervised process: its state (RUNNING, STARTING, BACKOFF, EXITED, FATAL), pid, uptime,
    how often it was restarted since `make run` started and its last exit. None when not supervised;
    {"error": ...} when supervisord does not answer (reported, never raised: a probe must answer).
    With `read_redis` false (Redis known down) the restart counts are left out rather than waited for."""
    url = server_url()
    if url is None:
        return None
    try:
        infos = _process_info(url)
    except Exception as exc:  # noqa: BLE001 - a probe answers whatever supervisord does
        return {"error": f"{type(exc).__name__}: {exc}"[:200]}
    restarts, last_exit = {}, {}
    try:
        if read_redis:
            redis = get_redis()
            restarts = {k: int(v) for k, v in redis.hgetall(RESTARTS_KEY).items()}
            last_exit = redis.hgetall(LAST_EXIT_KEY)
    except Exception:  # noqa: BLE001, S110 - Redis down is reported by its own check; the states still are
        pass
    now = time.time()
    report = {}
    for info in infos:
        name = info["name"]
        if name == LISTENER:
            continue
        running = info["statename"] == "RUNNING"
        report[name] = {
            "state": info["statename"],
            "pid": info["pid"] or None,
            "uptime_seconds": round(now - info["start"], 1) if running and info["start"] else None,
            "restarts": restarts.get(name, 0),
            "last_exit": _describe_exit(last_exit.get(name)),
        }
    return report


def _describe_exit(raw: str | None) -> dict | None:
    if not raw:
        return None
    epoch, _, detail = raw.partition(" ")
    return {"seconds_ago": round(time.time() - int(epoch), 1), "detail": detail}


class SupervisedProcessCollector(Collector):
    """exchange_process_up{process} and exchange_process_restarts{process}, read from supervisord
    at scrape time (registered only when the web process runs under it)."""

    def collect(self):
        report = processes()
        up = GaugeMetricFamily(
            "exchange_process_up", "1 when supervisord reports the process RUNNING", labels=["process"]
        )
        restarts = GaugeMetricFamily(
            "exchange_process_restarts",
            "Times supervisord restarted the process since `make run` started",
            labels=["process"],
        )
        if report and "error" not in report:
            for name, state in report.items():
                up.add_metric([name], 1.0 if state["state"] == "RUNNING" else 0.0)
                restarts.add_metric([name], float(state["restarts"]))
        yield up
        yield restarts

    def describe(self):
        return []  # collected at scrape time only: nothing is read at registration
