"""The site's reads: readiness of the stores, the last Celery heartbeat and the chains' breakers."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass

import psycopg
from django.conf import settings
from django.db import connection
from django.utils import timezone
from psycopg_pool import PoolTimeout

from apps.core import supervision
from apps.core.fields import format_time
from apps.core.redis import get_redis
from apps.core.services import HEARTBEAT_KEY
from apps.wallets import selectors as wallet_selectors
from exchange.postgresql.base import forget_checks


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    latency_ms: float
    error: str | None = None

    def as_dict(self) -> dict:
        data = {"ok": self.ok, "latency_ms": round(self.latency_ms, 2)}
        if self.error:
            data["error"] = self.error
        return data


def _timed(check) -> CheckResult:
    started = time.perf_counter()
    try:
        check()
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready", named in the answer
        return CheckResult(False, (time.perf_counter() - started) * 1000, f"{type(exc).__name__}: {exc}"[:300])
    return CheckResult(True, (time.perf_counter() - started) * 1000)


def check_postgres() -> CheckResult:
    def probe():
        pool = connection.pool
        if pool is not None:
            # Borrow with the probe's own budget, not the pool's request timeout: a probe must
            # answer 503 within seconds when PostgreSQL is down. The pool checks the connection.
            pool.open(wait=False)
            try:
                with pool.connection(timeout=settings.READINESS_TIMEOUT_SECONDS) as conn:
                    conn.execute("SELECT 1").fetchone()
            except PoolTimeout:
                raise  # none to lend within the probe's budget: PostgreSQL is down
            except psycopg.OperationalError:
                # A connection lent unchecked (checked within the last second) whose server went
                # away: every connection is checked again from now on; a second one says.
                forget_checks()
                with pool.connection(timeout=settings.READINESS_TIMEOUT_SECONDS) as conn:
                    conn.execute("SELECT 1").fetchone()
            return
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
                cursor.fetchone()
        except Exception:
            # Drop a broken connection so the next request reconnects instead of reusing it.
            connection.close()
            raise

    return _timed(probe)


def check_redis() -> CheckResult:
    return _timed(lambda: get_redis().ping())


def celery_heartbeat() -> dict:
    """When the beat-scheduled heartbeat last ran on a worker, and whether that is recent."""
    try:
        data = get_redis().hgetall(HEARTBEAT_KEY)
    except Exception:  # noqa: BLE001 - Redis being down is reported by check_redis
        data = {}
    if not data:
        return {"last_beat": None, "age_seconds": None, "healthy": False}
    last = dt.datetime.fromtimestamp(float(data["epoch"]), tz=dt.UTC)
    age = (timezone.now() - last).total_seconds()
    return {
        "last_beat": format_time(last),
        "age_seconds": round(age, 1),
        "worker": data.get("worker"),
        "healthy": age <= 3 * settings.HEARTBEAT_INTERVAL_SECONDS,
    }


def readiness() -> tuple[bool, dict]:
    checks = {"postgres": check_postgres(), "redis": check_redis()}
    ready = all(result.ok for result in checks.values())
    report = {
        "checks": {name: result.as_dict() for name, result in checks.items()},
        "failing": [name for name, result in checks.items() if not result.ok],
        "celery": celery_heartbeat(),
        # Read from both stores: only when both answered (a dead one would stall the probe).
        "chain": wallet_selectors.chain_breakers() if ready else {},
    }
    # Under `make run`: each supervised process's state and restarts (reported, not failing readiness:
    # the web process serves while supervisord brings a crashed matcher or worker back).
    supervised = supervision.processes(read_redis=checks["redis"].ok)
    if supervised is not None:
        report["processes"] = supervised
    return ready, report
