"""simulate_market against the real web process and matcher: bots trade through REST and follow the
WebSocket, and the ledger stays balanced."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command

from apps.orders.models import Order
from apps.trades.models import Trade
from tests.factories import assert_ledger_consistent
from tests.support import MatcherProcess

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _fast_password_hasher():
    """Overrides the suite's MD5 hasher: the bots log in through the web process's own hashers."""


def simulate(web_server, *args: str) -> dict:
    out = io.StringIO()
    call_command("simulate_market", "--url", web_server.base_url, "--json", "--seed", "3", *args, stdout=out)
    return json.loads(out.getvalue())


def test_bots_trade_through_the_api_and_the_report_adds_up(settings, market, web_server, live_env, process_log_dir):
    settings.EXCHANGE_SANDBOX = True
    with MatcherProcess(live_env, process_log_dir):
        # The web process's Redis connections die (as in a failover): its first WebSocket messages get
        # `internal_error`, and the simulator, like any client, sends them again.
        from apps.core.redis import get_redis

        get_redis().client_kill_filter(_type="normal", skipme=True)
        report = simulate(web_server, "--markets", "BTC-USDT", "--rate", "25", "--duration", "6")
    assert report["server_errors"] == 0
    assert report["requests"] >= 100 and report["throughput_per_second"] > 10
    assert report["accepted"] == Order.objects.filter(user__username__startswith="sim-").count() + report[
        "answers"
    ].get("cancel 202", 0)
    assert report["answers"].get("quote 201", 0) > 0 and report["answers"].get("take 201", 0) > 0
    # Every trade the matcher settled reached the public stream, and the bots' own fills their channel.
    trades = Trade.objects.count()
    assert trades > 0 and report["trades_seen"] == trades
    assert report["fills_seen"] == 2 * trades  # both sides are bots
    # `internal_error` (a Redis connection an earlier test killed, retried) is the only stream error allowed.
    assert report["book_messages"] > 0 and report["book_resyncs"] == 0
    assert set(report["stream_errors"]) <= {"internal_error"}, report["stream_errors"]
    assert report["order_to_matcher_event"]["count"] > 0 and report["order_to_matcher_event"]["p50_ms"] > 0
    for action in ("quote", "take", "cancel"):
        assert report["rest_latency"][action]["p99_ms"] >= report["rest_latency"][action]["p50_ms"] > 0
    assert_ledger_consistent()


def test_the_simulator_runs_only_in_sandbox_mode_and_on_listed_markets(settings, market, web_server):
    settings.EXCHANGE_SANDBOX = False
    with pytest.raises(CommandError, match="sandbox mode"):
        simulate(web_server, "--duration", "1")
    settings.EXCHANGE_SANDBOX = True
    with pytest.raises(CommandError, match="unknown markets: NOPE-USDT"):
        simulate(web_server, "--markets", "NOPE-USDT", "--duration", "1")
    with pytest.raises(CommandError, match="--rate must be positive"):
        simulate(web_server, "--rate", "0")
