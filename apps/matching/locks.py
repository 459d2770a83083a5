"""Which matcher runs a market: a PostgreSQL advisory lock per market (ARCHITECTURE.md, Scaling out).
Whoever holds `pg_try_advisory_lock(LOCK_NAMESPACE, market id)` runs the market; the rest leave it."""

from __future__ import annotations

import psycopg
from django.conf import settings
from django.db import connection

LOCK_NAMESPACE = 0x4D41  # "MA": first key of pg_try_advisory_lock(int, int); the second is the market id


class AdvisoryLocks:
    """Per-market advisory locks on a dedicated connection: losing the connection loses every lock,
    which the matcher notices (`alive`) and answers by dropping its markets."""

    def __init__(self):
        db = settings.DATABASES["default"]
        self.params = {"host": db["HOST"], "port": db["PORT"] or None, "dbname": db["NAME"], "user": db["USER"],
                       "password": db["PASSWORD"] or None, "autocommit": True}  # fmt: skip
        self.conn = None

    def connect(self) -> None:
        self.close()
        self.conn = psycopg.connect(**{k: v for k, v in self.params.items() if v is not None})

    def try_lock(self, market_id: int) -> bool:
        return bool(self.conn.execute("SELECT pg_try_advisory_lock(%s, %s)", [LOCK_NAMESPACE, market_id]).fetchone()[0])

    def unlock(self, market_id: int) -> None:
        self.conn.execute("SELECT pg_advisory_unlock(%s, %s)", [LOCK_NAMESPACE, market_id])

    def alive(self) -> bool:
        try:
            self.conn.execute("SELECT 1")
            return True
        except psycopg.Error:
            return False

    def close(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            finally:
                self.conn = None


class TransactionLocks:
    """The same locks taken on the caller's connection, for the length of its transaction
    (pg_try_advisory_xact_lock): a matcher that commits inside its caller's transaction
    (apps.matching.testing) leaves nothing behind when that transaction rolls back. There is no
    unlock before then, and the caller's session holds them: a second matcher on the same
    connection would take them again (advisory locks are re-entrant)."""

    def connect(self) -> None:
        pass  # nothing to open: the locks live on the caller's connection

    def try_lock(self, market_id: int) -> bool:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_xact_lock(%s, %s)", [LOCK_NAMESPACE, market_id])
            return bool(cursor.fetchone()[0])

    def unlock(self, market_id: int) -> None:
        pass  # released when the caller's transaction ends

    def alive(self) -> bool:
        return True

    def close(self) -> None:
        pass
