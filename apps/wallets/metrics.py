"""Prometheus figures of the latest reconciliation, read from PostgreSQL at each scrape.

Reconciliation runs in a Celery worker, but /metrics is served by the web process: a collector that
reads the stored run (one indexed query per scrape) exports the same figures from every web process.
"""

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import REGISTRY, Collector

from apps.wallets.breaker import STATE_VALUES
from apps.wallets.reconciliation import latest_run
from apps.wallets.selectors import chain_breakers, hot_wallets
from apps.wallets.withdrawals import hot_wallet_shortfall_seconds


class ReconciliationCollector(Collector):
    def describe(self):
        # Names only: registering must not query the database (it runs while apps load).
        yield GaugeMetricFamily("exchange_wallet_balance", "", labels=["currency", "account", "source"])
        yield GaugeMetricFamily("exchange_reconciliation_mismatches", "")
        yield GaugeMetricFamily("exchange_chain_breaker_state", "", labels=["currency"])
        yield GaugeMetricFamily("exchange_reconciliation_timestamp_seconds", "")
        yield GaugeMetricFamily("exchange_withdrawals_waiting_seconds", "")
        yield GaugeMetricFamily("exchange_hot_wallet_available", "", labels=["currency"])
        yield GaugeMetricFamily("exchange_hot_wallet_minimum", "", labels=["currency"])

    def collect(self):
        try:
            run = latest_run()
        except Exception:  # noqa: BLE001 - the database being down must not break the scrape
            return
        balance = GaugeMetricFamily(
            "exchange_wallet_balance", "Balances at the latest reconciliation", labels=["currency", "account", "source"]
        )
        mismatches = GaugeMetricFamily("exchange_reconciliation_mismatches", "Mismatches found by the latest run")
        age = GaugeMetricFamily("exchange_reconciliation_timestamp_seconds", "When the latest run finished")
        if run is not None:
            for currency, figures in run.figures.items():
                for name in ("users", "fees", "hot", "cold", "in_transit", "sandbox_issuance"):
                    if name in figures:  # runs stored before sandbox issuance existed lack it
                        balance.add_metric([currency, name, "ledger"], float(figures[name]))
                for name in ("hot", "cold", "in_transit"):  # absent when the node did not answer
                    if f"chain_{name}" in figures:
                        balance.add_metric([currency, name, "chain"], float(figures[f"chain_{name}"]))
            mismatches.add_metric([], len(run.mismatches))
            age.add_metric([], run.finished_at.timestamp())
        yield balance
        yield mismatches
        yield age
        yield from hot_wallet_figures()

        breakers = GaugeMetricFamily(
            "exchange_chain_breaker_state",
            "Chain adapter circuit breaker: 0 closed, 1 half-open, 2 open",
            labels=["currency"],
        )
        for code, value in chain_breakers().items():
            breakers.add_metric([code], STATE_VALUES.get(value, 2))
        yield breakers
        waiting = GaugeMetricFamily(
            "exchange_withdrawals_waiting_seconds",
            "How long the oldest approved withdrawal has waited for the hot wallet (alert when it grows)",
        )
        try:
            waiting.add_metric([], hot_wallet_shortfall_seconds())
        except Exception:  # noqa: BLE001 - the database being down must not break the scrape
            return
        yield waiting


def hot_wallet_figures():
    """The hot wallet's available balance now (the ledger's hot account) beside each currency's
    `hot_min`: below it, withdrawals wait for a refill from cold storage (alert on it)."""
    try:
        rows = hot_wallets()
    except Exception:  # noqa: BLE001 - the database being down must not break the scrape
        return
    available = GaugeMetricFamily("exchange_hot_wallet_available", "Hot wallet balance available now",
                                  labels=["currency"])  # fmt: skip
    minimum = GaugeMetricFamily("exchange_hot_wallet_minimum", "The currency's hot_min: a refill is due below it",
                                labels=["currency"])  # fmt: skip
    for code, balance, hot_min in rows:
        available.add_metric([code], float(balance))
        minimum.add_metric([code], float(hot_min))
    yield available
    yield minimum


_registered = False


def register() -> None:
    global _registered
    if not _registered:
        REGISTRY.register(ReconciliationCollector())
        _registered = True
