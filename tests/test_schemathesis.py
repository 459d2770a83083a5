"""Schemathesis over the whole OpenAPI schema against the real web process (uvicorn on the test
database), as a logged-in, funded and verified user and anonymously: no 5xx, every answer documented
and shaped as the schema says, and no request the schema calls valid refused as malformed
(tests/schemathesis_hooks.py). Bounded: a fixed seed and a few examples per operation."""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest
from django.conf import settings

from apps.accounts import services as account_services
from tests.factories import PASSWORD, funded_trader
from tests.support import BIN, ROOT, WebServer

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

MAX_EXAMPLES = 10
CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "valid_requests_are_not_refused_as_malformed",
]
# Budgets high enough that the run exercises the views rather than the rate limiter.
UNLIMITED = {tier: {"orders": 100_000, "private": 100_000, "public": 100_000} for tier in ("anonymous", "basic")}


@pytest.fixture
def fuzzed_server(live_env, process_log_dir):
    with WebServer({**live_env, "RATE_LIMITS_JSON": json.dumps(UNLIMITED)}, process_log_dir) as server:
        yield server


def run_schemathesis(server, tmp_path, headers: dict[str, str]) -> subprocess.CompletedProcess:
    # One worker: hypothesis describes its strategies with ast.parse, which CPython 3.11 can fail from
    # two threads at once ("AST constructor recursion depth mismatch", a crash of the run itself).
    args = [str(BIN / "st"), "run", f"{server.base_url}/api/schema/", "--checks", ",".join(CHECKS),
            "--max-examples", str(MAX_EXAMPLES), "--seed", "20", "--workers", "1", "--no-shrink",
            "--continue-on-failure", "--request-timeout", "10", "--output-truncate", "false"]  # fmt: skip
    for name, value in headers.items():
        args += ["--header", f"{name}: {value}"]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": str(ROOT / "tests" / "schemathesis_hooks.py")}
    # Its own directory: `st` keeps a cache in the working directory.
    return subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("logged_in", [True, False], ids=["jwt", "anonymous"])
def test_schemathesis_finds_no_server_error_and_no_schema_mismatch(market, fuzzed_server, tmp_path, logged_in):
    user = funded_trader(btc="10", usdt="100000", level=2)
    headers = {}
    if logged_in:
        token = account_services.login(username=user.username, password=PASSWORD, otp_code=None).access
        headers["Authorization"] = f"Bearer {token}"
    started = time.monotonic()
    result = run_schemathesis(fuzzed_server, tmp_path, headers)
    # Past the access token's life every request would be a 401, which the checks accept: the run
    # would pass without testing anything. It must end while the token is good.
    assert time.monotonic() - started < settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"].total_seconds() - 10
    (tmp_path / "schemathesis.txt").write_text(result.stdout + result.stderr)
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-5000:]
