"""A simulated blockchain in PostgreSQL, for development and tests (no node can run here).

Each currency has a block height; a transaction is confirmed `height - block + 1` times once mined
(`block` is null until the next `mine`). Addresses belong to a wallet: deposit addresses and the hot
wallet's own address are "hot", the cold wallet has its own, "external" addresses are the world.
Balances are computed from the transactions, as a node would report them.

Fault modes (apps.wallets.chain_faults), read at every call of the adapter interface: a delay
before answering, not answering at all (NodeUnreachable), refusing sends (ChainRejected), and
dropping what it sends (never mined; the sending wallet counts it as spent, as a node's wallet
does until the transaction is abandoned or rebroadcast).
"""

from __future__ import annotations

import functools
import secrets
import time
from decimal import Decimal

from django.db import transaction
from django.db.models import F, Q, Sum

from apps.wallets.chain_faults import Faults, faults_for
from apps.wallets.chain_interface import ChainRejected, IncomingTransfer, NodeUnreachable, UnknownTransaction
from apps.wallets.models import SimAddress, SimBlockHeight, SimTransaction

PREFIX = "sim1"


class SimulatedChain:
    """The ChainAdapter over the simulated chain's tables (apps.wallets.models.simchain)."""

    def __init__(self, currency: str):
        self.currency = currency

    # --- adapter interface ----------------------------------------------------------------------

    @functools.cached_property
    def _faults(self) -> Faults:
        # Read once per adapter: adapter_for makes one per operation (a send, a reconciliation pass),
        # so a change by staff applies from the next operation without a query per call.
        return faults_for(self.currency)

    def _node(self) -> Faults:
        """The node answering a call: late, or not at all, as the fault modes say."""
        faults = self._faults
        if faults.delay_seconds:
            time.sleep(faults.delay_seconds)
        if faults.unreachable:
            raise NodeUnreachable("fault mode: unreachable")
        return faults

    def new_address(self, *, wallet: str) -> str:
        """A new deposit address of `wallet` (only ever used for users' deposits)."""
        self._node()
        return self._create_address(wallet, is_deposit=True)

    def _create_address(self, wallet: str, *, is_deposit: bool) -> str:
        address = f"{PREFIX}{self.currency.lower()}{secrets.token_hex(16)}"
        SimAddress.objects.create(currency=self.currency, address=address, wallet=wallet, is_deposit=is_deposit)
        return address

    def validate_address(self, address: str) -> bool:
        self._node()
        return self.is_address(address)

    def is_address(self, address: str) -> bool:
        body = address.removeprefix(f"{PREFIX}{self.currency.lower()}")
        return address.startswith(PREFIX) and len(body) == 32 and all(c in "0123456789abcdef" for c in body)

    def incoming(self, *, addresses: list[str]) -> list[IncomingTransfer]:
        self._node()
        height = self.height()
        return [
            IncomingTransfer(tx.txid, 0, tx.to_address, tx.amount, self._confirmations(tx.block, height))
            for tx in SimTransaction.objects.filter(currency=self.currency, to_address__in=addresses)
        ]

    def balance(self, *, wallet: str, min_confirmations: int) -> Decimal:
        self._node()
        height = self.height()
        mine = SimAddress.objects.filter(currency=self.currency, wallet=wallet).values("address")
        confirmed = Q(block__isnull=False) & Q(block__lte=height - min_confirmations + 1)
        received = SimTransaction.objects.filter(confirmed, currency=self.currency, to_address__in=mine)
        sent = SimTransaction.objects.filter(currency=self.currency, from_address__in=mine)  # spent at once
        total_in = received.aggregate(s=Sum("amount"))["s"] or Decimal(0)
        total_out = sent.aggregate(s=Sum("amount"))["s"] or Decimal(0)
        return total_in - total_out

    def send(self, *, wallet: str, to_address: str, amount: Decimal, reference: str) -> str:
        faults = self._node()
        with transaction.atomic():
            existing = SimTransaction.objects.filter(reference=reference).first()
            if existing is not None:
                return existing.txid  # a repeat is answered even while refusing new sends
            if faults.refuse_sends:
                raise ChainRejected(f"the {self.currency} node refused the send (fault mode: refuse sends)")
            if not self.is_address(to_address):
                raise ChainRejected(f"not a {self.currency} address: {to_address!r}")
            source = self._wallet_address(wallet)
            return self._transfer(source, to_address, amount, reference=reference, dropped=faults.drop_broadcasts)

    def sent(self, *, reference: str) -> bool:
        self._node()
        return SimTransaction.objects.filter(reference=reference).exists()

    def confirmations(self, txid: str) -> int:
        self._node()
        tx = SimTransaction.objects.filter(txid=txid, currency=self.currency).first()
        if tx is None:
            raise UnknownTransaction(f"no {self.currency} transaction {txid}")
        return self._confirmations(tx.block, self.height())

    # --- simulation controls --------------------------------------------------------------------

    def wallet_address(self, wallet: str) -> str:
        """The wallet's own main address (custody transfers, the world's sending address)."""
        self._node()
        return self._wallet_address(wallet)

    def _wallet_address(self, wallet: str) -> str:
        existing = SimAddress.objects.filter(currency=self.currency, wallet=wallet, is_deposit=False).order_by("id")
        first = existing.first()
        return first.address if first else self._create_address(wallet, is_deposit=False)

    def receive(self, *, to_address: str, amount: Decimal) -> str:
        """Money arriving from the outside world (a user's deposit)."""
        return self._transfer(self._wallet_address("external"), to_address, amount)

    def mine(self, blocks: int = 1) -> int:
        """Advance the chain: pending transactions go into the next block."""
        with transaction.atomic():
            state, _ = SimBlockHeight.objects.select_for_update().get_or_create(currency=self.currency)
            pending = SimTransaction.objects.filter(currency=self.currency, block__isnull=True, dropped=False)
            pending.update(block=state.height + 1)
            SimBlockHeight.objects.filter(pk=state.pk).update(height=F("height") + blocks)
        return self.height()

    def height(self) -> int:
        state = SimBlockHeight.objects.filter(currency=self.currency).first()
        return state.height if state else 0

    def _transfer(self, source: str, to_address: str, amount: Decimal, reference: str | None = None,
                  dropped: bool = False) -> str:  # fmt: skip
        txid = secrets.token_hex(32)
        SimTransaction.objects.create(currency=self.currency, txid=txid, reference=reference, from_address=source,
                                      to_address=to_address, amount=amount, dropped=dropped)  # fmt: skip
        return txid

    @staticmethod
    def _confirmations(block: int | None, height: int) -> int:
        return 0 if block is None else max(0, height - block + 1)
