"""Test support: drive a real Matcher (real Redis streams, real PostgreSQL) step by step.

Two modes, chosen by the caller's connection when the matcher starts:

- The caller is inside a transaction (a test under plain `django_db`, rolled back after it): the
  matcher commits on the caller's thread and connection (`InlineCommitter`), so it sees what the test
  wrote and the test sees what it settles. Settlement's `transaction.atomic()` becomes a savepoint of
  the test's transaction: a failed batch rolls back to it, as a failed commit would. The market locks
  are transaction-level advisory locks on that connection (`locks.TransactionLocks`), given back when
  the test's transaction rolls back. Every batch commits at once, in the step that prepared it: there
  is no batch in flight while the next one is matched, and two matchers in one test would share the
  caller's locks. Tests that need either keep `django_db(transaction=True)`.
- Otherwise (`transaction=True` tests, benchmarks): as in production, a committer thread with its own
  connection and the locks on a connection of their own.

Order entry sends its stream commands when its transaction commits (`transaction.on_commit`), which
never happens inside a rolled-back test. The `in_test_transaction` fixture makes the test's
transaction stand in for autocommit: when the code's outermost `atomic` block ends well, its on-commit
callbacks run, as they would after a real commit (`commits_inside`).
"""

from __future__ import annotations

import logging
from concurrent.futures import Future
from contextlib import contextmanager

import pytest
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction

from apps.matching.locks import TransactionLocks
from apps.matching.worker import Matcher

logger = logging.getLogger(__name__)


class InlineCommitter:
    """Commits on the caller's thread and connection, at once: `submit` runs the commit and returns it
    done, so the loop meets its outcome where it would meet a committer thread's (`Matcher.wait`)."""

    @staticmethod
    def submit(fn, *args) -> Future:
        future = Future()
        try:
            future.set_result(fn(*args))
        except Exception as exc:  # noqa: BLE001 - handed to the loop, which raises it at its next wait
            future.set_exception(exc)
        return future

    @staticmethod
    def discard_connection() -> None:
        """The connection is the caller's, and its transaction is intact: a failed batch rolled back to
        its savepoint."""

    def close(self) -> None:
        pass


@contextmanager
def matcher(symbols: list[str] | None = None, **options):
    if connection.in_atomic_block:  # the caller's transaction: commit inside it (module docstring)
        options.setdefault("committer", InlineCommitter())
        options.setdefault("locks", TransactionLocks())
    m = Matcher(symbols, block_ms=options.pop("block_ms", 5), **options)
    m.locks.connect()
    try:
        yield m
    finally:
        try:
            m.flush()
        finally:
            m.close()


def drain(m: Matcher, max_steps: int = 200) -> None:
    """Step until every owned stream is applied and no pending entry is left."""
    m.next_discovery = 0.0
    for _ in range(max_steps):
        m.step()
        if m.runners and m.last_step_entries == 0 and m.last_step_read_new:
            m.flush()
            return
    raise AssertionError("the matcher did not become idle")


def run_once(symbols: list[str] | None = None) -> None:
    with matcher(symbols) as m:
        drain(m)


@contextmanager
def commits_inside(using: str = DEFAULT_DB_ALIAS):
    """Within the caller's open transaction (a test's), treat the end of every outermost `atomic` block
    of the code as a commit: its on-commit callbacks run then, and a callback registered outside any
    such block runs at once, as in autocommit. Callbacks of a block that rolled back are dropped (Django
    drops them with the savepoint). Only the calling thread's connection is concerned."""
    conn = connections[using]
    if not conn.in_atomic_block:  # autocommit (a transaction=True test): commits are real already
        yield
        return
    base = len(conn.savepoint_ids)  # the test's own blocks: the code's blocks are the ones above
    original_exit, original_on_commit = transaction.Atomic.__exit__, conn.on_commit

    def at_test_level() -> bool:
        return conn.in_atomic_block and len(conn.savepoint_ids) == base and not conn.needs_rollback

    def run_callbacks() -> None:
        while conn.run_on_commit:
            _savepoints, callback, robust = conn.run_on_commit.pop(0)
            if not robust:
                callback()
                continue
            try:
                callback()
            except Exception:
                logger.exception("Error calling %s in on_commit()", callback.__qualname__)

    def on_commit(func, robust=False):
        original_on_commit(func, robust)
        if at_test_level():
            run_callbacks()

    def exit_atomic(self, exc_type, exc_value, traceback):
        result = original_exit(self, exc_type, exc_value, traceback)
        if transaction.get_connection(self.using) is conn and at_test_level():
            run_callbacks()
        return result

    run_callbacks()  # what the code committed before (fixtures)
    conn.on_commit = on_commit
    transaction.Atomic.__exit__ = exit_atomic
    try:
        yield
    finally:
        transaction.Atomic.__exit__ = original_exit
        del conn.on_commit


@pytest.fixture
def in_test_transaction(db):
    """For tests that run the matcher in their rolled-back transaction (`django_db`, not
    `transaction=True`): order entry's stream commands are sent when its block ends, as after a
    commit (commits_inside)."""
    with commits_inside():
        yield
