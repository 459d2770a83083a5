"""Prometheus metrics of the core app (the /metrics endpoint is django-prometheus's)."""

from prometheus_client import Counter, Gauge

DEPENDENCY_UP = Gauge(
    "exchange_dependency_up", "1 when the last readiness probe reached the dependency", ["dependency"]
)
DEPENDENCY_LATENCY = Gauge("exchange_dependency_latency_seconds", "Latency of the last readiness probe", ["dependency"])
CELERY_HEARTBEAT_AGE = Gauge(
    "exchange_celery_heartbeat_age_seconds", "Seconds since a worker last ran the beat heartbeat"
)

# Per web process (each uvicorn worker has its own registry: Prometheus sums them).
WEBSOCKET_CONNECTIONS = Gauge("exchange_websocket_connections", "Open WebSocket connections")
WEBSOCKET_DISCONNECTS = Counter(
    "exchange_websocket_disconnects", "WebSocket connections that ended, by close code", ["code"]
)
