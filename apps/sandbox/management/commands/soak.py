"""python manage.py soak --duration 120 --kill-every 20 --rate 20

A bounded soak test: it starts its own web process, matcher, Celery worker and beat on the
configured PostgreSQL and Redis, runs the market simulator against them, and every `--kill-every`
seconds kills a process with SIGKILL, alternating between the matcher and the Celery worker, and
starts it again. Then it waits until every accepted order is settled, stops everything, and checks
the books: `verify_ledger`, a reconciliation run, and no order left unapplied. Any discrepancy makes it
exit non-zero. Sandbox mode only (the simulator's bots trade test money)."""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, connections

from apps.core.processes import CeleryWorker, MatcherProcess, Process, WebServer, database_url, procfile_command
from apps.orders.selectors import unsettled_count
from apps.sandbox.management.commands.simulate_market import Command as Simulate
from apps.sandbox.simulator import Simulator
from apps.wallets.reconciliation import reconcile
from apps.wallets.verification import verify_ledger
from exchange.celery import app as celery_app


class Command(BaseCommand):
    help = "Run the simulator while killing the matcher and a Celery worker, then verify the ledger."

    def add_arguments(self, parser):
        parser.add_argument("--duration", type=float, default=120.0, help="seconds of trading (default 120)")
        parser.add_argument("--kill-every", type=float, default=20.0, help="seconds between kills (default 20)")
        parser.add_argument("--rate", type=float, default=20.0, help="simulator actions per second (default 20)")
        parser.add_argument("--markets", default="", help="comma-separated symbols (default: every trading market)")
        parser.add_argument("--settle-timeout", type=float, default=120.0)
        parser.add_argument("--log-dir", default="", help="where the processes' logs go (default: a temporary one)")

    def handle(self, *args, **options):
        if not settings.EXCHANGE_SANDBOX:
            raise CommandError("soak runs the market simulator, which trades test money: sandbox mode only "
                               "(EXCHANGE_SANDBOX=true)")  # fmt: skip
        if options["duration"] <= 0 or options["kill_every"] <= 0:
            raise CommandError("--duration and --kill-every must be positive")
        log_dir = Path(options["log_dir"] or tempfile.mkdtemp(prefix="soak-"))
        log_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "DATABASE_URL": database_url(connection.settings_dict), "REDIS_URL": settings.REDIS_URL,
               "LOG_FORMAT": "json", "PYTHONUNBUFFERED": "1", "EXCHANGE_VAR_DIR": str(log_dir)}  # fmt: skip
        self.stderr.write(f"soak: processes' logs in {log_dir}")
        started: list[Process] = []
        kills = {"matcher": 0, "worker": 0}
        try:
            web = WebServer(env, log_dir)
            started.append(web)
            processes = {"matcher": MatcherProcess(env, log_dir), "worker": CeleryWorker(env, log_dir, celery_app)}
            started += processes.values()
            beat = Process("beat", procfile_command("beat"), env, log_dir)
            started.append(beat)

            async def chaos(stop: asyncio.Event) -> None:
                victim = "matcher"
                while not stop.is_set():
                    try:
                        await asyncio.wait_for(stop.wait(), options["kill_every"])
                        return
                    except TimeoutError:
                        pass
                    old = processes[victim]
                    old.proc.kill()  # SIGKILL: no handler runs, whatever was in hand is lost
                    old.proc.wait()
                    kills[victim] += 1
                    self.stderr.write(f"soak: kill -9 {victim} (pid {old.proc.pid})")
                    fresh = await asyncio.to_thread(
                        MatcherProcess if victim == "matcher" else CeleryWorker,
                        *((env, log_dir) if victim == "matcher" else (env, log_dir, celery_app)),
                    )
                    started.remove(old)
                    old.stop()
                    processes[victim] = fresh
                    started.append(fresh)
                    victim = "worker" if victim == "matcher" else "matcher"

            report = asyncio.run(self._trade_under_chaos(web.base_url, options, chaos))
            self._wait_until_settled(options["settle_timeout"])
        finally:
            for process in reversed(started):
                process.stop()
        problems = self._check_books()
        summary = report.summary()
        self.stdout.write(
            f"soak: {summary['requests']} requests in {summary['seconds']} s ({summary['throughput_per_second']}/s), "
            f"{summary['trades_seen']} trades, kill -9: matcher {kills['matcher']}, worker {kills['worker']}; "
            f"server errors {summary['server_errors']}, book resyncs {summary['book_resyncs']}"
        )
        if summary["server_errors"]:
            problems.append(f"{summary['server_errors']} requests failed with a server or network error")
        if problems:
            raise CommandError("soak found discrepancies:\n  " + "\n  ".join(problems))
        self.stdout.write("soak: ledger verified, reconciliation clean, every order settled")

    async def _trade_under_chaos(self, base_url: str, options: dict, chaos):
        logging.getLogger("httpx").setLevel(logging.WARNING)
        simulate = Simulate()
        markets = [s.strip().upper() for s in options["markets"].split(",") if s.strip()]

        def prepare():
            try:
                return simulate.prepare_bots(markets, 2, 2)
            finally:
                connections.close_all()  # this worker thread's: nothing may hold the database afterwards

        symbols, bots = await asyncio.to_thread(prepare)
        simulator = Simulator(base_url, bots, symbols, options["rate"], options["duration"], seed=None)
        stop = asyncio.Event()
        chaos_task = asyncio.create_task(chaos(stop))
        try:
            return await simulator.run()
        finally:
            stop.set()
            await chaos_task

    def _wait_until_settled(self, timeout: float) -> None:
        """Every accepted order applied by the matcher and every requested cancel carried out."""
        deadline = time.monotonic() + timeout
        while (left := unsettled_count()) and time.monotonic() < deadline:
            time.sleep(0.2)
        if left:
            raise CommandError(f"{left} orders still wait for the matcher after {timeout:g} s")

    def _check_books(self) -> list[str]:
        problems = [f"ledger: {v}" for v in verify_ledger()]
        run = reconcile(trigger="command")
        problems += [f"reconciliation: {m}" for m in run.mismatches]
        return problems
