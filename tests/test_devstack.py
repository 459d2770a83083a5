"""tools/devstack.py: embedded servers when the URLs are unset, the given servers when they are set."""

import json
import os
import subprocess
import sys

import pytest

from tests.support import ROOT

pytestmark = pytest.mark.integration

PRINT_ENV = "import json, os; print(json.dumps({k: os.environ.get(k) for k in ('DATABASE_URL', 'REDIS_URL')}))"
PROBE = (
    "import os, psycopg, redis; "
    "psycopg.connect(os.environ['DATABASE_URL'].replace('postgres://', 'postgresql://')).execute('SELECT 1'); "
    "assert redis.Redis.from_url(os.environ['REDIS_URL']).ping(); print('reachable')"
)


def devstack(var_dir, *command, **env_overrides):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(EXCHANGE_VAR_DIR=str(var_dir), **env_overrides)
    return subprocess.run(
        [sys.executable, "tools/devstack.py", *command],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_unset_urls_start_embedded_servers_that_stop_afterwards(tmp_path):
    result = devstack(tmp_path, "exec", "--redis-db", "3", "--", sys.executable, "-c", PROBE + "; " + PRINT_ENV)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0] == "reachable"
    urls = json.loads(lines[1])
    assert urls["DATABASE_URL"].startswith("postgres://postgres@127.0.0.1:")
    assert urls["DATABASE_URL"].endswith("/exchange")
    assert urls["REDIS_URL"].startswith("redis://127.0.0.1:") and urls["REDIS_URL"].endswith("/3")
    assert "started embedded Postgres, Redis" in result.stderr
    assert "stopped embedded Postgres, Redis" in result.stderr
    assert (tmp_path / "postgres" / "PG_VERSION").exists()
    assert not (tmp_path / "postgres" / "postmaster.pid").exists()
    # Nothing is left listening: the status command finds neither server.
    assert devstack(tmp_path, "env").returncode == 1


def test_set_urls_are_used_as_given_and_nothing_is_started(tmp_path):
    given = {"DATABASE_URL": "postgres://u@db.example:5432/x", "REDIS_URL": "redis://cache.example:6379/4"}
    result = devstack(tmp_path, "exec", "--", sys.executable, "-c", PRINT_ENV, **given)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == given
    assert not (tmp_path / "postgres").exists() and not (tmp_path / "redis").exists()


def test_exit_code_of_the_command_is_returned(tmp_path):
    given = {"DATABASE_URL": "postgres://u@h/x", "REDIS_URL": "redis://h/0"}
    assert devstack(tmp_path, "exec", "--", sys.executable, "-c", "raise SystemExit(3)", **given).returncode == 3


def test_exec_without_a_command_is_a_usage_error(tmp_path):
    assert devstack(tmp_path, "exec").returncode == 2


def test_env_prints_what_a_manage_command_needs_for_the_development_stack(tmp_path):
    assert devstack(tmp_path, "up").returncode == 0
    try:
        result = devstack(tmp_path, "env")
        assert result.returncode == 0, result.stderr
        exports = dict(line.removeprefix("export ").split("=", 1) for line in result.stdout.splitlines())
        assert set(exports) == {"DATABASE_URL", "REDIS_URL", "DEBUG"} and exports["DEBUG"] == "true"
        # What docs/development.md tells a new user to do: eval the lines, then run a command of manage.py.
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DEBUG", "SECRET_KEY")}
        check = subprocess.run(
            [sys.executable, "manage.py", "check"],
            cwd=ROOT,
            env={**env, **exports, "EXCHANGE_VAR_DIR": str(tmp_path)},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert check.returncode == 0, check.stderr
    finally:
        devstack(tmp_path, "down")


def make_manage(args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["make", "--no-print-directory", "manage", f"ARGS={args}"],
        cwd=ROOT,
        env={k: v for k, v in env.items() if not k.startswith("MAKE")},
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_make_manage_runs_a_command_with_the_development_settings(tmp_path):
    """`make manage ARGS=...` (docs/development.md) against the development stack needs no DEBUG or
    SECRET_KEY by hand."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DEBUG", "SECRET_KEY")}
    result = make_manage("check", {**env, "EXCHANGE_VAR_DIR": str(tmp_path)})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_make_manage_switches_nothing_on_for_a_server_the_shell_names(live_env):
    """With DATABASE_URL set the server may be production: DEBUG is not turned on behind its back."""
    env = {k: v for k, v in live_env.items() if k not in ("DEBUG", "SECRET_KEY")}
    result = make_manage("check", env)
    assert result.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in result.stdout + result.stderr
