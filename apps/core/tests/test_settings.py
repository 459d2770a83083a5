"""Settings load from the environment, with and without the URLs, and are production-safe."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.subprocess  # every test runs Python or manage.py in a child process

ROOT = Path(__file__).resolve().parents[3]
PROBE = (
    "import json, django; from django.conf import settings; django.setup(); "
    "d = settings.DATABASES['default']; "
    "print(json.dumps({'db': [d['HOST'], str(d['PORT']), d['NAME'], d['USER']], 'redis': settings.REDIS_URL, "
    "'broker': settings.CELERY_BROKER_URL, 'layer': settings.CHANNEL_LAYERS['default']['CONFIG']['hosts'], "
    "'market_data': settings.CHANNEL_LAYERS['market_data']['CONFIG'], "
    "'cache': settings.CACHES['default']['LOCATION'], 'debug': settings.DEBUG, 'ssl': settings.SECURE_SSL_REDIRECT}))"
)
PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": "p" * 20 + "-production-secret-with-enough-entropy-0123456789abcdef",
    "ALLOWED_HOSTS": "exchange.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://exchange.example.com",
    "SECURE_HSTS_PRELOAD": "true",
    "API_KEY_ENCRYPTION_KEYS": "bXVzdC1iZS0zMi11cmwtc2FmZS1iYXNlNjQtYnl0ZXM=",
    "DATABASE_URL": "postgres://exchange:pw@db.internal:5432/exchange",
    "REDIS_URL": "redis://cache.internal:6379/0",
    "METRICS_TOKEN": "m" * 40,
}
# GET /metrics through the whole middleware stack under the given settings (nothing else is reached).
METRICS_PROBE = (
    "import django; django.setup(); from django.test import Client; "
    "r = Client(HTTP_HOST='exchange.example.com').get('/metrics'); print(r.status_code, r.content.decode())"
)


def run(env_overrides: dict, *args: str) -> subprocess.CompletedProcess:
    env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in {
            "DATABASE_URL",
            "REDIS_URL",
            "DEBUG",
            "SECRET_KEY",
            "ALLOWED_HOSTS",
            "CELERY_BROKER_URL",
            "EXCHANGE_SANDBOX",
        }
    }
    env.update(env_overrides)
    env["DJANGO_SETTINGS_MODULE"] = "exchange.settings"
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def load(env_overrides: dict) -> dict:
    result = run(env_overrides, "-c", PROBE)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_without_urls_settings_point_at_the_embedded_servers():
    loaded = load({"DEBUG": "true"})
    assert loaded["db"] == ["127.0.0.1", "55432", "exchange", "postgres"]
    assert loaded["redis"] == "redis://127.0.0.1:56379/0"
    assert loaded["broker"] == loaded["redis"] == loaded["cache"] == loaded["layer"][0]["address"]
    assert loaded["market_data"]["hosts"][0]["address"] == loaded["redis"]
    assert loaded["market_data"]["prefix"] == "exchange:0:market:"


def test_with_urls_every_component_uses_them():
    loaded = load(
        {
            "DEBUG": "true",
            "DATABASE_URL": "postgres://u:p@db.example:6543/ex",
            "REDIS_URL": "redis://cache.example:6380/3",
        }
    )
    assert loaded["db"] == ["db.example", "6543", "ex", "u"]
    assert loaded["redis"] == loaded["broker"] == loaded["cache"] == "redis://cache.example:6380/3"
    assert [host["address"] for host in loaded["layer"]] == ["redis://cache.example:6380/3"]
    # Pub/sub channels are not per database: the market-data channels carry the database's number.
    assert [host["address"] for host in loaded["market_data"]["hosts"]] == ["redis://cache.example:6380/3"]
    assert loaded["market_data"]["prefix"] == "exchange:3:market:"


def test_production_defaults_are_safe():
    loaded = load(PRODUCTION)
    assert loaded["debug"] is False
    assert loaded["ssl"] is True


def test_debug_off_without_api_key_encryption_keys_refuses_to_start():
    env = {k: v for k, v in PRODUCTION.items() if k != "API_KEY_ENCRYPTION_KEYS"}
    result = run(env, "-c", PROBE)
    assert result.returncode != 0
    assert "API_KEY_ENCRYPTION_KEYS must be set" in result.stderr


def test_admin_without_otp_is_refused_in_production():
    result = run({**PRODUCTION, "ADMIN_REQUIRE_OTP": "false"}, "-c", PROBE)
    assert result.returncode != 0
    assert "ADMIN_REQUIRE_OTP=false is for development only" in result.stderr


def test_debug_off_without_secret_key_refuses_to_start():
    result = run({"DEBUG": "false"}, "-c", PROBE)
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_non_postgres_database_url_is_refused():
    result = run({"DEBUG": "true", "DATABASE_URL": "sqlite:///x.db"}, "-c", PROBE)
    assert result.returncode != 0
    assert "PostgreSQL" in result.stderr


def test_check_deploy_is_clean_with_the_documented_production_variables():
    result = run(PRODUCTION, "manage.py", "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_fails_without_a_metrics_token():
    env = {k: v for k, v in PRODUCTION.items() if k != "METRICS_TOKEN"}
    result = run(env, "manage.py", "check", "--deploy")
    assert result.returncode != 0
    assert "core.E001" in result.stderr and "METRICS_TOKEN" in result.stderr


def test_metrics_answer_no_one_in_production_without_a_token():
    """They show per-currency user totals and wallet balances."""
    env = {k: v for k, v in PRODUCTION.items() if k != "METRICS_TOKEN"}
    result = run(env, "-c", METRICS_PROBE)
    assert result.returncode == 0, result.stderr
    status, body = result.stdout.strip().splitlines()[-1].split(" ", 1)
    assert status == "403"
    assert json.loads(body)["error"]["code"] == "permission_denied"
    # With the token set, the scraper is asked for it.
    result = run(PRODUCTION, "-c", METRICS_PROBE)
    assert result.stdout.strip().splitlines()[-1].split(" ", 1)[0] == "401", result.stderr


def test_production_static_files_collect_with_hashed_names(tmp_path):
    result = run({**PRODUCTION, "STATIC_ROOT": str(tmp_path)}, "manage.py", "collectstatic", "--noinput", "-v0")
    assert result.returncode == 0, result.stderr
    manifest = json.loads((tmp_path / "staticfiles.json").read_text())["paths"]
    assert "css/site.css" in manifest
    assert "drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in manifest


def test_production_static_files_rewrite_the_trading_pages_module_imports(tmp_path):
    """The page's ES modules import each other by relative path; in production each import must name
    the hashed file, so a browser never mixes modules of two deploys."""
    result = run({**PRODUCTION, "STATIC_ROOT": str(tmp_path)}, "manage.py", "collectstatic", "--noinput", "-v0")
    assert result.returncode == 0, result.stderr
    manifest = json.loads((tmp_path / "staticfiles.json").read_text())["paths"]
    hashed_names = {path.rsplit("/", 1)[1] for path in manifest.values()}
    modules = [name for name in manifest if name.startswith("js/") and name.endswith(".js")]
    assert {"js/trade.js", "js/book.js", "js/account.js"} <= set(modules)
    imports = 0
    for module in modules:
        text = (tmp_path / manifest[module]).read_text()
        for target in re.findall(r'from\s*"(\.{1,2}/[^"]+)"', text):
            imports += 1
            assert target.rsplit("/", 1)[1] in hashed_names, f"{module} imports {target}, not a hashed name"
    assert imports >= 10
