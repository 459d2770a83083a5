"""A/B of order entry between two checkouts on a shared, noisy machine: one throwaway database, one
matcher, a web process (the Procfile's) from each checkout, driven in turn by the same wrk runs
(bench_entry's scripts), several rounds, so that whatever else the machine does falls on both.

    .venv/bin/python tools/devstack.py exec --redis-db 2 -- .venv/bin/python bench/ab_entry.py OTHER_CHECKOUT [ROUNDS]

Prints, per round and side, GET /healthz req/s, POST /orders orders/s (16 accounts, 16 connections)
and their ratio, and the medians. A's code is this checkout's; B is OTHER_CHECKOUT (its own Procfile
and code, this database: the two must share the migrations). Not a `bench_*` module.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "exchange.settings")
import bench.run  # noqa: E402,F401 - the benchmark environment (DEBUG off, no pool in this process, ...)

SECONDS = 6


def main(argv: list[str]) -> int:
    import django

    django.setup()
    from django.core.management import call_command

    from bench import common
    from bench.bench_entry import USERS, _tokens, _wrk
    from bench.bench_orders import UNLIMITED, MatcherProcess
    from bench.common import WebProcess, btc_usdt_traders, in_throwaway_database

    other, rounds = Path(argv[0]).resolve(), int(argv[1]) if len(argv) > 1 else 3
    call_command("migrate", verbosity=0)

    def measure(settings_dict):
        from tests.support import database_url

        users = btc_usdt_traders("ab-entry", USERS)
        env = {"DATABASE_URL": database_url(settings_dict), "RATE_LIMITS_JSON": json.dumps(UNLIMITED)}
        matcher = MatcherProcess({**os.environ, **env})
        results: dict[str, list[tuple[float, float]]] = {"A": [], "B": []}
        try:
            with WebProcess(**env) as a, tempfile.TemporaryDirectory() as tmp:
                common.ROOT = other
                try:
                    b = WebProcess(**env).__enter__()
                finally:
                    common.ROOT = ROOT
                try:
                    for round_ in range(rounds):
                        sides = [("A", a), ("B", b)] if round_ % 2 == 0 else [("B", b), ("A", a)]
                        for label, web in sides:
                            url = f"http://127.0.0.1:{web.port}"
                            _wrk(f"{url}/healthz", "healthz.lua", 1)
                            floor = _wrk(f"{url}/healthz", "healthz.lua", SECONDS)
                            tokens = _tokens(tmp, users)
                            _wrk(url, "orders.lua", 1, args=(tokens, str(round_)))
                            entry = _wrk(url, "orders.lua", SECONDS, args=(tokens, str(round_ + 10)))
                            results[label].append((floor.rate, entry.rate))
                            print(f"round {round_} {label}: healthz {floor.rate:7.1f} req/s, orders {entry.rate:6.1f}"
                                  f"/s (p50 {entry.p50_ms:.0f} ms), ratio {100 * entry.rate / floor.rate:5.1f} %",
                                  flush=True)  # fmt: skip
                finally:
                    b.__exit__(None, None, None)
        finally:
            matcher.stop()
        for label, rows in results.items():
            floors, entries = [r[0] for r in rows], [r[1] for r in rows]
            ratios = [100 * e / f for f, e in rows]
            print(f"{label} median: healthz {statistics.median(floors):7.1f} req/s, orders "
                  f"{statistics.median(entries):6.1f}/s, ratio {statistics.median(ratios):5.1f} %")  # fmt: skip
        return []

    in_throwaway_database(measure)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
