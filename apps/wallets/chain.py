"""Chain adapters: how the exchange talks to a blockchain, one adapter per currency.

Real node adapters (bitcoind, geth, ...) implement `ChainAdapter`; development and tests use
`apps.wallets.simchain.SimulatedChain`, which keeps its own state in PostgreSQL (addresses,
transactions, block height) so that reconciliation can compare the ledger against it.
Settings: WALLET_CHAIN_ADAPTERS maps a currency code to an adapter class path ("*" for the rest).
"""

from __future__ import annotations

from django.conf import settings
from django.utils.module_loading import import_string

from apps.wallets.breaker import GuardedAdapter, breaker_for

# The interface, importable from here as it always was (apps.wallets.chain_interface owns it).
from apps.wallets.chain_interface import ChainAdapter, ChainRejected, IncomingTransfer

__all__ = ["ChainAdapter", "ChainRejected", "IncomingTransfer", "adapter_for"]


def adapter_for(currency: str) -> ChainAdapter:
    """The currency's adapter, behind its circuit breaker (apps.wallets.breaker)."""
    adapters = settings.WALLET_CHAIN_ADAPTERS
    path = adapters.get(currency) or adapters["*"]
    return GuardedAdapter(import_string(path)(currency), breaker_for(currency))
