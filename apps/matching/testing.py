"""Test support: drive a real Matcher (real Redis streams, real PostgreSQL) step by step."""

from __future__ import annotations

from contextlib import contextmanager

from apps.matching.worker import Matcher


@contextmanager
def matcher(symbols: list[str] | None = None, **options):
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
