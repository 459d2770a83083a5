"""The pool's check of a connection before lending it (exchange/postgresql/base.py)."""

import psycopg
import pytest
from django.db import connection

from exchange.postgresql import base

pytestmark = pytest.mark.django_db


def test_the_pool_checks_connections_with_the_cheaper_check():
    assert connection.pool is not None
    assert connection.pool._check is base.check_connection


def test_a_round_trip_only_for_a_connection_not_checked_in_the_last_second(monkeypatch):
    round_trips = []
    monkeypatch.setattr(base.ConnectionPool, "check_connection", staticmethod(round_trips.append))
    now = [1000.0]
    monkeypatch.setattr(base.time, "monotonic", lambda: now[0])
    with connection.pool.connection() as conn:
        base._checked_at.pop(conn, None)
        round_trips.clear()  # the loan's own check
        base.check_connection(conn)
        assert round_trips == [conn]
        now[0] += base.RECHECK_SECONDS / 2
        base.check_connection(conn)
        assert round_trips == [conn]
        now[0] += base.RECHECK_SECONDS
        base.check_connection(conn)
        assert round_trips == [conn, conn]


def test_a_connection_the_client_knows_is_broken_is_refused_at_once(monkeypatch):
    round_trips = []
    monkeypatch.setattr(base.ConnectionPool, "check_connection", staticmethod(round_trips.append))
    conn = psycopg.connect(connection.pool.conninfo, **connection.pool.kwargs)
    base.check_connection(conn)
    conn.close()
    with pytest.raises(ConnectionError):
        base.check_connection(conn)
    assert round_trips == [conn]


def test_a_real_check_passes_on_a_live_connection():
    with connection.pool.connection() as conn:
        base._checked_at.pop(conn, None)
        base.check_connection(conn)
        assert conn in base._checked_at


def test_after_a_connection_failed_in_use_every_connection_is_checked_again(monkeypatch):
    round_trips = []
    monkeypatch.setattr(base.ConnectionPool, "check_connection", staticmethod(round_trips.append))
    with connection.pool.connection() as conn:
        base.check_connection(conn)
        round_trips.clear()
        base.check_connection(conn)
        assert round_trips == []  # checked a moment ago
        connection.ensure_connection()
        connection.errors_occurred = True  # as after a query that lost its server
        connection.close_if_unusable_or_obsolete()
        base.check_connection(conn)
        assert round_trips == [conn]
