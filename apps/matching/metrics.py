"""The matcher's own Prometheus endpoint (MATCHER_METRICS_PORT): commands applied, fills, batch
size and latency, stream lag, markets owned. A registry of its own, so scraping the matcher never
runs the web process's collectors (which query the database)."""

from __future__ import annotations

import logging

import redis
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

logger = logging.getLogger(__name__)

REGISTRY = CollectorRegistry()
COMMANDS = Counter("matcher_commands_applied", "Stream commands applied (harmless repeats included)", ["market"],
                   registry=REGISTRY)  # fmt: skip
FILLS = Counter("matcher_fills", "Fills settled", ["market"], registry=REGISTRY)
BATCH_SIZE = Histogram("matcher_batch_size", "Commands per settled batch", ["market"], registry=REGISTRY,
                       buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000))  # fmt: skip
BATCH_SECONDS = Histogram("matcher_batch_seconds", "Time to apply and commit one batch", ["market"], registry=REGISTRY,
                          buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5))  # fmt: skip
LAG = Gauge("matcher_stream_lag", "Commands in the stream not yet applied", ["market"], registry=REGISTRY)
MARKETS_OWNED = Gauge("matcher_markets_owned", "Markets whose lock this matcher holds", registry=REGISTRY)


def serve(host: str, port: int) -> None:
    if port:
        start_http_server(port, addr=host, registry=REGISTRY)
        logger.info("matcher metrics on http://%s:%d/metrics", host, port)


def record_batch(market: str, commands: int, fills: int, seconds: float) -> None:
    COMMANDS.labels(market).inc(commands)
    FILLS.labels(market).inc(fills)
    BATCH_SIZE.labels(market).observe(commands)
    BATCH_SECONDS.labels(market).observe(seconds)


def update_lag(client: redis.Redis, runners: dict) -> None:
    # The stream is trimmed to the last applied entry after each batch, so its length (minus that
    # entry) is what waits.
    pipe = client.pipeline(transaction=False)
    for key in runners:
        pipe.xlen(key)
    for runner, length in zip(runners.values(), pipe.execute(), strict=True):
        LAG.labels(runner.market.symbol).set(max(0, length - 1))
