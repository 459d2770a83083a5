"""What a chain adapter is (apps.wallets.chain): the protocol it implements, the transfers it reports
and the refusal it raises. A module of its own so that the adapters (apps.wallets.simchain) and the
circuit breaker around them (apps.wallets.breaker) need not import apps.wallets.chain, which
imports the breaker."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol


class ChainRejected(Exception):
    """The node refused a send for good (bad address, policy): nothing left the wallet.
    Any other exception from `send` means "unknown": retry; sends are idempotent per reference."""


class UnknownTransaction(LookupError):
    """The node knows no transaction with this txid (an answer, not a failure of the node)."""


class NodeUnreachable(ConnectionError):
    """The node did not answer (a connection refused, a timeout)."""


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

    def confirmations(self, txid: str) -> int:
        """How many blocks confirm it (0 while unconfirmed); UnknownTransaction if the node has none."""
