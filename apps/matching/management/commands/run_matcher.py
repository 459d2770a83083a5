"""python manage.py run_matcher [--markets BTC-USDT,ETH-USDT]"""

import logging

from django.conf import settings
from django.core.management.base import BaseCommand

from apps.matching import metrics
from apps.matching.worker import Matcher


class Command(BaseCommand):
    help = "Match orders of the markets this process can lock (all, or --markets), settling in PostgreSQL."

    def add_arguments(self, parser):
        parser.add_argument("--markets", default="", help="comma-separated symbols (default: every market)")
        parser.add_argument("--batch-size", type=int, default=None, help="commands per batch and transaction")
        parser.add_argument("--metrics-port", type=int, default=None, help="Prometheus port (0: none)")

    def handle(self, *args, markets, batch_size, metrics_port, **options):
        logging.getLogger("apps.matching").setLevel(logging.INFO)
        symbols = [s.strip() for s in markets.split(",") if s.strip()] or None
        port = settings.MATCHER_METRICS_PORT if metrics_port is None else metrics_port
        metrics.serve(settings.MATCHER_METRICS_HOST, port)
        self.stdout.write(f"matcher: markets {', '.join(symbols) if symbols else 'all'}; SIGTERM stops after the batch")
        Matcher(symbols, batch_size=batch_size).run()
