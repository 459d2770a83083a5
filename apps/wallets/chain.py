"""Chain adapters: how the exchange talks to a blockchain, one adapter per currency.

Real node adapters (bitcoind, geth, ...) implement `ChainAdapter`; development and tests use
`apps.wallets.simchain.SimulatedChain`, which keeps its own state in PostgreSQL (addresses,
transactions, block height) so that reconciliation can compare the ledger against it.
Settings: WALLET_CHAIN_ADAPTERS maps a currency code to an adapter class path ("*" for the rest).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string


class ChainRejected(Exception):
    """The node refused a send for good (bad address, policy): nothing left the wallet.
    Any other exception from `send` means "unknown": retry; sends are idempotent per reference."""


@dataclass(frozen=True)
class IncomingTransfer:
    txid: str
    index: int
    address: str
    amount: Decimal
    confirmations: int


class ChainAdapter(Protocol):
    currency: str

    def new_address(self, *, wallet: str) -> str:
        """A fresh receiving address belonging to `wallet` ("hot" for deposit addresses)."""

    def validate_address(self, address: str) -> bool: ...

    def incoming(self, *, addresses: list[str]) -> list[IncomingTransfer]:
        """Transfers received by these addresses, with their current confirmations."""

    def balance(self, *, wallet: str, min_confirmations: int) -> Decimal:
        """What `wallet` ("hot" or "cold") holds on chain, counting only confirmed receipts."""

    def send(self, *, wallet: str, to_address: str, amount: Decimal, reference: str) -> str:
        """Send and return the txid. Idempotent per reference: a retry returns the same txid."""

    def sent(self, *, reference: str) -> bool:
        """Whether a send with this reference was already made (resuming after a crash)."""

    def confirmations(self, txid: str) -> int: ...


def adapter_for(currency: str) -> ChainAdapter:
    """The currency's adapter, behind its circuit breaker (apps.wallets.breaker)."""
    from apps.wallets.breaker import GuardedAdapter, breaker_for

    adapters = settings.WALLET_CHAIN_ADAPTERS
    path = adapters.get(currency) or adapters["*"]
    return GuardedAdapter(import_string(path)(currency), breaker_for(currency))
