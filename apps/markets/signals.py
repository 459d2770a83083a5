"""Any saved or deleted market or currency moves the registry's version (apps.markets.registry), so
every process's cached registry reloads: services, the admin and test factories all save through the
ORM. Cache invalidation only; no business rule here."""

from django.db.models import signals

from apps.markets import registry
from apps.markets.models import Market
from apps.wallets.models import Currency


def market_changed(sender, raw=False, **kwargs) -> None:
    if not raw:
        registry.changed()


def connect() -> None:
    for model in (Market, Currency):
        for signal in (signals.post_save, signals.post_delete):
            signal.connect(market_changed, sender=model, dispatch_uid=f"markets.registry.{model.__name__}.{signal}")
