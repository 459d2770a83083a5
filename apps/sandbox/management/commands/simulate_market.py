"""python manage.py simulate_market --markets BTC-USDT,ETH-USDT --rate 20 --duration 60

Market-making and taking bots trading through the real REST API and WebSocket of a running web
process (apps/sandbox/simulator.py), for the demo and for load tests. Sandbox mode only: the bots'
accounts are funded with test money from the sandbox issuance account."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import os
import secrets
import time
import uuid
from decimal import Decimal

import httpx
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from apps.accounts.models import User
from apps.kyc.models import Submission
from apps.markets.models import Market
from apps.sandbox.simulator import Bot, Simulator
from apps.wallets import ledger
from apps.wallets.models import Account, Transaction

# What a bot holds of each currency at the start of a run (topped up to this when below half).
FUNDS = {"BTC": Decimal("100"), "ETH": Decimal("2000"), "USDT": Decimal("10000000")}
OTHER_FUNDS = Decimal("1000000")


class Command(BaseCommand):
    help = "Run market-making and taking bots through the REST API and WebSocket (sandbox mode only)."

    def add_arguments(self, parser):
        parser.add_argument("--markets", default="", help="comma-separated symbols (default: every trading market)")
        parser.add_argument("--rate", type=float, default=10.0, help="actions started per second (default 10)")
        parser.add_argument("--duration", type=float, default=60.0, help="seconds to run; 0 runs until Ctrl-C")
        web = f"http://{os.environ.get('WEB_HOST', '127.0.0.1')}:{os.environ.get('WEB_PORT', '8000')}"
        parser.add_argument("--url", default=web,
                            help="the web process (default http://$WEB_HOST:$WEB_PORT)")  # fmt: skip
        parser.add_argument("--makers", type=int, default=2)
        parser.add_argument("--takers", type=int, default=2)
        parser.add_argument("--seed", type=int, default=None)
        parser.add_argument("--wait", type=float, default=60.0, help="seconds to wait for the web process")
        parser.add_argument("--json", action="store_true", help="print the report as JSON")
        parser.add_argument("--allow-errors", action="store_true", help="exit 0 even after 5xx or network errors")

    def handle(self, *args, **options):
        if not settings.EXCHANGE_SANDBOX:
            raise CommandError("simulate_market funds its bots with test money: it runs in sandbox mode only "
                               "(EXCHANGE_SANDBOX=true)")  # fmt: skip
        if options["rate"] <= 0 or options["makers"] < 1 or options["takers"] < 0:
            raise CommandError("--rate must be positive, --makers at least 1, --takers at least 0")
        markets = [s.strip().upper() for s in options["markets"].split(",") if s.strip()]
        symbols, bots = self.prepare_bots(markets, options["makers"], options["takers"])
        logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per request
        self._wait_for(options["url"], options["wait"])

        simulator = Simulator(options["url"], bots, symbols, options["rate"], options["duration"], options["seed"])
        length = f"for {options['duration']:g} s" if options["duration"] else "until stopped"
        self.stderr.write(f"simulating {', '.join(symbols)} at {options['rate']:g} actions/s {length} "
                          f"against {options['url']}")  # fmt: skip
        try:
            report = asyncio.run(simulator.run())
        except KeyboardInterrupt:
            report = simulator.report
        summary = report.summary()
        self.stdout.write(json.dumps(summary, indent=2) if options["json"] else self._table(summary))
        if summary["server_errors"] and not options["allow_errors"]:
            raise CommandError(f"{summary['server_errors']} requests failed with a server or network error")

    def prepare_bots(self, markets: list[str], makers: int, takers: int):
        """The markets to trade (every trading market when none is named) and the funded bots."""
        listed = {m.symbol: m for m in Market.objects.select_related("base", "quote")}
        symbols = markets or sorted(s for s, m in listed.items() if m.status == Market.Status.TRADING)
        unknown = [s for s in symbols if s not in listed]
        if unknown or not symbols:
            raise CommandError(f"unknown markets: {', '.join(unknown)}" if unknown else "no market to trade")
        currencies = {code for s in symbols for code in (listed[s].base_id, listed[s].quote_id)}
        bots = [self._bot(f"sim-maker-{i + 1}", "maker", currencies) for i in range(makers)]
        bots += [self._bot(f"sim-taker-{i + 1}", "taker", currencies) for i in range(takers)]
        return symbols, bots

    def _bot(self, username: str, role: str, currencies: set[str]):
        """The bot's user (institutional tier, approved identity), a fresh password, and its funds."""
        user, _ = get_user_model().objects.get_or_create(
            username=username, defaults={"email": f"{username}@simulator.invalid", "tier": User.Tier.INSTITUTIONAL}
        )
        password = secrets.token_urlsafe(24)
        user.set_password(password)
        user.save(update_fields=["password"])
        if not Submission.objects.filter(user=user, status="approved").exists():
            Submission.objects.create(user=user, status="approved", full_name=username, country="DE",
                                      date_of_birth=dt.date(1990, 1, 1), document_type="passport",
                                      document_number=username)  # fmt: skip
        for code in sorted(currencies):
            target = FUNDS.get(code, OTHER_FUNDS)
            account = ledger.user_account(user, code)
            account.refresh_from_db()
            if account.available < target / 2:
                amount = target - account.available
                ledger.post(kind=Transaction.Kind.FAUCET, idempotency_key=f"simulator:{user.pk}:{uuid.uuid4().hex}",
                            memo="simulator funds", legs=[
                    ledger.Leg(ledger.system_account(Account.Kind.SANDBOX_ISSUANCE, code), -amount),
                    ledger.Leg(account, amount),
                ])  # fmt: skip
        return Bot(username=username, password=password, role=role)

    def _wait_for(self, url: str, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while True:
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise CommandError(f"the web process at {url} is not ready after {seconds:g} s")
            time.sleep(0.5)

    @staticmethod
    def _table(summary: dict) -> str:
        lines = [f"{summary['requests']} requests in {summary['seconds']} s: {summary['throughput_per_second']}/s, "
                 f"{summary['accepted']} accepted, {summary['server_errors']} server or network errors"]  # fmt: skip
        lines += [f"  {answer:<40} {count:>8}" for answer, count in summary["answers"].items()]
        for action, figures in summary["rest_latency"].items():
            lines.append(f"  REST {action:<10} " + ", ".join(f"{k} {v}" for k, v in figures.items()))
        lines.append("  order -> matcher event " + ", ".join(
            f"{k} {v}" for k, v in summary["order_to_matcher_event"].items()))  # fmt: skip
        lines.append(f"  stream: {summary['trades_seen']} trades, {summary['fills_seen']} fills, "
                     f"{summary['book_messages']} book messages verified, {summary['book_resyncs']} resyncs, "
                     f"errors {summary['stream_errors'] or 'none'}")  # fmt: skip
        return "\n".join(lines)
