"""Django's PostgreSQL backend (settings.DATABASES' ENGINE) with a cheaper check of pooled connections.

psycopg_pool's own check, which Django installs when CONN_HEALTH_CHECKS is on, sends an empty query
before every loan: under gunicorn that is one PostgreSQL round trip per request, a tenth of an order's
CPU in the web process plus a statement's worth of PostgreSQL's. Here a connection that passed a
check within the last RECHECK_SECONDS is lent without a round trip, unless the client already knows
it is broken; one idle for longer (a restart, a proxy's idle timeout, a terminated backend) is checked
as before. A backend that dies within that second fails the request it is lent to (503
`service_unavailable`, as a connection lost in mid-request does), the pool drops it on return, and
from then on every connection is checked again before its next loan (the readiness probe, which
borrows from the pool itself, tries a second connection then). Without a pool (DATABASE_POOL=false)
nothing changes.
"""

from __future__ import annotations

import time
import weakref

from django.db.backends.postgresql import base
from psycopg import pq
from psycopg_pool import ConnectionPool

RECHECK_SECONDS = 1.0

_checked_at: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def check_connection(conn) -> None:
    """Raise if `conn` is not fit to lend (psycopg_pool's `check` callback)."""
    now = time.monotonic()
    if conn.closed or conn.pgconn.status != pq.ConnStatus.OK:
        raise ConnectionError("the connection is closed or broken")
    if now - _checked_at.get(conn, -RECHECK_SECONDS) < RECHECK_SECONDS:
        return
    ConnectionPool.check_connection(conn)
    _checked_at[conn] = now


def forget_checks() -> None:
    """A connection failed in use (PostgreSQL restarted?): every connection is checked again before
    its next loan, however recently it passed."""
    _checked_at.clear()


class DatabaseWrapper(base.DatabaseWrapper):
    @property
    def pool(self):
        pool = super().pool
        # Django makes the pool with psycopg_pool's check (CONN_HEALTH_CHECKS); the pool keeps its
        # callback in `_check` (psycopg_pool 3.2, pinned; test_pool_checks_with_the_cheaper_check).
        if pool is not None and pool._check is ConnectionPool.check_connection:
            pool._check = check_connection
        return pool

    def close_if_unusable_or_obsolete(self):
        if self.errors_occurred and self.pool is not None:
            forget_checks()
        super().close_if_unusable_or_obsolete()
