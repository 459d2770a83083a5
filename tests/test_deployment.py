"""The deployment files: docker-compose.yml against the Compose specification's schema (no Docker
engine here), Prometheus' scrape targets, and alert rules and the Grafana dashboard naming only
metrics the exchange really exports (read from the real exposition, not a list kept by hand)."""

from __future__ import annotations

import json
import re
from importlib.resources import files

import jsonschema
import pytest
import yaml
from prometheus_client import generate_latest

from tests.support import ROOT

COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
PROMETHEUS = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
ALERTS = yaml.safe_load((ROOT / "deploy/prometheus/alerts.yml").read_text())
DASHBOARD = json.loads((ROOT / "deploy/grafana/exchange-dashboard.json").read_text())
OUR_METRIC = re.compile(r"\b(?:exchange|matcher|django|celery|flower)_[a-z0-9_]+\b")
ONE_SHOT = {"migrate"}


def test_compose_file_follows_the_compose_specification():
    schema = json.loads((files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json").read_text())
    jsonschema.validate(COMPOSE, schema)  # raises with the path of the first violation


def test_every_long_running_service_restarts_and_has_a_health_check():
    services = COMPOSE["services"]
    assert {"postgres", "redis", "web", "stream", "matcher", "worker", "beat", "flower", "prometheus"} <= set(services)
    for name, service in services.items():
        if name in ONE_SHOT:
            assert service["restart"] == "no"
            continue
        assert service.get("restart") == "unless-stopped", name
        assert service.get("healthcheck", {}).get("test"), f"{name} has no health check"


def test_secrets_come_from_the_env_file_and_none_is_written_in_the_compose_file():
    text = (ROOT / "docker-compose.yml").read_text()
    for secret in ("SECRET_KEY", "API_KEY_ENCRYPTION_KEYS", "POSTGRES_PASSWORD", "METRICS_TOKEN", "FLOWER_PASSWORD"):
        assert re.search(rf"\$\{{{secret}:\?", text), f"{secret} must be required from the environment (.env)"
        assert re.search(rf"^{secret}=$", (ROOT / ".env.example").read_text(), re.M), f"{secret} in .env.example"
    assert ".env" in (ROOT / ".gitignore").read_text().split()
    assert ".env" in (ROOT / ".dockerignore").read_text().split()  # never copied into the image
    assert {"metrics_token", "flower_password"} <= set(COMPOSE["secrets"])
    assert set(COMPOSE["services"]["prometheus"]["secrets"]) == {"metrics_token", "flower_password"}
    assert {"pgdata", "redisdata", "prometheusdata"} <= set(COMPOSE["volumes"])


def test_prometheus_scrapes_web_matcher_and_flower_as_compose_names_them():
    jobs = {job["job_name"]: job for job in PROMETHEUS["scrape_configs"]}
    assert jobs["web"]["static_configs"][0]["targets"] == ["web:8000"]
    assert jobs["web"]["authorization"]["credentials_file"] == "/run/secrets/metrics_token"
    # The WebSocket metrics are the stream process's own.
    assert jobs["stream"]["static_configs"][0]["targets"] == ["stream:8001"]
    assert jobs["stream"]["authorization"]["credentials_file"] == "/run/secrets/metrics_token"
    assert jobs["matcher"]["static_configs"][0]["targets"] == ["matcher:9108"]
    assert jobs["flower"]["static_configs"][0]["targets"] == ["flower:5555"]
    assert jobs["flower"]["basic_auth"]["password_file"] == "/run/secrets/flower_password"
    # The matcher listens beyond its container's loopback, and the web process answers the name `web`.
    app_env = COMPOSE["x-app"]["environment"]
    assert COMPOSE["services"]["matcher"]["environment"]["MATCHER_METRICS_HOST"] == "0.0.0.0"
    assert "web" in app_env["ALLOWED_HOSTS"] and "stream" in app_env["ALLOWED_HOSTS"]
    assert "./deploy/prometheus:/etc/prometheus:ro" in COMPOSE["services"]["prometheus"]["volumes"]
    assert PROMETHEUS["rule_files"] == ["/etc/prometheus/alerts.yml"]


@pytest.fixture
def exported_metrics(client, db) -> set[str]:
    """Every metric name the web process and the matcher expose, with the suffixes of their samples."""
    from apps.matching.metrics import REGISTRY as MATCHER

    text = client.get("/metrics").content.decode() + generate_latest(MATCHER).decode()
    names = set()
    for name, kind in re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M):
        names.add(name)
        suffixes = {"counter": ["_total", "_created"], "histogram": ["_bucket", "_sum", "_count", "_created"]}
        names.update(name + suffix for suffix in suffixes.get(kind, []))
    return names


def rules():
    return [rule for group in ALERTS["groups"] for rule in group["rules"]]


def test_alert_rules_cover_the_operations_figures_and_are_complete():
    names = {rule["alert"] for rule in rules()}
    assert {"MatcherLagging", "ReconciliationMismatch", "HotWalletBelowMinimum", "HighErrorRate",
            "WebSocketDisconnectStorm"} <= names  # fmt: skip
    assert len(names) == len(rules())
    for rule in rules():
        assert rule["labels"]["severity"] in ("page", "ticket"), rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]
        assert re.fullmatch(r"\d+[smh]", rule["for"]), rule["alert"]


def test_alert_rules_and_dashboard_name_only_exported_metrics(exported_metrics):
    expressions = [(rule["alert"], rule["expr"]) for rule in rules()]
    expressions += [(panel["title"], t["expr"]) for panel in DASHBOARD["panels"] for t in panel["targets"]]
    for where, expr in expressions:
        used = set(OUR_METRIC.findall(expr))
        assert used or expr.startswith("up{"), f"{where}: no exchange metric in {expr!r}"
        assert used <= exported_metrics, f"{where}: {sorted(used - exported_metrics)} are not exported"


def test_dashboard_imports_into_grafana():
    assert DASHBOARD["__inputs"][0]["name"] == "DS_PROMETHEUS"
    ids = [panel["id"] for panel in DASHBOARD["panels"]]
    assert len(ids) == len(set(ids)) >= 10
    for panel in DASHBOARD["panels"]:
        assert panel["datasource"]["uid"] == "${DS_PROMETHEUS}"
        assert panel["targets"] and all(t["refId"] and t["expr"] for t in panel["targets"])


def test_the_web_process_believes_forwarded_headers_only_from_the_compose_network():
    """Behind a proxy every client would otherwise be the proxy's one address (one login budget for
    everyone, API-key allowlists seeing only the proxy); trusting more would let clients choose theirs."""
    import ipaddress

    subnet = COMPOSE["networks"]["default"]["ipam"]["config"][0]["subnet"]
    assert COMPOSE["x-app"]["environment"]["FORWARDED_ALLOW_IPS"] == subnet
    default = re.fullmatch(r"\$\{EXCHANGE_SUBNET:-([^}]+)\}", subnet).group(1)
    assert ipaddress.ip_network(default).is_private
    assert re.search(r"^# EXCHANGE_SUBNET=", (ROOT / ".env.example").read_text(), re.M)
    # Reachable from outside the network only through the host's loopback (a proxy on the host).
    for service in ("web", "stream"):
        assert all(port.startswith("127.0.0.1:") for port in COMPOSE["services"][service]["ports"]), service


def test_the_image_runs_the_web_pool_and_compose_the_stream_with_the_procfiles_limits():
    """The Dockerfile's command (compose's `web`) is the Procfile's web pool; compose's `stream` caps
    WebSocket frames and bounds a graceful stop as the Procfile's does, and compose waits for each
    process's graceful stop before killing it."""
    import shlex

    def procfile(name: str) -> list[str]:
        lines = (ROOT / "Procfile").read_text().splitlines()
        return shlex.split(next(x for x in lines if x.startswith(f"{name}:")))

    cmd = json.loads(
        re.search(r"^CMD (\[.*?\])$", (ROOT / "Dockerfile").read_text(), re.M | re.S).group(1).replace("\\\n", "")
    )
    assert cmd[:3] == procfile("web")[1:4] == ["gunicorn", "--config", "exchange/gunicorn.conf.py"]
    stream, command = procfile("stream"), COMPOSE["services"]["stream"]["command"]
    for flag in ("--ws", "--ws-max-size", "--timeout-graceful-shutdown", "--ws-per-message-deflate", "--log-config"):
        assert command[command.index(flag) + 1] == stream[stream.index(flag) + 1], flag
    assert {"--proxy-headers", "--no-access-log"} <= set(command) & set(stream)
    stream_stop = int(command[command.index("--timeout-graceful-shutdown") + 1])
    for service, stop_seconds in (("web", 10), ("stream", stream_stop)):  # web: gunicorn's graceful_timeout
        assert int(COMPOSE["services"][service]["stop_grace_period"].rstrip("s")) > stop_seconds, service
