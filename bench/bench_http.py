"""HTTP through the real web pool (gunicorn on exchange.wsgi, WEB_CONCURRENCY=2, DEBUG off, JSON logs at WARNING).

Workload: for each endpoint, 200 warm-up requests, then 2,000 requests from 16 concurrent keep-alive
connections (a minimal asyncio HTTP/1.1 client) on loopback. Reports throughput and latency
percentiles as the client sees them. The client shares the machine's two cores with the server,
so these are floors, not ceilings.
"""

from __future__ import annotations

import json

from bench.common import Figure, WebProcess, measure_get

ENDPOINTS = ["/healthz", "/api/v1/time", "/readyz"]
UNLIMITED = {tier: {"orders": 10**9, "private": 10**9, "public": 10**9}
             for tier in ("anonymous", "basic", "pro", "institutional")}  # fmt: skip


def run() -> list[Figure]:
    figures: list[Figure] = []
    # The rate limiter still counts every request (one Redis round trip); it just never says no.
    with WebProcess(RATE_LIMITS_JSON=json.dumps(UNLIMITED)) as web:
        for path in ENDPOINTS:
            figures += measure_get(web.port, path, f"GET {path}")
    return figures
